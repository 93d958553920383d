//! export: the history as CSV (RFC 4180) or JSON Lines, one row per period and interface, written
//! a bounded piece at a time, so a ten-year hourly export never holds more than one piece.
//!
//! Both `/api/export.csv` / `/api/export.jsonl` and the `export` command write through
//! [`Export`], so the two give the same bytes for the same history and range.
//!
//! Rows, in period order and, within a period, by interface name:
//! `period_start`, `period_end` (ISO 8601 local time with its UTC offset, the end exclusive: the
//! next period's start), `iface`, `up_bytes`, `down_bytes`, `total_bytes` (`up + down`). A period
//! in which an interface counted nothing has no row for it. Without an interface asked for, every
//! interface the history holds has its rows, and history that belongs to no interface (brought in
//! by `import` or `migrate-sqlite`) has rows with an empty `iface`: what the all-interface total
//! holds beyond the interfaces' own rows. All rows of a range add up to `/api/query`'s total for
//! it; one interface's rows to `/api/query?iface=` of it.
//!
//! Work per piece is bounded too: at most [`MAX_STEPS`] steps (a day of hours, a month of days, a
//! year of months) of the range, which is first narrowed to the days with traffic, so a web
//! worker that writes an export between other clients' requests is never held for long.

use std::io::Write;

use jiff::civil::Date;

use crate::count::UpDown;
use crate::store::days::day_start;
use crate::store::{Granularity, Point, ReadView, Scope, StoreError};

/// A piece is handed out once it holds this much (a piece may end up to one step larger).
pub const CHUNK_BYTES: usize = 32 * 1024;

/// Most steps of the range one piece covers, rows or not (see the module documentation).
pub const MAX_STEPS: usize = 31;

/// The CSV header row.
pub const CSV_HEADER: &str = "period_start,period_end,iface,up_bytes,down_bytes,total_bytes\r\n";

/// The file formats of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// RFC 4180: a header row, comma-separated fields, CRLF line ends, UTF-8.
    Csv,
    /// One JSON object per line (LF), no header.
    Jsonl,
}

impl Format {
    /// `csv` or `jsonl`.
    ///
    /// # Errors
    /// Any other name, with a message naming `what` (the parameter or flag).
    pub fn parse(what: &str, text: &str) -> Result<Format, String> {
        match text {
            "csv" => Ok(Format::Csv),
            "jsonl" => Ok(Format::Jsonl),
            other => Err(format!(
                "{what} must be csv or jsonl, not '{}'",
                other.chars().take(40).collect::<String>()
            )),
        }
    }

    /// The HTTP media type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8; header=present",
            Format::Jsonl => "application/x-ndjson",
        }
    }

    /// The file name extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }
}

/// Which interfaces' rows an export holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Interfaces {
    /// One interface.
    One(String),
    /// These interfaces, plus the history of no interface (rows with an empty `iface`).
    Every(Vec<String>),
}

/// An export being written: call [`Export::next_chunk`] until it says it is complete.
pub struct Export<'a> {
    view: ReadView<'a>,
    format: Format,
    granularity: Granularity,
    /// Interface names in row order.
    names: Vec<String>,
    /// Whether rows of no interface are added (all-interface total minus the interfaces).
    rest: bool,
    /// First date of the next step; `None` when every step is written.
    next: Option<Date>,
    last: Date,
    header: bool,
    rows: u64,
}

impl std::fmt::Debug for Export<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Export")
            .field("format", &self.format)
            .field("next", &self.next)
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

impl<'a> Export<'a> {
    /// Rows of `interfaces` over the local dates `first..=last` by `granularity`, from `view`.
    ///
    /// # Errors
    /// When the history cannot be read.
    pub fn new(
        view: ReadView<'a>,
        format: Format,
        first: Date,
        last: Date,
        granularity: Granularity,
        interfaces: Interfaces,
    ) -> Result<Export<'a>, StoreError> {
        let (mut names, rest, scope) = match interfaces {
            Interfaces::One(name) => (vec![name.clone()], false, Scope::Interface(name)),
            Interfaces::Every(names) => (names, true, Scope::All),
        };
        names.sort();
        names.dedup();
        // Periods outside the days with traffic would have no rows: skip them unread (a month
        // keeps its days before the first and after the last day with traffic).
        let (next, last) = match view.data_range(&scope)? {
            Some((min, max)) => {
                let (from, to) = match granularity {
                    Granularity::Month => (min.first_of_month(), max.last_of_month()),
                    Granularity::Hour | Granularity::Day => (min, max),
                };
                let (first, last) = (first.max(from), last.min(to));
                ((first <= last).then_some(first), last)
            }
            None => (None, last),
        };
        Ok(Export {
            view,
            format,
            granularity,
            names,
            rest,
            next,
            last,
            header: false,
            rows: 0,
        })
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Append the next piece to `out`: the header first, then whole periods, until `out` holds
    /// [`CHUNK_BYTES`] or [`MAX_STEPS`] steps are done (so a piece may be empty). `Ok(false)`
    /// once the export is complete.
    ///
    /// # Errors
    /// When the history cannot be read.
    pub fn next_chunk(&mut self, out: &mut Vec<u8>) -> Result<bool, StoreError> {
        if !self.header {
            self.header = true;
            if self.format == Format::Csv {
                out.extend_from_slice(CSV_HEADER.as_bytes());
            }
        }
        let mut steps = 0;
        while let Some(first) = self.next {
            if out.len() >= CHUNK_BYTES || steps >= MAX_STEPS {
                break;
            }
            let last = self.step_end(first);
            self.step(first, last, out)?;
            steps += 1;
            self.next = if last < self.last {
                last.tomorrow().ok()
            } else {
                None
            };
        }
        Ok(self.next.is_some())
    }

    /// Write every piece to `to`; the rows written.
    ///
    /// # Errors
    /// When the history cannot be read or `to` cannot be written.
    pub fn write_to(mut self, to: &mut impl Write) -> Result<u64, ExportError> {
        let mut piece = Vec::with_capacity(2 * CHUNK_BYTES);
        loop {
            let more = self.next_chunk(&mut piece).map_err(ExportError::Read)?;
            to.write_all(&piece).map_err(ExportError::Write)?;
            piece.clear();
            if !more {
                break;
            }
        }
        to.flush().map_err(ExportError::Write)?;
        Ok(self.rows)
    }

    /// The last date of the step starting at `first`: that day (hours), the end of its month
    /// (days) or of its year (months), never past the range.
    fn step_end(&self, first: Date) -> Date {
        let end = match self.granularity {
            Granularity::Hour => first,
            Granularity::Day => first.last_of_month(),
            Granularity::Month => first.last_of_year(),
        };
        end.min(self.last)
    }

    /// The rows of the periods of `first..=last`.
    fn step(&mut self, first: Date, last: Date, out: &mut Vec<u8>) -> Result<(), StoreError> {
        let mut series: Vec<Vec<Point>> = Vec::with_capacity(self.names.len());
        for name in &self.names {
            series.push(self.view.series(
                &Scope::Interface(name.clone()),
                first,
                last,
                self.granularity,
            )?);
        }
        let all = if self.rest {
            Some(
                self.view
                    .series(&Scope::All, first, last, self.granularity)?,
            )
        } else {
            None
        };
        let Some(periods) = all.as_ref().or(series.first()) else {
            return Ok(());
        };
        let zone = self.view.zone();
        let after = last
            .tomorrow()
            .map_or(i64::MAX, |next| day_start(zone, next));
        // The period's times, written once and only for a period with a row; a period's end is
        // the next one's start, so it is kept for that (`written` says for which instants).
        let (mut start, mut end) = (String::new(), String::new());
        let mut written: Option<(i64, i64)> = None;
        for (index, period) in periods.iter().enumerate() {
            let until = periods.get(index + 1).map_or(after, |next| next.start);
            let mut row = |out: &mut Vec<u8>, name: &str, bytes: UpDown| {
                if bytes == UpDown::default() {
                    return;
                }
                if written.is_none_or(|(from, _)| from != period.start) {
                    if written.is_some_and(|(_, to)| to == period.start) {
                        std::mem::swap(&mut start, &mut end);
                    } else {
                        start.clear();
                        zone.write_iso_datetime(period.start, &mut start);
                    }
                    end.clear();
                    zone.write_iso_datetime(until, &mut end);
                    written = Some((period.start, until));
                }
                write_row(out, self.format, &start, &end, name, bytes);
                self.rows += 1;
            };
            if let Some(all) = &all {
                let mut rest = all[index].bytes;
                for points in &series {
                    if let Some(point) = points.get(index) {
                        rest = rest - point.bytes;
                    }
                }
                row(out, "", rest);
            }
            for (name, points) in self.names.iter().zip(&series) {
                if let Some(point) = points.get(index) {
                    row(out, name, point.bytes);
                }
            }
        }
        Ok(())
    }
}

/// Why an export stopped.
#[derive(Debug)]
pub enum ExportError {
    /// The history could not be read.
    Read(StoreError),
    /// The output could not be written (disk full, the reader went away).
    Write(std::io::Error),
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportError::Read(error) => write!(f, "{error}"),
            ExportError::Write(error) => write!(f, "the export could not be written: {error}"),
        }
    }
}

impl std::error::Error for ExportError {}

/// One row in `format`.
fn write_row(
    out: &mut Vec<u8>,
    format: Format,
    start: &str,
    end: &str,
    iface: &str,
    bytes: UpDown,
) {
    let mut number = itoa::Buffer::new();
    let total = bytes.up.saturating_add(bytes.down);
    match format {
        Format::Csv => {
            out.extend_from_slice(start.as_bytes());
            out.push(b',');
            out.extend_from_slice(end.as_bytes());
            out.push(b',');
            csv_field(out, iface);
            for value in [bytes.up, bytes.down, total] {
                out.push(b',');
                out.extend_from_slice(number.format(value).as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }
        Format::Jsonl => {
            out.extend_from_slice(b"{\"period_start\":\"");
            out.extend_from_slice(start.as_bytes());
            out.extend_from_slice(b"\",\"period_end\":\"");
            out.extend_from_slice(end.as_bytes());
            out.extend_from_slice(b"\",\"iface\":");
            json_string(out, iface);
            for (key, value) in [
                (&b",\"up_bytes\":"[..], bytes.up),
                (b",\"down_bytes\":", bytes.down),
                (b",\"total_bytes\":", total),
            ] {
                out.extend_from_slice(key);
                out.extend_from_slice(number.format(value).as_bytes());
            }
            out.extend_from_slice(b"}\n");
        }
    }
}

/// A CSV field: quoted (inner quotes doubled) when it holds a comma, quote or line break.
fn csv_field(out: &mut Vec<u8>, text: &str) {
    if text.contains([',', '"', '\r', '\n']) {
        out.push(b'"');
        out.extend_from_slice(text.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(text.as_bytes());
    }
}

/// A JSON string, escaped by serde_json.
fn json_string(out: &mut Vec<u8>, text: &str) {
    // Writing a string into a Vec cannot fail; an empty string keeps the line valid JSON if it did.
    if serde_json::to_writer(&mut *out, text).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(format: Format, iface: &str) -> String {
        let mut out = Vec::new();
        write_row(
            &mut out,
            format,
            "2024-10-27T02:00:00+02:00",
            "2024-10-27T02:00:00+01:00",
            iface,
            UpDown {
                up: 1,
                down: u64::MAX,
            },
        );
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn csv_rows_end_in_crlf_and_quote_what_needs_it() {
        assert_eq!(
            row(Format::Csv, "eth0"),
            format!(
                "2024-10-27T02:00:00+02:00,2024-10-27T02:00:00+01:00,eth0,1,{},{}\r\n",
                u64::MAX,
                u64::MAX
            )
        );
        assert!(row(Format::Csv, "a,\"b").contains(",\"a,\"\"b\","));
        assert!(row(Format::Csv, "").contains("+01:00,,1,"));
    }

    #[test]
    fn jsonl_rows_are_one_json_object_each() {
        for iface in ["eth0", "", "we\"ird\n"] {
            let line = row(Format::Jsonl, iface);
            assert!(line.ends_with("}\n") && line.matches('\n').count() == 1);
            let value: serde_json::Value = serde_json::from_str(&line).expect("JSON");
            assert_eq!(value["iface"], iface);
            assert_eq!(value["up_bytes"], 1);
            assert_eq!(value["down_bytes"], u64::MAX);
            assert_eq!(value["period_end"], "2024-10-27T02:00:00+01:00");
        }
    }

    #[test]
    fn times_carry_the_offset_of_their_instant() {
        let berlin = crate::clock::Zone::named("Europe/Berlin").expect("zone");
        // 2024-10-27 00:00 and 01:00 UTC: the local 02:00 before and after clocks fall back.
        assert_eq!(
            berlin.iso_datetime(1_729_987_200),
            "2024-10-27T02:00:00+02:00"
        );
        assert_eq!(
            berlin.iso_datetime(1_729_990_800),
            "2024-10-27T02:00:00+01:00"
        );
        let kolkata = crate::clock::Zone::named("Asia/Kolkata").expect("zone");
        assert_eq!(kolkata.iso_datetime(0), "1970-01-01T05:30:00+05:30");
        // Local mean time before standard zones: an offset in seconds.
        let shanghai = crate::clock::Zone::named("Asia/Shanghai").expect("zone");
        assert_eq!(
            shanghai.iso_datetime(-2_208_988_800),
            "1900-01-01T08:05:43+08:05:43"
        );
        let new_york = crate::clock::Zone::named("America/New_York").expect("zone");
        assert_eq!(new_york.iso_datetime(0), "1969-12-31T19:00:00-05:00");
    }

    #[test]
    fn formats_are_named_csv_and_jsonl() {
        assert_eq!(Format::parse("--format", "csv"), Ok(Format::Csv));
        assert_eq!(Format::parse("--format", "jsonl"), Ok(Format::Jsonl));
        let error = Format::parse("--format", "xlsx").unwrap_err();
        assert_eq!(error, "--format must be csv or jsonl, not 'xlsx'");
    }
}
