//! The web dashboard's assets, embedded in the binary at build time
//! (`build.rs` bundles `web/` into `OUT_DIR/web`), and the security headers
//! every response carries.
//!
//! The dashboard is a static single-page app that talks to the server only
//! through the public JSON API, so serving it needs no workspace data: the
//! pages below are public, and everything they show comes from API calls
//! made with the signed-in session (see [`crate::session`]).

use axum::extract::{Path, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::params::Params;

const INDEX_HTML: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/web/index.html"));
const APP_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/web/app.js"));
const APP_CSS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/web/app.css"));
const WORLD_JSON: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/web/world.json"));

/// No inline script, nothing from another origin. Inline *styles* are
/// allowed because ECharts positions its tooltips with style attributes;
/// scripts, frames, plugins and form targets stay locked to this origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

fn asset(name: &str) -> Option<(&'static [u8], &'static str)> {
    Some(match name {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "world.json" => (WORLD_JSON, "application/json"),
        _ => return None,
    })
}

/// A strong validator for an embedded file: its SHA-256, short.
fn etag_of(bytes: &[u8]) -> String {
    format!("\"{}\"", &hex::encode(Sha256::digest(bytes))[..20])
}

fn cached(headers: &HeaderMap, bytes: &'static [u8], content_type: &'static str) -> Response {
    let etag = etag_of(bytes);
    // `no-cache` = revalidate every time: a new binary serves new assets at
    // once, and an unchanged one answers 304 without the body.
    let common = [(header::CACHE_CONTROL, "no-cache"), (header::CONTENT_TYPE, content_type)];
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(',').any(|t| t.trim() == etag)) {
        return (StatusCode::NOT_MODIFIED, common, [(header::ETAG, etag)]).into_response();
    }
    (common, [(header::ETAG, etag)], bytes).into_response()
}

/// `GET /`: the dashboard's page (no data in it; the app signs in and calls the API).
pub async fn index(params: Params, headers: HeaderMap) -> Result<Response, ApiError> {
    params.finish()?;
    Ok(cached(&headers, INDEX_HTML, "text/html; charset=utf-8"))
}

/// `GET /assets/{file}`.
pub async fn assets(Path(file): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let (bytes, content_type) = asset(&file).ok_or_else(|| ApiError::not_found("no such dashboard asset"))?;
    Ok(cached(&headers, bytes, content_type))
}

/// Security headers on every response: the CSP above, no MIME sniffing,
/// no framing, no referrer to other sites.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}
