//! The simulator core fed any sequence of requests.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| koophone_check::run_fuzz_target("simulator", data));
