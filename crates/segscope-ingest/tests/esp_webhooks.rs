//! ESP webhook payloads from `shared/data` (django-anymail's SES, SendGrid,
//! Mailgun and Postmark samples; Firefox Relay's SES notifications): each
//! parses and maps to the expected kind. Signature checks with keys made in
//! the test.

mod common;

use base64::Engine;
use common::{NOW, shared_data, workspace};
use segscope_core::event::{BounceClass, EmailKind};
use segscope_core::model::Channel;
use segscope_ingest::esp_webhook::{sns_envelope_of, sns_string_to_sign, verify_mailgun_body};
use segscope_ingest::{
    Provider, SignatureError, WebhookAction, WebhookError, WebhookOptions, apply_ndjson_import, parse_webhook,
    parse_webhook_dump, verify_mailgun_signature, verify_sendgrid_signature, verify_sns_signature,
};
use serde_json::Value as Json;

fn read(relative: &str) -> Vec<u8> {
    let root = shared_data();
    assert!(
        root.is_dir(),
        "the shared test data folder {} is missing: these tests read real files from shared/data next to the repository \
         (or from SEGSCOPE_SHARED_DATA)",
        root.display()
    );
    let path = root.join(relative);
    std::fs::read(&path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

/// What one body gives: the action keys of its events, then `!` per
/// rejected item, or `error` when the body is refused as a whole.
fn outcome(provider: Provider, body: &[u8], options: &WebhookOptions) -> String {
    match parse_webhook(provider, body, options) {
        Ok(batch) => {
            let mut parts: Vec<&str> = batch.events.iter().map(|e| e.action.key()).collect();
            parts.extend(batch.problems.iter().filter(|p| p.severity == segscope_ingest::ProblemSeverity::Rejected).map(|_| "!"));
            if parts.is_empty() { "none".to_owned() } else { parts.join(",") }
        }
        Err(_) => "error".to_owned(),
    }
}

/// (anymail test name, expected outcome) in file order. Bodies that are not
/// webhook bodies (fragments the upstream tests used for one assertion) are
/// expected to be refused or reported, never to panic.
fn anymail_expectations(provider: Provider) -> &'static [(&'static str, &'static str)] {
    match provider {
        Provider::AmazonSes => &[
            ("test_bounce_event", "hard_bounced"),
            ("test_multiple_bounce_event", "hard_bounced,hard_bounced"),
            ("test_complaint_event", "complained"),
            ("test_delivery_event", "delivered"), // `delivery.recipients` names one of three
            ("test_send_event", "sent"),
            ("test_reject_event", "blocked"),
            ("test_open_event", "opened"),
            ("test_click_event", "clicked"),
            ("test_rendering_failure_event", "not_sent"),
            ("test_incorrect_received_event", "!"), // inbound notification without `mail`
            ("setUp", "error"),                     // a fragment: `{SubscriptionArn}` only
            ("null", "none"),                       // SubscriptionConfirmation
            ("test_sns_confirmation_success_notification", "none"),
            ("test_sns_unsubscribe_confirmation", "none"),
        ],
        Provider::SendGrid => &[
            ("setUpClass", "sent"),
            ("test_processed_event", "sent"),
            ("test_delivered_event", "delivered"),
            ("test_dropped_invalid_event", "hard_bounced"),
            ("test_dropped_bounced", "hard_bounced"),
            ("test_dropped_unsubscribed_event", "unsubscribed"),
            ("test_bounce_event", "hard_bounced"),
            ("test_deferred_event", "deferred"),
            ("test_open_event", "opened"),
            ("test_click_event", "clicked"),
            ("test_compatibility_message_id_from_smtp_id", "delivered"),
        ],
        Provider::Mailgun => &[
            ("test_delivered_event", "delivered"),
            ("test_failed_permanent_event", "hard_bounced"),
            ("test_failed_temporary_event", "deferred"),
            ("test_failed_greylisted_event", "deferred"),
            ("test_rejected_event", "not_sent"),
            ("test_complained_event", "complained"),
            ("test_unsubscribed_event", "unsubscribed"),
            ("test_opened_event", "opened"),
            ("test_clicked_event", "clicked"),
            ("test_delivered_event", "error"), // legacy: only the message-headers pairs
            ("test_dropped_bounce", "error"),  // legacy: only the message-headers pairs
            ("test_dropped_spam", "complained"),
            ("test_dropped_timed_out", "soft_bounced"),
            ("test_invalid_mailbox", "hard_bounced"),
            ("test_alt_smtp_code", "hard_bounced"),
            ("test_metadata_message_headers", "error"), // a header list
            ("test_metadata_key_conflicts", "!"),       // user variables, not an event
            ("test_metadata_key_conflicts", "clicked"),
            ("test_misconfigured_inbound", "error"), // an inbound route's post
        ],
        Provider::Postmark => &[
            ("test_bounce_event", "hard_bounced"),
            ("test_delivered_event", "delivered"),
            ("test_open_event", "opened"),
            ("test_click_event", "clicked"),
            ("test_spam_event", "complained"),
            ("test_unsubscribe", "unsubscribed"),
            ("test_resubscribe", "ignored"),
            ("test_subscription_change_bounce", "hard_bounced"),
            ("test_bounce_unsubscribe_variant", "!"), // a fragment without a recipient
        ],
    }
}

#[test]
fn anymail_payloads_map_to_the_right_kinds() {
    // The server passes the receive time; some samples carry no time of their own.
    let options = WebhookOptions { received_at: Some(NOW), ..WebhookOptions::default() };
    let mut total = 0;
    let mut matched = 0;
    let mut webhook_bodies = 0;
    let mut parsed_webhook_bodies = 0;
    for (provider, file) in [
        (Provider::AmazonSes, "amazon_ses"),
        (Provider::SendGrid, "sendgrid"),
        (Provider::Mailgun, "mailgun"),
        (Provider::Postmark, "postmark"),
    ] {
        let text = String::from_utf8(read(&format!("anymail-esp-webhook-payloads/{file}_webhook_payloads.jsonl"))).unwrap();
        let expected = anymail_expectations(provider);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), expected.len(), "{file}: one expectation per payload");
        for (line, (test, want)) in lines.iter().zip(expected) {
            let record: Json = serde_json::from_str(line).unwrap();
            let name = record["test"].as_str().unwrap_or("null");
            assert_eq!(name, *test, "{file}: payloads in order");
            let body = serde_json::to_vec(&record["payload"]).unwrap();
            let got = outcome(provider, &body, &options);
            total += 1;
            if *want != "error" && *want != "!" {
                webhook_bodies += 1;
                parsed_webhook_bodies += usize::from(got == *want);
            }
            if got == *want {
                matched += 1;
            } else {
                eprintln!("{file} {test}: expected {want}, got {got}");
            }
        }
    }
    println!(
        "anymail: {matched}/{total} payloads as expected; {parsed_webhook_bodies}/{webhook_bodies} webhook bodies parsed and mapped to the right kind"
    );
    assert_eq!(matched, total);
}

/// (file, expected outcome, SNS envelope type)
const RELAY_FILES: &[(&str, &str, Option<&str>)] = &[
    ("bounce_event_example_ses_body.json", "hard_bounced", None),
    ("bounce_notification_from_simulator_ses_body.json", "hard_bounced", None),
    ("bounce_notification_with_dsn_example_ses_body.json", "hard_bounced", None),
    ("bounce_notification_without_dsn_example_ses_body.json", "hard_bounced,hard_bounced", None),
    ("click_event_example_ses_body.json", "clicked", None),
    ("complaint_event_example_ses_body.json", "complained", None),
    ("complaint_notification_from_simulator_ses_body.json", "complained", None),
    ("complaint_notification_with_feedback_example_ses_body.json", "complained", None),
    ("complaint_notification_without_feedback_example_ses_body.json", "complained", None),
    ("delivery_delay_event_example_ses_body.json", "deferred", None),
    ("delivery_event_example_ses_body.json", "delivered", None),
    ("delivery_notification_complaint_from_simulator_ses_body.json", "delivered", None),
    ("delivery_notification_example_ses_body.json", "delivered", None),
    ("delivery_notification_ooto_from_simulator_ses_body.json", "delivered", None),
    ("delivery_notification_success_from_simulator_ses_body.json", "delivered", None),
    ("dmarc_failed_email_sns_body.json", "ignored", Some("Notification")),
    ("domain_recipient_email_sns_body.json", "ignored", Some("Notification")),
    ("hard_bounce_sns_body.json", "hard_bounced", Some("Notification")),
    ("ooto_bounce_notification_from_simulator_ses_body.json", "soft_bounced", None),
    ("open_event_example_ses_body.json", "opened", None),
    ("received_notification_action_example_ses_body.json", "ignored", None),
    ("received_notification_action_no_headers_ses_body.json", "ignored", None),
    ("received_notification_alert_example_ses_body.json", "ignored", None),
    ("reject_event_example_ses_body.json", "blocked", None),
    ("rendering_failure_example_ses_body.json", "not_sent", None),
    ("replies_email_sns_body.json", "ignored", Some("Notification")),
    ("s3_stored_email_sns_body.json", "ignored", Some("Notification")),
    ("s3_stored_replies_email_sns_body.json", "ignored", Some("Notification")),
    ("send_event_example_ses_body.json", "sent", None),
    ("single_recipient_email_sns_body.json", "ignored", Some("Notification")),
    ("single_recipient_list_email_sns_body.json", "ignored", Some("Notification")),
    ("soft_bounce_sns_body.json", "soft_bounced", Some("Notification")),
    ("spamVerdict_FAIL_email_sns_body.json", "ignored", Some("Notification")),
    ("spam_bounce_sns_body.json", "blocked", Some("Notification")),
    ("subscription_confirmation_invalid_sns_body.json", "none", Some("SubscriptionConfirmation")),
    ("subscription_event_example_ses_body.json", "unsubscribed", None),
    ("suppressionlist_bounce_notification_from_simulator_ses_body.json", "hard_bounced", None),
];

#[test]
fn firefox_relay_ses_notifications_map_to_the_right_kinds() {
    let folder = shared_data().join("fx-private-relay-ses-notifications");
    let mut on_disk: Vec<String> = std::fs::read_dir(&folder)
        .unwrap_or_else(|err| panic!("cannot list {}: {err}", folder.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    on_disk.sort();
    let listed: Vec<&str> = RELAY_FILES.iter().map(|(file, _, _)| *file).collect();
    assert_eq!(on_disk, listed, "every file has an expectation");
    let mut matched = 0;
    for (file, want, sns) in RELAY_FILES {
        let body = read(&format!("fx-private-relay-ses-notifications/{file}"));
        let batch = parse_webhook(Provider::AmazonSes, &body, &WebhookOptions::default()).unwrap();
        assert_eq!(batch.sns.as_ref().map(|e| e.kind.as_str()), *sns, "{file}");
        let got = outcome(Provider::AmazonSes, &body, &WebhookOptions::default());
        if got == *want {
            matched += 1;
        } else {
            eprintln!("{file}: expected {want}, got {got}");
        }
    }
    println!("fx-private-relay: {matched}/{} SES notifications parsed and mapped to the right kind", RELAY_FILES.len());
    assert_eq!(matched, RELAY_FILES.len());

    // The subscription confirmation carries what the server needs to confirm.
    let envelope =
        sns_envelope_of(&read("fx-private-relay-ses-notifications/subscription_confirmation_invalid_sns_body.json")).unwrap();
    assert!(envelope.is_subscription_confirmation());
    assert!(
        envelope.subscribe_url.as_deref().unwrap().starts_with("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription")
    );
    assert!(segscope_ingest::validate_signing_cert_url(envelope.signing_cert_url.as_deref().unwrap()).is_ok());
}

#[test]
fn sisimai_ses_notifications_and_sendgrid_api_exports() {
    // sisimai ships old SES SNS bodies (webhooks) and SendGrid bounce-list
    // API exports (`[{status, created, reason, email}]`, not webhook events).
    let (mut ses_events, mut sendgrid_events, mut sendgrid_refused) = (0, 0, 0);
    let mut names: Vec<_> = std::fs::read_dir(shared_data().join("sisimai-set-of-emails/obsoleted"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    names.sort();
    for path in names {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let body = std::fs::read(&path).unwrap();
        let json: Json = serde_json::from_slice(&body).unwrap();
        if name.starts_with("json-amazonses") {
            assert_eq!(Provider::detect(&json), Some(Provider::AmazonSes), "{name}");
            let batch = parse_webhook(Provider::AmazonSes, &body, &WebhookOptions::default()).unwrap();
            assert!(!batch.events.is_empty() && batch.problems.is_empty(), "{name}: {:?}", batch.problems);
            ses_events += batch.events.len();
        } else if Provider::detect(&json) == Some(Provider::SendGrid) {
            let batch = parse_webhook(Provider::SendGrid, &body, &WebhookOptions::default()).unwrap();
            assert!(!batch.events.is_empty() && batch.problems.is_empty(), "{name}: {:?}", batch.problems);
            sendgrid_events += batch.events.len();
        } else {
            let batch = parse_webhook(Provider::SendGrid, &body, &WebhookOptions::default()).unwrap();
            assert!(batch.events.is_empty() && !batch.problems.is_empty(), "{name}");
            assert!(batch.problems[0].message.contains("no `event`"), "{}", batch.problems[0]);
            sendgrid_refused += 1;
        }
    }
    println!(
        "sisimai obsoleted JSON: {ses_events} SES events, {sendgrid_events} SendGrid events; {sendgrid_refused} SendGrid API exports reported as not webhook events"
    );
    assert_eq!((sendgrid_events, sendgrid_refused), (6, 11));
}

#[test]
fn dump_import_goes_through_the_driver() {
    let text = String::from_utf8(read("anymail-esp-webhook-payloads/postmark_webhook_payloads.jsonl")).unwrap();
    let mut dump = String::new();
    for line in text.lines() {
        let record: Json = serde_json::from_str(line).unwrap();
        dump.push_str(&record["payload"].to_string());
        dump.push('\n');
    }
    dump.push_str("{broken\n");
    let import = parse_webhook_dump(None, dump.as_bytes(), &WebhookOptions::default());
    assert_eq!(import.n_lines, 10);
    let rejected: Vec<usize> = import.problems.iter().map(|p| p.line).collect();
    assert_eq!(rejected, [9, 10], "{:?}", import.problems);
    // Contacts must exist before email events about them are recorded.
    let mut ws = workspace();
    let contacts: Vec<_> = import
        .events
        .iter()
        .map(|(_, e)| segscope_core::engine::ContactUpsert {
            email: Some(e.recipient.clone()),
            external_id: None,
            fields: Vec::new(),
            created_at: None,
        })
        .collect();
    common::apply_upserts(&mut ws, contacts).unwrap();
    let report =
        apply_ndjson_import(import.into_event_import(), Channel::Integration, 100, |c| ws.apply(c, NOW), |_| {}).unwrap();
    println!("postmark dump: {} events accepted, {} lines skipped", report.events_accepted, report.skipped);
    assert_eq!(report.events_accepted, 7); // 8 events, the reactivation is not recorded
}

#[test]
fn bad_bodies_never_panic() {
    let garbage: [&[u8]; 6] = [b"", b"\xff\xfe\x00", b"null", b"[1,2,3]", b"{\"Type\":\"Notification\"}", b"[{\"event\":5}]"];
    for provider in Provider::ALL {
        for body in garbage {
            let _ = parse_webhook(provider, body, &WebhookOptions::default());
        }
    }
    let err = parse_webhook(Provider::AmazonSes, b"{\"Type\":\"Notification\",\"TopicArn\":\"a\"}", &WebhookOptions::default());
    assert!(matches!(err, Err(WebhookError::WrongShape { .. })));
}

#[test]
fn sendgrid_signature_with_a_generated_key() {
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::{Signature, SigningKey};
    use p256::pkcs8::EncodePublicKey;
    let b64 = base64::engine::general_purpose::STANDARD;
    #[allow(deprecated)]
    let signing = SigningKey::random(&mut rand::rng());
    let public = b64.encode(signing.verifying_key().to_public_key_der().unwrap().as_bytes());
    let body = read("anymail-esp-webhook-payloads/sendgrid_webhook_payloads.jsonl");
    let timestamp = "1600112502";
    let mut signed = timestamp.as_bytes().to_vec();
    signed.extend_from_slice(&body);
    let signature: Signature = signing.sign(&signed);
    let signature = b64.encode(signature.to_der().as_bytes());
    assert_eq!(verify_sendgrid_signature(&public, &signature, timestamp, &body), Ok(()));
    assert_eq!(verify_sendgrid_signature(&public, &signature, "1600112503", &body), Err(SignatureError::Mismatch));
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    assert_eq!(verify_sendgrid_signature(&public, &signature, timestamp, &tampered), Err(SignatureError::Mismatch));
    assert!(matches!(verify_sendgrid_signature("not a key", &signature, timestamp, &body), Err(SignatureError::Malformed(_))));
    assert!(matches!(
        verify_sendgrid_signature(&b64.encode(b"xx"), &signature, timestamp, &body),
        Err(SignatureError::BadKey(_))
    ));
}

#[test]
fn mailgun_signature_on_a_real_body() {
    use hmac::{Hmac, KeyInit, Mac};
    let text = String::from_utf8(read("anymail-esp-webhook-payloads/mailgun_webhook_payloads.jsonl")).unwrap();
    let record: Json = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let mut body = record["payload"].clone();
    let key = "key-test-signing";
    let (timestamp, token) = (body["signature"]["timestamp"].as_str().unwrap(), body["signature"]["token"].as_str().unwrap());
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("{timestamp}{token}").as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    assert_eq!(verify_mailgun_signature(key, timestamp, token, &signature), Ok(()));
    // The sample's own signature is a placeholder ("..."): refused.
    assert!(verify_mailgun_body(key, &body).is_err());
    body["signature"]["signature"] = Json::from(signature);
    assert_eq!(verify_mailgun_body(key, &body), Ok(()));
    assert_eq!(verify_mailgun_body("other-key", &body), Err(SignatureError::Mismatch));
}

#[test]
fn sns_signatures_v1_and_v2_with_a_generated_certificate() {
    use rsa::pkcs1v15::SigningKey;
    use rsa::signature::{SignatureEncoding, Signer};
    let b64 = base64::engine::general_purpose::STANDARD;
    let private = rsa::PrivateKey::new(&mut rand::rng(), 1024).unwrap();
    let certificate = self_signed_certificate_pem(&private);
    let mut envelope = sns_envelope_of(&read("fx-private-relay-ses-notifications/hard_bounce_sns_body.json")).unwrap();
    envelope.signing_cert_url = Some("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem".to_owned());
    let to_sign = sns_string_to_sign(&envelope).unwrap();
    assert!(to_sign.starts_with("Message\n{\"notificationType\":\"Bounce\""));
    assert!(to_sign.ends_with("TopicArn\narn:aws:sns:us-east-1:168781634622:ses-inbound-grelay\nType\nNotification\n"));

    envelope.signature_version = Some("1".to_owned());
    envelope.signature = Some(b64.encode(SigningKey::<sha1::Sha1>::new(private.clone()).sign(to_sign.as_bytes()).to_bytes()));
    assert_eq!(verify_sns_signature(&envelope, &certificate), Ok(()));
    envelope.signature_version = Some("2".to_owned());
    assert_eq!(verify_sns_signature(&envelope, &certificate), Err(SignatureError::Mismatch));
    envelope.signature = Some(b64.encode(SigningKey::<sha2::Sha256>::new(private.clone()).sign(to_sign.as_bytes()).to_bytes()));
    assert_eq!(verify_sns_signature(&envelope, &certificate), Ok(()));
    // A changed message, an untrusted certificate URL.
    let mut changed = envelope.clone();
    changed.message = changed.message.replace("Permanent", "Transient");
    assert_eq!(verify_sns_signature(&changed, &certificate), Err(SignatureError::Mismatch));
    let mut moved = envelope.clone();
    moved.signing_cert_url = Some("https://sns.us-east-1.amazonaws.com.attacker.example/cert.pem".to_owned());
    assert!(matches!(verify_sns_signature(&moved, &certificate), Err(SignatureError::UntrustedCertificateUrl(_))));

    // A subscription confirmation signs SubscribeURL and Token too.
    let mut confirmation =
        sns_envelope_of(&read("fx-private-relay-ses-notifications/subscription_confirmation_invalid_sns_body.json")).unwrap();
    let to_sign = sns_string_to_sign(&confirmation).unwrap();
    assert!(to_sign.contains("\nSubscribeURL\nhttps://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"));
    assert!(to_sign.contains("\nToken\n2336412f"));
    // Its real signature does not verify against our certificate.
    assert_eq!(verify_sns_signature(&confirmation, &certificate), Err(SignatureError::Mismatch));
    confirmation.signature = Some(b64.encode(SigningKey::<sha1::Sha1>::new(private).sign(to_sign.as_bytes()).to_bytes()));
    assert_eq!(verify_sns_signature(&confirmation, &certificate), Ok(()));
}

/// A minimal X.509 certificate (PEM) for `private`'s public key, DER-encoded
/// by hand: the verifier reads only the key, so the certificate's own
/// signature is a placeholder.
fn self_signed_certificate_pem(private: &rsa::PrivateKey) -> String {
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
    // sha1WithRSAEncryption, NULL parameters
    let algorithm = sequence(&[tlv(0x06, &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05]), vec![0x05, 0x00]]);
    let name = sequence(&[tlv(0x31, &sequence(&[tlv(0x06, &[0x55, 0x04, 0x03]), tlv(0x0c, b"sns.test")]))]);
    let validity = sequence(&[tlv(0x17, b"250101000000Z"), tlv(0x17, b"350101000000Z")]);
    let spki = private.to_public_key().to_public_key_der().unwrap().as_bytes().to_vec();
    let tbs = sequence(&[
        tlv(0xa0, &tlv(0x02, &[2])), // v3
        tlv(0x02, &[1]),             // serial number
        algorithm.clone(),
        name.clone(),
        validity,
        name,
        spki,
    ]);
    let certificate = sequence(&[tbs, algorithm, tlv(0x03, &[0, 1, 2, 3, 4])]);
    let body = base64::engine::general_purpose::STANDARD.encode(certificate);
    let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"))
}

#[test]
fn email_kinds_of_bounce_classes() {
    assert_eq!(WebhookAction::Record(EmailKind::Bounced(BounceClass::Block)).key(), "blocked");
}
