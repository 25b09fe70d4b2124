//! A large contact CSV has its records turned into upserts on two threads:
//! the result (rows, problems, the problem cap, blank records, the error of
//! a file without a valid row) must be the one pass's, wherever the cut falls.

mod common;

use common::*;
use proptest::prelude::*;
use segscope_core::backend::SchemaSnapshot;
use segscope_ingest::csv_contacts::parse_contacts_csv_in_parts;
use segscope_ingest::{ContactImport, CsvImportError};

fn parsed(csv: &str, parts: usize) -> Result<ContactImport, CsvImportError> {
    parse_contacts_csv_in_parts(csv.as_bytes(), &options(), &SchemaSnapshot::default(), Some(parts))
}

/// A cell of a column, good or bad in the ways real files are.
fn arb_cell(column: usize) -> BoxedStrategy<String> {
    let pick = |values: &'static [&'static str]| proptest::sample::select(values).prop_map(str::to_owned).boxed();
    match column {
        0 => pick(&["a@example.com", "B@Example.com", "c@example.org", "not-an-email", "x@@y.com", "", " e@example.com "]),
        1 => pick(&["Ann", "Émile", "", "\"Smith, J\""]),
        2 => pick(&["Raw lead", "sales ready", "astronaut", ""]),
        3 => pick(&["yes", "false", "maybe", ""]),
        4 => pick(&["2024-03-01", "01/02/2024", "13/02/2024", "soon", ""]),
        _ => pick(&["", "", "crm-1", "crm-2"]),
    }
}

fn arb_record() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (arb_cell(0), arb_cell(1), arb_cell(2), arb_cell(3), arb_cell(4), arb_cell(5))
            .prop_map(|(a, b, c, d, e, f)| [a, b, c, d, e, f].join(",")),
        1 => Just(",,,,,".to_owned()),
        1 => Just("f@example.com,Too,many,cells,,,x,y".to_owned()),
        1 => Just("g@example.com,Short".to_owned()),
    ]
}

const HEADER: &str = "Email,First Name,Lifecycle Stage,Opted In,Signup Date,External ID";

proptest! {
    #[test]
    fn two_parts_convert_like_one(records in proptest::collection::vec(arb_record(), 0..60), crlf in any::<bool>()) {
        let newline = if crlf { "\r\n" } else { "\n" };
        let csv = format!("{HEADER}{newline}{}{newline}", records.join(newline));
        prop_assert_eq!(parsed(&csv, 2), parsed(&csv, 1));
    }
}

#[test]
fn the_problem_cap_holds_across_the_cut() {
    // 3,000 records with a bad boolean (a repair each) around 600 rejected
    // ones in the second half: the first 1,000 problems are kept in record
    // order whichever half they come from, the rest counted.
    let mut csv = format!("{HEADER}\n");
    for i in 0..3_000 {
        if (2_000..2_600).contains(&i) {
            csv.push_str("not-an-email,,,,,\n");
        } else {
            csv.push_str(&format!("p{i}@example.com,,,maybe,,\n"));
        }
    }
    let one = parsed(&csv, 1).unwrap();
    assert_eq!(parsed(&csv, 2).unwrap(), one);
    assert_eq!((one.rows.len(), one.problems.len()), (2_400, 1_000));
    assert_eq!(one.problems.last().unwrap().record, 1_000);
    assert_eq!((one.omitted.repaired, one.omitted.rejected), (1_400, 600));
}

#[test]
fn a_file_of_rejected_records_fails_the_same_way_in_two_parts() {
    let csv = format!("{HEADER}\nnot-an-email,,,,,\n,,,,,\nx@@y.com,,,,,\n");
    let err = parsed(&csv, 2).unwrap_err();
    assert_eq!(err, parsed(&csv, 1).unwrap_err());
    assert!(err.to_string().starts_with("nothing to import: all 2 records were rejected"), "{err}");
}
