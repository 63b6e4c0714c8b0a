//! The server adapter: the sans-IO core on a real HTTP/1.1 server (hyper),
//! on its own thread and tokio runtime, with graceful shutdown.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, HeaderValue};
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};

use crate::scenario::{Scenario, ScenarioError, TokenSpec};
use crate::shared_simulator::SharedSimulator;
use crate::simulator::{ConnectionFault, LoggedRequest, RequestCounts, SimResponse, Simulator};

/// How long shutdown waits for requests in flight before closing anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Default of [`SimBuilder::header_read_timeout`]: a real client sends a
/// head in one go; only a stalled or hostile one takes seconds.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of [`SimBuilder::idle_timeout`]: well above the 15 s a waiter
/// pauses at most by default, so its keep-alive connection is not cut
/// between polls.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default of [`SimBuilder::max_connections`]: well under the usual limit of
/// 1024 open files, far above what a test or a fleet of waiters holds.
const MAX_CONNECTIONS: usize = 512;
/// Written to a connection over [`SimBuilder::max_connections`] before it is
/// closed: a client that reads it sees a retryable answer, not a mystery.
const OVER_CAPACITY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario is invalid.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The runtime or its thread could not be started.
    #[error("cannot start the simulator's runtime: {0}")]
    Runtime(std::io::Error),
}

/// Entry point of the server adapter.
#[derive(Debug)]
pub struct Sim;

impl Sim {
    /// Starts a server for `scenario` on 127.0.0.1, port chosen by the OS,
    /// seed 0.
    pub fn start(scenario: Scenario) -> Result<SimHandle, SimError> {
        Self::builder().scenario(scenario).start()
    }

    /// A builder with the built-in scenario, seed 0, 127.0.0.1 port 0.
    pub fn builder() -> SimBuilder {
        SimBuilder {
            scenario: Scenario::default(),
            seed: 0,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            tokens: Vec::new(),
            worker_threads: 2,
            wall_clock_origin: None,
            limits: ConnectionLimits {
                header_read_timeout: HEADER_READ_TIMEOUT,
                idle_timeout: IDLE_TIMEOUT,
                max_connections: MAX_CONNECTIONS,
            },
        }
    }
}

/// What one client may hold of the server: see the [`SimBuilder`] methods.
#[derive(Debug, Clone, Copy)]
struct ConnectionLimits {
    header_read_timeout: Duration,
    idle_timeout: Duration,
    max_connections: usize,
}

/// Settings of a simulator server.
#[derive(Debug, Clone)]
pub struct SimBuilder {
    scenario: Scenario,
    seed: u64,
    listen: SocketAddr,
    tokens: Vec<TokenSpec>,
    worker_threads: usize,
    wall_clock_origin: Option<SystemTime>,
    limits: ConnectionLimits,
}

impl SimBuilder {
    /// The scenario to serve (default: [`Scenario::default`]).
    pub fn scenario(mut self, scenario: Scenario) -> Self {
        self.scenario = scenario;
        self
    }

    /// The seed of faults and request ids (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Where to listen (default 127.0.0.1:0; port 0 lets the OS choose).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Accept this token instead of the scenario's tokens; call again to
    /// accept several.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.tokens.push(TokenSpec::new(token));
        self
    }

    /// The wall-clock time the server's start maps to (default: the
    /// scenario's `wall_clock_origin`, else the real time at start). Token
    /// expiry times and the `X-Sdk-Date` check follow it.
    pub fn wall_clock_origin(mut self, origin: SystemTime) -> Self {
        self.wall_clock_origin = Some(origin);
        self
    }

    /// How long a client may take to send a request head, from its first
    /// byte to the blank line that ends it, and then its body (default
    /// 10 s each); a slower sender is disconnected without an answer.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.limits.header_read_timeout = timeout;
        self
    }

    /// How long a connection may sit with no request under way, just opened
    /// or kept alive after its last response (default 60 s), before the
    /// server closes it.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.limits.idle_timeout = timeout;
        self
    }

    /// How many connections may be open at once (default 512, at least 1).
    /// One more is answered `503` with `connection: close` at once (without
    /// reading its request) and closed, so it fails fast instead of waiting
    /// in the listen backlog; connections that close make room again.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.limits.max_connections = n.max(1);
        self
    }

    /// Runtime worker threads (default 2, at least 1).
    pub fn worker_threads(mut self, n: usize) -> Self {
        self.worker_threads = n.max(1);
        self
    }

    /// Binds, starts serving on a background thread and returns once the
    /// server accepts connections.
    pub fn start(self) -> Result<SimHandle, SimError> {
        let mut scenario = self.scenario;
        if !self.tokens.is_empty() {
            scenario.tokens = self.tokens;
        }
        // Read before the wall clock, so the server's wall clock
        // (origin + elapsed) never runs behind the real one.
        let origin = Instant::now();
        let wall_clock_origin = self
            .wall_clock_origin
            .or(scenario.wall_clock_origin)
            .unwrap_or_else(SystemTime::now);
        scenario.wall_clock_origin = Some(wall_clock_origin);
        let simulator = Simulator::new(scenario, self.seed)?;
        let max_body = simulator.max_body_bytes();
        let shared = SharedSimulator::new(simulator);
        let listener = StdTcpListener::bind(self.listen).map_err(|source| SimError::Bind {
            addr: self.listen,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: self.listen,
            source,
        })?;
        listener.set_nonblocking(true).map_err(SimError::Runtime)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.worker_threads)
            .thread_name("koophone-sim")
            .enable_all()
            .build()
            .map_err(SimError::Runtime)?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let server = Server {
            shared: shared.clone(),
            origin,
            max_body,
            limits: self.limits,
        };
        let thread = std::thread::Builder::new()
            .name("koophone-sim-server".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    // from_std only fails outside a runtime, and this is inside one.
                    if let Ok(listener) = TcpListener::from_std(listener) {
                        server.run(listener, stop_rx).await;
                    }
                });
            })
            .map_err(SimError::Runtime)?;
        Ok(SimHandle {
            addr,
            base_url: format!("http://{addr}"),
            shared,
            origin,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

/// A running simulator server. Dropping it shuts the server down gracefully
/// (as [`SimHandle::shutdown`] does).
pub struct SimHandle {
    addr: SocketAddr,
    base_url: String,
    shared: SharedSimulator,
    origin: Instant,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// The bound address (with the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The most recent requests, oldest first. It holds header values,
    /// tokens included: a test server's log.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.shared.request_log()
    }

    /// Forgets the logged requests.
    pub fn clear_request_log(&self) {
        self.shared.clear_request_log();
    }

    /// Requests per whole second since the server started, with how many
    /// got 429 or 5xx: see [`Simulator::requests_per_second`].
    pub fn requests_per_second(&self) -> Vec<(u64, RequestCounts)> {
        self.shared.requests_per_second()
    }

    /// The simulator core behind the server (for oracles such as
    /// [`Simulator::koophone_reaches`]).
    pub fn simulator(&self) -> &SharedSimulator {
        &self.shared
    }

    /// Time since the server started: the simulator's clock.
    pub fn elapsed(&self) -> Duration {
        self.origin.elapsed()
    }

    /// The wall-clock time the server's start maps to.
    pub fn wall_clock_origin(&self) -> SystemTime {
        self.shared.lock().wall_clock_origin()
    }

    /// The server's wall-clock time now: what IAM's `expires_at` and the
    /// `X-Sdk-Date` check are measured against.
    pub fn wall_clock(&self) -> SystemTime {
        let at = self.elapsed();
        self.shared.lock().wall_clock(at)
    }

    /// Stops accepting, lets requests in flight finish (at most 5 s), closes
    /// idle keep-alive connections and waits for the server thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The server may already be gone; nothing to tell it then.
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panicked server thread has nothing left to clean up.
            let _ = thread.join();
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

#[derive(Clone)]
struct Server {
    shared: SharedSimulator,
    origin: Instant,
    max_body: usize,
    limits: ConnectionLimits,
}

/// Returned by the service to make hyper close the connection without a
/// response: the dropped-connection fault.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by fault injection")]
struct DroppedConnection;

impl Server {
    async fn run(self, listener: TcpListener, mut stop: oneshot::Receiver<()>) {
        let graceful = GracefulShutdown::new();
        let slots = Arc::new(Semaphore::new(self.limits.max_connections));
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let stream = match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => {
                            // Out of file descriptors and the like: back off
                            // instead of spinning.
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    };
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        // Best effort and never waiting: the socket is new,
                        // its send buffer empty.
                        let _ = stream.try_write(OVER_CAPACITY);
                        drop(stream);
                        continue;
                    };
                    // Latency matters more than packet count on loopback.
                    let _ = stream.set_nodelay(true);
                    let activity = Arc::new(Activity::new());
                    let server = self.clone();
                    let on_request = activity.clone();
                    let service = service_fn(move |req| {
                        on_request.request_started();
                        server.clone().respond(req, on_request.clone())
                    });
                    // The connection's own watchdog enforces both timeouts;
                    // hyper's header timer would also count idle time.
                    let conn = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(None)
                        .serve_connection(
                            TokioIo::new(Watched { io: stream, activity: activity.clone() }),
                            service,
                        );
                    let conn = graceful.watch(conn);
                    let limits = self.limits;
                    tokio::spawn(async move {
                        tokio::select! {
                            // Connection errors (client gone, bad bytes,
                            // faults) end that connection only.
                            _ = conn => {}
                            // Dropping the connection closes the socket.
                            () = activity.expired(limits) => {}
                        }
                        drop(slot);
                    });
                }
                _ = &mut stop => break,
            }
        }
        drop(listener);
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
    }

    async fn respond(
        self,
        request: Request<Incoming>,
        activity: Arc<Activity>,
    ) -> Result<Response<SimBody>, DroppedConnection> {
        let response = self.answer(request).await?;
        // The connection is idle again once hyper is done with the body.
        Ok(response.map(|mut body| {
            body.activity = Some(activity);
            body
        }))
    }

    async fn answer(
        self,
        request: Request<Incoming>,
    ) -> Result<Response<SimBody>, DroppedConnection> {
        let at = self.origin.elapsed();
        let (parts, body) = request.into_parts();
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(len) = declared
            && len > self.max_body as u64
        {
            let answer = self.shared.lock().refuse_oversized(
                &parts,
                usize::try_from(len).unwrap_or(usize::MAX),
                at,
            );
            return Ok(closing(answer));
        }
        // A body trickling in is held to the same limit as a head.
        let collect = Limited::new(body, self.max_body).collect();
        let Ok(collected) = tokio::time::timeout(self.limits.header_read_timeout, collect).await
        else {
            return Err(DroppedConnection);
        };
        let body = match collected {
            Ok(collected) => collected.to_bytes(),
            Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
                let answer = self
                    .shared
                    .lock()
                    .refuse_oversized(&parts, self.max_body + 1, at);
                return Ok(closing(answer));
            }
            // The client broke off mid-body: nobody to answer.
            Err(_) => return Err(DroppedConnection),
        };
        let request = Request::from_parts(parts, body);
        let SimResponse { response, fault } = self.shared.handle(&request, at);
        match fault {
            None => Ok(response.map(SimBody::full)),
            Some(ConnectionFault::Delay(delay)) => {
                tokio::time::sleep(delay).await;
                Ok(response.map(SimBody::full))
            }
            Some(ConnectionFault::DropConnection) => Err(DroppedConnection),
            Some(ConnectionFault::TruncateBody { keep }) => {
                Ok(response.map(|body| SimBody::truncated(body, keep)))
            }
        }
    }
}

/// 413 answers come before the body was read: the connection cannot be
/// reused, so say so.
fn closing(answer: SimResponse) -> Response<SimBody> {
    let mut response = answer.response.map(SimBody::full);
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Where a connection is in its life, for its watchdog: waiting for a
/// request (since when, and since when its head has been arriving) or
/// serving one.
struct Activity {
    phase: Mutex<Phase>,
}

#[derive(Clone, Copy)]
enum Phase {
    Waiting {
        since: Instant,
        head_since: Option<Instant>,
    },
    Serving,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            phase: Mutex::new(Phase::Waiting {
                since: Instant::now(),
                head_since: None,
            }),
        }
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes arrived: while waiting, a request head has begun.
    fn bytes_read(&self) {
        let mut phase = self.phase();
        if let Phase::Waiting {
            head_since: head @ None,
            ..
        } = &mut *phase
        {
            *head = Some(Instant::now());
        }
    }

    /// hyper has a whole head and calls the service.
    fn request_started(&self) {
        *self.phase() = Phase::Serving;
    }

    /// The response body was sent (or abandoned).
    fn response_done(&self) {
        *self.phase() = Phase::Waiting {
            since: Instant::now(),
            head_since: None,
        };
    }

    /// When the connection has to be closed if nothing changes; `None`
    /// while a request is being served (its own faults decide its pace).
    fn deadline(&self, limits: ConnectionLimits) -> Option<Instant> {
        match *self.phase() {
            Phase::Waiting {
                head_since: Some(head),
                ..
            } => Some(head + limits.header_read_timeout),
            Phase::Waiting { since, .. } => Some(since + limits.idle_timeout),
            Phase::Serving => None,
        }
    }

    /// Resolves when the connection overstayed a timeout.
    async fn expired(&self, limits: ConnectionLimits) {
        // The deadline moves when a head begins or a request comes, so look
        // again at least this often: no later than the shorter timeout
        // after such a change, which still leaves the whole timeout to run.
        let recheck = limits
            .header_read_timeout
            .min(limits.idle_timeout)
            .max(Duration::from_millis(1));
        loop {
            let now = Instant::now();
            let next = now + recheck;
            match self.deadline(limits) {
                Some(at) if at <= now => return,
                Some(at) => tokio::time::sleep_until(at.min(next).into()).await,
                None => tokio::time::sleep_until(next.into()).await,
            }
        }
    }
}

/// A connection's socket that tells its [`Activity`] when bytes arrive.
struct Watched {
    io: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// A response body that is either whole, or cut short on the wire: it
/// sends `keep` bytes, yields once so hyper flushes them, then fails, which
/// makes hyper close the connection short of the advertised Content-Length.
/// Dropping it (hyper is done with it) makes its connection idle again.
struct SimBody {
    data: Option<Bytes>,
    stage: Stage,
    activity: Option<Arc<Activity>>,
}

impl Drop for SimBody {
    fn drop(&mut self) {
        if let Some(activity) = self.activity.take() {
            activity.response_done();
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Whole,
    FlushThenFail,
    Fail,
    Done,
}

/// The error that cuts a truncated body short.
#[derive(Debug, thiserror::Error)]
#[error("body truncated by fault injection")]
struct TruncatedOnPurpose;

impl SimBody {
    fn full(body: Vec<u8>) -> Self {
        Self {
            data: Some(Bytes::from(body)),
            stage: Stage::Whole,
            activity: None,
        }
    }

    fn truncated(mut body: Vec<u8>, keep: usize) -> Self {
        body.truncate(keep);
        Self {
            data: Some(Bytes::from(body)),
            stage: Stage::FlushThenFail,
            activity: None,
        }
    }
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = TruncatedOnPurpose;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, TruncatedOnPurpose>>> {
        let this = self.get_mut();
        if let Some(data) = this.data.take()
            && !data.is_empty()
        {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        match this.stage {
            Stage::Whole | Stage::Done => {
                this.stage = Stage::Done;
                Poll::Ready(None)
            }
            Stage::FlushThenFail => {
                this.stage = Stage::Fail;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Stage::Fail => {
                this.stage = Stage::Done;
                Poll::Ready(Some(Err(TruncatedOnPurpose)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.data.as_ref().is_none_or(Bytes::is_empty)
            && matches!(self.stage, Stage::Whole | Stage::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match (self.stage, &self.data) {
            (Stage::Whole, Some(data)) => SizeHint::with_exact(data.len() as u64),
            (Stage::Whole | Stage::Done, None) => SizeHint::with_exact(0),
            // Unknown, so hyper frames by the Content-Length header, which
            // promises more than will come.
            _ => SizeHint::default(),
        }
    }
}
