//! The sans-IO core answers every documented request and error case of
//! API.md, table-driven, plus the simulator's own rules (404/405/413,
//! request ids, rate limit, faults, determinism).

use std::time::Duration;

use http::{Method, Request};
use koophone_sim::{ConnectionFault, Route, Scenario, SimResponse, Simulator};
use serde_json::{Value, json};

const TOKEN: &str = "sim-token";
const USER: &str = "1008600000104285462";
const OTHER_USER: &str = "1008600000104285463";
const PROGRESS: &str = "/v1/instances/prepare-progress";

fn progress_body(user: &str, instance: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"user_id": user, "instance_id": instance})).unwrap()
}

fn status_path(project: &str, instance: &str) -> String {
    format!("/v1/{project}/instances/{instance}/status")
}

/// What a case expects in the body.
enum Expect {
    /// Exactly this JSON; a `"request_id"` key must equal the X-Request-Id header.
    Json(Value),
}

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    token: Option<&'static str>,
    body: Vec<u8>,
    at_ms: u64,
    status: u16,
    expect: Expect,
}

fn case(
    name: &'static str,
    method: Method,
    path: impl Into<String>,
    body: Vec<u8>,
    at_ms: u64,
    status: u16,
    expect: Expect,
) -> Case {
    Case {
        name,
        method,
        path: path.into(),
        token: Some(TOKEN),
        body,
        at_ms,
        status,
        expect,
    }
}

fn ok_progress(status: i64, waiting: i64) -> Expect {
    Expect::Json(json!({
        "data": {"status": status, "waitingCount": waiting},
        "error_code": "0",
        "error_msg": "OK"
    }))
}

fn kp_error(code: &str, msg_start: &str) -> Expect {
    Expect::Json(json!({"error_code": code, "error_msg": msg_start}))
}

fn gateway(code: &str) -> Expect {
    Expect::Json(json!({"error_code": code, "error_msg": "*", "request_id": "*"}))
}

fn send(sim: &mut Simulator, c: &Case) -> SimResponse {
    let mut builder = Request::builder().method(c.method.clone()).uri(&c.path);
    if let Some(token) = c.token {
        builder = builder.header("x-auth-token", token);
    }
    let request = builder.body(c.body.clone()).unwrap();
    sim.handle(&request, Duration::from_millis(c.at_ms))
}

/// Compares JSON, where `"*"` in the expectation matches any string and
/// `error_msg` only has to start with the expected text.
fn json_matches(expected: &Value, got: &Value, request_id: &str) -> bool {
    match (expected, got) {
        (Value::Object(e), Value::Object(g)) => {
            e.len() == g.len()
                && e.iter().all(|(k, ev)| {
                    let Some(gv) = g.get(k) else { return false };
                    match (k.as_str(), ev, gv) {
                        ("request_id", Value::String(_), Value::String(g)) => g == request_id,
                        (_, Value::String(e), Value::String(_)) if e == "*" => true,
                        ("error_msg", Value::String(e), Value::String(g)) => {
                            g.starts_with(e.as_str())
                        }
                        _ => json_matches(ev, gv, request_id),
                    }
                })
        }
        _ => expected == got,
    }
}

fn table() -> Vec<Case> {
    use Method as M;
    let mut cases = vec![
        // ShowProgress: the documented example instance over time.
        case(
            "queuing 3",
            M::POST,
            PROGRESS,
            progress_body(USER, "iRJEVP9"),
            0,
            200,
            ok_progress(1, 3),
        ),
        case(
            "queuing 2",
            M::POST,
            PROGRESS,
            progress_body(USER, "iRJEVP9"),
            1500,
            200,
            ok_progress(1, 2),
        ),
        case(
            "queuing 1",
            M::POST,
            PROGRESS,
            progress_body(USER, "iRJEVP9"),
            2999,
            200,
            ok_progress(1, 1),
        ),
        case(
            "restoring",
            M::POST,
            PROGRESS,
            progress_body(USER, "iRJEVP9"),
            3000,
            200,
            ok_progress(2, 0),
        ),
        case(
            "normal (documented example response)",
            M::POST,
            PROGRESS,
            progress_body(USER, "iRJEVP9"),
            5000,
            200,
            ok_progress(0, 0),
        ),
        case(
            "failed",
            M::POST,
            PROGRESS,
            progress_body(USER, "iFAILED1"),
            3000,
            200,
            ok_progress(-1, 0),
        ),
        case(
            "backing up",
            M::POST,
            PROGRESS,
            progress_body(USER, "iBACKUP1"),
            1000,
            200,
            ok_progress(3, 0),
        ),
        case(
            "extra fields are ignored",
            M::POST,
            PROGRESS,
            br#"{"user_id":"1008600000104285462","instance_id":"iRJEVP9","x":[1]}"#.to_vec(),
            9000,
            200,
            ok_progress(0, 0),
        ),
        case(
            "32-character ids are allowed",
            M::POST,
            PROGRESS,
            progress_body(&"u".repeat(32), &"i".repeat(32)),
            0,
            400,
            kp_error("KOOPHONE.API.4001", "The instance does not exist"),
        ),
        // ShowProgress errors (400 KOOPHONE.API.*).
        case(
            "unknown instance",
            M::POST,
            PROGRESS,
            progress_body(USER, "nope"),
            0,
            400,
            kp_error("KOOPHONE.API.4001", "The instance does not exist"),
        ),
        case(
            "another user's instance",
            M::POST,
            PROGRESS,
            progress_body(OTHER_USER, "iRJEVP9"),
            0,
            400,
            kp_error("KOOPHONE.API.1001", "Insufficient instance permissions"),
        ),
        case(
            "unknown user, existing instance",
            M::POST,
            PROGRESS,
            progress_body("somebody", "iOTHER01"),
            0,
            400,
            kp_error("KOOPHONE.API.1001", "Insufficient"),
        ),
        case(
            "user_id too long",
            M::POST,
            PROGRESS,
            progress_body(&"u".repeat(33), "iRJEVP9"),
            0,
            400,
            kp_error(
                "KOOPHONE.API.1000",
                "The request parameter is incorrect: user_id is longer",
            ),
        ),
        case(
            "instance_id too long",
            M::POST,
            PROGRESS,
            progress_body(USER, &"i".repeat(33)),
            0,
            400,
            kp_error(
                "KOOPHONE.API.1000",
                "The request parameter is incorrect: instance_id is longer",
            ),
        ),
        case(
            "33 multi-byte characters",
            M::POST,
            PROGRESS,
            progress_body(USER, &"é".repeat(33)),
            0,
            400,
            kp_error("KOOPHONE.API.1000", "The request parameter is incorrect"),
        ),
        case(
            "user_id missing",
            M::POST,
            PROGRESS,
            br#"{"instance_id":"iRJEVP9"}"#.to_vec(),
            0,
            400,
            kp_error(
                "KOOPHONE.API.1000",
                "The request parameter is incorrect: user_id is missing",
            ),
        ),
        case(
            "instance_id missing",
            M::POST,
            PROGRESS,
            br#"{"user_id":"1008600000104285462"}"#.to_vec(),
            0,
            400,
            kp_error(
                "KOOPHONE.API.1000",
                "The request parameter is incorrect: instance_id is missing",
            ),
        ),
        case(
            "user_id null",
            M::POST,
            PROGRESS,
            br#"{"user_id":null,"instance_id":"iRJEVP9"}"#.to_vec(),
            0,
            400,
            kp_error(
                "KOOPHONE.API.1000",
                "The request parameter is incorrect: user_id is missing",
            ),
        ),
        case(
            "user_id empty",
            M::POST,
            PROGRESS,
            progress_body("", "iRJEVP9"),
            0,
            400,
            kp_error(
                "KOOPHONE.API.1000",
                "The request parameter is incorrect: user_id is empty",
            ),
        ),
        case(
            "user_id a number",
            M::POST,
            PROGRESS,
            br#"{"user_id":1008600000104285462,"instance_id":"iRJEVP9"}"#.to_vec(),
            0,
            400,
            kp_error(
                "KOOPHONE.API.1000",
                "The request parameter is incorrect: user_id must be a string",
            ),
        ),
        case(
            "body not JSON",
            M::POST,
            PROGRESS,
            b"user_id=1&instance_id=2".to_vec(),
            0,
            400,
            kp_error(
                "KOOPHONE.API.1000",
                "The request parameter is incorrect: the body is not valid JSON",
            ),
        ),
        case(
            "body empty",
            M::POST,
            PROGRESS,
            Vec::new(),
            0,
            400,
            kp_error("KOOPHONE.API.1000", "The request parameter is incorrect"),
        ),
        case(
            "body an array",
            M::POST,
            PROGRESS,
            b"[]".to_vec(),
            0,
            400,
            kp_error(
                "KOOPHONE.API.1000",
                "The request parameter is incorrect: the body is not a JSON object",
            ),
        ),
        case(
            "body not UTF-8",
            M::POST,
            PROGRESS,
            b"{\"user_id\":\"\xff\"}".to_vec(),
            0,
            400,
            kp_error("KOOPHONE.API.1000", "The request parameter is incorrect"),
        ),
        // ShowInstanceStatus.
        case(
            "documented example: stopped",
            M::GET,
            status_path("sim-project", "sim-instance"),
            Vec::new(),
            0,
            200,
            Expect::Json(json!({"state": "stopped"})),
        ),
        case(
            "pending with operation_state",
            M::GET,
            status_path("sim-project", "sim-starting"),
            Vec::new(),
            0,
            200,
            Expect::Json(json!({"state": "pending", "operation_state": "install-processing"})),
        ),
        case(
            "pending -> running",
            M::GET,
            status_path("sim-project", "sim-starting"),
            Vec::new(),
            3000,
            200,
            Expect::Json(json!({"state": "running", "operation_state": "install-succeed"})),
        ),
        case(
            "error carries an error object",
            M::GET,
            status_path("sim-project", "sim-broken"),
            Vec::new(),
            2000,
            200,
            Expect::Json(json!({
                "state": "error",
                "operation_state": "install-failed",
                "error": {"error_code": "CLOUDDC.5001", "error_msg": "the instance failed to be created", "error_type": "create_instance_error"}
            })),
        ),
        case(
            "shutting-down",
            M::GET,
            status_path("sim-project", "sim-deleting"),
            Vec::new(),
            0,
            200,
            Expect::Json(json!({"state": "shutting-down"})),
        ),
        case(
            "terminated",
            M::GET,
            status_path("sim-project", "sim-deleting"),
            Vec::new(),
            2000,
            200,
            Expect::Json(json!({"state": "terminated"})),
        ),
        case(
            "percent-encoded segments are decoded",
            M::GET,
            "/v1/sim%2Dproject/instances/sim%2Dinstance/status",
            Vec::new(),
            0,
            200,
            Expect::Json(json!({"state": "stopped"})),
        ),
        case(
            "query strings are ignored",
            M::GET,
            format!("{}?x=1", status_path("sim-project", "sim-instance")),
            Vec::new(),
            0,
            200,
            Expect::Json(json!({"state": "stopped"})),
        ),
        case(
            "unknown CloudDC instance",
            M::GET,
            status_path("sim-project", "nope"),
            Vec::new(),
            0,
            404,
            kp_error("CLOUDDC.4004", "The instance does not exist"),
        ),
        case(
            "unknown project",
            M::GET,
            status_path("other-project", "sim-instance"),
            Vec::new(),
            0,
            404,
            kp_error("CLOUDDC.4004", "The instance does not exist"),
        ),
        case(
            "encoded slash cannot escape a segment",
            M::GET,
            "/v1/sim-project/instances/..%2Fsim-instance/status",
            Vec::new(),
            0,
            404,
            kp_error("CLOUDDC.4004", ""),
        ),
        case(
            "undecodable segment",
            M::GET,
            "/v1/sim-project/instances/%FF/status",
            Vec::new(),
            0,
            404,
            kp_error("CLOUDDC.4004", ""),
        ),
        // Routing.
        case(
            "unknown path",
            M::GET,
            "/v2/whatever",
            Vec::new(),
            0,
            404,
            gateway("APIGW.0101"),
        ),
        case(
            "root",
            M::GET,
            "/",
            Vec::new(),
            0,
            404,
            gateway("APIGW.0101"),
        ),
        case(
            "trailing slash",
            M::POST,
            format!("{PROGRESS}/"),
            progress_body(USER, "iRJEVP9"),
            0,
            404,
            gateway("APIGW.0101"),
        ),
        case(
            "empty project segment",
            M::GET,
            "/v1//instances/x/status",
            Vec::new(),
            0,
            404,
            gateway("APIGW.0101"),
        ),
        case(
            "extra segment",
            M::GET,
            "/v1/p/instances/x/status/more",
            Vec::new(),
            0,
            404,
            gateway("APIGW.0101"),
        ),
        case(
            "GET on ShowProgress",
            M::GET,
            PROGRESS,
            Vec::new(),
            0,
            405,
            gateway("APIGW.0101"),
        ),
        case(
            "POST on ShowInstanceStatus",
            M::POST,
            status_path("sim-project", "sim-instance"),
            Vec::new(),
            0,
            405,
            gateway("APIGW.0101"),
        ),
        case(
            "DELETE on ShowInstanceStatus",
            M::DELETE,
            status_path("sim-project", "sim-instance"),
            Vec::new(),
            0,
            405,
            gateway("APIGW.0101"),
        ),
        case(
            "413 for a body over the limit",
            M::POST,
            PROGRESS,
            vec![b' '; 65537],
            0,
            413,
            gateway("APIGW.0201"),
        ),
    ];
    // Authentication: both routes, missing and wrong tokens.
    for (name, token) in [
        ("missing token", None),
        ("wrong token", Some("not-the-token")),
    ] {
        for (method, path, body) in [
            (M::POST, PROGRESS.to_owned(), progress_body(USER, "iRJEVP9")),
            (
                M::GET,
                status_path("sim-project", "sim-instance"),
                Vec::new(),
            ),
        ] {
            cases.push(Case {
                token,
                ..case(name, method, path, body, 0, 401, gateway("APIGW.0301"))
            });
        }
    }
    cases
}

#[test]
fn every_documented_case() {
    let cases = table();
    let mut sim = Simulator::new(Scenario::default(), 0).unwrap();
    let mut ids = std::collections::HashSet::new();
    for c in &cases {
        let SimResponse { response, fault } = send(&mut sim, c);
        let name = c.name;
        assert_eq!(fault, None, "{name}");
        assert_eq!(
            response.status().as_u16(),
            c.status,
            "{name}: {:?}",
            String::from_utf8_lossy(response.body())
        );
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{name}: no X-Request-Id"))
            .to_owned();
        assert_eq!(request_id.len(), 32, "{name}");
        assert!(ids.insert(request_id.clone()), "{name}: request id reused");
        let len: usize = response.headers()["content-length"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(len, response.body().len(), "{name}: content-length");
        match &c.expect {
            Expect::Json(expected) => {
                assert!(
                    response.headers()["content-type"]
                        .to_str()
                        .unwrap()
                        .starts_with("application/json"),
                    "{name}"
                );
                let got: Value = serde_json::from_slice(response.body())
                    .unwrap_or_else(|e| panic!("{name}: body is not JSON: {e}"));
                assert!(
                    json_matches(expected, &got, &request_id),
                    "{name}: got {got}, expected {expected}"
                );
            }
        }
        if c.status == 405 {
            let allow = response.headers()["allow"].to_str().unwrap();
            assert!(allow == "POST" || allow == "GET", "{name}: {allow}");
        }
    }
    // Bodies match the documented wire form byte for byte where API.md gives one.
    let c = &cases[4];
    let r = send(&mut sim, c);
    assert_eq!(
        r.response.body().as_slice(),
        br#"{"data":{"status":0,"waitingCount":0},"error_code":"0","error_msg":"OK"}"#
    );
    assert_eq!(sim.requests_handled(), cases.len() as u64 + 1);
}

#[test]
fn log_records_every_request_and_never_leaks_tokens_in_debug() {
    let mut sim = Simulator::new(Scenario::default(), 0).unwrap();
    for c in table().iter().take(5) {
        send(&mut sim, c);
    }
    let log: Vec<_> = sim.request_log().collect();
    assert_eq!(log.len(), 5);
    assert_eq!(log[0].seq, 1);
    assert_eq!(log[0].method, Method::POST);
    assert_eq!(log[0].path(), PROGRESS);
    assert_eq!(log[0].route, Some(Route::ShowProgress));
    assert_eq!(log[0].header("x-auth-token"), Some(TOKEN));
    assert_eq!(log[0].body, progress_body(USER, "iRJEVP9"));
    assert_eq!(log[1].at, Duration::from_millis(1500));
    let debug = format!("{:?}", log[0]);
    assert!(!debug.contains(TOKEN), "{debug}");
    assert!(debug.contains("x-auth-token"), "{debug}");
    sim.clear_request_log();
    assert_eq!(sim.request_log().len(), 0);
}

#[test]
fn request_log_is_bounded() {
    let scenario = Scenario {
        request_log_capacity: 3,
        ..Scenario::default()
    };
    let mut sim = Simulator::new(scenario, 0).unwrap();
    let req = Request::get("/nowhere").body(Vec::new()).unwrap();
    for i in 0..10 {
        sim.handle(&req, Duration::from_millis(i));
    }
    let seqs: Vec<u64> = sim.request_log().map(|e| e.seq).collect();
    assert_eq!(seqs, [8, 9, 10]);
}

fn scenario_from(json: &str) -> Scenario {
    let mut base: Value = serde_json::from_str(include_str!("../scenarios/default.json")).unwrap();
    let extra: Value = serde_json::from_str(json).unwrap();
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    Scenario::from_json(&base.to_string()).unwrap()
}

fn get_status(sim: &mut Simulator, token: &str, at_ms: u64) -> SimResponse {
    let req = Request::get(status_path("sim-project", "sim-instance"))
        .header("X-Auth-Token", token)
        .body(Vec::new())
        .unwrap();
    sim.handle(&req, Duration::from_millis(at_ms))
}

#[test]
fn expired_token_is_refused_with_apigw_0307() {
    let scenario =
        scenario_from(r#"{"tokens": [{"token": "short-lived", "expires_at_ms": 1000}]}"#);
    let mut sim = Simulator::new(scenario, 0).unwrap();
    assert_eq!(
        get_status(&mut sim, "short-lived", 999).response.status(),
        200
    );
    let r = get_status(&mut sim, "short-lived", 1000).response;
    assert_eq!(r.status(), 401);
    let body: Value = serde_json::from_slice(r.body()).unwrap();
    assert_eq!(body["error_code"], "APIGW.0307");
    assert!(!String::from_utf8_lossy(r.body()).contains("short-lived"));
}

#[test]
fn rate_limit_answers_429_plain_text_with_retry_after_per_token() {
    let scenario = scenario_from(
        r#"{"tokens": ["a-token", "b-token"], "rate_limit": {"burst": 2, "refill_every_ms": 2500}}"#,
    );
    let mut sim = Simulator::new(scenario, 0).unwrap();
    assert_eq!(get_status(&mut sim, "a-token", 0).response.status(), 200);
    assert_eq!(get_status(&mut sim, "a-token", 10).response.status(), 200);
    let r = get_status(&mut sim, "a-token", 20).response;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "3");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(
        serde_json::from_slice::<Value>(r.body()).is_err(),
        "429 body is a plain string"
    );
    assert!(r.headers().contains_key("x-request-id"));
    assert_eq!(
        get_status(&mut sim, "b-token", 20).response.status(),
        200,
        "per token"
    );
    assert_eq!(
        get_status(&mut sim, "a-token", 2500).response.status(),
        200,
        "refilled"
    );
    // Refused tokens are not rate limited: they never get that far.
    assert_eq!(get_status(&mut sim, "c-token", 30).response.status(), 401);
}

fn faulty(kind: &str) -> Simulator {
    let scenario = scenario_from(&format!(
        r#"{{"faults": [{{"route": "show_progress", "fault": {kind}}}]}}"#
    ));
    Simulator::new(scenario, 42).unwrap()
}

fn post_progress(sim: &mut Simulator, at_ms: u64) -> SimResponse {
    let req = Request::post(PROGRESS)
        .header("x-auth-token", TOKEN)
        .body(progress_body(USER, "iRJEVP9"))
        .unwrap();
    sim.handle(&req, Duration::from_millis(at_ms))
}

#[test]
fn each_fault_kind_does_what_it_says() {
    let normal = post_progress(&mut Simulator::new(Scenario::default(), 0).unwrap(), 0).response;

    let r = post_progress(&mut faulty(r#"{"kind": "internal_error"}"#), 0);
    assert_eq!(r.response.status(), 500);
    let body: Value = serde_json::from_slice(r.response.body()).unwrap();
    assert_eq!(body["error_code"], "KOOPHONE.API.9999");

    let r = post_progress(&mut faulty(r#"{"kind": "ok_with_error"}"#), 0);
    assert_eq!(r.response.status(), 200);
    let body: Value = serde_json::from_slice(r.response.body()).unwrap();
    assert_eq!(body["error_code"], "KOOPHONE.API.9999");
    assert!(body.get("data").is_none());

    for (kind, status) in [
        (r#"{"kind": "bad_gateway"}"#, 502),
        (
            r#"{"kind": "service_unavailable", "retry_after_s": 4}"#,
            503,
        ),
    ] {
        let r = post_progress(&mut faulty(kind), 0).response;
        assert_eq!(r.status(), status);
        assert_eq!(r.headers()["content-type"], "text/html");
        assert!(String::from_utf8_lossy(r.body()).starts_with("<html>"));
        if status == 503 {
            assert_eq!(r.headers()["retry-after"], "4");
        }
    }

    let r = post_progress(
        &mut faulty(r#"{"kind": "throttled", "retry_after_s": 9}"#),
        0,
    )
    .response;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "9");

    let r = post_progress(&mut faulty(r#"{"kind": "slow", "delay_ms": 1234}"#), 0);
    assert_eq!(
        r.fault,
        Some(ConnectionFault::Delay(Duration::from_millis(1234)))
    );
    assert_eq!(r.response.body(), normal.body());

    let mut sim = faulty(r#"{"kind": "malformed_json"}"#);
    for i in 0..50 {
        let r = post_progress(&mut sim, i).response;
        assert_eq!(r.status(), 200);
        let parsed: Result<Value, _> = serde_json::from_slice(r.body());
        let acceptable = parsed
            .as_ref()
            .is_ok_and(|v| v["data"]["status"].as_i64().is_none());
        assert!(
            parsed.is_err() || acceptable,
            "{:?}",
            String::from_utf8_lossy(r.body())
        );
    }

    let mut sim = faulty(r#"{"kind": "truncated_json"}"#);
    for i in 0..50 {
        let r = post_progress(&mut sim, i).response;
        assert!(r.body().len() < normal.body().len());
        assert!(normal.body().starts_with(r.body()));
        assert!(serde_json::from_slice::<Value>(r.body()).is_err());
        assert_eq!(
            r.headers()["content-length"],
            r.body().len().to_string().as_str()
        );
    }

    let r = post_progress(&mut faulty(r#"{"kind": "truncated_body"}"#), 0);
    match r.fault {
        Some(ConnectionFault::TruncateBody { keep }) => assert!(keep < r.response.body().len()),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        r.response.headers()["content-length"],
        normal.body().len().to_string().as_str()
    );

    let r = post_progress(&mut faulty(r#"{"kind": "drop_connection"}"#), 0);
    assert_eq!(r.fault, Some(ConnectionFault::DropConnection));

    // Faults only hit their route.
    let mut sim = faulty(r#"{"kind": "bad_gateway"}"#);
    assert_eq!(get_status(&mut sim, TOKEN, 0).response.status(), 200);
    assert_eq!(sim.request_log().last().unwrap().fault, None);
    post_progress(&mut sim, 0);
    assert_eq!(sim.request_log().last().unwrap().fault, Some("bad_gateway"));
}

#[test]
fn clouddc_internal_error_uses_its_own_shape() {
    let scenario = scenario_from(
        r#"{"faults": [{"route": "show_instance_status", "fault": {"kind": "internal_error"}}]}"#,
    );
    let mut sim = Simulator::new(scenario, 1).unwrap();
    let r = get_status(&mut sim, TOKEN, 0).response;
    assert_eq!(r.status(), 500);
    let body: Value = serde_json::from_slice(r.body()).unwrap();
    assert!(body["error_code"].is_string() && body["error_msg"].is_string());
}

/// Statuses and fault decisions of a mixed run, as a fingerprint.
fn fingerprint(seed: u64) -> Vec<(u16, Option<&'static str>, String)> {
    let scenario = scenario_from(
        r#"{"faults": [
            {"probability": 0.2, "burst": 2, "fault": {"kind": "internal_error"}},
            {"probability": 0.1, "fault": {"kind": "truncated_json"}},
            {"probability": 0.1, "fault": {"kind": "malformed_json"}},
            {"probability": 0.1, "fault": {"kind": "drop_connection"}}
        ]}"#,
    );
    let mut sim = Simulator::new(scenario, seed).unwrap();
    (0..300)
        .map(|i| {
            let r = if i % 2 == 0 {
                post_progress(&mut sim, i * 17)
            } else {
                get_status(&mut sim, TOKEN, i * 17)
            };
            let log = sim.request_log().last().unwrap().clone();
            let body = String::from_utf8_lossy(r.response.body()).into_owned();
            (
                r.response.status().as_u16(),
                log.fault,
                format!("{}|{body}", log.request_id),
            )
        })
        .collect()
}

#[test]
fn same_seed_same_run() {
    let a = fingerprint(99);
    assert_eq!(a, fingerprint(99));
    assert_ne!(a, fingerprint(100));
    let faults = a.iter().filter(|(_, f, _)| f.is_some()).count();
    assert!(
        faults > 50 && faults < 250,
        "{faults} faults in 300 requests"
    );
}
