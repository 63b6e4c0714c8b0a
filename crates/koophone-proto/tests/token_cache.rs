//! Token cache decisions under a virtual clock: fresh, near expiry, expired,
//! a 401 mid-life, refresh failures and single-flight refreshes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use koophone_proto::Token;
use koophone_proto::auth::{
    IssuedToken, RefreshPolicy, RefreshRejected, RefreshTicket, TokenCache, TokenId, TokenState,
    UnauthorizedAction,
};
use proptest::prelude::*;

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_500_131)
}

fn issued(name: &str, expires_at: SystemTime) -> IssuedToken {
    IssuedToken {
        token: Token::new(name).unwrap(),
        expires_at,
    }
}

/// Run one refresh at `now` that yields a token named `name` living `lifetime`.
fn refresh(cache: &mut TokenCache, name: &str, now: SystemTime, lifetime: Duration) -> TokenId {
    let ticket = cache.begin_refresh(now).expect("no refresh in flight");
    complete(cache, ticket, name, now, lifetime)
}

/// End the refresh `ticket` at `now` with a token named `name` living `lifetime`.
fn complete(
    cache: &mut TokenCache,
    ticket: RefreshTicket,
    name: &str,
    now: SystemTime,
    lifetime: Duration,
) -> TokenId {
    cache
        .complete_refresh(ticket, issued(name, now + lifetime), now)
        .unwrap()
}

/// The token the state hands out, and whether it is due for refresh.
fn lease(cache: &TokenCache, now: SystemTime) -> Option<(String, TokenId, bool)> {
    match cache.state(now) {
        TokenState::Fresh(l) => Some((l.token.expose_secret().to_owned(), l.id, false)),
        TokenState::RefreshDue(l) => Some((l.token.expose_secret().to_owned(), l.id, true)),
        TokenState::RefreshRequired => None,
    }
}

#[test]
fn an_empty_cache_requires_a_refresh() {
    let cache = TokenCache::new(RefreshPolicy::default());
    assert!(matches!(cache.state(t0()), TokenState::RefreshRequired));
    assert_eq!(cache.next_refresh_at(), None);
    assert!(!cache.is_refreshing(t0()));
}

#[test]
fn a_day_token_is_fresh_then_due_then_expired() {
    let mut cache = TokenCache::new(RefreshPolicy::default());
    let id = refresh(&mut cache, "a", t0(), DAY);
    // 10% of 24 h is 2.4 h, more than the 1 h floor.
    let due = t0() + DAY - Duration::from_secs(8640);
    assert_eq!(cache.next_refresh_at(), Some(due));
    assert_eq!(lease(&cache, t0()), Some(("a".into(), id, false)));
    assert_eq!(
        lease(&cache, due - Duration::from_secs(1)),
        Some(("a".into(), id, false))
    );
    assert_eq!(lease(&cache, due), Some(("a".into(), id, true)));
    assert_eq!(
        lease(&cache, t0() + DAY - Duration::from_secs(1)),
        Some(("a".into(), id, true))
    );
    assert_eq!(lease(&cache, t0() + DAY), None);
    assert_eq!(lease(&cache, t0() + 2 * DAY), None);
}

#[test]
fn margins_follow_the_policy() {
    let default = RefreshPolicy::default();
    assert_eq!(default.margin_for(DAY), Duration::from_secs(8640));
    assert_eq!(default.margin_for(5 * HOUR), HOUR);
    // Never more than half the lifetime, or a short token would always be due.
    assert_eq!(default.margin_for(HOUR), HOUR / 2);
    assert_eq!(default.margin_for(Duration::ZERO), Duration::ZERO);

    let custom = RefreshPolicy::default().with_margin(Duration::from_secs(300));
    assert_eq!(custom.margin_for(DAY), Duration::from_secs(300));
    assert_eq!(
        custom.margin_for(Duration::from_secs(400)),
        Duration::from_secs(200)
    );

    let mut cache = TokenCache::new(custom);
    refresh(&mut cache, "a", t0(), DAY);
    assert_eq!(
        cache.next_refresh_at(),
        Some(t0() + DAY - Duration::from_secs(300))
    );
}

#[test]
fn one_refresh_at_a_time_until_it_is_abandoned() {
    let at = |secs| t0() + Duration::from_secs(secs);
    let policy = RefreshPolicy::default().with_abandon_after(Duration::from_secs(60));
    let mut cache = TokenCache::new(policy);
    let first = cache.begin_refresh(t0()).unwrap();
    assert!(cache.is_refreshing(t0()));
    assert_eq!(cache.begin_refresh(at(59)), None);
    // The first refresher hung: someone else takes over.
    let second = cache.begin_refresh(at(60)).unwrap();
    assert_ne!(first, second);
    // The late first one still delivers a token, but does not end the second flight.
    let late = complete(&mut cache, first, "late", at(61), DAY);
    assert!(cache.is_refreshing(at(61)));
    assert_eq!(lease(&cache, at(61)), Some(("late".into(), late, false)));
    let newer = complete(&mut cache, second, "newer", at(62), DAY);
    assert!(newer > late);
    assert!(!cache.is_refreshing(at(62)));
    assert_eq!(lease(&cache, at(62)), Some(("newer".into(), newer, false)));
}

#[test]
fn a_due_token_is_fresh_while_its_refresh_is_in_flight() {
    let mut cache = TokenCache::new(RefreshPolicy::default());
    let id = refresh(&mut cache, "a", t0(), DAY);
    let due = cache.next_refresh_at().unwrap();
    assert_eq!(lease(&cache, due), Some(("a".into(), id, true)));
    let ticket = cache.begin_refresh(due).unwrap();
    assert_eq!(lease(&cache, due), Some(("a".into(), id, false)));
    let new = complete(&mut cache, ticket, "b", due, DAY);
    assert_eq!(lease(&cache, due), Some(("b".into(), new, false)));
}

#[test]
fn a_failed_refresh_keeps_the_valid_token_and_waits_before_retrying() {
    let policy = RefreshPolicy::default().with_retry_after_failure(Duration::from_secs(30));
    let mut cache = TokenCache::new(policy);
    let id = refresh(&mut cache, "a", t0(), DAY);
    let due = cache.next_refresh_at().unwrap();
    let ticket = cache.begin_refresh(due).unwrap();
    cache.fail_refresh(ticket, due);
    assert!(!cache.is_refreshing(due));
    assert_eq!(cache.next_refresh_at(), Some(due + Duration::from_secs(30)));
    assert_eq!(
        lease(&cache, due + Duration::from_secs(29)),
        Some(("a".into(), id, false))
    );
    assert_eq!(
        lease(&cache, due + Duration::from_secs(30)),
        Some(("a".into(), id, true))
    );
    // Failing until expiry leaves no token.
    let ticket = cache.begin_refresh(due + Duration::from_secs(30)).unwrap();
    cache.fail_refresh(ticket, due + Duration::from_secs(30));
    assert_eq!(lease(&cache, t0() + DAY), None);
    // A success clears the back-off.
    let new = refresh(&mut cache, "b", t0() + DAY, DAY);
    assert_eq!(
        cache.next_refresh_at(),
        Some(t0() + 2 * DAY - Duration::from_secs(8640))
    );
    assert_eq!(lease(&cache, t0() + DAY), Some(("b".into(), new, false)));
}

#[test]
fn a_failed_first_refresh_can_be_retried_at_once() {
    let mut cache = TokenCache::new(RefreshPolicy::default());
    let ticket = cache.begin_refresh(t0()).unwrap();
    cache.fail_refresh(ticket, t0());
    assert!(matches!(cache.state(t0()), TokenState::RefreshRequired));
    assert!(cache.begin_refresh(t0()).is_some());
}

#[test]
fn a_401_mid_life_refreshes_once_then_gives_up() {
    let mut cache = TokenCache::new(RefreshPolicy::default());
    let first = refresh(&mut cache, "a", t0(), DAY);
    let later = t0() + 2 * HOUR;
    assert_eq!(
        cache.on_unauthorized(first),
        UnauthorizedAction::RetryWithNewToken
    );
    assert!(matches!(cache.state(later), TokenState::RefreshRequired));
    let second = refresh(&mut cache, "b", later, DAY);
    assert_eq!(lease(&cache, later), Some(("b".into(), second, false)));
    // The replacement is refused too: the credentials lack access.
    assert_eq!(cache.on_unauthorized(second), UnauthorizedAction::GiveUp);
    assert!(matches!(cache.state(later), TokenState::RefreshRequired));
    // Another request that used the refused token gives up as well.
    assert_eq!(cache.on_unauthorized(second), UnauthorizedAction::GiveUp);
    assert_eq!(cache.on_unauthorized(first), UnauthorizedAction::GiveUp);
    // A later call starts afresh: one more refresh and retry.
    let third = refresh(&mut cache, "c", later, DAY);
    assert_eq!(
        cache.on_unauthorized(third),
        UnauthorizedAction::RetryWithNewToken
    );
}

/// A cache whose first token ("a") got a 401, which asks for one retry
/// with a new token, and its replacement ("b"): the cache and both ids.
fn refused_and_replaced() -> (TokenCache, TokenId, TokenId) {
    let mut cache = TokenCache::new(RefreshPolicy::default());
    let first = refresh(&mut cache, "a", t0(), DAY);
    assert_eq!(
        cache.on_unauthorized(first),
        UnauthorizedAction::RetryWithNewToken
    );
    let second = refresh(&mut cache, "b", t0(), DAY);
    (cache, first, second)
}

#[test]
fn an_accepted_replacement_is_trusted_like_any_token() {
    let (mut cache, _, second) = refused_and_replaced();
    cache.on_accepted(second);
    // Revoked hours later: refresh and retry rather than fail.
    assert_eq!(
        cache.on_unauthorized(second),
        UnauthorizedAction::RetryWithNewToken
    );
}

#[test]
fn a_late_401_for_a_replaced_token_keeps_the_new_one() {
    // Two requests were in flight with the first token; both get 401.
    let (mut cache, first, second) = refused_and_replaced();
    assert_eq!(
        cache.on_unauthorized(first),
        UnauthorizedAction::RetryWithNewToken
    );
    assert_eq!(lease(&cache, t0()), Some(("b".into(), second, false)));
}

#[test]
fn an_already_expired_token_is_refused() {
    let mut cache = TokenCache::new(RefreshPolicy::default());
    let ticket = cache.begin_refresh(t0()).unwrap();
    assert_eq!(
        cache.complete_refresh(ticket, issued("old", t0()), t0()),
        Err(RefreshRejected::AlreadyExpired)
    );
    assert!(!cache.is_refreshing(t0()));
    assert!(matches!(cache.state(t0()), TokenState::RefreshRequired));
    let ticket = cache.begin_refresh(t0()).unwrap();
    assert_eq!(
        cache.complete_refresh(ticket, issued("older", t0() - HOUR), t0()),
        Err(RefreshRejected::AlreadyExpired)
    );
}

#[test]
fn invalidate_drops_the_token_and_debug_hides_it() {
    let mut cache = TokenCache::new(RefreshPolicy::default());
    refresh(&mut cache, "secret-token-value", t0(), DAY);
    let debug = format!("{cache:?} {:?}", cache.state(t0()));
    assert!(!debug.contains("secret-token-value"), "{debug}");
    cache.invalidate();
    assert!(matches!(cache.state(t0()), TokenState::RefreshRequired));
    assert_eq!(cache.next_refresh_at(), None);
}

#[derive(Debug, Clone)]
enum Event {
    Advance(u64),
    Begin,
    Complete { lifetime: u64 },
    Fail,
    Unauthorized,
    Accepted,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (0u64..50_000).prop_map(Event::Advance),
        Just(Event::Begin),
        (0u64..200_000).prop_map(|lifetime| Event::Complete { lifetime }),
        Just(Event::Fail),
        Just(Event::Unauthorized),
        Just(Event::Accepted),
    ]
}

proptest! {
    /// Whatever happens, the cache never hands out an expired token, a due
    /// token is really inside its margin, and at most one refresh is in flight.
    #[test]
    fn never_hands_out_an_expired_token(events in proptest::collection::vec(event(), 0..60)) {
        let policy = RefreshPolicy::default().with_abandon_after(Duration::from_secs(600));
        let mut cache = TokenCache::new(policy);
        let mut now = t0();
        let mut tickets = Vec::new();
        let mut last_id = None;
        for event in events {
            match event {
                Event::Advance(seconds) => now += Duration::from_secs(seconds),
                Event::Begin => {
                    let refreshing = cache.is_refreshing(now);
                    let ticket = cache.begin_refresh(now);
                    prop_assert_eq!(ticket.is_some(), !refreshing);
                    tickets.extend(ticket);
                }
                Event::Complete { lifetime } => {
                    if let Some(ticket) = tickets.pop() {
                        let result = cache.complete_refresh(
                            ticket,
                            issued("t", now + Duration::from_secs(lifetime)),
                            now,
                        );
                        prop_assert_eq!(result.is_err(), lifetime == 0);
                    }
                }
                Event::Fail => {
                    if let Some(ticket) = tickets.pop() {
                        cache.fail_refresh(ticket, now);
                    }
                }
                Event::Unauthorized => {
                    if let Some(id) = last_id {
                        cache.on_unauthorized(id);
                    }
                }
                Event::Accepted => {
                    if let Some(id) = last_id {
                        cache.on_accepted(id);
                    }
                }
            }
            match cache.state(now) {
                TokenState::Fresh(lease) => {
                    prop_assert!(now < lease.expires_at);
                    last_id = Some(lease.id);
                }
                TokenState::RefreshDue(lease) => {
                    prop_assert!(now < lease.expires_at);
                    prop_assert!(cache.next_refresh_at().is_some_and(|at| at <= now));
                    prop_assert!(!cache.is_refreshing(now));
                    last_id = Some(lease.id);
                }
                TokenState::RefreshRequired => {}
            }
        }
    }
}
