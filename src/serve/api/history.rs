//! Series over local dates: `/api/query`, the three fixed `/api/history/*` series, and
//! `/api/date_range`.
//!
//! Every series is zero-filled — one row per hour, day or month of the range, with or without
//! traffic — where the original filled only days. Rows carry `hour_ts` ("YYYY-MM-DD HH:00:00"),
//! `day` ("YYYY-MM-DD") or `month` ("YYYY-MM") as recorded. When clocks fall back, the repeated
//! local hour appears twice with the same `hour_ts`, each with its own bytes.

use jiff::Span;
use jiff::civil::Date;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::json::{self, DateText, Totals};
use super::params::{self, Params};
use super::{Api, ApiError};
use crate::count::UpDown;
use crate::serve::Response;
use crate::store::{Granularity, Point};

/// Bytes of JSON per row, to size the buffer once.
const ROW_BYTES: usize = 96;

/// Rows of a series, keyed as the original keyed them.
struct Rows<'a> {
    points: &'a [Point],
    granularity: Granularity,
    /// The original's `/api/history/today_hours` rows have no `total_bytes`.
    with_total: bool,
}

/// A label "YYYY-MM-DD HH:00" written as the original's `hour_ts`, "YYYY-MM-DD HH:00:00".
struct HourTs<'a>(&'a str);

impl std::fmt::Display for HourTs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:00", self.0)
    }
}

impl Serialize for HourTs<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.points.len()))?;
        for point in self.points {
            seq.serialize_element(&Row {
                point,
                granularity: self.granularity,
                with_total: self.with_total,
            })?;
        }
        seq.end()
    }
}

struct Row<'a> {
    point: &'a Point,
    granularity: Granularity,
    with_total: bool,
}

impl Serialize for Row<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes = self.point.bytes;
        let label = self.point.label.as_str();
        let mut map = serializer.serialize_map(Some(3 + usize::from(self.with_total)))?;
        // Alphabetical, as the original's answers: day < down_bytes < hour_ts < month < total < up.
        if self.granularity == Granularity::Day {
            map.serialize_entry("day", label)?;
        }
        map.serialize_entry("down_bytes", &bytes.down)?;
        match self.granularity {
            Granularity::Hour => map.serialize_entry("hour_ts", &HourTs(label))?,
            Granularity::Month => map.serialize_entry("month", label)?,
            Granularity::Day => {}
        }
        if self.with_total {
            map.serialize_entry("total_bytes", &bytes.up.saturating_add(bytes.down))?;
        }
        map.serialize_entry("up_bytes", &bytes.up)?;
        map.end()
    }
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
/// # Errors
/// 400 for missing or bad dates, end before start, an unknown granularity, more than
/// [`params::MAX_POINTS`] points or an unknown interface.
pub fn query(api: &Api, params: &Params<'_>) -> Result<Response, ApiError> {
    let (start, end) = params::required_range(params)?;
    let granularity = params.granularity()?;
    params::bounded(start, end, granularity)?;
    let scope = params.scope(api.interfaces())?;
    let points = api.read()?.series(&scope, start, end, granularity)?;
    #[derive(Serialize)]
    struct Answer<'a> {
        series: Rows<'a>,
        summary: Totals,
    }
    let answer = Answer {
        summary: Totals::of(sum(&points)),
        series: Rows {
            points: &points,
            granularity,
            with_total: true,
        },
    };
    Ok(json::respond(200, &answer, 256 + points.len() * ROW_BYTES))
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
    let scope = params.scope(api.interfaces())?;
    let points = api.read()?.series(&scope, start, end, granularity)?;
    struct Answer<'a> {
        key: &'static str,
        rows: Rows<'a>,
    }
    impl Serialize for Answer<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_entry(self.key, &self.rows)?;
            map.end()
        }
    }
    let answer = Answer {
        key,
        rows: Rows {
            points: &points,
            granularity,
            with_total,
        },
    };
    Ok(json::respond(200, &answer, 32 + points.len() * ROW_BYTES))
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
///
/// # Errors
/// 400 for an unknown interface.
pub fn date_range(api: &Api, params: &Params<'_>) -> Result<Response, ApiError> {
    let scope = params.scope(api.interfaces())?;
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
