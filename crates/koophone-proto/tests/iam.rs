//! IAM password tokens: the request IAM expects, the decoding of its answers,
//! and the password kept out of every Debug and error.

// Decoding returns the core's `ApiError` by value (see the crate root).
#![allow(clippy::result_large_err)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderValue, Method, Request, Response, StatusCode};
use koophone_proto::auth::{IssueProjectToken, IssuedToken, Password, ProjectScope};
use koophone_proto::endpoint::DEFAULT_USER_AGENT;
use koophone_proto::{ApiError, Endpoint, InvalidReason, RetryAfter};
use proptest::prelude::*;
use serde_json::{Value, json};

const PASSWORD: &str = "Pa55-w0rd!secret";

fn op(scope: ProjectScope) -> IssueProjectToken {
    op_as("alice", "acme", PASSWORD, scope)
}

fn op_as(user: &str, domain: &str, password: &str, scope: ProjectScope) -> IssueProjectToken {
    IssueProjectToken::new(user, domain, Password::new(password).unwrap(), scope).unwrap()
}

/// The request `op` builds for the IAM endpoint `iam`, with the default user agent.
fn build(op: &IssueProjectToken, iam: &str) -> Request<Vec<u8>> {
    let iam = Endpoint::parse(iam).unwrap();
    op.build_request(&iam, &HeaderValue::from_static(DEFAULT_USER_AGENT))
        .unwrap()
}

fn response(status: u16, headers: &[(&str, &str)], body: &'static str) -> Response<&'static [u8]> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body.as_bytes()).unwrap()
}

/// IAM's answer to the token request, decoded.
fn decode(
    status: u16,
    headers: &[(&str, &str)],
    body: &'static str,
) -> Result<IssuedToken, ApiError> {
    op(ProjectScope::Name("p".into())).decode_response(response(status, headers, body))
}

const TOKEN_BODY: &str = r#"{"token":{"expires_at":"2026-11-24T06:02:11.000000Z","issued_at":"2026-11-23T06:02:11.000000Z","methods":["password"],"project":{"name":"cn-north-4","id":"0a1b"},"user":{"name":"alice","domain":{"name":"acme"}}}}"#;

#[test]
fn request_is_a_password_token_request_scoped_by_name() {
    let request = build(
        &op(ProjectScope::Name("cn-north-4".into())),
        "https://iam.myhuaweicloud.com",
    );
    assert_eq!(request.method(), Method::POST);
    assert_eq!(
        request.uri().to_string(),
        "https://iam.myhuaweicloud.com/v3/auth/tokens?nocatalog=true"
    );
    assert_eq!(
        request.headers()["content-type"],
        "application/json;charset=utf8"
    );
    assert_eq!(request.headers()["user-agent"], DEFAULT_USER_AGENT);
    assert!(request.headers().get("x-auth-token").is_none());
    let body: Value = serde_json::from_slice(request.body()).unwrap();
    assert_eq!(
        body,
        json!({"auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {
                    "name": "alice",
                    "password": PASSWORD,
                    "domain": {"name": "acme"}
                }}
            },
            "scope": {"project": {"name": "cn-north-4"}}
        }})
    );
}

#[test]
fn request_scoped_by_id_under_a_path_prefix() {
    let request = build(
        &op(ProjectScope::Id("0a1b2c".into())),
        "https://gw.example.com/iam/",
    );
    assert_eq!(
        request.uri().path_and_query().unwrap().as_str(),
        "/iam/v3/auth/tokens?nocatalog=true"
    );
    let body: Value = serde_json::from_slice(request.body()).unwrap();
    assert_eq!(body["auth"]["scope"], json!({"project": {"id": "0a1b2c"}}));
}

#[test]
fn names_are_escaped_in_the_json_body() {
    let op = op_as(
        "al\"ice\\",
        "ac\u{e9}me",
        "p\"w",
        ProjectScope::Name("x".into()),
    );
    let request = build(&op, "https://iam.example.com");
    let body: Value = serde_json::from_slice(request.body()).unwrap();
    let user = &body["auth"]["identity"]["password"]["user"];
    assert_eq!(user["name"], "al\"ice\\");
    assert_eq!(user["password"], "p\"w");
    assert_eq!(user["domain"]["name"], "ac\u{e9}me");
}

#[test]
fn inputs_are_validated_without_echoing_the_password() {
    for bad in ["", "secret\n", "sec\u{0}ret"] {
        let error = Password::new(bad).unwrap_err();
        assert_eq!(error.field, "password");
        let text = format!("{error} {error:?}");
        assert!(!text.contains("secret") && !text.contains("sec"), "{text}");
    }
    let password = || Password::new(PASSWORD).unwrap();
    let cases = [
        (
            "user_name",
            IssueProjectToken::new("", "d", password(), ProjectScope::Id("p".into())),
        ),
        (
            "domain_name",
            IssueProjectToken::new("u", "\t", password(), ProjectScope::Id("p".into())),
        ),
        (
            "project_name",
            IssueProjectToken::new("u", "d", password(), ProjectScope::Name(String::new())),
        ),
        (
            "project_id",
            IssueProjectToken::new("u", "d", password(), ProjectScope::Id("a\rb".into())),
        ),
    ];
    for (field, result) in cases {
        let error = result.unwrap_err();
        assert_eq!(error.field, field);
        assert!(!format!("{error} {error:?}").contains(PASSWORD));
    }
    assert_eq!(Password::new("").unwrap_err().reason, InvalidReason::Empty);
}

#[test]
fn debug_never_shows_the_password() {
    let op = op(ProjectScope::Name("cn-north-4".into()));
    let debug = format!("{op:?} {:?}", Password::new(PASSWORD).unwrap());
    assert!(
        debug.contains("alice") && debug.contains("cn-north-4"),
        "{debug}"
    );
    assert!(!debug.contains(PASSWORD), "{debug}");
}

#[test]
fn decodes_the_token_header_and_expiry() {
    let issued = decode(
        201,
        &[
            (
                "X-Subject-Token",
                "MIIYXQYJKoZIhvcNAQcCoIIYTjCCGEoCAQExDTALBglghkgBZQMEAgEwgha",
            ),
            ("X-Request-Id", "r1"),
        ],
        TOKEN_BODY,
    )
    .unwrap();
    assert_eq!(
        issued.token.expose_secret(),
        "MIIYXQYJKoZIhvcNAQcCoIIYTjCCGEoCAQExDTALBglghkgBZQMEAgEwgha"
    );
    assert_eq!(
        issued.expires_at,
        UNIX_EPOCH + Duration::from_secs(1_795_500_131)
    );
    assert!(!format!("{issued:?}").contains("MIIYXQ"));
}

#[test]
fn expiry_forms_of_rfc_3339() {
    let op = op(ProjectScope::Name("p".into()));
    // The expiry, or the reason of the malformed-response error.
    let decode = |expires_at: &str| -> Result<SystemTime, String> {
        let body = format!(r#"{{"token":{{"expires_at":"{expires_at}"}}}}"#);
        let response = Response::builder()
            .status(201)
            .header("x-subject-token", "tok")
            .body(body.into_bytes())
            .unwrap();
        match op.decode_owned(response) {
            Ok(issued) => Ok(issued.expires_at),
            Err(ApiError::Malformed(m)) => Err(m.reason),
            Err(other) => panic!("{other:?}"),
        }
    };
    let base = UNIX_EPOCH + Duration::from_secs(1_795_500_131);
    assert_eq!(decode("2026-11-24T06:02:11Z"), Ok(base));
    assert_eq!(
        decode("2026-11-24T06:02:11.250000Z"),
        Ok(base + Duration::from_millis(250))
    );
    assert_eq!(decode("2026-11-24T14:02:11+08:00"), Ok(base));
    // RFC 3339 allows a space for the `T`.
    assert_eq!(decode("2026-11-24 06:02:11Z"), Ok(base));
    for bad in [
        "",
        "2026-11-24",
        "2026-11-24T06:02:11",
        "2026-13-24T06:02:11Z",
        "2026-02-30T06:02:11Z",
        "1969-12-31T23:59:59Z",
        "tomorrow",
    ] {
        let reason = decode(bad).expect_err(bad);
        assert!(reason.contains("expires_at"), "{reason}");
    }
}

#[test]
fn a_success_without_the_token_header_is_malformed() {
    let Err(ApiError::Malformed(m)) = decode(201, &[("x-request-id", "r2")], TOKEN_BODY) else {
        panic!("accepted")
    };
    assert_eq!(m.status, StatusCode::CREATED);
    assert!(m.reason.contains("X-Subject-Token"));
    assert_eq!(m.request_id.as_deref(), Some("r2"));
    assert!(m.snippet.len() <= 256);
}

#[test]
fn an_unusable_token_header_is_malformed_without_quoting_it() {
    let op = op(ProjectScope::Name("p".into()));
    for value in ["", " padded-secret ", "caf\u{e9}-secret"] {
        let header = HeaderValue::from_bytes(value.as_bytes()).unwrap();
        let response = Response::builder()
            .status(201)
            .header("x-subject-token", header)
            .body(TOKEN_BODY.as_bytes())
            .unwrap();
        let Err(error @ ApiError::Malformed(_)) = op.decode_response(response) else {
            panic!("{value:?} accepted")
        };
        assert!(!format!("{error} {error:?}").contains("secret"));
    }
}

#[test]
fn a_success_body_without_expiry_is_malformed() {
    for body in [
        "",
        "not json",
        "{}",
        r#"{"token":{}}"#,
        r#"{"token":{"expires_at":5}}"#,
        "[]",
    ] {
        let result = decode(201, &[("x-subject-token", "tok")], body);
        assert!(matches!(result, Err(ApiError::Malformed(_))), "{body:?}");
    }
}

#[test]
fn a_wrong_password_is_unauthorized_with_iams_message() {
    let error = decode(
            401,
            &[("X-Request-Id", "req-401"), ("content-type", "application/json")],
            r#"{"error":{"code":401,"message":"The username or password is wrong.","title":"Unauthorized"}}"#,
        )
        .unwrap_err();
    let ApiError::Unauthorized(service) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(service.status, StatusCode::UNAUTHORIZED);
    assert_eq!(service.error_code.as_deref(), Some("401"));
    assert_eq!(service.message, "The username or password is wrong.");
    assert_eq!(service.request_id.as_deref(), Some("req-401"));
    assert!(!error.is_retryable());
    assert!(!format!("{error} {error:?}").contains(PASSWORD));
}

#[test]
fn iam_string_codes_and_gateway_bodies_decode_too() {
    let error = decode(
        403,
        &[],
        r#"{"error":{"code":"1101","message":"The user is locked.","title":"Forbidden"}}"#,
    )
    .unwrap_err();
    let ApiError::Service(service) = error else {
        panic!()
    };
    assert_eq!(service.error_code.as_deref(), Some("1101"));
    assert_eq!(service.message, "The user is locked.");

    let error = decode(
            404,
            &[],
            r#"{"error_code":"APIGW.0101","error_msg":"The API does not exist","request_id":"body-id"}"#,
        )
        .unwrap_err();
    let ApiError::Service(service) = error else {
        panic!()
    };
    assert_eq!(service.error_code.as_deref(), Some("APIGW.0101"));
    assert_eq!(service.message, "The API does not exist");
    assert_eq!(service.request_id.as_deref(), Some("body-id"));
}

#[test]
fn throttling_server_errors_and_odd_statuses() {
    let error = decode(429, &[("retry-after", "7")], "Too Many Requests").unwrap_err();
    let ApiError::Throttled(throttled) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(
        throttled.retry_after,
        Some(RetryAfter::Delay(Duration::from_secs(7)))
    );
    assert_eq!(throttled.message, "Too Many Requests");
    assert!(error.is_retryable());

    let error = decode(502, &[], "<html><body>Bad Gateway</body></html>").unwrap_err();
    let ApiError::Service(service) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(service.error_code, None);
    assert!(service.message.contains("Bad Gateway"));
    assert!(error.is_retryable());

    let error = decode(101, &[], "").unwrap_err();
    assert!(matches!(error, ApiError::Malformed(_)));
    let error = decode(302, &[("location", "https://elsewhere")], "").unwrap_err();
    let ApiError::Service(service) = error else {
        panic!()
    };
    assert_eq!(service.message, "unexpected redirect to https://elsewhere");
}

proptest! {
    #[test]
    fn decoding_is_total(
        status in 100u16..600,
        token in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        body in proptest::collection::vec(any::<u8>(), 0..300),
        json_body in proptest::option::of("\\{\"(token|error|error_code)\":[ -~]{0,60}\\}"),
    ) {
        let op = op(ProjectScope::Name("p".into()));
        let mut builder = Response::builder().status(status);
        if let Some(value) = token.and_then(|t| HeaderValue::from_bytes(&t).ok()) {
            builder = builder.header("x-subject-token", value);
        }
        let body = json_body.map(String::into_bytes).unwrap_or(body);
        let response = builder.body(body).unwrap();
        if let Err(error) = op.decode_owned(response) {
            let _ = (error.to_string(), error.status(), error.is_retryable());
        }
    }
}
