//! The `segscope` binary: thin glue between the command line and the
//! library crates. Parses arguments (clap), opens the embedded store (read
//! only for commands that only read, so they work beside a running server),
//! calls one backend method, prints the result. Exit codes are designed:
//! see [`exit_code`].

mod commands;
mod demo;
mod output;
mod serve;

pub use serve::{create_key, demo_command, serve_command, summary_json};

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Exact segment analytics for marketing automation.
#[derive(Debug, Parser)]
#[command(name = "segscope", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Data directory of the embedded store.
    #[arg(long, global = true, env = "SEGSCOPE_DATA", default_value = "segscope-data")]
    pub data: PathBuf,
    /// Workspace to work in (default: the only workspace, if there is one).
    #[arg(long, short = 'w', global = true, env = "SEGSCOPE_WORKSPACE")]
    pub workspace: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the demo workspace (a year of real and generated data) if needed, and serve it.
    Demo(DemoArgs),
    /// Serve the HTTP API and dashboard on the data directory, with the tracking snippet
    /// (`/t.js`, `/collect/<ws>`) and ESP webhooks (`/webhooks/<provider>/<ws>`, signing keys
    /// from `<data>/webhook-keys.json`). Env: SEGSCOPE_GEOIP (an .mmdb or .mmdb.gz for collect hits),
    /// SEGSCOPE_TRUSTED_PROXIES (whose X-Forwarded-For is believed), SEGSCOPE_LOG.
    Serve(ServeArgs),
    /// Import contacts (CSV), contacts and events (NDJSON), web server access logs, saved ESP webhook bodies or bounce messages.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Create, list, show, edit, delete and test segments and static lists.
    #[command(subcommand)]
    Segment(SegmentCommand),
    /// Print the summary of a segment: every block, as a table or JSON.
    Summary(SummaryArgs),
    /// Show one contact.
    Contact(ContactArgs),
    /// Manage journeys (automations that reference segments).
    #[command(subcommand)]
    Journey(AutomationCommand),
    /// Manage campaigns (sends that reference segments).
    #[command(subcommand)]
    Campaign(AutomationCommand),
    /// Create and list workspaces, and manage their API keys.
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Recompute everything from scratch and compare with the maintained state.
    Check,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Build the demo only; do not serve.
    #[arg(long)]
    pub no_serve: bool,
    /// Rebuild the demo even if the data directory already has it (the directory must hold only the demo).
    #[arg(long)]
    pub reset: bool,
    /// Seed of the generated part of the demo.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "SEGSCOPE_BIND")]
    pub bind: String,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Contacts from a CSV export (Mailchimp, HubSpot, Mautic, Zoho, …).
    Contacts(CsvArgs),
    /// Contacts and events from an NDJSON file (docs/ndjson.md).
    Events(NdjsonArgs),
    /// Page views from an Apache / Nginx access log, combined or common format, plain or .gz (docs/ingestion.md).
    Log(LogArgs),
    /// Email events from saved ESP webhook bodies, one JSON body per line (Amazon SES/SNS, SendGrid, Mailgun, Postmark).
    Webhooks(WebhookArgs),
    /// Bounces and complaints from an .eml message or an mbox mailbox (RFC 3464 DSNs, ARF reports).
    Bounces(BounceArgs),
}

#[derive(Debug, Args)]
pub struct WebhookArgs {
    /// The file of saved bodies.
    pub file: PathBuf,
    /// ses, sendgrid, mailgun or postmark (detected per body when omitted).
    #[arg(long)]
    pub provider: Option<String>,
    /// Parse and report, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct BounceArgs {
    /// The .eml file or mbox mailbox.
    pub file: PathBuf,
    /// Parse and report, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// The log file (plain or gzip).
    pub file: PathBuf,
    /// The site's origin, put before each path, e.g. `https://www.example.com`.
    #[arg(long)]
    pub site: Option<String>,
    /// A MaxMind-format .mmdb database (or .mmdb.gz) for IP → country / region / city (raw IPs are never stored).
    #[arg(long, env = "SEGSCOPE_GEOIP")]
    pub geoip: Option<PathBuf>,
    /// Name of the visitor cookie, when the log has a cookie column after the user agent.
    #[arg(long)]
    pub cookie: Option<String>,
    /// Secret mixed into visitor keys derived from IP + user agent (default: the workspace id).
    #[arg(long, env = "SEGSCOPE_VISITOR_SALT")]
    pub salt: Option<String>,
    /// Parse and report, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct CsvArgs {
    /// The CSV file (plain or gzip-compressed, e.g. `export.csv.gz`).
    pub file: PathBuf,
    /// Field delimiter: `,` `;` `tab` `|` (detected when omitted).
    #[arg(long)]
    pub delimiter: Option<String>,
    /// Encoding of a file that is not UTF-8, e.g. `windows-1252`.
    #[arg(long)]
    pub encoding: Option<String>,
    /// Day/month order of dates: DD/MM/YYYY, MM/DD/YYYY or YYYY/MM/DD.
    #[arg(long)]
    pub date_format: Option<String>,
    /// Map a column to a field: `--map "Header=field"` (repeatable).
    #[arg(long = "map", value_name = "HEADER=FIELD")]
    pub maps: Vec<String>,
    /// Declare a column's type: `--type signup_date=date` (repeatable).
    #[arg(long = "type", value_name = "COLUMN=TYPE")]
    pub types: Vec<String>,
    /// Ignore a column (repeatable).
    #[arg(long = "ignore", value_name = "HEADER")]
    pub ignores: Vec<String>,
    /// Also add the imported contacts to this static list.
    #[arg(long)]
    pub list: Option<String>,
    /// Parse and report, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct NdjsonArgs {
    /// The NDJSON file.
    pub file: PathBuf,
    /// Parse and report, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum SegmentCommand {
    /// List segments and lists with their member counts.
    List,
    /// Show a segment: definition, counts, references.
    Show { segment: String },
    /// Create a dynamic segment (`--criteria` or `--json`) or a static list (`--static`).
    Create(SegmentCreateArgs),
    /// Rename, describe or change the criteria of a segment.
    Edit(SegmentEditArgs),
    /// Delete a segment (refused while others reference it).
    Delete { segment: String },
    /// Count who criteria select now, without saving.
    Test {
        /// Criteria in the text form, e.g. `stage = "Sales ready" AND country in ["FR"]`.
        criteria: String,
    },
    /// Add contacts (emails or #ids) to a static list.
    Add { list: String, contacts: Vec<String> },
    /// Remove contacts from a static list.
    Remove { list: String, contacts: Vec<String> },
}

#[derive(Debug, Args)]
pub struct SegmentCreateArgs {
    /// The segment's name, unique in the workspace (criteria refer to it: `member of "NAME"`).
    pub name: String,
    /// Criteria in the text form.
    #[arg(long, conflicts_with_all = ["json", "static_list"])]
    pub criteria: Option<String>,
    /// A file with criteria in the JSON form.
    #[arg(long, conflicts_with = "static_list")]
    pub json: Option<PathBuf>,
    /// Create a static list instead of a dynamic segment.
    #[arg(long = "static")]
    pub static_list: bool,
    #[arg(long, default_value = "")]
    pub description: String,
}

#[derive(Debug, Args)]
pub struct SegmentEditArgs {
    pub segment: String,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// New criteria in the text form (starts a new membership epoch, back-filled).
    #[arg(long, conflicts_with = "json")]
    pub criteria: Option<String>,
    /// New criteria from a JSON file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SummaryArgs {
    /// Segment id, `#id` or name.
    pub segment: String,
    /// all, known or anonymous.
    #[arg(long, default_value = "all")]
    pub view: String,
    /// First day (YYYY-MM-DD, local) or instant (RFC 3339).
    #[arg(long)]
    pub from: Option<String>,
    /// Last day (inclusive) or instant (exclusive).
    #[arg(long)]
    pub to: Option<String>,
    /// A named range: today, last_7_days, last_30_days, last_90_days, last_365_days, this_month, last_month.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub range: Option<String>,
    /// IANA time zone (default: the workspace's).
    #[arg(long)]
    pub tz: Option<String>,
    /// day, week or month (default by range length).
    #[arg(long)]
    pub granularity: Option<String>,
    /// Drill geography into a country (ISO code).
    #[arg(long)]
    pub country: Option<String>,
    /// Drill into a region of that country.
    #[arg(long, requires = "country")]
    pub region: Option<String>,
    /// Print the API's JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ContactArgs {
    /// Email, `#id` or external id.
    pub contact: String,
}

#[derive(Debug, Subcommand)]
pub enum AutomationCommand {
    List,
    Create(AutomationArgs),
    Edit {
        /// Id (number) or name.
        which: String,
        #[command(flatten)]
        args: AutomationEditArgs,
    },
    Delete {
        which: String,
    },
}

#[derive(Debug, Args)]
pub struct AutomationArgs {
    pub name: String,
    /// draft, scheduled, active, paused, completed or archived.
    #[arg(long, default_value = "draft")]
    pub status: String,
    /// Free-form kind, e.g. welcome, newsletter.
    #[arg(long, default_value = "")]
    pub kind: String,
    /// Segments it references (ids or names, repeatable).
    #[arg(long = "segment")]
    pub segments: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AutomationEditArgs {
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long)]
    pub kind: Option<String>,
    /// Replace the referenced segments (ids or names, repeatable).
    #[arg(long = "segment")]
    pub segments: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// Create a workspace and print its first secret API key and write key.
    Create {
        /// The workspace id: 1 to 63 characters of a-z, 0-9 and `-` (it appears in URLs).
        id: String,
        /// IANA time zone of the workspace.
        #[arg(long, default_value = "UTC")]
        tz: String,
        /// Lifecycle stages in order, comma-separated.
        #[arg(long)]
        stages: Option<String>,
    },
    List,
    /// List, create or revoke API keys.
    Keys {
        id: String,
        /// Create a key: `secret` (read and manage) or `write` (tracking only).
        #[arg(long, value_name = "KIND")]
        create: Option<String>,
        #[arg(long, default_value = "")]
        label: String,
        /// Revoke the key with this id.
        #[arg(long, value_name = "KEY_ID")]
        revoke: Option<String>,
    },
}

fn main() -> ExitCode {
    quiet_broken_pipe();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SEGSCOPE_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(exit_code(&err))
        }
    }
}

/// `segscope summary … | head` closes our stdout early; Rust's `println!`
/// then panics. Like other Unix tools, stop quietly instead (exit 141, as a
/// shell reports SIGPIPE). Any other panic keeps the default report.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// Exit codes, after sysexits(3): 65 the input is wrong, 66 something named
/// does not exist, 69 the data directory is busy, 74 storage failed, 1
/// anything else. (clap itself exits with 2 on a usage error.)
fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(core) = cause.downcast_ref::<segscope_core::Error>() {
            return match core.kind {
                segscope_core::ErrorKind::Invalid | segscope_core::ErrorKind::Conflict => 65,
                segscope_core::ErrorKind::NotFound => 66,
                segscope_core::ErrorKind::Internal => 74,
            };
        }
        if let Some(store) = cause.downcast_ref::<segscope_store::StoreError>() {
            return match store {
                segscope_store::StoreError::Locked { .. } => 69,
                _ => 74,
            };
        }
        if cause.downcast_ref::<segscope_ingest::CsvImportError>().is_some()
            || cause.downcast_ref::<segscope_ingest::NdjsonImportError>().is_some()
            || cause.downcast_ref::<segscope_ingest::AccessLogError>().is_some()
        {
            return 65;
        }
        if let Some(geoip) = cause.downcast_ref::<segscope_enrich::GeoIpError>() {
            return match geoip {
                segscope_enrich::GeoIpError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => 66,
                _ => 65,
            };
        }
        if cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) {
            return 66;
        }
        if cause.downcast_ref::<commands::UsageError>().is_some() {
            return 65;
        }
    }
    1
}
