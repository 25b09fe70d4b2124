//! Sessions (SPEC §4): maximal runs of a contact's web events with no gap
//! longer than the idle timeout, cut at a maximum length and optionally at
//! local midnight. Computed from the time-sorted events, so the result is the
//! same whatever order the events arrived in.

use serde::{Deserialize, Serialize};

use crate::event::{WebHit, WebKind};
use crate::model::SessionConfig;
use crate::time::{Secs, Tz};

/// A session: first and last event instants and its page views. Heartbeats
/// and page-leave events extend it but are not page views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Session {
    pub start: Secs,
    pub end: Secs,
    pub page_views: u32,
}

impl Session {
    /// Last event − first event; a single page view without engagement lasts 0 s.
    pub fn duration(&self) -> i64 {
        self.end - self.start
    }

    /// A bounce is a session with one page view.
    pub fn is_bounce(&self) -> bool {
        self.page_views == 1
    }
}

/// Splits time-sorted web events into sessions. A run of engagement events
/// with no page view (a heartbeat whose page view was lost) is not a session:
/// a session needs a page to have been seen.
pub fn sessionize(hits: &[WebHit], config: &SessionConfig, tz: &Tz) -> Vec<Session> {
    debug_assert!(hits.windows(2).all(|pair| pair[0] <= pair[1]), "hits must be sorted");
    let mut sessions = Vec::new();
    let mut current: Option<Session> = None;
    for hit in hits {
        let continues = current.as_ref().is_some_and(|session| {
            hit.at - session.end <= config.idle_timeout_secs
                && hit.at - session.start <= config.max_length_secs
                && (!config.split_at_midnight || tz.local_date(hit.at) == tz.local_date(session.start))
        });
        if !continues {
            if let Some(done) = current.take().filter(|s| s.page_views > 0) {
                sessions.push(done);
            }
            current = Some(Session { start: hit.at, end: hit.at, page_views: 0 });
        }
        let session = current.as_mut().expect("set above");
        session.end = hit.at;
        if hit.kind == WebKind::PageView {
            session.page_views += 1;
        }
    }
    if let Some(done) = current.filter(|s| s.page_views > 0) {
        sessions.push(done);
    }
    sessions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(at: Secs, kind: WebKind) -> WebHit {
        WebHit { at, kind, url: 0, touch: None }
    }

    fn pv(at: Secs) -> WebHit {
        hit(at, WebKind::PageView)
    }

    #[test]
    fn a_gap_of_exactly_the_timeout_continues() {
        let config = SessionConfig::default();
        let tz = Tz::utc();
        let sessions = sessionize(&[pv(0), pv(1800), pv(3601)], &config, &tz);
        assert_eq!(sessions, [Session { start: 0, end: 1800, page_views: 2 }, Session { start: 3601, end: 3601, page_views: 1 }]);
    }

    #[test]
    fn heartbeats_extend_but_do_not_start_sessions() {
        let config = SessionConfig::default();
        let tz = Tz::utc();
        let sessions = sessionize(&[pv(0), hit(45, WebKind::Heartbeat), hit(10_000, WebKind::Heartbeat)], &config, &tz);
        assert_eq!(sessions, [Session { start: 0, end: 45, page_views: 1 }]);
        assert_eq!(sessions[0].duration(), 45);
    }

    #[test]
    fn sessions_are_cut_at_the_maximum_length() {
        let config = SessionConfig { max_length_secs: 3600, ..SessionConfig::default() };
        let tz = Tz::utc();
        let hits: Vec<WebHit> = (0..10).map(|i| pv(i * 900)).collect();
        let sessions = sessionize(&hits, &config, &tz);
        assert_eq!(sessions.iter().map(|s| s.page_views).collect::<Vec<_>>(), [5, 5]);
        assert!(sessions.iter().all(|s| s.duration() <= 3600));
    }

    #[test]
    fn midnight_split_is_optional() {
        let tz = Tz::utc();
        let late = 86_400 - 300;
        let hits = [pv(late), pv(late + 360), pv(late + 720)];
        assert_eq!(sessionize(&hits, &SessionConfig::default(), &tz).len(), 1);
        let split = SessionConfig { split_at_midnight: true, ..SessionConfig::default() };
        assert_eq!(sessionize(&hits, &split, &tz).len(), 2);
    }
}
