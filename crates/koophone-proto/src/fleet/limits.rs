//! The limits a fleet's waiters share: the send rate (with its adaptation to
//! throttling) and the retry budget.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::policy::FleetPolicy;
use crate::waiter::{Failure, RetryGate};

const SECOND: Duration = Duration::from_secs(1);
/// The ceiling is this fraction of the rate a 429 came at.
const CEILING_MARGIN: f64 = 0.9;
/// Above the ceiling the rate climbs this much slower than below it.
const PROBE_SPEED: f64 = 0.1;

/// Decides when the next request may go out.
///
/// A sliding log of send instants: with the current rate `c`, a send is
/// allowed when fewer than `n = max(1, floor(c))` sends happened in the last
/// `w = max(1 s, 1/c)`. Any `n + 1` consecutive sends then span at least `w`,
/// so no half-open window of one second ever holds more than `n` — never
/// more than `floor(rate)` of the policy, since `c <= rate`. The log keeps
/// the last `floor(rate)` instants, so when the rate climbs back nothing
/// that was forgotten could break the window.
#[derive(Debug, Clone)]
pub(crate) struct RateLimiter {
    nominal: f64,
    floor: f64,
    current: f64,
    decrease: f64,
    /// Requests/s regained per second (absolute).
    recovery: f64,
    log: VecDeque<Instant>,
    /// Nothing is sent before this (`Retry-After`, fleet-wide).
    hold_until: Option<Instant>,
    last_throttle: Option<Instant>,
    /// Just under the rate the service last throttled at: recovery is quick
    /// up to it and slow beyond it, so the fleet does not keep overshooting
    /// a limit it has found.
    ceiling: Option<f64>,
    /// The instant recovery was last accounted up to.
    last_update: Option<Instant>,
}

impl RateLimiter {
    pub(crate) fn new(policy: &FleetPolicy) -> RateLimiter {
        RateLimiter {
            nominal: policy.rate,
            floor: policy.min_rate.min(policy.rate),
            current: policy.rate,
            decrease: policy.throttle_decrease,
            recovery: policy.recovery * policy.rate,
            log: VecDeque::with_capacity(Self::slots(policy.rate)),
            hold_until: None,
            last_throttle: None,
            ceiling: None,
            last_update: None,
        }
    }

    fn slots(rate: f64) -> usize {
        // A validated rate is at most FleetPolicy::MAX_RATE: the cast is exact.
        (rate.floor() as usize).max(1)
    }

    fn window(rate: f64) -> Duration {
        if rate >= 1.0 {
            SECOND
        } else {
            Duration::try_from_secs_f64(1.0 / rate).unwrap_or(Duration::MAX)
        }
    }

    /// The send rate now (requests/s), lowered while throttled.
    pub(crate) fn current(&self) -> f64 {
        self.current
    }

    /// Let time pass: after a second without 429, the rate climbs back.
    pub(crate) fn advance(&mut self, now: Instant) {
        let from = match (self.last_update, self.last_throttle) {
            (Some(update), Some(throttle)) => update.max(throttle + SECOND),
            (Some(update), None) => update,
            (None, _) => now,
        };
        if now > from && self.current < self.nominal {
            let mut seconds = (now - from).as_secs_f64();
            let fast = self.recovery;
            if let Some(ceiling) = self.ceiling.filter(|c| self.current < *c) {
                let to_ceiling = (ceiling - self.current) / fast;
                if seconds <= to_ceiling {
                    self.current += fast * seconds;
                    seconds = 0.0;
                } else {
                    self.current = ceiling;
                    seconds -= to_ceiling;
                }
            }
            let speed = if self.ceiling.is_some() {
                fast * PROBE_SPEED
            } else {
                fast
            };
            self.current = (self.current + speed * seconds).min(self.nominal);
        }
        if self.last_update.is_none_or(|update| now > update) {
            self.last_update = Some(now);
        }
    }

    /// `None` if a request may go out at `now`, else the first instant one may.
    pub(crate) fn next_allowed(&self, now: Instant) -> Option<Instant> {
        let n = Self::slots(self.current);
        let by_rate = match self.log.len().checked_sub(n) {
            Some(index) => self.log[index].checked_add(Self::window(self.current)),
            None => None,
        };
        let at = match (by_rate, self.hold_until) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        at.filter(|at| *at > now)
    }

    /// A request went out at `now`.
    pub(crate) fn record(&mut self, now: Instant) {
        if self.log.len() == Self::slots(self.nominal) {
            self.log.pop_front();
        }
        self.log.push_back(now);
    }

    /// The service answered 429 at `now`: slow down (at most once a second)
    /// and hold every request until `retry_after` has passed.
    pub(crate) fn throttled(&mut self, now: Instant, retry_after: Option<Duration>) {
        if let Some(until) = retry_after.and_then(|delay| now.checked_add(delay)) {
            self.hold_until = Some(self.hold_until.map_or(until, |held| held.max(until)));
        }
        if self
            .last_throttle
            .is_none_or(|last| now.saturating_duration_since(last) >= SECOND)
        {
            self.ceiling = Some(self.current * CEILING_MARGIN);
            self.current = (self.current * self.decrease).max(self.floor);
            self.last_throttle = Some(now);
        }
    }
}

/// The retry token bucket: retries spend tokens, decoded answers refill it.
/// When it is empty a failure is not retried; the waiter treats it as an
/// observation and polls again at its normal cadence.
#[derive(Debug, Clone)]
pub(crate) struct RetryBudget {
    tokens: u32,
    capacity: u32,
    retry_cost: u32,
    timeout_cost: u32,
    refill: u32,
}

impl RetryBudget {
    pub(crate) fn new(policy: &FleetPolicy) -> RetryBudget {
        RetryBudget {
            tokens: policy.retry_capacity,
            capacity: policy.retry_capacity,
            retry_cost: policy.retry_cost,
            timeout_cost: policy.timeout_retry_cost,
            refill: policy.success_refill,
        }
    }

    pub(crate) fn tokens(&self) -> u32 {
        self.tokens
    }

    fn cost(&self, failure: &Failure) -> u32 {
        if failure.timeout {
            self.timeout_cost
        } else {
            self.retry_cost
        }
    }

    /// A decoded answer came back; `refund` is what its retry cost, if any.
    pub(crate) fn succeeded(&mut self, refund: u32) {
        self.tokens = self
            .tokens
            .saturating_add(self.refill)
            .saturating_add(refund)
            .min(self.capacity);
    }
}

/// The budget as one waiter's retry gate, remembering what it spent.
pub(crate) struct BudgetGate<'a> {
    pub(crate) budget: &'a mut RetryBudget,
    pub(crate) spent: u32,
}

impl RetryGate for BudgetGate<'_> {
    fn can_retry(&self, failure: &Failure) -> bool {
        self.budget.tokens >= self.budget.cost(failure)
    }

    fn spend(&mut self, failure: &Failure) {
        let cost = self.budget.cost(failure);
        self.budget.tokens = self.budget.tokens.saturating_sub(cost);
        self.spent = cost;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rate: f64) -> RateLimiter {
        RateLimiter::new(&FleetPolicy {
            rate,
            min_rate: rate.min(1.0),
            ..FleetPolicy::default()
        })
    }

    /// Send as fast as the limiter allows, probing at irregular instants.
    fn greedy_sends(limiter: &mut RateLimiter, start: Instant, horizon: Duration) -> Vec<Instant> {
        let mut sends = Vec::new();
        let mut now = start;
        let mut step = 0u64;
        while now < start + horizon {
            limiter.advance(now);
            match limiter.next_allowed(now) {
                None => {
                    limiter.record(now);
                    sends.push(now);
                }
                Some(at) => {
                    // Sometimes arrive exactly on time, sometimes a bit late.
                    step = step
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    now = at + Duration::from_micros((step >> 33) % 3 * 1700);
                }
            }
        }
        sends
    }

    /// The largest number of sends in any half-open one-second window: a
    /// window holding the most sends can start at a send.
    fn busiest_second(sends: &[Instant]) -> usize {
        let mut best = 0;
        let mut end = 0;
        for (start, at) in sends.iter().enumerate() {
            while end < sends.len() && sends[end] < *at + SECOND {
                end += 1;
            }
            best = best.max(end - start);
        }
        best
    }

    #[test]
    fn no_one_second_window_exceeds_the_rate() {
        let t0 = Instant::now();
        for rate in [1.0, 2.5, 20.0, 200.0] {
            let mut l = limiter(rate);
            let sends = greedy_sends(&mut l, t0, Duration::from_secs(30));
            assert_eq!(busiest_second(&sends), rate.floor() as usize, "rate {rate}");
            // And the limiter is not stingy: it reaches the rate over time.
            assert!(
                sends.len() as f64 >= rate.floor() * 29.0,
                "rate {rate}: {}",
                sends.len()
            );
        }
    }

    #[test]
    fn rates_below_one_space_requests_out() {
        let t0 = Instant::now();
        let mut l = limiter(0.25);
        let sends = greedy_sends(&mut l, t0, Duration::from_secs(20));
        assert_eq!(sends.len(), 5);
        for pair in sends.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_secs(4));
        }
    }

    #[test]
    fn throttling_halves_once_a_second_then_recovers_gradually() {
        let t0 = Instant::now();
        let mut l = limiter(200.0);
        l.advance(t0);
        l.throttled(t0, None);
        assert_eq!(l.current(), 100.0);
        // A burst of 429s from requests already in flight counts once.
        l.throttled(t0 + Duration::from_millis(500), None);
        assert_eq!(l.current(), 100.0);
        l.throttled(t0 + SECOND, None);
        assert_eq!(l.current(), 50.0);
        // Recovery starts a second after the last 429: 2% of 200 per second.
        l.advance(t0 + Duration::from_secs(2));
        assert_eq!(l.current(), 50.0);
        l.advance(t0 + Duration::from_secs(7));
        assert!((l.current() - 70.0).abs() < 1e-9, "{}", l.current());
        // Quick up to 90% of the rate throttled at last (100), slow beyond.
        l.advance(t0 + Duration::from_secs(12));
        assert!((l.current() - 90.0).abs() < 1e-9, "{}", l.current());
        l.advance(t0 + Duration::from_secs(22));
        assert!((l.current() - 94.0).abs() < 1e-9, "{}", l.current());
        l.advance(t0 + Duration::from_secs(600));
        assert_eq!(l.current(), 200.0);
    }

    #[test]
    fn the_rate_never_drops_below_its_floor() {
        let t0 = Instant::now();
        let mut l = limiter(20.0);
        for s in 0..20 {
            l.throttled(t0 + Duration::from_secs(s), None);
        }
        assert_eq!(l.current(), 1.0);
    }

    #[test]
    fn retry_after_holds_every_request() {
        let t0 = Instant::now();
        let mut l = limiter(20.0);
        assert_eq!(l.next_allowed(t0), None);
        l.throttled(t0, Some(Duration::from_secs(3)));
        assert_eq!(l.next_allowed(t0), Some(t0 + Duration::from_secs(3)));
        // A shorter hold later does not shorten it.
        l.throttled(t0 + SECOND, Some(SECOND));
        assert_eq!(
            l.next_allowed(t0 + SECOND),
            Some(t0 + Duration::from_secs(3))
        );
        assert_eq!(l.next_allowed(t0 + Duration::from_secs(3)), None);
    }

    #[test]
    fn a_lower_rate_after_throttling_keeps_the_window() {
        let t0 = Instant::now();
        let mut l = limiter(20.0);
        let mut sends = greedy_sends(&mut l, t0, Duration::from_secs(3));
        l.throttled(t0 + Duration::from_secs(3), None);
        sends.extend(greedy_sends(
            &mut l,
            t0 + Duration::from_secs(3),
            Duration::from_secs(1),
        ));
        let last_second: Vec<_> = sends
            .iter()
            .filter(|at| **at >= t0 + Duration::from_secs(3))
            .collect();
        assert!(last_second.len() <= 10, "{}", last_second.len());
        assert!(busiest_second(&sends) <= 20);
    }

    proptest::proptest! {
        /// Whatever the rate, the 429s and the instants a driver asks at,
        /// no half-open second holds more than `floor(rate)` sends (one per
        /// `1 / rate` below 1/s).
        #[test]
        fn the_window_holds_under_any_schedule(
            rate in 0.2f64..300.0,
            probes in proptest::collection::vec((0u64..1500, proptest::bool::weighted(0.05), 0u64..3), 1..400),
        ) {
            let t0 = Instant::now();
            let mut l = RateLimiter::new(&FleetPolicy {
                rate,
                min_rate: rate.min(0.2),
                ..FleetPolicy::default()
            });
            let mut now = t0;
            let mut sends = Vec::new();
            for (step_ms, throttle, retry_after_s) in probes {
                now += Duration::from_millis(step_ms);
                l.advance(now);
                if throttle {
                    l.throttled(now, Some(Duration::from_secs(retry_after_s)));
                }
                // Send as many as allowed at this instant.
                while l.next_allowed(now).is_none() {
                    l.record(now);
                    sends.push(now);
                }
            }
            let allowed = (rate.floor() as usize).max(1);
            proptest::prop_assert!(busiest_second(&sends) <= allowed);
            if rate < 1.0 {
                let spacing = Duration::from_secs_f64(1.0 / rate) - Duration::from_micros(1);
                for pair in sends.windows(2) {
                    proptest::prop_assert!(pair[1] - pair[0] >= spacing);
                }
            }
        }
    }

    fn failure(timeout: bool) -> Failure {
        Failure {
            throttled: false,
            timeout,
            retry_after: None,
        }
    }

    #[test]
    fn retries_spend_and_answers_refill_the_budget() {
        let policy = FleetPolicy {
            retry_capacity: 12,
            ..FleetPolicy::default()
        };
        let mut budget = RetryBudget::new(&policy);
        let mut gate = BudgetGate {
            budget: &mut budget,
            spent: 0,
        };
        assert!(gate.can_retry(&failure(true)));
        gate.spend(&failure(true));
        assert_eq!((gate.spent, gate.budget.tokens()), (10, 2));
        assert!(!gate.can_retry(&failure(false)));
        budget.succeeded(0);
        budget.succeeded(0);
        budget.succeeded(0);
        assert_eq!(budget.tokens(), 5);
        // A retried request that succeeds gets its cost back, up to capacity.
        budget.succeeded(10);
        assert_eq!(budget.tokens(), 12);
    }
}
