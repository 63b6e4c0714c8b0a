//! The fleet's timer queue: one binary heap of (instant, instance) entries,
//! earliest first, ties to the instance added first. Entries are never
//! removed from the middle: each carries the generation of its instance's
//! schedule, and an entry whose generation is no longer current is dropped
//! when it reaches the top (lazy deletion). Every operation is O(log n).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

#[derive(Debug, Clone, Default)]
pub(crate) struct TimerQueue {
    heap: BinaryHeap<Reverse<(Instant, usize, u32)>>,
}

impl TimerQueue {
    pub(crate) fn push(&mut self, at: Instant, instance: usize, generation: u32) {
        self.heap.push(Reverse((at, instance, generation)));
    }

    /// The earliest entry that `is_current(instance, generation)` accepts,
    /// dropping stale ones on the way.
    pub(crate) fn peek(
        &mut self,
        mut is_current: impl FnMut(usize, u32) -> bool,
    ) -> Option<(Instant, usize)> {
        while let Some(Reverse((at, instance, generation))) = self.heap.peek().copied() {
            if is_current(instance, generation) {
                return Some((at, instance));
            }
            self.heap.pop();
        }
        None
    }

    pub(crate) fn pop(&mut self) {
        self.heap.pop();
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_first_ties_by_instance_stale_entries_skipped() {
        let t0 = Instant::now();
        let mut q = TimerQueue::default();
        q.push(t0 + Duration::from_secs(2), 0, 0);
        q.push(t0 + Duration::from_secs(1), 2, 0);
        q.push(t0 + Duration::from_secs(1), 1, 0);
        q.push(t0, 3, 0); // rescheduled below: stale
        q.push(t0 + Duration::from_secs(3), 3, 1);
        let current = |instance: usize, generation: u32| instance != 3 || generation == 1;
        let mut order = Vec::new();
        while let Some((at, instance)) = q.peek(current) {
            order.push((at - t0, instance));
            q.pop();
        }
        let s = Duration::from_secs;
        assert_eq!(order, [(s(1), 1), (s(1), 2), (s(2), 0), (s(3), 3)]);
        assert_eq!(q.len(), 0);
    }
}
