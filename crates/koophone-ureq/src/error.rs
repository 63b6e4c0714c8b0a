//! The driver's error: one variant per thing a caller handles differently.

use std::fmt;

use koophone_proto::error::OneLine;
use koophone_proto::fleet::FleetPolicyError;
use koophone_proto::{
    ApiError, InvalidInput, Malformed, PolicyError, RetryAfter, ServiceError, Throttled,
    TransportErrorKind,
};

use crate::transport::TransportError;
use crate::wait::{FailedState, WaitDeadline};
use koophone_proto::auth::MetadataError;

/// Everything a call or a wait can end with other than its answer.
///
/// `Display` is one line; neither it nor `Debug` ever contains a credential.
/// The accessors ([`Error::kind`], [`Error::http_status`], [`Error::error_code`],
/// [`Error::message`], [`Error::request_id`]) give what a report needs without
/// matching on every variant.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Input refused before anything was sent (an id too long, a bad endpoint, no token).
    InvalidInput(InvalidInput),
    /// A wait or retry policy out of range (zero interval, growth below 1, ...).
    InvalidPolicy(PolicyError),
    /// A fleet policy out of range (rate, concurrency, ...): nothing was sent.
    InvalidFleetPolicy(FleetPolicyError),
    /// The service answered with an error (after any retries).
    Service(Box<ServiceError>),
    /// 401: the token was refused.
    Unauthorized(Box<ServiceError>),
    /// 429, still throttled when retries ran out.
    Throttled(Box<Throttled>),
    /// The answer could not be understood.
    Malformed(Box<Malformed>),
    /// A kind of service error added to the core after this driver was written.
    OtherApi(Box<ApiError>),
    /// No usable answer: connect, TLS, timeout, reset or an oversized body.
    Transport(TransportError),
    /// The token source failed to produce a token.
    Credentials(CredentialsError),
    /// IAM did not issue a token for the client's IAM password credentials.
    Iam(Box<IamError>),
    /// The instance metadata service gave no temporary credentials.
    Metadata(Box<MetadataFetchError>),
    /// A wait's deadline passed before the instance got where it was waited for.
    WaitDeadline(Box<WaitDeadline>),
    /// While waiting, the instance reached a failure state.
    FailedState(Box<FailedState>),
    /// The call or wait was cancelled through its [`CancelToken`](crate::CancelToken).
    Cancelled,
}

impl Error {
    /// A stable name for the kind of failure: `invalid_input` (bad input or
    /// policy: nothing was sent), `service`,
    /// `unauthorized`, `throttled`, `malformed`, `transport`, `credentials`,
    /// `timeout` (a wait's deadline), `failed_state` or `cancelled`. An IAM
    /// failure takes the kind of IAM's answer (`unauthorized` for a wrong
    /// password), or `transport`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidInput(_) | Error::InvalidPolicy(_) | Error::InvalidFleetPolicy(_) => {
                "invalid_input"
            }
            Error::Service(_) => "service",
            Error::Unauthorized(_) => "unauthorized",
            Error::Throttled(_) => "throttled",
            Error::Malformed(_) => "malformed",
            Error::OtherApi(_) => "service",
            Error::Transport(_) => "transport",
            Error::Credentials(_) => "credentials",
            Error::Iam(e) => match &**e {
                IamError::Refused(api) => Error::from((**api).clone()).kind(),
                IamError::Transport(_) => "transport",
                IamError::InvalidInput(_) => "invalid_input",
                IamError::AlreadyExpired => "credentials",
            },
            Error::Metadata(e) => match &**e {
                MetadataFetchError::Transport(_) => "transport",
                MetadataFetchError::InvalidInput(_) => "invalid_input",
                MetadataFetchError::Refused(MetadataError::Malformed { .. }) => "malformed",
                MetadataFetchError::Refused(MetadataError::Status { .. }) => "service",
                _ => "credentials",
            },
            Error::WaitDeadline(_) => "timeout",
            Error::FailedState(_) => "failed_state",
            Error::Cancelled => "cancelled",
        }
    }

    /// The service's error behind this one: the error itself, for a wait
    /// deadline the error seen at the last poll, for an IAM failure IAM's answer.
    pub fn api_error(&self) -> Option<ApiErrorRef<'_>> {
        match self {
            Error::Iam(e) => match &**e {
                IamError::Refused(api) => Some(ApiErrorRef::from(&**api)),
                _ => None,
            },
            Error::Service(e) => Some(ApiErrorRef::Service(e)),
            Error::Unauthorized(e) => Some(ApiErrorRef::Unauthorized(e)),
            Error::Throttled(t) => Some(ApiErrorRef::Throttled(t)),
            Error::Malformed(m) => Some(ApiErrorRef::Malformed(m)),
            Error::OtherApi(e) => Some(ApiErrorRef::from(&**e)),
            Error::WaitDeadline(d) => d.last_api_error().map(ApiErrorRef::from),
            _ => None,
        }
    }

    /// The HTTP status of the answer behind this error, when there was one.
    pub fn http_status(&self) -> Option<u16> {
        self.api_error().map(|e| e.status())
    }

    /// The service's error code exactly as received (`KOOPHONE.API.4001`, `APIGW.0301`).
    pub fn error_code(&self) -> Option<&str> {
        match self.api_error()? {
            ApiErrorRef::Service(e) | ApiErrorRef::Unauthorized(e) => e.error_code.as_deref(),
            ApiErrorRef::Throttled(_) | ApiErrorRef::Malformed(_) | ApiErrorRef::Other(_) => None,
        }
    }

    /// The service's message (or, for a malformed answer, what was wrong with
    /// it); `None` when no answer was received: use `Display` then.
    pub fn message(&self) -> Option<&str> {
        match self.api_error()? {
            ApiErrorRef::Service(e) | ApiErrorRef::Unauthorized(e) => Some(&e.message),
            ApiErrorRef::Throttled(t) => Some(&t.message),
            ApiErrorRef::Malformed(m) => Some(&m.reason),
            ApiErrorRef::Other(_) => None,
        }
    }

    /// The request id the service gave its answer.
    pub fn request_id(&self) -> Option<&str> {
        match self.api_error()? {
            ApiErrorRef::Service(e) | ApiErrorRef::Unauthorized(e) => e.request_id.as_deref(),
            ApiErrorRef::Throttled(t) => t.request_id.as_deref(),
            ApiErrorRef::Malformed(m) => m.request_id.as_deref(),
            ApiErrorRef::Other(e) => e.request_id(),
        }
    }

    /// How the transport failed, for [`Error::Transport`] (or a wait deadline
    /// whose last poll failed that way).
    pub fn transport_kind(&self) -> Option<TransportErrorKind> {
        match self {
            Error::Transport(t) => Some(t.kind()),
            Error::Iam(e) => match &**e {
                IamError::Transport(t) => Some(t.kind()),
                _ => None,
            },
            Error::Metadata(e) => match &**e {
                MetadataFetchError::Transport(t) => Some(t.kind()),
                _ => None,
            },
            Error::WaitDeadline(d) => d.last_transport_error(),
            _ => None,
        }
    }

    /// The core's classification: whether sending the same request again may help.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::OtherApi(e) => e.is_retryable(),
            Error::Service(_)
            | Error::Unauthorized(_)
            | Error::Throttled(_)
            | Error::Malformed(_) => self.to_api_error().is_some_and(|e| e.is_retryable()),
            Error::Transport(t) => t.kind().is_retryable(),
            Error::Iam(e) => match &**e {
                IamError::Refused(api) => api.is_retryable(),
                IamError::Transport(t) => t.kind().is_retryable(),
                _ => false,
            },
            Error::Metadata(e) => match &**e {
                MetadataFetchError::Transport(t) => t.kind().is_retryable(),
                _ => false,
            },
            _ => false,
        }
    }

    /// The delay the service asked for, when it did.
    pub fn retry_after(&self) -> Option<RetryAfter> {
        match self {
            Error::Service(e) => e.retry_after,
            Error::Throttled(t) => t.retry_after,
            Error::OtherApi(e) => e.retry_after(),
            _ => None,
        }
    }

    fn to_api_error(&self) -> Option<ApiError> {
        match self {
            Error::Service(e) => Some(ApiError::Service((**e).clone())),
            Error::Unauthorized(e) => Some(ApiError::Unauthorized((**e).clone())),
            Error::Throttled(t) => Some(ApiError::Throttled((**t).clone())),
            Error::Malformed(m) => Some(ApiError::Malformed((**m).clone())),
            _ => None,
        }
    }
}

/// A borrowed view of a service error, whichever variant holds it.
#[derive(Debug, Clone, Copy)]
pub enum ApiErrorRef<'a> {
    /// An error answer.
    Service(&'a ServiceError),
    /// A 401 answer.
    Unauthorized(&'a ServiceError),
    /// A 429 answer.
    Throttled(&'a Throttled),
    /// An answer that could not be understood.
    Malformed(&'a Malformed),
    /// A kind of service error added to the core after this driver was written.
    Other(&'a ApiError),
}

impl ApiErrorRef<'_> {
    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        match self {
            ApiErrorRef::Service(e) | ApiErrorRef::Unauthorized(e) => e.status.as_u16(),
            ApiErrorRef::Throttled(_) => 429,
            ApiErrorRef::Malformed(m) => m.status.as_u16(),
            ApiErrorRef::Other(e) => e.status().as_u16(),
        }
    }
}

impl<'a> From<&'a ApiError> for ApiErrorRef<'a> {
    fn from(e: &'a ApiError) -> Self {
        match e {
            ApiError::Service(s) => ApiErrorRef::Service(s),
            ApiError::Unauthorized(s) => ApiErrorRef::Unauthorized(s),
            ApiError::Throttled(t) => ApiErrorRef::Throttled(t),
            ApiError::Malformed(m) => ApiErrorRef::Malformed(m),
            other => ApiErrorRef::Other(other),
        }
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Service(s) => Error::Service(Box::new(s)),
            ApiError::Unauthorized(s) => Error::Unauthorized(Box::new(s)),
            ApiError::Throttled(t) => Error::Throttled(Box::new(t)),
            ApiError::Malformed(m) => Error::Malformed(Box::new(m)),
            other => Error::OtherApi(Box::new(other)),
        }
    }
}

variant_from!(Error {
    InvalidInput(InvalidInput),
    InvalidPolicy(PolicyError),
    InvalidFleetPolicy(FleetPolicyError),
    Transport(TransportError),
    Credentials(CredentialsError),
});

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidInput(e) => write!(f, "{e}"),
            Error::InvalidPolicy(e) => write!(f, "invalid policy: {e}"),
            Error::InvalidFleetPolicy(e) => write!(f, "invalid fleet policy: {e}"),
            Error::Service(e) => fmt_service(f, "service error", e),
            Error::Unauthorized(e) => fmt_service(f, "unauthorized", e),
            Error::Throttled(t) => {
                f.write_str("throttled")?;
                fmt_message(f, &t.message)?;
                fmt_request_id(f, t.request_id.as_deref())
            }
            Error::Malformed(m) => {
                write!(f, "malformed response (http {})", m.status.as_u16())?;
                fmt_message(f, &m.reason)?;
                fmt_request_id(f, m.request_id.as_deref())
            }
            Error::OtherApi(e) => write!(f, "{e}"),
            Error::Transport(t) => write!(f, "{t}"),
            Error::Credentials(c) => write!(f, "{c}"),
            Error::Iam(e) => write!(f, "{e}"),
            Error::Metadata(e) => write!(f, "{e}"),
            Error::WaitDeadline(d) => write!(f, "{d}"),
            Error::FailedState(s) => write!(f, "{s}"),
            Error::Cancelled => f.write_str("cancelled"),
        }
    }
}

fn fmt_service(f: &mut fmt::Formatter<'_>, what: &str, e: &ServiceError) -> fmt::Result {
    write!(f, "{what}: http {}", e.status.as_u16())?;
    if let Some(code) = &e.error_code {
        f.write_str(" ")?;
        write_one_line(f, code)?;
    }
    fmt_message(f, &e.message)?;
    fmt_request_id(f, e.request_id.as_deref())
}

fn fmt_message(f: &mut fmt::Formatter<'_>, message: &str) -> fmt::Result {
    let message = message.trim();
    if message.is_empty() {
        return Ok(());
    }
    f.write_str(": ")?;
    write_one_line(f, message)
}

fn fmt_request_id(f: &mut fmt::Formatter<'_>, id: Option<&str>) -> fmt::Result {
    match id {
        Some(id) => {
            f.write_str(" (request id ")?;
            write_one_line(f, id)?;
            f.write_str(")")
        }
        None => Ok(()),
    }
}

/// Write text received from the network on one line: control characters
/// (an HTML page's newlines, terminal escapes) become spaces.
fn write_one_line(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    write!(f, "{}", OneLine(text))
}

impl std::error::Error for Error {
    /// What caused this error, never repeated in its `Display`: ureq's error
    /// for a transport failure, the token source's error, the last service
    /// error of a wait that timed out.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Transport(t) => std::error::Error::source(t),
            Error::Credentials(c) => Some(&*c.source),
            Error::Iam(e) => std::error::Error::source(&**e),
            Error::Metadata(e) => std::error::Error::source(&**e),
            Error::WaitDeadline(d) => d.last_error(),
            _ => None,
        }
    }
}

/// Why IAM issued no token. Never carries the password or a token.
#[derive(Debug)]
#[non_exhaustive]
pub enum IamError {
    /// IAM answered with an error: 401 when the user, domain or password is
    /// wrong, 403 when the user may not access the project.
    Refused(Box<ApiError>),
    /// No usable answer from IAM.
    Transport(TransportError),
    /// The token request could not be built (validated credentials never
    /// reach this; it exists so that nothing panics).
    InvalidInput(InvalidInput),
    /// IAM's token had already expired by this machine's clock: the two
    /// clocks disagree by more than the token's lifetime.
    AlreadyExpired,
}

impl fmt::Display for IamError {
    /// `iam issued no token: ` and what happened, on one line (with a hint
    /// when IAM refused the login).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("iam issued no token")?;
        if let IamError::Refused(e) = self
            && let ApiError::Unauthorized(_) = **e
        {
            f.write_str(" (check the user, domain and password)")?;
        }
        f.write_str(": ")?;
        match self {
            IamError::Refused(e) => write!(f, "{}", Error::from((**e).clone())),
            IamError::Transport(t) => write!(f, "{t}"),
            IamError::InvalidInput(e) => write!(f, "{e}"),
            IamError::AlreadyExpired => {
                f.write_str("the token had already expired (check this machine's clock)")
            }
        }
    }
}

impl std::error::Error for IamError {
    /// ureq's error, for a transport failure.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            IamError::Transport(t) => std::error::Error::source(t),
            _ => None,
        }
    }
}

/// The token source failed: its own error is the source.
#[derive(Debug)]
pub struct CredentialsError {
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl CredentialsError {
    /// Wrap the error a token source failed with. Its `Display` must not
    /// contain a credential: it is shown to users.
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> CredentialsError {
        CredentialsError {
            source: source.into(),
        }
    }
}

impl fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("token source failed")
    }
}

impl std::error::Error for CredentialsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}
/// Why the metadata service gave no credentials.
#[derive(Debug)]
#[non_exhaustive]
pub enum MetadataFetchError {
    /// It answered, but not with credentials (no agency, 404, a session
    /// token refused twice, a malformed answer).
    Refused(MetadataError),
    /// No usable answer: nothing listens there, a timeout, a reset.
    Transport(TransportError),
    /// The request could not be built (a valid endpoint never leads here).
    InvalidInput(InvalidInput),
    /// The credentials had already expired by this machine's clock.
    AlreadyExpired,
}

impl fmt::Display for MetadataFetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no temporary credentials from the instance metadata service: ")?;
        match self {
            MetadataFetchError::Refused(e) => write!(f, "{e}"),
            MetadataFetchError::Transport(t) => write!(f, "{t}"),
            MetadataFetchError::InvalidInput(e) => write!(f, "{e}"),
            MetadataFetchError::AlreadyExpired => {
                f.write_str("they had already expired by this machine's clock")
            }
        }
    }
}

impl std::error::Error for MetadataFetchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MetadataFetchError::Transport(t) => std::error::Error::source(t),
            _ => None,
        }
    }
}
