//! The simulator fuzz target's property on stable: the proptest below feeds
//! `koophone_check::sim::handle_requests`, the function the `simulator`
//! target in `fuzz/` calls, with request sequences shaped like the fuzzer's.
//! Every crash the fuzzer ever found is replayed at the end as a plain test.

use koophone_check::input::KNOWN_IDS;
use koophone_check::sim::{EXPIRING_TOKEN, SimRequest, TOKEN, handle_requests, scenario};
use proptest::prelude::*;

fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KNOWN_IDS.to_vec()).prop_map(str::to_owned),
        1 => any::<String>(),
        1 => "[a-z0-9%./-]{0,40}",
    ]
}

fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn request() -> impl Strategy<Value = SimRequest> {
    let method = prop_oneof![
        3 => Just("POST".to_owned()),
        3 => Just("GET".to_owned()),
        1 => "[A-Z]{1,8}",
        1 => any::<String>(),
    ];
    let uri = prop_oneof![
        3 => Just(koophone_sim::SHOW_PROGRESS_PATH.to_owned()),
        2 => Just(koophone_sim::BATCH_PREPARE_PATH.to_owned()),
        3 => (id(), id()).prop_map(|(p, i)| format!("/v1/{}/instances/{}/status", encode(&p), encode(&i))),
        1 => "(/[a-zA-Z0-9%._~?-]{0,8}){0,7}",
        1 => any::<String>(),
    ];
    let token = prop_oneof![
        Just(None),
        Just(Some(TOKEN.as_bytes().to_vec())),
        Just(Some(EXPIRING_TOKEN.as_bytes().to_vec())),
        prop::collection::vec(any::<u8>(), 0..24).prop_map(Some),
    ];
    let body = prop_oneof![
        Just(Vec::new()),
        (id(), id()).prop_map(|(u, i)| serde_json::json!({"user_id": u, "instance_id": i})
            .to_string()
            .into_bytes()),
        (
            id(),
            prop::collection::vec(prop_oneof![Just("iPREP001".to_owned()), id()], 0..4)
        )
            .prop_map(
                |(u, ids)| serde_json::json!({"user_id": u, "instance_ids": ids})
                    .to_string()
                    .into_bytes()
            ),
        prop::collection::vec(any::<u8>(), 0..700),
    ];
    let extra = prop::collection::vec(
        ("[a-z-]{1,16}", prop::collection::vec(any::<u8>(), 0..16)),
        0..3,
    );
    (method, uri, token, extra, body, 0u32..4000).prop_map(
        |(method, uri, token, extra, body, after_ms)| {
            let mut headers = extra;
            if let Some(token) = token {
                headers.insert(0, ("x-auth-token".to_owned(), token));
            }
            SimRequest {
                method,
                uri,
                headers,
                body,
                after_ms,
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_core_answers_any_requests_like_the_service(
        which in 0u8..3,
        seed in any::<u64>(),
        requests in prop::collection::vec(request(), 0..24),
    ) {
        handle_requests(&scenario(which), seed, &requests);
    }
}

/// The documented example through every scenario, so a regression in the
/// property's own rules shows without proptest's luck.
#[test]
fn the_documented_request_is_answered_in_every_scenario() {
    let request = SimRequest {
        method: "POST".to_owned(),
        uri: koophone_sim::SHOW_PROGRESS_PATH.to_owned(),
        headers: vec![("x-auth-token".to_owned(), TOKEN.as_bytes().to_vec())],
        body: br#"{"user_id":"1008600000104285462","instance_id":"iRJEVP9"}"#.to_vec(),
        after_ms: 0,
    };
    for which in 0..3 {
        let statuses = handle_requests(&scenario(which), 3, &vec![request.clone(); 6]);
        assert_eq!(statuses.len(), 6);
        if which < 2 {
            assert_eq!(statuses[0], 200, "scenario {which}");
        }
    }
    // The limited scenario allows a burst of 3.
    let statuses = handle_requests(&scenario(1), 3, &vec![request; 4]);
    assert_eq!(statuses, [200, 200, 200, 429]);
}

// ---- crashes found by fuzzing ------------------------------------------------
//
// Each test replays one minimized crash input through the property it broke.
// None so far; the runs are listed in fuzz/README.md.
