//! Scheduler cost of a fleet: CPU time per request decided, with 10,000
//! instances in memory on a virtual clock (no network, no simulator).
//!
//! `cargo bench -p koophone-proto --bench fleet`
//!
//! Each round builds a fleet of 10,000 ShowProgress waits (untimed) and
//! drives it to `AllDone`, answering every request at once with a canned
//! body: instance `k` is queuing for `3 + k % 20` polls, then normal. The
//! timed loop is what a driver asks of the core per request — `poll` until
//! `Send(k)`, then `handle_response` (which decodes the answer) — plus the
//! wake-ups and `Done`s between. The rate (1,000/s) binds for the first
//! half minute (10,000 instances first poll every second), so the limiter,
//! the timer heap and the deadline heap all work.
//! A second figure adds `request(k, ..)` (building the request), which a
//! driver also pays.
//!
//! CPU time is the thread's on-CPU time from `/proc/thread-self/schedstat`
//! (nanoseconds; Linux), so time lost to other processes on a shared machine
//! does not count; elsewhere it falls back to wall time. Without `--bench`
//! (as `cargo test --benches` runs it) it does one small round as a smoke
//! test.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use http::Response;
use koophone_proto::fleet::{Fleet, FleetAction, FleetPolicy};
use koophone_proto::{Endpoint, RequestContext, ShowProgress, Token, UntilReady, WaitPolicy};

const QUEUING: &[u8] =
    br#"{"data":{"status":1,"waitingCount":2},"error_code":"0","error_msg":"OK"}"#;
const NORMAL: &[u8] =
    br#"{"data":{"status":0,"waitingCount":0},"error_code":"0","error_msg":"OK"}"#;

/// Nanoseconds this thread has run on a CPU, or wall time where the kernel
/// does not say.
fn cpu_now(wall: Instant) -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or_else(|| wall.elapsed(), Duration::from_nanos)
}

fn fleet(instances: usize, t0: Instant) -> Fleet<ShowProgress, UntilReady> {
    let policy = FleetPolicy::default().with_limits(1_000.0, 16);
    let wait = WaitPolicy {
        max_wait: Duration::from_secs(3600),
        ..WaitPolicy::default()
    };
    let mut fleet = Fleet::new(policy, wait, t0).expect("valid policy");
    for k in 0..instances {
        let op = ShowProgress::new("1008600000104285462", format!("iFLEET{k:05}")).expect("valid");
        fleet.add(op, UntilReady, t0);
    }
    fleet
}

/// Drive a fresh fleet to the end; returns (requests, CPU time of the loop).
fn round(instances: usize, build: bool) -> (u64, Duration) {
    let t0 = Instant::now();
    let mut fleet = fleet(instances, t0);
    let ctx = RequestContext::new(
        Endpoint::parse("https://koophone.example.com").expect("valid"),
        Token::new("MIIE-bench-token").expect("valid"),
    );
    let wall = Instant::now();
    let mut now = t0;
    let start = cpu_now(wall);
    loop {
        match fleet.poll(now) {
            FleetAction::Send(k) => {
                if build {
                    black_box(fleet.request(k, &ctx, SystemTime::UNIX_EPOCH).ok());
                }
                let polls = fleet.waiter(k).map_or(0, |w| w.polls()) as usize;
                let body = if polls > 3 + k % 20 { NORMAL } else { QUEUING };
                fleet.handle_response(k, Response::new(body), now);
            }
            FleetAction::WakeAt(at) => now = at,
            FleetAction::AwaitAnswer => unreachable!("every answer is given at once"),
            FleetAction::Done(_, outcome) => {
                black_box(outcome).expect("every instance becomes ready");
            }
            FleetAction::AllDone => break,
        }
    }
    let spent = cpu_now(wall) - start;
    let summary = fleet.summary();
    assert_eq!(summary.ready, instances);
    (summary.requests, spent)
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (instances, rounds) = if bench { (10_000, 7) } else { (200, 1) };
    for (label, build) in [("poll + handle_response", false), ("... + request()", true)] {
        let mut per_request: Vec<f64> = (0..rounds)
            .map(|_| {
                let (requests, spent) = round(instances, build);
                spent.as_nanos() as f64 / requests as f64
            })
            .collect();
        per_request.sort_by(f64::total_cmp);
        let requests = round(instances, build).0;
        println!(
            "fleet of {instances}, {requests} requests, {label}: median {:.2} µs per request decided (min {:.2}, max {:.2}, {rounds} rounds)",
            per_request[rounds / 2] / 1000.0,
            per_request[0] / 1000.0,
            per_request[rounds - 1] / 1000.0,
        );
    }
}
