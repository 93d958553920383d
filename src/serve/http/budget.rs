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
    pool: Arc<Pool>,
    /// Waiting or running.
    admitted: AtomicUsize,
    most_admitted: usize,
    wait: Duration,
}

/// The `http-expensive` threads: started when a job arrives and none is free, ended after
/// [`EXPENSIVE_IDLE_EXIT`](super::limits::EXPENSIVE_IDLE_EXIT) without work. An ended thread gives its allocator heap back, which an
/// idle one never would: the answers it built were freed by the web workers, and the allocator
/// takes such cross-thread frees back only when the building thread allocates again.
struct Pool {
    handler: Arc<dyn Handler>,
    at_once: usize,
    idle_exit: Duration,
    dispatch: Mutex<Dispatch>,
    waiting: Mutex<std::sync::mpsc::Receiver<Job>>,
}

/// Sending a job and a thread deciding to end happen under one lock, so a job is never left
/// in the queue with no thread to run it.
struct Dispatch {
    jobs: std::sync::mpsc::Sender<Job>,
    threads: usize,
}

impl ExpensiveGate {
    /// Run expensive requests with `handler` on up to `at_once` threads named `http-expensive`
    /// that end after `idle_exit` without work; up to `queue` more wait at most `wait` for their
    /// turn.
    ///
    /// # Errors
    /// When a thread cannot start (one is started now, so a machine out of threads says so at
    /// start rather than at the first long query).
    pub fn start(
        handler: Arc<dyn Handler>,
        at_once: usize,
        queue: usize,
        wait: Duration,
        idle_exit: Duration,
    ) -> io::Result<ExpensiveGate> {
        let (jobs, waiting) = std::sync::mpsc::channel::<Job>();
        let pool = Arc::new(Pool {
            handler,
            at_once: at_once.max(1),
            idle_exit,
            dispatch: Mutex::new(Dispatch { jobs, threads: 0 }),
            waiting: Mutex::new(waiting),
        });
        Pool::add_thread(&pool, &mut pool.lock_dispatch())?;
        Ok(ExpensiveGate {
            pool,
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
        {
            let mut dispatch = self.pool.lock_dispatch();
            dispatch.jobs.send(job).ok()?;
            if dispatch.threads < self.pool.at_once
                && let Err(error) = Pool::add_thread(&self.pool, &mut dispatch)
            {
                // The job stays queued for a running thread, or waits out its deadline.
                log::warn!("web server: cannot start a thread for long queries: {error}");
            }
        }
        // Parks this coroutine only; a thread that died drops the sender: no answer.
        answer.recv().ok().flatten()
    }
}

impl Pool {
    fn lock_dispatch(&self) -> std::sync::MutexGuard<'_, Dispatch> {
        self.dispatch.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add_thread(pool: &Arc<Pool>, dispatch: &mut Dispatch) -> io::Result<()> {
        let runner = Arc::clone(pool);
        std::thread::Builder::new()
            .name("http-expensive".into())
            .spawn(move || runner.serve_jobs())?;
        dispatch.threads += 1;
        Ok(())
    }

    fn serve_jobs(&self) {
        use std::sync::mpsc::RecvTimeoutError;
        loop {
            let waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
            let job = match waiting.recv_timeout(self.idle_exit) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    let mut dispatch = self.lock_dispatch();
                    // A job sent since the wait ran out is still this thread's to run.
                    match waiting.try_recv() {
                        Ok(job) => job,
                        Err(_) => {
                            dispatch.threads -= 1;
                            return;
                        }
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.lock_dispatch().threads -= 1;
                    return;
                }
            };
            drop(waiting);
            // The client may be gone: nobody to tell.
            let _ = job.reply.send(self.answer(&job));
        }
    }

    fn answer(&self, job: &Job) -> Outcome {
        (Instant::now() <= job.deadline).then(|| {
            let owned = &job.request;
            let headers: Vec<Header<'_>> = owned
                .headers
                .iter()
                .map(|header| Header {
                    name: &header.0,
                    value: &header.1,
                })
                .collect();
            let request = Request {
                method: &owned.method,
                path: &owned.path,
                query: &owned.query,
                headers: &headers,
            };
            catch_unwind(AssertUnwindSafe(|| self.handler.handle(&request)))
        })
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

    struct NamesItsThread;

    impl Handler for NamesItsThread {
        fn handle(&self, _request: &Request<'_>) -> Response {
            let name = std::thread::current().name().unwrap_or("").to_string();
            Response {
                status: 200,
                content_type: "text/plain",
                body: crate::serve::Body::Owned(name.into_bytes()),
                headers: Vec::new(),
            }
        }
    }

    fn answered_by(gate: &ExpensiveGate) -> String {
        let request = Request {
            method: "GET",
            path: b"/api/query",
            query: b"",
            headers: &[],
        };
        let response = gate
            .run(&request)
            .expect("a turn within the wait")
            .expect("no panic");
        String::from_utf8_lossy(response.body.as_bytes()).into_owned()
    }

    fn threads(gate: &ExpensiveGate) -> usize {
        gate.pool.lock_dispatch().threads
    }

    #[test]
    fn an_idle_thread_ends_and_the_next_request_starts_one_again() {
        let idle_exit = Duration::from_millis(50);
        let gate = ExpensiveGate::start(
            Arc::new(NamesItsThread),
            1,
            4,
            Duration::from_secs(10),
            idle_exit,
        )
        .expect("a thread starts");
        assert_eq!(threads(&gate), 1, "one thread from the start");
        assert_eq!(answered_by(&gate), "http-expensive");

        let deadline = Instant::now() + Duration::from_secs(10);
        while threads(&gate) > 0 {
            assert!(Instant::now() < deadline, "the idle thread never ended");
            std::thread::sleep(idle_exit / 2);
        }
        for _ in 0..20 {
            // Requests around the moment a thread decides to end are answered too.
            assert_eq!(answered_by(&gate), "http-expensive");
            std::thread::sleep(Duration::from_millis(45));
        }
        assert!(threads(&gate) <= 1, "never more threads than asked for");
    }
}
