//! Snapshots: a workspace's whole state at a log position, so that recovery
//! replays only the log written since instead of the workspace's history.
//!
//! A snapshot is written to a temporary file, fsynced, renamed into place
//! and its directory fsynced: a crash leaves either the complete file under
//! its final name or none. The body is streamed through the checksum, so
//! writing one does not need a second in-memory copy of the workspace.

use std::fs::{self, File};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use segscope_core::engine::Workspace;

use crate::FORMAT_VERSION;
use crate::error::{StoreError, StoreResult};
use crate::files::{self, snapshot_name, sync_dir, tmp_path};

/// The first bytes of every snapshot file.
pub(crate) const MAGIC: [u8; 8] = *b"SEGSNAP\0";

/// magic (8) + format version (4) + records covered (8) + body length (8) + body crc32 (4).
pub(crate) const HEADER_BYTES: usize = 32;

/// Counts and checksums the bytes on their way to the file, and keeps the
/// first I/O error (the serializer only reports that writing failed).
struct ChecksumWriter<W> {
    inner: W,
    crc: crc32fast::Hasher,
    len: u64,
    error: Option<io::Error>,
}

impl<W: Write> Write for ChecksumWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.inner.write(buf) {
            Ok(n) => {
                self.crc.update(&buf[..n]);
                self.len += n as u64;
                Ok(n)
            }
            Err(err) => {
                let copy = io::Error::new(err.kind(), err.to_string());
                self.error.get_or_insert(err);
                Err(copy)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `snapshot-<seq>.bin` in `dir`: the state after the first `seq`
/// log records.
/// Writes the snapshot of `workspace` after `seq` records; returns its size in bytes.
pub(crate) fn write(dir: &Path, seq: u64, workspace: &Workspace) -> StoreResult<u64> {
    let path = dir.join(snapshot_name(seq));
    let tmp = tmp_path(&path);
    let body = match write_file(&tmp, seq, workspace) {
        Ok(body) => body,
        Err(err) => {
            let _ = fs::remove_file(&tmp);
            return Err(err);
        }
    };
    fs::rename(&tmp, &path).map_err(StoreError::io("rename into place", &path))?;
    sync_dir(dir)?;
    Ok(HEADER_BYTES as u64 + body)
}

/// Writes the file; returns the body's length.
fn write_file(tmp: &Path, seq: u64, workspace: &Workspace) -> StoreResult<u64> {
    let io_error = StoreError::io("write", tmp);
    let file = File::create(tmp).map_err(StoreError::io("create", tmp))?;
    let mut buffered = BufWriter::with_capacity(1 << 20, file);
    // Room for the header, filled in once the body's length and checksum are known.
    buffered.write_all(&[0u8; HEADER_BYTES]).map_err(StoreError::io("write", tmp))?;
    let writer = ChecksumWriter { inner: buffered, crc: crc32fast::Hasher::new(), len: 0, error: None };
    let writer = match postcard::to_io(workspace, writer) {
        Ok(writer) => writer,
        Err(err) => {
            return Err(StoreError::Io {
                action: "write",
                path: tmp.to_path_buf(),
                source: io::Error::other(format!("serializing the workspace failed: {err}")),
            });
        }
    };
    if let Some(err) = writer.error {
        return Err(io_error(err));
    }
    let mut header = [0u8; HEADER_BYTES];
    header[0..8].copy_from_slice(&MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[12..20].copy_from_slice(&seq.to_le_bytes());
    header[20..28].copy_from_slice(&writer.len.to_le_bytes());
    header[28..32].copy_from_slice(&writer.crc.finalize().to_le_bytes());
    let mut file = writer.inner.into_inner().map_err(|err| StoreError::io("write", tmp)(err.into_error()))?;
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.write_all(&header))
        .and_then(|()| file.sync_all())
        .map_err(StoreError::io("write", tmp))?;
    Ok(writer.len)
}

/// Reads and checks `snapshot-<seq>.bin` and restores the workspace.
pub(crate) fn read(path: &Path, seq: u64) -> StoreResult<Workspace> {
    let bytes = fs::read(path).map_err(StoreError::io("read", path))?;
    let corrupt = |offset: u64, reason: String| StoreError::Corrupt { path: path.to_path_buf(), offset, reason };
    if bytes.len() < HEADER_BYTES {
        return Err(corrupt(0, format!("the file is {} bytes, shorter than a snapshot header", bytes.len())));
    }
    if bytes[0..8] != MAGIC {
        return Err(corrupt(0, "the file does not start with the snapshot magic bytes".to_owned()));
    }
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let version = u32_at(8);
    if version != FORMAT_VERSION {
        return Err(StoreError::FormatMismatch { path: path.to_path_buf(), found: version, supported: FORMAT_VERSION });
    }
    let covered = u64_at(12);
    if covered != seq {
        return Err(corrupt(12, format!("the header says it covers {covered} records but the file name says {seq}")));
    }
    let body = &bytes[HEADER_BYTES..];
    let body_len = u64_at(20);
    if body_len != body.len() as u64 {
        return Err(corrupt(20, format!("the header gives a body of {body_len} bytes but the file holds {}", body.len())));
    }
    if crc32fast::hash(body) != u32_at(28) {
        return Err(corrupt(HEADER_BYTES as u64, "the body's checksum does not match".to_owned()));
    }
    let mut workspace: Workspace = postcard::from_bytes(body).map_err(|err| {
        corrupt(
            HEADER_BYTES as u64,
            format!("the workspace cannot be decoded ({err}); was it written by another segscope version?"),
        )
    })?;
    workspace.after_load().map_err(|err| corrupt(HEADER_BYTES as u64, format!("the saved workspace does not load: {err}")))?;
    Ok(workspace)
}

/// Moves a damaged snapshot aside (kept for inspection, no longer tried).
pub(crate) fn set_aside(path: &Path) -> StoreResult<()> {
    let mut name = path.file_name().expect("a file name").to_os_string();
    name.push(files::CORRUPT_SUFFIX);
    let target = path.with_file_name(name);
    fs::rename(path, &target).map_err(StoreError::io("rename", path))?;
    sync_dir(path.parent().expect("a file in a directory"))
}

#[cfg(test)]
mod tests {
    use segscope_core::ids::WorkspaceId;
    use segscope_core::model::Settings;

    use super::*;

    fn workspace() -> Workspace {
        Workspace::new(WorkspaceId::parse("snap").unwrap(), Settings::default(), 1_700_000_000).unwrap()
    }

    #[test]
    fn a_snapshot_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 7, &workspace()).unwrap();
        let path = dir.path().join(snapshot_name(7));
        let restored = read(&path, 7).unwrap();
        assert_eq!(restored.id().as_str(), "snap");
        assert_eq!(restored.created_at(), 1_700_000_000);
        assert!(!tmp_path(&path).exists());
    }

    #[test]
    fn a_damaged_snapshot_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 3, &workspace()).unwrap();
        let path = dir.path().join(snapshot_name(3));
        let good = fs::read(&path).unwrap();

        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        fs::write(&path, &flipped).unwrap();
        assert!(read(&path, 3).unwrap_err().to_string().contains("checksum"));

        fs::write(&path, &good[..good.len() - 1]).unwrap();
        assert!(read(&path, 3).unwrap_err().to_string().contains("body of"));

        fs::write(&path, &good).unwrap();
        assert!(read(&path, 4).unwrap_err().to_string().contains("file name says 4"));

        let mut newer = good.clone();
        newer[8..12].copy_from_slice(&9u32.to_le_bytes());
        fs::write(&path, &newer).unwrap();
        let message = read(&path, 3).unwrap_err().to_string();
        assert!(message.contains("version 9") && message.contains(&format!("version {FORMAT_VERSION}")), "{message}");
    }
}
