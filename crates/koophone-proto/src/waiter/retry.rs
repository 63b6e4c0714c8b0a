//! The pause after a failure, shared by the machines and by requests that
//! run outside them (the IAM token request a driver makes for its
//! credentials), so every retry in the project follows one rule.

use std::time::Duration;

use super::policy::WaitPolicy;
use super::rng::{Rng, SeededRng};
use crate::error::{ApiError, RetryAfter, TransportErrorKind};

/// The pause before retrying after the `streak`-th failure in a row, and
/// its floor (`min_interval`, raised to a `Retry-After` delay).
pub(crate) fn failure_pause(
    policy: &WaitPolicy,
    streak: u32,
    retry_after: Option<Duration>,
    rng: &mut impl Rng,
) -> (Duration, Duration) {
    let min = policy.min_interval;
    let floor = retry_after.map_or(min, |delay| delay.max(min));
    let pause = policy
        .jitter
        .apply(min, policy.step(streak), rng)
        .max(floor);
    (pause, floor)
}

/// The delay a failure asks for: `Retry-After` as a delay. An absolute date
/// needs a wall clock the core does not read, and is ignored.
pub(crate) fn asked_delay(error: &ApiError) -> Option<Duration> {
    match error.retry_after() {
        Some(RetryAfter::Delay(delay)) => Some(delay),
        Some(RetryAfter::At(_)) | None => None,
    }
}

/// Retries of a request a driver sends outside a machine, by the machines'
/// rule: what is retryable, how many failures in a row, how long to pause
/// (backoff, jitter, `Retry-After`). The driver still bounds the whole by
/// its own deadline.
///
/// ```
/// use std::time::Duration;
/// use koophone_proto::{Jitter, Retry, TransportErrorKind, WaitPolicy};
///
/// let policy = WaitPolicy {
///     min_interval: Duration::from_millis(200),
///     jitter: Jitter::None,
///     max_consecutive_errors: 1,
///     ..WaitPolicy::default()
/// };
/// let mut retry = Retry::new(policy);
/// assert_eq!(retry.after_transport_error(TransportErrorKind::Reset), Some(Duration::from_millis(200)));
/// // One failure in a row was allowed: the second ends it.
/// assert_eq!(retry.after_transport_error(TransportErrorKind::Reset), None);
/// ```
#[derive(Debug, Clone)]
pub struct Retry {
    policy: WaitPolicy,
    rng: SeededRng,
    streak: u32,
}

impl Retry {
    /// Retries under `policy` (its `min_interval`, `max_interval`, `growth`,
    /// `jitter`, `max_consecutive_errors` and `seed`).
    pub fn new(policy: WaitPolicy) -> Retry {
        Retry {
            rng: SeededRng::new(policy.seed),
            policy,
            streak: 0,
        }
    }

    /// After a service error: the pause before the next try, or `None` when
    /// it is not retryable or the failures in a row ran out.
    pub fn after_error(&mut self, error: &ApiError) -> Option<Duration> {
        self.after_failure(error.is_retryable(), asked_delay(error))
    }

    /// After a transport failure: the pause before the next try, or `None`.
    pub fn after_transport_error(&mut self, kind: TransportErrorKind) -> Option<Duration> {
        self.after_failure(kind.is_retryable(), None)
    }

    fn after_failure(
        &mut self,
        retryable: bool,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        self.streak = self.streak.saturating_add(1);
        if !retryable || self.streak > self.policy.max_consecutive_errors {
            return None;
        }
        let (pause, _) = failure_pause(&self.policy, self.streak, retry_after, &mut self.rng);
        Some(pause)
    }
}
