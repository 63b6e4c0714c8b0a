//! The credential chain after the explicit sources, as a black box against
//! the simulator on 127.0.0.1:0 (DESIGN.md, CREDENTIALS): the profile file
//! from the home directory and from `HUAWEICLOUD_SDK_CREDENTIALS_FILE`, the
//! metadata service (through `KOOPHONE_METADATA_ENDPOINT`) including a wait
//! that outlives two temporary credential sets, and the one error naming
//! every place looked at when nothing is found. Every run is checked for the
//! secrets it could have leaked.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod common;

use common::Line;
use koophone_check::signed::{access_keys_signed, assert_rotated_unrefused};
use koophone_sim::{AccessKeySpec, MetadataSpec, Scenario, Sim, SimHandle};
use serde_json::Value;

const USER: &str = "1008600000104285462";
const PHONE: &str = "iRJEVP9";
const SK: &str = "sk-S3CRET-chain-0123456789";
const PROFILE_TOKEN: &str = "session-S3CRET-chain";

fn sim_with(metadata: MetadataSpec) -> SimHandle {
    let mut scenario = Scenario {
        metadata,
        ..Scenario::default()
    };
    let mut temporary = AccessKeySpec::new("PROFILE-TEMP-AK", SK);
    temporary.security_token = Some(PROFILE_TOKEN.into());
    scenario
        .access_keys
        .push(AccessKeySpec::new("PROFILE-AK", SK));
    scenario.access_keys.push(temporary);
    Sim::builder()
        .scenario(scenario)
        .start()
        .expect("simulator")
}

/// A fresh directory for this test's files.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("koophone-chain-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A home directory whose `~/.huaweicloud/credentials` is `text`.
fn home_with_profile(name: &str, text: &str) -> PathBuf {
    let home = temp_dir(name);
    std::fs::create_dir_all(home.join(".huaweicloud")).unwrap();
    std::fs::write(home.join(".huaweicloud/credentials"), text).unwrap();
    home
}

/// Against `sim`, printed as `output`; the command follows.
fn on(sim: &SimHandle, output: &str) -> Line {
    Line::endpoint(sim.base_url()).output(output)
}

/// `progress` of the simulator's phone, with no credentials on the command line.
fn progress(sim: &SimHandle, output: &str) -> Line {
    on(sim, output).progress(USER, PHONE)
}

/// A port on 127.0.0.1 with nothing listening: connections are refused.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// One raw HTTP/1.1 exchange: status and body.
fn http(base_url: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let addr = base_url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The metadata service's current credentials: (secret, security token).
fn current_temporary_secrets(sim: &SimHandle) -> (String, String) {
    let (_, session) = http(
        sim.base_url(),
        "PUT",
        "/meta-data/latest/api/token",
        &[("X-Metadata-Token-Ttl-Seconds", "60")],
    );
    let (status, body) = http(
        sim.base_url(),
        "GET",
        "/openstack/latest/securitykey",
        &[("X-Metadata-Token", session.trim())],
    );
    assert_eq!(status, 200, "{body}");
    let doc: Value = serde_json::from_str(&body).unwrap();
    let field = |name: &str| doc["credential"][name].as_str().unwrap().to_owned();
    (field("secret"), field("securitytoken"))
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

// ------------------------------------------------------------ profile file

#[test]
fn the_profile_in_the_home_directory_signs_with_no_flag() {
    let sim = sim_with(MetadataSpec::default());
    let home = home_with_profile("home", &format!("[basic]\nak = PROFILE-AK\nsk = {SK}\n"));
    for output in ["human", "json"] {
        let run = progress(&sim, output)
            .run(&[("HOME", &path_text(&home)), ("KOOPHONE_NO_METADATA", "1")]);
        run.assert_code(0).assert_hides(&[SK]);
    }
    assert_eq!(
        access_keys_signed(&sim.request_log()),
        BTreeSet::from(["PROFILE-AK".to_owned()])
    );
    // A refused signature (wrong key in the file) is reported without the key.
    let wrong = home_with_profile("wrong", "[basic]\nak = PROFILE-AK\nsk = sk-S3CRET-wrong\n");
    let run = progress(&sim, "json").run(&[("HOME", &path_text(&wrong))]);
    run.assert_code(4).assert_hides(&["sk-S3CRET-wrong"]);
    assert_eq!(run.json()["error"]["kind"], "unauthorized");
}

#[test]
fn the_file_the_variable_names_wins_and_carries_the_security_token() {
    let sim = sim_with(MetadataSpec::default());
    let home = home_with_profile("ignored", "[basic]\nak = PROFILE-AK\nsk = not-this-one\n");
    let dir = temp_dir("named");
    let file = dir.join("my-credentials.ini");
    std::fs::write(
        &file,
        format!("; written by hand\n[basic]\nak: PROFILE-TEMP-AK\nsk: {SK}\nsecurity_token: {PROFILE_TOKEN}\nproject_id: sim-project\n"),
    )
    .unwrap();
    let run = progress(&sim, "json").run(&[
        ("HOME", &path_text(&home)),
        ("HUAWEICLOUD_SDK_CREDENTIALS_FILE", &path_text(&file)),
    ]);
    run.assert_code(0).assert_hides(&[SK, PROFILE_TOKEN]);
    let log = sim.request_log();
    let last = log.last().unwrap();
    assert_eq!(last.header("x-security-token"), Some(PROFILE_TOKEN));
    assert_eq!(last.header("x-project-id"), Some("sim-project"));
}

#[test]
fn a_broken_profile_is_invalid_input_naming_the_line() {
    let sim = sim_with(MetadataSpec::default());
    let home = home_with_profile("broken", &format!("[basic]\nak = PROFILE-AK\n{SK}\n"));
    let run = progress(&sim, "json").run(&[("HOME", &path_text(&home))]);
    run.assert_code(2).assert_hides(&[SK]);
    let message = run.error_msg();
    assert!(message.contains("line 3"), "{message}");
    assert!(message.contains(".huaweicloud/credentials"), "{message}");
    assert!(sim.request_log().is_empty(), "nothing was sent");
}

// ------------------------------------------------------------ metadata

#[test]
fn metadata_credentials_sign_a_wait_that_outlives_two_of_them() {
    // Each set lives 1.2 s and is replaced after 0.6 s; iRJEVP9 is ready at 5 s.
    let sim = sim_with(MetadataSpec {
        credential_lifetime_ms: 1200,
        ..MetadataSpec::default()
    });
    let wait = on(&sim, "json").wait(USER, &[PHONE]).intervals(150, 300);
    let run = wait.run(&[("KOOPHONE_METADATA_ENDPOINT", sim.base_url())]);
    run.assert_code(0);
    assert_eq!(run.json()["status"], "normal");
    let log = sim.request_log();
    assert_rotated_unrefused(&log);
    assert!(
        log.iter()
            .any(|r| r.path() == "/meta-data/latest/api/token"),
        "a session token was asked for"
    );
}

#[test]
fn metadata_secrets_never_reach_the_output() {
    let sim = sim_with(MetadataSpec::default());
    let vars = [("KOOPHONE_METADATA_ENDPOINT", sim.base_url())];
    for output in ["human", "json"] {
        progress(&sim, output).run(&vars).assert_code(0);
    }
    // An error answer too: an instance that does not exist.
    let failed = on(&sim, "json").progress(USER, "iNOSUCH1").run(&vars);
    failed.assert_code(4);
    // The same set is still current (24 h lifetime): these are what the runs held.
    let (secret, token) = current_temporary_secrets(&sim);
    for output in ["human", "json"] {
        progress(&sim, output)
            .run(&vars)
            .assert_code(0)
            .assert_hides(&[&secret, &token]);
    }
    failed.assert_hides(&[&secret, &token]);
}

#[test]
fn metadata_without_an_agency_or_turned_off_is_not_a_source() {
    let sim = sim_with(MetadataSpec {
        agency: false,
        ..MetadataSpec::default()
    });
    let vars = [("KOOPHONE_METADATA_ENDPOINT", sim.base_url())];
    let run = progress(&sim, "json").run(&vars);
    run.assert_code(2);
    let message = run.error_msg();
    assert!(message.contains("agency"), "{message}");

    let served = sim_with(MetadataSpec::default());
    let off = [("KOOPHONE_METADATA_ENDPOINT", served.base_url())];
    let flagged = Line::new()
        .arg("--no-metadata")
        .args(progress(&served, "json").words());
    for (line, vars) in [
        (flagged, off.to_vec()),
        (
            progress(&served, "json"),
            [off[0], ("KOOPHONE_NO_METADATA", "1")].to_vec(),
        ),
    ] {
        let run = line.run(&vars);
        run.assert_code(2);
        let message = run.error_msg();
        assert!(message.contains("skipped"), "{message}");
    }
    assert!(
        served.request_log().is_empty(),
        "the metadata service was not asked"
    );
    // KOOPHONE_NO_METADATA=0 does not skip it.
    progress(&served, "json")
        .run(&[off[0], ("KOOPHONE_NO_METADATA", "0")])
        .assert_code(0);
}

// ------------------------------------------------------------ nothing found

#[test]
fn nothing_found_is_one_error_naming_every_place_and_the_fix() {
    let sim = sim_with(MetadataSpec::default());
    let home = temp_dir("empty-home");
    let nowhere = closed_port_url();
    let vars = [
        ("HOME", path_text(&home)),
        ("KOOPHONE_METADATA_ENDPOINT", nowhere.clone()),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for output in ["human", "json"] {
        let run = progress(&sim, output).run(&vars);
        run.assert_code(2);
        assert!(
            run.elapsed < Duration::from_secs(3),
            "took {:?}",
            run.elapsed
        );
        let text = if output == "json" {
            assert_eq!(run.json()["error"]["kind"], "invalid_input");
            run.error_msg()
        } else {
            run.stderr.clone()
        };
        for place in [
            "KOOPHONE_TOKEN",
            "HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK",
            "--iam-user",
            &format!(
                "{}/.huaweicloud/credentials: does not exist",
                home.display()
            ),
            &format!("metadata at {nowhere}"),
            "To fix",
            "agency",
        ] {
            assert!(text.contains(place), "{place:?} missing from {text}");
        }
        assert_eq!(text.lines().count(), 1, "{text}");
    }
    assert!(sim.request_log().is_empty(), "nothing was sent");
}
