//! budget: what answers may take of the server's memory and workers, shared by all connections.
//!
//! - [`AnswerBytes`]: a large answer built for one request (a long `/api/query` series is up to
//!   about 9 MiB) stays in memory until the client has read it, and a client that never reads
//!   holds it for the whole write deadline. All such answers together may hold at most
//!   [`ANSWER_BUDGET_BYTES`](super::limits::ANSWER_BUDGET_BYTES); past that a request gets a 503
//!   with `Retry-After` instead of one more held answer. Small answers (copied into the
//!   connection's output buffer) and files compiled into the binary need no share.
//! - [`ExpensiveGate`]: requests the handler calls expensive run on
//!   [`EXPENSIVE_AT_ONCE`](super::limits::EXPENSIVE_AT_ONCE) `http-expensive` thread(s) of their
//!   own, never on the web workers: a `may` worker polls the sockets of its share of the
//!   connections only between coroutines, so a worker busy with a long query would stall every
//!   client on it, cheap ones included. Up to [`EXPENSIVE_QUEUE`](super::limits::EXPENSIVE_QUEUE)
//!   more wait their turn, their coroutines parked; the rest get a 503 at once, and so does an
//!   expensive request while the answer budget has no room for the largest answer.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::serve::{Handler, Header, Request, Response};

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

/// A request copied out of the connection's buffer, for the expensive-request thread.
struct OwnedRequest {
    method: String,
    path: Vec<u8>,
    query: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
}

/// What the expensive-request thread sends back: the answer, `Err` when the handler panicked,
/// `None` when the request waited past its deadline and was not run.
type Outcome = Option<std::thread::Result<Response>>;

struct Job {
    request: OwnedRequest,
    deadline: Instant,
    reply: may::sync::mpsc::Sender<Outcome>,
}

/// Runs the handler's expensive requests on threads of their own.
pub struct ExpensiveGate {
    jobs: Mutex<std::sync::mpsc::Sender<Job>>,
    /// Waiting or running.
    admitted: AtomicUsize,
    most_admitted: usize,
    wait: Duration,
}

impl ExpensiveGate {
    /// Start `at_once` threads named `http-expensive` that answer with `handler`.
    ///
    /// # Errors
    /// When a thread cannot start.
    pub fn start(
        handler: Arc<dyn Handler>,
        at_once: usize,
        queue: usize,
        wait: Duration,
    ) -> io::Result<ExpensiveGate> {
        let (jobs, waiting) = std::sync::mpsc::channel::<Job>();
        let waiting = Arc::new(Mutex::new(waiting));
        for _ in 0..at_once.max(1) {
            let handler = Arc::clone(&handler);
            let waiting = Arc::clone(&waiting);
            std::thread::Builder::new()
                .name("http-expensive".into())
                .spawn(move || serve_jobs(&*handler, &waiting))?;
        }
        Ok(ExpensiveGate {
            jobs: Mutex::new(jobs),
            admitted: AtomicUsize::new(0),
            most_admitted: at_once.max(1) + queue,
            wait,
        })
    }

    /// Answer `request` on an expensive-request thread while this coroutine waits (its worker
    /// goes on with other connections). `None` when the queue is full or the turn did not come
    /// within the wait.
    pub fn run(&self, request: &Request<'_>) -> Outcome {
        let admitted = self.admitted.fetch_add(1, Ordering::AcqRel);
        let outcome = if admitted < self.most_admitted {
            self.send_and_wait(request)
        } else {
            None
        };
        self.admitted.fetch_sub(1, Ordering::AcqRel);
        outcome
    }

    fn send_and_wait(&self, request: &Request<'_>) -> Outcome {
        let (reply, answer) = may::sync::mpsc::channel();
        let job = Job {
            request: OwnedRequest {
                method: request.method.to_string(),
                path: request.path.to_vec(),
                query: request.query.to_vec(),
                headers: request
                    .headers
                    .iter()
                    .map(|header| (header.name.to_string(), header.value.to_vec()))
                    .collect(),
            },
            deadline: Instant::now() + self.wait,
            reply,
        };
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(job)
            .ok()?;
        // Parks this coroutine only; a thread that died drops the sender: no answer.
        answer.recv().ok().flatten()
    }
}

fn serve_jobs(handler: &dyn Handler, waiting: &Mutex<std::sync::mpsc::Receiver<Job>>) {
    loop {
        let job = match waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv()
        {
            Ok(job) => job,
            Err(_) => return,
        };
        let outcome = (Instant::now() <= job.deadline).then(|| {
            let owned = &job.request;
            let headers: Vec<Header<'_>> = owned
                .headers
                .iter()
                .map(|(name, value)| Header { name, value })
                .collect();
            let request = Request {
                method: &owned.method,
                path: &owned.path,
                query: &owned.query,
                headers: &headers,
            };
            catch_unwind(AssertUnwindSafe(|| handler.handle(&request)))
        });
        // The client may be gone: nobody to tell.
        let _ = job.reply.send(outcome);
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
}
