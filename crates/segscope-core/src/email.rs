//! Email addresses as identities: normalization (trim, lower-case, IDN domain
//! in punycode), syntax checks, and the duplicate-candidate key used to report
//! likely duplicates without ever merging them (SPEC §2.4).

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::ids::ContactId;

/// A normalized email address: trimmed, lower-cased, domain in ASCII
/// (punycode). This string is the contact's identity key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email {
    address: String,
    at: usize,
}

impl Email {
    /// Normalizes and checks an address. Surrounding whitespace (spaces, tabs,
    /// no-break spaces, a stray BOM) is removed; case is folded; an IDN domain
    /// is converted to punycode so that `bücher.example` and
    /// `xn--bcher-kva.example` are one domain.
    pub fn parse(raw: &str) -> Result<Email> {
        let trimmed = raw.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
        if trimmed.is_empty() {
            return Err(Error::invalid("email is empty"));
        }
        if trimmed.len() > 254 {
            return Err(Error::invalid(format!("email `{}…` is longer than 254 characters", &trimmed[..40])));
        }
        let Some((local, domain)) = trimmed.rsplit_once('@') else {
            return Err(Error::invalid(format!("email `{trimmed}` has no `@`")));
        };
        if local.is_empty() {
            return Err(Error::invalid(format!("email `{trimmed}` has nothing before the `@`")));
        }
        if local.len() > 64 {
            return Err(Error::invalid(format!("email `{trimmed}` has more than 64 characters before the `@`")));
        }
        if local.contains('@') {
            return Err(Error::invalid(format!("email `{trimmed}` has more than one `@`")));
        }
        if let Some(bad) = local.chars().find(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"".contains(*c)) {
            return Err(Error::invalid(format!("email `{trimmed}` contains `{bad}` before the `@`")));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(Error::invalid(format!("email `{trimmed}` has a misplaced dot before the `@`")));
        }
        let domain = normalize_domain(domain).map_err(|why| Error::invalid(format!("email `{trimmed}`: {why}")))?;
        let local = local.to_lowercase();
        let at = local.len();
        Ok(Email { address: format!("{local}@{domain}"), at })
    }

    pub fn as_str(&self) -> &str {
        &self.address
    }

    pub fn local_part(&self) -> &str {
        &self.address[..self.at]
    }

    /// The ASCII (punycode) domain.
    pub fn domain(&self) -> &str {
        &self.address[self.at + 1..]
    }
}

// Persisted as the address string; loading re-checks it.
impl serde::Serialize for Email {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.address)
    }
}

impl<'de> serde::Deserialize<'de> for Email {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Email, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Email::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Lower-cases a mail domain and converts IDN labels to punycode; refuses
/// domains that cannot receive mail (no dot, empty or over-long labels,
/// characters outside letters, digits and hyphens, an all-numeric TLD).
pub fn normalize_domain(raw: &str) -> std::result::Result<String, String> {
    let raw = raw.trim_end_matches('.');
    if raw.is_empty() {
        return Err("the domain is empty".into());
    }
    if raw.starts_with('[') {
        return Err("address literals such as [192.0.2.1] are not accepted as identities".into());
    }
    let ascii = domain_to_ascii(raw, true).map_err(|()| format!("`{raw}` is not a valid domain"))?;
    if ascii.len() > 253 {
        return Err("the domain is longer than 253 characters".into());
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err(format!("the domain `{raw}` has no dot"));
    }
    for label in &labels {
        let ldh = label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if label.is_empty() || label.len() > 63 || !ldh || label.starts_with('-') || label.ends_with('-') {
            return Err(format!("`{raw}` is not a valid domain"));
        }
    }
    if labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!("`{raw}` is not a valid domain"));
    }
    Ok(ascii)
}

/// The domain as IDNA (UTS 46) ASCII. `fast`: a domain of ASCII letters,
/// digits, `-` and `.` without a punycode label is only lower-cased, which
/// is what IDNA does to it (a property test checks it against the `idna`
/// crate), without the crate's allocations: most domains of an import.
fn domain_to_ascii(raw: &str, fast: bool) -> std::result::Result<String, ()> {
    let plain = raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !raw.split('.').any(|label| label.len() >= 4 && label[..4].eq_ignore_ascii_case("xn--"));
    if fast && plain {
        return Ok(raw.to_ascii_lowercase());
    }
    idna::domain_to_ascii(raw).map_err(|_| ())
}

/// How sure a duplicate-candidate group is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DuplicateStrength {
    /// Same Gmail mailbox: dots, `+tag` and googlemail.com are ignored by Gmail.
    Likely,
    /// Same address once a `+tag` is removed on a domain whose tag handling we do not know.
    Possible,
}

/// A group of contacts whose addresses probably reach one mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateGroup {
    pub key: String,
    pub strength: DuplicateStrength,
    pub contacts: Vec<ContactId>,
}

fn is_gmail(domain: &str) -> bool {
    domain == "gmail.com" || domain == "googlemail.com"
}

fn strip_plus(local: &str) -> &str {
    local.split_once('+').map_or(local, |(base, _)| base)
}

/// The Gmail mailbox key (dots removed, `+tag` stripped, googlemail → gmail),
/// or the address itself for other domains.
pub fn likely_mailbox_key(email: &Email) -> String {
    if is_gmail(email.domain()) {
        format!("{}@gmail.com", strip_plus(email.local_part()).replace('.', ""))
    } else {
        email.as_str().to_owned()
    }
}

fn possible_mailbox_key(email: &Email) -> String {
    if is_gmail(email.domain()) {
        likely_mailbox_key(email)
    } else {
        format!("{}@{}", strip_plus(email.local_part()), email.domain())
    }
}

/// Groups addresses that probably reach the same mailbox. Never merges: the
/// report is for a person to act on (SPEC §2.4). A "possible" group is only
/// reported when it is not already one "likely" group.
pub fn duplicate_candidates<'a>(contacts: impl IntoIterator<Item = (ContactId, &'a Email)>) -> Vec<DuplicateGroup> {
    let mut likely: BTreeMap<String, Vec<ContactId>> = BTreeMap::new();
    let mut possible: BTreeMap<String, Vec<(ContactId, String)>> = BTreeMap::new();
    for (id, email) in contacts {
        let likely_key = likely_mailbox_key(email);
        likely.entry(likely_key.clone()).or_default().push(id);
        possible.entry(possible_mailbox_key(email)).or_default().push((id, likely_key));
    }
    let mut groups = Vec::new();
    for (key, ids) in likely {
        if ids.len() > 1 {
            groups.push(DuplicateGroup { key, strength: DuplicateStrength::Likely, contacts: ids });
        }
    }
    for (key, members) in possible {
        let first_likely = &members[0].1;
        let spans_several = members.iter().any(|(_, likely_key)| likely_key != first_likely);
        if members.len() > 1 && spans_several {
            let contacts = members.into_iter().map(|(id, _)| id).collect();
            groups.push(DuplicateGroup { key, strength: DuplicateStrength::Possible, contacts });
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn the_plain_ascii_fast_path_is_what_idna_gives(
            labels in proptest::collection::vec("([a-zA-Z0-9-]{0,8}|[xX][nN]--[a-z0-9-]{0,6}|[a-z]{0,3}[éß_ ][a-z]{0,3})", 1..5),
        ) {
            let domain = labels.join(".");
            proptest::prop_assert_eq!(domain_to_ascii(&domain, true), domain_to_ascii(&domain, false), "{}", domain);
        }
    }

    fn email(raw: &str) -> Email {
        Email::parse(raw).unwrap()
    }

    #[test]
    fn case_and_whitespace_are_folded() {
        assert_eq!(email("  A@EXAMPLE.COM\t").as_str(), "a@example.com");
        assert_eq!(email("\u{feff}b@example.com ").as_str(), "b@example.com");
    }

    #[test]
    fn idn_domains_become_punycode() {
        assert_eq!(email("g@bücher.example").domain(), "xn--bcher-kva.example");
        assert_eq!(email("h@xn--bcher-kva.example").domain(), "xn--bcher-kva.example");
    }

    #[test]
    fn broken_addresses_are_refused_with_a_reason() {
        for (raw, why) in [
            ("", "empty"),
            ("matthbw78eallard-mcdonald.net", "no `@`"),
            ("hannah88opowersc@m", "no dot"),
            ("@example.com", "nothing before"),
            ("a b@example.com", "contains"),
            ("a..b@example.com", "dot"),
            ("a@exa mple.com", "domain"),
        ] {
            let err = Email::parse(raw).unwrap_err();
            assert!(err.message.contains(why), "{raw:?}: {}", err.message);
        }
    }

    #[test]
    fn gmail_aliases_are_likely_duplicates_and_plus_tags_elsewhere_possible() {
        let addresses = ["j.doe+news@gmail.com", "jdoe@googlemail.com", "JDoe@gmail.com", "ann+x@example.org", "ann@example.org"];
        let parsed: Vec<Email> = addresses.iter().map(|raw| email(raw)).collect();
        let groups = duplicate_candidates(parsed.iter().enumerate().map(|(i, e)| (ContactId(i as u32), e)));
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].strength, DuplicateStrength::Likely);
        assert_eq!(groups[0].contacts, [ContactId(0), ContactId(1), ContactId(2)]);
        assert_eq!(groups[1].strength, DuplicateStrength::Possible);
        assert_eq!(groups[1].contacts, [ContactId(3), ContactId(4)]);
        // Stored addresses are never rewritten.
        assert_eq!(parsed[0].as_str(), "j.doe+news@gmail.com");
    }
}
