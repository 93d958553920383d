//! A test server and a raw client for the `http_*` tests: a server on 127.0.0.1 with a small handler, and a raw TCP client
//! that sends exactly the bytes a test gives it and parses answers itself, so every byte on the
//! wire is under the test's control.
//!
//! The test handler answers every path with a JSON echo of what it received (method, path and
//! query as byte arrays, header count), except `/api/health` (`{"status":"ok"}`), `/panic`
//! (panics), `/big` (a 1 MiB body) and `/deep` (serialises a 100,000-point series, as the
//! history API does).
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nettraffic_sentinel::serve::http::{HttpSettings, Server, start};
use nettraffic_sentinel::serve::{Body, Handler, Request, Response};
use serde_json::{Value, json};

/// How long a test waits for any answer before it calls the server stuck.
pub const PATIENCE: Duration = Duration::from_secs(5);

pub const BIG_BYTES: usize = 1 << 20;

pub struct EchoHandler;

impl Handler for EchoHandler {
    fn handle(&self, request: &Request<'_>) -> Response {
        let body = match request.path {
            b"/api/health" => json!({ "status": "ok" }),
            b"/panic" => panic!("the test handler panics on purpose"),
            b"/big" => {
                return Response {
                    status: 200,
                    content_type: "application/octet-stream",
                    body: Body::Owned(vec![b'x'; BIG_BYTES]),
                    headers: Vec::new(),
                };
            }
            b"/deep" => deep_series(),
            b"/stream" | b"/stream-fails" => {
                return Response {
                    status: 200,
                    content_type: "text/plain",
                    body: Body::Streamed(Box::new(Numbers {
                        next: 0,
                        calls: 0,
                        fail: request.path == b"/stream-fails",
                    })),
                    headers: Vec::new(),
                };
            }
            _ => json!({
                "method": request.method,
                "path": request.path,
                "query": request.query,
                "headers": request.headers.len(),
                "cookie_bytes": request.header("cookie").map_or(0, <[u8]>::len),
            }),
        };
        Response {
            status: 200,
            content_type: "application/json",
            body: Body::Owned(body.to_string().into_bytes()),
            headers: vec![("Cache-Control", "no-store".to_string())],
        }
    }
}

/// A streamed body: the lines `0` to [`STREAM_LINES`]` - 1`, 1,000 a piece, with an empty piece
/// after each (which must not end the body); with `fail`, an error after the first half.
pub struct Numbers {
    next: u32,
    calls: u32,
    fail: bool,
}

pub const STREAM_LINES: u32 = 100_000;

/// The body `/stream` sends.
pub fn stream_lines() -> Vec<u8> {
    (0..STREAM_LINES)
        .flat_map(|line| format!("{line}\n").into_bytes())
        .collect()
}

impl nettraffic_sentinel::serve::Pieces for Numbers {
    fn next_piece(&mut self, out: &mut Vec<u8>) -> Result<bool, String> {
        self.calls += 1;
        if self.calls.is_multiple_of(2) {
            return Ok(true);
        }
        if self.fail && self.next >= STREAM_LINES / 2 {
            return Err("the test body fails on purpose".into());
        }
        let end = (self.next + 1_000).min(STREAM_LINES);
        for line in self.next..end {
            out.extend_from_slice(format!("{line}\n").as_bytes());
        }
        self.next = end;
        Ok(self.next < STREAM_LINES)
    }
}

/// What the history API's largest answer looks like: 100,000 points with byte counts and
/// their formatted strings.
pub fn deep_series() -> Value {
    let points: Vec<Value> = (0..100_000u64)
        .map(|hour| {
            json!({
                "time": format!("2024-01-01 {:02}:00", hour % 24),
                "upload": hour * 1000,
                "download": hour * 3000,
                "total": hour * 4000,
                "upload_fmt": format!("{:.2} KB", hour as f64),
                "download_fmt": format!("{:.2} KB", hour as f64 * 3.0),
            })
        })
        .collect();
    json!({ "granularity": "hour", "data": points })
}

pub fn start_echo(auth: Option<(&str, &str)>) -> Server {
    start_echo_allowing(auth, &[])
}

/// [`start_echo`] with `WEB_ALLOWED_HOSTS` entries.
pub fn start_echo_allowing(auth: Option<(&str, &str)>, allowed_hosts: &[&str]) -> Server {
    let settings = HttpSettings {
        bind: [127, 0, 0, 1].into(),
        port: 0,
        auth: auth.map(|(user, password)| (user.to_string(), password.to_string())),
        allowed_hosts: allowed_hosts.iter().map(|host| host.to_string()).collect(),
    };
    start(&settings, Arc::new(EchoHandler)).expect("the server starts on a free port")
}

/// One parsed answer (of the test server here, or of the real monitor: [`super::web::get`]).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(have, _)| have.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "status {} body is not JSON ({error}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The `error` message of a JSON error answer.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message in {:?}", self.json()))
            .to_string()
    }
}

/// A raw connection that keeps unread bytes between answers (pipelining).
pub struct Client {
    pub stream: TcpStream,
    buffered: Vec<u8>,
}

impl Client {
    pub fn connect(address: SocketAddr) -> Client {
        Client::over(TcpStream::connect_timeout(&address, PATIENCE).expect("connects"))
    }

    /// Connect from another loopback address (`127.0.0.0/8` is all loopback on Linux), as a
    /// second client machine would.
    pub fn connect_from(source: std::net::Ipv4Addr, address: SocketAddr) -> Client {
        use nix::sys::socket::{
            AddressFamily, SockFlag, SockType, SockaddrIn, bind, connect, socket,
        };
        use std::os::fd::AsRawFd;
        let SocketAddr::V4(target) = address else {
            panic!("an IPv4 server address")
        };
        let socket = socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .expect("a socket");
        bind(
            socket.as_raw_fd(),
            &SockaddrIn::from(std::net::SocketAddrV4::new(source, 0)),
        )
        .expect("bind to the source address");
        connect(socket.as_raw_fd(), &SockaddrIn::from(target)).expect("connects");
        Client::over(TcpStream::from(socket))
    }

    /// Use a connection opened elsewhere.
    pub fn over(stream: TcpStream) -> Client {
        stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
        stream.set_write_timeout(Some(PATIENCE)).expect("timeout");
        Client {
            stream,
            buffered: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) -> &mut Client {
        self.stream.write_all(bytes).expect("the server reads");
        self
    }

    /// Read one answer; `head_only` for an answer to HEAD (no body despite Content-Length).
    pub fn reply(&mut self, head_only: bool) -> io::Result<Answer> {
        loop {
            let mut fields = [httparse::EMPTY_HEADER; 64];
            let mut parsed = httparse::Response::new(&mut fields);
            if let httparse::Status::Complete(head_len) = parsed
                .parse(&self.buffered)
                .map_err(|error| io::Error::other(format!("bad answer head: {error}")))?
            {
                let status = parsed.code.unwrap_or(0);
                let headers: Vec<(String, String)> = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                let length = headers
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                    .map_or(0, |(_, value)| value.parse::<usize>().expect("a length"));
                let body_len = if head_only { 0 } else { length };
                while self.buffered.len() < head_len + body_len {
                    self.fill()?;
                }
                let body = self.buffered[head_len..head_len + body_len].to_vec();
                self.buffered.drain(..head_len + body_len);
                return Ok(Answer {
                    status,
                    headers,
                    body,
                });
            }
            self.fill()?;
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 64 * 1024];
        let read = self.stream.read(&mut chunk)?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the server closed the connection ({} bytes unparsed)",
                    self.buffered.len()
                ),
            ));
        }
        self.buffered.extend_from_slice(&chunk[..read]);
        Ok(())
    }

    /// Whether the server has closed the connection (end of file, or a reset) within `wait`.
    pub fn is_closed_within(&mut self, wait: Duration) -> bool {
        self.stream.set_read_timeout(Some(wait)).expect("timeout");
        let mut byte = [0u8; 1];
        let closed = match self.stream.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(error) => !matches!(
                error.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
        };
        self.stream
            .set_read_timeout(Some(PATIENCE))
            .expect("timeout");
        closed
    }
}

/// Send `bytes` on a new connection and read one answer.
pub fn exchange(address: SocketAddr, bytes: &[u8]) -> Answer {
    Client::connect(address)
        .send(bytes)
        .reply(false)
        .expect("an answer")
}

pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: nas\r\n\r\n").into_bytes()
}

/// The health-like request that must answer after every abuse: on a new connection, within
/// [`PATIENCE`]. Prints and returns its latency (the goal is under 100 ms; timing is reported,
/// not asserted, because the machine is shared).
pub fn assert_still_serves(server: &Server, after: &str) -> Duration {
    let began = Instant::now();
    let reply = exchange(server.local_addr(), &get("/api/health"));
    let took = began.elapsed();
    assert_eq!(reply.status, 200, "health after {after}: {reply:?}");
    assert_eq!(reply.json()["status"], "ok");
    eprintln!(
        "health latency after {after}: {:.2} ms",
        took.as_secs_f64() * 1000.0
    );
    took
}
