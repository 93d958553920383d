//! `/api/top_ips`: the heaviest remote addresses, `{"top_ips": [{"bytes", "bytes_fmt",
//! "down_bytes", "ip", "up_bytes"}]}`, heaviest first.
//!
//! The original listed the top 10 since its start (memory only) and ignored parameters; here the
//! addresses are kept per local day, so `start`, `end` (inclusive local dates) and `limit`
//! (default 10, at most 1000) choose the days and the length. Without dates: today. With only
//! `start`: from then to today; with only `end`: that day. Each day keeps its heaviest
//! `TOP_IPS_PER_DAY` addresses, so over several days an address counts only the days it was
//! among them.
//!
//! `device` (a local address) lists the remote addresses of that one device's public traffic
//! instead, in the same shape: from the (device, remote) pairs kept per day and interface (the
//! heaviest `TOP_IPS_PER_DAY` pairs of a day, over all devices together), and for a closed month
//! the range covers whole in which the device held more than 4,096 pairs, from that month's 4,096
//! heaviest remote addresses of the device (`store::months`).

use jiff::civil::Date;
use serde::Serialize;

use super::json::{self, Formatted};
use super::params::{self, Params};
use super::{Api, ApiError};
use crate::remote::{GeoIp, Place};
use crate::serve::Response;

/// Entries listed without `limit`, as the original.
pub const DEFAULT_LIMIT: usize = 10;

/// The inclusive local days a request covers.
///
/// # Errors
/// A bad date, or end before start.
pub fn days(api: &Api, params: &Params<'_>) -> Result<(Date, Date), ApiError> {
    let today = api.today();
    Ok(match (params.date("start")?, params.date("end")?) {
        (None, None) => (today, today),
        (Some(start), None) => (start, start.max(today)),
        (None, Some(end)) => (end, end),
        (Some(start), Some(end)) => params::ordered(start, end)?,
    })
}

/// `/api/top_ips`.
///
/// # Errors
/// 400 for a bad date, end before start, a bad limit, an unknown interface or a device that is
/// not an IP address.
pub fn answer(api: &Api, params: &Params<'_>) -> Result<Response, ApiError> {
    let (start, end) = days(api, params)?;
    let limit = params.limit(DEFAULT_LIMIT)?;
    let scope = params.scope(&api.known_interfaces())?;
    let device = params.device()?;
    let read = api.read_with_remotes()?;
    let top = match device {
        Some(device) => read.top_remotes_of(&scope, device, start, end, limit)?,
        None => read.top_remotes(&scope, start, end, limit)?,
    };
    #[derive(Serialize)]
    struct Entry {
        bytes: u64,
        bytes_fmt: Formatted,
        down_bytes: u64,
        ip: std::net::IpAddr,
        /// The reverse-DNS name, once known (`REVERSE_DNS`).
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// `country`, `country_name`, `asn`, `org` from `GEOIP_DB`, each when known.
        #[serde(flatten)]
        place: Place,
        up_bytes: u64,
    }
    let lookups = api.geoip().map(GeoIp::lookups);
    let addresses: Vec<std::net::IpAddr> = top.iter().map(|remote| remote.addr).collect();
    let mut names = match api.names() {
        Some(names) => names.known(&addresses),
        None => Vec::new(),
    }
    .into_iter();
    #[derive(Serialize)]
    struct Answer {
        top_ips: Vec<Entry>,
    }
    let answer = Answer {
        top_ips: top
            .into_iter()
            .map(|remote| {
                let bytes = remote.bytes.up.saturating_add(remote.bytes.down);
                Entry {
                    bytes,
                    bytes_fmt: Formatted(bytes),
                    down_bytes: remote.bytes.down,
                    ip: remote.addr,
                    name: names.next().flatten(),
                    place: lookups
                        .as_ref()
                        .map(|l| l.place(remote.addr))
                        .unwrap_or_default(),
                    up_bytes: remote.bytes.up,
                }
            })
            .collect(),
    };
    Ok(json::respond(200, &answer, 16 + answer.top_ips.len() * 112))
}
