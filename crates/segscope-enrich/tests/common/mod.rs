//! Where the tests find the third-party data: `../shared/data`, beside the
//! workspace (CI lays it there). Nothing from it is copied into the repo.

#![allow(dead_code)]

use std::path::PathBuf;

/// The folder `name` of the shared data, or a panic that says where it was expected.
pub fn data_folder(name: &str) -> PathBuf {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data"));
    let folder = root.join(name);
    assert!(
        folder.is_dir(),
        "the test data folder `{name}` is missing: expected it at {} (the shared data beside the workspace, see shared/data/INDEX.md)",
        folder.display()
    );
    folder
}

/// A file of a shared data folder, read whole.
pub fn read(folder: &str, file: &str) -> Vec<u8> {
    let path = data_folder(folder).join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// `part / whole` as a percentage, for the printed figures.
pub fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 { 0.0 } else { 100.0 * part as f64 / whole as f64 }
}
