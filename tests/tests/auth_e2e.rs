//! End to end, the client's credentials against the simulator on loopback:
//! AK/SK signing (valid, temporary, and every way a signature is refused:
//! tampered, wrong secret key, stale date — each a single 401, never
//! retried), and IAM password credentials (a wrong password, waits across
//! several token expiries, and threads sharing one client that send one IAM
//! request per refresh). Every error and `Debug` here is checked for secrets.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use http::StatusCode;
use koophone_sim::{AccessKeySpec, IAM_TOKENS_PATH, LoggedRequest, Scenario, Sim, SimHandle};
use koophone_tests::tampered::{Tamper, TamperedProgress};
use koophone_ureq::{
    AkSkCredentials, Client, ClientBuilder, Endpoint, Error, IamPassword, IssueProjectToken,
    Jitter, Password, PrepareStatus, ProjectScope, RetryPolicy, SecretKey, SecurityToken,
    ShowInstanceStatus, ShowProgress, WaitPolicy,
};

const USER: &str = "1008600000104285462";
const AK: &str = "sim-ak";
const SK: &str = "sim-sk";
const IAM_USER: &str = "sim-user";
const IAM_DOMAIN: &str = "sim-domain";
const IAM_PROJECT: &str = "sim-project";
const IAM_PASSWORD: &str = "sim-password";

fn start(scenario: Scenario) -> SimHandle {
    Sim::builder()
        .scenario(scenario)
        .seed(11)
        .start()
        .expect("simulator starts")
}

/// Retries on, and quick: a test fails if anything is retried that must not be.
fn retrying() -> RetryPolicy {
    RetryPolicy {
        retries: 2,
        min_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_elapsed: Duration::from_secs(20),
        jitter: Jitter::Equal,
    }
}

fn builder(sim: &SimHandle) -> ClientBuilder {
    Client::builder()
        .endpoint_url(sim.base_url())
        .proxy_from_env(false)
        .retry_policy(retrying())
}

fn progress(instance: &str) -> ShowProgress {
    ShowProgress::new(USER, instance).expect("valid ids")
}

fn status() -> ShowInstanceStatus {
    ShowInstanceStatus::new("sim-project", "sim-instance").expect("valid ids")
}

fn aksk(secret: &str) -> AkSkCredentials {
    AkSkCredentials::new(AK, SecretKey::new(secret).expect("secret key")).expect("access key")
}

fn iam(sim: &SimHandle, password: &str) -> IamPassword {
    IamPassword::new(
        Endpoint::parse(sim.base_url()).expect("endpoint"),
        IssueProjectToken::new(
            IAM_USER,
            IAM_DOMAIN,
            Password::new(password).expect("password"),
            ProjectScope::Name(IAM_PROJECT.into()),
        )
        .expect("token request"),
    )
}

/// Every rendering of `text` is free of the secrets and of every token the
/// simulator saw.
fn assert_no_secrets(text: &str, sim: &SimHandle) {
    let mut secrets = vec![SK.to_owned(), IAM_PASSWORD.to_owned(), "wrong-sk".into()];
    secrets.extend(
        sim.request_log()
            .iter()
            .filter_map(|r| r.header("x-auth-token").map(str::to_owned)),
    );
    for secret in secrets {
        assert!(!text.contains(&secret), "a secret appeared: {text}");
    }
}

fn shown(error: &Error) -> String {
    let mut shown = format!("{error} | {error:?}");
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        shown.push_str(&format!(" | {s} | {s:?}"));
        source = s.source();
    }
    shown
}

fn is_iam(request: &LoggedRequest) -> bool {
    request.path() == IAM_TOKENS_PATH
}

// ---------------------------------------------------------------- AK/SK

#[test]
fn aksk_signed_requests_are_accepted() {
    let sim = start(Scenario::default());
    let client = builder(&sim).aksk(aksk(SK)).build().expect("client");
    let answer = client.show_progress(&progress("iRJEVP9")).expect("answer");
    assert_eq!(answer.status, PrepareStatus::Queuing);
    client.show_instance_status(&status()).expect("answer");

    let log = sim.request_log();
    assert_eq!(log.len(), 2);
    for request in &log {
        assert_eq!(request.status, StatusCode::OK);
        assert_eq!(request.header("x-auth-token"), None);
        assert!(request.header("x-sdk-date").is_some());
        let authorization = request.header("authorization").expect("signed");
        assert!(
            authorization.starts_with("SDK-HMAC-SHA256 Access=sim-ak, SignedHeaders="),
            "{authorization}"
        );
    }
    assert_no_secrets(&format!("{client:?}"), &sim);
}

#[test]
fn temporary_credentials_send_and_sign_their_security_token() {
    let mut key = AccessKeySpec::new("temp-ak", "temp-sk");
    key.security_token = Some("temp-session-token".into());
    let scenario = Scenario {
        access_keys: vec![key],
        ..Scenario::default()
    };
    let sim = start(scenario);
    let temporary = AkSkCredentials::new("temp-ak", SecretKey::new("temp-sk").unwrap()).unwrap();
    let with_session = temporary
        .clone()
        .with_security_token(SecurityToken::new("temp-session-token").unwrap());
    builder(&sim)
        .aksk(with_session)
        .build()
        .unwrap()
        .show_instance_status(&status())
        .expect("temporary credentials with their session token");
    let log = sim.request_log();
    assert_eq!(
        log[0].header("x-security-token"),
        Some("temp-session-token")
    );

    // Without the session token the pair is refused, once.
    let err = builder(&sim)
        .aksk(temporary)
        .build()
        .unwrap()
        .show_instance_status(&status())
        .unwrap_err();
    assert_eq!(err.kind(), "unauthorized");
    assert_eq!(sim.request_log().len(), 2);
}

#[test]
fn refused_signatures_are_one_401_each_and_never_retried() {
    // Each way a signed request is spoiled: when it is signed, what changes after.
    let spoiled: [(Duration, Tamper); 3] = [
        // One hex digit of the signature changed.
        (Duration::ZERO, |request| {
            let value = request.headers()["authorization"].to_str().unwrap();
            let last = if value.ends_with('0') { '1' } else { '0' };
            let tampered = format!("{}{last}", &value[..value.len() - 1]);
            request
                .headers_mut()
                .insert("authorization", tampered.parse().unwrap());
        }),
        // The body changed after signing.
        (Duration::ZERO, |request| {
            *request.body_mut() =
                format!(r#"{{"user_id":"{USER}","instance_id":"iOTHER01"}}"#).into_bytes();
        }),
        // Signed 16 minutes ago: outside the gateway's 15-minute window.
        (Duration::from_secs(16 * 60), |_| {}),
    ];
    for (signed_ago, tamper) in spoiled {
        let sim = start(Scenario::default());
        let client = builder(&sim).aksk(aksk(SK)).build().unwrap();
        let op = TamperedProgress {
            op: progress("iRJEVP9"),
            signed_ago,
            tamper,
        };
        let err = client.call(&op).unwrap_err();
        assert_eq!(err.kind(), "unauthorized", "{err}");
        assert_eq!(err.http_status(), Some(401));
        assert_eq!(err.error_code(), Some("APIGW.0301"));
        let log = sim.request_log();
        assert_eq!(log.len(), 1, "a refused signature is not retried");
        assert_eq!(log[0].status, StatusCode::UNAUTHORIZED);
        assert_no_secrets(&shown(&err), &sim);
    }
}

#[test]
fn a_wrong_secret_key_is_one_401() {
    let sim = start(Scenario::default());
    let client = builder(&sim).aksk(aksk("wrong-sk")).build().unwrap();
    let err = client.show_progress(&progress("iRJEVP9")).unwrap_err();
    assert_eq!(err.kind(), "unauthorized");
    assert_eq!(err.error_code(), Some("APIGW.0301"));
    assert_eq!(sim.request_log().len(), 1);
    assert_no_secrets(&format!("{} {client:?}", shown(&err)), &sim);
}

// ---------------------------------------------------------------- IAM

#[test]
fn an_iam_token_is_issued_once_and_sent_as_x_auth_token() {
    let sim = start(Scenario::default());
    let client = builder(&sim)
        .iam_password(iam(&sim, IAM_PASSWORD))
        .build()
        .unwrap();
    client.show_progress(&progress("iRJEVP9")).unwrap();
    client.show_instance_status(&status()).unwrap();
    let log = sim.request_log();
    assert_eq!(log.len(), 3);
    assert!(is_iam(&log[0]));
    assert_eq!(log[0].status, StatusCode::CREATED);
    let token = log[1].header("x-auth-token").expect("token sent");
    assert_eq!(log[2].header("x-auth-token"), Some(token));
    assert_eq!(log[1].header("authorization"), None);
    assert_no_secrets(&format!("{client:?}"), &sim);
}

#[test]
fn a_wrong_iam_password_is_one_request_and_a_clear_error() {
    let sim = start(Scenario::default());
    let client = builder(&sim)
        .iam_password(iam(&sim, "not-the-password"))
        .build()
        .unwrap();
    let err = client.show_progress(&progress("iRJEVP9")).unwrap_err();
    assert!(matches!(err, Error::Iam(_)), "{err:?}");
    assert_eq!(err.kind(), "unauthorized");
    assert_eq!(err.http_status(), Some(401));
    let line = err.to_string();
    assert!(
        line.starts_with("iam issued no token (check the user, domain and password)"),
        "{line}"
    );
    assert!(!line.contains("not-the-password"), "{line}");
    let log = sim.request_log();
    assert_eq!(log.len(), 1, "one IAM request, nothing sent to the service");
    assert!(is_iam(&log[0]));
    assert_eq!(log[0].status, StatusCode::UNAUTHORIZED);
    assert_no_secrets(&shown(&err), &sim);
}

/// IAM tokens that live `ms` milliseconds.
fn short_lived_tokens(ms: u64) -> Scenario {
    let mut scenario = Scenario::default();
    scenario.iam.token_lifetime_ms = ms;
    // Room for every request of the busiest test (8 threads, 100 calls each).
    scenario.request_log_capacity = 4096;
    scenario
}

#[test]
fn a_wait_across_several_token_expiries_never_fails_for_auth() {
    // 1.5 s tokens; iRJEVP9 becomes normal after 5 s: three expiries or more.
    let sim = start(short_lived_tokens(1500));
    let client = builder(&sim)
        .iam_password(iam(&sim, IAM_PASSWORD))
        .build()
        .unwrap();
    let policy = WaitPolicy {
        min_interval: Duration::from_millis(200),
        max_interval: Duration::from_millis(400),
        max_wait: Duration::from_secs(30),
        ..WaitPolicy::default()
    };
    let waited = client
        .wait_until_ready(progress("iRJEVP9"), policy, |_| {})
        .expect("ready");
    assert_eq!(waited.output.status, PrepareStatus::Normal);

    let log = sim.request_log();
    assert_eq!(log[0].seq, 1, "the request log kept every request");
    let (iam, service): (Vec<_>, Vec<_>) = log.iter().partition(|r| is_iam(r));
    assert!(
        service.iter().all(|r| r.status == StatusCode::OK),
        "a poll was refused"
    );
    assert_eq!(service.len(), waited.polls as usize);
    assert!(iam.len() >= 3, "{} token requests", iam.len());
    let tokens: BTreeSet<_> = service
        .iter()
        .filter_map(|r| r.header("x-auth-token"))
        .collect();
    assert_eq!(tokens.len(), iam.len(), "every token issued was used");
}

#[test]
fn threads_sharing_a_client_send_one_iam_request_per_refresh() {
    // 2 s tokens, refreshed 1 s before they expire (at most half their life).
    const LIFETIME: Duration = Duration::from_secs(2);
    let sim = start(short_lived_tokens(2000));
    let client = builder(&sim)
        .iam_password(iam(&sim, IAM_PASSWORD))
        .build()
        .unwrap();
    let threads = 8;
    let start = Arc::new(Barrier::new(threads));
    let until = Instant::now() + Duration::from_secs(5);
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (client, start) = (client.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                let mut calls = 0;
                while Instant::now() < until && calls < 100 {
                    client.show_instance_status(&status()).expect("answer");
                    calls += 1;
                    thread::sleep(Duration::from_millis(50));
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }

    let log = sim.request_log();
    assert_eq!(log[0].seq, 1, "the request log kept every request");
    let (iam, service): (Vec<_>, Vec<_>) = log.iter().partition(|r| is_iam(r));
    assert!(service.iter().all(|r| r.status == StatusCode::OK));
    assert!(iam.len() >= 3, "{} token requests in 5 s", iam.len());
    // One request per refresh: each issued token was used, and a refresh
    // comes half a lifetime after the last at the soonest (noise only delays it).
    let tokens: BTreeSet<_> = service
        .iter()
        .filter_map(|r| r.header("x-auth-token"))
        .collect();
    assert_eq!(tokens.len(), iam.len());
    for pair in iam.windows(2) {
        let gap = pair[1].at.saturating_sub(pair[0].at);
        assert!(gap >= LIFETIME / 4, "two token requests {gap:?} apart");
    }
}

#[test]
fn issue_token_gets_a_token_the_service_accepts() {
    let sim = start(Scenario::default());
    let issued = Client::builder()
        .proxy_from_env(false)
        .iam_password(iam(&sim, IAM_PASSWORD))
        .issue_token()
        .expect("token");
    let left = issued
        .expires_at
        .duration_since(SystemTime::now())
        .expect("expires later");
    assert!(left > Duration::from_secs(23 * 3600), "{left:?}");
    let client = builder(&sim).token(issued.token).build().unwrap();
    client.show_instance_status(&status()).expect("accepted");
    assert_eq!(sim.request_log().len(), 2);
}
