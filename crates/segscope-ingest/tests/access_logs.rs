//! Access-log import on real logs from `shared/data`: every line is parsed
//! or reported, the page views go through the NDJSON driver into an
//! in-memory workspace, and the figures are printed.

mod common;

use std::collections::BTreeSet;

use common::{NOW, shared_data, workspace};
use segscope_core::event::{EventBody, Subject};
use segscope_core::model::Channel;
use segscope_ingest::access_log::{AccessLogImport, LineFormat, SkipReason};
use segscope_ingest::{AccessLogOptions, ProblemSeverity, apply_ndjson_import, parse_access_log, simple_bot_check};

fn read(relative: &str) -> Vec<u8> {
    let root = shared_data();
    assert!(
        root.is_dir(),
        "the shared test data folder {} is missing: these tests read real files from shared/data next to the repository \
         (or from SEGSCOPE_SHARED_DATA)",
        root.display()
    );
    let path = root.join(relative);
    std::fs::read(&path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

fn parse(relative: &str) -> AccessLogImport {
    parse_access_log(&read(relative), &AccessLogOptions::default(), &simple_bot_check)
        .unwrap_or_else(|err| panic!("{relative}: {err}"))
}

fn figures(name: &str, import: &AccessLogImport) -> String {
    let skipped: Vec<String> =
        SkipReason::ALL.iter().map(|reason| format!("{} {}", reason.key(), import.skipped.get(*reason))).collect();
    let rejected = import.problems.iter().filter(|p| p.severity == ProblemSeverity::Rejected).count();
    format!(
        "{name}: {} lines, {} parsed, {} rejected, {} page views; skipped: {}",
        import.n_lines,
        import.n_parsed,
        rejected,
        import.hits.len(),
        skipped.join(", ")
    )
}

/// Every non-blank line is accounted for exactly once.
fn assert_every_line_accounted(import: &AccessLogImport) {
    let rejected: BTreeSet<usize> =
        import.problems.iter().filter(|p| p.severity == ProblemSeverity::Rejected).map(|p| p.line).collect();
    assert_eq!(import.n_parsed + rejected.len(), import.n_lines);
    assert_eq!(import.hits.len() + import.skipped.total(), import.n_parsed);
}

#[test]
fn elastic_apache_combined_all_ten_thousand_lines() {
    let import = parse("elastic-examples-apache-logs/apache_logs.log");
    println!("{}", figures("elastic apache_logs", &import));
    assert_eq!(import.n_lines, 10_000);
    assert_eq!(import.n_parsed, 10_000, "every line is combined format: {:?}", &import.problems[..import.problems.len().min(5)]);
    // Line 8899 ends inside its user agent: kept, and reported as repaired.
    assert_eq!(import.problems.len(), 1);
    assert_eq!((import.problems[0].line, import.problems[0].severity), (8_899, ProblemSeverity::Repaired));
    assert_every_line_accounted(&import);
    assert!(import.hits.iter().all(|hit| hit.format == LineFormat::Combined && hit.ip.is_some()));
    // Most hits of this site are images, css and js; the rest are pages.
    assert!(import.skipped.get(SkipReason::StaticAsset) > 4_000);
    assert!(import.skipped.get(SkipReason::Bot) > 500);
    assert!(import.skipped.get(SkipReason::ErrorStatus) > 0 && import.skipped.get(SkipReason::Redirect) > 0);
    assert!(import.hits.len() > 1_000);
    // The `?flav=rss20` style queries are kept on the URL.
    assert!(import.hits.iter().any(|hit| matches!(&hit.event.body, EventBody::PageView(v) if v.url.contains('?'))));
    // No raw address in any visitor key.
    assert!(
        import
            .hits
            .iter()
            .all(|hit| matches!(&hit.event.subject, Subject::Visitor(key) if key.starts_with("ip:") && !key.contains('.')))
    );
    let visitors: std::collections::HashSet<_> = import.hits.iter().map(|hit| hit.event.subject.clone()).collect();
    println!("elastic apache_logs: {} distinct derived visitors", visitors.len());

    // Out-of-order lines go through the driver into a workspace.
    let mut ws = workspace();
    let report =
        apply_ndjson_import(import.into_event_import(), Channel::Tracking, 2_000, |command| ws.apply(command, NOW), |_| {})
            .expect("imported");
    println!(
        "elastic apache_logs applied: {} events accepted, {} contacts created, {} rejected by the core",
        report.events_accepted, report.contacts_created_by_events, report.skipped
    );
    assert_eq!(report.contacts_created_by_events, visitors.len());
    assert_eq!(report.skipped, 0);
}

#[test]
fn nielsbasjes_hackers_log_with_ipv6() {
    let import = parse("nielsbasjes-logparser/hackers-access.log");
    println!("{}", figures("nielsbasjes hackers-access", &import));
    assert_eq!(import.n_lines, 3_456);
    assert_eq!(import.n_parsed, 3_456, "{:?}", &import.problems[..import.problems.len().min(5)]);
    assert_every_line_accounted(&import);
    // 1,080 POST lines are not page views.
    assert!(import.skipped.get(SkipReason::Method) >= 1_080);
    let ipv6 = import.hits.iter().filter(|hit| hit.ip.is_some_and(|ip| ip.is_ipv6())).count();
    println!("nielsbasjes hackers-access: {ipv6} page views from IPv6 clients");
    assert!(ipv6 > 0);
    // All times are +0100.
    assert!(import.hits.iter().all(|hit| hit.utc_offset_seconds == 3_600));
}

#[test]
fn nielsbasjes_omniture_lines_with_a_cookie_column() {
    let options = AccessLogOptions { visitor_cookie: Some("__g_u".to_owned()), ..AccessLogOptions::default() };
    let import = parse_access_log(&read("nielsbasjes-logparser/omniture-with-cookies.log"), &options, &simple_bot_check).unwrap();
    println!("{}", figures("nielsbasjes omniture", &import));
    assert_eq!((import.n_lines, import.n_parsed), (5, 5));
    // Beacon hits are `.gif` requests: assets, not page views.
    assert_eq!(import.skipped.get(SkipReason::StaticAsset), 5);
}

#[test]
fn matomo_common_and_combined_format_files() {
    // (file, lines, parsed lines, page views)
    let cases: &[(&str, usize, usize, usize)] = &[
        ("common.log", 1, 1, 0),               // 301
        ("common.log.gz", 1, 1, 0),            // a POST, gzip
        ("common_vhost.log", 1, 1, 0),         // 301
        ("common_complete.log", 1, 1, 0),      // 301
        ("ncsa_extended.log", 1, 1, 0),        // 301
        ("common_encoding_big5.log", 1, 1, 0), // 301, Big5 bytes replaced
        ("static_ignores.log", 0, 0, 1),       // counted below
        ("logs_to_tests.log", 4, 4, 3),        // Matomo beacons; one `#` comment line
    ];
    for (file, lines, parsed, views) in cases {
        let import = parse(&format!("matomo-log-analytics/logs/{file}"));
        println!("{}", figures(&format!("matomo {file}"), &import));
        assert_every_line_accounted(&import);
        if *lines > 0 {
            assert_eq!((import.n_lines, import.n_parsed, import.hits.len()), (*lines, *parsed, *views), "{file}");
        }
        assert!(import.problems.iter().all(|p| p.severity == ProblemSeverity::Repaired), "{file}: {:?}", import.problems);
    }
    let gz = parse("matomo-log-analytics/logs/common.log.gz");
    assert!(gz.was_gzip && gz.truncated.is_none());
    let statics = parse("matomo-log-analytics/logs/static_ignores.log");
    assert_eq!(statics.hits.len(), 1, "only `/` is a page");
    assert_eq!(statics.skipped.get(SkipReason::StaticAsset), statics.n_parsed - 1);
    // Other formats (IIS, ELB, JSON, …) are not common/combined: each line is reported.
    for file in ["iis.log", "elb.log", "caddy_json.log", "amazon_cloudfront_web.log"] {
        let result = parse_access_log(
            &read(&format!("matomo-log-analytics/logs/{file}")),
            &AccessLogOptions::default(),
            &simple_bot_check,
        );
        match result {
            Err(err) => println!("matomo {file}: refused as expected: {}", err.to_string().chars().take(160).collect::<String>()),
            Ok(import) => panic!("{file} is not common/combined but parsed: {}", figures(file, &import)),
        }
    }
}

#[test]
fn truncated_real_gzip_reports_lines_read() {
    use std::io::Write;
    let text = read("elastic-examples-apache-logs/apache_logs.log");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&text).unwrap();
    let gz = encoder.finish().unwrap();
    let cut = parse_access_log(&gz[..gz.len() * 2 / 3], &AccessLogOptions::default(), &simple_bot_check).unwrap();
    let truncated = cut.truncated.clone().expect("reported");
    println!("truncated elastic gzip: {} of 10000 lines read and kept ({})", truncated.lines_read, truncated.message);
    assert!(truncated.lines_read > 3_000 && truncated.lines_read < 10_000);
    assert_eq!(cut.n_parsed, truncated.lines_read);
}
