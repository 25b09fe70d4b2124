//! Reading typed values out of text cells: numbers, booleans, lists and
//! first-touch sources as CRMs export them. Each failure is a message that
//! says what was expected, for a "repaired" warning.

use segscope_core::model::{Source, squash};

/// Parses a number: plain decimal notation (`42`, `-3.5`, `1e3`), finite.
/// Thousands separators and decimal commas are refused rather than guessed
/// (`1,234` is 1234 in one locale and 1.234 in another).
pub fn parse_number(raw: &str) -> Result<f64, String> {
    let trimmed = raw.trim();
    let parsed: Option<f64> = trimmed.strip_prefix('+').unwrap_or(trimmed).parse().ok();
    match parsed {
        Some(number) if number.is_finite() && !trimmed.contains(['i', 'I', 'n', 'N']) => Ok(number),
        _ => Err(format!("`{trimmed}` is not a number: write digits with a `.` for decimals (e.g. 42 or 3.5)")),
    }
}

/// Parses a boolean: `true/false`, `yes/no`, `y/n`, `1/0`, any case.
pub fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" => Ok(true),
        "false" | "no" | "n" | "0" => Ok(false),
        other => Err(format!("`{other}` is not a yes/no value: write true/false, yes/no, y/n or 1/0")),
    }
}

/// Splits a list cell on `,` and `;`, trimming items and the quotes that
/// Mailchimp puts around each tag (`"VIP","Newsletter"`); empty items are dropped.
pub fn parse_list(raw: &str) -> Vec<String> {
    raw.split([',', ';'])
        .map(|item| item.trim().trim_matches('"').trim())
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// HubSpot's "Original Source" values (internal names and labels) and the
/// core's source keys and labels.
const HUBSPOT_SOURCES: &[(&str, Source)] = &[
    ("organicsearch", Source::OrganicSearch),
    ("paidsearch", Source::PaidSearch),
    ("socialmedia", Source::Social),
    ("organicsocial", Source::Social),
    ("paidsocial", Source::Social),
    ("emailmarketing", Source::Email),
    ("referrals", Source::Referral),
    ("directtraffic", Source::Direct),
    ("othercampaigns", Source::Other),
    ("offline", Source::Other),
    ("offlinesources", Source::Other),
    ("airreferrals", Source::Referral),
];

/// Reads a first-touch source: a HubSpot "Original Source" value
/// (`ORGANIC_SEARCH`, `Social media`, …) or a segscope source key or label.
pub fn parse_source(raw: &str) -> Result<Source, String> {
    let key = squash(raw);
    if let Some((_, source)) = HUBSPOT_SOURCES.iter().find(|(name, _)| *name == key) {
        return Ok(*source);
    }
    Source::parse(raw).ok_or_else(|| {
        let keys: Vec<&str> = Source::ALL.iter().map(|s| s.key()).collect();
        format!(
            "unknown source `{}`: use one of {} or a HubSpot Original Source value such as ORGANIC_SEARCH",
            raw.trim(),
            keys.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_booleans_lists() {
        assert_eq!(parse_number(" 42 "), Ok(42.0));
        assert_eq!(parse_number("+3.5"), Ok(3.5));
        assert!(parse_number("1,234").is_err());
        assert!(parse_number("NaN").is_err());
        assert!(parse_number("inf").is_err());
        assert_eq!(parse_bool("Y"), Ok(true));
        assert_eq!(parse_bool("0"), Ok(false));
        assert!(parse_bool("maybe").unwrap_err().contains("yes/no"));
        assert_eq!(parse_list("\"VIP\",\"News letter\", ,b;c"), ["VIP", "News letter", "b", "c"]);
    }

    #[test]
    fn hubspot_sources_map_to_core_sources() {
        for (raw, expected) in [
            ("ORGANIC_SEARCH", Source::OrganicSearch),
            ("PAID_SEARCH", Source::PaidSearch),
            ("SOCIAL_MEDIA", Source::Social),
            ("EMAIL_MARKETING", Source::Email),
            ("REFERRALS", Source::Referral),
            ("DIRECT_TRAFFIC", Source::Direct),
            ("OTHER_CAMPAIGNS", Source::Other),
            ("Organic search", Source::OrganicSearch),
            ("referral", Source::Referral),
        ] {
            assert_eq!(parse_source(raw), Ok(expected), "{raw}");
        }
        assert!(parse_source("carrier pigeon").unwrap_err().contains("organic_search"));
    }
}
