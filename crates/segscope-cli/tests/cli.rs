//! Black-box tests of the `segscope` binary: what a user types, what they
//! read, and the exit codes scripts rely on.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn segscope(data: &Path, args: &[&str]) -> Run {
    let Output { status, stdout, stderr } = Command::new(env!("CARGO_BIN_EXE_segscope"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("SEGSCOPE_WORKSPACE")
        .env_remove("SEGSCOPE_DATA")
        .output()
        .expect("the binary runs");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

#[track_caller]
fn ok(data: &Path, args: &[&str]) -> String {
    let run = segscope(data, args);
    assert_eq!(run.code, 0, "segscope {args:?} failed:\n{}\n{}", run.stdout, run.stderr);
    run.stdout
}

#[track_caller]
fn fails(data: &Path, args: &[&str], code: i32, needle: &str) {
    let run = segscope(data, args);
    assert_eq!(run.code, code, "segscope {args:?}: expected exit {code}, got {}:\n{}\n{}", run.code, run.stdout, run.stderr);
    assert!(run.stderr.contains(needle), "segscope {args:?}: stderr lacks {needle:?}:\n{}", run.stderr);
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const CONTACTS_CSV: &str = "\
Email Address;First Name;Country;Stage;Signup date
ada@example.com;Ada;FR;Lead;03/01/2026
bob@example.org;Bob;DE;Customer;04/01/2026
not-an-email;Broken;FR;Lead;05/01/2026
carol@gmail.com;Carol;FR;Customer;06/01/2026
";

#[test]
fn a_user_session_from_workspace_to_summary() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    // Nothing yet: a clear message, exit 65.
    fails(&data, &["segment", "list"], 65, "is not a segscope data directory yet");

    let created = ok(&data, &["workspace", "create", "acme", "--tz", "Europe/Paris", "--stages", "Lead,Customer"]);
    assert!(created.contains("secret API key"), "{created}");
    let secret =
        created.lines().find_map(|l| l.split_whitespace().find(|w| w.starts_with("sk_"))).expect("a secret key is printed");
    assert!(secret.len() > 20);

    let csv = write(dir.path(), "contacts.csv", CONTACTS_CSV);
    let imported = ok(&data, &["import", "contacts", csv.to_str().unwrap(), "--date-format", "DD/MM/YYYY"]);
    assert!(imported.contains("3 created, 0 updated, 1 skipped"), "{imported}");
    assert!(imported.contains("record 3"), "the rejected record is named by number:\n{imported}");

    let ndjson = write(
        dir.path(),
        "events.ndjson",
        concat!(
            r#"{"type":"page_view","visitor_id":"v1","url":"/pricing","timestamp":"2026-01-10T10:00:00Z"}"#,
            "\n",
            r#"{"type":"page_view","visitor_id":"v1","url":"/pricing/teams","timestamp":"2026-01-10T10:02:00Z"}"#,
            "\n",
            "{broken\n",
            r#"{"type":"identify","visitor_id":"v1","email":"ada@example.com","timestamp":"2026-01-10T10:03:00Z"}"#,
            "\n",
            r#"{"type":"page_view","visitor_id":"v2","url":"/","timestamp":"2026-01-10T11:00:00Z"}"#,
            "\n",
        ),
    );
    let events = ok(&data, &["import", "events", ndjson.to_str().unwrap()]);
    assert!(events.contains("line 3"), "the bad line is named:\n{events}");
    assert!(events.contains("; 1 merge; "), "{events}");
    assert!(events.contains("1 line skipped"), "{events}");
    assert!(events.contains("4 events (2 contacts created by them)"), "{events}");

    let created = ok(&data, &["segment", "create", "French", "--criteria", r#"country = "FR""#]);
    assert!(created.contains("2 members (2 known, 0 anonymous)"), "{created}");
    let created = ok(&data, &["segment", "create", "Pricing", "--criteria", r#"visited "/pricing*" at least 2 times"#]);
    assert!(created.contains("1 member (1 known, 0 anonymous)"), "{created}");
    ok(&data, &["segment", "create", "French pricing", "--criteria", r#"member of "French" AND member of "Pricing""#]);

    let list = ok(&data, &["segment", "list"]);
    assert!(list.contains("French pricing"), "{list}");
    let show = ok(&data, &["segment", "show", "French pricing"]);
    assert!(show.contains(r#"member of "French" AND member of "Pricing""#), "{show}");

    let test = ok(&data, &["segment", "test", "contact is anonymous"]);
    assert!(test.contains("matches 1 contact: 0 known, 1 anonymous"), "{test}");

    // Criteria errors name the position, exit 65.
    fails(&data, &["segment", "test", r#"country = "FR" AND visited"#], 65, "column");
    // A cycle is refused with its path.
    fails(&data, &["segment", "edit", "French", "--criteria", r#"member of "French pricing""#], 65, "→");
    // A referenced segment cannot be deleted.
    fails(&data, &["segment", "delete", "Pricing"], 65, "French pricing");
    // Unknown names: exit 66.
    fails(&data, &["summary", "Nope"], 66, "no segment `Nope`");

    let table = ok(&data, &["summary", "French", "--from", "2026-01-01", "--to", "2026-01-31"]);
    for block in [
        "Known contacts",
        "Anonymous contacts",
        "Sessions in range",
        "Avg session duration",
        "Growth",
        "Journeys",
        "Opted in",
        "Reachability",
        "Website",
        "Lifecycle stages",
        "Creation channels",
        "First-touch sources",
        "Email service providers",
        "Geography",
    ] {
        assert!(table.contains(block), "the summary table lacks {block}:\n{table}");
    }
    let json = ok(&data, &["summary", "French", "--from", "2026-01-01", "--to", "2026-01-31", "--json"]);
    let value: serde_json::Value = serde_json::from_str(&json).expect("--json prints JSON");
    assert!(value.to_string().contains("\"known\""), "{json}");
    fails(&data, &["summary", "French", "--tz", "Mars/Olympus"], 65, "--tz");
    fails(&data, &["summary", "French", "--view", "robots"], 65, "--view");

    let journey = ok(&data, &["journey", "create", "Welcome", "--status", "active", "--segment", "French"]);
    assert!(journey.contains("created journey"), "{journey}");
    ok(&data, &["journey", "edit", "Welcome", "--status", "paused"]);
    let journeys = ok(&data, &["journey", "list"]);
    assert!(journeys.contains("Welcome") && journeys.contains("paused"), "{journeys}");
    ok(&data, &["campaign", "create", "March newsletter", "--segment", "Pricing"]);
    ok(&data, &["journey", "delete", "Welcome"]);

    let contact = ok(&data, &["contact", "ada@example.com"]);
    assert!(contact.contains("French"), "{contact}");

    let check = ok(&data, &["check"]);
    assert!(check.contains("equals a from-scratch recomputation"), "{check}");
}

#[test]
fn a_file_with_no_valid_rows_fails_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&data, &["workspace", "create", "acme"]);
    let csv = write(dir.path(), "bad.csv", "Email\nnot-an-email\nalso bad\n");
    fails(&data, &["import", "contacts", csv.to_str().unwrap()], 65, "nothing to import");
    let ndjson = write(dir.path(), "bad.ndjson", "{oops\n[1]\n");
    fails(&data, &["import", "events", ndjson.to_str().unwrap()], 65, "line 1");
    let listing = ok(&data, &["workspace", "list"]);
    assert!(listing.lines().any(|l| l.starts_with("acme") && l.split_whitespace().nth(1) == Some("0")), "{listing}");
    fails(&data, &["import", "contacts", dir.path().join("missing.csv").to_str().unwrap()], 66, "cannot read");
}

#[test]
fn several_workspaces_need_a_choice() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&data, &["workspace", "create", "one"]);
    ok(&data, &["workspace", "create", "two"]);
    fails(&data, &["segment", "list"], 65, "choose one with --workspace");
    ok(&data, &["--workspace", "two", "segment", "list"]);
    fails(&data, &["--workspace", "three", "segment", "list"], 66, "workspace `three` not found");
    fails(&data, &["workspace", "create", "Bad Name!"], 65, "workspace");
    let keys = ok(&data, &["workspace", "keys", "one"]);
    assert!(keys.contains("secret") && keys.contains("write"), "{keys}");
}

#[test]
fn the_demo_builds_and_is_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = ok(&data, &["demo", "--no-serve"]);
    assert!(out.contains("sk_"), "the demo prints a key:\n{out}");
    let list = ok(&data, &["segment", "list"]);
    for name in ["Engaged visitors", "Legacy CRM import", "VIP accounts", "Hot leads"] {
        assert!(list.contains(name), "{name} missing:\n{list}");
    }
    let summary = ok(&data, &["summary", "Engaged visitors", "--range", "last_30_days"]);
    assert!(summary.contains("Sessions"), "{summary}");
    ok(&data, &["check"]);
    // Running it again reuses the workspace and prints a fresh key.
    let again = segscope(&data, &["demo", "--no-serve"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);

    // A demo directory from a segscope with another storage format: the
    // demo says how to rebuild it, and `--reset` does.
    std::fs::write(data.join("FORMAT"), "1\n").unwrap();
    fails(&data, &["demo", "--no-serve"], 65, "segscope demo --reset");
    let rebuilt = segscope(&data, &["demo", "--no-serve", "--reset"]);
    assert_eq!(rebuilt.code, 0, "{}", rebuilt.stderr);
    ok(&data, &["check"]);
}

fn shared_data(relative: &str) -> PathBuf {
    let shared = std::env::var_os("SEGSCOPE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let path = shared.join("data").join(relative);
    assert!(path.exists(), "{} is missing: the tests read real inputs from ../shared/data beside the checkout", path.display());
    path
}

#[test]
fn a_real_access_log_imports_every_line_or_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&data, &["workspace", "create", "site"]);
    let log = shared_data("elastic-examples-apache-logs/apache_logs.log");
    let out = ok(&data, &["import", "log", log.to_str().unwrap(), "--site", "https://www.semicomplete.com"]);
    eprintln!("figure: elastic access log: {}", out.lines().next().unwrap_or(""));
    assert!(out.contains("read 10,000 lines: 2,221 page views"), "{out}");
    assert!(out.contains("0 malformed"), "{out}");
    assert!(out.contains("2,221 events (982 contacts created by them)"), "{out}");

    // A truncated gzip keeps the complete lines before the cut and says so.
    let full = std::fs::read(&log).unwrap();
    let mut encoder = flate2_free_gzip(&full[..200_000]);
    encoder.truncate(encoder.len() / 2);
    let cut = write_bytes(dir.path(), "cut.log.gz", &encoder);
    let out = segscope(&data, &["import", "log", cut.to_str().unwrap(), "--dry-run"]);
    assert!(out.code == 0 || out.code == 65, "{}{}", out.stdout, out.stderr);
    assert!(format!("{}{}", out.stdout, out.stderr).contains("gzip"), "{}{}", out.stdout, out.stderr);

    // Binary garbage is an error that names the problem, and changes nothing.
    let junk = write_bytes(dir.path(), "junk.log", &(0..4096u32).map(|i| (i * 7919 % 251) as u8).collect::<Vec<_>>());
    let out = segscope(&data, &["import", "log", junk.to_str().unwrap()]);
    assert_eq!(out.code, 65, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("nothing to import"), "{}", out.stderr);
}

fn write_bytes(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Gzips with the system `gzip` (the test should not need a compression crate).
fn flate2_free_gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip is installed");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    child.wait_with_output().unwrap().stdout
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&data, &["workspace", "create", "acme"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_segscope"))
        .arg("--data")
        .arg(&data)
        .args(["summary", "All contacts"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Field case F15: scanners, headless browsers, deploy checkers and HEAD
/// requests create no contact; one real visitor is one anonymous contact
/// with one session, and the 23 other requests are counted.
#[test]
fn f15_bot_and_scanner_traffic_creates_no_contacts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&data, &["workspace", "create", "site"]);
    const CHROME: &str =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    let mut lines = Vec::new();
    let scanned = ["/wp-login.php", "/.env", "/admin.php", "/xmlrpc.php", "/.git/config"];
    for i in 0..20 {
        lines.push(format!(
            r#"203.0.113.9 - - [10/Mar/2026:03:{:02}:00 +0000] "GET {} HTTP/1.1" 404 162 "-" "python-requests/2.31.0""#,
            i,
            scanned[i % scanned.len()]
        ));
    }
    lines.push(r#"198.51.100.7 - - [10/Mar/2026:04:00:00 +0000] "GET / HTTP/1.1" 200 5120 "-" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36""#.to_owned());
    lines.push(
        r#"198.51.100.8 - - [10/Mar/2026:04:01:00 +0000] "GET / HTTP/1.1" 200 5120 "-" "Vercelbot/0.1 (+https://vercel.com)""#
            .to_owned(),
    );
    lines.push(format!(r#"198.51.100.9 - - [10/Mar/2026:04:02:00 +0000] "HEAD / HTTP/1.1" 200 0 "-" "{CHROME}""#));
    lines.push(format!(r#"192.0.2.44 - - [10/Mar/2026:09:00:00 +0000] "GET / HTTP/1.1" 200 5120 "-" "{CHROME}""#));
    lines.push(format!(
        r#"192.0.2.44 - - [10/Mar/2026:09:03:00 +0000] "GET /pricing HTTP/1.1" 200 4096 "https://example.com/" "{CHROME}""#
    ));
    let log = write(dir.path(), "f15.log", &(lines.join("\n") + "\n"));
    let out = ok(&data, &["import", "log", log.to_str().unwrap()]);
    assert!(out.contains("read 25 lines: 2 page views, 23 not page views (1 method, 20 error status, 2 bot)"), "{out}");
    // The skipped bots and errors are told once, by the parser's line: the report after it does not contradict it with "0 bot hits".
    assert!(!out.contains("bot hit") && !out.contains("error hit"), "{out}");
    // Something named that does not exist exits 66, as the README says.
    fails(
        &data,
        &["import", "log", log.to_str().unwrap(), "--geoip", "/nonexistent/City.mmdb"],
        66,
        "cannot read the GeoIP database",
    );
    ok(&data, &["segment", "create", "Not VIP", "--criteria", r#"tags not in ["vip"]"#]);
    let json = ok(&data, &["summary", "Not VIP", "--from", "2026-03-01", "--to", "2026-03-31", "--json"]);
    let summary: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(summary["overall"]["anonymous"], 1, "{json}");
    assert_eq!(summary["overall"]["known"], 0, "{json}");
    assert_eq!(summary["overall"]["sessions"], 1, "{json}");
}

#[test]
fn saved_webhook_bodies_and_bounce_mailboxes_import() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&data, &["workspace", "create", "mail"]);
    let contacts = write(dir.path(), "c.csv", "email\nrecipient@example.com\n");
    ok(&data, &["import", "contacts", contacts.to_str().unwrap()]);

    // anymail's test file wraps each real SendGrid body as {"test":…,"payload":…}; a dump holds the bodies.
    let wrapped = std::fs::read_to_string(shared_data("anymail-esp-webhook-payloads/sendgrid_webhook_payloads.jsonl")).unwrap();
    let bodies: Vec<String> = wrapped
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["payload"].is_array())
        .map(|v| v["payload"].to_string())
        .collect();
    assert!(bodies.len() >= 5);
    let dump = write(dir.path(), "sendgrid.jsonl", &(bodies.join("\n") + "\n"));
    let out = ok(&data, &["import", "webhooks", dump.to_str().unwrap(), "--provider", "sendgrid"]);
    eprintln!("figure: sendgrid dump: {}", out.lines().next().unwrap_or(""));
    assert!(out.contains(" events ("), "{out}");
    let contact = ok(&data, &["contact", "recipient@example.com"]);
    assert!(contact.contains("status"), "{contact}");
    fails(&data, &["import", "webhooks", dump.to_str().unwrap(), "--provider", "sparkpost"], 65, "unknown --provider");

    let mbox = shared_data("sisimai-set-of-emails/mailbox/mbox-0");
    let out = ok(&data, &["import", "bounces", mbox.to_str().unwrap(), "--dry-run"]);
    eprintln!("figure: sisimai mbox-0: {}", out.lines().next().unwrap_or(""));
    assert!(out.contains("read 37 messages"), "{out}");
    // Bounces for addresses the workspace does not know change nothing and say why.
    fails(&data, &["import", "bounces", mbox.to_str().unwrap()], 65, "no contact with email");
    let garbage = write_bytes(dir.path(), "garbage.eml", &[0xff, 0xfe, 0x00, 0x01, 0x80, b'\n', b'x']);
    fails(&data, &["import", "bounces", garbage.to_str().unwrap()], 65, "nothing to import");
    // A folder of messages is refused with what to run instead, and so is a directory given to any import.
    let maildir = shared_data("sisimai-set-of-emails/maildir/bsd");
    fails(&data, &["import", "bounces", maildir.to_str().unwrap()], 65, "is a directory: give one .eml file or an mbox mailbox");
    fails(&data, &["import", "contacts", dir.path().to_str().unwrap()], 65, "is a directory: give a file");
}
