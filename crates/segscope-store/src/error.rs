//! The store's own errors: what went wrong on disk, with the file and what to
//! do. Opening a store returns them as they are (the CLI shows them); at the
//! [`Backend`](segscope_core::backend::Backend) boundary they become
//! [`segscope_core::Error::internal`], since a storage fault is never the
//! caller's mistake.

use std::io;
use std::path::{Path, PathBuf};

use segscope_core::ids::WorkspaceId;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An operating-system call on a file or directory failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Another process holds the data directory's lock.
    #[error(
        "data directory {} is in use by another segscope process (a running `segscope serve`?); stop it, or use a read-only command",
        dir.display()
    )]
    Locked { dir: PathBuf },

    /// The directory was written by a segscope with another storage format.
    #[error(
        "{} has storage format version {found}, but this segscope reads version {supported}; use a segscope release that reads version {found}",
        path.display()
    )]
    FormatMismatch { path: PathBuf, found: u32, supported: u32 },

    /// The directory is missing, or is not a segscope data directory.
    #[error("{} is not a segscope data directory: {reason}", path.display())]
    NotADataDir { path: PathBuf, reason: String },

    /// A file's content is damaged in a way that would lose acknowledged
    /// data if ignored.
    #[error(
        "{} is damaged at byte offset {offset}: {reason}; restore the data directory from a backup",
        path.display()
    )]
    Corrupt { path: PathBuf, offset: u64, reason: String },

    /// The files of a workspace do not form a complete history.
    #[error("the files of workspace `{workspace}` are inconsistent: {reason}")]
    Inconsistent { workspace: WorkspaceId, reason: String },

    /// A log record that applied when it was written failed on replay: the
    /// data was written by an incompatible build of segscope.
    #[error(
        "replaying record {seq} of {} failed: {message} (was it written by another segscope version?)",
        path.display()
    )]
    Replay { path: PathBuf, seq: u64, message: String },

    /// A log write failed after the change was applied in memory; the
    /// workspace refuses service until restarted from disk.
    #[error("storage failed writing the log of workspace {workspace}; restart segscope")]
    Poisoned { workspace: WorkspaceId },

    /// A catalog write failed; the catalog refuses changes until restarted.
    #[error("storage failed writing the catalog; restart segscope")]
    CatalogPoisoned,

    /// A record could not be encoded (a serializer limit, not the disk).
    #[error("cannot encode a {what}: {message}")]
    Encode { what: &'static str, message: String },
}

impl StoreError {
    pub(crate) fn io(action: &'static str, path: impl AsRef<Path>) -> impl FnOnce(io::Error) -> StoreError {
        let path = path.as_ref().to_path_buf();
        move |source| StoreError::Io { action, path, source }
    }

    /// True for what a read-only reader sees when a live writer's checkpoint
    /// changes the files under it (a file vanishes, a listing shows a new
    /// segment but not the snapshot before it); a retry resolves those. Real
    /// damage fails again on the retry.
    pub(crate) fn may_be_a_concurrent_checkpoint(&self) -> bool {
        match self {
            StoreError::Io { source, .. } => source.kind() == io::ErrorKind::NotFound,
            StoreError::Inconsistent { .. } | StoreError::Corrupt { .. } => true,
            _ => false,
        }
    }
}

impl From<StoreError> for segscope_core::Error {
    fn from(error: StoreError) -> segscope_core::Error {
        segscope_core::Error::internal(error.to_string())
    }
}

pub type StoreResult<T> = std::result::Result<T, StoreError>;
