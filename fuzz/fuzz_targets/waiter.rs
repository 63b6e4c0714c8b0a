//! The waiter fed any sequence of polls, responses, transport errors and
//! clock steps, under any valid policy.
#![no_main]

use koophone_fuzz::{Input, WaitInput};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: Input<WaitInput>| input.0.check());
