//! connection: one client's socket on its own coroutine — read request heads, answer them in
//! order, keep the connection alive or close it, under the timeouts of `limits`.

use std::io;
use std::net::{IpAddr, Shutdown};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, error};

use super::budget::{AnswerBytes, ExpensiveGate, Held};
use super::guard::Guard;
use super::head::{self, Reject, Scan, Scanner};
use super::limits::{
    HEAD_TIMEOUT, IDLE_TIMEOUT, INPUT_START_BYTES, LARGE_ANSWER_MIN_RATE, LARGEST_ANSWER_BYTES,
    LINGER_BYTES, LINGER_TIME, MAX_HEAD_BYTES, MAX_HEADERS, OUTPUT_FLUSH_BYTES, STREAMED_BYTES,
    WRITE_TIMEOUT,
};
use super::registry::{Phase, Slot};
use super::response;
use super::socket::Socket;
use crate::serve::{Body, Handler, Header, Pieces, Request, Response};

/// What every connection of one server shares.
pub struct Shared {
    pub handler: Arc<dyn Handler>,
    pub guard: Guard,
    /// Memory that large answers may hold while their clients read them.
    pub answer_bytes: Arc<AnswerBytes>,
    /// Turns for the handler's expensive requests.
    pub expensive: ExpensiveGate,
}

/// How a connection ends.
enum Close {
    /// The client left, timed out while idle, or a write failed: close at once.
    Now,
    /// We answered and decided to close: stop sending, discard what still arrives, then close.
    Linger,
}

/// What answering one request decided.
struct Answered {
    keep_alive: bool,
    /// A body too large to copy into the output buffer, written after it.
    large_body: Option<LargeBody>,
    /// A body made while it is sent, written after the head.
    streamed: Option<Streamed>,
}

/// A streamed answer's pieces, how they are framed, and its share of the memory budget.
struct Streamed {
    pieces: Box<dyn Pieces>,
    chunked: bool,
    _held: Held,
}

/// A large answer's body and, when it was built for this request, its share of the memory
/// budget (given back once it has been written or abandoned).
struct LargeBody {
    body: Body,
    _held: Option<Held>,
}

pub struct Connection {
    // Declared first so it is dropped first: the connection leaves the registry before its
    // socket is closed (see `registry`).
    slot: Slot,
    stream: Socket,
    shared: Arc<Shared>,
    /// The client's address, for the password throttle.
    client: Option<IpAddr>,
    /// Received bytes; `filled` of them are valid. Grows up to `MAX_HEAD_BYTES`.
    input: Vec<u8>,
    filled: usize,
    output: Vec<u8>,
    /// Whether a request has been answered: until then the connection is `Fresh`, which is
    /// evicted last (after clients that have had their answers).
    answered: bool,
}

impl Connection {
    pub fn new(slot: Slot, stream: Socket, shared: Arc<Shared>) -> Connection {
        let client = stream.peer_ip();
        Connection {
            slot,
            stream,
            shared,
            client,
            input: Vec::new(),
            filled: 0,
            output: Vec::new(),
            answered: false,
        }
    }

    /// Serve requests until the client leaves, a limit is hit, or an answer closes.
    pub fn serve(mut self) {
        if self.stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err() {
            return;
        }
        if let Close::Linger = self.requests() {
            self.linger();
        }
    }

    fn requests(&mut self) -> Close {
        let mut start = 0;
        let mut scanner = Scanner::default();
        let mut head_deadline: Option<Instant> = None;
        loop {
            if scanner.is_fresh() {
                // RFC 9112 §2.2: empty lines before a request line are ignored.
                while start < self.filled && matches!(self.input[start], b'\r' | b'\n') {
                    start += 1;
                }
            }
            match scanner.scan(&self.input[start..self.filled]) {
                Scan::Complete { len, line_end } => {
                    self.slot.set(Phase::Handling);
                    let answered = answer(
                        &self.shared,
                        self.client,
                        &self.input[start..start + len],
                        line_end,
                        &mut self.output,
                    );
                    start += len;
                    scanner.reset();
                    head_deadline = None;
                    self.answered = true;
                    if let Some(large) = answered.large_body
                        && (self.flush().is_err()
                            || self.write_large(large.body.as_bytes()).is_err())
                    {
                        return Close::Now;
                    }
                    if let Some(streamed) = answered.streamed
                        && (self.flush().is_err() || self.write_streamed(streamed).is_err())
                    {
                        return Close::Now;
                    }
                    if !answered.keep_alive {
                        return self.flush_then(Close::Linger);
                    }
                    if self.output.len() >= OUTPUT_FLUSH_BYTES && self.flush().is_err() {
                        return Close::Now;
                    }
                }
                Scan::Reject(reject) => {
                    reject_head(&mut self.output, reject);
                    return self.flush_then(Close::Linger);
                }
                Scan::NeedMore => {
                    // Answers to pipelined requests leave once no complete request is left.
                    if self.flush().is_err() {
                        return Close::Now;
                    }
                    self.compact(start);
                    start = 0;
                    let waiting_for_head = self.filled > 0;
                    let timeout = if waiting_for_head {
                        self.slot.set(Phase::Reading);
                        let deadline =
                            *head_deadline.get_or_insert_with(|| Instant::now() + HEAD_TIMEOUT);
                        deadline.saturating_duration_since(Instant::now())
                    } else {
                        self.slot.set(if self.answered {
                            Phase::Idle
                        } else {
                            Phase::Fresh
                        });
                        IDLE_TIMEOUT
                    };
                    match self.read_more(timeout) {
                        Ok(0) => return Close::Now,
                        Ok(_) => {
                            if !waiting_for_head {
                                head_deadline = Some(Instant::now() + HEAD_TIMEOUT);
                            }
                        }
                        Err(error) if is_timeout(&error) && waiting_for_head => {
                            response::append_error(
                                &mut self.output,
                                408,
                                &format!(
                                    "request headers not received within {} s",
                                    HEAD_TIMEOUT.as_secs()
                                ),
                                &[],
                                false,
                                false,
                            );
                            return self.flush_then(Close::Linger);
                        }
                        Err(_) => return Close::Now,
                    }
                }
            }
        }
    }

    /// Move the unconsumed bytes from `start` to the front of the input buffer.
    fn compact(&mut self, start: usize) {
        if start > 0 {
            self.input.copy_within(start..self.filled, 0);
            self.filled -= start;
        }
    }

    /// Read what has arrived (waiting at most `timeout`) behind the valid bytes.
    fn read_more(&mut self, timeout: std::time::Duration) -> io::Result<usize> {
        if timeout.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        if self.filled == self.input.len() {
            // The scanner refuses a head before it outgrows MAX_HEAD_BYTES; this is a backstop.
            let grown = (self.input.len() * 2).clamp(INPUT_START_BYTES, MAX_HEAD_BYTES);
            if grown == self.input.len() {
                return Err(io::ErrorKind::OutOfMemory.into());
            }
            self.input.resize(grown, 0);
        }
        self.stream.set_read_timeout(Some(timeout))?;
        let read = self.stream.read(&mut self.input[self.filled..])?;
        self.filled += read;
        Ok(read)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.output.is_empty() {
            return Ok(());
        }
        let output = std::mem::take(&mut self.output);
        let written = self.write_all(&output);
        self.output = output;
        self.output.clear();
        if self.output.capacity() > 2 * OUTPUT_FLUSH_BYTES {
            // One burst of pipelined answers does not keep its memory for the connection's life.
            self.output = Vec::new();
        }
        written
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.slot.set(Phase::Writing);
        self.stream.write_all(bytes)
    }

    /// Write a large answer by a deadline that allows [`LARGE_ANSWER_MIN_RATE`] after the
    /// first [`WRITE_TIMEOUT`], so a client that reads a trickle does not hold it for ever.
    fn write_large(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.slot.set(Phase::Writing);
        let allowed =
            WRITE_TIMEOUT.as_secs_f64() + bytes.len() as f64 / LARGE_ANSWER_MIN_RATE as f64;
        let written = self
            .stream
            .write_all_by(bytes, Instant::now() + Duration::from_secs_f64(allowed));
        // Later writes get the usual timeout again.
        self.stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        written
    }

    /// Make and write a streamed body piece by piece, under the same rate as a large answer: the
    /// bytes sent so far must have left at [`LARGE_ANSWER_MIN_RATE`] after the first
    /// [`WRITE_TIMEOUT`]. Between pieces the coroutine yields, so the other connections of its
    /// worker are served while a long export is sent to a fast reader.
    fn write_streamed(&mut self, mut streamed: Streamed) -> io::Result<()> {
        self.slot.set(Phase::Writing);
        let started = Instant::now();
        let mut sent = 0usize;
        let mut piece = Vec::with_capacity(STREAMED_BYTES / 4);
        let mut frame = Vec::new();
        loop {
            piece.clear();
            let made = catch_unwind(AssertUnwindSafe(|| streamed.pieces.next_piece(&mut piece)));
            let more = match made {
                Ok(Ok(more)) => more,
                Ok(Err(why)) => {
                    error!("a streamed answer could not be finished ({why}): it was cut off");
                    return Err(io::Error::other(why));
                }
                Err(_) => {
                    error!("a streamed answer panicked: it was cut off; the server goes on");
                    return Err(io::Error::other("the body's maker panicked"));
                }
            };
            frame.clear();
            if streamed.chunked {
                if !piece.is_empty() {
                    response::append_chunk(&mut frame, &piece);
                }
                if !more {
                    frame.extend_from_slice(response::LAST_CHUNK);
                }
            } else {
                frame.extend_from_slice(&piece);
            }
            if !frame.is_empty() {
                sent = sent.saturating_add(frame.len());
                let allowed =
                    WRITE_TIMEOUT.as_secs_f64() + sent as f64 / LARGE_ANSWER_MIN_RATE as f64;
                self.stream
                    .write_all_by(&frame, started + Duration::from_secs_f64(allowed))?;
            }
            if !more {
                break;
            }
            if frame.capacity() > STREAMED_BYTES {
                // One oversized piece does not keep its memory for the rest of the answer.
                frame = Vec::new();
                piece = Vec::with_capacity(STREAMED_BYTES / 4);
            }
            may::coroutine::yield_now();
        }
        // Later writes get the usual timeout again.
        self.stream.set_write_timeout(Some(WRITE_TIMEOUT))
    }

    fn flush_then(&mut self, close: Close) -> Close {
        match self.flush() {
            Ok(()) => close,
            Err(_) => Close::Now,
        }
    }

    /// Half-close, then read and discard for a while, so unread input does not make the kernel
    /// answer with a reset that destroys our last answer before the client reads it.
    fn linger(&mut self) {
        self.slot.set(Phase::Reading);
        if self.stream.shutdown(Shutdown::Write).is_err() {
            return;
        }
        let deadline = Instant::now() + LINGER_TIME;
        let mut discarded = 0;
        while discarded < LINGER_BYTES {
            self.filled = 0;
            let remaining = deadline.saturating_duration_since(Instant::now());
            match self.read_more(remaining) {
                Ok(0) | Err(_) => return,
                Ok(read) => discarded += read,
            }
        }
    }
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

fn reject_head(out: &mut Vec<u8>, reject: Reject) {
    response::append_error(out, reject.status(), &reject.message(), &[], false, false);
}

/// Answer one complete head: refuse it, or call the handler (guarded against panics).
fn answer(
    shared: &Shared,
    client: Option<IpAddr>,
    head: &[u8],
    line_end: usize,
    out: &mut Vec<u8>,
) -> Answered {
    let closed = Answered {
        keep_alive: false,
        large_body: None,
        streamed: None,
    };
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let parsed = match head::parse(head, line_end, &mut slots) {
        Ok(parsed) => parsed,
        Err(reject) => {
            reject_head(out, reject);
            return closed;
        }
    };
    let framing = match head::framing(parsed.minor, parsed.headers) {
        Ok(framing) => framing,
        Err(reject) => {
            reject_head(out, reject);
            return closed;
        }
    };
    // A body we do not read would be taken for the next request: close after answering.
    let keep_alive = framing.keep_alive && !framing.has_body;
    let head_only = match parsed.method {
        "GET" => false,
        "HEAD" => true,
        other => {
            response::append_error(
                out,
                405,
                &format!("method {other} is not allowed: this server answers GET and HEAD"),
                &[("Allow", "GET, HEAD")],
                false,
                keep_alive,
            );
            return Answered {
                keep_alive,
                large_body: None,
                streamed: None,
            };
        }
    };
    let Some((path, query)) = head::split_target(parsed.target) else {
        reject_head(out, Reject::BadTarget);
        return closed;
    };
    let mut headers = [Header {
        name: "",
        value: b"",
    }; MAX_HEADERS];
    for (ours, theirs) in headers.iter_mut().zip(parsed.headers) {
        *ours = Header {
            name: theirs.name,
            value: theirs.value,
        };
    }
    let request = Request {
        method: parsed.method,
        path,
        query,
        headers: &headers[..parsed.headers.len()],
    };
    if let Err(refusal) = shared.guard.check(client, parsed.target, &request) {
        let extra: Vec<(&'static str, &str)> = refusal
            .headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        response::append_error(
            out,
            refusal.status,
            &refusal.message,
            &extra,
            head_only,
            keep_alive,
        );
        return Answered {
            keep_alive,
            large_body: None,
            streamed: None,
        };
    }
    let outcome = if shared.handler.is_expensive(&request) {
        // Not even started while its answer could not be held: that would only cost the time.
        let outcome = if shared.answer_bytes.has_room(LARGEST_ANSWER_BYTES) {
            shared.expensive.run(&request)
        } else {
            None
        };
        let Some(outcome) = outcome else {
            return busy(
                out,
                "too many long queries at once: try again in a moment",
                head_only,
                keep_alive,
            );
        };
        outcome
    } else {
        catch_unwind(AssertUnwindSafe(|| shared.handler.handle(&request)))
    };
    match outcome {
        Ok(answer) => respond(shared, out, answer, head_only, keep_alive, parsed.minor),
        Err(_) => {
            error!(
                "the handler panicked answering {}: answered 500 and closed that connection; the server goes on",
                printable(path)
            );
            response::append_error(
                out,
                500,
                "internal error while answering this request (the server goes on)",
                &[],
                head_only,
                false,
            );
            closed
        }
    }
}

/// Append the handler's answer; a large one built for this request (or a streamed one) must
/// first get its share of the answer memory, else the client gets a 503 to retry. `minor` is
/// the request's HTTP/1.x version: a streamed body is chunked for 1.1 and ended by closing for
/// 1.0, which knows no chunks.
fn respond(
    shared: &Shared,
    out: &mut Vec<u8>,
    answer: Response,
    head_only: bool,
    keep_alive: bool,
    minor: u8,
) -> Answered {
    if matches!(answer.body, Body::Streamed(_)) {
        return respond_streamed(shared, out, answer, head_only, keep_alive, minor);
    }
    let built_bytes = match &answer.body {
        Body::Owned(bytes) => bytes.capacity(),
        Body::Mapped(bytes) => bytes.len(),
        Body::Static(_) | Body::Streamed(_) => 0,
    };
    let held = match &answer.body {
        Body::Owned(_) | Body::Mapped(_)
            if !head_only && answer.body.as_bytes().len() > response::COPY_BODY_BYTES =>
        {
            match shared.answer_bytes.take(built_bytes) {
                Some(held) => Some(held),
                None => {
                    drop(answer);
                    debug!("503: large answers already hold the answer memory budget");
                    return busy(
                        out,
                        "too many large answers are being sent at once: try again in a moment",
                        head_only,
                        keep_alive,
                    );
                }
            }
        }
        _ => None,
    };
    Answered {
        keep_alive,
        large_body: response::append(out, answer, head_only, keep_alive)
            .map(|body| LargeBody { body, _held: held }),
        streamed: None,
    }
}

/// Append the head of a streamed answer and hand its pieces back to be written after it, with
/// a share of [`STREAMED_BYTES`] of the answer memory for as long as it is sent.
fn respond_streamed(
    shared: &Shared,
    out: &mut Vec<u8>,
    answer: Response,
    head_only: bool,
    keep_alive: bool,
    minor: u8,
) -> Answered {
    let chunked = minor >= 1;
    let keep_alive = keep_alive && chunked;
    if head_only {
        response::append_streamed_head(out, &answer, chunked, keep_alive);
        return Answered {
            keep_alive,
            large_body: None,
            streamed: None,
        };
    }
    let Some(held) = shared.answer_bytes.take(STREAMED_BYTES) else {
        drop(answer);
        debug!("503: large answers already hold the answer memory budget");
        return busy(
            out,
            "too many large answers are being sent at once: try again in a moment",
            head_only,
            keep_alive,
        );
    };
    response::append_streamed_head(out, &answer, chunked, keep_alive);
    let Body::Streamed(pieces) = answer.body else {
        // Only a streamed body is handed here; anything else ends the connection unsent.
        return Answered {
            keep_alive: false,
            large_body: None,
            streamed: None,
        };
    };
    Answered {
        keep_alive,
        large_body: None,
        streamed: Some(Streamed {
            pieces,
            chunked,
            _held: held,
        }),
    }
}

/// 503 with `Retry-After`: the server is busy with long work, the client should come back.
fn busy(out: &mut Vec<u8>, why: &str, head_only: bool, keep_alive: bool) -> Answered {
    response::append_error(
        out,
        503,
        why,
        &[("Retry-After", "2")],
        head_only,
        keep_alive,
    );
    Answered {
        keep_alive,
        large_body: None,
        streamed: None,
    }
}

/// A client's path for a log line: lossy, without controls, at most 200 characters.
fn printable(path: &[u8]) -> String {
    String::from_utf8_lossy(path)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}
