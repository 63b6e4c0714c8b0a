//! The simulator's oracle: its core fed any sequence of requests answers
//! each one like the documented service, deterministically, and never panics.

use std::collections::HashSet;
use std::time::Duration;

use http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderName, HeaderValue, Method, Request};
use serde_json::Value;

use koophone_sim::{
    AUTH_TOKEN_HEADER, BATCH_PREPARE_PATH, IAM_TOKENS_PATH, LoggedRequest, REQUEST_ID_HEADER,
    SHOW_PROGRESS_PATH, Scenario, Simulator,
};

/// One request as fuzz input: parts HTTP cannot carry are dropped (a method
/// or URI `http` refuses skips the request, a bad header just that header),
/// as no server would hand them to the core.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SimRequest {
    /// The method.
    pub method: String,
    /// The request target (path and query).
    pub uri: String,
    /// Header names and values.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
    /// Time since the previous request (or the start), in milliseconds.
    pub after_ms: u32,
}

impl SimRequest {
    fn to_request(&self) -> Option<Request<&[u8]>> {
        let method = Method::from_bytes(self.method.as_bytes()).ok()?;
        let uri: http::Uri = self.uri.parse().ok()?;
        let mut request = Request::new(self.body.as_slice());
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(value),
            ) {
                request.headers_mut().append(name, value);
            }
        }
        Some(request)
    }
}

/// The scenarios fuzzing picks from (`index` modulo their number): the
/// built-in default; one with a rate limit and an expiring token; one that
/// fires every kind of fault.
pub fn scenario(index: u8) -> Scenario {
    match index % 3 {
        0 => Scenario::default(),
        1 => Scenario::from_json(LIMITED).expect("the limited scenario is valid"),
        _ => Scenario::from_json(FAULTY).expect("the faulty scenario is valid"),
    }
}

/// The token every fuzzing scenario accepts.
pub const TOKEN: &str = "sim-token";
/// The token the limited scenario refuses from 5 s on.
pub const EXPIRING_TOKEN: &str = "short-lived-token";

const LIMITED: &str = r#"{
    "tokens": ["sim-token", {"token": "short-lived-token", "expires_at_ms": 5000}],
    "rate_limit": {"burst": 3, "refill_every_ms": 700},
    "max_body_bytes": 512,
    "request_log_capacity": 4,
    "koophone": {"users": [{"user_id": "1008600000104285462", "instances": [
        {"instance_id": "iRJEVP9", "phases": [
            {"status": "queuing", "for_ms": 2000, "waiting_count_from": 5},
            {"status": 42, "for_ms": 1000},
            {"status": "normal"}]},
        {"instance_id": "iPREP001", "prepare": {"phone_status": 1}, "phases": [
            {"status": "queuing", "for_ms": 1000, "waiting_count_from": 2},
            {"status": "failed"}]}]}]},
    "clouddc": {"projects": [{"project_id": "sim-project", "instances": [
        {"instance_id": "sim-instance", "phases": [
            {"state": "pending", "for_ms": 1500, "operation_state": "install-processing"},
            {"state": "failed", "error": {"error_code": "CLOUDDC.5001", "error_msg": "boom", "error_type": "create_instance_error"}}]}]}]}
}"#;

const FAULTY: &str = r#"{
    "request_log_capacity": 2,
    "koophone": {"users": [{"user_id": "1008600000104285462", "instances": [
        {"instance_id": "iRJEVP9", "phases": [{"status": "restoring", "for_ms": 800}, {"status": "normal"}]}]}]},
    "clouddc": {"projects": [{"project_id": "sim-project", "instances": [
        {"instance_id": "sim-instance", "phases": [{"state": "stopped"}]}]}]},
    "faults": [
        {"probability": 0.08, "fault": {"kind": "internal_error"}},
        {"probability": 0.08, "route": "show_progress", "fault": {"kind": "ok_with_error"}},
        {"probability": 0.08, "fault": {"kind": "bad_gateway"}},
        {"probability": 0.08, "fault": {"kind": "service_unavailable", "retry_after_s": 2}},
        {"probability": 0.08, "fault": {"kind": "throttled"}},
        {"probability": 0.08, "fault": {"kind": "slow", "delay_ms": 30}},
        {"probability": 0.08, "fault": {"kind": "malformed_json"}},
        {"probability": 0.08, "fault": {"kind": "truncated_json"}},
        {"probability": 0.08, "fault": {"kind": "truncated_body"}},
        {"probability": 0.08, "burst": 2, "fault": {"kind": "drop_connection"}}
    ]
}"#;

const STATUSES: [u16; 11] = [200, 201, 400, 401, 404, 405, 413, 429, 500, 502, 503];

/// Feed the requests, at increasing times, to two simulators of `scenario`
/// with the same `seed`, and check every answer: both give the same one; its
/// status is one the service documents; it carries `Content-Length` and a
/// fresh 32-hex-digit `X-Request-Id`; the request log records it, bounded,
/// with credentials hidden from `Debug`; and when no fault fired it follows
/// the service's rules (404 off-route, 405 with `Allow`, 413 over the body
/// limit, 401 exactly for a missing, unknown or expired token, JSON bodies,
/// 429 only under a rate limit and with `Retry-After`). Returns the statuses.
pub fn handle_requests(scenario: &Scenario, seed: u64, requests: &[SimRequest]) -> Vec<u16> {
    let mut sim = Simulator::new(scenario.clone(), seed).expect("fuzzing scenarios are valid");
    let mut twin = Simulator::new(scenario.clone(), seed).expect("fuzzing scenarios are valid");
    let mut at = Duration::ZERO;
    let mut ids = HashSet::new();
    let mut statuses = Vec::new();
    for input in requests {
        at += Duration::from_millis(input.after_ms.into());
        let Some(request) = input.to_request() else {
            continue;
        };
        let answer = sim.handle(&request, at);
        let again = twin.handle(&request, at);
        let response = &answer.response;
        assert_eq!(
            (
                response.status(),
                response.headers(),
                response.body(),
                answer.fault
            ),
            (
                again.response.status(),
                again.response.headers(),
                again.response.body(),
                again.fault
            ),
            "two simulators with one seed answered differently"
        );
        let status = response.status().as_u16();
        assert!(STATUSES.contains(&status), "undocumented status {status}");
        statuses.push(status);

        let body = response.body();
        let length = response
            .headers()
            .get(CONTENT_LENGTH)
            .map(HeaderValue::as_bytes);
        assert_eq!(
            length,
            Some(body.len().to_string().as_bytes()),
            "content-length"
        );
        let id = response
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .expect("every answer has a request id")
            .to_owned();
        assert!(
            id.len() == 32
                && id
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "request id {id:?}"
        );
        assert!(ids.insert(id.clone()), "request id {id} repeated");
        let handled = sim.requests_handled();
        assert_eq!(handled, ids.len() as u64, "requests_handled");

        let capacity = scenario.request_log_capacity;
        assert_eq!(
            sim.request_log().len(),
            capacity.min(ids.len()),
            "request log size"
        );
        let fired = if capacity == 0 {
            None
        } else {
            let entry = sim.request_log().last().expect("the log has the request");
            assert_eq!(
                (entry.seq, entry.at, entry.status),
                (handled, at, response.status())
            );
            assert_eq!(entry.request_id, id);
            assert_eq!(entry.body_len, request.body().len());
            check_log_redaction(entry);
            Some(entry.fault)
        };
        let fault_fired = match fired {
            Some(fault) => fault.is_some(),
            None => !scenario.faults.is_empty(),
        };
        if !fault_fired {
            check_rules(scenario, &request, &answer.response, at);
        }
    }
    statuses
}

/// `Debug` of a log entry never shows a credential header's value, unless
/// that text also shows when the value is replaced by another.
fn check_log_redaction(entry: &LoggedRequest) {
    let shown = format!("{entry:?}");
    for name in [
        "x-auth-token",
        "authorization",
        "x-security-token",
        "proxy-authorization",
        "cookie",
    ] {
        for value in entry.headers.get_all(name) {
            let Ok(secret) = value.to_str() else { continue };
            if secret.is_empty() {
                continue;
            }
            let mut without = entry.clone();
            without
                .headers
                .insert(HeaderName::from_static(name), HeaderValue::from_static("-"));
            if !format!("{without:?}").contains(secret) {
                assert!(!shown.contains(secret), "Debug of the log shows {name}");
            }
        }
    }
}

/// The method a path's operation takes, or `None` off-route.
fn route_method(path: &str) -> Option<Method> {
    if path == SHOW_PROGRESS_PATH || path == BATCH_PREPARE_PATH || path == IAM_TOKENS_PATH {
        return Some(Method::POST);
    }
    let segments: Vec<&str> = path.split('/').collect();
    match segments[..] {
        ["", "v1", project, "instances", id, "status"] if !project.is_empty() && !id.is_empty() => {
            Some(Method::GET)
        }
        _ => None,
    }
}

/// The service's rules, for an answer no fault changed.
fn check_rules(
    scenario: &Scenario,
    request: &Request<&[u8]>,
    response: &http::Response<Vec<u8>>,
    at: Duration,
) {
    let status = response.status().as_u16();
    let json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if json {
        let parsed: Result<Value, _> = serde_json::from_slice(response.body());
        assert!(
            matches!(parsed, Ok(Value::Object(_))),
            "a JSON answer that is not an object"
        );
        if status != 200 {
            let code = parsed
                .ok()
                .and_then(|v| v.get("error_code")?.as_str().map(str::to_owned));
            assert!(
                code.is_some_and(|c| !c.is_empty()),
                "an error without error_code"
            );
        }
    }
    if request.body().len() > scenario.max_body_bytes {
        assert_eq!(status, 413, "oversized body");
        return;
    }
    let Some(allowed) = route_method(request.uri().path()) else {
        assert_eq!(status, 404, "off-route");
        return;
    };
    if request.method() != allowed {
        assert_eq!(status, 405, "wrong method");
        assert_eq!(
            response.headers().get(ALLOW).map(HeaderValue::as_bytes),
            Some(allowed.as_str().as_bytes())
        );
        return;
    }
    if request.uri().path() == IAM_TOKENS_PATH {
        // IAM: a token, a refused login, or a malformed body; no faults,
        // no gateway authentication, no rate limit.
        assert!(matches!(status, 201 | 400 | 401), "IAM answered {status}");
        return;
    }
    let token_ok = request
        .headers()
        .get(AUTH_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|token| {
            scenario.tokens.iter().any(|spec| {
                spec.token == token
                    && spec
                        .expires_at_ms
                        .is_none_or(|ms| at < Duration::from_millis(ms))
            })
        });
    assert_eq!(status == 401, !token_ok, "401 for token_ok={token_ok}");
    if status == 429 {
        assert!(scenario.rate_limit.is_some(), "429 without a rate limit");
        let after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok());
        assert!(
            after.is_some_and(|s| s.parse::<u64>().is_ok_and(|secs| secs >= 1)),
            "429 retry-after {after:?}"
        );
    }
    if request.uri().path() == SHOW_PROGRESS_PATH && status == 200 {
        let body: Value = serde_json::from_slice(response.body()).unwrap_or_default();
        assert_eq!(body["error_code"], "0");
        assert!(body["data"]["status"].is_i64() && body["data"]["waitingCount"].is_i64());
    }
    if request.uri().path() == BATCH_PREPARE_PATH && status == 200 {
        let body: Value = serde_json::from_slice(response.body()).unwrap_or_default();
        assert_eq!(body["error_code"], "0");
        let list = body["data"]["status_list"].as_array();
        assert!(
            list.is_some_and(|l| l
                .iter()
                .all(|e| e["instance_id"].is_string() && e["status"].is_i64())),
            "prepare answer without a status list"
        );
    }
    let koophone = [SHOW_PROGRESS_PATH, BATCH_PREPARE_PATH];
    if status == 200 && !koophone.contains(&request.uri().path()) {
        let body: Value = serde_json::from_slice(response.body()).unwrap_or_default();
        assert!(body["state"].is_string(), "status answer without state");
    }
}
