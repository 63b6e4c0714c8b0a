//! KooPhone ShowProgress: how far a cloud phone's preparation has got, and
//! the wait for it to become normal.

use std::time::Duration;

use http::Method;
use serde::{Deserialize, Serialize};

use super::{Operation, check_text, json_body, json_escaped_len};
use crate::decode::{self, SuccessError};
use crate::error::InvalidInput;
use crate::redact::{Redact, Redactor};
use crate::target::{Check, Target};

/// The documented limit of ShowProgress's `user_id` and `instance_id`, in characters.
pub const MAX_PROGRESS_ID_CHARS: usize = 32;

/// KooPhone ShowProgress: `POST /v1/instances/prepare-progress`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShowProgress {
    user_id: String,
    instance_id: String,
}

#[derive(Serialize)]
struct RequestBody<'a> {
    user_id: &'a str,
    instance_id: &'a str,
}

impl ShowProgress {
    /// Validate both ids: required, at most 32 characters, no control characters.
    pub fn new(
        user_id: impl Into<String>,
        instance_id: impl Into<String>,
    ) -> Result<ShowProgress, InvalidInput> {
        let user_id = user_id.into();
        let instance_id = instance_id.into();
        check_text("user_id", &user_id, Some(MAX_PROGRESS_ID_CHARS))?;
        check_text("instance_id", &instance_id, Some(MAX_PROGRESS_ID_CHARS))?;
        Ok(ShowProgress {
            user_id,
            instance_id,
        })
    }

    /// The KooPhone user id.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The cloud phone instance id.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }
}

impl Operation for ShowProgress {
    type Output = Progress;

    const NAME: &'static str = "ShowProgress";
    const METHOD: Method = Method::POST;
    const PATH: &'static str = "/v1/instances/prepare-progress";

    /// `{"user_id":"..","instance_id":".."}`, in a buffer of exactly its size.
    fn body(&self) -> Result<Option<Vec<u8>>, InvalidInput> {
        // `{"user_id":"","instance_id":""}` is 31 bytes around the two strings.
        let len = 31 + json_escaped_len(&self.user_id) + json_escaped_len(&self.instance_id);
        let fields = RequestBody {
            user_id: &self.user_id,
            instance_id: &self.instance_id,
        };
        json_body(len, &fields, "user_id")
    }

    fn decode_success(&self, body: &[u8]) -> Result<Progress, SuccessError> {
        let data: ProgressData = decode::koophone_data(body)?;
        Ok(Progress {
            status: PrepareStatus::from_code(data.status),
            waiting_count: data.waiting_count,
        })
    }
}

#[derive(Deserialize)]
struct ProgressData {
    status: i64,
    #[serde(rename = "waitingCount")]
    waiting_count: Option<i64>,
}

/// ShowProgress's answer: how far the preparation of a cloud phone has got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The preparation status.
    pub status: PrepareStatus,
    /// `waitingCount` as received; the API documents it only as "wait time",
    /// without a unit, so it is reported raw and used only as a bounded hint.
    pub waiting_count: Option<i64>,
}

/// `queuing (status 1), waiting count 3`.
impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (status {})", self.status, self.status.code())?;
        if let Some(count) = self.waiting_count {
            write!(f, ", waiting count {count}")?;
        }
        Ok(())
    }
}

/// Numbers only: nothing to scrub.
impl Redact for Progress {
    fn redact(&mut self, _: &Redactor) {}
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

impl std::fmt::Display for PrepareStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Wait until ShowProgress says `normal`; `failed` (-1) fails the wait, every
/// other status (including unknown ones) keeps waiting.
///
/// While the phone is queuing, `waitingCount` is taken as seconds left (the API
/// calls it "wait time" without a unit) and offered as the next pause: a large
/// count lets the waiter skip requests that could only say "queuing", within
/// `max_interval` and the policy's pause cap. A hint only lengthens the pause
/// (see [`Target::interval_hint`]), so a count in another unit, or a constant
/// 0, costs no extra requests. Other statuses carry no hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UntilReady;

impl Target<Progress> for UntilReady {
    fn check(&self, output: &Progress) -> Check {
        match output.status {
            PrepareStatus::Normal => Check::Ready,
            PrepareStatus::Failed => Check::Failed,
            _ => Check::Pending,
        }
    }

    fn interval_hint(&self, output: &Progress) -> Option<Duration> {
        match (output.status, output.waiting_count) {
            (PrepareStatus::Queuing, Some(count)) => {
                Some(Duration::from_secs(u64::try_from(count).unwrap_or(0)))
            }
            _ => None,
        }
    }
}
