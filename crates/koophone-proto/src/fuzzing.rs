//! Property bodies shared by the fuzz targets in `fuzz/` and the stable
//! property tests (`tests/fuzz_regressions.rs`), so CI on stable checks the
//! same promises the fuzzer does. Each function takes plain values, panics
//! with a message when a promise is broken, and returns what it checked.
//!
//! Not part of the API: hidden from the docs and free to change.

use std::time::{Instant, SystemTime};

use http::header::{DATE, RETRY_AFTER};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use serde_json::Value;

use crate::context::RequestContext;
use crate::endpoint::{DEFAULT_USER_AGENT, Endpoint, Token};
use crate::error::{ApiError, InvalidInput, InvalidReason, RetryAfter};
use crate::operation::Operation;
use crate::waiter::Once;
use crate::waiter::script::Script;
use crate::{
    BatchPrepareInstances, InstanceState, InstanceStatus, MAX_PROGRESS_ID_CHARS, PhoneStatus,
    PrepareStatus, PreparedInstances, Progress, ShowInstanceStatus, ShowProgress, UntilReady,
    UntilState,
};

const SNIPPET_MAX_BYTES: usize = 256;
const REASON_MAX_BYTES: usize = 200;
const FIELD_MAX_BYTES: usize = 1024;

/// A response from fuzz input: a status outside 100..=999 is folded into that
/// range, and headers HTTP cannot carry are left out (a real client never
/// hands those to the core).
pub fn response<'b>(
    status: u16,
    headers: &[(String, Vec<u8>)],
    body: &'b [u8],
) -> Response<&'b [u8]> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status)
        .or_else(|_| StatusCode::from_u16(100 + status % 900))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// The body as a JSON object, when it is one. Invalid UTF-8 is read as
/// U+FFFD first: serde_json checks neither UTF-8 nor escapes (a lone
/// `\ud800`) inside strings it skips, so the decoders accept such bytes in
/// fields they ignore (the decoded values are valid).
fn json_object(body: &[u8]) -> Option<serde_json::Map<String, Value>> {
    match serde_json::from_str(&String::from_utf8_lossy(body)) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// Decode with both entry points of the trait and check they agree.
fn decode_both<Op: Operation>(op: &Op, response: &Response<&[u8]>) -> Result<Op::Output, ApiError>
where
    Op::Output: PartialEq,
{
    let borrowed = op.decode_response(clone_response(response));
    let mut owned_response = Response::new(response.body().to_vec());
    *owned_response.status_mut() = response.status();
    *owned_response.headers_mut() = response.headers().clone();
    let owned = op.decode_owned(owned_response);
    assert!(
        borrowed == owned,
        "decode_response and decode_owned disagree: {borrowed:?} vs {owned:?}"
    );
    borrowed
}

fn clone_response<'b>(response: &Response<&'b [u8]>) -> Response<&'b [u8]> {
    let mut copy = Response::new(*response.body());
    *copy.status_mut() = response.status();
    *copy.headers_mut() = response.headers().clone();
    copy
}

fn example_progress() -> ShowProgress {
    ShowProgress::new("1008600000104285462", "iRJEVP9").expect("documented example ids are valid")
}

fn example_status() -> ShowInstanceStatus {
    ShowInstanceStatus::new("0605767a3300d5762fb7c0186d9e1779", "i-1")
        .expect("example path parameters are valid")
}

/// The ids the decoding property sends in its BatchPrepareInstances call.
pub const PREPARE_EXAMPLE_IDS: [&str; 2] = ["iRJEVP9", "iQWERT1"];

/// BatchPrepareInstances decoding is total and its outcome agrees with the
/// body: only a 2xx decodes, with one entry per id sent, in order, whose
/// status is the last one `data.status_list` gives that id (or none when it
/// gives none); every error keeps the promises of [`check_error`].
pub fn decode_prepared(response: &Response<&[u8]>) -> Result<PreparedInstances, ApiError> {
    let op = BatchPrepareInstances::new("1008600000104285462", PREPARE_EXAMPLE_IDS)
        .expect("example ids are valid");
    let outcome = decode_both(&op, response);
    match &outcome {
        Ok(prepared) => {
            assert!(
                response.status().is_success(),
                "decoded a {}",
                response.status()
            );
            let ids: Vec<&str> = prepared
                .instances
                .iter()
                .map(|i| i.instance_id.as_str())
                .collect();
            assert_eq!(ids, PREPARE_EXAMPLE_IDS, "one entry per id sent, in order");
            let Some(top) = json_object(response.body()) else {
                return outcome;
            };
            let Some(Value::Array(list)) = top.get("data").and_then(|d| d.get("status_list"))
            else {
                panic!("decoded without a status_list array: {top:?}");
            };
            for instance in &prepared.instances {
                let last = list
                    .iter()
                    .rev()
                    .filter(|e| {
                        e.get("instance_id").and_then(Value::as_str) == Some(&instance.instance_id)
                    })
                    .find_map(|e| e.get("status").and_then(Value::as_i64));
                assert_eq!(
                    instance.status.map(PhoneStatus::code),
                    last,
                    "status of {}",
                    instance.instance_id
                );
            }
        }
        Err(error) => check_error(response, error),
    }
    outcome
}

/// ShowProgress decoding is total and its outcome agrees with the body:
/// only a 2xx decodes, and then only from `{"data":{"status":<int>}}` with no
/// failing `error_code`; every error keeps the promises of [`check_error`].
pub fn decode_progress(response: &Response<&[u8]>) -> Result<Progress, ApiError> {
    let outcome = decode_both(&example_progress(), response);
    match &outcome {
        Ok(progress) => {
            assert!(
                response.status().is_success(),
                "decoded a {}",
                response.status()
            );
            // A body serde_json::Value refuses decodes only through garbage
            // in skipped strings (see `json_object`): nothing to compare then.
            let Some(top) = json_object(response.body()) else {
                return outcome;
            };
            let Some(Value::Object(data)) = top.get("data") else {
                panic!("decoded without a data object: {top:?}");
            };
            assert_eq!(
                data.get("status").and_then(Value::as_i64),
                Some(progress.status.code()),
                "status differs from the body"
            );
            assert_eq!(
                PrepareStatus::from_code(progress.status.code()),
                progress.status
            );
            let count = data.get("waitingCount").and_then(Value::as_i64);
            assert_eq!(
                progress.waiting_count, count,
                "waitingCount differs from the body"
            );
            assert!(
                matches!(top.get("error_code"), None | Some(Value::Null))
                    || top.get("error_code") == Some(&Value::from("0")),
                "decoded a body whose error_code is {:?}",
                top.get("error_code")
            );
        }
        Err(error) => check_error(response, error),
    }
    outcome
}

/// ShowInstanceStatus decoding is total and its outcome agrees with the body:
/// only a 2xx decodes, the state is kept exactly as received, and the
/// optional `operation_state` and `error` are those of the body.
pub fn decode_instance_status(response: &Response<&[u8]>) -> Result<InstanceStatus, ApiError> {
    let outcome = decode_both(&example_status(), response);
    match &outcome {
        Ok(status) => {
            assert!(
                response.status().is_success(),
                "decoded a {}",
                response.status()
            );
            // A body serde_json::Value refuses decodes only through garbage
            // in skipped strings (see `json_object`): nothing to compare then.
            let Some(top) = json_object(response.body()) else {
                return outcome;
            };
            assert_eq!(
                top.get("state").and_then(Value::as_str),
                Some(status.state.as_str()),
                "state differs from the body"
            );
            assert_eq!(InstanceState::parse(status.state.as_str()), status.state);
            assert_eq!(
                status.operation_state.as_deref(),
                top.get("operation_state").and_then(Value::as_str)
            );
            match (top.get("error"), &status.error) {
                (None | Some(Value::Null), None) => {}
                (Some(Value::Object(body)), Some(error)) => {
                    let field = |name: &str| body.get(name).and_then(Value::as_str);
                    assert_eq!(error.error_code.as_deref(), field("error_code"));
                    assert_eq!(error.error_msg.as_deref(), field("error_msg"));
                    assert_eq!(error.error_type.as_deref(), field("error_type"));
                }
                (body, decoded) => panic!("error {decoded:?} differs from the body's {body:?}"),
            }
            assert!(
                matches!(top.get("error_code"), None | Some(Value::Null))
                    || top.get("error_code") == Some(&Value::from("0")),
                "decoded a body whose error_code is {:?}",
                top.get("error_code")
            );
        }
        Err(error) => check_error(response, error),
    }
    outcome
}

/// Error decoding with any status and headers: both operations read a
/// non-2xx response into the same error, which keeps the promises of
/// [`check_error`]. Returns that error (`None` for a 2xx, which each
/// operation decodes in its own way, checked the same).
pub fn decode_error(response: &Response<&[u8]>) -> Option<ApiError> {
    let progress = decode_progress(response);
    let status = decode_instance_status(response);
    if response.status().is_success() {
        return None;
    }
    let (Err(progress), Err(status)) = (progress, status) else {
        panic!("a {} decoded", response.status());
    };
    assert_eq!(
        progress, status,
        "the operations read one error body differently"
    );
    Some(progress)
}

/// What every error promises, whatever the response: the matching kind for
/// the status, the response's own status, request id and Retry-After, the
/// body's error code, bounded snippets, a one-line lower-case message and a
/// retry decision that follows the documented codes.
pub fn check_error(response: &Response<&[u8]>, error: &ApiError) {
    let status = response.status();
    let code = status.as_u16();
    assert_eq!(error.status(), status, "error status differs: {error:?}");
    match (code, error) {
        (100..=199, ApiError::Malformed(_))
        | (200..=299, ApiError::Malformed(_) | ApiError::Service(_))
        | (300..=399, ApiError::Service(_))
        | (401, ApiError::Unauthorized(_))
        | (429, ApiError::Throttled(_)) => {}
        (400 | 402..=428 | 430..=999, ApiError::Service(_)) => {}
        _ => panic!("a {status} became {}: {error:?}", error.kind()),
    }

    for (what, field) in [
        ("message", Some(error.message())),
        ("error code", error.error_code()),
        ("request id", error.request_id()),
    ] {
        let len = field.map_or(0, str::len);
        assert!(len <= FIELD_MAX_BYTES, "{what} of {len} bytes");
    }

    let text = error.to_string();
    assert!(
        !text.chars().any(char::is_control),
        "display is not one line: {text:?}"
    );
    assert!(
        text.starts_with(|c: char| c.is_ascii_lowercase()),
        "display does not start lower-case: {text:?}"
    );

    // The X-Request-Id header wins; without it only an error body may name one.
    let header_id = response
        .headers()
        .get("x-request-id")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    match header_id {
        Some(id) if !id.trim().is_empty() && id.len() <= SNIPPET_MAX_BYTES => {
            assert_eq!(
                error.request_id(),
                Some(id.trim()),
                "request id is not the header's"
            );
        }
        Some(_) => {}
        None if matches!(error, ApiError::Malformed(_)) => {
            assert_eq!(
                error.request_id(),
                None,
                "malformed error invented a request id"
            );
        }
        None => {}
    }
    if let Some(id) = error.request_id() {
        assert!(
            !id.trim().is_empty() && id.trim() == id,
            "request id {id:?} is not trimmed"
        );
    }

    check_retry_after(response, error);

    // A 2xx keeps its failing `error_code` exactly, even blank; error bodies
    // skip blank candidates for the next spelling.
    if let Some(code) = error.error_code().filter(|_| !status.is_success()) {
        assert!(!code.trim().is_empty(), "blank error code kept");
    }
    if let (300..=399, _) | (_, ApiError::Throttled(_) | ApiError::Malformed(_)) = (code, error) {
        assert_eq!(
            error.error_code(),
            None,
            "{} carries an error code",
            error.kind()
        );
    } else if !status.is_success() {
        let top = json_object(response.body());
        let documented = top
            .as_ref()
            .and_then(|top| top.get("error_code")?.as_str().map(str::to_owned));
        if let Some(documented) = documented.filter(|c| !c.trim().is_empty()) {
            let kept = error.error_code().unwrap_or_default();
            let whole = documented.len() <= FIELD_MAX_BYTES && kept == documented;
            let cut = documented.len() > FIELD_MAX_BYTES
                && documented.starts_with(kept)
                && kept.len() + 4 > FIELD_MAX_BYTES;
            assert!(
                whole || cut,
                "error_code {kept:?} not taken from the body's {documented:?}"
            );
        }
        if top.is_none() {
            let message = error.message();
            assert!(
                message.len() <= SNIPPET_MAX_BYTES,
                "message of a non-JSON body is {} bytes",
                message.len()
            );
            assert_eq!(
                message.trim(),
                message,
                "message of a non-JSON body is not trimmed"
            );
        }
    }

    match error {
        ApiError::Throttled(_) => assert!(error.is_retryable(), "429 is not retryable"),
        ApiError::Unauthorized(_) => assert!(!error.is_retryable(), "401 is retryable"),
        ApiError::Malformed(m) => {
            let body = String::from_utf8_lossy(response.body());
            assert!(
                m.snippet.len() <= SNIPPET_MAX_BYTES,
                "snippet of {} bytes",
                m.snippet.len()
            );
            assert!(
                body.starts_with(&m.snippet),
                "snippet is not the start of the body"
            );
            if body.len() <= SNIPPET_MAX_BYTES {
                assert_eq!(m.snippet, body, "a short body was cut");
            }
            assert!(
                m.reason.len() <= REASON_MAX_BYTES,
                "reason of {} bytes",
                m.reason.len()
            );
            if code < 200 {
                assert!(!error.is_retryable(), "1xx is retryable");
            }
        }
        ApiError::Service(e) => {
            let documented = e
                .error_code
                .as_deref()
                .filter(|c| c.len() == 17)
                .and_then(|c| {
                    c.get(..13)?
                        .eq_ignore_ascii_case("KOOPHONE.API.")
                        .then(|| c.get(13..))?
                });
            match documented {
                Some("1000" | "1001" | "4001") => {
                    assert!(!error.is_retryable(), "{:?} is retryable", e.error_code);
                }
                Some("9999") => assert!(error.is_retryable(), "9999 is not retryable"),
                _ => {}
            }
        }
    }
}

/// `Retry-After` is read from the first such header, as delta-seconds or an
/// HTTP-date, for errors that may be retried later (service errors other than
/// redirects, and 429); others carry none.
fn check_retry_after(response: &Response<&[u8]>, error: &ApiError) {
    let found = error.retry_after();
    if let Some(after) = found {
        // Neither form may panic, whatever was parsed.
        let _ = after.to_string();
        let _ = after.delay_from(SystemTime::UNIX_EPOCH);
        let _ = after
            .delay_from(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(u32::MAX.into()));
    }
    let reads_it = match error {
        ApiError::Throttled(_) => true,
        ApiError::Service(_) => !response.status().is_redirection(),
        _ => false,
    };
    if !reads_it {
        assert_eq!(found, None, "{} carries a retry-after", error.kind());
        return;
    }
    let raw = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let expected = match raw {
        None | Some("") => None,
        Some(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => Some(RetryAfter::Delay(
            std::time::Duration::from_secs(digits.parse().unwrap_or(u64::MAX)),
        )),
        Some(date) => httpdate::parse_http_date(date).ok().map(|at| {
            let sent = response
                .headers()
                .get(DATE)
                .and_then(|d| d.to_str().ok())
                .and_then(|d| httpdate::parse_http_date(d.trim()).ok());
            match sent {
                Some(sent) => RetryAfter::Delay(at.duration_since(sent).unwrap_or_default()),
                None => RetryAfter::At(at),
            }
        }),
    };
    assert_eq!(found, expected, "retry-after {raw:?} read wrongly");
}

/// The fields of one operation, as a caller typed them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fields<'a> {
    /// ShowProgress.
    Progress {
        /// `user_id`.
        user_id: &'a str,
        /// `instance_id`.
        instance_id: &'a str,
    },
    /// ShowInstanceStatus.
    Status {
        /// `project_id`.
        project_id: &'a str,
        /// `instance_id` (the API's `{id}`).
        instance_id: &'a str,
    },
}

/// Everything request building reads, as a caller typed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildInput<'a> {
    /// The base URL.
    pub endpoint: &'a str,
    /// Whether plain http to a non-loopback host was allowed.
    pub allow_http: bool,
    /// The IAM token.
    pub token: &'a str,
    /// A user agent, or the default.
    pub user_agent: Option<&'a str>,
    /// The operation's fields.
    pub fields: Fields<'a>,
}

/// Request building from any text: either a typed input error naming the
/// field (whose message repeats no input), or a request that is valid HTTP
/// — a request target of URI characters only, header values of visible
/// ASCII — with the documented method, headers and body, and every path
/// parameter one percent-encoded segment that decodes back to its value.
pub fn build_request(input: BuildInput<'_>) -> Result<Request<Vec<u8>>, InvalidInput> {
    let endpoint = Endpoint::parse_with(input.endpoint, input.allow_http);
    let endpoint = match endpoint {
        Ok(endpoint) => {
            check_endpoint(&endpoint, input.allow_http);
            endpoint
        }
        Err(error) => {
            check_endpoint_error(input.endpoint, &error);
            return Err(error);
        }
    };
    let token = match Token::new(input.token) {
        Ok(token) => {
            assert_eq!(token.expose_secret(), input.token);
            assert_eq!(format!("{token:?}"), "Token(<redacted>)");
            token
        }
        Err(error) => {
            check_header_text_error("token", &error);
            return Err(error);
        }
    };
    let mut ctx = RequestContext::new(endpoint.clone(), token);
    if let Some(user_agent) = input.user_agent {
        ctx = match ctx.with_user_agent(user_agent) {
            Ok(ctx) => ctx,
            Err(error) => {
                check_header_text_error("user_agent", &error);
                return Err(error);
            }
        };
    }
    let request = match input.fields {
        Fields::Progress {
            user_id,
            instance_id,
        } => {
            let valid = |v: &str| {
                !v.is_empty()
                    && !v.chars().any(char::is_control)
                    && v.chars().count() <= MAX_PROGRESS_ID_CHARS
            };
            let op = ShowProgress::new(user_id, instance_id);
            assert_eq!(op.is_ok(), valid(user_id) && valid(instance_id), "{op:?}");
            let op = op?;
            let request = op
                .build_request(&ctx)
                .expect("validated ShowProgress fields must build");
            check_progress_request(&request, &endpoint, user_id, instance_id);
            request
        }
        Fields::Status {
            project_id,
            instance_id,
        } => {
            let valid = |v: &str| {
                !v.is_empty() && !v.chars().any(char::is_control) && v != "." && v != ".."
            };
            let op = ShowInstanceStatus::new(project_id, instance_id);
            assert_eq!(
                op.is_ok(),
                valid(project_id) && valid(instance_id),
                "{op:?}"
            );
            let op = op?;
            let request = op
                .build_request(&ctx)
                .expect("validated ShowInstanceStatus fields must build");
            check_status_request(&request, &endpoint, project_id, instance_id);
            request
        }
    };
    check_wire_form(&request, &endpoint, input);
    Ok(request)
}

fn check_endpoint(endpoint: &Endpoint, allow_http: bool) {
    let again = Endpoint::parse_with(endpoint.as_str(), allow_http);
    assert_eq!(
        again.as_ref(),
        Ok(endpoint),
        "normalised endpoint does not parse to itself"
    );
    assert!(
        endpoint.is_https() || endpoint.is_loopback() || allow_http,
        "plain http to {} accepted",
        endpoint.host()
    );
    let _ = endpoint.origin();
    assert!(!endpoint.path_prefix().ends_with('/'));
}

fn check_endpoint_error(url: &str, error: &InvalidInput) {
    assert_eq!(error.field, "endpoint", "{error:?}");
    let text = error.to_string();
    assert!(!text.chars().any(char::is_control), "{text:?}");
    // A password in the user-info never shows. Only a secret with a colon
    // followed by something else is looked for: the messages hold no such text.
    if let Some((_, rest)) = url.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if let Some((user_info, _)) = authority.rsplit_once('@') {
            let secret = !user_info.contains(char::is_whitespace)
                && user_info
                    .split_once(':')
                    .is_some_and(|(_, password)| !password.is_empty());
            if secret {
                assert!(
                    !text.contains(user_info),
                    "endpoint error repeats the user-info: {text}"
                );
            }
        }
    }
}

/// Header-text refusals say why in fixed words, never repeating the value.
fn check_header_text_error(field: &str, error: &InvalidInput) {
    assert_eq!(error.field, field, "{error:?}");
    assert!(
        matches!(
            error.reason,
            InvalidReason::Empty
                | InvalidReason::ControlCharacter
                | InvalidReason::NotAscii
                | InvalidReason::SurroundingWhitespace
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!("invalid {field}: {}", error.reason)
    );
}

fn check_progress_request(
    request: &Request<Vec<u8>>,
    endpoint: &Endpoint,
    user_id: &str,
    instance_id: &str,
) {
    assert_eq!(request.method(), http::Method::POST);
    assert_eq!(
        request.uri().path(),
        format!("{}/v1/instances/prepare-progress", endpoint.path_prefix())
    );
    assert_eq!(
        request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .map(HeaderValue::as_bytes),
        Some(&b"application/json"[..])
    );
    let body: Value = serde_json::from_slice(request.body()).expect("request body is JSON");
    let expected = serde_json::json!({ "user_id": user_id, "instance_id": instance_id });
    assert_eq!(body, expected, "request body does not carry the ids");
}

fn check_status_request(
    request: &Request<Vec<u8>>,
    endpoint: &Endpoint,
    project_id: &str,
    instance_id: &str,
) {
    assert_eq!(request.method(), http::Method::GET);
    assert!(request.body().is_empty());
    let path = request.uri().path();
    let own = path
        .strip_prefix(endpoint.path_prefix())
        .expect("request path keeps the endpoint prefix");
    let segments: Vec<&str> = own.split('/').collect();
    let ["", "v1", project, "instances", id, "status"] = segments[..] else {
        panic!("path segments not intact: {path:?}");
    };
    for (segment, value) in [(project, project_id), (id, instance_id)] {
        let decoded = percent_encoding::percent_decode_str(segment).decode_utf8();
        assert_eq!(
            decoded.as_deref(),
            Ok(value),
            "segment {segment:?} does not decode back"
        );
        let encoded_ok = segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'%'));
        assert!(encoded_ok, "segment {segment:?} has unencoded characters");
        assert!(
            percent_hex_is_upper(segment),
            "segment {segment:?} has lower-case escapes"
        );
        assert!(segment != "." && segment != "..", "dot segment {segment:?}");
    }
}

fn percent_hex_is_upper(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'%')
        .all(|(i, _)| {
            bytes.get(i + 1..i + 3).is_some_and(|hex| {
                hex.iter()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
            })
        })
}

/// What a server reads: the request line and headers are valid HTTP/1.1.
fn check_wire_form(request: &Request<Vec<u8>>, endpoint: &Endpoint, input: BuildInput<'_>) {
    let uri = request.uri();
    assert_eq!(uri.scheme_str(), Some(endpoint.scheme()));
    assert_eq!(uri.host(), Some(endpoint.host()));
    assert_eq!(uri.port_u16(), endpoint.port());
    assert_eq!(uri.query(), None, "a query appeared");
    let reparsed: http::Uri = uri.to_string().parse().expect("the url parses back");
    assert_eq!(&reparsed, uri, "the url does not parse back to itself");

    // RFC 3986 path characters: pchar and '/'; '%' only before two hex digits.
    let target = uri.path().as_bytes();
    for (i, b) in target.iter().enumerate() {
        let allowed = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(b);
        assert!(allowed, "request target byte {b:#04x} in {:?}", uri.path());
        if *b == b'%' {
            let hex = target.get(i + 1..i + 3).unwrap_or_default();
            assert!(
                hex.len() == 2 && hex.iter().all(u8::is_ascii_hexdigit),
                "bad escape in {:?}",
                uri.path()
            );
        }
    }
    assert!(
        target.starts_with(b"/"),
        "request target does not start with '/'"
    );

    for (name, value) in request.headers() {
        let bytes = value.as_bytes();
        let visible = bytes
            .iter()
            .all(|b| (0x20..0x7f).contains(b) || *b == b'\t');
        assert!(
            visible && !bytes.is_empty(),
            "header {name} is not visible ascii"
        );
        assert!(
            !bytes.starts_with(b" ") && !bytes.ends_with(b" "),
            "header {name} has surrounding whitespace"
        );
    }
    let token = request
        .headers()
        .get("x-auth-token")
        .expect("x-auth-token is sent");
    assert_eq!(token.as_bytes(), input.token.as_bytes());
    assert!(token.is_sensitive(), "the token is not marked sensitive");
    let user_agent = input.user_agent.unwrap_or(DEFAULT_USER_AGENT);
    assert_eq!(
        request
            .headers()
            .get(http::header::USER_AGENT)
            .map(HeaderValue::as_bytes),
        Some(user_agent.as_bytes())
    );

    // The request's Debug hides the token: compare with the same request
    // carrying another (sensitive) token, so a token that also appears
    // elsewhere (the header's name, the url) is not a false alarm.
    let mut without = Request::new(request.body().clone());
    *without.method_mut() = request.method().clone();
    *without.uri_mut() = request.uri().clone();
    *without.headers_mut() = request.headers().clone();
    let mut placeholder = HeaderValue::from_static("-");
    placeholder.set_sensitive(true);
    without.headers_mut().insert("x-auth-token", placeholder);
    if !format!("{without:?}").contains(input.token) {
        assert!(
            !format!("{request:?}").contains(input.token),
            "Debug shows the token"
        );
    }
}

/// The condition a fuzzed wait runs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitTarget {
    /// ShowProgress until `normal` ([`UntilReady`]).
    Ready,
    /// ShowInstanceStatus until this state ([`UntilState`]).
    State(InstanceState),
    /// One ShowProgress call with the waiter's retries ([`Once`]).
    OnceProgress,
    /// One ShowInstanceStatus call with the waiter's retries ([`Once`]).
    OnceStatus,
}

/// The waiter fed the script's responses, transport errors and clock steps,
/// with every check of [`Script::run`]: it never panics, never schedules a
/// wake at or before now, never sends early or twice, and is done by its
/// deadline. Returns the report's request count.
pub fn wait(script: &Script, target: WaitTarget) -> u32 {
    let start = Instant::now();
    let polls = match target {
        WaitTarget::Ready => script
            .run(example_progress(), UntilReady, start)
            .map(|r| r.polls),
        WaitTarget::State(state) => script
            .run(example_status(), UntilState::new(state), start)
            .map(|r| r.polls),
        WaitTarget::OnceProgress => script.run(example_progress(), Once, start).map(|r| r.polls),
        WaitTarget::OnceStatus => script.run(example_status(), Once, start).map(|r| r.polls),
    };
    match polls {
        Ok(polls) => polls,
        Err(violation) => panic!("{violation}"),
    }
}
