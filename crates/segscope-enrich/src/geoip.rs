//! IP address → country / region / city, from a MaxMind-format (`.mmdb`)
//! database that the operator names in the configuration (SPEC §3), and the
//! client address of a request behind trusted proxies.
//!
//! Two record schemas are understood, so that any `.mmdb` an operator is
//! likely to have works:
//! - the GeoIP2 / GeoLite2 City and Country schema (`country.iso_code`,
//!   `subdivisions[0].names.en`, `city.names.en`);
//! - the flat country schema of the free ip-location-db databases
//!   (`country_code`).
//!
//! An address that is not a public unicast address (private, loopback,
//! link-local, documentation, shared, multicast, reserved…) is never looked
//! up: its geography is unknown. So is an address the database does not
//! know, a record without a valid ISO 3166-1 code, and any read error. The
//! answer is never guessed (from a registered country, a language, a time
//! zone): an unknown [`Geo`] is better than a wrong one in a marketer's map.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use segscope_core::model::{Country, Geo};
use serde::Deserialize;

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum GeoIpError {
    #[error("cannot read the GeoIP database {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is a directory: give a .mmdb file{}", path.display(), match found {
        Some(file) => format!(", such as {}", file.display()),
        None => " (there is none in it)".to_owned(),
    })]
    Directory { path: PathBuf, found: Option<PathBuf> },
    #[error("{path} is a tar archive (MaxMind's download): extract the .mmdb file from it first (tar xzf …) and give that file")]
    TarArchive { path: PathBuf },
    #[error("{path} unpacks to more than {} MiB: that is not a GeoIP database", MAX_UNPACKED_BYTES >> 20)]
    TooLarge { path: PathBuf },
    #[error(
        "the GeoIP database is not a valid MaxMind DB file: {0}; give a MaxMind-format .mmdb file (GeoLite2-City.mmdb, DB-IP, ip-location-db), plain or gzip-compressed"
    )]
    Invalid(#[source] maxminddb::MaxMindDbError),
}

/// The largest gzip-compressed database unpacked (GeoIP2-City is ~130 MiB).
const MAX_UNPACKED_BYTES: u64 = 1 << 30;

/// An opened `.mmdb` database, read into memory once; lookups are lock-free
/// and can run from many threads.
pub struct GeoIp {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeoIp").field("database_type", &self.database_type()).finish()
    }
}

/// The parts of a record that segscope reads, in either schema. Every field
/// is optional and unknown fields are skipped, so City, Country and
/// ip-location-db records all decode into it.
#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    country: Option<Place<'a>>,
    #[serde(borrow)]
    subdivisions: Option<Vec<Place<'a>>>,
    #[serde(borrow)]
    city: Option<Place<'a>>,
    /// ip-location-db's flat schema.
    country_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Place<'a> {
    iso_code: Option<&'a str>,
    #[serde(borrow)]
    names: Option<Names<'a>>,
}

#[derive(Deserialize)]
struct Names<'a> {
    en: Option<&'a str>,
}

impl Place<'_> {
    fn english_name(&self) -> Option<String> {
        let name = self.names.as_ref()?.en?.trim();
        (!name.is_empty()).then(|| name.to_owned())
    }
}

impl GeoIp {
    /// Opens the database at `path` (an `.mmdb`, or one compressed with
    /// gzip as `.mmdb.gz`) and checks that it can be read.
    pub fn open(path: impl AsRef<Path>) -> Result<GeoIp, GeoIpError> {
        use std::io::Read;
        let path = path.as_ref();
        if path.is_dir() {
            let mut databases: Vec<PathBuf> = std::fs::read_dir(path)
                .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            databases.retain(|p| {
                let name = p.to_string_lossy();
                p.is_file() && (name.ends_with(".mmdb") || name.ends_with(".mmdb.gz"))
            });
            databases.sort();
            return Err(GeoIpError::Directory { path: path.to_owned(), found: databases.into_iter().next() });
        }
        let read_error = |source| GeoIpError::Read { path: path.to_owned(), source };
        let mut bytes = std::fs::read(path).map_err(read_error)?;
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut unpacked = Vec::new();
            flate2::read::MultiGzDecoder::new(bytes.as_slice())
                .take(MAX_UNPACKED_BYTES + 1)
                .read_to_end(&mut unpacked)
                .map_err(read_error)?;
            if unpacked.len() as u64 > MAX_UNPACKED_BYTES {
                return Err(GeoIpError::TooLarge { path: path.to_owned() });
            }
            bytes = unpacked;
        }
        // A POSIX tar header has `ustar` at offset 257.
        if bytes.get(257..262) == Some(b"ustar") {
            return Err(GeoIpError::TarArchive { path: path.to_owned() });
        }
        GeoIp::from_bytes(bytes)
    }

    /// Reads a database from its bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GeoIp, GeoIpError> {
        let reader = maxminddb::Reader::from_source(bytes).map_err(GeoIpError::Invalid)?;
        Ok(GeoIp { reader })
    }

    /// The database's own name for its kind, e.g. `GeoIP2-City`.
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// The geography of an address; unknown (empty) for non-public
    /// addresses, addresses the database lacks, and read errors.
    pub fn lookup(&self, ip: IpAddr) -> Geo {
        let ip = normalize_ip(ip);
        if !is_public(ip) {
            return Geo::default();
        }
        // An IPv6 address in an IPv4-only database, a corrupt record: unknown.
        let Ok(found) = self.reader.lookup(ip) else {
            return Geo::default();
        };
        let Ok(Some(record)) = found.decode::<Record<'_>>() else {
            return Geo::default();
        };
        let iso_code = record.country.as_ref().and_then(|c| c.iso_code).or(record.country_code);
        // Codes such as `EU`, `AP` or `ZZ` in older databases are not countries.
        let country = iso_code.filter(|code| code.len() == 2).and_then(|code| Country::parse(code).ok());
        let region = record
            .subdivisions
            .as_ref()
            .and_then(|s| s.first())
            .and_then(|s| s.english_name().or_else(|| s.iso_code.filter(|code| !code.is_empty()).map(str::to_owned)));
        let city = record.city.as_ref().and_then(Place::english_name);
        Geo { country, region, city }
    }

    /// Parses `ip` and looks it up; unparsable text is unknown.
    pub fn lookup_str(&self, ip: &str) -> Geo {
        parse_ip(ip).map(|ip| self.lookup(ip)).unwrap_or_default()
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:81.2.69.160`) as the IPv4 address it
/// carries; every other address unchanged.
pub fn normalize_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Is this a public unicast address, one that can be located? False for
/// the special-purpose ranges of RFC 6890 and its successors: private,
/// shared (CGNAT), loopback, link-local, documentation, benchmarking,
/// multicast, reserved, unspecified, unique-local, discard-only.
pub fn is_public(ip: IpAddr) -> bool {
    match normalize_ip(ip) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_documentation()
        || ip.is_multicast()
        || ip.is_broadcast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT), RFC 6598
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, RFC 2544
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    // Only global unicast (2000::/3) is routed on the internet today.
    let global_unicast = (segments[0] & 0xe000) == 0x2000;
    let documentation = segments[0] == 0x2001 && segments[1] == 0x0db8; // 2001:db8::/32
    let documentation_2024 = segments[0] == 0x3fff && segments[1] < 0x1000; // 3fff::/20, RFC 9637
    let ietf_protocol = segments[0] == 0x2001 && segments[1] < 0x0200; // 2001::/23 (Teredo, ORCHID, benchmarking…)
    global_unicast && !documentation && !documentation_2024 && !ietf_protocol
}

/// Parses an address as proxies and logs write it: plain IPv4 or IPv6,
/// IPv4 with a port (`1.2.3.4:5678`), IPv6 in brackets with or without a
/// port (`[2001:db8::1]:443`), with surrounding spaces or quotes.
pub fn parse_ip(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim().trim_matches('"').trim();
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = raw.strip_prefix('[') {
        let (inside, _) = rest.split_once(']')?;
        return inside.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let (host, port) = raw.rsplit_once(':')?;
    if port.bytes().all(|b| b.is_ascii_digit()) && !port.is_empty() {
        return host.parse::<Ipv4Addr>().ok().map(IpAddr::V4);
    }
    None
}

/// A network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`) or a single
/// address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    address: IpAddr,
    prefix_len: u8,
}

impl IpNetwork {
    /// Parses `10.0.0.0/8`, `fd00::/8` or a single address (`127.0.0.1`).
    pub fn parse(raw: &str) -> Result<IpNetwork, String> {
        let raw = raw.trim();
        let (address, prefix) = match raw.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (raw, None),
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| format!("`{raw}` is not an IP address or network (use e.g. 10.0.0.0/8 or 2001:db8::/32)"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix_len = match prefix {
            None => max,
            Some(prefix) => match prefix.parse::<u8>() {
                Ok(len) if len <= max => len,
                _ => return Err(format!("`{raw}` has a prefix length that is not between 0 and {max}")),
            },
        };
        // An IPv4-mapped network is the IPv4 network it carries.
        let (address, prefix_len) = match address {
            IpAddr::V6(v6) if prefix_len >= 96 && v6.to_ipv4_mapped().is_some() => (normalize_ip(address), prefix_len - 96),
            _ => (address, prefix_len),
        };
        Ok(IpNetwork { address, prefix_len })
    }

    /// Does the network contain `ip` (IPv4-mapped addresses count as IPv4)?
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, normalize_ip(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix_len)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix_len)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

/// The proxies and load balancers in front of segscope whose
/// `X-Forwarded-For` entries are believed. Empty by default: then the
/// header is ignored and the peer address is the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<IpNetwork>,
}

impl TrustedProxies {
    pub fn new(networks: Vec<IpNetwork>) -> TrustedProxies {
        TrustedProxies { networks }
    }

    /// Parses a comma- or space-separated list such as `10.0.0.0/8, ::1`.
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        let networks = list
            .split([',', ' ', '\t', '\n'])
            .filter(|s| !s.trim().is_empty())
            .map(IpNetwork::parse)
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies { networks })
    }

    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|net| net.contains(ip))
    }
}

/// The address of the client behind a request.
///
/// `X-Forwarded-For` is honoured only when the peer (the address that
/// connected to segscope) is a trusted proxy: anybody else can write any
/// header. The list is then walked from right to left, each entry being the
/// address that connected to the hop after it; trusted hops are skipped and
/// the first untrusted address is the client. If every entry is trusted,
/// the leftmost one is the client. An unparsable entry ends the walk at the
/// last address known good (a trusted hop), so garbage never becomes the
/// client address. Several `X-Forwarded-For` headers are to be joined with
/// commas, in order, before the call. The result is normalized
/// (IPv4-mapped IPv6 → IPv4).
pub fn client_ip(peer: IpAddr, x_forwarded_for: Option<&str>, trusted_proxies: &TrustedProxies) -> IpAddr {
    let mut client = normalize_ip(peer);
    if !trusted_proxies.contains(client) {
        return client;
    }
    let Some(header) = x_forwarded_for else {
        return client;
    };
    for entry in header.rsplit(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some(hop) = parse_ip(entry) else {
            return client;
        };
        client = normalize_ip(hop);
        if !trusted_proxies.contains(client) {
            return client;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    #[test]
    fn mapped_addresses_become_ipv4() {
        assert_eq!(normalize_ip(ip("::ffff:81.2.69.160")), ip("81.2.69.160"));
        assert_eq!(normalize_ip(ip("2001:218::1")), ip("2001:218::1"));
        assert_eq!(normalize_ip(ip("81.2.69.160")), ip("81.2.69.160"));
    }

    #[test]
    fn special_purpose_addresses_are_not_public() {
        for raw in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.1.1",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "100.64.0.1",
            "198.18.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "fc00::1",
            "2001:db8::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "2001::1",
            "3fff::1",
        ] {
            assert!(!is_public(ip(raw)), "{raw} should not be public");
        }
        for raw in ["81.2.69.160", "8.8.8.8", "2001:218::1", "2a02:cf40::1", "::ffff:81.2.69.160"] {
            assert!(is_public(ip(raw)), "{raw} should be public");
        }
    }

    #[test]
    fn addresses_as_proxies_write_them() {
        assert_eq!(parse_ip(" 1.2.3.4 "), Some(ip("1.2.3.4")));
        assert_eq!(parse_ip("1.2.3.4:5678"), Some(ip("1.2.3.4")));
        assert_eq!(parse_ip("[2001:db8::1]:443"), Some(ip("2001:db8::1")));
        assert_eq!(parse_ip("[2001:db8::1]"), Some(ip("2001:db8::1")));
        assert_eq!(parse_ip("2001:db8::1"), Some(ip("2001:db8::1")));
        assert_eq!(parse_ip("\"1.2.3.4\""), Some(ip("1.2.3.4")));
        assert_eq!(parse_ip("unknown"), None);
        assert_eq!(parse_ip("_hidden"), None);
        assert_eq!(parse_ip(""), None);
    }

    #[test]
    fn networks_contain_their_addresses() {
        let net = IpNetwork::parse("10.0.0.0/8").unwrap();
        assert!(net.contains(ip("10.200.0.1")));
        assert!(net.contains(ip("::ffff:10.200.0.1")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(!net.contains(ip("::1")));
        let single = IpNetwork::parse("::1").unwrap();
        assert!(single.contains(ip("::1")));
        assert!(!single.contains(ip("::2")));
        let all = IpNetwork::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        let mapped = IpNetwork::parse("::ffff:192.168.0.0/112").unwrap();
        assert!(mapped.contains(ip("192.168.3.4")));
        assert!(IpNetwork::parse("10.0.0.0/33").is_err());
        assert!(IpNetwork::parse("proxy.local").is_err());
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, ::1").unwrap();
        assert_eq!(client_ip(ip("81.2.69.160"), Some("1.2.3.4"), &trusted), ip("81.2.69.160"));
        assert_eq!(client_ip(ip("81.2.69.160"), None, &TrustedProxies::default()), ip("81.2.69.160"));
        assert_eq!(client_ip(ip("10.0.0.2"), Some("1.2.3.4"), &TrustedProxies::default()), ip("10.0.0.2"));
    }

    #[test]
    fn forwarded_for_is_walked_right_to_left_past_trusted_hops() {
        let trusted = TrustedProxies::parse("10.0.0.0/8 ::1").unwrap();
        // The client forged the first entry; the trusted proxy appended the real one.
        assert_eq!(client_ip(ip("10.0.0.2"), Some("6.6.6.6, 81.2.69.160"), &trusted), ip("81.2.69.160"));
        // Two trusted hops.
        assert_eq!(client_ip(ip("10.0.0.2"), Some("81.2.69.160, 10.0.0.7"), &trusted), ip("81.2.69.160"));
        // IPv6 peer, mapped client with a port.
        assert_eq!(client_ip(ip("::1"), Some("[::ffff:81.2.69.160]:1234"), &trusted), ip("81.2.69.160"));
        // Every hop trusted: the leftmost.
        assert_eq!(client_ip(ip("10.0.0.2"), Some("10.0.0.9, 10.0.0.8"), &trusted), ip("10.0.0.9"));
        // Garbage stops the walk at the last good hop.
        assert_eq!(client_ip(ip("10.0.0.2"), Some("81.2.69.160, unknown"), &trusted), ip("10.0.0.2"));
        assert_eq!(client_ip(ip("10.0.0.2"), Some("81.2.69.160, unknown, 10.0.0.7"), &trusted), ip("10.0.0.7"));
        // Empty header or entries.
        assert_eq!(client_ip(ip("10.0.0.2"), Some(""), &trusted), ip("10.0.0.2"));
        assert_eq!(client_ip(ip("10.0.0.2"), Some(" , 81.2.69.160 ,"), &trusted), ip("81.2.69.160"));
        // A mapped peer counts as its IPv4 address.
        assert_eq!(client_ip(ip("::ffff:10.0.0.2"), Some("81.2.69.160"), &trusted), ip("81.2.69.160"));
    }
}
