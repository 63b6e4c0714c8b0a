//! How a command failed, in the terms of the contract: the failure kind
//! scripts switch on, the fields of the JSON error document, and the exit code.

use std::error::Error as _;

use koophone_ureq::{Error, InstanceStatus};

/// Exit code of a command interrupted by Ctrl-C (128 + SIGINT, the shell convention).
pub const INTERRUPTED: u8 = 130;

/// Exit code when the result could not be written (`EX_IOERR` of sysexits.h).
pub const OUTPUT_LOST: u8 = 74;

/// The exit code after stdout refused the result: a broken pipe (the reader
/// went away, as with `| head`) is quiet and keeps `code`; any other error
/// (a full disk, `/dev/full`, an I/O error) is said on stderr in one line
/// and ends with [`OUTPUT_LOST`], so a script never takes a lost result
/// for a delivered one.
pub fn after_lost_output(error: &std::io::Error, code: u8) -> u8 {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        return code;
    }
    let line = one_line(&format!(
        "koophone: cannot write the result to stdout: {error}"
    ));
    let mut stderr = std::io::stderr().lock();
    let _ = std::io::Write::write_all(&mut stderr, format!("{line}\n").as_bytes());
    OUTPUT_LOST
}

/// The `kind` of the JSON error document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Refused before anything was sent.
    InvalidInput,
    /// The service answered with an error.
    Service,
    /// 401.
    Unauthorized,
    /// 429, still throttled after retries.
    Throttled,
    /// An answer that could not be understood.
    Malformed,
    /// No usable answer (connect, TLS, timeout of one request, reset).
    Transport,
    /// The wait deadline passed.
    Timeout,
    /// The instance reached a failure state while waiting.
    FailedState,
    /// Ctrl-C: not in the contract's list, which covers commands that ran to an end.
    Cancelled,
}

impl Kind {
    /// The name in the JSON document.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::InvalidInput => "invalid_input",
            Kind::Service => "service",
            Kind::Unauthorized => "unauthorized",
            Kind::Throttled => "throttled",
            Kind::Malformed => "malformed",
            Kind::Transport => "transport",
            Kind::Timeout => "timeout",
            Kind::FailedState => "failed_state",
            Kind::Cancelled => "cancelled",
        }
    }

    /// The exit code of the contract.
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::InvalidInput => 2,
            Kind::Timeout => 3,
            Kind::Service | Kind::Unauthorized | Kind::Throttled => 4,
            Kind::Transport | Kind::Malformed => 5,
            Kind::FailedState => 6,
            Kind::Cancelled => INTERRUPTED,
        }
    }
}

/// A failed command: everything both output modes print about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What kind of failure.
    pub kind: Kind,
    /// The HTTP status of the answer behind it, when there was one.
    pub http_status: Option<u16>,
    /// The service's error code (or CloudDC's instance error code), as received.
    pub error_code: Option<String>,
    /// The service's message, or what went wrong in our words.
    pub error_msg: Option<String>,
    /// The request id the service gave its answer.
    pub request_id: Option<String>,
    /// The one line printed on stderr in human mode.
    pub line: String,
}

impl Failure {
    /// A failure with nothing but a kind and a line.
    pub fn plain(kind: Kind, line: impl Into<String>) -> Failure {
        let line = one_line(&line.into());
        Failure {
            kind,
            http_status: None,
            error_code: None,
            error_msg: Some(line.clone()),
            request_id: None,
            line,
        }
    }

    /// Input refused before anything was sent.
    pub fn invalid_input(line: impl Into<String>) -> Failure {
        Failure::plain(Kind::InvalidInput, line)
    }

    /// Ctrl-C.
    pub fn interrupted() -> Failure {
        Failure::plain(Kind::Cancelled, "interrupted")
    }

    /// Classify a client error. Its `Display` never holds the token, and the
    /// accessors give the status, code and request id of the answer behind it.
    pub fn from_error(error: &Error) -> Failure {
        let kind = kind_of(error);
        if kind == Kind::Cancelled {
            return Failure::interrupted();
        }
        let mut line = error.to_string();
        if let Error::Transport(_) | Error::Iam(_) | Error::Metadata(_) = error {
            // ureq's own error says why (connection refused, dns, certificate).
            let mut source = error.source();
            while let Some(cause) = source {
                line.push_str(": ");
                line.push_str(&cause.to_string());
                source = cause.source();
            }
        }
        let mut error_code = error.error_code().map(str::to_owned);
        let mut error_msg = match kind {
            // The service's message of the last poll would hide that the wait timed out.
            Kind::Timeout => None,
            _ => error.message().map(str::to_owned),
        };
        if let Error::FailedState(failed) = error
            && let Some(status) = failed.state.downcast_ref::<InstanceStatus>()
            && let Some(instance_error) = &status.error
        {
            // The state's own Display (in the line already) names its error.
            error_code = instance_error.error_code.clone();
            error_msg = instance_error.error_msg.clone();
        }
        for (label, value) in [
            ("error code", error_code.as_deref()),
            ("request id", error.request_id()),
        ] {
            if let Some(value) = value
                && !line.contains(value)
            {
                line.push_str(&format!(" ({label} {value})"));
            }
        }
        let line = one_line(&line);
        Failure {
            kind,
            http_status: error.http_status(),
            error_code,
            error_msg: Some(error_msg.unwrap_or_else(|| line.clone())),
            request_id: error.request_id().map(str::to_owned),
            line,
        }
    }

    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }
}

fn kind_of(error: &Error) -> Kind {
    match error {
        Error::InvalidInput(_) | Error::InvalidPolicy(_) | Error::InvalidFleetPolicy(_) => {
            Kind::InvalidInput
        }
        Error::Service(_) | Error::OtherApi(_) => Kind::Service,
        // A token source that cannot produce a token: the request could not be authenticated.
        Error::Unauthorized(_) | Error::Credentials(_) => Kind::Unauthorized,
        Error::Throttled(_) => Kind::Throttled,
        Error::Malformed(_) => Kind::Malformed,
        Error::Transport(_) => Kind::Transport,
        Error::WaitDeadline(_) => Kind::Timeout,
        Error::FailedState(_) => Kind::FailedState,
        Error::Cancelled => Kind::Cancelled,
        // IAM issued no token, or the metadata service no credentials: the
        // kind of its answer, or of the failure to get one.
        Error::Iam(_) | Error::Metadata(_) => match error.kind() {
            "invalid_input" => Kind::InvalidInput,
            "throttled" => Kind::Throttled,
            "malformed" => Kind::Malformed,
            "transport" => Kind::Transport,
            "service" => Kind::Service,
            _ => Kind::Unauthorized,
        },
        // A kind added to the client later: the service (or its gateway) said no.
        _ => Kind::Service,
    }
}

/// Text received from the network on one line, with no control characters
/// (an HTML page's newlines, terminal escape sequences).
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use koophone_ureq::{InvalidInput, ShowProgress};

    #[test]
    fn exit_codes_follow_the_contract() {
        let expected = [
            (Kind::InvalidInput, 2, "invalid_input"),
            (Kind::Timeout, 3, "timeout"),
            (Kind::Service, 4, "service"),
            (Kind::Unauthorized, 4, "unauthorized"),
            (Kind::Throttled, 4, "throttled"),
            (Kind::Transport, 5, "transport"),
            (Kind::Malformed, 5, "malformed"),
            (Kind::FailedState, 6, "failed_state"),
            (Kind::Cancelled, 130, "cancelled"),
        ];
        for (kind, code, name) in expected {
            assert_eq!((kind.exit_code(), kind.as_str()), (code, name));
        }
    }

    #[test]
    fn invalid_input_from_the_client_is_exit_code_2() {
        let invalid: InvalidInput = ShowProgress::new("", "x").unwrap_err();
        let failure = Failure::from_error(&Error::InvalidInput(invalid));
        assert_eq!(failure.kind, Kind::InvalidInput);
        assert_eq!(failure.exit_code(), 2);
        assert_eq!(failure.line, "invalid user_id: must not be empty");
        assert_eq!(failure.error_msg.as_deref(), Some(failure.line.as_str()));
        assert_eq!(failure.http_status, None);
    }

    #[test]
    fn one_line_removes_control_characters() {
        assert_eq!(one_line("a\nb\x1b[31mc"), "a b [31mc");
    }
}
