//! The sans-IO core: one request and the time in, one response (plus any
//! connection-level misbehaviour for the transport to act out) out.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, SystemTime};

use http::header::{ALLOW, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use percent_encoding::percent_decode_str;
use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::fault::{FaultInjector, Route};
use crate::iam::{IAM_TOKENS_PATH, Iam, Issued, wall_clock};
use crate::metadata::Metadata;
use crate::model::{Model, PrepareRefusal, ProgressLookup};
use crate::rate_limit::RateLimiter;
use crate::scenario::{
    AccessKeySpec, Fault, InstanceError, KOOPHONE_ID_MAX_CHARS, KooPhoneStatus, Outage, Scenario,
    ScenarioError, default_wall_clock_origin,
};
use crate::signature;

/// The ShowProgress path.
pub const SHOW_PROGRESS_PATH: &str = "/v1/instances/prepare-progress";
/// The BatchPrepareInstances path.
pub const BATCH_PREPARE_PATH: &str = "/v1/instances/prepare";
/// The most instance ids one BatchPrepareInstances call may carry.
const MAX_PREPARE_BATCH: usize = 100;
/// The response header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The request header carrying the IAM token.
pub const AUTH_TOKEN_HEADER: &str = "x-auth-token";
/// How much of each request body the request log keeps.
pub const LOGGED_BODY_MAX: usize = 4096;

const JSON: &str = "application/json;charset=UTF-8";

/// What the transport must do besides (or instead of) sending the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionFault {
    /// Wait this long before sending the response.
    Delay(Duration),
    /// Close the connection without sending anything.
    DropConnection,
    /// Send the head (with the full Content-Length) and only the first
    /// `keep` body bytes, then close the connection.
    TruncateBody {
        /// Body bytes to send before closing.
        keep: usize,
    },
}

/// The core's answer to one request.
#[derive(Debug, Clone)]
pub struct SimResponse {
    /// The response. With [`ConnectionFault::DropConnection`] it is what the
    /// service would have said, and must not be delivered.
    pub response: Response<Vec<u8>>,
    /// Connection-level misbehaviour for the transport to carry out.
    pub fault: Option<ConnectionFault>,
}

/// One request as the simulator saw it. It keeps header values, tokens
/// included, so tests can check where a credential went: it is for test
/// servers only. `Debug` redacts credential headers.
#[derive(Clone)]
pub struct LoggedRequest {
    /// 1 for the first request the simulator handled.
    pub seq: u64,
    /// When it was handled, since the simulator's start.
    pub at: Duration,
    /// The method.
    pub method: Method,
    /// Path and query as received.
    pub uri: String,
    /// All request headers, values included.
    pub headers: HeaderMap,
    /// Length of the request body in bytes.
    pub body_len: usize,
    /// The first [`LOGGED_BODY_MAX`] bytes of the body.
    pub body: Vec<u8>,
    /// Which operation the path named, if any.
    pub route: Option<Route>,
    /// Status of the response (also for dropped connections, where it was
    /// never sent).
    pub status: StatusCode,
    /// The `X-Request-Id` of the response.
    pub request_id: String,
    /// The fault rule that fired, by name (`"bad_gateway"`, ...).
    pub fault: Option<&'static str>,
}

impl LoggedRequest {
    /// A header value as text, when present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The path part of the URI.
    pub fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or_default()
    }
}

fn is_credential_header(name: &str) -> bool {
    matches!(
        name,
        "x-auth-token" | "authorization" | "x-security-token" | "proxy-authorization" | "cookie"
    )
}

impl fmt::Debug for LoggedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Headers<'a>(&'a HeaderMap);
        impl fmt::Debug for Headers<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut map = f.debug_map();
                for (name, value) in self.0 {
                    if is_credential_header(name.as_str()) {
                        map.entry(&name.as_str(), &"<redacted>");
                    } else {
                        map.entry(&name.as_str(), value);
                    }
                }
                map.finish()
            }
        }
        f.debug_struct("LoggedRequest")
            .field("seq", &self.seq)
            .field("at", &self.at)
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("headers", &Headers(&self.headers))
            .field("body_len", &self.body_len)
            .field("route", &self.route)
            .field("status", &self.status)
            .field("request_id", &self.request_id)
            .field("fault", &self.fault)
            .finish_non_exhaustive()
    }
}

/// Where a request path leads.
enum Target {
    Progress,
    Prepare,
    Status {
        project_id: Option<String>,
        instance_id: Option<String>,
    },
    IssueToken,
}

enum Matched {
    Route(Target),
    MethodNotAllowed(&'static str),
    NotFound,
}

impl Target {
    fn route(&self) -> Route {
        match self {
            Target::Progress => Route::ShowProgress,
            Target::Prepare => Route::BatchPrepareInstances,
            Target::Status { .. } => Route::ShowInstanceStatus,
            Target::IssueToken => Route::IssueToken,
        }
    }
}

impl Matched {
    fn route(&self) -> Option<Route> {
        match self {
            Matched::Route(target) => Some(target.route()),
            Matched::MethodNotAllowed(_) | Matched::NotFound => None,
        }
    }
}

/// What serves a request: one row per operation, with the method and the
/// path template as the API documents them (`{name}` is one segment). Adding
/// an operation to the simulator is a row here and its handler.
const ROUTES: &[(&str, &str, RouteKind)] = &[
    ("POST", SHOW_PROGRESS_PATH, RouteKind::Progress),
    ("POST", BATCH_PREPARE_PATH, RouteKind::Prepare),
    ("GET", STATUS_PATH, RouteKind::Status),
    ("POST", IAM_TOKENS_PATH, RouteKind::IssueToken),
];

/// ShowInstanceStatus's path template.
const STATUS_PATH: &str = "/v1/{project_id}/instances/{id}/status";

#[derive(Clone, Copy)]
enum RouteKind {
    Progress,
    Prepare,
    Status,
    IssueToken,
}

fn match_route(method: &Method, path: &str) -> Matched {
    let Some((allowed, kind, params)) = ROUTES.iter().find_map(|(allowed, template, kind)| {
        match_template(template, path).map(|params| (*allowed, *kind, params))
    }) else {
        return Matched::NotFound;
    };
    if method.as_str() != allowed {
        return Matched::MethodNotAllowed(allowed);
    }
    // An undecodable segment names nothing that exists.
    let decode = |s: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    Matched::Route(match (kind, params.as_slice()) {
        (RouteKind::Progress, _) => Target::Progress,
        (RouteKind::Prepare, _) => Target::Prepare,
        (RouteKind::IssueToken, _) => Target::IssueToken,
        (RouteKind::Status, [project, id]) => Target::Status {
            project_id: decode(project),
            instance_id: decode(id),
        },
        (RouteKind::Status, _) => return Matched::NotFound,
    })
}

/// The raw values of `template`'s `{..}` segments when `path` fits it: the
/// same number of segments, literals equal, parameters non-empty.
fn match_template<'p>(template: &str, path: &'p str) -> Option<Vec<&'p str>> {
    let mut params = Vec::new();
    let mut wanted = template.split('/');
    let mut given = path.split('/');
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') => {
                if g.is_empty() {
                    return None;
                }
                params.push(g);
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

#[derive(Debug, Clone)]
struct RequestLog {
    capacity: usize,
    entries: VecDeque<LoggedRequest>,
    /// Counts by whole second since start, kept even when `capacity` is 0.
    per_second: BTreeMap<u64, RequestCounts>,
}

/// How many requests the simulator handled in one second, and how many of
/// them it answered 429 or 5xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestCounts {
    /// Every request handled.
    pub requests: u64,
    /// Answered 429 (rate limit or a `throttled` fault).
    pub throttled: u64,
    /// Answered 500 to 599 (outages and faults included).
    pub server_errors: u64,
}

impl RequestLog {
    fn push(&mut self, entry: LoggedRequest) {
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }
}

/// The simulated cloud: a scenario's world, its clocks-free life cycles,
/// the service's rules, seeded faults and a bounded request log.
///
/// It never reads a clock: every call takes `at`, the time since the
/// simulator's start, so a test can drive it under a virtual clock.
///
/// `Debug` shows no accepted or issued token, secret key or password (the
/// request log has them: read it on purpose, through [`Simulator::request_log`]).
pub struct Simulator {
    scenario: Scenario,
    model: Model,
    tokens: HashMap<String, Option<u64>>,
    access_keys: HashMap<String, AccessKeySpec>,
    iam: Iam,
    metadata: Metadata,
    wall_clock_origin: SystemTime,
    rate_limiter: Option<RateLimiter>,
    faults: FaultInjector,
    request_ids: ChaCha8Rng,
    log: RequestLog,
    seq: u64,
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("scenario", &self.scenario)
            .field("accepted_tokens", &self.tokens.len())
            .field("wall_clock_origin", &self.wall_clock_origin)
            .field("requests_handled", &self.seq)
            .field("logged_requests", &self.log.entries.len())
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// A simulator of `scenario` (validated) whose faults, request ids and
    /// issued tokens follow `seed`.
    pub fn new(scenario: Scenario, seed: u64) -> Result<Self, ScenarioError> {
        scenario.validate()?;
        let tokens = scenario
            .tokens
            .iter()
            .map(|t| (t.token.clone(), t.expires_at_ms))
            .collect();
        let mut request_ids = ChaCha8Rng::seed_from_u64(seed);
        // A separate stream, so request ids never shift the fault draws.
        request_ids.set_stream(1);
        let access_keys = scenario
            .access_keys
            .iter()
            .map(|k| (k.access_key.clone(), k.clone()))
            .collect();
        Ok(Self {
            model: Model::new(&scenario),
            tokens,
            access_keys,
            iam: Iam::new(&scenario.iam, seed),
            metadata: Metadata::new(&scenario.metadata, seed),
            wall_clock_origin: scenario
                .wall_clock_origin
                .unwrap_or_else(default_wall_clock_origin),
            rate_limiter: scenario.rate_limit.map(RateLimiter::new),
            faults: FaultInjector::new(
                &scenario
                    .outages
                    .iter()
                    .map(Outage::fault_rule)
                    .chain(scenario.faults.iter().cloned())
                    .collect::<Vec<_>>(),
                seed,
            ),
            request_ids,
            log: RequestLog {
                capacity: scenario.request_log_capacity,
                entries: VecDeque::new(),
                per_second: BTreeMap::new(),
            },
            seq: 0,
            scenario,
        })
    }

    /// The scenario this simulator runs.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// How many requests it has handled.
    pub fn requests_handled(&self) -> u64 {
        self.seq
    }

    /// The wall-clock time its start maps to: the scenario's
    /// `wall_clock_origin`, else [`default_wall_clock_origin`].
    pub fn wall_clock_origin(&self) -> SystemTime {
        self.wall_clock_origin
    }

    /// The wall-clock time at `at` (time since start): what IAM's
    /// `expires_at` and the `X-Sdk-Date` check are measured against, and so
    /// the time a client should sign with.
    pub fn wall_clock(&self, at: Duration) -> SystemTime {
        wall_clock(self.wall_clock_origin, at)
    }

    /// When a KooPhone instance first reports `status` (ignoring faults), or
    /// `None` if it never does: the oracle for "ready by the deadline".
    pub fn koophone_reaches(&self, instance_id: &str, status: KooPhoneStatus) -> Option<Duration> {
        self.model.koophone_reaches(instance_id, status)
    }

    /// When a CloudDC instance first reports `state`, or `None` if never.
    pub fn clouddc_reaches(
        &self,
        project_id: &str,
        instance_id: &str,
        state: &str,
    ) -> Option<Duration> {
        self.model.clouddc_reaches(project_id, instance_id, state)
    }

    /// The most recent requests, oldest first (at most
    /// `request_log_capacity` of them).
    pub fn request_log(&self) -> impl ExactSizeIterator<Item = &LoggedRequest> {
        self.log.entries.iter()
    }

    /// Forgets the logged requests (and their per-second counts).
    pub fn clear_request_log(&mut self) {
        self.log.entries.clear();
        self.log.per_second.clear();
    }

    /// Requests handled per whole second since start, as `(second, counts)`
    /// in order; seconds without requests are left out. Unlike the request
    /// log it is not capped, so a load test can check a rate limit over a
    /// run of any length.
    pub fn requests_per_second(&self) -> impl Iterator<Item = (u64, RequestCounts)> + '_ {
        self.log
            .per_second
            .iter()
            .map(|(second, counts)| (*second, *counts))
    }

    /// The largest request body accepted; larger ones get 413.
    pub fn max_body_bytes(&self) -> usize {
        self.scenario.max_body_bytes
    }

    /// Answers one request at `at` (time since the simulator's start).
    pub fn handle<B: AsRef<[u8]>>(&mut self, request: &Request<B>, at: Duration) -> SimResponse {
        let body = request.body().as_ref();
        let method = request.method();
        let path = request.uri().path();
        let request_id = self.next_request_id();
        let matched = match_route(method, path);
        let route = matched.route();
        let mut fired = None;
        let answer = if body.len() > self.scenario.max_body_bytes {
            plain_answer(too_large(&request_id))
        } else if Metadata::is_metadata_path(path) {
            // The instance's metadata service, not the gateway: no faults, no rate limit.
            let origin = self.wall_clock_origin;
            plain_answer(self.metadata.handle(request, ms(at), |ms| {
                wall_clock(origin, Duration::from_millis(ms))
            }))
        } else {
            match matched {
                Matched::NotFound => plain_answer(gateway_error(
                    StatusCode::NOT_FOUND,
                    "APIGW.0101",
                    "The API does not exist or has not been published in the environment",
                    &request_id,
                )),
                Matched::MethodNotAllowed(allow) => {
                    let mut response = gateway_error(
                        StatusCode::METHOD_NOT_ALLOWED,
                        "APIGW.0101",
                        &format!("The API does not exist for method {method}; use {allow}"),
                        &request_id,
                    );
                    response
                        .headers_mut()
                        .insert(ALLOW, HeaderValue::from_static(allow));
                    plain_answer(response)
                }
                // IAM is another service: the scenario's faults and rate
                // limit are the KooPhone/CloudDC gateway's, not its.
                Matched::Route(Target::IssueToken) => plain_answer(self.issue_token(body, at)),
                Matched::Route(target) => {
                    let route = target.route();
                    let fault = self.faults.pick(route, at);
                    fired = fault.as_ref().map(Fault::name);
                    self.faulty_or_normal(fault, route, target, request, at, &request_id)
                }
            }
        };
        let SimResponse {
            mut response,
            fault,
        } = answer;
        finish_headers(&mut response, &request_id);
        self.record(LogInput {
            method,
            uri: request.uri(),
            headers: request.headers(),
            body,
            body_len: body.len(),
            route,
            status: response.status(),
            request_id,
            fault: fired,
            at,
        });
        SimResponse { response, fault }
    }

    /// Answers 413 to a request whose body the transport refused to read
    /// because it is larger than [`Simulator::max_body_bytes`]; `body_len`
    /// is the declared length or how much was read before giving up.
    pub fn refuse_oversized(
        &mut self,
        head: &http::request::Parts,
        body_len: usize,
        at: Duration,
    ) -> SimResponse {
        let request_id = self.next_request_id();
        let mut response = too_large(&request_id);
        finish_headers(&mut response, &request_id);
        let route = match_route(&head.method, head.uri.path()).route();
        self.record(LogInput {
            method: &head.method,
            uri: &head.uri,
            headers: &head.headers,
            body: &[],
            body_len,
            route,
            status: response.status(),
            request_id,
            fault: None,
            at,
        });
        SimResponse {
            response,
            fault: None,
        }
    }

    fn faulty_or_normal<B: AsRef<[u8]>>(
        &mut self,
        fault: Option<Fault>,
        route: Route,
        target: Target,
        request: &Request<B>,
        at: Duration,
        request_id: &str,
    ) -> SimResponse {
        let replaced = match &fault {
            Some(Fault::InternalError { error_code }) => Some(service_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                error_code.as_deref().unwrap_or(internal_error_code(route)),
                "Internal service error.",
            )),
            Some(Fault::OkWithError { error_code }) => Some(service_error(
                StatusCode::OK,
                error_code.as_deref().unwrap_or("KOOPHONE.API.9999"),
                "Internal service error.",
            )),
            Some(Fault::BadGateway {}) => Some(html_error(StatusCode::BAD_GATEWAY, None)),
            Some(Fault::ServiceUnavailable { retry_after_s }) => {
                Some(html_error(StatusCode::SERVICE_UNAVAILABLE, *retry_after_s))
            }
            Some(Fault::Throttled { retry_after_s }) => Some(throttled(retry_after_s.unwrap_or(1))),
            _ => None,
        };
        if let Some(response) = replaced {
            return plain_answer(response);
        }
        let normal = self.serve(target, request, at, request_id);
        match fault {
            Some(Fault::Slow { delay_ms }) => SimResponse {
                response: normal,
                fault: Some(ConnectionFault::Delay(Duration::from_millis(delay_ms))),
            },
            Some(Fault::MalformedJson {}) => plain_answer(self.malformed(route)),
            Some(Fault::TruncatedJson {}) => {
                let mut response = normal;
                let len = response.body().len();
                let keep = if len < 2 {
                    0
                } else {
                    1 + (self.faults.next_u64() % (len as u64 - 1)) as usize
                };
                response.body_mut().truncate(keep);
                plain_answer(response)
            }
            Some(Fault::TruncatedBody {}) => {
                let len = normal.body().len().max(1) as u64;
                let keep = (self.faults.next_u64() % len) as usize;
                SimResponse {
                    response: normal,
                    fault: Some(ConnectionFault::TruncateBody { keep }),
                }
            }
            Some(Fault::DropConnection {}) => SimResponse {
                response: normal,
                fault: Some(ConnectionFault::DropConnection),
            },
            _ => plain_answer(normal),
        }
    }

    /// The service's own behaviour: authentication, rate limit, validation,
    /// then the instance's state at `at`.
    fn serve<B: AsRef<[u8]>>(
        &mut self,
        target: Target,
        request: &Request<B>,
        at: Duration,
        request_id: &str,
    ) -> Response<Vec<u8>> {
        let body = request.body().as_ref();
        let token = match self.authenticate(request, at) {
            Ok(token) => token,
            Err((code, msg)) => {
                return gateway_error(StatusCode::UNAUTHORIZED, code, msg, request_id);
            }
        };
        if let Some(limiter) = &mut self.rate_limiter
            && let Err(retry_after_s) = limiter.check(token, at)
        {
            return throttled(retry_after_s);
        }
        match target {
            Target::Progress => self.show_progress(body, at),
            Target::Prepare => self.batch_prepare(body, at),
            Target::Status {
                project_id,
                instance_id,
            } => self.show_instance_status(project_id.as_deref(), instance_id.as_deref(), at),
            // Routed before authentication; never reaches here.
            Target::IssueToken => self.issue_token(body, at),
        }
    }

    /// Issues an IAM token and makes the gateway accept it until it expires.
    fn issue_token(&mut self, body: &[u8], at: Duration) -> Response<Vec<u8>> {
        let origin = self.wall_clock_origin;
        let (response, issued) = self.iam.issue(body, ms(at), |ms| {
            wall_clock(origin, Duration::from_millis(ms))
        });
        if let Some(Issued {
            token,
            expires_at_ms,
            evicted,
        }) = issued
        {
            if let Some(old) = evicted {
                self.tokens.remove(&old);
            }
            self.tokens.insert(token, Some(expires_at_ms));
        }
        response
    }

    /// The request's credential (token or AK) if the gateway accepts it,
    /// else why not as (APIGW code, message). A token, when sent, decides;
    /// otherwise an AK/SK signature.
    fn authenticate<'r, B: AsRef<[u8]>>(
        &self,
        request: &'r Request<B>,
        at: Duration,
    ) -> Result<&'r str, (&'static str, &'static str)> {
        const BAD: (&str, &str) = (
            "APIGW.0301",
            "Incorrect IAM authentication information: decrypt token fail",
        );
        let headers = request.headers();
        let Some(value) = headers.get(AUTH_TOKEN_HEADER) else {
            if headers.contains_key(AUTHORIZATION) {
                return signature::verify(
                    request,
                    |ak| {
                        self.access_keys
                            .get(ak)
                            .or_else(|| self.metadata.access_key(ak, at))
                    },
                    self.wall_clock(at),
                )
                .map_err(|err| ("APIGW.0301", err.gateway_message()));
            }
            return Err((
                "APIGW.0301",
                "Incorrect IAM authentication information: the X-Auth-Token header is missing",
            ));
        };
        let token = value.to_str().map_err(|_| BAD)?;
        match self.tokens.get(token) {
            None => Err(BAD),
            Some(Some(expires_at_ms)) if at >= Duration::from_millis(*expires_at_ms) => {
                Err(("APIGW.0307", "The token must be updated."))
            }
            Some(_) => Ok(token),
        }
    }

    fn show_progress(&self, body: &[u8], at: Duration) -> Response<Vec<u8>> {
        let (user_id, instance_id) = match parse_progress_body(body) {
            Ok(ids) => ids,
            Err(why) => {
                return service_error(
                    StatusCode::BAD_REQUEST,
                    "KOOPHONE.API.1000",
                    &format!("The request parameter is incorrect: {why}."),
                );
            }
        };
        match self.model.progress(&user_id, &instance_id, at) {
            ProgressLookup::Found(snapshot) => {
                #[derive(Serialize)]
                struct Data {
                    status: i64,
                    #[serde(rename = "waitingCount")]
                    waiting_count: i64,
                }
                #[derive(Serialize)]
                struct Body {
                    data: Data,
                    error_code: &'static str,
                    error_msg: &'static str,
                }
                json(
                    StatusCode::OK,
                    &Body {
                        data: Data {
                            status: snapshot.status.code(),
                            waiting_count: snapshot.waiting_count,
                        },
                        error_code: "0",
                        error_msg: "OK",
                    },
                )
            }
            ProgressLookup::NoSuchInstance => service_error(
                StatusCode::BAD_REQUEST,
                "KOOPHONE.API.4001",
                "The instance does not exist.",
            ),
            ProgressLookup::OtherUser => service_error(
                StatusCode::BAD_REQUEST,
                "KOOPHONE.API.1001",
                "Insufficient instance permissions.",
            ),
        }
    }

    /// BatchPrepareInstances: validate like the service, refuse the whole
    /// call for the first unknown or foreign id, else start preparing and
    /// answer each instance's cloud phone status.
    fn batch_prepare(&mut self, body: &[u8], at: Duration) -> Response<Vec<u8>> {
        let (user_id, instance_ids) = match parse_prepare_body(body) {
            Ok(fields) => fields,
            Err(why) => {
                return service_error(
                    StatusCode::BAD_REQUEST,
                    "KOOPHONE.API.1000",
                    &format!("The request parameter is incorrect: {why}."),
                );
            }
        };
        match self.model.prepare(&user_id, &instance_ids, at) {
            Ok(answered) => {
                #[derive(Serialize)]
                struct Entry<'a> {
                    instance_id: &'a str,
                    status: i64,
                }
                #[derive(Serialize)]
                struct Data<'a> {
                    status_list: Vec<Entry<'a>>,
                }
                #[derive(Serialize)]
                struct Body<'a> {
                    error_code: &'static str,
                    error_msg: &'static str,
                    data: Data<'a>,
                }
                json(
                    StatusCode::OK,
                    &Body {
                        error_code: "0",
                        error_msg: "OK",
                        data: Data {
                            status_list: answered
                                .iter()
                                .map(|(id, status)| Entry {
                                    instance_id: id,
                                    status: *status,
                                })
                                .collect(),
                        },
                    },
                )
            }
            Err(PrepareRefusal::NoSuchInstance) => service_error(
                StatusCode::BAD_REQUEST,
                "KOOPHONE.API.4001",
                "The instance does not exist.",
            ),
            Err(PrepareRefusal::OtherUser) => service_error(
                StatusCode::BAD_REQUEST,
                "KOOPHONE.API.1001",
                "Insufficient instance permissions.",
            ),
        }
    }

    fn show_instance_status(
        &self,
        project_id: Option<&str>,
        instance_id: Option<&str>,
        at: Duration,
    ) -> Response<Vec<u8>> {
        let snapshot = project_id
            .zip(instance_id)
            .and_then(|(p, i)| self.model.state(p, i, at));
        let Some(snapshot) = snapshot else {
            return service_error(
                StatusCode::NOT_FOUND,
                "CLOUDDC.4004",
                "The instance does not exist.",
            );
        };
        #[derive(Serialize)]
        struct Body<'a> {
            state: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            error: Option<&'a InstanceError>,
            #[serde(skip_serializing_if = "Option::is_none")]
            operation_state: Option<&'a str>,
        }
        json(
            StatusCode::OK,
            &Body {
                state: snapshot.state,
                error: snapshot.error,
                operation_state: snapshot.operation_state,
            },
        )
    }

    /// A 200 whose body a client must reject as malformed; which one is
    /// seeded.
    fn malformed(&mut self, route: Route) -> Response<Vec<u8>> {
        let wrong_types: &[u8] = match route {
            Route::ShowProgress => {
                br#"{"data":{"status":"normal","waitingCount":"soon"},"error_code":"0","error_msg":"OK"}"#
            }
            Route::BatchPrepareInstances => {
                br#"{"data":{"status_list":[{"instance_id":7,"status":"ready"}]},"error_code":"0","error_msg":"OK"}"#
            }
            Route::ShowInstanceStatus | Route::IssueToken => br#"{"state":42,"error":"none"}"#,
        };
        let variants: [&[u8]; 6] = [
            b"not json at all",
            wrong_types,
            b"{\"data\":\xff\xfe\"\x00}",
            b"[]",
            b"{\"error_code\":\"0\"}}}",
            b"",
        ];
        let pick = (self.faults.next_u64() % variants.len() as u64) as usize;
        let mut response = Response::new(variants[pick].to_vec());
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
        response
    }

    fn next_request_id(&mut self) -> String {
        self.seq += 1;
        format!(
            "{:016x}{:016x}",
            self.request_ids.next_u64(),
            self.request_ids.next_u64()
        )
    }

    fn record(&mut self, input: LogInput<'_>) {
        let counts = self.log.per_second.entry(input.at.as_secs()).or_default();
        counts.requests += 1;
        counts.throttled += u64::from(input.status == StatusCode::TOO_MANY_REQUESTS);
        counts.server_errors += u64::from(input.status.is_server_error());
        if self.log.capacity == 0 {
            return;
        }
        let keep = input.body.len().min(LOGGED_BODY_MAX);
        self.log.push(LoggedRequest {
            seq: self.seq,
            at: input.at,
            method: input.method.clone(),
            uri: input
                .uri
                .path_and_query()
                .map_or_else(|| input.uri.path().to_owned(), |pq| pq.as_str().to_owned()),
            headers: input.headers.clone(),
            body_len: input.body_len,
            body: input.body[..keep].to_vec(),
            route: input.route,
            status: input.status,
            request_id: input.request_id,
            fault: input.fault,
        });
    }
}

struct LogInput<'a> {
    method: &'a Method,
    uri: &'a http::Uri,
    headers: &'a HeaderMap,
    body: &'a [u8],
    body_len: usize,
    route: Option<Route>,
    status: StatusCode,
    request_id: String,
    fault: Option<&'static str>,
    at: Duration,
}

fn ms(at: Duration) -> u64 {
    u64::try_from(at.as_millis()).unwrap_or(u64::MAX)
}

fn plain_answer(response: Response<Vec<u8>>) -> SimResponse {
    SimResponse {
        response,
        fault: None,
    }
}

fn internal_error_code(route: Route) -> &'static str {
    match route {
        Route::ShowProgress | Route::BatchPrepareInstances => "KOOPHONE.API.9999",
        Route::ShowInstanceStatus => "CLOUDDC.9999",
        Route::IssueToken => "IAM.9999",
    }
}

/// Checks the ShowProgress body the way the service documents it: both
/// fields mandatory strings of 1 to 32 characters. Other fields are ignored.
fn parse_progress_body(body: &[u8]) -> Result<(String, String), String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| "the body is not valid JSON".to_owned())?;
    let serde_json::Value::Object(mut map) = value else {
        return Err("the body is not a JSON object".to_owned());
    };
    let mut field = |name: &str| match map.remove(name) {
        None | Some(serde_json::Value::Null) => Err(format!("{name} is missing")),
        Some(serde_json::Value::String(s)) => {
            let chars = s.chars().count();
            if chars == 0 {
                Err(format!("{name} is empty"))
            } else if chars > KOOPHONE_ID_MAX_CHARS {
                Err(format!(
                    "{name} is longer than {KOOPHONE_ID_MAX_CHARS} characters"
                ))
            } else {
                Ok(s)
            }
        }
        Some(_) => Err(format!("{name} must be a string")),
    };
    let user_id = field("user_id")?;
    let instance_id = field("instance_id")?;
    Ok((user_id, instance_id))
}

/// Checks the BatchPrepareInstances body as the service documents it:
/// `user_id` a string of 1 to 32 characters, `instance_ids` an array of 1 to
/// 100 such strings. Other fields are ignored; repeated ids are accepted and
/// answered once.
fn parse_prepare_body(body: &[u8]) -> Result<(String, Vec<String>), String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| "the body is not valid JSON".to_owned())?;
    let serde_json::Value::Object(mut map) = value else {
        return Err("the body is not a JSON object".to_owned());
    };
    let id = |name: &str, value: serde_json::Value| match value {
        serde_json::Value::String(s) => {
            let chars = s.chars().count();
            if chars == 0 {
                Err(format!("{name} is empty"))
            } else if chars > KOOPHONE_ID_MAX_CHARS {
                Err(format!(
                    "{name} is longer than {KOOPHONE_ID_MAX_CHARS} characters"
                ))
            } else {
                Ok(s)
            }
        }
        _ => Err(format!("{name} must be a string")),
    };
    let user_id = match map.remove("user_id") {
        None | Some(serde_json::Value::Null) => return Err("user_id is missing".to_owned()),
        Some(value) => id("user_id", value)?,
    };
    let ids = match map.remove("instance_ids") {
        None | Some(serde_json::Value::Null) => {
            return Err("instance_ids is missing".to_owned());
        }
        Some(serde_json::Value::Array(ids)) => ids,
        Some(_) => return Err("instance_ids must be an array".to_owned()),
    };
    if ids.is_empty() {
        return Err("instance_ids is empty".to_owned());
    }
    if ids.len() > MAX_PREPARE_BATCH {
        return Err(format!(
            "instance_ids has more than {MAX_PREPARE_BATCH} entries"
        ));
    }
    let ids = ids
        .into_iter()
        .map(|value| id("instance_ids[]", value))
        .collect::<Result<Vec<String>, String>>()?;
    Ok((user_id, ids))
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Vec<u8>> {
    // Serializing these plain structs cannot fail; an empty body would be
    // caught by any client as malformed, never a panic here.
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(bytes);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

/// `{"error_code","error_msg"}`, the services' own error shape.
fn service_error(status: StatusCode, code: &str, msg: &str) -> Response<Vec<u8>> {
    #[derive(Serialize)]
    struct Body<'a> {
        error_code: &'a str,
        error_msg: &'a str,
    }
    json(
        status,
        &Body {
            error_code: code,
            error_msg: msg,
        },
    )
}

/// The API gateway's shape, which also carries the request id.
fn gateway_error(status: StatusCode, code: &str, msg: &str, request_id: &str) -> Response<Vec<u8>> {
    #[derive(Serialize)]
    struct Body<'a> {
        error_code: &'a str,
        error_msg: &'a str,
        request_id: &'a str,
    }
    json(
        status,
        &Body {
            error_code: code,
            error_msg: msg,
            request_id,
        },
    )
}

fn too_large(request_id: &str) -> Response<Vec<u8>> {
    gateway_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "APIGW.0201",
        "Request entity too large",
        request_id,
    )
}

/// 429 as documented: a plain string, plus Retry-After in seconds.
fn throttled(retry_after_s: u64) -> Response<Vec<u8>> {
    let mut response =
        Response::new(b"Too Many Requests: the request rate limit was exceeded".to_vec());
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain;charset=UTF-8"),
    );
    headers.insert(RETRY_AFTER, HeaderValue::from(retry_after_s));
    response
}

/// What a load balancer in front of the service sends: HTML, not JSON.
fn html_error(status: StatusCode, retry_after_s: Option<u64>) -> Response<Vec<u8>> {
    let reason = status.canonical_reason().unwrap_or("Error");
    let code = status.as_u16();
    let page = format!(
        "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    let mut response = Response::new(page.into_bytes());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
    if let Some(secs) = retry_after_s {
        headers.insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn finish_headers(response: &mut Response<Vec<u8>>, request_id: &str) {
    let len = response.body().len();
    let headers = response.headers_mut();
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
}
