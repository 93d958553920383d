//! `/api/devices`: the local addresses (devices) with the most public traffic, `{"devices":
//! [{"bytes", "bytes_fmt", "down_bytes", "ip", "up_bytes"}]}`, heaviest first.
//!
//! Upload is what a device sent to the internet, download what it received, by the same rules
//! as the totals. `start`, `end`, `limit` and `iface` as `/api/top_ips`; each day keeps its
//! `DEVICES_PER_DAY` heaviest devices, so over several days a device counts only the days it
//! was among them. A device without traffic in the range is absent.
//!
//! `name` and `mac`, when known: for a range that ends before today, as the last stored day
//! showed them (a later change of `DEVICE_NAMES` leaves history as it was); for one that reaches
//! today, as the device is known now, else as stored.

use serde::Serialize;

use super::json::{self, Formatted};
use super::params::Params;
use super::{Api, ApiError, top_ips};
use crate::lan::{Label, Mac};
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
    let read = api.read_with_remotes()?;
    let top = read.top_devices_seen(&scope, start, end, limit)?;
    let mut stored = read.device_labels(&scope, start, end, &top)?;
    let addresses: Vec<std::net::IpAddr> = top.iter().map(|device| device.addr).collect();
    let now = match api.labeler() {
        Some(labeler) if end >= api.today() => labeler.labels(&addresses),
        _ => vec![Label::default(); addresses.len()],
    };
    #[derive(Serialize)]
    struct Entry {
        bytes: u64,
        bytes_fmt: Formatted,
        down_bytes: u64,
        ip: std::net::IpAddr,
        #[serde(skip_serializing_if = "Option::is_none")]
        mac: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        up_bytes: u64,
    }
    #[derive(Serialize)]
    struct Answer {
        devices: Vec<Entry>,
    }
    let answer = Answer {
        devices: top
            .into_iter()
            .zip(now)
            .map(|(device, now)| {
                let bytes = device.bytes.up.saturating_add(device.bytes.down);
                let before = stored.remove(&device.addr);
                let name = now
                    .name
                    .or_else(|| before.as_ref().and_then(|b| b.name.clone()));
                let mac = now
                    .mac
                    .or_else(|| before.and_then(|b| b.mac).map(Mac))
                    .map(|mac| mac.to_string());
                Entry {
                    bytes,
                    bytes_fmt: Formatted(bytes),
                    down_bytes: device.bytes.down,
                    ip: device.addr,
                    mac,
                    name,
                    up_bytes: device.bytes.up,
                }
            })
            .collect(),
    };
    Ok(json::respond(200, &answer, 16 + answer.devices.len() * 112))
}
