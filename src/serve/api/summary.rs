//! `/api/summary`: today, this month and this year, each `{up, down, total}` with `*_fmt`
//! strings, live counts included.
//!
//! Additions the dashboard relies on: `timezone` (the zone days are counted in: its IANA name,
//! or the current UTC offset such as "+05:30" when it has none), `interfaces` (every name
//! `?iface=` takes: the monitored interfaces in configuration order, then those only the history
//! holds), `not_captured` (those of them that are not captured now, e.g. after `MONITOR_IFACE`
//! changed or an update renamed `eth0`) and `cycle`, the current billing cycle as `/api/quota`
//! gives it ([`super::cycle::CycleJson`]; with `?iface=` that interface's usage).

use std::borrow::Cow;

use serde::Serialize;

use super::cycle::{self, CycleJson};
use super::json::{self, Totals};
use super::params::Params;
use super::{Api, ApiError};
use crate::clock::Zone;
use crate::clock::unix_now;
use crate::serve::Response;

/// `/api/summary`.
///
/// # Errors
/// 400 for an unknown interface; 503 when the history cannot be read.
pub fn answer(api: &Api, params: &Params<'_>) -> Result<Response, ApiError> {
    let scope = params.scope(&api.known_interfaces())?;
    let today = api.today();
    let read = api.read()?;
    let day = read.totals(&scope, today, today)?;
    let month = read.totals(&scope, today.first_of_month(), today.last_of_month())?;
    let year = read.totals(&scope, today.first_of_year(), today.last_of_year())?;
    let cycle = cycle::current(api, &read, &cycle::scopes(api, params, scope)?)?
        .map(|status| CycleJson::of(&status, api.zone()));
    let not_captured = api.not_captured();
    let mut interfaces = api.interfaces().to_vec();
    interfaces.extend(not_captured.iter().cloned());
    #[derive(Serialize)]
    struct Answer<'a> {
        cycle: Option<CycleJson>,
        interfaces: Vec<String>,
        month: Totals,
        not_captured: Vec<String>,
        timezone: Cow<'a, str>,
        today: Totals,
        year: Totals,
    }
    let answer = Answer {
        cycle,
        interfaces,
        month: Totals::of(month),
        not_captured,
        timezone: timezone_label(api.zone(), unix_now()),
        today: Totals::of(day),
        year: Totals::of(year),
    };
    Ok(json::respond(200, &answer, 1024))
}

/// The zone's IANA name, or its UTC offset at `unix_second` ("+08:00", "-03:30") when it has
/// none (a POSIX TZ string, a fixed offset): a browser's `Intl` understands either.
pub fn timezone_label(zone: &Zone, unix_second: i64) -> Cow<'_, str> {
    if let Some(name) = zone.time_zone().iana_name() {
        return Cow::Borrowed(name);
    }
    let offset = zone.offset_at(unix_second);
    let sign = if offset < 0 { '-' } else { '+' };
    let minutes = offset.unsigned_abs() / 60;
    Cow::Owned(format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timezone_is_the_iana_name_or_the_offset() {
        assert_eq!(timezone_label(&Zone::utc(), 0), "UTC");
        let berlin = Zone::named("Europe/Berlin").expect("zone");
        assert_eq!(timezone_label(&berlin, 0), "Europe/Berlin");
        // A POSIX TZ string has no IANA name: the offset at that instant.
        let india = Zone::named("IST-5:30").expect("POSIX zone");
        assert_eq!(timezone_label(&india, 0), "+05:30");
        let newfoundland = Zone::named("NST3:30").expect("POSIX zone");
        assert_eq!(timezone_label(&newfoundland, 0), "-03:30");
    }
}
