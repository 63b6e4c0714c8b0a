//! The shared table of driver scenarios (`tests/scenarios/drivers.json`):
//! what each case runs and the outcome every driver must reach, plus the
//! in-memory driver loop (the koophone-proto waiter over
//! [`MemoryTransport`] under a virtual clock).
//!
//! A driver test implements [`Driver`] and hands each case to
//! [`run_case`], which builds the case's operation, target and policy and
//! compares nothing itself: the test compares the [`Outcome`] (and, where the
//! case gives one, the number of requests the simulator saw).

// The waiter's verdict is passed on by value, as the core returns it.
#![allow(clippy::result_large_err)]

use std::fmt;
use std::path::Path;
use std::time::Duration;

use http::Response;
use koophone_proto::auth::{AkSkCredentials, SecretKey};
use koophone_proto::{
    Action, ApiError, Auth, Endpoint, InstanceState, InstanceStatus, InvalidInput, Jitter,
    Observed, Once, Operation, Progress, RequestContext, ShowInstanceStatus, ShowProgress, Target,
    Token, TransportErrorKind, UntilReady, UntilState, WaitError, WaitPolicy, Waiter,
};
use koophone_sim::Scenario;
use koophone_sim::memory::{MemoryError, MemoryTransport};
use koophone_ureq::RetryPolicy;
use serde::Deserialize;
use serde_json::Value;

/// How a call or wait ended, in terms every driver can be mapped onto.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Outcome {
    /// The answer: ShowProgress's status name or ShowInstanceStatus's state.
    Ready(String),
    /// A wait ended on a failure state, by that status or state name.
    FailedState(String),
    /// A wait's deadline passed; the last status or state decoded, if any.
    Deadline(Option<String>),
    /// The service answered with an error.
    Service {
        /// HTTP status.
        status: u16,
        /// Error code as received.
        #[serde(default)]
        code: Option<String>,
    },
    /// 401.
    Unauthorized {
        /// Error code as received.
        #[serde(default)]
        code: Option<String>,
    },
    /// 429.
    Throttled {},
    /// An answer that does not fit the API.
    Malformed {
        /// HTTP status.
        status: u16,
    },
    /// No usable answer: `connect`, `tls`, `timeout`, `reset`, `body_too_large`, `other`.
    Transport(String),
    /// The driver itself failed in a way the table never expects (a bad
    /// request, a policy refused, a client that could not be built).
    DriverError(String),
}

impl Outcome {
    /// The outcome of a service error.
    pub fn from_api(error: &ApiError) -> Outcome {
        match error {
            ApiError::Unauthorized(e) => Outcome::Unauthorized {
                code: e.error_code.clone(),
            },
            ApiError::Throttled(_) => Outcome::Throttled {},
            ApiError::Malformed(m) => Outcome::Malformed {
                status: m.status.as_u16(),
            },
            other => Outcome::Service {
                status: other.status().as_u16(),
                code: other.error_code().map(str::to_owned),
            },
        }
    }

    /// The outcome of a transport failure.
    pub fn from_transport(kind: TransportErrorKind) -> Outcome {
        let name = match kind {
            TransportErrorKind::Connect => "connect",
            TransportErrorKind::Tls => "tls",
            TransportErrorKind::Timeout => "timeout",
            TransportErrorKind::Reset => "reset",
            TransportErrorKind::BodyTooLarge => "body_too_large",
            _ => "other",
        };
        Outcome::Transport(name.to_owned())
    }

    /// The outcome of a waiter's verdict.
    pub fn from_wait<O: StateName>(result: Result<O, WaitError<O>>) -> Outcome {
        match result {
            Ok(output) => Outcome::Ready(output.state_name()),
            Err(WaitError::FailedState(output)) => Outcome::FailedState(output.state_name()),
            Err(WaitError::Deadline { last }) => Outcome::Deadline(last.map(|o| o.state_name())),
            Err(WaitError::Api(e)) => Outcome::from_api(&e),
            Err(WaitError::Transport(kind)) => Outcome::from_transport(kind),
        }
    }
}

/// The name an output is compared by.
pub trait StateName {
    /// `normal`, `queuing`, ... for ShowProgress; the state for ShowInstanceStatus.
    fn state_name(&self) -> String;
}

impl StateName for Progress {
    fn state_name(&self) -> String {
        self.status.as_str().to_owned()
    }
}

impl StateName for InstanceStatus {
    fn state_name(&self) -> String {
        self.state.as_str().to_owned()
    }
}

/// The whole table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// What the table is for.
    pub about: String,
    /// Settings a case does not override.
    pub defaults: Defaults,
    /// The simulated cloud every case starts from (a scenario document
    /// without faults).
    pub world: Value,
    /// The cases.
    pub cases: Vec<Case>,
}

/// Settings shared by all cases.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// The token sent.
    pub token: String,
    /// The per-request timeout of the drivers.
    pub request_timeout_ms: u64,
    /// The body limit of the drivers.
    pub body_limit: u64,
    /// The policy of waits.
    pub wait: WaitSpec,
    /// The retry policy of single calls.
    pub call: CallSpec,
}

/// A wait policy in the table's terms (jitter is always `Equal`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitSpec {
    /// `WaitPolicy::min_interval`.
    pub min_interval_ms: u64,
    /// `WaitPolicy::max_interval`.
    pub max_interval_ms: u64,
    /// `WaitPolicy::growth`.
    pub growth: f64,
    /// `WaitPolicy::max_wait`.
    pub max_wait_ms: u64,
    /// `WaitPolicy::max_consecutive_errors`.
    pub max_consecutive_errors: u32,
}

/// The retry policy of a single call, as koophone-ureq's `RetryPolicy` has it.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallSpec {
    /// Extra attempts.
    pub retries: u32,
    /// First and shortest pause.
    pub min_backoff_ms: u64,
    /// Longest pause.
    pub max_backoff_ms: u64,
    /// Time budget of the call.
    pub max_elapsed_ms: u64,
}

/// A case's override of the call policy.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallOverride {
    /// Extra attempts.
    pub retries: Option<u32>,
}

/// One scenario and its expected outcome.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Unique name, shown in failures.
    pub name: String,
    /// What it checks.
    pub about: String,
    /// The operation.
    pub operation: OperationSpec,
    /// Wait for this (`ready` for ShowProgress, a state for
    /// ShowInstanceStatus); absent for a single call.
    #[serde(default)]
    pub wait: Option<String>,
    /// Overrides the default `max_wait_ms` of a wait.
    #[serde(default)]
    pub max_wait_ms: Option<u64>,
    /// Overrides the default call policy.
    #[serde(default)]
    pub call: CallOverride,
    /// Overrides the default token.
    #[serde(default)]
    pub token: Option<String>,
    /// Signs every request with this access key pair instead of sending a token.
    #[serde(default)]
    pub aksk: Option<AkSkSpec>,
    /// Overrides the default request timeout.
    #[serde(default)]
    pub request_timeout_ms: Option<u64>,
    /// Overrides the default body limit.
    #[serde(default)]
    pub body_limit: Option<u64>,
    /// Fault rules added to the world (scenario `faults` syntax).
    #[serde(default)]
    pub faults: Vec<Value>,
    /// The outcome every driver must reach.
    pub expect: Outcome,
    /// Requests the simulator must have seen, where that does not depend on timing.
    #[serde(default)]
    pub requests: Option<u64>,
}

/// An access key pair a case signs its requests with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AkSkSpec {
    /// The AK.
    pub access_key: String,
    /// The SK.
    pub secret_key: String,
}

/// Which operation a case runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OperationSpec {
    /// ShowProgress.
    Progress {
        /// `user_id`.
        user_id: String,
        /// `instance_id`.
        instance_id: String,
    },
    /// ShowInstanceStatus.
    Status {
        /// `project_id`.
        project_id: String,
        /// The instance id.
        instance_id: String,
    },
}

/// Why the table could not be used.
#[derive(Debug)]
pub struct TableError(String);

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TableError {}

impl Table {
    /// `tests/scenarios/drivers.json`.
    pub fn load() -> Result<Table, TableError> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/drivers.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| TableError(format!("cannot read {}: {e}", path.display())))?;
        let table: Table = serde_json::from_str(&text)
            .map_err(|e| TableError(format!("{}: {e}", path.display())))?;
        let mut names = std::collections::HashSet::new();
        for case in &table.cases {
            if !names.insert(case.name.as_str()) {
                return Err(TableError(format!("case {} appears twice", case.name)));
            }
            table.scenario(case)?;
        }
        Ok(table)
    }

    /// The simulator scenario of `case`: the world plus the case's faults,
    /// validated by the simulator's own parser.
    pub fn scenario(&self, case: &Case) -> Result<Scenario, TableError> {
        let mut world = self.world.clone();
        let Some(object) = world.as_object_mut() else {
            return Err(TableError("world must be a JSON object".to_owned()));
        };
        object.insert("faults".to_owned(), Value::Array(case.faults.clone()));
        Scenario::from_json(&world.to_string())
            .map_err(|e| TableError(format!("case {}: {e}", case.name)))
    }

    /// The token `case` sends.
    pub fn token(&self, case: &Case) -> Token {
        let raw = case.token.as_deref().unwrap_or(&self.defaults.token);
        // The table's tokens are printable ASCII; a bad one fails the case loudly.
        Token::new(raw).unwrap_or_else(|e| panic!("case {}: bad token: {e}", case.name))
    }

    /// The credentials `case` sends: its AK/SK pair when it has one, else its token.
    pub fn auth(&self, case: &Case) -> Auth {
        let Some(aksk) = &case.aksk else {
            return Auth::Token(self.token(case));
        };
        // The table's keys are printable ASCII; a bad one fails the case loudly.
        let credentials = SecretKey::new(&aksk.secret_key)
            .and_then(|secret| AkSkCredentials::new(&aksk.access_key, secret))
            .unwrap_or_else(|e| panic!("case {}: bad access key pair: {e}", case.name));
        Auth::AkSk(credentials)
    }

    /// The request context for `base_url` and `case`'s credentials.
    pub fn context(&self, case: &Case, base_url: &str) -> RequestContext {
        let endpoint = Endpoint::parse(base_url)
            .unwrap_or_else(|e| panic!("case {}: bad endpoint {base_url}: {e}", case.name));
        RequestContext::with_auth(endpoint, self.auth(case))
    }

    /// The per-request timeout of `case`.
    pub fn request_timeout(&self, case: &Case) -> Duration {
        Duration::from_millis(
            case.request_timeout_ms
                .unwrap_or(self.defaults.request_timeout_ms),
        )
    }

    /// The body limit of `case`.
    pub fn body_limit(&self, case: &Case) -> u64 {
        case.body_limit.unwrap_or(self.defaults.body_limit)
    }

    /// The wait policy of `case` (used when it waits).
    pub fn wait_policy(&self, case: &Case) -> WaitPolicy {
        let spec = self.defaults.wait;
        WaitPolicy {
            min_interval: Duration::from_millis(spec.min_interval_ms),
            max_interval: Duration::from_millis(spec.max_interval_ms),
            growth: spec.growth,
            jitter: Jitter::Equal,
            max_wait: Duration::from_millis(case.max_wait_ms.unwrap_or(spec.max_wait_ms)),
            max_consecutive_errors: spec.max_consecutive_errors,
            ..WaitPolicy::default()
        }
    }

    /// The retry policy of `case`'s single call, as koophone-ureq takes it;
    /// the other drivers run its [`RetryPolicy::to_wait_policy`], so all
    /// retry alike.
    pub fn retry_policy(&self, case: &Case) -> RetryPolicy {
        let spec = self.defaults.call;
        RetryPolicy {
            retries: case.call.retries.unwrap_or(spec.retries),
            min_backoff: Duration::from_millis(spec.min_backoff_ms),
            max_backoff: Duration::from_millis(spec.max_backoff_ms),
            max_elapsed: Duration::from_millis(spec.max_elapsed_ms),
            jitter: Jitter::Equal,
        }
    }
}

/// A way of running operations against a simulator, as the table needs it.
pub trait Driver {
    /// Run `op` against a fresh simulator of `scenario`. With `target` of
    /// `None` it is a single call under the case's call policy, otherwise a
    /// wait under `policy`. Returns the outcome and the number of requests
    /// the simulator saw.
    fn run<O, T>(
        &mut self,
        table: &Table,
        case: &Case,
        scenario: Scenario,
        op: O,
        target: Option<T>,
        policy: WaitPolicy,
    ) -> (Outcome, u64)
    where
        O: Operation + Clone + Send + Sync + 'static,
        O::Output: StateName + Send + Sync + 'static,
        T: Target<O::Output> + Send + Sync + 'static;
}

/// Run one case through `driver`.
pub fn run_case<D: Driver>(table: &Table, case: &Case, driver: &mut D) -> (Outcome, u64) {
    let scenario = match table.scenario(case) {
        Ok(scenario) => scenario,
        Err(e) => return (Outcome::DriverError(e.to_string()), 0),
    };
    let policy = table.wait_policy(case);
    match (&case.operation, case.wait.as_deref()) {
        (
            OperationSpec::Progress {
                user_id,
                instance_id,
            },
            wait,
        ) => {
            let op = match ShowProgress::new(user_id.as_str(), instance_id.as_str()) {
                Ok(op) => op,
                Err(e) => return (Outcome::DriverError(e.to_string()), 0),
            };
            match wait {
                None => driver.run(table, case, scenario, op, None::<UntilReady>, policy),
                Some("ready") => driver.run(table, case, scenario, op, Some(UntilReady), policy),
                Some(other) => (
                    Outcome::DriverError(format!("ShowProgress waits for `ready`, not `{other}`")),
                    0,
                ),
            }
        }
        (
            OperationSpec::Status {
                project_id,
                instance_id,
            },
            wait,
        ) => {
            let op = match ShowInstanceStatus::new(project_id.as_str(), instance_id.as_str()) {
                Ok(op) => op,
                Err(e) => return (Outcome::DriverError(e.to_string()), 0),
            };
            let target = wait.map(|state| UntilState::new(InstanceState::parse(state)));
            driver.run(table, case, scenario, op, target, policy)
        }
    }
}

/// What a driver does with a [`MemoryError`]: the transport failure a real
/// client reports for the same fault on a socket.
pub fn memory_error_kind(error: &MemoryError) -> TransportErrorKind {
    match error {
        MemoryError::Timeout(_) => TransportErrorKind::Timeout,
        MemoryError::ConnectionClosed | MemoryError::TruncatedBody { .. } => {
            TransportErrorKind::Reset
        }
        MemoryError::BodyTooLarge { .. } => TransportErrorKind::BodyTooLarge,
        _ => TransportErrorKind::Other,
    }
}

/// Drive `waiter` to its end over `transport`: the loop contract with the
/// virtual clock standing in for sleeping, so a wait of minutes takes
/// microseconds. Every attempt is built afresh from `ctx` and authorized as
/// of the simulator's wall clock, as a real driver signs AK/SK requests as of
/// its own. The outer `Err` is a request that could not be built (nothing was
/// sent); the inner result is the waiter's verdict.
///
/// ```
/// use koophone_proto::{Endpoint, PrepareStatus, RequestContext, ShowProgress};
/// use koophone_proto::{Token, UntilReady, WaitPolicy, Waiter};
/// use koophone_sim::{Scenario, memory::MemoryTransport};
/// use koophone_tests::driver_cases::run_in_memory;
///
/// let transport = MemoryTransport::from_scenario(Scenario::default(), 1)?;
/// let ctx = RequestContext::new(Endpoint::parse("https://sim.invalid")?, Token::new("sim-token")?);
/// let op = ShowProgress::new("1008600000104285462", "iRJEVP9")?;
/// let mut waiter = Waiter::new(op, UntilReady, WaitPolicy::default(), transport.now());
/// let ready = run_in_memory(&mut waiter, &ctx, &transport)??;
/// assert_eq!(ready.status, PrepareStatus::Normal);
/// // The built-in instance is ready after 5 s of virtual time.
/// assert!(transport.elapsed().as_secs() >= 5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run_in_memory<O, T>(
    waiter: &mut Waiter<O, T>,
    ctx: &RequestContext,
    transport: &MemoryTransport,
) -> Result<Result<O::Output, WaitError<O::Output>>, InvalidInput>
where
    O: Operation,
    T: Target<O::Output>,
{
    loop {
        match waiter.poll(transport.now()) {
            Action::Send => {
                let request = waiter
                    .operation()
                    .build_authorized_request(ctx, transport.wall_clock())?;
                match transport.send(&request) {
                    Ok(response) => {
                        let (parts, body) = response.into_parts();
                        let response = Response::from_parts(parts, body.as_slice());
                        waiter.handle_response(response, transport.now());
                    }
                    Err(e) => {
                        waiter.handle_transport_error(memory_error_kind(&e), transport.now());
                    }
                }
            }
            Action::WakeAt(at) => transport.advance_to(at),
            Action::Done(outcome) => return Ok(outcome),
        }
    }
}

/// A single call in memory: the waiter with the [`Once`] target under the
/// call's retry policy, its verdict read by [`as_call`].
pub fn call_in_memory<O: Operation>(
    op: O,
    policy: WaitPolicy,
    ctx: &RequestContext,
    transport: &MemoryTransport,
) -> Result<Result<O::Output, WaitError<O::Output>>, InvalidInput> {
    let mut waiter = Waiter::new(op, Once, policy, transport.now());
    let outcome = run_in_memory(&mut waiter, ctx, transport)?;
    Ok(as_call(outcome, &waiter))
}

/// Read a [`Once`] waiter's verdict as koophone-ureq's `Client::call` does:
/// a deadline (no time left for another retry) reports the failure that
/// needed the retry.
pub fn as_call<O, T>(
    outcome: Result<O::Output, WaitError<O::Output>>,
    waiter: &Waiter<O, T>,
) -> Result<O::Output, WaitError<O::Output>>
where
    O: Operation,
    T: Target<O::Output>,
{
    match outcome {
        Err(WaitError::Deadline { .. }) => match waiter.last_observation().map(|o| &o.event) {
            Some(Observed::Error(e)) => Err(WaitError::Api(e.clone())),
            Some(Observed::Transport(kind)) => Err(WaitError::Transport(*kind)),
            _ => Err(WaitError::Transport(TransportErrorKind::Timeout)),
        },
        other => other,
    }
}
