//! What the machines tell a driver, and what they report.

use std::time::{Duration, Instant};

use crate::error::{ApiError, TransportErrorKind};

/// What the driver should do next; `T` is the machine's outcome
/// (`Result<O, WaitError<O>>` for a [`Waiter`](crate::Waiter),
/// `Result<O, CallError>` for a [`Call`](crate::Call)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<T> {
    /// Build the request with the machine's `request` method, send it, and
    /// feed the outcome back with `handle_response` or `handle_transport_error`.
    Send,
    /// Call `poll` again at (or after) this instant; always later than the
    /// `now` given, never later than the deadline.
    WakeAt(Instant),
    /// The machine is done; every later poll returns the same outcome.
    Done(T),
}

/// What a [`Waiter`](crate::Waiter) tells its driver.
pub type WaitAction<O> = Action<Result<O, WaitError<O>>>;

/// One thing the waiter learned, kept so a driver can show progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation<O> {
    /// The request it answers, counting from 1.
    pub attempt: u32,
    /// When it was handled.
    pub at: Instant,
    /// Time since the wait started.
    pub elapsed: Duration,
    /// What was observed.
    pub event: Observed<O>,
}

/// The content of an [`Observation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed<O> {
    /// A decoded output.
    Output(O),
    /// The service answered with an error.
    Error(ApiError),
    /// The request failed in transport.
    Transport(TransportErrorKind),
}

/// Why a wait ended without reaching its target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError<O> {
    /// The target reported a state it can no longer leave.
    #[error("the instance reached a failure state: {0}")]
    FailedState(O),
    /// The deadline passed; `last` is the latest output seen, if any.
    #[error("wait deadline passed{}", LastSeen(.last))]
    Deadline {
        /// The latest decoded output, to tell the user where things stood.
        last: Option<O>,
    },
    /// A non-retryable service error, or the last of too many in a row.
    #[error(transparent)]
    Api(ApiError),
    /// A non-retryable transport failure, or the last of too many in a row.
    #[error("{0}")]
    Transport(TransportErrorKind),
}

struct LastSeen<'a, O>(&'a Option<O>);

impl<O: std::fmt::Display> std::fmt::Display for LastSeen<'_, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(last) => write!(f, " (last seen: {last})"),
            None => f.write_str(" (no answer decoded)"),
        }
    }
}
