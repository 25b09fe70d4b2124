//! A crash can leave the last log record incomplete: opening cuts it off and
//! loses only that unacknowledged record. Damage anywhere before the last
//! record is an error naming the file and the offset, never silent loss.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use segscope_core::backend::{ApiKey, Backend, KeyKind};
use segscope_core::engine::ContactRef;
use segscope_core::model::Channel;
use segscope_store::Store;

const RECORDS: usize = 5;

struct Fixture {
    _dir: tempfile::TempDir,
    data: PathBuf,
    segment: PathBuf,
    /// Where each record of the segment starts, and the end of the last.
    starts: Vec<u64>,
    bytes: Vec<u8>,
}

fn email(i: usize) -> String {
    format!("c{i}@example.com")
}

/// A workspace whose only segment holds `RECORDS` upserts, one per contact.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let ws = id("torn");
    let segment = data.join("workspaces/torn/wal-0000000000000000.log");
    let mut starts = Vec::new();
    {
        let store = open(&data);
        store.create_workspace(&ws, Default::default(), T0).unwrap();
        for i in 0..RECORDS {
            starts.push(fs::metadata(&segment).unwrap().len());
            let fields = [("first_name", text(&format!("Contact number {i}")))];
            store.apply(&ws, upsert(vec![contact(&email(i), &fields, None)], Channel::Api), T0 + i as i64).unwrap();
        }
    }
    starts.push(fs::metadata(&segment).unwrap().len());
    let bytes = fs::read(&segment).unwrap();
    Fixture { _dir: dir, data, segment, starts, bytes }
}

fn present(store: &Store) -> Vec<bool> {
    (0..RECORDS).map(|i| store.contact(&id("torn"), &ContactRef::Email(email(i)), T0 + DAY).is_ok()).collect()
}

fn open_error(data: &Path) -> String {
    Store::open(data, Default::default()).unwrap_err().to_string()
}

#[test]
fn a_log_cut_at_every_offset_of_its_last_record_loses_only_that_record() {
    let f = fixture();
    let last = f.starts[RECORDS - 1] as usize;
    for cut in last..f.bytes.len() {
        fs::write(&f.segment, &f.bytes[..cut]).unwrap();
        let store = open(&f.data);
        assert_eq!(present(&store), vec![true, true, true, true, false], "cut at {cut}");
        assert_eq!(fs::metadata(&f.segment).unwrap().len(), last as u64, "the torn tail is cut off");
        // The log accepts new records right after the cut.
        store.apply(&id("torn"), upsert(vec![contact("new@example.com", &[], None)], Channel::Api), T0 + DAY).unwrap();
        drop(store);
        let store = open(&f.data);
        assert_eq!(present(&store), vec![true, true, true, true, false]);
        assert!(store.contact(&id("torn"), &ContactRef::Email("new@example.com".to_owned()), T0 + DAY).is_ok());
    }
}

#[test]
fn a_read_only_open_stops_at_a_torn_tail_without_touching_it() {
    let f = fixture();
    let cut = f.bytes.len() - 3;
    fs::write(&f.segment, &f.bytes[..cut]).unwrap();
    let store = Store::open_read_only(&f.data).unwrap();
    assert_eq!(present(&store), vec![true, true, true, true, false]);
    assert_eq!(fs::metadata(&f.segment).unwrap().len(), cut as u64, "read-only never truncates");
}

#[test]
fn zeros_or_garbage_after_the_last_record_are_cut_off() {
    let f = fixture();
    for tail in [vec![0u8; 8192], (0..777u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect()] {
        let mut bytes = f.bytes.clone();
        bytes.extend(&tail);
        fs::write(&f.segment, &bytes).unwrap();
        let store = open(&f.data);
        assert_eq!(present(&store), vec![true; RECORDS]);
        assert_eq!(fs::metadata(&f.segment).unwrap().len(), f.bytes.len() as u64);
    }
}

#[test]
fn a_damaged_byte_before_the_last_record_is_an_error_naming_file_and_offset() {
    let f = fixture();
    for record in [0, 2, RECORDS - 2] {
        let (start, end) = (f.starts[record] as usize, f.starts[record + 1] as usize);
        // Every byte of the record: length, checksum and payload.
        for position in start..end {
            let mut bytes = f.bytes.clone();
            bytes[position] ^= 0x5a;
            fs::write(&f.segment, &bytes).unwrap();
            let message = open_error(&f.data);
            assert!(message.contains(&f.segment.display().to_string()), "{message}");
            assert!(message.contains(&format!("byte offset {start}")), "byte {position}: {message}");
            // Read-only refuses too (checked once per record: it retries
            // a few times in case a live writer is mid-checkpoint), and
            // neither open changed the file.
            if position == start {
                assert!(Store::open_read_only(&f.data).is_err());
            }
            assert_eq!(fs::read(&f.segment).unwrap(), bytes);
        }
    }
}

#[test]
fn a_gap_between_segments_is_an_error() {
    let f = fixture();
    // A segment that claims to start far after the records present.
    fs::write(f.segment.with_file_name("wal-0000000000000100.log"), b"").unwrap();
    let message = open_error(&f.data);
    assert!(message.contains("wal-0000000000000000.log holds records 0 to 4"), "{message}");
}

#[test]
fn a_damaged_newest_snapshot_without_the_log_to_replace_it_is_an_error() {
    let f = fixture();
    {
        let store = open(&f.data);
        store.checkpoint().unwrap();
    }
    let snapshot = f.data.join("workspaces/torn/snapshot-0000000000000005.bin");
    let mut bytes = fs::read(&snapshot).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    fs::write(&snapshot, &bytes).unwrap();
    let message = open_error(&f.data);
    assert!(message.contains("snapshot-0000000000000005.bin") && message.contains("checksum"), "{message}");
}

#[test]
fn a_damaged_newest_snapshot_falls_back_to_an_older_one_when_the_log_is_complete() {
    let f = fixture();
    // A snapshot at record 3 whose body is damaged; snapshot-0 and the
    // complete log are still there.
    let snapshot = f.data.join("workspaces/torn/snapshot-0000000000000003.bin");
    let mut bytes = fs::read(f.data.join("workspaces/torn/snapshot-0000000000000000.bin")).unwrap();
    bytes[12..20].copy_from_slice(&3u64.to_le_bytes());
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&snapshot, &bytes).unwrap();
    let store = open(&f.data);
    assert_eq!(present(&store), vec![true; RECORDS]);
    assert!(!snapshot.exists());
    assert!(snapshot.with_file_name("snapshot-0000000000000003.bin.corrupt").exists(), "set aside for inspection");
}

#[test]
fn a_torn_catalog_tail_loses_only_the_last_key() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog/catalog.log");
    let key = |n: u32| ApiKey {
        id: format!("key{n}"),
        workspace: id("keys"),
        kind: KeyKind::Secret,
        hash: format!("hash{n}"),
        label: String::new(),
        created_at: T0,
        revoked: false,
    };
    let before_last = {
        let store = open(dir.path());
        store.create_workspace(&id("keys"), Default::default(), T0).unwrap();
        store.add_key(key(1)).unwrap();
        let len = fs::metadata(&catalog).unwrap().len();
        store.add_key(key(2)).unwrap();
        len
    };
    let bytes = fs::read(&catalog).unwrap();
    for cut in before_last as usize..bytes.len() {
        fs::write(&catalog, &bytes[..cut]).unwrap();
        let store = open(dir.path());
        assert!(store.key_by_hash("hash1").unwrap().is_some());
        assert!(store.key_by_hash("hash2").unwrap().is_none(), "cut at {cut}");
        assert_eq!(fs::metadata(&catalog).unwrap().len(), before_last);
    }
    let mut damaged = bytes.clone();
    damaged[10] ^= 1;
    fs::write(&catalog, &damaged).unwrap();
    let message = Store::open(dir.path(), Default::default()).unwrap_err().to_string();
    assert!(message.contains("catalog.log is damaged at byte offset 0"), "{message}");
}
