//! The durability promise, tested for real: a child process writes in a loop
//! and prints each sequence number once `apply` has returned; the parent
//! kills it with SIGKILL at random points and checks that every printed
//! (acknowledged) write is there after reopening, and that the store opens
//! cleanly and takes new writes. Small segments make kills land during
//! snapshots and segment switches too.
//!
//! The child is this same test binary, re-run with only
//! [`crash_writer_child`] selected and an environment variable telling it
//! where to write.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command as Process, Stdio};

use common::*;
use segscope_core::backend::Backend;
use segscope_core::engine::{Command, ContactRef, SegmentSpec};
use segscope_core::event::EmailKind;
use segscope_core::ids::SegmentId;
use segscope_core::model::{Channel, Settings};
use segscope_core::time::Secs;
use segscope_store::{Store, StoreOptions};

const DIR_VAR: &str = "SEGSCOPE_STORE_CRASH_DIR";
const START_VAR: &str = "SEGSCOPE_STORE_CRASH_START";
const ROUNDS: u64 = 12;
/// Sequence numbers of round `r` start at `r * ROUND_SPAN`.
const ROUND_SPAN: u64 = 10_000;

fn options() -> StoreOptions {
    StoreOptions { segment_max_bytes: 6 * 1024 }
}

fn email(seq: u64) -> String {
    format!("c{seq}@example.com")
}

fn instant(seq: u64) -> Secs {
    T0 + seq as Secs * 240
}

/// The write with sequence number `seq`: each creates contact `c<seq>`, by
/// an upsert, by identifying a visitor, or by an upsert into a list.
fn write(seq: u64, list: SegmentId) -> Command {
    let now = instant(seq);
    match seq % 3 {
        0 => upsert(
            vec![contact(&email(seq), &[("first_name", text(&format!("Writer {seq}"))), ("country", text("FR"))], None)],
            Channel::Api,
        ),
        1 => {
            let visitor = format!("v{seq}");
            events(vec![
                page_view(&visitor, now - 100, "https://shop.example/pricing", Some("https://www.google.com/"), None),
                heartbeat(&visitor, now - 50),
                identify(&visitor, now - 10, &email(seq)),
                mail(&email(seq - 1), now - 5, EmailKind::Opened),
            ])
        }
        _ => Command::UpsertContacts {
            contacts: vec![contact(&email(seq), &[("stage", text("Raw lead"))], None)],
            channel: Channel::Import,
            list: Some(list),
        },
    }
}

/// Runs only as the child of [`killed_writers_never_lose_an_acknowledged_write`];
/// as part of a normal test run it does nothing.
#[test]
fn crash_writer_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else { return };
    let start: u64 = std::env::var(START_VAR).unwrap().parse().unwrap();
    let store = Store::open(&dir, options()).unwrap();
    let ws = id("crash");
    let list = store.schema(&ws).unwrap().segments.iter().find(|(_, name)| *name == "Writers").map(|(id, _)| *id).unwrap();
    // Bounded, in case the parent is gone without killing us (printing to
    // a closed pipe also ends the process).
    for seq in start..start + ROUND_SPAN {
        store.apply(&ws, write(seq, list), instant(seq)).unwrap();
        println!("ack {seq}");
    }
}

/// A small deterministic generator (xorshift64*), enough for kill points.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

fn check_acknowledged(store: &Store, acknowledged: &[u64]) {
    let ws = id("crash");
    for seq in acknowledged {
        let found = store.contact(&ws, &ContactRef::Email(email(*seq)), instant(*seq));
        assert!(found.is_ok(), "acknowledged write {seq} is lost: {found:?}");
    }
}

fn setup(dir: &Path) {
    let store = Store::open(dir, options()).unwrap();
    let ws = id("crash");
    store.create_workspace(&ws, Settings::default(), T0 - 7 * 86_400).unwrap();
    let list = SegmentSpec {
        name: "Writers".to_owned(),
        description: String::new(),
        definition: segscope_core::engine::Definition::Static,
    };
    store.apply(&ws, Command::CreateSegment(list), T0).unwrap();
    let recent = store.schema(&ws).unwrap().parse_text("created_at in last 1 days AND country = \"FR\"").unwrap();
    let recent = SegmentSpec {
        name: "Recent writers".to_owned(),
        description: String::new(),
        definition: segscope_core::engine::Definition::Dynamic(recent),
    };
    store.apply(&ws, Command::CreateSegment(recent), T0).unwrap();
}

#[test]
fn killed_writers_never_lose_an_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let mut acknowledged: Vec<u64> = Vec::new();
    for round in 1..=ROUNDS {
        let mut child = Process::new(std::env::current_exe().unwrap())
            .args(["crash_writer_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(DIR_VAR, dir.path())
            .env(START_VAR, (round * ROUND_SPAN).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let kill_after = 1 + rng.below(150);
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut seen = 0;
        let mut line = String::new();
        while seen < kill_after {
            line.clear();
            if stdout.read_line(&mut line).unwrap() == 0 {
                let mut stderr = String::new();
                child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
                panic!("the writer exited early in round {round}: {stderr}");
            }
            if let Some(seq) = line.trim().strip_prefix("ack ") {
                acknowledged.push(seq.parse().unwrap());
                seen += 1;
            }
        }
        // Let it run a little further so the kill lands mid-write, not
        // right after an acknowledgement.
        for _ in 0..rng.below(8) {
            line.clear();
            stdout.read_line(&mut line).unwrap();
            if let Some(seq) = line.trim().strip_prefix("ack ") {
                acknowledged.push(seq.parse().unwrap());
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // Acknowledgements printed before the kill are still in the pipe.
        for line in stdout.lines() {
            if let Some(seq) = line.unwrap().trim().strip_prefix("ack ") {
                acknowledged.push(seq.parse().unwrap());
            }
        }

        let reader = Store::open_read_only(dir.path()).unwrap();
        check_acknowledged(&reader, &acknowledged);
        drop(reader);
        let store = Store::open(dir.path(), options()).unwrap();
        check_acknowledged(&store, &acknowledged);
        assert_eq!(store.check_invariants(&id("crash")).unwrap(), Vec::<String>::new());
        let extra = round * ROUND_SPAN + ROUND_SPAN - 1;
        let list = store.schema(&id("crash")).unwrap().segments.into_iter().find(|(_, n)| n == "Writers").unwrap().0;
        store.apply(&id("crash"), write(extra, list), instant(extra)).unwrap();
        acknowledged.push(extra);
    }
    let store = Store::open(dir.path(), options()).unwrap();
    check_acknowledged(&store, &acknowledged);
    assert!(acknowledged.len() as u64 > ROUNDS * 2);
}
