//! The storage trait. Every backend (the embedded store, ClickHouse) keeps
//! workspaces, applies [`Command`]s durably and answers the same questions;
//! one shared test suite (`segscope-testkit`) runs against each, and the
//! answers must be identical on the same data.
//!
//! Methods are synchronous: the embedded store answers from memory, and the
//! HTTP layer calls them from a blocking pool.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::criteria::{Criteria, Schema};
use crate::email::DuplicateGroup;
use crate::engine::{
    Command, ContactDetail, ContactRef, ContactRow, CriteriaTest, FieldBreakdown, LogEntryView, Outcome, Page, SegmentInfo,
};
use crate::error::Result;
use crate::ids::{SegmentId, WorkspaceId};
use crate::model::{AttrType, Automation, AutomationKind, Settings};
use crate::summary::{Summary, SummaryRequest, View};
use crate::time::Secs;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyKind {
    /// Reads and manages everything in its workspace.
    Secret,
    /// Public: may only send tracking events to its workspace.
    Write,
}

/// An API key as stored: only a hash of the secret part is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Public identifier, shown in listings (e.g. `key_3f9a1c`).
    pub id: String,
    pub workspace: WorkspaceId,
    pub kind: KeyKind,
    /// SHA-256 of the full key, hex.
    pub hash: String,
    pub label: String,
    pub created_at: Secs,
    pub revoked: bool,
}

/// Counts about a workspace for listings and freshness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceStats {
    pub contacts: u64,
    pub known: u64,
    pub anonymous: u64,
    pub segments: usize,
    pub bot_hits: u64,
    pub error_hits: u64,
    /// The instant of the latest applied change.
    pub last_change: Secs,
}

/// A copy of what criteria parsing needs (attributes, stages, segment names),
/// so callers can parse and print criteria without holding the backend.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SchemaSnapshot {
    pub attributes: BTreeMap<String, AttrType>,
    pub stages: Vec<String>,
    pub segments: BTreeMap<SegmentId, String>,
}

impl SchemaSnapshot {
    pub fn segment_exists(&self, id: SegmentId) -> bool {
        self.segments.contains_key(&id)
    }

    pub fn parse_text(&self, text: &str) -> Result<Criteria> {
        crate::criteria::text::parse(text, self, &|id| self.segment_exists(id))
    }

    pub fn parse_json(&self, json: &serde_json::Value) -> Result<Criteria> {
        crate::criteria::json::from_json(json, self, &|id| self.segment_exists(id))
    }

    pub fn print(&self, criteria: &Criteria) -> String {
        crate::criteria::text::print(criteria, &|id| self.segments.get(&id).cloned())
    }
}

impl Schema for SchemaSnapshot {
    fn attribute_type(&self, name: &str) -> Option<AttrType> {
        self.attributes.get(name).copied()
    }

    fn attribute_names(&self) -> Vec<String> {
        self.attributes.keys().cloned().collect()
    }

    fn stages(&self) -> &[String] {
        &self.stages
    }

    fn segment_by_name(&self, name: &str) -> Option<SegmentId> {
        let wanted = name.trim().to_lowercase();
        self.segments.iter().find(|(_, n)| n.to_lowercase() == wanted).map(|(id, _)| *id)
    }

    fn segment_name(&self, id: SegmentId) -> Option<String> {
        self.segments.get(&id).cloned()
    }
}

pub trait Backend: Send + Sync {
    /// A short name for logs and errors ("embedded", "clickhouse").
    fn name(&self) -> &'static str;

    fn create_workspace(&self, id: &WorkspaceId, settings: Settings, now: Secs) -> Result<()>;
    fn workspaces(&self) -> Result<Vec<WorkspaceId>>;

    fn add_key(&self, key: ApiKey) -> Result<()>;
    fn revoke_key(&self, workspace: &WorkspaceId, key_id: &str) -> Result<()>;
    fn keys(&self, workspace: &WorkspaceId) -> Result<Vec<ApiKey>>;
    fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>>;

    /// Applies a command durably: when this returns `Ok`, the change
    /// survives a crash.
    fn apply(&self, workspace: &WorkspaceId, command: Command, now: Secs) -> Result<Outcome>;

    fn settings(&self, workspace: &WorkspaceId) -> Result<Settings>;
    fn schema(&self, workspace: &WorkspaceId) -> Result<SchemaSnapshot>;
    fn stats(&self, workspace: &WorkspaceId) -> Result<WorkspaceStats>;
    fn summary(&self, workspace: &WorkspaceId, segment: SegmentId, request: &SummaryRequest, now: Secs) -> Result<Summary>;
    fn segments(&self, workspace: &WorkspaceId, now: Secs) -> Result<Vec<SegmentInfo>>;
    fn segment(&self, workspace: &WorkspaceId, segment: SegmentId, now: Secs) -> Result<SegmentInfo>;
    #[allow(clippy::too_many_arguments)]
    fn members(
        &self,
        workspace: &WorkspaceId,
        segment: SegmentId,
        view: View,
        after: Option<u64>,
        limit: usize,
        now: Secs,
    ) -> Result<Page<ContactRow>>;
    fn contact(&self, workspace: &WorkspaceId, who: &ContactRef, now: Secs) -> Result<ContactDetail>;
    fn membership_log(
        &self,
        workspace: &WorkspaceId,
        segment: SegmentId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Page<LogEntryView>>;
    fn test_criteria(&self, workspace: &WorkspaceId, criteria: &Criteria, now: Secs) -> Result<CriteriaTest>;
    fn breakdown(
        &self,
        workspace: &WorkspaceId,
        segment: SegmentId,
        view: View,
        field: &str,
        now: Secs,
    ) -> Result<FieldBreakdown>;
    fn automations(&self, workspace: &WorkspaceId, kind: AutomationKind) -> Result<Vec<Automation>>;
    fn duplicates(&self, workspace: &WorkspaceId) -> Result<Vec<DuplicateGroup>>;
}
