//! The typed outputs of the two operations.

/// ShowProgress's answer: how far the preparation of a cloud phone has got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The preparation status.
    pub status: PrepareStatus,
    /// `waitingCount` as received; the API documents it only as "wait time",
    /// without a unit, so it is reported raw and used only as a bounded hint.
    pub waiting_count: Option<i64>,
}

/// The documented values of ShowProgress's `status`; others are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrepareStatus {
    /// `0`: the phone is ready.
    Normal,
    /// `1`: waiting in a queue.
    Queuing,
    /// `2`: restoring, offline.
    Restoring,
    /// `-1`: preparation failed.
    Failed,
    /// `3`: backing up.
    BackingUp,
    /// Any other value, as received.
    Unknown(i64),
}

impl PrepareStatus {
    /// Map the wire integer.
    pub fn from_code(code: i64) -> PrepareStatus {
        match code {
            0 => PrepareStatus::Normal,
            1 => PrepareStatus::Queuing,
            2 => PrepareStatus::Restoring,
            -1 => PrepareStatus::Failed,
            3 => PrepareStatus::BackingUp,
            other => PrepareStatus::Unknown(other),
        }
    }

    /// The wire integer.
    pub fn code(self) -> i64 {
        match self {
            PrepareStatus::Normal => 0,
            PrepareStatus::Queuing => 1,
            PrepareStatus::Restoring => 2,
            PrepareStatus::Failed => -1,
            PrepareStatus::BackingUp => 3,
            PrepareStatus::Unknown(code) => code,
        }
    }

    /// The name used in the CLI's JSON (`normal`, `queuing`, `restoring`,
    /// `failed`, `backing_up`, `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            PrepareStatus::Normal => "normal",
            PrepareStatus::Queuing => "queuing",
            PrepareStatus::Restoring => "restoring",
            PrepareStatus::Failed => "failed",
            PrepareStatus::BackingUp => "backing_up",
            PrepareStatus::Unknown(_) => "unknown",
        }
    }
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

impl std::fmt::Display for PrepareStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
