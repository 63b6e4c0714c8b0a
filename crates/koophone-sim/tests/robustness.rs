//! Any input to the core, however wrong, gets an HTTP answer with a request
//! id and never a panic.

use std::time::Duration;

use http::Request;
use koophone_check::strategy;
use koophone_sim::{Scenario, Simulator};
use proptest::prelude::*;

fn faulty_scenario() -> Scenario {
    Scenario::from_json(
        r#"{"rate_limit": {"burst": 3, "refill_every_ms": 50},
            "koophone": {"users": [{"user_id": "u", "instances": [{"instance_id": "i",
                "phases": [{"status": "queuing", "for_ms": 10, "waiting_count_from": 9}, {"status": 42}]}]}]},
            "clouddc": {"projects": [{"project_id": "p", "instances": [{"instance_id": "i",
                "phases": [{"state": "pending", "for_ms": 5}, {"state": "failed"}]}]}]},
            "faults": [
                {"probability": 0.1, "fault": {"kind": "malformed_json"}},
                {"probability": 0.1, "fault": {"kind": "truncated_json"}},
                {"probability": 0.1, "fault": {"kind": "truncated_body"}},
                {"probability": 0.05, "burst": 3, "fault": {"kind": "internal_error"}}
            ]}"#,
    )
    .unwrap()
}

/// The scenario's routes (with its ids or other text in their parameters),
/// and any path at all.
fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => strategy::operation_path(&["p", "i"]),
        1 => "(/[a-zA-Z0-9%._~-]{0,8}){0,8}",
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        Just(br#"{"user_id":"u","instance_id":"i"}"#.to_vec()),
        ("[a-z]{0,40}", "[a-z]{0,40}").prop_map(|(u, i)| {
            format!(r#"{{"user_id":"{u}","instance_id":"{i}"}}"#).into_bytes()
        }),
        Just(vec![b'{'; 70_000]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_request_gets_an_answer(
        method in strategy::method(),
        path in path(),
        token in prop_oneof![Just(None), Just(Some(b"sim-token".to_vec())), proptest::collection::vec(any::<u8>(), 0..20).prop_map(Some)],
        body in body(),
        at_ms in 0u64..100_000,
        seed in any::<u64>(),
    ) {
        let mut sim = Simulator::new(faulty_scenario(), seed).unwrap();
        let mut builder = Request::builder().method(method);
        builder = builder.uri(path.as_str());
        if let Some(token) = &token
            && let Ok(value) = http::HeaderValue::from_bytes(token)
        {
            builder = builder.header("x-auth-token", value);
        }
        // Only paths http::Uri accepts reach a server at all.
        if let Ok(request) = builder.body(body) {
            for step in 0..3 {
                let answer = sim.handle(&request, Duration::from_millis(at_ms + step * 7));
                let status = answer.response.status().as_u16();
                prop_assert!((200..600).contains(&status));
                prop_assert!(answer.response.headers().contains_key("x-request-id"));
            }
        }
    }
}
