//! What a wait waits for: a condition on an operation's output. Each
//! operation's own targets live beside it; `Once` serves every operation.

use std::time::Duration;

/// What a target makes of one decoded output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Check {
    /// Not there yet: ask again later.
    Pending,
    /// The condition holds: the wait succeeds with this output.
    Ready,
    /// The condition can no longer be reached: the wait fails with this output.
    Failed,
}

/// The condition a [`Waiter`](crate::Waiter) waits for.
pub trait Target<O> {
    /// Classify one output.
    fn check(&self, output: &O) -> Check;

    /// A pause the output itself suggests (e.g. a long queue). It can only
    /// lengthen the pause: the waiter takes the larger of it and the backoff
    /// step, still within `max_interval` and the pause cap, so a hint in a
    /// wrong unit never makes the waiter ask more often, nor notice a change
    /// later than the policy allows. `None` keeps the backoff.
    fn interval_hint(&self, _output: &O) -> Option<Duration> {
        None
    }
}

/// The first decoded output is the answer: runs a single call with the
/// waiter's retries, backoff, `Retry-After` and deadline, so one-shot calls
/// need no second retry loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Once;

impl<O> Target<O> for Once {
    fn check(&self, _output: &O) -> Check {
        Check::Ready
    }
}
