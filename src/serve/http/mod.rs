//! http: our own small HTTP/1.1 server on `may` coroutines, hardened for a box on a home
//! network. It reads request heads under limits, hands every well-formed GET and HEAD to a
//! [`Handler`](crate::serve::Handler) and writes the [`Response`](crate::serve::Response); it
//! never looks at paths (except that `/api/health` needs no password).
//!
//! ```text
//! http-accept thread ── accept ─→ registry (cap, eviction) ─→ one coroutine per connection:
//!     read ─→ head (scan, parse, limits) ─→ guard (host, throttle, auth) ─→ handler
//!     (catch_unwind) ─→ response ─→ write
//! ```
//!
//! Why not `may_minihttp`: the published 0.1.11 drops a request with more than 16 header fields
//! without answering (a browser behind a proxy sends more), buffers headers without limit, has no
//! timeouts, panics on a malformed Content-Length, and its `Response::header()` panics past 16
//! fields. None of this can be fixed from outside the crate, and a patched copy is not allowed in
//! this repository. The HTTP/1.1 subset a dashboard needs is small enough to own.
//!
//! What a client gets:
//! - Up to [`MAX_HEADERS`](limits::MAX_HEADERS) (64) header fields and
//!   [`MAX_HEADER_BYTES`](limits::MAX_HEADER_BYTES) (16 KiB) of them work; more → 431 and close.
//!   A request line over 8 KiB → 414; a malformed request line or field → 400; HTTP/2.0 and
//!   other versions → 505; all with a JSON body `{"error": "…"}`, then the connection closes.
//! - Path and query reach the handler as bytes, not percent-decoded, valid UTF-8 or not.
//! - GET and HEAD go to the handler (it sees the method; it answers HEAD as GET and this layer
//!   drops the body, keeping Content-Length). Any other method → 405 with `Allow: GET, HEAD`.
//! - A request with a body (Content-Length > 0 or Transfer-Encoding) is answered and the
//!   connection closed; bodies are never parsed. A malformed Content-Length → 400.
//! - Keep-alive: HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection:
//!   keep-alive`. Pipelined requests are answered in order, their answers gathered into one write.
//! - Timeouts: a connection may idle 30 s between requests; a request head must be complete
//!   10 s after its first byte (a slowloris trickle gets 408 and is closed); a stalled write
//!   gives up after 30 s.
//! - At most [`MAX_CONNECTIONS`](limits::MAX_CONNECTIONS) (256) open connections. A new client is
//!   never locked out: when the table is full, the longest-idle connection that has had an
//!   answer is closed to make room (then the oldest unfinished head, then the oldest stalled
//!   write, and only then the oldest connection not answered yet; see `registry`).
//! - Large answers built for a request (over 16 KiB) may hold
//!   [`ANSWER_BUDGET_BYTES`](limits::ANSWER_BUDGET_BYTES) (32 MiB) together while clients read
//!   them; past that, and while the handler's expensive requests (long series, top addresses
//!   over many days) already fill their queue, a request gets 503 with `Retry-After`. A large
//!   answer must leave at [`LARGE_ANSWER_MIN_RATE`](limits::LARGE_ANSWER_MIN_RATE) (64 KiB/s)
//!   after its first 30 s (see `budget`).
//! - A streamed answer ([`Body::Streamed`](crate::serve::Body::Streamed), an export) has no
//!   length: it is sent chunked to HTTP/1.1 clients (close-delimited to 1.0), made one piece at a
//!   time on the connection's coroutine with a yield between pieces, under the same rate; it
//!   holds [`STREAMED_BYTES`](limits::STREAMED_BYTES) (256 KiB) of the answer budget while it is
//!   sent, and a failure halfway closes the connection without the last chunk.
//! - Host names (`host`, against DNS rebinding): IP literals, `localhost`, single-label and
//!   local-suffix names, this machine's name and `WEB_ALLOWED_HOSTS` are answered; another name
//!   → 403 naming the setting, a malformed `Host` → 400.
//! - `WEB_AUTH`: HTTP basic auth on everything but `/api/health` (401 with
//!   `WWW-Authenticate: Basic realm="NetTraffic-Sentinel"`), constant-time comparison; passwords
//!   are never logged. Wrong passwords are slowed per client address (`throttle`: 429 with
//!   `Retry-After` after 5, for 1 s doubling to 60 s).
//! - Every answer carries `X-Content-Type-Options: nosniff`, `Referrer-Policy` and a
//!   `Content-Security-Policy` (`response::SECURITY_FIELDS`).
//! - A panicking handler gets the client a 500 JSON answer and a closed connection; the server
//!   goes on. This needs `panic = "unwind"` (the default; the release profile must keep it).
//!
//! Threads and memory: one `http-accept` OS thread, [`WORKERS`](limits::WORKERS) (2) `may`
//! worker threads plus `may`'s timer thread, and one `http-expensive` thread for the requests the
//! handler calls expensive; handlers run on the workers and must not block them for long (no
//! disk writes, no waiting on locks held across I/O): a worker polls its share of the sockets
//! only between coroutines. Each connection's coroutine has
//! a [`STACK_BYTES`](limits::STACK_BYTES) stack; the memory bound is in `limits`.
//!
//! Stack size: `may` paints and measures every stack whose size (in machine words) is odd and
//! prints `used size` when the coroutine ends; `tests/http_stack.rs` runs the real API handler
//! over a redb history that way (a 99,984-point `/api/query`, top addresses, metrics, …). The
//! deepest connection used 33 KiB in a debug build and 14 KiB in a release build, so
//! [`STACK_BYTES`](limits::STACK_BYTES) of 256 KiB leaves 8× headroom (the test fails above
//! half). Only touched pages are resident, so the headroom costs address space, not memory.
//! Series of more than 1,000 points now run on the `http-expensive` thread (std's 2 MiB stack),
//! so a coroutine's deepest path is shallower than that measurement.
//!
//! The server runs until the process exits; dropping [`Server`] does not stop it.

mod auth;
mod budget;
mod connection;
mod error;
mod guard;
mod head;
pub mod host;
pub mod limits;
mod listener;
mod registry;
mod response;
mod runtime;
mod socket;
mod throttle;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

pub use error::HttpError;

use crate::serve::Handler;
use auth::Credentials;
use budget::{AnswerBytes, ExpensiveGate};
use connection::Shared;
use guard::Guard;
use host::AllowedHosts;
use registry::Registry;

/// Where to listen and whom to let in (from `WEB_BIND`, `WEB_PORT`, `WEB_AUTH`,
/// `WEB_ALLOWED_HOSTS`).
#[derive(Clone)]
pub struct HttpSettings {
    pub bind: IpAddr,
    /// 0 picks a free port (tests); see [`Server::local_addr`].
    pub port: u16,
    /// `WEB_AUTH`: user and password.
    pub auth: Option<(String, String)>,
    /// `WEB_ALLOWED_HOSTS`: host names answered besides the local ones (see `host`).
    pub allowed_hosts: Vec<String>,
}

/// Shows the user name, never the password.
impl std::fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSettings")
            .field("bind", &self.bind)
            .field("port", &self.port)
            .field("auth_user", &self.auth.as_ref().map(|(user, _)| user))
            .field("allowed_hosts", &self.allowed_hosts)
            .finish()
    }
}

/// A running server.
pub struct Server {
    local_addr: SocketAddr,
    registry: Arc<Registry>,
}

impl Server {
    /// The address clients reach, with the real port when 0 was asked for.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.registry.open()
    }

    /// Connections closed to make room for new clients since the start.
    pub fn evicted_connections(&self) -> u64 {
        self.registry.evicted()
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// Listen and serve `handler` on coroutines until the process exits.
///
/// # Errors
/// When the address cannot be listened on (port in use, address not on this host, privileged
/// port) or the server's threads cannot start.
pub fn start(settings: &HttpSettings, handler: Arc<dyn Handler>) -> Result<Server, HttpError> {
    runtime::configure();
    let listener = listener::listen_on(SocketAddr::new(settings.bind, settings.port))?;
    let local_addr = listener.local_addr().map_err(|error| HttpError::Listen {
        bind: settings.bind,
        port: settings.port,
        why: error.to_string(),
    })?;
    let registry = Registry::new(limits::MAX_CONNECTIONS);
    let hosts = AllowedHosts::new(&settings.allowed_hosts, host::machine_name().as_deref());
    let credentials = settings
        .auth
        .as_ref()
        .map(|(user, password)| Credentials::new(user, password));
    let shared = Arc::new(Shared {
        guard: Guard::new(hosts, credentials),
        answer_bytes: AnswerBytes::new(limits::ANSWER_BUDGET_BYTES),
        expensive: ExpensiveGate::start(
            Arc::clone(&handler),
            limits::EXPENSIVE_AT_ONCE,
            limits::EXPENSIVE_QUEUE,
            limits::EXPENSIVE_WAIT,
            limits::EXPENSIVE_IDLE_EXIT,
        )
        .map_err(|error| HttpError::Threads {
            why: error.to_string(),
        })?,
        handler,
    });
    listener::spawn_acceptor(listener, Arc::clone(&registry), shared).map_err(|error| {
        HttpError::Threads {
            why: error.to_string(),
        }
    })?;
    Ok(Server {
        local_addr,
        registry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_never_show_the_password() {
        let settings = HttpSettings {
            bind: IpAddr::from([0, 0, 0, 0]),
            port: 8080,
            auth: Some(("admin".to_string(), "s3cret".to_string())),
            allowed_hosts: Vec::new(),
        };
        let shown = format!("{settings:?}");
        assert!(shown.contains("admin"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
