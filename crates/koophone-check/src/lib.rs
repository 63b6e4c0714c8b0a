//! Test oracles of the koophone crates, kept out of the published ones.
//!
//! Each oracle takes plain values, panics with a message when a promise is
//! broken, and returns what it checked. The fuzz targets in `fuzz/`, the
//! stable property tests and the corpus replay (`tests/corpus.rs`) call the
//! same functions, so `cargo test` on stable checks the promises the fuzzer
//! does, on every input the fuzzer ever kept.
//!
//! - [`decode`]: response decoding, for every operation in
//!   [`decode::DECODERS`];
//! - [`build`]: request building from any text;
//! - [`wait`]: the waiter, played by a scripted driver on a virtual clock;
//! - [`sim`]: the simulator's core fed any sequence of requests;
//! - [`strategy`]: proptest strategies the property suites share;
//! - [`signed`]: the access keys a simulator's request log was signed with;
//! - [`echo`]: a hostile server that echoes credentials back, for every
//!   driver's redaction tests;
//! - [`input`]: the one fuzz-input format (read with `arbitrary`) and its
//!   encoder, which the seed generator (`src/bin/seeds.rs`) writes with;
//! - [`FUZZ_TARGETS`]: each fuzz target's whole body, by name.
//!
//! Only the published crates' public API is used: an oracle that needs a
//! limit of the core reads the core's exported constant.
#![forbid(unsafe_code)]
// Every error value an oracle handles is the core's own `ApiError`.
#![allow(clippy::result_large_err)]

pub mod build;
pub mod decode;
pub mod echo;
pub mod input;
pub mod signed;
pub mod sim;
pub mod strategy;
pub mod wait;

use input::{BuildInputs, DecodeInput, SimInput, WaitInput};

/// A fuzz target: its name (the `fuzz/fuzz_targets/<name>.rs` file and the
/// `fuzz/corpus/<name>/` directory) and its whole body.
#[derive(Debug, Clone, Copy)]
pub struct FuzzTarget {
    /// The target's name.
    pub name: &'static str,
    /// Reads one input from raw bytes and runs its oracle; bytes that do not
    /// read as an input are skipped, as libFuzzer's `fuzz_target!` skips them.
    pub run: fn(&[u8]),
}

/// One [`FuzzTarget`] per `name => input type`: the target reads the type
/// from the fuzzer's bytes and runs its `check`.
macro_rules! fuzz_targets {
    ($($name:literal => $input:ty),+ $(,)?) => {
        &[$(FuzzTarget {
            name: $name,
            run: |data| run_input::<$input>(data, <$input>::check),
        }),+]
    };
}

/// Every fuzz target. `fuzz/fuzz_targets/<name>.rs` calls its `run`, and the
/// corpus replay test runs every committed corpus file through it.
pub const FUZZ_TARGETS: &[FuzzTarget] = fuzz_targets![
    "decode" => DecodeInput,
    "build_request" => BuildInputs,
    "waiter" => WaitInput,
    "simulator" => SimInput,
];

/// The fuzz target called `name`.
pub fn fuzz_target(name: &str) -> Option<&'static FuzzTarget> {
    FUZZ_TARGETS.iter().find(|target| target.name == name)
}

/// Run the fuzz target called `name` on `data`; the `fuzz/` targets are this
/// one line each.
///
/// # Panics
///
/// When no target has that name, or the target's oracle finds a broken promise.
pub fn run_fuzz_target(name: &str, data: &[u8]) {
    let target = fuzz_target(name).unwrap_or_else(|| panic!("no fuzz target {name:?}"));
    (target.run)(data);
}

fn run_input<T: for<'a> arbitrary::Arbitrary<'a>>(data: &[u8], check: fn(&T)) {
    if let Some(input) = input::decode::<T>(data) {
        check(&input);
    }
}
