//! When to retry a delivery, and after how long. Pure code.
//!
//! [`classify`] is the one place that says whether an attempt's result is
//! delivered, retried or final; [`Schedule::delay_after`] turns the message's
//! JetStream delivery count into the next delay, so the schedule survives
//! restarts: the message itself waits in JetStream.

use std::time::Duration;

/// What one attempt's result means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: done.
    Delivered,
    /// Network error, 408, 429 or 5xx: try again, honouring `Retry-After`.
    Retry {
        /// The receiver's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// Other 3xx/4xx: retrying will not help.
    Final,
    /// 410: the receiver is gone; the subscription is disabled.
    Gone,
}

/// Classifies an HTTP status (None: no response at all).
pub fn classify(status: Option<u16>, retry_after: Option<Duration>) -> Verdict {
    match status {
        None => Verdict::Retry { retry_after: None },
        Some(200..=299) => Verdict::Delivered,
        Some(410) => Verdict::Gone,
        Some(408 | 429 | 500..=599) => Verdict::Retry { retry_after },
        Some(_) => Verdict::Final,
    }
}

/// Parses `Retry-After` as delta-seconds (HTTP dates are ignored).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The delays between attempts, with jitter and `Retry-After` bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Delay before attempt 2, 3, …; attempts = delays + 1.
    pub delays: Vec<Duration>,
    /// ± fraction applied to each delay (0.2 = ±20 %).
    pub jitter: f64,
    /// Longest `Retry-After` honoured.
    pub max_retry_after: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        let m = |n: u64| Duration::from_secs(n * 60);
        Self {
            delays: vec![Duration::from_secs(5), m(5), m(30), m(120), m(300), m(600), m(600)],
            jitter: 0.2,
            max_retry_after: m(600),
        }
    }
}

impl Schedule {
    /// Parses `5s,5m,30m` into delays.
    pub fn parse_delays(text: &str) -> Result<Vec<Duration>, String> {
        text.split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|part| hookline_model::settings::parse_duration(part.trim()))
            .collect()
    }

    /// Attempts in all.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.delays.len()).unwrap_or(u32::MAX).saturating_add(1)
    }

    /// The delay before the next attempt after attempt number `attempt`
    /// (1-based) failed, or None when that was the last. `unit` is a random
    /// number in [0, 1) for the jitter.
    pub fn delay_after(&self, attempt: u32, retry_after: Option<Duration>, unit: f64) -> Option<Duration> {
        let index = usize::try_from(attempt).ok()?.checked_sub(1)?;
        let base = *self.delays.get(index)?;
        let factor = 1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        let jittered = base.mul_f64(factor.max(0.0));
        Some(match retry_after {
            Some(asked) => jittered.max(asked.min(self.max_retry_after)),
            None => jittered,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_once() {
        let rows = [
            (None, Verdict::Retry { retry_after: None }, "network error"),
            (Some(200), Verdict::Delivered, "ok"),
            (Some(204), Verdict::Delivered, "no content"),
            (Some(302), Verdict::Final, "redirects are not followed"),
            (Some(400), Verdict::Final, "bad request"),
            (Some(404), Verdict::Final, "not found"),
            (Some(408), Verdict::Retry { retry_after: None }, "timeout"),
            (Some(410), Verdict::Gone, "gone disables"),
            (Some(429), Verdict::Retry { retry_after: None }, "rate limited"),
            (Some(500), Verdict::Retry { retry_after: None }, "server error"),
            (Some(503), Verdict::Retry { retry_after: None }, "unavailable"),
        ];
        for (status, expected, why) in rows {
            assert_eq!(classify(status, None), expected, "{why}");
        }
    }

    #[test]
    fn delays_follow_the_schedule_with_bounded_jitter() {
        let schedule = Schedule::default();
        assert_eq!(schedule.max_attempts(), 8);
        let rows = [
            (1, 0.5, Some(Duration::from_secs(5)), "no jitter at the middle"),
            (1, 0.0, Some(Duration::from_secs(4)), "-20 %"),
            (1, 1.0, Some(Duration::from_secs(6)), "+20 %"),
            (2, 0.5, Some(Duration::from_secs(300)), "second delay"),
            (7, 0.5, Some(Duration::from_secs(36_000)), "last delay"),
            (8, 0.5, None, "attempt 8 was the last"),
            (0, 0.5, None, "there is no attempt 0"),
        ];
        for (attempt, unit, expected, why) in rows {
            assert_eq!(schedule.delay_after(attempt, None, unit), expected, "{why}");
        }
    }

    #[test]
    fn retry_after_is_honoured_within_bounds() {
        let schedule = Schedule::default();
        let d = |s| Some(Duration::from_secs(s));
        assert_eq!(schedule.delay_after(1, d(60), 0.5), d(60), "longer wait asked for");
        assert_eq!(
            schedule.delay_after(1, d(1), 0.5),
            d(5),
            "never sooner than the schedule"
        );
        assert_eq!(
            schedule.delay_after(1, d(86_400), 0.5),
            d(36_000),
            "capped at the longest delay"
        );
        assert_eq!(parse_retry_after(" 120 "), d(120));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn schedules_parse() {
        assert_eq!(
            Schedule::parse_delays("100ms, 2s,5m"),
            Ok(vec![
                Duration::from_millis(100),
                Duration::from_secs(2),
                Duration::from_secs(300)
            ])
        );
        assert!(Schedule::parse_delays("5x").is_err());
    }
}
