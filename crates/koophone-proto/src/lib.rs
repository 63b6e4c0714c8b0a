//! Sans-IO protocol core for Huawei Cloud KooPhone ShowProgress and
//! BatchPrepareInstances and CloudDC ShowInstanceStatus: validates inputs, builds `http::Request`s, decodes
//! `http::Response`s into typed outputs or typed errors, classifies retries
//! and runs the single-call and polling machines. It is not an HTTP client: it opens no socket,
//! reads no clock and never sleeps, so a driver (blocking, async, a test with
//! a virtual clock, a fuzzer) does the I/O and gets identical behaviour.
//! Decoding is total: every status and every byte string maps to one outcome.
//! It is deterministic: jitter comes from a seed, never from a clock or the OS.
//!
//! Text from the network (messages, request ids, error fields of outputs,
//! snippets of malformed bodies) is scrubbed of every credential the client
//! holds before it is stored in an error or output value: the machines
//! ([`Call`], [`Waiter`]) decode with the [`Redactor`] of the
//! [`RequestContext`] their request was built from, so a server that echoes
//! the token back cannot get it printed.
//!
//! ```
//! use koophone_proto::http::Response;
//! use koophone_proto::{Endpoint, Operation, PrepareStatus, RequestContext, ShowProgress, Token};
//!
//! let ctx = RequestContext::new(
//!     Endpoint::parse("https://koophone.example.com")?,
//!     Token::new("MIIExample-iam-token")?,
//! );
//! let op = ShowProgress::new("1008600000104285462", "iRJEVP9")?;
//!
//! let request = op.build_request(&ctx)?;
//! assert_eq!(request.method(), "POST");
//! assert_eq!(request.uri(), "https://koophone.example.com/v1/instances/prepare-progress");
//! assert_eq!(request.body(), br#"{"user_id":"1008600000104285462","instance_id":"iRJEVP9"}"#);
//!
//! // A driver sends the request and hands back the answer; here, the documented one.
//! let body = br#"{"data":{"status":0,"waitingCount":0},"error_code":"0","error_msg":"OK"}"#;
//! let response = Response::builder().status(200).body(&body[..])?;
//! let progress = op.decode_response(response)?;
//! assert_eq!(progress.status, PrepareStatus::Normal);
//! assert_eq!(progress.waiting_count, Some(0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

//!
//! The same crate drives any HTTP stack; the section below is the whole
//! contract a driver follows.
#![doc = include_str!("../BYOT.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// `ApiError` carries everything a caller needs (status, code, message, request
// id, retry hint) by value; boxing it would cost an allocation per error and
// change a public shape, for a memcpy of ~150 bytes on paths that are rare.
#![allow(clippy::result_large_err)]

pub mod auth;
mod call;
pub mod context;
mod decode;
pub mod endpoint;
pub mod error;
pub mod fleet;
mod machine;
pub mod operation;
mod redact;
pub mod region;
mod target;
pub mod waiter;

/// The `http` crate this one builds requests and reads responses with, so
/// drivers use the same version.
pub use http;

pub use call::{Call, CallError};
pub use context::{Auth, RequestContext};
pub use decode::{FIELD_MAX_BYTES, REASON_MAX_BYTES, SNIPPET_MAX_BYTES, SuccessError};
pub use endpoint::{DEFAULT_USER_AGENT, Endpoint, Token, X_AUTH_TOKEN};
pub use error::{
    ApiError, ErrorCode, InvalidInput, InvalidReason, Malformed, RetryAfter, ServiceError,
    Throttled, TransportErrorKind,
};
pub use machine::Machine;
pub use operation::Operation;
pub use operation::batch_prepare_instances::{
    BatchPrepareInstances, MAX_PREPARE_BATCH, MAX_PREPARE_ID_CHARS, PhoneStatus, PreparedInstance,
    PreparedInstances, prepare_batches,
};
pub use operation::show_instance_status::{
    ErrorStatus, InstanceState, InstanceStatus, ShowInstanceStatus, UntilState,
};
pub use operation::show_progress::{
    MAX_PROGRESS_ID_CHARS, PrepareStatus, Progress, ShowProgress, UntilReady,
};
pub use redact::{REDACTED, Redact, Redactor};
pub use region::Service;
pub use waiter::{
    Action, Check, Jitter, Observation, Observed, Once, PolicyError, Retry, Rng, SeededRng, Target,
    WaitAction, WaitError, WaitPolicy, Waiter,
};

/// The README's example, compiled and run as a doctest so the crate's page stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
