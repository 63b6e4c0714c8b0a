//! CloudDC ShowInstanceStatus: an instance's state, and the wait for one.

use http::Method;
use serde::Deserialize;

use super::{Operation, check_path_parameter};
use crate::decode::{JsonStr, MapOnly, SuccessError};
use crate::error::{InvalidInput, OneLine};
use crate::redact::{Redact, Redactor};
use crate::target::{Check, Target};

/// CloudDC ShowInstanceStatus: `GET /v1/{project_id}/instances/{id}/status`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShowInstanceStatus {
    project_id: String,
    instance_id: String,
}

impl ShowInstanceStatus {
    /// Validate both path parameters: required, no control characters, not
    /// `.` or `..`. Every other character is percent-encoded when the request is built.
    pub fn new(
        project_id: impl Into<String>,
        instance_id: impl Into<String>,
    ) -> Result<ShowInstanceStatus, InvalidInput> {
        let project_id = project_id.into();
        let instance_id = instance_id.into();
        check_path_parameter("project_id", &project_id)?;
        check_path_parameter("instance_id", &instance_id)?;
        Ok(ShowInstanceStatus {
            project_id,
            instance_id,
        })
    }

    /// The project id (first path parameter).
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// The instance id (the API's `{id}` path parameter).
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }
}

impl Operation for ShowInstanceStatus {
    type Output = InstanceStatus;

    const NAME: &'static str = "ShowInstanceStatus";
    const METHOD: Method = Method::GET;
    const PATH: &'static str = "/v1/{project_id}/instances/{id}/status";

    fn path_parameters(&self) -> impl Iterator<Item = &str> {
        [self.project_id.as_str(), self.instance_id.as_str()].into_iter()
    }

    fn decode_success(&self, body: &[u8]) -> Result<InstanceStatus, SuccessError> {
        let MapOnly(parsed) = serde_json::from_slice::<MapOnly<StatusBody<'_>>>(body)?;
        if let Some(JsonStr(code)) = parsed.error_code.as_ref().filter(|code| code.0 != "0") {
            return Err(SuccessError::error_code(code));
        }
        let Some(JsonStr(state)) = parsed.state else {
            return Err(SuccessError::missing("state"));
        };
        let owned = |text: Option<JsonStr<'_>>| text.map(|JsonStr(text)| text.into_owned());
        Ok(InstanceStatus {
            state: InstanceState::parse(&state),
            operation_state: owned(parsed.operation_state),
            error: parsed.error.map(|MapOnly(error)| ErrorStatus {
                error_code: owned(error.error_code),
                error_msg: owned(error.error_msg),
                error_type: owned(error.error_type),
            }),
        })
    }
}

/// The members read from a status body; each string borrows from the body
/// (the bound stands for a `borrow` on every member).
#[derive(Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
struct StatusBody<'a> {
    state: Option<JsonStr<'a>>,
    operation_state: Option<JsonStr<'a>>,
    error: Option<MapOnly<StatusErrorBody<'a>>>,
    error_code: Option<JsonStr<'a>>,
}

/// A status body's `error` object.
#[derive(Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
struct StatusErrorBody<'a> {
    error_code: Option<JsonStr<'a>>,
    error_msg: Option<JsonStr<'a>>,
    error_type: Option<JsonStr<'a>>,
}

/// ShowInstanceStatus's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceStatus {
    /// The instance state.
    pub state: InstanceState,
    /// `operation_state` (newer SDKs), as received.
    pub operation_state: Option<String>,
    /// The failure description, when the service gave one.
    pub error: Option<ErrorStatus>,
}

/// `error, operation state install-failed, error CLOUDDC.5001
/// create_instance_error: disk quota exceeded`, on one line whatever the
/// service sent.
impl std::fmt::Display for InstanceStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", OneLine(self.state.as_str()))?;
        if let Some(op) = &self.operation_state {
            write!(f, ", operation state {}", OneLine(op))?;
        }
        if let Some(e) = &self.error {
            f.write_str(", error")?;
            for part in [&e.error_code, &e.error_type].into_iter().flatten() {
                write!(f, " {}", OneLine(part))?;
            }
            if let Some(msg) = &e.error_msg {
                write!(f, ": {}", OneLine(msg))?;
            }
        }
        Ok(())
    }
}

impl Redact for InstanceStatus {
    fn redact(&mut self, redactor: &Redactor) {
        if let InstanceState::Unknown(raw) = &mut self.state {
            raw.redact(redactor);
        }
        self.operation_state.redact(redactor);
        if let Some(error) = &mut self.error {
            error.error_code.redact(redactor);
            error.error_msg.redact(redactor);
            error.error_type.redact(redactor);
        }
    }
}

/// CloudDC's `error` object on a status answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorStatus {
    /// `error_code`, as received.
    pub error_code: Option<String>,
    /// `error_msg`, as received.
    pub error_msg: Option<String>,
    /// `error_type`, as received (e.g. `create_instance_error`).
    pub error_type: Option<String>,
}

/// CloudDC instance states: the union of the documented page's and the
/// official SDKs' lists (which say `error` and `failed` for the same idea);
/// any other string is kept as received.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InstanceState {
    /// `pending`
    Pending,
    /// `running`
    Running,
    /// `stopping`
    Stopping,
    /// `stopped`
    Stopped,
    /// `reinstalling`
    Reinstalling,
    /// `shutting-down`
    ShuttingDown,
    /// `terminated`
    Terminated,
    /// `error`
    Error,
    /// `failed`
    Failed,
    /// Anything else, exactly as received.
    Unknown(String),
}

impl InstanceState {
    /// Map the wire string (exact, case-sensitive: the API's values are lower case).
    pub fn parse(raw: &str) -> InstanceState {
        match raw {
            "pending" => InstanceState::Pending,
            "running" => InstanceState::Running,
            "stopping" => InstanceState::Stopping,
            "stopped" => InstanceState::Stopped,
            "reinstalling" => InstanceState::Reinstalling,
            "shutting-down" => InstanceState::ShuttingDown,
            "terminated" => InstanceState::Terminated,
            "error" => InstanceState::Error,
            "failed" => InstanceState::Failed,
            other => InstanceState::Unknown(other.to_owned()),
        }
    }

    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            InstanceState::Pending => "pending",
            InstanceState::Running => "running",
            InstanceState::Stopping => "stopping",
            InstanceState::Stopped => "stopped",
            InstanceState::Reinstalling => "reinstalling",
            InstanceState::ShuttingDown => "shutting-down",
            InstanceState::Terminated => "terminated",
            InstanceState::Error => "error",
            InstanceState::Failed => "failed",
            InstanceState::Unknown(raw) => raw,
        }
    }

    /// `error`, `failed` and `terminated`: states a wait for any other state
    /// gives up on by default.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            InstanceState::Error | InstanceState::Failed | InstanceState::Terminated
        )
    }
}

impl std::fmt::Display for InstanceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Wait until ShowInstanceStatus reports one state.
///
/// By default `error`, `failed` and `terminated` end the wait as failures
/// (unless one of them is the state waited for), because an instance in those
/// states does not leave them on its own. The decision is made on `state`
/// alone; the `error` object travels with the output for the caller to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UntilState {
    target: InstanceState,
    failure: Vec<InstanceState>,
}

impl UntilState {
    /// Wait for `target`, failing on `error`, `failed` and `terminated`
    /// (other than `target` itself).
    pub fn new(target: InstanceState) -> Self {
        let failure = [
            InstanceState::Error,
            InstanceState::Failed,
            InstanceState::Terminated,
        ]
        .into_iter()
        .filter(|s| *s != target)
        .collect();
        UntilState { target, failure }
    }

    /// Replace the failure states; the target state is never one of them.
    pub fn with_failure_states(mut self, states: impl IntoIterator<Item = InstanceState>) -> Self {
        let target = &self.target;
        self.failure = states.into_iter().filter(|s| s != target).collect();
        self
    }

    /// The state waited for.
    pub fn target(&self) -> &InstanceState {
        &self.target
    }

    /// The states that end the wait as a failure.
    pub fn failure_states(&self) -> &[InstanceState] {
        &self.failure
    }
}

impl Target<InstanceStatus> for UntilState {
    fn check(&self, output: &InstanceStatus) -> Check {
        if output.state == self.target {
            Check::Ready
        } else if self.failure.contains(&output.state) {
            Check::Failed
        } else {
            Check::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_state_never_fails_on_its_own_target() {
        let terminated = UntilState::new(InstanceState::Terminated);
        assert_eq!(
            terminated.failure_states(),
            [InstanceState::Error, InstanceState::Failed]
        );
        let custom = UntilState::new(InstanceState::Running)
            .with_failure_states([InstanceState::Stopped, InstanceState::Running]);
        assert_eq!(custom.failure_states(), [InstanceState::Stopped]);
    }
}
