//! The route table and the helpers every handler shares: reading a JSON
//! body, reading ids from the path, and turning either form of criteria
//! into a validated [`Criteria`].
//!
//! Handlers are thin: extract ([`Access`](crate::auth::Access) first, so a
//! caller without a key learns nothing about the route's rules), convert,
//! one blocking call into the backend, convert back.

mod automations;
mod contacts;
mod explore;
mod home;
mod imports;
pub(crate) mod segments;
mod workspace;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::routing::{get, post};
use segscope_core::backend::SchemaSnapshot;
use segscope_core::criteria::Criteria;
use segscope_core::engine::ContactRef;
use segscope_core::ids::{ContactId, SegmentId};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::{ApiError, method_not_allowed, route_not_found};

pub fn router(state: AppState) -> Router {
    let max_import = state.config().max_import_bytes;
    let imports = Router::new()
        .route("/imports/contacts", post(imports::contacts))
        .route("/imports/events", post(imports::events))
        .layer(DefaultBodyLimit::max(max_import));
    let workspace = Router::new()
        .route("/", get(workspace::show))
        .route("/settings", get(workspace::settings).patch(workspace::patch_settings))
        .route("/segments", get(segments::list).post(segments::create))
        .route("/segments/test", post(segments::test))
        .route("/segments/{id}", get(segments::show).patch(segments::update).delete(segments::delete))
        .route("/segments/{id}/members", get(segments::members).post(segments::add_members))
        .route("/segments/{id}/members/remove", post(segments::remove_members))
        .route("/segments/{id}/log", get(segments::log))
        .route("/segments/{id}/summary", get(segments::summary))
        .route("/segments/{id}/breakdown", get(segments::breakdown))
        .route("/segments/{id}/contacts", get(explore::contacts))
        .route("/segments/{id}/export", get(explore::export))
        .route("/compare", get(explore::compare))
        .route("/keys", get(explore::list_keys).post(explore::create_key))
        .route("/keys/{key}", axum::routing::delete(explore::revoke_key))
        .route("/contacts/{contact}", get(contacts::show).delete(contacts::delete))
        .route("/journeys", get(automations::list_journeys).post(automations::create_journey))
        .route(
            "/journeys/{id}",
            get(automations::show_journey).patch(automations::update_journey).delete(automations::delete_journey),
        )
        .route("/campaigns", get(automations::list_campaigns).post(automations::create_campaign))
        .route(
            "/campaigns/{id}",
            get(automations::show_campaign).patch(automations::update_campaign).delete(automations::delete_campaign),
        )
        .merge(imports);
    let max_collect = state.config().max_collect_bytes;
    let max_webhook = state.config().max_webhook_bytes;
    let collect = Router::new()
        .route("/collect/{ws}", post(crate::collect::collect).options(crate::collect::preflight))
        .layer(DefaultBodyLimit::max(max_collect))
        .route_layer(axum::middleware::from_fn(crate::collect::cors));
    let webhooks = Router::new()
        .route("/webhooks/{provider}/{ws}", post(crate::webhooks::receive))
        .layer(DefaultBodyLimit::max(max_webhook));
    Router::new()
        .route("/", get(crate::dashboard::index))
        .route("/t.js", get(crate::collect::snippet))
        .merge(collect)
        .merge(webhooks)
        .route("/assets/{file}", get(crate::dashboard::assets))
        .route("/health", get(home::health))
        .route("/api/v1/session", get(crate::session::show).post(crate::session::sign_in).delete(crate::session::sign_out))
        .route("/api/v1/workspaces", get(explore::list_workspaces).post(explore::create_workspace))
        .route("/api/v1/openapi.json", get(crate::openapi::document))
        .route("/api/v1/docs", get(crate::openapi::reference))
        .nest("/api/v1/workspaces/{ws}", workspace)
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// A JSON request body, read whatever its `Content-Type` (clients and
/// `curl -d` get it wrong often; the body's syntax is what matters), with
/// errors in the API's format: 413 over the limit, 400 for JSON that does
/// not parse, 422 for JSON of the wrong shape (with the serde message,
/// which names the field and the line and column).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = read_body(request, state, state.config().max_json_bytes).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "invalid",
                "the request body is empty: send a JSON object",
            ));
        }
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|err| {
            use serde_json::error::Category;
            let status = match err.classify() {
                Category::Syntax | Category::Eof | Category::Io => axum::http::StatusCode::BAD_REQUEST,
                Category::Data => axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            };
            ApiError::new(status, "invalid", format!("invalid JSON body: {err}"))
                .with_detail("location", serde_json::json!({ "line": err.line(), "column": err.column() }))
        })
    }
}

/// The raw body, mapping the body-limit rejection (enforced by the
/// route's `DefaultBodyLimit`, whose value is `limit`) to our 413.
/// A declared `Content-Length` over `limit` is refused before any of the
/// body is read ([`crate::collect::refuse_declared_oversize`]), on every route.
pub async fn read_body(request: Request, state: &AppState, limit: usize) -> Result<Bytes, ApiError> {
    crate::collect::refuse_declared_oversize(request.headers(), limit)?;
    match Bytes::from_request(request, state).await {
        Ok(bytes) => Ok(bytes),
        Err(rejection) if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            Err(ApiError::payload_too_large(limit))
        }
        Err(rejection) => Err(ApiError::new(rejection.status(), "invalid", rejection.body_text())),
    }
}

/// A segment id from the path: a non-negative integer.
pub fn segment_id(raw: &str) -> Result<SegmentId, ApiError> {
    raw.trim()
        .parse::<u32>()
        .map(SegmentId)
        .map_err(|_| ApiError::not_found(format!("segment `{}` not found: segment ids are numbers", shorten(raw))))
}

/// A contact from the path: a number is an id, text with `@` an email, any
/// other text an external id.
pub fn contact_ref(raw: &str) -> ContactRef {
    let trimmed = raw.trim();
    match trimmed.parse::<u32>() {
        Ok(n) => ContactRef::Id(ContactId(n)),
        Err(_) if trimmed.contains('@') => ContactRef::Email(trimmed.to_owned()),
        Err(_) => ContactRef::ExternalId(trimmed.to_owned()),
    }
}

/// At most 64 characters of user input, for messages.
pub fn shorten(raw: &str) -> String {
    raw.chars().take(64).collect()
}

/// Parses criteria given as text or JSON against the workspace schema.
/// Errors keep the core's location (text offset / JSON pointer) and name
/// the body field.
pub fn parse_criteria(
    schema: &SchemaSnapshot,
    criteria_text: Option<&str>,
    criteria_json: Option<&serde_json::Value>,
) -> Result<Option<Criteria>, ApiError> {
    match (criteria_text, criteria_json) {
        (Some(_), Some(_)) => Err(ApiError::invalid("give the criteria once: either `criteria_text` or `criteria`, not both")),
        (Some(text), None) => schema
            .parse_text(text)
            .map(Some)
            .map_err(|err| ApiError::from(err).with_detail("field", serde_json::json!("criteria_text"))),
        (None, Some(json)) => schema
            .parse_json(json)
            .map(Some)
            .map_err(|err| ApiError::from(err).with_detail("field", serde_json::json!("criteria"))),
        (None, None) => Ok(None),
    }
}
