//! SDK-HMAC-SHA256 verification, the gateway side of Huawei Cloud's AK/SK
//! request signing, written from the official signer's rules
//! (huaweicloudsdkcore 3.1.219) and checked against signatures that signer
//! produced (`tests/vectors/signing.json`, `tests/data/signed_requests.json`).
//! It shares no code with koophone-proto's signer, so each checks the other.
//!
//! The canonical request is rebuilt from what arrives on the wire:
//!
//! ```text
//! METHOD\nURI\nQUERY\nname:value\n...\n\nsigned;names\npayload-hash
//! ```
//!
//! - URI: the path percent-decoded (invalid UTF-8 becomes U+FFFD), split on
//!   `/`, each segment percent-encoded except `A-Z a-z 0-9 - . _ ~`
//!   (upper-case hex), `/` appended unless it already ends with one;
//! - QUERY: the raw query split on `&` (empty pieces dropped), each piece
//!   split at its first `=`, both sides decoded, the pairs sorted by key then
//!   value and encoded like path segments, joined `k=v&...`;
//! - headers: the ones `SignedHeaders` names, in its order, one line per
//!   value (values trimmed, sorted); `host` falls back to the URI's authority;
//! - payload hash: that of the empty string for an empty body, else the
//!   `X-Sdk-Content-Sha256` value when non-empty (`UNSIGNED-PAYLOAD`), else
//!   the hex SHA-256 of the body.
//!
//! The string to sign is `SDK-HMAC-SHA256\n<X-Sdk-Date>\n<hex sha256(canonical)>`
//! and the signature the hex HMAC-SHA256 of it keyed with the SK's UTF-8 bytes.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use hmac::{Hmac, KeyInit, Mac};
use http::Request;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

use crate::scenario::AccessKeySpec;

/// The signing algorithm, first word of the `Authorization` header.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
/// The request header carrying the signing time, `YYYYMMDDTHHMMSSZ`.
pub const DATE_HEADER: &str = "x-sdk-date";
/// The request header that replaces the body hash (`UNSIGNED-PAYLOAD`).
pub const CONTENT_SHA256_HEADER: &str = "x-sdk-content-sha256";
/// The request header of a temporary key pair's security token.
pub const SECURITY_TOKEN_HEADER: &str = "x-security-token";
/// How far `X-Sdk-Date` may be from the gateway's clock, either way.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// SHA-256 of the empty string, the payload hash of an empty body.
const EMPTY_HASH: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// What Python's `quote(s, safe='~')` leaves alone: RFC 3986 unreserved.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why a signed request was refused. Every variant is a 401 from the
/// gateway; none carries the secret, the signature or a header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// `Authorization` is not `SDK-HMAC-SHA256 Access=.., SignedHeaders=.., Signature=..`.
    #[error("the Authorization header is malformed")]
    MalformedAuthorization,
    /// The algorithm is not SDK-HMAC-SHA256.
    #[error("the signing algorithm is not SDK-HMAC-SHA256")]
    UnsupportedAlgorithm,
    /// No key pair has this AK.
    #[error("the access key does not exist")]
    UnknownAccessKey,
    /// `X-Sdk-Date` is absent or not among the signed headers.
    #[error("X-Sdk-Date is missing or not signed")]
    MissingDate,
    /// `X-Sdk-Date` is not a `YYYYMMDDTHHMMSSZ` time.
    #[error("X-Sdk-Date is not a YYYYMMDDTHHMMSSZ time")]
    MalformedDate,
    /// `X-Sdk-Date` is more than [`MAX_CLOCK_SKEW`] from the gateway's clock.
    #[error("X-Sdk-Date is more than 15 minutes from the server's time")]
    StaleDate,
    /// A header named in `SignedHeaders` is not in the request.
    #[error("a signed header is missing from the request")]
    MissingSignedHeader,
    /// The security token is missing, not signed, wrong, or sent with a
    /// permanent key pair.
    #[error("the security token is missing, not signed or does not match the access key")]
    SecurityToken,
    /// The signature does not match: a tampered request or a wrong SK.
    #[error("the signature does not match")]
    SignatureMismatch,
}

impl SignatureError {
    /// The gateway's `error_msg` for this refusal (`error_code` is
    /// `APIGW.0301` for all of them, as on the real gateway).
    pub fn gateway_message(self) -> &'static str {
        match self {
            Self::MalformedAuthorization => {
                "Incorrect IAM authentication information: the Authorization header is malformed"
            }
            Self::UnsupportedAlgorithm => {
                "Incorrect IAM authentication information: unsupported signing algorithm"
            }
            Self::UnknownAccessKey => {
                "Incorrect IAM authentication information: Get secretKey failed,ak:******,err:ak not exist"
            }
            Self::MissingDate => {
                "Incorrect IAM authentication information: X-Sdk-Date is missing or not signed"
            }
            Self::MalformedDate => {
                "Incorrect IAM authentication information: X-Sdk-Date must be YYYYMMDDTHHMMSSZ"
            }
            Self::StaleDate => {
                "Incorrect IAM authentication information: the request time differs from the server time by more than 15 minutes"
            }
            Self::MissingSignedHeader => {
                "Incorrect IAM authentication information: a signed header is missing"
            }
            Self::SecurityToken => {
                "Incorrect IAM authentication information: verify security token fail"
            }
            Self::SignatureMismatch => {
                "Incorrect IAM authentication information: verify aksk signature fail"
            }
        }
    }
}

/// The three parameters of an SDK-HMAC-SHA256 `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authorization<'a> {
    /// `Access=`: the AK.
    pub access_key: &'a str,
    /// `SignedHeaders=`: lower-case names joined with `;`.
    pub signed_headers: &'a str,
    /// `Signature=`: hex HMAC-SHA256.
    pub signature: &'a str,
}

impl<'a> Authorization<'a> {
    /// Parses `SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=HEX`
    /// (parameters in any order, spaces around commas optional, each once).
    pub fn parse(value: &'a str) -> Result<Self, SignatureError> {
        let (algorithm, params) = value
            .trim()
            .split_once(' ')
            .ok_or(SignatureError::MalformedAuthorization)?;
        if algorithm != ALGORITHM {
            return Err(SignatureError::UnsupportedAlgorithm);
        }
        let (mut access_key, mut signed_headers, mut signature) = (None, None, None);
        for param in params.split(',') {
            let (name, value) = param
                .trim()
                .split_once('=')
                .ok_or(SignatureError::MalformedAuthorization)?;
            let slot = match name {
                "Access" => &mut access_key,
                "SignedHeaders" => &mut signed_headers,
                "Signature" => &mut signature,
                _ => return Err(SignatureError::MalformedAuthorization),
            };
            if slot.replace(value).is_some() || value.is_empty() {
                return Err(SignatureError::MalformedAuthorization);
            }
        }
        match (access_key, signed_headers, signature) {
            (Some(access_key), Some(signed_headers), Some(signature)) => Ok(Self {
                access_key,
                signed_headers,
                signature,
            }),
            _ => Err(SignatureError::MalformedAuthorization),
        }
    }
}

/// Checks the request's `Authorization` signature. `key` looks up the key
/// pair of an AK; `now` is the gateway's wall-clock time. Returns the AK.
pub fn verify<'r, 'k, B: AsRef<[u8]>>(
    request: &'r Request<B>,
    key: impl FnOnce(&str) -> Option<&'k AccessKeySpec>,
    now: SystemTime,
) -> Result<&'r str, SignatureError> {
    let value = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(SignatureError::MalformedAuthorization)?;
    let auth = Authorization::parse(value)?;
    let key = key(auth.access_key).ok_or(SignatureError::UnknownAccessKey)?;
    let signed = || auth.signed_headers.split(';');
    if !signed().any(|name| name.eq_ignore_ascii_case(DATE_HEADER)) {
        return Err(SignatureError::MissingDate);
    }
    let date = request
        .headers()
        .get(DATE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .ok_or(SignatureError::MissingDate)?;
    let signed_at = parse_sdk_date(date).ok_or(SignatureError::MalformedDate)?;
    let skew = match now.duration_since(signed_at) {
        Ok(behind) => behind,
        Err(ahead) => ahead.duration(),
    };
    if skew > MAX_CLOCK_SKEW {
        return Err(SignatureError::StaleDate);
    }
    let sent_token = request
        .headers()
        .get(SECURITY_TOKEN_HEADER)
        .map(|v| v.as_bytes().trim_ascii());
    let token_signed = signed().any(|name| name.eq_ignore_ascii_case(SECURITY_TOKEN_HEADER));
    match (&key.security_token, sent_token) {
        (None, None) => {}
        (Some(expected), Some(sent)) if token_signed && sent == expected.as_bytes() => {}
        _ => return Err(SignatureError::SecurityToken),
    }
    let canonical = canonical_request(request, auth.signed_headers)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(key.secret_key.as_bytes())
        .map_err(|_| SignatureError::SignatureMismatch)?;
    mac.update(string_to_sign(date, &canonical).as_bytes());
    let claimed = hex::decode(auth.signature).map_err(|_| SignatureError::SignatureMismatch)?;
    // Constant-time comparison.
    mac.verify_slice(&claimed)
        .map_err(|_| SignatureError::SignatureMismatch)?;
    Ok(auth.access_key)
}

/// `SDK-HMAC-SHA256\n<date>\n<hex sha256(canonical)>`.
pub fn string_to_sign(date: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{date}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

/// The canonical request of `request` as signed over `signed_headers`
/// (`;`-separated names, in the order given).
pub fn canonical_request<B: AsRef<[u8]>>(
    request: &Request<B>,
    signed_headers: &str,
) -> Result<String, SignatureError> {
    let mut out = String::with_capacity(256);
    out.push_str(&request.method().as_str().to_ascii_uppercase());
    out.push('\n');
    canonical_uri(request.uri().path(), &mut out);
    out.push('\n');
    canonical_query(request.uri().query().unwrap_or(""), &mut out);
    out.push('\n');
    for name in signed_headers.split(';') {
        let mut values: Vec<Cow<'_, str>> = request
            .headers()
            .get_all(name)
            .iter()
            .map(|v| match String::from_utf8_lossy(v.as_bytes()) {
                Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
                Cow::Owned(s) => Cow::Owned(s.trim().to_owned()),
            })
            .collect();
        if values.is_empty()
            && name.eq_ignore_ascii_case("host")
            && let Some(authority) = request.uri().authority()
        {
            values.push(Cow::Borrowed(authority.as_str()));
        }
        if values.is_empty() {
            return Err(SignatureError::MissingSignedHeader);
        }
        values.sort_unstable();
        for value in values {
            out.push_str(name);
            out.push(':');
            out.push_str(&value);
            out.push('\n');
        }
    }
    out.push('\n');
    out.push_str(signed_headers);
    out.push('\n');
    out.push_str(&payload_hash(request));
    Ok(out)
}

fn payload_hash<B: AsRef<[u8]>>(request: &Request<B>) -> Cow<'_, str> {
    let body = request.body().as_ref();
    if body.is_empty() {
        return Cow::Borrowed(EMPTY_HASH);
    }
    let preset = request
        .headers()
        .get(CONTENT_SHA256_HEADER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()))
        .filter(|v| !v.trim().is_empty());
    match preset {
        Some(Cow::Borrowed(v)) => Cow::Borrowed(v.trim()),
        Some(Cow::Owned(v)) => Cow::Owned(v.trim().to_owned()),
        None => Cow::Owned(hex::encode(Sha256::digest(body))),
    }
}

/// Percent-decodes like Python's `unquote`: malformed escapes stay as they
/// are, invalid UTF-8 becomes U+FFFD.
fn unquote(s: &str) -> Cow<'_, str> {
    match percent_decode_str(s).into() {
        Cow::Borrowed(bytes) => String::from_utf8_lossy(bytes),
        Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

/// Writes each of `items` to `out` with `write`, `separator` between them.
fn push_joined<T>(
    out: &mut String,
    separator: char,
    items: impl IntoIterator<Item = T>,
    mut write: impl FnMut(&mut String, T),
) {
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(separator);
        }
        write(out, item);
    }
}

fn canonical_uri(path: &str, out: &mut String) {
    let decoded = unquote(path);
    push_joined(out, '/', decoded.split('/'), |out, segment| {
        out.extend(utf8_percent_encode(segment, SEGMENT));
    });
    if !out.ends_with('/') {
        out.push('/');
    }
}

fn canonical_query(query: &str, out: &mut String) {
    let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            (unquote(key), unquote(value))
        })
        .collect();
    pairs.sort_unstable();
    push_joined(out, '&', &pairs, |out, (key, value)| {
        out.extend(utf8_percent_encode(key, SEGMENT));
        out.push('=');
        out.extend(utf8_percent_encode(value, SEGMENT));
    });
}

/// Parses `YYYYMMDDTHHMMSSZ` (UTC), the only form the signers write.
pub fn parse_sdk_date(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b.get(range)?.iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let year = i32::try_from(digits(0..4)?).ok()?;
    let month = time::Month::try_from(u8::try_from(digits(4..6)?).ok()?).ok()?;
    let day = u8::try_from(digits(6..8)?).ok()?;
    let hour = u8::try_from(digits(9..11)?).ok()?;
    let minute = u8::try_from(digits(11..13)?).ok()?;
    let second = u8::try_from(digits(13..15)?).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let time = time::Time::from_hms(hour, minute, second).ok()?;
    let secs = date.with_time(time).assume_utc().unix_timestamp();
    match u64::try_from(secs) {
        Ok(after) => SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(after)),
        Err(_) => SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_parses_in_any_order_and_refuses_repeats() {
        let a = Authorization::parse(
            "SDK-HMAC-SHA256 Signature=ab, Access=AK,SignedHeaders=host;x-sdk-date",
        )
        .unwrap();
        assert_eq!(
            (a.access_key, a.signed_headers, a.signature),
            ("AK", "host;x-sdk-date", "ab")
        );
        for bad in [
            "",
            "SDK-HMAC-SHA256",
            "SDK-HMAC-SHA256 Access=AK, Signature=ab",
            "SDK-HMAC-SHA256 Access=AK, Access=AK, SignedHeaders=host, Signature=ab",
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=ab, Extra=1",
            "SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature=ab",
        ] {
            assert_eq!(
                Authorization::parse(bad),
                Err(SignatureError::MalformedAuthorization),
                "{bad:?}"
            );
        }
        assert_eq!(
            Authorization::parse("SDK-HMAC-SM3 Access=AK, SignedHeaders=host, Signature=ab"),
            Err(SignatureError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn sdk_dates_are_strict() {
        let t = parse_sdk_date("20240229T235959Z").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            1_709_251_199
        );
        assert_eq!(
            parse_sdk_date("19700101T000000Z"),
            Some(SystemTime::UNIX_EPOCH)
        );
        for bad in [
            "20230229T000000Z",
            "20241324T000000Z",
            "20241124T240000Z",
            "20241124 000000Z",
            "2024112T0000000Z",
            "20241124T000000",
            "+0241124T000000Z",
            "２0241124T000000Z",
        ] {
            assert_eq!(parse_sdk_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn repeated_headers_give_one_sorted_line_per_value_and_host_falls_back() {
        let request = Request::get("http://sim.example:8080/v1?b=2&a=1")
            .header("x-tag", " zeta ")
            .header("x-tag", "alpha")
            .header("x-sdk-date", "20260101T000000Z")
            .body(Vec::<u8>::new())
            .unwrap();
        let canonical = canonical_request(&request, "host;x-sdk-date;x-tag").unwrap();
        assert_eq!(
            canonical,
            format!(
                "GET\n/v1/\na=1&b=2\nhost:sim.example:8080\nx-sdk-date:20260101T000000Z\n\
                 x-tag:alpha\nx-tag:zeta\n\nhost;x-sdk-date;x-tag\n{EMPTY_HASH}"
            )
        );
        assert_eq!(
            canonical_request(&request, "host;x-absent"),
            Err(SignatureError::MissingSignedHeader)
        );
    }

    #[test]
    fn canonical_uri_and_query_follow_python_quote() {
        let mut out = String::new();
        canonical_uri("/v1/%7e%2Fa b/%FF", &mut out);
        assert_eq!(out, "/v1/~/a%20b/%EF%BF%BD/");
        let mut out = String::new();
        canonical_query("b=2&&a=%2b&a&c=x=y", &mut out);
        assert_eq!(out, "a=&a=%2B&b=2&c=x%3Dy");
    }
}
