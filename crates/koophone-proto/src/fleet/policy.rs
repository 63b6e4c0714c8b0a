//! The knobs of a fleet: request rate, concurrency, retry budget and how the
//! rate adapts to throttling.

/// How a [`Fleet`](super::Fleet) shares the service among its waiters.
///
/// The defaults are the CLI's (`--rate 20`, `--concurrency 16`) and a retry
/// budget shaped like the AWS SDKs' retry token bucket (500 tokens, a retry
/// costs 5, one after a timeout 10, every decoded answer refunds 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FleetPolicy {
    /// Requests per second for the whole fleet. At most `floor(rate)`
    /// requests go out in any one-second window (one per `1 / rate` seconds
    /// below 1/s), whatever the service answers.
    pub rate: f64,
    /// Requests in flight at once (a driver's worker threads).
    pub concurrency: usize,
    /// The send rate never drops below this while throttled (requests/s).
    pub min_rate: f64,
    /// A 429 multiplies the send rate by this (at most once a second).
    pub throttle_decrease: f64,
    /// After a second without 429, the send rate climbs back by this
    /// fraction of `rate` per second up to 90% of the rate the last 429 came
    /// at, then ten times slower, up to `rate`.
    pub recovery: f64,
    /// Tokens the retry budget holds (and starts with).
    pub retry_capacity: u32,
    /// Tokens one retry costs.
    pub retry_cost: u32,
    /// Tokens one retry after a transport timeout costs (a timeout is
    /// expensive for the service too).
    pub timeout_retry_cost: u32,
    /// Tokens every decoded answer puts back (a retried request that then
    /// succeeds also gets its retry's cost back).
    pub success_refill: u32,
}

impl Default for FleetPolicy {
    fn default() -> Self {
        FleetPolicy {
            rate: 20.0,
            concurrency: 16,
            min_rate: 1.0,
            throttle_decrease: 0.5,
            recovery: 0.02,
            retry_capacity: 500,
            retry_cost: 5,
            timeout_retry_cost: 10,
            success_refill: 1,
        }
    }
}

/// Why a [`FleetPolicy`] cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FleetPolicyError {
    /// `rate` is not a finite number in (0, [`FleetPolicy::MAX_RATE`]].
    #[error("rate must be a number above 0 and at most {max}, got {rate}")]
    Rate {
        /// The rate given.
        rate: f64,
        /// The largest rate accepted.
        max: f64,
    },
    /// `concurrency` is 0.
    #[error("concurrency must be at least 1")]
    ZeroConcurrency,
    /// `min_rate` is not a finite number in (0, rate].
    #[error("min_rate must be a number above 0 and at most rate ({rate}), got {min_rate}")]
    MinRate {
        /// The floor given.
        min_rate: f64,
        /// The rate it must not exceed.
        rate: f64,
    },
    /// `throttle_decrease` is not in (0, 1].
    #[error("throttle_decrease must be above 0 and at most 1, got {0}")]
    ThrottleDecrease(f64),
    /// `recovery` is not a finite number of at least 0.
    #[error("recovery must be a finite number of at least 0, got {0}")]
    Recovery(f64),
}

impl FleetPolicy {
    /// The largest `rate` accepted: the limiter remembers one instant per
    /// request of the last second.
    pub const MAX_RATE: f64 = 100_000.0;

    /// Check every field; a [`Fleet`](super::Fleet) is only built from a
    /// policy that passes.
    pub fn validate(&self) -> Result<(), FleetPolicyError> {
        if !(self.rate.is_finite() && self.rate > 0.0 && self.rate <= Self::MAX_RATE) {
            return Err(FleetPolicyError::Rate {
                rate: self.rate,
                max: Self::MAX_RATE,
            });
        }
        if self.concurrency == 0 {
            return Err(FleetPolicyError::ZeroConcurrency);
        }
        if !(self.min_rate.is_finite() && self.min_rate > 0.0 && self.min_rate <= self.rate) {
            return Err(FleetPolicyError::MinRate {
                min_rate: self.min_rate,
                rate: self.rate,
            });
        }
        if !(self.throttle_decrease > 0.0 && self.throttle_decrease <= 1.0) {
            return Err(FleetPolicyError::ThrottleDecrease(self.throttle_decrease));
        }
        if !(self.recovery.is_finite() && self.recovery >= 0.0) {
            return Err(FleetPolicyError::Recovery(self.recovery));
        }
        Ok(())
    }

    /// This policy with `rate` and `concurrency` set (as the CLI's flags do),
    /// with `min_rate` lowered to `rate` if it was above.
    pub fn with_limits(self, rate: f64, concurrency: usize) -> FleetPolicy {
        FleetPolicy {
            rate,
            concurrency,
            min_rate: if self.min_rate > rate {
                rate
            } else {
                self.min_rate
            },
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_cli_contract_and_valid() {
        let policy = FleetPolicy::default();
        assert_eq!(policy.rate, 20.0);
        assert_eq!(policy.concurrency, 16);
        assert_eq!(policy.validate(), Ok(()));
    }

    #[test]
    fn validate_names_each_problem() {
        let ok = FleetPolicy::default();
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e9] {
            assert!(matches!(
                FleetPolicy { rate, ..ok }.validate(),
                Err(FleetPolicyError::Rate { .. })
            ));
        }
        assert_eq!(
            FleetPolicy {
                concurrency: 0,
                ..ok
            }
            .validate(),
            Err(FleetPolicyError::ZeroConcurrency)
        );
        assert!(matches!(
            FleetPolicy {
                min_rate: 30.0,
                ..ok
            }
            .validate(),
            Err(FleetPolicyError::MinRate { .. })
        ));
        assert!(matches!(
            FleetPolicy {
                throttle_decrease: 0.0,
                ..ok
            }
            .validate(),
            Err(FleetPolicyError::ThrottleDecrease(_))
        ));
        assert!(matches!(
            FleetPolicy {
                recovery: f64::NAN,
                ..ok
            }
            .validate(),
            Err(FleetPolicyError::Recovery(_))
        ));
    }

    #[test]
    fn with_limits_keeps_the_floor_below_the_rate() {
        let policy = FleetPolicy::default().with_limits(0.5, 2);
        assert_eq!(
            (policy.rate, policy.concurrency, policy.min_rate),
            (0.5, 2, 0.5)
        );
        assert_eq!(policy.validate(), Ok(()));
    }
}
