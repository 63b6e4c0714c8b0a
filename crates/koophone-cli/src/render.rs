//! How a result looks, in both output modes: one trait, so each output type
//! says once how it prints. The human line is the library's `Display` of the
//! output (the same text its errors show); the JSON document is the
//! contract's shape (DESIGN.md), with `null` where a value is unknown.

use std::time::Duration;

use koophone_ureq::{FleetWaited, InstanceStatus, Progress, Waited};
use serde::Serialize;

use crate::exit::{Failure, INTERRUPTED, Kind, one_line};
use crate::output::{FailureFields, Report, to_json};

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

    /// The one word a fleet's live line counts instances by (`queuing`, `running`).
    fn label(&self) -> &str;

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

/// One instance of the fleet document: the single-instance document (or
/// the error object) plus `instance_id`.
#[derive(Serialize)]
#[serde(untagged)]
enum FleetInstanceDoc<'a, D> {
    Waited {
        instance_id: &'a str,
        #[serde(flatten)]
        waited: WaitedDoc<D>,
    },
    Failed {
        instance_id: &'a str,
        error: FailureFields<'a>,
    },
}

#[derive(Serialize)]
struct FleetDoc<'a, D> {
    instances: Vec<FleetInstanceDoc<'a, D>>,
    summary: FleetSummaryDoc,
}

#[derive(Serialize)]
struct FleetSummaryDoc {
    total: usize,
    ready: usize,
    failed: usize,
    timed_out: usize,
    errors: usize,
    requests: u64,
    elapsed_ms: u64,
}

/// Rows of the human table of instances that did not become ready.
const TABLE_ROWS: usize = 20;

/// Both forms of a fleet's result, and its exit code: the first that
/// applies of 6 (a failure state), 4 (a service error), 5 (transport or
/// malformed), 3 (a deadline), 2 (a request that could not be made), 130
/// (interrupted), else 0.
pub fn fleet<R: Render>(ids: &[String], waited: &FleetWaited<R>) -> (Report, u8) {
    let failures: Vec<Option<Failure>> = waited
        .instances
        .iter()
        .map(|r| r.as_ref().err().map(Failure::from_error))
        .collect();
    let instances = ids
        .iter()
        .zip(&waited.instances)
        .zip(&failures)
        .map(|((id, result), failure)| match (result, failure) {
            (Ok(w), _) => FleetInstanceDoc::Waited {
                instance_id: id,
                waited: WaitedDoc {
                    answer: w.output.doc(),
                    polls: w.polls,
                    elapsed_ms: elapsed_ms(w.elapsed),
                },
            },
            (Err(_), failure) => FleetInstanceDoc::Failed {
                instance_id: id,
                error: failure
                    .as_ref()
                    .map_or_else(FailureFields::unknown, FailureFields::of),
            },
        })
        .collect();
    let s = &waited.summary;
    let json = to_json(&FleetDoc {
        instances,
        summary: FleetSummaryDoc {
            total: s.total,
            ready: s.ready,
            failed: s.failed,
            timed_out: s.timed_out,
            errors: s.errors,
            requests: s.requests,
            elapsed_ms: elapsed_ms(s.elapsed),
        },
    });
    let kinds: Vec<Kind> = failures.iter().flatten().map(|f| f.kind).collect();
    let code = fleet_exit_code(&kinds, waited.cancelled);
    let mut human = format!(
        "ready {}/{} · failed {} · errors {} · timed out {} · {} requests in {:.1}s",
        s.ready,
        s.total,
        s.failed,
        s.errors,
        s.timed_out,
        s.requests,
        s.elapsed.as_secs_f64()
    );
    if waited.cancelled {
        human.push_str(" (interrupted)");
    }
    let not_ready: Vec<(&String, &Failure)> = ids
        .iter()
        .zip(&failures)
        .filter_map(|(id, f)| f.as_ref().map(|f| (id, f)))
        .collect();
    if !not_ready.is_empty() {
        let width = not_ready.iter().map(|(id, _)| id.len()).max().unwrap_or(0);
        for (id, f) in not_ready.iter().take(TABLE_ROWS) {
            let id = one_line(id);
            human.push_str(&format!(
                "\n{id:width$}  {:<13} {}",
                f.kind.as_str(),
                f.line
            ));
        }
        if not_ready.len() > TABLE_ROWS {
            human.push_str(&format!(
                "\n... and {} more (--output json lists them all)",
                not_ready.len() - TABLE_ROWS
            ));
        }
    }
    (Report { human, json }, code)
}

/// The fleet's exit code from its instances' failure kinds (see [`fleet`]).
pub fn fleet_exit_code(kinds: &[Kind], cancelled: bool) -> u8 {
    let any = |wanted: &[Kind]| kinds.iter().any(|k| wanted.contains(k));
    if cancelled {
        INTERRUPTED
    } else if any(&[Kind::FailedState]) {
        6
    } else if any(&[Kind::Service, Kind::Unauthorized, Kind::Throttled]) {
        4
    } else if any(&[Kind::Transport, Kind::Malformed]) {
        5
    } else if any(&[Kind::Timeout]) {
        3
    } else if any(&[Kind::InvalidInput]) {
        2
    } else {
        0
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

    fn label(&self) -> &str {
        self.status.as_str()
    }

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

    fn label(&self) -> &str {
        self.state.as_str()
    }

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

    #[test]
    fn fleet_exit_code_takes_the_first_that_applies() {
        use Kind::*;
        let cases: [(&[Kind], u8); 8] = [
            (&[], 0),
            (&[Timeout], 3),
            (&[Timeout, Transport], 5),
            (&[Malformed, Timeout], 5),
            (&[Transport, Service, Timeout], 4),
            (&[Throttled], 4),
            (&[Timeout, Unauthorized, FailedState, Transport], 6),
            (&[InvalidInput], 2),
        ];
        for (kinds, code) in cases {
            assert_eq!(fleet_exit_code(kinds, false), code, "{kinds:?}");
        }
        assert_eq!(fleet_exit_code(&[FailedState], true), INTERRUPTED);
    }
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
