//! NDJSON import: good and bad lines with their line numbers, line order
//! between contact and event batches, and the driver's report against an
//! in-memory workspace (core rejections mapped back to lines).

mod common;

use common::*;
use segscope_core::engine::{Command, Workspace};
use segscope_core::event::{EmailKind, EventBody, EventInput, PageView, Subject};
use segscope_core::model::{Channel, Country, Geo, Source, Utm, Value};
use segscope_core::subscription::EmailFlags;
use segscope_ingest::{
    ApplyError, InputLimits, LineProblem, NdjsonImportError, NdjsonImportOptions, NdjsonPayload, ProblemSeverity,
    apply_ndjson_import, parse_ndjson,
};

fn render_line_problems(problems: &[LineProblem]) -> Vec<String> {
    problems
        .iter()
        .map(|p| {
            let tag = if p.severity == ProblemSeverity::Rejected { "rejected" } else { "warning" };
            format!("{tag} {p}")
        })
        .collect()
}

/// Each bad line alone, with the reason it gets.
fn check_bad_line(line: &str, expected: &str) {
    let input = format!("{{\"type\":\"contact\",\"email\":\"ok@example.com\"}}\n{line}\n");
    let import = parse_ndjson(input.as_bytes(), &NdjsonImportOptions::default()).unwrap();
    assert_eq!(import.items.len(), 1, "{line}");
    assert_eq!(render_line_problems(&import.problems), [format!("rejected line 2: {expected}")], "{line}");
}

#[test]
fn bad_lines_are_located_and_explained() {
    check_bad_line("{not json", "invalid JSON: key must be a string at line 1 column 2");
    check_bad_line("[1,2]", "a line must be a JSON object, got an array");
    check_bad_line(
        r#"{"email":"a@example.com"}"#,
        "the line has no `type`: use one of contact, page_view, heartbeat, page_leave, identify, email, stage_change, track, delete, delete_contact",
    );
    check_bad_line(
        r#"{"type":"purchase"}"#,
        "unknown type `purchase`: use one of contact, page_view, heartbeat, page_leave, identify, email, stage_change, track, delete, delete_contact",
    );
    check_bad_line(r#"{"type":7}"#, "`type` must be a string, got a number");
    check_bad_line(r#"{"type":"contact","fields":{"x":1}}"#, "a `contact` line needs `email` or `external_id`");
    check_bad_line(r#"{"type":"contact","email":42}"#, "`email` must be a string, got a number");
    check_bad_line(
        r#"{"type":"contact","email":"a@example.com","fields":[1]}"#,
        "`fields` must be an object of field names to values, got an array",
    );
    check_bad_line(
        r#"{"type":"contact","email":"a@example.com","fields":{"tags":["a",1]}}"#,
        "field `tags`: a list holds strings only, got a number",
    );
    check_bad_line(
        r#"{"type":"contact","email":"a@example.com","created_at":"yesterday"}"#,
        "`created_at`: `yesterday` is not an RFC 3339 timestamp: write e.g. `2024-03-01T10:00:00Z` or `2024-03-01T11:00:00+01:00`",
    );
    check_bad_line(r#"{"type":"page_view","visitor_id":"v1","timestamp":1709287200}"#, "a `page_view` line needs `url`");
    check_bad_line(
        r#"{"type":"page_view","url":"/","timestamp":1709287200}"#,
        "a `page_view` line needs one of `visitor_id`, `email`, `external_id` or `contact_id`",
    );
    check_bad_line(
        r#"{"type":"page_view","visitor_id":"v1","email":"a@example.com","url":"/","timestamp":1709287200}"#,
        "a `page_view` line needs exactly one of `visitor_id`, `email`, `external_id` or `contact_id`; it has 2",
    );
    check_bad_line(
        r#"{"type":"page_view","visitor_id":"v1","url":"/"}"#,
        "a `page_view` line needs `timestamp` (RFC 3339 such as \"2024-03-01T10:00:00Z\", or epoch seconds or milliseconds)",
    );
    check_bad_line(
        r#"{"type":"page_view","visitor_id":"v1","url":"/","timestamp":1709287200,"status":"ok"}"#,
        "`status` must be a number, got a string",
    );
    check_bad_line(
        r#"{"type":"page_view","visitor_id":"v1","url":"/","timestamp":1709287200,"bot":"no"}"#,
        "`bot` must be true or false, got a string",
    );
    check_bad_line(
        r#"{"type":"email","email":"a@example.com","kind":"exploded","timestamp":1709287200}"#,
        "unknown email kind `exploded`: use sent, delivered, opened, clicked, hard_bounced, soft_bounced, blocked, complained, unsubscribed, opt_in_requested or opt_in_confirmed",
    );
    check_bad_line(
        r#"{"type":"identify","email":"a@example.com","timestamp":1709287200}"#,
        "an `identify` line needs `visitor_id`",
    );
    check_bad_line(
        r#"{"type":"identify","visitor_id":"v1","timestamp":1709287200}"#,
        "an `identify` line needs `email` or `external_id` besides `visitor_id`",
    );
    check_bad_line(
        r#"{"type":"track","contact_id":-1,"name":"x","timestamp":1709287200}"#,
        "`contact_id` must be a whole number from 0 to 4294967295",
    );
    check_bad_line(
        r#"{"type":"stage_change","email":"a@example.com","timestamp":1709287200}"#,
        "a `stage_change` line needs `stage`",
    );
}

#[test]
fn good_lines_become_core_inputs() {
    let input = concat!(
        "\u{feff}{\"type\":\"contact\",\"email\":\"Ann@Example.com\",\"created_at\":1709287200000,\"fields\":{\"first_name\":\"Ann\",\"plan\":\"pro\",\"score\":4.5,\"vip\":true,\"tags\":[\"a\",\"b\"],\"city\":null},\"extra\":1}\r\n",
        "\n",
        "   \n",
        "{\"type\":\"page_view\",\"visitor_id\":\"v1\",\"timestamp\":\"2024-03-01T10:00:00Z\",\"url\":\"https://shop.example/?utm_source=news&utm_medium=email\",\"referrer\":\"https://google.com/\",\"utm_campaign\":\"spring\",\"country\":\"fr\",\"city\":\"Lyon\",\"status\":200}\n",
        "{\"type\":\"page_view\",\"visitor_id\":\"v2\",\"timestamp\":1709287200,\"url\":\"/\",\"country\":\"Atlantis\"}\n",
        "{\"type\":\"heartbeat\",\"visitor_id\":\"v1\",\"timestamp\":1709287230,\"url\":\"https://shop.example/\"}\n",
        "{\"type\":\"email\",\"external_id\":\"crm-1\",\"kind\":\"hard_bounced\",\"campaign\":\"march\",\"timestamp\":1709287200}\n",
    );
    let import = parse_ndjson(input.as_bytes(), &NdjsonImportOptions::default()).unwrap();
    assert_eq!(import.n_lines, 5);
    assert_eq!(
        render_line_problems(&import.problems),
        [
            "warning line 1: unknown key `extra` ignored",
            "warning line 5: unknown country `Atlantis`: use an ISO 3166-1 code such as FR or USA, or an English name; country left out",
        ]
    );
    assert_eq!(import.items.iter().map(|i| i.line).collect::<Vec<_>>(), [1, 4, 5, 6, 7]);
    let NdjsonPayload::Contact(contact) = &import.items[0].payload else { panic!() };
    assert_eq!(contact.email.as_deref(), Some("Ann@Example.com"));
    assert_eq!(contact.created_at, Some(1_709_287_200), "milliseconds");
    // Fields come in key order (serde_json's map is sorted); each is set once, so order does not matter.
    assert_eq!(
        contact.fields,
        [
            ("city".to_owned(), None),
            ("first_name".to_owned(), Some(Value::Text("Ann".into()))),
            ("plan".to_owned(), Some(Value::Text("pro".into()))),
            ("score".to_owned(), Some(Value::Number(4.5))),
            ("tags".to_owned(), Some(Value::List(vec!["a".into(), "b".into()]))),
            ("vip".to_owned(), Some(Value::Bool(true))),
        ]
    );
    assert_eq!(
        import.items[1].payload,
        NdjsonPayload::Event(EventInput {
            subject: Subject::Visitor("v1".into()),
            at: 1_709_287_200,
            body: EventBody::PageView(PageView {
                url: "https://shop.example/?utm_source=news&utm_medium=email".into(),
                referrer: Some("https://google.com/".into()),
                utm: Utm { source: Some("news".into()), medium: Some("email".into()), campaign: Some("spring".into()) },
                bot: false,
                status: Some(200),
                geo: Some(Geo { country: Some(Country::parse("FR").unwrap()), region: None, city: Some("Lyon".into()) }),
            }),
        })
    );
    let NdjsonPayload::Event(heartbeat) = &import.items[3].payload else { panic!() };
    assert_eq!(heartbeat.body, EventBody::Heartbeat, "a heartbeat's url is known and not warned about");
    let NdjsonPayload::Event(bounce) = &import.items[4].payload else { panic!() };
    assert_eq!(bounce.subject, Subject::ExternalId("crm-1".into()));
    assert!(
        matches!(&bounce.body, EventBody::Email(e) if e.kind == EmailKind::parse("hard_bounced").unwrap() && e.campaign.as_deref() == Some("march"))
    );
}

#[test]
fn batches_keep_line_order_between_contacts_and_events() {
    let input = concat!(
        "{\"type\":\"contact\",\"email\":\"a@example.com\"}\n",
        "{\"type\":\"contact\",\"email\":\"b@example.com\"}\n",
        "{\"type\":\"contact\",\"email\":\"c@example.com\"}\n",
        "{\"type\":\"track\",\"email\":\"a@example.com\",\"name\":\"signup\",\"timestamp\":1709287200}\n",
        "{\"type\":\"contact\",\"email\":\"d@example.com\"}\n",
        "{\"type\":\"delete\",\"email\":\"b@example.com\",\"timestamp\":1709287200}\n",
    );
    let import = parse_ndjson(input.as_bytes(), &NdjsonImportOptions::default()).unwrap();
    let shape: Vec<(String, Vec<usize>)> = import
        .into_batches(Channel::Api, 2)
        .into_iter()
        .map(|batch| {
            let kind = match batch.command {
                Command::UpsertContacts { channel, .. } => format!("contacts/{channel}"),
                Command::RecordEvents { .. } => "events".to_owned(),
                other => panic!("{other:?}"),
            };
            (kind, batch.lines)
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("contacts/api".to_owned(), vec![1, 2]),
            ("contacts/api".to_owned(), vec![3]),
            ("events".to_owned(), vec![4]),
            ("contacts/api".to_owned(), vec![5]),
            ("events".to_owned(), vec![6]),
        ]
    );
}

fn apply_to(
    workspace: &mut Workspace,
) -> impl FnMut(Command) -> Result<segscope_core::engine::Outcome, segscope_core::Error> + '_ {
    move |command| workspace.apply(command, NOW)
}

#[test]
fn driver_reports_counts_and_maps_core_rejections_to_lines() {
    let mut workspace = workspace();
    let input = concat!(
        "{\"type\":\"contact\",\"email\":\"a@example.com\",\"fields\":{\"first_name\":\"Ann\",\"stage\":\"Raw lead\"}}\n",
        "{\"type\":\"contact\",\"email\":\"A@example.com \",\"fields\":{\"last_name\":\"Lee\",\"stage\":\"Winner\"}}\n",
        "{\"type\":\"page_view\",\"visitor_id\":\"v1\",\"timestamp\":1709287200,\"url\":\"https://shop.example/?utm_medium=cpc&utm_source=google\"}\n",
        "{\"type\":\"page_view\",\"visitor_id\":\"bot\",\"timestamp\":1709287200,\"url\":\"/\",\"bot\":true}\n",
        "{\"type\":\"identify\",\"visitor_id\":\"v1\",\"email\":\"a@example.com\",\"timestamp\":1709287260,\"traits\":{\"plan\":\"pro\"}}\n",
        "{oops\n",
        "{\"type\":\"email\",\"email\":\"nobody@example.com\",\"kind\":\"opened\",\"timestamp\":1709287200}\n",
        "{\"type\":\"email\",\"email\":\"a@example.com\",\"kind\":\"unsubscribed\",\"timestamp\":1709287300}\n",
        "{\"type\":\"stage_change\",\"email\":\"a@example.com\",\"stage\":\"Sales ready\",\"timestamp\":1748736060}\n",
    );
    let import = parse_ndjson(input.as_bytes(), &NdjsonImportOptions::default()).unwrap();
    let mut progress = Vec::new();
    let report =
        apply_ndjson_import(import, Channel::Api, 2, apply_to(&mut workspace), |p| progress.push((p.items_done, p.items_total)))
            .unwrap();
    assert_eq!(progress, [(2, 8), (4, 8), (6, 8), (8, 8)]);
    assert_eq!((report.contacts_created, report.contacts_updated, report.events_accepted, report.skipped), (1, 1, 5, 2));
    assert_eq!((report.contacts_created_by_events, report.merges, report.bot_hits), (1, 1, 1));
    assert_eq!(
        render_line_problems(&report.problems),
        [
            "warning line 2: stage: unknown stage `Winner`; stages: Raw lead, Marketing ready, Marketing engaged, Marketing qualified, Sales ready",
            "rejected line 6: invalid JSON: key must be a string at line 1 column 2",
            "rejected line 7: no contact with email nobody@example.com: import the contact first",
        ]
    );

    let a = contact(&workspace, "a@example.com");
    assert_eq!((a.first_name.as_deref(), a.last_name.as_deref()), (Some("Ann"), Some("Lee")));
    // The stage history is ordered by time: the upsert set "Raw lead" at the
    // import instant (NOW), the stage change came a minute later.
    assert_eq!(a.stage.as_deref(), Some("Sales ready"));
    assert_eq!(a.attributes.get("plan"), Some(&Value::Text("pro".into())));
    assert_eq!(a.first_touch, Some(Source::PaidSearch), "the merged visitor's first touch moved to the contact");
    assert!(a.flags.has(EmailFlags::UNSUBSCRIBED));
    assert_eq!(workspace.contact_count(), 1, "the anonymous visitor was merged; the bot created nothing");
}

#[test]
fn zero_valid_lines_and_limits_are_failures() {
    let err = parse_ndjson(b"\n  \n", &NdjsonImportOptions::default()).unwrap_err();
    assert_eq!(err.to_string(), "nothing to import: the input has no lines");
    let err = parse_ndjson(b"{\"type\":\"nope\"}\nnull\n", &NdjsonImportOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "nothing to import: all 2 lines were rejected: line 1: unknown type `nope`: use one of contact, page_view, heartbeat, page_leave, identify, email, stage_change, track, delete, delete_contact; line 2: a line must be a JSON object, got null"
    );
    let NdjsonImportError::NoValidLines { problems, .. } = err else { panic!() };
    assert_eq!(problems.len(), 2);

    let small =
        NdjsonImportOptions { limits: InputLimits { max_input_bytes: 200, max_line_bytes: 60, ..InputLimits::default() } };
    let long_line =
        format!("{{\"type\":\"contact\",\"email\":\"a@example.com\",\"fields\":{{\"note\":\"{}\"}}}}", "x".repeat(30));
    let mut bytes = format!("{{\"type\":\"contact\",\"email\":\"b@example.com\"}}\n{long_line}\n").into_bytes();
    bytes.extend_from_slice(b"{]\n\xFF\xFE\n");
    let import = parse_ndjson(&bytes, &small).unwrap();
    assert_eq!(
        render_line_problems(&import.problems),
        [
            format!("rejected line 2: the line is {} bytes, longer than the limit of 60 bytes", long_line.len()),
            "rejected line 3: invalid JSON: key must be a string at line 1 column 2".to_owned(),
            "rejected line 4: the line is not valid UTF-8: NDJSON must be UTF-8".to_owned(),
        ]
    );
    let err = parse_ndjson(&vec![b' '; 201], &small).unwrap_err();
    assert_eq!(err.to_string(), "the input is 201 bytes, more than the limit of 200 bytes: split it into smaller files");
}

#[test]
fn a_workspace_that_rejects_everything_is_not_success() {
    let mut workspace = workspace();
    let input = b"{\"type\":\"track\",\"email\":\"ghost@example.com\",\"name\":\"x\",\"timestamp\":1709287200}\n";
    let import = parse_ndjson(input, &NdjsonImportOptions::default()).unwrap();
    let err = apply_ndjson_import(import, Channel::Api, 10, apply_to(&mut workspace), |_| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        "nothing was imported: the workspace rejected every item (line 1: no contact with email ghost@example.com: import the contact first)"
    );
    assert!(matches!(err, ApplyError::NothingImported { .. }));
}

#[test]
fn an_import_keeps_the_first_problems_and_counts_the_rest() {
    // Millions of bad lines must not take the memory of the report; the
    // counts stay exact. Parser rejections (`{}`), core rejections (email
    // events for nobody) and one good line.
    let cap = segscope_ingest::MAX_KEPT_PROBLEMS;
    let mut input = String::from("{\"type\":\"contact\",\"email\":\"ok@example.com\"}\n");
    for _ in 0..cap + 500 {
        input.push_str("{}\n");
    }
    for _ in 0..300 {
        input.push_str("{\"type\":\"track\",\"email\":\"ghost@example.com\",\"name\":\"x\",\"timestamp\":1709287200}\n");
    }
    let import = parse_ndjson(input.as_bytes(), &NdjsonImportOptions::default()).unwrap();
    assert_eq!(import.problems.len(), cap);
    assert_eq!((import.omitted.rejected, import.omitted.repaired), (500, 0));
    let mut workspace = workspace();
    let report = apply_ndjson_import(import, Channel::Api, 100, apply_to(&mut workspace), |_| {}).unwrap();
    assert_eq!(report.contacts_created, 1);
    assert_eq!(report.skipped, cap + 500 + 300, "every rejected line is counted");
    assert_eq!(report.problems.len(), cap, "only the first problems are kept");
    assert_eq!(report.omitted.rejected, 500 + 300);
    assert_eq!(report.problems[0].line, 2, "the first problem is the first bad line");

    // The CSV importer keeps the same bound.
    let mut csv = String::from("email\nok@example.com\n");
    for _ in 0..cap + 7 {
        csv.push_str("not an email\n");
    }
    let parsed = segscope_ingest::parse_contacts_csv(
        csv.as_bytes(),
        &segscope_ingest::CsvImportOptions::default(),
        &segscope_core::backend::SchemaSnapshot::default(),
    )
    .unwrap();
    assert_eq!(parsed.problems.len(), cap);
    assert_eq!(parsed.omitted.rejected, 7);
    assert_eq!(parsed.n_rejected(), cap + 7);
}

mod parallel_parse {
    use proptest::prelude::*;
    use segscope_ingest::{NdjsonImportOptions, ndjson::parse_ndjson_in_parts};

    fn arb_line() -> impl Strategy<Value = String> {
        prop_oneof![
            (0u32..50).prop_map(|i| format!(r#"{{"type":"contact","email":"c{i}@example.com"}}"#)),
            (0u32..50, 0i64..1000).prop_map(|(i, t)| format!(
                r#"{{"type":"page_view","visitor_id":"v{i}","url":"/p","timestamp":{}}}"#,
                1_709_287_200 + t
            )),
            Just(r#"{"type":"page_view","url":"/"}"#.to_owned()),
            Just(r#"{"type":"contact","email":"ok@example.com","colour":"red"}"#.to_owned()),
            Just("{not json".to_owned()),
            Just(String::new()),
            Just("   ".to_owned()),
        ]
    }

    /// Debug text of the result: the same for one part and two, down to
    /// line numbers, problem order and the problem cap.
    fn parsed(input: &str, parts: usize) -> String {
        format!("{:?}", parse_ndjson_in_parts(input.as_bytes(), &NdjsonImportOptions::default(), parts))
    }

    proptest! {
        #[test]
        fn two_parts_parse_like_one(lines in proptest::collection::vec(arb_line(), 0..80), crlf in any::<bool>(), bom in any::<bool>()) {
            let newline = if crlf { "\r\n" } else { "\n" };
            let input = format!("{}{}", if bom { "\u{feff}" } else { "" }, lines.join(newline));
            prop_assert_eq!(parsed(&input, 1), parsed(&input, 2));
        }
    }

    #[test]
    fn the_problem_cap_holds_across_the_cut() {
        // 3,000 bad lines around a good one: the first 1,000 problems are
        // kept in line order whichever part they come from.
        let mut lines = vec!["{bad"; 3_000];
        lines[2_500] = r#"{"type":"contact","email":"ok@example.com"}"#;
        let input = lines.join("\n");
        assert_eq!(parsed(&input, 1), parsed(&input, 2));
        let import = parse_ndjson_in_parts(input.as_bytes(), &NdjsonImportOptions::default(), 2).unwrap();
        assert_eq!(import.problems.len(), 1_000);
        assert_eq!(import.problems.last().unwrap().line, 1_000);
        assert_eq!(import.omitted.rejected, 1_999);
        assert_eq!(import.items[0].line, 2_501);
    }
}
