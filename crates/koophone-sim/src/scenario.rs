//! Scenarios: what the simulated cloud contains and how it misbehaves.
//!
//! A scenario is a JSON document (format in the crate README) parsed by
//! [`Scenario::from_json`], which rejects unknown fields and names the exact
//! field path of any mistake, so a typo never silently changes a test.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Deserializer};

/// The longest `user_id` / `instance_id` KooPhone accepts, in characters.
pub const KOOPHONE_ID_MAX_CHARS: usize = 32;

const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
const DEFAULT_REQUEST_LOG_CAPACITY: usize = 1024;
/// IAM's own token lifetime: 24 hours.
pub const DEFAULT_TOKEN_LIFETIME_MS: u64 = 24 * 60 * 60 * 1000;

/// Why a scenario was refused.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The scenario file could not be read.
    #[error("cannot read scenario file {path}: {source}")]
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The document is not valid JSON or breaks a rule; `field` is the path
    /// of the offending value, e.g. `koophone.users[0].instances[1].phases[0].for_ms`.
    #[error("invalid scenario field `{field}`: {message}")]
    Invalid {
        /// Path of the bad field (`.` for the document itself).
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

impl ScenarioError {
    fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The path of the bad field, when the error is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            Self::Read { .. } => None,
        }
    }
}

/// Everything the simulated cloud knows: tokens, limits, KooPhone users and
/// instances, CloudDC projects and instances, and fault rules.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Tokens the gateway accepts; any other token gets 401.
    #[serde(default = "default_tokens")]
    pub tokens: Vec<TokenSpec>,
    /// Optional per-token rate limit (429 with Retry-After when exceeded).
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// Request bodies larger than this are refused with 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// How many recent requests the request log keeps (0 disables it).
    #[serde(default = "default_request_log_capacity")]
    pub request_log_capacity: usize,
    /// The KooPhone side: users and their instances.
    #[serde(default)]
    pub koophone: KooPhoneSpec,
    /// The CloudDC side: projects and their instances.
    #[serde(default)]
    pub clouddc: CloudDcSpec,
    /// Fault rules, tried in order; the first that fires wins.
    #[serde(default)]
    pub faults: Vec<FaultRule>,
    /// Access key pairs whose SDK-HMAC-SHA256 signatures the gateway
    /// accepts in place of a token.
    #[serde(default = "default_access_keys")]
    pub access_keys: Vec<AccessKeySpec>,
    /// The IAM endpoint (`POST /v3/auth/tokens`): its users and projects
    /// and the lifetime of the tokens it issues.
    #[serde(default)]
    pub iam: IamSpec,
    /// The wall-clock time the simulator's start maps to (RFC 3339 in
    /// JSON, e.g. `"2026-11-24T06:00:00Z"`): token expiry times and the
    /// `X-Sdk-Date` check are measured from it. When absent, the server
    /// adapter uses the real time it starts at and an in-process
    /// [`Simulator`](crate::Simulator) uses [`default_wall_clock_origin`];
    /// [`SimBuilder::wall_clock_origin`](crate::SimBuilder::wall_clock_origin)
    /// overrides it.
    #[serde(default, deserialize_with = "rfc3339")]
    pub wall_clock_origin: Option<SystemTime>,
    /// The ECS/BMS instance metadata service (temporary AK/SK credentials
    /// of the instance's agency); served by default.
    #[serde(default)]
    pub metadata: MetadataSpec,
}

/// The wall-clock origin of an in-process simulator whose scenario names
/// none, in seconds since the Unix epoch: 2026-01-01T00:00:00Z, fixed so
/// in-process runs are reproducible.
pub const DEFAULT_WALL_CLOCK_ORIGIN_UNIX_SECS: u64 = 1_767_225_600;

/// [`DEFAULT_WALL_CLOCK_ORIGIN_UNIX_SECS`] as a `SystemTime`.
pub fn default_wall_clock_origin() -> SystemTime {
    SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_secs(DEFAULT_WALL_CLOCK_ORIGIN_UNIX_SECS))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

fn rfc3339<'de, D: Deserializer<'de>>(de: D) -> Result<Option<SystemTime>, D::Error> {
    use serde::de::Error;
    let Some(text) = Option::<String>::deserialize(de)? else {
        return Ok(None);
    };
    let parsed = time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| D::Error::custom("expected an RFC 3339 time such as 2026-11-24T06:00:00Z"))?;
    let nanos = parsed.unix_timestamp_nanos();
    // Years are within ±9999, so the seconds fit in a u64.
    let abs = nanos.unsigned_abs();
    let magnitude = Duration::new(
        u64::try_from(abs / 1_000_000_000).unwrap_or(u64::MAX),
        (abs % 1_000_000_000) as u32,
    );
    let time = if nanos >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(magnitude)
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(magnitude)
    };
    time.map(Some)
        .ok_or_else(|| D::Error::custom("the time is out of this system's range"))
}

/// A secret as a string; a value of another type is refused without being
/// repeated in the error (serde's messages quote the value).
fn secret<'de, D: Deserializer<'de>>(de: D) -> Result<String, D::Error> {
    use serde::de::Error;
    String::deserialize(de).map_err(|_| D::Error::custom("expected a string"))
}

fn default_tokens() -> Vec<TokenSpec> {
    vec![TokenSpec::new("sim-token")]
}
fn default_access_keys() -> Vec<AccessKeySpec> {
    vec![AccessKeySpec::new("sim-ak", "sim-sk")]
}
fn default_max_body_bytes() -> usize {
    DEFAULT_MAX_BODY_BYTES
}
fn default_request_log_capacity() -> usize {
    DEFAULT_REQUEST_LOG_CAPACITY
}

/// A token the simulated gateway accepts. Written in a scenario either as a
/// plain string or as `{"token": "...", "expires_at_ms": N}`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "TokenSpecRepr")]
pub struct TokenSpec {
    /// The token value, compared byte for byte with the request header.
    pub token: String,
    /// From this time on (ms since start) the token is refused as expired.
    pub expires_at_ms: Option<u64>,
}

impl TokenSpec {
    /// A token that never expires.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            expires_at_ms: None,
        }
    }
}

/// Tokens are credentials even in a simulator: Debug never shows them.
impl fmt::Debug for TokenSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSpec")
            .field("token", &"<redacted>")
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "a token string or {\"token\": ..., \"expires_at_ms\": ...}"
)]
enum TokenSpecRepr {
    Plain(String),
    Full {
        token: String,
        #[serde(default)]
        expires_at_ms: Option<u64>,
    },
}

impl From<TokenSpecRepr> for TokenSpec {
    fn from(repr: TokenSpecRepr) -> Self {
        match repr {
            TokenSpecRepr::Plain(token) => Self::new(token),
            TokenSpecRepr::Full {
                token,
                expires_at_ms,
            } => Self {
                token,
                expires_at_ms,
            },
        }
    }
}

/// An access key pair (permanent, or temporary with a security token) whose
/// SDK-HMAC-SHA256 signatures the gateway accepts. Like a token it may call
/// every operation on every user and project of the scenario.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKeySpec {
    /// The AK, sent in clear as `Access=` of the `Authorization` header.
    pub access_key: String,
    /// The SK, the HMAC key (its UTF-8 bytes).
    #[serde(deserialize_with = "secret")]
    pub secret_key: String,
    /// For a temporary key pair: the `X-Security-Token` every signed request
    /// must carry, and sign. A permanent pair (none here) refuses requests
    /// that carry one.
    #[serde(default)]
    pub security_token: Option<String>,
}

impl AccessKeySpec {
    /// A permanent key pair.
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            security_token: None,
        }
    }
}

/// The SK and the security token are credentials: Debug never shows them.
impl fmt::Debug for AccessKeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKeySpec")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The simulated IAM: who may get a token, for which projects, for how long.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamSpec {
    /// How long an issued token is accepted, in ms (IAM's own: 24 h). Short
    /// lifetimes let tests see tokens expire.
    #[serde(default = "default_token_lifetime_ms")]
    pub token_lifetime_ms: u64,
    /// Accounts (IAM domains) with their projects and users.
    #[serde(default = "default_iam_domains")]
    pub domains: Vec<IamDomain>,
}

impl Default for IamSpec {
    fn default() -> Self {
        Self {
            token_lifetime_ms: DEFAULT_TOKEN_LIFETIME_MS,
            domains: default_iam_domains(),
        }
    }
}

fn default_token_lifetime_ms() -> u64 {
    DEFAULT_TOKEN_LIFETIME_MS
}

fn default_iam_domains() -> Vec<IamDomain> {
    vec![IamDomain {
        name: "sim-domain".to_owned(),
        projects: vec![IamProject {
            id: "sim-project".to_owned(),
            name: "sim-project".to_owned(),
        }],
        users: vec![IamUser {
            name: "sim-user".to_owned(),
            password: "sim-password".to_owned(),
        }],
    }]
}

/// An IAM domain (a Huawei Cloud account).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamDomain {
    /// The domain name of `auth.identity.password.user.domain.name`.
    pub name: String,
    /// Projects a token can be scoped to, by id or by name.
    #[serde(default)]
    pub projects: Vec<IamProject>,
    /// Users who may get a token with their password.
    #[serde(default)]
    pub users: Vec<IamUser>,
}

/// An IAM project; `id` is what CloudDC paths name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamProject {
    /// The project id (`scope.project.id`, `token.project.id`).
    pub id: String,
    /// The project name (`scope.project.name`), e.g. a region name.
    pub name: String,
}

/// An IAM user of a domain.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamUser {
    /// The user name.
    pub name: String,
    /// The password, compared byte for byte.
    #[serde(deserialize_with = "secret")]
    pub password: String,
}

/// A password is a credential: Debug never shows it.
impl fmt::Debug for IamUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IamUser")
            .field("name", &self.name)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A token bucket per token: `burst` requests at once, then one more every
/// `refill_every_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Bucket size: requests allowed back to back.
    pub burst: u32,
    /// One request credit comes back every this many milliseconds.
    pub refill_every_ms: u64,
}

/// KooPhone users and their instances.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KooPhoneSpec {
    /// The users; instance ids are unique across all of them.
    #[serde(default)]
    pub users: Vec<KooPhoneUser>,
}

/// A KooPhone user (tenant end user) owning instances.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KooPhoneUser {
    /// The `user_id` of ShowProgress requests (1 to 32 characters).
    pub user_id: String,
    /// Instances this user owns; asking for them as another user gets
    /// `KOOPHONE.API.1001`.
    #[serde(default)]
    pub instances: Vec<KooPhoneInstance>,
}

/// A KooPhone instance and its preparation timeline.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KooPhoneInstance {
    /// The `instance_id` of ShowProgress requests (1 to 32 characters).
    pub instance_id: String,
    /// Phases in order from the simulator's start, or, for an instance
    /// that needs preparing, from its first accepted BatchPrepareInstances
    /// call; the last lasts forever.
    pub phases: Vec<KooPhonePhase>,
    /// Present when the instance needs a BatchPrepareInstances call before
    /// its preparation starts; absent, it counts as prepared at the start
    /// and a prepare call changes nothing.
    #[serde(default)]
    pub prepare: Option<PrepareSpec>,
}

/// How an instance that needs preparing behaves before and when it is
/// prepared.
///
/// The service does not document what ShowProgress answers for an instance
/// nobody prepared, nor what a second prepare call does: these are the
/// simulator's assumptions, made explicit so a scenario can change them.
/// Until a prepare call, ShowProgress reports `before` (by default
/// `queuing` with a `waitingCount` of 0, which a waiter sees as "not yet");
/// the first accepted call starts the instance's `phases`; later calls
/// change nothing (the preparation already runs, and may already have
/// failed).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrepareSpec {
    /// What ShowProgress reports as `data.status` until the instance is prepared.
    #[serde(default = "queuing")]
    pub before: KooPhoneStatus,
    /// The `waitingCount` reported until then.
    #[serde(default)]
    pub before_waiting_count: i64,
    /// The cloud phone status BatchPrepareInstances reports for the
    /// instance (`0` ready ... `10` maintaining, or any integer).
    #[serde(default)]
    pub phone_status: i64,
    /// The prepare answer leaves the instance out of `status_list` (the
    /// preparation still starts): what a client must report as missing.
    #[serde(default)]
    pub omit_from_answer: bool,
}

impl Default for PrepareSpec {
    fn default() -> Self {
        Self {
            before: KooPhoneStatus::Queuing,
            before_waiting_count: 0,
            phone_status: 0,
            omit_from_answer: false,
        }
    }
}

fn queuing() -> KooPhoneStatus {
    KooPhoneStatus::Queuing
}

/// One stretch of a KooPhone instance's preparation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KooPhonePhase {
    /// What ShowProgress reports as `data.status`.
    pub status: KooPhoneStatus,
    /// How long the phase lasts; required on every phase but the last.
    #[serde(default)]
    pub for_ms: Option<u64>,
    /// A constant `waitingCount` for the phase (default 0).
    #[serde(default)]
    pub waiting_count: Option<i64>,
    /// Count `waitingCount` down from this value to 1 in equal steps over
    /// the phase (needs `for_ms`; excludes `waiting_count`).
    #[serde(default)]
    pub waiting_count_from: Option<u32>,
}

/// `data.status` of ShowProgress: a documented name or any integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "StatusRepr")]
pub enum KooPhoneStatus {
    /// `0`: ready.
    Normal,
    /// `1`: waiting in a queue.
    Queuing,
    /// `2`: restoring and offline.
    Restoring,
    /// `3`: backing up.
    BackingUp,
    /// `-1`: processing failure.
    Failed,
    /// Any other integer, sent as is (to test that clients keep unknown values).
    Other(i64),
}

impl KooPhoneStatus {
    /// The integer sent on the wire.
    pub fn code(self) -> i64 {
        match self {
            Self::Normal => 0,
            Self::Queuing => 1,
            Self::Restoring => 2,
            Self::BackingUp => 3,
            Self::Failed => -1,
            Self::Other(code) => code,
        }
    }

    fn from_code(code: i64) -> Self {
        match code {
            0 => Self::Normal,
            1 => Self::Queuing,
            2 => Self::Restoring,
            3 => Self::BackingUp,
            -1 => Self::Failed,
            other => Self::Other(other),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged, expecting = "a status name or an integer")]
enum StatusRepr {
    Code(i64),
    Name(String),
}

impl TryFrom<StatusRepr> for KooPhoneStatus {
    type Error = String;

    fn try_from(repr: StatusRepr) -> Result<Self, String> {
        match repr {
            StatusRepr::Code(code) => Ok(Self::from_code(code)),
            StatusRepr::Name(name) => match name.as_str() {
                "normal" => Ok(Self::Normal),
                "queuing" => Ok(Self::Queuing),
                "restoring" => Ok(Self::Restoring),
                "backing_up" => Ok(Self::BackingUp),
                "failed" => Ok(Self::Failed),
                _ => Err(format!(
                    "unknown status `{name}`, expected normal, queuing, restoring, backing_up, failed or an integer"
                )),
            },
        }
    }
}

/// CloudDC projects and their instances.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudDcSpec {
    /// The projects (unique ids).
    #[serde(default)]
    pub projects: Vec<CloudDcProject>,
}

/// A CloudDC project (the `{project_id}` path segment).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudDcProject {
    /// The project id as it appears (percent-decoded) in the path.
    pub project_id: String,
    /// Instances of the project (unique ids within it).
    #[serde(default)]
    pub instances: Vec<CloudDcInstance>,
}

/// A CloudDC instance and its state timeline.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudDcInstance {
    /// The `{id}` path segment (percent-decoded).
    pub instance_id: String,
    /// Phases in order from the simulator's start; the last lasts forever.
    pub phases: Vec<CloudDcPhase>,
}

/// One stretch of a CloudDC instance's life.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudDcPhase {
    /// What ShowInstanceStatus reports as `state`: a documented state
    /// (`pending`, `running`, `stopping`, `stopped`, `reinstalling`,
    /// `shutting-down`, `terminated`, `error`, `failed`) or any other string.
    pub state: String,
    /// How long the phase lasts; required on every phase but the last.
    #[serde(default)]
    pub for_ms: Option<u64>,
    /// The `error` object; in state `error` or `failed` a default one is
    /// sent when this is absent.
    #[serde(default)]
    pub error: Option<InstanceError>,
    /// The optional `operation_state` string (e.g. `install-processing`).
    #[serde(default)]
    pub operation_state: Option<String>,
}

/// The `error` object of a CloudDC instance in trouble.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceError {
    /// Error code.
    pub error_code: String,
    /// Error description.
    pub error_msg: String,
    /// Error type, e.g. `create_instance_error`.
    pub error_type: String,
}

impl InstanceError {
    /// The error object sent for an `error`/`failed` phase that names none.
    pub fn default_failure() -> Self {
        Self {
            error_code: "CLOUDDC.5001".to_owned(),
            error_msg: "the instance failed to be created".to_owned(),
            error_type: "create_instance_error".to_owned(),
        }
    }
}

/// States after which the CloudDC docs expect an `error` object.
pub(crate) fn is_error_state(state: &str) -> bool {
    matches!(state, "error" | "failed")
}

/// A fault rule: on requests to `route`, within `[from_ms, until_ms)`, with
/// `probability` start a burst of `burst` consecutive faulty answers, at
/// most `max_count` in total.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Which operation the rule applies to.
    #[serde(default)]
    pub route: FaultRoute,
    /// Chance (0 to 1) that a matching request starts a burst.
    #[serde(default = "one")]
    pub probability: f64,
    /// How many consecutive matching requests a burst covers.
    #[serde(default = "one_u32")]
    pub burst: u32,
    /// The rule is active from this time (ms since start).
    #[serde(default)]
    pub from_ms: u64,
    /// The rule is inactive from this time on (ms since start).
    #[serde(default)]
    pub until_ms: Option<u64>,
    /// At most this many faulty answers in total from this rule.
    #[serde(default)]
    pub max_count: Option<u64>,
    /// What goes wrong.
    pub fault: Fault,
}

fn one() -> f64 {
    1.0
}
fn one_u32() -> u32 {
    1
}

/// The routes a fault rule can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultRoute {
    /// Every operation of the gateway (not IAM).
    #[default]
    Any,
    /// `POST /v1/instances/prepare-progress`.
    ShowProgress,
    /// `GET /v1/{project_id}/instances/{id}/status`.
    ShowInstanceStatus,
    /// `POST /v1/instances/prepare`.
    BatchPrepareInstances,
}

/// What goes wrong when a fault rule fires. Variants without settings are
/// written `{}` so that a misplaced setting is refused, not ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// 500 with the route's internal error code (`KOOPHONE.API.9999`).
    InternalError {
        /// Override the error code.
        #[serde(default)]
        error_code: Option<String>,
    },
    /// 200 whose body carries an error code instead of data.
    OkWithError {
        /// Override the error code (default `KOOPHONE.API.9999`).
        #[serde(default)]
        error_code: Option<String>,
    },
    /// 502 with an HTML page, as a load balancer sends.
    BadGateway {},
    /// 503 with an HTML page, optionally with Retry-After.
    ServiceUnavailable {
        /// Retry-After in seconds.
        #[serde(default)]
        retry_after_s: Option<u64>,
    },
    /// 429 with a plain-text body and Retry-After.
    Throttled {
        /// Retry-After in seconds (default 1).
        #[serde(default)]
        retry_after_s: Option<u64>,
    },
    /// The normal answer, delivered after a delay.
    Slow {
        /// The delay in milliseconds.
        delay_ms: u64,
    },
    /// 200 with a body that is not the JSON the client expects.
    MalformedJson {},
    /// The normal answer with its JSON cut short (framing stays consistent).
    TruncatedJson {},
    /// The normal answer with a full Content-Length, but the connection
    /// closes part way through the body (server adapter; in process it is
    /// reported as [`crate::ConnectionFault::TruncateBody`]).
    TruncatedBody {},
    /// The connection closes without any answer.
    DropConnection {},
}

impl Fault {
    /// The snake_case name used in scenarios and the request log.
    pub fn name(&self) -> &'static str {
        match self {
            Self::InternalError { .. } => "internal_error",
            Self::OkWithError { .. } => "ok_with_error",
            Self::BadGateway {} => "bad_gateway",
            Self::ServiceUnavailable { .. } => "service_unavailable",
            Self::Throttled { .. } => "throttled",
            Self::Slow { .. } => "slow",
            Self::MalformedJson {} => "malformed_json",
            Self::TruncatedJson {} => "truncated_json",
            Self::TruncatedBody {} => "truncated_body",
            Self::DropConnection {} => "drop_connection",
        }
    }
}

impl Scenario {
    /// Parses and validates a scenario document.
    pub fn from_json(text: &str) -> Result<Self, ScenarioError> {
        // serde would also take a bare array of field values: refuse it.
        if !text.trim_start().starts_with('{') {
            return Err(ScenarioError::invalid(
                ".",
                "invalid type: a scenario is a JSON object",
            ));
        }
        let de = &mut serde_json::Deserializer::from_str(text);
        let scenario: Scenario = serde_path_to_error::deserialize(de).map_err(|err| {
            // The crate writes `?` where it knows no field: the document.
            let path = match err.path().to_string() {
                p if p == "?" => ".".to_owned(),
                p => p,
            };
            ScenarioError::invalid(path, err.into_inner().to_string())
        })?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// Reads, parses and validates a scenario file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ScenarioError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_json(&text)
    }

    /// A scenario with the default credentials (token, key pair, IAM user)
    /// and nothing else: a blank slate for tests that build their own world.
    pub fn empty() -> Self {
        Self {
            tokens: default_tokens(),
            rate_limit: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            request_log_capacity: DEFAULT_REQUEST_LOG_CAPACITY,
            koophone: KooPhoneSpec::default(),
            clouddc: CloudDcSpec::default(),
            faults: Vec::new(),
            access_keys: default_access_keys(),
            iam: IamSpec::default(),
            wall_clock_origin: None,
            metadata: MetadataSpec::default(),
        }
    }

    /// Checks every rule the JSON shape cannot express. Scenarios built in
    /// code go through this too when a simulator is created.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        for (i, token) in self.tokens.iter().enumerate() {
            let valid =
                !token.token.is_empty() && token.token.bytes().all(|b| b.is_ascii_graphic());
            if !valid {
                return Err(ScenarioError::invalid(
                    format!("tokens[{i}]"),
                    "a token must be non-empty visible ASCII without spaces",
                ));
            }
        }
        if let Some(limit) = &self.rate_limit {
            if limit.burst == 0 {
                return Err(ScenarioError::invalid(
                    "rate_limit.burst",
                    "must be at least 1",
                ));
            }
            if limit.refill_every_ms == 0 {
                return Err(ScenarioError::invalid(
                    "rate_limit.refill_every_ms",
                    "must be at least 1",
                ));
            }
        }
        if self.max_body_bytes == 0 {
            return Err(ScenarioError::invalid(
                "max_body_bytes",
                "must be at least 1",
            ));
        }
        self.validate_access_keys()?;
        self.validate_iam()?;
        self.metadata.validate()?;
        self.validate_koophone()?;
        self.validate_clouddc()?;
        for (i, rule) in self.faults.iter().enumerate() {
            validate_fault_rule(&format!("faults[{i}]"), rule)?;
        }
        Ok(())
    }

    fn validate_access_keys(&self) -> Result<(), ScenarioError> {
        let mut seen = HashSet::new();
        for (i, key) in self.access_keys.iter().enumerate() {
            let base = format!("access_keys[{i}]");
            if !is_visible_ascii(&key.access_key) {
                return Err(ScenarioError::invalid(
                    format!("{base}.access_key"),
                    "an access key must be non-empty visible ASCII without spaces or commas",
                ));
            }
            if !seen.insert(key.access_key.as_str()) {
                return Err(ScenarioError::invalid(
                    format!("{base}.access_key"),
                    format!("duplicate access key `{}`", key.access_key),
                ));
            }
            if key.secret_key.is_empty() {
                return Err(ScenarioError::invalid(
                    format!("{base}.secret_key"),
                    "must not be empty",
                ));
            }
            if let Some(token) = &key.security_token
                && !is_visible_ascii(token)
            {
                return Err(ScenarioError::invalid(
                    format!("{base}.security_token"),
                    "a security token must be non-empty visible ASCII without spaces",
                ));
            }
        }
        Ok(())
    }

    fn validate_iam(&self) -> Result<(), ScenarioError> {
        if self.iam.token_lifetime_ms == 0 {
            return Err(ScenarioError::invalid(
                "iam.token_lifetime_ms",
                "must be at least 1",
            ));
        }
        let mut domains = HashSet::new();
        for (d, domain) in self.iam.domains.iter().enumerate() {
            let base = format!("iam.domains[{d}]");
            if domain.name.is_empty() {
                return Err(ScenarioError::invalid(
                    format!("{base}.name"),
                    "must not be empty",
                ));
            }
            if !domains.insert(domain.name.as_str()) {
                return Err(ScenarioError::invalid(
                    format!("{base}.name"),
                    format!("duplicate domain `{}`", domain.name),
                ));
            }
            let (mut ids, mut names) = (HashSet::new(), HashSet::new());
            for (p, project) in domain.projects.iter().enumerate() {
                let base = format!("{base}.projects[{p}]");
                for (field, value, seen) in [
                    ("id", &project.id, &mut ids),
                    ("name", &project.name, &mut names),
                ] {
                    if value.is_empty() {
                        return Err(ScenarioError::invalid(
                            format!("{base}.{field}"),
                            "must not be empty",
                        ));
                    }
                    if !seen.insert(value.as_str()) {
                        return Err(ScenarioError::invalid(
                            format!("{base}.{field}"),
                            format!("duplicate project {field} `{value}` in this domain"),
                        ));
                    }
                }
            }
            let mut users = HashSet::new();
            for (u, user) in domain.users.iter().enumerate() {
                let base = format!("{base}.users[{u}]");
                if user.name.is_empty() {
                    return Err(ScenarioError::invalid(
                        format!("{base}.name"),
                        "must not be empty",
                    ));
                }
                if !users.insert(user.name.as_str()) {
                    return Err(ScenarioError::invalid(
                        format!("{base}.name"),
                        format!("duplicate user `{}` in this domain", user.name),
                    ));
                }
                if user.password.is_empty() {
                    return Err(ScenarioError::invalid(
                        format!("{base}.password"),
                        "must not be empty",
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_koophone(&self) -> Result<(), ScenarioError> {
        let mut users = HashSet::new();
        let mut instances = HashSet::new();
        for (u, user) in self.koophone.users.iter().enumerate() {
            let base = format!("koophone.users[{u}]");
            validate_koophone_id(&format!("{base}.user_id"), &user.user_id)?;
            if !users.insert(user.user_id.as_str()) {
                return Err(ScenarioError::invalid(
                    format!("{base}.user_id"),
                    format!("duplicate user `{}`", user.user_id),
                ));
            }
            for (i, instance) in user.instances.iter().enumerate() {
                let base = format!("{base}.instances[{i}]");
                validate_koophone_id(&format!("{base}.instance_id"), &instance.instance_id)?;
                if !instances.insert(instance.instance_id.as_str()) {
                    return Err(ScenarioError::invalid(
                        format!("{base}.instance_id"),
                        format!(
                            "duplicate instance `{}` (instance ids are unique across users)",
                            instance.instance_id
                        ),
                    ));
                }
                let durations: Vec<Option<u64>> =
                    instance.phases.iter().map(|p| p.for_ms).collect();
                validate_phase_durations(&format!("{base}.phases"), &durations)?;
                for (p, phase) in instance.phases.iter().enumerate() {
                    let field = format!("{base}.phases[{p}]");
                    if phase.waiting_count_from.is_some() && phase.waiting_count.is_some() {
                        return Err(ScenarioError::invalid(
                            format!("{field}.waiting_count_from"),
                            "give either waiting_count or waiting_count_from, not both",
                        ));
                    }
                    if let Some(from) = phase.waiting_count_from {
                        if from == 0 {
                            return Err(ScenarioError::invalid(
                                format!("{field}.waiting_count_from"),
                                "must be at least 1",
                            ));
                        }
                        if phase.for_ms.is_none() {
                            return Err(ScenarioError::invalid(
                                format!("{field}.waiting_count_from"),
                                "counting down needs a phase with for_ms",
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn validate_clouddc(&self) -> Result<(), ScenarioError> {
        let mut projects = HashSet::new();
        for (p, project) in self.clouddc.projects.iter().enumerate() {
            let base = format!("clouddc.projects[{p}]");
            if project.project_id.is_empty() {
                return Err(ScenarioError::invalid(
                    format!("{base}.project_id"),
                    "must not be empty",
                ));
            }
            if !projects.insert(project.project_id.as_str()) {
                return Err(ScenarioError::invalid(
                    format!("{base}.project_id"),
                    format!("duplicate project `{}`", project.project_id),
                ));
            }
            let mut instances = HashSet::new();
            for (i, instance) in project.instances.iter().enumerate() {
                let base = format!("{base}.instances[{i}]");
                if instance.instance_id.is_empty() {
                    return Err(ScenarioError::invalid(
                        format!("{base}.instance_id"),
                        "must not be empty",
                    ));
                }
                if !instances.insert(instance.instance_id.as_str()) {
                    return Err(ScenarioError::invalid(
                        format!("{base}.instance_id"),
                        format!(
                            "duplicate instance `{}` in this project",
                            instance.instance_id
                        ),
                    ));
                }
                let durations: Vec<Option<u64>> =
                    instance.phases.iter().map(|p| p.for_ms).collect();
                validate_phase_durations(&format!("{base}.phases"), &durations)?;
                for (n, phase) in instance.phases.iter().enumerate() {
                    if phase.state.is_empty() {
                        return Err(ScenarioError::invalid(
                            format!("{base}.phases[{n}].state"),
                            "must not be empty",
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Credentials that travel in headers: non-empty visible ASCII, and no
/// comma (which would split an `Authorization` parameter).
fn is_visible_ascii(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic() && b != b',')
}

fn validate_koophone_id(field: &str, id: &str) -> Result<(), ScenarioError> {
    let chars = id.chars().count();
    if chars == 0 || chars > KOOPHONE_ID_MAX_CHARS {
        return Err(ScenarioError::invalid(
            field,
            format!("must be 1 to {KOOPHONE_ID_MAX_CHARS} characters, as KooPhone requires"),
        ));
    }
    Ok(())
}

fn validate_phase_durations(field: &str, durations: &[Option<u64>]) -> Result<(), ScenarioError> {
    let Some(last) = durations.len().checked_sub(1) else {
        return Err(ScenarioError::invalid(field, "needs at least one phase"));
    };
    for (i, for_ms) in durations.iter().enumerate() {
        match (i == last, for_ms) {
            (false, None) => {
                return Err(ScenarioError::invalid(
                    format!("{field}[{i}].for_ms"),
                    "required on every phase but the last",
                ));
            }
            (false, Some(0)) => {
                return Err(ScenarioError::invalid(
                    format!("{field}[{i}].for_ms"),
                    "must be at least 1",
                ));
            }
            (true, Some(_)) => {
                return Err(ScenarioError::invalid(
                    format!("{field}[{i}].for_ms"),
                    "the last phase lasts forever and takes no for_ms",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn validate_fault_rule(base: &str, rule: &FaultRule) -> Result<(), ScenarioError> {
    if !(0.0..=1.0).contains(&rule.probability) {
        return Err(ScenarioError::invalid(
            format!("{base}.probability"),
            "must be between 0 and 1",
        ));
    }
    if rule.burst == 0 {
        return Err(ScenarioError::invalid(
            format!("{base}.burst"),
            "must be at least 1",
        ));
    }
    if let Some(until) = rule.until_ms
        && until <= rule.from_ms
    {
        return Err(ScenarioError::invalid(
            format!("{base}.until_ms"),
            "must be later than from_ms",
        ));
    }
    if rule.max_count == Some(0) {
        return Err(ScenarioError::invalid(
            format!("{base}.max_count"),
            "must be at least 1 (remove the rule to disable it)",
        ));
    }
    match &rule.fault {
        Fault::Slow { delay_ms: 0 } => Err(ScenarioError::invalid(
            format!("{base}.fault.delay_ms"),
            "must be at least 1",
        )),
        Fault::InternalError {
            error_code: Some(code),
        }
        | Fault::OkWithError {
            error_code: Some(code),
        } if code.is_empty() || code == "0" => Err(ScenarioError::invalid(
            format!("{base}.fault.error_code"),
            "an error code must be non-empty and not \"0\"",
        )),
        _ => Ok(()),
    }
}

impl Default for Scenario {
    /// The built-in scenario, identical to `scenarios/default.json`: both
    /// documented examples plus a failing and a slowly starting instance,
    /// and `iPREP001`, which starts preparing only when a
    /// BatchPrepareInstances call asks for it.
    fn default() -> Self {
        let phase = |status, for_ms, waiting_count_from| KooPhonePhase {
            status,
            for_ms,
            waiting_count: None,
            waiting_count_from,
        };
        let state =
            |state: &str, for_ms, error: Option<InstanceError>, op: Option<&str>| CloudDcPhase {
                state: state.to_owned(),
                for_ms,
                error,
                operation_state: op.map(str::to_owned),
            };
        Self {
            koophone: KooPhoneSpec {
                users: vec![
                    KooPhoneUser {
                        user_id: "1008600000104285462".to_owned(),
                        instances: vec![
                            KooPhoneInstance {
                                instance_id: "iRJEVP9".to_owned(),
                                phases: vec![
                                    phase(KooPhoneStatus::Queuing, Some(3000), Some(3)),
                                    phase(KooPhoneStatus::Restoring, Some(2000), None),
                                    phase(KooPhoneStatus::Normal, None, None),
                                ],
                                prepare: None,
                            },
                            KooPhoneInstance {
                                instance_id: "iFAILED1".to_owned(),
                                phases: vec![
                                    phase(KooPhoneStatus::Queuing, Some(2000), Some(2)),
                                    phase(KooPhoneStatus::Restoring, Some(1000), None),
                                    phase(KooPhoneStatus::Failed, None, None),
                                ],
                                prepare: None,
                            },
                            KooPhoneInstance {
                                instance_id: "iBACKUP1".to_owned(),
                                phases: vec![
                                    phase(KooPhoneStatus::Restoring, Some(1000), None),
                                    phase(KooPhoneStatus::BackingUp, Some(2000), None),
                                    phase(KooPhoneStatus::Normal, None, None),
                                ],
                                prepare: None,
                            },
                            KooPhoneInstance {
                                instance_id: "iPREP001".to_owned(),
                                phases: vec![
                                    phase(KooPhoneStatus::Queuing, Some(2000), Some(2)),
                                    phase(KooPhoneStatus::Restoring, Some(1000), None),
                                    phase(KooPhoneStatus::Normal, None, None),
                                ],
                                prepare: Some(PrepareSpec::default()),
                            },
                        ],
                    },
                    KooPhoneUser {
                        user_id: "1008600000104285463".to_owned(),
                        instances: vec![KooPhoneInstance {
                            instance_id: "iOTHER01".to_owned(),
                            phases: vec![phase(KooPhoneStatus::Normal, None, None)],
                            prepare: None,
                        }],
                    },
                ],
            },
            clouddc: CloudDcSpec {
                projects: vec![CloudDcProject {
                    project_id: "sim-project".to_owned(),
                    instances: vec![
                        CloudDcInstance {
                            instance_id: "sim-instance".to_owned(),
                            phases: vec![state("stopped", None, None, None)],
                        },
                        CloudDcInstance {
                            instance_id: "sim-starting".to_owned(),
                            phases: vec![
                                state("pending", Some(3000), None, Some("install-processing")),
                                state("running", None, None, Some("install-succeed")),
                            ],
                        },
                        CloudDcInstance {
                            instance_id: "sim-broken".to_owned(),
                            phases: vec![
                                state("pending", Some(2000), None, Some("install-processing")),
                                state(
                                    "error",
                                    None,
                                    Some(InstanceError::default_failure()),
                                    Some("install-failed"),
                                ),
                            ],
                        },
                        CloudDcInstance {
                            instance_id: "sim-deleting".to_owned(),
                            phases: vec![
                                state("shutting-down", Some(2000), None, None),
                                state("terminated", None, None, None),
                            ],
                        },
                    ],
                }],
            },
            ..Self::empty()
        }
    }
}
/// The metadata service of a scenario (`"metadata": {...}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataSpec {
    /// Whether the service answers at all; when false both paths get 404,
    /// as on a machine that is not an ECS/BMS instance.
    pub enabled: bool,
    /// Whether the service issues session tokens (and then requires one on
    /// the securitykey call); when false the token call answers 404.
    pub session_tokens: bool,
    /// When set, session tokens expire after this long (ms) even if a longer
    /// TTL was asked for: lets tests see a session token expire.
    pub session_token_lifetime_ms: Option<u64>,
    /// Whether the instance has an agency; without one, securitykey answers
    /// 401 "Please configure Cloud Service Agency first".
    pub agency: bool,
    /// How long each set of temporary credentials is valid, in ms.
    pub credential_lifetime_ms: u64,
    /// After how long (ms) a new set replaces the current one in answers;
    /// default half the lifetime. Older sets stay valid until they expire.
    pub rotate_after_ms: Option<u64>,
}

impl Default for MetadataSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            session_tokens: true,
            session_token_lifetime_ms: None,
            agency: true,
            credential_lifetime_ms: 24 * 60 * 60 * 1000,
            rotate_after_ms: None,
        }
    }
}

impl MetadataSpec {
    pub(crate) fn validate(&self) -> Result<(), ScenarioError> {
        let invalid = |field: &str, message: &str| ScenarioError::Invalid {
            field: format!("metadata.{field}"),
            message: message.to_owned(),
        };
        if self.credential_lifetime_ms == 0 {
            return Err(invalid("credential_lifetime_ms", "must be at least 1"));
        }
        if self.session_token_lifetime_ms == Some(0) {
            return Err(invalid("session_token_lifetime_ms", "must be at least 1"));
        }
        match self.rotate_after_ms {
            Some(0) => Err(invalid("rotate_after_ms", "must be at least 1")),
            Some(ms) if ms > self.credential_lifetime_ms => Err(invalid(
                "rotate_after_ms",
                "must not exceed credential_lifetime_ms",
            )),
            _ => Ok(()),
        }
    }

    pub(crate) fn rotate_after_ms(&self) -> u64 {
        self.rotate_after_ms
            .unwrap_or(self.credential_lifetime_ms / 2)
            .max(1)
    }
}
