//! Request building from any endpoint, token, user agent and field strings.
#![no_main]

use koophone_fuzz::{BuildInputs, Input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: Input<BuildInputs>| input.0.check());
