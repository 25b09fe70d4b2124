//! The embedded store (SPEC §9, "Storage"): all workspaces of one data
//! directory, held in memory and made durable by a write-ahead log per
//! workspace plus snapshots. Nothing to install; a write acknowledged by
//! [`Backend::apply`](segscope_core::backend::Backend::apply) survives
//! `kill -9` and power loss. [`Store`] implements
//! [`segscope_core::backend::Backend`].
//!
//! The core is deterministic: a workspace's state is a function of the
//! sequence of `(now, command)` pairs applied to it. So the store logs those
//! pairs (with `now` the *effective* instant the core applied the command
//! at) and rebuilds a workspace by replaying them on top of the newest
//! snapshot of its state.
//!
//! # On-disk layout (format version 1)
//!
//! The on-disk format is part of segscope's compatibility promise; it is
//! described here completely.
//!
//! ```text
//! <data>/
//!   LOCK                     empty; a writing process holds an exclusive
//!                            advisory lock (flock) on it while open
//!   FORMAT                   the format version in ASCII decimal and a
//!                            newline: "2\n"
//!   catalog/
//!     catalog.log            log of catalog records (workspaces, API keys)
//!   workspaces/
//!     <id>/                  one per workspace; <id> is a WorkspaceId
//!                            (1-63 of a-z 0-9 -), so path-safe as is
//!       snapshot-<seq>.bin   the workspace's state after its first <seq>
//!                            log records
//!       wal-<seq>.log        a log segment: records <seq>, <seq>+1, ...
//! ```
//!
//! `<seq>` is a record sequence number written as exactly 16 lower-case hex
//! digits, so names sort in sequence order. Records of a workspace are
//! numbered from 0 across its segments: segment `wal-N` holds records `N`
//! to `M-1` where `wal-M` is the next segment. Files ending in `.tmp` are
//! writes in progress (ignored, removed by the next writable open);
//! `snapshot-*.bin.corrupt` is a damaged snapshot set aside.
//!
//! ## Log files (`wal-*.log`, `catalog.log`)
//!
//! A sequence of frames, no file header. Each frame:
//!
//! | bytes | content |
//! |---|---|
//! | 4 | payload length `n`, u32 little-endian, `1 ≤ n ≤` [`MAX_RECORD_BYTES`] |
//! | 4 | CRC-32 (IEEE) of the payload, u32 little-endian |
//! | n | payload: a [postcard] encoding of a versioned record enum |
//!
//! A workspace record is `WalRecord::V1 { now: i64, command: Command }`
//! (postcard: variant index 0 as a varint, `now` as a zigzag varint, then
//! [`segscope_core::engine::Command`]). A catalog record is
//! `CatalogRecord::V1(change)` with `change` one of
//! `CreateWorkspace { id, settings, created_at }`, `AddKey(ApiKey)` (only
//! the hash of a key's secret is ever stored) or
//! `RevokeKey { workspace, key_id }`; revoked keys stay, flagged. Later
//! versions add variants; existing ones keep their meaning.
//!
//! ## Snapshots (`snapshot-*.bin`)
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `SEGSNAP\0` |
//! | 4 | format version, u32 LE (= [`FORMAT_VERSION`]) |
//! | 8 | records covered, u64 LE (= the `<seq>` of the file name) |
//! | 8 | body length, u64 LE |
//! | 4 | CRC-32 of the body, u32 LE |
//! | … | body: postcard of [`segscope_core::engine::Workspace`] |
//!
//! # Writing
//!
//! `apply` takes the workspace's write lock, computes the effective `now`,
//! applies the command in memory (a refused command logs nothing), appends
//! one frame to the current segment and `fdatasync`s it, and only then
//! returns and releases the lock. If the append fails, the workspace is
//! *poisoned*: memory may hold a change the disk does not, so every later
//! call on it fails until segscope is restarted and recovers from disk.
//!
//! When the current segment exceeds both [`StoreOptions::segment_max_bytes`]
//! (default [`DEFAULT_SEGMENT_MAX_BYTES`]) and half the newest snapshot's
//! size (so that snapshots of a large workspace are not rewritten every few
//! megabytes of log), and on [`Store::checkpoint`]
//! (clean shutdown), the store (1) creates the next segment `wal-N`
//! (fsynced, directory fsynced) and switches to it, (2) writes
//! `snapshot-N.bin.tmp`, fsyncs it, renames it to `snapshot-N.bin` and
//! fsyncs the directory, (3) removes older segments and snapshots. A crash
//! between any two steps leaves a recoverable directory.
//!
//! Creating a workspace writes its directory with `wal-0` and
//! `snapshot-0` first and the catalog record last: the workspace exists
//! once that record is durable. A directory without a catalog record is the
//! leftover of an interrupted creation, ignored and replaced by the next
//! creation of that id.
//!
//! # Recovery
//!
//! For each workspace of the catalog: load the newest snapshot that passes
//! its checks (a damaged one is set aside if an older one works), then
//! replay, in order, the records of the segments from the snapshot's
//! position on. The segments must form an unbroken chain, each starting
//! where the previous one ends; a gap is an error.
//!
//! Only the last segment (and the catalog log) may end with a *torn tail*:
//! an incomplete or damaged frame with no valid frame after it, the
//! unacknowledged write in progress at a crash. A writable open cuts it
//! off and logs how many bytes were dropped; a read-only open stops before
//! it. A bad frame *followed by a valid one* is damage in the middle of the
//! log, reported as an error naming the file and byte offset: skipping it
//! would silently lose acknowledged writes.
//!
//! # Processes
//!
//! [`Store::open`] takes the `LOCK` without waiting and fails with a clear
//! message if another process (a running `segscope serve`) holds it.
//! [`Store::open_read_only`] takes no lock and writes nothing: it reads the
//! catalog, snapshots and logs as they are, so the CLI's read commands work
//! beside a running server and see what it had acknowledged.
//!
//! # Compatibility
//!
//! Postcard is not self-describing: the snapshot body and the logged
//! commands are the core's own serde shapes. Any change to the serialized
//! shape of `Workspace`, `Command` or the types they contain (a field added,
//! removed or reordered, a variant inserted before others) changes the
//! format and must bump [`FORMAT_VERSION`]. A data directory or snapshot of
//! another version is refused with both versions named.

mod backend;
mod catalog;
mod error;
mod files;
mod frames;
mod snapshot;
mod store;
mod wal;

pub use error::{StoreError, StoreResult};
pub use frames::MAX_RECORD_BYTES;
pub use store::{DEFAULT_SEGMENT_MAX_BYTES, Store, StoreOptions};

/// The version of the on-disk format described above, written in `FORMAT`
/// and in every snapshot header. 2: packed web histories, 16-byte sessions
/// and custom attributes as a sorted list (issue 5's memory work).
pub const FORMAT_VERSION: u32 = 2;
