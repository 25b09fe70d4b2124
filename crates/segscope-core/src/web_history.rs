//! A contact's sorted web events, packed. A contact has about thirty web
//! events (page views and heartbeats), the largest part of its memory when
//! each is a 16-byte [`WebHit`]; packed they take about four bytes each, so
//! ten million contacts fit on one machine.
//!
//! Encoding, one record per hit in sorted order:
//! - the time: for the first hit its zigzag varint, then the varint of the
//!   difference with the previous hit (never negative: the hits are sorted);
//! - one tag byte: the kind in bits 0–1, the touch in bits 2–4 (0 for none,
//!   else the source's index + 1);
//! - the URL id as a varint.
//!
//! Appending a hit at or after the last one, the common case, writes a few
//! bytes; an earlier hit decodes and re-encodes the contact's history, which
//! is short. Serialized as the raw bytes plus the count, so a snapshot loads
//! them with one copy.

use serde::{Deserialize, Serialize};

use crate::event::{WebHit, WebKind};
use crate::model::Source;
use crate::time::Secs;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebHistory {
    len: u32,
    /// The last hit's time, where the next appended hit's delta starts.
    last_at: Secs,
    #[serde(with = "serde_bytes_compat")]
    bytes: Vec<u8>,
}

/// `Vec<u8>` as a serde byte string (one length and a copy in postcard),
/// not as a sequence of numbers.
mod serde_bytes_compat {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
                Ok(bytes.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(bytes)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(byte) = seq.next_element()? {
                    bytes.push(byte);
                }
                Ok(bytes)
            }
        }
        deserializer.deserialize_byte_buf(Visitor)
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn take_varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut value = 0u64;
    let mut shift = 0;
    loop {
        let byte = bytes[*at];
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return value;
        }
        shift += 7;
    }
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

fn kind_code(kind: WebKind) -> u8 {
    match kind {
        WebKind::PageView => 0,
        WebKind::Heartbeat => 1,
        WebKind::PageLeave => 2,
    }
}

fn kind_of(code: u8) -> WebKind {
    match code & 3 {
        0 => WebKind::PageView,
        1 => WebKind::Heartbeat,
        _ => WebKind::PageLeave,
    }
}

impl WebHistory {
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity()
    }

    pub fn iter(&self) -> Hits<'_> {
        Hits { bytes: &self.bytes, at: 0, previous: None }
    }

    /// The latest hit.
    pub fn last(&self) -> Option<WebHit> {
        self.iter().last()
    }

    pub fn to_vec(&self) -> Vec<WebHit> {
        let mut hits = Vec::with_capacity(self.len());
        hits.extend(self.iter());
        hits
    }

    /// Appends a hit that sorts at or after the last one.
    fn push_unchecked(&mut self, hit: WebHit) {
        let time = if self.len == 0 { zigzag(hit.at) } else { (hit.at - self.last_at) as u64 };
        put_varint(&mut self.bytes, time);
        let touch = hit.touch.map_or(0, |s| s.index() as u8 + 1);
        self.bytes.push(kind_code(hit.kind) | (touch << 2));
        put_varint(&mut self.bytes, u64::from(hit.url));
        self.len += 1;
        self.last_at = hit.at;
    }

    fn from_sorted(hits: impl IntoIterator<Item = WebHit>, size_hint: usize) -> WebHistory {
        let mut history = WebHistory { bytes: Vec::with_capacity(size_hint), ..WebHistory::default() };
        for hit in hits {
            history.push_unchecked(hit);
        }
        history.bytes.shrink_to_fit();
        history
    }

    /// Inserts a hit, keeping the history sorted; equal hits are kept (two
    /// identical page views are two page views).
    pub fn insert(&mut self, hit: WebHit) {
        // Equal times need the whole order (kind, URL, touch) to place the hit.
        let appends = self.len == 0 || hit.at > self.last_at || (hit.at == self.last_at && self.last() <= Some(hit));
        if appends {
            // Exact growth: histories are many and short, slack would add up.
            // (at most 16 bytes of slack, no reallocation on most appends).
            if self.bytes.capacity() - self.bytes.len() < 16 {
                self.bytes.reserve_exact(16);
            }
            self.push_unchecked(hit);
            return;
        }
        let mut hits = self.to_vec();
        let at = hits.partition_point(|existing| existing <= &hit);
        hits.insert(at, hit);
        *self = WebHistory::from_sorted(hits, self.bytes.len() + 16);
    }

    /// Merges another history into this one (a merge of two contacts).
    pub fn merge(&mut self, other: WebHistory) {
        if other.is_empty() {
            return;
        }
        let mut hits = self.to_vec();
        crate::contact::merge_sorted(&mut hits, other.to_vec());
        *self = WebHistory::from_sorted(hits, self.bytes.len() + other.bytes.len() + 8);
    }
}

impl FromIterator<WebHit> for WebHistory {
    fn from_iter<I: IntoIterator<Item = WebHit>>(hits: I) -> WebHistory {
        let mut hits: Vec<WebHit> = hits.into_iter().collect();
        hits.sort();
        let hint = hits.len() * 4;
        WebHistory::from_sorted(hits, hint)
    }
}

/// Decodes a history in order.
pub struct Hits<'a> {
    bytes: &'a [u8],
    at: usize,
    previous: Option<Secs>,
}

impl Iterator for Hits<'_> {
    type Item = WebHit;

    fn next(&mut self) -> Option<WebHit> {
        if self.at >= self.bytes.len() {
            return None;
        }
        let raw = take_varint(self.bytes, &mut self.at);
        let at = match self.previous {
            None => unzigzag(raw),
            Some(previous) => previous + raw as i64,
        };
        let tag = self.bytes[self.at];
        self.at += 1;
        let url = take_varint(self.bytes, &mut self.at) as u32;
        self.previous = Some(at);
        let touch = match tag >> 2 {
            0 => None,
            code => Source::ALL.get(usize::from(code) - 1).copied(),
        };
        Some(WebHit { at, kind: kind_of(tag), url, touch })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn arb_hit() -> impl Strategy<Value = WebHit> {
        (
            prop_oneof![Just(i64::MIN / 4), -5_000_000_000i64..5_000_000_000, Just(i64::MAX / 4)],
            0usize..3,
            prop_oneof![Just(0u32), 0u32..300, Just(u32::MAX)],
            proptest::option::of(0usize..7),
        )
            .prop_map(|(at, kind, url, touch)| WebHit {
                at,
                kind: [WebKind::PageView, WebKind::Heartbeat, WebKind::PageLeave][kind],
                url,
                touch: touch.map(|i| Source::ALL[i]),
            })
    }

    proptest! {
        /// Any order of inserts gives the sorted vector of the same hits,
        /// duplicates kept, and it survives a postcard round trip.
        #[test]
        fn matches_a_sorted_vector(hits in proptest::collection::vec(arb_hit(), 0..60), other in proptest::collection::vec(arb_hit(), 0..20)) {
            let mut history = WebHistory::default();
            let mut reference: Vec<WebHit> = Vec::new();
            for hit in &hits {
                history.insert(*hit);
                crate::contact::insert_sorted(&mut reference, *hit);
                prop_assert_eq!(history.to_vec(), reference.clone());
                prop_assert_eq!(history.last(), reference.last().copied());
                prop_assert_eq!(history.len(), reference.len());
            }
            let merged_in: WebHistory = other.iter().copied().collect();
            history.merge(merged_in);
            crate::contact::merge_sorted(&mut reference, other.clone());
            prop_assert_eq!(history.to_vec(), reference.clone());
            let bytes = postcard::to_allocvec(&history).unwrap();
            let back: WebHistory = postcard::from_bytes(&bytes).unwrap();
            prop_assert_eq!(back.to_vec(), reference);
        }
    }

    #[test]
    fn a_typical_history_packs_to_a_few_bytes_a_hit() {
        let start = 1_760_000_000;
        let mut history = WebHistory::default();
        for session in 0..10 {
            let begin = start + session * 86_400;
            history.insert(WebHit { at: begin, kind: WebKind::PageView, url: 40 + session as u32, touch: Some(Source::Email) });
            for beat in 1..3 {
                history.insert(WebHit { at: begin + beat * 15, kind: WebKind::Heartbeat, url: 0, touch: None });
            }
        }
        assert_eq!(history.len(), 30);
        // Under 4 bytes a hit, plus at most 16 bytes of slack for appends.
        assert!(history.heap_bytes() <= 30 * 4 + 16, "{} bytes for 30 hits", history.heap_bytes());
    }
}
