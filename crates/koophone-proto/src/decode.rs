//! Response decoding for every operation: the one place where bytes become outcomes.
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
use crate::redact::{Redact, Redactor};

/// The most body text an error carries (lossy UTF-8, cut on a character boundary).
pub const SNIPPET_MAX_BYTES: usize = 256;

/// Malformed reasons quote serde_json, which may quote the body: keep them short.
pub const REASON_MAX_BYTES: usize = 200;

const X_REQUEST_ID: &str = "x-request-id";

/// Decode any operation's response: the shared status handling, the
/// operation's own success body (`decode_success`), and scrubbing of
/// network text.
pub(crate) fn response<T: Redact>(
    response: &Response<&[u8]>,
    redactor: &Redactor,
    decode_success: impl Fn(&[u8]) -> Result<T, SuccessError>,
) -> Result<T, ApiError> {
    if !response.status().is_success() {
        return Err(failure(response, redactor));
    }
    let body = *response.body();
    let decoded = decode_success(body).or_else(|first| match first.0 {
        // One rule for every body: a member repeated in an object keeps its
        // last value, as `serde_json::Value` and most JSON readers do
        // (serde's derive refuses the repeat). Only bodies the strict read
        // refused pay for this second read.
        Failure::Json(_) => match without_repeated_members(body) {
            Some(normalized) => decode_success(&normalized).map_err(|_| first),
            None => Err(first),
        },
        _ => Err(first),
    });
    match decoded {
        Ok(mut output) => {
            output.redact(redactor);
            Ok(output)
        }
        Err(SuccessError(Failure::Json(e))) => Err(unparsable_success(response, &e, redactor)),
        Err(SuccessError(Failure::ErrorCode(code))) => Err(ApiError::Service(service_error(
            response,
            Some(&code),
            redactor,
        ))),
        Err(SuccessError(Failure::Missing(field))) => Err(malformed(
            response,
            format!("success response without \"{field}\""),
            redactor,
        )),
    }
}

/// Why a 2xx body did not give the operation's output.
///
/// Made by [`Operation::decode_success`](crate::Operation::decode_success)
/// implementations: from a `serde_json::Error` (`?` converts it), for a
/// non-`"0"` `error_code`, or for a missing member.
#[derive(Debug)]
pub struct SuccessError(Failure);

#[derive(Debug)]
enum Failure {
    Json(serde_json::Error),
    ErrorCode(String),
    Missing(&'static str),
}

impl SuccessError {
    /// The body carries a failing `error_code` (anything but `"0"`): a
    /// service error even though the status said success.
    pub fn error_code(code: &str) -> SuccessError {
        SuccessError(Failure::ErrorCode(code.to_owned()))
    }

    /// A member the output needs is absent: malformed.
    pub fn missing(member: &'static str) -> SuccessError {
        SuccessError(Failure::Missing(member))
    }
}

impl From<serde_json::Error> for SuccessError {
    fn from(error: serde_json::Error) -> SuccessError {
        SuccessError(Failure::Json(error))
    }
}

/// The body re-written with each object's repeated members reduced to the
/// last; `None` when it is not JSON at all.
fn without_repeated_members(body: &[u8]) -> Option<Vec<u8>> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    serde_json::to_vec(&value).ok()
}

/// KooPhone's success envelope, `{"data": {..}, "error_code": "0", "error_msg": ".."}`:
/// its `data`, or why there is none.
pub(crate) fn koophone_data<'a, D: Deserialize<'a>>(body: &'a [u8]) -> Result<D, SuccessError> {
    let MapOnly(parsed) = serde_json::from_slice::<MapOnly<KooPhoneEnvelope<'a, D>>>(body)?;
    if let Some(JsonStr(code)) = parsed.error_code.as_ref().filter(|code| code.0 != "0") {
        return Err(SuccessError::error_code(code));
    }
    match parsed.data {
        Some(MapOnly(data)) => Ok(data),
        None => Err(SuccessError::missing("data")),
    }
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "D: Deserialize<'de>, 'de: 'a"))]
struct KooPhoneEnvelope<'a, D> {
    data: Option<MapOnly<D>>,
    #[serde(borrow)]
    error_code: Option<JsonStr<'a>>,
}

// ---- success bodies: strict types, borrowed strings -------------------------

/// A struct that only a JSON object may fill: derived structs would also
/// accept an array, filling fields by position.
pub(crate) struct MapOnly<T>(pub(crate) T);

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
pub(crate) struct JsonStr<'a>(pub(crate) Cow<'a, str>);

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

/// An error body's members: `error_code/error_msg`, `code/message`,
/// `errorCode/errorMsg`, plus `request_id`, `error_type` and a nested
/// `error` of the same shape (only its first level is read). Every member
/// borrows from the body (the one bound stands for a `borrow` on each).
#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct ErrorFields<'a> {
    error_code: Lenient<'a>,
    error_msg: Lenient<'a>,
    code: Lenient<'a>,
    message: Lenient<'a>,
    #[serde(rename = "errorCode")]
    error_code_camel: Lenient<'a>,
    #[serde(rename = "errorMsg")]
    error_msg_camel: Lenient<'a>,
    request_id: Lenient<'a>,
    error_type: Lenient<'a>,
    error: Nested<'a>,
}

/// The `error` member of an error body: an object, a bare message, or nothing usable.
#[derive(Default)]
enum Nested<'a> {
    #[default]
    Absent,
    Fields(Box<ErrorFields<'a>>),
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
                ErrorFields::deserialize(MapAccessDeserializer::new(map))
                    .map(|fields| Nested::Fields(Box::new(fields)))
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
/// Each is scrubbed, then capped at [`FIELD_MAX_BYTES`]: a hostile body must
/// not turn into a megabyte-long message that every log line and terminal
/// then repeats.
fn first<'a>(
    candidates: impl IntoIterator<Item = Option<Cow<'a, str>>>,
    redactor: &Redactor,
) -> Option<String> {
    let text = candidates
        .into_iter()
        .flatten()
        .find(|text| !text.trim().is_empty())?;
    Some(bounded(&text, FIELD_MAX_BYTES, redactor))
}

/// `text` scrubbed, then cut to at most `max` bytes on a character boundary.
/// Only the part that can survive the cut is scrubbed, with room for a
/// secret that straddles it.
fn bounded(text: &str, max: usize, redactor: &Redactor) -> String {
    let mut end = text.len().min(max.saturating_add(redactor.longest()));
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = redactor.scrub(&text[..end]).into_owned();
    truncate_on_char_boundary(&mut out, max);
    out
}

/// The most of an error body's code, message, request id or type that is kept.
pub const FIELD_MAX_BYTES: usize = 1024;

/// Read an error body; `None` when it is not a JSON object. A body that is not
/// UTF-8 (a gateway answering in GBK or Latin-1) is read lossily, so its error
/// code still decides what happens next.
fn error_info(body: &[u8], redactor: &Redactor) -> Option<ErrorInfo> {
    let lossy;
    let body = match std::str::from_utf8(body) {
        Ok(_) => body,
        Err(_) => {
            lossy = String::from_utf8_lossy(body).into_owned();
            lossy.as_bytes()
        }
    };
    error_info_of(body, redactor).or_else(|| {
        // The same rule as for success bodies: a repeated member keeps its last value.
        error_info_of(&without_repeated_members(body)?, redactor)
    })
}

fn error_info_of(body: &[u8], redactor: &Redactor) -> Option<ErrorInfo> {
    let MapOnly(top) = serde_json::from_slice::<MapOnly<ErrorFields<'_>>>(body).ok()?;
    let (nested, nested_text) = match top.error {
        Nested::Fields(fields) => (*fields, None),
        Nested::Text(text) => (ErrorFields::default(), Some(text)),
        Nested::Absent => (ErrorFields::default(), None),
    };
    Some(ErrorInfo {
        code: first(
            [
                top.error_code.0,
                top.code.0,
                top.error_code_camel.0,
                nested.error_code.0,
                nested.code.0,
                nested.error_code_camel.0,
            ],
            redactor,
        ),
        message: first(
            [
                top.error_msg.0,
                top.message.0,
                top.error_msg_camel.0,
                nested.error_msg.0,
                nested.message.0,
                nested.error_msg_camel.0,
                nested_text,
            ],
            redactor,
        ),
        // Trimmed like the `X-Request-Id` header's, so one id prints one way.
        request_id: first([top.request_id.0, nested.request_id.0], redactor)
            .map(|id| id.trim().to_owned()),
        error_type: first([top.error_type.0, nested.error_type.0], redactor),
    })
}

// ---- outcomes ----------------------------------------------------------------

/// Any status other than 2xx.
pub(crate) fn failure(response: &Response<&[u8]>, redactor: &Redactor) -> ApiError {
    match response.status().as_u16() {
        100..=199 => malformed(response, "unexpected informational status", redactor),
        300..=399 => ApiError::Service(redirect(response, redactor)),
        401 => ApiError::Unauthorized(service_error(response, None, redactor)),
        429 => ApiError::Throttled(throttled(response, redactor)),
        _ => ApiError::Service(service_error(response, None, redactor)),
    }
}

/// A 2xx body that did not fit: still a service error if it carries a
/// non-`"0"` error code, malformed otherwise.
fn unparsable_success(
    response: &Response<&[u8]>,
    error: &serde_json::Error,
    redactor: &Redactor,
) -> ApiError {
    let failed_code = error_info(response.body(), redactor)
        .and_then(|info| info.code)
        .filter(|code| code != "0");
    if let Some(code) = failed_code {
        return ApiError::Service(service_error(response, Some(&code), redactor));
    }
    let what = match error.classify() {
        Category::Data => "unexpected json",
        Category::Io | Category::Syntax | Category::Eof => "invalid json",
    };
    // serde_json may quote the body in its message.
    let reason = bounded(&format!("{what}: {error}"), REASON_MAX_BYTES, redactor);
    malformed(response, reason, redactor)
}

pub(crate) fn malformed(
    response: &Response<&[u8]>,
    reason: impl Into<String>,
    redactor: &Redactor,
) -> ApiError {
    ApiError::Malformed(Malformed {
        status: response.status(),
        reason: reason.into(),
        snippet: snippet(response.body(), redactor),
        request_id: header_text(response.headers(), X_REQUEST_ID, redactor),
    })
}

/// A service error from the shared error body; `code` overrides the body's
/// (a 2xx whose strict parse already found it).
fn service_error(
    response: &Response<&[u8]>,
    code: Option<&str>,
    redactor: &Redactor,
) -> ServiceError {
    let headers = response.headers();
    let info = error_info(response.body(), redactor).unwrap_or_default();
    ServiceError {
        status: response.status(),
        error_code: code
            .map(|code| bounded(code, FIELD_MAX_BYTES, redactor))
            .or(info.code),
        message: info
            .message
            .unwrap_or_else(|| snippet_message(response.body(), redactor)),
        request_id: header_text(headers, X_REQUEST_ID, redactor).or(info.request_id),
        error_type: info.error_type,
        retry_after: retry_after(headers),
    }
}

fn throttled(response: &Response<&[u8]>, redactor: &Redactor) -> Throttled {
    let headers = response.headers();
    let info = error_info(response.body(), redactor).unwrap_or_default();
    Throttled {
        message: info
            .message
            .unwrap_or_else(|| snippet_message(response.body(), redactor)),
        retry_after: retry_after(headers),
        request_id: header_text(headers, X_REQUEST_ID, redactor).or(info.request_id),
    }
}

/// Drivers do not follow redirects (the token would go along); a 3xx that
/// reaches the core is an error naming where it pointed.
fn redirect(response: &Response<&[u8]>, redactor: &Redactor) -> ServiceError {
    let headers = response.headers();
    let message = match header_text(headers, LOCATION.as_str(), redactor) {
        Some(location) => format!("unexpected redirect to {location}"),
        None => "unexpected redirect without a location".to_owned(),
    };
    ServiceError {
        status: response.status(),
        error_code: None,
        message,
        request_id: header_text(headers, X_REQUEST_ID, redactor),
        error_type: None,
        retry_after: None,
    }
}

/// `Retry-After` as delta-seconds or an HTTP-date. A date becomes a delay
/// relative to the response's own `Date` when it has one (no clock is read);
/// a value that is neither form is ignored.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<RetryAfter> {
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

/// A header as bounded, scrubbed lossy text, `None` when absent or blank.
pub(crate) fn header_text(headers: &HeaderMap, name: &str, redactor: &Redactor) -> Option<String> {
    let text = snippet_message(headers.get(name)?.as_bytes(), redactor);
    (!text.is_empty()).then_some(text)
}

/// The message of an error whose body had none: the body itself, bounded and trimmed.
fn snippet_message(body: &[u8], redactor: &Redactor) -> String {
    let text = snippet(body, redactor);
    let trimmed = text.trim();
    if trimmed.len() == text.len() {
        text
    } else {
        trimmed.to_owned()
    }
}

/// At most [`SNIPPET_MAX_BYTES`] bytes of `bytes` as lossy UTF-8, scrubbed:
/// invalid sequences become U+FFFD and the cut never splits a character.
pub(crate) fn snippet(bytes: &[u8], redactor: &Redactor) -> String {
    if redactor.is_empty() {
        return lossy_prefix(bytes, SNIPPET_MAX_BYTES);
    }
    let wide = lossy_prefix(bytes, SNIPPET_MAX_BYTES.saturating_add(redactor.longest()));
    bounded(&wide, SNIPPET_MAX_BYTES, redactor)
}

/// At most `max` bytes of `bytes` as lossy UTF-8.
fn lossy_prefix(bytes: &[u8], max: usize) -> String {
    // One allocation for the usual, valid and short, text.
    let mut out = String::with_capacity(bytes.len().min(max));
    for chunk in bytes.utf8_chunks() {
        if out.len() + chunk.valid().len() <= max {
            out.push_str(chunk.valid());
        } else {
            for c in chunk.valid().chars() {
                if out.len() + c.len_utf8() > max {
                    return out;
                }
                out.push(c);
            }
        }
        if !chunk.invalid().is_empty() {
            if out.len() + char::REPLACEMENT_CHARACTER.len_utf8() > max {
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
    use crate::{Operation, ShowInstanceStatus, ShowProgress};
    use http::{HeaderValue, StatusCode};

    fn progress(r: &Response<&[u8]>) -> Result<crate::Progress, ApiError> {
        let op = ShowProgress::new("u", "i").unwrap();
        super::response(r, &Redactor::default(), |body| op.decode_success(body))
    }

    fn instance_status(r: &Response<&[u8]>) -> Result<crate::InstanceStatus, ApiError> {
        let op = ShowInstanceStatus::new("p", "i").unwrap();
        super::response(r, &Redactor::default(), |body| op.decode_success(body))
    }

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
        let ApiError::Service(e) = failure(&response, &Redactor::default()) else {
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
        assert_eq!(snippet(b"plain", &Redactor::default()), "plain");
        assert_eq!(
            snippet(b"a\xffb\xc3", &Redactor::default()),
            "a\u{FFFD}b\u{FFFD}"
        );
        let mut body = vec![b'x'; 255];
        body.extend_from_slice("é".as_bytes());
        let s = snippet(&body, &Redactor::default());
        assert_eq!(s.len(), 255);
        let s = snippet(&[0xff; 1000], &Redactor::default());
        assert!(s.len() <= SNIPPET_MAX_BYTES && s.len() > 250, "{}", s.len());
        assert_eq!(
            snippet(&"€".repeat(200).into_bytes(), &Redactor::default()).len(),
            255
        );
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
