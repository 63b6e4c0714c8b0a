//! The simulated ECS/BMS metadata service in process, under a virtual
//! clock: session tokens that expire, temporary credentials that rotate and
//! expire, the gateway accepting requests signed with the valid ones (and
//! their security token) and refusing expired ones, and the scenario switches.

mod signing;

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use http::{Method, Request, Response};
use koophone_sim::signature::{canonical_request, string_to_sign};
use koophone_sim::{
    METADATA_TOKEN_PATH, NO_AGENCY_MESSAGE, SECURITY_KEY_PATH, Scenario, Simulator,
};
use serde_json::Value;
use sha2::Sha256;
use signing::sdk_date;

fn sim(metadata: &str) -> Simulator {
    let scenario = Scenario {
        metadata: serde_json::from_str(metadata).unwrap(),
        ..Scenario::default()
    };
    Simulator::new(scenario, 7).unwrap()
}

fn at(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn session_token(sim: &mut Simulator, ttl: &str, now: Duration) -> Response<Vec<u8>> {
    let request = Request::builder()
        .method(Method::PUT)
        .uri(METADATA_TOKEN_PATH)
        .header("x-metadata-token-ttl-seconds", ttl)
        .body(Vec::new())
        .unwrap();
    sim.handle(&request, now).response
}

fn security_key(sim: &mut Simulator, token: Option<&str>, now: Duration) -> Response<Vec<u8>> {
    let mut request = Request::builder()
        .method(Method::GET)
        .uri(SECURITY_KEY_PATH);
    if let Some(token) = token {
        request = request.header("x-metadata-token", token);
    }
    sim.handle(&request.body(Vec::new()).unwrap(), now).response
}

fn body_text(response: &Response<Vec<u8>>) -> String {
    String::from_utf8(response.body().clone()).unwrap()
}

struct Temp {
    access: String,
    secret: String,
    token: String,
    expires_at: String,
}

fn credentials(response: &Response<Vec<u8>>) -> Temp {
    assert_eq!(response.status(), 200, "{}", body_text(response));
    let doc: Value = serde_json::from_slice(response.body()).unwrap();
    let c = &doc["credential"];
    let s = |name: &str| c[name].as_str().unwrap().to_owned();
    Temp {
        access: s("access"),
        secret: s("secret"),
        token: s("securitytoken"),
        expires_at: s("expires_at"),
    }
}

/// ShowProgress signed with `temp` at `now`: the gateway's status code.
fn signed_progress(sim: &mut Simulator, temp: &Temp, token: &str, now: Duration) -> u16 {
    let date = sdk_date(sim.wall_clock(now));
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("http://sim.local/v1/instances/prepare-progress")
        .header("host", "sim.local")
        .header("content-type", "application/json")
        .header("x-sdk-date", &date)
        .header("x-security-token", token)
        .body(br#"{"user_id":"1008600000104285462","instance_id":"iRJEVP9"}"#.to_vec())
        .unwrap();
    let signed = "content-type;host;x-sdk-date;x-security-token";
    let canonical = canonical_request(&request, signed).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(temp.secret.as_bytes()).unwrap();
    mac.update(string_to_sign(&date, &canonical).as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let authorization = format!(
        "SDK-HMAC-SHA256 Access={}, SignedHeaders={signed}, Signature={signature}",
        temp.access
    );
    request
        .headers_mut()
        .insert("authorization", authorization.parse().unwrap());
    sim.handle(&request, now).response.status().as_u16()
}

#[test]
fn credentials_rotate_and_expire_and_the_gateway_follows() {
    let mut sim = sim(r#"{"credential_lifetime_ms": 10000, "rotate_after_ms": 4000}"#);
    let put = session_token(&mut sim, "21600", at(0));
    assert_eq!(put.status(), 200);
    let session = body_text(&put);

    let first = credentials(&security_key(&mut sim, Some(&session), at(100)));
    assert_eq!(first.expires_at, "2026-01-01T00:00:10.100000Z");
    let again = credentials(&security_key(&mut sim, Some(&session), at(3000)));
    assert_eq!(again.access, first.access, "the same set until rotation");
    let second = credentials(&security_key(&mut sim, Some(&session), at(4200)));
    assert_ne!(second.access, first.access);
    assert_ne!(second.secret, first.secret);

    // (the set that signs, the security token it sends, when, the status)
    let expected = [
        (&first, &first.token, 5000, 200),
        (&second, &second.token, 5000, 200),
        // Each set needs its own security token.
        (&first, &second.token, 5000, 401),
        // The first set expires at 10.1 s, the second lives on.
        (&first, &first.token, 10_100, 401),
        (&second, &second.token, 10_100, 200),
        (&second, &second.token, 14_200, 401),
    ];
    for (n, (set, token, ms, status)) in expected.into_iter().enumerate() {
        assert_eq!(
            signed_progress(&mut sim, set, token, at(ms)),
            status,
            "request {n}, at {ms} ms"
        );
    }
}

#[test]
fn session_tokens_are_required_and_expire() {
    let mut sim = sim(r#"{"session_token_lifetime_ms": 1000}"#);
    let missing = security_key(&mut sim, None, at(0));
    assert_eq!(missing.status(), 401);
    assert!(!body_text(&missing).contains(NO_AGENCY_MESSAGE));
    assert_eq!(security_key(&mut sim, Some("made-up"), at(0)).status(), 401);

    let session = body_text(&session_token(&mut sim, "60", at(0)));
    assert_eq!(
        security_key(&mut sim, Some(&session), at(999)).status(),
        200
    );
    let expired = security_key(&mut sim, Some(&session), at(1000));
    assert_eq!(expired.status(), 401);
    assert!(!body_text(&expired).contains(NO_AGENCY_MESSAGE));

    for bad_ttl in ["0", "21601", "soon"] {
        assert_eq!(session_token(&mut sim, bad_ttl, at(0)).status(), 400);
    }
}

#[test]
fn the_scenario_switches_the_service_off_piece_by_piece() {
    let mut plain = sim(r#"{"session_tokens": false}"#);
    assert_eq!(session_token(&mut plain, "21600", at(0)).status(), 404);
    credentials(&security_key(&mut plain, None, at(0)));

    let mut no_agency = sim(r#"{"agency": false}"#);
    let session = body_text(&session_token(&mut no_agency, "21600", at(0)));
    let refused = security_key(&mut no_agency, Some(&session), at(0));
    assert_eq!(refused.status(), 401);
    assert!(body_text(&refused).contains(NO_AGENCY_MESSAGE));

    let mut absent = sim(r#"{"enabled": false}"#);
    assert_eq!(session_token(&mut absent, "21600", at(0)).status(), 404);
    assert_eq!(security_key(&mut absent, None, at(0)).status(), 404);

    // Wrong methods.
    let mut default = Simulator::new(Scenario::default(), 1).unwrap();
    let post = Request::post(SECURITY_KEY_PATH).body(Vec::new()).unwrap();
    assert_eq!(default.handle(&post, at(0)).response.status(), 405);
}

#[test]
fn bad_metadata_settings_are_refused_by_field() {
    for (json, field) in [
        (
            r#"{"credential_lifetime_ms": 0}"#,
            "metadata.credential_lifetime_ms",
        ),
        (
            r#"{"credential_lifetime_ms": 10, "rotate_after_ms": 11}"#,
            "metadata.rotate_after_ms",
        ),
        (
            r#"{"session_token_lifetime_ms": 0}"#,
            "metadata.session_token_lifetime_ms",
        ),
    ] {
        let err = Scenario::from_json(&format!(r#"{{"metadata": {json}}}"#)).unwrap_err();
        assert_eq!(err.field(), Some(field), "{json}");
    }
    assert!(Scenario::from_json(r#"{"metadata": {"agencyy": true}}"#).is_err());
}

#[test]
fn debug_shows_no_issued_secret() {
    let mut sim = sim("{}");
    let session = body_text(&session_token(&mut sim, "21600", at(0)));
    let temp = credentials(&security_key(&mut sim, Some(&session), at(0)));
    let shown = format!("{sim:?}");
    for secret in [&session, &temp.secret, &temp.token] {
        assert!(!shown.contains(secret.as_str()), "{shown}");
    }
}
