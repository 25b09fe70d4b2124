//! Opening a data directory: one writer at a time with a clear refusal for a
//! second, read-only opens beside it, format versions, directories that are
//! not ours, and the catalog (workspaces and keys) across restarts.

mod common;

use std::fs;

use common::*;
use segscope_core::ErrorKind;
use segscope_core::backend::{ApiKey, Backend, KeyKind};
use segscope_core::engine::ContactRef;
use segscope_core::model::{Channel, Settings};
use segscope_store::{FORMAT_VERSION, Store, StoreError};

#[test]
fn a_second_writer_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let _writer = open(dir.path());
    let err = Store::open(dir.path(), Default::default()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "data directory {} is in use by another segscope process (a running `segscope serve`?); stop it, or use a read-only command",
            dir.path().display()
        )
    );
}

#[test]
fn the_lock_is_released_when_the_store_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    drop(open(dir.path()));
}

#[test]
fn a_read_only_open_beside_a_writer_sees_acknowledged_writes_and_refuses_changes() {
    let dir = tempfile::tempdir().unwrap();
    let ws = id("live");
    let writer = common::open(dir.path());
    writer.create_workspace(&ws, Settings::default(), T0).unwrap();
    writer.apply(&ws, upsert(vec![contact("seen@example.com", &[], None)], Channel::Api), T0).unwrap();

    let reader = Store::open_read_only(dir.path()).unwrap();
    assert!(reader.is_read_only());
    assert!(reader.contact(&ws, &ContactRef::Email("seen@example.com".to_owned()), T0).is_ok());

    let err = reader.apply(&ws, upsert(vec![contact("no@example.com", &[], None)], Channel::Api), T0).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.message.contains("open read-only"), "{}", err.message);
    assert_eq!(reader.create_workspace(&id("other"), Settings::default(), T0).unwrap_err().kind, ErrorKind::Invalid);
    assert_eq!(reader.revoke_key(&ws, "k").unwrap_err().kind, ErrorKind::Invalid);
    reader.checkpoint().unwrap();

    // The writer goes on; a new reader sees the later write.
    writer.apply(&ws, upsert(vec![contact("later@example.com", &[], None)], Channel::Api), T0).unwrap();
    writer.checkpoint().unwrap();
    writer.apply(&ws, upsert(vec![contact("latest@example.com", &[], None)], Channel::Api), T0).unwrap();
    assert!(reader.contact(&ws, &ContactRef::Email("later@example.com".to_owned()), T0).is_err(), "a snapshot in time");
    let reader = Store::open_read_only(dir.path()).unwrap();
    for email in ["seen@example.com", "later@example.com", "latest@example.com"] {
        assert!(reader.contact(&ws, &ContactRef::Email(email.to_owned()), T0).is_ok(), "{email}");
    }
    assert!(Store::open(dir.path(), Default::default()).is_err(), "still locked by the writer");
}

#[test]
fn a_different_format_version_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    assert_eq!(fs::read_to_string(dir.path().join("FORMAT")).unwrap(), format!("{FORMAT_VERSION}\n"));
    fs::write(dir.path().join("FORMAT"), "7\n").unwrap();
    for err in [Store::open(dir.path(), Default::default()).unwrap_err(), Store::open_read_only(dir.path()).unwrap_err()] {
        assert!(matches!(err, StoreError::FormatMismatch { found: 7, .. }));
        let message = err.to_string();
        assert!(message.contains("version 7") && message.contains(&format!("reads version {FORMAT_VERSION}")), "{message}");
    }
}

#[test]
fn a_directory_that_is_not_ours_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let message = Store::open(dir.path(), Default::default()).unwrap_err().to_string();
    assert!(message.contains("is not a segscope data directory"), "{message}");
    assert!(!dir.path().join("LOCK").exists() && !dir.path().join("FORMAT").exists());

    let missing = dir.path().join("missing");
    let message = Store::open_read_only(&missing).unwrap_err().to_string();
    assert!(message.contains("does not exist"), "{message}");
    let empty = tempfile::tempdir().unwrap();
    let message = Store::open_read_only(empty.path()).unwrap_err().to_string();
    assert!(message.contains("no FORMAT file"), "{message}");
}

#[test]
fn workspaces_and_keys_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (acme, beta) = (id("acme"), id("beta"));
    let key = |key_id: &str, workspace: &str, hash: &str| ApiKey {
        id: key_id.to_owned(),
        workspace: id(workspace),
        kind: KeyKind::Secret,
        hash: hash.to_owned(),
        label: "ci".to_owned(),
        created_at: T0,
        revoked: false,
    };
    {
        let store = open(dir.path());
        store.create_workspace(&acme, Settings::default(), T0).unwrap();
        let paris = Settings { time_zone: "Europe/Paris".to_owned(), ..Settings::default() };
        store.create_workspace(&beta, paris, T0).unwrap();
        let err = store.create_workspace(&acme, Settings::default(), T0).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Conflict);
        let bad = Settings { time_zone: "Mars/Olympus".to_owned(), ..Settings::default() };
        assert_eq!(store.create_workspace(&id("bad"), bad, T0).unwrap_err().kind, ErrorKind::Invalid);
        assert!(!dir.path().join("workspaces/bad").exists());

        store.add_key(key("k1", "acme", "h1")).unwrap();
        store.add_key(key("k2", "acme", "h2")).unwrap();
        store.add_key(key("k1", "beta", "h3")).unwrap();
        assert_eq!(store.add_key(key("k1", "acme", "h9")).unwrap_err().kind, ErrorKind::Conflict);
        assert_eq!(store.add_key(key("k9", "beta", "h1")).unwrap_err().kind, ErrorKind::Conflict);
        store.revoke_key(&acme, "k2").unwrap();
        store.revoke_key(&acme, "k2").unwrap();
        assert_eq!(store.revoke_key(&acme, "k3").unwrap_err().kind, ErrorKind::NotFound);
    }
    let store = open(dir.path());
    assert_eq!(store.workspaces().unwrap(), vec![acme.clone(), beta.clone()]);
    assert_eq!(store.settings(&beta).unwrap().time_zone, "Europe/Paris");
    let keys = store.keys(&acme).unwrap();
    assert_eq!(keys.iter().map(|k| (k.id.as_str(), k.revoked)).collect::<Vec<_>>(), vec![("k1", false), ("k2", true)]);
    let revoked = store.key_by_hash("h2").unwrap().unwrap();
    assert!(revoked.revoked, "revoked keys are kept and flagged");
    assert_eq!(store.key_by_hash("h3").unwrap().unwrap().workspace, beta);
    assert_eq!(store.key_by_hash("nope").unwrap(), None);

    let ghost = id("ghost");
    for err in [
        store.stats(&ghost).unwrap_err(),
        store.keys(&ghost).unwrap_err(),
        store.add_key(key("k", "ghost", "hx")).unwrap_err(),
        store.apply(&ghost, upsert(vec![], Channel::Api), T0).unwrap_err(),
    ] {
        assert_eq!(err.kind, ErrorKind::NotFound);
        assert_eq!(err.message, "workspace `ghost` not found");
    }
}

#[test]
fn a_refused_command_logs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ws = id("strict");
    let store = open(dir.path());
    store.create_workspace(&ws, Settings::default(), T0).unwrap();
    let segment = dir.path().join("workspaces/strict/wal-0000000000000000.log");
    let err = store
        .apply(&ws, segscope_core::engine::Command::DeleteContact(ContactRef::Email("no@example.com".to_owned())), T0)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert_eq!(fs::metadata(&segment).unwrap().len(), 0);
}

#[test]
fn leftovers_of_an_interrupted_creation_are_replaced() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let leftover = dir.path().join("workspaces/half");
    fs::create_dir_all(&leftover).unwrap();
    fs::write(leftover.join("wal-0000000000000000.log"), b"junk").unwrap();
    let store = open(dir.path());
    assert!(store.workspaces().unwrap().is_empty(), "not in the catalog, not a workspace");
    store.create_workspace(&id("half"), Settings::default(), T0).unwrap();
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.stats(&id("half")).unwrap().contacts, 0);
}

#[test]
fn read_only_opens_succeed_while_a_writer_checkpoints() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let ws = id("busy");
    // Tiny segments: a checkpoint (new segment, snapshot, removals) every few writes.
    let writer = Store::open(dir.path(), segscope_store::StoreOptions { segment_max_bytes: 300 }).unwrap();
    writer.create_workspace(&ws, Settings::default(), T0).unwrap();
    let acknowledged = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for i in 0..400u64 {
                let email = format!("w{i}@example.com");
                writer.apply(&ws, upsert(vec![contact(&email, &[], None)], Channel::Api), T0).unwrap();
                acknowledged.store(i + 1, Ordering::SeqCst);
            }
            done.store(true, Ordering::SeqCst);
        });
        let mut opens = 0;
        while !done.load(Ordering::SeqCst) || opens == 0 {
            let before = acknowledged.load(Ordering::SeqCst);
            let reader = Store::open_read_only(dir.path()).unwrap();
            assert!(reader.stats(&ws).unwrap().contacts >= before, "a read-only open sees every acknowledged write");
            opens += 1;
        }
    });
}

#[test]
fn a_missing_workspace_directory_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store.create_workspace(&id("gone"), Settings::default(), T0).unwrap();
    }
    fs::remove_dir_all(dir.path().join("workspaces/gone")).unwrap();
    let message = Store::open(dir.path(), Default::default()).unwrap_err().to_string();
    assert!(message.contains("workspace `gone`") && message.contains("is missing"), "{message}");
}
