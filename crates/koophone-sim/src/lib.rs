//! A simulator of Huawei Cloud APIs, KooPhone ShowProgress and
//! BatchPrepareInstances and CloudDC ShowInstanceStatus, faithful to the
//! project's `API.md`: what a test reaches for instead of hand-written mocks
//! or the real cloud. A prepare call starts the preparation ShowProgress then
//! reports, for the instances a scenario marks as needing one
//! ([`PrepareSpec`]).
//!
//! The core ([`Simulator`]) is sans-IO: [`Simulator::handle`] takes a
//! request and the time since start and returns a response, over an
//! in-memory world built from a [`Scenario`] (tokens, users, projects,
//! instances whose states change over time, seeded faults). Nothing in it
//! opens a socket or reads a clock, so tests drive it in process under a
//! [`VirtualClock`]. The server adapter ([`Sim`]) puts the same core on a
//! real loopback HTTP/1.1 server.
//!
//! It is not a client: it never decodes responses, and it does not share
//! code with `koophone-proto`, so it can serve as the independent reference
//! that client is tested against.
//!
//! ```
//! use std::time::Duration;
//! use koophone_sim::{Scenario, Simulator};
//!
//! let mut sim = Simulator::new(Scenario::default(), 7)?;
//! let request = http::Request::post("/v1/instances/prepare-progress")
//!     .header("x-auth-token", "sim-token")
//!     .body(br#"{"user_id":"1008600000104285462","instance_id":"iRJEVP9"}"#.as_slice())?;
//! let answer = sim.handle(&request, Duration::from_secs(6));
//! assert_eq!(answer.response.status(), 200);
//! assert_eq!(
//!     answer.response.body().as_slice(),
//!     br#"{"data":{"status":0,"waitingCount":0},"error_code":"0","error_msg":"OK"}"#
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod fault;
mod generate;
mod iam;
pub mod memory;
mod metadata;
mod model;
mod rate_limit;
pub mod scenario;
mod server;
mod shared_simulator;
pub mod signature;
mod simulator;
mod virtual_clock;

pub use fault::Route;
pub use iam::{IAM_TOKENS_PATH, SUBJECT_TOKEN_HEADER};
pub use metadata::{METADATA_TOKEN_PATH, NO_AGENCY_MESSAGE, SECURITY_KEY_PATH};
pub use scenario::{
    AccessKeySpec, CloudDcInstance, CloudDcPhase, CloudDcProject, CloudDcSpec,
    DEFAULT_TOKEN_LIFETIME_MS, DEFAULT_WALL_CLOCK_ORIGIN_UNIX_SECS, Fault, FaultRoute, FaultRule,
    GeneratedInstances, IamDomain, IamProject, IamSpec, IamUser, InstanceError, KooPhoneInstance,
    KooPhonePhase, KooPhoneSpec, KooPhoneStatus, KooPhoneUser, MetadataSpec, Outage, PrepareSpec,
    RateLimit, Scenario, ScenarioError, TokenSpec, default_wall_clock_origin,
};
pub use server::{Sim, SimBuilder, SimError, SimHandle};
pub use shared_simulator::SharedSimulator;
pub use simulator::{
    AUTH_TOKEN_HEADER, BATCH_PREPARE_PATH, ConnectionFault, LOGGED_BODY_MAX, LoggedRequest,
    REQUEST_ID_HEADER, RequestCounts, SHOW_PROGRESS_PATH, SimResponse, Simulator,
};
pub use virtual_clock::VirtualClock;
