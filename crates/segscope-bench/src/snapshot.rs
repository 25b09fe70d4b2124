//! Reads the newest snapshot of a workspace straight from a data directory,
//! following the on-disk format documented in `segscope-store` (header:
//! magic, version, records covered, body length, CRC; body: postcard of the
//! core `Workspace`). The engine-level measurements (single-contact update,
//! segment build) need the core workspace itself, which the store does not
//! hand out; reading the snapshot gives exactly the state it serves.

use std::path::Path;

use anyhow::{Context, Result, bail};
use segscope_core::engine::Workspace;

const HEADER_BYTES: usize = 32;

/// Decodes the newest `snapshot-*.bin` of `<data>/workspaces/<workspace>/`.
pub fn read_newest(data_dir: &Path, workspace: &str) -> Result<Workspace> {
    let dir = data_dir.join("workspaces").join(workspace);
    let mut newest = None;
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.starts_with("snapshot-") && name.ends_with(".bin") && newest.as_ref().is_none_or(|n: &String| &name > n) {
            newest = Some(name);
        }
    }
    let Some(name) = newest else { bail!("no snapshot in {}", dir.display()) };
    let bytes = std::fs::read(dir.join(&name))?;
    if bytes.len() < HEADER_BYTES || &bytes[0..8] != b"SEGSNAP\0" {
        bail!("{name} is not a snapshot");
    }
    let body = &bytes[HEADER_BYTES..];
    let crc = u32::from_le_bytes(bytes[28..32].try_into().expect("4 bytes"));
    if crc32fast::hash(body) != crc {
        bail!("{name}: checksum mismatch");
    }
    let mut workspace: Workspace = postcard::from_bytes(body).with_context(|| format!("decoding {name}"))?;
    workspace.after_load()?;
    Ok(workspace)
}
