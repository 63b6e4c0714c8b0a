//! One test per shared mechanism, on a virtual clock with canned answers.

use std::time::{Duration, Instant, SystemTime};

use http::{Response, StatusCode};

use super::*;
use crate::context::token_context;
use crate::waiter::Jitter;
use crate::{Progress, ShowProgress, UntilReady};

const QUEUING: &[u8] =
    br#"{"data":{"status":1,"waitingCount":2},"error_code":"0","error_msg":"OK"}"#;
const NORMAL: &[u8] =
    br#"{"data":{"status":0,"waitingCount":0},"error_code":"0","error_msg":"OK"}"#;
const FAILED: &[u8] = br#"{"data":{"status":-1},"error_code":"0","error_msg":"OK"}"#;
const BUSY: &[u8] = br#"{"error_code":"KOOPHONE.API.9999","error_msg":"busy"}"#;

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn op(i: usize) -> ShowProgress {
    ShowProgress::new("1008600000104285462", format!("i{i:06}")).unwrap()
}

/// Poll every `min` s (no growth, no jitter) for up to `max_wait` s.
fn steady(min: u64, max_wait: u64) -> WaitPolicy {
    WaitPolicy {
        min_interval: s(min),
        max_interval: s(min),
        growth: 1.0,
        jitter: Jitter::None,
        max_wait: s(max_wait),
        max_consecutive_errors: 3,
        max_pause_fraction: None,
        seed: 0,
    }
}

/// The default fleet policy with its request rate set.
fn rate(rate: f64) -> FleetPolicy {
    FleetPolicy {
        rate,
        ..FleetPolicy::default()
    }
}

/// The default fleet policy with its concurrency set.
fn concurrency(concurrency: usize) -> FleetPolicy {
    FleetPolicy {
        concurrency,
        ..FleetPolicy::default()
    }
}

/// The default fleet policy with its retry budget's size set.
fn retry_capacity(retry_capacity: u32) -> FleetPolicy {
    FleetPolicy {
        retry_capacity,
        ..FleetPolicy::default()
    }
}

fn fleet(
    policy: FleetPolicy,
    wait: WaitPolicy,
    n: usize,
    t0: Instant,
) -> Fleet<ShowProgress, UntilReady> {
    let mut fleet = Fleet::new(policy, wait, t0).unwrap();
    for i in 0..n {
        assert_eq!(fleet.add(op(i), UntilReady, t0), i);
    }
    fleet
}

enum Reply {
    Ok(&'static [u8]),
    Status(u16, &'static [u8], Option<&'static str>),
    Transport(TransportErrorKind),
}

fn response(
    status: u16,
    body: &'static [u8],
    retry_after: Option<&str>,
) -> Response<&'static [u8]> {
    let mut builder = Response::builder().status(StatusCode::from_u16(status).unwrap());
    if let Some(after) = retry_after {
        builder = builder.header("retry-after", after);
    }
    builder.body(body).unwrap()
}

#[derive(Debug, Default)]
struct Run {
    /// (instant, instance) of every send, in order.
    sends: Vec<(Instant, usize)>,
    done: Vec<(Instant, usize, Result<Progress, WaitError<Progress>>)>,
    end: Option<Instant>,
}

/// Drive `fleet` to `AllDone` (or `until`), answering each request at once
/// with `reply(instance, its poll number, now)`.
fn drive(
    fleet: &mut Fleet<ShowProgress, UntilReady>,
    t0: Instant,
    until: Instant,
    mut reply: impl FnMut(usize, u32, Instant) -> Reply,
) -> Run {
    let mut run = Run::default();
    let mut now = t0;
    for _ in 0..10_000_000 {
        match fleet.poll(now) {
            FleetAction::Send(k) => {
                run.sends.push((now, k));
                let polls = fleet.waiter(k).unwrap().polls();
                match reply(k, polls, now) {
                    Reply::Ok(body) => fleet.handle_response(k, response(200, body, None), now),
                    Reply::Status(status, body, after) => {
                        fleet.handle_response(k, response(status, body, after), now)
                    }
                    Reply::Transport(kind) => fleet.handle_transport_error(k, kind, now),
                }
            }
            FleetAction::WakeAt(at) => {
                assert!(at > now, "a wake-up must move time on");
                if at > until {
                    return run;
                }
                now = at;
            }
            FleetAction::AwaitAnswer => panic!("answers are given at once"),
            FleetAction::Done(k, outcome) => run.done.push((now, k, outcome)),
            FleetAction::AllDone => {
                run.end = Some(now);
                return run;
            }
        }
    }
    panic!("the fleet did not finish");
}

#[test]
fn concurrency_caps_requests_in_flight() {
    let t0 = Instant::now();
    let mut f = fleet(concurrency(2), steady(1, 60), 3, t0);
    assert_eq!(f.poll(t0), FleetAction::Send(0));
    assert_eq!(f.poll(t0), FleetAction::Send(1));
    // Instance 2 is due but both slots are taken: wake at the first deadline.
    assert_eq!(f.poll(t0), FleetAction::WakeAt(t0 + s(60)));
    assert_eq!(f.in_flight(), 2);
    f.handle_response(1, response(200, QUEUING, None), t0 + ms(10));
    assert_eq!(f.poll(t0 + ms(10)), FleetAction::Send(2));
    // A duplicate answer frees nothing.
    f.handle_response(1, response(200, QUEUING, None), t0 + ms(10));
    assert_eq!(f.in_flight(), 2);
}

#[test]
fn await_answer_when_saturated_and_no_deadline_is_pending() {
    let t0 = Instant::now();
    let mut f = fleet(concurrency(1), steady(1, 60), 1, t0);
    assert_eq!(f.poll(t0), FleetAction::Send(0));
    // The only instance is in flight: its answer decides, even past its deadline.
    assert_eq!(f.poll(t0 + s(1)), FleetAction::AwaitAnswer);
    assert_eq!(f.poll(t0 + s(61)), FleetAction::AwaitAnswer);
    // The late answer to a timely request is honoured.
    f.handle_response(0, response(200, NORMAL, None), t0 + s(61));
    assert!(matches!(f.poll(t0 + s(61)), FleetAction::Done(0, Ok(_))));
    assert_eq!(f.poll(t0 + s(61)), FleetAction::AllDone);
}

#[test]
fn the_rate_binds_the_whole_fleet() {
    let t0 = Instant::now();
    let mut f = fleet(rate(5.0), steady(1, 600), 50, t0);
    let run = drive(&mut f, t0, t0 + s(100), |_, polls, _| {
        Reply::Ok(if polls < 3 { QUEUING } else { NORMAL })
    });
    assert_eq!(run.done.len(), 50);
    assert!(run.done.iter().all(|(_, _, outcome)| outcome.is_ok()));
    assert_eq!(run.sends.len(), 150);
    for (i, (at, _)) in run.sends.iter().enumerate() {
        if let Some((later, _)) = run.sends.get(i + 5) {
            assert!(*later >= *at + s(1), "6 sends within a second at {i}");
        }
    }
    // Five a second, 150 requests: the limiter is not stingy either.
    assert_eq!(run.end.unwrap(), t0 + s(29));
}

#[test]
fn the_most_overdue_instance_goes_first() {
    let t0 = Instant::now();
    let mut f = Fleet::new(rate(1.0), steady(1, 600), t0).unwrap();
    // Added at different times, all due by t0 + 3 s.
    f.add(op(0), UntilReady, t0 + s(2));
    f.add(op(1), UntilReady, t0);
    f.add(op(2), UntilReady, t0 + s(1));
    let run = drive(&mut f, t0 + s(3), t0 + s(100), |_, _, _| Reply::Ok(NORMAL));
    let order: Vec<usize> = run.sends.iter().map(|(_, k)| *k).collect();
    assert_eq!(order, [1, 2, 0]);
}

#[test]
fn fairness_no_instance_starves_when_the_rate_binds() {
    let t0 = Instant::now();
    let n = 200;
    let rate = 10.0;
    let policy = FleetPolicy {
        rate,
        ..FleetPolicy::default()
    };
    let wait = WaitPolicy {
        max_wait: s(3600),
        ..WaitPolicy::default()
    };
    let mut f = fleet(policy, wait, n, t0);
    let run = drive(&mut f, t0, t0 + s(400), |k, polls, _| {
        Reply::Ok(if polls as usize > 5 + k % 7 {
            NORMAL
        } else {
            QUEUING
        })
    });
    assert_eq!(run.done.len(), n);
    let bound = wait
        .max_interval
        .max(Duration::from_secs_f64(2.0 * n as f64 / rate));
    let mut last = vec![None; n];
    for (at, k) in &run.sends {
        if let Some(previous) = last[*k] {
            assert!(
                *at - previous <= bound,
                "instance {k} waited {:?}",
                *at - previous
            );
        }
        last[*k] = Some(*at);
    }
}

#[test]
fn an_outage_spends_the_budget_then_polls_at_the_normal_cadence() {
    let t0 = Instant::now();
    let policy = retry_capacity(10);
    let wait = WaitPolicy {
        max_consecutive_errors: 3,
        ..steady(10, 3600)
    };
    // Fast retries would come after min_interval: make retries visibly
    // different from the cadence by using a short min and a long max.
    let wait = WaitPolicy {
        min_interval: s(1),
        max_interval: s(10),
        growth: 10.0,
        ..wait
    };
    let n = 10;
    let mut f = fleet(policy, wait, n, t0);
    let outage = (t0 + s(5), t0 + s(200));
    let run = drive(&mut f, t0, t0 + s(1000), |_, _, now| {
        if now >= outage.0 && now < outage.0 + s(30) {
            // The load balancer is gone first, then the service answers 503.
            Reply::Transport(TransportErrorKind::Connect)
        } else if now >= outage.0 && now < outage.1 {
            Reply::Status(503, BUSY, None)
        } else if now >= outage.1 {
            Reply::Ok(NORMAL)
        } else {
            Reply::Ok(QUEUING)
        }
    });
    // Nobody failed: everyone was ready soon after the outage ended.
    assert_eq!(run.done.len(), n);
    for (at, _, outcome) in &run.done {
        assert!(outcome.is_ok(), "{outcome:?}");
        assert!(*at <= outage.1 + s(10));
    }
    // Two retries were paid for (capacity 10, cost 5); every other failure
    // waited the normal cadence of 10 s: n instances over 195 s.
    let during = run
        .sends
        .iter()
        .filter(|(at, _)| *at >= outage.0 && *at < outage.1)
        .count();
    assert!(during <= n * 20 + 2, "{during} requests during the outage");
    // After the two paid retries, each instance's polls during the outage
    // are 10 s apart: the cadence, not the 1 s of a first retry.
    let mut last = vec![None; n];
    let mut short_gaps = 0;
    for (at, k) in run
        .sends
        .iter()
        .filter(|(at, _)| *at >= outage.0 && *at < outage.1)
    {
        if let Some(previous) = last[*k]
            && *at - previous < s(10)
        {
            short_gaps += 1;
        }
        last[*k] = Some(*at);
    }
    assert!(short_gaps <= 2, "{short_gaps} retries paid for");
    assert_eq!(f.retry_tokens(), 10.min(n as u32));
    let summary = f.summary();
    assert_eq!((summary.ready, summary.errors), (n, 0));
}

#[test]
fn with_budget_left_a_failing_instance_still_fails_on_its_error_budget() {
    let t0 = Instant::now();
    let mut f = fleet(FleetPolicy::default(), steady(1, 3600), 2, t0);
    let run = drive(&mut f, t0, t0 + s(1000), |k, _, _| {
        if k == 0 {
            Reply::Status(503, BUSY, None)
        } else {
            Reply::Ok(NORMAL)
        }
    });
    let failed: Vec<_> = run.done.iter().filter(|(_, k, _)| *k == 0).collect();
    assert!(matches!(failed[0].2, Err(WaitError::Api(_))));
    // One try and max_consecutive_errors (3) retries, as a single waiter.
    assert_eq!(f.waiter(0).unwrap().polls(), 4);
    // Three retries cost 15; the successful instance put 1 back.
    assert_eq!(f.retry_tokens(), 500 - 15 + 1);
    let summary = f.summary();
    assert_eq!((summary.ready, summary.errors, summary.requests), (1, 1, 5));
}

#[test]
fn retry_after_holds_the_whole_fleet_and_lowers_the_rate() {
    let t0 = Instant::now();
    let mut f = fleet(FleetPolicy::default(), steady(1, 3600), 3, t0);
    assert_eq!(f.poll(t0), FleetAction::Send(0));
    f.handle_response(0, response(429, b"slow down", Some("7")), t0);
    assert_eq!(f.current_rate(), 10.0);
    // Instances 1 and 2 were due at t0 too, yet nothing goes before t0 + 7 s.
    assert_eq!(f.poll(t0), FleetAction::WakeAt(t0 + s(7)));
    assert_eq!(f.poll(t0 + s(7)), FleetAction::Send(1));
}

#[test]
fn throttling_recovers_gradually() {
    let t0 = Instant::now();
    let mut f = fleet(rate(100.0), steady(1, 3600), 1, t0);
    assert_eq!(f.poll(t0), FleetAction::Send(0));
    f.handle_response(0, response(429, b"slow down", None), t0);
    assert_eq!(f.current_rate(), 50.0);
    assert_eq!(f.poll(t0 + s(1)), FleetAction::Send(0));
    f.handle_response(0, response(200, QUEUING, None), t0 + s(1));
    let _ = f.poll(t0 + s(11));
    // 2% of 100 per second, from a second after the 429.
    assert!(
        (f.current_rate() - 70.0).abs() < 1e-9,
        "{}",
        f.current_rate()
    );
}

#[test]
fn cancelled_instances_send_nothing_and_report_nothing() {
    let t0 = Instant::now();
    let mut f = fleet(concurrency(1), steady(1, 60), 3, t0);
    assert_eq!(f.poll(t0), FleetAction::Send(0));
    assert!(f.cancel(0));
    assert!(f.cancel(1));
    assert!(!f.cancel(1));
    assert!(!f.cancel(99));
    // Instance 0's request is still in flight: its answer frees the slot.
    assert_eq!(f.poll(t0), FleetAction::WakeAt(t0 + s(60)));
    f.handle_response(0, response(200, NORMAL, None), t0);
    assert_eq!(f.outcome(0), None);
    assert_eq!(f.poll(t0), FleetAction::Send(2));
    f.handle_response(2, response(200, FAILED, None), t0);
    assert!(matches!(
        f.poll(t0),
        FleetAction::Done(2, Err(WaitError::FailedState(_)))
    ));
    assert_eq!(f.poll(t0), FleetAction::AllDone);
    let summary = f.summary();
    assert_eq!(
        (
            summary.total,
            summary.cancelled,
            summary.failed,
            summary.running
        ),
        (3, 2, 1, 0)
    );
    assert!(f.is_cancelled(1) && !f.is_cancelled(2));
}

#[test]
fn instances_added_after_all_done_start_it_again() {
    let t0 = Instant::now();
    let mut f = fleet(FleetPolicy::default(), steady(1, 60), 1, t0);
    let first = drive(&mut f, t0, t0 + s(100), |_, _, _| Reply::Ok(NORMAL));
    assert_eq!(first.done.len(), 1);
    assert_eq!(f.add(op(1), UntilReady, t0 + s(5)), 1);
    let second = drive(&mut f, t0 + s(5), t0 + s(100), |_, _, _| Reply::Ok(NORMAL));
    assert_eq!(second.sends, [(t0 + s(5), 1)]);
    assert_eq!(f.summary().ready, 2);
}

#[test]
fn deadlines_end_waits_on_time_even_when_the_rate_binds() {
    let t0 = Instant::now();
    // 20 instances at 1 request/s, each allowed 5 s: most never get a turn.
    let mut f = fleet(rate(1.0), steady(1, 5), 20, t0);
    let run = drive(&mut f, t0, t0 + s(100), |_, _, _| Reply::Ok(QUEUING));
    assert_eq!(run.done.len(), 20);
    for (at, _, outcome) in &run.done {
        assert_eq!(*at, t0 + s(5));
        assert!(matches!(outcome, Err(WaitError::Deadline { .. })));
    }
    assert_eq!(run.sends.len(), 5);
    assert_eq!(f.summary().timed_out, 20);
}

#[test]
fn transport_timeouts_cost_more_of_the_budget() {
    let t0 = Instant::now();
    let mut f = fleet(retry_capacity(20), steady(1, 60), 1, t0);
    assert_eq!(f.poll(t0), FleetAction::Send(0));
    f.handle_transport_error(0, TransportErrorKind::Timeout, t0);
    assert_eq!(f.retry_tokens(), 10);
    assert_eq!(f.poll(t0 + s(1)), FleetAction::Send(0));
    f.handle_transport_error(0, TransportErrorKind::Reset, t0 + s(1));
    assert_eq!(f.retry_tokens(), 5);
    // The retried request decodes: its cost comes back, plus the refill.
    assert_eq!(f.poll(t0 + s(2)), FleetAction::Send(0));
    f.handle_response(0, response(200, QUEUING, None), t0 + s(2));
    assert_eq!(f.retry_tokens(), 11);
}

#[test]
fn runs_replay_and_each_instance_gets_its_own_jitter() {
    let t0 = Instant::now();
    let wait = WaitPolicy {
        max_wait: s(600),
        max_pause_fraction: None,
        seed: 42,
        ..WaitPolicy::default()
    };
    let run_once = || {
        let mut f = Fleet::new(FleetPolicy::default(), wait, t0).unwrap();
        // The same operation twice: only the index tells them apart.
        f.add(op(0), UntilReady, t0);
        f.add(op(0), UntilReady, t0);
        drive(&mut f, t0, t0 + s(1000), |_, polls, _| {
            Reply::Ok(if polls < 6 { QUEUING } else { NORMAL })
        })
        .sends
    };
    let first = run_once();
    assert_eq!(first, run_once());
    let times = |k: usize| -> Vec<Instant> {
        first
            .iter()
            .filter(|(_, i)| *i == k)
            .map(|(at, _)| *at)
            .collect()
    };
    assert_eq!(times(0).len(), 6);
    assert_ne!(times(0), times(1));
}

#[test]
fn answers_are_scrubbed_of_the_context_credentials() {
    let t0 = Instant::now();
    let secret = "MIIEsecret-fleet-token";
    let ctx = token_context("https://koophone.example.com", secret);
    let mut f = fleet(FleetPolicy::default(), steady(1, 60), 1, t0);
    assert_eq!(f.poll(t0), FleetAction::Send(0));
    let request = f.request(0, &ctx, SystemTime::UNIX_EPOCH).unwrap();
    assert!(String::from_utf8_lossy(request.body()).contains("i000000"));
    let echo =
        format!(r#"{{"error_code":"KOOPHONE.API.1001","error_msg":"token {secret} denied"}}"#);
    let body: &'static [u8] = Box::leak(echo.into_bytes().into_boxed_slice());
    f.handle_response(0, response(403, body, None), t0);
    let FleetAction::Done(0, Err(error)) = f.poll(t0) else {
        panic!("a 1001 ends the wait");
    };
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(shown.contains("[redacted]"), "{shown}");
    assert!(f.request(7, &ctx, SystemTime::UNIX_EPOCH).is_err());
}

#[test]
fn an_invalid_policy_is_refused() {
    let fleet: Result<Fleet<ShowProgress, UntilReady>, _> =
        Fleet::new(concurrency(0), WaitPolicy::default(), Instant::now());
    assert_eq!(fleet.err(), Some(FleetPolicyError::ZeroConcurrency));
}

#[test]
fn a_fleet_can_move_to_and_be_shared_by_driver_threads() {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<Fleet<ShowProgress, UntilReady>>();
    send_and_sync::<Fleet<crate::ShowInstanceStatus, crate::UntilState>>();
    send_and_sync::<FleetAction<Progress>>();
}
