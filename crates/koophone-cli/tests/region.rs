//! Black-box tests of `--region` / `KOOPHONE_REGION` (DESIGN.md, REGIONS)
//! against the simulator on 127.0.0.1:0: the official SDKs' variable
//! `HUAWEICLOUD_SDK_REGION_{SERVICE}_{ID}` wins over the built-in table and
//! may hold a list, `--endpoint` wins over the region, an unknown region is
//! exit 2 naming the variable to set, and IAM logins go to the region's IAM.

mod common;

use common::{SIM_IAM_USER, koophone_run as koophone};
use koophone_sim::{IAM_TOKENS_PATH, Sim, SimHandle};

const USER: &str = "1008600000104285462";
const PHONE: &str = "iRJEVP9";
/// A port nothing listens on: a request sent there fails, so a run that
/// succeeds did not use this URL.
const DEAD: &str = "http://127.0.0.1:1";

fn sim() -> SimHandle {
    Sim::builder().start().expect("simulator")
}

const STATUS: [&str; 5] = [
    "status",
    "--project-id",
    "sim-project",
    "--instance-id",
    "sim-instance",
];
const PROGRESS: [&str; 5] = ["progress", "--user-id", USER, "--instance-id", PHONE];

fn with<'a>(head: &[&'a str], tail: &[&'a str]) -> Vec<&'a str> {
    head.iter().chain(tail).copied().collect()
}

#[test]
fn the_variable_wins_over_the_table() {
    // cn-east-3 is in CloudDC's table; the variable sends the call to the simulator instead.
    let sim = sim();
    let run = koophone(
        &with(&["--region", "cn-east-3", "--output", "json"], &STATUS),
        &[
            ("HUAWEICLOUD_SDK_REGION_CLOUDDC_CN_EAST_3", sim.base_url()),
            ("KOOPHONE_TOKEN", "sim-token"),
        ],
    );
    run.assert_code(0);
    assert_eq!(run.json()["state"], "stopped");
    assert_eq!(sim.request_log().len(), 1);
}

#[test]
fn the_region_comes_from_koophone_region_and_the_first_of_a_list() {
    let sim = sim();
    let list = format!(" {} , {DEAD}", sim.base_url());
    let run = koophone(
        &with(&["--output", "json"], &PROGRESS),
        &[
            ("KOOPHONE_REGION", "ap-southeast-3"),
            ("HUAWEICLOUD_SDK_REGION_KOOPHONE_AP_SOUTHEAST_3", &list),
            ("KOOPHONE_TOKEN", "sim-token"),
        ],
    );
    run.assert_code(0);
    assert!(run.json()["status"].is_string());
    assert_eq!(
        sim.request_log()[0].path(),
        "/v1/instances/prepare-progress"
    );
}

#[test]
fn an_unknown_region_exits_2_naming_the_variable_to_set() {
    for (command, variable) in [
        (&STATUS, "HUAWEICLOUD_SDK_REGION_CLOUDDC_XX_NOWHERE_1"),
        (&PROGRESS, "HUAWEICLOUD_SDK_REGION_KOOPHONE_XX_NOWHERE_1"),
    ] {
        let args = with(&["--region", "xx-nowhere-1", "--output", "json"], command);
        let run = koophone(&args, &[("KOOPHONE_TOKEN", "sim-token")]);
        run.assert_code(2);
        let error = &run.json()["error"];
        assert_eq!(error["kind"], "invalid_input");
        let message = error["error_msg"].as_str().unwrap_or_default();
        assert!(message.contains(variable), "{message}");
        let human = koophone(
            &with(&["--region", "xx-nowhere-1"], command),
            &[("KOOPHONE_TOKEN", "sim-token")],
        );
        human.assert_code(2);
        assert!(human.stderr.contains(variable), "{}", human.stderr);
    }
    // KooPhone has no built-in table: a region its variable does not name is unknown.
    let run = koophone(
        &with(&["--region", "cn-east-3"], &PROGRESS),
        &[("KOOPHONE_TOKEN", "sim-token")],
    );
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("HUAWEICLOUD_SDK_REGION_KOOPHONE_CN_EAST_3"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_endpoint_flag_wins_over_the_region() {
    let sim = sim();
    let run = koophone(
        &with(
            &["--endpoint", sim.base_url(), "--region", "cn-east-3"],
            &STATUS,
        ),
        &[
            ("HUAWEICLOUD_SDK_REGION_CLOUDDC_CN_EAST_3", DEAD),
            ("KOOPHONE_TOKEN", "sim-token"),
        ],
    );
    run.assert_code(0);
    assert_eq!(run.stdout.trim(), "stopped");
    // An unknown region does not matter either when the endpoint is given.
    let run = koophone(
        &with(&["--endpoint", sim.base_url()], &STATUS),
        &[
            ("KOOPHONE_REGION", "xx-nowhere-1"),
            ("KOOPHONE_TOKEN", "sim-token"),
        ],
    );
    run.assert_code(0);
}

#[test]
fn an_iam_login_goes_to_the_regions_iam_unless_an_iam_endpoint_is_given() {
    let sim = sim();
    let login = [&["--region", "cn-east-3"][..], &SIM_IAM_USER].concat();
    let region_vars = |iam: &str| {
        vec![
            (
                "HUAWEICLOUD_SDK_REGION_CLOUDDC_CN_EAST_3",
                sim.base_url().to_owned(),
            ),
            ("HUAWEICLOUD_SDK_REGION_IAM_CN_EAST_3", iam.to_owned()),
            ("KOOPHONE_IAM_PASSWORD", "sim-password".to_owned()),
        ]
    };
    let run_with = |args: &[&str], vars: Vec<(&'static str, String)>| {
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        koophone(args, &vars)
    };

    // The region's IAM (here its variable, naming the simulator) issues the token.
    let run = run_with(&with(&login, &STATUS), region_vars(sim.base_url()));
    run.assert_code(0);
    let log = sim.request_log();
    assert_eq!(log.len(), 2, "an IAM login, then the call");
    assert_eq!(log[0].path(), IAM_TOKENS_PATH);

    // `koophone token` too.
    let run = run_with(&with(&login, &["token"]), region_vars(sim.base_url()));
    run.assert_code(0);
    assert_eq!(sim.request_log().len(), 3);
    assert_eq!(sim.request_log()[2].path(), IAM_TOKENS_PATH);

    // --iam-endpoint, and HUAWEICLOUD_SDK_IAM_ENDPOINT, win over the region's IAM.
    let mut args = with(&login, &["--iam-endpoint", sim.base_url()]);
    args.extend(STATUS);
    run_with(&args, region_vars(DEAD)).assert_code(0);
    let mut vars = region_vars(DEAD);
    vars.push(("HUAWEICLOUD_SDK_IAM_ENDPOINT", sim.base_url().to_owned()));
    run_with(&with(&login, &STATUS), vars).assert_code(0);
    assert_eq!(sim.request_log().len(), 7);

    // Without them, a dead region IAM is where the login goes: it fails.
    let run = run_with(&with(&login, &STATUS), region_vars(DEAD));
    run.assert_code(5);
    assert_eq!(
        sim.request_log().len(),
        7,
        "the call is not sent without a token"
    );
}
