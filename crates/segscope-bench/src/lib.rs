//! segscope's benchmark kit: a seeded generator of realistic workspaces
//! ([`generate`]), the 50 segments they carry ([`segments`]), the canonical
//! form of a summary that the three engines are compared in ([`canonical`]),
//! and a reader of the embedded store's snapshot format ([`snapshot`]) so
//! that engine-level measurements run on exactly the state the store holds.
//!
//! The driver is `src/main.rs` (`segscope-bench generate | load | measure`),
//! run by `bench/run.sh` together with `bench/reference.py` (DuckDB, chDB).

pub mod canonical;
pub mod generate;
pub mod segments;
pub mod snapshot;

/// Resident set size of this process in bytes (Linux), `None` elsewhere.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The median of some durations, in seconds.
pub fn median(samples: &mut [f64]) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_by(f64::total_cmp);
    let mid = samples.len() / 2;
    if samples.len() % 2 == 1 { samples[mid] } else { (samples[mid - 1] + samples[mid]) / 2.0 }
}
