//! The simulated IAM endpoint: `POST /v3/auth/tokens` with a password
//! identity and a project scope issues a token that expires, the way Huawei
//! Cloud IAM does (201, `X-Subject-Token`, `{"token":{"expires_at",...}}`),
//! and refuses like IAM (`{"error":{"code","message","title"}}`).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use http::header::HeaderValue;
use http::{Response, StatusCode};
use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::answer::json;
use crate::scenario::{IamDomain, IamSpec};

/// The IAM token path.
pub const IAM_TOKENS_PATH: &str = "/v3/auth/tokens";
/// The response header carrying a newly issued token.
pub const SUBJECT_TOKEN_HEADER: &str = "x-subject-token";

/// Issued tokens kept at most; past this the oldest is forgotten (and
/// refused from then on), so a client that logs in on every request cannot
/// grow the simulator without bound.
const MAX_ISSUED_TOKENS: usize = 65_536;

/// The part of the simulator that answers IAM. No `Debug`: it holds the
/// tokens it issued.
pub(crate) struct Iam {
    lifetime_ms: u64,
    domains: HashMap<String, IamDomain>,
    /// Token values come from their own seeded stream, so issuing tokens
    /// never shifts request ids or fault draws.
    rng: ChaCha8Rng,
    issued: VecDeque<String>,
}

/// A token just issued: the value, and when the gateway stops accepting it
/// (ms since the simulator's start).
pub(crate) struct Issued {
    pub(crate) token: String,
    pub(crate) expires_at_ms: u64,
    /// The oldest issued token, to forget now that the cap is reached.
    pub(crate) evicted: Option<String>,
}

// The request body, as far as the simulator reads it; other fields are
// ignored, as IAM ignores what it does not use.
#[derive(Deserialize)]
struct AuthRequest {
    auth: Auth,
}

#[derive(Deserialize)]
struct Auth {
    identity: Identity,
    #[serde(default)]
    scope: Option<Scope>,
}

#[derive(Deserialize)]
struct Identity {
    methods: Vec<String>,
    #[serde(default)]
    password: Option<PasswordIdentity>,
}

#[derive(Deserialize)]
struct PasswordIdentity {
    user: PasswordUser,
}

#[derive(Deserialize)]
struct PasswordUser {
    name: String,
    password: String,
    domain: NamedDomain,
}

#[derive(Deserialize)]
struct NamedDomain {
    name: String,
}

#[derive(Deserialize)]
struct Scope {
    #[serde(default)]
    project: Option<ProjectRef>,
}

#[derive(Deserialize)]
struct ProjectRef {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

impl Iam {
    pub(crate) fn new(spec: &IamSpec, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(2);
        Self {
            lifetime_ms: spec.token_lifetime_ms,
            domains: spec
                .domains
                .iter()
                .map(|d| (d.name.clone(), d.clone()))
                .collect(),
            rng,
            issued: VecDeque::new(),
        }
    }

    /// Answers `POST /v3/auth/tokens` at `at_ms` (ms since start); `wall`
    /// maps such times onto the wall clock. On success also returns the
    /// token for the gateway to accept.
    pub(crate) fn issue(
        &mut self,
        body: &[u8],
        at_ms: u64,
        wall: impl Fn(u64) -> SystemTime,
    ) -> (Response<Vec<u8>>, Option<Issued>) {
        let de = &mut serde_json::Deserializer::from_slice(body);
        let request: AuthRequest = match serde_path_to_error::deserialize(de) {
            Ok(request) => request,
            Err(err) => {
                // Only the path: serde's own message may quote a value,
                // and one of them is a password.
                let message = if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() {
                    "The request body is not valid JSON.".to_owned()
                } else {
                    let path = err.path().to_string();
                    // serde names a missing field at its parent's path.
                    let inner = err.into_inner().to_string();
                    let missing = inner
                        .strip_prefix("missing field `")
                        .and_then(|rest| rest.split('`').next());
                    match missing {
                        Some(field) if path == "." => {
                            format!("The request body is invalid: `{field}` is missing.")
                        }
                        Some(field) => {
                            format!("The request body is invalid: `{path}.{field}` is missing.")
                        }
                        None => {
                            format!("The request body is invalid: `{path}` is of the wrong type.")
                        }
                    }
                };
                return (bad_request(&message), None);
            }
        };
        let auth = request.auth;
        if !auth.identity.methods.iter().any(|m| m == "password") {
            return (
                bad_request("The simulator issues tokens for the password method only."),
                None,
            );
        }
        let Some(identity) = auth.identity.password else {
            return (
                bad_request("The request body is invalid: `auth.identity.password` is missing."),
                None,
            );
        };
        let Some(project) = auth.scope.and_then(|s| s.project) else {
            return (
                bad_request(
                    "The simulator issues project-scoped tokens only: give auth.scope.project.",
                ),
                None,
            );
        };
        if project.id.is_none() && project.name.is_none() {
            return (
                bad_request("The request body is invalid: give auth.scope.project.id or .name."),
                None,
            );
        }
        let user = identity.user;
        let Some(domain) = self.domains.get(&user.domain.name) else {
            return (wrong_password(), None);
        };
        let known = domain
            .users
            .iter()
            .any(|u| u.name == user.name && u.password == user.password);
        if !known {
            return (wrong_password(), None);
        }
        let scoped = domain.projects.iter().find(|p| {
            project.id.as_ref().is_none_or(|id| *id == p.id)
                && project.name.as_ref().is_none_or(|name| *name == p.name)
        });
        let Some(scoped) = scoped else {
            return (
                iam_error(
                    StatusCode::UNAUTHORIZED,
                    "The project in the scope does not exist in the user's domain.",
                ),
                None,
            );
        };

        let token = format!(
            "MII{:016x}{:016x}{:016x}{:016x}",
            self.rng.next_u64(),
            self.rng.next_u64(),
            self.rng.next_u64(),
            self.rng.next_u64()
        );
        let expires_at_ms = at_ms.saturating_add(self.lifetime_ms);
        #[derive(Serialize)]
        struct Domain<'a> {
            name: &'a str,
        }
        #[derive(Serialize)]
        struct Project<'a> {
            id: &'a str,
            name: &'a str,
            domain: Domain<'a>,
        }
        #[derive(Serialize)]
        struct User<'a> {
            name: &'a str,
            domain: Domain<'a>,
        }
        #[derive(Serialize)]
        struct Token<'a> {
            expires_at: String,
            issued_at: String,
            methods: [&'static str; 1],
            project: Project<'a>,
            user: User<'a>,
        }
        #[derive(Serialize)]
        struct Body<'a> {
            token: Token<'a>,
        }
        let body = Body {
            token: Token {
                expires_at: iso8601(wall(expires_at_ms)),
                issued_at: iso8601(wall(at_ms)),
                methods: ["password"],
                project: Project {
                    id: &scoped.id,
                    name: &scoped.name,
                    domain: Domain { name: &domain.name },
                },
                user: User {
                    name: &user.name,
                    domain: Domain { name: &domain.name },
                },
            },
        };
        let mut response = json(StatusCode::CREATED, &body);
        // The token is visible ASCII by construction.
        if let Ok(value) = HeaderValue::from_str(&token) {
            response.headers_mut().insert(SUBJECT_TOKEN_HEADER, value);
        }
        self.issued.push_back(token.clone());
        let evicted = if self.issued.len() > MAX_ISSUED_TOKENS {
            self.issued.pop_front()
        } else {
            None
        };
        (
            response,
            Some(Issued {
                token,
                expires_at_ms,
                evicted,
            }),
        )
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, the form IAM writes `expires_at` in.
pub(crate) fn iso8601(t: SystemTime) -> String {
    let nanos = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i128::try_from(after.as_nanos()).unwrap_or(i128::MAX),
        Err(before) => -i128::try_from(before.duration().as_nanos()).unwrap_or(i128::MAX),
    };
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        ),
        // Out of the calendar's range (years past 9999): the end of it.
        Err(_) if nanos > 0 => "9999-12-31T23:59:59.999999Z".to_owned(),
        Err(_) => "0000-01-01T00:00:00.000000Z".to_owned(),
    }
}

/// The wall-clock time `since_start` after `origin` (the origin itself if
/// that is past what `SystemTime` can hold).
pub(crate) fn wall_clock(origin: SystemTime, since_start: Duration) -> SystemTime {
    origin.checked_add(since_start).unwrap_or(origin)
}

/// IAM's error shape: `{"error":{"code":N,"message":..,"title":..}}`.
fn iam_error(status: StatusCode, message: &str) -> Response<Vec<u8>> {
    #[derive(Serialize)]
    struct Error<'a> {
        code: u16,
        message: &'a str,
        title: &'a str,
    }
    #[derive(Serialize)]
    struct Body<'a> {
        error: Error<'a>,
    }
    json(
        status,
        &Body {
            error: Error {
                code: status.as_u16(),
                message,
                title: status.canonical_reason().unwrap_or("Error"),
            },
        },
    )
}

fn bad_request(message: &str) -> Response<Vec<u8>> {
    iam_error(StatusCode::BAD_REQUEST, message)
}

fn wrong_password() -> Response<Vec<u8>> {
    iam_error(
        StatusCode::UNAUTHORIZED,
        "The username or password is wrong.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_has_microseconds_and_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_709_251_199, 123_456_789);
        assert_eq!(iso8601(t), "2024-02-29T23:59:59.123456Z");
        assert_eq!(
            iso8601(SystemTime::UNIX_EPOCH),
            "1970-01-01T00:00:00.000000Z"
        );
    }
}
