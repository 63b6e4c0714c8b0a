//! The one place that touches ureq: the agent's safe configuration, one
//! round trip with a bounded body read, and the mapping of ureq's errors
//! onto the core's [`TransportErrorKind`].

use std::fmt;
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::{Request, Response, Uri};
use koophone_proto::{Endpoint, InvalidInput, InvalidReason, TransportErrorKind};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// Settings the agent is built from.
#[derive(Debug, Clone)]
pub(crate) struct TransportConfig {
    pub(crate) request_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) body_limit: u64,
    pub(crate) proxy_from_env: bool,
    pub(crate) max_idle_connections: usize,
    pub(crate) max_idle_connections_per_host: usize,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            body_limit: 1024 * 1024,
            proxy_from_env: true,
            max_idle_connections: 32,
            max_idle_connections_per_host: 16,
        }
    }
}

impl TransportConfig {
    /// Refuse zero timeouts, which ureq would treat as already expired.
    pub(crate) fn validate(&self) -> Result<(), InvalidInput> {
        for (field, value) in [
            ("timeout", self.request_timeout),
            ("connect_timeout", self.connect_timeout),
        ] {
            if value.is_zero() {
                return Err(InvalidInput {
                    field,
                    reason: InvalidReason::Empty,
                });
            }
        }
        Ok(())
    }
}

/// A keep-alive agent plus the body limit every read obeys.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    agent: ureq::Agent,
    body_limit: u64,
}

/// Capacity reserved for a body of unknown length; the API's answers are small.
const UNKNOWN_LENGTH_CAPACITY: usize = 512;
/// The most reserved up front for a declared length: a `Content-Length` is
/// the server's claim, and with a large body limit an allocation sized by it
/// alone could abort the process. Longer bodies grow the buffer as they arrive.
const MAX_RESERVED_CAPACITY: usize = 64 * 1024;

impl Transport {
    /// `endpoint`: the client's own endpoint, whose address is worked out
    /// here once when its host is an IP address (see [`LiteralFirstResolver`]).
    pub(crate) fn new(config: &TransportConfig, endpoint: Option<&Endpoint>) -> Transport {
        let mut builder = ureq::Agent::config_builder()
            // 4xx/5xx bodies carry the error the core decodes.
            .http_status_as_error(false)
            // X-Auth-Token is a custom header that ureq does not strip on redirect:
            // follow none, and let the core decode the 3xx as an error.
            .max_redirects(0)
            .timeout_global(Some(config.request_timeout))
            .timeout_connect(Some(config.connect_timeout.min(config.request_timeout)))
            .max_idle_connections(config.max_idle_connections)
            .max_idle_connections_per_host(config.max_idle_connections_per_host);
        if !config.proxy_from_env {
            builder = builder.proxy(None);
        }
        #[cfg(feature = "platform-verifier")]
        {
            builder = builder.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                    .build(),
            );
        }
        Transport {
            agent: ureq::Agent::with_parts(
                builder.build(),
                DefaultConnector::new(),
                LiteralFirstResolver {
                    known: endpoint.and_then(KnownLiteral::of),
                    fallback: DefaultResolver::default(),
                },
            ),
            body_limit: config.body_limit,
        }
    }

    /// Send one request and read its whole body, refusing bodies over the limit:
    /// up front when `Content-Length` says so, otherwise after limit + 1 bytes.
    /// `timeout` shortens the agent's request timeout for this request only.
    pub(crate) fn round_trip(
        &self,
        request: Request<Vec<u8>>,
        timeout: Option<Duration>,
    ) -> Result<Response<Vec<u8>>, TransportError> {
        let request = match timeout {
            // ureq refuses a zero timeout as "already expired"; a millisecond
            // lets the attempt fail as a timeout like any other.
            Some(t) => self
                .agent
                .configure_request(request)
                .timeout_global(Some(t.max(Duration::from_millis(1))))
                .build(),
            None => request,
        };
        let response = self.agent.run(request).map_err(TransportError::from_ureq)?;
        let (parts, mut body) = response.into_parts();
        let declared = body.content_length();
        if declared.is_some_and(|len| len > self.body_limit) {
            return Err(TransportError::new(TransportErrorKind::BodyTooLarge));
        }
        let capacity = declared.map_or(UNKNOWN_LENGTH_CAPACITY, |len| {
            usize::try_from(len).map_or(MAX_RESERVED_CAPACITY, |len| len.min(MAX_RESERVED_CAPACITY))
        });
        let mut bytes = Vec::with_capacity(capacity);
        body.with_config()
            .limit(self.body_limit)
            .reader()
            .read_to_end(&mut bytes)
            .map_err(|e| TransportError::from_ureq(ureq::Error::from(e)))?;
        Ok(Response::from_parts(parts, bytes))
    }
}

/// ureq resolves the host before every request, pooled connection or not,
/// and with a request timeout set it does so on a new thread (so the lookup
/// can be abandoned). An IP address needs no lookup: it is answered here,
/// which keeps a thread spawn off every request to such an endpoint (the
/// simulator, a loopback benchmark). The client's own endpoint is parsed
/// once, when the client is built, not per request. Names still go to
/// ureq's resolver.
#[derive(Debug)]
struct LiteralFirstResolver {
    known: Option<KnownLiteral>,
    fallback: DefaultResolver,
}

/// The address of an endpoint whose host is an IP literal, with the scheme
/// and authority a request URI must have for it to apply.
#[derive(Debug)]
struct KnownLiteral {
    scheme: Scheme,
    authority: Authority,
    addr: SocketAddr,
}

impl KnownLiteral {
    fn of(endpoint: &Endpoint) -> Option<KnownLiteral> {
        let uri: Uri = endpoint.as_str().parse().ok()?;
        Some(KnownLiteral {
            addr: ip_literal(&uri)?,
            scheme: uri.scheme()?.clone(),
            authority: uri.authority()?.clone(),
        })
    }

    fn matches(&self, uri: &Uri) -> bool {
        uri.authority() == Some(&self.authority) && uri.scheme() == Some(&self.scheme)
    }
}

impl Resolver for LiteralFirstResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let addr = match &self.known {
            Some(known) if known.matches(uri) => Some(known.addr),
            _ => ip_literal(uri),
        };
        match addr {
            Some(addr) => {
                let mut addrs = self.empty();
                addrs.push(addr);
                Ok(addrs)
            }
            None => self.fallback.resolve(uri, config, timeout),
        }
    }
}

/// The socket address of a URI whose host is an IP address (`127.0.0.1`, `[::1]`).
fn ip_literal(uri: &Uri) -> Option<SocketAddr> {
    let host = uri.host()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ip: IpAddr = host.parse().ok()?;
    let port = uri.port_u16().or(match uri.scheme_str()? {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    })?;
    Some(SocketAddr::new(ip, port))
}

/// Classify a ureq error. Anything ureq reports about a connection that was
/// set up but then broke (EOF, reset, broken pipe, a garbled response) is
/// `Reset`; failures before a connection existed are `Connect`.
pub(crate) fn classify(error: &ureq::Error) -> TransportErrorKind {
    use ureq::Error as E;
    match error {
        E::Timeout(_) => TransportErrorKind::Timeout,
        E::Io(io) => classify_io(io),
        E::HostNotFound | E::ConnectionFailed | E::ConnectProxyFailed(_) => {
            TransportErrorKind::Connect
        }
        E::Tls(_) | E::Pem(_) | E::Rustls(_) | E::TlsRequired => TransportErrorKind::Tls,
        E::BodyExceedsLimit(_) | E::LargeResponseHeader(..) => TransportErrorKind::BodyTooLarge,
        E::Protocol(_) => TransportErrorKind::Reset,
        _ => TransportErrorKind::Other,
    }
}

fn classify_io(error: &io::Error) -> TransportErrorKind {
    use io::ErrorKind as K;
    match error.kind() {
        K::TimedOut | K::WouldBlock => TransportErrorKind::Timeout,
        K::ConnectionRefused
        | K::AddrNotAvailable
        | K::AddrInUse
        | K::HostUnreachable
        | K::NetworkUnreachable
        | K::NetworkDown
        | K::NotConnected => TransportErrorKind::Connect,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            TransportErrorKind::Reset
        }
        _ => TransportErrorKind::Other,
    }
}

/// A failed exchange: how it failed (the core's classification) and ureq's error.
#[derive(Debug)]
pub struct TransportError {
    kind: TransportErrorKind,
    source: Option<ureq::Error>,
}

impl TransportError {
    pub(crate) fn new(kind: TransportErrorKind) -> TransportError {
        TransportError { kind, source: None }
    }

    pub(crate) fn from_ureq(error: ureq::Error) -> TransportError {
        TransportError {
            kind: classify(&error),
            source: Some(error),
        }
    }

    /// How the exchange failed.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }
}

impl fmt::Display for TransportError {
    /// The kind only; ureq's error (which names no header and no credential)
    /// is the source.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals_resolve_without_a_lookup() {
        let addr = |u: &str| ip_literal(&u.parse().unwrap());
        assert_eq!(
            addr("http://127.0.0.1:8080/v1"),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            addr("https://10.1.2.3/"),
            Some("10.1.2.3:443".parse().unwrap())
        );
        assert_eq!(addr("http://[::1]/x"), Some("[::1]:80".parse().unwrap()));
        assert_eq!(addr("https://koophone.example.com/"), None);
        assert_eq!(addr("http://localhost:80/"), None);
    }

    #[test]
    fn an_ip_literal_endpoint_is_parsed_once_and_matched_exactly() {
        let known = |u: &str| KnownLiteral::of(&Endpoint::parse_allowing_http(u).unwrap());
        let uri = |u: &str| u.parse::<Uri>().unwrap();
        let k = known("http://127.0.0.1:8080/gw").unwrap();
        assert_eq!(k.addr, "127.0.0.1:8080".parse().unwrap());
        assert!(k.matches(&uri(
            "http://127.0.0.1:8080/gw/v1/instances/prepare-progress"
        )));
        // Another port, scheme or host is resolved on its own.
        assert!(!k.matches(&uri("http://127.0.0.1:8081/")));
        assert!(!k.matches(&uri("https://127.0.0.1:8080/")));
        assert!(!k.matches(&uri("http://127.0.0.2:8080/")));
        let k = known("https://[::1]").unwrap();
        assert_eq!(k.addr, "[::1]:443".parse().unwrap());
        assert!(k.matches(&uri("https://[::1]/x")));
        assert!(known("https://koophone.example.com").is_none());
    }

    #[test]
    fn io_errors_map_to_the_kinds_the_waiter_retries() {
        let kind = |k| classify(&ureq::Error::Io(io::Error::from(k)));
        assert_eq!(
            kind(io::ErrorKind::ConnectionRefused),
            TransportErrorKind::Connect
        );
        assert_eq!(
            kind(io::ErrorKind::ConnectionReset),
            TransportErrorKind::Reset
        );
        assert_eq!(
            kind(io::ErrorKind::UnexpectedEof),
            TransportErrorKind::Reset
        );
        assert_eq!(kind(io::ErrorKind::BrokenPipe), TransportErrorKind::Reset);
        assert_eq!(kind(io::ErrorKind::TimedOut), TransportErrorKind::Timeout);
        assert_eq!(
            kind(io::ErrorKind::PermissionDenied),
            TransportErrorKind::Other
        );
    }

    #[test]
    fn ureq_errors_map_by_meaning() {
        assert_eq!(
            classify(&ureq::Error::Timeout(ureq::Timeout::Global)),
            TransportErrorKind::Timeout
        );
        assert_eq!(
            classify(&ureq::Error::HostNotFound),
            TransportErrorKind::Connect
        );
        assert_eq!(
            classify(&ureq::Error::Tls("bad certificate")),
            TransportErrorKind::Tls
        );
        assert_eq!(
            classify(&ureq::Error::BodyExceedsLimit(10)),
            TransportErrorKind::BodyTooLarge
        );
        assert_eq!(
            classify(&ureq::Error::BadUri("x".into())),
            TransportErrorKind::Other
        );
    }

    #[test]
    fn a_wrapped_ureq_error_read_from_a_body_keeps_its_kind() {
        // Body readers report ureq errors through io::Error; From unwraps them.
        let wrapped = ureq::Error::BodyExceedsLimit(1).into_io();
        assert_eq!(
            classify(&ureq::Error::from(wrapped)),
            TransportErrorKind::BodyTooLarge
        );
    }
}
