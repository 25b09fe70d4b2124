//! segscope's shared test suite.
//!
//! - [`fixture`]: a compact text format for "these contacts and events, this
//!   segment, expect these numbers", and a runner that plays a fixture
//!   against any [`segscope_core::backend::Backend`]. Every field case of
//!   `shared/field-cases` is a fixture file in `fixtures/field-cases`; every
//!   backend runs all of them.
//! - [`reference`]: a deliberately naive, row-by-row implementation of
//!   identity, sessions, criteria, membership history and the summary, used
//!   by property tests as the oracle for the engine's fast paths.

pub mod fixture;
pub mod reference;

use std::path::PathBuf;

/// The `shared/data` folder of real third-party inputs: `$SEGSCOPE_SHARED_DATA`
/// if set, else `../shared/data` beside the checkout (where CI puts it).
pub fn shared_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SEGSCOPE_SHARED_DATA") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

/// The folder of fixture files shipped with this crate.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}
