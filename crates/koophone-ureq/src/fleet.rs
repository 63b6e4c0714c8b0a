//! Many waits at once: the core's [`Fleet`] driven by a fixed pool of worker
//! threads that share the client's connections and credentials.
//!
//! The driver only moves bytes. Every decision — which instance is polled
//! next, when, how many requests are in flight, what is retried — is the
//! fleet's. The threads:
//!
//! - `concurrency` workers, each looping: poll the fleet (under one mutex);
//!   on `Send(k)` release the lock, send instance `k`'s request like a single
//!   wait's attempt, feed the answer back; on `WakeAt`/`AwaitAnswer` sleep on
//!   a condition variable (woken by a `Send`, an added instance or a stop);
//! - the caller's thread, which adds the instances (from an iterator that
//!   may block, so batches can come in as they are prepared), hands every
//!   observation to the callback (so the callback needs neither `Send` nor
//!   `'static`), and watches the cancel token.
//!
//! On cancel the caller returns within [`TICK`] with what was known; a worker
//! whose request is on the wire ends by itself when that request does.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use koophone_proto::fleet::{Fleet, FleetAction, FleetPolicy, FleetPolicyError, FleetSummary};
use koophone_proto::{
    InstanceStatus, Observation, Operation, Progress, ShowInstanceStatus, ShowProgress, Target,
    TransportErrorKind, UntilReady, UntilState, WaitPolicy,
};

use crate::client::{Client, wait_result};
use crate::error::Error;
use crate::transport::TransportError;
use crate::wait::Waited;

/// The longest a thread sleeps before it looks at the cancel token again.
const TICK: Duration = Duration::from_millis(100);

/// What a fleet wait found: one result per instance, in the order they were
/// given, and the tally.
#[derive(Debug)]
pub struct FleetWaited<O> {
    /// Instance `k`'s result, as [`Client::wait`] would report it; an
    /// instance the wait did not finish (cancelled) is [`Error::Cancelled`].
    pub instances: Vec<Result<Waited<O>, Error>>,
    /// Counts of instances (ready, failed, timed out, errors), requests sent
    /// and the time the whole fleet took.
    pub summary: FleetSummary,
    /// Whether the wait was cancelled before every instance was done.
    pub cancelled: bool,
}

/// The state the threads share, behind one mutex.
struct State<O: Operation, T> {
    fleet: Fleet<O, T>,
    /// When each instance was added (its wait's start).
    started: Vec<Instant>,
    results: Vec<Option<Result<Waited<O::Output>, Error>>>,
    /// The transport error behind each instance's latest transport failure
    /// (ureq's error, the source of the error reported).
    last_transport: Vec<Option<TransportError>>,
    /// Observations not yet handed to the callback.
    observations: VecDeque<(usize, Observation<O::Output>)>,
    /// Every instance has been added.
    fed: bool,
    /// Every instance added is done.
    finished: bool,
    /// The workers leave (cancelled, or the wait ended).
    stop: bool,
}

struct Shared<O: Operation, T> {
    state: Mutex<State<O, T>>,
    /// Workers sleep on this one.
    work: Condvar,
    /// The caller sleeps on this one.
    events: Condvar,
}

impl<O: Operation, T> Shared<O, T> {
    fn lock(&self) -> MutexGuard<'_, State<O, T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Client {
    /// Wait for many cloud phones to be ready (ShowProgress until `normal`;
    /// `failed` ends an instance's wait with [`Error::FailedState`]). See
    /// [`Client::wait_fleet`].
    pub fn wait_all(
        &self,
        ops: impl IntoIterator<Item = ShowProgress>,
        policy: WaitPolicy,
        fleet: FleetPolicy,
        on_observation: impl FnMut(usize, &Observation<Progress>),
    ) -> Result<FleetWaited<Progress>, Error> {
        let instances = ops.into_iter().map(|op| (op, UntilReady));
        self.wait_fleet(instances, policy, fleet, on_observation)
    }

    /// Wait for many CloudDC instances to reach `target`'s state
    /// (ShowInstanceStatus). See [`Client::wait_fleet`].
    pub fn wait_for_states(
        &self,
        ops: impl IntoIterator<Item = ShowInstanceStatus>,
        target: UntilState,
        policy: WaitPolicy,
        fleet: FleetPolicy,
        on_observation: impl FnMut(usize, &Observation<InstanceStatus>),
    ) -> Result<FleetWaited<InstanceStatus>, Error> {
        let instances = ops.into_iter().map(|op| (op, target.clone()));
        self.wait_fleet(instances, policy, fleet, on_observation)
    }

    /// Wait for many instances at once: each `(op, target)` is one wait
    /// with `policy`, and all of them share `fleet`'s request rate,
    /// concurrency limit and retry budget (koophone-proto's [`Fleet`]).
    ///
    /// `fleet.concurrency` worker threads send the requests, however many
    /// instances there are, over the client's keep-alive connections and
    /// with its credentials. Instances are added as `instances` yields them:
    /// an iterator that blocks (a batch being prepared) is fine, the waits
    /// already added go on meanwhile. `on_observation` sees every answer,
    /// error and transport failure with its instance's index, on the
    /// calling thread.
    ///
    /// Results come in input order. With the client's [`CancelToken`]
    /// cancelled the call returns within a fraction of a second with what
    /// was known (`cancelled: true`). Fails only on a policy out of range.
    ///
    /// [`CancelToken`]: crate::CancelToken
    pub fn wait_fleet<O, T>(
        &self,
        instances: impl IntoIterator<Item = (O, T)>,
        policy: WaitPolicy,
        fleet: FleetPolicy,
        mut on_observation: impl FnMut(usize, &Observation<O::Output>),
    ) -> Result<FleetWaited<O::Output>, Error>
    where
        O: Operation + Send + 'static,
        T: Target<O::Output> + Send + 'static,
    {
        #[cfg(feature = "tracing")]
        let _span = tracing::info_span!("koophone.wait_fleet", operation = O::NAME).entered();
        policy.validate()?;
        let workers = fleet.concurrency;
        let fleet = Fleet::new(fleet, policy, Instant::now())?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                fleet,
                started: Vec::new(),
                results: Vec::new(),
                last_transport: Vec::new(),
                observations: VecDeque::new(),
                fed: false,
                finished: false,
                stop: false,
            }),
            work: Condvar::new(),
            events: Condvar::new(),
        });
        // Whatever happens below, the workers leave when this does.
        let _stop = StopOnDrop(&*shared);
        let mut spawned = 0;
        for _ in 0..workers {
            let worker = Arc::clone(&shared);
            let client = self.clone();
            let started = std::thread::Builder::new()
                .name("koophone-fleet".into())
                .spawn(move || client.fleet_worker(&worker));
            // Out of threads: the ones running do the work (at least one must).
            if started.is_err() {
                break;
            }
            spawned += 1;
        }
        if spawned == 0 {
            return Err(Error::InvalidFleetPolicy(FleetPolicyError::ZeroConcurrency));
        }

        for (op, target) in instances {
            if self.check_cancelled().is_err() {
                break;
            }
            let mut state = shared.lock();
            let now = Instant::now();
            state.fleet.add(op, target, now);
            state.started.push(now);
            state.results.push(None);
            state.last_transport.push(None);
            drop(state);
            shared.work.notify_one();
            deliver(&shared, &mut on_observation);
        }
        shared.lock().fed = true;
        shared.work.notify_all();

        let mut state = shared.lock();
        loop {
            while let Some((k, seen)) = state.observations.pop_front() {
                drop(state);
                on_observation(k, &seen);
                state = shared.lock();
            }
            if state.finished || self.check_cancelled().is_err() {
                break;
            }
            state = shared
                .events
                .wait_timeout(state, TICK)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.stop = true;
        let cancelled = !state.finished;
        let summary = state.fleet.summary();
        let instances = state
            .results
            .iter_mut()
            .map(|result| result.take().unwrap_or(Err(Error::Cancelled)))
            .collect();
        drop(state);
        shared.work.notify_all();
        Ok(FleetWaited {
            instances,
            summary,
            cancelled,
        })
    }

    /// One worker: poll, send, feed back, until the fleet is over or stopped.
    fn fleet_worker<O, T>(&self, shared: &Shared<O, T>)
    where
        O: Operation,
        T: Target<O::Output>,
    {
        while let Some((k, deadline, attempt, now)) = self.next_send(shared) {
            let sent = self.attempt(deadline, O::NAME, attempt, now, &mut |ctx, wall| {
                shared.lock().fleet.request(k, ctx, wall)
            });
            let mut state = shared.lock();
            let now = Instant::now();
            match sent {
                Ok(Ok(response)) => state.fleet.handle_owned(k, response, now),
                Ok(Err(e)) => {
                    state.fleet.handle_transport_error(k, e.kind(), now);
                    state.last_transport[k] = Some(e);
                }
                Err(Error::Cancelled) => {
                    state.stop = true;
                    drop(state);
                    shared.events.notify_all();
                    shared.work.notify_all();
                    return;
                }
                Err(e) => {
                    // No request could be made (credentials, IAM, a context
                    // that cannot build it): the instance ends with that
                    // error, as a single wait would, and its slot is freed.
                    state.fleet.cancel(k);
                    state
                        .fleet
                        .handle_transport_error(k, TransportErrorKind::Connect, now);
                    state.results[k] = Some(Err(e));
                }
            }
            if let Some(seen) = state.fleet.waiter(k).and_then(|w| w.last_observation()) {
                let seen = seen.clone();
                state.observations.push_back((k, seen));
                shared.events.notify_one();
            }
        }
    }

    /// Poll the fleet until it says send (instance, its deadline, its
    /// attempt number, now), recording the instances it reports done;
    /// `None` when the worker should leave.
    fn next_send<O, T>(&self, shared: &Shared<O, T>) -> Option<(usize, Instant, u32, Instant)>
    where
        O: Operation,
        T: Target<O::Output>,
    {
        let mut state = shared.lock();
        loop {
            if state.stop || self.check_cancelled().is_err() {
                return None;
            }
            let now = Instant::now();
            let sleep = match state.fleet.poll(now) {
                FleetAction::Send(k) => {
                    let waiter = state.fleet.waiter(k)?;
                    let send = (k, waiter.deadline(), waiter.polls(), now);
                    drop(state);
                    // More requests may be allowed: another worker looks.
                    shared.work.notify_one();
                    return Some(send);
                }
                FleetAction::Done(k, outcome) => {
                    let state = &mut *state;
                    if let Some(waiter) = state.fleet.waiter(k) {
                        let elapsed = now.saturating_duration_since(state.started[k]);
                        let transport = state.last_transport[k].take();
                        state.results[k] = Some(wait_result(outcome, waiter, elapsed, transport));
                    }
                    continue;
                }
                FleetAction::WakeAt(at) => at.saturating_duration_since(now).min(TICK),
                FleetAction::AwaitAnswer => TICK,
                FleetAction::AllDone if state.fed => {
                    state.finished = true;
                    state.stop = true;
                    drop(state);
                    shared.events.notify_all();
                    shared.work.notify_all();
                    return None;
                }
                FleetAction::AllDone => TICK,
            };
            state = shared
                .work
                .wait_timeout(state, sleep)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// Hand the observations gathered so far to the callback, outside the lock.
fn deliver<O: Operation, T>(
    shared: &Shared<O, T>,
    on_observation: &mut impl FnMut(usize, &Observation<O::Output>),
) {
    loop {
        let next = shared.lock().observations.pop_front();
        match next {
            Some((k, seen)) => on_observation(k, &seen),
            None => return,
        }
    }
}

/// Tell every worker to leave.
fn stop<O: Operation, T>(shared: &Shared<O, T>) {
    shared.lock().stop = true;
    shared.work.notify_all();
}

/// Stops the workers when the caller leaves, by any path.
struct StopOnDrop<'a, O: Operation, T>(&'a Shared<O, T>);

impl<O: Operation, T> Drop for StopOnDrop<'_, O, T> {
    fn drop(&mut self) {
        stop(self.0);
    }
}
