//! Recording events: resolving who they are about (creating anonymous
//! contacts on a first real page view), identify and its merge rules
//! (SPEC §2), and appending to the contacts' sorted histories.

use std::collections::BTreeMap;

use crate::contact::insert_sorted;
use crate::email::Email;
use crate::engine::contacts::{check_external_id, check_visitor_id};
use crate::engine::segments::Reason;
use crate::engine::{EventReport, ItemIssue, MAX_BATCH, MAX_FUTURE_SECS, Outcome, Workspace};
use crate::error::{Error, Result};
use crate::event::{EventBody, EventInput, Identify, MailFact, MailRecord, PageView, Subject, TrackRecord, WebHit, WebKind};
use crate::ids::ContactId;
use crate::model::{Channel, classify_touch};
use crate::time::Secs;

/// The earliest event time accepted (2000-01-01): older stamps are clock bugs.
const MIN_EVENT_TIME: Secs = 946_684_800;

/// Strips the query string and fragment; UTM parameters were already read
/// from them by the door. Keeps the rest as sent (host case folded).
pub fn normalize_url(url: &str) -> String {
    let cut = url.find(['?', '#']).map_or(url, |i| &url[..i]).trim();
    match cut.split_once("://") {
        Some((scheme, rest)) => {
            let (host, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
            format!("{}://{}{}", scheme.to_ascii_lowercase(), host.to_ascii_lowercase(), path)
        }
        None if cut.is_empty() => "/".to_owned(),
        None => cut.to_owned(),
    }
}

impl Workspace {
    pub(crate) fn record_events(&mut self, events: Vec<EventInput>, now: Secs) -> Result<Outcome> {
        if events.len() > MAX_BATCH {
            return Err(Error::invalid(format!("a batch has at most {MAX_BATCH} events; split it")));
        }
        let mut report = EventReport::default();
        let mut dirty: BTreeMap<ContactId, Reason> = BTreeMap::new();
        for (index, event) in events.into_iter().enumerate() {
            match self.record_one(event, now, &mut report, &mut dirty) {
                Ok(Some(warning)) => {
                    report.accepted += 1;
                    report.warnings.push(ItemIssue { index, message: warning });
                }
                Ok(None) => report.accepted += 1,
                Err(err) => report.rejected.push(ItemIssue { index, message: err.to_string() }),
            }
        }
        let ids: Vec<ContactId> = dirty.keys().copied().collect();
        for id in ids {
            if self.contacts[id.0 as usize].alive {
                self.refresh_contact(id);
            }
        }
        dirty.retain(|id, _| self.contacts[id.0 as usize].alive);
        self.reevaluate_dirty(&dirty, now);
        Ok(Outcome::Recorded(report))
    }

    /// Records one event; `Ok(Some(_))` is a warning (the event was used but
    /// something in it was not), `Err` means the event changed nothing.
    fn record_one(
        &mut self,
        event: EventInput,
        now: Secs,
        report: &mut EventReport,
        dirty: &mut BTreeMap<ContactId, Reason>,
    ) -> Result<Option<String>> {
        let at = event.at;
        if at > now + MAX_FUTURE_SECS {
            return Err(Error::invalid(format!(
                "timestamp {} is more than a day in the future",
                crate::time::format_instant(at)
            )));
        }
        if at < MIN_EVENT_TIME {
            return Err(Error::invalid(format!("timestamp {} is before the year 2000", crate::time::format_instant(at))));
        }
        if let Subject::Visitor(visitor) = &event.subject {
            check_visitor_id(visitor)?;
        }
        if let EventBody::Identify(identify) = event.body {
            return self.identify(event.subject, at, identify, now, report, dirty);
        }
        if let EventBody::PageView(view) = &event.body
            && !view.counts()
        {
            if view.bot {
                report.bot_hits += 1;
                self.counters.bot_hits += 1;
            } else {
                report.error_hits += 1;
                self.counters.error_hits += 1;
            }
            return Ok(None);
        }
        let creates = matches!(event.body, EventBody::PageView(_));
        let id = match self.subject_contact(&event.subject, creates, at, now, report)? {
            Some(id) => id,
            None => {
                return Err(Error::invalid("no contact has this visitor id yet: a page view must come first"));
            }
        };
        let mut reason = Reason::Criteria;
        match event.body {
            EventBody::PageView(view) => self.add_page_view(id, at, view),
            EventBody::Heartbeat => self.add_web(id, at, WebKind::Heartbeat),
            EventBody::PageLeave => self.add_web(id, at, WebKind::PageLeave),
            EventBody::Email(email) => {
                if self.contacts[id.0 as usize].email.is_none() {
                    return Err(Error::invalid(format!("contact {id} has no email address, so it cannot have email events")));
                }
                insert_sorted(&mut self.contacts[id.0 as usize].mail, MailRecord { at, fact: MailFact::Email(email.kind) });
            }
            EventBody::StageChange { stage } => {
                let found = self.settings.find_stage(&stage).map(str::to_owned).ok_or_else(|| {
                    Error::invalid(format!("unknown stage `{stage}`; stages: {}", self.settings.stages.join(", ")))
                })?;
                self.set_stage(id, Some(found), at);
            }
            EventBody::Track { name } => {
                let name = name.trim();
                if name.is_empty() || name.len() > 200 {
                    return Err(Error::invalid("an event name must have 1 to 200 characters"));
                }
                let name = self.event_names.intern(name);
                insert_sorted(&mut self.contacts[id.0 as usize].track, TrackRecord { at, name });
            }
            EventBody::Delete => {
                self.delete_by_id(id, now);
                dirty.remove(&id);
                return Ok(None);
            }
            EventBody::Identify(_) => unreachable!("handled above"),
        }
        if let Some(previous) = dirty.get(&id) {
            reason = *previous;
        }
        dirty.insert(id, reason);
        Ok(None)
    }

    /// The contact an event's subject means; a first real page view of an
    /// unknown visitor creates an anonymous contact.
    fn subject_contact(
        &mut self,
        subject: &Subject,
        create_visitor: bool,
        at: Secs,
        now: Secs,
        report: &mut EventReport,
    ) -> Result<Option<ContactId>> {
        Ok(match subject {
            Subject::Visitor(visitor) => match self.by_visitor.get(visitor) {
                Some(id) => Some(*id),
                None if create_visitor => {
                    let id = self.new_contact(at, Channel::Tracking, now);
                    self.contacts[id.0 as usize].visitor_ids.push(visitor.clone());
                    self.by_visitor.insert(visitor.clone(), id);
                    report.contacts_created += 1;
                    Some(id)
                }
                None => None,
            },
            Subject::Email(raw) => {
                let email = Email::parse(raw)?;
                Some(self.find_by_email(&email).ok_or_else(|| {
                    Error::not_found(format!("no contact with email {}: import the contact first", email.as_str()))
                })?)
            }
            Subject::ExternalId(raw) => Some(self.by_external_id.get(raw.trim()).copied().ok_or_else(|| {
                Error::not_found(format!("no contact with external id {}: import the contact first", raw.trim()))
            })?),
            Subject::Contact(id) => Some(
                self.survivor(*id)
                    .filter(|s| self.alive.contains(s.0))
                    .ok_or_else(|| Error::not_found(format!("contact {id} not found")))?,
            ),
        })
    }

    fn add_web(&mut self, id: ContactId, at: Secs, kind: WebKind) {
        self.contacts[id.0 as usize].web.insert(WebHit { at, kind, url: 0, touch: None });
    }

    fn add_page_view(&mut self, id: ContactId, at: Secs, view: PageView) {
        let url = self.urls.intern(&normalize_url(&view.url));
        let touch = Some(classify_touch(&view.url, view.referrer.as_deref(), &view.utm));
        let contact = &mut self.contacts[id.0 as usize];
        contact.web.insert(WebHit { at, kind: WebKind::PageView, url, touch });
        // An anonymous contact's creation time is its first sighting, which a
        // late-arriving earlier page view moves back.
        if !contact.is_known() && at < contact.created_at && contact.channel == Channel::Tracking {
            contact.created_at = at;
        }
        if let Some(geo) = view.geo.filter(|g| !g.is_empty())
            && contact.observed_geo.as_ref().is_none_or(|(seen, _)| at >= *seen)
        {
            contact.observed_geo = Some((at, geo));
        }
    }

    /// identify(visitor → email / external id), SPEC §2.2.
    fn identify(
        &mut self,
        subject: Subject,
        at: Secs,
        identify: Identify,
        now: Secs,
        report: &mut EventReport,
        dirty: &mut BTreeMap<ContactId, Reason>,
    ) -> Result<Option<String>> {
        let Subject::Visitor(visitor) = subject else {
            return Err(Error::invalid("identify needs a visitor id as its subject"));
        };
        let email = identify.email.as_deref().filter(|e| !e.trim().is_empty()).map(Email::parse).transpose()?;
        let external_id = identify.external_id.as_deref().filter(|e| !e.trim().is_empty()).map(check_external_id).transpose()?;
        if email.is_none() && external_id.is_none() {
            return Err(Error::invalid("identify needs an email or an external id"));
        }
        let by_email = email.as_ref().and_then(|e| self.find_by_email(e));
        let by_external = external_id.as_ref().and_then(|x| self.by_external_id.get(x).copied());
        let target = match (by_email, by_external) {
            (Some(a), Some(b)) if a != b => {
                return Err(Error::conflict(format!(
                    "the email belongs to contact {a} and the external id to contact {b}; merge them explicitly first"
                )));
            }
            (a, b) => a.or(b),
        };
        let current = self.by_visitor.get(&visitor).copied();
        let mut warning = None;
        let id = match (current, target) {
            // The visitor is already this person.
            (Some(cur), Some(known)) if cur == known => known,
            // An anonymous visitor turns out to be a known contact: merge.
            (Some(cur), Some(known)) if !self.contacts[cur.0 as usize].is_known() => {
                self.merge(known, cur, now);
                report.merges += 1;
                dirty.remove(&cur);
                dirty.insert(known, Reason::Merged);
                known
            }
            // A known visitor identifies as another known contact (shared
            // device): never merge two known contacts; the cookie moves on.
            (Some(cur), Some(known)) => {
                self.move_visitor(&visitor, cur, known);
                warning = Some(format!(
                    "visitor {visitor} belonged to contact {cur} and now identifies as contact {known}; later events go to {known}, nothing was merged"
                ));
                known
            }
            // An anonymous visitor with a new identity becomes known in place.
            (Some(cur), None) if !self.contacts[cur.0 as usize].is_known() => {
                self.attach_identity(cur, email.clone(), external_id.clone());
                self.contacts[cur.0 as usize].identified_at = Some(at);
                cur
            }
            // A known visitor with a new identity of a kind it lacks gains it;
            // with a different identity of the same kind it is someone else.
            (Some(cur), None) => {
                let contact = &self.contacts[cur.0 as usize];
                let conflicting =
                    (email.is_some() && contact.email.is_some()) || (external_id.is_some() && contact.external_id.is_some());
                if conflicting {
                    let id = self.new_contact(at, Channel::Form, now);
                    self.attach_identity(id, email.clone(), external_id.clone());
                    report.contacts_created += 1;
                    self.move_visitor(&visitor, cur, id);
                    warning = Some(format!(
                        "visitor {visitor} belonged to contact {cur}, which has another identity; created contact {id} and moved the visitor to it"
                    ));
                    id
                } else {
                    self.attach_identity(cur, email.clone(), external_id.clone());
                    cur
                }
            }
            // A visitor never seen: link it to the identity.
            (None, Some(known)) => {
                self.link_visitor(&visitor, known);
                known
            }
            (None, None) => {
                let id = self.new_contact(at, Channel::Form, now);
                self.attach_identity(id, email.clone(), external_id.clone());
                self.link_visitor(&visitor, id);
                report.contacts_created += 1;
                id
            }
        };
        for (name, value) in identify.traits.into_iter().take(600) {
            if let Err(err) = self.set_field(id, &name, value, now) {
                warning.get_or_insert_with(String::new).push_str(&format!("trait {name}: {}; ", err.message));
            }
        }
        dirty.entry(id).or_insert(Reason::Criteria);
        Ok(warning)
    }

    fn attach_identity(&mut self, id: ContactId, email: Option<Email>, external_id: Option<String>) {
        let contact = &mut self.contacts[id.0 as usize];
        if let Some(email) = email
            && contact.email.is_none()
        {
            self.by_email.insert(email.as_str().to_owned(), id);
            contact.email = Some(email);
        }
        if let Some(external_id) = external_id
            && contact.external_id.is_none()
        {
            self.by_external_id.insert(external_id.clone(), id);
            contact.external_id = Some(external_id);
        }
        if contact.identified_at.is_none() {
            contact.identified_at = Some(contact.created_at);
        }
        self.known.insert(id.0);
    }

    fn link_visitor(&mut self, visitor: &str, id: ContactId) {
        self.by_visitor.insert(visitor.to_owned(), id);
        let contact = &mut self.contacts[id.0 as usize];
        if !contact.visitor_ids.iter().any(|v| v == visitor) {
            contact.visitor_ids.push(visitor.to_owned());
        }
    }

    fn move_visitor(&mut self, visitor: &str, from: ContactId, to: ContactId) {
        self.contacts[from.0 as usize].visitor_ids.retain(|v| v != visitor);
        self.link_visitor(visitor, to);
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::{Command, Outcome, Workspace};
    use crate::event::{EventBody, EventInput, Identify, PageView, Subject};
    use crate::ids::WorkspaceId;
    use crate::model::{Settings, Utm};

    const T0: i64 = 1_710_000_000;

    fn page_view(visitor: &str, at: i64) -> EventInput {
        let view = PageView {
            url: "https://shop.example/".into(),
            referrer: None,
            utm: Utm::default(),
            bot: false,
            status: None,
            geo: None,
        };
        EventInput { subject: Subject::Visitor(visitor.into()), at, body: EventBody::PageView(view) }
    }

    fn identify(visitor: &str, email: Option<&str>, external_id: Option<&str>) -> EventInput {
        let body = EventBody::Identify(Identify {
            email: email.map(str::to_owned),
            external_id: external_id.map(str::to_owned),
            traits: Vec::new(),
        });
        EventInput { subject: Subject::Visitor(visitor.into()), at: T0 + 60, body }
    }

    fn record(ws: &mut Workspace, events: Vec<EventInput>) -> crate::engine::EventReport {
        match ws.apply(Command::RecordEvents { events }, T0 + 120).unwrap() {
            Outcome::Recorded(report) => report,
            other => panic!("{other:?}"),
        }
    }

    /// Regression: a snippet whose cookie variable is unset sends the
    /// visitor id `undefined` for everyone; accepting it would make every
    /// such visitor one contact, and one identify would merge them all.
    #[test]
    fn junk_visitor_ids_are_refused_and_join_nobody() {
        let mut ws = Workspace::new(WorkspaceId::parse("t").unwrap(), Settings::default(), T0).unwrap();
        let junk = ["undefined", "null", "0", "[object Object]", " NULL ", "", "   ", "true", "\"\"", "a\u{0}b"];
        let report = record(&mut ws, junk.iter().map(|v| page_view(v, T0)).collect());
        assert_eq!(report.accepted, 0);
        assert_eq!(report.rejected.len(), junk.len(), "{:?}", report.rejected);
        assert!(report.rejected[0].message.contains("`undefined` looks like a serialization mistake"), "{:?}", report.rejected);
        let report = record(&mut ws, vec![identify("undefined", Some("ann@example.com"), None)]);
        assert_eq!((report.accepted, report.merges, report.contacts_created), (0, 0, 0));
        assert!(ws.contacts().is_empty());
        assert!(ws.by_visitor.is_empty() && ws.by_email.is_empty());
    }

    #[test]
    fn identify_with_junk_identities_changes_nothing() {
        let mut ws = Workspace::new(WorkspaceId::parse("t").unwrap(), Settings::default(), T0).unwrap();
        assert_eq!(record(&mut ws, vec![page_view("v-good", T0)]).accepted, 1);
        let cases = [
            (Some("null"), None),
            (Some("undefined"), None),
            (Some("[object Object]"), None),
            (None, Some("0")),
            (None, Some("undefined")),
            (None, Some("[object Object]")),
            (Some(""), Some("   ")),
            (None, None),
            (Some("ann@example.com"), Some("null")),
        ];
        for (email, external_id) in cases {
            let report = record(&mut ws, vec![identify("v-good", email, external_id)]);
            assert_eq!(report.accepted, 0, "{email:?} {external_id:?}");
            assert_eq!(report.rejected.len(), 1, "{email:?} {external_id:?}");
        }
        assert_eq!(ws.contacts().len(), 1);
        assert!(!ws.contacts()[0].is_known());
        assert!(ws.known_bitmap().is_empty());
    }
}
