//! One workspace on disk: its write-ahead log (a chain of segments), its
//! snapshots, recovery from them, and the switch to a new segment when a
//! snapshot is taken.
//!
//! The log is the truth: a record is `(now, command)` where `now` is the
//! instant the command was applied at (after `Workspace::effective_now`), so
//! that replaying `apply(command, now)` from the preceding state reproduces
//! the state exactly. A snapshot only shortens the replay.
//!
//! Ordering that keeps recovery complete after a crash at any point of a
//! checkpoint: (1) a new segment `wal-N` is created and made durable and
//! the writer switches to it, (2) `snapshot-N` is written, (3) older
//! segments and snapshots are removed. Hence a snapshot `N` always has its
//! segment `wal-N` next to it, and a segment that starts at or before a
//! snapshot's position and is followed by another segment holds nothing the
//! snapshot does not cover.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use segscope_core::engine::{Command, Workspace};
use segscope_core::ids::WorkspaceId;
use segscope_core::time::Secs;
use serde::{Deserialize, Serialize};

use crate::error::{StoreError, StoreResult};
use crate::files::{self, create_log_file, list_workspace_dir, open_log_for_append, snapshot_name, sync_dir, wal_name};
use crate::frames::{self, LogWriter, Tail};
use crate::snapshot;

/// A workspace log record as stored. New versions get new variants; old
/// ones stay readable.
#[derive(Debug, Deserialize)]
pub(crate) enum WalRecord {
    V1 { now: Secs, command: Command },
}

/// The same record, borrowing the command, so appending needs no clone.
/// Postcard writes only the variant index and the fields, so this encodes
/// exactly like [`WalRecord`] (checked by a test).
#[derive(Debug, Serialize)]
#[serde(rename = "WalRecord")]
pub(crate) enum WalRecordRef<'a> {
    V1 { now: Secs, command: &'a Command },
}

/// Why a checkpoint did not complete.
#[derive(Debug)]
pub(crate) enum CheckpointError {
    /// Nothing was lost and logging continues; the snapshot is retried later.
    Skipped(StoreError),
    /// The files are in a state where further appends could be lost on
    /// recovery: the workspace must stop taking writes.
    Fatal(StoreError),
}

/// The writing side of one workspace's log.
#[derive(Debug)]
pub(crate) struct Wal {
    dir: PathBuf,
    segment: LogWriter,
    /// Sequence number of the current segment's first record.
    segment_start: u64,
    /// Sequence number the next record gets (= records written so far).
    next_seq: u64,
    /// Records covered by the newest snapshot on disk.
    snapshot_seq: u64,
    /// After a failed checkpoint, the segment size before trying again, so a
    /// full disk does not turn every write into a failing snapshot.
    retry_after_bytes: u64,
    /// Size of the newest snapshot file.
    snapshot_bytes: u64,
}

/// A checkpoint waits until the log segment is at least this fraction of the
/// newest snapshot (and at least the configured segment size). Each snapshot
/// rewrites the whole workspace, so a fixed threshold makes a large workspace
/// rewrite itself every few seconds of imports: at ten million contacts a
/// 4 GB snapshot every 64 MiB of events, hundreds of times more bytes written
/// than logged. Proportional, the snapshots written stay within twice the
/// log's bytes, and a crash replays at most half a snapshot's worth of log.
const SNAPSHOT_FRACTION: u64 = 2;

impl Wal {
    /// Starts the log of a new workspace: `wal-0` and `snapshot-0` in `dir`
    /// (which must exist and be empty).
    pub(crate) fn create(dir: &Path, workspace: &Workspace) -> StoreResult<Wal> {
        let path = dir.join(wal_name(0));
        let file = create_log_file(&path)?;
        let snapshot_bytes = snapshot::write(dir, 0, workspace)?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            segment: LogWriter::new(path, file, 0),
            segment_start: 0,
            next_seq: 0,
            snapshot_seq: 0,
            retry_after_bytes: 0,
            snapshot_bytes,
        })
    }

    /// Appends one encoded record and waits for it to be durable.
    pub(crate) fn append(&mut self, frame: &[u8]) -> StoreResult<()> {
        self.segment.append(frame)?;
        self.next_seq += 1;
        Ok(())
    }

    /// True when the current segment has grown enough to be worth a snapshot.
    pub(crate) fn wants_checkpoint(&self, segment_max_bytes: u64) -> bool {
        self.segment.len() >= segment_max_bytes.max(self.snapshot_bytes / SNAPSHOT_FRACTION).max(self.retry_after_bytes)
    }

    /// Snapshots `workspace` (which must be the state after every record
    /// appended so far) and starts a new segment, then removes what the
    /// snapshot makes obsolete. Does nothing if no record was appended
    /// since the last snapshot.
    pub(crate) fn checkpoint(&mut self, workspace: &Workspace, segment_max_bytes: u64) -> Result<(), CheckpointError> {
        let result = self.try_checkpoint(workspace);
        if let Err(CheckpointError::Skipped(_)) = &result {
            self.retry_after_bytes = self.segment.len() + (segment_max_bytes / 8).max(1);
        }
        result
    }

    fn try_checkpoint(&mut self, workspace: &Workspace) -> Result<(), CheckpointError> {
        let seq = self.next_seq;
        if seq == self.snapshot_seq {
            return Ok(());
        }
        if self.segment_start != seq {
            self.start_segment(seq)?;
        }
        self.snapshot_bytes = snapshot::write(&self.dir, seq, workspace).map_err(CheckpointError::Skipped)?;
        self.snapshot_seq = seq;
        self.retry_after_bytes = 0;
        if let Err(err) = remove_obsolete(&self.dir, seq) {
            tracing::warn!(error = %err, "could not remove log segments and snapshots older than the new snapshot");
        }
        Ok(())
    }

    fn start_segment(&mut self, seq: u64) -> Result<(), CheckpointError> {
        let path = self.dir.join(wal_name(seq));
        match create_log_file(&path) {
            Ok(file) => {
                self.segment = LogWriter::new(path, file, 0);
                self.segment_start = seq;
                Ok(())
            }
            Err(err) => {
                let already_there =
                    matches!(&err, StoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists);
                if already_there {
                    // Not ours: an impossible state we must not write past.
                    return Err(CheckpointError::Fatal(err));
                }
                // We keep appending to the current segment, which is only
                // safe if no file claims to start at `seq`: an empty
                // `wal-N` after records N.. in the current segment would
                // make recovery report the files as inconsistent.
                match files::remove_file(&path).and_then(|()| sync_dir(&self.dir)) {
                    Ok(()) => Err(CheckpointError::Skipped(err)),
                    Err(_) => Err(CheckpointError::Fatal(err)),
                }
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn segment_for_test(&mut self) -> &mut LogWriter {
        &mut self.segment
    }
}

/// Removes segments and snapshots wholly covered by `snapshot-<seq>`. A
/// segment is covered when the segment after it starts at or before `seq`
/// (its records end where the next one starts); the last segment never is.
fn remove_obsolete(dir: &Path, seq: u64) -> StoreResult<()> {
    let listed = list_workspace_dir(dir)?;
    for pair in listed.segments.windows(2) {
        if pair[1] <= seq {
            files::remove_file(&dir.join(wal_name(pair[0])))?;
        }
    }
    for older in listed.snapshots.iter().filter(|older| **older < seq) {
        files::remove_file(&dir.join(snapshot_name(*older)))?;
    }
    sync_dir(dir)
}

/// A workspace read back from its directory.
pub(crate) struct Recovered {
    pub workspace: Workspace,
    /// The log writer, in writable mode.
    pub wal: Option<Wal>,
}

/// Rebuilds a workspace from the newest valid snapshot and the log after it.
///
/// In writable mode a torn tail is cut off the last segment, the log is
/// opened for appending, and leftovers (temporary files, files older than
/// the snapshot used) are removed. Read-only mode changes nothing on disk:
/// it stops quietly at a torn tail, which may be a record a live writer is
/// appending right now.
pub(crate) fn recover(dir: &Path, id: &WorkspaceId, writable: bool) -> StoreResult<Recovered> {
    let listed = list_workspace_dir(dir)?;
    if listed.snapshots.is_empty() {
        return Err(StoreError::Inconsistent { workspace: id.clone(), reason: format!("{} holds no snapshot", dir.display()) });
    }
    let mut damaged: Vec<(PathBuf, StoreError)> = Vec::new();
    for &base in listed.snapshots.iter().rev() {
        let path = dir.join(snapshot_name(base));
        let workspace = match snapshot::read(&path, base) {
            Ok(workspace) => workspace,
            Err(err @ StoreError::Corrupt { .. }) => {
                tracing::warn!(error = %err, "snapshot is damaged; trying an older one");
                damaged.push((path, err));
                continue;
            }
            Err(err) => return Err(err),
        };
        if workspace.id() != id {
            return Err(StoreError::Inconsistent {
                workspace: id.clone(),
                reason: format!("{} holds workspace `{}`", path.display(), workspace.id()),
            });
        }
        let replayed = replay(dir, id, workspace, base, &listed.segments);
        let (workspace, replayed) = match (replayed, damaged.is_empty()) {
            (Ok(done), _) => done,
            (Err(err), true) => return Err(err),
            // An older snapshot could not make up for the damaged newer
            // one: the damage is the error worth reporting.
            (Err(_), false) => return Err(damaged.swap_remove(0).1),
        };
        let wal = if writable {
            for (path, _) in &damaged {
                if let Err(err) = snapshot::set_aside(path) {
                    tracing::warn!(error = %err, "could not set the damaged snapshot aside");
                }
            }
            Some(open_for_append(dir, base, &replayed)?)
        } else {
            None
        };
        if writable {
            for tmp in &listed.temporary {
                let _ = files::remove_file(tmp);
            }
            if let Err(err) = remove_obsolete(dir, base) {
                tracing::warn!(error = %err, "could not remove files older than the snapshot in use");
            }
        }
        return Ok(Recovered { workspace, wal });
    }
    Err(damaged.swap_remove(0).1)
}

/// What replaying the log found.
struct Replayed {
    next_seq: u64,
    /// The last segment: its start, path and how it ends.
    last: Option<(u64, PathBuf, frames::Scanned)>,
}

fn replay(
    dir: &Path,
    id: &WorkspaceId,
    mut workspace: Workspace,
    base: u64,
    segments: &[u64],
) -> StoreResult<(Workspace, Replayed)> {
    let inconsistent = |reason: String| StoreError::Inconsistent { workspace: id.clone(), reason };
    let mut next = base;
    let mut last = None;
    for (index, &start) in segments.iter().enumerate() {
        let following = segments.get(index + 1).copied();
        if following.is_some_and(|following| following <= base) {
            // Wholly covered by the snapshot (left by an interrupted clean-up).
            continue;
        }
        if start > next {
            return Err(inconsistent(format!(
                "log records {next} to {} are missing: no segment holds them (next segment: {})",
                start - 1,
                wal_name(start)
            )));
        }
        let path = dir.join(wal_name(start));
        let bytes = fs::read(&path).map_err(StoreError::io("read", &path))?;
        let mut seq = start;
        let scanned = frames::scan::<WalRecord>(&bytes, &path, |_, record| {
            let WalRecord::V1 { now, command } = record;
            if seq >= next {
                workspace.apply(command, now).map_err(|err| StoreError::Replay {
                    path: path.clone(),
                    seq,
                    message: err.to_string(),
                })?;
            }
            seq += 1;
            Ok(())
        })?;
        let end = start + scanned.records;
        match following {
            Some(following) => {
                if let Tail::Torn { offset, .. } = scanned.tail {
                    return Err(StoreError::Corrupt {
                        path,
                        offset,
                        reason: "an incomplete or damaged record ends a log segment that is not the last one".to_owned(),
                    });
                }
                if end != following {
                    return Err(inconsistent(format!(
                        "{} holds records {start} to {} but the next segment starts at record {following}",
                        wal_name(start),
                        end as i128 - 1
                    )));
                }
            }
            None => {
                if let Tail::Torn { offset, dropped } = scanned.tail {
                    tracing::debug!(path = %path.display(), offset, dropped, "log ends with an incomplete record");
                }
                last = Some((start, path, scanned));
            }
        }
        next = next.max(end);
    }
    Ok((workspace, Replayed { next_seq: next, last }))
}

/// Cuts a torn tail off the last segment and opens the log for appending.
fn open_for_append(dir: &Path, base: u64, replayed: &Replayed) -> StoreResult<Wal> {
    let mut current = None;
    if let Some((start, path, scanned)) = &replayed.last {
        if let Tail::Torn { offset, dropped } = scanned.tail {
            tracing::warn!(
                path = %path.display(),
                offset,
                dropped,
                "dropping {dropped} bytes of an incomplete record at the end of the log (a write interrupted by a crash, never acknowledged)"
            );
            OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|file| {
                    file.set_len(scanned.valid_len)?;
                    file.sync_all()
                })
                .map_err(StoreError::io("truncate", path))?;
        }
        if start + scanned.records == replayed.next_seq {
            let file = open_log_for_append(path)?;
            current = Some((*start, LogWriter::new(path.clone(), file, scanned.valid_len)));
        }
    }
    let (segment_start, segment) = match current {
        Some(current) => current,
        None => {
            // The snapshot covers more than the segments hold (their records
            // were all before it): start the segment that follows it.
            let path = dir.join(wal_name(replayed.next_seq));
            let file = create_log_file(&path)?;
            (replayed.next_seq, LogWriter::new(path, file, 0))
        }
    };
    Ok(Wal {
        dir: dir.to_path_buf(),
        segment,
        segment_start,
        next_seq: replayed.next_seq,
        snapshot_seq: base,
        retry_after_bytes: 0,
        snapshot_bytes: std::fs::metadata(dir.join(snapshot_name(base))).map_or(0, |m| m.len()),
    })
}

#[cfg(test)]
mod tests {
    use segscope_core::engine::SegmentSpec;

    use super::*;

    #[test]
    fn the_borrowed_record_encodes_like_the_owned_one() {
        let command = Command::CreateSegment(SegmentSpec {
            name: "Customers".to_owned(),
            description: String::new(),
            definition: segscope_core::engine::Definition::Static,
        });
        let frame = frames::encode(&WalRecordRef::V1 { now: 1_700_000_000, command: &command }).unwrap();
        let mut decoded = Vec::new();
        frames::scan::<WalRecord>(&frame, Path::new("x"), |_, record| {
            decoded.push(record);
            Ok(())
        })
        .unwrap();
        let [WalRecord::V1 { now, command: back }] = decoded.as_slice() else { panic!("one record") };
        assert_eq!(*now, 1_700_000_000);
        assert_eq!(back, &command);
    }
}
