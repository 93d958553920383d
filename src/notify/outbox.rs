//! The outbox: messages are handed over with [`Outbox::post`], which never waits for the
//! network, and delivered by the outbox's own thread (`notify`), one request at a time, each
//! bounded by its timeouts. A target that fails is tried again after 30 s, 1, 2, 4, 8 and then
//! every 15 minutes, until an attempt made an hour or more after the message was posted fails
//! too; targets that already have the message are not sent it again. Every failed attempt is one
//! log line (warn; error for the last), with secrets masked.
//!
//! When every target has the message, its `settled` callback is called with `true`; when the
//! retries give up (or the outbox stops with the message undelivered), with `false`. The
//! callback runs on the outbox's thread, except when the queue is full (see [`Outbox::post`]).

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use log::{error, info, warn};

use super::Message;
use super::send::{Sender, Timeouts};
use super::target::Target;
use super::tls::Trust;

/// Called once per posted message: `true` when every target has it, `false` when the retries
/// gave up on one or more of them.
pub type Settled = Box<dyn FnOnce(bool) + Send>;

/// Messages waiting or being retried at most; a message posted beyond it is refused.
pub const QUEUE_CAPACITY: usize = 64;

/// When failed deliveries are tried again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failure; it doubles after each one…
    pub first_delay: Duration,
    /// …up to this.
    pub max_delay: Duration,
    /// A failure at least this long after the message was posted is the last.
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            first_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(15 * 60),
            give_up_after: Duration::from_secs(60 * 60),
        }
    }
}

impl RetryPolicy {
    /// The wait after the `failures`-th failed attempt (1-based).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        self.first_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }
}

/// Sends one message to one target: what happened, or why not (masked).
type SendFn = Box<dyn Fn(&Target, &Message) -> Result<String, String> + Send>;

struct Job {
    message: Message,
    settled: Option<Settled>,
    /// Indexes into the targets of those that do not have the message yet.
    remaining: Vec<usize>,
    failures: u32,
    posted: Instant,
    due: Instant,
}

struct State {
    incoming: VecDeque<Job>,
    /// Posted and not settled yet.
    pending: usize,
    stopping: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Delivers messages to every configured target from its own thread; see the module.
pub struct Outbox {
    shared: Arc<Shared>,
    targets: usize,
}

impl Outbox {
    /// An outbox for `targets` with the default retries and timeouts, trusting the system's
    /// certificate authorities (see [`Trust::load`]).
    ///
    /// # Errors
    /// When the thread cannot be started.
    pub fn start(targets: Vec<Target>) -> std::io::Result<Outbox> {
        Outbox::start_with(
            targets,
            Trust::load(),
            RetryPolicy::default(),
            Timeouts::default(),
        )
    }

    /// An outbox with its own trust, retries and timeouts (the tests shorten them).
    ///
    /// # Errors
    /// When the thread cannot be started.
    pub fn start_with(
        targets: Vec<Target>,
        trust: Trust,
        policy: RetryPolicy,
        timeouts: Timeouts,
    ) -> std::io::Result<Outbox> {
        info!(
            "alerts: {} target(s): {}; {}",
            targets.len(),
            targets
                .iter()
                .map(Target::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            trust.describe()
        );
        let sender = Sender::new(trust, timeouts);
        Outbox::spawn(
            targets,
            policy,
            Box::new(move |target, message| sender.send(target, message)),
        )
    }

    fn spawn(targets: Vec<Target>, policy: RetryPolicy, send: SendFn) -> std::io::Result<Outbox> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                incoming: VecDeque::new(),
                pending: 0,
                stopping: false,
            }),
            wake: Condvar::new(),
        });
        let count = targets.len();
        let worker = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("notify".to_string())
            .spawn(move || work(&worker, &targets, policy, &send))?;
        Ok(Outbox {
            shared,
            targets: count,
        })
    }

    /// How many targets each message goes to.
    pub fn targets(&self) -> usize {
        self.targets
    }

    /// Hand `message` over for delivery to every target; returns at once, without any network
    /// I/O. `settled` is called once, later, from the outbox's thread.
    ///
    /// When [`QUEUE_CAPACITY`] messages are already waiting or being retried (every target has
    /// been failing for a while), the message is refused: one error line is logged and
    /// `settled(false)` is called right here, before `post` returns — so the callback must not
    /// take a lock its caller holds while posting.
    pub fn post(&self, message: Message, settled: Settled) {
        let now = Instant::now();
        let refused = {
            let mut state = self.shared.lock();
            if state.pending >= QUEUE_CAPACITY || state.stopping {
                Some((message, settled, state.stopping))
            } else {
                state.pending += 1;
                state.incoming.push_back(Job {
                    message,
                    settled: Some(settled),
                    remaining: (0..self.targets).collect(),
                    failures: 0,
                    posted: now,
                    due: now,
                });
                None
            }
        };
        match refused {
            None => self.shared.wake.notify_all(),
            Some((message, settled, stopping)) => {
                if stopping {
                    error!(
                        "alert \"{}\" not sent: the program is stopping",
                        message.title
                    );
                } else {
                    error!(
                        "alert \"{}\" not sent: {QUEUE_CAPACITY} alerts are already waiting for targets that keep failing",
                        message.title
                    );
                }
                settled(false);
            }
        }
    }

    /// Messages posted and not settled yet.
    pub fn pending(&self) -> usize {
        self.shared.lock().pending
    }
}

impl Drop for Outbox {
    /// Stop the thread: it finishes the request in progress (bounded by its timeouts), then
    /// settles every message not delivered yet with `false`.
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.wake.notify_all();
    }
}

/// The outbox's thread.
fn work(shared: &Shared, targets: &[Target], policy: RetryPolicy, send: &SendFn) {
    let mut jobs: Vec<Job> = Vec::new();
    loop {
        {
            let mut state = shared.lock();
            loop {
                jobs.extend(state.incoming.drain(..));
                if state.stopping {
                    break;
                }
                let now = Instant::now();
                match jobs.iter().map(|job| job.due).min() {
                    Some(due) if due <= now => break,
                    Some(due) => {
                        state = shared
                            .wake
                            .wait_timeout(state, due - now)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0;
                    }
                    None => {
                        state = shared
                            .wake
                            .wait(state)
                            .unwrap_or_else(PoisonError::into_inner);
                    }
                }
            }
            if state.stopping {
                drop(state);
                for mut job in jobs.drain(..) {
                    error!(
                        "alert \"{}\" not delivered to {} target(s): the program is stopping",
                        job.message.title,
                        job.remaining.len()
                    );
                    settle(shared, &mut job, false);
                }
                return;
            }
        }
        let now = Instant::now();
        for job in jobs.iter_mut().filter(|job| job.due <= now) {
            if let Some(delivered) = attempt(job, targets, policy, send) {
                settle(shared, job, delivered);
            }
        }
        jobs.retain(|job| job.settled.is_some());
    }
}

/// Try every target that does not have the message yet: `Some(outcome)` when the job is
/// settled, `None` when it is to be tried again (its `due` moved on).
fn attempt(job: &mut Job, targets: &[Target], policy: RetryPolicy, send: &SendFn) -> Option<bool> {
    let mut failed = Vec::new();
    job.remaining.retain(|&index| {
        let Some(target) = targets.get(index) else {
            return false;
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| send(target, &job.message)))
            .unwrap_or_else(|_| Err("the sender failed unexpectedly (a bug)".to_string()));
        match outcome {
            Ok(what) => {
                info!(
                    "alert \"{}\" delivered to {target}: {what}",
                    job.message.title
                );
                false
            }
            Err(why) => {
                failed.push((index, why));
                true
            }
        }
    });
    if job.remaining.is_empty() {
        return Some(true);
    }
    job.failures += 1;
    let elapsed = job.posted.elapsed();
    let give_up = elapsed >= policy.give_up_after;
    let delay = policy.delay(job.failures);
    for (index, why) in failed {
        let Some(target) = targets.get(index) else {
            continue;
        };
        if give_up {
            error!(
                "alert \"{}\" not delivered to {target}: {why} (attempt {}; giving up after {})",
                job.message.title,
                job.failures,
                human(elapsed)
            );
        } else {
            warn!(
                "alert \"{}\" to {target} failed: {why} (attempt {}; next try in {})",
                job.message.title,
                job.failures,
                human(delay)
            );
        }
    }
    if give_up {
        return Some(false);
    }
    job.due = Instant::now() + delay;
    None
}

/// Count the job out of the queue and call its callback (once). In that order: whoever the
/// callback tells (a test, the alert engine) may look at the queue next and must find it done.
fn settle(shared: &Shared, job: &mut Job, delivered: bool) {
    if let Some(settled) = job.settled.take() {
        {
            let mut state = shared.lock();
            state.pending = state.pending.saturating_sub(1);
        }
        if catch_unwind(AssertUnwindSafe(|| settled(delivered))).is_err() {
            error!(
                "alert \"{}\": its settled callback panicked (a bug)",
                job.message.title
            );
        }
    }
}

/// `45 s`, `2 min`, `1 h 5 min`, `0.2 s`.
fn human(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds < 10 {
        format!("{:.1} s", duration.as_secs_f64())
    } else if seconds < 120 {
        format!("{seconds} s")
    } else if seconds < 3600 {
        format!("{} min", seconds / 60)
    } else {
        format!("{} h {} min", seconds / 3600, seconds % 3600 / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    fn targets(urls: &[&str]) -> Vec<Target> {
        urls.iter()
            .map(|url| super::super::target::parse_target(url).expect("valid"))
            .collect()
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            first_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(40),
            give_up_after: Duration::from_millis(300),
        }
    }

    fn settle_into(tx: &mpsc::Sender<bool>) -> Settled {
        let tx = tx.clone();
        Box::new(move |delivered| {
            let _ = tx.send(delivered);
        })
    }

    #[test]
    fn the_default_backoff_doubles_to_15_minutes_and_tries_for_an_hour() {
        let policy = RetryPolicy::default();
        let waits: Vec<u64> = (1..=9).map(|n| policy.delay(n).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 900, 900, 900, 900]);
        // The attempt times: the last one is the first made an hour or more after posting.
        let mut at = 0;
        let mut attempts = 1;
        while at < policy.give_up_after.as_secs() {
            at += policy.delay(attempts).as_secs();
            attempts += 1;
        }
        assert_eq!(
            (attempts, at),
            (9, 3630),
            "9 attempts, the last at 60 min 30 s"
        );
        assert_eq!(policy.delay(u32::MAX), policy.max_delay, "no overflow");
    }

    #[test]
    fn delivered_everywhere_settles_true_and_sends_each_target_once() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let outbox = Outbox::spawn(
            targets(&["ntfy://a", "json://192.0.2.1/x"]),
            fast(),
            Box::new(move |_, _| {
                counted.fetch_add(1, Ordering::SeqCst);
                Ok("HTTP 200".into())
            }),
        )
        .expect("thread");
        let (tx, rx) = mpsc::channel();
        outbox.post(Message::new("t", "b"), settle_into(&tx));
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(true));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_failing_target_is_retried_with_backoff_then_given_up_others_not_resent() {
        let attempts = Arc::new(Mutex::new(Vec::<(String, Instant)>::new()));
        let seen = Arc::clone(&attempts);
        let outbox = Outbox::spawn(
            targets(&["ntfy://good", "ntfy://bad"]),
            fast(),
            Box::new(move |target, _| {
                let name = target.to_string();
                seen.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((name.clone(), Instant::now()));
                if name.contains("bad") {
                    Err("the server answered HTTP 500".into())
                } else {
                    Ok("HTTP 200".into())
                }
            }),
        )
        .expect("thread");
        let (tx, rx) = mpsc::channel();
        let posted = Instant::now();
        outbox.post(Message::new("t", "b"), settle_into(&tx));
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(false));
        let took = posted.elapsed();
        assert!(took >= fast().give_up_after, "{took:?}");
        let attempts = attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let good = attempts
            .iter()
            .filter(|(name, _)| name.contains("goo"))
            .count();
        let bad: Vec<Instant> = attempts
            .iter()
            .filter(|(name, _)| name.contains("bad"))
            .map(|(_, at)| *at)
            .collect();
        assert_eq!(
            good, 1,
            "a target that has the message is not sent it again"
        );
        // 9 attempts fit in the 300 ms at these waits; a loaded machine oversleeps and makes
        // fewer, but never fewer than the three the growing waits are checked on.
        assert!(bad.len() >= 3, "{} attempts", bad.len());
        // The waits grow: 20 ms, then 40 ms.
        assert!(bad[1] - bad[0] >= Duration::from_millis(20));
        assert!(bad[2] - bad[1] >= Duration::from_millis(40));
        assert_eq!(outbox.pending(), 0);
    }

    #[test]
    fn post_never_waits_for_a_slow_target_and_a_full_queue_refuses_at_once() {
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let outbox = Outbox::spawn(
            targets(&["ntfy://slow"]),
            fast(),
            Box::new(move |_, _| {
                // Blocks until the test lets it go (or 10 s).
                let _ = release_rx
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .recv_timeout(Duration::from_secs(10));
                Ok("HTTP 200".into())
            }),
        )
        .expect("thread");
        let (tx, rx) = mpsc::channel();
        let started = Instant::now();
        for n in 0..QUEUE_CAPACITY {
            outbox.post(Message::new(format!("m{n}"), "b"), settle_into(&tx));
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert!(
            rx.try_recv().is_err(),
            "nothing settled while the target hangs"
        );
        // One more: refused, settled(false) before post returns.
        outbox.post(Message::new("overflow", "b"), settle_into(&tx));
        assert_eq!(rx.try_recv(), Ok(false));
        for _ in 0..QUEUE_CAPACITY {
            let _ = release_tx.send(());
        }
        for _ in 0..QUEUE_CAPACITY {
            assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(true));
        }
        assert_eq!(outbox.pending(), 0);
    }

    #[test]
    fn stopping_settles_undelivered_messages_false() {
        let outbox = Outbox::spawn(
            targets(&["ntfy://down"]),
            RetryPolicy::default(),
            Box::new(|_, _| Err("connection refused".into())),
        )
        .expect("thread");
        let (tx, rx) = mpsc::channel();
        outbox.post(Message::new("t", "b"), settle_into(&tx));
        // The first attempt fails; the next is 30 s away. Dropping the outbox settles it now.
        std::thread::sleep(Duration::from_millis(100));
        drop(outbox);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(false));
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human(Duration::from_millis(200)), "0.2 s");
        assert_eq!(human(Duration::from_secs(45)), "45 s");
        assert_eq!(human(Duration::from_secs(900)), "15 min");
        assert_eq!(human(Duration::from_secs(3630)), "1 h 0 min");
    }
}
