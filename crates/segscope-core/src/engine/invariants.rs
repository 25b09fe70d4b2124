//! A from-scratch check of everything the engine maintains incrementally.
//! Tests call it after random operation sequences; operators can call it
//! through `segscope check` on a live store. It only reads.

use roaring::RoaringBitmap;

use crate::engine::Workspace;
use crate::ids::ContactId;

impl Workspace {
    /// Recomputes memberships, membership-log replays, derived contact
    /// values and identity maps from the raw data and compares them with the
    /// maintained state. Returns every discrepancy found.
    pub fn check_invariants(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        for id in &self.topo_order {
            let segment = &self.segments[id];
            let criteria = segment.criteria().expect("topo order holds dynamic segments");
            let fresh = self.evaluate_all(criteria, self.evaluated_day);
            if fresh != segment.members {
                let extra: Vec<u32> = (&segment.members - &fresh).iter().take(5).collect();
                let missing: Vec<u32> = (&fresh - &segment.members).iter().take(5).collect();
                problems
                    .push(format!("segment {id}: members differ from a fresh evaluation (extra {extra:?}, missing {missing:?})"));
            }
        }
        for segment in self.segments.values() {
            if !segment.members.is_subset(&self.alive) {
                problems.push(format!("segment {}: has members that no longer exist", segment.id));
            }
            let mut replay: RoaringBitmap = segment.log.backfill.clone();
            for entry in segment.log.current_entries() {
                let present = replay.contains(entry.contact.0);
                if entry.entered == present {
                    problems.push(format!(
                        "segment {}: log {} of contact {} at {} while it was {}a member",
                        segment.id,
                        if entry.entered { "entry" } else { "exit" },
                        entry.contact,
                        entry.at,
                        if present { "" } else { "not " }
                    ));
                }
                if entry.entered {
                    replay.insert(entry.contact.0);
                } else {
                    replay.remove(entry.contact.0);
                }
            }
            if replay != segment.members {
                problems.push(format!("segment {}: replaying its log does not give its members", segment.id));
            }
            if segment.log.entries.windows(2).any(|pair| pair[0].at > pair[1].at) {
                problems.push(format!("segment {}: log entries are out of time order", segment.id));
            }
        }
        let mx = |domain: &str| self.mx.get(domain).cloned();
        for contact in &self.contacts {
            let id = contact.id;
            if contact.alive != self.alive.contains(id.0) {
                problems.push(format!("contact {id}: alive flag and alive set disagree"));
            }
            if contact.alive {
                let mut fresh = contact.clone();
                fresh.refresh(&self.settings.sessions, self.settings.soft_bounce_threshold, &self.tz, &mx);
                if fresh != *contact {
                    problems.push(format!("contact {id}: derived values differ from a refresh"));
                }
                if contact.is_known() != self.known.contains(id.0) {
                    problems.push(format!("contact {id}: known flag and known set disagree"));
                }
            }
        }
        let survivor_alive = |owner: &ContactId| self.survivor(*owner).is_some_and(|s| self.alive.contains(s.0));
        for (key, owner) in self.by_email.iter().chain(self.by_external_id.iter()).chain(self.by_visitor.iter()) {
            if !survivor_alive(owner) {
                problems.push(format!("identity {key} points at contact {owner}, which is gone"));
            }
        }
        for contact in self.contacts.iter().filter(|c| c.alive) {
            for visitor in &contact.visitor_ids {
                if self.by_visitor.get(visitor) != Some(&contact.id) {
                    problems.push(format!("visitor {visitor} of contact {} does not resolve to it", contact.id));
                }
            }
        }
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }
}
