//! The waiter's oracle: a scripted driver that checks the waiter's promises.
//!
//! A [`Script`] plays [`Step`]s against a [`Waiter`] on a virtual clock —
//! including steps a careless driver would take: polling early, answering
//! when nothing was sent, letting time jump past the deadline — then finishes
//! the wait as a well-behaved driver would. After every step it checks:
//!
//! - `poll` never panics, never asks to wake at or before `now` or after the
//!   deadline, and repeats the same `WakeAt` when called early;
//! - no request is sent at or after the deadline, while another is in flight,
//!   sooner than `min_interval` after a pending output or a retryable failure,
//!   or sooner than a `Retry-After` delay;
//! - after a pending output, the waiter asks to wake no later than
//!   `max(min_interval, max_pause_fraction * elapsed)` after it;
//! - every handled answer becomes the last observation (attempt, instant,
//!   elapsed); stray answers change nothing;
//! - ready, failed, non-retryable and over-budget answers end the wait with
//!   the matching outcome, and `Done` repeats forever;
//! - the wait reaches `Done` by the deadline.

use std::fmt;
use std::time::{Duration, Instant};

use http::{HeaderName, HeaderValue, Response, StatusCode};

use koophone_proto::{
    Action, Check, InstanceState, Observed, Once, Operation, RetryAfter, SeededRng, Target,
    TransportErrorKind, UntilReady, UntilState, WaitAction, WaitError, WaitPolicy, Waiter,
};

use crate::decode::{example_progress, example_status};

/// One thing the scripted driver does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Move the virtual clock forward.
    Advance(Duration),
    /// Call `poll` (whether or not the waiter asked to be woken now).
    Poll,
    /// Feed a response (whether or not a request is in flight).
    Respond(Reply),
    /// Feed a transport failure (whether or not a request is in flight).
    Fail(TransportErrorKind),
}

/// A response as bytes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status; values outside 100..=999 become 500.
    pub status: u16,
    /// Headers; names or values HTTP cannot carry are left out.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    fn to_response(&self) -> Response<&[u8]> {
        let mut response = Response::new(self.body.as_slice());
        *response.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(value),
            ) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

/// A policy, a seed and the steps to play.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// The policy; it must pass [`WaitPolicy::validate`] and fit at most
    /// [`Script::MAX_INTERVALS_PER_WAIT`] `min_interval`s into `max_wait`, so
    /// that finishing the wait on a virtual clock is bounded.
    pub policy: WaitPolicy,
    /// Seed of the waiter's jitter.
    pub seed: u64,
    /// The steps, played in order before the wait is finished.
    pub steps: Vec<Step>,
}

/// How a scripted wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report<O> {
    /// The outcome of the wait.
    pub outcome: Result<O, WaitError<O>>,
    /// Requests sent.
    pub polls: u32,
    /// Virtual time from the start to `Done`.
    pub elapsed: Duration,
}

/// A broken promise, with the step where it showed (`None`: while finishing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("waiter invariant broken at {}: {message}", StepLabel(*.step))]
pub struct Violation {
    /// Index into [`Script::steps`], or `None` for the finishing phase.
    pub step: Option<usize>,
    /// What went wrong.
    pub message: String,
}

struct StepLabel(Option<usize>);

impl fmt::Display for StepLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(i) => write!(f, "step {i}"),
            None => f.write_str("the finishing phase"),
        }
    }
}

impl Script {
    /// The most `min_interval`s a script's `max_wait` may hold.
    pub const MAX_INTERVALS_PER_WAIT: u128 = 100_000;

    /// Play the script against a waiter for `op` and `target` started at
    /// `start`, then finish the wait, answering each request with the
    /// script's replies and failures in turn (a timeout if it has none).
    pub fn run<Op, T>(
        &self,
        op: Op,
        target: T,
        start: Instant,
    ) -> Result<Report<Op::Output>, Violation>
    where
        Op: Operation,
        Op::Output: PartialEq,
        T: Target<Op::Output>,
    {
        let violation = |message: String| Violation {
            step: None,
            message,
        };
        self.policy
            .validate()
            .map_err(|e| violation(format!("policy out of range: {e}")))?;
        let intervals = self.policy.max_wait.as_nanos() / self.policy.min_interval.as_nanos();
        if intervals > Self::MAX_INTERVALS_PER_WAIT {
            return Err(violation(format!(
                "policy out of range: {intervals} min_intervals per max_wait"
            )));
        }
        let waiter = Waiter::with_rng(op, target, self.policy, SeededRng::new(self.seed), start);
        let mut player = Player::new(waiter, start);
        for (index, step) in self.steps.iter().enumerate() {
            player.play(step).map_err(|message| Violation {
                step: Some(index),
                message,
            })?;
        }

        let mut answers = self
            .steps
            .iter()
            .filter(|s| matches!(s, Step::Respond(_) | Step::Fail(_)))
            .cycle();
        let timeout = Step::Fail(TransportErrorKind::Timeout);
        let script_end = player.now;
        // Sends are at least `min_interval` apart, each costs at most three polls.
        let budget = 3 * (intervals + 2);
        for _ in 0..budget {
            match player.play(&Step::Poll).map_err(violation)? {
                Some(Action::Done(outcome)) => {
                    if player.now > player.waiter.deadline().max(script_end) {
                        return Err(violation("finished after the deadline".to_owned()));
                    }
                    return Ok(Report {
                        outcome,
                        polls: player.waiter.polls(),
                        elapsed: player.now.saturating_duration_since(start),
                    });
                }
                Some(Action::WakeAt(at)) => player.now = at,
                Some(Action::Send) => {
                    let answer = answers.next().unwrap_or(&timeout);
                    player.play(answer).map_err(violation)?;
                }
                None => return Err(violation("poll returned nothing".to_owned())),
            }
        }
        Err(violation(format!("not done after {budget} polls")))
    }
}

/// What the next poll must return, as far as the driver can tell.
enum Expect<O> {
    /// Nothing known.
    Free,
    /// An answer was handled and did not end the wait: no `Done` before the deadline.
    Continue,
    /// The handled answer ends the wait with this outcome.
    Done(Result<O, WaitError<O>>),
}

struct Player<Op: Operation, T> {
    waiter: Waiter<Op, T, SeededRng>,
    start: Instant,
    now: Instant,
    sends: u32,
    in_flight: Option<u32>,
    not_before: Option<Instant>,
    /// After a pending output: the latest instant the next request may be
    /// scheduled for (the pause cap).
    not_after: Option<Instant>,
    wake: Option<Instant>,
    done: Option<Result<Op::Output, WaitError<Op::Output>>>,
    expect: Expect<Op::Output>,
    errors_in_a_row: u32,
}

impl<Op, T> Player<Op, T>
where
    Op: Operation,
    Op::Output: PartialEq,
    T: Target<Op::Output>,
{
    fn new(waiter: Waiter<Op, T, SeededRng>, start: Instant) -> Self {
        Player {
            waiter,
            start,
            now: start,
            sends: 0,
            in_flight: None,
            not_before: None,
            not_after: None,
            wake: None,
            done: None,
            expect: Expect::Free,
            errors_in_a_row: 0,
        }
    }

    /// Play one step; a poll's action is returned for the finishing loop.
    fn play(&mut self, step: &Step) -> Result<Option<WaitAction<Op::Output>>, String> {
        match step {
            Step::Advance(by) => {
                self.now = self.now.checked_add(*by).unwrap_or(self.now);
                Ok(None)
            }
            Step::Poll => {
                let action = self.waiter.poll(self.now);
                self.check_poll(&action)?;
                Ok(Some(action))
            }
            Step::Respond(reply) => {
                self.handle(|w, now| w.handle_response(reply.to_response(), now))?;
                Ok(None)
            }
            Step::Fail(kind) => {
                self.handle(|w, now| w.handle_transport_error(*kind, now))?;
                Ok(None)
            }
        }
    }

    fn check_poll(&mut self, action: &WaitAction<Op::Output>) -> Result<(), String> {
        let (now, deadline) = (self.now, self.waiter.deadline());
        if let Some(done) = &self.done {
            return match action {
                Action::Done(outcome) if outcome == done => Ok(()),
                other => Err(format!("done was not repeated: {other:?} after {done:?}")),
            };
        }
        if now >= deadline && !matches!(action, Action::Done(_)) {
            return Err(format!("{action:?} at or after the deadline"));
        }
        match std::mem::replace(&mut self.expect, Expect::Free) {
            Expect::Done(expected) => match action {
                Action::Done(outcome) if *outcome == expected => {}
                _ => return Err(format!("expected Done({expected:?}), got {action:?}")),
            },
            Expect::Continue if now < deadline && matches!(action, Action::Done(_)) => {
                return Err(format!("ended early with {action:?}"));
            }
            Expect::Continue | Expect::Free => {}
        }
        if let Some(wake) = self.wake
            && now < wake
            && *action != Action::WakeAt(wake)
        {
            return Err(format!(
                "early poll changed WakeAt({wake:?}) into {action:?}"
            ));
        }
        match action {
            Action::Done(outcome) => self.done = Some(outcome.clone()),
            Action::WakeAt(at) => {
                if *at <= now {
                    return Err(format!("asked to wake at {at:?}, not after now {now:?}"));
                }
                if let Some(not_after) = self.not_after
                    && *at > not_after
                {
                    let late = *at - not_after;
                    return Err(format!("scheduled {late:?} past the pause cap"));
                }
                if *at > deadline {
                    return Err("asked to wake after the deadline".to_owned());
                }
                self.wake = Some(*at);
            }
            Action::Send => {
                if self.in_flight.is_some() {
                    return Err("sent while a request was in flight".to_owned());
                }
                if let Some(not_before) = self.not_before
                    && now < not_before
                {
                    let early = not_before - now;
                    return Err(format!("sent {early:?} before the pause allowed"));
                }
                self.sends += 1;
                if self.waiter.polls() != self.sends {
                    return Err(format!(
                        "polls() is {}, {} sent",
                        self.waiter.polls(),
                        self.sends
                    ));
                }
                self.in_flight = Some(self.sends);
                self.not_after = None;
                self.wake = None;
            }
        }
        Ok(())
    }

    fn handle(
        &mut self,
        feed: impl FnOnce(&mut Waiter<Op, T, SeededRng>, Instant),
    ) -> Result<(), String> {
        let before = self.waiter.last_observation().cloned();
        let polls = self.waiter.polls();
        feed(&mut self.waiter, self.now);
        let attempt = match self.in_flight.take() {
            Some(attempt) if self.done.is_none() => attempt,
            _ => {
                return if self.waiter.last_observation() == before.as_ref()
                    && self.waiter.polls() == polls
                {
                    Ok(())
                } else {
                    Err("a stray answer changed the waiter".to_owned())
                };
            }
        };
        self.wake = None;
        self.not_after = None;
        let observation = self
            .waiter
            .last_observation()
            .ok_or("an answer left no observation")?;
        let elapsed = self.now.saturating_duration_since(self.start);
        if observation.attempt != attempt
            || observation.at != self.now
            || observation.elapsed != elapsed
        {
            return Err(format!(
                "observation {observation:?} does not match attempt {attempt}"
            ));
        }
        let policy = self.waiter.policy();
        let min = policy.min_interval;
        let after = |pause: Duration| self.now.checked_add(pause);
        let (not_before, expect) = match &observation.event {
            Observed::Output(output) => {
                self.errors_in_a_row = 0;
                match self.waiter.target().check(output) {
                    Check::Ready => (None, Expect::Done(Ok(output.clone()))),
                    Check::Failed => (
                        None,
                        Expect::Done(Err(WaitError::FailedState(output.clone()))),
                    ),
                    Check::Pending => {
                        self.not_after = pause_cap(policy, elapsed).and_then(after);
                        (after(min), Expect::Continue)
                    }
                }
            }
            Observed::Error(error) => {
                self.errors_in_a_row += 1;
                if !error.is_retryable() || self.errors_in_a_row > policy.max_consecutive_errors {
                    (None, Expect::Done(Err(WaitError::Api(error.clone()))))
                } else {
                    let floor = match error.retry_after() {
                        Some(RetryAfter::Delay(delay)) => delay.max(min),
                        _ => min,
                    };
                    (after(floor), Expect::Continue)
                }
            }
            Observed::Transport(kind) => {
                self.errors_in_a_row += 1;
                if !kind.is_retryable() || self.errors_in_a_row > policy.max_consecutive_errors {
                    (None, Expect::Done(Err(WaitError::Transport(*kind))))
                } else {
                    (after(min), Expect::Continue)
                }
            }
        };
        self.not_before = not_before;
        self.expect = expect;
        Ok(())
    }
}

/// The longest pause after a pending output `elapsed` into the wait, from
/// the policy's documented promise, or `None` when it makes none.
fn pause_cap(policy: &WaitPolicy, elapsed: Duration) -> Option<Duration> {
    let fraction = policy.max_pause_fraction?;
    let cap = Duration::try_from_secs_f64(elapsed.as_secs_f64() * fraction).ok()?;
    Some(cap.max(policy.min_interval))
}

/// The transport failure a fuzz input's byte names (modulo their number).
pub fn transport_kind(byte: u8) -> TransportErrorKind {
    match byte % 6 {
        0 => TransportErrorKind::Connect,
        1 => TransportErrorKind::Tls,
        2 => TransportErrorKind::Timeout,
        3 => TransportErrorKind::Reset,
        4 => TransportErrorKind::BodyTooLarge,
        _ => TransportErrorKind::Other,
    }
}

/// The condition a fuzzed wait runs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitTarget {
    /// ShowProgress until `normal` ([`UntilReady`]).
    Ready,
    /// ShowInstanceStatus until this state ([`UntilState`]).
    State(InstanceState),
    /// One ShowProgress call with the waiter's retries ([`Once`]).
    OnceProgress,
    /// One ShowInstanceStatus call with the waiter's retries ([`Once`]).
    OnceStatus,
}

/// The waiter fed the script's responses, transport errors and clock steps,
/// with every check of [`Script::run`]: it never panics, never schedules a
/// wake at or before now, never sends early or twice, and is done by its
/// deadline. Returns the report's request count.
pub fn wait(script: &Script, target: WaitTarget) -> u32 {
    // The oracle needs an origin only: any instant will do.
    let start = Instant::now();
    let polls = match target {
        WaitTarget::Ready => script
            .run(example_progress(), UntilReady, start)
            .map(|r| r.polls),
        WaitTarget::State(state) => script
            .run(example_status(), UntilState::new(state), start)
            .map(|r| r.polls),
        WaitTarget::OnceProgress => script.run(example_progress(), Once, start).map(|r| r.polls),
        WaitTarget::OnceStatus => script.run(example_status(), Once, start).map(|r| r.polls),
    };
    match polls {
        Ok(polls) => polls,
        Err(violation) => panic!("{violation}"),
    }
}
