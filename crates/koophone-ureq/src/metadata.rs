//! Temporary AK/SK credentials of an ECS/BMS instance's agency, from the
//! instance metadata service. The core decides (the two calls, their
//! decoding, when to renew: `koophone_proto::auth::metadata`); this module
//! adds the I/O with short timeouts, the lock and the waiting: one thread
//! refreshes while the others keep signing with the current credentials,
//! or, when there are none, wait for the new ones and share their outcome.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use http::HeaderValue;
use koophone_proto::auth::metadata::{
    CredentialCache, CredentialsId, DEFAULT_METADATA_ENDPOINT, MetadataSessionToken,
    SecurityKeyFetch, TemporaryCredentials,
};
use koophone_proto::auth::{AkSkCredentials, RefreshPolicy};
use koophone_proto::endpoint::DEFAULT_USER_AGENT;
use koophone_proto::{Endpoint, InvalidInput, TransportErrorKind};

use crate::error::{Error, MetadataFetchError};
use crate::single_flight::SingleFlight;
use crate::transport::{Transport, TransportConfig, TransportError};

/// The environment variable that points the metadata calls elsewhere than
/// `http://169.254.169.254` (a simulator, an unusual network). Plain `http`
/// is allowed: the metadata service has no TLS.
pub const ENV_METADATA_ENDPOINT: &str = "KOOPHONE_METADATA_ENDPOINT";
/// How long one metadata call may take, as in the official SDKs.
pub const METADATA_CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long connecting may take: a machine without a metadata service
/// (a laptop) finds out within this.
pub const METADATA_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Metadata answers are small; anything larger is not one.
const METADATA_BODY_LIMIT: u64 = 64 * 1024;

/// Temporary credentials from the ECS/BMS metadata service, fetched on
/// first use, shared by every clone (and every client built with a clone),
/// refreshed by one thread before they expire (the IAM token rules), and
/// replaced once when the service answers 401.
///
/// Each metadata call has 3 s and 1 s to connect, and goes direct (never
/// through a proxy from the environment: the address is link-local).
/// `Debug` shows the endpoint only.
///
/// ```no_run
/// use koophone_ureq::{Client, MetadataCredentials};
///
/// let metadata = MetadataCredentials::from_env()?; // KOOPHONE_METADATA_ENDPOINT or 169.254.169.254
/// let client = Client::builder()
///     .endpoint_url("https://koophone.example.com")
///     .credentials(metadata.into())
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct MetadataCredentials {
    shared: Arc<Shared>,
}

struct Shared {
    endpoint: Endpoint,
    policy: RefreshPolicy,
    call: Duration,
    connect: Duration,
    transport: Transport,
    user_agent: HeaderValue,
    flight: SingleFlight<CredentialCache, MetadataFetchError>,
    /// The session token of the last fetch, reused until it is due. Only
    /// read and written around a fetch, never held during one.
    session: Mutex<Option<MetadataSessionToken>>,
}

impl fmt::Debug for MetadataCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataCredentials")
            .field("endpoint", &self.shared.endpoint.as_str())
            .finish_non_exhaustive()
    }
}

impl Default for MetadataCredentials {
    fn default() -> Self {
        MetadataCredentials::new()
    }
}

impl MetadataCredentials {
    /// The metadata service at `http://169.254.169.254`.
    pub fn new() -> MetadataCredentials {
        // A constant URL, parsed in a unit test below: this cannot fail at run time.
        let endpoint = Endpoint::parse_with(DEFAULT_METADATA_ENDPOINT, true)
            .expect("the default metadata endpoint is a valid URL");
        MetadataCredentials::with_endpoint(endpoint)
    }

    /// The metadata service at `endpoint` (a simulator, say).
    pub fn with_endpoint(endpoint: Endpoint) -> MetadataCredentials {
        MetadataCredentials::build(
            endpoint,
            RefreshPolicy::default(),
            METADATA_CALL_TIMEOUT,
            METADATA_CONNECT_TIMEOUT,
        )
    }

    /// The endpoint [`ENV_METADATA_ENDPOINT`] names, else the default one.
    pub fn from_env() -> Result<MetadataCredentials, InvalidInput> {
        MetadataCredentials::from_env_with(&|name| {
            std::env::var(name).ok().filter(|v| !v.is_empty())
        })
    }

    /// [`MetadataCredentials::from_env`] reading variables through `env`.
    pub fn from_env_with(
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<MetadataCredentials, InvalidInput> {
        match env(ENV_METADATA_ENDPOINT) {
            Some(url) => Ok(MetadataCredentials::with_endpoint(Endpoint::parse_with(
                &url, true,
            )?)),
            None => Ok(MetadataCredentials::new()),
        }
    }

    /// When to refresh (default: the IAM token rules). Call before first use:
    /// it starts a new, empty cache.
    pub fn with_refresh_policy(self, policy: RefreshPolicy) -> MetadataCredentials {
        let shared = &self.shared;
        MetadataCredentials::build(shared.endpoint.clone(), policy, shared.call, shared.connect)
    }

    /// Per-call and connect timeouts (default 3 s and 1 s; zero is taken as
    /// 1 ms). Call before first use: it starts a new, empty cache.
    pub fn with_timeouts(self, call: Duration, connect: Duration) -> MetadataCredentials {
        let shared = &self.shared;
        MetadataCredentials::build(shared.endpoint.clone(), shared.policy, call, connect)
    }

    fn build(
        endpoint: Endpoint,
        policy: RefreshPolicy,
        call: Duration,
        connect: Duration,
    ) -> MetadataCredentials {
        let floor = Duration::from_millis(1);
        let (call, connect) = (call.max(floor), connect.max(floor));
        let config = TransportConfig {
            request_timeout: call,
            connect_timeout: connect,
            body_limit: METADATA_BODY_LIMIT,
            proxy_from_env: false,
            max_idle_connections: 2,
            max_idle_connections_per_host: 2,
        };
        MetadataCredentials {
            shared: Arc::new(Shared {
                transport: Transport::new(&config, Some(&endpoint)),
                endpoint,
                policy,
                call,
                connect,
                user_agent: HeaderValue::from_static(DEFAULT_USER_AGENT),
                flight: SingleFlight::new(CredentialCache::new(policy)),
                session: Mutex::new(None),
            }),
        }
    }

    /// Where the metadata calls go.
    pub fn endpoint(&self) -> &Endpoint {
        &self.shared.endpoint
    }

    /// The credentials to sign with now, fetching them first if there are
    /// none yet (or they expired). This is how to check, before building a
    /// client, that the metadata service has credentials for this machine.
    pub fn current(&self) -> Result<AkSkCredentials, Error> {
        self.lease(&|| false, None)
            .map(|(credentials, _)| credentials)
    }

    /// Credentials to sign with now and their id for
    /// [`MetadataCredentials::on_answer`].
    /// One thread fetches while the others keep signing with the current
    /// ones, or, when there are none, wait for it and share its outcome.
    /// Neither the fetch nor the wait for another thread's goes past
    /// `deadline` (the request's that needs the credentials).
    pub(crate) fn lease(
        &self,
        cancelled: &dyn Fn() -> bool,
        deadline: Option<Instant>,
    ) -> Result<(AkSkCredentials, CredentialsId), Error> {
        self.shared
            .flight
            .lease(&|| self.refresh(deadline), cancelled, deadline)
    }

    /// One fetch, reusing and then keeping the metadata session token.
    fn refresh(
        &self,
        deadline: Option<Instant>,
    ) -> Result<TemporaryCredentials, MetadataFetchError> {
        let lock = || {
            self.shared
                .session
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        let session = lock().clone();
        let (fetched, session) = self.fetch(session, deadline);
        *lock() = session;
        fetched
    }

    /// The metadata calls of one fetch, and the session token to keep. A
    /// call gets its own timeout, or what is left before `deadline` if less.
    fn fetch(
        &self,
        session: Option<MetadataSessionToken>,
        deadline: Option<Instant>,
    ) -> (
        Result<TemporaryCredentials, MetadataFetchError>,
        Option<MetadataSessionToken>,
    ) {
        #[cfg(feature = "tracing")]
        let _span = tracing::debug_span!("koophone.metadata").entered();
        let shared = &self.shared;
        let mut fetch = SecurityKeyFetch::new(shared.endpoint.clone(), session, SystemTime::now());
        loop {
            let request = match fetch.request(Some(&shared.user_agent)) {
                Ok(request) => request,
                Err(e) => return (Err(MetadataFetchError::InvalidInput(e)), None),
            };
            let timeout = match deadline.map(|d| d.saturating_duration_since(Instant::now())) {
                Some(left) if left.is_zero() => {
                    let timeout = TransportError::new(TransportErrorKind::Timeout);
                    return (Err(MetadataFetchError::Transport(timeout)), None);
                }
                Some(left) => (left < shared.call).then_some(left),
                None => None,
            };
            let response = match shared.transport.round_trip(request, timeout) {
                Ok(response) => response,
                Err(e) => return (Err(MetadataFetchError::Transport(e)), None),
            };
            let (parts, body) = response.into_parts();
            let response = http::Response::from_parts(parts, body.as_slice());
            if let Some(outcome) = fetch.handle_response(response, SystemTime::now()) {
                let session = fetch.session().cloned();
                return (outcome.map_err(MetadataFetchError::Refused), session);
            }
        }
    }

    /// The service answered a request signed with credentials `id`: true
    /// when it refused them with a 401 and new ones are worth one more try.
    pub(crate) fn on_answer(&self, id: CredentialsId, unauthorized: bool) -> bool {
        self.shared.flight.on_answer(id, unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_endpoint_parses_and_debug_shows_only_it() {
        let metadata = MetadataCredentials::new();
        assert_eq!(metadata.endpoint().as_str(), DEFAULT_METADATA_ENDPOINT);
        assert_eq!(
            format!("{metadata:?}"),
            "MetadataCredentials { endpoint: \"http://169.254.169.254\", .. }"
        );
    }

    #[test]
    fn the_environment_overrides_the_endpoint() {
        let env =
            |name: &str| (name == ENV_METADATA_ENDPOINT).then(|| "http://10.0.0.9:8080".to_owned());
        let metadata = MetadataCredentials::from_env_with(&env).unwrap();
        assert_eq!(metadata.endpoint().as_str(), "http://10.0.0.9:8080");
        let bad = |_: &str| Some("not a url".to_owned());
        assert!(MetadataCredentials::from_env_with(&bad).is_err());
    }

    #[test]
    fn nothing_listening_fails_fast_as_transport() {
        // A port nothing listens on: the connection is refused at once.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let endpoint = Endpoint::parse(&format!("http://{addr}")).unwrap();
        let start = std::time::Instant::now();
        let err = MetadataCredentials::with_endpoint(endpoint)
            .current()
            .unwrap_err();
        assert_eq!(err.kind(), "transport");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }
}
