//! ESP webhook endpoints: `POST /webhooks/{provider}/{ws}` for Amazon SES
//! (through SNS), SendGrid, Mailgun and Postmark, and the per-workspace
//! signing keys they are checked with ([`WebhookKeys`]).
//!
//! Order of the checks, cheapest and safest first: the rate limit (429),
//! the body limit (413, at once when the declared `Content-Length` is over
//! it), the provider's signature or credentials (401 when absent, 403 when
//! wrong; the reason is logged, never echoed), then the
//! parsers of `segscope_ingest::esp_webhook` and one `RecordEvents`
//! command. A request is refused as a whole or applied; events about
//! unknown recipients are reported in the 200 answer (the ESP must not
//! retry them forever).
//!
//! Decisions:
//! - **No key configured, no webhook.** A workspace without a signing key
//!   for a provider refuses that provider's webhooks (403): an unsigned
//!   endpoint would let anyone unsubscribe or bounce any address.
//! - **Postmark** signs nothing; its webhooks carry HTTP Basic credentials
//!   set in the webhook URL (`https://user:pass@…`), checked here.
//! - **Mailgun** timestamps older or newer than [`MAILGUN_MAX_SKEW_SECS`]
//!   are refused (replays).
//! - **Redeliveries are recorded once** ([`SeenDeliveries`]): a delivery
//!   id seen with the same body answers 200 "duplicate", with another body
//!   403. SendGrid deliveries are keyed on timestamp + body (a rewritten
//!   ECDSA signature is the same delivery); a Mailgun token is single-use
//!   per signing key, across workspaces.
//! - **SES/SNS**: SNS proves that *AWS* sent a message, not that it comes
//!   from *your* topic, so the topic ARN must be listed. The signing
//!   certificate is read from the configuration (keyed by its
//!   `SigningCertURL`), never fetched: segscope makes no outbound requests.
//!   A `SubscriptionConfirmation` is verified, then its `SubscribeURL` is
//!   logged and returned for the operator to open; it is not visited.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path as FsPath;

use axum::Json as JsonBody;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, header};
use base64::Engine;
use parking_lot::Mutex;
use segscope_core::engine::{Command, Outcome};
use segscope_core::time::Secs;
use segscope_ingest::esp_webhook::{Provider, SignatureError, WebhookError, WebhookOptions};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::collect::{client_address, rate_limit};
use crate::error::ApiError;
use crate::routes::{read_body, shorten};

/// Mailgun timestamps further than this from the server's clock are refused.
pub const MAILGUN_MAX_SKEW_SECS: i64 = 15 * 60;

/// Webhook deliveries remembered (see [`SeenDeliveries`]).
const DELIVERIES_KEPT: usize = 50_000;

/// The file in the data directory that `segscope serve` reads the keys from.
pub const WEBHOOK_KEYS_FILE: &str = "webhook-keys.json";

/// Amazon SES through SNS.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SesKeys {
    /// The SNS topics allowed to post (`arn:aws:sns:region:account:name`).
    pub topic_arns: Vec<String>,
    /// `SigningCertURL` → the PEM certificate at that URL. In the file, the
    /// value is a path to the `.pem` (relative to the file's directory).
    #[serde(default)]
    pub certificates: BTreeMap<String, String>,
}

/// One workspace's webhook credentials; a provider without one is refused.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceWebhookKeys {
    /// SendGrid's "verification key" (base64 DER public key).
    pub sendgrid_public_key: Option<String>,
    /// Mailgun's "HTTP webhook signing key".
    pub mailgun_signing_key: Option<String>,
    /// Postmark: `user:password` of the Basic credentials put in the webhook URL.
    pub postmark_basic_auth: Option<String>,
    pub ses: Option<SesKeys>,
}

/// Every workspace's webhook credentials (workspace id → keys).
#[derive(Clone, Default)]
pub struct WebhookKeys {
    pub workspaces: BTreeMap<String, WorkspaceWebhookKeys>,
}

impl std::fmt::Debug for WebhookKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets never reach a log line.
        f.debug_struct("WebhookKeys").field("workspaces", &self.workspaces.keys().collect::<Vec<_>>()).finish()
    }
}

impl WebhookKeys {
    /// Reads `webhook-keys.json`: `{"<workspace>": {"sendgrid_public_key"?,
    /// "mailgun_signing_key"?, "postmark_basic_auth"?, "ses"?: {"topic_arns",
    /// "certificates"?: {"<SigningCertURL>": "<path to .pem>"}}}}`.
    pub fn load(path: &FsPath) -> Result<WebhookKeys, String> {
        let text = std::fs::read_to_string(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        let mut workspaces: BTreeMap<String, WorkspaceWebhookKeys> =
            serde_json::from_str(&text).map_err(|err| format!("{}: {err}", path.display()))?;
        let base = path.parent().unwrap_or(FsPath::new("."));
        for (workspace, keys) in &mut workspaces {
            if let Some(ses) = &mut keys.ses {
                if ses.topic_arns.is_empty() {
                    return Err(format!(
                        "{}: workspace `{workspace}`: `ses.topic_arns` must list your SNS topics",
                        path.display()
                    ));
                }
                for (url, pem_path) in &mut ses.certificates {
                    segscope_ingest::validate_signing_cert_url(url).map_err(|err| format!("{}: {err}", path.display()))?;
                    let file = base.join(&*pem_path);
                    *pem_path = std::fs::read_to_string(&file).map_err(|err| format!("cannot read {}: {err}", file.display()))?;
                }
            }
        }
        Ok(WebhookKeys { workspaces })
    }
}

/// Webhook deliveries seen recently: delivery id → SHA-256 of the body,
/// bounded (a FIFO of [`DELIVERIES_KEPT`]).
///
/// ESPs deliver at least once: a delivery whose answer was lost is sent
/// again, and recording it twice would count a bounce twice (five copies
/// of one soft bounce would bounce the address, SPEC §6). A delivery id
/// seen with the same body is therefore answered 200 "duplicate" without
/// recording; seen with another body (or another workspace) it is a
/// forgery (Mailgun signs only its timestamp and token, not the body) and
/// refused. The id is made by `verify`: SendGrid's signed timestamp and
/// body digest, the Mailgun token per signing key (across workspaces),
/// the SNS `MessageId`, or the body's digest for Postmark. Memory only: after a restart, or beyond
/// the last 50 000 deliveries, a redelivery is recorded again.
#[derive(Debug, Default)]
pub struct SeenDeliveries {
    inner: Mutex<DeliveryMemory>,
}

/// Delivery id → body digest, and the ids in arrival order (to forget the oldest).
#[derive(Debug, Default)]
struct DeliveryMemory {
    digests: HashMap<String, [u8; 32]>,
    order: VecDeque<String>,
}

/// What [`SeenDeliveries::reserve`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// Never seen: reserved now; [`SeenDeliveries::release`] it if it fails.
    New,
    /// The same id and body were already accepted.
    Duplicate,
    /// The same id with another body.
    Forged,
}

impl SeenDeliveries {
    fn reserve(&self, id: &str, body_digest: [u8; 32]) -> Delivery {
        let mut guard = self.inner.lock();
        let DeliveryMemory { digests: seen, order } = &mut *guard;
        match seen.get(id) {
            Some(digest) if *digest == body_digest => return Delivery::Duplicate,
            Some(_) => return Delivery::Forged,
            None => {}
        }
        if order.len() >= DELIVERIES_KEPT
            && let Some(oldest) = order.pop_front()
        {
            seen.remove(&oldest);
        }
        seen.insert(id.to_owned(), body_digest);
        order.push_back(id.to_owned());
        Delivery::New
    }

    /// Forgets a reserved delivery that was not recorded, so that the
    /// ESP's retry is accepted.
    fn release(&self, id: &str) {
        let mut guard = self.inner.lock();
        let DeliveryMemory { digests: seen, order } = &mut *guard;
        seen.remove(id);
        if let Some(position) = order.iter().rposition(|x| x == id) {
            order.remove(position);
        }
    }
}

fn not_configured(provider: Provider, workspace: &str) -> ApiError {
    ApiError::forbidden(format!(
        "{} webhooks are not configured for workspace `{}`: add its signing key to {WEBHOOK_KEYS_FILE} in the data directory and restart",
        provider.key(),
        shorten(workspace)
    ))
}

fn unsigned(what: &str) -> ApiError {
    ApiError::unauthorized(format!("unsigned webhook: {what}"))
}

/// A signature that does not verify: logged with its reason, not echoed.
fn bad_signature(provider: Provider, workspace: &str, err: &SignatureError) -> ApiError {
    tracing::warn!(provider = provider.key(), workspace = %shorten(workspace), "webhook refused: {err}");
    ApiError::forbidden("the webhook signature does not verify with the signing key configured for this workspace")
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// Checks the provider's proof on a request (the body is already
/// bounded) and returns the delivery's key for [`SeenDeliveries`]:
/// - SendGrid: the signed timestamp and the body's digest, never the
///   signature's bytes (ECDSA is malleable: `(r, n − s)` verifies as well
///   as `(r, s)`, so a replay could wear a "new" signature);
/// - Mailgun: the token, per signing key and not per workspace (the
///   signature covers only timestamp + token, so a token is single-use for
///   its key wherever it is presented);
/// - SNS: the `MessageId` in the workspace; Postmark: the body's digest in
///   the workspace.
fn verify(
    provider: Provider,
    workspace: &str,
    keys: &WorkspaceWebhookKeys,
    headers: &HeaderMap,
    body: &[u8],
    now: Secs,
) -> Result<String, ApiError> {
    match provider {
        Provider::SendGrid => {
            let key = keys.sendgrid_public_key.as_deref().ok_or_else(|| not_configured(provider, workspace))?;
            let signature = header_str(headers, "x-twilio-email-event-webhook-signature")
                .ok_or_else(|| unsigned("no `X-Twilio-Email-Event-Webhook-Signature` header: enable signed event webhooks"))?;
            let timestamp = header_str(headers, "x-twilio-email-event-webhook-timestamp")
                .ok_or_else(|| unsigned("no `X-Twilio-Email-Event-Webhook-Timestamp` header"))?;
            segscope_ingest::verify_sendgrid_signature(key, signature, timestamp, body)
                .map_err(|err| bad_signature(provider, workspace, &err))?;
            Ok(format!("sendgrid|{}|{}|{}", shorten(workspace), shorten(timestamp), hex::encode(Sha256::digest(body))))
        }
        Provider::Mailgun => {
            let key = keys.mailgun_signing_key.as_deref().ok_or_else(|| not_configured(provider, workspace))?;
            let json: Json = serde_json::from_slice(body).map_err(|err| bad_json(&err.to_string()))?;
            let Some(signature) = json.get("signature").and_then(Json::as_object) else {
                return Err(unsigned("no `signature` object in the body"));
            };
            let field = |name: &str| signature.get(name).map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()));
            let timestamp = field("timestamp").ok_or_else(|| unsigned("no `signature.timestamp`"))?;
            let token = field("token").ok_or_else(|| unsigned("no `signature.token`"))?;
            segscope_ingest::esp_webhook::verify_mailgun_body(key, &json)
                .map_err(|err| bad_signature(provider, workspace, &err))?;
            let at: i64 = timestamp.trim().parse().map_err(|_| ApiError::forbidden("`signature.timestamp` is not a number"))?;
            if (now - at).abs() > MAILGUN_MAX_SKEW_SECS {
                return Err(ApiError::forbidden(format!(
                    "the webhook's signature timestamp is more than {MAILGUN_MAX_SKEW_SECS} s away from the server's clock (a replay, or a wrong clock)"
                )));
            }
            // The key's digest, not the key: the memory must hold no secret.
            let key_id = hex::encode(&Sha256::digest(key.as_bytes())[..16]);
            Ok(format!("mailgun|{key_id}|{token}"))
        }
        Provider::Postmark => {
            let expected = keys.postmark_basic_auth.as_deref().ok_or_else(|| not_configured(provider, workspace))?;
            let presented = header_str(headers, header::AUTHORIZATION.as_str())
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
                .map(|(_, b64)| b64.trim())
                .ok_or_else(|| unsigned("no Basic credentials: put them in the webhook URL (https://user:password@host/…)"))?;
            let decoded = base64::engine::general_purpose::STANDARD.decode(presented).unwrap_or_default();
            // Compare digests: equal length, and the time does not depend
            // on where the secrets differ.
            if Sha256::digest(&decoded) != Sha256::digest(expected.as_bytes()) {
                return Err(bad_signature(provider, workspace, &SignatureError::Mismatch));
            }
            Ok(format!("postmark|{}|{}", shorten(workspace), hex::encode(Sha256::digest(body))))
        }
        Provider::AmazonSes => {
            let ses = keys.ses.as_ref().ok_or_else(|| not_configured(provider, workspace))?;
            let envelope = segscope_ingest::esp_webhook::sns_envelope_of(body).map_err(|err| match err {
                WebhookError::InvalidJson(message) => bad_json(&message),
                other => unsigned(&format!("{other}: SES posts through an SNS topic (an SNS envelope)")),
            })?;
            if envelope.signature.is_none() {
                return Err(unsigned("no SNS `Signature`"));
            }
            if !ses.topic_arns.contains(&envelope.topic_arn) {
                tracing::warn!(workspace = %shorten(workspace), topic = %shorten(&envelope.topic_arn), "SNS message from a topic not listed in ses.topic_arns");
                return Err(ApiError::forbidden("this SNS topic is not listed for the workspace (`ses.topic_arns`)"));
            }
            let url = envelope.signing_cert_url.as_deref().ok_or_else(|| unsigned("no SNS `SigningCertURL`"))?;
            segscope_ingest::validate_signing_cert_url(url).map_err(|err| bad_signature(provider, workspace, &err))?;
            let Some(pem) = ses.certificates.get(url) else {
                tracing::warn!(
                    workspace = %shorten(workspace),
                    "SNS signing certificate not configured: download {url}, check it, and add it to ses.certificates in {WEBHOOK_KEYS_FILE}"
                );
                return Err(ApiError::forbidden(
                    "the SNS signing certificate of this message is not configured for the workspace (the server log names it)",
                ));
            };
            segscope_ingest::verify_sns_signature(&envelope, pem).map_err(|err| bad_signature(provider, workspace, &err))?;
            Ok(format!("ses|{}|{}", shorten(workspace), envelope.message_id))
        }
    }
}

fn bad_json(message: &str) -> ApiError {
    ApiError::new(axum::http::StatusCode::BAD_REQUEST, "invalid", format!("the body is not JSON: {message}"))
}

/// `POST /webhooks/{provider}/{ws}`.
pub async fn receive(
    State(state): State<AppState>,
    Path((provider_raw, ws)): Path<(String, String)>,
    request: Request,
) -> Result<JsonBody<Json>, ApiError> {
    let provider = match provider_raw.as_str() {
        "ses" | "sendgrid" | "mailgun" | "postmark" => Provider::parse(&provider_raw).expect("a known key"),
        _ => {
            return Err(ApiError::not_found(format!(
                "unknown webhook provider `{}`: use ses, sendgrid, mailgun or postmark",
                shorten(&provider_raw)
            )));
        }
    };
    let client = client_address(&state, &request);
    let caller = format!("{}|{}|{}", provider.key(), shorten(&ws), client.map(|ip| ip.to_string()).unwrap_or_default());
    rate_limit(state.webhook_limiter(), &caller)?;
    let headers = request.headers().clone();
    // `read_body` refuses a declared oversize body before reading any of it.
    let limit = state.config().max_webhook_bytes;
    let body = read_body(request, &state, limit).await?;
    let keys = state.config().webhook_keys.workspaces.get(&ws).cloned().unwrap_or_default();
    let now = state.now();
    let delivery = verify(provider, &ws, &keys, &headers, &body, now)?;
    // The digest covers the workspace too: a Mailgun token (remembered per
    // signing key) presented to another workspace is a replay even with
    // the same body.
    let digest: [u8; 32] = Sha256::new().chain_update(ws.as_bytes()).chain_update([0]).chain_update(&body).finalize().into();
    match state.deliveries().reserve(&delivery, digest) {
        Delivery::New => {}
        Delivery::Duplicate => {
            // Answered as a success so the ESP stops retrying; nothing recorded twice.
            return Ok(JsonBody(json!({ "provider": provider.key(), "duplicate": true, "recorded": 0,
                "message": "this delivery was already received; nothing was recorded again" })));
        }
        Delivery::Forged => {
            tracing::warn!(provider = provider.key(), workspace = %shorten(&ws), "webhook refused: a delivery id seen before with another body");
            return Err(ApiError::forbidden("this webhook's signature was already used with another body (a replay)"));
        }
    }
    let result = record(&state, provider, &ws, &body, now).await;
    // A failed delivery must be accepted when the ESP retries it; an SNS
    // (un)subscription notice records nothing and is logged again if resent.
    if result.as_ref().map_or(true, |JsonBody(answer)| answer.get("sns").is_some()) {
        state.deliveries().release(&delivery);
    }
    result
}

/// Parses a verified body and records its events.
async fn record(state: &AppState, provider: Provider, ws: &str, body: &[u8], now: Secs) -> Result<JsonBody<Json>, ApiError> {
    let limit = state.config().max_webhook_bytes;
    let options = WebhookOptions {
        limits: segscope_ingest::InputLimits { max_line_bytes: limit, max_field_bytes: limit, ..Default::default() },
        received_at: Some(now),
    };
    let batch = segscope_ingest::parse_webhook(provider, body, &options).map_err(|err| match err {
        WebhookError::TooLarge { .. } => ApiError::payload_too_large(limit),
        WebhookError::InvalidJson(message) => bad_json(&message),
        other @ WebhookError::WrongShape { .. } => ApiError::invalid(other.to_string()),
    })?;
    let workspace = segscope_core::ids::WorkspaceId::parse(ws).map_err(|_| crate::auth::workspace_not_found(ws))?;
    let mut answer = json!({
        "provider": provider.key(),
        "items": batch.n_items,
        "events": batch.events.iter().map(|e| json!({
            "item": e.item, "recipient": e.recipient, "provider_event": e.provider_event, "action": e.action.key(),
        })).collect::<Vec<_>>(),
        "problems": batch.problems.iter().map(|p| json!({ "item": p.item, "message": p.message })).collect::<Vec<_>>(),
        "recorded": 0,
        "rejected": [],
    });
    if let Some(envelope) = &batch.sns
        && envelope.kind != "Notification"
    {
        let url = envelope.subscribe_url.clone().unwrap_or_default();
        let what = if envelope.is_subscription_confirmation() {
            "open this URL once to confirm the subscription (segscope does not visit it)"
        } else {
            "the topic unsubscribed this endpoint; open this URL only to subscribe it again"
        };
        tracing::warn!(workspace = %workspace, topic = %envelope.topic_arn, "SNS {} for workspace {workspace}: {what}: {url}", envelope.kind);
        answer["sns"] = json!({
            "type": envelope.kind, "topic_arn": envelope.topic_arn, "subscribe_url": url,
            "message": format!("verified; {what}; the URL is also in the server log"),
        });
    }
    let inputs: Vec<_> = batch.events.iter().filter_map(|e| e.to_event_input().map(|input| (e.item, input))).collect();
    if inputs.is_empty() {
        // Still check the workspace exists, so a typo in the URL is a 404.
        state.blocking(move |backend| Ok(backend.settings(&workspace)?)).await?;
        return Ok(JsonBody(answer));
    }
    let items: Vec<usize> = inputs.iter().map(|(item, _)| *item).collect();
    let events = inputs.into_iter().map(|(_, input)| input).collect();
    let report = state
        .blocking(move |backend| match backend.apply(&workspace, Command::RecordEvents { events }, now)? {
            Outcome::Recorded(report) => Ok(report),
            other => Err(ApiError::internal(format!("recording webhook events answered {other:?}"))),
        })
        .await?;
    answer["recorded"] = json!(report.accepted);
    answer["rejected"] = json!(
        report.rejected.iter().map(|issue| json!({ "item": items[issue.index], "message": issue.message })).collect::<Vec<_>>()
    );
    Ok(JsonBody(answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem";

    fn load(json: &str) -> Result<WebhookKeys, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sns.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").unwrap();
        let path = dir.path().join(WEBHOOK_KEYS_FILE);
        std::fs::write(&path, json).unwrap();
        WebhookKeys::load(&path)
    }

    #[test]
    fn the_keys_file_reads_certificates_relative_to_itself() {
        let keys = load(&format!(
            r#"{{"acme": {{"mailgun_signing_key": "key-1", "ses": {{"topic_arns": ["arn:aws:sns:eu-west-1:1:t"], "certificates": {{"{URL}": "sns.pem"}}}}}}}}"#
        ))
        .unwrap();
        let acme = &keys.workspaces["acme"];
        assert_eq!(acme.mailgun_signing_key.as_deref(), Some("key-1"));
        assert!(acme.ses.as_ref().unwrap().certificates[URL].starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(!format!("{keys:?}").contains("key-1"), "Debug hides the secrets");
    }

    #[test]
    fn the_keys_file_refuses_mistakes_with_their_reason() {
        let err = load(r#"{"acme": {"mailgun_key": "k"}}"#).unwrap_err();
        assert!(err.contains("unknown field `mailgun_key`"), "{err}");
        let err = load(r#"{"acme": {"ses": {"topic_arns": []}}}"#).unwrap_err();
        assert!(err.contains("`ses.topic_arns` must list your SNS topics"), "{err}");
        let err = load(r#"{"acme": {"ses": {"topic_arns": ["t"], "certificates": {"https://evil.example/x.pem": "sns.pem"}}}}"#)
            .unwrap_err();
        assert!(err.contains("not an Amazon SNS one"), "{err}");
        let err = load(&format!(r#"{{"acme": {{"ses": {{"topic_arns": ["t"], "certificates": {{"{URL}": "missing.pem"}}}}}}}}"#))
            .unwrap_err();
        assert!(err.contains("missing.pem"), "{err}");
    }

    #[test]
    fn deliveries_are_remembered_once_and_released_on_failure() {
        let seen = SeenDeliveries::default();
        assert_eq!(seen.reserve("a", [1; 32]), Delivery::New);
        assert_eq!(seen.reserve("a", [1; 32]), Delivery::Duplicate);
        assert_eq!(seen.reserve("a", [2; 32]), Delivery::Forged);
        seen.release("a");
        assert_eq!(seen.reserve("a", [2; 32]), Delivery::New);
        assert_eq!(seen.reserve("b", [1; 32]), Delivery::New);
    }
}
