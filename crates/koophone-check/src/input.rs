//! The one fuzz-input format: structured values read from raw bytes with
//! `arbitrary`, each turned into the plain arguments of an oracle (the same
//! functions the stable property tests call).
//!
//! Every input also has an [`Encode`] implementation that writes the exact
//! bytes `arbitrary` reads it back from, so the seed generator
//! (`src/bin/seeds.rs`) can turn test vectors and simulator scenarios into a
//! corpus. Text and byte strings carry their length in front (not at the end
//! as `arbitrary`'s own `String` does) to keep that encoding simple.

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use koophone_proto::{InstanceState, Jitter, WaitPolicy};

use crate::build::{BuildInput, Fields};
use crate::sim::SimRequest;
use crate::wait::{Reply, Script, Step, WaitTarget, transport_kind};

/// Writes the bytes `arbitrary` decodes into the same value.
pub trait Encode {
    /// Append this value's encoding.
    fn encode(&self, out: &mut Vec<u8>);
}

/// The whole input of a target, read with `arbitrary` only (never
/// `arbitrary_take_rest`), so each value has the one encoding [`Encode`] writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Input<T>(pub T);

impl<'a, T: Arbitrary<'a>> Arbitrary<'a> for Input<T> {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        T::arbitrary(u).map(Input)
    }

    fn arbitrary_take_rest(mut u: Unstructured<'a>) -> arbitrary::Result<Self> {
        Self::arbitrary(&mut u)
    }
}

impl<T: Encode> Input<T> {
    /// The bytes of a corpus file holding this input.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.0.encode(&mut out);
        out
    }
}

/// Text of at most 255 bytes: a length byte, then the bytes (invalid UTF-8
/// becomes U+FFFD).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text(pub String);

impl Text {
    /// The text, cut to 255 bytes on a character boundary.
    pub fn new(text: &str) -> Text {
        let mut end = text.len().min(255);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Text(text[..end].to_owned())
    }
}

impl<'a> Arbitrary<'a> for Text {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let len = usize::from(u8::arbitrary(u)?).min(u.len());
        Ok(Text(String::from_utf8_lossy(u.bytes(len)?).into_owned()))
    }
}

impl Encode for Text {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::try_from(self.0.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&self.0.as_bytes()[..self.0.len().min(255)]);
    }
}

/// Bytes, at most 65535: a little-endian `u16` length, then the bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    /// The bytes, cut to 65535.
    pub fn new(bytes: &[u8]) -> Bytes {
        Bytes(bytes[..bytes.len().min(usize::from(u16::MAX))].to_vec())
    }
}

impl<'a> Arbitrary<'a> for Bytes {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let len = usize::from(u16::arbitrary(u)?).min(u.len());
        Ok(Bytes(u.bytes(len)?.to_vec()))
    }
}

impl Encode for Bytes {
    fn encode(&self, out: &mut Vec<u8>) {
        let len = u16::try_from(self.0.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&self.0[..usize::from(len)]);
    }
}

macro_rules! encode_le {
    ($($ty:ty),*) => {$(
        impl Encode for $ty {
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
encode_le!(u8, u16, u32, u64, i8, i16);

impl Encode for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(value) => {
                out.push(1);
                value.encode(out);
            }
        }
    }
}

impl<T: Encode> Encode for Vec<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        for item in self {
            out.push(1);
            item.encode(out);
        }
        out.push(0);
    }
}

/// The `u32` that derived `Arbitrary` maps to variant `index` of `count`
/// (it picks `(u32 * count) >> 32`).
fn variant(out: &mut Vec<u8>, index: u64, count: u64) {
    let raw = (index << 32).div_ceil(count);
    out.extend_from_slice(&u32::try_from(raw).unwrap_or(u32::MAX).to_le_bytes());
}

/// `Encode` for a struct: its fields in declaration order, as the derived
/// `Arbitrary` reads them.
macro_rules! encode_fields {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        impl Encode for $ty {
            fn encode(&self, out: &mut Vec<u8>) {
                $(self.$field.encode(out);)*
            }
        }
    };
}

/// `Encode` for an enum of `count` variants: the variant's index, then its
/// fields in order, as the derived `Arbitrary` reads them.
macro_rules! encode_variants {
    ($ty:ident, $count:literal { $($index:literal => $variant:ident $(($($field:ident),*))?),* $(,)? }) => {
        impl Encode for $ty {
            fn encode(&self, out: &mut Vec<u8>) {
                match self {
                    $($ty::$variant $(($($field),*))? => {
                        variant(out, $index, $count);
                        $($($field.encode(out);)*)?
                    })*
                }
            }
        }
    };
}

// ---- responses -------------------------------------------------------------

/// Statuses worth most of the fuzzer's time, picked by [`StatusChoice::Listed`].
pub const STATUSES: [u16; 27] = [
    200, 201, 204, 299, 100, 101, 199, 301, 302, 304, 307, 308, 400, 401, 403, 404, 405, 409, 413,
    429, 500, 501, 502, 503, 504, 599, 999,
];

/// A response status.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChoice {
    /// 200.
    Ok,
    /// One of [`STATUSES`] (index modulo their number).
    Listed(u8),
    /// Any number (folded into 100..=999).
    Any(u16),
}

impl StatusChoice {
    /// The status code.
    pub fn code(self) -> u16 {
        match self {
            StatusChoice::Ok => 200,
            StatusChoice::Listed(i) => STATUSES[usize::from(i) % STATUSES.len()],
            StatusChoice::Any(code) => code,
        }
    }

    /// The choice that encodes `code` most briefly.
    pub fn of(code: u16) -> StatusChoice {
        match STATUSES.iter().position(|s| *s == code) {
            Some(0) => StatusChoice::Ok,
            Some(i) => StatusChoice::Listed(u8::try_from(i).unwrap_or(0)),
            None => StatusChoice::Any(code),
        }
    }
}

encode_variants!(StatusChoice, 3 { 0 => Ok, 1 => Listed(i), 2 => Any(code) });

/// A response header name: the ones the decoders read, or any text.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub enum HeaderName {
    /// `retry-after`.
    RetryAfter,
    /// `x-request-id`.
    RequestId,
    /// `date`.
    Date,
    /// `content-type`.
    ContentType,
    /// `location`.
    Location,
    /// Any name (dropped if HTTP cannot carry it).
    Other(Text),
}

const HEADER_NAMES: [&str; 5] = [
    "retry-after",
    "x-request-id",
    "date",
    "content-type",
    "location",
];

impl HeaderName {
    /// The header name as text.
    pub fn as_str(&self) -> &str {
        match self {
            HeaderName::RetryAfter => HEADER_NAMES[0],
            HeaderName::RequestId => HEADER_NAMES[1],
            HeaderName::Date => HEADER_NAMES[2],
            HeaderName::ContentType => HEADER_NAMES[3],
            HeaderName::Location => HEADER_NAMES[4],
            HeaderName::Other(text) => &text.0,
        }
    }

    /// The choice for a name as written.
    pub fn of(name: &str) -> HeaderName {
        match HEADER_NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
        {
            Some(0) => HeaderName::RetryAfter,
            Some(1) => HeaderName::RequestId,
            Some(2) => HeaderName::Date,
            Some(3) => HeaderName::ContentType,
            Some(4) => HeaderName::Location,
            _ => HeaderName::Other(Text::new(name)),
        }
    }
}

encode_variants!(HeaderName, 6 {
    0 => RetryAfter,
    1 => RequestId,
    2 => Date,
    3 => ContentType,
    4 => Location,
    5 => Other(text),
});

/// Header names and values as the oracles take them.
pub type Headers = Vec<(String, Vec<u8>)>;

/// A response as fuzz input.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub struct ResponseInput {
    /// The status.
    pub status: StatusChoice,
    /// Headers in order.
    pub headers: Vec<(HeaderName, Bytes)>,
    /// The body.
    pub body: Bytes,
}

impl ResponseInput {
    /// Status, headers and body as the property functions take them.
    pub fn parts(&self) -> (u16, Headers, &[u8]) {
        let headers = self
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.0.clone()))
            .collect();
        (self.status.code(), headers, &self.body.0)
    }

    /// The input for a response given as status, headers and body.
    pub fn of(status: u16, headers: &[(String, Vec<u8>)], body: &[u8]) -> ResponseInput {
        ResponseInput {
            status: StatusChoice::of(status),
            headers: headers
                .iter()
                .map(|(name, value)| (HeaderName::of(name), Bytes::new(value)))
                .collect(),
            body: Bytes::new(body),
        }
    }

    /// The response as a reply of a scripted wait.
    pub fn reply(&self) -> Reply {
        let (status, headers, body) = self.parts();
        Reply {
            status,
            headers,
            body: body.to_vec(),
        }
    }
}

impl Encode for (HeaderName, Bytes) {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
        self.1.encode(out);
    }
}

encode_fields!(ResponseInput {
    status,
    headers,
    body
});

/// A response and the operation decoding it: the first byte picks a row of
/// [`crate::decode::DECODERS`], or all of them (see
/// [`crate::decode::decode_any`]).
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub struct DecodeInput {
    /// The operation.
    pub selector: u8,
    /// The response.
    pub response: ResponseInput,
}

impl DecodeInput {
    /// Run the property with this input.
    pub fn check(&self) {
        let (status, headers, body) = self.response.parts();
        let response = crate::decode::response(status, &headers, body);
        crate::decode::decode_any(self.selector, &response);
    }
}

encode_fields!(DecodeInput { selector, response });

// ---- request building ------------------------------------------------------

/// A host for a built endpoint.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub enum HostChoice {
    /// `127.0.0.1`.
    Loopback,
    /// `localhost`.
    Localhost,
    /// `[::1]`.
    Ipv6Loopback,
    /// `koophone.example.com`.
    Example,
    /// Any text.
    Name(Text),
}

encode_variants!(HostChoice, 5 {
    0 => Loopback,
    1 => Localhost,
    2 => Ipv6Loopback,
    3 => Example,
    4 => Name(name),
});

/// An endpoint: any text, or one assembled from plausible parts so most
/// inputs get past URL parsing.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub enum EndpointInput {
    /// Any text.
    Raw(Text),
    /// `scheme://host[:port][/prefix...]`.
    Parts(UrlParts),
}

encode_variants!(EndpointInput, 2 { 0 => Raw(text), 1 => Parts(parts) });

/// The parts of an assembled endpoint URL.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub struct UrlParts {
    /// https or http.
    pub https: bool,
    /// The host.
    pub host: HostChoice,
    /// The port.
    pub port: Option<u16>,
    /// Path prefix segments.
    pub prefix: Vec<Text>,
}

encode_fields!(UrlParts {
    https,
    host,
    port,
    prefix
});

impl EndpointInput {
    /// The URL text.
    pub fn url(&self) -> String {
        let parts = match self {
            EndpointInput::Raw(text) => return text.0.clone(),
            EndpointInput::Parts(parts) => parts,
        };
        let host = match &parts.host {
            HostChoice::Loopback => "127.0.0.1",
            HostChoice::Localhost => "localhost",
            HostChoice::Ipv6Loopback => "[::1]",
            HostChoice::Example => "koophone.example.com",
            HostChoice::Name(name) => &name.0,
        };
        let scheme = if parts.https { "https" } else { "http" };
        let mut url = format!("{scheme}://{host}");
        if let Some(port) = parts.port {
            url.push_str(&format!(":{port}"));
        }
        for segment in &parts.prefix {
            url.push('/');
            url.push_str(&segment.0);
        }
        url
    }
}

/// The fields of one operation.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub enum FieldsInput {
    /// ShowProgress `user_id`, `instance_id`.
    Progress(Text, Text),
    /// ShowInstanceStatus `project_id`, `instance_id`.
    Status(Text, Text),
    /// BatchPrepareInstances `user_id`, `instance_ids`.
    Prepare(Text, Vec<Text>),
}

impl Encode for FieldsInput {
    fn encode(&self, out: &mut Vec<u8>) {
        let (index, first) = match self {
            FieldsInput::Progress(user_id, _) => (0, user_id),
            FieldsInput::Status(project_id, _) => (1, project_id),
            FieldsInput::Prepare(user_id, _) => (2, user_id),
        };
        variant(out, index, 3);
        first.encode(out);
        match self {
            FieldsInput::Progress(_, id) | FieldsInput::Status(_, id) => id.encode(out),
            FieldsInput::Prepare(_, ids) => ids.encode(out),
        }
    }
}

/// Everything request building reads.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub struct BuildInputs {
    /// The endpoint.
    pub endpoint: EndpointInput,
    /// Whether plain http to any host was allowed.
    pub allow_http: bool,
    /// The token.
    pub token: Text,
    /// The user agent, or the default.
    pub user_agent: Option<Text>,
    /// The operation's fields.
    pub fields: FieldsInput,
}

impl BuildInputs {
    /// Run the property with these inputs.
    pub fn check(&self) {
        let url = self.endpoint.url();
        let instance_ids: Vec<&str> = match &self.fields {
            FieldsInput::Prepare(_, ids) => ids.iter().map(|id| id.0.as_str()).collect(),
            _ => Vec::new(),
        };
        let fields = match &self.fields {
            FieldsInput::Progress(user_id, instance_id) => Fields::Progress {
                user_id: &user_id.0,
                instance_id: &instance_id.0,
            },
            FieldsInput::Status(project_id, instance_id) => Fields::Status {
                project_id: &project_id.0,
                instance_id: &instance_id.0,
            },
            FieldsInput::Prepare(user_id, _) => Fields::Prepare {
                user_id: &user_id.0,
                instance_ids: &instance_ids,
            },
        };
        let _ = crate::build::build_request(BuildInput {
            endpoint: &url,
            allow_http: self.allow_http,
            token: &self.token.0,
            user_agent: self.user_agent.as_ref().map(|ua| ua.0.as_str()),
            fields,
        });
    }
}

encode_fields!(BuildInputs {
    endpoint,
    allow_http,
    token,
    user_agent,
    fields
});

// ---- the waiter ------------------------------------------------------------

/// The states a [`TargetChoice::State`] or a [`StepInput::State`] picks from.
pub const STATES: [&str; 11] = [
    "pending",
    "running",
    "stopping",
    "stopped",
    "reinstalling",
    "shutting-down",
    "terminated",
    "error",
    "failed",
    "teminated",
    "",
];

/// What the wait runs to.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetChoice {
    /// ShowProgress until normal.
    Ready,
    /// ShowInstanceStatus until one of [`STATES`].
    State(u8),
    /// One ShowProgress call.
    OnceProgress,
    /// One ShowInstanceStatus call.
    OnceStatus,
}

encode_variants!(TargetChoice, 4 {
    0 => Ready,
    1 => State(i),
    2 => OnceProgress,
    3 => OnceStatus,
});

/// The policy, in the ranges `Script` accepts (every value maps to a valid one).
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyInput {
    /// `min_interval` is `1 + min_ms % 2000` ms.
    pub min_ms: u16,
    /// `max_interval` is `min_interval * (1 + max_factor % 30)`.
    pub max_factor: u8,
    /// `growth` is `1 + growth / 64`.
    pub growth: u8,
    /// `jitter`: none, full, equal (modulo 3); `max_pause_fraction`: 0.1,
    /// none, 0.01, 1.5 (`jitter / 3` modulo 4).
    pub jitter: u8,
    /// `max_wait` is `min_interval * (1 + wait_factor % 2000)`.
    pub wait_factor: u16,
    /// `max_consecutive_errors` is `max_errors % 8`.
    pub max_errors: u8,
}

impl PolicyInput {
    /// The policy.
    // Field by field, not a literal: fields added later keep their defaults,
    // and this still compiles if the policy becomes `#[non_exhaustive]`.
    #[allow(clippy::field_reassign_with_default)]
    pub fn policy(&self) -> WaitPolicy {
        let min_ms = 1 + u64::from(self.min_ms % 2000);
        let mut policy = WaitPolicy::default();
        policy.min_interval = Duration::from_millis(min_ms);
        policy.max_interval = Duration::from_millis(min_ms * (1 + u64::from(self.max_factor % 30)));
        policy.growth = 1.0 + f64::from(self.growth) / 64.0;
        policy.jitter = match self.jitter % 3 {
            0 => Jitter::None,
            1 => Jitter::Full,
            _ => Jitter::Equal,
        };
        policy.max_wait = Duration::from_millis(min_ms * (1 + u64::from(self.wait_factor % 2000)));
        policy.max_consecutive_errors = u32::from(self.max_errors % 8);
        policy.max_pause_fraction = match self.jitter / 3 % 4 {
            0 => Some(0.1),
            1 => None,
            2 => Some(0.01),
            _ => Some(1.5),
        };
        policy
    }
}

encode_fields!(PolicyInput {
    min_ms,
    max_factor,
    growth,
    jitter,
    wait_factor,
    max_errors
});

/// One thing the scripted driver does.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub enum StepInput {
    /// Call `poll`.
    Poll,
    /// Move the clock by up to 65 s.
    Advance(u16),
    /// Move the clock by up to 49 days.
    AdvanceFar(u32),
    /// A transport failure (kind modulo 6).
    Fail(u8),
    /// Any response.
    Respond(ResponseInput),
    /// A ShowProgress success with this status and waiting count.
    Progress(i8, Option<i16>),
    /// A ShowInstanceStatus success with one of [`STATES`].
    State(u8),
}

impl StepInput {
    fn step(&self) -> Step {
        match self {
            StepInput::Poll => Step::Poll,
            StepInput::Advance(ms) => Step::Advance(Duration::from_millis((*ms).into())),
            StepInput::AdvanceFar(ms) => Step::Advance(Duration::from_millis((*ms).into())),
            StepInput::Fail(kind) => Step::Fail(transport_kind(*kind)),
            StepInput::Respond(response) => Step::Respond(response.reply()),
            StepInput::Progress(status, count) => {
                let count = count.map_or(String::new(), |c| format!(r#","waitingCount":{c}"#));
                Step::Respond(Reply {
                    status: 200,
                    headers: Vec::new(),
                    body: format!(
                        r#"{{"data":{{"status":{status}{count}}},"error_code":"0","error_msg":"OK"}}"#
                    )
                    .into_bytes(),
                })
            }
            StepInput::State(i) => Step::Respond(Reply {
                status: 200,
                headers: Vec::new(),
                body: serde_json::json!({ "state": STATES[usize::from(*i) % STATES.len()] })
                    .to_string()
                    .into_bytes(),
            }),
        }
    }
}

encode_variants!(StepInput, 7 {
    0 => Poll,
    1 => Advance(ms),
    2 => AdvanceFar(ms),
    3 => Fail(kind),
    4 => Respond(response),
    5 => Progress(status, count),
    6 => State(i),
});

/// A scripted wait.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub struct WaitInput {
    /// What the wait runs to.
    pub target: TargetChoice,
    /// The jitter seed.
    pub seed: u64,
    /// The policy.
    pub policy: PolicyInput,
    /// The driver's steps.
    pub steps: Vec<StepInput>,
}

impl WaitInput {
    /// The script and target the property runs.
    pub fn script(&self) -> (Script, WaitTarget) {
        let target = match self.target {
            TargetChoice::Ready => WaitTarget::Ready,
            TargetChoice::State(i) => {
                WaitTarget::State(InstanceState::parse(STATES[usize::from(i) % STATES.len()]))
            }
            TargetChoice::OnceProgress => WaitTarget::OnceProgress,
            TargetChoice::OnceStatus => WaitTarget::OnceStatus,
        };
        let script = Script {
            policy: self.policy.policy(),
            seed: self.seed,
            steps: self.steps.iter().map(StepInput::step).collect(),
        };
        (script, target)
    }

    /// Run the property with this input.
    pub fn check(&self) {
        let (script, target) = self.script();
        crate::wait::wait(&script, target);
    }
}

encode_fields!(WaitInput {
    target,
    seed,
    policy,
    steps
});

// ---- the simulator ---------------------------------------------------------

/// Ids the simulator's scenarios know, picked by [`IdChoice::Known`].
pub const KNOWN_IDS: [&str; 12] = [
    "1008600000104285462",
    "1008600000104285463",
    "iRJEVP9",
    "iFAILED1",
    "iBACKUP1",
    "iOTHER01",
    "sim-project",
    "sim-instance",
    "sim-starting",
    "sim-broken",
    "sim-deleting",
    "sim%2Dproject",
];

/// An id: one the scenarios know, or any text.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub enum IdChoice {
    /// One of [`KNOWN_IDS`].
    Known(u8),
    /// Any text.
    Any(Text),
}

impl IdChoice {
    fn text(&self) -> &str {
        match self {
            IdChoice::Known(i) => KNOWN_IDS[usize::from(*i) % KNOWN_IDS.len()],
            IdChoice::Any(text) => &text.0,
        }
    }

    /// The choice for an id as written.
    pub fn of(id: &str) -> IdChoice {
        match KNOWN_IDS.iter().position(|k| *k == id) {
            Some(i) => IdChoice::Known(u8::try_from(i).unwrap_or(0)),
            None => IdChoice::Any(Text::new(id)),
        }
    }
}

encode_variants!(IdChoice, 2 { 0 => Known(i), 1 => Any(text) });

/// A request method.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub enum MethodChoice {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
    /// HEAD.
    Head,
    /// Any text.
    Other(Text),
}

encode_variants!(MethodChoice, 6 {
    0 => Get,
    1 => Post,
    2 => Put,
    3 => Delete,
    4 => Head,
    5 => Other(text),
});

/// A request path.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub enum PathChoice {
    /// `/v1/instances/prepare-progress`.
    Progress,
    /// `/v1/{project}/instances/{id}/status`, each id percent-encoded.
    Status(IdChoice, IdChoice),
    /// Any text as the request target.
    Raw(Text),
}

encode_variants!(PathChoice, 3 { 0 => Progress, 1 => Status(project, id), 2 => Raw(text) });

/// The `x-auth-token` header.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub enum TokenChoice {
    /// No header.
    Missing,
    /// The token every scenario accepts.
    Valid,
    /// The token the limited scenario lets expire.
    Expiring,
    /// Any bytes.
    Any(Bytes),
}

encode_variants!(TokenChoice, 4 {
    0 => Missing,
    1 => Valid,
    2 => Expiring,
    3 => Any(bytes),
});

/// A request body.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub enum BodyChoice {
    /// No body.
    Empty,
    /// `{"user_id":..,"instance_id":..}`.
    Ids(IdChoice, IdChoice),
    /// Any bytes.
    Raw(Bytes),
}

encode_variants!(BodyChoice, 3 { 0 => Empty, 1 => Ids(user, instance), 2 => Raw(bytes) });

/// One request to the simulator.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub struct SimRequestInput {
    /// The method.
    pub method: MethodChoice,
    /// The path.
    pub path: PathChoice,
    /// The token header.
    pub token: TokenChoice,
    /// More headers.
    pub headers: Vec<(HeaderName, Bytes)>,
    /// The body.
    pub body: BodyChoice,
    /// Milliseconds since the previous request.
    pub after_ms: u16,
}

/// RFC 3986 unreserved characters stay, everything else is percent-encoded.
fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl SimRequestInput {
    /// The request as the property function takes it.
    pub fn request(&self) -> SimRequest {
        let method = match &self.method {
            MethodChoice::Get => "GET",
            MethodChoice::Post => "POST",
            MethodChoice::Put => "PUT",
            MethodChoice::Delete => "DELETE",
            MethodChoice::Head => "HEAD",
            MethodChoice::Other(text) => &text.0,
        };
        let uri = match &self.path {
            PathChoice::Progress => koophone_sim::SHOW_PROGRESS_PATH.to_owned(),
            PathChoice::Status(project, id) => format!(
                "/v1/{}/instances/{}/status",
                encode_segment(project.text()),
                encode_segment(id.text())
            ),
            PathChoice::Raw(text) => text.0.clone(),
        };
        let mut headers: Vec<(String, Vec<u8>)> = self
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.0.clone()))
            .collect();
        let token = match &self.token {
            TokenChoice::Missing => None,
            TokenChoice::Valid => Some(crate::sim::TOKEN.as_bytes().to_vec()),
            TokenChoice::Expiring => Some(crate::sim::EXPIRING_TOKEN.as_bytes().to_vec()),
            TokenChoice::Any(bytes) => Some(bytes.0.clone()),
        };
        if let Some(token) = token {
            headers.insert(0, ("x-auth-token".to_owned(), token));
        }
        let body = match &self.body {
            BodyChoice::Empty => Vec::new(),
            BodyChoice::Ids(user, instance) => serde_json::json!({
                "user_id": user.text(),
                "instance_id": instance.text(),
            })
            .to_string()
            .into_bytes(),
            BodyChoice::Raw(bytes) => bytes.0.clone(),
        };
        SimRequest {
            method: method.to_owned(),
            uri,
            headers,
            body,
            after_ms: self.after_ms.into(),
        }
    }
}

encode_fields!(SimRequestInput {
    method,
    path,
    token,
    headers,
    body,
    after_ms
});

/// A run of the simulator.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub struct SimInput {
    /// Which of `crate::sim::scenario`'s scenarios.
    pub scenario: u8,
    /// The simulator's seed.
    pub seed: u64,
    /// The requests, in order.
    pub requests: Vec<SimRequestInput>,
}

impl SimInput {
    /// Run the property with this input.
    pub fn check(&self) {
        let scenario = crate::sim::scenario(self.scenario);
        let requests: Vec<SimRequest> =
            self.requests.iter().map(SimRequestInput::request).collect();
        crate::sim::handle_requests(&scenario, self.seed, &requests);
    }
}

encode_fields!(SimInput {
    scenario,
    seed,
    requests
});

/// Decode `bytes` as a target input; the seed generator checks every seed
/// reads back as the value it encoded.
pub fn decode<'a, T: Arbitrary<'a>>(bytes: &'a [u8]) -> Option<T> {
    Input::<T>::arbitrary_take_rest(Unstructured::new(bytes))
        .ok()
        .map(|input| input.0)
}
