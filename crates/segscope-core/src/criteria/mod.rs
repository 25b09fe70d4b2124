//! Segment criteria (SPEC §5): the AST, its validation against a
//! workspace's schema, and the facts the engine needs about it (which
//! segments it references, whether time alone can change its result).
//!
//! Two surface forms map onto the one AST: the readable text form of the
//! CLI and dashboard (`text`) and the JSON form of the API (`json`). Both
//! round-trip through the validated, normalized AST.

pub mod eval;
pub mod json;
pub mod text;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::esp::Provider;
use crate::event::{BounceClass, EmailKind};
use crate::ids::SegmentId;
use crate::model::{AttrType, Channel, ContactKind, Country, Source};
use crate::subscription::SubscriptionStatus;
use crate::time::Secs;

/// The most nodes a criteria tree may have; bounds evaluation cost and the
/// size of what a request can make us store.
pub const MAX_NODES: usize = 500;
/// The most values in one `in` / `not in` list.
pub const MAX_LIST_VALUES: usize = 1_000;
/// The longest window or relative date, in days (about 100 years).
pub const MAX_DAYS: u32 = 36_500;

/// A boolean expression over conditions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Criteria {
    /// All must hold; empty means everyone.
    And(Vec<Criteria>),
    /// Any must hold; empty means nobody.
    Or(Vec<Criteria>),
    Not(Box<Criteria>),
    Field {
        field: String,
        op: FieldOp,
    },
    /// Page views whose URL matches `url` (see [`eval::url_matches`]).
    Visited {
        url: String,
        count: Count,
        window: Window,
    },
    /// Sessions that started in the window.
    Sessions {
        count: Count,
        window: Window,
    },
    /// Custom events named `event`.
    Performed {
        event: String,
        count: Count,
        window: Window,
    },
    /// Email events of a kind.
    Email {
        kind: EmailCondition,
        count: Count,
        window: Window,
    },
    /// Current member of another segment or static list.
    MemberOf(SegmentId),
    Kind(ContactKind),
}

/// A comparison on a field or attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FieldOp {
    Eq(Operand),
    Ne(Operand),
    Lt(Operand),
    Le(Operand),
    Gt(Operand),
    Ge(Operand),
    /// Inclusive at both ends.
    Between(Operand, Operand),
    In(Vec<Operand>),
    NotIn(Vec<Operand>),
    Contains(String),
    StartsWith(String),
    EndsWith(String),
    IsEmpty,
    IsNotEmpty,
    /// The local date is one of the last N days, today included.
    InLastDays(u32),
    /// The local date is before `today - N`.
    MoreThanDaysAgo(u32),
}

/// A literal in a condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Operand {
    Text(String),
    Number(f64),
    Bool(bool),
    Date(Date),
    DateTime(Secs),
    /// A date relative to today in the workspace time zone: 0 today, -1
    /// yesterday, 1 tomorrow.
    DaysFromToday(i32),
}

impl Operand {
    fn is_relative(&self) -> bool {
        matches!(self, Operand::DaysFromToday(_))
    }
}

/// How many matching events a behaviour condition needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    pub op: CountOp,
    pub n: u32,
}

impl Count {
    pub const AT_LEAST_ONE: Count = Count { op: CountOp::AtLeast, n: 1 };

    pub fn holds(self, actual: u64) -> bool {
        let n = u64::from(self.n);
        match self.op {
            CountOp::AtLeast => actual >= n,
            CountOp::MoreThan => actual > n,
            CountOp::AtMost => actual <= n,
            CountOp::FewerThan => actual < n,
            CountOp::Exactly => actual == n,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CountOp {
    AtLeast,
    MoreThan,
    AtMost,
    FewerThan,
    Exactly,
}

impl CountOp {
    pub const ALL: [(CountOp, &'static str, &'static str); 5] = [
        (CountOp::AtLeast, "at_least", "at least"),
        (CountOp::MoreThan, "more_than", "more than"),
        (CountOp::AtMost, "at_most", "at most"),
        (CountOp::FewerThan, "fewer_than", "fewer than"),
        (CountOp::Exactly, "exactly", "exactly"),
    ];

    pub fn key(self) -> &'static str {
        CountOp::ALL.iter().find(|(op, _, _)| *op == self).expect("listed").1
    }

    pub fn words(self) -> &'static str {
        CountOp::ALL.iter().find(|(op, _, _)| *op == self).expect("listed").2
    }
}

/// The time window of a behaviour condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Window {
    Ever,
    /// The last N local calendar days, today included.
    LastDays(u32),
}

/// Which email events an email condition counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EmailCondition {
    Sent,
    Delivered,
    Opened,
    Clicked,
    /// A hard or soft bounce (not a sender block).
    Bounced,
    HardBounced,
    SoftBounced,
    Blocked,
    Complained,
    Unsubscribed,
}

impl EmailCondition {
    pub const ALL: [(EmailCondition, &'static str); 10] = [
        (EmailCondition::Sent, "sent"),
        (EmailCondition::Delivered, "delivered"),
        (EmailCondition::Opened, "opened"),
        (EmailCondition::Clicked, "clicked"),
        (EmailCondition::Bounced, "bounced"),
        (EmailCondition::HardBounced, "hard_bounced"),
        (EmailCondition::SoftBounced, "soft_bounced"),
        (EmailCondition::Blocked, "blocked"),
        (EmailCondition::Complained, "complained"),
        (EmailCondition::Unsubscribed, "unsubscribed"),
    ];

    pub fn key(self) -> &'static str {
        EmailCondition::ALL.iter().find(|(kind, _)| *kind == self).expect("listed").1
    }

    pub fn parse(raw: &str) -> Option<EmailCondition> {
        EmailCondition::ALL.iter().find(|(_, key)| *key == raw).map(|(kind, _)| *kind)
    }

    pub fn matches(self, kind: EmailKind) -> bool {
        match self {
            EmailCondition::Sent => kind == EmailKind::Sent,
            EmailCondition::Delivered => kind == EmailKind::Delivered,
            EmailCondition::Opened => kind == EmailKind::Opened,
            EmailCondition::Clicked => kind == EmailKind::Clicked,
            EmailCondition::Bounced => {
                matches!(kind, EmailKind::Bounced(BounceClass::Hard) | EmailKind::Bounced(BounceClass::Soft))
            }
            EmailCondition::HardBounced => kind == EmailKind::Bounced(BounceClass::Hard),
            EmailCondition::SoftBounced => kind == EmailKind::Bounced(BounceClass::Soft),
            EmailCondition::Blocked => kind == EmailKind::Bounced(BounceClass::Block),
            EmailCondition::Complained => kind == EmailKind::Complained,
            EmailCondition::Unsubscribed => kind == EmailKind::Unsubscribed,
        }
    }
}

/// Built-in contact fields usable in criteria.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinField {
    Email,
    EmailDomain,
    ExternalId,
    FirstName,
    LastName,
    Phone,
    Stage,
    CreationChannel,
    FirstTouchSource,
    EmailProvider,
    SubscriptionStatus,
    Country,
    Region,
    City,
    Tags,
    CreatedAt,
    IdentifiedAt,
    LastSeenAt,
    OptedIn,
    Unsubscribed,
    Bounced,
    Complained,
    DoNotContact,
}

impl BuiltinField {
    pub const ALL: [(BuiltinField, &'static str); 23] = [
        (BuiltinField::Email, "email"),
        (BuiltinField::EmailDomain, "email_domain"),
        (BuiltinField::ExternalId, "external_id"),
        (BuiltinField::FirstName, "first_name"),
        (BuiltinField::LastName, "last_name"),
        (BuiltinField::Phone, "phone"),
        (BuiltinField::Stage, "stage"),
        (BuiltinField::CreationChannel, "creation_channel"),
        (BuiltinField::FirstTouchSource, "first_touch_source"),
        (BuiltinField::EmailProvider, "email_provider"),
        (BuiltinField::SubscriptionStatus, "subscription_status"),
        (BuiltinField::Country, "country"),
        (BuiltinField::Region, "region"),
        (BuiltinField::City, "city"),
        (BuiltinField::Tags, "tags"),
        (BuiltinField::CreatedAt, "created_at"),
        (BuiltinField::IdentifiedAt, "identified_at"),
        (BuiltinField::LastSeenAt, "last_seen_at"),
        (BuiltinField::OptedIn, "opted_in"),
        (BuiltinField::Unsubscribed, "unsubscribed"),
        (BuiltinField::Bounced, "bounced"),
        (BuiltinField::Complained, "complained"),
        (BuiltinField::DoNotContact, "do_not_contact"),
    ];

    pub fn parse(name: &str) -> Option<BuiltinField> {
        BuiltinField::ALL.iter().find(|(_, key)| *key == name).map(|(field, _)| *field)
    }

    pub fn name(self) -> &'static str {
        BuiltinField::ALL.iter().find(|(field, _)| *field == self).expect("listed").1
    }

    pub fn field_type(self) -> FieldType {
        use BuiltinField::*;
        match self {
            Email | EmailDomain | ExternalId | FirstName | LastName | Phone | Region | City => FieldType::Text,
            Stage => FieldType::Enum(EnumKind::Stage),
            CreationChannel => FieldType::Enum(EnumKind::Channel),
            FirstTouchSource => FieldType::Enum(EnumKind::Source),
            EmailProvider => FieldType::Enum(EnumKind::Provider),
            SubscriptionStatus => FieldType::Enum(EnumKind::Status),
            Country => FieldType::Enum(EnumKind::Country),
            Tags => FieldType::TextList,
            CreatedAt | IdentifiedAt | LastSeenAt => FieldType::DateTime,
            OptedIn | Unsubscribed | Bounced | Complained | DoNotContact => FieldType::Boolean,
        }
    }
}

/// Closed sets of values with a canonical spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnumKind {
    /// The workspace's lifecycle stages, ordered.
    Stage,
    Channel,
    Source,
    Provider,
    Status,
    Country,
}

/// The type of a field as criteria see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    Text,
    Number,
    Boolean,
    Date,
    DateTime,
    TextList,
    Enum(EnumKind),
}

impl FieldType {
    pub fn of_attr(attr: AttrType) -> FieldType {
        match attr {
            AttrType::Text => FieldType::Text,
            AttrType::Number => FieldType::Number,
            AttrType::Boolean => FieldType::Boolean,
            AttrType::Date => FieldType::Date,
            AttrType::DateTime => FieldType::DateTime,
            AttrType::TextList => FieldType::TextList,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::DateTime => "date-time",
            FieldType::TextList => "list",
            FieldType::Enum(EnumKind::Stage) => "stage",
            FieldType::Enum(_) => "choice",
        }
    }

    fn is_date(self) -> bool {
        matches!(self, FieldType::Date | FieldType::DateTime)
    }
}

/// What validation and the text form need to know about a workspace.
pub trait Schema {
    fn attribute_type(&self, name: &str) -> Option<AttrType>;
    fn attribute_names(&self) -> Vec<String>;
    fn stages(&self) -> &[String];
    /// The segment with this name, ignoring case.
    fn segment_by_name(&self, name: &str) -> Option<SegmentId>;
    fn segment_name(&self, id: SegmentId) -> Option<String>;
}

/// The type of `name`: a built-in field or a declared custom attribute.
pub fn field_type(schema: &dyn Schema, name: &str) -> Option<FieldType> {
    BuiltinField::parse(name).map(BuiltinField::field_type).or_else(|| schema.attribute_type(name).map(FieldType::of_attr))
}

impl Criteria {
    pub fn everyone() -> Criteria {
        Criteria::And(Vec::new())
    }

    /// Flattens nested AND/OR of the same kind and unwraps single-child
    /// groups, so that equal meanings have one shape. The text form prints
    /// and parses exactly this shape.
    pub fn normalized(self) -> Criteria {
        match self {
            Criteria::And(children) => Criteria::group(true, children),
            Criteria::Or(children) => Criteria::group(false, children),
            Criteria::Not(inner) => Criteria::Not(Box::new(inner.normalized())),
            leaf => leaf,
        }
    }

    fn group(is_and: bool, children: Vec<Criteria>) -> Criteria {
        let mut flat = Vec::new();
        for child in children {
            match (is_and, child.normalized()) {
                (true, Criteria::And(grand)) | (false, Criteria::Or(grand)) => flat.extend(grand),
                (_, other) => flat.push(other),
            }
        }
        if flat.len() == 1 {
            flat.pop().expect("one child")
        } else if is_and {
            Criteria::And(flat)
        } else {
            Criteria::Or(flat)
        }
    }

    pub fn node_count(&self) -> usize {
        match self {
            Criteria::And(children) | Criteria::Or(children) => 1 + children.iter().map(Criteria::node_count).sum::<usize>(),
            Criteria::Not(inner) => 1 + inner.node_count(),
            _ => 1,
        }
    }

    /// Segments referenced directly by `member of`.
    pub fn references(&self) -> Vec<SegmentId> {
        let mut out = Vec::new();
        self.visit(&mut |node| {
            if let Criteria::MemberOf(id) = node {
                out.push(*id);
            }
        });
        out.sort();
        out.dedup();
        out
    }

    /// Can the passing of time alone change the result? True for relative
    /// dates and windows. All of them are in local calendar days, so the
    /// result can only change at local midnight.
    pub fn depends_on_time(&self) -> bool {
        let mut timed = false;
        self.visit(&mut |node| {
            timed |= match node {
                Criteria::Field { op, .. } => match op {
                    FieldOp::InLastDays(_) | FieldOp::MoreThanDaysAgo(_) => true,
                    FieldOp::Eq(o) | FieldOp::Ne(o) | FieldOp::Lt(o) | FieldOp::Le(o) | FieldOp::Gt(o) | FieldOp::Ge(o) => {
                        o.is_relative()
                    }
                    FieldOp::Between(a, b) => a.is_relative() || b.is_relative(),
                    FieldOp::In(values) | FieldOp::NotIn(values) => values.iter().any(Operand::is_relative),
                    _ => false,
                },
                Criteria::Visited { window, .. }
                | Criteria::Sessions { window, .. }
                | Criteria::Performed { window, .. }
                | Criteria::Email { window, .. } => matches!(window, Window::LastDays(_)),
                _ => false,
            };
        });
        timed
    }

    fn visit(&self, f: &mut dyn FnMut(&Criteria)) {
        f(self);
        match self {
            Criteria::And(children) | Criteria::Or(children) => children.iter().for_each(|c| c.visit(f)),
            Criteria::Not(inner) => inner.visit(f),
            _ => {}
        }
    }

    /// Checks fields, operators and operands against the schema and returns
    /// the normalized criteria with canonical operands (configured stage
    /// spelling, country codes, enum keys, dates typed). Segment references
    /// must exist; cycles are checked by the engine, which knows the graph.
    pub fn validate(self, schema: &dyn Schema, segment_exists: &dyn Fn(SegmentId) -> bool) -> Result<Criteria> {
        let normalized = self.normalized();
        if normalized.node_count() > MAX_NODES {
            return Err(Error::invalid(format!(
                "criteria have more than {MAX_NODES} conditions: split them into segments and reference those"
            )));
        }
        validate_node(normalized, schema, segment_exists)
    }
}

pub(crate) fn validate_node(node: Criteria, schema: &dyn Schema, segment_exists: &dyn Fn(SegmentId) -> bool) -> Result<Criteria> {
    Ok(match node {
        Criteria::And(children) => {
            Criteria::And(children.into_iter().map(|c| validate_node(c, schema, segment_exists)).collect::<Result<_>>()?)
        }
        Criteria::Or(children) => {
            Criteria::Or(children.into_iter().map(|c| validate_node(c, schema, segment_exists)).collect::<Result<_>>()?)
        }
        Criteria::Not(inner) => Criteria::Not(Box::new(validate_node(*inner, schema, segment_exists)?)),
        Criteria::Field { field, op } => {
            let Some(kind) = field_type(schema, &field) else {
                return Err(unknown_field(schema, &field));
            };
            let op = validate_op(&field, kind, op, schema)?;
            Criteria::Field { field, op }
        }
        Criteria::Visited { url, count, window } => {
            if url.trim().is_empty() || url.len() > 2_000 {
                return Err(Error::invalid("a visited-page pattern must have 1 to 2000 characters"));
            }
            check_window(window)?;
            Criteria::Visited { url, count, window }
        }
        Criteria::Performed { event, count, window } => {
            if event.trim().is_empty() || event.len() > 200 {
                return Err(Error::invalid("an event name must have 1 to 200 characters"));
            }
            check_window(window)?;
            Criteria::Performed { event, count, window }
        }
        Criteria::Sessions { count, window } => {
            check_window(window)?;
            Criteria::Sessions { count, window }
        }
        Criteria::Email { kind, count, window } => {
            check_window(window)?;
            Criteria::Email { kind, count, window }
        }
        Criteria::MemberOf(id) => {
            if !segment_exists(id) {
                return Err(Error::invalid(format!("segment {id} does not exist")));
            }
            Criteria::MemberOf(id)
        }
        Criteria::Kind(kind) => Criteria::Kind(kind),
    })
}

fn check_window(window: Window) -> Result<()> {
    match window {
        Window::LastDays(days) if days == 0 || days > MAX_DAYS => {
            Err(Error::invalid(format!("a window must be between 1 and {MAX_DAYS} days")))
        }
        _ => Ok(()),
    }
}

fn unknown_field(schema: &dyn Schema, field: &str) -> Error {
    let mut known: Vec<String> = BuiltinField::ALL.iter().map(|(_, name)| (*name).to_owned()).collect();
    known.extend(schema.attribute_names());
    Error::invalid(format!("unknown field `{field}`")).with_details(vec![format!("fields: {}", known.join(", "))])
}

fn validate_op(field: &str, kind: FieldType, op: FieldOp, schema: &dyn Schema) -> Result<FieldOp> {
    let operand = |o: Operand| canonical_operand(field, kind, o, schema);
    let ordered = |name: &str| -> Result<()> {
        match kind {
            FieldType::Number | FieldType::Date | FieldType::DateTime | FieldType::Enum(EnumKind::Stage) => Ok(()),
            _ => Err(Error::invalid(format!(
                "`{name}` needs an ordered field, but `{field}` is {}; use =, !=, in or contains",
                kind.describe()
            ))),
        }
    };
    Ok(match op {
        FieldOp::Eq(o) => {
            no_list_equality(field, kind)?;
            FieldOp::Eq(operand(o)?)
        }
        FieldOp::Ne(o) => {
            no_list_equality(field, kind)?;
            FieldOp::Ne(operand(o)?)
        }
        FieldOp::Lt(o) => {
            ordered("<")?;
            FieldOp::Lt(operand(o)?)
        }
        FieldOp::Le(o) => {
            ordered("<=")?;
            FieldOp::Le(operand(o)?)
        }
        FieldOp::Gt(o) => {
            ordered(">")?;
            FieldOp::Gt(operand(o)?)
        }
        FieldOp::Ge(o) => {
            ordered(">=")?;
            FieldOp::Ge(operand(o)?)
        }
        FieldOp::Between(a, b) => {
            ordered("between")?;
            FieldOp::Between(operand(a)?, operand(b)?)
        }
        FieldOp::In(values) | FieldOp::NotIn(values) if values.is_empty() || values.len() > MAX_LIST_VALUES => {
            return Err(Error::invalid(format!("a list of values for `{field}` must have 1 to {MAX_LIST_VALUES} entries")));
        }
        FieldOp::In(values) => FieldOp::In(values.into_iter().map(operand).collect::<Result<_>>()?),
        FieldOp::NotIn(values) => FieldOp::NotIn(values.into_iter().map(operand).collect::<Result<_>>()?),
        FieldOp::Contains(text) | FieldOp::StartsWith(text) | FieldOp::EndsWith(text) if text.is_empty() => {
            return Err(Error::invalid(format!("the text to look for in `{field}` is empty")));
        }
        op @ (FieldOp::Contains(_) | FieldOp::StartsWith(_) | FieldOp::EndsWith(_)) => {
            let allowed = matches!((&op, kind), (FieldOp::Contains(_), FieldType::TextList) | (_, FieldType::Text));
            if !allowed {
                return Err(Error::invalid(format!(
                    "`{field}` is {}: contains, starts with and ends with work on text fields (and contains on lists)",
                    kind.describe()
                )));
            }
            op
        }
        FieldOp::IsEmpty => FieldOp::IsEmpty,
        FieldOp::IsNotEmpty => FieldOp::IsNotEmpty,
        FieldOp::InLastDays(days) | FieldOp::MoreThanDaysAgo(days) if !kind.is_date() => {
            let _ = days;
            return Err(Error::invalid(format!(
                "`{field}` is {}, not a date: relative day conditions need a date field",
                kind.describe()
            )));
        }
        FieldOp::InLastDays(days) if days == 0 || days > MAX_DAYS => {
            return Err(Error::invalid(format!("`in last N days` needs N between 1 and {MAX_DAYS}")));
        }
        FieldOp::MoreThanDaysAgo(days) if days > MAX_DAYS => {
            return Err(Error::invalid(format!("`more than N days ago` needs N up to {MAX_DAYS}")));
        }
        op @ (FieldOp::InLastDays(_) | FieldOp::MoreThanDaysAgo(_)) => op,
    })
}

fn no_list_equality(field: &str, kind: FieldType) -> Result<()> {
    if kind == FieldType::TextList {
        Err(Error::invalid(format!("`{field}` is a list: use `in`, `not in` or `contains` instead of = and !=")))
    } else {
        Ok(())
    }
}

fn canonical_operand(field: &str, kind: FieldType, operand: Operand, schema: &dyn Schema) -> Result<Operand> {
    let mismatch = |shown: String| {
        Error::invalid(format!("`{field}` is {} but the value {shown} is not", kind.describe())).in_field(field.to_owned())
    };
    match (kind, operand) {
        (FieldType::Text | FieldType::TextList, Operand::Text(text)) => Ok(Operand::Text(text)),
        (FieldType::Text | FieldType::TextList, Operand::Number(n)) => Ok(Operand::Text(n.to_string())),
        (FieldType::Number, Operand::Number(n)) if n.is_finite() => Ok(Operand::Number(n)),
        (FieldType::Number, Operand::Text(text)) => match text.trim().parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(Operand::Number(n)),
            _ => Err(mismatch(format!("\"{text}\""))),
        },
        (FieldType::Boolean, Operand::Bool(flag)) => Ok(Operand::Bool(flag)),
        (FieldType::Date | FieldType::DateTime, Operand::Date(date)) => Ok(Operand::Date(date)),
        (FieldType::Date | FieldType::DateTime, Operand::DaysFromToday(days)) if days.unsigned_abs() <= MAX_DAYS => {
            Ok(Operand::DaysFromToday(days))
        }
        (FieldType::DateTime, Operand::DateTime(at)) => Ok(Operand::DateTime(at)),
        (FieldType::Date, Operand::DateTime(at)) => Ok(Operand::Date(crate::time::Tz::utc().local_date(at))),
        (FieldType::Date | FieldType::DateTime, Operand::Text(text)) => {
            if let Ok(date) = crate::time::parse_date(&text) {
                Ok(Operand::Date(date))
            } else if let (FieldType::DateTime, Ok(at)) = (kind, crate::time::parse_instant(&text)) {
                Ok(Operand::DateTime(at))
            } else {
                Err(mismatch(format!("\"{text}\"")))
            }
        }
        (FieldType::Enum(which), Operand::Text(text)) => {
            canonical_enum(which, &text, schema).map(Operand::Text).ok_or_else(|| enum_error(field, which, &text, schema))
        }
        (_, other) => Err(mismatch(describe_operand(&other))),
    }
}

fn describe_operand(operand: &Operand) -> String {
    match operand {
        Operand::Text(text) => format!("\"{text}\""),
        Operand::Number(n) => n.to_string(),
        Operand::Bool(flag) => flag.to_string(),
        Operand::Date(date) => date.to_string(),
        Operand::DateTime(at) => crate::time::format_instant(*at),
        Operand::DaysFromToday(days) => format!("{days} days from today"),
    }
}

/// The canonical spelling of an enum value: the configured stage name, the
/// country code, or the key of a channel, source, provider or status.
pub fn canonical_enum(which: EnumKind, raw: &str, schema: &dyn Schema) -> Option<String> {
    match which {
        EnumKind::Stage => {
            let wanted = crate::model::squash(raw);
            schema.stages().iter().find(|stage| crate::model::squash(stage) == wanted).cloned()
        }
        EnumKind::Channel => Channel::parse(raw).map(|c| c.key().to_owned()),
        EnumKind::Source => Source::parse(raw).map(|s| s.key().to_owned()),
        EnumKind::Provider => Provider::ALL
            .iter()
            .find(|p| {
                crate::model::squash(p.key()) == crate::model::squash(raw)
                    || crate::model::squash(p.label()) == crate::model::squash(raw)
            })
            .map(|p| p.key().to_owned()),
        EnumKind::Status => SubscriptionStatus::parse(raw).map(|s| s.key().to_owned()),
        EnumKind::Country => Country::parse(raw).ok().map(|c| c.code().to_owned()),
    }
}

fn enum_error(field: &str, which: EnumKind, raw: &str, schema: &dyn Schema) -> Error {
    let allowed: Vec<String> = match which {
        EnumKind::Stage => schema.stages().to_vec(),
        EnumKind::Channel => Channel::ALL.iter().map(|c| c.key().to_owned()).collect(),
        EnumKind::Source => Source::ALL.iter().map(|s| s.key().to_owned()).collect(),
        EnumKind::Provider => Provider::ALL.iter().map(|p| p.key().to_owned()).collect(),
        EnumKind::Status => SubscriptionStatus::ALL.iter().map(|s| s.key().to_owned()).collect(),
        EnumKind::Country => {
            vec!["an ISO 3166-1 code such as FR, or an English country name".to_owned()]
        }
    };
    Error::invalid(format!("`{raw}` is not a valid value for `{field}`"))
        .in_field(field.to_owned())
        .with_details(vec![format!("allowed: {}", allowed.join(", "))])
}
