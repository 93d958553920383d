//! A stop request that sleeping threads notice at once, without waking up to look for it.
//!
//! Threads that wait (the summary logger, the rate sampler, the prefix watcher, retry backoff)
//! sleep on a condition variable, so an idle monitor does not wake every few milliseconds to check
//! a flag; capture workers, which wake for every ring block anyway, read the flag. SIGTERM and
//! SIGINT are received by a thread of their own (signal-hook's self-pipe), which then requests the
//! stop like any other caller: nothing but a pipe write happens in the signal handler.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use signal_hook::iterator::Signals;

/// A shared stop request.
#[derive(Debug, Default)]
pub struct Shutdown {
    requested: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Shutdown {
    pub fn new() -> Arc<Shutdown> {
        Arc::new(Shutdown::default())
    }

    /// Ask every thread to stop; wakes all sleepers.
    pub fn request(&self) {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.requested.store(true, Ordering::SeqCst);
        self.wake.notify_all();
    }

    /// Has a stop been requested?
    #[inline]
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }

    /// Sleep for `duration` or until a stop is requested. `false` when stopping.
    pub fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if self.requested.load(Ordering::SeqCst) {
                return false;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            guard = self
                .wake
                .wait_timeout(guard, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Request the stop when one of `signals` arrives (a thread named `signals` waits for them).
    ///
    /// # Errors
    /// When the handlers cannot be installed or the thread cannot start.
    pub fn on_signals(self: &Arc<Shutdown>, signals: &[libc::c_int]) -> std::io::Result<()> {
        let mut incoming = Signals::new(signals)?;
        let shutdown = Arc::clone(self);
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                if incoming.forever().next().is_some() {
                    shutdown.request();
                }
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_wakes_a_sleeper_at_once() {
        let shutdown = Shutdown::new();
        let sleeper = {
            let shutdown = Arc::clone(&shutdown);
            std::thread::spawn(move || {
                let started = Instant::now();
                let slept_fully = shutdown.sleep(Duration::from_secs(60));
                (slept_fully, started.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        shutdown.request();
        let (slept_fully, took) = sleeper.join().expect("sleeper thread");
        assert!(!slept_fully);
        assert!(took < Duration::from_secs(30), "woke after {took:?}");
        assert!(shutdown.is_requested());
        assert!(
            !shutdown.sleep(Duration::from_secs(60)),
            "later sleeps return at once"
        );
    }

    #[test]
    fn without_a_request_the_sleep_lasts() {
        let shutdown = Shutdown::new();
        let started = Instant::now();
        assert!(shutdown.sleep(Duration::from_millis(30)));
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
}
