//! JSON answers: the shapes shared by several endpoints, written with serde straight into the
//! response buffer.
//!
//! Keys are declared in alphabetical order because the original (Flask) sorted them, so a
//! recorded answer and ours match byte for byte where the values do.

use serde::{Serialize, Serializer};

use crate::count::UpDown;
use crate::serve::{Body, Response};
use crate::units::ByteSize;

pub const CONTENT_TYPE: &str = "application/json";

/// A byte count as the original's `*_fmt` string ("1.00 GB"), written without a `String`.
#[derive(Clone, Copy, Debug)]
pub struct Formatted(pub u64);

impl Serialize for Formatted {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&ByteSize(self.0))
    }
}

/// A local date written "YYYY-MM-DD".
#[derive(Clone, Copy, Debug)]
pub struct DateText(pub jiff::civil::Date);

impl Serialize for DateText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// `{"down_bytes", "down_fmt", "total_bytes", "total_fmt", "up_bytes", "up_fmt"}`.
#[derive(Serialize)]
pub struct Totals {
    pub down_bytes: u64,
    pub down_fmt: Formatted,
    pub total_bytes: u64,
    pub total_fmt: Formatted,
    pub up_bytes: u64,
    pub up_fmt: Formatted,
}

impl Totals {
    pub fn of(bytes: UpDown) -> Totals {
        let total = bytes.up.saturating_add(bytes.down);
        Totals {
            down_bytes: bytes.down,
            down_fmt: Formatted(bytes.down),
            total_bytes: total,
            total_fmt: Formatted(total),
            up_bytes: bytes.up,
            up_fmt: Formatted(bytes.up),
        }
    }
}

/// `value` as a JSON response with `status`; `capacity` is a guess of the size, to allocate once.
pub fn respond<T: Serialize + ?Sized>(status: u16, value: &T, capacity: usize) -> Response {
    let mut body = Vec::with_capacity(capacity);
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => Response {
            status,
            content_type: CONTENT_TYPE,
            body: Body::Owned(body),
            headers: Vec::new(),
        },
        // Only a broken Serialize impl fails on a Vec; answer, never panic.
        Err(error) => error_response(500, &format!("the answer could not be written: {error}")),
    }
}

/// `{"error": message}` with `status`.
pub fn error_response(status: u16, message: &str) -> Response {
    #[derive(Serialize)]
    struct Error<'a> {
        error: &'a str,
    }
    let mut body = Vec::with_capacity(message.len() + 16);
    // A &str always serialises; the fallback keeps the contract should that ever change.
    if serde_json::to_writer(&mut body, &Error { error: message }).is_err() {
        body = br#"{"error":"internal error"}"#.to_vec();
    }
    Response {
        status,
        content_type: CONTENT_TYPE,
        body: Body::Owned(body),
        headers: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_match_the_originals_recorded_block() {
        // shared/seed/api-responses/after_replay/summary.json, the "today" block.
        let response = respond(
            200,
            &Totals::of(UpDown {
                up: 171_014,
                down: 3_053_708,
            }),
            256,
        );
        assert_eq!(
            std::str::from_utf8(response.body.as_bytes()).unwrap(),
            r#"{"down_bytes":3053708,"down_fmt":"2.91 MB","total_bytes":3224722,"total_fmt":"3.08 MB","up_bytes":171014,"up_fmt":"167.01 KB"}"#
        );
        assert_eq!(response.content_type, "application/json");
    }

    #[test]
    fn errors_are_escaped_json() {
        let response = error_response(400, "start \"x\\\" is bad\n");
        assert_eq!(response.status, 400);
        let value: serde_json::Value = serde_json::from_slice(response.body.as_bytes()).unwrap();
        assert_eq!(value["error"], "start \"x\\\" is bad\n");
    }
}
