//! Email service provider of an address (SPEC §8): exact match of the
//! registrable domain against a maintained provider table, then, for company
//! domains, the MX hosts that the ingestion layer resolved and recorded as
//! facts. Never substring matching: `gmail.com.evil.example` is not Gmail.

use std::collections::HashMap;
use std::sync::OnceLock;

/// The providers the summary reports, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Provider {
    Gmail,
    Microsoft,
    Yahoo,
    AppleIcloud,
    Proton,
    Zoho,
    Yandex,
    GmxWebde,
    Aol,
    GoogleWorkspace,
    Microsoft365,
    Other,
    /// The contact has no email address.
    None,
}

impl Provider {
    pub const ALL: [Provider; 13] = [
        Provider::Gmail,
        Provider::Microsoft,
        Provider::Yahoo,
        Provider::AppleIcloud,
        Provider::Proton,
        Provider::Zoho,
        Provider::Yandex,
        Provider::GmxWebde,
        Provider::Aol,
        Provider::GoogleWorkspace,
        Provider::Microsoft365,
        Provider::Other,
        Provider::None,
    ];

    /// The stable key used in criteria, JSON and exports.
    pub fn key(self) -> &'static str {
        match self {
            Provider::Gmail => "gmail",
            Provider::Microsoft => "microsoft",
            Provider::Yahoo => "yahoo",
            Provider::AppleIcloud => "apple_icloud",
            Provider::Proton => "proton",
            Provider::Zoho => "zoho",
            Provider::Yandex => "yandex",
            Provider::GmxWebde => "gmx_webde",
            Provider::Aol => "aol",
            Provider::GoogleWorkspace => "google_workspace",
            Provider::Microsoft365 => "microsoft_365",
            Provider::Other => "other",
            Provider::None => "none",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Provider::Gmail => "Gmail",
            Provider::Microsoft => "Microsoft",
            Provider::Yahoo => "Yahoo",
            Provider::AppleIcloud => "Apple iCloud",
            Provider::Proton => "Proton",
            Provider::Zoho => "Zoho",
            Provider::Yandex => "Yandex",
            Provider::GmxWebde => "GMX/Web.de",
            Provider::Aol => "AOL",
            Provider::GoogleWorkspace => "Google Workspace",
            Provider::Microsoft365 => "Microsoft 365",
            Provider::Other => "Other",
            Provider::None => "None",
        }
    }

    pub fn from_key(key: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|provider| provider.key() == key)
    }

    pub fn index(self) -> usize {
        Provider::ALL.iter().position(|p| *p == self).expect("in ALL")
    }
}

struct Table {
    by_domain: HashMap<String, Provider>,
}

/// Provider ids of the vendored table that map to a provider of SPEC §8;
/// every other id (QQ, Mail.ru, Orange, …) counts as Other.
fn provider_of_table_id(id: &str) -> Option<Provider> {
    Some(match id {
        "g" => Provider::Gmail,
        "msol" => Provider::Microsoft,
        "y" => Provider::Yahoo,
        "icloud" => Provider::AppleIcloud,
        "proton" => Provider::Proton,
        "zoho" | "zohoeu" => Provider::Zoho,
        "yandex" => Provider::Yandex,
        "gmx" | "webde" => Provider::GmxWebde,
        "aol" => Provider::Aol,
        _ => return None,
    })
}

/// Domains of the same providers that the vendored table lacks; each is a
/// documented consumer domain of that provider.
const EXTRA_DOMAINS: &[(&str, Provider)] = &[
    ("live.de", Provider::Microsoft),
    ("live.be", Provider::Microsoft),
    ("outlook.fr", Provider::Microsoft),
    ("outlook.de", Provider::Microsoft),
    ("outlook.es", Provider::Microsoft),
    ("outlook.it", Provider::Microsoft),
    ("hotmail.be", Provider::Microsoft),
    ("windowslive.com", Provider::Microsoft),
    ("yahoo.co.nz", Provider::Yahoo),
    ("yahoo.gr", Provider::Yahoo),
    ("yahoo.ie", Provider::Yahoo),
    ("yahoo.se", Provider::Yahoo),
    ("ya.ru", Provider::Yandex),
    ("yandex.ua", Provider::Yandex),
    ("yandex.by", Provider::Yandex),
    ("yandex.kz", Provider::Yandex),
    ("gmx.fr", Provider::GmxWebde),
    ("gmx.us", Provider::GmxWebde),
    ("aim.com", Provider::Aol),
    ("aol.co.uk", Provider::Aol),
    ("aol.de", Provider::Aol),
    ("aol.fr", Provider::Aol),
];

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let raw: serde_json::Value =
            serde_json::from_str(include_str!("../data/emailproviders.json")).expect("vendored provider table is valid JSON");
        let mut by_domain = HashMap::new();
        for entry in raw["providers"].as_array().expect("providers array") {
            let Some(provider) = entry["id"].as_str().and_then(provider_of_table_id) else {
                continue;
            };
            for domain in entry["domains"].as_array().into_iter().flatten().filter_map(|d| d.as_str()) {
                by_domain.insert(domain.to_ascii_lowercase(), provider);
            }
        }
        for (domain, provider) in EXTRA_DOMAINS {
            by_domain.insert((*domain).to_owned(), *provider);
        }
        Table { by_domain }
    })
}

/// The registrable domain (public suffix + one label) of an ASCII domain,
/// using the public suffix list compiled into the `psl` crate.
pub fn registrable_domain(domain: &str) -> &str {
    psl::domain_str(domain).unwrap_or(domain)
}

/// The consumer provider of a domain, if its registrable domain is in the table.
pub fn consumer_provider(domain: &str) -> Option<Provider> {
    let table = table();
    table.by_domain.get(domain).or_else(|| table.by_domain.get(registrable_domain(domain))).copied()
}

/// MX host suffixes of hosted-mail services, matched on label boundaries
/// (`aspmx.l.google.com` ends with `.google.com`).
const MX_SUFFIXES: &[(&str, Provider)] = &[
    ("google.com", Provider::GoogleWorkspace),
    ("googlemail.com", Provider::GoogleWorkspace),
    ("protection.outlook.com", Provider::Microsoft365),
    ("outlook.com", Provider::Microsoft365),
    ("office365.com", Provider::Microsoft365),
    ("zoho.com", Provider::Zoho),
    ("zoho.eu", Provider::Zoho),
    ("zohomail.com", Provider::Zoho),
    ("protonmail.ch", Provider::Proton),
    ("proton.me", Provider::Proton),
    ("yandex.net", Provider::Yandex),
    ("yandex.ru", Provider::Yandex),
    ("icloud.com", Provider::AppleIcloud),
];

/// The hosted-mail provider that a domain's MX hosts point to; `Other` when
/// they point elsewhere (a company's own mail server).
pub fn provider_for_mx(hosts: &[String]) -> Provider {
    for host in hosts {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        for (suffix, provider) in MX_SUFFIXES {
            if host == *suffix || host.strip_suffix(suffix).is_some_and(|head| head.ends_with('.')) {
                return *provider;
            }
        }
    }
    Provider::Other
}

/// The provider of an address's ASCII domain, given the MX facts known for
/// company domains. Without MX data a company domain is `Other`, always.
pub fn provider_for_domain(domain: &str, mx_hosts: Option<&[String]>) -> Provider {
    if let Some(provider) = consumer_provider(domain) {
        return provider;
    }
    match mx_hosts {
        Some(hosts) => provider_for_mx(hosts),
        None => Provider::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_domains_match_exactly() {
        assert_eq!(provider_for_domain("gmail.com", None), Provider::Gmail);
        assert_eq!(provider_for_domain("googlemail.com", None), Provider::Gmail);
        assert_eq!(provider_for_domain("hotmail.co.uk", None), Provider::Microsoft);
        assert_eq!(provider_for_domain("ymail.com", None), Provider::Yahoo);
        assert_eq!(provider_for_domain("me.com", None), Provider::AppleIcloud);
        assert_eq!(provider_for_domain("web.de", None), Provider::GmxWebde);
        assert_eq!(provider_for_domain("gmail.com.evil.example", None), Provider::Other);
        assert_eq!(provider_for_domain("notgmail.com", None), Provider::Other);
    }

    #[test]
    fn company_domains_use_mx_facts() {
        let google = vec!["aspmx.l.google.com.".to_owned()];
        let microsoft = vec!["acme-example.mail.protection.outlook.com".to_owned()];
        let own = vec!["mx.acme.example".to_owned()];
        let lookalike = vec!["mx.evilgoogle.com".to_owned()];
        assert_eq!(provider_for_domain("acme.example", Some(&google)), Provider::GoogleWorkspace);
        assert_eq!(provider_for_domain("acme.example", Some(&microsoft)), Provider::Microsoft365);
        assert_eq!(provider_for_domain("acme.example", Some(&own)), Provider::Other);
        assert_eq!(provider_for_domain("acme.example", Some(&lookalike)), Provider::Other);
        assert_eq!(provider_for_domain("acme.example", None), Provider::Other);
    }
}
