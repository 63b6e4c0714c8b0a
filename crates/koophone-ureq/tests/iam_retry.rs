//! IAM token requests against the simulator's IAM, through a front on
//! 127.0.0.1:0 that injects what the simulator does not (its fault rules
//! never touch the IAM path): 503s with `Retry-After`, and a slow answer.
//! A failed first token request is retried like any other retryable
//! failure, within the retry count and the caller's deadline; a thread
//! waiting for another's token refresh gives up at its own deadline.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use koophone_sim::{Sim, SimHandle};
use koophone_ureq::{
    Client, Error, IamPassword, Jitter, ProjectScope, RetryPolicy, ShowProgress, WaitPolicy,
};

mod common;

const USER: &str = "1008600000104285462";
const PHONE: &str = "iRJEVP9";

/// What the front does with the n-th IAM request (0-based).
#[derive(Clone, Copy)]
enum Iam {
    /// 503 with `Retry-After: secs`.
    Unavailable { retry_after_s: u32 },
    /// Forward to the simulator after a pause.
    Slow(Duration),
    /// Forward to the simulator.
    Pass,
}

/// One HTTP/1.1 request as read off the wire: head and body.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, Vec<u8>)> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let end = line == "\r\n";
        head.push_str(&line);
        if end {
            break;
        }
    }
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((head, body))
}

/// Send one request to the simulator on a connection of its own and return
/// its answer, whole.
fn forward(sim: &SimHandle, head: &str, body: &[u8]) -> Vec<u8> {
    let mut upstream = TcpStream::connect(sim.addr()).expect("connect to the simulator");
    upstream.write_all(head.as_bytes()).unwrap();
    upstream.write_all(body).unwrap();
    let mut reader = BufReader::new(upstream);
    let (answer_head, answer_body) = read_request(&mut reader).expect("the simulator's answer");
    let mut answer = answer_head.into_bytes();
    answer.extend_from_slice(&answer_body);
    answer
}

struct Front {
    endpoint: String,
    iam_requests: Arc<AtomicUsize>,
}

/// A front for `sim`: IAM requests get `script[n]` (past its end: `Pass`),
/// everything else is forwarded. Serves connections for the life of the test.
fn front(sim: Arc<SimHandle>, script: Vec<Iam>) -> Front {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let iam_requests = Arc::new(AtomicUsize::new(0));
    let counter = iam_requests.clone();
    let script = Arc::new(script);
    thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let Ok(stream) = stream else { continue };
            let (sim, counter, script) = (sim.clone(), counter.clone(), script.clone());
            thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                while let Some((head, body)) = read_request(&mut reader) {
                    let step = if head.starts_with("POST /v3/auth/tokens") {
                        let n = counter.fetch_add(1, Ordering::SeqCst);
                        script.get(n).copied().unwrap_or(Iam::Pass)
                    } else {
                        Iam::Pass
                    };
                    let answer = match step {
                        Iam::Unavailable { retry_after_s } => {
                            let body = r#"{"error":{"code":503,"message":"Service Unavailable","title":"Service Unavailable"}}"#;
                            format!(
                                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: {retry_after_s}\r\nContent-Length: {}\r\n\r\n{body}",
                                body.len()
                            )
                            .into_bytes()
                        }
                        Iam::Slow(pause) => {
                            thread::sleep(pause);
                            forward(&sim, &head, &body)
                        }
                        Iam::Pass => forward(&sim, &head, &body),
                    };
                    if writer.write_all(&answer).is_err() {
                        break;
                    }
                }
            });
        }
    });
    Front {
        endpoint,
        iam_requests,
    }
}

fn iam(front: &Front, password: &str) -> IamPassword {
    common::iam_password(
        &front.endpoint,
        ("sim-user", "sim-domain"),
        password,
        ProjectScope::Name("sim-project".into()),
    )
}

fn retry(retries: u32, max_elapsed: Duration) -> RetryPolicy {
    RetryPolicy {
        retries,
        min_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_elapsed,
        jitter: Jitter::None,
    }
}

fn client(front: &Front, password: &str, retry: RetryPolicy) -> Client {
    Client::builder()
        .endpoint_url(&front.endpoint)
        .iam_password(iam(front, password))
        .timeout(Duration::from_secs(10))
        .retry_policy(retry)
        .build()
        .unwrap()
}

fn simulator() -> Arc<SimHandle> {
    Arc::new(Sim::builder().start().expect("simulator"))
}

fn progress() -> ShowProgress {
    ShowProgress::new(USER, PHONE).unwrap()
}

#[test]
fn a_failed_first_token_request_is_retried_honouring_retry_after() {
    let front = front(
        simulator(),
        vec![
            Iam::Unavailable { retry_after_s: 1 },
            Iam::Unavailable { retry_after_s: 0 },
        ],
    );
    let client = client(&front, "sim-password", retry(2, Duration::from_secs(20)));
    let begun = Instant::now();
    let answer = client.show_progress(&progress());
    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!(front.iam_requests.load(Ordering::SeqCst), 3);
    // The first 503 asked for a second; the backoff alone is 10 ms.
    assert!(
        begun.elapsed() >= Duration::from_secs(1),
        "{:?}",
        begun.elapsed()
    );
}

#[test]
fn token_requests_stop_after_the_retry_count() {
    let front = front(simulator(), vec![Iam::Unavailable { retry_after_s: 0 }; 10]);
    let client = client(&front, "sim-password", retry(2, Duration::from_secs(20)));
    let err = client.show_progress(&progress()).unwrap_err();
    assert!(matches!(err, Error::Iam(_)), "{err:?}");
    assert_eq!(err.http_status(), Some(503));
    assert_eq!(front.iam_requests.load(Ordering::SeqCst), 3);
}

#[test]
fn a_retry_after_past_the_deadline_ends_the_call_at_once() {
    let front = front(simulator(), vec![Iam::Unavailable { retry_after_s: 30 }]);
    let client = client(&front, "sim-password", retry(5, Duration::from_secs(2)));
    let begun = Instant::now();
    let err = client.show_progress(&progress()).unwrap_err();
    assert!(
        begun.elapsed() < Duration::from_secs(2),
        "{:?}",
        begun.elapsed()
    );
    assert_eq!(err.http_status(), Some(503), "{err:?}");
    assert_eq!(front.iam_requests.load(Ordering::SeqCst), 1);
}

#[test]
fn a_wrong_password_is_not_retried() {
    let front = front(simulator(), Vec::new());
    let client = client(&front, "wrong-password", retry(3, Duration::from_secs(20)));
    let err = client.show_progress(&progress()).unwrap_err();
    assert_eq!(err.http_status(), Some(401), "{err:?}");
    assert_eq!(front.iam_requests.load(Ordering::SeqCst), 1);
}

#[test]
fn issue_token_retries_too() {
    let front = front(simulator(), vec![Iam::Unavailable { retry_after_s: 0 }]);
    let issued = Client::builder()
        .iam_password(iam(&front, "sim-password"))
        .retry_policy(retry(1, Duration::from_secs(20)))
        .issue_token();
    assert!(issued.is_ok(), "{issued:?}");
    assert_eq!(front.iam_requests.load(Ordering::SeqCst), 2);
}

#[test]
fn a_thread_waiting_for_another_threads_token_gives_up_at_its_own_deadline() {
    let front = front(simulator(), vec![Iam::Slow(Duration::from_millis(2500))]);
    let client = client(&front, "sim-password", retry(0, Duration::from_secs(20)));
    let both = Arc::new(Barrier::new(2));
    let refreshing = {
        let (client, both) = (client.clone(), both.clone());
        thread::spawn(move || {
            both.wait();
            client.show_progress(&progress())
        })
    };
    both.wait();
    // Let the first thread's token request get under way.
    while front.iam_requests.load(Ordering::SeqCst) == 0 {
        thread::sleep(Duration::from_millis(5));
    }
    let policy = WaitPolicy {
        max_wait: Duration::from_millis(300),
        ..WaitPolicy::default()
    };
    let begun = Instant::now();
    let waited = client.wait_until_ready(progress(), policy, |_| {});
    let took = begun.elapsed();
    assert!(waited.is_err(), "{waited:?}");
    assert!(
        took < Duration::from_millis(1500),
        "the waiting thread took {took:?}: bounded by the other's 2.5 s request, not its own 300 ms"
    );
    // The thread that asked IAM still gets its token and its answer.
    let answer = refreshing.join().unwrap();
    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!(front.iam_requests.load(Ordering::SeqCst), 1);
}
