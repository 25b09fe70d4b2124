//! segscope's HTTP JSON API: the outermost layer that knows the wire format.
//!
//! The crate is glue between HTTP and a [`Backend`]: it authenticates a
//! request with the workspace's API key, turns query strings and JSON bodies
//! into core values (criteria, summary requests, commands), makes one call
//! into the backend on the blocking pool, and turns the answer back into
//! JSON. It holds no state of its own besides the backend handle and the
//! configuration, so any number of routers can share one backend.
//!
//! Why each piece is where it is:
//! - [`wire`]: the request and response types. Core types do not derive
//!   `Serialize`; the API is a promise and the engine stays free to change.
//! - [`error`]: the one mapping from core errors, extractor rejections and
//!   auth failures to a status code and the JSON error body.
//! - [`auth`]: who may call what: missing or wrong key 401, another
//!   workspace's key 404 (never a hint that the workspace exists), a write
//!   key on a read or manage route 403.
//! - [`keys`]: generating and hashing API keys (the CLI uses it too).
//! - [`params`]: strict query-string parsing: an unknown or repeated
//!   parameter is a 422 that names it, so a typo never silently changes a
//!   number on a dashboard.
//! - `routes`: thin handlers, one module per resource.
//! - [`collect`] and [`webhooks`]: the two public doors (the tracking
//!   snippet's collect endpoint, authenticated by the write key; ESP
//!   webhooks, authenticated by each provider's signature), with their own
//!   body limits and the token buckets of [`ratelimit`].
//!
//! Backend methods are synchronous (the embedded store answers from memory
//! but `apply` waits for `fdatasync`), so every call runs in
//! [`tokio::task::spawn_blocking`]: a slow disk or a big summary never
//! blocks the async workers that accept connections.
//!
//! The API is documented route by route in `API.md` next to this crate's
//! manifest.

pub mod auth;
pub mod collect;
pub mod dashboard;
pub mod error;
pub mod keys;
pub mod openapi;
pub mod params;
pub mod ratelimit;
mod routes;
pub mod session;
pub mod webhooks;
pub mod wire;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use segscope_core::backend::Backend;
use segscope_core::time::Secs;
use tower_http::trace::TraceLayer;

pub use error::ApiError;

/// Where the server reads "now" from. The core reads no clock; the server
/// decides, so tests can pin time and get exact, repeatable summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// The system clock, in whole Unix seconds.
    System,
    /// Always this instant (Unix seconds); for tests and reproducible demos.
    Fixed(Secs),
}

impl Clock {
    pub fn now(self) -> Secs {
        match self {
            Clock::Fixed(at) => at,
            Clock::System => {
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as Secs).unwrap_or(0)
            }
        }
    }
}

/// The server's knobs. Limits are explicit so that one request cannot take
/// the memory of the machine: JSON bodies are small, imports are bounded.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The largest JSON request body, in bytes (413 beyond).
    pub max_json_bytes: usize,
    /// The largest import body (CSV or NDJSON), in bytes (413 beyond).
    pub max_import_bytes: usize,
    pub clock: Clock,
    /// A request that takes longer gets 408 (imports included).
    pub request_timeout: Duration,
    /// SHA-256 (hex) of the dashboard's admin token
    /// ([`session::admin_token`]); `None` disables dashboard sign-in (the
    /// API keeps working with keys).
    pub admin_token_hash: Option<String>,
    /// The largest collect body (a batch from the snippet), in bytes.
    pub max_collect_bytes: usize,
    /// The most events in one collect batch.
    pub max_collect_events: usize,
    /// The largest ESP webhook body, in bytes.
    pub max_webhook_bytes: usize,
    /// Token bucket of `/collect`, per workspace and client address.
    pub collect_rate: ratelimit::RateLimit,
    /// Token bucket of `/webhooks`, per provider, workspace and client address.
    pub webhook_rate: ratelimit::RateLimit,
    /// The signing keys of each workspace's ESP webhooks.
    pub webhook_keys: webhooks::WebhookKeys,
    /// IP → geography for collect hits; `None`: no geography.
    pub geoip: Option<Arc<segscope_enrich::GeoIp>>,
    /// Proxies whose `X-Forwarded-For` is believed (empty: the peer is the client).
    pub trusted_proxies: segscope_enrich::TrustedProxies,
}

/// 1 MiB: far more than any criteria or settings document.
pub const DEFAULT_MAX_JSON_BYTES: usize = 1024 * 1024;
/// 64 MiB: a CSV of a few hundred thousand contacts. Bigger files go
/// through the CLI, which streams from disk and shows progress.
pub const DEFAULT_MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;
/// 64 KiB: a snippet batch is a few hundred bytes per event.
pub const DEFAULT_MAX_COLLECT_BYTES: usize = 64 * 1024;
/// 100 events in one collect batch.
pub const DEFAULT_MAX_COLLECT_EVENTS: usize = 100;
/// 4 MiB: SendGrid posts batches of up to a few thousand events.
pub const DEFAULT_MAX_WEBHOOK_BYTES: usize = 4 * 1024 * 1024;

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_json_bytes: DEFAULT_MAX_JSON_BYTES,
            max_import_bytes: DEFAULT_MAX_IMPORT_BYTES,
            clock: Clock::System,
            request_timeout: Duration::from_secs(300),
            admin_token_hash: None,
            max_collect_bytes: DEFAULT_MAX_COLLECT_BYTES,
            max_collect_events: DEFAULT_MAX_COLLECT_EVENTS,
            max_webhook_bytes: DEFAULT_MAX_WEBHOOK_BYTES,
            collect_rate: ratelimit::RateLimit::default(),
            webhook_rate: ratelimit::RateLimit { per_second: 50.0, burst: 500, max_tracked: 10_000 },
            webhook_keys: webhooks::WebhookKeys::default(),
            geoip: None,
            trusted_proxies: segscope_enrich::TrustedProxies::default(),
        }
    }
}

/// What every handler gets: the backend, the configuration, the
/// dashboard's sessions and the public doors' limiters. Cheap to clone
/// (a few `Arc`s).
#[derive(Clone)]
pub struct AppState {
    backend: Arc<dyn Backend>,
    config: Arc<ServerConfig>,
    sessions: Arc<session::Sessions>,
    collect_limiter: Arc<ratelimit::RateLimiter>,
    webhook_limiter: Arc<ratelimit::RateLimiter>,
    /// Webhook deliveries seen recently (redeliveries and replays).
    deliveries: Arc<webhooks::SeenDeliveries>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("backend", &self.backend.name()).field("config", &self.config).finish()
    }
}

impl AppState {
    pub fn new(backend: Arc<dyn Backend>, config: ServerConfig) -> AppState {
        let sessions = Arc::new(session::Sessions::new(config.admin_token_hash.clone()));
        let collect_limiter = Arc::new(ratelimit::RateLimiter::new(config.collect_rate));
        let webhook_limiter = Arc::new(ratelimit::RateLimiter::new(config.webhook_rate));
        let deliveries = Arc::new(webhooks::SeenDeliveries::default());
        AppState { backend, config: Arc::new(config), sessions, collect_limiter, webhook_limiter, deliveries }
    }

    /// The dashboard's signed-in sessions.
    pub fn sessions(&self) -> &session::Sessions {
        &self.sessions
    }

    pub fn collect_limiter(&self) -> &ratelimit::RateLimiter {
        &self.collect_limiter
    }

    pub fn webhook_limiter(&self) -> &ratelimit::RateLimiter {
        &self.webhook_limiter
    }

    pub(crate) fn deliveries(&self) -> &webhooks::SeenDeliveries {
        &self.deliveries
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    pub fn now(&self) -> Secs {
        self.config.clock.now()
    }

    /// Runs `f` with the backend on tokio's blocking pool. Backend calls may
    /// wait on the disk or compute a summary over millions of contacts;
    /// keeping them off the async workers keeps the server responsive.
    pub async fn blocking<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Backend) -> Result<T, ApiError> + Send + 'static,
    {
        let backend = Arc::clone(&self.backend);
        match tokio::task::spawn_blocking(move || f(backend.as_ref())).await {
            Ok(result) => result,
            Err(join_error) => Err(ApiError::internal(format!("a backend task failed: {join_error}"))),
        }
    }
}

/// The whole application: the dashboard (`/`, `/assets/…`), `/health` and
/// `/api/v1/...`, with body limits, a request timeout, security headers
/// (CSP) and request tracing.
pub fn router(state: AppState) -> Router {
    let timeout = state.config.request_timeout;
    let max_json = state.config.max_json_bytes;
    routes::router(state)
        // Applies to every extractor that reads the body; the import routes
        // override it with their own, larger limit.
        .layer(DefaultBodyLimit::max(max_json))
        .layer(middleware::from_fn(move |request: Request, next: Next| deadline(timeout, request, next)))
        .layer(middleware::from_fn(dashboard::security_headers))
        .layer(TraceLayer::new_for_http())
}

/// Answers 408 in the API's error format when a request outlives
/// `timeout`. A backend call already running on the blocking pool cannot
/// be interrupted and finishes on its own; the client just stops waiting
/// (and a write it started is still durable or refused as a whole).
async fn deadline(timeout: Duration, request: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            ApiError::new(StatusCode::REQUEST_TIMEOUT, "timeout", format!("the request took longer than {} s", timeout.as_secs()))
                .into_response()
        }
    }
}

/// Serves `router(state)` on `listener` until `shutdown` completes, then
/// stops accepting connections and waits for the requests in flight to
/// finish (graceful shutdown; the request timeout bounds the wait).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer address feeds the public doors' rate limits and GeoIP
    // (`ConnectInfo`); nothing stores it.
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
