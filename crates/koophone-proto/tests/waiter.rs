//! The waiter driven on a virtual clock (a base `Instant` plus offsets) with
//! real response bytes, decoded by the real operations.

use std::time::{Duration, Instant};

use http::{Response, StatusCode};
use koophone_proto::{
    Action, ApiError, InstanceState, InstanceStatus, Jitter, Observed, Once, Operation,
    PrepareStatus, Progress, SeededRng, ShowInstanceStatus, ShowProgress, Target,
    TransportErrorKind, UntilReady, UntilState, WaitError, WaitPolicy, Waiter,
};

/// What the virtual service does with one request.
#[derive(Debug, Clone)]
enum Answer {
    /// Answer after `latency` with this status, headers and body.
    Http {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
        latency: Duration,
    },
    /// Fail in transport after `latency`.
    Fail(TransportErrorKind, Duration),
}

fn http(status: u16, body: &str) -> Answer {
    Answer::Http {
        status,
        headers: Vec::new(),
        body: body.to_owned(),
        latency: Duration::from_millis(50),
    }
}

fn progress(status: i64, waiting_count: i64) -> Answer {
    http(
        200,
        &format!(
            r#"{{"data":{{"status":{status},"waitingCount":{waiting_count}}},"error_code":"0","error_msg":"OK"}}"#
        ),
    )
}

fn state(state: &str) -> Answer {
    http(200, &format!(r#"{{"state":"{state}"}}"#))
}

fn throttled(retry_after_secs: u64) -> Answer {
    Answer::Http {
        status: 429,
        headers: vec![("retry-after", retry_after_secs.to_string())],
        body: "Too Many Requests".to_owned(),
        latency: Duration::from_millis(50),
    }
}

fn fail(kind: TransportErrorKind) -> Answer {
    Answer::Fail(kind, Duration::from_millis(50))
}

/// The default policy, with up to `n` retries of consecutive failures.
fn error_budget(n: u32) -> WaitPolicy {
    WaitPolicy {
        max_consecutive_errors: n,
        ..WaitPolicy::default()
    }
}

/// The default policy, giving up after `max_wait`.
fn max_wait(max_wait: Duration) -> WaitPolicy {
    WaitPolicy {
        max_wait,
        ..WaitPolicy::default()
    }
}

fn show_progress() -> ShowProgress {
    ShowProgress::new("1008600000104285462", "iRJEVP9").unwrap()
}

fn show_status() -> ShowInstanceStatus {
    ShowInstanceStatus::new("project-1", "instance-1").unwrap()
}

/// One request as the driver saw it: when it was sent, and when its answer
/// was handled.
#[derive(Debug, Clone, Copy)]
struct Exchange {
    sent: Instant,
    handled: Instant,
}

/// A run of the waiter against a script of answers.
struct Run<O> {
    t0: Instant,
    outcome: Result<O, WaitError<O>>,
    finished: Instant,
    exchanges: Vec<Exchange>,
    deadline: Instant,
    polls: u32,
}

impl<O> Run<O> {
    /// Pauses between an answer and the next request.
    fn pauses(&self) -> Vec<Duration> {
        self.exchanges
            .windows(2)
            .map(|w| w[1].sent - w[0].handled)
            .collect()
    }
}

/// Drive `waiter` like a well-behaved driver on a virtual clock: sleep until
/// each `WakeAt`, answer each `Send` with the next scripted answer (the last
/// one repeats), and check the contract on the way.
fn drive<Op, T>(mut waiter: Waiter<Op, T>, t0: Instant, answers: &[Answer]) -> Run<Op::Output>
where
    Op: Operation,
    Op::Output: PartialEq,
    T: Target<Op::Output>,
{
    let mut now = t0;
    let mut exchanges = Vec::new();
    for _ in 0..10_000 {
        match waiter.poll(now) {
            Action::Done(outcome) => {
                assert_eq!(waiter.poll(now), Action::Done(outcome.clone()));
                return Run {
                    t0,
                    outcome,
                    finished: now,
                    deadline: waiter.deadline(),
                    polls: waiter.polls(),
                    exchanges,
                };
            }
            Action::WakeAt(at) => {
                assert!(at > now, "woken at {at:?}, not after {now:?}");
                assert!(at <= waiter.deadline(), "woken after the deadline");
                // Calling early repeats the same instruction.
                assert_eq!(waiter.poll(now), Action::WakeAt(at));
                now = at;
            }
            Action::Send => {
                assert!(now < waiter.deadline(), "sent at the deadline");
                let sent = now;
                let answer = &answers[exchanges.len().min(answers.len() - 1)];
                match answer {
                    Answer::Http {
                        status,
                        headers,
                        body,
                        latency,
                    } => {
                        now += *latency;
                        let mut response = Response::new(body.as_bytes());
                        *response.status_mut() = StatusCode::from_u16(*status).unwrap();
                        for (name, value) in headers {
                            response.headers_mut().insert(*name, value.parse().unwrap());
                        }
                        waiter.handle_response(response, now);
                    }
                    Answer::Fail(kind, latency) => {
                        now += *latency;
                        waiter.handle_transport_error(*kind, now);
                    }
                }
                let seen = waiter.last_observation().expect("an answer is observed");
                assert_eq!(seen.attempt, waiter.polls());
                assert_eq!(seen.at, now);
                assert_eq!(seen.elapsed, now - t0);
                exchanges.push(Exchange { sent, handled: now });
            }
        }
    }
    panic!("the wait did not end");
}

fn seeded<Op, T>(op: Op, target: T, policy: WaitPolicy, t0: Instant) -> Waiter<Op, T>
where
    Op: Operation,
    T: Target<Op::Output>,
{
    Waiter::with_rng(op, target, policy, SeededRng::new(42), t0)
}

/// A wait of `op` for `target` under `policy` (jitter from the seeded RNG),
/// driven over `answers` from a fresh `t0` (the run's `t0`).
fn wait_for<Op, T>(op: Op, target: T, policy: WaitPolicy, answers: &[Answer]) -> Run<Op::Output>
where
    Op: Operation,
    Op::Output: PartialEq,
    T: Target<Op::Output>,
{
    let t0 = Instant::now();
    drive(seeded(op, target, policy, t0), t0, answers)
}

/// A ShowProgress wait until ready.
fn until_ready(policy: WaitPolicy, answers: &[Answer]) -> Run<Progress> {
    wait_for(show_progress(), UntilReady, policy, answers)
}

/// The wait ended on transport failure `kind`, after `polls` requests.
fn assert_transport_end(run: &Run<Progress>, kind: TransportErrorKind, polls: u32) {
    assert_eq!(run.outcome, Err(WaitError::Transport(kind)));
    assert_eq!(run.polls, polls);
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn queuing_then_restoring_then_normal() {
    let policy = WaitPolicy::default();
    let answers = [
        progress(1, 3),
        progress(1, 1),
        progress(2, 0),
        progress(2, 0),
        progress(2, 0),
        progress(0, 0),
    ];
    let run = until_ready(policy, &answers);
    assert_eq!(
        run.outcome,
        Ok(Progress {
            status: PrepareStatus::Normal,
            waiting_count: Some(0),
        })
    );
    assert_eq!(run.polls, 6);
    let pauses = run.pauses();
    for pause in &pauses {
        assert!(
            (policy.min_interval..=policy.max_interval).contains(pause),
            "{pause:?}"
        );
    }
    // The first ten seconds of a wait: the pause cap (a tenth of the time
    // waited, at least min_interval) holds every pause at min_interval,
    // whatever waitingCount suggests, so a phone ready early is seen early.
    assert_eq!(pauses, [secs(1); 5]);
}

#[test]
fn a_long_queue_hint_lengthens_the_pause_up_to_the_cap() {
    let t0 = Instant::now();
    let policy = WaitPolicy {
        jitter: Jitter::None,
        max_wait: secs(3600),
        ..WaitPolicy::default()
    };
    // 100 s into the wait the cap is 10 s: "60 s left" waits 10 s, "1 s
    // left" does not shorten the backoff.
    let mut waiter = seeded(show_progress(), UntilReady, policy, t0);
    let mut now = t0;
    let mut pause_after = |waiter: &mut Waiter<ShowProgress, UntilReady>, body: &str, at| {
        now = at;
        assert_eq!(waiter.poll(now), Action::Send);
        waiter.handle_response(Response::new(body.as_bytes()), now);
        match waiter.poll(now) {
            Action::WakeAt(next) => next - now,
            other => panic!("expected a wake-up, got {other:?}"),
        }
    };
    let queuing = |count| {
        format!(
            r#"{{"data":{{"status":1,"waitingCount":{count}}},"error_code":"0","error_msg":"OK"}}"#
        )
    };
    assert_eq!(pause_after(&mut waiter, &queuing(60), t0), secs(1));
    assert_eq!(
        pause_after(&mut waiter, &queuing(60), t0 + secs(100)),
        secs(10)
    );
    let backoff = pause_after(&mut waiter, &queuing(1), t0 + secs(110));
    assert_eq!(backoff, Duration::from_secs_f64(2.25));
}

#[test]
fn processing_failure_ends_with_the_failed_state() {
    let answers = [progress(1, 2), progress(-1, 0)];
    let run = until_ready(WaitPolicy::default(), &answers);
    let Err(WaitError::FailedState(failed)) = &run.outcome else {
        panic!("expected a failed state, got {:?}", run.outcome);
    };
    assert_eq!(failed.status, PrepareStatus::Failed);
    assert_eq!(run.polls, 2);
    assert!(
        run.outcome
            .unwrap_err()
            .to_string()
            .starts_with("the instance reached a failure state")
    );
}

#[test]
fn deadline_ends_the_wait_with_the_last_output() {
    let policy = max_wait(secs(60));
    let run = until_ready(policy, &[progress(2, 0)]);
    let restoring = Progress {
        status: PrepareStatus::Restoring,
        waiting_count: Some(0),
    };
    assert_eq!(
        run.outcome,
        Err(WaitError::Deadline {
            last: Some(restoring)
        })
    );
    assert_eq!(run.finished, run.deadline);
    assert_eq!(run.deadline, run.t0 + secs(60));
    let last = run.exchanges.last().unwrap();
    assert!(last.sent < run.deadline);
    // The last request went out close to the deadline, so the timeout
    // reports a fresh state.
    assert!(run.deadline - last.sent <= policy.max_interval);
    // Pauses grow with the time waited (at most a tenth of it after the
    // first 10 s), so a minute costs well under a 1 s poller's 60 requests.
    assert!(run.polls < 40, "{} polls in 60 s", run.polls);
    for exchange in run.exchanges.windows(2) {
        let waited = exchange[0].handled - run.t0;
        let pause = exchange[1].sent - exchange[0].handled;
        assert!(
            pause <= (waited / 10).max(secs(1)),
            "{pause:?} after {waited:?}"
        );
    }
}

#[test]
fn retry_after_is_the_minimum_pause() {
    let answers = [throttled(7), progress(0, 0)];
    let run = until_ready(WaitPolicy::default(), &answers);
    assert!(run.outcome.is_ok());
    assert!(run.pauses()[0] >= secs(7), "{:?}", run.pauses());
}

#[test]
fn retry_after_beyond_the_deadline_ends_at_the_deadline() {
    let policy = max_wait(secs(10));
    let run = until_ready(policy, &[throttled(30)]);
    assert_eq!(run.outcome, Err(WaitError::Deadline { last: None }));
    assert_eq!(run.polls, 1);
    assert_eq!(run.finished, run.t0 + secs(10));
}

#[test]
fn retryable_errors_end_when_the_budget_is_spent() {
    let policy = error_budget(2);
    let internal = http(
        500,
        r#"{"error_code":"KOOPHONE.API.9999","error_msg":"internal"}"#,
    );
    let run = until_ready(policy, &[internal]);
    let Err(WaitError::Api(ApiError::Service(error))) = &run.outcome else {
        panic!("expected a service error, got {:?}", run.outcome);
    };
    assert_eq!(error.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(run.polls, 3);
    let pauses = run.pauses();
    assert!(pauses.iter().all(|p| *p >= policy.min_interval));
}

#[test]
fn an_output_resets_the_error_budget() {
    let policy = error_budget(1);
    let bad_gateway = http(502, "<html><body>502 Bad Gateway</body></html>");
    let answers = [
        bad_gateway.clone(),
        progress(1, 1),
        bad_gateway,
        fail(TransportErrorKind::Reset),
    ];
    let run = until_ready(policy, &answers);
    assert_transport_end(&run, TransportErrorKind::Reset, 4);
}

#[test]
fn client_errors_end_at_once() {
    for (status, body) in [
        (
            400,
            r#"{"error_code":"KOOPHONE.API.1000","error_msg":"bad parameter"}"#,
        ),
        (
            404,
            r#"{"error_code":"KOOPHONE.API.4001","error_msg":"no such instance"}"#,
        ),
        (
            401,
            r#"{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information"}"#,
        ),
    ] {
        let run = until_ready(WaitPolicy::default(), &[http(status, body)]);
        let Err(WaitError::Api(error)) = &run.outcome else {
            panic!("expected an API error for {status}, got {:?}", run.outcome);
        };
        assert_eq!(error.status().as_u16(), status);
        assert_eq!(run.polls, 1);
        assert_eq!(run.finished, run.t0 + Duration::from_millis(50));
    }
}

#[test]
fn transport_failures_are_retried_until_the_budget_is_spent() {
    let policy = error_budget(2);
    let answers = [
        fail(TransportErrorKind::Connect),
        fail(TransportErrorKind::Timeout),
        fail(TransportErrorKind::Reset),
    ];
    let run = until_ready(policy, &answers);
    assert_transport_end(&run, TransportErrorKind::Reset, 3);
    assert_eq!(
        run.outcome.unwrap_err().to_string(),
        "connection reset or closed"
    );

    let run = until_ready(policy, &[fail(TransportErrorKind::Tls)]);
    assert_transport_end(&run, TransportErrorKind::Tls, 1);
}

#[test]
fn once_is_a_single_call_with_retries() {
    let policy = error_budget(2);
    let answers = [
        http(503, "Service Unavailable"),
        fail(TransportErrorKind::Timeout),
        progress(1, 12),
    ];
    let run = wait_for(show_progress(), Once, policy, &answers);
    assert_eq!(
        run.outcome,
        Ok(Progress {
            status: PrepareStatus::Queuing,
            waiting_count: Some(12),
        })
    );
    assert_eq!(run.polls, 3);

    let no_retries = WaitPolicy {
        max_consecutive_errors: 0,
        ..policy
    };
    let run = wait_for(show_progress(), Once, no_retries, &answers);
    assert!(matches!(run.outcome, Err(WaitError::Api(_))));
    assert_eq!(run.polls, 1);
}

#[test]
fn until_state_waits_for_running() {
    let target = UntilState::new(InstanceState::Running);
    let answers = [state("pending"), state("pending"), state("running")];
    let run = wait_for(show_status(), target, WaitPolicy::default(), &answers);
    assert_eq!(
        run.outcome.map(|s: InstanceStatus| s.state),
        Ok(InstanceState::Running)
    );
    assert_eq!(run.polls, 3);
}

#[test]
fn until_state_fails_on_error_failed_and_terminated() {
    for failure in ["error", "failed", "terminated"] {
        let target = UntilState::new(InstanceState::Running);
        let answers = [state("pending"), state(failure)];
        let run = wait_for(show_status(), target, WaitPolicy::default(), &answers);
        let Err(WaitError::FailedState(status)) = &run.outcome else {
            panic!(
                "expected a failed state for {failure}, got {:?}",
                run.outcome
            );
        };
        assert_eq!(status.state.as_str(), failure);
        assert_eq!(run.polls, 2);
    }
}

#[test]
fn terminated_can_be_the_target() {
    let target = UntilState::new(InstanceState::Terminated);
    let answers = [state("shutting-down"), state("terminated")];
    let run = wait_for(show_status(), target, WaitPolicy::default(), &answers);
    assert_eq!(run.outcome.map(|s| s.state), Ok(InstanceState::Terminated));
}

#[test]
fn unknown_states_keep_waiting() {
    let target = UntilState::new(InstanceState::Running);
    let answers = [state("teminated"), state("running")];
    let run = wait_for(show_status(), target, WaitPolicy::default(), &answers);
    assert!(run.outcome.is_ok());
    assert_eq!(run.polls, 2);
}

#[test]
fn loop_contract() {
    let t0 = Instant::now();
    let policy = WaitPolicy {
        jitter: Jitter::None,
        ..WaitPolicy::default()
    };
    let mut waiter = seeded(show_progress(), UntilReady, policy, t0);
    assert!(waiter.last_observation().is_none());
    assert_eq!(waiter.poll(t0), Action::Send);
    // In flight: no second request, however often poll is called.
    assert_eq!(waiter.poll(t0), Action::WakeAt(waiter.deadline()));
    assert_eq!(waiter.poll(t0 + secs(1)), Action::WakeAt(waiter.deadline()));

    let body = br#"{"data":{"status":2,"waitingCount":0},"error_code":"0","error_msg":"OK"}"#;
    let now = t0 + secs(1);
    waiter.handle_response(Response::new(&body[..]), now);
    let Some(seen) = waiter.last_observation() else {
        panic!("no observation");
    };
    assert_eq!((seen.attempt, seen.elapsed), (1, secs(1)));
    assert!(matches!(&seen.event, Observed::Output(p) if p.status == PrepareStatus::Restoring));

    let wake = waiter.poll(now);
    assert_eq!(wake, Action::WakeAt(now + secs(1)));
    assert_eq!(waiter.poll(now), wake);
    assert_eq!(waiter.poll(now + Duration::from_millis(999)), wake);
    assert_eq!(waiter.poll(now + secs(1)), Action::Send);

    let body = br#"{"data":{"status":0,"waitingCount":0},"error_code":"0","error_msg":"OK"}"#;
    waiter.handle_response(Response::new(&body[..]), now + secs(2));
    let done = waiter.poll(now + secs(2));
    assert!(matches!(&done, Action::Done(Ok(p)) if p.status == PrepareStatus::Normal));
    for later in [secs(2), secs(3), secs(10_000)] {
        assert_eq!(waiter.poll(now + later), done);
    }
    assert_eq!(waiter.polls(), 2);
}

#[test]
fn the_same_seed_replays_the_same_wait() {
    let t0 = Instant::now();
    let answers = [progress(2, 0)];
    let policy = max_wait(secs(300));
    let sends = |seed| {
        let waiter = Waiter::with_rng(
            show_progress(),
            UntilReady,
            policy,
            SeededRng::new(seed),
            t0,
        );
        let run = drive(waiter, t0, &answers);
        run.exchanges
            .iter()
            .map(|e| e.sent - run.t0)
            .collect::<Vec<_>>()
    };
    assert_eq!(sends(7), sends(7));
    assert_ne!(sends(7), sends(8));
}
