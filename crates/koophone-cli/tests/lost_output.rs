//! Exit code 74: a result that stdout refuses (`/dev/full`: every write
//! fails with ENOSPC) is reported in one line on stderr and ends with 74,
//! so a script never takes a lost result for a delivered one; a reader
//! that went away (a broken pipe, as with `| head`) stays quiet.

use std::fs::OpenOptions;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

mod common;

use common::wait_at_most;

/// The binary with an empty environment.
fn koophone(args: &[&str]) -> Command {
    common::koophone(args, &[])
}

const USER: &str = "1008600000104285462";
const PHONE: &str = "iRJEVP9";

/// Run with stdout on `/dev/full`.
fn into_dev_full(args: &[&str]) -> Output {
    let full = OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full");
    koophone(args)
        .stdout(Stdio::from(full))
        .output()
        .expect("run koophone")
}

/// Exit 74 and exactly one line on stderr that says what was lost.
fn assert_lost(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(74), "stderr: {stderr:?}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {stderr:?}");
    assert!(
        lines[0].starts_with("koophone: cannot write the result to stdout"),
        "{stderr:?}"
    );
}

#[test]
fn a_result_stdout_refuses_exits_74_in_both_modes() {
    // JSON asked for, and the default (human) mode.
    for mode in [&["--output", "json"][..], &[]] {
        let command = ["progress", "--user-id", USER, "--instance-id", PHONE];
        let out = into_dev_full(&[&["--simulate"][..], mode, &command].concat());
        assert_lost(&out);
    }
}

#[test]
fn a_json_error_document_stdout_refuses_exits_74() {
    // An empty user id is refused before anything is sent (exit 2 when
    // delivered); in JSON mode the error document is the result.
    let out = into_dev_full(&[
        "--simulate",
        "--output",
        "json",
        "progress",
        "--user-id",
        "",
        "--instance-id",
        PHONE,
    ]);
    assert_lost(&out);
}

#[test]
fn a_human_failure_goes_to_stderr_and_keeps_its_code() {
    let out = into_dev_full(&[
        "--simulate",
        "progress",
        "--user-id",
        "",
        "--instance-id",
        PHONE,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr:?}");
    assert_eq!(
        stderr.trim_end(),
        "koophone: invalid user_id: must not be empty"
    );
}

#[test]
fn help_and_completions_stdout_refuses_exit_74() {
    assert_lost(&into_dev_full(&["--help"]));
    assert_lost(&into_dev_full(&["--version"]));
    assert_lost(&into_dev_full(&["completions", "bash"]));
}

#[test]
fn a_closed_pipe_stays_quiet() {
    // The read end is closed before the command starts, so its write fails
    // with EPIPE every time (Rust programs ignore SIGPIPE).
    for format in ["human", "json"] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = koophone(&[
            "--simulate",
            "--output",
            format,
            "progress",
            "--user-id",
            USER,
            "--instance-id",
            PHONE,
        ])
        .stdout(Stdio::from(writer))
        .output()
        .expect("run koophone");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{format}: {stderr:?}");
        assert_eq!(stderr, "", "{format}: a broken pipe is not reported");
    }
}

#[test]
fn sim_that_cannot_announce_its_address_stops_with_74() {
    let full = OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full");
    let mut child = koophone(&["sim", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::from(full))
        .stderr(Stdio::piped())
        .spawn()
        .expect("run koophone sim");
    let status = wait_at_most(&mut child, Duration::from_secs(10));
    let out = child.wait_with_output().expect("collect stderr");
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(74),
        "sim kept serving unannounced"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
}
