//! BatchPrepareInstances in the simulator: a prepare call starts the
//! preparation ShowProgress then reports; validation, refusals, faults and
//! AK/SK signing as for the other routes.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use http::Request;
use koophone_sim::signature::{canonical_request, string_to_sign};
use koophone_sim::{
    BATCH_PREPARE_PATH, KooPhoneStatus, Route, SHOW_PROGRESS_PATH, Scenario, Simulator,
};
use serde_json::{Value, json};
use sha2::Sha256;

const USER: &str = "1008600000104285462";

fn post(path: &str, body: Value) -> Request<Vec<u8>> {
    Request::post(path)
        .header("x-auth-token", "sim-token")
        .header("content-type", "application/json")
        .body(body.to_string().into_bytes())
        .unwrap()
}

fn prepare(sim: &mut Simulator, ids: &[&str], at_ms: u64) -> (u16, Value) {
    let request = post(
        BATCH_PREPARE_PATH,
        json!({"user_id": USER, "instance_ids": ids}),
    );
    let response = sim.handle(&request, Duration::from_millis(at_ms)).response;
    let body = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    (response.status().as_u16(), body)
}

/// `(status, waitingCount)` from ShowProgress at `at_ms`.
fn progress(sim: &mut Simulator, id: &str, at_ms: u64) -> (i64, i64) {
    let request = post(
        SHOW_PROGRESS_PATH,
        json!({"user_id": USER, "instance_id": id}),
    );
    let response = sim.handle(&request, Duration::from_millis(at_ms)).response;
    assert_eq!(response.status(), 200, "{id} at {at_ms}");
    let body: Value = serde_json::from_slice(response.body()).unwrap();
    (
        body["data"]["status"].as_i64().unwrap(),
        body["data"]["waitingCount"].as_i64().unwrap(),
    )
}

fn error_code(body: &Value) -> &str {
    body["error_code"].as_str().unwrap_or_default()
}

#[test]
fn preparing_starts_the_progress_showprogress_reports() {
    let mut sim = Simulator::new(Scenario::default(), 1).unwrap();
    // Not prepared: queuing with no count, however long one waits.
    assert_eq!(progress(&mut sim, "iPREP001", 0), (1, 0));
    assert_eq!(progress(&mut sim, "iPREP001", 60_000), (1, 0));
    assert_eq!(
        sim.koophone_reaches("iPREP001", KooPhoneStatus::Normal),
        None
    );

    let (status, body) = prepare(&mut sim, &["iPREP001"], 60_000);
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"error_code": "0", "error_msg": "OK",
               "data": {"status_list": [{"instance_id": "iPREP001", "status": 0}]}})
    );
    // Then: queuing counting down, restoring, normal.
    assert_eq!(progress(&mut sim, "iPREP001", 60_000), (1, 2));
    assert_eq!(progress(&mut sim, "iPREP001", 61_000), (1, 1));
    assert_eq!(progress(&mut sim, "iPREP001", 62_000), (2, 0));
    assert_eq!(progress(&mut sim, "iPREP001", 63_000), (0, 0));
    assert_eq!(
        sim.koophone_reaches("iPREP001", KooPhoneStatus::Normal),
        Some(Duration::from_secs(63))
    );

    // A second call changes nothing: the preparation already runs.
    assert_eq!(prepare(&mut sim, &["iPREP001"], 62_500).0, 200);
    assert_eq!(progress(&mut sim, "iPREP001", 63_000), (0, 0));
}

#[test]
fn instances_without_a_prepare_spec_behave_as_before() {
    let mut untouched = Simulator::new(Scenario::default(), 1).unwrap();
    let mut prepared = Simulator::new(Scenario::default(), 1).unwrap();
    let (status, body) = prepare(&mut prepared, &["iRJEVP9", "iFAILED1", "iRJEVP9"], 500);
    assert_eq!(status, 200);
    // Repeated ids are answered once, in the order given.
    assert_eq!(
        body["data"]["status_list"],
        json!([{"instance_id": "iRJEVP9", "status": 0}, {"instance_id": "iFAILED1", "status": 0}])
    );
    for at in [0, 1000, 3000, 5000, 9000] {
        for id in ["iRJEVP9", "iFAILED1"] {
            assert_eq!(
                progress(&mut prepared, id, at),
                progress(&mut untouched, id, at),
                "{id} at {at}"
            );
        }
    }
}

#[test]
fn the_scenario_says_what_happens_before_and_after() {
    let scenario = Scenario::from_json(
        r#"{"koophone": {"users": [{"user_id": "1008600000104285462", "instances": [
            {"instance_id": "iBROKEN", "prepare": {"before": 7, "before_waiting_count": 9, "phone_status": 6},
             "phases": [{"status": "restoring", "for_ms": 1000}, {"status": "failed"}]},
            {"instance_id": "iSILENT", "prepare": {"omit_from_answer": true},
             "phases": [{"status": "normal"}]}]}]}}"#,
    )
    .unwrap();
    let mut sim = Simulator::new(scenario, 0).unwrap();
    assert_eq!(progress(&mut sim, "iBROKEN", 0), (7, 9));
    let (status, body) = prepare(&mut sim, &["iSILENT", "iBROKEN"], 2000);
    assert_eq!(status, 200);
    assert_eq!(
        body["data"]["status_list"],
        json!([{"instance_id": "iBROKEN", "status": 6}])
    );
    assert_eq!(progress(&mut sim, "iBROKEN", 2500), (2, 0));
    assert_eq!(progress(&mut sim, "iBROKEN", 3000), (-1, 0));
    // Left out of the answer, but prepared all the same.
    assert_eq!(progress(&mut sim, "iSILENT", 2000), (0, 0));
}

#[test]
fn generated_instances_can_need_preparing() {
    let scenario = Scenario::from_json(
        r#"{"generate": [{"user_id": "1008600000104285462", "id_prefix": "iGEN",
            "count": 3, "ready_after_ms": [1000, 1000], "prepare": {}}]}"#,
    )
    .unwrap();
    let mut sim = Simulator::new(scenario, 0).unwrap();
    assert_eq!(progress(&mut sim, "iGEN0", 60_000), (1, 0));
    let (status, body) = prepare(&mut sim, &["iGEN0", "iGEN2"], 60_000);
    assert_eq!(status, 200, "{body}");
    // A second after its prepare call a prepared instance is normal; the
    // one nobody prepared still waits.
    for (id, at) in [("iGEN0", (0, 0)), ("iGEN1", (1, 0)), ("iGEN2", (0, 0))] {
        assert_eq!(progress(&mut sim, id, 61_000), at, "{id}");
    }
}

#[test]
fn the_service_rules_for_the_body() {
    let mut sim = Simulator::new(Scenario::default(), 0).unwrap();
    let ids: Vec<String> = (0..101).map(|n| format!("i{n}")).collect();
    let long = "x".repeat(33);
    for body in [
        json!({"user_id": USER, "instance_ids": ids}),
        json!({"user_id": USER, "instance_ids": [long]}),
        json!({"user_id": USER, "instance_ids": []}),
        json!({"user_id": USER, "instance_ids": [""]}),
        json!({"user_id": USER, "instance_ids": "iRJEVP9"}),
        json!({"user_id": USER, "instance_ids": [7]}),
        json!({"user_id": USER}),
        json!({"instance_ids": ["iRJEVP9"]}),
        json!({"user_id": "1".repeat(33), "instance_ids": ["iRJEVP9"]}),
        json!(["iRJEVP9"]),
    ] {
        let response = sim.handle(&post(BATCH_PREPARE_PATH, body.clone()), Duration::ZERO);
        assert_eq!(response.response.status(), 400, "{body}");
        let got: Value = serde_json::from_slice(response.response.body()).unwrap();
        assert_eq!(error_code(&got), "KOOPHONE.API.1000", "{body}");
    }
    // 100 ids of 32 characters are fine as far as the body goes (then unknown).
    let ids: Vec<String> = (0..100).map(|n| format!("{n:0>32}")).collect();
    let response = sim.handle(
        &post(
            BATCH_PREPARE_PATH,
            json!({"user_id": USER, "instance_ids": ids}),
        ),
        Duration::ZERO,
    );
    let got: Value = serde_json::from_slice(response.response.body()).unwrap();
    assert_eq!(error_code(&got), "KOOPHONE.API.4001");
}

#[test]
fn unknown_or_foreign_ids_refuse_the_whole_call() {
    let mut sim = Simulator::new(Scenario::default(), 0).unwrap();
    let (status, body) = prepare(&mut sim, &["iPREP001", "iNOSUCH"], 0);
    assert_eq!((status, error_code(&body)), (400, "KOOPHONE.API.4001"));
    let (status, body) = prepare(&mut sim, &["iPREP001", "iOTHER01"], 0);
    assert_eq!((status, error_code(&body)), (400, "KOOPHONE.API.1001"));
    // Nothing was prepared by the refused calls.
    assert_eq!(progress(&mut sim, "iPREP001", 10_000), (1, 0));
}

#[test]
fn the_route_is_post_only_and_logged() {
    let mut sim = Simulator::new(Scenario::default(), 0).unwrap();
    let get = Request::get(BATCH_PREPARE_PATH)
        .header("x-auth-token", "sim-token")
        .body(Vec::new())
        .unwrap();
    let response = sim.handle(&get, Duration::ZERO).response;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let no_token = Request::post(BATCH_PREPARE_PATH)
        .body(br#"{"user_id":"1008600000104285462","instance_ids":["iPREP001"]}"#.to_vec())
        .unwrap();
    assert_eq!(sim.handle(&no_token, Duration::ZERO).response.status(), 401);
    prepare(&mut sim, &["iPREP001"], 0);
    let routes: Vec<_> = sim.request_log().map(|entry| entry.route).collect();
    // A wrong method names no operation.
    assert_eq!(
        routes,
        [
            None,
            Some(Route::BatchPrepareInstances),
            Some(Route::BatchPrepareInstances)
        ]
    );
}

#[test]
fn faults_on_the_prepare_route() {
    let scenario = |fault: &str| {
        let mut doc: Value =
            serde_json::from_str(include_str!("../scenarios/default.json")).unwrap();
        doc["faults"] = serde_json::from_str(&format!(
            r#"[{{"route": "batch_prepare_instances", "max_count": 1, "fault": {fault}}}]"#
        ))
        .unwrap();
        Scenario::from_json(&doc.to_string()).unwrap()
    };
    // A 500 replaces the answer: nothing was prepared, ShowProgress is untouched.
    let mut sim = Simulator::new(scenario(r#"{"kind": "internal_error"}"#), 0).unwrap();
    assert_eq!(progress(&mut sim, "iPREP001", 0), (1, 0));
    let (status, body) = prepare(&mut sim, &["iPREP001"], 0);
    assert_eq!((status, error_code(&body)), (500, "KOOPHONE.API.9999"));
    assert_eq!(progress(&mut sim, "iPREP001", 5000), (1, 0));
    assert_eq!(prepare(&mut sim, &["iPREP001"], 5000).0, 200);
    assert_eq!(progress(&mut sim, "iPREP001", 8000), (0, 0));

    // A dropped connection after the work: prepared, though no answer came.
    let mut sim = Simulator::new(scenario(r#"{"kind": "drop_connection"}"#), 0).unwrap();
    let answer = sim.handle(
        &post(
            BATCH_PREPARE_PATH,
            json!({"user_id": USER, "instance_ids": ["iPREP001"]}),
        ),
        Duration::ZERO,
    );
    assert_eq!(
        answer.fault,
        Some(koophone_sim::ConnectionFault::DropConnection)
    );
    assert_eq!(progress(&mut sim, "iPREP001", 3000), (0, 0));

    // A throttled call was refused before any work and can be sent again.
    let mut sim = Simulator::new(scenario(r#"{"kind": "throttled"}"#), 0).unwrap();
    assert_eq!(prepare(&mut sim, &["iPREP001"], 0).0, 429);
    assert_eq!(prepare(&mut sim, &["iPREP001"], 0).0, 200);
}

#[test]
fn aksk_signed_prepare_calls_are_verified() {
    let mut sim = Simulator::new(Scenario::default(), 0).unwrap();
    let sign = |secret: &str| {
        let mut request = Request::post(BATCH_PREPARE_PATH)
            .header("content-type", "application/json")
            .header("host", "127.0.0.1")
            .header("x-sdk-date", "20260101T000010Z")
            .body(br#"{"user_id":"1008600000104285462","instance_ids":["iPREP001"]}"#.to_vec())
            .unwrap();
        let signed = "content-type;host;x-sdk-date";
        let canonical = canonical_request(&request, signed).unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(string_to_sign("20260101T000010Z", &canonical).as_bytes());
        let signature = hex::encode(mac.finalize().into_bytes());
        request.headers_mut().insert(
            "authorization",
            format!("SDK-HMAC-SHA256 Access=sim-ak, SignedHeaders={signed}, Signature={signature}")
                .parse()
                .unwrap(),
        );
        request
    };
    let wrong = sim
        .handle(&sign("not-the-sk"), Duration::from_secs(10))
        .response;
    assert_eq!(wrong.status(), 401);
    assert_eq!(progress(&mut sim, "iPREP001", 10_000), (1, 0));
    let right = sim
        .handle(&sign("sim-sk"), Duration::from_secs(10))
        .response;
    assert_eq!(
        right.status(),
        200,
        "{}",
        String::from_utf8_lossy(right.body())
    );
    assert_eq!(progress(&mut sim, "iPREP001", 13_000), (0, 0));
}
