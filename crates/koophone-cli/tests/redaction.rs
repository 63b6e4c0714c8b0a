//! The four echoes of a hostile server (issue 12) through the real
//! `koophone` binary: a server on 127.0.0.1:0 copies the request's headers
//! (and the secret key, security token or IAM password it was told) into a
//! 400 or 401 message, an `X-Request-Id` header or a ShowInstanceStatus 200
//! error. With `--token`, `KOOPHONE_TOKEN`, AK/SK from the environment and an
//! IAM user (IAM served by the simulator), in JSON and human mode, neither
//! stdout nor stderr holds any credential, and a 200 succeeds only with the
//! echo scrubbed to `[redacted]`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

const TOKEN: &str = "MIItoken-CLI-ECHOED-0123456789abcdef";
const SK: &str = "sk-CLI-ECHOED-S3CRET-0123456789";
const SECURITY_TOKEN: &str = "st-CLI-ECHOED-session-9876543210";
const SIM_PASSWORD: &str = "sim-password";

#[derive(Clone, Copy, Debug)]
enum Echo {
    /// A 400 whose `error_msg` holds the request's headers.
    BadRequest,
    /// The same in a 401 `APIGW.0301` body.
    Unauthorized,
    /// `X-Request-Id: req-<credential>`.
    RequestId,
    /// A ShowInstanceStatus 200 whose state error holds the headers.
    StateError,
}

const ECHOES: [Echo; 4] = [
    Echo::BadRequest,
    Echo::Unauthorized,
    Echo::RequestId,
    Echo::StateError,
];

/// The echo server: one thread, at most `max` connections, one request
/// each; `extras` are secrets it also puts in every echo (what a proxy that
/// logged them would know). Records every `X-Auth-Token` it received.
struct EchoServer {
    url: String,
    tokens: Arc<Mutex<Vec<String>>>,
}

impl EchoServer {
    fn start(echo: Echo, extras: Vec<String>, max: usize) -> EchoServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let tokens = Arc::new(Mutex::new(Vec::new()));
        let seen = tokens.clone();
        thread::spawn(move || {
            for stream in listener.incoming().take(max).flatten() {
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                let Some(headers) = read_request(&mut reader) else {
                    continue;
                };
                if let Some((_, token)) = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("x-auth-token"))
                {
                    seen.lock().unwrap().push(token.clone());
                }
                let reply = answer(echo, &headers, &extras);
                let _ = writer.write_all(reply.as_bytes());
            }
        });
        EchoServer { url, tokens }
    }

    fn tokens(&self) -> Vec<String> {
        self.tokens.lock().unwrap().clone()
    }
}

/// The request's headers, its body read and dropped; `None` on a broken request.
fn read_request(reader: &mut impl BufRead) -> Option<Vec<(String, String)>> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(headers)
}

fn answer(echo: Echo, headers: &[(String, String)], extras: &[String]) -> String {
    let mut text = String::from("request was: ");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    for extra in extras {
        text.push_str(&format!("known secret: {extra}\n"));
    }
    let credential = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-auth-token"))
        .map(|(_, v)| v.clone())
        .into_iter()
        .chain(extras.iter().cloned())
        .collect::<Vec<_>>()
        .join("-");
    let (status, extra_header, body) = match echo {
        Echo::BadRequest => (
            400,
            String::new(),
            serde_json::json!({"error_code": "CLOUDDC.0400", "error_msg": text}),
        ),
        Echo::Unauthorized => (
            401,
            String::new(),
            serde_json::json!({"error_code": "APIGW.0301", "error_msg": text}),
        ),
        Echo::RequestId => (
            400,
            format!("X-Request-Id: req-{credential}\r\n"),
            serde_json::json!({"error_code": "CLOUDDC.0400", "error_msg": "bad request"}),
        ),
        Echo::StateError => (
            200,
            String::new(),
            serde_json::json!({"state": "error", "error": {"error_code": "CLOUDDC.5001", "error_msg": text}}),
        ),
    };
    let body = body.to_string();
    format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra_header}\r\n{body}",
        body.len()
    )
}

fn visible(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                ' '
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// The binary with an empty environment plus `vars`.
fn koophone(args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_koophone"));
    cmd.env_clear().args(args).stdin(Stdio::null());
    for (name, value) in vars {
        cmd.env(name, value);
    }
    let out = cmd.output().expect("run koophone");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// How the binary is given its credentials: extra flags, environment, and
/// the secrets it then holds (besides any token the echo server received).
struct Creds<'a> {
    name: &'static str,
    flags: Vec<&'a str>,
    vars: Vec<(&'static str, &'a str)>,
    secrets: Vec<&'static str>,
}

fn run_all(creds: &Creds<'_>) {
    for echo in ECHOES {
        for output in ["json", "human"] {
            let server = EchoServer::start(echo, extras(creds), 8);
            let mut args = creds.flags.clone();
            args.extend([
                "--endpoint",
                &server.url,
                "--output",
                output,
                "status",
                "--project-id",
                "sim-project",
                "--instance-id",
                "sim-instance",
            ]);
            let run = koophone(&args, &creds.vars);
            let what = format!("{} {echo:?} --output {output}", creds.name);
            let mut secrets: Vec<String> = creds.secrets.iter().map(|s| s.to_string()).collect();
            secrets.extend(server.tokens());
            assert!(
                !server.tokens().is_empty() || creds.secrets.contains(&SK),
                "{what}: a token was sent"
            );
            for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
                let seen = visible(text);
                for secret in &secrets {
                    assert!(
                        !seen.contains(&secret.to_ascii_lowercase()),
                        "{what}: {stream} holds a credential: {text}"
                    );
                }
            }
            match echo {
                // Success is allowed only with the echo scrubbed.
                Echo::StateError if run.code == Some(0) => {
                    assert!(run.stdout.contains("[redacted]"), "{what}: {}", run.stdout);
                }
                Echo::StateError => {}
                _ => {
                    assert_ne!(run.code, Some(0), "{what}: an error answer fails");
                    let shown = if output == "json" {
                        &run.stdout
                    } else {
                        &run.stderr
                    };
                    assert!(shown.contains("[redacted]"), "{what}: {shown}");
                }
            }
        }
    }
}

fn extras(creds: &Creds<'_>) -> Vec<String> {
    creds
        .secrets
        .iter()
        .filter(|s| **s != TOKEN)
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn a_token_from_the_flag_is_never_printed() {
    run_all(&Creds {
        name: "--token",
        flags: vec!["--token", TOKEN],
        vars: vec![],
        secrets: vec![TOKEN],
    });
}

#[test]
fn a_token_from_the_environment_is_never_printed() {
    run_all(&Creds {
        name: "KOOPHONE_TOKEN",
        flags: vec![],
        vars: vec![("KOOPHONE_TOKEN", TOKEN)],
        secrets: vec![TOKEN],
    });
}

#[test]
fn aksk_secrets_are_never_printed() {
    run_all(&Creds {
        name: "AK/SK",
        flags: vec![],
        vars: vec![
            ("HUAWEICLOUD_SDK_AK", "AKCLIECHOTEST"),
            ("HUAWEICLOUD_SDK_SK", SK),
            ("HUAWEICLOUD_SDK_SECURITY_TOKEN", SECURITY_TOKEN),
        ],
        secrets: vec![SK, SECURITY_TOKEN],
    });
}

#[test]
fn an_iam_password_and_issued_token_are_never_printed() {
    let sim = koophone_sim::Sim::builder().start().expect("simulator");
    run_all(&Creds {
        name: "IAM",
        flags: vec![
            "--iam-user",
            "sim-user",
            "--iam-domain",
            "sim-domain",
            "--iam-project",
            "sim-project",
            "--iam-endpoint",
            sim.base_url(),
        ],
        vars: vec![("KOOPHONE_IAM_PASSWORD", SIM_PASSWORD)],
        secrets: vec![SIM_PASSWORD],
    });
}
