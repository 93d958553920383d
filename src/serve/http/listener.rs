//! listener: the listening socket and the `http-accept` thread that admits each client into the
//! registry and starts its coroutine.
//!
//! The socket is made here rather than by `may::net::TcpListener::bind`, which sets
//! SO_REUSEPORT: with it a second monitor on the same port would silently share the clients
//! instead of failing with "already in use".

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, warn};
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage, bind, listen, setsockopt, socket,
    sockopt,
};

use super::connection::{Connection, Shared};
use super::error::HttpError;
use super::limits::LISTEN_BACKLOG;
use super::registry::Registry;
use super::runtime;
use super::socket::{self, Socket};

/// Listen on `address` (SO_REUSEADDR so a restart does not wait for TIME_WAIT; no SO_REUSEPORT).
pub fn listen_on(address: SocketAddr) -> Result<TcpListener, HttpError> {
    let fail = |error| HttpError::listen(address.ip(), address.port(), error);
    let family = match address {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let socket = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).map_err(fail)?;
    setsockopt(&socket, sockopt::ReuseAddr, &true).map_err(fail)?;
    bind(socket.as_raw_fd(), &SockaddrStorage::from(address)).map_err(fail)?;
    listen(&socket, Backlog::new(LISTEN_BACKLOG).map_err(fail)?).map_err(fail)?;
    Ok(TcpListener::from(socket))
}

/// Accept clients for ever on the `http-accept` thread.
pub fn spawn_acceptor(
    listener: TcpListener,
    registry: Arc<Registry>,
    shared: Arc<Shared>,
) -> io::Result<()> {
    std::thread::Builder::new()
        .name("http-accept".into())
        .spawn(move || accept_loop(&listener, &registry, &shared))
        .map(drop)
}

fn accept_loop(listener: &TcpListener, registry: &Arc<Registry>, shared: &Arc<Shared>) {
    let mut last_warning: Option<Instant> = None;
    loop {
        match listener.accept() {
            Ok((stream, _peer)) => admit(stream, registry, shared),
            Err(error) => {
                let (mut pause, serious) = accept_failure(&error);
                // Waiting clients get the descriptors of the longest idle ones. A batch, since a
                // flood that exhausted the descriptors usually has more clients queued; when
                // nothing could be closed, the descriptors went elsewhere: retry less often.
                // Closed sockets kept for their grace (see `socket`) go first.
                if is_out_of_descriptors(&error)
                    && socket::release_closed() == 0
                    && registry.evict(EVICT_WHEN_OUT_OF_DESCRIPTORS) == 0
                {
                    pause = Duration::from_millis(100);
                }
                if serious && last_warning.is_none_or(|at| at.elapsed() > Duration::from_secs(60)) {
                    warn!("the web server cannot accept clients for now: {error}");
                    last_warning = Some(Instant::now());
                } else {
                    debug!("accept failed: {error}");
                }
                std::thread::sleep(pause);
            }
        }
    }
}

/// Connections closed at once when the process has no descriptor left for a waiting client.
const EVICT_WHEN_OUT_OF_DESCRIPTORS: usize = 8;

fn is_out_of_descriptors(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// How long to wait after a failed accept, and whether the owner should hear of it.
fn accept_failure(error: &io::Error) -> (Duration, bool) {
    match error.raw_os_error() {
        // The client gave up before we took it, or a signal: go on at once.
        Some(libc::ECONNABORTED | libc::EINTR | libc::EPROTO | libc::EPERM) => {
            (Duration::ZERO, false)
        }
        // Out of descriptors: some were just freed by eviction; retry once their coroutines
        // have closed them.
        Some(libc::EMFILE | libc::ENFILE) => (Duration::from_millis(2), true),
        // Out of memory: the pending client stays queued; retry shortly.
        Some(libc::ENOBUFS | libc::ENOMEM) => (Duration::from_millis(100), true),
        _ => (Duration::from_millis(10), true),
    }
}

fn admit(stream: TcpStream, registry: &Arc<Registry>, shared: &Arc<Shared>) {
    // Answers are written whole; small ones must not wait for Nagle's timer.
    let _ = stream.set_nodelay(true);
    let fd = stream.as_raw_fd();
    let slot = match registry.admit(fd) {
        Ok(slot) => slot,
        Err(_full) => {
            refuse(stream);
            return;
        }
    };
    let stream = match Socket::new(stream) {
        Ok(stream) => stream,
        Err((error, stream)) => {
            // Out of the table before the socket is closed.
            drop(slot);
            drop(stream);
            debug!("cannot hand a client to the coroutine scheduler: {error}");
            return;
        }
    };
    let connection = Connection::new(slot, stream, Arc::clone(shared));
    if let Err(error) = runtime::spawn(move || connection.serve()) {
        warn!("cannot start a coroutine for a web client: {error}");
    }
}

/// Every connection is running its handler: tell the new client to come back, in one write
/// that cannot block (the socket's send buffer is empty).
fn refuse(stream: TcpStream) {
    use std::io::Write;
    let mut out = Vec::new();
    super::response::append_error(
        &mut out,
        503,
        "too many requests at once: try again in a moment",
        &[("Retry-After", "1")],
        false,
        false,
    );
    let _ = stream.set_nonblocking(true);
    let _ = (&stream).write(&out);
}
