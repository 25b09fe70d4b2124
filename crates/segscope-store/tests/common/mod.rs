//! Shared fixtures of the store's integration tests: a workspace history
//! that touches every kind of state (contacts, identify merges, sessions,
//! email events, dynamic segments with relative dates and references, a
//! static list, journeys and campaigns, keys), and a fingerprint of
//! everything the backend answers, so "the same state" is one string
//! comparison.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::Path;

use segscope_core::backend::{ApiKey, Backend, KeyKind};
use segscope_core::engine::{ALL_CONTACTS, Command, ContactRef, ContactUpsert, Definition, Reason, SegmentSpec};
use segscope_core::event::{BounceClass, EmailEvent, EmailKind, EventBody, EventInput, Identify, PageView, Subject};
use segscope_core::ids::{SegmentId, WorkspaceId};
use segscope_core::model::{AttrType, AutomationKind, AutomationSpec, Channel, Country, Settings, Status, Utm, Value};
use segscope_core::summary::{SummaryRequest, View};
use segscope_core::time::{Granularity, Secs, TimeRange, Tz};
use segscope_store::{Store, StoreOptions};

/// 2024-03-01T00:00:00Z.
pub const T0: Secs = 1_709_251_200;
pub const DAY: Secs = 86_400;

pub fn id(name: &str) -> WorkspaceId {
    WorkspaceId::parse(name).unwrap()
}

pub fn open(dir: &Path) -> Store {
    Store::open(dir, StoreOptions::default()).unwrap()
}

pub fn contact(email: &str, fields: &[(&str, Value)], created_at: Option<Secs>) -> ContactUpsert {
    ContactUpsert {
        email: Some(email.to_owned()),
        external_id: None,
        fields: fields.iter().map(|(name, value)| ((*name).to_owned(), Some(value.clone()))).collect(),
        created_at,
    }
}

pub fn text(value: &str) -> Value {
    Value::Text(value.to_owned())
}

pub fn upsert(contacts: Vec<ContactUpsert>, channel: Channel) -> Command {
    Command::UpsertContacts { contacts, channel, list: None }
}

pub fn page_view(visitor: &str, at: Secs, url: &str, referrer: Option<&str>, utm_source: Option<&str>) -> EventInput {
    EventInput {
        subject: Subject::Visitor(visitor.to_owned()),
        at,
        body: EventBody::PageView(PageView {
            url: url.to_owned(),
            referrer: referrer.map(str::to_owned),
            utm: Utm { source: utm_source.map(str::to_owned), medium: None, campaign: None },
            bot: false,
            status: None,
            geo: None,
        }),
    }
}

pub fn heartbeat(visitor: &str, at: Secs) -> EventInput {
    EventInput { subject: Subject::Visitor(visitor.to_owned()), at, body: EventBody::Heartbeat }
}

pub fn identify(visitor: &str, at: Secs, email: &str) -> EventInput {
    EventInput {
        subject: Subject::Visitor(visitor.to_owned()),
        at,
        body: EventBody::Identify(Identify { email: Some(email.to_owned()), external_id: None, traits: vec![] }),
    }
}

pub fn mail(email: &str, at: Secs, kind: EmailKind) -> EventInput {
    EventInput {
        subject: Subject::Email(email.to_owned()),
        at,
        body: EventBody::Email(EmailEvent { kind, campaign: Some("spring".to_owned()) }),
    }
}

pub fn events(events: Vec<EventInput>) -> Command {
    Command::RecordEvents { events }
}

fn user(i: usize) -> String {
    const DOMAINS: [&str; 6] = ["gmail.com", "outlook.com", "yahoo.fr", "example.org", "proton.me", "icloud.com"];
    format!("user{i}@{}", DOMAINS[i % DOMAINS.len()])
}

fn segment_id(store: &Store, ws: &WorkspaceId, name: &str) -> SegmentId {
    let schema = store.schema(ws).unwrap();
    *schema.segments.iter().find(|(_, n)| n.as_str() == name).unwrap().0
}

fn dynamic(store: &Store, ws: &WorkspaceId, name: &str, criteria: &str) -> SegmentSpec {
    let criteria = store.schema(ws).unwrap().parse_text(criteria).unwrap();
    SegmentSpec { name: name.to_owned(), description: format!("{name} segment"), definition: Definition::Dynamic(criteria) }
}

fn apply(store: &Store, ws: &WorkspaceId, command: Command, now: Secs) {
    store.apply(ws, command, now).unwrap();
}

/// The first half of the history: creation, contacts, a list, web and
/// email events with identify merges, dynamic segments, automations, keys.
pub fn build_part_one(store: &Store, ws: &WorkspaceId) {
    store.create_workspace(ws, Settings::default(), T0 - 60 * DAY).unwrap();
    for (key_id, kind, revoked) in [("key_a", KeyKind::Secret, false), ("key_w", KeyKind::Write, false)] {
        store
            .add_key(ApiKey {
                id: key_id.to_owned(),
                workspace: ws.clone(),
                kind,
                hash: format!("hash-{ws}-{key_id}"),
                label: format!("{key_id} label"),
                created_at: T0,
                revoked,
            })
            .unwrap();
    }
    apply(store, ws, Command::DeclareAttribute { name: "plan".to_owned(), attr_type: AttrType::Text }, T0);
    apply(store, ws, Command::DeclareAttribute { name: "score".to_owned(), attr_type: AttrType::Number }, T0);

    let stages = ["Raw lead", "Marketing ready", "Marketing engaged", "Sales ready", ""];
    let countries = ["FR", "DE", "US", ""];
    let statuses = ["subscribed", "pending", "non-subscribed"];
    let contacts = (0..24)
        .map(|i| {
            let mut fields = vec![
                ("first_name", text(&format!("Name{i}"))),
                ("plan", text(if i % 2 == 0 { "free" } else { "pro" })),
                ("score", Value::Number(i as f64)),
                ("email_status", text(statuses[i % 3])),
            ];
            if !stages[i % 5].is_empty() {
                fields.push(("stage", text(stages[i % 5])));
            }
            if !countries[i % 4].is_empty() {
                fields.push(("country", text(countries[i % 4])));
            }
            contact(&user(i), &fields, Some(T0 - (i as Secs) * 2 * DAY))
        })
        .collect();
    apply(store, ws, upsert(contacts, Channel::Import), T0);

    let vip = SegmentSpec { name: "VIP".to_owned(), description: String::new(), definition: Definition::Static };
    apply(store, ws, Command::CreateSegment(vip), T0);
    let vip = segment_id(store, ws, "VIP");
    let members = (1..4).map(|i| ContactRef::Email(user(i))).collect();
    apply(store, ws, Command::AddToList { list: vip, contacts: members, reason: Reason::Manual }, T0);

    let day1 = T0 + DAY + 9 * 3600;
    let mut batch = Vec::new();
    for v in 1..=8 {
        let visitor = format!("v{v}");
        let at = day1 + v * 600;
        let (referrer, source) = match v % 3 {
            0 => (Some("https://www.google.com/"), None),
            1 => (Some("https://facebook.com/post"), Some("facebook")),
            _ => (None, None),
        };
        batch.push(page_view(&visitor, at, "https://shop.example/", referrer, source));
        batch.push(heartbeat(&visitor, at + 30));
        if v % 2 == 0 {
            batch.push(page_view(&visitor, at + 90, "https://shop.example/pricing", None, None));
        }
    }
    // v1 becomes an existing known contact (merge); v2 becomes known in place.
    batch.push(identify("v1", day1 + 2000, &user(0)));
    batch.push(identify("v2", day1 + 2100, "newbie@example.net"));
    for i in 0..6 {
        batch.push(mail(&user(i), day1, EmailKind::Sent));
        batch.push(mail(&user(i), day1 + 60, EmailKind::Delivered));
        if i % 2 == 0 {
            batch.push(mail(&user(i), day1 + 3600, EmailKind::Opened));
        }
        if i % 3 == 0 {
            batch.push(mail(&user(i), day1 + 3700, EmailKind::Clicked));
        }
    }
    batch.push(mail(&user(6), day1, EmailKind::Bounced(BounceClass::Hard)));
    batch.push(mail(&user(7), day1, EmailKind::Bounced(BounceClass::Soft)));
    batch.push(mail(&user(8), day1, EmailKind::Complained));
    batch.push(mail(&user(9), day1, EmailKind::Unsubscribed));
    batch.push(EventInput { subject: Subject::Email(user(1)), at: day1, body: EventBody::Track { name: "signup".to_owned() } });
    batch.push(EventInput {
        subject: Subject::Email(user(2)),
        at: day1,
        body: EventBody::StageChange { stage: "Sales ready".to_owned() },
    });
    apply(store, ws, events(batch), day1 + 4000);

    let day2 = T0 + 2 * DAY;
    for (name, criteria) in [
        ("Recent", "created_at in last 7 days"),
        ("Engaged", "email opened in last 30 days OR visited \"/pricing\""),
        ("Engaged FR", "member of \"Engaged\" AND country = \"FR\""),
        ("Visitors", "contact is anonymous"),
        ("Pro", "plan = \"pro\" AND score >= 5"),
    ] {
        apply(store, ws, Command::CreateSegment(dynamic(store, ws, name, criteria)), day2);
    }
    let engaged = segment_id(store, ws, "Engaged");
    let pro = segment_id(store, ws, "Pro");
    let journey = AutomationSpec {
        name: "Welcome".to_owned(),
        status: Status::Active,
        subtype: "welcome".to_owned(),
        segment_ids: vec![engaged],
    };
    apply(store, ws, Command::CreateAutomation { kind: AutomationKind::Journey, spec: journey }, day2);
    let campaign = AutomationSpec {
        name: "Newsletter".to_owned(),
        status: Status::Draft,
        subtype: "newsletter".to_owned(),
        segment_ids: vec![vip, pro],
    };
    apply(store, ws, Command::CreateAutomation { kind: AutomationKind::Campaign, spec: campaign }, day2);
}

/// The second half: later visits and merges, edits, deletes, list changes,
/// MX data, a time-zone change, automation updates, a revoked key.
pub fn build_part_two(store: &Store, ws: &WorkspaceId) {
    let day3 = T0 + 3 * DAY + 10 * 3600;
    let batch = vec![
        page_view("v3", day3, "https://shop.example/pricing", Some("https://www.bing.com/"), None),
        heartbeat("v3", day3 + 400),
        identify("v3", day3 + 500, &user(3)),
        page_view("v9", day3 + 50, "https://shop.example/blog", None, Some("newsletter")),
        mail(&user(10), day3, EmailKind::Opened),
        mail(&user(11), day3, EmailKind::OptInConfirmed),
    ];
    apply(store, ws, events(batch), day3 + 600);

    let day4 = T0 + 4 * DAY;
    let pro = segment_id(store, ws, "Pro");
    apply(store, ws, Command::UpdateSegment { id: pro, spec: dynamic(store, ws, "Pro", "plan = \"pro\"") }, day4);
    apply(store, ws, Command::DeleteContact(ContactRef::Email(user(11))), day4);
    apply(store, ws, Command::MergeContacts { keep: ContactRef::Email(user(12)), absorb: ContactRef::Email(user(13)) }, day4);
    let vip = segment_id(store, ws, "VIP");
    apply(store, ws, Command::RemoveFromList { list: vip, contacts: vec![ContactRef::Email(user(2))] }, day4);

    let day5 = T0 + 5 * DAY;
    let newcomers = (0..5).map(|i| contact(&format!("late{i}@gmail.com"), &[("country", text("FR"))], None)).collect();
    apply(store, ws, upsert(newcomers, Channel::Api), day5);
    apply(store, ws, Command::RecordMx { domain: "example.org".to_owned(), hosts: vec!["aspmx.l.google.com".to_owned()] }, day5);

    let paris = Settings { time_zone: "Europe/Paris".to_owned(), ..Settings::default() };
    apply(store, ws, Command::UpdateSettings(paris), T0 + 8 * DAY);

    let day12 = T0 + 12 * DAY;
    let batch = vec![
        mail(&user(14), day12, EmailKind::OptInRequested),
        mail(&user(15), day12, EmailKind::Opened),
        page_view("v10", day12, "https://shop.example/pricing", None, None),
    ];
    apply(store, ws, events(batch), day12);
    let journey = AutomationSpec {
        name: "Welcome series".to_owned(),
        status: Status::Paused,
        subtype: "welcome".to_owned(),
        segment_ids: vec![segment_id(store, ws, "Engaged"), segment_id(store, ws, "Recent")],
    };
    apply(store, ws, Command::UpdateAutomation { kind: AutomationKind::Journey, id: 1, spec: journey }, day12);
    store.revoke_key(ws, "key_w").unwrap();
}

/// Everything the backend answers about a workspace at `now`, as text.
/// Reading at `now` may advance the workspace's day in memory, so compare
/// fingerprints taken in the same order of `now`s.
pub fn fingerprint(store: &Store, ws: &WorkspaceId, now: Secs) -> String {
    let mut out = String::new();
    let w = &mut out;
    writeln!(w, "workspaces {:?}", store.workspaces().unwrap()).unwrap();
    writeln!(w, "keys {:?}", store.keys(ws).unwrap()).unwrap();
    for key in store.keys(ws).unwrap() {
        writeln!(w, "by hash {:?}", store.key_by_hash(&key.hash).unwrap()).unwrap();
    }
    writeln!(w, "settings {:?}", store.settings(ws).unwrap()).unwrap();
    writeln!(w, "schema {:?}", store.schema(ws).unwrap()).unwrap();
    writeln!(w, "stats {:?}", store.stats(ws).unwrap()).unwrap();
    let segments = store.segments(ws, now).unwrap();
    writeln!(w, "segments {segments:?}").unwrap();
    let zones = [Tz::parse("UTC").unwrap(), Tz::parse("America/New_York").unwrap()];
    let ranges = [
        (TimeRange::new(now - 7 * DAY, now).unwrap(), Granularity::Day),
        (TimeRange::new(now - 30 * DAY, now).unwrap(), Granularity::Week),
        (TimeRange::new(T0 - 90 * DAY, now).unwrap(), Granularity::Month),
    ];
    for segment in &segments {
        writeln!(w, "segment {:?}", store.segment(ws, segment.id, now).unwrap()).unwrap();
        for view in [View::All, View::Known, View::Anonymous] {
            for tz in &zones {
                for (range, granularity) in ranges {
                    let request = SummaryRequest { view, range, tz: tz.clone(), granularity, country: None, region: None };
                    writeln!(w, "summary {:?}", store.summary(ws, segment.id, &request, now).unwrap()).unwrap();
                }
            }
            let request = SummaryRequest {
                view,
                range: ranges[1].0,
                tz: zones[0].clone(),
                granularity: Granularity::Day,
                country: Some(Country::parse("FR").unwrap()),
                region: None,
            };
            writeln!(w, "drill-down {:?}", store.summary(ws, segment.id, &request, now).unwrap()).unwrap();
            let mut after = None;
            loop {
                let page = store.members(ws, segment.id, view, after, 5, now).unwrap();
                writeln!(w, "members {page:?}").unwrap();
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            writeln!(w, "breakdown {:?}", store.breakdown(ws, segment.id, view, "country", now).unwrap()).unwrap();
            writeln!(w, "breakdown {:?}", store.breakdown(ws, segment.id, view, "plan", now).unwrap()).unwrap();
        }
        let mut after = None;
        loop {
            let page = store.membership_log(ws, segment.id, after, 7).unwrap();
            writeln!(w, "log {page:?}").unwrap();
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    let everyone = store.members(ws, ALL_CONTACTS, View::All, None, 1000, now).unwrap();
    for row in &everyone.items {
        writeln!(w, "contact {:?}", store.contact(ws, &ContactRef::Id(row.id), now).unwrap()).unwrap();
    }
    for kind in [AutomationKind::Journey, AutomationKind::Campaign] {
        writeln!(w, "automations {:?}", store.automations(ws, kind).unwrap()).unwrap();
    }
    writeln!(w, "duplicates {:?}", store.duplicates(ws).unwrap()).unwrap();
    let criteria = store.schema(ws).unwrap().parse_text("email opened in last 10 days OR country = \"DE\"").unwrap();
    writeln!(w, "test {:?}", store.test_criteria(ws, &criteria, now).unwrap()).unwrap();
    out
}

/// Names of the files in a workspace directory, sorted.
pub fn workspace_files(data: &Path, ws: &WorkspaceId) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data.join("workspaces").join(ws.as_str()))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}
