//! Scenario files: the shipped default equals the built-in one, and every
//! mistake is refused with the path of the bad field.

use koophone_sim::{Fault, FaultRoute, KooPhoneStatus, Scenario, ScenarioError};

const DEFAULT_JSON: &str = include_str!("../scenarios/default.json");

#[test]
fn shipped_default_json_equals_builtin_default() {
    let parsed = Scenario::from_json(DEFAULT_JSON).expect("default.json is valid");
    assert_eq!(parsed, Scenario::default());
}

#[test]
fn shipped_default_loads_from_file() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/default.json");
    assert_eq!(
        Scenario::from_file(path).expect("loads"),
        Scenario::default()
    );
    let err = Scenario::from_file("/nonexistent/koophone-sim.json").unwrap_err();
    assert!(matches!(err, ScenarioError::Read { .. }), "{err}");
    assert!(err.field().is_none());
}

#[test]
fn builtin_default_contains_both_documented_examples() {
    let s = Scenario::default();
    assert_eq!(s.tokens.len(), 1);
    assert_eq!(s.tokens[0].token, "sim-token");
    let user = &s.koophone.users[0];
    assert_eq!(user.user_id, "1008600000104285462");
    let inst = &user.instances[0];
    assert_eq!(inst.instance_id, "iRJEVP9");
    assert_eq!(
        inst.phases.last().map(|p| p.status),
        Some(KooPhoneStatus::Normal)
    );
    assert!(
        s.koophone
            .users
            .iter()
            .flat_map(|u| &u.instances)
            .any(|i| { i.phases.last().map(|p| p.status) == Some(KooPhoneStatus::Failed) }),
        "a failing instance"
    );
    let project = &s.clouddc.projects[0];
    assert_eq!(project.project_id, "sim-project");
    let stopped = &project.instances[0];
    assert_eq!(stopped.instance_id, "sim-instance");
    assert_eq!(stopped.phases.len(), 1);
    assert_eq!(stopped.phases[0].state, "stopped");
    assert!(project.instances.iter().any(|i| {
        let states: Vec<&str> = i.phases.iter().map(|p| p.state.as_str()).collect();
        states == ["pending", "running"]
    }));
}

#[test]
fn builtin_default_has_the_documented_credentials() {
    let s = Scenario::default();
    assert_eq!(s.access_keys.len(), 1);
    assert_eq!(
        (
            s.access_keys[0].access_key.as_str(),
            s.access_keys[0].secret_key.as_str()
        ),
        ("sim-ak", "sim-sk")
    );
    assert_eq!(s.access_keys[0].security_token, None);
    assert_eq!(s.iam.token_lifetime_ms, 24 * 3600 * 1000);
    let domain = &s.iam.domains[0];
    assert_eq!(domain.name, "sim-domain");
    assert_eq!(
        (
            domain.users[0].name.as_str(),
            domain.users[0].password.as_str()
        ),
        ("sim-user", "sim-password")
    );
    assert_eq!(
        (
            domain.projects[0].id.as_str(),
            domain.projects[0].name.as_str()
        ),
        ("sim-project", "sim-project")
    );
    assert_eq!(s.wall_clock_origin, None);
    // Secrets stay out of Debug.
    let debug = format!("{s:?}");
    assert!(
        !debug.contains("sim-sk") && !debug.contains("sim-password"),
        "{debug}"
    );
}

#[test]
fn credentials_and_wall_clock_parse() {
    let s = Scenario::from_json(
        r#"{"access_keys": [{"access_key": "temp", "secret_key": "clé", "security_token": "tok"}],
            "iam": {"token_lifetime_ms": 5000},
            "wall_clock_origin": "2026-03-15T11:00:00.5+01:00"}"#,
    )
    .expect("valid");
    assert_eq!(s.access_keys[0].security_token.as_deref(), Some("tok"));
    assert_eq!(s.access_keys[0].secret_key, "clé");
    // A lifetime alone keeps the default IAM user.
    assert_eq!(s.iam.token_lifetime_ms, 5000);
    assert_eq!(s.iam.domains, Scenario::default().iam.domains);
    let origin = s.wall_clock_origin.expect("an origin");
    let since_epoch = origin.duration_since(std::time::UNIX_EPOCH).unwrap();
    assert_eq!(since_epoch.as_millis(), 1_773_568_800_500);
    assert!(!format!("{:?}", s.access_keys).contains("tok\""));
    // A secret of the wrong type is not repeated in the error.
    for doc in [
        r#"{"access_keys": [{"access_key": "a", "secret_key": 98765}]}"#,
        r#"{"iam": {"domains": [{"name": "d", "users": [{"name": "u", "password": 98765}]}]}}"#,
    ] {
        let err = Scenario::from_json(doc).unwrap_err().to_string();
        assert!(
            !err.contains("98765") && err.contains("expected a string"),
            "{err}"
        );
    }
}

#[test]
fn minimal_document_gets_defaults() {
    let s = Scenario::from_json("{}").expect("empty object is a scenario");
    assert_eq!(s, Scenario::empty());
    assert_eq!(s.tokens[0].token, "sim-token");
    assert_eq!(s.max_body_bytes, 65536);
}

#[test]
fn tokens_as_strings_or_objects_and_debug_hides_them() {
    let s = Scenario::from_json(
        r#"{"tokens": ["plain-hidden", {"token": "expiring-hidden", "expires_at_ms": 5000}]}"#,
    )
    .expect("valid");
    assert_eq!(s.tokens[0].token, "plain-hidden");
    assert_eq!(s.tokens[0].expires_at_ms, None);
    assert_eq!(s.tokens[1].token, "expiring-hidden");
    assert_eq!(s.tokens[1].expires_at_ms, Some(5000));
    let debug = format!("{s:?}");
    assert!(!debug.contains("-hidden"), "{debug}");
}

#[test]
fn fault_rules_parse_with_defaults() {
    let s = Scenario::from_json(
        r#"{"faults": [
            {"fault": {"kind": "bad_gateway"}},
            {"route": "show_progress", "probability": 0.25, "burst": 3, "from_ms": 10,
             "until_ms": 20, "max_count": 4, "fault": {"kind": "slow", "delay_ms": 1500}},
            {"route": "show_instance_status", "fault": {"kind": "throttled", "retry_after_s": 7}}
        ]}"#,
    )
    .expect("valid");
    assert_eq!(s.faults[0].route, FaultRoute::Any);
    assert_eq!(s.faults[0].probability, 1.0);
    assert_eq!(s.faults[0].burst, 1);
    assert_eq!(s.faults[1].fault, Fault::Slow { delay_ms: 1500 });
    assert_eq!((s.faults[1].from_ms, s.faults[1].until_ms), (10, Some(20)));
    assert_eq!(
        s.faults[2].fault,
        Fault::Throttled {
            retry_after_s: Some(7)
        }
    );
}

/// (document, field the error must name, words the message must contain)
const BAD: &[(&str, &str, &str)] = &[
    ("[]", ".", "invalid type"),
    ("{", ".", "EOF"),
    (r#"{"tokenz": []}"#, "tokenz", "unknown field"),
    (r#"{"tokens": [""]}"#, "tokens[0]", "non-empty"),
    (r#"{"tokens": ["has space"]}"#, "tokens[0]", "visible ASCII"),
    (r#"{"tokens": [5]}"#, "tokens[0]", "token string"),
    (r#"{"max_body_bytes": 0}"#, "max_body_bytes", "at least 1"),
    (
        r#"{"max_body_bytes": -3}"#,
        "max_body_bytes",
        "invalid value",
    ),
    (
        r#"{"rate_limit": {"burst": 0, "refill_every_ms": 5}}"#,
        "rate_limit.burst",
        "at least 1",
    ),
    (
        r#"{"rate_limit": {"burst": 1, "refill_every_ms": 0}}"#,
        "rate_limit.refill_every_ms",
        "at least 1",
    ),
    (
        r#"{"rate_limit": {"burst": 1}}"#,
        "rate_limit",
        "missing field `refill_every_ms`",
    ),
    (
        r#"{"koophone": {"users": [{"user_id": "123456789012345678901234567890123", "instances": []}]}}"#,
        "koophone.users[0].user_id",
        "1 to 32 characters",
    ),
    (
        r#"{"koophone": {"users": [{"user_id": "u", "instances": [{"instance_id": "", "phases": [{"status": "normal"}]}]}]}}"#,
        "koophone.users[0].instances[0].instance_id",
        "1 to 32 characters",
    ),
    (
        r#"{"koophone": {"users": [{"user_id": "u"}, {"user_id": "u"}]}}"#,
        "koophone.users[1].user_id",
        "duplicate user",
    ),
    (
        r#"{"koophone": {"users": [
            {"user_id": "a", "instances": [{"instance_id": "i", "phases": [{"status": "normal"}]}]},
            {"user_id": "b", "instances": [{"instance_id": "i", "phases": [{"status": "normal"}]}]}]}}"#,
        "koophone.users[1].instances[0].instance_id",
        "duplicate instance",
    ),
    (
        r#"{"koophone": {"users": [{"user_id": "u", "instances": [{"instance_id": "i", "phases": []}]}]}}"#,
        "koophone.users[0].instances[0].phases",
        "at least one phase",
    ),
    (
        r#"{"koophone": {"users": [{"user_id": "u", "instances": [{"instance_id": "i", "phases": [{"status": "queuing"}, {"status": "normal"}]}]}]}}"#,
        "koophone.users[0].instances[0].phases[0].for_ms",
        "required on every phase but the last",
    ),
    (
        r#"{"koophone": {"users": [{"user_id": "u", "instances": [{"instance_id": "i", "phases": [{"status": "queuing", "for_ms": 0}, {"status": "normal"}]}]}]}}"#,
        "koophone.users[0].instances[0].phases[0].for_ms",
        "at least 1",
    ),
    (
        r#"{"koophone": {"users": [{"user_id": "u", "instances": [{"instance_id": "i", "phases": [{"status": "normal", "for_ms": 5}]}]}]}}"#,
        "koophone.users[0].instances[0].phases[0].for_ms",
        "lasts forever",
    ),
    (
        r#"{"koophone": {"users": [{"user_id": "u", "instances": [{"instance_id": "i", "phases": [{"status": "ready"}]}]}]}}"#,
        "koophone.users[0].instances[0].phases[0].status",
        "unknown status `ready`",
    ),
    (
        r#"{"koophone": {"users": [{"user_id": "u", "instances": [{"instance_id": "i", "phases": [{"status": "queuing", "for_ms": 5, "waiting_count": 1, "waiting_count_from": 3}, {"status": "normal"}]}]}]}}"#,
        "koophone.users[0].instances[0].phases[0].waiting_count_from",
        "not both",
    ),
    (
        r#"{"koophone": {"users": [{"user_id": "u", "instances": [{"instance_id": "i", "phases": [{"status": "queuing", "waiting_count_from": 3}]}]}]}}"#,
        "koophone.users[0].instances[0].phases[0].waiting_count_from",
        "needs a phase with for_ms",
    ),
    (
        r#"{"koophone": {"users": [{"user_id": "u", "instances": [{"instance_id": "i", "phases": [{"status": "queuing", "for_ms": 5, "waiting_count_from": 0}, {"status": "normal"}]}]}]}}"#,
        "koophone.users[0].instances[0].phases[0].waiting_count_from",
        "at least 1",
    ),
    (
        r#"{"koophone": {"users": [{"user_id": "u", "instances": [{"instance_id": "i", "phases": [{"status": "normal", "colour": "red"}]}]}]}}"#,
        "koophone.users[0].instances[0].phases[0].colour",
        "unknown field",
    ),
    (
        r#"{"clouddc": {"projects": [{"project_id": ""}]}}"#,
        "clouddc.projects[0].project_id",
        "must not be empty",
    ),
    (
        r#"{"clouddc": {"projects": [{"project_id": "p"}, {"project_id": "p"}]}}"#,
        "clouddc.projects[1].project_id",
        "duplicate project",
    ),
    (
        r#"{"clouddc": {"projects": [{"project_id": "p", "instances": [
            {"instance_id": "i", "phases": [{"state": "running"}]},
            {"instance_id": "i", "phases": [{"state": "running"}]}]}]}}"#,
        "clouddc.projects[0].instances[1].instance_id",
        "duplicate instance",
    ),
    (
        r#"{"clouddc": {"projects": [{"project_id": "p", "instances": [{"instance_id": "i", "phases": [{"state": ""}]}]}]}}"#,
        "clouddc.projects[0].instances[0].phases[0].state",
        "must not be empty",
    ),
    (
        r#"{"clouddc": {"projects": [{"project_id": "p", "instances": [{"instance_id": "i", "phases": [{"state": "pending"}, {"state": "running"}]}]}]}}"#,
        "clouddc.projects[0].instances[0].phases[0].for_ms",
        "required",
    ),
    (
        r#"{"clouddc": {"projects": [{"project_id": "p", "instances": [{"instance_id": "i", "phases": [{"state": "error", "error": {"error_code": "x"}}]}]}]}}"#,
        "clouddc.projects[0].instances[0].phases[0].error",
        "missing field `error_msg`",
    ),
    (
        r#"{"faults": [{"probability": 0.5}]}"#,
        "faults[0]",
        "missing field `fault`",
    ),
    (
        r#"{"faults": [{"fault": {"kind": "explode"}}]}"#,
        "faults[0].fault.kind",
        "unknown variant `explode`",
    ),
    (
        r#"{"faults": [{"fault": {"kind": "slow"}}]}"#,
        "faults[0].fault",
        "missing field `delay_ms`",
    ),
    (
        r#"{"faults": [{"fault": {"kind": "slow", "delay_ms": 0}}]}"#,
        "faults[0].fault.delay_ms",
        "at least 1",
    ),
    (
        r#"{"faults": [{"fault": {"kind": "slow", "delay_ms": 5, "jitter": 1}}]}"#,
        "faults[0].fault",
        "unknown field `jitter`",
    ),
    (
        r#"{"faults": [{"fault": {"kind": "bad_gateway", "delay_ms": 5}}]}"#,
        "faults[0].fault",
        "unknown field `delay_ms`",
    ),
    (
        r#"{"faults": [{"probability": 1.5, "fault": {"kind": "bad_gateway"}}]}"#,
        "faults[0].probability",
        "between 0 and 1",
    ),
    (
        r#"{"faults": [{"burst": 0, "fault": {"kind": "bad_gateway"}}]}"#,
        "faults[0].burst",
        "at least 1",
    ),
    (
        r#"{"faults": [{"from_ms": 10, "until_ms": 10, "fault": {"kind": "bad_gateway"}}]}"#,
        "faults[0].until_ms",
        "later than from_ms",
    ),
    (
        r#"{"faults": [{"max_count": 0, "fault": {"kind": "bad_gateway"}}]}"#,
        "faults[0].max_count",
        "at least 1",
    ),
    (
        r#"{"faults": [{"route": "everything", "fault": {"kind": "bad_gateway"}}]}"#,
        "faults[0].route",
        "unknown variant",
    ),
    (
        r#"{"faults": [{"fault": {"kind": "internal_error", "error_code": "0"}}]}"#,
        "faults[0].fault.error_code",
        "not \"0\"",
    ),
    (
        r#"{"access_keys": [{"access_key": "a b", "secret_key": "s"}]}"#,
        "access_keys[0].access_key",
        "visible ASCII",
    ),
    (
        r#"{"access_keys": [{"access_key": "a", "secret_key": "s"}, {"access_key": "a", "secret_key": "t"}]}"#,
        "access_keys[1].access_key",
        "duplicate access key",
    ),
    (
        r#"{"access_keys": [{"access_key": "a", "secret_key": ""}]}"#,
        "access_keys[0].secret_key",
        "must not be empty",
    ),
    (
        r#"{"access_keys": [{"access_key": "a", "secret_key": 1234567}]}"#,
        "access_keys[0].secret_key",
        "expected a string",
    ),
    (
        r#"{"access_keys": [{"access_key": "a", "secret_key": "s", "security_token": ""}]}"#,
        "access_keys[0].security_token",
        "visible ASCII",
    ),
    (
        r#"{"iam": {"token_lifetime_ms": 0}}"#,
        "iam.token_lifetime_ms",
        "at least 1",
    ),
    (
        r#"{"iam": {"lifetime": 5}}"#,
        "iam.lifetime",
        "unknown field `lifetime`",
    ),
    (
        r#"{"iam": {"domains": [{"name": "d"}, {"name": "d"}]}}"#,
        "iam.domains[1].name",
        "duplicate domain",
    ),
    (
        r#"{"iam": {"domains": [{"name": "d", "projects": [{"id": "p", "name": "a"}, {"id": "p", "name": "b"}]}]}}"#,
        "iam.domains[0].projects[1].id",
        "duplicate project id",
    ),
    (
        r#"{"iam": {"domains": [{"name": "d", "projects": [{"id": "p", "name": ""}]}]}}"#,
        "iam.domains[0].projects[0].name",
        "must not be empty",
    ),
    (
        r#"{"iam": {"domains": [{"name": "d", "users": [{"name": "u", "password": ""}]}]}}"#,
        "iam.domains[0].users[0].password",
        "must not be empty",
    ),
    (
        r#"{"iam": {"domains": [{"name": "d", "users": [{"name": "u", "password": "p"}, {"name": "u", "password": "q"}]}]}}"#,
        "iam.domains[0].users[1].name",
        "duplicate user",
    ),
    (
        r#"{"wall_clock_origin": "yesterday"}"#,
        "wall_clock_origin",
        "RFC 3339",
    ),
];

#[test]
fn invalid_scenarios_name_the_bad_field() {
    for (doc, field, words) in BAD {
        match Scenario::from_json(doc) {
            Ok(_) => panic!("accepted invalid scenario {doc}"),
            Err(err) => {
                assert_eq!(err.field(), Some(*field), "field for {doc}: {err}");
                let text = err.to_string();
                assert!(
                    text.contains(words),
                    "message for {doc} lacks {words:?}: {text}"
                );
                assert!(
                    text.contains(field),
                    "message for {doc} lacks the field: {text}"
                );
            }
        }
    }
}

#[test]
fn integer_statuses_are_kept() {
    let s = Scenario::from_json(
        r#"{"koophone": {"users": [{"user_id": "u", "instances": [{"instance_id": "i", "phases": [{"status": 7}, ]}]}]}}"#,
    );
    assert!(s.is_err(), "trailing comma is not JSON");
    let s = Scenario::from_json(
        r#"{"koophone": {"users": [{"user_id": "u", "instances": [{"instance_id": "i", "phases": [{"status": 1, "for_ms": 5}, {"status": 7}]}]}]}}"#,
    )
    .expect("valid");
    let phases = &s.koophone.users[0].instances[0].phases;
    assert_eq!(phases[0].status, KooPhoneStatus::Queuing);
    assert_eq!(phases[1].status, KooPhoneStatus::Other(7));
    assert_eq!(phases[1].status.code(), 7);
}
