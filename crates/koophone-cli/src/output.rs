//! Where and how often a command's final output is written: one readable
//! line, or exactly one JSON document (their content comes from
//! the render module).
//!
//! Results go to stdout, failures to stderr in human mode and to stdout in
//! JSON mode (scripts read one document from one place). The final output is
//! written at most once per process, even when Ctrl-C races the command.

use std::fmt;
use std::io::{self, Write};
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use koophone_ureq::IssuedToken;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::args::OutputFormat;
use crate::exit::Failure;

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
struct FailureDoc<'a> {
    error: FailureFields<'a>,
}

/// The members of the JSON error document (also each failed instance's
/// `error` in a fleet document).
#[derive(Serialize)]
pub struct FailureFields<'a> {
    kind: &'a str,
    http_status: Option<u16>,
    error_code: Option<&'a str>,
    error_msg: Option<&'a str>,
    request_id: Option<&'a str>,
}

/// One JSON document on one line.
pub fn to_json(doc: &impl Serialize) -> String {
    // Plain structs of strings and integers: serialising them cannot fail.
    serde_json::to_string(doc).unwrap_or_else(|_| String::from("null"))
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

/// The members of a failure's error document.
pub fn failure_fields(f: &Failure) -> FailureFields<'_> {
    FailureFields {
        kind: f.kind.as_str(),
        http_status: f.http_status,
        error_code: f.error_code.as_deref(),
        error_msg: f.error_msg.as_deref(),
        request_id: f.request_id.as_deref(),
    }
}

/// The JSON error document.
pub fn failure_json(f: &Failure) -> String {
    to_json(&FailureDoc {
        error: failure_fields(f),
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
    use std::time::Duration;

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
