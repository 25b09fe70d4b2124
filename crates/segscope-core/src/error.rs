//! The core's one error type. It separates what the caller got wrong (a bad
//! criterion, an unknown segment, a conflicting identity) from nothing else:
//! the core does no I/O, so it has no internal faults to report. Only the HTTP
//! crate maps these kinds to status codes.

use std::fmt;

/// What kind of mistake an [`Error`] reports; the HTTP layer maps each kind to
/// one status code and the CLI to one exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input is malformed or breaks a rule (HTTP 422, CLI exit 65).
    Invalid,
    /// A named thing does not exist in this workspace (HTTP 404, CLI exit 66).
    NotFound,
    /// The request is well formed but clashes with current state (HTTP 409, CLI exit 65).
    Conflict,
    /// Storage failed (disk full, corrupt file): not the caller's fault
    /// (HTTP 500 with a generic message, CLI exit 74). Only backends raise it.
    Internal,
}

/// A user-facing error: a lowercase message that says what is wrong and what
/// is allowed, an optional position in the caller's input, and details (for
/// example the referrers that block a delete).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// Where in the caller's input the problem is (a criteria text offset, a
    /// JSON path, a field name), when there is one.
    pub location: Option<Location>,
    pub details: Vec<String>,
}

/// A place in the caller's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A position in a text: byte offset, 1-based line and column.
    Text { offset: usize, line: usize, column: usize },
    /// A JSON pointer such as `/and/1/value`.
    Json(String),
    /// A field or parameter name.
    Field(String),
}

impl Error {
    pub fn invalid(message: impl Into<String>) -> Error {
        Error { kind: ErrorKind::Invalid, message: message.into(), location: None, details: Vec::new() }
    }

    pub fn not_found(message: impl Into<String>) -> Error {
        Error { kind: ErrorKind::NotFound, message: message.into(), location: None, details: Vec::new() }
    }

    pub fn conflict(message: impl Into<String>) -> Error {
        Error { kind: ErrorKind::Conflict, message: message.into(), location: None, details: Vec::new() }
    }

    pub fn internal(message: impl Into<String>) -> Error {
        Error { kind: ErrorKind::Internal, message: message.into(), location: None, details: Vec::new() }
    }

    pub fn at(mut self, location: Location) -> Error {
        self.location = Some(location);
        self
    }

    pub fn in_field(self, field: impl Into<String>) -> Error {
        self.at(Location::Field(field.into()))
    }

    pub fn with_details(mut self, details: Vec<String>) -> Error {
        self.details = details;
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Text { line, column, .. } => write!(f, "line {line}, column {column}"),
            Location::Json(pointer) => write!(f, "JSON {pointer}"),
            Location::Field(name) => write!(f, "field `{name}`"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(location) => write!(f, "{} (at {location})", self.message)?,
            None => f.write_str(&self.message)?,
        }
        for detail in &self.details {
            write!(f, "\n  - {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;
