//! An in-memory transport: requests go straight into the simulator core and
//! time is a [`VirtualClock`], so a test of code built on koophone opens no
//! socket and never sleeps.
//!
//! Plug [`MemoryTransport::send`] in where your driver would send a request
//! over the network, and [`MemoryTransport::advance_to`] where it would sleep:
//! a wait of minutes then runs in microseconds, with the same answers, faults
//! and timing rules the [`Sim`](crate::Sim) server gives over loopback.
//! Connection-level faults come back as a [`MemoryError`], which a driver maps
//! the way it maps its HTTP client's errors (in koophone-proto terms: a delay
//! past the timeout is `Timeout`, a dropped or truncated answer is `Reset`, an
//! oversized body is `BodyTooLarge`).
//!
//! It works on plain `http` types and does not depend on any koophone client
//! crate, so the simulator stays an independent reference.

use std::time::{Duration, Instant, SystemTime};

use http::{Request, Response};

use crate::scenario::{Scenario, ScenarioError};
use crate::shared_simulator::SharedSimulator;
use crate::simulator::{ConnectionFault, SimResponse, Simulator};
use crate::virtual_clock::VirtualClock;

/// Why [`MemoryTransport::send`] produced no response: the in-memory
/// counterpart of what an HTTP client reports for the same fault on a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// The answer would have come later than the transport's timeout; the
    /// clock has moved on by the timeout.
    #[error("no answer within the timeout of {0:?}")]
    Timeout(Duration),
    /// The connection closed without an answer (fault `drop_connection`).
    #[error("connection closed without an answer")]
    ConnectionClosed,
    /// The connection closed part way through the body (fault `truncated_body`).
    #[error("connection closed after {received} of {expected} body bytes")]
    TruncatedBody {
        /// Body bytes that arrived.
        received: usize,
        /// Body bytes the `Content-Length` promised.
        expected: usize,
    },
    /// The body is longer than the transport's limit.
    #[error("response body of {len} bytes exceeds the limit of {limit}")]
    BodyTooLarge {
        /// The body's length.
        len: usize,
        /// The limit set with [`MemoryTransport::with_body_limit`].
        limit: usize,
    },
}

/// A simulator reached through function calls under a virtual clock.
///
/// Cheap to clone: clones share the simulator and the clock, so the code
/// under test can hold one and the test another.
///
/// ```
/// use std::time::{Duration, Instant};
/// use koophone_sim::{Scenario, Simulator};
/// use koophone_sim::memory::MemoryTransport;
///
/// // The origin is the caller's: the transport itself reads no clock.
/// let transport = MemoryTransport::new(Simulator::new(Scenario::default(), 7)?, Instant::now());
/// // What a client of ShowProgress sends (the base URL is never dialled).
/// let request = || {
///     http::Request::post("https://koophone.invalid/v1/instances/prepare-progress")
///         .header("x-auth-token", "sim-token")
///         .body(br#"{"user_id":"1008600000104285462","instance_id":"iRJEVP9"}"#.to_vec())
/// };
/// let first = transport.send(&request()?)?;
/// assert!(first.body().starts_with(br#"{"data":{"status":1"#)); // queuing
///
/// // Where a driver would sleep, move the clock instead: no time passes.
/// transport.advance(Duration::from_secs(6));
/// let later = transport.send(&request()?)?;
/// assert!(later.body().starts_with(br#"{"data":{"status":0"#)); // normal
/// assert_eq!(transport.simulator().lock().requests_handled(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct MemoryTransport {
    simulator: SharedSimulator,
    clock: VirtualClock,
    timeout: Option<Duration>,
    body_limit: Option<usize>,
}

impl MemoryTransport {
    /// A transport to `simulator`, on a new clock at time zero anchored at
    /// `origin` (the caller's: the transport reads no real clock) and at the
    /// simulator's [`wall_clock_origin`](Simulator::wall_clock_origin).
    pub fn new(simulator: Simulator, origin: Instant) -> Self {
        let clock = VirtualClock::new(origin, simulator.wall_clock_origin());
        Self::with_shared(SharedSimulator::new(simulator), clock)
    }

    /// A transport to a new simulator of `scenario` (faults and request ids
    /// follow `seed`), its clock anchored at `origin` and at `wall_origin`
    /// (which replaces the scenario's `wall_clock_origin`).
    pub fn from_scenario(
        mut scenario: Scenario,
        seed: u64,
        origin: Instant,
        wall_origin: SystemTime,
    ) -> Result<Self, ScenarioError> {
        scenario.wall_clock_origin = Some(wall_origin);
        Ok(Self::new(Simulator::new(scenario, seed)?, origin))
    }

    /// A transport to a simulator and on a clock that others hold too; the
    /// simulator's time is the clock's time since its origin.
    pub fn with_shared(simulator: SharedSimulator, clock: VirtualClock) -> Self {
        Self {
            simulator,
            clock,
            timeout: None,
            body_limit: None,
        }
    }

    /// Give up on answers delayed (fault `slow`) by `timeout` or more, as a
    /// client with that request timeout would (default: wait for any delay).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Refuse bodies longer than `bytes`, as a client with that limit would
    /// (default: no limit).
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = Some(bytes);
        self
    }

    /// Hands `request` to the simulator at the clock's current time. A
    /// `slow` fault moves the clock forward by its delay (or by the timeout,
    /// when that comes first), as the real exchange would have taken that long.
    pub fn send<B: AsRef<[u8]>>(
        &self,
        request: &Request<B>,
    ) -> Result<Response<Vec<u8>>, MemoryError> {
        let SimResponse { response, fault } = self.simulator.handle(request, self.clock.elapsed());
        match fault {
            None => {}
            Some(ConnectionFault::Delay(delay)) => match self.timeout {
                Some(timeout) if delay >= timeout => {
                    self.clock.advance(timeout);
                    return Err(MemoryError::Timeout(timeout));
                }
                _ => self.clock.advance(delay),
            },
            Some(ConnectionFault::DropConnection) => return Err(MemoryError::ConnectionClosed),
            Some(ConnectionFault::TruncateBody { keep }) => {
                let expected = response.body().len();
                return Err(MemoryError::TruncatedBody {
                    received: keep.min(expected),
                    expected,
                });
            }
        }
        match self.body_limit {
            Some(limit) if response.body().len() > limit => Err(MemoryError::BodyTooLarge {
                len: response.body().len(),
                limit,
            }),
            _ => Ok(response),
        }
    }

    /// The current virtual instant: the `now` to hand to a koophone-proto
    /// waiter.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Virtual time since the clock's origin (the simulator's time).
    pub fn elapsed(&self) -> Duration {
        self.clock.elapsed()
    }

    /// The simulator's wall-clock time now: the time to sign requests with
    /// (`X-Sdk-Date`) and the one IAM's `expires_at` is measured against.
    pub fn wall_clock(&self) -> SystemTime {
        self.simulator.lock().wall_clock(self.clock.elapsed())
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Moves the clock forward to `instant` (what a driver does instead of
    /// sleeping until a waiter's `WakeAt`); an instant in the past changes nothing.
    pub fn advance_to(&self, instant: Instant) {
        self.clock.advance_to(instant);
    }

    /// The clock, to share with code that reads the time.
    pub fn clock(&self) -> &VirtualClock {
        &self.clock
    }

    /// The simulator, for its request log and oracles
    /// ([`Simulator::koophone_reaches`], ...).
    pub fn simulator(&self) -> &SharedSimulator {
        &self.simulator
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Fault, FaultRoute, FaultRule};

    fn status_request() -> Request<Vec<u8>> {
        Request::get("http://127.0.0.1/v1/sim-project/instances/sim-instance/status")
            .header("x-auth-token", "sim-token")
            .body(Vec::new())
            .unwrap()
    }

    fn with_fault(fault: Fault) -> MemoryTransport {
        let mut scenario = Scenario::default();
        scenario.faults.push(FaultRule {
            route: FaultRoute::Any,
            probability: 1.0,
            burst: 1,
            from_ms: 0,
            until_ms: None,
            max_count: Some(1),
            fault,
        });
        in_memory(scenario)
    }

    /// A transport for a test, anchored at the test's real instant.
    fn in_memory(scenario: Scenario) -> MemoryTransport {
        MemoryTransport::new(Simulator::new(scenario, 1).unwrap(), Instant::now())
    }

    #[test]
    fn slow_answers_move_the_clock_or_time_out() {
        let slow = Fault::Slow { delay_ms: 700 };
        let transport = with_fault(slow.clone());
        assert_eq!(transport.send(&status_request()).unwrap().status(), 200);
        assert_eq!(transport.elapsed(), Duration::from_millis(700));

        let transport = with_fault(slow).with_timeout(Duration::from_millis(500));
        assert_eq!(
            transport.send(&status_request()).unwrap_err(),
            MemoryError::Timeout(Duration::from_millis(500))
        );
        assert_eq!(transport.elapsed(), Duration::from_millis(500));
        // The rule fired once; the next answer is on time.
        assert_eq!(transport.send(&status_request()).unwrap().status(), 200);
        assert_eq!(transport.elapsed(), Duration::from_millis(500));
    }

    #[test]
    fn connection_faults_are_errors_not_responses() {
        let dropped = with_fault(Fault::DropConnection {});
        assert_eq!(
            dropped.send(&status_request()).unwrap_err(),
            MemoryError::ConnectionClosed
        );
        let truncated = with_fault(Fault::TruncatedBody {});
        match truncated.send(&status_request()) {
            Err(MemoryError::TruncatedBody { received, expected }) => {
                assert!(received < expected, "{received} of {expected}");
            }
            other => panic!("expected a truncated body, got {other:?}"),
        }
        // Both requests reached the simulator and are in its log.
        assert_eq!(dropped.simulator().request_log().len(), 1);
        assert_eq!(truncated.simulator().request_log().len(), 1);
    }

    #[test]
    fn body_limit_refuses_longer_bodies_only() {
        let transport = in_memory(Scenario::default());
        let len = transport.send(&status_request()).unwrap().body().len();
        let limited = transport.clone().with_body_limit(len);
        assert!(limited.send(&status_request()).is_ok());
        let tight = transport.with_body_limit(len - 1);
        assert_eq!(
            tight.send(&status_request()).unwrap_err(),
            MemoryError::BodyTooLarge {
                len,
                limit: len - 1
            }
        );
    }

    #[test]
    fn clones_share_the_simulator_and_the_clock() {
        let transport = in_memory(Scenario::default());
        let other = transport.clone();
        other.advance(Duration::from_secs(2));
        assert_eq!(transport.elapsed(), Duration::from_secs(2));
        transport.advance_to(transport.clock().origin() + Duration::from_secs(1));
        assert_eq!(other.elapsed(), Duration::from_secs(2));
        transport.send(&status_request()).unwrap();
        let log = other.simulator().request_log();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].at, Duration::from_secs(2));
        assert_eq!(other.now(), other.clock().origin() + Duration::from_secs(2));
    }
}
