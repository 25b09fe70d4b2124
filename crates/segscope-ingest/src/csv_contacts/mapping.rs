//! Which contact field each CSV column feeds. Headers are matched by alias,
//! ignoring case, spaces and punctuation (`Email Address`, `E-mail`, `FNAME`,
//! `Country/Region`), so exports of Mailchimp, HubSpot, Mautic and Zoho map
//! without options; `--map` and `--ignore` override, and every other column
//! becomes a custom attribute named after its header.
//!
//! Deliberate choices, documented for users:
//! - Only `external id` / `external_id` map to the external id. Tool record
//!   ids (HubSpot "Record ID", Zoho "Record Id", Mailchimp "LEID") become
//!   custom attributes: using them as identity is a decision for the user
//!   (`--map "Record ID=external_id"`).
//! - The creation date comes from `Create Date` (HubSpot), `Created Time`
//!   (Zoho), `date_added` (Mautic), `OPTIN_TIME` (Mailchimp: when the person
//!   signed up) and `created_at`/`Date Created`/`Creation Date`. Columns such
//!   as `signup_date`, `CONFIRM_TIME` or `LAST_CHANGED` stay custom
//!   attributes: they are facts about the person, not when the contact was added.
//! - `Phone` maps to the phone field; `Mobile` stays an attribute, so that
//!   exports with both columns import without a clash.
//! - `Name` / `Full Name` stay an attribute (`name`): splitting a full name
//!   into first and last name cannot be done reliably.
//! - IP address columns (`ip`, `OPTIN_IP`, `CONFIRM_IP`) are ignored unless
//!   mapped explicitly: segscope does not store raw IPs by default (SPEC §3).
//! - A header naming a field segscope computes (`Bounced`, `Email Domain`,
//!   `Last Seen At`, …) is ignored with a note rather than failing every row.

use std::collections::BTreeMap;
use std::fmt;

use segscope_core::backend::SchemaSnapshot;
use segscope_core::criteria::BuiltinField;
use segscope_core::model::{
    AttrType, attribute_name_from_header, check_attribute_name, legacy_attribute_name_from_header, squash,
};

use crate::csv_contacts::CsvImportError;

/// A built-in contact field a column can set, besides identity and creation date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContactField {
    FirstName,
    LastName,
    Phone,
    Stage,
    Country,
    Region,
    City,
    Tags,
    FirstTouchSource,
    /// A subscription status column (`subscribed`, `unsubscribed`, `pending`, …).
    EmailStatus,
    OptedIn,
    Unsubscribed,
    DoNotContact,
}

impl ContactField {
    pub const ALL: [ContactField; 13] = [
        ContactField::FirstName,
        ContactField::LastName,
        ContactField::Phone,
        ContactField::Stage,
        ContactField::Country,
        ContactField::Region,
        ContactField::City,
        ContactField::Tags,
        ContactField::FirstTouchSource,
        ContactField::EmailStatus,
        ContactField::OptedIn,
        ContactField::Unsubscribed,
        ContactField::DoNotContact,
    ];

    /// The field's name in a [`segscope_core::engine::ContactUpsert`].
    pub fn core_name(self) -> &'static str {
        match self {
            ContactField::FirstName => "first_name",
            ContactField::LastName => "last_name",
            ContactField::Phone => "phone",
            ContactField::Stage => "stage",
            ContactField::Country => "country",
            ContactField::Region => "region",
            ContactField::City => "city",
            ContactField::Tags => "tags",
            ContactField::FirstTouchSource => "first_touch_source",
            ContactField::EmailStatus => "email_status",
            ContactField::OptedIn => "opted_in",
            ContactField::Unsubscribed => "unsubscribed",
            ContactField::DoNotContact => "do_not_contact",
        }
    }
}

/// Why a column is not imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    /// Named by `--ignore`, or mapped to `ignore`.
    Requested,
    /// The header is empty.
    EmptyHeader,
    /// An IP address column (not stored by default).
    IpAddress,
    /// A field segscope computes itself (`bounced`, `email_domain`, …).
    ComputedField,
}

/// Where a custom attribute's type came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeOrigin {
    /// `--type name=type`.
    Requested,
    /// The attribute is already declared in the workspace.
    Workspace,
    /// Neither, and every value of the column is an ISO 8601 date (or date
    /// and time): a date (or datetime) attribute.
    Inferred,
    /// None of the above: text.
    Default,
}

/// What one column feeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnTarget {
    Email,
    ExternalId,
    CreatedAt,
    Field(ContactField),
    Attribute { name: String, attr_type: AttrType, type_origin: TypeOrigin },
    Ignored(IgnoreReason),
}

impl ColumnTarget {
    /// The target as `--map` spells it (`email`, `first_name`, `signup_date`, `ignore`).
    pub fn name(&self) -> &str {
        match self {
            ColumnTarget::Email => "email",
            ColumnTarget::ExternalId => "external_id",
            ColumnTarget::CreatedAt => "created_at",
            ColumnTarget::Field(field) => field.core_name(),
            ColumnTarget::Attribute { name, .. } => name,
            ColumnTarget::Ignored(_) => "ignore",
        }
    }
}

/// How a column's target was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingOrigin {
    /// The header is a known alias.
    Alias,
    /// `--map` or `--ignore`.
    Requested,
    /// Not recognized: a custom attribute named after the header, or ignored for the reason given.
    Default,
}

/// One column of the file and what it feeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedColumn {
    /// 0-based position in the record.
    pub index: usize,
    /// The header as written (trimmed, without a byte-order mark).
    pub header: String,
    pub target: ColumnTarget,
    pub origin: MappingOrigin,
}

/// Every column of the file and what it feeds, for the CLI to show.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ColumnMapping {
    pub columns: Vec<MappedColumn>,
}

impl ColumnMapping {
    pub fn column_for(&self, target: &ColumnTarget) -> Option<&MappedColumn> {
        self.columns.iter().find(|column| &column.target == target)
    }

    pub fn has_identity_column(&self) -> bool {
        self.columns.iter().any(|c| matches!(c.target, ColumnTarget::Email | ColumnTarget::ExternalId))
    }

    pub fn headers(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.header.as_str()).collect()
    }
}

impl fmt::Display for MappedColumn {
    /// `Email Address → email (recognized)`, `Plan → plan (custom number attribute, --type)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown_header = if self.header.is_empty() { format!("(column {})", self.index + 1) } else { self.header.clone() };
        let how = match self.origin {
            MappingOrigin::Alias => "recognized",
            MappingOrigin::Requested => "as requested",
            MappingOrigin::Default => "default",
        };
        match &self.target {
            ColumnTarget::Attribute { name, attr_type, type_origin } => {
                let type_how = match type_origin {
                    TypeOrigin::Requested => "type as requested",
                    TypeOrigin::Workspace => "type declared in the workspace",
                    TypeOrigin::Inferred => "every value is an ISO date",
                    TypeOrigin::Default => "text by default",
                };
                write!(f, "{shown_header} → {name} (custom {} attribute, {type_how})", attr_type.key())
            }
            ColumnTarget::Ignored(reason) => {
                let why = match reason {
                    IgnoreReason::Requested => "as requested",
                    IgnoreReason::EmptyHeader => "empty header",
                    IgnoreReason::IpAddress => "IP addresses are not stored; map it explicitly to keep it",
                    IgnoreReason::ComputedField => "segscope computes this field; map it to another name to keep it",
                };
                write!(f, "{shown_header} → ignored ({why})")
            }
            target => write!(f, "{shown_header} → {} ({how})", target.name()),
        }
    }
}

/// Aliases by squashed header (lower-case letters and digits only).
const ALIASES: &[(&str, AliasTarget)] = &[
    ("email", AliasTarget::Email),
    ("emailaddress", AliasTarget::Email),
    ("mail", AliasTarget::Email),
    ("emailaddr", AliasTarget::Email),
    ("externalid", AliasTarget::ExternalId),
    ("firstname", AliasTarget::Field(ContactField::FirstName)),
    ("first", AliasTarget::Field(ContactField::FirstName)),
    ("fname", AliasTarget::Field(ContactField::FirstName)),
    ("givenname", AliasTarget::Field(ContactField::FirstName)),
    ("forename", AliasTarget::Field(ContactField::FirstName)),
    ("lastname", AliasTarget::Field(ContactField::LastName)),
    ("last", AliasTarget::Field(ContactField::LastName)),
    ("lname", AliasTarget::Field(ContactField::LastName)),
    ("surname", AliasTarget::Field(ContactField::LastName)),
    ("familyname", AliasTarget::Field(ContactField::LastName)),
    ("phone", AliasTarget::Field(ContactField::Phone)),
    ("phonenumber", AliasTarget::Field(ContactField::Phone)),
    ("telephone", AliasTarget::Field(ContactField::Phone)),
    ("telephonenumber", AliasTarget::Field(ContactField::Phone)),
    ("tel", AliasTarget::Field(ContactField::Phone)),
    ("stage", AliasTarget::Field(ContactField::Stage)),
    ("lifecyclestage", AliasTarget::Field(ContactField::Stage)),
    ("lifecycle", AliasTarget::Field(ContactField::Stage)),
    ("country", AliasTarget::Field(ContactField::Country)),
    ("countryregion", AliasTarget::Field(ContactField::Country)),
    ("countrycode", AliasTarget::Field(ContactField::Country)),
    ("cc", AliasTarget::Field(ContactField::Country)),
    ("mailingcountry", AliasTarget::Field(ContactField::Country)),
    ("region", AliasTarget::Field(ContactField::Region)),
    ("state", AliasTarget::Field(ContactField::Region)),
    ("stateregion", AliasTarget::Field(ContactField::Region)),
    ("province", AliasTarget::Field(ContactField::Region)),
    ("stateprovince", AliasTarget::Field(ContactField::Region)),
    ("mailingstate", AliasTarget::Field(ContactField::Region)),
    ("city", AliasTarget::Field(ContactField::City)),
    ("town", AliasTarget::Field(ContactField::City)),
    ("mailingcity", AliasTarget::Field(ContactField::City)),
    ("tags", AliasTarget::Field(ContactField::Tags)),
    ("tag", AliasTarget::Field(ContactField::Tags)),
    ("createdat", AliasTarget::CreatedAt),
    ("createdate", AliasTarget::CreatedAt),
    ("datecreated", AliasTarget::CreatedAt),
    ("dateadded", AliasTarget::CreatedAt),
    ("createdtime", AliasTarget::CreatedAt),
    ("creationdate", AliasTarget::CreatedAt),
    ("optintime", AliasTarget::CreatedAt),
    ("status", AliasTarget::Field(ContactField::EmailStatus)),
    ("emailstatus", AliasTarget::Field(ContactField::EmailStatus)),
    ("subscriptionstatus", AliasTarget::Field(ContactField::EmailStatus)),
    ("optedin", AliasTarget::Field(ContactField::OptedIn)),
    ("optin", AliasTarget::Field(ContactField::OptedIn)),
    ("emailoptin", AliasTarget::Field(ContactField::OptedIn)),
    ("unsubscribed", AliasTarget::Field(ContactField::Unsubscribed)),
    ("emailoptout", AliasTarget::Field(ContactField::Unsubscribed)),
    ("optout", AliasTarget::Field(ContactField::Unsubscribed)),
    ("optedout", AliasTarget::Field(ContactField::Unsubscribed)),
    ("unsubscribedfromallemail", AliasTarget::Field(ContactField::Unsubscribed)),
    ("donotcontact", AliasTarget::Field(ContactField::DoNotContact)),
    ("dnc", AliasTarget::Field(ContactField::DoNotContact)),
    ("originalsource", AliasTarget::Field(ContactField::FirstTouchSource)),
    ("originaltrafficsource", AliasTarget::Field(ContactField::FirstTouchSource)),
    ("firsttouchsource", AliasTarget::Field(ContactField::FirstTouchSource)),
    // French, German, Spanish, Italian and Portuguese exports (accents are
    // transliterated before matching: "Prénom" is `prenom`).
    ("courriel", AliasTarget::Email),
    ("adresseemail", AliasTarget::Email),
    ("adressemail", AliasTarget::Email),
    ("adresseelectronique", AliasTarget::Email),
    ("emailadresse", AliasTarget::Email),
    ("correo", AliasTarget::Email),
    ("correoelectronico", AliasTarget::Email),
    ("prenom", AliasTarget::Field(ContactField::FirstName)),
    ("vorname", AliasTarget::Field(ContactField::FirstName)),
    ("nombre", AliasTarget::Field(ContactField::FirstName)),
    ("nome", AliasTarget::Field(ContactField::FirstName)),
    ("nom", AliasTarget::Field(ContactField::LastName)),
    ("nomdefamille", AliasTarget::Field(ContactField::LastName)),
    ("nachname", AliasTarget::Field(ContactField::LastName)),
    ("familienname", AliasTarget::Field(ContactField::LastName)),
    ("apellido", AliasTarget::Field(ContactField::LastName)),
    ("apellidos", AliasTarget::Field(ContactField::LastName)),
    ("cognome", AliasTarget::Field(ContactField::LastName)),
    ("sobrenome", AliasTarget::Field(ContactField::LastName)),
    ("telefon", AliasTarget::Field(ContactField::Phone)),
    ("telefono", AliasTarget::Field(ContactField::Phone)),
    ("telefone", AliasTarget::Field(ContactField::Phone)),
    ("pays", AliasTarget::Field(ContactField::Country)),
    ("land", AliasTarget::Field(ContactField::Country)),
    ("pais", AliasTarget::Field(ContactField::Country)),
    ("paese", AliasTarget::Field(ContactField::Country)),
    ("bundesland", AliasTarget::Field(ContactField::Region)),
    ("provincia", AliasTarget::Field(ContactField::Region)),
    ("regione", AliasTarget::Field(ContactField::Region)),
    ("ville", AliasTarget::Field(ContactField::City)),
    ("stadt", AliasTarget::Field(ContactField::City)),
    ("ort", AliasTarget::Field(ContactField::City)),
    ("ciudad", AliasTarget::Field(ContactField::City)),
    ("citta", AliasTarget::Field(ContactField::City)),
    ("cidade", AliasTarget::Field(ContactField::City)),
    ("ip", AliasTarget::IgnoredIp),
    ("ipaddress", AliasTarget::IgnoredIp),
    ("optinip", AliasTarget::IgnoredIp),
    ("confirmip", AliasTarget::IgnoredIp),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AliasTarget {
    Email,
    ExternalId,
    CreatedAt,
    Field(ContactField),
    IgnoredIp,
}

fn alias_for(header: &str) -> Option<AliasTarget> {
    let key = squash(&deunicode::deunicode(header));
    ALIASES.iter().find(|(alias, _)| *alias == key).map(|(_, target)| *target)
}

/// What the user asked for one column, before types are attached.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PlainTarget {
    Email,
    ExternalId,
    CreatedAt,
    Field(ContactField),
    Attribute(String),
    Ignored(IgnoreReason),
}

/// Reads a `--map` target: `email`, `first_name`, an alias (`First Name`),
/// `ignore`, or a custom attribute name.
fn parse_requested_target(raw: &str) -> Result<PlainTarget, String> {
    let trimmed = raw.trim();
    let lowered = trimmed.to_ascii_lowercase();
    match lowered.as_str() {
        "ignore" | "-" | "skip" | "none" => return Ok(PlainTarget::Ignored(IgnoreReason::Requested)),
        "email" => return Ok(PlainTarget::Email),
        "external_id" => return Ok(PlainTarget::ExternalId),
        "created_at" => return Ok(PlainTarget::CreatedAt),
        _ => {}
    }
    if let Some(field) = ContactField::ALL.iter().find(|f| f.core_name() == lowered) {
        return Ok(PlainTarget::Field(*field));
    }
    if let Some(field) = BuiltinField::parse(&lowered) {
        return Err(format!("`{}` is computed by segscope and cannot be imported", field.name()));
    }
    match alias_for(trimmed) {
        Some(AliasTarget::Email) => return Ok(PlainTarget::Email),
        Some(AliasTarget::ExternalId) => return Ok(PlainTarget::ExternalId),
        Some(AliasTarget::CreatedAt) => return Ok(PlainTarget::CreatedAt),
        Some(AliasTarget::Field(field)) => return Ok(PlainTarget::Field(field)),
        Some(AliasTarget::IgnoredIp) | None => {}
    }
    match check_attribute_name(trimmed) {
        Ok(()) => Ok(PlainTarget::Attribute(trimmed.to_owned())),
        Err(_) => Err(format!(
            "unknown target `{trimmed}`: use email, external_id, created_at, {}, ignore, or a custom attribute name in lower-case snake case (e.g. `signup_date`)",
            ContactField::ALL.iter().map(|f| f.core_name()).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// The attribute name for an unrecognized header; headers without letters
/// or digits fall back to `column_N`. A workspace that already has the
/// attribute under the name earlier versions gave the header keeps it.
fn default_attribute_name(header: &str, index: usize, schema: &SchemaSnapshot) -> String {
    let legacy = legacy_attribute_name_from_header(header);
    let new = attribute_name_from_header(header);
    let mut name = if schema.attributes.contains_key(&legacy) && !schema.attributes.contains_key(&new) { legacy } else { new };
    if name.len() > 64 {
        name.truncate(64);
        name = name.trim_end_matches('_').to_owned();
    }
    if check_attribute_name(&name).is_ok() { name } else { format!("column_{}", index + 1) }
}

/// Finds the column an option names: exact header, then ignoring case, then
/// ignoring case, spaces and punctuation.
fn find_column(headers: &[String], wanted: &str, option: &'static str) -> Result<usize, CsvImportError> {
    let wanted_trimmed = wanted.trim();
    if let Some(index) = headers.iter().position(|h| h == wanted_trimmed) {
        return Ok(index);
    }
    let by_case: Vec<usize> =
        (0..headers.len()).filter(|i| headers[*i].to_lowercase() == wanted_trimmed.to_lowercase()).collect();
    if by_case.len() == 1 {
        return Ok(by_case[0]);
    }
    let by_squash: Vec<usize> = (0..headers.len()).filter(|i| squash(&headers[*i]) == squash(wanted_trimmed)).collect();
    match by_squash.len() {
        1 => Ok(by_squash[0]),
        0 => Err(CsvImportError::BadOption {
            option,
            message: format!("there is no column `{wanted_trimmed}`; columns are: {}", quote_list(headers)),
        }),
        _ => Err(CsvImportError::BadOption {
            option,
            message: format!(
                "`{wanted_trimmed}` matches several columns ({}); write the header exactly",
                quote_list(&by_squash.iter().map(|i| headers[*i].clone()).collect::<Vec<_>>())
            ),
        }),
    }
}

pub(crate) fn quote_list(items: &[String]) -> String {
    items.iter().map(|item| format!("`{item}`")).collect::<Vec<_>>().join(", ")
}

/// Builds the mapping for a header row.
pub(crate) fn map_columns(
    headers: &[String],
    column_map: &[(String, String)],
    ignore_columns: &[String],
    column_types: &[(String, String)],
    schema: &SchemaSnapshot,
) -> Result<ColumnMapping, CsvImportError> {
    let mut requested: BTreeMap<usize, PlainTarget> = BTreeMap::new();
    for (header, target) in column_map {
        let index = find_column(headers, header, "--map")?;
        let target = parse_requested_target(target)
            .map_err(|message| CsvImportError::BadOption { option: "--map", message: format!("{header}={target}: {message}") })?;
        if requested.insert(index, target).is_some() {
            return Err(CsvImportError::BadOption {
                option: "--map",
                message: format!("column `{}` is mapped twice", headers[index]),
            });
        }
    }
    for header in ignore_columns {
        let index = find_column(headers, header, "--ignore")?;
        requested.insert(index, PlainTarget::Ignored(IgnoreReason::Requested));
    }

    let mut plain: Vec<(PlainTarget, MappingOrigin)> = Vec::with_capacity(headers.len());
    for (index, header) in headers.iter().enumerate() {
        if let Some(target) = requested.remove(&index) {
            plain.push((target, MappingOrigin::Requested));
            continue;
        }
        if header.is_empty() {
            plain.push((PlainTarget::Ignored(IgnoreReason::EmptyHeader), MappingOrigin::Default));
            continue;
        }
        let target = match alias_for(header) {
            Some(AliasTarget::Email) => (PlainTarget::Email, MappingOrigin::Alias),
            Some(AliasTarget::ExternalId) => (PlainTarget::ExternalId, MappingOrigin::Alias),
            Some(AliasTarget::CreatedAt) => (PlainTarget::CreatedAt, MappingOrigin::Alias),
            Some(AliasTarget::Field(field)) => (PlainTarget::Field(field), MappingOrigin::Alias),
            Some(AliasTarget::IgnoredIp) => (PlainTarget::Ignored(IgnoreReason::IpAddress), MappingOrigin::Default),
            None => {
                let name = default_attribute_name(header, index, schema);
                if BuiltinField::parse(&name).is_some() {
                    (PlainTarget::Ignored(IgnoreReason::ComputedField), MappingOrigin::Default)
                } else {
                    (PlainTarget::Attribute(name), MappingOrigin::Default)
                }
            }
        };
        plain.push(target);
    }

    // Two columns feeding one target would make the result depend on column order.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (index, (target, _)) in plain.iter().enumerate() {
        let key = match target {
            PlainTarget::Ignored(_) => continue,
            PlainTarget::Email => "email".to_owned(),
            PlainTarget::ExternalId => "external_id".to_owned(),
            PlainTarget::CreatedAt => "created_at".to_owned(),
            PlainTarget::Field(field) => field.core_name().to_owned(),
            PlainTarget::Attribute(name) => name.clone(),
        };
        if let Some(first) = seen.insert(key.clone(), index) {
            return Err(CsvImportError::DuplicateTarget {
                target: key,
                first_column: headers[first].clone(),
                second_column: headers[index].clone(),
            });
        }
    }

    // Types: --type, then the workspace's declaration, then text.
    let mut requested_types: BTreeMap<String, AttrType> = BTreeMap::new();
    for (key, raw_type) in column_types {
        let attr_type = AttrType::parse(raw_type).map_err(|err| CsvImportError::BadOption {
            option: "--type",
            message: format!("{key}={raw_type}: {}", err.message),
        })?;
        let attribute_names: Vec<String> = plain
            .iter()
            .filter_map(|(t, _)| match t {
                PlainTarget::Attribute(name) => Some(name.clone()),
                _ => None,
            })
            .collect();
        let name = if attribute_names.iter().any(|n| n == key.trim()) {
            key.trim().to_owned()
        } else {
            let index = find_column(headers, key, "--type").map_err(|_| CsvImportError::BadOption {
                option: "--type",
                message: format!(
                    "`{}` is not a custom attribute of this file; attributes are: {}",
                    key.trim(),
                    quote_list(&attribute_names)
                ),
            })?;
            match &plain[index].0 {
                PlainTarget::Attribute(name) => name.clone(),
                other => {
                    return Err(CsvImportError::BadOption {
                        option: "--type",
                        message: format!(
                            "column `{}` feeds {}, whose type is fixed; --type applies to custom attributes",
                            headers[index],
                            plain_name(other)
                        ),
                    });
                }
            }
        };
        if let Some(declared) = schema.attributes.get(&name)
            && *declared != attr_type
        {
            return Err(CsvImportError::BadOption {
                option: "--type",
                message: format!(
                    "attribute `{name}` is declared as {} in this workspace and its type cannot change; drop --type {key}={raw_type} or map the column to a new attribute",
                    declared.key()
                ),
            });
        }
        requested_types.insert(name, attr_type);
    }

    let columns = plain
        .into_iter()
        .enumerate()
        .map(|(index, (target, origin))| {
            let target = match target {
                PlainTarget::Email => ColumnTarget::Email,
                PlainTarget::ExternalId => ColumnTarget::ExternalId,
                PlainTarget::CreatedAt => ColumnTarget::CreatedAt,
                PlainTarget::Field(field) => ColumnTarget::Field(field),
                PlainTarget::Ignored(reason) => ColumnTarget::Ignored(reason),
                PlainTarget::Attribute(name) => {
                    let (attr_type, type_origin) = match (requested_types.get(&name), schema.attributes.get(&name)) {
                        (Some(attr_type), _) => (*attr_type, TypeOrigin::Requested),
                        (None, Some(attr_type)) => (*attr_type, TypeOrigin::Workspace),
                        (None, None) => (AttrType::Text, TypeOrigin::Default),
                    };
                    ColumnTarget::Attribute { name, attr_type, type_origin }
                }
            };
            MappedColumn { index, header: headers[index].clone(), target, origin }
        })
        .collect();
    Ok(ColumnMapping { columns })
}

fn plain_name(target: &PlainTarget) -> String {
    match target {
        PlainTarget::Email => "email".to_owned(),
        PlainTarget::ExternalId => "external_id".to_owned(),
        PlainTarget::CreatedAt => "created_at".to_owned(),
        PlainTarget::Field(field) => field.core_name().to_owned(),
        PlainTarget::Attribute(name) => name.clone(),
        PlainTarget::Ignored(_) => "nothing (ignored)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_squashed_ascii_and_listed_once() {
        let mut seen = std::collections::BTreeSet::new();
        for (alias, _) in ALIASES {
            assert_eq!(squash(alias), *alias, "`{alias}` is not in squashed form");
            assert!(alias.is_ascii(), "`{alias}` is matched after transliteration, so it must be ASCII");
            assert!(seen.insert(*alias), "`{alias}` is listed twice");
        }
    }
}
