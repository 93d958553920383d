//! head: finds the end of one request head in the input buffer and parses it, under the limits.
//!
//! The request line is parsed here (not by httparse), because httparse rejects a target with
//! bytes that are not UTF-8, and such a request must reach the handler as bytes (it answers 404
//! or 400). Header fields go through `httparse::parse_headers`.
//!
//! The buffer is only parsed once its head is complete: while a client trickles bytes in, each
//! read looks at the new bytes only, so a slow or hostile client costs linear time, never
//! quadratic.

use super::limits::{MAX_HEADER_BYTES, MAX_HEADERS, MAX_REQUEST_LINE_BYTES};

/// Why a request head is refused; each maps to one status and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// Not `METHOD SP target SP HTTP/x.y`.
    BadRequestLine,
    /// The target is neither `/path` nor `http://host/path`.
    BadTarget,
    /// A header field httparse cannot read.
    BadHeader,
    /// More than [`MAX_HEADERS`] fields or [`MAX_HEADER_BYTES`] bytes of them.
    HeadersTooLarge,
    /// A request line longer than [`MAX_REQUEST_LINE_BYTES`].
    RequestLineTooLong,
    /// HTTP/2.0, HTTP/0.9 and the like.
    VersionNotSupported,
    /// Content-Length that is not one decimal number.
    BadContentLength,
    /// An HTTP/1.1 request with no or several Host fields (RFC 9112 §3.2: answer 400).
    BadHost,
}

impl Reject {
    pub fn status(self) -> u16 {
        match self {
            Reject::BadRequestLine
            | Reject::BadTarget
            | Reject::BadHeader
            | Reject::BadContentLength
            | Reject::BadHost => 400,
            Reject::RequestLineTooLong => 414,
            Reject::HeadersTooLarge => 431,
            Reject::VersionNotSupported => 505,
        }
    }

    pub fn message(self) -> String {
        match self {
            Reject::BadRequestLine => {
                "malformed request line: expected METHOD /path HTTP/1.1".to_string()
            }
            Reject::BadTarget => "malformed request target: expected /path?query".to_string(),
            Reject::BadHeader => "malformed header field".to_string(),
            Reject::HeadersTooLarge => format!(
                "request header fields too large: at most {MAX_HEADERS} fields and {MAX_HEADER_BYTES} bytes"
            ),
            Reject::RequestLineTooLong => {
                format!("request line longer than {MAX_REQUEST_LINE_BYTES} bytes")
            }
            Reject::VersionNotSupported => {
                "HTTP version not supported: use HTTP/1.1 or HTTP/1.0".to_string()
            }
            Reject::BadContentLength => "invalid Content-Length".to_string(),
            Reject::BadHost => "an HTTP/1.1 request needs exactly one Host field".to_string(),
        }
    }
}

/// What [`Scanner::scan`] found in the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Scan {
    /// The head is not complete yet and within limits.
    NeedMore,
    /// The head ends at `len` (after its empty line); the request line ends at `line_end`
    /// (the index of its `\n`).
    Complete {
        len: usize,
        line_end: usize,
    },
    Reject(Reject),
}

/// Remembers how far a partly received head has been looked at.
#[derive(Debug, Default)]
pub struct Scanner {
    /// Index of the request line's `\n`, once seen.
    line_end: Option<usize>,
    /// Where the search for the next `\n` resumes.
    resume: usize,
}

/// Longest method we wait for before deciding the bytes are not HTTP (e.g. a TLS handshake).
const MAX_METHOD_BYTES: usize = 20;

impl Scanner {
    /// Forget the last head; the next scan starts a new request at index 0.
    pub fn reset(&mut self) {
        *self = Scanner::default();
    }

    /// True when nothing of the current head has been looked at.
    pub fn is_fresh(&self) -> bool {
        self.line_end.is_none() && self.resume == 0
    }

    /// Look at `buf` (the head starts at index 0; it may have grown since the last call).
    pub fn scan(&mut self, buf: &[u8]) -> Scan {
        let line_end = match self.line_end {
            Some(line_end) => line_end,
            None => match find_newline(buf, self.resume) {
                Some(line_end) => {
                    if line_end > MAX_REQUEST_LINE_BYTES + 1 {
                        return Scan::Reject(Reject::RequestLineTooLong);
                    }
                    self.line_end = Some(line_end);
                    self.resume = line_end;
                    line_end
                }
                None => {
                    self.resume = buf.len();
                    if buf.len() > MAX_REQUEST_LINE_BYTES + 1 {
                        return Scan::Reject(Reject::RequestLineTooLong);
                    }
                    if !is_method_prefix(buf) {
                        return Scan::Reject(Reject::BadRequestLine);
                    }
                    return Scan::NeedMore;
                }
            },
        };
        // The head ends at the first empty line: a `\n` followed by `\n` or `\r\n`.
        let mut at = self.resume;
        while let Some(newline) = find_newline(buf, at) {
            match (buf.get(newline + 1), buf.get(newline + 2)) {
                (Some(b'\n'), _) => return self.complete(newline + 2, line_end),
                (Some(b'\r'), Some(b'\n')) => return self.complete(newline + 3, line_end),
                (Some(b'\r'), None) | (None, _) => {
                    // The bytes that decide are not here yet: look at this `\n` again.
                    self.resume = newline;
                    return self.need_more(buf, line_end);
                }
                _ => at = newline + 1,
            }
        }
        self.resume = buf.len();
        self.need_more(buf, line_end)
    }

    fn need_more(&self, buf: &[u8], line_end: usize) -> Scan {
        // Field lines plus the empty line's CR LF may still come.
        if buf.len() - (line_end + 1) > MAX_HEADER_BYTES + 2 {
            Scan::Reject(Reject::HeadersTooLarge)
        } else {
            Scan::NeedMore
        }
    }

    fn complete(&self, len: usize, line_end: usize) -> Scan {
        // `len - (line_end + 1)` covers the field lines and the empty line (CR LF) ending them.
        if len - (line_end + 1) > MAX_HEADER_BYTES + 2 {
            Scan::Reject(Reject::HeadersTooLarge)
        } else {
            Scan::Complete { len, line_end }
        }
    }
}

fn find_newline(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .iter()
        .position(|&byte| byte == b'\n')
        .map(|offset| from + offset)
}

/// Whether `buf` (no `\n` yet) can still become a request line: a method token, then a space.
fn is_method_prefix(buf: &[u8]) -> bool {
    let method_len = buf
        .iter()
        .position(|&byte| byte == b' ')
        .unwrap_or(buf.len());
    method_len <= MAX_METHOD_BYTES && buf[..method_len].iter().all(|&byte| is_token(byte))
}

/// RFC 9110 `tchar`.
fn is_token(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// A parsed request head, borrowed from the input buffer.
#[derive(Debug)]
pub struct Head<'a> {
    pub method: &'a str,
    pub target: &'a [u8],
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    pub headers: &'a [httparse::Header<'a>],
}

/// Parse a complete head found by [`Scanner::scan`].
pub fn parse<'a>(
    head: &'a [u8],
    line_end: usize,
    slots: &'a mut [httparse::Header<'a>; MAX_HEADERS],
) -> Result<Head<'a>, Reject> {
    let (method, target, minor) = request_line(&head[..line_end])?;
    let headers = match httparse::parse_headers(&head[line_end + 1..], slots) {
        Ok(httparse::Status::Complete((_, headers))) => headers,
        // The scanner saw the empty line, so httparse must see it too; anything else is malformed.
        Ok(httparse::Status::Partial) => return Err(Reject::BadHeader),
        Err(httparse::Error::TooManyHeaders) => return Err(Reject::HeadersTooLarge),
        Err(_) => return Err(Reject::BadHeader),
    };
    Ok(Head {
        method,
        target,
        minor,
        headers,
    })
}

/// `METHOD SP request-target SP HTTP-version`, the line end already cut off (a CR may remain).
fn request_line(line: &[u8]) -> Result<(&str, &[u8], u8), Reject> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.splitn(3, |&byte| byte == b' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(Reject::BadRequestLine);
    };
    if method.is_empty() || !method.iter().all(|&byte| is_token(byte)) {
        return Err(Reject::BadRequestLine);
    }
    // Any visible byte, including bytes that are not UTF-8; never a space or a control.
    if target.is_empty() || !target.iter().all(|&byte| byte > b' ' && byte != 0x7f) {
        return Err(Reject::BadRequestLine);
    }
    let minor = match version {
        b"HTTP/1.1" => 1,
        b"HTTP/1.0" => 0,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            return Err(Reject::VersionNotSupported);
        }
        _ => return Err(Reject::BadRequestLine),
    };
    // Token bytes are ASCII, so this cannot fail; no unwrap on client bytes all the same.
    let method = std::str::from_utf8(method).map_err(|_| Reject::BadRequestLine)?;
    Ok((method, target, minor))
}

/// Path and query of an origin-form (`/p?q`) or absolute-form (`http://host/p?q`) target.
pub fn split_target(target: &[u8]) -> Option<(&[u8], &[u8])> {
    let origin = if target.first() == Some(&b'/') {
        target
    } else {
        let scheme_len = if starts_with_ignore_case(target, b"http://") {
            7
        } else if starts_with_ignore_case(target, b"https://") {
            8
        } else {
            return None;
        };
        let rest = &target[scheme_len..];
        match rest.iter().position(|&byte| byte == b'/' || byte == b'?') {
            Some(start) if rest[start] == b'/' => &rest[start..],
            // `http://host?q` and `http://host`: the path is "/".
            Some(start) => return Some((b"/", &rest[start + 1..])),
            None => return Some((b"/", b"")),
        }
    };
    Some(match origin.iter().position(|&byte| byte == b'?') {
        Some(question) => (&origin[..question], &origin[question + 1..]),
        None => (origin, b""),
    })
}

fn starts_with_ignore_case(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes.len() >= prefix.len() && bytes[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// How the connection goes on after this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    /// The client wants to send another request on this connection.
    pub keep_alive: bool,
    /// A body follows the head (Content-Length > 0 or Transfer-Encoding). We never read bodies,
    /// so the connection is closed after the answer.
    pub has_body: bool,
}

/// Keep-alive and body presence from the header fields; malformed framing is refused.
pub fn framing(minor: u8, headers: &[httparse::Header<'_>]) -> Result<Framing, Reject> {
    let mut close = false;
    let mut keep_alive = false;
    let mut content_length: Option<u64> = None;
    let mut transfer_encoding = false;
    let mut hosts = 0;
    for header in headers {
        let name = header.name;
        if name.eq_ignore_ascii_case("connection") {
            for option in header.value.split(|&byte| byte == b',') {
                let option = option.trim_ascii();
                close |= option.eq_ignore_ascii_case(b"close");
                keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            // Repeated fields (or one field "5, 5") must agree (RFC 9112 §6.3).
            for value in header.value.split(|&byte| byte == b',') {
                let length = parse_decimal(value.trim_ascii()).ok_or(Reject::BadContentLength)?;
                if content_length.is_some_and(|seen| seen != length) {
                    return Err(Reject::BadContentLength);
                }
                content_length = Some(length);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
        } else if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        }
    }
    if minor == 1 && hosts != 1 {
        return Err(Reject::BadHost);
    }
    Ok(Framing {
        keep_alive: if minor == 1 {
            !close
        } else {
            keep_alive && !close
        },
        has_body: transfer_encoding || content_length.is_some_and(|length| length > 0),
    })
}

/// 1 to 19 decimal digits (anything longer would not fit and is no honest length).
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u64, |value, &digit| value * 10 + u64::from(digit - b'0')),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(bytes: &[u8]) -> Scan {
        Scanner::default().scan(bytes)
    }

    /// Feed `bytes` one at a time, as a trickling client would.
    fn scan_trickled(bytes: &[u8]) -> Scan {
        let mut scanner = Scanner::default();
        for end in 1..bytes.len() {
            match scanner.scan(&bytes[..end]) {
                Scan::NeedMore => {}
                other => return other,
            }
        }
        scanner.scan(bytes)
    }

    #[test]
    fn the_head_ends_at_the_first_empty_line_however_the_bytes_arrive() {
        let request = b"GET /api/summary HTTP/1.1\r\nHost: nas\r\n\r\nGET /next";
        let expected = Scan::Complete {
            len: 40,
            line_end: 26,
        };
        assert_eq!(scan_all(request), expected);
        assert_eq!(scan_trickled(request), expected);
        let bare_lf = b"GET / HTTP/1.0\n\n";
        assert_eq!(
            scan_trickled(bare_lf),
            Scan::Complete {
                len: 16,
                line_end: 14
            }
        );
        assert_eq!(scan_all(b"GET / HTTP/1.1\r\nHost: a\r\n"), Scan::NeedMore);
    }

    #[test]
    fn header_bytes_are_limited_exactly() {
        let line = b"GET / HTTP/1.1\r\n";
        let field = |total: usize| {
            // One field line of `total` bytes including its CR LF.
            let mut bytes = b"X-Fill: ".to_vec();
            bytes.resize(total - 2, b'a');
            bytes.extend_from_slice(b"\r\n");
            bytes
        };
        let head = |fields: &[u8]| [&line[..], fields, b"\r\n"].concat();
        assert!(matches!(
            scan_all(&head(&field(MAX_HEADER_BYTES))),
            Scan::Complete { .. }
        ));
        assert_eq!(
            scan_all(&head(&field(MAX_HEADER_BYTES + 1))),
            Scan::Reject(Reject::HeadersTooLarge)
        );
        // Without an end in sight, the refusal comes as soon as the limit is crossed.
        let endless = [&line[..], &vec![b'a'; MAX_HEADER_BYTES + 3]].concat();
        assert_eq!(scan_all(&endless), Scan::Reject(Reject::HeadersTooLarge));
    }

    #[test]
    fn a_long_request_line_or_a_non_http_start_is_refused_early() {
        let long = [&b"GET /"[..], &vec![b'a'; MAX_REQUEST_LINE_BYTES + 2]].concat();
        assert_eq!(scan_all(&long), Scan::Reject(Reject::RequestLineTooLong));
        // A TLS ClientHello starts with 0x16 0x03.
        assert_eq!(
            scan_all(b"\x16\x03\x01\x02\x00"),
            Scan::Reject(Reject::BadRequestLine)
        );
        assert_eq!(scan_all(b"GE"), Scan::NeedMore);
    }

    fn parsed(bytes: &[u8]) -> Result<(String, Vec<u8>, u8, usize), Reject> {
        let Scan::Complete { len, line_end } = scan_all(bytes) else {
            panic!("incomplete: {:?}", String::from_utf8_lossy(bytes));
        };
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let head = parse(&bytes[..len], line_end, &mut slots)?;
        Ok((
            head.method.to_string(),
            head.target.to_vec(),
            head.minor,
            head.headers.len(),
        ))
    }

    #[test]
    fn request_lines_parse_strictly_but_targets_stay_bytes() {
        assert_eq!(
            parsed(b"GET /a%20b?x=\xff\xfe HTTP/1.1\r\nHost: h\r\n\r\n"),
            Ok(("GET".into(), b"/a%20b?x=\xff\xfe".to_vec(), 1, 1))
        );
        assert_eq!(
            parsed(b"HEAD / HTTP/1.0\r\n\r\n"),
            Ok(("HEAD".into(), b"/".to_vec(), 0, 0))
        );
        for bad in [
            &b"GET  / HTTP/1.1\r\n\r\n"[..],
            b"GET / HTTP/1.1 \r\n\r\n",
            b"GET /\r\n\r\n",
            b"GET / FTP/1.1\r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"GET /a\x01b HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nNo colon\r\n\r\n",
            b"GET / HTTP/1.1\r\n: empty name\r\n\r\n",
        ] {
            assert!(
                matches!(parsed(bad), Err(Reject::BadRequestLine | Reject::BadHeader)),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            parsed(b"GET / HTTP/2.0\r\n\r\n"),
            Err(Reject::VersionNotSupported)
        );
        let many: Vec<u8> = [
            &b"GET / HTTP/1.1\r\n"[..],
            &b"X: y\r\n".repeat(MAX_HEADERS + 1),
            b"\r\n",
        ]
        .concat();
        assert_eq!(parsed(&many), Err(Reject::HeadersTooLarge));
    }

    #[test]
    fn targets_split_into_path_and_query() {
        let split = |target: &[u8]| split_target(target).map(|(p, q)| (p.to_vec(), q.to_vec()));
        let pair = |p: &[u8], q: &[u8]| Some((p.to_vec(), q.to_vec()));
        assert_eq!(
            split(b"/api/query?start=1&end=2"),
            pair(b"/api/query", b"start=1&end=2")
        );
        assert_eq!(split(b"/"), pair(b"/", b""));
        assert_eq!(split(b"/a?"), pair(b"/a", b""));
        assert_eq!(split(b"/a?b?c"), pair(b"/a", b"b?c"));
        assert_eq!(
            split(b"http://nas:8080/api/summary?x"),
            pair(b"/api/summary", b"x")
        );
        assert_eq!(split(b"HTTPS://nas"), pair(b"/", b""));
        assert_eq!(split(b"http://nas?q=1"), pair(b"/", b"q=1"));
        assert_eq!(split(b"*"), None);
        assert_eq!(split(b"nas:443"), None);
    }

    fn framing_of(minor: u8, fields: &[(&str, &[u8])]) -> Result<Framing, Reject> {
        let headers: Vec<httparse::Header<'_>> = fields
            .iter()
            .map(|&(name, value)| httparse::Header { name, value })
            .collect();
        framing(minor, &headers)
    }

    #[test]
    fn keep_alive_and_bodies_follow_rfc_9112() {
        let host: (&str, &[u8]) = ("Host", b"nas");
        let keep = |keep_alive, has_body| {
            Ok(Framing {
                keep_alive,
                has_body,
            })
        };
        assert_eq!(framing_of(1, &[host]), keep(true, false));
        assert_eq!(
            framing_of(1, &[host, ("Connection", b"Close")]),
            keep(false, false)
        );
        assert_eq!(framing_of(0, &[]), keep(false, false));
        assert_eq!(
            framing_of(0, &[("connection", b"keep-alive")]),
            keep(true, false)
        );
        assert_eq!(
            framing_of(1, &[host, ("Connection", b"keep-alive, Upgrade")]),
            keep(true, false)
        );
        assert_eq!(
            framing_of(1, &[host, ("Content-Length", b"0")]),
            keep(true, false)
        );
        assert_eq!(
            framing_of(1, &[host, ("Content-Length", b"12")]),
            keep(true, true)
        );
        assert_eq!(
            framing_of(1, &[host, ("Content-Length", b"5, 5")]),
            keep(true, true)
        );
        assert_eq!(
            framing_of(1, &[host, ("Transfer-Encoding", b"chunked")]),
            keep(true, true)
        );
        for bad in [
            &b"-1"[..],
            b"abc",
            b"",
            b"1 2",
            b"5, 6",
            b"99999999999999999999999",
            b"+5",
        ] {
            assert_eq!(
                framing_of(1, &[host, ("Content-Length", bad)]),
                Err(Reject::BadContentLength),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            framing_of(
                1,
                &[host, ("Content-Length", b"1"), ("Content-Length", b"2")]
            ),
            Err(Reject::BadContentLength)
        );
        assert_eq!(framing_of(1, &[]), Err(Reject::BadHost));
        assert_eq!(framing_of(1, &[host, host]), Err(Reject::BadHost));
    }
}
