//! What a wait reports: the answer with its cost, or where things stood when it ended.

use std::fmt;
use std::time::Duration;

use koophone_proto::{
    ApiError, InstanceStatus, Observation, Observed, Progress, TransportErrorKind,
};

/// A finished wait: the answer that ended it, how many requests it took and how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waited<T> {
    /// The answer that met the target.
    pub output: T,
    /// Requests sent, retries included.
    pub polls: u32,
    /// Time from the start of the wait to its end.
    pub elapsed: Duration,
}

/// A decoded answer of either operation, so one error type can carry the
/// state a wait ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Snapshot {
    /// A ShowProgress answer.
    Progress(Progress),
    /// A ShowInstanceStatus answer.
    InstanceStatus(InstanceStatus),
}

impl From<Progress> for Snapshot {
    fn from(p: Progress) -> Self {
        Snapshot::Progress(p)
    }
}

impl From<InstanceStatus> for Snapshot {
    fn from(s: InstanceStatus) -> Self {
        Snapshot::InstanceStatus(s)
    }
}

impl fmt::Display for Snapshot {
    /// `queuing (waiting count 3)`, `error (create_instance_error)`: the state,
    /// and only values the API defines as short identifiers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Snapshot::Progress(p) => {
                write!(f, "{}", p.status)?;
                if let Some(count) = p.waiting_count {
                    write!(f, " (waiting count {count})")?;
                }
                Ok(())
            }
            Snapshot::InstanceStatus(s) => {
                crate::error::write_one_line(f, s.state.as_str())?;
                if let Some(kind) = s.error.as_ref().and_then(|e| e.error_type.as_deref()) {
                    f.write_str(" (")?;
                    crate::error::write_one_line(f, kind)?;
                    f.write_str(")")?;
                }
                Ok(())
            }
        }
    }
}

/// The deadline of a wait passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitDeadline {
    /// Requests sent.
    pub polls: u32,
    /// Time from the start of the wait to its end.
    pub elapsed: Duration,
    /// The latest decoded answer, if any: where the instance stood.
    pub last_output: Option<Snapshot>,
    /// The latest thing observed, which may be an error or a transport failure.
    pub last: Option<Observation<Snapshot>>,
}

impl WaitDeadline {
    pub(crate) fn last_api_error(&self) -> Option<&ApiError> {
        match &self.last.as_ref()?.event {
            Observed::Error(e) => Some(e),
            _ => None,
        }
    }

    pub(crate) fn last_transport_error(&self) -> Option<TransportErrorKind> {
        match &self.last.as_ref()?.event {
            Observed::Transport(kind) => Some(*kind),
            _ => None,
        }
    }

    pub(crate) fn last_error(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.last_api_error().map(|e| e as _)
    }
}

impl fmt::Display for WaitDeadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "wait deadline passed after {} polls in {:.1}s",
            self.polls,
            self.elapsed.as_secs_f64()
        )?;
        match (&self.last_output, self.last.as_ref().map(|o| &o.event)) {
            // The error itself is the source; only say that there was one.
            (_, Some(Observed::Error(e))) => write!(f, "; last poll: http {}", e.status().as_u16()),
            (_, Some(Observed::Transport(kind))) => write!(
                f,
                "; last poll: {}",
                crate::error::transport_kind_text(*kind)
            ),
            (Some(last), _) => write!(f, "; last seen: {last}"),
            (None, _) => f.write_str("; no answer decoded"),
        }
    }
}

/// While waiting, the instance reached a state it does not leave on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedState {
    /// The answer that showed the failure (with CloudDC's `error` object, if sent).
    pub state: Snapshot,
    /// Requests sent.
    pub polls: u32,
    /// Time from the start of the wait to its end.
    pub elapsed: Duration,
}

impl fmt::Display for FailedState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the instance reached a failure state: {}", self.state)
    }
}

/// Re-type an observation of one operation's output as a [`Snapshot`].
pub(crate) fn snapshot_observation<O: Clone + Into<Snapshot>>(
    o: &Observation<O>,
) -> Observation<Snapshot> {
    Observation {
        attempt: o.attempt,
        at: o.at,
        elapsed: o.elapsed,
        event: match &o.event {
            Observed::Output(out) => Observed::Output(out.clone().into()),
            Observed::Error(e) => Observed::Error(e.clone()),
            Observed::Transport(kind) => Observed::Transport(*kind),
        },
    }
}
