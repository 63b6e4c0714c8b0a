//! Issuing a project-scoped IAM token with a password: IAM's
//! `KeystoneCreateUserTokenByPassword`, `POST /v3/auth/tokens`.
//!
//! The token comes back in the `X-Subject-Token` response header and its expiry
//! in the body's `token.expires_at`. The request body carries the password, so
//! a built request must never be logged; the operation itself and every error
//! print the password redacted.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderName, HeaderValue, Method, Request, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::decode::{failure, malformed};
use crate::endpoint::{Endpoint, Token};
use crate::error::check_text;
use crate::error::{ApiError, InvalidInput, InvalidReason};
use crate::redact::Redactor;

/// The response header that carries the issued token.
pub const X_SUBJECT_TOKEN: HeaderName = HeaderName::from_static("x-subject-token");

/// `nocatalog=true`: without it IAM returns the whole service catalog, tens of
/// kilobytes this client never reads.
const TOKENS_PATH: &str = "/v3/auth/tokens?nocatalog=true";

/// The content type IAM's documentation sends.
const JSON_UTF8: HeaderValue = HeaderValue::from_static("application/json;charset=utf8");

/// An IAM user's password. Redacted in `Debug`, no `Display`.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Accept a password: non-empty, no control characters (a trailing newline
    /// read from a file is a mistake). Errors never repeat it.
    pub fn new(password: impl Into<String>) -> Result<Password, InvalidInput> {
        let password = password.into();
        check_text("password", &password, None)?;
        Ok(Password(password))
    }

    /// The password itself. Named so that every use stands out in review.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// The project the token is scoped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectScope {
    /// By name, which for Huawei Cloud is usually the region (`cn-north-4`).
    Name(String),
    /// By project id.
    Id(String),
}

/// Issue a project-scoped token for an IAM user with the password method.
/// `Debug` shows the user, domain and scope; the password prints redacted.
#[derive(Debug, Clone)]
pub struct IssueProjectToken {
    user_name: String,
    domain_name: String,
    password: Password,
    scope: ProjectScope,
}

/// A token IAM issued and when it expires.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The token, from `X-Subject-Token`.
    pub token: Token,
    /// `token.expires_at`, IAM's wall-clock time.
    pub expires_at: SystemTime,
}

impl IssueProjectToken {
    /// IAM's name for the call, for logs and spans.
    pub const NAME: &'static str = "KeystoneCreateUserTokenByPassword";

    /// The user `user_name` of account (domain) `domain_name`, scoped to `scope`.
    /// Names and ids must be non-empty and free of control characters.
    pub fn new(
        user_name: &str,
        domain_name: &str,
        password: Password,
        scope: ProjectScope,
    ) -> Result<IssueProjectToken, InvalidInput> {
        check_text("user_name", user_name, None)?;
        check_text("domain_name", domain_name, None)?;
        match &scope {
            ProjectScope::Name(name) => check_text("project_name", name, None)?,
            ProjectScope::Id(id) => check_text("project_id", id, None)?,
        }
        Ok(IssueProjectToken {
            user_name: user_name.to_owned(),
            domain_name: domain_name.to_owned(),
            password,
            scope,
        })
    }

    /// The scope asked for.
    pub fn scope(&self) -> &ProjectScope {
        &self.scope
    }

    /// The IAM user's name.
    pub fn user_name(&self) -> &str {
        &self.user_name
    }

    /// The name of the user's account (IAM domain).
    pub fn domain_name(&self) -> &str {
        &self.domain_name
    }

    /// The password (redacted in `Debug`; see [`Password::expose_secret`]).
    pub fn password(&self) -> &Password {
        &self.password
    }

    /// `POST {iam}/v3/auth/tokens?nocatalog=true` with the password body. The
    /// body holds the password: do not log the request.
    pub fn build_request(
        &self,
        iam: &Endpoint,
        user_agent: &HeaderValue,
    ) -> Result<Request<Vec<u8>>, InvalidInput> {
        let uri = iam.uri_with_path(TOKENS_PATH.len(), |path| path.push_str(TOKENS_PATH))?;
        let (name, id) = match &self.scope {
            ProjectScope::Name(name) => (Some(name.as_str()), None),
            ProjectScope::Id(id) => (None, Some(id.as_str())),
        };
        let body = AuthBody {
            auth: Auth {
                identity: Identity {
                    methods: ["password"],
                    password: PasswordMethod {
                        user: User {
                            name: &self.user_name,
                            password: self.password.expose_secret(),
                            domain: Domain {
                                name: &self.domain_name,
                            },
                        },
                    },
                },
                scope: Scope {
                    project: Project { name, id },
                },
            },
        };
        let unencodable = |field| InvalidInput {
            field,
            reason: InvalidReason::Unencodable,
        };
        let body = serde_json::to_vec(&body).map_err(|_| unencodable("user_name"))?;
        Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(CONTENT_TYPE, JSON_UTF8)
            .header(USER_AGENT, user_agent.clone())
            .body(body)
            .map_err(|_| unencodable("endpoint"))
    }

    /// Decode IAM's answer: any 2xx (IAM sends 201) must carry `X-Subject-Token`
    /// and a body with `token.expires_at`; anything else is an error decoded
    /// from IAM's `{"error": {"code", "message", "title"}}` body or the API
    /// gateway's `{"error_code", "error_msg"}`.
    pub fn decode_response(&self, response: Response<&[u8]>) -> Result<IssuedToken, ApiError> {
        // The password, and any token in the answer, are scrubbed from
        // whatever text of the answer an error keeps.
        let header = response.headers().get(X_SUBJECT_TOKEN);
        let issued = header.and_then(|h| h.to_str().ok());
        let redactor = Redactor::new(
            [Some(self.password.expose_secret()), issued]
                .into_iter()
                .flatten(),
        );
        let redactor = &redactor;
        if !response.status().is_success() {
            return Err(failure(&response, redactor));
        }
        let Some(header) = header else {
            return Err(malformed(
                &response,
                "missing X-Subject-Token header",
                redactor,
            ));
        };
        // The reason never quotes the header: it may be a token after all.
        let token = header
            .to_str()
            .ok()
            .and_then(|text| Token::new(text).ok())
            .ok_or_else(|| {
                malformed(&response, "X-Subject-Token is not a usable token", redactor)
            })?;
        let body: TokenBody<'_> = match serde_json::from_slice(response.body()) {
            Ok(body) => body,
            Err(e) => {
                let mut reason = redactor
                    .scrub(&format!("not an IAM token body: {e}"))
                    .into_owned();
                reason.truncate(reason.floor_char_boundary(200));
                return Err(malformed(&response, reason, redactor));
            }
        };
        let expires_at = parse_iam_time(&body.token.expires_at).ok_or_else(|| {
            malformed(
                &response,
                "token.expires_at is not an ISO 8601 time",
                redactor,
            )
        })?;
        Ok(IssuedToken { token, expires_at })
    }

    /// [`IssueProjectToken::decode_response`] for an owned body.
    pub fn decode_owned(&self, response: Response<Vec<u8>>) -> Result<IssuedToken, ApiError> {
        let (parts, body) = response.into_parts();
        self.decode_response(Response::from_parts(parts, body.as_slice()))
    }
}

/// IAM's expiry (`2026-11-24T06:02:11.000000Z`, RFC 3339); `None` before 1970.
fn parse_iam_time(text: &str) -> Option<SystemTime> {
    let at = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    let seconds = u64::try_from(at.unix_timestamp()).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(seconds, at.nanosecond()))
}

// ---- the request body ----------------------------------------------------------

#[derive(Serialize)]
struct AuthBody<'a> {
    auth: Auth<'a>,
}

#[derive(Serialize)]
struct Auth<'a> {
    identity: Identity<'a>,
    scope: Scope<'a>,
}

#[derive(Serialize)]
struct Identity<'a> {
    methods: [&'static str; 1],
    password: PasswordMethod<'a>,
}

#[derive(Serialize)]
struct PasswordMethod<'a> {
    user: User<'a>,
}

#[derive(Serialize)]
struct User<'a> {
    name: &'a str,
    password: &'a str,
    domain: Domain<'a>,
}

#[derive(Serialize)]
struct Domain<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct Scope<'a> {
    project: Project<'a>,
}

#[derive(Serialize)]
struct Project<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
}

// ---- the response --------------------------------------------------------------

#[derive(Deserialize)]
struct TokenBody<'a> {
    #[serde(borrow)]
    token: TokenFields<'a>,
}

#[derive(Deserialize)]
struct TokenFields<'a> {
    #[serde(borrow)]
    expires_at: std::borrow::Cow<'a, str>,
}
