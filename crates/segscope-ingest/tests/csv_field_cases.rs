//! Field cases F02, F05, F18, F19 and F21 (shared/field-cases/README.md) as
//! exact-value tests: parse a tiny CSV, apply it to an in-memory workspace,
//! and compare the report and the stored contacts.

mod common;

use common::*;
use jiff::civil::date;
use segscope_core::backend::SchemaSnapshot;
use segscope_core::engine::ContactUpsert;
use segscope_core::model::{AttrType, Settings, Value};
use segscope_ingest::{CsvImportError, CsvImportOptions, DecodeError, parse_contacts_csv};

#[test]
fn f05_email_case_and_whitespace_update_instead_of_duplicating() {
    let mut workspace = workspace();
    let existing = ContactUpsert { email: Some("a@example.com".into()), external_id: None, fields: vec![], created_at: None };
    apply_upserts(&mut workspace, vec![existing]).unwrap();

    let csv = b"email,first\r\nA@EXAMPLE.COM,Ann\r\n\" b@example.com \",Bob\r\nb@example.com\t,Bob2\r\n";
    let (import, report) = import_into(&mut workspace, csv, &options()).unwrap();

    assert_eq!(render_report(&report), "created 1, updated 2, skipped 0");
    assert_eq!(workspace.contact_count(), 2, "known = 2");
    assert_eq!(contact(&workspace, "a@example.com").first_name.as_deref(), Some("Ann"));
    let b = contact(&workspace, "b@example.com");
    assert_eq!(b.email.as_ref().unwrap().as_str(), "b@example.com", "stored trimmed");
    assert_eq!(b.first_name.as_deref(), Some("Bob2"), "the last row wins");
    // The identity key handed to the core is already normalized.
    let emails: Vec<_> = import.rows.iter().map(|row| row.upsert.email.clone().unwrap()).collect();
    assert_eq!(emails, ["a@example.com", "b@example.com", "b@example.com"]);
    assert_eq!(import.rows.iter().map(|row| (row.record, row.line)).collect::<Vec<_>>(), [(1, 2), (2, 3), (3, 4)]);
}

#[test]
fn f02_reimporting_with_an_extra_column_updates_only() {
    let stages = ["lead", "mql", "customer"].map(String::from).to_vec();
    let mut workspace = workspace_with(Settings { stages, ..Settings::default() });
    let first = b"email,stage\na@example.com,lead\nb@example.com,lead\nc@example.com,customer\n";
    let (_, report) = import_into(&mut workspace, first, &options()).unwrap();
    assert_eq!(render_report(&report), "created 3, updated 0, skipped 0");

    let second = b"email,stage,city\na@example.com,mql,Lyon\nb@example.com,lead,Oslo\nc@example.com,customer,Porto\n";
    let (_, report) = import_into(&mut workspace, second, &options()).unwrap();
    assert_eq!(render_report(&report), "created 0, updated 3, skipped 0");
    assert_eq!(workspace.contact_count(), 3);
    let stage_and_city = |email: &str| {
        let c = contact(&workspace, email);
        (c.stage.clone().unwrap(), c.explicit_geo.city.clone().unwrap())
    };
    assert_eq!(stage_and_city("a@example.com"), ("mql".into(), "Lyon".into()));
    assert_eq!(stage_and_city("b@example.com"), ("lead".into(), "Oslo".into()));
    assert_eq!(stage_and_city("c@example.com"), ("customer".into(), "Porto".into()));
}

#[test]
fn f18_utf8_byte_order_mark_is_stripped_from_the_first_header() {
    let mut workspace = workspace();
    let csv = b"\xEF\xBB\xBFemail,name\r\na@example.com,Ann\r\n";
    let (import, report) = import_into(&mut workspace, csv, &options()).unwrap();
    assert_eq!(render_report(&report), "created 1, updated 0, skipped 0");
    assert_eq!((import.encoding_name, import.had_byte_order_mark), ("UTF-8", true));
    assert_eq!(import.mapping.headers(), ["email", "name"]);
    assert!(import.mapping.columns.iter().all(|c| !c.header.contains('\u{feff}')));
    assert_eq!(import.mapping.columns[0].to_string(), "email → email (recognized)");
    assert_eq!(text_attribute(contact(&workspace, "a@example.com"), "name").as_deref(), Some("Ann"));
}

const F18_WINDOWS_1252: &[u8] = b"name,email\r\n\xD6lund,o@example.com\r\n\xC9mile,e@example.com\r\n";

#[test]
fn f18_windows_1252_declared_keeps_every_row() {
    let mut workspace = workspace();
    let options = CsvImportOptions { encoding: Some("windows-1252".into()), ..options() };
    let (import, report) = import_into(&mut workspace, F18_WINDOWS_1252, &options).unwrap();
    assert_eq!(import.encoding_name, "windows-1252");
    assert_eq!(render_report(&report), "created 2, updated 0, skipped 0");
    assert_eq!(text_attribute(contact(&workspace, "o@example.com"), "name").as_deref(), Some("Ölund"));
    assert_eq!(text_attribute(contact(&workspace, "e@example.com"), "name").as_deref(), Some("Émile"));
    // `latin1` is the same encoding under the WHATWG labels.
    let latin1 = CsvImportOptions { encoding: Some("latin1".into()), ..CsvImportOptions::default() };
    let import = parse_contacts_csv(F18_WINDOWS_1252, &latin1, &SchemaSnapshot::default()).unwrap();
    assert_eq!(import.rows[0].upsert.fields, [("name".to_owned(), Some(Value::Text("Ölund".into())))]);
}

#[test]
fn f18_invalid_utf8_without_a_declared_encoding_lists_lines() {
    let err = parse_contacts_csv(F18_WINDOWS_1252, &options(), &SchemaSnapshot::default()).unwrap_err();
    assert_eq!(err, CsvImportError::Decode(DecodeError::InvalidUtf8 { lines: vec![2, 3], more_lines: 0 }));
    assert_eq!(
        err.to_string(),
        "the file is not valid UTF-8: invalid bytes on lines 2, 3; declare its encoding, e.g. --encoding windows-1252 for files saved by Excel on Windows"
    );
    let unknown = CsvImportOptions { encoding: Some("cp-nope".into()), ..options() };
    let err = parse_contacts_csv(F18_WINDOWS_1252, &unknown, &SchemaSnapshot::default()).unwrap_err();
    assert!(err.to_string().starts_with("unknown encoding `cp-nope`: use a label such as utf-8, utf-16le"), "{err}");
}

#[test]
fn f18_utf16_by_byte_order_mark() {
    let text = "email;name\r\nz@example.com;Zoë\r\n";
    let mut little_endian = vec![0xFF, 0xFE];
    little_endian.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let mut big_endian = vec![0xFE, 0xFF];
    big_endian.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
    for (bytes, name) in [(little_endian, "UTF-16LE"), (big_endian, "UTF-16BE")] {
        let import = parse_contacts_csv(&bytes, &options(), &SchemaSnapshot::default()).unwrap();
        assert_eq!((import.encoding_name, import.delimiter), (name, b';'));
        assert_eq!(import.rows[0].upsert.fields, [("name".to_owned(), Some(Value::Text("Zoë".into())))]);
    }
}

#[test]
fn f19_semicolons_are_detected_and_quoted_semicolons_kept() {
    let mut workspace = workspace();
    let csv = b"email;first_name;last_name\r\na@example.com;Ana;Silva\r\nb@example.com;Bo;\"Lee; Jr\"\r\n";
    let (import, report) = import_into(&mut workspace, csv, &options()).unwrap();
    assert_eq!((import.delimiter, import.delimiter_detected), (b';', true));
    assert_eq!(render_report(&report), "created 2, updated 0, skipped 0");
    assert_eq!(contact(&workspace, "b@example.com").last_name.as_deref(), Some("Lee; Jr"));
    assert_eq!(contact(&workspace, "a@example.com").first_name.as_deref(), Some("Ana"));
}

#[test]
fn f19_zero_valid_rows_is_a_failure_with_a_reason() {
    let no_email_column = b"name;city\r\nAna;Lisbon\r\nBo;Porto\r\n";
    let err = parse_contacts_csv(no_email_column, &options(), &SchemaSnapshot::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "nothing to import: no email column: columns are `name`, `city` (delimiter `;`); map one with --map \"Column=email\" (or external_id)"
    );

    let all_invalid = b"email;name\r\nnot-an-email;Ana\r\n;Bo\r\n";
    let err = parse_contacts_csv(all_invalid, &options(), &SchemaSnapshot::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "nothing to import: all 2 records were rejected: record 1 (line 2), column `email`: email `not-an-email` has no `@`; record 2 (line 3): no email or external id: `email` empty"
    );
    let CsvImportError::NoValidRows { problems, .. } = err else { panic!() };
    assert_eq!(problems.len(), 2);

    let header_only = b"email;name\r\n";
    let err = parse_contacts_csv(header_only, &options(), &SchemaSnapshot::default()).unwrap_err();
    assert_eq!(err.to_string(), "nothing to import: the file has a header row but no records");
    let err = parse_contacts_csv(b" \r\n", &options(), &SchemaSnapshot::default()).unwrap_err();
    assert_eq!(err, CsvImportError::Empty);
}

const F21: &[u8] = b"email,signup_date\n\
a@example.com,09/01/2025\n\
b@example.com,13/01/2025\n\
c@example.com,2025-01-31\n\
d@example.com,45581\n\
e@example.com,00/00/0000\n\
f@example.com,\n";

fn signup_date(workspace: &segscope_core::engine::Workspace, email: &str) -> Option<Value> {
    contact(workspace, email).attributes.get("signup_date").cloned()
}

#[test]
fn f21_declared_date_format_excel_serials_and_impossible_dates() {
    let mut workspace = workspace();
    let options = CsvImportOptions {
        date_format: Some("DD/MM/YYYY".into()),
        column_types: vec![("signup_date".into(), "date".into())],
        ..options()
    };
    let (_, report) = import_into(&mut workspace, F21, &options).unwrap();
    assert_eq!(
        render_report(&report),
        "created 6, updated 0, skipped 0\n\
         repaired record 5 (line 6), column `signup_date`: `00/00/0000` is not a real date; value left empty"
    );
    assert_eq!(workspace.attributes().get("signup_date"), Some(&AttrType::Date));
    let expected = [
        ("a@example.com", Some(date(2025, 1, 9))),
        ("b@example.com", Some(date(2025, 1, 13))),
        ("c@example.com", Some(date(2025, 1, 31))),
        ("d@example.com", Some(date(2024, 10, 16))),
        ("e@example.com", None),
        ("f@example.com", None),
    ];
    for (email, day) in expected {
        assert_eq!(signup_date(&workspace, email), day.map(Value::Date), "{email}");
    }
}

#[test]
fn f21_type_from_the_workspace_schema() {
    let mut workspace = workspace();
    workspace
        .apply(segscope_core::engine::Command::DeclareAttribute { name: "signup_date".into(), attr_type: AttrType::Date }, NOW)
        .unwrap();
    let options = CsvImportOptions { date_format: Some("dd.mm.yyyy".into()), ..options() };
    let (import, report) = import_into(&mut workspace, F21, &options).unwrap();
    assert_eq!(
        import.mapping.columns[1].to_string(),
        "signup_date → signup_date (custom date attribute, type declared in the workspace)"
    );
    assert_eq!((report.created, report.skipped), (6, 0));
    assert_eq!(signup_date(&workspace, "a@example.com"), Some(Value::Date(date(2025, 1, 9))));
}

#[test]
fn f21_without_a_date_format_the_order_is_inferred_and_announced() {
    let mut workspace = workspace();
    let options = CsvImportOptions { column_types: vec![("signup_date".into(), "date".into())], ..options() };
    let (import, report) = import_into(&mut workspace, F21, &options).unwrap();
    assert_eq!(
        import.notes,
        ["column `signup_date`: dates read as DD/MM/YYYY because values such as `13/01/2025` can only be read that way"]
    );
    assert_eq!(report.created, 6);
    assert_eq!(signup_date(&workspace, "a@example.com"), Some(Value::Date(date(2025, 1, 9))));
}

#[test]
fn f21_ambiguous_dates_are_left_out_with_a_request_for_a_format() {
    let mut workspace = workspace();
    let csv = b"email,signup_date\na@example.com,09/01/2025\nb@example.com,05/05/2025\nc@example.com,11/1/16\n";
    let options = CsvImportOptions { column_types: vec![("Signup_Date".into(), "date".into())], ..options() };
    let (import, report) = import_into(&mut workspace, csv, &options).unwrap();
    assert_eq!(
        import.notes,
        [
            "column `signup_date`: 2 dates could be day-first or month-first and were left out; declare --date-format DD/MM/YYYY or MM/DD/YYYY"
        ]
    );
    assert_eq!(
        render_report(&report),
        "created 3, updated 0, skipped 0\n\
         repaired record 1 (line 2), column `signup_date`: ambiguous date `09/01/2025` (2025-01-09 if day-first, 2025-09-01 if month-first): declare --date-format DD/MM/YYYY or MM/DD/YYYY; value left out\n\
         repaired record 3 (line 4), column `signup_date`: ambiguous date `11/1/16` (2016-01-11 if day-first, 2016-11-01 if month-first): declare --date-format DD/MM/YYYY or MM/DD/YYYY; value left out"
    );
    assert_eq!(signup_date(&workspace, "a@example.com"), None);
    assert_eq!(signup_date(&workspace, "b@example.com"), Some(Value::Date(date(2025, 5, 5))), "same date either way");
}

#[test]
fn a_gzip_compressed_csv_is_read_as_its_content() {
    use std::io::Write;
    let csv = "Email,First Name\nann@example.com,Ann\nbob@example.com,Bob\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(csv.as_bytes()).unwrap();
    let packed = gz.finish().unwrap();
    let plain = parse_contacts_csv(csv.as_bytes(), &options(), &SchemaSnapshot::default()).unwrap();
    assert_eq!(parse_contacts_csv(&packed, &options(), &SchemaSnapshot::default()).unwrap(), plain);
    // Cut short, as an interrupted download is.
    let err = parse_contacts_csv(&packed[..packed.len() / 2], &options(), &SchemaSnapshot::default()).unwrap_err();
    assert!(matches!(err, CsvImportError::BadGzip { .. }), "{err}");
    assert!(err.to_string().contains("check that the download or copy is complete"), "{err}");
    // The bound applies to what it unpacks to: 100 KB of rows from a file of a few hundred bytes.
    let big = "Email\n".to_owned() + &"same@example.com\n".repeat(6_000);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(big.as_bytes()).unwrap();
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 1_000, "{}", bomb.len());
    let small =
        CsvImportOptions { limits: segscope_ingest::InputLimits { max_input_bytes: 10_000, ..Default::default() }, ..options() };
    assert!(matches!(parse_contacts_csv(&bomb, &small, &SchemaSnapshot::default()), Err(CsvImportError::InputTooLarge { .. })));
}

#[test]
fn a_wrong_delimiter_is_named_as_the_likely_cause() {
    let csv = "Email,First Name\nann@example.com,Ann\n";
    let semicolon = CsvImportOptions { delimiter: Some(b';'), ..options() };
    let err = parse_contacts_csv(csv.as_bytes(), &semicolon, &SchemaSnapshot::default()).unwrap_err();
    assert!(
        err.to_string().ends_with("(delimiter `;`); map one with --map \"Column=email\" (or external_id); the file looks `,`-delimited: leave --delimiter out to have it detected"),
        "{err}"
    );
}
