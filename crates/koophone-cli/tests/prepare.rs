//! Black-box tests of `koophone prepare` (DESIGN.md): the status_list
//! document with missing ids, the instances file, ids over 32 characters
//! refused before anything is sent, batches of 100, and `--wait` for one
//! instance (the `wait` document) or several (the fleet document and its
//! exit codes), against the embedded simulator and `koophone sim`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use serde_json::{Value, json};

/// A token given to every run against a server; it must never be printed.
const SECRET: &str = "tok-S3CRET-prepare-9c1e";
const USER: &str = "1008600000104285462";

mod common;

use common::{Run, exec};

fn koophone(args: &[&str]) -> Command {
    common::koophone(args, &[])
}

/// What a spawned run printed, checked for the token.
fn finish(out: std::process::Output) -> Run {
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
        elapsed: std::time::Duration::ZERO,
    };
    run.assert_hides(&[SECRET]);
    run
}

fn run(args: &[&str]) -> Run {
    let run = exec(&mut koophone(args));
    run.assert_hides(&[SECRET]);
    run
}

/// `--simulate` with the secret token, then `args`.
fn simulate(args: &[&str]) -> Run {
    let mut all = vec!["--simulate", "--token", SECRET, "--output", "json"];
    all.extend_from_slice(args);
    run(&all)
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("koophone-prepare-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write temp file");
    path
}

/// `koophone sim` on a scenario file, stopped when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(scenario: &str, name: &str) -> Server {
        let file = temp_file(name, scenario);
        let mut child = koophone(&[
            "--token",
            SECRET,
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--scenario",
            file.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sim");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .expect("first line");
        let url = first
            .trim_end()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{first:?}"))
            .to_owned();
        Server { child, url }
    }

    fn run(&self, args: &[&str]) -> Run {
        let mut all = vec![
            "--endpoint",
            &self.url,
            "--token",
            SECRET,
            "--output",
            "json",
        ];
        all.extend_from_slice(args);
        run(&all)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn entry(id: &str, status: &str, code: Value) -> Value {
    json!({"instance_id": id, "status": status, "status_code": code})
}

#[test]
fn prepare_then_wait_reports_the_instance_normal() {
    // The issue's "done when".
    let run = run(&[
        "--simulate",
        "--output",
        "json",
        "prepare",
        "--user-id",
        USER,
        "--instance-id",
        "iRJEVP9",
        "--wait",
    ]);
    let doc = run.assert_code(0).json();
    assert_eq!(doc["status"], "normal");
    assert_eq!(doc["status_code"], 0);
    assert!(doc["polls"].as_u64().unwrap() >= 1, "{doc}");
    assert!(doc["elapsed_ms"].is_u64(), "{doc}");
    assert_eq!(
        doc.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "elapsed_ms",
            "polls",
            "status",
            "status_code",
            "waiting_count"
        ]
    );
}

#[test]
fn an_instance_that_needs_preparing_becomes_normal_after_prepare() {
    let doc = simulate(&[
        "prepare",
        "--user-id",
        USER,
        "--instance-id",
        "iPREP001",
        "--wait",
        "--min-interval",
        "200",
        "--max-interval",
        "500",
    ])
    .assert_code(0)
    .json();
    assert_eq!(doc["status"], "normal");
    assert!(doc["polls"].as_u64().unwrap() > 1, "it queued first: {doc}");
    // Without prepare, the same wait never ends: the instance stays queuing.
    let run = simulate(&[
        "wait",
        "--user-id",
        USER,
        "--instance-id",
        "iPREP001",
        "--max-wait",
        "2",
        "--min-interval",
        "200",
    ]);
    assert_eq!(run.assert_code(3).json()["error"]["kind"], "timeout");
}

#[test]
fn status_list_in_both_modes() {
    let args = [
        "prepare",
        "--user-id",
        USER,
        "--instance-id",
        "iPREP001",
        "--instance-id",
        "iRJEVP9",
    ];
    let doc = simulate(&args).assert_code(0).json();
    assert_eq!(
        doc,
        json!({"status_list": [entry("iPREP001", "ready", json!(0)), entry("iRJEVP9", "ready", json!(0))]})
    );
    let mut human = vec!["--simulate", "--token", SECRET];
    human.extend_from_slice(&args);
    let run = run(&human);
    run.assert_code(0);
    assert_eq!(
        run.stdout,
        "iPREP001 ready (status 0), iRJEVP9 ready (status 0)\n"
    );
}

#[test]
fn ids_left_out_of_the_answer_are_listed_as_missing() {
    let server = Server::start(
        r#"{"koophone": {"users": [{"user_id": "1008600000104285462", "instances": [
            {"instance_id": "iSEEN", "prepare": {"phone_status": 6}, "phases": [{"status": "normal"}]},
            {"instance_id": "iSILENT", "prepare": {"omit_from_answer": true}, "phases": [{"status": "normal"}]},
            {"instance_id": "iODD", "prepare": {"phone_status": 42}, "phases": [{"status": "normal"}]}]}]}}"#,
        "missing.json",
    );
    let doc = server
        .run(&[
            "prepare",
            "--user-id",
            USER,
            "--instance-id",
            "iSILENT",
            "--instance-id",
            "iSEEN",
            "--instance-id",
            "iODD",
        ])
        .assert_code(0)
        .json();
    assert_eq!(
        doc,
        json!({"status_list": [
            entry("iSILENT", "missing", Value::Null),
            entry("iSEEN", "offline", json!(6)),
            entry("iODD", "unknown", json!(42)),
        ]})
    );
}

#[test]
fn the_instances_file_and_stdin() {
    let file = temp_file(
        "ids.txt",
        "# phones to prepare\n\niRJEVP9\r\n  iPREP001  \niRJEVP9\n# iOTHER01\n",
    );
    let doc = simulate(&[
        "prepare",
        "--user-id",
        USER,
        "--instance-id",
        "iBACKUP1",
        "--instances-file",
        file.to_str().unwrap(),
    ])
    .assert_code(0)
    .json();
    let ids: Vec<&str> = doc["status_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["instance_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["iBACKUP1", "iRJEVP9", "iPREP001"]);

    let mut child = koophone(&[
        "--simulate",
        "--output",
        "json",
        "prepare",
        "--user-id",
        USER,
        "--instances-file",
        "-",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"iFAILED1\n\n#x\niFAILED1\n")
        .unwrap();
    let run = finish(child.wait_with_output().unwrap());
    assert_eq!(
        run.assert_code(0).json(),
        json!({"status_list": [entry("iFAILED1", "ready", json!(0))]})
    );

    // A file with no ids, or none at all: invalid input.
    let empty = temp_file("empty.txt", "# nothing\n\n");
    let run = simulate(&[
        "prepare",
        "--user-id",
        USER,
        "--instances-file",
        empty.to_str().unwrap(),
    ]);
    assert_eq!(run.assert_code(2).json()["error"]["kind"], "invalid_input");
    let run = simulate(&[
        "prepare",
        "--user-id",
        USER,
        "--instances-file",
        "/nonexistent/koophone-ids.txt",
    ]);
    assert_eq!(run.assert_code(2).json()["error"]["kind"], "invalid_input");
}

#[test]
fn ids_over_32_characters_exit_2_with_nothing_sent() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let long = "x".repeat(33);
    let file = temp_file("long.txt", &format!("ok1\n{long}\n"));
    for args in [
        vec!["--instance-id", "ok1", "--instance-id", long.as_str()],
        vec!["--instances-file", file.to_str().unwrap()],
    ] {
        let mut all = vec![
            "--endpoint",
            &url,
            "--token",
            SECRET,
            "--output",
            "json",
            "prepare",
            "--user-id",
            USER,
        ];
        all.extend_from_slice(&args);
        let run = run(&all);
        let doc = run.assert_code(2).json();
        assert_eq!(doc["error"]["kind"], "invalid_input");
        assert!(
            doc["error"]["error_msg"]
                .as_str()
                .unwrap()
                .contains("instance_id"),
            "{doc}"
        );
    }
    let err = listener.accept().expect_err("nothing may connect");
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["prepare", "--user-id", USER],
        vec![
            "prepare",
            "--user-id",
            USER,
            "--instance-id",
            "a",
            "--max-wait",
            "5",
        ],
        vec!["prepare", "--instance-id", "a"],
    ] {
        let run = simulate(&args);
        assert_eq!(run.assert_code(2).json()["error"]["kind"], "invalid_input");
    }
}

#[test]
fn service_errors_exit_4() {
    let run = simulate(&["prepare", "--user-id", USER, "--instance-id", "iNOSUCH"]);
    let doc = run.assert_code(4).json();
    assert_eq!(doc["error"]["kind"], "service");
    assert_eq!(doc["error"]["error_code"], "KOOPHONE.API.4001");
    assert_eq!(doc["error"]["http_status"], 400);
    let run = simulate(&["prepare", "--user-id", USER, "--instance-id", "iOTHER01"]);
    assert_eq!(
        run.assert_code(4).json()["error"]["error_code"],
        "KOOPHONE.API.1001"
    );
}

#[test]
fn more_than_one_hundred_ids_are_sent_in_batches() {
    let instances: Vec<String> = (0..230)
        .map(|n| {
            format!(r#"{{"instance_id": "p{n:03}", "prepare": {{}}, "phases": [{{"status": "normal"}}]}}"#)
        })
        .collect();
    let server = Server::start(
        &format!(
            r#"{{"koophone": {{"users": [{{"user_id": "{USER}", "instances": [{}]}}]}}}}"#,
            instances.join(",")
        ),
        "many.json",
    );
    let ids: Vec<String> = (0..230).rev().map(|n| format!("p{n:03}")).collect();
    let file = temp_file("many.txt", &ids.join("\n"));
    let doc = server
        .run(&[
            "prepare",
            "--user-id",
            USER,
            "--instances-file",
            file.to_str().unwrap(),
        ])
        .assert_code(0)
        .json();
    let got: Vec<&str> = doc["status_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["status"], "ready");
            e["instance_id"].as_str().unwrap()
        })
        .collect();
    assert_eq!(got, ids);
}

#[test]
fn waiting_for_several_instances_gives_the_fleet_document() {
    let start = Instant::now();
    let run = simulate(&[
        "prepare",
        "--user-id",
        USER,
        "--instance-id",
        "iPREP001",
        "--instance-id",
        "iFAILED1",
        "--instance-id",
        "iRJEVP9",
        "--wait",
        "--min-interval",
        "200",
        "--max-interval",
        "500",
    ]);
    let doc = run.assert_code(6).json();
    let instances = doc["instances"].as_array().unwrap();
    let ids: Vec<&str> = instances
        .iter()
        .map(|i| i["instance_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["iPREP001", "iFAILED1", "iRJEVP9"]);
    assert_eq!(instances[0]["status"], "normal");
    assert_eq!(instances[1]["error"]["kind"], "failed_state");
    assert_eq!(instances[2]["status"], "normal");
    let summary = &doc["summary"];
    assert_eq!(
        (
            &summary["total"],
            &summary["ready"],
            &summary["failed"],
            &summary["timed_out"],
            &summary["errors"]
        ),
        (&json!(3), &json!(2), &json!(1), &json!(0), &json!(0))
    );
    let polls: u64 = [0, 2]
        .iter()
        .map(|&i| instances[i]["polls"].as_u64().unwrap())
        .sum();
    // One prepare call plus at least every poll of the finished waits.
    assert!(summary["requests"].as_u64().unwrap() > polls, "{summary}");
    assert!(
        summary["elapsed_ms"].as_u64().unwrap() <= start.elapsed().as_millis() as u64,
        "{summary}"
    );

    // One --max-wait for all of them: the first wait uses it up.
    let run = simulate(&[
        "prepare",
        "--user-id",
        USER,
        "--instance-id",
        "iPREP001",
        "--instance-id",
        "iRJEVP9",
        "--wait",
        "--max-wait",
        "1",
        "--min-interval",
        "200",
    ]);
    let doc = run.assert_code(3).json();
    assert_eq!(doc["summary"]["timed_out"], 2, "{doc}");
    assert_eq!(doc["instances"][1]["error"]["kind"], "timeout");
}

#[test]
fn help_documents_the_command() {
    let help = run(&["prepare", "--help"]);
    help.assert_code(0);
    for part in ["--instances-file", "--wait", "--max-wait", "Example"] {
        assert!(help.stdout.contains(part), "{part}: {}", help.stdout);
    }
    let man = run(&["man", "prepare"]);
    man.assert_code(0);
    assert!(man.stdout.contains("koophone\\-prepare"), "{}", man.stdout);
}
