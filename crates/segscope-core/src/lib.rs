//! segscope's engine: the data model, identity and merge rules, sessions,
//! segment criteria and membership, reachability, email providers and the
//! segment summary (SPEC §1–§8).
//!
//! This crate does no I/O and reads no clock: "now" and the time zone are
//! arguments everywhere. Storage, ingestion, HTTP and the CLI sit around it
//! and talk to it through [`engine::Command`] and the read methods of
//! [`engine::Workspace`]; [`backend::Backend`] is the trait every storage
//! backend implements.

pub mod backend;
pub mod contact;
pub mod criteria;
pub mod email;
pub mod engine;
pub mod error;
pub mod esp;
pub mod event;
pub mod ids;
pub mod interner;
pub mod model;
pub mod session;
pub mod subscription;
pub mod summary;
mod summary_rows;
pub mod time;
pub mod web_history;

pub use error::{Error, ErrorKind, Result};
