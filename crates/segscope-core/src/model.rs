//! The vocabulary of SPEC §1: contacts' enumerated fields (creation channel,
//! first-touch source, geography), typed custom attributes, workspace
//! settings, journeys and campaigns.

use std::fmt;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{CampaignId, JourneyId, SegmentId};
use crate::time::{Secs, Tz};

/// Known (has an email or external id) or anonymous (cookie only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ContactKind {
    Known,
    Anonymous,
}

impl ContactKind {
    pub fn key(self) -> &'static str {
        match self {
            ContactKind::Known => "known",
            ContactKind::Anonymous => "anonymous",
        }
    }
}

macro_rules! keyed_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $key:literal / $label:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable key used in criteria, JSON and exports.
            pub fn key(self) -> &'static str {
                match self { $($name::$variant => $key),+ }
            }

            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label),+ }
            }

            /// Parses a key or a label, ignoring case, spaces, `-` and `_`.
            pub fn parse(raw: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| squash_eq(v.key(), raw) || squash_eq(v.label(), raw))
            }

            pub fn index(self) -> usize {
                self as usize
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.key())
            }
        }
    };
}

/// Lower-cases and drops everything but letters and digits, for forgiving
/// matching of enum names typed by people ("Organic search", "organic_search").
pub fn squash(raw: &str) -> String {
    squashed(raw).collect()
}

/// `squash(a) == squash(b)` without building either string: enum names and
/// stages are matched once per imported value.
pub fn squash_eq(a: &str, b: &str) -> bool {
    squashed(a).eq(squashed(b))
}

fn squashed(raw: &str) -> impl Iterator<Item = char> + '_ {
    raw.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase)
}

keyed_enum!(
    /// How a contact entered the workspace.
    Channel {
        Manual = "manual" / "Manual",
        Import = "import" / "Import",
        Api = "api" / "API",
        Form = "form" / "Form",
        Integration = "integration" / "Integration",
        Tracking = "tracking" / "Tracking",
    }
);

keyed_enum!(
    /// The marketing source of a contact's first visit.
    Source {
        OrganicSearch = "organic_search" / "Organic search",
        PaidSearch = "paid_search" / "Paid search",
        Social = "social" / "Social",
        Email = "email" / "Email",
        Referral = "referral" / "Referral",
        Direct = "direct" / "Direct",
        Other = "other" / "Other",
    }
);

/// UTM parameters of a page view.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Utm {
    pub source: Option<String>,
    pub medium: Option<String>,
    pub campaign: Option<String>,
}

const SEARCH_ENGINES: &[&str] = &[
    "google",
    "bing",
    "duckduckgo",
    "yahoo",
    "baidu",
    "yandex",
    "ecosia",
    "qwant",
    "startpage",
    "naver",
    "seznam",
    "search.brave",
];
const SOCIAL_NETWORKS: &[&str] = &[
    "facebook",
    "fb",
    "instagram",
    "twitter",
    "t.co",
    "x.com",
    "linkedin",
    "lnkd.in",
    "reddit",
    "youtube",
    "pinterest",
    "tiktok",
    "snapchat",
    "threads.net",
    "mastodon",
    "bsky",
    "vk.com",
    "whatsapp",
    "telegram",
];
const PAID_MEDIUMS: &[&str] =
    &["cpc", "ppc", "paid", "paidsearch", "paid_search", "sem", "cpm", "display", "paid_social", "paidsocial"];
const EMAIL_MEDIUMS: &[&str] = &["email", "e-mail", "newsletter", "mail"];
const SOCIAL_MEDIUMS: &[&str] = &["social", "social-network", "social_media", "sm"];

fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next()?.rsplit('@').next()?;
    let host = host.split(':').next()?.trim_start_matches("www.").to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

fn host_matches(host: &str, names: &[&str]) -> bool {
    names.iter().any(|name| {
        if name.contains('.') {
            host == *name || host.ends_with(&format!(".{name}"))
        } else {
            host.split('.').any(|label| label == *name)
        }
    })
}

/// Classifies the marketing source of a landing page view from its UTM
/// parameters and referrer. UTM wins over the referrer because a marketer set
/// it on purpose; a referrer from the site itself counts as direct.
pub fn classify_touch(url: &str, referrer: Option<&str>, utm: &Utm) -> Source {
    let medium = utm.medium.as_deref().map(str::to_ascii_lowercase);
    let utm_source = utm.source.as_deref().map(str::to_ascii_lowercase);
    if let Some(medium) = medium.as_deref() {
        if PAID_MEDIUMS.contains(&medium) {
            let social = utm_source.as_deref().is_some_and(|s| host_matches(s, SOCIAL_NETWORKS)) || medium.contains("social");
            return if social { Source::Social } else { Source::PaidSearch };
        }
        if EMAIL_MEDIUMS.contains(&medium) {
            return Source::Email;
        }
        if SOCIAL_MEDIUMS.contains(&medium) {
            return Source::Social;
        }
        if medium == "organic" {
            return Source::OrganicSearch;
        }
        if medium == "referral" {
            return Source::Referral;
        }
    }
    if let Some(source) = utm_source.as_deref() {
        if EMAIL_MEDIUMS.contains(&source) {
            return Source::Email;
        }
        if host_matches(source, SOCIAL_NETWORKS) {
            return Source::Social;
        }
    }
    let referrer_host = referrer.filter(|r| !r.trim().is_empty() && r.trim() != "-").and_then(host_of);
    match referrer_host {
        None if utm.source.is_some() || utm.medium.is_some() => Source::Other,
        None => Source::Direct,
        Some(host) if host_of(url).as_deref() == Some(host.as_str()) => Source::Direct,
        Some(host) if host_matches(&host, SEARCH_ENGINES) => Source::OrganicSearch,
        Some(host) if host_matches(&host, SOCIAL_NETWORKS) => Source::Social,
        Some(host) if host.starts_with("mail.") || host.contains("webmail") || host.starts_with("outlook.") => Source::Email,
        Some(_) => Source::Referral,
    }
}

/// An ISO 3166-1 alpha-2 country code, upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Country([u8; 2]);

impl Country {
    /// Accepts an alpha-2 or alpha-3 code or an English name ("France",
    /// "United States", "UK"), as CRM exports write them.
    pub fn parse(raw: &str) -> Result<Country> {
        let trimmed = raw.trim();
        let found = match trimmed.len() {
            2 => celes::Country::from_alpha2(trimmed),
            3 => celes::Country::from_alpha3(trimmed).or_else(|_| celes::Country::from_alias(squash(trimmed))),
            _ => celes::Country::from_name(squash(trimmed)).or_else(|_| celes::Country::from_alias(squash(trimmed))),
        };
        let found = found.or_else(|err| match squash(trimmed).as_str() {
            "uk" | "greatbritain" | "england" | "scotland" | "wales" => celes::Country::from_alpha2("GB"),
            _ => Err(err),
        });
        match found {
            Ok(country) => {
                let bytes = country.alpha2.as_bytes();
                Ok(Country([bytes[0], bytes[1]]))
            }
            Err(_) => Err(Error::invalid(format!(
                "unknown country `{trimmed}`: use an ISO 3166-1 code such as FR or USA, or an English name"
            ))),
        }
    }

    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ascii code")
    }

    /// The common English name ("United Kingdom", not celes' formal "The
    /// United Kingdom Of Great Britain And Northern Ireland").
    pub fn name(&self) -> &'static str {
        let common = match self.code() {
            "US" => "United States",
            "GB" => "United Kingdom",
            "RU" => "Russia",
            "KR" => "South Korea",
            "KP" => "North Korea",
            "IR" => "Iran",
            "SY" => "Syria",
            "VN" => "Vietnam",
            "LA" => "Laos",
            "BO" => "Bolivia",
            "VE" => "Venezuela",
            "TZ" => "Tanzania",
            "MD" => "Moldova",
            "TW" => "Taiwan",
            "CD" => "DR Congo",
            "CG" => "Congo",
            "CZ" => "Czechia",
            "AE" => "United Arab Emirates",
            "DO" => "Dominican Republic",
            "PH" => "Philippines",
            "NL" => "Netherlands",
            "BS" => "Bahamas",
            "GM" => "Gambia",
            "VA" => "Vatican City",
            "FM" => "Micronesia",
            "PS" => "Palestine",
            "BN" => "Brunei",
            "MK" => "North Macedonia",
            _ => "",
        };
        if !common.is_empty() {
            return common;
        }
        let long = celes::Country::from_alpha2(self.code()).map(|c| c.long_name).unwrap_or("Unknown");
        long.strip_prefix("The ").unwrap_or(long)
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Where a contact is: any part may be unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Geo {
    pub country: Option<Country>,
    pub region: Option<String>,
    pub city: Option<String>,
}

impl Geo {
    pub fn is_empty(&self) -> bool {
        self.country.is_none() && self.region.is_none() && self.city.is_none()
    }
}

/// The type of a custom attribute, fixed when it is declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AttrType {
    Text,
    Number,
    Boolean,
    Date,
    DateTime,
    TextList,
}

impl AttrType {
    pub fn key(self) -> &'static str {
        match self {
            AttrType::Text => "string",
            AttrType::Number => "number",
            AttrType::Boolean => "boolean",
            AttrType::Date => "date",
            AttrType::DateTime => "datetime",
            AttrType::TextList => "list",
        }
    }

    pub fn parse(raw: &str) -> Result<AttrType> {
        Ok(match raw.trim().to_ascii_lowercase().as_str() {
            "string" | "text" => AttrType::Text,
            "number" | "numeric" | "float" | "int" | "integer" => AttrType::Number,
            "boolean" | "bool" => AttrType::Boolean,
            "date" => AttrType::Date,
            "datetime" | "timestamp" => AttrType::DateTime,
            "list" | "tags" | "string_list" => AttrType::TextList,
            other => {
                return Err(Error::invalid(format!(
                    "unknown attribute type `{other}`: use string, number, boolean, date, datetime or list"
                )));
            }
        })
    }
}

/// A typed value of a field or custom attribute. Numbers are finite `f64`
/// (NaN and infinities are refused on the way in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    Text(String),
    Number(f64),
    Bool(bool),
    Date(Date),
    DateTime(Secs),
    List(Vec<String>),
}

impl Value {
    pub fn type_of(&self) -> AttrType {
        match self {
            Value::Text(_) => AttrType::Text,
            Value::Number(_) => AttrType::Number,
            Value::Bool(_) => AttrType::Boolean,
            Value::Date(_) => AttrType::Date,
            Value::DateTime(_) => AttrType::DateTime,
            Value::List(_) => AttrType::TextList,
        }
    }

    /// NULL and "" (and an empty list) are the same "empty" (SPEC §5).
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Text(text) => text.trim().is_empty(),
            Value::List(items) => items.is_empty(),
            _ => false,
        }
    }

    /// Converts a value to the declared type of its attribute, accepting the
    /// canonical text forms (`42`, `true`, `2024-01-31`, RFC 3339). The error
    /// says what was expected.
    pub fn coerce(self, wanted: AttrType) -> Result<Value> {
        if self.type_of() == wanted {
            return Ok(self);
        }
        let fail = |shown: String| Error::invalid(format!("expected a {} value, got {shown}", wanted.key()));
        match (self, wanted) {
            (Value::Text(text), AttrType::Number) => {
                let number: f64 = text.trim().parse().map_err(|_| fail(format!("`{text}`")))?;
                if number.is_finite() { Ok(Value::Number(number)) } else { Err(fail(format!("`{text}`"))) }
            }
            (Value::Text(text), AttrType::Boolean) => match text.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "y" | "1" => Ok(Value::Bool(true)),
                "false" | "no" | "n" | "0" => Ok(Value::Bool(false)),
                _ => Err(fail(format!("`{text}`"))),
            },
            (Value::Text(text), AttrType::Date) => {
                crate::time::parse_date(&text).map(Value::Date).map_err(|_| fail(format!("`{text}`")))
            }
            (Value::Text(text), AttrType::DateTime) => {
                crate::time::parse_instant(&text).map(Value::DateTime).map_err(|_| fail(format!("`{text}`")))
            }
            (Value::Text(text), AttrType::TextList) => {
                Ok(Value::List(text.split([',', ';']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()))
            }
            (Value::Number(number), AttrType::Text) => Ok(Value::Text(number.to_string())),
            (Value::Bool(flag), AttrType::Text) => Ok(Value::Text(flag.to_string())),
            (Value::Number(number), AttrType::Boolean) if number == 0.0 || number == 1.0 => Ok(Value::Bool(number == 1.0)),
            (Value::DateTime(at), AttrType::Date) => Ok(Value::Date(Tz::utc().local_date(at))),
            (other, _) => Err(fail(format!("a {}", other.type_of().key()))),
        }
    }
}

/// Is `name` a valid custom attribute name: lower-case letters, digits and
/// `_`, starting with a letter, at most 64 characters.
pub fn check_attribute_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid attribute name `{name}`: use lower-case letters, digits and `_`, starting with a letter (e.g. `signup_date`)"
        )))
    }
}

/// Turns a column header such as "Signup Date" into an attribute name such
/// as `signup_date`; letters outside ASCII are transliterated first
/// ("Catégorie" → `categorie`, "Город" → `gorod`).
pub fn attribute_name_from_header(header: &str) -> String {
    legacy_attribute_name_from_header(&deunicode::deunicode(header))
}

/// The name earlier versions gave a header, each run of characters other
/// than ASCII letters and digits becoming `_` ("Catégorie" → `cat_gorie`):
/// an import keeps using it where a workspace already has that attribute.
pub fn legacy_attribute_name_from_header(header: &str) -> String {
    let mut name = String::new();
    for c in header.trim().chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.ends_with('_') && !name.is_empty() {
            name.push('_');
        }
    }
    let name = name.trim_end_matches('_').to_owned();
    if name.starts_with(|c: char| c.is_ascii_digit()) { format!("c_{name}") } else { name }
}

/// Session rules (SPEC §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionConfig {
    /// A gap longer than this ends a session; a gap of exactly this continues it.
    pub idle_timeout_secs: i64,
    /// A session is cut when it would last longer than this.
    pub max_length_secs: i64,
    /// Cut sessions at local midnight (off by default: a session counts on
    /// the day of its first event).
    pub split_at_midnight: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig { idle_timeout_secs: 30 * 60, max_length_secs: 24 * 3600, split_at_midnight: false }
    }
}

/// The default lifecycle stages, in order (SPEC §7).
pub const DEFAULT_STAGES: [&str; 5] = ["Raw lead", "Marketing ready", "Marketing engaged", "Marketing qualified", "Sales ready"];

/// A workspace's configurable rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// IANA time zone for relative dates, days and buckets.
    pub time_zone: String,
    /// Lifecycle stages in order.
    pub stages: Vec<String>,
    pub sessions: SessionConfig,
    /// Consecutive soft bounces (no delivery between) that make an address bounced.
    pub soft_bounce_threshold: u32,
    /// The engagement window of the `high` reachability level, in local days.
    pub engaged_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            time_zone: "UTC".to_owned(),
            stages: DEFAULT_STAGES.iter().map(|s| (*s).to_owned()).collect(),
            sessions: SessionConfig::default(),
            soft_bounce_threshold: 5,
            engaged_days: 90,
        }
    }
}

impl Settings {
    pub fn validate(&self) -> Result<Tz> {
        let tz = Tz::parse(&self.time_zone)?;
        if self.stages.is_empty() || self.stages.len() > 50 {
            return Err(Error::invalid("give between 1 and 50 lifecycle stages").in_field("stages"));
        }
        let mut seen = std::collections::HashSet::new();
        for stage in &self.stages {
            if stage.trim().is_empty() || stage.len() > 80 {
                return Err(Error::invalid("a stage name is empty or longer than 80 characters").in_field("stages"));
            }
            if !seen.insert(squash(stage)) {
                return Err(Error::invalid(format!("stage `{stage}` is listed twice")).in_field("stages"));
            }
        }
        let sessions = &self.sessions;
        if !(60..=24 * 3600).contains(&sessions.idle_timeout_secs) {
            return Err(Error::invalid("the idle timeout must be between 60 s and 24 h").in_field("sessions.idle_timeout_secs"));
        }
        if !(sessions.idle_timeout_secs..=7 * 24 * 3600).contains(&sessions.max_length_secs) {
            return Err(Error::invalid("the maximum session length must be between the idle timeout and 7 days")
                .in_field("sessions.max_length_secs"));
        }
        if !(1..=100).contains(&self.soft_bounce_threshold) {
            return Err(Error::invalid("the soft bounce threshold must be between 1 and 100").in_field("soft_bounce_threshold"));
        }
        if !(1..=3650).contains(&self.engaged_days) {
            return Err(Error::invalid("the engagement window must be between 1 and 3650 days").in_field("engaged_days"));
        }
        Ok(tz)
    }

    /// The configured stage matching `raw` (ignoring case and punctuation).
    pub fn find_stage(&self, raw: &str) -> Option<&str> {
        // Stages are distinct once squashed (`validate`), so the exact
        // spelling, the common case of an import, is the same answer.
        let exact = self.stages.iter().find(|stage| stage.as_str() == raw);
        exact.or_else(|| self.stages.iter().find(|stage| squash_eq(stage, raw))).map(String::as_str)
    }
}

keyed_enum!(
    /// Lifecycle of a journey or campaign.
    Status {
        Draft = "draft" / "Draft",
        Scheduled = "scheduled" / "Scheduled",
        Active = "active" / "Active",
        Paused = "paused" / "Paused",
        Completed = "completed" / "Completed",
        Archived = "archived" / "Archived",
    }
);

impl Status {
    /// Active means it is running or about to send: the summary's "active" count.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Active | Status::Scheduled)
    }
}

/// What kind of automation object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AutomationKind {
    Journey,
    Campaign,
}

/// A journey or campaign as segscope stores it: enough to count and link
/// them from a segment's summary (SPEC §1); segscope does not send email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Automation {
    pub id: u32,
    pub kind: AutomationKind,
    pub name: String,
    pub status: Status,
    /// Free-form subtype, e.g. `welcome`, `newsletter`, `re-engagement`.
    pub subtype: String,
    pub segment_ids: Vec<SegmentId>,
    pub created_at: Secs,
    pub updated_at: Secs,
}

impl Automation {
    pub fn journey_id(&self) -> JourneyId {
        JourneyId(self.id)
    }

    pub fn campaign_id(&self) -> CampaignId {
        CampaignId(self.id)
    }
}

/// The editable part of a journey or campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutomationSpec {
    pub name: String,
    pub status: Status,
    pub subtype: String,
    pub segment_ids: Vec<SegmentId>,
}

/// Checks a display name (segment, journey, campaign): 1 to 200 characters, no control characters.
pub fn check_name(what: &str, name: &str) -> Result<String> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid(format!("{what} name is empty")).in_field("name"));
    }
    if trimmed.chars().count() > 200 {
        return Err(Error::invalid(format!("{what} name is longer than 200 characters")).in_field("name"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Error::invalid(format!("{what} name contains a control character")).in_field("name"));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn squash_eq_is_equality_of_the_squashed_strings(
            a in "[ a-zA-Z0-9_\\-ÉéßİıΣσς]{0,12}",
            b in "[ a-zA-Z0-9_\\-ÉéßİıΣσς]{0,12}",
        ) {
            proptest::prop_assert_eq!(squash_eq(&a, &b), squash(&a) == squash(&b));
            proptest::prop_assert!(squash_eq(&a, &a));
            proptest::prop_assert!(squash_eq(&a.to_uppercase(), &a.to_lowercase()) == (squash(&a.to_uppercase()) == squash(&a.to_lowercase())));
        }
    }

    #[test]
    fn first_touch_classification() {
        let none = Utm::default();
        let url = "https://shop.example/landing";
        assert_eq!(classify_touch(url, None, &none), Source::Direct);
        assert_eq!(classify_touch(url, Some("https://www.google.com/"), &none), Source::OrganicSearch);
        assert_eq!(classify_touch(url, Some("https://t.co/abc"), &none), Source::Social);
        assert_eq!(classify_touch(url, Some("https://blog.partner.example/post"), &none), Source::Referral);
        assert_eq!(classify_touch(url, Some("https://shop.example/other"), &none), Source::Direct);
        let paid = Utm { source: Some("google".into()), medium: Some("cpc".into()), campaign: None };
        assert_eq!(classify_touch(url, Some("https://www.google.com/"), &paid), Source::PaidSearch);
        let mail = Utm { source: Some("newsletter".into()), medium: Some("email".into()), campaign: None };
        assert_eq!(classify_touch(url, None, &mail), Source::Email);
        let odd = Utm { source: Some("podcast".into()), medium: Some("audio".into()), campaign: None };
        assert_eq!(classify_touch(url, None, &odd), Source::Other);
    }

    #[test]
    fn countries_by_code_or_name() {
        assert_eq!(Country::parse("fr").unwrap().code(), "FR");
        assert_eq!(Country::parse("USA").unwrap().code(), "US");
        assert_eq!(Country::parse("United States").unwrap().code(), "US");
        assert_eq!(Country::parse("Germany").unwrap().code(), "DE");
        assert_eq!(Country::parse("UK").unwrap().code(), "GB");
        assert!(Country::parse("Atlantis").is_err());
    }

    #[test]
    fn headers_become_attribute_names() {
        assert_eq!(attribute_name_from_header("Signup Date"), "signup_date");
        assert_eq!(attribute_name_from_header("  Plan (tier) "), "plan_tier");
        assert_eq!(attribute_name_from_header("2nd phone"), "c_2nd_phone");
        assert_eq!(attribute_name_from_header("Catégorie client"), "categorie_client");
        assert_eq!(attribute_name_from_header("Straße"), "strasse");
        assert_eq!(attribute_name_from_header("Город"), "gorod");
        assert_eq!(legacy_attribute_name_from_header("Catégorie client"), "cat_gorie_client");
        assert!(check_attribute_name("signup_date").is_ok());
        assert!(check_attribute_name("Signup").is_err());
    }

    #[test]
    fn values_coerce_to_declared_types() {
        assert_eq!(Value::Text("42".into()).coerce(AttrType::Number).unwrap(), Value::Number(42.0));
        assert_eq!(Value::Text("yes".into()).coerce(AttrType::Boolean).unwrap(), Value::Bool(true));
        assert!(Value::Text("NaN".into()).coerce(AttrType::Number).is_err());
        assert!(Value::Text("soon".into()).coerce(AttrType::Date).unwrap_err().message.contains("expected a date"));
    }
}
