//! An async driver for `koophone-proto` on tokio, with hyper-util's client
//! and rustls: the "bring your own transport" promise, kept in an example
//! crate so the library crates gain no async dependency.
//!
//! The core builds every request, decodes every response and decides every
//! retry, pause and deadline; this driver only moves bytes and sleeps with
//! [`tokio::time::sleep_until`]. It keeps the blocking driver's safe defaults:
//! no redirect is ever followed (hyper-util's client has no redirect logic,
//! so a 3xx reaches the core, which reports it as an error and the token goes
//! nowhere else), bodies are read through [`http_body_util::Limited`] (1 MiB),
//! and every request has a timeout (30 s, capped at the wait's deadline) and
//! a connect timeout (10 s). TLS is rustls with the webpki roots.
//!
//! Cancellation is dropping the future: the waiter lives inside it, so a
//! dropped call or wait sends nothing more, and a request in flight is
//! abandoned with its connection.
//!
//! ```no_run
//! use koophone_example_tokio::{Client, Config};
//! use koophone_proto::{Endpoint, RequestContext, ShowProgress, Token, UntilReady, WaitPolicy};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let ctx = RequestContext::new(
//!     Endpoint::parse("https://koophone.example.com")?,
//!     Token::new("my-iam-token")?,
//! );
//! let client = Client::new(ctx, Config::default())?;
//! let op = ShowProgress::new("1008600000104285462", "iRJEVP9")?;
//! let now = client.call(op.clone()).await?;
//! println!("now {}", now.status);
//! let ready = client
//!     .wait(op, UntilReady, WaitPolicy::default(), |seen| eprintln!("{:?}", seen.event))
//!     .await?;
//! println!("{} after {} polls", ready.output.status, ready.polls);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
// `ApiError` is returned by value as the core returns it (see koophone-proto).
#![allow(clippy::result_large_err)]

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use koophone_proto::{
    Action, ApiError, Call, CallError, InvalidInput, Jitter, Machine, Observation, Operation,
    PolicyError, RequestContext, Target, TransportErrorKind, WaitError, WaitPolicy, Waiter,
};

/// Transport limits and the retry policy of single calls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// The time one request may take, connecting and reading the body included.
    pub request_timeout: Duration,
    /// The time connecting (TCP and TLS) may take.
    pub connect_timeout: Duration,
    /// The largest response body accepted, in bytes.
    pub body_limit: usize,
    /// How [`Client::call`] retries what the core calls retryable.
    pub call_policy: WaitPolicy,
}

impl Default for Config {
    /// The blocking driver's defaults: 30 s per request, 10 s to connect,
    /// 1 MiB bodies; calls retry twice, 200 ms doubling to 5 s, within 60 s.
    fn default() -> Self {
        Config {
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            body_limit: 1024 * 1024,
            call_policy: WaitPolicy {
                min_interval: Duration::from_millis(200),
                max_interval: Duration::from_secs(5),
                growth: 2.0,
                jitter: Jitter::Equal,
                max_wait: Duration::from_secs(60),
                max_consecutive_errors: 2,
                ..WaitPolicy::default()
            },
        }
    }
}

/// A transport failure: its kind, as the core's waiter classifies it, and
/// hyper's or rustls's error as the source.
#[derive(Debug)]
pub struct TransportError {
    kind: TransportErrorKind,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl TransportError {
    fn new(kind: TransportErrorKind) -> Self {
        TransportError { kind, source: None }
    }

    /// What failed, in the core's terms.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The core's text, the same in every driver.
        fmt::Display::fmt(&self.kind, f)
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

/// Everything a call or a wait can end with other than its answer; `O` is
/// the operation's output.
#[derive(Debug, thiserror::Error)]
pub enum Error<O: fmt::Debug> {
    /// Input refused before anything was sent.
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// A wait policy out of range.
    #[error(transparent)]
    InvalidPolicy(#[from] PolicyError),
    /// The service answered with an error (after any retries).
    #[error(transparent)]
    Api(ApiError),
    /// No usable answer (after any retries).
    #[error(transparent)]
    Transport(TransportError),
    /// While waiting, the instance reached a state it does not leave.
    #[error("the instance reached a failure state: {0:?}")]
    FailedState(O),
    /// The wait's deadline passed; `last` is the latest answer decoded.
    #[error("wait deadline passed after {polls} polls")]
    Deadline {
        /// The latest decoded output, if any.
        last: Option<O>,
        /// Requests sent.
        polls: u32,
    },
}

/// A finished wait: the answer, the requests it took and the time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waited<O> {
    /// The answer that met the target.
    pub output: O,
    /// Requests sent, retries included.
    pub polls: u32,
    /// Time from the start of the wait to its end.
    pub elapsed: Duration,
}

/// The async client: hyper-util's pooled HTTP/1.1 client over rustls, and
/// the context every request is built with. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct Client {
    http: HttpClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    ctx: RequestContext,
    config: Config,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The context's Debug redacts the token.
        f.debug_struct("Client")
            .field("ctx", &self.ctx)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// rustls refused its own configuration (not expected with the ring provider).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up tls: {0}")]
pub struct TlsSetupError(#[from] rustls::Error);

impl Client {
    /// A client for `ctx`'s endpoint and credentials.
    pub fn new(ctx: RequestContext, config: Config) -> Result<Client, TlsSetupError> {
        let mut http = HttpConnector::new();
        // The https wrapper below decides between http and https.
        http.enforce_http(false);
        http.set_connect_timeout(Some(config.connect_timeout));
        http.set_nodelay(true);
        let connector = HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?
            // Endpoint validation already refused plain http to non-loopback hosts.
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let http = HttpClient::builder(TokioExecutor::new()).build(connector);
        Ok(Client { http, ctx, config })
    }

    /// One exchange: send `request` and read its body within `timeout`,
    /// refusing bodies over the limit (up front when `Content-Length` says so).
    pub async fn send(
        &self,
        request: Request<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Response<Vec<u8>>, TransportError> {
        let exchange = async {
            let response = self
                .http
                .request(request.map(|body| Full::new(Bytes::from(body))))
                .await
                .map_err(|e| classified(Box::new(e)))?;
            let (parts, body) = response.into_parts();
            let declared = parts
                .headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            if declared.is_some_and(|len| len > self.config.body_limit as u64) {
                return Err(TransportError::new(TransportErrorKind::BodyTooLarge));
            }
            let body = Limited::new(body, self.config.body_limit)
                .collect()
                .await
                .map_err(classified)?;
            Ok(Response::from_parts(parts, body.to_bytes().to_vec()))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or_else(|_| Err(TransportError::new(TransportErrorKind::Timeout)))
    }

    /// One call of `op`, retried as [`Config::call_policy`] says (the core's
    /// [`Call`] decides what is retried and when, and which failure a call
    /// that ran out of time reports).
    pub async fn call<O: Operation>(&self, op: O) -> Result<O::Output, Error<O::Output>> {
        let mut call = Call::new(op, self.config.call_policy, Instant::now());
        let (outcome, last_transport) = self.drive(&mut call, &mut |_| {}).await?;
        outcome.map_err(|e| match e {
            CallError::Api(e) => Error::Api(e),
            CallError::Transport(kind) => transport_error(kind, last_transport),
        })
    }

    /// Poll `op` until `target` says ready or failed, sleeping as the core's
    /// waiter says; `on_observation` sees every answer, error and transport
    /// failure. The policy is checked first.
    pub async fn wait<O, T>(
        &self,
        op: O,
        target: T,
        policy: WaitPolicy,
        mut on_observation: impl FnMut(&Observation<O::Output>),
    ) -> Result<Waited<O::Output>, Error<O::Output>>
    where
        O: Operation,
        T: Target<O::Output>,
    {
        policy.validate()?;
        let start = Instant::now();
        let mut waiter = Waiter::new(op, target, policy, start);
        let (outcome, last_transport) = self.drive(&mut waiter, &mut on_observation).await?;
        let polls = waiter.polls();
        match outcome {
            Ok(output) => Ok(Waited {
                output,
                polls,
                elapsed: start.elapsed(),
            }),
            Err(WaitError::FailedState(output)) => Err(Error::FailedState(output)),
            Err(WaitError::Deadline { last }) => Err(Error::Deadline { last, polls }),
            Err(WaitError::Api(e)) => Err(Error::Api(e)),
            Err(WaitError::Transport(kind)) => Err(transport_error(kind, last_transport)),
        }
    }

    /// The loop contract, for a [`Call`] and a [`Waiter`] alike: poll; send
    /// when told, sleep until when told, stop when done. Returns the
    /// machine's outcome and the last transport error (kept as the source of
    /// the error reported).
    #[allow(clippy::type_complexity)]
    async fn drive<M: Machine>(
        &self,
        machine: &mut M,
        on_observation: &mut dyn FnMut(&Observation<<M::Op as Operation>::Output>),
    ) -> Result<(M::Outcome, Option<TransportError>), InvalidInput> {
        let mut last_transport = None;
        loop {
            let now = Instant::now();
            match machine.poll(now) {
                Action::Done(outcome) => return Ok((outcome, last_transport)),
                Action::WakeAt(at) => tokio::time::sleep_until(at.into()).await,
                Action::Send => {
                    // Built afresh each attempt: an AK/SK signature is only
                    // accepted for a few minutes around its signing time.
                    let request = machine.request(&self.ctx, SystemTime::now())?;
                    let left = machine.deadline().saturating_duration_since(now);
                    let outcome = self
                        .send(request, left.min(self.config.request_timeout))
                        .await;
                    let now = Instant::now();
                    match outcome {
                        Ok(response) => machine.handle_owned(response, now),
                        Err(e) => {
                            machine.handle_transport_error(e.kind(), now);
                            last_transport = Some(e);
                        }
                    }
                    if let Some(seen) = machine.last_observation() {
                        on_observation(seen);
                    }
                }
            }
        }
    }
}

/// The error to report for `kind`: the one seen, with its source, when it matches.
fn transport_error<O: fmt::Debug>(
    kind: TransportErrorKind,
    last: Option<TransportError>,
) -> Error<O> {
    match last {
        Some(e) if e.kind == kind => Error::Transport(e),
        _ => Error::Transport(TransportError::new(kind)),
    }
}

/// Classify an error from hyper-util's client or from reading a body by
/// walking its source chain: rustls anywhere is `Tls`, the body limit is
/// `BodyTooLarge`, a connect failure is `Connect`, timeouts are `Timeout`,
/// and a connection that broke after it was set up (closed early, garbled
/// answer) is `Reset`.
fn classified(error: Box<dyn StdError + Send + Sync>) -> TransportError {
    let kind = classify(error.as_ref());
    TransportError {
        kind,
        source: Some(error),
    }
}

/// The error behind `error`. An `io::Error` wrapping another error reports
/// that error's *source* as its own, skipping the wrapped error itself (where
/// rustls's error sits), so step into it with `get_ref` instead.
fn next_cause<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    match error.downcast_ref::<io::Error>() {
        Some(io) => io.get_ref().map(|inner| inner as _),
        None => error.source(),
    }
}

fn classify(error: &(dyn StdError + 'static)) -> TransportErrorKind {
    let chain = || std::iter::successors(Some(error), |e| next_cause(*e));
    if chain().any(|e| e.is::<rustls::Error>()) {
        return TransportErrorKind::Tls;
    }
    if chain().any(|e| e.is::<LengthLimitError>()) {
        return TransportErrorKind::BodyTooLarge;
    }
    let connect = error
        .downcast_ref::<hyper_util::client::legacy::Error>()
        .is_some_and(hyper_util::client::legacy::Error::is_connect);
    if connect {
        let timed_out = chain().any(|e| {
            e.downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::TimedOut)
        });
        // hyper-util reports its connect timeout as an io::Error of kind TimedOut.
        return if timed_out {
            TransportErrorKind::Timeout
        } else {
            TransportErrorKind::Connect
        };
    }
    for e in chain() {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return match io.kind() {
                io::ErrorKind::TimedOut => TransportErrorKind::Timeout,
                io::ErrorKind::ConnectionRefused => TransportErrorKind::Connect,
                _ => TransportErrorKind::Reset,
            };
        }
        if let Some(hyper) = e.downcast_ref::<hyper::Error>() {
            if hyper.is_timeout() {
                return TransportErrorKind::Timeout;
            }
            if hyper.is_user() {
                return TransportErrorKind::Other;
            }
            if hyper.is_incomplete_message()
                || hyper.is_closed()
                || hyper.is_canceled()
                || hyper.is_parse()
                || hyper.is_body_write_aborted()
            {
                return TransportErrorKind::Reset;
            }
        }
    }
    TransportErrorKind::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_the_source_chain() {
        let tls = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
        );
        assert_eq!(classify(&tls), TransportErrorKind::Tls);
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(classify(&reset), TransportErrorKind::Reset);
        let timeout = io::Error::from(io::ErrorKind::TimedOut);
        assert_eq!(classify(&timeout), TransportErrorKind::Timeout);
        assert_eq!(
            classify(&fmt::Error),
            TransportErrorKind::Other,
            "unknown errors are not guessed at"
        );
    }

    #[test]
    fn default_call_policy_is_valid() {
        assert_eq!(Config::default().call_policy.validate(), Ok(()));
    }
}
