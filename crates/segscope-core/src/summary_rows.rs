//! The summary's fast path: one compact row per contact holding exactly what
//! the summary counts, kept in a dense array indexed by contact id.
//!
//! Why: a [`Contact`] spreads what the summary reads over a dozen heap
//! allocations (sessions, stage and geography strings, …), so the slow path
//! pays several cache misses per member. The rows are 56 bytes, read in
//! ascending id order (the order a member bitmap iterates), so a summary
//! over millions of members streams through memory instead of chasing
//! pointers. Strings (stages, regions, cities) are interned to ids.
//!
//! The rows are a cache of derived state, never serialized: the engine marks
//! a contact dirty wherever its data can change (`refresh_contact`,
//! `reevaluate_dirty`, settings changes), and a summary first re-derives the
//! dirty rows. Session counts depend on the requested range, so each row
//! holds them for the range of the last summary; another range re-derives
//! that column for every contact (once, then it is warm again). Everything
//! else that depends on "now" (reachability) is computed at query time from
//! the row. The naive per-contact loop stays as the reference in
//! `segscope-testkit`'s property tests.

use std::collections::HashMap;

use crate::contact::Contact;
use crate::model::Country;
use crate::subscription::EmailFlags;
use crate::time::Secs;

/// "No value" for the interned ids of a row.
pub(crate) const NONE: u32 = u32::MAX;

/// What the summary reads of one contact.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Row {
    pub created_at: Secs,
    /// `Secs::MIN` when the contact never engaged.
    pub last_engaged: Secs,
    /// Total duration of the sessions that started in the cached range.
    pub duration: i64,
    pub sessions: u32,
    pub bounces: u32,
    pub stage: u32,
    pub region: u32,
    pub city: u32,
    pub flags: EmailFlags,
    /// Interned country, `u16::MAX` when unknown.
    pub country: u16,
    pub known: bool,
    pub has_email: bool,
    pub channel: u8,
    /// Index of the first-touch source, 7 for none.
    pub source: u8,
    pub provider: u8,
}

/// Strings and countries by id.
#[derive(Debug, Default)]
pub(crate) struct Names {
    pub strings: Vec<String>,
    string_ids: HashMap<String, u32>,
    pub countries: Vec<Country>,
    country_ids: HashMap<Country, u16>,
}

impl Names {
    fn string(&mut self, value: Option<&str>) -> u32 {
        let Some(value) = value else { return NONE };
        if let Some(id) = self.string_ids.get(value) {
            return *id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(value.to_owned());
        self.string_ids.insert(value.to_owned(), id);
        id
    }

    fn country(&mut self, value: Option<Country>) -> u16 {
        let Some(value) = value else { return u16::MAX };
        *self.country_ids.entry(value).or_insert_with(|| {
            self.countries.push(value);
            (self.countries.len() - 1) as u16
        })
    }
}

/// The rows and what is needed to keep them current.
#[derive(Debug, Default)]
pub(crate) struct SummaryRows {
    pub rows: Vec<Row>,
    pub names: Names,
    /// Contacts whose row must be re-derived before the next read.
    dirty: Vec<u32>,
    /// Every row must be re-derived (settings changed, or never built).
    all_dirty: bool,
    /// The range the session columns hold, if any.
    range: Option<(Secs, Secs)>,
}

impl SummaryRows {
    pub fn mark(&mut self, contact: u32) {
        if !self.all_dirty {
            self.dirty.push(contact);
            // A long backlog is cheaper to redo in one sequential pass.
            if self.dirty.len() > 1 << 20 {
                self.mark_all();
            }
        }
    }

    pub fn mark_all(&mut self) {
        self.all_dirty = true;
        self.dirty.clear();
    }

    fn derive(names: &mut Names, contact: &Contact, range: (Secs, Secs)) -> Row {
        let in_range = contact.sessions_between(range.0, range.1);
        let geo = contact.geo();
        Row {
            created_at: contact.created_at,
            last_engaged: contact.last_engaged.unwrap_or(Secs::MIN),
            duration: in_range.iter().map(|s| s.duration()).sum(),
            sessions: in_range.len() as u32,
            bounces: in_range.iter().filter(|s| s.is_bounce()).count() as u32,
            stage: names.string(contact.stage.as_deref()),
            region: names.string(geo.region.as_deref()),
            city: names.string(geo.city.as_deref()),
            flags: contact.flags,
            country: names.country(geo.country),
            known: contact.is_known(),
            has_email: contact.email.is_some(),
            channel: contact.channel.index() as u8,
            source: contact.source().map_or(7, |s| s.index() as u8),
            provider: contact.provider.index() as u8,
        }
    }

    /// Brings the rows up to date with `contacts` for the range `[from, to)`.
    pub fn update(&mut self, contacts: &[Contact], from: Secs, to: Secs) {
        let range = (from, to);
        if self.rows.len() != contacts.len() {
            // New contacts are dirty anyway; ids are dense and never reused.
            let start = self.rows.len().min(contacts.len());
            self.rows.truncate(start);
            for contact in &contacts[start..] {
                let row = Self::derive(&mut self.names, contact, range);
                self.rows.push(row);
            }
            if start == 0 {
                // Every row was just derived from the current data.
                self.all_dirty = false;
                self.dirty.clear();
                self.range = Some(range);
            }
        }
        if self.all_dirty || self.range != Some(range) {
            if self.all_dirty {
                for (row, contact) in self.rows.iter_mut().zip(contacts) {
                    *row = Self::derive(&mut self.names, contact, range);
                }
            } else {
                // Only the range changed: the session columns.
                for (row, contact) in self.rows.iter_mut().zip(contacts) {
                    let in_range = contact.sessions_between(from, to);
                    row.sessions = in_range.len() as u32;
                    row.duration = in_range.iter().map(|s| s.duration()).sum();
                    row.bounces = in_range.iter().filter(|s| s.is_bounce()).count() as u32;
                }
            }
            for id in self.dirty.drain(..) {
                if let Some(contact) = contacts.get(id as usize) {
                    self.rows[id as usize] = Self::derive(&mut self.names, contact, range);
                }
            }
            self.all_dirty = false;
            self.range = Some(range);
            return;
        }
        for id in std::mem::take(&mut self.dirty) {
            if let Some(contact) = contacts.get(id as usize) {
                self.rows[id as usize] = Self::derive(&mut self.names, contact, range);
            }
        }
    }
}

/// The cache as a field of the workspace: cloned empty (a clone rebuilds
/// on its first summary), behind a mutex because summaries take `&self`.
/// Concurrent summaries of one workspace serialize on it; each is short.
#[derive(Debug, Default)]
pub(crate) struct RowCache(pub std::sync::Mutex<SummaryRows>);

impl Clone for RowCache {
    fn clone(&self) -> RowCache {
        let fresh = SummaryRows { all_dirty: true, ..SummaryRows::default() };
        RowCache(std::sync::Mutex::new(fresh))
    }
}

impl RowCache {
    pub fn new() -> RowCache {
        RowCache(std::sync::Mutex::new(SummaryRows { all_dirty: true, ..SummaryRows::default() }))
    }

    /// For `&mut self` paths: no locking needed.
    pub fn get_mut(&mut self) -> &mut SummaryRows {
        self.0.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
