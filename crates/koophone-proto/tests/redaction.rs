//! A server that echoes credentials back never gets them into an error or an
//! output: whatever text embeds the token, the AK/SK secret, the security
//! token or an extra secret (the IAM password), wherever it is put and in
//! whatever ASCII case, no `Display`, `Debug` or accessor of what the
//! machines hand out contains it. Driven the way a driver does it:
//! `request(&ctx, wall)`, then `handle_response`.

// The machines' outcomes carry `ApiError` by value, as the library does.
#![allow(clippy::result_large_err)]

use std::time::{Duration, Instant, SystemTime};

use koophone_check::echo::visible;
use koophone_proto::auth::{
    AkSkCredentials, IssueProjectToken, Password, ProjectScope, SecretKey, SecurityToken,
};
use koophone_proto::http::{HeaderName, HeaderValue, Response, StatusCode};
use koophone_proto::{
    Action, ApiError, Call, CallError, Endpoint, InstanceState, InstanceStatus, Machine,
    RequestContext, ShowInstanceStatus, Token, UntilState, WaitError, WaitPolicy, Waiter,
};
use proptest::prelude::*;

/// Which credentials the client holds; every one is echoed.
#[derive(Debug, Clone)]
enum Creds {
    Token(String),
    AkSk { secret: String, security: String },
    TokenAndPassword { token: String, password: String },
}

impl Creds {
    fn context(&self) -> RequestContext {
        let endpoint = Endpoint::parse("https://clouddc.example.com").unwrap();
        match self {
            Creds::Token(token) => {
                RequestContext::new(endpoint, Token::new(token.as_str()).unwrap())
            }
            Creds::AkSk { secret, security } => {
                let creds =
                    AkSkCredentials::new("AKPUBLICACCESSKEY", SecretKey::new(secret).unwrap())
                        .unwrap()
                        .with_security_token(SecurityToken::new(security).unwrap());
                RequestContext::with_aksk(endpoint, creds)
            }
            Creds::TokenAndPassword { token, password } => {
                RequestContext::new(endpoint, Token::new(token.as_str()).unwrap())
                    .with_secrets([password])
            }
        }
    }

    fn secrets(&self) -> Vec<&str> {
        match self {
            Creds::Token(token) => vec![token],
            Creds::AkSk { secret, security } => vec![secret, security],
            Creds::TokenAndPassword { token, password } => vec![token, password],
        }
    }
}

fn creds() -> impl Strategy<Value = Creds> {
    let secret = "[A-Za-z0-9+/=_-]{8,48}";
    prop_oneof![
        secret.prop_map(Creds::Token),
        (secret, secret).prop_map(|(secret, security)| Creds::AkSk { secret, security }),
        // Passwords may hold spaces, which a one-line Display shows for
        // any control character the server puts there instead.
        (secret, "[A-Za-z0-9!#%]{3,12}( [A-Za-z0-9!#%]{3,12}){0,2}")
            .prop_map(|(token, password)| Creds::TokenAndPassword { token, password }),
    ]
}

/// Where the echo goes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    ErrorMsg,
    Message,
    NestedError,
    NestedText,
    ErrorCode,
    BodyRequestId,
    HeaderRequestId,
    Location,
    RawBody,
    State,
    OperationState,
    StateError,
}

impl Place {
    /// The top-level body member this place is, if it is one.
    fn member(self) -> Option<&'static str> {
        Some(match self {
            Place::ErrorMsg => "error_msg",
            Place::Message => "message",
            Place::NestedText => "error",
            Place::ErrorCode => "error_code",
            Place::BodyRequestId => "request_id",
            Place::State => "state",
            Place::OperationState => "operation_state",
            Place::NestedError
            | Place::HeaderRequestId
            | Place::Location
            | Place::RawBody
            | Place::StateError => return None,
        })
    }
}

const PLACES: [Place; 12] = [
    Place::ErrorMsg,
    Place::Message,
    Place::NestedError,
    Place::NestedText,
    Place::ErrorCode,
    Place::BodyRequestId,
    Place::HeaderRequestId,
    Place::Location,
    Place::RawBody,
    Place::State,
    Place::OperationState,
    Place::StateError,
];

/// One echo: the header name in some case, the secret in some case (a space
/// of it sometimes sent as a control character), random text around it.
#[derive(Debug, Clone)]
struct Echo {
    prefix: String,
    header_case: Vec<bool>,
    secret_case: Vec<bool>,
    control_for_space: bool,
    suffix: String,
    which_secret: usize,
}

fn echo() -> impl Strategy<Value = Echo> {
    (
        // Long prefixes push the secret across the 256-byte snippet and the
        // 1 KiB field caps.
        prop_oneof![
            "[ -~]{0,16}",
            "[a-z ]{200,300}",
            "[a-z ]{990,1060}",
            "[é a-z]{100,600}"
        ],
        proptest::collection::vec(any::<bool>(), 12),
        proptest::collection::vec(any::<bool>(), 64),
        any::<bool>(),
        prop_oneof!["[ -~]{0,16}", "[a-z]{500,1500}"],
        0usize..2,
    )
        .prop_map(
            |(prefix, header_case, secret_case, control_for_space, suffix, which_secret)| Echo {
                prefix,
                header_case,
                secret_case,
                control_for_space,
                suffix,
                which_secret,
            },
        )
}

fn flip_case(text: &str, mask: &[bool]) -> String {
    text.chars()
        .zip(mask.iter().cycle())
        .map(|(c, &upper)| {
            if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

impl Echo {
    /// The text as it goes into a JSON string (any character allowed).
    fn text(&self, secrets: &[&str]) -> String {
        let secret = secrets[self.which_secret % secrets.len()];
        let mut secret = flip_case(secret, &self.secret_case);
        if self.control_for_space {
            secret = secret.replace(' ', "\n");
        }
        format!(
            "{}{}: {}{}",
            self.prefix,
            flip_case("x-auth-token", &self.header_case),
            secret,
            self.suffix
        )
    }

    /// The text as it goes into a header (printable ASCII only).
    fn header_text(&self, secrets: &[&str]) -> String {
        self.text(secrets)
            .chars()
            .map(|c| {
                if c == ' ' || c.is_ascii_graphic() {
                    c
                } else {
                    '.'
                }
            })
            .collect()
    }
}

const STATUSES: [u16; 14] = [
    102, 200, 201, 204, 301, 302, 400, 401, 403, 404, 429, 500, 502, 503,
];

/// The response a hostile server builds from the echoes.
fn response(
    status: u16,
    echoes: &[(Place, Echo)],
    secrets: &[&str],
) -> (Vec<(String, String)>, Vec<u8>) {
    let mut headers = Vec::new();
    let mut members = serde_json::Map::new();
    let mut nested = serde_json::Map::new();
    let mut raw = None;
    let mut state_error = serde_json::Map::new();
    let mut has_state = false;
    for &(place, ref echo) in echoes {
        let text = serde_json::Value::String(echo.text(secrets));
        has_state |= place == Place::State;
        if let Some(member) = place.member() {
            members.insert(member.into(), text);
            continue;
        }
        match place {
            Place::NestedError => {
                nested.insert("message".into(), text);
            }
            Place::HeaderRequestId => {
                headers.push(("X-Request-Id".to_owned(), echo.header_text(secrets)));
            }
            Place::Location => headers.push(("Location".to_owned(), echo.header_text(secrets))),
            Place::RawBody => raw = Some(echo.text(secrets)),
            Place::StateError => {
                state_error.insert("error_msg".into(), text.clone());
                state_error.insert("error_type".into(), text);
            }
            // Members were inserted above.
            _ => {}
        }
    }
    if !nested.is_empty() {
        members.insert("error".into(), nested.into());
    }
    if !state_error.is_empty() {
        members.insert("error".into(), state_error.into());
    }
    if (200..300).contains(&status) && !has_state {
        members.insert("state".into(), "error".into());
    }
    let body = match raw {
        Some(raw) => raw.into_bytes(),
        None => serde_json::to_vec(&serde_json::Value::Object(members)).unwrap(),
    };
    (headers, body)
}

fn assert_clean(what: &str, text: &str, secrets: &[&str]) -> Result<(), TestCaseError> {
    let seen = visible(text);
    for secret in secrets {
        prop_assert!(
            !seen.contains(&secret.to_ascii_lowercase()),
            "{what} holds a credential: {text:?}"
        );
    }
    Ok(())
}

fn check_error(e: &ApiError, secrets: &[&str]) -> Result<(), TestCaseError> {
    assert_clean("Display", &e.to_string(), secrets)?;
    assert_clean("Debug", &format!("{e:?}"), secrets)?;
    assert_clean("message", e.message(), secrets)?;
    assert_clean("error_code", e.error_code().unwrap_or(""), secrets)?;
    assert_clean("request_id", e.request_id().unwrap_or(""), secrets)?;
    match e {
        ApiError::Service(s) | ApiError::Unauthorized(s) => {
            assert_clean("error_type", s.error_type.as_deref().unwrap_or(""), secrets)?;
        }
        ApiError::Malformed(m) => {
            assert_clean("snippet", &m.snippet, secrets)?;
            assert_clean("reason", &m.reason, secrets)?;
        }
        ApiError::Throttled(t) => assert_clean("throttled message", &t.message, secrets)?,
        _ => {}
    }
    Ok(())
}

fn check_status(s: &InstanceStatus, secrets: &[&str]) -> Result<(), TestCaseError> {
    assert_clean("output Display", &s.to_string(), secrets)?;
    assert_clean("output Debug", &format!("{s:?}"), secrets)?;
    assert_clean("state", s.state.as_str(), secrets)?;
    assert_clean(
        "operation_state",
        s.operation_state.as_deref().unwrap_or(""),
        secrets,
    )?;
    if let Some(e) = &s.error {
        for field in [&e.error_code, &e.error_msg, &e.error_type]
            .into_iter()
            .flatten()
        {
            assert_clean("output error field", field, secrets)?;
        }
    }
    Ok(())
}

/// A ShowInstanceStatus machine made by `machine`, run with `creds`
/// against a server that always answers `status` with `echoes` of their
/// secrets; the machine is returned for its last observation.
fn echoed<M: Machine>(
    creds: &Creds,
    status: u16,
    echoes: &[(Place, Echo)],
    machine: impl FnOnce(ShowInstanceStatus, Instant) -> M,
) -> (M, M::Outcome) {
    let (headers, body) = response(status, echoes, &creds.secrets());
    let op = ShowInstanceStatus::new("project", "instance").unwrap();
    let start = Instant::now();
    let mut machine = machine(op, start);
    let outcome = drive(
        &mut machine,
        &creds.context(),
        status,
        &headers,
        &body,
        start,
    );
    (machine, outcome)
}

/// Run a machine against a server that always gives this answer; every
/// request is built from `ctx` the way a driver builds it.
fn drive<M: Machine>(
    machine: &mut M,
    ctx: &RequestContext,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    start: Instant,
) -> M::Outcome {
    let mut now = start;
    for _ in 0..2000 {
        match machine.poll(now) {
            Action::Send => {
                machine
                    .request(
                        ctx,
                        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
                    )
                    .unwrap();
                let mut r = Response::new(body);
                *r.status_mut() = StatusCode::from_u16(status).unwrap();
                for (name, value) in headers {
                    r.headers_mut().append(
                        HeaderName::from_bytes(name.as_bytes()).unwrap(),
                        HeaderValue::from_str(value).unwrap(),
                    );
                }
                machine.handle_response(r, now);
            }
            Action::WakeAt(at) => now = at,
            Action::Done(outcome) => return outcome,
        }
    }
    panic!("the machine did not finish within 2000 steps");
}

fn policy() -> WaitPolicy {
    WaitPolicy {
        max_consecutive_errors: 2,
        max_wait: Duration::from_secs(5),
        ..WaitPolicy::default()
    }
}

fn places() -> impl Strategy<Value = Vec<(Place, Echo)>> {
    proptest::collection::vec((proptest::sample::select(&PLACES[..]), echo()), 1..4)
}

/// The credentials a call is made with, and the status and echoes of the
/// hostile server's answer to it.
fn hostile_answer() -> impl Strategy<Value = (Creds, u16, Vec<(Place, Echo)>)> {
    (creds(), proptest::sample::select(&STATUSES[..]), places())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_call_error_or_output_holds_a_credential(
        (creds, status, echoes) in hostile_answer(),
    ) {
        let secrets = creds.secrets();
        let (call, outcome) =
            echoed(&creds, status, &echoes, |op, start| Call::new(op, policy(), start));
        match outcome {
            Ok(output) => check_status(&output, &secrets)?,
            Err(CallError::Api(e)) => check_error(&e, &secrets)?,
            Err(e) => assert_clean("call error", &format!("{e} {e:?}"), &secrets)?,
        }
        if let Some(observation) = call.last_observation() {
            assert_clean("last observation", &format!("{observation:?}"), &secrets)?;
        }
    }

    #[test]
    fn no_wait_error_or_output_holds_a_credential(
        (creds, status, echoes) in hostile_answer(),
    ) {
        let secrets = creds.secrets();
        let target = UntilState::new(InstanceState::Running)
            .with_failure_states([InstanceState::Error, InstanceState::Failed]);
        let (waiter, outcome) = echoed(&creds, status, &echoes, |op, start| {
            Waiter::new(op, target, policy(), start)
        });
        match &outcome {
            Ok(output) => check_status(output, &secrets)?,
            Err(WaitError::FailedState(output)) => check_status(output, &secrets)?,
            Err(WaitError::Deadline { last: Some(output) }) => check_status(output, &secrets)?,
            Err(WaitError::Api(e)) => check_error(e, &secrets)?,
            Err(_) => {}
        }
        if let Err(e) = &outcome {
            assert_clean("wait error Display", &e.to_string(), &secrets)?;
            assert_clean("wait error Debug", &format!("{e:?}"), &secrets)?;
        }
        if let Some(observation) = waiter.last_observation() {
            assert_clean("last observation", &format!("{observation:?}"), &secrets)?;
        }
    }

    #[test]
    fn an_iam_answer_never_repeats_the_password_or_the_issued_token(
        password in "[A-Za-z0-9!#%]{3,12}( [A-Za-z0-9!#%]{3,12}){0,2}",
        issued in "MII[A-Za-z0-9_-]{20,60}",
        status in proptest::sample::select(&[200u16, 201, 301, 400, 401, 403, 429, 500, 503][..]),
        echoes in places(),
        with_subject_token in any::<bool>(),
    ) {
        let op = IssueProjectToken::new(
            "user",
            "domain",
            Password::new(password.as_str()).unwrap(),
            ProjectScope::Name("cn-north-4".into()),
        )
        .unwrap();
        // The token is the client's once IAM issued it in X-Subject-Token;
        // the server echoes it (and the password) either way.
        let echoed = [password.as_str(), issued.as_str()];
        let secrets = if with_subject_token { &echoed[..] } else { &echoed[..1] };
        let (mut headers, body) = response(status, &echoes, &echoed);
        if with_subject_token {
            headers.push(("X-Subject-Token".to_owned(), issued.clone()));
        }
        let mut r = Response::new(&body[..]);
        *r.status_mut() = StatusCode::from_u16(status).unwrap();
        for (name, value) in &headers {
            r.headers_mut().append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        match op.decode_response(r) {
            // The token itself is the answer; its Debug stays redacted.
            Ok(issued_token) => {
                prop_assert_eq!(issued_token.token.expose_secret(), issued.as_str());
                assert_clean("issued Debug", &format!("{issued_token:?}"), secrets)?;
            }
            Err(e) => check_error(&e, secrets)?,
        }
    }
}

/// The four echoes of the issue, one by one, with the marker in place.
#[test]
fn the_four_echoes_of_the_issue_come_back_redacted() {
    let token = "MIItoken-Echoed-0123456789";
    let ctx = RequestContext::new(
        Endpoint::parse("https://clouddc.example.com").unwrap(),
        Token::new(token).unwrap(),
    );
    let run = |status: u16, headers: &[(String, String)], body: &str| {
        let op = ShowInstanceStatus::new("project", "instance").unwrap();
        let start = Instant::now();
        let mut call = Call::new(op, policy(), start);
        drive(&mut call, &ctx, status, headers, body.as_bytes(), start)
    };
    let echo = format!("bad request; headers: x-auth-token: {token}\r\nhost: x");
    let body = serde_json::json!({"error_code": "CLOUDDC.0400", "error_msg": echo}).to_string();
    let Err(CallError::Api(e)) = run(400, &[], &body) else {
        panic!("400 is an error")
    };
    assert!(e.message().contains("x-auth-token: [redacted]"), "{e}");
    assert!(!e.to_string().contains(token));

    let body = serde_json::json!({"error_code": "APIGW.0301", "error_msg": echo}).to_string();
    let Err(CallError::Api(e @ ApiError::Unauthorized(_))) = run(401, &[], &body) else {
        panic!("401 is unauthorized")
    };
    assert!(e.message().contains("[redacted]") && !format!("{e:?}").contains(token));

    let headers = [("X-Request-Id".to_owned(), format!("req-{token}"))];
    let Err(CallError::Api(e)) = run(400, &headers, r#"{"error_code":"X","error_msg":"no"}"#)
    else {
        panic!("400 is an error")
    };
    assert_eq!(e.request_id(), Some("req-[redacted]"));

    let body = serde_json::json!({"state": "error", "error": {"error_msg": echo}}).to_string();
    let Ok(status) = run(200, &[], &body) else {
        panic!("a 200 status decodes")
    };
    let msg = status
        .error
        .as_ref()
        .and_then(|e| e.error_msg.as_deref())
        .unwrap();
    assert!(msg.contains("x-auth-token: [redacted]"), "{msg}");
    assert!(!status.to_string().contains(token) && !format!("{status:?}").contains(token));
}
