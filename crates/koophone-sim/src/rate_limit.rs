//! Per-token rate limiting: a token bucket per token, in integer
//! milliseconds so runs are exactly reproducible.

use std::collections::HashMap;
use std::time::Duration;

use crate::scenario::RateLimit;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    credits: u32,
    /// When the next credit comes back, in ms since start.
    next_refill_ms: u64,
}

/// Buckets for every token seen so far.
#[derive(Debug, Clone)]
pub(crate) struct RateLimiter {
    limit: RateLimit,
    buckets: HashMap<String, Bucket>,
}

impl RateLimiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: HashMap::new(),
        }
    }

    /// Takes a credit for `token`, or says how many whole seconds to wait
    /// (at least 1, as Retry-After has no finer unit).
    pub(crate) fn check(&mut self, token: &str, at: Duration) -> Result<(), u64> {
        let now_ms = u64::try_from(at.as_millis()).unwrap_or(u64::MAX);
        let limit = self.limit;
        let bucket = match self.buckets.get_mut(token) {
            Some(bucket) => bucket,
            None => self.buckets.entry(token.to_owned()).or_insert(Bucket {
                credits: limit.burst,
                next_refill_ms: now_ms.saturating_add(limit.refill_every_ms),
            }),
        };
        if now_ms >= bucket.next_refill_ms {
            let periods = (now_ms - bucket.next_refill_ms) / limit.refill_every_ms + 1;
            let added = u32::try_from(periods).unwrap_or(u32::MAX);
            bucket.credits = bucket.credits.saturating_add(added).min(limit.burst);
            bucket.next_refill_ms = bucket
                .next_refill_ms
                .saturating_add(periods.saturating_mul(limit.refill_every_ms));
        }
        if bucket.credits == 0 {
            let wait_ms = bucket.next_refill_ms.saturating_sub(now_ms);
            return Err(wait_ms.div_ceil(1000).max(1));
        }
        if bucket.credits == limit.burst {
            // A full bucket does not accumulate: restart the refill clock.
            bucket.next_refill_ms = now_ms.saturating_add(limit.refill_every_ms);
        }
        bucket.credits -= 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let mut rl = RateLimiter::new(RateLimit {
            burst: 2,
            refill_every_ms: 1500,
        });
        let t = Duration::from_millis;
        assert_eq!(rl.check("a", t(0)), Ok(()));
        assert_eq!(rl.check("a", t(1)), Ok(()));
        assert_eq!(rl.check("a", t(2)), Err(2), "1498 ms rounds up to 2 s");
        assert_eq!(rl.check("b", t(2)), Ok(()), "buckets are per token");
        assert_eq!(rl.check("a", t(1000)), Err(1));
        assert_eq!(rl.check("a", t(1500)), Ok(()));
        assert_eq!(rl.check("a", t(1501)), Err(2));
        assert_eq!(rl.check("a", t(10_000)), Ok(()));
        assert_eq!(rl.check("a", t(10_000)), Ok(()));
        assert!(
            rl.check("a", t(10_000)).is_err(),
            "refill is capped at burst"
        );
    }
}
