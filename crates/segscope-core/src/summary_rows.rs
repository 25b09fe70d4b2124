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

use roaring::RoaringBitmap;

use crate::contact::Contact;
use crate::model::Country;
use crate::subscription::EmailFlags;
use crate::time::Secs;

/// "No value" for the interned ids of a row.
pub(crate) const NONE: u32 = u32::MAX;

/// What the summary reads of every member: 32 bytes, so that a pass over
/// millions of members streams as little memory as it can (at ten million
/// contacts the rows are read at memory bandwidth, not at compute speed).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Row {
    /// `Secs::MIN` when the contact never engaged.
    pub last_engaged: Secs,
    /// Total duration in seconds of the sessions that started in the cached
    /// range. A contact's sessions do not overlap, so their total is below
    /// the time since its first event: far below the 136 years of a `u32`.
    pub duration: u32,
    pub sessions: u32,
    pub bounces: u32,
    pub stage: u32,
    /// Channel, first-touch source (7 for none), provider and known, as one
    /// [`dims_key`].
    pub dims: u16,
    /// Has-email and the email flags, as one [`mail_key`].
    pub mail: u16,
    /// Interned country, `u16::MAX` when unknown.
    pub country: u16,
    pub known: bool,
}

/// What only growth and the geography drill-down read, kept apart from the
/// rows so that the main pass does not stream it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cold {
    pub created_at: Secs,
    pub region: u32,
    pub city: u32,
}

/// Sums session durations into a row's `u32` (see [`Row::duration`]).
fn total_duration(sessions: &[crate::session::Session]) -> u32 {
    let total: i64 = sessions.iter().map(|s| s.duration()).sum();
    u32::try_from(total).unwrap_or(u32::MAX)
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
    /// By contact id, like `rows`.
    pub cold: Vec<Cold>,
    pub names: Names,
    /// Contacts whose row must be re-derived before the next read.
    dirty: Vec<u32>,
    /// Every row must be re-derived (settings changed, or never built).
    all_dirty: bool,
    /// The range the session columns hold, if any.
    range: Option<(Secs, Secs)>,
    /// The ids whose `created_at` is at or after a range start, and that start.
    created_since: Option<(Secs, RoaringBitmap)>,
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

    fn derive(names: &mut Names, contact: &Contact, range: (Secs, Secs)) -> (Row, Cold) {
        let in_range = contact.sessions_between(range.0, range.1);
        let geo = contact.geo();
        let cold = Cold {
            created_at: contact.created_at,
            region: names.string(geo.region.as_deref()),
            city: names.string(geo.city.as_deref()),
        };
        let row = Row {
            last_engaged: contact.last_engaged.unwrap_or(Secs::MIN),
            duration: total_duration(in_range),
            sessions: in_range.len() as u32,
            bounces: in_range.iter().filter(|s| s.is_bounce()).count() as u32,
            stage: names.string(contact.stage.as_deref()),
            dims: dims_key(
                contact.channel.index() as u8,
                contact.source().map_or(7, |s| s.index() as u8),
                contact.provider.index() as u8,
                contact.is_known(),
            ),
            mail: mail_key(contact.email.is_some(), contact.flags),
            country: names.country(geo.country),
            known: contact.is_known(),
        };
        (row, cold)
    }

    fn set(&mut self, id: usize, (row, cold): (Row, Cold)) {
        self.rows[id] = row;
        self.cold[id] = cold;
    }

    /// Brings the rows up to date with `contacts` for the range `[from, to)`.
    pub fn update(&mut self, contacts: &[Contact], from: Secs, to: Secs) {
        let range = (from, to);
        // Ids whose row was re-derived, `None` for all of them.
        let mut changed: Option<Vec<u32>> = Some(Vec::new());
        if self.rows.len() != contacts.len() {
            // New contacts are dirty anyway; ids are dense and never reused.
            let start = self.rows.len().min(contacts.len());
            self.rows.truncate(start);
            self.cold.truncate(start);
            self.rows.reserve_exact(contacts.len() - start);
            self.cold.reserve_exact(contacts.len() - start);
            for contact in &contacts[start..] {
                let (row, cold) = Self::derive(&mut self.names, contact, range);
                self.rows.push(row);
                self.cold.push(cold);
            }
            if start == 0 {
                // Every row was just derived from the current data.
                self.all_dirty = false;
                self.dirty.clear();
                self.range = Some(range);
                changed = None;
            } else if let Some(ids) = changed.as_mut() {
                ids.extend(start as u32..contacts.len() as u32);
            }
        }
        if self.all_dirty || self.range != Some(range) {
            if self.all_dirty {
                for (id, contact) in contacts.iter().enumerate() {
                    let derived = Self::derive(&mut self.names, contact, range);
                    self.set(id, derived);
                }
                changed = None;
            } else {
                // Only the range changed: the session columns.
                for (row, contact) in self.rows.iter_mut().zip(contacts) {
                    let in_range = contact.sessions_between(from, to);
                    row.sessions = in_range.len() as u32;
                    row.duration = total_duration(in_range);
                    row.bounces = in_range.iter().filter(|s| s.is_bounce()).count() as u32;
                }
            }
            self.all_dirty = false;
            self.range = Some(range);
        }
        for id in std::mem::take(&mut self.dirty) {
            if let Some(contact) = contacts.get(id as usize) {
                let derived = Self::derive(&mut self.names, contact, range);
                self.set(id as usize, derived);
                if let Some(ids) = changed.as_mut() {
                    ids.push(id);
                }
            }
        }
        self.update_created_since(from, changed);
    }

    /// Keeps [`SummaryRows::created_since`] equal to the contacts created at
    /// or after `from`.
    fn update_created_since(&mut self, from: Secs, changed: Option<Vec<u32>>) {
        match (&mut self.created_since, changed) {
            (Some((cached, bitmap)), Some(ids)) if *cached == from => {
                for id in ids {
                    if self.cold[id as usize].created_at >= from {
                        bitmap.insert(id);
                    } else {
                        bitmap.remove(id);
                    }
                }
            }
            _ => {
                let ids = self.cold.iter().enumerate().filter(|(_, cold)| cold.created_at >= from).map(|(id, _)| id as u32);
                let bitmap = RoaringBitmap::from_sorted_iter(ids).expect("ids ascend");
                self.created_since = Some((from, bitmap));
            }
        }
    }

    /// Contacts created at or after the start of the cached range: growth
    /// reads the creation of back-filled members only for these.
    pub fn created_since(&self) -> &RoaringBitmap {
        static EMPTY: std::sync::OnceLock<RoaringBitmap> = std::sync::OnceLock::new();
        self.created_since.as_ref().map_or_else(|| EMPTY.get_or_init(RoaringBitmap::new), |(_, bitmap)| bitmap)
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

/// Sizes of the combined counters of a [`Tally`].
const CHANNELS: usize = 6;
const SOURCES: usize = 8;
const PROVIDERS: usize = 13;
/// (channel, source, provider, known): one counter per combination.
pub(crate) const DIMS: usize = CHANNELS * SOURCES * PROVIDERS * 2;
/// (has email, the 8 flag bits, engaged in the window).
pub(crate) const MAIL_KEYS: usize = 2 * 256 * 2;

/// The combined key of a row's low-cardinality fields, decoded by [`dims_of`].
pub(crate) fn dims_key(channel: u8, source: u8, provider: u8, known: bool) -> u16 {
    debug_assert!(usize::from(channel) < CHANNELS && usize::from(source) < SOURCES && usize::from(provider) < PROVIDERS);
    ((((u16::from(channel) * SOURCES as u16) + u16::from(source)) * PROVIDERS as u16 + u16::from(provider)) << 1)
        | u16::from(known)
}

/// `(channel, source, provider, known)` of a [`dims_key`].
pub(crate) fn dims_of(key: usize) -> (usize, usize, usize, bool) {
    let known = key & 1 == 1;
    let rest = key >> 1;
    (rest / (SOURCES * PROVIDERS), rest / PROVIDERS % SOURCES, rest % PROVIDERS, known)
}

/// The email state of a row: has-email bit and the flag bits, shifted to
/// leave the lowest bit for "engaged", which depends on "now".
pub(crate) fn mail_key(has_email: bool, flags: EmailFlags) -> u16 {
    (u16::from(has_email) << 9) | ((flags.bits() & 0xff) << 1)
}

/// `(has email, flags, engaged)` of a mail counter's index.
pub(crate) fn mail_of(index: usize) -> (bool, EmailFlags, bool) {
    (index >> 9 & 1 == 1, EmailFlags::from_bits((index >> 1 & 0xff) as u16), index & 1 == 1)
}

/// Web counters of one side (known or anonymous).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct WebTally {
    pub sessions: u64,
    pub duration: i64,
    pub bounces: u64,
    pub active: u64,
}

/// What the row pass counts over some members. Distributions that only
/// depend on a handful of small fields are counted as combinations (one
/// increment per member instead of one per block) and split into blocks by
/// [`Tally`]'s users afterwards; the pass can be cut into parts counted in
/// parallel and merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tally {
    pub dims: Vec<u64>,
    pub mail: Vec<u64>,
    /// By interned string id, the last slot for "none".
    pub stages: Vec<u64>,
    /// By interned country, the last slot for "unknown".
    pub countries: Vec<u64>,
    /// `[anonymous, known]`.
    pub web: [WebTally; 2],
    /// Members in the drilled-down country; regions and cities by string id.
    pub drill_base: u64,
    pub regions: Vec<u64>,
    pub cities: Vec<u64>,
}

/// What to drill into: an interned country and, for cities, which region
/// ids are wanted (by string id).
#[derive(Debug, Clone, Default)]
pub(crate) struct Drill {
    pub country: Option<u16>,
    pub region_wanted: Option<Vec<bool>>,
}

impl Tally {
    fn new(names: &Names, drill: &Drill) -> Tally {
        let strings = names.strings.len() + 1;
        let drilled = if drill.country.is_some() { strings } else { 0 };
        Tally {
            dims: vec![0; DIMS],
            mail: vec![0; MAIL_KEYS],
            stages: vec![0; strings],
            countries: vec![0; names.countries.len() + 1],
            web: [WebTally::default(); 2],
            drill_base: 0,
            regions: vec![0; drilled],
            cities: vec![0; drilled],
        }
    }

    fn merge(&mut self, other: &Tally) {
        let add = |into: &mut [u64], from: &[u64]| into.iter_mut().zip(from).for_each(|(a, b)| *a += b);
        add(&mut self.dims, &other.dims);
        add(&mut self.mail, &other.mail);
        add(&mut self.stages, &other.stages);
        add(&mut self.countries, &other.countries);
        add(&mut self.regions, &other.regions);
        add(&mut self.cities, &other.cities);
        for (a, b) in self.web.iter_mut().zip(&other.web) {
            a.sessions += b.sessions;
            a.duration += b.duration;
            a.bounces += b.bounces;
            a.active += b.active;
        }
        self.drill_base += other.drill_base;
    }

    fn count(
        &mut self,
        rows: &[Row],
        cold: &[Cold],
        members: roaring::bitmap::Iter<'_>,
        engaged_since: Secs,
        drill: &Drill,
        names: &Names,
    ) {
        let none_string = names.strings.len();
        let none_country = names.countries.len();
        // `for_each`, not `for`: roaring folds container by container, which
        // is much cheaper per member than its `next`.
        members.for_each(|id| {
            let row = &rows[id as usize];
            self.dims[usize::from(row.dims)] += 1;
            let engaged = usize::from(row.last_engaged >= engaged_since);
            self.mail[usize::from(row.mail) | engaged] += 1;
            let stage = if row.stage == NONE { none_string } else { row.stage as usize };
            self.stages[stage] += 1;
            let country = if row.country == u16::MAX { none_country } else { usize::from(row.country) };
            self.countries[country] += 1;
            let web = &mut self.web[usize::from(row.known)];
            web.sessions += u64::from(row.sessions);
            web.duration += i64::from(row.duration);
            web.bounces += u64::from(row.bounces);
            web.active += u64::from(row.sessions > 0);
            if drill.country == Some(row.country) {
                self.drill_base += 1;
                let place = &cold[id as usize];
                let region = if place.region == NONE { none_string } else { place.region as usize };
                self.regions[region] += 1;
                let in_region = match &drill.region_wanted {
                    None => true,
                    Some(wanted) => place.region != NONE && wanted[place.region as usize],
                };
                if in_region {
                    self.cities[if place.city == NONE { none_string } else { place.city as usize }] += 1;
                }
            }
        });
    }
}

/// Segments at least this large are counted on two threads.
pub(crate) const PARALLEL_MIN_MEMBERS: u64 = 200_000;

/// Counts `members` over `rows` in `parts` parts (one thread each beyond
/// the first), cut at member ranks so that the parts are equal.
pub(crate) fn tally(
    rows: &[Row],
    cold: &[Cold],
    names: &Names,
    members: &RoaringBitmap,
    engaged_since: Secs,
    drill: &Drill,
    parts: usize,
) -> Tally {
    let parts = parts.clamp(1, 8).min(members.len().max(1) as usize);
    if parts == 1 {
        let mut total = Tally::new(names, drill);
        total.count(rows, cold, members.iter(), engaged_since, drill, names);
        return total;
    }
    // Cut points: the ids at ranks len * k / parts; part i is the id range
    // from cut i - 1 to cut i.
    let len = members.len();
    let mut cuts: Vec<u32> = (1..parts as u64).filter_map(|k| members.select((len * k / parts as u64) as u32)).collect();
    cuts.dedup();
    let mut bounds = vec![0u32];
    bounds.extend(cuts);
    let slices: Vec<roaring::bitmap::Iter<'_>> = bounds
        .iter()
        .enumerate()
        .map(|(i, start)| match bounds.get(i + 1) {
            Some(end) => members.range(*start..*end),
            None => members.range(*start..),
        })
        .collect();
    std::thread::scope(|scope| {
        let mut slices = slices.into_iter();
        let first = slices.next().expect("at least one part");
        let handles: Vec<_> = slices
            .map(|slice| {
                scope.spawn(move || {
                    let mut part = Tally::new(names, drill);
                    part.count(rows, cold, slice, engaged_since, drill, names);
                    part
                })
            })
            .collect();
        let mut total = Tally::new(names, drill);
        total.count(rows, cold, first, engaged_since, drill, names);
        for handle in handles {
            total.merge(&handle.join().expect("a summary thread panicked"));
        }
        total
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn arb_row(strings: u32, countries: u16) -> impl Strategy<Value = (Row, Cold)> {
        (
            (0u8..6, 0u8..8, 0u8..13, any::<bool>(), any::<bool>(), any::<u8>()),
            (prop_oneof![Just(Secs::MIN), 0i64..1000], 0u32..5, 0u32..10_000, 0u32..3),
            (0..=strings, 0..=strings, 0..=strings, 0..=countries),
        )
            .prop_map(
                move |((channel, source, provider, known, has_email, flags), web, (stage, region, city, country))| {
                    let (last_engaged, sessions, duration, bounces) = web;
                    let id = |v: u32| if v == strings { NONE } else { v };
                    let row = Row {
                        last_engaged,
                        duration,
                        sessions,
                        bounces,
                        stage: id(stage),
                        dims: dims_key(channel, source, provider, known),
                        mail: mail_key(has_email, EmailFlags::from_bits(u16::from(flags))),
                        country: if country == countries { u16::MAX } else { country },
                        known,
                    };
                    (row, Cold { created_at: 0, region: id(region), city: id(city) })
                },
            )
    }

    proptest! {
        /// Cutting the pass into parts and merging gives the same counts
        /// as one pass, whatever the cut.
        #[test]
        fn parts_merge_to_the_single_pass(
            rows in proptest::collection::vec(arb_row(4, 3), 1..300),
            picks in proptest::collection::vec(any::<bool>(), 300),
            parts in 2usize..5,
            drill_country in proptest::option::of(0u16..3),
            region in proptest::option::of(0usize..4),
        ) {
            let names = Names {
                strings: (0..4).map(|i| format!("s{i}")).collect(),
                countries: ["FR", "US", "SE"].iter().map(|c| Country::parse(c).unwrap()).collect(),
                ..Names::default()
            };
            let members: RoaringBitmap = (0..rows.len() as u32).filter(|i| picks[*i as usize]).collect();
            let drill = Drill {
                country: drill_country,
                region_wanted: region.map(|r| (0..4).map(|i| i == r).collect()),
            };
            let (rows, cold): (Vec<Row>, Vec<Cold>) = rows.into_iter().unzip();
            let one = tally(&rows, &cold, &names, &members, 500, &drill, 1);
            let many = tally(&rows, &cold, &names, &members, 500, &drill, parts);
            prop_assert_eq!(&one, &many);
            prop_assert_eq!(one.dims.iter().sum::<u64>(), members.len());
            for id in &members {
                let row = &rows[id as usize];
                let (_, _, _, known) = dims_of(usize::from(row.dims));
                prop_assert_eq!(known, row.known);
            }
        }
    }

    #[test]
    fn combined_keys_round_trip() {
        for channel in 0..6u8 {
            for source in 0..8u8 {
                for provider in 0..13u8 {
                    for known in [false, true] {
                        let key = dims_key(channel, source, provider, known);
                        assert!(usize::from(key) < DIMS);
                        assert_eq!(dims_of(usize::from(key)), (channel.into(), source.into(), provider.into(), known));
                    }
                }
            }
        }
        for has_email in [false, true] {
            for bits in 0..256u16 {
                let key = usize::from(mail_key(has_email, EmailFlags::from_bits(bits)));
                for engaged in [false, true] {
                    let (e, flags, g) = mail_of(key | usize::from(engaged));
                    assert_eq!((e, flags.bits(), g), (has_email, bits, engaged));
                }
            }
        }
    }
}
