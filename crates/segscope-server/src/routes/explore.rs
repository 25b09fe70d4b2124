//! The routes a dashboard and an integrator need beyond CRUD: the list of
//! workspaces, API keys, comparing segments, the contacts behind any count
//! of the summary (drill-down lists) and exports of them (CSV, NDJSON).
//!
//! Drill-down filters work on the contact row's own fields (kind via
//! `view`, stage, country, region, city, subscription status,
//! reachability, provider, or "no value" via `missing`), so the numbers of
//! the summary and the lengths of these lists come from the same facts.
//! The filter runs over the segment's members in contact-id order, so a
//! page is keyset-paged like every other list: `next_cursor` is the last
//! contact id returned.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use segscope_core::backend::{Backend, KeyKind};
use segscope_core::esp::Provider;
use segscope_core::ids::{SegmentId, WorkspaceId};
use segscope_core::model::{Channel, Country, Settings, Source};
use segscope_core::subscription::{Reachability, SubscriptionStatus};
use segscope_core::summary::View;
use segscope_core::time::Secs;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::{Access, Caller};
use crate::error::ApiError;
use crate::params::Params;
use crate::routes::segments::{SegmentPath, SummaryParams};
use crate::routes::{JsonBody, segment_id, shorten};
use crate::wire::{self, ContactRowOut, PageOut};

/// The most members one drill-down request scans per backend call.
const SCAN_PAGE: usize = 1_000;
/// Rows per page unless `limit` says otherwise, and the most allowed.
const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 1_000;
/// Segments one comparison takes.
const COMPARE_MIN: usize = 2;
const COMPARE_MAX: usize = 4;

// ------------------------------------------------------------------ workspaces

fn workspace_json(backend: &dyn Backend, id: &WorkspaceId) -> Result<Value, ApiError> {
    let stats = backend.stats(id)?;
    let settings = backend.settings(id)?;
    serde_json::to_value(wire::workspace_out(id, &stats, &settings)).map_err(|e| ApiError::internal(e.to_string()))
}

/// `GET /api/v1/workspaces`: the signed-in admin sees every workspace, a
/// secret key only its own.
pub async fn list_workspaces(caller: Caller, params: Params, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    params.finish()?;
    state
        .blocking(move |backend| {
            let ids = match caller {
                Caller::Admin => backend.workspaces()?,
                Caller::Key(access) => vec![access.workspace],
            };
            let items = ids.iter().map(|id| workspace_json(backend, id)).collect::<Result<Vec<_>, _>>()?;
            Ok(Json(json!({ "items": items })))
        })
        .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceCreate {
    id: String,
    #[serde(default)]
    time_zone: Option<String>,
}

/// `POST /api/v1/workspaces` (admin only): creates a workspace and answers
/// its first secret and write keys, shown once.
pub async fn create_workspace(
    caller: Caller,
    params: Params,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<WorkspaceCreate>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    params.finish()?;
    if !matches!(caller, Caller::Admin) {
        return Err(ApiError::forbidden(
            "an API key is scoped to one workspace: sign in to the dashboard as admin to create workspaces",
        ));
    }
    let id = WorkspaceId::parse(body.id.trim()).map_err(|e| ApiError::from(e).with_detail("field", json!("id")))?;
    let mut settings = Settings::default();
    if let Some(tz) = body.time_zone {
        segscope_core::time::Tz::parse(&tz).map_err(|e| ApiError::from(e).with_detail("field", json!("time_zone")))?;
        settings.time_zone = tz;
    }
    let now = state.now();
    state
        .blocking(move |backend| {
            if backend.workspaces()?.contains(&id) {
                return Err(ApiError::new(StatusCode::CONFLICT, "conflict", format!("workspace `{id}` already exists")));
            }
            backend.create_workspace(&id, settings, now)?;
            let (secret, secret_record) = crate::keys::new_key(&id, KeyKind::Secret, "created by the dashboard", now);
            let (write, write_record) = crate::keys::new_key(&id, KeyKind::Write, "created by the dashboard", now);
            backend.add_key(secret_record)?;
            backend.add_key(write_record)?;
            let mut out = workspace_json(backend, &id)?;
            out["secret_key"] = json!(secret);
            out["write_key"] = json!(write);
            Ok((StatusCode::CREATED, Json(out)))
        })
        .await
}

// ------------------------------------------------------------------ keys

fn key_json(key: &segscope_core::backend::ApiKey) -> Value {
    json!({
        "id": key.id,
        "kind": match key.kind { KeyKind::Secret => "secret", KeyKind::Write => "write" },
        "label": key.label,
        "created_at": wire::instant(key.created_at),
        "revoked": key.revoked,
    })
}

/// `GET /api/v1/workspaces/{ws}/keys`: the workspace's keys (never their secrets).
pub async fn list_keys(access: Access, params: Params, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    params.finish()?;
    let ws = access.workspace;
    state
        .blocking(move |backend| {
            let items: Vec<Value> = backend.keys(&ws)?.iter().map(key_json).collect();
            Ok(Json(json!({ "items": items })))
        })
        .await
}

/// Labels name a key for people ("website", "CI"); as segment names, short.
const MAX_KEY_LABEL_CHARS: usize = 200;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyCreate {
    kind: String,
    #[serde(default)]
    label: String,
}

/// `POST /api/v1/workspaces/{ws}/keys`: a new key; the answer's `key` is
/// the only time its secret is shown.
pub async fn create_key(
    access: Access,
    params: Params,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<KeyCreate>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    params.finish()?;
    let kind = match body.kind.as_str() {
        "secret" => KeyKind::Secret,
        "write" => KeyKind::Write,
        other => {
            return Err(ApiError::invalid(format!("unknown key kind `{}`: use `secret` or `write`", shorten(other)))
                .with_detail("field", json!("kind")));
        }
    };
    if body.label.chars().count() > MAX_KEY_LABEL_CHARS {
        return Err(ApiError::invalid(format!("a key label is at most {MAX_KEY_LABEL_CHARS} characters"))
            .with_detail("field", json!("label")));
    }
    let ws = access.workspace;
    let now = state.now();
    state
        .blocking(move |backend| {
            let (plain, record) = crate::keys::new_key(&ws, kind, &body.label, now);
            backend.add_key(record.clone())?;
            let mut out = key_json(&record);
            out["key"] = json!(plain);
            Ok((StatusCode::CREATED, Json(out)))
        })
        .await
}

#[derive(Debug, Deserialize)]
pub struct KeyPath {
    key: String,
}

/// `DELETE /api/v1/workspaces/{ws}/keys/{key}`: revokes a key (204).
pub async fn revoke_key(
    access: Access,
    params: Params,
    Path(path): Path<KeyPath>,
    State(state): State<AppState>,
) -> Result<StatusCode, ApiError> {
    params.finish()?;
    let ws = access.workspace;
    state
        .blocking(move |backend| {
            if !backend.keys(&ws)?.iter().any(|k| k.id == path.key) {
                return Err(ApiError::not_found(format!("key `{}` not found", shorten(&path.key))));
            }
            backend.revoke_key(&ws, &path.key)?;
            Ok(StatusCode::NO_CONTENT)
        })
        .await
}

// ------------------------------------------------------------------ compare

/// `GET /api/v1/workspaces/{ws}/compare?segments=1,4[,…]&…`: the summaries
/// of two to four segments (segment `0` is all contacts) over the same
/// view, range and time zone, in the order asked.
pub async fn compare(access: Access, mut params: Params, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let raw_ids = params.required("segments")?;
    let raw = SummaryParams::read(&mut params)?;
    params.finish()?;
    let ids: Vec<SegmentId> = raw_ids
        .split(',')
        .map(|part| {
            part.trim().parse::<u32>().map(SegmentId).map_err(|_| {
                ApiError::bad_parameter(
                    "segments",
                    format!("`{}` is not a segment id: give ids separated by commas", shorten(part)),
                )
            })
        })
        .collect::<Result<_, _>>()?;
    if !(COMPARE_MIN..=COMPARE_MAX).contains(&ids.len()) {
        return Err(ApiError::bad_parameter(
            "segments",
            format!("compare {COMPARE_MIN} to {COMPARE_MAX} segments (give `0` for all contacts), not {}", ids.len()),
        ));
    }
    if let Some(twice) = ids.iter().enumerate().find_map(|(i, id)| ids[..i].contains(id).then_some(*id)) {
        return Err(ApiError::bad_parameter(
            "segments",
            format!("segment {} is given twice: compare different segments", twice.0),
        ));
    }
    let ws = access.workspace;
    let now = state.now();
    state
        .blocking(move |backend| {
            let settings = backend.settings(&ws)?;
            let request = raw.resolve(&settings.time_zone, now)?;
            let items = ids
                .iter()
                .map(|id| {
                    let summary = backend.summary(&ws, *id, &request, now).map_err(|err| {
                        // Name the parameter that holds the unknown id.
                        let api = ApiError::from(err);
                        if api.status == StatusCode::NOT_FOUND { api.with_detail("parameter", json!("segments")) } else { api }
                    })?;
                    Ok(wire::summary_json(&summary))
                })
                .collect::<Result<Vec<_>, ApiError>>()?;
            Ok(Json(json!({ "items": items })))
        })
        .await
}

// ------------------------------------------------------------------ drill-down

/// Which members a drill-down keeps.
#[derive(Debug, Default, Clone)]
struct RowFilter {
    stage: Option<String>,
    country: Option<String>,
    region: Option<String>,
    city: Option<String>,
    status: Option<String>,
    reachability: Option<String>,
    provider: Option<String>,
    channel: Option<String>,
    source: Option<String>,
    missing: Vec<String>,
}

const MISSING_FIELDS: [&str; 6] = ["stage", "country", "region", "city", "email", "source"];

impl RowFilter {
    fn read(params: &mut Params) -> Result<RowFilter, ApiError> {
        let filter = RowFilter {
            stage: params.one("stage")?,
            // Codes and names as the summary takes them ("France", "fr").
            country: params.parsed("country", Country::parse)?.map(|c| c.code().to_owned()),
            region: params.one("region")?,
            city: params.one("city")?,
            status: keyed(
                params,
                "status",
                |raw| SubscriptionStatus::parse(raw).map(SubscriptionStatus::key),
                || SubscriptionStatus::ALL.iter().map(|s| s.key()).collect(),
            )?,
            reachability: keyed(
                params,
                "reachability",
                |raw| Reachability::parse(raw).map(Reachability::key),
                || Reachability::ALL.iter().map(|r| r.key()).collect(),
            )?,
            provider: keyed(
                params,
                "provider",
                |raw| Provider::ALL.iter().map(|p| p.key()).find(|key| key.eq_ignore_ascii_case(raw.trim())),
                || Provider::ALL.iter().map(|p| p.key()).collect(),
            )?,
            channel: keyed(
                params,
                "channel",
                |raw| Channel::parse(raw).map(Channel::key),
                || Channel::ALL.iter().map(|c| c.key()).collect(),
            )?,
            source: keyed(
                params,
                "source",
                |raw| Source::parse(raw).map(Source::key),
                || Source::ALL.iter().map(|s| s.key()).collect(),
            )?,
            missing: params.all("missing"),
        };
        for field in &filter.missing {
            if !MISSING_FIELDS.contains(&field.as_str()) {
                return Err(ApiError::bad_parameter(
                    "missing",
                    format!("`missing` takes one of {}, not `{}`", MISSING_FIELDS.join(", "), shorten(field)),
                ));
            }
        }
        Ok(filter)
    }

    fn keeps(&self, row: &ContactRowOut) -> bool {
        fn same(wanted: &Option<String>, value: Option<&str>) -> bool {
            match wanted {
                None => true,
                Some(w) => value.is_some_and(|v| v.eq_ignore_ascii_case(w.trim())),
            }
        }
        let missing_ok = self.missing.iter().all(|field| {
            let value = match field.as_str() {
                "stage" => row.stage.as_deref(),
                "country" => row.country.as_deref(),
                "region" => row.region.as_deref(),
                "city" => row.city.as_deref(),
                "source" => row.source,
                _ => row.email.as_deref(),
            };
            value.is_none_or(|v| v.trim().is_empty())
        });
        missing_ok
            && same(&self.stage, row.stage.as_deref())
            && same(&self.country, row.country.as_deref())
            && same(&self.region, row.region.as_deref())
            && same(&self.city, row.city.as_deref())
            && same(&self.status, Some(row.subscription_status))
            && same(&self.reachability, Some(row.reachability))
            && same(&self.provider, Some(row.email_provider))
            && same(&self.channel, Some(row.channel))
            && same(&self.source, row.source)
    }
}

/// A parameter whose value must be one of a fixed set of keys: a typo is a
/// 422 listing them, not an empty list that looks like "none".
fn keyed(
    params: &mut Params,
    name: &'static str,
    key_of: impl Fn(&str) -> Option<&'static str>,
    keys: impl Fn() -> Vec<&'static str>,
) -> Result<Option<String>, ApiError> {
    match params.one(name)? {
        None => Ok(None),
        Some(raw) => match key_of(&raw) {
            Some(key) => Ok(Some(key.to_owned())),
            None => Err(ApiError::bad_parameter(
                name,
                format!("unknown {name} `{}`: use one of {}", shorten(&raw), keys().join(", ")),
            )),
        },
    }
}

/// Up to `limit` filtered members after `cursor`, scanning the segment in
/// contact-id order; `next_cursor` is set when more may follow.
#[allow(clippy::too_many_arguments)]
fn filtered_page(
    backend: &dyn Backend,
    ws: &WorkspaceId,
    id: SegmentId,
    view: View,
    filter: &RowFilter,
    mut cursor: Option<u64>,
    limit: usize,
    now: Secs,
) -> Result<PageOut<ContactRowOut>, ApiError> {
    let mut items = Vec::new();
    loop {
        let page = backend.members(ws, id, view, cursor, SCAN_PAGE, now)?;
        for row in page.items {
            let row = wire::contact_row_out(row);
            if filter.keeps(&row) {
                if items.len() == limit {
                    // One more match exists: the page is full and has a next.
                    let last: &ContactRowOut = items.last().expect("limit is at least 1");
                    return Ok(PageOut { next_cursor: Some(last.id.to_string()), items });
                }
                items.push(row);
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(PageOut { items, next_cursor: None }),
        }
    }
}

struct ListParams {
    view: View,
    filter: RowFilter,
    cursor: Option<u64>,
}

fn list_params(params: &mut Params) -> Result<ListParams, ApiError> {
    Ok(ListParams {
        view: params.parsed("view", View::parse)?.unwrap_or(View::All),
        filter: RowFilter::read(params)?,
        cursor: params.number("cursor", 0, u64::MAX)?,
    })
}

/// `GET /api/v1/workspaces/{ws}/segments/{id}/contacts?view=&stage=&country=&…`:
/// the contacts behind a number of the summary, keyset-paged.
pub async fn contacts(
    access: Access,
    mut params: Params,
    Path(path): Path<SegmentPath>,
    State(state): State<AppState>,
) -> Result<Json<PageOut<ContactRowOut>>, ApiError> {
    let list = list_params(&mut params)?;
    let limit = params.number("limit", 1, MAX_LIMIT)?.unwrap_or(DEFAULT_LIMIT) as usize;
    params.finish()?;
    let id = segment_id(&path.id)?;
    let ws = access.workspace;
    let now = state.now();
    state
        .blocking(move |backend| Ok(Json(filtered_page(backend, &ws, id, list.view, &list.filter, list.cursor, limit, now)?)))
        .await
}

const CSV_COLUMNS: [&str; 18] = [
    "id",
    "kind",
    "email",
    "external_id",
    "first_name",
    "last_name",
    "stage",
    "country",
    "region",
    "city",
    "created_at",
    "last_seen",
    "subscription_status",
    "reachability",
    "email_provider",
    "channel",
    "source",
    "sessions",
];

/// One CSV field (RFC 4180). A text that a spreadsheet would run as a
/// formula (`=`, `+`, `-`, `@` first) gets a leading `'`.
fn csv_field(out: &mut String, value: &str) {
    let guarded;
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        guarded = format!("'{value}");
        guarded.as_str()
    } else {
        value
    };
    if value.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

fn csv_row(out: &mut String, row: &ContactRowOut) {
    let id = row.id.to_string();
    let sessions = row.sessions.to_string();
    let cells: [&str; 18] = [
        &id,
        row.kind,
        row.email.as_deref().unwrap_or(""),
        row.external_id.as_deref().unwrap_or(""),
        row.first_name.as_deref().unwrap_or(""),
        row.last_name.as_deref().unwrap_or(""),
        row.stage.as_deref().unwrap_or(""),
        row.country.as_deref().unwrap_or(""),
        row.region.as_deref().unwrap_or(""),
        row.city.as_deref().unwrap_or(""),
        &row.created_at,
        row.last_seen.as_deref().unwrap_or(""),
        row.subscription_status,
        row.reachability,
        row.email_provider,
        row.channel,
        row.source.unwrap_or(""),
        &sessions,
    ];
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, cell);
    }
    out.push_str("\r\n");
}

/// `GET /api/v1/workspaces/{ws}/segments/{id}/export?format=csv|ndjson&…`:
/// the same rows as `…/contacts`, as a file. Without `limit`, the whole
/// list; with `limit` (≤ 100 000), one keyset page whose next cursor is in
/// the `X-Next-Cursor` header. The rows are read in one task before the
/// first byte is sent, so the file is as of the export's start (see
/// "Export" in API.md for the one caveat: the store is read in scans).
pub async fn export(
    access: Access,
    mut params: Params,
    Path(path): Path<SegmentPath>,
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    let format = params.one("format")?.unwrap_or_else(|| "csv".to_owned());
    let list = list_params(&mut params)?;
    let limit = params.number("limit", 1, 100_000)?;
    params.finish()?;
    let csv = match format.as_str() {
        "csv" => true,
        "ndjson" => false,
        other => {
            return Err(ApiError::bad_parameter(
                "format",
                format!("unknown export format `{}`: use `csv` or `ndjson`", shorten(other)),
            ));
        }
    };
    let id = segment_id(&path.id)?;
    let ws = access.workspace;
    let now = state.now();
    let (body, next, name) = state
        .blocking(move |backend| {
            let info = backend.segment(&ws, id, now)?;
            let page = filtered_page(
                backend,
                &ws,
                id,
                list.view,
                &list.filter,
                list.cursor,
                limit.map_or(usize::MAX, |l| l as usize),
                now,
            )?;
            let mut out = String::new();
            if csv {
                out.push_str(&CSV_COLUMNS.join(","));
                out.push_str("\r\n");
                for row in &page.items {
                    csv_row(&mut out, row);
                }
            } else {
                for row in &page.items {
                    out.push_str(&serde_json::to_string(row).map_err(|e| ApiError::internal(e.to_string()))?);
                    out.push('\n');
                }
            }
            Ok((out, page.next_cursor, file_name(&info.name, id)))
        })
        .await?;
    let (content_type, extension) = if csv { ("text/csv; charset=utf-8", "csv") } else { ("application/x-ndjson", "ndjson") };
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let disposition = format!("attachment; filename=\"{name}-contacts.{extension}\"");
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Some(next) = next.and_then(|n| HeaderValue::from_str(&n).ok()) {
        headers.insert("x-next-cursor", next);
    }
    Ok(response.into_response())
}

/// A file name from a segment name: ASCII letters and digits, dashes.
fn file_name(name: &str, id: SegmentId) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').chars().take(60).collect::<String>();
    if out.is_empty() { format!("segment-{}", id.0) } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        let mut out = String::new();
        csv_field(&mut out, "a,\"b\"");
        assert_eq!(out, "\"a,\"\"b\"\"\"");
        let mut out = String::new();
        csv_field(&mut out, "=HYPERLINK(1)");
        assert_eq!(out, "'=HYPERLINK(1)");
    }

    #[test]
    fn file_names_are_plain() {
        assert_eq!(file_name("Hot leads <script>", SegmentId(3)), "hot-leads-script");
        assert_eq!(file_name("<>", SegmentId(3)), "segment-3");
    }
}
