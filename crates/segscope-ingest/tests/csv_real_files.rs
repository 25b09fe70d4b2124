//! Real third-party files from `shared/data` (see its INDEX.md): the splink
//! fake-1000 person file (duplicates, corrupted and missing emails) and
//! Mautic's demo fixtures (mixed-case emails, a space after every comma,
//! anonymous rows without an email).

mod common;

use common::*;
use jiff::civil::date;
use segscope_core::model::Value;
use segscope_ingest::{CsvImportOptions, ProblemSeverity};

/// The raw `email` cell of each data record, straight from the csv crate,
/// to check the importer's messages against.
fn raw_emails(bytes: &[u8], email_column: usize) -> Vec<String> {
    let mut reader = csv::ReaderBuilder::new().from_reader(bytes);
    reader.records().map(|r| r.unwrap().get(email_column).unwrap_or("").to_owned()).collect()
}

#[test]
fn splink_fake_1000_duplicates_corrupted_and_missing_emails() {
    let mut workspace = workspace();
    let bytes = read_shared("splink-fake-1000/fake_1000_from_splink_demos.csv");
    let options = CsvImportOptions { column_types: vec![("dob".into(), "date".into())], ..CsvImportOptions::default() };
    let (import, report) = import_into(&mut workspace, &bytes, &options).unwrap();

    let shown: Vec<String> = import.mapping.columns.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "unique_id → unique_id (custom string attribute, text by default)",
            "first_name → first_name (recognized)",
            "surname → last_name (recognized)",
            "dob → dob (custom date attribute, type as requested)",
            "city → city (recognized)",
            "email → email (recognized)",
            "cluster → cluster (custom string attribute, text by default)",
        ]
    );
    // 1000 records: 112 without an email, 21 with an address that cannot be
    // an email (the '@' lost, or a domain without a dot), and 867 valid rows
    // for 316 distinct addresses: duplicates update the first occurrence.
    assert_eq!(import.n_records, 1000);
    assert_eq!((report.created, report.updated, report.skipped), (316, 551, 133));
    assert_eq!(workspace.contact_count(), 316);
    let rejected: Vec<_> = report.problems.iter().filter(|p| p.severity == ProblemSeverity::Rejected).collect();
    let no_email = rejected.iter().filter(|p| p.message == "no email or external id: `email` empty").count();
    assert_eq!(no_email, 112);
    assert!(report.problems.iter().all(|p| p.severity == ProblemSeverity::Rejected), "no value needed repairing");

    let emails = raw_emails(&bytes, 5);
    let bad_emails: Vec<(usize, &str)> = rejected
        .iter()
        .filter(|p| p.column.as_deref() == Some("email"))
        .map(|p| (p.record, emails[p.record - 1].as_str()))
        .collect();
    assert_eq!(bad_emails.len(), 21);
    for problem in rejected.iter().filter(|p| p.column.is_some()) {
        let raw = &emails[problem.record - 1];
        assert!(problem.message.contains(&format!("`{raw}`")), "{problem} does not name {raw}");
        assert_eq!(problem.line, problem.record as u64 + 1, "one line per record in this file");
    }
    assert_eq!(
        &bad_emails[..3],
        [(4, "hannah88opowersc@m"), (11, "matthbw78eallard-mcdonald.net"), (43, "hesterkuot@taylrr-fitzgeraldcom")]
    );
    assert_eq!(
        render_problem(rejected[0]),
        "rejected record 4 (line 5), column `email`: email `hannah88opowersc@m`: the domain `m` has no dot"
    );

    // Record 0 is the first of a duplicate group; trailing spaces are trimmed.
    let hannah = contact(&workspace, "hannah88@powers.com");
    assert_eq!(hannah.first_name.as_deref(), Some("Julia"));
    assert_eq!(hannah.attributes.get("unique_id"), Some(&Value::Text("2".into())), "the last valid duplicate (record 3) wins");
    assert_eq!(hannah.attributes.get("dob"), Some(&Value::Date(date(2016, 1, 27))));
}

#[test]
fn mautic_fake_leads_skip_the_anonymous_rows() {
    let mut workspace = workspace();
    let bytes = read_shared("mautic-fixtures/fakeleaddata.csv");
    let (import, report) = import_into(&mut workspace, &bytes, &CsvImportOptions::default()).unwrap();
    assert_eq!(
        render_report(&report),
        "created 50, updated 0, skipped 4\n\
         rejected record 51 (line 52): no email or external id: `email` empty\n\
         rejected record 52 (line 53): no email or external id: `email` empty\n\
         rejected record 53 (line 54): no email or external id: `email` empty\n\
         rejected record 54 (line 55): no email or external id: `email` empty"
    );
    assert_eq!(
        import.notes,
        [
            "column `points`: every value is a number, imported as text (zip codes and ids look like numbers too); to compare it as a number, declare --type points=number",
            "column ip → ignored (IP addresses are not stored; map it explicitly to keep it)"
        ]
    );
    let penny = contact(&workspace, "pennykmoore@dayrep.com");
    assert_eq!(penny.email.as_ref().unwrap().as_str(), "pennykmoore@dayrep.com", "mixed case folded");
    assert_eq!(penny.explicit_geo.country.map(|c| c.code().to_owned()).as_deref(), Some("GB"));
    assert_eq!(penny.explicit_geo.region, None, "UK rows have an empty state");
    assert_eq!(penny.phone.as_deref(), Some("070 7086 0753"));
    assert_eq!(text_attribute(penny, "company").as_deref(), Some("Williams Bros."));
}

#[test]
fn mautic_ten_contacts_with_a_space_after_every_comma() {
    let mut workspace = workspace();
    let bytes = read_shared("mautic-fixtures/10contacts.csv");
    let (_, report) = import_into(&mut workspace, &bytes, &CsvImportOptions::default()).unwrap();
    assert_eq!(render_report(&report), "created 10, updated 0, skipped 0");
    let ariel = contact(&workspace, "ariel@example.com");
    assert_eq!(ariel.last_name.as_deref(), Some("N."));
    assert_eq!(ariel.explicit_geo.country.map(|c| c.code().to_owned()).as_deref(), Some("CH"));
    let andrew = contact(&workspace, "andrewvflanagan@dayrep.com");
    assert_eq!(text_attribute(andrew, "company").as_deref(), Some("William Wanamaker & Sons"));
}
