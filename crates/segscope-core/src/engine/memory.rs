//! Where a workspace's memory goes: an estimate of the heap bytes each part
//! holds, from the capacities of its vectors, strings, maps and bitmaps.
//! Allocator overhead (size classes, headers) is not included, so the sum is
//! a little below the resident size; the proportions are what the benchmark
//! and an operator look at.

use std::collections::HashMap;
use std::mem::size_of;

use roaring::RoaringBitmap;

use super::Workspace;
use crate::contact::Contact;
use crate::model::{Geo, Value};

/// Estimated heap bytes by part, largest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryReport {
    pub parts: Vec<(&'static str, u64)>,
}

impl MemoryReport {
    pub fn total(&self) -> u64 {
        self.parts.iter().map(|(_, bytes)| bytes).sum()
    }
}

fn vec_bytes<T>(items: &Vec<T>) -> u64 {
    (items.capacity() * size_of::<T>()) as u64
}

fn string_bytes(value: &str) -> u64 {
    value.len() as u64
}

fn option_string_bytes(value: &Option<String>) -> u64 {
    value.as_ref().map_or(0, |s| s.capacity() as u64)
}

/// A hashbrown table: one control byte and one slot per bucket, buckets a
/// power of two at least 8/7 of the capacity.
fn hash_map_bytes<K, V>(map: &HashMap<K, V>) -> u64 {
    let buckets = if map.capacity() == 0 { 0 } else { (map.capacity() * 8 / 7).next_power_of_two() };
    (buckets * (size_of::<(K, V)>() + 1)) as u64
}

fn bitmap_bytes(bitmap: &RoaringBitmap) -> u64 {
    bitmap.serialized_size() as u64
}

fn geo_bytes(geo: &Geo) -> u64 {
    option_string_bytes(&geo.region) + option_string_bytes(&geo.city)
}

fn value_bytes(value: &Value) -> u64 {
    match value {
        Value::Text(text) => text.capacity() as u64,
        Value::List(items) => vec_bytes(items) + items.iter().map(|s| s.capacity() as u64).sum::<u64>(),
        Value::Number(_) | Value::Bool(_) | Value::Date(_) | Value::DateTime(_) => 0,
    }
}

#[derive(Default)]
struct ContactParts {
    structs: u64,
    web: u64,
    sessions: u64,
    mail: u64,
    track: u64,
    strings: u64,
    attributes: u64,
}

impl ContactParts {
    fn add(&mut self, contact: &Contact) {
        self.web += contact.web.heap_bytes() as u64;
        self.sessions += vec_bytes(&contact.sessions);
        self.mail += vec_bytes(&contact.mail);
        self.track += vec_bytes(&contact.track);
        self.strings += contact.email.as_ref().map_or(0, |e| string_bytes(e.as_str()))
            + option_string_bytes(&contact.external_id)
            + option_string_bytes(&contact.first_name)
            + option_string_bytes(&contact.last_name)
            + option_string_bytes(&contact.phone)
            + option_string_bytes(&contact.stage)
            + vec_bytes(&contact.stage_history)
            + contact.stage_history.iter().map(|(_, s)| option_string_bytes(s)).sum::<u64>()
            + geo_bytes(&contact.explicit_geo)
            + contact.observed_geo.as_ref().map_or(0, |(_, geo)| geo_bytes(geo))
            + vec_bytes(&contact.tags)
            + contact.tags.iter().map(|t| t.capacity() as u64).sum::<u64>()
            + vec_bytes(&contact.visitor_ids)
            + contact.visitor_ids.iter().map(|v| v.capacity() as u64).sum::<u64>();
        let entries = contact.attributes.entries();
        self.attributes +=
            std::mem::size_of_val(entries) as u64 + entries.iter().map(|(k, v)| k.len() as u64 + value_bytes(v)).sum::<u64>();
    }
}

impl Workspace {
    /// Estimated heap bytes held by each part of the workspace.
    pub fn memory_report(&self) -> MemoryReport {
        let mut contacts = ContactParts { structs: vec_bytes(&self.contacts), ..ContactParts::default() };
        for contact in &self.contacts {
            contacts.add(contact);
        }
        let identity = |map: &HashMap<String, crate::ids::ContactId>| -> u64 {
            hash_map_bytes(map) + map.keys().map(|k| k.capacity() as u64).sum::<u64>()
        };
        let mut members = 0;
        let mut logs = 0;
        for segment in self.segments.values() {
            members += bitmap_bytes(&segment.members);
            logs += bitmap_bytes(&segment.log.backfill)
                + vec_bytes(&segment.log.entries)
                + segment.log.past_epochs.iter().map(|(_, _, b)| bitmap_bytes(b)).sum::<u64>();
        }
        let rows = {
            let cache = self.summary_rows.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            vec_bytes(&cache.rows) + vec_bytes(&cache.cold)
        };
        let mut parts = vec![
            ("contact structs", contacts.structs),
            ("web hits", contacts.web),
            ("sessions", contacts.sessions),
            ("email history", contacts.mail),
            ("custom events", contacts.track),
            ("contact strings (email, names, geography, visitor ids, tags)", contacts.strings),
            ("custom attributes", contacts.attributes),
            (
                "identity maps (email, external id, visitor id)",
                identity(&self.by_email) + identity(&self.by_external_id) + identity(&self.by_visitor),
            ),
            ("segment members", members + bitmap_bytes(&self.known) + bitmap_bytes(&self.alive)),
            ("membership logs", logs),
            ("summary rows", rows),
            ("URL and event-name tables", self.urls.heap_bytes() + self.event_names.heap_bytes()),
        ];
        parts.sort_by_key(|part| std::cmp::Reverse(part.1));
        MemoryReport { parts }
    }
}
