//! The dashboard's routes through the router (no socket), against a real
//! embedded store with a fixed clock: the admin session (cookie, CSRF,
//! Origin), workspaces, keys, compare, drill-down contacts, exports, the
//! OpenAPI document and reference page, the dashboard's assets, and the
//! summary's ETag. Expected numbers come from the summary endpoint or from
//! the data the tests insert, never from the implementation's constants.

mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use common::*;
use segscope_core::backend::Backend;
use segscope_core::ids::WorkspaceId;
use serde_json::{Value, json};

const WS: &str = "/api/v1/workspaces/acme";
const ROUTE_NOT_FOUND: &str = "no such route: see / for the API entry points";

// ------------------------------------------------------------------ helpers

/// A request with any headers.
struct Req {
    method: Method,
    uri: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

fn req(method: Method, uri: impl Into<String>) -> Req {
    Req { method, uri: uri.into(), headers: Vec::new(), body: None }
}

impl Req {
    fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
    fn key(self, key: &str) -> Req {
        self.header("authorization", &format!("Bearer {key}"))
    }
    fn session(self, session: &Session) -> Req {
        self.header("cookie", &session.cookie)
    }
    /// The cookie and the CSRF token, as the dashboard sends them.
    fn signed(self, session: &Session) -> Req {
        self.header("cookie", &session.cookie).header("x-csrf-token", &session.csrf)
    }
    fn json(mut self, body: Value) -> Req {
        self.body = Some(serde_json::to_vec(&body).unwrap());
        self.header("content-type", "application/json")
    }
    fn bytes(mut self, body: &[u8], content_type: &str) -> Req {
        self.body = Some(body.to_vec());
        self.header("content-type", content_type)
    }
    fn build(self) -> Request<Body> {
        let mut builder = Request::builder().method(self.method).uri(self.uri);
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder.body(self.body.map(Body::from).unwrap_or_else(Body::empty)).unwrap()
    }
    async fn raw(self, h: &Harness) -> (StatusCode, HeaderMap, Vec<u8>) {
        send_request(&h.app, self.build()).await
    }
    async fn send(self, h: &Harness) -> (StatusCode, Value) {
        let (status, _, bytes) = self.raw(h).await;
        (status, json_of(&bytes))
    }
}

/// A signed-in dashboard session.
struct Session {
    /// `segscope_session=…`, as a browser sends it back.
    cookie: String,
    csrf: String,
}

async fn sign_in(h: &Harness) -> Session {
    let (status, headers, bytes) = req(Method::POST, "/api/v1/session").json(json!({ "token": ADMIN_TOKEN })).raw(h).await;
    let body = json_of(&bytes);
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let set_cookie = headers[header::SET_COOKIE].to_str().unwrap();
    let cookie = set_cookie.split(';').next().unwrap().trim().to_owned();
    assert!(cookie.starts_with("segscope_session=") && cookie.len() > "segscope_session=".len(), "{set_cookie}");
    Session { cookie, csrf: body["csrf_token"].as_str().unwrap().to_owned() }
}

/// Percent-encodes a query value.
fn enc(raw: &str) -> String {
    let mut out = String::new();
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn ids_of(items: &Value) -> Vec<u64> {
    items.as_array().unwrap().iter().map(|row| row["id"].as_u64().unwrap()).collect()
}

/// Imports NDJSON through the API with acme's secret key.
async fn import(h: &Harness, ndjson: &str) {
    let (status, body) = req(Method::POST, format!("{WS}/imports/events"))
        .key(&h.secret)
        .bytes(ndjson.as_bytes(), "application/x-ndjson")
        .send(h)
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["problems"], json!([]), "{body:#}");
}

/// 36 more known contacts with varied stages, countries, providers and
/// email histories (so every drill-down filter has several buckets), one
/// with spreadsheet-hostile names, and a few without email.
fn extra_contacts() -> String {
    let stages = ["Raw lead", "Marketing ready", "Sales ready", ""];
    let countries = ["FR", "DE", "US", ""];
    let domains = ["gmail.com", "outlook.com", "yahoo.com", "corp.example"];
    let kinds = ["opened", "hard_bounced", "unsubscribed", "opt_in_confirmed", "clicked", ""];
    let mut out = String::new();
    for i in 0..36 {
        let mut fields = serde_json::Map::new();
        if !stages[i % 4].is_empty() {
            fields.insert("stage".into(), json!(stages[i % 4]));
        }
        if !countries[(i / 4) % 4].is_empty() {
            fields.insert("country".into(), json!(countries[(i / 4) % 4]));
        }
        if i == 7 {
            fields.insert("first_name".into(), json!("-2+3"));
            fields.insert("last_name".into(), json!("@SUM(A1:A9)"));
        }
        if i == 5 {
            fields.insert("first_name".into(), json!("=HYPERLINK(\"http://evil.example\")"));
            fields.insert("last_name".into(), json!("Smith, \"Jr\"\nthe second"));
        }
        let mut line = json!({ "type": "contact", "created_at": "2024-03-05T09:00:00Z", "fields": fields });
        let email = format!("person{i}@{}", domains[(i / 3) % 4]);
        if i % 9 == 8 {
            line["external_id"] = json!(format!("ext-{i}"));
        } else {
            line["email"] = json!(email);
        }
        out.push_str(&line.to_string());
        out.push('\n');
        let kind = kinds[i % 6];
        if !kind.is_empty() && i % 9 != 8 {
            let event = json!({ "type": "email", "email": email, "timestamp": "2024-03-08T08:00:00Z", "kind": kind });
            out.push_str(&event.to_string());
            out.push('\n');
        }
    }
    out
}

/// Every row of a drill-down list, following `next_cursor` with small
/// pages; asserts ascending ids and that no row comes twice.
async fn all_rows(h: &Harness, segment: u64, query: &str) -> Vec<Value> {
    let mut rows: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let mut uri = format!("{WS}/segments/{segment}/contacts?limit=4");
        if !query.is_empty() {
            uri.push('&');
            uri.push_str(query);
        }
        if let Some(c) = &cursor {
            uri.push_str(&format!("&cursor={c}"));
        }
        let (status, body) = req(Method::GET, uri).key(&h.secret).send(h).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body:#}");
        let items = body["items"].as_array().unwrap();
        assert!(items.len() <= 4);
        rows.extend(items.iter().cloned());
        match body["next_cursor"].as_str() {
            Some(next) => {
                assert!(!items.is_empty(), "a page with a next cursor has rows");
                assert_eq!(next, items.last().unwrap()["id"].to_string(), "the cursor is the last id");
                cursor = Some(next.to_owned());
            }
            None => {
                let ids: Vec<u64> = rows.iter().map(|r| r["id"].as_u64().unwrap()).collect();
                assert!(ids.windows(2).all(|w| w[0] < w[1]), "{query}: ids ascend, none twice: {ids:?}");
                return rows;
            }
        }
    }
    panic!("paging did not end")
}

async fn summary(h: &Harness, segment: u64, query: &str) -> Value {
    let (status, body) = req(Method::GET, format!("{WS}/segments/{segment}/summary?{query}")).key(&h.secret).send(h).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    body
}

async fn create_segment(h: &Harness, name: &str, criteria: &str) -> u64 {
    let (status, body) = req(Method::POST, format!("{WS}/segments"))
        .key(&h.secret)
        .json(json!({ "name": name, "criteria_text": criteria }))
        .send(h)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");
    body["id"].as_u64().unwrap()
}

async fn segment_names(h: &Harness) -> Vec<String> {
    let (status, body) = req(Method::GET, format!("{WS}/segments")).key(&h.secret).send(h).await;
    assert_eq!(status, StatusCode::OK);
    body["items"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_owned()).collect()
}

/// A minimal RFC 4180 reader: quoted fields, doubled quotes, CRLF records.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => {
                assert!(field.is_empty(), "a quote inside an unquoted field: {text}");
                quoted = true;
            }
            ',' => record.push(std::mem::take(&mut field)),
            '\r' => {
                assert_eq!(chars.next(), Some('\n'), "records end with CRLF");
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            '\n' => panic!("a bare LF outside quotes: {text}"),
            _ => field.push(c),
        }
    }
    assert!(!quoted, "an unclosed quote");
    assert!(field.is_empty() && record.is_empty(), "the last record ends with CRLF");
    records
}

/// How a JSON row value appears in the CSV: text as is (a leading formula
/// character defused with `'`), numbers as digits, null as empty.
fn csv_cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) if s.starts_with(['=', '+', '-', '@', '\t', '\r']) => format!("'{s}"),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

// ------------------------------------------------------------------ session

#[tokio::test]
async fn session_sign_in_cookie_csrf_origin_and_sign_out() {
    let h = harness_with_admin();

    let (status, body) = req(Method::GET, "/api/v1/session").send(&h).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");

    let (status, headers, bytes) = req(Method::POST, "/api/v1/session").json(json!({ "token": "adm_wrong" })).raw(&h).await;
    assert_error(status, &json_of(&bytes), StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(!headers.contains_key(header::SET_COOKIE), "a failed sign-in sets no cookie");

    // A sign-in posted from another site is refused even with the right token.
    let (status, body) = req(Method::POST, "/api/v1/session")
        .header("host", "localhost:8080")
        .header("origin", "https://evil.example")
        .json(json!({ "token": ADMIN_TOKEN }))
        .send(&h)
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");

    let (status, headers, bytes) = req(Method::POST, "/api/v1/session").json(json!({ "token": ADMIN_TOKEN })).raw(&h).await;
    let signed = json_of(&bytes);
    assert_eq!(status, StatusCode::OK, "{signed:#}");
    let set_cookie = headers[header::SET_COOKIE].to_str().unwrap();
    let attributes: Vec<&str> = set_cookie.split(';').map(str::trim).collect();
    assert!(attributes[0].starts_with("segscope_session="), "{set_cookie}");
    for wanted in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attributes.contains(&wanted), "{wanted} in {set_cookie}");
    }
    assert!(!attributes.contains(&"Secure"), "no Secure over plain HTTP: {set_cookie}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let csrf = signed["csrf_token"].as_str().unwrap().to_owned();
    assert!(csrf.len() >= 32, "{csrf}");
    assert!(!set_cookie.contains(&csrf), "the CSRF token is never in the cookie");
    let session = Session { cookie: attributes[0].to_owned(), csrf: csrf.clone() };

    // The session: the CSRF token and every workspace with its count.
    let (status, headers, bytes) = req(Method::GET, "/api/v1/session").session(&session).raw(&h).await;
    let shown = json_of(&bytes);
    assert_eq!(status, StatusCode::OK, "{shown:#}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store", "the CSRF token is never cached");
    assert_eq!(shown["signed_in"], true);
    assert_eq!(shown["csrf_token"], csrf.as_str());
    let expected: Vec<Value> = h
        .backend
        .workspaces()
        .unwrap()
        .iter()
        .map(|ws| json!({ "id": ws.as_str(), "contacts": h.backend.stats(ws).unwrap().contacts }))
        .collect();
    assert_eq!(expected.len(), 2);
    assert_eq!(shown["workspaces"], Value::Array(expected.clone()));
    assert_eq!(signed["workspaces"], Value::Array(expected));

    // Reading needs no CSRF token, and the admin reads every workspace.
    let (status, with_cookie) = req(Method::GET, format!("{WS}/segments")).session(&session).send(&h).await;
    assert_eq!(status, StatusCode::OK, "{with_cookie:#}");
    let (_, with_key) = req(Method::GET, format!("{WS}/segments")).key(&h.secret).send(&h).await;
    assert_eq!(with_cookie, with_key);
    let (status, _) = req(Method::GET, "/api/v1/workspaces/other/segments").session(&session).send(&h).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = req(Method::GET, "/api/v1/workspaces/ghost/segments").session(&session).send(&h).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");

    // Writing needs the CSRF token, exactly.
    let segment = json!({ "name": "Germans", "criteria_text": "country = \"DE\"" });
    let (status, body) = req(Method::POST, format!("{WS}/segments")).session(&session).json(segment.clone()).send(&h).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    assert!(body["error"]["message"].as_str().unwrap().contains("X-CSRF-Token"), "{body:#}");
    let mut wrong = csrf.clone().into_bytes();
    wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
    let wrong = String::from_utf8(wrong).unwrap();
    for bad in [wrong.as_str(), "", &csrf[..csrf.len() - 1]] {
        let (status, body) = req(Method::POST, format!("{WS}/segments"))
            .session(&session)
            .header("x-csrf-token", bad)
            .json(segment.clone())
            .send(&h)
            .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    }
    assert!(!segment_names(&h).await.contains(&"Germans".to_owned()), "a refused request changed nothing");
    // A foreign Origin is refused even with the right token: another host,
    // port or scheme, a path after the host, and a page served in the clear
    // when the dashboard is behind HTTPS.
    let foreign = [
        ("https://evil.example", None),
        ("null", None),
        ("http://localhost:8081", None),
        ("chrome-extension://localhost:8080", None),
        ("http://localhost:8080/", None),
        ("http://localhost:8080.evil.example", None),
        ("http://localhost:8080", Some("https")),
    ];
    for (origin, forwarded_proto) in foreign {
        let mut request = req(Method::POST, format!("{WS}/segments")).signed(&session).header("host", "localhost:8080");
        if let Some(proto) = forwarded_proto {
            request = request.header("x-forwarded-proto", proto);
        }
        let (status, body) = request.header("origin", origin).json(segment.clone()).send(&h).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    }
    assert!(!segment_names(&h).await.contains(&"Germans".to_owned()));
    let (status, body) = req(Method::POST, format!("{WS}/segments"))
        .signed(&session)
        .header("host", "localhost:8080")
        .header("origin", "http://localhost:8080")
        .json(segment.clone())
        .send(&h)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");
    assert!(segment_names(&h).await.contains(&"Germans".to_owned()));
    // Behind a TLS proxy the browser's origin is https.
    let (status, body) = req(Method::POST, format!("{WS}/segments"))
        .signed(&session)
        .header("host", "localhost:8080")
        .header("x-forwarded-proto", "https")
        .header("origin", "https://localhost:8080")
        .json(json!({ "name": "Germans behind TLS", "criteria_text": "country = \"DE\"" }))
        .send(&h)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");

    // A cookie the server never issued is no session.
    let forged =
        Session { cookie: "segscope_session=0123456789abcdef0123456789abcdef0123456789abcdef".into(), csrf: csrf.clone() };
    let (status, body) = req(Method::GET, "/api/v1/session").session(&forged).send(&h).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = req(Method::GET, format!("{WS}/segments")).session(&forged).send(&h).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");

    // Signing out needs the token too, then the cookie is dead everywhere.
    let (status, body) = req(Method::DELETE, "/api/v1/session").session(&session).send(&h).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, _) = req(Method::GET, "/api/v1/session").session(&session).send(&h).await;
    assert_eq!(status, StatusCode::OK, "a refused sign-out keeps the session");
    let (status, headers, _) = req(Method::DELETE, "/api/v1/session").signed(&session).raw(&h).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let cleared = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cleared.starts_with("segscope_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    let (status, body) = req(Method::GET, "/api/v1/session").session(&session).send(&h).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = req(Method::GET, format!("{WS}/segments")).session(&session).send(&h).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = req(Method::POST, format!("{WS}/segments"))
        .signed(&session)
        .json(json!({ "name": "x", "criteria_text": "everyone" }))
        .send(&h)
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn sessions_are_independent_and_each_has_its_own_csrf_token() {
    let h = harness_with_admin();
    let first = sign_in(&h).await;
    let second = sign_in(&h).await;
    assert_ne!(first.cookie, second.cookie);
    assert_ne!(first.csrf, second.csrf);
    // One session's token does not unlock the other.
    let crossed = Session { cookie: first.cookie.clone(), csrf: second.csrf.clone() };
    let (status, body) = req(Method::POST, format!("{WS}/segments"))
        .signed(&crossed)
        .json(json!({ "name": "x", "criteria_text": "everyone" }))
        .send(&h)
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    // Signing out without a session is harmless.
    let (status, _) = req(Method::DELETE, "/api/v1/session").send(&h).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Behind an HTTPS proxy the cookie is `Secure`.
    let (status, headers, _) = req(Method::POST, "/api/v1/session")
        .header("x-forwarded-proto", "https")
        .json(json!({ "token": ADMIN_TOKEN }))
        .raw(&h)
        .await;
    assert_eq!(status, StatusCode::OK);
    let set_cookie = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(set_cookie.split(';').any(|a| a.trim() == "Secure"), "{set_cookie}");
    // Signing one out leaves the other signed in.
    let (status, _) = req(Method::DELETE, "/api/v1/session").signed(&first).send(&h).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = req(Method::GET, "/api/v1/session").session(&first).send(&h).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = req(Method::GET, "/api/v1/session").session(&second).send(&h).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_api_key_always_wins_over_the_cookie() {
    let h = harness_with_admin();
    let session = sign_in(&h).await;
    // The admin cookie alone reads acme …
    let (status, _) = req(Method::GET, format!("{WS}/segments")).session(&session).send(&h).await;
    assert_eq!(status, StatusCode::OK);
    // … but with a key, the key decides.
    let (status, body) = req(Method::GET, format!("{WS}/segments")).session(&session).key(&h.other_secret).send(&h).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    assert!(!body.to_string().contains("Pricing"));
    let (status, body) = req(Method::GET, format!("{WS}/segments")).session(&session).key(&h.write).send(&h).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = req(Method::GET, format!("{WS}/segments")).session(&session).key(&h.revoked).send(&h).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) =
        req(Method::GET, format!("{WS}/segments")).session(&session).header("x-api-key", &h.other_secret).send(&h).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    // The workspace list with a key is the key's view, not the admin's.
    let (status, body) = req(Method::GET, "/api/v1/workspaces").session(&session).key(&h.other_secret).send(&h).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids_of_workspaces(&body), ["other"]);
    // And a key cannot create workspaces even next to an admin cookie.
    let (status, body) =
        req(Method::POST, "/api/v1/workspaces").signed(&session).key(&h.secret).json(json!({ "id": "sneaky" })).send(&h).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    assert!(!h.backend.workspaces().unwrap().iter().any(|w| w.as_str() == "sneaky"));
}

#[tokio::test]
async fn sign_in_is_refused_clearly_when_not_configured() {
    let h = harness();
    let (status, body) = req(Method::POST, "/api/v1/session").json(json!({ "token": ADMIN_TOKEN })).send(&h).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    assert!(body["error"]["message"].as_str().unwrap().contains("not configured"), "{body:#}");
    let (status, body) = req(Method::GET, "/api/v1/session").send(&h).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    // Keys keep working.
    let (status, _) = req(Method::GET, format!("{WS}/segments")).key(&h.secret).send(&h).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn sign_in_body_errors_are_the_api_format() {
    let h = harness_with_admin();
    let (status, body) =
        req(Method::POST, "/api/v1/session").json(json!({ "token": ADMIN_TOKEN, "remember": true })).send(&h).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let (status, body) = req(Method::POST, "/api/v1/session").bytes(b"{", "application/json").send(&h).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid");
    let (status, body) = req(Method::PUT, "/api/v1/session").send(&h).await;
    assert_error(status, &body, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

// ------------------------------------------------------------------ workspaces

fn ids_of_workspaces(body: &Value) -> Vec<String> {
    body["items"].as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn workspaces_are_listed_per_caller_and_created_by_the_admin_only() {
    let h = harness_with_admin();
    let (status, body) = req(Method::GET, "/api/v1/workspaces").send(&h).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = req(Method::GET, "/api/v1/workspaces").key(&h.revoked).send(&h).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = req(Method::GET, "/api/v1/workspaces").key(&h.write).send(&h).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");

    let (status, body) = req(Method::GET, "/api/v1/workspaces").key(&h.secret).send(&h).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(ids_of_workspaces(&body), ["acme"]);
    let (_, acme) = req(Method::GET, WS).key(&h.secret).send(&h).await;
    assert_eq!(body["items"][0], acme, "the same object as GET /workspaces/acme");
    assert!(!body.to_string().contains("secret-person"), "nothing of the other workspace");
    let (_, body) = req(Method::GET, "/api/v1/workspaces").key(&h.other_secret).send(&h).await;
    assert_eq!(ids_of_workspaces(&body), ["other"]);

    let session = sign_in(&h).await;
    let (status, body) = req(Method::GET, "/api/v1/workspaces").session(&session).send(&h).await;
    assert_eq!(status, StatusCode::OK);
    let all: Vec<String> = h.backend.workspaces().unwrap().iter().map(|w| w.as_str().to_owned()).collect();
    assert_eq!(ids_of_workspaces(&body), all);

    // Creating: the admin session only.
    for key in [&h.secret, &h.write] {
        let (status, body) = req(Method::POST, "/api/v1/workspaces").key(key).json(json!({ "id": "newco" })).send(&h).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    }
    let (status, body) = req(Method::POST, "/api/v1/workspaces").json(json!({ "id": "newco" })).send(&h).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = req(Method::POST, "/api/v1/workspaces").session(&session).json(json!({ "id": "newco" })).send(&h).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(h.backend.workspaces().unwrap().len(), 2, "nothing was created");

    for (bad, field) in [
        (json!({ "id": "Bad Id!" }), Some("id")),
        (json!({ "id": "-dash" }), Some("id")),
        (json!({ "id": "" }), Some("id")),
        (json!({ "id": "newco", "time_zone": "Mars/Base" }), Some("time_zone")),
        (json!({ "id": "newco", "owner": "me" }), None),
        (json!({ "id": 7 }), None),
    ] {
        let (status, body) = req(Method::POST, "/api/v1/workspaces").signed(&session).json(bad.clone()).send(&h).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        if let Some(field) = field {
            assert_eq!(body["error"]["details"]["field"], field, "{bad}: {body:#}");
        }
    }
    assert_eq!(h.backend.workspaces().unwrap().len(), 2, "nothing was created");

    let (status, created) = req(Method::POST, "/api/v1/workspaces")
        .signed(&session)
        .json(json!({ "id": "newco", "time_zone": "Europe/Paris" }))
        .send(&h)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created:#}");
    assert_eq!(created["id"], "newco");
    assert_eq!(created["settings"]["time_zone"], "Europe/Paris");
    let secret = created["secret_key"].as_str().unwrap().to_owned();
    let write = created["write_key"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("sk_") && write.starts_with("wk_"), "{created:#}");
    let (status, body) = req(Method::GET, "/api/v1/workspaces/newco").key(&secret).send(&h).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["stats"]["contacts"], 0);
    let (status, _) = req(Method::GET, WS).key(&secret).send(&h).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the new key is scoped to its workspace");
    let (status, _) = req(Method::GET, "/api/v1/workspaces/newco").key(&write).send(&h).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, body) = req(Method::GET, "/api/v1/workspaces").key(&secret).send(&h).await;
    assert_eq!(ids_of_workspaces(&body), ["newco"]);

    for dup in ["newco", "acme", " acme "] {
        let (status, body) = req(Method::POST, "/api/v1/workspaces").signed(&session).json(json!({ "id": dup })).send(&h).await;
        assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    }
    assert_eq!(h.backend.workspaces().unwrap().len(), 3);
    let (_, body) = req(Method::GET, "/api/v1/workspaces").session(&session).send(&h).await;
    assert_eq!(ids_of_workspaces(&body).len(), 3);
}

// ------------------------------------------------------------------ keys

#[tokio::test]
async fn keys_are_listed_without_secrets_created_once_and_revoked() {
    let h = harness();
    let (status, listed) = req(Method::GET, format!("{WS}/keys")).key(&h.secret).send(&h).await;
    assert_eq!(status, StatusCode::OK, "{listed:#}");
    let stored = h.backend.keys(&h.ws).unwrap();
    let listed_ids: BTreeSet<String> =
        listed["items"].as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap().to_owned()).collect();
    let stored_ids: BTreeSet<String> = stored.iter().map(|k| k.id.clone()).collect();
    assert_eq!(listed_ids, stored_ids);
    assert_eq!(stored_ids.len(), 3, "acme's secret, write and revoked keys");
    let text = listed.to_string();
    for secret in [&h.secret, &h.write, &h.revoked, &h.other_secret] {
        assert!(!text.contains(&secret[3..]), "no secret in the list");
    }
    for key in &stored {
        assert!(!text.contains(&key.hash), "no hash in the list");
    }
    for item in listed["items"].as_array().unwrap() {
        assert!(item.get("key").is_none() && item.get("hash").is_none(), "{item}");
        let stored = stored.iter().find(|k| k.id == item["id"]).unwrap();
        assert_eq!(item["revoked"], stored.revoked);
    }
    let other_keys = h.backend.keys(&WorkspaceId::parse("other").unwrap()).unwrap();
    assert!(other_keys.iter().all(|k| !listed_ids.contains(&k.id)), "no key of the other workspace");

    // Create: the secret is in the answer once, and works.
    let (status, created) =
        req(Method::POST, format!("{WS}/keys")).key(&h.secret).json(json!({ "kind": "secret", "label": " ci " })).send(&h).await;
    assert_eq!(status, StatusCode::CREATED, "{created:#}");
    let new_secret = created["key"].as_str().unwrap().to_owned();
    let new_id = created["id"].as_str().unwrap().to_owned();
    assert!(new_secret.starts_with("sk_"), "{created:#}");
    assert_eq!(created["kind"], "secret");
    assert_eq!(created["label"], "ci");
    assert_eq!(created["revoked"], false);
    let (status, _) = req(Method::GET, format!("{WS}/segments")).key(&new_secret).send(&h).await;
    assert_eq!(status, StatusCode::OK, "the new secret key works");
    let (status, created_write) =
        req(Method::POST, format!("{WS}/keys")).key(&new_secret).json(json!({ "kind": "write" })).send(&h).await;
    assert_eq!(status, StatusCode::CREATED);
    let new_write = created_write["key"].as_str().unwrap().to_owned();
    assert!(new_write.starts_with("wk_"));
    let (status, _) = req(Method::GET, format!("{WS}/segments")).key(&new_write).send(&h).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a write key reads nothing");
    let (_, listed) = req(Method::GET, format!("{WS}/keys")).key(&h.secret).send(&h).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 5);
    let text = listed.to_string();
    assert!(text.contains(&new_id) && !text.contains(&new_secret[3..]) && !text.contains(&new_write[3..]));

    for bad in [json!({ "kind": "admin" }), json!({ "label": "x" }), json!({ "kind": "secret", "scope": "all" })] {
        let (status, body) = req(Method::POST, format!("{WS}/keys")).key(&h.secret).json(bad).send(&h).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    }
    let (_, body) = req(Method::POST, format!("{WS}/keys")).key(&h.secret).json(json!({ "kind": "admin" })).send(&h).await;
    assert_eq!(body["error"]["details"]["field"], "kind");

    // Revoke: 204, then the key is a 401 like any unknown key.
    let (status, body) = req(Method::DELETE, format!("{WS}/keys/{new_id}")).key(&h.secret).send(&h).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body:#}");
    assert_eq!(body, Value::Null);
    let (status, body) = req(Method::GET, format!("{WS}/segments")).key(&new_secret).send(&h).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (_, listed) = req(Method::GET, format!("{WS}/keys")).key(&h.secret).send(&h).await;
    let revoked = listed["items"].as_array().unwrap().iter().find(|k| k["id"] == new_id.as_str()).unwrap();
    assert_eq!(revoked["revoked"], true);

    // A key may revoke itself; the next request with it is a 401.
    let (_, own) = req(Method::POST, format!("{WS}/keys")).key(&h.secret).json(json!({ "kind": "secret" })).send(&h).await;
    let (own_key, own_id) = (own["key"].as_str().unwrap(), own["id"].as_str().unwrap());
    let (status, _) = req(Method::DELETE, format!("{WS}/keys/{own_id}")).key(own_key).send(&h).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = req(Method::GET, format!("{WS}/keys")).key(own_key).send(&h).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Unknown ids and another workspace's key ids are 404, and nothing changes.
    let other_id = &other_keys[0].id;
    for unknown in ["key_nope", other_id.as_str()] {
        let (status, body) = req(Method::DELETE, format!("{WS}/keys/{unknown}")).key(&h.secret).send(&h).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    let (status, _) = req(Method::GET, "/api/v1/workspaces/other/segments").key(&h.other_secret).send(&h).await;
    assert_eq!(status, StatusCode::OK, "the other workspace's key still works");
    let (status, body) = req(Method::DELETE, format!("/api/v1/workspaces/other/keys/{other_id}")).key(&h.secret).send(&h).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, _) = req(Method::GET, "/api/v1/workspaces/other/segments").key(&h.other_secret).send(&h).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn key_routes_refuse_write_keys_other_workspaces_and_anonymous_callers() {
    let h = harness();
    let secret_id = h
        .backend
        .keys(&h.ws)
        .unwrap()
        .into_iter()
        .find(|k| k.kind == segscope_core::backend::KeyKind::Secret && !k.revoked)
        .unwrap()
        .id;
    let calls = || {
        [
            req(Method::GET, format!("{WS}/keys")),
            req(Method::POST, format!("{WS}/keys")).json(json!({ "kind": "secret" })),
            req(Method::DELETE, format!("{WS}/keys/{secret_id}")),
        ]
    };
    for call in calls() {
        let (status, body) = call.key(&h.write).send(&h).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    }
    for call in calls() {
        let (status, body) = call.key(&h.other_secret).send(&h).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
        assert_eq!(body["error"]["message"], "workspace `acme` not found");
    }
    for call in calls() {
        let (status, body) = call.send(&h).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    for call in calls() {
        let (status, body) = call.key(&h.revoked).send(&h).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    assert_eq!(h.backend.keys(&h.ws).unwrap().len(), 3, "no key was created");
    let (status, _) = req(Method::GET, WS).key(&h.secret).send(&h).await;
    assert_eq!(status, StatusCode::OK, "no key was revoked");
}

#[tokio::test]
async fn the_admin_manages_keys_with_the_csrf_token() {
    let h = harness_with_admin();
    let session = sign_in(&h).await;
    let (status, body) =
        req(Method::POST, format!("{WS}/keys")).session(&session).json(json!({ "kind": "secret" })).send(&h).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, created) =
        req(Method::POST, format!("{WS}/keys")).signed(&session).json(json!({ "kind": "secret" })).send(&h).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["id"].as_str().unwrap();
    let (status, body) = req(Method::DELETE, format!("{WS}/keys/{id}")).session(&session).send(&h).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, _) = req(Method::GET, WS).key(created["key"].as_str().unwrap()).send(&h).await;
    assert_eq!(status, StatusCode::OK, "a refused revoke changed nothing");
    let (status, _) = req(Method::DELETE, format!("{WS}/keys/{id}")).signed(&session).send(&h).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = req(Method::GET, WS).key(created["key"].as_str().unwrap()).send(&h).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

// ------------------------------------------------------------------ compare

#[tokio::test]
async fn compare_gives_each_segment_its_own_summary() {
    let h = harness();
    import(&h, &extra_contacts()).await;
    let germans = create_segment(&h, "Germans", "country = \"DE\"").await;
    let known = create_segment(&h, "Known", "contact is known").await;
    let pricing = u64::from(h.pricing.0);
    for (ids, query) in [
        (vec![0, pricing], ""),
        (vec![pricing, 0, germans], "view=known&range=last_7_days"),
        (vec![germans, known, pricing, 0], "view=anonymous&from=2024-03-01&to=2024-03-14&tz=Europe/Paris&granularity=week"),
        (vec![known, germans], "range=this_month&granularity=day"),
        (vec![0, known], "country=France&region=%C3%8Ele-de-France"),
    ] {
        let list = ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        let sep = if query.is_empty() { "" } else { "&" };
        let (status, body) = req(Method::GET, format!("{WS}/compare?segments={list}{sep}{query}")).key(&h.secret).send(&h).await;
        assert_eq!(status, StatusCode::OK, "{body:#}");
        let items = body["items"].as_array().unwrap();
        assert_eq!(items.len(), ids.len());
        for (item, id) in items.iter().zip(&ids) {
            assert_eq!(item["segment"]["id"], *id, "in the order asked");
            assert_eq!(*item, summary(&h, *id, query).await, "segment {id} with `{query}`");
        }
    }
    // Spaces around ids are fine (as typed in a URL bar).
    let (status, body) = req(Method::GET, format!("{WS}/compare?segments=0,%20{pricing}")).key(&h.secret).send(&h).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
}

#[tokio::test]
async fn compare_refuses_bad_segment_lists_naming_the_parameter() {
    let h = harness();
    let pricing = h.pricing.0;
    let germans = create_segment(&h, "Germans", "country = \"DE\"").await;
    let known = create_segment(&h, "Known", "contact is known").await;
    for (query, want) in [
        ("segments=0".to_owned(), StatusCode::UNPROCESSABLE_ENTITY),
        (format!("segments=0,{pricing},{germans},{known},{}", known + 1), StatusCode::UNPROCESSABLE_ENTITY),
        (format!("segments=0,{pricing},{germans},{known},0"), StatusCode::UNPROCESSABLE_ENTITY),
        (format!("segments={pricing},{pricing}"), StatusCode::UNPROCESSABLE_ENTITY),
        (format!("segments=0,{pricing},0"), StatusCode::UNPROCESSABLE_ENTITY),
        ("segments=0,abc".to_owned(), StatusCode::UNPROCESSABLE_ENTITY),
        ("segments=0,-1".to_owned(), StatusCode::UNPROCESSABLE_ENTITY),
        ("segments=0,".to_owned(), StatusCode::UNPROCESSABLE_ENTITY),
        ("segments=".to_owned(), StatusCode::UNPROCESSABLE_ENTITY),
        (String::new(), StatusCode::UNPROCESSABLE_ENTITY),
        ("segments=0,1&segments=0,1".to_owned(), StatusCode::UNPROCESSABLE_ENTITY),
        ("segments=0,999".to_owned(), StatusCode::NOT_FOUND),
    ] {
        let (status, body) = req(Method::GET, format!("{WS}/compare?{query}")).key(&h.secret).send(&h).await;
        assert_eq!(status, want, "{query}: {body:#}");
        assert_eq!(body["error"]["details"]["parameter"], "segments", "{query}: {body:#}");
    }
    for (query, parameter) in [
        ("segments=0,1&view=robots", "view"),
        ("segments=0,1&tz=Mars/Base", "tz"),
        ("segments=0,1&granularty=week", "granularty"),
        ("segments=0,1&range=forever", "range"),
    ] {
        let (status, body) = req(Method::GET, format!("{WS}/compare?{query}")).key(&h.secret).send(&h).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        assert_eq!(body["error"]["details"]["parameter"], parameter, "{query}: {body:#}");
    }
}

// ------------------------------------------------------------------ drill-down

/// The drill-down filter for each bucket of the summary's blocks, with the
/// bucket's count.
fn buckets(summary: &Value) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let count = |bucket: &Value| bucket["count"].as_u64().unwrap();
    for bucket in summary["stages"].as_array().unwrap() {
        let filter = match bucket["stage"].as_str() {
            Some(stage) => format!("stage={}", enc(stage)),
            None => "missing=stage".to_owned(),
        };
        out.push((filter, count(bucket)));
    }
    for bucket in summary["geography"]["countries"].as_array().unwrap() {
        let filter = match bucket["country"].as_str() {
            Some(code) => format!("country={code}"),
            None => "missing=country".to_owned(),
        };
        out.push((filter, count(bucket)));
    }
    for bucket in summary["subscription"].as_array().unwrap() {
        out.push((format!("status={}", bucket["status"].as_str().unwrap()), count(bucket)));
    }
    for bucket in summary["reachability"].as_array().unwrap() {
        out.push((format!("reachability={}", bucket["level"].as_str().unwrap()), count(bucket)));
    }
    for bucket in summary["email_providers"].as_array().unwrap() {
        out.push((format!("provider={}", bucket["provider"].as_str().unwrap()), count(bucket)));
    }
    for bucket in summary["sources"]["creation_channels"].as_array().unwrap() {
        out.push((format!("channel={}", bucket["channel"].as_str().unwrap()), count(bucket)));
    }
    for bucket in summary["sources"]["first_touch"].as_array().unwrap() {
        let filter = match bucket["source"].as_str() {
            Some(source) => format!("source={source}"),
            None => "missing=source".to_owned(),
        };
        out.push((filter, count(bucket)));
    }
    out
}

#[tokio::test]
async fn drill_down_lists_hold_exactly_the_members_the_summary_counts() {
    let h = harness();
    import(&h, &extra_contacts()).await;
    let germans = create_segment(&h, "Germans", "country = \"DE\"").await;
    let mut checked_nonzero = 0;
    for segment in [0, u64::from(h.pricing.0), germans] {
        for view in ["all", "known", "anonymous"] {
            let summary = summary(&h, segment, &format!("view={view}")).await;
            let everyone = all_rows(&h, segment, &format!("view={view}")).await;
            assert_eq!(everyone.len() as u64, summary["overall"]["total"].as_u64().unwrap(), "{segment} {view}");
            // The same members as the members list, in the same order.
            let (_, members) =
                req(Method::GET, format!("{WS}/segments/{segment}/members?view={view}&limit=1000")).key(&h.secret).send(&h).await;
            assert_eq!(Value::Array(everyone.clone()), members["items"], "{segment} {view}");
            for row in &everyone {
                if view != "all" {
                    assert_eq!(row["kind"], view);
                }
            }
            let mut seen_stage = 0;
            for (filter, count) in buckets(&summary) {
                let rows = all_rows(&h, segment, &format!("view={view}&{filter}")).await;
                assert_eq!(rows.len() as u64, count, "segment {segment}, view {view}, {filter}");
                if count > 0 {
                    checked_nonzero += 1;
                }
                // Each row really has the value filtered on.
                let (field, value) = filter.split_once('=').unwrap();
                for row in &rows {
                    let shown = match field {
                        "stage" => row["stage"].clone(),
                        "country" => row["country"].clone(),
                        "status" => row["subscription_status"].clone(),
                        "reachability" => row["reachability"].clone(),
                        "provider" => row["email_provider"].clone(),
                        "channel" => row["channel"].clone(),
                        "source" => row["source"].clone(),
                        _ => row[value].clone(),
                    };
                    if field == "missing" {
                        assert_eq!(shown, Value::Null, "{filter}: {row}");
                    } else {
                        assert_eq!(enc(shown.as_str().unwrap()), value, "{filter}: {row}");
                    }
                }
                if field == "stage" || filter == "missing=stage" {
                    seen_stage += rows.len();
                }
            }
            assert_eq!(seen_stage, everyone.len(), "stage buckets partition the members");
        }
    }
    assert!(checked_nonzero > 40, "the data exercises many buckets ({checked_nonzero})");
}

#[tokio::test]
async fn drill_down_filters_combine_and_page_by_cursor() {
    let h = harness();
    import(&h, &extra_contacts()).await;
    let everyone = all_rows(&h, 0, "").await;
    let expected: Vec<u64> = everyone
        .iter()
        .filter(|r| r["country"] == "FR" && r["email_provider"] == "gmail" && r["stage"].is_null())
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    let rows = all_rows(&h, 0, "country=fr&provider=gmail&missing=stage").await;
    assert_eq!(rows.iter().map(|r| r["id"].as_u64().unwrap()).collect::<Vec<_>>(), expected);
    // Values are read as the summary writes them, or as a person types them.
    for (typed, key) in [
        ("country=France", "country=FR"),
        ("country=fr", "country=FR"),
        ("status=Opted%20in", "status=opted_in"),
        ("status=NO_EMAIL", "status=no_email"),
        ("reachability=No%20email", "reachability=none"),
        ("provider=GMAIL", "provider=gmail"),
    ] {
        let by_key = all_rows(&h, 0, key).await;
        assert!(!by_key.is_empty(), "{key} has members");
        assert_eq!(all_rows(&h, 0, typed).await, by_key, "{typed}");
    }
    let no_email: Vec<u64> = everyone.iter().filter(|r| r["email"].is_null()).map(|r| r["id"].as_u64().unwrap()).collect();
    assert!(no_email.len() >= 4, "anonymous visitors and external-id contacts");
    assert_eq!(ids_of(&Value::Array(all_rows(&h, 0, "missing=email").await)), no_email);
    let both: Vec<u64> =
        everyone.iter().filter(|r| r["email"].is_null() && r["country"].is_null()).map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(ids_of(&Value::Array(all_rows(&h, 0, "missing=email&missing=country").await)), both);

    // Pages of every size give every member once, in order.
    let all_ids = ids_of(&Value::Array(everyone.clone()));
    for limit in [1, 2, 7, all_ids.len() - 1, all_ids.len(), all_ids.len() + 1] {
        let mut got = Vec::new();
        let mut cursor = String::new();
        loop {
            let (status, body) =
                req(Method::GET, format!("{WS}/segments/0/contacts?limit={limit}{cursor}")).key(&h.secret).send(&h).await;
            assert_eq!(status, StatusCode::OK);
            assert!(body["items"].as_array().unwrap().len() <= limit);
            got.extend(ids_of(&body["items"]));
            match body["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => break,
            }
        }
        assert_eq!(got, all_ids, "limit {limit}");
    }
    // A cursor is "after this id": resuming mid-list skips exactly what came before.
    let middle = all_ids[all_ids.len() / 2];
    let (_, body) =
        req(Method::GET, format!("{WS}/segments/0/contacts?limit=1000&cursor={middle}")).key(&h.secret).send(&h).await;
    assert_eq!(ids_of(&body["items"]), all_ids.iter().copied().filter(|id| *id > middle).collect::<Vec<_>>());
    // The default page is 100 rows, with no cursor when everything fits.
    let (_, body) = req(Method::GET, format!("{WS}/segments/0/contacts")).key(&h.secret).send(&h).await;
    assert_eq!(ids_of(&body["items"]), all_ids);
    assert_eq!(body["next_cursor"], Value::Null);
}

#[tokio::test]
async fn drill_down_refuses_bad_filters_cursors_and_limits() {
    let h = harness();
    for (query, parameter) in [
        ("missing=phone", "missing"),
        ("missing=stage&missing=nothing", "missing"),
        ("reachability=hgih", "reachability"),
        ("status=subscribed", "status"),
        ("provider=hotmail", "provider"),
        ("country=Atlantis", "country"),
        ("colour=red", "colour"),
        ("stage=Raw%20lead&stage=Sales%20ready", "stage"),
        ("view=robots", "view"),
        ("cursor=abc", "cursor"),
        ("cursor=-1", "cursor"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
    ] {
        let (status, body) = req(Method::GET, format!("{WS}/segments/0/contacts?{query}")).key(&h.secret).send(&h).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        assert_eq!(body["error"]["details"]["parameter"], parameter, "{query}: {body:#}");
    }
    for segment in ["999", "abc"] {
        let (status, body) = req(Method::GET, format!("{WS}/segments/{segment}/contacts")).key(&h.secret).send(&h).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
}

// ------------------------------------------------------------------ export

async fn export(h: &Harness, segment: u64, query: &str) -> (StatusCode, HeaderMap, String) {
    let (status, headers, bytes) =
        req(Method::GET, format!("{WS}/segments/{segment}/export?{query}")).key(&h.secret).raw(h).await;
    (status, headers, String::from_utf8(bytes).unwrap())
}

#[tokio::test]
async fn csv_export_has_a_header_and_one_quoted_row_per_member() {
    let h = harness();
    import(&h, &extra_contacts()).await;
    for (segment, filter) in
        [(0, ""), (0, "view=known"), (u64::from(h.pricing.0), "view=anonymous"), (0, "stage=Sales%20ready&country=DE")]
    {
        let rows = all_rows(&h, segment, filter).await;
        let (status, headers, text) = export(&h, segment, filter).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        assert_eq!(headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        assert!(!headers.contains_key("x-next-cursor"), "a whole export has no next page");
        let disposition = headers[header::CONTENT_DISPOSITION].to_str().unwrap();
        assert!(disposition.starts_with("attachment; filename=\"") && disposition.ends_with("-contacts.csv\""), "{disposition}");
        let records = parse_csv(&text);
        let (header_row, data) = records.split_first().unwrap();
        let json_fields: BTreeSet<&str> =
            rows.first().map_or_else(BTreeSet::new, |r| r.as_object().unwrap().keys().map(String::as_str).collect());
        if !rows.is_empty() {
            assert_eq!(header_row.iter().map(String::as_str).collect::<BTreeSet<_>>(), json_fields, "one column per row field");
        }
        assert_eq!(header_row[0], "id");
        assert_eq!(data.len(), rows.len(), "{filter}: one record per member");
        for (record, row) in data.iter().zip(&rows) {
            assert_eq!(record.len(), header_row.len());
            for (column, cell) in header_row.iter().zip(record) {
                assert_eq!(*cell, csv_cell(&row[column.as_str()]), "{column} of {row}");
            }
        }
    }
    // The spreadsheet-hostile contact: quoted per RFC 4180, formula defused.
    let (_, _, text) = export(&h, 0, "").await;
    assert!(text.contains("'=HYPERLINK(\"\"http://evil.example\"\")"), "{text}");
    assert!(text.contains("\"Smith, \"\"Jr\"\"\nthe second\""), "{text}");
    assert!(!text.contains(",=HYPERLINK") && !text.contains(",\"=HYPERLINK"), "no cell starts with `=`");
    assert!(text.contains(",'-2+3,'@SUM(A1:A9),"), "{text}");
    for record in parse_csv(&text) {
        for cell in record {
            assert!(!cell.starts_with(['=', '+', '-', '@']), "{cell}");
        }
    }
    // Segment with no members still gets its header.
    let empty = create_segment(&h, "Nobody", "country = \"JP\"").await;
    let (status, headers, text) = export(&h, empty, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(parse_csv(&text).len(), 1, "only the header: {text}");
    assert_eq!(headers[header::CONTENT_DISPOSITION], "attachment; filename=\"nobody-contacts.csv\"");
}

#[tokio::test]
async fn ndjson_export_is_one_contact_row_per_line() {
    let h = harness();
    import(&h, &extra_contacts()).await;
    for filter in ["", "view=known", "view=anonymous", "provider=gmail", "missing=email"] {
        let rows = all_rows(&h, 0, filter).await;
        let (status, headers, text) = export(&h, 0, &format!("format=ndjson&{filter}")).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/x-ndjson");
        assert!(headers[header::CONTENT_DISPOSITION].to_str().unwrap().ends_with("-contacts.ndjson\""));
        assert!(text.is_empty() || text.ends_with('\n'));
        let lines: Vec<Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(lines, rows, "{filter}");
    }
}

#[tokio::test]
async fn a_paged_export_gives_each_member_once_across_concurrent_writes() {
    let h = harness();
    import(&h, &extra_contacts()).await;
    let before = ids_of(&Value::Array(all_rows(&h, 0, "").await));
    let mut seen: Vec<u64> = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let (status, headers, text) = export(&h, 0, &format!("format=ndjson&limit=5{cursor}")).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let page: Vec<u64> = text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].as_u64().unwrap()).collect();
        assert!(page.len() <= 5);
        seen.extend(&page);
        pages += 1;
        if pages == 2 {
            // Between pages: new contacts arrive, an exported contact and a
            // not-yet-exported one change.
            let first = seen[0];
            let last = *before.last().unwrap();
            let (_, shown) = req(Method::GET, format!("{WS}/contacts/{first}")).key(&h.secret).send(&h).await;
            let (_, later) = req(Method::GET, format!("{WS}/contacts/{last}")).key(&h.secret).send(&h).await;
            let subject = |c: &Value| match c["email"].as_str() {
                Some(email) => json!({ "email": email }),
                None => json!({ "external_id": c["external_id"] }),
            };
            let mut lines = String::new();
            for c in [&shown, &later] {
                if c["kind"] == "known" {
                    let mut line = subject(c);
                    line["type"] = json!("contact");
                    line["fields"] = json!({ "stage": "Marketing qualified" });
                    lines.push_str(&format!("{line}\n"));
                }
            }
            lines.push_str("{\"type\":\"contact\",\"email\":\"late1@example.com\"}\n{\"type\":\"contact\",\"email\":\"late2@example.com\"}\n");
            import(&h, &lines).await;
        }
        match headers.get("x-next-cursor") {
            Some(next) => {
                assert_eq!(next.to_str().unwrap(), page.last().unwrap().to_string());
                cursor = format!("&cursor={}", next.to_str().unwrap());
            }
            None => break,
        }
    }
    assert!(pages > 3, "several pages");
    let unique: BTreeSet<u64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no row twice: {seen:?}");
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    for id in &before {
        assert!(unique.contains(id), "member {id} was there throughout and is exported");
    }
    let after = ids_of(&Value::Array(all_rows(&h, 0, "").await));
    assert_eq!(after.len(), before.len() + 2);
    assert_eq!(seen, after, "the contacts created during the export come after the cursor, once");
}

#[tokio::test]
async fn export_refuses_unknown_formats_and_bad_limits() {
    let h = harness();
    for (query, parameter) in [
        ("format=xlsx", "format"),
        ("format=csv&format=ndjson", "format"),
        ("limit=0", "limit"),
        ("limit=100001", "limit"),
        ("cursor=x", "cursor"),
        ("missing=phone", "missing"),
        ("reachability=hgih", "reachability"),
        ("colour=red", "colour"),
    ] {
        let (status, _, text) = export(&h, 0, query).await;
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        assert_eq!(body["error"]["details"]["parameter"], parameter, "{query}: {body:#}");
    }
    let (status, _, text) = export(&h, 999, "").await;
    assert_error(status, &serde_json::from_str(&text).unwrap(), StatusCode::NOT_FOUND, "not_found");
}

// ------------------------------------------------------------------ every new route: 401 / 403 / 404

#[tokio::test]
async fn new_workspace_routes_need_a_secret_key_of_that_workspace() {
    let h = harness();
    let p = h.pricing.0;
    let key_id = h.backend.keys(&h.ws).unwrap()[0].id.clone();
    let calls = || {
        vec![
            req(Method::GET, format!("{WS}/keys")),
            req(Method::POST, format!("{WS}/keys")).json(json!({ "kind": "secret" })),
            req(Method::DELETE, format!("{WS}/keys/{key_id}")),
            req(Method::GET, format!("{WS}/compare?segments=0,{p}")),
            req(Method::GET, format!("{WS}/segments/{p}/contacts")),
            req(Method::GET, format!("{WS}/segments/0/contacts?country=FR")),
            req(Method::GET, format!("{WS}/segments/{p}/export")),
            req(Method::GET, format!("{WS}/segments/0/export?format=ndjson")),
        ]
    };
    for call in calls() {
        let uri = call.uri.clone();
        let (status, body) = call.send(&h).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
        assert!(!body.to_string().contains("ann@"), "{uri}");
    }
    for call in calls() {
        let (status, body) = call.key("sk_0000").send(&h).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    for call in calls() {
        let (status, body) = call.key(&h.revoked).send(&h).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    for call in calls() {
        let (status, body) = call.key(&h.write).send(&h).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    }
    for call in calls() {
        let uri = call.uri.clone();
        let (status, body) = call.key(&h.other_secret).send(&h).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
        assert_eq!(body["error"]["message"], "workspace `acme` not found", "{uri}");
        let text = body.to_string();
        assert!(!text.contains("ann@") && !text.contains("Pricing") && !text.contains("key_"), "{uri}: {text}");
    }
    // A workspace that does not exist answers the same.
    for uri in [
        "/api/v1/workspaces/ghost/keys",
        "/api/v1/workspaces/ghost/compare?segments=0,1",
        "/api/v1/workspaces/ghost/segments/0/contacts",
        "/api/v1/workspaces/ghost/segments/0/export",
    ] {
        let (status, body) = req(Method::GET, uri).key(&h.other_secret).send(&h).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
        assert_eq!(body["error"]["message"], "workspace `ghost` not found");
    }
    // Authentication comes before the query: no hint of the rules.
    for uri in [
        format!("{WS}/compare?segments=junk"),
        format!("{WS}/segments/0/contacts?limit=0"),
        format!("{WS}/segments/0/export?format=xlsx"),
    ] {
        let (status, body) = req(Method::GET, uri).send(&h).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    // The other workspace's own data never shows through its key on its routes either.
    let (status, body) = req(Method::GET, "/api/v1/workspaces/other/segments/0/export?format=ndjson")
        .key(&h.other_secret)
        .raw(&h)
        .await
        .into_json_text();
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("secret-person@other.example") && !body.contains("ann@example.com"), "{body}");
}

trait IntoJsonText {
    fn into_json_text(self) -> (StatusCode, String);
}

impl IntoJsonText for (StatusCode, HeaderMap, Vec<u8>) {
    fn into_json_text(self) -> (StatusCode, String) {
        (self.0, String::from_utf8(self.2).unwrap())
    }
}

// ------------------------------------------------------------------ summary caching

#[tokio::test]
async fn summary_has_an_etag_and_answers_304_until_the_numbers_change() {
    let h = harness();
    let uri = format!("{WS}/segments/0/summary?view=all");
    let (status, headers, bytes) = req(Method::GET, &uri).key(&h.secret).raw(&h).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CACHE_CONTROL], "private, no-cache");
    let etag = headers[header::ETAG].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10, "{etag}");
    let first = json_of(&bytes);

    let (status, headers, bytes) = req(Method::GET, &uri).key(&h.secret).header("if-none-match", &etag).raw(&h).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(bytes.is_empty());
    assert_eq!(headers[header::ETAG], etag.as_str());
    let (status, _, _) =
        req(Method::GET, &uri).key(&h.secret).header("if-none-match", &format!("\"nope\", {etag}")).raw(&h).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED, "one of a list matches");
    let (status, _, _) = req(Method::GET, &uri).key(&h.secret).header("if-none-match", "\"nope\"").raw(&h).await;
    assert_eq!(status, StatusCode::OK);

    // Other parameters, other numbers, other tag.
    let (_, headers, _) = req(Method::GET, format!("{WS}/segments/0/summary?view=known")).key(&h.secret).raw(&h).await;
    assert_ne!(headers[header::ETAG], etag.as_str());

    // A write that changes the numbers changes the tag.
    import(&h, "{\"type\":\"contact\",\"email\":\"new@example.com\"}\n").await;
    let (status, headers, bytes) = req(Method::GET, &uri).key(&h.secret).header("if-none-match", &etag).raw(&h).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(headers[header::ETAG], etag.as_str());
    let second = json_of(&bytes);
    assert_eq!(second["overall"]["total"].as_u64().unwrap(), first["overall"]["total"].as_u64().unwrap() + 1);
    // The tag is the other workspace's business only through its own key.
    let (status, _, _) = req(Method::GET, &uri).key(&h.other_secret).header("if-none-match", &etag).raw(&h).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a 304 would leak that the numbers are unchanged");
}

// ------------------------------------------------------------------ dashboard assets

#[tokio::test]
async fn dashboard_page_and_assets_are_public_cached_and_locked_down() {
    let h = harness();
    for (uri, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/app.css", "text/css; charset=utf-8"),
        ("/assets/world.json", "application/json"),
    ] {
        let (status, headers, bytes) = req(Method::GET, uri).raw(&h).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert_eq!(headers[header::CONTENT_TYPE], content_type, "{uri}");
        assert!(!bytes.is_empty());
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
        let etag = headers[header::ETAG].to_str().unwrap().to_owned();
        let (status, again, bytes) = req(Method::GET, uri).header("if-none-match", &etag).raw(&h).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{uri}");
        assert!(bytes.is_empty());
        assert_eq!(again[header::ETAG], etag.as_str());
        assert!(headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("script-src 'self'"));
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    }
    let (_, headers, _) = req(Method::GET, "/assets/app.js").raw(&h).await;
    let (_, other, _) = req(Method::GET, "/assets/app.css").raw(&h).await;
    assert_ne!(headers[header::ETAG], other[header::ETAG], "each file has its own tag");
    let (status, body) = req(Method::GET, "/assets/secret.txt").send(&h).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = req(Method::GET, "/assets/..%2FCargo.toml").send(&h).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = req(Method::GET, "/?debug=1").send(&h).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    // The security headers are on API answers and errors too.
    let (_, headers, _) = req(Method::GET, format!("{WS}/segments")).raw(&h).await;
    assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY));
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
}

// ------------------------------------------------------------------ OpenAPI

const METHODS: [&str; 6] = ["get", "post", "put", "patch", "delete", "options"];

async fn openapi(h: &Harness) -> Value {
    let (status, headers, bytes) = req(Method::GET, "/api/v1/openapi.json").raw(h).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("application/json"));
    json_of(&bytes)
}

/// Follows a local `$ref` (`#/components/...`).
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

fn check_refs(doc: &Value, value: &Value, at: &str) {
    match value {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref") {
                let reference = reference.as_str().unwrap();
                assert!(resolve(doc, reference).is_some(), "{at}: dangling $ref {reference}");
            }
            for (key, inner) in map {
                check_refs(doc, inner, &format!("{at}/{key}"));
            }
        }
        Value::Array(items) => items.iter().enumerate().for_each(|(i, inner)| check_refs(doc, inner, &format!("{at}/{i}"))),
        _ => {}
    }
}

#[tokio::test]
async fn the_openapi_document_is_well_formed() {
    let h = harness();
    let doc = openapi(&h).await;
    let version = doc["openapi"].as_str().unwrap();
    assert!(version.starts_with("3."), "{version}");
    assert!(doc["info"]["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    check_refs(&doc, &doc, "");
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    for requirement in doc["security"].as_array().unwrap() {
        for name in requirement.as_object().unwrap().keys() {
            assert!(schemes.contains_key(name), "security scheme {name}");
        }
    }
    assert_eq!(schemes["session"]["name"], "segscope_session");
    let mut operation_ids = BTreeSet::new();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() > 20);
    for (path, item) in paths {
        assert!(path.starts_with('/'), "{path}");
        let templated: BTreeSet<&str> =
            path.split('/').filter_map(|p| p.strip_prefix('{').and_then(|p| p.strip_suffix('}'))).collect();
        for (method, op) in item.as_object().unwrap() {
            assert!(METHODS.contains(&method.as_str()), "{method} {path}");
            let id = op["operationId"].as_str().unwrap();
            assert!(operation_ids.insert(id.to_owned()), "operationId {id} twice");
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{method} {path}");
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.keys().any(|code| code.starts_with('2')), "{method} {path}: a success response");
            for (code, response) in responses {
                assert!(code.len() == 3 && code.parse::<u16>().is_ok(), "{method} {path}: {code}");
                assert!(response["description"].is_string(), "{method} {path} {code}");
            }
            let parameters = op["parameters"].as_array().unwrap();
            let in_path: BTreeSet<&str> =
                parameters.iter().filter(|p| p["in"] == "path").map(|p| p["name"].as_str().unwrap()).collect();
            assert_eq!(in_path, templated, "{method} {path}: path parameters");
            let mut names = BTreeSet::new();
            for parameter in parameters {
                assert!(["path", "query"].contains(&parameter["in"].as_str().unwrap()));
                assert!(parameter["schema"].is_object());
                assert!(
                    names.insert((parameter["in"].to_string(), parameter["name"].to_string())),
                    "{method} {path}: {parameter} twice"
                );
                if parameter["in"] == "path" {
                    assert_eq!(parameter["required"], true);
                }
            }
            if let Some(body) = op.get("requestBody") {
                assert!(body["content"].as_object().is_some_and(|c| !c.is_empty()), "{method} {path}");
            }
        }
    }
}

/// A documented path with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{ws}", "acme")
        .replace("{id}", "999999")
        .replace("{key}", "key_nope")
        .replace("{contact}", "999999")
        .replace("{file}", "app.js")
}

fn is_routing_miss(status: StatusCode, body: &Value) -> bool {
    status == StatusCode::METHOD_NOT_ALLOWED || (status == StatusCode::NOT_FOUND && body["error"]["message"] == ROUTE_NOT_FOUND)
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_every_route_is_documented() {
    let h = harness();
    let doc = openapi(&h).await;
    let paths = doc["paths"].as_object().unwrap();
    let mut undocumented = Vec::new();
    for (path, item) in paths {
        let documented = item.as_object().unwrap();
        for method in METHODS {
            let mut call = req(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(), concrete(path)).key(&h.secret);
            if method == "post" || method == "patch" || method == "put" {
                call = call.json(json!({}));
            }
            let (status, _, bytes) = call.raw(&h).await;
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            match documented.get(method) {
                Some(op) => {
                    assert!(!is_routing_miss(status, &body), "{method} {path} is documented but not routed: {status} {body}");
                    if op["responses"].get(status.as_str()).is_none() {
                        undocumented.push(format!("{method} {path} answered {status}: {body}"));
                    }
                }
                None => {
                    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is routed but not documented: {body}");
                }
            }
        }
    }
    assert!(undocumented.is_empty(), "statuses missing from the document:\n{}", undocumented.join("\n"));
    // Every path the router declares is in the document (the route table is
    // read from the source, so a route added there without a line in
    // `openapi::ROUTES` fails here).
    let source = include_str!("../src/routes/mod.rs");
    // The `router` function, without comments or whitespace (paths have no
    // spaces; a `.route(` may span lines).
    let start = source.find("pub fn router(").expect("routes::router");
    let body = &source[start..start + source[start..].find("\n}\n").expect("the end of routes::router")];
    let code: String = body
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
        .collect();
    let mut declared = 0;
    let mut routed_ops = 0;
    for piece in code.split(".route(\"").skip(1) {
        let end = piece.find('"').unwrap();
        let path = &piece[..end];
        declared += 1;
        let nested = format!("/api/v1/workspaces/{{ws}}{}", if path == "/" { "" } else { path });
        assert!(paths.contains_key(path) || paths.contains_key(&nested), "route {path} is not documented");
        // The method router of this `.route(…)`: up to the next `.route(`, `.merge(` or `.layer(`.
        let handlers = &piece[end..];
        let handlers = [").route(", ".merge(", ".layer(", ".nest(", ".fallback("]
            .iter()
            .filter_map(|stop| handlers.find(stop))
            .min()
            .map_or(handlers, |stop| &handlers[..stop]);
        routed_ops +=
            ["get(", "post(", "patch(", "delete(", "put(", "options("].iter().map(|m| handlers.matches(m).count()).sum::<usize>();
    }
    assert!(declared > 25, "the route table was read ({declared})");
    let documented_ops: usize = paths.values().map(|item| item.as_object().unwrap().len()).sum();
    assert_eq!(documented_ops, routed_ops, "one documented operation per routed method");

    // And what is not documented is not routed.
    for uri in [
        "/api/v1",
        "/api/v1/nothing",
        "/api/v1/openapi.yaml",
        "/api/v1/workspaces/acme/nothing",
        "/api/v1/workspaces/acme/segments/1/nothing",
        "/api/v1/workspaces/acme/keys/key_1/rotate",
        "/api/v1/workspaces/acme/compare/1",
        "/api/v1/sessions",
        "/assets",
        "/assets/js/app.js",
        "/docs",
    ] {
        let (status, body) = req(Method::GET, uri).key(&h.secret).send(&h).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
        assert_eq!(body["error"]["message"], ROUTE_NOT_FOUND, "{uri}");
        assert!(!paths.contains_key(uri));
    }
}

#[tokio::test]
async fn the_reference_page_is_escaped_html_of_the_same_table() {
    let h = harness();
    let doc = openapi(&h).await;
    let (status, headers, bytes) = req(Method::GET, "/api/v1/docs").raw(&h).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY));
    let html = String::from_utf8(bytes).unwrap();
    assert!(html.starts_with("<!doctype html>") && html.ends_with("</html>"));
    assert!(!html.contains("<script"), "no script on the page");
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let row = format!("<tr><td><code>{}</code></td><td><code>{}</code></td>", method.to_uppercase(), path);
            assert!(html.contains(&row), "{method} {path} is on the page");
            let summary = op["summary"].as_str().unwrap();
            let escaped = summary
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
                .replace('\'', "&#39;");
            assert!(html.contains(&escaped), "{summary}");
        }
    }
    // Bodies described with quotes and angle brackets come out escaped.
    assert!(html.contains("{&quot;token&quot;: &quot;adm_…&quot;}"), "the sign-in body, escaped");
    assert!(!html.contains("{\"token\""));
    let (status, body) = req(Method::GET, "/api/v1/docs?x=1").send(&h).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let (status, body) = req(Method::GET, "/api/v1/openapi.json?format=yaml").send(&h).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
}

#[tokio::test]
async fn drill_down_by_region_and_city_matches_the_summary_drill() {
    let h = harness();
    let mut lines = String::new();
    for (i, (region, city)) in [
        ("Île-de-France", "Paris"),
        ("Île-de-France", "Paris"),
        ("Île-de-France", "Versailles"),
        ("Occitanie", "Toulouse"),
        ("Occitanie", ""),
        ("", ""),
    ]
    .iter()
    .enumerate()
    {
        let mut fields = json!({ "country": "FR" });
        if !region.is_empty() {
            fields["region"] = json!(region);
        }
        if !city.is_empty() {
            fields["city"] = json!(city);
        }
        lines.push_str(&format!("{}\n", json!({ "type": "contact", "email": format!("fr{i}@example.com"), "fields": fields })));
    }
    import(&h, &lines).await;
    let country = summary(&h, 0, "country=FR").await;
    let regions = country["geography"]["regions"].as_array().unwrap();
    assert!(regions.len() >= 2, "{regions:?}");
    let mut checked = 0;
    for region in regions {
        let count = region["count"].as_u64().unwrap();
        let filter = match region["name"].as_str() {
            Some(name) => format!("country=FR&region={}", enc(name)),
            None => "country=FR&missing=region".to_owned(),
        };
        assert_eq!(all_rows(&h, 0, &filter).await.len() as u64, count, "{filter}");
        let Some(name) = region["name"].as_str() else { continue };
        let drilled = summary(&h, 0, &format!("country=FR&region={}", enc(name))).await;
        for city in drilled["geography"]["cities"].as_array().unwrap() {
            let filter = match city["name"].as_str() {
                Some(city) => format!("country=FR&region={}&city={}", enc(name), enc(city)),
                None => format!("country=FR&region={}&missing=city", enc(name)),
            };
            assert_eq!(all_rows(&h, 0, &filter).await.len() as u64, city["count"].as_u64().unwrap(), "{filter}");
            checked += 1;
        }
    }
    assert!(checked >= 3, "cities were checked ({checked})");
}

#[tokio::test]
async fn documented_query_parameters_are_the_ones_the_routes_take() {
    let h = harness();
    let doc = openapi(&h).await;
    let unknown = |body: &Value, name: &str| {
        body["error"]["details"]["parameter"] == name
            && body["error"]["message"].as_str().is_some_and(|m| m.starts_with("unknown query parameter"))
    };
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            // Required parameters with good values, so that the one under test is what is judged.
            let required: String = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["in"] == "query" && p["required"] == true)
                .map(|p| match p["name"].as_str().unwrap() {
                    "segments" => format!("segments=0,{}&", h.pricing.0),
                    "field" => "field=country&".to_owned(),
                    other => panic!("a value for required `{other}`"),
                })
                .collect();
            let send = |query: String| {
                let uri = format!("{}?{required}{query}", concrete(path));
                let mut call = req(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(), uri).key(&h.secret);
                if method == "post" || method == "patch" {
                    call = call.json(json!({}));
                }
                call
            };
            for parameter in op["parameters"].as_array().unwrap().iter().filter(|p| p["in"] == "query") {
                let name = parameter["name"].as_str().unwrap();
                let (_, body) = send(format!("{name}=1")).send(&h).await;
                assert!(!unknown(&body, name), "{method} {path}: documented `{name}` is refused as unknown: {body}");
                checked += 1;
            }
            if op["responses"].get("401").is_some() && path.starts_with("/api/v1/workspaces") {
                let (status, body) = send("zzz=1".to_owned()).send(&h).await;
                // A body error can come first (the body is read before the
                // handler checks the query); any other answer must name `zzz`.
                let body_error = body["error"]["message"].as_str().is_some_and(|m| m.contains("JSON body"));
                if !body_error && (status == StatusCode::UNPROCESSABLE_ENTITY || status.is_success()) {
                    assert!(unknown(&body, "zzz"), "{method} {path}: an undocumented parameter is accepted: {status} {body}");
                }
            }
        }
    }
    assert!(checked > 50, "{checked}");
}

#[tokio::test]
async fn the_openapi_document_parses_as_openapi_3_1_with_every_reference_resolved() {
    let h = harness();
    let (_, _, bytes) = req(Method::GET, "/api/v1/openapi.json").raw(&h).await;
    let text = String::from_utf8(bytes).unwrap();
    let spec = oas3::from_json(&text).unwrap_or_else(|e| panic!("not an OpenAPI 3.1 document: {e}"));
    let version = spec.validate_version().unwrap();
    assert_eq!((version.major, version.minor), (3, 1));
    let raw: Value = serde_json::from_str(&text).unwrap();
    let mut typed = BTreeSet::new();
    for (path, method, op) in spec.operations() {
        let where_ = format!("{method} {path}");
        typed.insert((path.clone(), method.as_str().to_lowercase()));
        // Every parameter, body and response resolves (no dangling `$ref`).
        let parameters = op.parameters(&spec).unwrap_or_else(|e| panic!("{where_}: {e}"));
        assert_eq!(parameters.len(), raw["paths"][&path][method.as_str().to_lowercase()]["parameters"].as_array().unwrap().len());
        op.request_body(&spec).unwrap_or_else(|e| panic!("{where_}: {e}"));
        let responses = op.responses(&spec);
        let declared = op.responses.as_ref().map_or(0, |r| r.len());
        assert_eq!(responses.len(), declared, "{where_}: every response resolves");
        for (code, response) in &responses {
            for (media, content) in &response.content {
                if let Some(schema) = &content.schema {
                    schema.resolve(&spec).unwrap_or_else(|e| panic!("{where_} {code} {media}: {e}"));
                }
            }
        }
    }
    let untyped: BTreeSet<(String, String)> = raw["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |m| (path.clone(), m.clone())))
        .collect();
    assert_eq!(typed, untyped, "the typed parse sees every operation");
}

#[tokio::test]
async fn drill_down_stages_follow_the_summary_after_the_stage_list_changes() {
    let h = harness();
    import(&h, &extra_contacts()).await;
    // Drop "Raw lead" and rename nothing else: contacts keep what they had.
    let stages = json!({ "stages": ["Marketing ready", "Sales ready", "Customer"] });
    let (status, body) = req(Method::PATCH, format!("{WS}/settings")).key(&h.secret).json(stages).send(&h).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let summary = summary(&h, 0, "").await;
    let mut total = 0;
    for bucket in summary["stages"].as_array().unwrap() {
        let filter = match bucket["stage"].as_str() {
            Some(stage) => format!("stage={}", enc(stage)),
            None => "missing=stage".to_owned(),
        };
        let rows = all_rows(&h, 0, &filter).await;
        assert_eq!(rows.len() as u64, bucket["count"].as_u64().unwrap(), "{filter}: {:?}", ids_of(&Value::Array(rows.clone())));
        total += rows.len();
    }
    assert_eq!(total as u64, summary["overall"]["total"].as_u64().unwrap());
}

#[tokio::test]
async fn sessions_expire_after_their_lifetime() {
    let h = harness();
    let state = segscope_server::AppState::new(
        h.backend.clone(),
        segscope_server::ServerConfig { admin_token_hash: Some(segscope_server::keys::hash_key(ADMIN_TOKEN)), ..config() },
    );
    let app = segscope_server::router(state.clone());
    let request = req(Method::POST, "/api/v1/session").json(json!({ "token": ADMIN_TOKEN })).build();
    let (status, headers, bytes) = send_request(&app, request).await;
    assert_eq!(status, StatusCode::OK);
    let set_cookie = headers[header::SET_COOKIE].to_str().unwrap();
    let max_age: i64 = set_cookie.split(';').find_map(|a| a.trim().strip_prefix("Max-Age=")).unwrap().parse().unwrap();
    let expires = segscope_core::time::parse_instant(json_of(&bytes)["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires - now(), max_age, "the cookie and the session end together");
    let mut cookie = HeaderMap::new();
    cookie.insert(header::COOKIE, set_cookie.split(';').next().unwrap().parse().unwrap());
    assert!(state.sessions().from_headers(&cookie, expires - 1).is_some());
    assert!(state.sessions().from_headers(&cookie, expires).is_none(), "expired at `expires_at`");
}
