//! The four echoes of a hostile server (issue 12), end to end through
//! [`Client`]: a server on 127.0.0.1:0 that copies the request's headers
//! (and, for AK/SK and IAM, the secret key, security token and password it
//! was told) into a 400 or 401 message, an `X-Request-Id` header or a 200
//! status's error. With a token, AK/SK and IAM credentials (IAM served by the
//! simulator), no `Display`, `Debug` or accessor of what the client returns
//! holds any of them.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use koophone_ureq::{
    AkSkCredentials, ApiErrorRef, Client, ClientBuilder, Endpoint, Error, IamPassword,
    InstanceStatus, IssueProjectToken, Password, ProjectScope, RetryPolicy, SecretKey,
    SecurityToken, ShowInstanceStatus, Token,
};

const TOKEN: &str = "MIItoken-ECHOED-0123456789abcdef";
const SK: &str = "sk-ECHOED-S3CRET-0123456789";
const SECURITY_TOKEN: &str = "st-ECHOED-session-9876543210";
const SIM_PASSWORD: &str = "sim-password";

#[derive(Clone, Copy, Debug)]
enum Echo {
    /// A 400 whose `error_msg` holds the request's headers.
    BadRequest,
    /// The same in a 401 `APIGW.0301` body.
    Unauthorized,
    /// `X-Request-Id: req-<credential>`.
    RequestId,
    /// A ShowInstanceStatus 200 whose state error holds the headers.
    StateError,
}

const ECHOES: [Echo; 4] = [
    Echo::BadRequest,
    Echo::Unauthorized,
    Echo::RequestId,
    Echo::StateError,
];

/// The echo server: one thread, at most `max` connections, one request
/// each; `extras` are secrets it also puts in every echo (what a proxy that
/// logged them would know). Records every `X-Auth-Token` it received.
struct EchoServer {
    url: String,
    tokens: Arc<Mutex<Vec<String>>>,
}

impl EchoServer {
    fn start(echo: Echo, extras: Vec<String>, max: usize) -> EchoServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let tokens = Arc::new(Mutex::new(Vec::new()));
        let seen = tokens.clone();
        thread::spawn(move || {
            for stream in listener.incoming().take(max).flatten() {
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                let Some(headers) = read_request(&mut reader) else {
                    continue;
                };
                if let Some((_, token)) = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("x-auth-token"))
                {
                    seen.lock().unwrap().push(token.clone());
                }
                let reply = answer(echo, &headers, &extras);
                let _ = writer.write_all(reply.as_bytes());
            }
        });
        EchoServer { url, tokens }
    }

    fn tokens(&self) -> Vec<String> {
        self.tokens.lock().unwrap().clone()
    }
}

/// The request's headers, its body read and dropped; `None` on a broken request.
fn read_request(reader: &mut impl BufRead) -> Option<Vec<(String, String)>> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(headers)
}

fn answer(echo: Echo, headers: &[(String, String)], extras: &[String]) -> String {
    let mut text = String::from("request was: ");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    for extra in extras {
        text.push_str(&format!("known secret: {extra}\n"));
    }
    let credential = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-auth-token"))
        .map(|(_, v)| v.clone())
        .into_iter()
        .chain(extras.iter().cloned())
        .collect::<Vec<_>>()
        .join("-");
    let (status, extra_header, body) = match echo {
        Echo::BadRequest => (
            400,
            String::new(),
            serde_json::json!({"error_code": "CLOUDDC.0400", "error_msg": text}),
        ),
        Echo::Unauthorized => (
            401,
            String::new(),
            serde_json::json!({"error_code": "APIGW.0301", "error_msg": text}),
        ),
        Echo::RequestId => (
            400,
            format!("X-Request-Id: req-{credential}\r\n"),
            serde_json::json!({"error_code": "CLOUDDC.0400", "error_msg": "bad request"}),
        ),
        Echo::StateError => (
            200,
            String::new(),
            serde_json::json!({"state": "error", "error": {"error_code": "CLOUDDC.5001", "error_msg": text}}),
        ),
    };
    let body = body.to_string();
    format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra_header}\r\n{body}",
        body.len()
    )
}

fn visible(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                ' '
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

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
