//! The simulator core fed any sequence of requests.
#![no_main]

use koophone_fuzz::{Input, SimInput};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: Input<SimInput>| input.0.check());
