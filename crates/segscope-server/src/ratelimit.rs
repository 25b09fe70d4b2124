//! Token buckets for the public doors (`/collect`, `/webhooks`), keyed by
//! the presented key and the client address, in bounded memory.
//!
//! Why a token bucket: a browser sends bursts (a page view, then a batch
//! on leave) separated by quiet time; a bucket of `burst` tokens refilled
//! at `per_second` lets those through and stops a loop or a flood.
//!
//! Why the map is capped: the keys come from the network (any address, any
//! string), so an attacker could otherwise grow the map without end. At the
//! cap, buckets that have refilled completely are dropped first (they carry
//! no information: a fresh bucket is full too); if the map is still full,
//! new callers share one overflow bucket. Under a flood of distinct
//! addresses the service degrades for new callers only, and memory stays
//! at `max_tracked` entries.
//!
//! The clock is an argument ([`RateLimiter::check_at`]) so tests are exact.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// The longest wait ever announced (a limiter configured with rate 0).
const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

/// The shape of one limiter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Tokens added per second (sustained requests per second).
    pub per_second: f64,
    /// Bucket size: the burst allowed after a quiet time.
    pub burst: u32,
    /// The most callers tracked at once (memory bound).
    pub max_tracked: usize,
}

impl RateLimit {
    /// No limit at all (tests that are not about limits).
    pub const UNLIMITED: RateLimit = RateLimit { per_second: f64::INFINITY, burst: u32::MAX, max_tracked: 0 };

    fn is_unlimited(&self) -> bool {
        self.per_second.is_infinite()
    }
}

impl Default for RateLimit {
    /// 10 requests per second sustained, bursts of 60, per key and client
    /// address: far above what the snippet sends (a page view, a heartbeat
    /// every 15 s, a beacon on leave), far below a flood.
    fn default() -> Self {
        RateLimit { per_second: 10.0, burst: 60, max_tracked: 100_000 }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// One limiter; share it behind an `Arc`.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
    overflow: Mutex<Option<Bucket>>,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> RateLimiter {
        RateLimiter { limit, buckets: Mutex::new(HashMap::new()), overflow: Mutex::new(None) }
    }

    /// Takes one token for `caller` now; `Err(wait)` when there is none,
    /// with the time until the next token.
    pub fn check(&self, caller: &str) -> Result<(), Duration> {
        self.check_at(caller, Instant::now())
    }

    pub fn check_at(&self, caller: &str, now: Instant) -> Result<(), Duration> {
        if self.limit.is_unlimited() {
            return Ok(());
        }
        let mut buckets = self.buckets.lock();
        if let Some(bucket) = buckets.get_mut(caller) {
            return self.take(bucket, now);
        }
        if buckets.len() >= self.limit.max_tracked {
            self.forget_full(&mut buckets, now);
        }
        if buckets.len() >= self.limit.max_tracked {
            drop(buckets);
            let mut overflow = self.overflow.lock();
            let bucket = overflow.get_or_insert(Bucket { tokens: f64::from(self.limit.burst), updated: now });
            return self.take(bucket, now);
        }
        let bucket = buckets.entry(caller.to_owned()).or_insert(Bucket { tokens: f64::from(self.limit.burst), updated: now });
        self.take(bucket, now)
    }

    /// Callers tracked now (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.buckets.lock().len()
    }

    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.limit.per_second).min(f64::from(self.limit.burst));
        bucket.updated = now;
    }

    fn take(&self, bucket: &mut Bucket, now: Instant) -> Result<(), Duration> {
        self.refill(bucket, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - bucket.tokens;
            // A rate of 0 (or a tiny one) means "never": a day is as good as
            // forever for Retry-After, and `from_secs_f64` would panic on
            // an infinite wait.
            let wait = missing / self.limit.per_second.max(f64::MIN_POSITIVE);
            Err(Duration::try_from_secs_f64(wait).unwrap_or(MAX_WAIT).min(MAX_WAIT))
        }
    }

    /// Drops the buckets that are full again: forgetting them changes nothing.
    fn forget_full(&self, buckets: &mut HashMap<String, Bucket>, now: Instant) {
        let burst = f64::from(self.limit.burst);
        let per_second = self.limit.per_second;
        buckets.retain(|_, bucket| {
            let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
            bucket.tokens + elapsed * per_second < burst
        });
    }
}

/// Whole seconds to put in `Retry-After` (at least 1: 0 invites a retry storm).
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refills_at_the_rate() {
        let limiter = RateLimiter::new(RateLimit { per_second: 2.0, burst: 3, max_tracked: 10 });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at("a", t0).is_ok());
        }
        let wait = limiter.check_at("a", t0).unwrap_err();
        assert_eq!(retry_after_secs(wait), 1);
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-9);
        // Another caller has its own bucket.
        assert!(limiter.check_at("b", t0).is_ok());
        assert!(limiter.check_at("a", t0 + Duration::from_millis(500)).is_ok());
        assert!(limiter.check_at("a", t0 + Duration::from_millis(500)).is_err());
    }

    #[test]
    fn memory_is_capped_and_overflow_callers_share_a_bucket() {
        let limiter = RateLimiter::new(RateLimit { per_second: 1.0, burst: 2, max_tracked: 3 });
        let t0 = Instant::now();
        for caller in ["a", "b", "c"] {
            limiter.check_at(caller, t0).unwrap();
        }
        // Full map, nobody refilled: newcomers share the overflow bucket of 2.
        assert!(limiter.check_at("d", t0).is_ok());
        assert!(limiter.check_at("e", t0).is_ok());
        assert!(limiter.check_at("f", t0).is_err());
        assert_eq!(limiter.tracked(), 3);
        // Later the old buckets are full again and make room.
        assert!(limiter.check_at("g", t0 + Duration::from_secs(5)).is_ok());
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn a_zero_rate_refuses_without_panicking() {
        let limiter = RateLimiter::new(RateLimit { per_second: 0.0, burst: 1, max_tracked: 10 });
        let t0 = Instant::now();
        assert!(limiter.check_at("a", t0).is_ok());
        assert_eq!(limiter.check_at("a", t0).unwrap_err(), MAX_WAIT);
    }

    #[test]
    fn unlimited_tracks_nothing() {
        let limiter = RateLimiter::new(RateLimit::UNLIMITED);
        for _ in 0..1000 {
            limiter.check("x").unwrap();
        }
        assert_eq!(limiter.tracked(), 0);
    }
}
