//! runtime: the `may` coroutine scheduler this layer runs on, set up once per process, the
//! open-file limit, and the one place a connection's coroutine is started.

use std::io;
use std::sync::Once;

use log::{debug, warn};
use nix::sys::resource::{Resource, getrlimit, setrlimit};

use super::limits::{COROUTINE_POOL, STACK_BYTES, WANTED_OPEN_FILES, WORKERS};

/// Longest sleep of an idle web worker (`may` without socket timeouts uses the same).
const IDLE_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// Configure `may` before anything starts its scheduler; later calls change nothing.
pub fn configure() {
    static CONFIGURE: Once = Once::new();
    CONFIGURE.call_once(|| {
        let workers = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(WORKERS);
        // In machine words. A larger size set before is kept: tests/http_stack.rs sets one
        // word more (an odd count makes `may` paint and measure every stack).
        let stack_words = (STACK_BYTES / size_of::<usize>()).max(may::config().get_stack_size());
        may::config()
            .set_workers(workers)
            .set_stack_size(stack_words)
            .set_pool_capacity(COROUTINE_POOL);
        // Pinning would tie the web workers to the first cores, where capture threads run.
        may::config().set_worker_pin(false);
        // An idle worker wakes when this runs out, to find nothing to do: `may`'s 10 ms made
        // the idle web server wake 200 times a second and cost more CPU than capturing 100k
        // packets/s (capbench, docs/capture-cost.md). Socket timeouts do not depend on it:
        // adding an earlier one wakes the worker to shorten its wait.
        may::config().set_timeout_ns(IDLE_POLL.as_nanos() as u64);
        raise_open_file_limit();
        start_scheduler();
    });
}

/// Start `may`'s threads from a thread named `http-worker`: they inherit its name, so `top -H`
/// shows them as the web server's (they would otherwise carry the name of whichever thread
/// first touched `may`).
fn start_scheduler() {
    let started = std::thread::Builder::new()
        .name("http-worker".into())
        .spawn(|| spawn(|| {}))
        .map(|thread| thread.join());
    if !matches!(started, Ok(Ok(Ok(())))) {
        debug!("may's threads start with the first client instead");
    }
}

/// Raise the soft open-file limit towards the hard one: a flood of connections being evicted
/// still holds descriptors until each coroutine has closed its socket.
fn raise_open_file_limit() {
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) => {
            let wanted = WANTED_OPEN_FILES.min(hard);
            if soft < wanted {
                match setrlimit(Resource::RLIMIT_NOFILE, wanted, hard) {
                    Ok(()) => debug!("open-file limit raised from {soft} to {wanted}"),
                    Err(error) => warn!(
                        "cannot raise the open-file limit from {soft} to {wanted} ({error}); many web clients at once may be refused"
                    ),
                }
            }
        }
        Err(error) => debug!("cannot read the open-file limit: {error}"),
    }
}

/// Start `work` on a coroutine with `may`'s configured stack ([`STACK_BYTES`], set by
/// [`configure`]); coroutines of that size are pooled and reused.
///
/// `may` marks spawning unsafe because of two hazards, and this layer avoids both:
/// - thread-local storage: a coroutine may resume on another worker thread, so a reference into
///   a thread-local held across a yield would point into the wrong thread. Coroutines here yield
///   only inside socket reads and writes, with no thread-local borrowed; handlers never yield
///   (they do no coroutine I/O).
/// - stack overflow: the stack is sized from a measurement of the deepest handler path (see the
///   `http` module documentation), with margin.
pub fn spawn(work: impl FnOnce() + Send + 'static) -> io::Result<()> {
    // SAFETY: the macro's unsafe spawn requires that `work` keeps no thread-local reference
    // across a yield and fits the configured stack; both hold for the connection loop, as the
    // doc comment above explains (and `tests/http_stack.rs` measures the stack).
    may::go!(may::coroutine::Builder::new(), work).map(drop)
}
