//! The request-building oracle: any text either becomes a typed input error
//! or a request that is valid HTTP with the documented shape.

use std::fmt;

use http::{HeaderValue, Request};
use serde_json::{Value, json};

use koophone_proto::{
    BatchPrepareInstances, DEFAULT_USER_AGENT, Endpoint, InvalidInput, InvalidReason,
    MAX_PREPARE_BATCH, MAX_PREPARE_ID_CHARS, MAX_PROGRESS_ID_CHARS, Operation, RequestContext,
    ShowInstanceStatus, ShowProgress, Token,
};

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
    /// BatchPrepareInstances.
    Prepare {
        /// `user_id`.
        user_id: &'a str,
        /// `instance_ids`, duplicates included.
        instance_ids: &'a [&'a str],
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
            let valid = [user_id, instance_id]
                .iter()
                .all(|v| short_text(v, MAX_PROGRESS_ID_CHARS));
            let op = ShowProgress::new(user_id, instance_id);
            let request = build_checked(op, valid, &ctx)?;
            let body = json!({ "user_id": user_id, "instance_id": instance_id });
            check_json_post(&request, &endpoint, "/v1/instances/prepare-progress", &body);
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
            let request = build_checked(op, valid(project_id) && valid(instance_id), &ctx)?;
            check_status_request(&request, &endpoint, project_id, instance_id);
            request
        }
        Fields::Prepare {
            user_id,
            instance_ids,
        } => {
            // Duplicates are dropped, each id keeping its first place.
            let mut distinct: Vec<&str> = Vec::new();
            for id in instance_ids {
                if !distinct.contains(id) {
                    distinct.push(id);
                }
            }
            let valid = short_text(user_id, MAX_PREPARE_ID_CHARS)
                && instance_ids
                    .iter()
                    .all(|id| short_text(id, MAX_PREPARE_ID_CHARS))
                && (1..=MAX_PREPARE_BATCH).contains(&distinct.len());
            let op = BatchPrepareInstances::new(user_id, instance_ids.iter().copied());
            let request = build_checked(op, valid, &ctx)?;
            let body = json!({ "user_id": user_id, "instance_ids": distinct });
            check_json_post(&request, &endpoint, "/v1/instances/prepare", &body);
            request
        }
    };
    check_wire_form(&request, &endpoint, input);
    Ok(request)
}

/// Required text of at most `max` characters with no control character.
fn short_text(value: &str, max: usize) -> bool {
    !value.is_empty() && !value.chars().any(char::is_control) && value.chars().count() <= max
}

/// The request of an operation made from typed fields the oracle judged
/// `valid`: refused exactly when invalid, and built whenever valid.
fn build_checked<O: Operation + fmt::Debug>(
    made: Result<O, InvalidInput>,
    valid: bool,
    ctx: &RequestContext,
) -> Result<Request<Vec<u8>>, InvalidInput> {
    assert_eq!(made.is_ok(), valid, "{}: {made:?}", O::NAME);
    let request = made?
        .build_request(ctx)
        .unwrap_or_else(|e| panic!("validated {} fields must build: {e}", O::NAME));
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

/// A POST to `path` below the endpoint's prefix, whose JSON body is `expected`.
fn check_json_post(request: &Request<Vec<u8>>, endpoint: &Endpoint, path: &str, expected: &Value) {
    assert_eq!(request.method(), http::Method::POST);
    assert_eq!(
        request.uri().path(),
        format!("{}{path}", endpoint.path_prefix())
    );
    assert_eq!(
        request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .map(HeaderValue::as_bytes),
        Some(&b"application/json"[..])
    );
    let body: Value = serde_json::from_slice(request.body()).expect("request body is JSON");
    assert_eq!(&body, expected, "request body does not carry the fields");
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
