//! `segscope-bench`: the driver `bench/run.sh` calls.
//!
//! - `generate --contacts N [--seed S] --out DIR`: writes a dataset.
//! - `load --data DIR --store DIR`: imports it into a fresh embedded store
//!   through segscope's own CSV and NDJSON import paths (timed), creates the
//!   50 segments and the automations, times the summaries through the
//!   `Backend` and writes `DIR/segscope_summary.json` (canonical form) and
//!   `DIR/segscope_load.json` (timings).
//! - `measure --data DIR --store DIR`: runs `restart` in a child process
//!   (reopens the store and serves the first summary, reports resident
//!   memory, checks every summary against the one served before), then
//!   decodes the snapshot to time engine-level work: summaries, single-
//!   contact updates across the 50 segments and segment builds. Writes
//!   `DIR/segscope_measure.json`.
//! - `csv-import --rows N --dir DIR`: imports an N-row contacts CSV into a
//!   fresh store (the "1M-row CSV" target).
//!
//! Timings are printed and written, never asserted.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use segscope_bench::generate::{self, NOW};
use segscope_bench::{canonical, median, resident_bytes, segments, snapshot};
use segscope_core::backend::Backend;
use segscope_core::engine::{Command, ContactUpsert, Definition, Outcome, SegmentSpec, UpsertReport, Workspace};
use segscope_core::error::Error;
use segscope_core::event::{EventBody, EventInput, PageView, Subject};
use segscope_core::ids::{SegmentId, WorkspaceId};
use segscope_core::model::{AttrType, AutomationKind, AutomationSpec, Channel, Country, Settings, Status, Utm, Value};
use segscope_core::summary::{SummaryRequest, View};
use segscope_core::time::{Granularity, TimeRange, Tz};
use segscope_ingest::csv_contacts::{CsvImportOptions, parse_contacts_csv};
use segscope_ingest::driver::{apply_contact_import, apply_ndjson_import};
use segscope_ingest::ndjson::{NdjsonImportOptions, parse_ndjson};
use segscope_store::{Store, StoreOptions};
use serde_json::{Value as Json, json};

const WORKSPACE: &str = "bench";
/// Items per command in imports: the CLI's default batch.
const BATCH: usize = 10_000;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        bail!("usage: segscope-bench generate|load|restart|measure|csv-import [--key value]...")
    };
    let opt = |key: &str| -> Option<String> { args.iter().position(|a| a == key).and_then(|i| args.get(i + 1)).cloned() };
    let path = |key: &str| -> Result<PathBuf> { opt(key).map(PathBuf::from).ok_or_else(|| anyhow!("{key} DIR is required")) };
    match command.as_str() {
        "generate" => {
            let contacts: u64 = opt("--contacts").ok_or_else(|| anyhow!("--contacts N is required"))?.parse()?;
            let seed: u64 = opt("--seed").map_or(Ok(42), |s| s.parse())?;
            let config = generate::Config { contacts, seed, email_domains_dir: opt("--email-domains").map(PathBuf::from) };
            let started = Instant::now();
            let generated = generate::generate(&config, &path("--out")?)?;
            println!(
                "generated {} contacts ({} known, {} anonymous), {} sessions, {} events in {:.1} s",
                generated.contacts,
                generated.known,
                generated.anonymous,
                generated.sessions,
                generated.events,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        "load" => load(&path("--data")?, &path("--store")?),
        "restart" => restart(&path("--data")?, &path("--store")?),
        "measure" => measure(&path("--data")?, &path("--store")?, opt("--runs").map_or(Ok(15), |s| s.parse())?),
        "csv-import" => csv_import(opt("--rows").map_or(Ok(1_000_000), |s| s.parse())?, &path("--dir")?),
        other => bail!("unknown command `{other}`"),
    }
}

fn workspace_id() -> WorkspaceId {
    WorkspaceId::parse(WORKSPACE).expect("valid id")
}

fn read_meta(data: &Path) -> Result<Json> {
    Ok(serde_json::from_slice(&std::fs::read(data.join("meta.json")).context("reading meta.json")?)?)
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

fn upserted(outcome: segscope_core::error::Result<Outcome>) -> segscope_core::error::Result<UpsertReport> {
    match outcome? {
        Outcome::Upserted(report) => Ok(report),
        other => Err(Error::internal(format!("unexpected outcome {other:?}"))),
    }
}

fn fresh_store(dir: &Path) -> Result<Store> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    let store = Store::open(dir, StoreOptions::default())?;
    store.create_workspace(&workspace_id(), Settings::default(), NOW)?;
    // The attribute's type, as an operator would declare it in the settings.
    store.apply(&workspace_id(), Command::DeclareAttribute { name: "cohort".to_owned(), attr_type: AttrType::Number }, NOW)?;
    Ok(store)
}

/// What importing one contacts CSV took.
struct CsvTiming {
    rows: usize,
    /// Read + parse + apply, seconds.
    secs: f64,
    /// Reading the file and parsing it into upserts, seconds (the rest is applying them).
    parse_secs: f64,
}

/// Parses and applies one contacts CSV as the CLI does.
fn import_csv(store: &Store, file: &Path) -> Result<CsvTiming> {
    let ws = workspace_id();
    let started = Instant::now();
    let bytes = std::fs::read(file)?;
    let import = parse_contacts_csv(&bytes, &CsvImportOptions::default(), &store.schema(&ws)?)?;
    drop(bytes);
    let parse_secs = started.elapsed().as_secs_f64();
    let report = apply_contact_import(
        import,
        BATCH,
        |batch: Vec<ContactUpsert>| {
            upserted(store.apply(&ws, Command::UpsertContacts { contacts: batch, channel: Channel::Import, list: None }, NOW))
        },
        |_| {},
    )
    .map_err(|e| anyhow!("{e}"))?;
    let secs = started.elapsed().as_secs_f64();
    if !report.problems.is_empty() {
        eprintln!("csv: {} problems, first: {}", report.problems.len(), report.problems[0]);
    }
    Ok(CsvTiming { rows: report.created + report.updated, secs, parse_secs })
}

/// Parses and applies one NDJSON file durably; returns (items applied, problems).
fn import_ndjson(store: &Store, file: &Path, channel: Channel) -> Result<(usize, usize)> {
    let ws = workspace_id();
    let bytes = std::fs::read(file)?;
    let import = parse_ndjson(&bytes, &NdjsonImportOptions::default())?;
    drop(bytes);
    let report = apply_ndjson_import(import, channel, BATCH, |command| store.apply(&ws, command, NOW), |_| {})
        .map_err(|e| anyhow!("{}: {e}", file.display()))?;
    if let Some(first) = report.problems.first() {
        eprintln!("{}: {} problems, first: {first}", file.display(), report.problems.len());
    }
    Ok((report.contacts_created + report.contacts_updated + report.events_accepted, report.problems.len()))
}

fn load(data: &Path, store_dir: &Path) -> Result<()> {
    let meta = read_meta(data)?;
    let ws = workspace_id();
    let store = fresh_store(store_dir)?;
    let mut results = serde_json::Map::new();

    let CsvTiming { rows, secs, parse_secs } = import_csv(&store, &data.join("contacts.csv"))?;
    println!("csv import: {rows} contacts in {secs:.2} s ({:.0} rows/s; parsing {parse_secs:.2} s)", rows as f64 / secs);
    results.insert("csv_import".into(), json!({"rows": rows, "secs": secs, "parse_secs": parse_secs}));

    let started = Instant::now();
    let mut ndjson_contacts = 0;
    for entry in meta["contact_files"].as_array().into_iter().flatten() {
        let channel = Channel::parse(entry[0].as_str().unwrap_or_default()).ok_or_else(|| anyhow!("bad channel"))?;
        ndjson_contacts += import_ndjson(&store, &data.join(entry[1].as_str().unwrap_or_default()), channel)?.0;
    }
    let secs = started.elapsed().as_secs_f64();
    println!("ndjson contacts: {ndjson_contacts} in {secs:.2} s");
    results.insert("ndjson_contacts".into(), json!({"rows": ndjson_contacts, "secs": secs}));

    let started = Instant::now();
    let (mut events, mut problems) = (0, 0);
    for file in meta["event_files"].as_array().into_iter().flatten() {
        let (n, p) = import_ndjson(&store, &data.join(file.as_str().unwrap_or_default()), Channel::Tracking)?;
        events += n;
        problems += p;
    }
    let secs = started.elapsed().as_secs_f64();
    println!("ndjson events (durable): {events} in {secs:.1} s = {:.0} events/s, {problems} problems", events as f64 / secs);
    results.insert("events".into(), json!({"events": events, "secs": secs, "problems": problems}));
    let stats = store.stats(&ws)?;
    println!("workspace: {stats:?}");

    // Segments, each built over every contact with its back-filled log.
    let limit = meta["small_cohort_limit"].as_u64().unwrap_or(1);
    let mut build_secs = Vec::new();
    let (mut half, mut small) = (None, None);
    for (name, text) in segments::definitions(limit) {
        let criteria = store.schema(&ws)?.parse_text(&text).with_context(|| format!("segment {name}: {text}"))?;
        let spec = SegmentSpec { name: name.clone(), description: String::new(), definition: Definition::Dynamic(criteria) };
        let started = Instant::now();
        let Outcome::SegmentSaved(id) = store.apply(&ws, Command::CreateSegment(spec), NOW)? else { bail!("segment not saved") };
        build_secs.push(started.elapsed().as_secs_f64());
        if name == segments::HALF {
            half = Some(id);
        } else if name == segments::SMALL {
            small = Some(id);
        }
    }
    let (half, small) = (half.expect("created"), small.expect("created"));
    let total: f64 = build_secs.iter().sum();
    let max = build_secs.iter().copied().fold(0.0, f64::max);
    println!("50 segments built in {total:.2} s (slowest {:.0} ms, through the store)", max * 1e3);
    results.insert(
        "segments".into(),
        json!({"count": build_secs.len(), "total_secs": total, "max_secs": max, "half_build_secs": build_secs[0]}),
    );
    for (kind, name, status, ids) in [
        (AutomationKind::Journey, "Welcome", Status::Active, vec![half]),
        (AutomationKind::Journey, "Win-back", Status::Draft, vec![half]),
        (AutomationKind::Campaign, "June newsletter", Status::Scheduled, vec![half, small]),
    ] {
        let spec = AutomationSpec { name: name.to_owned(), status, subtype: String::new(), segment_ids: ids };
        store.apply(&ws, Command::CreateAutomation { kind, spec }, NOW)?;
    }

    let mut canon = serde_json::Map::new();
    let mut timings = serde_json::Map::new();
    for (key, id) in [("half", half), ("small", small)] {
        for view in [View::All, View::Known] {
            let req = request(view);
            let summary = store.summary(&ws, id, &req, NOW)?;
            let mut samples: Vec<f64> = (0..9)
                .map(|_| {
                    let started = Instant::now();
                    let _ = std::hint::black_box(store.summary(&ws, id, &req, NOW));
                    started.elapsed().as_secs_f64()
                })
                .collect();
            let ms = median(&mut samples) * 1e3;
            println!("summary {key}/{}: {} members, median {ms:.2} ms (store)", view.key(), summary.overall.total);
            timings.insert(format!("{key}/{}", view.key()), json!({"members": summary.overall.total, "median_ms": ms}));
            canon.insert(format!("{key}/{}", view.key()), canonical::canonical(&summary));
        }
    }
    results.insert("summary_store".into(), Json::Object(timings));
    results.insert("segment_ids".into(), json!({"half": half.0, "small": small.0}));
    std::fs::write(data.join("segscope_summary.json"), serde_json::to_vec_pretty(&Json::Object(canon))?)?;

    let started = Instant::now();
    store.checkpoint()?;
    let secs = started.elapsed().as_secs_f64();
    println!("checkpoint (snapshot) in {secs:.2} s");
    results.insert("checkpoint_secs".into(), json!(secs));
    std::fs::write(data.join("segscope_load.json"), serde_json::to_vec_pretty(&Json::Object(results))?)?;
    Ok(())
}

fn time_summaries(ws: &Workspace, ids: &[(&str, SegmentId)], runs: usize, out: &mut serde_json::Map<String, Json>) -> Result<()> {
    for (key, id) in ids {
        for view in [View::All, View::Known] {
            let req = request(view);
            let members = ws.summary(*id, &req, NOW)?.overall.total;
            let mut samples: Vec<f64> = (0..runs)
                .map(|_| {
                    let started = Instant::now();
                    let _ = std::hint::black_box(ws.summary(*id, &req, NOW));
                    started.elapsed().as_secs_f64()
                })
                .collect();
            let ms = median(&mut samples) * 1e3;
            println!("engine summary {key}/{}: {members} members, median {ms:.3} ms", view.key());
            out.insert(format!("{key}/{}", view.key()), json!({"members": members, "median_ms": ms}));
        }
    }
    Ok(())
}

/// Reopens the store and serves the first summary (the restart target),
/// reports the resident memory and checks the summaries against the ones
/// served before; writes `DIR/segscope_restart.json`. Run by `measure` in a
/// child process, so that the engine-level copy `measure` decodes next is
/// not resident at the same time.
fn restart(data: &Path, store_dir: &Path) -> Result<()> {
    let meta = read_meta(data)?;
    let (half, small) = segment_ids(data)?;
    let ws_id = workspace_id();
    let baseline = resident_bytes().unwrap_or(0);
    let started = Instant::now();
    let store = Store::open(store_dir, StoreOptions::default())?;
    let opened = started.elapsed().as_secs_f64();
    store.summary(&ws_id, half, &request(View::All), NOW)?;
    let restart = started.elapsed().as_secs_f64();
    let resident = resident_bytes().unwrap_or(0).saturating_sub(baseline);
    let contacts = meta["contacts"].as_u64().unwrap_or(1);
    let sessions = meta["sessions"].as_u64().unwrap_or(0);
    let budget = 150 * contacts + 24 * sessions;
    println!(
        "restart: open {opened:.2} s, first summary served at {restart:.2} s; resident {:.0} MiB = {:.0} B/contact ({:.1}x the budget of 150 B/contact + 24 B/session = {:.0} MiB)",
        resident as f64 / 1048576.0,
        resident as f64 / contacts as f64,
        resident as f64 / budget as f64,
        budget as f64 / 1048576.0
    );
    // After a restart (and with this binary's engine) every summary equals
    // the one `load` served and the references are compared with.
    let served: Json = serde_json::from_slice(&std::fs::read(data.join("segscope_summary.json"))?)?;
    for (key, id) in [("half", half), ("small", small)] {
        for view in [View::All, View::Known] {
            let name = format!("{key}/{}", view.key());
            let now = canonical::canonical(&store.summary(&ws_id, id, &request(view), NOW)?);
            if served.get(&name) != Some(&now) {
                bail!("summary {name} after the restart differs from the one served before it");
            }
        }
    }
    println!("summaries after the restart equal the ones served before it");
    let out = json!({"open_secs": opened, "first_summary_secs": restart, "resident_bytes": resident, "budget_bytes": budget, "contacts": contacts, "sessions": sessions});
    std::fs::write(data.join("segscope_restart.json"), serde_json::to_vec_pretty(&out)?)?;
    Ok(())
}

fn segment_ids(data: &Path) -> Result<(SegmentId, SegmentId)> {
    let load: Json = serde_json::from_slice(&std::fs::read(data.join("segscope_load.json"))?)?;
    let id = |key: &str| SegmentId(load["segment_ids"][key].as_u64().unwrap_or(0) as u32);
    Ok((id("half"), id("small")))
}

fn measure(data: &Path, store_dir: &Path, runs: usize) -> Result<()> {
    let (half, small) = segment_ids(data)?;
    let mut results = serde_json::Map::new();

    let status = std::process::Command::new(std::env::current_exe()?)
        .arg("restart")
        .arg("--data")
        .arg(data)
        .arg("--store")
        .arg(store_dir)
        .status()
        .context("running `segscope-bench restart`")?;
    if !status.success() {
        bail!("`segscope-bench restart` failed ({status})");
    }
    let restarted: Json = serde_json::from_slice(&std::fs::read(data.join("segscope_restart.json"))?)?;
    let contacts = restarted["contacts"].as_u64().unwrap_or(1);
    let resident = restarted["resident_bytes"].as_u64().unwrap_or(0);
    results.insert("restart".into(), restarted);

    let started = Instant::now();
    let mut ws = snapshot::read_newest(store_dir, WORKSPACE)?;
    println!("snapshot decoded in {:.2} s", started.elapsed().as_secs_f64());
    // For a profiler to attach to: SEGSCOPE_BENCH_PROFILE=N repeats the
    // ≈50% summary N more times first.
    if let Some(n) = std::env::var("SEGSCOPE_BENCH_PROFILE").ok().and_then(|n| n.parse::<usize>().ok()) {
        eprintln!("profiling: {n} summaries of the ≈50% segment (pid {})", std::process::id());
        for _ in 0..n {
            std::hint::black_box(ws.summary(half, &request(View::All), NOW)?);
        }
    }
    let mut summaries = serde_json::Map::new();
    time_summaries(&ws, &[("half", half), ("small", small)], runs, &mut summaries)?;
    results.insert("summary_engine".into(), Json::Object(summaries));

    // After the summaries, so that the summary rows are counted.
    let report = ws.memory_report();
    let mut parts = serde_json::Map::new();
    for (part, bytes) in &report.parts {
        println!("memory: {part}: {:.0} MiB = {:.0} B/contact", *bytes as f64 / 1048576.0, *bytes as f64 / contacts as f64);
        parts.insert((*part).to_owned(), json!(bytes));
    }
    println!(
        "memory: estimated heap {:.0} MiB = {:.0} B/contact (resident above: {:.0} B/contact)",
        report.total() as f64 / 1048576.0,
        report.total() as f64 / contacts as f64,
        resident as f64 / contacts as f64
    );
    results.insert("memory_parts".into(), Json::Object(parts));

    // A change to one contact: re-evaluates the 50 segments, logs changes.
    let emails: Vec<String> = ws
        .contacts()
        .iter()
        .filter(|c| c.alive)
        .filter_map(|c| c.email.as_ref().map(|e| e.as_str().to_owned()))
        .step_by(97)
        .take(2_000)
        .collect();
    let stages = ["Raw lead", "Marketing ready", "Marketing engaged", "Marketing qualified", "Sales ready"];
    let mut field_samples = Vec::new();
    for (i, email) in emails.iter().enumerate() {
        let upsert = ContactUpsert {
            email: Some(email.clone()),
            external_id: None,
            fields: vec![
                ("stage".to_owned(), Some(Value::Text(stages[i % stages.len()].to_owned()))),
                ("country".to_owned(), Some(Value::Text(["US", "FR", "SE"][i % 3].to_owned()))),
            ],
            created_at: None,
        };
        let command = Command::UpsertContacts { contacts: vec![upsert], channel: Channel::Api, list: None };
        let started = Instant::now();
        ws.apply(command, NOW)?;
        field_samples.push(started.elapsed().as_secs_f64());
    }
    let mut event_samples = Vec::new();
    for (i, email) in emails.iter().enumerate() {
        let event = EventInput {
            subject: Subject::Email(email.clone()),
            at: NOW - 600 + i as i64 % 60,
            body: EventBody::PageView(PageView {
                url: "https://shop.example/pricing".to_owned(),
                referrer: None,
                utm: Utm::default(),
                bot: false,
                status: None,
                geo: None,
            }),
        };
        let started = Instant::now();
        ws.apply(Command::RecordEvents { events: vec![event] }, NOW)?;
        event_samples.push(started.elapsed().as_secs_f64());
    }
    let p99 = |samples: &mut Vec<f64>| {
        samples.sort_by(f64::total_cmp);
        samples[(samples.len() * 99 / 100).min(samples.len() - 1)]
    };
    let field_median = median(&mut field_samples) * 1e6;
    let event_median = median(&mut event_samples) * 1e6;
    println!(
        "single-contact update (engine, 50 segments): field change median {field_median:.1} µs (p99 {:.1} µs), page view median {event_median:.1} µs (p99 {:.1} µs)",
        p99(&mut field_samples) * 1e6,
        p99(&mut event_samples) * 1e6
    );
    results.insert(
        "update".into(),
        json!({"field_median_us": field_median, "event_median_us": event_median, "samples": emails.len()}),
    );

    // Building a new segment over every contact, with its back-filled log.
    let mut builds = serde_json::Map::new();
    for (name, text) in [
        ("build: half", r#"contact is anonymous OR country in ["US", "DE", "FR"]"#),
        ("build: sessions 30d", "had at least 1 session in last 30 days"),
        ("build: stage and email", r#"stage in ["Raw lead", "Sales ready"] AND email opened in last 90 days"#),
    ] {
        let schema = segscope_core::backend::SchemaSnapshot {
            attributes: ws.attributes().clone(),
            stages: ws.settings().stages.clone(),
            segments: ws.segments().map(|s| (s.id, s.name.clone())).collect(),
        };
        let criteria = schema.parse_text(text)?;
        let spec = SegmentSpec { name: name.to_owned(), description: String::new(), definition: Definition::Dynamic(criteria) };
        let started = Instant::now();
        let Outcome::SegmentSaved(id) = ws.apply(Command::CreateSegment(spec), NOW)? else { bail!("not saved") };
        let secs = started.elapsed().as_secs_f64();
        let members = ws.segment(id)?.members.len();
        println!("segment build ({name}): {members} members in {:.0} ms", secs * 1e3);
        builds.insert(name.to_owned(), json!({"members": members, "secs": secs}));
        ws.apply(Command::DeleteSegment(id), NOW)?;
    }
    results.insert("segment_build".into(), Json::Object(builds));
    std::fs::write(data.join("segscope_measure.json"), serde_json::to_vec_pretty(&Json::Object(results))?)?;
    Ok(())
}

fn csv_import(rows: u64, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let file = dir.join(format!("contacts-{rows}.csv"));
    generate::write_contacts_csv(&file, rows, 7)?;
    let store = fresh_store(&dir.join("store"))?;
    let CsvTiming { rows: applied, secs, parse_secs } = import_csv(&store, &file)?;
    println!(
        "csv import target: {applied} rows in {secs:.2} s ({:.0} rows/s, parse + apply + durable log; parsing {parse_secs:.2} s)",
        applied as f64 / secs
    );
    std::fs::write(
        dir.join("csv_import.json"),
        serde_json::to_vec_pretty(&json!({"rows": applied, "secs": secs, "parse_secs": parse_secs}))?,
    )?;
    drop(store);
    std::fs::remove_dir_all(dir.join("store"))?;
    Ok(())
}
