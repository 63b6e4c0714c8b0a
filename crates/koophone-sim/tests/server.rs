//! The server adapter over real loopback HTTP: a plain client (ureq) for
//! ordinary requests, raw TCP where the wire itself is the subject
//! (dropped connections, truncated bodies, 413, garbage).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use koophone_sim::{Scenario, Sim, SimHandle};
use serde_json::Value;

const PROGRESS_BODY: &str = r#"{"user_id":"1008600000104285462","instance_id":"iRJEVP9"}"#;

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(10)))
            .build(),
    )
}

/// ShowInstanceStatus of the default scenario's instance, sent with `token`.
fn get_status(
    agent: &ureq::Agent,
    sim: &SimHandle,
    token: &str,
) -> ureq::http::Response<ureq::Body> {
    agent
        .get(format!(
            "{}/v1/sim-project/instances/sim-instance/status",
            sim.base_url()
        ))
        .header("X-Auth-Token", token)
        .call()
        .unwrap()
}

fn with_faults(faults: &str) -> SimHandle {
    let mut doc: Value = serde_json::from_str(include_str!("../scenarios/default.json")).unwrap();
    doc["faults"] = serde_json::from_str(faults).unwrap();
    let scenario = Scenario::from_json(&doc.to_string()).unwrap();
    Sim::builder().scenario(scenario).seed(5).start().unwrap()
}

#[test]
fn answers_both_apis_over_loopback_with_keep_alive() {
    let sim = Sim::start(Scenario::default()).unwrap();
    assert!(sim.addr().ip().is_loopback());
    assert_ne!(sim.addr().port(), 0);
    assert_eq!(sim.base_url(), format!("http://{}", sim.addr()));
    let agent = agent();

    let mut r = agent
        .post(format!("{}/v1/instances/prepare-progress", sim.base_url()))
        .header("x-auth-token", "sim-token")
        .header("content-type", "application/json")
        .send(PROGRESS_BODY)
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"].len(), 32);
    let body: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body["error_code"], "0");
    assert_eq!(body["data"]["status"], 1, "queuing right after start");

    let mut r = get_status(&agent, &sim, "sim-token");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.body_mut().read_to_string().unwrap(),
        r#"{"state":"stopped"}"#
    );

    let mut r = get_status(&agent, &sim, "wrong");
    assert_eq!(r.status(), 401);
    let body: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body["error_code"], "APIGW.0301");
    assert_eq!(
        body["request_id"].as_str(),
        r.headers()["x-request-id"].to_str().ok()
    );

    let r = agent
        .get(format!("{}/nowhere", sim.base_url()))
        .call()
        .unwrap();
    assert_eq!(r.status(), 404);

    let log = sim.request_log();
    assert_eq!(log.len(), 4);
    assert_eq!(log[0].header("x-auth-token"), Some("sim-token"));
    assert_eq!(log[0].body, PROGRESS_BODY.as_bytes());
    assert_eq!(log[2].header("x-auth-token"), Some("wrong"));
    assert_eq!(log[3].status, 404);
    sim.clear_request_log();
    assert!(sim.request_log().is_empty());
    sim.shutdown();
}

#[test]
fn builder_token_replaces_scenario_tokens() {
    let sim = Sim::builder().token("only-this").start().unwrap();
    let status = |token: &str| get_status(&agent(), &sim, token).status();
    assert_eq!(status("only-this"), 200);
    assert_eq!(status("sim-token"), 401);
}

/// Sends one raw request and returns everything the server sent until it
/// closed the connection (or 5 s passed).
fn raw_exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    raw_exchange_then(addr, request, false)
}

/// As [`raw_exchange`]; with `half_close` the client also signals the end
/// of what it sends, so an incomplete request ends at once.
fn raw_exchange_then(addr: SocketAddr, request: &[u8], half_close: bool) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // The server may close before it has read everything we send.
    let _ = stream.write_all(request);
    if half_close {
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    got
}

/// Status, headers (lower-case names) and head length of a raw response.
type Head = (u16, Vec<(String, String)>, usize);

fn parse_head(bytes: &[u8]) -> Option<Head> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(head_len) = response.parse(bytes).ok()? else {
        return None;
    };
    let headers = response
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    Some((response.code?, headers, head_len))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn progress_request(connection_close: bool) -> Vec<u8> {
    format!(
        "POST /v1/instances/prepare-progress HTTP/1.1\r\nHost: x\r\nx-auth-token: sim-token\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{}\r\n{PROGRESS_BODY}",
        PROGRESS_BODY.len(),
        if connection_close { "connection: close\r\n" } else { "" }
    )
    .into_bytes()
}

#[test]
fn dropped_connection_fault_closes_without_a_response() {
    let sim = with_faults(
        r#"[{"route": "show_progress", "max_count": 1, "fault": {"kind": "drop_connection"}}]"#,
    );
    let got = raw_exchange(sim.addr(), &progress_request(false));
    assert!(
        got.is_empty(),
        "expected nothing, got {:?}",
        String::from_utf8_lossy(&got)
    );
    // The next request is answered normally.
    let got = raw_exchange(sim.addr(), &progress_request(true));
    assert_eq!(parse_head(&got).unwrap().0, 200);
    assert_eq!(sim.request_log()[0].fault, Some("drop_connection"));
}

#[test]
fn truncated_body_fault_sends_less_than_content_length_then_closes() {
    let sim = with_faults(r#"[{"route": "show_progress", "fault": {"kind": "truncated_body"}}]"#);
    for _ in 0..5 {
        let got = raw_exchange(sim.addr(), &progress_request(false));
        let (status, headers, head_len) = parse_head(&got).expect("a response head was sent");
        assert_eq!(status, 200);
        let promised: usize = header(&headers, "content-length").unwrap().parse().unwrap();
        let sent = got.len() - head_len;
        assert!(sent < promised, "sent {sent} of {promised}");
    }
}

#[test]
fn slow_fault_delays_the_answer() {
    let sim = with_faults(
        r#"[{"route": "show_instance_status", "fault": {"kind": "slow", "delay_ms": 300}}]"#,
    );
    let start = Instant::now();
    let r = get_status(&agent(), &sim, "sim-token");
    assert_eq!(r.status(), 200);
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[test]
fn html_and_plain_text_faults_go_over_the_wire() {
    let sim = with_faults(
        r#"[{"route": "show_progress", "max_count": 1, "fault": {"kind": "bad_gateway"}},
            {"route": "show_progress", "max_count": 1, "fault": {"kind": "throttled", "retry_after_s": 3}}]"#,
    );
    let agent = agent();
    let post = || {
        agent
            .post(format!("{}/v1/instances/prepare-progress", sim.base_url()))
            .header("x-auth-token", "sim-token")
            .send(PROGRESS_BODY)
            .unwrap()
    };
    let mut r = post();
    assert_eq!(r.status(), 502);
    assert!(
        r.body_mut()
            .read_to_string()
            .unwrap()
            .contains("502 Bad Gateway")
    );
    let r = post();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "3");
    assert_eq!(post().status(), 200);
}

#[test]
fn oversized_bodies_get_413() {
    let sim = Sim::start(Scenario::default()).unwrap();
    // Declared too large: refused before any body byte is read.
    let got = raw_exchange(
        sim.addr(),
        b"POST /v1/instances/prepare-progress HTTP/1.1\r\nHost: x\r\nx-auth-token: sim-token\r\ncontent-length: 100000000\r\n\r\n",
    );
    let (status, headers, _) = parse_head(&got).unwrap();
    assert_eq!(status, 413);
    assert_eq!(header(&headers, "connection"), Some("close"));
    assert!(header(&headers, "x-request-id").is_some());
    // Chunked, no length given: refused once the limit is passed.
    let mut request = b"POST /v1/instances/prepare-progress HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..80 {
        request.extend_from_slice(b"400\r\n");
        request.extend_from_slice(&[b'a'; 0x400]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let got = raw_exchange(sim.addr(), &request);
    assert_eq!(parse_head(&got).unwrap().0, 413);
    // Through a real client as well.
    let r = agent()
        .post(format!("{}/v1/instances/prepare-progress", sim.base_url()))
        .header("x-auth-token", "sim-token")
        .send(&vec![b' '; 70_000][..]);
    if let Ok(r) = r {
        assert_eq!(r.status(), 413);
    }
    let log = sim.request_log();
    assert!(log.iter().all(|e| e.status == 413), "{log:?}");
    assert_eq!(log[0].body_len, 100_000_000);
}

#[test]
fn garbage_never_kills_the_server() {
    let sim = Sim::start(Scenario::default()).unwrap();
    let junk: &[&[u8]] = &[
        b"\x00\x01\x02\xff\xfe\r\n\r\n",
        b"GET\r\n\r\n",
        b"BREW /coffee HTCPCP/1.0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\ncontent-length: -5\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        b"POST /v1/instances/prepare-progress HTTP/1.1\r\nHost: x\r\ncontent-length: 50\r\n\r\nshort",
        b"GET /v1/%ff%00/instances/%zz/status HTTP/1.1\r\nHost: x\r\n\r\n",
        b"PATCH /v1/instances/prepare-progress HTTP/1.1\r\nHost: x\r\nx-auth-token: \xff\xfe\r\n\r\n",
    ];
    for bytes in junk {
        let got = raw_exchange_then(sim.addr(), bytes, true);
        if let Some((status, _, _)) = parse_head(&got) {
            assert!(
                (400..500).contains(&status),
                "{status} for {:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
    let mut huge_header = b"GET / HTTP/1.1\r\nHost: x\r\nx-big: ".to_vec();
    huge_header.extend(std::iter::repeat_n(b'a', 1 << 20));
    huge_header.extend_from_slice(b"\r\n\r\n");
    let got = raw_exchange_then(sim.addr(), &huge_header, true);
    if let Some((status, _, _)) = parse_head(&got) {
        assert_eq!(status, 431, "header too large");
    }
    let got = raw_exchange(sim.addr(), &progress_request(true));
    assert_eq!(parse_head(&got).unwrap().0, 200, "still serving");
}

#[test]
fn random_bytes_methods_and_paths_never_kill_the_server() {
    use rand::rngs::ChaCha8Rng;
    use rand::{Rng, SeedableRng};
    let sim = Sim::start(Scenario::default()).unwrap();
    // A fixed seed keeps the run reproducible.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for i in 0..150 {
        let len = (rng.next_u32() % 600) as usize;
        let mut noise = vec![0u8; len];
        rng.fill_bytes(&mut noise);
        let request = match i % 3 {
            0 => noise,
            1 => {
                let method: String = (0..1 + rng.next_u32() % 8)
                    .map(|_| char::from(b'A' + (rng.next_u32() % 26) as u8))
                    .collect();
                let path: String = (0..rng.next_u32() % 40)
                    .map(|_| char::from(b"/%v1abcdefXYZ09.-_~?=&"[(rng.next_u32() % 22) as usize]))
                    .collect();
                let mut r = format!(
                    "{method} /{path} HTTP/1.1\r\nHost: x\r\ncontent-length: {len}\r\n\r\n"
                )
                .into_bytes();
                r.extend_from_slice(&noise);
                r
            }
            _ => {
                let mut r = format!(
                    "POST /v1/instances/prepare-progress HTTP/1.1\r\nHost: x\r\nx-auth-token: sim-token\r\ncontent-length: {len}\r\n\r\n"
                )
                .into_bytes();
                r.extend_from_slice(&noise);
                r
            }
        };
        let got = raw_exchange_then(sim.addr(), &request, true);
        if let Some((status, _, _)) = parse_head(&got) {
            assert!((200..600).contains(&status));
        }
    }
    let got = raw_exchange(sim.addr(), &progress_request(true));
    assert_eq!(parse_head(&got).unwrap().0, 200, "still serving");
}

#[test]
fn shutdown_finishes_requests_in_flight_then_refuses_connections() {
    let sim = with_faults(
        r#"[{"route": "show_instance_status", "fault": {"kind": "slow", "delay_ms": 400}}]"#,
    );
    let addr = sim.addr();
    let in_flight = std::thread::spawn(move || {
        raw_exchange(
            addr,
            b"GET /v1/sim-project/instances/sim-instance/status HTTP/1.1\r\nHost: x\r\nX-Auth-Token: sim-token\r\n\r\n",
        )
    });
    // Wait until the server has the request.
    let deadline = Instant::now() + Duration::from_secs(5);
    while sim.request_log().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    sim.shutdown();
    let got = in_flight.join().unwrap();
    let (status, _, head_len) = parse_head(&got).expect("in-flight request was answered");
    assert_eq!(status, 200);
    assert_eq!(&got[head_len..], br#"{"state":"stopped"}"#);
    assert!(TcpStream::connect(addr).is_err(), "listener closed");
}

#[test]
fn binds_the_requested_address_and_reports_bind_errors() {
    let first = Sim::start(Scenario::default()).unwrap();
    let err = Sim::builder().listen(first.addr()).start().unwrap_err();
    assert!(err.to_string().contains(&first.addr().to_string()), "{err}");
    drop(first);
}

#[test]
fn binary_prints_listening_line_first_and_stops_on_sigint() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_koophone-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "3",
            "--token",
            "bin-secret",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(!line.contains("bin-secret"));
    let r = agent()
        .get(format!(
            "{url}/v1/sim-project/instances/sim-instance/status"
        ))
        .header("X-Auth-Token", "bin-secret")
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("koophone-sim did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!rest.contains("bin-secret") && !stderr.contains("bin-secret"));
}

#[test]
fn binary_rejects_a_bad_scenario_naming_the_field() {
    let dir = std::env::temp_dir().join(format!("koophone-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.json");
    std::fs::write(
        &path,
        r#"{"faults": [{"burst": 0, "fault": {"kind": "bad_gateway"}}]}"#,
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_koophone-sim"))
        .args(["--listen", "127.0.0.1:0", "--scenario"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("faults[0].burst"), "{stderr}");
}
