//! Proptest strategies more than one suite draws from, so the core's and the
//! simulator's property tests explore the same space of methods and
//! transport failures.

use http::Method;
use koophone_proto::{
    BatchPrepareInstances, Operation, ShowInstanceStatus, ShowProgress, TransportErrorKind,
};
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

/// The path of one of the core's operations ([`Operation::PATH`]), each
/// `{parameter}` filled with one of `ids` or with short path text (percent
/// signs and dots included), as a route sees it.
pub fn operation_path(ids: &'static [&'static str]) -> impl Strategy<Value = String> {
    let templates = vec![
        ShowProgress::PATH,
        ShowInstanceStatus::PATH,
        BatchPrepareInstances::PATH,
    ];
    let parameter = prop_oneof![
        prop::sample::select(ids).prop_map(str::to_owned),
        "[a-zA-Z%0-9.]{0,6}",
    ];
    (
        prop::sample::select(templates),
        // More than any path has parameters.
        prop::collection::vec(parameter, 4),
    )
        .prop_map(|(template, parameters)| {
            let mut parameters = parameters.into_iter();
            let mut path = String::new();
            let mut rest = template;
            while let Some((before, after)) = rest.split_once('{') {
                path.push_str(before);
                path.push_str(&parameters.next().unwrap_or_default());
                rest = after.split_once('}').map_or("", |(_, after)| after);
            }
            path.push_str(rest);
            path
        })
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

#[cfg(test)]
mod tests {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    use super::*;

    #[test]
    fn operation_paths_fill_every_parameter() {
        let mut runner = TestRunner::deterministic();
        let strategy = operation_path(&["p", "i"]);
        let paths: Vec<String> = (0..500)
            .map(|_| strategy.new_tree(&mut runner).unwrap().current())
            .collect();
        for path in &paths {
            assert!(path.starts_with("/v1/"), "{path}");
            assert!(!path.contains(['{', '}']), "{path}");
        }
        for route in [
            "/v1/instances/prepare-progress",
            "/v1/instances/prepare",
            "/v1/p/instances/i/status",
        ] {
            assert!(
                paths.iter().any(|path| path == route),
                "{route} never drawn"
            );
        }
    }
}
