//! Every route through the router (no socket) against a real embedded store
//! with a fixed clock: happy paths, auth failures, and the error mapping.

mod common;

use axum::http::{Method, StatusCode, header};
use common::*;
use segscope_core::backend::Backend;
use segscope_core::summary::{SummaryRequest, View};
use segscope_core::time::{Granularity, RangeBound, Tz, resolve_range};
use serde_json::{Value, json};

const WS: &str = "/api/v1/workspaces/acme";

#[tokio::test]
async fn health_and_dashboard_page_need_no_key() {
    let h = harness();
    let (status, body) = send(&h.app, Call { method: Method::GET, uri: "/health".into(), key: None, body: None }).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "status": "ok" }));
    let (status, headers, body) = send_raw(&h.app, Call { method: Method::GET, uri: "/".into(), key: None, body: None }).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    let html = body.as_str().unwrap();
    assert!(html.contains("<title>segscope</title>") && html.contains("/assets/app.js"), "the dashboard's page: {html}");
    assert!(!html.contains("ann@example.com"), "the page is public and holds no workspace data");
    assert!(headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("script-src 'self'"));
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json_errors() {
    let h = harness();
    let (status, body) = send(&h.app, get("/api/v2/nothing", &h.secret)).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = send(&h.app, with_json(Method::PUT, format!("{WS}/segments"), &h.secret, json!({}))).await;
    assert_error(status, &body, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[tokio::test]
async fn missing_wrong_and_revoked_keys_are_401() {
    let h = harness();
    let uri = format!("{WS}/segments");
    let (status, headers, body) = send_raw(&h.app, Call { method: Method::GET, uri: uri.clone(), key: None, body: None }).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
    assert!(body["error"]["message"].as_str().unwrap().contains("Authorization: Bearer"));

    let (status, body) = send(&h.app, get(&uri, "sk_0000000000000000")).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = send(&h.app, get(&uri, &h.revoked)).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");

    // Authentication comes before reading the query: no hint of the route's rules.
    let (status, body) = send(&h.app, get(format!("{uri}/1/summary?tz=Mars/Base"), "nope")).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn x_api_key_header_is_accepted() {
    let h = harness();
    let request = axum::http::Request::builder()
        .uri(format!("{WS}/segments"))
        .header("x-api-key", &h.secret)
        .body(axum::body::Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(h.app.clone(), request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn write_key_is_forbidden_on_read_and_manage_routes() {
    let h = harness();
    for call in [
        get(format!("{WS}/segments"), &h.write),
        get(format!("{WS}/segments/{}/summary", h.pricing.0), &h.write),
        with_json(Method::POST, format!("{WS}/segments"), &h.write, json!({ "name": "x", "criteria_text": "everyone" })),
    ] {
        let (status, body) = send(&h.app, call).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    }
}

#[tokio::test]
async fn another_workspace_key_sees_nothing() {
    let h = harness();
    let uris = [
        WS.to_owned(),
        format!("{WS}/segments"),
        format!("{WS}/segments/{}", h.pricing.0),
        format!("{WS}/segments/{}/summary", h.pricing.0),
        format!("{WS}/segments/{}/members", h.pricing.0),
        format!("{WS}/contacts/ann@example.com"),
    ];
    for uri in uris {
        let (status, body) = send(&h.app, get(&uri, &h.other_secret)).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
        let text = body.to_string();
        assert!(!text.contains("ann@example.com") && !text.contains("Pricing"), "{uri}: {text}");
        assert_eq!(body["error"]["message"], "workspace `acme` not found", "{uri}");
    }
    // A workspace that does not exist gets the very same answer.
    let (status, body) = send(&h.app, get("/api/v1/workspaces/ghost/segments", &h.other_secret)).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(body["error"]["message"], "workspace `ghost` not found");
    // Nor can it write.
    let (status, _) = send(&h.app, delete(format!("{WS}/contacts/ann@example.com"), &h.other_secret)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(&h.app, get(format!("{WS}/contacts/ann@example.com"), &h.secret)).await;
    assert_eq!(status, StatusCode::OK, "ann is still there");
}

#[tokio::test]
async fn workspace_shows_stats_and_settings_and_settings_can_be_patched() {
    let h = harness();
    let (status, body) = send(&h.app, get(WS, &h.secret)).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["id"], "acme");
    let stats = h.backend.stats(&h.ws).unwrap();
    assert_eq!(body["stats"]["contacts"], stats.contacts);
    assert_eq!(body["stats"]["known"], stats.known);
    assert_eq!(body["stats"]["anonymous"], stats.anonymous);
    assert_eq!(body["settings"]["time_zone"], "UTC");

    let patch = json!({ "time_zone": "Europe/Paris", "engaged_days": 30 });
    let (status, body) = send(&h.app, with_json(Method::PATCH, format!("{WS}/settings"), &h.secret, patch)).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["time_zone"], "Europe/Paris");
    assert_eq!(body["engaged_days"], 30);
    assert_eq!(h.backend.settings(&h.ws).unwrap().time_zone, "Europe/Paris");

    let (status, body) =
        send(&h.app, with_json(Method::PATCH, format!("{WS}/settings"), &h.secret, json!({ "time_zone": "Mars/Base" }))).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let (status, body) =
        send(&h.app, with_json(Method::PATCH, format!("{WS}/settings"), &h.secret, json!({ "timezone": "UTC" }))).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert!(body["error"]["message"].as_str().unwrap().contains("unknown field `timezone`"));
}

#[tokio::test]
async fn segment_crud_with_text_and_json_criteria() {
    let h = harness();
    let (status, created) = send(
        &h.app,
        with_json(
            Method::POST,
            format!("{WS}/segments"),
            &h.secret,
            json!({ "name": "Germans", "description": "de", "criteria_text": "country = \"DE\"" }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created:#}");
    assert_eq!(created["type"], "dynamic");
    assert_eq!(created["criteria_text"], "country = \"DE\"");
    assert_eq!(created["criteria"], json!({ "field": "country", "op": "eq", "value": "DE" }));
    assert_eq!(created["members"], json!({ "known": 1, "anonymous": 0, "total": 1 }));
    let id = created["id"].as_u64().unwrap();

    // The JSON form gives the same segment.
    let (status, by_json) = send(
        &h.app,
        with_json(
            Method::POST,
            format!("{WS}/segments"),
            &h.secret,
            json!({ "name": "Germans too", "criteria": { "field": "country", "op": "eq", "value": "DE" } }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{by_json:#}");
    assert_eq!(by_json["criteria_text"], created["criteria_text"]);

    let (status, list) = send(&h.app, get(format!("{WS}/segments"), &h.secret)).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = list["items"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["All contacts", "Pricing visitors", "Germans", "Germans too"]);

    let (status, shown) = send(&h.app, get(format!("{WS}/segments/{id}"), &h.secret)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown, created);

    let (status, patched) = send(
        &h.app,
        with_json(
            Method::PATCH,
            format!("{WS}/segments/{id}"),
            &h.secret,
            json!({ "name": "French", "criteria_text": "country = \"FR\"" }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched:#}");
    assert_eq!(patched["name"], "French");
    assert_eq!(patched["description"], "de", "absent fields are kept");
    assert_eq!(patched["criteria_text"], "country = \"FR\"");

    let (status, body) = send(&h.app, delete(format!("{WS}/segments/{id}"), &h.secret)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body:#}");
    let (status, body) = send(&h.app, get(format!("{WS}/segments/{id}"), &h.secret)).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn unknown_segments_are_404() {
    let h = harness();
    for uri in [
        format!("{WS}/segments/999"),
        format!("{WS}/segments/999/summary"),
        format!("{WS}/segments/999/members"),
        format!("{WS}/segments/999/log"),
        format!("{WS}/segments/abc"),
    ] {
        let (status, body) = send(&h.app, get(&uri, &h.secret)).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
}

#[tokio::test]
async fn deleting_a_referenced_segment_is_409_naming_referrers() {
    let h = harness();
    let (status, body) = send(
        &h.app,
        with_json(
            Method::POST,
            format!("{WS}/segments"),
            &h.secret,
            json!({ "name": "Known pricing visitors", "criteria_text": "member of \"Pricing visitors\" AND contact is known" }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");
    let (status, body) = send(
        &h.app,
        with_json(Method::POST, format!("{WS}/journeys"), &h.secret, json!({ "name": "Nurture", "segment_ids": [h.pricing.0] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");

    let (status, body) = send(&h.app, delete(format!("{WS}/segments/{}", h.pricing.0), &h.secret)).await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    let referrers = body["error"]["details"]["referrers"].to_string();
    assert!(referrers.contains("Known pricing visitors") && referrers.contains("Nurture"), "{body:#}");
    let (status, _) = send(&h.app, get(format!("{WS}/segments/{}", h.pricing.0), &h.secret)).await;
    assert_eq!(status, StatusCode::OK, "still there");
}

#[tokio::test]
async fn bad_criteria_are_422_with_their_position() {
    let h = harness();
    let (status, body) = send(
        &h.app,
        with_json(Method::POST, format!("{WS}/segments/test"), &h.secret, json!({ "criteria_text": "country = \"FR\" AND AND" })),
    )
    .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let location = &body["error"]["details"]["location"];
    assert_eq!(location["line"], 1, "{body:#}");
    assert_eq!(location["column"], 20, "{body:#}");
    assert_eq!(location["offset"], 19, "{body:#}");
    assert_eq!(body["error"]["details"]["field"], "criteria_text");

    // The JSON form names the JSON pointer.
    let (status, body) = send(
        &h.app,
        with_json(
            Method::POST,
            format!("{WS}/segments"),
            &h.secret,
            json!({ "name": "x", "criteria": { "and": [{ "field": "country", "op": "sideways", "value": "FR" }] } }),
        ),
    )
    .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(body["error"]["details"]["location"]["pointer"], "/and/0/op", "{body:#}");

    // Unparseable JSON is a 400.
    let (status, body) = send(
        &h.app,
        with_bytes(Method::POST, format!("{WS}/segments/test"), &h.secret, b"{\"criteria_text\": ".to_vec(), "application/json"),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid");
    let count_before = h.backend.segments(&h.ws, now()).unwrap().len();
    assert_eq!(count_before, 2, "nothing was saved");
}

#[tokio::test]
async fn testing_criteria_counts_and_samples() {
    let h = harness();
    let (status, body) = send(
        &h.app,
        with_json(Method::POST, format!("{WS}/segments/test"), &h.secret, json!({ "criteria_text": "contact is known" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["members"], json!({ "known": 3, "anonymous": 0, "total": 3 }));
    assert_eq!(body["criteria"], json!({ "contact_type": "known" }));
    assert_eq!(body["sample"].as_array().unwrap().len(), 3);
    assert_eq!(body["sample"][0]["email"], "ann@example.com");
}

#[tokio::test]
async fn members_and_log_are_keyset_paged() {
    let h = harness();
    let uri = format!("{WS}/segments/0/members?limit=2");
    let (status, first) = send(&h.app, get(&uri, &h.secret)).await;
    assert_eq!(status, StatusCode::OK, "{first:#}");
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let (_, second) = send(&h.app, get(format!("{uri}&cursor={cursor}"), &h.secret)).await;
    let (_, all) = send(&h.app, get(format!("{WS}/segments/0/members?limit=1000"), &h.secret)).await;
    assert_eq!(all["next_cursor"], Value::Null);
    let ids = |page: &Value| page["items"].as_array().unwrap().iter().map(|c| c["id"].as_u64().unwrap()).collect::<Vec<_>>();
    let mut paged = ids(&first);
    paged.extend(ids(&second));
    assert_eq!(paged, ids(&all)[..paged.len()]);
    let expected = h.backend.stats(&h.ws).unwrap().contacts as usize;
    assert_eq!(ids(&all).len(), expected);

    let (_, known) = send(&h.app, get(format!("{WS}/segments/0/members?view=known"), &h.secret)).await;
    assert!(known["items"].as_array().unwrap().iter().all(|c| c["kind"] == "known"));

    let (status, log) = send(&h.app, get(format!("{WS}/segments/{}/log?limit=1", h.pricing.0), &h.secret)).await;
    assert_eq!(status, StatusCode::OK, "{log:#}");
    assert_eq!(log["items"][0]["event"], "entered");
    assert_eq!(log["items"][0]["reason"], "backfill");

    let (status, body) = send(&h.app, get(format!("{WS}/segments/0/members?limit=0"), &h.secret)).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(body["error"]["details"]["parameter"], "limit");
}

/// The summary over HTTP is exactly the backend's summary, converted.
#[tokio::test]
async fn summary_equals_the_backend_summary() {
    let h = harness();
    let tz = Tz::parse("Europe/Paris").unwrap();
    let range = resolve_range(
        Some(RangeBound::parse("2024-03-01").unwrap()),
        Some(RangeBound::parse("2024-03-15").unwrap()),
        None,
        now(),
        &tz,
    )
    .unwrap();
    let request = SummaryRequest { view: View::All, range, tz, granularity: Granularity::Week, country: None, region: None };
    let direct = h.backend.summary(&h.ws, h.pricing, &request, now()).unwrap();
    let expected = segscope_server::wire::summary_json(&direct);

    let uri =
        format!("{WS}/segments/{}/summary?view=all&from=2024-03-01&to=2024-03-15&tz=Europe/Paris&granularity=week", h.pricing.0);
    let (status, body) = send(&h.app, get(uri, &h.secret)).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body, expected);
    // And the numbers are the ones the seed data implies: Ann (identified
    // from v2) and the anonymous v1 visited /pricing.
    assert_eq!(body["overall"]["known"], 1);
    assert_eq!(body["overall"]["anonymous"], 1);
    assert_eq!(body["overall"]["total"], 2);
    assert_eq!(body["overall"]["sessions"], 2);
    assert_eq!(body["overall"]["avg_session_secs"], 210.0, "(120 s + 300 s) / 2");
    assert_eq!(body["growth"]["points"].as_array().unwrap().len(), 3);
    assert_eq!(body["time_zone"], "Europe/Paris");

    // Defaults: the workspace's zone, the last 30 days, daily buckets.
    let default_request = SummaryRequest {
        view: View::All,
        range: resolve_range(None, None, None, now(), &Tz::utc()).unwrap(),
        tz: Tz::utc(),
        granularity: Granularity::Day,
        country: None,
        region: None,
    };
    let direct = h.backend.summary(&h.ws, h.pricing, &default_request, now()).unwrap();
    let (_, body) = send(&h.app, get(format!("{WS}/segments/{}/summary", h.pricing.0), &h.secret)).await;
    assert_eq!(body, segscope_server::wire::summary_json(&direct));
    assert_eq!(body["growth"]["points"].as_array().unwrap().len(), 30);
}

#[tokio::test]
async fn empty_averages_are_null() {
    let h = harness();
    let (status, body) =
        send(&h.app, get(format!("{WS}/segments/0/summary?view=known&range=last_7_days&tz=UTC"), &h.secret)).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    // Known members exist, but Bob and crm-7 never visited: the known group's
    // average is over Ann's session only; the anonymous group of a known view is empty.
    assert_eq!(body["website"]["anonymous"]["members"], 0);
    assert_eq!(body["website"]["anonymous"]["avg_session_secs"], Value::Null);
    assert_eq!(body["website"]["anonymous"]["sessions_per_member"], Value::Null);

    let (status, body) = send(&h.app, get(format!("{WS}/segments/0/summary?range=last_month"), &h.secret)).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["overall"]["sessions"], 0);
    assert_eq!(body["overall"]["avg_session_secs"], Value::Null);
    assert_eq!(body["overall"]["bounce_rate"], Value::Null);
}

#[tokio::test]
async fn bad_summary_parameters_are_422_naming_the_parameter() {
    let h = harness();
    let base = format!("{WS}/segments/{}/summary", h.pricing.0);
    for (query, parameter) in [
        ("tz=Mars/Base", "tz"),
        ("view=everyone", "view"),
        ("from=2024-03-10&to=2024-03-01", "from"),
        ("from=yesterday", "from"),
        ("range=last_week", "range"),
        ("range=last_7_days&from=2024-03-01", "range"),
        ("granularity=hour", "granularity"),
        ("granularty=week", "granularty"),
        ("view=all&view=known", "view"),
        ("country=Atlantis", "country"),
        ("region=Bavaria", "region"),
    ] {
        let (status, body) = send(&h.app, get(format!("{base}?{query}"), &h.secret)).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        assert_eq!(body["error"]["details"]["parameter"], parameter, "{query}: {body:#}");
    }
}

#[tokio::test]
async fn breakdown_by_field() {
    let h = harness();
    let (status, body) = send(&h.app, get(format!("{WS}/segments/0/breakdown?field=country&view=known"), &h.secret)).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["total"], 3);
    assert_eq!(
        body["values"],
        json!([{ "value": "DE", "count": 1 }, { "value": "FR", "count": 1 }, { "value": null, "count": 1 }])
    );
    let (status, body) = send(&h.app, get(format!("{WS}/segments/0/breakdown"), &h.secret)).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(body["error"]["details"]["parameter"], "field");
    let (status, body) = send(&h.app, get(format!("{WS}/segments/0/breakdown?field=shoe_size"), &h.secret)).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(body["error"]["details"]["parameter"], "field");
}

#[tokio::test]
async fn static_lists_take_members() {
    let h = harness();
    let (status, list) = send(
        &h.app,
        with_json(Method::POST, format!("{WS}/segments"), &h.secret, json!({ "name": "Beta testers", "static": true })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{list:#}");
    assert_eq!(list["type"], "static");
    assert_eq!(list["criteria"], Value::Null);
    let id = list["id"].as_u64().unwrap();
    let members = format!("{WS}/segments/{id}/members");
    let (status, body) = send(
        &h.app,
        with_json(
            Method::POST,
            &members,
            &h.secret,
            json!({ "contacts": ["ann@example.com", { "external_id": "crm-7" }, "nobody@example.com"] }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["changed"], 2);
    assert_eq!(body["unknown"].as_array().unwrap().len(), 1);
    let (_, page) = send(&h.app, get(&members, &h.secret)).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);

    let (status, body) =
        send(&h.app, with_json(Method::POST, format!("{members}/remove"), &h.secret, json!({ "contacts": ["ann@example.com"] })))
            .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["changed"], 1);
    let (_, page) = send(&h.app, get(&members, &h.secret)).await;
    assert_eq!(page["items"][0]["external_id"], "crm-7");

    let (status, body) =
        send(&h.app, with_json(Method::PATCH, format!("{WS}/segments/{id}"), &h.secret, json!({ "criteria_text": "everyone" })))
            .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");

    // A dynamic segment takes no members.
    let (status, body) = send(
        &h.app,
        with_json(Method::POST, format!("{WS}/segments/{}/members", h.pricing.0), &h.secret, json!({ "contacts": [0] })),
    )
    .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
}

#[tokio::test]
async fn contacts_can_be_read_and_deleted() {
    let h = harness();
    let (status, ann) = send(&h.app, get(format!("{WS}/contacts/ann@example.com"), &h.secret)).await;
    assert_eq!(status, StatusCode::OK, "{ann:#}");
    assert_eq!(ann["first_name"], "Ann");
    assert_eq!(ann["kind"], "known");
    assert_eq!(ann["stage"], "Raw lead");
    assert_eq!(ann["recent_sessions"].as_array().unwrap().len(), 1);
    assert!(ann["segments"].as_array().unwrap().iter().any(|s| s["name"] == "Pricing visitors"));
    let id = ann["id"].as_u64().unwrap();

    let (status, by_id) = send(&h.app, get(format!("{WS}/contacts/{id}"), &h.secret)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_id, ann);
    let (status, by_external) = send(&h.app, get(format!("{WS}/contacts/crm-7"), &h.secret)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_external["external_id"], "crm-7");

    let (status, _) = send(&h.app, delete(format!("{WS}/contacts/{id}"), &h.secret)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = send(&h.app, get(format!("{WS}/contacts/ann@example.com"), &h.secret)).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = send(&h.app, delete(format!("{WS}/contacts/{id}"), &h.secret)).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn csv_import_reports_rejected_rows() {
    let h = harness();
    let csv = "Email,First Name,Country\r\nnew@example.com,Nina,FR\r\nnot-an-email,Bad,DE\r\nann@example.com,Annie,FR\r\n";
    let (status, body) =
        send(&h.app, with_bytes(Method::POST, format!("{WS}/imports/contacts"), &h.secret, csv.as_bytes().to_vec(), "text/csv"))
            .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["created"], 1);
    assert_eq!(body["updated"], 1);
    assert_eq!(body["skipped"], 1);
    assert_eq!(body["records"], 3);
    let problems = body["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{body:#}");
    assert_eq!(problems[0]["record"], 2);
    assert_eq!(problems[0]["line"], 3);
    assert_eq!(problems[0]["severity"], "rejected");
    assert!(body["columns"].as_array().unwrap().iter().any(|c| c["header"] == "Email" && c["target"] == "email"));
    let detail = h.backend.contact(&h.ws, &segscope_core::engine::ContactRef::Email("ann@example.com".into()), now()).unwrap();
    assert_eq!(detail.row.first_name.as_deref(), Some("Annie"));
}

#[tokio::test]
async fn csv_import_options_and_list() {
    let h = harness();
    let (_, list) =
        send(&h.app, with_json(Method::POST, format!("{WS}/segments"), &h.secret, json!({ "name": "Imported", "static": true })))
            .await;
    let list_id = list["id"].as_u64().unwrap();
    let csv = "Mail;Vorname\nx@example.com;Xavier\n";
    let uri = format!("{WS}/imports/contacts?delimiter=%3B&map=Mail%3Demail&map=Vorname%3Dfirst_name&list={list_id}");
    let (status, body) = send(&h.app, with_bytes(Method::POST, uri, &h.secret, csv.as_bytes().to_vec(), "text/csv")).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["created"], 1);
    let (_, members) = send(&h.app, get(format!("{WS}/segments/{list_id}/members"), &h.secret)).await;
    assert_eq!(members["items"][0]["first_name"], "Xavier");

    let (status, body) = send(
        &h.app,
        with_bytes(Method::POST, format!("{WS}/imports/contacts?delimiter=ab"), &h.secret, csv.as_bytes().to_vec(), "text/csv"),
    )
    .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(body["error"]["details"]["parameter"], "delimiter");
    let (status, body) = send(
        &h.app,
        with_bytes(Method::POST, format!("{WS}/imports/contacts?list={}", h.pricing.0), &h.secret, csv.into(), "text/csv"),
    )
    .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(body["error"]["details"]["parameter"], "list");
}

#[tokio::test]
async fn import_with_zero_valid_rows_is_422_with_the_report() {
    let h = harness();
    let before = h.backend.stats(&h.ws).unwrap().contacts;
    let csv = "Email,Name\r\nnope,A\r\nstill-nope,B\r\n";
    let (status, body) =
        send(&h.app, with_bytes(Method::POST, format!("{WS}/imports/contacts"), &h.secret, csv.as_bytes().to_vec(), "text/csv"))
            .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let report = &body["error"]["details"]["report"];
    assert_eq!(report["created"], 0);
    assert_eq!(report["skipped"], 2);
    let records: Vec<u64> = report["problems"].as_array().unwrap().iter().map(|p| p["record"].as_u64().unwrap()).collect();
    assert_eq!(records, [1, 2]);

    let ndjson = "{\"type\":\"contact\"}\nnot json\n";
    let (status, body) = send(
        &h.app,
        with_bytes(Method::POST, format!("{WS}/imports/events"), &h.secret, ndjson.as_bytes().to_vec(), "application/x-ndjson"),
    )
    .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let lines: Vec<u64> =
        body["error"]["details"]["report"]["problems"].as_array().unwrap().iter().map(|p| p["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [1, 2]);
    assert_eq!(h.backend.stats(&h.ws).unwrap().contacts, before, "nothing changed");
}

#[tokio::test]
async fn ndjson_import_reports_the_bad_line() {
    let h = harness();
    let ndjson = concat!(
        r#"{"type":"contact","email":"zoe@example.com","fields":{"first_name":"Zoe"}}"#,
        "\n",
        r#"{"type":"page_view","visitor_id":"v9","url":"/"}"#,
        "\n",
        r#"{"type":"page_view","visitor_id":"v9","url":"/pricing","timestamp":"2024-03-14T10:00:00Z"}"#,
        "\n",
    );
    let (status, body) = send(
        &h.app,
        with_bytes(Method::POST, format!("{WS}/imports/events"), &h.secret, ndjson.as_bytes().to_vec(), "application/x-ndjson"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["contacts_created"], 1);
    assert_eq!(body["events_accepted"], 1);
    assert_eq!(body["contacts_created_by_events"], 1);
    assert_eq!(body["skipped"], 1);
    assert_eq!(body["lines"], 3);
    let problems = body["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{body:#}");
    assert_eq!(problems[0]["line"], 2);
    assert_eq!(problems[0]["severity"], "rejected");
    assert!(problems[0]["message"].as_str().unwrap().contains("timestamp"), "{body:#}");
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let h = harness();
    let name = "x".repeat(MAX_JSON + 1);
    let (status, body) =
        send(&h.app, with_json(Method::POST, format!("{WS}/segments"), &h.secret, json!({ "name": name, "static": true }))).await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert_eq!(body["error"]["details"]["limit_bytes"], MAX_JSON);

    // Imports have their own, larger limit: a body between the two passes the
    // JSON limit check, one above the import limit does not.
    let mut csv = String::from("email\n");
    while csv.len() <= MAX_JSON * 2 {
        csv.push_str(&format!("c{}@example.com\n", csv.len()));
    }
    let (status, body) =
        send(&h.app, with_bytes(Method::POST, format!("{WS}/imports/contacts"), &h.secret, csv.into_bytes(), "text/csv")).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let big = vec![b'a'; MAX_IMPORT + 1];
    let (status, body) =
        send(&h.app, with_bytes(Method::POST, format!("{WS}/imports/events"), &h.secret, big, "text/plain")).await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert_eq!(body["error"]["details"]["limit_bytes"], MAX_IMPORT);
}

#[tokio::test]
async fn journeys_and_campaigns_crud_and_count_in_the_summary() {
    let h = harness();
    let (status, journey) = send(
        &h.app,
        with_json(
            Method::POST,
            format!("{WS}/journeys"),
            &h.secret,
            json!({ "name": "Welcome", "status": "active", "kind": "welcome", "segment_ids": [h.pricing.0] }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{journey:#}");
    assert_eq!(journey["active"], true);
    assert_eq!(journey["segments"], json!([{ "id": h.pricing.0, "name": "Pricing visitors" }]));
    let jid = journey["id"].as_u64().unwrap();

    let (status, campaign) = send(
        &h.app,
        with_json(
            Method::POST,
            format!("{WS}/campaigns"),
            &h.secret,
            json!({ "name": "Spring sale", "segment_ids": [h.pricing.0] }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{campaign:#}");
    assert_eq!(campaign["status"], "draft");
    let cid = campaign["id"].as_u64().unwrap();

    let (_, summary) = send(&h.app, get(format!("{WS}/segments/{}/summary", h.pricing.0), &h.secret)).await;
    assert_eq!(summary["associated"]["journeys"]["total"], 1);
    assert_eq!(summary["associated"]["journeys"]["active"], 1);
    assert_eq!(summary["associated"]["campaigns"]["total"], 1);
    assert_eq!(summary["associated"]["campaigns"]["active"], 0);

    let (status, patched) =
        send(&h.app, with_json(Method::PATCH, format!("{WS}/campaigns/{cid}"), &h.secret, json!({ "status": "scheduled" })))
            .await;
    assert_eq!(status, StatusCode::OK, "{patched:#}");
    assert_eq!(patched["status"], "scheduled");
    assert_eq!(patched["name"], "Spring sale");

    let (_, list) = send(&h.app, get(format!("{WS}/journeys"), &h.secret)).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (status, shown) = send(&h.app, get(format!("{WS}/journeys/{jid}"), &h.secret)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown, journey);

    let (status, body) =
        send(&h.app, with_json(Method::PATCH, format!("{WS}/journeys/{jid}"), &h.secret, json!({ "status": "running" }))).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let (status, body) = send(
        &h.app,
        with_json(Method::POST, format!("{WS}/journeys"), &h.secret, json!({ "name": "Ghost", "segment_ids": [99] })),
    )
    .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");

    let (status, _) = send(&h.app, delete(format!("{WS}/journeys/{jid}"), &h.secret)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = send(&h.app, get(format!("{WS}/journeys/{jid}"), &h.secret)).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, _) = send(&h.app, delete(format!("{WS}/campaigns/{cid}"), &h.secret)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

/// Every row of the OpenAPI table is a route the router serves with that
/// method (not the fallback 404, not a 405), and the new public doors are
/// listed. The reverse direction (every router route has a row) is kept by
/// review: axum cannot list its routes.
#[tokio::test]
async fn every_openapi_route_is_served() {
    let h = harness();
    for route in segscope_server::openapi::ROUTES {
        let uri = route
            .path
            .replace("{ws}", "acme")
            .replace("{id}", &h.pricing.0.to_string())
            .replace("{contact}", "crm-7")
            .replace("{key}", "key_none")
            .replace("{provider}", "sendgrid");
        let method = Method::from_bytes(route.method.to_uppercase().as_bytes()).unwrap();
        let body = matches!(route.method, "post" | "patch").then(|| (b"{}".to_vec(), "application/json"));
        let (status, response) = send(&h.app, Call { method, uri: uri.clone(), key: Some(&h.secret), body }).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{} {uri}: {response}", route.method);
        let fallback = response["error"]["message"].as_str().is_some_and(|m| m.starts_with("no such route"));
        assert!(!fallback, "{} {uri} is in ROUTES but not routed", route.method);
    }
    for (method, path) in
        [("get", "/t.js"), ("options", "/collect/{ws}"), ("post", "/collect/{ws}"), ("post", "/webhooks/{provider}/{ws}")]
    {
        assert!(
            segscope_server::openapi::ROUTES.iter().any(|r| r.method == method && r.path == path),
            "{method} {path} is missing from ROUTES"
        );
    }
    let document = segscope_server::openapi::document_json();
    assert!(document["paths"]["/collect/{ws}"]["post"]["responses"]["429"].is_object());
}

#[tokio::test]
async fn a_path_that_is_not_utf8_is_the_callers_mistake() {
    let h = harness();
    for uri in ["/api/v1/workspaces/%ff/segments".to_owned(), format!("{WS}/segments/%ff"), format!("{WS}/contacts/%ff")] {
        let (status, body) = send(&h.app, get(&uri, &h.secret)).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid");
        assert!(body["error"]["message"].as_str().unwrap().contains("UTF-8"), "{uri}: {body}");
    }
}

#[tokio::test]
async fn key_labels_are_bounded() {
    let h = harness();
    let before = h.backend.keys(&h.ws).unwrap().len();
    let (status, body) = send(
        &h.app,
        with_json(Method::POST, format!("{WS}/keys"), &h.secret, json!({ "kind": "write", "label": "x".repeat(201) })),
    )
    .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(body["error"]["details"]["field"], "label");
    assert_eq!(h.backend.keys(&h.ws).unwrap().len(), before, "nothing stored");
    let (status, _) = send(
        &h.app,
        with_json(Method::POST, format!("{WS}/keys"), &h.secret, json!({ "kind": "write", "label": "x".repeat(200) })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}
