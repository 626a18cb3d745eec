//! Per-service deadlines (a delayed restart, the end of a logger's drain), earliest first.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::scan::Key;

/// What a deadline is for; checked against the service's state when it fires, so a deadline
/// that no longer applies is simply dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Start the service's missing supervise processes again (after a quick exit or a failed
    /// spawn: at most one start a second per service, never a tight loop).
    Retry(Key),
    /// The logger had its time to drain to end of file: tell it to go down.
    Drain(Key),
}

/// A queue of deadlines.
#[derive(Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, Timer)>>,
}

impl Timers {
    /// Adds a deadline.
    pub fn at(&mut self, when: Instant, timer: Timer) {
        self.heap.push(Reverse((when, timer)));
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((when, _))| *when)
    }

    /// Removes and returns the deadlines due at `now`.
    pub fn due(&mut self, now: Instant) -> Vec<Timer> {
        let mut due = Vec::new();
        while let Some(Reverse((when, timer))) = self.heap.peek() {
            if *when > now {
                break;
            }
            due.push(*timer);
            self.heap.pop();
        }
        due
    }
}
