//! Email state (SPEC §6): flags folded from a contact's time-ordered email
//! and consent history, the exclusive subscription status, and the
//! reachability level.

use crate::event::{BounceClass, ConsentChange, EmailKind, MailFact, MailRecord};
use crate::time::Secs;

/// Non-exclusive email state flags of one contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct EmailFlags(u16);

impl EmailFlags {
    pub const OPTED_IN: u16 = 1;
    pub const PENDING: u16 = 1 << 1;
    pub const UNSUBSCRIBED: u16 = 1 << 2;
    pub const BOUNCED: u16 = 1 << 3;
    pub const COMPLAINED: u16 = 1 << 4;
    pub const DO_NOT_CONTACT: u16 = 1 << 5;
    pub const INVALID: u16 = 1 << 6;
    /// At least one soft bounce since the last delivery, below the threshold.
    pub const SOFT_BOUNCING: u16 = 1 << 7;

    pub fn has(self, flag: u16) -> bool {
        self.0 & flag != 0
    }

    fn set(&mut self, flag: u16, on: bool) {
        if on {
            self.0 |= flag;
        } else {
            self.0 &= !flag;
        }
    }

    pub fn bits(self) -> u16 {
        self.0
    }

    pub(crate) fn from_bits(bits: u16) -> EmailFlags {
        EmailFlags(bits)
    }

    /// Any flag that forbids marketing email.
    pub fn blocks_marketing(self) -> bool {
        self.has(Self::UNSUBSCRIBED | Self::COMPLAINED | Self::BOUNCED | Self::DO_NOT_CONTACT | Self::INVALID)
    }
}

/// Folds a contact's email history, sorted by `(at, fact)`, into flags.
/// Later facts win: a confirmed opt-in after an unsubscribe re-subscribes; a
/// hard bounce, a complaint and a "cleaned" import are sticky; soft bounces
/// count up to the threshold and any delivery, open or click resets the count.
/// Sender blocks (policy, block lists) say nothing about the recipient.
pub fn fold_flags(history: &[MailRecord], soft_bounce_threshold: u32) -> EmailFlags {
    debug_assert!(history.windows(2).all(|pair| pair[0] <= pair[1]), "history must be sorted");
    let mut flags = EmailFlags::default();
    let mut soft_streak = 0u32;
    for record in history {
        match record.fact {
            MailFact::Consent(ConsentChange::OptedIn) | MailFact::Email(EmailKind::OptInConfirmed) => {
                flags.set(EmailFlags::OPTED_IN, true);
                flags.set(EmailFlags::PENDING, false);
                flags.set(EmailFlags::UNSUBSCRIBED, false);
            }
            MailFact::Consent(ConsentChange::Pending) | MailFact::Email(EmailKind::OptInRequested) => {
                if !flags.has(EmailFlags::OPTED_IN) {
                    flags.set(EmailFlags::PENDING, true);
                }
            }
            MailFact::Consent(ConsentChange::Unsubscribed) | MailFact::Email(EmailKind::Unsubscribed) => {
                flags.set(EmailFlags::UNSUBSCRIBED, true);
                flags.set(EmailFlags::OPTED_IN, false);
                flags.set(EmailFlags::PENDING, false);
            }
            MailFact::Consent(ConsentChange::NoConsent) => {
                flags.set(EmailFlags::OPTED_IN, false);
                flags.set(EmailFlags::PENDING, false);
            }
            MailFact::Consent(ConsentChange::DoNotContact(on)) => flags.set(EmailFlags::DO_NOT_CONTACT, on),
            MailFact::Consent(ConsentChange::Invalid(on)) => flags.set(EmailFlags::INVALID, on),
            MailFact::Consent(ConsentChange::Cleaned) | MailFact::Email(EmailKind::Bounced(BounceClass::Hard)) => {
                flags.set(EmailFlags::BOUNCED, true);
            }
            MailFact::Email(EmailKind::Bounced(BounceClass::Soft)) => {
                soft_streak += 1;
                if soft_streak >= soft_bounce_threshold {
                    flags.set(EmailFlags::BOUNCED, true);
                }
            }
            MailFact::Email(EmailKind::Bounced(BounceClass::Block)) => {}
            MailFact::Email(EmailKind::Delivered | EmailKind::Opened | EmailKind::Clicked) => soft_streak = 0,
            MailFact::Email(EmailKind::Complained) => flags.set(EmailFlags::COMPLAINED, true),
            MailFact::Email(EmailKind::Sent) => {}
        }
    }
    flags.set(EmailFlags::SOFT_BOUNCING, soft_streak > 0 && !flags.has(EmailFlags::BOUNCED));
    flags
}

macro_rules! ordered_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $key:literal / $label:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn key(self) -> &'static str {
                match self { $($name::$variant => $key),+ }
            }

            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label),+ }
            }

            pub fn parse(raw: &str) -> Option<$name> {
                let wanted = crate::model::squash(raw);
                $name::ALL.iter().copied().find(|v| crate::model::squash(v.key()) == wanted || crate::model::squash(v.label()) == wanted)
            }

            pub fn index(self) -> usize {
                self as usize
            }
        }
    };
}

ordered_enum!(
    /// Exclusive subscription status; the first matching rule wins (SPEC §6).
    SubscriptionStatus {
        Unsubscribed = "unsubscribed" / "Unsubscribed",
        Complained = "complained" / "Complained",
        Bounced = "bounced" / "Bounced",
        DoNotContact = "do_not_contact" / "Do not contact",
        Invalid = "invalid" / "Invalid address",
        Pending = "pending" / "Pending confirmation",
        OptedIn = "opted_in" / "Opted in",
        NoConsent = "no_consent" / "No consent recorded",
        NoEmail = "no_email" / "No email",
    }
);

ordered_enum!(
    /// Reachability by email, from best to worst (SPEC §6).
    Reachability {
        High = "high" / "High",
        Medium = "medium" / "Medium",
        Low = "low" / "Low",
        Unreachable = "unreachable" / "Unreachable",
        None = "none" / "No email",
    }
);

pub fn subscription_status(has_email: bool, flags: EmailFlags) -> SubscriptionStatus {
    if !has_email {
        return SubscriptionStatus::NoEmail;
    }
    let rules = [
        (EmailFlags::UNSUBSCRIBED, SubscriptionStatus::Unsubscribed),
        (EmailFlags::COMPLAINED, SubscriptionStatus::Complained),
        (EmailFlags::BOUNCED, SubscriptionStatus::Bounced),
        (EmailFlags::DO_NOT_CONTACT, SubscriptionStatus::DoNotContact),
        (EmailFlags::INVALID, SubscriptionStatus::Invalid),
        (EmailFlags::PENDING, SubscriptionStatus::Pending),
        (EmailFlags::OPTED_IN, SubscriptionStatus::OptedIn),
    ];
    rules.into_iter().find(|(flag, _)| flags.has(*flag)).map_or(SubscriptionStatus::NoConsent, |(_, status)| status)
}

/// The reachability level. `engaged_since` is the first instant of the
/// engagement window (the start of local day `today - (engaged_days - 1)`);
/// `last_engaged` is the contact's latest open, click or web event.
pub fn reachability(has_email: bool, flags: EmailFlags, last_engaged: Option<Secs>, engaged_since: Secs) -> Reachability {
    if !has_email {
        Reachability::None
    } else if flags.blocks_marketing() {
        Reachability::Unreachable
    } else if !flags.has(EmailFlags::OPTED_IN) {
        Reachability::Low
    } else if last_engaged.is_some_and(|at| at >= engaged_since) {
        Reachability::High
    } else {
        Reachability::Medium
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(at: Secs, fact: MailFact) -> MailRecord {
        MailRecord { at, fact }
    }

    fn email(at: Secs, kind: EmailKind) -> MailRecord {
        record(at, MailFact::Email(kind))
    }

    #[test]
    fn soft_bounces_need_the_threshold_and_reset_on_delivery() {
        let soft = EmailKind::Bounced(BounceClass::Soft);
        let mut history: Vec<MailRecord> = (0..4).map(|i| email(i, soft)).collect();
        assert!(!fold_flags(&history, 5).has(EmailFlags::BOUNCED));
        assert!(fold_flags(&history, 5).has(EmailFlags::SOFT_BOUNCING));
        history.push(email(10, EmailKind::Delivered));
        history.push(email(11, soft));
        assert!(!fold_flags(&history, 5).has(EmailFlags::BOUNCED));
        history.extend((12..16).map(|i| email(i, soft)));
        assert!(fold_flags(&history, 5).has(EmailFlags::BOUNCED));
    }

    #[test]
    fn sender_blocks_are_not_recipient_bounces() {
        let history = [record(0, MailFact::Consent(ConsentChange::OptedIn)), email(1, EmailKind::Bounced(BounceClass::Block))];
        let flags = fold_flags(&history, 5);
        assert!(!flags.blocks_marketing());
        assert_eq!(reachability(true, flags, Some(1), 0), Reachability::High);
    }

    #[test]
    fn status_precedence() {
        let history = [
            record(0, MailFact::Consent(ConsentChange::OptedIn)),
            email(1, EmailKind::Complained),
            email(2, EmailKind::Unsubscribed),
        ];
        assert_eq!(subscription_status(true, fold_flags(&history, 5)), SubscriptionStatus::Unsubscribed);
        assert_eq!(subscription_status(false, EmailFlags::default()), SubscriptionStatus::NoEmail);
        assert_eq!(subscription_status(true, EmailFlags::default()), SubscriptionStatus::NoConsent);
    }

    #[test]
    fn resubscribing_after_unsubscribe() {
        let history = [
            record(0, MailFact::Consent(ConsentChange::OptedIn)),
            email(1, EmailKind::Unsubscribed),
            email(2, EmailKind::OptInConfirmed),
        ];
        assert_eq!(subscription_status(true, fold_flags(&history, 5)), SubscriptionStatus::OptedIn);
    }
}
