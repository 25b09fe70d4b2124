//! A naive reference implementation of segscope's semantics, written to be
//! obviously right rather than fast: after every operation it recomputes
//! every segment from scratch, evaluates criteria by converting each
//! instant to a local date, and builds the summary by scanning raw events.
//! Property tests drive it and the engine with the same random operations
//! and compare memberships, logs and summaries.
//!
//! It shares only leaf vocabulary with the core (the criteria AST, the
//! summary types, time-zone handling, the touch and provider tables), not
//! its logic: identity, sessions, email state, evaluation, membership
//! history and aggregation are re-implemented here.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use segscope_core::criteria::{BuiltinField, Count, CountOp, Criteria, EmailCondition, FieldOp, Operand, Window};
use segscope_core::engine::{Command, ContactUpsert, Definition, Reason, SegmentSpec};
use segscope_core::esp::{Provider, provider_for_domain, registrable_domain};
use segscope_core::event::{
    BounceClass, ConsentChange, EmailEvent, EmailKind, EventBody, EventInput, Identify, MailFact, PageView, Subject,
};
use segscope_core::ids::SegmentId;
use segscope_core::model::{Channel, ContactKind, Country, Settings, Source, Status, Utm, Value, classify_touch};
use segscope_core::subscription::{Reachability, SubscriptionStatus};
use segscope_core::summary::{
    Associated, Geography, Growth, GrowthPoint, Overall, Share, Summary, SummaryRequest, View, Website, WebsiteGroup,
};
use segscope_core::time::{Secs, Tz, add_days, buckets};

/// One operation of a random scenario, applied to both implementations.
#[derive(Debug, Clone, PartialEq)]
pub enum RefOp {
    Upsert { email: String, fields: Vec<(String, Option<Value>)>, created_at: Option<Secs> },
    PageView { visitor: String, at: Secs, url: String, bot: bool },
    Heartbeat { visitor: String, at: Secs },
    Identify { visitor: String, at: Secs, email: String },
    Mail { email: String, at: Secs, kind: EmailKind },
    Track { email: String, at: Secs, name: String },
    Delete { email: String },
    CreateSegment { name: String, criteria: Criteria },
    EditSegment { id: SegmentId, criteria: Criteria },
}

impl RefOp {
    /// The engine command for this operation.
    pub fn to_command(&self, world: &RefWorld) -> Command {
        let event = |subject: Subject, at: Secs, body: EventBody| Command::RecordEvents {
            events: vec![EventInput { subject, at, body }],
        };
        match self {
            RefOp::Upsert { email, fields, created_at } => Command::UpsertContacts {
                contacts: vec![ContactUpsert {
                    email: Some(email.clone()),
                    external_id: None,
                    fields: fields.clone(),
                    created_at: *created_at,
                }],
                channel: Channel::Import,
                list: None,
            },
            RefOp::PageView { visitor, at, url, bot } => event(
                Subject::Visitor(visitor.clone()),
                *at,
                EventBody::PageView(PageView {
                    url: url.clone(),
                    referrer: None,
                    utm: Utm::default(),
                    bot: *bot,
                    status: None,
                    geo: None,
                }),
            ),
            RefOp::Heartbeat { visitor, at } => event(Subject::Visitor(visitor.clone()), *at, EventBody::Heartbeat),
            RefOp::Identify { visitor, at, email } => event(
                Subject::Visitor(visitor.clone()),
                *at,
                EventBody::Identify(Identify { email: Some(email.clone()), external_id: None, traits: Vec::new() }),
            ),
            RefOp::Mail { email, at, kind } => {
                event(Subject::Email(email.clone()), *at, EventBody::Email(EmailEvent { kind: *kind, campaign: None }))
            }
            RefOp::Track { email, at, name } => {
                event(Subject::Email(email.clone()), *at, EventBody::Track { name: name.clone() })
            }
            RefOp::Delete { email } => Command::DeleteContact(segscope_core::engine::ContactRef::Email(email.clone())),
            RefOp::CreateSegment { name, criteria } => Command::CreateSegment(SegmentSpec {
                name: name.clone(),
                description: String::new(),
                definition: Definition::Dynamic(criteria.clone()),
            }),
            RefOp::EditSegment { id, criteria } => Command::UpdateSegment {
                id: *id,
                spec: SegmentSpec {
                    name: world.segments.iter().find(|s| s.id == *id).map(|s| s.name.clone()).unwrap_or_default(),
                    description: String::new(),
                    definition: Definition::Dynamic(criteria.clone()),
                },
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum HitKind {
    PageView,
    Engagement,
}

#[derive(Debug, Clone)]
pub struct RefContact {
    pub id: u32,
    pub alive: bool,
    /// Known now, or when it stopped existing.
    pub known: bool,
    pub email: Option<String>,
    pub visitors: Vec<String>,
    pub created_at: Secs,
    pub channel: Channel,
    pub stage: Option<String>,
    pub country: Option<String>,
    pub tags: Vec<String>,
    pub attributes: BTreeMap<String, Value>,
    hits: Vec<(Secs, HitKind, String)>,
    mail: Vec<(Secs, MailFact)>,
    track: Vec<(Secs, String)>,
}

#[derive(Debug, Clone)]
pub struct RefSegment {
    pub id: SegmentId,
    pub name: String,
    pub criteria: Criteria,
    pub members: BTreeSet<u32>,
    pub epoch: u32,
    pub backfill: BTreeSet<u32>,
    /// (time, contact, entered, reason) of the current epoch.
    pub entries: Vec<(Secs, u32, bool, Reason)>,
}

#[derive(Debug, Clone, Copy)]
struct RefSession {
    start: Secs,
    end: Secs,
    page_views: u32,
}

/// The whole reference state of one workspace.
#[derive(Debug, Clone)]
pub struct RefWorld {
    pub settings: Settings,
    tz: Tz,
    pub contacts: Vec<RefContact>,
    pub segments: Vec<RefSegment>,
    pub now: Secs,
    day: Date,
}

impl RefWorld {
    pub fn new(settings: Settings, now: Secs) -> RefWorld {
        let tz = Tz::parse(&settings.time_zone).expect("valid time zone");
        let all = RefSegment {
            id: SegmentId(0),
            name: "All contacts".into(),
            criteria: Criteria::everyone(),
            members: BTreeSet::new(),
            epoch: 1,
            backfill: BTreeSet::new(),
            entries: Vec::new(),
        };
        let day = tz.local_date(now);
        RefWorld { settings, tz, contacts: Vec::new(), segments: vec![all], now, day }
    }

    fn by_email(&self, email: &str) -> Option<u32> {
        let wanted = email.trim().to_lowercase();
        self.contacts.iter().find(|c| c.alive && c.email.as_deref() == Some(wanted.as_str())).map(|c| c.id)
    }

    fn by_visitor(&self, visitor: &str) -> Option<u32> {
        self.contacts.iter().find(|c| c.alive && c.visitors.iter().any(|v| v == visitor)).map(|c| c.id)
    }

    fn create(&mut self, created_at: Secs, channel: Channel) -> u32 {
        let id = self.contacts.len() as u32;
        self.contacts.push(RefContact {
            id,
            alive: true,
            known: false,
            email: None,
            visitors: Vec::new(),
            created_at: created_at.min(self.now),
            channel,
            stage: None,
            country: None,
            tags: Vec::new(),
            attributes: BTreeMap::new(),
            hits: Vec::new(),
            mail: Vec::new(),
            track: Vec::new(),
        });
        id
    }

    /// Applies an operation at `now`; returns whether it was accepted (the
    /// engine must agree).
    pub fn apply(&mut self, op: &RefOp, now: Secs) -> bool {
        self.advance(now);
        let mut reasons: BTreeMap<u32, Reason> = BTreeMap::new();
        let mut edited: Option<(SegmentId, Criteria)> = None;
        let accepted = match op {
            RefOp::Upsert { email, fields, created_at } => {
                let id = match self.by_email(email) {
                    Some(id) => id,
                    None => {
                        let id = self.create(created_at.unwrap_or(self.now), Channel::Import);
                        let contact = &mut self.contacts[id as usize];
                        contact.email = Some(email.trim().to_lowercase());
                        contact.known = true;
                        id
                    }
                };
                for (name, value) in fields {
                    self.set_field(id, name, value.clone());
                }
                true
            }
            RefOp::PageView { visitor, at, url, bot } => {
                if *bot {
                    true
                } else {
                    let id = match self.by_visitor(visitor) {
                        Some(id) => id,
                        None => {
                            let id = self.create(*at, Channel::Tracking);
                            self.contacts[id as usize].visitors.push(visitor.clone());
                            id
                        }
                    };
                    let contact = &mut self.contacts[id as usize];
                    if !contact.known && contact.channel == Channel::Tracking && *at < contact.created_at {
                        contact.created_at = *at;
                    }
                    contact.hits.push((*at, HitKind::PageView, url.clone()));
                    true
                }
            }
            RefOp::Heartbeat { visitor, at } => match self.by_visitor(visitor) {
                Some(id) => {
                    self.contacts[id as usize].hits.push((*at, HitKind::Engagement, String::new()));
                    true
                }
                None => false,
            },
            RefOp::Identify { visitor, at, email } => {
                let email = email.trim().to_lowercase();
                let target = self.by_email(&email);
                let current = self.by_visitor(visitor);
                match (current, target) {
                    (Some(cur), Some(known)) if cur == known => {}
                    (Some(cur), Some(known)) if !self.contacts[cur as usize].known => {
                        self.merge(known, cur);
                        reasons.insert(cur, Reason::Merged);
                        reasons.insert(known, Reason::Merged);
                    }
                    (Some(cur), Some(known)) => {
                        self.contacts[cur as usize].visitors.retain(|v| v != visitor);
                        self.contacts[known as usize].visitors.push(visitor.clone());
                    }
                    (Some(cur), None) if !self.contacts[cur as usize].known => {
                        let contact = &mut self.contacts[cur as usize];
                        contact.email = Some(email);
                        contact.known = true;
                    }
                    (Some(cur), None) => {
                        // The visitor's contact already has an email: someone else.
                        let id = self.create(*at, Channel::Form);
                        let contact = &mut self.contacts[id as usize];
                        contact.email = Some(email);
                        contact.known = true;
                        contact.visitors.push(visitor.clone());
                        self.contacts[cur as usize].visitors.retain(|v| v != visitor);
                    }
                    (None, Some(known)) => self.contacts[known as usize].visitors.push(visitor.clone()),
                    (None, None) => {
                        let id = self.create(*at, Channel::Form);
                        let contact = &mut self.contacts[id as usize];
                        contact.email = Some(email);
                        contact.known = true;
                        contact.visitors.push(visitor.clone());
                    }
                }
                true
            }
            RefOp::Mail { email, at, kind } => match self.by_email(email) {
                Some(id) => {
                    self.contacts[id as usize].mail.push((*at, MailFact::Email(*kind)));
                    true
                }
                None => false,
            },
            RefOp::Track { email, at, name } => match self.by_email(email) {
                Some(id) => {
                    self.contacts[id as usize].track.push((*at, name.clone()));
                    true
                }
                None => false,
            },
            RefOp::Delete { email } => match self.by_email(email) {
                Some(id) => {
                    let contact = &mut self.contacts[id as usize];
                    contact.alive = false;
                    contact.visitors.clear();
                    reasons.insert(id, Reason::Deleted);
                    true
                }
                None => false,
            },
            RefOp::CreateSegment { name, criteria } => {
                let id = SegmentId(self.segments.iter().map(|s| s.id.0).max().unwrap_or(0) + 1);
                let members = self.evaluate(criteria, self.tz.local_date(self.now));
                self.segments.push(RefSegment {
                    id,
                    name: name.clone(),
                    criteria: criteria.clone(),
                    backfill: members.clone(),
                    members,
                    epoch: 1,
                    entries: Vec::new(),
                });
                true
            }
            RefOp::EditSegment { id, criteria } => {
                edited = Some((*id, criteria.clone()));
                true
            }
        };
        if !accepted {
            return false;
        }
        let today = self.tz.local_date(self.now);
        for index in 0..self.segments.len() {
            if let Some((id, criteria)) = &edited
                && self.segments[index].id == *id
            {
                if self.segments[index].criteria == *criteria {
                    continue;
                }
                let fresh = self.evaluate(criteria, today);
                let now = self.now;
                let segment = &mut self.segments[index];
                // Exits of the closing epoch are not part of the new one.
                segment.criteria = criteria.clone();
                segment.epoch += 1;
                segment.entries.clear();
                segment.backfill = fresh.clone();
                segment.members = fresh;
                let _ = now;
                continue;
            }
            let criteria = self.segments[index].criteria.clone();
            let fresh = self.evaluate(&criteria, today);
            self.record(index, fresh, self.now, &reasons);
        }
        true
    }

    /// Steps through every local midnight up to `now`, recomputing
    /// everything as of each midnight (time-dependent criteria change then).
    pub fn advance(&mut self, now: Secs) {
        self.now = self.now.max(now);
        let today = self.tz.local_date(self.now);
        while self.day < today {
            self.day = add_days(self.day, 1);
            let midnight = self.tz.start_of_day(self.day);
            for index in 0..self.segments.len() {
                let criteria = self.segments[index].criteria.clone();
                let fresh = self.evaluate(&criteria, self.day);
                self.record(index, fresh, midnight, &BTreeMap::new());
            }
        }
    }

    fn record(&mut self, index: usize, fresh: BTreeSet<u32>, at: Secs, reasons: &BTreeMap<u32, Reason>) {
        let segment = &mut self.segments[index];
        let old = std::mem::take(&mut segment.members);
        for gone in old.difference(&fresh) {
            segment.entries.push((at, *gone, false, reasons.get(gone).copied().unwrap_or(Reason::Criteria)));
        }
        for new in fresh.difference(&old) {
            segment.entries.push((at, *new, true, reasons.get(new).copied().unwrap_or(Reason::Criteria)));
        }
        segment.members = fresh;
    }

    fn merge(&mut self, keep: u32, absorb: u32) {
        let gone = self.contacts[absorb as usize].clone();
        let target = &mut self.contacts[keep as usize];
        target.hits.extend(gone.hits.iter().cloned());
        target.mail.extend(gone.mail.iter().cloned());
        target.track.extend(gone.track.iter().cloned());
        for visitor in &gone.visitors {
            if !target.visitors.contains(visitor) {
                target.visitors.push(visitor.clone());
            }
        }
        for (name, value) in &gone.attributes {
            target.attributes.entry(name.clone()).or_insert_with(|| value.clone());
        }
        for tag in &gone.tags {
            if !target.tags.iter().any(|t| t.eq_ignore_ascii_case(tag)) {
                target.tags.push(tag.clone());
            }
        }
        if target.stage.is_none() {
            target.stage = gone.stage.clone();
        }
        if target.country.is_none() {
            target.country = gone.country.clone();
        }
        let absorbed = &mut self.contacts[absorb as usize];
        absorbed.alive = false;
        absorbed.visitors.clear();
        absorbed.hits.clear();
        absorbed.mail.clear();
        absorbed.track.clear();
    }

    fn set_field(&mut self, id: u32, name: &str, value: Option<Value>) {
        let now = self.now;
        let contact = &mut self.contacts[id as usize];
        let text = |v: &Option<Value>| match v {
            Some(Value::Text(t)) if !t.trim().is_empty() => Some(t.trim().to_owned()),
            _ => None,
        };
        match name {
            "stage" => {
                contact.stage = text(&value).and_then(|raw| self.settings.find_stage(&raw).map(str::to_owned));
            }
            "country" => contact.country = text(&value).and_then(|raw| Country::parse(&raw).ok()).map(|c| c.code().to_owned()),
            "tags" => {
                contact.tags = match &value {
                    Some(Value::List(items)) => items.clone(),
                    Some(Value::Text(t)) => t.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(),
                    _ => Vec::new(),
                };
            }
            "opted_in" => {
                if let Some(Value::Bool(on)) = value {
                    let change = if on { ConsentChange::OptedIn } else { ConsentChange::NoConsent };
                    contact.mail.push((now, MailFact::Consent(change)));
                }
            }
            "unsubscribed" => {
                if let Some(Value::Bool(true)) = value {
                    contact.mail.push((now, MailFact::Consent(ConsentChange::Unsubscribed)));
                }
            }
            attribute => match value {
                Some(value) if !value.is_empty() => {
                    contact.attributes.insert(attribute.to_owned(), value);
                }
                _ => {
                    contact.attributes.remove(attribute);
                }
            },
        }
    }

    fn sorted_hits(contact: &RefContact) -> Vec<(Secs, HitKind, String)> {
        let mut hits = contact.hits.clone();
        hits.sort();
        hits
    }

    fn sessions(&self, contact: &RefContact) -> Vec<RefSession> {
        let config = &self.settings.sessions;
        let mut out: Vec<RefSession> = Vec::new();
        let mut current: Option<RefSession> = None;
        for (at, kind, _) in Self::sorted_hits(contact) {
            let new_session = match &current {
                None => true,
                Some(s) => at - s.end > config.idle_timeout_secs || at - s.start > config.max_length_secs,
            };
            if new_session {
                if let Some(done) = current.take()
                    && done.page_views > 0
                {
                    out.push(done);
                }
                current = Some(RefSession { start: at, end: at, page_views: 0 });
            }
            let s = current.as_mut().expect("set");
            s.end = at;
            if kind == HitKind::PageView {
                s.page_views += 1;
            }
        }
        if let Some(done) = current
            && done.page_views > 0
        {
            out.push(done);
        }
        out
    }

    fn sorted_mail(contact: &RefContact) -> Vec<(Secs, MailFact)> {
        let mut mail = contact.mail.clone();
        mail.sort();
        mail
    }

    /// (opted_in, pending, unsubscribed, bounced, complained, dnc, invalid)
    fn flags(&self, contact: &RefContact) -> [bool; 7] {
        let (mut opted, mut pending, mut unsub, mut bounced, mut complained, mut dnc, mut invalid) =
            (false, false, false, false, false, false, false);
        let mut streak = 0;
        for (_, fact) in Self::sorted_mail(contact) {
            match fact {
                MailFact::Consent(ConsentChange::OptedIn) | MailFact::Email(EmailKind::OptInConfirmed) => {
                    opted = true;
                    pending = false;
                    unsub = false;
                }
                MailFact::Consent(ConsentChange::Pending) | MailFact::Email(EmailKind::OptInRequested) => pending = !opted,
                MailFact::Consent(ConsentChange::Unsubscribed) | MailFact::Email(EmailKind::Unsubscribed) => {
                    unsub = true;
                    opted = false;
                    pending = false;
                }
                MailFact::Consent(ConsentChange::NoConsent) => {
                    opted = false;
                    pending = false;
                }
                MailFact::Consent(ConsentChange::DoNotContact(on)) => dnc = on,
                MailFact::Consent(ConsentChange::Invalid(on)) => invalid = on,
                MailFact::Consent(ConsentChange::Cleaned) | MailFact::Email(EmailKind::Bounced(BounceClass::Hard)) => {
                    bounced = true
                }
                MailFact::Email(EmailKind::Bounced(BounceClass::Soft)) => {
                    streak += 1;
                    if streak >= self.settings.soft_bounce_threshold {
                        bounced = true;
                    }
                }
                MailFact::Email(EmailKind::Delivered | EmailKind::Opened | EmailKind::Clicked) => streak = 0,
                MailFact::Email(EmailKind::Complained) => complained = true,
                _ => {}
            }
        }
        [opted, pending, unsub, bounced, complained, dnc, invalid]
    }

    fn status(&self, contact: &RefContact) -> SubscriptionStatus {
        if contact.email.is_none() {
            return SubscriptionStatus::NoEmail;
        }
        let [opted, pending, unsub, bounced, complained, dnc, invalid] = self.flags(contact);
        if unsub {
            SubscriptionStatus::Unsubscribed
        } else if complained {
            SubscriptionStatus::Complained
        } else if bounced {
            SubscriptionStatus::Bounced
        } else if dnc {
            SubscriptionStatus::DoNotContact
        } else if invalid {
            SubscriptionStatus::Invalid
        } else if pending {
            SubscriptionStatus::Pending
        } else if opted {
            SubscriptionStatus::OptedIn
        } else {
            SubscriptionStatus::NoConsent
        }
    }

    fn reachability(&self, contact: &RefContact, today: Date) -> Reachability {
        if contact.email.is_none() {
            return Reachability::None;
        }
        let [opted, _, unsub, bounced, complained, dnc, invalid] = self.flags(contact);
        if unsub || bounced || complained || dnc || invalid {
            return Reachability::Unreachable;
        }
        if !opted {
            return Reachability::Low;
        }
        let first_day = add_days(today, 1 - i64::from(self.settings.engaged_days));
        let engaged = contact.hits.iter().map(|h| h.0).chain(
            contact
                .mail
                .iter()
                .filter(|(_, f)| matches!(f, MailFact::Email(EmailKind::Opened | EmailKind::Clicked)))
                .map(|m| m.0),
        );
        if engaged.into_iter().any(|at| self.tz.local_date(at) >= first_day) { Reachability::High } else { Reachability::Medium }
    }

    fn provider(contact: &RefContact) -> Provider {
        match &contact.email {
            None => Provider::None,
            Some(email) => {
                let domain = email.rsplit_once('@').map_or("", |(_, d)| d);
                let _ = registrable_domain(domain);
                provider_for_domain(domain, None)
            }
        }
    }

    fn first_touch(contact: &RefContact) -> Option<Source> {
        Self::sorted_hits(contact)
            .into_iter()
            .find(|h| h.1 == HitKind::PageView)
            .map(|(_, _, url)| classify_touch(&url, None, &Utm::default()))
    }

    fn in_window(&self, at: Secs, window: Window, today: Date) -> bool {
        match window {
            Window::Ever => true,
            Window::LastDays(n) => {
                let day = self.tz.local_date(at);
                day >= add_days(today, 1 - i64::from(n)) && day <= today
            }
        }
    }

    fn count_holds(count: Count, n: usize) -> bool {
        let want = count.n as usize;
        match count.op {
            CountOp::AtLeast => n >= want,
            CountOp::MoreThan => n > want,
            CountOp::AtMost => n <= want,
            CountOp::FewerThan => n < want,
            CountOp::Exactly => n == want,
        }
    }

    /// Every alive contact the criteria select as of local day `today`.
    pub fn evaluate(&self, criteria: &Criteria, today: Date) -> BTreeSet<u32> {
        self.contacts.iter().filter(|c| c.alive && self.matches(criteria, c, today)).map(|c| c.id).collect()
    }

    fn matches(&self, criteria: &Criteria, contact: &RefContact, today: Date) -> bool {
        match criteria {
            Criteria::And(children) => children.iter().all(|c| self.matches(c, contact, today)),
            Criteria::Or(children) => children.iter().any(|c| self.matches(c, contact, today)),
            Criteria::Not(inner) => !self.matches(inner, contact, today),
            Criteria::Kind(ContactKind::Known) => contact.known,
            Criteria::Kind(ContactKind::Anonymous) => !contact.known,
            Criteria::MemberOf(id) => self.segments.iter().any(|s| s.id == *id && s.members.contains(&contact.id)),
            Criteria::Visited { url, count, window } => {
                let n = contact
                    .hits
                    .iter()
                    .filter(|(at, kind, u)| {
                        *kind == HitKind::PageView && self.in_window(*at, *window, today) && naive_url_match(url, u)
                    })
                    .count();
                Self::count_holds(*count, n)
            }
            Criteria::Sessions { count, window } => {
                let n = self.sessions(contact).iter().filter(|s| self.in_window(s.start, *window, today)).count();
                Self::count_holds(*count, n)
            }
            Criteria::Performed { event, count, window } => {
                let n = contact.track.iter().filter(|(at, name)| name == event && self.in_window(*at, *window, today)).count();
                Self::count_holds(*count, n)
            }
            Criteria::Email { kind, count, window } => {
                let n = contact
                    .mail
                    .iter()
                    .filter(|(at, fact)| {
                        matches!(fact, MailFact::Email(k) if kind_matches(*kind, *k)) && self.in_window(*at, *window, today)
                    })
                    .count();
                Self::count_holds(*count, n)
            }
            Criteria::Field { field, op } => self.field_matches(field, op, contact, today),
        }
    }

    fn field_value(&self, field: &str, contact: &RefContact) -> Option<RefValue> {
        let text = |t: Option<&str>| t.filter(|s| !s.trim().is_empty()).map(|s| RefValue::Text(s.to_lowercase()));
        match BuiltinField::parse(field) {
            Some(BuiltinField::Email) => text(contact.email.as_deref()),
            Some(BuiltinField::EmailDomain) => text(contact.email.as_deref().and_then(|e| e.rsplit_once('@')).map(|(_, d)| d)),
            Some(BuiltinField::Stage) => contact.stage.as_ref().map(|s| RefValue::Stage(s.clone())),
            Some(BuiltinField::Country) => text(contact.country.as_deref()),
            Some(BuiltinField::Tags) => {
                (!contact.tags.is_empty()).then(|| RefValue::List(contact.tags.iter().map(|t| t.to_lowercase()).collect()))
            }
            Some(BuiltinField::CreatedAt) => Some(RefValue::Instant(contact.created_at)),
            Some(BuiltinField::CreationChannel) => Some(RefValue::Text(contact.channel.key().to_owned())),
            Some(BuiltinField::FirstTouchSource) => Self::first_touch(contact).map(|s| RefValue::Text(s.key().to_owned())),
            Some(BuiltinField::EmailProvider) => {
                contact.email.as_ref().map(|_| RefValue::Text(Self::provider(contact).key().to_owned()))
            }
            Some(BuiltinField::SubscriptionStatus) => Some(RefValue::Text(self.status(contact).key().to_owned())),
            Some(BuiltinField::OptedIn) => Some(RefValue::Bool(self.flags(contact)[0])),
            Some(BuiltinField::Unsubscribed) => Some(RefValue::Bool(self.flags(contact)[2])),
            Some(BuiltinField::Bounced) => Some(RefValue::Bool(self.flags(contact)[3])),
            Some(other) => panic!("the reference does not model field {}", other.name()),
            None => match contact.attributes.get(field) {
                None => None,
                Some(Value::Text(t)) => text(Some(t)),
                Some(Value::Number(n)) => Some(RefValue::Number(*n)),
                Some(Value::Bool(b)) => Some(RefValue::Bool(*b)),
                Some(Value::Date(d)) => Some(RefValue::Date(*d)),
                Some(Value::DateTime(t)) => Some(RefValue::Instant(*t)),
                Some(Value::List(items)) => {
                    (!items.is_empty()).then(|| RefValue::List(items.iter().map(|i| i.to_lowercase()).collect()))
                }
            },
        }
    }

    /// The local date of a value, for date comparisons.
    fn as_date(&self, value: &RefValue) -> Option<Date> {
        match value {
            RefValue::Date(d) => Some(*d),
            RefValue::Instant(t) => Some(self.tz.local_date(*t)),
            _ => None,
        }
    }

    fn operand_date(&self, operand: &Operand, today: Date) -> Option<Date> {
        match operand {
            Operand::Date(d) => Some(*d),
            Operand::DaysFromToday(n) => Some(add_days(today, i64::from(*n))),
            _ => None,
        }
    }

    /// -1, 0, 1 or None (incomparable).
    fn compare(&self, value: &RefValue, operand: &Operand, today: Date) -> Option<std::cmp::Ordering> {
        match (value, operand) {
            (RefValue::Number(a), Operand::Number(b)) => a.partial_cmp(b),
            (RefValue::Instant(a), Operand::DateTime(b)) => Some(a.cmp(b)),
            (RefValue::Date(a), Operand::DateTime(b)) => Some(a.cmp(&self.tz.local_date(*b))),
            (RefValue::Stage(stage), Operand::Text(wanted)) => {
                let position = |name: &str| self.settings.stages.iter().position(|s| s.eq_ignore_ascii_case(name));
                Some(position(stage)?.cmp(&position(wanted)?))
            }
            (value, operand) => Some(self.as_date(value)?.cmp(&self.operand_date(operand, today)?)),
        }
    }

    fn equals(&self, value: &RefValue, operand: &Operand, today: Date) -> bool {
        match (value, operand) {
            (RefValue::Text(a), Operand::Text(b)) => *a == b.to_lowercase(),
            (RefValue::Stage(a), Operand::Text(b)) => a.eq_ignore_ascii_case(b),
            (RefValue::Bool(a), Operand::Bool(b)) => a == b,
            (RefValue::List(items), Operand::Text(b)) => items.contains(&b.to_lowercase()),
            _ => self.compare(value, operand, today) == Some(std::cmp::Ordering::Equal),
        }
    }

    fn field_matches(&self, field: &str, op: &FieldOp, contact: &RefContact, today: Date) -> bool {
        use std::cmp::Ordering::*;
        let value = self.field_value(field, contact);
        let Some(value) = value else {
            return matches!(op, FieldOp::Ne(_) | FieldOp::NotIn(_) | FieldOp::IsEmpty);
        };
        let cmp = |o: &Operand| self.compare(&value, o, today);
        match op {
            FieldOp::IsEmpty => false,
            FieldOp::IsNotEmpty => true,
            FieldOp::Eq(o) => self.equals(&value, o, today),
            FieldOp::Ne(o) => !self.equals(&value, o, today),
            FieldOp::Lt(o) => cmp(o) == Some(Less),
            FieldOp::Le(o) => matches!(cmp(o), Some(Less | Equal)),
            FieldOp::Gt(o) => cmp(o) == Some(Greater),
            FieldOp::Ge(o) => matches!(cmp(o), Some(Greater | Equal)),
            FieldOp::Between(a, b) => matches!(cmp(a), Some(Greater | Equal)) && matches!(cmp(b), Some(Less | Equal)),
            FieldOp::In(values) => values.iter().any(|o| self.equals(&value, o, today)),
            FieldOp::NotIn(values) => !values.iter().any(|o| self.equals(&value, o, today)),
            FieldOp::Contains(needle) => match &value {
                RefValue::List(items) => items.contains(&needle.to_lowercase()),
                RefValue::Text(t) => t.contains(&needle.to_lowercase()),
                _ => false,
            },
            FieldOp::StartsWith(needle) => matches!(&value, RefValue::Text(t) if t.starts_with(&needle.to_lowercase())),
            FieldOp::EndsWith(needle) => matches!(&value, RefValue::Text(t) if t.ends_with(&needle.to_lowercase())),
            FieldOp::InLastDays(n) => self.as_date(&value).is_some_and(|d| d >= add_days(today, 1 - i64::from(*n)) && d <= today),
            FieldOp::MoreThanDaysAgo(n) => self.as_date(&value).is_some_and(|d| d < add_days(today, -i64::from(*n))),
        }
    }

    /// The summary, computed row by row from the raw data and the log.
    pub fn summary(&mut self, segment: SegmentId, request: &SummaryRequest, now: Secs) -> Summary {
        self.advance(now);
        let today = self.tz.local_date(self.now);
        let seg = self.segments.iter().find(|s| s.id == segment).expect("segment exists").clone();
        let in_view = |c: &RefContact| match request.view {
            View::All => true,
            View::Known => c.known,
            View::Anonymous => !c.known,
        };
        let members: Vec<&RefContact> =
            seg.members.iter().map(|id| &self.contacts[*id as usize]).filter(|c| in_view(c)).collect();
        let base = members.len() as u64;
        let share = |count: u64, base: u64| Share { count, share: (base > 0).then(|| count as f64 / base as f64) };
        let ratio = |n: f64, d: u64| (d > 0).then(|| n / d as f64);
        let mut groups = [(0u64, 0u64, 0i64, 0u64, 0u64); 2];
        for contact in &members {
            let in_range: Vec<RefSession> = self
                .sessions(contact)
                .into_iter()
                .filter(|s| request.range.from <= s.start && s.start < request.range.to)
                .collect();
            let g = &mut groups[usize::from(!contact.known)];
            g.0 += 1;
            g.1 += in_range.len() as u64;
            g.2 += in_range.iter().map(|s| s.end - s.start).sum::<i64>();
            g.3 += in_range.iter().filter(|s| s.page_views == 1).count() as u64;
            g.4 += u64::from(!in_range.is_empty());
        }
        let group = |g: (u64, u64, i64, u64, u64)| WebsiteGroup {
            members: g.0,
            sessions: g.1,
            sessions_per_member: ratio(g.1 as f64, g.0),
            avg_session_secs: ratio(g.2 as f64, g.1),
            bounces: g.3,
            bounce_rate: ratio(g.3 as f64, g.1),
            active_members: g.4,
        };
        let sessions = groups[0].1 + groups[1].1;
        let duration = groups[0].2 + groups[1].2;
        let bounces = groups[0].3 + groups[1].3;
        let count_by = |f: &dyn Fn(&RefContact) -> bool| members.iter().filter(|c| f(c)).count() as u64;

        // Growth from the log: back-fill at created_at, then entries.
        let buckets = buckets(request.range, &request.tz, request.granularity).expect("valid range");
        let mut changes: Vec<(Secs, i64)> = Vec::new();
        for id in &seg.backfill {
            let c = &self.contacts[*id as usize];
            if in_view(c) {
                changes.push((c.created_at, 1));
            }
        }
        for (at, id, entered, _) in &seg.entries {
            if in_view(&self.contacts[*id as usize]) {
                changes.push((*at, if *entered { 1 } else { -1 }));
            }
        }
        let total_before = |at: Secs| changes.iter().filter(|(t, _)| *t < at).map(|(_, d)| d).sum::<i64>().max(0) as u64;
        let points: Vec<GrowthPoint> = buckets
            .iter()
            .map(|b| {
                let added = changes.iter().filter(|(t, d)| *d > 0 && b.start <= *t && *t < b.end).count() as u64;
                let removed = changes.iter().filter(|(t, d)| *d < 0 && b.start <= *t && *t < b.end).count() as u64;
                GrowthPoint {
                    period_start: b.period_start,
                    start: b.start,
                    end: b.end,
                    added,
                    removed,
                    net: added as i64 - removed as i64,
                    total: total_before(b.end),
                }
            })
            .collect();
        let added: u64 = points.iter().map(|p| p.added).sum();
        let removed: u64 = points.iter().map(|p| p.removed).sum();
        let growth = Growth {
            granularity: request.granularity,
            added,
            removed,
            net: added as i64 - removed as i64,
            total_at_start: total_before(request.range.from),
            total_at_end: points.last().map_or(base, |p| p.total),
            points,
        };

        let mut stages = Vec::new();
        for stage in &self.settings.stages {
            stages.push((Some(stage.clone()), share(count_by(&|c| c.stage.as_deref() == Some(stage.as_str())), base)));
        }
        stages.push((None, share(count_by(&|c| c.stage.is_none()), base)));
        let mut countries: BTreeMap<Option<String>, u64> = BTreeMap::new();
        for c in &members {
            *countries.entry(c.country.clone()).or_default() += 1;
        }
        let mut country_rows: Vec<(Option<Country>, Share)> =
            countries.into_iter().map(|(k, n)| (k.map(|code| Country::parse(&code).expect("code")), share(n, base))).collect();
        country_rows.sort_by(|a, b| a.0.is_none().cmp(&b.0.is_none()).then(b.1.count.cmp(&a.1.count)).then(a.0.cmp(&b.0)));

        Summary {
            segment,
            segment_name: seg.name.clone(),
            view: request.view,
            range: request.range,
            tz: request.tz.name().to_owned(),
            computed_at: now,
            overall: Overall {
                known: groups[0].0,
                anonymous: groups[1].0,
                total: base,
                sessions,
                avg_session_secs: ratio(duration as f64, sessions),
                bounces,
                bounce_rate: ratio(bounces as f64, sessions),
            },
            growth,
            associated: Associated {
                journeys: Vec::new(),
                journeys_active: 0,
                campaigns: Vec::new(),
                campaigns_active: 0,
                opted_in: share(count_by(&|c| self.flags(c)[0]), base),
                bounced: share(count_by(&|c| self.flags(c)[3]), base),
                unsubscribed: share(count_by(&|c| self.flags(c)[2]), base),
            },
            reachability: Reachability::ALL
                .iter()
                .map(|r| (*r, share(count_by(&|c| self.reachability(c, today) == *r), base)))
                .collect(),
            subscription: SubscriptionStatus::ALL
                .iter()
                .map(|s| (*s, share(count_by(&|c| self.status(c) == *s), base)))
                .collect(),
            website: Website { known: group(groups[0]), anonymous: group(groups[1]) },
            stages,
            channels: Channel::ALL.iter().map(|ch| (*ch, share(count_by(&|c| c.channel == *ch), base))).collect(),
            sources: Source::ALL
                .iter()
                .map(|s| (Some(*s), share(count_by(&|c| Self::first_touch(c) == Some(*s)), base)))
                .chain(std::iter::once((None, share(count_by(&|c| Self::first_touch(c).is_none()), base))))
                .collect(),
            providers: Provider::ALL.iter().map(|p| (*p, share(count_by(&|c| Self::provider(c) == *p), base))).collect(),
            geography: Geography {
                countries: country_rows,
                drill_country: None,
                drill_region: None,
                regions: Vec::new(),
                cities: Vec::new(),
            },
        }
    }

    /// Members of a segment by contact id.
    pub fn members(&self, segment: SegmentId) -> BTreeSet<u32> {
        self.segments.iter().find(|s| s.id == segment).map(|s| s.members.clone()).unwrap_or_default()
    }

    pub fn automation_status_active(status: Status) -> bool {
        matches!(status, Status::Active | Status::Scheduled)
    }
}

#[derive(Debug, Clone)]
enum RefValue {
    /// Lower-cased.
    Text(String),
    Stage(String),
    Number(f64),
    Bool(bool),
    Date(Date),
    Instant(Secs),
    List(Vec<String>),
}

fn kind_matches(condition: EmailCondition, kind: EmailKind) -> bool {
    match condition {
        EmailCondition::Sent => kind == EmailKind::Sent,
        EmailCondition::Delivered => kind == EmailKind::Delivered,
        EmailCondition::Opened => kind == EmailKind::Opened,
        EmailCondition::Clicked => kind == EmailKind::Clicked,
        EmailCondition::Bounced => matches!(kind, EmailKind::Bounced(BounceClass::Hard | BounceClass::Soft)),
        EmailCondition::HardBounced => kind == EmailKind::Bounced(BounceClass::Hard),
        EmailCondition::SoftBounced => kind == EmailKind::Bounced(BounceClass::Soft),
        EmailCondition::Blocked => kind == EmailKind::Bounced(BounceClass::Block),
        EmailCondition::Complained => kind == EmailKind::Complained,
        EmailCondition::Unsubscribed => kind == EmailKind::Unsubscribed,
    }
}

/// Glob matching by recursion over the path, ignoring case, the query and a
/// trailing slash: a second implementation of the engine's URL patterns.
pub fn naive_url_match(pattern: &str, url: &str) -> bool {
    let path = match url.split_once("://") {
        Some((_, rest)) if !pattern.contains("://") => rest.find('/').map_or("/".to_owned(), |i| rest[i..].to_owned()),
        _ => url.to_owned(),
    };
    let path = path.split(['?', '#']).next().unwrap_or("").to_lowercase();
    let pattern = pattern.trim().to_lowercase();
    fn strip(s: &str) -> &str {
        if s.len() > 1 { s.trim_end_matches('/') } else { s }
    }
    fn glob(p: &[char], s: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
            Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
        }
    }
    let p: Vec<char> = strip(&pattern).chars().collect();
    let s: Vec<char> = strip(&path).chars().collect();
    glob(&p, &s)
}
