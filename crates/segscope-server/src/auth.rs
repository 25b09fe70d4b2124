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

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use segscope_core::backend::KeyKind;
use segscope_core::ids::WorkspaceId;

use crate::AppState;
use crate::error::ApiError;
use crate::keys::hash_key;

/// Keys longer than this are refused without hashing (no real key is).
const MAX_KEY_LEN: usize = 256;

/// A caller allowed to read and manage the workspace of the path.
#[derive(Debug, Clone)]
pub struct Access {
    pub workspace: WorkspaceId,
    /// The public id of the key used, for logs.
    pub key_id: String,
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
        let plain = presented_key(&parts.headers)?;
        let hash = hash_key(&plain);
        let key = state.blocking(move |backend| Ok(backend.key_by_hash(&hash)?)).await?;
        let key = match key {
            Some(key) if !key.revoked => key,
            // Unknown and revoked keys get the same answer: a revoked key's
            // holder learns nothing more than a guesser.
            _ => return Err(ApiError::unauthorized("invalid API key")),
        };
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::internal(format!("workspace route without path parameters: {rejection}")))?;
        let path_workspace = params
            .iter()
            .find(|(name, _)| *name == "ws")
            .map(|(_, value)| value.to_owned())
            .ok_or_else(|| ApiError::internal("workspace route without a {ws} parameter"))?;
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
