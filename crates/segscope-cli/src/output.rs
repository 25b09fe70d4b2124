//! Human-readable output: numbers with thousands separators, durations as
//! `2m 31s`, shares as percentages, and the aligned tables of `summary` and
//! `segment list`. Every block of the summary is printed, empty ones say so.

use std::fmt::Write as _;

use segscope_core::engine::SegmentInfo;
use segscope_core::summary::{Share, Summary};
use segscope_core::time::{Tz, format_instant};

/// `1234567` → `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1 contact`, `2 contacts`, `1,234 contacts`: a count and its noun.
pub fn counted(n: usize, singular: &str, plural: &str) -> String {
    format!("{} {}", count(n as u64), if n == 1 { singular } else { plural })
}

pub fn signed(n: i64) -> String {
    if n < 0 { format!("-{}", count(n.unsigned_abs())) } else { format!("+{}", count(n as u64)) }
}

/// Seconds as `2m 31s`, `1h 05m`, `45s`; `—` for no data.
pub fn duration(secs: Option<f64>) -> String {
    let Some(secs) = secs else { return "—".to_owned() };
    let total = secs.round() as u64;
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

pub fn percent(share: Option<f64>) -> String {
    match share {
        None => "—".to_owned(),
        Some(x) => format!("{:.1}%", x * 100.0),
    }
}

pub fn ratio(value: Option<f64>) -> String {
    match value {
        None => "—".to_owned(),
        Some(x) => format!("{x:.2}"),
    }
}

fn heading(out: &mut String, title: &str) {
    let _ = writeln!(out, "\n{title}\n{}", "─".repeat(title.chars().count()));
}

fn row(out: &mut String, label: &str, share: &Share) {
    let _ = writeln!(out, "  {label:<28} {:>12}  {:>7}", count(share.count), percent(share.share));
}

fn rows_or_empty<'a>(out: &mut String, rows: impl Iterator<Item = (String, &'a Share)>, hide_zero: bool) {
    let mut any = false;
    for (label, share) in rows {
        if hide_zero && share.count == 0 {
            continue;
        }
        row(out, &label, share);
        any = true;
    }
    if !any {
        let _ = writeln!(out, "  (no contacts)");
    }
}

/// The whole summary as aligned text blocks.
pub fn summary_table(summary: &Summary, tz: &Tz) -> String {
    let mut out = String::new();
    let (first, last) = summary.range.local_days(tz);
    let _ = writeln!(
        out,
        "Segment {} \"{}\" — view {} — {first} to {last} ({}) — computed {}",
        summary.segment,
        summary.segment_name,
        summary.view.key(),
        summary.tz,
        format_instant(summary.computed_at)
    );

    heading(&mut out, "Overall");
    let o = &summary.overall;
    let _ = writeln!(out, "  {:<28} {:>12}", "Known contacts", count(o.known));
    let _ = writeln!(out, "  {:<28} {:>12}", "Anonymous contacts", count(o.anonymous));
    let _ = writeln!(out, "  {:<28} {:>12}", "Total", count(o.total));
    let _ = writeln!(out, "  {:<28} {:>12}", "Sessions in range", count(o.sessions));
    let _ = writeln!(out, "  {:<28} {:>12}", "Avg session duration", duration(o.avg_session_secs));
    let _ = writeln!(out, "  {:<28} {:>12}", "Bounce rate", percent(o.bounce_rate));

    heading(&mut out, &format!("Growth (by {})", summary.growth.granularity.as_str()));
    let g = &summary.growth;
    let _ = writeln!(out, "  {:<12} {:>9} {:>9} {:>9} {:>10}", "period", "added", "removed", "net", "total");
    let points = &g.points;
    let shown: Vec<usize> =
        if points.len() > 40 { (0..5).chain(points.len() - 30..points.len()).collect() } else { (0..points.len()).collect() };
    for (i, index) in shown.iter().enumerate() {
        if i > 0 && shown[i - 1] + 1 != *index {
            let _ = writeln!(out, "  {:<12}", "…");
        }
        let p = &points[*index];
        let _ = writeln!(
            out,
            "  {:<12} {:>9} {:>9} {:>9} {:>10}",
            p.period_start.to_string(),
            count(p.added),
            count(p.removed),
            signed(p.net),
            count(p.total)
        );
    }
    let _ = writeln!(
        out,
        "  {:<12} {:>9} {:>9} {:>9} {:>10}   (members at start: {})",
        "range",
        count(g.added),
        count(g.removed),
        signed(g.net),
        count(g.total_at_end),
        count(g.total_at_start)
    );

    heading(&mut out, "Journeys, campaigns and consent");
    let a = &summary.associated;
    let _ = writeln!(out, "  {:<28} {:>12}", "Journeys (active)", format!("{} ({})", a.journeys.len(), a.journeys_active));
    for j in &a.journeys {
        let _ = writeln!(out, "    #{} {} [{}]", j.id, j.name, j.status);
    }
    let _ = writeln!(out, "  {:<28} {:>12}", "Campaigns (active)", format!("{} ({})", a.campaigns.len(), a.campaigns_active));
    for c in &a.campaigns {
        let _ = writeln!(out, "    #{} {} [{}]", c.id, c.name, c.status);
    }
    row(&mut out, "Opted in", &a.opted_in);
    row(&mut out, "Bounced", &a.bounced);
    row(&mut out, "Unsubscribed", &a.unsubscribed);

    heading(&mut out, "Reachability");
    rows_or_empty(&mut out, summary.reachability.iter().map(|(level, share)| (level.label().to_owned(), share)), false);

    heading(&mut out, "Subscription status");
    rows_or_empty(&mut out, summary.subscription.iter().map(|(status, share)| (status.label().to_owned(), share)), true);

    heading(&mut out, "Website (sessions in range)");
    let _ = writeln!(
        out,
        "  {:<12} {:>9} {:>10} {:>14} {:>14} {:>10}",
        "group", "members", "sessions", "per member", "avg duration", "bounce"
    );
    for (label, w) in [("Known", &summary.website.known), ("Anonymous", &summary.website.anonymous)] {
        let _ = writeln!(
            out,
            "  {:<12} {:>9} {:>10} {:>14} {:>14} {:>10}",
            label,
            count(w.members),
            count(w.sessions),
            ratio(w.sessions_per_member),
            duration(w.avg_session_secs),
            percent(w.bounce_rate)
        );
    }

    heading(&mut out, "Lifecycle stages");
    rows_or_empty(
        &mut out,
        summary.stages.iter().map(|(stage, share)| (stage.clone().unwrap_or_else(|| "(no stage)".to_owned()), share)),
        false,
    );

    heading(&mut out, "Creation channels");
    rows_or_empty(&mut out, summary.channels.iter().map(|(channel, share)| (channel.label().to_owned(), share)), true);

    heading(&mut out, "First-touch sources");
    rows_or_empty(
        &mut out,
        summary.sources.iter().map(|(source, share)| (source.map_or("(unknown)".to_owned(), |s| s.label().to_owned()), share)),
        true,
    );

    heading(&mut out, "Email service providers");
    rows_or_empty(&mut out, summary.providers.iter().map(|(provider, share)| (provider.label().to_owned(), share)), true);

    heading(&mut out, "Geography");
    let countries = &summary.geography.countries;
    let shown = countries.iter().take(15);
    rows_or_empty(
        &mut out,
        shown.map(|(country, share)| (country.map_or("(unknown)".to_owned(), |c| format!("{} {}", c.code(), c.name())), share)),
        false,
    );
    if countries.len() > 15 {
        let _ = writeln!(out, "  … {} more (use --json, or --country XX to drill down)", countries.len() - 15);
    }
    if let Some(country) = summary.geography.drill_country {
        let _ = writeln!(out, "\n  Regions of {}:", country.code());
        for place in summary.geography.regions.iter().take(20) {
            row(&mut out, &format!("  {}", place.name.as_deref().unwrap_or("(unknown)")), &place.count);
        }
        let within = summary.geography.drill_region.as_deref().map_or(String::new(), |r| format!(" in {r}"));
        let _ = writeln!(out, "\n  Cities{within}:");
        for place in summary.geography.cities.iter().take(20) {
            row(&mut out, &format!("  {}", place.name.as_deref().unwrap_or("(unknown)")), &place.count);
        }
    }
    out
}

pub fn segment_table(segments: &[SegmentInfo]) -> String {
    let mut out = String::new();
    let _ =
        writeln!(out, "{:>4}  {:<32} {:>9} {:>10} {:>9}  {:<7}  criteria", "id", "name", "known", "anonymous", "total", "kind");
    for s in segments {
        let kind = if s.is_static {
            "list"
        } else if s.system {
            "system"
        } else {
            "dynamic"
        };
        let name: String =
            if s.name.chars().count() > 32 { s.name.chars().take(31).chain(['…']).collect() } else { s.name.clone() };
        let _ = writeln!(
            out,
            "{:>4}  {:<32} {:>9} {:>10} {:>9}  {:<7}  {}",
            s.id.0,
            name,
            count(s.known),
            count(s.anonymous),
            count(s.total),
            kind,
            s.criteria_text.as_deref().unwrap_or("")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_take_the_noun_they_need() {
        assert_eq!(counted(0, "contact", "contacts"), "0 contacts");
        assert_eq!(counted(1, "contact", "contacts"), "1 contact");
        assert_eq!(counted(1_234, "body", "bodies"), "1,234 bodies");
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(12_345_678), "12,345,678");
        assert_eq!(signed(-1_500), "-1,500");
        assert_eq!(duration(Some(151.0)), "2m 31s");
        assert_eq!(duration(Some(45.4)), "45s");
        assert_eq!(duration(Some(3_900.0)), "1h 05m");
        assert_eq!(duration(None), "—");
        assert_eq!(percent(Some(0.1234)), "12.3%");
        assert_eq!(percent(None), "—");
    }
}
