//! `/api/export.csv` and `/api/export.jsonl`: the history over a range as a file to download,
//! one row per period and interface ([`crate::export`]), sent while it is made.
//!
//! Parameters and their errors are `/api/query`'s ([`params`]): `start` and `end` (required,
//! inclusive), `granularity` (`hour`, `day` (default) or `month`), `iface`. There is no point
//! limit: the answer is made a piece at a time as the client reads it ([`Body::Streamed`]), so a
//! century by hour costs the server one piece of memory, not the whole file.

use super::params::{self, Params};
use super::{Api, ApiError};
use crate::export::{Export, Format, Interfaces};
use crate::serve::{Body, Pieces, Response};
use crate::store::{Granularity, Scope};

/// An export handed to the HTTP layer, made on its connection's coroutine.
impl Pieces for Export<'static> {
    fn next_piece(&mut self, out: &mut Vec<u8>) -> Result<bool, String> {
        self.next_chunk(out).map_err(|error| error.to_string())
    }
}

/// `/api/export.<format>?start=&end=&granularity=&iface=`.
///
/// # Errors
/// 400 for missing or bad dates, end before start, an unknown granularity or interface; 503
/// when the history cannot be read.
pub fn answer(api: &Api, params: &Params<'_>, format: Format) -> Result<Response, ApiError> {
    let (start, end) = params::required_range(params)?;
    let granularity = params.granularity()?;
    let known = api.known_interfaces();
    let interfaces = match params.scope(&known)? {
        Scope::All => Interfaces::Every(known),
        Scope::Interface(name) => Interfaces::One(name),
    };
    let name = file_name(start, end, granularity, &interfaces, format);
    let export = Export::new(api.read()?, format, start, end, granularity, interfaces)?;
    Ok(Response {
        status: 200,
        content_type: format.content_type(),
        body: Body::Streamed(Box::new(export)),
        headers: vec![
            (
                "Content-Disposition",
                format!("attachment; filename=\"{name}\""),
            ),
            ("Cache-Control", "no-store".to_string()),
        ],
    })
}

/// `nettraffic-<start>-<end>-<granularity>[-<iface>].<ext>`, with anything but letters, digits,
/// `.`, `_` and `-` in the interface name replaced by `_` (the name is quoted in a header).
pub fn file_name(
    start: jiff::civil::Date,
    end: jiff::civil::Date,
    granularity: Granularity,
    interfaces: &Interfaces,
    format: Format,
) -> String {
    let granularity = match granularity {
        Granularity::Hour => "hour",
        Granularity::Day => "day",
        Granularity::Month => "month",
    };
    let iface = match interfaces {
        Interfaces::One(name) => {
            let safe: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            format!("-{safe}")
        }
        Interfaces::Every(_) => String::new(),
    };
    format!(
        "nettraffic-{start}-{end}-{granularity}{iface}.{}",
        format.extension()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::Date;

    #[test]
    fn file_names_say_range_granularity_and_interface() {
        let (start, end) = (Date::constant(2024, 1, 1), Date::constant(2024, 12, 31));
        assert_eq!(
            file_name(
                start,
                end,
                Granularity::Hour,
                &Interfaces::Every(Vec::new()),
                Format::Csv
            ),
            "nettraffic-2024-01-01-2024-12-31-hour.csv"
        );
        assert_eq!(
            file_name(
                start,
                end,
                Granularity::Month,
                &Interfaces::One("we\"ird;x".into()),
                Format::Jsonl
            ),
            "nettraffic-2024-01-01-2024-12-31-month-we_ird_x.jsonl"
        );
    }
}
