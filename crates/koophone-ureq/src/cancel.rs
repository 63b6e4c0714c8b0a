//! Cancelling calls and waits from another thread.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Instant;

/// A flag shared between the thread that waits and the one that may stop it.
///
/// Cancelling wakes a sleeping wait at once (a condition variable, not a
/// polling loop), so a Ctrl-C handler can end a long backoff immediately.
/// A request already on the wire is not interrupted: it ends within the
/// client's per-request timeout, and nothing is sent after it.
///
/// Clones share the same flag. Cancellation is permanent.
#[derive(Clone, Default)]
pub struct CancelToken(Arc<Shared>);

#[derive(Default)]
struct Shared {
    cancelled: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Cancel every call and wait that observes this token, waking those asleep.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        // Taking the lock orders this notification after any sleeper's check of
        // the flag, so a sleeper cannot miss it.
        let _guard = self.0.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.0.wake.notify_all();
    }

    /// Whether [`CancelToken::cancel`] has been called.
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    /// Sleep until `deadline` or until cancelled; true when cancelled.
    pub(crate) fn sleep_until(&self, deadline: Instant) -> bool {
        let mut guard = self.0.lock.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if self.is_cancelled() {
                return true;
            }
            let now = Instant::now();
            let Some(left) = deadline
                .checked_duration_since(now)
                .filter(|d| !d.is_zero())
            else {
                return false;
            };
            guard = self
                .0
                .wake
                .wait_timeout(guard, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sleep_returns_false_when_the_deadline_passes() {
        let token = CancelToken::new();
        assert!(!token.sleep_until(Instant::now() + Duration::from_millis(5)));
        assert!(!token.is_cancelled());
    }

    #[test]
    fn cancel_before_sleep_returns_at_once() {
        let token = CancelToken::new();
        token.clone().cancel();
        assert!(token.is_cancelled());
        assert!(token.sleep_until(Instant::now() + Duration::from_secs(3600)));
    }

    #[test]
    fn cancel_from_another_thread_wakes_a_sleeper() {
        let token = CancelToken::new();
        let sleeper = {
            let token = token.clone();
            std::thread::spawn(move || {
                token.sleep_until(Instant::now() + Duration::from_secs(3600))
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        token.cancel();
        // Joining at all proves the hour-long sleep was cut short.
        assert!(sleeper.join().expect("sleeper thread"));
    }
}
