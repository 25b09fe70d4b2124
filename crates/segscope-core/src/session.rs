//! Sessions (SPEC §4): maximal runs of a contact's web events with no gap
//! longer than the idle timeout, cut at a maximum length and optionally at
//! local midnight. Computed from the time-sorted events, so the result is the
//! same whatever order the events arrived in.

use serde::{Deserialize, Serialize};

use crate::event::{WebHit, WebKind};
use crate::model::SessionConfig;
use crate::time::{Secs, Tz};

/// A session: its first event's instant, the seconds to its last event and
/// its page views. Heartbeats and page-leave events extend it but are not
/// page views. 16 bytes: a session is at most a week long (the settings'
/// bound on `max_length_secs`), so its length fits in a `u32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Session {
    pub start: Secs,
    pub length: u32,
    pub page_views: u32,
}

impl Session {
    pub fn new(start: Secs, end: Secs, page_views: u32) -> Session {
        let length = u32::try_from(end - start).expect("a session is shorter than 136 years");
        Session { start, length, page_views }
    }

    /// The last event's instant.
    pub fn end(&self) -> Secs {
        self.start + i64::from(self.length)
    }

    /// Last event − first event; a single page view without engagement lasts 0 s.
    pub fn duration(&self) -> i64 {
        i64::from(self.length)
    }

    /// A bounce is a session with one page view.
    pub fn is_bounce(&self) -> bool {
        self.page_views == 1
    }
}

/// Splits time-sorted web events into sessions. A run of engagement events
/// with no page view (a heartbeat whose page view was lost) is not a session:
/// a session needs a page to have been seen.
pub fn sessionize(hits: impl IntoIterator<Item = WebHit>, config: &SessionConfig, tz: &Tz) -> Vec<Session> {
    let mut sessions = Vec::new();
    // (start, end, page views) of the session being built.
    let mut current: Option<(Secs, Secs, u32)> = None;
    let mut previous: Option<Secs> = None;
    for hit in hits {
        debug_assert!(previous.is_none_or(|p| p <= hit.at), "hits must be sorted");
        previous = Some(hit.at);
        let continues = current.is_some_and(|(start, end, _)| {
            hit.at - end <= config.idle_timeout_secs
                && hit.at - start <= config.max_length_secs
                && (!config.split_at_midnight || tz.local_date(hit.at) == tz.local_date(start))
        });
        if !continues {
            if let Some((start, end, views)) = current.take().filter(|s| s.2 > 0) {
                sessions.push(Session::new(start, end, views));
            }
            current = Some((hit.at, hit.at, 0));
        }
        let session = current.as_mut().expect("set above");
        session.1 = hit.at;
        if hit.kind == WebKind::PageView {
            session.2 += 1;
        }
    }
    if let Some((start, end, views)) = current.filter(|s| s.2 > 0) {
        sessions.push(Session::new(start, end, views));
    }
    // Exact size: a contact's sessions live as long as the contact.
    sessions.shrink_to_fit();
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
        let sessions = sessionize([pv(0), pv(1800), pv(3601)], &config, &tz);
        assert_eq!(sessions, [Session::new(0, 1800, 2), Session::new(3601, 3601, 1)]);
    }

    #[test]
    fn heartbeats_extend_but_do_not_start_sessions() {
        let config = SessionConfig::default();
        let tz = Tz::utc();
        let sessions = sessionize([pv(0), hit(45, WebKind::Heartbeat), hit(10_000, WebKind::Heartbeat)], &config, &tz);
        assert_eq!(sessions, [Session::new(0, 45, 1)]);
        assert_eq!(sessions[0].duration(), 45);
    }

    #[test]
    fn sessions_are_cut_at_the_maximum_length() {
        let config = SessionConfig { max_length_secs: 3600, ..SessionConfig::default() };
        let tz = Tz::utc();
        let hits: Vec<WebHit> = (0..10).map(|i| pv(i * 900)).collect();
        let sessions = sessionize(hits.iter().copied(), &config, &tz);
        assert_eq!(sessions.iter().map(|s| s.page_views).collect::<Vec<_>>(), [5, 5]);
        assert!(sessions.iter().all(|s| s.duration() <= 3600));
    }

    #[test]
    fn midnight_split_is_optional() {
        let tz = Tz::utc();
        let late = 86_400 - 300;
        let hits = [pv(late), pv(late + 360), pv(late + 720)];
        assert_eq!(sessionize(hits.iter().copied(), &SessionConfig::default(), &tz).len(), 1);
        let split = SessionConfig { split_at_midnight: true, ..SessionConfig::default() };
        assert_eq!(sessionize(hits.iter().copied(), &split, &tz).len(), 2);
    }
}
