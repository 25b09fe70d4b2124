//! The canonical form of a segment summary that segscope, DuckDB and chDB
//! are compared in (`bench/reference.py` builds the same shape from SQL):
//! counts as integers, averages rounded to 1e-6, distributions as maps
//! without zero rows (SQL `GROUP BY` has no rows for absent values), `None`
//! values named `(none)`.

use segscope_core::summary::{Summary, WebsiteGroup};
use serde_json::{Map, Value, json};

fn round(value: Option<f64>) -> Value {
    value.map_or(Value::Null, |v| json!((v * 1e6).round() / 1e6))
}

fn distribution<'a>(rows: impl Iterator<Item = (String, u64)> + 'a) -> Value {
    let mut map = Map::new();
    for (key, count) in rows {
        if count > 0 {
            map.insert(key, json!(count));
        }
    }
    Value::Object(map)
}

fn website(group: &WebsiteGroup) -> Value {
    json!({
        "members": group.members,
        "sessions": group.sessions,
        "sessions_per_member": round(group.sessions_per_member),
        "avg_session_secs": round(group.avg_session_secs),
    })
}

/// The canonical JSON of a summary.
pub fn canonical(summary: &Summary) -> Value {
    let none = || "(none)".to_owned();
    json!({
        "overall": {
            "known": summary.overall.known,
            "anonymous": summary.overall.anonymous,
            "total": summary.overall.total,
            "sessions": summary.overall.sessions,
            "avg_session_secs": round(summary.overall.avg_session_secs),
        },
        "growth": summary.growth.points.iter().map(|p| json!([p.period_start.to_string(), p.added, p.removed, p.net, p.total])).collect::<Vec<_>>(),
        "associated": {
            "journeys": summary.associated.journeys.len(),
            "journeys_active": summary.associated.journeys_active,
            "campaigns": summary.associated.campaigns.len(),
            "campaigns_active": summary.associated.campaigns_active,
            "opted_in": summary.associated.opted_in.count,
            "bounced": summary.associated.bounced.count,
            "unsubscribed": summary.associated.unsubscribed.count,
        },
        "reachability": distribution(summary.reachability.iter().map(|(r, s)| (r.key().to_owned(), s.count))),
        "subscription": distribution(summary.subscription.iter().map(|(r, s)| (r.key().to_owned(), s.count))),
        "website": { "known": website(&summary.website.known), "anonymous": website(&summary.website.anonymous) },
        "stages": distribution(summary.stages.iter().map(|(stage, s)| (stage.clone().unwrap_or_else(none), s.count))),
        "channels": distribution(summary.channels.iter().map(|(c, s)| (c.key().to_owned(), s.count))),
        "sources": distribution(summary.sources.iter().map(|(src, s)| (src.map_or_else(none, |x| x.key().to_owned()), s.count))),
        "providers": distribution(summary.providers.iter().map(|(p, s)| (p.key().to_owned(), s.count))),
        "countries": distribution(summary.geography.countries.iter().map(|(c, s)| (c.map_or_else(none, |x| x.code().to_owned()), s.count))),
        "regions": distribution(summary.geography.regions.iter().map(|p| (p.name.clone().unwrap_or_else(none), p.count.count))),
        "cities": distribution(summary.geography.cities.iter().map(|p| (p.name.clone().unwrap_or_else(none), p.count.count))),
    })
}
