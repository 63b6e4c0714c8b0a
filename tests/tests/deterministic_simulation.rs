//! Deterministic simulation: the koophone-proto waiter driven against the
//! koophone-sim core under a virtual clock, over many seeded scenarios
//! (random queue lengths and life cycles, failures, fault mixes, rate limits,
//! policies and driver lateness), checking the waiter's promises:
//!
//! - a wait ends ready iff a clean answer was sent after the instance became
//!   ready, and then at once (never before the instance was ready); likewise
//!   for failure states;
//! - without faults, an instance ready early enough (one `max_interval`
//!   before the deadline) is always seen ready;
//! - no request goes out at or after the deadline, none sooner than
//!   `min_interval` (or a 429's Retry-After) after the previous answer, and
//!   none after the outcome;
//! - every request the client builds is one the service accepts.
//!
//! Requests go through koophone-sim's [`MemoryTransport`], the same in-memory
//! transport other in-process tests use, so faults reach the waiter exactly
//! as that transport delivers them: a slow answer moves the clock (or times
//! out at the run's request timeout), a dropped or cut-short answer is an
//! error mapped by [`memory_error_kind`].
//!
//! `KOOPHONE_DST_CASES=N` changes the number of scenarios (default 2000);
//! `KOOPHONE_DST_SEED=S` replays one scenario, and `KOOPHONE_DST_VERBOSE=1`
//! prints its policy, oracle, requests and outcome.

use std::time::{Duration, Instant};

use http::Response;
use koophone_proto::{
    Action, Endpoint, InstanceState, Jitter, Operation, PrepareStatus, RequestContext, Rng,
    SeededRng, ShowInstanceStatus, ShowProgress, Target, Token, UntilReady, UntilState, WaitError,
    WaitPolicy, Waiter,
};
use koophone_sim::memory::{MemoryError, MemoryTransport};
use koophone_sim::{
    CloudDcInstance, CloudDcPhase, CloudDcProject, CloudDcSpec, Fault, FaultRoute, FaultRule,
    KooPhoneInstance, KooPhonePhase, KooPhoneSpec, KooPhoneStatus, KooPhoneUser, RateLimit,
    Scenario,
};
use koophone_tests::driver_cases::{in_memory, memory_error_kind};

const USER: &str = "dst-user";
const PHONE: &str = "dst-phone";
const PROJECT: &str = "dst-project";
const INSTANCE: &str = "dst-instance";
/// How late a driver may wake after the instant it was told.
const MAX_LATENESS_MS: u64 = 50;

struct Gen(SeededRng);

impl Gen {
    fn below(&mut self, n: u64) -> u64 {
        self.0.next_u64() % n.max(1)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The KooPhone side of a scenario: one user with one phone going through `phases`.
fn one_phone(phases: Vec<KooPhonePhase>) -> KooPhoneSpec {
    KooPhoneSpec {
        users: vec![KooPhoneUser {
            user_id: USER.to_owned(),
            instances: vec![KooPhoneInstance {
                instance_id: PHONE.to_owned(),
                phases,
                prepare: None,
            }],
        }],
    }
}

fn koophone_phases(g: &mut Gen) -> Vec<KooPhonePhase> {
    let mut phases = Vec::new();
    let mut add = |status, for_ms, waiting_count_from| {
        phases.push(KooPhonePhase {
            status,
            for_ms,
            waiting_count: None,
            waiting_count_from,
        })
    };
    if g.chance(80) {
        let queue = g.range(0, 12) as u32;
        let for_ms = g.range(1, 20_000);
        add(
            KooPhoneStatus::Queuing,
            Some(for_ms),
            (queue > 0).then_some(queue),
        );
    }
    if g.chance(70) {
        add(KooPhoneStatus::Restoring, Some(g.range(1, 10_000)), None);
    }
    if g.chance(30) {
        add(KooPhoneStatus::BackingUp, Some(g.range(1, 5_000)), None);
    }
    if g.chance(10) {
        add(KooPhoneStatus::Other(7), Some(g.range(1, 3_000)), None);
    }
    let last = if g.chance(20) {
        KooPhoneStatus::Failed
    } else {
        KooPhoneStatus::Normal
    };
    add(last, None, None);
    phases
}

fn clouddc_phases(g: &mut Gen) -> Vec<CloudDcPhase> {
    let phase = |state: &str, for_ms| CloudDcPhase {
        state: state.to_owned(),
        for_ms,
        error: None,
        operation_state: None,
    };
    let mut phases = vec![phase("pending", Some(g.range(1, 20_000)))];
    if g.chance(20) {
        phases.push(phase("reinstalling", Some(g.range(1, 5_000))));
    }
    let last = match g.below(10) {
        0 => "error",
        1 => "failed",
        _ => "running",
    };
    phases.push(phase(last, None));
    phases
}

fn fault_rules(g: &mut Gen) -> Vec<FaultRule> {
    if g.chance(35) {
        return Vec::new();
    }
    let n = g.range(1, 4);
    (0..n)
        .map(|_| {
            let fault = match g.below(10) {
                0 => Fault::InternalError { error_code: None },
                1 => Fault::OkWithError { error_code: None },
                2 => Fault::BadGateway {},
                3 => Fault::ServiceUnavailable {
                    retry_after_s: g.chance(50).then(|| g.range(1, 3)),
                },
                4 => Fault::Throttled {
                    retry_after_s: Some(g.range(1, 4)),
                },
                5 => Fault::Slow {
                    delay_ms: g.range(1, 3_000),
                },
                6 => Fault::MalformedJson {},
                7 => Fault::TruncatedJson {},
                8 => Fault::TruncatedBody {},
                _ => Fault::DropConnection {},
            };
            FaultRule {
                route: FaultRoute::Any,
                probability: g.unit() * 0.3,
                burst: g.range(1, 3) as u32,
                from_ms: 0,
                until_ms: None,
                max_count: None,
                fault,
            }
        })
        .collect()
}

fn policy(g: &mut Gen) -> WaitPolicy {
    let min = g.range(50, 2_000);
    let max = g.range(min, (min * 20).min(30_000));
    WaitPolicy {
        min_interval: Duration::from_millis(min),
        max_interval: Duration::from_millis(max),
        growth: 1.0 + g.unit() * 1.5,
        jitter: match g.below(3) {
            0 => Jitter::None,
            1 => Jitter::Full,
            _ => Jitter::Equal,
        },
        max_wait: Duration::from_millis(g.range(500, 60_000)),
        max_consecutive_errors: g.range(0, 6) as u32,
        // Anything else the policy grows keeps its default.
        ..WaitPolicy::default()
    }
}

/// One request as the driver saw it.
#[derive(Debug)]
struct Sent {
    sent_at: Duration,
    answered_at: Duration,
    /// The service's own answer reached the client, untouched by faults (a
    /// slow one counts, unless it timed out).
    clean: bool,
    /// 0 when no answer was delivered (dropped, truncated or timed out).
    status: u16,
    retry_after: Option<Duration>,
    timed_out: bool,
}

#[derive(Debug)]
struct Trace<O> {
    sends: Vec<Sent>,
    outcome: Result<O, WaitError<O>>,
    ended_at: Duration,
}

/// Runs one wait to its end, as any driver would: requests through the
/// in-memory transport, its virtual clock moved (plus up to
/// `MAX_LATENESS_MS` of driver lateness) where a driver would sleep.
fn drive<Op, T>(
    transport: &MemoryTransport,
    mut waiter: Waiter<Op, T, SeededRng>,
    g: &mut Gen,
) -> Trace<Op::Output>
where
    Op: Operation,
    T: Target<Op::Output>,
{
    let ctx = RequestContext::new(
        Endpoint::parse("http://127.0.0.1:1").expect("loopback endpoint"),
        Token::new("sim-token").expect("token"),
    );
    let mut sends = Vec::new();
    for _ in 0..200_000 {
        match waiter.poll(transport.now()) {
            Action::Send => {
                let request = waiter
                    .operation()
                    .build_request(&ctx)
                    .expect("valid operation");
                let sent_at = transport.elapsed();
                let answer = transport.send(&request);
                // Which fault rule fired, whatever reached the client.
                let fired = transport
                    .simulator()
                    .lock()
                    .request_log()
                    .last()
                    .expect("logged")
                    .fault;
                let sent = match answer {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let retry_after = (status == 429)
                            .then(|| response.headers().get("retry-after"))
                            .flatten()
                            .and_then(|v| v.to_str().ok()?.parse().ok())
                            .map(Duration::from_secs);
                        let (parts, body) = response.into_parts();
                        waiter.handle_response(
                            Response::from_parts(parts, body.as_slice()),
                            transport.now(),
                        );
                        Sent {
                            sent_at,
                            answered_at: transport.elapsed(),
                            clean: status == 200 && matches!(fired, None | Some("slow")),
                            status,
                            retry_after,
                            timed_out: false,
                        }
                    }
                    Err(error) => {
                        waiter.handle_transport_error(memory_error_kind(&error), transport.now());
                        Sent {
                            sent_at,
                            answered_at: transport.elapsed(),
                            clean: false,
                            status: 0,
                            retry_after: None,
                            timed_out: matches!(error, MemoryError::Timeout(_)),
                        }
                    }
                };
                sends.push(sent);
            }
            Action::WakeAt(at) => {
                assert!(at > transport.now(), "WakeAt must be in the future");
                transport.advance_to(at);
                transport.advance(Duration::from_millis(g.below(MAX_LATENESS_MS + 1)));
            }
            Action::Done(outcome) => {
                let ended_at = transport.elapsed();
                // Done is final: no request after the outcome, whatever the time.
                for _ in 0..5 {
                    transport.advance(Duration::from_millis(g.range(1, 120_000)));
                    match waiter.poll(transport.now()) {
                        Action::Done(again) => assert_eq!(
                            format!("{again:?}"),
                            format!("{outcome:?}"),
                            "outcome changed"
                        ),
                        other => panic!("{other:?} after the outcome"),
                    }
                }
                assert_eq!(waiter.polls() as usize, sends.len());
                assert_eq!(
                    transport.simulator().lock().requests_handled() as usize,
                    sends.len(),
                    "requests the service saw"
                );
                return Trace {
                    sends,
                    outcome,
                    ended_at,
                };
            }
        }
    }
    panic!("the wait did not end within 200000 steps");
}

/// What the instance's timeline promises, for the checks.
struct Oracle {
    ready_at: Option<Duration>,
    failed_at: Option<Duration>,
}

#[derive(Default, Debug)]
struct Tally {
    ready: u32,
    failed: u32,
    deadline: u32,
    errors: u32,
    faulty_runs: u32,
    requests: u64,
    timeouts: u64,
}

fn check<O: std::fmt::Debug>(
    trace: &Trace<O>,
    oracle: &Oracle,
    policy: &WaitPolicy,
    fault_free: bool,
    tally: &mut Tally,
) {
    let deadline = policy.max_wait;
    let sends = &trace.sends;
    if std::env::var_os("KOOPHONE_DST_VERBOSE").is_some() {
        eprintln!("{policy:?}\n{:?} {:?}", oracle.ready_at, oracle.failed_at);
        for s in sends {
            eprintln!("{s:?}");
        }
        eprintln!("{:?} at {:?}", trace.outcome, trace.ended_at);
    }
    tally.requests += sends.len() as u64;
    tally.timeouts += sends.iter().filter(|s| s.timed_out).count() as u64;
    assert!(!sends.is_empty(), "the first request goes out at once");
    assert_eq!(sends[0].sent_at, Duration::ZERO);
    for s in sends {
        assert!(
            s.sent_at < deadline,
            "request at {:?} >= deadline {deadline:?}",
            s.sent_at
        );
        assert!(
            !matches!(s.status, 400 | 401 | 404 | 405 | 413),
            "the service refused a request the client built: {}",
            s.status
        );
    }
    for pair in sends.windows(2) {
        let gap = pair[1].sent_at.saturating_sub(pair[0].answered_at);
        assert!(
            gap >= policy.min_interval,
            "request {gap:?} after an answer, min_interval {:?}",
            policy.min_interval
        );
        if let Some(retry_after) = pair[0].retry_after {
            assert!(
                gap >= retry_after,
                "request {gap:?} after a 429 asking for {retry_after:?}"
            );
        }
    }
    let first_clean_after =
        |t: Option<Duration>| t.and_then(|t| sends.iter().position(|s| s.clean && s.sent_at >= t));
    let ready_seen = first_clean_after(oracle.ready_at);
    let failed_seen = first_clean_after(oracle.failed_at);
    let last = sends.len() - 1;
    match &trace.outcome {
        Ok(_) => {
            tally.ready += 1;
            assert_eq!(
                ready_seen,
                Some(last),
                "ready only on, and right after, the first clean ready answer"
            );
        }
        Err(WaitError::FailedState(_)) => {
            tally.failed += 1;
            assert_eq!(
                failed_seen,
                Some(last),
                "failed only on, and right after, the first clean failed answer"
            );
        }
        Err(WaitError::Deadline { .. }) => {
            tally.deadline += 1;
            assert!(
                ready_seen.is_none() && failed_seen.is_none(),
                "saw the end but kept waiting"
            );
            assert!(trace.ended_at >= deadline, "deadline reported early");
        }
        Err(WaitError::Api(_) | WaitError::Transport(_)) => {
            tally.errors += 1;
            assert!(
                ready_seen.is_none() && failed_seen.is_none(),
                "saw the end but kept waiting"
            );
            assert!(!sends[last].clean, "gave up on a clean answer");
            assert!(!fault_free, "an error without any fault injected");
        }
    }
    if fault_free {
        let slack =
            policy.max_interval.max(policy.min_interval) + Duration::from_millis(MAX_LATENESS_MS);
        if let Some(ready_at) = oracle.ready_at
            && ready_at + slack < deadline
        {
            assert!(
                trace.outcome.is_ok(),
                "ready at {ready_at:?}, deadline {deadline:?}, got {:?}",
                trace.outcome
            );
        }
        if let Some(failed_at) = oracle.failed_at
            && failed_at + slack < deadline
        {
            assert!(
                matches!(trace.outcome, Err(WaitError::FailedState(_))),
                "{:?}",
                trace.outcome
            );
        }
    }
}

fn run_seed(seed: u64, tally: &mut Tally) {
    let mut g = Gen(SeededRng::new(seed));
    let faults = fault_rules(&mut g);
    let fault_free = faults.is_empty();
    let rate_limit = g.chance(15).then(|| RateLimit {
        burst: g.range(1, 3) as u32,
        refill_every_ms: g.range(100, 3_000),
    });
    let fault_free = fault_free && rate_limit.is_none();
    if !fault_free {
        tally.faulty_runs += 1;
    }
    let progress = seed.is_multiple_of(2);
    let scenario = Scenario {
        rate_limit,
        request_log_capacity: 4,
        koophone: one_phone(koophone_phases(&mut g)),
        clouddc: CloudDcSpec {
            projects: vec![CloudDcProject {
                project_id: PROJECT.to_owned(),
                instances: vec![CloudDcInstance {
                    instance_id: INSTANCE.to_owned(),
                    phases: clouddc_phases(&mut g),
                }],
            }],
        },
        faults,
        ..Scenario::empty()
    };
    let policy = policy(&mut g);
    policy.validate().expect("generated policy is valid");
    let transport = in_memory(scenario, seed, Instant::now()).expect("generated scenario is valid");
    // Half the drivers give up on slow answers, as a client with a request
    // timeout does.
    let transport = if g.chance(50) {
        transport.with_timeout(Duration::from_millis(g.range(200, 2_500)))
    } else {
        transport
    };
    let rng = SeededRng::new(seed ^ 0x9e37_79b9_7f4a_7c15);
    if progress {
        let oracle = {
            let sim = transport.simulator().lock();
            Oracle {
                ready_at: sim.koophone_reaches(PHONE, KooPhoneStatus::Normal),
                failed_at: sim.koophone_reaches(PHONE, KooPhoneStatus::Failed),
            }
        };
        let op = ShowProgress::new(USER, PHONE).expect("valid ids");
        let waiter = Waiter::with_rng(op, UntilReady, policy, rng, transport.now());
        let trace = drive(&transport, waiter, &mut g);
        if let Ok(progress) = &trace.outcome {
            assert_eq!(progress.status, PrepareStatus::Normal);
        }
        check(&trace, &oracle, &policy, fault_free, tally);
    } else {
        let oracle = {
            let sim = transport.simulator().lock();
            Oracle {
                ready_at: sim.clouddc_reaches(PROJECT, INSTANCE, "running"),
                failed_at: ["error", "failed"]
                    .iter()
                    .filter_map(|s| sim.clouddc_reaches(PROJECT, INSTANCE, s))
                    .min(),
            }
        };
        let op = ShowInstanceStatus::new(PROJECT, INSTANCE).expect("valid ids");
        let target = UntilState::new(InstanceState::Running);
        let waiter = Waiter::with_rng(op, target, policy, rng, transport.now());
        let trace = drive(&transport, waiter, &mut g);
        if let Ok(status) = &trace.outcome {
            assert_eq!(status.state, InstanceState::Running);
        }
        check(&trace, &oracle, &policy, fault_free, tally);
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

#[test]
fn waiter_keeps_its_promises_against_the_simulator() {
    if let Some(seed) = env_u64("KOOPHONE_DST_SEED") {
        run_seed(seed, &mut Tally::default());
        return;
    }
    let cases = env_u64("KOOPHONE_DST_CASES").unwrap_or(2000);
    let mut tally = Tally::default();
    for seed in 0..cases {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut local = Tally::default();
            run_seed(seed, &mut local);
            local
        }));
        match result {
            Ok(local) => {
                tally.ready += local.ready;
                tally.failed += local.failed;
                tally.deadline += local.deadline;
                tally.errors += local.errors;
                tally.faulty_runs += local.faulty_runs;
                tally.requests += local.requests;
                tally.timeouts += local.timeouts;
            }
            Err(_) => panic!("scenario seed {seed} failed; replay with KOOPHONE_DST_SEED={seed}"),
        }
    }
    eprintln!("deterministic simulation: {cases} scenarios, {tally:?}");
    if cases >= 1000 {
        // The generator must reach every kind of ending, or the checks above
        // prove little.
        assert!(tally.ready > cases as u32 / 10, "{tally:?}");
        assert!(tally.failed > 10, "{tally:?}");
        assert!(tally.deadline > 10, "{tally:?}");
        assert!(tally.errors > 10, "{tally:?}");
        assert!(tally.faulty_runs > cases as u32 / 3, "{tally:?}");
        assert!(tally.timeouts > 10, "{tally:?}");
    }
}

#[test]
fn same_seed_same_run() {
    let run = |seed| {
        let mut g = Gen(SeededRng::new(seed));
        let faults = fault_rules(&mut g);
        let scenario = Scenario {
            koophone: one_phone(koophone_phases(&mut g)),
            faults,
            ..Scenario::empty()
        };
        let transport = in_memory(scenario, seed, Instant::now())
            .unwrap()
            .with_timeout(Duration::from_secs(2));
        let op = ShowProgress::new(USER, PHONE).unwrap();
        let waiter = Waiter::with_rng(
            op,
            UntilReady,
            policy(&mut g),
            SeededRng::new(seed),
            transport.now(),
        );
        let trace = drive(&transport, waiter, &mut g);
        let log: Vec<String> = transport
            .simulator()
            .request_log()
            .iter()
            .map(|e| format!("{:?} {} {} {:?}", e.at, e.status, e.request_id, e.fault))
            .collect();
        (format!("{:?} {:?}", trace.sends, trace.outcome), log)
    };
    for seed in [3, 17, 4242] {
        assert_eq!(run(seed), run(seed), "seed {seed}");
    }
    assert_ne!(run(3), run(4));
}
