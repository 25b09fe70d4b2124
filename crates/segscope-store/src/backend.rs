//! The [`Backend`] implementation: each method finds the workspace, takes
//! the right lock through [`Store::read`], [`Store::read_at`] or
//! [`Store::apply_command`], and makes one call into the core.

use segscope_core::Result;
use segscope_core::backend::{ApiKey, Backend, SchemaSnapshot, WorkspaceStats};
use segscope_core::criteria::Criteria;
use segscope_core::email::DuplicateGroup;
use segscope_core::engine::{
    Command, ContactDetail, ContactRef, ContactRow, CriteriaTest, FieldBreakdown, LogEntryView, Outcome, Page, SegmentInfo,
};
use segscope_core::ids::{SegmentId, WorkspaceId};
use segscope_core::model::{Automation, AutomationKind, Settings};
use segscope_core::summary::{Summary, SummaryRequest, View};
use segscope_core::time::Secs;

use crate::catalog::CatalogChange;
use crate::store::Store;

impl Backend for Store {
    fn name(&self) -> &'static str {
        "embedded"
    }

    fn create_workspace(&self, id: &WorkspaceId, settings: Settings, now: Secs) -> Result<()> {
        self.create(id, settings, now)
    }

    fn workspaces(&self) -> Result<Vec<WorkspaceId>> {
        Ok(self.catalog().workspace_ids())
    }

    fn add_key(&self, key: ApiKey) -> Result<()> {
        self.change_catalog(CatalogChange::AddKey(key))
    }

    fn revoke_key(&self, workspace: &WorkspaceId, key_id: &str) -> Result<()> {
        self.change_catalog(CatalogChange::RevokeKey { workspace: workspace.clone(), key_id: key_id.to_owned() })
    }

    fn keys(&self, workspace: &WorkspaceId) -> Result<Vec<ApiKey>> {
        self.keys_of(workspace)
    }

    fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>> {
        Ok(self.catalog().key_by_hash(hash).cloned())
    }

    fn apply(&self, workspace: &WorkspaceId, command: Command, now: Secs) -> Result<Outcome> {
        self.apply_command(workspace, command, now)
    }

    fn settings(&self, workspace: &WorkspaceId) -> Result<Settings> {
        self.read(workspace, |ws| Ok(ws.settings().clone()))
    }

    fn schema(&self, workspace: &WorkspaceId) -> Result<SchemaSnapshot> {
        self.read(workspace, |ws| {
            Ok(SchemaSnapshot {
                attributes: ws.attributes().clone(),
                stages: ws.settings().stages.clone(),
                segments: ws.segments().map(|segment| (segment.id, segment.name.clone())).collect(),
            })
        })
    }

    fn stats(&self, workspace: &WorkspaceId) -> Result<WorkspaceStats> {
        self.read(workspace, |ws| {
            let contacts = ws.contact_count();
            // `known_bitmap` keeps contacts that were known when they stopped existing.
            let known = ws.alive_bitmap().intersection_len(ws.known_bitmap());
            Ok(WorkspaceStats {
                contacts,
                known,
                anonymous: contacts - known,
                segments: ws.segments().count(),
                bot_hits: ws.counters().bot_hits,
                error_hits: ws.counters().error_hits,
                last_change: ws.clock(),
            })
        })
    }

    fn summary(&self, workspace: &WorkspaceId, segment: SegmentId, request: &SummaryRequest, now: Secs) -> Result<Summary> {
        self.read_at(workspace, now, |ws| ws.summary(segment, request, now))
    }

    fn segments(&self, workspace: &WorkspaceId, now: Secs) -> Result<Vec<SegmentInfo>> {
        self.read_at(workspace, now, |ws| Ok(ws.segment_infos()))
    }

    fn segment(&self, workspace: &WorkspaceId, segment: SegmentId, now: Secs) -> Result<SegmentInfo> {
        self.read_at(workspace, now, |ws| ws.segment_info(segment))
    }

    fn members(
        &self,
        workspace: &WorkspaceId,
        segment: SegmentId,
        view: View,
        after: Option<u64>,
        limit: usize,
        now: Secs,
    ) -> Result<Page<ContactRow>> {
        self.read_at(workspace, now, |ws| ws.members_page(segment, view, after, limit, now))
    }

    fn contact(&self, workspace: &WorkspaceId, who: &ContactRef, now: Secs) -> Result<ContactDetail> {
        self.read_at(workspace, now, |ws| ws.contact_detail(ws.resolve(who)?, now))
    }

    fn membership_log(
        &self,
        workspace: &WorkspaceId,
        segment: SegmentId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Page<LogEntryView>> {
        self.read(workspace, |ws| ws.log_page(segment, after, limit))
    }

    fn test_criteria(&self, workspace: &WorkspaceId, criteria: &Criteria, now: Secs) -> Result<CriteriaTest> {
        self.read_at(workspace, now, |ws| Ok(ws.test_criteria(criteria, now)))
    }

    fn breakdown(
        &self,
        workspace: &WorkspaceId,
        segment: SegmentId,
        view: View,
        field: &str,
        now: Secs,
    ) -> Result<FieldBreakdown> {
        self.read_at(workspace, now, |ws| ws.breakdown(segment, view, field))
    }

    fn automations(&self, workspace: &WorkspaceId, kind: AutomationKind) -> Result<Vec<Automation>> {
        self.read(workspace, |ws| Ok(ws.automations(kind).cloned().collect()))
    }

    fn duplicates(&self, workspace: &WorkspaceId) -> Result<Vec<DuplicateGroup>> {
        self.read(workspace, |ws| Ok(ws.duplicate_candidates()))
    }
}
