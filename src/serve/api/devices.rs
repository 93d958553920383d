//! `/api/devices`: the local addresses (devices) with the most public traffic, `{"devices":
//! [{"bytes", "bytes_fmt", "down_bytes", "ip", "up_bytes"}]}`, heaviest first.
//!
//! Upload is what a device sent to the internet, download what it received, by the same rules
//! as the totals. `start`, `end`, `limit` and `iface` as `/api/top_ips`; each day keeps its
//! `DEVICES_PER_DAY` heaviest devices, so over several days a device counts only the days it
//! was among them. A device without traffic in the range is absent.

use serde::Serialize;

use super::json::{self, Formatted};
use super::params::Params;
use super::{Api, ApiError, top_ips};
use crate::serve::Response;

/// Entries listed without `limit`.
pub const DEFAULT_LIMIT: usize = 20;

/// `/api/devices`.
///
/// # Errors
/// 400 for a bad date, end before start, a bad limit or an unknown interface.
pub fn answer(api: &Api, params: &Params<'_>) -> Result<Response, ApiError> {
    let (start, end) = top_ips::days(api, params)?;
    let limit = params.limit(DEFAULT_LIMIT)?;
    let scope = params.scope(&api.known_interfaces())?;
    let top = api
        .read_with_remotes()?
        .top_devices(&scope, start, end, limit)?;
    #[derive(Serialize)]
    struct Entry {
        bytes: u64,
        bytes_fmt: Formatted,
        down_bytes: u64,
        ip: std::net::IpAddr,
        up_bytes: u64,
    }
    #[derive(Serialize)]
    struct Answer {
        devices: Vec<Entry>,
    }
    let answer = Answer {
        devices: top
            .into_iter()
            .map(|device| {
                let bytes = device.bytes.up.saturating_add(device.bytes.down);
                Entry {
                    bytes,
                    bytes_fmt: Formatted(bytes),
                    down_bytes: device.bytes.down,
                    ip: device.addr,
                    up_bytes: device.bytes.up,
                }
            })
            .collect(),
    };
    Ok(json::respond(200, &answer, 16 + answer.devices.len() * 112))
}
