//! Temporary credentials from the metadata service, against the simulator on
//! 127.0.0.1:0: a wait that outlives several credential sets, single-flight
//! fetches, session-token renewal, and the default credential chain
//! (environment, profile file, metadata) with its not-found error.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use koophone_check::signed::assert_rotated_unrefused;
use koophone_sim::{LoggedRequest, MetadataSpec, SECURITY_KEY_PATH, Scenario, Sim, SimHandle};
use koophone_ureq::{
    ChainError, Client, CredentialChain, CredentialOrigin, Credentials, ENV_METADATA_ENDPOINT,
    Endpoint, MetadataCredentials, PrepareStatus, ShowProgress, WaitPolicy,
};

const SK: &str = "sk-S3CRET-profile-ureq";

fn sim(metadata: MetadataSpec) -> SimHandle {
    Sim::builder()
        .scenario(Scenario {
            metadata,
            ..Scenario::default()
        })
        .start()
        .unwrap()
}

fn metadata_of(sim: &SimHandle) -> MetadataCredentials {
    MetadataCredentials::with_endpoint(Endpoint::parse(sim.base_url()).unwrap())
}

fn count(log: &[LoggedRequest], method: &str, path: &str) -> usize {
    log.iter()
        .filter(|r| r.method == method && r.path() == path)
        .count()
}

#[test]
fn a_wait_outlives_several_temporary_credentials() {
    // Sets live 1.2 s and rotate at 0.6 s; the instance is ready after 5 s.
    let sim = sim(MetadataSpec {
        credential_lifetime_ms: 1200,
        ..MetadataSpec::default()
    });
    let client = Client::builder()
        .endpoint_url(sim.base_url())
        .credentials(metadata_of(&sim).into())
        .proxy_from_env(false)
        .build()
        .unwrap();
    let policy = WaitPolicy {
        min_interval: Duration::from_millis(150),
        max_interval: Duration::from_millis(300),
        ..WaitPolicy::default()
    };
    let op = ShowProgress::new("1008600000104285462", "iRJEVP9").unwrap();
    let ready = client.wait_until_ready(op, policy, |_| {}).unwrap();
    assert_eq!(ready.output.status, PrepareStatus::Normal);
    let log = sim.request_log();
    assert_rotated_unrefused(&log);
}

#[test]
fn threads_share_one_fetch() {
    let sim = sim(MetadataSpec::default());
    let metadata = metadata_of(&sim);
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (metadata, start) = (metadata.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                metadata.current().unwrap().access_key().to_owned()
            })
        })
        .collect();
    let keys: BTreeSet<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(keys.len(), 1);
    assert_eq!(count(&sim.request_log(), "GET", SECURITY_KEY_PATH), 1);
}

#[test]
fn an_expired_session_token_is_renewed_once() {
    // Credentials due for refresh after 0.5 s; session tokens die after 0.3 s.
    let sim = sim(MetadataSpec {
        credential_lifetime_ms: 1000,
        session_token_lifetime_ms: Some(300),
        ..MetadataSpec::default()
    });
    let metadata = metadata_of(&sim);
    let first = metadata.current().unwrap().access_key().to_owned();
    std::thread::sleep(Duration::from_millis(600));
    let second = metadata.current().unwrap().access_key().to_owned();
    assert_ne!(first, second);
    let log = sim.request_log();
    let calls: Vec<(String, u16)> = log
        .iter()
        .map(|r| (format!("{} {}", r.method, r.path()), r.status.as_u16()))
        .collect();
    let put = "PUT /meta-data/latest/api/token".to_owned();
    let get = format!("GET {SECURITY_KEY_PATH}");
    assert_eq!(
        calls,
        [
            (put.clone(), 200),
            (get.clone(), 200),
            (get.clone(), 401),
            (put, 200),
            (get, 200)
        ]
    );
}

#[test]
fn no_agency_is_an_error_that_says_so() {
    let sim = sim(MetadataSpec {
        agency: false,
        ..MetadataSpec::default()
    });
    let err = metadata_of(&sim).current().unwrap_err();
    assert!(err.to_string().contains("agency"), "{err}");
    assert_eq!(err.kind(), "credentials");
}

fn temp_profile(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("koophone-ureq-{}-{name}", std::process::id()));
    std::fs::create_dir_all(dir.join(".huaweicloud")).unwrap();
    let path = dir.join(".huaweicloud/credentials");
    std::fs::write(&path, text).unwrap();
    dir
}

fn chain_with(vars: &[(&str, String)], f: impl FnOnce(&CredentialChain<'_>)) {
    let table: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let env = move |name: &str| table.get(name).cloned();
    f(&CredentialChain::with_env(&env));
}

#[test]
fn the_chain_takes_the_first_source_that_has_credentials() {
    let sim = sim(MetadataSpec::default());
    let home = temp_profile("order", &format!("[basic]\nak = PROFILE-AK\nsk = {SK}\n"));
    let home_var = ("HOME", home.display().to_string());
    let meta_var = (ENV_METADATA_ENDPOINT, sim.base_url().to_owned());

    chain_with(
        &[
            ("HUAWEICLOUD_SDK_AK", "ENV-AK".into()),
            ("HUAWEICLOUD_SDK_SK", SK.into()),
            home_var.clone(),
        ],
        |chain| {
            assert_eq!(
                chain.resolve().unwrap().origin,
                CredentialOrigin::Environment
            )
        },
    );
    chain_with(&[home_var.clone(), meta_var.clone()], |chain| {
        let found = chain.resolve().unwrap();
        assert_eq!(
            found.origin,
            CredentialOrigin::ProfileFile(home.join(".huaweicloud/credentials"))
        );
        let Credentials::AkSk(credentials) = &found.credentials else {
            panic!("not AK/SK")
        };
        assert_eq!(credentials.access_key(), "PROFILE-AK");
        assert!(!format!("{found:?}").contains(SK));
    });
    chain_with(&[meta_var], |chain| {
        let found = chain.resolve().unwrap();
        assert_eq!(
            found.origin,
            CredentialOrigin::Metadata(sim.base_url().to_owned())
        );
        assert!(matches!(found.credentials, Credentials::Metadata(_)));
    });
    // The profile file named by the variable wins over the home directory's.
    let other = temp_profile("named", "[basic]\nak = NAMED-AK\nsk = x\n");
    let named = other.join(".huaweicloud/credentials");
    chain_with(
        &[
            home_var,
            (
                "HUAWEICLOUD_SDK_CREDENTIALS_FILE",
                named.display().to_string(),
            ),
        ],
        |chain| {
            assert_eq!(
                chain.resolve().unwrap().origin,
                CredentialOrigin::ProfileFile(named.clone())
            )
        },
    );
}

#[test]
fn nothing_found_names_every_place_and_bad_sources_are_errors() {
    let home = std::env::temp_dir().join(format!("koophone-ureq-{}-empty", std::process::id()));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let vars = [
        ("HOME", home.display().to_string()),
        (ENV_METADATA_ENDPOINT, nowhere.clone()),
    ];
    chain_with(&vars, |chain| {
        let err = chain.resolve().unwrap_err();
        let ChainError::NotFound(looked) = &err else {
            panic!("{err}")
        };
        assert_eq!(looked.len(), 3, "{err}");
        let text = err.to_string();
        for place in [
            "HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK",
            ".huaweicloud/credentials",
            &nowhere,
        ] {
            assert!(text.contains(place), "{text}");
        }
    });

    let broken = temp_profile("broken", &format!("[basic]\nak = AK\n{SK}\n"));
    chain_with(&[("HOME", broken.display().to_string())], |chain| {
        let err = chain.resolve().unwrap_err();
        assert!(matches!(err, ChainError::Invalid { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("line 3") && !text.contains(SK), "{text}");
    });
    chain_with(
        &[(
            "HUAWEICLOUD_SDK_CREDENTIALS_FILE",
            "/nonexistent/koophone/credentials".into(),
        )],
        |chain| {
            let err = chain.resolve().unwrap_err().to_string();
            assert!(err.contains("HUAWEICLOUD_SDK_CREDENTIALS_FILE"), "{err}");
        },
    );
    chain_with(&[("HUAWEICLOUD_SDK_SK", SK.into())], |chain| {
        let err = chain.resolve().unwrap_err().to_string();
        assert!(err.contains("needs both") && !err.contains(SK), "{err}");
    });
}

#[test]
fn a_metadata_service_that_never_answers_does_not_outlive_the_wait() {
    // Accepts connections and never answers; holds them for at most 10 s.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    std::thread::spawn(move || {
        let until = std::time::Instant::now() + Duration::from_secs(10);
        let mut held = Vec::new();
        silent.set_nonblocking(true).unwrap();
        while std::time::Instant::now() < until {
            match silent.accept() {
                Ok((stream, _)) => held.push(stream),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    // Each metadata call may take 3 s; the wait has 400 ms.
    let metadata = MetadataCredentials::with_endpoint(Endpoint::parse(&url).unwrap());
    let client = Client::builder()
        .endpoint_url("http://127.0.0.1:9")
        .credentials(metadata.into())
        .proxy_from_env(false)
        .build()
        .unwrap();
    let policy = WaitPolicy {
        max_wait: Duration::from_millis(400),
        ..WaitPolicy::default()
    };
    let op = ShowProgress::new("1008600000104285462", "iRJEVP9").unwrap();
    let started = std::time::Instant::now();
    let err = client.wait_until_ready(op, policy, |_| {}).unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(2500), "{took:?}: {err}");
    assert!(err.to_string().contains("metadata"), "{err}");
}
