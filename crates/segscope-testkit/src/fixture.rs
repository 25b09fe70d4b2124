//! The fixture format: one line per step, `#` comments, blank lines ignored.
//!
//! ```text
//! workspace tz=UTC stages="lead|mql|customer" threshold=5
//! at 2024-03-01T09:00:00Z                      # "now" for the steps below
//! contact email=a@example.com points=5 added=2024-02-01T00:00:00Z
//! pv c1 2024-03-01T10:00:00Z /pricing ua="Mozilla/5.0" status=200 ref=https://google.com/ country=FR
//! hb c1 2024-03-01T10:00:45Z                   # heartbeat (also: leave)
//! form c1 2024-03-01T10:05:00Z a@example.com   # identify visitor c1 as an email
//! mail a@example.com 2024-03-02T08:00:00Z bounce 550 5.1.1 user unknown
//! mail a@example.com 2024-03-02T08:00:00Z opened
//! track c1 2024-03-02T08:00:00Z signup         # custom event (subject: visitor or email)
//! stage a@example.com 2024-03-02T08:00:00Z mql
//! delete a@example.com
//! merge keep@example.com absorbed@example.com
//! mx acme.example aspmx.l.google.com
//! segment High intent = visited "/pricing" at least 3 times in last 30 days
//! list Beta testers
//! list-add Beta testers a@example.com b@example.com
//! journey Welcome status=active segments="High intent"
//! campaign Spring sale status=draft segments="High intent,Beta testers"
//! import csv date_format=DD/MM/YYYY: email,signup_date\r\na@x.example,09/01/2025\r\n
//! fail "cycle": segment A = member of "B"      # the step must fail with this text
//! expect High intent view=known range=2024-03-01..2024-03-31 granularity=week tz=UTC: overall.known=2 growth.added_by_bucket=[1,0,2]
//! expect members High intent = {a@example.com, ~c2}   # ~ marks a visitor id
//! expect matches stage = "mql" = {a@example.com}
//! expect import created=0 updated=3 rejected=0
//! expect contact a@example.com first_name=Ann stage=mql
//! expect breakdown All contacts source: facebook=1 call=1 (none)=2
//! expect duplicates likely={a@gmail.com, a.b@gmail.com} possible={x+1@e.example, x@e.example}
//! expect log High intent: enter.backfill=3 exit.deleted=1
//! ```
//!
//! Events are recorded at `now = max(at, event time)`; contacts with
//! `added=` at `max(at, added)`. Summary keys are the dotted paths listed
//! in [`flatten_summary`]; numbers compare numerically, `null` is an empty
//! average or share.

use std::collections::{BTreeMap, BTreeSet};

use segscope_core::backend::Backend;
use segscope_core::engine::{Command, ContactRef, ContactUpsert, Definition, Outcome, Reason, SegmentSpec, UpsertReport};
use segscope_core::event::{EmailEvent, EmailKind, EventBody, EventInput, Identify, PageView, Subject, classify_bounce};
use segscope_core::ids::{SegmentId, WorkspaceId};
use segscope_core::model::{AutomationKind, AutomationSpec, Country, Geo, Settings, Status, Utm, Value};
use segscope_core::summary::{Summary, SummaryRequest, View};
use segscope_core::time::{Granularity, RangeBound, RangePreset, Secs, Tz, format_instant, parse_instant, resolve_range};

/// What a CSV import step reports, in the terms fixtures check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub created: usize,
    pub updated: usize,
    pub rejected: usize,
    pub warnings: usize,
    /// Record numbers (1-based, header excluded) of rejected rows.
    pub rejected_records: Vec<u64>,
    /// Every message of the report, for `fail`/`expect import message~=` checks.
    pub messages: Vec<String>,
}

/// Imports a contacts CSV into a workspace; provided by the ingestion crate
/// so that this crate depends on the core only.
pub trait CsvImporter {
    fn import_csv(
        &self,
        backend: &dyn Backend,
        workspace: &WorkspaceId,
        bytes: &[u8],
        options: &[(String, String)],
        now: Secs,
    ) -> Result<ImportSummary, String>;
}

/// Runs a fixture against a backend in a fresh workspace named `workspace`.
/// Returns the first failing step with its line number.
pub fn run(name: &str, text: &str, backend: &dyn Backend, workspace: &str, csv: Option<&dyn CsvImporter>) -> Result<(), String> {
    let mut runner = Runner {
        backend,
        workspace: WorkspaceId::parse(workspace).map_err(|e| e.to_string())?,
        now: parse_instant("2024-01-01T00:00:00Z").expect("valid"),
        created: false,
        last_import: None,
        last_upsert: None,
        csv,
    };
    let lines = logical_lines(text);
    for (line_no, line) in lines {
        runner.step(&line).map_err(|message| format!("{name}:{line_no}: {line}\n  {message}"))?;
    }
    Ok(())
}

/// Joins heredoc blocks (`<<EOF` … `EOF`) into one logical line with `\n`.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, raw)) = lines.next() {
        let trimmed = strip_comment(raw).trim().to_owned();
        if trimmed.is_empty() {
            continue;
        }
        if let Some((head, marker)) = trimmed.rsplit_once("<<") {
            let marker = marker.trim().to_owned();
            let mut body = Vec::new();
            for (_, inner) in lines.by_ref() {
                if inner.trim() == marker {
                    break;
                }
                body.push(inner.to_owned());
            }
            out.push((i + 1, format!("{}: {}", head.trim().trim_end_matches(':'), body.join("\\n"))));
        } else {
            out.push((i + 1, trimmed));
        }
    }
    out
}

fn strip_comment(line: &str) -> &str {
    let mut in_quotes = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            '#' if !in_quotes && (i == 0 || line[..i].ends_with(' ')) => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Splits on whitespace, keeping "quoted strings" (quotes removed) whole;
/// `key="a b"` is one token `key=a b`.
pub fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut started = false;
    for c in text.chars() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                started = true;
            }
            c if c.is_whitespace() && !in_quotes => {
                if started {
                    out.push(std::mem::take(&mut current));
                    started = false;
                }
            }
            c => {
                current.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(current);
    }
    out
}

/// `\r`, `\n`, `\t`, `\\` and `\xNN` escapes to bytes.
pub fn unescape_bytes(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            match bytes[i + 1] {
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'\\' => out.push(b'\\'),
                b'x' if i + 3 < bytes.len() + 1 => {
                    let hex = std::str::from_utf8(&bytes[i + 2..(i + 4).min(bytes.len())]).unwrap_or("");
                    if let Ok(byte) = u8::from_str_radix(hex, 16) {
                        out.push(byte);
                        i += 4;
                        continue;
                    }
                    out.push(b'\\');
                    out.push(b'x');
                }
                other => {
                    out.push(b'\\');
                    out.push(other);
                }
            }
            i += 2;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// A fixture value as a field value: number, boolean, date, instant or text.
pub fn value_of(raw: &str) -> Option<Value> {
    if raw == "null" {
        return None;
    }
    if raw == "true" || raw == "false" {
        return Some(Value::Bool(raw == "true"));
    }
    if let Ok(number) = raw.parse::<f64>()
        && !raw.starts_with('+')
        && number.is_finite()
    {
        return Some(Value::Number(number));
    }
    if raw.len() == 10
        && let Ok(date) = segscope_core::time::parse_date(raw)
    {
        return Some(Value::Date(date));
    }
    if raw.len() > 10
        && raw.as_bytes().get(10) == Some(&b'T')
        && let Ok(at) = parse_instant(raw)
    {
        return Some(Value::DateTime(at));
    }
    Some(Value::Text(raw.to_owned()))
}

struct Runner<'a> {
    backend: &'a dyn Backend,
    workspace: WorkspaceId,
    now: Secs,
    created: bool,
    last_import: Option<ImportSummary>,
    last_upsert: Option<UpsertReport>,
    csv: Option<&'a dyn CsvImporter>,
}

fn instant(raw: &str) -> Result<Secs, String> {
    parse_instant(raw).map_err(|e| e.to_string())
}

fn subject(raw: &str) -> Subject {
    if raw.contains('@') {
        Subject::Email(raw.to_owned())
    } else if let Some(id) = raw.strip_prefix('#') {
        Subject::Contact(segscope_core::ids::ContactId(id.parse().unwrap_or(u32::MAX)))
    } else {
        Subject::Visitor(raw.to_owned())
    }
}

fn contact_ref(raw: &str) -> ContactRef {
    if let Some(id) = raw.strip_prefix('#') {
        ContactRef::Id(segscope_core::ids::ContactId(id.parse().unwrap_or(u32::MAX)))
    } else if raw.contains('@') {
        ContactRef::Email(raw.to_owned())
    } else {
        ContactRef::ExternalId(raw.to_owned())
    }
}

impl Runner<'_> {
    fn ensure_workspace(&mut self) -> Result<(), String> {
        if !self.created {
            self.backend.create_workspace(&self.workspace, Settings::default(), self.now).map_err(|e| e.to_string())?;
            self.created = true;
        }
        Ok(())
    }

    fn apply(&mut self, command: Command, now: Secs) -> Result<Outcome, String> {
        self.ensure_workspace()?;
        self.now = self.now.max(now);
        self.backend.apply(&self.workspace, command, self.now).map_err(|e| e.to_string())
    }

    fn segment_id(&self, name: &str) -> Result<SegmentId, String> {
        let schema = self.backend.schema(&self.workspace).map_err(|e| e.to_string())?;
        schema
            .segments
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name.trim()))
            .map(|(id, _)| *id)
            .ok_or_else(|| format!("no segment named `{name}`"))
    }

    fn record(&mut self, events: Vec<EventInput>) -> Result<(), String> {
        let at = events.iter().map(|e| e.at).max().unwrap_or(self.now);
        match self.apply(Command::RecordEvents { events }, at)? {
            Outcome::Recorded(report) if report.rejected.is_empty() => Ok(()),
            Outcome::Recorded(report) => Err(format!("event rejected: {}", report.rejected[0].message)),
            other => Err(format!("unexpected outcome {other:?}")),
        }
    }

    fn step(&mut self, line: &str) -> Result<(), String> {
        if let Some(rest) = line.strip_prefix("fail \"") {
            let (wanted, command) = rest.split_once("\": ").ok_or("write fail \"text\": <step>")?;
            let (wanted, command) = (wanted.to_owned(), command.trim());
            return match self.step(command) {
                Ok(()) => Err(format!("expected a failure containing `{wanted}`, but the step succeeded")),
                Err(message) if message.to_lowercase().contains(&wanted.to_lowercase()) => Ok(()),
                Err(message) => Err(format!("expected a failure containing `{wanted}`, got: {message}")),
            };
        }
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        match verb {
            "workspace" => self.workspace_step(rest),
            "at" => {
                self.now = instant(rest.trim())?;
                Ok(())
            }
            "contact" => self.contact_step(rest),
            "pv" => self.page_view_step(rest),
            "hb" | "leave" => {
                let toks = tokens(rest);
                let [who, at] = toks.as_slice() else { return Err(format!("write `{verb} <visitor> <time>`")) };
                let body = if verb == "hb" { EventBody::Heartbeat } else { EventBody::PageLeave };
                self.record(vec![EventInput { subject: subject(who), at: instant(at)?, body }])
            }
            "form" => {
                let toks = tokens(rest);
                let [who, at, identity] = toks.as_slice() else { return Err("write `form <visitor> <time> <email>`".into()) };
                let identify = if identity.contains('@') {
                    Identify { email: Some(identity.clone()), external_id: None, traits: Vec::new() }
                } else {
                    Identify { email: None, external_id: Some(identity.clone()), traits: Vec::new() }
                };
                self.record(vec![EventInput {
                    subject: Subject::Visitor(who.clone()),
                    at: instant(at)?,
                    body: EventBody::Identify(identify),
                }])
            }
            "mail" => {
                let toks = tokens(rest);
                if toks.len() < 3 {
                    return Err("write `mail <email> <time> <kind> [smtp reply]`".into());
                }
                let kind = match toks[2].as_str() {
                    "bounce" => EmailKind::Bounced(classify_bounce(&toks[3..].join(" "))),
                    other => EmailKind::parse(other).ok_or_else(|| format!("unknown email event `{other}`"))?,
                };
                let body = EventBody::Email(EmailEvent { kind, campaign: None });
                self.record(vec![EventInput { subject: Subject::Email(toks[0].clone()), at: instant(&toks[1])?, body }])
            }
            "track" | "stage" => {
                let toks = tokens(rest);
                let [who, at, name] = toks.as_slice() else { return Err(format!("write `{verb} <subject> <time> <name>`")) };
                let body = if verb == "track" {
                    EventBody::Track { name: name.clone() }
                } else {
                    EventBody::StageChange { stage: name.clone() }
                };
                self.record(vec![EventInput { subject: subject(who), at: instant(at)?, body }])
            }
            "delete" => self.apply(Command::DeleteContact(contact_ref(rest.trim())), self.now).map(|_| ()),
            "merge" => {
                let toks = tokens(rest);
                let [keep, absorb] = toks.as_slice() else { return Err("write `merge <keep> <absorb>`".into()) };
                self.apply(Command::MergeContacts { keep: contact_ref(keep), absorb: contact_ref(absorb) }, self.now).map(|_| ())
            }
            "mx" => {
                let toks = tokens(rest);
                let (domain, hosts) = toks.split_first().ok_or("write `mx <domain> <host>…`")?;
                self.apply(Command::RecordMx { domain: domain.clone(), hosts: hosts.to_vec() }, self.now).map(|_| ())
            }
            "segment" => {
                let (name, criteria) = rest.split_once(" = ").ok_or("write `segment <name> = <criteria>`")?;
                self.ensure_workspace()?;
                let schema = self.backend.schema(&self.workspace).map_err(|e| e.to_string())?;
                let criteria = schema.parse_text(criteria).map_err(|e| e.to_string())?;
                let spec = SegmentSpec {
                    name: name.trim().to_owned(),
                    description: String::new(),
                    definition: Definition::Dynamic(criteria),
                };
                let command = match self.segment_id(name) {
                    Ok(id) => Command::UpdateSegment { id, spec },
                    Err(_) => Command::CreateSegment(spec),
                };
                self.apply(command, self.now).map(|_| ())
            }
            "list" => {
                let spec =
                    SegmentSpec { name: rest.trim().to_owned(), description: String::new(), definition: Definition::Static };
                self.apply(Command::CreateSegment(spec), self.now).map(|_| ())
            }
            "list-add" => {
                let toks = tokens(rest);
                let at =
                    toks.iter().position(|t| t.contains('@') || t.starts_with('#')).ok_or("write `list-add <list> <email>…`")?;
                let list = self.segment_id(&toks[..at].join(" "))?;
                let contacts = toks[at..].iter().map(|t| contact_ref(t)).collect();
                self.apply(Command::AddToList { list, contacts, reason: Reason::Manual }, self.now).map(|_| ())
            }
            "journey" | "campaign" => self.automation_step(verb, rest),
            "import" => self.import_step(rest),
            "expect" => self.expect_step(rest),
            other => Err(format!("unknown step `{other}`")),
        }
    }

    fn workspace_step(&mut self, rest: &str) -> Result<(), String> {
        let mut settings = Settings::default();
        for token in tokens(rest) {
            let (key, value) = token.split_once('=').ok_or_else(|| format!("`{token}` is not key=value"))?;
            match key {
                "tz" => settings.time_zone = value.to_owned(),
                "stages" => settings.stages = value.split('|').map(str::to_owned).collect(),
                "threshold" => settings.soft_bounce_threshold = value.parse().map_err(|_| "threshold is a number")?,
                "idle" => settings.sessions.idle_timeout_secs = value.parse().map_err(|_| "idle is seconds")?,
                "max_length" => settings.sessions.max_length_secs = value.parse().map_err(|_| "max_length is seconds")?,
                "split_at_midnight" => settings.sessions.split_at_midnight = value == "true",
                "engaged_days" => settings.engaged_days = value.parse().map_err(|_| "engaged_days is a number")?,
                "now" | "at" => self.now = instant(value)?,
                other => return Err(format!("unknown workspace setting `{other}`")),
            }
        }
        self.backend.create_workspace(&self.workspace, settings, self.now).map_err(|e| e.to_string())?;
        self.created = true;
        Ok(())
    }

    fn contact_step(&mut self, rest: &str) -> Result<(), String> {
        let mut upsert = ContactUpsert { email: None, external_id: None, fields: Vec::new(), created_at: None };
        for token in tokens(rest) {
            let (key, value) = token.split_once('=').ok_or_else(|| format!("`{token}` is not key=value"))?;
            match key {
                "email" => upsert.email = Some(value.to_owned()),
                "external_id" => upsert.external_id = Some(value.to_owned()),
                "added" | "created_at" => upsert.created_at = Some(instant(value)?),
                "stage" | "country" | "region" | "city" | "first_name" | "last_name" | "tags" | "phone" => {
                    upsert.fields.push((key.to_owned(), Some(Value::Text(value.to_owned()))));
                }
                _ => upsert.fields.push((key.to_owned(), value_of(value))),
            }
        }
        let at = upsert.created_at.unwrap_or(self.now);
        match self.apply(
            Command::UpsertContacts { contacts: vec![upsert], channel: segscope_core::model::Channel::Manual, list: None },
            at,
        )? {
            Outcome::Upserted(report) => {
                let rejected = report.rejected.first().map(|r| r.message.clone());
                let warned = report.warnings.first().map(|r| r.message.clone());
                self.last_upsert = Some(report);
                match (rejected, warned) {
                    (Some(message), _) => Err(format!("contact rejected: {message}")),
                    (None, Some(message)) => Err(format!("contact warning: {message}")),
                    (None, None) => Ok(()),
                }
            }
            other => Err(format!("unexpected outcome {other:?}")),
        }
    }

    fn page_view_step(&mut self, rest: &str) -> Result<(), String> {
        let toks = tokens(rest);
        if toks.len() < 3 {
            return Err("write `pv <visitor> <time> <url> [key=value…]`".into());
        }
        let mut view =
            PageView { url: toks[2].clone(), referrer: None, utm: Utm::default(), bot: false, status: None, geo: None };
        let mut geo = Geo::default();
        let mut method_is_page = true;
        for token in &toks[3..] {
            let (key, value) = token.split_once('=').unwrap_or((token.as_str(), ""));
            match key {
                "ua" => view.bot = looks_like_bot(value),
                "bot" => view.bot = true,
                "status" => view.status = Some(value.parse().map_err(|_| "status is a number")?),
                "ref" => view.referrer = Some(value.to_owned()),
                "utm_source" => view.utm.source = Some(value.to_owned()),
                "utm_medium" => view.utm.medium = Some(value.to_owned()),
                "country" => geo.country = Some(Country::parse(value).map_err(|e| e.to_string())?),
                "region" => geo.region = Some(value.to_owned()),
                "city" => geo.city = Some(value.to_owned()),
                "method" => method_is_page = value.eq_ignore_ascii_case("GET"),
                "ip" => {}
                other => return Err(format!("unknown page view option `{other}`")),
            }
        }
        if !method_is_page {
            // Non-GET requests are not page views; the door drops them
            // before the core (SPEC §2.1). Count it like the door would.
            return Ok(());
        }
        if !geo.is_empty() {
            view.geo = Some(geo);
        }
        let who = if toks[0].contains('@') { Subject::Email(toks[0].clone()) } else { Subject::Visitor(toks[0].clone()) };
        self.record(vec![EventInput { subject: who, at: instant(&toks[1])?, body: EventBody::PageView(view) }])
    }

    fn automation_step(&mut self, verb: &str, rest: &str) -> Result<(), String> {
        let toks = tokens(rest);
        let split = toks.iter().position(|t| t.contains('=')).unwrap_or(toks.len());
        let name = toks[..split].join(" ");
        let mut spec = AutomationSpec { name, status: Status::Draft, subtype: String::new(), segment_ids: Vec::new() };
        for token in &toks[split..] {
            let (key, value) = token.split_once('=').expect("has =");
            match key {
                "status" => spec.status = Status::parse(value).ok_or_else(|| format!("unknown status `{value}`"))?,
                "kind" => spec.subtype = value.to_owned(),
                "segments" => {
                    for name in value.split(',') {
                        spec.segment_ids.push(self.segment_id(name)?);
                    }
                }
                other => return Err(format!("unknown {verb} option `{other}`")),
            }
        }
        let kind = if verb == "journey" { AutomationKind::Journey } else { AutomationKind::Campaign };
        self.apply(Command::CreateAutomation { kind, spec }, self.now).map(|_| ())
    }

    fn import_step(&mut self, rest: &str) -> Result<(), String> {
        let (head, body) = rest.split_once(": ").ok_or("write `import csv [options]: <content>`")?;
        let mut toks = tokens(head).into_iter();
        if toks.next().as_deref() != Some("csv") {
            return Err("only `import csv` is supported".into());
        }
        let options: Vec<(String, String)> = toks
            .map(|t| t.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or(format!("`{t}` is not key=value")))
            .collect::<Result<_, _>>()?;
        let importer = self.csv.ok_or("this run has no CSV importer")?;
        self.ensure_workspace()?;
        let bytes = unescape_bytes(body.trim_start());
        let summary = importer.import_csv(self.backend, &self.workspace, &bytes, &options, self.now);
        match summary {
            Ok(summary) => {
                self.last_import = Some(summary);
                Ok(())
            }
            Err(message) => {
                self.last_import = None;
                Err(message)
            }
        }
    }

    fn expect_step(&mut self, rest: &str) -> Result<(), String> {
        self.ensure_workspace()?;
        if let Some(rest) = rest.strip_prefix("members ") {
            let (name, set) = rest.split_once(" = ").ok_or("write `expect members <segment> = {…}`")?;
            let id = self.segment_id(name)?;
            return self.expect_set(self.member_keys(id)?, set);
        }
        if let Some(rest) = rest.strip_prefix("matches ") {
            let (criteria, set) = rest.rsplit_once(" = ").ok_or("write `expect matches <criteria> = {…}`")?;
            let schema = self.backend.schema(&self.workspace).map_err(|e| e.to_string())?;
            let criteria = schema.parse_text(criteria).map_err(|e| e.to_string())?;
            let test = self.backend.test_criteria(&self.workspace, &criteria, self.now).map_err(|e| e.to_string())?;
            let keys = test.sample.iter().map(row_key).collect();
            if test.total > 20 {
                return Err("expect matches checks at most 20 contacts".into());
            }
            return self.expect_set(keys, set);
        }
        if let Some(rest) = rest.strip_prefix("import") {
            let summary = self.last_import.clone().ok_or("no import to check")?;
            for token in tokens(rest) {
                let (key, value) = token.split_once('=').ok_or_else(|| format!("`{token}` is not key=value"))?;
                let actual = match key {
                    "created" => summary.created.to_string(),
                    "updated" => summary.updated.to_string(),
                    "rejected" => summary.rejected.to_string(),
                    "warnings" => summary.warnings.to_string(),
                    "rejected_records" => {
                        format!("[{}]", summary.rejected_records.iter().map(u64::to_string).collect::<Vec<_>>().join(","))
                    }
                    "message" => {
                        if summary.messages.iter().any(|m| m.to_lowercase().contains(&value.to_lowercase())) {
                            continue;
                        }
                        return Err(format!("no import message contains `{value}`: {:?}", summary.messages));
                    }
                    other => return Err(format!("unknown import key `{other}`")),
                };
                if actual != value {
                    return Err(format!("import {key}: expected {value}, got {actual} (messages: {:?})", summary.messages));
                }
            }
            return Ok(());
        }
        if let Some(rest) = rest.strip_prefix("contact ") {
            return self.expect_contact(rest);
        }
        if let Some(rest) = rest.strip_prefix("breakdown ") {
            return self.expect_breakdown(rest);
        }
        if let Some(rest) = rest.strip_prefix("duplicates") {
            return self.expect_duplicates(rest);
        }
        if let Some(rest) = rest.strip_prefix("log ") {
            return self.expect_log(rest);
        }
        self.expect_summary(rest)
    }

    fn member_keys(&self, id: SegmentId) -> Result<BTreeSet<String>, String> {
        let mut keys = BTreeSet::new();
        let mut after = None;
        loop {
            let page = self.backend.members(&self.workspace, id, View::All, after, 1000, self.now).map_err(|e| e.to_string())?;
            keys.extend(page.items.iter().map(row_key));
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(keys),
            }
        }
    }

    fn expect_set(&self, actual: BTreeSet<String>, wanted: &str) -> Result<(), String> {
        let wanted: BTreeSet<String> = wanted
            .trim()
            .trim_start_matches('{')
            .trim_end_matches('}')
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        if actual == wanted { Ok(()) } else { Err(format!("expected {wanted:?}, got {actual:?}")) }
    }

    fn expect_contact(&self, rest: &str) -> Result<(), String> {
        let toks = tokens(rest);
        let (who, checks) = toks.split_first().ok_or("write `expect contact <email> key=value…`")?;
        let detail = self.backend.contact(&self.workspace, &contact_ref(who), self.now).map_err(|e| e.to_string())?;
        for check in checks {
            let (key, wanted) = check.split_once('=').ok_or_else(|| format!("`{check}` is not key=value"))?;
            let row = &detail.row;
            let actual = match key {
                "email" => row.email.clone(),
                "first_name" => row.first_name.clone(),
                "last_name" => row.last_name.clone(),
                "stage" => row.stage.clone(),
                "country" => row.country.clone(),
                "city" => row.city.clone(),
                "region" => row.region.clone(),
                "kind" => Some(row.kind.key().to_owned()),
                "status" => Some(row.status.to_owned()),
                "reachability" => Some(row.reachability.key().to_owned()),
                "provider" => Some(row.provider.to_owned()),
                "sessions" => Some(row.sessions.to_string()),
                "source" => detail.source.map(str::to_owned),
                "channel" => Some(detail.channel.to_owned()),
                "tags" => Some(detail.tags.join(",")),
                "created_at" => Some(format_instant(row.created_at)),
                attribute => detail.attributes.get(attribute).map(|v| match v {
                    Value::Text(t) => t.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Date(d) => d.to_string(),
                    Value::DateTime(t) => format_instant(*t),
                    Value::List(items) => items.join(","),
                }),
            };
            let actual = actual.unwrap_or_else(|| "null".to_owned());
            if actual != *wanted {
                return Err(format!("contact {who} {key}: expected {wanted}, got {actual}"));
            }
        }
        Ok(())
    }

    fn expect_breakdown(&self, rest: &str) -> Result<(), String> {
        let (head, checks) = rest.split_once(':').ok_or("write `expect breakdown <segment> <field>: value=count…`")?;
        let (name, field) = head.trim().rsplit_once(' ').ok_or("write `expect breakdown <segment> <field>:`")?;
        let id = self.segment_id(name)?;
        let breakdown = self.backend.breakdown(&self.workspace, id, View::All, field, self.now).map_err(|e| e.to_string())?;
        let actual: BTreeMap<String, u64> =
            breakdown.values.iter().map(|(v, n)| (v.clone().unwrap_or_else(|| "(none)".to_owned()), *n)).collect();
        let mut wanted = BTreeMap::new();
        for token in tokens(checks) {
            let (key, value) = token.rsplit_once('=').ok_or_else(|| format!("`{token}` is not value=count"))?;
            wanted.insert(key.to_owned(), value.parse::<u64>().map_err(|_| format!("`{value}` is not a count"))?);
        }
        if actual == wanted { Ok(()) } else { Err(format!("breakdown: expected {wanted:?}, got {actual:?}")) }
    }

    fn expect_duplicates(&self, rest: &str) -> Result<(), String> {
        let groups = self.backend.duplicates(&self.workspace).map_err(|e| e.to_string())?;
        let mut rows = Vec::new();
        for group in &groups {
            let mut emails = Vec::new();
            for id in &group.contacts {
                let detail = self.backend.contact(&self.workspace, &ContactRef::Id(*id), self.now).map_err(|e| e.to_string())?;
                emails.push(detail.row.email.unwrap_or_default());
            }
            emails.sort();
            let strength = match group.strength {
                segscope_core::email::DuplicateStrength::Likely => "likely",
                segscope_core::email::DuplicateStrength::Possible => "possible",
            };
            rows.push(format!("{strength}={{{}}}", emails.join(", ")));
        }
        let mut wanted: Vec<String> = Vec::new();
        let mut current = String::new();
        for part in rest.split('}') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            current.push_str(part);
            let (strength, set) = current.split_once("={").ok_or("write likely={a, b}")?;
            let mut members: Vec<String> = set.split(',').map(|s| s.trim().to_owned()).collect();
            members.sort();
            wanted.push(format!("{}={{{}}}", strength.trim(), members.join(", ")));
            current.clear();
        }
        rows.sort();
        wanted.sort();
        if rows == wanted { Ok(()) } else { Err(format!("duplicates: expected {wanted:?}, got {rows:?}")) }
    }

    fn expect_log(&self, rest: &str) -> Result<(), String> {
        let (name, checks) = rest.split_once(':').ok_or("write `expect log <segment>: enter.backfill=3…`")?;
        let id = self.segment_id(name)?;
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut after = None;
        loop {
            let page = self.backend.membership_log(&self.workspace, id, after, 1000).map_err(|e| e.to_string())?;
            for entry in &page.items {
                let key = format!("{}.{}", if entry.entered { "enter" } else { "exit" }, entry.reason.key());
                *counts.entry(key).or_default() += 1;
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        for token in tokens(checks) {
            let (key, value) = token.split_once('=').ok_or_else(|| format!("`{token}` is not key=count"))?;
            let actual = counts.get(key).copied().unwrap_or(0).to_string();
            if actual != value {
                return Err(format!("log {key}: expected {value}, got {actual} (all: {counts:?})"));
            }
        }
        Ok(())
    }

    fn expect_summary(&self, rest: &str) -> Result<(), String> {
        let (head, checks) = rest.split_once(':').ok_or("write `expect <segment> [view=…] [range=…]: key=value…`")?;
        let head_tokens = tokens(head);
        let split = head_tokens.iter().position(|t| t.contains('=')).unwrap_or(head_tokens.len());
        let name = head_tokens[..split].join(" ");
        let id = self.segment_id(&name)?;
        let settings = self.backend.settings(&self.workspace).map_err(|e| e.to_string())?;
        let mut view = View::All;
        let mut tz = Tz::parse(&settings.time_zone).map_err(|e| e.to_string())?;
        let (mut range_text, mut granularity_text) = (None, None);
        for token in &head_tokens[split..] {
            let (key, value) = token.split_once('=').expect("has =");
            match key {
                "view" => view = View::parse(value).map_err(|e| e.to_string())?,
                "tz" => tz = Tz::parse(value).map_err(|e| e.to_string())?,
                "range" => range_text = Some(value.to_owned()),
                "granularity" => granularity_text = Some(value.to_owned()),
                other => return Err(format!("unknown summary option `{other}`")),
            }
        }
        let range = match range_text.as_deref() {
            None => resolve_range(None, None, None, self.now, &tz),
            Some(text) => match text.split_once("..") {
                Some((from, to)) => resolve_range(
                    Some(RangeBound::parse(from).map_err(|e| e.to_string())?),
                    Some(RangeBound::parse(to).map_err(|e| e.to_string())?),
                    None,
                    self.now,
                    &tz,
                ),
                None => resolve_range(None, None, Some(RangePreset::parse(text).map_err(|e| e.to_string())?), self.now, &tz),
            },
        }
        .map_err(|e| e.to_string())?;
        let granularity = match granularity_text {
            Some(text) => Granularity::parse(&text).map_err(|e| e.to_string())?,
            None => Granularity::default_for(range, &tz),
        };
        let request = SummaryRequest { view, range, tz, granularity, country: None, region: None };
        let summary = self.backend.summary(&self.workspace, id, &request, self.now).map_err(|e| e.to_string())?;
        let flat = flatten_summary(&summary);
        for token in tokens(checks) {
            let (key, wanted) = token.split_once('=').ok_or_else(|| format!("`{token}` is not key=value"))?;
            let actual = flat.get(key).cloned().unwrap_or_else(|| "0".to_owned());
            if !same_value(&actual, wanted) {
                return Err(format!("{key}: expected {wanted}, got {actual}"));
            }
        }
        Ok(())
    }
}

/// Anonymous visitors have no email; fixtures name them `~<visitor id>`
/// through their first page's visitor id, which the member row lacks, so
/// they are named `~#<contact id>`.
fn row_key(row: &segscope_core::engine::ContactRow) -> String {
    match (&row.email, &row.external_id) {
        (Some(email), _) => email.clone(),
        (None, Some(external)) => external.clone(),
        (None, None) => format!("~#{}", row.id.0),
    }
}

fn same_value(actual: &str, wanted: &str) -> bool {
    if actual == wanted {
        return true;
    }
    let list = |s: &str| -> Option<Vec<f64>> {
        let inner = s.strip_prefix('[')?.strip_suffix(']')?;
        if inner.trim().is_empty() {
            return Some(Vec::new());
        }
        inner.split(',').map(|x| x.trim().parse::<f64>().ok()).collect()
    };
    match (actual.parse::<f64>(), wanted.parse::<f64>()) {
        (Ok(a), Ok(b)) => (a - b).abs() <= 1e-9 * b.abs().max(1.0),
        _ => match (list(actual), list(wanted)) {
            (Some(a), Some(b)) => a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| (x - y).abs() <= 1e-9 * y.abs().max(1.0)),
            _ => false,
        },
    }
}

fn number(value: Option<f64>) -> String {
    match value {
        None => "null".to_owned(),
        Some(v) => {
            let text = format!("{v:.9}");
            text.trim_end_matches('0').trim_end_matches('.').to_owned()
        }
    }
}

fn list<T: ToString>(items: impl Iterator<Item = T>) -> String {
    format!("[{}]", items.map(|i| i.to_string()).collect::<Vec<_>>().join(","))
}

/// The summary as dotted keys, the vocabulary of `expect` steps.
pub fn flatten_summary(summary: &Summary) -> BTreeMap<String, String> {
    let mut flat = BTreeMap::new();
    let mut put = |key: String, value: String| {
        flat.insert(key, value);
    };
    let o = &summary.overall;
    put("overall.known".into(), o.known.to_string());
    put("overall.anonymous".into(), o.anonymous.to_string());
    put("overall.total".into(), o.total.to_string());
    put("overall.sessions".into(), o.sessions.to_string());
    put("overall.avg_session_secs".into(), number(o.avg_session_secs));
    put("overall.bounces".into(), o.bounces.to_string());
    put("overall.bounce_rate".into(), number(o.bounce_rate));
    let g = &summary.growth;
    put("growth.added".into(), g.added.to_string());
    put("growth.removed".into(), g.removed.to_string());
    put("growth.net".into(), g.net.to_string());
    put("growth.total_at_start".into(), g.total_at_start.to_string());
    put("growth.total_at_end".into(), g.total_at_end.to_string());
    put("growth.granularity".into(), g.granularity.as_str().to_owned());
    put("growth.buckets".into(), list(g.points.iter().map(|p| p.period_start)));
    put("growth.points".into(), g.points.len().to_string());
    put("growth.added_by_bucket".into(), list(g.points.iter().map(|p| p.added)));
    put("growth.removed_by_bucket".into(), list(g.points.iter().map(|p| p.removed)));
    put("growth.net_by_bucket".into(), list(g.points.iter().map(|p| p.net)));
    put("growth.total_by_bucket".into(), list(g.points.iter().map(|p| p.total)));
    let a = &summary.associated;
    put("associated.journeys".into(), a.journeys.len().to_string());
    put("associated.journeys_active".into(), a.journeys_active.to_string());
    put("associated.campaigns".into(), a.campaigns.len().to_string());
    put("associated.campaigns_active".into(), a.campaigns_active.to_string());
    put("associated.opted_in".into(), a.opted_in.count.to_string());
    put("associated.bounced".into(), a.bounced.count.to_string());
    put("associated.unsubscribed".into(), a.unsubscribed.count.to_string());
    for (level, share) in &summary.reachability {
        put(format!("reachability.{}", level.key()), share.count.to_string());
    }
    put(
        "reachability.reachable".into(),
        summary.reachability.iter().filter(|(l, _)| l.index() <= 1).map(|(_, s)| s.count).sum::<u64>().to_string(),
    );
    for (status, share) in &summary.subscription {
        put(format!("subscription.{}", status.key()), share.count.to_string());
    }
    for (group, stats) in [("known", &summary.website.known), ("anonymous", &summary.website.anonymous)] {
        put(format!("website.{group}.members"), stats.members.to_string());
        put(format!("website.{group}.sessions"), stats.sessions.to_string());
        put(format!("website.{group}.sessions_per_member"), number(stats.sessions_per_member));
        put(format!("website.{group}.avg_session_secs"), number(stats.avg_session_secs));
        put(format!("website.{group}.bounces"), stats.bounces.to_string());
    }
    for (stage, share) in &summary.stages {
        put(format!("stages.{}", stage.as_deref().unwrap_or("none")), share.count.to_string());
    }
    for (channel, share) in &summary.channels {
        put(format!("channels.{}", channel.key()), share.count.to_string());
    }
    for (source, share) in &summary.sources {
        put(format!("sources.{}", source.map_or("none", |s| s.key())), share.count.to_string());
    }
    for (provider, share) in &summary.providers {
        put(format!("providers.{}", provider.key()), share.count.to_string());
    }
    for (country, share) in &summary.geography.countries {
        put(format!("countries.{}", country.map_or("unknown".to_owned(), |c| c.code().to_owned())), share.count.to_string());
    }
    flat
}

/// Bot detection for fixture user agents: enough for the field cases; the
/// ingestion crate's real classifier is tested on the real lists.
fn looks_like_bot(user_agent: &str) -> bool {
    let lowered = user_agent.to_ascii_lowercase();
    ["bot", "crawler", "spider", "headless", "python-requests", "curl/", "wget", "scanner"].iter().any(|w| lowered.contains(w))
}
