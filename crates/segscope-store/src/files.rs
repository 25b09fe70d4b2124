//! Every name the store gives a file or directory, and the few file-system
//! moves it relies on for durability (directory fsync, write-then-rename).
//! Keeping all names here makes the layout in the crate docs checkable in
//! one place.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use segscope_core::ids::WorkspaceId;

use crate::error::{StoreError, StoreResult};

pub(crate) const LOCK_FILE: &str = "LOCK";
pub(crate) const FORMAT_FILE: &str = "FORMAT";
pub(crate) const CATALOG_DIR: &str = "catalog";
pub(crate) const CATALOG_LOG: &str = "catalog.log";
pub(crate) const WORKSPACES_DIR: &str = "workspaces";
/// Suffix of files being written; never read, removed on the next writable open.
pub(crate) const TMP_SUFFIX: &str = ".tmp";
/// Suffix given to a snapshot found damaged, kept for inspection.
pub(crate) const CORRUPT_SUFFIX: &str = ".corrupt";

const WAL_PREFIX: &str = "wal-";
const WAL_SUFFIX: &str = ".log";
const SNAPSHOT_PREFIX: &str = "snapshot-";
const SNAPSHOT_SUFFIX: &str = ".bin";

pub(crate) fn workspace_dir(root: &Path, id: &WorkspaceId) -> PathBuf {
    root.join(WORKSPACES_DIR).join(id.as_str())
}

pub(crate) fn catalog_log(root: &Path) -> PathBuf {
    root.join(CATALOG_DIR).join(CATALOG_LOG)
}

pub(crate) fn wal_name(seq: u64) -> String {
    format!("{WAL_PREFIX}{seq:016x}{WAL_SUFFIX}")
}

pub(crate) fn snapshot_name(seq: u64) -> String {
    format!("{SNAPSHOT_PREFIX}{seq:016x}{SNAPSHOT_SUFFIX}")
}

fn parse_seq(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    let hex = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    let canonical = hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if canonical { u64::from_str_radix(hex, 16).ok() } else { None }
}

/// What a workspace directory holds, by kind, each list in ascending order.
#[derive(Debug, Default)]
pub(crate) struct WorkspaceFiles {
    pub snapshots: Vec<u64>,
    pub segments: Vec<u64>,
    /// Leftovers of interrupted writes (`*.tmp`).
    pub temporary: Vec<PathBuf>,
}

pub(crate) fn list_workspace_dir(dir: &Path) -> StoreResult<WorkspaceFiles> {
    let mut files = WorkspaceFiles::default();
    for entry in fs::read_dir(dir).map_err(StoreError::io("list", dir))? {
        let entry = entry.map_err(StoreError::io("list", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(seq) = parse_seq(name, SNAPSHOT_PREFIX, SNAPSHOT_SUFFIX) {
            files.snapshots.push(seq);
        } else if let Some(seq) = parse_seq(name, WAL_PREFIX, WAL_SUFFIX) {
            files.segments.push(seq);
        } else if name.ends_with(TMP_SUFFIX) {
            files.temporary.push(entry.path());
        }
    }
    files.snapshots.sort_unstable();
    files.segments.sort_unstable();
    Ok(files)
}

/// Makes a directory's entries (created, renamed, removed files) durable.
/// A file's own fsync does not cover the name pointing at it.
pub(crate) fn sync_dir(dir: &Path) -> StoreResult<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(StoreError::io("sync directory", dir))
}

/// Writes a small file so that it is either absent or complete after a
/// crash: temp file, fsync, rename, fsync of the directory.
pub(crate) fn write_atomically(path: &Path, contents: &[u8]) -> StoreResult<()> {
    let tmp = tmp_path(path);
    let mut file = File::create(&tmp).map_err(StoreError::io("create", &tmp))?;
    file.write_all(contents).and_then(|()| file.sync_all()).map_err(StoreError::io("write", &tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(StoreError::io("rename into place", path))?;
    sync_dir(path.parent().expect("a file in a directory"))
}

pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().expect("a file name").to_os_string();
    name.push(TMP_SUFFIX);
    path.with_file_name(name)
}

/// Creates a new, empty log file and makes it and its name durable.
pub(crate) fn create_log_file(path: &Path) -> StoreResult<File> {
    let file = OpenOptions::new().append(true).create_new(true).open(path).map_err(StoreError::io("create", path))?;
    file.sync_all().map_err(StoreError::io("sync", path))?;
    sync_dir(path.parent().expect("a file in a directory"))?;
    Ok(file)
}

/// Opens an existing log file for appending at its end.
pub(crate) fn open_log_for_append(path: &Path) -> StoreResult<File> {
    OpenOptions::new().append(true).open(path).map_err(StoreError::io("open", path))
}

/// Reads a whole file; `Ok(None)` if it does not exist.
pub(crate) fn read_if_exists(path: &Path) -> StoreResult<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(StoreError::Io { action: "read", path: path.to_path_buf(), source: err }),
    }
}

/// Removes a file, treating "already gone" as done.
pub(crate) fn remove_file(path: &Path) -> StoreResult<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(StoreError::Io { action: "remove", path: path.to_path_buf(), source: err }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_round_trip_through_file_names() {
        for seq in [0, 1, 0xabc, u64::MAX] {
            assert_eq!(parse_seq(&wal_name(seq), WAL_PREFIX, WAL_SUFFIX), Some(seq));
            assert_eq!(parse_seq(&snapshot_name(seq), SNAPSHOT_PREFIX, SNAPSHOT_SUFFIX), Some(seq));
        }
        assert_eq!(wal_name(26), "wal-000000000000001a.log");
        assert_eq!(snapshot_name(26), "snapshot-000000000000001a.bin");
    }

    #[test]
    fn only_canonical_names_are_recognized() {
        for name in ["wal-1a.log", "wal-000000000000001A.log", "wal-000000000000001a.log.tmp", "xwal-000000000000001a.log"] {
            assert_eq!(parse_seq(name, WAL_PREFIX, WAL_SUFFIX), None, "{name}");
        }
    }
}
