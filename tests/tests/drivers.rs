//! One table of scenarios (`tests/scenarios/drivers.json`), four drivers,
//! the same outcomes: koophone-ureq and the two example drivers (async on
//! tokio + hyper-util, minimal blocking on minreq) against the simulator
//! server on loopback, and the in-memory transport under a virtual clock.
//! A difference between drivers is a bug in one of them: every decision is
//! the core's, so only the I/O may differ.

use std::time::Instant;

use koophone_example_blocking::MinreqTransport;
use koophone_example_tokio as tokio_example;
use koophone_proto::{Auth, Once, Operation, Target, WaitPolicy, Waiter};
use koophone_sim::memory::MemoryTransport;
use koophone_sim::{Scenario, Sim, SimHandle};
use koophone_tests::driver_cases::{
    Case, Driver, Outcome, StateName, Table, as_call, call_in_memory, run_case, run_in_memory,
};
use koophone_ureq::Snapshot;

fn snapshot_name(snapshot: &Snapshot) -> String {
    if let Some(p) = snapshot.downcast_ref::<koophone_proto::Progress>() {
        p.state_name()
    } else if let Some(s) = snapshot.downcast_ref::<koophone_proto::InstanceStatus>() {
        s.state_name()
    } else {
        format!("{snapshot:?}")
    }
}

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
        E::WaitDeadline(d) => Outcome::Deadline(d.last_output.as_ref().map(snapshot_name)),
        E::FailedState(f) => Outcome::FailedState(snapshot_name(&f.state)),
        other => Outcome::DriverError(other.to_string()),
    }
}

fn tokio_outcome<O: StateName + std::fmt::Debug>(error: tokio_example::Error<O>) -> Outcome {
    use tokio_example::Error as E;
    match error {
        E::Api(e) => Outcome::from_api(&e),
        E::Transport(t) => Outcome::from_transport(t.kind()),
        E::FailedState(o) => Outcome::FailedState(o.state_name()),
        E::Deadline { last, .. } => Outcome::Deadline(last.map(|o| o.state_name())),
        other => Outcome::DriverError(other.to_string()),
    }
}

fn start(scenario: Scenario) -> Result<SimHandle, Outcome> {
    Sim::start(scenario).map_err(|e| Outcome::DriverError(format!("simulator: {e}")))
}

fn requests_seen(sim: &SimHandle) -> u64 {
    sim.simulator().lock().requests_handled()
}

/// koophone-ureq's `Client` against the simulator server.
struct UreqDriver;

impl Driver for UreqDriver {
    fn run<O, T>(
        &mut self,
        table: &Table,
        case: &Case,
        scenario: Scenario,
        op: O,
        target: Option<T>,
        policy: WaitPolicy,
    ) -> (Outcome, u64)
    where
        O: Operation + Clone + Send + Sync + 'static,
        O::Output: StateName + Send + Sync + 'static,
        T: Target<O::Output> + Send + Sync + 'static,
    {
        let sim = match start(scenario) {
            Ok(sim) => sim,
            Err(outcome) => return (outcome, 0),
        };
        let builder = koophone_ureq::Client::builder().endpoint_url(sim.base_url());
        let builder = match table.auth(case) {
            Auth::Token(token) => builder.token(token),
            Auth::AkSk(credentials) => builder.aksk(credentials),
            other => {
                return (
                    Outcome::DriverError(format!("no ureq credentials for {other:?}")),
                    0,
                );
            }
        };
        let client = builder
            .timeout(table.request_timeout(case))
            .body_limit(table.body_limit(case))
            .retry_policy(table.retry_policy(case))
            .proxy_from_env(false)
            .build();
        let client = match client {
            Ok(client) => client,
            Err(e) => return (Outcome::DriverError(e.to_string()), 0),
        };
        let outcome = match target {
            None => client
                .call(&op)
                .map_or_else(|e| ureq_outcome(&e), |o| Outcome::Ready(o.state_name())),
            Some(target) => client.wait(op, target, policy, |_| {}).map_or_else(
                |e| ureq_outcome(&e),
                |w| Outcome::Ready(w.output.state_name()),
            ),
        };
        (outcome, requests_seen(&sim))
    }
}

/// The async example (tokio + hyper-util) against the simulator server.
struct TokioDriver {
    runtime: tokio::runtime::Runtime,
}

impl Driver for TokioDriver {
    fn run<O, T>(
        &mut self,
        table: &Table,
        case: &Case,
        scenario: Scenario,
        op: O,
        target: Option<T>,
        policy: WaitPolicy,
    ) -> (Outcome, u64)
    where
        O: Operation + Clone + Send + Sync + 'static,
        O::Output: StateName + Send + Sync + 'static,
        T: Target<O::Output> + Send + Sync + 'static,
    {
        let sim = match start(scenario) {
            Ok(sim) => sim,
            Err(outcome) => return (outcome, 0),
        };
        let config = tokio_example::Config {
            request_timeout: table.request_timeout(case),
            body_limit: usize::try_from(table.body_limit(case)).unwrap_or(usize::MAX),
            call_policy: table.retry_policy(case).to_wait_policy(),
            ..tokio_example::Config::default()
        };
        let ctx = table.context(case, sim.base_url());
        let outcome = self.runtime.block_on(async move {
            let client = match tokio_example::Client::new(ctx, config) {
                Ok(client) => client,
                Err(e) => return Outcome::DriverError(e.to_string()),
            };
            match target {
                None => client
                    .call(op)
                    .await
                    .map_or_else(tokio_outcome, |o| Outcome::Ready(o.state_name())),
                Some(target) => client
                    .wait(op, target, policy, |_| {})
                    .await
                    .map_or_else(tokio_outcome, |w| Outcome::Ready(w.output.state_name())),
            }
        });
        (outcome, requests_seen(&sim))
    }
}

/// The in-memory transport: the simulator core under a virtual clock.
struct MemoryDriver;

impl Driver for MemoryDriver {
    fn run<O, T>(
        &mut self,
        table: &Table,
        case: &Case,
        scenario: Scenario,
        op: O,
        target: Option<T>,
        policy: WaitPolicy,
    ) -> (Outcome, u64)
    where
        O: Operation + Clone + Send + Sync + 'static,
        O::Output: StateName + Send + Sync + 'static,
        T: Target<O::Output> + Send + Sync + 'static,
    {
        let transport = match MemoryTransport::from_scenario(scenario, 0) {
            Ok(transport) => transport,
            Err(e) => return (Outcome::DriverError(e.to_string()), 0),
        };
        let transport = transport
            .with_timeout(table.request_timeout(case))
            .with_body_limit(usize::try_from(table.body_limit(case)).unwrap_or(usize::MAX));
        let ctx = table.context(case, "https://sim.invalid");
        let verdict = match target {
            None => {
                let policy = table.retry_policy(case).to_wait_policy();
                call_in_memory(op, policy, &ctx, &transport)
            }
            Some(target) => {
                let mut waiter = Waiter::new(op, target, policy, transport.now());
                run_in_memory(&mut waiter, &ctx, &transport)
            }
        };
        let outcome = match verdict {
            Ok(verdict) => Outcome::from_wait(verdict),
            Err(e) => Outcome::DriverError(e.to_string()),
        };
        let requests = transport.simulator().lock().requests_handled();
        (outcome, requests)
    }
}

/// The minimal blocking example (minreq) against the simulator server.
struct MinreqDriver;

impl Driver for MinreqDriver {
    fn run<O, T>(
        &mut self,
        table: &Table,
        case: &Case,
        scenario: Scenario,
        op: O,
        target: Option<T>,
        policy: WaitPolicy,
    ) -> (Outcome, u64)
    where
        O: Operation + Clone + Send + Sync + 'static,
        O::Output: StateName + Send + Sync + 'static,
        T: Target<O::Output> + Send + Sync + 'static,
    {
        let sim = match start(scenario) {
            Ok(sim) => sim,
            Err(outcome) => return (outcome, 0),
        };
        let transport = MinreqTransport::new(table.request_timeout(case), table.body_limit(case));
        let ctx = table.context(case, sim.base_url());
        let verdict =
            |result: Result<O::Output, koophone_example_blocking::Error<O::Output>>| match result {
                Ok(output) => Outcome::Ready(output.state_name()),
                Err(koophone_example_blocking::Error::Wait(e)) => Outcome::from_wait(Err(e)),
                Err(e) => Outcome::DriverError(e.to_string()),
            };
        let outcome = match target {
            None => {
                let policy = table.retry_policy(case).to_wait_policy();
                let mut waiter = Waiter::new(op, Once, policy, Instant::now());
                let result = koophone_example_blocking::run(&mut waiter, &ctx, &transport);
                // Read the verdict as a single call, as koophone-ureq does.
                let result = match result {
                    Err(koophone_example_blocking::Error::Wait(e)) => {
                        as_call(Err(e), &waiter).map_err(koophone_example_blocking::Error::Wait)
                    }
                    other => other,
                };
                verdict(result)
            }
            Some(target) => {
                let mut waiter = Waiter::new(op, target, policy, Instant::now());
                verdict(koophone_example_blocking::run(
                    &mut waiter,
                    &ctx,
                    &transport,
                ))
            }
        };
        (outcome, requests_seen(&sim))
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
    check_table("in-memory transport", &mut MemoryDriver);
}

#[test]
fn minimal_blocking_example_matches_the_table() {
    check_table("koophone-example-blocking", &mut MinreqDriver);
}

#[test]
fn in_memory_runs_are_repeatable() {
    // The virtual clock and the seeded simulator make every run of a case
    // the same, request counts included.
    let table = Table::load().unwrap_or_else(|e| panic!("{e}"));
    for case in &table.cases {
        let first = run_case(&table, case, &mut MemoryDriver);
        let again = run_case(&table, case, &mut MemoryDriver);
        assert_eq!(first.0, again.0, "{}", case.name);
        // Jitter is seeded from the start instant, so waits may poll a
        // different number of times; single calls may not.
        if case.wait.is_none() {
            assert_eq!(first.1, again.1, "{}", case.name);
        }
    }
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
