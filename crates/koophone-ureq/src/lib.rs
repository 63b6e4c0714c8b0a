//! Blocking driver for the koophone protocol core on [ureq] 3: a [`Client`]
//! for KooPhone ShowProgress and BatchPrepareInstances and CloudDC
//! ShowInstanceStatus with retries,
//! waiters and safe defaults. It does the I/O and the sleeping; every
//! decision (decoding, what to retry, backoff, `Retry-After`, deadlines) is
//! made by `koophone-proto`, so other drivers behave the same. It is not
//! async: use it from threads.
//!
//! Safe defaults: 30 s per request and 10 s to connect; bodies read with a
//! 1 MiB limit; redirects never followed (the token is a custom header that
//! ureq would forward to any host a `Location` names: the 3xx is decoded as an
//! error instead); TLS through rustls with the webpki roots (or the platform
//! verifier, feature `platform-verifier`); proxies from the standard
//! environment variables unless [`ClientBuilder::proxy_from_env`] turns that
//! off. No `Debug` or `Display` of a client, request or error contains the token.
//!
//! Redaction: a server that echoes a credential back (a gateway or proxy
//! copying request headers into its error page) cannot get it into an error
//! or output either. The core scrubs every text of an answer (messages,
//! codes, request ids, a status's error fields, snippets of malformed bodies,
//! redirect locations) of every credential the client holds (token, secret
//! key, security token, and for an IAM user the password and the issued
//! token) to `[redacted]` before storing it; see `koophone_proto::Redactor`.
//!
//! Wait for a cloud phone to be ready, here against the simulator
//! (`koophone sim` serves it on `127.0.0.1:8080`):
//!
//! ```
//! use koophone_ureq::{Client, ShowProgress, Token, WaitPolicy};
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let endpoint = "http://127.0.0.1:8080";
//! #   let sim = koophone_sim::Sim::builder().start()?;
//! #   let endpoint = sim.base_url();
//!     let client = Client::builder()
//!         .endpoint_url(endpoint)
//!         .token(Token::new("sim-token")?)
//!         .build()?;
//!     let op = ShowProgress::new("1008600000104285462", "iRJEVP9")?;
//!     let ready = client.wait_until_ready(op, WaitPolicy::default(), |seen| {
//!         eprintln!("poll {}: {:?}", seen.attempt, seen.event);
//!     })?;
//!     println!("{} after {} polls in {:?}", ready.output.status, ready.polls, ready.elapsed);
//! #   assert_eq!(ready.output.status, koophone_ureq::PrepareStatus::Normal);
//!     Ok(())
//! }
//! ```
//!
//! Prepare cloud phones first when they need it
//! ([`Client::prepare_instances`], or [`Client::prepare_all`] for any number
//! of ids in calls of at most 100), then wait for each: the simulator's
//! `iPREP001` starts preparing only when asked.
//!
//! ```
//! use koophone_ureq::{BatchPrepareInstances, Client, PrepareStatus, Token, WaitPolicy};
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//! #   let sim = koophone_sim::Sim::builder().start()?;
//!     let client = Client::builder()
//! #       .endpoint_url(sim.base_url())
//!         .token(Token::new("sim-token")?)
//!         .build()?;
//!     let op = BatchPrepareInstances::new("1008600000104285462", ["iPREP001"])?;
//!     let prepared = client.prepare_instances(&op)?;
//!     println!("prepared: {prepared}");
//!     for progress in op.progress_operations() {
//!         let ready = client.wait_until_ready(progress, WaitPolicy::default(), |_| {})?;
//!         assert_eq!(ready.output.status, PrepareStatus::Normal);
//!     }
//!     Ok(())
//! }
//! ```
//!
//! Credentials ([`Credentials`]): a fixed token or a [`TokenSource`] asked
//! before every attempt (sent as `X-Auth-Token`); AK/SK ([`AkSkCredentials`],
//! [`ClientBuilder::aksk`]), each attempt signed with `SDK-HMAC-SHA256` as it
//! is sent; or an IAM user's password ([`IamPassword`],
//! [`ClientBuilder::iam_password`]): a project-scoped token fetched on first
//! use, shared by the client's threads, refreshed by one of them before it
//! expires, and replaced once when the service answers 401; or temporary
//! AK/SK credentials of an ECS/BMS instance's agency ([`MetadataCredentials`]),
//! refreshed the same way. [`CredentialChain`] finds credentials the way the
//! official SDKs do when none are given: `HUAWEICLOUD_SDK_AK`/`SK`, then the
//! profile file (`HUAWEICLOUD_SDK_CREDENTIALS_FILE` or
//! `~/.huaweicloud/credentials`, section `[basic]`), then the metadata service
//! (`http://169.254.169.254`, or [`ENV_METADATA_ENDPOINT`]
//! `KOOPHONE_METADATA_ENDPOINT`; 1 s to connect, 3 s per call).
//!
//! Errors say what to do about them: [`Error::kind`] names the case
//! (`service`, `throttled`, `transport`, `timeout`, ...), and
//! [`Error::http_status`], [`Error::error_code`], [`Error::message`] and
//! [`Error::request_id`] carry what the service said.
//!
//! With the `tracing` feature, each call, wait and attempt runs in a span
//! carrying the operation name, attempt number and HTTP status (never the token).
//!
//! ureq-proto dumps each request's raw bytes, token included, to the `log`
//! crate at TRACE level. The default feature `no-trace-wire-dump` caps `log`
//! at DEBUG for the whole program so that no logger setting can print a
//! token; a program that needs TRACE logs may turn default features off and
//! must then keep TRACE off for `ureq_proto`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// `From<Inner> for Outer` for enums whose variants just wrap a value, as in
/// `variant_from!(Error { InvalidInput(InvalidInput), Transport(TransportError) })`.
macro_rules! variant_from {
    ($outer:ident { $($variant:ident($inner:ty)),+ $(,)? }) => {
        $(
            impl From<$inner> for $outer {
                fn from(inner: $inner) -> Self {
                    $outer::$variant(inner)
                }
            }
        )+
    };
}

mod cancel;
mod chain;
mod client;
mod credentials;
mod error;
mod fleet;
mod iam;
mod metadata;
mod prepare;
mod single_flight;
mod transport;
mod wait;

pub use cancel::CancelToken;
pub use chain::{
    ChainError, CredentialChain, CredentialOrigin, DEFAULT_CREDENTIALS_FILE, ENV_AK,
    ENV_CREDENTIALS_FILE, ENV_PROJECT_ID, ENV_SECURITY_TOKEN, ENV_SK, EnvReader, FoundCredentials,
    LookedAt,
};
pub use client::{Client, ClientBuilder, RetryPolicy};
pub use credentials::{Credentials, TokenSource};
pub use error::{ApiErrorRef, CredentialsError, Error, IamError, MetadataFetchError};
pub use fleet::FleetWaited;
pub use iam::IamPassword;
pub use koophone_proto::fleet::{FleetPolicy, FleetPolicyError, FleetSummary};
pub use metadata::{
    ENV_METADATA_ENDPOINT, METADATA_CALL_TIMEOUT, METADATA_CONNECT_TIMEOUT, MetadataCredentials,
};
pub use prepare::PreparedBatch;
pub use transport::TransportError;
pub use wait::{FailedState, Snapshot, WaitDeadline, Waited};

// The core's types a caller of this crate needs, so one dependency suffices.
pub use koophone_proto::auth::{
    AkSkCredentials, IssueProjectToken, IssuedToken, Password, ProjectScope, RefreshPolicy,
    SecretKey, SecurityToken,
};
pub use koophone_proto::{
    ApiError, BatchPrepareInstances, Endpoint, ErrorCode, ErrorStatus, InstanceState,
    InstanceStatus, InvalidInput, Jitter, MAX_PREPARE_BATCH, Malformed, Observation, Observed,
    Operation, PhoneStatus, PrepareStatus, PreparedInstance, PreparedInstances, Progress,
    RequestContext, RetryAfter, ServiceError, ShowInstanceStatus, ShowProgress, Target, Throttled,
    Token, TransportErrorKind, UntilReady, UntilState, WaitPolicy, prepare_batches,
};

/// Endpoints by region (`Endpoint::for_region`), as the official SDKs find them.
pub use koophone_proto::Service;

/// The README's example, compiled as a doctest so the crate's page stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
