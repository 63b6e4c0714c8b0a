//! Deterministic simulation of a fleet: koophone-proto's `Fleet` driving
//! thousands of waits against the koophone-sim core under a virtual clock,
//! with seeded network latency, checking the fleet's promises:
//!
//! - no one-second window (sliding, and each second of the simulator's
//!   log) holds more requests than the fleet's rate;
//! - no more requests in flight than the concurrency limit;
//! - when the rate binds, no instance waits longer than
//!   max(max_interval, 2 × instances / rate) between polls;
//! - every instance ends as its timeline says (ready, failed state);
//! - when the rate does not bind, the fleet sends within 5% of the requests
//!   independent single waiters send, and sees each instance ready within
//!   the single waiter's allowance;
//! - an outage costs no more requests than polling did before it, and every
//!   instance still finishes after it;
//! - a service that throttles at 50/s brings the fleet's rate down to it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use http::Response;
use koophone_proto::fleet::{Fleet, FleetAction, FleetPolicy};
use koophone_proto::{
    Action, Endpoint, Operation, PrepareStatus, Progress, RequestContext, Rng, SeededRng,
    ShowProgress, Token, UntilReady, WaitError, WaitPolicy, Waiter,
};
use koophone_sim::memory::MemoryTransport;
use koophone_sim::{GeneratedInstances, KooPhoneStatus, RateLimit, Scenario, Simulator};
use koophone_tests::driver_cases::in_memory;
use koophone_tests::driver_cases::memory_error_kind;

const USER: &str = "1008600000104285462";
const TOKEN: &str = "sim-token";

fn generated(count: u32, failure_rate: f64) -> GeneratedInstances {
    GeneratedInstances {
        user_id: USER.into(),
        id_prefix: "iFLEET".into(),
        count,
        seed: 11,
        ready_after_ms: [5_000, 60_000],
        failure_rate,
        prepare: None,
    }
}

fn scenario(entry: &GeneratedInstances) -> Scenario {
    Scenario {
        // Ten thousand instances poll far more than the log needs to keep.
        request_log_capacity: 0,
        generate: vec![entry.clone()],
        ..Scenario::empty()
    }
}

fn context() -> RequestContext {
    RequestContext::new(
        Endpoint::parse("https://koophone.invalid").unwrap(),
        Token::new(TOKEN).unwrap(),
    )
}

type Outcome = Result<Progress, WaitError<Progress>>;

struct FleetRun {
    /// (instant, instance) of every request, in order.
    sends: Vec<(Instant, usize)>,
    outcomes: Vec<Option<(Instant, Outcome)>>,
    max_in_flight: usize,
    end: Instant,
}

/// Run `fleet` to `AllDone` over `transport`, each answer arriving after a
/// seeded latency in `latency_ms`, so several requests are in flight at once.
fn drive(
    fleet: &mut Fleet<ShowProgress, UntilReady>,
    transport: &MemoryTransport,
    latency_ms: (u64, u64),
) -> FleetRun {
    let ctx = context();
    let start = transport.now();
    let mut rng = SeededRng::new(5);
    let mut arrivals: BinaryHeap<Reverse<(Instant, u64, usize)>> = BinaryHeap::new();
    let mut answers: Vec<Option<Result<Response<Vec<u8>>, koophone_sim::memory::MemoryError>>> =
        (0..fleet.len()).map(|_| None).collect();
    let mut run = FleetRun {
        sends: Vec::new(),
        outcomes: vec![None; fleet.len()],
        max_in_flight: 0,
        end: start,
    };
    let mut order = 0u64;
    for _ in 0..10_000_000 {
        let now = transport.now();
        let wake = match fleet.poll(now) {
            FleetAction::Send(k) => {
                let request = fleet.request(k, &ctx, transport.wall_clock()).unwrap();
                run.sends.push((now, k));
                answers[k] = Some(transport.send(&request));
                let (lo, hi) = latency_ms;
                let latency = Duration::from_millis(lo + rng.next_u64() % (hi - lo + 1));
                order += 1;
                arrivals.push(Reverse((now + latency, order, k)));
                run.max_in_flight = run.max_in_flight.max(fleet.in_flight());
                continue;
            }
            FleetAction::Done(k, outcome) => {
                assert!(run.outcomes[k].is_none(), "instance {k} reported twice");
                run.outcomes[k] = Some((now, outcome));
                continue;
            }
            FleetAction::AllDone => {
                run.end = now;
                return run;
            }
            FleetAction::WakeAt(at) => Some(at),
            FleetAction::AwaitAnswer => None,
        };
        // Sleep until the wake-up or the next answer, whichever comes first.
        match (wake, arrivals.peek().map(|Reverse((at, _, _))| *at)) {
            (Some(wake), Some(answer)) if wake < answer => transport.advance_to(wake),
            (Some(wake), None) => transport.advance_to(wake),
            (_, Some(_)) => {
                let Reverse((at, _, k)) = arrivals.pop().unwrap();
                transport.advance_to(at);
                match answers[k].take().expect("one answer per request") {
                    Ok(response) => {
                        let (parts, body) = response.into_parts();
                        fleet.handle_response(k, Response::from_parts(parts, &body[..]), at);
                    }
                    Err(error) => fleet.handle_transport_error(k, memory_error_kind(&error), at),
                }
            }
            (None, None) => panic!("the fleet waits for an answer that is not coming"),
        }
    }
    panic!("the fleet did not finish");
}

/// The most requests in any half-open one-second window (a busiest window
/// can be taken to start at a request).
fn busiest_second(sends: &[(Instant, usize)]) -> usize {
    let mut best = 0;
    let mut end = 0;
    for (start, (at, _)) in sends.iter().enumerate() {
        while end < sends.len() && sends[end].0 < *at + Duration::from_secs(1) {
            end += 1;
        }
        best = best.max(end - start);
    }
    best
}

/// The longest time any instance went without a poll, from its start to
/// its end (or to its last poll).
fn longest_gap(run: &FleetRun, start: Instant) -> Duration {
    let mut last = vec![start; run.outcomes.len()];
    let mut longest = Duration::ZERO;
    for (at, k) in &run.sends {
        longest = longest.max(*at - last[*k]);
        last[*k] = *at;
    }
    longest
}

/// What the simulator's timeline says instance `id` ends as.
fn expected(sim: &Simulator, id: &str) -> (PrepareStatus, Duration) {
    match (
        sim.koophone_reaches(id, KooPhoneStatus::Normal),
        sim.koophone_reaches(id, KooPhoneStatus::Failed),
    ) {
        (Some(at), None) => (PrepareStatus::Normal, at),
        (None, Some(at)) => (PrepareStatus::Failed, at),
        other => panic!("{id}: {other:?}"),
    }
}

fn check_outcomes(run: &FleetRun, entry: &GeneratedInstances, transport: &MemoryTransport) {
    let sim = transport.simulator().lock();
    for (k, id) in entry.ids().enumerate() {
        let (status, _) = expected(&sim, &id);
        let (_, outcome) = run.outcomes[k]
            .as_ref()
            .expect("every instance is reported");
        match (status, outcome) {
            (PrepareStatus::Normal, Ok(progress)) => {
                assert_eq!(progress.status, PrepareStatus::Normal)
            }
            (PrepareStatus::Failed, Err(WaitError::FailedState(progress))) => {
                assert_eq!(progress.status, PrepareStatus::Failed)
            }
            (status, outcome) => panic!("{id} should end {status:?}, got {outcome:?}"),
        }
    }
}

/// The virtual clock's origin: one instant for every run in this binary, so
/// that every run's instants are offsets from the same point and a run
/// replays instant for instant.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// One fleet waiting for every instance of `entry` on an in-memory simulator
/// of `scenario` whose clock starts at [`origin`], driven to the end with
/// answers arriving after `latency_ms`; every outcome is checked against the
/// simulator's timeline.
fn run_fleet(
    scenario: Scenario,
    entry: &GeneratedInstances,
    (policy, wait): (FleetPolicy, WaitPolicy),
    latency_ms: (u64, u64),
) -> (Fleet<ShowProgress, UntilReady>, FleetRun, MemoryTransport) {
    let transport = in_memory(scenario, 3, origin()).unwrap();
    let mut fleet = Fleet::new(policy, wait, transport.now()).unwrap();
    for id in entry.ids() {
        fleet.add(
            ShowProgress::new(USER, id).unwrap(),
            UntilReady,
            transport.now(),
        );
    }
    let run = drive(&mut fleet, &transport, latency_ms);
    check_outcomes(&run, entry, &transport);
    (fleet, run, transport)
}

#[test]
fn ten_thousand_instances_under_a_binding_rate() {
    // Preparations of up to 3 minutes: most instances are polled a few times
    // while the rate binds.
    let entry = GeneratedInstances {
        ready_after_ms: [5_000, 180_000],
        ..generated(10_000, 0.02)
    };
    let policy = FleetPolicy::default().with_limits(200.0, 16);
    let wait = WaitPolicy::default();
    let (fleet, run, transport) = run_fleet(scenario(&entry), &entry, (policy, wait), (20, 60));
    assert!(
        busiest_second(&run.sends) <= 200,
        "{}",
        busiest_second(&run.sends)
    );
    let per_second = transport.simulator().requests_per_second();
    let busiest_logged = per_second.iter().map(|(_, c)| c.requests).max().unwrap();
    assert!(
        busiest_logged <= 200,
        "{busiest_logged} in one second of the log"
    );
    assert!(run.max_in_flight <= 16);
    // The rate binds: 10,000 first polls alone take 50 s.
    let bound = wait.max_interval.max(Duration::from_secs(2 * 10_000 / 200));
    let gap = longest_gap(&run, origin());
    eprintln!(
        "binding: {} requests, busiest second {} (sliding) / {busiest_logged} (log), longest gap {gap:?}, max in flight {}",
        run.sends.len(),
        busiest_second(&run.sends),
        run.max_in_flight
    );
    assert!(
        gap <= bound,
        "an instance waited {gap:?} between polls (bound {bound:?})"
    );
    assert!(
        gap >= Duration::from_secs(40),
        "the rate should bind: {gap:?}"
    );
    let summary = fleet.summary();
    assert_eq!(summary.total, 10_000);
    assert_eq!(summary.ready + summary.failed, 10_000);
    assert_eq!(summary.requests, run.sends.len() as u64);
}

/// What independent single waiters with the same policy send in total for
/// the instances `pick` chooses.
fn single_waiters(
    entry: &GeneratedInstances,
    wait: WaitPolicy,
    pick: impl Fn(usize) -> bool,
) -> u64 {
    let mut sim = Simulator::new(scenario(entry), 3).unwrap();
    let ctx = context();
    let start = origin();
    let mut requests = 0;
    for (_, id) in entry.ids().enumerate().filter(|(k, _)| pick(*k)) {
        let mut waiter = Waiter::new(
            ShowProgress::new(USER, id).unwrap(),
            UntilReady,
            wait,
            start,
        );
        let mut now = start;
        loop {
            match waiter.poll(now) {
                Action::Send => {
                    requests += 1;
                    let at = now - start;
                    let request = waiter
                        .operation()
                        .build_authorized_request(&ctx, sim.wall_clock(at))
                        .unwrap();
                    let answer = sim.handle(&request, at).response;
                    let (parts, body) = answer.into_parts();
                    waiter.handle_response(Response::from_parts(parts, &body[..]), now);
                }
                Action::WakeAt(at) => now = at,
                Action::Done(_) => break,
            }
        }
    }
    requests
}

#[test]
fn ten_thousand_instances_when_the_rate_does_not_bind() {
    let entry = generated(10_000, 0.02);
    let wait = WaitPolicy::default();
    // 10,000 instances polling every second at first need 10,000/s.
    let policy = FleetPolicy::default().with_limits(20_000.0, 256);
    let (fleet, run, transport) = run_fleet(scenario(&entry), &entry, (policy, wait), (1, 5));
    assert!(busiest_second(&run.sends) <= 20_000);

    // Single waiters for every tenth instance (jitter differs per instance,
    // so the totals of a thousand agree to well within 5%).
    let sample = |k: usize| k.is_multiple_of(10);
    let single = single_waiters(&entry, wait, sample);
    let fleet_requests: u64 = (0..fleet.len())
        .filter(|k| sample(*k))
        .map(|k| u64::from(fleet.waiter(k).unwrap().polls()))
        .sum();
    let ratio = fleet_requests as f64 / single as f64;
    eprintln!(
        "not binding: fleet {fleet_requests} vs single waiters {single} requests (ratio {ratio:.3})"
    );
    assert!(
        (0.95..=1.05).contains(&ratio),
        "fleet {fleet_requests} vs single waiters {single} requests"
    );

    // Each instance is seen ready within the single waiter's allowance,
    // max(min_interval, 10% of its wait), at the 99th percentile; all of
    // them within it plus a second.
    let sim = transport.simulator().lock();
    let lags: Vec<(Duration, Duration)> = entry
        .ids()
        .enumerate()
        .map(|(k, id)| {
            let (_, ready_at) = expected(&sim, &id);
            let (seen_at, _) = run.outcomes[k].as_ref().unwrap();
            let allowance = wait.min_interval.max(ready_at.mul_f64(0.1));
            ((*seen_at - origin()).saturating_sub(ready_at), allowance)
        })
        .collect();
    let over = |slack: Duration| {
        lags.iter()
            .filter(|(lag, allowed)| *lag > *allowed + slack)
            .count()
    };
    eprintln!(
        "not binding: {} of 10000 over the allowance, {} over it plus 1 s",
        over(Duration::from_millis(10)),
        over(Duration::from_secs(1))
    );
    assert!(
        over(Duration::from_millis(10)) <= 100,
        "{} over the allowance",
        over(Duration::from_millis(10))
    );
    assert_eq!(over(Duration::from_secs(1)), 0);
}

#[test]
fn an_outage_costs_no_extra_load_and_every_instance_finishes_after_it() {
    // Every instance becomes ready during the outage.
    let entry = GeneratedInstances {
        ready_after_ms: [70_000, 110_000],
        ..generated(1_000, 0.0)
    };
    let outage = (Duration::from_secs(60), Duration::from_secs(120));
    let scenario = Scenario {
        outages: vec![koophone_sim::Outage {
            from_ms: 60_000,
            for_ms: 60_000,
            retry_after_s: None,
        }],
        ..scenario(&entry)
    };
    // A rate that does not bind: what limits the load in the outage is the
    // retry budget.
    let policy = FleetPolicy::default().with_limits(2_000.0, 64);
    let (fleet, run, _) = run_fleet(scenario, &entry, (policy, WaitPolicy::default()), (20, 60));
    let start = origin();
    for (at, _) in run.outcomes.iter().flatten() {
        assert!(*at - start > outage.1, "seen ready during the outage?");
        // Within a pause of 10% of the time waited (at most 15 s) after it.
        assert!(*at - start <= outage.1 + Duration::from_secs(16));
    }
    let count = |from: Duration, to: Duration| {
        run.sends
            .iter()
            .filter(|(at, _)| *at - start >= from && *at - start < to)
            .count() as f64
    };
    let before = count(Duration::from_secs(30), outage.0) / 30.0;
    let during = count(outage.0, outage.1) / 60.0;
    eprintln!("outage: {before:.1}/s before, {during:.1}/s during");
    assert!(
        during <= before,
        "{during:.1}/s during the outage, {before:.1}/s before"
    );
    assert!(fleet.summary().errors == 0);
}

#[test]
fn a_service_throttling_at_fifty_a_second_brings_the_fleet_down_to_it() {
    let entry = GeneratedInstances {
        ready_after_ms: [60_000, 120_000],
        ..generated(1_000, 0.0)
    };
    let scenario = Scenario {
        rate_limit: Some(RateLimit {
            burst: 50,
            refill_every_ms: 20,
        }),
        ..scenario(&entry)
    };
    let wait = WaitPolicy {
        max_wait: Duration::from_secs(1800),
        ..WaitPolicy::default()
    };
    let policy = FleetPolicy::default().with_limits(200.0, 16);
    let (_, _, transport) = run_fleet(scenario, &entry, (policy, wait), (20, 60));
    let per_second = transport.simulator().requests_per_second();
    let late: Vec<_> = per_second
        .iter()
        .filter(|(second, _)| *second >= 10)
        .collect();
    let busiest = late.iter().map(|(_, c)| c.requests).max().unwrap();
    let requests: u64 = late.iter().map(|(_, c)| c.requests).sum();
    let throttled: u64 = late.iter().map(|(_, c)| c.throttled).sum();
    eprintln!("busiest {busiest}/s, {throttled} of {requests} throttled after 10 s");
    assert!(busiest <= 55, "{busiest} requests in one second after 10 s");
    assert!(
        throttled * 20 <= requests,
        "{throttled} of {requests} throttled after 10 s"
    );
}
