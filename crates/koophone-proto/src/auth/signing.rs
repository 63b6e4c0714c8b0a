//! AK/SK request signing with `SDK-HMAC-SHA256`, byte for byte as the official
//! Huawei Cloud SDKs sign (checked against huaweicloudsdkcore's signer by the
//! vectors in `tests/vectors/signing.json`), and the matching verification.
//!
//! Each step is a plain public function so that a server can follow the same
//! algorithm and a reader can check it against the SDK:
//!
//! 1. [`AkSkCredentials::sign`] first adds `X-Project-Id` (when configured),
//!    `X-Security-Token` (temporary credentials), `X-Sdk-Content-Sha256:
//!    UNSIGNED-PAYLOAD` (when a `Content-Type` is set that is neither JSON nor
//!    BSON), `X-Sdk-Date` and, when absent, `Host` (the URI's authority).
//! 2. [`canonical_request`]: the upper-cased method, [`canonical_uri`],
//!    [`canonical_query`], [`canonical_headers`], the [`signed_header_names`]
//!    joined by `;`, and [`payload_hash`], one per line.
//! 3. [`string_to_sign`]: `SDK-HMAC-SHA256`, the date, the hex SHA-256 of the
//!    canonical request, one per line.
//! 4. [`signature`]: hex HMAC-SHA-256 of that string keyed with the SK, sent as
//!    `Authorization: SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex`.
//!
//! Like the SDK, signing also rewrites the query string into its canonical form,
//! so what is sent is what was signed.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, percent_encode};
use sha2::{Digest, Sha256};

use crate::error::{InvalidInput, InvalidReason};

/// The algorithm name, first word of the `Authorization` value.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
/// The signing time, `YYYYMMDDTHHMMSSZ` in UTC.
pub const HEADER_SDK_DATE: HeaderName = HeaderName::from_static("x-sdk-date");
/// Overrides the payload hash; the SDK sets it to [`UNSIGNED_PAYLOAD`] for non-JSON bodies.
pub const HEADER_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-sdk-content-sha256");
/// The project the request acts in, when the credentials name one.
pub const HEADER_PROJECT_ID: HeaderName = HeaderName::from_static("x-project-id");
/// The session token of temporary credentials.
pub const HEADER_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-security-token");
/// The payload hash used for bodies the SDK does not sign.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// Hex SHA-256 of the empty string: the payload hash of an empty body.
pub const EMPTY_PAYLOAD_HASH: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// How far `X-Sdk-Date` may be from the verifier's clock: Huawei's API Gateway
/// refuses signed requests more than 15 minutes off.
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// What Python's `urllib.parse.quote(s, safe='~')` percent-encodes: everything
/// but ASCII letters, digits and `-._~`.
const QUOTE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// An AK/SK secret key, kept as the HMAC state it keys (the key schedule is
/// done once, not per request) and as text, to scrub it from anything a
/// server sends back. Redacted in `Debug`, no `Display`.
#[derive(Clone)]
pub struct SecretKey(Hmac<Sha256>, std::sync::Arc<str>);

impl SecretKey {
    /// Accept a secret key: non-empty, no control characters, no surrounding
    /// whitespace (a trailing newline from a file or variable is a mistake, not a key).
    pub fn new(secret: &str) -> Result<SecretKey, InvalidInput> {
        check_text("secret_key", secret)?;
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).map_err(|_| {
            InvalidInput {
                field: "secret_key",
                reason: InvalidReason::Unencodable,
            }
        })?;
        Ok(SecretKey(mac, secret.into()))
    }
}

impl SecretKey {
    /// The key itself. Named so that every use stands out in review.
    pub fn expose_secret(&self) -> &str {
        &self.1
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// The session token of temporary AK/SK credentials, sent as `X-Security-Token`.
/// Redacted in `Debug`, no `Display`.
#[derive(Clone)]
pub struct SecurityToken(HeaderValue);

impl SecurityToken {
    /// Accept a session token: non-empty printable ASCII without surrounding whitespace.
    pub fn new(token: &str) -> Result<SecurityToken, InvalidInput> {
        let mut header = header_text("security_token", token)?;
        header.set_sensitive(true);
        Ok(SecurityToken(header))
    }

    /// The token as a sensitive header value.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }

    /// The token itself. Named so that every use stands out in review.
    pub fn expose_secret(&self) -> &str {
        // Accepted only as printable ASCII, so this never fails.
        self.0.to_str().unwrap_or_default()
    }
}

impl fmt::Debug for SecurityToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecurityToken(<redacted>)")
    }
}

/// AK/SK credentials: what [`AkSkCredentials::sign`] needs. `Debug` shows the
/// access key and project id (both travel in clear text); the secrets print redacted.
#[derive(Debug, Clone)]
pub struct AkSkCredentials {
    access_key: String,
    secret_key: SecretKey,
    project_id: Option<HeaderValue>,
    security_token: Option<SecurityToken>,
}

impl AkSkCredentials {
    /// Credentials from an access key id and its secret key. The access key must
    /// be printable ASCII without spaces or commas, which would make the
    /// `Authorization` value ambiguous.
    pub fn new(access_key: &str, secret_key: SecretKey) -> Result<AkSkCredentials, InvalidInput> {
        header_text("access_key", access_key)?;
        if access_key.contains([' ', ',']) {
            return Err(InvalidInput {
                field: "access_key",
                reason: InvalidReason::Unencodable,
            });
        }
        Ok(AkSkCredentials {
            access_key: access_key.to_owned(),
            secret_key,
            project_id: None,
            security_token: None,
        })
    }

    /// Send (and sign) `X-Project-Id` with every request, as the SDK's
    /// `BasicCredentials` do when given a project id.
    pub fn with_project_id(self, project_id: &str) -> Result<AkSkCredentials, InvalidInput> {
        let project_id = Some(header_text("project_id", project_id)?);
        Ok(AkSkCredentials { project_id, ..self })
    }

    /// Temporary credentials: send (and sign) `X-Security-Token`.
    pub fn with_security_token(self, security_token: SecurityToken) -> AkSkCredentials {
        AkSkCredentials {
            security_token: Some(security_token),
            ..self
        }
    }

    /// The access key id.
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// The secret key.
    pub fn secret_key(&self) -> &SecretKey {
        &self.secret_key
    }

    /// The session token of temporary credentials, if any.
    pub fn security_token(&self) -> Option<&SecurityToken> {
        self.security_token.as_ref()
    }

    /// The project id sent as `X-Project-Id`, if any.
    pub fn project_id(&self) -> Option<&str> {
        self.project_id.as_ref().and_then(|v| v.to_str().ok())
    }

    /// Sign `request` as of `now` (the caller's wall clock: the signature is
    /// valid for a few minutes around it). Adds the headers listed in the
    /// module doc, trims surrounding whitespace off header values, replaces any
    /// `Authorization` and rewrites the query into canonical form.
    ///
    /// Every header present when this is called is signed (except names with
    /// `_`, as in the SDK), so add headers first and sign last.
    pub fn sign<B: AsRef<[u8]>>(
        &self,
        request: &mut Request<B>,
        now: SystemTime,
    ) -> Result<(), SignError> {
        let date = format_sdk_date(now).ok_or(SignError::TimeOutOfRange)?;
        let host = if request.headers().contains_key(HOST) {
            None
        } else {
            let authority = request.uri().authority().ok_or(SignError::MissingHost)?;
            Some(HeaderValue::from_str(authority.as_str()).map_err(|_| SignError::MissingHost)?)
        };
        let headers = request.headers_mut();
        headers.remove(AUTHORIZATION);
        if let Some(project_id) = &self.project_id {
            headers.insert(HEADER_PROJECT_ID, project_id.clone());
        }
        if let Some(token) = &self.security_token {
            headers.insert(HEADER_SECURITY_TOKEN, token.0.clone());
        }
        if sends_unsigned_payload(headers) {
            headers.insert(
                HEADER_CONTENT_SHA256,
                HeaderValue::from_static(UNSIGNED_PAYLOAD),
            );
        }
        let date_value = HeaderValue::from_str(&date).map_err(|_| SignError::TimeOutOfRange)?;
        headers.insert(HEADER_SDK_DATE, date_value);
        if let Some(host) = host {
            headers.insert(HOST, host);
        }
        trim_header_values(headers);

        let signed = signed_header_names(request.headers());
        let canonical = canonical_request(
            request.method(),
            request.uri(),
            request.headers(),
            &signed,
            request.body().as_ref(),
        )
        .ok_or(SignError::Unencodable)?;
        let authorization = SignedAuthorization {
            access_key: self.access_key.clone(),
            signed_headers: signed,
            signature: signature(&self.secret_key, &string_to_sign(&date, &canonical)),
        };
        let mut value = HeaderValue::from_str(&authorization.to_string())
            .map_err(|_| SignError::Unencodable)?;
        value.set_sensitive(true);
        let uri = with_canonical_query(request.uri())?;
        *request.uri_mut() = uri;
        request.headers_mut().insert(AUTHORIZATION, value);
        Ok(())
    }
}

/// Why a request could not be signed; never carries a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// `now` is before 1970 or after 9999, which `X-Sdk-Date` cannot express.
    #[error("signing time is outside the years 1970 to 9999")]
    TimeOutOfRange,
    /// The request has neither a `Host` header nor an authority in its URI.
    #[error("request has no host to sign")]
    MissingHost,
    /// A signed value could not be put back into the request; requests built
    /// by this crate never reach this, it exists so signing never panics.
    #[error("signed request cannot be encoded")]
    Unencodable,
}

/// Why a signed request was refused. Carries header names and the clock
/// difference, never a key or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// No `Authorization` header.
    #[error("missing authorization header")]
    MissingAuthorization,
    /// The `Authorization` header is not a well-formed `SDK-HMAC-SHA256` value
    /// (or there are several).
    #[error("malformed SDK-HMAC-SHA256 authorization header")]
    MalformedAuthorization,
    /// No `X-Sdk-Date` header.
    #[error("missing x-sdk-date header")]
    MissingDate,
    /// `X-Sdk-Date` is not `YYYYMMDDTHHMMSSZ`.
    #[error("malformed x-sdk-date header")]
    MalformedDate,
    /// `X-Sdk-Date` is further from the verifier's clock than allowed.
    #[error("x-sdk-date is {}s away from the verifier's clock", .skew.as_secs())]
    ClockSkew {
        /// How far apart the two are.
        skew: Duration,
    },
    /// A header that must be signed (`host`, `x-sdk-date`) is not in `SignedHeaders`.
    #[error("{0} is not among the signed headers")]
    HeaderNotSigned(HeaderName),
    /// A header named in `SignedHeaders` is not in the request.
    #[error("signed header {0} is missing from the request")]
    MissingSignedHeader(HeaderName),
    /// The signature does not match the request.
    #[error("signature does not match")]
    SignatureMismatch,
}

/// A parsed `Authorization: SDK-HMAC-SHA256 Access=..., SignedHeaders=..., Signature=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAuthorization {
    /// The access key id that signed.
    pub access_key: String,
    /// The signed header names, lower case, in the order they were signed.
    pub signed_headers: Vec<HeaderName>,
    /// The hex signature.
    pub signature: String,
}

impl SignedAuthorization {
    /// Parse the header value. Strict about the shape the SDK writes (three
    /// comma-separated `key=value` fields after the algorithm), lenient only
    /// about spaces after the commas.
    pub fn parse(value: &str) -> Option<SignedAuthorization> {
        let fields = value.strip_prefix(ALGORITHM)?.strip_prefix(' ')?;
        let mut parts = fields.split(',').map(str::trim_start);
        let access_key = parts.next()?.strip_prefix("Access=")?;
        let signed = parts.next()?.strip_prefix("SignedHeaders=")?;
        let signature = parts.next()?.strip_prefix("Signature=")?;
        if parts.next().is_some() || access_key.is_empty() || signature.is_empty() {
            return None;
        }
        let signed_headers = signed
            .split(';')
            .map(|name| {
                let lower = !name.is_empty() && !name.bytes().any(|b| b.is_ascii_uppercase());
                lower.then(|| HeaderName::from_bytes(name.as_bytes()).ok())?
            })
            .collect::<Option<Vec<_>>>()?;
        Some(SignedAuthorization {
            access_key: access_key.to_owned(),
            signed_headers,
            signature: signature.to_owned(),
        })
    }

    /// Find and parse the request's single `Authorization` header.
    pub fn from_request<B>(request: &Request<B>) -> Result<SignedAuthorization, VerifyError> {
        let mut values = request.headers().get_all(AUTHORIZATION).iter();
        let value = values.next().ok_or(VerifyError::MissingAuthorization)?;
        if values.next().is_some() {
            return Err(VerifyError::MalformedAuthorization);
        }
        value
            .to_str()
            .ok()
            .and_then(SignedAuthorization::parse)
            .ok_or(VerifyError::MalformedAuthorization)
    }
}

impl fmt::Display for SignedAuthorization {
    /// The header value, exactly as the SDK writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ALGORITHM} Access={}, SignedHeaders=", self.access_key)?;
        for (i, name) in self.signed_headers.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            f.write_str(name.as_str())?;
        }
        write!(f, ", Signature={}", self.signature)
    }
}

/// Check a request signed by [`AkSkCredentials::sign`] (or an official SDK):
/// the date must be within `max_skew` of `now`, `host` and `x-sdk-date` must be
/// signed, and the signature must match, compared in constant time. Look up the
/// secret with [`SignedAuthorization::from_request`]'s access key first.
pub fn verify<B: AsRef<[u8]>>(
    request: &Request<B>,
    secret: &SecretKey,
    now: SystemTime,
    max_skew: Duration,
) -> Result<SignedAuthorization, VerifyError> {
    let authorization = SignedAuthorization::from_request(request)?;
    let date = request
        .headers()
        .get(HEADER_SDK_DATE)
        .ok_or(VerifyError::MissingDate)?;
    let date = date.to_str().map_err(|_| VerifyError::MalformedDate)?;
    let signed_at = parse_sdk_date(date).ok_or(VerifyError::MalformedDate)?;
    let skew = match now.duration_since(signed_at) {
        Ok(behind) => behind,
        Err(ahead) => ahead.duration(),
    };
    if skew > max_skew {
        return Err(VerifyError::ClockSkew { skew });
    }
    for required in [HOST, HEADER_SDK_DATE] {
        if !authorization.signed_headers.contains(&required) {
            return Err(VerifyError::HeaderNotSigned(required));
        }
    }
    if let Some(missing) = authorization
        .signed_headers
        .iter()
        .find(|name| !request.headers().contains_key(*name))
    {
        return Err(VerifyError::MissingSignedHeader(missing.clone()));
    }
    let expected =
        hex::decode(&authorization.signature).map_err(|_| VerifyError::SignatureMismatch)?;
    let canonical = canonical_request(
        request.method(),
        request.uri(),
        request.headers(),
        &authorization.signed_headers,
        request.body().as_ref(),
    )
    .ok_or(VerifyError::SignatureMismatch)?;
    let mut mac = secret.0.clone();
    mac.update(string_to_sign(date, &canonical).as_bytes());
    mac.verify_slice(&expected)
        .map_err(|_| VerifyError::SignatureMismatch)?;
    Ok(authorization)
}

/// The canonical request: method, URI, query, headers, signed names and
/// payload hash, one per line (the header block ends with its own newline).
/// `None` when a signed header is missing from `headers`.
pub fn canonical_request(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    signed_headers: &[HeaderName],
    body: &[u8],
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(256 + 64 * signed_headers.len());
    out.extend_from_slice(method.as_str().to_ascii_uppercase().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(uri.path()).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query(uri.query().unwrap_or("")).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(&canonical_headers(headers, signed_headers)?);
    out.push(b'\n');
    for (i, name) in signed_headers.iter().enumerate() {
        if i > 0 {
            out.push(b';');
        }
        out.extend_from_slice(name.as_str().as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(payload_hash(headers, body).as_bytes());
    Some(out)
}

/// The SDK's canonical URI: percent-decode the path the way Python's
/// `urllib.parse.unquote` does (so `%2F` becomes a segment separator and
/// invalid UTF-8 becomes U+FFFD), split on `/`, percent-encode each segment
/// keeping only `A-Za-z0-9-._~` (upper-case hex), rejoin and end with `/`.
pub fn canonical_uri(path: &str) -> String {
    let decoded = unquote_like_python(path);
    let mut out = String::with_capacity(path.len() + 1);
    for (i, segment) in decoded.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.extend(percent_encode(segment.as_bytes(), QUOTE_SET));
    }
    if !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// Python's `unquote`: each run of ASCII is percent-decoded (malformed
/// escapes stay as they are) and read as UTF-8 with replacement; other
/// characters pass through.
fn unquote_like_python(path: &str) -> Cow<'_, str> {
    if !path.contains('%') {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while !rest.is_empty() {
        let ascii = rest.find(|c: char| !c.is_ascii()).unwrap_or(rest.len());
        let (run, tail) = rest.split_at(ascii);
        let decoded: Vec<u8> = percent_decode(run.as_bytes()).collect();
        out.push_str(&String::from_utf8_lossy(&decoded));
        let other = tail.find(|c: char| c.is_ascii()).unwrap_or(tail.len());
        out.push_str(&tail[..other]);
        rest = &tail[other..];
    }
    Cow::Owned(out)
}

/// The SDK's canonical query: the `key=value` pairs, percent-decoded (`+` is
/// a plain `+`), sorted by key then value, each re-encoded like
/// [`canonical_uri`]'s segments and joined with `&`. A pair without `=` gets
/// an empty value; empty pairs are dropped.
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode(key.as_bytes()).collect(),
                percent_decode(value.as_bytes()).collect(),
            )
        })
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(query.len());
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.extend(percent_encode(key, QUOTE_SET));
        out.push('=');
        out.extend(percent_encode(value, QUOTE_SET));
    }
    out
}

/// The names the SDK signs: every header present, lower case (as `http`
/// stores them), sorted, except names containing `_`.
pub fn signed_header_names(headers: &HeaderMap) -> Vec<HeaderName> {
    let mut names: Vec<HeaderName> = headers
        .keys()
        .filter(|name| !name.as_str().contains('_'))
        .cloned()
        .collect();
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    names
}

/// One `name:value` line per signed header, each ending in a newline, the
/// value trimmed of surrounding whitespace. The SDK allows one value per
/// header; a repeated header (which it cannot produce) gives one line per
/// value, sorted, as API Gateway's own signers do. `None` when a signed
/// header is missing.
pub fn canonical_headers(headers: &HeaderMap, signed_headers: &[HeaderName]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for name in signed_headers {
        let mut values: Vec<&[u8]> = headers
            .get_all(name)
            .iter()
            .map(|value| trim_value(value.as_bytes()))
            .collect();
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        for value in values {
            out.extend_from_slice(name.as_str().as_bytes());
            out.push(b':');
            out.extend_from_slice(value);
            out.push(b'\n');
        }
    }
    Some(out)
}

/// The last line of the canonical request: [`EMPTY_PAYLOAD_HASH`] for an empty
/// body, else the `X-Sdk-Content-Sha256` value when set, else the hex SHA-256
/// of the body.
pub fn payload_hash<'a>(headers: &'a HeaderMap, body: &[u8]) -> Cow<'a, str> {
    if body.is_empty() {
        return Cow::Borrowed(EMPTY_PAYLOAD_HASH);
    }
    let preset = headers
        .get(HEADER_CONTENT_SHA256)
        .map(|value| trim_value(value.as_bytes()))
        .filter(|value| !value.is_empty());
    match preset {
        Some(value) => String::from_utf8_lossy(value),
        None => Cow::Owned(hex::encode(Sha256::digest(body))),
    }
}

/// `SDK-HMAC-SHA256`, the `X-Sdk-Date` value and the hex SHA-256 of the
/// canonical request, one per line.
pub fn string_to_sign(sdk_date: &str, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{sdk_date}\n{}",
        hex::encode(Sha256::digest(canonical_request))
    )
}

/// Hex HMAC-SHA-256 of the string to sign, keyed with the secret key's UTF-8 bytes.
pub fn signature(secret: &SecretKey, string_to_sign: &str) -> String {
    let mut mac = secret.0.clone();
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// `now` as `X-Sdk-Date` (`YYYYMMDDTHHMMSSZ`, UTC, seconds truncated);
/// `None` before 1970 or after 9999.
pub fn format_sdk_date(now: SystemTime) -> Option<String> {
    let seconds = i64::try_from(now.duration_since(UNIX_EPOCH).ok()?.as_secs()).ok()?;
    let at = time::OffsetDateTime::from_unix_timestamp(seconds).ok()?;
    if at.year() > 9999 {
        return None;
    }
    Some(format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    ))
}

/// Parse `X-Sdk-Date` strictly: exactly `YYYYMMDDTHHMMSSZ`, a real calendar
/// date and time, not before 1970.
pub fn parse_sdk_date(value: &str) -> Option<SystemTime> {
    let bytes = value.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u16> {
        let digits = bytes.get(range)?;
        digits.iter().try_fold(0u16, |acc, b| {
            b.is_ascii_digit().then(|| acc * 10 + u16::from(b - b'0'))
        })
    };
    let month = time::Month::try_from(u8::try_from(number(4..6)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(
        i32::from(number(0..4)?),
        month,
        u8::try_from(number(6..8)?).ok()?,
    )
    .ok()?;
    let time = time::Time::from_hms(
        u8::try_from(number(9..11)?).ok()?,
        u8::try_from(number(11..13)?).ok()?,
        u8::try_from(number(13..15)?).ok()?,
    )
    .ok()?;
    let seconds = time::PrimitiveDateTime::new(date, time)
        .assume_utc()
        .unix_timestamp();
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).ok()?))
}

/// The SDK only sends `UNSIGNED-PAYLOAD` for a non-empty content type that does
/// not start with `application/json` or `application/bson` (case-sensitive, as there).
fn sends_unsigned_payload(headers: &HeaderMap) -> bool {
    headers.get(CONTENT_TYPE).is_some_and(|value| {
        let value = value.as_bytes();
        !value.is_empty()
            && !value.starts_with(b"application/json")
            && !value.starts_with(b"application/bson")
    })
}

/// Python's `str.strip()` on UTF-8 text (Unicode whitespace), ASCII
/// whitespace on other bytes.
fn trim_value(value: &[u8]) -> &[u8] {
    match std::str::from_utf8(value) {
        Ok(text) => text.trim().as_bytes(),
        Err(_) => value.trim_ascii(),
    }
}

/// The SDK sends the trimmed values it signed; do the same.
fn trim_header_values(headers: &mut HeaderMap) {
    for (_, value) in headers.iter_mut() {
        let trimmed = trim_value(value.as_bytes());
        if trimmed.len() != value.as_bytes().len() {
            let sensitive = value.is_sensitive();
            if let Ok(mut new) = HeaderValue::from_bytes(trimmed) {
                new.set_sensitive(sensitive);
                *value = new;
            }
        }
    }
}

/// The URI with its query replaced by the canonical one (and no `?` when
/// that is empty), as the SDK sends it.
fn with_canonical_query(uri: &Uri) -> Result<Uri, SignError> {
    let Some(query) = uri.query() else {
        return Ok(uri.clone());
    };
    let canonical = canonical_query(query);
    let path_and_query = if canonical.is_empty() {
        uri.path().to_owned()
    } else {
        format!("{}?{canonical}", uri.path())
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query =
        Some(PathAndQuery::try_from(path_and_query).map_err(|_| SignError::Unencodable)?);
    Uri::from_parts(parts).map_err(|_| SignError::Unencodable)
}

/// Non-empty, no control characters, no surrounding whitespace.
fn check_text(field: &'static str, value: &str) -> Result<(), InvalidInput> {
    crate::error::check_text(field, value, None)?;
    if value.trim() != value {
        return Err(InvalidInput {
            field,
            reason: InvalidReason::SurroundingWhitespace,
        });
    }
    Ok(())
}

/// [`check_text`], printable ASCII, as a header value. Errors never repeat the value.
fn header_text(field: &'static str, value: &str) -> Result<HeaderValue, InvalidInput> {
    check_text(field, value)?;
    if !value.is_ascii() {
        return Err(InvalidInput {
            field,
            reason: InvalidReason::NotAscii,
        });
    }
    HeaderValue::from_str(value).map_err(|_| InvalidInput {
        field,
        reason: InvalidReason::NotAscii,
    })
}
