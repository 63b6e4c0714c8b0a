//! AK/SK signing: byte-identical to the official Python SDK on the shared
//! vectors, verification accepts what signing produces and refuses any change
//! to a signed part, and nothing panics on arbitrary requests.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use koophone_check::strategy;
use koophone_proto::auth::signing::{
    self, AkSkCredentials, DEFAULT_MAX_CLOCK_SKEW, SecretKey, SecurityToken, SignError,
    SignedAuthorization, VerifyError, canonical_query, canonical_uri, format_sdk_date,
    parse_sdk_date, verify,
};
use proptest::prelude::*;
use serde::Deserialize;

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/vectors/signing.json"
));

#[derive(Deserialize)]
struct Vectors {
    huaweicloudsdkcore: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    request: VectorRequest,
    expected: Expected,
}

#[derive(Deserialize)]
struct VectorRequest {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    body_hex: Option<String>,
    ak: String,
    sk: String,
    project_id: Option<String>,
    security_token: Option<String>,
    date: String,
}

#[derive(Deserialize)]
struct Expected {
    canonical_request: String,
    string_to_sign: String,
    authorization: String,
    uri: String,
    headers: Vec<(String, String)>,
}

impl VectorRequest {
    fn build(&self) -> Request<Vec<u8>> {
        let body = match (&self.body, &self.body_hex) {
            (_, Some(hex)) => hex::decode(hex).expect("body_hex"),
            (Some(text), None) => text.clone().into_bytes(),
            (None, None) => Vec::new(),
        };
        let mut builder = Request::builder()
            .method(Method::from_bytes(self.method.as_bytes()).expect("method"))
            .uri(self.url.as_str());
        for (name, value) in &self.headers {
            builder = builder.header(
                HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                HeaderValue::from_bytes(value.as_bytes()).expect("header value"),
            );
        }
        builder.body(body).expect("request")
    }

    fn credentials(&self) -> AkSkCredentials {
        let mut credentials =
            AkSkCredentials::new(&self.ak, SecretKey::new(&self.sk).expect("sk")).expect("ak");
        if let Some(project_id) = &self.project_id {
            credentials = credentials.with_project_id(project_id).expect("project id");
        }
        if let Some(token) = &self.security_token {
            credentials =
                credentials.with_security_token(SecurityToken::new(token).expect("token"));
        }
        credentials
    }

    fn now(&self) -> SystemTime {
        parse_sdk_date(&self.date).expect("date")
    }
}

fn vectors() -> Vectors {
    serde_json::from_str(VECTORS).expect("tests/vectors/signing.json parses")
}

#[test]
fn vectors_come_from_the_official_sdk_and_cover_enough_cases() {
    let vectors = vectors();
    assert!(vectors.huaweicloudsdkcore.starts_with("3."));
    assert!(vectors.cases.len() >= 50, "{} cases", vectors.cases.len());
}

#[test]
fn signing_matches_the_official_sdk_byte_for_byte() {
    for case in vectors().cases {
        let credentials = case.request.credentials();
        let mut request = case.request.build();
        credentials
            .sign(&mut request, case.request.now())
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));

        let authorization = request.headers()["authorization"].to_str().unwrap();
        assert_eq!(authorization, case.expected.authorization, "{}", case.name);

        let parsed = SignedAuthorization::parse(authorization).unwrap();
        let canonical = signing::canonical_request(
            request.method(),
            request.uri(),
            request.headers(),
            &parsed.signed_headers,
            request.body(),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&canonical),
            case.expected.canonical_request,
            "{}",
            case.name
        );
        assert_eq!(
            signing::string_to_sign(&case.request.date, &canonical),
            case.expected.string_to_sign,
            "{}",
            case.name
        );

        let path_and_query = request.uri().path_and_query().unwrap().as_str();
        assert_eq!(path_and_query, case.expected.uri, "{}", case.name);

        let mut sent: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8(value.as_bytes().to_vec()).unwrap();
                (name.as_str().to_owned(), value)
            })
            .collect();
        sent.sort();
        assert_eq!(sent, case.expected.headers, "{}", case.name);
    }
}

#[test]
fn every_vector_verifies_and_fails_with_another_key() {
    let other = SecretKey::new("a-different-secret").unwrap();
    for case in vectors().cases {
        let now = case.request.now();
        let mut request = case.request.build();
        let credentials = case.request.credentials();
        credentials.sign(&mut request, now).unwrap();

        let verified = verify(
            &request,
            credentials.secret_key(),
            now,
            DEFAULT_MAX_CLOCK_SKEW,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(verified.access_key, case.request.ak);
        assert_eq!(
            verify(&request, &other, now, DEFAULT_MAX_CLOCK_SKEW),
            Err(VerifyError::SignatureMismatch),
            "{}",
            case.name
        );
    }
}

#[test]
fn sdk_date_formats_and_parses_strictly() {
    let at = UNIX_EPOCH + Duration::from_secs(1_795_500_131);
    assert_eq!(format_sdk_date(at).as_deref(), Some("20261124T060211Z"));
    assert_eq!(parse_sdk_date("20261124T060211Z"), Some(at));
    // Sub-second parts are dropped, as the SDK's strftime does.
    assert_eq!(
        format_sdk_date(at + Duration::from_millis(999)).as_deref(),
        Some("20261124T060211Z")
    );
    assert_eq!(
        format_sdk_date(UNIX_EPOCH).as_deref(),
        Some("19700101T000000Z")
    );
    assert_eq!(format_sdk_date(UNIX_EPOCH - Duration::from_secs(1)), None);
    assert_eq!(
        format_sdk_date(UNIX_EPOCH + Duration::from_secs(253_402_300_800)),
        None,
        "year 10000"
    );
    for bad in [
        "",
        "20261124T060211",
        "20261124 060211Z",
        "20261124T060211z",
        "2026-11-24T06:02:11Z",
        "20261324T060211Z",
        "20260230T060211Z",
        "20261124T240000Z",
        "20261124T236000Z",
        "20261124T235960Z",
        "2026112aT060211Z",
        "+2026112T060211Z",
        "20261124T060211Z ",
    ] {
        assert_eq!(parse_sdk_date(bad), None, "{bad:?}");
    }
    assert_eq!(
        parse_sdk_date("20240229T235959Z")
            .and_then(format_sdk_date)
            .as_deref(),
        Some("20240229T235959Z")
    );
}

#[test]
fn canonical_uri_and_query_follow_the_sdk() {
    assert_eq!(canonical_uri(""), "/");
    assert_eq!(canonical_uri("/"), "/");
    assert_eq!(canonical_uri("/a%2fb"), "/a/b/");
    assert_eq!(canonical_uri("/%7e~%20+"), "/~~%20%2B/");
    assert_eq!(canonical_query(""), "");
    assert_eq!(canonical_query("b=2&a=1&a=0"), "a=0&a=1&b=2");
    assert_eq!(canonical_query("a+b=%2b"), "a%2Bb=%2B");
    // Bytes that are not UTF-8 are kept as bytes, not replaced.
    assert_eq!(canonical_query("k=%FF"), "k=%FF");
}

#[test]
fn repeated_headers_sign_one_sorted_line_per_value() {
    let credentials = AkSkCredentials::new("AK", SecretKey::new("SK").unwrap()).unwrap();
    let now = parse_sdk_date("20261124T060211Z").unwrap();
    let build = |first: &'static str, second: &'static str| {
        let mut request = Request::get("https://h.example/x")
            .header("x-multi", first)
            .header("x-multi", second)
            .body(Vec::new())
            .unwrap();
        credentials.sign(&mut request, now).unwrap();
        request
    };
    let a = build("1", "2");
    let b = build("2", "1");
    assert_eq!(a.headers()["authorization"], b.headers()["authorization"]);
    let canonical =
        signing::canonical_headers(a.headers(), &[HeaderName::from_static("x-multi")]).unwrap();
    assert_eq!(canonical, b"x-multi:1\nx-multi:2\n");
}

#[test]
fn signing_replaces_an_old_signature_and_marks_secrets_sensitive() {
    let credentials = AkSkCredentials::new("AK", SecretKey::new("SK").unwrap())
        .unwrap()
        .with_security_token(SecurityToken::new("session").unwrap());
    let now = parse_sdk_date("20261124T060211Z").unwrap();
    let mut request = Request::get("https://h.example/x")
        .body(Vec::new())
        .unwrap();
    credentials.sign(&mut request, now).unwrap();
    let first = request.headers()["authorization"].clone();
    credentials
        .sign(&mut request, now + Duration::from_secs(60))
        .unwrap();
    assert_eq!(request.headers().get_all("authorization").iter().count(), 1);
    assert_ne!(request.headers()["authorization"], first);
    assert!(request.headers()["authorization"].is_sensitive());
    assert!(request.headers()["x-security-token"].is_sensitive());
    verify(
        &request,
        credentials.secret_key(),
        now + Duration::from_secs(60),
        DEFAULT_MAX_CLOCK_SKEW,
    )
    .unwrap();
}

#[test]
fn signing_refuses_what_it_cannot_express() {
    let credentials = AkSkCredentials::new("AK", SecretKey::new("SK").unwrap()).unwrap();
    let mut request = Request::get("https://h.example/x")
        .body(Vec::new())
        .unwrap();
    assert_eq!(
        credentials.sign(&mut request, UNIX_EPOCH - Duration::from_secs(1)),
        Err(SignError::TimeOutOfRange)
    );
    let mut relative = Request::get("/x").body(Vec::new()).unwrap();
    assert_eq!(
        credentials.sign(&mut relative, UNIX_EPOCH),
        Err(SignError::MissingHost)
    );
    let mut with_host = Request::get("/x")
        .header("host", "h.example")
        .body(Vec::new())
        .unwrap();
    credentials.sign(&mut with_host, UNIX_EPOCH).unwrap();
}

#[test]
fn secrets_never_show_in_debug_or_errors() {
    let sk = SecretKey::new("TopSecretSK").unwrap();
    let token = SecurityToken::new("TopSecretSession").unwrap();
    let credentials = AkSkCredentials::new("VisibleAK", sk.clone())
        .unwrap()
        .with_project_id("proj")
        .unwrap()
        .with_security_token(token);
    let debug = format!("{credentials:?} {sk:?}");
    assert!(
        debug.contains("VisibleAK") && debug.contains("proj"),
        "{debug}"
    );
    assert!(!debug.contains("TopSecret"), "{debug}");

    for (field, bad) in [("secret_key", ""), ("secret_key", " TopSecretSK\n")] {
        let error = SecretKey::new(bad).unwrap_err();
        assert_eq!(error.field, field);
        assert!(!error.to_string().contains("TopSecret"));
    }
    let error = SecurityToken::new("TopSecret\u{e9}").unwrap_err();
    assert!(!format!("{error} {error:?}").contains("TopSecret"));
    assert_eq!(
        AkSkCredentials::new("A, B", SecretKey::new("x").unwrap())
            .unwrap_err()
            .field,
        "access_key"
    );
}

fn signed_request(now: SystemTime) -> (Request<Vec<u8>>, AkSkCredentials) {
    let credentials = AkSkCredentials::new("AK", SecretKey::new("SK").unwrap()).unwrap();
    let mut request = Request::post("https://h.example/v1/x?b=2&a=1")
        .header("content-type", "application/json")
        .body(b"{\"a\":1}".to_vec())
        .unwrap();
    credentials.sign(&mut request, now).unwrap();
    (request, credentials)
}

#[test]
fn verify_checks_the_clock_and_the_required_headers() {
    let now = parse_sdk_date("20261124T060211Z").unwrap();
    let (request, credentials) = signed_request(now);
    let sk = credentials.secret_key();
    let skew = Duration::from_secs(900);
    verify(&request, sk, now + skew, skew).unwrap();
    verify(&request, sk, now - skew, skew).unwrap();
    assert_eq!(
        verify(&request, sk, now + skew + Duration::from_secs(1), skew),
        Err(VerifyError::ClockSkew {
            skew: Duration::from_secs(901)
        })
    );
    assert!(matches!(
        verify(&request, sk, now - Duration::from_secs(3600), skew),
        Err(VerifyError::ClockSkew { .. })
    ));

    // Each change to the signed request's headers, and what verify says.
    type HeaderChange = fn(&mut HeaderMap);
    let tampered: [(HeaderChange, VerifyError); 5] = [
        (
            |h| {
                h.remove("authorization");
            },
            VerifyError::MissingAuthorization,
        ),
        (
            |h| {
                let auth = h["authorization"].clone();
                h.append("authorization", auth);
            },
            VerifyError::MalformedAuthorization,
        ),
        (
            |h| {
                h.remove("x-sdk-date");
            },
            VerifyError::MissingDate,
        ),
        (
            |h| {
                h.insert("x-sdk-date", HeaderValue::from_static("2026-11-24"));
            },
            VerifyError::MalformedDate,
        ),
        (
            |h| {
                h.remove("content-type");
            },
            VerifyError::MissingSignedHeader(HeaderName::from_static("content-type")),
        ),
    ];
    for (tamper, expected) in tampered {
        let mut changed = request.clone();
        tamper(changed.headers_mut());
        assert_eq!(verify(&changed, sk, now, skew), Err(expected));
    }

    // A signature that leaves out the date could be replayed forever.
    let parsed = SignedAuthorization::from_request(&request).unwrap();
    let mut undated = request.clone();
    let rewritten = SignedAuthorization {
        signed_headers: parsed
            .signed_headers
            .iter()
            .filter(|name| name.as_str() != "x-sdk-date")
            .cloned()
            .collect(),
        ..parsed
    };
    undated.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&rewritten.to_string()).unwrap(),
    );
    assert_eq!(
        verify(&undated, sk, now, skew),
        Err(VerifyError::HeaderNotSigned(HeaderName::from_static(
            "x-sdk-date"
        )))
    );
}

#[test]
fn authorization_parsing_is_strict_about_shape() {
    let good = "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature=00ff";
    let parsed = SignedAuthorization::parse(good).unwrap();
    assert_eq!(parsed.access_key, "AK");
    assert_eq!(parsed.signed_headers.len(), 2);
    assert_eq!(parsed.to_string(), good);
    assert!(
        SignedAuthorization::parse("SDK-HMAC-SHA256 Access=AK,SignedHeaders=host,Signature=00")
            .is_some()
    );
    for bad in [
        "",
        "SDK-HMAC-SHA256",
        "SDK-HMAC-SM3 Access=AK, SignedHeaders=host, Signature=00",
        "SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature=00",
        "SDK-HMAC-SHA256 Access=AK, SignedHeaders=, Signature=00",
        "SDK-HMAC-SHA256 Access=AK, SignedHeaders=Host, Signature=00",
        "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;;date, Signature=00",
        "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=",
        "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=00, Extra=1",
        "SDK-HMAC-SHA256 SignedHeaders=host, Access=AK, Signature=00",
    ] {
        assert_eq!(SignedAuthorization::parse(bad), None, "{bad:?}");
    }
}

/// Paths and queries from characters that `http::Uri` accepts, including `%`
/// (well-formed or not) and non-ASCII.
fn uri_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            "[a-zA-Z0-9._~-]",
            "[!$&'()*+,;=:@/]",
            "%[0-9a-fA-FzZ]{0,2}",
            "[\u{80}-\u{10FFFF}]",
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

fn header() -> impl Strategy<Value = (HeaderName, HeaderValue)> {
    (
        "[a-zA-Z][a-zA-Z0-9_-]{0,12}",
        proptest::collection::vec(
            prop_oneof![
                8 => 0x20u8..0x7f,
                1 => Just(b'\t'),
                1 => 0x80u8..=0xff,
            ],
            0..24,
        ),
    )
        .prop_filter_map("valid header", |(name, value)| {
            Some((
                HeaderName::from_bytes(name.as_bytes()).ok()?,
                HeaderValue::from_bytes(&value).ok()?,
            ))
        })
}

prop_compose! {
    fn arbitrary_request()(
        method in strategy::method(),
        path in uri_text(),
        query in proptest::option::of(uri_text()),
        headers in proptest::collection::vec(header(), 0..6),
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) -> Option<Request<Vec<u8>>> {
        let mut uri = format!("https://h.example/{path}");
        if let Some(query) = query {
            uri.push('?');
            uri.push_str(&query);
        }
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        builder.body(body).ok()
    }
}

/// A change to one signed part, chosen so that it also changes the canonical form.
#[derive(Debug, Clone)]
enum Tamper {
    Method,
    Path,
    Query,
    HeaderValue,
    Body,
    Date,
}

fn tamper(request: &mut Request<Vec<u8>>, how: &Tamper) {
    match how {
        Tamper::Method => {
            let other = if request.method().as_str().eq_ignore_ascii_case("PUT") {
                Method::POST
            } else {
                Method::PUT
            };
            *request.method_mut() = other;
        }
        Tamper::Path => {
            let uri = request.uri().to_string();
            let path_end = uri.find('?').unwrap_or(uri.len());
            let tampered = format!("{}X{}", &uri[..path_end], &uri[path_end..]);
            *request.uri_mut() = tampered.parse().unwrap();
        }
        Tamper::Query => {
            let uri = request.uri().to_string();
            let separator = if uri.contains('?') { '&' } else { '?' };
            *request.uri_mut() = format!("{uri}{separator}tampered=1").parse().unwrap();
        }
        Tamper::HeaderValue => {
            let mut host = b"x".to_vec();
            host.extend_from_slice(request.headers()["host"].as_bytes());
            request
                .headers_mut()
                .insert("host", HeaderValue::from_bytes(&host).unwrap());
        }
        Tamper::Body => request.body_mut().push(b'x'),
        Tamper::Date => {
            let date = request.headers()["x-sdk-date"].to_str().unwrap();
            let shifted = parse_sdk_date(date).unwrap() + Duration::from_secs(1);
            let value = format_sdk_date(shifted).unwrap();
            request
                .headers_mut()
                .insert("x-sdk-date", HeaderValue::from_str(&value).unwrap());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn sign_never_panics_and_verify_accepts_its_output(
        request in arbitrary_request(),
        seconds in 0u64..4_102_444_800,
        token in proptest::option::of("[A-Za-z0-9+/=]{1,40}"),
    ) {
        let Some(mut request) = request else { return Ok(()) };
        let mut credentials = AkSkCredentials::new("AK", SecretKey::new("SK").unwrap()).unwrap();
        if let Some(token) = token {
            credentials = credentials.with_security_token(SecurityToken::new(&token).unwrap());
        }
        let now = UNIX_EPOCH + Duration::from_secs(seconds);
        credentials.sign(&mut request, now).unwrap();
        prop_assert!(verify(&request, credentials.secret_key(), now, DEFAULT_MAX_CLOCK_SKEW).is_ok());
    }

    #[test]
    fn any_change_to_a_signed_part_breaks_the_signature(
        request in arbitrary_request(),
        how in prop_oneof![
            Just(Tamper::Method),
            Just(Tamper::Path),
            Just(Tamper::Query),
            Just(Tamper::HeaderValue),
            Just(Tamper::Body),
            Just(Tamper::Date),
        ],
    ) {
        let Some(mut request) = request else { return Ok(()) };
        // A body the SDK leaves unsigned (non-JSON content type) is not a signed part.
        request.headers_mut().remove("content-type");
        request.headers_mut().remove("x-sdk-content-sha256");
        let now = parse_sdk_date("20261124T060211Z").unwrap();
        let credentials = AkSkCredentials::new("AK", SecretKey::new("SK").unwrap()).unwrap();
        credentials.sign(&mut request, now).unwrap();
        tamper(&mut request, &how);
        prop_assert_eq!(
            verify(&request, credentials.secret_key(), now, DEFAULT_MAX_CLOCK_SKEW),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn verify_never_panics_on_arbitrary_requests(
        request in arbitrary_request(),
        authorization in "SDK-HMAC-SHA256 [ -~]{0,80}",
        date in "[0-9T Z]{0,18}",
    ) {
        let Some(mut request) = request else { return Ok(()) };
        if let Ok(value) = HeaderValue::from_str(&authorization) {
            request.headers_mut().insert("authorization", value);
        }
        if let Ok(value) = HeaderValue::from_str(&date) {
            request.headers_mut().insert("x-sdk-date", value);
        }
        let sk = SecretKey::new("SK").unwrap();
        let _ = verify(&request, &sk, UNIX_EPOCH, DEFAULT_MAX_CLOCK_SKEW);
    }
}
