//! Events as the core receives them, after a door (tracking, CSV, NDJSON,
//! access log, ESP webhook) has parsed and enriched them, and the compact
//! records kept per contact. Events are immutable facts with a time; the
//! results derived from them never depend on arrival order.

use serde::{Deserialize, Serialize};

use crate::ids::ContactId;
use crate::model::{Geo, Source, Utm, Value};
use crate::time::Secs;

/// Who an event is about, as the door knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Subject {
    /// A first-party cookie id (or the derived IP + user-agent key of an access log).
    Visitor(String),
    /// An email address (normalized by the core).
    Email(String),
    /// An id given by an integration.
    ExternalId(String),
    /// A contact id.
    Contact(ContactId),
}

/// One event for the core.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventInput {
    pub subject: Subject,
    pub at: Secs,
    pub body: EventBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EventBody {
    PageView(PageView),
    /// An engagement ping while a page stays open; extends the session.
    Heartbeat,
    /// The page was left; extends the session to this instant.
    PageLeave,
    Identify(Identify),
    Email(EmailEvent),
    StageChange {
        stage: String,
    },
    /// A custom event sent by the site or an integration.
    Track {
        name: String,
    },
    /// The contact asked to be deleted, or an integration deleted it.
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageView {
    pub url: String,
    pub referrer: Option<String>,
    pub utm: Utm,
    /// Set by the door from the user agent: bots never create contacts.
    pub bot: bool,
    /// HTTP status for imported logs; error responses are not page views.
    pub status: Option<u16>,
    /// Geography derived from the IP by the door (the IP itself is not kept).
    pub geo: Option<Geo>,
}

impl PageView {
    /// Is this a page view a person made, by the rules of SPEC §2.1: not a
    /// bot, and a successful (2xx) or not-modified (304) response.
    pub fn counts(&self) -> bool {
        !self.bot && self.status.is_none_or(|status| (200..300).contains(&status) || status == 304)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identify {
    pub email: Option<String>,
    pub external_id: Option<String>,
    /// Contact fields to set, as in an upsert (`None` clears).
    pub traits: Vec<(String, Option<Value>)>,
}

/// How a bounce is classified (SPEC §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum BounceClass {
    /// The recipient does not exist or never will accept mail.
    Hard,
    /// Temporary: mailbox full, deferred, timed out.
    Soft,
    /// The sender was refused (block list, policy): not the recipient's fault.
    Block,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EmailKind {
    Sent,
    Delivered,
    Opened,
    Clicked,
    Bounced(BounceClass),
    Complained,
    Unsubscribed,
    OptInRequested,
    OptInConfirmed,
}

impl EmailKind {
    pub fn key(self) -> &'static str {
        match self {
            EmailKind::Sent => "sent",
            EmailKind::Delivered => "delivered",
            EmailKind::Opened => "opened",
            EmailKind::Clicked => "clicked",
            EmailKind::Bounced(BounceClass::Hard) => "hard_bounced",
            EmailKind::Bounced(BounceClass::Soft) => "soft_bounced",
            EmailKind::Bounced(BounceClass::Block) => "blocked",
            EmailKind::Complained => "complained",
            EmailKind::Unsubscribed => "unsubscribed",
            EmailKind::OptInRequested => "opt_in_requested",
            EmailKind::OptInConfirmed => "opt_in_confirmed",
        }
    }

    pub fn parse(raw: &str) -> Option<EmailKind> {
        Some(match raw.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "sent" => EmailKind::Sent,
            "delivered" => EmailKind::Delivered,
            "opened" | "open" => EmailKind::Opened,
            "clicked" | "click" => EmailKind::Clicked,
            "hard_bounced" | "hard_bounce" => EmailKind::Bounced(BounceClass::Hard),
            "soft_bounced" | "soft_bounce" => EmailKind::Bounced(BounceClass::Soft),
            "blocked" | "block" => EmailKind::Bounced(BounceClass::Block),
            "complained" | "complaint" | "spam" => EmailKind::Complained,
            "unsubscribed" | "unsubscribe" => EmailKind::Unsubscribed,
            "opt_in_requested" => EmailKind::OptInRequested,
            "opt_in_confirmed" | "opted_in" => EmailKind::OptInConfirmed,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailEvent {
    pub kind: EmailKind,
    /// The ESP's campaign or message tag, when known.
    pub campaign: Option<String>,
}

/// A consent change carried by a contact field (an import's status column,
/// an API update) rather than by an ESP event. Kept in the same time-ordered
/// history as email events so that "latest fact wins" whatever the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ConsentChange {
    OptedIn,
    Pending,
    Unsubscribed,
    /// Consent withdrawn or never recorded: neither opted in nor pending.
    NoConsent,
    DoNotContact(bool),
    Invalid(bool),
    /// The list tool removed the address after bounces (Mailchimp "cleaned").
    Cleaned,
}

/// What happened in one entry of a contact's email history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum MailFact {
    Email(EmailKind),
    Consent(ConsentChange),
}

/// One entry of a contact's email history, ordered by `(at, fact)` so that
/// the order never depends on arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MailRecord {
    pub at: Secs,
    pub fact: MailFact,
}

/// Web events that make up sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WebKind {
    PageView,
    Heartbeat,
    PageLeave,
}

/// One web event of a contact, ordered by `(at, kind, url)`. `url` is an
/// index into the workspace's URL table (0 when the event has no URL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WebHit {
    pub at: Secs,
    pub kind: WebKind,
    pub url: u32,
    /// Marketing source of this page view as a landing page.
    pub touch: Option<Source>,
}

/// One custom event of a contact; `name` indexes the workspace's event-name table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TrackRecord {
    pub at: Secs,
    pub name: u32,
}

/// Words in a rejection that blame the sender (its IP, domain or content),
/// not the recipient's address.
const SENDER_BLOCK_WORDS: &[&str] = &[
    "blocked",
    "block list",
    "blocklist",
    "blacklist",
    "listed",
    "spamhaus",
    "spamcop",
    "barracuda",
    "reputation",
    "policy",
    "rejected due to",
    "not allowed to send",
    "poor reputation",
    "dmarc",
    "spf",
    "dkim",
    "content rejected",
    "message rejected as spam",
    "looks like spam",
    "rate limit",
];

/// Words in a reply that show it is an automatic answer, not a bounce.
const AUTO_REPLY_WORDS: &[&str] = &[
    "out of office",
    "out of the office",
    "auto-reply",
    "autoreply",
    "auto reply",
    "automatic reply",
    "auto-response",
    "auto response",
    "autoresponse",
    "vacation",
    "away from",
];

/// Classifies a delivery failure from its SMTP reply: the reply code
/// (`550`), the enhanced status code (`5.1.1`) and the diagnostic text, in
/// any combination. Enhanced codes win over the basic code:
/// - `x.7.x` (security or policy) and block-list wording → [`BounceClass::Block`];
/// - `4.x.x`, and `5.2.2` (mailbox full), → [`BounceClass::Soft`];
/// - other `5.x.x` → [`BounceClass::Hard`].
///
/// Without any code, the text decides (block wording, "mailbox full",
/// "user unknown"), and an unclassifiable reply is soft: it must not mark an
/// address undeliverable on one ambiguous message.
pub fn classify_bounce(reply: &str) -> BounceClass {
    let lowered = reply.to_ascii_lowercase();
    let enhanced = lowered.split(|c: char| !(c.is_ascii_digit() || c == '.')).find_map(|token| {
        let parts: Vec<&str> = token.split('.').collect();
        let ok = parts.len() == 3
            && matches!(parts[0], "2" | "4" | "5")
            && parts[1].len() <= 3
            && parts[2].len() <= 3
            && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        ok.then(|| (parts[0].to_owned(), parts[1].to_owned(), parts[2].to_owned()))
    });
    let basic = lowered
        .split(|c: char| !c.is_ascii_digit())
        .find(|token| token.len() == 3 && matches!(token.as_bytes()[0], b'4' | b'5'))
        .map(|token| token.as_bytes()[0]);
    // `5.1.x` (addressing status: bad mailbox, bad domain) blames the
    // recipient's address whatever the words around it ("user unknown
    // (blacklisted address)" is an address on a suppression list).
    let address_status = matches!(enhanced.as_ref().map(|(a, b, _)| (a.as_str(), b.as_str())), Some(("5", "1")));
    if !address_status && SENDER_BLOCK_WORDS.iter().any(|w| lowered.contains(w)) {
        return BounceClass::Block;
    }
    match enhanced.as_ref().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())) {
        Some((_, "7", _)) => BounceClass::Block,
        Some(("4", _, _)) => BounceClass::Soft,
        Some(("5", "2", "2")) => BounceClass::Soft,
        Some(("5", _, _)) => BounceClass::Hard,
        _ => match basic {
            Some(b'4') => BounceClass::Soft,
            Some(b'5') if lowered.contains("full") || lowered.contains("quota") => BounceClass::Soft,
            Some(b'5') => BounceClass::Hard,
            _ if lowered.contains("user unknown") || lowered.contains("no such user") || lowered.contains("does not exist") => {
                BounceClass::Hard
            }
            _ => BounceClass::Soft,
        },
    }
}

/// Is this text an automatic reply (vacation, out of office) rather than a bounce?
pub fn is_auto_reply(subject_and_body: &str) -> bool {
    let lowered = subject_and_body.to_ascii_lowercase();
    AUTO_REPLY_WORDS.iter().any(|w| lowered.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounce_classes_of_field_case_f23() {
        assert_eq!(classify_bounce("452 4.2.2 mailbox full"), BounceClass::Soft);
        assert_eq!(classify_bounce("550 5.1.1 user unknown"), BounceClass::Hard);
        assert_eq!(classify_bounce("550 5.7.1 sender IP listed"), BounceClass::Block);
        assert_eq!(classify_bounce("4.4.7 expired"), BounceClass::Soft);
        assert_eq!(classify_bounce("552 5.2.2 over quota"), BounceClass::Soft);
        assert_eq!(classify_bounce("554 rejected: IP listed at zen.spamhaus.org"), BounceClass::Block);
        assert_eq!(classify_bounce("550 Requested action not taken: mailbox unavailable"), BounceClass::Hard);
        assert_eq!(classify_bounce("something odd happened"), BounceClass::Soft);
        // An address on a suppression list is the recipient's fault (SES mailbox simulator).
        assert_eq!(classify_bounce("550 5.1.1 user unknown ( blacklisted address: x@example.com )"), BounceClass::Hard);
    }

    #[test]
    fn auto_replies_by_subject() {
        // Apple's vacation answers say "Auto reply:" (sisimai rfc3834-03).
        assert!(is_auto_reply("Auto reply: Nyaan"));
        assert!(is_auto_reply("Automatic reply: hello"));
        assert!(!is_auto_reply("Undelivered Mail Returned to Sender"));
    }
}
