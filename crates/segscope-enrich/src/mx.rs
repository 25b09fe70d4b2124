//! Email domain → provider by MX records (SPEC §8), for company domains
//! that the core's provider table does not know: a domain whose mail goes to
//! `aspmx.l.google.com` is on Google Workspace, one whose mail goes to
//! `*.mail.protection.outlook.com` is on Microsoft 365, and so on (the
//! suffix table is the core's, [`segscope_core::esp::provider_for_mx`]).
//!
//! Lookups go through the [`MxLookup`] trait: [`DnsMx`] asks DNS (with a
//! timeout and a bounded TTL cache), [`FixedMx`] answers from a table (tests,
//! demos, air-gapped installs). The answer becomes a fact for the core,
//! `Command::RecordMx`, which the core keys by registrable domain.
//!
//! Failure policy, deterministic by construction:
//! - no MX records (the domain has none, or does not exist): the provider is
//!   `Other`, and that is a fact (recorded, and cached as a negative answer
//!   for [`DnsMxConfig::negative_ttl`]);
//! - a timeout or a resolver failure: the provider is `Other` for now, and
//!   nothing is recorded or cached, so a later lookup may still find the
//!   records. The core, lacking an MX fact, also says `Other`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use parking_lot::Mutex;
use segscope_core::engine::Command;
use segscope_core::esp::{self, Provider};

/// Why a domain's MX hosts are not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MxError {
    /// The domain has no MX records or does not exist: an answer, not a fault.
    #[error("no MX records for {0}")]
    NoRecords(String),
    /// No answer within the configured timeout.
    #[error("the MX lookup for {0} timed out")]
    Timeout(String),
    /// The resolver failed (network, server failure, bad configuration).
    #[error("the MX lookup for {domain} failed: {message}")]
    Failed { domain: String, message: String },
    #[error("`{0}` is not a valid mail domain")]
    InvalidDomain(String),
}

impl MxError {
    /// Is this a definite answer ("no MX"), as opposed to a failure to get one?
    pub fn is_negative_answer(&self) -> bool {
        matches!(self, MxError::NoRecords(_))
    }
}

/// A source of MX records.
pub trait MxLookup: Send + Sync {
    /// The MX hosts of `domain` (an ASCII domain), most preferred first,
    /// lower-cased, without the trailing dot.
    fn mx(&self, domain: &str) -> Result<Vec<String>, MxError>;
}

/// MX records from a fixed table; a domain that is not in it has no MX
/// records. For tests and for installs without DNS.
#[derive(Debug, Clone, Default)]
pub struct FixedMx {
    table: HashMap<String, Vec<String>>,
}

impl FixedMx {
    pub fn new() -> FixedMx {
        FixedMx::default()
    }

    /// Adds (or replaces) a domain's MX hosts.
    pub fn with(mut self, domain: &str, hosts: &[&str]) -> FixedMx {
        self.insert(domain, hosts.iter().map(|h| (*h).to_owned()).collect());
        self
    }

    pub fn insert(&mut self, domain: &str, hosts: Vec<String>) {
        self.table.insert(clean_domain(domain), hosts.iter().map(|h| clean_host(h)).filter(|h| !h.is_empty()).collect());
    }
}

impl MxLookup for FixedMx {
    fn mx(&self, domain: &str) -> Result<Vec<String>, MxError> {
        match self.table.get(&clean_domain(domain)) {
            Some(hosts) if !hosts.is_empty() => Ok(hosts.clone()),
            _ => Err(MxError::NoRecords(domain.to_owned())),
        }
    }
}

fn clean_domain(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn clean_host(host: &str) -> String {
    host.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// How the provider of a domain was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderBasis {
    /// The core's table of consumer mail domains (gmail.com, outlook.com…).
    DomainTable,
    /// The domain's MX hosts.
    MxRecords,
    /// The domain has no MX records.
    NoMxRecords,
    /// The lookup failed (timeout, resolver error, invalid domain).
    LookupFailed,
}

/// The provider of a mail domain and the MX fact to give the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainProvider {
    /// The registrable domain the lookup was about (ASCII).
    pub domain: String,
    pub provider: Provider,
    pub basis: ProviderBasis,
    /// The MX hosts found (empty for "no MX records"); `None` when there is
    /// no fact to record (domain table, failed lookup).
    pub mx_hosts: Option<Vec<String>>,
}

impl DomainProvider {
    /// The core command that records the MX fact, if there is one.
    pub fn record_command(&self) -> Option<Command> {
        self.mx_hosts.as_ref().map(|hosts| Command::RecordMx { domain: self.domain.clone(), hosts: hosts.clone() })
    }
}

/// The provider of a mail domain (the part after `@`, Unicode or ASCII):
/// the core's domain table first; otherwise the MX hosts of its registrable
/// domain, through `lookup`. Never fails: without MX data the provider is
/// `Other`.
pub fn provider_for_domain(domain: &str, lookup: &dyn MxLookup) -> DomainProvider {
    let Ok(ascii) = segscope_core::email::normalize_domain(domain.trim()) else {
        return DomainProvider {
            domain: domain.trim().to_ascii_lowercase(),
            provider: Provider::Other,
            basis: ProviderBasis::LookupFailed,
            mx_hosts: None,
        };
    };
    let registrable = esp::registrable_domain(&ascii).to_owned();
    if let Some(provider) = esp::consumer_provider(&ascii) {
        return DomainProvider { domain: registrable, provider, basis: ProviderBasis::DomainTable, mx_hosts: None };
    }
    match lookup.mx(&registrable) {
        Ok(hosts) => {
            let hosts: Vec<String> = hosts.iter().map(|h| clean_host(h)).filter(|h| !h.is_empty()).collect();
            let provider = esp::provider_for_mx(&hosts);
            let basis = if hosts.is_empty() { ProviderBasis::NoMxRecords } else { ProviderBasis::MxRecords };
            DomainProvider { domain: registrable, provider, basis, mx_hosts: Some(hosts) }
        }
        Err(MxError::NoRecords(_)) => DomainProvider {
            domain: registrable,
            provider: Provider::Other,
            basis: ProviderBasis::NoMxRecords,
            mx_hosts: Some(Vec::new()),
        },
        Err(_) => {
            DomainProvider { domain: registrable, provider: Provider::Other, basis: ProviderBasis::LookupFailed, mx_hosts: None }
        }
    }
}

/// Settings of [`DnsMx`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsMxConfig {
    /// The longest one lookup may take, retries included.
    pub timeout: Duration,
    /// At most this many domains are cached; when full, expired entries are
    /// dropped, and if none expired the cache is emptied.
    pub cache_capacity: usize,
    /// Records' TTLs are clamped to this range: a 5-second TTL would make
    /// an import hammer DNS, a week-long one would hide a migration.
    pub min_ttl: Duration,
    pub max_ttl: Duration,
    /// How long "no MX records" is remembered.
    pub negative_ttl: Duration,
}

impl Default for DnsMxConfig {
    fn default() -> Self {
        DnsMxConfig {
            timeout: Duration::from_secs(3),
            cache_capacity: 50_000,
            min_ttl: Duration::from_secs(5 * 60),
            max_ttl: Duration::from_secs(24 * 3600),
            negative_ttl: Duration::from_secs(3600),
        }
    }
}

/// MX records from DNS through `hickory-resolver`.
///
/// The resolver runs on a small runtime of its own (one worker thread), so
/// the blocking [`MxLookup::mx`] works from any thread, including threads of
/// another Tokio runtime (it then blocks that thread for at most the
/// timeout: call it from `spawn_blocking`, or use [`DnsMx::mx_async`]).
pub struct DnsMx {
    resolver: Arc<TokioResolver>,
    runtime: Option<tokio::runtime::Runtime>,
    cache: Mutex<TtlCache>,
    config: DnsMxConfig,
}

impl std::fmt::Debug for DnsMx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsMx").field("config", &self.config).finish()
    }
}

impl DnsMx {
    /// Uses the system's resolver configuration (`/etc/resolv.conf`).
    pub fn from_system(config: DnsMxConfig) -> Result<DnsMx, MxError> {
        let (resolver_config, _) = hickory_resolver::system_conf::read_system_conf().map_err(|e| MxError::Failed {
            domain: String::new(),
            message: format!("cannot read the system's DNS configuration: {e}"),
        })?;
        DnsMx::with_resolver_config(resolver_config, config)
    }

    /// Asks these name servers (UDP, then TCP for truncated answers).
    pub fn with_name_servers(servers: &[SocketAddr], config: DnsMxConfig) -> Result<DnsMx, MxError> {
        let name_servers = servers
            .iter()
            .map(|server| {
                let mut name_server = NameServerConfig::udp_and_tcp(server.ip());
                for connection in &mut name_server.connections {
                    connection.port = server.port();
                }
                name_server
            })
            .collect();
        DnsMx::with_resolver_config(ResolverConfig::from_name_servers(name_servers), config)
    }

    fn with_resolver_config(resolver_config: ResolverConfig, config: DnsMxConfig) -> Result<DnsMx, MxError> {
        let failed = |message: String| MxError::Failed { domain: String::new(), message };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("segscope-dns")
            .enable_all()
            .build()
            .map_err(|e| failed(format!("cannot start the DNS runtime: {e}")))?;
        let mut options = ResolverOpts::default();
        // Split the budget between two attempts; the overall deadline in
        // `lookup_uncached` bounds the total whatever the resolver does.
        options.timeout = config.timeout / 2;
        options.attempts = 1;
        // Our own cache clamps TTLs and caches negatives; keep hickory's small.
        options.cache_size = 64;
        let resolver = {
            let _inside = runtime.enter();
            TokioResolver::builder_with_config(resolver_config, TokioRuntimeProvider::default())
                .with_options(options)
                .build()
                .map_err(|e| failed(format!("cannot build the DNS resolver: {e}")))?
        };
        Ok(DnsMx {
            resolver: Arc::new(resolver),
            runtime: Some(runtime),
            cache: Mutex::new(TtlCache::new(config.cache_capacity)),
            config,
        })
    }

    /// The MX hosts of `domain`, for async callers.
    pub async fn mx_async(&self, domain: &str) -> Result<Vec<String>, MxError> {
        let domain = clean_domain(domain);
        if let Some(cached) = self.cache.lock().get(&domain, Instant::now()) {
            return cached;
        }
        let task = self.runtime().spawn(lookup_uncached(Arc::clone(&self.resolver), domain.clone(), self.config.timeout));
        let result = task.await.unwrap_or_else(|e| Err(MxError::Failed { domain: domain.clone(), message: e.to_string() }));
        self.remember(&domain, result)
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("the runtime lives until drop")
    }

    /// Caches what deserves it and returns the hosts or the error.
    fn remember(&self, domain: &str, result: Result<(Vec<String>, Duration), MxError>) -> Result<Vec<String>, MxError> {
        let now = Instant::now();
        match result {
            Ok((hosts, ttl)) => {
                let ttl = ttl.clamp(self.config.min_ttl, self.config.max_ttl);
                self.cache.lock().put(domain, Ok(hosts.clone()), now + ttl, now);
                Ok(hosts)
            }
            Err(error) if error.is_negative_answer() => {
                self.cache.lock().put(domain, Err(error.clone()), now + self.config.negative_ttl, now);
                Err(error)
            }
            // Timeouts and failures are not cached: the next lookup tries again.
            Err(error) => Err(error),
        }
    }

    /// How many domains the cache holds now.
    pub fn cached(&self) -> usize {
        self.cache.lock().entries.len()
    }
}

impl MxLookup for DnsMx {
    fn mx(&self, domain: &str) -> Result<Vec<String>, MxError> {
        let domain = clean_domain(domain);
        if let Some(cached) = self.cache.lock().get(&domain, Instant::now()) {
            return cached;
        }
        // Run on our own runtime and wait on a plain channel: this works
        // whether or not the calling thread is inside another runtime.
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        let future = lookup_uncached(Arc::clone(&self.resolver), domain.clone(), self.config.timeout);
        self.runtime().spawn(async move {
            let _ = sender.send(future.await);
        });
        let grace = Duration::from_millis(500);
        let result = receiver.recv_timeout(self.config.timeout + grace).unwrap_or_else(|_| Err(MxError::Timeout(domain.clone())));
        self.remember(&domain, result)
    }
}

impl Drop for DnsMx {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside another runtime;
        // shutting it down in the background never blocks.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// One DNS MX query with an overall deadline: the hosts sorted by
/// preference (then name, for determinism) and the smallest TTL.
async fn lookup_uncached(
    resolver: Arc<TokioResolver>,
    domain: String,
    timeout: Duration,
) -> Result<(Vec<String>, Duration), MxError> {
    if segscope_core::email::normalize_domain(&domain).is_err() {
        return Err(MxError::InvalidDomain(domain));
    }
    // A trailing dot makes the name fully qualified: no search-list suffixes.
    let query = format!("{domain}.");
    let answer = match tokio::time::timeout(timeout, resolver.mx_lookup(query.as_str())).await {
        Err(_) => return Err(MxError::Timeout(domain)),
        Ok(Err(error)) if error.is_no_records_found() || error.is_nx_domain() => return Err(MxError::NoRecords(domain)),
        Ok(Err(hickory_resolver::net::NetError::Timeout)) => return Err(MxError::Timeout(domain)),
        Ok(Err(error)) => return Err(MxError::Failed { domain, message: error.to_string() }),
        Ok(Ok(answer)) => answer,
    };
    let mut ttl = u32::MAX;
    let mut records: Vec<(u16, String)> = Vec::new();
    for record in answer.answers() {
        if let RData::MX(mx) = &record.data {
            ttl = ttl.min(record.ttl);
            records.push((mx.preference, clean_host(&mx.exchange.to_ascii())));
        }
    }
    records.sort();
    // A "null MX" (RFC 7505: `0 .`) says the domain accepts no mail.
    let hosts: Vec<String> = records.into_iter().map(|(_, host)| host).filter(|host| !host.is_empty()).collect();
    if hosts.is_empty() {
        return Err(MxError::NoRecords(domain));
    }
    Ok((hosts, Duration::from_secs(u64::from(ttl))))
}

/// Answers (and "no records" answers) by domain until they expire, bounded
/// in size. Time is an argument so that expiry is testable.
struct TtlCache {
    entries: HashMap<String, (Instant, Result<Vec<String>, MxError>)>,
    capacity: usize,
}

impl TtlCache {
    fn new(capacity: usize) -> TtlCache {
        TtlCache { entries: HashMap::new(), capacity }
    }

    fn get(&mut self, domain: &str, now: Instant) -> Option<Result<Vec<String>, MxError>> {
        match self.entries.get(domain) {
            Some((expires, answer)) if *expires > now => Some(answer.clone()),
            Some(_) => {
                self.entries.remove(domain);
                None
            }
            None => None,
        }
    }

    fn put(&mut self, domain: &str, answer: Result<Vec<String>, MxError>, expires: Instant, now: Instant) {
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(domain) {
            self.entries.retain(|_, (expires, _)| *expires > now);
            if self.entries.len() >= self.capacity {
                self.entries.clear();
            }
        }
        self.entries.insert(domain.to_owned(), (expires, answer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> FixedMx {
        FixedMx::new()
            .with("acme.example", &["aspmx.l.google.com.", "alt1.aspmx.l.google.com."])
            .with("contoso.example", &["contoso-example.mail.protection.outlook.com"])
            .with("zoho-user.example", &["mx.zoho.eu"])
            .with("proton-user.example", &["mail.protonmail.ch", "mailsec.protonmail.ch"])
            .with("own-server.example", &["mx1.own-server.example"])
            .with("lookalike.example", &["mx.evilgoogle.com"])
    }

    #[test]
    fn company_domains_by_their_mx_hosts() {
        let mx = fixture();
        let cases = [
            ("acme.example", Provider::GoogleWorkspace),
            ("ACME.example.", Provider::GoogleWorkspace),
            ("sales.acme.example", Provider::GoogleWorkspace),
            ("contoso.example", Provider::Microsoft365),
            ("zoho-user.example", Provider::Zoho),
            ("proton-user.example", Provider::Proton),
            ("own-server.example", Provider::Other),
            ("lookalike.example", Provider::Other),
            ("unknown.example", Provider::Other),
        ];
        for (domain, provider) in cases {
            assert_eq!(provider_for_domain(domain, &mx).provider, provider, "{domain}");
        }
    }

    #[test]
    fn consumer_domains_need_no_lookup() {
        struct Panics;
        impl MxLookup for Panics {
            fn mx(&self, domain: &str) -> Result<Vec<String>, MxError> {
                panic!("no lookup expected for {domain}")
            }
        }
        let gmail = provider_for_domain("GMAIL.com", &Panics);
        assert_eq!((gmail.provider, gmail.basis, gmail.record_command()), (Provider::Gmail, ProviderBasis::DomainTable, None));
        assert_eq!(provider_for_domain("hotmail.co.uk", &Panics).provider, Provider::Microsoft);
    }

    #[test]
    fn facts_for_the_core() {
        let mx = fixture();
        let acme = provider_for_domain("sales.acme.example", &mx);
        assert_eq!(acme.domain, "acme.example");
        assert_eq!(
            acme.record_command(),
            Some(Command::RecordMx {
                domain: "acme.example".into(),
                hosts: vec!["aspmx.l.google.com".into(), "alt1.aspmx.l.google.com".into()]
            })
        );
        // No MX records: a fact (empty hosts), and Other.
        let none = provider_for_domain("unknown.example", &mx);
        assert_eq!((none.provider, none.basis), (Provider::Other, ProviderBasis::NoMxRecords));
        assert_eq!(none.record_command(), Some(Command::RecordMx { domain: "unknown.example".into(), hosts: vec![] }));
    }

    #[test]
    fn failures_are_other_and_record_nothing() {
        struct Fails(MxError);
        impl MxLookup for Fails {
            fn mx(&self, _: &str) -> Result<Vec<String>, MxError> {
                Err(self.0.clone())
            }
        }
        for error in [
            MxError::Timeout("acme.example".into()),
            MxError::Failed { domain: "acme.example".into(), message: "SERVFAIL".into() },
        ] {
            for _ in 0..3 {
                let outcome = provider_for_domain("acme.example", &Fails(error.clone()));
                assert_eq!(
                    (outcome.provider, outcome.basis, outcome.record_command()),
                    (Provider::Other, ProviderBasis::LookupFailed, None)
                );
            }
        }
        let invalid = provider_for_domain("not a domain", &fixture());
        assert_eq!((invalid.provider, invalid.basis), (Provider::Other, ProviderBasis::LookupFailed));
    }

    #[test]
    fn idn_domains_are_looked_up_in_punycode() {
        let mx = FixedMx::new().with("xn--bcher-kva.example", &["aspmx.l.google.com"]);
        assert_eq!(provider_for_domain("bücher.example", &mx).provider, Provider::GoogleWorkspace);
        assert_eq!(provider_for_domain("xn--bcher-kva.example", &mx).domain, "xn--bcher-kva.example");
    }

    #[test]
    fn the_ttl_cache_expires_and_stays_bounded() {
        let start = Instant::now();
        let mut cache = TtlCache::new(2);
        cache.put("a.example", Ok(vec!["mx.a.example".into()]), start + Duration::from_secs(60), start);
        cache.put("b.example", Err(MxError::NoRecords("b.example".into())), start + Duration::from_secs(10), start);
        assert_eq!(cache.get("a.example", start + Duration::from_secs(59)), Some(Ok(vec!["mx.a.example".into()])));
        assert_eq!(cache.get("b.example", start), Some(Err(MxError::NoRecords("b.example".into()))));
        assert_eq!(cache.get("b.example", start + Duration::from_secs(10)), None, "expired at its deadline");
        // Full: expired entries go first, then everything.
        cache.put("b.example", Ok(vec![]), start + Duration::from_secs(5), start);
        cache.put("c.example", Ok(vec![]), start + Duration::from_secs(60), start + Duration::from_secs(6));
        assert_eq!(cache.entries.len(), 2);
        assert!(cache.get("a.example", start + Duration::from_secs(7)).is_some());
        cache.put("d.example", Ok(vec![]), start + Duration::from_secs(60), start + Duration::from_secs(7));
        assert!(cache.entries.len() <= 2);
        let mut off = TtlCache::new(0);
        off.put("a.example", Ok(vec![]), start + Duration::from_secs(60), start);
        assert!(off.entries.is_empty());
    }
}

#[cfg(test)]
mod dns_tests {
    //! The DNS implementation without network: a local UDP socket that
    //! never answers stands in for an unreachable name server.

    use super::*;

    fn black_hole() -> (std::net::UdpSocket, SocketAddr) {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a local UDP socket");
        let address = socket.local_addr().unwrap();
        (socket, address)
    }

    fn quick() -> DnsMxConfig {
        DnsMxConfig { timeout: Duration::from_millis(300), ..DnsMxConfig::default() }
    }

    #[test]
    fn an_unanswered_lookup_times_out_and_is_not_cached() {
        let (_socket, address) = black_hole();
        let dns = DnsMx::with_name_servers(&[address], quick()).unwrap();
        for _ in 0..2 {
            let started = Instant::now();
            let result = dns.mx("acme.example");
            let took = started.elapsed();
            assert!(matches!(result, Err(MxError::Timeout(ref d)) if d == "acme.example"), "{result:?}");
            assert!(took < Duration::from_secs(2), "took {took:?}");
            assert_eq!(dns.cached(), 0, "a timeout is not a negative answer");
        }
        let outcome = provider_for_domain("acme.example", &dns);
        assert_eq!(
            (outcome.provider, outcome.basis, outcome.record_command()),
            (Provider::Other, ProviderBasis::LookupFailed, None)
        );
    }

    #[test]
    fn invalid_domains_are_refused_without_a_query() {
        let (_socket, address) = black_hole();
        let dns = DnsMx::with_name_servers(&[address], quick()).unwrap();
        let started = Instant::now();
        assert!(matches!(dns.mx("not a domain"), Err(MxError::InvalidDomain(_))));
        assert!(started.elapsed() < Duration::from_millis(250));
    }

    #[test]
    fn works_from_inside_another_runtime_and_drops_there() {
        let (_socket, address) = black_hole();
        let outer = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        outer.block_on(async move {
            let dns = DnsMx::with_name_servers(&[address], quick()).unwrap();
            assert!(matches!(dns.mx_async("acme.example").await, Err(MxError::Timeout(_))));
            // The blocking call inside a runtime thread: it blocks, but neither panics nor hangs.
            assert!(matches!(dns.mx("acme.example"), Err(MxError::Timeout(_))));
            drop(dns);
        });
    }
}
