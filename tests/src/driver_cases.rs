//! The shared table of driver scenarios (`tests/scenarios/drivers.json`):
//! what each case runs and the outcome every driver must reach, plus the
//! in-memory driver loop (any koophone-proto [`Machine`] over
//! [`MemoryTransport`] under a virtual clock).
//!
//! A driver test implements [`Driver`] and hands each case to
//! [`run_case`], which builds the case's operation and target (the one place
//! that names operations) and compares nothing itself: the test compares the
//! [`Outcome`] (and, where the case gives one, the number of requests the
//! simulator saw). Outputs are compared by [`state_name`], the first word of
//! their `Display`, so no operation needs code of its own here. The harness
//! decides nothing a driver should: every outcome is the core's.

// The machines' outcomes are passed on by value, as the core returns them.
#![allow(clippy::result_large_err)]

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use koophone_proto::auth::{AkSkCredentials, SecretKey};
use koophone_proto::{
    Action, ApiError, Auth, Call, CallError, Endpoint, InstanceState, InvalidInput, Jitter,
    Machine, Operation, RequestContext, ShowInstanceStatus, ShowProgress, Target, Token,
    TransportErrorKind, UntilReady, UntilState, WaitError, WaitPolicy,
};
use koophone_sim::memory::{MemoryError, MemoryTransport};
use koophone_sim::{Scenario, ScenarioError, default_wall_clock_origin};
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

    /// The outcome of a [`Waiter`](koophone_proto::Waiter)'s verdict.
    pub fn from_wait<O: fmt::Display>(result: Result<O, WaitError<O>>) -> Outcome {
        match result {
            Ok(output) => Outcome::Ready(state_name(&output)),
            Err(WaitError::FailedState(output)) => Outcome::FailedState(state_name(&output)),
            Err(WaitError::Deadline { last }) => Outcome::Deadline(last.as_ref().map(state_name)),
            Err(WaitError::Api(e)) => Outcome::from_api(&e),
            Err(WaitError::Transport(kind)) => Outcome::from_transport(kind),
        }
    }

    /// The outcome of a [`Call`]'s verdict.
    pub fn from_call<O: fmt::Display>(result: Result<O, CallError>) -> Outcome {
        match result {
            Ok(output) => Outcome::Ready(state_name(&output)),
            Err(CallError::Api(e)) => Outcome::from_api(&e),
            Err(CallError::Transport(kind)) => Outcome::from_transport(kind),
        }
    }
}

/// The name an output is compared by: the first word of its `Display`
/// (ShowProgress's status, ShowInstanceStatus's state; a word is letters,
/// digits, `-` and `_`), so the table needs nothing per operation.
pub fn state_name(output: &impl fmt::Display) -> String {
    output
        .to_string()
        .chars()
        .take_while(|c| c.is_alphanumeric() || matches!(c, '-' | '_'))
        .collect()
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

/// One run of a case, as a [`Driver`] receives it: the operation and,
/// for a wait, its target, with everything the case sets.
#[derive(Debug)]
pub struct Run<'a, O, T> {
    /// The table the case is from.
    pub table: &'a Table,
    /// The case.
    pub case: &'a Case,
    /// The simulator to start.
    pub scenario: Scenario,
    /// The operation.
    pub op: O,
    /// `None` for a single call under [`Run::call_policy`], else a wait
    /// under [`Run::wait_policy`].
    pub target: Option<T>,
}

impl<O, T> Run<'_, O, T> {
    /// The request context for `base_url` and the case's credentials.
    pub fn context(&self, base_url: &str) -> RequestContext {
        self.table.context(self.case, base_url)
    }

    /// The per-request timeout.
    pub fn request_timeout(&self) -> Duration {
        self.table.request_timeout(self.case)
    }

    /// The body limit.
    pub fn body_limit(&self) -> u64 {
        self.table.body_limit(self.case)
    }

    /// The policy of a wait.
    pub fn wait_policy(&self) -> WaitPolicy {
        self.table.wait_policy(self.case)
    }

    /// The retry policy of a single call, as koophone-ureq takes it.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.table.retry_policy(self.case)
    }

    /// The retry policy of a single call, as the core's [`Call`] takes it.
    pub fn call_policy(&self) -> WaitPolicy {
        self.retry_policy().to_wait_policy()
    }
}

/// A way of running operations against a simulator, as the table needs it.
pub trait Driver {
    /// Run `run.op` against a fresh simulator of `run.scenario`; returns the
    /// outcome and the number of requests the simulator saw.
    fn run<O: Operation, T: Target<O::Output>>(&mut self, run: Run<'_, O, T>) -> (Outcome, u64);
}

/// Run one case through `driver`: the case's operation and target come
/// from this one table of operations.
pub fn run_case<D: Driver>(table: &Table, case: &Case, driver: &mut D) -> (Outcome, u64) {
    let refused = |why: String| (Outcome::DriverError(why), 0);
    let scenario = match table.scenario(case) {
        Ok(scenario) => scenario,
        Err(e) => return refused(e.to_string()),
    };
    let wait = case.wait.as_deref();
    match &case.operation {
        OperationSpec::Progress {
            user_id,
            instance_id,
        } => {
            let target = match wait {
                None => None,
                Some("ready") => Some(UntilReady),
                Some(other) => {
                    return refused(format!("ShowProgress waits for `ready`, not `{other}`"));
                }
            };
            match ShowProgress::new(user_id.as_str(), instance_id.as_str()) {
                Ok(op) => driver.run(Run {
                    table,
                    case,
                    scenario,
                    op,
                    target,
                }),
                Err(e) => refused(e.to_string()),
            }
        }
        OperationSpec::Status {
            project_id,
            instance_id,
        } => match ShowInstanceStatus::new(project_id.as_str(), instance_id.as_str()) {
            Ok(op) => driver.run(Run {
                table,
                case,
                scenario,
                op,
                target: wait.map(|state| UntilState::new(InstanceState::parse(state))),
            }),
            Err(e) => refused(e.to_string()),
        },
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

/// An in-memory transport to a new simulator of `scenario`, its virtual clock
/// anchored at `origin` and at the scenario's wall-clock origin (else the
/// simulator's default): the caller picks the instant, so two runs from one
/// origin repeat to the instant.
pub fn in_memory(
    scenario: Scenario,
    seed: u64,
    origin: Instant,
) -> Result<MemoryTransport, ScenarioError> {
    let wall = scenario
        .wall_clock_origin
        .unwrap_or_else(default_wall_clock_origin);
    MemoryTransport::from_scenario(scenario, seed, origin, wall)
}

/// Drive `machine` (a [`Call`] or a [`Waiter`](koophone_proto::Waiter)) to
/// its end over `transport`: the loop contract with the virtual clock
/// standing in for sleeping, so a wait of minutes takes microseconds. Every
/// attempt is built afresh by the machine from `ctx` and signed as of the
/// simulator's wall clock, as a real driver signs AK/SK requests as of its
/// own. The outer `Err` is a request that could not be built (nothing was
/// sent); the inner value is the machine's outcome.
///
/// ```
/// use std::time::Instant;
/// use koophone_proto::{Endpoint, PrepareStatus, RequestContext, ShowProgress};
/// use koophone_proto::{Token, UntilReady, WaitPolicy, Waiter};
/// use koophone_sim::Scenario;
/// use koophone_tests::driver_cases::{in_memory, run_in_memory};
///
/// let transport = in_memory(Scenario::default(), 1, Instant::now())?;
/// let ctx = RequestContext::new(Endpoint::parse("https://sim.invalid")?, Token::new("sim-token")?);
/// let op = ShowProgress::new("1008600000104285462", "iRJEVP9")?;
/// let mut waiter = Waiter::new(op, UntilReady, WaitPolicy::default(), transport.now());
/// let ready = run_in_memory(&mut waiter, &ctx, &transport)??;
/// assert_eq!(ready.status, PrepareStatus::Normal);
/// // The built-in instance is ready after 5 s of virtual time.
/// assert!(transport.elapsed().as_secs() >= 5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run_in_memory<M: Machine>(
    machine: &mut M,
    ctx: &RequestContext,
    transport: &MemoryTransport,
) -> Result<M::Outcome, InvalidInput> {
    loop {
        match machine.poll(transport.now()) {
            Action::Send => {
                let request = machine.request(ctx, transport.wall_clock())?;
                match transport.send(&request) {
                    Ok(response) => machine.handle_owned(response, transport.now()),
                    Err(e) => {
                        machine.handle_transport_error(memory_error_kind(&e), transport.now());
                    }
                }
            }
            Action::WakeAt(at) => transport.advance_to(at),
            Action::Done(outcome) => return Ok(outcome),
        }
    }
}

/// A single call in memory: the core's [`Call`] under `policy`, through
/// [`run_in_memory`].
pub fn call_in_memory<O: Operation>(
    op: O,
    policy: WaitPolicy,
    ctx: &RequestContext,
    transport: &MemoryTransport,
) -> Result<Result<O::Output, CallError>, InvalidInput> {
    run_in_memory(&mut Call::new(op, policy, transport.now()), ctx, transport)
}
