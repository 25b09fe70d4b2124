//! `segscope demo`: builds the demo workspace — a year of a small SaaS
//! company's marketing data, real third-party files plus seeded generated
//! data — through the same doors a user would use (commands, the CSV
//! importer), so the demo exercises the real code paths.

pub mod generate;

use anyhow::{Context, Result, anyhow, bail};
use segscope_core::backend::Backend;
use std::collections::BTreeMap;

use segscope_core::engine::{Command, ContactRef, ContactUpsert, Definition, Reason, SegmentSpec};
use segscope_core::ids::WorkspaceId;
use segscope_core::model::{AutomationKind, AutomationSpec, Channel, Settings, Status};
use segscope_core::time::{Secs, Tz};
use segscope_ingest::bounce_mail::parse_bounce_mailbox;
use segscope_ingest::esp_webhook::{Provider, WebhookOptions, parse_webhook_dump};
use segscope_ingest::{
    AccessLogOptions, CsvImportOptions, ImportReport, InputLimits, NdjsonImportReport, apply_contact_import, parse_contacts_csv,
};

use generate::Step;

/// The demo's workspace id.
pub const DEMO_WORKSPACE: &str = "demo";
/// The demo's time zone.
pub const DEMO_TIME_ZONE: &str = "Europe/Paris";
/// Days of history the demo simulates, ending today.
pub const DEMO_DAYS: i64 = 365;

const SPLINK_CSV: &[u8] = include_bytes!("../../demo-data/splink-fake-1000.csv");
/// 10,000 real Apache combined-format lines (elastic/examples, Apache-2.0),
/// four days of semicomplete.com in May 2015, replayed as the demo site's
/// last four days.
const APACHE_LOG_GZ: &[u8] = include_bytes!("../../demo-data/apache_logs.log.gz");
/// Real ESP webhook bodies (django-anymail's test payloads, BSD-3-Clause,
/// many captured by its maintainers from the providers' test webhooks), one
/// body per line, replayed through the webhook parsers as the last week's
/// email events of the demo's transactional mail.
const ESP_WEBHOOKS: [(Provider, &[u8]); 4] = [
    (Provider::SendGrid, include_bytes!("../../demo-data/esp-webhooks/sendgrid.jsonl")),
    (Provider::Mailgun, include_bytes!("../../demo-data/esp-webhooks/mailgun.jsonl")),
    (Provider::Postmark, include_bytes!("../../demo-data/esp-webhooks/postmark.jsonl")),
    (Provider::AmazonSes, include_bytes!("../../demo-data/esp-webhooks/ses.jsonl")),
];
/// A real mailbox of 37 bounce, complaint and auto-reply messages
/// (sisimai/set-of-emails `mailbox/mbox-0`, BSD-2-Clause; addresses
/// anonymised upstream), read by the bounce-message importer as the demo's
/// bounce mailbox of the last day.
const BOUNCE_MBOX: &[u8] = include_bytes!("../../demo-data/bounces/sisimai-mbox-0");

/// What the demo build did, for the console.
#[derive(Debug)]
pub struct DemoReport {
    pub steps: usize,
    pub csv: ImportReport,
    /// Lines of the real access log, and what the import did with its page views.
    pub log_lines: usize,
    pub log: NdjsonImportReport,
    pub webhooks: WebhookReplay,
    pub bounces: WebhookReplay,
}

/// What replaying the real ESP webhook bodies (or the real bounce mailbox,
/// whose messages are its "bodies") did.
#[derive(Debug, Default)]
pub struct WebhookReplay {
    pub bodies: usize,
    /// Events the parsers read (deferrals and the like included).
    pub events: usize,
    /// Distinct recipients, added as contacts before their events.
    pub recipients: usize,
    /// Email events recorded.
    pub recorded: usize,
}

/// Builds the demo workspace into `backend`, as of `now`.
pub fn build(backend: &dyn Backend, now: Secs, seed: u64, progress: &mut dyn FnMut(usize, usize)) -> Result<DemoReport> {
    let workspace = WorkspaceId::parse(DEMO_WORKSPACE).map_err(|e| anyhow!(e))?;
    let tz = Tz::parse(DEMO_TIME_ZONE).map_err(|e| anyhow!(e))?;
    let steps = generate::plan(seed, now, &tz, DEMO_DAYS);
    let start = steps.iter().find_map(step_time).unwrap_or(now) - 3_600;
    backend
        .create_workspace(&workspace, Settings { time_zone: DEMO_TIME_ZONE.to_owned(), ..Settings::default() }, start)
        .map_err(|e| anyhow!(e))
        .context("creating the demo workspace")?;
    let mut csv = None;
    let total = steps.len();
    for (i, step) in steps.into_iter().enumerate() {
        run_step(backend, &workspace, step, &mut csv).with_context(|| format!("demo step {i}"))?;
        progress(i + 1, total);
    }
    let (log_lines, log) = import_real_access_log(backend, &workspace, now)?;
    let webhooks = import_real_webhooks(backend, &workspace, now, start)?;
    let bounces = import_real_bounces(backend, &workspace, now, start)?;
    Ok(DemoReport {
        steps: total,
        csv: csv.ok_or_else(|| anyhow!("the demo plan has no CSV import"))?,
        log_lines,
        log,
        webhooks,
        bounces,
    })
}

/// Replays the real access log as the site's last four days: every
/// timestamp is shifted by the same amount so the last line falls an hour
/// before `now` (keeping the order, gaps and sessions of the real traffic).
/// Bots, static assets, errors and non-GET lines make no page views, as in
/// `segscope import log`.
fn import_real_access_log(backend: &dyn Backend, workspace: &WorkspaceId, now: Secs) -> Result<(usize, NdjsonImportReport)> {
    let options = AccessLogOptions {
        visitor_key_salt: format!("{workspace}-demo"),
        url_prefix: Some("https://www.example.com".to_owned()),
        ..AccessLogOptions::default()
    };
    let mut import = crate::commands::parse_log(APACHE_LOG_GZ, &options, None).context("parsing the bundled access log")?;
    let last = import.hits.iter().map(|h| h.event.at).max().ok_or_else(|| anyhow!("the bundled access log has no page view"))?;
    let shift = (now - 3_600) - last;
    for hit in &mut import.hits {
        hit.event.at += shift;
    }
    let lines = import.n_lines;
    let report = segscope_ingest::apply_ndjson_import(
        import.into_event_import(),
        Channel::Tracking,
        segscope_ingest::DEFAULT_BATCH_SIZE,
        |command| backend.apply(workspace, command, now),
        |_| {},
    )
    .map_err(|e| anyhow!("importing the bundled access log: {e}"))?;
    Ok((lines, report))
}

/// Replays the real webhook bodies of each provider through its parser, as
/// `segscope import webhooks` and `POST /webhooks/…` do. Each provider's
/// events are shifted by one amount so its newest falls two hours before
/// `now` (keeping their order and spacing), clipped to the demo's start;
/// the recipients become contacts first ([`add_recipients`]).
fn import_real_webhooks(backend: &dyn Backend, workspace: &WorkspaceId, now: Secs, start: Secs) -> Result<WebhookReplay> {
    let mut replay = WebhookReplay::default();
    let newest = now - 7_200;
    let options = WebhookOptions { received_at: Some(newest), ..WebhookOptions::default() };
    for (provider, bytes) in ESP_WEBHOOKS {
        let mut dump = parse_webhook_dump(Some(provider), bytes, &options);
        let last = dump
            .events
            .iter()
            .map(|(_, e)| e.at)
            .max()
            .ok_or_else(|| anyhow!("the bundled {provider:?} webhook bodies hold no event"))?;
        let shift = newest - last;
        let mut first_seen = BTreeMap::<String, Secs>::new();
        for (_, event) in &mut dump.events {
            event.at = (event.at + shift).max(start);
            let first = first_seen.entry(event.recipient.clone()).or_insert(event.at);
            *first = (*first).min(event.at);
        }
        replay.bodies += dump.n_lines;
        replay.events += dump.events.len();
        replay.recipients += add_recipients(backend, workspace, first_seen, now, start);
        let report = segscope_ingest::apply_ndjson_import(
            dump.into_event_import(),
            Channel::Integration,
            segscope_ingest::DEFAULT_BATCH_SIZE,
            |command| backend.apply(workspace, command, now),
            |_| {},
        )
        .map_err(|e| anyhow!("replaying the bundled {provider:?} webhook bodies: {e}"))?;
        replay.recorded += report.events_accepted;
    }
    Ok(replay)
}

/// Reads the real bounce mailbox through the bounce-message importer, as
/// `segscope import bounces` does. The messages' dates are shifted by one
/// amount so the newest falls three hours before `now`; a message without
/// a valid date counts as received then. Auto-replies record nothing.
fn import_real_bounces(backend: &dyn Backend, workspace: &WorkspaceId, now: Secs, start: Secs) -> Result<WebhookReplay> {
    let newest = now - 10_800;
    let mut mailbox = parse_bounce_mailbox(BOUNCE_MBOX, &InputLimits::default()).context("reading the bundled bounce mailbox")?;
    let last = mailbox.messages.iter().filter_map(|(_, _, m)| m.at).max().unwrap_or(newest);
    let shift = newest - last;
    let mut first_seen = BTreeMap::<String, Secs>::new();
    for (_, _, message) in &mut mailbox.messages {
        let at = message.at.map_or(newest, |at| (at + shift).max(start));
        message.at = Some(at);
        for recipient in message.recipients.iter().filter(|r| r.class.email_kind().is_some()) {
            let first = first_seen.entry(recipient.address.clone()).or_insert(at);
            *first = (*first).min(at);
        }
    }
    let mut replay = WebhookReplay { bodies: mailbox.n_messages, ..WebhookReplay::default() };
    replay.events = first_seen.len();
    replay.recipients = add_recipients(backend, workspace, first_seen, now, start);
    let report = segscope_ingest::apply_ndjson_import(
        mailbox.into_event_import(Some(newest)),
        Channel::Integration,
        segscope_ingest::DEFAULT_BATCH_SIZE,
        |command| backend.apply(workspace, command, now),
        |_| {},
    )
    .map_err(|e| anyhow!("replaying the bundled bounce mailbox: {e}"))?;
    replay.recorded = report.events_accepted;
    Ok(replay)
}

/// segscope records email events only for contacts it knows, so each
/// recipient of a replayed ESP event or bounce is first added as a contact
/// (channel "integration", created a day before its first event), as the
/// ESP's audience sync would. Returns how many the core took (one that is
/// not an address is refused, and its events with it).
fn add_recipients(
    backend: &dyn Backend,
    workspace: &WorkspaceId,
    first_seen: BTreeMap<String, Secs>,
    now: Secs,
    start: Secs,
) -> usize {
    let mut added = 0;
    for (email, first) in first_seen {
        let upsert = ContactUpsert {
            email: Some(email),
            external_id: None,
            fields: Vec::new(),
            created_at: Some((first - 86_400).max(start)),
        };
        let command = Command::UpsertContacts { contacts: vec![upsert], channel: Channel::Integration, list: None };
        if backend.apply(workspace, command, now).is_ok() {
            added += 1;
        }
    }
    added
}

fn step_time(step: &Step) -> Option<Secs> {
    Some(match step {
        Step::Apply { now, .. }
        | Step::Segment { now, .. }
        | Step::StaticList { now, .. }
        | Step::Automation { now, .. }
        | Step::RealContactsCsv { now } => *now,
    })
}

fn apply(backend: &dyn Backend, workspace: &WorkspaceId, command: Command, now: Secs) -> Result<segscope_core::engine::Outcome> {
    backend.apply(workspace, command, now).map_err(|e| anyhow!(e))
}

fn run_step(backend: &dyn Backend, workspace: &WorkspaceId, step: Step, csv: &mut Option<ImportReport>) -> Result<()> {
    match step {
        Step::Apply { now, command } => {
            apply(backend, workspace, command, now)?;
        }
        Step::Segment { now, name, description, criteria } => {
            let schema = backend.schema(workspace).map_err(|e| anyhow!(e))?;
            let criteria = schema.parse_text(criteria).map_err(|e| anyhow!("segment {name}: {e}"))?;
            let spec = SegmentSpec {
                name: name.to_owned(),
                description: description.to_owned(),
                definition: Definition::Dynamic(criteria),
            };
            apply(backend, workspace, Command::CreateSegment(spec), now)?;
        }
        Step::StaticList { now, name, description, members } => {
            let spec = SegmentSpec { name: name.to_owned(), description: description.to_owned(), definition: Definition::Static };
            let segscope_core::engine::Outcome::SegmentSaved(list) =
                apply(backend, workspace, Command::CreateSegment(spec), now)?
            else {
                bail!("creating list {name} did not return its id");
            };
            let contacts = members.into_iter().map(ContactRef::Email).collect();
            apply(backend, workspace, Command::AddToList { list, contacts, reason: Reason::Manual }, now)?;
        }
        Step::Automation { now, journey, name, status, kind, segments } => {
            let schema = backend.schema(workspace).map_err(|e| anyhow!(e))?;
            let segment_ids = segments
                .iter()
                .map(|wanted| {
                    schema
                        .segments
                        .iter()
                        .find(|(_, n)| n == wanted)
                        .map(|(id, _)| *id)
                        .ok_or_else(|| anyhow!("no segment {wanted}"))
                })
                .collect::<Result<Vec<_>>>()?;
            let spec = AutomationSpec {
                name: name.to_owned(),
                status: Status::parse(status).ok_or_else(|| anyhow!("bad status {status}"))?,
                subtype: kind.to_owned(),
                segment_ids,
            };
            let kind = if journey { AutomationKind::Journey } else { AutomationKind::Campaign };
            apply(backend, workspace, Command::CreateAutomation { kind, spec }, now)?;
        }
        Step::RealContactsCsv { now } => {
            let spec = SegmentSpec {
                name: "Legacy CRM import".to_owned(),
                description: "Contacts imported from the old CRM export (the real splink fake_1000 file, duplicates and broken emails included)."
                    .to_owned(),
                definition: Definition::Static,
            };
            let segscope_core::engine::Outcome::SegmentSaved(list) =
                apply(backend, workspace, Command::CreateSegment(spec), now)?
            else {
                bail!("creating the import list did not return its id");
            };
            let schema = backend.schema(workspace).map_err(|e| anyhow!(e))?;
            let options = CsvImportOptions {
                ignore_columns: vec!["unique_id".into(), "cluster".into()],
                column_types: vec![("dob".into(), "date".into())],
                ..CsvImportOptions::default()
            };
            let parsed = parse_contacts_csv(SPLINK_CSV, &options, &schema).context("parsing the bundled splink CSV")?;
            let report = apply_contact_import(
                parsed,
                segscope_ingest::DEFAULT_BATCH_SIZE,
                |contacts| match backend.apply(
                    workspace,
                    Command::UpsertContacts { contacts, channel: Channel::Import, list: Some(list) },
                    now,
                ) {
                    Ok(segscope_core::engine::Outcome::Upserted(report)) => Ok(report),
                    Ok(other) => Err(segscope_core::Error::internal(format!("unexpected outcome {other:?}"))),
                    Err(err) => Err(err),
                },
                |_| {},
            )
            .map_err(|e| anyhow!("importing the bundled splink CSV: {e}"))?;
            *csv = Some(report);
        }
    }
    Ok(())
}
