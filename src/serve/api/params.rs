//! Query-string parameters: finding them, percent-decoding them, and turning them into dates,
//! granularities, limits and interface scopes, or into a 400 whose message names the parameter.
//!
//! Dates are strict `YYYY-MM-DD` (zero-padded, a real calendar day, years [`FIRST_YEAR`] to
//! [`LAST_YEAR`]): the original compared date strings as text, so "2026-9-1" silently matched
//! nothing there; here it is refused with a message that says what to send instead.

use std::borrow::Cow;
use std::fmt;

use jiff::civil::Date;

use crate::store::{Granularity, Scope};

/// The earliest year a date parameter may name: the first the history holds.
pub const FIRST_YEAR: i16 = crate::store::FIRST_YEAR;
/// The latest year a date parameter may name: the last the history holds.
pub const LAST_YEAR: i16 = crate::store::LAST_YEAR;
/// Most points one series may hold.
pub const MAX_POINTS: u64 = 100_000;
/// Most addresses `/api/top_ips` lists.
pub const MAX_LIMIT: usize = 1000;

/// Bad input, in words that name the parameter and say what would be accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamError(pub String);

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParamError {}

/// The raw query string of a request (`a=1&b=2`, not yet decoded).
#[derive(Clone, Copy, Debug)]
pub struct Params<'a> {
    raw: &'a [u8],
}

impl<'a> Params<'a> {
    pub fn new(raw: &'a [u8]) -> Params<'a> {
        Params { raw }
    }

    /// The decoded value of the first `name=` pair; `None` when absent. A name given without `=`
    /// has the empty value.
    ///
    /// # Errors
    /// When the value is not valid UTF-8 after percent-decoding.
    pub fn get(&self, name: &str) -> Result<Option<Cow<'a, str>>, ParamError> {
        for pair in self.raw.split(|byte| *byte == b'&') {
            let (key, value) = match pair.iter().position(|byte| *byte == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &pair[pair.len()..]),
            };
            if decode(key).as_deref() != Some(name.as_bytes()) {
                continue;
            }
            return match decode(value) {
                Some(Cow::Borrowed(bytes)) => std::str::from_utf8(bytes)
                    .map(|text| Some(Cow::Borrowed(text)))
                    .map_err(|_| not_utf8(name)),
                Some(Cow::Owned(bytes)) => String::from_utf8(bytes)
                    .map(|text| Some(Cow::Owned(text)))
                    .map_err(|_| not_utf8(name)),
                None => Err(ParamError(format!(
                    "{name} has a broken percent-escape: write '%' as %25"
                ))),
            };
        }
        Ok(None)
    }

    /// The value of `name`, treating an empty value as absent.
    ///
    /// # Errors
    /// As [`Params::get`].
    pub fn non_empty(&self, name: &str) -> Result<Option<Cow<'a, str>>, ParamError> {
        Ok(self.get(name)?.filter(|value| !value.is_empty()))
    }

    /// A date parameter, if given.
    ///
    /// # Errors
    /// When it is given but is not a date this API answers for.
    pub fn date(&self, name: &str) -> Result<Option<Date>, ParamError> {
        self.non_empty(name)?
            .map(|text| parse_date(name, &text))
            .transpose()
    }

    /// `granularity`: `hour`, `day` (the default) or `month`.
    ///
    /// # Errors
    /// For any other value.
    pub fn granularity(&self) -> Result<Granularity, ParamError> {
        match self.non_empty("granularity")?.as_deref() {
            None | Some("day") => Ok(Granularity::Day),
            Some("hour") => Ok(Granularity::Hour),
            Some("month") => Ok(Granularity::Month),
            Some(other) => Err(ParamError(format!(
                "granularity must be hour, day or month, not '{}'",
                shorten(other)
            ))),
        }
    }

    /// `limit`: how many entries to list, `default` when absent.
    ///
    /// # Errors
    /// When it is not a whole number from 1 to [`MAX_LIMIT`].
    pub fn limit(&self, default: usize) -> Result<usize, ParamError> {
        let Some(text) = self.non_empty("limit")? else {
            return Ok(default);
        };
        match text.parse::<usize>() {
            Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
            _ => Err(ParamError(format!(
                "limit must be a whole number from 1 to {MAX_LIMIT}, not '{}'",
                shorten(&text)
            ))),
        }
    }

    /// `device`: a local address (IPv4 or IPv6, as `/api/devices` lists them), if given.
    ///
    /// # Errors
    /// When it is given but is not an IP address.
    pub fn device(&self) -> Result<Option<std::net::IpAddr>, ParamError> {
        let Some(text) = self.non_empty("device")? else {
            return Ok(None);
        };
        text.parse().map(Some).map_err(|_| {
            ParamError(format!(
                "device must be an IP address as /api/devices lists it, such as 192.168.1.20 or fd00::30, not '{}'",
                shorten(&text)
            ))
        })
    }

    /// `iface`: one of `known` (the monitored interfaces and those the history holds); absent
    /// or empty means all of them together.
    ///
    /// # Errors
    /// When it names an interface that is neither monitored nor in the history.
    pub fn scope(&self, known: &[String]) -> Result<Scope, ParamError> {
        match self.non_empty("iface")? {
            None => Ok(Scope::All),
            Some(name) if known.iter().any(|m| *m == name) => {
                Ok(Scope::Interface(name.into_owned()))
            }
            Some(name) => Err(ParamError(format!(
                "iface '{}' is not a monitored interface and has no history (interfaces: {}); leave iface out for all of them together",
                shorten(&name),
                known.join(", ")
            ))),
        }
    }
}

fn not_utf8(name: &str) -> ParamError {
    ParamError(format!("{name} is not valid UTF-8 text"))
}

/// Percent-decode (and `+` → space) without allocating when there is nothing to decode.
/// `None` when a `%` is not followed by two hex digits.
fn decode(bytes: &[u8]) -> Option<Cow<'_, [u8]>> {
    if !bytes.iter().any(|byte| matches!(byte, b'%' | b'+')) {
        return Some(Cow::Borrowed(bytes));
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some((&first, tail)) = rest.split_first() {
        match first {
            b'%' => {
                let high = tail.first().and_then(|b| hex(*b))?;
                let low = tail.get(1).and_then(|b| hex(*b))?;
                out.push(high << 4 | low);
                rest = &tail[2..];
            }
            b'+' => {
                out.push(b' ');
                rest = tail;
            }
            other => {
                out.push(other);
                rest = tail;
            }
        }
    }
    Some(Cow::Owned(out))
}

fn hex(byte: u8) -> Option<u8> {
    char::from(byte).to_digit(16).map(|digit| digit as u8)
}

/// At most 40 characters of client input, for quoting it back.
fn shorten(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(40) {
        Some((at, _)) => Cow::Owned(format!("{}…", &text[..at])),
        None => Cow::Borrowed(text),
    }
}

/// A strict `YYYY-MM-DD` calendar date from [`FIRST_YEAR`] to [`LAST_YEAR`].
///
/// # Errors
/// A message naming `name`, quoting the value and saying what is expected.
pub fn parse_date(name: &str, text: &str) -> Result<Date, ParamError> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shaped {
        return Err(ParamError(format!(
            "{name} must be a date written YYYY-MM-DD with zero-padded month and day (e.g. 2024-09-05), not '{}'",
            shorten(text)
        )));
    }
    let number = |range: std::ops::Range<usize>| {
        bytes[range]
            .iter()
            .fold(0i16, |n, b| n * 10 + i16::from(b - b'0'))
    };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    if !(FIRST_YEAR..=LAST_YEAR).contains(&year) {
        return Err(ParamError(format!(
            "{name} {text} is outside the dates this API answers for ({FIRST_YEAR}-01-01 to {LAST_YEAR}-12-31)"
        )));
    }
    // Month and day are two digits each, so they fit an i8.
    Date::new(year, month as i8, day as i8).map_err(|_| {
        ParamError(format!(
            "{name} {text} is not a day of the calendar (check the month and the day of the month)"
        ))
    })
}

/// The inclusive range `start..=end` of a request, both required (`/api/query`).
///
/// # Errors
/// Either missing or invalid, or `end` before `start`.
pub fn required_range(params: &Params<'_>) -> Result<(Date, Date), ParamError> {
    let start = params.date("start")?;
    let end = params.date("end")?;
    let (start, end) = match (start, end) {
        (Some(start), Some(end)) => (start, end),
        (None, None) => {
            return Err(ParamError(
                "start and end are required (dates written YYYY-MM-DD)".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(ParamError(
                "start is required (a date written YYYY-MM-DD)".into(),
            ));
        }
        (Some(_), None) => {
            return Err(ParamError(
                "end is required (a date written YYYY-MM-DD)".into(),
            ));
        }
    };
    ordered(start, end)
}

/// `end` must not come before `start`.
///
/// # Errors
/// When it does.
pub fn ordered(start: Date, end: Date) -> Result<(Date, Date), ParamError> {
    if end < start {
        return Err(ParamError(format!(
            "end {end} is before start {start}: swap them"
        )));
    }
    Ok((start, end))
}

/// How many points a series over `start..=end` by `granularity` holds (hours counted as 24 a
/// day; a DST change moves that by one either way).
pub fn points(start: Date, end: Date, granularity: Granularity) -> u64 {
    let days = i64::from(end.since(start).map_or(0, |span| span.get_days())) + 1;
    let days = days.max(0) as u64;
    match granularity {
        Granularity::Hour => days * 24,
        Granularity::Day => days,
        Granularity::Month => {
            let months = (i64::from(end.year()) - i64::from(start.year())) * 12
                + i64::from(end.month())
                - i64::from(start.month())
                + 1;
            months.max(0) as u64
        }
    }
}

/// Refuse a series of more than [`MAX_POINTS`] points.
///
/// # Errors
/// When `start..=end` by `granularity` is too long.
pub fn bounded(start: Date, end: Date, granularity: Granularity) -> Result<(), ParamError> {
    let count = points(start, end, granularity);
    if count > MAX_POINTS {
        let unit = match granularity {
            Granularity::Hour => "hours",
            Granularity::Day => "days",
            Granularity::Month => "months",
        };
        return Err(ParamError(format!(
            "start {start} to end {end} is {count} {unit}, more than the {MAX_POINTS} points one answer may hold: shorten the range or use a coarser granularity"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(raw: &str) -> Params<'_> {
        Params::new(raw.as_bytes())
    }

    fn date(y: i16, m: i8, d: i8) -> Date {
        Date::new(y, m, d).expect("test date")
    }

    #[test]
    fn finds_the_first_value_and_decodes_it() {
        let p = params("a=1&start=2024-01-02&start=2025-01-01&x+y=%41%2b+b&flag&empty=");
        assert_eq!(p.get("start").unwrap().as_deref(), Some("2024-01-02"));
        assert_eq!(p.get("x y").unwrap().as_deref(), Some("A+ b"));
        assert_eq!(p.get("flag").unwrap().as_deref(), Some(""));
        assert_eq!(p.get("empty").unwrap().as_deref(), Some(""));
        assert_eq!(p.non_empty("empty").unwrap(), None);
        assert_eq!(p.get("missing").unwrap(), None);
        assert_eq!(params("").get("a").unwrap(), None);
    }

    #[test]
    fn broken_escapes_and_invalid_utf8_name_the_parameter() {
        let error = params("iface=%zz").get("iface").unwrap_err();
        assert!(error.0.starts_with("iface "), "{error}");
        let error = params("iface=%4").get("iface").unwrap_err();
        assert!(error.0.contains("percent-escape"), "{error}");
        let error = params("start=%ff%fe").get("start").unwrap_err();
        assert_eq!(error.0, "start is not valid UTF-8 text");
        let raw = b"start=\xff";
        let error = Params::new(raw).get("start").unwrap_err();
        assert_eq!(error.0, "start is not valid UTF-8 text");
    }

    #[test]
    fn dates_are_strict_zero_padded_calendar_days() {
        assert_eq!(parse_date("start", "2024-02-29"), Ok(date(2024, 2, 29)));
        assert_eq!(parse_date("start", "1900-01-01"), Ok(date(1900, 1, 1)));
        assert_eq!(parse_date("end", "2999-12-31"), Ok(date(2999, 12, 31)));
        for bad in [
            "garbage",
            "2026-9-1",
            "2026-09-1",
            "26-09-01",
            "2026/09/01",
            "2026-09-01T00:00",
            " 2026-09-01",
            "2026-0a-01",
            "+026-09-01",
            "２０２６-09-01",
            "",
        ] {
            let error = parse_date("start", bad).unwrap_err();
            assert!(
                error
                    .0
                    .starts_with("start must be a date written YYYY-MM-DD"),
                "{bad}: {error}"
            );
        }
        for bad in [
            "2024-02-30",
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-04-31",
        ] {
            let error = parse_date("end", bad).unwrap_err();
            assert!(
                error
                    .0
                    .starts_with(&format!("end {bad} is not a day of the calendar")),
                "{error}"
            );
        }
        for bad in ["9999-12-30", "1899-12-31", "3000-01-01", "0000-01-01"] {
            let error = parse_date("start", bad).unwrap_err();
            assert!(
                error.0.contains("outside the dates this API answers for"),
                "{error}"
            );
        }
    }

    #[test]
    fn long_input_is_quoted_shortened() {
        let long = "x".repeat(500);
        let error = parse_date("start", &long).unwrap_err();
        assert!(error.0.len() < 200, "{}", error.0);
        assert!(error.0.contains("…"));
    }

    #[test]
    fn a_range_needs_both_ends_in_order() {
        assert_eq!(
            required_range(&params("")).unwrap_err().0,
            "start and end are required (dates written YYYY-MM-DD)"
        );
        assert!(
            required_range(&params("start=2026-11-28"))
                .unwrap_err()
                .0
                .starts_with("end is required")
        );
        assert!(
            required_range(&params("end=2026-11-28&start="))
                .unwrap_err()
                .0
                .starts_with("start is required")
        );
        assert_eq!(
            required_range(&params("start=2026-11-28&end=2020-01-01"))
                .unwrap_err()
                .0,
            "end 2020-01-01 is before start 2026-11-28: swap them"
        );
        assert_eq!(
            required_range(&params("start=2026-11-28&end=2026-11-28")),
            Ok((date(2026, 11, 28), date(2026, 11, 28)))
        );
        // An invalid start is reported before anything about end.
        assert!(
            required_range(&params("start=garbage"))
                .unwrap_err()
                .0
                .starts_with("start must be")
        );
    }

    #[test]
    fn granularity_defaults_to_day_and_refuses_others() {
        assert_eq!(params("").granularity(), Ok(Granularity::Day));
        assert_eq!(params("granularity=").granularity(), Ok(Granularity::Day));
        assert_eq!(
            params("granularity=hour").granularity(),
            Ok(Granularity::Hour)
        );
        assert_eq!(
            params("granularity=month").granularity(),
            Ok(Granularity::Month)
        );
        for bad in ["week", "HOUR", "days", "hour "] {
            let raw = format!("granularity={bad}");
            let error = params(&raw).granularity().unwrap_err();
            assert!(
                error
                    .0
                    .starts_with("granularity must be hour, day or month"),
                "{error}"
            );
        }
    }

    #[test]
    fn points_count_hours_days_and_calendar_months() {
        let (a, b) = (date(2024, 1, 1), date(2024, 12, 31));
        assert_eq!(points(a, b, Granularity::Day), 366);
        assert_eq!(points(a, b, Granularity::Hour), 366 * 24);
        assert_eq!(points(a, b, Granularity::Month), 12);
        assert_eq!(
            points(date(2026, 1, 31), date(2026, 2, 1), Granularity::Month),
            2
        );
        assert_eq!(points(a, a, Granularity::Hour), 24);
        // 1900-01-01..2100-12-31 by day (the original's recorded "huge" query): 73,414 days.
        let (first, last) = (date(1900, 1, 1), date(2100, 12, 31));
        assert_eq!(points(first, last, Granularity::Day), 73_414);
        assert!(bounded(first, last, Granularity::Day).is_ok());
        let error = bounded(first, last, Granularity::Hour).unwrap_err();
        assert!(
            error.0.starts_with(
                "start 1900-01-01 to end 2100-12-31 is 1761936 hours, more than the 100000 points"
            ),
            "{error}"
        );
    }

    #[test]
    fn the_point_limit_is_inclusive() {
        // 4166 days = 99,984 hours: allowed; 4167 days = 100,008 hours: refused.
        let start = date(2000, 1, 1);
        let end = start.checked_add(jiff::Span::new().days(4165)).unwrap();
        assert_eq!(points(start, end, Granularity::Hour), 99_984);
        assert!(bounded(start, end, Granularity::Hour).is_ok());
        let end = end.tomorrow().unwrap();
        assert!(bounded(start, end, Granularity::Hour).is_err());
    }

    #[test]
    fn limit_is_a_bounded_whole_number() {
        assert_eq!(params("").limit(10), Ok(10));
        assert_eq!(params("limit=3").limit(10), Ok(3));
        assert_eq!(params("limit=1000").limit(10), Ok(1000));
        for bad in ["0", "1001", "-1", "3.5", "ten", "99999999999999999999999"] {
            let raw = format!("limit={bad}");
            let error = params(&raw).limit(10).unwrap_err();
            assert!(
                error
                    .0
                    .starts_with("limit must be a whole number from 1 to 1000"),
                "{error}"
            );
        }
    }

    #[test]
    fn device_is_an_ip_address() {
        assert_eq!(params("").device(), Ok(None));
        assert_eq!(params("device=").device(), Ok(None));
        assert_eq!(
            params("device=192.168.1.20").device(),
            Ok(Some("192.168.1.20".parse().unwrap()))
        );
        assert_eq!(
            params("device=fd00%3A%3A30").device(),
            Ok(Some("fd00::30".parse().unwrap()))
        );
        for bad in ["nas", "192.168.1.300", "192.168.1.0/24"] {
            let error = params(&format!("device={bad}")).device().unwrap_err();
            assert!(
                error.0.starts_with("device must be an IP address"),
                "{error}"
            );
        }
    }

    #[test]
    fn iface_must_be_monitored_or_in_the_history() {
        let monitored = vec!["eth0".to_string(), "ppp0".to_string()];
        assert_eq!(params("").scope(&monitored), Ok(Scope::All));
        assert_eq!(params("iface=").scope(&monitored), Ok(Scope::All));
        assert_eq!(
            params("iface=ppp0").scope(&monitored),
            Ok(Scope::Interface("ppp0".into()))
        );
        let error = params("iface=wlan9").scope(&monitored).unwrap_err();
        assert_eq!(
            error.0,
            "iface 'wlan9' is not a monitored interface and has no history (interfaces: eth0, ppp0); leave iface out for all of them together"
        );
    }
}
