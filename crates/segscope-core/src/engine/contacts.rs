//! Creating, updating, deleting and merging contacts, and the identity maps
//! (email, external id, visitor id → contact).

use std::collections::BTreeMap;

use crate::contact::{Contact, insert_sorted, merge_sorted};
use crate::criteria::BuiltinField;
use crate::email::Email;
use crate::engine::segments::{Definition, Reason};
use crate::engine::{ContactRef, ContactUpsert, ItemIssue, MAX_BATCH, Outcome, UpsertReport, Workspace};
use crate::error::{Error, Result};
use crate::event::{ConsentChange, MailFact, MailRecord};
use crate::ids::{ContactId, SegmentId};
use crate::model::{AttrType, Channel, Country, Source, Value};
use crate::time::Secs;

/// Ids that integrations and browser scripts send by mistake (a variable
/// that serialized nothing: `String(undefined)`, `"" + {}`, `null`). They
/// are refused rather than merging everyone who sent them: one broken
/// snippet would otherwise make every visitor the same contact. Compared
/// after [`normalize_id`] (so also without inner spaces).
const JUNK_IDS: &[&str] =
    &["null", "undefined", "none", "nil", "nan", "0", "-1", "[object object]", "{}", "[]", "false", "true", "\"\"", "''"];

/// Words that, alone or repeated with spaces (`undefined undefined`, from
/// `first + " " + last` of two unset variables), or in parentheses
/// (`(null)`, C's `printf("%s", NULL)`), say "nothing was there".
const JUNK_TOKENS: &[&str] = &["null", "undefined", "nil", "none", "nan", "0"];

/// Invisible format characters that make a junk id look different: zero
/// width spaces and joiners, direction marks and embeddings, word joiner
/// and invisible operators, the byte-order mark, the soft hyphen.
fn is_format_char(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}'
        | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}')
}

/// The form an id is compared in for junk: format characters removed,
/// fullwidth ASCII (U+FF01–U+FF5E) folded to ASCII, every run of
/// whitespace made one space, trimmed, lowercased.
fn normalize_id(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut pending_space = false;
    for c in raw.chars() {
        if is_format_char(c) {
            continue;
        }
        let c = match c as u32 {
            code @ 0xFF01..=0xFF5E => char::from_u32(code - 0xFEE0).unwrap_or(c),
            _ => c,
        };
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// Whether `raw` is a serialization mistake rather than an id: after
/// [`normalize_id`], empty, one of the [`JUNK_IDS`] (also with its spaces
/// removed), `[object <anything>]`, or only [`JUNK_TOKENS`] separated by
/// spaces, optionally in parentheses or angle brackets (`(null)`, `<nil>`).
fn is_junk_id(raw: &str) -> bool {
    let normal = normalize_id(raw);
    let compact: String = normal.chars().filter(|c| *c != ' ').collect();
    if compact.is_empty() || JUNK_IDS.contains(&compact.as_str()) {
        return true;
    }
    if compact.starts_with("[object") && compact.ends_with(']') {
        return true;
    }
    let inner = normal
        .strip_prefix('(')
        .and_then(|rest| rest.strip_suffix(')'))
        .or_else(|| normal.strip_prefix('<').and_then(|rest| rest.strip_suffix('>')))
        .unwrap_or(&normal);
    let mut tokens = inner.split(' ').filter(|t| !t.is_empty()).peekable();
    tokens.peek().is_some() && tokens.all(|t| JUNK_TOKENS.contains(&t))
}

/// The status columns that `set_field` reads as a consent fact
/// (`subscribed`, `unsubscribed`, `do-not-contact`…), whatever the source.
pub const CONSENT_STATUS_COLUMNS: &[&str] = &["email_status", "subscription_status", "status", "consent"];

/// Whether a built-in field states a consent fact, changes the contact's
/// identity, or is part of its email state (bounces, complaints). The
/// match is exhaustive: a new built-in field must be sorted here.
fn builtin_is_consent_or_identity(field: BuiltinField) -> bool {
    match field {
        BuiltinField::Email
        | BuiltinField::EmailDomain
        | BuiltinField::ExternalId
        | BuiltinField::EmailProvider
        | BuiltinField::SubscriptionStatus
        | BuiltinField::OptedIn
        | BuiltinField::Unsubscribed
        | BuiltinField::Bounced
        | BuiltinField::Complained
        | BuiltinField::DoNotContact => true,
        BuiltinField::FirstName
        | BuiltinField::LastName
        | BuiltinField::Phone
        | BuiltinField::Stage
        | BuiltinField::CreationChannel
        | BuiltinField::FirstTouchSource
        | BuiltinField::Country
        | BuiltinField::Region
        | BuiltinField::City
        | BuiltinField::Tags
        | BuiltinField::CreatedAt
        | BuiltinField::IdentifiedAt
        | BuiltinField::LastSeenAt => false,
    }
}

/// Whether a field name given to an update or identify traits (trimmed,
/// any ASCII case, as `set_field` reads it) records consent, changes the
/// identity (email, external id), or the email/bounce/complaint state.
/// Untrusted sources (the browser's write key) must not set these.
pub fn is_consent_or_identity_field(name: &str) -> bool {
    let lowered = name.trim().to_ascii_lowercase();
    CONSENT_STATUS_COLUMNS.contains(&lowered.as_str())
        || BuiltinField::parse(&lowered).is_some_and(builtin_is_consent_or_identity)
}

/// Every name [`is_consent_or_identity_field`] accepts, for docs and tests.
pub fn consent_or_identity_fields() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = CONSENT_STATUS_COLUMNS.to_vec();
    for (field, name) in BuiltinField::ALL {
        if builtin_is_consent_or_identity(field) && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Checks an external id and returns it trimmed: not empty, not junk, at
/// most 200 characters, no control characters.
pub fn check_external_id(raw: &str) -> Result<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid("external id is empty"));
    }
    if is_junk_id(trimmed) {
        return Err(Error::invalid(format!("external id `{trimmed}` looks like a serialization mistake and is refused")));
    }
    if trimmed.len() > 200 || trimmed.chars().any(char::is_control) {
        return Err(Error::invalid("external id must be at most 200 characters without control characters"));
    }
    Ok(trimmed.to_owned())
}

/// Checks a visitor (cookie) id: 1 to 200 characters, not only
/// whitespace, no control characters, and not junk (`undefined`, `null`,
/// `0`, `[object Object]`…), which would join unrelated visitors into one
/// contact. The id is kept as sent (no trimming: it is a map key).
pub fn check_visitor_id(raw: &str) -> Result<()> {
    if raw.trim().is_empty() || raw.len() > 200 {
        return Err(Error::invalid("a visitor id must have 1 to 200 characters"));
    }
    if raw.chars().any(char::is_control) {
        return Err(Error::invalid("a visitor id must not contain control characters"));
    }
    if is_junk_id(raw) {
        let shown: String = raw.trim().chars().take(40).collect();
        return Err(Error::invalid(format!(
            "visitor id `{shown}` looks like a serialization mistake (an unset variable) and is refused"
        )));
    }
    Ok(())
}

fn clean_text(name: &str, value: Value, max: usize) -> Result<Option<String>> {
    let text = match value {
        Value::Text(text) => text,
        Value::Number(n) => n.to_string(),
        other => {
            return Err(Error::invalid(format!("`{name}` expects text, got a {}", other.type_of().key())));
        }
    };
    let trimmed = text.trim();
    if trimmed.len() > max && trimmed.chars().count() > max {
        return Err(Error::invalid(format!("`{name}` is longer than {max} characters")));
    }
    if trimmed.is_empty() {
        return Ok(None);
    }
    // Most values need no trimming: keep the allocation.
    Ok(Some(if trimmed.len() == text.len() { text } else { trimmed.to_owned() }))
}

impl Workspace {
    pub(crate) fn find_by_email(&self, email: &Email) -> Option<ContactId> {
        self.by_email.get(email.as_str()).copied()
    }

    /// The contact an id stands for now: itself, or the survivor of the
    /// merges it went through.
    pub fn survivor(&self, id: ContactId) -> Option<ContactId> {
        let mut current = self.contact(id)?;
        while let Some(next) = current.merged_into {
            current = self.contact(next)?;
        }
        Some(current.id)
    }

    /// The alive contact a reference means.
    pub fn resolve(&self, who: &ContactRef) -> Result<ContactId> {
        let found = match who {
            ContactRef::Id(id) => self.survivor(*id).filter(|id| self.alive.contains(id.0)),
            ContactRef::Email(raw) => Email::parse(raw).ok().and_then(|e| self.find_by_email(&e)),
            ContactRef::ExternalId(raw) => self.by_external_id.get(raw.trim()).copied(),
        };
        found.ok_or_else(|| {
            Error::not_found(match who {
                ContactRef::Id(id) => format!("contact {id} not found"),
                ContactRef::Email(raw) => format!("no contact with email `{}`", raw.trim()),
                ContactRef::ExternalId(raw) => {
                    format!("no contact with external id `{}`", raw.trim())
                }
            })
        })
    }

    pub(crate) fn new_contact(&mut self, created_at: Secs, channel: Channel, now: Secs) -> ContactId {
        let id = ContactId(u32::try_from(self.contacts.len()).expect("fewer than 4 billion contacts"));
        let mut contact = Contact::new(id, created_at.min(now), channel);
        contact.provider = crate::esp::Provider::None;
        if self.contacts.len() == self.contacts.capacity() {
            // Grow by an eighth, not double: at millions of contacts doubling
            // would leave up to half a contact array unused (a large realloc
            // moves pages, it does not copy them).
            self.contacts.reserve_exact(self.contacts.len() / 8 + 1024);
        }
        self.contacts.push(contact);
        self.alive.insert(id.0);
        id
    }

    /// Recomputes a contact's derived values and its known/anonymous bit.
    pub(crate) fn refresh_contact(&mut self, id: ContactId) {
        let mx = &self.mx;
        let lookup = |domain: &str| mx.get(domain).cloned();
        self.summary_rows.get_mut().mark(id.0);
        let contact = &mut self.contacts[id.0 as usize];
        contact.refresh(&self.settings.sessions, self.settings.soft_bounce_threshold, &self.tz, &lookup);
        if contact.is_known() {
            self.known.insert(id.0);
        } else {
            self.known.remove(id.0);
        }
    }

    pub(crate) fn upsert_contacts(
        &mut self,
        items: Vec<ContactUpsert>,
        channel: Channel,
        list: Option<SegmentId>,
        now: Secs,
    ) -> Result<Outcome> {
        if items.len() > MAX_BATCH {
            return Err(Error::invalid(format!("a batch has at most {MAX_BATCH} contacts; split the import")));
        }
        if let Some(list) = list
            && !matches!(self.segment(list)?.definition, Definition::Static)
        {
            return Err(Error::invalid(format!("segment {list} is not a static list")));
        }
        let mut report = UpsertReport::default();
        let mut dirty: BTreeMap<ContactId, Reason> = BTreeMap::new();
        for (index, item) in items.into_iter().enumerate() {
            match self.upsert_one(item, channel, now) {
                Ok((id, created, warnings)) => {
                    if created {
                        report.created += 1;
                    } else {
                        report.updated += 1;
                    }
                    report.warnings.extend(warnings.into_iter().map(|message| ItemIssue { index, message }));
                    report.contacts.push(Some(id));
                    dirty.insert(id, Reason::Criteria);
                }
                Err(err) => {
                    report.rejected.push(ItemIssue { index, message: err.to_string() });
                    report.contacts.push(None);
                }
            }
        }
        for id in dirty.keys() {
            self.refresh_contact(*id);
        }
        if let Some(list) = list {
            let ids: Vec<ContactId> = dirty.keys().copied().collect();
            self.set_list_members(list, &ids, true, Reason::Import, now);
        }
        self.reevaluate_dirty(&dirty, now);
        Ok(Outcome::Upserted(report))
    }

    /// Creates or updates one contact. Identity problems reject the item;
    /// field problems leave that field unchanged and come back as warnings.
    fn upsert_one(&mut self, item: ContactUpsert, channel: Channel, now: Secs) -> Result<(ContactId, bool, Vec<String>)> {
        let email = item.email.as_deref().filter(|e| !e.trim().is_empty()).map(Email::parse).transpose()?;
        let external_id = item.external_id.as_deref().filter(|e| !e.trim().is_empty()).map(check_external_id).transpose()?;
        if email.is_none() && external_id.is_none() {
            return Err(Error::invalid("no email or external id: a contact needs at least one"));
        }
        let by_email = email.as_ref().and_then(|e| self.find_by_email(e));
        let by_external = external_id.as_ref().and_then(|x| self.by_external_id.get(x).copied());
        let existing = match (by_email, by_external) {
            (Some(a), Some(b)) if a != b => {
                return Err(Error::conflict(format!(
                    "the email belongs to contact {a} and the external id to contact {b}; merge them explicitly first"
                )));
            }
            (a, b) => a.or(b),
        };
        if item.fields.len() > 600 {
            return Err(Error::invalid("a contact update has at most 600 fields"));
        }
        let mut warnings = Vec::new();
        let (id, created) = match existing {
            Some(id) => (id, false),
            None => {
                let mut created_at = item.created_at.unwrap_or(now);
                if created_at > now {
                    warnings.push("created_at is in the future; used the import time instead".to_owned());
                    created_at = now;
                }
                let id = self.new_contact(created_at, channel, now);
                self.contacts[id.0 as usize].identified_at = Some(created_at.min(now));
                (id, true)
            }
        };
        if let Some(email) = email
            && let Err(err) = self.set_email(id, email)
        {
            warnings.push(err.message);
        }
        if let Some(external_id) = external_id
            && let Err(err) = self.set_external_id(id, external_id)
        {
            warnings.push(err.message);
        }
        for (name, value) in item.fields {
            if let Err(err) = self.set_field(id, &name, value, now) {
                warnings.push(format!("{name}: {}", err.message));
            }
        }
        Ok((id, created, warnings))
    }

    fn set_email(&mut self, id: ContactId, email: Email) -> Result<()> {
        if let Some(owner) = self.find_by_email(&email) {
            if owner != id {
                return Err(Error::conflict(format!("email {} already belongs to contact {owner}", email.as_str())));
            }
            return Ok(());
        }
        let contact = &mut self.contacts[id.0 as usize];
        if let Some(old) = contact.email.take() {
            self.by_email.remove(old.as_str());
        }
        self.by_email.insert(email.as_str().to_owned(), id);
        contact.email = Some(email);
        Ok(())
    }

    fn set_external_id(&mut self, id: ContactId, external_id: String) -> Result<()> {
        if let Some(owner) = self.by_external_id.get(&external_id).copied() {
            if owner != id {
                return Err(Error::conflict(format!("external id {external_id} already belongs to contact {owner}")));
            }
            return Ok(());
        }
        let contact = &mut self.contacts[id.0 as usize];
        if let Some(old) = contact.external_id.take() {
            self.by_external_id.remove(&old);
        }
        self.by_external_id.insert(external_id.clone(), id);
        contact.external_id = Some(external_id);
        Ok(())
    }

    /// Records a consent fact stated at `now` (an import's status column, an
    /// API update). Always recorded, even when it restates the current
    /// state: whether a fact is kept must not depend on what arrived before,
    /// or a late ESP event could end differently depending on arrival order.
    fn add_consent(&mut self, id: ContactId, change: ConsentChange, now: Secs) {
        insert_sorted(&mut self.contacts[id.0 as usize].mail, MailRecord { at: now, fact: MailFact::Consent(change) });
    }

    /// Sets one field or custom attribute from an upsert or identify traits.
    pub(crate) fn set_field(&mut self, id: ContactId, name: &str, value: Option<Value>, now: Secs) -> Result<()> {
        let name = name.trim();
        // Imports send the same lower-case names row after row: no copy then.
        let lowered: std::borrow::Cow<'_, str> = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            std::borrow::Cow::Owned(name.to_ascii_lowercase())
        } else {
            std::borrow::Cow::Borrowed(name)
        };
        // Consent columns are not criteria fields but set email state.
        match &*lowered {
            column if CONSENT_STATUS_COLUMNS.contains(&column) => {
                let Some(value) = value else { return Ok(()) };
                let text = clean_text(name, value, 80)?.unwrap_or_default();
                let change = match crate::model::squash(&text).as_str() {
                    "subscribed" | "optedin" | "optin" | "yes" | "true" | "confirmed" | "active" => ConsentChange::OptedIn,
                    "unsubscribed" | "optedout" | "optout" => ConsentChange::Unsubscribed,
                    "pending" | "unconfirmed" => ConsentChange::Pending,
                    "cleaned" | "bounced" => ConsentChange::Cleaned,
                    "nonsubscribed" | "noconsent" | "no" | "false" | "transactional" | "" => ConsentChange::NoConsent,
                    "donotcontact" | "dnc" => ConsentChange::DoNotContact(true),
                    "invalid" => ConsentChange::Invalid(true),
                    _ => {
                        return Err(Error::invalid(format!(
                            "unknown email status `{text}`: use subscribed, unsubscribed, pending, cleaned, non-subscribed or do-not-contact"
                        )));
                    }
                };
                self.add_consent(id, change, now);
                return Ok(());
            }
            _ => {}
        }
        let builtin = BuiltinField::parse(&lowered);
        let flag = |value: Option<Value>| -> Result<Option<bool>> {
            match value.map(|v| v.coerce(AttrType::Boolean)) {
                None => Ok(None),
                Some(Ok(Value::Bool(flag))) => Ok(Some(flag)),
                Some(Ok(_)) => unreachable!("coerced to boolean"),
                Some(Err(err)) => Err(err),
            }
        };
        match builtin {
            Some(BuiltinField::Email) => match value {
                Some(value) => {
                    let raw = clean_text(name, value, 254)?.unwrap_or_default();
                    self.set_email(id, Email::parse(&raw)?)
                }
                None => Err(Error::invalid("the email cannot be cleared by an update; delete the contact instead")),
            },
            Some(BuiltinField::ExternalId) => match value {
                Some(value) => {
                    let raw = clean_text(name, value, 200)?.unwrap_or_default();
                    self.set_external_id(id, check_external_id(&raw)?)
                }
                None => Err(Error::invalid("the external id cannot be cleared by an update")),
            },
            Some(
                field @ (BuiltinField::FirstName
                | BuiltinField::LastName
                | BuiltinField::Phone
                | BuiltinField::Region
                | BuiltinField::City),
            ) => {
                let text = value.map(|v| clean_text(name, v, 200)).transpose()?.flatten();
                let contact = &mut self.contacts[id.0 as usize];
                match field {
                    BuiltinField::FirstName => contact.first_name = text,
                    BuiltinField::LastName => contact.last_name = text,
                    BuiltinField::Phone => contact.phone = text,
                    BuiltinField::Region => contact.explicit_geo.region = text,
                    _ => contact.explicit_geo.city = text,
                }
                Ok(())
            }
            Some(BuiltinField::Country) => {
                let text = value.map(|v| clean_text(name, v, 100)).transpose()?.flatten();
                let country = text.map(|t| Country::parse(&t)).transpose()?;
                self.contacts[id.0 as usize].explicit_geo.country = country;
                Ok(())
            }
            Some(BuiltinField::Stage) => {
                let text = value.map(|v| clean_text(name, v, 100)).transpose()?.flatten();
                let stage = match text {
                    None => None,
                    Some(raw) => Some(self.settings.find_stage(&raw).map(str::to_owned).ok_or_else(|| {
                        Error::invalid(format!("unknown stage `{raw}`; stages: {}", self.settings.stages.join(", ")))
                    })?),
                };
                self.set_stage(id, stage, now);
                Ok(())
            }
            Some(BuiltinField::FirstTouchSource) => {
                let text = value.map(|v| clean_text(name, v, 100)).transpose()?.flatten();
                let source = match text {
                    None => None,
                    Some(raw) => Some(Source::parse(&raw).ok_or_else(|| {
                        let keys: Vec<&str> = Source::ALL.iter().map(|s| s.key()).collect();
                        Error::invalid(format!("unknown source `{raw}`; sources: {}", keys.join(", ")))
                    })?),
                };
                self.contacts[id.0 as usize].explicit_source = source;
                Ok(())
            }
            Some(BuiltinField::Tags) => {
                let tags = match value.map(|v| v.coerce(AttrType::TextList)).transpose()? {
                    Some(Value::List(items)) => items,
                    _ => Vec::new(),
                };
                if tags.len() > 100 || tags.iter().any(|t| t.chars().count() > 100) {
                    return Err(Error::invalid("at most 100 tags of up to 100 characters"));
                }
                let mut cleaned: Vec<String> = Vec::new();
                for tag in tags.into_iter().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) {
                    if !cleaned.iter().any(|c| c.eq_ignore_ascii_case(&tag)) {
                        cleaned.push(tag);
                    }
                }
                self.contacts[id.0 as usize].tags = cleaned;
                Ok(())
            }
            Some(BuiltinField::OptedIn) => {
                if let Some(on) = flag(value)? {
                    self.add_consent(id, if on { ConsentChange::OptedIn } else { ConsentChange::NoConsent }, now);
                }
                Ok(())
            }
            Some(BuiltinField::Unsubscribed) => {
                if let Some(true) = flag(value)? {
                    self.add_consent(id, ConsentChange::Unsubscribed, now)
                }
                Ok(())
            }
            Some(BuiltinField::DoNotContact) => {
                if let Some(on) = flag(value)? {
                    self.add_consent(id, ConsentChange::DoNotContact(on), now);
                }
                Ok(())
            }
            Some(BuiltinField::CreatedAt) => Ok(()), // set only when the contact is created (ContactUpsert::created_at)
            Some(other) => Err(Error::invalid(format!("`{}` is computed by segscope and cannot be set", other.name()))),
            None => self.set_attribute(id, &lowered, value),
        }
    }

    fn set_attribute(&mut self, id: ContactId, name: &str, value: Option<Value>) -> Result<()> {
        crate::model::check_attribute_name(name)?;
        let Some(value) = value else {
            self.contacts[id.0 as usize].attributes.remove(name);
            return Ok(());
        };
        if let Value::Text(text) = &value
            && text.chars().count() > 2_000
        {
            return Err(Error::invalid("text attributes are at most 2000 characters"));
        }
        if let Value::List(items) = &value
            && (items.len() > 200 || items.iter().any(|i| i.chars().count() > 200))
        {
            return Err(Error::invalid("list attributes have at most 200 items of up to 200 characters"));
        }
        let attr_type = match self.attributes.get(name) {
            Some(declared) => *declared,
            None => {
                if self.attributes.len() >= 500 {
                    return Err(Error::invalid("a workspace can have at most 500 custom attributes"));
                }
                let inferred = value.type_of();
                self.attributes.insert(name.to_owned(), inferred);
                inferred
            }
        };
        let value = value.coerce(attr_type)?;
        if value.is_empty() {
            self.contacts[id.0 as usize].attributes.remove(name);
        } else {
            self.contacts[id.0 as usize].attributes.insert(name, value);
        }
        Ok(())
    }

    /// Records a stage change at `at`; the current stage is the latest in time.
    pub(crate) fn set_stage(&mut self, id: ContactId, stage: Option<String>, at: Secs) {
        let contact = &mut self.contacts[id.0 as usize];
        let position = contact.stage_history.partition_point(|(t, _)| *t <= at);
        contact.stage_history.insert(position, (at, stage));
        if contact.stage_history.len() > 1_000 {
            contact.stage_history.drain(..contact.stage_history.len() - 1_000);
        }
        contact.stage = contact.stage_history.last().and_then(|(_, s)| s.clone());
    }

    pub(crate) fn delete_contact(&mut self, who: &ContactRef, now: Secs) -> Result<Outcome> {
        let id = self.resolve(who)?;
        self.delete_by_id(id, now);
        Ok(Outcome::Deleted)
    }

    pub(crate) fn delete_by_id(&mut self, id: ContactId, now: Secs) {
        let contact = &mut self.contacts[id.0 as usize];
        contact.alive = false;
        let visitors = std::mem::take(&mut contact.visitor_ids);
        // Aliases left by merges point here too, so sweep the maps rather
        // than only removing the contact's own identities. Deletes are rare.
        self.by_email.retain(|_, owner| *owner != id);
        self.by_external_id.retain(|_, owner| *owner != id);
        for visitor in visitors {
            self.by_visitor.remove(&visitor);
        }
        self.alive.remove(id.0);
        self.remove_from_all_segments(id, now, Reason::Deleted);
    }

    pub(crate) fn merge_command(&mut self, keep: &ContactRef, absorb: &ContactRef, now: Secs) -> Result<Outcome> {
        let keep = self.resolve(keep)?;
        let absorb = self.resolve(absorb)?;
        if keep == absorb {
            return Err(Error::invalid("a contact cannot be merged into itself"));
        }
        self.merge(keep, absorb, now);
        let mut dirty = BTreeMap::new();
        dirty.insert(keep, Reason::Merged);
        self.refresh_contact(keep);
        self.reevaluate_dirty(&dirty, now);
        Ok(Outcome::Merged(keep))
    }

    /// Moves everything of `absorb` into `keep`: histories, visitor ids,
    /// identities (as aliases that resolve to `keep`), missing fields and
    /// static-list memberships. `absorb` stops existing; its memberships end
    /// with reason `merged`. The caller refreshes `keep` and re-evaluates.
    pub(crate) fn merge(&mut self, keep: ContactId, absorb: ContactId, now: Secs) {
        let mut gone = std::mem::replace(&mut self.contacts[absorb.0 as usize], Contact::new(absorb, 0, Channel::Api));
        let target = &mut self.contacts[keep.0 as usize];
        target.web.merge(std::mem::take(&mut gone.web));
        merge_sorted(&mut target.mail, std::mem::take(&mut gone.mail));
        merge_sorted(&mut target.track, std::mem::take(&mut gone.track));
        for visitor in &gone.visitor_ids {
            if !target.visitor_ids.contains(visitor) {
                target.visitor_ids.push(visitor.clone());
            }
        }
        target.observed_geo = match (target.observed_geo.take(), gone.observed_geo.take()) {
            (Some(a), Some(b)) => Some(if b.0 > a.0 { b } else { a }),
            (a, b) => a.or(b),
        };
        for (name, value) in std::mem::take(&mut gone.attributes).into_entries() {
            target.attributes.insert_if_absent(&name, value);
        }
        for tag in std::mem::take(&mut gone.tags) {
            if !target.tags.iter().any(|t| t.eq_ignore_ascii_case(&tag)) {
                target.tags.push(tag);
            }
        }
        if target.stage.is_none() && gone.stage.is_some() {
            target.stage_history = std::mem::take(&mut gone.stage_history);
            target.stage = gone.stage.take();
        }
        target.first_name = target.first_name.take().or(gone.first_name.take());
        target.last_name = target.last_name.take().or(gone.last_name.take());
        target.phone = target.phone.take().or(gone.phone.take());
        target.explicit_source = target.explicit_source.or(gone.explicit_source);
        if target.explicit_geo.is_empty() {
            target.explicit_geo = std::mem::take(&mut gone.explicit_geo);
        }
        for visitor in &gone.visitor_ids {
            self.by_visitor.insert(visitor.clone(), keep);
        }
        if let Some(email) = &gone.email {
            self.by_email.insert(email.as_str().to_owned(), keep);
        }
        if let Some(external_id) = &gone.external_id {
            self.by_external_id.insert(external_id.clone(), keep);
        }
        let was_known = gone.is_known();
        // The absorbed record keeps its identity fields for history ("who
        // was merged into whom") but none of its data.
        gone.alive = false;
        gone.merged_into = Some(keep);
        gone.visitor_ids.clear();
        gone.sessions.clear();
        self.contacts[absorb.0 as usize] = gone;
        if was_known {
            self.known.insert(absorb.0);
        } else {
            self.known.remove(absorb.0);
        }
        self.alive.remove(absorb.0);
        let lists: Vec<SegmentId> = self
            .segments
            .values()
            .filter(|s| matches!(s.definition, Definition::Static) && s.members.contains(absorb.0))
            .map(|s| s.id)
            .collect();
        self.remove_from_all_segments(absorb, now, Reason::Merged);
        for list in lists {
            self.set_list_members(list, &[keep], true, Reason::Merged, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_ids_are_recognised_in_every_disguise() {
        for junk in [
            "null",
            "NULL",
            " undefined ",
            "0",
            "[object Object]",
            "(null)",
            "( null )",
            "<nil>",
            "[object Undefined]",
            "[object Null]",
            "[object HTMLInputElement]",
            "[ object Object ]",
            "undefined undefined",
            "null null",
            "None NaN 0",
            "undefined\tundefined",
            "\u{200B}null",
            "nu\u{200D}ll",
            "\u{FEFF}undefined\u{2060}",
            "\u{200B}",
            "\u{FF4E}\u{FF55}\u{FF4C}\u{FF4C}",
            "\u{FF2E}\u{FF35}\u{FF2C}\u{FF2C}",
            "\u{FF08}\u{FF4E}\u{FF55}\u{FF4C}\u{FF4C}\u{FF09}",
            "\u{3000}null\u{3000}",
            "n u l l",
            "{}",
            "\"\"",
        ] {
            assert!(is_junk_id(junk), "{junk:?} should be junk");
            assert!(check_external_id(junk).is_err(), "{junk:?} accepted as an external id");
            if !junk.trim().is_empty() {
                assert!(check_visitor_id(junk).is_err(), "{junk:?} accepted as a visitor id");
            }
        }
    }

    #[test]
    fn real_ids_are_not_junk() {
        for id in [
            "crm-7",
            "42",
            "00",
            "null-island",
            "nullable",
            "undefined-user-3",
            "none of the above",
            "[object Object]x",
            "Annabelle",
            "\u{FF41}\u{FF42}\u{FF43}",
            "nan0",
        ] {
            assert!(!is_junk_id(id), "{id:?} is a real id");
        }
        assert_eq!(check_external_id("  crm-7 ").unwrap(), "crm-7");
    }

    #[test]
    fn consent_and_identity_fields_cover_every_consent_column_and_flag() {
        let names = consent_or_identity_fields();
        for name in [
            "email",
            "external_id",
            "email_status",
            "subscription_status",
            "status",
            "consent",
            "opted_in",
            "unsubscribed",
            "do_not_contact",
            "bounced",
            "complained",
            "email_domain",
            "email_provider",
        ] {
            assert!(names.contains(&name), "{name} missing");
            assert!(is_consent_or_identity_field(name));
            assert!(is_consent_or_identity_field(&format!(" {} ", name.to_ascii_uppercase())));
        }
        for name in ["first_name", "last_name", "phone", "stage", "country", "city", "region", "tags", "plan"] {
            assert!(!is_consent_or_identity_field(name), "{name}");
        }
    }
}
