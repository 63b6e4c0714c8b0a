//! Waiting for several instances at once, black-box against the embedded
//! simulator (`--simulate`: iRJEVP9 becomes normal after 5 s, iFAILED1 fails
//! after 3 s, iBACKUP1 is normal after 3 s; iNOPE does not exist: 4001).

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{exec, koophone, koophone_run};
use serde_json::Value;

const USER: &str = "1008600000104285462";

fn wait(extra: &[&str]) -> common::Run {
    let mut args = vec![
        "--simulate",
        "--output",
        "json",
        "wait",
        "--user-id",
        USER,
        "--min-interval",
        "300",
        "--max-interval",
        "1000",
    ];
    args.extend_from_slice(extra);
    koophone_run(&args, &[])
}

fn ids(doc: &Value) -> Vec<&str> {
    doc["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["instance_id"].as_str().unwrap())
        .collect()
}

#[test]
fn the_documented_fleet_prints_the_fleet_document_and_exits_6() {
    let run = koophone_run(
        &[
            "--simulate",
            "--output",
            "json",
            "wait",
            "--user-id",
            USER,
            "--instance-id",
            "iRJEVP9",
            "--instance-id",
            "iFAILED1",
        ],
        &[],
    );
    run.assert_code(6);
    let doc = run.json();
    assert_eq!(ids(&doc), ["iRJEVP9", "iFAILED1"]);
    let ready = &doc["instances"][0];
    assert_eq!(ready["status"], "normal");
    assert_eq!(ready["status_code"], 0);
    assert!(ready["polls"].as_u64().unwrap() >= 2);
    assert!(ready["elapsed_ms"].as_u64().unwrap() >= 4000);
    let failed = &doc["instances"][1]["error"];
    assert_eq!(failed["kind"], "failed_state");
    let s = &doc["summary"];
    assert_eq!(
        (
            &s["total"],
            &s["ready"],
            &s["failed"],
            &s["timed_out"],
            &s["errors"]
        ),
        (
            &Value::from(2),
            &Value::from(1),
            &Value::from(1),
            &Value::from(0),
            &Value::from(0)
        )
    );
    assert!(s["requests"].as_u64().unwrap() >= 4);
    assert!(s["elapsed_ms"].as_u64().unwrap() >= 4000);
}

#[test]
fn a_mixed_fleet_with_a_failure_and_a_4001_exits_6_in_input_order() {
    let run = wait(&[
        "--instance-id",
        "iNOPE",
        "--instance-id",
        "iBACKUP1",
        "--instance-id",
        "iFAILED1",
    ]);
    run.assert_code(6);
    let doc = run.json();
    assert_eq!(ids(&doc), ["iNOPE", "iBACKUP1", "iFAILED1"]);
    let unknown = &doc["instances"][0]["error"];
    assert_eq!(unknown["kind"], "service");
    assert_eq!(unknown["error_code"], "KOOPHONE.API.4001");
    assert_eq!(unknown["http_status"], 400);
    assert_eq!(doc["instances"][1]["status"], "normal");
    assert_eq!(doc["summary"]["errors"], 1);
    assert_eq!(doc["summary"]["failed"], 1);
}

#[test]
fn exit_codes_follow_the_fleet_precedence() {
    // A service error beats a deadline: 4.
    let run = wait(&[
        "--max-wait",
        "1",
        "--instance-id",
        "iRJEVP9",
        "--instance-id",
        "iNOPE",
    ]);
    run.assert_code(4);
    let doc = run.json();
    assert_eq!(doc["instances"][0]["error"]["kind"], "timeout");
    assert_eq!(doc["summary"]["timed_out"], 1);
    // Deadlines alone: 3.
    wait(&[
        "--max-wait",
        "1",
        "--instance-id",
        "iRJEVP9",
        "--instance-id",
        "iBACKUP1",
    ])
    .assert_code(3);
    // All ready: 0.
    let run = wait(&["--instance-id", "iBACKUP1", "--instance-id", "iRJEVP9"]);
    run.assert_code(0);
    assert_eq!(run.json()["summary"]["ready"], 2);
}

#[test]
fn an_instances_file_skips_comments_blanks_and_duplicates() {
    let dir = std::env::temp_dir().join(format!("koophone-fleet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ids.txt");
    std::fs::write(&file, "# the fleet\niBACKUP1\n\n  iNOPE \niBACKUP1\n").unwrap();
    let path = file.to_str().unwrap();
    // --instance-id first, then the file's ids; duplicates across both dropped.
    let run = wait(&["--instance-id", "iNOPE", "--instances-file", path]);
    run.assert_code(4);
    assert_eq!(ids(&run.json()), ["iNOPE", "iBACKUP1"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_instances_file_can_be_stdin() {
    let mut cmd = wait_on_stdin(&["--min-interval", "300"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"iNOPE\n#iRJEVP9\niBACKUP1\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ids(&doc), ["iNOPE", "iBACKUP1"]);
}

#[test]
fn one_instance_keeps_the_single_instance_output() {
    // Given twice, it is one instance: the single-instance document and code.
    let run = wait(&["--instance-id", "iFAILED1", "--instance-id", "iFAILED1"]);
    run.assert_code(6);
    let doc = run.json();
    assert_eq!(doc["error"]["kind"], "failed_state");
    assert!(doc.get("instances").is_none());
    let run = wait(&["--instance-id", "iBACKUP1"]);
    run.assert_code(0);
    assert_eq!(run.json()["status"], "normal");
}

#[test]
fn no_ids_and_bad_fleet_flags_are_invalid_input() {
    let mut cmd = wait_on_stdin(&[]);
    let run = exec(&mut cmd);
    run.assert_code(2);
    assert_eq!(run.json()["error"]["kind"], "invalid_input");
    for bad in [["--rate", "0"], ["--concurrency", "0"]] {
        let run = wait(&[
            "--instance-id",
            "iRJEVP9",
            "--instance-id",
            "iBACKUP1",
            bad[0],
            bad[1],
        ]);
        run.assert_code(2);
    }
}

#[test]
fn human_mode_prints_a_summary_and_the_instances_not_ready() {
    let run = koophone_run(
        &[
            "--simulate",
            "wait",
            "--user-id",
            USER,
            "--min-interval",
            "300",
            "--instance-id",
            "iBACKUP1",
            "--instance-id",
            "iNOPE",
        ],
        &[],
    );
    run.assert_code(4);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with("2 instances: 1 ready, 0 failed, 0 timed out, 1 errors;"),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[1].starts_with("iNOPE  service"), "{lines:?}");
    assert!(lines[1].contains("KOOPHONE.API.4001"), "{lines:?}");
}

#[test]
fn ctrl_c_stops_a_fleet_within_a_second_and_prints_what_was_known() {
    let mut child = koophone(
        &[
            "--simulate",
            "--output",
            "json",
            "wait",
            "--user-id",
            USER,
            "--min-interval",
            "60000",
            "--max-interval",
            "60000",
            "--instance-id",
            "iNOPE",
            "--instance-id",
            "iRJEVP9",
        ],
        &[],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let sent = std::time::Instant::now();
    let code = common::wait_at_most(&mut child, std::time::Duration::from_secs(10))
        .expect("stopped by Ctrl-C");
    assert!(
        sent.elapsed() < std::time::Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(code.code(), Some(130));
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    let doc: Value = serde_json::from_str(stdout.trim()).unwrap();
    // The 4001 was known; iRJEVP9 was still waiting for its next poll.
    assert_eq!(
        doc["instances"][0]["error"]["error_code"],
        "KOOPHONE.API.4001"
    );
    assert_eq!(doc["instances"][1]["error"]["kind"], "cancelled");
    assert_eq!(doc["summary"]["total"], 2);
}

/// `wait` in JSON mode against the simulator, the ids read from stdin.
fn wait_on_stdin(extra: &[&str]) -> std::process::Command {
    let mut args = vec![
        "--simulate",
        "--output",
        "json",
        "wait",
        "--user-id",
        USER,
        "--instances-file",
        "-",
    ];
    args.extend_from_slice(extra);
    koophone(&args, &[])
}
