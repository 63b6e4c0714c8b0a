//! Error-body decoding with any status and headers (Retry-After, X-Request-Id,
//! Date, Location, ...): both operations must read the same error.
#![no_main]

use koophone_fuzz::{Input, ResponseInput};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: Input<ResponseInput>| {
    let (status, headers, body) = input.0.parts();
    let response = koophone_proto::fuzzing::response(status, &headers, body);
    let _ = koophone_proto::fuzzing::decode_error(&response);
});
