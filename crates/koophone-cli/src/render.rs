//! How a result looks, in both output modes: one trait, so each output type
//! says once how it prints. The human line is the library's `Display` of the
//! output (the same text its errors show); the JSON document is the
//! contract's shape (DESIGN.md), with `null` where a value is unknown.

use std::time::Duration;

use koophone_ureq::{Error, InstanceStatus, PreparedInstances, Progress, Waited};
use serde::Serialize;

use crate::exit::{Failure, INTERRUPTED, Kind};
use crate::output::{FailureFields, Report, failure_fields, to_json};

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

/// `{"status_list":[{"instance_id":"iRJEVP9","status":"ready","status_code":0}]}`
#[derive(Serialize)]
pub struct PreparedDoc<'a> {
    status_list: Vec<PreparedEntryDoc<'a>>,
}

/// One instance; an id the service left out is `"missing"` with a `null` code.
#[derive(Serialize)]
struct PreparedEntryDoc<'a> {
    instance_id: &'a str,
    status: &'static str,
    status_code: Option<i64>,
}

impl Render for PreparedInstances {
    type Doc<'a> = PreparedDoc<'a>;

    fn label(&self) -> &str {
        "prepared"
    }

    fn doc(&self) -> PreparedDoc<'_> {
        PreparedDoc {
            status_list: self
                .instances
                .iter()
                .map(|i| PreparedEntryDoc {
                    instance_id: &i.instance_id,
                    status: i.status.map_or("missing", |s| s.as_str()),
                    status_code: i.status.map(|s| s.code()),
                })
                .collect(),
        }
    }
}

/// How one instance of a fleet's wait ended.
pub struct FleetMember<R> {
    /// The instance id.
    pub instance_id: String,
    /// The finished wait, or why it did not finish.
    pub outcome: Result<Waited<R>, Failure>,
}

/// The fleet document: every instance in the order given, then a summary.
#[derive(Serialize)]
struct FleetDoc<D> {
    instances: Vec<D>,
    summary: Summary,
}

#[derive(Serialize)]
struct MemberDoc<'a, T> {
    instance_id: &'a str,
    #[serde(flatten)]
    answer: T,
}

#[derive(Serialize)]
struct ErrorMemberDoc<'a> {
    instance_id: &'a str,
    error: FailureFields<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum MemberOrError<'a, T> {
    Waited(MemberDoc<'a, WaitedDoc<T>>),
    Error(ErrorMemberDoc<'a>),
}

/// The fleet's counts.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Instances waited for.
    pub total: usize,
    /// Reached the target.
    pub ready: usize,
    /// Reached a failure state.
    pub failed: usize,
    /// Ran out of time.
    pub timed_out: usize,
    /// Ended with any other error.
    pub errors: usize,
    /// Requests sent for the whole command.
    pub requests: u64,
    /// Time the whole command took.
    pub elapsed_ms: u64,
}

impl Summary {
    /// The exit code of the contract for a fleet: 130 when any instance's
    /// wait was interrupted (what was known is printed all the same), else
    /// the first that applies of 6 (a failure state), 4 (a service error),
    /// 5 (transport or malformed), 3 (a timeout), else 0.
    pub fn exit_code<R>(members: &[FleetMember<R>]) -> u8 {
        let kinds: Vec<Kind> = members
            .iter()
            .filter_map(|m| m.outcome.as_ref().err().map(|f| f.kind))
            .collect();
        let any = |wanted: &[Kind]| kinds.iter().any(|k| wanted.contains(k));
        if any(&[Kind::Cancelled]) {
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
            // A request that could not be made (nothing sent for it).
            2
        } else {
            0
        }
    }
}

/// Rows of the human table of instances that did not become ready.
const TABLE_ROWS: usize = 20;

/// A fleet wait's results as members, in the order of `ids`; an instance
/// the wait did not finish is `cancelled`.
pub fn members<R>(ids: &[String], waited: Vec<Result<Waited<R>, Error>>) -> Vec<FleetMember<R>> {
    let mut waited = waited.into_iter();
    ids.iter()
        .map(|id| FleetMember {
            instance_id: id.clone(),
            outcome: member_outcome(waited.next()),
        })
        .collect()
}

/// One instance's wait as a fleet reports it; `None` for an instance the
/// fleet never started (interrupted while the instances were fed in).
pub fn member_outcome<R>(waited: Option<Result<Waited<R>, Error>>) -> Result<Waited<R>, Failure> {
    match waited {
        Some(waited) => waited.map_err(|e| Failure::from_error(&e)),
        None => Err(Failure::interrupted()),
    }
}

/// Both forms of a fleet's result: a summary line, then a short table of
/// the instances that did not become ready; or the fleet document.
pub fn fleet<R: Render>(members: &[FleetMember<R>], requests: u64, elapsed: Duration) -> Report {
    let mut summary = Summary {
        total: members.len(),
        requests,
        elapsed_ms: elapsed_ms(elapsed),
        ..Summary::default()
    };
    let mut not_ready = Vec::new();
    let mut docs = Vec::with_capacity(members.len());
    for member in members {
        match &member.outcome {
            Ok(w) => {
                summary.ready += 1;
                docs.push(MemberOrError::Waited(MemberDoc {
                    instance_id: &member.instance_id,
                    answer: WaitedDoc {
                        answer: w.output.doc(),
                        polls: w.polls,
                        elapsed_ms: elapsed_ms(w.elapsed),
                    },
                }));
            }
            Err(f) => {
                match f.kind {
                    Kind::FailedState => summary.failed += 1,
                    Kind::Timeout => summary.timed_out += 1,
                    _ => summary.errors += 1,
                }
                not_ready.push((crate::exit::one_line(&member.instance_id), f));
                docs.push(MemberOrError::Error(ErrorMemberDoc {
                    instance_id: &member.instance_id,
                    error: failure_fields(f),
                }));
            }
        }
    }
    let mut lines = vec![format!(
        "{} instances: {} ready, {} failed, {} timed out, {} errors; {} requests in {:.1}s",
        summary.total,
        summary.ready,
        summary.failed,
        summary.timed_out,
        summary.errors,
        summary.requests,
        elapsed.as_secs_f64()
    )];
    // A short table of the instances that did not become ready.
    let width = not_ready
        .iter()
        .map(|(id, _)| id.chars().count())
        .max()
        .unwrap_or(0);
    for (id, f) in not_ready.iter().take(TABLE_ROWS) {
        lines.push(format!("{id:width$}  {:<13} {}", f.kind.as_str(), f.line));
    }
    if not_ready.len() > TABLE_ROWS {
        lines.push(format!(
            "... and {} more not ready (--output json lists every instance)",
            not_ready.len() - TABLE_ROWS
        ));
    }
    Report {
        human: lines.join("\n"),
        json: to_json(&FleetDoc {
            instances: docs,
            summary,
        }),
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
    fn prepared_document_lists_missing_ids_with_a_null_code() {
        use koophone_ureq::{PhoneStatus, PreparedInstance};
        let answered = [
            ("iRJEVP9", Some(PhoneStatus::Ready)),
            ("iQWERT1", None),
            ("iX", Some(PhoneStatus::Unknown(42))),
        ];
        let p = PreparedInstances {
            instances: answered
                .map(|(id, status)| PreparedInstance {
                    instance_id: id.into(),
                    status,
                })
                .into(),
        };
        assert_eq!(
            p.report().json,
            r#"{"status_list":[{"instance_id":"iRJEVP9","status":"ready","status_code":0},{"instance_id":"iQWERT1","status":"missing","status_code":null},{"instance_id":"iX","status":"unknown","status_code":42}]}"#
        );
        assert_eq!(
            p.report().human,
            "iRJEVP9 ready (status 0), iQWERT1 missing, iX unknown (status 42)"
        );
    }

    #[test]
    fn fleet_document_and_exit_code() {
        let ready = FleetMember {
            instance_id: "a".to_owned(),
            outcome: Ok(Waited {
                output: Progress {
                    status: PrepareStatus::Normal,
                    waiting_count: Some(0),
                },
                polls: 2,
                elapsed: Duration::from_millis(1500),
            }),
        };
        let timed_out = FleetMember {
            instance_id: "b".to_owned(),
            outcome: Err(Failure::plain(Kind::Timeout, "the wait deadline passed")),
        };
        let members = vec![ready, timed_out];
        let report = fleet(&members, 5, Duration::from_millis(3000));
        assert_eq!(
            report.json,
            r#"{"instances":[{"instance_id":"a","status":"normal","status_code":0,"waiting_count":0,"polls":2,"elapsed_ms":1500},{"instance_id":"b","error":{"kind":"timeout","http_status":null,"error_code":null,"error_msg":"the wait deadline passed","request_id":null}}],"summary":{"total":2,"ready":1,"failed":0,"timed_out":1,"errors":0,"requests":5,"elapsed_ms":3000}}"#
        );
        assert_eq!(Summary::exit_code(&members), 3);
        assert_eq!(
            report.human,
            "2 instances: 1 ready, 0 failed, 1 timed out, 0 errors; 5 requests in 3.0s\n\
             b  timeout       the wait deadline passed"
        );
        let mut members = members;
        members.push(FleetMember {
            instance_id: "c".to_owned(),
            outcome: Err(Failure::plain(Kind::Transport, "reset")),
        });
        assert_eq!(Summary::exit_code(&members), 5);
        members.push(FleetMember {
            instance_id: "d".to_owned(),
            outcome: Err(Failure::plain(Kind::Service, "http 400")),
        });
        assert_eq!(Summary::exit_code(&members), 4);
        members.push(FleetMember {
            instance_id: "e".to_owned(),
            outcome: Err(Failure::plain(Kind::FailedState, "failed")),
        });
        assert_eq!(Summary::exit_code(&members), 6);
        members.push(FleetMember {
            instance_id: "f".to_owned(),
            outcome: Err(Failure::interrupted()),
        });
        assert_eq!(Summary::exit_code(&members), 130);
    }

    #[test]
    fn instances_the_fleet_never_started_are_listed_as_cancelled() {
        let ids = ["a".to_owned(), "b".to_owned()];
        let waited: Vec<Result<Waited<Progress>, Error>> = vec![Err(Error::Cancelled)];
        let members = members(&ids, waited);
        let kinds: Vec<(&str, Kind)> = members
            .iter()
            .map(|m| (m.instance_id.as_str(), m.outcome.as_ref().unwrap_err().kind))
            .collect();
        assert_eq!(kinds, [("a", Kind::Cancelled), ("b", Kind::Cancelled)]);
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
