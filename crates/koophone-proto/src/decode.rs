//! Response decoding for both operations: the one place where bytes become outcomes.
//!
//! Success bodies are read into borrowed structs: strings stay in the body,
//! unknown fields are skipped without being stored, so decoding a ShowProgress
//! success allocates nothing. Only error paths build owned strings. (Two
//! exceptions, both rare: a string with escapes is unescaped into an owned
//! copy, and serde_json keeps one scratch buffer to skip an unknown value
//! nested two or more levels deep.)
//!
//! Every status maps to one outcome: 2xx is decoded by the operation, 1xx is
//! malformed, 3xx is a service error naming the redirect, 401 unauthorized,
//! 429 throttled, any other status a service error from the shared error body.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use http::header::{DATE, LOCATION, RETRY_AFTER};
use http::{HeaderMap, Response};
use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::error::Category;

use crate::error::{ApiError, Malformed, RetryAfter, ServiceError, Throttled};
use crate::model::{ErrorStatus, InstanceState, InstanceStatus, PrepareStatus, Progress};

/// The most body text an error carries (lossy UTF-8, cut on a character boundary).
pub const SNIPPET_MAX_BYTES: usize = 256;

/// Malformed reasons quote serde_json, which may quote the body: keep them short.
pub const REASON_MAX_BYTES: usize = 200;

const X_REQUEST_ID: &str = "x-request-id";

/// Decode a ShowProgress response.
pub(crate) fn progress(response: &Response<&[u8]>) -> Result<Progress, ApiError> {
    if !response.status().is_success() {
        return Err(failure(response));
    }
    let parsed = match serde_json::from_slice::<MapOnly<ProgressBody<'_>>>(response.body()) {
        Ok(MapOnly(parsed)) => parsed,
        Err(e) => return Err(unparsable_success(response, &e)),
    };
    if let Some(JsonStr(code)) = parsed.error_code.as_ref().filter(|code| code.0 != "0") {
        return Err(ApiError::Service(service_error(response, Some(code))));
    }
    let Some(MapOnly(data)) = parsed.data else {
        return Err(malformed(response, "success response without \"data\""));
    };
    Ok(Progress {
        status: PrepareStatus::from_code(data.status),
        waiting_count: data.waiting_count,
    })
}

/// Decode a ShowInstanceStatus response.
pub(crate) fn instance_status(response: &Response<&[u8]>) -> Result<InstanceStatus, ApiError> {
    if !response.status().is_success() {
        return Err(failure(response));
    }
    let parsed = match serde_json::from_slice::<MapOnly<StatusBody<'_>>>(response.body()) {
        Ok(MapOnly(parsed)) => parsed,
        Err(e) => return Err(unparsable_success(response, &e)),
    };
    if let Some(JsonStr(code)) = parsed.error_code.as_ref().filter(|code| code.0 != "0") {
        return Err(ApiError::Service(service_error(response, Some(code))));
    }
    let Some(JsonStr(state)) = parsed.state else {
        return Err(malformed(response, "success response without \"state\""));
    };
    let owned = |text: Option<JsonStr<'_>>| text.map(|JsonStr(text)| text.into_owned());
    Ok(InstanceStatus {
        state: InstanceState::parse(&state),
        operation_state: owned(parsed.operation_state),
        error: parsed.error.map(|MapOnly(error)| ErrorStatus {
            error_code: owned(error.error_code),
            error_msg: owned(error.error_msg),
            error_type: owned(error.error_type),
        }),
    })
}

// ---- success bodies: strict types, borrowed strings -------------------------

#[derive(Deserialize)]
struct ProgressBody<'a> {
    data: Option<MapOnly<ProgressData>>,
    #[serde(borrow)]
    error_code: Option<JsonStr<'a>>,
}

#[derive(Deserialize)]
struct ProgressData {
    status: i64,
    #[serde(rename = "waitingCount")]
    waiting_count: Option<i64>,
}

#[derive(Deserialize)]
struct StatusBody<'a> {
    #[serde(borrow)]
    state: Option<JsonStr<'a>>,
    #[serde(borrow)]
    operation_state: Option<JsonStr<'a>>,
    #[serde(borrow)]
    error: Option<MapOnly<StatusErrorBody<'a>>>,
    #[serde(borrow)]
    error_code: Option<JsonStr<'a>>,
}

#[derive(Deserialize)]
struct StatusErrorBody<'a> {
    #[serde(borrow)]
    error_code: Option<JsonStr<'a>>,
    #[serde(borrow)]
    error_msg: Option<JsonStr<'a>>,
    #[serde(borrow)]
    error_type: Option<JsonStr<'a>>,
}

/// A struct that only a JSON object may fill: derived structs would also
/// accept an array, filling fields by position.
struct MapOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for MapOnly<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a json object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(MapOnly)
    }
}

/// A JSON string, borrowed from the body unless it had escapes.
///
/// (`#[serde(borrow)]` alone borrows a `Cow<str>` field but not an
/// `Option<Cow<str>>`, which would always allocate.)
struct JsonStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for JsonStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;

        impl<'de> Visitor<'de> for StrVisitor {
            type Value = Cow<'de, str>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }

            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_owned()))
            }

            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v))
            }
        }

        deserializer.deserialize_str(StrVisitor).map(JsonStr)
    }
}

// ---- error bodies: every shape the official SDKs accept, any value type -----

/// Text from an error body: strings as received, numbers as written, anything
/// else (objects, arrays, booleans, null) counts as absent. Error bodies are
/// read leniently: the status already says it failed, the body only adds detail.
#[derive(Default)]
struct Lenient<'a>(Option<Cow<'a, str>>);

struct LenientVisitor;

impl<'de> Visitor<'de> for LenientVisitor {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any json value")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Lenient<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LenientVisitor).map(Lenient)
    }
}

/// The top level of an error body: `error_code/error_msg`, `code/message`,
/// `errorCode/errorMsg`, plus `request_id`, `error_type` and a nested `error`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct ErrorFields<'a> {
    #[serde(borrow)]
    error_code: Lenient<'a>,
    #[serde(borrow)]
    error_msg: Lenient<'a>,
    #[serde(borrow)]
    code: Lenient<'a>,
    #[serde(borrow)]
    message: Lenient<'a>,
    #[serde(borrow, rename = "errorCode")]
    error_code_camel: Lenient<'a>,
    #[serde(borrow, rename = "errorMsg")]
    error_msg_camel: Lenient<'a>,
    #[serde(borrow)]
    request_id: Lenient<'a>,
    #[serde(borrow)]
    error_type: Lenient<'a>,
    #[serde(borrow)]
    error: Nested<'a>,
}

/// One level of nesting: `{"error": {"code", "message"}}` and its spellings.
#[derive(Deserialize, Default)]
#[serde(default)]
struct NestedFields<'a> {
    #[serde(borrow)]
    error_code: Lenient<'a>,
    #[serde(borrow)]
    error_msg: Lenient<'a>,
    #[serde(borrow)]
    code: Lenient<'a>,
    #[serde(borrow)]
    message: Lenient<'a>,
    #[serde(borrow, rename = "errorCode")]
    error_code_camel: Lenient<'a>,
    #[serde(borrow, rename = "errorMsg")]
    error_msg_camel: Lenient<'a>,
    #[serde(borrow)]
    request_id: Lenient<'a>,
    #[serde(borrow)]
    error_type: Lenient<'a>,
}

/// The `error` member of an error body: an object, a bare message, or nothing usable.
#[derive(Default)]
enum Nested<'a> {
    #[default]
    Absent,
    Fields(NestedFields<'a>),
    Text(Cow<'a, str>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Nested<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NestedVisitor;

        impl<'de> Visitor<'de> for NestedVisitor {
            type Value = Nested<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any json value")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                NestedFields::deserialize(MapAccessDeserializer::new(map)).map(Nested::Fields)
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Nested::Text(Cow::Borrowed(v)))
            }

            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Nested::Text(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Nested::Text(Cow::Owned(v)))
            }

            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Nested::Absent)
            }

            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Nested::Absent)
            }

            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Nested::Absent)
            }

            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Nested::Absent)
            }

            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Nested::Absent)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Nested::Absent)
            }
        }

        deserializer.deserialize_any(NestedVisitor)
    }
}

/// What an error body says, once its shape has been resolved.
#[derive(Default)]
struct ErrorInfo {
    code: Option<String>,
    message: Option<String>,
    request_id: Option<String>,
    error_type: Option<String>,
}

/// The first non-empty candidate: callers list the top level before the nested
/// object, and in each the documented `error_code/error_msg` before other spellings.
/// Each is capped at [`FIELD_MAX_BYTES`]: a hostile body must not turn into a
/// megabyte-long message that every log line and terminal then repeats.
fn first<'a>(candidates: impl IntoIterator<Item = Option<Cow<'a, str>>>) -> Option<String> {
    let text = candidates
        .into_iter()
        .flatten()
        .find(|text| !text.trim().is_empty())?;
    let mut end = text.len().min(FIELD_MAX_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Some(text[..end].to_owned())
}

/// The most of an error body's code, message, request id or type that is kept.
pub const FIELD_MAX_BYTES: usize = 1024;

/// Read an error body; `None` when it is not a JSON object. A body that is not
/// UTF-8 (a gateway answering in GBK or Latin-1) is read lossily, so its error
/// code still decides what happens next.
fn error_info(body: &[u8]) -> Option<ErrorInfo> {
    let lossy;
    let body = match std::str::from_utf8(body) {
        Ok(_) => body,
        Err(_) => {
            lossy = String::from_utf8_lossy(body).into_owned();
            lossy.as_bytes()
        }
    };
    error_info_of(body).or_else(|| {
        // serde's derive refuses an object that repeats a member; a `Value`
        // keeps the last one, as most JSON readers do, so the code still counts.
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        error_info_of(&serde_json::to_vec(&value).ok()?)
    })
}

fn error_info_of(body: &[u8]) -> Option<ErrorInfo> {
    let MapOnly(top) = serde_json::from_slice::<MapOnly<ErrorFields<'_>>>(body).ok()?;
    let (nested, nested_text) = match top.error {
        Nested::Fields(fields) => (fields, None),
        Nested::Text(text) => (NestedFields::default(), Some(text)),
        Nested::Absent => (NestedFields::default(), None),
    };
    Some(ErrorInfo {
        code: first([
            top.error_code.0,
            top.code.0,
            top.error_code_camel.0,
            nested.error_code.0,
            nested.code.0,
            nested.error_code_camel.0,
        ]),
        message: first([
            top.error_msg.0,
            top.message.0,
            top.error_msg_camel.0,
            nested.error_msg.0,
            nested.message.0,
            nested.error_msg_camel.0,
            nested_text,
        ]),
        // Trimmed like the `X-Request-Id` header's, so one id prints one way.
        request_id: first([top.request_id.0, nested.request_id.0]).map(|id| id.trim().to_owned()),
        error_type: first([top.error_type.0, nested.error_type.0]),
    })
}

// ---- outcomes ----------------------------------------------------------------

/// Any status other than 2xx.
fn failure(response: &Response<&[u8]>) -> ApiError {
    match response.status().as_u16() {
        100..=199 => malformed(response, "unexpected informational status"),
        300..=399 => ApiError::Service(redirect(response)),
        401 => ApiError::Unauthorized(service_error(response, None)),
        429 => ApiError::Throttled(throttled(response)),
        _ => ApiError::Service(service_error(response, None)),
    }
}

/// A 2xx body that did not fit: still a service error if it carries a
/// non-`"0"` error code, malformed otherwise.
fn unparsable_success(response: &Response<&[u8]>, error: &serde_json::Error) -> ApiError {
    let failed_code = error_info(response.body())
        .and_then(|info| info.code)
        .filter(|code| code != "0");
    if let Some(code) = failed_code {
        return ApiError::Service(service_error(response, Some(&code)));
    }
    let what = match error.classify() {
        Category::Data => "unexpected json",
        Category::Io | Category::Syntax | Category::Eof => "invalid json",
    };
    let mut reason = format!("{what}: {error}");
    truncate_on_char_boundary(&mut reason, REASON_MAX_BYTES);
    malformed(response, reason)
}

fn malformed(response: &Response<&[u8]>, reason: impl Into<String>) -> ApiError {
    ApiError::Malformed(Malformed {
        status: response.status(),
        reason: reason.into(),
        snippet: snippet(response.body()),
        request_id: header_text(response.headers(), X_REQUEST_ID),
    })
}

/// A service error from the shared error body; `code` overrides the body's
/// (a 2xx whose strict parse already found it).
fn service_error(response: &Response<&[u8]>, code: Option<&str>) -> ServiceError {
    let headers = response.headers();
    let info = error_info(response.body()).unwrap_or_default();
    ServiceError {
        status: response.status(),
        error_code: code.map(str::to_owned).or(info.code),
        message: info
            .message
            .unwrap_or_else(|| snippet_message(response.body())),
        request_id: header_text(headers, X_REQUEST_ID).or(info.request_id),
        error_type: info.error_type,
        retry_after: retry_after(headers),
    }
}

fn throttled(response: &Response<&[u8]>) -> Throttled {
    let headers = response.headers();
    let info = error_info(response.body()).unwrap_or_default();
    Throttled {
        message: info
            .message
            .unwrap_or_else(|| snippet_message(response.body())),
        retry_after: retry_after(headers),
        request_id: header_text(headers, X_REQUEST_ID).or(info.request_id),
    }
}

/// Drivers do not follow redirects (the token would go along); a 3xx that
/// reaches the core is an error naming where it pointed.
fn redirect(response: &Response<&[u8]>) -> ServiceError {
    let headers = response.headers();
    let message = match header_text(headers, LOCATION.as_str()) {
        Some(location) => format!("unexpected redirect to {location}"),
        None => "unexpected redirect without a location".to_owned(),
    };
    ServiceError {
        status: response.status(),
        error_code: None,
        message,
        request_id: header_text(headers, X_REQUEST_ID),
        error_type: None,
        retry_after: None,
    }
}

/// `Retry-After` as delta-seconds or an HTTP-date. A date becomes a delay
/// relative to the response's own `Date` when it has one (no clock is read);
/// a value that is neither form is ignored.
fn retry_after(headers: &HeaderMap) -> Option<RetryAfter> {
    let raw = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        // Only overflow can fail here: a delay beyond u64 seconds is "never".
        let seconds = raw.parse::<u64>().unwrap_or(u64::MAX);
        return Some(RetryAfter::Delay(Duration::from_secs(seconds)));
    }
    let at = httpdate::parse_http_date(raw).ok()?;
    let sent = headers
        .get(DATE)
        .and_then(|date| date.to_str().ok())
        .and_then(|date| httpdate::parse_http_date(date.trim()).ok());
    Some(match sent {
        Some(sent) => RetryAfter::Delay(at.duration_since(sent).unwrap_or(Duration::ZERO)),
        None => RetryAfter::At(at),
    })
}

/// A header as bounded lossy text, `None` when absent or blank.
fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    let text = snippet_message(headers.get(name)?.as_bytes());
    (!text.is_empty()).then_some(text)
}

/// The message of an error whose body had none: the body itself, bounded and trimmed.
fn snippet_message(body: &[u8]) -> String {
    let text = snippet(body);
    let trimmed = text.trim();
    if trimmed.len() == text.len() {
        text
    } else {
        trimmed.to_owned()
    }
}

/// At most [`SNIPPET_MAX_BYTES`] bytes of `bytes` as lossy UTF-8: invalid
/// sequences become U+FFFD and the cut never splits a character.
pub(crate) fn snippet(bytes: &[u8]) -> String {
    // One allocation for the usual, valid and short, text.
    let mut out = String::with_capacity(bytes.len().min(SNIPPET_MAX_BYTES));
    for chunk in bytes.utf8_chunks() {
        if out.len() + chunk.valid().len() <= SNIPPET_MAX_BYTES {
            out.push_str(chunk.valid());
        } else {
            for c in chunk.valid().chars() {
                if out.len() + c.len_utf8() > SNIPPET_MAX_BYTES {
                    return out;
                }
                out.push(c);
            }
        }
        if !chunk.invalid().is_empty() {
            if out.len() + char::REPLACEMENT_CHARACTER.len_utf8() > SNIPPET_MAX_BYTES {
                return out;
            }
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
    out
}

fn truncate_on_char_boundary(text: &mut String, max: usize) {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderValue, StatusCode};

    fn response<'b>(status: u16, headers: &[(&str, &[u8])], body: &'b [u8]) -> Response<&'b [u8]> {
        let mut r = Response::new(body);
        *r.status_mut() = StatusCode::from_u16(status).unwrap();
        for (name, value) in headers {
            r.headers_mut().append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        r
    }

    #[test]
    fn error_fields_are_capped_on_a_character_boundary() {
        let long = "é".repeat(FIELD_MAX_BYTES);
        let body =
            format!(r#"{{"error_code":"{long}","error_msg":"{long}","request_id":"{long}"}}"#);
        let response = Response::builder()
            .status(500)
            .body(body.as_bytes())
            .expect("valid response");
        let ApiError::Service(e) = failure(&response) else {
            panic!("a 500 with a JSON body is a service error");
        };
        for field in [
            e.error_code.as_deref(),
            Some(e.message.as_str()),
            e.request_id.as_deref(),
        ] {
            let field = field.expect("field kept");
            assert_eq!(field.len(), FIELD_MAX_BYTES);
            assert!(field.chars().all(|c| c == 'é'));
        }
    }

    #[test]
    fn snippet_is_bounded_lossy_and_cut_on_a_character() {
        assert_eq!(snippet(b"plain"), "plain");
        assert_eq!(snippet(b"a\xffb\xc3"), "a\u{FFFD}b\u{FFFD}");
        let mut body = vec![b'x'; 255];
        body.extend_from_slice("é".as_bytes());
        let s = snippet(&body);
        assert_eq!(s.len(), 255);
        let s = snippet(&[0xff; 1000]);
        assert!(s.len() <= SNIPPET_MAX_BYTES && s.len() > 250, "{}", s.len());
        assert_eq!(snippet(&"€".repeat(200).into_bytes()).len(), 255);
    }

    #[test]
    fn invalid_utf8_error_body_keeps_status_and_snippet() {
        let r = response(502, &[], b"<html>\xff\xfe Bad gateway</html>\n");
        let ApiError::Service(e) = progress(&r).unwrap_err() else {
            panic!()
        };
        assert_eq!(e.status, StatusCode::BAD_GATEWAY);
        assert_eq!(e.error_code, None);
        assert_eq!(e.message, "<html>\u{FFFD}\u{FFFD} Bad gateway</html>");
    }

    #[test]
    fn malformed_success_keeps_a_bounded_snippet() {
        let body = vec![b'{'; 10_000];
        let ApiError::Malformed(m) =
            progress(&response(200, &[("x-request-id", b"r1")], &body)).unwrap_err()
        else {
            panic!()
        };
        assert_eq!(m.snippet.len(), SNIPPET_MAX_BYTES);
        assert!(m.reason.len() <= REASON_MAX_BYTES);
        assert_eq!(m.request_id.as_deref(), Some("r1"));
    }

    #[test]
    fn header_values_that_are_not_text_do_not_break_decoding() {
        let r = response(
            503,
            &[("x-request-id", b"id-\xff"), ("retry-after", b"\xff12")],
            b"{\"error_code\":\"X\"}",
        );
        let ApiError::Service(e) = instance_status(&r).unwrap_err() else {
            panic!()
        };
        assert_eq!(e.request_id.as_deref(), Some("id-\u{FFFD}"));
        assert_eq!(e.retry_after, None);
        assert_eq!(e.error_code.as_deref(), Some("X"));
        // No message in the body: the body itself stands in for it.
        assert_eq!(e.message, "{\"error_code\":\"X\"}");
    }

    #[test]
    fn retry_after_forms() {
        let after = |headers: &[(&str, &[u8])]| retry_after(response(429, headers, b"").headers());
        assert_eq!(
            after(&[("retry-after", b" 7 ")]),
            Some(RetryAfter::Delay(Duration::from_secs(7)))
        );
        assert_eq!(
            after(&[("retry-after", b"99999999999999999999999")]),
            Some(RetryAfter::Delay(Duration::from_secs(u64::MAX)))
        );
        assert_eq!(after(&[("retry-after", b"-1")]), None);
        assert_eq!(after(&[("retry-after", b"")]), None);
        assert_eq!(after(&[]), None);
        let date = b"Wed, 21 Oct 2015 07:28:00 GMT";
        let at = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(after(&[("retry-after", date)]), Some(RetryAfter::At(at)));
        assert_eq!(
            after(&[
                ("retry-after", date),
                ("date", b"Wed, 21 Oct 2015 07:27:30 GMT")
            ]),
            Some(RetryAfter::Delay(Duration::from_secs(30)))
        );
        // A date already past when the response was sent: no delay.
        assert_eq!(
            after(&[
                ("retry-after", date),
                ("date", b"Wed, 21 Oct 2015 08:00:00 GMT")
            ]),
            Some(RetryAfter::Delay(Duration::ZERO))
        );
        // An unreadable Date leaves the absolute form.
        assert_eq!(
            after(&[("retry-after", date), ("date", b"yesterday")]),
            Some(RetryAfter::At(at))
        );
    }

    #[test]
    fn display_is_one_line_even_for_html_bodies() {
        let r = response(
            502,
            &[("x-request-id", b"abc")],
            b"<html>\n<body>\r\n\x1b[31mBad\tGateway\n</body></html>\n",
        );
        let text = progress(&r).unwrap_err().to_string();
        assert!(!text.chars().any(char::is_control), "{text:?}");
        assert!(text.starts_with("http 502: <html>"), "{text}");
        assert!(text.ends_with("(request id abc)"), "{text}");
    }

    #[test]
    fn arrays_never_fill_structs_by_position() {
        for body in [&b"[{\"status\":0},\"0\"]"[..], b"{\"data\":[0,1]}"] {
            let r = response(200, &[], body);
            assert!(
                matches!(progress(&r), Err(ApiError::Malformed(_))),
                "{body:?}"
            );
        }
        let r = response(
            200,
            &[],
            b"{\"state\":\"running\",\"error\":[\"a\",\"b\",\"c\"]}",
        );
        assert!(matches!(instance_status(&r), Err(ApiError::Malformed(_))));
    }
}
