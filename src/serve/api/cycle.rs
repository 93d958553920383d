//! The current billing cycle as `/api/quota` and the `cycle` field of `/api/summary` write it,
//! and which interfaces a request counts (see [`crate::quota::usage`]).

use serde::Serialize;

use super::json::{DateText, Formatted};
use super::params::Params;
use super::{Api, ApiError};
use crate::clock::{Zone, unix_now};
use crate::quota::usage::{self, Scopes, Status};
use crate::store::{ReadView, Scope, StoreError};

/// The current cycle, as `/api/quota` and `/api/summary` write it.
#[derive(Serialize)]
pub struct CycleJson {
    /// `QUOTA_BASIS`: total, down, up or max.
    pub basis: &'static str,
    /// Local days from today to the cycle's last day, both included.
    pub days_left: i64,
    pub down_bytes: u64,
    /// The cycle's last local day.
    pub end: DateText,
    /// The UTC second at which it ends (the next cycle's start).
    pub end_ts: i64,
    pub forecast_bytes: Option<u64>,
    pub forecast_fmt: Option<Formatted>,
    /// `blended` (the cycle's rate and the week before it) or `cycle` (its own alone).
    pub forecast_method: Option<&'static str>,
    pub forecast_percent: Option<f64>,
    pub percent: Option<f64>,
    pub quota_bytes: Option<u64>,
    pub quota_fmt: Option<Formatted>,
    pub remaining_bytes: Option<u64>,
    pub remaining_fmt: Option<Formatted>,
    /// The local day the quota runs out at the forecast's rate, when that is in this cycle.
    pub runs_out_on: Option<DateText>,
    pub runs_out_ts: Option<i64>,
    /// The cycle's first local day.
    pub start: DateText,
    /// The UTC second at which it starts (local midnight of `start`).
    pub start_ts: i64,
    /// The instant these figures are for.
    pub ts: i64,
    pub up_bytes: u64,
    pub used_bytes: u64,
    pub used_fmt: Formatted,
}

impl CycleJson {
    pub fn of(status: &Status, zone: &Zone) -> CycleJson {
        let forecast = status.forecast;
        let runs_out = forecast.and_then(|f| f.runs_out_at);
        CycleJson {
            basis: status.basis.name(),
            days_left: status.cycle.days_left(zone.date_of(status.now)),
            down_bytes: status.bytes.down,
            end: DateText(status.cycle.last()),
            end_ts: status.cycle.end,
            forecast_bytes: forecast.map(|f| f.end_total),
            forecast_fmt: forecast.map(|f| Formatted(f.end_total)),
            forecast_method: forecast.map(|f| f.method.name()),
            forecast_percent: status.forecast_percent(),
            percent: status.percent(),
            quota_bytes: status.quota,
            quota_fmt: status.quota.map(Formatted),
            remaining_bytes: status.remaining(),
            remaining_fmt: status.remaining().map(Formatted),
            runs_out_on: runs_out.map(|at| DateText(zone.date_of(at))),
            runs_out_ts: runs_out,
            start: DateText(status.cycle.first),
            start_ts: status.cycle.start,
            ts: status.now,
            up_bytes: status.bytes.up,
            used_bytes: status.used,
            used_fmt: Formatted(status.used),
        }
    }
}

/// The scopes a request counts: `?iface=NAME` (`scope`, already checked), else `QUOTA_IFACES`.
///
/// # Errors
/// 400 for a malformed parameter.
pub fn scopes(api: &Api, params: &Params<'_>, scope: Scope) -> Result<Scopes, ApiError> {
    Ok(if params.non_empty("iface")?.is_some() {
        Scopes(vec![scope])
    } else {
        Scopes::of(api.quota())
    })
}

/// The current cycle's figures from `read`, at the system clock's time.
///
/// # Errors
/// When the history cannot be read.
pub fn current(
    api: &Api,
    read: &ReadView<'_>,
    scopes: &Scopes,
) -> Result<Option<Status>, StoreError> {
    usage::status_cached(
        read,
        api.zone(),
        api.quota(),
        scopes,
        unix_now(),
        api.quota_cache(),
    )
}
