//! `segscope serve` and `segscope demo`: open the store for writing, hand it
//! to the HTTP server, stop gracefully on Ctrl-C / SIGTERM and checkpoint
//! on the way out (so the next start replays a short log).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use segscope_core::backend::{Backend, KeyKind};
use segscope_core::ids::WorkspaceId;
use segscope_core::summary::Summary;
use segscope_store::{Store, StoreError, StoreOptions};

use crate::commands::{UsageError, now, open_write};
use crate::demo;
use crate::{Cli, DemoArgs};

/// Label of the keys `segscope demo` creates; each run revokes the previous
/// one, so a data directory does not collect live demo keys.
const DEMO_KEY_LABEL: &str = "segscope demo";

/// The summary as the API returns it (the CLI's `--json` prints the same).
pub fn summary_json(summary: &Summary) -> serde_json::Value {
    segscope_server::wire::summary_json(summary)
}

/// Creates a key, stores its hash, returns the plaintext (shown once).
pub fn create_key(backend: &dyn Backend, workspace: &WorkspaceId, kind: KeyKind, label: &str) -> Result<String> {
    let (plaintext, key) = segscope_server::keys::new_key(workspace, kind, label, now());
    backend.add_key(key).map_err(|e| anyhow!(e))?;
    Ok(plaintext)
}

pub fn serve_command(cli: &Cli, bind: &str, banner: Option<String>) -> Result<()> {
    let store = Arc::new(open_write(&cli.data)?);
    serve_store(store, bind, banner, false)
}

fn parse_bind(bind: &str) -> Result<SocketAddr> {
    bind.parse()
        .map_err(|_| anyhow!(UsageError(format!("--bind `{bind}` is not an address such as 127.0.0.1:8080 or 0.0.0.0:80"))))
}

/// Serves `store` until Ctrl-C or SIGTERM, then checkpoints it.
///
/// The dashboard's admin token lives (hashed) in the data directory: made
/// and printed at the first start, or at every start with `rotate_admin`
/// (the demo, which also prints a fresh API key each run).
pub fn serve_store(store: Arc<Store>, bind: &str, banner: Option<String>, rotate_admin: bool) -> Result<()> {
    let address = parse_bind(bind)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    let backend: Arc<dyn Backend> = store.clone();
    let admin = segscope_server::session::admin_token(store.data_dir(), rotate_admin)
        .with_context(|| format!("setting up the dashboard's admin token in {}", store.data_dir().display()))?;
    let config = segscope_server::ServerConfig { admin_token_hash: Some(admin.hash), ..doors_config(store.data_dir())? };
    let state = segscope_server::AppState::new(backend, config);
    let token_file = store.data_dir().join(segscope_server::session::ADMIN_TOKEN_FILE).display().to_string();
    let data_dir = store.data_dir().display().to_string();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(address).await.map_err(|e| {
            anyhow!(UsageError(format!("cannot listen on {address}: {e} (is another server running? try --bind 127.0.0.1:0)")))
        })?;
        let local = listener.local_addr().context("reading the bound address")?;
        println!("segscope is serving {data_dir} on http://{local}/");
        match &admin.plaintext {
            Some(token) => println!(
                "Dashboard: open http://{local}/ and sign in with this admin token (shown once; only its hash is kept in {token_file}):\n  {token}"
            ),
            None => println!(
                "Dashboard: open http://{local}/ and sign in with the admin token printed at the first start (delete {token_file} and restart for a new one)."
            ),
        }
        if let Some(banner) = banner {
            println!("{banner}");
        }
        println!("Press Ctrl-C to stop.");
        segscope_server::serve(listener, state, shutdown_signal()).await.context("serving HTTP")
    })?;
    store.checkpoint().context("checkpointing the store on shutdown")?;
    eprintln!("stopped; the store is checkpointed.");
    Ok(())
}

/// The public doors' configuration: webhook signing keys from
/// `webhook-keys.json` in the data directory (absent: every webhook is
/// refused), GeoIP for collect hits from `SEGSCOPE_GEOIP` (an `.mmdb`), and
/// the proxies whose `X-Forwarded-For` is believed from
/// `SEGSCOPE_TRUSTED_PROXIES` (`10.0.0.0/8, ::1`).
fn doors_config(data_dir: &std::path::Path) -> Result<segscope_server::ServerConfig> {
    let mut config = segscope_server::ServerConfig::default();
    let keys_file = data_dir.join(segscope_server::webhooks::WEBHOOK_KEYS_FILE);
    if keys_file.exists() {
        config.webhook_keys = segscope_server::webhooks::WebhookKeys::load(&keys_file).map_err(|e| anyhow!(UsageError(e)))?;
        println!("Webhooks: signing keys for {} workspace(s) from {}", config.webhook_keys.workspaces.len(), keys_file.display());
    }
    if let Some(path) = std::env::var_os("SEGSCOPE_GEOIP").filter(|p| !p.is_empty()) {
        let geoip = segscope_enrich::GeoIp::open(&path)
            .map_err(|e| anyhow!(UsageError(format!("SEGSCOPE_GEOIP {}: {e}", std::path::Path::new(&path).display()))))?;
        config.geoip = Some(Arc::new(geoip));
    }
    if let Ok(list) = std::env::var("SEGSCOPE_TRUSTED_PROXIES")
        && !list.trim().is_empty()
    {
        config.trusted_proxies = segscope_enrich::TrustedProxies::parse(&list)
            .map_err(|e| anyhow!(UsageError(format!("SEGSCOPE_TRUSTED_PROXIES: {e}"))))?;
    }
    Ok(config)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

pub fn demo_command(cli: &Cli, args: &DemoArgs) -> Result<()> {
    if args.reset && cli.data.join("FORMAT").exists() {
        reset_demo_directory(cli)?;
    }
    let store = match Store::open(&cli.data, StoreOptions::default()) {
        Ok(store) => Arc::new(store),
        Err(err @ StoreError::FormatMismatch { .. }) => {
            return Err(anyhow!(UsageError(format!(
                "{err}. If it holds only the demo, rebuild it with `segscope demo --reset` (or use another --data directory)"
            ))));
        }
        Err(err) => return Err(err.into()),
    };
    let workspace = WorkspaceId::parse(demo::DEMO_WORKSPACE).map_err(|e| anyhow!(e))?;
    if store.workspaces().map_err(|e| anyhow!(e))?.contains(&workspace) {
        eprintln!("The demo workspace already exists in {} (use --reset to rebuild it).", cli.data.display());
    } else {
        build_demo(&store, args.seed)?;
    }
    for key in store.keys(&workspace).map_err(|e| anyhow!(e))? {
        if key.label == DEMO_KEY_LABEL && !key.revoked {
            store.revoke_key(&workspace, &key.id).map_err(|e| anyhow!(e))?;
        }
    }
    let secret = create_key(store.as_ref(), &workspace, KeyKind::Secret, DEMO_KEY_LABEL)?;
    let segments = store.segments(&workspace, now()).map_err(|e| anyhow!(e))?;
    let first = segments.iter().find(|s| s.id.0 != 0).map_or(0, |s| s.id.0);
    let banner = format!(
        "Workspace `demo` ({} segments). Its secret API key for this run (shown once):\n  {secret}\nTry:\n  curl -H 'Authorization: Bearer {secret}' http://{bind}/api/v1/workspaces/demo/segments\n  curl -H 'Authorization: Bearer {secret}' 'http://{bind}/api/v1/workspaces/demo/segments/{first}/summary?range=last_30_days'\nor, beside the server: segscope --data {data} summary 'Engaged visitors'",
        segments.len(),
        bind = args.bind,
        data = cli.data.display(),
    );
    if args.no_serve {
        store.checkpoint().context("checkpointing the demo")?;
        println!("{banner}");
        return Ok(());
    }
    serve_store(store, &args.bind, Some(banner), true)
}

fn build_demo(store: &Store, seed: u64) -> Result<()> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} building the demo [{bar:40}] {pos}/{len} steps ({eta})")?.progress_chars("=> "),
    );
    let started = std::time::Instant::now();
    let report = demo::build(store, now(), seed, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    store.checkpoint().context("checkpointing the demo")?;
    eprintln!(
        "Built the demo in {:.1}s: {} steps; the real CSV gave {} created, {} updated, {} skipped ({} problems reported); the real access log's {} lines gave {} page views from {} visitors; {} real ESP webhook bodies gave {} email events for {} recipients; the real bounce mailbox's {} messages gave {} bounces and complaints.",
        started.elapsed().as_secs_f64(),
        report.steps,
        report.csv.created,
        report.csv.updated,
        report.csv.skipped,
        report.csv.problems.len(),
        crate::output::count(report.log_lines as u64),
        crate::output::count(report.log.events_accepted as u64),
        crate::output::count(report.log.contacts_created_by_events as u64),
        report.webhooks.bodies,
        report.webhooks.recorded,
        report.webhooks.recipients,
        report.bounces.bodies,
        report.bounces.recorded,
    );
    Ok(())
}

/// `--reset`: deletes the data directory, but only when it holds nothing but
/// the demo workspace — never a user's data.
fn reset_demo_directory(cli: &Cli) -> Result<()> {
    {
        let workspaces = match Store::open(&cli.data, StoreOptions::default()) {
            Ok(store) => store.workspaces().map_err(|e| anyhow!(e))?,
            // Another segscope's format: its workspaces are the directory names.
            Err(StoreError::FormatMismatch { .. }) => workspace_directories(&cli.data)?,
            Err(err) => return Err(err.into()),
        };
        if workspaces.iter().any(|w| w.to_string() != demo::DEMO_WORKSPACE) {
            return Err(anyhow!(UsageError(format!(
                "{} holds other workspaces than `demo` ({}); refusing to reset it — use another --data directory",
                cli.data.display(),
                workspaces.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(", ")
            ))));
        }
    }
    std::fs::remove_dir_all(&cli.data).with_context(|| format!("removing {}", cli.data.display()))?;
    Ok(())
}

/// The workspace ids of a data directory, from its `workspaces/` folder.
fn workspace_directories(data: &std::path::Path) -> Result<Vec<WorkspaceId>> {
    let folder = data.join("workspaces");
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(&folder).with_context(|| format!("reading {}", folder.display()))? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        ids.push(
            WorkspaceId::parse(&name)
                .map_err(|_| anyhow!(UsageError(format!("{} holds `{name}`, not a workspace", folder.display()))))?,
        );
    }
    Ok(ids)
}
