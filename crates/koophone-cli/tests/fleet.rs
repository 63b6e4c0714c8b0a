//! Waiting for several instances at once, black-box against the embedded
//! simulator (`--simulate`: iRJEVP9 becomes normal after 5 s, iFAILED1 fails
//! after 3 s, iBACKUP1 is normal after 3 s; iNOPE does not exist: 4001).

mod common;

use std::time::{Duration, Instant};

use common::{Line, ids_in, interrupt, read_all, summary_counts, temp_file, wait_at_most};
use serde_json::Value;

const USER: &str = "1008600000104285462";

/// `wait` in JSON mode against the simulator, polling every 0.3 to 1 s;
/// the ids and other flags follow.
fn wait() -> Line {
    Line::simulate().json().wait(USER, &[]).intervals(300, 1000)
}

/// [`wait`] for the ids read from stdin.
fn wait_on_stdin() -> Line {
    wait().flag("--instances-file", "-")
}

#[test]
fn the_documented_fleet_prints_the_fleet_document_and_exits_6() {
    let run = Line::simulate()
        .json()
        .wait(USER, &["iRJEVP9", "iFAILED1"])
        .run(&[]);
    run.assert_code(6);
    let doc = run.json();
    assert_eq!(ids_in(&doc["instances"]), ["iRJEVP9", "iFAILED1"]);
    let ready = &doc["instances"][0];
    assert_eq!(ready["status"], "normal");
    assert_eq!(ready["status_code"], 0);
    assert!(ready["polls"].as_u64().unwrap() >= 2);
    assert!(ready["elapsed_ms"].as_u64().unwrap() >= 4000);
    let failed = &doc["instances"][1]["error"];
    assert_eq!(failed["kind"], "failed_state");
    assert_eq!(summary_counts(&doc), [2, 1, 1, 0, 0]);
    let s = &doc["summary"];
    assert!(s["requests"].as_u64().unwrap() >= 4);
    assert!(s["elapsed_ms"].as_u64().unwrap() >= 4000);
}

#[test]
fn a_mixed_fleet_with_a_failure_and_a_4001_exits_6_in_input_order() {
    let run = wait()
        .instances(&["iNOPE", "iBACKUP1", "iFAILED1"])
        .run(&[]);
    run.assert_code(6);
    let doc = run.json();
    assert_eq!(ids_in(&doc["instances"]), ["iNOPE", "iBACKUP1", "iFAILED1"]);
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
    let deadline = wait().flag("--max-wait", "1");
    let run = deadline.clone().instances(&["iRJEVP9", "iNOPE"]).run(&[]);
    run.assert_code(4);
    let doc = run.json();
    assert_eq!(doc["instances"][0]["error"]["kind"], "timeout");
    assert_eq!(doc["summary"]["timed_out"], 1);
    // Deadlines alone: 3.
    deadline
        .instances(&["iRJEVP9", "iBACKUP1"])
        .run(&[])
        .assert_code(3);
    // All ready: 0.
    let run = wait().instances(&["iBACKUP1", "iRJEVP9"]).run(&[]);
    run.assert_code(0);
    assert_eq!(run.json()["summary"]["ready"], 2);
}

#[test]
fn an_instances_file_skips_comments_blanks_and_duplicates() {
    let file = temp_file(
        "fleet-ids.txt",
        "# the fleet\niBACKUP1\n\n  iNOPE \niBACKUP1\n",
    );
    // --instance-id first, then the file's ids; duplicates across both dropped.
    let run = wait()
        .instances(&["iNOPE"])
        .flag("--instances-file", file.to_str().unwrap())
        .run(&[]);
    run.assert_code(4);
    assert_eq!(ids_in(&run.json()["instances"]), ["iNOPE", "iBACKUP1"]);
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn an_instances_file_can_be_stdin() {
    let run = wait_on_stdin().run_with_stdin(b"iNOPE\n#iRJEVP9\niBACKUP1\n", &[]);
    run.assert_code(4);
    assert_eq!(ids_in(&run.json()["instances"]), ["iNOPE", "iBACKUP1"]);
}

#[test]
fn one_instance_keeps_the_single_instance_output() {
    // Given twice, it is one instance: the single-instance document and code.
    let run = wait().instances(&["iFAILED1", "iFAILED1"]).run(&[]);
    run.assert_code(6);
    let doc = run.json();
    assert_eq!(doc["error"]["kind"], "failed_state");
    assert!(doc.get("instances").is_none());
    let run = wait().instances(&["iBACKUP1"]).run(&[]);
    run.assert_code(0);
    assert_eq!(run.json()["status"], "normal");
}

#[test]
fn no_ids_and_bad_fleet_flags_are_invalid_input() {
    // Nothing on stdin.
    let run = wait_on_stdin().run(&[]);
    run.assert_code(2);
    assert_eq!(run.json()["error"]["kind"], "invalid_input");
    for bad in [["--rate", "0"], ["--concurrency", "0"]] {
        let run = wait()
            .instances(&["iRJEVP9", "iBACKUP1"])
            .flag(bad[0], bad[1])
            .run(&[]);
        run.assert_code(2);
    }
}

#[test]
fn human_mode_prints_a_summary_and_the_instances_not_ready() {
    let run = Line::simulate()
        .wait(USER, &["iBACKUP1", "iNOPE"])
        .flag("--min-interval", "300")
        .run(&[]);
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
    let mut child = Line::simulate()
        .json()
        .wait(USER, &["iNOPE", "iRJEVP9"])
        .intervals(60000, 60000)
        .spawn(&[]);
    std::thread::sleep(Duration::from_millis(1500));
    interrupt(&child);
    let sent = Instant::now();
    let code = wait_at_most(&mut child, Duration::from_secs(10)).expect("stopped by Ctrl-C");
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(code.code(), Some(130));
    let stdout = read_all(child.stdout.take().unwrap());
    let doc: Value = serde_json::from_str(stdout.trim()).unwrap();
    // The 4001 was known; iRJEVP9 was still waiting for its next poll.
    assert_eq!(
        doc["instances"][0]["error"]["error_code"],
        "KOOPHONE.API.4001"
    );
    assert_eq!(doc["instances"][1]["error"]["kind"], "cancelled");
    assert_eq!(doc["summary"]["total"], 2);
}
