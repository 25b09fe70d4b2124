//! segscope's import parsers (SPEC §3): contact CSV files as Mailchimp,
//! HubSpot, Mautic and Zoho export them, and NDJSON contacts and events.
//!
//! Every parser is a pure function from bytes to the core's inputs
//! ([`segscope_core::engine::ContactUpsert`], [`segscope_core::event::EventInput`],
//! [`segscope_core::engine::Command`]) plus located problems; this crate opens
//! no file and reads no clock. The drivers ([`apply_contact_import`],
//! [`apply_ndjson_import`]) cut the result into batches of at most
//! [`segscope_core::engine::MAX_BATCH`] items, hand each to a caller-given
//! closure (the CLI's backend, a test's in-memory workspace), and map the
//! core's per-item rejections and warnings back to record or line numbers.
//!
//! Invariants: a file-level error means nothing was produced; a rejected
//! record or line changes nothing; a file with zero valid rows is an error,
//! never "success, 0 imported".

pub mod access_log;
pub mod bounce_mail;
pub mod csv_contacts;
pub mod dates;
pub mod decode;
pub mod driver;
pub mod esp_webhook;
pub mod ndjson;
pub mod values;

use std::fmt;

pub use access_log::{
    AccessLogError, AccessLogHit, AccessLogImport, AccessLogOptions, BotDetector, SkipReason, parse_access_log, simple_bot_check,
    visitor_key,
};
pub use bounce_mail::{
    BounceMailError, BounceMailImport, BounceMessage, BounceRecipient, MailClass, MessageFormat, parse_bounce_mailbox,
    parse_bounce_message, split_mbox,
};
pub use csv_contacts::mapping::{
    ColumnMapping, ColumnTarget, ContactField, IgnoreReason, MappedColumn, MappingOrigin, TypeOrigin,
};
pub use csv_contacts::{
    ContactImport, ContactImportRow, CsvImportError, CsvImportOptions, map_header_row, parse_assignment, parse_contacts_csv,
    parse_delimiter,
};
pub use decode::{DecodeError, DecodedText, decode_text};
pub use driver::{ApplyError, ImportProgress, ImportReport, NdjsonImportReport, apply_contact_import, apply_ndjson_import};
pub use esp_webhook::{
    Provider, SignatureError, SnsEnvelope, WebhookAction, WebhookBatch, WebhookError, WebhookEvent, WebhookOptions,
    parse_webhook, parse_webhook_dump, validate_signing_cert_url, verify_mailgun_signature, verify_sendgrid_signature,
    verify_sns_signature,
};
pub use ndjson::{
    LineProblem, NdjsonBatch, NdjsonImport, NdjsonImportError, NdjsonImportOptions, NdjsonItem, NdjsonPayload, parse_ndjson,
};

/// The largest input accepted: 2 GiB. Bigger exports are split first; the
/// bound keeps one import's memory (the text and its records) within reach
/// of a small server.
pub const MAX_INPUT_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// The largest CSV field: 1 MiB. A longer one is almost always an unclosed
/// quote that swallowed the rest of the file.
pub const MAX_FIELD_BYTES: usize = 1024 * 1024;

/// The longest NDJSON line: 1 MiB.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// The batch size the drivers use unless told otherwise: small enough for
/// steady progress, far below [`segscope_core::engine::MAX_BATCH`].
pub const DEFAULT_BATCH_SIZE: usize = 5_000;

/// Size bounds of one import; tests lower them to exercise the errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputLimits {
    pub max_input_bytes: u64,
    pub max_field_bytes: usize,
    pub max_line_bytes: usize,
}

impl Default for InputLimits {
    fn default() -> Self {
        InputLimits { max_input_bytes: MAX_INPUT_BYTES, max_field_bytes: MAX_FIELD_BYTES, max_line_bytes: MAX_LINE_BYTES }
    }
}

/// An import keeps at most this many problems (the first found); past it,
/// only their numbers ([`OmittedProblems`]). A file of millions of bad lines
/// must not take the server's memory, and nobody reads the millionth
/// "invalid JSON": the counts (`skipped`) stay exact.
pub const MAX_KEPT_PROBLEMS: usize = 1_000;

/// Problems counted but not kept, past [`MAX_KEPT_PROBLEMS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OmittedProblems {
    pub rejected: usize,
    pub repaired: usize,
}

impl OmittedProblems {
    pub fn total(&self) -> usize {
        self.rejected + self.repaired
    }
}

/// Keeps `problem` while fewer than [`MAX_KEPT_PROBLEMS`] are kept, else counts it.
pub(crate) fn keep_problem<T>(kept: &mut Vec<T>, omitted: &mut OmittedProblems, severity: ProblemSeverity, problem: T) {
    if kept.len() < MAX_KEPT_PROBLEMS {
        kept.push(problem);
    } else {
        match severity {
            ProblemSeverity::Rejected => omitted.rejected += 1,
            ProblemSeverity::Repaired => omitted.repaired += 1,
        }
    }
}

/// Appends a later part's problems (and its count of omitted ones) after
/// `kept`: as in one pass, the cap keeps the first problems in order and
/// counts the rest. For the inputs parsed in parts.
pub(crate) fn append_problems<T>(
    kept: &mut Vec<T>,
    omitted: &mut OmittedProblems,
    later: Vec<T>,
    later_omitted: OmittedProblems,
    severity: impl Fn(&T) -> ProblemSeverity,
) {
    for problem in later {
        let problem_severity = severity(&problem);
        keep_problem(kept, omitted, problem_severity, problem);
    }
    omitted.rejected += later_omitted.rejected;
    omitted.repaired += later_omitted.repaired;
}

/// What happened to a record or line with a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProblemSeverity {
    /// Nothing of it was imported.
    Rejected,
    /// Imported with the named value left out.
    Repaired,
}

/// A rejected or repaired CSV record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordProblem {
    /// 1-based data record number (the header is not a record).
    pub record: usize,
    /// 1-based line where the record starts.
    pub line: u64,
    pub severity: ProblemSeverity,
    /// The header of the column at fault, when one is.
    pub column: Option<String>,
    pub message: String,
}

impl fmt::Display for RecordProblem {
    /// `record 3 (line 4), column `signup_date`: …`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record {} (line {})", self.record, self.line)?;
        if let Some(column) = &self.column {
            write!(f, ", column `{column}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// `1.5 KiB`, `2 GiB`: sizes in limits' messages.
pub(crate) fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else if value.fract() == 0.0 {
        format!("{value} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
