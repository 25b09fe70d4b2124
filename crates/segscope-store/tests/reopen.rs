//! Closing and reopening a store gives back exactly the same answers,
//! whether recovery replays the whole log, starts from a snapshot, or
//! crosses many small segments.

mod common;

use common::*;
use segscope_core::backend::Backend;
use segscope_core::engine::{ContactRef, ContactUpsert};
use segscope_core::model::Channel;
use segscope_core::time::Secs;
use segscope_store::{Store, StoreOptions};

/// Fingerprints at two later instants, in a fixed order (the second one
/// crosses days, which advances time-dependent segments in memory).
fn answers(store: &Store) -> (String, String) {
    let ws = id("acme");
    (fingerprint(store, &ws, T0 + 26 * DAY + 3600), fingerprint(store, &ws, T0 + 40 * DAY))
}

/// Builds the whole history, including a write stamped before a day that a
/// read already advanced to: the log must record the effective instant.
fn build(store: &Store, checkpoint_between_parts: bool) {
    let ws = id("acme");
    build_part_one(store, &ws);
    if checkpoint_between_parts {
        store.checkpoint().unwrap();
    }
    build_part_two(store, &ws);
    // A read at day 25 advances memberships in memory; the next write,
    // stamped at day 21, is applied (and must be logged) at day 25's start.
    store.segments(&ws, T0 + 25 * DAY + 60).unwrap();
    let late =
        ContactUpsert { email: Some("stamped@example.com".to_owned()), external_id: None, fields: vec![], created_at: None };
    store.apply(&ws, upsert(vec![late], Channel::Manual), T0 + 21 * DAY).unwrap();
    let stamped = store.contact(&ws, &ContactRef::Email("stamped@example.com".to_owned()), T0 + 25 * DAY).unwrap();
    assert_eq!(stamped.row.created_at, T0 + 25 * DAY - 3600, "midnight in Paris, the workspace's zone");
}

fn reference() -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    build(&store, false);
    answers(&store)
}

fn check_reopen(options: StoreOptions, checkpoint_between_parts: bool, checkpoint_at_end: bool) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let store = Store::open(dir.path(), options.clone()).unwrap();
        build(&store, checkpoint_between_parts);
        if checkpoint_at_end {
            store.checkpoint().unwrap();
        }
        answers(&store)
    };
    assert_eq!(before, reference(), "snapshots change nothing in the live answers");
    let files = workspace_files(dir.path(), &id("acme"));
    let read_only = Store::open_read_only(dir.path()).unwrap();
    assert_eq!(answers(&read_only), before, "read-only open");
    drop(read_only);
    let store = Store::open(dir.path(), options.clone()).unwrap();
    assert_eq!(store.check_invariants(&id("acme")).unwrap(), Vec::<String>::new());
    assert_eq!(answers(&store), before, "writable open");
    // Still writable after recovery, and that write survives too.
    store.apply(&id("acme"), upsert(vec![contact("after@example.com", &[], None)], Channel::Api), T0 + 41 * DAY).unwrap();
    drop(store);
    let store = Store::open(dir.path(), options).unwrap();
    assert!(store.contact(&id("acme"), &ContactRef::Email("after@example.com".to_owned()), T0 + 41 * DAY).is_ok());
    files
}

#[test]
fn reopening_replays_the_whole_log_and_restores_everything() {
    let files = check_reopen(StoreOptions::default(), false, false);
    assert_eq!(files, vec!["snapshot-0000000000000000.bin", "wal-0000000000000000.log"]);
}

#[test]
fn reopening_from_a_snapshot_and_the_log_after_it_restores_everything() {
    let files = check_reopen(StoreOptions::default(), true, false);
    assert_eq!(files.len(), 2, "{files:?}");
    let snapshot = files[0].strip_prefix("snapshot-").unwrap().strip_suffix(".bin").unwrap();
    let segment = files[1].strip_prefix("wal-").unwrap().strip_suffix(".log").unwrap();
    assert_eq!(snapshot, segment, "the segment after a snapshot starts at its position");
    assert_ne!(snapshot, "0000000000000000");
}

#[test]
fn reopening_after_a_snapshot_per_write_restores_everything() {
    // The smallest threshold: a snapshot and a new segment as soon as the
    // segment reaches half the snapshot's size, every few appends.
    let files = check_reopen(StoreOptions { segment_max_bytes: 1 }, false, false);
    assert_eq!(files.len(), 2, "older segments and snapshots are removed: {files:?}");
}

#[test]
fn reopening_a_checkpointed_store_restores_everything() {
    let files = check_reopen(StoreOptions { segment_max_bytes: 2_000 }, true, true);
    assert_eq!(files.len(), 2, "{files:?}");
}

#[test]
fn snapshots_wait_for_a_log_half_the_snapshot_size() {
    let dir = tempfile::tempdir().unwrap();
    let ws = id("big");
    let store = Store::open(dir.path(), StoreOptions { segment_max_bytes: 1 }).unwrap();
    store.create_workspace(&ws, Default::default(), T0).unwrap();
    let many: Vec<ContactUpsert> = (0..3_000).map(|i| contact(&format!("c{i}@example.com"), &[], None)).collect();
    store.apply(&ws, upsert(many, Channel::Import), T0).unwrap();
    let size = |prefix: &str| -> u64 {
        let files = workspace_files(dir.path(), &ws);
        let name = files.iter().find(|f| f.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix} in {files:?}"));
        std::fs::metadata(dir.path().join("workspaces").join(ws.as_str()).join(name)).unwrap().len()
    };
    // The import crossed the 1-byte threshold: a snapshot of 3,000 contacts.
    let snapshot = size("snapshot-");
    assert!(snapshot > 100_000, "{snapshot} bytes");
    let first = workspace_files(dir.path(), &ws);
    // Small writes: no snapshot until the log holds half a snapshot.
    let mut i = 0;
    while workspace_files(dir.path(), &ws) == first {
        let email = format!("c{}@example.com", i % 3_000);
        store.apply(&ws, upsert(vec![contact(&email, &[("first_name", text("Ann"))], None)], Channel::Api), T0).unwrap();
        i += 1;
        assert!(i < 100_000, "no snapshot after {i} writes");
    }
    // The segment that triggered it is gone; the writes before it logged at
    // least half the snapshot (each write is well under 200 bytes).
    assert!(i as u64 * 200 >= snapshot / 2, "a snapshot after only {i} writes for a {snapshot}-byte snapshot");
    assert!(i > 50, "{i} writes");
    drop(store);
    let reopened = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(reopened.stats(&ws).unwrap().contacts, 3_000);
}

#[test]
fn a_checkpoint_with_nothing_new_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let ws = id("quiet");
    store.create_workspace(&ws, Default::default(), T0).unwrap();
    store.checkpoint().unwrap();
    assert_eq!(workspace_files(dir.path(), &ws), vec!["snapshot-0000000000000000.bin", "wal-0000000000000000.log"]);
    store.apply(&ws, upsert(vec![contact("a@example.com", &[], None)], Channel::Api), T0).unwrap();
    store.checkpoint().unwrap();
    store.checkpoint().unwrap();
    assert_eq!(workspace_files(dir.path(), &ws), vec!["snapshot-0000000000000001.bin", "wal-0000000000000001.log"]);
}

#[test]
fn writes_to_different_workspaces_run_in_parallel_and_all_survive() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["one", "two", "three", "four"];
    {
        let store = Store::open(dir.path(), StoreOptions { segment_max_bytes: 4_096 }).unwrap();
        for name in names {
            store.create_workspace(&id(name), Default::default(), T0).unwrap();
        }
        std::thread::scope(|scope| {
            for name in names {
                let store = &store;
                scope.spawn(move || {
                    for i in 0..40 {
                        let now: Secs = T0 + i * 3600;
                        let email = format!("{name}{i}@example.com");
                        store.apply(&id(name), upsert(vec![contact(&email, &[], None)], Channel::Api), now).unwrap();
                        store.segments(&id(name), now).unwrap();
                    }
                });
            }
        });
    }
    let store = open(dir.path());
    for name in names {
        assert_eq!(store.stats(&id(name)).unwrap().contacts, 40, "{name}");
    }
}
