//! ESP webhook endpoints through the router (no socket), with keys made in
//! the test: each provider's happy path, unsigned and wrongly signed
//! requests (refused, store unchanged), replays, SNS topics and
//! certificates, the subscription confirmation, limits and rate limiting.

mod common;

use axum::http::{Method, StatusCode};
use base64::Engine;
use common::*;
use segscope_core::backend::Backend;
use segscope_server::ServerConfig;
use segscope_server::ratelimit::RateLimit;
use segscope_server::webhooks::{SesKeys, WebhookKeys, WorkspaceWebhookKeys};
use serde_json::{Value, json};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:segscope-acme";
const CERT_URL: &str = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem";
const MAILGUN_KEY: &str = "key-mailgun-test-signing";
const POSTMARK_AUTH: &str = "postmark:s3cret-Pass";

struct Keys {
    sendgrid: p256::ecdsa::SigningKey,
    sns: rsa::PrivateKey,
}

fn keys() -> Keys {
    #[allow(deprecated)]
    let sendgrid = p256::ecdsa::SigningKey::random(&mut rand::rng());
    let sns = rsa::PrivateKey::new(&mut rand::rng(), 1024).unwrap();
    Keys { sendgrid, sns }
}

fn config_with(keys: &Keys) -> ServerConfig {
    use p256::pkcs8::EncodePublicKey;
    let public = B64.encode(keys.sendgrid.verifying_key().to_public_key_der().unwrap().as_bytes());
    let mut certificates = std::collections::BTreeMap::new();
    certificates.insert(CERT_URL.to_owned(), certificate_pem(&keys.sns));
    let acme = WorkspaceWebhookKeys {
        sendgrid_public_key: Some(public),
        mailgun_signing_key: Some(MAILGUN_KEY.to_owned()),
        postmark_basic_auth: Some(POSTMARK_AUTH.to_owned()),
        ses: Some(SesKeys { topic_arns: vec![TOPIC.to_owned()], certificates }),
    };
    let mut webhook_keys = WebhookKeys::default();
    webhook_keys.workspaces.insert("acme".to_owned(), acme);
    ServerConfig { webhook_keys, ..common::config() }
}

fn sendgrid_headers(keys: &Keys, body: &[u8], timestamp: &str) -> (String, String) {
    use p256::ecdsa::Signature;
    use p256::ecdsa::signature::Signer;
    let mut signed = timestamp.as_bytes().to_vec();
    signed.extend_from_slice(body);
    let signature: Signature = keys.sendgrid.sign(&signed);
    (B64.encode(signature.to_der().as_bytes()), timestamp.to_owned())
}

async fn sendgrid(h: &Harness, body: &[u8], signature: Option<(String, String)>) -> (StatusCode, Value) {
    let mut headers = vec![("content-type", "application/json".to_owned())];
    if let Some((signature, timestamp)) = signature {
        headers.push(("x-twilio-email-event-webhook-signature", signature));
        headers.push(("x-twilio-email-event-webhook-timestamp", timestamp));
    }
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, body) = send_with(&h.app, Method::POST, "/webhooks/sendgrid/acme", &headers, body.to_vec()).await;
    (status, body)
}

fn sendgrid_body() -> Vec<u8> {
    let at = now();
    serde_json::to_vec(&json!([
        { "event": "bounce", "email": "bob@gmail.com", "timestamp": at, "type": "bounce", "status": "5.1.1", "reason": "550 5.1.1 user unknown" },
        { "event": "delivered", "email": "nobody@nowhere.example", "timestamp": at },
        { "event": "deferred", "email": "ann@example.com", "timestamp": at, "response": "421 try later" },
    ]))
    .unwrap()
}

async fn email_events(h: &Harness, email: &str) -> Vec<String> {
    let (status, contact) = send(&h.app, get(format!("/api/v1/workspaces/acme/contacts/{email}"), &h.secret)).await;
    assert_eq!(status, StatusCode::OK, "{contact:#}");
    contact["recent_email_events"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn sendgrid_signed_batch_is_recorded_and_unknown_recipients_are_reported() {
    let keys = keys();
    let h = harness_with(config_with(&keys));
    let body = sendgrid_body();
    let (status, answer) = sendgrid(&h, &body, Some(sendgrid_headers(&keys, &body, "1710504000"))).await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    assert_eq!(answer["items"], 3);
    assert_eq!(answer["recorded"], 1, "{answer:#}");
    assert_eq!(answer["rejected"][0]["item"], 2);
    assert!(answer["rejected"][0]["message"].as_str().unwrap().contains("nobody@nowhere.example"));
    let actions: Vec<&str> = answer["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["hard_bounced", "delivered", "deferred"]);
    assert_eq!(email_events(&h, "bob@gmail.com").await, ["hard_bounced"]);
    assert!(email_events(&h, "ann@example.com").await.is_empty(), "a deferral is not recorded");
    // SendGrid redelivers when an answer is lost: the bounce is counted once.
    let before = fingerprint(&h);
    let (status, answer) = sendgrid(&h, &body, Some(sendgrid_headers(&keys, &body, "1710504000"))).await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    assert_eq!(answer["duplicate"], true);
    assert_eq!(fingerprint(&h), before);
    assert_eq!(email_events(&h, "bob@gmail.com").await, ["hard_bounced"]);
}

#[tokio::test]
async fn sendgrid_unsigned_or_wrongly_signed_is_refused_and_changes_nothing() {
    let keys = keys();
    let h = harness_with(config_with(&keys));
    let body = sendgrid_body();
    let before = fingerprint(&h);
    let (status, answer) = sendgrid(&h, &body, None).await;
    assert_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(answer["error"]["message"].as_str().unwrap().contains("X-Twilio-Email-Event-Webhook-Signature"));
    let mut tampered = body.clone();
    tampered[20] ^= 1;
    let (status, answer) = sendgrid(&h, &tampered, Some(sendgrid_headers(&keys, &body, "1710504000"))).await;
    assert_error(status, &answer, StatusCode::FORBIDDEN, "forbidden");
    let (status, answer) = sendgrid(&h, &body, Some((sendgrid_headers(&keys, &body, "1710504000").0, "1710504001".into()))).await;
    assert_error(status, &answer, StatusCode::FORBIDDEN, "forbidden");
    let (status, answer) = sendgrid(&h, &body, Some(("bm90IGEgc2lnbmF0dXJl".into(), "1710504000".into()))).await;
    assert_error(status, &answer, StatusCode::FORBIDDEN, "forbidden");
    // Binary garbage with no signature, then signed: refused before, unreadable after.
    let garbage: Vec<u8> = (0..3000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    let (status, answer) = sendgrid(&h, &garbage, None).await;
    assert_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, answer) = sendgrid(&h, &garbage, Some(sendgrid_headers(&keys, &garbage, "1710504000"))).await;
    assert_error(status, &answer, StatusCode::BAD_REQUEST, "invalid");
    // Signed but not a SendGrid body.
    let object = br#"{"event": "bounce"}"#;
    let (status, answer) = sendgrid(&h, object, Some(sendgrid_headers(&keys, object, "1710504000"))).await;
    assert_error(status, &answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(fingerprint(&h), before);
    assert!(email_events(&h, "bob@gmail.com").await.is_empty());
    // The server keeps answering.
    let (status, _) = sendgrid(&h, &body, Some(sendgrid_headers(&keys, &body, "1710504000"))).await;
    assert_eq!(status, StatusCode::OK);
}

fn mailgun_body(timestamp: i64, token: &str, key: &str) -> Vec<u8> {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("{timestamp}{token}").as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    serde_json::to_vec(&json!({
        "signature": { "timestamp": timestamp.to_string(), "token": token, "signature": signature },
        "event-data": { "event": "complained", "recipient": "ann@example.com", "timestamp": timestamp as f64 + 0.5 },
    }))
    .unwrap()
}

async fn mailgun(h: &Harness, body: Vec<u8>) -> (StatusCode, Value) {
    let (status, _, answer) =
        send_with(&h.app, Method::POST, "/webhooks/mailgun/acme", &[("content-type", "application/json")], body).await;
    (status, answer)
}

#[tokio::test]
async fn mailgun_signed_event_is_recorded_and_replays_stale_and_bad_signatures_are_refused() {
    let keys = keys();
    let h = harness_with(config_with(&keys));
    let before = fingerprint(&h);
    for (body, want) in [
        (mailgun_body(now(), "token-1", "key-other"), StatusCode::FORBIDDEN),
        (mailgun_body(now() - 3600, "token-2", MAILGUN_KEY), StatusCode::FORBIDDEN),
        (br#"{"event-data": {"event": "complained", "recipient": "ann@example.com"}}"#.to_vec(), StatusCode::UNAUTHORIZED),
        (b"\xff\xfe garbage".to_vec(), StatusCode::BAD_REQUEST),
    ] {
        let (status, answer) = mailgun(&h, body).await;
        assert_eq!(status, want, "{answer:#}");
        assert_eq!(fingerprint(&h), before);
    }
    let (status, answer) = mailgun(&h, mailgun_body(now(), "token-3", MAILGUN_KEY)).await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    assert_eq!(answer["recorded"], 1);
    assert_eq!(email_events(&h, "ann@example.com").await, ["complained"]);
    let after = fingerprint(&h);
    // A redelivery (same token, same body) is a success that records nothing.
    let (status, answer) = mailgun(&h, mailgun_body(now(), "token-3", MAILGUN_KEY)).await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    assert_eq!((answer["duplicate"].as_bool(), answer["recorded"].as_u64()), (Some(true), Some(0)));
    assert_eq!(email_events(&h, "ann@example.com").await, ["complained"], "recorded once");
    // The token with another body: Mailgun signs only timestamp + token, so this is a forgery.
    let mut forged: Value = serde_json::from_slice(&mailgun_body(now(), "token-3", MAILGUN_KEY)).unwrap();
    forged["event-data"]["recipient"] = json!("bob@gmail.com");
    let (status, answer) = mailgun(&h, serde_json::to_vec(&forged).unwrap()).await;
    assert_error(status, &answer, StatusCode::FORBIDDEN, "forbidden");
    assert!(answer["error"]["message"].as_str().unwrap().contains("replay"));
    assert_eq!(fingerprint(&h), after);
}

#[tokio::test]
async fn postmark_needs_its_basic_credentials() {
    let keys = keys();
    let h = harness_with(config_with(&keys));
    let body = serde_json::to_vec(&json!({
        "RecordType": "Bounce", "Type": "HardBounce", "Email": "bob@gmail.com", "BouncedAt": "2024-03-15T11:00:00Z",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist",
    }))
    .unwrap();
    let before = fingerprint(&h);
    let wrong = format!("Basic {}", B64.encode("postmark:guess"));
    for (auth, want) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some(wrong.as_str()), StatusCode::FORBIDDEN),
        (Some("Basic %%%"), StatusCode::FORBIDDEN),
    ] {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(auth) = auth {
            headers.push(("authorization", auth));
        }
        let (status, _, answer) = send_with(&h.app, Method::POST, "/webhooks/postmark/acme", &headers, body.clone()).await;
        assert_eq!(status, want, "{answer:#}");
        assert_eq!(fingerprint(&h), before);
    }
    let right = format!("Basic {}", B64.encode(POSTMARK_AUTH));
    let (status, _, answer) =
        send_with(&h.app, Method::POST, "/webhooks/postmark/acme", &[("authorization", &right)], body).await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    assert_eq!(answer["recorded"], 1);
    assert_eq!(email_events(&h, "bob@gmail.com").await, ["hard_bounced"]);
}

fn sns_envelope(keys: &Keys, kind: &str, topic: &str, message: &str) -> Value {
    use rsa::pkcs1v15::SigningKey;
    use rsa::signature::{SignatureEncoding, Signer};
    let mut envelope = json!({
        "Type": kind, "MessageId": "0b7a5b46-0001", "TopicArn": topic, "Message": message,
        "Timestamp": "2024-03-15T11:59:00.000Z", "SignatureVersion": "2", "SigningCertURL": CERT_URL,
    });
    if kind == "SubscriptionConfirmation" {
        envelope["Token"] = json!("2336412f37fb687f5d51e6e2425c464de257");
        envelope["SubscribeURL"] =
            json!(format!("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}&Token=2336412f"));
    }
    let parsed = segscope_ingest::esp_webhook::sns_envelope_of(&serde_json::to_vec(&envelope).unwrap()).unwrap();
    let to_sign = segscope_ingest::esp_webhook::sns_string_to_sign(&parsed).unwrap();
    let signature = SigningKey::<sha2::Sha256>::new(keys.sns.clone()).sign(to_sign.as_bytes()).to_bytes();
    envelope["Signature"] = json!(B64.encode(signature));
    envelope
}

fn ses_bounce() -> String {
    json!({
        "notificationType": "Bounce",
        "bounce": { "bounceType": "Permanent", "bounceSubType": "General", "timestamp": "2024-03-15T11:58:00.000Z",
                    "bouncedRecipients": [{ "emailAddress": "bob@gmail.com", "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1 user unknown" }] },
        "mail": { "messageId": "m-1", "timestamp": "2024-03-15T11:57:00.000Z", "destination": ["bob@gmail.com"] },
    })
    .to_string()
}

async fn ses(h: &Harness, envelope: &Value) -> (StatusCode, Value) {
    let body = serde_json::to_vec(envelope).unwrap();
    // SNS posts `text/plain`.
    let (status, _, answer) =
        send_with(&h.app, Method::POST, "/webhooks/ses/acme", &[("content-type", "text/plain; charset=UTF-8")], body).await;
    (status, answer)
}

#[tokio::test]
async fn ses_through_sns_checks_topic_certificate_and_signature() {
    let keys = keys();
    let h = harness_with(config_with(&keys));
    let before = fingerprint(&h);
    let good = sns_envelope(&keys, "Notification", TOPIC, &ses_bounce());
    let mut tampered = good.clone();
    tampered["Message"] = json!(ses_bounce().replace("Permanent", "Transient"));
    let mut unsigned = good.clone();
    unsigned.as_object_mut().unwrap().remove("Signature");
    let other_topic = sns_envelope(&keys, "Notification", "arn:aws:sns:us-east-1:999999999999:attacker", &ses_bounce());
    let mut unknown_cert = good.clone();
    unknown_cert["SigningCertURL"] = json!("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-other.pem");
    let mut foreign_cert = good.clone();
    foreign_cert["SigningCertURL"] = json!("https://sns.us-east-1.amazonaws.com.evil.example/x.pem");
    for (envelope, want, code) in [
        (&tampered, StatusCode::FORBIDDEN, "forbidden"),
        (&unsigned, StatusCode::UNAUTHORIZED, "unauthorized"),
        (&other_topic, StatusCode::FORBIDDEN, "forbidden"),
        (&unknown_cert, StatusCode::FORBIDDEN, "forbidden"),
        (&foreign_cert, StatusCode::FORBIDDEN, "forbidden"),
        (&json!({ "notificationType": "Bounce" }), StatusCode::UNAUTHORIZED, "unauthorized"),
    ] {
        let (status, answer) = ses(&h, envelope).await;
        assert_error(status, &answer, want, code);
        assert_eq!(fingerprint(&h), before, "{answer:#}");
    }
    let (status, answer) = ses(&h, &good).await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    assert_eq!(answer["recorded"], 1);
    assert_eq!(email_events(&h, "bob@gmail.com").await, ["hard_bounced"]);
    // SNS retries with the same MessageId: recorded once.
    let (status, answer) = ses(&h, &good).await;
    assert_eq!((status, answer["duplicate"].as_bool()), (StatusCode::OK, Some(true)), "{answer:#}");
    assert_eq!(email_events(&h, "bob@gmail.com").await, ["hard_bounced"]);
}

#[tokio::test]
async fn sns_subscription_confirmation_is_verified_and_handed_to_the_operator() {
    let keys = keys();
    let h = harness_with(config_with(&keys));
    let before = fingerprint(&h);
    let confirmation = sns_envelope(&keys, "SubscriptionConfirmation", TOPIC, "You have chosen to subscribe to the topic");
    let (status, answer) = ses(&h, &confirmation).await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    assert_eq!(answer["sns"]["type"], "SubscriptionConfirmation");
    assert!(
        answer["sns"]["subscribe_url"]
            .as_str()
            .unwrap()
            .starts_with("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription")
    );
    assert_eq!(answer["recorded"], 0);
    assert_eq!(fingerprint(&h), before, "a confirmation records nothing");
    // SNS resends confirmations until one is confirmed: each is answered (and logged) again.
    let (status, again) = ses(&h, &confirmation).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["sns"]["subscribe_url"], answer["sns"]["subscribe_url"]);
    // A forged confirmation (signature of another message) is refused.
    let mut forged = confirmation.clone();
    forged["SubscribeURL"] = json!("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=x&Token=evil");
    let (status, answer) = ses(&h, &forged).await;
    assert_error(status, &answer, StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn unconfigured_workspaces_unknown_providers_big_bodies_and_floods_are_refused() {
    let keys = keys();
    let config = ServerConfig { webhook_rate: RateLimit { per_second: 0.1, burst: 2, max_tracked: 100 }, ..config_with(&keys) };
    let h = harness_with(config);
    let before = fingerprint(&h);
    let body = sendgrid_body();
    let signature = sendgrid_headers(&keys, &body, "1710504000");
    let headers = [
        ("x-twilio-email-event-webhook-signature", signature.0.as_str()),
        ("x-twilio-email-event-webhook-timestamp", signature.1.as_str()),
    ];
    // Another workspace has no keys: refused, and a missing workspace looks the same.
    for uri in ["/webhooks/sendgrid/other", "/webhooks/sendgrid/ghost"] {
        let (status, _, answer) = send_with(&h.app, Method::POST, uri, &headers, body.clone()).await;
        assert_error(status, &answer, StatusCode::FORBIDDEN, "forbidden");
        assert!(answer["error"]["message"].as_str().unwrap().contains("not configured"));
    }
    let (status, _, answer) = send_with(&h.app, Method::POST, "/webhooks/sparkpost/acme", &[], b"{}".to_vec()).await;
    assert_error(status, &answer, StatusCode::NOT_FOUND, "not_found");
    assert!(answer["error"]["message"].as_str().unwrap().contains("ses, sendgrid, mailgun or postmark"));
    // acme's bucket holds 2: an oversized body, an unsigned one, then 429.
    let big = vec![b' '; MAX_WEBHOOK + 1];
    let (status, _, answer) = send_with(&h.app, Method::POST, "/webhooks/sendgrid/acme", &headers, big).await;
    assert_error(status, &answer, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let (status, _, answer) = send_with(&h.app, Method::POST, "/webhooks/sendgrid/acme", &[], body.clone()).await;
    assert_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, response_headers, answer) = send_with(&h.app, Method::POST, "/webhooks/sendgrid/acme", &headers, body).await;
    assert_error(status, &answer, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(response_headers["retry-after"], "10");
    assert_eq!(fingerprint(&h), before);
    let (status, _) = send(&h.app, get("/api/v1/workspaces/acme", &h.secret)).await;
    assert_eq!(status, StatusCode::OK, "the API keeps answering");
}

/// A minimal X.509 certificate (PEM) for `private`'s public key, DER-encoded
/// by hand: the verifier reads only the key, so the certificate's own
/// signature is a placeholder (same helper as segscope-ingest's tests).
fn certificate_pem(private: &rsa::PrivateKey) -> String {
    use rsa::pkcs8::EncodePublicKey;
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 128 {
            out.push(len as u8);
        } else if len < 256 {
            out.extend([0x81, len as u8]);
        } else {
            out.extend([0x82, (len >> 8) as u8, len as u8]);
        }
        out.extend_from_slice(content);
        out
    }
    let sequence = |parts: &[Vec<u8>]| tlv(0x30, &parts.concat());
    let algorithm = sequence(&[tlv(0x06, &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05]), vec![0x05, 0x00]]);
    let name = sequence(&[tlv(0x31, &sequence(&[tlv(0x06, &[0x55, 0x04, 0x03]), tlv(0x0c, b"sns.test")]))]);
    let validity = sequence(&[tlv(0x17, b"250101000000Z"), tlv(0x17, b"350101000000Z")]);
    let spki = private.to_public_key().to_public_key_der().unwrap().as_bytes().to_vec();
    let tbs = sequence(&[tlv(0xa0, &tlv(0x02, &[2])), tlv(0x02, &[1]), algorithm.clone(), name.clone(), validity, name, spki]);
    let certificate = sequence(&[tbs, algorithm, tlv(0x03, &[0, 1, 2, 3, 4])]);
    let body = B64.encode(certificate);
    let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"))
}

/// The same ECDSA signature rewritten as `(r, n − s)`: it still verifies.
fn malleate(signature_b64: &str) -> String {
    use p256::ecdsa::Signature;
    let der = B64.decode(signature_b64).unwrap();
    let signature = Signature::from_der(&der).unwrap();
    let flipped = Signature::from_scalars(signature.r(), -signature.s()).unwrap();
    assert_ne!(flipped, signature);
    B64.encode(flipped.to_der().as_bytes())
}

#[tokio::test]
async fn sendgrid_replay_with_a_rewritten_signature_is_a_duplicate() {
    let keys = keys();
    let h = harness_with(config_with(&keys));
    let body = sendgrid_body();
    let (signature, timestamp) = sendgrid_headers(&keys, &body, "1710504000");
    let (status, answer) = sendgrid(&h, &body, Some((signature.clone(), timestamp.clone()))).await;
    assert_eq!((status, answer["recorded"].as_u64()), (StatusCode::OK, Some(1)), "{answer:#}");
    let after = fingerprint(&h);
    for rewritten in [malleate(&signature), malleate(&malleate(&signature))] {
        let (status, answer) = sendgrid(&h, &body, Some((rewritten, timestamp.clone()))).await;
        assert_eq!(status, StatusCode::OK, "{answer:#}");
        assert_eq!((answer["duplicate"].as_bool(), answer["recorded"].as_u64()), (Some(true), Some(0)), "{answer:#}");
    }
    // A fresh signature of the same timestamp and body is the same delivery too.
    let (status, answer) = sendgrid(&h, &body, Some(sendgrid_headers(&keys, &body, "1710504000"))).await;
    assert_eq!((status, answer["duplicate"].as_bool()), (StatusCode::OK, Some(true)), "{answer:#}");
    assert_eq!(fingerprint(&h), after);
    assert_eq!(email_events(&h, "bob@gmail.com").await, ["hard_bounced"], "recorded once");
}

#[tokio::test]
async fn a_mailgun_token_is_single_use_across_workspaces_sharing_a_signing_key() {
    let keys = keys();
    let mut config = config_with(&keys);
    let shared = WorkspaceWebhookKeys { mailgun_signing_key: Some(MAILGUN_KEY.to_owned()), ..Default::default() };
    config.webhook_keys.workspaces.insert("other".to_owned(), shared);
    let h = harness_with(config);
    let body = mailgun_body(now(), "token-shared", MAILGUN_KEY);
    let (status, answer) = mailgun(&h, body.clone()).await;
    assert_eq!((status, answer["recorded"].as_u64()), (StatusCode::OK, Some(1)), "{answer:#}");
    let other = segscope_core::ids::WorkspaceId::parse("other").unwrap();
    let other_before = h.backend.stats(&other).unwrap();
    // The captured token with a forged body, or the same body, on the other workspace.
    let mut forged: Value = serde_json::from_slice(&body).unwrap();
    forged["event-data"]["recipient"] = json!("secret-person@other.example");
    for replay in [serde_json::to_vec(&forged).unwrap(), body.clone()] {
        let (status, _, answer) =
            send_with(&h.app, Method::POST, "/webhooks/mailgun/other", &[("content-type", "application/json")], replay).await;
        assert_error(status, &answer, StatusCode::FORBIDDEN, "forbidden");
        assert!(answer["error"]["message"].as_str().unwrap().contains("replay"), "{answer:#}");
    }
    assert_eq!(h.backend.stats(&other).unwrap(), other_before, "nothing recorded in the other workspace");
    let who = segscope_core::engine::ContactRef::Email("secret-person@other.example".into());
    assert!(h.backend.contact(&other, &who, now()).unwrap().recent_mail.is_empty());
    // A fresh token is accepted there.
    let (status, _, answer) = send_with(
        &h.app,
        Method::POST,
        "/webhooks/mailgun/other",
        &[("content-type", "application/json")],
        serde_json::to_vec(&{
            let mut fresh: Value = serde_json::from_slice(&mailgun_body(now(), "token-fresh", MAILGUN_KEY)).unwrap();
            fresh["event-data"]["recipient"] = json!("secret-person@other.example");
            fresh
        })
        .unwrap(),
    )
    .await;
    assert_eq!((status, answer["recorded"].as_u64()), (StatusCode::OK, Some(1)), "{answer:#}");
}
