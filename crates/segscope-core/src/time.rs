//! Time in the workspace's time zone: local calendar days, report ranges and
//! growth buckets. Every function takes "now" and the zone as arguments; the
//! core never reads a clock.
//!
//! Instants are Unix seconds (`i64`). Calendar arithmetic goes through `jiff`
//! with its bundled IANA database, so a day is 23 or 25 hours across a DST
//! change and results do not depend on the host's zoneinfo.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use crate::error::{Error, Result};

/// Unix seconds.
pub type Secs = i64;

/// The most buckets one growth series may have; beyond it the caller is asked
/// for a coarser granularity rather than getting a huge response.
pub const MAX_BUCKETS: usize = 1_500;

/// A parsed IANA time zone together with the name it was given by.
#[derive(Debug, Clone)]
pub struct Tz {
    name: String,
    zone: TimeZone,
}

impl PartialEq for Tz {
    fn eq(&self, other: &Tz) -> bool {
        self.name == other.name
    }
}

impl Tz {
    pub fn parse(name: &str) -> Result<Tz> {
        let trimmed = name.trim();
        if trimmed.is_empty() || trimmed.len() > 64 {
            return Err(Error::invalid("time zone is empty or too long: use an IANA name such as `Europe/Paris`"));
        }
        match TimeZone::get(trimmed) {
            Ok(zone) => Ok(Tz { name: trimmed.to_owned(), zone }),
            Err(_) => Err(Error::invalid(format!(
                "unknown time zone `{trimmed}`: use an IANA name such as `Europe/Paris`, `America/New_York` or `UTC`"
            ))),
        }
    }

    pub fn utc() -> Tz {
        Tz { name: "UTC".to_owned(), zone: TimeZone::UTC }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The local calendar date of an instant.
    pub fn local_date(&self, at: Secs) -> Date {
        self.zone.to_datetime(timestamp(at)).date()
    }

    /// The first instant of a local calendar date (midnight, or the first
    /// existing instant when a DST gap swallows midnight).
    pub fn start_of_day(&self, date: Date) -> Secs {
        date.to_zoned_datetime(self.zone.clone())
            .and_then(|zoned| zoned.start_of_day())
            .map(|zoned| zoned.timestamp().as_second())
            .unwrap_or_else(|_| {
                // Only reachable at the edges of jiff's supported range
                // (years -9999 and 9999); fall back to UTC midnight there.
                date.to_zoned_datetime(TimeZone::UTC).map(|z| z.timestamp().as_second()).unwrap_or(0)
            })
    }

    /// The local date of `now`.
    pub fn today(&self, now: Secs) -> Date {
        self.local_date(now)
    }
}

pub fn timestamp(at: Secs) -> Timestamp {
    Timestamp::from_second(at.clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second())).expect("clamped into range")
}

pub fn add_days(date: Date, days: i64) -> Date {
    date.checked_add(days.days()).unwrap_or(date)
}

/// Formats an instant as RFC 3339 in UTC, e.g. `2024-03-01T10:00:00Z`.
pub fn format_instant(at: Secs) -> String {
    timestamp(at).to_string()
}

/// Parses an RFC 3339 instant (`2024-03-01T10:00:00Z`, `2024-03-01T11:00:00+01:00`,
/// seconds optional) into Unix seconds.
pub fn parse_instant(raw: &str) -> Result<Secs> {
    raw.trim().parse::<Timestamp>().map(|t| t.as_second()).map_err(|_| {
        Error::invalid(format!(
            "`{raw}` is not an RFC 3339 timestamp: write e.g. `2024-03-01T10:00:00Z` or `2024-03-01T11:00:00+01:00`"
        ))
    })
}

/// Parses a calendar date `YYYY-MM-DD`.
pub fn parse_date(raw: &str) -> Result<Date> {
    let trimmed = raw.trim();
    if trimmed.len() != 10 {
        return Err(Error::invalid(format!("`{raw}` is not a date: write YYYY-MM-DD, e.g. 2024-03-01")));
    }
    trimmed.parse::<Date>().map_err(|_| Error::invalid(format!("`{raw}` is not a valid date: write YYYY-MM-DD, e.g. 2024-03-01")))
}

/// A half-open interval of instants `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub from: Secs,
    pub to: Secs,
}

impl TimeRange {
    pub fn new(from: Secs, to: Secs) -> Result<TimeRange> {
        if from >= to {
            return Err(Error::invalid(format!(
                "`from` ({}) must be before `to` ({})",
                format_instant(from),
                format_instant(to)
            )));
        }
        Ok(TimeRange { from, to })
    }

    pub fn contains(&self, at: Secs) -> bool {
        self.from <= at && at < self.to
    }

    /// The `n` local calendar days ending today, inclusive: from the start of
    /// day `today - (n - 1)` to the start of tomorrow.
    pub fn last_days(n: u32, now: Secs, tz: &Tz) -> TimeRange {
        let today = tz.today(now);
        let first = add_days(today, -(i64::from(n.max(1)) - 1));
        TimeRange { from: tz.start_of_day(first), to: tz.start_of_day(add_days(today, 1)) }
    }

    /// The local calendar dates from the day of `from` to the day that
    /// contains the last instant before `to`, inclusive.
    pub fn local_days(&self, tz: &Tz) -> (Date, Date) {
        (tz.local_date(self.from), tz.local_date(self.to - 1))
    }
}

/// Named ranges that the CLI, the API and the dashboard offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangePreset {
    Today,
    Last7Days,
    Last30Days,
    Last90Days,
    Last365Days,
    ThisMonth,
    LastMonth,
}

impl RangePreset {
    pub const ALL: [(&'static str, RangePreset); 7] = [
        ("today", RangePreset::Today),
        ("last_7_days", RangePreset::Last7Days),
        ("last_30_days", RangePreset::Last30Days),
        ("last_90_days", RangePreset::Last90Days),
        ("last_365_days", RangePreset::Last365Days),
        ("this_month", RangePreset::ThisMonth),
        ("last_month", RangePreset::LastMonth),
    ];

    pub fn parse(raw: &str) -> Result<RangePreset> {
        RangePreset::ALL.iter().find(|(name, _)| *name == raw.trim()).map(|(_, preset)| *preset).ok_or_else(|| {
            let names: Vec<&str> = RangePreset::ALL.iter().map(|(name, _)| *name).collect();
            Error::invalid(format!("unknown range `{raw}`: use one of {}", names.join(", ")))
        })
    }

    pub fn resolve(self, now: Secs, tz: &Tz) -> TimeRange {
        let today = tz.today(now);
        match self {
            RangePreset::Today => TimeRange::last_days(1, now, tz),
            RangePreset::Last7Days => TimeRange::last_days(7, now, tz),
            RangePreset::Last30Days => TimeRange::last_days(30, now, tz),
            RangePreset::Last90Days => TimeRange::last_days(90, now, tz),
            RangePreset::Last365Days => TimeRange::last_days(365, now, tz),
            RangePreset::ThisMonth => {
                TimeRange { from: tz.start_of_day(today.first_of_month()), to: tz.start_of_day(add_days(today, 1)) }
            }
            RangePreset::LastMonth => {
                let first_this = today.first_of_month();
                let first_last = add_days(first_this, -1).first_of_month();
                TimeRange { from: tz.start_of_day(first_last), to: tz.start_of_day(first_this) }
            }
        }
    }
}

/// One end of a requested range: a local date (a whole day) or an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeBound {
    Date(Date),
    Instant(Secs),
}

impl RangeBound {
    /// Parses `YYYY-MM-DD` as a local date and anything else as RFC 3339.
    pub fn parse(raw: &str) -> Result<RangeBound> {
        let trimmed = raw.trim();
        if trimmed.len() == 10 && !trimmed.contains('T') {
            parse_date(trimmed).map(RangeBound::Date)
        } else {
            parse_instant(trimmed).map(RangeBound::Instant)
        }
    }
}

/// Resolves a requested range. `from` as a date means the start of that local
/// day; `to` as a date is inclusive (the range ends at the start of the next
/// day), as an instant exclusive. Missing `from` defaults to 30 days before
/// `to`; missing both means the last 30 days (SPEC §7).
pub fn resolve_range(
    from: Option<RangeBound>,
    to: Option<RangeBound>,
    preset: Option<RangePreset>,
    now: Secs,
    tz: &Tz,
) -> Result<TimeRange> {
    if let Some(preset) = preset {
        if from.is_some() || to.is_some() {
            return Err(Error::invalid("give either a named range or `from`/`to`, not both"));
        }
        return Ok(preset.resolve(now, tz));
    }
    // Calendar arithmetic near jiff's edges (year 9999) has no answer; no
    // marketing range needs dates outside these.
    for (name, bound) in [("from", from), ("to", to)] {
        if let Some(RangeBound::Date(date)) = bound
            && !(1900..=9000).contains(&date.year())
        {
            return Err(Error::invalid(format!("`{name}` {date} is out of range: dates go from 1900-01-01 to 9000-12-31")));
        }
    }
    let to_instant = match to {
        Some(RangeBound::Date(date)) => tz.start_of_day(add_days(date, 1)),
        Some(RangeBound::Instant(at)) => at,
        None => tz.start_of_day(add_days(tz.today(now), 1)),
    };
    let from_instant = match from {
        Some(RangeBound::Date(date)) => tz.start_of_day(date),
        Some(RangeBound::Instant(at)) => at,
        None => tz.start_of_day(add_days(tz.local_date(to_instant - 1), -29)),
    };
    TimeRange::new(from_instant, to_instant)
}

/// The size of a growth bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Granularity {
    Day,
    /// ISO weeks, starting on Monday.
    Week,
    Month,
}

impl Granularity {
    pub fn parse(raw: &str) -> Result<Granularity> {
        match raw.trim() {
            "day" => Ok(Granularity::Day),
            "week" => Ok(Granularity::Week),
            "month" => Ok(Granularity::Month),
            other => Err(Error::invalid(format!("unknown granularity `{other}`: use day, week or month"))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Day => "day",
            Granularity::Week => "week",
            Granularity::Month => "month",
        }
    }

    /// Default by the number of local days covered: up to 62 days daily (a
    /// two-month view still reads well as a line), up to 366 days weekly
    /// (at most 53 points), beyond that monthly.
    pub fn default_for(range: TimeRange, tz: &Tz) -> Granularity {
        let (first, last) = range.local_days(tz);
        let days = first.until(last).map(|span| span.get_days()).unwrap_or(0) + 1;
        if days <= 62 {
            Granularity::Day
        } else if days <= 366 {
            Granularity::Week
        } else {
            Granularity::Month
        }
    }

    fn period_start(self, date: Date) -> Date {
        match self {
            Granularity::Day => date,
            Granularity::Week => add_days(date, -i64::from(date.weekday().to_monday_zero_offset())),
            Granularity::Month => date.first_of_month(),
        }
    }

    fn next_period(self, start: Date) -> Date {
        match self {
            Granularity::Day => add_days(start, 1),
            Granularity::Week => add_days(start, 7),
            Granularity::Month => start.checked_add(1.month()).unwrap_or(start),
        }
    }
}

/// One growth bucket: the local calendar period it stands for and the
/// instants it covers, clipped to the requested range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// The first local date of the period (a Monday for weeks, the 1st for months).
    pub period_start: Date,
    /// Clipped start instant (inclusive).
    pub start: Secs,
    /// Clipped end instant (exclusive).
    pub end: Secs,
}

/// The buckets that tile `range` exactly: consecutive, zero gaps, the first
/// and last clipped to the range, so that every instant of the range falls in
/// exactly one bucket and a series sums to the range total.
pub fn buckets(range: TimeRange, tz: &Tz, granularity: Granularity) -> Result<Vec<Bucket>> {
    let (first_day, _) = range.local_days(tz);
    let mut period = granularity.period_start(first_day);
    let mut out = Vec::new();
    loop {
        let next = granularity.next_period(period);
        let start = tz.start_of_day(period).max(range.from);
        let end = tz.start_of_day(next).min(range.to);
        if start < end {
            out.push(Bucket { period_start: period, start, end });
        }
        if end >= range.to {
            break;
        }
        if out.len() > MAX_BUCKETS {
            return Err(Error::invalid(format!(
                "the range needs more than {MAX_BUCKETS} {} buckets: choose a coarser granularity or a shorter range",
                granularity.as_str()
            )));
        }
        period = next;
    }
    Ok(out)
}

/// The index of the bucket containing `at`, if any (buckets are sorted and contiguous).
pub fn bucket_of(buckets: &[Bucket], at: Secs) -> Option<usize> {
    let first = buckets.first()?;
    let last = buckets.last()?;
    if at < first.start || at >= last.end {
        return None;
    }
    Some(buckets.partition_point(|bucket| bucket.end <= at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(raw: &str) -> Secs {
        parse_instant(raw).unwrap()
    }

    #[test]
    fn last_seven_days_has_seven_daily_points() {
        let tz = Tz::utc();
        let range = TimeRange::last_days(7, at("2024-01-17T12:00:00Z"), &tz);
        let days = buckets(range, &tz, Granularity::Day).unwrap();
        assert_eq!(days.len(), 7);
        assert_eq!(days[0].period_start.to_string(), "2024-01-11");
        assert_eq!(days[6].period_start.to_string(), "2024-01-17");
    }

    #[test]
    fn weeks_start_on_monday_and_are_clipped() {
        let tz = Tz::utc();
        let range = TimeRange::last_days(30, at("2024-01-17T12:00:00Z"), &tz);
        let weeks = buckets(range, &tz, Granularity::Week).unwrap();
        let starts: Vec<String> = weeks.iter().map(|b| b.period_start.to_string()).collect();
        assert_eq!(starts, ["2023-12-18", "2023-12-25", "2024-01-01", "2024-01-08", "2024-01-15"]);
        assert_eq!(weeks[0].start, at("2023-12-19T00:00:00Z"));
        assert_eq!(weeks.last().unwrap().end, at("2024-01-18T00:00:00Z"));
    }

    #[test]
    fn dst_days_have_their_real_length() {
        let tz = Tz::parse("Europe/Paris").unwrap();
        let range = resolve_range(
            Some(RangeBound::parse("2024-03-30").unwrap()),
            Some(RangeBound::parse("2024-04-01").unwrap()),
            None,
            at("2024-04-02T00:00:00Z"),
            &tz,
        )
        .unwrap();
        let days = buckets(range, &tz, Granularity::Day).unwrap();
        let hours: Vec<i64> = days.iter().map(|b| (b.end - b.start) / 3600).collect();
        assert_eq!(hours, [24, 23, 24]);
    }

    #[test]
    fn bucket_of_finds_the_period() {
        let tz = Tz::utc();
        let range = TimeRange::last_days(3, at("2024-01-17T12:00:00Z"), &tz);
        let days = buckets(range, &tz, Granularity::Day).unwrap();
        assert_eq!(bucket_of(&days, at("2024-01-15T00:00:00Z")), Some(0));
        assert_eq!(bucket_of(&days, at("2024-01-16T23:59:59Z")), Some(1));
        assert_eq!(bucket_of(&days, at("2024-01-18T00:00:00Z")), None);
        assert_eq!(bucket_of(&days, at("2024-01-14T23:59:59Z")), None);
    }

    #[test]
    fn bad_input_says_what_to_write() {
        assert!(Tz::parse("Mars/Olympus").unwrap_err().message.contains("IANA"));
        assert!(RangeBound::parse("2024-13-01").is_err());
        let tz = Tz::utc();
        let err = resolve_range(
            Some(RangeBound::parse("2024-02-01").unwrap()),
            Some(RangeBound::parse("2024-01-01").unwrap()),
            None,
            0,
            &tz,
        )
        .unwrap_err();
        assert!(err.message.contains("must be before"));
    }

    #[test]
    fn default_granularity_by_length() {
        let tz = Tz::utc();
        let now = at("2024-06-30T12:00:00Z");
        assert_eq!(Granularity::default_for(TimeRange::last_days(30, now, &tz), &tz), Granularity::Day);
        assert_eq!(Granularity::default_for(TimeRange::last_days(90, now, &tz), &tz), Granularity::Week);
        assert_eq!(Granularity::default_for(TimeRange::last_days(400, now, &tz), &tz), Granularity::Month);
    }

    #[test]
    fn range_dates_near_the_calendar_edges_are_refused() {
        // `to=9999-12-31` once resolved to 1970 without a word.
        let tz = Tz::parse("Europe/Paris").unwrap();
        let now = at("2026-12-04T10:00:00Z");
        for (from, to) in
            [(None, Some("9999-12-31")), (None, Some("9999-12-30")), (Some("0001-01-01"), None), (Some("1899-12-31"), None)]
        {
            let bound = |raw: Option<&str>| raw.map(|r| RangeBound::Date(parse_date(r).unwrap()));
            let err = resolve_range(bound(from), bound(to), None, now, &tz).expect_err("out of range");
            assert!(err.to_string().contains("dates go from 1900-01-01 to 9000-12-31"), "{err}");
        }
        let edge = |raw: &str| Some(RangeBound::Date(parse_date(raw).unwrap()));
        let range = resolve_range(edge("1900-01-01"), edge("9000-12-31"), None, now, &tz).expect("the edges themselves");
        assert!(range.from < range.to);
    }
}
