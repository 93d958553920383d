//! `/api/services`: public traffic by service, `{"services": [{"bytes", "bytes_fmt",
//! "down_bytes", "label", "service", "up_bytes"}]}`, heaviest first.
//!
//! `service` is the stable name (`https`, `quic`, `wireguard`, `other-tcp`, `fragment`, …; the
//! set and the rule are in [`crate::service`]), `label` the English name a person reads. `start`,
//! `end` and `iface` as `/api/top_ips`. Every counted byte belongs to exactly one service, so
//! the list adds up to the range's totals; a service without traffic in the range is absent.

use serde::Serialize;

use super::json::{self, Formatted};
use super::params::{ParamError, Params};
use super::{Api, ApiError, top_ips};
use crate::serve::Response;

/// `/api/services`.
///
/// # Errors
/// 400 for a bad date, end before start, an unknown interface or a `device` (services are not
/// kept per device).
pub fn answer(api: &Api, params: &Params<'_>) -> Result<Response, ApiError> {
    let (start, end) = top_ips::days(api, params)?;
    let scope = params.scope(&api.known_interfaces())?;
    if params.get("device")?.is_some() {
        return Err(ParamError(
            "device: services are counted per interface, not per device; leave device out".into(),
        )
        .into());
    }
    let services = api.read()?.services(&scope, start, end)?;
    #[derive(Serialize)]
    struct Entry {
        bytes: u64,
        bytes_fmt: Formatted,
        down_bytes: u64,
        label: &'static str,
        service: &'static str,
        up_bytes: u64,
    }
    #[derive(Serialize)]
    struct Answer {
        services: Vec<Entry>,
    }
    let mut list: Vec<Entry> = services
        .iter()
        .map(|(service, bytes)| {
            let total = bytes.up.saturating_add(bytes.down);
            Entry {
                bytes: total,
                bytes_fmt: Formatted(total),
                down_bytes: bytes.down,
                label: service.label(),
                service: service.name(),
                up_bytes: bytes.up,
            }
        })
        .collect();
    // Heaviest first; equal ones in the set's order (the iteration order, kept by a stable sort).
    list.sort_by_key(|entry| std::cmp::Reverse(entry.bytes));
    let answer = Answer { services: list };
    Ok(json::respond(
        200,
        &answer,
        16 + answer.services.len() * 120,
    ))
}
