//! Raw bounce and complaint messages (SPEC §3, §6): `.eml` files and mbox
//! mailboxes of RFC 3464 delivery status notifications, RFC 5965 (ARF)
//! abuse reports, and the free-text bounces older MTAs still send.
//!
//! MIME is read by `mail-parser` (charsets, encodings, CRLF / LF / CR);
//! this module only interprets the result:
//! 1. a `message/feedback-report` part makes the message a [`MailClass::Complaint`]
//!    about `Original-Rcpt-To` (or the attached original's `To`);
//! 2. a `message/delivery-status` part gives one entry per `failed` or
//!    `delayed` recipient, classified from its `Status` and
//!    `Diagnostic-Code` by [`classify_bounce`];
//! 3. otherwise auto-reply signals (RFC 3834 `Auto-Submitted: auto-replied`,
//!    `X-Autoreply`, a vacation subject) make it an [`MailClass::AutoReply`],
//!    which is not a bounce;
//! 4. otherwise the human-readable text is searched for failed addresses
//!    (lines that are not the bounce's own headers nor the returned
//!    original), and warnings ("will keep trying") are [`MailClass::Delayed`].
//!
//! Nothing here panics on any input: parsing runs under `catch_unwind` as a
//! last guard, and a message that cannot be read is a reported problem.

use std::collections::BTreeSet;

use mail_parser::{MessageParser, MimeHeaders, PartType};
use segscope_core::event::{BounceClass, EmailEvent, EmailKind, EventBody, EventInput, Subject, classify_bounce, is_auto_reply};
use segscope_core::time::Secs;

use crate::ndjson::{LineProblem, NdjsonImport, NdjsonItem, NdjsonPayload};
use crate::{InputLimits, ProblemSeverity, format_size};

/// What a message says about one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailClass {
    /// A delivery failure, hard / soft / sender-block.
    Bounce(BounceClass),
    /// A warning: delivery is delayed and still being retried. Not recorded
    /// (the final failure or delivery decides; see `docs/ingestion.md`).
    Delayed,
    /// An abuse (spam) report.
    Complaint,
    /// A vacation or out-of-office answer: not a bounce, not recorded.
    AutoReply,
}

impl MailClass {
    /// The email event recorded for it, if any.
    pub fn email_kind(self) -> Option<EmailKind> {
        match self {
            MailClass::Bounce(class) => Some(EmailKind::Bounced(class)),
            MailClass::Complaint => Some(EmailKind::Complained),
            MailClass::Delayed | MailClass::AutoReply => None,
        }
    }

    /// Is it temporary (a soft bounce or a delay warning)?
    pub fn is_temporary(self) -> bool {
        matches!(self, MailClass::Bounce(BounceClass::Soft) | MailClass::Delayed)
    }
}

/// How the recipients were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageFormat {
    /// RFC 3464 `message/delivery-status`.
    Dsn,
    /// RFC 5965 `message/feedback-report`.
    Arf,
    /// An automatic reply (RFC 3834 headers or wording).
    AutoReply,
    /// A free-text bounce, read by heuristics.
    Text,
    /// Nothing recognisable: not a bounce, or a bounce without an address.
    Unrecognized,
}

/// One failed (or complained-about, or delayed) recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceRecipient {
    pub address: String,
    pub class: MailClass,
    /// Enhanced status code (`5.1.1`), when given.
    pub status: Option<String>,
    /// The remote server's answer or the report's feedback type.
    pub diagnostic: Option<String>,
}

/// One message, interpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceMessage {
    pub format: MessageFormat,
    pub recipients: Vec<BounceRecipient>,
    pub subject: Option<String>,
    /// The message's `Date`, when it has a valid one.
    pub at: Option<Secs>,
}

impl BounceMessage {
    fn unrecognized(subject: Option<String>, at: Option<Secs>) -> BounceMessage {
        BounceMessage { format: MessageFormat::Unrecognized, recipients: Vec::new(), subject, at }
    }
}

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BounceMailError {
    #[error("the message is empty")]
    Empty,
    #[error("the message is {}, more than the limit of {}", format_size(*size), format_size(*limit))]
    TooLarge { size: u64, limit: u64 },
    #[error("the message cannot be parsed as MIME")]
    Unparsable,
    #[error("internal error while reading the message: {0}")]
    Internal(String),
}

/// The largest single message read: 32 MiB (bounces carry the original,
/// attachments included).
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;

/// Interprets one message (an `.eml` file; a leading mbox `From ` line is
/// skipped). Never panics.
pub fn parse_bounce_message(bytes: &[u8]) -> Result<BounceMessage, BounceMailError> {
    let bytes = &normalize_bare_cr(bytes);
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(BounceMailError::TooLarge { size: bytes.len() as u64, limit: MAX_MESSAGE_BYTES as u64 });
    }
    let bytes = skip_mbox_from_line(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(BounceMailError::Empty);
    }
    // mail-parser is fuzzed and should never panic; this is a last guard so
    // that one odd message cannot abort a mailbox import.
    match std::panic::catch_unwind(|| interpret(bytes)) {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(BounceMailError::Internal(message))
        }
    }
}

fn skip_mbox_from_line(bytes: &[u8]) -> &[u8] {
    if bytes.starts_with(b"From ") {
        match bytes.iter().position(|b| *b == b'\n' || *b == b'\r') {
            Some(end) => {
                let rest = &bytes[end..];
                rest.strip_prefix(b"\r\n")
                    .or_else(|| rest.strip_prefix(b"\n"))
                    .or_else(|| rest.strip_prefix(b"\r"))
                    .unwrap_or(rest)
            }
            None => b"",
        }
    } else {
        bytes
    }
}

/// Splits an mbox into messages at `From ` lines that start the file or
/// follow a blank line. Returns each message with its 1-based first line.
pub fn split_mbox(bytes: &[u8]) -> Vec<(usize, &[u8])> {
    let mut starts: Vec<(usize, usize)> = Vec::new(); // (byte offset, line)
    let mut offset = 0;
    let mut line = 1;
    let mut previous_blank = true;
    while offset < bytes.len() {
        let end = bytes[offset..].iter().position(|b| *b == b'\n').map_or(bytes.len(), |p| offset + p + 1);
        let text = &bytes[offset..end];
        if previous_blank && text.starts_with(b"From ") {
            starts.push((offset, line));
        }
        previous_blank = text.iter().all(u8::is_ascii_whitespace);
        offset = end;
        line += 1;
    }
    if starts.is_empty() {
        return if bytes.iter().all(u8::is_ascii_whitespace) { Vec::new() } else { vec![(1, bytes)] };
    }
    let mut messages = Vec::new();
    if starts[0].0 > 0 && !bytes[..starts[0].0].iter().all(u8::is_ascii_whitespace) {
        messages.push((1, &bytes[..starts[0].0]));
    }
    for (index, (start, line)) in starts.iter().enumerate() {
        let end = starts.get(index + 1).map_or(bytes.len(), |next| next.0);
        messages.push((*line, &bytes[*start..end]));
    }
    messages
}

/// A mailbox (or one message) of bounces.
#[derive(Debug, Clone, PartialEq)]
pub struct BounceMailImport {
    /// Messages with their 1-based number and first line.
    pub messages: Vec<(usize, usize, BounceMessage)>,
    /// Messages that could not be read, by first line.
    pub problems: Vec<LineProblem>,
    pub n_messages: usize,
}

impl BounceMailImport {
    /// The recorded events (bounces and complaints; not delays nor
    /// auto-replies) as an event import for [`crate::apply_ndjson_import`],
    /// located by each message's first line. A message without a `Date` is
    /// dated `received_at`, or reported when that is `None`.
    pub fn into_event_import(self, received_at: Option<Secs>) -> NdjsonImport {
        let mut items = Vec::new();
        let mut problems = self.problems;
        for (_, line, message) in &self.messages {
            let events: Vec<(String, EmailKind)> =
                message.recipients.iter().filter_map(|r| r.class.email_kind().map(|kind| (r.address.clone(), kind))).collect();
            if events.is_empty() {
                continue;
            }
            let Some(at) = message.at.or(received_at) else {
                problems.push(LineProblem {
                    line: *line,
                    severity: ProblemSeverity::Rejected,
                    message: "the message has no valid `Date` header and no receive time was given".to_owned(),
                });
                continue;
            };
            for (address, kind) in events {
                items.push(NdjsonItem {
                    line: *line,
                    payload: NdjsonPayload::Event(EventInput {
                        subject: Subject::Email(address),
                        at,
                        body: EventBody::Email(EmailEvent { kind, campaign: None }),
                    }),
                });
            }
        }
        problems.sort_by_key(|p| p.line);
        NdjsonImport { items, problems, omitted: crate::OmittedProblems::default(), n_lines: self.n_messages }
    }
}

/// Parses an mbox mailbox or a single `.eml` (a file without `From ` lines
/// is one message). Never fails as a whole except for size: every unreadable
/// message is a problem.
pub fn parse_bounce_mailbox(bytes: &[u8], limits: &InputLimits) -> Result<BounceMailImport, BounceMailError> {
    if bytes.len() as u64 > limits.max_input_bytes {
        return Err(BounceMailError::TooLarge { size: bytes.len() as u64, limit: limits.max_input_bytes });
    }
    let mut import = BounceMailImport { messages: Vec::new(), problems: Vec::new(), n_messages: 0 };
    for (index, (line, raw)) in split_mbox(bytes).into_iter().enumerate() {
        import.n_messages += 1;
        match parse_bounce_message(raw) {
            Ok(message) => import.messages.push((index + 1, line, message)),
            Err(err) => import.problems.push(LineProblem {
                line,
                severity: ProblemSeverity::Rejected,
                message: format!("message {}: {err}", index + 1),
            }),
        }
    }
    Ok(import)
}

// ---- interpretation ----

/// Bare CR line ends (old Mac files) become LF: MIME parsers split on LF.
fn normalize_bare_cr(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let has_bare_cr = bytes.iter().enumerate().any(|(i, b)| *b == b'\r' && bytes.get(i + 1) != Some(&b'\n'));
    if !has_bare_cr {
        return std::borrow::Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\r' && bytes.get(i + 1) != Some(&b'\n') {
            out.push(b'\n');
        } else {
            out.push(*b);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn interpret(bytes: &[u8]) -> Result<BounceMessage, BounceMailError> {
    let bytes = normalize_bare_cr(bytes);
    let message = MessageParser::default().parse(bytes.as_ref()).ok_or(BounceMailError::Unparsable)?;
    let subject = message.subject().map(|s| s.trim().to_owned());
    let at = message.date().map(|date| date.to_timestamp());
    let header_text = |name: &str| message.header_raw(name).map(|v| v.trim().to_ascii_lowercase());

    // Addresses of the bounce itself (its sender, the list it returns to):
    // never a failed recipient.
    let mut own_addresses = BTreeSet::new();
    for name in ["From", "To", "Sender", "Return-Path", "Reply-To", "Delivered-To", "Errors-To", "X-Original-To", "Cc"] {
        if let Some(raw) = message.header_raw(name) {
            for address in find_addresses(raw) {
                own_addresses.insert(address.to_ascii_lowercase());
            }
        }
    }

    let mut delivery_status: Vec<String> = Vec::new();
    let mut nested_delivery_status: Vec<String> = Vec::new();
    let mut feedback_reports: Vec<String> = Vec::new();
    let mut original_to: Option<String> = None;
    let mut notification_text = String::new();
    let mut html_text = String::new();
    for part in &message.parts {
        let (ctype, subtype) = match part.content_type() {
            Some(ct) => (ct.ctype().to_ascii_lowercase(), ct.subtype().unwrap_or("").to_ascii_lowercase()),
            None => ("text".to_owned(), "plain".to_owned()),
        };
        match (ctype.as_str(), subtype.as_str()) {
            ("message", "delivery-status" | "global-delivery-status") => {
                delivery_status.push(String::from_utf8_lossy(part.contents()).into_owned())
            }
            ("message", "feedback-report") => feedback_reports.push(String::from_utf8_lossy(part.contents()).into_owned()),
            _ => match &part.body {
                PartType::Message(original) => {
                    // Some gateways wrap the whole report in a message/rfc822.
                    for inner in &original.parts {
                        if inner.content_type().is_some_and(|ct| {
                            ct.ctype().eq_ignore_ascii_case("message")
                                && ct.subtype().is_some_and(|sub| sub.eq_ignore_ascii_case("delivery-status"))
                        }) {
                            nested_delivery_status.push(String::from_utf8_lossy(inner.contents()).into_owned());
                        }
                    }
                    if original_to.is_none() {
                        // Hotmail's complaint loop (JMRP) names the recipient in its own header.
                        original_to = original
                            .header_raw("X-HmXmrOriginalRecipient")
                            .or_else(|| original.header_raw("To"))
                            .and_then(|to| find_addresses(to).into_iter().next());
                    }
                }
                PartType::Text(text) if subtype != "rfc822-headers" && ctype == "text" => {
                    notification_text.push_str(text);
                    notification_text.push('\n');
                }
                PartType::Html(html) => {
                    html_text.push_str(&strip_tags(html));
                    html_text.push('\n');
                }
                _ => {}
            },
        }
    }
    if notification_text.trim().is_empty() {
        notification_text = html_text;
    }
    if delivery_status.is_empty() {
        delivery_status = nested_delivery_status;
    }

    // 1. ARF complaints.
    let is_arf = !feedback_reports.is_empty()
        || subject.as_deref().is_some_and(|s| s.to_ascii_lowercase().starts_with("complaint about message from"))
        || header_text("Content-Type")
            .is_some_and(|ct| ct.contains("report-type=feedback-report") || ct.contains("report-type=\"feedback-report\""));
    if is_arf {
        let report = feedback_reports.join("\n");
        let fields = parse_fields(&report);
        let feedback_type = field(&fields, "feedback-type").unwrap_or_else(|| "abuse".to_owned());
        let mut addresses: Vec<String> = ["original-rcpt-to", "removal-recipient"]
            .iter()
            .flat_map(|name| fields.iter().filter(move |(key, _)| key == name).flat_map(|(_, value)| find_addresses(value)))
            .collect();
        if addresses.is_empty() {
            addresses.extend(original_to.clone());
        }
        dedup_addresses(&mut addresses);
        let recipients = addresses
            .into_iter()
            .map(|address| BounceRecipient {
                address,
                class: MailClass::Complaint,
                status: None,
                diagnostic: Some(feedback_type.clone()),
            })
            .collect();
        return Ok(BounceMessage { format: MessageFormat::Arf, recipients, subject, at });
    }

    // 2. RFC 3464 delivery status notifications.
    let mut recipients = Vec::new();
    for report in &delivery_status {
        recipients.extend(dsn_recipients(report));
    }
    if !recipients.is_empty() {
        return Ok(BounceMessage { format: MessageFormat::Dsn, recipients, subject, at });
    }

    // Exim names the failed recipients in a header.
    let failed_header: Vec<String> = message.header_raw("X-Failed-Recipients").map(find_addresses).unwrap_or_default();

    // 3. Automatic replies.
    let auto_submitted = header_text("Auto-Submitted").unwrap_or_default();
    let subject_text = subject.clone().unwrap_or_default();
    let looks_like_failure = looks_like_failure_notice(&subject_text, &notification_text);
    let auto_reply = message.header_raw("X-Autoreply").is_some()
        || message.header_raw("X-Autorespond").is_some()
        || header_text("Precedence").is_some_and(|p| p.contains("auto_reply"))
        || header_text("X-Auto-Response-Suppress").is_some() && is_auto_reply(&subject_text)
        || (auto_submitted.starts_with("auto-replied") && !looks_like_failure)
        || (is_auto_reply(&subject_text) && !looks_like_failure);
    if auto_reply {
        let mut addresses: Vec<String> =
            message.header_raw("From").map(find_addresses).unwrap_or_default().into_iter().take(1).collect();
        dedup_addresses(&mut addresses);
        let recipients = addresses
            .into_iter()
            .map(|address| BounceRecipient { address, class: MailClass::AutoReply, status: None, diagnostic: None })
            .collect();
        return Ok(BounceMessage { format: MessageFormat::AutoReply, recipients, subject, at });
    }

    // 4. Free-text bounces.
    if !looks_like_failure && failed_header.is_empty() {
        return Ok(BounceMessage::unrecognized(subject, at));
    }
    let text = notification_before_original(&notification_text);
    let candidates = if failed_header.is_empty() { text_failed_addresses(text) } else { failed_header };
    let mut addresses: Vec<String> =
        candidates.into_iter().filter(|address| !own_addresses.contains(&address.to_ascii_lowercase())).collect();
    dedup_addresses(&mut addresses);
    if addresses.is_empty() {
        return Ok(BounceMessage::unrecognized(subject, at));
    }
    let warning = is_delay_warning(&subject_text, text);
    let recipients = addresses
        .into_iter()
        .map(|address| {
            let context = context_of(text, &address);
            let class = if warning { MailClass::Delayed } else { MailClass::Bounce(classify_text_bounce(&context)) };
            BounceRecipient {
                address,
                class,
                status: enhanced_status(&context),
                diagnostic: (!context.is_empty()).then_some(context),
            }
        })
        .collect();
    Ok(BounceMessage { format: MessageFormat::Text, recipients, subject, at })
}

/// `Name: value` fields (with folded continuation lines), keys lower-cased.
fn parse_fields(text: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((key, value)) = line.split_once(':') {
            let key = key.trim();
            if !key.is_empty() && !key.contains(' ') {
                fields.push((key.to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
    }
    fields
}

fn field(fields: &[(String, String)], name: &str) -> Option<String> {
    fields.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone()).filter(|v| !v.is_empty())
}

/// `rfc822; <a@b>` → `a@b`.
fn address_of_typed_field(value: &str) -> Option<String> {
    let value = value.split_once(';').map_or(value, |(_, rest)| rest);
    find_addresses(value).into_iter().next()
}

/// The per-recipient blocks of a `message/delivery-status` body.
fn dsn_recipients(report: &str) -> Vec<BounceRecipient> {
    let normalized = report.replace("\r\n", "\n").replace('\r', "\n");
    let mut recipients = Vec::new();
    for block in normalized.split("\n\n") {
        let fields = parse_fields(block);
        // The address as the sender wrote it, before forwarding rewrote it.
        let address = field(&fields, "original-recipient")
            .and_then(|v| address_of_typed_field(&v))
            .or_else(|| field(&fields, "final-recipient").and_then(|v| address_of_typed_field(&v)));
        let Some(address) = address else { continue };
        let action = field(&fields, "action").unwrap_or_default().to_ascii_lowercase();
        let status = field(&fields, "status").map(|s| s.split_whitespace().next().unwrap_or("").to_owned());
        let diagnostic =
            field(&fields, "diagnostic-code").map(|d| d.split_once(';').map_or(d.clone(), |(_, rest)| rest.trim().to_owned()));
        let evidence = format!("{} {}", status.clone().unwrap_or_default(), diagnostic.clone().unwrap_or_default());
        let class = match action.as_str() {
            "delayed" => MailClass::Delayed,
            "delivered" | "relayed" | "expanded" => continue,
            // `failed`, and missing or odd actions with a failure status.
            _ => {
                let first = status.as_deref().and_then(|s| s.chars().next());
                match (classify_bounce(&evidence), first) {
                    (BounceClass::Block, _) => MailClass::Bounce(BounceClass::Block),
                    (class, Some('4')) => {
                        MailClass::Bounce(if class == BounceClass::Hard { BounceClass::Hard } else { BounceClass::Soft })
                    }
                    (BounceClass::Soft, Some('5')) if !evidence.contains("5.2.2") && !has_full_words(&evidence) => {
                        MailClass::Bounce(BounceClass::Hard)
                    }
                    (class, _) => MailClass::Bounce(class),
                }
            }
        };
        if recipients.iter().any(|r: &BounceRecipient| r.address.eq_ignore_ascii_case(&address)) {
            continue;
        }
        recipients.push(BounceRecipient { address, class, status, diagnostic });
    }
    recipients
}

fn has_full_words(text: &str) -> bool {
    let lowered = text.to_ascii_lowercase();
    ["mailbox full", "quota", "over quota", "insufficient storage", "mailbox is full"].iter().any(|w| lowered.contains(w))
}

/// A free-text bounce: permanent unless its words or codes say temporary.
/// Only the address's own lines count: the rest of the text is boilerplate.
fn classify_text_bounce(context: &str) -> BounceClass {
    match classify_bounce(context) {
        BounceClass::Block => BounceClass::Block,
        BounceClass::Soft if has_explicit_temporary(context) => BounceClass::Soft,
        _ => BounceClass::Hard,
    }
}

/// A `4.x.x` enhanced code, a `4xx` reply code at a word start, or "mailbox full" wording.
fn has_explicit_temporary(text: &str) -> bool {
    has_full_words(text)
        || enhanced_status(text).is_some_and(|status| status.starts_with('4'))
        || text.split_whitespace().any(|word| {
            let word = word.trim_start_matches(|c: char| !c.is_ascii_digit());
            word.len() >= 3
                && word.as_bytes()[0] == b'4'
                && word.as_bytes()[1..3].iter().all(u8::is_ascii_digit)
                && word.as_bytes().get(3).is_none_or(|b| matches!(b, b' ' | b'-'))
        })
}

fn enhanced_status(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_ascii_digit() && c != '.')
        .find(|token| {
            let parts: Vec<&str> = token.split('.').collect();
            parts.len() == 3 && matches!(parts[0], "4" | "5") && parts.iter().all(|p| !p.is_empty() && p.len() <= 3)
        })
        .map(str::to_owned)
}

const FAILURE_WORDS: &[&str] = &[
    "undeliver",
    "undelivered",
    "delivery fail",
    "delivery status notification",
    "failure notice",
    "returned mail",
    "mail delivery",
    "could not be delivered",
    "not be delivered",
    "was not delivered",
    "couldn't be delivered",
    "unable to deliver",
    "delivery problem",
    "delivery error",
    "permanent error",
    "fatal error",
    "user unknown",
    "unknown user",
    "no such user",
    "does not exist",
    "mailbox unavailable",
    "delivery has failed",
    "nondeliverable",
    "non-deliverable",
    "delivery notification",
    "bounce",
    "rejected",
    "warning: could not",
    "delayed mail",
    "delivery delay",
    "not yet been delivered",
    "has not been delivered",
    "mailer-daemon",
    "could not deliver",
    "failed recipient",
    "following address",
    "following recipient",
    "non-delivery",
    "delivery failed",
    "mail failed",
    "failed addresses",
    "no valid recipients",
    "delivery failure",
];

fn looks_like_failure_notice(subject: &str, text: &str) -> bool {
    let lowered_subject = subject.to_ascii_lowercase();
    let lowered = text.to_ascii_lowercase();
    // qmail's `<user@example.com>:` lines, whatever the language around them.
    let qmail_line = text.lines().any(|line| {
        let line = line.trim();
        line.starts_with('<') && line.ends_with(">:") && line.contains('@')
    });
    qmail_line || FAILURE_WORDS.iter().any(|w| lowered_subject.contains(w) || lowered.contains(w))
}

const WARNING_WORDS: &[&str] = &[
    "will continue trying",
    "will continue to try",
    "still trying",
    "will be retried",
    "will keep trying",
    "will retry",
    "will try again",
    "not yet been delivered",
    "has not yet been delivered",
    "delivery delayed",
    "delayed mail",
    "delivery delay",
    "warning: message",
    "this is a warning",
    "warning: could not send",
    "no action is required on your part",
    "will be attempted",
    "is not a permanent error",
    "have not yet been",
    "attempts will continue",
    "will continue to be made",
];

fn is_delay_warning(subject: &str, text: &str) -> bool {
    let subject = subject.to_ascii_lowercase();
    let text = text.to_ascii_lowercase();
    subject.contains("warning") && !["fail", "unknown", "undeliver", "error", "returned"].iter().any(|w| subject.contains(w))
        || subject.contains("delayed")
        || WARNING_WORDS.iter().any(|w| text.contains(w))
}

/// Lines that start the returned original message in free-text bounces.
const ORIGINAL_MARKERS: &[&str] = &[
    "original message follows",
    "----- original message",
    "-----original message",
    "original message ----",
    "below this line is a copy of the message",
    "this is a copy of the message",
    "a copy of the original message below",
    "unsent message below",
    "----- message text follows",
    "--- message text follows",
    "------ this is a copy",
    "original message headers",
    "-- the header and top 20 lines of the message follows",
    "----- the header of the original message",
    "the text of your message was",
];

/// The notification's own text: up to the returned original (by a marker
/// or a block of original headers).
fn notification_before_original(text: &str) -> &str {
    let lowered = text.to_ascii_lowercase();
    let mut cut = text.len();
    for marker in ORIGINAL_MARKERS {
        if let Some(position) = lowered.find(marker) {
            cut = cut.min(position);
        }
    }
    // A `Received:` / `Return-Path:` header at the start of a line begins
    // the original's headers.
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let lowered_line = line.to_ascii_lowercase();
        if offset > 0 && (lowered_line.starts_with("received: ") || lowered_line.starts_with("return-path: ")) {
            cut = cut.min(offset);
            break;
        }
        offset += line.len();
    }
    // Keep at least something when a marker opens the text.
    let head = &text[..cut];
    if head.trim().is_empty() { text } else { head }
}

/// Words on a line (or the line before) that introduce failed addresses.
const ADDRESS_LINE_WORDS: &[&str] = &[
    "user unknown",
    "unknown user",
    "no such",
    "does not exist",
    "not exist",
    "unknown",
    "invalid",
    "fail",
    "error",
    "undeliver",
    "not deliver",
    "couldn't deliver",
    "could not deliver",
    "unable to deliver",
    "not be delivered",
    "not delivered",
    "rejected",
    "refused",
    "mailbox",
    "recipient",
    "address",
    "quota",
    "full",
    "disabled",
    "inactive",
    "expired",
    "deactivated",
    "not found",
    "no longer",
    "550",
    "551",
    "552",
    "553",
    "554",
    "5.1",
    "5.2",
    "5.7",
    "4.",
    "...",
    "<",
    ">:",
    "delivery",
    "deliver",
    "problem",
    "to:",
    "bounce",
    "not listed",
    "unavailable",
    "timed out",
    "timeout",
    "host",
];

/// Addresses in a free-text notification, on lines that speak about a
/// failure or list recipients, never on lines about the message itself.
fn text_failed_addresses(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut summary_to = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        let lowered = line.to_ascii_lowercase();
        let addresses = find_addresses(line);
        if addresses.is_empty() {
            continue;
        }
        // The message's own ids and senders.
        if ["message-id", "message id", "msg-id", "from:", "sender:", "reply-to:", "return-path", "id <", "mail from "]
            .iter()
            .any(|w| lowered.contains(w))
        {
            continue;
        }
        // A summary of the original (`To: list@…`, `* Cc: …`) names its
        // addressees, not the failed recipient.
        // (Used only when nothing else names a recipient, as in Yahoo's
        // "wasn't able to deliver the following message … To: user@…".)
        let bare = lowered.trim_start_matches(['*', '-', '>', ' ', '\t']);
        if bare.starts_with("to:") {
            summary_to.extend(addresses);
            continue;
        }
        if ["cc:", "bcc:", "subject:", "sent:", "date:"].iter().any(|h| bare.starts_with(h)) {
            continue;
        }
        let previous = index.checked_sub(1).map(|i| lines[i].to_ascii_lowercase()).unwrap_or_default();
        let relevant = ADDRESS_LINE_WORDS.iter().any(|w| lowered.contains(w) || previous.contains(w))
            || lowered.trim().trim_start_matches(['>', '-', '*', ' ', '\t']).starts_with(addresses[0].as_str())
            || index > 0
                && lines[..index].iter().rev().take(4).any(|l| {
                    let l = l.to_ascii_lowercase();
                    l.contains("following") || l.contains("recipient") || l.contains("address")
                });
        if relevant {
            found.extend(addresses);
        }
    }
    if found.is_empty() {
        found = summary_to;
    }
    found.retain(|address| {
        let local = address.split('@').next().unwrap_or("").to_ascii_lowercase();
        !matches!(local.as_str(), "postmaster" | "mailer-daemon" | "mailer_daemon" | "root" | "abuse" | "noreply" | "no-reply")
    });
    found
}

/// The text around an address: its line and the next two (where MTAs put
/// the reason).
fn context_of(text: &str, address: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let lowered_address = address.to_ascii_lowercase();
    match lines.iter().position(|line| line.to_ascii_lowercase().contains(&lowered_address)) {
        Some(index) => lines[index..(index + 3).min(lines.len())].join(" ").trim().to_owned(),
        None => String::new(),
    }
}

fn dedup_addresses(addresses: &mut Vec<String>) {
    let mut seen = BTreeSet::new();
    addresses.retain(|address| seen.insert(address.to_ascii_lowercase()));
}

fn is_local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._%+-=/'!#$&*?^`{|}~".contains(&b)
}

fn is_domain_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'-'
}

/// Email-address-looking substrings: `local@domain.tld`.
pub fn find_addresses(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    for (at, _) in text.match_indices('@') {
        let mut start = at;
        while start > 0 && is_local_char(bytes[start - 1]) {
            start -= 1;
        }
        let mut end = at + 1;
        while end < bytes.len() && is_domain_char(bytes[end]) {
            end += 1;
        }
        let mut local = text[start..at].trim_start_matches(['.', '\'', '=', '/', '`']);
        // Exchange writes `smtp=user@example.com`.
        if local.len() > 5 && local[..5].eq_ignore_ascii_case("smtp=") {
            local = &local[5..];
        }
        let domain = &text[at + 1..end];
        let domain = domain.split("..").next().unwrap_or("").trim_end_matches(['.', '-']);
        if local.is_empty()
            || local.contains("..")
            || local.ends_with('.')
            || domain.is_empty()
            || !domain.contains('.')
            || domain.starts_with(['.', '-'])
        {
            continue;
        }
        let tld = domain.rsplit('.').next().unwrap_or("");
        if tld.len() < 2 || !tld.bytes().all(|b| b.is_ascii_alphabetic()) {
            continue;
        }
        found.push(format!("{local}@{domain}"));
    }
    found
}

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace("&nbsp;", " ").replace("<br>", "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DSN: &str = "From: MAILER-DAEMON@mx.example.org\r\nTo: news@sender.example\r\nSubject: Undelivered Mail Returned to Sender\r\n\
Date: Tue, 3 Feb 2015 10:00:00 +0100\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n\
--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n\
Final-Recipient: rfc822; gone@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n\
Final-Recipient: rfc822; <full@example.com>\r\nAction: failed\r\nStatus: 5.2.2\r\nDiagnostic-Code: smtp; 552 5.2.2 mailbox full\r\n\r\n\
Final-Recipient: rfc822; later@example.com\r\nAction: delayed\r\nStatus: 4.4.7\r\n\r\n\
--b--\r\n";

    #[test]
    fn dsn_recipients_and_classes() {
        let message = parse_bounce_message(DSN.as_bytes()).unwrap();
        assert_eq!(message.format, MessageFormat::Dsn);
        let got: Vec<(&str, MailClass)> = message.recipients.iter().map(|r| (r.address.as_str(), r.class)).collect();
        assert_eq!(
            got,
            [
                ("gone@example.com", MailClass::Bounce(BounceClass::Hard)),
                ("full@example.com", MailClass::Bounce(BounceClass::Soft)),
                ("later@example.com", MailClass::Delayed)
            ]
        );
        assert_eq!(message.at, Some(1_422_954_000));
        // LF-only and bare-CR line ends read the same.
        let lf = parse_bounce_message(DSN.replace("\r\n", "\n").as_bytes()).unwrap();
        assert_eq!(lf.recipients, message.recipients);
    }

    #[test]
    fn vacation_reply_is_not_a_bounce() {
        let text = "From: bob@example.com\nTo: news@sender.example\nSubject: Out of Office: back Monday\nAuto-Submitted: auto-replied\n\nI am away.\n";
        let message = parse_bounce_message(text.as_bytes()).unwrap();
        assert_eq!(message.format, MessageFormat::AutoReply);
        assert_eq!(message.recipients[0].class.email_kind(), None);
    }

    #[test]
    fn free_text_bounce() {
        let text = "From: MAILER-DAEMON@mx.example.org\nTo: list-bounces@example.org\nSubject: failure notice\n\n\
Hi. This is the qmail-send program at mx.example.org.\nI'm afraid I wasn't able to deliver your message to the following addresses.\n\n\
<nobody@example.net>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n--- Below this line is a copy of the message.\n\nReturn-Path: <list-bounces@example.org>\nFrom: someone@example.org\n";
        let message = parse_bounce_message(text.as_bytes()).unwrap();
        assert_eq!(message.format, MessageFormat::Text);
        let got: Vec<(&str, MailClass)> = message.recipients.iter().map(|r| (r.address.as_str(), r.class)).collect();
        assert_eq!(got, [("nobody@example.net", MailClass::Bounce(BounceClass::Hard))]);
    }

    #[test]
    fn mbox_split_and_garbage_never_panics() {
        let mbox = format!("From a@b Thu Jan  1 00:00:00 2015\n{}\nFrom c@d Thu Jan  1 00:00:00 2015\n{}", DSN, DSN);
        let parts = split_mbox(mbox.as_bytes());
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].0, 1);
        let import = parse_bounce_mailbox(mbox.as_bytes(), &InputLimits::default()).unwrap();
        assert_eq!(import.messages.len(), 2);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for length in [0usize, 1, 7, 100, 5000] {
            let garbage: Vec<u8> = (0..length)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let _ = parse_bounce_message(&garbage);
            let _ = parse_bounce_mailbox(&garbage, &InputLimits::default());
        }
        for cut in (0..DSN.len()).step_by(17) {
            let _ = parse_bounce_message(&DSN.as_bytes()[..cut]);
        }
    }

    #[test]
    fn addresses_in_text() {
        assert_eq!(find_addresses("<a.b+c@ex-ample.co.uk>: no, x@y, 'q@w.org'."), ["a.b+c@ex-ample.co.uk", "q@w.org"]);
    }
}
