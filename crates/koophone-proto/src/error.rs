//! The error model of the core: what went wrong, and whether trying again can help.

use std::fmt;
use std::time::{Duration, SystemTime};

use http::StatusCode;

use crate::redact::{Redact, Redactor};

/// Input refused before anything was built or sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct InvalidInput {
    /// The field that was refused, as named in the API (`user_id`, `instance_id`, `endpoint`, ...).
    pub field: &'static str,
    /// Why it was refused.
    pub reason: InvalidReason,
}

/// Required text: non-empty, no control characters, and at most `max`
/// characters. Errors never repeat the value (it may be a secret).
pub(crate) fn check_text(
    field: &'static str,
    value: &str,
    max: Option<usize>,
) -> Result<(), InvalidInput> {
    let refuse = |reason| Err(InvalidInput { field, reason });
    if value.is_empty() {
        return refuse(InvalidReason::Empty);
    }
    if value.chars().any(char::is_control) {
        return refuse(InvalidReason::ControlCharacter);
    }
    if let Some(max) = max {
        let len = value.chars().count();
        if len > max {
            return refuse(InvalidReason::TooLong { max, len });
        }
    }
    Ok(())
}

/// Why an input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidReason {
    /// The value is empty.
    #[error("must not be empty")]
    Empty,
    /// The value is longer than the API allows (counted in characters).
    #[error("must be at most {max} characters, got {len}")]
    TooLong {
        /// The documented maximum.
        max: usize,
        /// The length received.
        len: usize,
    },
    /// A list has more entries than the API allows.
    #[error("must have at most {max} entries, got {count}")]
    TooMany {
        /// The documented maximum.
        max: usize,
        /// The number of entries received.
        count: usize,
    },
    /// The value contains a control character.
    #[error("must not contain control characters")]
    ControlCharacter,
    /// The value contains a character that cannot be sent in an HTTP header
    /// (tokens and user agents must be printable ASCII).
    #[error("must be printable ascii")]
    NotAscii,
    /// The value starts or ends with whitespace, which HTTP would silently strip.
    #[error("must not start or end with whitespace")]
    SurroundingWhitespace,
    /// A path parameter is `.` or `..`: proxies and servers normalise such
    /// segments (even percent-encoded) and would change which resource is addressed.
    #[error("must not be \".\" or \"..\"")]
    DotSegment,
    /// The value passed validation but could not be encoded into the request;
    /// validated inputs never reach this, it exists so building never panics.
    #[error("cannot be encoded into the request")]
    Unencodable,
    /// The endpoint URL cannot be used; the text says why (it never repeats the URL,
    /// which may hold a password in its user-info).
    #[error("{0}")]
    Endpoint(String),
}

/// Parsed `Retry-After` header.
///
/// The value is what the service sent and may be very large: add it to an
/// instant with checked arithmetic and cap it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// A delay, from the delta-seconds form, or from an HTTP-date relative to the
    /// response's own `Date` header (so no clock is read).
    Delay(Duration),
    /// An HTTP-date that could not be made relative (the response had no `Date`).
    At(SystemTime),
}

impl RetryAfter {
    /// The delay this asks for, measured from `now` (the caller's wall clock,
    /// since the core reads none); a date in the past means no delay.
    pub fn delay_from(self, now: SystemTime) -> Duration {
        match self {
            RetryAfter::Delay(delay) => delay,
            RetryAfter::At(at) => at.duration_since(now).unwrap_or(Duration::ZERO),
        }
    }
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryAfter::Delay(delay) => write!(f, "{}s", delay.as_secs()),
            RetryAfter::At(at) => f.write_str(&httpdate::fmt_http_date(*at)),
        }
    }
}

/// A failure the service reported: any non-success status with a usable body,
/// or a 200 whose `error_code` is not `"0"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    /// The HTTP status of the response.
    pub status: StatusCode,
    /// The error code exactly as received (`None` when the body had none, e.g. an HTML 502).
    pub error_code: Option<String>,
    /// The error message as received, or a lossy snippet of a non-JSON body.
    pub message: String,
    /// The `X-Request-Id` response header (or the body's `request_id`).
    pub request_id: Option<String>,
    /// CloudDC's `error_type`, when present.
    pub error_type: Option<String>,
    /// `Retry-After`, when the response carried one (503 does, sometimes).
    pub retry_after: Option<RetryAfter>,
}

impl ServiceError {
    /// The typed view of [`ServiceError::error_code`].
    pub fn code(&self) -> Option<ErrorCode> {
        self.error_code.as_deref().map(ErrorCode::parse)
    }
}

/// A 429 answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    /// The body text (the API documents a plain string), lossy and bounded;
    /// the message of a JSON error body when the gateway sent one.
    pub message: String,
    /// When the service asks to be called again.
    pub retry_after: Option<RetryAfter>,
    /// The `X-Request-Id` response header.
    pub request_id: Option<String>,
}

/// A response that does not fit the API: what was wrong and a bounded snippet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// The HTTP status of the response.
    pub status: StatusCode,
    /// What was wrong, in one line.
    pub reason: String,
    /// At most 256 bytes of the body, lossy UTF-8.
    pub snippet: String,
    /// The `X-Request-Id` response header.
    pub request_id: Option<String>,
}

/// Everything a response can mean other than the operation's output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The service answered with an error.
    #[error("{}", DisplayService(.0))]
    Service(ServiceError),
    /// 401: the token (or signature) was refused.
    #[error("unauthorized: {}", DisplayService(.0))]
    Unauthorized(ServiceError),
    /// 429: too many requests.
    #[error("{}", DisplayThrottled(.0))]
    Throttled(Throttled),
    /// The response could not be understood.
    #[error("malformed response (http {}): {}", .0.status.as_u16(), OneLine(&.0.reason))]
    Malformed(Malformed),
}

/// Writes text received from the network on one line: control characters
/// (newlines of an HTML page, terminal escapes) become spaces.
pub struct OneLine<'a>(pub &'a str);

impl fmt::Display for OneLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some((i, c)) = rest.char_indices().find(|(_, c)| c.is_control()) {
            f.write_str(&rest[..i])?;
            f.write_str(" ")?;
            rest = &rest[i + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

struct DisplayService<'a>(&'a ServiceError);

impl fmt::Display for DisplayService<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        write!(f, "http {}", e.status.as_u16())?;
        if let Some(code) = &e.error_code {
            write!(f, " {}", OneLine(code))?;
        }
        let message = e.message.trim();
        if !message.is_empty() {
            write!(f, ": {}", OneLine(message))?;
        }
        if let Some(id) = &e.request_id {
            write!(f, " (request id {})", OneLine(id))?;
        }
        Ok(())
    }
}

struct DisplayThrottled<'a>(&'a Throttled);

impl fmt::Display for DisplayThrottled<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        f.write_str("throttled")?;
        let message = t.message.trim();
        if !message.is_empty() {
            write!(f, ": {}", OneLine(message))?;
        }
        if let Some(after) = t.retry_after {
            write!(f, " (retry after {after})")?;
        }
        if let Some(id) = &t.request_id {
            write!(f, " (request id {})", OneLine(id))?;
        }
        Ok(())
    }
}

/// The error codes the KooPhone API documents, matched case-insensitively on the
/// `KOOPHONE.API.` prefix; anything else is kept as received.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `0`
    Success,
    /// `KOOPHONE.API.1000`: the request parameter is incorrect.
    InvalidParameter,
    /// `KOOPHONE.API.1001`: insufficient instance permissions.
    NoInstancePermission,
    /// `KOOPHONE.API.4001`: the instance does not exist.
    InstanceNotFound,
    /// `KOOPHONE.API.9999`: internal service error.
    InternalError,
    /// Any other code, exactly as received.
    Other(String),
}

/// How a transport failed; drivers map their own errors onto this so the
/// waiter can decide whether to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The connection could not be made (DNS, refused, unreachable).
    Connect,
    /// TLS handshake or certificate failure.
    Tls,
    /// No answer within the configured time.
    Timeout,
    /// The connection was reset or closed mid-exchange (includes truncated bodies).
    Reset,
    /// The response body exceeded the configured limit.
    BodyTooLarge,
    /// Anything else the driver cannot classify.
    Other,
}

impl ErrorCode {
    const PREFIX: &'static str = "KOOPHONE.API.";

    /// Parse a code as received. Never fails: unknown codes become [`ErrorCode::Other`].
    pub fn parse(raw: &str) -> ErrorCode {
        if raw == "0" {
            return ErrorCode::Success;
        }
        let known = raw
            .get(..Self::PREFIX.len())
            .filter(|p| p.eq_ignore_ascii_case(Self::PREFIX))
            .and_then(|_| match &raw[Self::PREFIX.len()..] {
                "1000" => Some(ErrorCode::InvalidParameter),
                "1001" => Some(ErrorCode::NoInstancePermission),
                "4001" => Some(ErrorCode::InstanceNotFound),
                "9999" => Some(ErrorCode::InternalError),
                _ => None,
            });
        known.unwrap_or_else(|| ErrorCode::Other(raw.to_owned()))
    }

    /// The canonical spelling of a known code, or the raw text of an unknown one.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::Success => "0",
            ErrorCode::InvalidParameter => "KOOPHONE.API.1000",
            ErrorCode::NoInstancePermission => "KOOPHONE.API.1001",
            ErrorCode::InstanceNotFound => "KOOPHONE.API.4001",
            ErrorCode::InternalError => "KOOPHONE.API.9999",
            ErrorCode::Other(raw) => raw,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ApiError {
    /// Whether the same request may succeed if sent again.
    ///
    /// 429 always does and 401 never does. Otherwise a documented KooPhone code
    /// decides when there is one (`KOOPHONE.API.9999` retries; `1000`, `1001`,
    /// `4001` describe the request and never do, whatever the status), and the
    /// status decides when there is none: 500, 502, 503 and 504 retry,
    /// everything else (400, 403, 404, redirects, a 200 carrying an error) does not.
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Throttled(_) => true,
            ApiError::Unauthorized(_) => false,
            ApiError::Service(e) => match e.code() {
                Some(ErrorCode::InternalError) => true,
                Some(
                    ErrorCode::InvalidParameter
                    | ErrorCode::NoInstancePermission
                    | ErrorCode::InstanceNotFound,
                ) => false,
                Some(ErrorCode::Success | ErrorCode::Other(_)) | None => {
                    matches!(e.status.as_u16(), 429 | 500 | 502 | 503 | 504)
                }
            },
            ApiError::Malformed(m) => matches!(m.status.as_u16(), 500 | 502 | 503 | 504),
        }
    }

    /// Whether the answer proves the request was not applied, so even a
    /// write may be sent again: 429 (refused before any work), and 503 with
    /// `Retry-After` (the service says it is unavailable and when to come
    /// back). Any other failure may come after the work was done.
    pub fn proves_not_applied(&self) -> bool {
        match self {
            ApiError::Throttled(_) => true,
            ApiError::Service(e) => e.status.as_u16() == 503 && e.retry_after.is_some(),
            ApiError::Unauthorized(_) | ApiError::Malformed(_) => false,
        }
    }

    /// The delay the service asked for, if any.
    pub fn retry_after(&self) -> Option<RetryAfter> {
        match self {
            ApiError::Throttled(t) => t.retry_after,
            ApiError::Service(e) => e.retry_after,
            ApiError::Unauthorized(_) | ApiError::Malformed(_) => None,
        }
    }

    /// The HTTP status of the response behind this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Service(e) | ApiError::Unauthorized(e) => e.status,
            ApiError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Malformed(m) => m.status,
        }
    }

    /// The request id the service gave this answer, if any.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            ApiError::Service(e) | ApiError::Unauthorized(e) => e.request_id.as_deref(),
            ApiError::Throttled(t) => t.request_id.as_deref(),
            ApiError::Malformed(m) => m.request_id.as_deref(),
        }
    }

    /// The error code as received, if the service sent one.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            ApiError::Service(e) | ApiError::Unauthorized(e) => e.error_code.as_deref(),
            ApiError::Throttled(_) | ApiError::Malformed(_) => None,
        }
    }

    /// The service's message, the throttling text, or what was malformed.
    pub fn message(&self) -> &str {
        match self {
            ApiError::Service(e) | ApiError::Unauthorized(e) => &e.message,
            ApiError::Throttled(t) => &t.message,
            ApiError::Malformed(m) => &m.reason,
        }
    }

    /// A stable lower-case name of the variant (`service`, `unauthorized`,
    /// `throttled`, `malformed`), as the command line's JSON output uses.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::Service(_) => "service",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Throttled(_) => "throttled",
            ApiError::Malformed(_) => "malformed",
        }
    }
}

impl TransportErrorKind {
    /// Connect failures, timeouts and resets may pass; TLS failures and
    /// oversized bodies will happen again.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            TransportErrorKind::Connect | TransportErrorKind::Timeout | TransportErrorKind::Reset
        )
    }

    /// Whether the failure proves the request never reached the service: a
    /// connection that could not be made. A timeout or a reset may come
    /// after the service read and applied the request.
    pub fn proves_not_applied(self) -> bool {
        matches!(self, TransportErrorKind::Connect)
    }
}

/// The one text of each kind, for every driver's messages.
impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportErrorKind::Connect => "could not connect",
            TransportErrorKind::Tls => "tls failure",
            TransportErrorKind::Timeout => "timed out",
            TransportErrorKind::Reset => "connection reset or closed",
            TransportErrorKind::BodyTooLarge => "response larger than the body limit",
            TransportErrorKind::Other => "transport failure",
        })
    }
}

impl Redact for ApiError {
    fn redact(&mut self, redactor: &Redactor) {
        match self {
            ApiError::Service(e) | ApiError::Unauthorized(e) => {
                e.error_code.redact(redactor);
                e.message.redact(redactor);
                e.request_id.redact(redactor);
                e.error_type.redact(redactor);
            }
            ApiError::Throttled(t) => {
                t.message.redact(redactor);
                t.request_id.redact(redactor);
            }
            ApiError::Malformed(m) => {
                m.reason.redact(redactor);
                m.snippet.redact(redactor);
                m.request_id.redact(redactor);
            }
        }
    }
}
