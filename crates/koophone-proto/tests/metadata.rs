//! The ECS/BMS metadata protocol: the two requests, decoding every answer
//! (totality under proptest), the session-token renewal rule, and the
//! credential cache's refresh decisions under a virtual clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use koophone_proto::Endpoint;
use koophone_proto::auth::metadata::{
    CredentialCache, CredentialState, MetadataError, SecurityKeyFetch, SessionTokenAnswer,
    TemporaryCredentials, decode_security_key, decode_session_token, parse_expiry,
    security_key_request, session_token_request,
};
use koophone_proto::auth::{AkSkCredentials, RefreshPolicy, SecretKey, UnauthorizedAction};
use koophone_proto::http::{Response, StatusCode};
use proptest::prelude::*;

const SECRET: &str = "temp-S3CRET-sk-0123";
const SESSION: &str = "session-S3CRET-token";

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

fn endpoint() -> Endpoint {
    Endpoint::parse_with("http://169.254.169.254", true).unwrap()
}

fn respond(status: u16, body: &[u8]) -> Response<&[u8]> {
    Response::builder().status(status).body(body).unwrap()
}

fn key_body(access: &str, expires_at: &str) -> String {
    format!(
        r#"{{"credential":{{"access":"{access}","secret":"{SECRET}","securitytoken":"{SESSION}","expires_at":"{expires_at}"}}}}"#
    )
}

#[test]
fn the_requests_are_the_documented_ones() {
    let put = session_token_request(&endpoint(), Duration::from_secs(21_600), None).unwrap();
    assert_eq!(put.method(), "PUT");
    assert_eq!(
        put.uri(),
        "http://169.254.169.254/meta-data/latest/api/token"
    );
    assert_eq!(put.headers()["x-metadata-token-ttl-seconds"], "21600");

    let answer = decode_session_token(
        respond(200, SESSION.as_bytes()),
        Duration::from_secs(21_600),
        t0(),
    );
    let Ok(SessionTokenAnswer::Token(token)) = answer else {
        panic!("no token")
    };
    assert!(!format!("{token:?}").contains(SESSION));
    assert!(token.is_usable(t0() + Duration::from_secs(21_000)));
    assert!(!token.is_usable(t0() + Duration::from_secs(21_600)));

    let get = security_key_request(&endpoint(), Some(&token), None).unwrap();
    assert_eq!(get.method(), "GET");
    assert_eq!(
        get.uri(),
        "http://169.254.169.254/openstack/latest/securitykey"
    );
    assert_eq!(get.headers()["x-metadata-token"], SESSION);
    let bare = security_key_request(&endpoint(), None, None).unwrap();
    assert!(!bare.headers().contains_key("x-metadata-token"));
}

#[test]
fn unsupported_session_tokens_and_securitykey_answers() {
    for status in [404, 405, 503] {
        let answer = decode_session_token(respond(status, b"nope"), Duration::from_secs(60), t0());
        assert!(matches!(answer, Ok(SessionTokenAnswer::Unsupported(s)) if s == status));
    }
    assert!(matches!(
        decode_session_token(respond(500, b"boom"), Duration::from_secs(60), t0()),
        Err(MetadataError::Status {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            ..
        })
    ));

    let body = key_body("TEMP-AK", "2026-01-01T06:00:00.000000Z");
    let creds = decode_security_key(respond(200, body.as_bytes())).unwrap();
    assert_eq!(creds.credentials.access_key(), "TEMP-AK");
    assert_eq!(creds.expires_at, t0() + Duration::from_secs(6 * 3600));
    let shown = format!("{creds:?}");
    assert!(
        !shown.contains(SECRET) && !shown.contains(SESSION),
        "{shown}"
    );

    let no_agency = br#"{"error":"Please configure Cloud Service Agency first"}"#;
    assert_eq!(
        decode_security_key(respond(401, no_agency)).unwrap_err(),
        MetadataError::NoAgency
    );
    assert_eq!(
        decode_security_key(respond(401, b"token expired")).unwrap_err(),
        MetadataError::SessionExpired
    );
    assert_eq!(
        decode_security_key(respond(404, b"")).unwrap_err(),
        MetadataError::NotFound
    );
}

#[test]
fn malformed_credentials_never_quote_the_body() {
    let bodies = [
        key_body("TEMP-AK", "tomorrow"),
        key_body("TEMP AK", "2026-01-01T06:00:00.000000Z"),
        format!(r#"{{"credential":{{"access":"A","secret":{{"v":"{SECRET}"}}}}}}"#),
        format!(
            r#"{{"credential":{{"access":"A","secret":" {SECRET}","securitytoken":"{SESSION}","expires_at":"2026-01-01T06:00:00Z"}}}}"#
        ),
    ];
    for body in bodies {
        let err = decode_security_key(respond(200, body.as_bytes())).unwrap_err();
        assert!(matches!(err, MetadataError::Malformed { .. }), "{err:?}");
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains(SECRET) && !shown.contains(SESSION),
            "{shown}"
        );
    }
}

#[test]
fn the_expiry_format_parses() {
    assert_eq!(parse_expiry("2026-01-01T00:00:00.000000Z"), Some(t0()));
    assert_eq!(parse_expiry("2026-01-01T00:00:00Z"), Some(t0()));
    assert_eq!(parse_expiry("1969-12-31T23:59:59.000000Z"), None);
    assert_eq!(parse_expiry("2026-01-01 00:00:00"), None);
}

/// Drive a fetch against a scripted list of answers; returns the outcome and
/// how many requests were sent.
fn run_fetch(
    fetch: &mut SecurityKeyFetch,
    answers: &[(u16, String)],
) -> (Result<TemporaryCredentials, MetadataError>, usize) {
    for (sent, (status, body)) in answers.iter().enumerate() {
        let request = fetch.request(None).unwrap();
        let expected_put = fetch.is_asking_session_token();
        assert_eq!(request.method() == "PUT", expected_put);
        if let Some(outcome) = fetch.handle_response(respond(*status, body.as_bytes()), t0()) {
            return (outcome, sent + 1);
        }
    }
    panic!("the fetch wanted more than {} answers", answers.len());
}

#[test]
fn an_expired_session_token_is_renewed_once() {
    let ok = key_body("TEMP-AK", "2026-01-01T06:00:00.000000Z");
    // Token, 401 (expired), new token, credentials.
    let mut fetch = SecurityKeyFetch::new(endpoint(), None, t0());
    let answers = [
        (200, "s1".into()),
        (401, "expired".into()),
        (200, "s2".into()),
        (200, ok.clone()),
    ];
    let (outcome, sent) = run_fetch(&mut fetch, &answers);
    assert!(outcome.is_ok());
    assert_eq!(sent, 4);
    assert_eq!(fetch.session().unwrap().header_value(), "s2");

    // A second 401 after renewing is the answer.
    let mut fetch = SecurityKeyFetch::new(endpoint(), None, t0());
    let answers = [
        (200, "s1".into()),
        (401, "x".into()),
        (200, "s2".into()),
        (401, "x".into()),
    ];
    let (outcome, sent) = run_fetch(&mut fetch, &answers);
    assert_eq!(
        (outcome.unwrap_err(), sent),
        (MetadataError::SessionExpired, 4)
    );

    // Without session tokens a 401 is not retried.
    let mut fetch = SecurityKeyFetch::new(endpoint(), None, t0());
    let answers = [(404, String::new()), (401, "x".into())];
    let (outcome, sent) = run_fetch(&mut fetch, &answers);
    assert_eq!(
        (outcome.unwrap_err(), sent),
        (MetadataError::SessionExpired, 2)
    );

    // A cached usable session token skips the PUT.
    let mut first = SecurityKeyFetch::new(endpoint(), None, t0());
    run_fetch(&mut first, &[(200, "s1".into()), (200, ok.clone())])
        .0
        .unwrap();
    let mut again = SecurityKeyFetch::new(endpoint(), first.session().cloned(), t0());
    assert!(!again.is_asking_session_token());
    assert_eq!(run_fetch(&mut again, &[(200, ok)]).1, 1);
}

fn temporary(access: &str, expires_at: SystemTime) -> TemporaryCredentials {
    TemporaryCredentials {
        credentials: AkSkCredentials::new(access, SecretKey::new(SECRET).unwrap()).unwrap(),
        expires_at,
    }
}

fn leased(cache: &CredentialCache, now: SystemTime) -> Option<(String, bool)> {
    match cache.state(now) {
        CredentialState::Fresh(l) => Some((l.credentials.access_key().to_owned(), false)),
        CredentialState::RefreshDue(l) => Some((l.credentials.access_key().to_owned(), true)),
        CredentialState::RefreshRequired => None,
    }
}

#[test]
fn the_cache_refreshes_with_the_iam_margins() {
    let day = Duration::from_secs(24 * 3600);
    let mut cache = CredentialCache::new(RefreshPolicy::default());
    assert_eq!(leased(&cache, t0()), None);
    let ticket = cache.begin_refresh(t0()).unwrap();
    assert!(cache.begin_refresh(t0()).is_none(), "single flight");
    let id = cache
        .complete_refresh(ticket, temporary("A1", t0() + day), t0())
        .unwrap();
    // Same rule as IAM tokens: 10% of 24 h before expiry.
    assert_eq!(
        cache.next_refresh_at(),
        Some(t0() + day - Duration::from_secs(8640))
    );
    assert_eq!(leased(&cache, t0()), Some(("A1".into(), false)));
    let due = t0() + day - Duration::from_secs(8000);
    assert_eq!(leased(&cache, due), Some(("A1".into(), true)));

    // The same credentials again: no tight loop, asked again after the retry delay.
    let ticket = cache.begin_refresh(due).unwrap();
    assert_eq!(
        cache
            .complete_refresh(ticket, temporary("A1", t0() + day), due)
            .unwrap(),
        id
    );
    assert_eq!(leased(&cache, due), Some(("A1".into(), false)));
    assert_eq!(
        leased(&cache, due + Duration::from_secs(30)),
        Some(("A1".into(), true))
    );

    // Rotated credentials replace them.
    let later = due + Duration::from_secs(30);
    let ticket = cache.begin_refresh(later).unwrap();
    let id2 = cache
        .complete_refresh(ticket, temporary("A2", later + day), later)
        .unwrap();
    assert_ne!(id, id2);
    assert_eq!(leased(&cache, later), Some(("A2".into(), false)));
    assert_eq!(leased(&cache, later + day), None, "expired");

    // A 401 drops them once; a refused replacement gives up.
    assert_eq!(
        cache.on_unauthorized(id2),
        UnauthorizedAction::RetryWithNewToken
    );
    assert_eq!(leased(&cache, later), None);
    let ticket = cache.begin_refresh(later).unwrap();
    let id3 = cache
        .complete_refresh(ticket, temporary("A3", later + day), later)
        .unwrap();
    assert_eq!(cache.on_unauthorized(id3), UnauthorizedAction::GiveUp);

    // Expired on arrival is refused.
    let ticket = cache.begin_refresh(later).unwrap();
    assert!(
        cache
            .complete_refresh(ticket, temporary("A4", later), later)
            .is_err()
    );
}

proptest! {
    /// Any status and any bytes: each decoder gives exactly one outcome, no
    /// panic, and no error quotes a secret the body carried.
    #[test]
    fn decoding_is_total(status in 100u16..1000, body in proptest::collection::vec(any::<u8>(), 0..300), with_secret in any::<bool>()) {
        let mut body = body;
        if with_secret {
            body.extend_from_slice(key_body("AK", "x").as_bytes());
        }
        let response = || respond(status, &body);
        let ttl = Duration::from_secs(21_600);
        if let Err(e) = decode_session_token(response(), ttl, t0())
            && (200..300).contains(&status)
        {
            let shown = format!("{e} {e:?}");
            prop_assert!(!shown.contains(SECRET));
        }
        match decode_security_key(response()) {
            Ok(creds) => {
                let shown = format!("{creds:?}");
                prop_assert!((200..300).contains(&status) && !shown.contains(SECRET));
            }
            Err(e) => {
                if (200..300).contains(&status) {
                    let shown = format!("{e} {e:?}");
                    prop_assert!(!shown.contains(SECRET) && !shown.contains(SESSION), "{}", shown);
                }
                if status == 401 { prop_assert!(matches!(e, MetadataError::SessionExpired | MetadataError::NoAgency)); }
            }
        }
        let mut fetch = SecurityKeyFetch::new(endpoint(), None, t0());
        let mut sent = 0;
        while fetch.handle_response(response(), t0()).is_none() {
            sent += 1;
            prop_assert!(sent <= 4, "a fetch sends at most four requests");
        }
    }
}
