//! The catalog: which workspaces exist (with the settings they were created
//! with) and the API keys. Small and rarely changed, it is kept in memory
//! and persisted as one log file of [`CatalogRecord`]s, framed like the
//! workspace logs.
//!
//! The log is never compacted: it only grows by workspace creations, key
//! additions and revocations, and revoked keys are kept, so it never holds
//! more than about twice what it describes.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use segscope_core::backend::ApiKey;
use segscope_core::ids::WorkspaceId;
use segscope_core::model::Settings;
use segscope_core::time::Secs;
use segscope_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::error::{StoreError, StoreResult};
use crate::files::{catalog_log, create_log_file, open_log_for_append, read_if_exists};
use crate::frames::{self, LogWriter, Tail};

/// A catalog log record as stored. New versions get new variants.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum CatalogRecord {
    V1(CatalogChange),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum CatalogChange {
    CreateWorkspace {
        id: WorkspaceId,
        settings: Settings,
        created_at: Secs,
    },
    /// A key as the API layer made it: the hash of the secret, never the secret.
    AddKey(ApiKey),
    RevokeKey {
        workspace: WorkspaceId,
        key_id: String,
    },
}

/// How a workspace was created. Kept as a record of the catalog (and for
/// tools reading it); the store itself rebuilds a workspace from its own
/// snapshot, which holds its current settings.
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub(crate) struct WorkspaceEntry {
    pub settings: Settings,
    pub created_at: Secs,
}

#[derive(Debug, Default)]
pub(crate) struct Catalog {
    workspaces: BTreeMap<WorkspaceId, WorkspaceEntry>,
    /// Every key ever added, revoked ones included, in the order added.
    keys: Vec<ApiKey>,
    /// Position in `keys` by hash: every authenticated request looks a key
    /// up, so this must not scan.
    key_index_by_hash: HashMap<String, usize>,
}

pub(crate) fn workspace_not_found(id: &WorkspaceId) -> Error {
    Error::not_found(format!("workspace `{id}` not found"))
}

impl Catalog {
    /// Whether `change` may apply to the current catalog; the error is the
    /// caller's (conflict, unknown workspace or key, bad input).
    pub(crate) fn check(&self, change: &CatalogChange) -> Result<()> {
        match change {
            // The settings are not re-validated here: the workspace was
            // built from them (which validates) before the record was
            // written, and a later, stricter rule must not make an old
            // catalog unreadable.
            CatalogChange::CreateWorkspace { id, .. } => {
                WorkspaceId::parse(id.as_str())?;
                if self.workspaces.contains_key(id) {
                    return Err(Error::conflict(format!("workspace `{id}` already exists")));
                }
            }
            CatalogChange::AddKey(key) => {
                if !self.workspaces.contains_key(&key.workspace) {
                    return Err(workspace_not_found(&key.workspace));
                }
                if key.id.trim().is_empty() || key.hash.trim().is_empty() {
                    return Err(Error::invalid("a key needs an id and a hash"));
                }
                if self.key_index_by_hash.contains_key(&key.hash) {
                    return Err(Error::conflict("a key with the same hash already exists"));
                }
                if self.find_key(&key.workspace, &key.id).is_some() {
                    return Err(Error::conflict(format!("key `{}` already exists in workspace `{}`", key.id, key.workspace)));
                }
            }
            CatalogChange::RevokeKey { workspace, key_id } => {
                if !self.workspaces.contains_key(workspace) {
                    return Err(workspace_not_found(workspace));
                }
                if self.find_key(workspace, key_id).is_none() {
                    return Err(Error::not_found(format!("key `{key_id}` not found in workspace `{workspace}`")));
                }
            }
        }
        Ok(())
    }

    /// Applies a change that [`Catalog::check`] accepted.
    pub(crate) fn apply(&mut self, change: CatalogChange) {
        match change {
            CatalogChange::CreateWorkspace { id, settings, created_at } => {
                self.workspaces.insert(id, WorkspaceEntry { settings, created_at });
            }
            CatalogChange::AddKey(key) => {
                self.key_index_by_hash.insert(key.hash.clone(), self.keys.len());
                self.keys.push(key);
            }
            CatalogChange::RevokeKey { workspace, key_id } => {
                if let Some(index) = self.find_key(&workspace, &key_id) {
                    self.keys[index].revoked = true;
                }
            }
        }
    }

    fn find_key(&self, workspace: &WorkspaceId, key_id: &str) -> Option<usize> {
        self.keys.iter().position(|key| &key.workspace == workspace && key.id == key_id)
    }

    /// Whether the key exists and is already revoked (a revocation that
    /// would change nothing is not logged).
    pub(crate) fn is_revoked(&self, workspace: &WorkspaceId, key_id: &str) -> bool {
        self.find_key(workspace, key_id).is_some_and(|index| self.keys[index].revoked)
    }

    pub(crate) fn contains(&self, id: &WorkspaceId) -> bool {
        self.workspaces.contains_key(id)
    }

    pub(crate) fn workspace_ids(&self) -> Vec<WorkspaceId> {
        self.workspaces.keys().cloned().collect()
    }

    pub(crate) fn keys_of(&self, workspace: &WorkspaceId) -> Vec<ApiKey> {
        self.keys.iter().filter(|key| &key.workspace == workspace).cloned().collect()
    }

    pub(crate) fn key_by_hash(&self, hash: &str) -> Option<&ApiKey> {
        self.key_index_by_hash.get(hash).map(|index| &self.keys[*index])
    }
}

/// Reads the catalog log. Writable: cuts a torn tail, creates the log if
/// missing and returns the writer. Read-only: stops quietly at a torn tail.
pub(crate) fn load(root: &Path, writable: bool) -> StoreResult<(Catalog, Option<LogWriter>)> {
    let path = catalog_log(root);
    let mut catalog = Catalog::default();
    let Some(bytes) = read_if_exists(&path)? else {
        let writer = if writable { Some(LogWriter::new(path.clone(), create_log_file(&path)?, 0)) } else { None };
        return Ok((catalog, writer));
    };
    let scanned = frames::scan::<CatalogRecord>(&bytes, &path, |offset, CatalogRecord::V1(change)| {
        catalog.check(&change).map_err(|err| StoreError::Corrupt {
            path: path.clone(),
            offset,
            reason: format!("a catalog record does not apply to what precedes it: {err}"),
        })?;
        catalog.apply(change);
        Ok(())
    })?;
    if !writable {
        return Ok((catalog, None));
    }
    if let Tail::Torn { offset, dropped } = scanned.tail {
        tracing::warn!(
            path = %path.display(),
            offset,
            dropped,
            "dropping {dropped} bytes of an incomplete record at the end of the catalog (a write interrupted by a crash, never acknowledged)"
        );
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|file| {
                file.set_len(scanned.valid_len)?;
                file.sync_all()
            })
            .map_err(StoreError::io("truncate", &path))?;
    }
    let file = open_log_for_append(&path)?;
    Ok((catalog, Some(LogWriter::new(path, file, scanned.valid_len))))
}
