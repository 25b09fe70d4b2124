//! NDJSON import of contacts and events: one JSON object per line, with a
//! `type` (schema in `docs/ndjson.md` at the repository root). A bad line
//! (invalid JSON, unknown type, missing field, wrong type, too long) is
//! reported with its line number and changes nothing; good lines are kept,
//! in order. Unknown keys are warned about, not rejected, so that senders
//! can add keys before segscope knows them.
//!
//! Timestamps are RFC 3339 strings or Unix epoch numbers: a number below
//! [`MILLISECONDS_FROM`] (1e11, i.e. up to the year 5138 in seconds) is
//! seconds, from there up to [`MICROSECONDS_FROM`] (1e14) it is
//! milliseconds (from 1973-03-03), and larger numbers are refused.

use std::collections::BTreeSet;

use segscope_core::engine::{Command, ContactUpsert};
use segscope_core::event::{EmailEvent, EmailKind, EventBody, EventInput, Identify, PageView, Subject};
use segscope_core::ids::ContactId;
use segscope_core::model::{Channel, Country, Geo, Utm, Value};
use segscope_core::time::Secs;
use serde_json::{Map, Value as Json};

use crate::{InputLimits, ProblemSeverity, format_size};

/// Epoch numbers from here on are milliseconds.
pub const MILLISECONDS_FROM: f64 = 1e11;
/// Epoch numbers from here on are refused (microseconds or nanoseconds).
pub const MICROSECONDS_FROM: f64 = 1e14;

/// How many rejected lines a "no valid lines" error quotes.
const MAX_QUOTED_REJECTIONS: usize = 5;

/// Every line type, as written in `type`.
pub const LINE_TYPES: [&str; 10] =
    ["contact", "page_view", "heartbeat", "page_leave", "identify", "email", "stage_change", "track", "delete", "delete_contact"];

#[derive(Debug, Clone, Default)]
pub struct NdjsonImportOptions {
    pub limits: InputLimits,
}

/// Why an NDJSON input could not be imported at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NdjsonImportError {
    #[error("the input is {}, more than the limit of {}: split it into smaller files", format_size(*size), format_size(*limit))]
    InputTooLarge { size: u64, limit: u64 },
    #[error("nothing to import: {reason}")]
    NoValidLines { reason: String, problems: Vec<LineProblem>, omitted: crate::OmittedProblems },
}

/// What a good line carries.
#[derive(Debug, Clone, PartialEq)]
pub enum NdjsonPayload {
    Contact(ContactUpsert),
    Event(EventInput),
}

/// A good line.
#[derive(Debug, Clone, PartialEq)]
pub struct NdjsonItem {
    /// 1-based line number.
    pub line: usize,
    pub payload: NdjsonPayload,
}

/// A rejected line, or a line used with something left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblem {
    /// 1-based line number.
    pub line: usize,
    pub severity: ProblemSeverity,
    pub message: String,
}

impl std::fmt::Display for LineProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// A parsed NDJSON input: the good lines in order, and the problems.
#[derive(Debug, Clone, PartialEq)]
pub struct NdjsonImport {
    pub items: Vec<NdjsonItem>,
    /// By line number; at most [`crate::MAX_KEPT_PROBLEMS`].
    pub problems: Vec<LineProblem>,
    /// Problems past the cap, counted.
    pub omitted: crate::OmittedProblems,
    /// Lines that were not blank.
    pub n_lines: usize,
}

/// One command for the core and the line of each of its items, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct NdjsonBatch {
    pub command: Command,
    pub lines: Vec<usize>,
}

impl NdjsonImport {
    /// Cuts the items into commands, keeping line order: consecutive contact
    /// lines become one `UpsertContacts`, consecutive event lines one
    /// `RecordEvents`, each at most `batch_size` (clamped to 1..=MAX_BATCH)
    /// items. A contact line is therefore applied before the events after it.
    pub fn into_batches(self, channel: Channel, batch_size: usize) -> Vec<NdjsonBatch> {
        let batch_size = batch_size.clamp(1, segscope_core::engine::MAX_BATCH);
        let mut batches: Vec<NdjsonBatch> = Vec::new();
        let mut contacts: Vec<ContactUpsert> = Vec::new();
        let mut events: Vec<EventInput> = Vec::new();
        let mut lines: Vec<usize> = Vec::new();
        let flush = |contacts: &mut Vec<ContactUpsert>,
                     events: &mut Vec<EventInput>,
                     lines: &mut Vec<usize>,
                     batches: &mut Vec<NdjsonBatch>| {
            if !contacts.is_empty() {
                batches.push(NdjsonBatch {
                    command: Command::UpsertContacts { contacts: std::mem::take(contacts), channel, list: None },
                    lines: std::mem::take(lines),
                });
            } else if !events.is_empty() {
                batches.push(NdjsonBatch {
                    command: Command::RecordEvents { events: std::mem::take(events) },
                    lines: std::mem::take(lines),
                });
            }
        };
        for item in self.items {
            match item.payload {
                NdjsonPayload::Contact(contact) => {
                    if !events.is_empty() || contacts.len() == batch_size {
                        flush(&mut contacts, &mut events, &mut lines, &mut batches);
                    }
                    contacts.push(contact);
                }
                NdjsonPayload::Event(event) => {
                    if !contacts.is_empty() || events.len() == batch_size {
                        flush(&mut contacts, &mut events, &mut lines, &mut batches);
                    }
                    events.push(event);
                }
            }
            lines.push(item.line);
        }
        flush(&mut contacts, &mut events, &mut lines, &mut batches);
        batches
    }
}

/// Inputs at least this large are parsed on two threads, one half each.
const PARALLEL_MIN_BYTES: usize = 4 << 20;

/// Parses NDJSON bytes. Fails as a whole only when the input is too large
/// or no line is good. Large inputs are cut in two at a line break and the
/// halves parsed in parallel; the result is the same as one pass.
pub fn parse_ndjson(bytes: &[u8], options: &NdjsonImportOptions) -> Result<NdjsonImport, NdjsonImportError> {
    let parts = if bytes.len() >= PARALLEL_MIN_BYTES { 2 } else { 1 };
    parse_ndjson_in_parts(bytes, options, parts)
}

/// [`parse_ndjson`] cut into `parts` parts (1 or 2), for the tests to check
/// that the cut changes nothing.
#[doc(hidden)]
pub fn parse_ndjson_in_parts(
    bytes: &[u8],
    options: &NdjsonImportOptions,
    parts: usize,
) -> Result<NdjsonImport, NdjsonImportError> {
    let size = bytes.len() as u64;
    if size > options.limits.max_input_bytes {
        return Err(NdjsonImportError::InputTooLarge { size, limit: options.limits.max_input_bytes });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // The cut: just after the first line break at or after the middle.
    let cut = match parts {
        1 => None,
        _ => bytes[bytes.len() / 2..].iter().position(|b| *b == b'\n').map(|i| bytes.len() / 2 + i + 1),
    };
    let parsed = match cut {
        None => parse_lines(bytes, 1, options),
        Some(cut) => {
            let (first, second) = bytes.split_at(cut);
            let second_line = 1 + first.iter().filter(|b| **b == b'\n').count();
            let (a, b) = std::thread::scope(|scope| {
                let b = scope.spawn(|| parse_lines(second, second_line, options));
                let a = parse_lines(first, 1, options);
                (a, b.join().expect("an NDJSON parse thread panicked"))
            });
            a.then(b)
        }
    };
    let Parsed { items, problems, omitted, n_lines } = parsed;
    if items.is_empty() {
        let reason = if n_lines == 0 {
            "the input has no lines".to_owned()
        } else {
            let rejected: Vec<String> = problems
                .iter()
                .filter(|p| p.severity == ProblemSeverity::Rejected)
                .take(MAX_QUOTED_REJECTIONS)
                .map(LineProblem::to_string)
                .collect();
            let more = n_lines.saturating_sub(MAX_QUOTED_REJECTIONS);
            format!(
                "all {n_lines} lines were rejected: {}{}",
                rejected.join("; "),
                if more > 0 { format!("; and {more} more") } else { String::new() }
            )
        };
        return Err(NdjsonImportError::NoValidLines { reason, problems, omitted });
    }
    Ok(NdjsonImport { items, problems, omitted, n_lines })
}

/// What one part of the input gave.
struct Parsed {
    items: Vec<NdjsonItem>,
    problems: Vec<LineProblem>,
    omitted: crate::OmittedProblems,
    n_lines: usize,
}

impl Parsed {
    /// This part followed by the next one: problems stay in line order and
    /// only the first [`crate::MAX_KEPT_PROBLEMS`] of both are kept.
    fn then(mut self, next: Parsed) -> Parsed {
        self.items.extend(next.items);
        crate::append_problems(&mut self.problems, &mut self.omitted, next.problems, next.omitted, |p| p.severity);
        self.n_lines += next.n_lines;
        self
    }
}

/// Parses lines; the first of `bytes` is line `first_line`.
fn parse_lines(bytes: &[u8], first_line: usize, options: &NdjsonImportOptions) -> Parsed {
    let mut items = Vec::new();
    let mut problems = Vec::new();
    let mut omitted = crate::OmittedProblems::default();
    let mut n_lines: usize = 0;
    for (index, raw_line) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = first_line + index;
        let raw_line = raw_line.strip_suffix(b"\r").unwrap_or(raw_line);
        if raw_line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        n_lines += 1;
        let reject = |message: String| LineProblem { line, severity: ProblemSeverity::Rejected, message };
        if raw_line.len() > options.limits.max_line_bytes {
            let problem = reject(format!(
                "the line is {}, longer than the limit of {}",
                format_size(raw_line.len() as u64),
                format_size(options.limits.max_line_bytes as u64)
            ));
            crate::keep_problem(&mut problems, &mut omitted, ProblemSeverity::Rejected, problem);
            continue;
        }
        let Ok(text) = std::str::from_utf8(raw_line) else {
            let problem = reject("the line is not valid UTF-8: NDJSON must be UTF-8".to_owned());
            crate::keep_problem(&mut problems, &mut omitted, ProblemSeverity::Rejected, problem);
            continue;
        };
        match parse_line(text) {
            Ok((payload, warnings)) => {
                for message in warnings {
                    let problem = LineProblem { line, severity: ProblemSeverity::Repaired, message };
                    crate::keep_problem(&mut problems, &mut omitted, ProblemSeverity::Repaired, problem);
                }
                items.push(NdjsonItem { line, payload });
            }
            Err(message) => crate::keep_problem(&mut problems, &mut omitted, ProblemSeverity::Rejected, reject(message)),
        }
    }
    Parsed { items, problems, omitted, n_lines }
}

/// The keys of one line's object, tracking which were read so that the
/// rest can be warned about.
struct LineObject<'a> {
    object: &'a Map<String, Json>,
    used: BTreeSet<&'static str>,
}

impl<'a> LineObject<'a> {
    fn get(&mut self, key: &'static str) -> Option<&'a Json> {
        self.used.insert(key);
        self.object.get(key).filter(|value| !value.is_null())
    }

    /// Marks a key as known without reading it.
    fn known(&mut self, key: &'static str) {
        self.used.insert(key);
    }

    fn string(&mut self, key: &'static str) -> Result<Option<String>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Json::String(text)) => Ok(Some(text.clone())),
            Some(other) => Err(format!("`{key}` must be a string, got {}", json_kind(other))),
        }
    }

    fn required_string(&mut self, key: &'static str, line_type: &str) -> Result<String, String> {
        match self.string(key)? {
            Some(text) if !text.trim().is_empty() => Ok(text),
            Some(_) => Err(format!("`{key}` is empty")),
            None => Err(format!("{} `{line_type}` line needs `{key}`", article(line_type))),
        }
    }

    fn bool(&mut self, key: &'static str) -> Result<Option<bool>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Json::Bool(flag)) => Ok(Some(*flag)),
            Some(other) => Err(format!("`{key}` must be true or false, got {}", json_kind(other))),
        }
    }

    fn timestamp(&mut self, key: &'static str) -> Result<Option<Secs>, String> {
        self.get(key).map(|value| parse_timestamp(key, value)).transpose()
    }

    fn required_timestamp(&mut self, line_type: &str) -> Result<Secs, String> {
        self.timestamp("timestamp")?.ok_or_else(|| {
            format!(
                "{} `{line_type}` line needs `timestamp` (RFC 3339 such as \"2024-03-01T10:00:00Z\", or epoch seconds or milliseconds)",
                article(line_type)
            )
        })
    }

    /// A `{name: value}` object of contact fields; `null` clears.
    fn fields(&mut self, key: &'static str) -> Result<Vec<(String, Option<Value>)>, String> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Json::Object(fields)) => {
                fields.iter().map(|(name, value)| field_value(name, value).map(|value| (name.clone(), value))).collect()
            }
            Some(other) => Err(format!("`{key}` must be an object of field names to values, got {}", json_kind(other))),
        }
    }

    /// Exactly one of `visitor_id`, `email`, `external_id`, `contact_id`.
    fn subject(&mut self, line_type: &str) -> Result<Subject, String> {
        let mut subjects = Vec::new();
        for key in ["visitor_id", "email", "external_id"] {
            if let Some(text) = self.string(key)? {
                if text.trim().is_empty() {
                    return Err(format!("`{key}` is empty"));
                }
                subjects.push(match key {
                    "visitor_id" => Subject::Visitor(text),
                    "email" => Subject::Email(text),
                    _ => Subject::ExternalId(text),
                });
            }
        }
        match self.get("contact_id") {
            None => {}
            Some(Json::Number(number)) => match number.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(id) => subjects.push(Subject::Contact(ContactId(id))),
                None => return Err(format!("`contact_id` must be a whole number from 0 to {}", u32::MAX)),
            },
            Some(other) => return Err(format!("`contact_id` must be a number, got {}", json_kind(other))),
        }
        match subjects.len() {
            1 => Ok(subjects.remove(0)),
            0 => Err(format!(
                "{} `{line_type}` line needs one of `visitor_id`, `email`, `external_id` or `contact_id`",
                article(line_type)
            )),
            _ => Err(format!(
                "{} `{line_type}` line needs exactly one of `visitor_id`, `email`, `external_id` or `contact_id`; it has {}",
                article(line_type),
                subjects.len()
            )),
        }
    }

    fn unknown_keys(&self) -> Vec<String> {
        self.object
            .keys()
            .filter(|key| !self.used.contains(key.as_str()))
            .map(|key| format!("unknown key `{key}` ignored"))
            .collect()
    }
}

/// "a" or "an" before a line type, for messages.
fn article(line_type: &str) -> &'static str {
    if line_type.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}

fn json_kind(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// A JSON field value as a core value; `null` clears.
pub fn field_value(name: &str, value: &Json) -> Result<Option<Value>, String> {
    Ok(Some(match value {
        Json::Null => return Ok(None),
        Json::String(text) => Value::Text(text.clone()),
        Json::Bool(flag) => Value::Bool(*flag),
        Json::Number(number) => match number.as_f64() {
            Some(number) if number.is_finite() => Value::Number(number),
            _ => return Err(format!("field `{name}`: {number} is not a finite number")),
        },
        Json::Array(items) => Value::List(
            items
                .iter()
                .map(|item| match item {
                    Json::String(text) => Ok(text.clone()),
                    other => Err(format!("field `{name}`: a list holds strings only, got {}", json_kind(other))),
                })
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(_) => {
            return Err(format!(
                "field `{name}`: objects are not field values; use a string, number, boolean, list of strings or null"
            ));
        }
    }))
}

/// An RFC 3339 string, or epoch seconds / milliseconds (see the module docs).
pub fn parse_timestamp(key: &str, value: &Json) -> Result<Secs, String> {
    match value {
        Json::String(text) => segscope_core::time::parse_instant(text).map_err(|err| format!("`{key}`: {}", err.message)),
        Json::Number(number) => {
            let number = number.as_f64().unwrap_or(f64::NAN);
            if !number.is_finite() || number < 0.0 {
                Err(format!("`{key}`: {number} is not a time: give epoch seconds or milliseconds, or an RFC 3339 string"))
            } else if number < MILLISECONDS_FROM {
                Ok(number.floor() as Secs)
            } else if number < MICROSECONDS_FROM {
                Ok((number / 1000.0).floor() as Secs)
            } else {
                Err(format!(
                    "`{key}`: {number} is too large for epoch milliseconds (microseconds?): give seconds or milliseconds"
                ))
            }
        }
        other => Err(format!("`{key}` must be an RFC 3339 string or an epoch number, got {}", json_kind(other))),
    }
}

/// Decodes `%XX` escapes and `+` in a URL query component; invalid escapes stay as written.
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => decoded.push(b' '),
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        decoded.push(byte);
                        index += 3;
                        continue;
                    }
                    None => decoded.push(b'%'),
                }
            }
            other => decoded.push(other),
        }
        index += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// The UTM parameters in a URL's query string.
pub fn utm_from_url(url: &str) -> Utm {
    let mut utm = Utm::default();
    let Some(query_start) = url.find('?') else { return utm };
    let query = &url[query_start + 1..];
    let query = query.split('#').next().unwrap_or("");
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        if value.trim().is_empty() {
            continue;
        }
        match percent_decode(key).to_ascii_lowercase().as_str() {
            "utm_source" => utm.source = Some(value),
            "utm_medium" => utm.medium = Some(value),
            "utm_campaign" => utm.campaign = Some(value),
            _ => {}
        }
    }
    utm
}

/// Parses one line into a payload and its warnings, or the reason it is rejected.
fn parse_line(text: &str) -> Result<(NdjsonPayload, Vec<String>), String> {
    let json: Json = serde_json::from_str(text).map_err(|err| format!("invalid JSON: {err}"))?;
    let Json::Object(object) = &json else {
        return Err(format!("a line must be a JSON object, got {}", json_kind(&json)));
    };
    let mut line = LineObject { object, used: BTreeSet::new() };
    let line_type = match line.get("type") {
        Some(Json::String(line_type)) => line_type.trim().to_owned(),
        Some(other) => return Err(format!("`type` must be a string, got {}", json_kind(other))),
        None => return Err(format!("the line has no `type`: use one of {}", LINE_TYPES.join(", "))),
    };
    let mut warnings = Vec::new();
    let payload = match line_type.as_str() {
        "contact" => {
            let email = line.string("email")?.filter(|e| !e.trim().is_empty());
            let external_id = line.string("external_id")?.filter(|e| !e.trim().is_empty());
            if email.is_none() && external_id.is_none() {
                return Err("a `contact` line needs `email` or `external_id`".to_owned());
            }
            let created_at = line.timestamp("created_at")?;
            let fields = line.fields("fields")?;
            NdjsonPayload::Contact(ContactUpsert { email, external_id, fields, created_at })
        }
        "identify" => {
            let visitor_id = line.required_string("visitor_id", "identify")?;
            let email = line.string("email")?.filter(|e| !e.trim().is_empty());
            let external_id = line.string("external_id")?.filter(|e| !e.trim().is_empty());
            if email.is_none() && external_id.is_none() {
                return Err("an `identify` line needs `email` or `external_id` besides `visitor_id`".to_owned());
            }
            let traits = line.fields("traits")?;
            let at = line.required_timestamp("identify")?;
            NdjsonPayload::Event(EventInput {
                subject: Subject::Visitor(visitor_id),
                at,
                body: EventBody::Identify(Identify { email, external_id, traits }),
            })
        }
        other => {
            let body = match other {
                "page_view" => {
                    let url = line.required_string("url", other)?;
                    let referrer = line.string("referrer")?.filter(|r| !r.trim().is_empty());
                    let from_url = utm_from_url(&url);
                    let utm = Utm {
                        source: line.string("utm_source")?.or(from_url.source),
                        medium: line.string("utm_medium")?.or(from_url.medium),
                        campaign: line.string("utm_campaign")?.or(from_url.campaign),
                    };
                    let country = match line.string("country")?.filter(|c| !c.trim().is_empty()) {
                        None => None,
                        Some(raw) => match Country::parse(&raw) {
                            Ok(country) => Some(country),
                            Err(err) => {
                                warnings.push(format!("{}; country left out", err.message));
                                None
                            }
                        },
                    };
                    let region = line.string("region")?.filter(|r| !r.trim().is_empty());
                    let city = line.string("city")?.filter(|c| !c.trim().is_empty());
                    let geo = Geo { country, region, city };
                    let bot = line.bool("bot")?.unwrap_or(false);
                    let status = match line.get("status") {
                        None => None,
                        Some(Json::Number(number)) => match number.as_u64().filter(|s| (100..=599).contains(s)) {
                            Some(status) => Some(status as u16),
                            None => return Err(format!("`status` must be an HTTP status from 100 to 599, got {number}")),
                        },
                        Some(other) => return Err(format!("`status` must be a number, got {}", json_kind(other))),
                    };
                    EventBody::PageView(PageView { url, referrer, utm, bot, status, geo: (!geo.is_empty()).then_some(geo) })
                }
                "heartbeat" | "page_leave" => {
                    // Trackers send the page's URL with these; sessions do not need it.
                    line.known("url");
                    if other == "heartbeat" { EventBody::Heartbeat } else { EventBody::PageLeave }
                }
                "email" => {
                    let raw_kind = line.required_string("kind", other)?;
                    let kind = EmailKind::parse(&raw_kind).ok_or_else(|| {
                        format!(
                            "unknown email kind `{raw_kind}`: use sent, delivered, opened, clicked, hard_bounced, soft_bounced, blocked, complained, unsubscribed, opt_in_requested or opt_in_confirmed"
                        )
                    })?;
                    let campaign = line.string("campaign")?.filter(|c| !c.trim().is_empty());
                    EventBody::Email(EmailEvent { kind, campaign })
                }
                "stage_change" => EventBody::StageChange { stage: line.required_string("stage", other)? },
                "track" => EventBody::Track { name: line.required_string("name", other)? },
                "delete" | "delete_contact" => EventBody::Delete,
                unknown => return Err(format!("unknown type `{unknown}`: use one of {}", LINE_TYPES.join(", "))),
            };
            let subject = line.subject(other)?;
            let at = line.required_timestamp(other)?;
            NdjsonPayload::Event(EventInput { subject, at, body })
        }
    };
    warnings.extend(line.unknown_keys());
    Ok((payload, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_seconds_milliseconds_strings() {
        let at = |json: &str| parse_timestamp("timestamp", &serde_json::from_str(json).unwrap());
        assert_eq!(at("1709287200"), Ok(1_709_287_200));
        assert_eq!(at("1709287200.9"), Ok(1_709_287_200));
        assert_eq!(at("1709287200123"), Ok(1_709_287_200));
        assert_eq!(at("\"2024-03-01T11:00:00+01:00\""), Ok(1_709_287_200));
        assert!(at("1709287200123456").unwrap_err().contains("microseconds"));
        assert!(at("-5").is_err());
        assert!(at("true").unwrap_err().contains("RFC 3339"));
    }

    #[test]
    fn utm_parameters_come_from_the_query() {
        let utm = utm_from_url("https://shop.example/?utm_source=news+letter&utm_medium=e%6Dail&x=1#utm_campaign=no");
        assert_eq!(utm.source.as_deref(), Some("news letter"));
        assert_eq!(utm.medium.as_deref(), Some("email"));
        assert_eq!(utm.campaign, None);
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
