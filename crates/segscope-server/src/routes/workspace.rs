//! The workspace itself: counts for freshness and listings, and its settings.

use axum::Json;
use segscope_core::engine::Command;

use crate::AppState;
use crate::auth::Access;
use crate::error::ApiError;
use crate::params::Params;
use crate::routes::JsonBody;
use crate::wire::{self, SettingsOut, SettingsPatch, WorkspaceOut};
use axum::extract::State;

pub async fn show(access: Access, params: Params, State(state): State<AppState>) -> Result<Json<WorkspaceOut>, ApiError> {
    params.finish()?;
    let ws = access.workspace;
    state
        .blocking(move |backend| {
            let stats = backend.stats(&ws)?;
            let settings = backend.settings(&ws)?;
            Ok(Json(wire::workspace_out(&ws, &stats, &settings)))
        })
        .await
}

pub async fn settings(access: Access, params: Params, State(state): State<AppState>) -> Result<Json<SettingsOut>, ApiError> {
    params.finish()?;
    let ws = access.workspace;
    state.blocking(move |backend| Ok(Json(wire::settings_out(&backend.settings(&ws)?)))).await
}

pub async fn patch_settings(
    access: Access,
    params: Params,
    State(state): State<AppState>,
    JsonBody(patch): JsonBody<SettingsPatch>,
) -> Result<Json<SettingsOut>, ApiError> {
    params.finish()?;
    let ws = access.workspace;
    let now = state.now();
    state
        .blocking(move |backend| {
            let settings = wire::patch_settings(backend.settings(&ws)?, patch);
            backend.apply(&ws, Command::UpdateSettings(settings), now)?;
            Ok(Json(wire::settings_out(&backend.settings(&ws)?)))
        })
        .await
}
