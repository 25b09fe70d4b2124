//! The seeded generator behind the demo workspace: a year of a small B2B
//! SaaS company's marketing data where no real data exists — contacts with
//! realistic spreads of stage, creation channel, country, email domain and
//! consent; anonymous visitors with sessions, first-touch sources and
//! identifies; fortnightly newsletters with opens, clicks, bounces and
//! unsubscribes. Same seed, same workspace.
//!
//! It emits a day-by-day plan of commands so that segments created early
//! get a real membership history (entries, exits, expiry of windows).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use segscope_core::engine::{Command, ContactUpsert};
use segscope_core::event::{BounceClass, EmailEvent, EmailKind, EventBody, EventInput, Identify, PageView, Subject};
use segscope_core::model::{Channel, Country, Geo, Utm, Value};
use segscope_core::time::{Secs, Tz, add_days};

/// One step of the plan, applied in order.
#[derive(Debug, Clone)]
pub enum Step {
    Apply {
        now: Secs,
        command: Command,
    },
    /// Create or update a segment from its text form once the data it
    /// names (attributes) exists.
    Segment {
        now: Secs,
        name: &'static str,
        description: &'static str,
        criteria: &'static str,
    },
    StaticList {
        now: Secs,
        name: &'static str,
        description: &'static str,
        members: Vec<String>,
    },
    Automation {
        now: Secs,
        journey: bool,
        name: &'static str,
        status: &'static str,
        kind: &'static str,
        segments: Vec<&'static str>,
    },
    /// Import the bundled real contacts CSV.
    RealContactsCsv {
        now: Secs,
    },
}

/// Weighted choice from a small table.
fn pick<'a, T>(rng: &mut ChaCha8Rng, table: &'a [(T, u32)]) -> &'a T {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for (item, weight) in table {
        if roll < *weight {
            return item;
        }
        roll -= weight;
    }
    &table[table.len() - 1].0
}

const FIRST_NAMES: &[&str] = &[
    "Emma", "Louis", "Jade", "Gabriel", "Léa", "Hugo", "Mia", "Noah", "Anna", "Lukas", "Sofia", "Elias", "Olivia", "James",
    "Amelia", "Oliver", "Isla", "Jack", "Lucía", "Mateo", "Giulia", "Leonardo", "Sanne", "Daan", "Chloé", "Arthur", "Ava",
    "Ethan", "Maja", "Finn", "Inès", "Raphaël", "Zoé", "Adam", "Nora", "Felix", "Camille", "Tom", "Ella", "Max",
];
const LAST_NAMES: &[&str] = &[
    "Martin",
    "Bernard",
    "Dubois",
    "Müller",
    "Schmidt",
    "Schneider",
    "Smith",
    "Jones",
    "Taylor",
    "García",
    "Rossi",
    "Russo",
    "de Jong",
    "Jansen",
    "Peeters",
    "Johnson",
    "Williams",
    "Brown",
    "Lefebvre",
    "Moreau",
    "Fischer",
    "Weber",
    "Wilson",
    "Romero",
    "Ferrari",
    "Bakker",
    "Nielsen",
    "Lambert",
    "Fontaine",
    "Novak",
];

/// Mail domains by share: consumer providers and company domains (some
/// hosted on Google Workspace or Microsoft 365, known through MX facts).
const DOMAINS: &[(&str, u32)] = &[
    ("gmail.com", 280),
    ("outlook.com", 55),
    ("hotmail.com", 45),
    ("hotmail.fr", 15),
    ("live.com", 10),
    ("yahoo.com", 45),
    ("yahoo.fr", 12),
    ("icloud.com", 40),
    ("me.com", 8),
    ("gmx.de", 25),
    ("web.de", 20),
    ("proton.me", 12),
    ("protonmail.com", 6),
    ("orange.fr", 25),
    ("free.fr", 15),
    ("aol.com", 8),
    ("yandex.com", 4),
    ("zoho.com", 3),
    ("acme-robotics.example", 40),
    ("northwind.example", 35),
    ("globex.example", 30),
    ("initech.example", 25),
    ("umbrella-labs.example", 20),
    ("hooli.example", 20),
    ("vandelay.example", 15),
    ("wayne-enterprises.example", 15),
    ("stark-industries.example", 12),
    ("tyrell.example", 10),
    ("cyberdyne.example", 10),
    ("soylent.example", 8),
];

/// MX facts for the company domains above.
pub const MX_FACTS: &[(&str, &str)] = &[
    ("acme-robotics.example", "aspmx.l.google.com"),
    ("northwind.example", "northwind-example.mail.protection.outlook.com"),
    ("globex.example", "alt1.aspmx.l.google.com"),
    ("initech.example", "initech-example.mail.protection.outlook.com"),
    ("umbrella-labs.example", "mx.zoho.eu"),
    ("hooli.example", "aspmx.l.google.com"),
    ("vandelay.example", "mail.vandelay.example"),
    ("wayne-enterprises.example", "wayne-example.mail.protection.outlook.com"),
    ("stark-industries.example", "aspmx.l.google.com"),
    ("tyrell.example", "mx01.mail.icloud.com"),
];

/// Countries by share, with regions and cities.
const PLACES: &[((&str, &str, &str), u32)] = &[
    (("FR", "Île-de-France", "Paris"), 120),
    (("FR", "Auvergne-Rhône-Alpes", "Lyon"), 40),
    (("FR", "Occitanie", "Toulouse"), 25),
    (("FR", "Provence-Alpes-Côte d'Azur", "Marseille"), 20),
    (("DE", "Berlin", "Berlin"), 45),
    (("DE", "Bavaria", "Munich"), 35),
    (("DE", "Hamburg", "Hamburg"), 20),
    (("GB", "England", "London"), 70),
    (("GB", "England", "Manchester"), 20),
    (("GB", "Scotland", "Edinburgh"), 10),
    (("US", "California", "San Francisco"), 45),
    (("US", "New York", "New York"), 50),
    (("US", "Texas", "Austin"), 20),
    (("US", "Washington", "Seattle"), 15),
    (("ES", "Madrid", "Madrid"), 25),
    (("ES", "Catalonia", "Barcelona"), 25),
    (("IT", "Lombardy", "Milan"), 25),
    (("IT", "Lazio", "Rome"), 15),
    (("NL", "North Holland", "Amsterdam"), 30),
    (("BE", "Brussels", "Brussels"), 20),
    (("CA", "Quebec", "Montreal"), 15),
    (("CA", "Ontario", "Toronto"), 15),
    (("CH", "Zurich", "Zurich"), 12),
    (("SE", "Stockholm", "Stockholm"), 10),
    (("PL", "Masovia", "Warsaw"), 10),
    (("BR", "São Paulo", "São Paulo"), 10),
    (("IN", "Karnataka", "Bengaluru"), 12),
    (("JP", "Tokyo", "Tokyo"), 8),
    (("AU", "New South Wales", "Sydney"), 8),
];

const STAGES: &[(Option<&str>, u32)] = &[
    (Some("Raw lead"), 38),
    (Some("Marketing ready"), 22),
    (Some("Marketing engaged"), 16),
    (Some("Marketing qualified"), 10),
    (Some("Sales ready"), 5),
    (None, 9),
];

const PAGES: &[(&str, u32)] = &[
    ("/", 30),
    ("/features", 14),
    ("/pricing", 12),
    ("/blog/segment-analytics-101", 8),
    ("/blog/known-vs-anonymous", 6),
    ("/blog/email-deliverability", 6),
    ("/blog/growth-charts", 4),
    ("/docs/getting-started", 6),
    ("/docs/api", 4),
    ("/customers", 4),
    ("/signup", 3),
    ("/contact", 2),
    ("/webinar/spring", 1),
];

/// (referrer, utm_source, utm_medium) of a first visit.
/// (referrer, utm_source, utm_medium) and a weight.
type Arrival = (Option<&'static str>, Option<&'static str>, Option<&'static str>);

const ARRIVALS: &[(Arrival, u32)] = &[
    ((Some("https://www.google.com/"), None, None), 34),
    ((Some("https://www.bing.com/"), None, None), 5),
    ((Some("https://duckduckgo.com/"), None, None), 3),
    ((None, None, None), 22),
    ((Some("https://www.linkedin.com/feed/"), None, None), 7),
    ((Some("https://t.co/abc123"), None, None), 3),
    ((None, Some("facebook"), Some("social")), 3),
    ((None, Some("newsletter"), Some("email")), 7),
    ((Some("https://www.google.com/"), Some("google"), Some("cpc")), 6),
    ((Some("https://news.ycombinator.com/"), None, None), 4),
    ((Some("https://www.g2.com/products/segscope"), None, None), 4),
    ((None, Some("podcast"), Some("audio")), 2),
];

struct Visitor {
    cookie: String,
    first_day: i64,
    sessions_left: u32,
    /// Email it will identify with, and on which session.
    identifies: Option<(String, u32)>,
    sessions_done: u32,
    place: (&'static str, &'static str, &'static str),
}

/// The demo timeline: `days` local days ending today, in `tz`.
pub fn plan(seed: u64, now: Secs, tz: &Tz, days: i64) -> Vec<Step> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let today = tz.local_date(now);
    let first_day = add_days(today, 1 - days);
    let day_end = |d: i64| -> Secs {
        let date = add_days(first_day, d);
        if date == today { now } else { tz.start_of_day(add_days(date, 1)) - 60 }
    };
    let at_in_day = |rng: &mut ChaCha8Rng, d: i64| -> Secs {
        let start = tz.start_of_day(add_days(first_day, d));
        let end = day_end(d);
        // Office-hours-ish: most activity between 08:00 and 22:00 local.
        let span = (end - start).max(60);
        let offset = if rng.random_bool(0.85) {
            span * 8 / 24 + rng.random_range(0..(span * 14 / 24).max(1))
        } else {
            rng.random_range(0..span)
        };
        (start + offset).min(end)
    };

    let mut steps = Vec::new();
    let mut emails: Vec<(String, i64, bool)> = Vec::new(); // (email, created day, opted in)
    let mut used_emails = std::collections::HashSet::new();
    let mut visitors: Vec<Visitor> = Vec::new();
    let mut next_cookie = 0u32;

    for (domain, host) in MX_FACTS {
        steps.push(Step::Apply {
            now: day_end(0) - 3_000,
            command: Command::RecordMx { domain: (*domain).to_owned(), hosts: vec![(*host).to_owned()] },
        });
    }

    let mut new_email = |rng: &mut ChaCha8Rng, first: &str, last: &str| -> String {
        loop {
            let domain = pick(rng, DOMAINS);
            let local = match rng.random_range(0..4) {
                0 => format!("{}.{}", first, last),
                1 => format!("{}{}", &first[..1], last),
                2 => format!("{}{}", first, rng.random_range(1..99)),
                _ => format!("{}_{}", first, last),
            };
            let local: String = local
                .to_lowercase()
                .chars()
                .map(|c| match c {
                    'é' | 'è' => 'e',
                    'ü' => 'u',
                    'í' => 'i',
                    'ë' => 'e',
                    ' ' => '-',
                    c => c,
                })
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                .collect();
            let email = format!("{local}@{domain}");
            if used_emails.insert(email.clone()) {
                return email;
            }
        }
    };

    for d in 0..days {
        let growth = 1.0 + 1.5 * d as f64 / days as f64;
        let now_d = day_end(d);
        let weekday = add_days(first_day, d).weekday().to_monday_one_offset();
        let weekend = weekday >= 6;

        // Known contacts added today (forms, API, manual, integrations).
        let mut upserts = Vec::new();
        let new_known = (rng.random_range(3..9) as f64 * growth * if weekend { 0.4 } else { 1.0 }) as usize;
        for _ in 0..new_known {
            let first = *FIRST_NAMES.get(rng.random_range(0..FIRST_NAMES.len())).expect("index");
            let last = *LAST_NAMES.get(rng.random_range(0..LAST_NAMES.len())).expect("index");
            let email = new_email(&mut rng, first, last);
            let place = *pick(&mut rng, PLACES);
            let stage = *pick(&mut rng, STAGES);
            let consent = *pick(&mut rng, &[("subscribed", 58), ("pending", 8), ("non-subscribed", 30), ("unsubscribed", 4)]);
            let mut fields: Vec<(String, Option<Value>)> = vec![
                ("first_name".into(), Some(Value::Text(first.into()))),
                ("last_name".into(), Some(Value::Text(last.into()))),
                ("country".into(), Some(Value::Text(place.0.into()))),
                ("region".into(), Some(Value::Text(place.1.into()))),
                ("city".into(), Some(Value::Text(place.2.into()))),
                ("email_status".into(), Some(Value::Text(consent.into()))),
                (
                    "company_size".into(),
                    Some(Value::Number(f64::from(*pick(&mut rng, &[(5, 30), (25, 30), (120, 20), (800, 12), (5000, 8)])))),
                ),
                (
                    "plan".into(),
                    Some(Value::Text((*pick(&mut rng, &[("free", 55), ("starter", 25), ("pro", 15), ("enterprise", 5)])).into())),
                ),
                ("lead_score".into(), Some(Value::Number(f64::from(rng.random_range(0..100u32))))),
            ];
            if let Some(stage) = stage {
                fields.push(("stage".into(), Some(Value::Text(stage.into()))));
            }
            if rng.random_bool(0.15) {
                fields.push((
                    "tags".into(),
                    Some(Value::List(vec![
                        (*pick(&mut rng, &[("webinar", 3), ("partner", 1), ("beta", 2), ("event-2026", 2)])).into(),
                    ])),
                ));
            }
            emails.push((email.clone(), d, consent == "subscribed"));
            upserts.push(ContactUpsert {
                email: Some(email),
                external_id: None,
                fields,
                created_at: Some(at_in_day(&mut rng, d)),
            });
        }
        let channel = *pick(
            &mut rng,
            &[(Channel::Form, 45), (Channel::Api, 20), (Channel::Manual, 10), (Channel::Integration, 15), (Channel::Import, 10)],
        );
        if !upserts.is_empty() {
            steps.push(Step::Apply { now: now_d, command: Command::UpsertContacts { contacts: upserts, channel, list: None } });
        }

        // Web traffic: new anonymous visitors and returning ones.
        let mut events: Vec<EventInput> = Vec::new();
        let arrivals = (rng.random_range(10..22) as f64 * growth * if weekend { 0.6 } else { 1.0 }) as usize;
        for _ in 0..arrivals {
            next_cookie += 1;
            let identifies = if rng.random_bool(0.16) {
                // Either a new person (form) or an existing contact coming back.
                let email = if !emails.is_empty() && rng.random_bool(0.4) {
                    emails[rng.random_range(0..emails.len())].0.clone()
                } else {
                    let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
                    let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
                    new_email(&mut rng, first, last)
                };
                Some((email, rng.random_range(0..3)))
            } else {
                None
            };
            let sessions = *pick(&mut rng, &[(1, 50), (2, 20), (3, 12), (5, 9), (8, 6), (15, 3)]);
            visitors.push(Visitor {
                cookie: format!("v{next_cookie:06}"),
                first_day: d,
                sessions_left: sessions,
                identifies,
                sessions_done: 0,
                place: *pick(&mut rng, PLACES),
            });
        }
        for visitor in visitors.iter_mut().filter(|v| v.sessions_left > 0) {
            let due = visitor.first_day == d || (d > visitor.first_day && rng.random_bool(0.12));
            if !due {
                continue;
            }
            visitor.sessions_left -= 1;
            let mut at = at_in_day(&mut rng, d);
            let first_visit = visitor.sessions_done == 0;
            let (referrer, source, medium) = if first_visit { *pick(&mut rng, ARRIVALS) } else { (None, None, None) };
            let pages = *pick(&mut rng, &[(1, 38), (2, 22), (3, 16), (4, 10), (6, 8), (9, 6)]);
            let (country, region, city) = visitor.place;
            let geo = Geo { country: Country::parse(country).ok(), region: Some(region.into()), city: Some(city.into()) };
            for page in 0..pages {
                let path = if page == 0 && first_visit && rng.random_bool(0.5) { "/" } else { *pick(&mut rng, PAGES) };
                events.push(EventInput {
                    subject: Subject::Visitor(visitor.cookie.clone()),
                    at,
                    body: EventBody::PageView(PageView {
                        url: format!("https://www.segscope-demo.example{path}"),
                        referrer: if page == 0 {
                            referrer.map(str::to_owned)
                        } else {
                            Some("https://www.segscope-demo.example/".into())
                        },
                        utm: if page == 0 {
                            Utm { source: source.map(str::to_owned), medium: medium.map(str::to_owned), campaign: None }
                        } else {
                            Utm::default()
                        },
                        bot: false,
                        status: Some(200),
                        geo: Some(geo.clone()),
                    }),
                });
                let dwell = rng.random_range(8..240);
                if rng.random_bool(0.7) {
                    events.push(EventInput {
                        subject: Subject::Visitor(visitor.cookie.clone()),
                        at: at + dwell,
                        body: EventBody::Heartbeat,
                    });
                }
                at += dwell + rng.random_range(2..30);
            }
            if let Some((email, on_session)) = &visitor.identifies
                && *on_session == visitor.sessions_done
            {
                events.push(EventInput {
                    subject: Subject::Visitor(visitor.cookie.clone()),
                    at,
                    body: EventBody::Identify(Identify { email: Some(email.clone()), external_id: None, traits: Vec::new() }),
                });
                if !emails.iter().any(|(e, _, _)| e == email) {
                    emails.push((email.clone(), d, false));
                }
            }
            visitor.sessions_done += 1;
        }

        // Fortnightly newsletter on Tuesdays to opted-in contacts.
        if weekday == 2 && (d / 7) % 2 == 0 {
            let send_at = tz.start_of_day(add_days(first_day, d)) + 9 * 3600;
            for (email, created, opted) in emails.iter().filter(|(_, created, opted)| *opted && *created < d) {
                let _ = created;
                let _ = opted;
                let mail = |kind: EmailKind, at: Secs| EventInput {
                    subject: Subject::Email(email.clone()),
                    at,
                    body: EventBody::Email(EmailEvent { kind, campaign: Some(format!("newsletter-{d}")) }),
                };
                events.push(mail(EmailKind::Sent, send_at));
                let roll: f64 = rng.random();
                if roll < 0.008 {
                    events.push(mail(EmailKind::Bounced(BounceClass::Hard), send_at + 30));
                    continue;
                }
                if roll < 0.03 {
                    events.push(mail(EmailKind::Bounced(BounceClass::Soft), send_at + 30));
                    continue;
                }
                if roll < 0.034 {
                    events.push(mail(EmailKind::Bounced(BounceClass::Block), send_at + 30));
                    continue;
                }
                events.push(mail(EmailKind::Delivered, send_at + 20));
                if rng.random_bool(0.38) {
                    let opened = send_at + rng.random_range(600..(36 * 3600));
                    events.push(mail(EmailKind::Opened, opened));
                    if rng.random_bool(0.22) {
                        events.push(mail(EmailKind::Clicked, opened + rng.random_range(5..600)));
                    }
                    if rng.random_bool(0.006) {
                        events.push(mail(EmailKind::Unsubscribed, opened + 120));
                    }
                    if rng.random_bool(0.0008) {
                        events.push(mail(EmailKind::Complained, opened + 60));
                    }
                }
            }
        }

        // Some contacts move along the funnel.
        for _ in 0..(rng.random_range(0..4) as f64 * growth) as usize {
            if emails.is_empty() {
                break;
            }
            let (email, created, _) = &emails[rng.random_range(0..emails.len())];
            if *created < d {
                let stage = *pick(&mut rng, &[("Marketing engaged", 4), ("Marketing qualified", 3), ("Sales ready", 1)]);
                events.push(EventInput {
                    subject: Subject::Email(email.clone()),
                    at: at_in_day(&mut rng, d),
                    body: EventBody::StageChange { stage: stage.into() },
                });
            }
        }
        // Product sign-ups and demo requests as custom events.
        for _ in 0..rng.random_range(0..5) {
            if emails.is_empty() {
                break;
            }
            let (email, created, _) = &emails[rng.random_range(0..emails.len())];
            if *created <= d {
                let name = *pick(&mut rng, &[("signup", 5), ("demo_requested", 2), ("trial_started", 3)]);
                events.push(EventInput {
                    subject: Subject::Email(email.clone()),
                    at: at_in_day(&mut rng, d),
                    body: EventBody::Track { name: name.into() },
                });
            }
        }

        if !events.is_empty() {
            // Contacts named by email must exist before their events: the
            // day's upserts are applied first (above), and events are
            // applied in time order as a tracker would deliver them.
            events.sort_by_key(|e| e.at);
            for chunk in events.chunks(segscope_core::engine::MAX_BATCH) {
                steps.push(Step::Apply { now: now_d, command: Command::RecordEvents { events: chunk.to_vec() } });
            }
        }

        if d == 45 {
            steps.push(Step::RealContactsCsv { now: now_d });
        }
        if d == 21 {
            steps.extend(segments(now_d));
        }
        if d == 25 {
            steps.extend(automations(now_d));
            let vip: Vec<String> = emails.iter().filter(|(_, c, _)| *c < 20).take(25).map(|(e, _, _)| e.clone()).collect();
            steps.push(Step::StaticList {
                now: now_d,
                name: "VIP accounts",
                description: "Hand-picked accounts that sales follows personally.",
                members: vip,
            });
        }
    }
    steps
}

/// The demo segments: together they use field, relative-date,
/// behaviour-window, email-event, segment-reference and known/anonymous
/// criteria.
fn segments(now: Secs) -> Vec<Step> {
    let segment = |name, description, criteria| Step::Segment { now, name, description, criteria };
    vec![
        segment(
            "Engaged visitors",
            "Anyone, known or not, with at least two sessions in the last 30 days.",
            "had at least 2 sessions in last 30 days",
        ),
        segment(
            "Pricing page interest",
            "Visited the pricing page at least twice in the last 14 days.",
            "visited \"/pricing\" at least 2 times in last 14 days",
        ),
        segment("New this week", "Contacts added or first seen in the last 7 days.", "created_at in last 7 days"),
        segment(
            "Newsletter readers",
            "Opened or clicked a newsletter in the last 30 days.",
            "email opened in last 30 days OR email clicked in last 30 days",
        ),
        segment(
            "Qualified leads in Europe",
            "Marketing qualified or sales ready, in the EU, UK or Switzerland.",
            "stage >= \"Marketing qualified\" AND country in [\"FR\", \"DE\", \"GB\", \"ES\", \"IT\", \"NL\", \"BE\", \"CH\", \"SE\", \"PL\"]",
        ),
        segment(
            "Hot leads",
            "Pricing interest and a recent newsletter read, or a demo request, excluding unsubscribed contacts.",
            "(member of \"Pricing page interest\" AND member of \"Newsletter readers\" OR performed \"demo_requested\" in last 30 days) AND NOT unsubscribed = true",
        ),
        segment(
            "Anonymous browsers",
            "Visitors we cannot name yet who came back in the last 30 days.",
            "contact is anonymous AND had at least 1 session in last 30 days",
        ),
        segment(
            "Deliverability problems",
            "Bounced, complained or unsubscribed: keep them out of sends.",
            "bounced = true OR complained = true OR unsubscribed = true",
        ),
    ]
}

fn automations(now: Secs) -> Vec<Step> {
    let a = |journey, name, status, kind, segments: &[&'static str]| Step::Automation {
        now,
        journey,
        name,
        status,
        kind,
        segments: segments.to_vec(),
    };
    vec![
        a(true, "Welcome series", "active", "welcome", &["New this week"]),
        a(true, "Pricing follow-up", "active", "nurture", &["Pricing page interest", "Hot leads"]),
        a(true, "Re-engagement", "paused", "re-engagement", &["Engaged visitors"]),
        a(false, "Spring newsletter", "completed", "newsletter", &["Newsletter readers"]),
        a(false, "Product launch", "scheduled", "announcement", &["Hot leads", "Qualified leads in Europe"]),
        a(false, "List hygiene", "draft", "cleanup", &["Deliverability problems"]),
    ]
}
