//! [`Store`]: opening a data directory (locked for writing, or read-only),
//! the in-memory workspaces and their locks, durable writes, checkpoints.
//!
//! # Concurrency
//!
//! - Each workspace has its own `RwLock<Workspace>`, so writes to different
//!   workspaces run in parallel and reads of one workspace run together.
//! - The map of workspaces is an `RwLock<HashMap<_, Arc<Slot>>>` held only
//!   long enough to clone an `Arc`: a long read of one workspace never
//!   blocks the creation of another, and creating one blocks nobody for
//!   more than an insert.
//! - A write holds its workspace's write lock from the in-memory apply
//!   through the log fsync, so no reader ever sees a change that is not yet
//!   on disk (and, if the fsync fails, the workspace is poisoned before the
//!   lock is released, so no reader sees it at all).
//! - The log writer sits in its own `Mutex` beside the workspace lock, so a
//!   snapshot can run under a *read* lock (downgraded from the write lock
//!   once the triggering record is durable) while still having exclusive
//!   use of the log. Lock order: workspace lock, then its log mutex.
//! - The catalog has a writer mutex (held through the catalog fsync, which
//!   serializes catalog changes) and a separate `RwLock` for its state,
//!   write-locked only for the in-memory update after the fsync: key
//!   lookups, done on every request, never wait for a disk write. Lock
//!   order: catalog writer, then the workspace map, then the catalog state.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard};
use segscope_core::backend::ApiKey;
use segscope_core::engine::{Command, Outcome, Workspace};
use segscope_core::ids::WorkspaceId;
use segscope_core::model::Settings;
use segscope_core::time::Secs;
use segscope_core::{Error, Result};

use crate::FORMAT_VERSION;
use crate::catalog::{self, Catalog, CatalogChange, CatalogRecord, workspace_not_found};
use crate::error::{StoreError, StoreResult};
use crate::files::{self, FORMAT_FILE, LOCK_FILE, TMP_SUFFIX, sync_dir, workspace_dir, write_atomically};
use crate::frames::{self, EncodeError, LogWriter, MAX_RECORD_BYTES};
use crate::wal::{self, CheckpointError, Wal, WalRecordRef};

/// The smallest log segment size past which a write triggers a snapshot and
/// a new segment; the threshold is also at least half the newest snapshot
/// (see `wal::SNAPSHOT_FRACTION`). It trades recovery time (replaying up to
/// this much log) against write amplification (each snapshot rewrites the
/// whole workspace); 64 MiB of commands replays in seconds.
pub const DEFAULT_SEGMENT_MAX_BYTES: u64 = 64 << 20;

/// How long a read-only open keeps retrying a workspace whose files a live
/// writer changed while it was reading them (a checkpoint), waiting 2, 4,
/// 8, … up to 64 ms between attempts. A bound in time, not in attempts: on
/// a loaded machine a writer that checkpoints often can collide with several
/// reads in a row, and each collision costs only a retry. Real damage still
/// fails, after this long.
const READ_ONLY_RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// Tuning of a writable store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// See [`DEFAULT_SEGMENT_MAX_BYTES`]; tests set it small to exercise
    /// snapshots.
    pub segment_max_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions { segment_max_bytes: DEFAULT_SEGMENT_MAX_BYTES }
    }
}

/// One workspace in memory with what is needed to change it durably.
struct Slot {
    id: WorkspaceId,
    state: RwLock<Workspace>,
    /// `None` in a read-only store.
    wal: Mutex<Option<Wal>>,
    /// Set when a log write failed after the change was applied in memory:
    /// the memory then holds a change that is not on disk, so nothing may be
    /// served or snapshotted from it any more. Set and read under `state`'s
    /// lock, which orders it with respect to every reader.
    poisoned: AtomicBool,
}

impl Slot {
    fn check_poisoned(&self) -> Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(StoreError::Poisoned { workspace: self.id.clone() }.into());
        }
        Ok(())
    }

    fn poison(&self, error: &StoreError) {
        tracing::error!(workspace = %self.id, error = %error, "storage failed; the workspace refuses service until restarted");
        self.poisoned.store(true, Ordering::Release);
    }
}

/// The embedded store: every workspace of a data directory, in memory and
/// durable on disk. See the crate documentation for the file layout.
pub struct Store {
    dir: PathBuf,
    options: StoreOptions,
    /// The open `LOCK` file whose exclusive lock this process holds for the
    /// store's lifetime (released when it is closed); `None` when read-only.
    lock: Option<File>,
    catalog: RwLock<Catalog>,
    /// The catalog log writer; `None` when read-only.
    catalog_writer: Mutex<Option<LogWriter>>,
    catalog_poisoned: AtomicBool,
    workspaces: RwLock<HashMap<WorkspaceId, Arc<Slot>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).field("read_only", &self.is_read_only()).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) a data directory for reading and writing. Fails if
    /// another process has it open for writing.
    pub fn open(dir: impl AsRef<Path>, options: StoreOptions) -> StoreResult<Store> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(StoreError::io("create", &dir))?;
        let formatted = check_format(&dir)?;
        if !formatted {
            check_empty(&dir)?;
        }
        let lock = lock_exclusive(&dir)?;
        if !formatted {
            // FORMAT first: from then on the directory is recognizably ours.
            write_atomically(&dir.join(FORMAT_FILE), format!("{FORMAT_VERSION}\n").as_bytes())?;
        }
        for sub in [files::CATALOG_DIR, files::WORKSPACES_DIR] {
            let path = dir.join(sub);
            if !path.is_dir() {
                fs::create_dir(&path).map_err(StoreError::io("create", &path))?;
                sync_dir(&dir)?;
            }
        }
        let (catalog, catalog_writer) = catalog::load(&dir, true)?;
        let workspaces = recover_all(&dir, catalog.workspace_ids(), true)?;
        warn_about_orphans(&dir, &catalog);
        tracing::info!(dir = %dir.display(), workspaces = workspaces.len(), "opened the data directory");
        Ok(Store {
            dir,
            options,
            lock: Some(lock),
            catalog: RwLock::new(catalog),
            catalog_writer: Mutex::new(catalog_writer),
            catalog_poisoned: AtomicBool::new(false),
            workspaces: RwLock::new(workspaces),
        })
    }

    /// Opens a data directory for reading only, without taking its lock, so
    /// it works while a `segscope serve` writes to it. It sees every write
    /// acknowledged before the open (a consistent prefix of the logs) and
    /// nothing after; it never changes a file.
    pub fn open_read_only(dir: impl AsRef<Path>) -> StoreResult<Store> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            return Err(StoreError::NotADataDir { path: dir, reason: "the directory does not exist".to_owned() });
        }
        if !check_format(&dir)? {
            return Err(StoreError::NotADataDir {
                path: dir,
                reason: format!("it has no {FORMAT_FILE} file (a data directory is created by the first command that writes)"),
            });
        }
        let (catalog, _) = catalog::load(&dir, false)?;
        let workspaces = recover_all(&dir, catalog.workspace_ids(), false)?;
        Ok(Store {
            dir,
            options: StoreOptions::default(),
            lock: None,
            catalog: RwLock::new(catalog),
            catalog_writer: Mutex::new(None),
            catalog_poisoned: AtomicBool::new(false),
            workspaces: RwLock::new(workspaces),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    pub fn is_read_only(&self) -> bool {
        self.lock.is_none()
    }

    /// Recomputes everything a workspace maintains incrementally and lists
    /// each discrepancy (none when consistent): `segscope check`, and tests
    /// that recovery rebuilt a sound state. Only reads.
    pub fn check_invariants(&self, workspace: &WorkspaceId) -> Result<Vec<String>> {
        self.read(workspace, |ws| Ok(ws.check_invariants().err().unwrap_or_default()))
    }

    /// Snapshots every workspace that logged anything since its last
    /// snapshot, so the next open replays nothing. Called on clean shutdown.
    /// Does nothing on a read-only store. Tries every workspace and returns
    /// the first failure.
    pub fn checkpoint(&self) -> StoreResult<()> {
        if self.is_read_only() {
            return Ok(());
        }
        let mut slots: Vec<Arc<Slot>> = self.workspaces.read().values().cloned().collect();
        slots.sort_by(|a, b| a.id.cmp(&b.id));
        let mut first_error = None;
        for slot in slots {
            // A read lock is enough: writers are excluded (the state stays
            // exactly "after every logged record") while reads go on.
            let workspace = slot.state.read();
            if slot.poisoned.load(Ordering::Acquire) {
                first_error.get_or_insert(StoreError::Poisoned { workspace: slot.id.clone() });
                continue;
            }
            if let Err(err) = self.checkpoint_locked(&slot, &workspace) {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Takes a snapshot of a workspace whose state lock the caller holds.
    fn checkpoint_locked(&self, slot: &Slot, workspace: &Workspace) -> StoreResult<()> {
        let mut wal = slot.wal.lock();
        let wal = wal.as_mut().expect("a writable store has a log per workspace");
        match wal.checkpoint(workspace, self.options.segment_max_bytes) {
            Ok(()) => Ok(()),
            Err(CheckpointError::Skipped(err)) => {
                tracing::warn!(workspace = %slot.id, error = %err, "snapshot failed; the log keeps every change and the snapshot will be retried");
                Err(err)
            }
            Err(CheckpointError::Fatal(err)) => {
                slot.poison(&err);
                Err(err)
            }
        }
    }

    fn ensure_writable(&self) -> Result<()> {
        if self.is_read_only() {
            return Err(Error::invalid(format!(
                "the data directory {} is open read-only (another segscope process may be writing to it); make changes through that process, or stop it first",
                self.dir.display()
            )));
        }
        Ok(())
    }

    fn slot(&self, id: &WorkspaceId) -> Result<Arc<Slot>> {
        self.workspaces.read().get(id).cloned().ok_or_else(|| workspace_not_found(id))
    }

    /// Runs a read that does not depend on the day.
    pub(crate) fn read<T>(&self, id: &WorkspaceId, read: impl FnOnce(&Workspace) -> Result<T>) -> Result<T> {
        let slot = self.slot(id)?;
        let workspace = slot.state.read();
        slot.check_poisoned()?;
        read(&workspace)
    }

    /// Runs a read as of `now`. If the workspace's local day is behind
    /// `now`'s, time-dependent memberships are brought up to date first, in
    /// memory only: `advance_to` is deterministic (changes are stamped at
    /// the midnights crossed), and the next logged command is stamped at or
    /// after `now` by `effective_now`, so a replay reproduces it.
    pub(crate) fn read_at<T>(&self, id: &WorkspaceId, now: Secs, read: impl FnOnce(&Workspace) -> Result<T>) -> Result<T> {
        let slot = self.slot(id)?;
        {
            // The usual case: same day, a plain shared read.
            let workspace = slot.state.read();
            slot.check_poisoned()?;
            if !day_advanced(&workspace, now) {
                return read(&workspace);
            }
        }
        // An upgradable read lets other readers continue while this one
        // re-checks (another may have advanced the day meanwhile), and only
        // excludes them for the advance itself.
        let workspace = slot.state.upgradable_read();
        slot.check_poisoned()?;
        let workspace: RwLockReadGuard<'_, Workspace> = if day_advanced(&workspace, now) {
            let mut writable = RwLockUpgradableReadGuard::upgrade(workspace);
            writable.advance_to(now);
            RwLockWriteGuard::downgrade(writable)
        } else {
            RwLockUpgradableReadGuard::downgrade(workspace)
        };
        read(&workspace)
    }

    /// Applies a command and logs it; see [`Backend::apply`](segscope_core::backend::Backend::apply).
    pub(crate) fn apply_command(&self, id: &WorkspaceId, command: Command, now: Secs) -> Result<Outcome> {
        self.ensure_writable()?;
        let slot = self.slot(id)?;
        let mut workspace = slot.state.write();
        slot.check_poisoned()?;
        // The instant the command really applies at, which is what replay
        // must be given to reproduce the same state.
        let now = workspace.effective_now(now);
        // Encoded before applying, so a record too large to log is refused
        // before it changes anything.
        let frame = frames::encode(&WalRecordRef::V1 { now, command: &command }).map_err(|err| match err {
            EncodeError::TooLarge { bytes } => Error::invalid(format!(
                "this change is {bytes} bytes once encoded, more than the {MAX_RECORD_BYTES} a log record holds; send it in smaller batches"
            )),
            EncodeError::Serializer(message) => StoreError::Encode { what: "log record", message }.into(),
        })?;
        let outcome = workspace.apply(command, now)?;
        let mut wal = slot.wal.lock();
        let log = wal.as_mut().expect("a writable store has a log per workspace");
        if let Err(err) = log.append(&frame) {
            // Memory now holds a change the disk may not: refuse service
            // (before the write lock is released) rather than serve it.
            slot.poison(&err);
            return Err(StoreError::Poisoned { workspace: slot.id.clone() }.into());
        }
        if log.wants_checkpoint(self.options.segment_max_bytes) {
            drop(wal);
            // The change is durable, so readers may see it while the
            // snapshot is written; writers wait, since the snapshot must be
            // the state after exactly the logged records. (Once a writer
            // queues, parking_lot holds new readers back too, so that
            // writers are not starved: the downgrade helps reads most when
            // writes are sparse.)
            let workspace = RwLockWriteGuard::downgrade(workspace);
            // A failed snapshot loses nothing (the record is in the log) and
            // is logged by `checkpoint_locked`; the write still succeeded.
            let _ = self.checkpoint_locked(&slot, &workspace);
        }
        Ok(outcome)
    }

    /// Creates a workspace durably: its directory with `snapshot-0` and
    /// `wal-0`, then the catalog record that makes it exist.
    pub(crate) fn create(&self, id: &WorkspaceId, settings: Settings, now: Secs) -> Result<()> {
        self.ensure_writable()?;
        let workspace = Workspace::new(id.clone(), settings.clone(), now)?;
        let change = CatalogChange::CreateWorkspace { id: id.clone(), settings, created_at: now };
        let mut writer = self.catalog_writer.lock();
        self.check_catalog_writable()?;
        self.catalog.read().check(&change)?;
        let dir = workspace_dir(&self.dir, id);
        let wal = create_workspace_files(&dir, &workspace).inspect_err(|_| {
            let _ = fs::remove_dir_all(&dir);
        })?;
        self.append_catalog(&mut writer, &change)?;
        let slot =
            Slot { id: id.clone(), state: RwLock::new(workspace), wal: Mutex::new(Some(wal)), poisoned: AtomicBool::new(false) };
        self.workspaces.write().insert(id.clone(), Arc::new(slot));
        self.catalog.write().apply(change);
        tracing::info!(workspace = %id, "created workspace");
        Ok(())
    }

    /// Checks, logs and applies a key change.
    pub(crate) fn change_catalog(&self, change: CatalogChange) -> Result<()> {
        self.ensure_writable()?;
        let mut writer = self.catalog_writer.lock();
        self.check_catalog_writable()?;
        {
            let catalog = self.catalog.read();
            catalog.check(&change)?;
            if let CatalogChange::RevokeKey { workspace, key_id } = &change
                && catalog.is_revoked(workspace, key_id)
            {
                return Ok(());
            }
        }
        self.append_catalog(&mut writer, &change)?;
        self.catalog.write().apply(change);
        Ok(())
    }

    fn check_catalog_writable(&self) -> Result<()> {
        if self.catalog_poisoned.load(Ordering::Acquire) {
            return Err(StoreError::CatalogPoisoned.into());
        }
        Ok(())
    }

    fn append_catalog(&self, writer: &mut Option<LogWriter>, change: &CatalogChange) -> Result<()> {
        let frame = frames::encode(&CatalogRecord::V1(change.clone())).map_err(|err| StoreError::Encode {
            what: "catalog record",
            message: match err {
                EncodeError::TooLarge { bytes } => format!("{bytes} bytes"),
                EncodeError::Serializer(message) => message,
            },
        })?;
        let writer = writer.as_mut().expect("a writable store has a catalog log");
        if let Err(err) = writer.append(&frame) {
            // The log may now end with part of a record; appending after it
            // would turn a torn tail into damage in the middle.
            tracing::error!(path = %writer.path().display(), error = %err, "storage failed writing the catalog; it refuses changes until restarted");
            self.catalog_poisoned.store(true, Ordering::Release);
            return Err(StoreError::CatalogPoisoned.into());
        }
        Ok(())
    }

    pub(crate) fn catalog(&self) -> RwLockReadGuard<'_, Catalog> {
        self.catalog.read()
    }

    /// The catalog entry must exist, for key operations on a workspace.
    pub(crate) fn keys_of(&self, id: &WorkspaceId) -> Result<Vec<ApiKey>> {
        let catalog = self.catalog.read();
        if !catalog.contains(id) {
            return Err(workspace_not_found(id));
        }
        Ok(catalog.keys_of(id))
    }

    #[cfg(test)]
    fn with_log_for_test(&self, id: &WorkspaceId, f: impl FnOnce(&mut LogWriter)) {
        let slot = self.slot(id).unwrap();
        let mut wal = slot.wal.lock();
        f(wal.as_mut().unwrap().segment_for_test());
    }
}

/// Recovers the workspaces of the catalog, several at a time: each is
/// independent, and replay is CPU-bound, so startup scales with the cores.
/// On failure, the error of the first failing workspace in catalog order.
fn recover_all(root: &Path, ids: Vec<WorkspaceId>, writable: bool) -> StoreResult<HashMap<WorkspaceId, Arc<Slot>>> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, ids.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, StoreResult<wal::Recovered>)>> = Mutex::new(Vec::with_capacity(ids.len()));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(id) = ids.get(index) else { break };
                    let result = recover_one(root, id, writable);
                    let failed = result.is_err();
                    results.lock().push((index, result));
                    if failed {
                        // Stop taking new work: the open fails anyway.
                        next.store(ids.len(), Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let mut results = results.into_inner();
    results.sort_by_key(|(index, _)| *index);
    let mut workspaces = HashMap::with_capacity(results.len());
    for (index, result) in results {
        let recovered = result?;
        let id = ids[index].clone();
        let slot = Slot {
            id: id.clone(),
            state: RwLock::new(recovered.workspace),
            wal: Mutex::new(recovered.wal),
            poisoned: AtomicBool::new(false),
        };
        workspaces.insert(id, Arc::new(slot));
    }
    Ok(workspaces)
}

fn recover_one(root: &Path, id: &WorkspaceId, writable: bool) -> StoreResult<wal::Recovered> {
    let dir = existing_workspace_dir(root, id)?;
    // In read-only mode, a live writer's checkpoint may create and remove
    // files while they are listed and read: a file vanishes, or a listing
    // shows a new segment without the snapshot before it. Reading again
    // from a fresh listing, once the checkpoint is done, succeeds.
    let started = std::time::Instant::now();
    let mut attempt: u32 = 0;
    loop {
        match wal::recover(&dir, id, writable) {
            Err(err) if !writable && err.may_be_a_concurrent_checkpoint() && started.elapsed() < READ_ONLY_RETRY_FOR => {
                attempt = (attempt + 1).min(6);
                std::thread::sleep(std::time::Duration::from_millis(1 << attempt));
            }
            other => return other,
        }
    }
}

fn day_advanced(workspace: &Workspace, now: Secs) -> bool {
    workspace.today() < workspace.tz().local_date(now)
}

fn create_workspace_files(dir: &Path, workspace: &Workspace) -> StoreResult<Wal> {
    if dir.exists() {
        // Not in the catalog, so never acknowledged: what an interrupted
        // creation left behind.
        tracing::warn!(dir = %dir.display(), "removing the leftovers of an interrupted workspace creation");
        fs::remove_dir_all(dir).map_err(StoreError::io("remove", dir))?;
    }
    fs::create_dir(dir).map_err(StoreError::io("create", dir))?;
    let wal = Wal::create(dir, workspace)?;
    sync_dir(dir.parent().expect("under workspaces/"))?;
    Ok(wal)
}

fn existing_workspace_dir(root: &Path, id: &WorkspaceId) -> StoreResult<PathBuf> {
    let dir = workspace_dir(root, id);
    if !dir.is_dir() {
        return Err(StoreError::Inconsistent {
            workspace: id.clone(),
            reason: format!("the catalog lists it but its directory {} is missing", dir.display()),
        });
    }
    Ok(dir)
}

fn warn_about_orphans(root: &Path, catalog: &Catalog) {
    let Ok(entries) = fs::read_dir(root.join(files::WORKSPACES_DIR)) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let known = name.to_str().and_then(|name| WorkspaceId::parse(name).ok()).is_some_and(|id| catalog.contains(&id));
        if !known {
            tracing::warn!(path = %entry.path().display(), "ignoring a directory that is not a workspace of the catalog (an interrupted creation?)");
        }
    }
}

/// Reads `FORMAT`: `Ok(true)` if it names this build's version, `Ok(false)`
/// if there is none, an error if it names another or is unreadable.
fn check_format(dir: &Path) -> StoreResult<bool> {
    let path = dir.join(FORMAT_FILE);
    let Some(bytes) = files::read_if_exists(&path)? else { return Ok(false) };
    let found = std::str::from_utf8(&bytes).ok().and_then(|text| text.trim().parse::<u32>().ok()).ok_or_else(|| {
        StoreError::NotADataDir {
            path: dir.to_path_buf(),
            reason: format!("its {FORMAT_FILE} file does not hold a version number"),
        }
    })?;
    if found != FORMAT_VERSION {
        return Err(StoreError::FormatMismatch { path: dir.to_path_buf(), found, supported: FORMAT_VERSION });
    }
    Ok(true)
}

/// A directory without `FORMAT` becomes a data directory only if it holds
/// nothing else (but a lock file or an interrupted `FORMAT` write): never
/// scatter files into a directory that belongs to something else.
fn check_empty(dir: &Path) -> StoreResult<()> {
    let tmp_format = format!("{FORMAT_FILE}{TMP_SUFFIX}");
    for entry in fs::read_dir(dir).map_err(StoreError::io("list", dir))? {
        let entry = entry.map_err(StoreError::io("list", dir))?;
        let name = entry.file_name();
        if name != LOCK_FILE && name != tmp_format.as_str() {
            return Err(StoreError::NotADataDir {
                path: dir.to_path_buf(),
                reason: format!("it is not empty and has no {FORMAT_FILE} file; give an empty or new directory"),
            });
        }
    }
    Ok(())
}

/// Takes the exclusive lock on `LOCK` without waiting.
fn lock_exclusive(dir: &Path) -> StoreResult<File> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(StoreError::io("open", &path))?;
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => Ok(file),
        Err(fs4::TryLockError::WouldBlock) => Err(StoreError::Locked { dir: dir.to_path_buf() }),
        Err(fs4::TryLockError::Error(source)) => Err(StoreError::Io { action: "lock", path, source }),
    }
}

#[cfg(test)]
mod tests {
    use segscope_core::ErrorKind;
    use segscope_core::backend::Backend;
    use segscope_core::engine::{ContactRef, ContactUpsert};
    use segscope_core::model::Channel;

    use super::*;

    fn upsert(email: &str) -> Command {
        Command::UpsertContacts {
            contacts: vec![ContactUpsert { email: Some(email.to_owned()), external_id: None, fields: vec![], created_at: None }],
            channel: Channel::Api,
            list: None,
        }
    }

    #[test]
    fn a_failed_log_write_poisons_the_workspace_and_loses_nothing_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let id = WorkspaceId::parse("poison").unwrap();
        let now = 1_700_000_000;
        {
            let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
            store.create_workspace(&id, Settings::default(), now).unwrap();
            store.apply(&id, upsert("kept@example.com"), now).unwrap();
            // Swap the log for a read-only handle: the next append fails.
            let segment = dir.path().join("workspaces/poison").join(files::wal_name(0));
            store.with_log_for_test(&id, |log| log.replace_file_for_test(File::open(&segment).unwrap()));
            let err = store.apply(&id, upsert("lost@example.com"), now).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Internal);
            assert_eq!(err.message, "storage failed writing the log of workspace poison; restart segscope");
            // Reads refuse too: memory holds the change the disk does not.
            let err = store.stats(&id).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Internal);
            assert!(store.contact(&id, &ContactRef::Email("lost@example.com".to_owned()), now).is_err());
            assert!(store.checkpoint().is_err());
            // Other workspaces are unaffected.
            let other = WorkspaceId::parse("other").unwrap();
            store.create_workspace(&other, Settings::default(), now).unwrap();
            store.apply(&other, upsert("x@example.com"), now).unwrap();
        }
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        assert!(store.contact(&id, &ContactRef::Email("kept@example.com".to_owned()), now).is_ok());
        assert!(store.contact(&id, &ContactRef::Email("lost@example.com".to_owned()), now).is_err());
        store.apply(&id, upsert("after@example.com"), now).unwrap();
    }
}
