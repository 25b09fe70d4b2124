//! Helpers shared by the import tests: an in-memory workspace to apply
//! batches to (so reports carry real created/updated counts), the path of
//! the shared third-party data, and compact renderings of reports for
//! exact-value assertions.

#![allow(dead_code)]

use std::path::PathBuf;

use segscope_core::backend::SchemaSnapshot;
use segscope_core::contact::Contact;
use segscope_core::engine::{Command, ContactRef, ContactUpsert, Outcome, UpsertReport, Workspace};
use segscope_core::ids::WorkspaceId;
use segscope_core::model::{Channel, Settings, Value};
use segscope_core::time::Secs;
use segscope_ingest::{
    ContactImport, CsvImportError, CsvImportOptions, ImportReport, ProblemSeverity, RecordProblem, apply_contact_import,
    parse_contacts_csv,
};

/// 2025-06-01T00:00:00Z: "now" for every test workspace.
pub const NOW: Secs = 1_748_736_000;

pub fn workspace() -> Workspace {
    workspace_with(Settings::default())
}

pub fn workspace_with(settings: Settings) -> Workspace {
    Workspace::new(WorkspaceId::parse("t").unwrap(), settings, NOW).unwrap()
}

/// The schema a CLI would read from the backend before an import.
pub fn schema_of(workspace: &Workspace) -> SchemaSnapshot {
    SchemaSnapshot {
        attributes: workspace.attributes().clone(),
        stages: workspace.settings().stages.clone(),
        segments: Default::default(),
    }
}

/// The directory of third-party test data (`shared/data`), overridable by
/// `SEGSCOPE_SHARED_DATA`.
pub fn shared_data() -> PathBuf {
    match std::env::var_os("SEGSCOPE_SHARED_DATA") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")),
    }
}

pub fn read_shared(relative: &str) -> Vec<u8> {
    let path = shared_data().join(relative);
    std::fs::read(&path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

/// Applies one upsert batch to `workspace` as an import would.
pub fn apply_upserts(workspace: &mut Workspace, contacts: Vec<ContactUpsert>) -> Result<UpsertReport, segscope_core::Error> {
    match workspace.apply(Command::UpsertContacts { contacts, channel: Channel::Import, list: None }, NOW)? {
        Outcome::Upserted(report) => Ok(report),
        other => panic!("unexpected outcome {other:?}"),
    }
}

/// Parses `bytes` against `workspace`'s schema and applies the result to it.
pub fn import_into(
    workspace: &mut Workspace,
    bytes: &[u8],
    options: &CsvImportOptions,
) -> Result<(ContactImport, ImportReport), CsvImportError> {
    let import = parse_contacts_csv(bytes, options, &schema_of(workspace))?;
    let kept = import.clone();
    let mut progress = Vec::new();
    let report = apply_contact_import(import, 2, |batch| apply_upserts(workspace, batch), |p| progress.push(p.items_done))
        .expect("applied");
    assert_eq!(progress.last().copied(), Some(kept.rows.len()), "progress reaches the total");
    Ok((kept, report))
}

/// `created 1, updated 2, skipped 0` and one line per problem.
pub fn render_report(report: &ImportReport) -> String {
    let mut text = format!("created {}, updated {}, skipped {}", report.created, report.updated, report.skipped);
    for problem in &report.problems {
        text.push('\n');
        text.push_str(&render_problem(problem));
    }
    text
}

pub fn render_problem(problem: &RecordProblem) -> String {
    let tag = match problem.severity {
        ProblemSeverity::Rejected => "rejected",
        ProblemSeverity::Repaired => "repaired",
    };
    format!("{tag} {problem}")
}

pub fn contact<'a>(workspace: &'a Workspace, email: &str) -> &'a Contact {
    let id = workspace.resolve(&ContactRef::Email(email.to_owned())).unwrap_or_else(|err| panic!("{email}: {err}"));
    workspace.contact(id).unwrap()
}

pub fn text_attribute(contact: &Contact, name: &str) -> Option<String> {
    match contact.attributes.get(name) {
        Some(Value::Text(text)) => Some(text.clone()),
        None => None,
        Some(other) => panic!("{name} is not text: {other:?}"),
    }
}

pub fn options() -> CsvImportOptions {
    CsvImportOptions::default()
}
