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
    assert!(events.contains("1 merges"), "{events}");

    let created = ok(&data, &["segment", "create", "French", "--criteria", r#"country = "FR""#]);
    assert!(created.contains("2 members (2 known, 0 anonymous)"), "{created}");
    let created = ok(&data, &["segment", "create", "Pricing", "--criteria", r#"visited "/pricing*" at least 2 times"#]);
    assert!(created.contains("1 members"), "{created}");
    ok(&data, &["segment", "create", "French pricing", "--criteria", r#"member of "French" AND member of "Pricing""#]);

    let list = ok(&data, &["segment", "list"]);
    assert!(list.contains("French pricing"), "{list}");
    let show = ok(&data, &["segment", "show", "French pricing"]);
    assert!(show.contains(r#"member of "French" AND member of "Pricing""#), "{show}");

    let test = ok(&data, &["segment", "test", "contact is anonymous"]);
    assert!(test.contains("matches 1 contacts: 0 known, 1 anonymous"), "{test}");

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
    fails(&data, &["import", "contacts", dir.path().join("missing.csv").to_str().unwrap()], 1, "cannot read");
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
}
