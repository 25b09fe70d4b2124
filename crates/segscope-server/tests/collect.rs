//! The tracking door through the router (no socket): the snippet, the CORS
//! preflight, `POST /collect/{ws}` with every way of passing the write key,
//! every refusal (and that it changed nothing), junk identify ids, the rate
//! limit, and the exact identify/merge outcome of SPEC §2.

mod common;

use axum::http::{Method, StatusCode, header};
use common::*;
use segscope_core::backend::{Backend, KeyKind};
use segscope_core::model::Settings;
use segscope_server::ratelimit::RateLimit;
use segscope_server::{AppState, router};
use serde_json::{Value, json};

const COLLECT: &str = "/collect/acme";
const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

/// `sent_at` of the batches: the browser's clock, deliberately an hour
/// ahead of the server's (the server must not care).
fn browser_now_ms() -> f64 {
    (now() as f64 + 3600.0) * 1000.0
}

fn batch(key: Option<&str>, visitor: &str, events: Value) -> Vec<u8> {
    let mut body = json!({ "visitor_id": visitor, "sent_at": browser_now_ms(), "events": events });
    if let Some(key) = key {
        body["key"] = json!(key);
    }
    serde_json::to_vec(&body).unwrap()
}

/// An event `ago_secs` before the batch was sent.
fn at(mut event: Value, ago_secs: f64) -> Value {
    event["t"] = json!(browser_now_ms() - ago_secs * 1000.0);
    event
}

fn page(url: &str) -> Value {
    json!({ "type": "page_view", "url": url, "referrer": null })
}

async fn post(h: &Harness, uri: &str, body: Vec<u8>) -> (StatusCode, axum::http::HeaderMap, Value) {
    send_with(&h.app, Method::POST, uri, &[("content-type", "text/plain;charset=UTF-8"), ("user-agent", CHROME)], body).await
}

async fn still_answers(h: &Harness) {
    let (status, _, body) = post(h, COLLECT, batch(Some(&h.write), "v-alive", json!([page("https://shop.example/")]))).await;
    assert_eq!(status, StatusCode::OK, "the server keeps answering: {body:#}");
}

#[tokio::test]
async fn the_snippet_is_served_embedded_and_cacheable() {
    let h = harness();
    let (status, headers, body) = send_with(&h.app, Method::GET, "/t.js", &[], Vec::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("application/javascript"));
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    let js = body.as_str().unwrap();
    assert_eq!(js, segscope_server::collect::SNIPPET_JS);
    for needle in ["sendBeacon", "'consent'", "'identify'", "page_leave", "heartbeat", "segscope_vid", "SameSite=Lax"] {
        assert!(js.contains(needle), "the snippet handles {needle}");
    }
    let etag = headers[header::ETAG].to_str().unwrap().to_owned();
    let (status, _, _) = send_with(&h.app, Method::GET, "/t.js", &[("if-none-match", &etag)], Vec::new()).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn preflight_allows_any_origin_to_post() {
    let h = harness();
    let (status, headers, _) = send_with(
        &h.app,
        Method::OPTIONS,
        COLLECT,
        &[("origin", "https://shop.example"), ("access-control-request-method", "POST")],
        Vec::new(),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert!(headers[header::ACCESS_CONTROL_ALLOW_METHODS].to_str().unwrap().contains("POST"));
    assert!(headers[header::ACCESS_CONTROL_ALLOW_HEADERS].to_str().unwrap().contains("Content-Type"));
}

#[tokio::test]
async fn a_beacon_with_the_key_in_the_body_records_page_views() {
    let h = harness();
    let before = h.backend.stats(&h.ws).unwrap();
    let events = json!([
        at(
            json!({ "type": "page_view", "url": "https://shop.example/?utm_source=news&utm_medium=email", "referrer": "https://mail.example/" }),
            60.0
        ),
        at(json!({ "type": "heartbeat", "url": "https://shop.example/" }), 30.0),
        at(json!({ "type": "page_leave", "url": "https://shop.example/" }), 0.0),
    ]);
    let (status, headers, body) = post(&h, COLLECT, batch(Some(&h.write), "v-beacon", events)).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert_eq!(body["accepted"], 3);
    assert_eq!(body["contacts_created"], 1);
    assert_eq!(body["rejected"], json!([]));
    let after = h.backend.stats(&h.ws).unwrap();
    assert_eq!((after.anonymous, after.known), (before.anonymous + 1, before.known));
}

#[tokio::test]
async fn the_key_may_come_in_the_query_or_a_header() {
    let h = harness();
    let before = h.backend.stats(&h.ws).unwrap().anonymous;
    let (status, _, body) =
        post(&h, &format!("{COLLECT}?key={}", h.write), batch(None, "v-query", json!([page("https://shop.example/a")]))).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let bearer = format!("Bearer {}", h.write);
    let (status, _, body) = send_with(
        &h.app,
        Method::POST,
        COLLECT,
        &[("authorization", &bearer), ("content-type", "application/json"), ("user-agent", CHROME)],
        batch(None, "v-header", json!([page("https://shop.example/b")])),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(h.backend.stats(&h.ws).unwrap().anonymous, before + 2);
}

#[tokio::test]
async fn wrong_missing_secret_and_other_workspace_keys_are_refused_and_change_nothing() {
    let h = harness();
    let other = segscope_core::ids::WorkspaceId::parse("other").unwrap();
    let (other_write, _) = add_key(&h.backend, &other, KeyKind::Write);
    let before = fingerprint(&h);
    let events = json!([page("https://shop.example/")]);
    let cases: Vec<(Option<&str>, StatusCode, &str)> = vec![
        (None, StatusCode::UNAUTHORIZED, "unauthorized"),
        (Some("wk_0000000000000000000000"), StatusCode::UNAUTHORIZED, "unauthorized"),
        (Some(&h.revoked), StatusCode::UNAUTHORIZED, "unauthorized"),
        (Some(&h.secret), StatusCode::FORBIDDEN, "forbidden"),
        (Some(&other_write), StatusCode::NOT_FOUND, "not_found"),
        (Some(&h.other_secret), StatusCode::NOT_FOUND, "not_found"),
    ];
    for (key, want_status, want_code) in cases {
        let (status, headers, body) = post(&h, COLLECT, batch(key, "v-refused", events.clone())).await;
        assert_error(status, &body, want_status, want_code);
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*", "errors are readable cross-origin");
        assert_eq!(fingerprint(&h), before, "{key:?} changed the store");
    }
    let (_, _, body) = post(&h, COLLECT, batch(Some(&h.secret), "v", events.clone())).await;
    assert!(body["error"]["message"].as_str().unwrap().contains("never put it in a web page"), "{body:#}");
    let (_, _, body) = post(&h, COLLECT, batch(None, "v", events.clone())).await;
    assert!(body["error"]["message"].as_str().unwrap().contains("write key"), "{body:#}");
    // Another workspace's write key cannot write into it through acme's path, nor the reverse.
    let (status, _, _) = post(&h, "/collect/other", batch(Some(&h.write), "v", events.clone())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A write key still cannot read.
    let (status, body) = send(&h.app, get("/api/v1/workspaces/acme/segments", &h.write)).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(fingerprint(&h), before);
    still_answers(&h).await;
}

#[tokio::test]
async fn malformed_oversized_and_garbage_bodies_are_refused_and_change_nothing() {
    let h = harness();
    let before = fingerprint(&h);
    let mut too_many = Vec::new();
    for _ in 0..101 {
        too_many.push(page("https://shop.example/"));
    }
    let huge = batch(Some(&h.write), "v", json!([{ "type": "page_view", "url": "x".repeat(MAX_COLLECT) }]));
    let garbage: Vec<u8> = (0..2000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let cases: Vec<(Vec<u8>, StatusCode, &str)> = vec![
        (b"{\"key\": \"wk_x\", \"events\": [".to_vec(), StatusCode::BAD_REQUEST, "not JSON"),
        (garbage, StatusCode::BAD_REQUEST, "not JSON"),
        (Vec::new(), StatusCode::BAD_REQUEST, "empty"),
        (huge, StatusCode::PAYLOAD_TOO_LARGE, "limit"),
        (serde_json::to_vec(&json!([page("https://shop.example/")])).unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "object"),
        (batch(Some(&h.write), "v", json!([])), StatusCode::UNPROCESSABLE_ENTITY, "empty"),
        (batch(Some(&h.write), "v", json!(too_many)), StatusCode::UNPROCESSABLE_ENTITY, "at most 100"),
        (
            batch(Some(&h.write), "undefined", json!([page("https://shop.example/")])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "serialization mistake",
        ),
        (batch(Some(&h.write), "   ", json!([page("https://shop.example/")])), StatusCode::UNPROCESSABLE_ENTITY, "visitor id"),
        (batch(Some(&h.write), "v", json!([{ "type": "teleport" }])), StatusCode::UNPROCESSABLE_ENTITY, "nothing changed"),
        (batch(Some(&h.write), "v", json!([{ "type": "page_view" }])), StatusCode::UNPROCESSABLE_ENTITY, "nothing changed"),
        (
            batch(Some(&h.write), "v", json!([{ "type": "page_view", "url": "/", "colour": "red" }])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "nothing changed",
        ),
    ];
    for (body, want_status, needle) in cases {
        let (status, _, answer) = post(&h, COLLECT, body).await;
        assert_eq!(status, want_status, "{answer:#}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(needle), "{needle}: {answer:#}");
        assert_eq!(fingerprint(&h), before);
    }
    // The per-item reasons say what to fix.
    let (_, _, answer) =
        post(&h, COLLECT, batch(Some(&h.write), "v", json!([{ "type": "page_view", "url": "/", "colour": "red" }]))).await;
    assert!(answer["error"]["details"]["rejected"][0]["message"].as_str().unwrap().contains("unknown field `colour`"));
    still_answers(&h).await;
}

#[tokio::test]
async fn identify_with_junk_ids_is_refused_with_the_reason_and_merges_nothing() {
    let h = harness();
    let (status, _, body) = post(&h, COLLECT, batch(Some(&h.write), "v-junk", json!([page("https://shop.example/")]))).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let before = fingerprint(&h);
    let junk = [
        json!({ "email": null }),
        json!({ "email": "null" }),
        json!({ "email": "undefined" }),
        json!({ "email": "[object Object]" }),
        json!({ "email": "" }),
        json!({ "email": "   " }),
        json!({ "external_id": "undefined" }),
        json!({ "external_id": "null" }),
        json!({ "external_id": 0 }),
        json!({ "external_id": "0" }),
        json!({ "external_id": "[object Object]" }),
        json!({ "external_id": {} }),
        json!({ "external_id": "  " }),
        json!({ "email": "ann@example.com", "external_id": "undefined" }),
        json!({}),
        json!({ "email": "mallory@example.com", "traits": { "email": "ann@example.com" } }),
        json!({ "email": "ann@example.com", "traits": { "Status": "unsubscribed" } }),
    ];
    for who in junk {
        let mut event = json!({ "type": "identify" });
        for (k, v) in who.as_object().unwrap() {
            event[k] = v.clone();
        }
        let (status, _, answer) = post(&h, COLLECT, batch(Some(&h.write), "v-junk", json!([event]))).await;
        assert_error(status, &answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        let item = &answer["error"]["details"]["rejected"][0];
        assert_eq!(item["type"], "identify", "{answer:#}");
        assert!(item["message"].as_str().unwrap().contains("nothing was merged"), "{who}: {answer:#}");
        assert_eq!(fingerprint(&h), before, "{who} changed the store");
    }
    // In a batch with good events, the junk identify is a warning on its item.
    let (status, _, answer) = post(
        &h,
        COLLECT,
        batch(Some(&h.write), "v-junk", json!([page("https://shop.example/next"), { "type": "identify", "email": "undefined" }])),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    assert_eq!(answer["accepted"], 1);
    assert_eq!(answer["merges"], 0);
    assert_eq!(answer["rejected"][0]["index"], 1);
    let after = h.backend.stats(&h.ws).unwrap();
    assert_eq!((after.known, after.anonymous), (before.1, before.2), "still anonymous, nobody merged");
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after_and_changes_nothing() {
    let config = segscope_server::ServerConfig {
        collect_rate: RateLimit { per_second: 0.5, burst: 2, max_tracked: 100 },
        ..common::config()
    };
    let h = harness_with(config);
    for visitor in ["v-r1", "v-r2"] {
        let (status, _, body) = post(&h, COLLECT, batch(Some(&h.write), visitor, json!([page("https://shop.example/")]))).await;
        assert_eq!(status, StatusCode::OK, "{body:#}");
    }
    let before = fingerprint(&h);
    let (status, headers, body) = post(&h, COLLECT, batch(Some(&h.write), "v-r3", json!([page("https://shop.example/")]))).await;
    assert_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(headers[header::RETRY_AFTER], "2");
    assert_eq!(body["error"]["details"]["retry_after_secs"], 2);
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert_eq!(fingerprint(&h), before);
    // Other doors and other workspaces keep answering.
    let (status, _) = send(&h.app, Call { method: Method::GET, uri: "/health".into(), key: None, body: None }).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = post(&h, "/collect/other", batch(Some(&h.write), "v", json!([page("https://shop.example/")]))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another bucket: authenticated and refused on its own merits");
}

/// SPEC §2 end to end through the collect door: an anonymous visitor has
/// two sessions, identifies, and has a third; then there is exactly one
/// contact, known, with three sessions, and no anonymous contact.
async fn identify_scenario(existing_known: bool) {
    let h = harness();
    let fresh = segscope_core::ids::WorkspaceId::parse("fresh").unwrap();
    h.backend.create_workspace(&fresh, Settings::default(), now() - 86_400).unwrap();
    let (write, _) = add_key(&h.backend, &fresh, KeyKind::Write);
    let (secret, _) = add_key(&h.backend, &fresh, KeyKind::Secret);
    let app = router(AppState::new(h.backend.clone(), common::config()));
    let h = Harness { app, ..h };
    if existing_known {
        h.backend
            .apply(
                &fresh,
                segscope_core::engine::Command::UpsertContacts {
                    contacts: vec![segscope_core::engine::ContactUpsert {
                        email: Some("Carla@Example.com".into()),
                        external_id: None,
                        fields: Vec::new(),
                        created_at: Some(now() - 86_000),
                    }],
                    channel: segscope_core::model::Channel::Api,
                    list: None,
                },
                now(),
            )
            .unwrap();
    }
    let uri = "/collect/fresh";
    let hour = 3600.0;
    // Session 1: 5 h ago, two pages, left after 90 s.
    let s1 = json!([
        at(page("https://shop.example/?utm_source=google&utm_medium=cpc"), 5.0 * hour),
        at(page("https://shop.example/pricing"), 5.0 * hour - 30.0),
        at(json!({ "type": "page_leave", "url": "https://shop.example/pricing" }), 5.0 * hour - 90.0),
    ]);
    // Session 2: 3 h ago, one page with a heartbeat (15 s).
    let s2 = json!([
        at(page("https://shop.example/blog"), 3.0 * hour),
        at(json!({ "type": "heartbeat", "url": "https://shop.example/blog" }), 3.0 * hour - 15.0),
    ]);
    // Identify 2 h ago, then session 3: 1 h ago, one page, 45 s.
    let identify =
        json!([at(json!({ "type": "identify", "email": "carla@example.com", "traits": { "first_name": "Carla" } }), 2.0 * hour)]);
    let s3 = json!([
        at(page("https://shop.example/checkout"), hour),
        at(json!({ "type": "page_leave", "url": "https://shop.example/checkout" }), hour - 45.0),
    ]);
    let mut merges = 0;
    for events in [s1, s2, identify, s3] {
        let (status, _, body) = post(&h, uri, batch(Some(&write), "cookie-carla", events)).await;
        assert_eq!(status, StatusCode::OK, "{body:#}");
        assert_eq!(body["rejected"], json!([]), "{body:#}");
        merges += body["merges"].as_u64().unwrap();
    }
    assert_eq!(merges, u64::from(existing_known), "a merge only when the known contact existed");
    let (status, ws) = send(&h.app, get("/api/v1/workspaces/fresh", &secret)).await;
    assert_eq!(status, StatusCode::OK, "{ws:#}");
    assert_eq!(ws["stats"]["contacts"], 1, "{ws:#}");
    assert_eq!(ws["stats"]["known"], 1);
    assert_eq!(ws["stats"]["anonymous"], 0);
    let (status, contact) = send(&h.app, get("/api/v1/workspaces/fresh/contacts/carla@example.com", &secret)).await;
    assert_eq!(status, StatusCode::OK, "{contact:#}");
    assert_eq!(contact["kind"], "known");
    assert_eq!(contact["first_name"], "Carla");
    assert_eq!(contact["visitor_ids"], 1, "the cookie resolves to the known contact");
    let durations: Vec<u64> =
        contact["recent_sessions"].as_array().unwrap().iter().map(|s| s["duration_secs"].as_u64().unwrap()).collect();
    assert_eq!(durations, [45, 15, 90], "newest first");
    let views: Vec<u64> =
        contact["recent_sessions"].as_array().unwrap().iter().map(|s| s["page_views"].as_u64().unwrap()).collect();
    assert_eq!(views, [1, 1, 2]);
    let (status, summary) = send(&h.app, get("/api/v1/workspaces/fresh/segments/0/summary", &secret)).await;
    assert_eq!(status, StatusCode::OK, "{summary:#}");
    let overall = &summary["overall"];
    assert_eq!(
        (overall["known"].as_u64(), overall["anonymous"].as_u64(), overall["total"].as_u64()),
        (Some(1), Some(0), Some(1))
    );
    assert_eq!(overall["sessions"], 3);
    assert_eq!(overall["avg_session_secs"], 50.0);
    assert_eq!(overall["bounces"], 2, "sessions 2 and 3 have one page view each");
    assert_eq!(summary["website"]["known"]["sessions"], 3);
    assert_eq!(summary["website"]["anonymous"]["sessions"], 0);
    // A later page view with the cookie still resolves to Carla.
    let (status, _, body) =
        post(&h, uri, batch(Some(&write), "cookie-carla", json!([at(page("https://shop.example/thanks"), 60.0)]))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["contacts_created"], 0);
    let (_, ws) = send(&h.app, get("/api/v1/workspaces/fresh", &secret)).await;
    assert_eq!((ws["stats"]["known"].as_u64(), ws["stats"]["anonymous"].as_u64()), (Some(1), Some(0)));
    eprintln!(
        "figure: collect identify ({}): 1 known contact, 0 anonymous, 3 sessions, avg {} s",
        if existing_known { "merge into an existing contact" } else { "new identity in place" },
        overall["avg_session_secs"]
    );
}

#[tokio::test]
async fn identify_makes_one_known_contact_with_all_sessions_in_place() {
    identify_scenario(false).await;
}

#[tokio::test]
async fn identify_merges_the_anonymous_history_into_the_existing_contact() {
    identify_scenario(true).await;
}

fn shared_data(relative: &str) -> std::path::PathBuf {
    let root = std::env::var_os("SEGSCOPE_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let path = root.join("data").join(relative);
    assert!(path.exists(), "{} is missing: these tests read MaxMind's test database from shared/data", path.display());
    path
}

/// Geography comes from the peer address (or `X-Forwarded-For` through a
/// trusted proxy only), and the address itself is not kept.
#[tokio::test]
async fn collect_hits_get_geography_from_the_client_address() {
    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let geoip = segscope_enrich::GeoIp::open(shared_data("maxmind-test-mmdb/GeoIP2-City-Test.mmdb")).unwrap();
    let config = segscope_server::ServerConfig {
        geoip: Some(std::sync::Arc::new(geoip)),
        trusted_proxies: segscope_enrich::TrustedProxies::parse("10.0.0.0/8").unwrap(),
        ..common::config()
    };
    let h = harness_with(config);
    let fresh = segscope_core::ids::WorkspaceId::parse("geo").unwrap();
    h.backend.create_workspace(&fresh, Settings::default(), now() - 86_400).unwrap();
    let (write, _) = add_key(&h.backend, &fresh, KeyKind::Write);
    let (secret, _) = add_key(&h.backend, &fresh, KeyKind::Secret);
    // (peer, X-Forwarded-For, email, expected country)
    let cases = [
        ("81.2.69.142:5000", Some("89.160.20.112"), "direct@example.com", "GB"), // untrusted peer: the header is ignored
        ("10.1.2.3:5000", Some("89.160.20.112"), "proxied@example.com", "SE"),   // trusted proxy: the client behind it
    ];
    for (peer, forwarded, email, _) in cases {
        let body = batch(
            Some(&write),
            &format!("v-{email}"),
            json!([page("https://shop.example/"), { "type": "identify", "email": email }]),
        );
        let mut request = axum::http::Request::builder()
            .method(Method::POST)
            .uri("/collect/geo")
            .header("content-type", "text/plain")
            .header("user-agent", CHROME);
        if let Some(forwarded) = forwarded {
            request = request.header("x-forwarded-for", forwarded);
        }
        let mut request = request.body(Body::from(body)).unwrap();
        request.extensions_mut().insert(ConnectInfo(peer.parse::<std::net::SocketAddr>().unwrap()));
        let response = h.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&bytes));
    }
    for (_, _, email, country) in cases {
        let (status, contact) = send(&h.app, get(format!("/api/v1/workspaces/geo/contacts/{email}"), &secret)).await;
        assert_eq!(status, StatusCode::OK, "{contact:#}");
        assert_eq!(contact["country"], country, "{email}: {contact:#}");
    }
    let files: Vec<u8> = walk(h.dir.path());
    for ip in ["81.2.69.142", "89.160.20.112"] {
        assert!(!files.windows(ip.len()).any(|w| w == ip.as_bytes()), "the address {ip} is stored on disk");
    }
}

fn walk(path: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(path).unwrap().flatten() {
        if entry.metadata().unwrap().is_dir() {
            out.extend(walk(&entry.path()));
        } else {
            out.extend(std::fs::read(entry.path()).unwrap());
        }
    }
    out
}

/// Ann's email history and attributes, read from the store.
fn ann(h: &Harness) -> segscope_core::engine::ContactDetail {
    let who = segscope_core::engine::ContactRef::Email("ann@example.com".into());
    h.backend.contact(&h.ws, &who, now()).unwrap()
}

fn identify_ann(traits: Value) -> Value {
    json!({ "type": "identify", "email": "ann@example.com", "traits": traits })
}

#[tokio::test]
async fn consent_and_identity_traits_are_refused_from_the_browser_for_every_such_field() {
    let h = harness();
    let (status, _, body) = post(&h, COLLECT, batch(Some(&h.write), "v-consent", json!([page("https://shop.example/")]))).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let fields = segscope_core::engine::consent_or_identity_fields();
    for name in ["opted_in", "unsubscribed", "do_not_contact", "bounced", "complained", "email", "external_id", "consent"] {
        assert!(fields.contains(&name), "{name} is listed by the core");
    }
    let mail_before = ann(&h).recent_mail.len();
    let before = fingerprint(&h);
    for name in &fields {
        for spelled in [name.to_string(), format!(" {} ", name.to_ascii_uppercase())] {
            for value in [json!(true), json!(false), json!("unsubscribed"), json!("victim@example.com")] {
                let event = identify_ann(json!({ spelled.clone(): value }));
                let (status, _, answer) = post(&h, COLLECT, batch(Some(&h.write), "v-consent", json!([event]))).await;
                assert_error(status, &answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
                let message = answer["error"]["details"]["rejected"][0]["message"].as_str().unwrap();
                assert!(message.contains("cannot be set from a browser") && message.contains(spelled.as_str()), "{answer:#}");
                assert_eq!(fingerprint(&h), before, "{spelled} = {value} changed the store");
            }
        }
    }
    // Several at once are all named.
    let event = identify_ann(json!({ "opted_in": true, "do_not_contact": false, "first_name": "Ann" }));
    let (_, _, answer) = post(&h, COLLECT, batch(Some(&h.write), "v-consent", json!([event]))).await;
    let message = answer["error"]["details"]["rejected"][0]["message"].as_str().unwrap();
    assert!(message.contains("do_not_contact") && message.contains("opted_in"), "{answer:#}");
    assert_eq!(ann(&h).recent_mail.len(), mail_before, "no consent fact recorded");
    assert_eq!(fingerprint(&h), before);
}

#[tokio::test]
async fn browser_traits_set_only_declared_attributes_of_the_right_type_and_never_declare_one() {
    let h = harness();
    // `plan` (text) and `seats` (number) are declared by an import.
    h.backend
        .apply(
            &h.ws,
            segscope_core::engine::Command::UpsertContacts {
                contacts: vec![segscope_core::engine::ContactUpsert {
                    email: Some("bob@gmail.com".into()),
                    external_id: None,
                    fields: vec![
                        ("plan".into(), Some(segscope_core::model::Value::Text("pro".into()))),
                        ("seats".into(), Some(segscope_core::model::Value::Number(3.0))),
                    ],
                    created_at: None,
                }],
                channel: segscope_core::model::Channel::Api,
                list: None,
            },
            now(),
        )
        .unwrap();
    let declared = h.backend.schema(&h.ws).unwrap().attributes;
    assert_eq!(declared.len(), 2);
    // The attack: many requests with 100 random trait names each.
    for round in 0..6 {
        let traits: serde_json::Map<String, Value> = (0..100).map(|i| (format!("junk_{round}_{i}"), json!(i))).collect();
        let event = identify_ann(Value::Object(traits));
        let (status, _, answer) = post(&h, COLLECT, batch(Some(&h.write), "v-schema", json!([event]))).await;
        assert_eq!(status, StatusCode::OK, "{answer:#}");
        assert_eq!(answer["warnings"].as_array().unwrap().len(), 100, "{answer:#}");
        assert!(answer["warnings"][0]["message"].as_str().unwrap().contains("no such attribute"), "{answer:#}");
    }
    assert_eq!(h.backend.schema(&h.ws).unwrap().attributes, declared, "no attribute declared from the browser");
    // Declared attributes and built-in fields are set; a wrong type is dropped with a warning.
    let event = identify_ann(json!({ "Plan": "team", "seats": "many", "first_name": "Annie", "brand_new": "x" }));
    let (status, _, answer) = post(&h, COLLECT, batch(Some(&h.write), "v-schema", json!([event]))).await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    let warnings: Vec<&str> = answer["warnings"].as_array().unwrap().iter().map(|w| w["message"].as_str().unwrap()).collect();
    assert_eq!(warnings.len(), 2, "{answer:#}");
    assert!(warnings.iter().any(|w| w.contains("`seats` dropped") && w.contains("number")), "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("`brand_new` dropped")), "{warnings:?}");
    let detail = ann(&h);
    assert_eq!(detail.attributes.get("plan"), Some(&segscope_core::model::Value::Text("team".into())));
    assert_eq!(detail.attributes.get("seats"), None, "the wrong-typed value is not stored");
    assert_eq!(detail.row.first_name.as_deref(), Some("Annie"));
    assert_eq!(h.backend.schema(&h.ws).unwrap().attributes, declared, "types unchanged, nothing new");
}

#[tokio::test]
async fn identify_with_disguised_junk_external_ids_is_refused_and_creates_nobody() {
    let h = harness();
    let (status, _, body) = post(&h, COLLECT, batch(Some(&h.write), "v-junk2", json!([page("https://shop.example/")]))).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let before = fingerprint(&h);
    for junk in ["(null)", "[object Undefined]", "[object Null]", "undefined undefined", "\u{200b}null", "ｎｕｌｌ", "ＮＵＬＬ"]
    {
        let event = json!({ "type": "identify", "external_id": junk });
        let (status, _, answer) = post(&h, COLLECT, batch(Some(&h.write), "v-junk2", json!([event]))).await;
        assert_error(status, &answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        let message = answer["error"]["details"]["rejected"][0]["message"].as_str().unwrap();
        assert!(message.contains("serialization mistake"), "{junk:?}: {answer:#}");
        assert_eq!(fingerprint(&h), before, "{junk:?} changed the store");
    }
}

#[tokio::test]
async fn every_route_refuses_a_declared_oversize_body_before_reading_it() {
    let h = harness();
    let bearer = format!("Bearer {}", h.secret);
    let before = fingerprint(&h);
    for (uri, content_type) in [
        ("/api/v1/workspaces/acme/segments", "application/json"),
        ("/api/v1/workspaces/acme/imports/contacts", "text/csv"),
        ("/api/v1/workspaces/acme/imports/events", "application/x-ndjson"),
    ] {
        let (status, _, answer) = send_with(
            &h.app,
            Method::POST,
            uri,
            &[("authorization", bearer.as_str()), ("content-type", content_type), ("content-length", "10000000000")],
            b"x".to_vec(),
        )
        .await;
        assert_error(status, &answer, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    }
    assert_eq!(fingerprint(&h), before);
}

/// A request that declares a body far over the limit and sends one byte.
fn oversized_declaration(uri: &str, address: std::net::SocketAddr) -> String {
    format!(
        "POST {uri} HTTP/1.1\r\nHost: {address}\r\nContent-Type: text/plain\r\nContent-Length: 10000000\r\nConnection: close\r\n\r\nx"
    )
}

#[tokio::test]
async fn a_declared_content_length_over_the_limit_is_refused_at_once() {
    let h = harness();
    // Through the router: the declaration alone is refused, whatever follows.
    for uri in [COLLECT, "/webhooks/sendgrid/acme", "/webhooks/mailgun/acme"] {
        for declared in ["10000000", &(MAX_COLLECT.max(MAX_WEBHOOK) + 1).to_string()] {
            let (status, _, answer) = send_with(
                &h.app,
                Method::POST,
                uri,
                &[("content-type", "text/plain"), ("content-length", declared)],
                b"x".to_vec(),
            )
            .await;
            assert_error(status, &answer, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
        }
    }
    // A declared length within the limit is read as usual.
    let body = batch(Some(&h.write), "v-len", json!([page("https://shop.example/")]));
    let length = body.len().to_string();
    let (status, _, answer) =
        send_with(&h.app, Method::POST, COLLECT, &[("content-type", "text/plain"), ("content-length", &length)], body).await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    // Over a socket: the answer comes without waiting for the promised 10 MB.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let state = AppState::new(h.backend.clone(), common::config());
    let server = tokio::spawn(segscope_server::serve(listener, state, std::future::pending::<()>()));
    for uri in [COLLECT, "/webhooks/sendgrid/acme"] {
        let request = oversized_declaration(uri, address);
        let response = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(address).unwrap();
            stream.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            let mut response = Vec::new();
            let mut chunk = [0u8; 4096];
            while !String::from_utf8_lossy(&response).contains("payload_too_large") {
                match stream.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => response.extend_from_slice(&chunk[..n]),
                    Err(err) => panic!("no answer within 5 s (waiting for the body?): {err}"),
                }
            }
            String::from_utf8_lossy(&response).into_owned()
        })
        .await
        .unwrap();
        assert!(response.starts_with("HTTP/1.1 413"), "{uri}: {response}");
        assert!(response.contains("payload_too_large"), "{uri}: {response}");
    }
    server.abort();
}
