//! One table of scenarios (`tests/scenarios/drivers.json`), four drivers,
//! the same outcomes: koophone-ureq and the two example drivers (async on
//! tokio + hyper-util, minimal blocking on minreq) against the simulator
//! server on loopback, and the in-memory transport under a virtual clock.
//! A difference between drivers is a bug in one of them: every decision is
//! the core's, so only the I/O may differ.

use std::time::{Duration, Instant};

use koophone_example_blocking::MinreqTransport;
use koophone_example_tokio as tokio_example;
use koophone_proto::{Auth, Call, Operation, Target, Waiter};
use koophone_sim::{Scenario, Sim, SimHandle};
use koophone_tests::driver_cases::{
    Driver, Outcome, Run, Table, call_in_memory, in_memory, run_case, run_in_memory, state_name,
};

fn ureq_outcome(error: &koophone_ureq::Error) -> Outcome {
    use koophone_ureq::Error as E;
    match error {
        E::Service(e) => Outcome::Service {
            status: e.status.as_u16(),
            code: e.error_code.clone(),
        },
        E::Unauthorized(e) => Outcome::Unauthorized {
            code: e.error_code.clone(),
        },
        E::Throttled(_) => Outcome::Throttled {},
        E::Malformed(m) => Outcome::Malformed {
            status: m.status.as_u16(),
        },
        E::OtherApi(e) => Outcome::from_api(e),
        E::Transport(t) => Outcome::from_transport(t.kind()),
        E::WaitDeadline(d) => Outcome::Deadline(d.last_output.as_ref().map(state_name)),
        E::FailedState(f) => Outcome::FailedState(state_name(&f.state)),
        other => Outcome::DriverError(other.to_string()),
    }
}

fn tokio_outcome<O: std::fmt::Display + std::fmt::Debug>(
    error: tokio_example::Error<O>,
) -> Outcome {
    use tokio_example::Error as E;
    match error {
        E::Api(e) => Outcome::from_api(&e),
        E::Transport(t) => Outcome::from_transport(t.kind()),
        E::FailedState(o) => Outcome::FailedState(state_name(&o)),
        E::Deadline { last, .. } => Outcome::Deadline(last.as_ref().map(state_name)),
        other => Outcome::DriverError(other.to_string()),
    }
}

/// Start the simulator server of `scenario`, let `drive` run against it, and
/// count the requests it saw: what every loopback driver shares.
fn on_loopback(scenario: Scenario, drive: impl FnOnce(&SimHandle) -> Outcome) -> (Outcome, u64) {
    match Sim::start(scenario) {
        Ok(sim) => {
            let outcome = drive(&sim);
            (outcome, sim.simulator().lock().requests_handled())
        }
        Err(e) => (Outcome::DriverError(format!("simulator: {e}")), 0),
    }
}

/// koophone-ureq's `Client` against the simulator server.
struct UreqDriver;

impl Driver for UreqDriver {
    fn run<O: Operation, T: Target<O::Output>>(&mut self, run: Run<'_, O, T>) -> (Outcome, u64) {
        on_loopback(run.scenario.clone(), |sim| {
            let builder = koophone_ureq::Client::builder().endpoint_url(sim.base_url());
            let builder = match run.table.auth(run.case) {
                Auth::Token(token) => builder.token(token),
                Auth::AkSk(credentials) => builder.aksk(credentials),
                other => return Outcome::DriverError(format!("no ureq credentials for {other:?}")),
            };
            let client = builder
                .timeout(run.request_timeout())
                .body_limit(run.body_limit())
                .retry_policy(run.retry_policy())
                .proxy_from_env(false)
                .build();
            let client = match client {
                Ok(client) => client,
                Err(e) => return Outcome::DriverError(e.to_string()),
            };
            let policy = run.wait_policy();
            match run.target {
                None => client
                    .call(&run.op)
                    .map_or_else(|e| ureq_outcome(&e), |o| Outcome::Ready(state_name(&o))),
                Some(target) => client.wait(run.op, target, policy, |_| {}).map_or_else(
                    |e| ureq_outcome(&e),
                    |w| Outcome::Ready(state_name(&w.output)),
                ),
            }
        })
    }
}

/// The async example (tokio + hyper-util) against the simulator server.
struct TokioDriver {
    runtime: tokio::runtime::Runtime,
}

impl Driver for TokioDriver {
    fn run<O: Operation, T: Target<O::Output>>(&mut self, run: Run<'_, O, T>) -> (Outcome, u64) {
        on_loopback(run.scenario.clone(), |sim| {
            let config = tokio_example::Config {
                request_timeout: run.request_timeout(),
                body_limit: usize::try_from(run.body_limit()).unwrap_or(usize::MAX),
                call_policy: run.call_policy(),
                ..tokio_example::Config::default()
            };
            let client = match tokio_example::Client::new(run.context(sim.base_url()), config) {
                Ok(client) => client,
                Err(e) => return Outcome::DriverError(e.to_string()),
            };
            let policy = run.wait_policy();
            self.runtime.block_on(async move {
                match run.target {
                    None => client
                        .call(run.op)
                        .await
                        .map_or_else(tokio_outcome, |o| Outcome::Ready(state_name(&o))),
                    Some(target) => client
                        .wait(run.op, target, policy, |_| {})
                        .await
                        .map_or_else(tokio_outcome, |w| Outcome::Ready(state_name(&w.output))),
                }
            })
        })
    }
}

/// The in-memory transport: the simulator core under a virtual clock
/// anchored at `origin`. It keeps the virtual instants of the last run's
/// requests, so runs can be compared to the instant.
struct MemoryDriver {
    origin: Instant,
    instants: Vec<Instant>,
}

impl MemoryDriver {
    fn new() -> Self {
        MemoryDriver {
            origin: Instant::now(),
            instants: Vec::new(),
        }
    }
}

impl Driver for MemoryDriver {
    fn run<O: Operation, T: Target<O::Output>>(&mut self, run: Run<'_, O, T>) -> (Outcome, u64) {
        let transport = match in_memory(run.scenario.clone(), 0, self.origin) {
            Ok(transport) => transport
                .with_timeout(run.request_timeout())
                .with_body_limit(usize::try_from(run.body_limit()).unwrap_or(usize::MAX)),
            Err(e) => return (Outcome::DriverError(e.to_string()), 0),
        };
        let ctx = run.context("https://sim.invalid");
        let (call_policy, wait_policy) = (run.call_policy(), run.wait_policy());
        let outcome = match run.target {
            None => call_in_memory(run.op, call_policy, &ctx, &transport).map(Outcome::from_call),
            Some(target) => {
                let mut waiter = Waiter::new(run.op, target, wait_policy, transport.now());
                run_in_memory(&mut waiter, &ctx, &transport).map(Outcome::from_wait)
            }
        };
        let simulator = transport.simulator().lock();
        self.instants = simulator
            .request_log()
            .map(|entry| self.origin + entry.at)
            .collect();
        let outcome = outcome.unwrap_or_else(|e| Outcome::DriverError(e.to_string()));
        (outcome, simulator.requests_handled())
    }
}

/// The minimal blocking example (minreq) against the simulator server.
struct MinreqDriver;

impl Driver for MinreqDriver {
    fn run<O: Operation, T: Target<O::Output>>(&mut self, run: Run<'_, O, T>) -> (Outcome, u64) {
        on_loopback(run.scenario.clone(), |sim| {
            let transport = MinreqTransport::new(run.request_timeout(), run.body_limit());
            let ctx = run.context(sim.base_url());
            let (call_policy, wait_policy) = (run.call_policy(), run.wait_policy());
            let outcome = match run.target {
                None => {
                    let mut call = Call::new(run.op, call_policy, Instant::now());
                    koophone_example_blocking::run(&mut call, &ctx, &transport)
                        .map(Outcome::from_call)
                }
                Some(target) => {
                    let mut waiter = Waiter::new(run.op, target, wait_policy, Instant::now());
                    koophone_example_blocking::run(&mut waiter, &ctx, &transport)
                        .map(Outcome::from_wait)
                }
            };
            outcome.unwrap_or_else(|e| Outcome::DriverError(e.to_string()))
        })
    }
}

/// Every case through `driver`; all differences are reported at once.
fn check_table<D: Driver>(name: &str, driver: &mut D) {
    let table = Table::load().unwrap_or_else(|e| panic!("{e}"));
    let mut differences = Vec::new();
    for case in &table.cases {
        let (outcome, requests) = run_case(&table, case, driver);
        if outcome != case.expect {
            differences.push(format!(
                "{}: expected {:?}, got {outcome:?}",
                case.name, case.expect
            ));
        }
        if let Some(expected) = case.requests
            && expected != requests
        {
            differences.push(format!(
                "{}: expected {expected} requests, the simulator saw {requests}",
                case.name
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{name}: {} difference(s) from the table:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

#[test]
fn ureq_driver_matches_the_table() {
    check_table("koophone-ureq", &mut UreqDriver);
}

#[test]
fn async_example_matches_the_table() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    check_table("koophone-example-tokio", &mut TokioDriver { runtime });
}

#[test]
fn in_memory_transport_matches_the_table() {
    check_table("in-memory transport", &mut MemoryDriver::new());
}

#[test]
fn minimal_blocking_example_matches_the_table() {
    check_table("koophone-example-blocking", &mut MinreqDriver);
}

#[test]
fn in_memory_runs_are_repeatable() {
    // The virtual clock, the seeded simulator and the waiter's seeded jitter
    // make every run of a case from one origin the same: outcome, request
    // count and the instant of every request, for calls and waits alike.
    let table = Table::load().unwrap_or_else(|e| panic!("{e}"));
    let mut driver = MemoryDriver::new();
    let mut waits_with_pauses = 0;
    for case in &table.cases {
        let first = run_case(&table, case, &mut driver);
        let first_instants = std::mem::take(&mut driver.instants);
        let again = run_case(&table, case, &mut driver);
        assert_eq!(first, again, "{}", case.name);
        assert_eq!(first_instants, driver.instants, "{}", case.name);
        assert_eq!(first_instants.len() as u64, first.1, "{}", case.name);
        let paused = first_instants
            .windows(2)
            .any(|pair| pair[1] - pair[0] > Duration::ZERO);
        if case.wait.is_some() && paused {
            waits_with_pauses += 1;
        }
    }
    // Jittered pauses are part of what repeats, not skipped.
    assert!(waits_with_pauses > 0, "no wait in the table paused");
}

#[test]
fn the_table_covers_every_kind_of_outcome() {
    let table = Table::load().unwrap_or_else(|e| panic!("{e}"));
    let kinds: std::collections::BTreeSet<_> = table
        .cases
        .iter()
        .map(|case| match &case.expect {
            Outcome::Ready(_) => "ready",
            Outcome::FailedState(_) => "failed_state",
            Outcome::Deadline(_) => "deadline",
            Outcome::Service { .. } => "service",
            Outcome::Unauthorized { .. } => "unauthorized",
            Outcome::Throttled {} => "throttled",
            Outcome::Malformed { .. } => "malformed",
            Outcome::Transport(_) => "transport",
            Outcome::DriverError(_) => "driver_error",
        })
        .collect();
    let expected: std::collections::BTreeSet<_> = [
        "ready",
        "failed_state",
        "deadline",
        "service",
        "unauthorized",
        "throttled",
        "malformed",
        "transport",
    ]
    .into_iter()
    .collect();
    assert_eq!(kinds, expected);
    // Both operations, single calls and waits.
    assert!(table.cases.iter().any(|c| c.wait.is_some()));
    assert!(table.cases.iter().any(|c| c.wait.is_none()));
}
