//! Writes the seed corpora: `seeds [DIR]` (default `fuzz/corpus`) fills
//! `DIR/<target>/` from the conformance vectors in `tests/vectors/` and from
//! requests played against the simulator's scenarios. Every seed is checked
//! to decode back, through `arbitrary`, into the input it was written from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use arbitrary::Arbitrary;
use koophone_check::decode::DECODERS;
use koophone_check::input::{
    BodyChoice, BuildInputs, Bytes, DecodeInput, Encode, EndpointInput, FieldsInput, IdChoice,
    Input, MethodChoice, PathChoice, PolicyInput, ResponseInput, SimInput, SimRequestInput,
    StepInput, TargetChoice, Text, TokenChoice, WaitInput,
};
use koophone_check::sim::SimRequest;
use koophone_sim::{Scenario, Simulator};
use serde_json::Value;

type Seeds = BTreeMap<&'static str, Vec<Vec<u8>>>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::env::args()
        .nth(1)
        .map_or_else(|| root.join("fuzz/corpus"), PathBuf::from);
    let mut seeds = Seeds::new();

    let vectors = root.join("tests/vectors");
    let responses = vector_responses(&vectors.join("responses.json"))?;
    let requests = vector_requests(&vectors.join("requests.json"))?;
    for request in &requests {
        add(&mut seeds, "build_request", request);
    }

    let mut scenarios: Vec<(Option<u8>, Scenario)> = (0..3u8)
        .map(|i| (Some(i), koophone_check::sim::scenario(i)))
        .collect();
    for entry in std::fs::read_dir(root.join("crates/koophone-sim/scenarios"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            scenarios.push((None, Scenario::from_file(&path)?));
        }
    }
    let mut sim_responses = Vec::new();
    for (index, scenario) in &scenarios {
        let played = play_scenario(scenario, *index, &mut seeds)?;
        sim_responses.extend(played);
    }

    let all_responses: Vec<ResponseInput> =
        responses.iter().chain(&sim_responses).cloned().collect();
    // Each response for every row of the decoder table, and for all at once.
    for response in &all_responses {
        for selector in 0..=DECODERS.len() {
            let input = DecodeInput {
                selector: u8::try_from(selector).unwrap_or(u8::MAX),
                response: response.clone(),
            };
            add(&mut seeds, "decode", &input);
        }
    }
    // Waits over the vectors' responses: each answers one poll.
    for (i, chunk) in responses.chunks(4).enumerate() {
        let steps = chunk
            .iter()
            .flat_map(|r| {
                [
                    StepInput::Poll,
                    StepInput::Respond(r.clone()),
                    StepInput::Advance(1000),
                ]
            })
            .collect();
        let target = [
            TargetChoice::Ready,
            TargetChoice::OnceProgress,
            TargetChoice::OnceStatus,
        ][i % 3];
        add(&mut seeds, "waiter", &wait(target, steps));
    }

    let mut total = 0;
    for (target, list) in &seeds {
        let dir = out.join(target);
        std::fs::create_dir_all(&dir)?;
        for bytes in list {
            std::fs::write(dir.join(format!("seed-{:016x}", fnv1a(bytes))), bytes)?;
        }
        println!("{target}: {} seeds", list.len());
        total += list.len();
    }
    println!("{total} seeds in {}", out.display());
    Ok(())
}

/// Encode `input` for `target`, after checking it decodes back to itself.
fn add<T>(seeds: &mut Seeds, target: &'static str, input: &T)
where
    T: Encode + Clone + PartialEq + std::fmt::Debug + for<'a> Arbitrary<'a>,
{
    let bytes = Input(input.clone()).to_bytes();
    let back: Option<T> = koophone_check::input::decode(&bytes);
    assert_eq!(
        back.as_ref(),
        Some(input),
        "seed for {target} does not decode back"
    );
    let list = seeds.entry(target).or_default();
    if !list.contains(&bytes) {
        list.push(bytes);
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn read_cases(path: &Path) -> Result<(Value, Vec<Value>), Box<dyn std::error::Error>> {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let cases = doc["cases"].as_array().cloned().unwrap_or_default();
    Ok((doc, cases))
}

fn headers_of(case: &Value) -> Vec<(String, Vec<u8>)> {
    case["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|pair| {
            let name = pair.get(0)?.as_str()?;
            let value = pair.get(1)?.as_str()?;
            Some((name.to_owned(), value.as_bytes().to_vec()))
        })
        .collect()
}

/// `responses.json`: status, headers and `body` (exact) or `body_json` (compact).
fn vector_responses(path: &Path) -> Result<Vec<ResponseInput>, Box<dyn std::error::Error>> {
    let (_, cases) = read_cases(path)?;
    let mut out = Vec::new();
    for case in cases {
        let status = case["status"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or(200);
        let body = match (&case["body"], case.get("body_json")) {
            (Value::String(body), _) => body.clone().into_bytes(),
            (_, Some(json)) => json.to_string().into_bytes(),
            _ => Vec::new(),
        };
        out.push(ResponseInput::of(status, &headers_of(&case), &body));
    }
    Ok(out)
}

/// `requests.json`: the defaults with each case's overrides and params.
fn vector_requests(path: &Path) -> Result<Vec<BuildInputs>, Box<dyn std::error::Error>> {
    let (doc, cases) = read_cases(path)?;
    let defaults = &doc["defaults"];
    let text = |case: &Value, key: &str| {
        case[key]
            .as_str()
            .or_else(|| defaults[key].as_str())
            .map(Text::new)
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for case in cases {
        let param = |key: &str| Text::new(case["params"][key].as_str().unwrap_or_default());
        let fields = match case["operation"].as_str() {
            Some("ShowInstanceStatus") => {
                FieldsInput::Status(param("project_id"), param("instance_id"))
            }
            Some("BatchPrepareInstances") => {
                let ids = case["params"]["instance_ids"].as_array();
                let ids = ids
                    .into_iter()
                    .flatten()
                    .map(|id| Text::new(id.as_str().unwrap_or_default()));
                FieldsInput::Prepare(param("user_id"), ids.collect())
            }
            _ => FieldsInput::Progress(param("user_id"), param("instance_id")),
        };
        out.push(BuildInputs {
            endpoint: EndpointInput::Raw(text(&case, "endpoint")),
            allow_http: case["allow_http"].as_bool().unwrap_or(false),
            token: text(&case, "token"),
            user_agent: Some(text(&case, "user_agent")),
            fields,
        });
    }
    Ok(out)
}

fn request(
    method: MethodChoice,
    path: PathChoice,
    body: BodyChoice,
    after_ms: u16,
) -> SimRequestInput {
    SimRequestInput {
        method,
        path,
        token: TokenChoice::Valid,
        headers: Vec::new(),
        body,
        after_ms,
    }
}

fn wait(target: TargetChoice, steps: Vec<StepInput>) -> WaitInput {
    WaitInput {
        target,
        seed: 7,
        policy: PolicyInput {
            min_ms: 999,
            max_factor: 14,
            growth: 32,
            jitter: 2,
            wait_factor: 599,
            max_errors: 5,
        },
        steps,
    }
}

/// Twelve polls of one instance, 700 ms apart (the first at once).
fn polls_700ms_apart(
    method: &MethodChoice,
    path: &PathChoice,
    body: &BodyChoice,
) -> Vec<SimRequestInput> {
    (0..12)
        .map(|i| {
            let after_ms = if i == 0 { 0 } else { 700 };
            request(method.clone(), path.clone(), body.clone(), after_ms)
        })
        .collect()
}

/// Poll every instance of `scenario` every 700 ms for 8 s, plus requests the
/// service refuses. Adds simulator seeds (for the fuzzing scenarios, which
/// the simulator target can pick by `index`) and waiter seeds whose answers
/// are the simulator's, and returns every response seen.
fn play_scenario(
    scenario: &Scenario,
    index: Option<u8>,
    seeds: &mut Seeds,
) -> Result<Vec<ResponseInput>, Box<dyn std::error::Error>> {
    let mut timelines: Vec<(TargetChoice, Vec<SimRequestInput>)> = Vec::new();
    for user in &scenario.koophone.users {
        for instance in &user.instances {
            let body = BodyChoice::Ids(
                IdChoice::of(&user.user_id),
                IdChoice::of(&instance.instance_id),
            );
            let polls = polls_700ms_apart(&MethodChoice::Post, &PathChoice::Progress, &body);
            timelines.push((TargetChoice::Ready, polls));
        }
    }
    for project in &scenario.clouddc.projects {
        for instance in &project.instances {
            let path = PathChoice::Status(
                IdChoice::of(&project.project_id),
                IdChoice::of(&instance.instance_id),
            );
            let polls = polls_700ms_apart(&MethodChoice::Get, &path, &BodyChoice::Empty);
            // 1 is "running" in koophone_check::input::STATES.
            timelines.push((TargetChoice::State(1), polls));
        }
    }
    let refused = vec![
        SimRequestInput {
            token: TokenChoice::Missing,
            ..request(
                MethodChoice::Post,
                PathChoice::Progress,
                BodyChoice::Empty,
                0,
            )
        },
        SimRequestInput {
            token: TokenChoice::Any(Bytes::new(b"not-a-token")),
            ..request(
                MethodChoice::Get,
                PathChoice::Status(IdChoice::Known(6), IdChoice::Known(7)),
                BodyChoice::Empty,
                10,
            )
        },
        SimRequestInput {
            token: TokenChoice::Expiring,
            ..request(
                MethodChoice::Get,
                PathChoice::Status(IdChoice::Known(6), IdChoice::Known(7)),
                BodyChoice::Empty,
                6000,
            )
        },
        request(
            MethodChoice::Get,
            PathChoice::Progress,
            BodyChoice::Empty,
            10,
        ),
        request(
            MethodChoice::Delete,
            PathChoice::Status(IdChoice::Known(6), IdChoice::Known(7)),
            BodyChoice::Empty,
            10,
        ),
        request(
            MethodChoice::Get,
            PathChoice::Raw(Text::new("/v1/instances")),
            BodyChoice::Empty,
            10,
        ),
        request(
            MethodChoice::Post,
            PathChoice::Progress,
            BodyChoice::Raw(Bytes::new(b"{\"user_id\":1}")),
            10,
        ),
        request(
            MethodChoice::Post,
            PathChoice::Progress,
            BodyChoice::Ids(IdChoice::Known(0), IdChoice::Any(Text::new("nope"))),
            10,
        ),
        request(
            MethodChoice::Post,
            PathChoice::Progress,
            BodyChoice::Ids(IdChoice::Known(1), IdChoice::Known(2)),
            10,
        ),
        request(
            MethodChoice::Post,
            PathChoice::Progress,
            BodyChoice::Ids(
                IdChoice::Known(0),
                IdChoice::Any(Text::new(&"x".repeat(33))),
            ),
            10,
        ),
    ];
    timelines.push((TargetChoice::OnceProgress, refused));

    let mut responses = Vec::new();
    for (target, requests) in timelines {
        if let Some(index) = index {
            let input = SimInput {
                scenario: index,
                seed: 1,
                requests: requests.clone(),
            };
            add(seeds, "simulator", &input);
        }
        let mut sim = Simulator::new(scenario.clone(), 1)?;
        let mut at = Duration::ZERO;
        let mut steps = Vec::new();
        for input in &requests {
            let SimRequest {
                method,
                uri,
                headers,
                body,
                after_ms,
            } = input.request();
            at += Duration::from_millis(after_ms.into());
            let mut builder = http::Request::builder()
                .method(method.as_str())
                .uri(uri.as_str());
            for (name, value) in &headers {
                builder = builder.header(name.as_str(), value.as_slice());
            }
            let answer = sim.handle(&builder.body(body)?, at);
            let response = &answer.response;
            let headers: Vec<(String, Vec<u8>)> = response
                .headers()
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
                .collect();
            let response = ResponseInput::of(response.status().as_u16(), &headers, response.body());
            if after_ms > 0 {
                steps.push(StepInput::Advance(
                    u16::try_from(after_ms).unwrap_or(u16::MAX),
                ));
            }
            steps.push(StepInput::Poll);
            steps.push(StepInput::Respond(response.clone()));
            responses.push(response);
        }
        add(seeds, "waiter", &wait(target, steps));
    }
    Ok(responses)
}
