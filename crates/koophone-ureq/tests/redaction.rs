//! The four echoes of a hostile server (issue 12), end to end through
//! [`Client`]: a server on 127.0.0.1:0 that copies the request's headers
//! (and, for AK/SK and IAM, the secret key, security token and password it
//! was told) into a 400 or 401 message, an `X-Request-Id` header or a 200
//! status's error. With a token, AK/SK and IAM credentials (IAM served by the
//! simulator), no `Display`, `Debug` or accessor of what the client returns
//! holds any of them.

use koophone_check::echo::{ECHOES, Echo, EchoServer, visible};

use koophone_ureq::{
    AkSkCredentials, ApiErrorRef, Client, ClientBuilder, Endpoint, Error, IamPassword,
    InstanceStatus, IssueProjectToken, Password, ProjectScope, RetryPolicy, SecretKey,
    SecurityToken, ShowInstanceStatus, Token,
};

const TOKEN: &str = "MIItoken-ECHOED-0123456789abcdef";
const SK: &str = "sk-ECHOED-S3CRET-0123456789";
const SECURITY_TOKEN: &str = "st-ECHOED-session-9876543210";
const SIM_PASSWORD: &str = "sim-password";

fn assert_clean(what: &str, text: &str, secrets: &[String]) {
    let seen = visible(text);
    for secret in secrets {
        assert!(
            !seen.contains(&secret.to_ascii_lowercase()),
            "{what} holds a credential: {text}"
        );
    }
}

fn check_error(e: &Error, secrets: &[String]) {
    assert_clean("Display", &e.to_string(), secrets);
    assert_clean("Debug", &format!("{e:?}"), secrets);
    assert_clean("message", e.message().unwrap_or(""), secrets);
    assert_clean("error_code", e.error_code().unwrap_or(""), secrets);
    assert_clean("request_id", e.request_id().unwrap_or(""), secrets);
    let api = e.api_error().expect("an answer of the server");
    assert_clean("api_error", &format!("{api:?}"), secrets);
    match api {
        ApiErrorRef::Service(s) | ApiErrorRef::Unauthorized(s) => {
            assert_clean("error_type", s.error_type.as_deref().unwrap_or(""), secrets);
        }
        ApiErrorRef::Malformed(m) => {
            assert_clean("snippet", &m.snippet, secrets);
            assert_clean("reason", &m.reason, secrets);
        }
        _ => {}
    }
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        assert_clean("source", &inner.to_string(), secrets);
        source = inner.source();
    }
}

fn check_status(status: &InstanceStatus, secrets: &[String]) {
    assert_clean("output Display", &status.to_string(), secrets);
    assert_clean("output Debug", &format!("{status:?}"), secrets);
    let error = status.error.as_ref().expect("the state's error is kept");
    let message = error.error_msg.as_deref().unwrap_or("");
    assert_clean("error_msg", message, secrets);
    assert!(message.contains("[redacted]"), "{message}");
}

/// Run every echo against a client built by `builder`; `secrets` are what
/// the client holds, plus whatever token the echo server received.
fn run(builder: impl Fn(&str) -> ClientBuilder, extras: &[&str], secrets: &[&str]) {
    for echo in ECHOES {
        let server = EchoServer::start(echo, extras.iter().map(|s| s.to_string()).collect(), 8);
        let client = builder(&server.url)
            .retry_policy(RetryPolicy::none())
            .build()
            .unwrap();
        let op = ShowInstanceStatus::new("sim-project", "sim-instance").unwrap();
        let outcome = client.show_instance_status(&op);
        let mut all: Vec<String> = secrets.iter().map(|s| s.to_string()).collect();
        all.extend(server.tokens());
        assert!(
            !server.tokens().is_empty() || extras.contains(&SK),
            "{echo:?}: a token was sent"
        );
        match (echo, &outcome) {
            (Echo::StateError, Ok(status)) => check_status(status, &all),
            (Echo::StateError, Err(e)) => panic!("a 200 status decodes: {e}"),
            (_, Ok(status)) => panic!("{echo:?} is an error, got {status}"),
            (Echo::RequestId, Err(e)) => {
                check_error(e, &all);
                assert!(
                    e.request_id().unwrap_or("").starts_with("req-[redacted]"),
                    "{e:?}"
                );
            }
            (_, Err(e)) => {
                check_error(e, &all);
                assert!(e.message().unwrap_or("").contains("[redacted]"), "{e:?}");
            }
        }
    }
}

#[test]
fn a_token_echoed_by_the_server_is_never_shown() {
    run(
        |url| {
            Client::builder()
                .endpoint(Endpoint::parse(url).unwrap())
                .token(Token::new(TOKEN).unwrap())
        },
        &[],
        &[TOKEN],
    );
}

#[test]
fn aksk_secrets_echoed_by_the_server_are_never_shown() {
    run(
        |url| {
            let creds = AkSkCredentials::new("AKECHOTEST", SecretKey::new(SK).unwrap())
                .unwrap()
                .with_project_id("sim-project")
                .unwrap()
                .with_security_token(SecurityToken::new(SECURITY_TOKEN).unwrap());
            Client::builder()
                .endpoint(Endpoint::parse(url).unwrap())
                .aksk(creds)
        },
        &[SK, SECURITY_TOKEN],
        &[SK, SECURITY_TOKEN],
    );
}

#[test]
fn an_iam_password_and_issued_token_echoed_by_the_server_are_never_shown() {
    let sim = koophone_sim::Sim::builder().start().expect("simulator");
    let iam = Endpoint::parse(sim.base_url()).unwrap();
    run(
        |url| {
            let request = IssueProjectToken::new(
                "sim-user",
                "sim-domain",
                Password::new(SIM_PASSWORD).unwrap(),
                ProjectScope::Name("sim-project".into()),
            )
            .unwrap();
            Client::builder()
                .endpoint(Endpoint::parse(url).unwrap())
                .iam_password(IamPassword::new(iam.clone(), request))
        },
        &[SIM_PASSWORD],
        &[SIM_PASSWORD],
    );
}
