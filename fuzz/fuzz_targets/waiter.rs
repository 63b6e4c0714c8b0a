//! The waiter fed any sequence of polls, responses, transport errors and
//! clock steps, under any valid policy.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| koophone_check::run_fuzz_target("waiter", data));
