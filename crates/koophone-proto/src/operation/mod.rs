//! The operations, and the trait that lets the machines, drivers, simulator
//! and command line treat them alike.
//!
//! # Adding an operation
//!
//! An operation lives in one file of this module; nothing else in the core
//! names it. The recipe, in order:
//!
//! 1. `src/operation/<name>.rs` in koophone-proto: the operation value with a
//!    validating constructor, its output type (implementing `Display` for
//!    its one-line text and [`Redact`] for any text from the network), its
//!    [`Operation`] impl (`NAME`, `METHOD`, `PATH` as the API documents it,
//!    `IDEMPOTENT`, `path_parameters`, `body`, `decode_success`) and its wait
//!    targets. Declare it in this module and re-export it from `lib.rs`.
//! 2. Conformance: request and response vectors in `tests/vectors/`, one row
//!    in the `OPERATIONS` table of `crates/koophone-proto/tests/vectors.rs`,
//!    and its properties (total decoding, body round trip) in
//!    `crates/koophone-proto/tests/properties.rs`.
//! 3. koophone-sim: a row in the router's `ROUTES` table (method and path
//!    template as documented) and a `FaultRoute`, the handler, and the
//!    behaviour in the model; its scenario fields if it has any.
//! 4. koophone-ureq: a convenience method on `Client` if it deserves one
//!    (`Client::call`, `Client::wait` and the fleet already run any operation).
//! 5. koophone-cli: a subcommand in `args.rs`, an arm in `run.rs` that goes
//!    through `Context::call` or `Context::wait`, and a `Render` impl for its
//!    output in `render.rs`.
//! 6. Fuzzing: a row in koophone-check's `DECODERS` table (the `decode`
//!    target and the stable replay of its corpus pick it up).
//!
//! The request is built by [`Operation::build_request`] from those pieces:
//! the endpoint's prefix plus `PATH` with each `{parameter}` replaced by one
//! percent-encoded segment (a path without parameters is built once per
//! endpoint and shared), the token or signature, `content-type:
//! application/json` when there is a body, and the user agent. Responses are
//! decoded by [`Operation::decode_response`]: every non-2xx status and every
//! error body is handled once for all operations in `decode.rs`; only a 2xx
//! body reaches [`Operation::decode_success`].

use std::fmt;
use std::hash::Hash;
use std::time::SystemTime;

use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::context::{Auth, RequestContext};
use crate::decode::{self, SuccessError};
pub(crate) use crate::error::check_text;
use crate::error::{ApiError, InvalidInput, InvalidReason};
use crate::redact::{Redact, Redactor};

pub mod batch_prepare_instances;
pub mod show_instance_status;
pub mod show_progress;

/// An API call: what its request looks like and how its success body reads.
///
/// Everything else (status handling, error bodies, request ids, retry hints,
/// scrubbing credentials from network text, signing) is shared.
pub trait Operation: Hash {
    /// What a successful response decodes into. `Display` is its one-line
    /// human text (the command line and error messages show it);
    /// [`Redact`] scrubs its network text.
    type Output: Clone + PartialEq + fmt::Debug + fmt::Display + Redact + Send + Sync + 'static;

    /// The API's name for the call (`ShowProgress`), for logs and spans.
    const NAME: &'static str;

    /// The HTTP method.
    const METHOD: Method;

    /// The path below the endpoint, as the API documents it; each `{name}`
    /// is a parameter filled from [`Operation::path_parameters`].
    const PATH: &'static str;

    /// Whether sending the request twice does no more than sending it once.
    /// Reads are; a write the service does not document as idempotent is
    /// not, and the machines then retry only failures that prove the request
    /// was not applied (see [`ApiError::proves_not_applied`](crate::ApiError::proves_not_applied)).
    const IDEMPOTENT: bool = true;

    /// The values of `PATH`'s parameters, in order; each becomes one
    /// percent-encoded segment.
    fn path_parameters(&self) -> impl Iterator<Item = &str> {
        std::iter::empty()
    }

    /// The JSON body, `None` for a call without one.
    fn body(&self) -> Result<Option<Vec<u8>>, InvalidInput> {
        Ok(None)
    }

    /// Read a 2xx body into the output. A body that is not what the
    /// operation expects is a [`SuccessError`]: malformed, or a service error
    /// when it carries a non-`"0"` `error_code`.
    fn decode_success(&self, body: &[u8]) -> Result<Self::Output, SuccessError>;

    /// Build the request, with the user agent and, for a token, the
    /// credentials from `ctx`. With AK/SK credentials the request is not
    /// signed yet: drivers call [`Operation::build_authorized_request`].
    fn build_request(&self, ctx: &RequestContext) -> Result<Request<Vec<u8>>, InvalidInput> {
        build_request(self, ctx)
    }

    /// What a driver sends for each attempt: [`Operation::build_request`],
    /// then, for AK/SK, [`RequestContext::authorize`] as of `now` (the wall
    /// clock), so the signature covers the finished request and is fresh
    /// every attempt.
    fn build_authorized_request(
        &self,
        ctx: &RequestContext,
        now: SystemTime,
    ) -> Result<Request<Vec<u8>>, InvalidInput> {
        let mut request = self.build_request(ctx)?;
        // A token context's request already carries its token.
        if !matches!(ctx.auth(), Auth::Token(_)) {
            ctx.authorize(&mut request, now)?;
        }
        Ok(request)
    }

    /// Decode a response; total: every status and every body maps to one
    /// outcome. Network text is kept as received: use
    /// [`Operation::decode_redacted`] when credentials were sent.
    fn decode_response(&self, response: Response<&[u8]>) -> Result<Self::Output, ApiError> {
        self.decode_redacted(response, &Redactor::default())
    }

    /// [`Operation::decode_response`], with every credential of `redactor`
    /// scrubbed from the network text the outcome carries. The machines
    /// ([`Waiter`](crate::Waiter), [`Call`](crate::Call)) decode this way.
    fn decode_redacted(
        &self,
        response: Response<&[u8]>,
        redactor: &Redactor,
    ) -> Result<Self::Output, ApiError> {
        decode::response(&response, redactor, |body| self.decode_success(body))
    }

    /// [`Operation::decode_response`] for an owned body.
    fn decode_owned(&self, response: Response<Vec<u8>>) -> Result<Self::Output, ApiError> {
        let (parts, body) = response.into_parts();
        self.decode_response(Response::from_parts(parts, body.as_slice()))
    }
}

/// A borrowed operation is the operation: drivers run `&op` without cloning it.
impl<O: Operation> Operation for &O {
    type Output = O::Output;
    const NAME: &'static str = O::NAME;
    const METHOD: Method = O::METHOD;
    const PATH: &'static str = O::PATH;
    const IDEMPOTENT: bool = O::IDEMPOTENT;

    fn path_parameters(&self) -> impl Iterator<Item = &str> {
        (**self).path_parameters()
    }

    fn body(&self) -> Result<Option<Vec<u8>>, InvalidInput> {
        (**self).body()
    }

    fn decode_success(&self, body: &[u8]) -> Result<Self::Output, SuccessError> {
        (**self).decode_success(body)
    }

    fn build_request(&self, ctx: &RequestContext) -> Result<Request<Vec<u8>>, InvalidInput> {
        (**self).build_request(ctx)
    }

    fn build_authorized_request(
        &self,
        ctx: &RequestContext,
        now: SystemTime,
    ) -> Result<Request<Vec<u8>>, InvalidInput> {
        (**self).build_authorized_request(ctx, now)
    }

    fn decode_redacted(
        &self,
        response: Response<&[u8]>,
        redactor: &Redactor,
    ) -> Result<Self::Output, ApiError> {
        (**self).decode_redacted(response, redactor)
    }
}

/// The header both APIs read the IAM token from.
pub const X_AUTH_TOKEN: HeaderName = HeaderName::from_static("x-auth-token");

/// Everything outside RFC 3986 `unreserved` (`A-Z a-z 0-9 - . _ ~`) is encoded,
/// so no value can add, remove or escape a path segment.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A path parameter: required text that is not a dot segment. Encoding `.` as
/// `%2E` would not help: URL parsers (WHATWG) and servers (nginx) decode it
/// before they merge `..`, so such values are refused instead.
pub(crate) fn check_path_parameter(field: &'static str, value: &str) -> Result<(), InvalidInput> {
    check_text(field, value, None)?;
    if value == "." || value == ".." {
        return Err(InvalidInput {
            field,
            reason: InvalidReason::DotSegment,
        });
    }
    Ok(())
}

/// The length of `s` as a JSON string's content: serde_json escapes `"` and `\`
/// with one extra byte each (control characters, the only other escapes, are refused).
pub(crate) fn json_escaped_len(s: &str) -> usize {
    s.len() + s.bytes().filter(|b| matches!(b, b'"' | b'\\')).count()
}

/// Serialize a request body into a buffer of `capacity` bytes.
pub(crate) fn json_body(
    capacity: usize,
    value: &impl serde::Serialize,
    field: &'static str,
) -> Result<Option<Vec<u8>>, InvalidInput> {
    let mut body = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut body, value).map_err(|_| InvalidInput {
        field,
        reason: InvalidReason::Unencodable,
    })?;
    Ok(Some(body))
}

/// The literal pieces of a path template and its `{..}` parameters, in order.
fn template_pieces(template: &'static str) -> impl Iterator<Item = Piece> {
    let mut rest = template;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        if let Some(after) = rest.strip_prefix('{') {
            rest = after.split_once('}').map_or("", |(_, tail)| tail);
            return Some(Piece::Parameter);
        }
        let end = rest.find('{').unwrap_or(rest.len());
        let (literal, tail) = rest.split_at(end);
        rest = tail;
        Some(Piece::Literal(literal))
    })
}

enum Piece {
    Literal(&'static str),
    Parameter,
}

fn build_uri<O: Operation + ?Sized>(
    op: &O,
    ctx: &RequestContext,
) -> Result<http::Uri, InvalidInput> {
    let endpoint = ctx.endpoint();
    if !O::PATH.contains('{') {
        return endpoint.fixed_uri(O::PATH);
    }
    let mut len = 0;
    let mut values = op.path_parameters();
    for piece in template_pieces(O::PATH) {
        len += match piece {
            Piece::Literal(text) => text.len(),
            Piece::Parameter => values.next().map_or(0, |v| {
                utf8_percent_encode(v, PATH_SEGMENT).map(str::len).sum()
            }),
        };
    }
    endpoint.uri_with_path(len, |path| {
        let mut values = op.path_parameters();
        for piece in template_pieces(O::PATH) {
            match piece {
                Piece::Literal(text) => path.push_str(text),
                Piece::Parameter => {
                    if let Some(value) = values.next() {
                        path.extend(utf8_percent_encode(value, PATH_SEGMENT));
                    }
                }
            }
        }
    })
}

/// The shared request building of [`Operation::build_request`].
fn build_request<O: Operation + ?Sized>(
    op: &O,
    ctx: &RequestContext,
) -> Result<Request<Vec<u8>>, InvalidInput> {
    let uri = build_uri(op, ctx)?;
    let body = op.body()?;
    let mut headers = match ctx.auth() {
        Auth::Token(token) => {
            let mut headers = HeaderMap::with_capacity(3);
            headers.insert(X_AUTH_TOKEN, token.header_value().clone());
            headers
        }
        // Room for the signature's host, x-sdk-date, authorization and
        // optional x-project-id and x-security-token.
        _ => HeaderMap::with_capacity(8),
    };
    if body.is_some() {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    headers.insert(USER_AGENT, ctx.user_agent().clone());
    let mut request = Request::new(body.unwrap_or_default());
    *request.method_mut() = O::METHOD;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::show_instance_status::ShowInstanceStatus;
    use super::show_progress::ShowProgress;
    use super::*;
    use crate::endpoint::{Endpoint, Token};

    fn ctx(base: &str) -> RequestContext {
        RequestContext::new(
            Endpoint::parse(base).unwrap(),
            Token::new("tok-123").unwrap(),
        )
        .with_user_agent("ua/1")
        .unwrap()
    }

    #[test]
    fn show_progress_request_is_exact() {
        let op = ShowProgress::new("1008600000104285462", "iRJEVP9").unwrap();
        let req = op
            .build_request(&ctx("https://kp.example.com/gw/"))
            .unwrap();
        assert_eq!(req.method(), Method::POST);
        assert_eq!(
            req.uri(),
            "https://kp.example.com/gw/v1/instances/prepare-progress"
        );
        let headers: Vec<_> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            headers,
            [
                ("x-auth-token", "tok-123"),
                ("content-type", "application/json"),
                ("user-agent", "ua/1"),
            ]
        );
        assert!(req.headers()[&X_AUTH_TOKEN].is_sensitive());
        assert_eq!(
            req.body(),
            br#"{"user_id":"1008600000104285462","instance_id":"iRJEVP9"}"#
        );
    }

    #[test]
    fn show_progress_body_is_serde_json_and_sized_exactly() {
        for (user, instance) in [
            ("a\"b\\c", "ü🙂"),
            ("\"\"\"\"", "\\\\"),
            ("x", "\u{2028}\u{10FFFF}"),
        ] {
            let op = ShowProgress::new(user, instance).unwrap();
            let req = op.build_request(&ctx("https://h.example")).unwrap();
            let expected = format!(
                "{{\"user_id\":{},\"instance_id\":{}}}",
                serde_json::to_string(user).unwrap(),
                serde_json::to_string(instance).unwrap()
            );
            assert_eq!(req.body(), expected.as_bytes());
            assert_eq!(
                req.body().len(),
                req.body().capacity(),
                "{user:?} {instance:?}"
            );
        }
    }

    #[test]
    fn show_progress_validates_fields() {
        let err = |u: &str, i: &str| ShowProgress::new(u, i).unwrap_err();
        assert_eq!(err("", "i").field, "user_id");
        assert_eq!(err("", "i").reason, InvalidReason::Empty);
        assert_eq!(err("u", "").field, "instance_id");
        assert_eq!(err("u\t", "i").reason, InvalidReason::ControlCharacter);
        assert_eq!(err("u", "i\u{85}").reason, InvalidReason::ControlCharacter);
        let long = "x".repeat(33);
        assert_eq!(
            err("u", &long).reason,
            InvalidReason::TooLong { max: 32, len: 33 }
        );
        // 32 characters of 4 bytes each: counted in characters, not bytes.
        let wide = "🙂".repeat(32);
        let op = ShowProgress::new(wide.as_str(), "x".repeat(32)).unwrap();
        assert_eq!(op.user_id(), wide);
        assert_eq!(op.instance_id().len(), 32);
        assert_eq!(
            err(&"é".repeat(33), "i").reason,
            InvalidReason::TooLong { max: 32, len: 33 }
        );
    }

    #[test]
    fn show_instance_status_request_is_exact() {
        let op = ShowInstanceStatus::new("0605767a3300d5762fb7c0186d9e1779", "i-1").unwrap();
        let req = op.build_request(&ctx("http://127.0.0.1:8080")).unwrap();
        assert_eq!(req.method(), Method::GET);
        assert_eq!(
            req.uri(),
            "http://127.0.0.1:8080/v1/0605767a3300d5762fb7c0186d9e1779/instances/i-1/status"
        );
        let names: Vec<_> = req.headers().keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-auth-token", "user-agent"]);
        assert!(req.body().is_empty());
    }

    #[test]
    fn path_parameters_are_one_segment_each() {
        let op = ShowInstanceStatus::new("a/b?c#d%e", "x y/../ü.~-_").unwrap();
        let req = op.build_request(&ctx("https://h.example/p")).unwrap();
        assert_eq!(
            req.uri().path(),
            "/p/v1/a%2Fb%3Fc%23d%25e/instances/x%20y%2F..%2F%C3%BC.~-_/status"
        );
        assert_eq!(req.uri().query(), None);
    }

    mod aksk {
        use std::time::{Duration, SystemTime, UNIX_EPOCH};

        use super::*;
        use crate::auth::signing::{self, SignedAuthorization, VerifyError};
        use crate::auth::{AkSkCredentials, SecretKey, SecurityToken};

        const SK: &str = "sk-very-secret-0123456789";
        const SESSION: &str = "session-token-secret-xyz";

        fn secret() -> SecretKey {
            SecretKey::new(SK).unwrap()
        }

        fn aksk_ctx(credentials: AkSkCredentials) -> RequestContext {
            RequestContext::with_aksk(
                Endpoint::parse("https://kp.example.com/gw").unwrap(),
                credentials,
            )
            .with_user_agent("ua/1")
            .unwrap()
        }

        fn at(seconds: u64) -> SystemTime {
            UNIX_EPOCH + Duration::from_secs(seconds)
        }

        const MAX_SKEW: Duration = signing::DEFAULT_MAX_CLOCK_SKEW;

        #[test]
        fn signed_progress_request_verifies_and_carries_no_token() {
            let ctx = aksk_ctx(AkSkCredentials::new("AK1", secret()).unwrap());
            let op = ShowProgress::new("1008600000104285462", "iRJEVP9").unwrap();
            let now = at(1_750_000_000);
            let req = op.build_authorized_request(&ctx, now).unwrap();
            assert!(req.headers().get(X_AUTH_TOKEN).is_none());
            assert_eq!(req.headers()["x-sdk-date"], "20250615T150640Z");
            assert_eq!(req.headers()["host"], "kp.example.com");
            assert!(req.headers()["authorization"].is_sensitive());
            let auth = signing::verify(&req, &secret(), now, MAX_SKEW).unwrap();
            assert_eq!(auth.access_key, "AK1");
            let signed: Vec<_> = auth.signed_headers.iter().map(|h| h.as_str()).collect();
            assert_eq!(signed, ["content-type", "host", "user-agent", "x-sdk-date"]);
            assert_eq!(
                req.body(),
                br#"{"user_id":"1008600000104285462","instance_id":"iRJEVP9"}"#
            );
        }

        #[test]
        fn the_signature_covers_body_path_and_time() {
            let ctx = aksk_ctx(AkSkCredentials::new("AK1", secret()).unwrap());
            let now = at(1_750_000_000);
            let op = ShowProgress::new("u", "i").unwrap();
            let mut req = op.build_authorized_request(&ctx, now).unwrap();
            *req.body_mut() = br#"{"user_id":"u","instance_id":"j"}"#.to_vec();
            assert_eq!(
                signing::verify(&req, &secret(), now, MAX_SKEW),
                Err(VerifyError::SignatureMismatch)
            );

            let status = ShowInstanceStatus::new("p", "i-1").unwrap();
            let mut req = status.build_authorized_request(&ctx, now).unwrap();
            *req.uri_mut() = "https://kp.example.com/gw/v1/p/instances/i-2/status"
                .parse()
                .unwrap();
            assert_eq!(
                signing::verify(&req, &secret(), now, MAX_SKEW),
                Err(VerifyError::SignatureMismatch)
            );

            let req = status.build_authorized_request(&ctx, now).unwrap();
            let wrong = SecretKey::new("another-secret").unwrap();
            assert_eq!(
                signing::verify(&req, &wrong, now, MAX_SKEW),
                Err(VerifyError::SignatureMismatch)
            );
            let late = now + MAX_SKEW + Duration::from_secs(1);
            assert!(matches!(
                signing::verify(&req, &secret(), late, MAX_SKEW),
                Err(VerifyError::ClockSkew { .. })
            ));
        }

        #[test]
        fn every_attempt_is_signed_afresh() {
            let ctx = aksk_ctx(AkSkCredentials::new("AK1", secret()).unwrap());
            let op = ShowInstanceStatus::new("p", "i").unwrap();
            let first = op
                .build_authorized_request(&ctx, at(1_750_000_000))
                .unwrap();
            let later = at(1_750_000_000 + 3600);
            let second = op.build_authorized_request(&ctx, later).unwrap();
            assert_ne!(
                first.headers()["x-sdk-date"],
                second.headers()["x-sdk-date"]
            );
            assert_ne!(
                first.headers()["authorization"],
                second.headers()["authorization"]
            );
            signing::verify(&second, &secret(), later, MAX_SKEW).unwrap();
        }

        #[test]
        fn project_id_and_security_token_are_sent_and_signed() {
            let credentials = AkSkCredentials::new("AK1", secret())
                .unwrap()
                .with_project_id("proj-1")
                .unwrap()
                .with_security_token(SecurityToken::new(SESSION).unwrap());
            let ctx = aksk_ctx(credentials);
            let op = ShowInstanceStatus::new("proj-1", "i").unwrap();
            let now = at(1_750_000_000);
            let req = op.build_authorized_request(&ctx, now).unwrap();
            assert_eq!(req.headers()["x-project-id"], "proj-1");
            assert_eq!(req.headers()["x-security-token"], SESSION);
            assert!(req.headers()["x-security-token"].is_sensitive());
            let auth = SignedAuthorization::from_request(&req).unwrap();
            for name in ["x-project-id", "x-security-token"] {
                assert!(auth.signed_headers.iter().any(|h| h == name), "{name}");
            }
            signing::verify(&req, &secret(), now, MAX_SKEW).unwrap();
        }

        #[test]
        fn plain_build_request_leaves_an_aksk_request_unsigned() {
            let ctx = aksk_ctx(AkSkCredentials::new("AK1", secret()).unwrap());
            let req = ShowInstanceStatus::new("p", "i")
                .unwrap()
                .build_request(&ctx)
                .unwrap();
            let names: Vec<_> = req.headers().keys().map(|k| k.as_str()).collect();
            assert_eq!(names, ["user-agent"]);
            assert!(ctx.token().is_none());
        }

        #[test]
        fn a_token_context_authorizes_with_its_token_only() {
            let op = ShowProgress::new("u", "i").unwrap();
            let ctx = ctx("https://h.example");
            let plain = op.build_request(&ctx).unwrap();
            let authorized = op.build_authorized_request(&ctx, at(0)).unwrap();
            assert_eq!(plain.headers(), authorized.headers());
            assert_eq!(authorized.headers()[&X_AUTH_TOKEN], "tok-123");
            assert_eq!(
                authorized.headers().get_all(&X_AUTH_TOKEN).iter().count(),
                1
            );
            let status = ShowInstanceStatus::new("p", "i").unwrap();
            let authorized = status.build_authorized_request(&ctx, at(0)).unwrap();
            assert_eq!(
                status.build_request(&ctx).unwrap().headers(),
                authorized.headers()
            );
            assert!(authorized.headers()[&X_AUTH_TOKEN].is_sensitive());
            assert_eq!(ctx.token().map(Token::expose_secret), Some("tok-123"));

            // A request re-authorized with AK/SK loses the token header.
            let aksk = aksk_ctx(AkSkCredentials::new("AK1", secret()).unwrap());
            let mut req = plain;
            aksk.authorize(&mut req, at(1_750_000_000)).unwrap();
            assert!(req.headers().get(X_AUTH_TOKEN).is_none());
        }

        #[test]
        fn a_time_out_of_range_is_refused_not_panicked_on() {
            let ctx = aksk_ctx(AkSkCredentials::new("AK1", secret()).unwrap());
            let op = ShowProgress::new("u", "i").unwrap();
            let far = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
            let err = op.build_authorized_request(&ctx, far).unwrap_err();
            assert_eq!(err.field, "signing_time");
        }

        #[test]
        fn debug_never_shows_secrets() {
            let credentials = AkSkCredentials::new("AK1", secret())
                .unwrap()
                .with_security_token(SecurityToken::new(SESSION).unwrap());
            let ctx = aksk_ctx(credentials);
            let shown = format!("{ctx:?}");
            assert!(shown.contains("AK1"), "{shown}");
            for secret in [SK, SESSION] {
                assert!(!shown.contains(secret), "{shown}");
            }
            let req = ShowProgress::new("u", "i")
                .unwrap()
                .build_authorized_request(&ctx, at(1_750_000_000))
                .unwrap();
            let shown = format!("{req:?}");
            assert!(!shown.contains(SESSION), "{shown}");
            assert!(!shown.contains(SK), "{shown}");
        }
    }

    #[test]
    fn path_parameters_refuse_dot_segments_and_controls() {
        let err = |p: &str, i: &str| ShowInstanceStatus::new(p, i).unwrap_err();
        assert_eq!(err("..", "i").reason, InvalidReason::DotSegment);
        assert_eq!(err("..", "i").field, "project_id");
        assert_eq!(err("p", ".").field, "instance_id");
        assert_eq!(err("p", "").reason, InvalidReason::Empty);
        assert_eq!(err("p\0", "i").reason, InvalidReason::ControlCharacter);
        assert!(ShowInstanceStatus::new("...", "..a").is_ok());
    }
}
