//! A contact as the engine keeps it: identity, fields, custom attributes,
//! its event history (web hits, email history, custom events) and the
//! values derived from them (sessions, email flags, first touch, provider).
//! Derived values are recomputed by [`Contact::refresh`] from the sorted
//! histories, never patched incrementally, so they cannot drift.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::email::Email;
use crate::esp::Provider;
use crate::event::{EmailKind, MailFact, MailRecord, TrackRecord, WebKind};
use crate::ids::ContactId;
use crate::model::{Channel, ContactKind, Geo, SessionConfig, Source, Value};
use crate::session::{Session, sessionize};
use crate::subscription::{EmailFlags, Reachability, SubscriptionStatus, fold_flags, reachability, subscription_status};
use crate::time::{Secs, Tz};
use crate::web_history::WebHistory;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub id: ContactId,
    /// False once deleted or merged into another contact.
    pub alive: bool,
    pub merged_into: Option<ContactId>,
    /// Known: when added; anonymous: first seen.
    pub created_at: Secs,
    pub identified_at: Option<Secs>,
    pub email: Option<Email>,
    pub external_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    /// A configured stage name.
    pub stage: Option<String>,
    pub stage_history: Vec<(Secs, Option<String>)>,
    pub channel: Channel,
    /// A first-touch source set explicitly (import, API); wins over the observed one.
    pub explicit_source: Option<Source>,
    /// Geography set explicitly (import, API); wins over the observed one.
    pub explicit_geo: Geo,
    /// Geography of the latest web event that had one.
    pub observed_geo: Option<(Secs, Geo)>,
    pub tags: Vec<String>,
    pub attributes: Attributes,
    pub visitor_ids: Vec<String>,
    /// Sorted web events, packed.
    pub web: WebHistory,
    /// Sorted email and consent history.
    pub mail: Vec<MailRecord>,
    /// Sorted custom events.
    pub track: Vec<TrackRecord>,
    // Derived by `refresh`.
    pub sessions: Vec<Session>,
    pub flags: EmailFlags,
    pub first_touch: Option<Source>,
    pub last_engaged: Option<Secs>,
    pub last_seen: Option<Secs>,
    pub provider: Provider,
}

impl Contact {
    pub fn new(id: ContactId, created_at: Secs, channel: Channel) -> Contact {
        Contact {
            id,
            alive: true,
            merged_into: None,
            created_at,
            identified_at: None,
            email: None,
            external_id: None,
            first_name: None,
            last_name: None,
            phone: None,
            stage: None,
            stage_history: Vec::new(),
            channel,
            explicit_source: None,
            explicit_geo: Geo::default(),
            observed_geo: None,
            tags: Vec::new(),
            attributes: Attributes::default(),
            visitor_ids: Vec::new(),
            web: WebHistory::default(),
            mail: Vec::new(),
            track: Vec::new(),
            sessions: Vec::new(),
            flags: EmailFlags::default(),
            first_touch: None,
            last_engaged: None,
            last_seen: None,
            provider: Provider::None,
        }
    }

    /// Known means identified: an email or an external id (SPEC §1).
    pub fn kind(&self) -> ContactKind {
        if self.email.is_some() || self.external_id.is_some() { ContactKind::Known } else { ContactKind::Anonymous }
    }

    pub fn is_known(&self) -> bool {
        self.kind() == ContactKind::Known
    }

    /// Explicit geography if any part was set explicitly, else the latest observed.
    pub fn geo(&self) -> &Geo {
        if !self.explicit_geo.is_empty() {
            return &self.explicit_geo;
        }
        self.observed_geo.as_ref().map_or(&self.explicit_geo, |(_, geo)| geo)
    }

    pub fn source(&self) -> Option<Source> {
        self.explicit_source.or(self.first_touch)
    }

    pub fn status(&self) -> SubscriptionStatus {
        subscription_status(self.email.is_some(), self.flags)
    }

    pub fn reachability(&self, engaged_since: Secs) -> Reachability {
        reachability(self.email.is_some(), self.flags, self.last_engaged, engaged_since)
    }

    /// Recomputes every derived value from the sorted histories.
    pub fn refresh(
        &mut self,
        sessions: &SessionConfig,
        soft_bounce_threshold: u32,
        tz: &Tz,
        mx: &dyn Fn(&str) -> Option<Vec<String>>,
    ) {
        self.sessions = sessionize(self.web.iter(), sessions, tz);
        self.flags = fold_flags(&self.mail, soft_bounce_threshold);
        self.first_touch = self.web.iter().find(|hit| hit.kind == WebKind::PageView).and_then(|hit| hit.touch);
        self.last_seen = self.web.last().map(|hit| hit.at);
        let last_mail_engagement = self
            .mail
            .iter()
            .rev()
            .find(|r| matches!(r.fact, MailFact::Email(EmailKind::Opened | EmailKind::Clicked)))
            .map(|r| r.at);
        self.last_engaged = self.last_seen.max(last_mail_engagement);
        self.provider = match &self.email {
            None => Provider::None,
            Some(email) => {
                let domain = email.domain();
                let hosts = mx(crate::esp::registrable_domain(domain));
                crate::esp::provider_for_domain(domain, hosts.as_deref())
            }
        };
    }

    /// Sessions that started in `[from, to)`.
    pub fn sessions_between(&self, from: Secs, to: Secs) -> &[Session] {
        let first = self.sessions.partition_point(|s| s.start < from);
        let last = self.sessions.partition_point(|s| s.start < to);
        &self.sessions[first..last]
    }
}

/// Inserts into a sorted vector, keeping it sorted; equal elements are kept
/// (two identical page views a second apart are two page views).
pub fn insert_sorted<T: Ord>(items: &mut Vec<T>, item: T) {
    let at = items.partition_point(|existing| existing <= &item);
    items.insert(at, item);
}

/// Merges a sorted batch into a sorted vector in one pass.
pub fn merge_sorted<T: Ord + Copy>(items: &mut Vec<T>, mut batch: Vec<T>) {
    if batch.is_empty() {
        return;
    }
    batch.sort_unstable();
    if items.last().is_none_or(|last| *last <= batch[0]) {
        items.extend(batch);
        return;
    }
    let mut merged = Vec::with_capacity(items.len() + batch.len());
    let (mut a, mut b) = (items.iter().peekable(), batch.iter().peekable());
    while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
        if x <= y {
            merged.push(**x);
            a.next();
        } else {
            merged.push(**y);
            b.next();
        }
    }
    merged.extend(a.copied());
    merged.extend(b.copied());
    *items = merged;
}

/// A contact's custom attributes: a short vector sorted by name. Most
/// contacts have a handful, for which a `BTreeMap` would allocate a whole
/// node (11 slots, over 600 bytes) per contact.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes(Vec<(Box<str>, Value)>);

impl Attributes {
    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(key, _)| (**key).cmp(name))
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.position(name).ok().map(|i| &self.0[i].1)
    }

    /// Sets a value; returns the one it replaced.
    pub fn insert(&mut self, name: &str, value: Value) -> Option<Value> {
        match self.position(name) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.reserve_exact(1);
                self.0.insert(i, (name.into(), value));
                None
            }
        }
    }

    /// Sets a value only if the name has none.
    pub fn insert_if_absent(&mut self, name: &str, value: Value) {
        if let Err(i) = self.position(name) {
            self.0.reserve_exact(1);
            self.0.insert(i, (name.into(), value));
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let i = self.position(name).ok()?;
        let (_, value) = self.0.remove(i);
        if self.0.is_empty() {
            self.0 = Vec::new();
        }
        Some(value)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// By name, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(name, value)| (&**name, value))
    }

    pub(crate) fn entries(&self) -> &[(Box<str>, Value)] {
        &self.0
    }

    pub fn into_entries(self) -> Vec<(Box<str>, Value)> {
        self.0
    }
}

impl Serialize for Attributes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Attributes, D::Error> {
        let map = BTreeMap::<String, Value>::deserialize(deserializer)?;
        let mut entries: Vec<(Box<str>, Value)> = map.into_iter().map(|(k, v)| (k.into_boxed_str(), v)).collect();
        entries.shrink_to_fit();
        Ok(Attributes(entries))
    }
}
