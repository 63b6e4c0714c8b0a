//! Runs the shared conformance vectors in `tests/vectors/` (format in its README)
//! against request building and response decoding.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use http::{HeaderName, HeaderValue, Response, StatusCode};
use koophone_proto::{
    ApiError, BatchPrepareInstances, Endpoint, ErrorCode, InstanceState, InstanceStatus,
    InvalidInput, InvalidReason, Operation, PreparedInstances, Progress, RequestContext,
    RetryAfter, ShowInstanceStatus, ShowProgress, Token,
};
use serde::{Deserialize, Deserializer};

fn load<T: for<'de> Deserialize<'de>>(name: &str) -> T {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "..",
        "tests",
        "vectors",
        name,
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not valid: {e}", path.display()))
}

/// Tells a key given as `null` (must be absent in the outcome) from a missing key (not checked).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn report(kind: &str, total: usize, failures: Vec<String>) {
    assert!(total > 0, "no {kind} vectors were loaded");
    assert!(
        failures.is_empty(),
        "{} of {total} {kind} vectors failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---- requests ------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestFile {
    #[allow(dead_code)]
    description: String,
    defaults: Defaults,
    cases: Vec<RequestCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    endpoint: String,
    token: String,
    user_agent: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestCase {
    name: String,
    operation: String,
    endpoint: Option<String>,
    #[serde(default)]
    allow_http: bool,
    token: Option<String>,
    user_agent: Option<String>,
    params: Params,
    expect: Option<ExpectRequest>,
    expect_invalid: Option<ExpectInvalid>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectRequest {
    method: String,
    url: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectInvalid {
    field: String,
    reason: String,
}

fn reason_name(reason: &InvalidReason) -> &'static str {
    match reason {
        InvalidReason::Empty => "empty",
        InvalidReason::TooLong { .. } => "too_long",
        InvalidReason::TooMany { .. } => "too_many",
        InvalidReason::ControlCharacter => "control_character",
        InvalidReason::NotAscii => "not_ascii",
        InvalidReason::SurroundingWhitespace => "surrounding_whitespace",
        InvalidReason::DotSegment => "dot_segment",
        InvalidReason::Unencodable => "unencodable",
        InvalidReason::Endpoint(_) => "endpoint",
        _ => "other",
    }
}

/// An operation's parameters: text, or a list of text (`instance_ids`).
type Params = BTreeMap<String, Param>;

#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum Param {
    Text(String),
    List(Vec<String>),
}

fn text<'a>(params: &'a Params, name: &str) -> &'a str {
    match params.get(name) {
        Some(Param::Text(text)) => text,
        _ => "",
    }
}

fn list<'a>(params: &'a Params, name: &str) -> &'a [String] {
    match params.get(name) {
        Some(Param::List(list)) => list,
        _ => &[],
    }
}

type Built = Result<http::Request<Vec<u8>>, InvalidInput>;

/// Decode a response with the case's parameters and compare it with `expect`.
type CheckOutcome = fn(&Params, &Response<Vec<u8>>, &ExpectResponse) -> Result<(), String>;

/// One operation the vectors know: its parameters (sorted), how a request
/// is built from them, the `expect` member naming its success outcome, and
/// how that outcome is checked. Adding an operation is one entry here.
struct VectorOperation {
    name: &'static str,
    params: &'static [&'static str],
    build: fn(&Params, &RequestContext) -> Built,
    outcome: &'static str,
    check: CheckOutcome,
}

const OPERATIONS: &[VectorOperation] = &[
    VectorOperation {
        name: "ShowProgress",
        params: &["instance_id", "user_id"],
        build: |p, ctx| {
            ShowProgress::new(text(p, "user_id"), text(p, "instance_id"))?.build_request(ctx)
        },
        outcome: "progress",
        check: |_, response, expect| {
            let op = ShowProgress::new("u", "i").map_err(|e| e.to_string())?;
            check_outcome(
                decode(&op, response)?,
                expect,
                expect.progress.as_ref(),
                progress_view,
            )
        },
    },
    VectorOperation {
        name: "ShowInstanceStatus",
        params: &["instance_id", "project_id"],
        build: |p, ctx| {
            ShowInstanceStatus::new(text(p, "project_id"), text(p, "instance_id"))?
                .build_request(ctx)
        },
        outcome: "instance_status",
        check: |_, response, expect| {
            let op = ShowInstanceStatus::new("p", "i").map_err(|e| e.to_string())?;
            check_outcome(
                decode(&op, response)?,
                expect,
                expect.instance_status.as_ref(),
                status_view,
            )
        },
    },
    VectorOperation {
        name: "BatchPrepareInstances",
        params: &["instance_ids", "user_id"],
        build: |p, ctx| {
            BatchPrepareInstances::new(text(p, "user_id"), list(p, "instance_ids"))?
                .build_request(ctx)
        },
        outcome: "prepared",
        check: |params, response, expect| {
            let op =
                BatchPrepareInstances::new(text(params, "user_id"), list(params, "instance_ids"))
                    .map_err(|e| format!("params: {e}"))?;
            check_outcome(
                decode(&op, response)?,
                expect,
                expect.prepared.as_ref(),
                prepared_view,
            )
        },
    },
];

fn operation(name: &str) -> Result<&'static VectorOperation, String> {
    OPERATIONS
        .iter()
        .find(|op| op.name == name)
        .ok_or_else(|| format!("unknown operation {name}"))
}

/// Build the case's request exactly as a driver would: context first, then the operation.
fn build(case: &RequestCase, defaults: &Defaults) -> Result<Built, String> {
    let op = operation(&case.operation)?;
    let keys: Vec<&str> = case.params.keys().map(String::as_str).collect();
    if keys != op.params {
        return Err(format!(
            "params must be exactly {:?}, got {keys:?}",
            op.params
        ));
    }
    for (name, value) in &case.params {
        let is_list = name == "instance_ids";
        if is_list != matches!(value, Param::List(_)) {
            return Err(format!("param {name} has the wrong type"));
        }
    }
    let built = (|| {
        let endpoint = Endpoint::parse_with(
            case.endpoint.as_deref().unwrap_or(&defaults.endpoint),
            case.allow_http,
        )?;
        let token = Token::new(case.token.as_deref().unwrap_or(&defaults.token))?;
        let ctx = RequestContext::new(endpoint, token)
            .with_user_agent(case.user_agent.as_deref().unwrap_or(&defaults.user_agent))?;
        (op.build)(&case.params, &ctx)
    })();
    Ok(built)
}

fn check_request(case: &RequestCase, defaults: &Defaults) -> Result<(), String> {
    let built = build(case, defaults)?;
    match (&case.expect, &case.expect_invalid, built) {
        (Some(expect), None, Ok(request)) => {
            let mut problems = Vec::new();
            if request.method().as_str() != expect.method {
                problems.push(format!("method {} != {}", request.method(), expect.method));
            }
            if request.uri().to_string() != expect.url {
                problems.push(format!("url {} != {}", request.uri(), expect.url));
            }
            if request.uri().path() != expect.path {
                problems.push(format!("path {} != {}", request.uri().path(), expect.path));
            }
            let headers: Vec<(String, String)> = request
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            if headers != expect.headers {
                problems.push(format!("headers {headers:?} != {:?}", expect.headers));
            }
            let body = request.body();
            match &expect.body {
                Some(text) if body != text.as_bytes() => problems.push(format!(
                    "body {:?} != {text:?}",
                    String::from_utf8_lossy(body)
                )),
                None if !body.is_empty() => problems.push("expected no body".to_owned()),
                _ => {}
            }
            if problems.is_empty() {
                Ok(())
            } else {
                Err(problems.join("; "))
            }
        }
        (None, Some(expect), Err(e)) => {
            if e.field == expect.field && reason_name(&e.reason) == expect.reason {
                Ok(())
            } else {
                Err(format!(
                    "refused as {}/{} ({e}), expected {}/{}",
                    e.field,
                    reason_name(&e.reason),
                    expect.field,
                    expect.reason
                ))
            }
        }
        (Some(_), None, Err(e)) => Err(format!("refused: {e}")),
        (None, Some(expect), Ok(r)) => Err(format!(
            "built {} {}, expected {} to be refused",
            r.method(),
            r.uri(),
            expect.field
        )),
        _ => Err("a case needs exactly one of expect / expect_invalid".to_owned()),
    }
}

#[test]
fn request_vectors() {
    let file: RequestFile = load("requests.json");
    let failures: Vec<String> = file
        .cases
        .iter()
        .filter_map(|case| {
            check_request(case, &file.defaults)
                .err()
                .map(|e| format!("  {}: {e}", case.name))
        })
        .collect();
    report("request", file.cases.len(), failures);
}

// ---- responses -----------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseFile {
    #[allow(dead_code)]
    description: String,
    cases: Vec<ResponseCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseCase {
    name: String,
    operation: String,
    status: u16,
    #[serde(default)]
    headers: Vec<(String, String)>,
    body: Option<String>,
    body_json: Option<serde_json::Value>,
    /// The operation's parameters when they matter to decoding (the ids a
    /// BatchPrepareInstances call sent).
    #[serde(default)]
    params: Params,
    expect: ExpectResponse,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectResponse {
    progress: Option<ExpectProgress>,
    instance_status: Option<ExpectInstanceStatus>,
    prepared: Option<ExpectPrepared>,
    error: Option<ExpectError>,
}

impl ExpectResponse {
    /// The success outcome named, if any.
    fn outcomes(&self) -> Vec<&'static str> {
        [
            ("progress", self.progress.is_some()),
            ("instance_status", self.instance_status.is_some()),
            ("prepared", self.prepared.is_some()),
            ("error", self.error.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

/// BatchPrepareInstances's outcome, in the command line's JSON shape.
#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct ExpectPrepared {
    status_list: Vec<ExpectPreparedEntry>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct ExpectPreparedEntry {
    instance_id: String,
    /// A status name, or `missing`.
    status: String,
    status_code: Option<i64>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct ExpectProgress {
    status: i64,
    name: String,
    waiting_count: Option<i64>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct ExpectInstanceStatus {
    state: String,
    known: bool,
    operation_state: Option<String>,
    error: Option<ExpectErrorStatus>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct ExpectErrorStatus {
    error_code: Option<String>,
    error_msg: Option<String>,
    error_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectError {
    kind: String,
    http_status: u16,
    retryable: bool,
    #[serde(default, deserialize_with = "present")]
    error_code: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    code: Option<Option<String>>,
    message: Option<String>,
    #[serde(default, deserialize_with = "present")]
    request_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    error_type: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    retry_after: Option<Option<ExpectRetryAfter>>,
    reason_contains: Option<String>,
    snippet: Option<String>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(rename_all = "snake_case")]
enum ExpectRetryAfter {
    DelaySecs(u64),
    AtUnix(u64),
}

fn response_of(case: &ResponseCase) -> Result<Response<Vec<u8>>, String> {
    let body = match (&case.body, &case.body_json) {
        (Some(text), None) => text.clone().into_bytes(),
        (None, Some(value)) => serde_json::to_vec(value).map_err(|e| e.to_string())?,
        (None, None) => Vec::new(),
        (Some(_), Some(_)) => return Err("body and body_json are exclusive".to_owned()),
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(case.status).map_err(|e| e.to_string())?;
    for (name, value) in &case.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?;
        let value = HeaderValue::from_str(value).map_err(|e| e.to_string())?;
        response.headers_mut().append(name, value);
    }
    Ok(response)
}

/// Decode through both entry points of the trait; they must agree.
fn decode<O: Operation>(
    op: &O,
    response: &Response<Vec<u8>>,
) -> Result<Result<O::Output, ApiError>, String>
where
    O::Output: PartialEq,
{
    let borrowed = op.decode_response(response.clone().map(|_| response.body().as_slice()));
    let owned = op.decode_owned(response.clone());
    if borrowed != owned {
        return Err(format!(
            "decode_response {borrowed:?} != decode_owned {owned:?}"
        ));
    }
    Ok(owned)
}

fn progress_view(p: &Progress) -> ExpectProgress {
    ExpectProgress {
        status: p.status.code(),
        name: p.status.as_str().to_owned(),
        waiting_count: p.waiting_count,
    }
}

fn status_view(s: &InstanceStatus) -> ExpectInstanceStatus {
    ExpectInstanceStatus {
        state: s.state.as_str().to_owned(),
        known: !matches!(s.state, InstanceState::Unknown(_)),
        operation_state: s.operation_state.clone(),
        error: s.error.as_ref().map(|e| ExpectErrorStatus {
            error_code: e.error_code.clone(),
            error_msg: e.error_msg.clone(),
            error_type: e.error_type.clone(),
        }),
    }
}

fn prepared_view(p: &PreparedInstances) -> ExpectPrepared {
    ExpectPrepared {
        status_list: p
            .instances
            .iter()
            .map(|i| ExpectPreparedEntry {
                instance_id: i.instance_id.clone(),
                status: i.status.map_or("missing", |s| s.as_str()).to_owned(),
                status_code: i.status.map(|s| s.code()),
            })
            .collect(),
    }
}

fn retry_view(r: RetryAfter) -> ExpectRetryAfter {
    match r {
        RetryAfter::Delay(d) => ExpectRetryAfter::DelaySecs(d.as_secs()),
        RetryAfter::At(at) => ExpectRetryAfter::AtUnix(
            at.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_secs(),
        ),
    }
}

fn check_error(e: &ApiError, expect: &ExpectError) -> Vec<String> {
    let mut problems = Vec::new();
    let mut same = |what: &str, got: String, want: String| {
        if got != want {
            problems.push(format!("{what} {got} != {want}"));
        }
    };
    same("kind", e.kind().to_owned(), expect.kind.clone());
    same(
        "http_status",
        e.status().as_u16().to_string(),
        expect.http_status.to_string(),
    );
    same(
        "retryable",
        e.is_retryable().to_string(),
        expect.retryable.to_string(),
    );
    if let Some(want) = &expect.error_code {
        same(
            "error_code",
            format!("{:?}", e.error_code()),
            format!("{:?}", want.as_deref()),
        );
    }
    if let Some(want) = &expect.code {
        let got = e.error_code().map(ErrorCode::parse);
        same(
            "code",
            format!("{:?}", got.as_ref().map(ErrorCode::as_str)),
            format!("{:?}", want.as_deref()),
        );
    }
    if let Some(want) = &expect.message {
        same("message", format!("{:?}", e.message()), format!("{want:?}"));
    }
    if let Some(want) = &expect.request_id {
        same(
            "request_id",
            format!("{:?}", e.request_id()),
            format!("{:?}", want.as_deref()),
        );
    }
    if let Some(want) = &expect.error_type {
        let got = match e {
            ApiError::Service(s) | ApiError::Unauthorized(s) => s.error_type.as_deref(),
            _ => None,
        };
        same(
            "error_type",
            format!("{got:?}"),
            format!("{:?}", want.as_deref()),
        );
    }
    if let Some(want) = &expect.retry_after {
        same(
            "retry_after",
            format!("{:?}", e.retry_after().map(retry_view)),
            format!("{want:?}"),
        );
    }
    match (e, &expect.reason_contains, &expect.snippet) {
        (_, None, None) => {}
        (ApiError::Malformed(m), reason, snippet) => {
            if let Some(part) = reason
                && !m.reason.contains(part.as_str())
            {
                problems.push(format!("reason {:?} lacks {part:?}", m.reason));
            }
            if let Some(snippet) = snippet
                && &m.snippet != snippet
            {
                problems.push(format!("snippet {:?} != {snippet:?}", m.snippet));
            }
        }
        _ => problems.push("reason_contains/snippet apply to malformed errors only".to_owned()),
    }
    let text = e.to_string();
    if text.chars().any(char::is_control) || !text.starts_with(|c: char| c.is_ascii_lowercase()) {
        problems.push(format!("display is not one lower-case line: {text:?}"));
    }
    problems
}

fn check_outcome<T, V: PartialEq + std::fmt::Debug>(
    outcome: Result<T, ApiError>,
    expect: &ExpectResponse,
    wanted_ok: Option<&V>,
    view: impl Fn(&T) -> V,
) -> Result<(), String> {
    let problems = match (outcome, wanted_ok, &expect.error) {
        (Ok(value), Some(want), _) => {
            let got = view(&value);
            if &got == want {
                Vec::new()
            } else {
                vec![format!("{got:?} != {want:?}")]
            }
        }
        (Err(e), None, Some(want)) => check_error(&e, want),
        (Ok(value), None, _) => vec![format!("decoded {:?}, expected an error", view(&value))],
        (Err(e), Some(_), _) => vec![format!("failed with {e:?}, expected success")],
        (Err(_), None, None) => vec!["expect names no outcome for this operation".to_owned()],
    };
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

fn check_response(case: &ResponseCase) -> Result<(), String> {
    let response = response_of(case)?;
    let expect = &case.expect;
    let op = operation(&case.operation)?;
    match expect.outcomes()[..] {
        ["error"] => {}
        [name] if name == op.outcome => {}
        [name] => return Err(format!("{name} expected from {}", op.name)),
        _ => {
            return Err(
                "expect must name exactly one of progress / instance_status / prepared / error"
                    .to_owned(),
            );
        }
    }
    (op.check)(&case.params, &response, expect)
}

#[test]
fn response_vectors() {
    let file: ResponseFile = load("responses.json");
    let failures: Vec<String> = file
        .cases
        .iter()
        .filter_map(|case| {
            check_response(case)
                .err()
                .map(|e| format!("  {}: {e}", case.name))
        })
        .collect();
    report("response", file.cases.len(), failures);
}

#[test]
fn vector_names_are_unique() {
    let requests: RequestFile = load("requests.json");
    let responses: ResponseFile = load("responses.json");
    for names in [
        requests
            .cases
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        responses.cases.iter().map(|c| c.name.as_str()).collect(),
    ] {
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "duplicate case names");
    }
}
