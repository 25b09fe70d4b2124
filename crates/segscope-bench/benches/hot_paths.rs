//! Divan benches of the hot paths on a generated 20k-contact workspace
//! (`cargo bench -p segscope-bench`): the full summary of the ≈50% segment
//! and of a small one, a single-contact update across the 50 segments,
//! building a segment over every contact, and recording a contact's web
//! history packed against a plain sorted vector. The full-scale figures come
//! from `bench/run.sh`; these are for quick before/after comparisons.

use std::sync::OnceLock;

use segscope_bench::generate::{self, COHORTS, NOW};
use segscope_bench::segments;
use segscope_core::backend::SchemaSnapshot;
use segscope_core::engine::{Command, ContactUpsert, Definition, Outcome, SegmentSpec, Workspace};
use segscope_core::event::{WebHit, WebKind};
use segscope_core::ids::{SegmentId, WorkspaceId};
use segscope_core::model::{AttrType, Channel, Country, Settings, Source, Value};
use segscope_core::summary::{SummaryRequest, View};
use segscope_core::time::{Granularity, TimeRange, Tz};
use segscope_core::web_history::WebHistory;
use segscope_ingest::csv_contacts::{CsvImportOptions, parse_contacts_csv};
use segscope_ingest::driver::{apply_contact_import, apply_ndjson_import};
use segscope_ingest::ndjson::{NdjsonImportOptions, parse_ndjson};

const CONTACTS: u64 = 20_000;

fn main() {
    divan::main();
}

struct Fixture {
    workspace: Workspace,
    half: SegmentId,
    small: SegmentId,
    emails: Vec<String>,
}

fn schema(ws: &Workspace) -> SchemaSnapshot {
    SchemaSnapshot {
        attributes: ws.attributes().clone(),
        stages: ws.settings().stages.clone(),
        segments: ws.segments().map(|s| (s.id, s.name.clone())).collect(),
    }
}

/// Generates and loads the workspace once, through the import paths.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("segscope-bench-divan-{}", std::process::id()));
        let config = generate::Config { contacts: CONTACTS, seed: 42, email_domains_dir: None };
        let generated = generate::generate(&config, &dir).expect("generate");
        let mut ws = Workspace::new(WorkspaceId::parse("bench").expect("id"), Settings::default(), NOW).expect("workspace");
        ws.apply(Command::DeclareAttribute { name: "cohort".to_owned(), attr_type: AttrType::Number }, NOW).expect("declare");
        let bytes = std::fs::read(dir.join("contacts.csv")).expect("csv");
        let import = parse_contacts_csv(&bytes, &CsvImportOptions::default(), &schema(&ws)).expect("parse csv");
        apply_contact_import(
            import,
            10_000,
            |batch: Vec<ContactUpsert>| match ws
                .apply(Command::UpsertContacts { contacts: batch, channel: Channel::Import, list: None }, NOW)?
            {
                Outcome::Upserted(report) => Ok(report),
                other => Err(segscope_core::error::Error::internal(format!("{other:?}"))),
            },
            |_| {},
        )
        .expect("csv import");
        let mut files: Vec<(Channel, String)> =
            generated.contact_files.iter().map(|(c, f)| (Channel::parse(c).expect("channel"), f.clone())).collect();
        files.extend(generated.event_files.iter().map(|f| (Channel::Tracking, f.clone())));
        for (channel, file) in files {
            let bytes = std::fs::read(dir.join(file)).expect("ndjson");
            let import = parse_ndjson(&bytes, &NdjsonImportOptions::default()).expect("parse ndjson");
            apply_ndjson_import(import, channel, 10_000, |command| ws.apply(command, NOW), |_| {}).expect("ndjson import");
        }
        let (mut half, mut small) = (SegmentId(0), SegmentId(0));
        for (name, text) in segments::definitions(COHORTS / 100) {
            let criteria = schema(&ws).parse_text(&text).expect("criteria");
            let spec = SegmentSpec { name: name.clone(), description: String::new(), definition: Definition::Dynamic(criteria) };
            let Outcome::SegmentSaved(id) = ws.apply(Command::CreateSegment(spec), NOW).expect("segment") else {
                panic!("not saved")
            };
            if name == segments::HALF {
                half = id;
            } else if name == segments::SMALL {
                small = id;
            }
        }
        let emails = ws.contacts().iter().filter_map(|c| c.email.as_ref().map(|e| e.as_str().to_owned())).take(1_000).collect();
        let _ = std::fs::remove_dir_all(&dir);
        Fixture { workspace: ws, half, small, emails }
    })
}

fn request(view: View) -> SummaryRequest {
    let tz = Tz::utc();
    SummaryRequest {
        view,
        range: TimeRange::last_days(30, NOW, &tz),
        tz,
        granularity: Granularity::Day,
        country: Some(Country::parse("US").expect("US")),
        region: None,
    }
}

#[divan::bench(args = [View::All, View::Known])]
fn summary_half(view: View) {
    let f = fixture();
    divan::black_box(f.workspace.summary(f.half, &request(view), NOW).expect("summary"));
}

#[divan::bench]
fn summary_small() {
    let f = fixture();
    divan::black_box(f.workspace.summary(f.small, &request(View::All), NOW).expect("summary"));
}

#[divan::bench(sample_count = 200)]
fn single_contact_update(bencher: divan::Bencher) {
    let f = fixture();
    let mut ws = f.workspace.clone();
    let stages = ["Raw lead", "Sales ready", "Marketing qualified"];
    let mut i = 0usize;
    bencher.bench_local(|| {
        i += 1;
        let upsert = ContactUpsert {
            email: Some(f.emails[i % f.emails.len()].clone()),
            external_id: None,
            fields: vec![("stage".to_owned(), Some(Value::Text(stages[i % stages.len()].to_owned())))],
            created_at: None,
        };
        ws.apply(Command::UpsertContacts { contacts: vec![upsert], channel: Channel::Api, list: None }, NOW).expect("apply")
    });
}

#[divan::bench(sample_count = 20)]
fn segment_build(bencher: divan::Bencher) {
    let f = fixture();
    let criteria = schema(&f.workspace).parse_text(r#"contact is anonymous OR country in ["US", "DE", "FR"]"#).expect("criteria");
    bencher.with_inputs(|| f.workspace.clone()).bench_local_values(|mut ws| {
        let spec = SegmentSpec {
            name: "build".to_owned(),
            description: String::new(),
            definition: Definition::Dynamic(criteria.clone()),
        };
        ws.apply(Command::CreateSegment(spec), NOW).expect("build");
        ws
    });
}

/// Thirty web hits of a typical contact (ten visits of a page view and two
/// heartbeats), in time order.
fn typical_hits() -> Vec<WebHit> {
    (0..10i64)
        .flat_map(|visit| {
            let start = NOW - 30 * 86_400 + visit * 86_400;
            [
                WebHit { at: start, kind: WebKind::PageView, url: 40 + visit as u32, touch: Some(Source::Email) },
                WebHit { at: start + 15, kind: WebKind::Heartbeat, url: 0, touch: None },
                WebHit { at: start + 30, kind: WebKind::Heartbeat, url: 0, touch: None },
            ]
        })
        .collect()
}

/// Recording a contact's web history one hit at a time: packed (what the
/// engine keeps) ...
#[divan::bench]
fn web_history_packed() -> WebHistory {
    let mut history = WebHistory::default();
    for hit in typical_hits() {
        history.insert(hit);
    }
    history
}

/// ... against the plain sorted vector it replaced (4x the memory).
#[divan::bench]
fn web_history_sorted_vec() -> Vec<WebHit> {
    let mut hits = Vec::new();
    for hit in typical_hits() {
        segscope_core::contact::insert_sorted(&mut hits, hit);
    }
    hits
}
