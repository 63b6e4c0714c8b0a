//! How a wait paces itself: the policy, its validation and the jitter.

use std::time::Duration;

use super::rng::Rng;

/// How often to ask, how long to keep asking, and how many failures in a row to
/// tolerate.
///
/// The fields are public so a policy can be written as a literal with
/// `..WaitPolicy::default()`; call [`WaitPolicy::validate`] on values a user
/// typed. [`Waiter`](crate::Waiter) itself accepts any policy and stays total: a growth that
/// is not a finite number of at least 1 counts as 1, a `max_interval` below
/// `min_interval` counts as `min_interval`, a `max_pause_fraction` that is not
/// a finite number above 0 counts as `None`, and `max_wait` is capped at
/// [`WaitPolicy::MAX_WAIT_LIMIT`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WaitPolicy {
    /// The shortest pause between an answer and the next request, and the
    /// first pause after a pending answer: it bounds the load one waiter puts
    /// on the service.
    pub min_interval: Duration,
    /// The longest pause the backoff grows to; bounds how late a change is seen.
    pub max_interval: Duration,
    /// Factor by which the pause grows after each pending answer (and each
    /// failure in a row); 1 polls at a fixed `min_interval`.
    pub growth: f64,
    /// How the pause is spread so that many waiters do not ask in lockstep.
    pub jitter: Jitter,
    /// How long the whole wait may take, counted from [`Waiter::new`](crate::Waiter::new).
    pub max_wait: Duration,
    /// Retryable failures (HTTP or transport) tolerated in a row; one more ends
    /// the wait with that failure. 0 means no retries.
    pub max_consecutive_errors: u32,
    /// Caps each pause after a pending answer at this fraction of the time
    /// waited so far (never below `min_interval`), jitter and hints included.
    /// A change is then seen within `max(min_interval, fraction * elapsed)`,
    /// a bound on the detection lag relative to the wait, while the pauses
    /// still grow geometrically, so long waits cost few requests. `None`
    /// leaves the backoff uncapped.
    pub max_pause_fraction: Option<f64>,
    /// Seeds the jitter, mixed with the operation's identity (and, in a
    /// fleet, the instance's place): the same seed, operation and instants
    /// give the same pauses, so a run can be replayed exactly.
    pub seed: u64,
}

impl Default for WaitPolicy {
    /// 1 s to 15 s growing by 1.5 with equal jitter, each pause at most a
    /// tenth of the time waited so far, 10 minutes, 5 failures in a row: a
    /// change is seen within `max(1 s, 10 % of the wait)`, and a long wait
    /// settles at one request every 8 to 15 s.
    fn default() -> Self {
        WaitPolicy {
            min_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(15),
            growth: 1.5,
            jitter: Jitter::Equal,
            max_wait: Duration::from_secs(600),
            max_consecutive_errors: 5,
            max_pause_fraction: Some(0.1),
            seed: 0,
        }
    }
}

/// Why a [`WaitPolicy`] was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A zero `min_interval` would poll the service in a busy loop.
    #[error("min_interval must be greater than zero")]
    ZeroMinInterval,
    /// The interval bounds are the wrong way round.
    #[error("min_interval ({min:?}) must not exceed max_interval ({max:?})")]
    IntervalOrder {
        /// The `min_interval` given.
        min: Duration,
        /// The `max_interval` given.
        max: Duration,
    },
    /// The growth factor is below 1 or not a finite number.
    #[error("growth must be a finite number of at least 1, got {0}")]
    Growth(f64),
    /// A zero `max_wait` could not send a single request.
    #[error("max_wait must be greater than zero")]
    ZeroMaxWait,
    /// `max_pause_fraction` is not a finite number above 0.
    #[error("max_pause_fraction must be a finite number above 0, got {0}")]
    PauseFraction(f64),
    /// `max_wait` is beyond [`WaitPolicy::MAX_WAIT_LIMIT`].
    #[error("max_wait must be at most {limit:?}, got {max_wait:?}")]
    MaxWaitTooLong {
        /// The `max_wait` given.
        max_wait: Duration,
        /// The limit.
        limit: Duration,
    },
}

impl WaitPolicy {
    /// The longest `max_wait` accepted (366 days): far past any real wait, and
    /// small enough that adding it to an `Instant` cannot overflow.
    pub const MAX_WAIT_LIMIT: Duration = Duration::from_secs(366 * 24 * 60 * 60);

    /// Check the policy before a wait starts, so a bad flag is reported as
    /// such instead of being quietly brought into range by [`Waiter`](crate::Waiter).
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.min_interval.is_zero() {
            return Err(PolicyError::ZeroMinInterval);
        }
        if self.min_interval > self.max_interval {
            return Err(PolicyError::IntervalOrder {
                min: self.min_interval,
                max: self.max_interval,
            });
        }
        if !(self.growth.is_finite() && self.growth >= 1.0) {
            return Err(PolicyError::Growth(self.growth));
        }
        if let Some(fraction) = self.max_pause_fraction
            && !(fraction.is_finite() && fraction > 0.0)
        {
            return Err(PolicyError::PauseFraction(fraction));
        }
        if self.max_wait.is_zero() {
            return Err(PolicyError::ZeroMaxWait);
        }
        if self.max_wait > Self::MAX_WAIT_LIMIT {
            return Err(PolicyError::MaxWaitTooLong {
                max_wait: self.max_wait,
                limit: Self::MAX_WAIT_LIMIT,
            });
        }
        Ok(())
    }

    pub(crate) fn effective_growth(&self) -> f64 {
        if self.growth.is_finite() && self.growth >= 1.0 {
            self.growth
        } else {
            1.0
        }
    }

    pub(crate) fn ceiling(&self) -> Duration {
        self.max_interval.max(self.min_interval)
    }

    /// The longest pause after a pending answer `elapsed` into the wait:
    /// `max_interval`, lowered to `max(min_interval, fraction * elapsed)`.
    /// A fraction that is not a finite number above 0 counts as no cap.
    pub(crate) fn pause_cap(&self, elapsed: Duration) -> Duration {
        let ceiling = self.ceiling();
        let Some(fraction) = self
            .max_pause_fraction
            .filter(|f| f.is_finite() && *f > 0.0)
        else {
            return ceiling;
        };
        Duration::try_from_secs_f64(elapsed.as_secs_f64() * fraction)
            .map_or(ceiling, |cap| cap.clamp(self.min_interval, ceiling))
    }

    /// The un-jittered pause after the `n`-th pending answer or failure in a
    /// row (`n >= 1`): `min_interval * growth^(n-1)`, capped at `max_interval`.
    pub(crate) fn step(&self, n: u32) -> Duration {
        let (min, max) = (self.min_interval, self.ceiling());
        let exponent = i32::try_from(n.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = min.as_secs_f64() * self.effective_growth().powi(exponent);
        Duration::try_from_secs_f64(secs).map_or(max, |d| d.clamp(min, max))
    }
}

/// How a pause is spread between `min_interval` and the backoff value `d`.
///
/// The spread never goes below `min_interval`, so jitter cannot make a waiter
/// poll faster than its policy allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jitter {
    /// Exactly `d`: predictable, for tests and fixed-rate baselines.
    None,
    /// Uniform in `[min_interval, d]`: the widest spread.
    Full,
    /// Uniform in the upper half of `[min_interval, d]`: spreads waiters while
    /// keeping most of the backoff.
    #[default]
    Equal,
}

impl Jitter {
    pub(crate) fn apply(self, lo: Duration, hi: Duration, rng: &mut impl Rng) -> Duration {
        let span = hi.saturating_sub(lo);
        let (base, spread) = match self {
            Jitter::None => return hi,
            Jitter::Full => (lo, span),
            Jitter::Equal => (lo + span / 2, span - span / 2),
        };
        // 53 random bits give a uniform fraction in [0, 1).
        let fraction = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let offset = Duration::try_from_secs_f64(spread.as_secs_f64() * fraction)
            .map_or(spread, |d| d.min(spread));
        base + offset
    }
}
