//! `/api/quota`: the billing cycle, its usage against `QUOTA`, the forecast of its end total,
//! the last 12 cycles and the state of this cycle's alerts. Without a `QUOTA` the cycle and its
//! usage are still answered, with the quota's fields `null`. The same cycle object is the
//! `cycle` field of `/api/summary`.
//!
//! Usage counts the interfaces of `QUOTA_IFACES` (default: all together, as `/api/summary`
//! does), or the one `?iface=` names. Everything is computed on read from the history plus what
//! memory has not committed yet (see [`crate::quota::usage`]).

use serde::Serialize;

use super::cycle::{CycleJson, current, scopes};
use super::json::{self, DateText, Formatted};
use super::params::Params;
use super::summary::timezone_label;
use super::{Api, ApiError};
use crate::quota::alerts::AlertKind;
use crate::quota::usage;
use crate::serve::Response;
use crate::store::{Scope, StoreError};

/// How many cycles before the current one `/api/quota` lists.
pub const PAST_CYCLES: usize = 12;

/// `/api/quota`.
///
/// # Errors
/// 400 for an unknown interface; 503 when the history cannot be read.
pub fn answer(api: &Api, params: &Params<'_>) -> Result<Response, ApiError> {
    let scope = params.scope(&api.known_interfaces())?;
    let scopes = scopes(api, params, scope)?;
    let read = api.read()?;
    let Some(status) = current(api, &read, &scopes)? else {
        return Err(ApiError::Unavailable(StoreError::Io {
            why: "today has no billing cycle in the calendar".into(),
        }));
    };
    let zone = api.zone();
    let settings = api.quota();
    let past = usage::past(&read, zone, settings, &scopes, &status.cycle, PAST_CYCLES)?;
    let alerts = api.store().alerts(Some(status.cycle.start))?;
    #[derive(Serialize)]
    struct Past {
        down_bytes: u64,
        end: DateText,
        percent: Option<f64>,
        start: DateText,
        up_bytes: u64,
        used_bytes: u64,
        used_fmt: Formatted,
    }
    #[derive(Serialize)]
    struct Alert {
        alert: String,
        at: i64,
        state: &'static str,
    }
    #[derive(Serialize)]
    struct Answer<'a> {
        alert_at: &'a [u16],
        alerts: Vec<Alert>,
        billing_day: u8,
        cycle: CycleJson,
        interfaces: Vec<String>,
        past: Vec<Past>,
        timezone: std::borrow::Cow<'a, str>,
    }
    let answer = Answer {
        alert_at: &settings.alert_at,
        alerts: alerts
            .iter()
            .map(|record| Alert {
                alert: AlertKind::from_code(record.alert)
                    .map_or_else(|| record.alert.to_string(), AlertKind::name),
                at: record.changed_at,
                state: record.state.name(),
            })
            .collect(),
        billing_day: settings.billing_day,
        cycle: CycleJson::of(&status, zone),
        interfaces: scopes
            .0
            .iter()
            .filter_map(|scope| match scope {
                Scope::All => None,
                Scope::Interface(name) => Some(name.clone()),
            })
            .collect(),
        past: past
            .iter()
            .map(|(cycle, bytes)| {
                let used = settings.basis.of(*bytes);
                Past {
                    down_bytes: bytes.down,
                    end: DateText(cycle.last()),
                    percent: settings
                        .quota
                        .map(|quota| used as f64 * 100.0 / quota as f64),
                    start: DateText(cycle.first),
                    up_bytes: bytes.up,
                    used_bytes: used,
                    used_fmt: Formatted(used),
                }
            })
            .collect(),
        timezone: timezone_label(zone, status.now),
    };
    Ok(json::respond(200, &answer, 4096))
}
