//! When to reuse an IAM token and when to get a new one.
//!
//! [`TokenCache`] is a sans-IO state machine: the driver passes its wall-clock
//! `now` in (tokens expire in wall-clock time, as IAM states them) and does the
//! IAM call itself. The loop a driver runs:
//!
//! ```text
//! match cache.state(now) {
//!     Fresh(lease)      => send with lease.token,
//!     RefreshDue(lease) => send with lease.token; if begin_refresh(now) gives a
//!                          ticket, issue a token (now or in the background),
//!     RefreshRequired   => if begin_refresh(now) gives a ticket, issue a token
//!                          and complete_refresh / fail_refresh; if it gives
//!                          None, another caller is refreshing: wait for it,
//! }
//! on a 401: on_unauthorized(lease.id) says whether to retry with a new token;
//! on any other answer: on_accepted(lease.id).
//! ```
//!
//! `begin_refresh` hands out one ticket at a time, which is all a
//! multi-threaded driver needs for single-flight refreshes under a mutex.

use std::time::{Duration, SystemTime};

use crate::auth::iam::IssuedToken;
use crate::endpoint::Token;

/// When to refresh. The default refreshes at the larger of 1 hour and 10% of
/// the token's lifetime before it expires (IAM tokens live 24 hours, so 2.4
/// hours before), retries a failed refresh after 30 seconds, and lets another
/// caller take over a refresh that has not finished within 2 minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    margin: Option<Duration>,
    retry_after_failure: Duration,
    abandon_after: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> RefreshPolicy {
        RefreshPolicy {
            margin: None,
            retry_after_failure: Duration::from_secs(30),
            abandon_after: Duration::from_secs(120),
        }
    }
}

impl RefreshPolicy {
    /// The smallest default margin.
    pub const MIN_DEFAULT_MARGIN: Duration = Duration::from_secs(3600);

    /// Refresh this long before expiry instead of the default rule.
    pub fn with_margin(self, margin: Duration) -> RefreshPolicy {
        RefreshPolicy {
            margin: Some(margin),
            ..self
        }
    }

    /// After a failed refresh, keep using a still-valid token this long before
    /// asking for another refresh.
    pub fn with_retry_after_failure(self, delay: Duration) -> RefreshPolicy {
        RefreshPolicy {
            retry_after_failure: delay,
            ..self
        }
    }

    /// Consider a refresh abandoned (its driver died or hung) after this long,
    /// and hand out a new ticket.
    pub fn with_abandon_after(self, after: Duration) -> RefreshPolicy {
        RefreshPolicy {
            abandon_after: after,
            ..self
        }
    }

    /// How long before expiry a token with this lifetime is refreshed: the
    /// configured margin or the default rule, never more than half the
    /// lifetime (a short-lived token would otherwise be refreshed on every use).
    pub fn margin_for(&self, lifetime: Duration) -> Duration {
        let wanted = self
            .margin
            .unwrap_or_else(|| Self::MIN_DEFAULT_MARGIN.max(lifetime / 10));
        wanted.min(lifetime / 2)
    }
}

/// Identifies one token the cache handed out, so that reports about it
/// (a 401, an accepted call) are not mistaken for reports about a newer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenId(u64);

/// A token to send, with what the driver reports back about it.
#[derive(Debug, Clone, Copy)]
pub struct Lease<'a> {
    /// The token.
    pub token: &'a Token,
    /// Pass this to [`TokenCache::on_unauthorized`] or [`TokenCache::on_accepted`].
    pub id: TokenId,
    /// When IAM said it expires.
    pub expires_at: SystemTime,
}

/// What the driver should do before sending.
#[derive(Debug, Clone, Copy)]
pub enum TokenState<'a> {
    /// Send with this token; no refresh is needed before [`TokenCache::next_refresh_at`].
    Fresh(Lease<'a>),
    /// The token is within its refresh margin but still valid: send with it,
    /// and start a refresh ([`TokenCache::begin_refresh`]).
    RefreshDue(Lease<'a>),
    /// No usable token (none yet, expired, or refused with a 401): refresh
    /// before sending anything.
    RefreshRequired,
}

/// The right to complete one refresh. Not `Clone`: each refresh ends once,
/// with [`TokenCache::complete_refresh`] or [`TokenCache::fail_refresh`].
#[derive(Debug, PartialEq, Eq)]
pub struct RefreshTicket(u64);

/// What to do after the service answered 401 to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnauthorizedAction {
    /// The token was dropped (or already replaced): get a new one from
    /// [`TokenCache::state`] and send the request once more.
    RetryWithNewToken,
    /// A token issued to replace a refused one was refused too: the
    /// credentials lack access, report the 401.
    GiveUp,
}

/// Why [`TokenCache::complete_refresh`] did not store a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefreshRejected {
    /// The token's expiry is not after `now`: IAM's clock and ours disagree
    /// by more than the token's lifetime, or the response was stale.
    #[error("issued token has already expired")]
    AlreadyExpired,
}

#[derive(Debug)]
struct Cached {
    token: Token,
    id: TokenId,
    expires_at: SystemTime,
    refresh_at: SystemTime,
}

/// Holds the current IAM token and decides when to renew it; see the module doc
/// for the driver loop. `Debug` shows the token redacted.
#[derive(Debug, Default)]
pub struct TokenCache {
    policy: RefreshPolicy,
    current: Option<Cached>,
    issued: u64,
    tickets: u64,
    /// The ticket of the refresh in flight and when it began.
    in_flight: Option<(u64, SystemTime)>,
    /// After a failed refresh, no `RefreshDue` before this.
    quiet_until: Option<SystemTime>,
    /// The next token stored replaces one the service refused.
    replacing_refused: bool,
    /// The current token replaced a refused one and has not been accepted yet.
    on_trial: Option<TokenId>,
    /// The newest token whose refusal ended in `GiveUp`: it and older ones give up again.
    given_up: Option<TokenId>,
}

impl TokenCache {
    /// An empty cache: the first [`TokenCache::state`] is `RefreshRequired`.
    pub fn new(policy: RefreshPolicy) -> TokenCache {
        TokenCache {
            policy,
            ..TokenCache::default()
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &RefreshPolicy {
        &self.policy
    }

    /// What to do before sending a request at `now`.
    pub fn state(&self, now: SystemTime) -> TokenState<'_> {
        let Some(cached) = self.current.as_ref().filter(|c| now < c.expires_at) else {
            return TokenState::RefreshRequired;
        };
        let lease = Lease {
            token: &cached.token,
            id: cached.id,
            expires_at: cached.expires_at,
        };
        let due = self.next_refresh_at().is_some_and(|at| now >= at);
        if due && !self.is_refreshing(now) {
            TokenState::RefreshDue(lease)
        } else {
            TokenState::Fresh(lease)
        }
    }

    /// When the current token becomes due for refresh (possibly already past),
    /// pushed back after a failed refresh; `None` when there is no token, which
    /// means refresh on demand.
    pub fn next_refresh_at(&self) -> Option<SystemTime> {
        let cached = self.current.as_ref()?;
        Some(match self.quiet_until {
            Some(quiet) => quiet.max(cached.refresh_at),
            None => cached.refresh_at,
        })
    }

    /// Whether a refresh is in flight (and not yet abandoned) at `now`.
    pub fn is_refreshing(&self, now: SystemTime) -> bool {
        self.in_flight
            .is_some_and(|(_, began)| !self.abandoned(began, now))
    }

    /// Start a refresh. `None` when another is in flight: use the current token
    /// if [`TokenCache::state`] gives one, or wait for that refresh to end.
    pub fn begin_refresh(&mut self, now: SystemTime) -> Option<RefreshTicket> {
        if self.is_refreshing(now) {
            return None;
        }
        self.tickets += 1;
        self.in_flight = Some((self.tickets, now));
        Some(RefreshTicket(self.tickets))
    }

    /// Store a token IAM issued. A late ticket (its refresh was taken over)
    /// still stores its token, which is newer than anything refused before.
    pub fn complete_refresh(
        &mut self,
        ticket: RefreshTicket,
        issued: IssuedToken,
        now: SystemTime,
    ) -> Result<TokenId, RefreshRejected> {
        self.end_flight(&ticket);
        let Ok(lifetime) = issued.expires_at.duration_since(now) else {
            return Err(RefreshRejected::AlreadyExpired);
        };
        if lifetime.is_zero() {
            return Err(RefreshRejected::AlreadyExpired);
        }
        self.issued += 1;
        let id = TokenId(self.issued);
        // The margin is at most half the lifetime, so this stays after `now`.
        let refresh_at = issued
            .expires_at
            .checked_sub(self.policy.margin_for(lifetime))
            .unwrap_or(now);
        self.current = Some(Cached {
            token: issued.token,
            id,
            expires_at: issued.expires_at,
            refresh_at,
        });
        self.quiet_until = None;
        if std::mem::take(&mut self.replacing_refused) {
            self.on_trial = Some(id);
        }
        Ok(id)
    }

    /// The refresh failed: a still-valid token stays in use, and no new
    /// refresh is due for the policy's retry delay. Without a valid token the
    /// state stays `RefreshRequired` and the driver reports the failure.
    pub fn fail_refresh(&mut self, ticket: RefreshTicket, now: SystemTime) {
        if self.end_flight(&ticket) {
            self.quiet_until = now.checked_add(self.policy.retry_after_failure);
        }
    }

    /// The service answered 401 to a request sent with token `refused`.
    /// The first refusal drops the token so the next state asks for a new one;
    /// a refusal of that replacement, before any request succeeded with it,
    /// gives up (and drops it too, so a later call starts afresh).
    pub fn on_unauthorized(&mut self, refused: TokenId) -> UnauthorizedAction {
        if self.given_up.is_some_and(|given_up| refused <= given_up) {
            return UnauthorizedAction::GiveUp;
        }
        let is_current = self.current.as_ref().is_some_and(|c| c.id == refused);
        if self.on_trial == Some(refused) {
            if is_current {
                self.current = None;
            }
            self.on_trial = None;
            self.replacing_refused = false;
            self.given_up = Some(refused);
            return UnauthorizedAction::GiveUp;
        }
        if is_current {
            self.current = None;
            self.replacing_refused = true;
        }
        UnauthorizedAction::RetryWithNewToken
    }

    /// The service accepted token `id` (any answer but 401): a replacement
    /// token is then trusted like any other.
    pub fn on_accepted(&mut self, id: TokenId) {
        if self.on_trial == Some(id) {
            self.on_trial = None;
        }
    }

    /// Drop the current token (the credentials changed, say); the next state
    /// is `RefreshRequired`.
    pub fn invalidate(&mut self) {
        self.current = None;
        self.on_trial = None;
    }

    fn abandoned(&self, began: SystemTime, now: SystemTime) -> bool {
        now.duration_since(began)
            .is_ok_and(|elapsed| elapsed >= self.policy.abandon_after)
    }

    /// Clear the in-flight mark if `ticket` holds it; says whether it did.
    fn end_flight(&mut self, ticket: &RefreshTicket) -> bool {
        let holds = self.in_flight.is_some_and(|(id, _)| id == ticket.0);
        if holds {
            self.in_flight = None;
        }
        holds
    }
}
