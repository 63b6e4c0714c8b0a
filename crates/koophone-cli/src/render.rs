//! How a result looks, in both output modes: one trait, so each output type
//! says once how it prints. The human line is the library's `Display` of the
//! output (the same text its errors show); the JSON document is the
//! contract's shape (DESIGN.md), with `null` where a value is unknown.

use std::time::Duration;

use koophone_ureq::{InstanceStatus, Progress, Waited};
use serde::Serialize;

use crate::output::{Report, to_json};

/// An operation's output as the command prints it.
pub trait Render: std::fmt::Display {
    /// The JSON document.
    type Doc<'a>: Serialize
    where
        Self: 'a;

    /// The first word of a finished wait's human line (`ready:`, `reached`).
    const REACHED: &'static str = "reached";

    /// The document of this output, in the contract's member order.
    fn doc(&self) -> Self::Doc<'_>;

    /// Both forms of a single call's result.
    fn report(&self) -> Report {
        Report {
            human: self.to_string(),
            json: to_json(&self.doc()),
        }
    }
}

/// A finished wait: the output's document plus what the wait cost.
#[derive(Serialize)]
pub struct WaitedDoc<T> {
    #[serde(flatten)]
    answer: T,
    polls: u32,
    elapsed_ms: u64,
}

/// Both forms of a finished wait's result:
/// `ready: normal (status 0), waiting count 0 after 6 polls in 5.1s`.
pub fn waited<R: Render>(w: &Waited<R>) -> Report {
    Report {
        human: format!(
            "{} {} after {}",
            R::REACHED,
            w.output,
            describe_cost(w.polls, w.elapsed)
        ),
        json: to_json(&WaitedDoc {
            answer: w.output.doc(),
            polls: w.polls,
            elapsed_ms: elapsed_ms(w.elapsed),
        }),
    }
}

/// Milliseconds, saturating.
pub fn elapsed_ms(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}

/// `6 polls in 5.1s`.
pub fn describe_cost(polls: u32, elapsed: Duration) -> String {
    let unit = if polls == 1 { "poll" } else { "polls" };
    format!("{polls} {unit} in {:.1}s", elapsed.as_secs_f64())
}

/// `{"status":"queuing","status_code":1,"waiting_count":3}`
#[derive(Serialize)]
pub struct ProgressDoc {
    status: &'static str,
    status_code: i64,
    waiting_count: Option<i64>,
}

impl Render for Progress {
    type Doc<'a> = ProgressDoc;

    const REACHED: &'static str = "ready:";

    fn doc(&self) -> ProgressDoc {
        ProgressDoc {
            status: self.status.as_str(),
            status_code: self.status.code(),
            waiting_count: self.waiting_count,
        }
    }
}

/// `{"state":"running","operation_state":null,"error":null}`
#[derive(Serialize)]
pub struct StatusDoc<'a> {
    state: &'a str,
    operation_state: Option<&'a str>,
    error: Option<InstanceErrorDoc<'a>>,
}

#[derive(Serialize)]
struct InstanceErrorDoc<'a> {
    error_code: Option<&'a str>,
    error_msg: Option<&'a str>,
    error_type: Option<&'a str>,
}

impl Render for InstanceStatus {
    type Doc<'a> = StatusDoc<'a>;

    fn doc(&self) -> StatusDoc<'_> {
        StatusDoc {
            state: self.state.as_str(),
            operation_state: self.operation_state.as_deref(),
            error: self.error.as_ref().map(|e| InstanceErrorDoc {
                error_code: e.error_code.as_deref(),
                error_msg: e.error_msg.as_deref(),
                error_type: e.error_type.as_deref(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use koophone_ureq::{ErrorStatus, InstanceState, PrepareStatus};

    #[test]
    fn progress_document_matches_the_contract() {
        let p = Progress {
            status: PrepareStatus::Queuing,
            waiting_count: Some(3),
        };
        assert_eq!(
            p.report().json,
            r#"{"status":"queuing","status_code":1,"waiting_count":3}"#
        );
        assert_eq!(p.report().human, "queuing (status 1), waiting count 3");
        let unknown = Progress {
            status: PrepareStatus::Unknown(7),
            waiting_count: None,
        };
        assert_eq!(
            unknown.report().json,
            r#"{"status":"unknown","status_code":7,"waiting_count":null}"#
        );
    }

    #[test]
    fn waited_documents_add_polls_and_elapsed_ms() {
        let w = Waited {
            output: Progress {
                status: PrepareStatus::Normal,
                waiting_count: Some(0),
            },
            polls: 6,
            elapsed: Duration::from_millis(5123),
        };
        assert_eq!(
            waited(&w).json,
            r#"{"status":"normal","status_code":0,"waiting_count":0,"polls":6,"elapsed_ms":5123}"#
        );
        assert_eq!(
            waited(&w).human,
            "ready: normal (status 0), waiting count 0 after 6 polls in 5.1s"
        );
        let s = Waited {
            output: InstanceStatus {
                state: InstanceState::Running,
                operation_state: None,
                error: None,
            },
            polls: 1,
            elapsed: Duration::from_millis(12),
        };
        assert_eq!(
            waited(&s).json,
            r#"{"state":"running","operation_state":null,"error":null,"polls":1,"elapsed_ms":12}"#
        );
        assert_eq!(waited(&s).human, "reached running after 1 poll in 0.0s");
    }

    #[test]
    fn status_document_keeps_unknown_states_and_the_error_object() {
        let s = InstanceStatus {
            state: InstanceState::Unknown("teminated\u{1b}[2J".into()),
            operation_state: Some("install-failed".into()),
            error: Some(ErrorStatus {
                error_code: Some("CLOUDDC.5001".into()),
                error_msg: None,
                error_type: Some("create_instance_error".into()),
            }),
        };
        assert_eq!(
            s.report().json,
            r#"{"state":"teminated\u001b[2J","operation_state":"install-failed","error":{"error_code":"CLOUDDC.5001","error_msg":null,"error_type":"create_instance_error"}}"#
        );
        assert_eq!(
            s.report().human,
            "teminated [2J, operation state install-failed, error CLOUDDC.5001 create_instance_error"
        );
    }
}
