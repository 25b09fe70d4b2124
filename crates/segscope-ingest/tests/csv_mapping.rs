//! Header mapping of exports from Mailchimp, HubSpot, Mautic and Zoho, the
//! `--map` / `--ignore` / `--type` overrides, typed values, and the
//! file-level errors (limits, duplicate targets, bad options).

mod common;

use common::*;
use segscope_core::backend::SchemaSnapshot;
use segscope_core::model::{AttrType, Source, Value};
use segscope_core::subscription::EmailFlags;
use segscope_ingest::{CsvImportOptions, InputLimits, map_header_row, parse_assignment, parse_contacts_csv, parse_delimiter};

/// The mapping of a header row, one `header → target (how)` line per column.
fn check_mapping(header_row: &str, options: &CsvImportOptions, expected: &[&str]) {
    let headers: Vec<&str> = header_row.split(',').collect();
    let mapping = map_header_row(&headers, options, &SchemaSnapshot::default()).unwrap();
    let shown: Vec<String> = mapping.columns.iter().map(ToString::to_string).collect();
    assert_eq!(shown, expected);
}

#[test]
fn mailchimp_audience_export() {
    check_mapping(
        "Email Address,First Name,Last Name,Phone Number,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CC,REGION,LAST_CHANGED,LEID,TAGS",
        &options(),
        &[
            "Email Address → email (recognized)",
            "First Name → first_name (recognized)",
            "Last Name → last_name (recognized)",
            "Phone Number → phone (recognized)",
            "MEMBER_RATING → member_rating (custom string attribute, text by default)",
            "OPTIN_TIME → created_at (recognized)",
            "OPTIN_IP → ignored (IP addresses are not stored; map it explicitly to keep it)",
            "CONFIRM_TIME → confirm_time (custom string attribute, text by default)",
            "CC → country (recognized)",
            "REGION → region (recognized)",
            "LAST_CHANGED → last_changed (custom string attribute, text by default)",
            "LEID → leid (custom string attribute, text by default)",
            "TAGS → tags (recognized)",
        ],
    );
    check_mapping(
        "EMAIL,FNAME,LNAME",
        &options(),
        &["EMAIL → email (recognized)", "FNAME → first_name (recognized)", "LNAME → last_name (recognized)"],
    );
}

#[test]
fn hubspot_contacts_export() {
    check_mapping(
        "Record ID,First Name,Last Name,Email,Phone Number,Lifecycle Stage,Create Date,Country/Region,State/Region,City,Original Source,Unsubscribed from all email",
        &options(),
        &[
            "Record ID → record_id (custom string attribute, text by default)",
            "First Name → first_name (recognized)",
            "Last Name → last_name (recognized)",
            "Email → email (recognized)",
            "Phone Number → phone (recognized)",
            "Lifecycle Stage → stage (recognized)",
            "Create Date → created_at (recognized)",
            "Country/Region → country (recognized)",
            "State/Region → region (recognized)",
            "City → city (recognized)",
            "Original Source → first_touch_source (recognized)",
            "Unsubscribed from all email → unsubscribed (recognized)",
        ],
    );
}

#[test]
fn mautic_contacts_export() {
    check_mapping(
        "id,firstname,lastname,email,phone,mobile,city,state,country,tags,date_added,stage,points,ip",
        &options(),
        &[
            "id → id (custom string attribute, text by default)",
            "firstname → first_name (recognized)",
            "lastname → last_name (recognized)",
            "email → email (recognized)",
            "phone → phone (recognized)",
            "mobile → mobile (custom string attribute, text by default)",
            "city → city (recognized)",
            "state → region (recognized)",
            "country → country (recognized)",
            "tags → tags (recognized)",
            "date_added → created_at (recognized)",
            "stage → stage (recognized)",
            "points → points (custom string attribute, text by default)",
            "ip → ignored (IP addresses are not stored; map it explicitly to keep it)",
        ],
    );
}

#[test]
fn zoho_contacts_export() {
    check_mapping(
        "Record Id,First Name,Last Name,Email,Secondary Email,Phone,Mobile,Lead Source,Mailing City,Mailing State,Mailing Country,Created Time,Email Opt Out",
        &options(),
        &[
            "Record Id → record_id (custom string attribute, text by default)",
            "First Name → first_name (recognized)",
            "Last Name → last_name (recognized)",
            "Email → email (recognized)",
            "Secondary Email → secondary_email (custom string attribute, text by default)",
            "Phone → phone (recognized)",
            "Mobile → mobile (custom string attribute, text by default)",
            "Lead Source → lead_source (custom string attribute, text by default)",
            "Mailing City → city (recognized)",
            "Mailing State → region (recognized)",
            "Mailing Country → country (recognized)",
            "Created Time → created_at (recognized)",
            "Email Opt Out → unsubscribed (recognized)",
        ],
    );
}

#[test]
fn overrides_map_ignore_and_type() {
    let options = CsvImportOptions {
        column_map: vec![
            ("Record ID".into(), "external_id".into()),
            ("Mobile".into(), "phone".into()),
            ("phone".into(), "landline".into()),
            ("Full Name".into(), "First Name".into()),
        ],
        ignore_columns: vec!["notes".into()],
        column_types: vec![("Points".into(), "number".into())],
        ..options()
    };
    check_mapping(
        "Record ID,Email,Mobile,Phone,Full Name,Points,Notes",
        &options,
        &[
            "Record ID → external_id (as requested)",
            "Email → email (recognized)",
            "Mobile → phone (as requested)",
            "Phone → landline (custom string attribute, text by default)",
            "Full Name → first_name (as requested)",
            "Points → points (custom number attribute, type as requested)",
            "Notes → ignored (as requested)",
        ],
    );
}

#[test]
fn computed_fields_and_empty_headers_are_ignored_with_a_reason() {
    check_mapping(
        "email,Bounced,,Email Domain",
        &options(),
        &[
            "email → email (recognized)",
            "Bounced → ignored (segscope computes this field; map it to another name to keep it)",
            "(column 3) → ignored (empty header)",
            "Email Domain → ignored (segscope computes this field; map it to another name to keep it)",
        ],
    );
}

fn parse_error(csv: &str, options: &CsvImportOptions) -> String {
    parse_contacts_csv(csv.as_bytes(), options, &SchemaSnapshot::default()).unwrap_err().to_string()
}

#[test]
fn bad_options_and_headers_are_file_errors() {
    assert_eq!(
        parse_error("Email,E-mail\na@x.com,b@x.com\n", &options()),
        "columns `Email` and `E-mail` both map to email: keep one with --ignore or map one elsewhere with --map"
    );
    assert_eq!(
        parse_error("Signup Date,signup_date,email\n1,2,a@x.com\n", &options()),
        "columns `Signup Date` and `signup_date` both map to signup_date: keep one with --ignore or map one elsewhere with --map"
    );
    let map_missing = CsvImportOptions { column_map: vec![("Nom".into(), "last_name".into())], ..options() };
    assert_eq!(
        parse_error("email,name\na@x.com,A\n", &map_missing),
        "invalid --map: there is no column `Nom`; columns are: `email`, `name`"
    );
    let map_bad_target = CsvImportOptions { column_map: vec![("name".into(), "Bounced".into())], ..options() };
    assert_eq!(
        parse_error("email,name\na@x.com,A\n", &map_bad_target),
        "invalid --map: name=Bounced: `bounced` is computed by segscope and cannot be imported"
    );
    let map_unknown_target = CsvImportOptions { column_map: vec![("name".into(), "Nick Name!".into())], ..options() };
    assert!(parse_error("email,name\na@x.com,A\n", &map_unknown_target).starts_with(
        "invalid --map: name=Nick Name!: unknown target `Nick Name!`: use email, external_id, created_at, first_name"
    ));
    let type_on_builtin = CsvImportOptions { column_types: vec![("First Name".into(), "number".into())], ..options() };
    assert_eq!(
        parse_error("email,First Name\na@x.com,A\n", &type_on_builtin),
        "invalid --type: column `First Name` feeds first_name, whose type is fixed; --type applies to custom attributes"
    );
    let bad_type = CsvImportOptions { column_types: vec![("plan".into(), "colour".into())], ..options() };
    assert_eq!(
        parse_error("email,plan\na@x.com,A\n", &bad_type),
        "invalid --type: plan=colour: unknown attribute type `colour`: use string, number, boolean, date, datetime or list"
    );
    let bad_format = CsvImportOptions { date_format: Some("someday".into()), ..options() };
    assert_eq!(
        parse_error("email\na@x.com\n", &bad_format),
        "invalid --date-format: `someday` is not a date format: use DD/MM/YYYY, MM/DD/YYYY or YYYY/MM/DD (`-` or `.` also work)"
    );
    let mut schema = SchemaSnapshot::default();
    schema.attributes.insert("plan".into(), AttrType::Number);
    let conflicting = CsvImportOptions { column_types: vec![("plan".into(), "text".into())], ..options() };
    let err = parse_contacts_csv(b"email,plan\na@x.com,3\n", &conflicting, &schema).unwrap_err();
    assert!(err.to_string().starts_with("invalid --type: attribute `plan` is declared as number in this workspace"), "{err}");

    assert_eq!(parse_assignment("Signup Date=signup_date"), Ok(("Signup Date".into(), "signup_date".into())));
    assert!(parse_assignment("signup_date").is_err());
    assert_eq!(parse_delimiter("tab").unwrap(), b'\t');
    assert_eq!(parse_delimiter(";").unwrap(), b';');
    assert!(parse_delimiter("::").is_err());
}

#[test]
fn size_limits_are_clear_errors() {
    let small = CsvImportOptions {
        limits: InputLimits { max_input_bytes: 40, max_field_bytes: 16, ..InputLimits::default() },
        ..options()
    };
    assert_eq!(
        parse_error("email,name\na@example.com,Ann\nb@example.com,Bob\n", &small),
        "the file is 47 bytes, more than the limit of 40 bytes: split it into smaller files"
    );
    assert_eq!(
        parse_error("email,name\na@x.com,\"unclosed\nb@x.com,B\n", &small),
        "field 2 of record 1 (line 2) is larger than 16 bytes: an unclosed quote probably swallowed the rest of the file; check the quotes around line 2"
    );
    assert_eq!(segscope_ingest::MAX_INPUT_BYTES, 2 << 30);
    assert_eq!(segscope_ingest::MAX_FIELD_BYTES, 1 << 20);
}

#[test]
fn typed_values_and_repaired_rows() {
    let mut workspace = workspace();
    let csv = "email,Opted In,Country,Points,VIP,Interests,Last Order,Original Source\n\
               a@example.com,yes,France,42,true,\"golf, tennis\",2024-03-01 10:00,ORGANIC_SEARCH\n\
               b@example.com,maybe,Atlantis,lots,n,,31/12/2024,carrier pigeon\n\
               c@example.com,  ,  ,  ,,,,\n";
    let options = CsvImportOptions {
        column_types: vec![
            ("Points".into(), "number".into()),
            ("VIP".into(), "boolean".into()),
            ("interests".into(), "list".into()),
            ("Last Order".into(), "datetime".into()),
        ],
        time_zone: Some("Europe/Paris".into()),
        ..options()
    };
    let (_, report) = import_into(&mut workspace, csv.as_bytes(), &options).unwrap();
    assert_eq!(
        render_report(&report),
        "created 3, updated 0, skipped 0\n\
         repaired record 2 (line 3), column `Opted In`: `maybe` is not a yes/no value: write true/false, yes/no, y/n or 1/0; value left out\n\
         repaired record 2 (line 3), column `Points`: `lots` is not a number: write digits with a `.` for decimals (e.g. 42 or 3.5); value left out\n\
         repaired record 2 (line 3), column `Original Source`: unknown source `carrier pigeon`: use one of organic_search, paid_search, social, email, referral, direct, other or a HubSpot Original Source value such as ORGANIC_SEARCH; value left out\n\
         repaired record 2 (line 3), column `Country`: unknown country `Atlantis`: use an ISO 3166-1 code such as FR or USA, or an English name; value left out"
    );
    let a = contact(&workspace, "a@example.com");
    assert!(a.flags.has(EmailFlags::OPTED_IN));
    assert_eq!(a.explicit_geo.country.map(|c| c.code().to_owned()).as_deref(), Some("FR"));
    assert_eq!(a.explicit_source, Some(Source::OrganicSearch));
    assert_eq!(a.attributes.get("points"), Some(&Value::Number(42.0)));
    assert_eq!(a.attributes.get("vip"), Some(&Value::Bool(true)));
    assert_eq!(a.attributes.get("interests"), Some(&Value::List(vec!["golf".into(), "tennis".into()])));
    // 10:00 in Paris (UTC+1 in March) is 09:00 UTC.
    assert_eq!(a.attributes.get("last_order"), Some(&Value::DateTime(1_709_283_600)));
    let b = contact(&workspace, "b@example.com");
    assert_eq!(b.attributes.get("vip"), Some(&Value::Bool(false)));
    assert_eq!(b.attributes.get("last_order"), Some(&Value::DateTime(1_735_599_600)), "31/12 is unambiguous");
    assert_eq!(b.attributes.get("points"), None);
    let c = contact(&workspace, "c@example.com");
    assert!(c.attributes.is_empty(), "whitespace-only cells are empty: {:?}", c.attributes);
}

#[test]
fn consent_columns_and_creation_dates() {
    let mut workspace = workspace();
    let csv = "Email,Email Opt Out,status,Create Date,Tags\n\
               a@example.com,true,,2023-05-04 10:22,\"\"\"VIP\"\",\"\"Newsletter\"\"\"\n\
               b@example.com,false,unsubscribed,45581,\n\
               c@example.com,,pending,00/00/0000,\n";
    let (_, report) = import_into(&mut workspace, csv.as_bytes(), &options()).unwrap();
    assert_eq!(
        render_report(&report),
        "created 3, updated 0, skipped 0\n\
         repaired record 3 (line 4), column `Create Date`: `00/00/0000` is not a real date; value left empty"
    );
    let a = contact(&workspace, "a@example.com");
    assert!(a.flags.has(EmailFlags::UNSUBSCRIBED));
    assert_eq!(a.created_at, 1_683_195_720);
    assert_eq!(a.tags, ["VIP", "Newsletter"]);
    let b = contact(&workspace, "b@example.com");
    assert!(b.flags.has(EmailFlags::UNSUBSCRIBED), "the status column says so");
    assert_eq!(b.created_at, 1_729_036_800, "Excel serial 45581 = 2024-10-16");
    let c = contact(&workspace, "c@example.com");
    assert!(c.flags.has(EmailFlags::PENDING));
    assert_eq!(c.created_at, NOW, "an unusable creation date falls back to the import time");
}

#[test]
fn ragged_records_and_external_ids() {
    let mut workspace = workspace();
    let csv = "external_id,email,name\n\
               x-1,,Ann\n\
               x-2,b@example.com\n\
               x-3,c@example.com,Cy,extra\n\
               x-4,d@example.com,Di,,\n\
               null,e@example.com,Eve\n\
               ,,\n";
    let (import, report) = import_into(&mut workspace, csv.as_bytes(), &options()).unwrap();
    assert_eq!(import.n_blank_records, 1);
    assert_eq!(
        render_report(&report),
        "created 3, updated 0, skipped 2\n\
         repaired record 2 (line 3): the record has 2 fields but the header has 3; missing fields left empty\n\
         rejected record 3 (line 4): the record has 4 fields but the header has 3: a value probably contains an unquoted delimiter; quote it\n\
         rejected record 5 (line 6): external id `null` looks like a serialization mistake and is refused"
    );
    assert_eq!(workspace.contact_count(), 3);
}

#[test]
fn french_german_and_spanish_headers() {
    check_mapping(
        "Adresse e-mail,Prénom,Nom,Téléphone,Ville,Pays,Région,Catégorie client",
        &options(),
        &[
            "Adresse e-mail → email (recognized)",
            "Prénom → first_name (recognized)",
            "Nom → last_name (recognized)",
            "Téléphone → phone (recognized)",
            "Ville → city (recognized)",
            "Pays → country (recognized)",
            "Région → region (recognized)",
            "Catégorie client → categorie_client (custom string attribute, text by default)",
        ],
    );
    check_mapping(
        "E-Mail-Adresse,Vorname,Nachname,Stadt,Straße",
        &options(),
        &[
            "E-Mail-Adresse → email (recognized)",
            "Vorname → first_name (recognized)",
            "Nachname → last_name (recognized)",
            "Stadt → city (recognized)",
            "Straße → strasse (custom string attribute, text by default)",
        ],
    );
    check_mapping(
        "Correo electrónico,Nombre,Apellidos,Ciudad,País",
        &options(),
        &[
            "Correo electrónico → email (recognized)",
            "Nombre → first_name (recognized)",
            "Apellidos → last_name (recognized)",
            "Ciudad → city (recognized)",
            "País → country (recognized)",
        ],
    );
}

#[test]
fn a_workspace_keeps_the_attribute_name_an_earlier_import_gave_an_accented_header() {
    // Earlier versions turned "Catégorie client" into `cat_gorie_client`.
    let mut schema = SchemaSnapshot::default();
    schema.attributes.insert("cat_gorie_client".to_owned(), AttrType::Text);
    let mapping = map_header_row(&["Email", "Catégorie client"], &options(), &schema).unwrap();
    assert_eq!(
        mapping.columns[1].to_string(),
        "Catégorie client → cat_gorie_client (custom string attribute, type declared in the workspace)"
    );
}

#[test]
fn iso_date_columns_become_date_attributes_and_number_columns_get_a_note() {
    let csv = "Email,Signup,Last Login,Renewal,Score,Zip\n\
               a@example.com,2024-03-01,2024-03-01T10:00:00Z,2024-03-01,3,75001\n\
               b@example.com,2024-12-31,2024-12-31 08:30,soon,4.5,01234\n\
               c@example.com,,,,,\n";
    let import = parse_contacts_csv(csv.as_bytes(), &options(), &SchemaSnapshot::default()).unwrap();
    let shown: Vec<String> = import.mapping.columns.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "Email → email (recognized)",
            "Signup → signup (custom date attribute, every value is an ISO date)",
            "Last Login → last_login (custom datetime attribute, every value is an ISO date)",
            "Renewal → renewal (custom string attribute, text by default)",
            "Score → score (custom string attribute, text by default)",
            "Zip → zip (custom string attribute, text by default)",
        ]
    );
    assert_eq!(
        import.notes,
        [
            "column `Score`: every value is a number, imported as text (zip codes and ids look like numbers too); to compare it as a number, declare --type score=number",
            "column `Zip`: every value is a number, imported as text (zip codes and ids look like numbers too); to compare it as a number, declare --type zip=number",
        ]
    );
    let signup = import.rows[0].upsert.fields.iter().find(|(name, _)| name == "signup").unwrap();
    assert!(matches!(signup.1, Some(Value::Date(_))), "{signup:?}");
    let login = import.rows[1].upsert.fields.iter().find(|(name, _)| name == "last_login").unwrap();
    assert!(matches!(login.1, Some(Value::DateTime(_))), "{login:?}");
    // A type the workspace declared is never changed by inference.
    let mut schema = SchemaSnapshot::default();
    schema.attributes.insert("signup".to_owned(), AttrType::Text);
    let import = parse_contacts_csv(csv.as_bytes(), &options(), &schema).unwrap();
    assert_eq!(
        import.mapping.columns[1].to_string(),
        "Signup → signup (custom string attribute, type declared in the workspace)"
    );
}
