//! Evaluating criteria on one contact. Criteria are first compiled for a
//! given local day: relative dates become dates, windows become instant
//! bounds, and a date compared with a date-time field becomes the instants
//! of that local day, so evaluating a contact never converts time zones.

use jiff::civil::Date;

use crate::contact::Contact;
use crate::criteria::{BuiltinField, Count, Criteria, EmailCondition, FieldOp, Operand, Window};
use crate::event::{MailFact, WebKind};
use crate::ids::{ContactId, SegmentId};
use crate::interner::Interner;
use crate::model::{ContactKind, Value};
use crate::time::{Secs, Tz, add_days};

/// What evaluation reads besides the contact.
pub struct EvalEnv<'a> {
    pub tz: &'a Tz,
    pub today: Date,
    pub urls: &'a Interner,
    pub event_names: &'a Interner,
    pub stages: &'a [String],
    pub is_member: &'a (dyn Fn(SegmentId, ContactId) -> bool + Sync),
}

/// A literal resolved for evaluation.
#[derive(Debug, Clone)]
enum Lit {
    /// Lower-cased text.
    Text(String),
    Number(f64),
    Bool(bool),
    /// A local day: the date and the instants it covers.
    Day {
        date: Date,
        start: Secs,
        end: Secs,
    },
    Instant(Secs),
}

#[derive(Debug, Clone)]
enum Test {
    Eq(Lit),
    Ne(Lit),
    Lt(Lit),
    Le(Lit),
    Gt(Lit),
    Ge(Lit),
    Between(Lit, Lit),
    In(Vec<Lit>),
    NotIn(Vec<Lit>),
    Contains(String),
    StartsWith(String),
    EndsWith(String),
    IsEmpty,
    IsNotEmpty,
}

#[derive(Debug, Clone)]
enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Field { field: FieldKey, test: Test },
    Visited { pattern: UrlPattern, count: Count, since: Secs, until: Secs },
    Sessions { count: Count, since: Secs, until: Secs },
    Performed { name: Option<u32>, count: Count, since: Secs, until: Secs },
    Email { kind: EmailCondition, count: Count, since: Secs, until: Secs },
    MemberOf(SegmentId),
    Kind(ContactKind),
}

#[derive(Debug, Clone)]
enum FieldKey {
    Builtin(BuiltinField),
    Attribute(String),
}

/// Criteria compiled for one local day.
#[derive(Debug, Clone)]
pub struct Compiled {
    root: Node,
}

impl Compiled {
    pub fn new(criteria: &Criteria, env: &EvalEnv<'_>) -> Compiled {
        Compiled { root: compile(criteria, env) }
    }

    pub fn matches(&self, contact: &Contact, env: &EvalEnv<'_>) -> bool {
        eval(&self.root, contact, env)
    }
}

fn day(date: Date, tz: &Tz) -> Lit {
    Lit::Day { date, start: tz.start_of_day(date), end: tz.start_of_day(add_days(date, 1)) }
}

fn lit(operand: &Operand, env: &EvalEnv<'_>) -> Lit {
    match operand {
        Operand::Text(text) => Lit::Text(text.to_lowercase()),
        Operand::Number(n) => Lit::Number(*n),
        Operand::Bool(flag) => Lit::Bool(*flag),
        Operand::Date(date) => day(*date, env.tz),
        Operand::DateTime(at) => Lit::Instant(*at),
        Operand::DaysFromToday(days) => day(add_days(env.today, i64::from(*days)), env.tz),
    }
}

/// The instants of a window: `[start of day today-(n-1), start of tomorrow)`.
fn window_bounds(window: Window, env: &EvalEnv<'_>) -> (Secs, Secs) {
    match window {
        Window::Ever => (Secs::MIN, Secs::MAX),
        Window::LastDays(days) => {
            (env.tz.start_of_day(add_days(env.today, 1 - i64::from(days))), env.tz.start_of_day(add_days(env.today, 1)))
        }
    }
}

fn compile(criteria: &Criteria, env: &EvalEnv<'_>) -> Node {
    match criteria {
        Criteria::And(children) => Node::And(children.iter().map(|c| compile(c, env)).collect()),
        Criteria::Or(children) => Node::Or(children.iter().map(|c| compile(c, env)).collect()),
        Criteria::Not(inner) => Node::Not(Box::new(compile(inner, env))),
        Criteria::Field { field, op } => {
            let key = BuiltinField::parse(field).map_or_else(|| FieldKey::Attribute(field.clone()), FieldKey::Builtin);
            let l = |o: &Operand| lit(o, env);
            let test = match op {
                FieldOp::Eq(o) => Test::Eq(l(o)),
                FieldOp::Ne(o) => Test::Ne(l(o)),
                FieldOp::Lt(o) => Test::Lt(l(o)),
                FieldOp::Le(o) => Test::Le(l(o)),
                FieldOp::Gt(o) => Test::Gt(l(o)),
                FieldOp::Ge(o) => Test::Ge(l(o)),
                FieldOp::Between(a, b) => Test::Between(l(a), l(b)),
                FieldOp::In(values) => Test::In(values.iter().map(l).collect()),
                FieldOp::NotIn(values) => Test::NotIn(values.iter().map(l).collect()),
                FieldOp::Contains(text) => Test::Contains(text.to_lowercase()),
                FieldOp::StartsWith(text) => Test::StartsWith(text.to_lowercase()),
                FieldOp::EndsWith(text) => Test::EndsWith(text.to_lowercase()),
                FieldOp::IsEmpty => Test::IsEmpty,
                FieldOp::IsNotEmpty => Test::IsNotEmpty,
                FieldOp::InLastDays(days) => {
                    Test::Between(day(add_days(env.today, 1 - i64::from(*days)), env.tz), day(env.today, env.tz))
                }
                FieldOp::MoreThanDaysAgo(days) => Test::Lt(day(add_days(env.today, -i64::from(*days)), env.tz)),
            };
            Node::Field { field: key, test }
        }
        Criteria::Visited { url, count, window } => {
            let (since, until) = window_bounds(*window, env);
            Node::Visited { pattern: UrlPattern::new(url), count: *count, since, until }
        }
        Criteria::Sessions { count, window } => {
            let (since, until) = window_bounds(*window, env);
            Node::Sessions { count: *count, since, until }
        }
        Criteria::Performed { event, count, window } => {
            let (since, until) = window_bounds(*window, env);
            Node::Performed { name: env.event_names.get(event), count: *count, since, until }
        }
        Criteria::Email { kind, count, window } => {
            let (since, until) = window_bounds(*window, env);
            Node::Email { kind: *kind, count: *count, since, until }
        }
        Criteria::MemberOf(id) => Node::MemberOf(*id),
        Criteria::Kind(kind) => Node::Kind(*kind),
    }
}

/// A field's value as criteria see it.
enum FieldVal<'c> {
    Empty,
    Text(&'c str),
    Owned(String),
    Number(f64),
    Bool(bool),
    Date(Date),
    DateTime(Secs),
    List(&'c [String]),
}

fn text<'c>(value: Option<&'c str>) -> FieldVal<'c> {
    match value {
        Some(text) if !text.trim().is_empty() => FieldVal::Text(text),
        _ => FieldVal::Empty,
    }
}

fn field_value<'c>(contact: &'c Contact, key: &FieldKey) -> FieldVal<'c> {
    use crate::subscription::EmailFlags as F;
    let flag = |bit: u16| FieldVal::Bool(contact.flags.has(bit));
    match key {
        FieldKey::Builtin(field) => match field {
            BuiltinField::Email => text(contact.email.as_ref().map(|e| e.as_str())),
            BuiltinField::EmailDomain => text(contact.email.as_ref().map(|e| e.domain())),
            BuiltinField::ExternalId => text(contact.external_id.as_deref()),
            BuiltinField::FirstName => text(contact.first_name.as_deref()),
            BuiltinField::LastName => text(contact.last_name.as_deref()),
            BuiltinField::Phone => text(contact.phone.as_deref()),
            BuiltinField::Stage => text(contact.stage.as_deref()),
            BuiltinField::CreationChannel => FieldVal::Text(contact.channel.key()),
            BuiltinField::FirstTouchSource => text(contact.source().map(|s| s.key())),
            BuiltinField::EmailProvider => {
                if contact.email.is_some() {
                    FieldVal::Text(contact.provider.key())
                } else {
                    FieldVal::Empty
                }
            }
            BuiltinField::SubscriptionStatus => FieldVal::Text(contact.status().key()),
            BuiltinField::Country => match contact.geo().country {
                Some(country) => FieldVal::Owned(country.code().to_owned()),
                None => FieldVal::Empty,
            },
            BuiltinField::Region => text(contact.geo().region.as_deref()),
            BuiltinField::City => text(contact.geo().city.as_deref()),
            BuiltinField::Tags => {
                if contact.tags.is_empty() {
                    FieldVal::Empty
                } else {
                    FieldVal::List(&contact.tags)
                }
            }
            BuiltinField::CreatedAt => FieldVal::DateTime(contact.created_at),
            BuiltinField::IdentifiedAt => contact.identified_at.map_or(FieldVal::Empty, FieldVal::DateTime),
            BuiltinField::LastSeenAt => contact.last_seen.map_or(FieldVal::Empty, FieldVal::DateTime),
            BuiltinField::OptedIn => flag(F::OPTED_IN),
            BuiltinField::Unsubscribed => flag(F::UNSUBSCRIBED),
            BuiltinField::Bounced => flag(F::BOUNCED),
            BuiltinField::Complained => flag(F::COMPLAINED),
            BuiltinField::DoNotContact => flag(F::DO_NOT_CONTACT),
        },
        FieldKey::Attribute(name) => match contact.attributes.get(name) {
            None => FieldVal::Empty,
            Some(value) if value.is_empty() => FieldVal::Empty,
            Some(Value::Text(text)) => FieldVal::Text(text),
            Some(Value::Number(n)) => FieldVal::Number(*n),
            Some(Value::Bool(flag)) => FieldVal::Bool(*flag),
            Some(Value::Date(date)) => FieldVal::Date(*date),
            Some(Value::DateTime(at)) => FieldVal::DateTime(*at),
            Some(Value::List(items)) => FieldVal::List(items),
        },
    }
}

fn text_equals(value: &str, lowered: &str) -> bool {
    if value.is_ascii() { value.eq_ignore_ascii_case(lowered) } else { value.to_lowercase() == lowered }
}

/// Three-way comparison of a field value with a literal; `None` when they
/// cannot be compared (an empty value, or types that do not order).
fn compare(value: &FieldVal<'_>, lit: &Lit, env: &EvalEnv<'_>, stage_field: bool) -> Option<std::cmp::Ordering> {
    use std::cmp::Ordering;
    match (value, lit) {
        (FieldVal::Number(a), Lit::Number(b)) => a.partial_cmp(b),
        (FieldVal::Date(d), Lit::Day { date, .. }) => Some(d.cmp(date)),
        (FieldVal::Date(d), Lit::Instant(at)) => Some(d.cmp(&env.tz.local_date(*at))),
        (FieldVal::DateTime(t), Lit::Day { start, end, .. }) => Some(if t < start {
            Ordering::Less
        } else if t >= end {
            Ordering::Greater
        } else {
            Ordering::Equal
        }),
        (FieldVal::DateTime(t), Lit::Instant(at)) => Some(t.cmp(at)),
        (FieldVal::Text(stage), Lit::Text(wanted)) if stage_field => {
            let position = |name: &str| env.stages.iter().position(|s| text_equals(s, &name.to_lowercase()));
            Some(position(stage)?.cmp(&position(wanted)?))
        }
        _ => None,
    }
}

fn equals(value: &FieldVal<'_>, lit: &Lit, env: &EvalEnv<'_>) -> bool {
    match (value, lit) {
        (FieldVal::Text(a), Lit::Text(b)) => text_equals(a, b),
        (FieldVal::Owned(a), Lit::Text(b)) => text_equals(a, b),
        (FieldVal::Bool(a), Lit::Bool(b)) => a == b,
        (FieldVal::List(items), Lit::Text(b)) => items.iter().any(|item| text_equals(item, b)),
        _ => compare(value, lit, env, false) == Some(std::cmp::Ordering::Equal),
    }
}

fn as_text<'v>(value: &'v FieldVal<'_>) -> Option<&'v str> {
    match value {
        FieldVal::Text(text) => Some(text),
        FieldVal::Owned(text) => Some(text),
        _ => None,
    }
}

fn test_field(value: &FieldVal<'_>, test: &Test, env: &EvalEnv<'_>, stage_field: bool) -> bool {
    use std::cmp::Ordering::*;
    let empty = matches!(value, FieldVal::Empty);
    let ordered = |lit: &Lit, ok: &[std::cmp::Ordering]| compare(value, lit, env, stage_field).is_some_and(|o| ok.contains(&o));
    match test {
        Test::IsEmpty => empty,
        Test::IsNotEmpty => !empty,
        _ if empty => matches!(test, Test::Ne(_) | Test::NotIn(_)),
        Test::Eq(lit) => equals(value, lit, env),
        Test::Ne(lit) => !equals(value, lit, env),
        Test::Lt(lit) => ordered(lit, &[Less]),
        Test::Le(lit) => ordered(lit, &[Less, Equal]),
        Test::Gt(lit) => ordered(lit, &[Greater]),
        Test::Ge(lit) => ordered(lit, &[Greater, Equal]),
        Test::Between(low, high) => ordered(low, &[Greater, Equal]) && ordered(high, &[Less, Equal]),
        Test::In(lits) => lits.iter().any(|lit| equals(value, lit, env)),
        Test::NotIn(lits) => !lits.iter().any(|lit| equals(value, lit, env)),
        Test::Contains(needle) => match value {
            FieldVal::List(items) => items.iter().any(|item| text_equals(item, needle)),
            other => as_text(other).is_some_and(|t| t.to_lowercase().contains(needle.as_str())),
        },
        Test::StartsWith(needle) => as_text(value).is_some_and(|t| t.to_lowercase().starts_with(needle.as_str())),
        Test::EndsWith(needle) => as_text(value).is_some_and(|t| t.to_lowercase().ends_with(needle.as_str())),
    }
}

fn eval(node: &Node, contact: &Contact, env: &EvalEnv<'_>) -> bool {
    match node {
        Node::And(children) => children.iter().all(|c| eval(c, contact, env)),
        Node::Or(children) => children.iter().any(|c| eval(c, contact, env)),
        Node::Not(inner) => !eval(inner, contact, env),
        Node::Field { field, test } => {
            let stage_field = matches!(field, FieldKey::Builtin(BuiltinField::Stage));
            test_field(&field_value(contact, field), test, env, stage_field)
        }
        Node::Visited { pattern, count, since, until } => {
            let n = contact
                .web
                .iter()
                .filter(|hit| hit.kind == WebKind::PageView && hit.at >= *since && hit.at < *until)
                .filter(|hit| pattern.matches(env.urls.resolve(hit.url)))
                .count();
            count.holds(n as u64)
        }
        Node::Sessions { count, since, until } => count.holds(contact.sessions_between(*since, *until).len() as u64),
        Node::Performed { name, count, since, until } => {
            let n = match name {
                Some(name) => contact.track.iter().filter(|t| t.name == *name && t.at >= *since && t.at < *until).count(),
                None => 0,
            };
            count.holds(n as u64)
        }
        Node::Email { kind, count, since, until } => {
            let n = contact
                .mail
                .iter()
                .filter(|r| r.at >= *since && r.at < *until)
                .filter(|r| matches!(r.fact, MailFact::Email(k) if kind.matches(k)))
                .count();
            count.holds(n as u64)
        }
        Node::MemberOf(segment) => (env.is_member)(*segment, contact.id),
        Node::Kind(kind) => contact.kind() == *kind,
    }
}

/// A visited-page pattern: `*` matches any run of characters; matching
/// ignores case and a trailing `/`. A pattern with `://` is matched against
/// the whole URL (scheme, host and path), otherwise against the path only.
/// Query strings and fragments are never part of the stored URL.
#[derive(Debug, Clone)]
pub struct UrlPattern {
    full_url: bool,
    parts: Vec<String>,
}

impl UrlPattern {
    pub fn new(pattern: &str) -> UrlPattern {
        let full_url = pattern.contains("://");
        let lowered = pattern.trim().to_lowercase();
        let trimmed = if lowered.len() > 1 { lowered.trim_end_matches('/').to_owned() } else { lowered };
        UrlPattern { full_url, parts: trimmed.split('*').map(str::to_owned).collect() }
    }

    pub fn matches(&self, url: &str) -> bool {
        let subject = if self.full_url { url } else { url_path(url) };
        let lowered = subject.to_lowercase();
        let subject = if lowered.len() > 1 { lowered.trim_end_matches('/') } else { lowered.as_str() };
        glob(&self.parts, subject)
    }
}

/// The path of a stored URL (`https://host/a/b` → `/a/b`; a bare path stays).
pub fn url_path(url: &str) -> &str {
    match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => url,
    }
}

pub fn url_matches(pattern: &str, url: &str) -> bool {
    UrlPattern::new(pattern).matches(url)
}

fn glob(parts: &[String], subject: &str) -> bool {
    if parts.len() == 1 {
        return subject == parts[0];
    }
    let (first, last) = (&parts[0], &parts[parts.len() - 1]);
    if !subject.starts_with(first.as_str()) || subject.len() < first.len() + last.len() || !subject.ends_with(last.as_str()) {
        return false;
    }
    let mut rest = &subject[first.len()..subject.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle.as_str()) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_patterns() {
        assert!(url_matches("/pricing", "https://shop.example/pricing"));
        assert!(url_matches("/pricing", "/pricing/"));
        assert!(url_matches("/Pricing", "/pricing"));
        assert!(!url_matches("/pricing", "/pricing/enterprise"));
        assert!(url_matches("/blog/*", "/blog/2024/hello"));
        assert!(!url_matches("/blog/*", "/about"));
        assert!(url_matches("*pricing*", "/en/pricing/teams"));
        assert!(url_matches("https://shop.example/*", "https://shop.example/cart"));
        assert!(!url_matches("https://shop.example/*", "https://other.example/cart"));
        assert!(url_matches("/", "https://shop.example"));
    }
}
