//! The segment summary (SPEC §7): every block, for the current members of a
//! segment restricted to a view, with session metrics over sessions that
//! started in the range and growth over the membership log in the range.
//!
//! One pass over the members computes all distributions; growth reads only
//! the log entries at or after the range start (the total at any instant is
//! the current count minus what changed since). Averages over nothing are
//! `None`, shares of an empty base are `None`: never NaN.

use std::collections::BTreeMap;

use jiff::civil::Date;
use roaring::RoaringBitmap;

use crate::engine::Workspace;
use crate::error::{Error, Result};
use crate::esp::Provider;
use crate::ids::SegmentId;
use crate::model::{Automation, AutomationKind, Channel, Country, Source};
use crate::subscription::{EmailFlags, Reachability, SubscriptionStatus, reachability, subscription_status};
use crate::summary_rows::{Cold, Drill, PARALLEL_MIN_MEMBERS, dims_of, mail_of, tally};
use crate::time::{Bucket, Granularity, Secs, TimeRange, Tz, buckets};

/// Which contacts of the segment a summary covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    All,
    Known,
    Anonymous,
}

impl View {
    pub fn parse(raw: &str) -> Result<View> {
        match raw.trim() {
            "all" => Ok(View::All),
            "known" => Ok(View::Known),
            "anonymous" => Ok(View::Anonymous),
            other => Err(Error::invalid(format!("unknown view `{other}`: use all, known or anonymous")).in_field("view")),
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            View::All => "all",
            View::Known => "known",
            View::Anonymous => "anonymous",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SummaryRequest {
    pub view: View,
    pub range: TimeRange,
    pub tz: Tz,
    pub granularity: Granularity,
    /// Drill into one country: its regions and cities.
    pub country: Option<Country>,
    /// Within the country, drill into one region: its cities.
    pub region: Option<String>,
}

/// A count and its share of the block's base (`None` when the base is 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Share {
    pub count: u64,
    pub share: Option<f64>,
}

fn share(count: u64, base: u64) -> Share {
    Share { count, share: (base > 0).then(|| count as f64 / base as f64) }
}

fn ratio(numerator: f64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator / denominator as f64)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Overall {
    pub known: u64,
    pub anonymous: u64,
    pub total: u64,
    pub sessions: u64,
    pub avg_session_secs: Option<f64>,
    pub bounces: u64,
    pub bounce_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GrowthPoint {
    pub period_start: Date,
    pub start: Secs,
    pub end: Secs,
    pub added: u64,
    pub removed: u64,
    pub net: i64,
    /// Members at the end of the bucket.
    pub total: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Growth {
    pub granularity: Granularity,
    pub points: Vec<GrowthPoint>,
    pub added: u64,
    pub removed: u64,
    pub net: i64,
    pub total_at_start: u64,
    pub total_at_end: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AutomationRef {
    pub id: u32,
    pub name: String,
    pub status: &'static str,
    pub subtype: String,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Associated {
    pub journeys: Vec<AutomationRef>,
    pub journeys_active: usize,
    pub campaigns: Vec<AutomationRef>,
    pub campaigns_active: usize,
    pub opted_in: Share,
    pub bounced: Share,
    pub unsubscribed: Share,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebsiteGroup {
    pub members: u64,
    pub sessions: u64,
    /// Sessions in the range per member of the group (members without
    /// sessions count as 0).
    pub sessions_per_member: Option<f64>,
    pub avg_session_secs: Option<f64>,
    pub bounces: u64,
    pub bounce_rate: Option<f64>,
    /// Members with at least one session in the range.
    pub active_members: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Website {
    pub known: WebsiteGroup,
    pub anonymous: WebsiteGroup,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub name: Option<String>,
    pub count: Share,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Geography {
    /// Countries by count, largest first; `None` (unknown) last.
    pub countries: Vec<(Option<Country>, Share)>,
    pub drill_country: Option<Country>,
    pub drill_region: Option<String>,
    /// Regions of the drilled country (or of the region).
    pub regions: Vec<Place>,
    /// Cities of the drilled country, or of the drilled region.
    pub cities: Vec<Place>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub segment: SegmentId,
    pub segment_name: String,
    pub view: View,
    pub range: TimeRange,
    pub tz: String,
    pub computed_at: Secs,
    pub overall: Overall,
    pub growth: Growth,
    pub associated: Associated,
    pub reachability: Vec<(Reachability, Share)>,
    pub subscription: Vec<(SubscriptionStatus, Share)>,
    pub website: Website,
    /// Configured stages in order, then stages no longer configured, then "no stage" (`None`).
    pub stages: Vec<(Option<String>, Share)>,
    pub channels: Vec<(Channel, Share)>,
    /// First-touch sources, then `None` for contacts without one.
    pub sources: Vec<(Option<Source>, Share)>,
    pub providers: Vec<(Provider, Share)>,
    pub geography: Geography,
}

#[derive(Default)]
struct GroupAcc {
    members: u64,
    sessions: u64,
    duration: i64,
    bounces: u64,
    active: u64,
}

impl GroupAcc {
    fn finish(&self) -> WebsiteGroup {
        WebsiteGroup {
            members: self.members,
            sessions: self.sessions,
            sessions_per_member: ratio(self.sessions as f64, self.members),
            avg_session_secs: ratio(self.duration as f64, self.sessions),
            bounces: self.bounces,
            bounce_rate: ratio(self.bounces as f64, self.sessions),
            active_members: self.active,
        }
    }
}

impl Workspace {
    pub fn summary(&self, segment_id: SegmentId, request: &SummaryRequest, now: Secs) -> Result<Summary> {
        let segment = self.segment(segment_id)?;
        let members = self.view_bitmap(&segment.members, request.view);
        let base = members.len();
        let range = request.range;
        let engaged_since = self.engaged_since(now);

        // The rows are brought up to date under the cache's lock, which is
        // held for the whole pass (see `summary_rows` for why a lock).
        let mut cache = self.summary_rows.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.update(&self.contacts, range.from, range.to);
        let rows = &cache.rows;
        let names = &cache.names;

        let drill_country: Option<u16> =
            request.country.and_then(|wanted| names.countries.iter().position(|c| *c == wanted)).map(|i| i as u16);
        let drill = Drill {
            country: drill_country,
            region_wanted: request
                .region
                .as_ref()
                .map(|wanted| names.strings.iter().map(|s| s.eq_ignore_ascii_case(wanted)).collect()),
        };
        let parts = if base >= PARALLEL_MIN_MEMBERS { 2 } else { 1 };
        let tally = tally(rows, &cache.cold, names, &members, engaged_since, &drill, parts);

        // Split the combined counters into the blocks.
        let (mut known_acc, mut anon_acc) = (GroupAcc::default(), GroupAcc::default());
        let mut channels = [0u64; 6];
        let mut sources = [0u64; 8];
        let mut providers = [0u64; 13];
        for (key, &n) in tally.dims.iter().enumerate().filter(|(_, n)| **n > 0) {
            let (channel, source, provider, known) = dims_of(key);
            channels[channel] += n;
            sources[source] += n;
            providers[provider] += n;
            if known { known_acc.members += n } else { anon_acc.members += n }
        }
        for (acc, web) in [(&mut anon_acc, &tally.web[0]), (&mut known_acc, &tally.web[1])] {
            acc.sessions = web.sessions;
            acc.duration = web.duration;
            acc.bounces = web.bounces;
            acc.active = web.active;
        }
        let mut reach = [0u64; 5];
        let mut statuses = [0u64; 9];
        let (mut opted_in, mut bounced, mut unsubscribed) = (0u64, 0u64, 0u64);
        for (key, &n) in tally.mail.iter().enumerate().filter(|(_, n)| **n > 0) {
            let (has_email, flags, engaged) = mail_of(key);
            let last_engaged = engaged.then_some(engaged_since);
            reach[reachability(has_email, flags, last_engaged, engaged_since).index()] += n;
            statuses[subscription_status(has_email, flags).index()] += n;
            opted_in += if flags.has(EmailFlags::OPTED_IN) { n } else { 0 };
            bounced += if flags.has(EmailFlags::BOUNCED) { n } else { 0 };
            unsubscribed += if flags.has(EmailFlags::UNSUBSCRIBED) { n } else { 0 };
        }
        let drill_base = tally.drill_base;
        // Back to named maps (few entries): the ordering code below is shared.
        let by_name = |counts: &[u64]| -> BTreeMap<Option<&str>, u64> {
            counts
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(i, n)| (names.strings.get(i).map(String::as_str), *n))
                .collect()
        };
        let mut stages = by_name(&tally.stages);
        let regions = by_name(&tally.regions);
        let cities = by_name(&tally.cities);
        let countries: BTreeMap<Option<Country>, u64> = tally
            .countries
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| (names.countries.get(i).copied(), *n))
            .collect();

        let known = known_acc.members;
        let anonymous = anon_acc.members;
        let sessions = known_acc.sessions + anon_acc.sessions;
        let duration = known_acc.duration + anon_acc.duration;
        let bounces = known_acc.bounces + anon_acc.bounces;
        let overall = Overall {
            known,
            anonymous,
            total: known + anonymous,
            sessions,
            avg_session_secs: ratio(duration as f64, sessions),
            bounces,
            bounce_rate: ratio(bounces as f64, sessions),
        };

        let growth = self.growth(segment_id, request, base, &cache.cold, cache.created_since())?;

        let refs = |kind: AutomationKind| -> Vec<AutomationRef> {
            self.automations_referencing(segment_id, kind).into_iter().map(automation_ref).collect()
        };
        let journeys = refs(AutomationKind::Journey);
        let campaigns = refs(AutomationKind::Campaign);
        let associated = Associated {
            journeys_active: journeys.iter().filter(|j| j.active).count(),
            journeys,
            campaigns_active: campaigns.iter().filter(|c| c.active).count(),
            campaigns,
            opted_in: share(opted_in, base),
            bounced: share(bounced, base),
            unsubscribed: share(unsubscribed, base),
        };

        let mut stage_rows: Vec<(Option<String>, Share)> = Vec::new();
        for configured in &self.settings.stages {
            let count = stages.remove(&Some(configured.as_str())).unwrap_or(0);
            stage_rows.push((Some(configured.clone()), share(count, base)));
        }
        let no_stage = stages.remove(&None).unwrap_or(0);
        for (stage, count) in stages {
            stage_rows.push((stage.map(str::to_owned), share(count, base)));
        }
        stage_rows.push((None, share(no_stage, base)));

        let mut country_rows: Vec<(Option<Country>, Share)> = countries.into_iter().map(|(c, n)| (c, share(n, base))).collect();
        country_rows.sort_by(|a, b| a.0.is_none().cmp(&b.0.is_none()).then(b.1.count.cmp(&a.1.count)).then(a.0.cmp(&b.0)));
        let places = |map: BTreeMap<Option<&str>, u64>, base: u64| -> Vec<Place> {
            let mut rows: Vec<Place> =
                map.into_iter().map(|(name, n)| Place { name: name.map(str::to_owned), count: share(n, base) }).collect();
            rows.sort_by(|a, b| {
                a.name.is_none().cmp(&b.name.is_none()).then(b.count.count.cmp(&a.count.count)).then(a.name.cmp(&b.name))
            });
            rows
        };
        let city_base = cities.values().sum();

        Ok(Summary {
            segment: segment_id,
            segment_name: segment.name.clone(),
            view: request.view,
            range,
            tz: request.tz.name().to_owned(),
            computed_at: now,
            overall,
            growth,
            associated,
            reachability: Reachability::ALL.iter().map(|r| (*r, share(reach[r.index()], base))).collect(),
            subscription: SubscriptionStatus::ALL.iter().map(|s| (*s, share(statuses[s.index()], base))).collect(),
            website: Website { known: known_acc.finish(), anonymous: anon_acc.finish() },
            stages: stage_rows,
            channels: Channel::ALL.iter().map(|c| (*c, share(channels[c.index()], base))).collect(),
            sources: Source::ALL
                .iter()
                .map(|s| (Some(*s), share(sources[s.index()], base)))
                .chain(std::iter::once((None, share(sources[7], base))))
                .collect(),
            providers: Provider::ALL.iter().map(|p| (*p, share(providers[p.index()], base))).collect(),
            geography: Geography {
                countries: country_rows,
                drill_country: request.country,
                drill_region: request.region.clone(),
                regions: places(regions, drill_base),
                cities: places(cities, city_base),
            },
        })
    }

    /// Growth of the current epoch of a segment's log in the request's view.
    fn growth(
        &self,
        segment_id: SegmentId,
        request: &SummaryRequest,
        current: u64,
        cold: &[Cold],
        created_since: &RoaringBitmap,
    ) -> Result<Growth> {
        let segment = self.segment(segment_id)?;
        let range = request.range;
        let buckets: Vec<Bucket> = buckets(range, &request.tz, request.granularity)?;
        let in_view = |contact: u32| match request.view {
            crate::summary::View::All => true,
            crate::summary::View::Known => self.known.contains(contact),
            crate::summary::View::Anonymous => !self.known.contains(contact),
        };
        // Every change at or after the range start, +1 or -1, counted into
        // the buckets as it is found (no sort: a large segment has hundreds
        // of thousands). `after[k]` is the net change of the changes that
        // come after exactly the first k bucket ends, so the total at the end
        // of bucket i is the current count minus `after[i + 1..]`.
        let n = buckets.len();
        let mut added = vec![0u64; n];
        let mut removed = vec![0u64; n];
        let mut after = vec![0i64; n + 1];
        let mut net_since_start = 0i64;
        let mut count = |at: Secs, delta: i64| {
            let k = buckets.partition_point(|bucket| bucket.end <= at);
            after[k] += delta;
            net_since_start += delta;
            // Buckets are contiguous: the one holding `at` is the first that
            // ends after it, if `at` is not before it.
            if k < n && at >= buckets[k].start {
                if delta > 0 {
                    added[k] += 1;
                } else {
                    removed[k] += 1;
                }
            }
        };
        // Back-filled members created in the range, without reading the
        // creation time of the others.
        let created = self.view_bitmap(&(&segment.log.backfill & created_since), request.view);
        created.iter().for_each(|contact| count(cold[contact as usize].created_at, 1));
        let entries = segment.log.current_entries();
        let first = entries.partition_point(|e| e.at < range.from);
        for entry in &entries[first..] {
            if in_view(entry.contact.0) {
                count(entry.at, if entry.entered { 1 } else { -1 });
            }
        }
        let total = |net_after: i64| -> u64 { (current as i64 - net_after).max(0) as u64 };
        let mut net_after = 0i64;
        let mut totals = vec![0u64; n];
        for i in (0..n).rev() {
            net_after += after[i + 1];
            totals[i] = total(net_after);
        }
        let points: Vec<GrowthPoint> = buckets
            .iter()
            .enumerate()
            .map(|(i, b)| GrowthPoint {
                period_start: b.period_start,
                start: b.start,
                end: b.end,
                added: added[i],
                removed: removed[i],
                net: added[i] as i64 - removed[i] as i64,
                total: totals[i],
            })
            .collect();
        let added = points.iter().map(|p| p.added).sum();
        let removed = points.iter().map(|p| p.removed).sum();
        Ok(Growth {
            granularity: request.granularity,
            added,
            removed,
            net: added as i64 - removed as i64,
            total_at_start: total(net_since_start),
            total_at_end: points.last().map_or(current, |p| p.total),
            points,
        })
    }
}

fn automation_ref(automation: &Automation) -> AutomationRef {
    AutomationRef {
        id: automation.id,
        name: automation.name.clone(),
        status: automation.status.key(),
        subtype: automation.subtype.clone(),
        active: automation.status.is_active(),
    }
}
