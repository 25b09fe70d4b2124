//! Dates as spreadsheets and CRMs write them (field case F21): ISO
//! `YYYY-MM-DD` (optionally with a time, RFC 3339 or naive), day/month/year
//! in a declared order, and Excel serial numbers. Day and month are never
//! guessed from one value: a column's order comes from the declared
//! `date_format`, else from values that can only be read one way (see
//! [`infer_column_order`]), else ambiguous values are left unparsed.
//!
//! Rules, documented for users:
//! - Separators `/`, `-` and `.` are interchangeable in day/month/year values.
//! - Two-digit years follow Excel: `00`–`29` are 2000–2029, `30`–`99` are 1930–1999.
//! - Excel serials use the 1900 date system: 1 is 1900-01-01, 59 is
//!   1900-02-28, 60 is Excel's fictitious 1900-02-29 (refused), 61 is
//!   1900-03-01, 45581 is 2024-10-16. A fractional part is a time of day.
//!   Serials below 1 and above 2958465 (9999-12-31) are refused.
//! - A time without an offset is read in the import's time zone (UTC unless given).

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use segscope_core::time::Secs;

/// The largest Excel serial: 9999-12-31.
pub const MAX_EXCEL_SERIAL: f64 = 2_958_465.0;

/// The order of day, month and year in a date written with separators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateOrder {
    DayMonthYear,
    MonthDayYear,
    YearMonthDay,
}

impl DateOrder {
    /// Parses a `date_format` option: `DD/MM/YYYY`, `MM/DD/YYYY`,
    /// `YYYY/MM/DD`, with `/`, `-` or `.` separators and `YY` for two-digit
    /// years; also the words `dmy`, `mdy`, `ymd`.
    pub fn parse_format(raw: &str) -> Option<DateOrder> {
        let squashed: String =
            raw.trim().chars().filter(|c| !matches!(c, '/' | '-' | '.' | ' ')).flat_map(char::to_uppercase).collect();
        match squashed.as_str() {
            "DDMMYYYY" | "DDMMYY" | "DMY" | "DMYYYY" => Some(DateOrder::DayMonthYear),
            "MMDDYYYY" | "MMDDYY" | "MDY" | "MDYYYY" => Some(DateOrder::MonthDayYear),
            "YYYYMMDD" | "YMD" => Some(DateOrder::YearMonthDay),
            _ => None,
        }
    }

    pub fn pattern(self) -> &'static str {
        match self {
            DateOrder::DayMonthYear => "DD/MM/YYYY",
            DateOrder::MonthDayYear => "MM/DD/YYYY",
            DateOrder::YearMonthDay => "YYYY/MM/DD",
        }
    }
}

/// A parsed date cell: a calendar date, or a date with a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParsedDate {
    Date(Date),
    /// A date and time without an offset, to be placed in the import's zone.
    Local(DateTime),
    /// An instant (the value carried an offset or `Z`).
    Instant(Secs),
}

impl ParsedDate {
    pub fn date(self, zone: &TimeZone) -> Date {
        match self {
            ParsedDate::Date(date) => date,
            ParsedDate::Local(datetime) => datetime.date(),
            ParsedDate::Instant(at) => zone.to_datetime(segscope_core::time::timestamp(at)).date(),
        }
    }

    /// The instant, a date meaning its midnight in `zone`.
    pub fn instant(self, zone: &TimeZone) -> Option<Secs> {
        match self {
            ParsedDate::Date(date) => zone.to_timestamp(date.to_datetime(Time::midnight())).ok().map(|t| t.as_second()),
            ParsedDate::Local(datetime) => zone.to_timestamp(datetime).ok().map(|t| t.as_second()),
            ParsedDate::Instant(at) => Some(at),
        }
    }
}

/// Why a date cell was not used; each message says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateProblem {
    /// Both day-first and month-first readings are valid and differ.
    Ambiguous { day_first: Date, month_first: Date },
    /// Shaped like a date but not a real one (`00/00/0000`, `31/02/2024`).
    Impossible,
    /// An Excel serial outside the 1900 system's range, or the fictitious 1900-02-29.
    BadSerial(&'static str),
    /// Not a date at all.
    Unrecognized,
}

impl DateProblem {
    pub fn message(&self, raw: &str) -> String {
        match self {
            DateProblem::Ambiguous { day_first, month_first } => format!(
                "ambiguous date `{raw}` ({day_first} if day-first, {month_first} if month-first): declare --date-format DD/MM/YYYY or MM/DD/YYYY; value left out"
            ),
            DateProblem::Impossible => format!("`{raw}` is not a real date; value left empty"),
            DateProblem::BadSerial(why) => format!("`{raw}`: {why}; value left empty"),
            DateProblem::Unrecognized => format!(
                "`{raw}` is not a date: write YYYY-MM-DD (e.g. 2024-03-01), an Excel serial, or declare --date-format; value left out"
            ),
        }
    }
}

/// A day/month/year value split into numbers, before the order is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NumericParts {
    first: u32,
    second: u32,
    third: u32,
    first_digits: usize,
    third_digits: usize,
}

/// A value split into its date part and an optional time part.
fn split_time(raw: &str) -> (&str, Option<&str>) {
    match raw.find(['T', 't', ' ']) {
        Some(index) => (&raw[..index], Some(raw[index + 1..].trim())),
        None => (raw, None),
    }
}

fn numeric_parts(date_part: &str) -> Option<NumericParts> {
    let separator = date_part.chars().find(|c| matches!(c, '/' | '-' | '.'))?;
    let pieces: Vec<&str> = date_part.split(separator).collect();
    if pieces.len() != 3 || pieces.iter().any(|p| p.is_empty() || p.len() > 4 || !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    Some(NumericParts {
        first: pieces[0].parse().ok()?,
        second: pieces[1].parse().ok()?,
        third: pieces[2].parse().ok()?,
        first_digits: pieces[0].len(),
        third_digits: pieces[2].len(),
    })
}

/// Excel's pivot: `00`–`29` → 2000s, `30`–`99` → 1900s.
fn full_year(year: u32, digits: usize) -> Option<i16> {
    match digits {
        1 | 2 if year < 30 => Some(2000 + year as i16),
        1 | 2 => Some(1900 + year as i16),
        4 => i16::try_from(year).ok(),
        _ => None,
    }
}

fn make_date(year: Option<i16>, month: u32, day: u32) -> Option<Date> {
    let year = year?;
    if !(1..=9999).contains(&year) {
        return None;
    }
    Date::new(year, i8::try_from(month).ok()?, i8::try_from(day).ok()?).ok()
}

impl NumericParts {
    fn read(self, order: DateOrder) -> Option<Date> {
        match order {
            DateOrder::YearMonthDay if self.first_digits == 4 => make_date(full_year(self.first, 4), self.second, self.third),
            DateOrder::YearMonthDay => None,
            _ if self.first_digits == 4 => make_date(full_year(self.first, 4), self.second, self.third),
            DateOrder::DayMonthYear => make_date(full_year(self.third, self.third_digits), self.second, self.first),
            DateOrder::MonthDayYear => make_date(full_year(self.third, self.third_digits), self.first, self.second),
        }
    }
}

/// What one value says about the column's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderEvidence {
    /// Not a day/month/year value, or both readings give the same date.
    Neutral,
    /// Only the day-first reading is a real date (`13/01/2025`).
    DayFirstOnly,
    /// Only the month-first reading is a real date (`01/13/2025`).
    MonthFirstOnly,
    /// Both readings are real and differ (`09/01/2025`).
    Ambiguous,
}

pub fn order_evidence(raw: &str) -> OrderEvidence {
    let (date_part, _) = split_time(raw.trim());
    let Some(parts) = numeric_parts(date_part) else { return OrderEvidence::Neutral };
    if parts.first_digits == 4 {
        return OrderEvidence::Neutral;
    }
    match (parts.read(DateOrder::DayMonthYear), parts.read(DateOrder::MonthDayYear)) {
        (Some(a), Some(b)) if a == b => OrderEvidence::Neutral,
        (Some(_), Some(_)) => OrderEvidence::Ambiguous,
        (Some(_), None) => OrderEvidence::DayFirstOnly,
        (None, Some(_)) => OrderEvidence::MonthFirstOnly,
        (None, None) => OrderEvidence::Neutral,
    }
}

/// The order a column's values agree on, when they decide it: some value
/// can only be read day-first and none only month-first (or the reverse).
/// Returns the order and one deciding value, to quote in the report.
pub fn infer_column_order<'a>(values: impl Iterator<Item = &'a str>) -> Option<(DateOrder, &'a str)> {
    let mut day_first_example = None;
    let mut month_first_example = None;
    for value in values {
        match order_evidence(value) {
            OrderEvidence::DayFirstOnly => day_first_example = day_first_example.or(Some(value)),
            OrderEvidence::MonthFirstOnly => month_first_example = month_first_example.or(Some(value)),
            OrderEvidence::Neutral | OrderEvidence::Ambiguous => {}
        }
    }
    match (day_first_example, month_first_example) {
        (Some(example), None) => Some((DateOrder::DayMonthYear, example.trim())),
        (None, Some(example)) => Some((DateOrder::MonthDayYear, example.trim())),
        _ => None,
    }
}

/// Parses `H:MM[:SS[.fraction]]` with an optional ` AM`/` PM`, then an
/// optional `Z` or `±HH:MM` offset. Returns the time and the offset in seconds.
fn parse_time_part(raw: &str) -> Option<(Time, Option<i32>)> {
    let mut rest = raw.trim();
    let mut offset = None;
    if let Some(stripped) = rest.strip_suffix(['Z', 'z']) {
        offset = Some(0);
        rest = stripped.trim_end();
    } else if let Some(index) = rest.rfind(['+', '-']) {
        let (clock, zone) = rest.split_at(index);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
        if digits.len() != 4 && digits.len() != 2 {
            return None;
        }
        let hours: i32 = digits[..2].parse().ok()?;
        let minutes: i32 = if digits.len() == 4 { digits[2..].parse().ok()? } else { 0 };
        if hours > 23 || minutes > 59 {
            return None;
        }
        offset = Some(sign * (hours * 3600 + minutes * 60));
        rest = clock.trim_end();
    }
    let lowered = rest.to_ascii_lowercase();
    let (clock, meridiem) = if let Some(clock) = lowered.strip_suffix("am") {
        (clock.trim_end().to_owned(), Some(false))
    } else if let Some(clock) = lowered.strip_suffix("pm") {
        (clock.trim_end().to_owned(), Some(true))
    } else {
        (lowered, None)
    };
    let pieces: Vec<&str> = clock.split(':').collect();
    if !(2..=3).contains(&pieces.len()) {
        return None;
    }
    let mut hour: i8 = pieces[0].parse().ok()?;
    let minute: i8 = pieces[1].parse().ok()?;
    let (second, nanos) = match pieces.get(2) {
        None => (0, 0),
        Some(seconds) => {
            let (whole, fraction) = seconds.split_once(['.', ',']).unwrap_or((seconds, ""));
            let whole: i8 = whole.parse().ok()?;
            let digits: String = fraction.chars().take(9).collect();
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let nanos: i32 = if digits.is_empty() { 0 } else { format!("{digits:0<9}").parse().ok()? };
            (whole, nanos)
        }
    };
    if let Some(afternoon) = meridiem {
        if !(1..=12).contains(&hour) {
            return None;
        }
        hour = match (afternoon, hour) {
            (false, 12) => 0,
            (true, 12) => 12,
            (true, h) => h + 12,
            (false, h) => h,
        };
    }
    let time = Time::new(hour, minute, second.min(59), nanos).ok()?;
    Some((time, offset))
}

fn with_time(date: Date, time_part: Option<&str>) -> Result<ParsedDate, DateProblem> {
    let Some(time_part) = time_part.filter(|t| !t.is_empty()) else { return Ok(ParsedDate::Date(date)) };
    let (time, offset) = parse_time_part(time_part).ok_or(DateProblem::Unrecognized)?;
    let local = date.to_datetime(time);
    match offset {
        None => Ok(ParsedDate::Local(local)),
        Some(offset_seconds) => {
            let offset = jiff::tz::Offset::from_seconds(offset_seconds).map_err(|_| DateProblem::Unrecognized)?;
            let instant = offset.to_timestamp(local).map_err(|_| DateProblem::Impossible)?;
            Ok(ParsedDate::Instant(instant.as_second()))
        }
    }
}

/// Parses an Excel serial (1900 date system) such as `45581` or `45581.75`.
pub fn parse_excel_serial(raw: &str) -> Option<Result<ParsedDate, DateProblem>> {
    let trimmed = raw.trim();
    let looks_numeric = !trimmed.is_empty()
        && trimmed.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
        && trimmed.bytes().filter(|b| *b == b'.').count() <= 1
        && !trimmed[1..].contains('-');
    if !looks_numeric {
        return None;
    }
    let serial: f64 = trimmed.parse().ok()?;
    if serial < 1.0 {
        return Some(Err(DateProblem::BadSerial("Excel serial dates start at 1 (1900-01-01)")));
    }
    if serial >= MAX_EXCEL_SERIAL + 1.0 {
        return Some(Err(DateProblem::BadSerial("too large for an Excel serial date (the last is 2958465, 9999-12-31)")));
    }
    let day = serial.floor() as i64;
    if day == 60 {
        return Some(Err(DateProblem::BadSerial(
            "Excel serial 60 is 1900-02-29, a day that does not exist (an old Lotus 1-2-3 bug Excel keeps)",
        )));
    }
    // Serials from 61 on count from 1899-12-30 because Excel counts the
    // fictitious 1900-02-29; serials 1 to 59 count from 1899-12-31.
    let epoch = if day >= 61 { jiff::civil::date(1899, 12, 30) } else { jiff::civil::date(1899, 12, 31) };
    let Ok(date) = epoch.checked_add(jiff::Span::new().days(day)) else {
        return Some(Err(DateProblem::Impossible));
    };
    let fraction = serial - serial.floor();
    if fraction == 0.0 {
        return Some(Ok(ParsedDate::Date(date)));
    }
    let seconds_of_day = ((fraction * 86_400.0).round() as i64).min(86_399);
    let time = Time::new((seconds_of_day / 3600) as i8, (seconds_of_day / 60 % 60) as i8, (seconds_of_day % 60) as i8, 0)
        .expect("seconds of a day");
    Some(Ok(ParsedDate::Local(date.to_datetime(time))))
}

/// Parses one date cell. `order` is the column's order (declared or
/// inferred); without it an ambiguous day/month value is a problem. Callers
/// use it for date and datetime columns only, so a bare number is an Excel
/// serial there and never in a text column.
pub fn parse_date_cell(raw: &str, order: Option<DateOrder>) -> Result<ParsedDate, DateProblem> {
    let trimmed = raw.trim();
    if let Some(serial) = parse_excel_serial(trimmed) {
        return serial;
    }
    let (date_part, time_part) = split_time(trimmed);
    let Some(parts) = numeric_parts(date_part) else {
        // RFC 3339 with unusual spellings that the split missed.
        return match segscope_core::time::parse_instant(trimmed) {
            Ok(at) => Ok(ParsedDate::Instant(at)),
            Err(_) => Err(DateProblem::Unrecognized),
        };
    };
    if parts.first_digits == 4 {
        // Year first is never ambiguous: ISO `YYYY-MM-DD`, or `YYYY/MM/DD`.
        let date = parts.read(DateOrder::YearMonthDay).ok_or(DateProblem::Impossible)?;
        return with_time(date, time_part);
    }
    let date = match order {
        Some(DateOrder::YearMonthDay) => return Err(DateProblem::Unrecognized),
        Some(order) => parts.read(order).ok_or(DateProblem::Impossible)?,
        None => match (parts.read(DateOrder::DayMonthYear), parts.read(DateOrder::MonthDayYear)) {
            (Some(day_first), Some(month_first)) if day_first == month_first => day_first,
            (Some(day_first), Some(month_first)) => return Err(DateProblem::Ambiguous { day_first, month_first }),
            (Some(date), None) | (None, Some(date)) => date,
            (None, None) => return Err(DateProblem::Impossible),
        },
    };
    with_time(date, time_part)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn day(raw: &str, order: Option<DateOrder>) -> Result<Date, DateProblem> {
        parse_date_cell(raw, order).map(|parsed| parsed.date(&TimeZone::UTC))
    }

    #[test]
    fn formats_parse() {
        assert_eq!(DateOrder::parse_format("DD/MM/YYYY"), Some(DateOrder::DayMonthYear));
        assert_eq!(DateOrder::parse_format("mm-dd-yy"), Some(DateOrder::MonthDayYear));
        assert_eq!(DateOrder::parse_format("YYYY.MM.DD"), Some(DateOrder::YearMonthDay));
        assert_eq!(DateOrder::parse_format("soon"), None);
    }

    #[test]
    fn declared_order_reads_day_and_month() {
        let dmy = Some(DateOrder::DayMonthYear);
        assert_eq!(day("09/01/2025", dmy), Ok(date(2025, 1, 9)));
        assert_eq!(day("13.01.2025", dmy), Ok(date(2025, 1, 13)));
        assert_eq!(day("01/13/2025", Some(DateOrder::MonthDayYear)), Ok(date(2025, 1, 13)));
        assert_eq!(day("2025-01-31", dmy), Ok(date(2025, 1, 31)));
        assert_eq!(day("2025/01/31", Some(DateOrder::MonthDayYear)), Ok(date(2025, 1, 31)));
        assert_eq!(day("00/00/0000", dmy), Err(DateProblem::Impossible));
        assert_eq!(day("31/02/2024", dmy), Err(DateProblem::Impossible));
        assert_eq!(day("13/01/2025", Some(DateOrder::MonthDayYear)), Err(DateProblem::Impossible));
    }

    #[test]
    fn two_digit_years_follow_excel() {
        let mdy = Some(DateOrder::MonthDayYear);
        assert_eq!(day("11/1/16", mdy), Ok(date(2016, 11, 1)));
        assert_eq!(day("8/9/29", mdy), Ok(date(2029, 8, 9)));
        assert_eq!(day("8/9/30", mdy), Ok(date(1930, 8, 9)));
    }

    #[test]
    fn excel_serials_use_the_1900_system() {
        assert_eq!(day("45581", None), Ok(date(2024, 10, 16)));
        assert_eq!(day("1", None), Ok(date(1900, 1, 1)));
        assert_eq!(day("59", None), Ok(date(1900, 2, 28)));
        assert_eq!(day("61", None), Ok(date(1900, 3, 1)));
        assert_eq!(day("2958465", None), Ok(date(9999, 12, 31)));
        assert!(matches!(day("60", None), Err(DateProblem::BadSerial(_))));
        assert!(matches!(day("0", None), Err(DateProblem::BadSerial(_))));
        assert!(matches!(day("0.5", None), Err(DateProblem::BadSerial(_))));
        assert!(matches!(day("-3", None), Err(DateProblem::BadSerial(_))));
        assert!(matches!(day("2958466", None), Err(DateProblem::BadSerial(_))));
        let noon = parse_date_cell("45581.5", None).unwrap();
        assert_eq!(noon, ParsedDate::Local(date(2024, 10, 16).at(12, 0, 0, 0)));
    }

    #[test]
    fn ambiguity_is_never_guessed() {
        assert_eq!(
            day("09/01/2025", None),
            Err(DateProblem::Ambiguous { day_first: date(2025, 1, 9), month_first: date(2025, 9, 1) })
        );
        assert_eq!(day("13/01/2025", None), Ok(date(2025, 1, 13)));
        assert_eq!(day("05/05/2025", None), Ok(date(2025, 5, 5)));
        let values = ["09/01/2025", "13/01/2025", "", "2025-01-31"];
        assert_eq!(infer_column_order(values.iter().copied()), Some((DateOrder::DayMonthYear, "13/01/2025")));
        let conflicting = ["13/01/2025", "01/13/2025"];
        assert_eq!(infer_column_order(conflicting.iter().copied()), None);
        assert_eq!(infer_column_order(["09/01/2025"].iter().copied()), None);
    }

    #[test]
    fn times_and_offsets() {
        let utc = TimeZone::UTC;
        let at = |raw: &str| parse_date_cell(raw, Some(DateOrder::MonthDayYear)).unwrap().instant(&utc).unwrap();
        assert_eq!(at("2024-03-01T10:00:00Z"), 1_709_287_200);
        assert_eq!(at("2024-03-01T11:00:00+01:00"), 1_709_287_200);
        assert_eq!(at("2024-03-01 10:00"), 1_709_287_200);
        assert_eq!(at("3/1/24 10:00 AM"), 1_709_287_200);
        assert_eq!(at("3/1/24 12:00 AM"), 1_709_251_200);
        assert_eq!(at("2024-03-01"), 1_709_251_200);
        let paris = TimeZone::get("Europe/Paris").unwrap();
        let local = parse_date_cell("2024-03-01 11:00", None).unwrap();
        assert_eq!(local.instant(&paris), Some(1_709_287_200));
        assert_eq!(parse_date_cell("next tuesday", None), Err(DateProblem::Unrecognized));
    }
}
