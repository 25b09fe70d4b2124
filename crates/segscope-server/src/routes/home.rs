//! The health check, which needs no key: for load balancers and
//! `segscope serve` scripts. (`/` is the dashboard: `crate::dashboard`.)

use axum::Json;
use serde_json::{Value, json};

pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}
