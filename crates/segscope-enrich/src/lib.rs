//! Enrichment of raw hits for segscope's doors (SPEC §3, issue 4 item 5):
//!
//! - [`geoip`]: IP → country / region / city from a MaxMind-format `.mmdb`
//!   file named by the operator (City or Country databases in the GeoIP2
//!   schema, and the flat `country_code` schema of ip-location-db), and the
//!   client address of a request behind trusted proxies
//!   ([`geoip::client_ip`]). Non-public and unknown addresses are unknown,
//!   never guessed.
//! - [`useragent`]: user agent → browser family, OS family, device kind and
//!   a bot flag, from the uap-core regexes (through `ua-parser`) and the
//!   crawler-user-agents list, with a bounded cache.
//! - [`mx`]: email domain → provider by MX records for company domains,
//!   through the [`mx::MxLookup`] trait: DNS ([`mx::DnsMx`], with a timeout
//!   and a TTL cache) or a fixed table ([`mx::FixedMx`]). No MX data →
//!   `Other`, deterministically.
//!
//! This crate reads files and asks DNS; the core stays pure. Its results are
//! plain core values: a [`segscope_core::model::Geo`] for a page view's
//! `geo`, a `bot` flag for `PageView::bot`, and a
//! `Command::RecordMx` fact for the core's provider breakdown. Raw IPs are
//! not kept: callers turn them into a `Geo` and drop them (SPEC §3).
//!
//! Data: `data/uap-core/` (Apache-2.0) and `data/crawler-user-agents/` (MIT)
//! are vendored with their licences; GeoIP databases are never vendored (the
//! operator supplies one). See the crate's README for sources and decisions.

pub mod geoip;
pub mod mx;
pub mod useragent;

pub use geoip::{GeoIp, GeoIpError, IpNetwork, TrustedProxies, client_ip};
pub use mx::{DnsMx, DnsMxConfig, DomainProvider, FixedMx, MxError, MxLookup, ProviderBasis, provider_for_domain};
pub use useragent::{DeviceKind, UserAgent, UserAgentError, UserAgentParser};
