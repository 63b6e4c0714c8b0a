//! Where the shared conformance vectors (`tests/vectors/requests.json`,
//! format in `tests/vectors/README.md`) overlap with the service's rules,
//! the simulator must agree with them: every request the client is pinned
//! to build is one the service accepts and resolves to the same ids, and
//! every ShowProgress input the client refuses for length or emptiness the
//! service refuses too.

use std::time::Duration;

use http::Request;
use koophone_sim::{
    CloudDcInstance, CloudDcPhase, CloudDcProject, CloudDcSpec, KooPhoneInstance, KooPhonePhase,
    KooPhoneSpec, KooPhoneStatus, KooPhoneUser, Scenario, Simulator, TokenSpec,
};
use serde_json::Value;

const REQUESTS: &str = include_str!("../../../tests/vectors/requests.json");

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {key} is not a string: {v}"))
}

/// A world holding exactly the case's instance, ready at once.
fn scenario_for(case: &Value, token: &str) -> Scenario {
    let params = &case["params"];
    let mut scenario = Scenario {
        tokens: vec![TokenSpec::new(token)],
        ..Scenario::empty()
    };
    let ready = |instance_id: &str| KooPhoneInstance {
        instance_id: instance_id.to_owned(),
        phases: vec![KooPhonePhase {
            status: KooPhoneStatus::Normal,
            for_ms: None,
            waiting_count: None,
            waiting_count_from: None,
        }],
        prepare: None,
    };
    match text(case, "operation") {
        "ShowProgress" => {
            scenario.koophone = KooPhoneSpec {
                users: vec![KooPhoneUser {
                    user_id: text(params, "user_id").to_owned(),
                    instances: vec![ready(text(params, "instance_id"))],
                }],
            }
        }
        "BatchPrepareInstances" => {
            let mut ids: Vec<&str> = Vec::new();
            for id in params["instance_ids"].as_array().expect("instance_ids") {
                let id = id.as_str().expect("ids are strings");
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            scenario.koophone = KooPhoneSpec {
                users: vec![KooPhoneUser {
                    user_id: text(params, "user_id").to_owned(),
                    instances: ids.into_iter().map(ready).collect(),
                }],
            }
        }
        "ShowInstanceStatus" => {
            scenario.clouddc = CloudDcSpec {
                projects: vec![CloudDcProject {
                    project_id: text(params, "project_id").to_owned(),
                    instances: vec![CloudDcInstance {
                        instance_id: text(params, "instance_id").to_owned(),
                        phases: vec![CloudDcPhase {
                            state: "stopped".to_owned(),
                            for_ms: None,
                            error: None,
                            operation_state: None,
                        }],
                    }],
                }],
            }
        }
        other => panic!("unknown operation {other}"),
    }
    scenario
}

#[test]
fn requests_the_client_builds_are_accepted_and_name_the_same_instance() {
    let doc: Value = serde_json::from_str(REQUESTS).expect("requests.json is JSON");
    let mut checked = 0;
    for case in doc["cases"].as_array().expect("cases") {
        let Some(expect) = case.get("expect") else {
            continue;
        };
        let name = text(case, "name");
        let path = text(expect, "path");
        // The simulator serves at the root; endpoint path prefixes belong to
        // gateways in front of the service.
        if !path.starts_with("/v1/") {
            continue;
        }
        let headers = expect["headers"].as_array().expect("headers");
        let token = headers
            .iter()
            .find(|h| h[0] == "x-auth-token")
            .map(|h| text_at(h, 1))
            .expect("a token header");
        let mut sim = Simulator::new(scenario_for(case, token), 0)
            .unwrap_or_else(|e| panic!("{name}: scenario: {e}"));
        let mut request = Request::builder().method(text(expect, "method")).uri(path);
        for h in headers {
            request = request.header(text_at(h, 0), text_at(h, 1));
        }
        let body = expect["body"]
            .as_str()
            .unwrap_or_default()
            .as_bytes()
            .to_vec();
        let request = request.body(body).expect("valid request");
        let answer = sim.handle(&request, Duration::ZERO);
        let response = answer.response;
        assert_eq!(
            response.status(),
            200,
            "{name}: {}",
            String::from_utf8_lossy(response.body())
        );
        let got: Value = serde_json::from_slice(response.body()).expect("JSON");
        match text(case, "operation") {
            "ShowProgress" => assert_eq!(got["data"]["status"], 0, "{name}"),
            "BatchPrepareInstances" => {
                // Every id the client sent is answered ready, in the order sent.
                let sent: Value = serde_json::from_str(text(expect, "body")).unwrap();
                let answered: Vec<&Value> = got["data"]["status_list"]
                    .as_array()
                    .expect("status_list")
                    .iter()
                    .map(|e| {
                        assert_eq!(e["status"], 0, "{name}");
                        &e["instance_id"]
                    })
                    .collect();
                let sent: Vec<&Value> = sent["instance_ids"].as_array().unwrap().iter().collect();
                assert_eq!(answered, sent, "{name}");
            }
            _ => assert_eq!(got["state"], "stopped", "{name}"),
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} request vectors overlap");
}

fn text_at(pair: &Value, i: usize) -> &str {
    pair[i]
        .as_str()
        .unwrap_or_else(|| panic!("header pair {pair} is not two strings"))
}

/// Sends every refusal vector of `operation` that `overlaps` (by the
/// refused field and the reason) to `path` and checks the service refuses
/// it with KOOPHONE.API.1000; returns how many it sent.
fn refused_like_the_client(
    operation: &str,
    path: &str,
    overlaps: impl Fn(&str, &str) -> bool,
) -> usize {
    let doc: Value = serde_json::from_str(REQUESTS).expect("requests.json is JSON");
    let mut sim = Simulator::new(Scenario::default(), 0).unwrap();
    let mut checked = 0;
    for case in doc["cases"].as_array().expect("cases") {
        let Some(invalid) = case.get("expect_invalid") else {
            continue;
        };
        if text(case, "operation") != operation
            || !overlaps(text(invalid, "field"), text(invalid, "reason"))
        {
            continue;
        }
        let name = text(case, "name");
        let body = serde_json::to_vec(&case["params"]).unwrap();
        let request = Request::post(path)
            .header("x-auth-token", "sim-token")
            .body(body)
            .unwrap();
        let response = sim.handle(&request, Duration::ZERO).response;
        assert_eq!(response.status(), 400, "{name}");
        let got: Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(got["error_code"], "KOOPHONE.API.1000", "{name}");
        checked += 1;
    }
    checked
}

/// What the client refuses for length, emptiness or count in a
/// BatchPrepareInstances call, the service refuses with KOOPHONE.API.1000.
#[test]
fn prepare_inputs_the_client_refuses_the_service_refuses_too() {
    let checked = refused_like_the_client(
        "BatchPrepareInstances",
        koophone_sim::BATCH_PREPARE_PATH,
        |_, reason| matches!(reason, "empty" | "too_long" | "too_many"),
    );
    assert!(checked >= 5, "only {checked} refusal vectors overlap");
}

#[test]
fn progress_ids_the_client_refuses_for_length_the_service_refuses_too() {
    let checked = refused_like_the_client(
        "ShowProgress",
        "/v1/instances/prepare-progress",
        |field, reason| {
            matches!(field, "user_id" | "instance_id") && matches!(reason, "empty" | "too_long")
        },
    );
    assert!(checked >= 4, "only {checked} refusal vectors overlap");
}
