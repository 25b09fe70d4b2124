//! The 50 segments of a benchmark workspace, in the criteria text form:
//! field conditions, relative dates, behaviour windows, email events,
//! segment references and contact type, with sizes from about 0.1% to 60%
//! of contacts. Two are benchmarked and compared with the references:
//! [`HALF`] (about half of all contacts) and [`SMALL`] (about 10k members,
//! whatever the scale); the generator computes their members itself.

/// Name of the segment with about half of all contacts.
pub const HALF: &str = "Half: anonymous or US/DE/FR";
/// Name of the segment with about 10k members.
pub const SMALL: &str = "Cohort sample";

/// `(name, criteria text)` in creation order (a reference follows what it
/// references). `small_cohort_limit` comes from the generator.
pub fn definitions(small_cohort_limit: u64) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![
        (HALF.to_owned(), r#"contact is anonymous OR country in ["US", "DE", "FR"]"#.to_owned()),
        (SMALL.to_owned(), format!("cohort < {small_cohort_limit}")),
    ];
    let fixed: [(&str, &str); 48] = [
        ("Known", "contact is known"),
        ("Anonymous", "contact is anonymous"),
        ("France", r#"country = "FR""#),
        ("Sweden", r#"country = "SE""#),
        ("North America", r#"country in ["US", "CA", "MX"]"#),
        ("Outside top markets", r#"country not in ["US", "GB", "DE", "FR"]"#),
        ("No country", "country is empty"),
        ("California", r#"region = "California""#),
        ("Seattle", r#"city = "Seattle""#),
        ("Sales ready", r#"stage = "Sales ready""#),
        ("MQL and up", r#"stage in ["Marketing qualified", "Sales ready"]"#),
        ("Raw leads", r#"stage = "Raw lead""#),
        ("Without stage", "stage is empty AND contact is known"),
        ("Gmail users", r#"email_provider = "gmail""#),
        ("Microsoft users", r#"email_provider = "microsoft""#),
        ("Company addresses", r#"email_domain ends with ".example.com""#),
        ("Opted in", "opted_in = true"),
        ("Unsubscribed", "unsubscribed = true"),
        ("Bounced", "bounced = true"),
        ("Pending confirmation", r#"subscription_status = "pending""#),
        ("New this month", "created_at in last 30 days"),
        ("New this week", "created_at in last 7 days"),
        ("Older than a year", "created_at more than 365 days ago"),
        ("Created 2024", "created_at between 2024-01-01 and 2024-12-31"),
        ("Seen this week", "last_seen_at in last 7 days"),
        ("Dormant", "contact is known AND last_seen_at more than 180 days ago"),
        ("Active 30d", "had at least 1 session in last 30 days"),
        ("Heavy 30d", "had at least 5 sessions in last 30 days"),
        ("Power users", "had at least 50 sessions"),
        ("One-timers", "had exactly 1 session"),
        ("Pricing visitors 90d", r#"visited "/pricing" in last 90 days"#),
        ("Signup page 3x", r#"visited "/signup" at least 3 times"#),
        ("Docs readers 30d", r#"visited "/docs" at least 2 times in last 30 days"#),
        ("Openers 30d", "email opened in last 30 days"),
        ("Clickers 90d", "email clicked in last 90 days"),
        ("Ever bounced", "email bounced"),
        ("Complainers", "email complained"),
        ("Frequent openers", "email opened at least 3 times"),
        ("Organic first touch", r#"first_touch_source = "organic_search""#),
        ("Paid first touch", r#"first_touch_source in ["paid_search", "social"]"#),
        ("API contacts", r#"creation_channel = "api""#),
        ("Form or integration", r#"creation_channel in ["form", "integration"]"#),
        ("Half and known", r#"member of "Half: anonymous or US/DE/FR" AND contact is known"#),
        ("Half opted in", r#"member of "Half: anonymous or US/DE/FR" AND opted_in = true"#),
        ("Engaged MQL", r#"member of "MQL and up" AND (email opened in last 90 days OR had at least 1 session in last 30 days)"#),
        ("Reachable US", r#"country = "US" AND opted_in = true AND NOT member of "Bounced""#),
        ("Anonymous returning", "contact is anonymous AND had at least 3 sessions in last 30 days"),
        ("Cohort top", "cohort >= 990000"),
    ];
    out.extend(fixed.iter().map(|(name, text)| ((*name).to_owned(), (*text).to_owned())));
    out
}
