//! When a failed call is tried again, and after how long: exponential backoff with full jitter,
//! or the server's own `Retry-After`, and never past the caller's deadline.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// How failed calls are retried. Only transient failures are (see
/// [`EscError::is_transient`](crate::EscError::is_transient)): connection errors, 429 and 5xx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries per call, the first included; 1 never retries.
    pub max_attempts: u32,
    /// The backoff before the first retry is drawn from `0..=base`, then doubles.
    pub base: Duration,
    /// The backoff never exceeds this (before jitter).
    pub cap: Duration,
}

impl Default for RetryPolicy {
    /// Four retries, 100 ms doubling up to 2 s: under 4 s of waiting in all, well inside a
    /// mount's 30-second budget.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// Never retries.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The longest backoff before retry number `retry` (0 for the first retry): `base * 2^retry`,
    /// at most `cap`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The backoff before retry number `retry`, full jitter: uniform in `0..=ceiling(retry)`, so
    /// that many clients failing together do not retry together.
    pub fn backoff(&self, retry: u32) -> Duration {
        jittered(self.ceiling(retry), random_u64())
    }
}

/// `ceiling * r / 2^64`.
fn jittered(ceiling: Duration, r: u64) -> Duration {
    let nanos = ceiling.as_nanos().min(u128::from(u64::MAX));
    let scaled = (nanos * u128::from(r)) >> 64;
    Duration::from_nanos(scaled as u64)
}

/// A fresh random number from the standard library's per-hasher random keys; jitter needs no
/// more than that.
fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0x9e37_79b9_7f4a_7c15);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_doubles_from_the_base_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let ceilings: Vec<u64> = (0..7)
            .map(|n| policy.ceiling(n).as_millis() as u64)
            .collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(policy.ceiling(1000), Duration::from_secs(2));
    }

    #[test]
    fn full_jitter_spans_zero_to_the_ceiling() {
        let ceiling = Duration::from_secs(1);
        assert_eq!(jittered(ceiling, 0), Duration::ZERO);
        assert!(jittered(ceiling, u64::MAX) <= ceiling);
        assert!(jittered(ceiling, u64::MAX) > Duration::from_millis(999));
        assert_eq!(jittered(ceiling, 1 << 63), Duration::from_millis(500));
        let policy = RetryPolicy::default();
        let draws: Vec<Duration> = (0..50).map(|_| policy.backoff(3)).collect();
        assert!(draws.iter().all(|d| *d <= Duration::from_millis(800)));
        assert!(
            draws.iter().any(|d| *d != draws[0]),
            "jitter must vary: {draws:?}"
        );
    }

    #[test]
    fn none_never_retries() {
        assert_eq!(RetryPolicy::none().max_attempts, 1);
    }
}
