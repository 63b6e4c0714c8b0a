//! What a wait reports: the answer with its cost, or where things stood when it ended.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use koophone_proto::{ApiError, Observation, Observed, TransportErrorKind};

/// A wait that reached its target: the output and what it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waited<T> {
    /// The output that met the target.
    pub output: T,
    /// Requests sent.
    pub polls: u32,
    /// Time from the start of the wait to its end.
    pub elapsed: Duration,
}

/// Any operation's output, as an error carries it: `Display` is the
/// output's one-line text; [`Snapshot::downcast_ref`] gives the typed value
/// (`Progress`, `InstanceStatus`, ...).
#[derive(Clone)]
pub struct Snapshot(Arc<dyn AnyOutput>);

/// What [`Snapshot`] needs of an output; every operation's output has it.
trait AnyOutput: fmt::Debug + fmt::Display + Send + Sync + 'static {
    fn as_any(&self) -> &dyn Any;
    fn equals(&self, other: &dyn Any) -> bool;
}

impl<T> AnyOutput for T
where
    T: PartialEq + fmt::Debug + fmt::Display + Send + Sync + 'static,
{
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn equals(&self, other: &dyn Any) -> bool {
        other.downcast_ref::<T>() == Some(self)
    }
}

impl Snapshot {
    /// Wrap an output.
    pub fn new<T>(output: T) -> Snapshot
    where
        T: PartialEq + fmt::Debug + fmt::Display + Send + Sync + 'static,
    {
        Snapshot(Arc::new(output))
    }

    /// The output, if it is a `T`.
    pub fn downcast_ref<T: 'static>(&self) -> Option<&T> {
        self.0.as_any().downcast_ref()
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl PartialEq for Snapshot {
    fn eq(&self, other: &Snapshot) -> bool {
        self.0.equals(other.0.as_any())
    }
}

/// A wait whose deadline passed: how far it got, and the last thing it saw.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitDeadline {
    /// Requests sent.
    pub polls: u32,
    /// Time waited.
    pub elapsed: Duration,
    /// The latest decoded output, if any.
    pub last_output: Option<Snapshot>,
    /// The latest observation (output, service error or transport failure).
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
            (_, Some(Observed::Transport(kind))) => write!(f, "; last poll: {kind}"),
            (Some(last), _) => write!(f, "; last seen: {last}"),
            (None, _) => f.write_str("; no answer decoded"),
        }
    }
}

/// A wait that ended because the instance reached a failure state.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedState {
    /// The output that reported the failure state.
    pub state: Snapshot,
    /// Requests sent.
    pub polls: u32,
    /// Time waited.
    pub elapsed: Duration,
}

impl fmt::Display for FailedState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the instance reached a failure state: {}", self.state)
    }
}

/// Re-type an observation of one operation's output as a [`Snapshot`].
pub(crate) fn snapshot_observation<O>(o: &Observation<O>) -> Observation<Snapshot>
where
    O: Clone + PartialEq + fmt::Debug + fmt::Display + Send + Sync + 'static,
{
    Observation {
        attempt: o.attempt,
        at: o.at,
        elapsed: o.elapsed,
        event: match &o.event {
            Observed::Output(out) => Observed::Output(Snapshot::new(out.clone())),
            Observed::Error(e) => Observed::Error(e.clone()),
            Observed::Transport(kind) => Observed::Transport(*kind),
        },
    }
}
