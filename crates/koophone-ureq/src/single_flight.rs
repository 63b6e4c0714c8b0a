//! One refresh at a time for credentials shared by every thread of a client
//! (IAM tokens, metadata AK/SK). The core's caches decide when to refresh;
//! this adds the lock and the waiting: one thread refreshes while the others
//! keep using the current value, or, when there is none, wait for the new
//! one and share its outcome.

use std::fmt;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use koophone_proto::auth::metadata::TemporaryCredentials;
use koophone_proto::auth::metadata::{CredentialCache, CredentialState, CredentialsId};
use koophone_proto::auth::{
    AkSkCredentials, IssuedToken, RefreshTicket, TokenCache, TokenId, TokenState,
    UnauthorizedAction,
};
use koophone_proto::{Token, TransportErrorKind};

use crate::error::{Error, IamError, MetadataFetchError};
use crate::transport::TransportError;

/// How often a thread waiting for another's refresh looks at its cancel token.
const WAIT_SLICE: Duration = Duration::from_millis(50);

/// What a cache says before a request, with the lease owned.
pub(crate) enum Slot<L> {
    Fresh(L),
    Due(L),
    Required,
}

/// A core cache that times its refreshes with single-flight tickets.
pub(crate) trait RefreshCache {
    /// What a request is sent with, and its id for the 401 report.
    type Lease;
    /// What a refresh brings back.
    type Fetched;
    /// Names the value in logs.
    #[cfg(feature = "tracing")]
    const WHAT: &'static str;
    fn slot(&self, now: SystemTime) -> Slot<Self::Lease>;
    fn begin_refresh(&mut self, now: SystemTime) -> Option<RefreshTicket>;
    /// False when the fetched value had already expired.
    fn complete_refresh(
        &mut self,
        ticket: RefreshTicket,
        fetched: Self::Fetched,
        now: SystemTime,
    ) -> bool;
    fn fail_refresh(&mut self, ticket: RefreshTicket, now: SystemTime);
    fn on_unauthorized(&mut self, refused: TokenId) -> UnauthorizedAction;
    fn on_accepted(&mut self, id: TokenId);
}

/// How a refresh failed, in a form every waiting thread can be given.
pub(crate) trait RefreshFailure: fmt::Display + Sized {
    /// The same failure for another thread (without its source chain).
    fn shared_copy(&self) -> Self;
    /// The fetched value expired before it arrived.
    fn already_expired() -> Self;
    /// The waiting thread's own deadline passed.
    fn timed_out() -> Self;
    fn into_error(self) -> Error;
}

/// A cache, the lock around it and the signal that a refresh ended.
pub(crate) struct SingleFlight<C, E> {
    state: Mutex<Flight<C, E>>,
    refresh_ended: Condvar,
}

struct Flight<C, E> {
    cache: C,
    /// How many refreshes have ended, so a waiting thread can tell that the
    /// one it waited for is over.
    ended: u64,
    /// How the last refresh that ended failed, when it did: threads that
    /// waited for it report that failure instead of asking again.
    last_failure: Option<E>,
}

impl<C: RefreshCache, E: RefreshFailure> SingleFlight<C, E> {
    pub(crate) fn new(cache: C) -> Self {
        SingleFlight {
            state: Mutex::new(Flight {
                cache,
                ended: 0,
                last_failure: None,
            }),
            refresh_ended: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Flight<C, E>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The service answered a request sent with lease `id`: true when it
    /// refused it with a 401 and a new value is worth one more try (the first
    /// refusal), false when it accepted it or refused a replacement too.
    pub(crate) fn on_answer(&self, id: TokenId, unauthorized: bool) -> bool {
        let cache = &mut self.lock().cache;
        if unauthorized {
            cache.on_unauthorized(id) == UnauthorizedAction::RetryWithNewToken
        } else {
            cache.on_accepted(id);
            false
        }
    }

    /// A lease to send with now. Refreshes through `fetch` when the cache
    /// says so and no other thread is at it; without a usable value, waits
    /// for the thread that is, and fails as it failed. That wait ends at
    /// this caller's own `deadline` (a timeout), not when the other thread's
    /// request gives up: the other call may have far more time.
    pub(crate) fn lease(
        &self,
        fetch: &dyn Fn() -> Result<C::Fetched, E>,
        cancelled: &dyn Fn() -> bool,
        deadline: Option<Instant>,
    ) -> Result<C::Lease, Error> {
        let mut state = self.lock();
        // The `ended` count when this thread started waiting for another's refresh.
        let mut waited_since = None;
        loop {
            if cancelled() {
                return Err(Error::Cancelled);
            }
            let now = SystemTime::now();
            match state.cache.slot(now) {
                Slot::Fresh(lease) => return Ok(lease),
                Slot::Due(lease) => {
                    let Some(ticket) = state.cache.begin_refresh(now) else {
                        return Ok(lease);
                    };
                    drop(state);
                    // A failure keeps the current value, still valid, in use;
                    // the cache asks again after its retry delay.
                    let refreshed = self.refresh(ticket, fetch);
                    #[cfg(feature = "tracing")]
                    if let Err(e) = &refreshed {
                        tracing::warn!(error = %e, "{} refresh failed; the current one stays in use", C::WHAT);
                    }
                    drop(refreshed);
                    state = self.lock();
                }
                Slot::Required => {
                    if let Some(since) = waited_since
                        && state.ended != since
                        && let Some(failure) = &state.last_failure
                    {
                        return Err(failure.shared_copy().into_error());
                    }
                    match state.cache.begin_refresh(now) {
                        Some(ticket) => {
                            drop(state);
                            self.refresh(ticket, fetch)?;
                            state = self.lock();
                        }
                        None => {
                            waited_since.get_or_insert(state.ended);
                            let slice = match deadline {
                                Some(deadline) => {
                                    let left = deadline.saturating_duration_since(Instant::now());
                                    if left.is_zero() {
                                        return Err(E::timed_out().into_error());
                                    }
                                    WAIT_SLICE.min(left)
                                }
                                None => WAIT_SLICE,
                            };
                            state = self
                                .refresh_ended
                                .wait_timeout(state, slice)
                                .unwrap_or_else(PoisonError::into_inner)
                                .0;
                        }
                    }
                }
            }
        }
    }

    /// Fetch (without holding the lock), store the outcome, wake the waiters.
    fn refresh(
        &self,
        ticket: RefreshTicket,
        fetch: &dyn Fn() -> Result<C::Fetched, E>,
    ) -> Result<(), Error> {
        let fetched = fetch();
        let now = SystemTime::now();
        let mut state = self.lock();
        let outcome = match fetched {
            Ok(fetched) => {
                if state.cache.complete_refresh(ticket, fetched, now) {
                    Ok(())
                } else {
                    Err(E::already_expired())
                }
            }
            Err(e) => {
                state.cache.fail_refresh(ticket, now);
                Err(e)
            }
        };
        state.ended = state.ended.wrapping_add(1);
        state.last_failure = outcome.as_ref().err().map(E::shared_copy);
        drop(state);
        self.refresh_ended.notify_all();
        outcome.map_err(E::into_error)
    }
}

/// The `RefreshCache` impl of a core cache: both caches spell their states
/// and ticket methods alike; only the lease's value field differs.
macro_rules! refresh_cache {
    ($cache:ident, $state:ident, $lease:ty, $value:ident, $fetched:ty, $what:literal) => {
        impl RefreshCache for $cache {
            type Lease = $lease;
            type Fetched = $fetched;
            #[cfg(feature = "tracing")]
            const WHAT: &'static str = $what;

            fn slot(&self, now: SystemTime) -> Slot<Self::Lease> {
                match self.state(now) {
                    $state::Fresh(l) => Slot::Fresh((l.$value.clone(), l.id)),
                    $state::RefreshDue(l) => Slot::Due((l.$value.clone(), l.id)),
                    $state::RefreshRequired => Slot::Required,
                }
            }

            fn begin_refresh(&mut self, now: SystemTime) -> Option<RefreshTicket> {
                $cache::begin_refresh(self, now)
            }

            fn complete_refresh(
                &mut self,
                ticket: RefreshTicket,
                fetched: Self::Fetched,
                now: SystemTime,
            ) -> bool {
                $cache::complete_refresh(self, ticket, fetched, now).is_ok()
            }

            fn fail_refresh(&mut self, ticket: RefreshTicket, now: SystemTime) {
                $cache::fail_refresh(self, ticket, now);
            }

            fn on_unauthorized(&mut self, refused: TokenId) -> UnauthorizedAction {
                $cache::on_unauthorized(self, refused)
            }

            fn on_accepted(&mut self, id: TokenId) {
                $cache::on_accepted(self, id);
            }
        }
    };
}

refresh_cache!(
    TokenCache,
    TokenState,
    (Token, TokenId),
    token,
    IssuedToken,
    "token"
);
refresh_cache!(
    CredentialCache,
    CredentialState,
    (AkSkCredentials, CredentialsId),
    credentials,
    TemporaryCredentials,
    "metadata credential"
);

/// Both credential sources' failures have the same four variants.
macro_rules! refresh_failure {
    ($failure:ident, $wrap:path) => {
        impl RefreshFailure for $failure {
            /// The transport error loses ureq's error, which cannot be cloned.
            fn shared_copy(&self) -> $failure {
                match self {
                    $failure::Refused(e) => $failure::Refused(e.clone()),
                    $failure::Transport(t) => $failure::Transport(TransportError::new(t.kind())),
                    $failure::InvalidInput(e) => $failure::InvalidInput(e.clone()),
                    $failure::AlreadyExpired => $failure::AlreadyExpired,
                }
            }

            fn already_expired() -> $failure {
                $failure::AlreadyExpired
            }

            fn timed_out() -> $failure {
                $failure::Transport(TransportError::new(TransportErrorKind::Timeout))
            }

            fn into_error(self) -> Error {
                $wrap(Box::new(self))
            }
        }
    };
}

refresh_failure!(IamError, Error::Iam);
refresh_failure!(MetadataFetchError, Error::Metadata);
