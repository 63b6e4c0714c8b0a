//! The client's credentials against a scripted server on 127.0.0.1:0 that
//! plays both IAM (`POST /v3/auth/tokens`) and the service, records every
//! request and answers what each test scripts: AK/SK signatures on every
//! attempt, IAM tokens issued once and shared, a 401 answered with one
//! refresh, a wrong password reported once, and no secret in any error.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, SystemTime};

use koophone_proto::auth::signing;
use koophone_ureq::{
    AkSkCredentials, Client, Error, IamPassword, ProjectScope, RetryPolicy, SecretKey,
    SecurityToken, ShowInstanceStatus, ShowProgress,
};

mod common;

const SK: &str = "sk-S3CRET-0123456789abcdef";
const SESSION: &str = "session-S3CRET-token";
const PASSWORD: &str = "pw-S3CRET-hunter2";
const PROGRESS_OK: &str =
    r#"{"data":{"status":0,"waitingCount":0},"error_code":"0","error_msg":"OK"}"#;

/// One request as it arrived.
#[derive(Clone)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn is_iam(&self) -> bool {
        self.target.starts_with("/v3/auth/tokens")
    }

    /// The request as `http` sees it, for the core's signature check.
    fn to_request(&self) -> http::Request<Vec<u8>> {
        let mut builder = http::Request::builder()
            .method(self.method.as_str())
            .uri(self.target.as_str());
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder.body(self.body.clone()).unwrap()
    }
}

struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn answer(status: u16, body: &str) -> Answer {
    Answer {
        status,
        headers: vec![],
        body: body.to_owned(),
    }
}

type Script = dyn Fn(&Seen) -> Answer + Send + Sync;

struct Scripted {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Scripted {
    /// Serve `script` on 127.0.0.1:0 with keep-alive, one thread per connection.
    fn start(script: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let log = seen.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, script) = (log.clone(), script.clone());
                thread::spawn(move || serve(stream, &log, &*script));
            }
        });
        Scripted { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn count(&self, iam: bool) -> usize {
        self.seen().iter().filter(|s| s.is_iam() == iam).count()
    }
}

fn serve(stream: TcpStream, log: &Mutex<Vec<Seen>>, script: &Script) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_owned(),
            parts.next().unwrap_or("").to_owned(),
        );
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        let length = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let seen = Seen {
            method,
            target,
            headers,
            body,
        };
        let reply = script(&seen);
        log.lock().unwrap().push(seen);
        let mut head = format!(
            "HTTP/1.1 {} X\r\ncontent-length: {}\r\n",
            reply.status,
            reply.body.len()
        );
        for (name, value) in &reply.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        if writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(reply.body.as_bytes()))
            .is_err()
        {
            return;
        }
    }
}

/// IAM's answer: the token in `X-Subject-Token`, its expiry in the body.
fn issued(token: &str, lifetime: Duration) -> Answer {
    let expires = SystemTime::now() + lifetime;
    let at = time::OffsetDateTime::from(expires)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    Answer {
        status: 201,
        headers: vec![("x-subject-token", token.to_owned())],
        body: format!(r#"{{"token":{{"expires_at":"{at}","methods":["password"]}}}}"#),
    }
}

fn iam_password(server: &Scripted) -> IamPassword {
    common::iam_password(
        &server.url,
        ("iam-user", "iam-domain"),
        PASSWORD,
        ProjectScope::Name("cn-north-4".into()),
    )
}

fn client(server: &Scripted, retry: RetryPolicy) -> koophone_ureq::ClientBuilder {
    Client::builder()
        .endpoint_url(&server.url)
        .proxy_from_env(false)
        .timeout(Duration::from_secs(10))
        .retry_policy(RetryPolicy {
            min_backoff: Duration::from_millis(10),
            ..retry
        })
}

/// A client of `server` that gets its tokens from `server`'s IAM.
fn iam_client(server: &Scripted, retry: RetryPolicy) -> koophone_ureq::ClientBuilder {
    client(server, retry).iam_password(iam_password(server))
}

fn progress() -> ShowProgress {
    ShowProgress::new("1008600000104285462", "iRJEVP9").unwrap()
}

fn assert_no_secret(text: &str) {
    for secret in [SK, SESSION, PASSWORD] {
        assert!(!text.contains(secret), "a secret appeared: {text}");
    }
}

// ---------------------------------------------------------------- AK/SK

#[test]
fn aksk_signs_every_attempt_and_sends_no_token() {
    let answers = AtomicUsize::new(0);
    let server = Scripted::start(move |_| {
        if answers.fetch_add(1, Ordering::SeqCst) == 0 {
            answer(503, r#"{"error_code":"APIGW.0101","error_msg":"busy"}"#)
        } else {
            answer(200, PROGRESS_OK)
        }
    });
    let credentials = AkSkCredentials::new("AK-TEST", SecretKey::new(SK).unwrap())
        .unwrap()
        .with_project_id("proj-1")
        .unwrap()
        .with_security_token(SecurityToken::new(SESSION).unwrap());
    let client = client(&server, RetryPolicy::default())
        .aksk(credentials)
        .build()
        .unwrap();
    assert_no_secret(&format!("{client:?}"));
    client.show_progress(&progress()).unwrap();

    let seen = server.seen();
    assert_eq!(seen.len(), 2, "one retry after the 503");
    let secret = SecretKey::new(SK).unwrap();
    for request in &seen {
        assert_eq!(request.header("x-auth-token"), None);
        assert_eq!(request.header("x-project-id"), Some("proj-1"));
        assert_eq!(request.header("x-security-token"), Some(SESSION));
        let auth = request.header("authorization").unwrap();
        assert!(
            auth.starts_with("SDK-HMAC-SHA256 Access=AK-TEST, SignedHeaders="),
            "{auth}"
        );
        signing::verify(
            &request.to_request(),
            &secret,
            SystemTime::now(),
            Duration::from_secs(60),
        )
        .unwrap();
    }
}

#[test]
fn a_refused_signature_is_reported_once_as_unauthorized() {
    let server = Scripted::start(|_| {
        answer(
            401,
            r#"{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information: verify aksk signature fail"}"#,
        )
    });
    let client = client(&server, RetryPolicy::default())
        .aksk(AkSkCredentials::new("AK-TEST", SecretKey::new(SK).unwrap()).unwrap())
        .build()
        .unwrap();
    let err = client
        .show_instance_status(&ShowInstanceStatus::new("p", "i").unwrap())
        .unwrap_err();
    assert_eq!(err.kind(), "unauthorized");
    assert_eq!(err.error_code(), Some("APIGW.0301"));
    assert_eq!(server.seen().len(), 1, "a 401 is not retried");
    assert_no_secret(&format!("{err} {err:?}"));
}

// ---------------------------------------------------------------- IAM

/// IAM issues `token-N` for the N-th token request (from 1); the service
/// accepts the tokens in `accepted`.
fn iam_and_service(accepted: &'static [&'static str], lifetime: Duration) -> Scripted {
    let issued_count = AtomicUsize::new(0);
    Scripted::start(move |seen| {
        if seen.is_iam() {
            let n = issued_count.fetch_add(1, Ordering::SeqCst) + 1;
            return issued(&format!("token-{n}"), lifetime);
        }
        match seen.header("x-auth-token") {
            Some(token) if accepted.contains(&token) => answer(200, PROGRESS_OK),
            _ => answer(
                401,
                r#"{"error_code":"APIGW.0301","error_msg":"bad token"}"#,
            ),
        }
    })
}

#[test]
fn an_iam_token_is_issued_once_and_reused() {
    let server = iam_and_service(&["token-1"], Duration::from_secs(3600));
    let client = iam_client(&server, RetryPolicy::none())
        .user_agent("auth-test/1")
        .build()
        .unwrap();
    for _ in 0..3 {
        client.show_progress(&progress()).unwrap();
    }
    let seen = server.seen();
    assert_eq!(server.count(true), 1);
    assert_eq!(server.count(false), 3);
    let iam = &seen[0];
    assert_eq!(
        (iam.method.as_str(), iam.target.as_str()),
        ("POST", "/v3/auth/tokens?nocatalog=true")
    );
    assert_eq!(iam.header("user-agent"), Some("auth-test/1"));
    let body = String::from_utf8(iam.body.clone()).unwrap();
    assert!(
        body.contains(r#""user":{"name":"iam-user","password":"#),
        "unexpected token request body"
    );
    assert!(
        body.contains(r#""scope":{"project":{"name":"cn-north-4"}}"#),
        "unexpected token request body"
    );
    assert!(
        seen[1..]
            .iter()
            .all(|s| s.header("x-auth-token") == Some("token-1"))
    );
}

#[test]
fn a_401_gets_one_new_token_and_one_more_try() {
    // The first token is refused, the second accepted.
    let server = iam_and_service(&["token-2"], Duration::from_secs(3600));
    let client = iam_client(&server, RetryPolicy::none()).build().unwrap();
    client.show_progress(&progress()).unwrap();
    let tokens: Vec<_> = server
        .seen()
        .iter()
        .map(|s| (s.is_iam(), s.header("x-auth-token").map(str::to_owned)))
        .collect();
    assert_eq!(
        tokens,
        [
            (true, None),
            (false, Some("token-1".into())),
            (true, None),
            (false, Some("token-2".into())),
        ]
    );
}

#[test]
fn a_replacement_token_refused_too_ends_the_call() {
    let server = iam_and_service(&[], Duration::from_secs(3600));
    let client = iam_client(&server, RetryPolicy::default()).build().unwrap();
    let err = client.show_progress(&progress()).unwrap_err();
    assert_eq!(err.kind(), "unauthorized");
    assert_eq!(server.count(true), 2, "one refresh after the first 401");
    assert_eq!(server.count(false), 2, "no retry after the second 401");
    assert_no_secret(&format!("{err} {err:?}"));
}

#[test]
fn a_wrong_password_is_one_iam_request_and_a_clear_error() {
    let server = Scripted::start(|seen| {
        assert!(seen.is_iam(), "nothing reaches the service without a token");
        answer(
            401,
            r#"{"error":{"code":401,"message":"The username or password is wrong.","title":"Unauthorized"}}"#,
        )
    });
    let client = iam_client(&server, RetryPolicy::default()).build().unwrap();
    let err = client.show_progress(&progress()).unwrap_err();
    assert!(matches!(err, Error::Iam(_)), "{err:?}");
    assert_eq!(err.kind(), "unauthorized");
    assert_eq!(err.http_status(), Some(401));
    assert_eq!(err.message(), Some("The username or password is wrong."));
    let shown = err.to_string();
    assert!(
        shown.starts_with(
            "iam issued no token (check the user, domain and password): unauthorized: http 401"
        ),
        "{shown}"
    );
    assert_no_secret(&format!("{err} {err:?} {client:?}"));
    assert_eq!(server.seen().len(), 1, "a refused password is not retried");
}

#[test]
fn iam_unreachable_is_a_transport_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let server = iam_and_service(&["token-1"], Duration::from_secs(3600));
    let iam = common::iam_password(&closed, ("u", "d"), PASSWORD, ProjectScope::Id("p".into()));
    let client = client(&server, RetryPolicy::default())
        .iam_password(iam)
        .build()
        .unwrap();
    let err = client.show_progress(&progress()).unwrap_err();
    assert_eq!(err.kind(), "transport");
    assert!(
        err.to_string()
            .starts_with("iam issued no token: could not connect"),
        "{err}"
    );
    assert!(server.seen().is_empty());
}

#[test]
fn threads_sharing_a_client_share_one_token_request() {
    let server = iam_and_service(&["token-1"], Duration::from_secs(3600));
    let client = iam_client(&server, RetryPolicy::none()).build().unwrap();
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (client, start) = (client.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                for _ in 0..5 {
                    client.show_progress(&progress()).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(server.count(true), 1);
    assert_eq!(server.count(false), 40);
}

#[test]
fn tokens_are_refreshed_before_they_expire() {
    // 1.5 s tokens, due for refresh after 0.75 s; the service takes only
    // tokens that have not expired, as IAM's do.
    let issued_at: Arc<Mutex<HashMap<String, SystemTime>>> = Arc::default();
    let issued_count = AtomicUsize::new(0);
    let lifetime = Duration::from_millis(1500);
    let map = issued_at.clone();
    let server = Scripted::start(move |seen| {
        if seen.is_iam() {
            let n = issued_count.fetch_add(1, Ordering::SeqCst) + 1;
            let token = format!("token-{n}");
            map.lock().unwrap().insert(token.clone(), SystemTime::now());
            return issued(&token, lifetime);
        }
        let fresh = seen
            .header("x-auth-token")
            .and_then(|t| map.lock().unwrap().get(t).copied())
            .is_some_and(|at| at.elapsed().unwrap_or_default() < lifetime);
        if fresh {
            answer(200, PROGRESS_OK)
        } else {
            answer(
                401,
                r#"{"error_code":"APIGW.0307","error_msg":"The token must be updated."}"#,
            )
        }
    });
    let client = iam_client(&server, RetryPolicy::none()).build().unwrap();
    // Calls for about 4 s: across at least two expiries, none refused.
    let until = std::time::Instant::now() + Duration::from_secs(4);
    let mut calls = 0;
    while std::time::Instant::now() < until && calls < 200 {
        client.show_progress(&progress()).unwrap();
        calls += 1;
        thread::sleep(Duration::from_millis(50));
    }
    let service: Vec<_> = server.seen().into_iter().filter(|s| !s.is_iam()).collect();
    assert_eq!(service.len(), calls, "no request was sent twice");
    assert!(issued_at.lock().unwrap().len() >= 3, "a token per expiry");
}

#[test]
fn issue_token_asks_iam_once_and_needs_iam_credentials() {
    let server = iam_and_service(&[], Duration::from_secs(3600));
    let issued = Client::builder()
        .proxy_from_env(false)
        .iam_password(iam_password(&server))
        .issue_token()
        .unwrap();
    assert_eq!(issued.token.expose_secret(), "token-1");
    let left = issued.expires_at.duration_since(SystemTime::now()).unwrap();
    assert!(left > Duration::from_secs(3500), "{left:?}");
    assert_eq!(server.seen().len(), 1);

    let err = Client::builder()
        .aksk(AkSkCredentials::new("AK", SecretKey::new(SK).unwrap()).unwrap())
        .issue_token()
        .unwrap_err();
    assert_eq!(err.kind(), "invalid_input");
}
