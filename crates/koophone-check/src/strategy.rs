//! Proptest strategies more than one suite draws from, so the core's and the
//! simulator's property tests explore the same space of methods and
//! transport failures.

use http::Method;
use koophone_proto::TransportErrorKind;
use proptest::prelude::*;

use crate::wait;

/// Every standard method, then any token `http` accepts as an extension
/// method (either case), which no route expects.
pub fn method() -> impl Strategy<Value = Method> {
    let standard = prop::sample::select(vec![
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
    ]);
    let extension = "[a-zA-Z]{1,10}"
        .prop_map(|m| Method::from_bytes(m.as_bytes()).expect("ASCII letters form a method token"));
    prop_oneof![standard, extension]
}

/// The member names of every body the APIs answer with (success envelopes,
/// every error-body dialect, instance states), plus one no API uses.
pub const RESPONSE_MEMBERS: &[&str] = &[
    "data",
    "status",
    "waitingCount",
    "error_code",
    "error_msg",
    "code",
    "message",
    "errorCode",
    "errorMsg",
    "error",
    "request_id",
    "error_type",
    "state",
    "operation_state",
    "status_list",
    "instance_id",
    "extra",
];

/// A member name from [`RESPONSE_MEMBERS`], so generated JSON reaches the
/// decoders' typed paths and not only the "unknown member" one.
pub fn response_member() -> impl Strategy<Value = &'static str> + Clone {
    prop::sample::select(RESPONSE_MEMBERS)
}

/// Any transport failure, drawn the way a fuzz input names one
/// ([`wait::transport_kind`]), so both explore the same kinds.
pub fn transport_kind() -> impl Strategy<Value = TransportErrorKind> {
    (0u8..6).prop_map(wait::transport_kind)
}
