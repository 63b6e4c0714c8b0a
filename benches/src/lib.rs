//! What koophone's cross-crate benchmarks share: a fixed, seeded set of
//! simulated cloud-phone preparations, a virtual-clock driver that runs the
//! `koophone-proto` waiter against the `koophone-sim` core, and the order
//! statistics the reports print, and the bench binaries' command line.
//!
//! It is not part of the product (`publish = false`); the bench binaries under
//! `benches/` print the figures that `BENCHMARKS.md` quotes.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod args;
pub mod preparations;
pub mod summary;
