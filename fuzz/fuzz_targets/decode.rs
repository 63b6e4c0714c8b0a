//! Response decoding with any status, headers and body; the first input byte
//! picks the operation from `koophone_check::decode::DECODERS`, or all of them
//! at once (which must read an error body alike).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| koophone_check::run_fuzz_target("decode", data));
