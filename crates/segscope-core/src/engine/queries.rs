//! Read-only questions about a workspace besides the summary: segment
//! listings, member pages, contact details, the membership log, testing
//! criteria, breakdowns by field and duplicate candidates.

use std::collections::BTreeMap;

use roaring::RoaringBitmap;

use crate::contact::Contact;
use crate::criteria::{BuiltinField, Criteria, text};
use crate::email::{DuplicateGroup, duplicate_candidates};
use crate::engine::Workspace;
use crate::engine::segments::{Definition, Reason};
use crate::error::{Error, Result};
use crate::event::MailRecord;
use crate::ids::{ContactId, SegmentId};
use crate::model::{AutomationKind, ContactKind, Value};
use crate::session::Session;
use crate::subscription::Reachability;
use crate::summary::View;
use crate::time::{Secs, add_days};

/// The most items one page returns.
pub const MAX_PAGE: usize = 1_000;

#[derive(Debug, Clone, PartialEq)]
pub struct SegmentInfo {
    pub id: SegmentId,
    pub name: String,
    pub description: String,
    pub is_static: bool,
    pub system: bool,
    pub criteria: Option<Criteria>,
    /// The canonical text form of the criteria.
    pub criteria_text: Option<String>,
    pub created_at: Secs,
    pub updated_at: Secs,
    pub known: u64,
    pub anonymous: u64,
    pub total: u64,
    pub last_change: Secs,
    pub references: Vec<SegmentId>,
    pub referenced_by: Vec<SegmentId>,
    pub journeys: usize,
    pub campaigns: usize,
    pub time_dependent: bool,
}

/// The main fields of a contact, for lists and exports.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactRow {
    pub id: ContactId,
    pub kind: ContactKind,
    pub email: Option<String>,
    pub external_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub stage: Option<String>,
    pub country: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
    pub created_at: Secs,
    pub last_seen: Option<Secs>,
    pub status: &'static str,
    pub reachability: Reachability,
    pub provider: &'static str,
    /// Creation channel key (`form`, `tracking`…).
    pub channel: &'static str,
    /// First-touch source key, when known.
    pub source: Option<&'static str>,
    pub sessions: usize,
}

/// Everything about one contact.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactDetail {
    pub row: ContactRow,
    pub identified_at: Option<Secs>,
    pub phone: Option<String>,
    pub channel: &'static str,
    pub source: Option<&'static str>,
    pub tags: Vec<String>,
    pub attributes: BTreeMap<String, Value>,
    pub segments: Vec<SegmentId>,
    pub visitor_ids: usize,
    /// The latest sessions, newest first (at most 50).
    pub recent_sessions: Vec<Session>,
    /// The latest email history, newest first (at most 50).
    pub recent_mail: Vec<MailRecord>,
    pub stage_history: Vec<(Secs, Option<String>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntryView {
    /// Position in the log, the cursor for the next page.
    pub seq: u64,
    pub at: Secs,
    pub contact: ContactId,
    pub entered: bool,
    pub reason: Reason,
    pub epoch: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back to get the next page; `None` at the end.
    pub next: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CriteriaTest {
    pub known: u64,
    pub anonymous: u64,
    pub total: u64,
    pub sample: Vec<ContactRow>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldBreakdown {
    pub field: String,
    /// Values with their counts, largest first; `None` is the "(none)" bucket
    /// for NULL and "" alike.
    pub values: Vec<(Option<String>, u64)>,
    pub total: u64,
}

impl Workspace {
    /// Where `engaged in the last N days` starts for reachability, as of `now`.
    pub fn engaged_since(&self, now: Secs) -> Secs {
        let today = self.tz.local_date(now);
        self.tz.start_of_day(add_days(today, 1 - i64::from(self.settings.engaged_days)))
    }

    pub fn view_bitmap(&self, members: &RoaringBitmap, view: View) -> RoaringBitmap {
        match view {
            View::All => members.clone(),
            View::Known => members & &self.known,
            View::Anonymous => members - &self.known,
        }
    }

    pub fn segment_info(&self, id: SegmentId) -> Result<SegmentInfo> {
        let segment = self.segment(id)?;
        let known = segment.members.intersection_len(&self.known);
        let referenced_by = self.segments.values().filter(|s| s.references().contains(&id)).map(|s| s.id).collect();
        let names = |sid: SegmentId| self.segments.get(&sid).map(|s| s.name.clone());
        Ok(SegmentInfo {
            id,
            name: segment.name.clone(),
            description: segment.description.clone(),
            is_static: segment.is_static(),
            system: segment.system,
            criteria: segment.criteria().cloned(),
            criteria_text: segment.criteria().map(|c| text::print(c, &names)),
            created_at: segment.created_at,
            updated_at: segment.updated_at,
            known,
            anonymous: segment.members.len() - known,
            total: segment.members.len(),
            last_change: segment.log.last_change(),
            references: segment.references(),
            referenced_by,
            journeys: self.automations_referencing(id, AutomationKind::Journey).len(),
            campaigns: self.automations_referencing(id, AutomationKind::Campaign).len(),
            time_dependent: segment.time_dependent,
        })
    }

    pub fn segment_infos(&self) -> Vec<SegmentInfo> {
        self.segments.keys().filter_map(|id| self.segment_info(*id).ok()).collect()
    }

    pub fn contact_row(&self, contact: &Contact, engaged_since: Secs) -> ContactRow {
        let geo = contact.geo();
        ContactRow {
            id: contact.id,
            kind: contact.kind(),
            email: contact.email.as_ref().map(|e| e.as_str().to_owned()),
            external_id: contact.external_id.clone(),
            first_name: contact.first_name.clone(),
            last_name: contact.last_name.clone(),
            stage: contact.stage.clone(),
            country: geo.country.map(|c| c.code().to_owned()),
            region: geo.region.clone(),
            city: geo.city.clone(),
            created_at: contact.created_at,
            last_seen: contact.last_seen,
            status: contact.status().key(),
            reachability: contact.reachability(engaged_since),
            provider: contact.provider.key(),
            channel: contact.channel.key(),
            source: contact.source().map(|s| s.key()),
            sessions: contact.sessions.len(),
        }
    }

    pub fn contact_detail(&self, id: ContactId, now: Secs) -> Result<ContactDetail> {
        let contact = self.contact(id).filter(|c| c.alive).ok_or_else(|| Error::not_found(format!("contact {id} not found")))?;
        Ok(ContactDetail {
            row: self.contact_row(contact, self.engaged_since(now)),
            identified_at: contact.identified_at,
            phone: contact.phone.clone(),
            channel: contact.channel.key(),
            source: contact.source().map(|s| s.key()),
            tags: contact.tags.clone(),
            attributes: contact.attributes.iter().map(|(name, value)| (name.to_owned(), value.clone())).collect(),
            segments: self.segments.values().filter(|s| s.members.contains(id.0)).map(|s| s.id).collect(),
            visitor_ids: contact.visitor_ids.len(),
            recent_sessions: contact.sessions.iter().rev().take(50).copied().collect(),
            recent_mail: contact.mail.iter().rev().take(50).copied().collect(),
            stage_history: contact.stage_history.clone(),
        })
    }

    /// Members of a segment in a view, by ascending contact id, after the
    /// cursor. Keyset paging: a page never skips or repeats a contact that
    /// stayed a member.
    pub fn members_page(
        &self,
        id: SegmentId,
        view: View,
        after: Option<u64>,
        limit: usize,
        now: Secs,
    ) -> Result<Page<ContactRow>> {
        let members = self.view_bitmap(&self.segment(id)?.members, view);
        Ok(self.rows_page(&members, after, limit, now))
    }

    pub fn rows_page(&self, members: &RoaringBitmap, after: Option<u64>, limit: usize, now: Secs) -> Page<ContactRow> {
        let limit = limit.clamp(1, MAX_PAGE);
        let engaged_since = self.engaged_since(now);
        let start = match after {
            Some(after) if after >= u64::from(u32::MAX) => {
                return Page { items: Vec::new(), next: None };
            }
            Some(after) => after as u32 + 1,
            None => 0,
        };
        let mut ids = members.range(start..);
        let items: Vec<ContactRow> =
            ids.by_ref().take(limit).map(|c| self.contact_row(&self.contacts[c as usize], engaged_since)).collect();
        let next = if ids.next().is_some() { items.last().map(|row| u64::from(row.id.0)) } else { None };
        Page { items, next }
    }

    /// The membership log of a segment, oldest first, after the cursor.
    /// Back-filled entries of the current epoch are listed first with their
    /// `created_at` as time and reason `backfill`.
    pub fn log_page(&self, id: SegmentId, after: Option<u64>, limit: usize) -> Result<Page<LogEntryView>> {
        let segment = self.segment(id)?;
        let limit = limit.clamp(1, MAX_PAGE);
        let backfill_len = segment.log.backfill.len();
        let start = after.map_or(0, |a| a + 1);
        let mut items = Vec::new();
        let mut seq = start;
        while items.len() < limit {
            if seq < backfill_len {
                let contact = segment.log.backfill.select(seq as u32).expect("within length");
                items.push(LogEntryView {
                    seq,
                    at: self.contacts[contact as usize].created_at,
                    contact: ContactId(contact),
                    entered: true,
                    reason: Reason::Backfill,
                    epoch: segment.log.epoch,
                });
            } else {
                let Some(entry) = segment.log.entries.get((seq - backfill_len) as usize) else {
                    break;
                };
                items.push(LogEntryView {
                    seq,
                    at: entry.at,
                    contact: entry.contact,
                    entered: entry.entered,
                    reason: entry.reason,
                    epoch: entry.epoch,
                });
            }
            seq += 1;
        }
        let total = backfill_len + segment.log.entries.len() as u64;
        let next = (seq < total).then(|| seq - 1);
        Ok(Page { items, next })
    }

    /// Counts and a sample of who the criteria select right now, without saving.
    pub fn test_criteria(&self, criteria: &Criteria, now: Secs) -> CriteriaTest {
        let members = self.evaluate_all(criteria, self.tz.local_date(now).max(self.today()));
        let known = members.intersection_len(&self.known);
        let engaged_since = self.engaged_since(now);
        let sample = members.iter().take(20).map(|c| self.contact_row(&self.contacts[c as usize], engaged_since)).collect();
        CriteriaTest { known, anonymous: members.len() - known, total: members.len(), sample }
    }

    /// Counts of members by the value of any field or attribute, with NULL
    /// and "" in one "(none)" bucket (SPEC §5).
    pub fn breakdown(&self, id: SegmentId, view: View, field: &str) -> Result<FieldBreakdown> {
        let members = self.view_bitmap(&self.segment(id)?.members, view);
        let builtin = BuiltinField::parse(field);
        if builtin.is_none() && !self.attributes.contains_key(field) {
            return Err(Error::invalid(format!("unknown field `{field}`")).in_field("field"));
        }
        let mut counts: BTreeMap<Option<String>, u64> = BTreeMap::new();
        for id in &members {
            let contact = &self.contacts[id as usize];
            for value in breakdown_values(contact, builtin, field) {
                *counts.entry(value).or_default() += 1;
            }
        }
        let mut values: Vec<(Option<String>, u64)> = counts.into_iter().collect();
        values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.is_none().cmp(&b.0.is_none())).then_with(|| a.0.cmp(&b.0)));
        Ok(FieldBreakdown { field: field.to_owned(), values, total: members.len() })
    }

    /// Groups of alive contacts whose addresses probably reach one mailbox.
    pub fn duplicate_candidates(&self) -> Vec<DuplicateGroup> {
        duplicate_candidates(self.contacts.iter().filter(|c| c.alive).filter_map(|c| c.email.as_ref().map(|e| (c.id, e))))
    }

    pub fn static_lists(&self) -> impl Iterator<Item = SegmentId> + '_ {
        self.segments.values().filter(|s| matches!(s.definition, Definition::Static)).map(|s| s.id)
    }
}

/// The breakdown keys of one contact: one value, or one per list item.
fn breakdown_values(contact: &Contact, builtin: Option<BuiltinField>, field: &str) -> Vec<Option<String>> {
    let text = |value: Option<&str>| vec![value.map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)];
    match builtin {
        Some(BuiltinField::Email) => text(contact.email.as_ref().map(|e| e.as_str())),
        Some(BuiltinField::EmailDomain) => text(contact.email.as_ref().map(|e| e.domain())),
        Some(BuiltinField::ExternalId) => text(contact.external_id.as_deref()),
        Some(BuiltinField::FirstName) => text(contact.first_name.as_deref()),
        Some(BuiltinField::LastName) => text(contact.last_name.as_deref()),
        Some(BuiltinField::Phone) => text(contact.phone.as_deref()),
        Some(BuiltinField::Stage) => text(contact.stage.as_deref()),
        Some(BuiltinField::CreationChannel) => text(Some(contact.channel.key())),
        Some(BuiltinField::FirstTouchSource) => text(contact.source().map(|s| s.key())),
        Some(BuiltinField::EmailProvider) => text(Some(contact.provider.key())),
        Some(BuiltinField::SubscriptionStatus) => text(Some(contact.status().key())),
        Some(BuiltinField::Country) => text(contact.geo().country.as_ref().map(|c| c.code())),
        Some(BuiltinField::Region) => text(contact.geo().region.as_deref()),
        Some(BuiltinField::City) => text(contact.geo().city.as_deref()),
        Some(BuiltinField::Tags) => {
            if contact.tags.is_empty() {
                vec![None]
            } else {
                contact.tags.iter().map(|t| Some(t.clone())).collect()
            }
        }
        Some(other) => {
            let flags = contact.flags;
            use crate::subscription::EmailFlags as F;
            let bit = match other {
                BuiltinField::OptedIn => Some(F::OPTED_IN),
                BuiltinField::Unsubscribed => Some(F::UNSUBSCRIBED),
                BuiltinField::Bounced => Some(F::BOUNCED),
                BuiltinField::Complained => Some(F::COMPLAINED),
                BuiltinField::DoNotContact => Some(F::DO_NOT_CONTACT),
                _ => None,
            };
            match (bit, other) {
                (Some(bit), _) => vec![Some(flags.has(bit).to_string())],
                (None, BuiltinField::CreatedAt) => vec![Some(crate::time::Tz::utc().local_date(contact.created_at).to_string())],
                (None, BuiltinField::IdentifiedAt) => {
                    vec![contact.identified_at.map(|t| crate::time::Tz::utc().local_date(t).to_string())]
                }
                (None, _) => vec![contact.last_seen.map(|t| crate::time::Tz::utc().local_date(t).to_string())],
            }
        }
        None => match contact.attributes.get(field) {
            None => vec![None],
            Some(value) if value.is_empty() => vec![None],
            Some(Value::List(items)) => items.iter().map(|i| Some(i.clone())).collect(),
            Some(Value::Text(t)) => text(Some(t)),
            Some(Value::Number(n)) => vec![Some(n.to_string())],
            Some(Value::Bool(b)) => vec![Some(b.to_string())],
            Some(Value::Date(d)) => vec![Some(d.to_string())],
            Some(Value::DateTime(t)) => vec![Some(crate::time::format_instant(*t))],
        },
    }
}
