//! Black-box tests of the `koophone` binary's credentials (DESIGN.md,
//! CREDENTIALS) against the simulator on 127.0.0.1:0: AK/SK from the
//! official SDKs' variables alone, an IAM user with the password from
//! `KOOPHONE_IAM_PASSWORD`, the contract's order, `koophone token` in both
//! output modes, and `--simulate` with each kind. Every run is checked for
//! the secret key, the password and every token the simulator saw: only
//! `koophone token` may print a token, on stdout.

mod common;

use common::{Line, Run, koophone_run, sim_status};
use koophone_sim::{AccessKeySpec, IAM_TOKENS_PATH, LoggedRequest, Scenario, Sim, SimHandle};

const USER: &str = "1008600000104285462";
const PHONE: &str = "iRJEVP9";
const SK: &str = "sk-S3CRET-cli-0123456789";
const SESSION: &str = "session-S3CRET-cli";
const PASSWORD: &str = "pw-S3CRET-cli-hunter2";

/// No secret in either stream, and no token the simulator saw.
fn assert_no_secrets(run: &Run, sim: Option<&SimHandle>) {
    let mut secrets: Vec<String> = vec![SK.into(), SESSION.into(), PASSWORD.into()];
    if let Some(sim) = sim {
        secrets.extend(tokens_seen(&sim.request_log()));
    }
    for secret in &secrets {
        for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert!(
                !text.contains(secret.as_str()),
                "a secret appeared on {name}"
            );
        }
    }
}

fn tokens_seen(log: &[LoggedRequest]) -> Vec<String> {
    log.iter()
        .filter_map(|r| r.header("x-auth-token").map(str::to_owned))
        .collect()
}

fn is_iam(request: &LoggedRequest) -> bool {
    request.path() == IAM_TOKENS_PATH
}

/// The default scenario, plus a key pair and an IAM user with this test's secrets.
fn sim() -> SimHandle {
    let mut scenario = Scenario::default();
    let mut temporary = AccessKeySpec::new("cli-temp-ak", SK);
    temporary.security_token = Some(SESSION.into());
    scenario.access_keys.push(AccessKeySpec::new("cli-ak", SK));
    scenario.access_keys.push(temporary);
    let domain = &mut scenario.iam.domains[0];
    domain.users.push(koophone_sim::IamUser {
        name: "cli-user".into(),
        password: PASSWORD.into(),
    });
    Sim::builder()
        .scenario(scenario)
        .start()
        .expect("simulator")
}

/// The status call against `sim`, printed as `output`.
fn status(sim: &SimHandle, output: &str) -> Line {
    sim_status(sim.base_url(), output)
}

/// An AK/SK pair in the official SDKs' variables.
fn aksk<'a>(ak: &'a str, sk: &'a str) -> [(&'static str, &'a str); 2] {
    [("HUAWEICLOUD_SDK_AK", ak), ("HUAWEICLOUD_SDK_SK", sk)]
}

/// An IAM password in `KOOPHONE_IAM_PASSWORD`.
fn password(password: &str) -> [(&'static str, &str); 1] {
    [("KOOPHONE_IAM_PASSWORD", password)]
}

// ---------------------------------------------------------------- AK/SK

#[test]
fn aksk_alone_in_the_environment_signs_the_requests() {
    let sim = sim();
    let pair = aksk("cli-ak", SK);
    for output in ["human", "json"] {
        let run = status(&sim, output).run(&pair);
        run.assert_code(0);
        assert_no_secrets(&run, Some(&sim));
        if output == "json" {
            assert_eq!(run.json()["state"], "stopped");
        } else {
            assert_eq!(run.stdout.trim(), "stopped");
        }
    }
    let progress = Line::endpoint(sim.base_url())
        .progress(USER, PHONE)
        .run(&pair);
    progress.assert_code(0);
    let log = sim.request_log();
    assert_eq!(log.len(), 3);
    for request in &log {
        assert_eq!(request.header("x-auth-token"), None);
        let authorization = request.header("authorization").unwrap_or_default();
        assert!(authorization.starts_with("SDK-HMAC-SHA256 Access=cli-ak,"));
    }
}

#[test]
fn temporary_aksk_with_session_token_and_project_id() {
    let sim = sim();
    let mut vars = aksk("cli-temp-ak", SK).to_vec();
    vars.extend([
        ("HUAWEICLOUD_SDK_SECURITY_TOKEN", SESSION),
        ("HUAWEICLOUD_SDK_PROJECT_ID", "sim-project"),
    ]);
    let run = status(&sim, "json").run(&vars);
    run.assert_code(0);
    assert_no_secrets(&run, Some(&sim));
    let log = sim.request_log();
    assert_eq!(log[0].header("x-security-token"), Some(SESSION));
    assert_eq!(log[0].header("x-project-id"), Some("sim-project"));
}

#[test]
fn a_wrong_secret_key_exits_4_after_one_request() {
    let sim = sim();
    let run = status(&sim, "json").run(&aksk("cli-ak", "sk-S3CRET-wrong"));
    run.assert_code(4);
    let doc = run.json();
    assert_eq!(doc["error"]["kind"], "unauthorized");
    assert_eq!(doc["error"]["http_status"], 401);
    assert_eq!(doc["error"]["error_code"], "APIGW.0301");
    assert!(!run.stdout.contains("sk-S3CRET-wrong"));
    assert_eq!(sim.request_log().len(), 1, "a 401 is not retried");
}

#[test]
fn half_an_aksk_pair_exits_2_and_sends_nothing() {
    let sim = sim();
    let run = status(&sim, "json").run(&[("HUAWEICLOUD_SDK_SK", SK)]);
    run.assert_code(2);
    assert_eq!(run.json()["error"]["kind"], "invalid_input");
    assert_no_secrets(&run, None);
    assert!(sim.request_log().is_empty());
}

// ---------------------------------------------------------------- IAM

/// Log in as IAM user `user` of the simulator's domain and project.
fn iam_user(user: &str) -> Line {
    Line::new()
        .flag("--iam-user", user)
        .flag("--iam-domain", "sim-domain")
        .flag("--iam-project", "sim-project")
}

/// [`iam_user`] with `sim` as the IAM endpoint.
fn iam_login(sim: &SimHandle, user: &str) -> Line {
    iam_user(user).flag("--iam-endpoint", sim.base_url())
}

#[test]
fn an_iam_user_and_password_get_a_token_first() {
    let sim = sim();
    let run = iam_login(&sim, "cli-user")
        .then(status(&sim, "human"))
        .run(&password(PASSWORD));
    run.assert_code(0);
    assert_eq!(run.stdout.trim(), "stopped");
    assert_no_secrets(&run, Some(&sim));
    let log = sim.request_log();
    assert_eq!(log.len(), 2);
    assert!(is_iam(&log[0]));
    assert!(log[1].header("x-auth-token").is_some());

    // The IAM endpoint from HUAWEICLOUD_SDK_IAM_ENDPOINT instead of the flag.
    let run = iam_user("cli-user").then(status(&sim, "json")).run(&[
        ("KOOPHONE_IAM_PASSWORD", PASSWORD),
        ("HUAWEICLOUD_SDK_IAM_ENDPOINT", sim.base_url()),
    ]);
    run.assert_code(0);
    assert_eq!(sim.request_log().len(), 4);
}

#[test]
fn a_wrong_iam_password_exits_4_after_one_iam_request() {
    let sim = sim();
    for output in ["human", "json"] {
        sim.clear_request_log();
        let run = iam_login(&sim, "cli-user")
            .then(status(&sim, output))
            .run(&password("pw-S3CRET-wrong"));
        run.assert_code(4);
        assert!(!run.stdout.contains("pw-S3CRET-wrong") && !run.stderr.contains("pw-S3CRET-wrong"));
        if output == "json" {
            let doc = run.json();
            assert_eq!(doc["error"]["kind"], "unauthorized");
            assert_eq!(doc["error"]["http_status"], 401);
        } else {
            assert!(
                run.stderr.starts_with(
                    "koophone: iam issued no token (check the user, domain and password)"
                ),
                "{:?}",
                run.stderr
            );
        }
        let log = sim.request_log();
        assert_eq!(log.len(), 1);
        assert!(is_iam(&log[0]));
    }
}

#[test]
fn incomplete_iam_logins_exit_2() {
    let sim = sim();
    // Each login is missing a part; the message names it.
    let no_domain = Line::new().flag("--iam-user", "cli-user");
    let no_password = iam_login(&sim, "cli-user");
    for (login, vars, missing) in [
        (no_domain, &password(PASSWORD)[..], "--iam-domain"),
        (no_password, &[], "KOOPHONE_IAM_PASSWORD"),
    ] {
        let run = login.then(status(&sim, "json")).run(vars);
        run.assert_code(2);
        let message = run.error_msg();
        assert!(message.contains(missing), "{message}");
    }

    // A remote IAM endpoint must be https, like the service endpoint.
    let run = iam_user("cli-user")
        .flag("--iam-endpoint", "http://iam.example.com")
        .then(status(&sim, "json"))
        .run(&password(PASSWORD));
    run.assert_code(2);
    assert_no_secrets(&run, None);
    assert!(sim.request_log().is_empty());
}

#[test]
fn the_first_credentials_given_win() {
    let sim = Sim::builder()
        .scenario(Scenario {
            access_keys: vec![AccessKeySpec::new("cli-ak", SK)],
            ..Scenario::default()
        })
        .token("tok-S3CRET-cli")
        .start()
        .unwrap();
    let pair = aksk("cli-ak", SK);
    let everything = [
        ("KOOPHONE_TOKEN", "tok-S3CRET-cli"),
        pair[0],
        pair[1],
        ("KOOPHONE_IAM_PASSWORD", "sim-password"),
    ];
    let all = iam_login(&sim, "sim-user").then(status(&sim, "json"));
    // The token first.
    all.run(&everything).assert_code(0);
    // Then AK/SK.
    all.run(&everything[1..]).assert_code(0);
    // An empty KOOPHONE_TOKEN is unset, like every other variable: AK/SK again.
    all.run(&[("KOOPHONE_TOKEN", ""), pair[0], pair[1]])
        .assert_code(0);
    // Then the IAM user.
    all.run(&everything[3..]).assert_code(0);
    let log = sim.request_log();
    let kinds: Vec<&str> = log
        .iter()
        .map(|r| {
            if is_iam(r) {
                "iam"
            } else if r.header("authorization").is_some() {
                "aksk"
            } else if r.header("x-auth-token") == Some("tok-S3CRET-cli") {
                "token"
            } else {
                "iam-token"
            }
        })
        .collect();
    assert_eq!(kinds, ["token", "aksk", "aksk", "iam", "iam-token"]);
}

// ---------------------------------------------------------------- token

#[test]
fn token_prints_a_token_the_service_accepts_in_both_modes() {
    let sim = sim();
    let login = iam_login(&sim, "cli-user");
    let human = login.clone().arg("token").run(&password(PASSWORD));
    human.assert_code(0);
    let token = human.stdout.trim_end().to_owned();
    assert_eq!(
        human.stdout,
        format!("{token}\n"),
        "the token alone on stdout"
    );
    assert!(human.stderr.is_empty(), "{:?}", human.stderr);

    let json = login.json().arg("token").run(&password(PASSWORD));
    json.assert_code(0);
    let doc = json.json();
    let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["expires_at", "token"]);
    let expires_at = doc["expires_at"].as_str().unwrap();
    assert!(
        expires_at.len() == 20 && expires_at.ends_with('Z') && expires_at.as_bytes()[10] == b'T',
        "{expires_at}"
    );
    for run in [&human, &json] {
        assert!(!run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD));
    }

    // The printed token works as --token; nothing else prints it.
    let used = Line::new()
        .token(&token)
        .then(status(&sim, "json"))
        .run(&[]);
    used.assert_code(0);
    assert!(!used.stdout.contains(&token) && !used.stderr.contains(&token));
    let log = sim.request_log();
    assert_eq!(log.iter().filter(|r| is_iam(r)).count(), 2);
    assert_eq!(
        log.last().unwrap().header("x-auth-token"),
        Some(token.as_str())
    );
}

#[test]
fn token_with_a_wrong_password_or_no_login() {
    let sim = sim();
    let wrong = iam_login(&sim, "cli-user")
        .json()
        .arg("token")
        .run(&password("pw-S3CRET-wrong"));
    wrong.assert_code(4);
    assert_eq!(wrong.json()["error"]["kind"], "unauthorized");
    assert!(!wrong.stdout.contains("pw-S3CRET-wrong"));
    assert_eq!(sim.request_log().len(), 1);

    let none = koophone_run(&["token"], &[]);
    none.assert_code(2);
    assert!(none.stderr.contains("--iam-user"), "{:?}", none.stderr);
}

// ---------------------------------------------------------------- --simulate

#[test]
fn simulate_works_with_each_kind_of_credentials() {
    // The simulator's default key pair, and any other pair given.
    for (ak, sk) in [("sim-ak", "sim-sk"), ("my-ak", SK)] {
        let run = Line::simulate()
            .json()
            .status("sim-project", "sim-instance")
            .run(&aksk(ak, sk));
        run.assert_code(0);
        assert_no_secrets(&run, None);
    }

    // The simulator's default IAM user, and any user given.
    for (user, secret) in [("sim-user", "sim-password"), ("cli-user", PASSWORD)] {
        let run = Line::simulate()
            .then(iam_user(user))
            .wait(USER, &["iBACKUP1"])
            .flag("--min-interval", "200")
            .run(&password(secret));
        run.assert_code(0);
        assert!(run.stdout.starts_with("ready: normal"), "{:?}", run.stdout);
        assert_no_secrets(&run, None);
    }

    // `token` logs in as the simulator's default user without flags.
    let human = koophone_run(&["--simulate", "token"], &[]);
    human.assert_code(0);
    assert!(human.stdout.starts_with("MII"), "an IAM-like token");
    let json = koophone_run(&["--simulate", "--output", "json", "token"], &[]);
    json.assert_code(0);
    assert!(
        json.json()["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("MII"))
    );
}
// ---------------------------------------------------------------- help

#[test]
fn help_names_every_credential_and_shows_no_secret() {
    let secrets = [
        ("KOOPHONE_TOKEN", "tok-S3CRET-help"),
        ("HUAWEICLOUD_SDK_SK", SK),
        ("HUAWEICLOUD_SDK_SECURITY_TOKEN", SESSION),
        ("KOOPHONE_IAM_PASSWORD", PASSWORD),
        // Refused as endpoints, but a URL's user-info must not be echoed either.
        (
            "KOOPHONE_ENDPOINT",
            "https://user:url-S3CRET@koophone.example.com",
        ),
        (
            "HUAWEICLOUD_SDK_IAM_ENDPOINT",
            "https://user:iam-S3CRET@iam.example.com",
        ),
    ];
    for command in [&["--help"][..], &["token", "--help"], &["status", "--help"]] {
        let run = koophone_run(command, &secrets);
        run.assert_code(0);
        for (_, secret) in secrets {
            assert!(!run.stdout.contains(secret), "{command:?} shows a secret");
        }
        for name in [
            "--iam-user",
            "--iam-domain",
            "--iam-project",
            "--iam-endpoint",
            "KOOPHONE_IAM_PASSWORD",
        ] {
            assert!(run.stdout.contains(name), "{command:?} lacks {name}");
        }
    }
    let main = koophone_run(&["--help"], &[]);
    for name in [
        "HUAWEICLOUD_SDK_AK",
        "HUAWEICLOUD_SDK_SK",
        "HUAWEICLOUD_SDK_SECURITY_TOKEN",
    ] {
        assert!(main.stdout.contains(name), "--help lacks {name}");
    }
    let token = koophone_run(&["token", "--help"], &[]);
    assert!(token.stdout.contains("Example"), "{}", token.stdout);
}
