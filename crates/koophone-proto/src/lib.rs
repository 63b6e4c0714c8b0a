//! Sans-IO protocol core for Huawei Cloud KooPhone ShowProgress and CloudDC
//! ShowInstanceStatus: builds requests, decodes responses, classifies retries
//! and runs the polling waiter. It opens no socket, reads no clock and never sleeps.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
// `ApiError` carries everything a caller needs (status, code, message, request
// id, retry hint) by value; boxing it would cost an allocation per error and
// change a public shape, for a memcpy of ~150 bytes on paths that are rare.
#![allow(clippy::result_large_err)]

pub mod auth;
mod decode;
pub mod endpoint;
pub mod error;
pub mod model;
pub mod operation;
pub mod waiter;

pub use endpoint::{Endpoint, RequestContext, Token};
pub use error::{
    ApiError, ErrorCode, InvalidInput, InvalidReason, Malformed, RetryAfter, ServiceError,
    Throttled, TransportErrorKind,
};
pub use model::{ErrorStatus, InstanceState, InstanceStatus, PrepareStatus, Progress};
pub use operation::{Operation, ShowInstanceStatus, ShowProgress};
pub use waiter::{
    Action, Check, Jitter, Observation, Observed, Once, PolicyError, Rng, SeededRng, Target,
    UntilReady, UntilState, WaitError, WaitPolicy, Waiter,
};
