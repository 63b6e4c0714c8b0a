//! The request-building oracle on BatchPrepareInstances: it agrees with what
//! the core builds and refuses, and its fuzz input reads back as written.

use http::Request;
use koophone_check::build::{BuildInput, Fields, build_request};
use koophone_check::input::{BuildInputs, Encode, EndpointInput, FieldsInput, Text, decode};
use koophone_proto::InvalidInput;
use serde_json::{Value, json};

const USER: &str = "1008600000104285462";

fn build(instance_ids: &[&str]) -> Result<Request<Vec<u8>>, InvalidInput> {
    build_request(BuildInput {
        endpoint: "https://gw.example.com/koophone/",
        allow_http: false,
        token: "vector-token-not-a-secret",
        user_agent: None,
        fields: Fields::Prepare {
            user_id: USER,
            instance_ids,
        },
    })
}

#[test]
fn the_oracle_passes_what_the_core_builds_and_refuses() {
    let request = build(&["b", "a", "b", "c", "a"]).expect("valid ids");
    assert_eq!(request.uri().path(), "/koophone/v1/instances/prepare");
    let body: Value = serde_json::from_slice(request.body()).unwrap();
    assert_eq!(
        body,
        json!({ "user_id": USER, "instance_ids": ["b", "a", "c"] })
    );

    let ids: Vec<String> = (0..101).map(|i| format!("i{i:03}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    assert!(build(&ids[..100]).is_ok());
    let too_long = "x".repeat(33);
    for (ids, field) in [
        (&ids[..], "instance_ids"),
        (&[][..], "instance_ids"),
        (&["iRJEVP9", too_long.as_str()][..], "instance_id"),
        (&["i\nX-Injected: 1"][..], "instance_id"),
    ] {
        assert_eq!(build(ids).unwrap_err().field, field, "{ids:?}");
    }
}

#[test]
fn a_prepare_fuzz_input_reads_back_and_passes_the_oracle() {
    let input = BuildInputs {
        endpoint: EndpointInput::Raw(Text::new("https://koophone.example.com")),
        allow_http: false,
        token: Text::new("vector-token-not-a-secret"),
        user_agent: None,
        fields: FieldsInput::Prepare(
            Text::new(USER),
            vec![Text::new("iRJEVP9"), Text::new("iQWERT1")],
        ),
    };
    let mut bytes = Vec::new();
    input.encode(&mut bytes);
    assert_eq!(decode::<BuildInputs>(&bytes), Some(input));
    koophone_check::run_fuzz_target("build_request", &bytes);
}
