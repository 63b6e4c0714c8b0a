//! The simulated ECS/BMS instance metadata service: the two calls the
//! official SDKs make for an instance's temporary credentials.
//!
//! - `PUT /meta-data/latest/api/token` with `X-Metadata-Token-Ttl-Seconds`
//!   (1 to 21600) answers a session token as plain text; it expires after
//!   the TTL, or sooner when the scenario says so. Without session tokens
//!   (`session_tokens: false`) it answers 404, as older services do.
//! - `GET /openstack/latest/securitykey` with `X-Metadata-Token` answers
//!   `{"credential":{"access","secret","securitytoken","expires_at"}}`.
//!   A missing, unknown or expired session token gets a 401; an instance
//!   without an agency gets a 401 saying "Please configure Cloud Service
//!   Agency first". The same credentials come back until they are
//!   `rotate_after_ms` old, then new ones; each set is accepted by the
//!   gateway, signed with its security token, until it expires.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::iam::iso8601;
use crate::scenario::{AccessKeySpec, MetadataSpec};

/// The session-token path.
pub const METADATA_TOKEN_PATH: &str = "/meta-data/latest/api/token";
/// The temporary-credentials path.
pub const SECURITY_KEY_PATH: &str = "/openstack/latest/securitykey";
/// The answer of the securitykey call on an instance without an agency.
pub const NO_AGENCY_MESSAGE: &str = "Please configure Cloud Service Agency first";

const TTL_HEADER: &str = "x-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "x-metadata-token";
const MAX_TTL_SECONDS: u64 = 21_600;
/// Session tokens and credential sets kept at most; the oldest are forgotten
/// (and refused from then on), so no client can grow the simulator without bound.
const MAX_KEPT: usize = 4096;

/// The part of the simulator that answers metadata calls. No `Debug`: it
/// holds session tokens and secret keys.
pub(crate) struct Metadata {
    spec: MetadataSpec,
    /// Token and key values come from their own seeded stream.
    rng: ChaCha8Rng,
    /// Session token -> expiry (ms since start), oldest first in `session_order`.
    sessions: HashMap<String, u64>,
    session_order: VecDeque<String>,
    /// Credential sets, oldest first: (key, issued at ms, expires at ms).
    issued: VecDeque<(AccessKeySpec, u64, u64)>,
}

impl Metadata {
    pub(crate) fn new(spec: &MetadataSpec, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(3);
        Self {
            spec: spec.clone(),
            rng,
            sessions: HashMap::new(),
            session_order: VecDeque::new(),
            issued: VecDeque::new(),
        }
    }

    /// Whether `method path` is a metadata call (answered by [`Metadata::handle`]).
    pub(crate) fn is_metadata_path(path: &str) -> bool {
        path == METADATA_TOKEN_PATH || path == SECURITY_KEY_PATH
    }

    /// Answer a metadata call at `at_ms`; `wall` maps ms since start to wall-clock time.
    pub(crate) fn handle<B>(
        &mut self,
        request: &Request<B>,
        at_ms: u64,
        wall: impl Fn(u64) -> SystemTime,
    ) -> Response<Vec<u8>> {
        if !self.spec.enabled {
            return text(StatusCode::NOT_FOUND, "Not Found");
        }
        let path = request.uri().path();
        let method = request.method();
        match (path, method) {
            (METADATA_TOKEN_PATH, &Method::PUT) => self.session_token(request, at_ms),
            (SECURITY_KEY_PATH, &Method::GET) => self.security_key(request, at_ms, wall),
            _ => text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
        }
    }

    fn session_token<B>(&mut self, request: &Request<B>, at_ms: u64) -> Response<Vec<u8>> {
        if !self.spec.session_tokens {
            return text(StatusCode::NOT_FOUND, "Not Found");
        }
        let ttl = request
            .headers()
            .get(TTL_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|ttl| (1..=MAX_TTL_SECONDS).contains(ttl));
        let Some(ttl) = ttl else {
            return text(
                StatusCode::BAD_REQUEST,
                "X-Metadata-Token-Ttl-Seconds must be a number of seconds from 1 to 21600",
            );
        };
        let mut lifetime_ms = ttl * 1000;
        if let Some(cap) = self.spec.session_token_lifetime_ms {
            lifetime_ms = lifetime_ms.min(cap);
        }
        let token = format!("mt{:016x}{:016x}", self.rng.next_u64(), self.rng.next_u64());
        self.sessions
            .insert(token.clone(), at_ms.saturating_add(lifetime_ms));
        self.session_order.push_back(token.clone());
        if self.session_order.len() > MAX_KEPT
            && let Some(old) = self.session_order.pop_front()
        {
            self.sessions.remove(&old);
        }
        text(StatusCode::OK, &token)
    }

    fn security_key<B>(
        &mut self,
        request: &Request<B>,
        at_ms: u64,
        wall: impl Fn(u64) -> SystemTime,
    ) -> Response<Vec<u8>> {
        if self.spec.session_tokens {
            let valid = request
                .headers()
                .get(TOKEN_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|token| self.sessions.get(token.trim()))
                .is_some_and(|expires_at_ms| at_ms < *expires_at_ms);
            if !valid {
                return text(
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized: the metadata session token is missing, unknown or expired",
                );
            }
        }
        if !self.spec.agency {
            return text(StatusCode::UNAUTHORIZED, NO_AGENCY_MESSAGE);
        }
        let rotate_after = self.spec.rotate_after_ms();
        let current = self
            .issued
            .back()
            .filter(|(_, issued_at, _)| at_ms.saturating_sub(*issued_at) < rotate_after);
        let (key, _, expires_at_ms) = match current {
            Some(current) => current.clone(),
            None => self.issue(at_ms),
        };
        #[derive(Serialize)]
        struct Credential<'a> {
            access: &'a str,
            secret: &'a str,
            securitytoken: &'a str,
            expires_at: String,
        }
        #[derive(Serialize)]
        struct Body<'a> {
            credential: Credential<'a>,
        }
        let body = Body {
            credential: Credential {
                access: &key.access_key,
                secret: &key.secret_key,
                securitytoken: key.security_token.as_deref().unwrap_or_default(),
                expires_at: iso8601(wall(expires_at_ms)),
            },
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = Response::new(bytes);
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }

    fn issue(&mut self, at_ms: u64) -> (AccessKeySpec, u64, u64) {
        let mut key = AccessKeySpec::new(
            format!("TEMPAK{:016X}", self.rng.next_u64()),
            format!(
                "tempsk{:016x}{:016x}",
                self.rng.next_u64(),
                self.rng.next_u64()
            ),
        );
        key.security_token = Some(format!(
            "gQpjbi1ub3J0aC00{:016x}{:016x}{:016x}",
            self.rng.next_u64(),
            self.rng.next_u64(),
            self.rng.next_u64()
        ));
        let expires_at_ms = at_ms.saturating_add(self.spec.credential_lifetime_ms);
        let set = (key, at_ms, expires_at_ms);
        // Expired sets are forgotten, then the oldest beyond the cap.
        self.issued.retain(|(_, _, expires)| *expires > at_ms);
        self.issued.push_back(set.clone());
        while self.issued.len() > MAX_KEPT {
            self.issued.pop_front();
        }
        set
    }

    /// The temporary key pair `access_key`, if it was issued and has not
    /// expired at `at` (the gateway refuses it from then on).
    pub(crate) fn access_key(&self, access_key: &str, at: Duration) -> Option<&AccessKeySpec> {
        let at_ms = u64::try_from(at.as_millis()).unwrap_or(u64::MAX);
        self.issued
            .iter()
            .rev()
            .find(|(key, _, _)| key.access_key == access_key)
            .filter(|(_, _, expires_at_ms)| at_ms < *expires_at_ms)
            .map(|(key, _, _)| key)
    }
}

fn text(status: StatusCode, body: &str) -> Response<Vec<u8>> {
    let mut response = Response::new(body.as_bytes().to_vec());
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
