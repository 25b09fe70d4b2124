//! GeoIP on real databases: ip-location-db's country database (CC0, flat
//! `country_code` schema, IPv4 + IPv6) and GeoLite2-City of July 2018 (CC BY-SA,
//! read from the shared data, never copied into the repo).

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use segscope_core::model::Geo;
use segscope_enrich::geoip::{self, GeoIp};

fn country(geo: &Geo) -> Option<&str> {
    geo.country.as_ref().map(|c| c.code())
}

/// A deterministic spread of public IPv4 addresses (a fixed-seed
/// xorshift), to measure how much of the address space a database answers.
fn sample_public_ipv4(count: usize) -> Vec<IpAddr> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let ip = IpAddr::V4(Ipv4Addr::from(state as u32));
        if geoip::is_public(ip) {
            out.push(ip);
        }
    }
    out
}

/// The client addresses of a real access log (`nielsbasjes-logparser`,
/// distinct, a few of them IPv6).
fn log_client_addresses() -> (Vec<IpAddr>, Vec<IpAddr>) {
    let log = common::read("nielsbasjes-logparser", "hackers-access.log");
    let mut seen = std::collections::BTreeSet::new();
    for line in String::from_utf8_lossy(&log).lines() {
        if let Some(ip) = line.split(' ').next().and_then(|field| field.parse::<IpAddr>().ok()) {
            seen.insert(ip);
        }
    }
    seen.into_iter().partition(IpAddr::is_ipv4)
}

/// The first address of every IPv6 network in MaxMind's Country test source
/// data (real allocations: Japan, Korea, Europe…) with its country there.
fn maxmind_ipv6_networks() -> Vec<(IpAddr, String)> {
    let raw: serde_json::Value =
        serde_json::from_slice(&common::read("maxmind-test-mmdb", "source-data/GeoIP2-Country-Test.json")).unwrap();
    let mut out = Vec::new();
    for entry in raw.as_array().unwrap() {
        for (cidr, record) in entry.as_object().unwrap() {
            let address = cidr.split('/').next().unwrap();
            if let (Ok(ip @ IpAddr::V6(v6)), Some(code)) = (address.parse::<IpAddr>(), record["country"]["iso_code"].as_str())
                && v6.to_ipv4_mapped().is_none()
                && !address.starts_with("::")
            {
                out.push((ip, code.to_owned()));
            }
        }
    }
    out
}

#[test]
fn ip_location_db_answers_ipv4_and_ipv6() {
    let folder = common::data_folder("ip-location-db-geo-whois-asn-country");
    let db = GeoIp::open(folder.join("geo-whois-asn-country.mmdb")).unwrap();
    eprintln!("ip-location-db: database type {}", db.database_type());

    // Well-known addresses.
    for (address, expected) in [
        ("8.8.8.8", "US"),
        ("::ffff:8.8.8.8", "US"),
        ("81.2.69.160", "GB"),
        ("2001:4860:4860::8888", "US"),
        ("2606:4700:4700::1111", "US"),
    ] {
        let found = db.lookup_str(address);
        eprintln!("ip-location-db: {address} -> {:?}", country(&found));
        assert_eq!(country(&found), Some(expected), "{address}");
        assert_eq!((found.region.as_deref(), found.city.as_deref()), (None, None), "country-only database");
    }
    // Private and special addresses are never looked up.
    for address in ["10.0.0.1", "192.168.1.1", "fd00::1", "2001:db8::1", "::1", "203.0.113.9"] {
        assert_eq!(db.lookup_str(address), Geo::default(), "{address}");
    }

    let sample = sample_public_ipv4(20_000);
    let answered_v4 = sample.iter().filter(|ip| db.lookup(**ip).country.is_some()).count();
    eprintln!(
        "ip-location-db: IPv4: {answered_v4}/{} sampled public addresses have a country ({:.1}%)",
        sample.len(),
        common::percent(answered_v4, sample.len())
    );
    let (log_v4, log_v6) = log_client_addresses();
    let located_v4 = log_v4.iter().filter(|ip| db.lookup(**ip).country.is_some()).count();
    let located_v6: Vec<Option<String>> = log_v6.iter().map(|ip| db.lookup(*ip).country.map(|c| c.code().to_owned())).collect();
    eprintln!(
        "ip-location-db: nielsbasjes-logparser clients: {located_v4}/{} IPv4 and {}/{} IPv6 located (IPv6: {located_v6:?})",
        log_v4.len(),
        located_v6.iter().flatten().count(),
        log_v6.len()
    );
    let networks = maxmind_ipv6_networks();
    let answered = networks.iter().filter(|(ip, _)| db.lookup(*ip).country.is_some()).count();
    let agreeing = networks.iter().filter(|(ip, code)| country(&db.lookup(*ip)) == Some(code.as_str())).count();
    eprintln!(
        "ip-location-db: IPv6: {answered}/{n} networks of MaxMind's test data have a country ({:.1}%), {agreeing} the same country as MaxMind's partly synthetic test records ({:.1}%)",
        common::percent(answered, networks.len()),
        common::percent(agreeing, networks.len()),
        n = networks.len()
    );
    assert!(common::percent(answered_v4, sample.len()) >= 95.0, "the public IPv4 space is allocated");
    assert!(common::percent(located_v4, log_v4.len()) >= 95.0);
    assert!(!log_v6.is_empty() && located_v6.iter().all(Option::is_some), "the log's IPv6 clients are located");
    assert!(common::percent(answered, networks.len()) >= 90.0);
}

/// The 2018 GeoLite2-City database, unpacked once into the test's
/// temporary folder (the shared copy is gzip-compressed).
fn geolite2_city() -> PathBuf {
    let packed = common::data_folder("geolite2-city-2018").join("GeoLite2-City.mmdb.gz");
    let unpacked = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("GeoLite2-City-2018.mmdb");
    if !unpacked.exists() {
        let partial = unpacked.with_extension("partial");
        let output = std::process::Command::new("gzip")
            .arg("-dc")
            .arg(&packed)
            .output()
            .unwrap_or_else(|e| panic!("cannot run gzip to unpack {}: {e}", packed.display()));
        assert!(output.status.success(), "gzip failed on {}", packed.display());
        std::fs::write(&partial, &output.stdout).unwrap();
        std::fs::rename(&partial, &unpacked).unwrap();
    }
    unpacked
}

#[test]
fn geolite2_city_2018_answers_cities() {
    let db = GeoIp::open(geolite2_city()).unwrap();
    assert_eq!(db.database_type(), "GeoLite2-City");
    let us_only = db.lookup_str("8.8.8.8");
    eprintln!("geolite2-city-2018: 8.8.8.8 -> {us_only:?}");
    assert_eq!(country(&us_only), Some("US"));
    let echirolles = db.lookup_str("195.154.46.135");
    eprintln!("geolite2-city-2018: 195.154.46.135 -> {echirolles:?}");
    assert_eq!(country(&echirolles), Some("FR"));
    assert_eq!(echirolles.city.as_deref(), Some("Échirolles"));
    let mapped = db.lookup(IpAddr::V6(Ipv4Addr::new(195, 154, 46, 135).to_ipv6_mapped()));
    assert_eq!(mapped, echirolles, "IPv4-mapped IPv6 gives the IPv4 answer");
    let v6 = db.lookup(IpAddr::V6("2001:218::1".parse::<Ipv6Addr>().unwrap()));
    eprintln!("geolite2-city-2018: 2001:218::1 -> {v6:?}");
    assert_eq!(country(&v6), Some("JP"));

    let sample = sample_public_ipv4(20_000);
    let with_country = sample.iter().filter(|ip| db.lookup(**ip).country.is_some()).count();
    let with_city = sample.iter().filter(|ip| db.lookup(**ip).city.is_some()).count();
    eprintln!(
        "geolite2-city-2018: {with_country}/{n} sampled public IPv4 addresses have a country ({:.1}%), {with_city} a city ({:.1}%)",
        common::percent(with_country, sample.len()),
        common::percent(with_city, sample.len()),
        n = sample.len()
    );
    assert!(common::percent(with_country, sample.len()) >= 95.0);
}

#[test]
fn a_gzip_compressed_database_opens_as_it_is() {
    let packed = GeoIp::open(common::data_folder("geolite2-city-2018").join("GeoLite2-City.mmdb.gz")).unwrap();
    let unpacked = GeoIp::open(geolite2_city()).unwrap();
    assert_eq!(packed.database_type(), "GeoLite2-City");
    for ip in ["8.8.8.8", "195.154.46.135", "2001:218::1"] {
        assert_eq!(packed.lookup_str(ip), unpacked.lookup_str(ip), "{ip}");
    }
}

#[test]
fn what_is_not_a_database_gets_an_error_that_says_what_to_give() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("geoip-not-a-database");
    std::fs::create_dir_all(&dir).unwrap();
    let message = |path: &std::path::Path| GeoIp::open(path).err().map(|e| e.to_string()).unwrap_or_default();

    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert!(message(&empty).ends_with("is a directory: give a .mmdb file (there is none in it)"), "{}", message(&empty));
    let shared = common::data_folder("geolite2-city-2018");
    let suggested = format!("is a directory: give a .mmdb file, such as {}", shared.join("GeoLite2-City.mmdb.gz").display());
    assert!(message(&shared).ends_with(&suggested), "{}", message(&shared));
    // MaxMind's download is a .tar.gz holding the .mmdb; a tar header has `ustar` at byte 257.
    let mut tar = vec![0u8; 1024];
    tar[257..262].copy_from_slice(b"ustar");
    let tar_path = dir.join("GeoLite2-City_20240101.tar");
    std::fs::write(&tar_path, &tar).unwrap();
    assert!(message(&tar_path).contains("is a tar archive (MaxMind's download): extract the .mmdb"), "{}", message(&tar_path));
    let garbage = dir.join("notes.mmdb");
    std::fs::write(&garbage, b"not a database").unwrap();
    assert!(message(&garbage).contains("not a valid MaxMind DB file"), "{}", message(&garbage));
    assert!(message(&garbage).contains("plain or gzip-compressed"), "{}", message(&garbage));
    let missing = dir.join("missing.mmdb");
    assert!(message(&missing).starts_with("cannot read the GeoIP database"), "{}", message(&missing));
}
