//! The read side: series, totals, the span of stored days and the heaviest remote addresses, for a
//! range of local dates, each with what memory has counted and not committed yet.
//!
//! Days and months are local calendar days and months in the store's zone: a day runs from the
//! first instant of its date to the first instant of the next (23 or 25 hours across a DST change),
//! and a bucket takes every stored hour that starts inside it. Every series is zero-filled. A
//! [`ReadView`] pairs one read snapshot of the file with the persister's marks of the same commit,
//! so the live part is added exactly once.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use jiff::civil::Date;
use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, TableError};

use super::persister::{Committed, LiveView, PLAUSIBLE_FROM};
use super::schema::{
    ALL_SCOPE, ALL_SCOPE_NAME, Counts, DAY_REMOTES, Day, HOURS, Hour, HourKey, RemoteBytes, SCOPES,
    decode_remotes,
};
use super::{Store, StoreError};
use crate::capture::engine::unix_now;
use crate::clock::{HourStart, Zone};
use crate::count::UpDown;

/// Which traffic a query is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every interface together, plus imported and migrated history.
    All,
    /// One monitored interface.
    Interface(String),
}

impl Scope {
    fn name(&self) -> &str {
        match self {
            Scope::All => ALL_SCOPE_NAME,
            Scope::Interface(name) => name,
        }
    }
}

/// The size of a series' buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    Hour,
    Day,
    Month,
}

/// One bucket of a series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Point {
    /// "YYYY-MM-DD HH:00", "YYYY-MM-DD" or "YYYY-MM" in local time.
    pub label: String,
    /// The UTC second at which the bucket starts.
    pub start: i64,
    pub bytes: UpDown,
}

/// A remote address's bytes over a range of days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteTotal {
    pub addr: IpAddr,
    pub bytes: UpDown,
}

/// The first instant (UTC second) of a local date. A date jiff cannot place (beyond year 9999)
/// maps to the end of time, so ranges stay ordered.
pub fn day_start(zone: &Zone, date: Date) -> i64 {
    date.to_zoned_datetime(zone.time_zone().clone())
        .and_then(|zoned| zoned.start_of_day())
        .map_or(i64::MAX, |start| start.timestamp().as_second())
}

/// The scope id of `name`, assigning the next free one in `txn` when it is new.
pub(crate) fn scope_id_for_write(
    txn: &redb::WriteTransaction,
    name: &str,
) -> Result<u32, StoreError> {
    let mut scopes = txn.open_table(SCOPES).map_err(StoreError::io)?;
    if let Some(id) = scopes.get(name).map_err(StoreError::io)? {
        return Ok(id.value());
    }
    let mut next = ALL_SCOPE + 1;
    for entry in scopes.iter().map_err(StoreError::io)? {
        let (_, id) = entry.map_err(StoreError::io)?;
        next = next.max(id.value().saturating_add(1));
    }
    scopes.insert(name, next).map_err(StoreError::io)?;
    Ok(next)
}

/// Live counts not yet in the file.
#[derive(Clone, Debug, Default)]
struct Overlay {
    /// Scope name (`""` for all) → hour → bytes.
    hours: HashMap<String, BTreeMap<HourStart, UpDown>>,
    /// Interface → day → address → bytes.
    remotes: HashMap<String, BTreeMap<Date, HashMap<IpAddr, UpDown>>>,
}

fn minus(now: UpDown, taken: UpDown) -> UpDown {
    UpDown {
        up: now.up.saturating_sub(taken.up),
        down: now.down.saturating_sub(taken.down),
    }
}

impl Overlay {
    fn new(view: &LiveView, committed: &Committed, now: i64) -> Overlay {
        let mut overlay = Overlay::default();
        let latest = now.saturating_add(3600);
        let mut scopes: Vec<&str> = vec![ALL_SCOPE_NAME];
        scopes.extend(view.interfaces.iter().map(|(name, _)| name.as_str()));
        for scope in scopes {
            let mut pending = BTreeMap::new();
            for (hour, bytes) in view.hours_of(scope) {
                // What the persister refuses to store is not history either.
                if hour < PLAUSIBLE_FROM || hour > latest || committed.refused.contains(&hour) {
                    continue;
                }
                let taken = committed
                    .hours
                    .get(&(scope.to_string(), hour))
                    .copied()
                    .unwrap_or_default();
                let left = minus(bytes, taken);
                if left != UpDown::default() {
                    pending.insert(hour, left);
                }
            }
            overlay.hours.insert(scope.to_string(), pending);
        }
        for (name, snapshot) in &view.interfaces {
            let days = overlay.remotes.entry(name.clone()).or_default();
            for (date, entries) in &snapshot.remotes {
                let taken = committed.remotes.get(&(name.clone(), *date));
                let day = days.entry(*date).or_default();
                for entry in entries {
                    let before = taken
                        .and_then(|t| t.get(&entry.addr))
                        .copied()
                        .unwrap_or_default();
                    let left = minus(entry.bytes, before);
                    if left != UpDown::default() {
                        *day.entry(entry.addr).or_default() += left;
                    }
                }
            }
        }
        overlay
    }
}

impl Store {
    /// A consistent view for queries: the file as of the last commit plus what memory (`view`) has
    /// counted since.
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn read(&self, view: &LiveView) -> Result<ReadView, StoreError> {
        let committed = self.committed();
        let txn = self.begin_read()?;
        let overlay = Overlay::new(view, &committed, unix_now());
        drop(committed);
        Ok(ReadView {
            txn,
            overlay,
            zone: self.zone().clone(),
        })
    }

    /// The file alone, without live counts (for tools that run beside no capture).
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn read_stored(&self) -> Result<ReadView, StoreError> {
        self.read(&LiveView::default())
    }
}

/// One consistent snapshot to answer queries from.
pub struct ReadView {
    txn: ReadTransaction,
    overlay: Overlay,
    zone: Zone,
}

impl std::fmt::Debug for ReadView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadView").finish_non_exhaustive()
    }
}

impl ReadView {
    fn hours_table(&self) -> Result<Option<ReadOnlyTable<HourKey, Counts>>, StoreError> {
        match self.txn.open_table(HOURS) {
            Ok(table) => Ok(Some(table)),
            Err(TableError::TableDoesNotExist(_)) => Ok(None),
            Err(error) => Err(StoreError::io(error)),
        }
    }

    /// Ids of every scope, or of the named one (`None` when it has never been stored).
    fn scope_ids(&self, scope: &Scope) -> Result<Vec<(String, u32)>, StoreError> {
        let table = match self.txn.open_table(SCOPES) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(error) => return Err(StoreError::io(error)),
        };
        match scope {
            Scope::All => {
                let mut ids = Vec::new();
                for entry in table.iter().map_err(StoreError::io)? {
                    let (name, id) = entry.map_err(StoreError::io)?;
                    ids.push((name.value().to_string(), id.value()));
                }
                Ok(ids)
            }
            Scope::Interface(name) => Ok(table
                .get(name.as_str())
                .map_err(StoreError::io)?
                .map(|id| vec![(name.clone(), id.value())])
                .unwrap_or_default()),
        }
    }

    /// Stored plus live bytes of every hour of `scope` starting in `[from, until)`.
    fn hours(
        &self,
        scope: &Scope,
        from: i64,
        until: i64,
    ) -> Result<BTreeMap<HourStart, UpDown>, StoreError> {
        let mut hours = BTreeMap::new();
        if from >= until {
            return Ok(hours);
        }
        let id = match scope {
            Scope::All => Some(ALL_SCOPE),
            Scope::Interface(_) => self.scope_ids(scope)?.first().map(|(_, id)| *id),
        };
        if let (Some(id), Some(table)) = (id, self.hours_table()?) {
            let range = table
                .range(
                    Hour {
                        scope: id,
                        start: from,
                    }..Hour {
                        scope: id,
                        start: until,
                    },
                )
                .map_err(StoreError::io)?;
            for entry in range {
                let (key, value) = entry.map_err(StoreError::io)?;
                hours.insert(key.value().start, value.value());
            }
        }
        if let Some(live) = self.overlay.hours.get(scope.name()) {
            for (hour, bytes) in live.range(from..until) {
                *hours.entry(*hour).or_default() += *bytes;
            }
        }
        Ok(hours)
    }

    /// Bucket boundaries for `first..=last` by `granularity`, with each bucket's label.
    fn buckets(
        &self,
        first: Date,
        last: Date,
        granularity: Granularity,
    ) -> (Vec<i64>, Vec<String>) {
        let zone = &self.zone;
        let end = last.tomorrow().map_or(i64::MAX, |d| day_start(zone, d));
        let mut starts = Vec::new();
        let mut labels = Vec::new();
        match granularity {
            Granularity::Hour => {
                let mut hour = day_start(zone, first);
                while hour < end {
                    starts.push(hour);
                    labels.push(zone.hour_label(hour));
                    let next = zone.hour_start(hour.saturating_add(3600));
                    hour = if next > hour {
                        next
                    } else {
                        hour.saturating_add(3600)
                    };
                }
            }
            Granularity::Day => {
                let mut date = first;
                while date <= last {
                    starts.push(day_start(zone, date));
                    labels.push(date.to_string());
                    match date.tomorrow() {
                        Ok(next) => date = next,
                        Err(_) => break,
                    }
                }
            }
            Granularity::Month => {
                let mut date = first;
                while date <= last {
                    starts.push(day_start(zone, date));
                    labels.push(format!("{:04}-{:02}", date.year(), date.month()));
                    match date
                        .first_of_month()
                        .checked_add(jiff::Span::new().months(1))
                    {
                        Ok(next) => date = next,
                        Err(_) => break,
                    }
                }
            }
        }
        starts.push(end);
        (starts, labels)
    }

    /// A zero-filled series over the local dates `first..=last`.
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn series(
        &self,
        scope: &Scope,
        first: Date,
        last: Date,
        granularity: Granularity,
    ) -> Result<Vec<Point>, StoreError> {
        if last < first {
            return Ok(Vec::new());
        }
        let (bounds, labels) = self.buckets(first, last, granularity);
        let from = bounds[0];
        let until = bounds[bounds.len() - 1];
        let hours = self.hours(scope, from, until)?;
        let mut points: Vec<Point> = labels
            .into_iter()
            .zip(&bounds)
            .map(|(label, start)| Point {
                label,
                start: *start,
                bytes: UpDown::default(),
            })
            .collect();
        for (hour, bytes) in hours {
            // The bucket whose start is the last one at or before the hour.
            let index = bounds.partition_point(|start| *start <= hour);
            if let Some(point) = index.checked_sub(1).and_then(|i| points.get_mut(i)) {
                point.bytes += bytes;
            }
        }
        Ok(points)
    }

    /// Up and down bytes over the local dates `first..=last`.
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn totals(&self, scope: &Scope, first: Date, last: Date) -> Result<UpDown, StoreError> {
        if last < first {
            return Ok(UpDown::default());
        }
        let from = day_start(&self.zone, first);
        let until = last
            .tomorrow()
            .map_or(i64::MAX, |d| day_start(&self.zone, d));
        let mut total = UpDown::default();
        for bytes in self.hours(scope, from, until)?.values() {
            total += *bytes;
        }
        Ok(total)
    }

    /// The first and last local day with any traffic, stored or live.
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn data_range(&self, scope: &Scope) -> Result<Option<(Date, Date)>, StoreError> {
        let mut first: Option<HourStart> = None;
        let mut last: Option<HourStart> = None;
        let id = match scope {
            Scope::All => Some(ALL_SCOPE),
            Scope::Interface(_) => self.scope_ids(scope)?.first().map(|(_, id)| *id),
        };
        if let (Some(id), Some(table)) = (id, self.hours_table()?) {
            let mut range = table
                .range(
                    Hour {
                        scope: id,
                        start: i64::MIN,
                    }..=Hour {
                        scope: id,
                        start: i64::MAX,
                    },
                )
                .map_err(StoreError::io)?;
            if let Some(entry) = range.next() {
                first = Some(entry.map_err(StoreError::io)?.0.value().start);
            }
            if let Some(entry) = range.next_back() {
                last = Some(entry.map_err(StoreError::io)?.0.value().start);
            } else {
                last = first;
            }
        }
        if let Some(live) = self.overlay.hours.get(scope.name()) {
            if let Some((hour, _)) = live.first_key_value() {
                first = Some(first.map_or(*hour, |f| f.min(*hour)));
            }
            if let Some((hour, _)) = live.last_key_value() {
                last = Some(last.map_or(*hour, |l| l.max(*hour)));
            }
        }
        Ok(first
            .zip(last)
            .map(|(f, l)| (self.zone.date_of(f), self.zone.date_of(l))))
    }

    /// The `limit` heaviest remote addresses over the local dates `first..=last`.
    ///
    /// Per day only the heaviest `TOP_IPS_PER_DAY` addresses are kept, so an address that was
    /// below that cut on some days counts only its kept days.
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn top_remotes(
        &self,
        scope: &Scope,
        first: Date,
        last: Date,
        limit: usize,
    ) -> Result<Vec<RemoteTotal>, StoreError> {
        let mut sums: HashMap<IpAddr, UpDown> = HashMap::new();
        if last < first {
            return Ok(Vec::new());
        }
        let table = match self.txn.open_table(DAY_REMOTES) {
            Ok(table) => Some(table),
            Err(TableError::TableDoesNotExist(_)) => None,
            Err(error) => return Err(StoreError::io(error)),
        };
        if let Some(table) = table {
            for (_, id) in self.scope_ids(scope)? {
                let range = table
                    .range::<Day>(
                        Day {
                            scope: id,
                            date: first,
                        }..=Day {
                            scope: id,
                            date: last,
                        },
                    )
                    .map_err(StoreError::io)?;
                for entry in range {
                    let (_, value) = entry.map_err(StoreError::io)?;
                    let list = decode_remotes(value.value()).ok_or_else(|| StoreError::Io {
                        why: "a stored list of remote addresses is damaged".into(),
                    })?;
                    for RemoteBytes { addr, bytes } in list {
                        *sums.entry(addr).or_default() += bytes;
                    }
                }
            }
        }
        for (name, days) in &self.overlay.remotes {
            if matches!(scope, Scope::Interface(wanted) if wanted != name) {
                continue;
            }
            for (_, addresses) in days.range(first..=last) {
                for (addr, bytes) in addresses {
                    *sums.entry(*addr).or_default() += *bytes;
                }
            }
        }
        let mut list: Vec<RemoteBytes> = sums
            .into_iter()
            .map(|(addr, bytes)| RemoteBytes { addr, bytes })
            .collect();
        super::schema::keep_heaviest(&mut list, limit);
        Ok(list
            .into_iter()
            .map(|r| RemoteTotal {
                addr: r.addr,
                bytes: r.bytes,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_start_at_their_first_local_instant() {
        let berlin = Zone::named("Europe/Berlin").expect("zone");
        // 2024-03-31 00:00 CET = 2024-03-30 23:00 UTC = 1711839600.
        assert_eq!(
            day_start(&berlin, Date::constant(2024, 3, 31)),
            1_711_839_600
        );
        // The next day starts 23 hours later (02:00 → 03:00 was skipped).
        assert_eq!(
            day_start(&berlin, Date::constant(2024, 4, 1)) - 1_711_839_600,
            23 * 3600
        );
        assert_eq!(day_start(&Zone::utc(), Date::constant(1970, 1, 2)), 86_400);
    }
}
