//! The bytes both proto benches work on, and the hand-written baseline they
//! are compared with: the same answers decoded through `serde_json::Value`,
//! fields picked by hand, as a caller without this crate would write it.

// Each bench binary includes this module and uses a different part of it.
#![allow(dead_code)]

use http::{Response, StatusCode};
use koophone_proto::{
    ApiError, Endpoint, InstanceState, InstanceStatus, PrepareStatus, Progress, RequestContext,
    ServiceError, ShowInstanceStatus, ShowProgress, Token,
};
use serde_json::Value;

/// The documented ShowProgress 200 example, byte for byte as the API page prints it.
pub const PROGRESS_DOCUMENTED: &[u8] = br#"{
  "data" : {
    "status" : 0,
    "waitingCount" : 0
  },
  "error_code" : "0",
  "error_msg" : "OK"
}"#;

/// A queuing answer as the simulator sends it (compact).
pub const PROGRESS_QUEUING: &[u8] =
    br#"{"data":{"status":1,"waitingCount":3},"error_code":"0","error_msg":"OK"}"#;

/// The documented ShowInstanceStatus 200 example.
pub const STATUS_DOCUMENTED: &[u8] = b"{\n\"state\" : \"stopped\"\n}";

/// A typical error: 400 `KOOPHONE.API.1000` with a request id header.
pub const ERROR_400: &[u8] =
    br#"{"error_code":"KOOPHONE.API.1000","error_msg":"The request parameter is incorrect."}"#;

/// The request id header of [`ERROR_400`].
pub const REQUEST_ID: &str = "4a5d1c0e-7b7e-4e43-9b0f-6f6e2d1f9a10";

/// A 200 answer with `body`.
pub fn ok(body: &[u8]) -> Response<&[u8]> {
    Response::new(body)
}

/// [`ERROR_400`] as a whole response.
pub fn bad_request() -> Response<&'static [u8]> {
    let mut response = Response::new(ERROR_400);
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
        .headers_mut()
        .insert("x-request-id", http::HeaderValue::from_static(REQUEST_ID));
    response
}

/// The documented example operation.
pub fn show_progress() -> ShowProgress {
    ShowProgress::new("1008600000104285462", "iRJEVP9").expect("documented example is valid")
}

/// A ShowInstanceStatus with a realistic project id.
pub fn show_instance_status() -> ShowInstanceStatus {
    ShowInstanceStatus::new("0605767a3300d5762fb7c0186d9e1779", "i-0123456789abcdef")
        .expect("valid ids")
}

/// A context as a driver holds it: built once, reused for every request.
pub fn context() -> RequestContext {
    RequestContext::new(
        Endpoint::parse("https://koophone.example.com").expect("valid endpoint"),
        Token::new("MIIbench-token-value").expect("valid token"),
    )
}

/// The baseline's failure: what a hand-written caller would keep.
fn baseline_error(response: &Response<&[u8]>, body: Option<&Value>) -> ApiError {
    let text = |key: &str| body.and_then(|b| b.get(key)?.as_str().map(str::to_owned));
    ApiError::Service(ServiceError {
        status: response.status(),
        error_code: text("error_code"),
        message: text("error_msg").unwrap_or_default(),
        request_id: response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        error_type: None,
        retry_after: None,
    })
}

/// ShowProgress through `serde_json::Value`: the same checks as the crate's
/// decoder for the success path (status, `error_code`, `data.status`,
/// `data.waitingCount`), and the error fields picked by hand otherwise.
pub fn baseline_progress(response: &Response<&[u8]>) -> Result<Progress, ApiError> {
    let Ok(body) = serde_json::from_slice::<Value>(response.body()) else {
        return Err(baseline_error(response, None));
    };
    if !response.status().is_success() {
        return Err(baseline_error(response, Some(&body)));
    }
    if body
        .get("error_code")
        .and_then(Value::as_str)
        .unwrap_or("0")
        != "0"
    {
        return Err(baseline_error(response, Some(&body)));
    }
    let data = body.get("data").filter(|d| d.is_object());
    match data.and_then(|d| d.get("status")?.as_i64()) {
        Some(status) => Ok(Progress {
            status: PrepareStatus::from_code(status),
            waiting_count: data.and_then(|d| d.get("waitingCount")?.as_i64()),
        }),
        None => Err(baseline_error(response, Some(&body))),
    }
}

/// ShowInstanceStatus through `serde_json::Value`.
pub fn baseline_instance_status(response: &Response<&[u8]>) -> Result<InstanceStatus, ApiError> {
    let Ok(body) = serde_json::from_slice::<Value>(response.body()) else {
        return Err(baseline_error(response, None));
    };
    if !response.status().is_success() {
        return Err(baseline_error(response, Some(&body)));
    }
    match body.get("state").and_then(Value::as_str) {
        Some(state) => Ok(InstanceStatus {
            state: InstanceState::parse(state),
            operation_state: body
                .get("operation_state")
                .and_then(Value::as_str)
                .map(str::to_owned),
            error: None,
        }),
        None => Err(baseline_error(response, Some(&body))),
    }
}
