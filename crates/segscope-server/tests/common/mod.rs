//! Shared set-up for the API tests: a real embedded store in a temporary
//! directory, two workspaces with keys, a little data, and a helper that
//! sends one request through the router without a socket.

#![allow(dead_code)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use segscope_core::backend::{Backend, KeyKind};
use segscope_core::engine::{Command, Definition, Outcome, SegmentSpec};
use segscope_core::ids::{SegmentId, WorkspaceId};
use segscope_core::model::{Channel, Settings};
use segscope_core::time::{Secs, parse_instant};
use segscope_server::{AppState, Clock, ServerConfig, keys, router};
use segscope_store::{Store, StoreOptions};
use serde_json::Value;
use tower::ServiceExt;

/// The fixed "now" of every test.
pub const NOW: &str = "2024-03-15T12:00:00Z";

/// Small limits so the 413 tests need small bodies.
pub const MAX_JSON: usize = 16 * 1024;
pub const MAX_IMPORT: usize = 64 * 1024;

/// Three known contacts, two anonymous visitors (one later identified as
/// Ann), sessions with and without engagement, spread over February and March.
pub const SEED_NDJSON: &str = concat!(
    r#"{"type":"contact","email":"ann@example.com","created_at":"2024-02-01T09:00:00Z","fields":{"first_name":"Ann","stage":"Raw lead","country":"FR"}}"#,
    "\n",
    r#"{"type":"contact","email":"bob@gmail.com","created_at":"2024-03-02T09:00:00Z","fields":{"stage":"Sales ready","country":"DE"}}"#,
    "\n",
    r#"{"type":"contact","external_id":"crm-7","created_at":"2024-03-10T09:00:00Z"}"#,
    "\n",
    r#"{"type":"page_view","visitor_id":"v1","timestamp":"2024-03-10T10:00:00Z","url":"https://shop.example/pricing","country":"FR"}"#,
    "\n",
    r#"{"type":"heartbeat","visitor_id":"v1","timestamp":"2024-03-10T10:02:00Z","url":"https://shop.example/pricing"}"#,
    "\n",
    r#"{"type":"page_view","visitor_id":"v2","timestamp":"2024-03-12T10:00:00Z","url":"https://shop.example/pricing"}"#,
    "\n",
    r#"{"type":"page_view","visitor_id":"v2","timestamp":"2024-03-12T10:05:00Z","url":"https://shop.example/"}"#,
    "\n",
    r#"{"type":"identify","visitor_id":"v2","email":"ann@example.com","timestamp":"2024-03-12T10:06:00Z"}"#,
    "\n",
    r#"{"type":"page_view","visitor_id":"v3","timestamp":"2024-03-13T10:00:00Z","url":"https://shop.example/blog","referrer":"https://google.com/"}"#,
    "\n",
);

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub backend: Arc<Store>,
    pub app: Router,
    pub ws: WorkspaceId,
    /// A secret key of `acme`.
    pub secret: String,
    /// A write key of `acme`.
    pub write: String,
    /// A revoked secret key of `acme`.
    pub revoked: String,
    /// A secret key of `other`.
    pub other_secret: String,
    /// The "Pricing visitors" segment.
    pub pricing: SegmentId,
}

pub fn now() -> Secs {
    parse_instant(NOW).unwrap()
}

/// The collect and webhook body limits of the tests.
pub const MAX_COLLECT: usize = 8 * 1024;
pub const MAX_WEBHOOK: usize = 32 * 1024;

/// Rate limits off (the rate-limit tests set their own).
pub fn config() -> ServerConfig {
    ServerConfig {
        max_json_bytes: MAX_JSON,
        max_import_bytes: MAX_IMPORT,
        max_collect_bytes: MAX_COLLECT,
        max_webhook_bytes: MAX_WEBHOOK,
        collect_rate: segscope_server::ratelimit::RateLimit::UNLIMITED,
        webhook_rate: segscope_server::ratelimit::RateLimit::UNLIMITED,
        clock: Clock::Fixed(now()),
        ..ServerConfig::default()
    }
}

pub fn add_key(backend: &Store, ws: &WorkspaceId, kind: KeyKind) -> (String, String) {
    let (plain, record) = keys::new_key(ws, kind, "test", now());
    let id = record.id.clone();
    backend.add_key(record).unwrap();
    (plain, id)
}

pub fn harness() -> Harness {
    harness_with(config())
}

/// The dashboard's admin token in [`harness_with_admin`].
pub const ADMIN_TOKEN: &str = "adm_0123456789abcdef0123456789abcdef0123456789abcdef";

/// The harness with dashboard sign-in enabled for [`ADMIN_TOKEN`].
pub fn harness_with_admin() -> Harness {
    harness_with(ServerConfig { admin_token_hash: Some(keys::hash_key(ADMIN_TOKEN)), ..config() })
}

/// The harness with its router built from `config`.
pub fn harness_with(config: ServerConfig) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(Store::open(dir.path(), StoreOptions::default()).unwrap());
    let ws = WorkspaceId::parse("acme").unwrap();
    let other = WorkspaceId::parse("other").unwrap();
    let created = parse_instant("2024-01-01T00:00:00Z").unwrap();
    backend.create_workspace(&ws, Settings::default(), created).unwrap();
    backend.create_workspace(&other, Settings::default(), created).unwrap();
    let (secret, _) = add_key(&backend, &ws, KeyKind::Secret);
    let (write, _) = add_key(&backend, &ws, KeyKind::Write);
    let (revoked, revoked_id) = add_key(&backend, &ws, KeyKind::Secret);
    backend.revoke_key(&ws, &revoked_id).unwrap();
    let (other_secret, _) = add_key(&backend, &other, KeyKind::Secret);

    let parsed = segscope_ingest::parse_ndjson(SEED_NDJSON.as_bytes(), &Default::default()).unwrap();
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    segscope_ingest::apply_ndjson_import(parsed, Channel::Api, 100, |command| backend.apply(&ws, command, now()), |_| {})
        .unwrap();
    // Something in the other workspace that must never show through acme's routes.
    backend
        .apply(
            &other,
            Command::UpsertContacts {
                contacts: vec![segscope_core::engine::ContactUpsert {
                    email: Some("secret-person@other.example".into()),
                    external_id: None,
                    fields: Vec::new(),
                    created_at: None,
                }],
                channel: Channel::Api,
                list: None,
            },
            now(),
        )
        .unwrap();
    let schema = backend.schema(&ws).unwrap();
    let criteria = schema.parse_text(r#"visited "/pricing" in last 30 days"#).unwrap();
    let spec =
        SegmentSpec { name: "Pricing visitors".into(), description: String::new(), definition: Definition::Dynamic(criteria) };
    let Outcome::SegmentSaved(pricing) = backend.apply(&ws, Command::CreateSegment(spec), now()).unwrap() else {
        panic!("segment not saved")
    };

    let state = AppState::new(backend.clone(), config);
    Harness { dir, backend, app: router(state), ws, secret, write, revoked, other_secret, pricing }
}

/// What a test sends: the key goes in `Authorization: Bearer`.
pub struct Call<'a> {
    pub method: Method,
    pub uri: String,
    pub key: Option<&'a str>,
    pub body: Option<(Vec<u8>, &'static str)>,
}

pub fn get<'a>(uri: impl Into<String>, key: &'a str) -> Call<'a> {
    Call { method: Method::GET, uri: uri.into(), key: Some(key), body: None }
}

pub fn with_json<'a>(method: Method, uri: impl Into<String>, key: &'a str, body: Value) -> Call<'a> {
    Call { method, uri: uri.into(), key: Some(key), body: Some((serde_json::to_vec(&body).unwrap(), "application/json")) }
}

pub fn with_bytes<'a>(
    method: Method,
    uri: impl Into<String>,
    key: &'a str,
    body: Vec<u8>,
    content_type: &'static str,
) -> Call<'a> {
    Call { method, uri: uri.into(), key: Some(key), body: Some((body, content_type)) }
}

pub fn delete<'a>(uri: impl Into<String>, key: &'a str) -> Call<'a> {
    Call { method: Method::DELETE, uri: uri.into(), key: Some(key), body: None }
}

/// Sends one request through the router; returns the status and the body
/// as JSON (`Value::Null` for an empty body, a string for non-JSON).
pub async fn send(app: &Router, call: Call<'_>) -> (StatusCode, Value) {
    let (status, _, body) = send_raw(app, call).await;
    (status, body)
}

pub async fn send_raw(app: &Router, call: Call<'_>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut request = Request::builder().method(call.method).uri(call.uri);
    if let Some(key) = call.key {
        request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    let request = match call.body {
        Some((bytes, content_type)) => request.header(header::CONTENT_TYPE, content_type).body(Body::from(bytes)).unwrap(),
        None => request.body(Body::empty()).unwrap(),
    };
    let (status, headers, bytes) = send_request(app, request).await;
    (status, headers, lenient_json(&bytes))
}

/// The body as JSON: `Value::Null` when empty, a string when not JSON.
fn lenient_json(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// Asserts an error response: status, code, and that the body has the
/// error shape.
pub fn assert_error(status: StatusCode, body: &Value, want_status: StatusCode, want_code: &str) {
    assert_eq!(status, want_status, "{body:#}");
    assert_eq!(body["error"]["code"], want_code, "{body:#}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body:#}");
    assert!(body["error"]["details"].is_object(), "{body:#}");
}

/// Sends a request built by hand (any headers: cookies, `Origin`,
/// `X-CSRF-Token`, `If-None-Match`); returns the status, the headers and
/// the raw body.
pub async fn send_request(app: &Router, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, bytes.to_vec())
}

/// The body as JSON (`Value::Null` when empty); panics on anything else.
pub fn json_of(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// What "the store did not change" is checked against: the workspace's
/// counts and the bytes on disk (every applied command is appended to a
/// write-ahead log, so a refused request must leave the size alone).
pub fn fingerprint(h: &Harness) -> (u64, u64, u64, u64, u64) {
    fn bytes(path: &std::path::Path) -> u64 {
        std::fs::read_dir(path)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| {
                        let meta = e.metadata().unwrap();
                        if meta.is_dir() { bytes(&e.path()) } else { meta.len() }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    let stats = h.backend.stats(&h.ws).unwrap();
    (stats.contacts, stats.known, stats.anonymous, stats.bot_hits, bytes(h.dir.path()))
}

/// A raw request with any headers (for the public doors).
pub async fn send_with(
    app: &Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let (status, headers, bytes) = send_request(app, request.body(Body::from(body)).unwrap()).await;
    (status, headers, lenient_json(&bytes))
}
