//! What a command prints when it ends: one readable line, or exactly one
//! JSON document shaped as the contract says (`null` where unknown).
//!
//! Results go to stdout, failures to stderr in human mode and to stdout in
//! JSON mode (scripts read one document from one place). The final output is
//! written at most once per process, even when Ctrl-C races the command.

use std::fmt;
use std::io::{self, Write};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use koophone_ureq::{InstanceStatus, IssuedToken, Progress, Waited};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::args::OutputFormat;
use crate::exit::{Failure, one_line};

/// A result in both forms; the output mode picks one.
///
/// `Debug` shows neither: the report of `koophone token` is a credential.
#[derive(Clone, PartialEq, Eq)]
pub struct Report {
    /// The line for a person.
    pub human: String,
    /// The JSON document, on one line.
    pub json: String,
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Report(..)")
    }
}

#[derive(Serialize)]
struct TokenDoc<'a> {
    token: &'a str,
    expires_at: String,
}

#[derive(Serialize)]
struct ProgressDoc<'a> {
    status: &'a str,
    status_code: i64,
    waiting_count: Option<i64>,
}

#[derive(Serialize)]
struct StatusDoc<'a> {
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

#[derive(Serialize)]
struct WaitedDoc<T> {
    #[serde(flatten)]
    answer: T,
    polls: u32,
    elapsed_ms: u64,
}

#[derive(Serialize)]
struct FailureDoc<'a> {
    error: FailureFields<'a>,
}

#[derive(Serialize)]
struct FailureFields<'a> {
    kind: &'a str,
    http_status: Option<u16>,
    error_code: Option<&'a str>,
    error_msg: Option<&'a str>,
    request_id: Option<&'a str>,
}

fn to_json(doc: &impl Serialize) -> String {
    // Plain structs of strings and integers: serialising them cannot fail.
    serde_json::to_string(doc).unwrap_or_else(|_| String::from("null"))
}

fn progress_doc(p: &Progress) -> ProgressDoc<'static> {
    ProgressDoc {
        status: p.status.as_str(),
        status_code: p.status.code(),
        waiting_count: p.waiting_count,
    }
}

fn status_doc(s: &InstanceStatus) -> StatusDoc<'_> {
    StatusDoc {
        state: s.state.as_str(),
        operation_state: s.operation_state.as_deref(),
        error: s.error.as_ref().map(|e| InstanceErrorDoc {
            error_code: e.error_code.as_deref(),
            error_msg: e.error_msg.as_deref(),
            error_type: e.error_type.as_deref(),
        }),
    }
}

fn elapsed_ms(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}

/// `queuing (status 1), waiting count 3`
pub fn describe_progress(p: &Progress) -> String {
    let mut line = format!("{} (status {})", p.status.as_str(), p.status.code());
    if let Some(count) = p.waiting_count {
        line.push_str(&format!(", waiting count {count}"));
    }
    line
}

/// `error, operation state install-failed, error CLOUDDC.5001 create_instance_error: ...`
/// (strings from the service are put on one line, without control characters).
pub fn describe_status(s: &InstanceStatus) -> String {
    let mut line = one_line(s.state.as_str());
    if let Some(op) = &s.operation_state {
        line.push_str(&format!(", operation state {}", one_line(op)));
    }
    if let Some(e) = &s.error {
        line.push_str(", error");
        for part in [&e.error_code, &e.error_type].into_iter().flatten() {
            line.push(' ');
            line.push_str(&one_line(part));
        }
        if let Some(msg) = &e.error_msg {
            line.push_str(": ");
            line.push_str(&one_line(msg));
        }
    }
    line
}

fn describe_cost(polls: u32, elapsed: Duration) -> String {
    let unit = if polls == 1 { "poll" } else { "polls" };
    format!("{polls} {unit} in {:.1}s", elapsed.as_secs_f64())
}

/// `progress`.
pub fn progress(p: &Progress) -> Report {
    Report {
        human: describe_progress(p),
        json: to_json(&progress_doc(p)),
    }
}

/// `wait`.
pub fn waited_progress(w: &Waited<Progress>) -> Report {
    Report {
        human: format!(
            "ready: {} after {}",
            describe_progress(&w.output),
            describe_cost(w.polls, w.elapsed)
        ),
        json: to_json(&WaitedDoc {
            answer: progress_doc(&w.output),
            polls: w.polls,
            elapsed_ms: elapsed_ms(w.elapsed),
        }),
    }
}

/// `status`.
pub fn status(s: &InstanceStatus) -> Report {
    Report {
        human: describe_status(s),
        json: to_json(&status_doc(s)),
    }
}

/// `wait-state`.
pub fn waited_status(w: &Waited<InstanceStatus>) -> Report {
    Report {
        human: format!(
            "reached {} after {}",
            describe_status(&w.output),
            describe_cost(w.polls, w.elapsed)
        ),
        json: to_json(&WaitedDoc {
            answer: status_doc(&w.output),
            polls: w.polls,
            elapsed_ms: elapsed_ms(w.elapsed),
        }),
    }
}

/// `token`: the token alone on a line (for `$(koophone token ...)`), or
/// `{"token":"...","expires_at":"2026-01-02T03:04:05Z"}` (RFC 3339, UTC).
pub fn issued_token(issued: &IssuedToken) -> Report {
    let token = issued.token.expose_secret();
    Report {
        human: token.to_owned(),
        json: to_json(&TokenDoc {
            token,
            expires_at: rfc3339(issued.expires_at),
        }),
    }
}

/// A wall-clock time in RFC 3339, UTC; times this program cannot hold in a
/// date (before 1970, past year 9999) clamp to those ends.
fn rfc3339(at: SystemTime) -> String {
    let seconds = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let latest = 253_402_300_799; // 9999-12-31T23:59:59Z
    OffsetDateTime::from_unix_timestamp(seconds.min(latest))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| String::from("1970-01-01T00:00:00Z"))
}

/// The JSON error document.
pub fn failure_json(f: &Failure) -> String {
    to_json(&FailureDoc {
        error: FailureFields {
            kind: f.kind.as_str(),
            http_status: f.http_status,
            error_code: f.error_code.as_deref(),
            error_msg: f.error_msg.as_deref(),
            request_id: f.request_id.as_deref(),
        },
    })
}

/// Whether the final output was written; guards the once-per-process rule.
static EMITTED: Mutex<bool> = Mutex::new(false);

/// What became of the final output.
#[derive(Debug)]
pub enum Emitted {
    /// Written (or, for a failure line on stderr, attempted: there is no
    /// other place left to say that stderr failed).
    Written,
    /// Another thread had already printed the final output.
    Skipped,
    /// Writing the result to stdout failed.
    Lost(io::Error),
}

/// Run `write` unless the final output was already written.
/// The lock is held while writing, so a racing writer waits and then skips.
fn emit_once(write: impl FnOnce() -> io::Result<()>) -> Emitted {
    let mut emitted = EMITTED.lock().unwrap_or_else(PoisonError::into_inner);
    if *emitted {
        return Emitted::Skipped;
    }
    let written = write();
    *emitted = true;
    match written {
        Ok(()) => Emitted::Written,
        Err(e) => Emitted::Lost(e),
    }
}

/// Print a result: the line or the document, on stdout.
pub fn print_report(format: OutputFormat, report: &Report) -> Emitted {
    emit_once(|| {
        let text = match format {
            OutputFormat::Human => &report.human,
            OutputFormat::Json => &report.json,
        };
        write_line(&mut io::stdout().lock(), text)
    })
}

/// Print a failure: `koophone: <line>` on stderr, or the error document on
/// stdout.
pub fn print_failure(format: OutputFormat, failure: &Failure) -> Emitted {
    emit_once(|| match format {
        OutputFormat::Human => {
            // Nowhere left to report a failing stderr: the exit code still tells.
            let _ = write_line(
                &mut io::stderr().lock(),
                &format!("koophone: {}", failure.line),
            );
            Ok(())
        }
        OutputFormat::Json => write_line(&mut io::stdout().lock(), &failure_json(failure)),
    })
}

/// Write one line and flush, so a full disk or a closed pipe shows here
/// rather than being lost in a buffer dropped at exit.
pub fn write_line(out: &mut impl Write, text: &str) -> io::Result<()> {
    writeln!(out, "{text}").and_then(|()| out.flush())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Kind;
    use koophone_ureq::{ErrorStatus, InstanceState, PrepareStatus};

    #[test]
    fn progress_document_matches_the_contract() {
        let p = Progress {
            status: PrepareStatus::Queuing,
            waiting_count: Some(3),
        };
        assert_eq!(
            progress(&p).json,
            r#"{"status":"queuing","status_code":1,"waiting_count":3}"#
        );
        assert_eq!(progress(&p).human, "queuing (status 1), waiting count 3");
        let unknown = Progress {
            status: PrepareStatus::Unknown(7),
            waiting_count: None,
        };
        assert_eq!(
            progress(&unknown).json,
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
            waited_progress(&w).json,
            r#"{"status":"normal","status_code":0,"waiting_count":0,"polls":6,"elapsed_ms":5123}"#
        );
        assert_eq!(
            waited_progress(&w).human,
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
            waited_status(&s).json,
            r#"{"state":"running","operation_state":null,"error":null,"polls":1,"elapsed_ms":12}"#
        );
        assert_eq!(
            waited_status(&s).human,
            "reached running after 1 poll in 0.0s"
        );
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
            status(&s).json,
            r#"{"state":"teminated\u001b[2J","operation_state":"install-failed","error":{"error_code":"CLOUDDC.5001","error_msg":null,"error_type":"create_instance_error"}}"#
        );
        assert_eq!(
            status(&s).human,
            "teminated [2J, operation state install-failed, error CLOUDDC.5001 create_instance_error"
        );
    }

    #[test]
    fn token_report_is_the_token_or_its_document() {
        use koophone_ureq::Token;
        let issued = IssuedToken {
            token: Token::new("MIIE-token").unwrap(),
            expires_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000),
        };
        let report = issued_token(&issued);
        assert_eq!(report.human, "MIIE-token");
        assert_eq!(
            report.json,
            r#"{"token":"MIIE-token","expires_at":"2026-05-28T20:26:40Z"}"#
        );
        assert!(!format!("{report:?}").contains("MIIE"));
        assert_eq!(
            rfc3339(SystemTime::UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00Z"
        );
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(rfc3339(far), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn failure_document_has_every_field() {
        let f = Failure {
            kind: Kind::Service,
            http_status: Some(404),
            error_code: Some("KOOPHONE.API.4001".into()),
            error_msg: Some("the instance does not exist".into()),
            request_id: None,
            line: String::new(),
        };
        assert_eq!(
            failure_json(&f),
            r#"{"error":{"kind":"service","http_status":404,"error_code":"KOOPHONE.API.4001","error_msg":"the instance does not exist","request_id":null}}"#
        );
    }
}
