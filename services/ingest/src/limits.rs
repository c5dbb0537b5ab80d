//! Rate limits and in-flight caps. Pure code: time is passed in.
//!
//! Each source has a token bucket (default 100 per minute, bursting to the
//! whole minute's allowance) and all sources share a global one. The limits
//! are per ingest copy: N copies accept up to N times the rate.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A token bucket refilled continuously.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    per_minute: u32,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket for `per_minute` requests.
    pub fn new(per_minute: u32, now: Instant) -> Self {
        Self {
            per_minute,
            tokens: f64::from(per_minute),
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        let capacity = f64::from(self.per_minute);
        self.tokens = (self.tokens + elapsed * capacity / 60.0).min(capacity);
        self.last = now;
    }

    /// Takes a token, or says how long until one is available.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - self.tokens;
            Err(Duration::from_secs_f64(
                missing * 60.0 / f64::from(self.per_minute.max(1)),
            ))
        }
    }

    fn give_back(&mut self) {
        self.tokens = (self.tokens + 1.0).min(f64::from(self.per_minute));
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The source's own rate.
    Source,
    /// The rate across all sources.
    Global,
}

/// A refusal: which limit, and when to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// The limit that refused.
    pub scope: Scope,
    /// Whole seconds until a retry can succeed (at least 1).
    pub retry_after_secs: u64,
}

fn limited(scope: Scope, wait: Duration) -> Limited {
    Limited {
        scope,
        retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
    }
}

/// Per-source and global rate limits.
#[derive(Debug)]
pub struct RateLimits {
    global: Mutex<Option<TokenBucket>>,
    sources: Mutex<HashMap<String, TokenBucket>>,
}

impl RateLimits {
    /// Limits with a global rate of `global_per_minute` (0: none).
    pub fn new(global_per_minute: u32, now: Instant) -> Self {
        Self {
            global: Mutex::new((global_per_minute > 0).then(|| TokenBucket::new(global_per_minute, now))),
            sources: Mutex::new(HashMap::new()),
        }
    }

    /// Admits one request for `source` (whose rate is `per_minute`, 0: none).
    pub fn admit(&self, source: &str, per_minute: u32, now: Instant) -> Result<(), Limited> {
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        if per_minute > 0 {
            let bucket = sources
                .entry(source.to_owned())
                .or_insert_with(|| TokenBucket::new(per_minute, now));
            if bucket.per_minute != per_minute {
                *bucket = TokenBucket::new(per_minute, now);
            }
            bucket.take(now).map_err(|wait| limited(Scope::Source, wait))?;
        }
        let mut global = self.global.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bucket) = global.as_mut()
            && let Err(wait) = bucket.take(now)
        {
            // The source's token was not used after all.
            if let Some(bucket) = sources.get_mut(source).filter(|_| per_minute > 0) {
                bucket.give_back();
            }
            return Err(limited(Scope::Global, wait));
        }
        Ok(())
    }
}

/// Requests in progress per source.
#[derive(Debug, Default)]
pub struct InFlight {
    counts: Mutex<HashMap<String, Arc<AtomicU32>>>,
}

/// Holds one in-flight slot until dropped.
#[derive(Debug)]
pub struct Slot(Option<Arc<AtomicU32>>);

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(count) = &self.0 {
            count.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl InFlight {
    /// A slot for `source` if fewer than `max` are in use (0: no cap).
    pub fn enter(&self, source: &str, max: u32) -> Option<Slot> {
        if max == 0 {
            return Some(Slot(None));
        }
        let count = {
            let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
            counts.entry(source.to_owned()).or_default().clone()
        };
        let previous = count.fetch_add(1, Ordering::AcqRel);
        if previous >= max {
            count.fetch_sub(1, Ordering::AcqRel);
            None
        } else {
            Some(Slot(Some(count)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_gets_its_rate_then_waits() {
        let t0 = Instant::now();
        let limits = RateLimits::new(0, t0);
        for n in 0..100 {
            assert_eq!(limits.admit("gh", 100, t0), Ok(()), "request {n} of the first minute");
        }
        let refused = limits.admit("gh", 100, t0).expect_err("101st");
        assert_eq!(
            refused,
            Limited {
                scope: Scope::Source,
                retry_after_secs: 1
            },
            "one token per 0.6 s"
        );
        assert_eq!(limits.admit("other", 100, t0), Ok(()), "sources are independent");
        assert_eq!(
            limits.admit("gh", 100, t0 + Duration::from_millis(600)),
            Ok(()),
            "refilled"
        );
        assert_eq!(limits.admit("gh", 0, t0), Ok(()), "0 means no limit");
    }

    #[test]
    fn the_global_limit_spans_sources_and_refunds_the_source() {
        let t0 = Instant::now();
        let limits = RateLimits::new(3, t0);
        for source in ["a", "b", "c"] {
            assert_eq!(limits.admit(source, 2, t0), Ok(()));
        }
        let refused = limits.admit("a", 2, t0).expect_err("global is spent");
        assert_eq!(refused.scope, Scope::Global);
        assert_eq!(refused.retry_after_secs, 20, "3 per minute is one per 20 s");
        // "a" used one of its two; the refused request did not cost it one.
        let later = t0 + Duration::from_secs(20);
        assert_eq!(limits.admit("a", 2, later), Ok(()));
    }

    #[test]
    fn in_flight_slots_are_capped_and_released() {
        let in_flight = InFlight::default();
        let a = in_flight.enter("gh", 2).expect("first");
        let _b = in_flight.enter("gh", 2).expect("second");
        assert!(in_flight.enter("gh", 2).is_none(), "third is over the cap");
        assert!(in_flight.enter("other", 2).is_some(), "per source");
        drop(a);
        assert!(in_flight.enter("gh", 2).is_some(), "released on drop");
        assert!(in_flight.enter("gh", 0).is_some(), "0 means no cap");
    }
}
