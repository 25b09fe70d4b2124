//! Email service provider webhooks (SPEC §3, §6): the native payloads of
//! Amazon SES (SNS envelopes, feedback notifications and event publishing),
//! SendGrid (event webhook arrays), Mailgun (`{signature, event-data}`, and
//! the legacy flat form) and Postmark (`RecordType` objects), mapped to the
//! core's email events with hard / soft / block classification.
//!
//! Parsing is pure: bytes in, events and per-item problems out. An event
//! type this module does not know is reported on its item and the others are
//! kept. Signature checks are separate functions ([`verify_sendgrid_signature`],
//! [`verify_mailgun_signature`], [`verify_sns_signature`]) so that the
//! server can refuse a request before parsing it; none of them fetches
//! anything (the SNS signing certificate is an argument).
//!
//! The mapping tables are in `docs/ingestion.md`. Two decisions shape them:
//! - a *deferral* (the ESP will retry) is not a soft bounce: five retries of
//!   one message would otherwise mark the address bounced (SPEC §6 counts
//!   consecutive soft bounces). Deferrals are reported as
//!   [`WebhookAction::Deferred`] and not recorded; the final event decides.
//! - a refusal that blames the sender (block list, policy, content) is
//!   [`BounceClass::Block`], never a recipient bounce.

use base64::Engine;
use segscope_core::event::{BounceClass, EmailEvent, EmailKind, EventBody, EventInput, Subject, classify_bounce};
use segscope_core::time::Secs;
use serde_json::{Map, Value as Json};

use crate::ndjson::{LineProblem, NdjsonImport, NdjsonItem, NdjsonPayload};
use crate::{InputLimits, ProblemSeverity, format_size};

/// The providers whose native payloads are understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    AmazonSes,
    SendGrid,
    Mailgun,
    Postmark,
}

impl Provider {
    pub const ALL: [Provider; 4] = [Provider::AmazonSes, Provider::SendGrid, Provider::Mailgun, Provider::Postmark];

    /// The name in URLs and on the command line.
    pub fn key(self) -> &'static str {
        match self {
            Provider::AmazonSes => "ses",
            Provider::SendGrid => "sendgrid",
            Provider::Mailgun => "mailgun",
            Provider::Postmark => "postmark",
        }
    }

    pub fn parse(raw: &str) -> Option<Provider> {
        match raw.trim().to_ascii_lowercase().replace(['-', '_', ' '], "").as_str() {
            "ses" | "amazonses" | "sns" => Some(Provider::AmazonSes),
            "sendgrid" => Some(Provider::SendGrid),
            "mailgun" => Some(Provider::Mailgun),
            "postmark" => Some(Provider::Postmark),
            _ => None,
        }
    }

    /// Guesses the provider of a JSON body by its shape (for imports of
    /// saved payloads whose provider was not given).
    pub fn detect(body: &Json) -> Option<Provider> {
        match body {
            Json::Array(items) => match items.first()? {
                Json::Object(first) if first.contains_key("sg_event_id") || first.contains_key("sg_message_id") => {
                    Some(Provider::SendGrid)
                }
                Json::Object(first) if first.contains_key("event") && first.contains_key("email") => Some(Provider::SendGrid),
                _ => None,
            },
            Json::Object(object) => {
                if object.contains_key("TopicArn")
                    || object.contains_key("notificationType")
                    || (object.contains_key("eventType") && object.contains_key("mail"))
                {
                    Some(Provider::AmazonSes)
                } else if object.contains_key("event-data") || (object.contains_key("event") && object.contains_key("recipient"))
                {
                    Some(Provider::Mailgun)
                } else if object.contains_key("RecordType") {
                    Some(Provider::Postmark)
                } else {
                    None
                }
            }
            _ => None,
        }
    }
}

/// What an ESP event means for segscope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookAction {
    /// Recorded as this email event.
    Record(EmailKind),
    /// A temporary failure the ESP keeps retrying: not recorded (see the module docs).
    Deferred,
    /// The ESP did not send the message (rendering failure, API error): nothing
    /// is known about the recipient. Not recorded.
    NotSent,
    /// Known, but says nothing segscope tracks (inbound mail, a resubscribe
    /// that implies no consent, an auto-responder). Not recorded.
    Ignored,
}

impl WebhookAction {
    /// The stable key of the action: the email event's key when recorded,
    /// else `deferred`, `not_sent` or `ignored`.
    pub fn key(self) -> &'static str {
        match self {
            WebhookAction::Record(kind) => kind.key(),
            WebhookAction::Deferred => "deferred",
            WebhookAction::NotSent => "not_sent",
            WebhookAction::Ignored => "ignored",
        }
    }

    pub fn email_kind(self) -> Option<EmailKind> {
        match self {
            WebhookAction::Record(kind) => Some(kind),
            _ => None,
        }
    }
}

/// One event of a webhook body, for one recipient.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    pub provider: Provider,
    /// 1-based position in the body (SendGrid batches); 1 for single-event bodies.
    pub item: usize,
    /// The provider's own name, with its sub-type (`Bounce/Permanent/General`).
    pub provider_event: String,
    pub recipient: String,
    pub at: Secs,
    pub action: WebhookAction,
    /// The provider's message id, when given.
    pub message_id: Option<String>,
    /// The provider's tag or category, used as the campaign.
    pub campaign: Option<String>,
    /// SMTP status and diagnostic for bounces.
    pub diagnostic: Option<String>,
}

impl WebhookEvent {
    /// The core event, when the action records one.
    pub fn to_event_input(&self) -> Option<EventInput> {
        let kind = self.action.email_kind()?;
        Some(EventInput {
            subject: Subject::Email(self.recipient.clone()),
            at: self.at,
            body: EventBody::Email(EmailEvent { kind, campaign: self.campaign.clone() }),
        })
    }
}

/// A problem with one item of a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemProblem {
    /// 1-based position in the body.
    pub item: usize,
    pub severity: ProblemSeverity,
    pub message: String,
}

impl std::fmt::Display for ItemProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "item {}: {}", self.item, self.message)
    }
}

/// The SNS envelope around an SES notification, or an SNS control message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnsEnvelope {
    /// `Notification`, `SubscriptionConfirmation` or `UnsubscribeConfirmation`.
    pub kind: String,
    pub message_id: String,
    pub topic_arn: String,
    pub message: String,
    pub subject: Option<String>,
    pub timestamp: String,
    pub token: Option<String>,
    pub subscribe_url: Option<String>,
    pub signature_version: Option<String>,
    pub signature: Option<String>,
    pub signing_cert_url: Option<String>,
}

impl SnsEnvelope {
    /// A subscription to confirm: the server fetches `subscribe_url` (after
    /// checking the signature) to start receiving notifications.
    pub fn is_subscription_confirmation(&self) -> bool {
        self.kind == "SubscriptionConfirmation"
    }
}

/// A parsed webhook body.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookBatch {
    pub provider: Provider,
    pub events: Vec<WebhookEvent>,
    pub problems: Vec<ItemProblem>,
    /// The SNS envelope, for SES bodies that came through SNS.
    pub sns: Option<SnsEnvelope>,
    /// Items in the body.
    pub n_items: usize,
}

/// Why a webhook body could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the body is {}, more than the limit of {}", format_size(*size), format_size(*limit))]
    TooLarge { size: u64, limit: u64 },
    #[error("the body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("the body is not a {provider} webhook: {reason}")]
    WrongShape { provider: &'static str, reason: String },
}

/// How webhook bodies are read.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebhookOptions {
    pub limits: InputLimits,
    /// When the body was received: the time of events whose payload has
    /// none (Mailgun's legacy form). Without it such events are rejected.
    pub received_at: Option<Secs>,
}

/// Parses one webhook body of `provider`.
pub fn parse_webhook(provider: Provider, body: &[u8], options: &WebhookOptions) -> Result<WebhookBatch, WebhookError> {
    let limit = options.limits.max_line_bytes.max(options.limits.max_field_bytes) as u64;
    if body.len() as u64 > limit {
        return Err(WebhookError::TooLarge { size: body.len() as u64, limit });
    }
    let json: Json = serde_json::from_slice(body).map_err(|err| WebhookError::InvalidJson(err.to_string()))?;
    parse_webhook_json(provider, &json, options)
}

/// Parses an already-decoded webhook body of `provider`.
pub fn parse_webhook_json(provider: Provider, json: &Json, options: &WebhookOptions) -> Result<WebhookBatch, WebhookError> {
    let mut batch = WebhookBatch { provider, events: Vec::new(), problems: Vec::new(), sns: None, n_items: 0 };
    let wrong = |reason: &str| WebhookError::WrongShape { provider: provider.key(), reason: reason.to_owned() };
    match provider {
        Provider::AmazonSes => {
            let Json::Object(object) = json else {
                return Err(wrong("expected a JSON object (an SNS envelope or an SES event)"));
            };
            batch.n_items = 1;
            if object.contains_key("Type") && object.contains_key("TopicArn") {
                let envelope = sns_envelope(object).map_err(|reason| wrong(&reason))?;
                if envelope.kind == "Notification" {
                    match serde_json::from_str::<Json>(&envelope.message) {
                        Ok(Json::Object(inner)) => collect(&mut batch, 1, ses_events(&inner, options)),
                        // SES sends a plain-text notice when a topic is first set up.
                        _ => push_problem(
                            &mut batch,
                            1,
                            ProblemSeverity::Repaired,
                            format!("SNS notification without an SES event ({}): nothing to record", preview(&envelope.message)),
                        ),
                    }
                } else if !matches!(envelope.kind.as_str(), "SubscriptionConfirmation" | "UnsubscribeConfirmation") {
                    push_problem(
                        &mut batch,
                        1,
                        ProblemSeverity::Rejected,
                        format!("unknown SNS message type `{}`", envelope.kind),
                    );
                }
                batch.sns = Some(envelope);
            } else if object.contains_key("notificationType") || object.contains_key("eventType") {
                collect(&mut batch, 1, ses_events(object, options));
            } else {
                return Err(wrong("no SNS `Type`/`TopicArn`, `notificationType` or `eventType`"));
            }
        }
        Provider::SendGrid => {
            let Json::Array(items) = json else { return Err(wrong("expected a JSON array of events")) };
            batch.n_items = items.len();
            for (index, item) in items.iter().enumerate() {
                let result = match item {
                    Json::Object(object) => sendgrid_event(object, options),
                    _ => Err("an event must be a JSON object".to_owned()),
                };
                collect(&mut batch, index + 1, result.map(|e| vec![e]));
            }
        }
        Provider::Mailgun => {
            let Json::Object(object) = json else { return Err(wrong("expected a JSON object with `event-data`")) };
            batch.n_items = 1;
            let result = match object.get("event-data") {
                Some(Json::Object(data)) => mailgun_event(data, options),
                Some(_) => Err("`event-data` must be an object".to_owned()),
                None if object.contains_key("event") => mailgun_legacy_event(object, options),
                None => return Err(wrong("no `event-data` object (and no legacy `event` field)")),
            };
            collect(&mut batch, 1, result.map(|e| vec![e]));
        }
        Provider::Postmark => {
            let Json::Object(object) = json else { return Err(wrong("expected a JSON object with `RecordType`")) };
            if !object.contains_key("RecordType") {
                return Err(wrong("no `RecordType`"));
            }
            batch.n_items = 1;
            collect(&mut batch, 1, postmark_event(object, options).map(|e| vec![e]));
        }
    }
    for event in &mut batch.events {
        event.provider = provider;
    }
    Ok(batch)
}

/// A file of saved webhook bodies, one JSON body per line (as a server log
/// or a replay tool writes them).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookDumpImport {
    /// Events with the line of their body.
    pub events: Vec<(usize, WebhookEvent)>,
    pub problems: Vec<LineProblem>,
    pub n_lines: usize,
}

impl WebhookDumpImport {
    /// The recorded events as an event import for [`crate::apply_ndjson_import`].
    pub fn into_event_import(self) -> NdjsonImport {
        NdjsonImport {
            items: self
                .events
                .iter()
                .filter_map(|(line, event)| {
                    event.to_event_input().map(|input| NdjsonItem { line: *line, payload: NdjsonPayload::Event(input) })
                })
                .collect(),
            problems: self.problems,
            omitted: crate::OmittedProblems::default(),
            n_lines: self.n_lines,
        }
    }
}

/// Parses saved bodies, one per line; `provider` `None` detects each line's.
pub fn parse_webhook_dump(provider: Option<Provider>, bytes: &[u8], options: &WebhookOptions) -> WebhookDumpImport {
    let mut import = WebhookDumpImport { events: Vec::new(), problems: Vec::new(), n_lines: 0 };
    for (index, raw_line) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = index + 1;
        if raw_line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        import.n_lines += 1;
        let reject = |message: String| LineProblem { line, severity: ProblemSeverity::Rejected, message };
        let json: Json = match serde_json::from_slice(raw_line) {
            Ok(json) => json,
            Err(err) => {
                import.problems.push(reject(format!("invalid JSON: {err}")));
                continue;
            }
        };
        let Some(provider) = provider.or_else(|| Provider::detect(&json)) else {
            import.problems.push(reject("not a webhook body of SES, SendGrid, Mailgun or Postmark".to_owned()));
            continue;
        };
        match parse_webhook_json(provider, &json, options) {
            Ok(batch) => {
                import.problems.extend(batch.problems.into_iter().map(|p| LineProblem {
                    line,
                    severity: p.severity,
                    message: format!("item {}: {}", p.item, p.message),
                }));
                import.events.extend(batch.events.into_iter().map(|event| (line, event)));
            }
            Err(err) => import.problems.push(reject(err.to_string())),
        }
    }
    import
}

fn preview(text: &str) -> String {
    let short: String = text.chars().take(60).collect();
    if short.len() < text.len() { format!("`{short}…`") } else { format!("`{short}`") }
}

fn push_problem(batch: &mut WebhookBatch, item: usize, severity: ProblemSeverity, message: String) {
    batch.problems.push(ItemProblem { item, severity, message });
}

fn collect(batch: &mut WebhookBatch, item: usize, result: Result<Vec<WebhookEvent>, String>) {
    match result {
        Ok(events) => batch.events.extend(events.into_iter().map(|mut event| {
            event.item = item;
            event
        })),
        Err(message) => push_problem(batch, item, ProblemSeverity::Rejected, message),
    }
}

// ---- JSON helpers ----

fn text<'a>(object: &'a Map<String, Json>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Json::as_str).map(str::trim).filter(|s| !s.is_empty())
}

fn object_at<'a>(object: &'a Map<String, Json>, key: &str) -> Option<&'a Map<String, Json>> {
    object.get(key).and_then(Json::as_object)
}

/// A time as the providers write it: RFC 3339 (with or without fraction),
/// epoch seconds as a number or string (float allowed).
fn parse_time(value: &Json) -> Option<Secs> {
    match value {
        Json::Number(number) => number
            .as_f64()
            .filter(|n| n.is_finite() && *n >= 0.0)
            .map(|n| if n >= crate::ndjson::MILLISECONDS_FROM { (n / 1000.0).floor() as Secs } else { n.floor() as Secs }),
        Json::String(text) => {
            let text = text.trim();
            if let Ok(number) = text.parse::<f64>() {
                return parse_time(&Json::from(number));
            }
            segscope_core::time::parse_instant(text).ok().or_else(|| {
                // Postmark writes seven fractional digits with an offset, which RFC 3339 parsers accept;
                // this is the fallback for `2014-08-01T13:28:10.2735393-04:00`-like oddities.
                text.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
            })
        }
        _ => None,
    }
}

fn time_of(object: &Map<String, Json>, keys: &[&str], options: &WebhookOptions) -> Result<Secs, String> {
    for key in keys {
        if let Some(value) = object.get(*key).filter(|v| !v.is_null()) {
            return parse_time(value).ok_or_else(|| format!("`{key}` is not a time: {value}"));
        }
    }
    options.received_at.ok_or_else(|| format!("no time (`{}`) and no receive time was given", keys.join("`, `")))
}

fn recipient(object: &Map<String, Json>, keys: &[&str]) -> Result<String, String> {
    keys.iter()
        .find_map(|key| text(object, key))
        .map(bare_address)
        .ok_or_else(|| format!("no recipient (`{}`)", keys.join("`, `")))
}

/// `Name <a@b>` → `a@b`.
fn bare_address(raw: &str) -> String {
    match (raw.rfind('<'), raw.rfind('>')) {
        (Some(start), Some(end)) if start < end => raw[start + 1..end].trim().to_owned(),
        _ => raw.trim().to_owned(),
    }
}

#[allow(clippy::too_many_arguments)]
fn event(
    provider: Provider,
    provider_event: String,
    recipient: String,
    at: Secs,
    action: WebhookAction,
    message_id: Option<&str>,
    campaign: Option<String>,
    diagnostic: Option<String>,
) -> WebhookEvent {
    WebhookEvent {
        provider,
        item: 1,
        provider_event,
        recipient,
        at,
        action,
        message_id: message_id.map(str::to_owned),
        campaign,
        diagnostic,
    }
}

fn bounce(class: BounceClass) -> WebhookAction {
    WebhookAction::Record(EmailKind::Bounced(class))
}

/// A permanent failure whose text does not say why is a hard bounce; a
/// block stays a block.
fn permanent(diagnostic: &str) -> BounceClass {
    match classify_bounce(diagnostic) {
        BounceClass::Block => BounceClass::Block,
        _ => BounceClass::Hard,
    }
}

/// A temporary failure whose text does not say why is soft; a block stays a block.
fn transient(diagnostic: &str) -> BounceClass {
    match classify_bounce(diagnostic) {
        BounceClass::Block => BounceClass::Block,
        _ => BounceClass::Soft,
    }
}

// ---- Amazon SES ----

fn sns_envelope(object: &Map<String, Json>) -> Result<SnsEnvelope, String> {
    let required = |key: &str| text(object, key).map(str::to_owned).ok_or_else(|| format!("the SNS envelope has no `{key}`"));
    let optional = |key: &str| object.get(key).and_then(Json::as_str).map(str::to_owned);
    Ok(SnsEnvelope {
        kind: required("Type")?,
        message_id: required("MessageId")?,
        topic_arn: required("TopicArn")?,
        message: object.get("Message").and_then(Json::as_str).ok_or("the SNS envelope has no `Message`")?.to_owned(),
        subject: optional("Subject"),
        timestamp: optional("Timestamp").unwrap_or_default(),
        token: optional("Token"),
        subscribe_url: optional("SubscribeURL"),
        signature_version: optional("SignatureVersion"),
        signature: optional("Signature"),
        signing_cert_url: optional("SigningCertURL"),
    })
}

fn ses_tag(mail: Option<&Map<String, Json>>, name: &str) -> Option<String> {
    mail?.get("tags")?.get(name)?.as_array()?.first()?.as_str().map(str::to_owned)
}

/// One SES notification or published event → one event per recipient.
fn ses_events(object: &Map<String, Json>, options: &WebhookOptions) -> Result<Vec<WebhookEvent>, String> {
    let kind = text(object, "notificationType").or_else(|| text(object, "eventType")).unwrap_or_default().to_owned();
    let mail = object_at(object, "mail");
    let message_id = mail.and_then(|m| text(m, "messageId"));
    let campaign = ses_tag(mail, "campaign");
    let mail_time = mail.and_then(|m| m.get("timestamp")).and_then(parse_time);
    let destination: Vec<String> = mail
        .and_then(|m| m.get("destination"))
        .and_then(Json::as_array)
        .map(|list| list.iter().filter_map(Json::as_str).map(bare_address).collect())
        .unwrap_or_default();
    let section_time = |section: Option<&Map<String, Json>>| -> Result<Secs, String> {
        section
            .and_then(|s| s.get("timestamp"))
            .and_then(parse_time)
            .or(mail_time)
            .or(options.received_at)
            .ok_or_else(|| format!("the SES `{kind}` event has no timestamp and no receive time was given"))
    };
    let listed = |section: Option<&Map<String, Json>>, key: &str| -> Vec<Map<String, Json>> {
        section
            .and_then(|s| s.get(key))
            .and_then(Json::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|item| match item {
                        Json::Object(o) => Some(o.clone()),
                        Json::String(address) => {
                            let mut o = Map::new();
                            o.insert("emailAddress".to_owned(), Json::from(address.as_str()));
                            Some(o)
                        }
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let to_all = |action: WebhookAction,
                  name: String,
                  at: Secs,
                  diagnostic: Option<String>|
     -> Result<Vec<WebhookEvent>, String> {
        if destination.is_empty() {
            return Err(format!("the SES `{name}` event has no `mail.destination`"));
        }
        Ok(destination
            .iter()
            .map(|to| {
                event(Provider::AmazonSes, name.clone(), to.clone(), at, action, message_id, campaign.clone(), diagnostic.clone())
            })
            .collect())
    };
    match kind.as_str() {
        "Bounce" => {
            let section = object_at(object, "bounce");
            let at = section_time(section)?;
            let bounce_type = section.and_then(|s| text(s, "bounceType")).unwrap_or("Undetermined");
            let sub_type = section.and_then(|s| text(s, "bounceSubType")).unwrap_or("General");
            let name = format!("Bounce/{bounce_type}/{sub_type}");
            let recipients = listed(section, "bouncedRecipients");
            if recipients.is_empty() {
                return Err("the SES bounce has no `bounce.bouncedRecipients`".to_owned());
            }
            recipients
                .iter()
                .map(|r| {
                    let address = recipient(r, &["emailAddress"])?;
                    let diagnostic =
                        [text(r, "status"), text(r, "diagnosticCode")].into_iter().flatten().collect::<Vec<_>>().join(" ");
                    let action = match (bounce_type, sub_type) {
                        (_, "UnsubscribedRecipient") => WebhookAction::Record(EmailKind::Unsubscribed),
                        (_, "ContentRejected" | "AttachmentRejected") => bounce(BounceClass::Block),
                        ("Permanent", _) => bounce(permanent(&diagnostic)),
                        ("Transient", _) => bounce(transient(&diagnostic)),
                        _ => bounce(classify_bounce(&diagnostic)),
                    };
                    let diagnostic = (!diagnostic.is_empty()).then_some(diagnostic);
                    Ok(event(Provider::AmazonSes, name.clone(), address, at, action, message_id, campaign.clone(), diagnostic))
                })
                .collect()
        }
        "Complaint" => {
            let section = object_at(object, "complaint");
            let at = section_time(section)?;
            let feedback = section.and_then(|s| text(s, "complaintFeedbackType")).unwrap_or("abuse");
            let recipients = listed(section, "complainedRecipients");
            if recipients.is_empty() {
                return Err("the SES complaint has no `complaint.complainedRecipients`".to_owned());
            }
            // `not-spam` feedback is a report that the message was *not* spam.
            let action =
                if feedback == "not-spam" { WebhookAction::Ignored } else { WebhookAction::Record(EmailKind::Complained) };
            recipients
                .iter()
                .map(|r| {
                    Ok(event(
                        Provider::AmazonSes,
                        format!("Complaint/{feedback}"),
                        recipient(r, &["emailAddress"])?,
                        at,
                        action,
                        message_id,
                        campaign.clone(),
                        None,
                    ))
                })
                .collect()
        }
        "Delivery" => {
            let section = object_at(object, "delivery");
            let at = section_time(section)?;
            let recipients: Vec<String> = section
                .and_then(|s| s.get("recipients"))
                .and_then(Json::as_array)
                .map(|list| list.iter().filter_map(Json::as_str).map(bare_address).collect())
                .filter(|list: &Vec<String>| !list.is_empty())
                .unwrap_or_else(|| destination.clone());
            if recipients.is_empty() {
                return Err("the SES delivery has no recipients".to_owned());
            }
            let diagnostic = section.and_then(|s| text(s, "smtpResponse")).map(str::to_owned);
            Ok(recipients
                .into_iter()
                .map(|to| {
                    let action = WebhookAction::Record(EmailKind::Delivered);
                    event(Provider::AmazonSes, kind.clone(), to, at, action, message_id, campaign.clone(), diagnostic.clone())
                })
                .collect())
        }
        "DeliveryDelay" => {
            let section = object_at(object, "deliveryDelay");
            let at = section_time(section)?;
            let delay_type = section.and_then(|s| text(s, "delayType")).unwrap_or("Undetermined");
            let recipients = listed(section, "delayedRecipients");
            if recipients.is_empty() {
                return to_all(WebhookAction::Deferred, format!("DeliveryDelay/{delay_type}"), at, None);
            }
            recipients
                .iter()
                .map(|r| {
                    let diagnostic =
                        [text(r, "status"), text(r, "diagnosticCode")].into_iter().flatten().collect::<Vec<_>>().join(" ");
                    Ok(event(
                        Provider::AmazonSes,
                        format!("DeliveryDelay/{delay_type}"),
                        recipient(r, &["emailAddress"])?,
                        at,
                        WebhookAction::Deferred,
                        message_id,
                        campaign.clone(),
                        (!diagnostic.is_empty()).then_some(diagnostic),
                    ))
                })
                .collect()
        }
        "Send" => to_all(WebhookAction::Record(EmailKind::Sent), kind.clone(), section_time(object_at(object, "send"))?, None),
        "Open" => to_all(WebhookAction::Record(EmailKind::Opened), kind.clone(), section_time(object_at(object, "open"))?, None),
        "Click" => {
            to_all(WebhookAction::Record(EmailKind::Clicked), kind.clone(), section_time(object_at(object, "click"))?, None)
        }
        "Reject" => {
            // SES refused the message itself (a virus): the sender's fault.
            let reason = object_at(object, "reject").and_then(|s| text(s, "reason")).map(str::to_owned);
            to_all(bounce(BounceClass::Block), kind.clone(), section_time(None)?, reason)
        }
        "Rendering Failure" => to_all(WebhookAction::NotSent, kind.clone(), section_time(None)?, None),
        "Subscription" => {
            let section = object_at(object, "subscription");
            let unsubscribe_all = section
                .and_then(|s| object_at(s, "newTopicPreferences"))
                .and_then(|p| p.get("unsubscribeAll"))
                .and_then(Json::as_bool)
                .unwrap_or(false);
            let action = if unsubscribe_all { WebhookAction::Record(EmailKind::Unsubscribed) } else { WebhookAction::Ignored };
            let name = if unsubscribe_all { "Subscription/unsubscribeAll" } else { "Subscription/topics" };
            let at = section_time(section)?;
            let contact = section.and_then(|s| text(s, "contactList")).map(str::to_owned);
            to_all(action, name.to_owned(), at, contact)
        }
        // Inbound mail (SES receiving): not an event about a contact's mail.
        "Received" => {
            let at = section_time(object_at(object, "receipt"))?;
            to_all(WebhookAction::Ignored, kind.clone(), at, None)
        }
        "" => Err("the SES event has neither `notificationType` nor `eventType`".to_owned()),
        other => Err(format!(
            "unknown SES event type `{other}`: known are Bounce, Complaint, Delivery, DeliveryDelay, Send, Open, Click, Reject, Rendering Failure, Subscription, Received"
        )),
    }
}

// ---- SendGrid ----

fn sendgrid_event(object: &Map<String, Json>, options: &WebhookOptions) -> Result<WebhookEvent, String> {
    let name = text(object, "event").ok_or("the SendGrid event has no `event`")?.to_owned();
    let address = recipient(object, &["email"])?;
    let at = time_of(object, &["timestamp"], options)?;
    let message_id = text(object, "sg_message_id").or_else(|| text(object, "smtp-id"));
    let campaign = match object.get("category") {
        Some(Json::String(category)) => Some(category.clone()),
        Some(Json::Array(list)) => list.first().and_then(Json::as_str).map(str::to_owned),
        _ => None,
    }
    .or_else(|| text(object, "marketing_campaign_name").map(str::to_owned));
    let reason = [text(object, "status"), text(object, "reason"), text(object, "response")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let diagnostic = (!reason.is_empty()).then(|| reason.clone());
    let mut provider_event = name.clone();
    let action = match name.as_str() {
        "processed" => WebhookAction::Record(EmailKind::Sent),
        "delivered" => WebhookAction::Record(EmailKind::Delivered),
        "open" => WebhookAction::Record(EmailKind::Opened),
        "click" => WebhookAction::Record(EmailKind::Clicked),
        "spamreport" => WebhookAction::Record(EmailKind::Complained),
        "unsubscribe" => WebhookAction::Record(EmailKind::Unsubscribed),
        // One suppression group only: the address may still get other mail.
        "group_unsubscribe" | "group_resubscribe" => WebhookAction::Ignored,
        "deferred" => WebhookAction::Deferred,
        "bounce" => {
            let bounce_type = text(object, "type").unwrap_or("bounce");
            provider_event = format!("bounce/{bounce_type}");
            match bounce_type {
                // SendGrid's "blocked" is a refusal it classes as a soft bounce.
                "blocked" => bounce(transient(&reason)),
                _ => bounce(permanent(&reason)),
            }
        }
        "dropped" => {
            // SendGrid did not send; the reason says why (often an earlier event).
            let lowered = reason.to_ascii_lowercase();
            provider_event = format!("dropped/{}", text(object, "reason").unwrap_or(""));
            if lowered.contains("unsubscribe") {
                WebhookAction::Record(EmailKind::Unsubscribed)
            } else if lowered.contains("spam reporting") || lowered.contains("spam report") {
                WebhookAction::Record(EmailKind::Complained)
            } else if lowered.contains("bounced address") || lowered.contains("invalid") {
                bounce(BounceClass::Hard)
            } else if lowered.contains("spam content") || lowered.contains("content") {
                bounce(BounceClass::Block)
            } else {
                WebhookAction::NotSent
            }
        }
        other => {
            return Err(format!(
                "unknown SendGrid event `{other}`: known are processed, delivered, open, click, bounce, dropped, deferred, spamreport, unsubscribe, group_unsubscribe, group_resubscribe"
            ));
        }
    };
    Ok(event(Provider::SendGrid, provider_event, address, at, action, message_id, campaign, diagnostic))
}

// ---- Mailgun ----

fn mailgun_event(data: &Map<String, Json>, options: &WebhookOptions) -> Result<WebhookEvent, String> {
    let name = text(data, "event").ok_or("the Mailgun event has no `event`")?.to_owned();
    let address = recipient(data, &["recipient"]).or_else(|_| {
        data.get("message")
            .and_then(|m| m.get("headers"))
            .and_then(|h| h.get("to"))
            .and_then(Json::as_str)
            .map(bare_address)
            .ok_or_else(|| "no recipient (`recipient`)".to_owned())
    })?;
    let at = time_of(data, &["timestamp"], options)?;
    let message_id = data.get("message").and_then(|m| m.get("headers")).and_then(|h| h.get("message-id")).and_then(Json::as_str);
    let campaign =
        data.get("tags").and_then(Json::as_array).and_then(|tags| tags.first()).and_then(Json::as_str).map(str::to_owned);
    let status = object_at(data, "delivery-status");
    let diagnostic = status
        .map(|s| {
            let code = s.get("code").map(|c| c.to_string().trim_matches('"').to_owned()).unwrap_or_default();
            let message = text(s, "message").unwrap_or("");
            let description = text(s, "description").unwrap_or("");
            format!("{code} {message} {description}").trim().to_owned()
        })
        .filter(|d| !d.is_empty());
    let severity = text(data, "severity").unwrap_or("");
    let reason = text(data, "reason").unwrap_or("");
    let mut provider_event = name.clone();
    let action = match name.as_str() {
        "accepted" => WebhookAction::Record(EmailKind::Sent),
        "delivered" => WebhookAction::Record(EmailKind::Delivered),
        "opened" => WebhookAction::Record(EmailKind::Opened),
        "clicked" => WebhookAction::Record(EmailKind::Clicked),
        "complained" => WebhookAction::Record(EmailKind::Complained),
        "unsubscribed" => WebhookAction::Record(EmailKind::Unsubscribed),
        "rejected" => WebhookAction::NotSent,
        "stored" | "list_member_uploaded" | "list_member_upload_error" | "list_uploaded" => WebhookAction::Ignored,
        "failed" => {
            provider_event = format!("failed/{severity}/{reason}");
            let text = diagnostic.clone().unwrap_or_default();
            match (severity, reason) {
                (_, "suppress-unsubscribe") => WebhookAction::Record(EmailKind::Unsubscribed),
                (_, "suppress-complaint") => WebhookAction::Record(EmailKind::Complained),
                ("temporary", _) => WebhookAction::Deferred,
                // Mailgun refused to relay: a policy on the sender's side.
                (_, "espblock") => bounce(BounceClass::Block),
                _ => bounce(permanent(&text)),
            }
        }
        other => {
            return Err(format!(
                "unknown Mailgun event `{other}`: known are accepted, delivered, opened, clicked, failed, rejected, complained, unsubscribed, stored"
            ));
        }
    };
    Ok(event(Provider::Mailgun, provider_event, address, at, action, message_id, campaign, diagnostic))
}

/// Mailgun's legacy (pre-2018) webhooks post flat forms; converted to JSON
/// they are `{event, recipient, code, error, …}`.
fn mailgun_legacy_event(object: &Map<String, Json>, options: &WebhookOptions) -> Result<WebhookEvent, String> {
    let name = text(object, "event").ok_or("the Mailgun event has no `event`")?.to_owned();
    let address = recipient(object, &["recipient"])?;
    if !address.contains('@') {
        return Err(format!("`recipient` `{address}` is not an email address"));
    }
    let at = time_of(object, &["timestamp"], options)?;
    let code = object.get("code").map(|c| c.to_string().trim_matches('"').to_owned()).unwrap_or_default();
    let detail = [text(object, "error"), text(object, "description"), text(object, "notification")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let diagnostic = format!("{code} {detail}").trim().to_owned();
    let reason = text(object, "reason").unwrap_or("");
    let action = match name.as_str() {
        "delivered" => WebhookAction::Record(EmailKind::Delivered),
        "opened" => WebhookAction::Record(EmailKind::Opened),
        "clicked" => WebhookAction::Record(EmailKind::Clicked),
        "complained" => WebhookAction::Record(EmailKind::Complained),
        "unsubscribed" => WebhookAction::Record(EmailKind::Unsubscribed),
        "bounced" => bounce(permanent(&diagnostic)),
        "dropped" => {
            // Codes of Mailgun's legacy docs: 605 earlier bounce, 607 earlier
            // complaint, 499 old (gave up after retries).
            let lowered = diagnostic.to_ascii_lowercase();
            if code == "607" || lowered.contains("spam") {
                WebhookAction::Record(EmailKind::Complained)
            } else if code == "605" || lowered.contains("bounce") {
                bounce(BounceClass::Hard)
            } else if code == "606" || lowered.contains("unsubscribe") {
                WebhookAction::Record(EmailKind::Unsubscribed)
            } else if reason == "old" {
                bounce(BounceClass::Soft)
            } else {
                bounce(permanent(&diagnostic))
            }
        }
        other => return Err(format!("unknown Mailgun legacy event `{other}`")),
    };
    let diagnostic = (!diagnostic.is_empty()).then_some(diagnostic);
    Ok(event(Provider::Mailgun, format!("legacy/{name}"), address, at, action, None, None, diagnostic))
}

// ---- Postmark ----

fn postmark_event(object: &Map<String, Json>, options: &WebhookOptions) -> Result<WebhookEvent, String> {
    let record_type = text(object, "RecordType").unwrap_or_default().to_owned();
    let message_id = text(object, "MessageID");
    let campaign = text(object, "Tag").map(str::to_owned);
    let details = [text(object, "Details"), text(object, "Description")].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let diagnostic = (!details.is_empty()).then(|| details.clone());
    let (provider_event, address, at, action) = match record_type.as_str() {
        "Bounce" => {
            let bounce_type = text(object, "Type").unwrap_or("Unknown");
            let action = match bounce_type {
                "HardBounce" | "BadEmailAddress" => bounce(BounceClass::Hard),
                "SoftBounce" | "DnsError" => bounce(transient(&details)),
                "Transient" => WebhookAction::Deferred,
                "Blocked" | "DMARCPolicy" | "VirusNotification" => bounce(BounceClass::Block),
                "SpamNotification" | "SpamComplaint" => WebhookAction::Record(EmailKind::Complained),
                "Unsubscribe" => WebhookAction::Record(EmailKind::Unsubscribed),
                "SMTPApiError" | "TemplateRenderingFailed" => WebhookAction::NotSent,
                "Subscribe"
                | "AutoResponder"
                | "AddressChange"
                | "OpenRelayTest"
                | "ChallengeVerification"
                | "ManuallyDeactivated"
                | "Unconfirmed"
                | "InboundError" => WebhookAction::Ignored,
                "Unknown" => bounce(classify_bounce(&details)),
                other => return Err(format!("unknown Postmark bounce type `{other}`")),
            };
            (
                format!("Bounce/{bounce_type}"),
                recipient(object, &["Email", "Recipient"]),
                time_of(object, &["BouncedAt"], options),
                action,
            )
        }
        "SpamComplaint" => (
            record_type.clone(),
            recipient(object, &["Email", "Recipient"]),
            time_of(object, &["BouncedAt", "ReceivedAt"], options),
            WebhookAction::Record(EmailKind::Complained),
        ),
        "Delivery" => (
            record_type.clone(),
            recipient(object, &["Recipient", "Email"]),
            time_of(object, &["DeliveredAt"], options),
            WebhookAction::Record(EmailKind::Delivered),
        ),
        "Open" => (
            record_type.clone(),
            recipient(object, &["Recipient", "Email"]),
            time_of(object, &["ReceivedAt"], options),
            WebhookAction::Record(EmailKind::Opened),
        ),
        "Click" => (
            record_type.clone(),
            recipient(object, &["Recipient", "Email"]),
            time_of(object, &["ReceivedAt"], options),
            WebhookAction::Record(EmailKind::Clicked),
        ),
        "SubscriptionChange" => {
            let suppress = object.get("SuppressSending").and_then(Json::as_bool).unwrap_or(false);
            let reason = text(object, "SuppressionReason").unwrap_or("");
            let action = match (suppress, reason) {
                // Reactivation lifts a suppression; it is not a consent.
                (false, _) => WebhookAction::Ignored,
                (true, "HardBounce") => bounce(BounceClass::Hard),
                (true, "SpamComplaint") => WebhookAction::Record(EmailKind::Complained),
                (true, _) => WebhookAction::Record(EmailKind::Unsubscribed),
            };
            let name = if suppress {
                format!("SubscriptionChange/suppress/{reason}")
            } else {
                "SubscriptionChange/reactivate".to_owned()
            };
            (name, recipient(object, &["Recipient", "Email"]), time_of(object, &["ChangedAt"], options), action)
        }
        other => {
            return Err(format!(
                "unknown Postmark RecordType `{other}`: known are Bounce, SpamComplaint, Delivery, Open, Click, SubscriptionChange"
            ));
        }
    };
    Ok(event(Provider::Postmark, provider_event, address?, at?, action, message_id, campaign, diagnostic))
}

// ---- Signatures ----

/// Why a signature check failed. The server answers all of them with 401/403
/// and never echoes the details to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signing key is unusable: {0}")]
    BadKey(String),
    #[error("the signature is malformed: {0}")]
    Malformed(String),
    #[error("the signature does not match the body")]
    Mismatch,
    #[error("the signing certificate URL is not an Amazon SNS one: {0}")]
    UntrustedCertificateUrl(String),
    #[error("the SNS message cannot be verified: {0}")]
    Unsupported(String),
}

fn base64_decode(raw: &str, what: &str) -> Result<Vec<u8>, SignatureError> {
    base64::engine::general_purpose::STANDARD
        .decode(raw.trim())
        .map_err(|err| SignatureError::Malformed(format!("{what} is not base64: {err}")))
}

/// SendGrid's signed event webhook: an ECDSA P-256 / SHA-256 signature
/// (base64 of ASN.1 DER, header `X-Twilio-Email-Event-Webhook-Signature`)
/// over the timestamp header (`X-Twilio-Email-Event-Webhook-Timestamp`)
/// followed by the raw body. `public_key` is the verification key SendGrid
/// shows: base64 of the DER SubjectPublicKeyInfo.
pub fn verify_sendgrid_signature(public_key: &str, signature: &str, timestamp: &str, body: &[u8]) -> Result<(), SignatureError> {
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::{Signature, VerifyingKey};
    use p256::pkcs8::DecodePublicKey;
    let key_der = base64_decode(public_key, "the public key")?;
    let key = VerifyingKey::from_public_key_der(&key_der).map_err(|err| SignatureError::BadKey(err.to_string()))?;
    let signature_der = base64_decode(signature, "the signature")?;
    let signature = Signature::from_der(&signature_der).map_err(|err| SignatureError::Malformed(err.to_string()))?;
    let mut signed = Vec::with_capacity(timestamp.len() + body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.extend_from_slice(body);
    key.verify(&signed, &signature).map_err(|_| SignatureError::Mismatch)
}

/// Mailgun's webhook signature: hex HMAC-SHA256, keyed with the HTTP
/// webhook signing key, over `timestamp` followed by `token` (all three are
/// in the body's `signature` object). Compared in constant time. Rejecting
/// old timestamps and reused tokens (replays) is the server's job: it has
/// the clock and the memory.
pub fn verify_mailgun_signature(signing_key: &str, timestamp: &str, token: &str, signature: &str) -> Result<(), SignatureError> {
    use hmac::{Hmac, KeyInit, Mac};
    let expected = hex::decode(signature.trim()).map_err(|err| SignatureError::Malformed(format!("not hex: {err}")))?;
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(signing_key.as_bytes()).map_err(|err| SignatureError::BadKey(err.to_string()))?;
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    mac.verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
}

/// [`verify_mailgun_signature`] on a body's `signature` object.
pub fn verify_mailgun_body(signing_key: &str, body: &Json) -> Result<(), SignatureError> {
    let signature = body
        .get("signature")
        .and_then(Json::as_object)
        .ok_or_else(|| SignatureError::Malformed("the body has no `signature` object".to_owned()))?;
    let field = |key: &str| {
        signature
            .get(key)
            .map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))
            .ok_or_else(|| SignatureError::Malformed(format!("`signature.{key}` is missing")))
    };
    verify_mailgun_signature(signing_key, &field("timestamp")?, &field("token")?, &field("signature")?)
}

/// Checks that an SNS `SigningCertURL` is an HTTPS URL on
/// `sns.<region>.amazonaws.com` ending in `.pem`, so that a forged message
/// cannot point at a certificate of its own. The caller fetches (and
/// caches) the certificate only after this check.
pub fn validate_signing_cert_url(url: &str) -> Result<(), SignatureError> {
    let untrusted = |why: &str| SignatureError::UntrustedCertificateUrl(format!("{url}: {why}"));
    let rest = url.strip_prefix("https://").ok_or_else(|| untrusted("not https"))?;
    let (authority, path) = rest.split_once('/').ok_or_else(|| untrusted("no path"))?;
    if authority.contains(['@', ':']) {
        return Err(untrusted("user info or port in the host"));
    }
    let host = authority.to_ascii_lowercase();
    let region = host
        .strip_prefix("sns.")
        .and_then(|h| h.strip_suffix(".amazonaws.com"))
        .ok_or_else(|| untrusted("the host is not sns.<region>.amazonaws.com"))?;
    let region_ok = !region.is_empty()
        && region.split('-').count() >= 3
        && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !region_ok {
        return Err(untrusted("the region is not like `us-east-1`"));
    }
    if !path.split(['?', '#']).next().unwrap_or("").ends_with(".pem") {
        return Err(untrusted("the path does not name a .pem file"));
    }
    Ok(())
}

/// The string SNS signs: `Key\nvalue\n` for the message type's keys in order.
pub fn sns_string_to_sign(envelope: &SnsEnvelope) -> Result<String, SignatureError> {
    let mut pairs: Vec<(&str, &str)> = vec![("Message", &envelope.message), ("MessageId", &envelope.message_id)];
    match envelope.kind.as_str() {
        "Notification" => {
            if let Some(subject) = &envelope.subject {
                pairs.push(("Subject", subject));
            }
        }
        "SubscriptionConfirmation" | "UnsubscribeConfirmation" => {
            let url = envelope.subscribe_url.as_deref().ok_or_else(|| SignatureError::Malformed("no `SubscribeURL`".into()))?;
            pairs.push(("SubscribeURL", url));
        }
        other => return Err(SignatureError::Unsupported(format!("unknown message type `{other}`"))),
    }
    pairs.push(("Timestamp", &envelope.timestamp));
    if envelope.kind != "Notification" {
        let token = envelope.token.as_deref().ok_or_else(|| SignatureError::Malformed("no `Token`".into()))?;
        pairs.push(("Token", token));
    }
    pairs.push(("TopicArn", &envelope.topic_arn));
    pairs.push(("Type", &envelope.kind));
    Ok(pairs.into_iter().map(|(key, value)| format!("{key}\n{value}\n")).collect())
}

/// Verifies an SNS message signature (SignatureVersion 1: SHA1withRSA, 2:
/// SHA256withRSA) with the signing certificate (PEM) the caller fetched
/// from the validated `SigningCertURL`. Also checks that URL.
pub fn verify_sns_signature(envelope: &SnsEnvelope, signing_cert_pem: &str) -> Result<(), SignatureError> {
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::pkcs8::DecodePublicKey;
    use rsa::signature::Verifier;
    use x509_cert::der::{DecodePem, Encode};

    let url = envelope.signing_cert_url.as_deref().ok_or_else(|| SignatureError::Malformed("no `SigningCertURL`".into()))?;
    validate_signing_cert_url(url)?;
    let signature = base64_decode(
        envelope.signature.as_deref().ok_or_else(|| SignatureError::Malformed("no `Signature`".into()))?,
        "the signature",
    )?;
    let certificate =
        x509_cert::Certificate::from_pem(signing_cert_pem.trim()).map_err(|err| SignatureError::BadKey(err.to_string()))?;
    let spki = certificate
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|err| SignatureError::BadKey(err.to_string()))?;
    let public_key =
        rsa::PublicKey::from_public_key_der(&spki).map_err(|err| SignatureError::BadKey(format!("not an RSA key: {err}")))?;
    let signed = sns_string_to_sign(envelope)?;
    let signature = Signature::try_from(signature.as_slice()).map_err(|err| SignatureError::Malformed(err.to_string()))?;
    match envelope.signature_version.as_deref().unwrap_or("1") {
        "1" => VerifyingKey::<sha1::Sha1>::new(public_key).verify(signed.as_bytes(), &signature),
        "2" => VerifyingKey::<sha2::Sha256>::new(public_key).verify(signed.as_bytes(), &signature),
        other => return Err(SignatureError::Unsupported(format!("SignatureVersion `{other}`"))),
    }
    .map_err(|_| SignatureError::Mismatch)
}

/// The SNS envelope of a body, for signature checks before parsing it.
pub fn sns_envelope_of(body: &[u8]) -> Result<SnsEnvelope, WebhookError> {
    let json: Json = serde_json::from_slice(body).map_err(|err| WebhookError::InvalidJson(err.to_string()))?;
    let object =
        json.as_object().ok_or_else(|| WebhookError::WrongShape { provider: "ses", reason: "not a JSON object".into() })?;
    sns_envelope(object).map_err(|reason| WebhookError::WrongShape { provider: "ses", reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(provider: Provider, body: &str) -> WebhookEvent {
        let batch = parse_webhook(provider, body.as_bytes(), &WebhookOptions::default()).unwrap();
        assert!(batch.problems.is_empty(), "{:?}", batch.problems);
        assert_eq!(batch.events.len(), 1);
        batch.events.into_iter().next().unwrap()
    }

    #[test]
    fn sendgrid_batch_with_unknown_event_keeps_the_others() {
        let body = r#"[{"event":"bounce","email":"a@x.org","timestamp":1700000000,"type":"bounce","status":"5.1.1","reason":"550 5.1.1 user unknown"},
            {"event":"teleported","email":"b@x.org","timestamp":1700000000},
            {"event":"bounce","email":"c@x.org","timestamp":1700000000,"type":"blocked","reason":"550 5.7.1 IP listed on spamhaus"},
            {"event":"deferred","email":"d@x.org","timestamp":1700000000,"response":"421 try later"}]"#;
        let batch = parse_webhook(Provider::SendGrid, body.as_bytes(), &WebhookOptions::default()).unwrap();
        let actions: Vec<_> = batch.events.iter().map(|e| (e.item, e.action)).collect();
        assert_eq!(actions, [(1, bounce(BounceClass::Hard)), (3, bounce(BounceClass::Block)), (4, WebhookAction::Deferred)]);
        assert_eq!(batch.problems.len(), 1);
        assert!(batch.problems[0].to_string().starts_with("item 2: unknown SendGrid event `teleported`"));
        assert_eq!(batch.events[3 - 2].to_event_input().map(|e| e.subject), Some(Subject::Email("c@x.org".into())));
        assert_eq!(batch.events[2].to_event_input(), None);
    }

    #[test]
    fn malformed_bodies_are_clear_errors() {
        let err = parse_webhook(Provider::Postmark, b"{not json", &WebhookOptions::default()).unwrap_err();
        assert!(err.to_string().starts_with("the body is not valid JSON"));
        let err = parse_webhook(Provider::SendGrid, b"{}", &WebhookOptions::default()).unwrap_err();
        assert_eq!(err.to_string(), "the body is not a sendgrid webhook: expected a JSON array of events");
        let err = parse_webhook(Provider::Mailgun, b"[]", &WebhookOptions::default()).unwrap_err();
        assert!(matches!(err, WebhookError::WrongShape { .. }));
    }

    #[test]
    fn ses_transient_mailbox_full_is_soft_and_content_rejected_is_block() {
        let soft = one(
            Provider::AmazonSes,
            r#"{"notificationType":"Bounce","bounce":{"bounceType":"Transient","bounceSubType":"MailboxFull","timestamp":"2022-01-18T15:46:34.000Z","bouncedRecipients":[{"emailAddress":"a@x.org","status":"5.2.2"}]},"mail":{"messageId":"m","destination":["a@x.org"]}}"#,
        );
        assert_eq!(soft.action, bounce(BounceClass::Soft));
        assert_eq!(soft.at, 1_642_520_794);
        let block = one(
            Provider::AmazonSes,
            r#"{"eventType":"Bounce","bounce":{"bounceType":"Transient","bounceSubType":"ContentRejected","bouncedRecipients":[{"emailAddress":"a@x.org"}]},"mail":{"timestamp":"2022-01-18T15:46:34Z","destination":["a@x.org"]}}"#,
        );
        assert_eq!(block.action, bounce(BounceClass::Block));
    }

    #[test]
    fn postmark_times_with_seven_fraction_digits() {
        let event = one(
            Provider::Postmark,
            r#"{"RecordType":"Delivery","Recipient":"a@x.org","DeliveredAt":"2014-08-01T13:28:10.2735393-04:00"}"#,
        );
        assert_eq!(event.at, 1_406_914_090);
    }

    #[test]
    fn mailgun_hmac() {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"key-abc").unwrap();
        mac.update(b"1534108637token123");
        let signature = hex::encode(mac.finalize().into_bytes());
        assert_eq!(verify_mailgun_signature("key-abc", "1534108637", "token123", &signature), Ok(()));
        assert_eq!(verify_mailgun_signature("key-abd", "1534108637", "token123", &signature), Err(SignatureError::Mismatch));
        assert_eq!(verify_mailgun_signature("key-abc", "1534108638", "token123", &signature), Err(SignatureError::Mismatch));
        assert!(matches!(verify_mailgun_signature("key-abc", "1", "t", "zz"), Err(SignatureError::Malformed(_))));
    }

    #[test]
    fn signing_cert_urls() {
        assert_eq!(
            validate_signing_cert_url(
                "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-01d088a6f77103d0fe307c0069e40ed6.pem"
            ),
            Ok(())
        );
        for bad in [
            "http://sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
            "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com@evil.example/x.pem",
            "https://sns.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com/x.txt",
        ] {
            assert!(validate_signing_cert_url(bad).is_err(), "{bad}");
        }
    }
}
