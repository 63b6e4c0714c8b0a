//! BatchPrepareInstances through the client, against the simulator over
//! loopback: prepare then wait, batches of 100, and the retry rule of a
//! write (only failures that prove nothing was applied are sent again).

use std::time::Duration;

use koophone_sim::{Route, Scenario, Sim, SimHandle};
use koophone_ureq::{
    AkSkCredentials, BatchPrepareInstances, Client, Error, PhoneStatus, PrepareStatus, RetryPolicy,
    SecretKey, Token, WaitPolicy,
};

const USER: &str = "1008600000104285462";

fn client(sim: &SimHandle) -> Client {
    Client::builder()
        .endpoint_url(sim.base_url())
        .token(Token::new("sim-token").unwrap())
        .retry_policy(RetryPolicy {
            min_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap()
}

fn prepare_requests(sim: &SimHandle) -> Vec<koophone_sim::LoggedRequest> {
    sim.request_log()
        .into_iter()
        .filter(|r| r.route == Some(Route::BatchPrepareInstances))
        .collect()
}

/// The default scenario with one fault rule on the prepare route.
fn with_prepare_fault(fault: &str) -> Scenario {
    faulty(&format!(
        r#"{{"route": "batch_prepare_instances", "max_count": 1, "fault": {fault}}}"#
    ))
}

/// The default scenario with one fault rule (JSON).
fn faulty(rule: &str) -> Scenario {
    let faults = Scenario::from_json(&format!(r#"{{"faults": [{rule}]}}"#))
        .unwrap()
        .faults;
    Scenario {
        faults,
        ..Scenario::default()
    }
}

#[test]
fn prepare_then_wait_until_ready() {
    let sim = Sim::start(Scenario::default()).unwrap();
    let client = client(&sim);
    let op = BatchPrepareInstances::new(USER, ["iPREP001"]).unwrap();
    let prepared = client.prepare_instances(&op).unwrap();
    assert_eq!(prepared.instances[0].status, Some(PhoneStatus::Ready));
    let policy = WaitPolicy {
        min_interval: Duration::from_millis(100),
        max_interval: Duration::from_millis(500),
        max_wait: Duration::from_secs(20),
        ..WaitPolicy::default()
    };
    for progress in op.progress_operations() {
        let ready = client.wait_until_ready(progress, policy, |_| {}).unwrap();
        assert_eq!(ready.output.status, PrepareStatus::Normal);
        assert!(ready.polls > 1, "it was queuing first");
    }
}

#[test]
fn prepare_all_sends_batches_of_one_hundred() {
    let instances: Vec<String> = (0..150)
        .map(|n| format!(r#"{{"instance_id": "p{n:03}", "prepare": {{}}, "phases": [{{"status": "normal"}}]}}"#))
        .collect();
    let scenario = Scenario::from_json(&format!(
        r#"{{"koophone": {{"users": [{{"user_id": "{USER}", "instances": [{}]}}]}}}}"#,
        instances.join(",")
    ))
    .unwrap();
    let sim = Sim::start(scenario).unwrap();
    let mut ids: Vec<String> = (0..150).map(|n| format!("p{n:03}")).collect();
    ids.push("p007".to_owned());
    let batches = client(&sim).prepare_all(USER, &ids).unwrap();
    assert_eq!(batches.len(), 2);
    let mut answered = Vec::new();
    for batch in &batches {
        let prepared = batch.outcome.as_ref().unwrap();
        assert_eq!(prepared.missing().count(), 0);
        answered.extend(prepared.instances.iter().map(|i| i.instance_id.clone()));
    }
    assert_eq!(answered, ids[..150]);
    let sizes: Vec<usize> = prepare_requests(&sim)
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).matches("\"p").count())
        .collect();
    assert_eq!(sizes, [100, 50]);
    // Invalid input: nothing is sent.
    let before = sim.request_log().len();
    let err = client(&sim)
        .prepare_all(USER, &["ok", &"x".repeat(33)])
        .unwrap_err();
    assert_eq!(err.kind(), "invalid_input");
    assert_eq!(sim.request_log().len(), before);
}

#[test]
fn one_failed_batch_does_not_hide_the_others() {
    let sim = Sim::start(Scenario::default()).unwrap();
    let mut ids: Vec<String> = (0..100).map(|n| format!("nosuch{n}")).collect();
    ids.push("iPREP001".to_owned());
    let batches = client(&sim).prepare_all(USER, &ids).unwrap();
    let first = batches[0].outcome.as_ref().unwrap_err();
    assert_eq!(first.error_code(), Some("KOOPHONE.API.4001"));
    let second = batches[1].outcome.as_ref().unwrap();
    assert_eq!(second.instances[0].instance_id, "iPREP001");
}

#[test]
fn only_failures_that_prove_nothing_was_applied_are_retried() {
    for (fault, retried) in [
        (r#"{"kind": "throttled", "retry_after_s": 1}"#, true),
        (
            r#"{"kind": "service_unavailable", "retry_after_s": 1}"#,
            true,
        ),
        (r#"{"kind": "service_unavailable"}"#, false),
        (r#"{"kind": "internal_error"}"#, false),
        (r#"{"kind": "bad_gateway"}"#, false),
        (r#"{"kind": "drop_connection"}"#, false),
    ] {
        let sim = Sim::start(with_prepare_fault(fault)).unwrap();
        let op = BatchPrepareInstances::new(USER, ["iPREP001"]).unwrap();
        let outcome = client(&sim).prepare_instances(&op);
        let sent = prepare_requests(&sim).len();
        if retried {
            assert!(outcome.is_ok(), "{fault}: {outcome:?}");
            assert_eq!(sent, 2, "{fault}");
        } else {
            assert!(outcome.is_err(), "{fault}: {outcome:?}");
            assert_eq!(sent, 1, "{fault} was sent again");
        }
    }
    // The same 500 on a read is retried: the rule is the operation's.
    let scenario = faulty(
        r#"{"route": "show_progress", "max_count": 1, "fault": {"kind": "internal_error"}}"#,
    );
    let sim = Sim::start(scenario).unwrap();
    let op = koophone_ureq::ShowProgress::new(USER, "iRJEVP9").unwrap();
    assert!(client(&sim).show_progress(&op).is_ok());
    assert_eq!(sim.request_log().len(), 2);
}

#[test]
fn a_refused_connection_is_a_transport_error() {
    // A port nothing listens on: every attempt is refused before sending
    // (the core's tests show Connect is the one transport failure retried).
    let sim = Sim::start(Scenario::default()).unwrap();
    let url = sim.base_url().to_owned();
    sim.shutdown();
    let client = Client::builder()
        .endpoint_url(&url)
        .token(Token::new("sim-token").unwrap())
        .retry_policy(RetryPolicy {
            retries: 2,
            min_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(10),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    let op = BatchPrepareInstances::new(USER, ["iPREP001"]).unwrap();
    let err = client.prepare_instances(&op).unwrap_err();
    assert_eq!(err.kind(), "transport");
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
}

#[test]
fn aksk_signed_prepare() {
    let sim = Sim::start(Scenario::default()).unwrap();
    let client = Client::builder()
        .endpoint_url(sim.base_url())
        .aksk(AkSkCredentials::new("sim-ak", SecretKey::new("sim-sk").unwrap()).unwrap())
        .build()
        .unwrap();
    let op = BatchPrepareInstances::new(USER, ["iPREP001", "iRJEVP9"]).unwrap();
    let prepared = client.prepare_instances(&op).unwrap();
    assert_eq!(
        prepared.to_string(),
        "iPREP001 ready (status 0), iRJEVP9 ready (status 0)"
    );
    let logged = prepare_requests(&sim);
    assert!(logged[0].header("authorization").is_some());
    assert!(logged[0].header("x-auth-token").is_none());
}
