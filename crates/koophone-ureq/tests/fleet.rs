//! `Client::wait_fleet` against the simulator on loopback: results in input
//! order, the summary, the thread pool, the observation callback, and a
//! cancel that returns promptly with what was known.

use std::time::{Duration, Instant};

use koophone_sim::Sim;
use koophone_ureq::{
    CancelToken, Client, Error, FleetPolicy, PrepareStatus, ShowProgress, Token, WaitPolicy,
};

const USER: &str = "1008600000104285462";

fn client(base_url: &str) -> Client {
    Client::builder()
        .endpoint_url(base_url)
        .token(Token::new("sim-token").unwrap())
        .proxy_from_env(false)
        .build()
        .unwrap()
}

fn quick() -> WaitPolicy {
    WaitPolicy {
        min_interval: Duration::from_millis(200),
        max_interval: Duration::from_millis(500),
        max_wait: Duration::from_secs(30),
        ..WaitPolicy::default()
    }
}

fn ops(ids: &[&str]) -> Vec<ShowProgress> {
    ids.iter()
        .map(|id| ShowProgress::new(USER, *id).unwrap())
        .collect()
}

#[test]
fn a_mixed_fleet_reports_each_instance_in_input_order() {
    let sim = Sim::builder().start().unwrap();
    let client = client(sim.base_url());
    let ids = ["iFAILED1", "iRJEVP9", "iUNKNOWN", "iOTHER01", "iBACKUP1"];
    let mut seen = [0u32; 5];
    let fleet = FleetPolicy::default().with_limits(50.0, 2);
    let waited = client
        .wait_all(ops(&ids), quick(), fleet, |k, _| seen[k] += 1)
        .unwrap();
    assert!(!waited.cancelled);
    let r = &waited.instances;
    assert_eq!(r.len(), 5);
    assert!(matches!(&r[0], Err(Error::FailedState(_))), "{:?}", r[0]);
    let ready = r[1].as_ref().unwrap();
    assert_eq!(ready.output.status, PrepareStatus::Normal);
    assert!(ready.polls >= 2 && ready.elapsed >= Duration::from_secs(4));
    // No such instance (4001); another user's instance (1001).
    for (k, code) in [(2, "KOOPHONE.API.4001"), (3, "KOOPHONE.API.1001")] {
        let e = r[k].as_ref().unwrap_err();
        assert_eq!(e.kind(), "service", "{e}");
        assert_eq!(e.error_code(), Some(code), "{e}");
    }
    assert_eq!(r[4].as_ref().unwrap().output.status, PrepareStatus::Normal);
    let s = waited.summary;
    assert_eq!(
        (s.total, s.ready, s.failed, s.errors, s.timed_out),
        (5, 2, 1, 2, 0)
    );
    let polls: u32 = seen.iter().sum();
    assert_eq!(u64::from(polls), s.requests);
    assert_eq!(s.requests as usize, sim.request_log().len());
    for (k, n) in seen.iter().enumerate() {
        assert!(*n >= 1, "instance {k} was observed");
    }
}

#[test]
fn many_instances_run_on_a_fixed_pool_of_threads() {
    let sim = Sim::builder().start().unwrap();
    let client = client(sim.base_url());
    let ids: Vec<&str> = std::iter::repeat_n("iOTHER01", 200)
        .chain(std::iter::once("iRJEVP9"))
        .collect();
    // Another user's ready instance 200 times (one poll each), then one real wait.
    let ops: Vec<ShowProgress> = ids
        .iter()
        .map(|id| {
            let user = if *id == "iOTHER01" {
                "1008600000104285463"
            } else {
                USER
            };
            ShowProgress::new(user, *id).unwrap()
        })
        .collect();
    let before = threads();
    let mut peak = before;
    let waited = client
        .wait_all(
            ops,
            quick(),
            FleetPolicy::default().with_limits(1000.0, 4),
            |_, _| {
                peak = peak.max(threads());
            },
        )
        .unwrap();
    assert_eq!(waited.summary.ready, 201);
    assert!(peak <= before + 4, "threads {before} -> {peak}");
}

#[test]
fn cancel_returns_promptly_with_what_was_known() {
    let sim = Sim::builder().start().unwrap();
    let token = CancelToken::new();
    let client = client(sim.base_url()).with_cancel_token(token.clone());
    let canceller = {
        let token = token.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            token.cancel();
        })
    };
    let start = Instant::now();
    let waited = client
        .wait_all(
            ops(&["iOTHER01", "iRJEVP9"]),
            quick(),
            FleetPolicy::default(),
            |_, _| {},
        )
        .unwrap();
    let took = start.elapsed();
    canceller.join().unwrap();
    assert!(took < Duration::from_millis(2500), "{took:?}");
    assert!(waited.cancelled);
    assert_eq!(waited.instances[0].as_ref().unwrap_err().kind(), "service");
    assert!(matches!(waited.instances[1], Err(Error::Cancelled)));
    let requests = sim.request_log().len();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        sim.request_log().len(),
        requests,
        "nothing sent after the cancel"
    );
}

#[test]
fn a_fleet_policy_out_of_range_is_refused_before_sending() {
    let sim = Sim::builder().start().unwrap();
    let client = client(sim.base_url());
    let bad = FleetPolicy::default().with_limits(20.0, 0);
    let err = client
        .wait_all(ops(&["iRJEVP9"]), quick(), bad, |_, _| {})
        .unwrap_err();
    assert_eq!(err.kind(), "invalid_input");
    assert!(sim.request_log().is_empty());
}

/// This process's threads (Linux); 0 elsewhere, which passes trivially.
fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}
