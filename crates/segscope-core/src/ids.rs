//! Identifiers. Internal ids are dense integers so that sets of contacts are
//! bitmaps; they are also the stable external ids (a contact's id never
//! changes and is never reused, a merge keeps the survivor's id).

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::{Error, Result};

macro_rules! dense_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(pub u32);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
    };
}

dense_id!(
    /// A contact, dense from 0 within its workspace.
    ContactId, "#"
);
dense_id!(
    /// A segment or static list, dense from 1 within its workspace (0 is "all contacts").
    SegmentId, "#"
);
dense_id!(
    /// A journey, from 1 within its workspace.
    JourneyId, "#"
);
dense_id!(
    /// A campaign, from 1 within its workspace.
    CampaignId, "#"
);

/// A workspace's name in URLs and on disk: 1 to 63 characters of `a-z`, `0-9`
/// and `-`, starting with a letter or digit. The restriction makes it safe as a
/// directory name and a URL path segment without escaping.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WorkspaceId(String);

impl WorkspaceId {
    pub fn parse(raw: &str) -> Result<WorkspaceId> {
        let ok = !raw.is_empty()
            && raw.len() <= 63
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-');
        if ok {
            Ok(WorkspaceId(raw.to_owned()))
        } else {
            Err(Error::invalid(format!(
                "invalid workspace id `{raw}`: use 1 to 63 characters of a-z, 0-9 and `-`, not starting with `-`"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_ids_are_path_safe() {
        assert!(WorkspaceId::parse("demo").is_ok());
        assert!(WorkspaceId::parse("acme-2").is_ok());
        for bad in ["", "-x", "Demo", "a/b", "..", "a b", &"x".repeat(64)] {
            assert!(WorkspaceId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
