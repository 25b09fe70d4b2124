//! Who may call a workspace route.
//!
//! Every `/api/v1/workspaces/{ws}/...` handler takes [`Access`] as its first
//! argument, so authentication runs before anything else reads the request
//! (a bad query string or body from an unauthenticated caller is a 401, not
//! a 422 that would reveal the route's rules). The checks, in this order:
//!
//! 1. a key is presented (`Authorization: Bearer <key>` or `X-Api-Key`), is
//!    known and not revoked, else **401**;
//! 2. the key belongs to the workspace in the path, else **404** with the
//!    same message an unknown workspace gets: another tenant's key learns
//!    nothing, not even that the workspace exists;
//! 3. the key is a secret key, else **403** (write keys may only send
//!    tracking events).
//!
//! A request without a key may instead carry the dashboard's session
//! cookie ([`crate::session`]): the signed-in admin may use every
//! workspace that exists (an unknown one is the same 404), and a
//! state-changing request must also carry the session's CSRF token (403
//! without it). A key, when present, always wins over the cookie.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use segscope_core::backend::KeyKind;
use segscope_core::ids::WorkspaceId;

use crate::AppState;
use crate::error::ApiError;
use crate::keys::hash_key;
use crate::session::{SessionAuth, check_csrf};

/// Keys longer than this are refused without hashing (no real key is).
const MAX_KEY_LEN: usize = 256;

/// A caller allowed to read and manage the workspace of the path.
#[derive(Debug, Clone)]
pub struct Access {
    pub workspace: WorkspaceId,
    /// The public id of the key used, for logs (`session` for the dashboard).
    pub key_id: String,
}

/// Whether the request presents an API key at all.
pub fn has_key(headers: &HeaderMap) -> bool {
    headers.contains_key(axum::http::header::AUTHORIZATION) || headers.contains_key("x-api-key")
}

/// The `{ws}` path parameter of a workspace route.
async fn path_workspace(parts: &mut Parts, state: &AppState) -> Result<String, ApiError> {
    let params = RawPathParams::from_request_parts(parts, state).await.map_err(|rejection| match rejection {
        // `%ff` in the path: the client's mistake, not the server's.
        axum::extract::rejection::RawPathParamsRejection::InvalidUtf8InPathParam(_) => ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid",
            "the path is not valid UTF-8 once percent-decoded: check its `%xx` escapes",
        ),
        other => ApiError::internal(format!("workspace route without path parameters: {other}")),
    })?;
    params
        .iter()
        .find(|(name, _)| *name == "ws")
        .map(|(_, value)| value.to_owned())
        .ok_or_else(|| ApiError::internal("workspace route without a {ws} parameter"))
}

/// The dashboard's path: a signed-in session may use any existing workspace.
async fn session_access(parts: &mut Parts, state: &AppState, session: SessionAuth) -> Result<Access, ApiError> {
    let path_workspace = path_workspace(parts, state).await?;
    let wanted = path_workspace.clone();
    let found = state.blocking(move |backend| Ok(backend.workspaces()?.into_iter().find(|w| w.as_str() == wanted))).await?;
    let workspace = found.ok_or_else(|| workspace_not_found(&path_workspace))?;
    check_csrf(parts, &session)?;
    Ok(Access { workspace, key_id: "session".to_owned() })
}

/// The key presented with the request, if any.
fn presented_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let missing =
        || ApiError::unauthorized("missing API key: send `Authorization: Bearer <secret key>` or `X-Api-Key: <secret key>`");
    let raw = if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| ApiError::unauthorized("invalid API key"))?;
        let (scheme, token) = value.trim().split_once(' ').ok_or_else(missing)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::unauthorized("unsupported authorization scheme: use `Authorization: Bearer <secret key>`"));
        }
        token.trim().to_owned()
    } else if let Some(value) = headers.get("x-api-key") {
        value.to_str().map_err(|_| ApiError::unauthorized("invalid API key"))?.trim().to_owned()
    } else {
        return Err(missing());
    };
    if raw.is_empty() {
        return Err(missing());
    }
    if raw.len() > MAX_KEY_LEN {
        return Err(ApiError::unauthorized("invalid API key"));
    }
    Ok(raw)
}

impl FromRequestParts<AppState> for Access {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Access, ApiError> {
        if !has_key(&parts.headers)
            && let Some(session) = state.sessions().from_headers(&parts.headers, state.now())
        {
            return session_access(parts, state, session).await;
        }
        let plain = presented_key(&parts.headers)?;
        let hash = hash_key(&plain);
        let key = state.blocking(move |backend| Ok(backend.key_by_hash(&hash)?)).await?;
        let key = match key {
            Some(key) if !key.revoked => key,
            // Unknown and revoked keys get the same answer: a revoked key's
            // holder learns nothing more than a guesser.
            _ => return Err(ApiError::unauthorized("invalid API key")),
        };
        let path_workspace = path_workspace(parts, state).await?;
        if key.workspace.as_str() != path_workspace {
            return Err(workspace_not_found(&path_workspace));
        }
        if key.kind != KeyKind::Secret {
            return Err(ApiError::forbidden(
                "a write key may only send tracking events: use a secret API key (`sk_…`) to read and manage the workspace",
            ));
        }
        Ok(Access { workspace: key.workspace, key_id: key.id })
    }
}

/// The answer for a workspace the caller may not see, whether or not it exists.
pub fn workspace_not_found(raw: &str) -> ApiError {
    let shown: String = raw.chars().take(64).collect();
    ApiError::not_found(format!("workspace `{shown}` not found"))
}

/// Who is calling a route that is not under one workspace
/// (`GET /api/v1/workspaces`): the signed-in admin sees every workspace, a
/// secret key only its own.
#[derive(Debug, Clone)]
pub enum Caller {
    Admin,
    Key(Access),
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        if !has_key(&parts.headers)
            && let Some(session) = state.sessions().from_headers(&parts.headers, state.now())
        {
            check_csrf(parts, &session)?;
            return Ok(Caller::Admin);
        }
        let plain = presented_key(&parts.headers)?;
        let hash = hash_key(&plain);
        let key = state.blocking(move |backend| Ok(backend.key_by_hash(&hash)?)).await?;
        match key {
            Some(key) if !key.revoked && key.kind == KeyKind::Secret => {
                Ok(Caller::Key(Access { workspace: key.workspace, key_id: key.id }))
            }
            Some(key) if !key.revoked => Err(ApiError::forbidden(
                "a write key may only send tracking events: use a secret API key (`sk_…`) to read and manage the workspace",
            )),
            _ => Err(ApiError::unauthorized("invalid API key")),
        }
    }
}
