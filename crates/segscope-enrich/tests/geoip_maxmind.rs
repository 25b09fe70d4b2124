//! GeoIP on MaxMind's own test databases (`maxmind-test-mmdb`): every
//! network listed in the `source-data` JSON is looked up (IPv4, IPv6 and
//! IPv4-mapped IPv6) and must give the country, region and city of the JSON.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use segscope_core::model::{Country, Geo};
use segscope_enrich::geoip::{self, GeoIp};
use serde_json::Value;

const FOLDER: &str = "maxmind-test-mmdb";

/// A network of the source JSON, as an IPv6 number (IPv4 networks are
/// written `::a.b.c.d/n` or `a.b.c.d/n` and live at `::/96`, as in the
/// databases' trees).
struct Network {
    base: u128,
    prefix_len: u32,
    record: Value,
}

impl Network {
    fn parse(cidr: &str, record: Value) -> Network {
        let (address, prefix) = cidr.split_once('/').unwrap();
        let prefix: u32 = prefix.parse().unwrap();
        match address.parse::<IpAddr>().unwrap() {
            IpAddr::V4(v4) => Network { base: u128::from(u32::from(v4)), prefix_len: prefix + 96, record },
            IpAddr::V6(v6) => Network { base: u128::from(v6), prefix_len: prefix, record },
        }
    }

    fn contains(&self, address: u128) -> bool {
        let mask = u128::MAX.checked_shl(128 - self.prefix_len).unwrap_or(0);
        self.base & mask == address & mask
    }

    fn is_ipv4(&self) -> bool {
        self.base >> 32 == 0 && self.prefix_len >= 96
    }
}

/// What segscope should answer for a record of the JSON.
fn expected_geo(record: &Value) -> Geo {
    let country = record["country"]["iso_code"].as_str().and_then(|code| Country::parse(code).ok());
    let region = record["subdivisions"][0]["names"]["en"].as_str().map(str::to_owned);
    let city = record["city"]["names"]["en"].as_str().map(str::to_owned);
    Geo { country, region, city }
}

fn networks(json_file: &str) -> Vec<Network> {
    let raw: Value = serde_json::from_slice(&common::read(FOLDER, &format!("source-data/{json_file}"))).unwrap();
    raw.as_array()
        .unwrap()
        .iter()
        .flat_map(|entry| entry.as_object().unwrap().iter().map(|(cidr, record)| Network::parse(cidr, record.clone())))
        .collect()
}

/// Looks up the first address of every network (and, for IPv4 networks,
/// its IPv4-mapped IPv6 form); the expected answer is the most specific
/// network of the JSON containing the address.
fn check_database(database: &str) -> (usize, usize, usize) {
    let geoip = GeoIp::open(common::data_folder(FOLDER).join(format!("{database}.mmdb"))).unwrap();
    let networks = networks(&format!("{database}.json"));
    let (mut checked, mut matched, mut not_public) = (0, 0, 0);
    for network in &networks {
        let address = network.base;
        let most_specific = networks.iter().filter(|n| n.contains(address)).max_by_key(|n| n.prefix_len).unwrap();
        let mut queries: Vec<IpAddr> = Vec::new();
        if network.is_ipv4() {
            let v4 = Ipv4Addr::from(address as u32);
            queries.push(IpAddr::V4(v4));
            queries.push(IpAddr::V6(v4.to_ipv6_mapped()));
        } else {
            queries.push(IpAddr::V6(Ipv6Addr::from(address)));
        }
        for query in queries {
            let found = geoip.lookup(query);
            checked += 1;
            if !geoip::is_public(query) {
                // Never looked up, whatever the database says.
                not_public += 1;
                assert_eq!(found, Geo::default(), "{query} is not public");
                matched += 1;
                continue;
            }
            let expected = expected_geo(&most_specific.record);
            if found == expected {
                matched += 1;
            } else {
                eprintln!("{database}: {query}: got {found:?}, expected {expected:?}");
            }
        }
    }
    (checked, matched, not_public)
}

#[test]
fn lookups_match_the_source_data() {
    let mut total = (0, 0);
    for database in ["GeoIP2-City-Test", "GeoLite2-City-Test", "GeoIP2-Country-Test", "GeoLite2-Country-Test"] {
        let (checked, matched, not_public) = check_database(database);
        eprintln!(
            "maxmind-test-mmdb {database}: {matched}/{checked} lookups match the source JSON ({:.1}%), {not_public} non-public addresses kept unknown",
            common::percent(matched, checked)
        );
        total.0 += checked;
        total.1 += matched;
    }
    eprintln!("maxmind-test-mmdb: {}/{} lookups match ({:.1}%)", total.1, total.0, common::percent(total.1, total.0));
    assert_eq!(total.1, total.0, "every lookup matches the source JSON");
}

fn geo(country: &str, region: Option<&str>, city: Option<&str>) -> Geo {
    Geo { country: Some(Country::parse(country).unwrap()), region: region.map(str::to_owned), city: city.map(str::to_owned) }
}

#[test]
fn documented_answers() {
    let city_db = GeoIp::open(common::data_folder(FOLDER).join("GeoIP2-City-Test.mmdb")).unwrap();
    assert_eq!(city_db.database_type(), "GeoIP2-City");
    assert_eq!(city_db.lookup_str("81.2.69.160"), geo("GB", Some("England"), Some("London")));
    assert_eq!(city_db.lookup_str("::ffff:81.2.69.160"), geo("GB", Some("England"), Some("London")));
    assert_eq!(city_db.lookup_str("175.16.199.0"), geo("CN", Some("Jilin Sheng"), Some("Changchun")));
    assert_eq!(city_db.lookup_str("2001:218::1"), geo("JP", None, None));
    // Not in the database, not public, not an address: unknown.
    for unknown in ["1.1.1.1", "10.0.0.1", "127.0.0.1", "::1", "fe80::1", "2001:db8::1", "192.0.2.1", "not an ip", ""] {
        assert_eq!(city_db.lookup_str(unknown), Geo::default(), "{unknown}");
    }
    let country_db = GeoIp::open(common::data_folder(FOLDER).join("GeoIP2-Country-Test.mmdb")).unwrap();
    assert_eq!(country_db.lookup_str("81.2.69.160"), geo("GB", None, None));
}

#[test]
fn other_and_broken_databases_never_panic() {
    // A database of another kind answers nothing useful: unknown.
    let asn = GeoIp::open(common::data_folder(FOLDER).join("GeoLite2-ASN-Test.mmdb")).unwrap();
    assert_eq!(asn.lookup_str("1.128.0.0"), Geo::default());
    // IPv4-only database asked for IPv6: unknown.
    let v4_only = GeoIp::open(common::data_folder(FOLDER).join("MaxMind-DB-test-ipv4-24.mmdb")).unwrap();
    assert_eq!(v4_only.lookup_str("2001:218::1"), Geo::default());
    let invalid = GeoIp::open(common::data_folder(FOLDER).join("GeoIP2-City-Test-Invalid-Node-Count.mmdb"));
    match invalid {
        Err(error) => eprintln!("maxmind-test-mmdb: the invalid-node-count file is refused: {error}"),
        Ok(db) => {
            let _ = db.lookup_str("81.2.69.160");
        }
    }
    if let Ok(broken) = GeoIp::open(common::data_folder(FOLDER).join("GeoIP2-City-Test-Broken-Double-Format.mmdb")) {
        for address in ["81.2.69.160", "2001:218::1", "175.16.199.0"] {
            let _ = broken.lookup_str(address);
        }
    }
    let missing = GeoIp::open(common::data_folder(FOLDER).join("no-such-file.mmdb")).unwrap_err();
    assert!(missing.to_string().contains("no-such-file.mmdb"), "{missing}");
    assert!(GeoIp::from_bytes(b"not a database".to_vec()).is_err());
}
