//! Log files: the record framing shared by the workspace logs and the
//! catalog log, the scan that reads them back and tells a torn tail from
//! damage in the middle, and the appender that makes each record durable.
//!
//! A frame is `[len u32 LE][crc32 u32 LE of payload][payload]`. The length
//! comes first so a reader can skip to the next frame without decoding; the
//! checksum catches both a torn write and a flipped bit.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{StoreError, StoreResult};

/// The largest payload of one record. Far above any legitimate command (a
/// batch is at most `segscope_core::engine::MAX_BATCH` items), it bounds what
/// a damaged length field can make a reader try to checksum or allocate.
pub const MAX_RECORD_BYTES: u32 = 256 << 20;

/// Bytes before each payload: its length and its checksum.
pub(crate) const HEADER_BYTES: usize = 8;

/// Why a record could not be framed.
#[derive(Debug)]
pub(crate) enum EncodeError {
    TooLarge { bytes: usize },
    Serializer(String),
}

/// Encodes one record as a complete frame, ready to append with one write.
pub(crate) fn encode<T: Serialize + ?Sized>(record: &T) -> Result<Vec<u8>, EncodeError> {
    let mut frame =
        postcard::to_extend(record, vec![0u8; HEADER_BYTES]).map_err(|err| EncodeError::Serializer(err.to_string()))?;
    let payload_len = frame.len() - HEADER_BYTES;
    if payload_len > MAX_RECORD_BYTES as usize {
        return Err(EncodeError::TooLarge { bytes: payload_len });
    }
    let crc = crc32fast::hash(&frame[HEADER_BYTES..]);
    frame[0..4].copy_from_slice(&(payload_len as u32).to_le_bytes());
    frame[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(frame)
}

/// How a log file ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tail {
    /// The last frame ends exactly at the end of the file.
    Clean,
    /// From `offset` on, the bytes are an incomplete or damaged frame with
    /// no valid frame after it: the write that was in progress at a crash,
    /// never acknowledged.
    Torn { offset: u64, dropped: u64 },
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Scanned {
    /// Valid records read.
    pub records: u64,
    /// Where the valid records end.
    pub valid_len: u64,
    pub tail: Tail,
}

/// Reads every frame of a log, handing each decoded record and its offset to
/// `each` in order.
///
/// The first bad frame ends the scan. It is a torn tail if no valid frame
/// starts anywhere after it: records are appended one at a time and each is
/// fsynced before the next is written, so a crash can only damage the last
/// one. A bad frame followed by a valid one is damage in the middle of the
/// log, an error naming the file and the offset: dropping what follows would
/// lose acknowledged writes.
pub(crate) fn scan<T: DeserializeOwned>(
    bytes: &[u8],
    path: &Path,
    mut each: impl FnMut(u64, T) -> StoreResult<()>,
) -> StoreResult<Scanned> {
    let mut offset = 0usize;
    let mut records = 0u64;
    while offset < bytes.len() {
        match check_frame(bytes, offset) {
            Ok(end) => {
                let record = decode_exact::<T>(&bytes[offset + HEADER_BYTES..end]).map_err(|reason| StoreError::Corrupt {
                    path: path.to_path_buf(),
                    offset: offset as u64,
                    reason: format!(
                        "a record with a valid checksum cannot be decoded ({reason}); was it written by a newer segscope?"
                    ),
                })?;
                each(offset as u64, record)?;
                records += 1;
                offset = end;
            }
            Err(reason) => {
                if let Some(next) = find_valid_frame::<T>(bytes, offset + 1) {
                    return Err(StoreError::Corrupt {
                        path: path.to_path_buf(),
                        offset: offset as u64,
                        reason: format!(
                            "{reason}, yet a valid record follows at offset {next} (truncating the file at the damage would lose every record after it)"
                        ),
                    });
                }
                let tail = Tail::Torn { offset: offset as u64, dropped: (bytes.len() - offset) as u64 };
                return Ok(Scanned { records, valid_len: offset as u64, tail });
            }
        }
    }
    Ok(Scanned { records, valid_len: offset as u64, tail: Tail::Clean })
}

/// Checks the frame at `offset`: returns where it ends, or why it is bad.
fn check_frame(bytes: &[u8], offset: usize) -> Result<usize, String> {
    let rest = &bytes[offset..];
    if rest.len() < HEADER_BYTES {
        return Err(format!("an incomplete record header ({} of {HEADER_BYTES} bytes)", rest.len()));
    }
    let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
    if len == 0 {
        // Never written (a payload is at least one byte); also what a
        // zero-filled block left by a crash looks like.
        return Err("a record of length 0".to_owned());
    }
    if len > MAX_RECORD_BYTES {
        return Err(format!("a record length of {len} bytes, more than the maximum of {MAX_RECORD_BYTES}"));
    }
    let end = offset + HEADER_BYTES + len as usize;
    if end > bytes.len() {
        return Err(format!("a record of {len} bytes that runs past the end of the file"));
    }
    if crc32fast::hash(&bytes[offset + HEADER_BYTES..end]) != crc {
        return Err("a record whose checksum does not match".to_owned());
    }
    Ok(end)
}

/// The first offset at or after `start` where a complete, valid, decodable
/// frame begins.
///
/// Cost: every offset is tried, but a candidate is rejected on its header
/// alone unless its length fits in the rest of the file, and then decoding
/// (which fails within a few bytes on anything that is not a record's
/// start) runs before the checksum. So the search is about linear in the
/// bytes after `start`, which for a torn tail is one record.
fn find_valid_frame<T: DeserializeOwned>(bytes: &[u8], start: usize) -> Option<usize> {
    let last = bytes.len().checked_sub(HEADER_BYTES + 1)?;
    (start..=last).find(|&offset| {
        let len = u32::from_le_bytes(bytes[offset..offset + 4].try_into().expect("4 bytes"));
        if len == 0 || len > MAX_RECORD_BYTES || offset + HEADER_BYTES + len as usize > bytes.len() {
            return false;
        }
        let payload = &bytes[offset + HEADER_BYTES..offset + HEADER_BYTES + len as usize];
        let crc = u32::from_le_bytes(bytes[offset + 4..offset + 8].try_into().expect("4 bytes"));
        decode_exact::<T>(payload).is_ok() && crc32fast::hash(payload) == crc
    })
}

/// Decodes a payload that must be exactly one record.
fn decode_exact<T: DeserializeOwned>(payload: &[u8]) -> Result<T, String> {
    match postcard::take_from_bytes::<T>(payload) {
        Ok((record, [])) => Ok(record),
        Ok((_, rest)) => Err(format!("{} unexpected bytes after the record", rest.len())),
        Err(err) => Err(err.to_string()),
    }
}

/// An open log file that records are appended to.
#[derive(Debug)]
pub(crate) struct LogWriter {
    path: PathBuf,
    file: File,
    len: u64,
}

impl LogWriter {
    /// `file` must be open for appending and `len` bytes long.
    pub(crate) fn new(path: PathBuf, file: File, len: u64) -> LogWriter {
        LogWriter { path, file, len }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Appends one frame and waits until it is on disk. `sync_data` is
    /// enough: it also flushes the file size, which an append changes. On
    /// error the file may hold part of the frame; the caller must stop
    /// appending (a later record after the fragment would turn a torn tail
    /// into damage in the middle).
    pub(crate) fn append(&mut self, frame: &[u8]) -> StoreResult<()> {
        self.file.write_all(frame).and_then(|()| self.file.sync_data()).map_err(StoreError::io("append to", &self.path))?;
        self.len += frame.len() as u64;
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn replace_file_for_test(&mut self, file: File) {
        self.file = file;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    enum TestRecord {
        V1 { n: u64, text: String },
    }

    fn log_of(n: u64) -> (Vec<u8>, Vec<usize>) {
        let mut bytes = Vec::new();
        let mut starts = Vec::new();
        for i in 0..n {
            starts.push(bytes.len());
            let text = format!("record number {i} with some text");
            bytes.extend(encode(&TestRecord::V1 { n: i, text }).unwrap());
        }
        (bytes, starts)
    }

    fn read(bytes: &[u8]) -> StoreResult<(Vec<u64>, Scanned)> {
        let mut seen = Vec::new();
        let scanned = scan::<TestRecord>(bytes, Path::new("test.log"), |_, TestRecord::V1 { n, .. }| {
            seen.push(n);
            Ok(())
        })?;
        Ok((seen, scanned))
    }

    #[test]
    fn a_clean_log_reads_back_every_record() {
        let (bytes, _) = log_of(5);
        let (seen, scanned) = read(&bytes).unwrap();
        assert_eq!(seen, vec![0, 1, 2, 3, 4]);
        assert_eq!(scanned.tail, Tail::Clean);
        assert_eq!(scanned.valid_len, bytes.len() as u64);
    }

    #[test]
    fn a_log_cut_anywhere_in_its_last_record_is_a_torn_tail() {
        let (bytes, starts) = log_of(4);
        let last = *starts.last().unwrap();
        for cut in last + 1..bytes.len() {
            let (seen, scanned) = read(&bytes[..cut]).unwrap();
            assert_eq!(seen, vec![0, 1, 2], "cut at {cut}");
            assert_eq!(scanned.tail, Tail::Torn { offset: last as u64, dropped: (cut - last) as u64 });
        }
    }

    #[test]
    fn zeros_or_garbage_after_the_last_record_are_a_torn_tail() {
        let (mut bytes, _) = log_of(3);
        let valid = bytes.len();
        bytes.extend([0u8; 4096]);
        let (_, scanned) = read(&bytes).unwrap();
        assert_eq!(scanned.tail, Tail::Torn { offset: valid as u64, dropped: 4096 });
        bytes.truncate(valid);
        bytes.extend((0..300u32).map(|i| (i * 7919 % 251) as u8));
        assert_eq!(read(&bytes).unwrap().1.valid_len, valid as u64);
    }

    #[test]
    fn any_damaged_byte_before_the_last_record_is_an_error_naming_the_offset() {
        let (bytes, starts) = log_of(4);
        for position in starts[1]..starts[2] {
            let mut damaged = bytes.clone();
            damaged[position] ^= 0xff;
            let err = read(&damaged).unwrap_err();
            let message = err.to_string();
            assert!(message.contains("test.log"), "{message}");
            assert!(message.contains(&format!("offset {}", starts[1])), "byte {position}: {message}");
        }
    }

    #[test]
    fn a_record_that_does_not_decode_is_an_error_not_a_torn_tail() {
        let (mut bytes, _) = log_of(2);
        // A well-framed payload of an unknown record version.
        let payload = [7u8, 1, 2];
        bytes.extend((payload.len() as u32).to_le_bytes());
        bytes.extend(crc32fast::hash(&payload).to_le_bytes());
        bytes.extend(payload);
        let message = read(&bytes).unwrap_err().to_string();
        assert!(message.contains("cannot be decoded"), "{message}");
    }
}
