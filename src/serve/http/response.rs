//! response: the bytes of an answer — status line, Content-Type, Content-Length (or chunked
//! framing for a streamed body), the handler's extra fields, the [`SECURITY_FIELDS`],
//! Connection — appended to the connection's output buffer.

use std::io::Write;

use crate::serve::{Body, Response};

/// Bodies up to this size are copied behind their head and leave in one write; larger ones are
/// written straight from the handler's buffer after the head.
pub const COPY_BODY_BYTES: usize = 16 * 1024;

/// Fields only this layer sets; a handler's copy of them would corrupt the framing (or, for the
/// security fields, be sent twice).
const FRAMING_FIELDS: [&str; 7] = [
    "content-length",
    "connection",
    "transfer-encoding",
    "content-type",
    "x-content-type-options",
    "content-security-policy",
    "referrer-policy",
];

/// Sent with every answer, so no file or error body is taken for something else.
///
/// The dashboard loads only its own files (`'self'`) and has no inline script, inline event
/// handler or `style` attribute in its HTML (the page's code sets styles through the DOM, which
/// the policy allows; the chart tooltips use classes). No page may frame the dashboard
/// (clickjacking); one that must can have a reverse proxy replace this field.
/// `tests/dashboard.rs` runs the page under exactly this policy and fails on any violation.
pub const SECURITY_FIELDS: [(&str, &str); 3] = [
    ("X-Content-Type-Options", "nosniff"),
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("Referrer-Policy", "no-referrer"),
];

/// Append `response` to `out`. Returns the body when it is too large to copy: the caller writes
/// it after flushing `out`.
pub fn append(
    out: &mut Vec<u8>,
    response: Response,
    head_only: bool,
    keep_alive: bool,
) -> Option<Body> {
    let bodiless = matches!(response.status, 100..=199 | 204 | 304);
    status_line(out, response.status);
    field(out, "Content-Type", response.content_type.as_bytes());
    if !bodiless {
        // Through `write!` into a Vec, which cannot fail.
        let _ = write!(
            out,
            "Content-Length: {}\r\n",
            response.body.as_bytes().len()
        );
    }
    fields(out, &response, keep_alive);
    if head_only || bodiless {
        return None;
    }
    if response.body.as_bytes().len() <= COPY_BODY_BYTES {
        out.extend_from_slice(response.body.as_bytes());
        None
    } else {
        Some(response.body)
    }
}

/// Append the head of an answer whose body is [`Body::Streamed`]: no length; `chunked` says
/// whether its pieces are sent as chunks (HTTP/1.1), else the connection's end ends the body
/// (HTTP/1.0, `keep_alive` must then be false).
pub fn append_streamed_head(
    out: &mut Vec<u8>,
    response: &Response,
    chunked: bool,
    keep_alive: bool,
) {
    status_line(out, response.status);
    field(out, "Content-Type", response.content_type.as_bytes());
    if chunked {
        field(out, "Transfer-Encoding", b"chunked");
    }
    fields(out, response, keep_alive);
}

/// Append one chunk of a chunked body (RFC 9112 §7.1); `piece` must not be empty, which would
/// end the body.
pub fn append_chunk(out: &mut Vec<u8>, piece: &[u8]) {
    let _ = write!(out, "{:x}\r\n", piece.len());
    out.extend_from_slice(piece);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk of a chunked body, without trailer fields.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// The handler's extra fields that are allowed, the [`SECURITY_FIELDS`], `Connection` and the
/// blank line that ends the head.
fn fields(out: &mut Vec<u8>, response: &Response, keep_alive: bool) {
    for (name, value) in &response.headers {
        if is_token(name) && !is_framing(name) && is_field_value(value.as_bytes()) {
            field(out, name, value.as_bytes());
        } else {
            log::debug!("dropped the handler's header field {name:?}: not allowed or malformed");
        }
    }
    for (name, value) in SECURITY_FIELDS {
        field(out, name, value.as_bytes());
    }
    connection(out, keep_alive);
}

/// Append a JSON error answer `{"error": message}` with optional extra fields.
pub fn append_error(
    out: &mut Vec<u8>,
    status: u16,
    message: &str,
    extra: &[(&'static str, &str)],
    head_only: bool,
    keep_alive: bool,
) {
    let body = serde_json::json!({ "error": message }).to_string();
    let response = Response {
        status,
        content_type: "application/json",
        body: Body::Owned(body.into_bytes()),
        headers: extra
            .iter()
            .map(|(name, value)| (*name, (*value).to_string()))
            .collect(),
    };
    // Error bodies are short: always copied.
    let _ = append(out, response, head_only, keep_alive);
}

fn status_line(out: &mut Vec<u8>, status: u16) {
    let _ = write!(out, "HTTP/1.1 {status} {}\r\n", reason(status));
}

fn field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn connection(out: &mut Vec<u8>, keep_alive: bool) {
    out.extend_from_slice(if keep_alive {
        b"Connection: keep-alive\r\n\r\n"
    } else {
        b"Connection: close\r\n\r\n"
    });
}

fn is_framing(name: &str) -> bool {
    FRAMING_FIELDS
        .iter()
        .any(|framing| framing.eq_ignore_ascii_case(name))
}

fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte))
}

/// No CR, LF or other control byte (tab allowed): nothing that could start a new field.
fn is_field_value(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&byte| byte == b'\t' || (byte >= b' ' && byte != 0x7f))
}

/// The reason phrase of the statuses this program sends (others get an empty one, which
/// HTTP/1.1 allows).
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        414 => "URI Too Long",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What every answer carries, as a browser must see it (the policy is spelled out here, not
    /// taken from the code).
    const SECURITY: &str = "X-Content-Type-Options: nosniff\r\nContent-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'\r\nReferrer-Policy: no-referrer\r\n";

    fn text(out: &[u8]) -> &str {
        std::str::from_utf8(out).expect("ASCII")
    }

    #[test]
    fn a_small_answer_is_one_buffer_with_every_framing_field() {
        let mut out = Vec::new();
        let response = Response {
            status: 200,
            content_type: "application/json",
            body: Body::Static(b"{}"),
            headers: vec![("Cache-Control", "no-store".to_string())],
        };
        assert!(append(&mut out, response, false, true).is_none());
        assert_eq!(
            text(&out),
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nCache-Control: no-store\r\n{SECURITY}Connection: keep-alive\r\n\r\n{{}}"
            )
        );
    }

    #[test]
    fn head_keeps_the_length_and_drops_the_body() {
        let mut out = Vec::new();
        let response = Response {
            status: 404,
            content_type: "text/plain",
            body: Body::Owned(b"missing".to_vec()),
            headers: Vec::new(),
        };
        assert!(append(&mut out, response, true, false).is_none());
        assert_eq!(
            text(&out),
            format!(
                "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n{SECURITY}Connection: close\r\n\r\n"
            )
        );
    }

    #[test]
    fn a_large_body_is_handed_back_and_not_copied() {
        let mut out = Vec::new();
        let response = Response {
            status: 200,
            content_type: "application/json",
            body: Body::Owned(vec![b'x'; COPY_BODY_BYTES + 1]),
            headers: Vec::new(),
        };
        let body = append(&mut out, response, false, true).expect("handed back");
        assert_eq!(body.as_bytes().len(), COPY_BODY_BYTES + 1);
        assert!(text(&out).ends_with("Connection: keep-alive\r\n\r\n"));
    }

    #[test]
    fn handler_fields_cannot_break_the_framing() {
        let mut out = Vec::new();
        let response = Response {
            status: 304,
            content_type: "text/html",
            body: Body::Static(b"ignored"),
            headers: vec![
                ("ETag", "\"abc\"".to_string()),
                ("Content-Length", "99".to_string()),
                ("Connection", "upgrade".to_string()),
                ("X-Injected", "a\r\nSet-Cookie: x=1".to_string()),
                ("Bad Name", "v".to_string()),
            ],
        };
        assert!(append(&mut out, response, false, true).is_none());
        assert_eq!(
            text(&out),
            format!(
                "HTTP/1.1 304 Not Modified\r\nContent-Type: text/html\r\nETag: \"abc\"\r\n{SECURITY}Connection: keep-alive\r\n\r\n"
            )
        );
    }

    #[test]
    fn a_streamed_head_has_no_length_and_chunks_are_framed() {
        let response = Response {
            status: 200,
            content_type: "text/csv",
            body: Body::Static(b""),
            headers: vec![("Content-Disposition", "attachment".to_string())],
        };
        let mut out = Vec::new();
        append_streamed_head(&mut out, &response, true, true);
        assert_eq!(
            text(&out),
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\nContent-Disposition: attachment\r\n{SECURITY}Connection: keep-alive\r\n\r\n"
            )
        );
        let mut out = Vec::new();
        append_streamed_head(&mut out, &response, false, false);
        assert!(!text(&out).contains("Transfer-Encoding"));
        assert!(!text(&out).contains("Content-Length"));
        let mut out = Vec::new();
        append_chunk(&mut out, &[b'x'; 26]);
        out.extend_from_slice(LAST_CHUNK);
        assert_eq!(text(&out), format!("1a\r\n{}\r\n0\r\n\r\n", "x".repeat(26)));
    }

    #[test]
    fn errors_are_json_objects() {
        let mut out = Vec::new();
        append_error(
            &mut out,
            405,
            "method \"PUT\" is not allowed",
            &[("Allow", "GET, HEAD")],
            false,
            true,
        );
        let text = text(&out);
        let (head, body) = text.split_once("\r\n\r\n").expect("a head");
        assert!(
            head.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nAllow: GET, HEAD"), "{head}");
        let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(json["error"], "method \"PUT\" is not allowed");
    }
}
