//! What a cycle has used, how much is left, and the forecast of its end total, computed on read
//! from the history plus what memory has not committed yet, with the same [`ReadView::totals`]
//! `/api/summary` uses (so the two always agree).
//!
//! # Forecast
//! The forecast of the cycle's end total is what the cycle has used plus a byte rate times the
//! seconds left. The rate blends two:
//!
//! - the cycle's own rate: used ÷ seconds since the cycle started;
//! - the reference rate: what the same basis counted over the 7 local days before the cycle
//!   started, ÷ their seconds (fewer days when the history starts later; none when it holds
//!   nothing before the cycle).
//!
//! The cycle's own rate weighs `min(elapsed ÷ 7 days, 1)`, the reference the rest: a cycle one
//! hour old is forecast almost wholly from the week before it (one evening's streaming does not
//! become 30 evenings), and from its eighth day on only its own rate counts. Without any
//! reference (a new history) there is no forecast until the cycle is a day old ([`MIN_OWN`]).
//! The end total is rounded to whole bytes. The quota is reached at `now + (quota − used) ÷ rate`
//! (rounded up to the second) when that is before the cycle ends.

use std::sync::{Mutex, PoisonError};

use jiff::civil::Date;

use super::cycle::{self, Cycle};
use super::{Basis, QuotaSettings};
use crate::clock::Zone;
use crate::count::UpDown;
use crate::store::days::day_start;
use crate::store::{ReadView, Scope, StoreError};

/// Seconds in the reference window and in the blend's ramp: 7 days.
pub const WEEK: i64 = 7 * 86_400;
/// Without a reference, no forecast before the cycle is this old: one day.
pub const MIN_OWN: i64 = 86_400;

/// How the forecast's rate was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// The cycle's own rate blended with the days before it.
    Blended,
    /// The cycle's own rate alone (no history before the cycle).
    Cycle,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Blended => "blended",
            Method::Cycle => "cycle",
        }
    }
}

/// The forecast of a cycle's end.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Forecast {
    /// Bytes (by basis) the cycle will have used at its end at this rate.
    pub end_total: u64,
    /// Bytes per second.
    pub rate: f64,
    pub method: Method,
    /// The UTC second at which the quota is reached at this rate, when that is before the
    /// cycle's end and the quota is not reached yet.
    pub runs_out_at: Option<i64>,
}

/// One cycle's figures at an instant.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    pub cycle: Cycle,
    /// The instant the figures are for.
    pub now: i64,
    /// Upload and download in the cycle so far.
    pub bytes: UpDown,
    /// `bytes` by the basis.
    pub used: u64,
    pub basis: Basis,
    pub quota: Option<u64>,
    pub forecast: Option<Forecast>,
}

impl Status {
    /// Bytes left of the quota (0 once it is used up).
    pub fn remaining(&self) -> Option<u64> {
        self.quota.map(|quota| quota.saturating_sub(self.used))
    }

    /// Percent of the quota used (above 100 past it).
    pub fn percent(&self) -> Option<f64> {
        self.quota
            .map(|quota| self.used as f64 * 100.0 / quota as f64)
    }

    /// Percent of the quota the forecast comes to.
    pub fn forecast_percent(&self) -> Option<f64> {
        match (self.quota, self.forecast) {
            (Some(quota), Some(forecast)) => Some(forecast.end_total as f64 * 100.0 / quota as f64),
            _ => None,
        }
    }

    /// Whether `percent` of the quota is used (exact integer arithmetic).
    pub fn reached(&self, percent: u16) -> bool {
        self.quota.is_some_and(|quota| {
            u128::from(self.used) * 100 >= u128::from(percent) * u128::from(quota)
        })
    }
}

/// Which traffic counts: all interfaces together, or the sum of some.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scopes(pub Vec<Scope>);

impl Scopes {
    /// `QUOTA_IFACES`: empty means all interfaces together.
    pub fn of(settings: &QuotaSettings) -> Scopes {
        if settings.interfaces.is_empty() {
            Scopes(vec![Scope::All])
        } else {
            Scopes(
                settings
                    .interfaces
                    .iter()
                    .map(|name| Scope::Interface(name.clone()))
                    .collect(),
            )
        }
    }

    /// Up and down over the local dates `first..=last`.
    ///
    /// # Errors
    /// When the history cannot be read.
    pub fn totals(
        &self,
        read: &ReadView<'_>,
        first: Date,
        last: Date,
    ) -> Result<UpDown, StoreError> {
        let mut sum = UpDown::default();
        for scope in &self.0 {
            sum += read.totals(scope, first, last)?;
        }
        Ok(sum)
    }

    /// [`Scopes::totals`] over a cycle, whose instants are known.
    ///
    /// # Errors
    /// When the history cannot be read.
    pub fn cycle_totals(&self, read: &ReadView<'_>, cycle: &Cycle) -> Result<UpDown, StoreError> {
        let mut sum = UpDown::default();
        for scope in &self.0 {
            sum += read.totals_within(scope, cycle.first, cycle.last(), cycle.start, cycle.end)?;
        }
        Ok(sum)
    }

    /// The first local day with any traffic in any of the scopes.
    ///
    /// # Errors
    /// When the history cannot be read.
    pub fn first_day(&self, read: &ReadView<'_>) -> Result<Option<Date>, StoreError> {
        let mut first: Option<Date> = None;
        for scope in &self.0 {
            if let Some((day, _)) = read.data_range(scope)? {
                first = Some(first.map_or(day, |f| f.min(day)));
            }
        }
        Ok(first)
    }
}

/// The figures of the cycle containing `now`. `None` only at the ends of the calendar.
///
/// # Errors
/// When the history cannot be read.
pub fn status(
    read: &ReadView<'_>,
    zone: &Zone,
    settings: &QuotaSettings,
    scopes: &Scopes,
    now: i64,
) -> Result<Option<Status>, StoreError> {
    let Some(cycle) = cycle::containing(zone, settings.billing_day, now) else {
        return Ok(None);
    };
    let reference = reference_rate(read, zone, settings.basis, scopes, &cycle)?;
    finish(read, settings, scopes, now, cycle, reference).map(Some)
}

/// How long [`status_cached`] reuses a reference rate: what the days before the cycle hold
/// changes only when a commit or an import touches them.
pub const REFERENCE_FOR: i64 = 60;

/// What [`status_cached`] reuses between calls: the cycle (until it ends) and the reference
/// rate (for [`REFERENCE_FOR`] seconds), for one set of settings and scopes. Each call takes one
/// short lock.
#[derive(Debug, Default)]
pub struct Cache {
    entry: Mutex<Option<Cached>>,
}

#[derive(Clone, Debug)]
struct Cached {
    billing_day: u8,
    basis: Basis,
    scopes: Scopes,
    cycle: Cycle,
    reference: Option<f64>,
    at: i64,
}

/// [`status`], reusing what `cache` kept: the time-zone arithmetic of the cycle's bounds and
/// the week before it costs more than adding up the cycle's days, and a web server asks for it
/// with every `/api/summary`.
///
/// # Errors
/// When the history cannot be read.
pub fn status_cached(
    read: &ReadView<'_>,
    zone: &Zone,
    settings: &QuotaSettings,
    scopes: &Scopes,
    now: i64,
    cache: &Cache,
) -> Result<Option<Status>, StoreError> {
    let kept = {
        let entry = cache.entry.lock().unwrap_or_else(PoisonError::into_inner);
        entry
            .as_ref()
            .filter(|c| {
                c.billing_day == settings.billing_day
                    && c.basis == settings.basis
                    && (c.cycle.start..c.cycle.end).contains(&now)
                    && (c.at..c.at.saturating_add(REFERENCE_FOR)).contains(&now)
                    && c.scopes == *scopes
            })
            .map(|c| (c.cycle, c.reference))
    };
    let (cycle, reference) = match kept {
        Some(kept) => kept,
        None => {
            let Some(cycle) = cycle::containing(zone, settings.billing_day, now) else {
                return Ok(None);
            };
            let reference = reference_rate(read, zone, settings.basis, scopes, &cycle)?;
            *cache.entry.lock().unwrap_or_else(PoisonError::into_inner) = Some(Cached {
                billing_day: settings.billing_day,
                basis: settings.basis,
                scopes: scopes.clone(),
                cycle,
                reference,
                at: now,
            });
            (cycle, reference)
        }
    };
    finish(read, settings, scopes, now, cycle, reference).map(Some)
}

/// The cycle's usage and forecast, given its bounds and the reference rate.
fn finish(
    read: &ReadView<'_>,
    settings: &QuotaSettings,
    scopes: &Scopes,
    now: i64,
    cycle: Cycle,
    reference: Option<f64>,
) -> Result<Status, StoreError> {
    let bytes = scopes.cycle_totals(read, &cycle)?;
    let used = settings.basis.of(bytes);
    let forecast = forecast(&cycle, now, used, reference, settings.quota);
    Ok(Status {
        cycle,
        now,
        bytes,
        used,
        basis: settings.basis,
        quota: settings.quota,
        forecast,
    })
}

/// Bytes per second (by basis) over the up to 7 local days before `cycle` that the history
/// covers; `None` when it holds nothing before the cycle.
///
/// # Errors
/// When the history cannot be read.
pub fn reference_rate(
    read: &ReadView<'_>,
    zone: &Zone,
    basis: Basis,
    scopes: &Scopes,
    cycle: &Cycle,
) -> Result<Option<f64>, StoreError> {
    let Some(data_first) = scopes.first_day(read)? else {
        return Ok(None);
    };
    if data_first >= cycle.first {
        return Ok(None);
    }
    let week_before = cycle
        .first
        .checked_sub(jiff::Span::new().days(7))
        .unwrap_or(cycle.first);
    let from = week_before.max(data_first);
    let Ok(last) = cycle.first.yesterday() else {
        return Ok(None);
    };
    let seconds = cycle.start.saturating_sub(day_start(zone, from));
    if seconds <= 0 {
        return Ok(None);
    }
    let bytes = basis.of(scopes.totals(read, from, last)?);
    Ok(Some(bytes as f64 / seconds as f64))
}

/// The forecast of `cycle`'s end total at `now` (see the module doc), from what it has `used`
/// and the `reference` rate of the days before it.
pub fn forecast(
    cycle: &Cycle,
    now: i64,
    used: u64,
    reference: Option<f64>,
    quota: Option<u64>,
) -> Option<Forecast> {
    let elapsed = now.saturating_sub(cycle.start).clamp(0, cycle.seconds());
    let own = if elapsed > 0 {
        used as f64 / elapsed as f64
    } else {
        0.0
    };
    let (rate, method) = match reference {
        Some(reference) => {
            let weight = (elapsed as f64 / WEEK as f64).min(1.0);
            (weight * own + (1.0 - weight) * reference, Method::Blended)
        }
        None if elapsed >= MIN_OWN => (own, Method::Cycle),
        None => return None,
    };
    let left = cycle.end.saturating_sub(now).max(0);
    let more = (rate * left as f64).round();
    // `as` saturates a float too large for u64.
    let end_total = used.saturating_add(more as u64);
    let runs_out_at = match quota {
        Some(quota) if used < quota && rate > 0.0 => {
            let seconds = ((quota - used) as f64 / rate).ceil();
            let at = now.saturating_add(seconds as i64);
            (seconds < left as f64 && at < cycle.end).then_some(at)
        }
        _ => None,
    };
    Some(Forecast {
        end_total,
        rate,
        method,
        runs_out_at,
    })
}

/// The `count` cycles before `current`, oldest first, each with its upload and download.
///
/// # Errors
/// When the history cannot be read.
pub fn past(
    read: &ReadView<'_>,
    zone: &Zone,
    settings: &QuotaSettings,
    scopes: &Scopes,
    current: &Cycle,
    count: usize,
) -> Result<Vec<(Cycle, UpDown)>, StoreError> {
    let mut cycles = Vec::with_capacity(count);
    let mut cycle = *current;
    for _ in 0..count {
        let Some(earlier) = cycle::before(zone, settings.billing_day, &cycle) else {
            break;
        };
        cycle = earlier;
        cycles.push((cycle, scopes.totals(read, cycle.first, cycle.last())?));
    }
    cycles.reverse();
    Ok(cycles)
}
