//! serve: the web layer. `http` reads requests off sockets under our own limits (header count and
//! bytes, timeouts, connection cap, basic auth) on `may` coroutines; `api` answers them from the
//! live counters and the history (JSON endpoints, `/metrics`, the dashboard's files).
//!
//! `assets` holds the dashboard's files, compiled into the binary.
//!
//! The two halves meet only in the types below: `http` hands every well-formed request to a
//! [`Handler`] and writes the [`Response`] it returns; it never looks at paths.

pub mod api;
pub mod assets;
pub mod http;
pub mod mapped;

/// One parsed HTTP/1.x request, borrowed from the connection's buffer.
///
/// Everything that came from the client is kept as bytes: the target may hold invalid UTF-8 and
/// must be answered with a 400 or 404, never a panic.
#[derive(Debug)]
pub struct Request<'a> {
    /// The method token exactly as sent ("GET", "HEAD", …).
    pub method: &'a str,
    /// The path part of the request target, before any `?`, not percent-decoded.
    pub path: &'a [u8],
    /// The query part of the request target, after the first `?` (empty when there is none),
    /// not percent-decoded.
    pub query: &'a [u8],
    /// Header fields in the order they came.
    pub headers: &'a [Header<'a>],
}

/// One header field of a [`Request`].
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    pub name: &'a str,
    pub value: &'a [u8],
}

impl Request<'_> {
    /// The first header with this name (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case(name))
            .map(|header| header.value)
    }
}

/// What a [`Handler`] answers. `http` adds `Content-Length` (or, for a [`Body::Streamed`] one,
/// chunked framing), `Date`-free framing and `Connection` itself; handlers never set those.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Body,
    /// Extra header fields (e.g. `Cache-Control`, `Content-Encoding`, `Allow`, `ETag`).
    pub headers: Vec<(&'static str, String)>,
}

/// A response body: built for this request (in a `Vec`, or for a large answer in a mapping of its
/// own, see [`mapped`]), a file compiled into the binary, or made a piece at a time while it is
/// sent ([`Pieces`]).
pub enum Body {
    Owned(Vec<u8>),
    Mapped(std::sync::Arc<mapped::MappedBytes>),
    Static(&'static [u8]),
    /// Sent as it is made, without a length: chunked to an HTTP/1.1 client, ended by closing the
    /// connection for HTTP/1.0. Holds one piece at a time, whatever the length of the whole.
    Streamed(Box<dyn Pieces>),
}

impl Body {
    /// The bytes of a body made up front; empty for a [`Body::Streamed`] one.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Body::Owned(bytes) => bytes,
            Body::Mapped(bytes) => bytes.as_bytes(),
            Body::Static(bytes) => bytes,
            Body::Streamed(_) => &[],
        }
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Owned(bytes) => write!(f, "Owned({} bytes)", bytes.len()),
            Body::Mapped(bytes) => write!(f, "{bytes:?}"),
            Body::Static(bytes) => write!(f, "Static({} bytes)", bytes.len()),
            Body::Streamed(_) => f.write_str("Streamed"),
        }
    }
}

/// A body made while it is sent, a bounded piece at a time (an export over years): `http` asks
/// for the next piece once the last one is written, so the answer's memory stays one piece
/// whatever its length. Pieces are made on the connection's coroutine, between other clients'
/// requests: each call must do a bounded amount of work (never block for long).
pub trait Pieces: Send {
    /// Append the next piece to `out` (it may stay empty: `http` asks again). `Ok(false)` once
    /// the body is complete.
    ///
    /// # Errors
    /// Why the rest cannot be made: the client gets a body cut off (no last chunk) and the
    /// connection closes, so it cannot take the part for the whole.
    fn next_piece(&mut self, out: &mut Vec<u8>) -> Result<bool, String>;
}

/// Answers requests. Runs on a coroutine with a bounded stack (`http::limits::STACK_BYTES`):
/// keep it short, never block on I/O, never write to the database.
///
/// `http` calls it only for GET and HEAD (other methods get 405 there). Answer HEAD exactly as
/// GET: `http` sends the head with the body's Content-Length and drops the body. A panic is
/// caught and answered with 500.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, request: &Request<'_>) -> Response;

    /// Whether answering `request` takes long or builds a large answer (a long series, top
    /// addresses over many days): `http` runs such requests one at a time, so cheap ones always
    /// find a free worker. Must itself be cheap.
    fn is_expensive(&self, _request: &Request<'_>) -> bool {
        false
    }
}
