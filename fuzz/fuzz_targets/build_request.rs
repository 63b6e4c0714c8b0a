//! Request building from any endpoint, token, user agent and field strings.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| koophone_check::run_fuzz_target("build_request", data));
