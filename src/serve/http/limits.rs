//! Every bound the HTTP layer puts on a client, in one place, with the reason for each number.
//!
//! Memory bound of the whole server, worst case, under any mix of requests and clients:
//! - per connection ([`MAX_CONNECTIONS`] of them): a [`STACK_BYTES`] coroutine stack, an input
//!   buffer of at most [`MAX_HEAD_BYTES`] and an output buffer of at most [`OUTPUT_FLUSH_BYTES`]
//!   plus one copied answer (16 KiB): 256 × (256 + 24 + 80) KiB = 90 MiB of address space, of
//!   which little is resident: a stack holds only the pages its deepest call touched (14 KiB in a
//!   release build on the deepest API path) and buffers start at 4 KiB, so a full table of idle
//!   clients costs about 256 × (16 + 4) KiB ≈ 5 MiB, plus `may`'s pool of [`COROUTINE_POOL`]
//!   ready stacks;
//! - large answers waiting for their client to read them: at most [`ANSWER_BUDGET_BYTES`]
//!   (32 MiB) together, whatever the number of clients (`budget`); beyond it a request gets 503.
//!   Streamed answers (exports) count [`STREAMED_BYTES`] each in the same budget;
//! - answers being built: one handler per web worker ([`WORKERS`]) runs at a time and only
//!   [`EXPENSIVE_AT_ONCE`] of them an expensive request; the largest answer (a 100,000-point
//!   series) takes about 20 MiB while it is built and is freed or counted in the budget after.
//!
//! Together about 32 + 2 × 20 + 5 ≈ 80 MiB above the idle server, and it is given back when the
//! clients go (`tests/http_memory.rs` measures it with 250 clients that never read).

use std::time::Duration;

/// Header fields a request may carry. Browsers send about 15; a proxy adds a few more.
pub const MAX_HEADERS: usize = 64;

/// Bytes of header fields (every "Name: value" line with its line end, not the request line).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Bytes of the request line without its line end. Our longest URL (a `/api/query` with dates and
/// an interface) is under 200 bytes; 8 KiB is what common servers allow.
pub const MAX_REQUEST_LINE_BYTES: usize = 8 * 1024;

/// The most a request head can occupy in the input buffer: request line, header fields, the
/// line ends around them, and a few bytes past a limit so that crossing it can be seen.
pub const MAX_HEAD_BYTES: usize = MAX_REQUEST_LINE_BYTES + MAX_HEADER_BYTES + 8;

/// Open connections served at once. A NAS dashboard has a handful of viewers; the cap bounds
/// memory and file descriptors. A new client is never locked out by a full table: the longest
/// idle connection (then the oldest half-sent head, then the oldest stalled write) is closed to
/// make room (see `registry`).
pub const MAX_CONNECTIONS: usize = 256;

/// A client that opened a connection or finished a request may stay silent this long.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// From the first byte of a request to its last header line: a slowloris trickle ends here.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// One write to a client that does not read its answer.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// After answering and deciding to close, read and discard what the client still sends (a body,
/// the rest of an oversized head) for at most this long, so closing with unread bytes does not
/// turn into a TCP reset that would destroy our answer before the client reads it.
pub const LINGER_TIME: Duration = Duration::from_secs(2);

/// The most bytes discarded while lingering.
pub const LINGER_BYTES: usize = 1024 * 1024;

/// Answers to pipelined requests are gathered up to this size before they are written.
pub const OUTPUT_FLUSH_BYTES: usize = 64 * 1024;

/// Start size of a connection's input buffer; it grows up to [`MAX_HEAD_BYTES`] only for a
/// request that needs it (a large cookie).
pub const INPUT_START_BYTES: usize = 4 * 1024;

/// Stack of each connection's coroutine. `may`'s default (32 KiB) is too small to be safe and an
/// overflow kills the process. Measured on the deepest path (the API serialising a 99,984-point
/// series): 33 KiB in a debug build, 14 KiB in a release build (`tests/http_stack.rs`).
pub const STACK_BYTES: usize = 256 * 1024;

/// `may` worker threads. A NAS has 2–4 weak cores that capture needs first; one worker would let
/// one slow handler (a cold history read from a spinning disk) stall every other client, two let
/// the second worker steal the waiting connections.
pub const WORKERS: usize = 2;

/// Bytes that large answers (over 16 KiB, built for their request) may hold together while
/// their clients read them: three of the largest `/api/query` answers; a dashboard's own
/// answers are far smaller.
pub const ANSWER_BUDGET_BYTES: usize = 32 * 1024 * 1024;

/// The share of [`ANSWER_BUDGET_BYTES`] a streamed answer (an export, made a piece at a time
/// while it is sent) holds until it is sent: its piece (about 32 KiB, see
/// [`crate::export::CHUNK_BYTES`]), that piece framed, and the read view it is made from, with
/// room to spare. So at most 128 exports stream at once, whatever their length.
pub const STREAMED_BYTES: usize = 256 * 1024;

/// The buffer of the largest answer: a 100,000-point `/api/query` series (`MAX_POINTS`) is
/// built in 9.6 MB. An expensive request is not started unless this much of
/// [`ANSWER_BUDGET_BYTES`] is free.
pub const LARGEST_ANSWER_BYTES: usize = 10 * 1024 * 1024;

/// A large answer must leave at least this fast once its first write has had
/// [`WRITE_TIMEOUT`]: a client that reads a byte now and then cannot hold its share of
/// [`ANSWER_BUDGET_BYTES`] for ever. 64 KiB/s gives the largest answer (9 MiB) 2.5 minutes.
pub const LARGE_ANSWER_MIN_RATE: usize = 64 * 1024;

/// Expensive requests (long series, top addresses over many days; the handler says which) run
/// on this many `http-expensive` threads of their own, never on the [`WORKERS`], whose sockets
/// would go unpolled meanwhile: cheap requests stay fast under any number of expensive ones.
pub const EXPENSIVE_AT_ONCE: usize = 1;

/// Expensive requests that may wait for their turn; more get 503 at once.
pub const EXPENSIVE_QUEUE: usize = 16;

/// The longest wait for a turn before answering 503.
pub const EXPENSIVE_WAIT: Duration = Duration::from_secs(10);

/// An `http-expensive` thread without work this long ends (and its allocator heap with it);
/// the next expensive request starts one again.
pub const EXPENSIVE_IDLE_EXIT: Duration = Duration::from_secs(5);

/// Finished coroutines kept for reuse (their stacks stay mapped); beyond this they are freed.
pub const COROUTINE_POOL: usize = 64;

/// The listen queue: connections the kernel completes before the accept thread takes them.
pub const LISTEN_BACKLOG: i32 = 1024;

/// Open-file limit the process asks for (up to the hard limit): the connection table, capture
/// rings, the database and a client flood that is being evicted all need descriptors.
pub const WANTED_OPEN_FILES: u64 = 65536;
