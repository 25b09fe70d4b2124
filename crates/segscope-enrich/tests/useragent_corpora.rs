//! User-agent parsing and bot detection on real corpora: uap-core's own
//! test cases (browser, OS and device family), the crawler-user-agents
//! examples (bot recall) and two collections of real browser user agents,
//! user-agents (npm) and fake-useragent (PyPI), for false positives and the
//! device kind.

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use segscope_enrich::useragent::{DeviceKind, UserAgentParser};
use serde::Deserialize;

#[derive(Deserialize)]
struct UapCorpus {
    test_cases: Vec<UapCase>,
}

#[derive(Deserialize)]
struct UapCase {
    user_agent_string: String,
    family: Option<String>,
}

fn uap_cases(file: &str) -> Vec<UapCase> {
    let corpus: UapCorpus = serde_norway::from_slice(&common::read("uap-core-tests", file))
        .unwrap_or_else(|e| panic!("uap-core-tests/{file} does not parse: {e}"));
    corpus.test_cases
}

/// Runs `field` over a uap-core corpus and returns (matching, total),
/// printing a few misses.
fn uap_accuracy(file: &str, what: &str, field: impl Fn(&segscope_enrich::UserAgent) -> String) -> (usize, usize) {
    let parser = UserAgentParser::shared();
    let cases = uap_cases(file);
    let mut matching = 0;
    let mut misses: BTreeMap<(String, String), usize> = BTreeMap::new();
    for case in &cases {
        let expected = case.family.clone().unwrap_or_else(|| "Other".to_owned());
        let found = field(&parser.parse(&case.user_agent_string));
        if found == expected {
            matching += 1;
        } else {
            *misses.entry((expected, found)).or_default() += 1;
        }
    }
    let mut misses: Vec<_> = misses.into_iter().collect();
    misses.sort_by_key(|miss| std::cmp::Reverse(miss.1));
    for ((expected, found), count) in misses.iter().take(5) {
        eprintln!("uap-core-tests {file}: {count} × expected {what} `{expected}`, got `{found}`");
    }
    (matching, cases.len())
}

#[test]
fn uap_core_browser_family_accuracy() {
    let (matching, total) = uap_accuracy("test_ua.yaml", "browser", |ua| ua.browser.clone());
    let accuracy = common::percent(matching, total);
    eprintln!("uap-core-tests test_ua.yaml: browser family accuracy {matching}/{total} = {accuracy:.2}%");
    assert!(accuracy >= 95.0);
}

#[test]
fn uap_core_os_family_accuracy() {
    let (matching, total) = uap_accuracy("test_os.yaml", "OS", |ua| ua.os.clone());
    let accuracy = common::percent(matching, total);
    eprintln!("uap-core-tests test_os.yaml: OS family accuracy {matching}/{total} = {accuracy:.2}%");
    assert!(accuracy >= 95.0);
}

#[test]
fn uap_core_device_family_accuracy() {
    let (matching, total) = uap_accuracy("test_device.yaml", "device", |ua| ua.device_family.clone());
    let accuracy = common::percent(matching, total);
    eprintln!("uap-core-tests test_device.yaml: device family accuracy {matching}/{total} = {accuracy:.2}%");
    assert!(accuracy >= 95.0);
}

#[derive(Deserialize)]
struct Crawler {
    pattern: String,
    #[serde(default)]
    instances: Vec<String>,
}

#[test]
fn crawler_user_agents_bot_recall() {
    let crawlers: Vec<Crawler> =
        serde_json::from_slice(&common::read("crawler-user-agents", "crawler-user-agents.json")).unwrap();
    let parser = UserAgentParser::shared();
    let (mut flagged, mut total) = (0, 0);
    for crawler in &crawlers {
        for instance in &crawler.instances {
            total += 1;
            if parser.is_bot(instance) {
                flagged += 1;
            } else {
                eprintln!("crawler-user-agents: not flagged ({}): {instance:?}", crawler.pattern);
            }
        }
    }
    let recall = common::percent(flagged, total);
    eprintln!("crawler-user-agents: bot recall {flagged}/{total} = {recall:.2}% over {} patterns", crawlers.len());
    assert!(recall >= 95.0);
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    user_agent: String,
    device_category: String,
    weight: f64,
}

fn expected_kind(category: &str) -> DeviceKind {
    match category {
        "desktop" => DeviceKind::Desktop,
        "mobile" => DeviceKind::Mobile,
        "tablet" => DeviceKind::Tablet,
        other => panic!("unexpected device category {other}"),
    }
}

#[test]
fn user_agents_npm_browsers_are_not_bots() {
    let profiles: Vec<Profile> = serde_json::from_slice(&common::read("user-agents-npm", "user-agents.json")).unwrap();
    let parser = UserAgentParser::shared();
    let mut distinct: BTreeMap<&str, (&str, f64)> = BTreeMap::new();
    for profile in &profiles {
        let entry = distinct.entry(&profile.user_agent).or_insert((&profile.device_category, 0.0));
        entry.1 += profile.weight;
    }
    let (mut bots, mut bot_weight, mut kind_right) = (0, 0.0, 0);
    let mut kind_misses: BTreeMap<(String, DeviceKind), usize> = BTreeMap::new();
    for (user_agent, (category, weight)) in &distinct {
        let parsed = parser.parse(user_agent);
        if parsed.bot {
            bots += 1;
            bot_weight += weight;
            eprintln!("user-agents-npm: real browser flagged as a bot: {user_agent:?}");
        }
        if parsed.device == expected_kind(category) {
            kind_right += 1;
        } else {
            *kind_misses.entry((category.to_string(), parsed.device)).or_default() += 1;
        }
    }
    eprintln!(
        "user-agents-npm: {bots}/{} distinct real browser user agents flagged as bots ({:.2}%, {:.3}% of the traffic weight)",
        distinct.len(),
        common::percent(bots, distinct.len()),
        100.0 * bot_weight
    );
    eprintln!(
        "user-agents-npm: device kind agrees with deviceCategory for {kind_right}/{} ({:.1}%); misses {kind_misses:?}",
        distinct.len(),
        common::percent(kind_right, distinct.len())
    );
    assert_eq!(bots, 0, "no real browser is a bot");
    assert!(common::percent(kind_right, distinct.len()) >= 95.0);
}

#[derive(Deserialize)]
struct FakeUserAgent {
    useragent: String,
    #[serde(rename = "type")]
    kind: String,
    browser: String,
}

#[test]
fn fake_useragent_browsers_are_not_bots() {
    let raw = common::read("fake-useragent-pypi", "browsers.jsonl");
    let mut distinct: BTreeMap<String, (String, String)> = BTreeMap::new();
    for line in String::from_utf8(raw).unwrap().lines().filter(|l| !l.trim().is_empty()) {
        let entry: FakeUserAgent = serde_json::from_str(line).unwrap();
        distinct.insert(entry.useragent, (entry.kind, entry.browser));
    }
    let parser = UserAgentParser::shared();
    let (mut bots, mut kind_right) = (0, 0);
    for (user_agent, (kind, _browser)) in &distinct {
        let parsed = parser.parse(user_agent);
        if parsed.bot {
            bots += 1;
            eprintln!("fake-useragent: real browser flagged as a bot: {user_agent:?}");
        }
        if parsed.device == expected_kind(kind) {
            kind_right += 1;
        }
    }
    eprintln!(
        "fake-useragent-pypi: {bots}/{} distinct real browser user agents flagged as bots ({:.2}%); device kind agrees for {kind_right} ({:.1}%)",
        distinct.len(),
        common::percent(bots, distinct.len()),
        common::percent(kind_right, distinct.len())
    );
    assert!(common::percent(bots, distinct.len()) <= 0.5);
    assert!(common::percent(kind_right, distinct.len()) >= 90.0);
}

#[test]
fn parsing_is_fast_enough_for_log_import() {
    let profiles: Vec<Profile> = serde_json::from_slice(&common::read("user-agents-npm", "user-agents.json")).unwrap();
    let parser = UserAgentParser::new().unwrap();
    let distinct: std::collections::BTreeSet<&str> = profiles.iter().map(|p| p.user_agent.as_str()).collect();
    let started = Instant::now();
    for user_agent in &distinct {
        parser.parse(user_agent);
    }
    let cold = started.elapsed();
    let started = Instant::now();
    for profile in &profiles {
        parser.parse(&profile.user_agent);
    }
    let warm = started.elapsed();
    eprintln!(
        "user agents: {} distinct parsed in {cold:?} ({:.0} µs each, uncached); {} lookups with the cache in {warm:?} ({:.2} µs each)",
        distinct.len(),
        cold.as_secs_f64() * 1e6 / distinct.len() as f64,
        profiles.len(),
        warm.as_secs_f64() * 1e6 / profiles.len() as f64
    );
    assert_eq!(parser.cached(), distinct.len());
}
