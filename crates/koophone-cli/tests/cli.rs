//! Black-box tests of the `koophone` binary: the contract of DESIGN.md
//! (flags, environment variables, JSON documents, exit codes) against the
//! embedded simulator (`--simulate`, `sim`) and against a tiny scripted
//! server on 127.0.0.1:0 that answers canned bytes and records what it got.
//!
//! Every run goes through [`koophone`], which checks that the token appears in no
//! output and that no escape code is written (stdout and stderr are pipes here).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;

use common::{Line, Run, exec, interrupt, read_all, temp_file, wait_at_most};

/// The token every test uses; it must never appear in any output.
const SECRET: &str = "tok-S3CRET-never-printed-7f3a";
const USER: &str = "1008600000104285462";
const PHONE: &str = "iRJEVP9";

// ---------------------------------------------------------------- running

/// The token appears in no output and no escape code is written.
fn check_output(stdout: &str, stderr: &str) {
    for (name, text) in [("stdout", stdout), ("stderr", stderr)] {
        assert!(!text.contains(SECRET), "the token appeared on {name}");
        assert!(
            !text.contains('\u{1b}'),
            "escape code on {name} without a terminal: {text:?}"
        );
    }
}

/// Run `line` with `vars` (and an environment that holds nothing else)
/// through [`check_output`].
fn koophone(line: &Line, vars: &[(&str, &str)]) -> Run {
    let run = line.run(vars);
    check_output(&run.stdout, &run.stderr);
    run
}

// ---------------------------------------------------------------- scripted server

/// What the scripted server does with one request.
#[derive(Clone)]
enum Reply {
    /// Answer these bytes and close.
    Bytes(Vec<u8>),
    /// Read the request, then close without answering.
    Close,
    /// Read the request and never answer (until the server is dropped).
    Hang,
}

fn http(status: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut text = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    Reply::Bytes(text.into_bytes())
}

fn json_reply(status: &str, body: &str) -> Reply {
    http(
        status,
        &[
            ("Content-Type", "application/json"),
            ("X-Request-Id", "req-7d1c"),
        ],
        body,
    )
}

fn progress_reply(status: i64, waiting: i64) -> Reply {
    json_reply(
        "200 OK",
        &format!(
            r#"{{"data":{{"status":{status},"waitingCount":{waiting}}},"error_code":"0","error_msg":"OK"}}"#
        ),
    )
}

/// A one-connection-at-a-time HTTP server that answers `replies` in order
/// (the last one repeats) and records every request head.
struct Scripted {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Scripted {
    fn start(replies: Vec<Reply>) -> Scripted {
        assert!(!replies.is_empty());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (requests, stop) = (Arc::clone(&requests), Arc::clone(&stop));
            thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(120);
                let mut held = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    let stream = match listener.accept() {
                        Ok((stream, _)) => stream,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(5));
                            continue;
                        }
                        Err(_) => break,
                    };
                    let reply = replies[n.min(replies.len() - 1)].clone();
                    n += 1;
                    if let Some(stream) = answer(stream, &reply, &requests) {
                        held.push(stream);
                    }
                }
            })
        };
        Scripted {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Read one request (head and Content-Length body), record it, reply.
/// Returns the stream when it must be held open.
fn answer(stream: TcpStream, reply: &Reply, requests: &Mutex<Vec<String>>) -> Option<TcpStream> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut head = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
        let end = line == "\r\n";
        head.push_str(&line);
        if end {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    head.push_str(&String::from_utf8_lossy(&body));
    requests.lock().unwrap().push(head);
    match reply {
        Reply::Bytes(bytes) => {
            let mut stream = stream;
            let _ = stream.write_all(bytes).and_then(|()| stream.flush());
            None
        }
        Reply::Close => None,
        Reply::Hang => Some(stream),
    }
}

/// The `x-auth-token` header of a recorded request.
fn token_sent(request: &str) -> Option<&str> {
    request.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("x-auth-token")
            .then(|| value.trim())
    })
}

/// The same command in both output modes: `line` as given (human), then
/// with `--output json` in front; both through [`check_output`].
fn both_modes(line: &Line, vars: &[(&str, &str)]) -> (Run, Run) {
    let human = koophone(line, vars);
    let json = koophone(&Line::new().json().then(line.clone()), vars);
    (human, json)
}

/// `--endpoint URL --token SECRET --output MODE`; the command follows.
fn against(server: &Scripted, output: &str) -> Line {
    Line::endpoint(&server.url()).token(SECRET).output(output)
}

/// ShowProgress of the test's phone.
fn progress() -> Line {
    Line::new().progress(USER, PHONE)
}

fn assert_error_doc(run: &Run, kind: &str, http_status: Value, error_code: Value) -> Value {
    let doc = run.json();
    let error = &doc["error"];
    assert_eq!(error["kind"], kind, "{doc}");
    assert_eq!(error["http_status"], http_status, "{doc}");
    assert_eq!(error["error_code"], error_code, "{doc}");
    let mut keys: Vec<&String> = error.as_object().expect("error object").keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "error_code",
            "error_msg",
            "http_status",
            "kind",
            "request_id"
        ],
        "{doc}"
    );
    assert_eq!(doc.as_object().unwrap().len(), 1, "{doc}");
    doc
}

// ---------------------------------------------------------------- the documented examples

#[test]
fn documented_wait_example_works_with_simulate() {
    let run = koophone(&Line::simulate().wait(USER, &[PHONE]), &[]);
    run.assert_code(0);
    assert!(
        run.stdout.starts_with("ready: normal (status 0)"),
        "{:?}",
        run.stdout
    );
    assert_eq!(run.stdout.lines().count(), 1);
    assert!(run.stderr.is_empty(), "{:?}", run.stderr);
}

#[test]
fn wait_json_reports_normal_with_polls_and_elapsed_ms() {
    let wait = Line::simulate()
        .json()
        .wait(USER, &[PHONE])
        .intervals(200, 400);
    let run = koophone(&wait, &[]);
    run.assert_code(0);
    let doc = run.json();
    assert_eq!(doc["status"], "normal");
    assert_eq!(doc["status_code"], 0);
    assert!(doc["waiting_count"].is_i64(), "{doc}");
    assert!(doc["polls"].as_u64().unwrap() >= 2, "{doc}");
    assert!(doc["elapsed_ms"].is_u64(), "{doc}");
    assert_eq!(doc.as_object().unwrap().len(), 5, "{doc}");
}

#[test]
fn progress_in_both_modes_with_simulate() {
    let (human, json) = both_modes(&Line::simulate().then(progress()), &[]);
    human.assert_code(0);
    assert!(
        human
            .stdout
            .starts_with("queuing (status 1), waiting count "),
        "{:?}",
        human.stdout
    );
    json.assert_code(0);
    let doc = json.json();
    assert_eq!(doc["status"], "queuing");
    assert_eq!(doc["status_code"], 1);
    assert!(doc["waiting_count"].is_i64());
    assert_eq!(doc.as_object().unwrap().len(), 3, "{doc}");
}

#[test]
fn status_in_both_modes_with_simulate() {
    let status = Line::simulate().status("sim-project", "sim-instance");
    let (human, json) = both_modes(&status, &[("KOOPHONE_TOKEN", SECRET)]);
    human.assert_code(0);
    assert_eq!(human.stdout, "stopped\n");
    let doc = json.assert_code(0).json();
    assert_eq!(
        doc,
        json!({"state": "stopped", "operation_state": null, "error": null})
    );
}

/// `wait-state --state running` for the simulator's `instance`, polling every
/// 0.2 to 0.4 s, in [`both_modes`].
fn wait_until_running(instance: &str) -> (Run, Run) {
    let wait = Line::simulate()
        .wait_state("sim-project", instance, "running")
        .intervals(200, 400);
    both_modes(&wait, &[])
}

#[test]
fn wait_state_in_both_modes_with_simulate() {
    let (human, json) = wait_until_running("sim-starting");
    human.assert_code(0);
    assert!(
        human
            .stdout
            .starts_with("reached running, operation state install-succeed after "),
        "{:?}",
        human.stdout
    );
    let doc = json.assert_code(0).json();
    assert_eq!(doc["state"], "running");
    assert_eq!(doc["operation_state"], "install-succeed");
    assert_eq!(doc["error"], Value::Null);
    assert!(doc["polls"].as_u64().unwrap() >= 2, "{doc}");
    assert!(doc["elapsed_ms"].is_u64());
}

// ---------------------------------------------------------------- failure states and deadlines

#[test]
fn wait_for_a_failing_phone_exits_6() {
    let wait = Line::simulate()
        .token(SECRET)
        .wait(USER, &["iFAILED1"])
        .intervals(200, 400);
    let (human, json) = both_modes(&wait, &[]);
    human.assert_code(6);
    assert!(human.stdout.is_empty());
    assert!(
        human
            .stderr
            .starts_with("koophone: the instance reached a failure state: failed"),
        "{:?}",
        human.stderr
    );
    json.assert_code(6);
    assert_error_doc(&json, "failed_state", Value::Null, Value::Null);
}

#[test]
fn wait_state_reaching_error_exits_6_with_the_instance_error() {
    let (human, json) = wait_until_running("sim-broken");
    json.assert_code(6);
    let doc = assert_error_doc(&json, "failed_state", Value::Null, json!("CLOUDDC.5001"));
    assert_eq!(
        doc["error"]["error_msg"],
        "the instance failed to be created"
    );
    human.assert_code(6);
    assert_eq!(
        human.stderr,
        "koophone: the instance reached a failure state: error, operation state \
         install-failed, error CLOUDDC.5001 create_instance_error: the instance failed to be \
         created\n"
    );
}

#[test]
fn wait_deadline_exits_3_in_both_modes() {
    let server = Scripted::start(vec![progress_reply(1, 3)]);
    let wait = Line::new()
        .wait(USER, &[PHONE])
        .flag("--max-wait", "1")
        .intervals(100, 200);
    let run = koophone(&against(&server, "json").then(wait.clone()), &[]);
    run.assert_code(3);
    assert_error_doc(&run, "timeout", Value::Null, Value::Null);
    let message = run.error_msg();
    assert!(message.contains("wait deadline passed"), "{message}");
    let human = koophone(&against(&server, "human").then(wait), &[]);
    human.assert_code(3);
    assert!(
        human.stderr.starts_with("koophone: wait deadline passed"),
        "{:?}",
        human.stderr
    );
    assert!(server.requests().len() >= 2);
}

// ---------------------------------------------------------------- every error kind

#[test]
fn service_error_exits_4_with_code_and_request_id() {
    let server = Scripted::start(vec![json_reply(
        "404 Not Found",
        r#"{"error_code":"KOOPHONE.API.4001","error_msg":"the instance does not exist"}"#,
    )]);
    let run = koophone(&against(&server, "json").then(progress()), &[]);
    run.assert_code(4);
    let doc = assert_error_doc(&run, "service", json!(404), json!("KOOPHONE.API.4001"));
    assert_eq!(doc["error"]["error_msg"], "the instance does not exist");
    assert_eq!(doc["error"]["request_id"], "req-7d1c");
    // The request carried the token and the documented body.
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "not retryable");
    assert!(requests[0].starts_with("POST /v1/instances/prepare-progress HTTP/1.1"));
    assert_eq!(token_sent(&requests[0]), Some(SECRET));
    assert!(requests[0].ends_with(r#"{"user_id":"1008600000104285462","instance_id":"iRJEVP9"}"#));

    let human = koophone(&against(&server, "human").then(progress()), &[]);
    human.assert_code(4);
    assert!(human.stdout.is_empty());
    assert_eq!(human.stderr.lines().count(), 1, "{:?}", human.stderr);
    assert!(human.stderr.starts_with("koophone: "));
    assert!(
        human.stderr.contains("KOOPHONE.API.4001"),
        "{:?}",
        human.stderr
    );
    assert!(human.stderr.contains("req-7d1c"), "{:?}", human.stderr);
}

#[test]
fn unauthorized_exits_4() {
    let server = Scripted::start(vec![json_reply(
        "401 Unauthorized",
        r#"{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information"}"#,
    )]);
    let run = koophone(&against(&server, "json").then(progress()), &[]);
    run.assert_code(4);
    assert_error_doc(&run, "unauthorized", json!(401), json!("APIGW.0301"));
    let human = koophone(&against(&server, "human").then(progress()), &[]);
    human.assert_code(4);
    assert!(human.stderr.contains("unauthorized"), "{:?}", human.stderr);
}

#[test]
fn throttled_after_retries_exits_4() {
    let server = Scripted::start(vec![http(
        "429 Too Many Requests",
        &[("Retry-After", "0"), ("X-Request-Id", "req-429")],
        "Too Many Requests",
    )]);
    let retry_once = against(&server, "json")
        .flag("--retries", "1")
        .then(progress());
    let run = koophone(&retry_once, &[]);
    run.assert_code(4);
    let doc = assert_error_doc(&run, "throttled", json!(429), Value::Null);
    assert_eq!(doc["error"]["request_id"], "req-429");
    assert_eq!(server.requests().len(), 2, "one retry");
}

#[test]
fn server_errors_are_retried_then_reported() {
    let busy = json_reply(
        "503 Service Unavailable",
        r#"{"error_code":"APIGW.0101","error_msg":"busy"}"#,
    );
    let recovers = Scripted::start(vec![busy.clone(), busy.clone(), progress_reply(0, 0)]);
    let run = koophone(&against(&recovers, "json").then(progress()), &[]);
    run.assert_code(0);
    assert_eq!(run.json()["status"], "normal");
    assert_eq!(recovers.requests().len(), 3);

    let stays_busy = Scripted::start(vec![busy]);
    let run = koophone(&against(&stays_busy, "json").then(progress()), &[]);
    run.assert_code(4);
    assert_error_doc(&run, "service", json!(503), json!("APIGW.0101"));
    assert_eq!(stays_busy.requests().len(), 3, "--retries defaults to 2");
}

#[test]
fn malformed_answer_exits_5() {
    let server = Scripted::start(vec![http(
        "200 OK",
        &[("Content-Type", "text/html")],
        "<html>\u{1b}[31mnot json</html>",
    )]);
    let run = koophone(&against(&server, "json").then(progress()), &[]);
    run.assert_code(5);
    assert_error_doc(&run, "malformed", json!(200), Value::Null);
    let human = koophone(&against(&server, "human").then(progress()), &[]);
    human.assert_code(5);
    assert!(human.stderr.contains("malformed"), "{:?}", human.stderr);
}

#[test]
fn transport_failures_exit_5() {
    // A port nobody listens on.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let url = format!("http://{closed}");
    let status = Line::endpoint(&url)
        .token(SECRET)
        .flag("--retries", "0")
        .json()
        .status("p", "i");
    let run = koophone(&status, &[]);
    run.assert_code(5);
    assert_error_doc(&run, "transport", Value::Null, Value::Null);

    // A server that closes the connection without answering.
    let server = Scripted::start(vec![Reply::Close]);
    let progress = against(&server, "human")
        .flag("--retries", "0")
        .then(progress());
    let run = koophone(&progress, &[]);
    run.assert_code(5);
    assert!(run.stderr.starts_with("koophone: "), "{:?}", run.stderr);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn unknown_states_are_printed_as_received() {
    let server = Scripted::start(vec![json_reply("200 OK", r#"{"state":"teminated"}"#)]);
    let status = Line::new().status("p 1", "../x");
    let run = koophone(&against(&server, "json").then(status.clone()), &[]);
    run.assert_code(0);
    assert_eq!(
        run.json(),
        json!({"state": "teminated", "operation_state": null, "error": null})
    );
    let request = &server.requests()[0];
    assert!(
        request.starts_with("GET /v1/p%201/instances/..%2Fx/status HTTP/1.1"),
        "{request}"
    );
    assert_eq!(token_sent(request), Some(SECRET));
    let human = koophone(&against(&server, "human").then(status), &[]);
    assert_eq!(human.stdout, "teminated\n");
}

// ---------------------------------------------------------------- refused input sends nothing

#[test]
fn invalid_input_exits_2_and_sends_nothing() {
    let server = Scripted::start(vec![progress_reply(0, 0)]);
    let too_long = "x".repeat(33);
    let wait = Line::new().wait(USER, &[PHONE]);
    let cases = [
        Line::new().progress(&too_long, PHONE),
        Line::new().wait(USER, &[""]),
        wait.clone().flag("--min-interval", "0"),
        wait.flag("--min-interval", "20000"),
        Line::new().status("..", "i"),
        Line::new().wait_state("p", "i", ""),
    ];
    for case in cases {
        let run = koophone(&against(&server, "json").then(case.clone()), &[]);
        run.assert_code(2);
        assert_error_doc(&run, "invalid_input", Value::Null, Value::Null);
        let human = koophone(&against(&server, "human").then(case), &[]);
        human.assert_code(2);
        assert!(human.stderr.starts_with("koophone: "), "{:?}", human.stderr);
        assert!(human.stdout.is_empty());
    }
    assert!(server.requests().is_empty(), "refused input was sent");
}

#[test]
fn missing_endpoint_or_token_exits_2() {
    let server = Scripted::start(vec![progress_reply(0, 0)]);
    let no_endpoint = koophone(&Line::new().token(SECRET).json().then(progress()), &[]);
    no_endpoint.assert_code(2);
    assert_error_doc(&no_endpoint, "invalid_input", Value::Null, Value::Null);
    let url = server.url();
    let no_token = koophone(&Line::endpoint(&url).then(progress()), &[]);
    no_token.assert_code(2);
    assert!(
        no_token.stderr.contains("no token"),
        "{:?}",
        no_token.stderr
    );
    assert!(server.requests().is_empty());
}

#[test]
fn plain_http_is_refused_for_a_remote_host() {
    for output in ["json", "human"] {
        let remote = Line::endpoint("http://koophone.example.com")
            .token(SECRET)
            .output(output)
            .then(progress());
        let run = koophone(&remote, &[]);
        run.assert_code(2);
        if output == "json" {
            assert_error_doc(&run, "invalid_input", Value::Null, Value::Null);
            let message = run.error_msg();
            assert!(message.contains("http"), "{message}");
        } else {
            assert!(run.stderr.contains("plain http"), "{:?}", run.stderr);
        }
    }
}

#[test]
fn allow_http_permits_plain_http_to_a_host_that_is_not_loopback() {
    // Linux delivers a connection to 0.0.0.0 locally, but the name is not a
    // loopback host: plain http to it needs --allow-http.
    let server = Scripted::start(vec![progress_reply(0, 0)]);
    let url = format!("http://0.0.0.0:{}", server.addr.port());
    let line = Line::endpoint(&url).token(SECRET).json().then(progress());
    koophone(&line, &[]).assert_code(2);
    assert!(server.requests().is_empty());
    let allowed = Line::new().arg("--allow-http").then(line);
    let doc = koophone(&allowed, &[]).assert_code(0).json();
    assert_eq!(doc["status"], "normal");
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn usage_errors_exit_2_with_a_json_document_in_json_mode() {
    let human = koophone(&Line::new().arg("progress").flag("--user-id", USER), &[]);
    human.assert_code(2);
    assert!(human.stdout.is_empty());
    assert!(human.stderr.contains("--instance-id"), "{:?}", human.stderr);

    let json = koophone(&Line::new().json().args(["wait", "--bogus"]), &[]);
    json.assert_code(2);
    assert_error_doc(&json, "invalid_input", Value::Null, Value::Null);
    let message = json.error_msg();
    assert!(message.contains("--bogus"), "{message}");
    // clap's multi-line message, on one line.
    let missing = koophone(&Line::new().json().arg("wait"), &[]);
    missing.assert_code(2);
    assert_error_doc(&missing, "invalid_input", Value::Null, Value::Null);
    let message = missing.error_msg();
    assert!(
        message.contains("--user-id") && message.contains("--instance-id"),
        "{message}"
    );
    let no_command = koophone(&Line::new(), &[]);
    no_command.assert_code(2);
    let bad_number = koophone(&Line::new().flag("--timeout", "0").arg("progress"), &[]);
    bad_number.assert_code(2);
}

// ---------------------------------------------------------------- credentials

#[test]
fn token_sources_in_the_contracts_order() {
    let server = Scripted::start(vec![progress_reply(0, 0)]);
    let url = server.url();
    let file = temp_file("token", &format!("{SECRET}-file\n"));
    let file = file.to_str().unwrap();
    let from_env = format!("{SECRET}-env");
    let from_flag = format!("{SECRET}-flag");
    let environment = [
        ("KOOPHONE_ENDPOINT", url.as_str()),
        ("KOOPHONE_TOKEN", &from_env),
    ];
    let from_file = Line::new().flag("--token-file", file).then(progress());
    for line in [
        // The environment alone, endpoint included.
        progress(),
        // --token-file beats the environment; its trailing newline is trimmed.
        from_file.clone(),
        // --token beats both, wherever it is written.
        from_file.token(&from_flag),
    ] {
        koophone(&line, &environment).assert_code(0);
    }

    let sent: Vec<String> = server
        .requests()
        .iter()
        .map(|r| token_sent(r).unwrap_or_default().to_owned())
        .collect();
    assert!(
        sent == [from_env, format!("{SECRET}-file"), from_flag],
        "tokens sent in the wrong order"
    );
}

#[test]
fn unreadable_or_bad_token_file_exits_2() {
    let missing = std::env::temp_dir().join("koophone-cli-test-no-such-token-file");
    let blank = temp_file("blank-token", "\n");
    let spaced = temp_file("spaced-token", &format!(" {SECRET}\n"));
    for path in [&missing, &blank, &spaced] {
        let line = Line::simulate()
            .json()
            .flag("--token-file", path.to_str().unwrap())
            .then(progress());
        let run = koophone(&line, &[]);
        run.assert_code(2);
        assert_error_doc(&run, "invalid_input", Value::Null, Value::Null);
    }
}

#[test]
fn simulate_accepts_the_token_given() {
    let file = temp_file("sim-token", &format!("{SECRET}\r\n"));
    let line = Line::simulate()
        .flag("--token-file", file.to_str().unwrap())
        .progress(USER, "iOTHER01");
    let run = koophone(&line, &[]);
    // iOTHER01 belongs to another user: the simulator answers KOOPHONE.API.1001.
    run.assert_code(4);
    assert!(run.stderr.contains("KOOPHONE.API.1001"), "{:?}", run.stderr);
}

// ---------------------------------------------------------------- help, completions, sim

#[test]
fn help_of_every_command_has_an_example_and_hides_the_token() {
    let commands: [&[&str]; 7] = [
        &[],
        &["progress"],
        &["wait"],
        &["status"],
        &["wait-state"],
        &["sim"],
        &["completions"],
    ];
    for command in commands {
        let help = Line::new().args(command).arg("--help");
        let run = koophone(&help, &[("KOOPHONE_TOKEN", SECRET)]);
        run.assert_code(0);
        assert!(run.stdout.contains("Example"), "{help:?}: {}", run.stdout);
        assert!(run.stdout.contains("KOOPHONE_TOKEN"), "{help:?}");
    }
    let main = koophone(&Line::new().arg("--help"), &[]);
    for flag in [
        "--endpoint",
        "--token",
        "--token-file",
        "--simulate",
        "--output",
        "--timeout",
        "--retries",
        "--allow-http",
        "[default: 30]",
        "[default: 2]",
        "[default: human]",
    ] {
        assert!(main.stdout.contains(flag), "{flag} missing from --help");
    }
    let wait = koophone(&Line::new().args(["wait", "--help"]), &[]);
    for default in ["[default: 600]", "[default: 1000]", "[default: 15000]"] {
        assert!(wait.stdout.contains(default), "{default} missing");
    }
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let run = koophone(&Line::new().args(["completions", shell]), &[]);
        run.assert_code(0);
        assert!(run.stdout.contains("koophone"), "{shell}");
        assert!(run.stdout.contains("wait-state"), "{shell}");
    }
    koophone(&Line::new().args(["completions", "tcsh"]), &[]).assert_code(2);
}

#[test]
fn sim_command_serves_until_interrupted() {
    let sim = Line::new()
        .arg("sim")
        .flag("--listen", "127.0.0.1:0")
        .flag("--seed", "7");
    let (mut child, url, stdout) = common::serve(&sim, Stdio::piped());
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let status = common::sim_status(&url, "json").token("sim-token");
    let doc = koophone(&status, &[]).assert_code(0).json();
    assert_eq!(doc["state"], "stopped");

    interrupt(&child);
    let status = wait_at_most(&mut child, Duration::from_secs(20)).expect("sim stopped");
    assert_eq!(status.code(), Some(0));
    let rest = read_all(stdout);
    let stderr = read_all(child.stderr.take().unwrap());
    check_output(&rest, &stderr);
}

#[test]
fn sim_refuses_a_bad_scenario_file() {
    let file = temp_file("scenario.json", "{ not json");
    let sim = Line::new()
        .json()
        .arg("sim")
        .flag("--listen", "127.0.0.1:0")
        .flag("--scenario", file.to_str().unwrap());
    let run = koophone(&sim, &[]);
    run.assert_code(2);
    assert_error_doc(&run, "invalid_input", Value::Null, Value::Null);
}

// ---------------------------------------------------------------- on a terminal

/// Run the binary on a pseudo-terminal through util-linux `script` (in
/// Debian's essential `bsdutils`), which copies the terminal's output to its stdout.
fn on_terminal(args: &str) -> Run {
    let command = format!("{} {args}", env!("CARGO_BIN_EXE_koophone"));
    let run = exec(
        Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env_clear()
            .env("TERM", "xterm")
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null()),
    );
    run.assert_hides(&[SECRET]);
    run
}

#[test]
fn on_a_terminal_waits_draw_a_live_line_and_end_with_one_clear_line() {
    let run = on_terminal(&format!(
        "--simulate --token {SECRET} wait-state --project-id sim-project \
         --instance-id sim-starting --state running --min-interval 200 --max-interval 400"
    ));
    run.assert_code(0);
    let screen = &run.stdout;
    assert!(
        screen.contains("sim-starting: pending, operation state install-processing; 1 poll"),
        "{screen:?}"
    );
    assert!(
        screen.contains(" polls ("),
        "elapsed time shown: {screen:?}"
    );
    assert!(
        screen.contains("\u{1b}[2K"),
        "the line is erased: {screen:?}"
    );
    let last = screen.rsplit('\u{1b}').next().unwrap_or_default();
    assert!(
        last.starts_with("[2Kreached running, operation state install-succeed after "),
        "{last:?}"
    );
}

// ---------------------------------------------------------------- Ctrl-C

/// Spawn a wait, let it get going (`ready`, or 1.5 s), send SIGINT: it must
/// end with 130 long before its 60 s pause or 30 s request timeout would have.
fn interrupted_wait(
    output: &str,
    extra: &[&str],
    ready: &dyn Fn() -> bool,
) -> (ExitStatus, String, String) {
    let mut child = Line::new()
        .output(output)
        .token(SECRET)
        .wait(USER, &[PHONE])
        .intervals(60000, 60000)
        .args(extra)
        .spawn(&[]);
    let start = Instant::now();
    thread::sleep(Duration::from_millis(1500));
    while !ready() && start.elapsed() < Duration::from_secs(20) {
        thread::sleep(Duration::from_millis(20));
    }
    interrupt(&child);
    let status = wait_at_most(&mut child, Duration::from_secs(20)).expect("stopped by Ctrl-C");
    let stdout = read_all(child.stdout.take().unwrap());
    let stderr = read_all(child.stderr.take().unwrap());
    check_output(&stdout, &stderr);
    (status, stdout, stderr)
}

#[test]
fn ctrl_c_stops_a_wait_with_exit_code_130() {
    let (status, stdout, stderr) = interrupted_wait("human", &["--simulate"], &|| true);
    assert_eq!(status.code(), Some(130), "{stderr:?}");
    assert!(stdout.is_empty(), "{stdout:?}");
    assert_eq!(stderr, "koophone: interrupted\n");

    let (status, stdout, _) = interrupted_wait("json", &["--simulate"], &|| true);
    assert_eq!(status.code(), Some(130));
    let doc: Value = serde_json::from_str(stdout.trim_end()).expect("one document");
    assert_eq!(doc["error"]["kind"], "cancelled");
}

#[test]
fn ctrl_c_stops_a_request_that_hangs() {
    let server = Scripted::start(vec![Reply::Hang]);
    let url = server.url();
    let (status, _, stderr) = interrupted_wait("human", &["--endpoint", &url], &|| {
        !server.requests().is_empty()
    });
    assert_eq!(status.code(), Some(130), "{stderr:?}");
    assert_eq!(stderr, "koophone: interrupted\n");
    assert_eq!(server.requests().len(), 1);
}
