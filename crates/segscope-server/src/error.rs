//! The one place where failures become HTTP responses.
//!
//! Every error leaves the server as
//! `{"error": {"code": ..., "message": ..., "details": {...}}}` with one
//! status per code:
//!
//! | code | status | when |
//! |---|---|---|
//! | `invalid` | 400 (unreadable JSON) / 422 | the input is malformed or breaks a rule |
//! | `unauthorized` | 401 | no key, an unknown key or a revoked key |
//! | `forbidden` | 403 | a write key on a read or manage route |
//! | `not_found` | 404 | an unknown route, workspace, segment, contact… |
//! | `method_not_allowed` | 405 | a known path with another method |
//! | `conflict` | 409 | the request clashes with current state |
//! | `payload_too_large` | 413 | the body is over the route's limit |
//! | `rate_limited` | 429 | too many requests on a public door (`Retry-After` says when to retry) |
//! | `timeout` | 408 | the request took longer than the configured timeout |
//! | `internal` | 500 | storage or a bug: logged with an id, never echoed |
//!
//! Core errors carry a location (a criteria text offset, a JSON pointer, a
//! parameter name) and human hints; both go into `details`, so a client can
//! underline the exact spot. Internal errors keep their message in the log
//! only: the response says "internal error" and gives the log id.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use segscope_core::error::{Error as CoreError, ErrorKind, Location};
use serde_json::{Map, Value, json};

/// An error on its way to becoming a response.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Map<String, Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), details: Map::new() }
    }

    /// A value the caller sent breaks a rule (422).
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }

    /// A query parameter is unknown, repeated or has a bad value (422,
    /// `details.parameter` names it).
    pub fn bad_parameter(name: &str, message: impl Into<String>) -> ApiError {
        ApiError::invalid(message).with_detail("parameter", json!(name))
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn payload_too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than the limit of {limit} bytes for this route"),
        )
        .with_detail("limit_bytes", json!(limit))
    }

    /// Too many requests from one caller on a public door (429, with
    /// `Retry-After` in whole seconds).
    pub fn rate_limited(retry_after_secs: u64) -> ApiError {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests: slow down and retry in {retry_after_secs} s"),
        )
        .with_detail("retry_after_secs", json!(retry_after_secs))
    }

    /// A fault that is not the caller's. `internal_message` is logged, never sent.
    pub fn internal(internal_message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", internal_message)
    }

    pub fn with_detail(mut self, key: &str, value: Value) -> ApiError {
        self.details.insert(key.to_owned(), value);
        self
    }
}

impl From<CoreError> for ApiError {
    fn from(err: CoreError) -> ApiError {
        let mut api = match err.kind {
            ErrorKind::Invalid => ApiError::invalid(err.message.clone()),
            ErrorKind::NotFound => ApiError::not_found(err.message.clone()),
            ErrorKind::Conflict => ApiError::new(StatusCode::CONFLICT, "conflict", err.message.clone()),
            ErrorKind::Internal => return ApiError::internal(err.to_string()),
        };
        match &err.location {
            Some(Location::Text { offset, line, column }) => {
                api = api.with_detail("location", json!({ "offset": offset, "line": line, "column": column }));
            }
            Some(Location::Json(pointer)) => {
                api = api.with_detail("location", json!({ "pointer": pointer }));
            }
            Some(Location::Field(name)) => {
                api = api.with_detail("parameter", json!(name));
            }
            None => {}
        }
        if !err.details.is_empty() {
            // The core's only conflict with details is a delete blocked by
            // what references the segment: name them so a client can list them.
            let key = if err.kind == ErrorKind::Conflict { "referrers" } else { "hints" };
            api = api.with_detail(key, json!(err.details));
        }
        api
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.details.get("retry_after_secs").and_then(Value::as_u64);
        let (message, details) = if self.status.is_server_error() {
            // Log the real cause with an id the operator can grep for; the
            // client gets the id and nothing else.
            let error_id = crate::keys::random_hex(6);
            tracing::error!(error_id = %error_id, status = %self.status, "internal error: {}", self.message);
            let mut details = Map::new();
            details.insert("error_id".to_owned(), json!(error_id));
            ("internal error; the server log has the details under this error_id".to_owned(), details)
        } else {
            (self.message, self.details)
        };
        let body = json!({ "error": { "code": self.code, "message": message, "details": Value::Object(details) } });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.status == StatusCode::TOO_MANY_REQUESTS
            && let Some(secs) = retry_after
        {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Unknown routes: a JSON 404 like every other error.
pub async fn route_not_found() -> ApiError {
    ApiError::not_found("no such route: see / for the API entry points")
}

/// A known path with a method it does not serve.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not accept this method")
}
