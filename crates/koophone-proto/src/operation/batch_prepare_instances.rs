//! KooPhone BatchPrepareInstances: make cloud phones ready for streaming, the
//! precondition of ShowProgress, and the split of any number of ids into
//! calls of at most [`MAX_PREPARE_BATCH`].

use std::collections::HashSet;
use std::fmt;

use http::Method;
use serde::{Deserialize, Serialize};

use super::show_progress::ShowProgress;
use super::{Operation, check_text, json_body, json_escaped_len};
use crate::decode::{self, JsonStr, MapOnly, SuccessError};
use crate::error::{InvalidInput, InvalidReason, OneLine};
use crate::redact::{Redact, Redactor};

/// The most instance ids one BatchPrepareInstances call may carry (KooPhone
/// caps its batch calls at 100 entries).
pub const MAX_PREPARE_BATCH: usize = 100;

/// The documented limit of `user_id` and of each instance id, in characters.
pub const MAX_PREPARE_ID_CHARS: usize = 32;

/// KooPhone BatchPrepareInstances: `POST /v1/instances/prepare`.
///
/// Preparing is a write, and the service does not document the call as
/// idempotent, so [`Operation::IDEMPOTENT`] is `false`: the machines
/// ([`Call`](crate::Call), [`Waiter`](crate::Waiter)) retry only failures
/// that prove the request was not applied — 429 (refused before any work),
/// 503 with `Retry-After` (the service says it is unavailable and when to come
/// back) and a connection that could not be made (nothing was sent). A
/// timeout, a reset, a 500 or a 502 may come after the service read the body
/// and started preparing: those are reported to the caller, who can look at
/// ShowProgress before sending the call again.
///
/// Duplicate ids are dropped (the first occurrence keeps its place): preparing
/// an instance twice in one call asks for nothing more, and the answer has one
/// entry per instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BatchPrepareInstances {
    user_id: String,
    instance_ids: Vec<String>,
}

#[derive(Serialize)]
struct RequestBody<'a> {
    user_id: &'a str,
    instance_ids: &'a [String],
}

impl BatchPrepareInstances {
    /// Validate the call: `user_id` and every instance id required, at most
    /// 32 characters, no control characters; 1 to [`MAX_PREPARE_BATCH`]
    /// distinct ids. Duplicates are dropped before the ids are counted.
    pub fn new<I, S>(
        user_id: impl Into<String>,
        instance_ids: I,
    ) -> Result<BatchPrepareInstances, InvalidInput>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let user_id = user_id.into();
        check_text("user_id", &user_id, Some(MAX_PREPARE_ID_CHARS))?;
        let mut seen = HashSet::new();
        let mut ids = Vec::new();
        for id in instance_ids {
            let id = id.into();
            check_text("instance_id", &id, Some(MAX_PREPARE_ID_CHARS))?;
            if !seen.contains(id.as_str()) {
                seen.insert(id.clone());
                ids.push(id);
            }
        }
        check_count(ids.len())?;
        Ok(BatchPrepareInstances {
            user_id,
            instance_ids: ids,
        })
    }

    /// Any number of ids as calls of at most [`MAX_PREPARE_BATCH`], in
    /// order, each id once (see [`prepare_batches`]). At least one id is
    /// required; every id is checked before any call is made.
    pub fn in_batches<S: AsRef<str>>(
        user_id: &str,
        instance_ids: &[S],
    ) -> Result<Vec<BatchPrepareInstances>, InvalidInput> {
        let batches = prepare_batches(instance_ids);
        if batches.is_empty() {
            return Err(InvalidInput {
                field: "instance_ids",
                reason: InvalidReason::Empty,
            });
        }
        batches
            .into_iter()
            .map(|batch| BatchPrepareInstances::new(user_id, batch))
            .collect()
    }

    /// The KooPhone user id.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The instance ids, in the order sent, without duplicates.
    pub fn instance_ids(&self) -> &[String] {
        &self.instance_ids
    }

    /// One ShowProgress per instance, in order: what to wait on once the
    /// instances are prepared (with [`UntilReady`](crate::UntilReady)).
    pub fn progress_operations(&self) -> Vec<ShowProgress> {
        // The ids passed the same checks ShowProgress makes, so none is refused.
        self.instance_ids
            .iter()
            .filter_map(|id| ShowProgress::new(self.user_id.as_str(), id.as_str()).ok())
            .collect()
    }
}

fn check_count(count: usize) -> Result<(), InvalidInput> {
    let refuse = |reason| {
        Err(InvalidInput {
            field: "instance_ids",
            reason,
        })
    };
    match count {
        0 => refuse(InvalidReason::Empty),
        n if n > MAX_PREPARE_BATCH => refuse(InvalidReason::TooMany {
            max: MAX_PREPARE_BATCH,
            count: n,
        }),
        _ => Ok(()),
    }
}

/// Split ids into batches of at most [`MAX_PREPARE_BATCH`]: order kept, each
/// id once (its first occurrence), every batch full but the last. Nothing is
/// validated here: [`BatchPrepareInstances::new`] does that per batch.
pub fn prepare_batches<S: AsRef<str>>(instance_ids: &[S]) -> Vec<Vec<&str>> {
    let mut seen = HashSet::with_capacity(instance_ids.len());
    let mut batches: Vec<Vec<&str>> = Vec::new();
    for id in instance_ids {
        let id = id.as_ref();
        if !seen.insert(id) {
            continue;
        }
        match batches.last_mut() {
            Some(batch) if batch.len() < MAX_PREPARE_BATCH => batch.push(id),
            _ => {
                let mut batch = Vec::with_capacity(MAX_PREPARE_BATCH);
                batch.push(id);
                batches.push(batch);
            }
        }
    }
    batches
}

impl Operation for BatchPrepareInstances {
    type Output = PreparedInstances;

    const NAME: &'static str = "BatchPrepareInstances";
    const METHOD: Method = Method::POST;
    const PATH: &'static str = "/v1/instances/prepare";
    /// A write the service does not call idempotent: see the type's docs.
    const IDEMPOTENT: bool = false;

    /// `{"user_id":"..","instance_ids":["..",".."]}`, in a buffer of exactly its size.
    fn body(&self) -> Result<Option<Vec<u8>>, InvalidInput> {
        // `{"user_id":"","instance_ids":[]}` is 32 bytes; each id adds its
        // two quotes, and every id but the first a comma.
        let ids: usize = self
            .instance_ids
            .iter()
            .map(|id| json_escaped_len(id) + 3)
            .sum();
        let len = 32 + json_escaped_len(&self.user_id) + ids.saturating_sub(1);
        let fields = RequestBody {
            user_id: &self.user_id,
            instance_ids: &self.instance_ids,
        };
        json_body(len, &fields, "instance_ids")
    }

    /// Every id sent gets one entry, in the order sent: its status from
    /// `status_list`, or `None` when the service left it out. An entry for an
    /// id that was not sent is ignored (it answers nothing that was asked);
    /// an id listed twice keeps its last status, as a repeated JSON member does.
    fn decode_success(&self, body: &[u8]) -> Result<PreparedInstances, SuccessError> {
        let data: PrepareData<'_> = decode::koophone_data(body)?;
        let Some(list) = data.status_list else {
            return Err(SuccessError::missing("status_list"));
        };
        let mut instances: Vec<PreparedInstance> = self
            .instance_ids
            .iter()
            .map(|id| PreparedInstance {
                instance_id: id.clone(),
                status: None,
            })
            .collect();
        for MapOnly(entry) in list {
            let (Some(JsonStr(id)), Some(code)) = (entry.instance_id, entry.status) else {
                return Err(SuccessError::missing(
                    "status_list[].instance_id or status_list[].status",
                ));
            };
            // At most 100 ids: a scan is cheaper than a map.
            if let Some(slot) = instances.iter_mut().find(|i| i.instance_id == id) {
                slot.status = Some(PhoneStatus::from_code(code));
            }
        }
        Ok(PreparedInstances { instances })
    }
}

#[derive(Deserialize)]
struct PrepareData<'a> {
    #[serde(borrow)]
    status_list: Option<Vec<MapOnly<StatusEntry<'a>>>>,
}

#[derive(Deserialize)]
struct StatusEntry<'a> {
    #[serde(borrow)]
    instance_id: Option<JsonStr<'a>>,
    status: Option<i64>,
}

/// BatchPrepareInstances's answer: one entry per instance id sent, in the
/// order sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedInstances {
    /// The instances, in the order of the request.
    pub instances: Vec<PreparedInstance>,
}

impl PreparedInstances {
    /// The instances the service left out of `status_list`: it does not say
    /// what that means, so they are reported rather than dropped.
    pub fn missing(&self) -> impl Iterator<Item = &str> {
        self.instances
            .iter()
            .filter(|i| i.status.is_none())
            .map(|i| i.instance_id.as_str())
    }
}

/// One instance of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedInstance {
    /// The instance id, as sent.
    pub instance_id: String,
    /// Its cloud phone status; `None` when `status_list` did not mention it.
    pub status: Option<PhoneStatus>,
}

/// `iRJEVP9 ready (status 0), iQWERT1 missing`: on one line whatever the
/// ids contain.
impl fmt::Display for PreparedInstances {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, instance) in self.instances.iter().enumerate() {
            if n > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", instance)?;
        }
        Ok(())
    }
}

/// `iRJEVP9 ready (status 0)`, or `iQWERT1 missing`.
impl fmt::Display for PreparedInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", OneLine(&self.instance_id))?;
        match self.status {
            Some(status) => write!(f, "{status} (status {})", status.code()),
            None => f.write_str("missing"),
        }
    }
}

/// The ids are text that was matched against the network's: scrubbed like
/// any network text.
impl Redact for PreparedInstances {
    fn redact(&mut self, redactor: &Redactor) {
        for instance in &mut self.instances {
            instance.instance_id.redact(redactor);
        }
    }
}

/// The cloud phone status BatchPrepareInstances reports per instance (KooPhone
/// documents eleven); other values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhoneStatus {
    /// `0`: ready.
    Ready,
    /// `1`: to be restored.
    ToBeRestored,
    /// `2`: to be assigned.
    ToBeAssigned,
    /// `3`: backing up.
    BackingUp,
    /// `4`: resetting.
    Resetting,
    /// `5`: restarting.
    Restarting,
    /// `6`: offline.
    Offline,
    /// `7`: replacing.
    Replacing,
    /// `8`: restoring from backup upon expiration.
    RestoringBackup,
    /// `9`: failed to restore from backup upon expiration.
    BackupRestoreFailed,
    /// `10`: maintaining.
    Maintaining,
    /// Any other value, as received.
    Unknown(i64),
}

impl PhoneStatus {
    /// Every documented status, in code order (0 to 10).
    pub const DOCUMENTED: [PhoneStatus; 11] = [
        PhoneStatus::Ready,
        PhoneStatus::ToBeRestored,
        PhoneStatus::ToBeAssigned,
        PhoneStatus::BackingUp,
        PhoneStatus::Resetting,
        PhoneStatus::Restarting,
        PhoneStatus::Offline,
        PhoneStatus::Replacing,
        PhoneStatus::RestoringBackup,
        PhoneStatus::BackupRestoreFailed,
        PhoneStatus::Maintaining,
    ];

    /// Map the wire integer.
    pub fn from_code(code: i64) -> PhoneStatus {
        usize::try_from(code)
            .ok()
            .and_then(|i| PhoneStatus::DOCUMENTED.get(i).copied())
            .unwrap_or(PhoneStatus::Unknown(code))
    }

    /// The wire integer.
    pub fn code(self) -> i64 {
        match self {
            PhoneStatus::Ready => 0,
            PhoneStatus::ToBeRestored => 1,
            PhoneStatus::ToBeAssigned => 2,
            PhoneStatus::BackingUp => 3,
            PhoneStatus::Resetting => 4,
            PhoneStatus::Restarting => 5,
            PhoneStatus::Offline => 6,
            PhoneStatus::Replacing => 7,
            PhoneStatus::RestoringBackup => 8,
            PhoneStatus::BackupRestoreFailed => 9,
            PhoneStatus::Maintaining => 10,
            PhoneStatus::Unknown(code) => code,
        }
    }

    /// The name used in the CLI's JSON (`ready`, `to_be_restored`, ...,
    /// `maintaining`, `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            PhoneStatus::Ready => "ready",
            PhoneStatus::ToBeRestored => "to_be_restored",
            PhoneStatus::ToBeAssigned => "to_be_assigned",
            PhoneStatus::BackingUp => "backing_up",
            PhoneStatus::Resetting => "resetting",
            PhoneStatus::Restarting => "restarting",
            PhoneStatus::Offline => "offline",
            PhoneStatus::Replacing => "replacing",
            PhoneStatus::RestoringBackup => "restoring_backup",
            PhoneStatus::BackupRestoreFailed => "backup_restore_failed",
            PhoneStatus::Maintaining => "maintaining",
            PhoneStatus::Unknown(_) => "unknown",
        }
    }
}

impl fmt::Display for PhoneStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use http::Response;

    use super::*;
    use crate::call::{Call, CallError};
    use crate::context::RequestContext;
    use crate::endpoint::{Endpoint, Token};
    use crate::error::{ApiError, TransportErrorKind};
    use crate::waiter::{Action, WaitPolicy};

    fn op(ids: &[&str]) -> BatchPrepareInstances {
        BatchPrepareInstances::new("1008600000104285462", ids.iter().copied()).unwrap()
    }

    fn ok(body: &str) -> Result<PreparedInstances, ApiError> {
        op(&["iRJEVP9", "iQWERT1"]).decode_response(Response::new(body.as_bytes()))
    }

    #[test]
    fn request_is_exact() {
        let ctx = RequestContext::new(
            Endpoint::parse("https://kp.example.com").unwrap(),
            Token::new("tok").unwrap(),
        )
        .with_user_agent("ua/1")
        .unwrap();
        let req = op(&["iRJEVP9", "iQWERT1"]).build_request(&ctx).unwrap();
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.uri(), "https://kp.example.com/v1/instances/prepare");
        let headers: Vec<_> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            headers,
            [
                ("x-auth-token", "tok"),
                ("content-type", "application/json"),
                ("user-agent", "ua/1"),
            ]
        );
        assert_eq!(
            req.body(),
            br#"{"user_id":"1008600000104285462","instance_ids":["iRJEVP9","iQWERT1"]}"#
        );
    }

    #[test]
    fn body_is_serde_json_in_an_exact_buffer() {
        for ids in [
            vec!["a"],
            vec!["a\"b", "\\", "ü🙂"],
            (0..100).map(|_| "x").collect(),
        ] {
            let distinct: Vec<String> = (0..ids.len()).map(|n| format!("{}{n}", ids[n])).collect();
            let op = BatchPrepareInstances::new("u\"\\", distinct.clone()).unwrap();
            let body = op.body().unwrap().unwrap();
            let expected = format!(
                "{{\"user_id\":{},\"instance_ids\":{}}}",
                serde_json::to_string("u\"\\").unwrap(),
                serde_json::to_string(&distinct).unwrap()
            );
            assert_eq!(body, expected.as_bytes());
            assert_eq!(body.len(), body.capacity());
        }
    }

    #[test]
    fn validation() {
        let err = |user: &str, ids: Vec<String>| BatchPrepareInstances::new(user, ids).unwrap_err();
        assert_eq!(err("", vec!["i".into()]).field, "user_id");
        let e = err("u", vec![]);
        assert_eq!((e.field, e.reason), ("instance_ids", InvalidReason::Empty));
        let e = err("u", vec!["ok".into(), "x".repeat(33)]);
        assert_eq!(
            (e.field, e.reason),
            ("instance_id", InvalidReason::TooLong { max: 32, len: 33 })
        );
        let e = err("u", vec!["a\nb".into()]);
        assert_eq!(e.reason, InvalidReason::ControlCharacter);
        assert_eq!(err("u", vec![String::new()]).reason, InvalidReason::Empty);
        let many: Vec<String> = (0..101).map(|n| n.to_string()).collect();
        let e = err("u", many.clone());
        assert_eq!(
            (e.field, e.reason.clone()),
            (
                "instance_ids",
                InvalidReason::TooMany {
                    max: 100,
                    count: 101
                }
            )
        );
        assert_eq!(
            e.to_string(),
            "invalid instance_ids: must have at most 100 entries, got 101"
        );
        assert!(BatchPrepareInstances::new("u", &many[..100]).is_ok());
        assert!(BatchPrepareInstances::new("🙂".repeat(32), ["é".repeat(32)]).is_ok());
    }

    #[test]
    fn duplicates_are_dropped_keeping_first_places() {
        let op = BatchPrepareInstances::new("u", ["b", "a", "b", "c", "a"]).unwrap();
        assert_eq!(op.instance_ids(), ["b", "a", "c"]);
        // 101 ids of which only 100 are distinct fit in one call.
        let mut ids: Vec<String> = (0..100).map(|n| n.to_string()).collect();
        ids.push("7".into());
        assert_eq!(
            BatchPrepareInstances::new("u", ids)
                .unwrap()
                .instance_ids()
                .len(),
            100
        );
    }

    #[test]
    fn batches_of_at_most_one_hundred() {
        let ids: Vec<String> = (0..250).map(|n| format!("i{n}")).collect();
        let batches = BatchPrepareInstances::in_batches("u", &ids).unwrap();
        let sizes: Vec<usize> = batches.iter().map(|b| b.instance_ids().len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
        assert_eq!(batches[1].instance_ids()[0], "i100");
        let none: [&str; 0] = [];
        assert_eq!(
            BatchPrepareInstances::in_batches("u", &none)
                .unwrap_err()
                .field,
            "instance_ids"
        );
        let bad = ["ok", "x\u{7}"];
        assert_eq!(
            BatchPrepareInstances::in_batches("u", &bad)
                .unwrap_err()
                .reason,
            InvalidReason::ControlCharacter
        );
    }

    #[test]
    fn documented_answer_and_missing_ids() {
        let got = ok(r#"{"error_code":"0","error_msg":"OK","data":{"status_list":[{"instance_id":"iRJEVP9","status":0}]}}"#)
            .unwrap();
        assert_eq!(
            got.instances,
            [
                PreparedInstance {
                    instance_id: "iRJEVP9".into(),
                    status: Some(PhoneStatus::Ready),
                },
                PreparedInstance {
                    instance_id: "iQWERT1".into(),
                    status: None,
                },
            ]
        );
        assert_eq!(got.missing().collect::<Vec<_>>(), ["iQWERT1"]);
        assert_eq!(got.to_string(), "iRJEVP9 ready (status 0), iQWERT1 missing");
    }

    #[test]
    fn ids_not_sent_are_ignored_and_repeats_keep_the_last() {
        let got = ok(r#"{"error_code":"0","data":{"status_list":[
            {"instance_id":"iOTHER","status":6},
            {"instance_id":"iQWERT1","status":3},
            {"instance_id":"iRJEVP9","status":1},
            {"instance_id":"iRJEVP9","status":42}]}}"#)
        .unwrap();
        let statuses: Vec<_> = got.instances.iter().map(|i| i.status).collect();
        assert_eq!(
            statuses,
            [Some(PhoneStatus::Unknown(42)), Some(PhoneStatus::BackingUp)]
        );
        assert!(!got.to_string().contains("iOTHER"));
    }

    #[test]
    fn malformed_and_failing_answers() {
        let kind = |body: &str| ok(body).unwrap_err().kind();
        assert_eq!(kind(r#"{"error_code":"0","data":{}}"#), "malformed");
        assert_eq!(
            kind(r#"{"error_code":"0","data":{"status_list":{}}}"#),
            "malformed"
        );
        assert_eq!(
            kind(r#"{"error_code":"0","data":{"status_list":[{"instance_id":"a"}]}}"#),
            "malformed"
        );
        assert_eq!(
            kind(r#"{"error_code":"0","data":{"status_list":[["a",1]]}}"#),
            "malformed"
        );
        assert_eq!(
            kind(r#"{"error_code":"0","data":{"status_list":[{"instance_id":1,"status":0}]}}"#),
            "malformed"
        );
        let e = ok(
            r#"{"error_code":"KOOPHONE.API.9999","error_msg":"boom","data":{"status_list":[]}}"#,
        )
        .unwrap_err();
        assert_eq!(
            (e.kind(), e.error_code()),
            ("service", Some("KOOPHONE.API.9999"))
        );
    }

    #[test]
    fn every_documented_code_has_its_name() {
        let names: Vec<_> = (0..=10)
            .map(|c| PhoneStatus::from_code(c).as_str())
            .collect();
        assert_eq!(
            names,
            [
                "ready",
                "to_be_restored",
                "to_be_assigned",
                "backing_up",
                "resetting",
                "restarting",
                "offline",
                "replacing",
                "restoring_backup",
                "backup_restore_failed",
                "maintaining",
            ]
        );
        for code in [-1, 11, i64::MIN, i64::MAX] {
            assert_eq!(PhoneStatus::from_code(code), PhoneStatus::Unknown(code));
            assert_eq!(PhoneStatus::from_code(code).code(), code);
        }
        for code in 0..=10 {
            assert_eq!(PhoneStatus::from_code(code).code(), code);
        }
    }

    #[test]
    fn redaction_and_one_line_display() {
        let mut got = PreparedInstances {
            instances: vec![PreparedInstance {
                instance_id: "has-secret-tok\nx".into(),
                status: Some(PhoneStatus::Offline),
            }],
        };
        assert_eq!(got.to_string(), "has-secret-tok x offline (status 6)");
        got.redact(&Redactor::new(["secret-tok"]));
        assert!(!got.instances[0].instance_id.contains("secret-tok"));
    }

    #[test]
    fn progress_operations_follow_the_ids() {
        let ops = op(&["a", "b"]).progress_operations();
        let ids: Vec<_> = ops.iter().map(|o| (o.user_id(), o.instance_id())).collect();
        assert_eq!(
            ids,
            [("1008600000104285462", "a"), ("1008600000104285462", "b")]
        );
    }

    /// A status with its headers, or a transport failure.
    type Answer = Result<(u16, &'static [(&'static str, &'static str)]), TransportErrorKind>;

    /// Run one call through `answers`, one per attempt; the outcome and how
    /// many requests were sent.
    fn run_call(answers: &[Answer]) -> (Result<PreparedInstances, CallError>, usize) {
        let start = Instant::now();
        let policy = WaitPolicy {
            max_wait: Duration::from_secs(60),
            ..WaitPolicy::default()
        };
        let mut call = Call::new(op(&["iRJEVP9"]), policy, start);
        let mut now = start;
        let mut sent = 0;
        loop {
            match call.poll(now) {
                Action::Send => {
                    let answer = answers.get(sent).cloned().unwrap_or(Ok((200, &[])));
                    sent += 1;
                    match answer {
                        Ok((200, _)) => call.handle_response(
                            Response::new(&br#"{"error_code":"0","data":{"status_list":[{"instance_id":"iRJEVP9","status":0}]}}"#[..]),
                            now,
                        ),
                        Ok((status, headers)) => {
                            let mut builder = Response::builder().status(status);
                            for (k, v) in headers {
                                builder = builder.header(*k, *v);
                            }
                            call.handle_response(builder.body(&b"{}"[..]).unwrap(), now);
                        }
                        Err(kind) => call.handle_transport_error(kind, now),
                    }
                }
                Action::WakeAt(at) => now = at,
                Action::Done(outcome) => return (outcome, sent),
            }
        }
    }

    #[test]
    fn retried_only_when_the_failure_proves_nothing_was_applied() {
        // Retried: the request was refused or never arrived.
        for first in [
            Ok((429, &[("retry-after", "1")][..])),
            Ok((503, &[("retry-after", "1")][..])),
            Err(TransportErrorKind::Connect),
        ] {
            let (outcome, sent) = run_call(&[first]);
            assert!(outcome.is_ok(), "{first:?}: {outcome:?}");
            assert_eq!(sent, 2, "{first:?}");
        }
        // Not retried: the service may have started preparing.
        for first in [
            Ok((500, &[][..])),
            Ok((502, &[][..])),
            Ok((503, &[][..])),
            Ok((504, &[][..])),
            Err(TransportErrorKind::Timeout),
            Err(TransportErrorKind::Reset),
        ] {
            let (outcome, sent) = run_call(&[first]);
            assert!(outcome.is_err(), "{first:?}: {outcome:?}");
            assert_eq!(sent, 1, "{first:?} was sent again");
        }
    }
}
