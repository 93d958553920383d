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
//! A second defect of the same family: `may`'s selector hands epoll a raw pointer to the socket's
//! event record (and its timer entry another), and a coroutine resumed by a timeout runs on the
//! selector's thread while the rest of the same `epoll_wait` batch is still to be handled. If that
//! coroutine closes its socket, the record is freed and a later event of the batch (or a timer
//! entry) reads freed memory: under a flood of slow clients followed by long queries the selector
//! thread died on SIGSEGV and the web server with it. So a closed socket's event record is kept
//! alive for [`RECORD_GRACE`] after the DEL (an `Arc` clone: the DEL still happens at once).

use std::any::Any;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use may::io::{AsIoData, CoIo};

/// How long a closed socket's event record outlives it: far longer than one `epoll_wait` batch or
/// one timer tick takes to handle.
pub const RECORD_GRACE: Duration = Duration::from_secs(2);

/// At most this many records are kept (about 100 bytes each), whatever the rate of closes.
const MOST_RECORDS_KEPT: usize = 1 << 16;

/// Event records of closed sockets, oldest first, with when they were closed.
static CLOSED_RECORDS: Mutex<VecDeque<(Instant, Arc<dyn Any + Send + Sync>)>> =
    Mutex::new(VecDeque::new());

/// Keep `record` alive for [`RECORD_GRACE`]; drop the records whose grace has passed.
fn keep_for_a_while(record: Arc<dyn Any + Send + Sync>) {
    let now = Instant::now();
    let mut records = CLOSED_RECORDS
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    while let Some((closed, _)) = records.front() {
        if now.duration_since(*closed) < RECORD_GRACE && records.len() < MOST_RECORDS_KEPT {
            break;
        }
        records.pop_front();
    }
    records.push_back((now, record));
}

/// A client socket for a coroutine; see the module documentation for the close order.
pub struct Socket {
    /// `None` only while being dropped.
    io: Option<CoIo<TcpStream>>,
}

impl Socket {
    /// Register `stream` with the coroutine scheduler (non-blocking from now on).
    ///
    /// # Errors
    /// When epoll refuses it, with the socket (not registered) for the caller to close.
    pub fn new(stream: TcpStream) -> Result<Socket, (io::Error, TcpStream)> {
        match CoIo::new(stream) {
            Ok(io) => Ok(Socket { io: Some(io) }),
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
            .as_mut()
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
            let record: Arc<dyn Any + Send + Sync> = (**io.as_io_data()).clone();
            // Out of the epoll set inside `into_inner`; closed when the stream drops here.
            drop(io.into_inner());
            keep_for_a_while(record);
        }
    }
}
