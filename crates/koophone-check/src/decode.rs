//! Response decoding oracles: decoding is total, agrees with the body, and
//! every error keeps the promises of [`check_error`].

use std::time::SystemTime;

use http::header::{DATE, RETRY_AFTER};
use http::{HeaderName, HeaderValue, Response, StatusCode};
use serde_json::Value;

use koophone_proto::{
    ApiError, BatchPrepareInstances, FIELD_MAX_BYTES, InstanceState, InstanceStatus, Operation,
    PhoneStatus, PrepareStatus, PreparedInstances, Progress, REASON_MAX_BYTES, RetryAfter,
    SNIPPET_MAX_BYTES, ShowInstanceStatus, ShowProgress,
};

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

/// The user of the documented examples.
const EXAMPLE_USER: &str = "1008600000104285462";

/// The ids the decoding property sends in its BatchPrepareInstances call.
pub const PREPARE_EXAMPLE_IDS: [&str; 2] = ["iRJEVP9", "iQWERT1"];

/// The documented ShowProgress example.
pub fn example_progress() -> ShowProgress {
    ShowProgress::new(EXAMPLE_USER, "iRJEVP9").expect("documented example ids are valid")
}

/// A BatchPrepareInstances of the example user's [`PREPARE_EXAMPLE_IDS`].
pub fn example_prepare() -> BatchPrepareInstances {
    BatchPrepareInstances::new(EXAMPLE_USER, PREPARE_EXAMPLE_IDS).expect("example ids are valid")
}

/// A ShowInstanceStatus with example path parameters.
pub fn example_status() -> ShowInstanceStatus {
    ShowInstanceStatus::new("0605767a3300d5762fb7c0186d9e1779", "i-1")
        .expect("example path parameters are valid")
}

/// BatchPrepareInstances decoding is total and its outcome agrees with the
/// body: only a 2xx decodes, with one entry per id sent, in order, whose
/// status is the last one `data.status_list` gives that id (or none when it
/// gives none); every error keeps the promises of [`check_error`].
pub fn decode_prepared(response: &Response<&[u8]>) -> Result<PreparedInstances, ApiError> {
    let outcome = decode_checked(&example_prepare(), response, |top, prepared| {
        let Some(Value::Array(list)) = top.get("data").and_then(|d| d.get("status_list")) else {
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
    });
    // Also when the body is not one serde_json reads (see `json_object`).
    if let Ok(prepared) = &outcome {
        let ids: Vec<&str> = prepared
            .instances
            .iter()
            .map(|i| i.instance_id.as_str())
            .collect();
        assert_eq!(ids, PREPARE_EXAMPLE_IDS, "one entry per id sent, in order");
    }
    outcome
}

/// Decodes with `op` and checks the outcome: a success only from a 2xx
/// whose body has no failing `error_code`, its values as `agrees` finds them
/// in the body's top object; every error keeps the promises of
/// [`check_error`].
fn decode_checked<Op: Operation>(
    op: &Op,
    response: &Response<&[u8]>,
    agrees: impl FnOnce(&serde_json::Map<String, Value>, &Op::Output),
) -> Result<Op::Output, ApiError>
where
    Op::Output: PartialEq,
{
    let outcome = decode_both(op, response);
    match &outcome {
        Ok(output) => {
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
            agrees(&top, output);
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

/// ShowProgress decoding is total and its outcome agrees with the body:
/// only a 2xx decodes, and then only from `{"data":{"status":<int>}}` with no
/// failing `error_code`; every error keeps the promises of [`check_error`].
pub fn decode_progress(response: &Response<&[u8]>) -> Result<Progress, ApiError> {
    decode_checked(&example_progress(), response, |top, progress| {
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
    })
}

/// ShowInstanceStatus decoding is total and its outcome agrees with the body:
/// only a 2xx decodes, the state is kept exactly as received, and the
/// optional `operation_state` and `error` are those of the body.
pub fn decode_instance_status(response: &Response<&[u8]>) -> Result<InstanceStatus, ApiError> {
    decode_checked(&example_status(), response, |top, status| {
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
    })
}

/// One operation's decoding oracle, as a row of [`DECODERS`].
#[derive(Debug, Clone, Copy)]
pub struct Decoder {
    /// The operation's name.
    pub name: &'static str,
    /// Decodes a response with the operation's example and checks the
    /// outcome against the body; returns the error, if decoding failed.
    pub check: fn(&Response<&[u8]>) -> Option<ApiError>,
}

/// Every operation's decoding oracle. Adding an operation adds one row; the
/// `decode` fuzz target and [`decode_error`] pick up the row by themselves.
pub const DECODERS: &[Decoder] = &[
    Decoder {
        name: ShowProgress::NAME,
        check: |response| decode_progress(response).err(),
    },
    Decoder {
        name: ShowInstanceStatus::NAME,
        check: |response| decode_instance_status(response).err(),
    },
    Decoder {
        name: BatchPrepareInstances::NAME,
        check: |response| decode_prepared(response).err(),
    },
];

/// Error decoding with any status and headers: every operation reads a
/// non-2xx response into the same error, which keeps the promises of
/// [`check_error`]. Returns that error (`None` for a 2xx, which each
/// operation decodes in its own way, checked the same).
pub fn decode_error(response: &Response<&[u8]>) -> Option<ApiError> {
    let errors: Vec<(&str, Option<ApiError>)> = DECODERS
        .iter()
        .map(|decoder| (decoder.name, (decoder.check)(response)))
        .collect();
    if response.status().is_success() {
        return None;
    }
    let mut first: Option<ApiError> = None;
    for (name, error) in errors {
        let Some(error) = error else {
            panic!("{name} decoded a {}", response.status());
        };
        match &first {
            Some(first) => assert_eq!(
                first, &error,
                "{name} reads the error body differently from {}",
                DECODERS[0].name
            ),
            None => first = Some(error),
        }
    }
    first
}

/// The decode target's choice: `selector` picks a row of [`DECODERS`]
/// (modulo one more than their number); the extra value runs
/// [`decode_error`], every operation on the same response.
pub fn decode_any(selector: u8, response: &Response<&[u8]>) {
    match DECODERS.get(usize::from(selector) % (DECODERS.len() + 1)) {
        Some(decoder) => {
            let _ = (decoder.check)(response);
        }
        None => {
            let _ = decode_error(response);
        }
    }
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
        // The status match above already refused every other kind.
        other => panic!("no promises known for a {} error", other.kind()),
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
