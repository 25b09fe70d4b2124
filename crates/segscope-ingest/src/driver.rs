//! Applying a parsed import in batches through a caller-given closure (the
//! CLI passes its backend, tests an in-memory workspace) and building the
//! report: created / updated / skipped counts and every rejected or
//! repaired record or line, including those the core rejects or repairs,
//! whose 0-based batch index is mapped back to the record or line number.

use segscope_core::engine::{Command, ContactUpsert, EventReport, ItemIssue, MAX_BATCH, Outcome, UpsertReport};
use segscope_core::model::Channel;

use crate::csv_contacts::ContactImport;
use crate::csv_contacts::mapping::ColumnMapping;
use crate::ndjson::{LineProblem, NdjsonImport};
use crate::{ProblemSeverity, RecordProblem};

/// How far an import has got, after each batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportProgress {
    /// Rows (CSV) or lines (NDJSON) handed to the core so far.
    pub items_done: usize,
    pub items_total: usize,
}

/// The outcome of a contact CSV import.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
    /// Records rejected by the importer or by the core.
    pub skipped: usize,
    /// Every rejected or repaired record, by record number, up to
    /// [`crate::MAX_KEPT_PROBLEMS`].
    pub problems: Vec<RecordProblem>,
    /// Problems past the cap, counted.
    pub omitted: crate::OmittedProblems,
    /// Column-level remarks from parsing.
    pub notes: Vec<String>,
    pub n_records: usize,
    pub n_blank_records: usize,
}

/// The outcome of an NDJSON import.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NdjsonImportReport {
    pub contacts_created: usize,
    pub contacts_updated: usize,
    pub events_accepted: usize,
    /// Anonymous or identified contacts created by events.
    pub contacts_created_by_events: usize,
    pub merges: usize,
    /// Page views from bots and error responses, counted but not recorded.
    pub bot_hits: usize,
    pub error_hits: usize,
    /// Lines rejected by the parser or by the core.
    pub skipped: usize,
    /// Every rejected or repaired line, by line number.
    pub problems: Vec<LineProblem>,
    /// Problems past [`crate::MAX_KEPT_PROBLEMS`], counted.
    pub omitted: crate::OmittedProblems,
    pub n_lines: usize,
}

/// Why applying an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError<E: std::error::Error + 'static, R: std::fmt::Debug> {
    /// The closure failed; batches before this one were applied.
    #[error("applying the batch starting at {first_item} failed ({items_done} items were applied before it): {source}")]
    Batch {
        /// `record 12` or `line 40`.
        first_item: String,
        items_done: usize,
        source: E,
        report_so_far: Box<R>,
    },
    /// The core rejected every item: the import did nothing.
    #[error("nothing was imported: the workspace rejected every item ({first_problem})")]
    NothingImported { first_problem: String, report: Box<R> },
    /// The closure answered a command with an outcome of another kind.
    #[error("internal error: the workspace answered a {expected} batch with {got}")]
    UnexpectedOutcome { expected: &'static str, got: String },
}

/// Applies a parsed contact import in batches of at most `batch_size`
/// (clamped to 1..=[`MAX_BATCH`]) rows, in file order, so that a later row
/// updates what an earlier one created.
pub fn apply_contact_import<E: std::error::Error + 'static>(
    import: ContactImport,
    batch_size: usize,
    mut apply_batch: impl FnMut(Vec<ContactUpsert>) -> Result<UpsertReport, E>,
    mut on_progress: impl FnMut(ImportProgress),
) -> Result<ImportReport, ApplyError<E, ImportReport>> {
    let batch_size = batch_size.clamp(1, MAX_BATCH);
    let ContactImport { mapping, rows, problems, omitted, notes, n_records, n_blank_records, .. } = import;
    let mut report = ImportReport {
        created: 0,
        updated: 0,
        skipped: problems.iter().filter(|p| p.severity == ProblemSeverity::Rejected).count() + omitted.rejected,
        problems,
        omitted,
        notes,
        n_records,
        n_blank_records,
    };
    let items_total = rows.len();
    let mut items_done = 0;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<_> = rows.by_ref().take(batch_size).collect();
        let locations: Vec<(usize, u64)> = batch.iter().map(|row| (row.record, row.line)).collect();
        let upserts: Vec<ContactUpsert> = batch.into_iter().map(|row| row.upsert).collect();
        let outcome = match apply_batch(upserts) {
            Ok(outcome) => outcome,
            Err(source) => {
                sort_record_problems(&mut report.problems);
                return Err(ApplyError::Batch {
                    first_item: format!("record {}", locations[0].0),
                    items_done,
                    source,
                    report_so_far: Box::new(report),
                });
            }
        };
        report.created += outcome.created;
        report.updated += outcome.updated;
        report.skipped += outcome.rejected.len();
        let located = |issue: &ItemIssue, severity: ProblemSeverity| {
            let (record, line) = locations.get(issue.index).copied().unwrap_or((0, 0));
            let (column, message) = column_of_core_message(&mapping, &issue.message);
            RecordProblem { record, line, severity, column, message }
        };
        for (issues, severity) in [(&outcome.rejected, ProblemSeverity::Rejected), (&outcome.warnings, ProblemSeverity::Repaired)]
        {
            for issue in issues {
                crate::keep_problem(&mut report.problems, &mut report.omitted, severity, located(issue, severity));
            }
        }
        items_done += locations.len();
        on_progress(ImportProgress { items_done, items_total });
    }
    sort_record_problems(&mut report.problems);
    if report.created + report.updated == 0 {
        let first_problem = report.problems.iter().find(|p| p.severity == ProblemSeverity::Rejected).map(|p| p.to_string());
        return Err(ApplyError::NothingImported { first_problem: first_problem.unwrap_or_default(), report: Box::new(report) });
    }
    Ok(report)
}

fn sort_record_problems(problems: &mut [RecordProblem]) {
    // Stable: a record's problems keep the order they were found in.
    problems.sort_by_key(|problem| problem.record);
}

/// The core prefixes field warnings with the field name (`stage: unknown
/// stage …`); name the CSV column instead.
fn column_of_core_message(mapping: &ColumnMapping, message: &str) -> (Option<String>, String) {
    if let Some((field, rest)) = message.split_once(": ")
        && let Some(column) = mapping.columns.iter().find(|c| c.target.name() == field)
    {
        return (Some(column.header.clone()), format!("{rest}; value left out"));
    }
    (None, message.to_owned())
}

/// Applies a parsed NDJSON import: consecutive contact lines as
/// `UpsertContacts` on `channel`, consecutive event lines as `RecordEvents`,
/// in line order.
pub fn apply_ndjson_import<E: std::error::Error + 'static>(
    import: NdjsonImport,
    channel: Channel,
    batch_size: usize,
    mut apply_command: impl FnMut(Command) -> Result<Outcome, E>,
    mut on_progress: impl FnMut(ImportProgress),
) -> Result<NdjsonImportReport, ApplyError<E, NdjsonImportReport>> {
    let mut report = NdjsonImportReport {
        skipped: import.problems.iter().filter(|p| p.severity == ProblemSeverity::Rejected).count() + import.omitted.rejected,
        problems: import.problems.clone(),
        omitted: import.omitted,
        n_lines: import.n_lines,
        ..NdjsonImportReport::default()
    };
    let items_total = import.items.len();
    let mut items_done = 0;
    for batch in import.into_batches(channel, batch_size) {
        let lines = batch.lines;
        let expected = match &batch.command {
            Command::UpsertContacts { .. } => "contact",
            _ => "event",
        };
        let outcome = match apply_command(batch.command) {
            Ok(outcome) => outcome,
            Err(source) => {
                report.problems.sort_by_key(|p| p.line);
                return Err(ApplyError::Batch {
                    first_item: format!("line {}", lines[0]),
                    items_done,
                    source,
                    report_so_far: Box::new(report),
                });
            }
        };
        let (rejected, warnings) = match outcome {
            Outcome::Upserted(UpsertReport { created, updated, rejected, warnings, .. }) if expected == "contact" => {
                report.contacts_created += created;
                report.contacts_updated += updated;
                (rejected, warnings)
            }
            Outcome::Recorded(EventReport { accepted, rejected, warnings, contacts_created, merges, bot_hits, error_hits })
                if expected == "event" =>
            {
                report.events_accepted += accepted;
                report.contacts_created_by_events += contacts_created;
                report.merges += merges;
                report.bot_hits += bot_hits;
                report.error_hits += error_hits;
                (rejected, warnings)
            }
            other => return Err(ApplyError::UnexpectedOutcome { expected, got: format!("{other:?}") }),
        };
        report.skipped += rejected.len();
        let located = |issue: &ItemIssue, severity: ProblemSeverity| LineProblem {
            line: lines.get(issue.index).copied().unwrap_or(0),
            severity,
            message: issue.message.clone(),
        };
        for (issues, severity) in [(&rejected, ProblemSeverity::Rejected), (&warnings, ProblemSeverity::Repaired)] {
            for issue in issues {
                crate::keep_problem(&mut report.problems, &mut report.omitted, severity, located(issue, severity));
            }
        }
        items_done += lines.len();
        on_progress(ImportProgress { items_done, items_total });
    }
    report.problems.sort_by_key(|p| p.line);
    let applied = report.contacts_created + report.contacts_updated + report.events_accepted;
    if applied == 0 {
        let first_problem = report.problems.iter().find(|p| p.severity == ProblemSeverity::Rejected).map(|p| p.to_string());
        return Err(ApplyError::NothingImported { first_problem: first_problem.unwrap_or_default(), report: Box::new(report) });
    }
    Ok(report)
}
