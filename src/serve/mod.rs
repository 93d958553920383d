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

/// What a [`Handler`] answers. `http` adds `Content-Length`, `Date`-free framing and
/// `Connection` itself; handlers never set those.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Body,
    /// Extra header fields (e.g. `Cache-Control`, `Content-Encoding`, `Allow`, `ETag`).
    pub headers: Vec<(&'static str, String)>,
}

/// A response body: built for this request (in a `Vec`, or for a large answer in a mapping of its
/// own, see [`mapped`]), or a file compiled into the binary.
#[derive(Debug, Clone)]
pub enum Body {
    Owned(Vec<u8>),
    Mapped(std::sync::Arc<mapped::MappedBytes>),
    Static(&'static [u8]),
}

impl Body {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Body::Owned(bytes) => bytes,
            Body::Mapped(bytes) => bytes.as_bytes(),
            Body::Static(bytes) => bytes,
        }
    }
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
