//! One function per command: open the store, make one backend call, print.

use std::io::Write as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use segscope_core::backend::Backend;
use segscope_core::engine::{Command as CoreCommand, ContactRef, Definition, Outcome, Reason, SegmentSpec};
use segscope_core::ids::{SegmentId, WorkspaceId};
use segscope_core::model::{AutomationKind, AutomationSpec, Channel, Settings, Status};
use segscope_core::summary::{SummaryRequest, View};
use segscope_core::time::{Granularity, RangeBound, RangePreset, Secs, Tz, format_instant, resolve_range};
use segscope_store::{Store, StoreOptions};

use crate::output;
use crate::{
    AutomationArgs, AutomationCommand, AutomationEditArgs, BounceArgs, Cli, Command, CsvArgs, ImportCommand, LogArgs, NdjsonArgs,
    SegmentCommand, SummaryArgs, WebhookArgs, WorkspaceCommand,
};

/// A mistake in how the command was called that clap cannot see.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

/// The current instant; the only clock read in segscope besides the server's.
pub fn now() -> Secs {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as Secs).unwrap_or(0)
}

fn core(err: segscope_core::Error) -> anyhow::Error {
    anyhow::Error::new(err)
}

pub fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Demo(args) => crate::demo_command(&cli, args),
        Command::Serve(args) => crate::serve_command(&cli, &args.bind, None),
        Command::Import(ImportCommand::Contacts(args)) => import_contacts(&cli, args),
        Command::Import(ImportCommand::Events(args)) => import_events(&cli, args),
        Command::Import(ImportCommand::Log(args)) => import_log(&cli, args),
        Command::Import(ImportCommand::Webhooks(args)) => import_webhooks(&cli, args),
        Command::Import(ImportCommand::Bounces(args)) => import_bounces(&cli, args),
        Command::Segment(action) => segment(&cli, action),
        Command::Summary(args) => summary(&cli, args),
        Command::Contact(args) => contact(&cli, &args.contact),
        Command::Journey(action) => automation(&cli, AutomationKind::Journey, action),
        Command::Campaign(action) => automation(&cli, AutomationKind::Campaign, action),
        Command::Workspace(action) => workspace(&cli, action),
        Command::Check => check(&cli),
    }
}

/// Opens the store for reading. It takes no lock, so it works while a
/// server runs on the same directory (and sees what the server acknowledged).
pub fn open_read(dir: &Path) -> Result<Store> {
    if !dir.join("FORMAT").exists() {
        bail!(UsageError(format!(
            "{} is not a segscope data directory yet: run `segscope demo`, or `segscope workspace create <id>`, or pass --data",
            dir.display()
        )));
    }
    Ok(Store::open_read_only(dir)?)
}

pub fn open_write(dir: &Path) -> Result<Store> {
    Ok(Store::open(dir, StoreOptions::default())?)
}

/// The workspace to work in: `--workspace`, or the only one.
pub fn workspace_id(cli: &Cli, backend: &dyn Backend) -> Result<WorkspaceId> {
    if let Some(raw) = &cli.workspace {
        let id = WorkspaceId::parse(raw).map_err(core)?;
        if !backend.workspaces().map_err(core)?.contains(&id) {
            return Err(core(segscope_core::Error::not_found(format!("workspace `{id}` not found"))));
        }
        return Ok(id);
    }
    let all = backend.workspaces().map_err(core)?;
    match all.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(usage("there is no workspace yet: create one with `segscope workspace create <id>` or run `segscope demo`")),
        many => Err(usage(format!(
            "there are {} workspaces ({}); choose one with --workspace",
            many.len(),
            many.iter().map(WorkspaceId::to_string).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// A segment by id (`12`, `#12`) or name.
pub fn segment_id(backend: &dyn Backend, workspace: &WorkspaceId, raw: &str) -> Result<SegmentId> {
    let schema = backend.schema(workspace).map_err(core)?;
    let trimmed = raw.trim();
    if let Ok(n) = trimmed.trim_start_matches('#').parse::<u32>()
        && schema.segment_exists(SegmentId(n))
    {
        return Ok(SegmentId(n));
    }
    if let Some(id) = segscope_core::criteria::Schema::segment_by_name(&schema, trimmed) {
        return Ok(id);
    }
    Err(core(
        segscope_core::Error::not_found(format!("no segment `{trimmed}` in workspace {workspace}"))
            .with_details(vec!["see `segscope segment list`".to_owned()]),
    ))
}

fn contact_ref(raw: &str) -> ContactRef {
    let trimmed = raw.trim();
    match trimmed.strip_prefix('#').and_then(|n| n.parse().ok()) {
        Some(n) => ContactRef::Id(segscope_core::ids::ContactId(n)),
        None if trimmed.contains('@') => ContactRef::Email(trimmed.to_owned()),
        None => ContactRef::ExternalId(trimmed.to_owned()),
    }
}

fn progress_bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:40}] {pos}/{len} ({eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    if path.is_dir() {
        return Err(usage(format!("{} is a directory: give a file", path.display())));
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn import_contacts(cli: &Cli, args: &CsvArgs) -> Result<()> {
    let bytes = read_file(&args.file)?;
    let store = if args.dry_run { open_read(&cli.data)? } else { open_write(&cli.data)? };
    let workspace = workspace_id(cli, &store)?;
    let schema = store.schema(&workspace).map_err(core)?;
    let mut options = segscope_ingest::CsvImportOptions {
        encoding: args.encoding.clone(),
        date_format: args.date_format.clone(),
        ignore_columns: args.ignores.clone(),
        time_zone: Some(store.settings(&workspace).map_err(core)?.time_zone),
        ..Default::default()
    };
    if let Some(delimiter) = &args.delimiter {
        options.delimiter = Some(segscope_ingest::parse_delimiter(delimiter)?);
    }
    for raw in &args.maps {
        options.column_map.push(segscope_ingest::parse_assignment(raw).map_err(usage)?);
    }
    for raw in &args.types {
        options.column_types.push(segscope_ingest::parse_assignment(raw).map_err(usage)?);
    }
    let list = args.list.as_deref().map(|l| segment_id(&store, &workspace, l)).transpose()?;
    let parsed = segscope_ingest::parse_contacts_csv(&bytes, &options, &schema)
        .with_context(|| format!("cannot import {}", args.file.display()))?;
    println!("{}", describe_mapping(&parsed));
    if args.dry_run {
        println!(
            "dry run: {}, {}; nothing was changed",
            output::counted(parsed.rows.len(), "valid row", "valid rows"),
            output::counted(parsed.problems.len(), "problem", "problems")
        );
        for problem in &parsed.problems {
            println!("  {problem}");
        }
        return Ok(());
    }
    let bar = progress_bar(parsed.rows.len() as u64, "importing contacts");
    let now = now();
    let result = segscope_ingest::apply_contact_import(
        parsed,
        segscope_ingest::DEFAULT_BATCH_SIZE,
        |contacts| match store.apply(&workspace, CoreCommand::UpsertContacts { contacts, channel: Channel::Import, list }, now) {
            Ok(Outcome::Upserted(report)) => Ok(report),
            Ok(other) => Err(segscope_core::Error::internal(format!("unexpected outcome {other:?}"))),
            Err(err) => Err(err),
        },
        |progress| bar.set_position(progress.items_done as u64),
    );
    bar.finish_and_clear();
    let report = result.map_err(|e| usage(format!("{e}")))?;
    println!(
        "imported {}: {} created, {} updated, {} skipped ({})",
        args.file.display(),
        output::count(report.created as u64),
        output::count(report.updated as u64),
        output::count(report.skipped as u64),
        output::counted(report.n_records, "record", "records")
    );
    for note in &report.notes {
        println!("  note: {note}");
    }
    for problem in &report.problems {
        println!("  {problem}");
    }
    print_omitted(report.omitted);
    Ok(())
}

/// Past the first problems, an import keeps only their number.
fn print_omitted(omitted: segscope_ingest::OmittedProblems) {
    if omitted.total() > 0 {
        println!(
            "  … and {} more problems not listed ({} rejected, {} repaired): only the first {} are kept",
            output::count(omitted.total() as u64),
            output::count(omitted.rejected as u64),
            output::count(omitted.repaired as u64),
            output::count(segscope_ingest::MAX_KEPT_PROBLEMS as u64)
        );
    }
}

fn describe_mapping(parsed: &segscope_ingest::ContactImport) -> String {
    let columns: Vec<String> = parsed.mapping.columns.iter().map(|c| format!("{} → {}", c.header, c.target.name())).collect();
    format!("columns: {}", columns.join(", "))
}

fn import_events(cli: &Cli, args: &NdjsonArgs) -> Result<()> {
    let bytes = read_file(&args.file)?;
    let store = if args.dry_run { open_read(&cli.data)? } else { open_write(&cli.data)? };
    let workspace = workspace_id(cli, &store)?;
    let parsed = segscope_ingest::parse_ndjson(&bytes, &segscope_ingest::NdjsonImportOptions::default())
        .with_context(|| format!("cannot import {}", args.file.display()))?;
    if args.dry_run {
        println!(
            "dry run: {}, {}; nothing was changed",
            output::counted(parsed.items.len(), "valid line", "valid lines"),
            output::counted(parsed.problems.len(), "problem", "problems")
        );
        for problem in &parsed.problems {
            println!("  {problem}");
        }
        return Ok(());
    }
    let bar = progress_bar(parsed.items.len() as u64, "importing");
    let now = now();
    let result = segscope_ingest::apply_ndjson_import(
        parsed,
        Channel::Api,
        segscope_ingest::DEFAULT_BATCH_SIZE,
        |command| store.apply(&workspace, command, now),
        |progress| bar.set_position(progress.items_done as u64),
    );
    bar.finish_and_clear();
    let report = result.map_err(|e| usage(format!("{e}")))?;
    print_event_report(&args.file, &report);
    Ok(())
}

fn print_event_report(file: &Path, report: &segscope_ingest::NdjsonImportReport) {
    // Bot and error hits the core counted (an NDJSON page view flagged as a
    // bot's): shown only when there are some, since an access log's bots and
    // errors are skipped, and counted, by the parser's summary line before this one.
    let mut unrecorded = String::new();
    for (n, one, many) in [(report.bot_hits, "bot hit", "bot hits"), (report.error_hits, "error hit", "error hits")] {
        if n > 0 {
            unrecorded.push_str(&format!("; {} (counted, not recorded)", output::counted(n, one, many)));
        }
    }
    // Contacts made by events (anonymous visitors, identified addresses)
    // apart from the contact lines' own, which a log or mailbox never has.
    let contact_lines = if report.contacts_created + report.contacts_updated > 0 {
        format!(
            "; contact lines: {} created, {} updated",
            output::count(report.contacts_created as u64),
            output::count(report.contacts_updated as u64)
        )
    } else {
        String::new()
    };
    println!(
        "imported {}: {} ({} created by them){contact_lines}; {}{unrecorded}; {} skipped",
        file.display(),
        output::counted(report.events_accepted, "event", "events"),
        output::counted(report.contacts_created_by_events, "contact", "contacts"),
        output::counted(report.merges, "merge", "merges"),
        output::counted(report.skipped, "line", "lines")
    );
    for problem in &report.problems {
        println!("  {problem}");
    }
    print_omitted(report.omitted);
}

/// Reads an access log into page views: bots by the uap-core + crawler-list
/// classifier, geography from `--geoip` when given, visitor keys derived
/// from IP + user agent (salted) when there is no cookie.
pub fn parse_log(
    bytes: &[u8],
    options: &segscope_ingest::AccessLogOptions,
    geoip: Option<&segscope_enrich::GeoIp>,
) -> Result<segscope_ingest::AccessLogImport> {
    let parser = segscope_enrich::UserAgentParser::shared();
    let is_bot = |ua: &str| parser.is_bot(ua);
    let mut import = segscope_ingest::parse_access_log(bytes, options, &is_bot)?;
    if let Some(geoip) = geoip {
        for hit in &mut import.hits {
            if let Some(ip) = hit.ip {
                let geo = geoip.lookup(ip);
                if !geo.is_empty() {
                    hit.page_view_mut().geo = Some(geo);
                }
            }
        }
    }
    for hit in &mut import.hits {
        hit.ip = None;
    }
    Ok(import)
}

fn print_log_summary(import: &segscope_ingest::AccessLogImport) {
    let skipped: Vec<String> = segscope_ingest::SkipReason::ALL
        .iter()
        .filter(|r| import.skipped.get(**r) > 0)
        .map(|r| format!("{} {}", output::count(import.skipped.get(*r) as u64), r.key().replace('_', " ")))
        .collect();
    println!(
        "read {} lines{}: {} page views, {} not page views ({}), {} malformed",
        output::count(import.n_lines as u64),
        if import.was_gzip { " (gzip)" } else { "" },
        output::count(import.hits.len() as u64),
        output::count(import.skipped.total() as u64),
        if skipped.is_empty() { "none".to_owned() } else { skipped.join(", ") },
        output::count(import.problems.iter().filter(|p| p.severity == segscope_ingest::ProblemSeverity::Rejected).count() as u64),
    );
    if let Some(truncated) = &import.truncated {
        println!("  warning: {} (kept the {} complete lines before the cut)", truncated.message, truncated.lines_read);
    }
}

fn import_log(cli: &Cli, args: &LogArgs) -> Result<()> {
    let bytes = read_file(&args.file)?;
    let store = if args.dry_run { open_read(&cli.data)? } else { open_write(&cli.data)? };
    let workspace = workspace_id(cli, &store)?;
    let geoip = args
        .geoip
        .as_deref()
        .map(|path| segscope_enrich::GeoIp::open(path).with_context(|| format!("--geoip {}", path.display())))
        .transpose()?;
    let options = segscope_ingest::AccessLogOptions {
        visitor_key_salt: args.salt.clone().unwrap_or_else(|| workspace.to_string()),
        visitor_cookie: args.cookie.clone(),
        url_prefix: args.site.clone(),
        ..Default::default()
    };
    let import = parse_log(&bytes, &options, geoip.as_ref()).with_context(|| format!("cannot import {}", args.file.display()))?;
    print_log_summary(&import);
    if args.dry_run {
        for problem in &import.problems {
            println!("  {problem}");
        }
        println!("dry run: nothing was changed");
        return Ok(());
    }
    let import = import.into_event_import();
    let bar = progress_bar(import.items.len() as u64, "importing page views");
    let now = now();
    let result = segscope_ingest::apply_ndjson_import(
        import,
        Channel::Tracking,
        segscope_ingest::DEFAULT_BATCH_SIZE,
        |command| store.apply(&workspace, command, now),
        |progress| bar.set_position(progress.items_done as u64),
    );
    bar.finish_and_clear();
    let report = result.map_err(|e| usage(format!("{e}")))?;
    print_event_report(&args.file, &report);
    Ok(())
}

fn import_webhooks(cli: &Cli, args: &WebhookArgs) -> Result<()> {
    let provider = args
        .provider
        .as_deref()
        .map(|raw| {
            segscope_ingest::esp_webhook::Provider::parse(raw)
                .ok_or_else(|| usage(format!("unknown --provider `{raw}`: use ses, sendgrid, mailgun or postmark")))
        })
        .transpose()?;
    let bytes = read_file(&args.file)?;
    let options = segscope_ingest::esp_webhook::WebhookOptions { received_at: Some(now()), ..Default::default() };
    let dump = segscope_ingest::esp_webhook::parse_webhook_dump(provider, &bytes, &options);
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for (_, event) in &dump.events {
        let key = event.action.key();
        let kind = if event.action.email_kind().is_some() { key.to_owned() } else { format!("{key} (not recorded)") };
        *kinds.entry(kind).or_default() += 1;
    }
    println!(
        "read {}: {}{}",
        output::counted(dump.n_lines, "body", "bodies"),
        output::counted(dump.events.len(), "event", "events"),
        breakdown(&kinds)
    );
    apply_event_import(cli, &args.file, dump.into_event_import(), args.dry_run)
}

fn import_bounces(cli: &Cli, args: &BounceArgs) -> Result<()> {
    if args.file.is_dir() {
        let dir = args.file.display();
        return Err(usage(format!(
            "{dir} is a directory: give one .eml file or an mbox mailbox. To import a folder of messages, import each file: for f in {dir}/*; do segscope import bounces \"$f\"; done (in a Maildir the messages are in cur/ and new/)"
        )));
    }
    let bytes = read_file(&args.file)?;
    let mailbox = segscope_ingest::bounce_mail::parse_bounce_mailbox(&bytes, &segscope_ingest::InputLimits::default())
        .with_context(|| format!("cannot import {}", args.file.display()))?;
    let mut classes = std::collections::BTreeMap::<String, usize>::new();
    for (_, _, message) in &mailbox.messages {
        for recipient in &message.recipients {
            use segscope_core::event::BounceClass;
            use segscope_ingest::bounce_mail::MailClass;
            let class = match recipient.class {
                MailClass::Bounce(BounceClass::Hard) => "hard bounce",
                MailClass::Bounce(BounceClass::Soft) => "soft bounce",
                MailClass::Bounce(BounceClass::Block) => "sender block",
                MailClass::Delayed => "delayed (not recorded)",
                MailClass::Complaint => "complaint",
                MailClass::AutoReply => "auto-reply (not recorded)",
            };
            *classes.entry(class.to_owned()).or_default() += 1;
        }
    }
    println!(
        "read {}: {}{}",
        output::counted(mailbox.n_messages, "message", "messages"),
        output::counted(classes.values().sum::<usize>(), "recipient", "recipients"),
        breakdown(&classes)
    );
    apply_event_import(cli, &args.file, mailbox.into_event_import(Some(now())), args.dry_run)
}

/// ` (3 hard bounce, 1 complaint)`, or nothing for an empty count.
fn breakdown(counts: &std::collections::BTreeMap<String, usize>) -> String {
    if counts.is_empty() {
        return String::new();
    }
    format!(" ({})", counts.iter().map(|(k, n)| format!("{n} {k}")).collect::<Vec<_>>().join(", "))
}

/// Applies parsed email events (webhooks, bounces): a file that yields no
/// event to record is a failure that changes nothing.
fn apply_event_import(cli: &Cli, file: &Path, import: segscope_ingest::NdjsonImport, dry_run: bool) -> Result<()> {
    if import.items.is_empty() {
        let reasons: Vec<String> = import.problems.iter().take(5).map(ToString::to_string).collect();
        return Err(usage(format!(
            "nothing to import from {}: no bounce, complaint or email event to record{}",
            file.display(),
            if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join("; ")) }
        )));
    }
    let store = if dry_run { open_read(&cli.data)? } else { open_write(&cli.data)? };
    let workspace = workspace_id(cli, &store)?;
    if dry_run {
        for problem in &import.problems {
            println!("  {problem}");
        }
        println!("dry run: {} to record; nothing was changed", output::counted(import.items.len(), "event", "events"));
        return Ok(());
    }
    let now = now();
    let report = segscope_ingest::apply_ndjson_import(
        import,
        Channel::Integration,
        segscope_ingest::DEFAULT_BATCH_SIZE,
        |command| store.apply(&workspace, command, now),
        |_| {},
    )
    .map_err(|e| usage(format!("{e}")))?;
    print_event_report(file, &report);
    Ok(())
}

fn read_criteria(
    backend: &dyn Backend,
    workspace: &WorkspaceId,
    text: Option<&str>,
    json: Option<&Path>,
) -> Result<Option<segscope_core::criteria::Criteria>> {
    let schema = backend.schema(workspace).map_err(core)?;
    match (text, json) {
        (Some(text), _) => Ok(Some(schema.parse_text(text).map_err(core).context("invalid criteria")?)),
        (None, Some(path)) => {
            let value: serde_json::Value =
                serde_json::from_slice(&read_file(path)?).with_context(|| format!("{} is not valid JSON", path.display()))?;
            Ok(Some(schema.parse_json(&value).map_err(core).context("invalid criteria")?))
        }
        (None, None) => Ok(None),
    }
}

fn segment(cli: &Cli, action: &SegmentCommand) -> Result<()> {
    let reading = matches!(action, SegmentCommand::List | SegmentCommand::Show { .. } | SegmentCommand::Test { .. });
    let store = if reading { open_read(&cli.data)? } else { open_write(&cli.data)? };
    let workspace = workspace_id(cli, &store)?;
    let now = now();
    match action {
        SegmentCommand::List => {
            let segments = store.segments(&workspace, now).map_err(core)?;
            print!("{}", output::segment_table(&segments));
        }
        SegmentCommand::Show { segment } => {
            let id = segment_id(&store, &workspace, segment)?;
            let info = store.segment(&workspace, id, now).map_err(core)?;
            let names = store.schema(&workspace).map_err(core)?;
            println!("segment {} \"{}\"{}", info.id, info.name, if info.system { " (built in)" } else { "" });
            if !info.description.is_empty() {
                println!("  {}", info.description);
            }
            println!("  kind:        {}", if info.is_static { "static list" } else { "dynamic" });
            if let Some(text) = &info.criteria_text {
                println!("  criteria:    {text}");
            }
            if let Some(criteria) = &info.criteria {
                println!("  json:        {}", segscope_core::criteria::json::to_json(criteria));
            }
            println!(
                "  members:     {} known, {} anonymous, {} total",
                output::count(info.known),
                output::count(info.anonymous),
                output::count(info.total)
            );
            println!(
                "  created:     {}  updated: {}  last change: {}",
                format_instant(info.created_at),
                format_instant(info.updated_at),
                format_instant(info.last_change)
            );
            let name_of = |id: &SegmentId| names.segments.get(id).cloned().unwrap_or_default();
            if !info.references.is_empty() {
                println!(
                    "  references:  {}",
                    info.references.iter().map(|r| format!("{r} {}", name_of(r))).collect::<Vec<_>>().join(", ")
                );
            }
            if !info.referenced_by.is_empty() {
                println!(
                    "  used by:     {}",
                    info.referenced_by.iter().map(|r| format!("{r} {}", name_of(r))).collect::<Vec<_>>().join(", ")
                );
            }
            println!("  journeys:    {}  campaigns: {}", info.journeys, info.campaigns);
            if info.time_dependent {
                println!("  (membership also changes at local midnight: relative dates or time windows)");
            }
        }
        SegmentCommand::Create(args) => {
            let definition = if args.static_list {
                Definition::Static
            } else {
                match read_criteria(&store, &workspace, args.criteria.as_deref(), args.json.as_deref())? {
                    Some(criteria) => Definition::Dynamic(criteria),
                    None => return Err(usage("give --criteria \"…\", --json FILE or --static")),
                }
            };
            let spec = SegmentSpec { name: args.name.clone(), description: args.description.clone(), definition };
            let Outcome::SegmentSaved(id) = store.apply(&workspace, CoreCommand::CreateSegment(spec), now).map_err(core)? else {
                bail!("unexpected outcome");
            };
            let info = store.segment(&workspace, id, now).map_err(core)?;
            println!(
                "created segment {} \"{}\": {} ({} known, {} anonymous)",
                id,
                info.name,
                output::counted(info.total as usize, "member", "members"),
                output::count(info.known),
                output::count(info.anonymous)
            );
        }
        SegmentCommand::Edit(args) => {
            let id = segment_id(&store, &workspace, &args.segment)?;
            let info = store.segment(&workspace, id, now).map_err(core)?;
            let definition = match read_criteria(&store, &workspace, args.criteria.as_deref(), args.json.as_deref())? {
                Some(criteria) => Definition::Dynamic(criteria),
                None => match info.criteria {
                    Some(criteria) => Definition::Dynamic(criteria),
                    None => Definition::Static,
                },
            };
            let spec = SegmentSpec {
                name: args.name.clone().unwrap_or(info.name),
                description: args.description.clone().unwrap_or(info.description),
                definition,
            };
            store.apply(&workspace, CoreCommand::UpdateSegment { id, spec }, now).map_err(core)?;
            let info = store.segment(&workspace, id, now).map_err(core)?;
            println!("updated segment {} \"{}\": {}", id, info.name, output::counted(info.total as usize, "member", "members"));
        }
        SegmentCommand::Delete { segment } => {
            let id = segment_id(&store, &workspace, segment)?;
            store.apply(&workspace, CoreCommand::DeleteSegment(id), now).map_err(core)?;
            println!("deleted segment {id}");
        }
        SegmentCommand::Test { criteria } => {
            let criteria = read_criteria(&store, &workspace, Some(criteria), None)?.expect("text given");
            let schema = store.schema(&workspace).map_err(core)?;
            let test = store.test_criteria(&workspace, &criteria, now).map_err(core)?;
            println!("criteria: {}", schema.print(&criteria));
            println!(
                "matches {}: {} known, {} anonymous",
                output::counted(test.total as usize, "contact", "contacts"),
                output::count(test.known),
                output::count(test.anonymous)
            );
            for row in test.sample.iter().take(10) {
                println!("  {} {}", row.id, row.email.as_deref().or(row.external_id.as_deref()).unwrap_or("(anonymous)"));
            }
        }
        SegmentCommand::Add { list, contacts } | SegmentCommand::Remove { list, contacts } => {
            let id = segment_id(&store, &workspace, list)?;
            let refs = contacts.iter().map(|c| contact_ref(c)).collect();
            let command = if matches!(action, SegmentCommand::Add { .. }) {
                CoreCommand::AddToList { list: id, contacts: refs, reason: Reason::Manual }
            } else {
                CoreCommand::RemoveFromList { list: id, contacts: refs }
            };
            if let Outcome::ListChanged { changed, unknown } = store.apply(&workspace, command, now).map_err(core)? {
                println!("{changed} memberships changed");
                for message in unknown {
                    println!("  {message}");
                }
            }
        }
    }
    Ok(())
}

pub fn summary_request(args: &SummaryArgs, workspace_tz: &str, now: Secs) -> Result<SummaryRequest> {
    let tz = Tz::parse(args.tz.as_deref().unwrap_or(workspace_tz)).map_err(core).context("--tz")?;
    let view = View::parse(&args.view).map_err(core).context("--view")?;
    let from = args.from.as_deref().map(RangeBound::parse).transpose().map_err(core).context("--from")?;
    let to = args.to.as_deref().map(RangeBound::parse).transpose().map_err(core).context("--to")?;
    let preset = args.range.as_deref().map(RangePreset::parse).transpose().map_err(core).context("--range")?;
    let range = resolve_range(from, to, preset, now, &tz).map_err(core)?;
    let granularity = match &args.granularity {
        Some(raw) => Granularity::parse(raw).map_err(core).context("--granularity")?,
        None => Granularity::default_for(range, &tz),
    };
    let country =
        args.country.as_deref().map(segscope_core::model::Country::parse).transpose().map_err(core).context("--country")?;
    Ok(SummaryRequest { view, range, tz, granularity, country, region: args.region.clone() })
}

fn summary(cli: &Cli, args: &SummaryArgs) -> Result<()> {
    let store = open_read(&cli.data)?;
    let workspace = workspace_id(cli, &store)?;
    let id = segment_id(&store, &workspace, &args.segment)?;
    let now = now();
    let settings = store.settings(&workspace).map_err(core)?;
    let request = summary_request(args, &settings.time_zone, now)?;
    let started = std::time::Instant::now();
    let summary = store.summary(&workspace, id, &request, now).map_err(core)?;
    let elapsed = started.elapsed();
    if args.json {
        let wire = crate::summary_json(&summary);
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut stdout, &wire)?;
        writeln!(stdout)?;
    } else {
        print!("{}", output::summary_table(&summary, &request.tz));
        println!("\n(computed in {:.1} ms)", elapsed.as_secs_f64() * 1000.0);
    }
    Ok(())
}

fn contact(cli: &Cli, raw: &str) -> Result<()> {
    let store = open_read(&cli.data)?;
    let workspace = workspace_id(cli, &store)?;
    let now = now();
    let detail = store.contact(&workspace, &contact_ref(raw), now).map_err(core)?;
    let row = &detail.row;
    println!("contact {} ({})", row.id, row.kind.key());
    let show = |label: &str, value: Option<&str>| {
        if let Some(value) = value {
            println!("  {label:<16} {value}");
        }
    };
    show("email", row.email.as_deref());
    show("external id", row.external_id.as_deref());
    show("first name", row.first_name.as_deref());
    show("last name", row.last_name.as_deref());
    show("stage", row.stage.as_deref());
    show("country", row.country.as_deref());
    show("region", row.region.as_deref());
    show("city", row.city.as_deref());
    show("channel", Some(detail.channel));
    show("first touch", detail.source);
    show("status", Some(row.status));
    show("reachability", Some(row.reachability.key()));
    show("provider", Some(row.provider));
    println!("  {:<16} {}", "created", format_instant(row.created_at));
    if let Some(at) = detail.identified_at {
        println!("  {:<16} {}", "identified", format_instant(at));
    }
    println!("  {:<16} {}", "sessions", row.sessions);
    if !detail.tags.is_empty() {
        println!("  {:<16} {}", "tags", detail.tags.join(", "));
    }
    for (name, value) in &detail.attributes {
        use segscope_core::model::Value;
        let shown = match value {
            Value::Text(text) => text.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Date(date) => date.to_string(),
            Value::DateTime(at) => format_instant(*at),
            Value::List(items) => items.join(", "),
        };
        println!("  {name:<16} {shown}");
    }
    let names = store.schema(&workspace).map_err(core)?;
    let segments: Vec<String> =
        detail.segments.iter().map(|s| format!("{s} {}", names.segments.get(s).cloned().unwrap_or_default())).collect();
    println!("  {:<16} {}", "segments", segments.join(", "));
    Ok(())
}

fn automation_spec(
    backend: &dyn Backend,
    workspace: &WorkspaceId,
    base: AutomationSpec,
    args: &AutomationEditArgs,
) -> Result<AutomationSpec> {
    let segment_ids = if args.segments.is_empty() {
        base.segment_ids
    } else {
        args.segments.iter().map(|s| segment_id(backend, workspace, s)).collect::<Result<_>>()?
    };
    let status = match &args.status {
        Some(raw) => Status::parse(raw).ok_or_else(|| {
            usage(format!("unknown status `{raw}`: use draft, scheduled, active, paused, completed or archived"))
        })?,
        None => base.status,
    };
    Ok(AutomationSpec {
        name: args.name.clone().unwrap_or(base.name),
        status,
        subtype: args.kind.clone().unwrap_or(base.subtype),
        segment_ids,
    })
}

fn automation(cli: &Cli, kind: AutomationKind, action: &AutomationCommand) -> Result<()> {
    let store = if matches!(action, AutomationCommand::List) { open_read(&cli.data)? } else { open_write(&cli.data)? };
    let workspace = workspace_id(cli, &store)?;
    let noun = segscope_core::engine::kind_name(kind);
    let now = now();
    let find = |which: &str| -> Result<segscope_core::model::Automation> {
        let all = store.automations(&workspace, kind).map_err(core)?;
        all.into_iter()
            .find(|a| a.id.to_string() == which.trim_start_matches('#') || a.name.eq_ignore_ascii_case(which.trim()))
            .ok_or_else(|| core(segscope_core::Error::not_found(format!("no {noun} `{which}`"))))
    };
    match action {
        AutomationCommand::List => {
            let names = store.schema(&workspace).map_err(core)?;
            println!("{:>4}  {:<32} {:<10} {:<16} segments", "id", "name", "status", "kind");
            for a in store.automations(&workspace, kind).map_err(core)? {
                let segments: Vec<String> =
                    a.segment_ids.iter().map(|s| names.segments.get(s).cloned().unwrap_or_else(|| s.to_string())).collect();
                println!("{:>4}  {:<32} {:<10} {:<16} {}", a.id, a.name, a.status.key(), a.subtype, segments.join(", "));
            }
        }
        AutomationCommand::Create(AutomationArgs { name, status, kind: subtype, segments }) => {
            let base =
                AutomationSpec { name: name.clone(), status: Status::Draft, subtype: subtype.clone(), segment_ids: Vec::new() };
            let edit = AutomationEditArgs { name: None, status: Some(status.clone()), kind: None, segments: segments.clone() };
            let spec = automation_spec(&store, &workspace, base, &edit)?;
            if let Outcome::AutomationSaved(id) =
                store.apply(&workspace, CoreCommand::CreateAutomation { kind, spec }, now).map_err(core)?
            {
                println!("created {noun} #{id}");
            }
        }
        AutomationCommand::Edit { which, args } => {
            let existing = find(which)?;
            let base = AutomationSpec {
                name: existing.name,
                status: existing.status,
                subtype: existing.subtype,
                segment_ids: existing.segment_ids,
            };
            let spec = automation_spec(&store, &workspace, base, args)?;
            store.apply(&workspace, CoreCommand::UpdateAutomation { kind, id: existing.id, spec }, now).map_err(core)?;
            println!("updated {noun} #{}", existing.id);
        }
        AutomationCommand::Delete { which } => {
            let existing = find(which)?;
            store.apply(&workspace, CoreCommand::DeleteAutomation { kind, id: existing.id }, now).map_err(core)?;
            println!("deleted {noun} #{}", existing.id);
        }
    }
    Ok(())
}

fn workspace(cli: &Cli, action: &WorkspaceCommand) -> Result<()> {
    match action {
        WorkspaceCommand::Create { id, tz, stages } => {
            let store = open_write(&cli.data)?;
            let id = WorkspaceId::parse(id).map_err(core)?;
            let mut settings = Settings { time_zone: tz.clone(), ..Settings::default() };
            if let Some(stages) = stages {
                settings.stages = stages.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
            }
            store.create_workspace(&id, settings, now()).map_err(core)?;
            println!("created workspace {id}");
            let secret = crate::create_key(&store, &id, segscope_core::backend::KeyKind::Secret, "created with the workspace")?;
            let write = crate::create_key(&store, &id, segscope_core::backend::KeyKind::Write, "tracking")?;
            println!("secret API key (shown once, keep it safe): {secret}");
            println!("write key for the tracking snippet:          {write}");
            Ok(())
        }
        WorkspaceCommand::List => {
            let store = open_read(&cli.data)?;
            println!("{:<24} {:>10} {:>10} {:>10} {:>9}  time zone", "workspace", "contacts", "known", "anonymous", "segments");
            for id in store.workspaces().map_err(core)? {
                let stats = store.stats(&id).map_err(core)?;
                let settings = store.settings(&id).map_err(core)?;
                println!(
                    "{:<24} {:>10} {:>10} {:>10} {:>9}  {}",
                    id.as_str(),
                    output::count(stats.contacts),
                    output::count(stats.known),
                    output::count(stats.anonymous),
                    stats.segments,
                    settings.time_zone
                );
            }
            Ok(())
        }
        WorkspaceCommand::Keys { id, create, label, revoke } => {
            let id = WorkspaceId::parse(id).map_err(core)?;
            if let Some(kind) = create {
                let store = open_write(&cli.data)?;
                let kind = match kind.as_str() {
                    "secret" => segscope_core::backend::KeyKind::Secret,
                    "write" => segscope_core::backend::KeyKind::Write,
                    other => return Err(usage(format!("unknown key kind `{other}`: use secret or write"))),
                };
                let key = crate::create_key(&store, &id, kind, label)?;
                println!("new key (shown once): {key}");
                return Ok(());
            }
            if let Some(key_id) = revoke {
                let store = open_write(&cli.data)?;
                store.revoke_key(&id, key_id).map_err(core)?;
                println!("revoked key {key_id}");
                return Ok(());
            }
            let store = open_read(&cli.data)?;
            println!("{:<16} {:<8} {:<8} {:<22} label", "id", "kind", "state", "created");
            for key in store.keys(&id).map_err(core)? {
                let kind = match key.kind {
                    segscope_core::backend::KeyKind::Secret => "secret",
                    segscope_core::backend::KeyKind::Write => "write",
                };
                println!(
                    "{:<16} {:<8} {:<8} {:<22} {}",
                    key.id,
                    kind,
                    if key.revoked { "revoked" } else { "active" },
                    format_instant(key.created_at),
                    key.label
                );
            }
            Ok(())
        }
    }
}

fn check(cli: &Cli) -> Result<()> {
    let store = open_read(&cli.data)?;
    let workspace = workspace_id(cli, &store)?;
    let problems = store.check_invariants(&workspace).map_err(core)?;
    if problems.is_empty() {
        println!("workspace {workspace}: every maintained value equals a from-scratch recomputation");
        Ok(())
    } else {
        for problem in &problems {
            println!("  {problem}");
        }
        Err(anyhow!("workspace {workspace}: {} inconsistencies", problems.len()))
    }
}
