//! socket: a client's socket registered with `may`'s epoll, closed only after it has left the
//! epoll set.
//!
//! Why not `may::io::CoIo` alone: in `may` 0.3.51 `CoIo` declares its socket before its `IoData`,
//! so dropping it closes the descriptor first and sends `epoll_ctl(EPOLL_CTL_DEL, fd)` after. In
//! between the accept thread may be handed the same descriptor number for a new client and
//! register it; the late DEL then removes the new client's registration, its coroutine never
//! wakes, and the client waits until its idle timeout ends the connection (about 1 in 10,000
//! connections under `ab -c 32`). `CoIo::into_inner` drops the `IoData` (DEL) and hands back the
//! socket still open, so closing it afterwards is safe.
//!
//! A second defect, in `may`'s read and write: a coroutine waiting for its socket stores itself
//! in the socket's event record and only then, on the same thread, reads the record again through
//! a pointer into the `CoIo` (to register it for cancelling). In between another worker can run
//! the coroutine, which may finish and drop its socket: the late read then follows a dangling
//! pointer. Under a flood of slow clients and long queries a worker died on SIGSEGV there
//! (`socket_read.rs:96`, seen with gdb) and the web server with it. So the `CoIo` is boxed (its
//! record never moves) and a closed socket is shut down at once but its `CoIo` kept for
//! [`CLOSED_GRACE`] before it leaves the epoll set and its descriptor is closed (the order above).
//! The crate also builds `may` without `io_cancel`, which we never use and which holds the longer
//! of the two late reads.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use may::io::CoIo;

/// How long a closed socket's `CoIo` outlives it: far longer than the few instructions of the
/// race above.
pub const CLOSED_GRACE: Duration = Duration::from_millis(500);

/// At most this many closed sockets wait (each holds a descriptor), whatever the rate of closes.
const MOST_CLOSED_KEPT: usize = 4096;

/// Closed sockets, oldest first, with when they were closed.
static CLOSED: Mutex<VecDeque<(Instant, Box<CoIo<TcpStream>>)>> = Mutex::new(VecDeque::new());

/// Keep `io` for [`CLOSED_GRACE`]; let go of those whose grace has passed (out of epoll, then
/// closed, by `into_inner` and the drop of the stream).
fn keep_for_a_while(io: Box<CoIo<TcpStream>>) {
    let now = Instant::now();
    let expired: Vec<Box<CoIo<TcpStream>>> = {
        let mut closed = CLOSED.lock().unwrap_or_else(PoisonError::into_inner);
        let mut expired = Vec::new();
        while let Some((at, _)) = closed.front() {
            if now.duration_since(*at) < CLOSED_GRACE && closed.len() < MOST_CLOSED_KEPT {
                break;
            }
            if let Some((_, io)) = closed.pop_front() {
                expired.push(io);
            }
        }
        closed.push_back((now, io));
        expired
    };
    for io in expired {
        drop((*io).into_inner());
    }
}

/// Let go of every closed socket still kept, whatever its age: the process is out of descriptors
/// and a waiting client needs one more than the grace (the race lasts microseconds, not the
/// milliseconds between a close and the next accept). Returns how many were released.
pub fn release_closed() -> usize {
    let kept: Vec<(Instant, Box<CoIo<TcpStream>>)> = CLOSED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .drain(..)
        .collect();
    let released = kept.len();
    for (_, io) in kept {
        drop((*io).into_inner());
    }
    released
}

/// A client socket for a coroutine; see the module documentation for the close order.
pub struct Socket {
    /// `None` only while being dropped.
    io: Option<Box<CoIo<TcpStream>>>,
}

impl Socket {
    /// Register `stream` with the coroutine scheduler (non-blocking from now on).
    ///
    /// # Errors
    /// When epoll refuses it, with the socket (not registered) for the caller to close.
    pub fn new(stream: TcpStream) -> Result<Socket, (io::Error, TcpStream)> {
        match CoIo::new(stream) {
            Ok(io) => Ok(Socket {
                io: Some(Box::new(io)),
            }),
            Err(error) => Err((io::Error::other(error.to_string()), error.into_data())),
        }
    }

    /// The client's address (for the password throttle), if the OS still knows it.
    pub fn peer_ip(&self) -> Option<IpAddr> {
        let io = self.io.as_ref()?;
        io.inner().peer_addr().ok().map(|peer| peer.ip())
    }

    fn io(&mut self) -> io::Result<&mut CoIo<TcpStream>> {
        self.io
            .as_deref_mut()
            .ok_or_else(|| io::ErrorKind::NotConnected.into())
    }

    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.io()?.set_read_timeout(timeout)
    }

    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.io()?.set_write_timeout(timeout)
    }

    pub fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        self.io()?.read(buffer)
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.io()?.write_all(bytes)
    }

    /// Write all of `bytes` by `deadline` (each wait for the client shortened to fit).
    pub fn write_all_by(&mut self, mut bytes: &[u8], deadline: Instant) -> io::Result<()> {
        while !bytes.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            let io = self.io()?;
            io.set_write_timeout(Some(left))?;
            match io.write(bytes) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => bytes = &bytes[written..],
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    pub fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        self.io()?.inner().shutdown(how)
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        if let Some(io) = self.io.take() {
            // The client sees the end now; the descriptor is closed after the grace.
            let _ = io.inner().shutdown(Shutdown::Both);
            keep_for_a_while(io);
        }
    }
}
