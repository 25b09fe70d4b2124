//! The OpenAPI 3.1 document (`GET /api/v1/openapi.json`) and a readable
//! reference page (`GET /api/v1/docs`), both generated from [`ROUTES`].
//!
//! Why a table and not derive macros on every wire type: the wire types are
//! plain serde structs that the server converts by hand (the API is a
//! promise kept in one place, `wire.rs`), and a table of routes is what a
//! reviewer checks against the router. The router tests walk this table
//! and call every operation, so a route missing here or there fails a test.

use axum::Json;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::params::Params;

/// One operation of the API.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    /// The path with `{name}` parameters, as the router declares it.
    pub path: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    /// Query parameters: (name, description).
    pub query: &'static [(&'static str, &'static str)],
    /// A JSON body is taken (`Some(description)`), or a raw file (`"file"`).
    pub body: Option<&'static str>,
    /// The success status.
    pub status: u16,
    /// The schema of the success body (a component name), if any.
    pub response: Option<&'static str>,
    /// Whether the route needs a key or a dashboard session.
    pub auth: bool,
}

const SUMMARY_QUERY: &[(&str, &str)] = &[
    ("view", "`all` (default), `known` or `anonymous`"),
    ("range", "`today`, `last_7_days`, `last_30_days`, `last_90_days`, `last_365_days`, `this_month`, `last_month`"),
    ("from", "`YYYY-MM-DD` (start of that local day) or an RFC 3339 instant"),
    ("to", "`YYYY-MM-DD` (inclusive) or an RFC 3339 instant (exclusive)"),
    ("tz", "IANA time zone; default the workspace's"),
    ("granularity", "`day`, `week` or `month`; default by range length"),
    ("country", "ISO code or English name: drill into its regions and cities"),
    ("region", "with `country`: drill into the region's cities"),
];
const PAGE_QUERY: &[(&str, &str)] = &[("cursor", "the previous page's `next_cursor`"), ("limit", "1–1000, default 100")];
const DRILL_QUERY: &[(&str, &str)] = &[
    ("view", "`all`, `known` or `anonymous`"),
    ("stage", "lifecycle stage"),
    ("country", "ISO 3166-1 alpha-2 code"),
    ("region", "region name"),
    ("city", "city name"),
    ("status", "subscription status key (`opted_in`, `unsubscribed`, …)"),
    ("reachability", "`high`, `medium`, `low`, `unreachable` or `none`"),
    ("provider", "email provider key (`gmail`, `microsoft`, …)"),
    ("channel", "creation channel key (`form`, `tracking`, …)"),
    ("source", "first-touch source key (`organic_search`, `email`, …)"),
    ("missing", "repeatable: `stage`, `country`, `region`, `city`, `email` or `source` has no value"),
    ("cursor", "the previous page's `next_cursor`"),
    ("limit", "1–1000, default 100"),
];
const EXPORT_QUERY: &[(&str, &str)] = &[
    ("format", "`csv` (default) or `ndjson`"),
    ("view", "`all`, `known` or `anonymous`"),
    ("stage", "lifecycle stage"),
    ("country", "ISO 3166-1 alpha-2 code"),
    ("region", "region name"),
    ("city", "city name"),
    ("status", "subscription status key"),
    ("reachability", "reachability level"),
    ("provider", "email provider key"),
    ("channel", "creation channel key"),
    ("source", "first-touch source key"),
    ("missing", "repeatable: field without a value"),
    ("cursor", "resume after this contact id"),
    ("limit", "1–100000: one page, next cursor in `X-Next-Cursor`; default everything"),
];

const fn route(method: &'static str, path: &'static str, summary: &'static str, tag: &'static str) -> Route {
    Route { method, path, summary, tag, query: &[], body: None, status: 200, response: Some("Object"), auth: true }
}

/// Every operation the server answers (one line each: a table, kept as one).
#[rustfmt::skip]
pub const ROUTES: &[Route] = &[
    Route { auth: false, response: Some("Health"), ..route("get", "/health", "Health check", "service") },
    Route { auth: false, response: Some("OpenApi"), ..route("get", "/api/v1/openapi.json", "This document", "service") },
    Route { auth: false, response: Some("Page"), ..route("get", "/api/v1/docs", "This reference as an HTML page", "service") },
    Route { auth: false, response: Some("Page"), ..route("get", "/", "The dashboard (a static page; it signs in and calls this API)", "dashboard") },
    Route { auth: false, response: Some("Asset"), ..route("get", "/assets/{file}", "The dashboard's scripts, styles and map (ETag, 304)", "dashboard") },
    Route { auth: false, ..route("get", "/api/v1/session", "The dashboard session (401 when signed out)", "session") },
    Route { auth: false, body: Some("`{\"token\": \"adm_…\"}`: the admin token"), ..route("post", "/api/v1/session", "Sign in to the dashboard (sets the session cookie)", "session") },
    Route { auth: false, status: 204, response: None, ..route("delete", "/api/v1/session", "Sign out (needs `X-CSRF-Token`)", "session") },
    Route { auth: false, response: Some("Script"), ..route("get", "/t.js", "The tracking snippet (JavaScript; cacheable, any origin)", "tracking") },
    Route { auth: false, status: 204, response: None, ..route("options", "/collect/{ws}", "CORS preflight of the collect endpoint", "tracking") },
    Route { auth: false, body: Some("`{\"key\"?, \"visitor_id\", \"sent_at\"?, \"events\": [{\"type\": page_view|heartbeat|page_leave|identify|track, \"t\"?, …}]}` as JSON or text/plain; the write key in `key`, `?key=` or `Authorization: Bearer`"), query: &[("key", "the write key (beacons cannot set headers)")], ..route("post", "/collect/{ws}", "Record a batch of tracking events (write key; CORS; 413 / 429)", "tracking") },
    Route { auth: false, body: Some("the provider's native webhook body, signed (SendGrid, Mailgun, SNS) or with Basic credentials (Postmark)"), ..route("post", "/webhooks/{provider}/{ws}", "Record an ESP webhook (`ses`, `sendgrid`, `mailgun`, `postmark`)", "webhooks") },
    Route { response: Some("ItemList"), ..route("get", "/api/v1/workspaces", "Workspaces the caller may use", "workspaces") },
    Route { status: 201, body: Some("`{\"id\", \"time_zone\"?}`; admin session only; answers the first keys"), ..route("post", "/api/v1/workspaces", "Create a workspace", "workspaces") },
    Route { response: Some("Workspace"), ..route("get", "/api/v1/workspaces/{ws}", "Counts and settings", "workspaces") },
    route("get", "/api/v1/workspaces/{ws}/settings", "Settings", "workspaces"),
    Route { body: Some("any subset of the settings"), ..route("patch", "/api/v1/workspaces/{ws}/settings", "Change settings", "workspaces") },
    Route { response: Some("ItemList"), ..route("get", "/api/v1/workspaces/{ws}/keys", "API keys (never their secrets)", "keys") },
    Route { status: 201, body: Some("`{\"kind\": \"secret\"|\"write\", \"label\"?}`"), ..route("post", "/api/v1/workspaces/{ws}/keys", "Create a key (its secret is shown once)", "keys") },
    Route { status: 204, response: None, ..route("delete", "/api/v1/workspaces/{ws}/keys/{key}", "Revoke a key", "keys") },
    Route { response: Some("ItemList"), ..route("get", "/api/v1/workspaces/{ws}/segments", "Segments", "segments") },
    Route { status: 201, response: Some("Segment"), body: Some("`{\"name\", \"description\"?, \"criteria_text\"? | \"criteria\"?, \"static\"?}`"), ..route("post", "/api/v1/workspaces/{ws}/segments", "Create a segment or static list", "segments") },
    Route { body: Some("`{\"criteria_text\"}` or `{\"criteria\"}`"), ..route("post", "/api/v1/workspaces/{ws}/segments/test", "Count who criteria select, without saving", "segments") },
    Route { response: Some("Segment"), ..route("get", "/api/v1/workspaces/{ws}/segments/{id}", "A segment", "segments") },
    Route { response: Some("Segment"), body: Some("any of `name`, `description`, `criteria_text` | `criteria`"), ..route("patch", "/api/v1/workspaces/{ws}/segments/{id}", "Rename or edit a segment", "segments") },
    Route { status: 204, response: None, ..route("delete", "/api/v1/workspaces/{ws}/segments/{id}", "Delete a segment (409 while referenced)", "segments") },
    Route { query: SUMMARY_QUERY, response: Some("Summary"), ..route("get", "/api/v1/workspaces/{ws}/segments/{id}/summary", "The segment summary (SPEC §7); ETag", "summary") },
    Route { query: &[("segments", "2–4 segment ids, comma-separated (`0` = all contacts)"), ("view", "as for the summary"), ("range", ""), ("from", ""), ("to", ""), ("tz", ""), ("granularity", ""), ("country", "as for the summary"), ("region", "")], response: Some("ItemList"), ..route("get", "/api/v1/workspaces/{ws}/compare", "Summaries of 2–4 segments side by side", "summary") },
    Route { query: &[("field", "built-in field or attribute"), ("view", "`all`, `known`, `anonymous`")], ..route("get", "/api/v1/workspaces/{ws}/segments/{id}/breakdown", "Members counted by a field's values", "summary") },
    Route { query: &[("view", "`all`, `known`, `anonymous`"), ("cursor", ""), ("limit", "")], response: Some("ContactPage"), ..route("get", "/api/v1/workspaces/{ws}/segments/{id}/members", "Current members, keyset-paged", "contacts") },
    Route { body: Some("`{\"contacts\": [id | email | external id | {…}]}`"), ..route("post", "/api/v1/workspaces/{ws}/segments/{id}/members", "Add contacts to a static list", "segments") },
    Route { body: Some("`{\"contacts\": [...]}`"), ..route("post", "/api/v1/workspaces/{ws}/segments/{id}/members/remove", "Remove contacts from a static list", "segments") },
    Route { query: PAGE_QUERY, ..route("get", "/api/v1/workspaces/{ws}/segments/{id}/log", "Membership history, oldest first", "segments") },
    Route { query: DRILL_QUERY, response: Some("ContactPage"), ..route("get", "/api/v1/workspaces/{ws}/segments/{id}/contacts", "The contacts behind a number (drill-down list)", "contacts") },
    Route { query: EXPORT_QUERY, response: Some("File"), ..route("get", "/api/v1/workspaces/{ws}/segments/{id}/export", "Export contacts as CSV or NDJSON", "contacts") },
    route("get", "/api/v1/workspaces/{ws}/contacts/{contact}", "A contact by id, email or external id", "contacts"),
    Route { status: 204, response: None, ..route("delete", "/api/v1/workspaces/{ws}/contacts/{contact}", "Delete a contact", "contacts") },
    Route { body: Some("file"), query: &[("delimiter", ""), ("encoding", ""), ("map", "repeatable `Header=target`"), ("ignore", "repeatable"), ("type", "repeatable `attribute=type`"), ("date_format", ""), ("time_zone", ""), ("list", "static list id")], ..route("post", "/api/v1/workspaces/{ws}/imports/contacts", "Import a contact CSV", "imports") },
    Route { body: Some("file"), query: &[("channel", "creation channel of new contacts")], ..route("post", "/api/v1/workspaces/{ws}/imports/events", "Import NDJSON contacts and events", "imports") },
    Route { response: Some("ItemList"), ..route("get", "/api/v1/workspaces/{ws}/journeys", "Journeys", "automations") },
    Route { status: 201, body: Some("`{\"name\", \"status\"?, \"kind\"?, \"segment_ids\"?}`"), ..route("post", "/api/v1/workspaces/{ws}/journeys", "Create a journey", "automations") },
    route("get", "/api/v1/workspaces/{ws}/journeys/{id}", "A journey", "automations"),
    Route { body: Some("any of `name`, `status`, `kind`, `segment_ids`"), ..route("patch", "/api/v1/workspaces/{ws}/journeys/{id}", "Change a journey", "automations") },
    Route { status: 204, response: None, ..route("delete", "/api/v1/workspaces/{ws}/journeys/{id}", "Delete a journey", "automations") },
    Route { response: Some("ItemList"), ..route("get", "/api/v1/workspaces/{ws}/campaigns", "Campaigns", "automations") },
    Route { status: 201, body: Some("`{\"name\", \"status\"?, \"kind\"?, \"segment_ids\"?}`"), ..route("post", "/api/v1/workspaces/{ws}/campaigns", "Create a campaign", "automations") },
    route("get", "/api/v1/workspaces/{ws}/campaigns/{id}", "A campaign", "automations"),
    Route { body: Some("any of `name`, `status`, `kind`, `segment_ids`"), ..route("patch", "/api/v1/workspaces/{ws}/campaigns/{id}", "Change a campaign", "automations") },
    Route { status: 204, response: None, ..route("delete", "/api/v1/workspaces/{ws}/campaigns/{id}", "Delete a campaign", "automations") },
];

fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|part| part.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
        .map(|name| {
            let description = match name {
                "ws" => "workspace id",
                "id" => "numeric id",
                "contact" => "contact id, email or external id",
                "key" => "key id (`key_…`)",
                "file" => "`app.js`, `app.css` or `world.json`",
                "provider" => "`ses`, `sendgrid`, `mailgun` or `postmark`",
                _ => "",
            };
            json!({ "name": name, "in": "path", "required": true, "description": description, "schema": { "type": "string" } })
        })
        .collect()
}

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn operation(route: &Route) -> Value {
    let mut parameters = path_parameters(route.path);
    for (name, description) in route.query {
        let repeatable = matches!(*name, "map" | "ignore" | "type" | "missing");
        let schema =
            if repeatable { json!({ "type": "array", "items": { "type": "string" } }) } else { json!({ "type": "string" }) };
        parameters.push(json!({ "name": name, "in": "query", "required": *name == "segments" || *name == "field", "description": description, "schema": schema }));
    }
    let mut responses = Map::new();
    let success = match (route.response, route.status) {
        (None, _) => json!({ "description": "done, no body" }),
        (Some("Script"), _) => {
            json!({ "description": "the script", "content": { "application/javascript": { "schema": { "type": "string" } } } })
        }
        (Some("File"), _) => json!({ "description": "the file", "content": {
            "text/csv": { "schema": { "type": "string" } }, "application/x-ndjson": { "schema": { "type": "string" } } } }),
        (Some("Page"), _) => {
            json!({ "description": "an HTML page", "content": { "text/html": { "schema": { "type": "string" } } } })
        }
        (Some("Asset"), _) => json!({ "description": "the file", "content": {
            "text/javascript": { "schema": { "type": "string" } }, "text/css": { "schema": { "type": "string" } },
            "application/json": { "schema": { "type": "object" } } } }),
        (Some(schema), _) => {
            json!({ "description": "success", "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
        }
    };
    responses.insert(route.status.to_string(), success);
    if route.auth {
        responses.insert("401".into(), error_response("no key, an unknown or revoked key, or no session"));
        responses.insert("403".into(), error_response("a write key, or a dashboard request without its CSRF token"));
        responses.insert("404".into(), error_response("unknown workspace (or another workspace's key), or unknown object"));
    }
    if route.tag == "session" {
        // No key needed, but the session has its own refusals.
        if route.method != "delete" {
            responses.insert("401".into(), error_response("not signed in, or a wrong admin token"));
        }
        responses.insert("403".into(), error_response("another origin, no CSRF token, or sign-in not configured"));
    }
    if route.path.starts_with("/collect/") || route.path.starts_with("/webhooks/") {
        responses.insert("401".into(), error_response("no key or signature, or an unknown or revoked key"));
        responses.insert("403".into(), error_response("a secret key on collect, a wrong signature, or webhooks not configured"));
        responses.insert("404".into(), error_response("another workspace's key, or an unknown provider"));
        responses.insert("413".into(), error_response("the body is over the door's limit"));
        responses.insert("429".into(), error_response("rate limited; `Retry-After` says when to retry"));
    }
    responses.insert("422".into(), error_response("invalid input; `details` says where"));
    let mut op = json!({
        "operationId": format!("{}_{}", route.method, route.path.trim_start_matches("/api/v1/").replace(['/', '{', '}', '.'], "_")),
        "summary": route.summary,
        "tags": [route.tag],
        "parameters": parameters,
        "responses": responses,
    });
    if !route.auth {
        op["security"] = json!([]);
    }
    if let Some(body) = route.body {
        op["requestBody"] = if body == "file" {
            json!({ "required": true, "content": { "text/csv": { "schema": { "type": "string" } }, "application/x-ndjson": { "schema": { "type": "string" } } } })
        } else {
            json!({ "required": true, "description": body, "content": { "application/json": { "schema": { "type": "object" } } } })
        };
    }
    op
}

/// The OpenAPI 3.1 document.
pub fn document_json() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let entry = paths.entry(route.path.to_owned()).or_insert_with(|| json!({}));
        entry[route.method] = operation(route);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "segscope API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Segment analytics for marketing automation. Every workspace route needs the workspace's secret key (`Authorization: Bearer sk_…`) or a dashboard session. The prose reference is API.md in the repository.",
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearer": [] }, { "session": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "a workspace's secret API key (`sk_…`)" },
                "session": { "type": "apiKey", "in": "cookie", "name": crate::session::SESSION_COOKIE, "description": "dashboard session; state-changing requests also need `X-CSRF-Token`" },
            },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "object", "required": ["code", "message", "details"], "properties": {
                    "code": { "type": "string", "enum": ["invalid", "unauthorized", "forbidden", "not_found", "method_not_allowed", "timeout", "conflict", "payload_too_large", "rate_limited", "internal"] },
                    "message": { "type": "string" }, "details": { "type": "object" } } } } },
                "Health": { "type": "object", "properties": { "status": { "type": "string" } } },
                "Object": { "type": "object" },
                "OpenApi": { "type": "object" },
                "ItemList": { "type": "object", "required": ["items"], "properties": { "items": { "type": "array", "items": { "type": "object" } } } },
                "Counts": { "type": "object", "properties": { "known": { "type": "integer" }, "anonymous": { "type": "integer" }, "total": { "type": "integer" } } },
                "Segment": { "type": "object", "required": ["id", "name", "type", "members"], "properties": {
                    "id": { "type": "integer" }, "name": { "type": "string" }, "description": { "type": "string" },
                    "type": { "type": "string", "enum": ["dynamic", "static"] }, "system": { "type": "boolean" },
                    "criteria": { "type": ["object", "null"] }, "criteria_text": { "type": ["string", "null"] },
                    "members": { "$ref": "#/components/schemas/Counts" }, "last_change": { "type": "string", "format": "date-time" } } },
                "Workspace": { "type": "object", "properties": { "id": { "type": "string" }, "stats": { "type": "object" }, "settings": { "type": "object" } } },
                "ContactRow": { "type": "object", "properties": {
                    "id": { "type": "integer" }, "kind": { "type": "string", "enum": ["known", "anonymous"] },
                    "email": { "type": ["string", "null"] }, "external_id": { "type": ["string", "null"] },
                    "first_name": { "type": ["string", "null"] }, "last_name": { "type": ["string", "null"] },
                    "stage": { "type": ["string", "null"] }, "country": { "type": ["string", "null"] },
                    "region": { "type": ["string", "null"] }, "city": { "type": ["string", "null"] },
                    "created_at": { "type": "string" }, "last_seen": { "type": ["string", "null"] },
                    "subscription_status": { "type": "string" }, "reachability": { "type": "string" },
                    "email_provider": { "type": "string" }, "sessions": { "type": "integer" } } },
                "ContactPage": { "type": "object", "required": ["items", "next_cursor"], "properties": {
                    "items": { "type": "array", "items": { "$ref": "#/components/schemas/ContactRow" } },
                    "next_cursor": { "type": ["string", "null"] } } },
                "Summary": { "type": "object", "required": ["segment", "view", "range", "overall", "growth", "associated", "reachability", "website", "stages", "sources", "email_providers", "geography"], "properties": {
                    "segment": { "type": "object" }, "view": { "type": "string" }, "range": { "type": "object" }, "time_zone": { "type": "string" },
                    "computed_at": { "type": "string" }, "overall": { "type": "object" }, "growth": { "type": "object" },
                    "associated": { "type": "object" }, "reachability": { "type": "array" }, "subscription": { "type": "array" },
                    "website": { "type": "object" }, "stages": { "type": "array" }, "sources": { "type": "object" },
                    "email_providers": { "type": "array" }, "geography": { "type": "object" } } },
            },
        },
    })
}

/// `GET /api/v1/openapi.json`.
pub async fn document(params: Params) -> Result<Json<Value>, ApiError> {
    params.finish()?;
    Ok(Json(document_json()))
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// `GET /api/v1/docs`: the same table as a page people can read.
pub async fn reference(params: Params) -> Result<impl IntoResponse, ApiError> {
    params.finish()?;
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>segscope API reference</title><link rel=\"stylesheet\" href=\"/assets/app.css\"></head><body><main>\
         <h1>segscope API reference (v1)</h1><p>Send a workspace's secret key as <code>Authorization: Bearer sk_…</code>. \
         Errors are <code>{\"error\": {\"code\", \"message\", \"details\"}}</code>; lists are keyset-paged with <code>cursor</code> / \
         <code>next_cursor</code>. Machine-readable: <a href=\"/api/v1/openapi.json\">openapi.json</a>. The dashboard is at <a href=\"/\">/</a>.</p>",
    );
    let mut tag = "";
    for route in ROUTES {
        if route.tag != tag {
            if !tag.is_empty() {
                html.push_str("</tbody></table></div>");
            }
            tag = route.tag;
            html.push_str(&format!(
                "<div class=\"card\"><h2>{}</h2><table class=\"data\"><thead><tr><th>method</th><th>path</th><th>what</th><th>query</th><th>answers</th></tr></thead><tbody>",
                escape_html(tag)
            ));
        }
        let query: Vec<String> = route.query.iter().map(|(name, _)| format!("<code>{}</code>", escape_html(name))).collect();
        html.push_str(&format!(
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}{}</td><td>{}</td><td>{}</td></tr>",
            route.method.to_uppercase(),
            escape_html(route.path),
            escape_html(route.summary),
            route.body.map(|b| format!("<br><span class=\"muted\">body: {}</span>", escape_html(b))).unwrap_or_default(),
            query.join(" "),
            route.status
        ));
    }
    html.push_str("</tbody></table></div></main></body></html>");
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], html))
}
