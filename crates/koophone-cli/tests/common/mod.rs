//! What every black-box test of the `koophone` binary shares: building its
//! command lines ([`Line`]), running it with an empty environment, and
//! checking what it printed.

// Each test crate uses its own part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// What one run of the binary left behind.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Wall time the run took.
    pub elapsed: Duration,
}

impl Run {
    /// What a process that began at `start` left when it ended.
    pub fn finished(out: Output, start: Instant) -> Run {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
            stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
            elapsed: start.elapsed(),
        }
    }

    /// The one JSON document stdout must hold, on exactly one line.
    pub fn json(&self) -> Value {
        let lines: Vec<&str> = self.stdout.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "exactly one line on stdout: {:?}",
            self.stdout
        );
        serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{e}: {:?}", self.stdout))
    }

    /// The `error_msg` of the error document on stdout.
    pub fn error_msg(&self) -> String {
        let doc = self.json();
        match doc["error"]["error_msg"].as_str() {
            Some(message) => message.to_owned(),
            None => panic!("no error message: {doc}"),
        }
    }

    pub fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            Some(code),
            "stdout: {:?}\nstderr: {:?}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// None of `secrets` on either stream.
    pub fn assert_hides<S: AsRef<str>>(&self, secrets: &[S]) -> &Run {
        for secret in secrets {
            for (name, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
                assert!(
                    !text.contains(secret.as_ref()),
                    "a secret appeared on {name}"
                );
            }
        }
        self
    }
}

/// The binary with an empty environment (no inherited endpoint, token,
/// proxy or HOME: no profile file unless given) plus `vars`.
pub fn koophone(args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_koophone"));
    cmd.env_clear().args(args).stdin(Stdio::null());
    for (name, value) in vars {
        cmd.env(name, value);
    }
    cmd
}

/// The simulator's IAM user (`koophone_sim`'s default scenario), as flags.
pub const SIM_IAM_USER: [&str; 6] = [
    "--iam-user",
    "sim-user",
    "--iam-domain",
    "sim-domain",
    "--iam-project",
    "sim-project",
];

/// A ShowInstanceStatus of the simulator's instance at `endpoint`, printed
/// as `output`.
pub fn sim_status(endpoint: &str, output: &str) -> Line {
    Line::endpoint(endpoint)
        .output(output)
        .status("sim-project", "sim-instance")
}

/// [`sim_status`]'s words.
pub fn status_args(endpoint: &str, output: &str) -> Vec<String> {
    sim_status(endpoint, output).words
}

/// One command line of the binary, built from the parts the tests vary:
/// global flags, then a command and its arguments, in the order given.
#[derive(Clone, Debug, Default)]
pub struct Line {
    words: Vec<String>,
}

impl Line {
    /// Nothing yet.
    pub fn new() -> Line {
        Line::default()
    }

    /// `--simulate`: the embedded simulator.
    pub fn simulate() -> Line {
        Line::new().arg("--simulate")
    }

    /// `--endpoint URL`.
    pub fn endpoint(url: &str) -> Line {
        Line::new().flag("--endpoint", url)
    }

    /// One more word.
    pub fn arg(mut self, word: &str) -> Line {
        self.words.push(word.to_owned());
        self
    }

    /// More words.
    pub fn args<S: AsRef<str>>(mut self, words: impl IntoIterator<Item = S>) -> Line {
        self.words
            .extend(words.into_iter().map(|w| w.as_ref().to_owned()));
        self
    }

    /// `rest` after these words.
    pub fn then(mut self, rest: Line) -> Line {
        self.words.extend(rest.words);
        self
    }

    /// `NAME VALUE`.
    pub fn flag(self, name: &str, value: &str) -> Line {
        self.arg(name).arg(value)
    }

    /// `--token TOKEN`.
    pub fn token(self, token: &str) -> Line {
        self.flag("--token", token)
    }

    /// `--output MODE`.
    pub fn output(self, mode: &str) -> Line {
        self.flag("--output", mode)
    }

    /// `--output json`.
    pub fn json(self) -> Line {
        self.output("json")
    }

    /// `progress --user-id USER --instance-id ID`.
    pub fn progress(self, user: &str, id: &str) -> Line {
        self.arg("progress")
            .flag("--user-id", user)
            .flag("--instance-id", id)
    }

    /// `wait --user-id USER`, then `--instance-id` for each of `ids`.
    pub fn wait(self, user: &str, ids: &[&str]) -> Line {
        self.arg("wait").flag("--user-id", user).instances(ids)
    }

    /// `prepare --user-id USER`, then `--instance-id` for each of `ids`.
    pub fn prepare(self, user: &str, ids: &[&str]) -> Line {
        self.arg("prepare").flag("--user-id", user).instances(ids)
    }

    /// `status --project-id PROJECT --instance-id ID`.
    pub fn status(self, project: &str, id: &str) -> Line {
        self.arg("status")
            .flag("--project-id", project)
            .flag("--instance-id", id)
    }

    /// `wait-state --project-id PROJECT --instance-id ID --state STATE`.
    pub fn wait_state(self, project: &str, id: &str, state: &str) -> Line {
        self.arg("wait-state")
            .flag("--project-id", project)
            .flag("--instance-id", id)
            .flag("--state", state)
    }

    /// `--instance-id ID` for each of `ids`.
    pub fn instances(self, ids: &[&str]) -> Line {
        ids.iter()
            .fold(self, |line, id| line.flag("--instance-id", id))
    }

    /// `--min-interval MIN --max-interval MAX`, in milliseconds.
    pub fn intervals(self, min: u64, max: u64) -> Line {
        self.flag("--min-interval", &min.to_string())
            .flag("--max-interval", &max.to_string())
    }

    /// The words, as the binary gets them.
    pub fn words(&self) -> Vec<&str> {
        self.words.iter().map(String::as_str).collect()
    }

    /// The binary with this line, an empty environment and `vars` ([`koophone`]).
    pub fn command(&self, vars: &[(&str, &str)]) -> Command {
        koophone(&self.words(), vars)
    }

    /// Run to the end.
    pub fn run(&self, vars: &[(&str, &str)]) -> Run {
        exec(&mut self.command(vars))
    }

    /// Run to the end with `input` on stdin (`--instances-file -`).
    pub fn run_with_stdin(&self, input: &[u8], vars: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(vars);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let start = Instant::now();
        let mut child = cmd.spawn().expect("spawn koophone");
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin.write_all(input).expect("write stdin");
        drop(stdin);
        Run::finished(child.wait_with_output().expect("run koophone"), start)
    }

    /// Started with both streams piped, for a test that stops it.
    pub fn spawn(&self, vars: &[(&str, &str)]) -> Child {
        self.command(vars)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn koophone")
    }
}

/// Run `cmd` to its end, collecting both streams.
pub fn exec(cmd: &mut Command) -> Run {
    let start = Instant::now();
    Run::finished(cmd.output().expect("run koophone"), start)
}

/// [`koophone`] with `args` and `vars`, run to its end.
pub fn koophone_run(args: &[&str], vars: &[(&str, &str)]) -> Run {
    exec(&mut koophone(args, vars))
}

/// Wait for a spawned child, at most `limit`; kills it if it overstays.
pub fn wait_at_most(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Send SIGINT (Ctrl-C) to `child`.
pub fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// Everything left on a pipe.
pub fn read_all(mut pipe: impl Read) -> String {
    let mut text = String::new();
    pipe.read_to_string(&mut text).expect("read pipe");
    text
}

/// A file of this test process's own temporary directory.
pub fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("koophone-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write temp file");
    path
}

/// `koophone sim` started by `line` (stdout piped): the child, the URL of
/// its first line (`listening on URL`) and the rest of its stdout.
pub fn serve(line: &Line, stderr: Stdio) -> (Child, String, BufReader<ChildStdout>) {
    let mut child = line
        .command(&[])
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn sim");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("first line");
    let Some(url) = first.trim_end().strip_prefix("listening on ") else {
        panic!("not the listening line: {first:?}");
    };
    let url = url.to_owned();
    (child, url, stdout)
}

/// The `instance_id` of every entry of `list` (a fleet's `instances`,
/// prepare's `status_list`), in order.
pub fn ids_in(list: &Value) -> Vec<&str> {
    let entries = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"));
    entries
        .iter()
        .map(|entry| entry["instance_id"].as_str().expect("an instance_id"))
        .collect()
}

/// A fleet document's counts: total, ready, failed, timed out, errors.
pub fn summary_counts(doc: &Value) -> [u64; 5] {
    ["total", "ready", "failed", "timed_out", "errors"].map(|count| {
        doc["summary"][count]
            .as_u64()
            .unwrap_or_else(|| panic!("no {count}: {doc}"))
    })
}
