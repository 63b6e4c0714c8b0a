//! A single call with retries: the machine every driver runs for one request.
//!
//! It is the [`Waiter`] with the [`Once`] target, whose outcome is turned
//! into what a caller of one call wants: the output, or the failure that
//! ended it. When the deadline passes while a retry is pending, the failure
//! that needed the retry is the answer, so no driver has to interpret a
//! wait's deadline or failed state.

use std::time::{Instant, SystemTime};

use http::{Request, Response};

use crate::context::RequestContext;
use crate::error::{ApiError, InvalidInput, TransportErrorKind};
use crate::operation::Operation;
use crate::waiter::{Action, Observation, Observed, Once, WaitError, WaitPolicy, Waiter};

/// Why a single call failed, after its retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The service's answer: an error body, throttling, a refusal or a
    /// response that could not be understood.
    #[error(transparent)]
    Api(ApiError),
    /// The request failed in transport; `Timeout` also when the deadline
    /// passed before any answer came back.
    #[error("{0}")]
    Transport(TransportErrorKind),
}

/// One call of an operation, retried per a [`WaitPolicy`] (its intervals,
/// `max_consecutive_errors` and `max_wait`).
///
/// The loop contract is the [`Waiter`]'s: after creating it or any
/// `handle_*`, call [`Call::poll`] until it says [`Action::WakeAt`] or
/// [`Action::Done`]; on [`Action::Send`], send [`Call::request`] and feed the
/// outcome back.
///
/// ```
/// use std::time::Instant;
/// use koophone_proto::{Action, Call, CallError, ShowProgress, WaitPolicy};
///
/// let op = ShowProgress::new("1008600000104285462", "iRJEVP9")?;
/// let start = Instant::now();
/// let mut call = Call::new(op, WaitPolicy::default(), start);
/// let mut answers = [
///     (503, &b"busy"[..]),
///     (200, &br#"{"data":{"status":1,"waitingCount":2},"error_code":"0","error_msg":"OK"}"#[..]),
/// ]
/// .into_iter();
/// let mut now = start;
/// let progress = loop {
///     match call.poll(now) {
///         Action::Send => {
///             let (status, body) = answers.next().expect("a retry is enough");
///             let response = http::Response::builder().status(status).body(body)?;
///             call.handle_response(response, now);
///         }
///         Action::WakeAt(at) => now = at,
///         Action::Done(outcome) => break outcome?,
///     }
/// };
/// assert_eq!(progress.waiting_count, Some(2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Call<Op: Operation> {
    waiter: Waiter<Op, Once>,
}

impl<Op: Operation> Call<Op> {
    /// Start the call at `now`.
    pub fn new(op: Op, policy: WaitPolicy, now: Instant) -> Self {
        Call {
            waiter: Waiter::new(op, Once, policy, now),
        }
    }

    /// What to do next.
    pub fn poll(&mut self, now: Instant) -> Action<Result<Op::Output, CallError>> {
        match self.waiter.poll(now) {
            Action::Send => Action::Send,
            Action::WakeAt(at) => Action::WakeAt(at),
            Action::Done(outcome) => Action::Done(outcome.or_else(|e| self.failure(e))),
        }
    }

    /// The request to send after [`Action::Send`]; see [`Waiter::request`].
    pub fn request(
        &mut self,
        ctx: &RequestContext,
        wall: SystemTime,
    ) -> Result<Request<Vec<u8>>, InvalidInput> {
        self.waiter.request(ctx, wall)
    }

    /// Feed back the response to the request in flight.
    pub fn handle_response(&mut self, response: Response<&[u8]>, now: Instant) {
        self.waiter.handle_response(response, now);
    }

    /// Feed back a transport failure of the request in flight.
    pub fn handle_transport_error(&mut self, kind: TransportErrorKind, now: Instant) {
        self.waiter.handle_transport_error(kind, now);
    }

    /// The operation.
    pub fn operation(&self) -> &Op {
        self.waiter.operation()
    }

    /// When the call gives up.
    pub fn deadline(&self) -> Instant {
        self.waiter.deadline()
    }

    /// Requests asked for so far.
    pub fn attempts(&self) -> u32 {
        self.waiter.polls()
    }

    /// The latest answer or failure handled.
    pub fn last_observation(&self) -> Option<&Observation<Op::Output>> {
        self.waiter.last_observation()
    }

    /// A wait that ended without an output, as a call's failure. `Once`
    /// takes the first output, so only errors and the deadline get here.
    fn failure(&self, error: WaitError<Op::Output>) -> Result<Op::Output, CallError> {
        match error {
            WaitError::Api(e) => Err(CallError::Api(e)),
            WaitError::Transport(kind) => Err(CallError::Transport(kind)),
            WaitError::FailedState(output) => Ok(output),
            WaitError::Deadline { .. } => match self.waiter.last_observation().map(|o| &o.event) {
                Some(Observed::Error(e)) => Err(CallError::Api(e.clone())),
                Some(Observed::Transport(kind)) => Err(CallError::Transport(*kind)),
                Some(Observed::Output(output)) => Ok(output.clone()),
                None => Err(CallError::Transport(TransportErrorKind::Timeout)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::context::token_context;
    use crate::waiter::Jitter;
    use crate::{Progress, ShowProgress};

    const OK: &[u8] =
        br#"{"data":{"status":0,"waitingCount":0},"error_code":"0","error_msg":"OK"}"#;

    fn policy(max_wait_ms: u64) -> WaitPolicy {
        WaitPolicy {
            min_interval: Duration::from_millis(100),
            max_interval: Duration::from_millis(100),
            jitter: Jitter::None,
            max_wait: Duration::from_millis(max_wait_ms),
            max_consecutive_errors: 2,
            ..WaitPolicy::default()
        }
    }

    fn reply(
        status: u16,
        headers: &[(&str, &str)],
        body: &'static [u8],
    ) -> Response<&'static [u8]> {
        let mut builder = Response::builder().status(status);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(body).unwrap()
    }

    /// Runs a ShowProgress call that may take `max_wait_ms` against canned
    /// answers; returns its outcome and attempts.
    fn run<const N: usize>(
        max_wait_ms: u64,
        answers: [Result<Response<&'static [u8]>, TransportErrorKind>; N],
    ) -> (Result<Progress, CallError>, u32) {
        let t0 = Instant::now();
        let mut call = Call::new(
            ShowProgress::new("u", "i").unwrap(),
            policy(max_wait_ms),
            t0,
        );
        let mut answers = answers.into_iter();
        let mut now = t0;
        loop {
            match call.poll(now) {
                Action::Send => match answers.next() {
                    Some(Ok(response)) => call.handle_response(response, now),
                    Some(Err(kind)) => call.handle_transport_error(kind, now),
                    // Nothing comes back: time passes until the deadline.
                    None => now = call.deadline(),
                },
                Action::WakeAt(at) => now = at,
                Action::Done(outcome) => return (outcome, call.attempts()),
            }
        }
    }

    #[test]
    fn retries_then_answers() {
        let answers = [
            Ok(reply(503, &[], b"")),
            Err(TransportErrorKind::Reset),
            Ok(reply(200, &[], OK)),
        ];
        let (outcome, attempts) = run(10_000, answers);
        assert!(outcome.is_ok());
        assert_eq!(attempts, 3);
    }

    #[test]
    fn out_of_time_reports_the_failure_that_needed_the_retry() {
        // 150 ms leave room for one retry at 100 ms, not a second one.
        let answers = [
            Ok(reply(502, &[], b"bad gateway")),
            Ok(reply(502, &[], b"bad gateway")),
        ];
        let (outcome, _) = run(150, answers);
        match outcome {
            Err(CallError::Api(e)) => assert_eq!(e.status(), 502),
            other => panic!("{other:?}"),
        }

        let answers = [
            Err(TransportErrorKind::Connect),
            Err(TransportErrorKind::Connect),
        ];
        let (outcome, _) = run(150, answers);
        assert_eq!(
            outcome.unwrap_err(),
            CallError::Transport(TransportErrorKind::Connect)
        );

        let (outcome, attempts) = run(150, []);
        assert_eq!(
            outcome.unwrap_err(),
            CallError::Transport(TransportErrorKind::Timeout)
        );
        assert_eq!(attempts, 1);
    }

    #[test]
    fn the_request_carries_the_context_and_its_secrets_are_scrubbed() {
        let t0 = Instant::now();
        let secret = "MIIsecret-token-value";
        let ctx = token_context("https://kp.example.com", secret);
        let mut call = Call::new(ShowProgress::new("u", "i").unwrap(), policy(1000), t0);
        assert_eq!(call.poll(t0), Action::Send);
        let request = call.request(&ctx, SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(request.headers()["x-auth-token"], secret);
        let body = format!(
            r#"{{"error_code":"KOOPHONE.API.1000","error_msg":"bad header X-Auth-Token: {secret}"}}"#
        );
        let response = Response::builder()
            .status(400)
            .header("x-request-id", format!("req-{secret}"))
            .body(body.as_bytes())
            .unwrap();
        call.handle_response(response, t0);
        let Action::Done(Err(error)) = call.poll(t0) else {
            panic!("a 400 is final");
        };
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }
}
