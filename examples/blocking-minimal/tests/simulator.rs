//! The minimal driver against the simulator server, and the redirect it must
//! not follow. The shared driver table (`tests/tests/drivers.rs` at the
//! repository root) runs it through every other scenario.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use koophone_example_blocking::{MinreqTransport, run};
use koophone_proto::{
    Call, CallError, Endpoint, InstanceState, PrepareStatus, RequestContext, ShowInstanceStatus,
    ShowProgress, Token, UntilReady, WaitPolicy, Waiter,
};
use koophone_sim::{Scenario, Sim};

fn context(base_url: &str) -> RequestContext {
    RequestContext::new(
        Endpoint::parse(base_url).unwrap(),
        Token::new("sim-token").unwrap(),
    )
}

fn transport() -> MinreqTransport {
    MinreqTransport::new(Duration::from_secs(5), 1 << 20)
}

#[test]
fn a_call_and_a_wait_against_the_simulator() {
    let mut scenario = Scenario::default();
    // iRJEVP9 queues 300 ms, restores 200 ms, then is ready.
    scenario.koophone.users[0].instances[0].phases[0].for_ms = Some(300);
    scenario.koophone.users[0].instances[0].phases[1].for_ms = Some(200);
    let sim = Sim::start(scenario).unwrap();
    let ctx = context(sim.base_url());

    let op = ShowInstanceStatus::new("sim-project", "sim-instance").unwrap();
    let mut call = Call::new(op, WaitPolicy::default(), Instant::now());
    let status = run(&mut call, &ctx, &transport()).unwrap().unwrap();
    assert_eq!(status.state, InstanceState::Stopped);

    let op = ShowProgress::new("1008600000104285462", "iRJEVP9").unwrap();
    let policy = WaitPolicy {
        min_interval: Duration::from_millis(20),
        max_interval: Duration::from_millis(100),
        max_wait: Duration::from_secs(10),
        ..WaitPolicy::default()
    };
    let mut waiter = Waiter::new(op, UntilReady, policy, Instant::now());
    let progress = run(&mut waiter, &ctx, &transport()).unwrap().unwrap();
    assert_eq!(progress.status, PrepareStatus::Normal);
    // minreq sent the core's request as built: token, user agent, JSON body.
    let log = sim.request_log();
    let last = log.last().unwrap();
    assert_eq!(last.header("x-auth-token"), Some("sim-token"));
    assert_eq!(last.header("content-type"), Some("application/json"));
    assert!(
        last.header("user-agent")
            .is_some_and(|ua| ua.starts_with("koophone/"))
    );
    assert_eq!(
        last.body,
        br#"{"user_id":"1008600000104285462","instance_id":"iRJEVP9"}"#
    );
}

#[test]
fn redirects_are_never_followed() {
    // The "other host" counts connections: the token must never reach it.
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let other_addr = other.local_addr().unwrap();
    other.set_nonblocking(true).unwrap();
    let redirecting = TcpListener::bind("127.0.0.1:0").unwrap();
    let redirecting_addr = redirecting.local_addr().unwrap();
    let answer = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://{other_addr}/v1/instances/prepare-progress\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    let server = std::thread::spawn(move || {
        // One request, one redirect.
        if let Ok((mut stream, _)) = redirecting.accept() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(answer.as_bytes());
        }
    });

    let ctx = context(&format!("http://{redirecting_addr}"));
    let op = ShowProgress::new("1008600000104285462", "iRJEVP9").unwrap();
    let policy = WaitPolicy {
        max_consecutive_errors: 0,
        ..WaitPolicy::default()
    };
    let mut call = Call::new(op, policy, Instant::now());
    match run(&mut call, &ctx, &transport()).unwrap() {
        Err(CallError::Api(e)) => assert_eq!(e.status(), 307),
        other => panic!("expected the redirect as an error, got {other:?}"),
    }
    server.join().unwrap();
    // Non-blocking: an error means no connection is waiting.
    assert!(other.accept().is_err(), "the redirect was followed");
}
