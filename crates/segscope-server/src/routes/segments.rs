//! Segments and static lists: CRUD, criteria testing, members, the
//! membership log, the summary and breakdowns by field.
//!
//! Criteria arrive as text (`criteria_text`) or JSON (`criteria`) and are
//! parsed against the workspace's schema inside the same blocking task that
//! applies them, so the names they use (attributes, stages, other segments)
//! are checked against the state they will be saved into. Responses always
//! carry both forms, so the dashboard's editor and an integrator's JSON both
//! round-trip.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use segscope_core::backend::Backend;
use segscope_core::engine::{Command, ContactRef, Definition, Outcome, Reason, SegmentSpec};
use segscope_core::ids::{ContactId, SegmentId, WorkspaceId};
use segscope_core::model::Country;
use segscope_core::summary::{SummaryRequest, View};
use segscope_core::time::{Granularity, RangeBound, RangePreset, Secs, Tz, buckets, resolve_range};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::auth::Access;
use crate::error::ApiError;
use crate::params::Params;
use crate::routes::{JsonBody, parse_criteria, segment_id};
use crate::wire::{
    self, BreakdownOut, ContactRefInput, CriteriaInput, CriteriaTestOut, ListChange, PageOut, SegmentCreate, SegmentOut,
    SegmentPatch,
};

/// Members and log entries per page unless `limit` says otherwise.
const DEFAULT_PAGE: u64 = 100;
/// The most a page may hold: the core's cap (`engine::queries::MAX_PAGE`,
/// not exported), refused here rather than silently clamped.
const MAX_PAGE: u64 = 1_000;

#[derive(Debug, Deserialize)]
pub struct SegmentPath {
    pub(crate) id: String,
}

fn segment_out(backend: &dyn Backend, ws: &WorkspaceId, id: SegmentId, now: Secs) -> Result<SegmentOut, ApiError> {
    let info = backend.segment(ws, id, now)?;
    let schema = backend.schema(ws)?;
    Ok(wire::segment_out(&info, &schema))
}

pub async fn list(access: Access, params: Params, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    params.finish()?;
    let ws = access.workspace;
    let now = state.now();
    state
        .blocking(move |backend| {
            let infos = backend.segments(&ws, now)?;
            let schema = backend.schema(&ws)?;
            let items: Vec<SegmentOut> = infos.iter().map(|info| wire::segment_out(info, &schema)).collect();
            Ok(Json(json!({ "items": items })))
        })
        .await
}

pub async fn show(
    access: Access,
    params: Params,
    Path(path): Path<SegmentPath>,
    State(state): State<AppState>,
) -> Result<Json<SegmentOut>, ApiError> {
    params.finish()?;
    let id = segment_id(&path.id)?;
    let ws = access.workspace;
    let now = state.now();
    state.blocking(move |backend| Ok(Json(segment_out(backend, &ws, id, now)?))).await
}

pub async fn create(
    access: Access,
    params: Params,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<SegmentCreate>,
) -> Result<(StatusCode, Json<SegmentOut>), ApiError> {
    params.finish()?;
    let ws = access.workspace;
    let now = state.now();
    state
        .blocking(move |backend| {
            let schema = backend.schema(&ws)?;
            let criteria = parse_criteria(&schema, body.criteria_text.as_deref(), body.criteria.as_ref())?;
            let definition = match (body.is_static, criteria) {
                (true, Some(_)) => {
                    return Err(ApiError::invalid("a static list has no criteria: drop `criteria`/`criteria_text` or `static`"));
                }
                (true, None) => Definition::Static,
                (false, Some(criteria)) => Definition::Dynamic(criteria),
                (false, None) => {
                    return Err(ApiError::invalid(
                        "a segment needs criteria: give `criteria_text` or `criteria`, or `\"static\": true` for a list",
                    ));
                }
            };
            let spec = SegmentSpec { name: body.name, description: body.description, definition };
            let id = match backend.apply(&ws, Command::CreateSegment(spec), now)? {
                Outcome::SegmentSaved(id) => id,
                other => return Err(ApiError::internal(format!("create segment answered {other:?}"))),
            };
            Ok((StatusCode::CREATED, Json(segment_out(backend, &ws, id, now)?)))
        })
        .await
}

pub async fn update(
    access: Access,
    params: Params,
    Path(path): Path<SegmentPath>,
    State(state): State<AppState>,
    JsonBody(patch): JsonBody<SegmentPatch>,
) -> Result<Json<SegmentOut>, ApiError> {
    params.finish()?;
    let id = segment_id(&path.id)?;
    let ws = access.workspace;
    let now = state.now();
    state
        .blocking(move |backend| {
            let current = backend.segment(&ws, id, now)?;
            let schema = backend.schema(&ws)?;
            let criteria = parse_criteria(&schema, patch.criteria_text.as_deref(), patch.criteria.as_ref())?;
            if current.is_static && criteria.is_some() {
                return Err(ApiError::invalid(
                    "a static list has no criteria: create a dynamic segment instead of editing the list",
                ));
            }
            let definition = match (criteria, current.criteria) {
                (Some(criteria), _) => Definition::Dynamic(criteria),
                (None, Some(existing)) => Definition::Dynamic(existing),
                (None, None) => Definition::Static,
            };
            let spec = SegmentSpec {
                name: patch.name.unwrap_or(current.name),
                description: patch.description.unwrap_or(current.description),
                definition,
            };
            backend.apply(&ws, Command::UpdateSegment { id, spec }, now)?;
            Ok(Json(segment_out(backend, &ws, id, now)?))
        })
        .await
}

pub async fn delete(
    access: Access,
    params: Params,
    Path(path): Path<SegmentPath>,
    State(state): State<AppState>,
) -> Result<StatusCode, ApiError> {
    params.finish()?;
    let id = segment_id(&path.id)?;
    let ws = access.workspace;
    let now = state.now();
    state
        .blocking(move |backend| {
            backend.apply(&ws, Command::DeleteSegment(id), now)?;
            Ok(StatusCode::NO_CONTENT)
        })
        .await
}

pub async fn test(
    access: Access,
    params: Params,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CriteriaInput>,
) -> Result<Json<CriteriaTestOut>, ApiError> {
    params.finish()?;
    let ws = access.workspace;
    let now = state.now();
    state
        .blocking(move |backend| {
            let schema = backend.schema(&ws)?;
            let criteria = parse_criteria(&schema, body.criteria_text.as_deref(), body.criteria.as_ref())?
                .ok_or_else(|| ApiError::invalid("give the criteria to test as `criteria_text` or `criteria`"))?;
            let result = backend.test_criteria(&ws, &criteria, now)?;
            let json = segscope_core::criteria::json::to_json(&criteria);
            let text = schema.print(&criteria);
            Ok(Json(wire::criteria_test_out(result, json, text)))
        })
        .await
}

fn view_param(params: &mut Params) -> Result<View, ApiError> {
    Ok(params.parsed("view", View::parse)?.unwrap_or(View::All))
}

fn page_params(params: &mut Params) -> Result<(Option<u64>, usize), ApiError> {
    let cursor = params.number("cursor", 0, u64::MAX)?;
    let limit = params.number("limit", 1, MAX_PAGE)?.unwrap_or(DEFAULT_PAGE);
    Ok((cursor, limit as usize))
}

pub async fn members(
    access: Access,
    mut params: Params,
    Path(path): Path<SegmentPath>,
    State(state): State<AppState>,
) -> Result<Json<PageOut<wire::ContactRowOut>>, ApiError> {
    let view = view_param(&mut params)?;
    let (cursor, limit) = page_params(&mut params)?;
    params.finish()?;
    let id = segment_id(&path.id)?;
    let ws = access.workspace;
    let now = state.now();
    state
        .blocking(move |backend| {
            let page = backend.members(&ws, id, view, cursor, limit, now)?;
            Ok(Json(wire::page_out(page, wire::contact_row_out)))
        })
        .await
}

pub async fn log(
    access: Access,
    mut params: Params,
    Path(path): Path<SegmentPath>,
    State(state): State<AppState>,
) -> Result<Json<PageOut<wire::LogEntryOut>>, ApiError> {
    let (cursor, limit) = page_params(&mut params)?;
    params.finish()?;
    let id = segment_id(&path.id)?;
    let ws = access.workspace;
    state
        .blocking(move |backend| {
            let page = backend.membership_log(&ws, id, cursor, limit)?;
            Ok(Json(wire::page_out(page, wire::log_entry_out)))
        })
        .await
}

fn contact_refs(inputs: Vec<ContactRefInput>) -> Result<Vec<ContactRef>, ApiError> {
    inputs
        .into_iter()
        .enumerate()
        .map(|(index, input)| match input {
            ContactRefInput::Id(n) => Ok(ContactRef::Id(ContactId(n))),
            ContactRefInput::Text(text) => Ok(crate::routes::contact_ref(&text)),
            ContactRefInput::Explicit(explicit) => match (explicit.id, explicit.email, explicit.external_id) {
                (Some(id), None, None) => Ok(ContactRef::Id(ContactId(id))),
                (None, Some(email), None) => Ok(ContactRef::Email(email)),
                (None, None, Some(external)) => Ok(ContactRef::ExternalId(external)),
                _ => Err(ApiError::invalid(format!("contacts[{index}]: give exactly one of `id`, `email` or `external_id`"))
                    .with_detail("location", json!({ "pointer": format!("/contacts/{index}") }))),
            },
        })
        .collect()
}

async fn change_list(
    access: Access,
    params: Params,
    path: SegmentPath,
    state: AppState,
    body: ListChange,
    add: bool,
) -> Result<Json<Value>, ApiError> {
    params.finish()?;
    let id = segment_id(&path.id)?;
    let contacts = contact_refs(body.contacts)?;
    let ws = access.workspace;
    let now = state.now();
    state
        .blocking(move |backend| {
            let command = if add {
                Command::AddToList { list: id, contacts, reason: Reason::Manual }
            } else {
                Command::RemoveFromList { list: id, contacts }
            };
            match backend.apply(&ws, command, now)? {
                Outcome::ListChanged { changed, unknown } => Ok(Json(json!({ "changed": changed, "unknown": unknown }))),
                other => Err(ApiError::internal(format!("list change answered {other:?}"))),
            }
        })
        .await
}

pub async fn add_members(
    access: Access,
    params: Params,
    Path(path): Path<SegmentPath>,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ListChange>,
) -> Result<Json<Value>, ApiError> {
    change_list(access, params, path, state, body, true).await
}

pub async fn remove_members(
    access: Access,
    params: Params,
    Path(path): Path<SegmentPath>,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ListChange>,
) -> Result<Json<Value>, ApiError> {
    change_list(access, params, path, state, body, false).await
}

/// The raw summary parameters, read (and unknown ones refused) before the
/// workspace's time zone is known.
pub(crate) struct SummaryParams {
    view: View,
    tz: Option<String>,
    from: Option<RangeBound>,
    to: Option<RangeBound>,
    range: Option<RangePreset>,
    granularity: Option<Granularity>,
    country: Option<Country>,
    region: Option<String>,
}

impl SummaryParams {
    pub(crate) fn read(params: &mut Params) -> Result<SummaryParams, ApiError> {
        let out = SummaryParams {
            view: view_param(params)?,
            tz: params.one("tz")?,
            from: params.parsed("from", RangeBound::parse)?,
            to: params.parsed("to", RangeBound::parse)?,
            range: params.parsed("range", RangePreset::parse)?,
            granularity: params.parsed("granularity", Granularity::parse)?,
            country: params.parsed("country", Country::parse)?,
            region: params.one("region")?,
        };
        if out.region.is_some() && out.country.is_none() {
            return Err(ApiError::bad_parameter("region", "`region` drills into a country: give `country` too"));
        }
        Ok(out)
    }

    /// The core request, with the time zone defaulting to the workspace's.
    pub(crate) fn resolve(self, workspace_tz: &str, now: Secs) -> Result<SummaryRequest, ApiError> {
        let tz = match &self.tz {
            Some(name) => Tz::parse(name).map_err(|err| ApiError::bad_parameter("tz", err.message))?,
            None => Tz::parse(workspace_tz)?,
        };
        let range = resolve_range(self.from, self.to, self.range, now, &tz).map_err(|err| {
            let parameter = if self.range.is_some() { "range" } else { "from" };
            ApiError::bad_parameter(parameter, err.message)
        })?;
        let granularity = self.granularity.unwrap_or_else(|| Granularity::default_for(range, &tz));
        // Checked here so that the error names the parameter to change.
        buckets(range, &tz, granularity).map_err(|err| ApiError::bad_parameter("granularity", err.message))?;
        Ok(SummaryRequest { view: self.view, range, tz, granularity, country: self.country, region: self.region })
    }
}

/// The summary, with an `ETag` over everything but `computed_at`: a client
/// that sends it back in `If-None-Match` gets `304` while the numbers have
/// not changed. `Cache-Control: private, no-cache` — revalidate each time
/// (the data changes with every write), never in a shared cache.
pub async fn summary(
    access: Access,
    mut params: Params,
    headers: HeaderMap,
    Path(path): Path<SegmentPath>,
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    let raw = SummaryParams::read(&mut params)?;
    params.finish()?;
    let id = segment_id(&path.id)?;
    let ws = access.workspace;
    let now = state.now();
    let body = state
        .blocking(move |backend| {
            let settings = backend.settings(&ws)?;
            let request = raw.resolve(&settings.time_zone, now)?;
            let summary = backend.summary(&ws, id, &request, now)?;
            Ok(wire::summary_json(&summary))
        })
        .await?;
    let mut fingerprint = body.clone();
    if let Some(object) = fingerprint.as_object_mut() {
        object.remove("computed_at");
    }
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(fingerprint.to_string().as_bytes()))[..32]);
    let cache = [(header::CACHE_CONTROL, "private, no-cache".to_owned()), (header::ETAG, etag.clone())];
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag || tag.trim() == "*"));
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, cache).into_response());
    }
    Ok((cache, Json(body)).into_response())
}

pub async fn breakdown(
    access: Access,
    mut params: Params,
    Path(path): Path<SegmentPath>,
    State(state): State<AppState>,
) -> Result<Json<BreakdownOut>, ApiError> {
    let field = params.required("field")?;
    let view = view_param(&mut params)?;
    params.finish()?;
    let id = segment_id(&path.id)?;
    let ws = access.workspace;
    let now = state.now();
    state
        .blocking(move |backend| {
            let breakdown = backend.breakdown(&ws, id, view, field.trim(), now)?;
            Ok(Json(wire::breakdown_out(breakdown, view.key())))
        })
        .await
}
