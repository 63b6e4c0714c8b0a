//! Property tests of the core. The invariants are plain functions that return
//! `Err` with a description when broken (a panic inside the core propagates),
//! so a fuzz target can call the same bodies; proptest only supplies inputs.

use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use koophone_check::strategy;
use koophone_proto::{
    ApiError, BatchPrepareInstances, Endpoint, ErrorCode, InvalidReason, MAX_PREPARE_BATCH,
    Operation, RequestContext, ShowInstanceStatus, ShowProgress, Token, prepare_batches,
};
use percent_encoding::percent_decode_str;
use proptest::prelude::*;

/// The documented bound on body text carried by an error.
const SNIPPET_MAX_BYTES: usize = 256;

const KNOWN_CODES: [&str; 4] = ["1000", "1001", "4001", "9999"];

fn context(prefix: &str) -> Result<RequestContext, String> {
    let endpoint = Endpoint::parse(&format!("https://koophone.invalid{prefix}"))
        .map_err(|e| format!("check endpoint refused: {e}"))?;
    let token = Token::new("check-token").map_err(|e| format!("check token refused: {e}"))?;
    Ok(RequestContext::new(endpoint, token))
}

/// Decoding a response with both operations yields exactly the outcome its
/// status class allows, with the response's status, a one-line lower-case
/// message, a bounded snippet, and the `X-Request-Id` header as request id.
fn decoding_is_total(response: &Response<&[u8]>) -> Result<(), String> {
    let progress = ShowProgress::new("u", "i").map_err(|e| e.to_string())?;
    let status = ShowInstanceStatus::new("p", "i").map_err(|e| e.to_string())?;
    let prepare =
        BatchPrepareInstances::new("u", ["iRJEVP9", "iQWERT1"]).map_err(|e| e.to_string())?;
    outcome_fits_status(
        response,
        progress.decode_response(copy(response)).err().as_ref(),
    )?;
    match prepare.decode_response(copy(response)) {
        Ok(prepared) => {
            let ids: Vec<&str> = prepared
                .instances
                .iter()
                .map(|i| i.instance_id.as_str())
                .collect();
            if ids != ["iRJEVP9", "iQWERT1"] {
                return Err(format!("prepared {ids:?}, not the ids sent"));
            }
            outcome_fits_status(response, None)?;
        }
        Err(e) => outcome_fits_status(response, Some(&e))?,
    }
    outcome_fits_status(
        response,
        status.decode_response(copy(response)).err().as_ref(),
    )
}

fn copy<'a>(response: &Response<&'a [u8]>) -> Response<&'a [u8]> {
    let mut copy = Response::new(*response.body());
    *copy.status_mut() = response.status();
    *copy.headers_mut() = response.headers().clone();
    copy
}

/// `error` is `None` when decoding succeeded.
fn outcome_fits_status(response: &Response<&[u8]>, error: Option<&ApiError>) -> Result<(), String> {
    let status = response.status();
    let code = status.as_u16();
    let kind = error.map_or("ok", ApiError::kind);
    let allowed: &[&str] = match code {
        100..=199 => &["malformed"],
        200..=299 => &["ok", "service", "malformed"],
        401 => &["unauthorized"],
        429 => &["throttled"],
        _ => &["service"],
    };
    if !allowed.contains(&kind) {
        return Err(format!(
            "status {code} decoded as {kind}, allowed {allowed:?}"
        ));
    }
    let Some(error) = error else {
        return Ok(());
    };
    if error.status() != status {
        return Err(format!("status {code} reported as {}", error.status()));
    }
    let retryable = error.is_retryable();
    let fixed = match code {
        429 => Some(true),
        401 | 100..=199 | 300..=399 => Some(false),
        _ => None,
    };
    if fixed.is_some_and(|fixed| fixed != retryable) {
        return Err(format!("status {code}: retryable is {retryable}"));
    }
    if let ApiError::Malformed(m) = error
        && m.snippet.len() > SNIPPET_MAX_BYTES
    {
        return Err(format!("snippet of {} bytes", m.snippet.len()));
    }
    let text = error.to_string();
    if text.chars().any(char::is_control) || !text.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(format!("display is not one lower-case line: {text:?}"));
    }
    let header_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|raw| raw.len() <= SNIPPET_MAX_BYTES)
        .map(str::trim)
        .filter(|id| !id.is_empty());
    if let Some(id) = header_id
        && error.request_id() != Some(id)
    {
        return Err(format!(
            "request id {:?}, header says {id:?}",
            error.request_id()
        ));
    }
    Ok(())
}

/// [`decoding_is_total`] from raw parts, as a fuzz target has them: any
/// status number in 100..=999 must be accepted and decoded totally.
fn decoding_is_total_for(status: u16, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    let status = StatusCode::from_u16(status).map_err(|e| format!("status {status}: {e}"))?;
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers.clone();
    decoding_is_total(&response)
}

/// `ErrorCode` keeps what it parses: parsing the printed form gives the same
/// code, an unknown code prints exactly as received, and a documented code is
/// recognised whatever the case of its prefix.
fn error_code_round_trips(raw: &str) -> Result<(), String> {
    let parsed = ErrorCode::parse(raw);
    let again = ErrorCode::parse(parsed.as_str());
    if again != parsed {
        return Err(format!(
            "{raw:?} parsed as {parsed:?}, its print {:?} as {again:?}",
            parsed.as_str()
        ));
    }
    if parsed.to_string() != parsed.as_str() {
        return Err(format!("display of {parsed:?} differs from as_str"));
    }
    if let ErrorCode::Other(kept) = &parsed
        && (kept != raw || parsed.as_str() != raw)
    {
        return Err(format!("{raw:?} kept as {kept:?}"));
    }
    let documented = raw == "0"
        || raw
            .get(..13)
            .is_some_and(|p| p.eq_ignore_ascii_case("KOOPHONE.API."))
            && KNOWN_CODES.contains(&&raw[13..]);
    if documented == matches!(parsed, ErrorCode::Other(_)) {
        return Err(format!("{raw:?} parsed as {parsed:?}"));
    }
    Ok(())
}

/// ShowInstanceStatus either refuses a path parameter for a reason the value
/// really has, or builds a path of exactly the expected segments, each of
/// which is percent-encoded unreserved text that decodes back to the input.
fn path_parameters_stay_in_their_segments(
    project_id: &str,
    instance_id: &str,
) -> Result<(), String> {
    let op = match ShowInstanceStatus::new(project_id, instance_id) {
        Ok(op) => op,
        Err(e) => {
            let value = match e.field {
                "project_id" => project_id,
                "instance_id" => instance_id,
                other => return Err(format!("refused unknown field {other}")),
            };
            let justified = match e.reason {
                InvalidReason::Empty => value.is_empty(),
                InvalidReason::ControlCharacter => value.chars().any(char::is_control),
                InvalidReason::DotSegment => value == "." || value == "..",
                _ => false,
            };
            return if justified {
                Ok(())
            } else {
                Err(format!("{value:?} refused without reason: {e}"))
            };
        }
    };
    for (name, value) in [("project_id", project_id), ("instance_id", instance_id)] {
        if value.is_empty() || value.chars().any(char::is_control) || value == "." || value == ".."
        {
            return Err(format!("{name} {value:?} was accepted"));
        }
    }
    let request = op
        .build_request(&context("/pre")?)
        .map_err(|e| format!("valid parameters not built: {e}"))?;
    let uri = request.uri();
    if uri.query().is_some() {
        return Err(format!("a query appeared: {uri}"));
    }
    let segments: Vec<&str> = uri.path().split('/').collect();
    let [empty, "pre", "v1", project, "instances", instance, "status"] = segments[..] else {
        return Err(format!("path has the wrong segments: {}", uri.path()));
    };
    if !empty.is_empty() {
        return Err(format!("path does not start with '/': {}", uri.path()));
    }
    for (encoded, original) in [(project, project_id), (instance, instance_id)] {
        let plain =
            |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'%');
        if !encoded.bytes().all(plain) || encoded == "." || encoded == ".." {
            return Err(format!("segment {encoded:?} is not fully encoded"));
        }
        let decoded = percent_decode_str(encoded)
            .decode_utf8()
            .map_err(|e| e.to_string())?;
        if decoded != original {
            return Err(format!(
                "segment {encoded:?} decodes to {decoded:?}, not {original:?}"
            ));
        }
    }
    Ok(())
}

/// ShowProgress either refuses an id for a reason it really has, or sends a
/// body that is serde_json's compact `{"user_id":..,"instance_id":..}`.
fn progress_body_round_trips(user_id: &str, instance_id: &str) -> Result<(), String> {
    let op = match ShowProgress::new(user_id, instance_id) {
        Ok(op) => op,
        Err(e) => {
            let value = if e.field == "user_id" {
                user_id
            } else {
                instance_id
            };
            let justified = match e.reason {
                InvalidReason::Empty => value.is_empty(),
                InvalidReason::ControlCharacter => value.chars().any(char::is_control),
                InvalidReason::TooLong { max, len } => {
                    max == 32 && len == value.chars().count() && len > 32
                }
                _ => false,
            };
            return if justified {
                Ok(())
            } else {
                Err(format!("{value:?} refused without reason: {e}"))
            };
        }
    };
    let expected = format!(
        "{{\"user_id\":{},\"instance_id\":{}}}",
        serde_json::to_string(user_id).map_err(|e| e.to_string())?,
        serde_json::to_string(instance_id).map_err(|e| e.to_string())?,
    );
    sends_body(&op, &expected)?;
    Ok(())
}

/// The request `op` builds (for valid input), if its body is `expected`.
fn sends_body<Op: Operation>(op: &Op, expected: &str) -> Result<Request<Vec<u8>>, String> {
    let request = op
        .build_request(&context("")?)
        .map_err(|e| format!("valid ids not built: {e}"))?;
    if request.body() != expected.as_bytes() {
        return Err(format!(
            "body {:?}, expected {expected:?}",
            String::from_utf8_lossy(request.body())
        ));
    }
    Ok(request)
}

/// BatchPrepareInstances either refuses its input for a reason it really
/// has, or sends serde_json's compact `{"user_id":..,"instance_ids":[..]}`
/// with the distinct ids in the order given.
fn prepare_body_round_trips(user_id: &str, ids: &[String]) -> Result<(), String> {
    let mut distinct: Vec<&str> = Vec::new();
    for id in ids {
        if !distinct.contains(&id.as_str()) {
            distinct.push(id);
        }
    }
    let too_long = |v: &str| v.chars().count() > 32;
    let bad = |v: &str| v.is_empty() || v.chars().any(char::is_control) || too_long(v);
    let op = match BatchPrepareInstances::new(user_id, ids.iter().cloned()) {
        Ok(op) => op,
        Err(e) => {
            let justified = match (e.field, &e.reason) {
                ("user_id", _) => bad(user_id),
                ("instance_id", _) => ids.iter().any(|id| bad(id)),
                ("instance_ids", InvalidReason::Empty) => ids.is_empty(),
                ("instance_ids", InvalidReason::TooMany { max: 100, count }) => {
                    *count == distinct.len() && *count > 100
                }
                _ => false,
            };
            return if justified {
                Ok(())
            } else {
                Err(format!("refused without reason: {e}"))
            };
        }
    };
    if bad(user_id) || ids.iter().any(|id| bad(id)) || distinct.is_empty() || distinct.len() > 100 {
        return Err(format!("accepted {user_id:?} {ids:?}"));
    }
    let expected = format!(
        "{{\"user_id\":{},\"instance_ids\":{}}}",
        serde_json::to_string(user_id).map_err(|e| e.to_string())?,
        serde_json::to_string(&distinct).map_err(|e| e.to_string())?,
    );
    let request = sends_body(&op, &expected)?;
    if request.body().len() != request.body().capacity() {
        return Err("the body buffer was not sized exactly".to_owned());
    }
    Ok(())
}

/// Splitting into batches keeps every distinct id exactly once, in the order
/// of first appearance, in batches of at most 100 that are all full but the last.
fn batches_keep_order_and_ids(ids: &[String]) -> Result<(), String> {
    let batches = prepare_batches(ids);
    let flat: Vec<&str> = batches.iter().flatten().copied().collect();
    let mut first_seen: Vec<&str> = Vec::new();
    for id in ids {
        if !first_seen.contains(&id.as_str()) {
            first_seen.push(id);
        }
    }
    if flat != first_seen {
        return Err(format!("batches {batches:?} for {ids:?}"));
    }
    let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
    let Some((last, full)) = sizes.split_last() else {
        return if ids.is_empty() {
            Ok(())
        } else {
            Err("no batch for some ids".to_owned())
        };
    };
    if full.iter().any(|&n| n != MAX_PREPARE_BATCH) || *last == 0 || *last > MAX_PREPARE_BATCH {
        return Err(format!("batch sizes {sizes:?}"));
    }
    Ok(())
}

// ---- inputs ------------------------------------------------------------------

/// Header values: the forms the core parses, near misses, and arbitrary bytes
/// (those HTTP cannot carry are dropped, as no client would pass them on).
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[0-9]{1,25}".prop_map(String::into_bytes),
        " ?-?[0-9]{0,4} ?".prop_map(String::into_bytes),
        "(Mon|Wed|Sun|Xyz), [0-9]{1,2} (Jan|Oct|Feb|Foo) [0-9]{1,5} [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2} (GMT|UTC)"
            .prop_map(String::into_bytes),
        "(Sunday|Monday), [0-9]{2}-(Nov|Jan)-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT".prop_map(String::into_bytes),
        Just(b"Wed, 21 Oct 2015 07:28:00 GMT".to_vec()),
        "\\PC{0,40}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..64),
    ]
}

fn headers() -> impl Strategy<Value = HeaderMap> {
    let names = [
        "retry-after",
        "date",
        "x-request-id",
        "location",
        "content-type",
    ];
    prop::collection::vec((prop::sample::select(names.to_vec()), header_value()), 0..6).prop_map(
        |pairs| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                if let Ok(value) = HeaderValue::from_bytes(&value) {
                    headers.append(HeaderName::from_static(name), value);
                }
            }
            headers
        },
    )
}

/// JSON built from the APIs' own field names and values, so that random
/// bodies reach the typed paths and not only the "not JSON" one.
fn json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-3i64..5).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(vec![
            "0",
            "OK",
            "KOOPHONE.API.9999",
            "KooPhone.API.1000",
            "APIGW.0301",
            "running",
            "failed",
            "iRJEVP9",
            "",
        ])
        .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((strategy::response_member(), inner), 0..6).prop_map(|fields| {
                Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400),
        json().prop_map(|value| serde_json::to_vec(&value).unwrap_or_default()),
        // Truncated JSON: valid up to a cut anywhere.
        (json(), any::<prop::sample::Index>()).prop_map(|(value, cut)| {
            let mut bytes = serde_json::to_vec(&value).unwrap_or_default();
            bytes.truncate(cut.index(bytes.len() + 1));
            bytes
        }),
    ]
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        100u16..=999,
        prop::sample::select(vec![
            100u16, 200, 204, 301, 400, 401, 403, 404, 429, 500, 502, 503, 504
        ]),
    ]
}

/// Text built from pieces that matter to paths and encodings, plus any text.
fn path_text() -> impl Strategy<Value = String> {
    let pieces = [
        ".", "..", "/", "\\", "%", "%2e", "%2F", "?", "#", " ", "+", "~", "-", "_", "a", "Z", "9",
        "ü", "日本", "🙂", "\u{0}", "\u{7f}", "\u{85}", "\u{200b}", "\u{feff}", ";", ":", "@", "[",
        "]",
    ];
    prop_oneof![
        prop::collection::vec(prop::sample::select(pieces.to_vec()), 0..6).prop_map(|p| p.concat()),
        any::<String>(),
    ]
}

// ---- properties ----------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decoding_is_total_and_fits_the_status_class(status in status(), headers in headers(), body in body()) {
        let checked = decoding_is_total_for(status, &headers, &body);
        prop_assert!(checked.is_ok(), "{}", checked.unwrap_err());
    }
}

proptest! {
    #[test]
    fn error_codes_round_trip(raw in prop_oneof![any::<String>(), "[Kk][Oo]{2}[Pp][Hh][Oo][Nn][Ee]\\.[Aa][Pp][Ii]\\.[0-9]{0,5}"]) {
        let checked = error_code_round_trips(&raw);
        prop_assert!(checked.is_ok(), "{}", checked.unwrap_err());
    }

    #[test]
    fn documented_codes_match_in_any_case_of_the_prefix(
        upper in prop::collection::vec(any::<bool>(), 13),
        number in prop::sample::select(KNOWN_CODES.to_vec()),
    ) {
        let prefix: String = "KOOPHONE.API."
            .chars()
            .zip(upper)
            .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
            .collect();
        let raw = format!("{prefix}{number}");
        let parsed = ErrorCode::parse(&raw);
        prop_assert!(!matches!(parsed, ErrorCode::Other(_)), "{raw} not recognised");
        prop_assert_eq!(parsed.as_str(), format!("KOOPHONE.API.{number}"));
        let checked = error_code_round_trips(&raw);
        prop_assert!(checked.is_ok(), "{}", checked.unwrap_err());
    }

    #[test]
    fn path_parameters_stay_in_their_segments_for_any_text(project in path_text(), instance in path_text()) {
        let checked = path_parameters_stay_in_their_segments(&project, &instance);
        prop_assert!(checked.is_ok(), "{}", checked.unwrap_err());
    }

    #[test]
    fn progress_bodies_are_serde_json(user in path_text(), instance in "\\PC{0,40}") {
        let checked = progress_body_round_trips(&user, &instance);
        prop_assert!(checked.is_ok(), "{}", checked.unwrap_err());
    }
}

/// Ids drawn from a small alphabet so that duplicates are common, mixed
/// with any text (over-long ids, control characters, empty ones).
fn prepare_ids(max: usize) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop_oneof![4 => "[a-e]{1,2}", 1 => path_text(), 1 => "\\PC{30,34}"],
        0..max,
    )
}

proptest! {
    #[test]
    fn prepare_bodies_are_serde_json(user in prop_oneof![Just("1008600000104285462".to_owned()), path_text()], ids in prepare_ids(130)) {
        let checked = prepare_body_round_trips(&user, &ids);
        prop_assert!(checked.is_ok(), "{}", checked.unwrap_err());
    }

    #[test]
    fn batches_keep_every_id_once_in_order(ids in prop_oneof![
        prop::collection::vec("[a-z]{1,3}", 0..400),
        prop::collection::vec((0u16..300).prop_map(|n| format!("i{n}")), 0..700),
    ]) {
        let checked = batches_keep_order_and_ids(&ids);
        prop_assert!(checked.is_ok(), "{}", checked.unwrap_err());
    }
}

/// The property bodies themselves must be able to fail.
#[test]
fn the_checks_catch_what_they_claim_to() {
    assert!(error_code_round_trips("KOOPHONE.API.1000").is_ok());
    assert!(path_parameters_stay_in_their_segments("a/b", "..").is_ok());
    let mut headers = HeaderMap::new();
    headers.insert("x-request-id", HeaderValue::from_static("rid"));
    assert!(decoding_is_total_for(429, &headers, b"slow").is_ok());
    assert!(decoding_is_total_for(1000, &headers, b"").is_err());
    let wrong = Response::new(&b""[..]);
    let throttled = ShowProgress::new("u", "i")
        .map(|op| {
            let mut r = Response::new(&b"x"[..]);
            *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            op.decode_response(r).err()
        })
        .ok()
        .flatten();
    assert!(
        outcome_fits_status(&wrong, throttled.as_ref()).is_err(),
        "a 200 may not be throttled"
    );
    assert!(outcome_fits_status(&wrong, None).is_ok());
    let ids: Vec<String> = (0..101).map(|n| n.to_string()).collect();
    assert!(prepare_body_round_trips("u", &ids).is_ok());
    assert!(prepare_body_round_trips("u", &ids[..100]).is_ok());
    assert!(batches_keep_order_and_ids(&ids).is_ok());
}
