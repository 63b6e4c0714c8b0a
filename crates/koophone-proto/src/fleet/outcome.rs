//! What a fleet tells its driver, and the tally at the end.

use std::time::{Duration, Instant};

use crate::waiter::WaitError;

/// What the driver of a [`Fleet`](super::Fleet) does next. Instances are
/// numbered from 0 in the order they were added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FleetAction<O> {
    /// Build instance `k`'s request with [`Fleet::request`](super::Fleet::request),
    /// send it, and feed the outcome back with
    /// [`Fleet::handle_response`](super::Fleet::handle_response) or
    /// [`Fleet::handle_transport_error`](super::Fleet::handle_transport_error).
    /// Then poll again at once: more requests may be allowed.
    Send(usize),
    /// Nothing to do before this instant: poll again then, or as soon as an
    /// answer is handled or an instance is added or cancelled.
    WakeAt(Instant),
    /// Every request the concurrency limit allows is in flight: poll again
    /// when an answer is handled (or an instance is added or cancelled).
    AwaitAnswer,
    /// Instance `k` is done (reported once per instance).
    Done(usize, Result<O, WaitError<O>>),
    /// Every instance is done or cancelled. Adding an instance starts the
    /// fleet again.
    AllDone,
}

/// The tally of a fleet, for its summary line and the fleet JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FleetSummary {
    /// Instances added.
    pub total: usize,
    /// Instances whose target was reached.
    pub ready: usize,
    /// Instances that reached a failure state ([`WaitError::FailedState`]).
    pub failed: usize,
    /// Instances whose deadline passed ([`WaitError::Deadline`]).
    pub timed_out: usize,
    /// Instances that ended on a service or transport error.
    pub errors: usize,
    /// Instances cancelled before they were done.
    pub cancelled: usize,
    /// Instances still waiting (neither done nor cancelled).
    pub running: usize,
    /// Requests asked for (the number of [`FleetAction::Send`]s).
    pub requests: u64,
    /// From the fleet's start to the latest `now` it was given.
    pub elapsed: Duration,
}

impl FleetSummary {
    pub(crate) fn count<O>(&mut self, outcome: &Result<O, WaitError<O>>) {
        match outcome {
            Ok(_) => self.ready += 1,
            Err(WaitError::FailedState(_)) => self.failed += 1,
            Err(WaitError::Deadline { .. }) => self.timed_out += 1,
            Err(WaitError::Api(_) | WaitError::Transport(_)) => self.errors += 1,
        }
    }
}
