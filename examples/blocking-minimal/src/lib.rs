//! A minimal blocking driver for `koophone-proto` over [minreq], in about
//! 150 lines: the core builds the request and decides everything else,
//! this file only moves bytes and sleeps. Nothing here (or in the core)
//! needs ureq.
//!
//! What the driver owns, and this one does: a timeout per request (capped at
//! the wait's deadline; minreq counts whole seconds, so it is rounded up),
//! a body limit, no redirects (`X-Auth-Token` must not follow a `Location`
//! to another host: the 3xx goes to the core, which reports it as an error),
//! and telling a broken connection from an answer (minreq returns what
//! arrived before the connection closed, so the `Content-Length` is checked,
//! and reports a connection closed before the status line as a 503 of its own).
//! minreq is built without TLS here: plain http to the loopback simulator is
//! all the example needs (an `https` endpoint fails as `Tls`; turn on
//! minreq's `https-rustls` feature for real use).
//!
//! ```no_run
//! use std::time::{Duration, Instant};
//! use koophone_example_blocking::{MinreqTransport, run};
//! use koophone_proto::{Endpoint, RequestContext, ShowProgress, Token, UntilReady, WaitPolicy, Waiter};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ctx = RequestContext::new(Endpoint::parse("http://127.0.0.1:8080")?, Token::new("sim-token")?);
//! let op = ShowProgress::new("1008600000104285462", "iRJEVP9")?;
//! let mut waiter = Waiter::new(op, UntilReady, WaitPolicy::default(), Instant::now());
//! let progress = run(&mut waiter, &ctx, &MinreqTransport::new(Duration::from_secs(30), 1 << 20))?
//!     .map_err(|e| e.to_string())?;
//! println!("{}", progress.status);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
// The machine's outcome is returned by value, as the core returns it.
#![allow(clippy::result_large_err)]

use std::io::{self, Read};
use std::time::{Duration, Instant, SystemTime};

use http::{Method, Request, Response};
use koophone_proto::{Action, InvalidInput, Machine, RequestContext, TransportErrorKind};

/// What minreq reports, as a made-up 503, when the connection closed before
/// a status line arrived: a reset, not an answer from the service.
const NO_STATUS_LINE: &str = "Server did not provide a status line";

/// One HTTP exchange at a time over minreq (a new connection per request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinreqTransport {
    /// The longest a request may take.
    pub timeout: Duration,
    /// The largest response body accepted, in bytes.
    pub body_limit: u64,
}

impl MinreqTransport {
    /// A transport with this request timeout and body limit.
    pub fn new(timeout: Duration, body_limit: u64) -> Self {
        MinreqTransport {
            timeout,
            body_limit,
        }
    }

    /// Send `request` and read the whole answer within `timeout`.
    pub fn send(
        &self,
        request: &Request<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Response<Vec<u8>>, TransportErrorKind> {
        let method = match request.method() {
            &Method::GET => minreq::Method::Get,
            &Method::POST => minreq::Method::Post,
            other => minreq::Method::Custom(other.to_string()),
        };
        let seconds = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
        let mut out = minreq::Request::new(method, request.uri().to_string())
            .with_follow_redirects(false)
            .with_timeout(seconds.max(1));
        if !request.body().is_empty() {
            out = out.with_body(request.body().clone());
        }
        for (name, value) in request.headers() {
            // minreq always writes `Host` from the URL, which is the endpoint's
            // authority the AK/SK signature covers; a second copy would make
            // the request ambiguous and the signature unverifiable.
            if name == http::header::HOST {
                continue;
            }
            let value = value.to_str().map_err(|_| TransportErrorKind::Other)?;
            out = out.with_header(name.as_str(), value);
        }
        let mut answer = out.send_lazy().map_err(|e| classify(&e))?;
        if answer.headers.is_empty() && answer.reason_phrase == NO_STATUS_LINE {
            return Err(TransportErrorKind::Reset);
        }
        let declared = answer
            .headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, value)| value.trim().parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.body_limit) {
            return Err(TransportErrorKind::BodyTooLarge);
        }
        let mut body = Vec::new();
        (&mut answer)
            .take(self.body_limit.saturating_add(1))
            .read_to_end(&mut body)
            .map_err(|e| classify_io(&e))?;
        if body.len() as u64 > self.body_limit {
            return Err(TransportErrorKind::BodyTooLarge);
        }
        if declared.is_some_and(|len| (body.len() as u64) < len) {
            return Err(TransportErrorKind::Reset);
        }
        let mut response = Response::builder().status(answer.status_code);
        for (name, value) in &answer.headers {
            response = response.header(name.as_str(), value.as_str());
        }
        // A head http cannot represent is a garbled answer.
        response.body(body).map_err(|_| TransportErrorKind::Reset)
    }
}

/// Drive `machine` (a [`koophone_proto::Call`] or a [`koophone_proto::Waiter`])
/// to its end: the core's loop contract. The outcome is the machine's own;
/// the only failure of the loop itself is a request that cannot be built.
pub fn run<M: Machine>(
    machine: &mut M,
    ctx: &RequestContext,
    transport: &MinreqTransport,
) -> Result<M::Outcome, InvalidInput> {
    loop {
        let now = Instant::now();
        match machine.poll(now) {
            Action::Send => {
                // Built afresh each attempt: an AK/SK signature is only
                // accepted for a few minutes around its signing time.
                let request = machine.request(ctx, SystemTime::now())?;
                let left = machine.deadline().saturating_duration_since(now);
                match transport.send(&request, left.min(transport.timeout)) {
                    Ok(response) => machine.handle_owned(response, Instant::now()),
                    Err(kind) => machine.handle_transport_error(kind, Instant::now()),
                }
            }
            Action::WakeAt(at) => std::thread::sleep(at.saturating_duration_since(Instant::now())),
            Action::Done(outcome) => return Ok(outcome),
        }
    }
}

fn classify(error: &minreq::Error) -> TransportErrorKind {
    match error {
        minreq::Error::IoError(e) => classify_io(e),
        minreq::Error::AddressNotFound => TransportErrorKind::Connect,
        minreq::Error::HttpsFeatureNotEnabled => TransportErrorKind::Tls,
        minreq::Error::HeadersOverflow | minreq::Error::StatusLineOverflow => {
            TransportErrorKind::BodyTooLarge
        }
        minreq::Error::MalformedChunkLength
        | minreq::Error::MalformedChunkEnd
        | minreq::Error::MalformedContentLength
        | minreq::Error::InvalidUtf8InResponse => TransportErrorKind::Reset,
        _ => TransportErrorKind::Other,
    }
}

fn classify_io(error: &io::Error) -> TransportErrorKind {
    match error.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => TransportErrorKind::Timeout,
        io::ErrorKind::ConnectionRefused | io::ErrorKind::HostUnreachable => {
            TransportErrorKind::Connect
        }
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => TransportErrorKind::Reset,
        _ => TransportErrorKind::Other,
    }
}
