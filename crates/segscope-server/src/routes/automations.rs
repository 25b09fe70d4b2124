//! Journeys and campaigns: stored so that a segment's summary can count
//! them (SPEC §1). Both kinds share one shape (name, status, kind, the
//! segments they reference), so one set of handlers serves both, and the
//! route table binds each kind with a one-line wrapper.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use segscope_core::backend::Backend;
use segscope_core::engine::{Command, Outcome, kind_name};
use segscope_core::ids::{SegmentId, WorkspaceId};
use segscope_core::model::{Automation, AutomationKind, AutomationSpec, Status};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Access;
use crate::error::ApiError;
use crate::params::Params;
use crate::routes::{JsonBody, shorten};
use crate::wire::{self, AutomationCreate, AutomationOut, AutomationPatch};

#[derive(Debug, Deserialize)]
pub struct AutomationPath {
    id: String,
}

fn parse_status(raw: &str) -> Result<Status, ApiError> {
    Status::parse(raw).ok_or_else(|| {
        ApiError::invalid(format!(
            "unknown status `{}`: use draft, scheduled, active, paused, completed or archived",
            shorten(raw)
        ))
        .with_detail("field", json!("status"))
    })
}

fn automation_id(kind: AutomationKind, raw: &str) -> Result<u32, ApiError> {
    raw.trim().parse::<u32>().map_err(|_| ApiError::not_found(format!("{} `{}` not found", kind_name(kind), shorten(raw))))
}

fn find(backend: &dyn Backend, ws: &WorkspaceId, kind: AutomationKind, id: u32) -> Result<Automation, ApiError> {
    backend
        .automations(ws, kind)?
        .into_iter()
        .find(|a| a.id == id)
        .ok_or_else(|| ApiError::not_found(format!("{} #{id} not found", kind_name(kind))))
}

fn out(backend: &dyn Backend, ws: &WorkspaceId, kind: AutomationKind, id: u32) -> Result<AutomationOut, ApiError> {
    let automation = find(backend, ws, kind, id)?;
    Ok(wire::automation_out(&automation, &backend.schema(ws)?))
}

async fn list(access: Access, params: Params, state: AppState, kind: AutomationKind) -> Result<Json<Value>, ApiError> {
    params.finish()?;
    let ws = access.workspace;
    state
        .blocking(move |backend| {
            let schema = backend.schema(&ws)?;
            let items: Vec<AutomationOut> =
                backend.automations(&ws, kind)?.iter().map(|a| wire::automation_out(a, &schema)).collect();
            Ok(Json(json!({ "items": items })))
        })
        .await
}

async fn show(
    access: Access,
    params: Params,
    path: AutomationPath,
    state: AppState,
    kind: AutomationKind,
) -> Result<Json<AutomationOut>, ApiError> {
    params.finish()?;
    let id = automation_id(kind, &path.id)?;
    let ws = access.workspace;
    state.blocking(move |backend| Ok(Json(out(backend, &ws, kind, id)?))).await
}

async fn create(
    access: Access,
    params: Params,
    state: AppState,
    kind: AutomationKind,
    body: AutomationCreate,
) -> Result<(StatusCode, Json<AutomationOut>), ApiError> {
    params.finish()?;
    let status = body.status.as_deref().map(parse_status).transpose()?.unwrap_or(Status::Draft);
    let spec = AutomationSpec {
        name: body.name,
        status,
        subtype: body.kind,
        segment_ids: body.segment_ids.into_iter().map(SegmentId).collect(),
    };
    let ws = access.workspace;
    let now = state.now();
    state
        .blocking(move |backend| match backend.apply(&ws, Command::CreateAutomation { kind, spec }, now)? {
            Outcome::AutomationSaved(id) => Ok((StatusCode::CREATED, Json(out(backend, &ws, kind, id)?))),
            other => Err(ApiError::internal(format!("create {} answered {other:?}", kind_name(kind)))),
        })
        .await
}

async fn update(
    access: Access,
    params: Params,
    path: AutomationPath,
    state: AppState,
    kind: AutomationKind,
    patch: AutomationPatch,
) -> Result<Json<AutomationOut>, ApiError> {
    params.finish()?;
    let id = automation_id(kind, &path.id)?;
    let status = patch.status.as_deref().map(parse_status).transpose()?;
    let ws = access.workspace;
    let now = state.now();
    state
        .blocking(move |backend| {
            let current = find(backend, &ws, kind, id)?;
            let spec = AutomationSpec {
                name: patch.name.unwrap_or(current.name),
                status: status.unwrap_or(current.status),
                subtype: patch.kind.unwrap_or(current.subtype),
                segment_ids: patch.segment_ids.map_or(current.segment_ids, |ids| ids.into_iter().map(SegmentId).collect()),
            };
            backend.apply(&ws, Command::UpdateAutomation { kind, id, spec }, now)?;
            Ok(Json(out(backend, &ws, kind, id)?))
        })
        .await
}

async fn delete(
    access: Access,
    params: Params,
    path: AutomationPath,
    state: AppState,
    kind: AutomationKind,
) -> Result<StatusCode, ApiError> {
    params.finish()?;
    let id = automation_id(kind, &path.id)?;
    let ws = access.workspace;
    let now = state.now();
    state
        .blocking(move |backend| {
            backend.apply(&ws, Command::DeleteAutomation { kind, id }, now)?;
            Ok(StatusCode::NO_CONTENT)
        })
        .await
}

macro_rules! bind_kind {
    ($kind:expr, $list:ident, $show:ident, $create:ident, $update:ident, $delete:ident) => {
        pub async fn $list(access: Access, params: Params, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
            list(access, params, state, $kind).await
        }

        pub async fn $show(
            access: Access,
            params: Params,
            Path(path): Path<AutomationPath>,
            State(state): State<AppState>,
        ) -> Result<Json<AutomationOut>, ApiError> {
            show(access, params, path, state, $kind).await
        }

        pub async fn $create(
            access: Access,
            params: Params,
            State(state): State<AppState>,
            JsonBody(body): JsonBody<AutomationCreate>,
        ) -> Result<(StatusCode, Json<AutomationOut>), ApiError> {
            create(access, params, state, $kind, body).await
        }

        pub async fn $update(
            access: Access,
            params: Params,
            Path(path): Path<AutomationPath>,
            State(state): State<AppState>,
            JsonBody(patch): JsonBody<AutomationPatch>,
        ) -> Result<Json<AutomationOut>, ApiError> {
            update(access, params, path, state, $kind, patch).await
        }

        pub async fn $delete(
            access: Access,
            params: Params,
            Path(path): Path<AutomationPath>,
            State(state): State<AppState>,
        ) -> Result<StatusCode, ApiError> {
            delete(access, params, path, state, $kind).await
        }
    };
}

bind_kind!(AutomationKind::Journey, list_journeys, show_journey, create_journey, update_journey, delete_journey);
bind_kind!(AutomationKind::Campaign, list_campaigns, show_campaign, create_campaign, update_campaign, delete_campaign);
