//! The seeded, deterministic dataset generator. One call writes, into one
//! directory, everything a benchmark run needs:
//!
//! - segscope's inputs, in the formats its own import paths read:
//!   `contacts.csv` (known contacts created by an import), one
//!   `contacts-<channel>.ndjson` per other creation channel, and
//!   `events-NNN.ndjson` (page views, heartbeats and email events, at most
//!   [`EVENTS_PER_FILE`] lines each, grouped by contact in time order);
//! - the reference engines' inputs, the same facts as flat CSV tables
//!   (`ref_contacts.csv`, `ref_sessions.csv`, `ref_members.csv`) that
//!   `bench/reference.py` loads into DuckDB and chDB;
//! - `meta.json`: the instant "now", the range and what was generated.
//!
//! The generator knows the truth by construction (it lays sessions out so
//! that the 30-minute rule cannot merge or split them, and picks email
//! histories whose folded state is unambiguous), so the reference tables are
//! the facts the events *mean* under SPEC §4 and §6, not facts read back
//! from segscope: the three-way comparison checks segscope's ingestion and
//! engine as well as the SQL.
//!
//! Left out on purpose, because their effect on the facts would make the
//! generator re-implement the engine: identify/merge, deletes, bots, soft
//! bounces and stage changes (the property tests cover those).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use segscope_core::esp::provider_for_domain;
use segscope_core::time::Secs;

/// The instant every command of a benchmark run is applied at:
/// 2025-06-15T12:00:00Z. Fixed so that runs are comparable.
pub const NOW: Secs = 1_749_988_800;
/// Seconds in a day.
pub const DAY: Secs = 86_400;
/// Lines per events file: keeps one parsed file well under a gigabyte.
pub const EVENTS_PER_FILE: usize = 1_000_000;
/// Share of contacts that are anonymous visitors.
pub const ANONYMOUS_SHARE: f64 = 0.30;
/// Known contacts with only an external id (no email).
pub const EXTERNAL_ONLY_SHARE: f64 = 0.03;
/// The cohort attribute is uniform in `0..COHORTS`; the small benchmarked
/// segment is `cohort < k` with `k` chosen for about [`SMALL_SEGMENT`] members.
pub const COHORTS: u64 = 1_000_000;
pub const SMALL_SEGMENT: u64 = 10_000;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Config {
    pub contacts: u64,
    pub seed: u64,
    /// `../shared/data/email-domains` (the domain mix falls back to a
    /// built-in list when absent).
    pub email_domains_dir: Option<PathBuf>,
}

/// Counts of what was written, also stored in `meta.json`.
#[derive(Debug, Clone, Default)]
pub struct Generated {
    pub contacts: u64,
    pub known: u64,
    pub anonymous: u64,
    pub csv_rows: u64,
    pub ndjson_contacts: u64,
    pub sessions: u64,
    pub events: u64,
    pub web_events: u64,
    pub email_events: u64,
    pub event_files: Vec<String>,
    pub contact_files: Vec<(String, String)>,
    pub small_cohort_limit: u64,
    pub half_members: u64,
    pub small_members: u64,
}

const STAGES: [(&str, f64); 6] = [
    ("Raw lead", 0.30),
    ("Marketing ready", 0.20),
    ("Marketing engaged", 0.15),
    ("Marketing qualified", 0.10),
    ("Sales ready", 0.05),
    ("", 0.20),
];

/// Creation channels of known contacts; the CSV carries `import`.
const CHANNELS: [(&str, f64); 5] = [("import", 0.60), ("api", 0.20), ("form", 0.10), ("integration", 0.07), ("manual", 0.03)];

/// Countries with rough shares of a western B2C site; "" is unknown.
const COUNTRIES: [(&str, f64); 16] = [
    ("US", 0.25),
    ("GB", 0.08),
    ("DE", 0.07),
    ("FR", 0.06),
    ("CA", 0.04),
    ("IN", 0.06),
    ("BR", 0.04),
    ("ES", 0.03),
    ("IT", 0.03),
    ("NL", 0.02),
    ("AU", 0.03),
    ("JP", 0.02),
    ("MX", 0.02),
    ("PL", 0.02),
    ("SE", 0.01),
    ("", 0.22),
];

const US_PLACES: [(&str, &str); 8] = [
    ("California", "San Francisco"),
    ("California", "Los Angeles"),
    ("New York", "New York"),
    ("Texas", "Austin"),
    ("Texas", "Houston"),
    ("Washington", "Seattle"),
    ("Illinois", "Chicago"),
    ("Florida", "Miami"),
];

/// First-touch sources and how the landing page view says so.
const SOURCES: [(&str, f64); 7] = [
    ("organic_search", 0.30),
    ("paid_search", 0.08),
    ("social", 0.12),
    ("email", 0.08),
    ("referral", 0.10),
    ("direct", 0.28),
    ("other", 0.04),
];

const PATHS: [&str; 12] = [
    "/",
    "/pricing",
    "/features",
    "/blog",
    "/docs",
    "/signup",
    "/contact",
    "/about",
    "/customers",
    "/careers",
    "/login",
    "/integrations",
];

/// Consumer mail domains with rough real shares (sum 0.685); the rest is
/// spread over the ranked `common.json` list and company domains.
const MAJOR_DOMAINS: [(&str, f64); 14] = [
    ("gmail.com", 0.38),
    ("outlook.com", 0.05),
    ("hotmail.com", 0.05),
    ("live.com", 0.02),
    ("yahoo.com", 0.07),
    ("yahoo.co.uk", 0.01),
    ("icloud.com", 0.04),
    ("me.com", 0.01),
    ("proton.me", 0.01),
    ("gmx.de", 0.01),
    ("web.de", 0.01),
    ("aol.com", 0.01),
    ("yandex.ru", 0.01),
    ("zoho.com", 0.005),
];
const LISTED_DOMAIN_SHARE: f64 = 0.12;

fn pick<'a>(rng: &mut ChaCha8Rng, table: &[(&'a str, f64)]) -> &'a str {
    let total: f64 = table.iter().map(|(_, w)| w).sum();
    let mut x = rng.random::<f64>() * total;
    for (value, weight) in table {
        if x < *weight {
            return value;
        }
        x -= weight;
    }
    table.last().expect("non-empty").0
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // Box–Muller; one value per call is plenty here.
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Long-tailed number of sessions for a contact that has any: log-normal
/// with mean about 12.1, so that the average over all contacts (a quarter
/// of known contacts never visit) is about 10.
fn session_count(rng: &mut ChaCha8Rng) -> u64 {
    let sigma = 1.1;
    let mu = 12.1f64.ln() - sigma * sigma / 2.0;
    ((mu + sigma * normal(rng)).exp().round() as u64).clamp(1, 3_000)
}

/// The domain list drawn from beyond the major providers: the ranked
/// `email-providers` common list, minus what the major table covers.
fn listed_domains(dir: Option<&Path>) -> Vec<String> {
    let from_file = dir
        .map(|d| d.join("email-providers-npm/common.json"))
        .and_then(|path| std::fs::read(path).ok())
        .and_then(|bytes| serde_json::from_slice::<Vec<String>>(&bytes).ok());
    let mut domains = from_file.unwrap_or_else(|| {
        ["qq.com", "mail.ru", "free.fr", "orange.fr", "t-online.de", "libero.it", "naver.com", "163.com", "rediffmail.com"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    });
    domains.retain(|d| !MAJOR_DOMAINS.iter().any(|(m, _)| m == d) && d != "example.com");
    domains
}

/// One generated session: start, end and page views.
#[derive(Debug, Clone, Copy)]
struct SessionFact {
    start: Secs,
    end: Secs,
    page_views: u32,
}

struct Writers {
    dir: PathBuf,
    csv: BufWriter<File>,
    channel_files: Vec<(String, BufWriter<File>)>,
    events: Option<BufWriter<File>>,
    events_in_file: usize,
    ref_contacts: BufWriter<File>,
    ref_sessions: BufWriter<File>,
    ref_members: BufWriter<File>,
}

fn create(dir: &Path, name: &str) -> Result<BufWriter<File>> {
    let path = dir.join(name);
    Ok(BufWriter::with_capacity(1 << 20, File::create(&path).with_context(|| format!("creating {}", path.display()))?))
}

impl Writers {
    fn event_line(&mut self, generated: &mut Generated, line: std::fmt::Arguments<'_>) -> Result<()> {
        if self.events.is_none() || self.events_in_file == EVENTS_PER_FILE {
            if let Some(mut done) = self.events.take() {
                done.flush()?;
            }
            let name = format!("events-{:03}.ndjson", generated.event_files.len());
            self.events = Some(create(&self.dir, &name)?);
            generated.event_files.push(name);
            self.events_in_file = 0;
        }
        let out = self.events.as_mut().expect("opened above");
        out.write_fmt(line)?;
        out.write_all(b"\n")?;
        self.events_in_file += 1;
        generated.events += 1;
        Ok(())
    }
}

/// Generates a dataset into `dir` (created if needed).
pub fn generate(config: &Config, dir: &Path) -> Result<Generated> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let listed = listed_domains(config.email_domains_dir.as_deref());
    let major_share: f64 = MAJOR_DOMAINS.iter().map(|(_, w)| w).sum();
    let expected_known = (config.contacts as f64 * (1.0 - ANONYMOUS_SHARE)).max(1.0);
    let small_cohort_limit = ((SMALL_SEGMENT as f64 / expected_known) * COHORTS as f64).round().clamp(1.0, COHORTS as f64) as u64;
    let mut w = Writers {
        dir: dir.to_path_buf(),
        csv: create(dir, "contacts.csv")?,
        channel_files: Vec::new(),
        events: None,
        events_in_file: 0,
        ref_contacts: create(dir, "ref_contacts.csv")?,
        ref_sessions: create(dir, "ref_sessions.csv")?,
        ref_members: create(dir, "ref_members.csv")?,
    };
    for (channel, _) in &CHANNELS[1..] {
        w.channel_files.push(((*channel).to_owned(), create(dir, &format!("contacts-{channel}.ndjson"))?));
    }
    writeln!(w.csv, "Email,External ID,First Name,Created At,Stage,Country,Region,City,Email Status,cohort")?;
    writeln!(
        w.ref_contacts,
        "cid,known,has_email,created_at,stage,channel,source,provider,country,region,city,opted_in,pending,unsubscribed,bounced,complained,last_engaged"
    )?;
    writeln!(w.ref_sessions, "cid,start,duration,page_views")?;
    writeln!(w.ref_members, "segment,cid")?;
    let mut generated = Generated { small_cohort_limit, ..Generated::default() };
    let today_start = NOW - NOW.rem_euclid(DAY);

    for cid in 0..config.contacts {
        let known = rng.random::<f64>() >= ANONYMOUS_SHARE;
        generated.contacts += 1;
        // Identity and explicit fields of known contacts.
        let (email, external_id) = if known {
            if rng.random::<f64>() < EXTERNAL_ONLY_SHARE {
                (None, Some(format!("crm-{cid}")))
            } else {
                let x = rng.random::<f64>();
                let domain = if x < major_share {
                    pick(&mut rng, &MAJOR_DOMAINS).to_owned()
                } else if x < major_share + LISTED_DOMAIN_SHARE && !listed.is_empty() {
                    // Zipf-like by rank.
                    let rank = ((listed.len() as f64).powf(rng.random::<f64>()) as usize).saturating_sub(1);
                    listed[rank.min(listed.len() - 1)].clone()
                } else {
                    let company = ((50_000f64).powf(rng.random::<f64>())) as u64;
                    format!("company{company}.example.com")
                };
                (Some(format!("u{cid}@{domain}")), None)
            }
        } else {
            (None, None)
        };
        let provider = match &email {
            Some(e) => provider_for_domain(e.split_once('@').expect("has @").1, None).key(),
            None => "none",
        };
        let channel = if known { pick(&mut rng, &CHANNELS) } else { "tracking" };
        let stage = if known { pick(&mut rng, &STAGES) } else { "" };
        let country = pick(&mut rng, &COUNTRIES);
        let (region, city) =
            if country == "US" && rng.random::<f64>() < 0.8 { US_PLACES[rng.random_range(0..US_PLACES.len())] } else { ("", "") };
        let cohort = rng.random_range(0..COHORTS);

        // When the contact was added (known) or first seen (anonymous):
        // skewed to recent, as growing lists are.
        let created_at = if known {
            NOW - DAY - ((730.0 * rng.random::<f64>().powf(1.6)) * DAY as f64) as Secs
        } else {
            NOW - 3600 - ((365.0 * rng.random::<f64>().powf(1.3)) * DAY as f64) as Secs
        };

        // Sessions laid out in slots so that gaps are always ≥ 1 h (the
        // idle timeout cannot join them) and each lasts < 1 h.
        let n_wanted = if known && rng.random::<f64>() < 0.25 { 0 } else { session_count(&mut rng) };
        let span = NOW - 3600 - created_at;
        let n_sessions = n_wanted.min((span / (3 * 3600)).max(1) as u64);
        let slot = if n_sessions > 0 { span / n_sessions as Secs } else { 0 };
        let subject = match (&email, &external_id) {
            (Some(e), _) => format!("\"email\":\"{e}\""),
            (None, Some(x)) => format!("\"external_id\":\"{x}\""),
            (None, None) => format!("\"visitor_id\":\"v{cid}\""),
        };
        let geo = if known || country.is_empty() {
            String::new()
        } else if region.is_empty() {
            format!(",\"country\":\"{country}\"")
        } else {
            format!(",\"country\":\"{country}\",\"region\":\"{region}\",\"city\":\"{city}\"")
        };
        let source = if n_sessions > 0 { pick(&mut rng, &SOURCES) } else { "" };
        let mut sessions: Vec<SessionFact> = Vec::with_capacity(n_sessions as usize);
        let mut last_web: Option<Secs> = None;
        for k in 0..n_sessions {
            let offset = if k == 0 && !known { 0 } else { rng.random_range(0..(slot - 2 * 3600).max(1)) };
            let start = created_at + k as Secs * slot + offset;
            let page_views = if rng.random::<f64>() < 0.45 { 1 } else { 2 + (normal(&mut rng).abs() * 3.0) as u32 }.min(12);
            let mut at = start;
            for p in 0..page_views {
                if p > 0 {
                    at += rng.random_range(5..300);
                }
                let path = PATHS[(rng.random::<f64>().powi(2) * PATHS.len() as f64) as usize];
                let landing = if k == 0 && p == 0 {
                    landing(&mut rng, source, path)
                } else {
                    format!(",\"url\":\"https://shop.example{path}\"")
                };
                w.event_line(
                    &mut generated,
                    format_args!("{{\"type\":\"page_view\",{subject},\"timestamp\":{at}{landing}{geo}}}"),
                )?;
                generated.web_events += 1;
            }
            if rng.random::<f64>() < 0.5 {
                at += rng.random_range(5..120);
                w.event_line(&mut generated, format_args!("{{\"type\":\"heartbeat\",{subject},\"timestamp\":{at}}}"))?;
                generated.web_events += 1;
            }
            last_web = Some(at);
            sessions.push(SessionFact { start, end: at, page_views });
        }

        // Email: the CSV's (or NDJSON's) consent column is recorded at
        // import time (after every event), so it decides opted-in and
        // pending; unsubscribe events go only to contacts without consent.
        let status = if email.is_some() {
            pick(&mut rng, &[("subscribed", 0.58), ("pending", 0.05), ("unsubscribed", 0.07), ("non-subscribed", 0.30)])
        } else {
            ""
        };
        let (mut bounced, mut complained, mut unsubscribed) = (false, false, status == "unsubscribed");
        let mut last_mail_engaged: Option<Secs> = None;
        if let Some(e) = &email {
            let campaigns = pick(&mut rng, &[("0", 0.2), ("1", 0.3), ("2", 0.25), ("3", 0.15), ("5", 0.1)]).parse::<u32>()?;
            let mut times: Vec<Secs> = (0..campaigns).map(|_| rng.random_range(created_at..NOW - 600)).collect();
            times.sort_unstable();
            for at in times {
                if bounced {
                    break;
                }
                let emit = |w: &mut Writers, generated: &mut Generated, at: Secs, kind: &str| -> Result<()> {
                    generated.email_events += 1;
                    w.event_line(
                        generated,
                        format_args!("{{\"type\":\"email\",\"email\":\"{e}\",\"timestamp\":{at},\"kind\":\"{kind}\"}}"),
                    )
                };
                emit(&mut w, &mut generated, at, "sent")?;
                if rng.random::<f64>() < 0.004 {
                    emit(&mut w, &mut generated, at + 5, "hard_bounced")?;
                    bounced = true;
                    continue;
                }
                emit(&mut w, &mut generated, at + 5, "delivered")?;
                if rng.random::<f64>() < 0.3 {
                    emit(&mut w, &mut generated, at + 300, "opened")?;
                    last_mail_engaged = Some(at + 300);
                    if rng.random::<f64>() < 0.15 {
                        emit(&mut w, &mut generated, at + 320, "clicked")?;
                        last_mail_engaged = Some(at + 320);
                    }
                }
                if rng.random::<f64>() < 0.001 {
                    emit(&mut w, &mut generated, at + 400, "complained")?;
                    complained = true;
                }
                if status == "non-subscribed" && rng.random::<f64>() < 0.01 {
                    emit(&mut w, &mut generated, at + 500, "unsubscribed")?;
                    unsubscribed = true;
                }
            }
        }
        let last_engaged = last_web.max(last_mail_engaged);

        // The contact's creation line.
        if known {
            generated.known += 1;
            let created = segscope_core::time::format_instant(created_at);
            let first_name = ["Ada", "Grace", "Linus", "Margaret", "Alan", "Barbara", "Edsger", "Frances"][cid as usize % 8];
            if channel == "import" {
                generated.csv_rows += 1;
                writeln!(
                    w.csv,
                    "{},{},{first_name},{created},{stage},{country},{region},{city},{status},{cohort}",
                    email.as_deref().unwrap_or(""),
                    external_id.as_deref().unwrap_or(""),
                )?;
            } else {
                generated.ndjson_contacts += 1;
                let out = &mut w.channel_files.iter_mut().find(|(c, _)| c == channel).expect("channel file").1;
                let identity = match (&email, &external_id) {
                    (Some(e), _) => format!("\"email\":\"{e}\""),
                    (None, Some(x)) => format!("\"external_id\":\"{x}\""),
                    _ => unreachable!("known contacts have an identity"),
                };
                let mut fields = format!("\"first_name\":\"{first_name}\",\"cohort\":{cohort}");
                for (key, value) in
                    [("stage", stage), ("country", country), ("region", region), ("city", city), ("email_status", status)]
                {
                    if !value.is_empty() {
                        fields.push_str(&format!(",\"{key}\":\"{value}\""));
                    }
                }
                writeln!(out, "{{\"type\":\"contact\",{identity},\"created_at\":{created_at},\"fields\":{{{fields}}}}}")?;
            }
        } else {
            generated.anonymous += 1;
        }

        // The facts, for the reference engines.
        let b = |flag: bool| u8::from(flag);
        writeln!(
            w.ref_contacts,
            "{cid},{},{},{created_at},{stage},{channel},{source},{provider},{country},{region},{city},{},{},{},{},{},{}",
            b(known),
            b(email.is_some()),
            b(status == "subscribed"),
            b(status == "pending"),
            b(unsubscribed),
            b(bounced),
            b(complained),
            last_engaged.map_or(String::new(), |t| t.to_string()),
        )?;
        for s in &sessions {
            writeln!(w.ref_sessions, "{cid},{},{},{}", s.start, s.end - s.start, s.page_views)?;
        }
        generated.sessions += sessions.len() as u64;
        // Membership of the two benchmarked segments (see `segments`).
        if !known || matches!(country, "US" | "DE" | "FR") {
            writeln!(w.ref_members, "half,{cid}")?;
            generated.half_members += 1;
        }
        if known && cohort < small_cohort_limit {
            writeln!(w.ref_members, "small,{cid}")?;
            generated.small_members += 1;
        }
    }
    let _ = today_start;
    if let Some(mut events) = w.events.take() {
        events.flush()?;
    }
    w.csv.flush()?;
    for (channel, mut out) in w.channel_files {
        out.flush()?;
        generated.contact_files.push((channel.clone(), format!("contacts-{channel}.ndjson")));
    }
    w.ref_contacts.flush()?;
    w.ref_sessions.flush()?;
    w.ref_members.flush()?;
    write_meta(dir, config, &generated)?;
    Ok(generated)
}

/// The landing page view: referrer and UTM that make its first-touch
/// source unambiguous under `segscope_core::model::classify_touch`.
fn landing(rng: &mut ChaCha8Rng, source: &str, path: &str) -> String {
    let url = |query: &str| format!(",\"url\":\"https://shop.example{path}{query}\"");
    match source {
        "organic_search" => {
            let engine = ["google.com", "bing.com", "duckduckgo.com"][rng.random_range(0..3)];
            format!("{},\"referrer\":\"https://www.{engine}/\"", url(""))
        }
        "paid_search" => url("?utm_source=google&utm_medium=cpc&utm_campaign=brand"),
        "social" => {
            let network = ["facebook.com", "linkedin.com", "reddit.com"][rng.random_range(0..3)];
            format!("{},\"referrer\":\"https://www.{network}/\"", url(""))
        }
        "email" => url("?utm_source=newsletter&utm_medium=email"),
        "referral" => format!("{},\"referrer\":\"https://blog.partner{}.example/post\"", url(""), rng.random_range(0..200)),
        "other" => url("?utm_source=podcast"),
        _ => url(""),
    }
}

fn write_meta(dir: &Path, config: &Config, generated: &Generated) -> Result<()> {
    let meta = serde_json::json!({
        "seed": config.seed,
        "now": NOW,
        "contacts": generated.contacts,
        "known": generated.known,
        "anonymous": generated.anonymous,
        "csv_rows": generated.csv_rows,
        "ndjson_contacts": generated.ndjson_contacts,
        "sessions": generated.sessions,
        "events": generated.events,
        "web_events": generated.web_events,
        "email_events": generated.email_events,
        "event_files": generated.event_files,
        "contact_files": generated.contact_files,
        "small_cohort_limit": generated.small_cohort_limit,
        "half_members": generated.half_members,
        "small_members": generated.small_members,
    });
    std::fs::write(dir.join("meta.json"), serde_json::to_vec_pretty(&meta)?)?;
    Ok(())
}

/// Writes a contacts CSV of `rows` known contacts in the generator's mix
/// (the "1M-row CSV import" target), without events.
pub fn write_contacts_csv(path: &Path, rows: u64, seed: u64) -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    writeln!(out, "Email,External ID,First Name,Created At,Stage,Country,Region,City,Email Status,cohort")?;
    for i in 0..rows {
        let domain = pick(&mut rng, &MAJOR_DOMAINS);
        let created = segscope_core::time::format_instant(NOW - DAY - rng.random_range(0..730 * DAY));
        let stage = pick(&mut rng, &STAGES);
        let country = pick(&mut rng, &COUNTRIES);
        let (region, city) = if country == "US" { US_PLACES[rng.random_range(0..US_PLACES.len())] } else { ("", "") };
        let status = pick(&mut rng, &[("subscribed", 0.58), ("pending", 0.05), ("unsubscribed", 0.07), ("non-subscribed", 0.30)]);
        let cohort = rng.random_range(0..COHORTS);
        writeln!(out, "c{i}@{domain},,Ada,{created},{stage},{country},{region},{city},{status},{cohort}")?;
    }
    out.flush()?;
    Ok(())
}
