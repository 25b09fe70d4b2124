//! Field case F15 (bots and scanners creating anonymous contacts), at the
//! enrichment level: the exact requests of the case, classified by the user
//! agent parser, and the core's rule that only counting page views create
//! contacts (`PageView::counts`: not a bot, a 2xx/304 response). The method
//! check (HEAD is not a page view) belongs to the access-log door; it is
//! modelled here as the door must apply it.

use segscope_core::event::PageView;
use segscope_core::model::Utm;
use segscope_enrich::geoip;
use segscope_enrich::useragent::{DeviceKind, UserAgentParser};

const SCANNER: &str = "python-requests/2.31";
const HEADLESS: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36";
const VERCEL: &str = "Vercelbot/0.1";
const CHROME: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

struct Request {
    visitor: &'static str,
    method: &'static str,
    path: String,
    status: u16,
    user_agent: &'static str,
}

fn requests() -> Vec<Request> {
    let scanner_paths = ["/wp-login.php", "/.env", "/.git/config", "/phpmyadmin/", "/admin.php"];
    let mut out: Vec<Request> = (0..20)
        .map(|i| Request {
            visitor: "", // no cookie: the log door derives a key from IP + UA
            method: "GET",
            path: format!("{}?probe={i}", scanner_paths[i % scanner_paths.len()]),
            status: 404,
            user_agent: SCANNER,
        })
        .collect();
    out.push(Request { visitor: "b1", method: "GET", path: "/".into(), status: 200, user_agent: HEADLESS });
    out.push(Request { visitor: "b2", method: "GET", path: "/".into(), status: 200, user_agent: VERCEL });
    out.push(Request { visitor: "", method: "HEAD", path: "/".into(), status: 200, user_agent: CHROME });
    out.push(Request { visitor: "c1", method: "GET", path: "/".into(), status: 200, user_agent: CHROME });
    out.push(Request { visitor: "c1", method: "GET", path: "/pricing".into(), status: 200, user_agent: CHROME });
    out
}

#[test]
fn f15_bots_and_scanners_create_no_contacts() {
    let parser = UserAgentParser::shared();
    // The user agents of the case, exactly.
    for bot in [SCANNER, HEADLESS, VERCEL] {
        let parsed = parser.parse(bot);
        assert!(parsed.bot, "{bot} is a bot");
        assert_eq!(parsed.device, DeviceKind::Bot);
    }
    let chrome = parser.parse(CHROME);
    assert!(!chrome.bot);
    assert_eq!((chrome.browser.as_str(), chrome.device), ("Chrome", DeviceKind::Desktop));
    // The scanner's address is documentation space: never located.
    assert!(!geoip::is_public("203.0.113.9".parse().unwrap()));

    let mut visitors_with_contacts = std::collections::BTreeSet::new();
    let mut page_views = 0;
    let mut bot_hits = 0;
    for request in requests() {
        let view = PageView {
            url: format!("https://site.example{}", request.path),
            referrer: None,
            utm: Utm::default(),
            bot: parser.is_bot(request.user_agent),
            status: Some(request.status),
            geo: None,
        };
        let is_page_request = request.method == "GET";
        if !is_page_request || view.bot {
            bot_hits += 1;
        }
        if is_page_request && view.counts() {
            page_views += 1;
            visitors_with_contacts.insert(request.visitor);
        }
    }
    eprintln!(
        "F15: {} visitor(s) create a contact ({visitors_with_contacts:?}), {page_views} counting page views, {bot_hits} bot hits",
        visitors_with_contacts.len()
    );
    assert_eq!(visitors_with_contacts.into_iter().collect::<Vec<_>>(), vec!["c1"], "Anonymous = 1");
    assert_eq!(page_views, 2, "c1's two page views, one session");
    assert_eq!(bot_hits, 23, "the optional bot-hit counter of F15");
}
