//! End to end: `koophone-ureq`'s blocking client against the simulator on
//! loopback (port 0), plus two tiny raw servers for what a faithful service
//! never does (endless bodies, lying Content-Length). Every error produced
//! here is also checked for the token.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use koophone_sim::{Fault, FaultRoute, FaultRule, LoggedRequest, Scenario, Sim, SimHandle};
use koophone_tests::tampered::TamperedProgress;
use koophone_ureq::{
    CancelToken, Client, ClientBuilder, CredentialsError, Error, InstanceState, Jitter, Observed,
    PrepareStatus, Progress, RetryPolicy, ShowInstanceStatus, ShowProgress, Token,
    TransportErrorKind, UntilState, WaitPolicy,
};

const TOKEN: &str = "sim-token";
const USER: &str = "1008600000104285462";
const OTHER_USERS_INSTANCE: &str = "iOTHER01";

fn sim_with(faults: Vec<FaultRule>) -> SimHandle {
    let scenario = Scenario {
        faults,
        ..Scenario::default()
    };
    Sim::builder()
        .scenario(scenario)
        .seed(7)
        .start()
        .expect("simulator starts")
}

/// A simulator whose `fault` hits every request on `route`, `times` times in
/// a row (`None`: always).
fn sim_faulty(route: FaultRoute, fault: Fault, times: Option<u64>) -> SimHandle {
    sim_with(vec![FaultRule {
        route,
        probability: 1.0,
        burst: times.map_or(1, |n| u32::try_from(n).expect("a short burst")),
        from_ms: 0,
        until_ms: None,
        max_count: times,
        fault,
    }])
}

/// Quick retries so that retry tests take milliseconds, not seconds.
fn fast_retries(retries: u32) -> RetryPolicy {
    RetryPolicy {
        retries,
        min_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_elapsed: Duration::from_secs(20),
        jitter: Jitter::Equal,
    }
}

fn builder(base_url: &str) -> ClientBuilder {
    Client::builder()
        .endpoint_url(base_url)
        .token(Token::new(TOKEN).expect("token"))
        // Tests talk to loopback only, whatever proxy the environment names.
        .proxy_from_env(false)
        .retry_policy(fast_retries(2))
}

/// A client that returns every failure as it happens.
fn builder_without_retries(base_url: &str) -> ClientBuilder {
    builder(base_url).retry_policy(RetryPolicy::none())
}

fn client_without_retries(base_url: &str) -> Client {
    builder_without_retries(base_url).build().expect("client")
}

fn client(sim: &SimHandle) -> Client {
    builder(sim.base_url()).build().expect("client")
}

fn progress(instance: &str) -> ShowProgress {
    ShowProgress::new(USER, instance).expect("valid ids")
}

fn status(instance: &str) -> ShowInstanceStatus {
    ShowInstanceStatus::new("sim-project", instance).expect("valid ids")
}

/// The error, after checking that no rendering of it carries the token.
fn checked(error: Error) -> Error {
    let mut shown = format!("{error} | {error:?}");
    let mut source = std::error::Error::source(&error);
    while let Some(s) = source {
        shown.push_str(&format!(" | {s} | {s:?}"));
        source = s.source();
    }
    assert!(!shown.contains(TOKEN), "token in error output: {shown}");
    assert!(
        !shown.contains('\n'),
        "error output is not one line: {shown}"
    );
    error
}

/// A ShowProgress wait until ready under [`fast_wait`] that must fail; its
/// error, [`checked`].
fn failed_wait(client: &Client, instance: &str, max_wait_secs: u64) -> Error {
    let policy = fast_wait(Duration::from_secs(max_wait_secs));
    match client.wait_until_ready(progress(instance), policy, |_| {}) {
        Ok(ready) => panic!("the wait for {instance} ended ready: {ready:?}"),
        Err(e) => checked(e),
    }
}

fn fast_wait(max_wait: Duration) -> WaitPolicy {
    WaitPolicy {
        min_interval: Duration::from_millis(200),
        max_interval: Duration::from_millis(800),
        max_wait,
        ..WaitPolicy::default()
    }
}

/// The one request `sim` received, after checking its method, path and token.
fn only_request(sim: &SimHandle, method: http::Method, uri: &str) -> LoggedRequest {
    let log = sim.request_log();
    assert_eq!(log.len(), 1);
    let request = log.into_iter().next().expect("one request");
    assert_eq!(request.method, method);
    assert_eq!(request.uri, uri);
    assert_eq!(request.header("x-auth-token"), Some(TOKEN));
    request
}

#[test]
fn documented_show_progress_example() {
    let sim = sim_with(Vec::new());
    let answer = client(&sim)
        .show_progress(&progress("iRJEVP9"))
        .expect("answer");
    // The default scenario starts iRJEVP9 in the queue, counting down from 3.
    assert_eq!(answer.status, PrepareStatus::Queuing);
    assert!(matches!(answer.waiting_count, Some(1..=3)), "{answer:?}");

    let request = only_request(&sim, http::Method::POST, "/v1/instances/prepare-progress");
    let body: serde_json::Value = serde_json::from_slice(&request.body).expect("json body");
    assert_eq!(
        body,
        serde_json::json!({"user_id": USER, "instance_id": "iRJEVP9"})
    );
}

#[test]
fn documented_show_instance_status_example() {
    let sim = sim_with(Vec::new());
    let answer = client(&sim)
        .show_instance_status(&status("sim-instance"))
        .expect("answer");
    assert_eq!(answer.state, InstanceState::Stopped);
    assert_eq!(answer.error, None);

    only_request(
        &sim,
        http::Method::GET,
        "/v1/sim-project/instances/sim-instance/status",
    );
}

#[test]
fn every_documented_error_code_reaches_the_caller() {
    let sim = sim_faulty(
        FaultRoute::ShowProgress,
        Fault::InternalError { error_code: None },
        Some(1),
    );
    let client = client_without_retries(sim.base_url());

    let e = checked(client.show_progress(&progress("iRJEVP9")).unwrap_err());
    assert_eq!((e.kind(), e.http_status()), ("service", Some(500)));
    assert_eq!(e.error_code(), Some("KOOPHONE.API.9999"));
    assert!(e.is_retryable());
    assert!(e.request_id().is_some(), "{e:?}");

    // A body the client's own validation would never build, to get
    // `KOOPHONE.API.1000` from the service itself.
    let raw = TamperedProgress {
        op: progress("iRJEVP9"),
        signed_ago: Duration::ZERO,
        tamper: |request| {
            request.headers_mut().remove(http::header::CONTENT_LENGTH);
            *request.body_mut() = br#"{"user_id":"","instance_id":"iRJEVP9"}"#.to_vec();
        },
    };
    let e = checked(client.call(&raw).unwrap_err());
    assert_eq!((e.kind(), e.http_status()), ("service", Some(400)));
    assert_eq!(e.error_code(), Some("KOOPHONE.API.1000"));
    assert!(!e.is_retryable());

    let e = checked(
        client
            .show_progress(&progress(OTHER_USERS_INSTANCE))
            .unwrap_err(),
    );
    assert_eq!((e.kind(), e.http_status()), ("service", Some(400)));
    assert_eq!(e.error_code(), Some("KOOPHONE.API.1001"));
    assert!(
        matches!(&e, Error::Service(s) if s.code() == Some(koophone_ureq::ErrorCode::NoInstancePermission))
    );

    let e = checked(client.show_progress(&progress("iNOSUCH1")).unwrap_err());
    assert_eq!(e.error_code(), Some("KOOPHONE.API.4001"));
    assert!(e.message().is_some_and(|m| !m.is_empty()));

    let e = checked(client.show_instance_status(&status("no-such")).unwrap_err());
    assert_eq!((e.kind(), e.http_status()), ("service", Some(404)));

    let stranger = builder(sim.base_url())
        .token(Token::new("not-the-token").expect("token"))
        .build()
        .expect("client");
    for e in [
        stranger.show_progress(&progress("iRJEVP9")).unwrap_err(),
        stranger
            .show_instance_status(&status("sim-instance"))
            .unwrap_err(),
    ] {
        let e = checked(e);
        assert_eq!((e.kind(), e.http_status()), ("unauthorized", Some(401)));
        assert!(
            e.error_code().is_some_and(|c| c.starts_with("APIGW.")),
            "{e:?}"
        );
        assert!(!format!("{e:?}").contains("not-the-token"));
    }

    // Over-long input is refused before a client even exists: nothing sent.
    let too_long = "x".repeat(33);
    assert_eq!(
        ShowProgress::new(USER, too_long).unwrap_err().field,
        "instance_id"
    );
    // Seven requests above (the 401s included), each sent once: no retries.
    assert_eq!(sim.request_log().len(), 7);
}

#[test]
fn ok_status_with_an_error_code_is_an_error() {
    let sim = sim_faulty(
        FaultRoute::ShowProgress,
        Fault::OkWithError {
            error_code: Some("KOOPHONE.API.1001".to_owned()),
        },
        Some(1),
    );
    let e = checked(
        client(&sim)
            .show_progress(&progress("iRJEVP9"))
            .unwrap_err(),
    );
    assert_eq!(e.kind(), "service");
    assert_eq!(e.http_status(), Some(200));
    assert_eq!(e.error_code(), Some("KOOPHONE.API.1001"));
    assert_eq!(sim.request_log().len(), 1, "not retryable");
}

#[test]
fn a_burst_of_500s_is_retried_until_success() {
    let sim = sim_faulty(
        FaultRoute::ShowProgress,
        Fault::InternalError { error_code: None },
        Some(2),
    );
    let attempts = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&attempts);
    let client = builder(sim.base_url())
        .token_source(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Token::new(TOKEN).map_err(CredentialsError::new)
        })
        .build()
        .expect("client");
    let answer = client
        .show_progress(&other_users_progress())
        .expect("third attempt succeeds");
    assert_eq!(answer.status, PrepareStatus::Normal);
    let statuses: Vec<u16> = sim
        .request_log()
        .iter()
        .map(|r| r.status.as_u16())
        .collect();
    assert_eq!(statuses, [500, 500, 200]);
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        3,
        "the token source is read per attempt"
    );
}

/// iOTHER01 belongs to the second user and is always `normal`.
const OTHER_USERS_INSTANCE_OWNER: (&str, &str) = ("1008600000104285463", "iOTHER01");

fn other_users_progress() -> ShowProgress {
    ShowProgress::new(OTHER_USERS_INSTANCE_OWNER.0, OTHER_USERS_INSTANCE_OWNER.1).expect("ids")
}

/// The error `client` gets for [`other_users_progress`], [`checked`].
fn other_users_progress_error(client: &Client) -> Error {
    checked(
        client
            .show_progress(&other_users_progress())
            .expect_err("the call fails"),
    )
}

#[test]
fn persistent_5xx_ends_after_the_configured_attempts() {
    let sim = sim_faulty(
        FaultRoute::Any,
        Fault::InternalError { error_code: None },
        None,
    );
    let e = other_users_progress_error(&client(&sim));
    assert_eq!((e.kind(), e.http_status()), ("service", Some(500)));
    assert_eq!(e.error_code(), Some("KOOPHONE.API.9999"));
    assert_eq!(sim.request_log().len(), 3, "one attempt and two retries");
}

#[test]
fn throttling_honours_retry_after() {
    let sim = sim_faulty(
        FaultRoute::ShowInstanceStatus,
        Fault::Throttled {
            retry_after_s: Some(1),
        },
        Some(1),
    );
    let answer = client(&sim)
        .show_instance_status(&status("sim-instance"))
        .expect("answer after the pause");
    assert_eq!(answer.state, InstanceState::Stopped);
    let log = sim.request_log();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].status, 429);
    assert!(
        log[1].at - log[0].at >= Duration::from_secs(1),
        "retried {:?} after a Retry-After of 1 s",
        log[1].at - log[0].at
    );

    // Without retries, the caller sees the 429 and what it asked for.
    let sim = sim_faulty(
        FaultRoute::Any,
        Fault::Throttled {
            retry_after_s: Some(7),
        },
        None,
    );
    let once = client_without_retries(sim.base_url());
    let e = other_users_progress_error(&once);
    assert_eq!((e.kind(), e.http_status()), ("throttled", Some(429)));
    assert_eq!(
        e.retry_after(),
        Some(koophone_ureq::RetryAfter::Delay(Duration::from_secs(7)))
    );
}

#[test]
fn html_502_is_a_retryable_service_error() {
    let sim = sim_faulty(FaultRoute::Any, Fault::BadGateway {}, Some(1));
    let once = client_without_retries(sim.base_url());
    let e = other_users_progress_error(&once);
    assert_eq!(e.http_status(), Some(502));
    assert!(e.is_retryable());
    // The rule fired once; the next call goes through.
    assert!(client(&sim).show_progress(&other_users_progress()).is_ok());

    let sim = sim_faulty(FaultRoute::Any, Fault::BadGateway {}, Some(1));
    let answer = client(&sim).show_progress(&other_users_progress());
    assert_eq!(answer.expect("retried").status, PrepareStatus::Normal);
}

#[test]
fn a_slow_answer_ends_in_a_timeout_within_the_configured_time() {
    let sim = sim_faulty(FaultRoute::Any, Fault::Slow { delay_ms: 5_000 }, None);
    let client = builder_without_retries(sim.base_url())
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let started = Instant::now();
    let e = other_users_progress_error(&client);
    let took = started.elapsed();
    assert_eq!(e.kind(), "transport");
    assert_eq!(e.transport_kind(), Some(TransportErrorKind::Timeout));
    assert!(
        std::error::Error::source(&e).is_some(),
        "ureq's error is the source"
    );
    // Far below the 5 s the server takes: the client gave up on its own.
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

#[test]
fn truncated_and_dropped_answers_are_transport_errors() {
    for (fault, expected) in [
        (Fault::TruncatedBody {}, TransportErrorKind::Reset),
        (Fault::DropConnection {}, TransportErrorKind::Reset),
    ] {
        let sim = sim_faulty(FaultRoute::Any, fault.clone(), None);
        let once = client_without_retries(sim.base_url());
        let e = other_users_progress_error(&once);
        assert_eq!(e.kind(), "transport", "{fault:?}: {e:?}");
        assert_eq!(e.transport_kind(), Some(expected), "{fault:?}");
        assert!(e.is_retryable());
    }

    // Truncated JSON with consistent framing is the service's fault, not the wire's.
    let sim = sim_faulty(FaultRoute::Any, Fault::TruncatedJson {}, None);
    let once = client_without_retries(sim.base_url());
    let e = other_users_progress_error(&once);
    assert_eq!((e.kind(), e.http_status()), ("malformed", Some(200)));
}

#[test]
fn a_dropped_connection_is_retried() {
    let sim = sim_faulty(FaultRoute::Any, Fault::DropConnection {}, Some(1));
    let answer = client(&sim).show_progress(&other_users_progress());
    assert_eq!(
        answer.expect("second attempt").status,
        PrepareStatus::Normal
    );
}

/// Serve one connection: read the request head, then hand the stream to `answer`.
fn raw_server(answer: impl FnOnce(TcpStream) + Send + 'static) -> (String, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let handle = thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut line = String::new();
        let mut content_length = 0;
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                content_length = v.trim().parse().unwrap_or(0);
            }
            line.clear();
        }
        let mut body = vec![0; content_length];
        let _ = reader.read_exact(&mut body);
        answer(stream);
    });
    (url, handle)
}

#[test]
fn an_endless_body_is_refused_without_reading_it_all() {
    const CAP: usize = 256 * 1024 * 1024;
    let (written_tx, written_rx) = std::sync::mpsc::channel();
    let (url, server) = raw_server(move |mut stream| {
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
        let _ = stream.write_all(head.as_bytes());
        let chunk = vec![b' '; 64 * 1024];
        let framed = [
            format!("{:x}\r\n", chunk.len()).into_bytes(),
            chunk,
            b"\r\n".to_vec(),
        ]
        .concat();
        let started = Instant::now();
        let mut written = 0;
        // Bounded in bytes and time; stops as soon as the client hangs up.
        while written < CAP && started.elapsed() < Duration::from_secs(20) {
            if stream.write_all(&framed).is_err() {
                break;
            }
            written += framed.len();
        }
        let _ = written_tx.send(written);
    });
    let client = builder_without_retries(&url)
        .body_limit(64 * 1024)
        .build()
        .expect("client");
    let e = other_users_progress_error(&client);
    assert_eq!(e.transport_kind(), Some(TransportErrorKind::BodyTooLarge));
    drop(client);
    let written = written_rx.recv().expect("server reports");
    server.join().expect("server thread");
    assert!(written < CAP, "the client read all {written} bytes");
}

#[test]
fn a_declared_length_over_the_limit_is_refused_before_reading() {
    let (closed_tx, closed_rx) = std::sync::mpsc::channel();
    let (url, server) = raw_server(move |mut stream| {
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 104857600\r\n\r\n";
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(&[b' '; 1024]);
        // Never send the rest: a client that tried to read it would hang
        // until this read times out (10 s) instead of hanging up.
        let mut buf = [0; 64];
        let hung_up = match stream.read(&mut buf) {
            Ok(n) => n == 0,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        };
        let _ = stream.shutdown(Shutdown::Both);
        let _ = closed_tx.send(hung_up);
    });
    let client = client_without_retries(&url);
    let e = other_users_progress_error(&client);
    assert_eq!(e.transport_kind(), Some(TransportErrorKind::BodyTooLarge));
    drop(client);
    assert!(closed_rx.recv().expect("server reports"), "client hung up");
    server.join().expect("server thread");
}

#[test]
fn a_huge_declared_length_under_a_huge_limit_is_not_allocated_up_front() {
    // 4 EiB: an allocation that size aborts the process, so surviving to the
    // assertions is the test.
    let (url, server) = raw_server(|mut stream| {
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 4611686018427387904\r\n\r\n{\"data\"";
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.shutdown(Shutdown::Both);
    });
    let client = builder_without_retries(&url)
        .body_limit(u64::MAX)
        .build()
        .expect("client");
    let e = other_users_progress_error(&client);
    assert_eq!(e.transport_kind(), Some(TransportErrorKind::Reset), "{e:?}");
    server.join().expect("server thread");
}

#[test]
fn a_redirect_never_carries_the_token_to_another_origin() {
    // The token-accepting simulator stands in for "another server": its log
    // shows whatever reached it.
    let elsewhere = sim_with(Vec::new());
    let port = elsewhere.addr().port();
    for location in [
        format!("http://127.0.0.1:{port}/v1/sim-project/instances/sim-instance/status"),
        format!("http://localhost:{port}/v1/sim-project/instances/sim-instance/status"),
    ] {
        for op in ["status", "progress"] {
            let location = location.clone();
            let (url, server) = raw_server(move |mut stream| {
                let answer = format!(
                    "HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n"
                );
                let _ = stream.write_all(answer.as_bytes());
            });
            let client = builder(&url).build().expect("client");
            let e = match op {
                "status" => client
                    .show_instance_status(&status("sim-instance"))
                    .unwrap_err(),
                _ => client.show_progress(&other_users_progress()).unwrap_err(),
            };
            let e = checked(e);
            assert_eq!((e.kind(), e.http_status()), ("service", Some(307)), "{e:?}");
            assert!(!e.is_retryable());
            server.join().expect("server thread");
        }
    }
    assert!(
        elsewhere.request_log().is_empty(),
        "a redirect reached the other server: {:?}",
        elsewhere
            .request_log()
            .iter()
            .map(|r| &r.uri)
            .collect::<Vec<_>>()
    );
}

#[test]
fn wait_until_ready_goes_through_queuing_and_restoring() {
    let sim = sim_with(Vec::new());
    let mut seen = Vec::new();
    let ready = client(&sim)
        .wait_until_ready(
            progress("iRJEVP9"),
            fast_wait(Duration::from_secs(30)),
            |o| {
                if let Observed::Output(p) = &o.event {
                    seen.push(p.status);
                }
            },
        )
        .expect("ready");
    assert_eq!(ready.output.status, PrepareStatus::Normal);
    assert!(seen.contains(&PrepareStatus::Queuing), "{seen:?}");
    assert!(seen.contains(&PrepareStatus::Restoring), "{seen:?}");
    assert_eq!(seen.last(), Some(&PrepareStatus::Normal));
    assert_eq!(ready.polls as usize, seen.len());
    assert_eq!(ready.polls as usize, sim.request_log().len());
    // The scenario reaches normal 5 s after the simulator started.
    assert!(
        ready.elapsed >= Duration::from_secs(4),
        "{:?}",
        ready.elapsed
    );
}

#[test]
fn wait_for_state_reaches_running() {
    let sim = sim_with(Vec::new());
    let running = client(&sim)
        .wait_for_state(
            status("sim-starting"),
            UntilState::new(InstanceState::Running),
            fast_wait(Duration::from_secs(30)),
            |_| {},
        )
        .expect("running");
    assert_eq!(running.output.state, InstanceState::Running);
    assert!(running.polls >= 2);
}

#[test]
fn waits_end_on_failure_states() {
    let sim = sim_with(Vec::new());
    let client = client(&sim);
    let e = failed_wait(&client, "iFAILED1", 30);
    assert_eq!(e.kind(), "failed_state");
    let Error::FailedState(failed) = &e else {
        panic!("{e:?}");
    };
    assert!(
        failed
            .state
            .downcast_ref::<Progress>()
            .is_some_and(|p| p.status == PrepareStatus::Failed),
        "{failed:?}"
    );
    assert!(failed.polls >= 2);

    let e = checked(
        client
            .wait_for_state(
                status("sim-broken"),
                UntilState::new(InstanceState::Running),
                fast_wait(Duration::from_secs(30)),
                |_| {},
            )
            .unwrap_err(),
    );
    let Error::FailedState(failed) = &e else {
        panic!("{e:?}");
    };
    let Some(state) = failed.state.downcast_ref::<koophone_ureq::InstanceStatus>() else {
        panic!("{failed:?}");
    };
    assert_eq!(state.state, InstanceState::Error);
    let error = state.error.as_ref().expect("error object");
    assert_eq!(error.error_type.as_deref(), Some("create_instance_error"));
}

#[test]
fn a_wait_ends_at_its_deadline_with_the_last_observation() {
    let sim = sim_with(Vec::new());
    let e = failed_wait(&client(&sim), "iRJEVP9", 1);
    assert_eq!(e.kind(), "timeout");
    let Error::WaitDeadline(deadline) = &e else {
        panic!("{e:?}");
    };
    assert!(deadline.polls >= 1);
    assert!(deadline.elapsed >= Duration::from_secs(1));
    assert!(
        deadline
            .last_output
            .as_ref()
            .and_then(|s| s.downcast_ref::<Progress>())
            .is_some_and(|p| p.status == PrepareStatus::Queuing),
        "{deadline:?}"
    );
    assert!(deadline.last.is_some());
}

#[test]
fn a_wait_is_cancelled_from_another_thread() {
    let sim = sim_with(Vec::new());
    let cancel = CancelToken::new();
    let client = client(&sim).with_cancel_token(cancel.clone());
    let canceller = {
        let cancel = cancel.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(300));
            cancel.cancel();
        })
    };
    let slow_polls = WaitPolicy {
        min_interval: Duration::from_secs(30),
        max_interval: Duration::from_secs(30),
        max_wait: Duration::from_secs(120),
        ..WaitPolicy::default()
    };
    let started = Instant::now();
    let e = checked(
        client
            .wait_until_ready(progress("iRJEVP9"), slow_polls, |_| {})
            .unwrap_err(),
    );
    let took = started.elapsed();
    canceller.join().expect("canceller");
    assert_eq!(e.kind(), "cancelled");
    // Woken from a 30 s pause, not at its end.
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert_eq!(sim.request_log().len(), 1);
    // A cancelled client sends nothing more.
    assert!(matches!(
        client.show_progress(&progress("iRJEVP9")),
        Err(Error::Cancelled)
    ));
    assert_eq!(sim.request_log().len(), 1);
}

#[test]
fn a_failing_token_source_sends_nothing() {
    let sim = sim_with(Vec::new());
    let client = builder(sim.base_url())
        .token_source(|| Err(CredentialsError::new("token service unreachable")))
        .build()
        .expect("client");
    let e = checked(client.show_progress(&progress("iRJEVP9")).unwrap_err());
    assert_eq!(e.kind(), "credentials");
    assert!(sim.request_log().is_empty());
}

#[test]
fn many_threads_share_one_client() {
    const THREADS: usize = 8;
    const CALLS: usize = 25;
    let sim = sim_with(Vec::new());
    let client = client(&sim);
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let client = client.clone();
            thread::spawn(move || {
                for i in 0..CALLS {
                    if (t + i) % 2 == 0 {
                        let p = client
                            .show_progress(&other_users_progress())
                            .expect("progress");
                        assert_eq!(p.status, PrepareStatus::Normal);
                    } else {
                        let s = client
                            .show_instance_status(&status("sim-instance"))
                            .expect("status");
                        assert_eq!(s.state, InstanceState::Stopped);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker");
    }
    let log = sim.request_log();
    assert_eq!(log.len(), THREADS * CALLS);
    assert!(log.iter().all(|r| r.status == 200));
}

#[test]
fn a_wait_deadline_cuts_a_hanging_request_short() {
    let sim = sim_faulty(FaultRoute::Any, Fault::Slow { delay_ms: 8_000 }, None);
    // The request timeout (30 s by default) is longer than the whole wait.
    let started = Instant::now();
    let e = failed_wait(&client(&sim), "iRJEVP9", 1);
    let took = started.elapsed();
    assert_eq!(e.kind(), "timeout", "{e:?}");
    assert_eq!(e.transport_kind(), Some(TransportErrorKind::Timeout));
    assert!(took < Duration::from_secs(6), "took {took:?}");
}
