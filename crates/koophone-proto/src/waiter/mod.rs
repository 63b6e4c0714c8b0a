//! The polling waiter: a state machine that repeats one operation until a
//! target condition holds, a failure state shows up, the error budget runs out
//! or the deadline passes.
//!
//! It reads no clock and never sleeps: the driver passes `now` in and does what
//! the returned [`Action`] says, so a blocking driver, an async driver, a test
//! on a virtual clock and a fuzzer all get the same backoff, jitter,
//! `Retry-After` handling, deadline and error budget.

use std::time::{Duration, Instant, SystemTime};

use http::{Request, Response};

use crate::context::RequestContext;
use crate::error::{InvalidInput, TransportErrorKind};
use crate::operation::Operation;
use crate::redact::Redactor;

mod outcome;
mod policy;
mod retry;
mod rng;

pub use crate::target::{Check, Once, Target};
pub use outcome::{Action, Observation, Observed, WaitAction, WaitError};
pub use policy::{Jitter, PolicyError, WaitPolicy};
pub use retry::Retry;
pub(crate) use rng::wait_seed;
pub use rng::{Rng, SeededRng};

/// Pays for retries: a single waiter retries freely (within its error
/// budget); a fleet's waiters draw on a shared retry budget.
pub(crate) trait RetryGate {
    /// Whether a retry of `failure` can be paid for (without paying).
    fn can_retry(&self, failure: &Failure) -> bool;
    /// Pay for the retry of `failure`.
    fn spend(&mut self, failure: &Failure);
}

/// The single waiter's gate: every retry is paid for.
struct Unlimited;

impl RetryGate for Unlimited {
    fn can_retry(&self, _: &Failure) -> bool {
        true
    }

    fn spend(&mut self, _: &Failure) {}
}

/// What a failed attempt was, for the fleet's shared limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The service answered 429.
    pub(crate) throttled: bool,
    /// The driver gave up waiting for the answer.
    pub(crate) timeout: bool,
    /// The delay the service asked for (`Retry-After`).
    pub(crate) retry_after: Option<Duration>,
}

/// What a handled answer was, for the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handled {
    /// No request was in flight: the answer changed nothing.
    Ignored,
    /// An output was decoded (whatever the target made of it).
    Output,
    /// The attempt failed.
    Failure(Failure),
}

#[derive(Debug, Clone)]
enum State<O> {
    /// The next request may go at this instant (the deadline: none will).
    Scheduled(Instant),
    /// `Send` was returned for this attempt and no answer was fed back yet.
    InFlight(u32),
    Done(Result<O, WaitError<O>>),
}

/// Polls one operation until its target holds.
///
/// # The loop contract
///
/// After creating the waiter or calling any `handle_*`, call [`Waiter::poll`]
/// until it returns [`Action::WakeAt`] or [`Action::Done`]:
///
/// - [`Action::Send`]: send the operation's request and feed the outcome back
///   with [`Waiter::handle_response`] or [`Waiter::handle_transport_error`].
/// - [`Action::WakeAt`]: call `poll` again at that instant. Calling earlier is
///   harmless and returns the same `WakeAt`.
/// - [`Action::Done`]: final; every later call returns the same outcome.
///
/// While a request is in flight (after `Send`, before a `handle_*`), `poll`
/// never asks for a second request: it returns `WakeAt(deadline)`, and once
/// the deadline has passed it ends the wait with [`WaitError::Deadline`]. An
/// async driver can race the request against that wake-up; a blocking driver
/// should cap its request timeout at the time left to [`Waiter::deadline`].
///
/// # Timing
///
/// The first request goes out at once. After a pending output the pause
/// starts at `min_interval`, grows by `growth` per pending output in a row up
/// to `max_interval`, is raised to the target's [`Target::interval_hint`] if
/// that is longer, is capped at `max_interval` and at
/// `max(min_interval, max_pause_fraction * elapsed)`, and is then spread by
/// the jitter within `[min_interval, pause]`. Retryable failures back off the same way on their own
/// count, with `Retry-After` (a delay) as the minimum; `Retry-After` as an
/// absolute date cannot be used without a wall clock and is ignored. Pauses
/// are measured from the `now` of the `handle_*` call.
///
/// No request is sent at or after the deadline (`now` of [`Waiter::new`] plus
/// `max_wait`). When the next pause would reach it, one last request is
/// scheduled `min_interval` before the deadline if the pause's minimum allows,
/// so a timeout reports a fresh state; otherwise the waiter wakes at the
/// deadline and ends with [`WaitError::Deadline`]. An answer that arrives late
/// for a request sent in time is still honoured: it is the truth.
///
/// # Retries
///
/// A failure is retried when [`ApiError::is_retryable`](crate::ApiError::is_retryable) or
/// [`TransportErrorKind::is_retryable`] says so, within the error budget and
/// the deadline. An operation that is not [`Operation::IDEMPOTENT`] (a
/// write) is retried only when the failure also proves the request was not
/// applied ([`ApiError::proves_not_applied`](crate::ApiError::proves_not_applied),
/// [`TransportErrorKind::proves_not_applied`]): sending it again after a
/// timeout could apply it twice.
///
/// Answers fed in while no request is in flight (duplicates, or after `Done`)
/// are ignored.
///
/// # Example
///
/// A driver on a virtual clock, with canned answers standing in for the
/// network (a real driver sends `waiter.request(&ctx, SystemTime::now())?`
/// and sleeps until each `WakeAt`):
///
/// ```
/// use std::time::Instant;
/// use koophone_proto::{Action, PrepareStatus, ShowProgress, UntilReady, WaitPolicy, Waiter};
///
/// let op = ShowProgress::new("1008600000104285462", "iRJEVP9")?;
/// let start = Instant::now();
/// let mut waiter = Waiter::new(op, UntilReady, WaitPolicy::default(), start);
/// let mut answers = [
///     &br#"{"data":{"status":1,"waitingCount":2},"error_code":"0","error_msg":"OK"}"#[..],
///     &br#"{"data":{"status":0,"waitingCount":0},"error_code":"0","error_msg":"OK"}"#[..],
/// ]
/// .into_iter();
/// let mut now = start;
/// let progress = loop {
///     match waiter.poll(now) {
///         Action::Send => {
///             let body = answers.next().expect("two requests are enough");
///             waiter.handle_response(http::Response::new(body), now);
///         }
///         Action::WakeAt(at) => now = at,
///         Action::Done(outcome) => break outcome?,
///     }
/// };
/// assert_eq!(progress.status, PrepareStatus::Normal);
/// assert_eq!(waiter.polls(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Waiter<Op: Operation, T, R = SeededRng> {
    op: Op,
    target: T,
    policy: WaitPolicy,
    rng: R,
    start: Instant,
    deadline: Instant,
    state: State<Op::Output>,
    polls: u32,
    pending_streak: u32,
    error_streak: u32,
    last_output: Option<Op::Output>,
    last_observation: Option<Observation<Op::Output>>,
    /// The credentials of the context the request in flight was built with.
    redactor: Redactor,
}

impl<Op, T> Waiter<Op, T, SeededRng>
where
    Op: Operation,
    T: Target<Op::Output>,
{
    /// Start a wait at `now`, with jitter seeded from the policy's `seed`
    /// and the operation's identity: the same inputs replay the same run.
    pub fn new(op: Op, target: T, policy: WaitPolicy, now: Instant) -> Self {
        let rng = SeededRng::new(wait_seed(policy.seed, &op));
        Waiter::with_rng(op, target, policy, rng, now)
    }
}

impl<Op, T, R> Waiter<Op, T, R>
where
    Op: Operation,
    T: Target<Op::Output>,
    R: Rng,
{
    /// Start a wait at `now` with the given random source.
    pub fn with_rng(op: Op, target: T, policy: WaitPolicy, rng: R, now: Instant) -> Self {
        let max_wait = policy.max_wait.min(WaitPolicy::MAX_WAIT_LIMIT);
        let deadline = now.checked_add(max_wait).unwrap_or(now);
        Waiter {
            op,
            target,
            policy,
            rng,
            start: now,
            deadline,
            state: State::Scheduled(now),
            polls: 0,
            pending_streak: 0,
            error_streak: 0,
            last_output: None,
            last_observation: None,
            redactor: Redactor::default(),
        }
    }

    /// The request to send after [`Action::Send`], built from `ctx` and
    /// signed as of `wall` (the wall clock) when the credentials are AK/SK.
    /// Build every attempt afresh. The waiter remembers the credentials of
    /// `ctx` and scrubs them from the answer's text.
    pub fn request(
        &mut self,
        ctx: &RequestContext,
        wall: SystemTime,
    ) -> Result<Request<Vec<u8>>, InvalidInput> {
        self.redactor = ctx.redactor().clone();
        self.op.build_authorized_request(ctx, wall)
    }

    /// What to do next; see the loop contract on [`Waiter`].
    pub fn poll(&mut self, now: Instant) -> WaitAction<Op::Output> {
        if let State::Done(outcome) = &self.state {
            return Action::Done(outcome.clone());
        }
        if now >= self.deadline {
            let outcome = Err(WaitError::Deadline {
                last: self.last_output.clone(),
            });
            self.state = State::Done(outcome.clone());
            return Action::Done(outcome);
        }
        match self.state {
            State::Scheduled(at) if at >= self.deadline => Action::WakeAt(self.deadline),
            State::Scheduled(at) if now >= at => {
                self.polls = self.polls.saturating_add(1);
                self.state = State::InFlight(self.polls);
                Action::Send
            }
            State::Scheduled(at) => Action::WakeAt(at),
            State::InFlight(_) | State::Done(_) => Action::WakeAt(self.deadline),
        }
    }

    /// Feed back the response to the request of the last [`Action::Send`];
    /// it is decoded with the operation's own decoder.
    pub fn handle_response(&mut self, response: Response<&[u8]>, now: Instant) {
        self.answer_gated(response, now, &mut Unlimited);
    }

    /// Feed back a transport failure of the request of the last [`Action::Send`].
    pub fn handle_transport_error(&mut self, kind: TransportErrorKind, now: Instant) {
        self.transport_error_gated(kind, now, &mut Unlimited);
    }

    /// [`Waiter::handle_response`] with retries paid for by `gate` (the
    /// fleet's retry budget); says what the answer was, for the fleet's
    /// shared limits.
    pub(crate) fn answer_gated(
        &mut self,
        response: Response<&[u8]>,
        now: Instant,
        gate: &mut impl RetryGate,
    ) -> Handled {
        let State::InFlight(attempt) = self.state else {
            return Handled::Ignored;
        };
        match self.op.decode_redacted(response, &self.redactor) {
            Ok(output) => {
                self.on_output(output, attempt, now);
                Handled::Output
            }
            Err(error) => {
                let failure = Failure {
                    throttled: matches!(error, crate::ApiError::Throttled(_)),
                    timeout: false,
                    retry_after: retry::asked_delay(&error),
                };
                let retryable =
                    error.is_retryable() && (Op::IDEMPOTENT || error.proves_not_applied());
                self.observe(attempt, now, Observed::Error(error.clone()));
                self.on_failure(retryable, failure, now, WaitError::Api(error), gate);
                Handled::Failure(failure)
            }
        }
    }

    /// [`Waiter::handle_transport_error`] with retries paid for by `gate`.
    pub(crate) fn transport_error_gated(
        &mut self,
        kind: TransportErrorKind,
        now: Instant,
        gate: &mut impl RetryGate,
    ) -> Handled {
        let State::InFlight(attempt) = self.state else {
            return Handled::Ignored;
        };
        self.observe(attempt, now, Observed::Transport(kind));
        let failure = Failure {
            throttled: false,
            timeout: kind == TransportErrorKind::Timeout,
            retry_after: None,
        };
        let retryable = kind.is_retryable() && (Op::IDEMPOTENT || kind.proves_not_applied());
        self.on_failure(retryable, failure, now, WaitError::Transport(kind), gate);
        Handled::Failure(failure)
    }

    /// When this waiter next needs the driver: the instant its next request
    /// is due (or its deadline, whichever is first); `None` while a request
    /// is in flight or once it is done.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        match self.state {
            State::Scheduled(at) => Some(at.min(self.deadline)),
            State::InFlight(_) | State::Done(_) => None,
        }
    }

    /// The final outcome, once there is one.
    pub(crate) fn outcome(&self) -> Option<&Result<Op::Output, WaitError<Op::Output>>> {
        match &self.state {
            State::Done(outcome) => Some(outcome),
            State::Scheduled(_) | State::InFlight(_) => None,
        }
    }

    /// The operation being repeated, to build its request.
    pub fn operation(&self) -> &Op {
        &self.op
    }

    /// The condition waited for.
    pub fn target(&self) -> &T {
        &self.target
    }

    /// The policy as given.
    pub fn policy(&self) -> &WaitPolicy {
        &self.policy
    }

    /// Requests asked for so far (the number of [`Action::Send`]s).
    pub fn polls(&self) -> u32 {
        self.polls
    }

    /// The latest output, error or transport failure handled, for progress display.
    pub fn last_observation(&self) -> Option<&Observation<Op::Output>> {
        self.last_observation.as_ref()
    }

    /// When the wait gives up: the start plus `max_wait`.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    fn observe(&mut self, attempt: u32, now: Instant, event: Observed<Op::Output>) {
        self.last_observation = Some(Observation {
            attempt,
            at: now,
            elapsed: now.saturating_duration_since(self.start),
            event,
        });
    }

    fn on_output(&mut self, output: Op::Output, attempt: u32, now: Instant) {
        self.observe(attempt, now, Observed::Output(output.clone()));
        self.last_output = Some(output.clone());
        self.error_streak = 0;
        match self.target.check(&output) {
            Check::Ready => self.state = State::Done(Ok(output)),
            Check::Failed => self.state = State::Done(Err(WaitError::FailedState(output))),
            Check::Pending => {
                self.pending_streak = self.pending_streak.saturating_add(1);
                let hint = self.target.interval_hint(&output);
                let pause = self.pending_pause(now, hint);
                self.schedule(now, pause, self.policy.min_interval);
            }
        }
    }

    /// The pause after a pending output: the backoff step of the pending
    /// streak, raised to the target's hint, capped, then jittered.
    fn pending_pause(&mut self, now: Instant, hint: Option<Duration>) -> Duration {
        let min = self.policy.min_interval;
        let cap = self
            .policy
            .pause_cap(now.saturating_duration_since(self.start));
        let step = self.policy.step(self.pending_streak.max(1));
        let pause = match hint {
            Some(hint) => step.max(hint),
            None => step,
        }
        .clamp(min, cap);
        // Jitter spreads within [min, pause]: it never exceeds the cap.
        self.policy.jitter.apply(min, pause, &mut self.rng)
    }

    fn on_failure(
        &mut self,
        retryable: bool,
        failure: Failure,
        now: Instant,
        error: WaitError<Op::Output>,
        gate: &mut impl RetryGate,
    ) {
        if !retryable {
            self.state = State::Done(Err(error));
            return;
        }
        if !gate.can_retry(&failure) {
            // Nobody pays for a retry: the failure is only an observation and
            // the next poll comes at the pending cadence, so an outage costs
            // no more requests than polling did and ends no wait by itself.
            let floor = failure.retry_after.map_or(self.policy.min_interval, |d| {
                d.max(self.policy.min_interval)
            });
            let pause = self.pending_pause(now, None).max(floor);
            self.schedule(now, pause, floor);
            return;
        }
        self.error_streak = self.error_streak.saturating_add(1);
        if self.error_streak > self.policy.max_consecutive_errors {
            self.state = State::Done(Err(error));
            return;
        }
        gate.spend(&failure);
        let (pause, floor) = retry::failure_pause(
            &self.policy,
            self.error_streak,
            failure.retry_after,
            &mut self.rng,
        );
        self.schedule(now, pause, floor);
    }

    /// Schedule the next request `pause` after `now`, never earlier than
    /// `floor` after `now`, and never at or after the deadline.
    fn schedule(&mut self, now: Instant, pause: Duration, floor: Duration) {
        let at = match now.checked_add(pause) {
            Some(at) if at < self.deadline => at,
            _ => {
                let earliest = now.checked_add(floor);
                let last_chance = self.deadline.checked_sub(self.policy.min_interval);
                match (last_chance, earliest) {
                    (Some(last), Some(earliest)) if last >= earliest => last,
                    _ => self.deadline,
                }
            }
        };
        self.state = State::Scheduled(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::SuccessError;
    use crate::redact::Redact;
    use http::StatusCode;

    /// A stand-in operation whose body is the output's name, so the state
    /// machine is tested apart from the real success decoders.
    #[derive(Debug, Hash)]
    struct Fake;

    #[derive(Debug, Clone, PartialEq)]
    enum Phase {
        Busy,
        Done,
        Broken,
    }

    impl Target<Phase> for Fake {
        fn check(&self, output: &Phase) -> Check {
            match output {
                Phase::Busy => Check::Pending,
                Phase::Done => Check::Ready,
                Phase::Broken => Check::Failed,
            }
        }
    }

    impl Operation for Fake {
        type Output = Phase;
        const NAME: &'static str = "Fake";
        const METHOD: http::Method = http::Method::GET;
        const PATH: &'static str = "/fake";

        fn decode_success(&self, body: &[u8]) -> Result<Phase, SuccessError> {
            match body {
                b"busy" => Ok(Phase::Busy),
                b"done" => Ok(Phase::Done),
                b"broken" => Ok(Phase::Broken),
                _ => Err(SuccessError::missing("phase")),
            }
        }
    }

    impl Redact for Phase {
        fn redact(&mut self, _: &Redactor) {}
    }

    impl std::fmt::Display for Phase {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{self:?}")
        }
    }

    fn reply(status: u16, body: &'static [u8]) -> Response<&'static [u8]> {
        let mut response = Response::new(body);
        *response.status_mut() = StatusCode::from_u16(status).unwrap();
        response
    }

    fn fixed(min_ms: u64, max_wait_ms: u64) -> WaitPolicy {
        WaitPolicy {
            min_interval: Duration::from_millis(min_ms),
            max_interval: Duration::from_millis(min_ms),
            growth: 1.0,
            jitter: Jitter::None,
            max_wait: Duration::from_millis(max_wait_ms),
            max_consecutive_errors: 2,
            max_pause_fraction: None,
            seed: 0,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn in_flight_polls_never_send_twice() {
        let t0 = Instant::now();
        let mut w = Waiter::new(Fake, Fake, fixed(100, 1000), t0);
        assert_eq!(w.poll(t0), Action::Send);
        assert_eq!(w.poll(t0), Action::WakeAt(t0 + ms(1000)));
        assert_eq!(w.poll(t0 + ms(500)), Action::WakeAt(t0 + ms(1000)));
        w.handle_response(reply(200, b"busy"), t0 + ms(600));
        assert_eq!(w.poll(t0 + ms(600)), Action::WakeAt(t0 + ms(700)));
        assert_eq!(w.poll(t0 + ms(700)), Action::Send);
        // The driver never answers: the deadline ends the wait with the last output.
        let end = w.poll(t0 + ms(1000));
        assert_eq!(
            end,
            Action::Done(Err(WaitError::Deadline {
                last: Some(Phase::Busy)
            }))
        );
        // A late answer after Done changes nothing.
        w.handle_response(reply(200, b"done"), t0 + ms(1001));
        assert_eq!(w.poll(t0 + ms(1001)), end);
        assert_eq!(w.last_observation().unwrap().at, t0 + ms(600));
    }

    #[test]
    fn a_last_request_goes_out_min_interval_before_the_deadline() {
        let t0 = Instant::now();
        let policy = WaitPolicy {
            max_interval: ms(400),
            growth: 4.0,
            ..fixed(100, 1000)
        };
        let mut w = Waiter::new(Fake, Fake, policy, t0);
        assert_eq!(w.poll(t0), Action::Send);
        w.handle_response(reply(200, b"busy"), t0 + ms(100));
        assert_eq!(w.poll(t0 + ms(100)), Action::WakeAt(t0 + ms(200)));
        assert_eq!(w.poll(t0 + ms(200)), Action::Send);
        w.handle_response(reply(200, b"busy"), t0 + ms(700));
        // 700 + 400 would pass the deadline: ask once more at 900 instead.
        assert_eq!(w.poll(t0 + ms(700)), Action::WakeAt(t0 + ms(900)));
        assert_eq!(w.poll(t0 + ms(900)), Action::Send);
        w.handle_response(reply(200, b"busy"), t0 + ms(950));
        // No room for another request at least min_interval after this answer.
        assert_eq!(w.poll(t0 + ms(950)), Action::WakeAt(t0 + ms(1000)));
        assert!(matches!(
            w.poll(t0 + ms(1000)),
            Action::Done(Err(WaitError::Deadline { .. }))
        ));
        assert_eq!(w.polls(), 3);
    }

    #[test]
    fn a_late_answer_to_a_timely_request_is_honoured() {
        let t0 = Instant::now();
        let mut w = Waiter::new(Fake, Fake, fixed(100, 1000), t0);
        assert_eq!(w.poll(t0), Action::Send);
        w.handle_response(reply(200, b"done"), t0 + ms(5000));
        assert_eq!(w.poll(t0 + ms(5000)), Action::Done(Ok(Phase::Done)));
        let seen = w.last_observation().unwrap();
        assert_eq!((seen.attempt, seen.elapsed), (1, ms(5000)));
    }

    #[test]
    fn stray_answers_are_ignored() {
        let t0 = Instant::now();
        let mut w = Waiter::new(Fake, Fake, fixed(100, 1000), t0);
        w.handle_response(reply(200, b"done"), t0);
        w.handle_transport_error(TransportErrorKind::Tls, t0);
        assert!(w.last_observation().is_none());
        assert_eq!(w.poll(t0), Action::Send);
        w.handle_response(reply(200, b"busy"), t0);
        w.handle_response(reply(200, b"done"), t0);
        assert_eq!(w.poll(t0), Action::WakeAt(t0 + ms(100)));
    }

    #[test]
    fn retry_after_past_the_deadline_waits_for_the_deadline() {
        let t0 = Instant::now();
        let mut w = Waiter::new(Fake, Fake, fixed(100, 1000), t0);
        assert_eq!(w.poll(t0), Action::Send);
        let mut throttled = reply(503, b"");
        throttled
            .headers_mut()
            .insert("retry-after", "2".parse().unwrap());
        w.handle_response(throttled, t0 + ms(10));
        assert_eq!(w.poll(t0 + ms(10)), Action::WakeAt(t0 + ms(1000)));
        assert!(matches!(
            w.poll(t0 + ms(1000)),
            Action::Done(Err(WaitError::Deadline { last: None }))
        ));
    }

    #[test]
    fn budget_counts_failures_in_a_row_only() {
        let t0 = Instant::now();
        let mut w = Waiter::new(Fake, Fake, fixed(10, 10_000), t0);
        let mut now = t0;
        let mut step = |w: &mut Waiter<Fake, Fake>,
                        answer: Result<&'static [u8], TransportErrorKind>| {
            loop {
                match w.poll(now) {
                    Action::Send => break,
                    Action::WakeAt(at) => now = at,
                    Action::Done(outcome) => panic!("ended early: {outcome:?}"),
                }
            }
            match answer {
                Ok(body) => {
                    w.handle_response(reply(if body.is_empty() { 502 } else { 200 }, body), now)
                }
                Err(kind) => w.handle_transport_error(kind, now),
            }
        };
        // Two failures, an output, two failures: within a budget of 2.
        step(&mut w, Err(TransportErrorKind::Reset));
        step(&mut w, Ok(b""));
        step(&mut w, Ok(b"busy"));
        step(&mut w, Ok(b""));
        step(&mut w, Err(TransportErrorKind::Timeout));
        step(&mut w, Err(TransportErrorKind::Connect));
        assert_eq!(
            w.poll(now),
            Action::Done(Err(WaitError::Transport(TransportErrorKind::Connect)))
        );
        assert_eq!(w.polls(), 6);
    }

    /// Pauses after each answer in `bodies`, answered the moment each request
    /// is asked for.
    fn pauses<T: Target<Phase>>(
        target: T,
        policy: WaitPolicy,
        bodies: &[&'static [u8]],
    ) -> Vec<Duration> {
        let t0 = Instant::now();
        let mut w = Waiter::new(Fake, target, policy, t0);
        let mut now = t0;
        let mut pauses = Vec::new();
        for body in bodies {
            assert_eq!(w.poll(now), Action::Send);
            w.handle_response(reply(200, body), now);
            let Action::WakeAt(at) = w.poll(now) else {
                panic!("expected a wake-up")
            };
            pauses.push(at - now);
            now = at;
        }
        pauses
    }

    fn millis(pauses: Vec<Duration>) -> Vec<u128> {
        pauses.iter().map(Duration::as_millis).collect()
    }

    #[test]
    fn hints_only_lengthen_the_backoff() {
        #[derive(Debug)]
        struct Hinted;
        impl Target<Phase> for Hinted {
            fn check(&self, output: &Phase) -> Check {
                match output {
                    Phase::Done => Check::Ready,
                    Phase::Busy | Phase::Broken => Check::Pending,
                }
            }
            fn interval_hint(&self, output: &Phase) -> Option<Duration> {
                // Busy says "ask again at once", Broken "in an hour".
                Some(match output {
                    Phase::Broken => Duration::from_secs(3600),
                    _ => Duration::from_millis(1),
                })
            }
        }
        let policy = WaitPolicy {
            max_interval: ms(1000),
            growth: 2.0,
            ..fixed(100, 100_000)
        };
        let bodies: [&[u8]; 5] = [b"busy", b"busy", b"broken", b"busy", b"busy"];
        // A short hint changes nothing, a long one is capped at max_interval,
        // and the backoff keeps growing through both.
        assert_eq!(
            millis(pauses(Hinted, policy, &bodies)),
            [100, 200, 1000, 800, 1000]
        );
        let plain = pauses(Fake, policy, &[b"busy" as &[u8]; 5]);
        assert_eq!(millis(plain), [100, 200, 400, 800, 1000]);
    }

    #[test]
    fn pauses_are_capped_at_a_fraction_of_the_time_waited() {
        let policy = WaitPolicy {
            max_interval: ms(60_000),
            growth: 10.0,
            max_pause_fraction: Some(0.1),
            ..fixed(100, 1_000_000)
        };
        // Before 1 s the cap is min_interval; after it, a tenth of the time
        // waited, so each pause is 1.1 times the last.
        let close = |a: Duration, b: Duration| a.abs_diff(b) <= Duration::from_micros(1);
        let mut elapsed = Duration::ZERO;
        for (i, pause) in pauses(Fake, policy, &[b"busy" as &[u8]; 60])
            .into_iter()
            .enumerate()
        {
            let expected = elapsed.mul_f64(0.1).max(ms(100));
            assert!(
                close(pause, expected),
                "pause {i}: {pause:?}, expected {expected:?}"
            );
            elapsed += pause;
        }
        assert!(elapsed > Duration::from_secs(100), "{elapsed:?}");
        // The cap also bounds hints and jitter.
        #[derive(Debug)]
        struct Long;
        impl Target<Phase> for Long {
            fn check(&self, output: &Phase) -> Check {
                Fake.check(output)
            }
            fn interval_hint(&self, _: &Phase) -> Option<Duration> {
                Some(Duration::from_secs(3600))
            }
        }
        let full = WaitPolicy {
            jitter: Jitter::Full,
            ..policy
        };
        let mut elapsed = Duration::ZERO;
        for pause in pauses(Long, full, &[b"busy" as &[u8]; 60]) {
            let cap = elapsed.mul_f64(0.1).max(ms(100));
            assert!(
                pause <= cap + Duration::from_micros(1),
                "{pause:?} at {elapsed:?}"
            );
            assert!(pause >= ms(100));
            elapsed += pause;
        }
    }

    #[test]
    fn a_change_is_seen_within_the_cap_of_its_time() {
        // The default policy, a target that turns ready at `ready_ms`: the
        // lag is at most max(min_interval, 10 % of ready_ms), jitter and all.
        for (seed, ready_ms) in [
            300, 999, 1_000, 4_321, 9_999, 10_001, 37_000, 150_000, 599_000,
        ]
        .into_iter()
        .enumerate()
        {
            let t0 = Instant::now();
            let policy = WaitPolicy {
                max_wait: Duration::from_secs(3600),
                ..WaitPolicy::default()
            };
            let mut w = Waiter::with_rng(Fake, Fake, policy, SeededRng::new(seed as u64), t0);
            let mut now = t0;
            let seen = loop {
                match w.poll(now) {
                    Action::Send => {
                        let ready = now - t0 >= ms(ready_ms);
                        w.handle_response(reply(200, if ready { b"done" } else { b"busy" }), now);
                    }
                    Action::WakeAt(at) => now = at,
                    Action::Done(outcome) => {
                        assert_eq!(outcome, Ok(Phase::Done));
                        break now - t0;
                    }
                }
            };
            let lag = seen - ms(ready_ms);
            let allowed = ms(ready_ms / 10).max(policy.min_interval);
            assert!(lag <= allowed, "ready at {ready_ms} ms, seen {lag:?} later");
        }
    }

    #[test]
    fn an_unusable_pause_fraction_means_no_cap() {
        let base = WaitPolicy {
            max_interval: ms(800),
            growth: 2.0,
            ..fixed(100, 100_000)
        };
        let uncapped = pauses(Fake, base, &[b"busy" as &[u8]; 5]);
        assert_eq!(millis(uncapped.clone()), [100, 200, 400, 800, 800]);
        for fraction in [f64::NAN, f64::INFINITY, -1.0, 0.0] {
            let policy = WaitPolicy {
                max_pause_fraction: Some(fraction),
                ..base
            };
            assert_eq!(
                pauses(Fake, policy, &[b"busy" as &[u8]; 5]),
                uncapped,
                "{fraction}"
            );
            assert!(
                matches!(policy.validate(), Err(PolicyError::PauseFraction(_))),
                "{fraction}"
            );
        }
    }

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // Reference outputs of Vigna's splitmix64.c for seed 1234567.
        let mut rng = SeededRng::new(1_234_567);
        let got: Vec<u64> = (0..5).map(|_| rng.next_u64()).collect();
        assert_eq!(
            got,
            [
                6_457_827_717_110_365_317,
                3_203_168_211_198_807_973,
                9_817_491_932_198_370_423,
                4_593_380_528_125_082_431,
                16_408_922_859_458_223_821,
            ]
        );
    }

    #[test]
    fn step_grows_geometrically_and_is_capped() {
        let policy = WaitPolicy::default();
        let secs: Vec<f64> = (1..=9).map(|n| policy.step(n).as_secs_f64()).collect();
        assert_eq!(secs[..4], [1.0, 1.5, 2.25, 3.375]);
        assert_eq!(secs[8], 15.0);
        assert_eq!(policy.step(u32::MAX), Duration::from_secs(15));
    }

    #[test]
    fn step_survives_a_nonsense_policy() {
        let policy = WaitPolicy {
            min_interval: Duration::from_secs(3),
            max_interval: Duration::from_secs(1),
            growth: f64::NAN,
            ..WaitPolicy::default()
        };
        assert_eq!(policy.step(7), Duration::from_secs(3));
        let policy = WaitPolicy {
            growth: f64::INFINITY,
            ..WaitPolicy::default()
        };
        assert_eq!(policy.step(2), Duration::from_secs(1));
        let policy = WaitPolicy {
            growth: 1e300,
            max_interval: Duration::MAX,
            ..WaitPolicy::default()
        };
        assert_eq!(policy.step(3), Duration::MAX);
    }

    #[test]
    fn jitter_stays_in_its_window() {
        let (lo, hi) = (Duration::from_secs(1), Duration::from_secs(9));
        let mut rng = SeededRng::new(7);
        for _ in 0..1000 {
            let full = Jitter::Full.apply(lo, hi, &mut rng);
            assert!(lo <= full && full <= hi, "{full:?}");
            let equal = Jitter::Equal.apply(lo, hi, &mut rng);
            assert!(Duration::from_secs(5) <= equal && equal <= hi, "{equal:?}");
        }
        assert_eq!(Jitter::None.apply(lo, hi, &mut rng), hi);
        assert_eq!(Jitter::Full.apply(hi, hi, &mut rng), hi);
        let max = Jitter::Full.apply(Duration::ZERO, Duration::MAX, &mut rng);
        assert!(max <= Duration::MAX);
    }

    #[test]
    fn validate_names_each_problem() {
        let ok = WaitPolicy::default();
        assert_eq!(ok.validate(), Ok(()));
        let bad = |p: WaitPolicy| p.validate().unwrap_err();
        assert_eq!(
            bad(WaitPolicy {
                min_interval: Duration::ZERO,
                ..ok
            }),
            PolicyError::ZeroMinInterval
        );
        assert!(matches!(
            bad(WaitPolicy {
                max_interval: Duration::from_millis(500),
                ..ok
            }),
            PolicyError::IntervalOrder { .. }
        ));
        assert!(matches!(
            bad(WaitPolicy { growth: 0.5, ..ok }),
            PolicyError::Growth(_)
        ));
        assert!(matches!(
            bad(WaitPolicy {
                growth: f64::NAN,
                ..ok
            }),
            PolicyError::Growth(_)
        ));
        assert_eq!(
            bad(WaitPolicy {
                max_wait: Duration::ZERO,
                ..ok
            }),
            PolicyError::ZeroMaxWait
        );
        let too_long = bad(WaitPolicy {
            max_wait: Duration::MAX,
            ..ok
        });
        assert!(matches!(too_long, PolicyError::MaxWaitTooLong { .. }));
        assert!(too_long.to_string().starts_with("max_wait must be at most"));
    }
}
