//! The two routes that need no key: a static landing page naming the API's
//! entry points (no user data: it is public), and a health check for load
//! balancers and `segscope serve` scripts.

use axum::Json;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::params::Params;

const INDEX_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>segscope</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 3rem auto; padding: 0 1rem; color: #1f2933; }
code { background: #f1f5f9; padding: 0 .25rem; border-radius: 3px; }
li { margin: .2rem 0; }
</style>
</head>
<body>
<h1>segscope</h1>
<p>Segment analytics for marketing automation. This server speaks a JSON API under
<code>/api/v1</code>; every workspace route needs the workspace's secret API key as
<code>Authorization: Bearer sk_…</code> (or <code>X-Api-Key</code>).</p>
<h2>Entry points</h2>
<ul>
<li><code>GET /health</code></li>
<li><code>GET /api/v1/workspaces/{ws}</code> — counts and settings</li>
<li><code>GET|POST /api/v1/workspaces/{ws}/segments</code>, <code>POST …/segments/test</code></li>
<li><code>GET|PATCH|DELETE /api/v1/workspaces/{ws}/segments/{id}</code></li>
<li><code>GET …/segments/{id}/summary?view=&amp;range=&amp;from=&amp;to=&amp;tz=&amp;granularity=</code></li>
<li><code>GET …/segments/{id}/members</code>, <code>…/log</code>, <code>…/breakdown?field=</code></li>
<li><code>GET|DELETE /api/v1/workspaces/{ws}/contacts/{id-or-email}</code></li>
<li><code>POST /api/v1/workspaces/{ws}/imports/contacts</code> (CSV), <code>…/imports/events</code> (NDJSON)</li>
<li><code>/api/v1/workspaces/{ws}/journeys</code>, <code>…/campaigns</code></li>
</ul>
<p>The full reference is <code>crates/segscope-server/API.md</code> in the repository.</p>
</body>
</html>
"#;

pub async fn index(params: Params) -> Result<impl IntoResponse, ApiError> {
    params.finish()?;
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX_HTML))
}

pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}
