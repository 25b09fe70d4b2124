//! One contact: everything about it, and deleting it (which ends its
//! memberships with reason `deleted` and removes it from every count).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use segscope_core::engine::Command;
use serde::Deserialize;

use crate::AppState;
use crate::auth::Access;
use crate::error::ApiError;
use crate::params::Params;
use crate::routes::contact_ref;
use crate::wire::{self, ContactOut};

#[derive(Debug, Deserialize)]
pub struct ContactPath {
    contact: String,
}

pub async fn show(
    access: Access,
    params: Params,
    Path(path): Path<ContactPath>,
    State(state): State<AppState>,
) -> Result<Json<ContactOut>, ApiError> {
    params.finish()?;
    let who = contact_ref(&path.contact);
    let ws = access.workspace;
    let now = state.now();
    state
        .blocking(move |backend| {
            let detail = backend.contact(&ws, &who, now)?;
            let schema = backend.schema(&ws)?;
            Ok(Json(wire::contact_out(detail, &schema)))
        })
        .await
}

pub async fn delete(
    access: Access,
    params: Params,
    Path(path): Path<ContactPath>,
    State(state): State<AppState>,
) -> Result<StatusCode, ApiError> {
    params.finish()?;
    let who = contact_ref(&path.contact);
    let ws = access.workspace;
    let now = state.now();
    state
        .blocking(move |backend| {
            backend.apply(&ws, Command::DeleteContact(who), now)?;
            Ok(StatusCode::NO_CONTENT)
        })
        .await
}
