//! budget: what answers may take of the server's memory and workers, shared by all connections.
//!
//! - [`AnswerBytes`]: a large answer built for one request (a long `/api/query` series is up to
//!   about 9 MiB) stays in memory until the client has read it, and a client that never reads
//!   holds it for the whole write deadline. All such answers together may hold at most
//!   [`ANSWER_BUDGET_BYTES`](super::limits::ANSWER_BUDGET_BYTES); past that a request gets a 503
//!   with `Retry-After` instead of one more held answer. Small answers (copied into the
//!   connection's output buffer) and files compiled into the binary need no share.
//! - [`ExpensiveGate`]: requests the handler calls expensive run
//!   [`EXPENSIVE_AT_ONCE`](super::limits::EXPENSIVE_AT_ONCE) at a time, so a web worker is
//!   always left for cheap ones (health, summary, realtime, the dashboard's files). Up to
//!   [`EXPENSIVE_QUEUE`](super::limits::EXPENSIVE_QUEUE) more wait their turn on their
//!   coroutine (the worker goes on with other connections); the rest get a 503 at once, and so
//!   does an expensive request while the budget has no room for the largest answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use may::sync::Semphore;

/// Bytes held by large answers still being written, across all connections.
pub struct AnswerBytes {
    held: AtomicUsize,
    limit: usize,
}

/// A share of [`AnswerBytes`], given back when dropped (the answer was written or abandoned).
pub struct Held {
    bytes: usize,
    budget: Arc<AnswerBytes>,
}

impl AnswerBytes {
    pub fn new(limit: usize) -> Arc<AnswerBytes> {
        Arc::new(AnswerBytes {
            held: AtomicUsize::new(0),
            limit,
        })
    }

    /// A share of `bytes`, or `None` when it would take the total past the limit.
    pub fn take(self: &Arc<Self>, bytes: usize) -> Option<Held> {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(bytes).filter(|&total| total <= self.limit)
            })
            .ok()?;
        Some(Held {
            bytes,
            budget: Arc::clone(self),
        })
    }

    /// Whether `bytes` more would fit now.
    pub fn has_room(&self, bytes: usize) -> bool {
        self.held
            .load(Ordering::Acquire)
            .checked_add(bytes)
            .is_some_and(|total| total <= self.limit)
    }

    /// Bytes held now.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.held.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// Expensive requests running and waiting.
pub struct ExpensiveGate {
    running: Semphore,
    /// Waiting or running.
    admitted: AtomicUsize,
    most_admitted: usize,
    wait: Duration,
}

/// A turn at [`ExpensiveGate`], given back when dropped.
pub struct Turn<'a> {
    gate: &'a ExpensiveGate,
}

impl ExpensiveGate {
    pub fn new(at_once: usize, queue: usize, wait: Duration) -> ExpensiveGate {
        ExpensiveGate {
            running: Semphore::new(at_once.max(1)),
            admitted: AtomicUsize::new(0),
            most_admitted: at_once.max(1) + queue,
            wait,
        }
    }

    /// Wait (parking only this coroutine) for a turn; `None` when the queue is full or the turn
    /// did not come within the wait.
    pub fn enter(&self) -> Option<Turn<'_>> {
        let admitted = self.admitted.fetch_add(1, Ordering::AcqRel);
        if admitted >= self.most_admitted || !self.running.wait_timeout(self.wait) {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Turn { gate: self })
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.gate.running.post();
        self.gate.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_limit_and_come_back_when_dropped() {
        let budget = AnswerBytes::new(10);
        let six = budget.take(6).expect("fits");
        assert!(budget.take(5).is_none(), "6 + 5 is past 10");
        let four = budget.take(4).expect("6 + 4 fits exactly");
        assert_eq!(budget.held(), 10);
        assert!(!budget.has_room(1));
        drop(six);
        assert_eq!(budget.held(), 4);
        assert!(budget.take(usize::MAX).is_none(), "no overflow");
        drop(four);
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn the_gate_refuses_past_its_queue_and_reopens() {
        let gate = ExpensiveGate::new(1, 0, Duration::from_millis(10));
        let turn = gate.enter().expect("the first runs");
        assert!(gate.enter().is_none(), "no queue: refused");
        drop(turn);
        assert!(gate.enter().is_some(), "free again");
    }
}
