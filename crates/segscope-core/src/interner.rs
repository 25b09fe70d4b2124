//! A table of distinct strings (URLs, event names) so that per-contact
//! histories hold 4-byte ids instead of strings. Id 0 is reserved for "none".

use std::collections::HashMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Interner {
    strings: Vec<Box<str>>,
    ids: HashMap<Box<str>, u32>,
}

impl Interner {
    pub fn intern(&mut self, value: &str) -> u32 {
        if let Some(id) = self.ids.get(value) {
            return *id;
        }
        let id = u32::try_from(self.strings.len() + 1).expect("fewer than 4 billion distinct strings");
        self.strings.push(value.into());
        self.ids.insert(value.into(), id);
        id
    }

    pub fn get(&self, value: &str) -> Option<u32> {
        self.ids.get(value).copied()
    }

    /// The string of an id; "" for 0 or an unknown id.
    pub fn resolve(&self, id: u32) -> &str {
        id.checked_sub(1).and_then(|i| self.strings.get(i as usize)).map_or("", |s| s)
    }

    pub fn len(&self) -> usize {
        self.strings.len()
    }

    /// Estimated heap bytes: each string twice (table and index) plus the map.
    pub fn heap_bytes(&self) -> u64 {
        let text: usize = self.strings.iter().map(|s| s.len()).sum();
        let slots = self.strings.capacity() * std::mem::size_of::<Box<str>>();
        let map = (self.ids.capacity() * 8 / 7).next_power_of_two() * (std::mem::size_of::<(Box<str>, u32)>() + 1);
        (2 * text + slots + map) as u64
    }

    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
    }
}

// Only the strings are persisted; the reverse map is rebuilt on load.
impl Serialize for Interner {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.strings.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Interner {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Interner, D::Error> {
        let strings: Vec<Box<str>> = Vec::deserialize(deserializer)?;
        let ids = strings.iter().enumerate().map(|(i, s)| (s.clone(), i as u32 + 1)).collect();
        Ok(Interner { strings, ids })
    }
}
