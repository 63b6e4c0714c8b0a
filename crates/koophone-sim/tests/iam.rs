//! The simulated IAM endpoint: tokens issued with the configured lifetime,
//! accepted by the services until they expire on the virtual clock, and
//! logins refused in IAM's own error shape.

use std::time::{Duration, Instant, UNIX_EPOCH};

use http::Request;
use koophone_sim::{IAM_TOKENS_PATH, Scenario, Sim, Simulator};
use serde_json::{Value, json};

const STATUS_PATH: &str = "/v1/sim-project/instances/sim-instance/status";

fn login(user: &str, password: &str, domain: &str, project: Value) -> Vec<u8> {
    json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "password": password, "domain": {"name": domain}}}},
        "scope": {"project": project}}})
    .to_string()
    .into_bytes()
}

fn default_login() -> Vec<u8> {
    login(
        "sim-user",
        "sim-password",
        "sim-domain",
        json!({"name": "sim-project"}),
    )
}

fn post(body: Vec<u8>) -> Request<Vec<u8>> {
    Request::post(IAM_TOKENS_PATH)
        .header("content-type", "application/json;charset=UTF-8")
        .body(body)
        .unwrap()
}

fn status_with(token: &str) -> Request<Vec<u8>> {
    Request::get(STATUS_PATH)
        .header("x-auth-token", token)
        .body(Vec::new())
        .unwrap()
}

fn json_body(response: &http::Response<Vec<u8>>) -> Value {
    serde_json::from_slice(response.body()).expect("a JSON body")
}

/// A simulator whose start is 2026-03-15T10:00:00Z and whose tokens live a
/// minute.
fn short_lived() -> Simulator {
    let mut scenario = Scenario {
        wall_clock_origin: Some(UNIX_EPOCH + Duration::from_secs(1_773_568_800)),
        ..Scenario::default()
    };
    scenario.iam.token_lifetime_ms = 60_000;
    let sim = Simulator::new(scenario, 3).unwrap();
    // The same, written as a scenario file would.
    let from_json = Scenario::from_json(
        r#"{"wall_clock_origin": "2026-03-15T10:00:00Z", "iam": {"token_lifetime_ms": 60000}}"#,
    )
    .unwrap();
    assert_eq!(
        (&from_json.wall_clock_origin, &from_json.iam),
        (&sim.scenario().wall_clock_origin, &sim.scenario().iam)
    );
    sim
}

#[test]
fn issues_a_token_with_the_configured_lifetime() {
    let mut sim = short_lived();
    let answer = sim.handle(&post(default_login()), Duration::from_millis(10_250));
    let response = answer.response;
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.headers()["content-type"],
        "application/json;charset=UTF-8"
    );
    assert_eq!(response.headers()["x-request-id"].len(), 32);
    let token = response.headers()["x-subject-token"].to_str().unwrap();
    assert!(token.starts_with("MII") && token.len() > 60, "{token}");
    assert_eq!(
        json_body(&response),
        json!({"token": {
            "expires_at": "2026-03-15T10:01:10.250000Z",
            "issued_at": "2026-03-15T10:00:10.250000Z",
            "methods": ["password"],
            "project": {"id": "sim-project", "name": "sim-project", "domain": {"name": "sim-domain"}},
            "user": {"name": "sim-user", "domain": {"name": "sim-domain"}}
        }})
    );
    // The token is not in the body.
    assert!(!String::from_utf8_lossy(response.body()).contains(token));
}

#[test]
fn issued_tokens_work_until_they_expire_on_the_virtual_clock() {
    let mut sim = short_lived();
    let issued = sim.handle(&post(default_login()), Duration::from_secs(10));
    let token = issued.response.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_owned();
    for at in [10_000, 40_000, 69_999] {
        let answer = sim.handle(&status_with(&token), Duration::from_millis(at));
        assert_eq!(answer.response.status(), 200, "at {at} ms");
        assert_eq!(json_body(&answer.response)["state"], "stopped");
    }
    for at in [70_000, 3_600_000] {
        let answer = sim.handle(&status_with(&token), Duration::from_millis(at));
        assert_eq!(answer.response.status(), 401, "at {at} ms");
        let body = json_body(&answer.response);
        assert_eq!(body["error_code"], "APIGW.0307");
        assert_eq!(body["error_msg"], "The token must be updated.");
    }
    // ShowProgress takes it too, and a new login gives a new, working token.
    let renewed = sim.handle(&post(default_login()), Duration::from_secs(80));
    let new_token = renewed.response.headers()["x-subject-token"]
        .to_str()
        .unwrap();
    assert_ne!(new_token, token);
    let progress = Request::post("/v1/instances/prepare-progress")
        .header("X-Auth-Token", new_token)
        .body(br#"{"user_id":"1008600000104285462","instance_id":"iRJEVP9"}"#.to_vec())
        .unwrap();
    assert_eq!(
        sim.handle(&progress, Duration::from_secs(81))
            .response
            .status(),
        200
    );
}

#[test]
fn default_lifetime_is_a_day_from_the_default_origin() {
    let mut sim = Simulator::new(Scenario::default(), 0).unwrap();
    let response = sim.handle(&post(default_login()), Duration::ZERO).response;
    assert_eq!(response.status(), 201);
    let body = json_body(&response);
    assert_eq!(body["token"]["issued_at"], "2026-01-01T00:00:00.000000Z");
    assert_eq!(body["token"]["expires_at"], "2026-01-02T00:00:00.000000Z");
    let token = response.headers()["x-subject-token"].to_str().unwrap();
    let day = Duration::from_secs(24 * 3600);
    let before = sim.handle(&status_with(token), day - Duration::from_millis(1));
    assert_eq!(before.response.status(), 200);
    assert_eq!(sim.handle(&status_with(token), day).response.status(), 401);
}

#[test]
fn scope_by_project_id_and_tokens_follow_the_seed() {
    let body = || {
        login(
            "sim-user",
            "sim-password",
            "sim-domain",
            json!({"id": "sim-project"}),
        )
    };
    let token = |seed| {
        let mut sim = Simulator::new(Scenario::default(), seed).unwrap();
        let r = sim.handle(&post(body()), Duration::ZERO).response;
        assert_eq!(r.status(), 201);
        r.headers()["x-subject-token"].to_str().unwrap().to_owned()
    };
    assert_eq!(token(1), token(1));
    assert_ne!(token(1), token(2));
}

fn assert_iam_error(response: &http::Response<Vec<u8>>, status: u16, message: &str) {
    assert_eq!(response.status(), status);
    let title = if status == 401 {
        "Unauthorized"
    } else {
        "Bad Request"
    };
    assert_eq!(
        json_body(response),
        json!({"error": {"code": status, "message": message, "title": title}})
    );
    assert!(response.headers().get("x-subject-token").is_none());
}

#[test]
fn wrong_passwords_and_unknown_users_get_iam_401() {
    let mut sim = short_lived();
    for (user, password, domain) in [
        ("sim-user", "not-the-password", "sim-domain"),
        ("sim-user", "SIM-PASSWORD", "sim-domain"),
        ("nobody", "sim-password", "sim-domain"),
        ("sim-user", "sim-password", "another-domain"),
    ] {
        let body = login(user, password, domain, json!({"name": "sim-project"}));
        let response = sim.handle(&post(body), Duration::ZERO).response;
        assert_iam_error(&response, 401, "The username or password is wrong.");
        assert!(!String::from_utf8_lossy(response.body()).contains(password));
    }
    let body = login(
        "sim-user",
        "sim-password",
        "sim-domain",
        json!({"name": "cn-north-4"}),
    );
    let response = sim.handle(&post(body), Duration::ZERO).response;
    assert_iam_error(
        &response,
        401,
        "The project in the scope does not exist in the user's domain.",
    );
}

#[test]
fn malformed_bodies_get_iam_400_without_echoing_the_password() {
    let mut sim = short_lived();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not json".to_vec(), "The request body is not valid JSON."),
        (b"".to_vec(), "The request body is not valid JSON."),
        (
            br#"{"auth":{}}"#.to_vec(),
            "The request body is invalid: `auth.identity` is missing.",
        ),
        (
            b"{}".to_vec(),
            "The request body is invalid: `auth` is missing.",
        ),
        (
            b"[]".to_vec(),
            "The request body is invalid: `.` is of the wrong type.",
        ),
        (
            br#"{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"sim-user","password":12345678,"domain":{"name":"sim-domain"}}}},"scope":{"project":{"name":"sim-project"}}}}"#.to_vec(),
            "The request body is invalid: `auth.identity.password.user.password` is of the wrong type.",
        ),
        (
            br#"{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"sim-user","password":"sim-password"}}},"scope":{"project":{"name":"sim-project"}}}}"#.to_vec(),
            "The request body is invalid: `auth.identity.password.user.domain` is missing.",
        ),
        (
            br#"{"auth":{"identity":{"methods":["token"],"token":{"id":"x"}},"scope":{"project":{"name":"sim-project"}}}}"#.to_vec(),
            "The simulator issues tokens for the password method only.",
        ),
        (
            br#"{"auth":{"identity":{"methods":["password"]},"scope":{"project":{"name":"sim-project"}}}}"#.to_vec(),
            "The request body is invalid: `auth.identity.password` is missing.",
        ),
        (
            login("sim-user", "sim-password", "sim-domain", json!(null)),
            "The simulator issues project-scoped tokens only: give auth.scope.project.",
        ),
        (
            login("sim-user", "sim-password", "sim-domain", json!({})),
            "The request body is invalid: give auth.scope.project.id or .name.",
        ),
    ];
    for (body, message) in cases {
        let response = sim.handle(&post(body), Duration::ZERO).response;
        assert_iam_error(&response, 400, message);
        assert!(!String::from_utf8_lossy(response.body()).contains("12345678"));
    }
}

#[test]
fn iam_path_takes_post_only() {
    let mut sim = short_lived();
    let get = Request::get(IAM_TOKENS_PATH).body(Vec::new()).unwrap();
    let response = sim.handle(&get, Duration::ZERO).response;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
}

#[test]
fn faults_and_rate_limits_leave_iam_alone() {
    let scenario = Scenario::from_json(
        r#"{"rate_limit": {"burst": 1, "refill_every_ms": 60000},
            "faults": [{"fault": {"kind": "internal_error"}}]}"#,
    )
    .unwrap();
    let mut sim = Simulator::new(scenario, 1).unwrap();
    for _ in 0..3 {
        let response = sim.handle(&post(default_login()), Duration::ZERO).response;
        assert_eq!(response.status(), 201);
    }
    let status = sim.handle(&status_with("sim-token"), Duration::ZERO);
    assert_eq!(status.response.status(), 500, "the service route is faulty");
}

#[test]
fn iam_over_loopback_with_the_real_clock() {
    let sim = Sim::builder().start().unwrap();
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(10)))
            .build(),
    );
    let before = std::time::SystemTime::now();
    let mut r = agent
        .post(format!("{}{IAM_TOKENS_PATH}", sim.base_url()))
        .header("content-type", "application/json;charset=UTF-8")
        .send(default_login())
        .unwrap();
    assert_eq!(r.status(), 201);
    let token = r.headers()["x-subject-token"].to_str().unwrap().to_owned();
    let body: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    // Without an origin, the server's wall clock is the real one: the token
    // expires a day from now.
    let expires = body["token"]["expires_at"].as_str().unwrap();
    let expected = before + Duration::from_secs(24 * 3600);
    let parsed =
        time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339)
            .unwrap();
    let expected = time::OffsetDateTime::from(expected);
    assert!(
        (parsed - expected).abs() < time::Duration::seconds(60),
        "{expires}"
    );
    assert!(sim.wall_clock() >= before);
    let r = agent
        .get(format!("{}{STATUS_PATH}", sim.base_url()))
        .header("x-auth-token", &token)
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn debug_of_a_simulator_shows_no_token_key_or_password() {
    let mut sim = short_lived();
    let r = sim.handle(&post(default_login()), Duration::ZERO);
    assert_eq!(r.response.status(), 201);
    let issued = r.response.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        sim.handle(&status_with(&issued), Duration::ZERO)
            .response
            .status(),
        200
    );
    let clock = koophone_sim::VirtualClock::new(Instant::now(), sim.wall_clock_origin());
    let shared = koophone_sim::SharedSimulator::new(sim);
    let transport = koophone_sim::memory::MemoryTransport::with_shared(shared.clone(), clock);
    let shown = format!("{:?} {shared:?} {transport:?}", shared.lock());
    assert!(shown.contains("Simulator"), "{shown}");
    for secret in [issued.as_str(), "sim-token", "sim-sk", "sim-password"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}
