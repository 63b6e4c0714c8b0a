//! What every black-box test of the `koophone` binary shares: running it
//! with an empty environment and checking what it printed.

// Each test crate uses its own part of this module.
#![allow(dead_code)]

use std::process::{Child, Command, ExitStatus, Stdio};
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
pub fn status_args(endpoint: &str, output: &str) -> Vec<String> {
    [
        "--endpoint",
        endpoint,
        "--output",
        output,
        "status",
        "--project-id",
        "sim-project",
        "--instance-id",
        "sim-instance",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Run `cmd` to its end, collecting both streams.
pub fn exec(cmd: &mut Command) -> Run {
    let start = Instant::now();
    let out = cmd.output().expect("run koophone");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
        elapsed: start.elapsed(),
    }
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
