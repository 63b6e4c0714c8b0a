//! Cross-crate test support.
//!
//! [`driver_cases`]: the shared table of scenarios and expected outcomes in
//! `tests/scenarios/drivers.json` that `tests/drivers.rs` runs through every
//! driver, and the in-memory driver loop over koophone-sim's
//! [`MemoryTransport`](koophone_sim::memory::MemoryTransport).
//!
//! [`tampered`]: a request no correct client sends, for the end-to-end suites.

pub mod driver_cases;
pub mod tampered;

/// The workspace README's library examples, compiled as doctests (this
/// crate is not published, so it may read a file outside its directory).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct WorkspaceReadmeDoctests;
