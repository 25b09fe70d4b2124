//! Bounce and complaint messages from `shared/data`: flufl.bounce's samples
//! against its shipped expected detections (recipients and temporary-ness),
//! and the whole sisimai set (DSN, ARF, auto-replies; LF, CRLF and bare-CR
//! copies; mbox) without a panic.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{NOW, shared_data, workspace};
use segscope_core::model::Channel;
use segscope_ingest::{InputLimits, MailClass, MessageFormat, apply_ndjson_import, parse_bounce_mailbox, parse_bounce_message};
use serde_json::Value as Json;

fn data_dir(relative: &str) -> PathBuf {
    let root = shared_data();
    assert!(
        root.is_dir(),
        "the shared test data folder {} is missing: these tests read real files from shared/data next to the repository \
         (or from SEGSCOPE_SHARED_DATA)",
        root.display()
    );
    root.join(relative)
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}

#[test]
fn flufl_bounce_samples_agree_with_the_expected_detections() {
    let dir = data_dir("flufl-bounce");
    let expected: Json = serde_json::from_slice(&std::fs::read(dir.join("expected_detections.json")).unwrap()).unwrap();
    let expected = expected.as_array().unwrap();
    let (mut agree, mut addresses_agree, mut temporary_agree) = (0, 0, 0);
    let mut disagreements = Vec::new();
    let mut classes = std::collections::BTreeMap::new();
    for record in expected {
        let file = record["file"].as_str().unwrap();
        let want: BTreeSet<String> =
            record["expected_addresses"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_ascii_lowercase()).collect();
        let want_temporary = record["is_temporary"].as_bool().unwrap();
        let bytes = std::fs::read(dir.join("samples").join(file)).unwrap();
        let message = parse_bounce_message(&bytes).unwrap_or_else(|err| panic!("{file}: {err}"));
        let bounced: Vec<_> =
            message.recipients.iter().filter(|r| matches!(r.class, MailClass::Bounce(_) | MailClass::Delayed)).collect();
        let got: BTreeSet<String> = bounced.iter().map(|r| r.address.to_ascii_lowercase()).collect();
        // flufl's `is_temporary` marks warnings (the MTA is still retrying),
        // which are our `Delayed`. A final failure for a full mailbox is not
        // temporary to flufl but a soft bounce to SPEC §6: that axis is
        // counted below, not compared.
        let got_temporary = !bounced.is_empty() && bounced.iter().all(|r| r.class == MailClass::Delayed);
        for r in &bounced {
            *classes.entry(format!("{:?}", r.class)).or_insert(0usize) += 1;
        }
        // With no expected address, "temporary" has nothing to apply to.
        let temporary_ok = want.is_empty() || got_temporary == want_temporary;
        addresses_agree += usize::from(got == want);
        temporary_agree += usize::from(temporary_ok);
        if got == want && temporary_ok {
            agree += 1;
        } else {
            disagreements.push(format!(
                "{file}: expected {want:?} temporary={want_temporary}, got {got:?} temporary={got_temporary} ({:?})",
                message.format
            ));
        }
    }
    let total = expected.len();
    for line in &disagreements {
        println!("  {line}");
    }
    println!(
        "flufl-bounce: {agree}/{total} messages agree ({:.1}%): recipients {addresses_agree}/{total}, temporary {temporary_agree}/{total}",
        100.0 * agree as f64 / total as f64
    );
    println!("flufl-bounce: classes of the extracted recipients {classes:?}");
    assert!(agree * 100 >= total * 95, "agreement below 95%");
    // The two samples without expectations parse too.
    for file in ["bounce_01.txt", "dumbass_01.txt"] {
        parse_bounce_message(&std::fs::read(dir.join("samples").join(file)).unwrap()).unwrap();
    }
}

#[test]
fn sisimai_messages_parse_without_panic_and_classify_by_kind() {
    let dir = data_dir("sisimai-set-of-emails");
    let mut files: Vec<PathBuf> = files_under(&dir.join("maildir"));
    files.extend(files_under(&dir.join("to-be-debugged-because")));
    let (mut n, mut with_recipient, mut errors) = (0, 0, 0);
    let (mut arf, mut arf_ok, mut arf_with_recipient, mut auto, mut auto_ok) = (0, 0, 0, 0, 0);
    let mut formats = std::collections::BTreeMap::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(path).unwrap();
        n += 1;
        let message = match parse_bounce_message(&bytes) {
            Ok(message) => message,
            Err(err) => {
                errors += 1;
                println!("  {name}: {err}");
                continue;
            }
        };
        *formats.entry(format!("{:?}", message.format)).or_insert(0) += 1;
        if !message.recipients.is_empty() {
            with_recipient += 1;
        }
        // arf-26 is Apple's one-click unsubscribe mail (an auto-replied
        // "unsubscribe" to the List-Unsubscribe address), not an abuse report.
        if name.starts_with("arf-") && name != "arf-26.eml" {
            arf += 1;
            let ok = message.format == MessageFormat::Arf && message.recipients.iter().all(|r| r.class == MailClass::Complaint);
            arf_ok += usize::from(ok);
            arf_with_recipient += usize::from(!message.recipients.is_empty());
        }
        if name.starts_with("rfc3834-") {
            auto += 1;
            let ok = message.format == MessageFormat::AutoReply;
            if !ok {
                println!("  {name}: auto-reply read as {:?} {:?}", message.format, message.recipients);
            }
            auto_ok += usize::from(ok);
        }
    }
    println!(
        "sisimai maildir: {n} messages, {errors} unreadable, {with_recipient} with a recipient ({:.1}%); ARF complaints {arf_ok}/{arf} ({arf_with_recipient} name a recipient; the others were sent to undisclosed recipients); auto-replies {auto_ok}/{auto}; formats {formats:?}",
        100.0 * with_recipient as f64 / n as f64
    );
    assert!(n >= 820);
    assert_eq!(errors, 0);
    assert_eq!(arf_ok, arf);
    assert!(auto_ok * 10 >= auto * 9, "auto-replies recognised: {auto_ok}/{auto}");
    assert!(with_recipient * 100 >= n * 90, "recipients found in {with_recipient}/{n}");
}

#[test]
fn sisimai_line_endings_give_the_same_answer() {
    // maildir/dos and maildir/mac hold CRLF and bare-CR copies of bsd/ files.
    let dir = data_dir("sisimai-set-of-emails/maildir");
    let (mut compared, mut same) = (0, 0);
    for variant in ["dos", "mac"] {
        for path in files_under(&dir.join(variant)) {
            let lf = dir.join("bsd").join(path.file_name().unwrap());
            let Ok(lf_bytes) = std::fs::read(&lf) else { continue };
            let a = parse_bounce_message(&lf_bytes).unwrap();
            let b = parse_bounce_message(&std::fs::read(&path).unwrap()).unwrap();
            compared += 1;
            let addresses = |m: &segscope_ingest::BounceMessage| -> Vec<String> {
                m.recipients.iter().map(|r| r.address.to_ascii_lowercase()).collect()
            };
            if addresses(&a) == addresses(&b) {
                same += 1;
            } else {
                println!(
                    "  {variant}/{}: {:?} vs {:?}",
                    path.file_name().unwrap().to_string_lossy(),
                    addresses(&a),
                    addresses(&b)
                );
            }
        }
    }
    println!("sisimai line endings: {same}/{compared} CRLF/CR copies give the LF file's recipients");
    assert!(same * 100 >= compared * 95);
}

#[test]
fn sisimai_mbox_through_the_driver() {
    let bytes = std::fs::read(data_dir("sisimai-set-of-emails/mailbox/mbox-0")).unwrap();
    let import = parse_bounce_mailbox(&bytes, &InputLimits::default()).unwrap();
    println!("sisimai mbox-0: {} messages, {} problems", import.n_messages, import.problems.len());
    assert_eq!(import.n_messages, 37);
    assert!(import.problems.is_empty(), "{:?}", import.problems);
    let events = import.into_event_import(Some(NOW));
    let mut ws = workspace();
    // Bounces are about contacts segscope already has.
    let addresses: BTreeSet<String> = events
        .items
        .iter()
        .filter_map(|item| match &item.payload {
            segscope_ingest::NdjsonPayload::Event(e) => match &e.subject {
                segscope_core::event::Subject::Email(address) => Some(address.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let upserts = addresses
        .iter()
        .map(|address| segscope_core::engine::ContactUpsert {
            email: Some(address.clone()),
            external_id: None,
            fields: Vec::new(),
            created_at: None,
        })
        .collect();
    common::apply_upserts(&mut ws, upserts).unwrap();
    let n_items = events.items.len();
    let report = apply_ndjson_import(events, Channel::Import, 100, |c| ws.apply(c, NOW), |_| {}).unwrap();
    println!(
        "sisimai mbox-0 applied: {} of {n_items} bounce events accepted, {} rejected",
        report.events_accepted, report.skipped
    );
    assert!(report.events_accepted * 10 >= n_items * 9);
    // The other mailboxes parse too.
    for name in ["mbox-1", "size-0", "size-1", "size-2"] {
        let bytes = std::fs::read(data_dir("sisimai-set-of-emails/mailbox").join(name)).unwrap();
        let import = parse_bounce_mailbox(&bytes, &InputLimits::default()).unwrap();
        println!("sisimai {name}: {} messages, {} problems", import.n_messages, import.problems.len());
    }
}

#[test]
fn garbage_and_truncations_never_panic() {
    let bytes = std::fs::read(data_dir("flufl-bounce/samples/dsn_01.txt")).unwrap();
    for cut in (0..bytes.len()).step_by(97) {
        let _ = parse_bounce_message(&bytes[..cut]);
    }
    let mut seed = 7u64;
    for length in [3usize, 64, 4096, 70_000] {
        let garbage: Vec<u8> = (0..length)
            .map(|_| {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                (seed >> 33) as u8
            })
            .collect();
        let _ = parse_bounce_message(&garbage);
        let _ = parse_bounce_mailbox(&garbage, &InputLimits::default());
    }
}
