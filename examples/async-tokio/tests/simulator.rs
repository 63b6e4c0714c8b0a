//! The async driver against the simulator server on loopback: calls, waits,
//! the safe defaults (no redirects, body limit, timeouts, TLS failures) and
//! cancellation by dropping the future.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use koophone_example_tokio::{Client, Config, Error};
use koophone_proto::{
    Endpoint, ErrorCode, InstanceState, Jitter, PrepareStatus, RequestContext, ShowInstanceStatus,
    ShowProgress, Token, TransportErrorKind, UntilReady, UntilState, WaitPolicy,
};
use koophone_sim::{Fault, FaultRoute, FaultRule, Scenario, Sim, SimHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const USER: &str = "1008600000104285462";

fn client_for(base_url: &str, config: Config) -> Client {
    let ctx = RequestContext::new(
        Endpoint::parse(base_url).unwrap(),
        Token::new("sim-token").unwrap(),
    );
    Client::new(ctx, config).unwrap()
}

fn quick() -> Config {
    Config {
        request_timeout: Duration::from_secs(5),
        call_policy: WaitPolicy {
            min_interval: Duration::from_millis(10),
            max_interval: Duration::from_millis(40),
            ..Config::default().call_policy
        },
        ..Config::default()
    }
}

fn fast_policy(max_wait: Duration) -> WaitPolicy {
    WaitPolicy {
        min_interval: Duration::from_millis(20),
        max_interval: Duration::from_millis(60),
        growth: 1.5,
        jitter: Jitter::Equal,
        max_wait,
        max_consecutive_errors: 3,
        ..WaitPolicy::default()
    }
}

/// The built-in scenario with phases 50 times shorter, so waits take
/// a tenth of a second.
fn quick_scenario() -> Scenario {
    let mut scenario = Scenario::default();
    for user in &mut scenario.koophone.users {
        for instance in &mut user.instances {
            for phase in &mut instance.phases {
                phase.for_ms = phase.for_ms.map(|ms| ms / 50);
            }
        }
    }
    for project in &mut scenario.clouddc.projects {
        for instance in &mut project.instances {
            for phase in &mut instance.phases {
                phase.for_ms = phase.for_ms.map(|ms| ms / 50);
            }
        }
    }
    scenario
}

fn with_faults(faults: impl IntoIterator<Item = (Fault, u32)>) -> SimHandle {
    let mut scenario = quick_scenario();
    for (fault, count) in faults {
        scenario.faults.push(FaultRule {
            route: FaultRoute::Any,
            probability: 1.0,
            burst: count,
            from_ms: 0,
            until_ms: None,
            max_count: Some(u64::from(count)),
            fault,
        });
    }
    Sim::start(scenario).unwrap()
}

#[tokio::test]
async fn a_call_decodes_the_answer_and_a_wait_reaches_ready() {
    let sim = Sim::start(quick_scenario()).unwrap();
    let client = client_for(sim.base_url(), quick());
    let status = ShowInstanceStatus::new("sim-project", "sim-instance").unwrap();
    assert_eq!(
        client.call(status).await.unwrap().state,
        InstanceState::Stopped
    );
    let op = ShowProgress::new(USER, "iRJEVP9").unwrap();

    let mut seen = 0;
    let ready = client
        .wait(op, UntilReady, fast_policy(Duration::from_secs(10)), |_| {
            seen += 1
        })
        .await
        .unwrap();
    assert_eq!(ready.output.status, PrepareStatus::Normal);
    assert_eq!(seen, ready.polls);
    // Every request carried the token and the core's user agent.
    let log = sim.request_log();
    assert!(
        log.iter()
            .all(|r| r.header("x-auth-token") == Some("sim-token"))
    );
    assert!(log.iter().all(|r| {
        r.header("user-agent")
            .is_some_and(|ua| ua.starts_with("koophone/"))
    }));
}

#[tokio::test]
async fn a_failure_state_and_a_service_error_end_the_wait() {
    let sim = Sim::start(quick_scenario()).unwrap();
    let client = client_for(sim.base_url(), quick());
    let broken = ShowInstanceStatus::new("sim-project", "sim-broken").unwrap();
    let target = UntilState::new(InstanceState::Running);
    match client
        .wait(broken, target, fast_policy(Duration::from_secs(10)), |_| {})
        .await
    {
        Err(Error::FailedState(status)) => {
            assert_eq!(status.state, InstanceState::Error);
            let error = status.error.unwrap();
            assert_eq!(error.error_type.as_deref(), Some("create_instance_error"));
        }
        other => panic!("expected a failure state, got {other:?}"),
    }

    let missing = ShowProgress::new(USER, "iMISSING").unwrap();
    match client.call(missing).await {
        Err(Error::Api(e)) => {
            assert_eq!(e.status(), 400);
            assert_eq!(
                koophone_proto::ErrorCode::parse(e.error_code().unwrap()),
                ErrorCode::InstanceNotFound
            );
            assert!(e.request_id().is_some());
        }
        other => panic!("expected a service error, got {other:?}"),
    }
}

#[tokio::test]
async fn retryable_faults_are_retried_within_the_budget() {
    let sim = with_faults([(Fault::BadGateway {}, 2)]);
    let client = client_for(sim.base_url(), quick());
    let op = ShowInstanceStatus::new("sim-project", "sim-instance").unwrap();
    let status = client.call(op).await.unwrap();
    assert_eq!(status.state, InstanceState::Stopped);
    assert_eq!(sim.request_log().len(), 3);
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let sim = Sim::start(quick_scenario()).unwrap();
    let config = Config {
        body_limit: 8,
        ..quick()
    };
    let client = client_for(sim.base_url(), config);
    let op = ShowInstanceStatus::new("sim-project", "sim-instance").unwrap();
    match client.call(op).await {
        Err(Error::Transport(e)) => assert_eq!(e.kind(), TransportErrorKind::BodyTooLarge),
        other => panic!("expected body too large, got {other:?}"),
    }
    // Not retryable: one request only.
    assert_eq!(sim.request_log().len(), 1);
}

#[tokio::test]
async fn a_slow_answer_times_out_and_a_dropped_one_resets() {
    let sim = with_faults([(Fault::Slow { delay_ms: 2000 }, 1)]);
    let config = Config {
        request_timeout: Duration::from_millis(200),
        call_policy: WaitPolicy {
            max_consecutive_errors: 0,
            ..quick().call_policy
        },
        ..quick()
    };
    let client = client_for(sim.base_url(), config);
    let op = ShowInstanceStatus::new("sim-project", "sim-instance").unwrap();
    match client.call(op.clone()).await {
        Err(Error::Transport(e)) => assert_eq!(e.kind(), TransportErrorKind::Timeout),
        other => panic!("expected a timeout, got {other:?}"),
    }

    let sim = with_faults([(Fault::DropConnection {}, 1)]);
    let client = client_for(sim.base_url(), config);
    match client.call(op).await {
        Err(Error::Transport(e)) => {
            assert_eq!(e.kind(), TransportErrorKind::Reset);
            assert!(
                std::error::Error::source(&e).is_some(),
                "hyper's error is kept"
            );
        }
        other => panic!("expected a reset, got {other:?}"),
    }
}

#[tokio::test]
async fn tls_to_a_plain_http_port_is_a_tls_failure() {
    let sim = Sim::start(quick_scenario()).unwrap();
    let url = format!("https://{}", sim.addr());
    let client = client_for(&url, quick());
    let op = ShowInstanceStatus::new("sim-project", "sim-instance").unwrap();
    match client.call(op).await {
        Err(Error::Transport(e)) => assert_eq!(e.kind(), TransportErrorKind::Tls),
        other => panic!("expected a tls failure, got {other:?}"),
    }
    // TLS failures are not retried.
    assert!(sim.request_log().len() <= 1);
}

/// A server that answers every request with a redirect to `location`.
async fn redirecting_server(location: String) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let answer = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let mut buf = [0u8; 4096];
            // One read holds the small request; the answer does not depend on it.
            let _ = stream.read(&mut buf).await;
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    addr
}

#[tokio::test]
async fn redirects_are_never_followed() {
    // The "other host" counts connections: the token must never reach it.
    let other = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_addr = other.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    tokio::spawn(async move {
        while other.accept().await.is_ok() {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let location = format!("http://{other_addr}/v1/instances/prepare-progress");
    let redirecting = redirecting_server(location).await;

    let client = client_for(&format!("http://{redirecting}"), quick());
    let op = ShowProgress::new(USER, "iRJEVP9").unwrap();
    match client.call(op).await {
        Err(Error::Api(e)) => assert_eq!(e.status(), 307),
        other => panic!("expected the redirect as an error, got {other:?}"),
    }
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn dropping_the_future_cancels_the_wait() {
    // iRJEVP9 queues for 60 s here: the wait cannot end by itself in time.
    let mut scenario = Scenario::default();
    scenario.koophone.users[0].instances[0].phases[0].for_ms = Some(60_000);
    let sim = Sim::start(scenario).unwrap();
    let client = client_for(sim.base_url(), quick());
    let op = ShowProgress::new(USER, "iRJEVP9").unwrap();
    let wait = client.wait(op, UntilReady, fast_policy(Duration::from_secs(60)), |_| {});
    let cut = tokio::time::timeout(Duration::from_millis(300), wait).await;
    assert!(cut.is_err(), "the wait was still running when dropped");
    let sent = sim.request_log().len();
    assert!(sent >= 1);
    // Polling every 20 to 60 ms, a live wait would send several more; at
    // most the request in flight at the drop may still reach the server.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after = sim.request_log().len();
    assert!(after <= sent + 1, "{sent} before the drop, {after} after");

    // A request in flight is abandoned too, and the client stays usable.
    let slow = with_faults([(Fault::Slow { delay_ms: 1_500 }, 1)]);
    let client = client_for(slow.base_url(), quick());
    let op = ShowInstanceStatus::new("sim-project", "sim-instance").unwrap();
    let call = client.call(op.clone());
    assert!(
        tokio::time::timeout(Duration::from_millis(200), call)
            .await
            .is_err()
    );
    assert_eq!(client.call(op).await.unwrap().state, InstanceState::Stopped);
}
