//! Segments and static lists: definitions, the reference graph (a DAG,
//! cycles refused at save time with their path), membership kept current
//! incrementally, and the membership log with back-fill.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};

use crate::criteria::Criteria;
use crate::criteria::eval::{Compiled, EvalEnv};
use crate::engine::{ALL_CONTACTS, ContactRef, Outcome, Workspace};
use crate::error::{Error, Result};
use crate::ids::{ContactId, SegmentId};
use crate::model::{AutomationKind, check_name};
use crate::time::Secs;

/// The most segments and lists in one workspace.
pub const MAX_SEGMENTS: usize = 1_000;

/// Why a membership changed (SPEC §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Reason {
    /// The contact's data, or the passing of time, changed what the criteria say.
    Criteria,
    /// Added to or removed from a static list by a person or the API.
    Manual,
    /// Added to a static list by an import.
    Import,
    /// The contact was merged into another, or received a merged contact's data.
    Merged,
    Deleted,
    /// The segment's criteria were edited and the contact no longer matches.
    CriteriaEdited,
    /// Initial member when the segment was created or edited; the entry time
    /// is the contact's `created_at`.
    Backfill,
}

impl Reason {
    pub fn key(self) -> &'static str {
        match self {
            Reason::Criteria => "criteria",
            Reason::Manual => "manual",
            Reason::Import => "import",
            Reason::Merged => "merged",
            Reason::Deleted => "deleted",
            Reason::CriteriaEdited => "criteria_edited",
            Reason::Backfill => "backfill",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Definition {
    /// Members are whoever the criteria select, always current.
    Dynamic(Criteria),
    /// Members are added and removed explicitly.
    Static,
}

/// The editable part of a segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentSpec {
    pub name: String,
    pub description: String,
    pub definition: Definition,
}

/// One entry or exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub at: Secs,
    pub contact: ContactId,
    pub entered: bool,
    pub reason: Reason,
    /// The definition version the entry belongs to (see [`MembershipLog`]).
    pub epoch: u32,
}

/// Every entry and exit of a segment. Each edit of the criteria starts a new
/// epoch whose initial members are back-filled: they count as having
/// entered at their `created_at` (SPEC §5). Back-fill is kept as a bitmap
/// rather than one entry per member, so creating a segment over millions of
/// contacts costs one bitmap. Growth reads the current epoch only; older
/// epochs stay for the contact history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MembershipLog {
    pub epoch: u32,
    pub epoch_started_at: Secs,
    /// Members when the current epoch started.
    pub backfill: RoaringBitmap,
    /// Entries and exits of all epochs, in time order.
    pub entries: Vec<LogEntry>,
    /// Start time and back-fill of earlier epochs.
    pub past_epochs: Vec<(u32, Secs, RoaringBitmap)>,
}

impl MembershipLog {
    /// Entries of the current epoch (a suffix of `entries`).
    pub fn current_entries(&self) -> &[LogEntry] {
        let first = self.entries.partition_point(|e| e.epoch < self.epoch);
        &self.entries[first..]
    }

    /// When the last change happened (the epoch start counts as one).
    pub fn last_change(&self) -> Secs {
        self.entries.last().map_or(self.epoch_started_at, |e| e.at.max(self.epoch_started_at))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub id: SegmentId,
    pub name: String,
    pub description: String,
    pub definition: Definition,
    /// The built-in "All contacts" segment, which cannot be edited or deleted.
    pub system: bool,
    pub created_at: Secs,
    pub updated_at: Secs,
    pub members: RoaringBitmap,
    pub log: MembershipLog,
    /// True if time alone can change membership (relative dates, windows, or
    /// a reference to such a segment).
    pub time_dependent: bool,
}

impl Segment {
    pub fn criteria(&self) -> Option<&Criteria> {
        match &self.definition {
            Definition::Dynamic(criteria) => Some(criteria),
            Definition::Static => None,
        }
    }

    pub fn is_static(&self) -> bool {
        matches!(self.definition, Definition::Static)
    }

    pub fn references(&self) -> Vec<SegmentId> {
        self.criteria().map(Criteria::references).unwrap_or_default()
    }
}

/// Workspaces with at least this many contacts evaluate a whole segment
/// (a new or edited segment, a midnight re-evaluation) on two threads.
const PARALLEL_MIN_CONTACTS: u64 = 200_000;

impl Workspace {
    pub(crate) fn create_all_contacts_segment(&mut self, now: Secs) {
        let segment = Segment {
            id: ALL_CONTACTS,
            name: "All contacts".to_owned(),
            description: "Every contact of the workspace, known and anonymous.".to_owned(),
            definition: Definition::Dynamic(Criteria::everyone()),
            system: true,
            created_at: now,
            updated_at: now,
            members: RoaringBitmap::new(),
            log: MembershipLog { epoch: 1, epoch_started_at: now, ..MembershipLog::default() },
            time_dependent: false,
        };
        self.segments.insert(ALL_CONTACTS, segment);
        self.rebuild_topology();
    }

    /// An evaluation environment for the local day `today`.
    fn with_env<R>(&self, today: Date, f: impl FnOnce(&EvalEnv<'_>) -> R) -> R {
        let segments = &self.segments;
        let is_member =
            |segment: SegmentId, contact: ContactId| segments.get(&segment).is_some_and(|s| s.members.contains(contact.0));
        let env = EvalEnv {
            tz: &self.tz,
            today,
            urls: &self.urls,
            event_names: &self.event_names,
            stages: &self.settings.stages,
            is_member: &is_member,
        };
        f(&env)
    }

    /// Evaluates criteria on every alive contact as of the local day `today`.
    pub fn evaluate_all(&self, criteria: &Criteria, today: Date) -> RoaringBitmap {
        let parts = if self.alive.len() >= PARALLEL_MIN_CONTACTS { 2 } else { 1 };
        self.evaluate_all_in_parts(criteria, today, parts)
    }

    /// [`Workspace::evaluate_all`] with the contacts cut into `parts` id
    /// ranges evaluated on as many threads, for the tests to check that the
    /// cut changes nothing.
    #[doc(hidden)]
    pub fn evaluate_all_in_parts(&self, criteria: &Criteria, today: Date, parts: usize) -> RoaringBitmap {
        self.with_env(today, |env| {
            let compiled = Compiled::new(criteria, env);
            let matching = |ids: &RoaringBitmap| -> RoaringBitmap {
                ids.iter().filter(|id| compiled.matches(&self.contacts[*id as usize], env)).collect()
            };
            let parts = parts.clamp(1, 8) as u64;
            if parts == 1 {
                return matching(&self.alive);
            }
            let len = self.alive.len();
            let cuts: Vec<u32> = (1..parts).filter_map(|k| self.alive.select((len * k / parts) as u32)).collect();
            let mut slices = Vec::new();
            let mut rest = self.alive.clone();
            for cut in cuts {
                let mut below = RoaringBitmap::new();
                below.insert_range(..cut);
                slices.push(&rest & &below);
                rest -= below;
            }
            slices.push(rest);
            std::thread::scope(|scope| {
                let handles: Vec<_> = slices[1..].iter().map(|slice| scope.spawn(|| matching(slice))).collect();
                let mut all = matching(&slices[0]);
                for handle in handles {
                    all |= handle.join().expect("an evaluation thread panicked");
                }
                all
            })
        })
    }

    /// Evaluates criteria on one contact as of today.
    pub fn evaluate_one(&self, criteria: &Criteria, contact: ContactId) -> bool {
        self.with_env(self.evaluated_day, |env| {
            let compiled = Compiled::new(criteria, env);
            self.alive.contains(contact.0) && compiled.matches(&self.contacts[contact.0 as usize], env)
        })
    }

    pub fn today(&self) -> Date {
        self.evaluated_day
    }

    fn log(&mut self, segment: SegmentId, contact: ContactId, entered: bool, at: Secs, reason: Reason) {
        let seg = self.segments.get_mut(&segment).expect("segment exists");
        if entered {
            seg.members.insert(contact.0);
        } else {
            seg.members.remove(contact.0);
        }
        let epoch = seg.log.epoch;
        // Entries are appended in time order: commands apply at a
        // non-decreasing clock and midnight re-evaluations happen before any
        // command of the new day.
        debug_assert!(seg.log.entries.last().is_none_or(|last| last.at <= at));
        seg.log.entries.push(LogEntry { at, contact, entered, reason, epoch });
    }

    /// Re-evaluates every dynamic segment for the given contacts, in
    /// reference order, and logs the changes.
    pub(crate) fn reevaluate_dirty(&mut self, dirty: &BTreeMap<ContactId, Reason>, now: Secs) {
        if dirty.is_empty() {
            return;
        }
        let rows = self.summary_rows.get_mut();
        for id in dirty.keys() {
            rows.mark(id.0);
        }
        let order = self.topo_order.clone();
        for segment in order {
            let changes: Vec<(ContactId, bool, Reason)> = {
                let criteria = self.segments[&segment].criteria().expect("topo order holds dynamic segments").clone();
                self.with_env(self.evaluated_day, |env| {
                    let compiled = Compiled::new(&criteria, env);
                    let members = &self.segments[&segment].members;
                    dirty
                        .iter()
                        .filter_map(|(id, reason)| {
                            let alive = self.alive.contains(id.0);
                            let should = alive && compiled.matches(&self.contacts[id.0 as usize], env);
                            (should != members.contains(id.0)).then_some((*id, should, *reason))
                        })
                        .collect()
                })
            };
            for (id, entered, reason) in changes {
                self.log(segment, id, entered, now, reason);
            }
        }
    }

    /// Re-evaluates the given dynamic segments (in reference order) over all
    /// contacts as of `today`, logging changes at `at`.
    pub(crate) fn reevaluate_all(&mut self, segments: &[SegmentId], today: Date, at: Secs, reason: Reason) {
        for segment in self.topo_order.clone() {
            if !segments.contains(&segment) {
                continue;
            }
            let criteria = self.segments[&segment].criteria().expect("dynamic").clone();
            let fresh = self.evaluate_all(&criteria, today);
            let current = self.segments[&segment].members.clone();
            let entered = &fresh - &current;
            let exited = &current - &fresh;
            for id in exited {
                self.log(segment, ContactId(id), false, at, reason);
            }
            for id in entered {
                self.log(segment, ContactId(id), true, at, reason);
            }
        }
    }

    /// Dynamic segments that time can change, plus everything that references them.
    pub(crate) fn segments_affected_by_time(&self) -> Vec<SegmentId> {
        self.topo_order.iter().copied().filter(|id| self.segments[id].time_dependent).collect()
    }

    pub(crate) fn remove_from_all_segments(&mut self, contact: ContactId, at: Secs, reason: Reason) {
        self.summary_rows.get_mut().mark(contact.0);
        let holding: Vec<SegmentId> = self.segments.values().filter(|s| s.members.contains(contact.0)).map(|s| s.id).collect();
        for segment in holding {
            self.log(segment, contact, false, at, reason);
        }
        // Dynamic segments that reference a list or segment the contact left
        // do not need a pass: the contact is gone from all of them above.
    }

    /// Adds or removes contacts of a static list and re-evaluates what
    /// references it. Returns how many memberships changed.
    pub(crate) fn set_list_members(
        &mut self,
        list: SegmentId,
        contacts: &[ContactId],
        add: bool,
        reason: Reason,
        at: Secs,
    ) -> usize {
        let mut changed = BTreeMap::new();
        for id in contacts {
            let alive = self.alive.contains(id.0);
            let member = self.segments[&list].members.contains(id.0);
            if alive && member != add {
                self.log(list, *id, add, at, reason);
                changed.insert(*id, crate::engine::Reason::Criteria);
            }
        }
        let count = changed.len();
        self.reevaluate_dirty(&changed, at);
        count
    }

    pub(crate) fn change_list(
        &mut self,
        list: SegmentId,
        contacts: &[ContactRef],
        add: bool,
        reason: Reason,
        now: Secs,
    ) -> Result<Outcome> {
        if !self.segment(list)?.is_static() {
            return Err(Error::invalid(format!(
                "segment {list} is dynamic: its members follow its criteria; only static lists take members"
            )));
        }
        if !matches!(reason, Reason::Manual | Reason::Import) {
            return Err(Error::invalid("a list change is manual or from an import"));
        }
        if contacts.len() > crate::engine::MAX_BATCH {
            return Err(Error::invalid("at most 50000 contacts per list change"));
        }
        let mut ids = Vec::new();
        let mut unknown = Vec::new();
        for who in contacts {
            match self.resolve(who) {
                Ok(id) => ids.push(id),
                Err(err) => unknown.push(err.message),
            }
        }
        let changed = self.set_list_members(list, &ids, add, reason, now);
        Ok(Outcome::ListChanged { changed, unknown })
    }

    fn check_unique_name(&self, name: &str, except: Option<SegmentId>) -> Result<()> {
        let wanted = name.to_lowercase();
        match self.segments.values().find(|s| Some(s.id) != except && s.name.to_lowercase() == wanted) {
            Some(other) => {
                Err(Error::conflict(format!("segment {} is already named \"{}\"", other.id, other.name)).in_field("name"))
            }
            None => Ok(()),
        }
    }

    fn check_definition(&self, definition: Definition) -> Result<Definition> {
        match definition {
            Definition::Static => Ok(Definition::Static),
            Definition::Dynamic(criteria) => {
                let segments = &self.segments;
                let exists = |id: SegmentId| segments.contains_key(&id);
                Ok(Definition::Dynamic(criteria.validate(self, &exists)?))
            }
        }
    }

    pub(crate) fn create_segment(&mut self, spec: SegmentSpec, now: Secs) -> Result<Outcome> {
        if self.segments.len() >= MAX_SEGMENTS {
            return Err(Error::invalid(format!("a workspace has at most {MAX_SEGMENTS} segments and lists")));
        }
        let name = check_name("segment", &spec.name)?;
        self.check_unique_name(&name, None)?;
        let description = check_description(&spec.description)?;
        let definition = self.check_definition(spec.definition)?;
        let id = SegmentId(self.next_segment);
        let members = match &definition {
            Definition::Dynamic(criteria) => self.evaluate_all(criteria, self.evaluated_day),
            Definition::Static => RoaringBitmap::new(),
        };
        let segment = Segment {
            id,
            name,
            description,
            definition,
            system: false,
            created_at: now,
            updated_at: now,
            log: MembershipLog { epoch: 1, epoch_started_at: now, backfill: members.clone(), ..MembershipLog::default() },
            members,
            time_dependent: false,
        };
        self.next_segment += 1;
        self.segments.insert(id, segment);
        self.rebuild_topology();
        Ok(Outcome::SegmentSaved(id))
    }

    pub(crate) fn update_segment(&mut self, id: SegmentId, spec: SegmentSpec, now: Secs) -> Result<Outcome> {
        let existing = self.segment(id)?;
        if existing.system {
            return Err(Error::invalid(format!("segment {id} (\"{}\") is built in and cannot be edited", existing.name)));
        }
        let name = check_name("segment", &spec.name)?;
        self.check_unique_name(&name, Some(id))?;
        let description = check_description(&spec.description)?;
        let definition = self.check_definition(spec.definition)?;
        match (&existing.definition, &definition) {
            (Definition::Static, Definition::Dynamic(_)) | (Definition::Dynamic(_), Definition::Static) => {
                return Err(Error::invalid("a segment cannot change between dynamic and static; create a new one"));
            }
            _ => {}
        }
        if let Definition::Dynamic(criteria) = &definition
            && let Some(path) = self.cycle_through(id, &criteria.references())
        {
            let names: Vec<String> = path.iter().map(|s| format!("\"{}\"", self.segments[s].name)).collect();
            return Err(
                Error::invalid(format!("segment references would form a cycle: {}", names.join(" → "))).in_field("criteria")
            );
        }
        let criteria_changed = existing.definition != definition;
        let segment = self.segments.get_mut(&id).expect("checked");
        segment.name = name;
        segment.description = description;
        segment.updated_at = now;
        if !criteria_changed {
            return Ok(Outcome::SegmentSaved(id));
        }
        segment.definition = definition.clone();
        self.rebuild_topology();
        let Definition::Dynamic(criteria) = definition else { unreachable!("static lists have no criteria to change") };
        let fresh = self.evaluate_all(&criteria, self.evaluated_day);
        let old = self.segments[&id].members.clone();
        for left in &old - &fresh {
            self.log(id, ContactId(left), false, now, Reason::CriteriaEdited);
        }
        let segment = self.segments.get_mut(&id).expect("exists");
        let log = &mut segment.log;
        let previous = std::mem::take(&mut log.backfill);
        log.past_epochs.push((log.epoch, log.epoch_started_at, previous));
        log.epoch += 1;
        log.epoch_started_at = now;
        log.backfill = fresh.clone();
        segment.members = fresh.clone();
        // Segments that reference this one see its new members.
        let changed: BTreeMap<ContactId, Reason> = (&old ^ &fresh).iter().map(|c| (ContactId(c), Reason::Criteria)).collect();
        self.reevaluate_dirty(&changed, now);
        Ok(Outcome::SegmentSaved(id))
    }

    pub(crate) fn delete_segment(&mut self, id: SegmentId) -> Result<Outcome> {
        let segment = self.segment(id)?;
        if segment.system {
            return Err(Error::invalid(format!("segment {id} (\"{}\") is built in and cannot be deleted", segment.name)));
        }
        let referrers = self.referrers(id);
        if !referrers.is_empty() {
            return Err(Error::conflict(format!(
                "segment \"{}\" is still referenced; remove these references first",
                segment.name
            ))
            .with_details(referrers));
        }
        self.segments.remove(&id);
        self.rebuild_topology();
        Ok(Outcome::Deleted)
    }

    /// Everything that references a segment, described for people.
    pub fn referrers(&self, id: SegmentId) -> Vec<String> {
        let mut out: Vec<String> = self
            .segments
            .values()
            .filter(|s| s.references().contains(&id))
            .map(|s| format!("segment {} \"{}\"", s.id, s.name))
            .collect();
        out.extend(
            self.automations
                .values()
                .filter(|a| a.segment_ids.contains(&id))
                .map(|a| format!("{} #{} \"{}\"", crate::engine::kind_name(a.kind), a.id, a.name)),
        );
        out
    }

    /// If `id` referencing `targets` would close a cycle, the path
    /// `id → … → id`.
    fn cycle_through(&self, id: SegmentId, targets: &[SegmentId]) -> Option<Vec<SegmentId>> {
        fn walk(
            ws: &Workspace,
            from: SegmentId,
            goal: SegmentId,
            path: &mut Vec<SegmentId>,
            seen: &mut BTreeSet<SegmentId>,
        ) -> bool {
            path.push(from);
            if from == goal {
                return true;
            }
            if seen.insert(from) {
                for next in ws.segments.get(&from).map(Segment::references).unwrap_or_default() {
                    if walk(ws, next, goal, path, seen) {
                        return true;
                    }
                }
            }
            path.pop();
            false
        }
        let mut seen = BTreeSet::new();
        for target in targets {
            let mut path = vec![id];
            if walk(self, *target, id, &mut path, &mut seen) {
                return Some(path);
            }
        }
        None
    }

    /// Recomputes the evaluation order (referenced before referrer) and the
    /// time dependence of every dynamic segment.
    pub(crate) fn rebuild_topology(&mut self) {
        let mut order = Vec::new();
        let mut state: BTreeMap<SegmentId, u8> = BTreeMap::new();
        fn visit(ws: &Workspace, id: SegmentId, state: &mut BTreeMap<SegmentId, u8>, order: &mut Vec<SegmentId>) {
            if state.get(&id).is_some() {
                return; // visited or on the stack; cycles are refused at save time
            }
            state.insert(id, 1);
            for next in ws.segments.get(&id).map(Segment::references).unwrap_or_default() {
                visit(ws, next, state, order);
            }
            state.insert(id, 2);
            order.push(id);
        }
        for id in self.segments.keys().copied().collect::<Vec<_>>() {
            visit(self, id, &mut state, &mut order);
        }
        let mut timed: BTreeSet<SegmentId> = BTreeSet::new();
        for id in &order {
            let segment = &self.segments[id];
            let own = segment.criteria().is_some_and(Criteria::depends_on_time);
            if own || segment.references().iter().any(|r| timed.contains(r)) {
                timed.insert(*id);
            }
        }
        for (id, segment) in &mut self.segments {
            segment.time_dependent = timed.contains(id);
        }
        order.retain(|id| !self.segments[id].is_static());
        self.topo_order = order;
    }

    /// Journeys and campaigns that reference a segment.
    pub fn automations_referencing(&self, id: SegmentId, kind: AutomationKind) -> Vec<&crate::model::Automation> {
        self.automations(kind).filter(|a| a.segment_ids.contains(&id)).collect()
    }
}

fn check_description(raw: &str) -> Result<String> {
    let trimmed = raw.trim();
    if trimmed.chars().count() > 2_000 {
        return Err(Error::invalid("a description is at most 2000 characters").in_field("description"));
    }
    Ok(trimmed.to_owned())
}
