//! The read side: series, totals, the span of stored days and the heaviest remote addresses, for a
//! range of local dates, each with what memory has counted and not committed yet.
//!
//! Days and months are local calendar days and months in the store's zone: a day runs from the
//! first instant of its date to the first instant of the next (23 or 25 hours across a DST change),
//! and a bucket takes every stored hour that starts inside it. Every series is zero-filled. A
//! [`ReadView`] pairs one read snapshot of the file with the persister's marks of the same commit,
//! so the live part is added exactly once.

use std::borrow::Cow;
use std::cell::{Ref, RefCell};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use jiff::civil::Date;
use redb::{ReadTransaction, ReadableTable, TableDefinition, TableError, TableHandle};

use super::days::day_start;
use super::months;
use super::overlay::{Committed, LiveView, PLAUSIBLE_FROM};
use super::schema::{
    ALL_SCOPE, ALL_SCOPE_NAME, Addresses, DAY_DEVICE_LABELS, DAY_DEVICE_REMOTES, DAY_DEVICES,
    DAY_SERVICES, Day, DayKey, DeviceDay, HOURS, Hour, MONTH_DEVICE_REMOTES, MONTH_DEVICES,
    MONTHS_SUMMED, SCOPES, StoredLabel, decode_services, find_in_remotes, find_labels,
};
use super::set_aside::{day_in_words, skipped_on_read};
use super::tally::{Summed, Tally};
use super::{Published, Shared, Store, StoreError};
use crate::clock::unix_now;
use crate::clock::{HourStart, Zone};
use crate::count::{ByService, UpDown};

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

impl Store {
    /// The interfaces the history holds hours of, as of the last commit, sorted by name: those
    /// monitored once and perhaps not now (an interface renamed by a system update).
    pub fn interfaces_with_history(&self) -> Vec<String> {
        self.shared().published().days.interface_names()
    }

    /// A consistent view for queries: the history as of the last commit plus what memory (`view`,
    /// borrowed or handed over) has counted since. Costs a lock and a reference count: nothing is
    /// copied, and queries take from `view` only the hours and days they ask about.
    ///
    /// # Errors
    /// None today (days are in memory, and the file is opened by the queries that need it); kept
    /// so callers already handle a read that fails.
    pub fn read<'a>(&self, view: impl Into<Cow<'a, LiveView>>) -> Result<ReadView<'a>, StoreError> {
        let shared = Arc::clone(self.shared());
        let published = shared.published();
        Ok(ReadView {
            live: view.into(),
            now: unix_now(),
            shared,
            state: RefCell::new(State {
                published,
                txn: None,
            }),
            live_memo: RefCell::new(None),
        })
    }

    /// The history alone, without live counts (for tools that run beside no capture).
    ///
    /// # Errors
    /// As [`Store::read`].
    pub fn read_stored(&self) -> Result<ReadView<'static>, StoreError> {
        static NOTHING_LIVE: LiveView = LiveView {
            interfaces: Vec::new(),
        };
        self.read(&NOTHING_LIVE)
    }
}

/// The published state a view answers from, and the file's read transaction of that same state
/// once a query has needed the file.
struct State {
    published: Arc<Published>,
    txn: Option<ReadTransaction>,
}

/// One consistent view to answer queries from.
///
/// Days, months, years and totals come from the day sums in memory; hourly series and remote
/// addresses read the file. The file is opened by the first query that needs it; if a commit was
/// published since the view was made, the view moves to that newer state as a whole (days, marks
/// and file together), so every answer is consistent on its own.
pub struct ReadView<'a> {
    live: Cow<'a, LiveView>,
    now: i64,
    shared: Arc<Shared>,
    state: RefCell<State>,
    /// The last scope's uncommitted hours: one answer often sums several ranges of the same
    /// scope (`/api/summary`: today, month, year and the billing cycle), and each hour costs two
    /// hash lookups against the commit marks.
    live_memo: RefCell<Option<LiveMemo>>,
}

/// Every uncommitted hour of one scope, as [`ReadView::live_hours`] keeps them for the next call.
struct LiveMemo {
    published: Arc<Published>,
    scope: Scope,
    hours: Arc<[(HourStart, UpDown)]>,
}

/// The hours of a [`LiveMemo`] within a range.
struct LiveHours {
    all: Arc<[(HourStart, UpDown)]>,
    within: std::ops::Range<usize>,
}

impl LiveHours {
    fn iter(&self) -> impl Iterator<Item = (HourStart, UpDown)> + '_ {
        self.all
            .get(self.within.clone())
            .unwrap_or(&[])
            .iter()
            .copied()
    }
}

impl std::fmt::Debug for ReadView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadView").finish_non_exhaustive()
    }
}

fn is_zero(bytes: UpDown) -> bool {
    bytes == UpDown::default()
}

/// Where each bucket of a series starts: its first local date and its first instant, plus one
/// more entry where the last bucket ends.
struct Bounds {
    dates: Vec<Date>,
    starts: Vec<i64>,
    labels: Vec<String>,
}

impl Bounds {
    /// The bucket holding instant `at`, if any.
    fn by_instant(&self, at: i64) -> Option<usize> {
        let after = self.starts.partition_point(|start| *start <= at);
        after
            .checked_sub(1)
            .filter(|index| *index < self.labels.len())
    }

    fn points(&self) -> Vec<Point> {
        self.labels
            .iter()
            .zip(&self.starts)
            .map(|(label, start)| Point {
                label: label.clone(),
                start: *start,
                bytes: UpDown::default(),
            })
            .collect()
    }
}

impl ReadView<'_> {
    /// The zone whose local hours, days and months this view answers in.
    pub fn zone(&self) -> &Zone {
        &self.shared.zone
    }

    fn published(&self) -> Arc<Published> {
        Arc::clone(&self.state.borrow().published)
    }

    /// The file's read transaction, opened on first use, with the published state it belongs to.
    fn file(&self) -> Result<Ref<'_, State>, StoreError> {
        if self.state.borrow().txn.is_none() {
            let (txn, published) = self.shared.begin_read()?;
            let mut state = self.state.borrow_mut();
            state.published = published;
            state.txn = Some(txn);
        }
        Ok(self.state.borrow())
    }

    /// The live counts of the interfaces `scope` takes in.
    fn live_in_scope<'s>(
        &'s self,
        scope: &'s Scope,
    ) -> impl Iterator<Item = (&'s String, &'s crate::count::live::LiveSnapshot)> {
        self.live
            .interfaces
            .iter()
            .filter(move |(name, _)| !matches!(scope, Scope::Interface(wanted) if wanted != name))
            .map(|(name, snapshot)| (name, snapshot))
    }

    /// Each value `table` stores for the days `first..=last` of `scope` (every stored scope's
    /// for [`Scope::All`]), scope by scope, oldest day first; nothing when the file was written
    /// before the table existed. `each` answers `false` for a value it cannot read: that day is
    /// left out, with one warning ([`skipped_on_read`]).
    fn each_stored_day(
        &self,
        table: TableDefinition<'static, DayKey, &'static [u8]>,
        scope: &Scope,
        first: Date,
        last: Date,
        mut each: impl FnMut(Date, &[u8]) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let name = table.name();
        let state = self.file()?;
        let published = &state.published;
        let table = match state.txn.as_ref().map(|txn| txn.open_table(table)) {
            Some(Ok(table)) => table,
            None | Some(Err(TableError::TableDoesNotExist(_))) => return Ok(()),
            Some(Err(error)) => return Err(StoreError::io(error)),
        };
        let ids = Self::ids_of(published, scope);
        for id in ids {
            let range = table
                .range(Day::span(id, first, last))
                .map_err(StoreError::io)?;
            for entry in range {
                let (key, value) = entry.map_err(StoreError::io)?;
                let date = key.value().date;
                if !each(date, value.value())? {
                    skipped_on_read(name, day_words(published, id, date));
                }
            }
        }
        Ok(())
    }

    /// [`ReadView::each_stored_day`] of `day_devices`, but a summed month of `plan`
    /// ([`ReadView::device_plan`]) is handed over as its one month list when it has one
    /// ([`super::months`]); a month list `each` cannot read is replaced by the month's days.
    fn each_device_list(
        &self,
        scope: &Scope,
        (first, last): (Date, Date),
        plan: &[(u32, Date, Date, bool)],
        mut each: impl FnMut(Listed, &[u8]) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let state = self.file()?;
        let published = &state.published;
        let txn = state.txn.as_ref();
        let Some(days) = open_if_there(txn, DAY_DEVICES)? else {
            return Ok(());
        };
        let months = open_if_there(txn, MONTH_DEVICES)?;
        for id in Self::ids_of(published, scope) {
            // The whole months handed over as one list, in date order.
            let mut taken: Vec<(Date, Date)> = Vec::new();
            if let Some(months) = &months {
                for (_, month, end, _) in plan.iter().filter(|p| p.0 == id && p.3) {
                    let key = Day {
                        scope: id,
                        date: *month,
                    };
                    if let Some(value) = months.get(key).map_err(StoreError::io)?
                        && each(Listed::Month(*month), value.value())?
                    {
                        taken.push((*month, *end));
                    }
                }
            }
            let range = days
                .range(Day::span(id, first, last))
                .map_err(StoreError::io)?;
            let mut taken = taken.into_iter().peekable();
            for entry in range {
                let (key, value) = entry.map_err(StoreError::io)?;
                let date = key.value().date;
                while taken.peek().is_some_and(|(_, end)| *end < date) {
                    taken.next();
                }
                if taken.peek().is_some_and(|(month, _)| *month <= date) {
                    continue;
                }
                if !each(Listed::Day(date), value.value())? {
                    skipped_on_read(DAY_DEVICES.name(), day_words(published, id, date));
                }
            }
        }
        Ok(())
    }

    /// The [`ReadView::plan`] of `day_devices` over `first..=last`, made once for both passes
    /// of a range read: which months [`ReadView::each_device_list`] hands over whole, and (its
    /// length) about how many lists come, for [`Tally::for_lists`], which would reserve far too
    /// much room if told of days where months of 4,096 come.
    fn device_plan(
        &self,
        scope: &Scope,
        first: Date,
        last: Date,
    ) -> Result<Vec<(u32, Date, Date, bool)>, StoreError> {
        let state = self.file()?;
        let marks = open_if_there(state.txn.as_ref(), MONTHS_SUMMED)?;
        self.plan(&state.published, marks.as_ref(), scope, first, last)
    }

    /// The stored ids `scope` reads: every scope's for [`Scope::All`].
    fn ids_of(published: &Published, scope: &Scope) -> Vec<u32> {
        match scope {
            Scope::All => published.days.scope_ids().collect(),
            Scope::Interface(_) => Self::scope_id(published, scope).into_iter().collect(),
        }
    }

    /// What a range over month-summed lists reads ([`super::months`]), scope by scope, oldest
    /// first: each stored day as `(id, day, day, false)`, but a month the range covers whole and
    /// that is summed as `(id, its first day, its last day, true)`.
    fn plan(
        &self,
        published: &Published,
        marks: Option<&redb::ReadOnlyTable<DayKey, u32>>,
        scope: &Scope,
        first: Date,
        last: Date,
    ) -> Result<Vec<(u32, Date, Date, bool)>, StoreError> {
        let mut plan = Vec::new();
        for id in Self::ids_of(published, scope) {
            // Only stored days are looked at: a day with any list has hours.
            let stored = published.days.range(id, first, last);
            let mut at = 0;
            while let Some(day) = stored.get(at) {
                let (month, end) = (day.date.first_of_month(), day.date.last_of_month());
                let until = at + stored[at..].partition_point(|d| d.date <= end);
                let summed = match marks {
                    Some(marks) if first <= month && end <= last => {
                        months::is_summed(marks, id, month)?
                    }
                    _ => false,
                };
                if summed {
                    plan.push((id, month, end, true));
                } else {
                    plan.extend(
                        stored[at..until]
                            .iter()
                            .map(|d| (id, d.date, d.date, false)),
                    );
                }
                at = until;
            }
        }
        Ok(plan)
    }

    /// How many days of `first..=last` have stored hours in `scope` (in each of its interfaces
    /// for [`Scope::All`]): about how many day lists a range query will read.
    fn stored_days(&self, scope: &Scope, first: Date, last: Date) -> usize {
        let published = self.published();
        match scope {
            Scope::All => published
                .days
                .scope_ids()
                .map(|id| published.days.range(id, first, last).len())
                .sum(),
            Scope::Interface(_) => Self::scope_id(&published, scope)
                .map_or(0, |id| published.days.range(id, first, last).len()),
        }
    }

    /// The stored id of `scope`, `None` when the file has never stored it.
    fn scope_id(published: &Published, scope: &Scope) -> Option<u32> {
        match scope {
            Scope::All => Some(ALL_SCOPE),
            Scope::Interface(name) => published.days.scope_id(name),
        }
    }

    /// What memory holds for `scope` in hours starting in `[from, until)` and the last commit has
    /// not taken, in hour order, without the hours the persister will never store.
    fn live_hours(
        &self,
        published: &Arc<Published>,
        scope: &Scope,
        from: i64,
        until: i64,
    ) -> LiveHours {
        let all = self.all_live_hours(published, scope);
        let first = all.partition_point(|(hour, _)| *hour < from);
        let end = all.partition_point(|(hour, _)| *hour < until).max(first);
        LiveHours {
            all,
            within: first..end,
        }
    }

    /// Every uncommitted hour of `scope`, remembered for the next call with the same state.
    fn all_live_hours(
        &self,
        published: &Arc<Published>,
        scope: &Scope,
    ) -> Arc<[(HourStart, UpDown)]> {
        if let Some(memo) = self.live_memo.borrow().as_ref()
            && Arc::ptr_eq(&memo.published, published)
            && memo.scope == *scope
        {
            return Arc::clone(&memo.hours);
        }
        let hours: Arc<[(HourStart, UpDown)]> =
            self.uncommitted_hours(&published.marks, scope).into();
        *self.live_memo.borrow_mut() = Some(LiveMemo {
            published: Arc::clone(published),
            scope: scope.clone(),
            hours: Arc::clone(&hours),
        });
        hours
    }

    /// Every hour memory holds for `scope` that the last commit has not taken, in hour order,
    /// without the hours the persister will never store.
    fn uncommitted_hours(&self, marks: &Committed, scope: &Scope) -> Vec<(HourStart, UpDown)> {
        let from = PLAUSIBLE_FROM;
        let until = self.now.saturating_add(3600).saturating_add(1);
        let mut hours: Vec<(HourStart, UpDown)> = Vec::new();
        if from >= until {
            return hours;
        }
        for (_, snapshot) in self.live_in_scope(scope) {
            hours.extend(snapshot.hours.range(from..until).map(|(h, b)| (*h, *b)));
        }
        if self.live.interfaces.len() > 1 {
            hours.sort_unstable_by_key(|(hour, _)| *hour);
            hours.dedup_by(|later, earlier| {
                if later.0 == earlier.0 {
                    earlier.1 += later.1;
                    true
                } else {
                    false
                }
            });
        }
        let taken = marks.hours.get(scope.name());
        hours.retain_mut(|(hour, bytes)| {
            if marks.refused.contains(hour) {
                return false;
            }
            if let Some(before) = taken.and_then(|t| t.get(hour)) {
                *bytes = *bytes - *before;
            }
            !is_zero(*bytes)
        });
        hours
    }

    /// Bucket boundaries for `first..=last` by `granularity`, with each bucket's label.
    fn bounds(&self, first: Date, last: Date, granularity: Granularity) -> Bounds {
        let zone = self.zone();
        let after = last.tomorrow().ok();
        let end = after.map_or(i64::MAX, |d| day_start(zone, d));
        let mut bounds = Bounds {
            dates: Vec::new(),
            starts: Vec::new(),
            labels: Vec::new(),
        };
        match granularity {
            Granularity::Hour => {
                let mut hour = day_start(zone, first);
                while hour < end {
                    bounds.starts.push(hour);
                    bounds.labels.push(zone.hour_label(hour));
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
                    bounds.dates.push(date);
                    bounds.starts.push(day_start(zone, date));
                    bounds.labels.push(date.to_string());
                    match date.tomorrow() {
                        Ok(next) => date = next,
                        Err(_) => break,
                    }
                }
            }
            Granularity::Month => {
                let mut date = first;
                while date <= last {
                    bounds.dates.push(date);
                    bounds.starts.push(day_start(zone, date));
                    bounds
                        .labels
                        .push(format!("{:04}-{:02}", date.year(), date.month()));
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
        bounds.dates.push(after.unwrap_or(Date::MAX));
        bounds.starts.push(end);
        bounds
    }

    /// Stored hours of scope `id` starting in `[from, until)`, from the file.
    fn stored_hours(
        txn: &ReadTransaction,
        id: u32,
        from: i64,
        until: i64,
    ) -> Result<Vec<(HourStart, UpDown)>, StoreError> {
        let table = match txn.open_table(HOURS) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(error) => return Err(StoreError::io(error)),
        };
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
        let mut hours = Vec::new();
        for entry in range {
            let (key, value) = entry.map_err(StoreError::io)?;
            hours.push((key.value().start, value.value()));
        }
        Ok(hours)
    }

    /// A zero-filled series over the local dates `first..=last`.
    ///
    /// # Errors
    /// When the file cannot be read (hourly series only; days and months are in memory).
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
        let bounds = self.bounds(first, last, granularity);
        let from = bounds.starts[0];
        let until = bounds.starts[bounds.starts.len() - 1];
        let mut points = bounds.points();
        let published = if granularity == Granularity::Hour {
            let state = self.file()?;
            if let (Some(id), Some(txn)) =
                (Self::scope_id(&state.published, scope), state.txn.as_ref())
            {
                for (hour, bytes) in Self::stored_hours(txn, id, from, until)? {
                    if let Some(point) = bounds.by_instant(hour).and_then(|i| points.get_mut(i)) {
                        point.bytes += bytes;
                    }
                }
            }
            Arc::clone(&state.published)
        } else {
            let published = self.published();
            if let Some(id) = Self::scope_id(&published, scope) {
                // Both sorted by date: one walk, each day into the last bucket starting at or
                // before it.
                let mut bucket = 0;
                for day in published.days.range(id, first, last) {
                    while bounds.dates[bucket + 1] <= day.date {
                        bucket += 1;
                    }
                    if let Some(point) = points.get_mut(bucket) {
                        point.bytes += day.bytes;
                    }
                }
            }
            published
        };
        for (hour, bytes) in self.live_hours(&published, scope, from, until).iter() {
            if let Some(point) = bounds.by_instant(hour).and_then(|i| points.get_mut(i)) {
                point.bytes += bytes;
            }
        }
        Ok(points)
    }

    /// Up and down bytes over the local dates `first..=last`.
    ///
    /// # Errors
    /// None today (kept for a future that reads the file here).
    pub fn totals(&self, scope: &Scope, first: Date, last: Date) -> Result<UpDown, StoreError> {
        if last < first {
            return Ok(UpDown::default());
        }
        let from = day_start(self.zone(), first);
        let until = last
            .tomorrow()
            .map_or(i64::MAX, |d| day_start(self.zone(), d));
        self.totals_within(scope, first, last, from, until)
    }

    /// [`ReadView::totals`] for a caller that knows the instants already: `from` must be the
    /// first instant of `first` and `until` that of the day after `last` (a billing cycle's
    /// start and end), which saves the two time-zone conversions.
    ///
    /// # Errors
    /// As [`ReadView::totals`].
    pub fn totals_within(
        &self,
        scope: &Scope,
        first: Date,
        last: Date,
        from: i64,
        until: i64,
    ) -> Result<UpDown, StoreError> {
        if last < first {
            return Ok(UpDown::default());
        }
        let published = self.published();
        let mut total = UpDown::default();
        if let Some(id) = Self::scope_id(&published, scope) {
            for day in published.days.range(id, first, last) {
                total += day.bytes;
            }
        }
        for (_, bytes) in self.live_hours(&published, scope, from, until).iter() {
            total += bytes;
        }
        Ok(total)
    }

    /// The first and last local day with any traffic, stored or live, among the days the history
    /// holds ([`super::FIRST_DAY`] to [`super::LAST_DAY`], the dates the API accepts): hours a
    /// file written before that limit keeps outside it are never handed out as a range.
    ///
    /// # Errors
    /// None today (kept for a future that reads the file here).
    pub fn data_range(&self, scope: &Scope) -> Result<Option<(Date, Date)>, StoreError> {
        let published = self.published();
        let stored = Self::scope_id(&published, scope).and_then(|id| {
            let held = published.days.range(id, super::FIRST_DAY, super::LAST_DAY);
            Some((held.first()?.date, held.last()?.date))
        });
        let live = self.all_live_hours(&published, scope);
        let live = live
            .first()
            .zip(live.last())
            .map(|(f, l)| (self.zone().date_of(f.0), self.zone().date_of(l.0)));
        Ok(match (stored, live) {
            (Some((f1, l1)), Some((f2, l2))) => Some((f1.min(f2), l1.max(l2))),
            (one, other) => one.or(other),
        })
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
        Ok(totals(self.top_addresses(
            Addresses::Remotes,
            scope,
            first,
            last,
            limit,
        )?))
    }

    /// The heaviest local addresses (devices) over the local days `first..=last`, as
    /// [`ReadView::top_remotes`] for remote ones (`DEVICES_PER_DAY` kept per day). A closed month
    /// the range covers whole whose days hold more than [`super::months::DEVICES_PER_MONTH`]
    /// devices counts that many heaviest of the month once it is summed ([`super::months`]).
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn top_devices(
        &self,
        scope: &Scope,
        first: Date,
        last: Date,
        limit: usize,
    ) -> Result<Vec<RemoteTotal>, StoreError> {
        Ok(totals(self.top_addresses(
            Addresses::Devices,
            scope,
            first,
            last,
            limit,
        )?))
    }

    /// [`ReadView::top_devices`], each with the last day of the range it was seen on (for
    /// [`ReadView::device_labels`]; a month list keeps each device's last day).
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn top_devices_seen(
        &self,
        scope: &Scope,
        first: Date,
        last: Date,
        limit: usize,
    ) -> Result<Vec<Summed>, StoreError> {
        self.top_addresses(Addresses::Devices, scope, first, last, limit)
    }

    /// How the devices `wanted` (as [`ReadView::top_devices_seen`] lists them, each with the last
    /// day of `first..=last` it was seen on) were shown: per address, the label of the last day
    /// that stored one.
    ///
    /// A day stores labels only for the devices of its own list, written in the same commit
    /// (`persister::store_labels`), so no day after a device's last day holds its label: the
    /// label is looked up on that day first, and only a device without one there is looked for
    /// on the days before it, newest first, until found. Over ten years of 256 devices a day
    /// that is 20 lookups instead of decoding 934,000 labels (`benches/store.rs`).
    ///
    /// # Errors
    /// When the file cannot be read. A stored list that cannot be read is left out.
    pub fn device_labels(
        &self,
        scope: &Scope,
        first: Date,
        last: Date,
        wanted: &[Summed],
    ) -> Result<HashMap<IpAddr, StoredLabel>, StoreError> {
        let mut labels: HashMap<IpAddr, (Date, StoredLabel)> = HashMap::new();
        if last < first || wanted.is_empty() {
            return Ok(HashMap::new());
        }
        let state = self.file()?;
        let published = &state.published;
        let table = match state
            .txn
            .as_ref()
            .map(|txn| txn.open_table(DAY_DEVICE_LABELS))
        {
            Some(Ok(table)) => table,
            None | Some(Err(TableError::TableDoesNotExist(_))) => return Ok(HashMap::new()),
            Some(Err(error)) => return Err(StoreError::io(error)),
        };
        let mut ids = Self::ids_of(published, scope);
        ids.sort_unstable();
        // The label of a later day wins; of one day in two interfaces, the first one's (by id,
        // so the answer does not depend on a map's order).
        let keep = |labels: &mut HashMap<IpAddr, (Date, StoredLabel)>, date, label| {
            let StoredLabel { addr, .. } = label;
            match labels.get(&addr) {
                Some((known, _)) if *known >= date => {}
                _ => {
                    labels.insert(addr, (date, label));
                }
            }
        };
        let last_day: HashMap<IpAddr, Date, foldhash::fast::RandomState> = wanted
            .iter()
            .map(|device| (device.addr, device.last))
            .collect();
        let mut last_days: Vec<Date> = wanted
            .iter()
            .map(|device| device.last.clamp(first, last))
            .collect();
        last_days.sort_unstable();
        last_days.dedup();
        for id in &ids {
            for date in &last_days {
                let Some(value) = table
                    .get(Day {
                        scope: *id,
                        date: *date,
                    })
                    .map_err(StoreError::io)?
                else {
                    continue;
                };
                let mut day = Vec::new();
                match find_labels(
                    value.value(),
                    |addr| last_day.get(&addr) == Some(date),
                    |label| day.push(label),
                ) {
                    Some(()) => day.into_iter().for_each(|l| keep(&mut labels, *date, l)),
                    None => {
                        skipped_on_read(DAY_DEVICE_LABELS.name(), day_words(published, *id, *date))
                    }
                }
            }
        }
        // The devices without a label on their last day, by address, with that day.
        let missing: HashMap<IpAddr, Date, foldhash::fast::RandomState> = wanted
            .iter()
            .filter(|device| !labels.contains_key(&device.addr))
            .map(|device| (device.addr, device.last))
            .collect();
        let Some(newest) = missing.values().max().copied() else {
            return Ok(labels.into_iter().map(|(a, (_, l))| (a, l)).collect());
        };
        for id in &ids {
            let mut looking = missing.clone();
            let range = table
                .range(Day::span(*id, first, newest.min(last)))
                .map_err(StoreError::io)?;
            for entry in range.rev() {
                let (key, value) = entry.map_err(StoreError::io)?;
                let date = key.value().date;
                let mut day = Vec::new();
                let readable = find_labels(
                    value.value(),
                    |addr| looking.get(&addr).is_some_and(|seen| *seen >= date),
                    |label| day.push(label),
                );
                if readable.is_none() {
                    skipped_on_read(DAY_DEVICE_LABELS.name(), day_words(published, *id, date));
                    continue;
                }
                for label in day {
                    looking.remove(&label.addr);
                    keep(&mut labels, date, label);
                }
                if looking.is_empty() {
                    break;
                }
            }
        }
        Ok(labels.into_iter().map(|(a, (_, l))| (a, l)).collect())
    }

    /// The `limit` heaviest remote addresses `device` exchanged bytes with over the local days
    /// `first..=last`.
    ///
    /// Per day and interface only the heaviest `TOP_IPS_PER_DAY` (device, remote) pairs are
    /// kept, over all devices together, so a remote address below that cut on some days counts
    /// only its kept days. A closed month the range covers whole, in which the device's days hold
    /// more than [`super::months::REMOTES_PER_DEVICE_MONTH`] pairs, counts the device's that many
    /// heaviest remote addresses of the month once it is summed ([`super::months`]): an address
    /// cut there counts none of that month.
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn top_remotes_of(
        &self,
        scope: &Scope,
        device: IpAddr,
        first: Date,
        last: Date,
        limit: usize,
    ) -> Result<Vec<RemoteTotal>, StoreError> {
        if last < first {
            return Ok(Vec::new());
        }
        let sums = trusted_then_checked(|checked| {
            self.sum_remotes_of(scope, device, first, last, checked)
        })?;
        Ok(totals(sums.heaviest(limit)))
    }

    /// The stored and live sums behind [`ReadView::top_remotes_of`], as
    /// [`trusted_then_checked`] asks for them. A summed month the range covers whole is read as
    /// the device's one month list when it has one ([`super::months`]), every other day by day; a
    /// month list that cannot be read is replaced by its days on the checked pass.
    fn sum_remotes_of(
        &self,
        scope: &Scope,
        device: IpAddr,
        first: Date,
        last: Date,
        checked: bool,
    ) -> Result<Option<Tally>, StoreError> {
        let state = self.file()?;
        let published = &state.published;
        let txn = state.txn.as_ref();
        let days = open_if_there(txn, DAY_DEVICE_REMOTES)?;
        let months = open_if_there(txn, MONTH_DEVICE_REMOTES)?;
        let marks = open_if_there(txn, MONTHS_SUMMED)?;
        let plan = self.plan(published, marks.as_ref(), scope, first, last)?;
        let mut sums = Tally::for_lists(plan.len());
        for (id, from, to, summed) in plan {
            let key = DeviceDay {
                scope: id,
                date: from,
                device,
            };
            let month_list = match (&months, summed) {
                (Some(months), true) => months.get(key).map_err(StoreError::io)?,
                _ => None,
            };
            if let Some(value) = month_list {
                if !checked {
                    if sums.add_list(value.value(), to).is_none() {
                        return Ok(None);
                    }
                    continue;
                }
                if sums.add_whole_list(value.value(), to) {
                    continue;
                }
                // Unreadable: the month's days hold what it was made of.
            }
            // The plan's one day, or each day of a summed month without a readable list.
            let Some(days) = &days else { continue };
            for day in published.days.range(id, from, to) {
                let key = DeviceDay {
                    date: day.date,
                    ..key
                };
                let Some(value) = days.get(key).map_err(StoreError::io)? else {
                    continue;
                };
                if !checked {
                    if sums.add_list(value.value(), day.date).is_none() {
                        return Ok(None);
                    }
                } else if !sums.add_whole_list(value.value(), day.date) {
                    let words = day_words(published, id, day.date);
                    skipped_on_read(
                        DAY_DEVICE_REMOTES.name(),
                        format!("{words} device {device}"),
                    );
                }
            }
        }
        for (name, snapshot) in self.live_in_scope(scope) {
            let taken = published.marks.pairs.get(name);
            for (date, entries) in snapshot.pairs.range(first..=last) {
                let taken = taken.and_then(|days| days.get(date));
                for entry in entries.iter().filter(|e| e.addr.device == device) {
                    let before = taken
                        .and_then(|t| t.get(&entry.addr))
                        .copied()
                        .unwrap_or_default();
                    let left = entry.bytes - before;
                    if !is_zero(left) {
                        sums.add(entry.addr.remote, left, *date);
                    }
                }
            }
        }
        Ok(Some(sums))
    }

    /// `device`'s bytes over the local dates `first..=last` by day or month (zero-filled, as
    /// [`ReadView::series`]), from the stored day lists of devices and what memory holds.
    /// Hours are not kept per device: [`Granularity::Hour`] is answered by day.
    ///
    /// A day keeps its `DEVICES_PER_DAY` heaviest devices, so a device below that cut on some
    /// day has nothing stored for it.
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn device_series(
        &self,
        scope: &Scope,
        device: IpAddr,
        first: Date,
        last: Date,
        granularity: Granularity,
    ) -> Result<Vec<Point>, StoreError> {
        if last < first {
            return Ok(Vec::new());
        }
        let granularity = match granularity {
            Granularity::Hour => Granularity::Day,
            other => other,
        };
        let bounds = self.bounds(first, last, granularity);
        let mut points = bounds.points();
        let buckets = points.len();
        let bucket = |date: Date| {
            bounds
                .dates
                .partition_point(|start| *start <= date)
                .checked_sub(1)
                .filter(|index| *index < buckets)
        };
        let mut add = Vec::new();
        self.each_stored_day(DAY_DEVICES, scope, first, last, |date, value| {
            let Some(found) = find_in_remotes(value, device) else {
                return Ok(false);
            };
            if let Some(bytes) = found {
                add.push((date, bytes));
            }
            Ok(true)
        })?;
        let published = self.published();
        for (name, snapshot) in self.live_in_scope(scope) {
            let taken = published.marks.devices.get(name);
            for (date, entries) in snapshot.devices.range(first..=last) {
                let before = taken
                    .and_then(|days| days.get(date))
                    .and_then(|t| t.get(&device))
                    .copied()
                    .unwrap_or_default();
                for entry in entries.iter().filter(|e| e.addr == device) {
                    let left = entry.bytes - before;
                    if !is_zero(left) {
                        add.push((*date, left));
                    }
                }
            }
        }
        for (date, bytes) in add {
            if let Some(at) = bucket(date) {
                points[at].bytes += bytes;
            }
        }
        Ok(points)
    }

    /// Bytes per service over the local days `first..=last` (stored days plus what memory holds
    /// beyond them).
    ///
    /// # Errors
    /// When the file cannot be read. A stored day that cannot be read is left out.
    pub fn services(
        &self,
        scope: &Scope,
        first: Date,
        last: Date,
    ) -> Result<ByService, StoreError> {
        let mut sums = ByService::default();
        if last < first {
            return Ok(sums);
        }
        self.each_stored_day(DAY_SERVICES, scope, first, last, |_, value| {
            let Some(day) = decode_services(value) else {
                return Ok(false);
            };
            sums += day;
            Ok(true)
        })?;
        let published = self.published();
        for (name, snapshot) in self.live_in_scope(scope) {
            let taken = published.marks.services.get(name);
            for (date, memory) in snapshot.services.range(first..=last) {
                let before = taken
                    .and_then(|days| days.get(date))
                    .copied()
                    .unwrap_or_default();
                sums += *memory - before;
            }
        }
        Ok(sums)
    }

    fn top_addresses(
        &self,
        kind: Addresses,
        scope: &Scope,
        first: Date,
        last: Date,
        limit: usize,
    ) -> Result<Vec<Summed>, StoreError> {
        // Ten years of 256 devices a day are 934,000 entries: see [`Tally`] for why they are not
        // summed in one map and sorted.
        if last < first {
            return Ok(Vec::new());
        }
        let plan = match kind {
            Addresses::Remotes => Vec::new(),
            Addresses::Devices => self.device_plan(scope, first, last)?,
        };
        let lists = match kind {
            Addresses::Remotes => self.stored_days(scope, first, last),
            Addresses::Devices => plan.len(),
        };
        let mut sums = trusted_then_checked(|checked| {
            let mut sums = Tally::for_lists(lists);
            let mut damaged = false;
            let mut add = |listed: Listed, value: &[u8]| {
                Ok(match (listed, checked) {
                    (Listed::Day(date), true) => sums.add_whole_list(value, date),
                    (Listed::Month(month), true) => sums.add_whole_month_list(value, month),
                    (Listed::Day(date), false) => {
                        damaged |= sums.add_list(value, date).is_none();
                        true
                    }
                    (Listed::Month(month), false) => {
                        damaged |= sums.add_month_list(value, month).is_none();
                        true
                    }
                })
            };
            match kind {
                Addresses::Remotes => {
                    self.each_stored_day(kind.table(), scope, first, last, |date, value| {
                        add(Listed::Day(date), value)
                    })?
                }
                Addresses::Devices => self.each_device_list(scope, (first, last), &plan, add)?,
            }
            Ok((!damaged).then_some(sums))
        })?;
        let published = self.published();
        for (name, snapshot) in self.live_in_scope(scope) {
            let (taken, by_day) = match kind {
                Addresses::Remotes => (published.marks.remotes.get(name), &snapshot.remotes),
                Addresses::Devices => (published.marks.devices.get(name), &snapshot.devices),
            };
            for (date, entries) in by_day.range(first..=last) {
                let taken = taken.and_then(|days| days.get(date));
                for entry in entries {
                    let before = taken
                        .and_then(|t| t.get(&entry.addr))
                        .copied()
                        .unwrap_or_default();
                    let left = entry.bytes - before;
                    if !is_zero(left) {
                        sums.add(entry.addr, left, *date);
                    }
                }
            }
        }
        Ok(sums.heaviest(limit))
    }
}

/// A stored list and what it covers: one day's list, or a month list of devices
/// ([`super::months`]) whose entries carry their own days.
#[derive(Clone, Copy)]
enum Listed {
    Day(Date),
    Month(Date),
}

/// Sums of stored lists by `sum(checked)`: first with every list trusted (checking each would
/// decode every entry twice); when `sum` says a list was damaged (`None`: it was partly added),
/// once more with `checked`, where each list is checked before it is added and one that cannot be
/// read is left out with a warning.
fn trusted_then_checked(
    mut sum: impl FnMut(bool) -> Result<Option<Tally>, StoreError>,
) -> Result<Tally, StoreError> {
    match sum(false)? {
        Some(sums) => Ok(sums),
        // A checked pass adds no damaged list, so it always has sums.
        None => Ok(sum(true)?.unwrap_or_default()),
    }
}

/// `table` in the read transaction `txn`; `None` when there is no transaction or the file was
/// written before the table existed.
fn open_if_there<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: Option<&ReadTransaction>,
    table: TableDefinition<'static, K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, StoreError> {
    match txn.map(|txn| txn.open_table(table)) {
        Some(Ok(table)) => Ok(Some(table)),
        None | Some(Err(TableError::TableDoesNotExist(_))) => Ok(None),
        Some(Err(error)) => Err(StoreError::io(error)),
    }
}

/// Scope `id`'s `date` in words, as warnings and `set_aside` name a day.
fn day_words(published: &Published, id: u32, date: Date) -> String {
    day_in_words(published.days.scope_name(id).unwrap_or_default(), date)
}

/// The sums as the API lists them.
fn totals(list: Vec<Summed>) -> Vec<RemoteTotal> {
    list.into_iter()
        .map(|summed| RemoteTotal {
            addr: summed.addr,
            bytes: summed.bytes,
        })
        .collect()
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
