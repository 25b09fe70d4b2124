//! Email providers by domain table and MX records, with a fixed MX table
//! (no network): field case F07 at the enrichment level, and the facts it
//! gives the core.

use std::collections::BTreeMap;

use segscope_core::engine::Command;
use segscope_core::esp::Provider;
use segscope_enrich::mx::{FixedMx, MxLookup, ProviderBasis, provider_for_domain};

const F07_ADDRESSES: &[&str] = &[
    "a@gmail.com",
    "b@googlemail.com",
    "c@GMAIL.COM",
    "d@acme.example",
    "e@outlook.com",
    "f@hotmail.co.uk",
    "g@bücher.example",
    "h@xn--bcher-kva.example",
    "x@gmail.com.evil.example",
];

fn by_provider(lookup: &dyn MxLookup) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for address in F07_ADDRESSES {
        let domain = address.rsplit_once('@').unwrap().1;
        *counts.entry(provider_for_domain(domain, lookup).provider.label()).or_default() += 1;
    }
    counts
}

#[test]
fn f07_providers_with_an_mx_fixture() {
    let mx = FixedMx::new().with("acme.example", &["aspmx.l.google.com"]);
    let counts = by_provider(&mx);
    eprintln!("F07 with MX fixture: {counts:?}");
    assert_eq!(counts, BTreeMap::from([("Gmail", 3), ("Google Workspace", 1), ("Microsoft", 2), ("Other", 3)]));
    assert_eq!(counts.values().sum::<usize>(), 9);
    let g = provider_for_domain("bücher.example", &mx);
    let h = provider_for_domain("xn--bcher-kva.example", &mx);
    assert_eq!((g.domain.as_str(), h.domain.as_str()), ("xn--bcher-kva.example", "xn--bcher-kva.example"));
    assert_ne!(provider_for_domain("gmail.com.evil.example", &mx).provider, Provider::Gmail);
}

#[test]
fn f07_without_mx_data_is_other_every_time() {
    let empty = FixedMx::new();
    for _ in 0..3 {
        let counts = by_provider(&empty);
        assert_eq!(counts, BTreeMap::from([("Gmail", 3), ("Microsoft", 2), ("Other", 4)]));
        let d = provider_for_domain("acme.example", &empty);
        assert_eq!((d.provider, d.basis), (Provider::Other, ProviderBasis::NoMxRecords));
    }
}

#[test]
fn hosted_mail_services_by_mx() {
    let mx = FixedMx::new()
        .with("google.example", &["aspmx.l.google.com", "alt1.aspmx.l.google.com", "aspmx2.googlemail.com"])
        .with("m365.example", &["m365-example.mail.protection.outlook.com"])
        .with("zoho.example", &["mx.zoho.com", "mx2.zoho.com"])
        .with("zoho-eu.example", &["mx.zoho.eu"])
        .with("proton.example", &["mail.protonmail.ch", "mailsec.protonmail.ch"])
        .with("yandex.example", &["mx.yandex.net"])
        .with("own.example", &["mail.own.example"]);
    let expected = [
        ("google.example", Provider::GoogleWorkspace),
        ("m365.example", Provider::Microsoft365),
        ("zoho.example", Provider::Zoho),
        ("zoho-eu.example", Provider::Zoho),
        ("proton.example", Provider::Proton),
        ("yandex.example", Provider::Yandex),
        ("own.example", Provider::Other),
    ];
    for (domain, provider) in expected {
        let found = provider_for_domain(domain, &mx);
        assert_eq!(found.provider, provider, "{domain}");
        assert_eq!(found.basis, ProviderBasis::MxRecords);
        assert!(matches!(found.record_command(), Some(Command::RecordMx { ref domain, .. }) if domain == found.domain.as_str()));
    }
}

/// The whole path through the core: contacts upserted, the MX facts found
/// through the fixed table recorded with `Command::RecordMx`, and the core's
/// per-contact provider.
#[test]
fn f07_through_the_core_engine() {
    use segscope_core::engine::{ContactUpsert, Workspace};
    use segscope_core::ids::WorkspaceId;
    use segscope_core::model::{Channel, Settings};

    let now = 1_705_492_800; // 2024-01-17T12:00Z
    let run = |lookup: &dyn MxLookup| -> BTreeMap<&'static str, usize> {
        let mut workspace = Workspace::new(WorkspaceId::parse("f07").unwrap(), Settings::default(), now).unwrap();
        let contacts = F07_ADDRESSES
            .iter()
            .map(|email| ContactUpsert { email: Some((*email).to_owned()), external_id: None, fields: vec![], created_at: None })
            .collect();
        workspace.apply(Command::UpsertContacts { contacts, channel: Channel::Import, list: None }, now).unwrap();
        for address in F07_ADDRESSES {
            let domain = address.rsplit_once('@').unwrap().1;
            if let Some(command) = provider_for_domain(domain, lookup).record_command() {
                workspace.apply(command, now).unwrap();
            }
        }
        let mut counts = BTreeMap::new();
        for contact in workspace.contacts().iter().filter(|c| c.alive) {
            *counts.entry(contact.provider.label()).or_default() += 1;
        }
        counts
    };
    let with_fixture = run(&FixedMx::new().with("acme.example", &["aspmx.l.google.com"]));
    eprintln!("F07 through the engine, MX fixture: {with_fixture:?}");
    assert_eq!(with_fixture, BTreeMap::from([("Gmail", 3), ("Google Workspace", 1), ("Microsoft", 2), ("Other", 3)]));
    let without = run(&FixedMx::new());
    eprintln!("F07 through the engine, no MX data: {without:?}");
    assert_eq!(without, BTreeMap::from([("Gmail", 3), ("Microsoft", 2), ("Other", 4)]));
}
