//! IAM password credentials: a project-scoped token issued by IAM on first
//! use and shared by every thread of a client. The core's [`TokenCache`]
//! decides when to refresh; this module adds the lock, the waiting and the
//! I/O: one thread refreshes while the others keep using the current token,
//! or, when there is none, wait for the new one and share its outcome.

use std::fmt;
use std::time::Instant;

use koophone_proto::auth::{IssueProjectToken, IssuedToken, RefreshPolicy, TokenCache, TokenId};
use koophone_proto::{Endpoint, Token};

use crate::error::{Error, IamError};
use crate::single_flight::SingleFlight;

/// An IAM user's password credentials and the IAM endpoint that issues their
/// tokens. A client holding them asks IAM for a token on first use, caches
/// it in memory, refreshes it before it expires and, when the service
/// refuses it with a 401, gets a new one and tries once more.
///
/// `Debug` shows the IAM endpoint, user, domain and project; the password
/// prints redacted.
///
/// ```
/// use koophone_ureq::{Endpoint, IamPassword, IssueProjectToken, Password, ProjectScope};
///
/// let iam = IamPassword::new(
///     Endpoint::parse("https://iam.myhuaweicloud.com")?,
///     IssueProjectToken::new(
///         "my-user",
///         "my-account",
///         Password::new("my-password")?,
///         ProjectScope::Name("cn-north-4".into()),
///     )?,
/// );
/// assert!(!format!("{iam:?}").contains("my-password"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct IamPassword {
    endpoint: Endpoint,
    request: IssueProjectToken,
    policy: RefreshPolicy,
}

impl IamPassword {
    /// Tokens for `request` from the IAM at `endpoint`. The endpoint follows
    /// the service endpoint's rules ([`Endpoint::parse`]: `https`, or plain
    /// `http` to a loopback host unless allowed explicitly): the password
    /// travels in the request body.
    pub fn new(endpoint: Endpoint, request: IssueProjectToken) -> IamPassword {
        IamPassword {
            endpoint,
            request,
            policy: RefreshPolicy::default(),
        }
    }

    /// When to refresh (default [`RefreshPolicy::default`]: well before expiry).
    pub fn with_refresh_policy(self, policy: RefreshPolicy) -> IamPassword {
        IamPassword { policy, ..self }
    }

    /// Where tokens are issued.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The token request: user, domain, password and project.
    pub fn request(&self) -> &IssueProjectToken {
        &self.request
    }
}

/// The token cache of one client, shared by its clones and threads.
pub(crate) struct IamSession {
    iam: IamPassword,
    flight: SingleFlight<TokenCache, IamError>,
}

impl fmt::Debug for IamSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IamSession")
            .field("iam", &self.iam)
            .finish_non_exhaustive()
    }
}

impl IamSession {
    /// The password, to scrub from network text like the tokens it buys.
    pub(crate) fn password(&self) -> &str {
        self.iam.request().password().expose_secret()
    }

    pub(crate) fn new(iam: IamPassword) -> IamSession {
        IamSession {
            flight: SingleFlight::new(TokenCache::new(iam.policy)),
            iam,
        }
    }

    /// A token to send now and its id for [`IamSession::on_answer`].
    /// Refreshes through `issue` when the cache says so and no other thread
    /// is at it; without a usable token, waits for the thread that is, and
    /// fails as it failed, or as a timeout at this caller's own `deadline`.
    pub(crate) fn lease(
        &self,
        issue: &dyn Fn(&IamPassword) -> Result<IssuedToken, IamError>,
        cancelled: &dyn Fn() -> bool,
        deadline: Instant,
    ) -> Result<(Token, TokenId), Error> {
        self.flight
            .lease(&|| issue(&self.iam), cancelled, Some(deadline))
    }

    /// The service answered a request sent with token `id`: true when it
    /// refused it with a 401 and a new token is worth one more try (the
    /// first refusal), false when it accepted it or refused a replacement too.
    pub(crate) fn on_answer(&self, id: TokenId, unauthorized: bool) -> bool {
        self.flight.on_answer(id, unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};
    use std::time::{Duration, SystemTime};

    use koophone_proto::auth::{Password, ProjectScope};
    use koophone_proto::{ApiError, ServiceError, TransportErrorKind};

    use super::*;
    use crate::transport::TransportError;

    fn session(policy: RefreshPolicy) -> IamSession {
        let request = IssueProjectToken::new(
            "user",
            "domain",
            Password::new("pw-secret").unwrap(),
            ProjectScope::Name("cn-north-4".into()),
        )
        .unwrap();
        let iam = IamPassword::new(Endpoint::parse("https://iam.example.com").unwrap(), request)
            .with_refresh_policy(policy);
        IamSession::new(iam)
    }

    fn issued(n: usize, lifetime: Duration) -> IssuedToken {
        IssuedToken {
            token: Token::new(format!("token-{n}")).unwrap(),
            expires_at: SystemTime::now() + lifetime,
        }
    }

    fn refused() -> IamError {
        IamError::Refused(Box::new(ApiError::Unauthorized(ServiceError {
            status: http::StatusCode::UNAUTHORIZED,
            error_code: Some("1000".into()),
            message: "wrong password".into(),
            request_id: None,
            error_type: None,
            retry_after: None,
        })))
    }

    const NEVER: &dyn Fn() -> bool = &|| false;

    /// A deadline no test reaches.
    fn far() -> Instant {
        Instant::now() + Duration::from_secs(3600)
    }

    #[test]
    fn a_thread_waiting_for_another_refresh_gives_up_at_its_own_deadline() {
        let session = Arc::new(session(RefreshPolicy::default()));
        let started = Arc::new(Barrier::new(2));
        let refresher = {
            let (session, started) = (session.clone(), started.clone());
            std::thread::spawn(move || {
                let slow = |_: &IamPassword| {
                    started.wait();
                    // The refreshing call has all the time it wants.
                    std::thread::sleep(Duration::from_millis(1500));
                    Ok(issued(0, Duration::from_secs(3600)))
                };
                session.lease(&slow, NEVER, far()).map(|(t, _)| t)
            })
        };
        started.wait();
        let never_called = |_: &IamPassword| -> Result<IssuedToken, IamError> {
            panic!("a second token request while one is in flight")
        };
        let begun = Instant::now();
        let err = session
            .lease(&never_called, NEVER, begun + Duration::from_millis(200))
            .unwrap_err();
        let waited = begun.elapsed();
        assert!(
            matches!(&err, Error::Iam(e) if matches!(**e, IamError::Transport(ref t) if t.kind() == TransportErrorKind::Timeout)),
            "{err:?}"
        );
        assert!(
            waited >= Duration::from_millis(200) && waited < Duration::from_millis(1000),
            "waited {waited:?}, bounded by its own 200 ms, not the other's 1.5 s"
        );
        assert_eq!(
            refresher.join().unwrap().unwrap().expose_secret(),
            "token-0"
        );
    }

    #[test]
    fn the_first_lease_issues_and_later_ones_reuse() {
        let session = session(RefreshPolicy::default());
        let calls = AtomicUsize::new(0);
        let issue = |_: &IamPassword| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            Ok(issued(n, Duration::from_secs(24 * 3600)))
        };
        let (first, id) = session.lease(&issue, NEVER, far()).unwrap();
        let (again, same) = session.lease(&issue, NEVER, far()).unwrap();
        assert_eq!(first.expose_secret(), "token-0");
        assert_eq!(again.expose_secret(), "token-0");
        assert_eq!(id, same);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    /// `threads` threads without a token lease at once; each IAM answer
    /// takes 200 ms, long enough for the others to find it in flight.
    /// Returns each thread's outcome and how many times IAM was asked.
    fn lease_together(
        threads: usize,
        answer: fn(usize) -> Result<IssuedToken, IamError>,
    ) -> (Vec<Result<Token, Error>>, usize) {
        let session = Arc::new(session(RefreshPolicy::default()));
        let calls = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(threads));
        let threads: Vec<_> = (0..threads)
            .map(|_| {
                let (session, calls, start) = (session.clone(), calls.clone(), start.clone());
                std::thread::spawn(move || {
                    let issue = |_: &IamPassword| {
                        let n = calls.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(200));
                        answer(n)
                    };
                    start.wait();
                    session.lease(&issue, NEVER, far()).map(|(token, _)| token)
                })
            })
            .collect();
        let outcomes = threads.into_iter().map(|t| t.join().unwrap()).collect();
        (outcomes, calls.load(Ordering::SeqCst))
    }

    #[test]
    fn threads_without_a_token_share_one_refresh() {
        let (outcomes, calls) = lease_together(8, |n| Ok(issued(n, Duration::from_secs(3600))));
        assert_eq!(outcomes.len(), 8);
        for outcome in outcomes {
            assert_eq!(outcome.unwrap().expose_secret(), "token-0");
        }
        assert_eq!(calls, 1);
    }

    #[test]
    fn threads_waiting_for_a_failed_refresh_share_its_failure() {
        let (outcomes, calls) = lease_together(4, |_| Err(refused()));
        assert_eq!(outcomes.len(), 4);
        for outcome in outcomes {
            let err = outcome.unwrap_err();
            assert_eq!(err.kind(), "unauthorized");
            assert_eq!(err.http_status(), Some(401));
        }
        assert_eq!(calls, 1);
    }

    /// A token of 1.2 s is due for refresh after 0.6 s (the margin is at
    /// most half the lifetime); sleeping 0.7 s leaves it due and still valid.
    const SHORT: Duration = Duration::from_millis(1200);
    const UNTIL_DUE: Duration = Duration::from_millis(700);

    #[test]
    fn a_due_refresh_that_fails_keeps_the_valid_token() {
        let session = session(RefreshPolicy::default());
        let ok = |_: &IamPassword| Ok(issued(0, SHORT));
        session.lease(&ok, NEVER, far()).unwrap();
        std::thread::sleep(UNTIL_DUE);
        let calls = AtomicUsize::new(0);
        let failing = |_: &IamPassword| {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(IamError::Transport(TransportError::new(
                TransportErrorKind::Connect,
            )))
        };
        let (token, _) = session.lease(&failing, NEVER, far()).unwrap();
        assert_eq!(token.expose_secret(), "token-0");
        // The failure pushed the next refresh back: no second IAM call.
        session.lease(&failing, NEVER, far()).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_due_refresh_replaces_the_token() {
        let session = session(RefreshPolicy::default());
        let n = AtomicUsize::new(0);
        let issue = |_: &IamPassword| Ok(issued(n.fetch_add(1, Ordering::SeqCst), SHORT));
        let leased = || {
            let (token, _) = session.lease(&issue, NEVER, far()).unwrap();
            token.expose_secret().to_owned()
        };
        assert_eq!(leased(), "token-0");
        assert_eq!(leased(), "token-0");
        std::thread::sleep(UNTIL_DUE);
        assert_eq!(leased(), "token-1");
        assert_eq!(n.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_refused_token_is_replaced_once() {
        let session = session(RefreshPolicy::default());
        let n = AtomicUsize::new(0);
        let issue = |_: &IamPassword| {
            Ok(issued(
                n.fetch_add(1, Ordering::SeqCst),
                Duration::from_secs(3600),
            ))
        };
        let (_, first) = session.lease(&issue, NEVER, far()).unwrap();
        assert!(session.on_answer(first, true));
        let (token, second) = session.lease(&issue, NEVER, far()).unwrap();
        assert_eq!(token.expose_secret(), "token-1");
        assert!(!session.on_answer(second, true));
    }

    #[test]
    fn an_expired_issue_is_an_error_and_cancelling_stops_a_wait() {
        let session = session(RefreshPolicy::default());
        let stale = |_: &IamPassword| {
            Ok(IssuedToken {
                token: Token::new("old").unwrap(),
                expires_at: SystemTime::now() - Duration::from_secs(1),
            })
        };
        let err = session.lease(&stale, NEVER, far()).unwrap_err();
        assert!(matches!(err, Error::Iam(ref e) if matches!(**e, IamError::AlreadyExpired)));
        let err = session.lease(&stale, &|| true, far()).unwrap_err();
        assert!(matches!(err, Error::Cancelled));
    }

    #[test]
    fn debug_hides_the_password() {
        let shown = format!("{:?}", session(RefreshPolicy::default()));
        assert!(!shown.contains("pw-secret"), "{shown}");
        assert!(shown.contains("iam.example.com"), "{shown}");
    }
}
