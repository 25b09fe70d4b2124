//! The tracking door: the snippet (`GET /t.js`) and the endpoint it sends
//! to (`POST /collect/{ws}`, and its CORS preflight `OPTIONS`).
//!
//! Why the endpoint looks the way it does:
//! - **Write key, not secret key.** The snippet runs in every visitor's
//!   browser, so its key is public: a write key (`wk_…`) can only add
//!   tracking events to its own workspace. A secret key is refused here
//!   (403): one pasted into a page would hand the workspace to anyone.
//! - **Beacon-friendly.** `navigator.sendBeacon` cannot set headers and
//!   sends `text/plain`, so the key may travel in the body (`key`) or the
//!   query (`?key=`), and the body is read as JSON whatever its
//!   `Content-Type`. `text/plain` is also CORS-safelisted: the snippet's
//!   requests need no preflight. The preflight is answered anyway, for
//!   clients that send `application/json`.
//! - **Bounded.** The rate limit is checked before the body is read, the
//!   body is capped (`ServerConfig::max_collect_bytes`, 413 — at once when
//!   the declared `Content-Length` is over it), a batch holds
//!   at most `max_collect_events` events, and nothing is kept between
//!   requests but the limiter's capped map.
//! - **Browser clocks are wrong.** Each event carries the browser's `t`
//!   and the batch its `sent_at` (both epoch milliseconds); the server
//!   stamps the event at its own "now" minus `sent_at − t`, so a visitor
//!   whose clock is an hour off still lands in the right session.
//! - **Refused items are named, never silently merged.** Every event is
//!   checked here with the core's own rules (visitor id, email, external
//!   id) before the batch goes to the core; a batch with nothing usable is
//!   a 422 and changes nothing. Identify with a junk id (`undefined`,
//!   `null`, `0`, `[object Object]`, blank) is refused on its item.
//! - **Traits cannot change consent, identity or the schema.** Consent and
//!   identity fields (the core's `is_consent_or_identity_field`) refuse the
//!   identify; custom traits set only attributes the workspace already
//!   declares, with a value of their type; others are dropped with a warning.
//! - **No raw IP kept.** The client address (peer, or `X-Forwarded-For`
//!   through trusted proxies) feeds the rate limit and, when a GeoIP
//!   database is configured, the page view's geography; then it is dropped.

use std::net::{IpAddr, SocketAddr};

use axum::Json as JsonBody;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use segscope_core::backend::KeyKind;
use segscope_core::criteria::BuiltinField;
use segscope_core::email::Email;
use segscope_core::engine::{Command, Outcome, check_external_id, check_visitor_id, is_consent_or_identity_field};
use segscope_core::event::{EventBody, EventInput, Identify, PageView, Subject};
use segscope_core::ids::WorkspaceId;
use segscope_core::model::{AttrType, Geo, Value};
use segscope_core::time::Secs;
use serde_json::{Map, Value as Json, json};
use std::collections::BTreeMap;

use crate::AppState;
use crate::auth::workspace_not_found;
use crate::error::ApiError;
use crate::keys::hash_key;
use crate::ratelimit::retry_after_secs;
use crate::routes::{read_body, shorten};

/// The snippet, embedded in the binary.
pub const SNIPPET_JS: &str = include_str!("snippet.js");

/// Events older than this (relative to their batch's `sent_at`) are refused:
/// the snippet sends at once, so such an age is a replay or a broken clock.
pub const MAX_EVENT_AGE_SECS: i64 = 24 * 3600;

/// The longest URL, referrer, event name or trait name accepted.
const MAX_URL_LEN: usize = 2048;

/// `GET /t.js`: the snippet. Cacheable for an hour (a new version reaches
/// visitors within the hour); any site may load it.
pub async fn snippet(headers: HeaderMap) -> Response {
    let etag = format!("\"{}\"", &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(SNIPPET_JS.as_bytes()))[..20]);
    let common = [
        (header::CONTENT_TYPE, "application/javascript; charset=utf-8"),
        (header::CACHE_CONTROL, "public, max-age=3600"),
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
    ];
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(',').any(|t| t.trim() == etag)) {
        return (StatusCode::NOT_MODIFIED, common, [(header::ETAG, etag)]).into_response();
    }
    (common, [(header::ETAG, etag)], SNIPPET_JS).into_response()
}

/// CORS headers on every collect answer, errors included, so a browser
/// shows the error body instead of an opaque CORS failure.
pub async fn cors(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("Retry-After"));
    response
}

/// `OPTIONS /collect/{ws}`: the CORS preflight.
pub async fn preflight() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_METHODS, "POST, OPTIONS"),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, "Content-Type, Authorization, X-Api-Key"),
            (header::ACCESS_CONTROL_MAX_AGE, "86400"),
        ],
    )
        .into_response()
}

/// The client address: the peer, or the first untrusted hop of
/// `X-Forwarded-For` when the peer is a trusted proxy. `None` without a
/// socket (router tests).
pub(crate) fn client_address(state: &AppState, request: &Request) -> Option<IpAddr> {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>()?.0.ip();
    let forwarded: Vec<&str> = request.headers().get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
    let joined = forwarded.join(",");
    let header = (!joined.is_empty()).then_some(joined.as_str());
    Some(segscope_enrich::client_ip(peer, header, &state.config().trusted_proxies))
}

/// Takes a token of `limiter` for `caller`, or answers 429 with `Retry-After`.
pub(crate) fn rate_limit(limiter: &crate::ratelimit::RateLimiter, caller: &str) -> Result<(), ApiError> {
    limiter.check(caller).map_err(|wait| ApiError::rate_limited(retry_after_secs(wait)))
}

/// Refuses at once (413) a request whose declared `Content-Length` is over
/// `limit`, before anything waits for its body: a client that declares
/// 10 MB and sends one byte would otherwise hold the handler until the
/// connection times out. Every `Content-Length` header is checked (hyper
/// refuses conflicting ones; this does not rely on it); a chunked body is
/// still capped while it is read.
pub(crate) fn refuse_declared_oversize(headers: &HeaderMap, limit: usize) -> Result<(), ApiError> {
    let declared_over = headers
        .get_all(header::CONTENT_LENGTH)
        .iter()
        .any(|value| value.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()).is_some_and(|n| n > limit as u64));
    if declared_over { Err(ApiError::payload_too_large(limit)) } else { Ok(()) }
}

/// One refused item of a batch.
fn refused(index: usize, kind: &str, message: impl Into<String>) -> Json {
    json!({ "index": index, "type": kind, "message": message.into() })
}

/// Epoch milliseconds from a JSON number (what `Date.now()` gives).
fn millis(value: Option<&Json>, name: &str) -> Result<Option<f64>, String> {
    match value {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Number(n)) => match n.as_f64() {
            Some(ms) if ms.is_finite() && ms >= 0.0 => Ok(Some(ms)),
            _ => Err(format!("`{name}` must be epoch milliseconds (Date.now())")),
        },
        Some(_) => Err(format!("`{name}` must be epoch milliseconds (Date.now()), a number")),
    }
}

/// A text field of an event: a string of at most `max` bytes.
fn text<'a>(event: &'a Map<String, Json>, name: &str, max: usize) -> Result<Option<&'a str>, String> {
    match event.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(text)) if text.len() <= max => Ok(Some(text.as_str())),
        Some(Json::String(_)) => Err(format!("`{name}` is longer than {max} bytes")),
        Some(_) => Err(format!("`{name}` must be a string")),
    }
}

/// An identity given to identify: a string, or a whole number for
/// external ids (CRMs use numeric ids). `null` and blank are "not given".
fn identity(event: &Map<String, Json>, name: &str) -> Result<Option<String>, String> {
    match event.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(text)) if text.trim().is_empty() => Ok(None),
        Some(Json::String(text)) => Ok(Some(text.clone())),
        Some(Json::Number(n)) if name == "external_id" && (n.is_u64() || n.is_i64()) => Ok(Some(n.to_string())),
        Some(other) => Err(format!(
            "`{name}` must be a string, got {}: check the variable passed to identify",
            match other {
                Json::Bool(_) => "a boolean",
                Json::Number(_) => "a number",
                Json::Array(_) => "an array",
                _ => "an object",
            }
        )),
    }
}

const EVENT_FIELDS: &[(&str, &[&str])] = &[
    ("page_view", &["type", "t", "url", "referrer", "title"]),
    ("heartbeat", &["type", "t", "url"]),
    ("page_leave", &["type", "t", "url"]),
    ("identify", &["type", "t", "email", "external_id", "traits"]),
    ("track", &["type", "t", "name", "url"]),
];

/// What the server knows about the request, for every event of the batch.
struct Context {
    now: Secs,
    sent_at: Option<f64>,
    bot: bool,
    geo: Option<Geo>,
    /// The workspace's declared custom attributes: the only custom names
    /// identify traits may set (a browser never declares one).
    attributes: BTreeMap<String, AttrType>,
}

/// Identify traits as the core takes them: field name → value (`None` clears).
type Traits = Vec<(String, Option<Value>)>;

/// Identify traits from a browser, checked against the workspace's schema.
/// Consent and identity fields (the core's
/// [`is_consent_or_identity_field`]) refuse the whole event: anyone can
/// send them with the public write key. Built-in fields pass (the core
/// checks their values); a custom attribute passes only when already
/// declared and its value fits the declared type. Anything else is
/// dropped with a warning, never declared.
fn browser_traits(traits: &Map<String, Json>, attributes: &BTreeMap<String, AttrType>) -> Result<(Traits, Vec<String>), String> {
    let mut forbidden: Vec<String> = traits.keys().filter(|n| is_consent_or_identity_field(n)).map(|n| shorten(n)).collect();
    if !forbidden.is_empty() {
        forbidden.sort();
        return Err(format!(
            "trait{} `{}` cannot be set from a browser: the identity is the event's `email` / `external_id`, and email consent comes from your ESP, an import or the API",
            if forbidden.len() > 1 { "s" } else { "" },
            forbidden.join("`, `")
        ));
    }
    let mut kept = Vec::new();
    let mut warnings = Vec::new();
    for (name, raw) in traits {
        let lowered = name.trim().to_ascii_lowercase();
        let value = match segscope_ingest::ndjson::field_value(name, raw) {
            Ok(value) => value,
            Err(message) => {
                warnings.push(format!("trait `{}` dropped: {message}", shorten(name)));
                continue;
            }
        };
        if BuiltinField::parse(&lowered).is_some() {
            kept.push((name.clone(), value));
            continue;
        }
        let Some(declared) = attributes.get(&lowered) else {
            warnings.push(format!(
                "trait `{}` dropped: no such attribute in this workspace; a browser cannot add attributes (declare it with an import or the API first)",
                shorten(name)
            ));
            continue;
        };
        match value.map(|v| v.coerce(*declared)).transpose() {
            Ok(value) => kept.push((name.clone(), value)),
            Err(err) => warnings.push(format!(
                "trait `{}` dropped: the attribute is {} and {}",
                shorten(name),
                declared.key(),
                err.message
            )),
        }
    }
    Ok((kept, warnings))
}

/// One wire event → a core event (and warnings about dropped traits),
/// checked with the core's own rules.
fn convert(raw: &Json, visitor: &str, context: &Context) -> Result<(EventInput, Vec<String>), (String, String)> {
    let Json::Object(event) = raw else {
        return Err(("unknown".into(), "an event must be a JSON object with a `type`".into()));
    };
    let kind = match event.get("type") {
        Some(Json::String(kind)) => kind.as_str(),
        _ => {
            return Err((
                "unknown".into(),
                "an event needs a `type`: page_view, heartbeat, page_leave, identify or track".into(),
            ));
        }
    };
    let fail = |message: String| (shorten(kind), message);
    let Some((_, allowed)) = EVENT_FIELDS.iter().find(|(name, _)| *name == kind) else {
        return Err(fail(format!(
            "unknown event type `{}`: use page_view, heartbeat, page_leave, identify or track",
            shorten(kind)
        )));
    };
    if let Some(unknown) = event.keys().find(|key| !allowed.contains(&key.as_str())) {
        return Err(fail(format!("unknown field `{}` in a {kind} event; allowed: {}", shorten(unknown), allowed.join(", "))));
    }
    let t = millis(event.get("t"), "t").map_err(fail)?;
    let age_secs = match (context.sent_at, t) {
        (Some(sent_at), Some(t)) => ((sent_at - t) / 1000.0).max(0.0).round() as i64,
        _ => 0,
    };
    if age_secs > MAX_EVENT_AGE_SECS {
        return Err(fail(format!("the event is {age_secs} s older than its batch (`sent_at` − `t`); at most a day is accepted")));
    }
    let at = context.now - age_secs;
    let mut warnings = Vec::new();
    let body = match kind {
        "page_view" => {
            let url = text(event, "url", MAX_URL_LEN).map_err(fail)?.filter(|u| !u.trim().is_empty());
            let url = url.ok_or_else(|| fail("a page_view needs its `url` (location.href)".into()))?;
            let referrer = text(event, "referrer", MAX_URL_LEN).map_err(fail)?.filter(|r| !r.trim().is_empty());
            text(event, "title", MAX_URL_LEN).map_err(fail)?;
            EventBody::PageView(PageView {
                url: url.to_owned(),
                referrer: referrer.map(str::to_owned),
                utm: segscope_ingest::ndjson::utm_from_url(url),
                bot: context.bot,
                status: None,
                geo: context.geo.clone(),
            })
        }
        "heartbeat" | "page_leave" => {
            text(event, "url", MAX_URL_LEN).map_err(fail)?;
            if kind == "heartbeat" { EventBody::Heartbeat } else { EventBody::PageLeave }
        }
        "track" => {
            text(event, "url", MAX_URL_LEN).map_err(fail)?;
            let name = text(event, "name", 200).map_err(fail)?.filter(|n| !n.trim().is_empty());
            EventBody::Track { name: name.ok_or_else(|| fail("a track event needs a `name`".into()))?.trim().to_owned() }
        }
        "identify" => {
            let refuse = |message: String| fail(format!("identify refused, nothing was merged: {message}"));
            let email = identity(event, "email").map_err(refuse)?;
            let external_id = identity(event, "external_id").map_err(refuse)?;
            if email.is_none() && external_id.is_none() {
                return Err(fail(
                    "identify needs an `email` or an `external_id` (a non-empty string); nothing was merged".into(),
                ));
            }
            if let Some(email) = &email {
                Email::parse(email).map_err(|err| fail(format!("identify refused, nothing was merged: {}", err.message)))?;
            }
            if let Some(external_id) = &external_id {
                check_external_id(external_id)
                    .map_err(|err| fail(format!("identify refused, nothing was merged: {}", err.message)))?;
            }
            let traits = match event.get("traits") {
                None | Some(Json::Null) => Vec::new(),
                Some(Json::Object(traits)) if traits.len() <= 100 => {
                    let (kept, dropped) = browser_traits(traits, &context.attributes).map_err(refuse)?;
                    warnings = dropped;
                    kept
                }
                Some(Json::Object(_)) => return Err(fail("identify takes at most 100 traits".into())),
                Some(_) => return Err(fail("identify `traits` must be an object of field → value".into())),
            };
            EventBody::Identify(Identify { email, external_id, traits })
        }
        _ => unreachable!("checked against EVENT_FIELDS"),
    };
    Ok((EventInput { subject: Subject::Visitor(visitor.to_owned()), at, body }, warnings))
}

/// The key of a collect request: header, query `key`, or the body's `key`.
fn presented_key(headers: &HeaderMap, query: Option<&str>, body_key: Option<&str>) -> Result<String, ApiError> {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned())
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(|v| v.trim().to_owned()));
    let from_query = query.and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("key=")).map(|v| v.trim().to_owned()));
    let key = from_header.or(from_query).or(body_key.map(|k| k.trim().to_owned())).filter(|k| !k.is_empty());
    let key = key.ok_or_else(|| {
        ApiError::unauthorized(
            "missing write key: send the workspace's write key (`wk_…`) as `key` in the body, `?key=` or `Authorization: Bearer`",
        )
    })?;
    if key.len() > 256 {
        return Err(ApiError::unauthorized("invalid write key"));
    }
    Ok(key)
}

/// Checks a collect key: a live write key of the workspace in the path.
async fn authorize(state: &AppState, path_workspace: &str, key: String) -> Result<WorkspaceId, ApiError> {
    let hash = hash_key(&key);
    let found = state.blocking(move |backend| Ok(backend.key_by_hash(&hash)?)).await?;
    let key = match found {
        Some(key) if !key.revoked => key,
        _ => return Err(ApiError::unauthorized("invalid write key: use a live write key (`wk_…`) of this workspace")),
    };
    if key.workspace.as_str() != path_workspace {
        return Err(workspace_not_found(path_workspace));
    }
    if key.kind != KeyKind::Write {
        return Err(ApiError::forbidden(
            "this is a secret API key: never put it in a web page (anyone could read and change the workspace); \
             revoke it and send the workspace's write key (`wk_…`) instead",
        ));
    }
    Ok(key.workspace)
}

/// `POST /collect/{ws}`: a batch of tracking events from one visitor.
pub async fn collect(State(state): State<AppState>, Path(ws): Path<String>, request: Request) -> Result<Response, ApiError> {
    let client = client_address(&state, &request);
    // Bounded key: the path comes from the network.
    let caller = format!("{}|{}", shorten(&ws), client.map(|ip| ip.to_string()).unwrap_or_default());
    rate_limit(state.collect_limiter(), &caller)?;
    refuse_declared_oversize(request.headers(), state.config().max_collect_bytes)?;
    let headers = request.headers().clone();
    let query = request.uri().query().map(str::to_owned);
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    // A key in the header or the query is checked before the body is read.
    let early_key = presented_key(&headers, query.as_deref(), None).ok();
    let mut workspace = None;
    if let Some(key) = early_key {
        workspace = Some(authorize(&state, &ws, key).await?);
    }
    let limit = state.config().max_collect_bytes;
    let bytes = read_body(request, &state, limit).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid", "the request body is empty: send a JSON batch"));
    }
    let batch: Json = serde_json::from_slice(&bytes).map_err(|err| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", format!("the body is not JSON: {err}"))
            .with_detail("location", json!({ "line": err.line(), "column": err.column() }))
    })?;
    let Json::Object(mut batch) = batch else {
        return Err(ApiError::invalid("a collect body is an object: {\"key\", \"visitor_id\", \"sent_at\", \"events\": [...]}"));
    };
    let body_key = match batch.get("key") {
        None | Some(Json::Null) => None,
        Some(Json::String(key)) => Some(key.clone()),
        Some(_) => return Err(ApiError::unauthorized("`key` must be a string: the workspace's write key")),
    };
    let workspace = match workspace {
        Some(workspace) => workspace,
        None => authorize(&state, &ws, presented_key(&headers, None, body_key.as_deref())?).await?,
    };
    if let Some(unknown) = batch.keys().find(|k| !["key", "visitor_id", "sent_at", "events"].contains(&k.as_str())) {
        return Err(ApiError::invalid(format!(
            "unknown field `{}` in the batch; allowed: key, visitor_id, sent_at, events",
            shorten(unknown)
        ))
        .with_detail("field", json!(shorten(unknown))));
    }
    let visitor = match batch.get("visitor_id") {
        Some(Json::String(visitor)) => visitor.clone(),
        _ => {
            return Err(ApiError::invalid("`visitor_id` (the visitor cookie's value, a string) is required")
                .with_detail("field", json!("visitor_id")));
        }
    };
    check_visitor_id(&visitor).map_err(|err| ApiError::from(err).with_detail("field", json!("visitor_id")))?;
    let sent_at =
        millis(batch.get("sent_at"), "sent_at").map_err(|m| ApiError::invalid(m).with_detail("field", json!("sent_at")))?;
    let events = match batch.remove("events") {
        Some(Json::Array(events)) if events.is_empty() => {
            return Err(ApiError::invalid("`events` is empty: send at least one event").with_detail("field", json!("events")));
        }
        Some(Json::Array(events)) => events,
        _ => return Err(ApiError::invalid("`events` must be an array of events").with_detail("field", json!("events"))),
    };
    let max_events = state.config().max_collect_events;
    if events.len() > max_events {
        return Err(ApiError::invalid(format!("a batch holds at most {max_events} events; got {}", events.len()))
            .with_detail("field", json!("events")));
    }
    let geo = match (&state.config().geoip, client) {
        (Some(geoip), Some(ip)) => Some(geoip.lookup(ip)).filter(|g| !g.is_empty()),
        _ => None,
    };
    let has_page_view = events.iter().any(|e| e.get("type").and_then(Json::as_str) == Some("page_view"));
    let now = state.now();
    state
        .blocking(move |backend| {
            // Parsing the user agent is CPU work (regexes): on the blocking pool.
            let bot = has_page_view && segscope_enrich::UserAgentParser::shared().is_bot(&user_agent);
            let attributes = backend.schema(&workspace)?.attributes;
            let context = Context { now, sent_at, bot, geo, attributes };
            let mut inputs = Vec::new();
            let mut positions = Vec::new();
            let mut kinds = Vec::new();
            let mut rejected = Vec::new();
            let mut warnings = Vec::new();
            for (index, raw) in events.iter().enumerate() {
                match convert(raw, &visitor, &context) {
                    Ok((input, dropped)) => {
                        let kind = raw.get("type").and_then(Json::as_str).unwrap_or("");
                        warnings.extend(dropped.into_iter().map(|message| refused(index, kind, message)));
                        kinds.push(raw.get("type").and_then(Json::as_str).unwrap_or("").to_owned());
                        positions.push(index);
                        inputs.push(input);
                    }
                    Err((kind, message)) => rejected.push(refused(index, &kind, message)),
                }
            }
            if inputs.is_empty() {
                return Err(ApiError::invalid("no event of the batch was accepted; nothing changed")
                    .with_detail("rejected", Json::Array(rejected)));
            }
            let report = match backend.apply(&workspace, Command::RecordEvents { events: inputs }, now)? {
                Outcome::Recorded(report) => report,
                other => return Err(ApiError::internal(format!("recording events answered {other:?}"))),
            };
            for issue in &report.rejected {
                rejected.push(refused(positions[issue.index], &kinds[issue.index], issue.message.clone()));
            }
            rejected.sort_by_key(|r| r["index"].as_u64());
            warnings.extend(report.warnings.iter().map(|w| refused(positions[w.index], &kinds[w.index], w.message.clone())));
            warnings.sort_by_key(|w| w["index"].as_u64());
            let body = json!({
                "accepted": report.accepted,
                "rejected": rejected,
                "warnings": warnings,
                "contacts_created": report.contacts_created,
                "merges": report.merges,
                "bot_hits": report.bot_hits,
            });
            if report.accepted == 0 {
                // The core refused every event (e.g. a heartbeat before any
                // page view): the command changed nothing.
                let err =
                    ApiError::invalid("no event of the batch was accepted").with_detail("rejected", body["rejected"].clone());
                return Ok(err.into_response());
            }
            Ok((StatusCode::OK, JsonBody(body)).into_response())
        })
        .await
}
