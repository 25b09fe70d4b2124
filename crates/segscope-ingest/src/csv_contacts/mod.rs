//! Contact CSV import (SPEC §3): bytes in, [`ContactUpsert`]s out, with every
//! rejected or repaired record located by record number and line.
//!
//! The steps: check the size, decode ([`crate::decode`]), find the delimiter,
//! read records with the `csv` crate (quotes, embedded newlines), map the
//! header ([`mapping`]), then turn each record into an upsert. A record
//! without a usable identity is rejected; a bad value in any other column is
//! left out with a warning and the record is kept. Cells are trimmed, and an
//! empty cell sets nothing, so re-importing a file with fewer values never
//! erases data (to clear a field, use the NDJSON import with `null`).

pub mod delimiter;
pub mod mapping;

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use segscope_core::backend::SchemaSnapshot;
use segscope_core::email::Email;
use segscope_core::engine::ContactUpsert;
use segscope_core::model::{AttrType, Value};

use crate::dates::{DateOrder, DateProblem, ParsedDate, infer_column_order, order_evidence};
use crate::decode::{DecodeError, decode_text};
use crate::values::{parse_bool, parse_list, parse_number, parse_source};
use crate::{InputLimits, ProblemSeverity, RecordProblem, format_size};
use delimiter::{delimiter_name, detect_delimiter};
use mapping::{ColumnMapping, ColumnTarget, ContactField, map_columns, quote_list};

/// How many rejected records a "no valid rows" error quotes.
const MAX_QUOTED_REJECTIONS: usize = 5;

/// What the user chose for a CSV import; everything is optional.
#[derive(Debug, Clone, Default)]
pub struct CsvImportOptions {
    /// An encoding label (`windows-1252`, `latin1`, `utf-16le`, …); a byte-order mark wins over it.
    pub encoding: Option<String>,
    /// The delimiter; detected among `,` `;` tab `|` when absent.
    pub delimiter: Option<u8>,
    /// `(header, target)` pairs from `--map "Header=target"`.
    pub column_map: Vec<(String, String)>,
    /// Headers from `--ignore`.
    pub ignore_columns: Vec<String>,
    /// `(attribute or header, type)` pairs from `--type signup_date=date`.
    pub column_types: Vec<(String, String)>,
    /// The day/month order of dates: `DD/MM/YYYY`, `MM/DD/YYYY`, `YYYY/MM/DD`.
    pub date_format: Option<String>,
    /// The IANA time zone of date-times without an offset (default UTC).
    pub time_zone: Option<String>,
    pub limits: InputLimits,
}

/// Why a CSV file could not be imported at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CsvImportError {
    #[error("the file is {}, more than the limit of {}: split it into smaller files", format_size(*size), format_size(*limit))]
    InputTooLarge { size: u64, limit: u64 },
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("the file is empty: a contact CSV needs a header row and at least one record")]
    Empty,
    #[error("invalid {option}: {message}")]
    BadOption { option: &'static str, message: String },
    #[error(
        "field {column} of record {record} (line {line}) is larger than {}: an unclosed quote probably swallowed the rest of the file; check the quotes around line {line}",
        format_size(*limit as u64)
    )]
    FieldTooLarge { record: usize, line: u64, column: usize, limit: usize },
    #[error(
        "columns `{first_column}` and `{second_column}` both map to {target}: keep one with --ignore or map one elsewhere with --map"
    )]
    DuplicateTarget { target: String, first_column: String, second_column: String },
    #[error("the file is gzip-compressed but cannot be decompressed ({message}): check that the download or copy is complete")]
    BadGzip { message: String },
    #[error("the CSV could not be read at line {line}: {message}")]
    Unreadable { line: u64, message: String },
    #[error("nothing to import: {reason}")]
    NoValidRows {
        reason: String,
        /// Every rejected record, for the full report (up to the cap).
        problems: Vec<RecordProblem>,
        /// Problems past [`crate::MAX_KEPT_PROBLEMS`], counted.
        omitted: crate::OmittedProblems,
    },
}

/// One record ready to upsert.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactImportRow {
    /// 1-based data record number (the header is not a record).
    pub record: usize,
    /// 1-based line where the record starts.
    pub line: u64,
    pub upsert: ContactUpsert,
}

/// A parsed contact CSV: what was understood, the rows to apply and the problems.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactImport {
    /// The encoding used (`UTF-8`, `UTF-16LE`, `windows-1252`, …).
    pub encoding_name: &'static str,
    pub had_byte_order_mark: bool,
    pub delimiter: u8,
    /// False when the delimiter was given.
    pub delimiter_detected: bool,
    pub mapping: ColumnMapping,
    pub rows: Vec<ContactImportRow>,
    /// Rejected and repaired records, by record number; at most
    /// [`crate::MAX_KEPT_PROBLEMS`].
    pub problems: Vec<RecordProblem>,
    /// Problems past the cap, counted.
    pub omitted: crate::OmittedProblems,
    /// Column-level remarks (date order inferred, ambiguous dates, ignored columns).
    pub notes: Vec<String>,
    /// Data records read, blank ones included.
    pub n_records: usize,
    /// Records whose cells are all empty; skipped without a problem.
    pub n_blank_records: usize,
}

impl ContactImport {
    pub fn n_rejected(&self) -> usize {
        self.problems.iter().filter(|p| p.severity == ProblemSeverity::Rejected).count() + self.omitted.rejected
    }
}

/// Reads `"Header=target"` (the last `=` splits, so headers may contain `=`).
pub fn parse_assignment(raw: &str) -> Result<(String, String), String> {
    match raw.rsplit_once('=') {
        Some((left, right)) if !left.trim().is_empty() && !right.trim().is_empty() => {
            Ok((left.trim().to_owned(), right.trim().to_owned()))
        }
        _ => Err(format!("`{raw}` is not of the form NAME=VALUE (e.g. \"Signup Date=signup_date\")")),
    }
}

/// Reads a delimiter option: one ASCII character, or `tab`, `comma`, `semicolon`, `pipe`.
pub fn parse_delimiter(raw: &str) -> Result<u8, CsvImportError> {
    let value = match raw.trim().to_ascii_lowercase().as_str() {
        "tab" | "\\t" => Some(b'\t'),
        "comma" => Some(b','),
        "semicolon" => Some(b';'),
        "pipe" => Some(b'|'),
        _ if raw.len() == 1 && raw.is_ascii() && raw != "\"" && raw != "\n" && raw != "\r" => Some(raw.as_bytes()[0]),
        _ => None,
    };
    value.ok_or_else(|| CsvImportError::BadOption {
        option: "--delimiter",
        message: format!("`{raw}` is not a delimiter: give one character such as `,` or `;`, or `tab`"),
    })
}

/// Line numbers of record starts. The `csv` crate's own `Position::line`
/// is one short after a `\r\n` terminator (the record "starts" at the
/// `\n` left over from the previous line), so lines are counted here from
/// byte offsets, skipping the terminators and blank lines the reader skips.
struct LineCounter<'a> {
    text: &'a [u8],
    counted_up_to: usize,
    newlines_before: u64,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        LineCounter { text: text.as_bytes(), counted_up_to: 0, newlines_before: 0 }
    }

    /// The 1-based line of the record starting at `byte`; offsets must not decrease.
    fn line_at(&mut self, byte: usize) -> u64 {
        let mut start = byte.min(self.text.len());
        while start < self.text.len() && matches!(self.text[start], b'\r' | b'\n') {
            start += 1;
        }
        if start >= self.counted_up_to {
            self.newlines_before += self.text[self.counted_up_to..start].iter().filter(|b| **b == b'\n').count() as u64;
            self.counted_up_to = start;
        }
        self.newlines_before + 1
    }
}

/// The mapping a header row gets with these options, without reading any
/// record: for a CLI preview (`import --dry-run`) and for tests.
pub fn map_header_row(
    headers: &[&str],
    options: &CsvImportOptions,
    schema: &SchemaSnapshot,
) -> Result<ColumnMapping, CsvImportError> {
    let headers: Vec<String> = headers.iter().map(|h| clean_header(h)).collect();
    map_columns(&headers, &options.column_map, &options.ignore_columns, &options.column_types, schema)
}

/// A header without surrounding whitespace or byte-order marks.
fn clean_header(raw: &str) -> String {
    raw.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}').to_owned()
}

/// One record as read: its cells and where it starts.
struct RawRecord {
    cells: csv::StringRecord,
    line: u64,
}

/// Files with at least this many records have them converted into upserts
/// on two threads, one half each.
const PARALLEL_MIN_RECORDS: usize = 50_000;

/// Parses a contact CSV. Fails as a whole only for what makes every row
/// meaningless (encoding, options, header) or when no row is valid. The
/// records of a large file are turned into upserts on two threads; the
/// result is the same as one pass.
pub fn parse_contacts_csv(
    bytes: &[u8],
    options: &CsvImportOptions,
    schema: &SchemaSnapshot,
) -> Result<ContactImport, CsvImportError> {
    parse_contacts_csv_in_parts(bytes, options, schema, None)
}

/// [`parse_contacts_csv`] with the records converted in `parts` parts (1 or
/// 2; `None` chooses by size), for the tests to check that the cut changes nothing.
#[doc(hidden)]
pub fn parse_contacts_csv_in_parts(
    bytes: &[u8],
    options: &CsvImportOptions,
    schema: &SchemaSnapshot,
    parts: Option<usize>,
) -> Result<ContactImport, CsvImportError> {
    let size = bytes.len() as u64;
    if size > options.limits.max_input_bytes {
        return Err(CsvImportError::InputTooLarge { size, limit: options.limits.max_input_bytes });
    }
    let date_order = match options.date_format.as_deref() {
        None => None,
        Some(raw) => Some(DateOrder::parse_format(raw).ok_or_else(|| CsvImportError::BadOption {
            option: "--date-format",
            message: format!("`{raw}` is not a date format: use DD/MM/YYYY, MM/DD/YYYY or YYYY/MM/DD (`-` or `.` also work)"),
        })?),
    };
    let zone = match options.time_zone.as_deref() {
        None => TimeZone::UTC,
        Some(name) => TimeZone::get(name.trim()).map_err(|_| CsvImportError::BadOption {
            option: "--time-zone",
            message: format!("unknown time zone `{name}`: use an IANA name such as Europe/Paris or UTC"),
        })?,
    };
    // A gzip-compressed export (`contacts.csv.gz`) is read as its content,
    // bounded like any input: a small file must not expand without limit.
    let unpacked;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        use std::io::Read;
        let limit = options.limits.max_input_bytes;
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|err| CsvImportError::BadGzip { message: err.to_string() })?;
        if out.len() as u64 > limit {
            return Err(CsvImportError::InputTooLarge { size: out.len() as u64, limit });
        }
        unpacked = out;
        unpacked.as_slice()
    } else {
        bytes
    };
    let decoded = decode_text(bytes, options.encoding.as_deref())?;
    // A second byte-order mark (a file converted twice) is not part of the text either.
    let text = decoded.text.trim_start_matches('\u{feff}');
    if text.trim().is_empty() {
        return Err(CsvImportError::Empty);
    }
    let (delimiter, delimiter_detected) = match options.delimiter {
        Some(delimiter) => (delimiter, false),
        None => (detect_delimiter(text), true),
    };

    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .comment(None)
        .from_reader(text.as_bytes());
    let mut records: Vec<RawRecord> = Vec::new();
    let mut line_counter = LineCounter::new(text);
    for (index, record) in reader.records().enumerate() {
        let cells = record.map_err(|err| CsvImportError::Unreadable {
            line: err.position().map_or(0, |p| p.line()),
            message: err.to_string(),
        })?;
        let line = cells.position().map_or(0, |p| line_counter.line_at(p.byte() as usize));
        if let Some(column) = cells.iter().position(|cell| cell.len() > options.limits.max_field_bytes) {
            return Err(CsvImportError::FieldTooLarge {
                record: index,
                line,
                column: column + 1,
                limit: options.limits.max_field_bytes,
            });
        }
        records.push(RawRecord { cells, line });
    }
    let mut records = records.into_iter();
    let header_record = records.next().ok_or(CsvImportError::Empty)?;
    let headers: Vec<String> = header_record.cells.iter().map(clean_header).collect();
    let records: Vec<RawRecord> = records.collect();

    let mut mapping = map_columns(&headers, &options.column_map, &options.ignore_columns, &options.column_types, schema)?;
    if !mapping.has_identity_column() {
        // A given delimiter that is not the file's is the likeliest cause.
        let detected = detect_delimiter(text);
        let hint = if !delimiter_detected && detected != delimiter && headers.len() == 1 {
            format!("; the file looks `{}`-delimited: leave --delimiter out to have it detected", delimiter_name(detected))
        } else {
            String::new()
        };
        return Err(CsvImportError::NoValidRows {
            reason: format!(
                "no email column: columns are {} (delimiter `{}`); map one with --map \"Column=email\" (or external_id){hint}",
                quote_list(&headers),
                delimiter_name(delimiter)
            ),
            problems: Vec::new(),
            omitted: crate::OmittedProblems::default(),
        });
    }

    let mut notes = Vec::new();
    infer_attribute_types(&mut mapping, &records, &mut notes);
    for column in &mapping.columns {
        if let ColumnTarget::Ignored(_) = column.target {
            notes.push(format!("column {column}"));
        }
    }
    let column_date_orders = date_orders(&mapping, &records, date_order, &mut notes);
    let context =
        RowContext { mapping: &mapping, column_date_orders: &column_date_orders, zone: &zone, n_headers: headers.len() };

    let parts = parts.unwrap_or(if records.len() >= PARALLEL_MIN_RECORDS { 2 } else { 1 });
    let Converted { rows, problems, omitted, n_blank_records } = if parts >= 2 && records.len() >= 2 {
        let (first, second) = records.split_at(records.len() / 2);
        let (first, second) = std::thread::scope(|scope| {
            let second = scope.spawn(|| context.convert(second, first.len()));
            (context.convert(first, 0), second.join().expect("the CSV conversion thread panicked"))
        });
        first.then(second)
    } else {
        context.convert(&records, 0)
    };
    if rows.is_empty() {
        let reason = if records.len() == n_blank_records {
            "the file has a header row but no records".to_owned()
        } else {
            let rejected: Vec<&RecordProblem> = problems.iter().filter(|p| p.severity == ProblemSeverity::Rejected).collect();
            let quoted: Vec<String> = rejected.iter().take(MAX_QUOTED_REJECTIONS).map(|p| p.to_string()).collect();
            let n_rejected = rejected.len() + omitted.rejected;
            let more = n_rejected.saturating_sub(MAX_QUOTED_REJECTIONS);
            format!(
                "all {} records were rejected: {}{}",
                n_rejected,
                quoted.join("; "),
                if more > 0 { format!("; and {more} more") } else { String::new() }
            )
        };
        return Err(CsvImportError::NoValidRows { reason, problems, omitted });
    }

    Ok(ContactImport {
        encoding_name: decoded.encoding_name,
        had_byte_order_mark: decoded.had_byte_order_mark,
        delimiter,
        delimiter_detected,
        mapping,
        rows,
        problems,
        omitted,
        notes,
        n_records: records.len(),
        n_blank_records,
    })
}

/// Types the new text attributes whose every value says what it is: ISO 8601
/// dates (`2024-03-01`) make a date attribute, ISO dates with a time a
/// datetime one; columns of plain numbers stay text with a note, since zip
/// codes, phone numbers and ids look like numbers too (`--type` declares one).
fn infer_attribute_types(mapping: &mut ColumnMapping, records: &[RawRecord], notes: &mut Vec<String>) {
    for column in &mut mapping.columns {
        let ColumnTarget::Attribute { name, attr_type, type_origin } = &mut column.target else { continue };
        if *type_origin != mapping::TypeOrigin::Default || *attr_type != AttrType::Text {
            continue;
        }
        let values = || records.iter().filter_map(|r| r.cells.get(column.index)).map(str::trim).filter(|v| !v.is_empty());
        if values().next().is_none() {
            continue;
        }
        let iso = |v: &str| {
            let b = v.as_bytes();
            b.len() >= 10
                && b[..4].iter().all(u8::is_ascii_digit)
                && b[4] == b'-'
                && b[7] == b'-'
                && (b.len() == 10 || matches!(b[10], b'T' | b' '))
        };
        let kinds: Option<Vec<bool>> = values()
            .map(|v| match (iso(v), crate::dates::parse_date_cell(v, None)) {
                (true, Ok(ParsedDate::Date(_))) if v.len() == 10 => Some(false),
                (true, Ok(ParsedDate::Local(_) | ParsedDate::Instant(_))) => Some(true),
                _ => None,
            })
            .collect();
        match kinds {
            Some(with_time) => {
                *attr_type = if with_time.contains(&true) { AttrType::DateTime } else { AttrType::Date };
                *type_origin = mapping::TypeOrigin::Inferred;
            }
            None if values().all(|v| parse_number(v).is_ok()) => notes.push(format!(
                "column `{}`: every value is a number, imported as text (zip codes and ids look like numbers too); to compare it as a number, declare --type {name}=number",
                column.header
            )),
            None => {}
        }
    }
}

/// The day/month order for each date column: declared, else inferred from
/// values that can be read only one way (announced in `notes`), else none.
fn date_orders(
    mapping: &ColumnMapping,
    records: &[RawRecord],
    declared: Option<DateOrder>,
    notes: &mut Vec<String>,
) -> BTreeMap<usize, Option<DateOrder>> {
    let mut orders = BTreeMap::new();
    for column in &mapping.columns {
        let is_date_column = matches!(
            column.target,
            ColumnTarget::CreatedAt | ColumnTarget::Attribute { attr_type: AttrType::Date | AttrType::DateTime, .. }
        );
        if !is_date_column {
            continue;
        }
        if declared.is_some() {
            orders.insert(column.index, declared);
            continue;
        }
        let values = || records.iter().filter_map(|r| r.cells.get(column.index));
        match infer_column_order(values()) {
            Some((order, example)) => {
                notes.push(format!(
                    "column `{}`: dates read as {} because values such as `{example}` can only be read that way",
                    column.header,
                    order.pattern()
                ));
                orders.insert(column.index, Some(order));
            }
            None => {
                let n_ambiguous = values().filter(|v| order_evidence(v) == crate::dates::OrderEvidence::Ambiguous).count();
                if n_ambiguous > 0 {
                    notes.push(format!(
                        "column `{}`: {n_ambiguous} dates could be day-first or month-first and were left out; declare --date-format DD/MM/YYYY or MM/DD/YYYY",
                        column.header
                    ));
                }
                orders.insert(column.index, None);
            }
        }
    }
    orders
}

/// A problem found in one cell: the column's header and the message.
type CellProblem = (Option<String>, String);

/// What turning a record into an upsert needs.
struct RowContext<'a> {
    mapping: &'a ColumnMapping,
    column_date_orders: &'a BTreeMap<usize, Option<DateOrder>>,
    zone: &'a TimeZone,
    n_headers: usize,
}

/// Upserts and problems of a run of records.
struct Converted {
    rows: Vec<ContactImportRow>,
    /// In record order, up to the cap.
    problems: Vec<RecordProblem>,
    omitted: crate::OmittedProblems,
    n_blank_records: usize,
}

impl Converted {
    /// These records followed by the next ones: problems stay in record
    /// order and only the first [`crate::MAX_KEPT_PROBLEMS`] of both are kept.
    fn then(mut self, next: Converted) -> Converted {
        self.rows.extend(next.rows);
        crate::append_problems(&mut self.problems, &mut self.omitted, next.problems, next.omitted, |p| p.severity);
        self.n_blank_records += next.n_blank_records;
        self
    }
}

impl RowContext<'_> {
    /// Turns `records`, the first of which is data record `first + 1`, into
    /// upserts and located problems.
    fn convert(&self, records: &[RawRecord], first: usize) -> Converted {
        let mut converted = Converted {
            rows: Vec::with_capacity(records.len()),
            problems: Vec::new(),
            omitted: crate::OmittedProblems::default(),
            n_blank_records: 0,
        };
        for (index, record) in records.iter().enumerate() {
            let record_number = first + index + 1;
            if record.cells.iter().all(|cell| cell.trim().is_empty()) {
                converted.n_blank_records += 1;
                continue;
            }
            let mut row_problems = Vec::new();
            match self.upsert_for(record, &mut row_problems) {
                Ok(upsert) => {
                    for (column, message) in row_problems {
                        let problem = RecordProblem {
                            record: record_number,
                            line: record.line,
                            severity: ProblemSeverity::Repaired,
                            column,
                            message,
                        };
                        crate::keep_problem(&mut converted.problems, &mut converted.omitted, ProblemSeverity::Repaired, problem);
                    }
                    converted.rows.push(ContactImportRow { record: record_number, line: record.line, upsert });
                }
                Err((column, message)) => {
                    let problem = RecordProblem {
                        record: record_number,
                        line: record.line,
                        severity: ProblemSeverity::Rejected,
                        column,
                        message,
                    };
                    crate::keep_problem(&mut converted.problems, &mut converted.omitted, ProblemSeverity::Rejected, problem);
                }
            }
        }
        converted
    }
    /// Builds the upsert for a record; `Err` rejects it, `repairs` collects
    /// the values left out.
    fn upsert_for(&self, record: &RawRecord, repairs: &mut Vec<CellProblem>) -> Result<ContactUpsert, CellProblem> {
        let n_cells = record.cells.len();
        if n_cells > self.n_headers {
            let extra_has_data = record.cells.iter().skip(self.n_headers).any(|cell| !cell.trim().is_empty());
            if extra_has_data {
                return Err((
                    None,
                    format!(
                        "the record has {n_cells} fields but the header has {}: a value probably contains an unquoted delimiter; quote it",
                        self.n_headers
                    ),
                ));
            }
        } else if n_cells < self.n_headers {
            repairs.push((
                None,
                format!("the record has {n_cells} fields but the header has {}; missing fields left empty", self.n_headers),
            ));
        }

        let mut upsert = ContactUpsert { email: None, external_id: None, fields: Vec::new(), created_at: None };
        let mut identity_problem: Option<CellProblem> = None;
        for column in &self.mapping.columns {
            let cell = record.cells.get(column.index).unwrap_or("").trim();
            if cell.is_empty() {
                continue;
            }
            let header = || Some(column.header.clone());
            match &column.target {
                ColumnTarget::Ignored(_) => {}
                ColumnTarget::Email => match Email::parse(cell) {
                    Ok(email) => upsert.email = Some(email.as_str().to_owned()),
                    Err(err) => identity_problem = Some((header(), err.message)),
                },
                ColumnTarget::ExternalId => upsert.external_id = Some(cell.to_owned()),
                ColumnTarget::CreatedAt => match self.date_cell(column.index, cell) {
                    Ok(parsed) => match parsed.instant(self.zone) {
                        Some(at) => upsert.created_at = Some(at),
                        None => repairs.push((header(), format!("`{cell}` is out of range; creation date left empty"))),
                    },
                    Err(problem) => repairs.push((header(), problem.message(cell))),
                },
                ColumnTarget::Field(field) => match field_value(*field, cell) {
                    Ok(value) => upsert.fields.push((field.core_name().to_owned(), Some(value))),
                    Err(message) => repairs.push((header(), format!("{message}; value left out"))),
                },
                ColumnTarget::Attribute { name, attr_type, .. } => match self.attribute_value(column.index, *attr_type, cell) {
                    Ok(value) => upsert.fields.push((name.clone(), Some(value))),
                    Err(message) => repairs.push((header(), message)),
                },
            }
        }
        // An invalid email rejects the row even when an external id is
        // present: silently dropping the address would import a contact
        // nobody can email and hide the typo.
        if let Some(problem) = identity_problem {
            return Err(problem);
        }
        if upsert.email.is_none() && upsert.external_id.is_none() {
            let identity_headers: Vec<String> = self
                .mapping
                .columns
                .iter()
                .filter(|c| matches!(c.target, ColumnTarget::Email | ColumnTarget::ExternalId))
                .map(|c| c.header.clone())
                .collect();
            return Err((None, format!("no email or external id: {} empty", quote_list(&identity_headers))));
        }
        Ok(upsert)
    }

    fn date_cell(&self, column_index: usize, cell: &str) -> Result<ParsedDate, DateProblem> {
        let order = self.column_date_orders.get(&column_index).copied().flatten();
        crate::dates::parse_date_cell(cell, order)
    }

    fn attribute_value(&self, column_index: usize, attr_type: AttrType, cell: &str) -> Result<Value, String> {
        match attr_type {
            AttrType::Text => Ok(Value::Text(cell.to_owned())),
            AttrType::Number => parse_number(cell).map(Value::Number).map_err(|m| format!("{m}; value left out")),
            AttrType::Boolean => parse_bool(cell).map(Value::Bool).map_err(|m| format!("{m}; value left out")),
            AttrType::TextList => Ok(Value::List(parse_list(cell))),
            AttrType::Date => {
                self.date_cell(column_index, cell).map(|parsed| Value::Date(parsed.date(self.zone))).map_err(|p| p.message(cell))
            }
            AttrType::DateTime => match self.date_cell(column_index, cell) {
                Ok(parsed) => parsed
                    .instant(self.zone)
                    .map(Value::DateTime)
                    .ok_or_else(|| format!("`{cell}` is out of range; value left empty")),
                Err(problem) => Err(problem.message(cell)),
            },
        }
    }
}

/// The value of a built-in field, checked where the importer knows better
/// than the core (booleans, HubSpot sources); the rest is checked by the core.
fn field_value(field: ContactField, cell: &str) -> Result<Value, String> {
    match field {
        ContactField::OptedIn | ContactField::Unsubscribed | ContactField::DoNotContact => parse_bool(cell).map(Value::Bool),
        ContactField::Tags => Ok(Value::List(parse_list(cell))),
        ContactField::FirstTouchSource => parse_source(cell).map(|source| Value::Text(source.key().to_owned())),
        ContactField::FirstName
        | ContactField::LastName
        | ContactField::Phone
        | ContactField::Stage
        | ContactField::Country
        | ContactField::Region
        | ContactField::City
        | ContactField::EmailStatus => Ok(Value::Text(cell.to_owned())),
    }
}
