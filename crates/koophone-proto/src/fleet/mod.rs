//! Many waits at once: a sans-IO scheduler over many [`Waiter`]s of one
//! operation and target, sharing one timer queue, one request-rate limit, one
//! concurrency limit and one retry budget.
//!
//! Each instance keeps its own [`Waiter`] — its backoff, jitter, deadline,
//! error budget and `Retry-After` handling are exactly the single waiter's —
//! and the fleet decides when each waiter's request may actually go out:
//!
//! - **Timer queue**: due instants sit in one binary heap; every event costs
//!   O(log n), never a scan of the instances.
//! - **Rate**: at most `floor(rate)` requests in any one-second window (one
//!   per `1/rate` s below 1/s), see [`FleetPolicy::rate`].
//! - **Concurrency**: at most [`FleetPolicy::concurrency`] requests in flight.
//! - **Retry budget**: retries spend tokens, decoded answers refill them.
//!   When the budget is empty a retryable failure is not retried: it is only
//!   an observation and the instance is polled again at its normal cadence
//!   (it is not failed, and its error streak does not grow), so an outage
//!   adds no load and every wait picks up once it is over.
//! - **Throttling**: a 429 halves the send rate (at most once a second, down
//!   to [`FleetPolicy::min_rate`]); after a second without 429 it climbs back
//!   by [`FleetPolicy::recovery`] of the rate per second up to 90% of the
//!   rate the last 429 came at, and ten times slower beyond. A `Retry-After`
//!   holds every request of the fleet, not only the throttled instance's.
//! - **Fairness**: requests that are due go out earliest due first (the most
//!   overdue instance first), so once an instance is due at most `n - 1`
//!   others go before it: its gap between polls is at most its pause plus
//!   about `n / rate` seconds — within `max(max_interval, 2 n / rate)`
//!   whenever the rate binds in the steady state (`n / rate >= max_interval`).
//! - **Determinism**: no clock is read; instance `k`'s jitter is seeded from
//!   the policy's seed, `k` and its operation, so one input replays one run.
//!
//! # The driver loop
//!
//! Call [`Fleet::poll`] after creating the fleet, after every `handle_*`,
//! `add` or `cancel`, and whenever a [`FleetAction::WakeAt`] instant comes:
//!
//! - [`FleetAction::Send`]`(k)`: build the request with [`Fleet::request`],
//!   send it (on any free worker), and feed the answer back with
//!   [`Fleet::handle_response`] or [`Fleet::handle_transport_error`] for the
//!   same `k` — exactly once per `Send`, even if `k` was cancelled meanwhile:
//!   that is what frees its concurrency slot. Poll again right away.
//! - [`FleetAction::WakeAt`]`(t)`: nothing to do until `t` (or until an
//!   answer arrives).
//! - [`FleetAction::AwaitAnswer`]: the concurrency limit is reached; poll
//!   again when an answer has been handled.
//! - [`FleetAction::Done`]`(k, outcome)`: instance `k` finished (once each).
//! - [`FleetAction::AllDone`]: every instance is done or cancelled.
//!
//! Deadlines: an instance waiting for its turn ends with
//! [`WaitError::Deadline`] at its deadline even while the rate or the
//! concurrency limit holds everyone back; an instance with a request in
//! flight is ended by that request's answer (a late answer to a timely
//! request is honoured, as for a single waiter). So a blocking driver should
//! cap each request's timeout at the time left to the instance's deadline
//! ([`Fleet::waiter`]`(k)`, [`Waiter::deadline`]).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use koophone_proto::fleet::{Fleet, FleetAction, FleetPolicy};
//! use koophone_proto::{PrepareStatus, ShowProgress, UntilReady, WaitPolicy};
//!
//! let start = Instant::now();
//! let mut fleet = Fleet::new(FleetPolicy::default(), WaitPolicy::default(), start)?;
//! for id in ["iRJEVP9", "iRJEVQ1", "iRJEVQ2"] {
//!     fleet.add(ShowProgress::new("1008600000104285462", id)?, UntilReady, start);
//! }
//! let queuing = br#"{"data":{"status":1,"waitingCount":2},"error_code":"0","error_msg":"OK"}"#;
//! let normal = br#"{"data":{"status":0,"waitingCount":0},"error_code":"0","error_msg":"OK"}"#;
//! let mut now = start;
//! let mut ready = Vec::new();
//! loop {
//!     match fleet.poll(now) {
//!         FleetAction::Send(k) => {
//!             // A real driver sends fleet.request(k, &ctx, SystemTime::now())?.
//!             let first = fleet.waiter(k).map_or(0, |w| w.polls()) == 1;
//!             let body = if first { &queuing[..] } else { &normal[..] };
//!             fleet.handle_response(k, http::Response::new(body), now);
//!         }
//!         FleetAction::WakeAt(at) => now = at,
//!         FleetAction::AwaitAnswer => unreachable!("answers are fed back at once"),
//!         FleetAction::Done(k, outcome) => {
//!             assert_eq!(outcome?.status, PrepareStatus::Normal);
//!             ready.push(k);
//!         }
//!         FleetAction::AllDone => break,
//!     }
//! }
//! assert_eq!(ready.len(), 3);
//! let summary = fleet.summary();
//! assert_eq!((summary.ready, summary.requests), (3, 6));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::VecDeque;
use std::time::{Instant, SystemTime};

use http::{Request, Response};

use crate::context::RequestContext;
use crate::error::{InvalidInput, InvalidReason, TransportErrorKind};
use crate::operation::Operation;
use crate::waiter::{
    Action, Handled, Rng, SeededRng, Target, WaitError, WaitPolicy, Waiter, wait_seed,
};

mod limits;
mod outcome;
mod policy;
mod queue;

use limits::{BudgetGate, RateLimiter, RetryBudget};
pub use outcome::{FleetAction, FleetSummary};
pub use policy::{FleetPolicy, FleetPolicyError};
use queue::TimerQueue;

/// One instance of the fleet.
#[derive(Debug, Clone)]
struct Slot<Op: Operation, T> {
    waiter: Waiter<Op, T>,
    /// The generation of its current timer entry; older entries are stale.
    generation: u32,
    in_flight: bool,
    cancelled: bool,
    /// Its outcome is known (queued for, or already given in, a `Done`).
    finished: bool,
    /// Tokens its latest retry cost, given back when an answer decodes.
    retry_cost: u32,
}

impl<Op: Operation, T> Slot<Op, T> {
    /// Waiting for its next request (not in flight, not over).
    fn is_waiting(&self) -> bool {
        !(self.in_flight || self.cancelled || self.finished)
    }
}

/// Waits for many instances at once under shared limits; see the
/// [module documentation](self) for the rules and the driver loop.
#[derive(Debug, Clone)]
pub struct Fleet<Op: Operation, T> {
    policy: FleetPolicy,
    wait: WaitPolicy,
    start: Instant,
    latest: Instant,
    slots: Vec<Slot<Op, T>>,
    timers: TimerQueue,
    deadlines: TimerQueue,
    /// Finished instances not yet reported in a `Done`.
    finished: VecDeque<usize>,
    limiter: RateLimiter,
    budget: RetryBudget,
    in_flight: usize,
    tally: FleetSummary,
}

impl<Op, T> Fleet<Op, T>
where
    Op: Operation,
    T: Target<Op::Output>,
{
    /// An empty fleet started at `now`; every instance added waits with
    /// `wait` (validate it with [`WaitPolicy::validate`] first).
    pub fn new(
        policy: FleetPolicy,
        wait: WaitPolicy,
        now: Instant,
    ) -> Result<Self, FleetPolicyError> {
        policy.validate()?;
        Ok(Fleet {
            policy,
            wait,
            start: now,
            latest: now,
            slots: Vec::new(),
            timers: TimerQueue::default(),
            deadlines: TimerQueue::default(),
            finished: VecDeque::new(),
            limiter: RateLimiter::new(&policy),
            budget: RetryBudget::new(&policy),
            in_flight: 0,
            tally: FleetSummary::default(),
        })
    }

    /// Add an instance whose wait starts at `now` (its first request is due
    /// at once, its deadline is `now + max_wait`); returns its number. May
    /// be called at any time, also after [`FleetAction::AllDone`].
    pub fn add(&mut self, op: Op, target: T, now: Instant) -> usize {
        let k = self.slots.len();
        // The index spreads the seed, so two waits of the same operation
        // still get different jitter; the same fleet replays the same run.
        let index_seed = SeededRng::new(k as u64).next_u64();
        let rng = SeededRng::new(wait_seed(self.wait.seed ^ index_seed, &op));
        let waiter = Waiter::with_rng(op, target, self.wait, rng, now);
        self.deadlines.push(waiter.deadline(), k, 0);
        if let Some(due) = waiter.next_due() {
            self.timers.push(due, k, 0);
        }
        self.slots.push(Slot {
            waiter,
            generation: 0,
            in_flight: false,
            cancelled: false,
            finished: false,
            retry_cost: 0,
        });
        self.tally.total += 1;
        self.tally.running += 1;
        self.observe_time(now);
        k
    }

    /// Stop waiting for instance `k`: no request of its goes out any more and
    /// no `Done` is reported for it. An answer to its request in flight must
    /// still be handed back (it frees the concurrency slot) and is ignored.
    /// Returns false if `k` was already done, cancelled or never added.
    pub fn cancel(&mut self, k: usize) -> bool {
        let Some(slot) = self.slots.get_mut(k) else {
            return false;
        };
        if slot.cancelled || slot.finished {
            return false;
        }
        slot.cancelled = true;
        self.tally.cancelled += 1;
        self.tally.running -= 1;
        true
    }

    /// What the driver does next; see the [driver loop](self#the-driver-loop).
    pub fn poll(&mut self, now: Instant) -> FleetAction<Op::Output> {
        self.observe_time(now);
        self.expire_deadlines(now);
        if let Some(k) = self.finished.pop_front() {
            return self.report(k);
        }
        while let Some((due, k)) = self.timers.peek(|k, generation| {
            self.slots[k].generation == generation && self.slots[k].is_waiting()
        }) {
            if due > now {
                return FleetAction::WakeAt(self.next_deadline().map_or(due, |d| d.min(due)));
            }
            let past_deadline = now >= self.slots[k].waiter.deadline();
            if !past_deadline {
                if self.in_flight >= self.policy.concurrency {
                    return self.idle();
                }
                if let Some(at) = self.limiter.next_allowed(now) {
                    return FleetAction::WakeAt(self.next_deadline().map_or(at, |d| d.min(at)));
                }
            }
            self.timers.pop();
            let slot = &mut self.slots[k];
            match slot.waiter.poll(now) {
                Action::Send => {
                    slot.in_flight = true;
                    self.in_flight += 1;
                    self.tally.requests += 1;
                    self.limiter.record(now);
                    return FleetAction::Send(k);
                }
                Action::Done(_) => {
                    slot.finished = true;
                    return self.report(k);
                }
                Action::WakeAt(at) => self.reschedule(k, at),
            }
        }
        if self.tally.running > 0 {
            self.idle()
        } else {
            FleetAction::AllDone
        }
    }

    /// The request of instance `k` after [`FleetAction::Send`]`(k)`, built
    /// from `ctx` and signed as of `wall` like [`Waiter::request`]: its
    /// answer is scrubbed of the credentials of `ctx`.
    ///
    /// An error means `ctx` cannot build this operation's request (the same
    /// for every instance, in practice): the instance is cancelled (its
    /// concurrency slot freed, no `Done` for it) and the driver reports the
    /// error. A `k` that was never added is refused as an invalid `instance`.
    pub fn request(
        &mut self,
        k: usize,
        ctx: &RequestContext,
        wall: SystemTime,
    ) -> Result<Request<Vec<u8>>, InvalidInput> {
        let Some(slot) = self.slots.get_mut(k) else {
            return Err(InvalidInput {
                field: "instance",
                reason: InvalidReason::Unencodable,
            });
        };
        let built = slot.waiter.request(ctx, wall);
        if built.is_err() {
            if slot.in_flight {
                slot.in_flight = false;
                self.in_flight -= 1;
            }
            self.cancel(k);
        }
        built
    }

    /// Feed back the response to instance `k`'s request, received at `now`.
    /// Answers for an instance with no request in flight are ignored.
    pub fn handle_response(&mut self, k: usize, response: Response<&[u8]>, now: Instant) {
        self.handle(k, now, |waiter, gate| {
            waiter.answer_gated(response, now, gate)
        });
    }

    /// [`Fleet::handle_response`] for a response whose body the driver read
    /// into a `Vec`, as most HTTP clients hand it over.
    pub fn handle_owned(&mut self, k: usize, response: Response<Vec<u8>>, now: Instant) {
        let (parts, body) = response.into_parts();
        self.handle_response(k, Response::from_parts(parts, body.as_slice()), now);
    }

    /// Feed back a transport failure of instance `k`'s request at `now`.
    pub fn handle_transport_error(&mut self, k: usize, kind: TransportErrorKind, now: Instant) {
        self.handle(k, now, |waiter, gate| {
            waiter.transport_error_gated(kind, now, gate)
        });
    }

    /// Instances added so far.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no instance was added yet.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Instance `k`'s waiter: its operation, polls, last observation and
    /// deadline (for progress display and request timeouts).
    pub fn waiter(&self, k: usize) -> Option<&Waiter<Op, T>> {
        self.slots.get(k).map(|slot| &slot.waiter)
    }

    /// Instance `k`'s outcome once it is done (`None` while it waits, and
    /// for a cancelled instance).
    pub fn outcome(&self, k: usize) -> Option<&Result<Op::Output, WaitError<Op::Output>>> {
        self.slots
            .get(k)
            .filter(|slot| !slot.cancelled)
            .and_then(|slot| slot.waiter.outcome())
    }

    /// Whether instance `k` was cancelled.
    pub fn is_cancelled(&self, k: usize) -> bool {
        self.slots.get(k).is_some_and(|slot| slot.cancelled)
    }

    /// The tally so far (counts of instances as reported in `Done`).
    pub fn summary(&self) -> FleetSummary {
        self.tally
    }

    /// The send rate now, in requests/s: the policy's rate, lowered while
    /// the service throttles.
    pub fn current_rate(&self) -> f64 {
        self.limiter.current()
    }

    /// Requests sent and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Tokens left in the retry budget.
    pub fn retry_tokens(&self) -> u32 {
        self.budget.tokens()
    }

    /// The fleet's policy.
    pub fn policy(&self) -> &FleetPolicy {
        &self.policy
    }

    /// The policy every instance waits with.
    pub fn wait_policy(&self) -> &WaitPolicy {
        &self.wait
    }

    fn observe_time(&mut self, now: Instant) {
        if now > self.latest {
            self.latest = now;
        }
        self.tally.elapsed = self.latest.saturating_duration_since(self.start);
        self.limiter.advance(now);
    }

    fn handle(
        &mut self,
        k: usize,
        now: Instant,
        feed: impl FnOnce(&mut Waiter<Op, T>, &mut BudgetGate<'_>) -> Handled,
    ) {
        self.observe_time(now);
        let Some(slot) = self.slots.get_mut(k) else {
            return;
        };
        if !slot.in_flight {
            return;
        }
        slot.in_flight = false;
        self.in_flight -= 1;
        if slot.cancelled {
            return;
        }
        let mut gate = BudgetGate {
            budget: &mut self.budget,
            spent: 0,
        };
        let handled = feed(&mut slot.waiter, &mut gate);
        let spent = gate.spent;
        match handled {
            Handled::Ignored => {}
            Handled::Output => {
                self.budget.succeeded(slot.retry_cost);
                slot.retry_cost = 0;
            }
            Handled::Failure(failure) => {
                slot.retry_cost = spent;
                if failure.throttled {
                    self.limiter.throttled(now, failure.retry_after);
                }
            }
        }
        if slot.waiter.outcome().is_some() {
            slot.finished = true;
            self.finished.push_back(k);
        } else if let Some(due) = slot.waiter.next_due() {
            self.reschedule(k, due);
        }
    }

    fn reschedule(&mut self, k: usize, due: Instant) {
        let slot = &mut self.slots[k];
        slot.generation = slot.generation.wrapping_add(1);
        self.timers.push(due, k, slot.generation);
    }

    /// End the waits whose deadline has passed while they waited for a turn
    /// (a request in flight is left to its answer, which is honoured).
    fn expire_deadlines(&mut self, now: Instant) {
        while let Some((deadline, k)) = self.deadlines.peek(|k, _| self.slots[k].is_waiting()) {
            if deadline > now {
                break;
            }
            self.deadlines.pop();
            if let Action::Done(_) = self.slots[k].waiter.poll(now) {
                self.slots[k].finished = true;
                self.finished.push_back(k);
            }
        }
    }

    fn next_deadline(&mut self) -> Option<Instant> {
        self.deadlines
            .peek(|k, _| self.slots[k].is_waiting())
            .map(|(at, _)| at)
    }

    /// Nothing can be sent now: wake for the next deadline, else for an answer.
    fn idle(&mut self) -> FleetAction<Op::Output> {
        match self.next_deadline() {
            Some(at) => FleetAction::WakeAt(at),
            None => FleetAction::AwaitAnswer,
        }
    }

    fn report(&mut self, k: usize) -> FleetAction<Op::Output> {
        let slot = &self.slots[k];
        match slot.waiter.outcome() {
            Some(outcome) if !slot.cancelled => {
                self.tally.running -= 1;
                self.tally.count(outcome);
                FleetAction::Done(k, outcome.clone())
            }
            // Cancelled after it finished but before it was reported.
            _ => self.poll(self.latest),
        }
    }
}

#[cfg(test)]
mod tests;
