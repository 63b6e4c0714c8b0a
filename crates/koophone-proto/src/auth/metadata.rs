//! Temporary AK/SK credentials from the ECS/BMS instance metadata service:
//! the credentials of the agency the instance runs with, as the official
//! SDKs fetch them when no other credentials are given.
//!
//! Two calls, both plain HTTP to `http://169.254.169.254`:
//!
//! 1. `PUT /meta-data/latest/api/token` with `X-Metadata-Token-Ttl-Seconds:
//!    21600` answers a session token in its body; 404, 405 and 503 mean the
//!    service has no session tokens, and the next call goes without one.
//! 2. `GET /openstack/latest/securitykey` with `X-Metadata-Token: <session
//!    token>` answers `{"credential":{"access","secret","securitytoken",
//!    "expires_at"}}`. A 401 whose body does not say
//!    `Please configure Cloud Service Agency first` means the session token
//!    expired: get a new one, once.
//!
//! [`SecurityKeyFetch`] sequences the two (a driver loops: send
//! [`SecurityKeyFetch::request`], feed the answer to
//! [`SecurityKeyFetch::handle_response`] until it is done), and
//! [`CredentialCache`] decides when the credentials it got need renewing,
//! with the rules of the IAM [`TokenCache`]. Nothing here does I/O or reads
//! a clock. No error, and no `Debug`, shows a secret key or a token.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::USER_AGENT;
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::auth::iam::IssuedToken;
use crate::auth::signing::{AkSkCredentials, SecretKey, SecurityToken};
use crate::auth::token_cache::{
    RefreshPolicy, RefreshTicket, TokenCache, TokenId, TokenState, UnauthorizedAction,
};
use crate::endpoint::{Endpoint, Token};
use crate::error::{InvalidInput, InvalidReason};

/// Where the metadata service answers on every ECS and BMS instance.
pub const DEFAULT_METADATA_ENDPOINT: &str = "http://169.254.169.254";
/// The path of the session-token call.
pub const SESSION_TOKEN_PATH: &str = "/meta-data/latest/api/token";
/// The path of the temporary-credentials call.
pub const SECURITY_KEY_PATH: &str = "/openstack/latest/securitykey";
/// The session-token request header giving the wanted lifetime in seconds.
pub const HEADER_TOKEN_TTL: HeaderName = HeaderName::from_static("x-metadata-token-ttl-seconds");
/// The securitykey request header carrying the session token.
pub const HEADER_METADATA_TOKEN: HeaderName = HeaderName::from_static("x-metadata-token");
/// The session-token lifetime the SDKs ask for, and the longest allowed: 6 hours.
pub const SESSION_TOKEN_TTL: Duration = Duration::from_secs(21_600);
/// What a 401 from the securitykey call says when the instance has no agency
/// (as opposed to a session token that expired).
pub const NO_AGENCY_MESSAGE: &str = "Please configure Cloud Service Agency first";

/// Reuse a session token until this long before its lifetime ends, so it
/// does not expire between being chosen and being checked.
const SESSION_TOKEN_MARGIN: Duration = Duration::from_secs(60);
/// The most of an error body kept in an error value.
const SNIPPET_MAX_BYTES: usize = 256;

/// A metadata session token and when it stops being worth sending. Redacted
/// in `Debug`, no `Display`.
#[derive(Clone)]
pub struct MetadataSessionToken {
    value: HeaderValue,
    reuse_until: SystemTime,
}

impl MetadataSessionToken {
    /// Whether to send it at `now` rather than ask for a new one.
    pub fn is_usable(&self, now: SystemTime) -> bool {
        now < self.reuse_until
    }

    /// The token as a sensitive header value.
    pub fn header_value(&self) -> &HeaderValue {
        &self.value
    }
}

impl fmt::Debug for MetadataSessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataSessionToken")
            .field("value", &"<redacted>")
            .field("reuse_until", &self.reuse_until)
            .finish()
    }
}

/// Temporary AK/SK credentials (with their security token) and when they
/// expire. `Debug` shows the access key and expiry only.
#[derive(Debug, Clone)]
pub struct TemporaryCredentials {
    /// The credentials to sign with; they carry the security token.
    pub credentials: AkSkCredentials,
    /// `credential.expires_at`, the metadata service's wall-clock time.
    pub expires_at: SystemTime,
}

/// What the session-token call answered.
#[derive(Debug, Clone)]
pub enum SessionTokenAnswer {
    /// A session token to send with the securitykey call.
    Token(MetadataSessionToken),
    /// The service has no session tokens (404, 405 or 503): call securitykey without one.
    Unsupported(StatusCode),
}

/// Why the metadata service gave no credentials. Never carries a secret:
/// the body of a successful answer is never quoted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// A 401 that is not about the agency: the session token expired or was refused.
    #[error("the metadata service refused the session token (401)")]
    SessionExpired,
    /// The instance has no agency, so it has no temporary credentials.
    #[error("the instance has no agency: configure a Cloud Service Agency for it")]
    NoAgency,
    /// 404: no securitykey here (not an ECS/BMS instance, or no such API).
    #[error("the metadata service has no temporary credentials here (404)")]
    NotFound,
    /// Any other unexpected status; `message` is a bounded, lossy snippet of the body.
    #[error("the metadata service answered {status}: {message}")]
    Status {
        /// The HTTP status.
        status: StatusCode,
        /// The start of the body.
        message: String,
    },
    /// A successful answer that cannot be used; the reason never quotes the body.
    #[error("malformed metadata answer ({status}): {reason}")]
    Malformed {
        /// The HTTP status.
        status: StatusCode,
        /// What is wrong.
        reason: String,
    },
}

/// The URI of `path` under `endpoint`.
fn uri(endpoint: &Endpoint, path: &str) -> Result<Uri, InvalidInput> {
    let text = format!("{}{path}", endpoint.as_str());
    Uri::try_from(text).map_err(|_| InvalidInput {
        field: "metadata_endpoint",
        reason: InvalidReason::Unencodable,
    })
}

fn finish(
    builder: http::request::Builder,
    user_agent: Option<&HeaderValue>,
) -> Result<Request<Vec<u8>>, InvalidInput> {
    let builder = match user_agent {
        Some(ua) => builder.header(USER_AGENT, ua.clone()),
        None => builder,
    };
    builder.body(Vec::new()).map_err(|_| InvalidInput {
        field: "metadata_endpoint",
        reason: InvalidReason::Unencodable,
    })
}

/// `PUT {endpoint}/meta-data/latest/api/token` asking for a token of `ttl`
/// (whole seconds, 1 to 21600; other values are clamped into that range).
pub fn session_token_request(
    endpoint: &Endpoint,
    ttl: Duration,
    user_agent: Option<&HeaderValue>,
) -> Result<Request<Vec<u8>>, InvalidInput> {
    let seconds = ttl.as_secs().clamp(1, SESSION_TOKEN_TTL.as_secs());
    let builder = Request::builder()
        .method(Method::PUT)
        .uri(uri(endpoint, SESSION_TOKEN_PATH)?)
        .header(HEADER_TOKEN_TTL, HeaderValue::from(seconds));
    finish(builder, user_agent)
}

/// Decode the session-token answer received at `now` to a request for
/// `ttl`: 200 with the token as the body, 404/405/503 "unsupported", any
/// other status an error.
pub fn decode_session_token(
    response: Response<&[u8]>,
    ttl: Duration,
    now: SystemTime,
) -> Result<SessionTokenAnswer, MetadataError> {
    let status = response.status();
    if matches!(status.as_u16(), 404 | 405 | 503) {
        return Ok(SessionTokenAnswer::Unsupported(status));
    }
    if !status.is_success() {
        return Err(status_error(status, response.body()));
    }
    let malformed = |reason: &str| MetadataError::Malformed {
        status,
        reason: reason.to_owned(),
    };
    let text = std::str::from_utf8(response.body())
        .map_err(|_| malformed("the session token is not UTF-8"))?
        .trim();
    if text.is_empty() {
        return Err(malformed("the session token is empty"));
    }
    let mut value = HeaderValue::from_str(text)
        .ok()
        .filter(|_| text.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| malformed("the session token is not printable ASCII"))?;
    value.set_sensitive(true);
    let ttl = ttl.clamp(Duration::from_secs(1), SESSION_TOKEN_TTL);
    let reuse_for = ttl.saturating_sub(SESSION_TOKEN_MARGIN.min(ttl / 2));
    Ok(SessionTokenAnswer::Token(MetadataSessionToken {
        value,
        reuse_until: now.checked_add(reuse_for).unwrap_or(now),
    }))
}

/// `GET {endpoint}/openstack/latest/securitykey`, with the session token if any.
pub fn security_key_request(
    endpoint: &Endpoint,
    session: Option<&MetadataSessionToken>,
    user_agent: Option<&HeaderValue>,
) -> Result<Request<Vec<u8>>, InvalidInput> {
    let mut builder = Request::builder()
        .method(Method::GET)
        .uri(uri(endpoint, SECURITY_KEY_PATH)?);
    if let Some(session) = session {
        builder = builder.header(HEADER_METADATA_TOKEN, session.value.clone());
    }
    finish(builder, user_agent)
}

#[derive(Deserialize)]
struct SecurityKeyBody {
    credential: CredentialFields,
}

#[derive(Deserialize)]
struct CredentialFields {
    access: String,
    secret: String,
    securitytoken: String,
    expires_at: String,
}

/// Decode the securitykey answer: credentials, or why there are none.
pub fn decode_security_key(
    response: Response<&[u8]>,
) -> Result<TemporaryCredentials, MetadataError> {
    let status = response.status();
    let body = response.body();
    if status == StatusCode::UNAUTHORIZED {
        let says_no_agency = String::from_utf8_lossy(body).contains(NO_AGENCY_MESSAGE);
        return Err(if says_no_agency {
            MetadataError::NoAgency
        } else {
            MetadataError::SessionExpired
        });
    }
    if status == StatusCode::NOT_FOUND {
        return Err(MetadataError::NotFound);
    }
    if !status.is_success() {
        return Err(status_error(status, body));
    }
    let malformed = |reason: String| MetadataError::Malformed { status, reason };
    // serde's messages may quote a value, which here would be a secret: only
    // the position is kept.
    let fields = serde_json::from_slice::<SecurityKeyBody>(body)
        .map_err(|e| {
            malformed(format!(
                "not a securitykey body with credential.access, secret, securitytoken \
                 and expires_at strings (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?
        .credential;
    let field = |name: &'static str| {
        move |e: InvalidInput| malformed(format!("credential.{name} {}", e.reason))
    };
    let secret = SecretKey::new(&fields.secret).map_err(field("secret"))?;
    let token = SecurityToken::new(&fields.securitytoken).map_err(field("securitytoken"))?;
    let credentials = AkSkCredentials::new(&fields.access, secret)
        .map_err(field("access"))?
        .with_security_token(token);
    let expires_at = parse_expiry(&fields.expires_at).ok_or_else(|| {
        malformed("credential.expires_at is not a time such as 2026-01-01T00:00:00.000000Z".into())
    })?;
    Ok(TemporaryCredentials {
        credentials,
        expires_at,
    })
}

/// `2026-01-01T00:00:00.000000Z` (RFC 3339); `None` before 1970.
pub fn parse_expiry(text: &str) -> Option<SystemTime> {
    let at = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    let seconds = u64::try_from(at.unix_timestamp()).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(seconds, at.nanosecond()))
}

fn status_error(status: StatusCode, body: &[u8]) -> MetadataError {
    let cut = body.len().min(SNIPPET_MAX_BYTES);
    let text = String::from_utf8_lossy(&body[..cut]);
    let message: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let message = message.trim();
    MetadataError::Status {
        status,
        message: if message.is_empty() {
            status.canonical_reason().unwrap_or("no reason").to_owned()
        } else {
            message.to_owned()
        },
    }
}

/// The two metadata calls in order: a session token (unless a usable one is
/// given), then the credentials, renewing the session token once when the
/// service says it expired.
///
/// ```text
/// let mut fetch = SecurityKeyFetch::new(endpoint, cached_session, now);
/// loop {
///     let request = fetch.request(user_agent)?;
///     let response = send(request)?;        // a transport error ends the fetch
///     if let Some(outcome) = fetch.handle_response(response, now) { break outcome }
/// }
/// // keep fetch.session() for the next fetch
/// ```
#[derive(Debug, Clone)]
pub struct SecurityKeyFetch {
    endpoint: Endpoint,
    session: Option<MetadataSessionToken>,
    step: Step,
    renewed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    SessionToken,
    SecurityKey,
}

impl SecurityKeyFetch {
    /// A fetch from `endpoint`, reusing `session` when still usable at `now`.
    pub fn new(
        endpoint: Endpoint,
        session: Option<MetadataSessionToken>,
        now: SystemTime,
    ) -> SecurityKeyFetch {
        let session = session.filter(|s| s.is_usable(now));
        let step = if session.is_some() {
            Step::SecurityKey
        } else {
            Step::SessionToken
        };
        SecurityKeyFetch {
            endpoint,
            session,
            step,
            renewed: false,
        }
    }

    /// The request to send now.
    pub fn request(
        &self,
        user_agent: Option<&HeaderValue>,
    ) -> Result<Request<Vec<u8>>, InvalidInput> {
        match self.step {
            Step::SessionToken => {
                session_token_request(&self.endpoint, SESSION_TOKEN_TTL, user_agent)
            }
            Step::SecurityKey => {
                security_key_request(&self.endpoint, self.session.as_ref(), user_agent)
            }
        }
    }

    /// Whether the request to send now is the session-token call.
    pub fn is_asking_session_token(&self) -> bool {
        self.step == Step::SessionToken
    }

    /// Feed the answer to [`SecurityKeyFetch::request`], received at `now`:
    /// `None` means send the next request, `Some` is the outcome.
    pub fn handle_response(
        &mut self,
        response: Response<&[u8]>,
        now: SystemTime,
    ) -> Option<Result<TemporaryCredentials, MetadataError>> {
        match self.step {
            Step::SessionToken => {
                match decode_session_token(response, SESSION_TOKEN_TTL, now) {
                    Ok(SessionTokenAnswer::Token(token)) => self.session = Some(token),
                    Ok(SessionTokenAnswer::Unsupported(_)) => self.session = None,
                    Err(e) => return Some(Err(e)),
                }
                self.step = Step::SecurityKey;
                None
            }
            Step::SecurityKey => match decode_security_key(response) {
                Err(MetadataError::SessionExpired) if self.session.is_some() && !self.renewed => {
                    self.renewed = true;
                    self.session = None;
                    self.step = Step::SessionToken;
                    None
                }
                outcome => Some(outcome),
            },
        }
    }

    /// The session token in use, to pass to the next fetch.
    pub fn session(&self) -> Option<&MetadataSessionToken> {
        self.session.as_ref()
    }
}

/// Identifies one set of credentials the cache handed out.
pub type CredentialsId = TokenId;

/// A set of credentials to sign with and its id for reports.
#[derive(Debug, Clone, Copy)]
pub struct CredentialLease<'a> {
    /// The credentials.
    pub credentials: &'a AkSkCredentials,
    /// Pass this to [`CredentialCache::on_unauthorized`] or [`CredentialCache::on_accepted`].
    pub id: CredentialsId,
    /// When they expire.
    pub expires_at: SystemTime,
}

/// What to do before signing a request.
#[derive(Debug, Clone, Copy)]
pub enum CredentialState<'a> {
    /// Sign with these.
    Fresh(CredentialLease<'a>),
    /// Sign with these, and start a refresh ([`CredentialCache::begin_refresh`]).
    RefreshDue(CredentialLease<'a>),
    /// None usable: refresh first.
    RefreshRequired,
}

/// Why [`CredentialCache::complete_refresh`] did not store credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsRejected {
    /// Their expiry is not after `now`.
    #[error("the temporary credentials received have already expired")]
    AlreadyExpired,
}

/// The current temporary credentials and when to renew them: exactly the
/// IAM [`TokenCache`]'s rules (refresh at the larger of 1 hour and 10% of the
/// lifetime before expiry, at most half the lifetime; single-flight tickets;
/// a failed refresh keeps valid credentials and waits the retry delay; a 401
/// drops them once), which this cache runs on. Credentials that come back
/// unchanged from a refresh count as a failed refresh, so a service that
/// rotates late is asked again after the retry delay, not in a tight loop.
#[derive(Debug, Default)]
pub struct CredentialCache {
    timing: TokenCache,
    current: Option<(TokenId, TemporaryCredentials)>,
}

/// The cache's timing runs on token ids; it never sees or sends this value.
const PLACEHOLDER: &str = "temporary-credentials";

impl CredentialCache {
    /// An empty cache: the first state is `RefreshRequired`.
    pub fn new(policy: RefreshPolicy) -> CredentialCache {
        CredentialCache {
            timing: TokenCache::new(policy),
            current: None,
        }
    }

    /// What to do before signing at `now`.
    pub fn state(&self, now: SystemTime) -> CredentialState<'_> {
        let lease = |id: TokenId| {
            let (held, creds) = self.current.as_ref().filter(|(held, _)| *held == id)?;
            Some(CredentialLease {
                credentials: &creds.credentials,
                id: *held,
                expires_at: creds.expires_at,
            })
        };
        match self.timing.state(now) {
            TokenState::Fresh(l) => {
                lease(l.id).map_or(CredentialState::RefreshRequired, CredentialState::Fresh)
            }
            TokenState::RefreshDue(l) => lease(l.id).map_or(
                CredentialState::RefreshRequired,
                CredentialState::RefreshDue,
            ),
            TokenState::RefreshRequired => CredentialState::RefreshRequired,
        }
    }

    /// When the current credentials become due for refresh.
    pub fn next_refresh_at(&self) -> Option<SystemTime> {
        self.timing.next_refresh_at()
    }

    /// Start a refresh; `None` when another is in flight.
    pub fn begin_refresh(&mut self, now: SystemTime) -> Option<RefreshTicket> {
        self.timing.begin_refresh(now)
    }

    /// Store credentials the metadata service gave.
    pub fn complete_refresh(
        &mut self,
        ticket: RefreshTicket,
        fetched: TemporaryCredentials,
        now: SystemTime,
    ) -> Result<CredentialsId, CredentialsRejected> {
        if let Some((id, current)) = &self.current
            && current.expires_at == fetched.expires_at
            && current.credentials.access_key() == fetched.credentials.access_key()
            && matches!(self.timing.state(now), TokenState::Fresh(l) | TokenState::RefreshDue(l) if l.id == *id)
        {
            let id = *id;
            self.timing.fail_refresh(ticket, now);
            return Ok(id);
        }
        let placeholder =
            Token::new(PLACEHOLDER).map_err(|_| CredentialsRejected::AlreadyExpired)?;
        let issued = IssuedToken {
            token: placeholder,
            expires_at: fetched.expires_at,
        };
        let id = self
            .timing
            .complete_refresh(ticket, issued, now)
            .map_err(|_| CredentialsRejected::AlreadyExpired)?;
        self.current = Some((id, fetched));
        Ok(id)
    }

    /// The refresh failed.
    pub fn fail_refresh(&mut self, ticket: RefreshTicket, now: SystemTime) {
        self.timing.fail_refresh(ticket, now);
    }

    /// The service answered 401 to a request signed with `refused`.
    pub fn on_unauthorized(&mut self, refused: CredentialsId) -> UnauthorizedAction {
        self.timing.on_unauthorized(refused)
    }

    /// The service accepted a request signed with `id`.
    pub fn on_accepted(&mut self, id: CredentialsId) {
        self.timing.on_accepted(id);
    }
}
