//! The client: configuration, single calls with retries, and waits, all run
//! by the core's waiter so that backoff, `Retry-After`, deadlines and the
//! error budget are decided in one place.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::{HeaderValue, Response, StatusCode};
use koophone_proto::auth::{AkSkCredentials, IssuedToken};
use koophone_proto::endpoint::{DEFAULT_USER_AGENT, user_agent_header};
use koophone_proto::{
    Action, ApiError, Call, CallError, Endpoint, InstanceStatus, InvalidInput, InvalidReason,
    Jitter, Machine, Observation, Operation, Progress, RequestContext, Retry, ShowInstanceStatus,
    ShowProgress, Target, Token, TransportErrorKind, UntilReady, UntilState, WaitError, WaitPolicy,
    Waiter,
};

use crate::cancel::CancelToken;
use crate::credentials::{ContextSource, Credentials, PrepareIo, TokenSource};
use crate::error::{CredentialsError, Error, IamError};
use crate::iam::IamPassword;
use crate::transport::{Transport, TransportConfig, TransportError};
use crate::wait::{FailedState, Snapshot, WaitDeadline, Waited, snapshot_observation};

/// How single calls retry retryable failures (5xx, 429, `KOOPHONE.API.9999`,
/// connect failures, timeouts, resets — as the core classifies them).
///
/// Pauses grow from `min_backoff` by doubling up to `max_backoff`, with
/// jitter; a `Retry-After` is honoured as a floor. Retrying stops after
/// `retries` extra attempts, or when the next attempt would start after
/// `max_elapsed`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Extra attempts after the first; 0 disables retries.
    pub retries: u32,
    /// The first pause, and the shortest.
    pub min_backoff: Duration,
    /// The longest pause the backoff grows to (a longer `Retry-After` still wins).
    pub max_backoff: Duration,
    /// The time budget of one call, retries and pauses included; a request
    /// running when it ends is cut short, so keep it above the request timeout.
    pub max_elapsed: Duration,
    /// How pauses are spread between clients.
    pub jitter: Jitter,
}

impl Default for RetryPolicy {
    /// 2 retries, 200 ms doubling to 5 s, equal jitter, at most 60 s per call.
    fn default() -> Self {
        RetryPolicy {
            retries: 2,
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            max_elapsed: Duration::from_secs(60),
            jitter: Jitter::Equal,
        }
    }
}

impl RetryPolicy {
    /// No retries: every failure is returned as it happens.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// The policy a single call ([`Call`]) runs under.
    pub fn to_wait_policy(&self) -> WaitPolicy {
        WaitPolicy {
            min_interval: self.min_backoff,
            max_interval: self.max_backoff,
            growth: 2.0,
            jitter: self.jitter,
            max_wait: self.max_elapsed,
            max_consecutive_errors: self.retries,
            // A single call has no pending answers to space out.
            max_pause_fraction: None,
            seed: 0,
        }
    }
}

/// Builds a [`Client`]; see [`Client::builder`].
///
/// `Debug` never shows the token.
#[derive(Debug, Default)]
pub struct ClientBuilder {
    endpoint: Option<Result<Endpoint, InvalidInput>>,
    credentials: Option<Credentials>,
    user_agent: Option<String>,
    transport: TransportConfig,
    retry: RetryPolicy,
    cancel: Option<CancelToken>,
}

impl ClientBuilder {
    /// Where requests go (required).
    pub fn endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoint = Some(Ok(endpoint));
        self
    }

    /// Where requests go, as a URL checked by [`Endpoint::parse`] when the
    /// client is built: `https`, or plain `http` to a loopback host.
    pub fn endpoint_url(mut self, url: &str) -> Self {
        self.endpoint = Some(Endpoint::parse(url));
        self
    }

    /// Authenticate with one fixed token.
    pub fn token(self, token: Token) -> Self {
        self.credentials(Credentials::Token(token))
    }

    /// Authenticate with a token asked for before every attempt, so the
    /// caller can refresh it. The callback should return quickly.
    pub fn token_source<F>(self, source: F) -> Self
    where
        F: Fn() -> Result<Token, CredentialsError> + Send + Sync + 'static,
    {
        self.credentials(Credentials::TokenSource(TokenSource::new(source)))
    }

    /// Sign every request with AK/SK credentials (`SDK-HMAC-SHA256`),
    /// afresh for every attempt; no token is sent.
    pub fn aksk(self, credentials: AkSkCredentials) -> Self {
        self.credentials(Credentials::AkSk(credentials))
    }

    /// Authenticate with tokens IAM issues for a user's password: fetched on
    /// first use, cached and shared by the client's threads, refreshed before
    /// they expire by one thread while the others wait or keep the current
    /// token; a 401 from the service gets one more try with a new token.
    /// A failure to get a token ends the call with [`Error::Iam`], after the
    /// retries of the [`RetryPolicy`] when it is retryable.
    pub fn iam_password(self, iam: IamPassword) -> Self {
        self.credentials(Credentials::IamPassword(iam))
    }

    /// Authenticate with these credentials (required, or use `token`,
    /// `token_source`, `aksk` or `iam_password`).
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The `User-Agent` header (default `koophone/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// The time one request may take, from connecting to the end of its body
    /// (default 30 s). Waits also cut a request short at their deadline.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.transport.request_timeout = timeout;
        self
    }

    /// The time connecting (DNS, TCP, TLS, proxy) may take (default 10 s,
    /// never more than the request timeout).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.transport.connect_timeout = timeout;
        self
    }

    /// The largest response body accepted, in bytes (default 1 MiB). A larger
    /// one ends the attempt with a `BodyTooLarge` transport error, without
    /// reading more than the limit.
    pub fn body_limit(mut self, bytes: u64) -> Self {
        self.transport.body_limit = bytes;
        self
    }

    /// Whether to use a proxy from `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`
    /// (honouring `NO_PROXY`), as ureq does by default (default true).
    pub fn proxy_from_env(mut self, enabled: bool) -> Self {
        self.transport.proxy_from_env = enabled;
        self
    }

    /// How single calls retry (default: [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Idle keep-alive connections kept per host (default 16), for clients
    /// shared by many threads.
    pub fn max_idle_connections_per_host(mut self, n: usize) -> Self {
        self.transport.max_idle_connections_per_host = n;
        self.transport.max_idle_connections = self.transport.max_idle_connections.max(n);
        self
    }

    /// Stop every call and wait of the built client when this token is cancelled.
    pub fn cancel_token(mut self, token: CancelToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Check the settings and build the client. Fails with
    /// [`Error::InvalidInput`] on a missing or bad endpoint, missing
    /// credentials, a bad user agent or a zero timeout, and with
    /// [`Error::InvalidPolicy`] on a retry policy out of range.
    pub fn build(self) -> Result<Client, Error> {
        let endpoint = self.endpoint.unwrap_or(Err(InvalidInput {
            field: "endpoint",
            reason: InvalidReason::Empty,
        }))?;
        let credentials = self.credentials.ok_or(InvalidInput {
            field: "credentials",
            reason: InvalidReason::Empty,
        })?;
        self.transport.validate()?;
        let retry = self.retry.to_wait_policy();
        retry.validate()?;
        let iam_user_agent = iam_user_agent(self.user_agent.as_deref())?;
        if let Credentials::IamPassword(iam) = &credentials {
            // Refuse now what could only fail at the first refresh.
            iam.request()
                .build_request(iam.endpoint(), &iam_user_agent)?;
        }
        let context = ContextSource::new(credentials, endpoint, self.user_agent)?;
        Ok(Client {
            inner: Arc::new(Inner {
                transport: Transport::new(&self.transport, Some(context.endpoint())),
                context,
                retry,
                request_timeout: self.transport.request_timeout,
                iam_user_agent,
                config: self.transport,
            }),
            cancel: self.cancel,
        })
    }

    /// Issue one project-scoped token with the IAM password credentials
    /// given to this builder, using its transport settings (timeouts, proxy,
    /// user agent); no service endpoint is needed. Retried per the builder's
    /// [`RetryPolicy`] like any call (within its `max_elapsed`).
    /// This is how a program gets a token to hand on (`koophone token`); a
    /// client built with the same credentials manages its tokens itself.
    pub fn issue_token(self) -> Result<IssuedToken, Error> {
        let Some(Credentials::IamPassword(iam)) = &self.credentials else {
            return Err(InvalidInput {
                field: "iam_password",
                reason: InvalidReason::Empty,
            }
            .into());
        };
        self.transport.validate()?;
        let user_agent = iam_user_agent(self.user_agent.as_deref())?;
        let transport = Transport::new(&self.transport, None);
        let retry = self.retry.to_wait_policy();
        retry.validate()?;
        let cancelled = || self.cancel.as_ref().is_some_and(CancelToken::is_cancelled);
        if cancelled() {
            return Err(Error::Cancelled);
        }
        let sleep = |at: Instant| match &self.cancel {
            Some(token) => !token.sleep_until(at),
            None => {
                std::thread::sleep(at.saturating_duration_since(Instant::now()));
                true
            }
        };
        let deadline = Instant::now() + retry.max_wait;
        let issued = issue_retrying(
            &transport,
            iam,
            &user_agent,
            &retry,
            self.transport.request_timeout,
            deadline,
            &sleep,
        );
        match issued {
            Ok(issued) => Ok(issued),
            Err(_) if cancelled() => Err(Error::Cancelled),
            Err(e) => Err(Error::Iam(Box::new(e))),
        }
    }
}

/// The user agent of IAM token requests: the client's own.
fn iam_user_agent(user_agent: Option<&str>) -> Result<HeaderValue, InvalidInput> {
    match user_agent {
        Some(ua) => user_agent_header(ua),
        None => Ok(HeaderValue::from_static(DEFAULT_USER_AGENT)),
    }
}

/// IAM token requests retried like any other request: a failure the core
/// calls retryable ([`ApiError::is_retryable`], a retryable transport
/// kind) is tried again after the policy's backoff (a `Retry-After` is a
/// floor), at most `retry.max_consecutive_errors` more times, and never past
/// `deadline`: no request outlives it and no pause ends after it. `sleep`
/// pauses until an instant and returns false when the call was cancelled;
/// the last failure is returned then, as when retrying stops.
fn issue_retrying(
    transport: &Transport,
    iam: &IamPassword,
    user_agent: &HeaderValue,
    retry: &WaitPolicy,
    request_timeout: Duration,
    deadline: Instant,
    sleep: &dyn Fn(Instant) -> bool,
) -> Result<IssuedToken, IamError> {
    let mut retries = Retry::new(*retry);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(IamError::Transport(TransportError::new(
                TransportErrorKind::Timeout,
            )));
        }
        let timeout = (left < request_timeout).then_some(left);
        let failure = match issue(transport, iam, user_agent, timeout) {
            Ok(issued) => return Ok(issued),
            Err(failure) => failure,
        };
        let pause = match &failure {
            IamError::Refused(e) => retries.after_error(e),
            IamError::Transport(t) => retries.after_transport_error(t.kind()),
            IamError::InvalidInput(_) | IamError::AlreadyExpired => None,
        };
        let Some(pause) = pause else {
            return Err(failure);
        };
        let wake = Instant::now() + pause;
        if wake >= deadline || !sleep(wake) {
            return Err(failure);
        }
    }
}

/// One IAM token request: `timeout` shortens the transport's request timeout.
fn issue(
    transport: &Transport,
    iam: &IamPassword,
    user_agent: &HeaderValue,
    timeout: Option<Duration>,
) -> Result<IssuedToken, IamError> {
    #[cfg(feature = "tracing")]
    let span = tracing::debug_span!(
        "koophone.iam",
        operation = koophone_proto::auth::IssueProjectToken::NAME,
        status = tracing::field::Empty,
    )
    .entered();
    // The body holds the password: the request is never logged.
    let request = iam
        .request()
        .build_request(iam.endpoint(), user_agent)
        .map_err(IamError::InvalidInput)?;
    let response = transport
        .round_trip(request, timeout)
        .map_err(IamError::Transport)?;
    #[cfg(feature = "tracing")]
    span.record("status", response.status().as_u16());
    let decoded: Result<IssuedToken, ApiError> = iam.request().decode_owned(response);
    decoded.map_err(|e| IamError::Refused(Box::new(e)))
}

/// A blocking client for ShowProgress and ShowInstanceStatus.
///
/// Cheap to clone (one `Arc`), `Send + Sync`: share one client between
/// threads so they share its keep-alive connections. `Debug` never shows the token.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    cancel: Option<CancelToken>,
}

struct Inner {
    transport: Transport,
    context: ContextSource,
    retry: WaitPolicy,
    request_timeout: Duration,
    /// Sent with IAM token requests (the client's user agent).
    iam_user_agent: HeaderValue,
    config: TransportConfig,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `context` prints the endpoint and user agent; tokens print redacted.
        f.debug_struct("Client")
            .field("context", &self.inner.context)
            .field("transport", &self.inner.config)
            .field("retry", &self.inner.retry)
            .field("cancel", &self.cancel)
            .finish()
    }
}

/// The callback a wait passes every observation to.
type OnObservation<'a, T> = &'a mut dyn FnMut(&Observation<T>);

/// Builds and signs one request from a prepared context, as of a wall-clock time.
pub(crate) type BuildRequest<'a> =
    dyn FnMut(&RequestContext, SystemTime) -> Result<http::Request<Vec<u8>>, InvalidInput> + 'a;

impl Client {
    /// Start configuring a client.
    ///
    /// ```
    /// # fn main() -> Result<(), koophone_ureq::Error> {
    /// use std::time::Duration;
    /// use koophone_ureq::{Client, Token};
    ///
    /// let client = Client::builder()
    ///     .endpoint_url("https://koophone.example.com")
    ///     .token(Token::new("my-iam-token")?)
    ///     .timeout(Duration::from_secs(10))
    ///     .build()?;
    /// assert!(!format!("{client:?}").contains("my-iam-token"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A clone of this client whose calls and waits stop when `token` is cancelled.
    pub fn with_cancel_token(&self, token: CancelToken) -> Client {
        Client {
            inner: Arc::clone(&self.inner),
            cancel: Some(token),
        }
    }

    /// One ShowProgress call, retried per the [`RetryPolicy`].
    pub fn show_progress(&self, op: &ShowProgress) -> Result<Progress, Error> {
        self.call(op)
    }

    /// One ShowInstanceStatus call, retried per the [`RetryPolicy`].
    pub fn show_instance_status(&self, op: &ShowInstanceStatus) -> Result<InstanceStatus, Error> {
        self.call(op)
    }

    /// Any operation, once, retried per the [`RetryPolicy`]: the core's
    /// [`Call`] machine decides what is retried, how long to pause, and which
    /// failure to report when time runs out.
    pub fn call<O: Operation>(&self, op: &O) -> Result<O::Output, Error> {
        #[cfg(feature = "tracing")]
        let _span = tracing::info_span!("koophone.call", operation = O::NAME).entered();
        let start = Instant::now();
        let mut call = Call::new(op, self.inner.retry, start);
        let (outcome, last_transport) = self.drive(&mut call, start, None)?;
        outcome.map_err(|e| match e {
            CallError::Api(e) => e.into(),
            CallError::Transport(kind) => transport_error(kind, last_transport),
        })
    }

    /// Poll ShowProgress until the phone is `normal` (through queuing and
    /// restoring); a `failed` status ends the wait with [`Error::FailedState`].
    /// `on_observation` sees every answer, error and transport failure.
    pub fn wait_until_ready(
        &self,
        op: ShowProgress,
        policy: WaitPolicy,
        on_observation: impl FnMut(&Observation<Progress>),
    ) -> Result<Waited<Progress>, Error> {
        self.wait(op, UntilReady, policy, on_observation)
    }

    /// Poll ShowInstanceStatus until the instance reaches `target`'s state;
    /// its failure states (by default `error`, `failed`, `terminated`) end
    /// the wait with [`Error::FailedState`].
    pub fn wait_for_state(
        &self,
        op: ShowInstanceStatus,
        target: UntilState,
        policy: WaitPolicy,
        on_observation: impl FnMut(&Observation<InstanceStatus>),
    ) -> Result<Waited<InstanceStatus>, Error> {
        self.wait(op, target, policy, on_observation)
    }

    /// Poll any operation until `target` says ready or failed, sleeping as
    /// the core's waiter says. The policy is checked first
    /// ([`WaitPolicy::validate`]).
    pub fn wait<O, T>(
        &self,
        op: O,
        target: T,
        policy: WaitPolicy,
        mut on_observation: impl FnMut(&Observation<O::Output>),
    ) -> Result<Waited<O::Output>, Error>
    where
        O: Operation,
        T: Target<O::Output>,
    {
        #[cfg(feature = "tracing")]
        let _span = tracing::info_span!("koophone.wait", operation = O::NAME).entered();
        policy.validate()?;
        let start = Instant::now();
        let mut waiter = Waiter::new(op, target, policy, start);
        let (outcome, last_transport) =
            self.drive(&mut waiter, start, Some(&mut on_observation))?;
        wait_result(outcome, &waiter, start.elapsed(), last_transport)
    }

    /// Run a machine's loop: send when it says send, sleep (cancellably)
    /// when it says wake later, stop when it says done; returns its outcome
    /// and the last transport error seen (ureq's error, the source of the
    /// error reported). `now` is when the machine was started; the clock is
    /// read again only after something that takes time (a sleep, a request,
    /// the caller's callback), which keeps a single call to two clock reads.
    fn drive<M: Machine>(
        &self,
        machine: &mut M,
        mut now: Instant,
        mut on_observation: Option<OnObservation<'_, <M::Op as Operation>::Output>>,
    ) -> Result<(M::Outcome, Option<TransportError>), Error> {
        let mut last_transport = None;
        loop {
            self.check_cancelled()?;
            match machine.poll(now) {
                Action::Done(outcome) => return Ok((outcome, last_transport)),
                Action::WakeAt(at) => {
                    self.sleep_until(at)?;
                    now = Instant::now();
                }
                Action::Send => {
                    let deadline = machine.deadline();
                    let attempt = machine.attempts();
                    let outcome = self.attempt(
                        deadline,
                        <M::Op as Operation>::NAME,
                        attempt,
                        now,
                        &mut |ctx, wall| machine.request(ctx, wall),
                    )?;
                    now = Instant::now();
                    match outcome {
                        Ok(response) => machine.handle_owned(response, now),
                        Err(e) => {
                            machine.handle_transport_error(e.kind(), now);
                            last_transport = Some(e);
                        }
                    }
                    if let (Some(on_observation), Some(observation)) =
                        (on_observation.as_mut(), machine.last_observation())
                    {
                        on_observation(observation);
                        now = Instant::now();
                    }
                }
            }
        }
    }

    /// One request: fresh context (re-reading a token source, leasing an
    /// IAM token), built and authorized by `build` (a machine's or a fleet's
    /// `request`: an AK/SK signature as of now), sent, body read. A 401 to an
    /// IAM token is sent once more with a new token. No request outlives
    /// `deadline` (the machine's, or the fleet instance's). `now` is the
    /// time the machine decided to send; it stands for the time the request
    /// starts unless preparing it could block (a token source, IAM).
    /// `operation` and `attempt` name the request in the tracing span.
    pub(crate) fn attempt(
        &self,
        deadline: Instant,
        #[cfg_attr(not(feature = "tracing"), allow(unused_variables))] operation: &'static str,
        #[cfg_attr(not(feature = "tracing"), allow(unused_variables))] attempt: u32,
        now: Instant,
        build: &mut BuildRequest<'_>,
    ) -> Result<Result<Response<Vec<u8>>, TransportError>, Error> {
        #[cfg(feature = "tracing")]
        let span = tracing::debug_span!(
            "koophone.attempt",
            operation = operation,
            attempt = attempt,
            status = tracing::field::Empty,
        )
        .entered();
        let sleep = |at: Instant| self.sleep_until(at).is_ok();
        let issue = |iam: &IamPassword| {
            issue_retrying(
                &self.inner.transport,
                iam,
                &self.inner.iam_user_agent,
                &self.inner.retry,
                self.inner.request_timeout,
                deadline,
                &sleep,
            )
        };
        let cancelled = || self.check_cancelled().is_err();
        let io = PrepareIo {
            issue: &issue,
            cancelled: &cancelled,
            deadline,
        };
        let mut retried = false;
        loop {
            let prepared = match self.inner.context.prepare(&io) {
                Ok(prepared) => prepared,
                Err(e) => {
                    // A token request cut short by a cancel ends as cancelled.
                    self.check_cancelled()?;
                    return Err(e);
                }
            };
            // A fixed context is borrowed and took no time to prepare.
            let start = match (&prepared.context, retried) {
                (Cow::Borrowed(_), false) => now,
                _ => Instant::now(),
            };
            let request = build(&prepared.context, SystemTime::now())?;
            let outcome = self
                .inner
                .transport
                .round_trip(request, self.timeout_until(deadline, start));
            #[cfg(feature = "tracing")]
            match &outcome {
                Ok(response) => {
                    span.record("status", response.status().as_u16());
                }
                Err(e) => tracing::debug!(error = %e, "attempt failed"),
            }
            if let (Some(lease), Ok(response)) = (prepared.lease, &outcome) {
                let refused = response.status() == StatusCode::UNAUTHORIZED;
                let retry = self.inner.context.report(lease, refused);
                if retry && !retried && Instant::now() < deadline {
                    retried = true;
                    self.check_cancelled()?;
                    continue;
                }
            }
            return Ok(outcome);
        }
    }

    /// The request timeout to set so a request starting at `now` ends by
    /// `deadline`: `None` (the client's own) when that is sooner anyway.
    fn timeout_until(&self, deadline: Instant, now: Instant) -> Option<Duration> {
        let left = deadline.saturating_duration_since(now);
        (left < self.inner.request_timeout).then_some(left)
    }

    pub(crate) fn check_cancelled(&self) -> Result<(), Error> {
        match &self.cancel {
            Some(token) if token.is_cancelled() => Err(Error::Cancelled),
            _ => Ok(()),
        }
    }

    fn sleep_until(&self, at: Instant) -> Result<(), Error> {
        match &self.cancel {
            Some(token) => {
                if token.sleep_until(at) {
                    Err(Error::Cancelled)
                } else {
                    Ok(())
                }
            }
            None => {
                std::thread::sleep(at.saturating_duration_since(Instant::now()));
                Ok(())
            }
        }
    }
}

/// A finished wait as the client reports it, single or in a fleet:
/// `waiter` says how many polls it took and what it saw last, and
/// `last_transport` is the transport error behind a transport outcome.
pub(crate) fn wait_result<O, T>(
    outcome: Result<O::Output, WaitError<O::Output>>,
    waiter: &Waiter<O, T>,
    elapsed: Duration,
    last_transport: Option<TransportError>,
) -> Result<Waited<O::Output>, Error>
where
    O: Operation,
    T: Target<O::Output>,
{
    let polls = waiter.polls();
    match outcome {
        Ok(output) => Ok(Waited {
            output,
            polls,
            elapsed,
        }),
        Err(WaitError::Api(e)) => Err(e.into()),
        Err(WaitError::Transport(kind)) => Err(transport_error(kind, last_transport)),
        Err(WaitError::FailedState(state)) => Err(Error::FailedState(Box::new(FailedState {
            state: Snapshot::new(state),
            polls,
            elapsed,
        }))),
        Err(WaitError::Deadline { last }) => Err(Error::WaitDeadline(Box::new(WaitDeadline {
            polls,
            elapsed,
            last_output: last.map(Snapshot::new),
            last: waiter.last_observation().map(snapshot_observation),
        }))),
    }
}

/// The transport error to report for `kind`: the one seen, with ureq's error
/// as its source, when it matches.
fn transport_error(
    kind: koophone_proto::TransportErrorKind,
    last: Option<TransportError>,
) -> Error {
    match last {
        Some(e) if e.kind() == kind => e.into(),
        _ => TransportError::new(kind).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}

    fn assert_error_is_boxable<E: std::error::Error + Send + Sync + 'static>() {}

    #[test]
    fn client_is_send_sync_and_clone() {
        assert_send_sync_clone::<Client>();
        assert_send_sync_clone::<CancelToken>();
        assert_error_is_boxable::<Error>();
    }

    #[test]
    fn default_retry_policy_is_valid_and_matches_its_docs() {
        let policy = RetryPolicy::default().to_wait_policy();
        assert_eq!(policy.validate(), Ok(()));
        assert_eq!(policy.max_consecutive_errors, 2);
        assert_eq!(policy.min_interval, Duration::from_millis(200));
        assert_eq!(
            RetryPolicy::none().to_wait_policy().max_consecutive_errors,
            0
        );
    }

    #[test]
    fn build_refuses_missing_or_bad_settings() {
        let token = || Token::new("t").unwrap();
        let base = || {
            Client::builder()
                .endpoint_url("https://example.com")
                .token(token())
        };
        // Each builder and the input field it is refused for.
        let cases = [
            (Client::builder().token(token()), "endpoint"),
            (
                Client::builder().endpoint_url("https://example.com"),
                "credentials",
            ),
            (base().timeout(Duration::ZERO), "timeout"),
            (base().user_agent("bad\nagent"), "user_agent"),
        ];
        for (builder, field) in cases {
            let err = builder.build().unwrap_err();
            assert!(
                matches!(err, Error::InvalidInput(InvalidInput { field: f, .. }) if f == field),
                "{field}: {err:?}"
            );
        }
        // Plain http only to a loopback host.
        let err = Client::builder()
            .endpoint_url("http://example.com")
            .token(token())
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), "invalid_input");
        let err = base()
            .retry_policy(RetryPolicy {
                min_backoff: Duration::ZERO,
                ..RetryPolicy::default()
            })
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::InvalidPolicy(_)), "{err:?}");
    }

    #[test]
    fn debug_never_shows_the_token() {
        let secret = "super-secret-token-value";
        let client = Client::builder()
            .endpoint_url("https://example.com")
            .token(Token::new(secret).unwrap())
            .build()
            .unwrap();
        let shown = format!(
            "{client:?} {:?}",
            Client::builder().token(Token::new(secret).unwrap())
        );
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains("example.com"), "{shown}");
        let dynamic = Client::builder()
            .endpoint_url("https://example.com")
            .token_source(move || Token::new(secret).map_err(CredentialsError::new))
            .build()
            .unwrap();
        assert!(!format!("{dynamic:?}").contains(secret));

        let aksk = koophone_proto::auth::AkSkCredentials::new(
            "AK1",
            koophone_proto::auth::SecretKey::new(secret).unwrap(),
        )
        .unwrap();
        let builder = Client::builder()
            .endpoint_url("https://example.com")
            .aksk(aksk);
        let mut shown = format!("{builder:?}");
        shown.push_str(&format!("{:?}", builder.build().unwrap()));
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains("AK1"), "{shown}");
    }
}
