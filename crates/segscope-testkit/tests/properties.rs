//! Property tests: random operation sequences are applied to the engine
//! (incremental, indexed) and to the naive reference (recomputes everything
//! after every step). Memberships must agree after every step, the engine's
//! invariants must hold, and summaries for random views, ranges, time zones
//! and granularities must be equal. Known + Anonymous = All is checked on
//! every summary.

use std::collections::BTreeSet;

use jiff::civil::Date;
use proptest::prelude::*;
use segscope_core::criteria::{Count, CountOp, Criteria, EmailCondition, FieldOp, Operand, Window};
use segscope_core::engine::{Command, Workspace};
use segscope_core::event::{BounceClass, EmailKind};
use segscope_core::ids::{SegmentId, WorkspaceId};
use segscope_core::model::{AttrType, ContactKind, Settings, Value};
use segscope_core::summary::{SummaryRequest, View};
use segscope_core::time::{Granularity, Secs, TimeRange, Tz, parse_instant};
use segscope_testkit::fixture::flatten_summary;
use segscope_testkit::reference::{RefOp, RefWorld};

const ZONES: [&str; 5] = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Auckland"];
const EMAILS: [&str; 6] =
    ["ann@example.com", "bob@gmail.com", "cy@example.org", "di@outlook.com", "ed@example.com", "fi@yahoo.com"];
const VISITORS: [&str; 7] = ["v0", "v1", "v2", "v3", "v4", "v5", "v6"];
const URLS: [&str; 5] = ["/", "/pricing", "/blog/a", "/blog/b", "https://shop.example/pricing"];
const STAGES: [&str; 5] = ["Raw lead", "Marketing ready", "Marketing engaged", "Marketing qualified", "Sales ready"];

fn base_time() -> Secs {
    parse_instant("2024-03-20T12:00:00Z").expect("valid")
}

/// A step: how far time moves, and what happens (events may be stamped up
/// to 10 days in the past: late and out of order).
#[derive(Debug, Clone)]
struct Step {
    advance: Secs,
    lateness: Secs,
    action: Action,
}

#[derive(Debug, Clone)]
enum Action {
    Upsert { email: usize, fields: Vec<(String, Option<Value>)>, back: Option<Secs> },
    PageView { visitor: usize, url: usize, bot: bool },
    Heartbeat { visitor: usize },
    Identify { visitor: usize, email: usize },
    Mail { email: usize, kind: EmailKind },
    Track { email: usize },
    Delete { email: usize },
    CreateSegment { criteria: Criteria },
    EditSegment { which: usize, criteria: Criteria },
}

fn field_update() -> impl Strategy<Value = (String, Option<Value>)> {
    prop_oneof![
        prop::option::of(0..STAGES.len()).prop_map(|s| ("stage".to_owned(), s.map(|i| Value::Text(STAGES[i].to_owned())))),
        prop::option::of(prop::sample::select(vec!["FR", "DE", "US"]))
            .prop_map(|c| ("country".to_owned(), c.map(|c| Value::Text(c.to_owned())))),
        prop::sample::subsequence(vec!["vip", "beta", "churned"], 0..=2)
            .prop_map(|t| ("tags".to_owned(), Some(Value::List(t.into_iter().map(str::to_owned).collect())))),
        prop::option::of(0..10i32).prop_map(|n| ("points".to_owned(), n.map(|n| Value::Number(f64::from(n))))),
        prop::option::of(prop::sample::select(vec!["free", "pro", "premium"]))
            .prop_map(|p| ("plan".to_owned(), p.map(|p| Value::Text(p.to_owned())))),
        prop::option::of(-20..20i64).prop_map(|d| {
            ("renewal".to_owned(), d.map(|d| Value::Date(segscope_core::time::add_days(Date::constant(2024, 3, 20), d))))
        }),
        any::<bool>().prop_map(|b| ("opted_in".to_owned(), Some(Value::Bool(b)))),
        Just(("unsubscribed".to_owned(), Some(Value::Bool(true)))),
    ]
}

fn count() -> impl Strategy<Value = Count> {
    prop_oneof![
        3 => Just(Count::AT_LEAST_ONE),
        1 => (prop::sample::select(vec![CountOp::AtLeast, CountOp::MoreThan, CountOp::AtMost, CountOp::FewerThan, CountOp::Exactly]), 0..4u32)
            .prop_map(|(op, n)| Count { op, n }),
    ]
}

fn window() -> impl Strategy<Value = Window> {
    prop_oneof![Just(Window::Ever), (1..15u32).prop_map(Window::LastDays)]
}

fn leaf(segments: usize) -> BoxedStrategy<Criteria> {
    let field = |name: &str, op: FieldOp| Criteria::Field { field: name.to_owned(), op };
    let stage = prop::sample::select(STAGES.to_vec()).prop_map(|s| Operand::Text(s.to_owned()));
    let mut options: Vec<BoxedStrategy<Criteria>> = vec![
        stage.clone().prop_map(move |s| field("stage", FieldOp::Eq(s))).boxed(),
        stage.clone().prop_map(move |s| field("stage", FieldOp::Ge(s))).boxed(),
        Just(field("stage", FieldOp::IsEmpty)).boxed(),
        prop::sample::subsequence(vec!["FR", "DE", "US"], 1..=2)
            .prop_flat_map(|cs| {
                let values: Vec<Operand> = cs.into_iter().map(|c| Operand::Text(c.to_owned())).collect();
                prop_oneof![Just(FieldOp::In(values.clone())), Just(FieldOp::NotIn(values))]
            })
            .prop_map(move |op| field("country", op))
            .boxed(),
        prop::sample::select(vec!["vip", "beta"])
            .prop_flat_map(|t| {
                prop_oneof![
                    Just(FieldOp::In(vec![Operand::Text(t.to_owned())])),
                    Just(FieldOp::NotIn(vec![Operand::Text(t.to_owned())])),
                    Just(FieldOp::Contains(t.to_owned())),
                    Just(FieldOp::IsEmpty),
                ]
            })
            .prop_map(move |op| field("tags", op))
            .boxed(),
        (0..10i32, 0..4u8)
            .prop_map(move |(n, which)| {
                let n = Operand::Number(f64::from(n));
                field(
                    "points",
                    match which {
                        0 => FieldOp::Ge(n),
                        1 => FieldOp::Lt(n),
                        2 => FieldOp::Ne(n),
                        _ => FieldOp::Between(n, Operand::Number(7.0)),
                    },
                )
            })
            .boxed(),
        prop_oneof![
            Just(FieldOp::Eq(Operand::Text("pro".into()))),
            Just(FieldOp::StartsWith("p".into())),
            Just(FieldOp::NotIn(vec![Operand::Text("free".into())])),
        ]
        .prop_map(move |op| field("plan", op))
        .boxed(),
        (-5..5i32, 0..3u8)
            .prop_map(move |(d, which)| {
                field(
                    "renewal",
                    match which {
                        0 => FieldOp::Eq(Operand::DaysFromToday(d)),
                        1 => FieldOp::Lt(Operand::DaysFromToday(d)),
                        _ => FieldOp::InLastDays(d.unsigned_abs() + 1),
                    },
                )
            })
            .boxed(),
        (1..10u32, any::<bool>())
            .prop_map(move |(n, last)| {
                field("created_at", if last { FieldOp::InLastDays(n) } else { FieldOp::MoreThanDaysAgo(n) })
            })
            .boxed(),
        (-3..0i32).prop_map(move |d| field("created_at", FieldOp::Gt(Operand::DaysFromToday(d)))).boxed(),
        (prop::sample::select(vec!["/pricing", "/blog/*", "*pricing*", "/"]), count(), window())
            .prop_map(|(url, count, window)| Criteria::Visited { url: url.to_owned(), count, window })
            .boxed(),
        (count(), window()).prop_map(|(count, window)| Criteria::Sessions { count, window }).boxed(),
        (
            prop::sample::select(vec![
                EmailCondition::Opened,
                EmailCondition::Bounced,
                EmailCondition::Clicked,
                EmailCondition::Blocked,
            ]),
            count(),
            window(),
        )
            .prop_map(|(kind, count, window)| Criteria::Email { kind, count, window })
            .boxed(),
        (count(), window()).prop_map(|(count, window)| Criteria::Performed { event: "signup".into(), count, window }).boxed(),
        prop_oneof![Just(Criteria::Kind(ContactKind::Known)), Just(Criteria::Kind(ContactKind::Anonymous))].boxed(),
        Just(field("opted_in", FieldOp::Eq(Operand::Bool(true)))).boxed(),
        prop::sample::select(vec!["opted_in", "unsubscribed", "no_consent", "no_email"])
            .prop_map(move |s| field("subscription_status", FieldOp::Eq(Operand::Text(s.to_owned()))))
            .boxed(),
        Just(field("email_provider", FieldOp::In(vec![Operand::Text("gmail".into()), Operand::Text("microsoft".into())])))
            .boxed(),
        Just(field("email", FieldOp::EndsWith("example.com".into()))).boxed(),
    ];
    if segments > 0 {
        options.push((0..segments as u32).prop_map(|i| Criteria::MemberOf(SegmentId(i))).boxed());
    }
    prop::strategy::Union::new(options).boxed()
}

fn criteria(segments: usize) -> BoxedStrategy<Criteria> {
    leaf(segments)
        .prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Criteria::And),
                prop::collection::vec(inner.clone(), 1..3).prop_map(Criteria::Or),
                inner.prop_map(|c| Criteria::Not(Box::new(c))),
            ]
        })
        .prop_map(Criteria::normalized)
        .boxed()
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0..EMAILS.len(), prop::collection::vec(field_update(), 0..4), prop::option::of(0..(20 * 86_400i64)))
            .prop_map(|(email, fields, back)| Action::Upsert { email, fields, back }),
        6 => (0..VISITORS.len(), 0..URLS.len(), prop::bool::weighted(0.1))
            .prop_map(|(visitor, url, bot)| Action::PageView { visitor, url, bot }),
        2 => (0..VISITORS.len()).prop_map(|visitor| Action::Heartbeat { visitor }),
        2 => (0..VISITORS.len(), 0..EMAILS.len()).prop_map(|(visitor, email)| Action::Identify { visitor, email }),
        3 => (0..EMAILS.len(), prop::sample::select(vec![
                EmailKind::Sent, EmailKind::Delivered, EmailKind::Opened, EmailKind::Clicked,
                EmailKind::Bounced(BounceClass::Hard), EmailKind::Bounced(BounceClass::Soft), EmailKind::Bounced(BounceClass::Block),
                EmailKind::Complained, EmailKind::Unsubscribed, EmailKind::OptInRequested, EmailKind::OptInConfirmed,
            ])).prop_map(|(email, kind)| Action::Mail { email, kind }),
        1 => (0..EMAILS.len()).prop_map(|email| Action::Track { email }),
        1 => (0..EMAILS.len()).prop_map(|email| Action::Delete { email }),
        2 => criteria(4).prop_map(|criteria| Action::CreateSegment { criteria }),
        1 => (0..4usize, criteria(4)).prop_map(|(which, criteria)| Action::EditSegment { which, criteria }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    (
        prop_oneof![3 => 0..3_600i64, 2 => 0..(2 * 86_400i64), 1 => 0..(12 * 86_400i64)],
        prop_oneof![3 => Just(0i64), 1 => 0..(10 * 86_400i64)],
        action(),
    )
        .prop_map(|(advance, lateness, action)| Step { advance, lateness, action })
}

struct Scenario {
    engine: Workspace,
    reference: RefWorld,
    now: Secs,
    segments: usize,
}

impl Scenario {
    fn new(zone: &str, threshold: u32) -> Scenario {
        let settings = Settings { time_zone: zone.to_owned(), soft_bounce_threshold: threshold, ..Settings::default() };
        let now = base_time();
        let mut engine =
            Workspace::new(WorkspaceId::parse("prop").expect("valid"), settings.clone(), now).expect("valid settings");
        for (name, attr_type) in [("points", AttrType::Number), ("plan", AttrType::Text), ("renewal", AttrType::Date)] {
            engine.apply(Command::DeclareAttribute { name: name.to_owned(), attr_type }, now).expect("declare");
        }
        Scenario { engine, reference: RefWorld::new(settings, now), now, segments: 1 }
    }

    /// Maps an action to a reference operation, resolving references to
    /// segments that exist. `None` when the action cannot apply yet.
    fn op(&self, step: &Step) -> Option<RefOp> {
        let at = self.now - step.lateness;
        let fix_refs = |c: &Criteria| -> Criteria { retarget(c, self.segments as u32) };
        Some(match &step.action {
            Action::Upsert { email, fields, back } => {
                RefOp::Upsert { email: EMAILS[*email].to_owned(), fields: fields.clone(), created_at: back.map(|b| self.now - b) }
            }
            Action::PageView { visitor, url, bot } => {
                RefOp::PageView { visitor: VISITORS[*visitor].to_owned(), at, url: URLS[*url].to_owned(), bot: *bot }
            }
            Action::Heartbeat { visitor } => RefOp::Heartbeat { visitor: VISITORS[*visitor].to_owned(), at },
            Action::Identify { visitor, email } => {
                RefOp::Identify { visitor: VISITORS[*visitor].to_owned(), at, email: EMAILS[*email].to_owned() }
            }
            Action::Mail { email, kind } => RefOp::Mail { email: EMAILS[*email].to_owned(), at, kind: *kind },
            Action::Track { email } => RefOp::Track { email: EMAILS[*email].to_owned(), at, name: "signup".to_owned() },
            Action::Delete { email } => RefOp::Delete { email: EMAILS[*email].to_owned() },
            Action::CreateSegment { criteria } => {
                if self.segments > 6 {
                    return None;
                }
                RefOp::CreateSegment { name: format!("S{}", self.segments), criteria: fix_refs(criteria) }
            }
            Action::EditSegment { which, criteria } => {
                if self.segments <= 1 {
                    return None;
                }
                let id = 1 + (*which % (self.segments - 1)) as u32;
                // A segment may only reference segments created before it (no cycles).
                RefOp::EditSegment { id: SegmentId(id), criteria: retarget(criteria, id) }
            }
        })
    }

    fn run(&mut self, step: &Step) -> Result<(), TestCaseError> {
        self.now += step.advance;
        let Some(op) = self.op(step) else { return Ok(()) };
        let command = op.to_command(&self.reference);
        let engine_result = self.engine.apply(command, self.now);
        let reference_ok = self.reference.apply(&op, self.now);
        let engine_ok = match &engine_result {
            Ok(segscope_core::engine::Outcome::Recorded(report)) => report.rejected.is_empty(),
            Ok(_) => true,
            Err(_) => false,
        };
        prop_assert_eq!(engine_ok, reference_ok, "acceptance differs for {:?}: engine {:?}", op, engine_result);
        if matches!(op, RefOp::CreateSegment { .. }) && engine_ok {
            self.segments += 1;
        }
        if let Err(problems) = self.engine.check_invariants() {
            return Err(TestCaseError::fail(format!("invariants broken after {op:?}: {problems:#?}")));
        }
        for id in 0..self.segments as u32 {
            let id = SegmentId(id);
            let segment = self.engine.segment(id).expect("exists");
            let engine: BTreeSet<u32> = segment.members.iter().collect();
            prop_assert_eq!(&engine, &self.reference.members(id), "members of segment {} differ after {:?}", id.0, op);
            if let Some(criteria) = segment.criteria() {
                // The parallel evaluation of a whole segment, cut anywhere.
                for parts in [2, 3] {
                    let cut = self.engine.evaluate_all_in_parts(criteria, self.engine.today(), parts);
                    prop_assert_eq!(&cut, &segment.members, "segment {} evaluated in {} parts", id.0, parts);
                }
            }
        }
        Ok(())
    }

    fn compare_summary(
        &mut self,
        id: SegmentId,
        zone: &str,
        days_back: i64,
        length: i64,
        granularity: Granularity,
    ) -> Result<(), TestCaseError> {
        let tz = Tz::parse(zone).expect("valid zone");
        let end = self.now + 86_400 - days_back * 86_400;
        let range = TimeRange::new(end - length * 86_400, end).expect("from before to");
        let mut flats = Vec::new();
        for view in [View::All, View::Known, View::Anonymous] {
            let request = SummaryRequest { view, range, tz: tz.clone(), granularity, country: None, region: None };
            self.engine.advance_to(self.now);
            let fast = self.engine.summary(id, &request, self.now).expect("summary");
            let naive = self.reference.summary(id, &request, self.now);
            let (fast, naive) = (flatten_summary(&fast), flatten_summary(&naive));
            for (key, value) in &naive {
                prop_assert_eq!(fast.get(key), Some(value), "summary key {} differs (view {:?}, segment {})", key, view, id.0);
            }
            prop_assert_eq!(fast.len(), naive.len());
            flats.push(fast);
        }
        // Known + Anonymous = All, for counts, sessions and growth.
        let (all, known, anonymous) = (&flats[0], &flats[1], &flats[2]);
        let n = |map: &std::collections::BTreeMap<String, String>, key: &str| map[key].parse::<f64>().unwrap_or(0.0);
        for key in [
            "overall.total",
            "overall.sessions",
            "growth.added",
            "growth.removed",
            "growth.total_at_end",
            "growth.total_at_start",
        ] {
            prop_assert_eq!(n(known, key) + n(anonymous, key), n(all, key), "known + anonymous != all for {}", key);
        }
        prop_assert_eq!(n(all, "overall.known"), n(known, "overall.total"));
        prop_assert_eq!(n(all, "overall.anonymous"), n(anonymous, "overall.total"));
        Ok(())
    }
}

/// Points `member of` at segments below `limit`.
fn retarget(criteria: &Criteria, limit: u32) -> Criteria {
    match criteria {
        Criteria::And(c) => Criteria::And(c.iter().map(|x| retarget(x, limit)).collect()),
        Criteria::Or(c) => Criteria::Or(c.iter().map(|x| retarget(x, limit)).collect()),
        Criteria::Not(inner) => Criteria::Not(Box::new(retarget(inner, limit))),
        Criteria::MemberOf(id) => Criteria::MemberOf(SegmentId(id.0 % limit.max(1))),
        other => other.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, max_shrink_iters: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_the_naive_reference(
        zone in prop::sample::select(ZONES.to_vec()),
        threshold in prop::sample::select(vec![2u32, 5]),
        steps in prop::collection::vec(step(), 1..60),
        queries in prop::collection::vec((prop::sample::select(ZONES.to_vec()), 0..20i64, 1..40i64, prop::sample::select(vec![Granularity::Day, Granularity::Week, Granularity::Month])), 1..4),
    ) {
        let mut scenario = Scenario::new(zone, threshold);
        for (i, step) in steps.iter().enumerate() {
            scenario.run(step)?;
            // Summaries between changes exercise the summary's incremental
            // per-contact rows (dirty contacts re-derived, range changes).
            if i % 4 == 3 {
                let id = SegmentId((i / 4 % scenario.segments) as u32);
                scenario.compare_summary(id, zone, (i % 3) as i64, 30, Granularity::Day)?;
            }
        }
        for (i, (zone, back, length, granularity)) in queries.into_iter().enumerate() {
            let id = SegmentId((i % scenario.segments) as u32);
            scenario.compare_summary(id, zone, back, length, granularity)?;
        }
    }
}
