//! Black-box tests of `koophone prepare` (DESIGN.md): the status_list
//! document with missing ids, the instances file, ids over 32 characters
//! refused before anything is sent, batches of 100, and `--wait` for one
//! instance (the `wait` document) or several (the fleet document and its
//! exit codes), against the embedded simulator and `koophone sim`.

use std::net::TcpListener;
use std::process::{Child, Stdio};
use std::time::Instant;

use serde_json::{Value, json};

/// A token given to every run against a server; it must never be printed.
const SECRET: &str = "tok-S3CRET-prepare-9c1e";
const USER: &str = "1008600000104285462";

mod common;

use common::{Line, Run, ids_in, summary_counts, temp_file};

/// Run `line` to its end; the token is on neither stream.
fn run(line: &Line) -> Run {
    let run = line.run(&[]);
    run.assert_hides(&[SECRET]);
    run
}

/// `--simulate` with the secret token, in JSON mode; the command follows.
fn simulate() -> Line {
    Line::simulate().token(SECRET).json()
}

/// `koophone sim` on a scenario file, stopped when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(scenario: &str, name: &str) -> Server {
        let file = temp_file(name, scenario);
        let sim = Line::new()
            .token(SECRET)
            .arg("sim")
            .flag("--listen", "127.0.0.1:0")
            .flag("--scenario", file.to_str().unwrap());
        let (child, url, _) = common::serve(&sim, Stdio::null());
        Server { child, url }
    }

    /// Against this server with the secret token, in JSON mode; the command follows.
    fn line(&self) -> Line {
        Line::endpoint(&self.url).token(SECRET).json()
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
    let line = Line::simulate()
        .json()
        .prepare(USER, &["iRJEVP9"])
        .arg("--wait");
    let doc = run(&line).assert_code(0).json();
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
    let prepare = simulate()
        .prepare(USER, &["iPREP001"])
        .arg("--wait")
        .intervals(200, 500);
    let doc = run(&prepare).assert_code(0).json();
    assert_eq!(doc["status"], "normal");
    assert!(doc["polls"].as_u64().unwrap() > 1, "it queued first: {doc}");
    // Without prepare, the same wait never ends: the instance stays queuing.
    let wait = simulate()
        .wait(USER, &["iPREP001"])
        .flag("--max-wait", "2")
        .flag("--min-interval", "200");
    assert_eq!(run(&wait).assert_code(3).json()["error"]["kind"], "timeout");
}

#[test]
fn status_list_in_both_modes() {
    let prepare = |line: Line| line.prepare(USER, &["iPREP001", "iRJEVP9"]);
    let doc = run(&prepare(simulate())).assert_code(0).json();
    assert_eq!(
        doc,
        json!({"status_list": [entry("iPREP001", "ready", json!(0)), entry("iRJEVP9", "ready", json!(0))]})
    );
    let run = run(&prepare(Line::simulate().token(SECRET)));
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
    let prepare = server.line().prepare(USER, &["iSILENT", "iSEEN", "iODD"]);
    let doc = run(&prepare).assert_code(0).json();
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
    let from_file = |path: &str| simulate().prepare(USER, &[]).flag("--instances-file", path);
    let line = from_file(file.to_str().unwrap());
    let doc = run(&line.instances(&["iBACKUP1"])).assert_code(0).json();
    assert_eq!(
        ids_in(&doc["status_list"]),
        ["iBACKUP1", "iRJEVP9", "iPREP001"]
    );

    let stdin = from_file("-").run_with_stdin(b"iFAILED1\n\n#x\niFAILED1\n", &[]);
    stdin.assert_hides(&[SECRET]);
    assert_eq!(
        stdin.assert_code(0).json(),
        json!({"status_list": [entry("iFAILED1", "ready", json!(0))]})
    );

    // A file with no ids, or none at all: invalid input.
    let empty = temp_file("empty.txt", "# nothing\n\n");
    for path in [empty.to_str().unwrap(), "/nonexistent/koophone-ids.txt"] {
        let run = run(&from_file(path));
        assert_eq!(run.assert_code(2).json()["error"]["kind"], "invalid_input");
    }
}

#[test]
fn ids_over_32_characters_exit_2_with_nothing_sent() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let long = "x".repeat(33);
    let file = temp_file("long.txt", &format!("ok1\n{long}\n"));
    let prepare = Line::endpoint(&url).token(SECRET).json().prepare(USER, &[]);
    for ids in [
        prepare.clone().instances(&["ok1", &long]),
        prepare.flag("--instances-file", file.to_str().unwrap()),
    ] {
        let doc = run(&ids).assert_code(2).json();
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
    for line in [
        simulate().prepare(USER, &[]),
        simulate().prepare(USER, &["a"]).flag("--max-wait", "5"),
        simulate().arg("prepare").instances(&["a"]),
    ] {
        let run = run(&line);
        assert_eq!(run.assert_code(2).json()["error"]["kind"], "invalid_input");
    }
}

#[test]
fn service_errors_exit_4() {
    let doc = run(&simulate().prepare(USER, &["iNOSUCH"]))
        .assert_code(4)
        .json();
    assert_eq!(doc["error"]["kind"], "service");
    assert_eq!(doc["error"]["error_code"], "KOOPHONE.API.4001");
    assert_eq!(doc["error"]["http_status"], 400);
    let run = run(&simulate().prepare(USER, &["iOTHER01"]));
    assert_eq!(
        run.assert_code(4).json()["error"]["error_code"],
        "KOOPHONE.API.1001"
    );
}

/// `koophone sim` with `count` instances `p000`, `p001`, … of [`USER`] that
/// need preparing and are normal right after it.
fn prepared_instances(count: usize, name: &str) -> Server {
    let instances: Vec<String> = (0..count)
        .map(|n| {
            format!(r#"{{"instance_id": "p{n:03}", "prepare": {{}}, "phases": [{{"status": "normal"}}]}}"#)
        })
        .collect();
    Server::start(
        &format!(
            r#"{{"koophone": {{"users": [{{"user_id": "{USER}", "instances": [{}]}}]}}}}"#,
            instances.join(",")
        ),
        name,
    )
}

#[test]
fn more_than_one_hundred_ids_are_sent_in_batches() {
    let server = prepared_instances(230, "many.json");
    let ids: Vec<String> = (0..230).rev().map(|n| format!("p{n:03}")).collect();
    let file = temp_file("many.txt", &ids.join("\n"));
    let prepare = server
        .line()
        .prepare(USER, &[])
        .flag("--instances-file", file.to_str().unwrap());
    let doc = run(&prepare).assert_code(0).json();
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
    let prepare = simulate()
        .prepare(USER, &["iPREP001", "iFAILED1", "iRJEVP9"])
        .arg("--wait")
        .intervals(200, 500);
    let doc = run(&prepare).assert_code(6).json();
    let instances = doc["instances"].as_array().unwrap();
    assert_eq!(
        ids_in(&doc["instances"]),
        ["iPREP001", "iFAILED1", "iRJEVP9"]
    );
    assert_eq!(instances[0]["status"], "normal");
    assert_eq!(instances[1]["error"]["kind"], "failed_state");
    assert_eq!(instances[2]["status"], "normal");
    let summary = &doc["summary"];
    assert_eq!(summary_counts(&doc), [3, 2, 1, 0, 0]);
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
    let prepare = simulate().prepare(USER, &["iPREP001", "iRJEVP9"]).args([
        "--wait",
        "--max-wait",
        "1",
        "--min-interval",
        "200",
    ]);
    let doc = run(&prepare).assert_code(3).json();
    assert_eq!(doc["summary"]["timed_out"], 2, "{doc}");
    assert_eq!(doc["instances"][1]["error"]["kind"], "timeout");
}

#[test]
fn a_refused_batch_is_reported_for_its_instances_while_the_others_are_waited_for() {
    // Batch 1: p000..p099, prepared. Batch 2: p100..p119 and an unknown id,
    // refused whole (4001).
    let server = prepared_instances(120, "refused-batch.json");
    let mut ids: Vec<String> = (0..120).map(|n| format!("p{n:03}")).collect();
    ids.push("iNOSUCH".into());
    let file = temp_file("refused-batch.txt", &ids.join("\n"));
    let prepare = server
        .line()
        .prepare(USER, &[])
        .flag("--instances-file", file.to_str().unwrap())
        .args(["--wait", "--rate", "1000", "--concurrency", "32"])
        .intervals(100, 200);
    let doc = run(&prepare).assert_code(4).json();
    assert_eq!(ids_in(&doc["instances"]), ids);
    let instances = doc["instances"].as_array().unwrap();
    for ready in &instances[..100] {
        assert_eq!(ready["status"], "normal", "{ready}");
    }
    for refused in &instances[100..] {
        assert_eq!(refused["error"]["kind"], "service", "{refused}");
        assert_eq!(refused["error"]["error_code"], "KOOPHONE.API.4001");
    }
    // total, ready, failed, timed out, errors.
    assert_eq!(summary_counts(&doc), [121, 100, 0, 0, 21]);
    // Two prepare calls, then one poll for each prepared instance.
    assert_eq!(doc["summary"]["requests"], 102, "{}", doc["summary"]);

    // Nothing prepared, nothing waited for: the command's own error.
    let prepare = simulate()
        .prepare(USER, &["iRJEVP9", "iNOSUCH"])
        .arg("--wait");
    let doc = run(&prepare).assert_code(4).json();
    assert_eq!(doc["error"]["error_code"], "KOOPHONE.API.4001", "{doc}");
}

#[test]
fn help_documents_the_command() {
    let help = run(&Line::new().args(["prepare", "--help"]));
    help.assert_code(0);
    for part in ["--instances-file", "--wait", "--max-wait", "Example"] {
        assert!(help.stdout.contains(part), "{part}: {}", help.stdout);
    }
    let man = run(&Line::new().args(["man", "prepare"]));
    man.assert_code(0);
    assert!(man.stdout.contains("koophone\\-prepare"), "{}", man.stdout);
}
