//! User agent → browser family, OS family, device kind and a bot flag.
//!
//! Browser, OS and device come from the uap-core regexes (the data behind
//! every ua-parser port), run by `ua-parser`, the uap project's own Rust
//! implementation. The crate ships no data, so `data/uap-core/regexes.json`
//! is vendored (a JSON rendering of uap-core's `regexes.yaml`, see
//! `data/uap-core/README.md`).
//!
//! Bots are recognised by the crawler-user-agents list (1,500 patterns,
//! vendored verbatim in `data/crawler-user-agents/`), compiled once into one
//! [`RegexSet`]; by uap's own `Spider` device family; and by an empty user
//! agent, which no browser sends.
//!
//! Parsing takes tens of microseconds, so results are cached by the exact
//! user-agent string: a log import sees a few thousand distinct strings over
//! millions of lines. The cache is bounded (see [`UserAgentParser::with_cache_capacity`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use regex::RegexSet;

/// What kind of device sent a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceKind {
    Desktop,
    Mobile,
    Tablet,
    /// A crawler, scanner, monitor, HTTP library or headless browser.
    Bot,
    /// TVs, consoles, set-top boxes, and anything not recognised.
    Other,
}

impl DeviceKind {
    /// The stable key used in JSON and exports.
    pub fn key(self) -> &'static str {
        match self {
            DeviceKind::Desktop => "desktop",
            DeviceKind::Mobile => "mobile",
            DeviceKind::Tablet => "tablet",
            DeviceKind::Bot => "bot",
            DeviceKind::Other => "other",
        }
    }
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// What a user agent string says about its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAgent {
    /// uap-core's browser family (`Chrome`, `Mobile Safari`, `Firefox`,
    /// `Googlebot`…); `Other` when unknown.
    pub browser: String,
    /// The browser's major version, when known.
    pub browser_major: Option<String>,
    /// uap-core's OS family (`Windows`, `Mac OS X`, `iOS`, `Android`…); `Other` when unknown.
    pub os: String,
    /// uap-core's device family (`iPhone`, `iPad`, `Spider`, `Other`…).
    pub device_family: String,
    pub device: DeviceKind,
    /// A bot never creates a contact (SPEC §1).
    pub bot: bool,
}

/// Why the vendored data could not be compiled (a packaging bug, not a user error).
#[derive(Debug, thiserror::Error)]
pub enum UserAgentError {
    #[error("the vendored uap-core regexes are unreadable: {0}")]
    UapData(String),
    #[error("the vendored crawler list is unreadable: {0}")]
    CrawlerData(String),
}

const UAP_REGEXES: &str = include_str!("../data/uap-core/regexes.json");
const CRAWLER_LIST: &str = include_str!("../data/crawler-user-agents/crawler-user-agents.json");

/// How many distinct user agents the cache keeps by default.
pub const DEFAULT_CACHE_CAPACITY: usize = 20_000;

/// Strings longer than this are parsed but not cached, so that junk or
/// hostile user agents cannot fill the cache's memory.
const MAX_CACHED_LEN: usize = 1024;

/// The compiled uap-core and crawler data, and the cache. Build it once (or
/// use [`UserAgentParser::shared`]) and share it between threads: building
/// compiles some 2,700 regexes.
pub struct UserAgentParser {
    uap: ua_parser::Extractor<'static>,
    crawlers: RegexSet,
    cache: Mutex<HashMap<Box<str>, Arc<UserAgent>>>,
    cache_capacity: usize,
}

impl fmt::Debug for UserAgentParser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserAgentParser")
            .field("crawler_patterns", &self.crawlers.len())
            .field("cache_capacity", &self.cache_capacity)
            .finish()
    }
}

impl UserAgentParser {
    /// Compiles the vendored data, with the default cache capacity.
    pub fn new() -> Result<UserAgentParser, UserAgentError> {
        UserAgentParser::with_cache_capacity(DEFAULT_CACHE_CAPACITY)
    }

    /// Compiles the vendored data; at most `capacity` distinct user agents
    /// are cached (0 turns the cache off). When the cache is full it is
    /// emptied and fills again: cheaper than LRU bookkeeping on every hit,
    /// and a log's working set of user agents refills it in a few lines.
    pub fn with_cache_capacity(capacity: usize) -> Result<UserAgentParser, UserAgentError> {
        let regexes: ua_parser::Regexes<'static> =
            serde_json::from_str(UAP_REGEXES).map_err(|e| UserAgentError::UapData(e.to_string()))?;
        let uap = ua_parser::Extractor::try_from(regexes).map_err(|e| UserAgentError::UapData(e.to_string()))?;
        let crawlers = RegexSet::new(crawler_patterns()?).map_err(|e| UserAgentError::CrawlerData(e.to_string()))?;
        Ok(UserAgentParser { uap, crawlers, cache: Mutex::new(HashMap::new()), cache_capacity: capacity })
    }

    /// One parser for the whole process, built on first use.
    pub fn shared() -> &'static UserAgentParser {
        static SHARED: OnceLock<UserAgentParser> = OnceLock::new();
        SHARED.get_or_init(|| UserAgentParser::new().expect("the vendored user-agent data compiles (checked by the tests)"))
    }

    /// Parses a user agent, from the cache when it was seen before.
    pub fn parse(&self, user_agent: &str) -> Arc<UserAgent> {
        let user_agent = user_agent.trim();
        let cacheable = self.cache_capacity > 0 && user_agent.len() <= MAX_CACHED_LEN;
        if cacheable && let Some(found) = self.cache.lock().get(user_agent) {
            return Arc::clone(found);
        }
        // Parse outside the lock: two threads may parse the same string
        // once each, which is cheaper than serialising every parse.
        let parsed = Arc::new(self.parse_uncached(user_agent));
        if cacheable {
            let mut cache = self.cache.lock();
            if cache.len() >= self.cache_capacity {
                cache.clear();
            }
            cache.insert(user_agent.into(), Arc::clone(&parsed));
        }
        parsed
    }

    /// Is this user agent a bot? (Same answer as `parse(ua).bot`.)
    pub fn is_bot(&self, user_agent: &str) -> bool {
        self.parse(user_agent).bot
    }

    /// Does the crawler list alone match this user agent?
    pub fn matches_crawler_list(&self, user_agent: &str) -> bool {
        self.crawlers.is_match(user_agent)
    }

    /// How many user agents the cache holds now.
    pub fn cached(&self) -> usize {
        self.cache.lock().len()
    }

    fn parse_uncached(&self, user_agent: &str) -> UserAgent {
        let (browser, os, device) = self.uap.extract(user_agent);
        let browser_major = browser.as_ref().and_then(|b| b.major).map(str::to_owned);
        let browser = browser.map_or_else(|| "Other".to_owned(), |b| b.family.into_owned());
        let os = os.map_or_else(|| "Other".to_owned(), |o| o.os.into_owned());
        let device_family = device.map_or_else(|| "Other".to_owned(), |d| d.device.into_owned());
        let bot = user_agent.is_empty() || user_agent == "-" || device_family == "Spider" || self.crawlers.is_match(user_agent);
        let device = if bot { DeviceKind::Bot } else { device_kind(user_agent, &os, &device_family) };
        UserAgent { browser, browser_major, os, device_family, device, bot }
    }
}

/// The `pattern` of every entry of the vendored crawler list.
fn crawler_patterns() -> Result<Vec<String>, UserAgentError> {
    #[derive(serde::Deserialize)]
    struct Entry {
        pattern: String,
    }
    let entries: Vec<Entry> = serde_json::from_str(CRAWLER_LIST).map_err(|e| UserAgentError::CrawlerData(e.to_string()))?;
    Ok(entries.into_iter().map(|e| e.pattern).collect())
}

/// Markers of TVs, consoles and set-top boxes: neither desktop nor mobile.
const OTHER_DEVICE_MARKERS: &[&str] = &[
    "SmartTV",
    "SMART-TV",
    "Smart-TV",
    "SmartHub",
    "HbbTV",
    "Web0S",
    "WebOS TV",
    "NetCast",
    "AppleTV",
    "Apple TV",
    "GoogleTV",
    "Android TV",
    "AFT", // Amazon Fire TV models (AFTB, AFTS, …) are matched below on a word boundary
    "CrKey",
    "Roku",
    "PlayStation",
    "Xbox",
    "Nintendo",
    "BRAVIA",
    "Tizen TV",
    "VIDAA",
];

const TABLET_MARKERS: &[&str] = &["iPad", "Tablet", "tablet", "Kindle", "Silk/", "PlayBook", "Nexus 7", "Nexus 9", "Nexus 10"];

const MOBILE_MARKERS: &[&str] = &[
    "Mobi", // "Mobile", "Mobile Safari": MDN's recommended test
    "iPhone",
    "iPod",
    "Windows Phone",
    "Windows CE",
    "Opera Mini",
    "BlackBerry",
    "BB10",
    "Symbian",
    "SymbOS",
    "Series40",
    "J2ME",
    "MIDP",
    "KAIOS",
    "KaiOS",
    "UCBrowser",
    "UCWEB",
    "Nokia",
];

const DESKTOP_OS_FAMILIES: &[&str] = &[
    "Windows",
    "Mac OS X",
    "Mac OS",
    "Linux",
    "Ubuntu",
    "Debian",
    "Fedora",
    "Red Hat",
    "SUSE",
    "openSUSE",
    "Mint",
    "Arch Linux",
    "Gentoo",
    "Slackware",
    "Mandriva",
    "CentOS",
    "Chrome OS",
    "ChromeOS",
    "FreeBSD",
    "OpenBSD",
    "NetBSD",
    "Solaris",
    "SunOS",
    "Haiku",
    "BeOS",
    "OS/2",
];

/// Desktop, mobile, tablet or other, for a user agent that is not a bot.
/// TV and console markers first (they often say "Android" or "Linux"), then
/// tablets (iPad, Android without "Mobile"), then phones, then desktop OSes.
fn device_kind(user_agent: &str, os: &str, device_family: &str) -> DeviceKind {
    let has = |marker: &&str| user_agent.contains(*marker);
    let fire_tv = user_agent.split(|c: char| !c.is_ascii_alphanumeric()).any(|word| word.starts_with("AFT") && word.len() <= 6);
    if OTHER_DEVICE_MARKERS.iter().filter(|m| **m != "AFT").any(has) || fire_tv {
        return DeviceKind::Other;
    }
    if device_family.starts_with("iPad") || TABLET_MARKERS.iter().any(has) {
        return DeviceKind::Tablet;
    }
    let android = os == "Android" || user_agent.contains("Android");
    if android && !user_agent.contains("Mobi") {
        return DeviceKind::Tablet;
    }
    if android || os == "iOS" || device_family == "iPhone" || MOBILE_MARKERS.iter().any(has) {
        return DeviceKind::Mobile;
    }
    if DESKTOP_OS_FAMILIES.contains(&os) || os.starts_with("Windows") || os.starts_with("Mac OS") {
        return DeviceKind::Desktop;
    }
    DeviceKind::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_WINDOWS: &str =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
    const SAFARI_IPAD: &str = "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1";
    const ANDROID_TABLET: &str =
        "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36";
    const ANDROID_PHONE: &str =
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36";
    const FIREFOX_LINUX: &str = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
    const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

    fn parser() -> &'static UserAgentParser {
        UserAgentParser::shared()
    }

    #[test]
    fn browsers_os_and_devices() {
        let chrome = parser().parse(CHROME_WINDOWS);
        assert_eq!(
            (chrome.browser.as_str(), chrome.os.as_str(), chrome.device, chrome.bot),
            ("Chrome", "Windows", DeviceKind::Desktop, false)
        );
        assert_eq!(chrome.browser_major.as_deref(), Some("120"));
        let iphone = parser().parse(SAFARI_IPHONE);
        assert_eq!((iphone.browser.as_str(), iphone.os.as_str(), iphone.device), ("Mobile Safari", "iOS", DeviceKind::Mobile));
        assert_eq!(parser().parse(SAFARI_IPAD).device, DeviceKind::Tablet);
        assert_eq!(parser().parse(ANDROID_TABLET).device, DeviceKind::Tablet);
        assert_eq!(parser().parse(ANDROID_PHONE).device, DeviceKind::Mobile);
        let firefox = parser().parse(FIREFOX_LINUX);
        assert_eq!((firefox.browser.as_str(), firefox.os.as_str(), firefox.device), ("Firefox", "Ubuntu", DeviceKind::Desktop));
    }

    #[test]
    fn bots_are_flagged() {
        let googlebot = parser().parse(GOOGLEBOT);
        assert!(googlebot.bot);
        assert_eq!(googlebot.device, DeviceKind::Bot);
        assert!(parser().is_bot(""));
        assert!(parser().is_bot("-"));
        assert!(parser().is_bot("python-requests/2.31"));
        assert!(parser().is_bot("curl/8.4.0"));
        assert!(!parser().is_bot(CHROME_WINDOWS));
    }

    #[test]
    fn unknown_strings_are_other() {
        let odd = parser().parse("zzz");
        assert_eq!((odd.browser.as_str(), odd.os.as_str(), odd.device, odd.bot), ("Other", "Other", DeviceKind::Other, false));
    }

    #[test]
    fn the_cache_is_bounded() {
        let parser = UserAgentParser::with_cache_capacity(3).unwrap();
        for i in 0..10 {
            parser.parse(&format!("{CHROME_WINDOWS} x{i}"));
            assert!(parser.cached() <= 3);
        }
        let first = parser.parse(CHROME_WINDOWS);
        let again = parser.parse(CHROME_WINDOWS);
        assert!(Arc::ptr_eq(&first, &again), "a repeated user agent comes from the cache");
        let long = format!("{CHROME_WINDOWS}{}", " pad".repeat(400));
        let before = parser.cached();
        assert!(!parser.parse(&long).bot);
        assert_eq!(parser.cached(), before, "very long user agents are not cached");
        let uncached = UserAgentParser::with_cache_capacity(0).unwrap();
        uncached.parse(CHROME_WINDOWS);
        assert_eq!(uncached.cached(), 0);
    }
}
