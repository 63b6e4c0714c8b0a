//! The four echoes of a hostile server (issue 12) through the real
//! `koophone` binary: a server on 127.0.0.1:0 copies the request's headers
//! (and the secret key, security token or IAM password it was told) into a
//! 400 or 401 message, an `X-Request-Id` header or a ShowInstanceStatus 200
//! error. With `--token`, `KOOPHONE_TOKEN`, AK/SK from the environment and an
//! IAM user (IAM served by the simulator), in JSON and human mode, neither
//! stdout nor stderr holds any credential, and a 200 succeeds only with the
//! echo scrubbed to `[redacted]`.

mod common;

use common::{SIM_IAM_USER, koophone_run as koophone, status_args};
use koophone_check::echo::{ECHOES, Echo, EchoServer, visible};

const TOKEN: &str = "MIItoken-CLI-ECHOED-0123456789abcdef";
const SK: &str = "sk-CLI-ECHOED-S3CRET-0123456789";
const SECURITY_TOKEN: &str = "st-CLI-ECHOED-session-9876543210";
const SIM_PASSWORD: &str = "sim-password";

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
            let call = status_args(&server.url, output);
            let mut args = creds.flags.clone();
            args.extend(call.iter().map(String::as_str));
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
        flags: [&SIM_IAM_USER[..], &["--iam-endpoint", sim.base_url()]].concat(),
        vars: vec![("KOOPHONE_IAM_PASSWORD", SIM_PASSWORD)],
        secrets: vec![SIM_PASSWORD],
    });
}
