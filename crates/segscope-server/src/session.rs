//! Dashboard sign-in: one admin token, sessions in an HttpOnly cookie, and
//! CSRF protection for what the dashboard changes.
//!
//! - The **admin token** (`adm_…`, 192 random bits) is made at the first
//!   start and printed once; only its SHA-256 is kept, in
//!   [`ADMIN_TOKEN_FILE`] inside the data directory (mode 0600). Deleting
//!   the file makes the next start print a new token. `segscope demo`
//!   rotates it on every run, like its API key.
//! - Signing in (`POST /api/v1/session` with the token) opens a **session**:
//!   a random id in the cookie `segscope_session` (`HttpOnly`,
//!   `SameSite=Strict`, `Path=/`; `Secure` behind HTTPS), kept only as a
//!   hash in memory, so a restart signs everyone out. Sessions last
//!   [`SESSION_SECS`].
//! - **CSRF**: a session also has a random CSRF token, returned by the
//!   session routes (never in a cookie). Every state-changing request made
//!   with the cookie must send it back in `X-CSRF-Token` (a synchronizer
//!   token: another site can make the browser send the cookie, but cannot
//!   read the token). `SameSite=Strict` and an `Origin` check (when the
//!   browser sends one, it must be this host) are two more layers.
//! - An admin session may read and manage every workspace; API keys stay
//!   scoped to one (see [`crate::auth`]).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use axum::Json;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use segscope_core::time::Secs;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::keys::{hash_key, random_hex};
use crate::routes::JsonBody;

/// The file, in the data directory, that holds the admin token's SHA-256.
pub const ADMIN_TOKEN_FILE: &str = "dashboard-admin-token.sha256";
/// The prefix of admin tokens (so one is never mistaken for an API key).
pub const ADMIN_PREFIX: &str = "adm_";
/// The session cookie.
pub const SESSION_COOKIE: &str = "segscope_session";
/// The header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lasts: a working day.
pub const SESSION_SECS: Secs = 12 * 3600;

/// The admin token of a data directory.
#[derive(Debug, Clone)]
pub struct AdminToken {
    /// SHA-256 of the token, hex: what the server compares against.
    pub hash: String,
    /// The token itself, only when it was just made (print it once).
    pub plaintext: Option<String>,
}

/// Reads the admin token's hash from `dir`, or makes a new token when there
/// is none or when `rotate` is set (the demo rotates on every run).
pub fn admin_token(dir: &Path, rotate: bool) -> std::io::Result<AdminToken> {
    let path = dir.join(ADMIN_TOKEN_FILE);
    if !rotate {
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let hash = text.trim().to_owned();
                if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Ok(AdminToken { hash, plaintext: None });
                }
                return Err(std::io::Error::other(format!(
                    "{} is damaged: delete it and restart to get a new admin token",
                    path.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let plaintext = format!("{ADMIN_PREFIX}{}", random_hex(24));
    let hash = hash_key(&plaintext);
    // Write then rename: a crash leaves the old file or the new one, never half.
    let temp = dir.join(format!("{ADMIN_TOKEN_FILE}.tmp"));
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temp)?;
        file.write_all(format!("{hash}\n").as_bytes())?;
        file.sync_all()?;
    }
    std::fs::rename(&temp, &path)?;
    Ok(AdminToken { hash, plaintext: Some(plaintext) })
}

#[derive(Debug, Clone)]
struct Session {
    csrf: String,
    expires: Secs,
}

/// The signed-in sessions, by the SHA-256 of their cookie value.
#[derive(Debug, Default)]
pub struct Sessions {
    admin_hash: Option<String>,
    open: Mutex<HashMap<String, Session>>,
}

/// A request made with a valid session cookie.
#[derive(Debug, Clone)]
pub struct SessionAuth {
    pub csrf: String,
    pub expires: Secs,
}

impl Sessions {
    pub fn new(admin_hash: Option<String>) -> Sessions {
        Sessions { admin_hash, open: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock leaves a map that is still valid.
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn create(&self, now: Secs) -> (String, Session) {
        let id = random_hex(24);
        let session = Session { csrf: random_hex(16), expires: now + SESSION_SECS };
        let mut open = self.lock();
        open.retain(|_, s| s.expires > now);
        open.insert(hash_key(&id), session.clone());
        (id, session)
    }

    /// The session of the request's cookie, if it is valid now.
    pub fn from_headers(&self, headers: &HeaderMap, now: Secs) -> Option<SessionAuth> {
        let id = cookie(headers, SESSION_COOKIE)?;
        let open = self.lock();
        let session = open.get(&hash_key(&id))?;
        (session.expires > now).then(|| SessionAuth { csrf: session.csrf.clone(), expires: session.expires })
    }

    fn remove(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers, SESSION_COOKIE) {
            self.lock().remove(&hash_key(&id));
        }
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// Refuses a request whose `Origin` is another site. Browsers send
/// `Origin` on every cross-site POST/PATCH/DELETE; a same-site request
/// either carries no `Origin` or exactly `http://` or `https://` and the
/// `Host`: no other scheme (an extension's, `file:`), no path, no other port.
/// When the request came over HTTPS (`X-Forwarded-Proto: https` from the TLS
/// proxy), an `http://` origin is a page served in the clear, which anyone
/// on the network could have written, and is refused too.
pub fn check_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return Ok(()) };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let over_https = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https");
    let same = match origin.split_once("://") {
        Some(("https", rest)) => rest == host,
        Some(("http", rest)) => rest == host && !over_https,
        _ => false,
    };
    if host.is_empty() || !same {
        return Err(ApiError::forbidden("cross-site request refused: the dashboard only accepts requests from its own origin"));
    }
    Ok(())
}

/// For a state-changing request made with the session cookie: the CSRF
/// token must come back in `X-CSRF-Token`, and the origin must be ours.
pub fn check_csrf(parts: &Parts, session: &SessionAuth) -> Result<(), ApiError> {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    check_origin(&parts.headers)?;
    let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    // Both are random hex of the same length; compare without an early exit.
    let same =
        sent.len() == session.csrf.len() && sent.bytes().zip(session.csrf.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if !same {
        return Err(ApiError::forbidden("missing or wrong CSRF token: send the session's `csrf_token` in `X-CSRF-Token`"));
    }
    Ok(())
}

fn session_body(state: &AppState, session: &SessionAuth, workspaces: Value) -> Value {
    let _ = state;
    json!({
        "signed_in": true,
        "csrf_token": session.csrf,
        "expires_at": crate::wire::instant(session.expires),
        "workspaces": workspaces,
    })
}

async fn workspaces_json(state: &AppState) -> Result<Value, ApiError> {
    state
        .blocking(|backend| {
            let mut items = Vec::new();
            for id in backend.workspaces()? {
                let stats = backend.stats(&id)?;
                items.push(json!({ "id": id.as_str(), "contacts": stats.contacts }));
            }
            Ok(Value::Array(items))
        })
        .await
}

/// `GET /api/v1/session`: who is signed in, with the CSRF token and the
/// workspaces the dashboard may pick from. 401 without a valid session.
/// Like the sign-in's answer it carries the CSRF token, so it is never stored.
pub async fn show(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let session = state
        .sessions()
        .from_headers(&headers, state.now())
        .ok_or_else(|| ApiError::unauthorized("not signed in: POST the admin token to /api/v1/session"))?;
    let workspaces = workspaces_json(&state).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(session_body(&state, &session, workspaces))).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    token: String,
}

/// `POST /api/v1/session` with `{"token": "adm_…"}`: signs in.
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SignIn>,
) -> Result<Response, ApiError> {
    check_origin(&headers)?;
    let Some(expected) = state.sessions().admin_hash.clone() else {
        return Err(ApiError::forbidden(
            "dashboard sign-in is not configured on this server: start it with `segscope serve`, which sets an admin token",
        ));
    };
    let token = body.token.trim();
    if token.len() > 256 || hash_key(token) != expected {
        return Err(ApiError::unauthorized("wrong admin token"));
    }
    let now = state.now();
    let (id, session) = state.sessions().create(now);
    let secure = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https");
    let cookie = format!(
        "{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={SESSION_SECS}{}",
        if secure { "; Secure" } else { "" }
    );
    let auth = SessionAuth { csrf: session.csrf, expires: session.expires };
    let workspaces = workspaces_json(&state).await?;
    let mut response = Json(session_body(&state, &auth, workspaces)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::internal(format!("session cookie: {e}")))?,
    );
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `DELETE /api/v1/session`: signs out (needs the CSRF token).
pub async fn sign_out(State(state): State<AppState>, parts: Parts) -> Result<Response, ApiError> {
    if let Some(session) = state.sessions().from_headers(&parts.headers, state.now()) {
        check_csrf(&parts, &session)?;
        state.sessions().remove(&parts.headers);
    }
    let expired = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_str(&expired).map_err(|e| ApiError::internal(e.to_string()))?);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_token_is_made_once_and_stored_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let first = admin_token(dir.path(), false).unwrap();
        let plain = first.plaintext.clone().unwrap();
        assert!(plain.starts_with(ADMIN_PREFIX));
        let stored = std::fs::read_to_string(dir.path().join(ADMIN_TOKEN_FILE)).unwrap();
        assert_eq!(stored.trim(), hash_key(&plain));
        assert!(!stored.contains(&plain[4..]));
        let again = admin_token(dir.path(), false).unwrap();
        assert_eq!(again.hash, first.hash);
        assert!(again.plaintext.is_none());
        let rotated = admin_token(dir.path(), true).unwrap();
        assert_ne!(rotated.hash, first.hash);
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; segscope_session=abc ; b=2"));
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "c"), None);
    }
}
