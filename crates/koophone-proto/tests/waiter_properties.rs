//! Property tests: whatever the service answers and however the driver's
//! clock moves, the waiter keeps its promises. The checks live in
//! `koophone_check::wait` so the fuzz target checks the same ones.

use std::time::{Duration, Instant};

use koophone_check::input::WaitInput;
use koophone_check::strategy;
use koophone_check::wait::{Reply, Script, Step};
use koophone_proto::{
    InstanceState, Jitter, Once, ShowInstanceStatus, ShowProgress, UntilReady, UntilState,
    WaitPolicy,
};
use proptest::prelude::*;

fn policy() -> impl Strategy<Value = WaitPolicy> {
    (
        10u64..=1000,
        1u64..=20,
        1.0f64..4.0,
        prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Equal)],
        1u64..=300,
        0u32..=6,
        prop_oneof![Just(None), (0.001f64..2.0).prop_map(Some)],
    )
        .prop_map(
            |(
                min_ms,
                max_factor,
                growth,
                jitter,
                wait_factor,
                max_consecutive_errors,
                max_pause_fraction,
            )| {
                WaitPolicy {
                    min_interval: Duration::from_millis(min_ms),
                    max_interval: Duration::from_millis(min_ms * max_factor),
                    growth,
                    jitter,
                    max_wait: Duration::from_millis(min_ms * wait_factor),
                    max_consecutive_errors,
                    max_pause_fraction,
                    seed: 0,
                }
            },
        )
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let progress = (
        -2i64..5,
        prop::option::of(-5i64..100),
        prop_oneof![Just("0"), Just("KOOPHONE.API.9999")],
    )
        .prop_map(|(status, count, code)| {
            let count = count.map_or(String::new(), |c| format!(r#","waitingCount":{c}"#));
            format!(
                r#"{{"data":{{"status":{status}{count}}},"error_code":"{code}","error_msg":"OK"}}"#
            )
            .into_bytes()
        });
    let state = prop::sample::select(vec![
        "pending",
        "running",
        "stopped",
        "shutting-down",
        "terminated",
        "error",
        "failed",
        "teminated",
    ])
    .prop_map(|s| format!(r#"{{"state":"{s}"}}"#).into_bytes());
    let error = prop::sample::select(vec![
        "KOOPHONE.API.1000",
        "KooPhone.API.4001",
        "KOOPHONE.API.9999",
        "APIGW.0301",
    ])
    .prop_map(|code| format!(r#"{{"error_code":"{code}","error_msg":"x"}}"#).into_bytes());
    prop_oneof![
        3 => progress,
        3 => state,
        1 => error,
        1 => Just(b"<html>502 Bad Gateway</html>".to_vec()),
        1 => Just(Vec::new()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

fn reply() -> impl Strategy<Value = Reply> {
    let status = prop_oneof![
        6 => Just(200u16),
        1 => prop::sample::select(vec![301u16, 400, 401, 403, 404, 429, 500, 502, 503, 504]),
        1 => 0u16..1100,
    ];
    let retry_after = prop::option::of(prop::sample::select(vec![
        "0",
        "1",
        "3",
        "120",
        "99999999999999999999",
        "-1",
        "soon",
        "Wed, 21 Oct 2015 07:28:00 GMT",
    ]));
    (status, retry_after, any::<bool>(), body()).prop_map(|(status, retry_after, dated, body)| {
        let mut headers = Vec::new();
        if let Some(value) = retry_after {
            headers.push(("retry-after".to_owned(), value.as_bytes().to_vec()));
        }
        if dated {
            headers.push(("date".to_owned(), b"Wed, 21 Oct 2015 07:27:00 GMT".to_vec()));
        }
        Reply {
            status,
            headers,
            body,
        }
    })
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => Just(Step::Poll),
        3 => (0u64..5000).prop_map(|ms| Step::Advance(Duration::from_millis(ms))),
        3 => reply().prop_map(Step::Respond),
        1 => strategy::transport_kind().prop_map(Step::Fail),
    ]
}

fn script() -> impl Strategy<Value = Script> {
    (policy(), any::<u64>(), prop::collection::vec(step(), 0..60)).prop_map(
        |(policy, seed, steps)| Script {
            policy,
            seed,
            steps,
        },
    )
}

/// Plays `script` against each kind of wait: progress until ready, status
/// until running, and a single call.
fn every_wait_keeps_its_promises(script: &Script) -> Result<(), TestCaseError> {
    let progress = || ShowProgress::new("user", "instance").unwrap();
    let status = ShowInstanceStatus::new("project", "instance").unwrap();
    let start = Instant::now();
    let violations = [
        (
            "progress wait",
            script.run(progress(), UntilReady, start).err(),
        ),
        (
            "status wait",
            script
                .run(status, UntilState::new(InstanceState::Running), start)
                .err(),
        ),
        ("single call", script.run(progress(), Once, start).err()),
    ];
    for (wait, violation) in violations {
        if let Some(violation) = violation {
            return Err(TestCaseError::fail(format!("{wait}: {violation}")));
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn waits_and_single_calls_keep_their_promises(script in script()) {
        every_wait_keeps_its_promises(&script)?;
    }

    #[test]
    fn scripts_from_raw_bytes_keep_their_promises(data in prop::collection::vec(any::<u8>(), 0..512)) {
        // The fuzz-input format: every byte string the waiter target reads
        // is a script with a valid policy.
        let Some(input) = koophone_check::input::decode::<WaitInput>(&data) else {
            return Ok(());
        };
        let (script, _) = input.script();
        prop_assert!(script.policy.validate().is_ok());
        every_wait_keeps_its_promises(&script)?;
    }
}

/// The checker itself must catch a broken promise, or the properties above
/// prove nothing. A target that changes its mind between calls makes the
/// waiter and the checker disagree about an answer, which must be reported.
#[test]
fn the_checker_catches_a_disagreement() {
    use std::cell::Cell;

    use koophone_proto::{Check, Progress, Target};

    struct Fickle(Cell<bool>);
    impl Target<Progress> for Fickle {
        fn check(&self, _output: &Progress) -> Check {
            let ready = self.0.get();
            self.0.set(!ready);
            if ready { Check::Ready } else { Check::Pending }
        }
    }

    let body = br#"{"data":{"status":1,"waitingCount":3},"error_code":"0","error_msg":"OK"}"#;
    let script = Script {
        policy: WaitPolicy::default(),
        seed: 0,
        steps: vec![
            Step::Poll,
            Step::Respond(Reply {
                status: 200,
                headers: Vec::new(),
                body: body.to_vec(),
            }),
            Step::Poll,
        ],
    };
    let op = ShowProgress::new("user", "instance").unwrap();
    let violation = script
        .run(op, Fickle(Cell::new(false)), Instant::now())
        .unwrap_err();
    assert_eq!(violation.step, Some(2), "{violation}");
    assert!(violation.message.contains("expected Done"), "{violation}");
}

/// A policy the checker cannot finish on a virtual clock is reported, not passed.
#[test]
fn the_checker_refuses_policies_it_cannot_finish() {
    let script = Script {
        policy: WaitPolicy {
            min_interval: Duration::from_nanos(1),
            ..WaitPolicy::default()
        },
        seed: 0,
        steps: Vec::new(),
    };
    let op = ShowProgress::new("user", "instance").unwrap();
    let violation = script.run(op, UntilReady, Instant::now()).unwrap_err();
    assert_eq!(violation.step, None);
    assert!(
        violation.to_string().contains("policy out of range"),
        "{violation}"
    );
}
