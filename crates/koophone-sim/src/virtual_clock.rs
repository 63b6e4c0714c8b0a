//! The virtual clock that lets in-process transports drive the simulator
//! deterministically. It reads no real clock: its origin comes from the caller.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// A clock that only moves when told to: shared (clones see the same time)
/// and mapping to real [`Instant`]s, so code that takes `now: Instant` (the
/// koophone-proto waiter) and the simulator (which takes time since start)
/// agree on one timeline, and to wall-clock time (what requests are signed
/// with). Both origins are the caller's, so a run repeats exactly.
#[derive(Debug, Clone)]
pub struct VirtualClock {
    origin: Instant,
    wall_origin: SystemTime,
    elapsed_nanos: Arc<AtomicU64>,
}

impl VirtualClock {
    /// A clock at time zero, anchored at `origin` and at the wall-clock time
    /// `wall_origin` (the simulator's [`wall_clock_origin`] keeps the two
    /// timelines of a [`MemoryTransport`] one).
    ///
    /// [`wall_clock_origin`]: crate::Simulator::wall_clock_origin
    /// [`MemoryTransport`]: crate::memory::MemoryTransport
    pub fn new(origin: Instant, wall_origin: SystemTime) -> Self {
        Self {
            origin,
            wall_origin,
            elapsed_nanos: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The instant time zero maps to.
    pub fn origin(&self) -> Instant {
        self.origin
    }

    /// The wall-clock time time zero maps to.
    pub fn wall_origin(&self) -> SystemTime {
        self.wall_origin
    }

    /// The current virtual wall-clock time.
    pub fn wall_now(&self) -> SystemTime {
        self.wall_origin + self.elapsed()
    }

    /// Virtual time since the origin: what the simulator takes as `at`.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.elapsed_nanos.load(Ordering::SeqCst))
    }

    /// The current virtual instant.
    pub fn now(&self) -> Instant {
        self.origin + self.elapsed()
    }

    /// Moves time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // fetch_update never fails with a closure that always returns Some.
        let _ = self
            .elapsed_nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(by))
            });
    }

    /// Moves time forward to `instant`; an instant in the past changes
    /// nothing (time never goes back).
    pub fn advance_to(&self, instant: Instant) {
        let target = u64::try_from(self.since_origin(instant).as_nanos()).unwrap_or(u64::MAX);
        self.elapsed_nanos.fetch_max(target, Ordering::SeqCst);
    }

    /// Time from the origin to `instant` (zero for instants before it).
    pub fn since_origin(&self, instant: Instant) -> Duration {
        instant.saturating_duration_since(self.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_time_and_time_never_goes_back() {
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let clock = VirtualClock::new(Instant::now(), wall);
        let other = clock.clone();
        clock.advance(Duration::from_millis(1500));
        assert_eq!(other.elapsed(), Duration::from_millis(1500));
        assert_eq!(other.now(), clock.origin() + Duration::from_millis(1500));
        other.advance_to(clock.origin() + Duration::from_millis(100));
        assert_eq!(clock.elapsed(), Duration::from_millis(1500));
        other.advance_to(clock.origin() + Duration::from_secs(3));
        assert_eq!(clock.elapsed(), Duration::from_secs(3));
        assert_eq!(other.wall_now(), wall + Duration::from_secs(3));
    }
}
