//! Every field case of `shared/field-cases` (as a fixture in
//! `fixtures/field-cases`) against the embedded store, with the real CSV
//! importer. One test per case so a failure names the case.

use segscope_core::backend::Backend;
use segscope_core::engine::{Command, Outcome};
use segscope_core::ids::WorkspaceId;
use segscope_core::model::Channel;
use segscope_core::time::Secs;
use segscope_ingest::{CsvImportOptions, ProblemSeverity, apply_contact_import, parse_contacts_csv};
use segscope_store::{Store, StoreOptions};
use segscope_testkit::fixture::{CsvImporter, ImportSummary, run};

/// The CSV importer of `segscope-ingest`, as the CLI and API use it.
struct IngestCsv;

impl CsvImporter for IngestCsv {
    fn import_csv(
        &self,
        backend: &dyn Backend,
        workspace: &WorkspaceId,
        bytes: &[u8],
        options: &[(String, String)],
        now: Secs,
    ) -> Result<ImportSummary, String> {
        let mut csv_options = CsvImportOptions::default();
        for (key, value) in options {
            match key.as_str() {
                "date_format" => csv_options.date_format = Some(value.clone()),
                "encoding" => csv_options.encoding = Some(value.clone()),
                "type" => {
                    let (column, kind) = value.split_once(':').ok_or("write type=column:kind")?;
                    csv_options.column_types.push((column.to_owned(), kind.to_owned()));
                }
                "map" => {
                    let (header, field) = value.split_once(':').ok_or("write map=Header:field")?;
                    csv_options.column_map.push((header.to_owned(), field.to_owned()));
                }
                other => return Err(format!("unknown import option `{other}`")),
            }
        }
        let schema = backend.schema(workspace).map_err(|e| e.to_string())?;
        let parsed = parse_contacts_csv(bytes, &csv_options, &schema).map_err(|e| e.to_string())?;
        let report = apply_contact_import(
            parsed,
            1_000,
            |contacts| match backend.apply(
                workspace,
                Command::UpsertContacts { contacts, channel: Channel::Import, list: None },
                now,
            ) {
                Ok(Outcome::Upserted(report)) => Ok(report),
                Ok(other) => Err(segscope_core::Error::internal(format!("unexpected {other:?}"))),
                Err(err) => Err(err),
            },
            |_| {},
        )
        .map_err(|e| e.to_string())?;
        Ok(ImportSummary {
            created: report.created,
            updated: report.updated,
            rejected: report.skipped,
            warnings: report.problems.iter().filter(|p| p.severity == ProblemSeverity::Repaired).count(),
            rejected_records: report
                .problems
                .iter()
                .filter(|p| p.severity == ProblemSeverity::Rejected)
                .map(|p| p.record as u64)
                .collect(),
            messages: report.problems.iter().map(|p| p.to_string()).chain(report.notes.iter().cloned()).collect(),
        })
    }
}

fn check(case: &str) {
    let path = segscope_testkit::fixtures_dir().join("field-cases").join(format!("{case}.case"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("open store");
    if let Err(message) = run(case, &text, &store, "field-case", Some(&IngestCsv)) {
        panic!("{message}");
    }
    // The same fixture must pass again after a restart from disk: replay is exact.
    drop(store);
    let reopened = Store::open(dir.path(), StoreOptions::default()).expect("reopen store");
    let problems = reopened.check_invariants(&WorkspaceId::parse("field-case").expect("valid")).expect("check");
    assert!(problems.is_empty(), "{case}: invariants after reopen: {problems:?}");
}

macro_rules! field_cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            #[allow(non_snake_case)]
            fn $name() {
                check(stringify!($name));
            }
        )*

        /// Every fixture file has a test above.
        #[test]
        fn every_fixture_file_is_listed() {
            let listed: Vec<&str> = vec![$(stringify!($name)),*];
            let dir = segscope_testkit::fixtures_dir().join("field-cases");
            for entry in std::fs::read_dir(&dir).expect("fixtures dir") {
                let name = entry.expect("entry").file_name().to_string_lossy().trim_end_matches(".case").to_owned();
                assert!(listed.contains(&name.as_str()), "fixture {name} has no test");
            }
        }
    };
}

field_cases!(F01, F02, F04, F05, F06, F07, F09, F10, F11, F13, F14, F18, F19, F21, F23, F26, F27);
