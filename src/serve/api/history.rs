//! Series over local dates: `/api/query`, the three fixed `/api/history/*` series, and
//! `/api/date_range`.
//!
//! Every series is zero-filled — one row per hour, day or month of the range, with or without
//! traffic — where the original filled only days. Rows carry `hour_ts` ("YYYY-MM-DD HH:00:00"),
//! `day` ("YYYY-MM-DD") or `month` ("YYYY-MM") as recorded. When clocks fall back, the repeated
//! local hour appears twice with the same `hour_ts`, each with its own bytes.

use jiff::Span;
use jiff::civil::Date;
use serde::Serialize;

use super::json::{self, DateText, Totals};
use super::params::{self, Params};
use super::{Api, ApiError};
use crate::count::UpDown;
use crate::serve::mapped::{MAPPED_FROM_BYTES, MappedBytes};
use crate::serve::{Body, Response};
use crate::store::{Granularity, Point};

/// Bytes of JSON per row, to size the buffer once.
const ROW_BYTES: usize = 96;

/// How the rows of a series are keyed, as the original keyed them.
#[derive(Clone, Copy)]
struct Shape {
    granularity: Granularity,
    /// The original's `/api/history/today_hours` rows have no `total_bytes`.
    with_total: bool,
}

/// Append the rows of a series as a JSON array.
///
/// Written by hand rather than through serde: a year of days is 365 objects of four fields, and
/// serde's per-entry key escaping and formatting cost more than the query itself. Keys are
/// alphabetical, as in the original's answers: day < down_bytes < hour_ts < month < total < up.
fn write_rows(out: &mut impl Out, points: &[Point], shape: Shape) {
    out.push(b'[');
    for (i, point) in points.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let bytes = point.bytes;
        out.push(b'{');
        if shape.granularity == Granularity::Day {
            out.extend_from_slice(b"\"day\":");
            write_label(out, &point.label, "");
            out.push(b',');
        }
        out.extend_from_slice(b"\"down_bytes\":");
        write_u64(out, bytes.down);
        match shape.granularity {
            Granularity::Hour => {
                out.extend_from_slice(b",\"hour_ts\":");
                write_label(out, &point.label, ":00");
            }
            Granularity::Month => {
                out.extend_from_slice(b",\"month\":");
                write_label(out, &point.label, "");
            }
            Granularity::Day => {}
        }
        if shape.with_total {
            out.extend_from_slice(b",\"total_bytes\":");
            write_u64(out, bytes.up.saturating_add(bytes.down));
        }
        out.extend_from_slice(b",\"up_bytes\":");
        write_u64(out, bytes.up);
        out.push(b'}');
    }
    out.push(b']');
}

/// A label (plus `suffix`) as a JSON string. Labels are dates and times made by the store, which
/// need no escaping; anything else goes through serde_json's escaping all the same.
fn write_label(out: &mut impl Out, label: &str, suffix: &str) {
    let plain = |text: &str| {
        text.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b':' | b' ' | b'+'))
    };
    if plain(label) && plain(suffix) {
        out.push(b'"');
        out.extend_from_slice(label.as_bytes());
        out.extend_from_slice(suffix.as_bytes());
        out.push(b'"');
    } else {
        // A failed write is remembered by the buffer and answered by `answer`.
        let _ = serde_json::to_writer(&mut *out, &format!("{label}{suffix}"));
    }
}

/// A number in decimal.
fn write_u64(out: &mut impl Out, value: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Where a series is written: a `Vec`, or a mapping for a large one. Bytes are appended without a
/// result per call (a `Vec` cannot fail); a mapping that cannot grow remembers it and `finish`
/// reports it.
trait Out: std::io::Write {
    fn push(&mut self, byte: u8) {
        self.extend_from_slice(&[byte]);
    }
    fn extend_from_slice(&mut self, bytes: &[u8]);
}

impl Out for Vec<u8> {
    fn push(&mut self, byte: u8) {
        Vec::push(self, byte);
    }
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        Vec::extend_from_slice(self, bytes);
    }
}

/// A mapping with the first failure to grow it.
struct MappedOut {
    bytes: MappedBytes,
    failed: Option<std::io::Error>,
}

impl std::io::Write for MappedOut {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.bytes.write(bytes)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Out for MappedOut {
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        if self.failed.is_none()
            && let Err(error) = std::io::Write::write_all(&mut self.bytes, bytes)
        {
            self.failed = Some(error);
        }
    }
}

/// `{"<key>": [rows]}` or, with a summary, `{"series": [rows], "summary": {...}}`.
fn answer(key: &str, points: &[Point], shape: Shape, summary: Option<Totals>) -> Response {
    let capacity = 256 + points.len() * ROW_BYTES;
    if capacity < MAPPED_FROM_BYTES {
        let mut body = Vec::with_capacity(capacity);
        return match write_answer(&mut body, key, points, shape, summary) {
            Ok(()) => series_response(Body::Owned(body)),
            Err(error) => unwritten(&error),
        };
    }
    let mut out = match MappedBytes::with_capacity(capacity) {
        Ok(bytes) => MappedOut {
            bytes,
            failed: None,
        },
        Err(error) => return unwritten(&error),
    };
    match write_answer(&mut out, key, points, shape, summary) {
        Ok(()) => match out.failed {
            None => series_response(Body::Mapped(std::sync::Arc::new(out.bytes))),
            Some(error) => unwritten(&error),
        },
        Err(error) => unwritten(&error),
    }
}

fn write_answer(
    body: &mut impl Out,
    key: &str,
    points: &[Point],
    shape: Shape,
    summary: Option<Totals>,
) -> Result<(), serde_json::Error> {
    body.extend_from_slice(b"{\"");
    body.extend_from_slice(key.as_bytes());
    body.extend_from_slice(b"\":");
    write_rows(body, points, shape);
    if let Some(summary) = summary {
        body.extend_from_slice(b",\"summary\":");
        serde_json::to_writer(&mut *body, &summary)?;
    }
    body.push(b'}');
    Ok(())
}

fn series_response(body: Body) -> Response {
    Response {
        status: 200,
        content_type: json::CONTENT_TYPE,
        body,
        headers: Vec::new(),
    }
}

fn unwritten(error: &dyn std::fmt::Display) -> Response {
    json::error_response(500, &format!("the answer could not be written: {error}"))
}

fn sum(points: &[Point]) -> UpDown {
    points.iter().fold(UpDown::default(), |mut total, point| {
        total.up = total.up.saturating_add(point.bytes.up);
        total.down = total.down.saturating_add(point.bytes.down);
        total
    })
}

/// `/api/query?start=&end=&granularity=`: `{"series": [...], "summary": {...}}`.
///
/// With `device` (a local address): that device's bytes by day or month, from the devices kept
/// per day (`DEVICES_PER_DAY`); hours are not kept per device.
///
/// # Errors
/// 400 for missing or bad dates, end before start, an unknown granularity, more than
/// [`params::MAX_POINTS`] points, an unknown interface, a device that is not an IP address, or
/// `granularity=hour` with a device.
pub fn query(api: &Api, params: &Params<'_>) -> Result<Response, ApiError> {
    let (start, end) = params::required_range(params)?;
    let granularity = params.granularity()?;
    params::bounded(start, end, granularity)?;
    let scope = params.scope(&api.known_interfaces())?;
    let points = match params.device()? {
        Some(_) if granularity == Granularity::Hour => {
            return Err(ApiError::BadRequest(params::ParamError(
                "granularity=hour cannot be used with device: hourly traffic is not kept per device; use day or month".into(),
            )));
        }
        Some(device) => {
            api.read_with_devices()?
                .device_series(&scope, device, start, end, granularity)?
        }
        None => api.read()?.series(&scope, start, end, granularity)?,
    };
    let shape = Shape {
        granularity,
        with_total: true,
    };
    Ok(answer(
        "series",
        &points,
        shape,
        Some(Totals::of(sum(&points))),
    ))
}

/// A fixed series ending in the current period, as `{key: [...]}`.
fn fixed(
    api: &Api,
    params: &Params<'_>,
    key: &'static str,
    start: Date,
    end: Date,
    granularity: Granularity,
    with_total: bool,
) -> Result<Response, ApiError> {
    let scope = params.scope(&api.known_interfaces())?;
    let points = api.read()?.series(&scope, start, end, granularity)?;
    let shape = Shape {
        granularity,
        with_total,
    };
    Ok(answer(key, &points, shape, None))
}

/// `/api/history/30days`: `{"days": [...]}`, the 30 local days ending today.
///
/// # Errors
/// 400 for an unknown interface.
pub fn last_30_days(api: &Api, params: &Params<'_>) -> Result<Response, ApiError> {
    let today = api.today();
    let first = today.checked_sub(Span::new().days(29)).unwrap_or(Date::MIN);
    fixed(api, params, "days", first, today, Granularity::Day, true)
}

/// `/api/history/12months`: `{"months": [...]}`, the 12 calendar months ending with this one.
///
/// # Errors
/// 400 for an unknown interface.
pub fn last_12_months(api: &Api, params: &Params<'_>) -> Result<Response, ApiError> {
    let today = api.today();
    let first = today
        .first_of_month()
        .checked_sub(Span::new().months(11))
        .unwrap_or(Date::MIN);
    let last = today.last_of_month();
    fixed(api, params, "months", first, last, Granularity::Month, true)
}

/// `/api/history/today_hours`: `{"hours": [...]}`, every hour of today (24, or 23/25 on the day
/// of a DST change), future ones zero.
///
/// # Errors
/// 400 for an unknown interface.
pub fn today_hours(api: &Api, params: &Params<'_>) -> Result<Response, ApiError> {
    let today = api.today();
    fixed(api, params, "hours", today, today, Granularity::Hour, false)
}

/// `/api/date_range`: `{"max": "YYYY-MM-DD", "min": "YYYY-MM-DD"}`, the first and last local day
/// with traffic, stored or live; both today when there is none yet (as the original answered).
/// Never a day `/api/query` refuses (see [`crate::store::ReadView::data_range`]).
///
/// # Errors
/// 400 for an unknown interface.
pub fn date_range(api: &Api, params: &Params<'_>) -> Result<Response, ApiError> {
    let scope = params.scope(&api.known_interfaces())?;
    let (min, max) = match api.read()?.data_range(&scope)? {
        Some(range) => range,
        None => {
            let today = api.today();
            (today, today)
        }
    };
    #[derive(Serialize)]
    struct Answer {
        max: DateText,
        min: DateText,
    }
    let answer = Answer {
        max: DateText(max),
        min: DateText(min),
    };
    Ok(json::respond(200, &answer, 48))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn point(label: &str, up: u64, down: u64) -> Point {
        Point {
            label: label.into(),
            start: 0,
            bytes: UpDown { up, down },
        }
    }

    /// The hand-written JSON equals what serde_json writes for the same rows (its maps are
    /// sorted, as the original's keys were), byte for byte.
    #[test]
    fn rows_are_what_serde_would_write() {
        let cases = [
            (
                Granularity::Day,
                true,
                vec![
                    point("2026-11-28", 171_014, 3_053_708),
                    point("2026-11-29", 0, 0),
                ],
                json!([
                    {"day": "2026-11-28", "up_bytes": 171_014, "down_bytes": 3_053_708, "total_bytes": 3_224_722},
                    {"day": "2026-11-29", "up_bytes": 0, "down_bytes": 0, "total_bytes": 0},
                ]),
            ),
            (
                Granularity::Hour,
                true,
                vec![point("2026-11-28 14:00", u64::MAX, 1)],
                json!([{"hour_ts": "2026-11-28 14:00:00", "up_bytes": u64::MAX, "down_bytes": 1, "total_bytes": u64::MAX}]),
            ),
            (
                Granularity::Hour,
                false,
                vec![point("2026-11-28 00:00", 1, 2)],
                json!([{"hour_ts": "2026-11-28 00:00:00", "up_bytes": 1, "down_bytes": 2}]),
            ),
            (
                Granularity::Month,
                true,
                vec![point("2026-11", 10, 9_999_999_999)],
                json!([{"month": "2026-11", "up_bytes": 10, "down_bytes": 9_999_999_999u64, "total_bytes": 10_000_000_009u64}]),
            ),
            (Granularity::Day, true, vec![], json!([])),
            // A label that would need escaping is escaped.
            (
                Granularity::Month,
                true,
                vec![point("x\"y", 0, 0)],
                json!([{"month": "x\"y", "up_bytes": 0, "down_bytes": 0, "total_bytes": 0}]),
            ),
        ];
        for (granularity, with_total, points, expected) in cases {
            let mut out = Vec::new();
            write_rows(
                &mut out,
                &points,
                Shape {
                    granularity,
                    with_total,
                },
            );
            let written = String::from_utf8(out).unwrap();
            assert_eq!(written, serde_json::to_string(&expected).unwrap());
        }
    }

    #[test]
    fn the_query_answer_matches_the_recording() {
        // shared/seed/api-responses/after_replay/query_day.json, byte for byte.
        let points = [point("2026-11-28", 171_014, 3_053_708)];
        let response = answer(
            "series",
            &points,
            Shape {
                granularity: Granularity::Day,
                with_total: true,
            },
            Some(Totals::of(sum(&points))),
        );
        assert_eq!(
            std::str::from_utf8(response.body.as_bytes()).unwrap(),
            r#"{"series":[{"day":"2026-11-28","down_bytes":3053708,"total_bytes":3224722,"up_bytes":171014}],"summary":{"down_bytes":3053708,"down_fmt":"2.91 MB","total_bytes":3224722,"total_fmt":"3.08 MB","up_bytes":171014,"up_fmt":"167.01 KB"}}"#
        );
        let value: Value = serde_json::from_slice(response.body.as_bytes()).unwrap();
        assert_eq!(value["series"][0]["day"], "2026-11-28");
    }
}
