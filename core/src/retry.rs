//! Retry policy: bounded, jittered exponential backoff that honours `Retry-After`.

use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};

/// How transient failures (network errors, `5xx`, `429`) are retried.
///
/// Only requests that are safe to repeat are retried automatically: reads, `HEAD`,
/// `PUT` (create is idempotent), `DELETE`, close-only `POST`, and producer appends
/// (the server deduplicates them). A plain append is retried only when the failure
/// proves the server did not process it, unless the caller opts into
/// [`AppendRetry::AtLeastOnce`].
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt; `0` disables retrying.
    pub max_retries: u32,
    /// Backoff before the first retry.
    pub initial_delay: Duration,
    /// Upper bound of any single backoff (a longer `Retry-After` still wins).
    pub max_delay: Duration,
    /// Growth factor per retry, at least 1.0.
    pub multiplier: f64,
    /// What a plain (non-producer) append may do on an ambiguous failure.
    pub append_retry: AppendRetry,
}

/// Retry behaviour of plain appends, which the server cannot deduplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AppendRetry {
    /// Retry only when the request provably was not applied: connection refused or
    /// failed before sending, `429`, `503`. Never duplicates data.
    #[default]
    WhenUnprocessed,
    /// Also retry after `5xx` and broken connections: at-least-once (may duplicate).
    /// This is what the conformance contract expects of a plain append.
    AtLeastOnce,
}

impl AppendRetry {
    /// `when-unprocessed` or `at-least-once`.
    pub fn as_str(self) -> &'static str {
        match self {
            AppendRetry::WhenUnprocessed => "when-unprocessed",
            AppendRetry::AtLeastOnce => "at-least-once",
        }
    }
}

impl std::str::FromStr for AppendRetry {
    type Err = crate::error::Error;

    fn from_str(s: &str) -> Result<AppendRetry, Self::Err> {
        match s {
            "when-unprocessed" | "when_unprocessed" | "whenUnprocessed" => Ok(AppendRetry::WhenUnprocessed),
            "at-least-once" | "at_least_once" | "atLeastOnce" => Ok(AppendRetry::AtLeastOnce),
            other => Err(crate::error::Error::invalid_argument(
                "appendRetry",
                format!("unknown value {other:?} (expected when-unprocessed or at-least-once)"),
            )),
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            multiplier: 2.0,
            append_retry: AppendRetry::default(),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        RetryPolicy { max_retries: 0, ..Default::default() }
    }

    /// Build from loosely typed numbers (as bindings receive them), rejecting invalid
    /// values with an `INVALID_ARGUMENT` error naming the option in camelCase.
    pub fn from_parts(
        max_retries: Option<i64>,
        initial_delay_ms: Option<f64>,
        max_delay_ms: Option<f64>,
        multiplier: Option<f64>,
    ) -> Result<RetryPolicy> {
        let d = RetryPolicy::default();
        let max_retries = match max_retries {
            None => d.max_retries,
            Some(n) if n < 0 => return Err(Error::invalid_argument("maxRetries", "must be >= 0")),
            Some(n) => u32::try_from(n).map_err(|_| Error::invalid_argument("maxRetries", "too large"))?,
        };
        let initial_ms = initial_delay_ms.unwrap_or(d.initial_delay.as_secs_f64() * 1e3);
        if !(initial_ms.is_finite() && initial_ms > 0.0) {
            return Err(Error::invalid_argument("initialDelayMs", "must be > 0"));
        }
        let max_ms = max_delay_ms.unwrap_or_else(|| (d.max_delay.as_secs_f64() * 1e3).max(initial_ms));
        if !(max_ms.is_finite() && max_ms >= initial_ms) {
            return Err(Error::invalid_argument("maxDelayMs", "must be >= initialDelayMs"));
        }
        let multiplier = multiplier.unwrap_or(d.multiplier);
        if !(multiplier.is_finite() && multiplier >= 1.0) {
            return Err(Error::invalid_argument("multiplier", "must be >= 1.0"));
        }
        // Finite is not enough: a value beyond Duration's range would panic (found by fuzzing).
        let too_large = |field: &'static str| Error::invalid_argument(field, "too large");
        Ok(RetryPolicy {
            max_retries,
            initial_delay: Duration::try_from_secs_f64(initial_ms / 1e3).map_err(|_| too_large("initialDelayMs"))?,
            max_delay: Duration::try_from_secs_f64(max_ms / 1e3).map_err(|_| too_large("maxDelayMs"))?,
            multiplier,
            append_retry: d.append_retry,
        })
    }

    /// Backoff before retry number `retry` (0-based): exponential, capped, with
    /// "equal jitter" (half fixed, half random) so that many clients failing together
    /// do not retry in lockstep, yet the wait never collapses to zero. A server's
    /// `Retry-After` is a floor.
    pub fn backoff(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        self.backoff_from(self.initial_delay, retry, retry_after)
    }

    /// [`RetryPolicy::backoff`] starting from `initial` instead of `initial_delay`
    /// (the producer's short first retry after a failure that proves nothing landed).
    pub fn backoff_from(&self, initial: Duration, retry: u32, retry_after: Option<Duration>) -> Duration {
        let base = initial.as_secs_f64() * self.multiplier.powi(retry.min(64) as i32);
        let capped = base.min(self.max_delay.as_secs_f64());
        let jittered = capped * (0.5 + fastrand::f64() * 0.5);
        let d = Duration::try_from_secs_f64(jittered.max(0.0)).unwrap_or(self.max_delay);
        match retry_after {
            Some(ra) if ra > d => ra,
            _ => d,
        }
    }
}

/// Parse a `Retry-After` value: delay-seconds or an HTTP date. Nonsense is ignored.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        // A server asking for hours is treated as asking for a long but bounded pause.
        return Some(Duration::from_secs(secs.min(3600)));
    }
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs.min(3600.0)));
        }
        return None;
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO).min(Duration::from_secs(3600)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn validation_names_the_option() {
        let cases: [(Option<i64>, Option<f64>, Option<f64>, Option<f64>, &str); 5] = [
            (Some(-1), None, None, None, "maxRetries"),
            (None, Some(0.0), None, None, "initialDelayMs"),
            (None, Some(-5.0), None, None, "initialDelayMs"),
            (None, Some(1000.0), Some(500.0), None, "maxDelayMs"),
            (None, None, None, Some(0.5), "multiplier"),
        ];
        for (a, b, c, d, field) in cases {
            let err = RetryPolicy::from_parts(a, b, c, d).unwrap_err();
            assert_eq!(err.code(), "INVALID_ARGUMENT");
            assert!(err.message().contains(field), "{} should mention {field}", err.message());
        }
        let ok = RetryPolicy::from_parts(Some(3), None, Some(5000.0), None).unwrap();
        assert_eq!(ok.max_retries, 3);
        assert_eq!(ok.max_delay, Duration::from_secs(5));
    }

    #[test]
    fn backoff_grows_is_capped_and_respects_retry_after() {
        let p = RetryPolicy::default();
        for retry in 0..20 {
            let d = p.backoff(retry, None);
            let full = (0.1 * 2f64.powi(retry as i32)).min(10.0);
            assert!(d.as_secs_f64() >= full * 0.5 - 1e-9 && d.as_secs_f64() <= full + 1e-9, "{retry}: {d:?}");
        }
        assert_eq!(p.backoff(0, Some(Duration::from_secs(2))), Duration::from_secs(2));
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
    }

    proptest! {
        #[test]
        fn retry_after_never_panics(s in any::<String>()) {
            if let Some(d) = parse_retry_after(&s) {
                prop_assert!(d <= Duration::from_secs(3600));
            }
        }

        #[test]
        fn from_parts_never_panics(a in any::<i64>(), b in any::<f64>(), c in any::<f64>(), d in any::<f64>()) {
            let _ = RetryPolicy::from_parts(Some(a), Some(b), Some(c), Some(d));
        }
    }
}
