//! The API's request and response types, separate from the core's.
//!
//! The core's types are free to change shape; these are the promise made
//! to integrators and to the dashboard. Conventions:
//! - instants are RFC 3339 strings in UTC (`2024-03-01T10:00:00Z`), local
//!   calendar dates are `YYYY-MM-DD`;
//! - counts are exact JSON integers; averages and shares are JSON numbers,
//!   or `null` when their base is empty (never NaN, never 0 for "no data");
//! - enumerations are their stable snake_case keys (`organic_search`,
//!   `hard_bounced`) with a `label` for display where one exists;
//! - request bodies refuse unknown fields (a typo is a 422, not a no-op).

use std::collections::BTreeMap;

use segscope_core::backend::{SchemaSnapshot, WorkspaceStats};
use segscope_core::criteria::json::to_json;
use segscope_core::engine::{ContactDetail, ContactRow, CriteriaTest, FieldBreakdown, LogEntryView, Page, SegmentInfo};
use segscope_core::event::{ConsentChange, MailFact};
use segscope_core::ids::{SegmentId, WorkspaceId};
use segscope_core::model::{Automation, Settings, Value as CoreValue};
use segscope_core::summary::{Share, Summary};
use segscope_core::time::{Secs, format_instant};
use segscope_ingest::csv_contacts::mapping::ColumnMapping;
use segscope_ingest::{ImportReport, NdjsonImportReport, ProblemSeverity};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub fn instant(at: Secs) -> String {
    format_instant(at)
}

// ---------------------------------------------------------------- requests

/// Criteria in either surface form: `criteria_text` (the readable form) or
/// `criteria` (the JSON form). Giving both is an error.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriteriaInput {
    pub criteria_text: Option<String>,
    pub criteria: Option<Value>,
}

/// `POST /segments`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentCreate {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub criteria_text: Option<String>,
    pub criteria: Option<Value>,
    /// A static list (members added explicitly) instead of criteria.
    #[serde(default, rename = "static")]
    pub is_static: bool,
}

/// `PATCH /segments/{id}`: absent fields keep their value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub criteria_text: Option<String>,
    pub criteria: Option<Value>,
}

/// A contact in a request: its id (a number), an email (a string with
/// `@`), an external id (any other string), or an explicit object.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ContactRefInput {
    Id(u32),
    Text(String),
    Explicit(ExplicitContactRef),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplicitContactRef {
    pub id: Option<u32>,
    pub email: Option<String>,
    pub external_id: Option<String>,
}

/// `POST /segments/{id}/members` and `/members/remove` on a static list.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListChange {
    pub contacts: Vec<ContactRefInput>,
}

/// `PATCH /settings`: absent fields keep their value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    pub time_zone: Option<String>,
    pub stages: Option<Vec<String>>,
    pub sessions: Option<SessionsPatch>,
    pub soft_bounce_threshold: Option<u32>,
    pub engaged_days: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsPatch {
    pub idle_timeout_secs: Option<i64>,
    pub max_length_secs: Option<i64>,
    pub split_at_midnight: Option<bool>,
}

/// `POST /journeys`, `POST /campaigns`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutomationCreate {
    pub name: String,
    /// draft (default), scheduled, active, paused, completed, archived.
    pub status: Option<String>,
    /// Free-form kind, e.g. `welcome`, `newsletter`.
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub segment_ids: Vec<u32>,
}

/// `PATCH /journeys/{id}`, `PATCH /campaigns/{id}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutomationPatch {
    pub name: Option<String>,
    pub status: Option<String>,
    pub kind: Option<String>,
    pub segment_ids: Option<Vec<u32>>,
}

// ---------------------------------------------------------------- responses

#[derive(Debug, Clone, Serialize)]
pub struct SegmentRef {
    pub id: u32,
    pub name: Option<String>,
}

pub fn segment_ref(id: SegmentId, schema: &SchemaSnapshot) -> SegmentRef {
    SegmentRef { id: id.0, name: schema.segments.get(&id).cloned() }
}

#[derive(Debug, Clone, Serialize)]
pub struct Counts {
    pub known: u64,
    pub anonymous: u64,
    pub total: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SegmentOut {
    pub id: u32,
    pub name: String,
    pub description: String,
    /// `dynamic` (criteria) or `static` (a list).
    #[serde(rename = "type")]
    pub segment_type: &'static str,
    /// The built-in "All contacts" segment (read-only).
    pub system: bool,
    pub criteria: Option<Value>,
    pub criteria_text: Option<String>,
    pub members: Counts,
    pub created_at: String,
    pub updated_at: String,
    pub last_change: String,
    pub references: Vec<SegmentRef>,
    pub referenced_by: Vec<SegmentRef>,
    pub journeys: usize,
    pub campaigns: usize,
    pub time_dependent: bool,
}

pub fn segment_out(info: &SegmentInfo, schema: &SchemaSnapshot) -> SegmentOut {
    SegmentOut {
        id: info.id.0,
        name: info.name.clone(),
        description: info.description.clone(),
        segment_type: if info.is_static { "static" } else { "dynamic" },
        system: info.system,
        criteria: info.criteria.as_ref().map(to_json),
        criteria_text: info.criteria_text.clone(),
        members: Counts { known: info.known, anonymous: info.anonymous, total: info.total },
        created_at: instant(info.created_at),
        updated_at: instant(info.updated_at),
        last_change: instant(info.last_change),
        references: info.references.iter().map(|id| segment_ref(*id, schema)).collect(),
        referenced_by: info.referenced_by.iter().map(|id| segment_ref(*id, schema)).collect(),
        journeys: info.journeys,
        campaigns: info.campaigns,
        time_dependent: info.time_dependent,
    }
}

/// One page of a keyset-paged list. Pass `next_cursor` back as `cursor`;
/// `null` means this is the last page.
#[derive(Debug, Clone, Serialize)]
pub struct PageOut<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

pub fn page_out<A, T>(page: Page<A>, convert: impl Fn(A) -> T) -> PageOut<T> {
    PageOut { items: page.items.into_iter().map(convert).collect(), next_cursor: page.next.map(|n| n.to_string()) }
}

#[derive(Debug, Clone, Serialize)]
pub struct ContactRowOut {
    pub id: u32,
    /// `known` or `anonymous`.
    pub kind: &'static str,
    pub email: Option<String>,
    pub external_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub stage: Option<String>,
    pub country: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
    pub created_at: String,
    pub last_seen: Option<String>,
    pub subscription_status: &'static str,
    pub reachability: &'static str,
    pub email_provider: &'static str,
    /// Creation channel key.
    pub channel: &'static str,
    /// First-touch source key (`null`: none known).
    pub source: Option<&'static str>,
    pub sessions: usize,
}

pub fn contact_row_out(row: ContactRow) -> ContactRowOut {
    ContactRowOut {
        id: row.id.0,
        kind: row.kind.key(),
        email: row.email,
        external_id: row.external_id,
        first_name: row.first_name,
        last_name: row.last_name,
        stage: row.stage,
        country: row.country,
        region: row.region,
        city: row.city,
        created_at: instant(row.created_at),
        last_seen: row.last_seen.map(instant),
        subscription_status: row.status,
        reachability: row.reachability.key(),
        email_provider: row.provider,
        channel: row.channel,
        source: row.source,
        sessions: row.sessions,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionOut {
    pub start: String,
    pub end: String,
    pub duration_secs: i64,
    pub page_views: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct MailOut {
    pub at: String,
    pub event: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageChangeOut {
    pub at: String,
    pub stage: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContactOut {
    #[serde(flatten)]
    pub row: ContactRowOut,
    pub identified_at: Option<String>,
    pub phone: Option<String>,
    pub creation_channel: &'static str,
    pub first_touch_source: Option<&'static str>,
    pub tags: Vec<String>,
    pub attributes: BTreeMap<String, Value>,
    pub segments: Vec<SegmentRef>,
    pub visitor_ids: usize,
    /// Newest first, at most 50.
    pub recent_sessions: Vec<SessionOut>,
    /// Newest first, at most 50.
    pub recent_email_events: Vec<MailOut>,
    pub stage_history: Vec<StageChangeOut>,
}

/// A typed attribute value as JSON: dates as `YYYY-MM-DD`, date-times as RFC 3339.
pub fn value_json(value: &CoreValue) -> Value {
    match value {
        CoreValue::Text(text) => json!(text),
        CoreValue::Number(number) => json!(number),
        CoreValue::Bool(flag) => json!(flag),
        CoreValue::Date(date) => json!(date.to_string()),
        CoreValue::DateTime(at) => json!(instant(*at)),
        CoreValue::List(items) => json!(items),
    }
}

fn mail_key(fact: MailFact) -> &'static str {
    match fact {
        MailFact::Email(kind) => kind.key(),
        MailFact::Consent(ConsentChange::OptedIn) => "consent_opted_in",
        MailFact::Consent(ConsentChange::Pending) => "consent_pending",
        MailFact::Consent(ConsentChange::Unsubscribed) => "consent_unsubscribed",
        MailFact::Consent(ConsentChange::NoConsent) => "consent_none",
        MailFact::Consent(ConsentChange::DoNotContact(true)) => "do_not_contact_set",
        MailFact::Consent(ConsentChange::DoNotContact(false)) => "do_not_contact_cleared",
        MailFact::Consent(ConsentChange::Invalid(true)) => "invalid_address_set",
        MailFact::Consent(ConsentChange::Invalid(false)) => "invalid_address_cleared",
        MailFact::Consent(ConsentChange::Cleaned) => "cleaned",
    }
}

pub fn contact_out(detail: ContactDetail, schema: &SchemaSnapshot) -> ContactOut {
    ContactOut {
        row: contact_row_out(detail.row),
        identified_at: detail.identified_at.map(instant),
        phone: detail.phone,
        creation_channel: detail.channel,
        first_touch_source: detail.source,
        tags: detail.tags,
        attributes: detail.attributes.iter().map(|(name, value)| (name.clone(), value_json(value))).collect(),
        segments: detail.segments.iter().map(|id| segment_ref(*id, schema)).collect(),
        visitor_ids: detail.visitor_ids,
        recent_sessions: detail
            .recent_sessions
            .iter()
            .map(|s| SessionOut {
                start: instant(s.start),
                end: instant(s.end()),
                duration_secs: s.duration(),
                page_views: s.page_views,
            })
            .collect(),
        recent_email_events: detail.recent_mail.iter().map(|m| MailOut { at: instant(m.at), event: mail_key(m.fact) }).collect(),
        stage_history: detail.stage_history.into_iter().map(|(at, stage)| StageChangeOut { at: instant(at), stage }).collect(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LogEntryOut {
    pub seq: u64,
    pub at: String,
    pub contact: u32,
    /// `entered` or `exited`.
    pub event: &'static str,
    pub reason: &'static str,
    pub epoch: u32,
}

pub fn log_entry_out(entry: LogEntryView) -> LogEntryOut {
    LogEntryOut {
        seq: entry.seq,
        at: instant(entry.at),
        contact: entry.contact.0,
        event: if entry.entered { "entered" } else { "exited" },
        reason: entry.reason.key(),
        epoch: entry.epoch,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CriteriaTestOut {
    pub criteria: Value,
    pub criteria_text: String,
    pub members: Counts,
    /// Up to 20 of the matching contacts, by id.
    pub sample: Vec<ContactRowOut>,
}

pub fn criteria_test_out(test: CriteriaTest, criteria: Value, criteria_text: String) -> CriteriaTestOut {
    CriteriaTestOut {
        criteria,
        criteria_text,
        members: Counts { known: test.known, anonymous: test.anonymous, total: test.total },
        sample: test.sample.into_iter().map(contact_row_out).collect(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BreakdownValue {
    /// `null` is the "(none)" bucket: no value or an empty one.
    pub value: Option<String>,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BreakdownOut {
    pub field: String,
    pub view: &'static str,
    /// Members counted (a list field may count a member once per item).
    pub total: u64,
    /// Largest first.
    pub values: Vec<BreakdownValue>,
}

pub fn breakdown_out(breakdown: FieldBreakdown, view: &'static str) -> BreakdownOut {
    BreakdownOut {
        field: breakdown.field,
        view,
        total: breakdown.total,
        values: breakdown.values.into_iter().map(|(value, count)| BreakdownValue { value, count }).collect(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionsOut {
    pub idle_timeout_secs: i64,
    pub max_length_secs: i64,
    pub split_at_midnight: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SettingsOut {
    pub time_zone: String,
    pub stages: Vec<String>,
    pub sessions: SessionsOut,
    pub soft_bounce_threshold: u32,
    pub engaged_days: u32,
}

pub fn settings_out(settings: &Settings) -> SettingsOut {
    SettingsOut {
        time_zone: settings.time_zone.clone(),
        stages: settings.stages.clone(),
        sessions: SessionsOut {
            idle_timeout_secs: settings.sessions.idle_timeout_secs,
            max_length_secs: settings.sessions.max_length_secs,
            split_at_midnight: settings.sessions.split_at_midnight,
        },
        soft_bounce_threshold: settings.soft_bounce_threshold,
        engaged_days: settings.engaged_days,
    }
}

/// Applies a settings patch to the current settings.
pub fn patch_settings(mut settings: Settings, patch: SettingsPatch) -> Settings {
    if let Some(tz) = patch.time_zone {
        settings.time_zone = tz;
    }
    if let Some(stages) = patch.stages {
        settings.stages = stages;
    }
    if let Some(sessions) = patch.sessions {
        if let Some(v) = sessions.idle_timeout_secs {
            settings.sessions.idle_timeout_secs = v;
        }
        if let Some(v) = sessions.max_length_secs {
            settings.sessions.max_length_secs = v;
        }
        if let Some(v) = sessions.split_at_midnight {
            settings.sessions.split_at_midnight = v;
        }
    }
    if let Some(v) = patch.soft_bounce_threshold {
        settings.soft_bounce_threshold = v;
    }
    if let Some(v) = patch.engaged_days {
        settings.engaged_days = v;
    }
    settings
}

#[derive(Debug, Clone, Serialize)]
pub struct StatsOut {
    pub contacts: u64,
    pub known: u64,
    pub anonymous: u64,
    pub segments: usize,
    /// Page views from bots, counted but not recorded.
    pub bot_hits: u64,
    /// Page views with an error status, counted but not recorded.
    pub error_hits: u64,
    pub last_change: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkspaceOut {
    pub id: String,
    pub stats: StatsOut,
    pub settings: SettingsOut,
}

pub fn workspace_out(id: &WorkspaceId, stats: &WorkspaceStats, settings: &Settings) -> WorkspaceOut {
    WorkspaceOut {
        id: id.to_string(),
        stats: StatsOut {
            contacts: stats.contacts,
            known: stats.known,
            anonymous: stats.anonymous,
            segments: stats.segments,
            bot_hits: stats.bot_hits,
            error_hits: stats.error_hits,
            last_change: instant(stats.last_change),
        },
        settings: settings_out(settings),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AutomationOut {
    pub id: u32,
    pub name: String,
    pub status: &'static str,
    /// Scheduled or active.
    pub active: bool,
    pub kind: String,
    pub segments: Vec<SegmentRef>,
    pub created_at: String,
    pub updated_at: String,
}

pub fn automation_out(automation: &Automation, schema: &SchemaSnapshot) -> AutomationOut {
    AutomationOut {
        id: automation.id,
        name: automation.name.clone(),
        status: automation.status.key(),
        active: automation.status.is_active(),
        kind: automation.subtype.clone(),
        segments: automation.segment_ids.iter().map(|id| segment_ref(*id, schema)).collect(),
        created_at: instant(automation.created_at),
        updated_at: instant(automation.updated_at),
    }
}

fn severity_key(severity: ProblemSeverity) -> &'static str {
    match severity {
        ProblemSeverity::Rejected => "rejected",
        ProblemSeverity::Repaired => "repaired",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RecordProblemOut {
    /// 1-based data record (the header is not a record).
    pub record: usize,
    /// 1-based line where the record starts.
    pub line: u64,
    /// `rejected` (nothing of the record imported) or `repaired` (imported
    /// with the value left out).
    pub severity: &'static str,
    pub column: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ColumnOut {
    pub header: String,
    pub target: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContactImportOut {
    pub created: usize,
    pub updated: usize,
    pub skipped: usize,
    pub records: usize,
    pub blank_records: usize,
    pub columns: Vec<ColumnOut>,
    pub notes: Vec<String>,
    /// The first problems found (at most 1,000).
    pub problems: Vec<RecordProblemOut>,
    /// Problems counted but not listed, past the first 1,000.
    pub problems_omitted: usize,
}

pub fn columns_out(mapping: &ColumnMapping) -> Vec<ColumnOut> {
    mapping.columns.iter().map(|c| ColumnOut { header: c.header.clone(), target: c.target.name().to_string() }).collect()
}

pub fn contact_import_out(report: ImportReport, columns: Vec<ColumnOut>) -> ContactImportOut {
    ContactImportOut {
        created: report.created,
        updated: report.updated,
        skipped: report.skipped,
        records: report.n_records,
        blank_records: report.n_blank_records,
        columns,
        notes: report.notes,
        problems_omitted: report.omitted.total(),
        problems: report
            .problems
            .into_iter()
            .map(|p| RecordProblemOut {
                record: p.record,
                line: p.line,
                severity: severity_key(p.severity),
                column: p.column,
                message: p.message,
            })
            .collect(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LineProblemOut {
    pub line: usize,
    pub severity: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventImportOut {
    pub contacts_created: usize,
    pub contacts_updated: usize,
    pub events_accepted: usize,
    pub contacts_created_by_events: usize,
    pub merges: usize,
    pub bot_hits: usize,
    pub error_hits: usize,
    pub skipped: usize,
    pub lines: usize,
    /// The first problems found (at most 1,000).
    pub problems: Vec<LineProblemOut>,
    /// Problems counted but not listed, past the first 1,000.
    pub problems_omitted: usize,
}

pub fn event_import_out(report: NdjsonImportReport) -> EventImportOut {
    EventImportOut {
        contacts_created: report.contacts_created,
        contacts_updated: report.contacts_updated,
        events_accepted: report.events_accepted,
        contacts_created_by_events: report.contacts_created_by_events,
        merges: report.merges,
        bot_hits: report.bot_hits,
        error_hits: report.error_hits,
        skipped: report.skipped,
        lines: report.n_lines,
        problems_omitted: report.omitted.total(),
        problems: report
            .problems
            .into_iter()
            .map(|p| LineProblemOut { line: p.line, severity: severity_key(p.severity), message: p.message })
            .collect(),
    }
}

// ---------------------------------------------------------------- summary

fn share_json(share: &Share) -> Value {
    json!({ "count": share.count, "share": share.share })
}

/// The segment summary (SPEC §7) as the API returns it. Every block is
/// present even when empty; distributions list every category (zeros
/// included) in a stable order so charts do not reshuffle.
pub fn summary_json(summary: &Summary) -> Value {
    let overall = &summary.overall;
    let growth = &summary.growth;
    let associated = &summary.associated;
    let automations = |items: &[segscope_core::summary::AutomationRef], active: usize| {
        json!({
            "total": items.len(),
            "active": active,
            "items": items.iter().map(|a| json!({
                "id": a.id, "name": a.name, "status": a.status, "kind": a.subtype, "active": a.active,
            })).collect::<Vec<_>>(),
        })
    };
    let website_group = |g: &segscope_core::summary::WebsiteGroup| {
        json!({
            "members": g.members,
            "active_members": g.active_members,
            "sessions": g.sessions,
            "sessions_per_member": g.sessions_per_member,
            "avg_session_secs": g.avg_session_secs,
            "bounces": g.bounces,
            "bounce_rate": g.bounce_rate,
        })
    };
    let places = |rows: &[segscope_core::summary::Place]| {
        rows.iter().map(|p| json!({ "name": p.name, "count": p.count.count, "share": p.count.share })).collect::<Vec<_>>()
    };
    json!({
        "segment": { "id": summary.segment.0, "name": summary.segment_name },
        "view": summary.view.key(),
        "range": { "from": instant(summary.range.from), "to": instant(summary.range.to) },
        "time_zone": summary.tz,
        "computed_at": instant(summary.computed_at),
        "overall": {
            "known": overall.known,
            "anonymous": overall.anonymous,
            "total": overall.total,
            "sessions": overall.sessions,
            "avg_session_secs": overall.avg_session_secs,
            "bounces": overall.bounces,
            "bounce_rate": overall.bounce_rate,
        },
        "growth": {
            "granularity": growth.granularity.as_str(),
            "added": growth.added,
            "removed": growth.removed,
            "net": growth.net,
            "total_at_start": growth.total_at_start,
            "total_at_end": growth.total_at_end,
            "points": growth.points.iter().map(|p| json!({
                "period": p.period_start.to_string(),
                "start": instant(p.start),
                "end": instant(p.end),
                "added": p.added,
                "removed": p.removed,
                "net": p.net,
                "total": p.total,
            })).collect::<Vec<_>>(),
        },
        "associated": {
            "journeys": automations(&associated.journeys, associated.journeys_active),
            "campaigns": automations(&associated.campaigns, associated.campaigns_active),
            "opted_in": share_json(&associated.opted_in),
            "bounced": share_json(&associated.bounced),
            "unsubscribed": share_json(&associated.unsubscribed),
        },
        "reachability": summary.reachability.iter().map(|(level, s)| json!({
            "level": level.key(), "label": level.label(), "count": s.count, "share": s.share,
        })).collect::<Vec<_>>(),
        "subscription": summary.subscription.iter().map(|(status, s)| json!({
            "status": status.key(), "label": status.label(), "count": s.count, "share": s.share,
        })).collect::<Vec<_>>(),
        "website": {
            "known": website_group(&summary.website.known),
            "anonymous": website_group(&summary.website.anonymous),
        },
        "stages": summary.stages.iter().map(|(stage, s)| json!({
            "stage": stage, "count": s.count, "share": s.share,
        })).collect::<Vec<_>>(),
        "sources": {
            "creation_channels": summary.channels.iter().map(|(channel, s)| json!({
                "channel": channel.key(), "label": channel.label(), "count": s.count, "share": s.share,
            })).collect::<Vec<_>>(),
            "first_touch": summary.sources.iter().map(|(source, s)| json!({
                "source": source.map(|x| x.key()),
                "label": source.map_or("None", |x| x.label()),
                "count": s.count,
                "share": s.share,
            })).collect::<Vec<_>>(),
        },
        "email_providers": summary.providers.iter().map(|(provider, s)| json!({
            "provider": provider.key(), "label": provider.label(), "count": s.count, "share": s.share,
        })).collect::<Vec<_>>(),
        "geography": {
            "countries": summary.geography.countries.iter().map(|(country, s)| json!({
                "country": country.map(|c| c.code().to_owned()),
                "name": country.map_or("Unknown", |c| c.name()),
                "count": s.count,
                "share": s.share,
            })).collect::<Vec<_>>(),
            "drill_country": summary.geography.drill_country.map(|c| c.code().to_owned()),
            "drill_region": summary.geography.drill_region,
            "regions": places(&summary.geography.regions),
            "cities": places(&summary.geography.cities),
        },
    })
}
