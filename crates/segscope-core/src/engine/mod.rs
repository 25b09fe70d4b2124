//! One workspace's state and the only way to change it: [`Workspace::apply`]
//! a [`Command`] at an instant. Everything is deterministic given the
//! sequence of (command, now) pairs, which is what lets the store persist
//! commands in a log and rebuild the exact state by replaying them.
//!
//! Invariants kept after every command (checked by the invariant tests
//! against a from-scratch recomputation):
//! - every segment's `members` equals the criteria evaluated on the current
//!   data (dynamic segments) and only contains alive contacts;
//! - each membership log is consistent with the members: replaying the
//!   current epoch's back-fill and entries gives the current members;
//! - derived contact values equal a `refresh` from the histories;
//! - identity maps point at alive contacts only (or at the survivor of a merge).

mod contacts;
mod events;
mod invariants;
mod memory;
mod queries;
mod segments;

use std::collections::{BTreeMap, HashMap};

use jiff::civil::Date;
use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};

pub use contacts::{
    CONSENT_STATUS_COLUMNS, check_external_id, check_visitor_id, consent_or_identity_fields, is_consent_or_identity_field,
};
pub use memory::MemoryReport;
pub use queries::{ContactDetail, ContactRow, CriteriaTest, FieldBreakdown, LogEntryView, Page, SegmentInfo};
pub use segments::{Definition, LogEntry, MembershipLog, Reason, Segment, SegmentSpec};

use crate::contact::Contact;
use crate::criteria::Schema;
use crate::error::{Error, Result};
use crate::event::EventInput;
use crate::ids::{ContactId, SegmentId, WorkspaceId};
use crate::interner::Interner;
use crate::model::{AttrType, Automation, AutomationKind, AutomationSpec, Channel, Settings, Value};
use crate::time::{Secs, Tz, add_days};

/// The id of the built-in "All contacts" segment of every workspace.
pub const ALL_CONTACTS: SegmentId = SegmentId(0);

/// The most items in one upsert or event batch; bigger imports are cut into
/// batches by the caller. Bounds the memory and the latency of one command.
pub const MAX_BATCH: usize = 50_000;

/// Events stamped further than this in the future are refused: a clock
/// that is a day off is a bug in the sender, not a visit from tomorrow.
pub const MAX_FUTURE_SECS: Secs = 24 * 3600;

/// A contact to create or update, identified by email and/or external id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactUpsert {
    pub email: Option<String>,
    pub external_id: Option<String>,
    /// Fields to set; `None` clears. Unknown names become custom attributes.
    pub fields: Vec<(String, Option<Value>)>,
    /// When the contact was added, for a contact that does not exist yet.
    pub created_at: Option<Secs>,
}

/// Which contact a command means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContactRef {
    Id(ContactId),
    Email(String),
    ExternalId(String),
}

/// Every change to a workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    UpdateSettings(Settings),
    DeclareAttribute {
        name: String,
        attr_type: AttrType,
    },
    UpsertContacts {
        contacts: Vec<ContactUpsert>,
        channel: Channel,
        list: Option<SegmentId>,
    },
    RecordEvents {
        events: Vec<EventInput>,
    },
    DeleteContact(ContactRef),
    MergeContacts {
        keep: ContactRef,
        absorb: ContactRef,
    },
    CreateSegment(SegmentSpec),
    UpdateSegment {
        id: SegmentId,
        spec: SegmentSpec,
    },
    DeleteSegment(SegmentId),
    AddToList {
        list: SegmentId,
        contacts: Vec<ContactRef>,
        reason: Reason,
    },
    RemoveFromList {
        list: SegmentId,
        contacts: Vec<ContactRef>,
    },
    CreateAutomation {
        kind: AutomationKind,
        spec: AutomationSpec,
    },
    UpdateAutomation {
        kind: AutomationKind,
        id: u32,
        spec: AutomationSpec,
    },
    DeleteAutomation {
        kind: AutomationKind,
        id: u32,
    },
    /// MX hosts resolved for a mail domain by the ingestion layer.
    RecordMx {
        domain: String,
        hosts: Vec<String>,
    },
}

/// A problem with one item of a batch; the item changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemIssue {
    /// 0-based position in the batch.
    pub index: usize,
    pub message: String,
}

/// What an upsert batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpsertReport {
    pub created: usize,
    pub updated: usize,
    pub rejected: Vec<ItemIssue>,
    /// Items applied with a field left out or repaired.
    pub warnings: Vec<ItemIssue>,
    /// The contact of each item, `None` for rejected items.
    pub contacts: Vec<Option<ContactId>>,
}

/// What an event batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventReport {
    pub accepted: usize,
    pub rejected: Vec<ItemIssue>,
    pub warnings: Vec<ItemIssue>,
    pub contacts_created: usize,
    pub merges: usize,
    /// Page views from bots, not recorded (SPEC §2.1).
    pub bot_hits: usize,
    /// Page views with an error status, not recorded.
    pub error_hits: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Upserted(UpsertReport),
    Recorded(EventReport),
    SegmentSaved(SegmentId),
    AutomationSaved(u32),
    ListChanged { changed: usize, unknown: Vec<String> },
    Deleted,
    Merged(ContactId),
}

/// Counters of traffic that did not become contacts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub bot_hits: u64,
    pub error_hits: u64,
}

/// The most elements [`exact_vec`] reserves up front from a length read in a
/// snapshot; a larger (corrupt) length grows as it is read instead.
const MAX_RESERVED: usize = 200_000_000;

/// Deserializes a vector at exactly the length the encoding declares. serde
/// reserves at most 1 MiB up front and then doubles, which for the contact
/// array of ten million contacts would leave gigabytes unused.
fn exact_vec<'de, D, T>(deserializer: D) -> std::result::Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Exact<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Exact<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a sequence")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Vec<T>, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_RESERVED));
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            Ok(items)
        }
    }
    deserializer.deserialize_seq(Exact(std::marker::PhantomData))
}

/// All of one workspace's data and derived state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Workspace {
    pub(crate) id: WorkspaceId,
    pub(crate) settings: Settings,
    #[serde(skip, default = "Tz::utc")]
    pub(crate) tz: Tz,
    pub(crate) created_at: Secs,
    pub(crate) attributes: BTreeMap<String, AttrType>,
    /// By id. Loaded at its exact length (see [`exact_vec`]).
    #[serde(deserialize_with = "exact_vec")]
    pub(crate) contacts: Vec<Contact>,
    pub(crate) by_email: HashMap<String, ContactId>,
    pub(crate) by_external_id: HashMap<String, ContactId>,
    pub(crate) by_visitor: HashMap<String, ContactId>,
    pub(crate) urls: Interner,
    pub(crate) event_names: Interner,
    /// Contacts that are known now, or were known when they stopped existing.
    pub(crate) known: RoaringBitmap,
    pub(crate) alive: RoaringBitmap,
    pub(crate) segments: BTreeMap<SegmentId, Segment>,
    /// Dynamic segments, each after the segments it references.
    pub(crate) topo_order: Vec<SegmentId>,
    pub(crate) next_segment: u32,
    pub(crate) automations: BTreeMap<(AutomationKind, u32), Automation>,
    pub(crate) next_automation: u32,
    /// MX hosts by registrable mail domain.
    pub(crate) mx: HashMap<String, Vec<String>>,
    /// The latest instant a command was applied at.
    pub(crate) clock: Secs,
    /// Time-dependent segments are evaluated as of this local day.
    pub(crate) evaluated_day: Date,
    pub(crate) counters: Counters,
    /// The summary's per-contact rows: derived, rebuilt after a load.
    #[serde(skip)]
    pub(crate) summary_rows: crate::summary_rows::RowCache,
}

impl Workspace {
    pub fn new(id: WorkspaceId, settings: Settings, now: Secs) -> Result<Workspace> {
        let tz = settings.validate()?;
        let evaluated_day = tz.local_date(now);
        let mut workspace = Workspace {
            id,
            settings,
            tz,
            created_at: now,
            attributes: BTreeMap::new(),
            contacts: Vec::new(),
            by_email: HashMap::new(),
            by_external_id: HashMap::new(),
            by_visitor: HashMap::new(),
            urls: Interner::default(),
            event_names: Interner::default(),
            known: RoaringBitmap::new(),
            alive: RoaringBitmap::new(),
            segments: BTreeMap::new(),
            topo_order: Vec::new(),
            next_segment: 1,
            automations: BTreeMap::new(),
            next_automation: 1,
            mx: HashMap::new(),
            clock: now,
            evaluated_day,
            counters: Counters::default(),
            summary_rows: crate::summary_rows::RowCache::new(),
        };
        workspace.create_all_contacts_segment(now);
        Ok(workspace)
    }

    /// Restores runtime-only state after deserializing a snapshot.
    pub fn after_load(&mut self) -> Result<()> {
        self.tz = self.settings.validate()?;
        Ok(())
    }

    pub fn id(&self) -> &WorkspaceId {
        &self.id
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn tz(&self) -> &Tz {
        &self.tz
    }

    pub fn created_at(&self) -> Secs {
        self.created_at
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn attributes(&self) -> &BTreeMap<String, AttrType> {
        &self.attributes
    }

    pub fn contact_count(&self) -> u64 {
        self.alive.len()
    }

    pub fn known_bitmap(&self) -> &RoaringBitmap {
        &self.known
    }

    pub fn alive_bitmap(&self) -> &RoaringBitmap {
        &self.alive
    }

    pub fn contacts(&self) -> &[Contact] {
        &self.contacts
    }

    pub fn contact(&self, id: ContactId) -> Option<&Contact> {
        self.contacts.get(id.0 as usize)
    }

    pub fn urls(&self) -> &Interner {
        &self.urls
    }

    pub fn event_names(&self) -> &Interner {
        &self.event_names
    }

    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.segments.values()
    }

    pub fn segment(&self, id: SegmentId) -> Result<&Segment> {
        self.segments.get(&id).ok_or_else(|| Error::not_found(format!("segment {id} not found")))
    }

    pub fn automations(&self, kind: AutomationKind) -> impl Iterator<Item = &Automation> {
        self.automations.values().filter(move |a| a.kind == kind)
    }

    pub fn automation(&self, kind: AutomationKind, id: u32) -> Result<&Automation> {
        self.automations.get(&(kind, id)).ok_or_else(|| Error::not_found(format!("{} #{id} not found", kind_name(kind))))
    }

    pub fn mx_hosts(&self, registrable_domain: &str) -> Option<&Vec<String>> {
        self.mx.get(registrable_domain)
    }

    /// The latest instant a command was applied at (the creation instant
    /// before any command): what listings show as the last change.
    pub fn clock(&self) -> Secs {
        self.clock
    }

    /// The instant a command arriving at `now` is applied at: never before an
    /// earlier command nor before a midnight that reads already processed.
    /// The store records this instant with the command so that a replay
    /// sees the same clock.
    pub fn effective_now(&self, now: Secs) -> Secs {
        now.max(self.clock).max(self.tz.start_of_day(self.evaluated_day))
    }

    /// Applies a command. On error nothing changed (apart from bringing
    /// time-dependent memberships up to `now`, which any later command or
    /// read would do identically).
    pub fn apply(&mut self, command: Command, now: Secs) -> Result<Outcome> {
        let now = self.effective_now(now);
        self.advance_to(now);
        let outcome = match command {
            Command::UpdateSettings(settings) => self.update_settings(settings, now)?,
            Command::DeclareAttribute { name, attr_type } => self.declare_attribute(&name, attr_type)?,
            Command::UpsertContacts { contacts, channel, list } => self.upsert_contacts(contacts, channel, list, now)?,
            Command::RecordEvents { events } => self.record_events(events, now)?,
            Command::DeleteContact(who) => self.delete_contact(&who, now)?,
            Command::MergeContacts { keep, absorb } => self.merge_command(&keep, &absorb, now)?,
            Command::CreateSegment(spec) => self.create_segment(spec, now)?,
            Command::UpdateSegment { id, spec } => self.update_segment(id, spec, now)?,
            Command::DeleteSegment(id) => self.delete_segment(id)?,
            Command::AddToList { list, contacts, reason } => self.change_list(list, &contacts, true, reason, now)?,
            Command::RemoveFromList { list, contacts } => self.change_list(list, &contacts, false, Reason::Manual, now)?,
            Command::CreateAutomation { kind, spec } => self.save_automation(kind, None, spec, now)?,
            Command::UpdateAutomation { kind, id, spec } => self.save_automation(kind, Some(id), spec, now)?,
            Command::DeleteAutomation { kind, id } => {
                self.automation(kind, id)?;
                self.automations.remove(&(kind, id));
                Outcome::Deleted
            }
            Command::RecordMx { domain, hosts } => self.record_mx(&domain, hosts, now)?,
        };
        self.clock = now;
        Ok(outcome)
    }

    /// Brings time-dependent memberships up to the local day of `now`: each
    /// crossed midnight re-evaluates them as of that midnight, and the
    /// changes are logged at the midnight instant, so the log does not
    /// depend on when this runs.
    pub fn advance_to(&mut self, now: Secs) {
        let today = self.tz.local_date(now);
        if today <= self.evaluated_day {
            return;
        }
        let timed: Vec<SegmentId> = self.segments_affected_by_time();
        if timed.is_empty() || self.alive.is_empty() {
            self.evaluated_day = today;
            return;
        }
        while self.evaluated_day < today {
            let day = add_days(self.evaluated_day, 1);
            let at = self.tz.start_of_day(day);
            self.reevaluate_all(&timed, day, at, Reason::Criteria);
            self.evaluated_day = day;
        }
    }

    fn update_settings(&mut self, settings: Settings, now: Secs) -> Result<Outcome> {
        let tz = settings.validate()?;
        let recompute = settings.time_zone != self.settings.time_zone
            || settings.sessions != self.settings.sessions
            || settings.soft_bounce_threshold != self.settings.soft_bounce_threshold;
        self.settings = settings;
        self.tz = tz;
        self.summary_rows.get_mut().mark_all();
        self.evaluated_day = self.tz.local_date(now);
        if recompute {
            let ids: Vec<ContactId> = self.alive.iter().map(ContactId).collect();
            for id in &ids {
                self.refresh_contact(*id);
            }
        }
        let dynamic: Vec<SegmentId> = self.topo_order.clone();
        self.reevaluate_all(&dynamic, self.evaluated_day, now, Reason::Criteria);
        Ok(Outcome::Done)
    }

    fn declare_attribute(&mut self, name: &str, attr_type: AttrType) -> Result<Outcome> {
        crate::model::check_attribute_name(name)?;
        if crate::criteria::BuiltinField::parse(name).is_some() {
            return Err(Error::invalid(format!("`{name}` is a built-in field; choose another attribute name")));
        }
        match self.attributes.get(name) {
            Some(existing) if *existing != attr_type => Err(Error::conflict(format!(
                "attribute `{name}` is already declared as {}; its type cannot change",
                existing.key()
            ))),
            Some(_) => Ok(Outcome::Done),
            None => {
                if self.attributes.len() >= 500 {
                    return Err(Error::invalid("a workspace can have at most 500 custom attributes"));
                }
                self.attributes.insert(name.to_owned(), attr_type);
                Ok(Outcome::Done)
            }
        }
    }

    fn record_mx(&mut self, domain: &str, hosts: Vec<String>, _now: Secs) -> Result<Outcome> {
        let ascii = crate::email::normalize_domain(domain).map_err(Error::invalid)?;
        if hosts.len() > 50 || hosts.iter().any(|h| h.len() > 253) {
            return Err(Error::invalid("at most 50 MX hosts of up to 253 characters"));
        }
        let registrable = crate::esp::registrable_domain(&ascii).to_owned();
        let hosts: Vec<String> = hosts.iter().map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase()).collect();
        self.mx.insert(registrable.clone(), hosts);
        let affected: Vec<ContactId> = self
            .contacts
            .iter()
            .filter(|c| c.alive && c.email.as_ref().is_some_and(|e| crate::esp::registrable_domain(e.domain()) == registrable))
            .map(|c| c.id)
            .collect();
        let mut dirty = BTreeMap::new();
        for id in affected {
            self.refresh_contact(id);
            dirty.insert(id, Reason::Criteria);
        }
        self.reevaluate_dirty(&dirty, _now);
        Ok(Outcome::Done)
    }

    fn save_automation(&mut self, kind: AutomationKind, id: Option<u32>, spec: AutomationSpec, now: Secs) -> Result<Outcome> {
        let name = crate::model::check_name(kind_name(kind), &spec.name)?;
        if spec.subtype.len() > 80 {
            return Err(Error::invalid("the kind of a journey or campaign is at most 80 characters").in_field("kind"));
        }
        if spec.segment_ids.len() > 100 {
            return Err(Error::invalid("a journey or campaign references at most 100 segments").in_field("segment_ids"));
        }
        for segment in &spec.segment_ids {
            if !self.segments.contains_key(segment) {
                return Err(Error::invalid(format!("segment {segment} does not exist")).in_field("segment_ids"));
            }
        }
        let duplicate =
            self.automations(kind).any(|a| Some(a.id) != id && crate::model::squash(&a.name) == crate::model::squash(&name));
        if duplicate {
            return Err(Error::conflict(format!("a {} named \"{name}\" already exists", kind_name(kind))));
        }
        let mut segment_ids = spec.segment_ids.clone();
        segment_ids.sort();
        segment_ids.dedup();
        let (id, created_at) = match id {
            Some(id) => (id, self.automation(kind, id)?.created_at),
            None => {
                let id = self.next_automation;
                self.next_automation += 1;
                (id, now)
            }
        };
        let automation = Automation {
            id,
            kind,
            name,
            status: spec.status,
            subtype: spec.subtype.trim().to_owned(),
            segment_ids,
            created_at,
            updated_at: now,
        };
        self.automations.insert((kind, id), automation);
        Ok(Outcome::AutomationSaved(id))
    }
}

pub fn kind_name(kind: AutomationKind) -> &'static str {
    match kind {
        AutomationKind::Journey => "journey",
        AutomationKind::Campaign => "campaign",
    }
}

impl Schema for Workspace {
    fn attribute_type(&self, name: &str) -> Option<AttrType> {
        self.attributes.get(name).copied()
    }

    fn attribute_names(&self) -> Vec<String> {
        self.attributes.keys().cloned().collect()
    }

    fn stages(&self) -> &[String] {
        &self.settings.stages
    }

    fn segment_by_name(&self, name: &str) -> Option<SegmentId> {
        let wanted = name.trim().to_lowercase();
        self.segments.values().find(|s| s.name.to_lowercase() == wanted).map(|s| s.id)
    }

    fn segment_name(&self, id: SegmentId) -> Option<String> {
        self.segments.get(&id).map(|s| s.name.clone())
    }
}
