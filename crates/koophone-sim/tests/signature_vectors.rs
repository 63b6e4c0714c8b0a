//! The simulator's SDK-HMAC-SHA256 verifier against the official Python
//! signer's output (`tests/vectors/signing.json` at the workspace root,
//! made by `tests/vectors/gen_signing.py` with huaweicloudsdkcore 3.1.219):
//! every vector's request rebuilds the SDK's canonical request byte for
//! byte and verifies, and changing any signed part of it is refused.

mod signing;

use std::time::{Duration, SystemTime};

use http::{HeaderName, HeaderValue, Method, Request};
use koophone_sim::AccessKeySpec;
use koophone_sim::signature::{
    self, Authorization, SignatureError, canonical_request, parse_sdk_date, string_to_sign,
};
use serde_json::Value;
use signing::sdk_date;

const VECTORS: &str = include_str!("../../../tests/vectors/signing.json");

struct Case {
    name: String,
    request: Request<Vec<u8>>,
    key: AccessKeySpec,
    date: SystemTime,
    expected: Value,
}

/// What an HTTP client puts on the wire for a URL: origin-form target, with
/// bytes outside ASCII percent-encoded (the signer decodes them back).
fn origin_form(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let target = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    target
        .bytes()
        .map(|b| {
            if b.is_ascii() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn cases() -> Vec<Case> {
    let doc: Value = serde_json::from_str(VECTORS).expect("signing.json is JSON");
    assert_eq!(doc["huaweicloudsdkcore"], "3.1.219");
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() >= 60, "only {} vectors", cases.len());
    cases.iter().map(case).collect()
}

fn case(v: &Value) -> Case {
    let r = &v["request"];
    let s = |x: &Value| x.as_str().expect("a string").to_owned();
    let body = match r.get("body_hex") {
        Some(hex_body) => hex::decode(hex_body.as_str().unwrap()).unwrap(),
        None => s(&r["body"]).into_bytes(),
    };
    let mut request = Request::new(body);
    *request.method_mut() = Method::from_bytes(s(&r["method"]).as_bytes()).unwrap();
    *request.uri_mut() = origin_form(&s(&r["url"])).parse().expect("a valid target");
    // The caller's headers as given (untrimmed, any case), then what the
    // SDK added (Host, X-Sdk-Date, Authorization, ...).
    let headers = request.headers_mut();
    for pair in r["headers"].as_array().unwrap() {
        let name = HeaderName::from_bytes(s(&pair[0]).as_bytes()).unwrap();
        headers.insert(
            name,
            HeaderValue::from_bytes(s(&pair[1]).as_bytes()).unwrap(),
        );
    }
    for pair in v["expected"]["headers"].as_array().unwrap() {
        let name = HeaderName::from_bytes(s(&pair[0]).as_bytes()).unwrap();
        if !headers.contains_key(&name) {
            headers.insert(
                name,
                HeaderValue::from_bytes(s(&pair[1]).as_bytes()).unwrap(),
            );
        }
    }
    let mut key = AccessKeySpec::new(s(&r["ak"]), s(&r["sk"]));
    key.security_token = r["security_token"].as_str().map(str::to_owned);
    Case {
        name: s(&v["name"]),
        date: parse_sdk_date(&s(&r["date"])).expect("vector date"),
        request,
        key,
        expected: v["expected"].clone(),
    }
}

fn verify(
    case: &Case,
    request: &Request<Vec<u8>>,
    key: &AccessKeySpec,
    now: SystemTime,
) -> Result<(), SignatureError> {
    signature::verify(request, |ak| (ak == key.access_key).then_some(key), now).map(|ak| {
        assert_eq!(ak, case.key.access_key, "{}", case.name);
    })
}

fn authorization(request: &Request<Vec<u8>>) -> Authorization<'_> {
    let value = request.headers()["authorization"].to_str().unwrap();
    Authorization::parse(value).unwrap()
}

#[test]
fn every_vector_canonicalises_like_the_sdk_and_verifies() {
    for case in cases() {
        let auth = authorization(&case.request);
        let canonical = canonical_request(&case.request, auth.signed_headers).unwrap();
        assert_eq!(
            canonical,
            case.expected["canonical_request"].as_str().unwrap(),
            "canonical request of {:?}",
            case.name
        );
        let date = case.request.headers()["x-sdk-date"].to_str().unwrap();
        assert_eq!(
            string_to_sign(date, &canonical),
            case.expected["string_to_sign"].as_str().unwrap(),
            "{}",
            case.name
        );
        assert_eq!(
            case.request.headers()["authorization"],
            case.expected["authorization"].as_str().unwrap()
        );
        for now in [
            case.date,
            case.date + Duration::from_secs(14 * 60 + 59),
            case.date.checked_sub(Duration::from_secs(15 * 60)).unwrap(),
        ] {
            assert_eq!(
                verify(&case, &case.request, &case.key, now),
                Ok(()),
                "{}",
                case.name
            );
        }
    }
}

/// The request with one change, and what the verifier must say.
fn tampered(case: &Case) -> Vec<(String, Request<Vec<u8>>, SignatureError)> {
    let mut out = Vec::new();
    let mut push = |what: String, change: &dyn Fn(&mut Request<Vec<u8>>), want| {
        let mut request = case.request.clone();
        change(&mut request);
        out.push((what, request, want));
    };
    use SignatureError::*;

    push(
        "signature".into(),
        &|r| {
            let value = r.headers()["authorization"].to_str().unwrap().to_owned();
            let last = if value.ends_with('0') { '1' } else { '0' };
            let changed = format!("{}{last}", &value[..value.len() - 1]);
            r.headers_mut()
                .insert("authorization", changed.parse().unwrap());
        },
        SignatureMismatch,
    );
    let method = if case.request.method() == Method::GET {
        Method::DELETE
    } else {
        Method::GET
    };
    push(
        "method".into(),
        &|r| *r.method_mut() = method.clone(),
        SignatureMismatch,
    );
    // Each change of the request target: a longer path, one more query
    // parameter, one fewer.
    let target = case.request.uri().to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut targets = vec![
        (
            "path",
            match query {
                "" => format!("{path}x"),
                _ => format!("{path}x?{query}"),
            },
        ),
        (
            "query",
            match query {
                "" => format!("{path}?tampered=1"),
                _ => format!("{target}&tampered=1"),
            },
        ),
    ];
    let mut pieces: Vec<&str> = query.split('&').collect();
    if let Some(first) = pieces.iter().position(|p| !p.is_empty()) {
        pieces.remove(first);
        targets.push((
            "a query parameter dropped",
            format!("{path}?{}", pieces.join("&")),
        ));
    }
    for (what, changed) in targets {
        push(
            what.into(),
            &|r| *r.uri_mut() = changed.parse().unwrap(),
            SignatureMismatch,
        );
    }

    let auth = authorization(&case.request);
    for name in auth.signed_headers.split(';') {
        let name = name.to_owned();
        let (value, want) = match name.as_str() {
            "x-sdk-date" => {
                // One second later: still fresh, but not what was signed.
                let later = case.date + Duration::from_secs(1);
                (sdk_date(later), SignatureMismatch)
            }
            "host" => ("evil.example".to_owned(), SignatureMismatch),
            "x-security-token" => ("another-token".to_owned(), SecurityToken),
            _ => {
                let old = case.request.headers()[name.as_str()]
                    .to_str()
                    .map(str::to_owned);
                (
                    format!("{}x", old.unwrap_or_default().trim()),
                    SignatureMismatch,
                )
            }
        };
        push(
            format!("header {name}"),
            &|r| {
                r.headers_mut().insert(
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    value.parse().unwrap(),
                );
            },
            want,
        );
        let want = match name.as_str() {
            "x-sdk-date" => MissingDate,
            "x-security-token" => SecurityToken,
            _ => MissingSignedHeader,
        };
        push(
            format!("header {name} removed"),
            &|r| {
                r.headers_mut().remove(name.as_str());
            },
            want,
        );
    }

    let unsigned_payload = case.request.headers().contains_key("x-sdk-content-sha256");
    if !unsigned_payload || case.request.body().is_empty() {
        push(
            "body".into(),
            &|r| r.body_mut().push(b'x'),
            SignatureMismatch,
        );
    }
    out
}

#[test]
fn any_change_to_a_signed_part_is_refused() {
    let mut checked = 0;
    for case in cases() {
        for (what, request, want) in tampered(&case) {
            assert_eq!(
                verify(&case, &request, &case.key, case.date),
                Err(want),
                "{}: {what} changed",
                case.name
            );
            checked += 1;
        }
    }
    assert!(checked > 500, "only {checked} tampered requests");
}

#[test]
fn wrong_secret_unknown_key_and_stale_dates_are_refused() {
    for case in cases() {
        let mut wrong = case.key.clone();
        wrong.secret_key.push('x');
        assert_eq!(
            verify(&case, &case.request, &wrong, case.date),
            Err(SignatureError::SignatureMismatch),
            "{}",
            case.name
        );
        assert_eq!(
            signature::verify(&case.request, |_| None, case.date),
            Err(SignatureError::UnknownAccessKey),
            "{}",
            case.name
        );
        for now in [
            case.date + Duration::from_secs(15 * 60 + 1),
            case.date
                .checked_sub(Duration::from_secs(15 * 60 + 1))
                .unwrap(),
        ] {
            assert_eq!(
                verify(&case, &case.request, &case.key, now),
                Err(SignatureError::StaleDate),
                "{}",
                case.name
            );
        }
        // A temporary key pair needs its token; a permanent one refuses one.
        let mut other = case.key.clone();
        other.security_token = match &case.key.security_token {
            Some(_) => None,
            None => Some("expected-token".to_owned()),
        };
        assert_eq!(
            verify(&case, &case.request, &other, case.date),
            Err(SignatureError::SecurityToken),
            "{}",
            case.name
        );
    }
}

#[test]
fn unsigned_headers_and_an_unsigned_payload_may_change() {
    for case in cases() {
        let mut request = case.request.clone();
        request
            .headers_mut()
            .insert("x-added-by-a-proxy", HeaderValue::from_static("1"));
        assert_eq!(
            verify(&case, &request, &case.key, case.date),
            Ok(()),
            "{}",
            case.name
        );
        // The official scheme leaves the body out of the signature when
        // X-Sdk-Content-Sha256 is UNSIGNED-PAYLOAD and the body is not empty.
        if request.headers().contains_key("x-sdk-content-sha256") && !request.body().is_empty() {
            request.body_mut().push(b'x');
            assert_eq!(
                verify(&case, &request, &case.key, case.date),
                Ok(()),
                "{}",
                case.name
            );
        }
    }
}
