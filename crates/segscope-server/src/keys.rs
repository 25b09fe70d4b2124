//! API keys: how they are made and how they are recognized.
//!
//! A key is a prefix saying what it may do (`sk_` secret, `wk_` write) and
//! 192 bits from the operating system's random source, in hex. Only the
//! SHA-256 of the whole key is stored ([`ApiKey::hash`]), so a copy of the
//! data directory does not give API access; the plaintext is shown once, at
//! creation. Lookup is by hash, so no secret is ever compared byte by byte
//! in a way whose timing depends on the secret.

use rand::TryRng;
use rand::rngs::SysRng;
use segscope_core::backend::{ApiKey, KeyKind};
use segscope_core::ids::WorkspaceId;
use segscope_core::time::Secs;
use sha2::{Digest, Sha256};

/// Random bytes in a key's secret part (192 bits; the brief asks ≥ 128).
pub const KEY_SECRET_BYTES: usize = 24;

/// The prefix of a secret API key.
pub const SECRET_PREFIX: &str = "sk_";
/// The prefix of a public write key.
pub const WRITE_PREFIX: &str = "wk_";

/// `n` random bytes from the OS, as lower-case hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    // The OS random source failing means the machine cannot make keys
    // safely at all; refusing loudly beats a weak key.
    SysRng.try_fill_bytes(&mut bytes).expect("the operating system's random source failed");
    hex::encode(bytes)
}

/// A new key for `workspace`: the plaintext (shown once) and the record to
/// store with [`segscope_core::backend::Backend::add_key`].
pub fn new_key(workspace: &WorkspaceId, kind: KeyKind, label: &str, now: Secs) -> (String, ApiKey) {
    let prefix = match kind {
        KeyKind::Secret => SECRET_PREFIX,
        KeyKind::Write => WRITE_PREFIX,
    };
    let plain = format!("{prefix}{}", random_hex(KEY_SECRET_BYTES));
    let record = ApiKey {
        // Independent of the secret: listings show it without revealing anything.
        id: format!("key_{}", random_hex(4)),
        workspace: workspace.clone(),
        kind,
        hash: hash_key(&plain),
        label: label.trim().to_owned(),
        created_at: now,
        revoked: false,
    };
    (plain, record)
}

/// SHA-256 of the whole key, lower-case hex: what the backend stores.
pub fn hash_key(plain: &str) -> String {
    hex::encode(Sha256::digest(plain.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_random_and_stored_hashed() {
        let ws = WorkspaceId::parse("demo").unwrap();
        let (plain, record) = new_key(&ws, KeyKind::Secret, " ci ", 7);
        assert!(plain.starts_with("sk_"));
        assert_eq!(plain.len(), 3 + 2 * KEY_SECRET_BYTES);
        assert_eq!(record.hash, hash_key(&plain));
        assert!(!record.hash.contains(&plain[3..]));
        assert_eq!(record.label, "ci");
        let (other, _) = new_key(&ws, KeyKind::Write, "", 7);
        assert!(other.starts_with("wk_"));
        assert_ne!(plain[3..], other[3..]);
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(hash_key("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
