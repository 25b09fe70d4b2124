//! Web server access logs (SPEC §3) as page views: Apache / Nginx "common"
//! and "combined" formats, with or without a leading virtual host, plain or
//! gzip-compressed (detected by its magic bytes, never by the file name).
//!
//! A line becomes a page view only when a person plausibly looked at a page:
//! a GET of a non-asset path answered 2xx or 304, by a client that is
//! not a bot. Every other well-formed line is counted under its
//! [`SkipReason`]; every malformed line is a [`LineProblem`] with its line
//! number. Lines may be in any order: the core orders events by time.
//!
//! Access logs carry no cookie, so the visitor key is derived from the client
//! address and the user agent (see [`visitor_key`] and `docs/ingestion.md`):
//! the raw IP never becomes part of a stored id. The IP stays on the parsed
//! [`AccessLogHit`] so that the caller can derive geography (the event model
//! keeps only [`segscope_core::model::Geo`]) before recording.

use std::io::Read;
use std::net::IpAddr;

use segscope_core::event::{EventBody, EventInput, PageView, Subject};
use segscope_core::time::Secs;
use sha2::{Digest, Sha256};

use crate::ndjson::{LineProblem, NdjsonImport, NdjsonItem, NdjsonPayload, utm_from_url};
use crate::{InputLimits, ProblemSeverity, format_size};

/// Path extensions of static assets: a hit on one is not a page view.
pub const STATIC_EXTENSIONS: &[&str] = &[
    "css", "js", "mjs", "map", "png", "jpg", "jpeg", "gif", "svg", "svgz", "ico", "webp", "avif", "bmp", "tif", "tiff", "woff",
    "woff2", "ttf", "otf", "eot", "mp3", "mp4", "m4a", "m4v", "webm", "ogg", "ogv", "wav", "flac", "avi", "mov", "flv", "swf",
    "pdf", "zip", "gz", "tgz", "bz2", "xz", "7z", "rar", "tar", "exe", "dmg", "iso", "deb", "rpm", "msi", "apk", "txt", "xml",
    "rss", "atom", "json", "csv", "wasm",
];

/// How many hex digits of the SHA-256 a derived visitor key keeps: 64 bits,
/// enough that two visitors of one site practically never collide.
pub const VISITOR_KEY_HEX_DIGITS: usize = 16;

/// The prefix of derived visitor keys, so they never clash with cookie ids.
pub const VISITOR_KEY_PREFIX: &str = "ip:";

/// How an access log is read.
#[derive(Debug, Clone, Default)]
pub struct AccessLogOptions {
    pub limits: InputLimits,
    /// A secret mixed into derived visitor keys (per workspace). Without it a
    /// key can be matched against guessed IP + user-agent pairs; with it, not.
    pub visitor_key_salt: String,
    /// A cookie whose value is the visitor id when the log has a cookie
    /// column (a quoted field after the user agent, `name=value; …`).
    pub visitor_cookie: Option<String>,
    /// Put before every path to make an absolute URL (`https://www.example.com`).
    pub url_prefix: Option<String>,
}

/// Decides whether a user agent is a bot. The real classifier (uap-core and
/// a crawler list) lives in the enrichment code; [`simple_bot_check`] is a
/// fallback. Any `Fn(&str) -> bool` is one.
pub trait BotDetector {
    fn is_bot(&self, user_agent: &str) -> bool;
}

impl<F: Fn(&str) -> bool> BotDetector for F {
    fn is_bot(&self, user_agent: &str) -> bool {
        self(user_agent)
    }
}

/// Words that only bots, crawlers and scripted clients put in a user agent.
const BOT_WORDS: &[&str] = &[
    "bot",
    "crawl",
    "spider",
    "slurp",
    "scrape",
    "fetch",
    "feed",
    "monitor",
    "curl/",
    "wget/",
    "python",
    "java/",
    "libwww",
    "httpclient",
    "okhttp",
    "go-http-client",
    "headless",
    "phantomjs",
    "lighthouse",
    "pingdom",
    "uptime",
    "check_http",
    "nagios",
    "zgrab",
    "masscan",
    "nmap",
    "nikto",
    "sqlmap",
    "facebookexternalhit",
    "preview",
    "archive",
    "ruby",
    "perl",
    "php/",
];

/// A small fallback bot check: an empty user agent, or one containing a word
/// of [`BOT_WORDS`] (case-insensitive). The enrichment crate's classifier is
/// better; this keeps imports without it from counting obvious robots.
pub fn simple_bot_check(user_agent: &str) -> bool {
    let lowered = user_agent.trim().to_ascii_lowercase();
    lowered.is_empty() || lowered == "-" || BOT_WORDS.iter().any(|word| lowered.contains(word))
}

/// Why a well-formed line made no page view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// The request was `-` or not `METHOD target PROTOCOL` (probes, timeouts).
    NoRequest,
    /// Not GET: HEAD comes from uptime checkers and link validators, which
    /// fetch no page for anybody to read (field case F15).
    Method,
    /// 1xx, 4xx or 5xx.
    ErrorStatus,
    /// 3xx other than 304: the page it leads to is logged by itself.
    Redirect,
    /// A path with an extension of [`STATIC_EXTENSIONS`].
    StaticAsset,
    /// The user agent is a bot's.
    Bot,
}

impl SkipReason {
    pub const ALL: [SkipReason; 6] = [
        SkipReason::NoRequest,
        SkipReason::Method,
        SkipReason::ErrorStatus,
        SkipReason::Redirect,
        SkipReason::StaticAsset,
        SkipReason::Bot,
    ];

    pub fn key(self) -> &'static str {
        match self {
            SkipReason::NoRequest => "no_request",
            SkipReason::Method => "method",
            SkipReason::ErrorStatus => "error_status",
            SkipReason::Redirect => "redirect",
            SkipReason::StaticAsset => "static_asset",
            SkipReason::Bot => "bot",
        }
    }
}

/// Well-formed lines that made no page view, per reason (the first reason
/// that applies, in [`SkipReason::ALL`] order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SkipCounts {
    counts: [usize; 6],
}

impl SkipCounts {
    pub fn get(&self, reason: SkipReason) -> usize {
        self.counts[reason as usize]
    }

    pub fn total(&self) -> usize {
        self.counts.iter().sum()
    }

    fn add(&mut self, reason: SkipReason) {
        self.counts[reason as usize] += 1;
    }
}

/// The layout a line was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineFormat {
    /// `host ident user [time] "request" status bytes`
    Common,
    /// Common plus `"referrer" "user agent"` (and any trailing fields).
    Combined,
}

/// One page view from the log, with what the caller may still enrich.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessLogHit {
    /// 1-based line number.
    pub line: usize,
    /// The client address, when the log has an IP (not a resolved host name).
    /// For GeoIP enrichment before recording; never stored by the core.
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// The virtual host of `vhost_combined`-style lines.
    pub vhost: Option<String>,
    /// The UTC offset the line was written with, in seconds.
    pub utc_offset_seconds: i32,
    pub format: LineFormat,
    /// A page view of [`Subject::Visitor`] (cookie id or [`visitor_key`]).
    pub event: EventInput,
}

impl AccessLogHit {
    /// The page view, to set its geography after a GeoIP lookup.
    pub fn page_view_mut(&mut self) -> &mut PageView {
        match &mut self.event.body {
            EventBody::PageView(page_view) => page_view,
            _ => unreachable!("an access-log hit is always a page view"),
        }
    }
}

/// The input was gzip and ended before the end of its stream: what was
/// decompressed up to there is kept (without the cut last line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruncatedInput {
    /// Complete lines read before the cut.
    pub lines_read: usize,
    pub message: String,
}

/// A parsed access log.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessLogImport {
    /// Page views, in line order.
    pub hits: Vec<AccessLogHit>,
    /// Malformed lines (rejected) and lines with replaced bytes (repaired), by line.
    pub problems: Vec<LineProblem>,
    pub skipped: SkipCounts,
    /// Non-blank lines, comments (`#…`) excepted.
    pub n_lines: usize,
    /// Lines starting with `#` (headers some servers and tools write): skipped.
    pub n_comment_lines: usize,
    /// Lines that parsed as common or combined format.
    pub n_parsed: usize,
    pub was_gzip: bool,
    pub truncated: Option<TruncatedInput>,
}

impl AccessLogImport {
    /// The page views as an event import for [`crate::apply_ndjson_import`],
    /// keeping the log's line numbers.
    pub fn into_event_import(self) -> NdjsonImport {
        NdjsonImport {
            items: self
                .hits
                .into_iter()
                .map(|hit| NdjsonItem { line: hit.line, payload: NdjsonPayload::Event(hit.event) })
                .collect(),
            problems: self.problems,
            omitted: crate::OmittedProblems::default(),
            n_lines: self.n_lines,
        }
    }
}

/// Why an access log could not be read at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AccessLogError {
    #[error("the input is {}, more than the limit of {}: split it into smaller files", format_size(*size), format_size(*limit))]
    InputTooLarge { size: u64, limit: u64 },
    #[error("the gzip input cannot be read ({message}); no line was read")]
    BadGzip { message: String },
    #[error("nothing to import: {reason}")]
    NoValidLines { reason: String, problems: Vec<LineProblem> },
}

/// The derived visitor key of a client without a cookie:
/// `ip:` + the first [`VISITOR_KEY_HEX_DIGITS`] hex digits of
/// `SHA-256(salt "|" client "|" user_agent)`. The same client and browser
/// get the same key in every import; the address itself is not recoverable
/// from it (short of guessing it, which the salt prevents).
pub fn visitor_key(salt: &str, client: &str, user_agent: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(b"|");
    hasher.update(client.as_bytes());
    hasher.update(b"|");
    hasher.update(user_agent.as_bytes());
    let digest = hex::encode(hasher.finalize());
    format!("{VISITOR_KEY_PREFIX}{}", &digest[..VISITOR_KEY_HEX_DIGITS])
}

/// Parses an access log, plain or gzip. Fails as a whole only when the input
/// is too large, is gzip that yields nothing, or has no well-formed line.
pub fn parse_access_log(
    bytes: &[u8],
    options: &AccessLogOptions,
    bots: &dyn BotDetector,
) -> Result<AccessLogImport, AccessLogError> {
    let limit = options.limits.max_input_bytes;
    if bytes.len() as u64 > limit {
        return Err(AccessLogError::InputTooLarge { size: bytes.len() as u64, limit });
    }
    let was_gzip = bytes.starts_with(&[0x1f, 0x8b]);
    let mut gzip_error = None;
    let decompressed;
    let text: &[u8] = if was_gzip {
        let mut out = Vec::new();
        // Several members are one stream (as `cat a.gz b.gz` makes); `take`
        // bounds what a small but very compressible file can expand to.
        let mut decoder = flate2::read::MultiGzDecoder::new(bytes).take(limit + 1);
        if let Err(err) = decoder.read_to_end(&mut out) {
            gzip_error = Some(err.to_string());
        }
        if out.len() as u64 > limit {
            return Err(AccessLogError::InputTooLarge { size: out.len() as u64, limit });
        }
        if gzip_error.is_some() {
            if out.is_empty() {
                return Err(AccessLogError::BadGzip { message: gzip_error.unwrap_or_default() });
            }
            // The last line was probably cut in the middle: drop it.
            let keep = out.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
            out.truncate(keep);
        }
        decompressed = out;
        &decompressed
    } else {
        bytes
    };

    let mut import = AccessLogImport {
        hits: Vec::new(),
        problems: Vec::new(),
        skipped: SkipCounts::default(),
        n_lines: 0,
        n_comment_lines: 0,
        n_parsed: 0,
        was_gzip,
        truncated: None,
    };
    let mut lines_read = 0;
    for (index, raw_line) in text.split(|b| *b == b'\n').enumerate() {
        let line = index + 1;
        let raw_line = raw_line.strip_suffix(b"\r").unwrap_or(raw_line);
        if raw_line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        lines_read = line;
        if raw_line.first() == Some(&b'#') {
            import.n_comment_lines += 1;
            continue;
        }
        import.n_lines += 1;
        let reject = |message: String| LineProblem { line, severity: ProblemSeverity::Rejected, message };
        if raw_line.len() > options.limits.max_line_bytes {
            import.problems.push(reject(format!(
                "the line is {}, longer than the limit of {}",
                format_size(raw_line.len() as u64),
                format_size(options.limits.max_line_bytes as u64)
            )));
            continue;
        }
        let text = String::from_utf8_lossy(raw_line);
        let parsed = match parse_line(&text) {
            Ok(parsed) => parsed,
            Err(message) => {
                import.problems.push(reject(message));
                continue;
            }
        };
        import.n_parsed += 1;
        if parsed.unclosed_quote {
            import.problems.push(LineProblem {
                line,
                severity: ProblemSeverity::Repaired,
                message: "the last quoted field has no closing quote (a cut line?): read to the end of the line".to_owned(),
            });
        }
        if matches!(text, std::borrow::Cow::Owned(_)) {
            import.problems.push(LineProblem {
                line,
                severity: ProblemSeverity::Repaired,
                message: "the line is not valid UTF-8: invalid bytes were replaced by U+FFFD".to_owned(),
            });
        }
        match page_view_of(parsed, line, options, bots) {
            Ok(hit) => import.hits.push(hit),
            Err(reason) => import.skipped.add(reason),
        }
    }
    if let Some(message) = gzip_error {
        import.truncated = Some(TruncatedInput { lines_read, message: message.clone() });
        import.problems.push(LineProblem {
            line: lines_read + 1,
            severity: ProblemSeverity::Rejected,
            message: format!(
                "the gzip input is truncated or corrupt ({message}): {lines_read} lines were read and kept, the rest is lost"
            ),
        });
    }
    if import.n_parsed == 0 {
        let reason = if import.n_lines == 0 {
            "the input has no lines".to_owned()
        } else {
            let first: Vec<String> = import.problems.iter().take(3).map(LineProblem::to_string).collect();
            format!("none of the {} lines is in Apache/Nginx common or combined format: {}", import.n_lines, first.join("; "))
        };
        return Err(AccessLogError::NoValidLines { reason, problems: import.problems });
    }
    Ok(import)
}

/// The fields of one well-formed line.
#[derive(Debug, PartialEq)]
struct ParsedLine<'a> {
    vhost: Option<&'a str>,
    client: &'a str,
    at: Secs,
    utc_offset_seconds: i32,
    request: String,
    status: u16,
    referrer: Option<String>,
    user_agent: Option<String>,
    /// Quoted fields after the user agent (a cookie header, for one).
    extra_quoted: Vec<String>,
    format: LineFormat,
    /// The last quoted field had no closing quote.
    unclosed_quote: bool,
}

#[derive(Debug, PartialEq)]
enum Token<'a> {
    Bare(&'a str),
    Bracketed(&'a str),
    Quoted(String),
    /// A quoted field running to the end of the line.
    Unclosed(String),
}

/// Splits a line into bare words, `[bracketed]` and `"quoted"` fields
/// (backslash escapes inside quotes as Apache and Nginx write them).
fn tokenize(text: &str) -> Result<Vec<Token<'_>>, String> {
    let mut tokens = Vec::new();
    let bytes = text.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b' ' | b'\t' => index += 1,
            b'[' => {
                let end = text[index..].find(']').ok_or("a `[` is never closed")? + index;
                tokens.push(Token::Bracketed(&text[index + 1..end]));
                index = end + 1;
            }
            b'"' => {
                let mut value = String::new();
                let mut chars = text[index + 1..].char_indices();
                let mut closed = None;
                while let Some((offset, c)) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some((_, escaped @ ('"' | '\\'))) => value.push(escaped),
                            Some((_, other)) => {
                                value.push('\\');
                                value.push(other);
                            }
                            None => value.push('\\'),
                        },
                        '"' => {
                            closed = Some(index + 1 + offset);
                            break;
                        }
                        other => value.push(other),
                    }
                }
                match closed {
                    Some(end) => {
                        tokens.push(Token::Quoted(value));
                        index = end + 1;
                    }
                    // A line cut inside its last field (seen in real logs):
                    // keep the value, the caller reports the repair.
                    None => {
                        tokens.push(Token::Unclosed(value));
                        break;
                    }
                }
            }
            _ => {
                let end = text[index..].find([' ', '\t']).map_or(text.len(), |p| p + index);
                tokens.push(Token::Bare(&text[index..end]));
                index = end;
            }
        }
    }
    Ok(tokens)
}

/// `10/Feb/2012:16:42:07 -0500` → (UTC seconds, offset seconds).
fn parse_log_time(raw: &str) -> Result<(Secs, i32), String> {
    let parsed = jiff::fmt::strtime::parse("%d/%b/%Y:%H:%M:%S %z", raw.trim())
        .map_err(|_| format!("`[{raw}]` is not a time like `[10/Feb/2012:16:42:07 -0500]`"))?;
    let offset = parsed.offset().ok_or_else(|| format!("`[{raw}]` has no UTC offset"))?;
    let timestamp = parsed.to_timestamp().map_err(|err| format!("`[{raw}]` is not a valid time: {err}"))?;
    Ok((timestamp.as_second(), offset.seconds()))
}

fn looks_like_host(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= 255
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'-' | b'_' | b'%' | b'[' | b']'))
}

fn optional_text(value: &str) -> Option<String> {
    let trimmed = value.trim();
    (!trimmed.is_empty() && trimmed != "-").then(|| trimmed.to_owned())
}

fn parse_line(text: &str) -> Result<ParsedLine<'_>, String> {
    let mut tokens = tokenize(text)?;
    let mut unclosed_quote = false;
    if let Some(Token::Unclosed(value)) = tokens.last_mut() {
        let value = std::mem::take(value);
        tokens.pop();
        tokens.push(Token::Quoted(value));
        unclosed_quote = true;
    }
    let time_index = tokens
        .iter()
        .position(|t| matches!(t, Token::Bracketed(_)))
        .ok_or("no `[time]` field: not in Apache/Nginx common or combined format")?;
    let vhost = match time_index {
        3 => None,
        4 => match &tokens[0] {
            Token::Bare(host) if looks_like_host(host) => Some(*host),
            _ => return Err("the field before the client is not a virtual host".to_owned()),
        },
        _ => {
            return Err(format!(
                "expected `client ident user [time]` (optionally after a virtual host), found {time_index} fields before `[time]`"
            ));
        }
    };
    let client = match &tokens[time_index - 3] {
        Token::Bare(client) if looks_like_host(client) => *client,
        _ => return Err("the client field is not an IP address or host name".to_owned()),
    };
    let Token::Bracketed(raw_time) = &tokens[time_index] else { unreachable!() };
    let (at, utc_offset_seconds) = parse_log_time(raw_time)?;
    let request = match tokens.get(time_index + 1) {
        Some(Token::Quoted(request)) => request.clone(),
        _ => return Err("no quoted `\"request\"` after the time".to_owned()),
    };
    let status = match tokens.get(time_index + 2) {
        Some(Token::Bare(status)) => status
            .parse::<u16>()
            .ok()
            .filter(|s| (100..=599).contains(s))
            .ok_or_else(|| format!("`{status}` is not an HTTP status"))?,
        _ => return Err("no status after the request".to_owned()),
    };
    match tokens.get(time_index + 3) {
        Some(Token::Bare(size)) if *size == "-" || size.bytes().all(|b| b.is_ascii_digit()) => {}
        Some(_) => return Err("the response size is not a number or `-`".to_owned()),
        None => return Err("no response size after the status".to_owned()),
    }
    let rest = &tokens[time_index + 4..];
    let (referrer, user_agent, format, extra_quoted) = match rest {
        [] => (None, None, LineFormat::Common, Vec::new()),
        [Token::Quoted(referrer), Token::Quoted(user_agent), extra @ ..] => {
            let extra_quoted = extra
                .iter()
                .filter_map(|t| match t {
                    Token::Quoted(value) => Some(value.clone()),
                    _ => None,
                })
                .collect();
            (optional_text(referrer), optional_text(user_agent), LineFormat::Combined, extra_quoted)
        }
        _ => return Err("after the size, expected nothing (common) or `\"referrer\" \"user agent\"` (combined)".to_owned()),
    };
    // Only the user agent (or a later field) may be cut: an earlier cut
    // leaves no recognisable line.
    if unclosed_quote && rest.len() < 2 {
        return Err("a quoted field is never closed".to_owned());
    }
    Ok(ParsedLine {
        vhost,
        client,
        at,
        utc_offset_seconds,
        request,
        status,
        referrer,
        user_agent,
        extra_quoted,
        format,
        unclosed_quote,
    })
}

fn is_static_asset(target: &str) -> bool {
    let path = target.split(['?', '#']).next().unwrap_or("");
    let last_segment = path.rsplit('/').next().unwrap_or("");
    match last_segment.rsplit_once('.') {
        Some((_, extension)) => {
            let extension = extension.to_ascii_lowercase();
            STATIC_EXTENSIONS.contains(&extension.as_str())
        }
        None => false,
    }
}

fn cookie_value(cookie_header: &str, name: &str) -> Option<String> {
    cookie_header.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key.trim() == name).then(|| value.trim().trim_matches('"').to_owned()).filter(|v| !v.is_empty())
    })
}

fn page_view_of(
    parsed: ParsedLine<'_>,
    line: usize,
    options: &AccessLogOptions,
    bots: &dyn BotDetector,
) -> Result<AccessLogHit, SkipReason> {
    let mut parts = parsed.request.split(' ').filter(|p| !p.is_empty());
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else { return Err(SkipReason::NoRequest) };
    if !method.bytes().all(|b| b.is_ascii_uppercase()) || !(target.starts_with('/') || target.contains("://")) {
        return Err(SkipReason::NoRequest);
    }
    if method != "GET" {
        return Err(SkipReason::Method);
    }
    match parsed.status {
        200..=299 | 304 => {}
        300..=399 => return Err(SkipReason::Redirect),
        _ => return Err(SkipReason::ErrorStatus),
    }
    if is_static_asset(target) {
        return Err(SkipReason::StaticAsset);
    }
    let user_agent = parsed.user_agent.clone().unwrap_or_default();
    // The common format has no user-agent field: nothing to judge a bot by.
    if parsed.format == LineFormat::Combined && bots.is_bot(&user_agent) {
        return Err(SkipReason::Bot);
    }
    let cookie_visitor = options
        .visitor_cookie
        .as_deref()
        .and_then(|name| parsed.extra_quoted.iter().find_map(|header| cookie_value(header, name)));
    let visitor = cookie_visitor.unwrap_or_else(|| visitor_key(&options.visitor_key_salt, parsed.client, &user_agent));
    let url = match &options.url_prefix {
        Some(prefix) if target.starts_with('/') => format!("{}{target}", prefix.trim_end_matches('/')),
        _ => target.to_owned(),
    };
    let utm = utm_from_url(&url);
    let ip = parsed.client.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok();
    let page_view = PageView { url, referrer: parsed.referrer, utm, bot: false, status: Some(parsed.status), geo: None };
    Ok(AccessLogHit {
        line,
        ip,
        user_agent: parsed.user_agent,
        vhost: parsed.vhost.map(str::to_owned),
        utc_offset_seconds: parsed.utc_offset_seconds,
        format: parsed.format,
        event: EventInput { subject: Subject::Visitor(visitor), at: parsed.at, body: EventBody::PageView(page_view) },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";

    fn parse(text: &str) -> AccessLogImport {
        parse_access_log(text.as_bytes(), &AccessLogOptions::default(), &simple_bot_check).unwrap()
    }

    #[test]
    fn combined_line_with_offset_and_utm() {
        let line = format!(
            r#"1.2.3.4 - - [10/Feb/2012:16:42:07 -0500] "GET /pricing?utm_source=news&utm_medium=email HTTP/1.1" 200 368 "https://google.com/" "{CHROME}""#
        );
        let import = parse(&line);
        assert_eq!(import.hits.len(), 1);
        let hit = &import.hits[0];
        assert_eq!(hit.event.at, 1_328_910_127); // 21:42:07 UTC
        assert_eq!(hit.utc_offset_seconds, -5 * 3600);
        assert_eq!(hit.ip, Some("1.2.3.4".parse().unwrap()));
        assert_eq!(hit.format, LineFormat::Combined);
        let EventBody::PageView(view) = &hit.event.body else { panic!() };
        assert_eq!(view.url, "/pricing?utm_source=news&utm_medium=email");
        assert_eq!(view.utm.source.as_deref(), Some("news"));
        assert_eq!(view.referrer.as_deref(), Some("https://google.com/"));
        assert_eq!(hit.event.subject, Subject::Visitor(visitor_key("", "1.2.3.4", CHROME)));
    }

    #[test]
    fn visitor_keys_hide_the_address_and_depend_on_salt_and_agent() {
        let key = visitor_key("", "2001:db8::1", CHROME);
        assert!(key.starts_with("ip:") && key.len() == 3 + VISITOR_KEY_HEX_DIGITS);
        assert!(!key.contains("2001"));
        assert_ne!(key, visitor_key("salt", "2001:db8::1", CHROME));
        assert_ne!(key, visitor_key("", "2001:db8::1", "curl/8"));
        assert_eq!(key, visitor_key("", "2001:db8::1", CHROME));
    }

    #[test]
    fn skip_reasons_are_counted() {
        let lines = [
            format!(r#"1.1.1.1 - - [10/Feb/2012:16:42:07 +0000] "POST /form HTTP/1.1" 200 1 "-" "{CHROME}""#),
            format!(r#"1.1.1.1 - - [10/Feb/2012:16:42:07 +0000] "GET /missing HTTP/1.1" 404 1 "-" "{CHROME}""#),
            format!(r#"1.1.1.1 - - [10/Feb/2012:16:42:07 +0000] "GET /old HTTP/1.1" 301 1 "-" "{CHROME}""#),
            format!(r#"1.1.1.1 - - [10/Feb/2012:16:42:07 +0000] "GET /a/logo.PNG?v=2 HTTP/1.1" 200 1 "-" "{CHROME}""#),
            r#"1.1.1.1 - - [10/Feb/2012:16:42:07 +0000] "GET / HTTP/1.1" 200 1 "-" "Googlebot/2.1""#.to_owned(),
            r#"1.1.1.1 - - [10/Feb/2012:16:42:07 +0000] "-" 408 0 "-" "-""#.to_owned(),
            format!(r#"1.1.1.1 - - [10/Feb/2012:16:42:07 +0000] "GET /cached HTTP/1.1" 304 0 "-" "{CHROME}""#),
            "garbage".to_owned(),
        ];
        let import = parse(&lines.join("\n"));
        assert_eq!(import.hits.len(), 1);
        assert_eq!(import.hits[0].line, 7);
        for reason in SkipReason::ALL {
            assert_eq!(import.skipped.get(reason), 1, "{reason:?}");
        }
        assert_eq!(import.problems.len(), 1);
        assert_eq!(import.problems[0].line, 8);
    }

    #[test]
    fn common_vhost_ipv6_and_escaped_quotes() {
        let import = parse(concat!(
            "www.example.com 2001:41d0:8:f69::1 - bob [29/Oct/2015:06:47:36 +0100] \"GET / HTTP/1.1\" 200 20526\n",
            "::1 - - [29/Oct/2015:06:47:36 +0100] \"GET /q?\\\"x\\\" HTTP/1.1\" 200 - \"-\" \"Mozilla/5.0 \\\"odd\\\"\" \"extra\" 0.003\n",
        ));
        assert_eq!(import.hits.len(), 2, "{:?}", import.problems);
        assert_eq!(import.hits[0].vhost.as_deref(), Some("www.example.com"));
        assert_eq!(import.hits[0].ip, Some("2001:41d0:8:f69::1".parse().unwrap()));
        assert_eq!(import.hits[0].format, LineFormat::Common);
        assert_eq!(import.hits[1].user_agent.as_deref(), Some("Mozilla/5.0 \"odd\""));
    }

    #[test]
    fn visitor_cookie_wins_over_the_derived_key() {
        let line = format!(r#"1.2.3.4 - - [10/Feb/2012:16:42:07 +0000] "GET / HTTP/1.1" 200 1 "-" "{CHROME}" "a=1; vid=abc123""#);
        let options = AccessLogOptions { visitor_cookie: Some("vid".into()), ..AccessLogOptions::default() };
        let import = parse_access_log(line.as_bytes(), &options, &|_: &str| false).unwrap();
        assert_eq!(import.hits[0].event.subject, Subject::Visitor("abc123".into()));
    }

    #[test]
    fn truncated_gzip_keeps_complete_lines() {
        use std::io::Write;
        let mut text = String::new();
        for i in 0..2000 {
            text.push_str(&format!(
                r#"10.0.{}.{} - - [10/Feb/2012:16:42:07 +0000] "GET /p{i} HTTP/1.1" 200 1 "-" "{CHROME}""#,
                i / 256,
                i % 256
            ));
            text.push('\n');
        }
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(text.as_bytes()).unwrap();
        let gz = encoder.finish().unwrap();
        let whole = parse_access_log(&gz, &AccessLogOptions::default(), &simple_bot_check).unwrap();
        assert!(whole.was_gzip && whole.truncated.is_none());
        assert_eq!(whole.hits.len(), 2000);
        let cut = parse_access_log(&gz[..gz.len() / 2], &AccessLogOptions::default(), &simple_bot_check).unwrap();
        let truncated = cut.truncated.as_ref().expect("truncation reported");
        assert!(truncated.lines_read > 0 && truncated.lines_read < 2000);
        assert_eq!(cut.hits.len(), truncated.lines_read);
        assert!(cut.problems.last().unwrap().message.contains("lines were read and kept"));
        assert!(matches!(
            parse_access_log(&gz[..10], &AccessLogOptions::default(), &simple_bot_check),
            Err(AccessLogError::BadGzip { .. })
        ));
    }

    #[test]
    fn garbage_is_reported_not_fatal_unless_nothing_parses() {
        let err = parse_access_log(b"\x00\xff\xfe garbage\n[unclosed\n", &AccessLogOptions::default(), &simple_bot_check);
        match err {
            Err(AccessLogError::NoValidLines { problems, .. }) => assert_eq!(problems.len(), 2),
            other => panic!("{other:?}"),
        }
    }
}
