//! The history's days in memory: each scope's bytes per local day, summed from the hourly buckets
//! when the file is opened, and replaced day by day in the same step that publishes a commit.
//!
//! Day, month, year and range queries add up these sums instead of walking ten years of hours in
//! the file (87,600 entries per scope for a monthly chart); the file stays the durable truth and
//! nothing here is ever written to it. Hourly series still read the file, whose hours are not
//! kept here. Memory: one [`DaySum`] (24 bytes) per scope and day with any stored hour, so ten
//! years of one interface (two scopes: the interface, and all interfaces) cost about 171 KiB.
//!
//! A day is a local calendar day of the store's zone and takes every hour that *starts* inside it,
//! the rule the read side applies to live hours too.

use std::collections::{BTreeSet, HashMap};

use jiff::civil::Date;
use redb::ReadableTable;

use super::schema::{Counts, Hour, HourKey};
use crate::clock::{HourStart, Zone};
use crate::count::UpDown;

/// One day's bytes in one scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DaySum {
    pub date: Date,
    pub bytes: UpDown,
}

/// The first instant (UTC second) of a local date. A date jiff cannot place (beyond year 9999)
/// maps to the end of time, so ranges stay ordered.
pub fn day_start(zone: &Zone, date: Date) -> i64 {
    date.to_zoned_datetime(zone.time_zone().clone())
        .and_then(|zoned| zoned.start_of_day())
        .map_or(i64::MAX, |start| start.timestamp().as_second())
}

/// Which local day an hour belongs to, remembering the last day's bounds so a run of hours of the
/// same day costs one time-zone conversion, not one per hour.
#[derive(Debug)]
pub struct DayOf<'z> {
    zone: &'z Zone,
    from: i64,
    until: i64,
    date: Date,
}

impl<'z> DayOf<'z> {
    pub fn new(zone: &'z Zone) -> DayOf<'z> {
        DayOf {
            zone,
            from: i64::MAX,
            until: i64::MIN,
            date: Date::MIN,
        }
    }

    /// The local date whose first instant is at or before `hour` and whose next day's is after.
    pub fn date(&mut self, hour: HourStart) -> Date {
        if !(self.from..self.until).contains(&hour) {
            self.date = self.zone.date_of(hour);
            self.from = day_start(self.zone, self.date);
            self.until = self
                .date
                .tomorrow()
                .map_or(i64::MAX, |next| day_start(self.zone, next));
        }
        self.date
    }

    /// `[first instant, first instant of the next day)` of the date last returned.
    pub fn bounds(&self) -> (i64, i64) {
        (self.from, self.until)
    }
}

/// Every scope's day sums, and the scope names the file knows (as of one commit).
#[derive(Clone, Debug, Default)]
pub struct DayIndex {
    scopes: HashMap<String, u32>,
    /// Scope id → its days with any stored hour, in date order.
    days: HashMap<u32, Vec<DaySum>>,
}

/// A day to set after a commit: its new sum, or `None` when no hour of it is stored any more.
pub type DayChange = (u32, Date, Option<UpDown>);

impl DayIndex {
    /// Sum every stored hour of `hours` (the whole table, in key order) into days of `zone`.
    ///
    /// # Errors
    /// When the table cannot be read.
    pub fn load(
        hours: &impl ReadableTable<HourKey, Counts>,
        scopes: HashMap<String, u32>,
        zone: &Zone,
    ) -> Result<DayIndex, redb::StorageError> {
        let mut days: HashMap<u32, Vec<DaySum>> = HashMap::new();
        let mut day_of = DayOf::new(zone);
        let mut current: Option<(u32, DaySum)> = None;
        for entry in hours.iter()? {
            let (key, value) = entry?;
            let Hour { scope, start } = key.value();
            let bytes = value.value();
            let date = day_of.date(start);
            match &mut current {
                Some((id, sum)) if *id == scope && sum.date == date => {
                    sum.bytes += bytes;
                }
                _ => {
                    if let Some((id, sum)) = current.take() {
                        days.entry(id).or_default().push(sum);
                    }
                    current = Some((scope, DaySum { date, bytes }));
                }
            }
        }
        if let Some((id, sum)) = current {
            days.entry(id).or_default().push(sum);
        }
        for list in days.values_mut() {
            // Key order is time order, so each list is sorted already; a zone whose offset went
            // backwards across midnight could repeat a date, which this merges.
            list.dedup_by(|later, earlier| {
                if later.date == earlier.date {
                    earlier.bytes += later.bytes;
                    true
                } else {
                    false
                }
            });
            list.shrink_to_fit();
        }
        Ok(DayIndex { scopes, days })
    }

    /// The id of a scope name (`""`: all interfaces), if the file has it.
    pub fn scope_id(&self, name: &str) -> Option<u32> {
        self.scopes.get(name).copied()
    }

    /// The name of scope `id` (`""`: all interfaces), if the file has it.
    pub fn scope_name(&self, id: u32) -> Option<&str> {
        self.scopes
            .iter()
            .find(|(_, known)| **known == id)
            .map(|(name, _)| name.as_str())
    }

    /// Every scope id the file has.
    pub fn scope_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.scopes.values().copied()
    }

    /// The interface names with any stored hour, sorted (not the scope of all interfaces).
    pub fn interface_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .scopes
            .iter()
            .filter(|(name, id)| {
                !name.is_empty() && self.days.get(id).is_some_and(|days| !days.is_empty())
            })
            .map(|(name, _)| name.clone())
            .collect();
        names.sort_unstable();
        names
    }

    /// The days of scope `id` from `first` to `last`, both included, in date order.
    pub fn range(&self, id: u32, first: Date, last: Date) -> &[DaySum] {
        let Some(list) = self.days.get(&id) else {
            return &[];
        };
        let from = list.partition_point(|day| day.date < first);
        let until = list.partition_point(|day| day.date <= last);
        list.get(from..until.max(from)).unwrap_or(&[])
    }

    /// The first and the last day of scope `id` with any stored hour.
    pub fn span(&self, id: u32) -> Option<(Date, Date)> {
        let list = self.days.get(&id)?;
        Some((list.first()?.date, list.last()?.date))
    }

    /// A copy with `scopes` as the file's scope names and every day of `changes` set.
    pub fn with(&self, scopes: HashMap<String, u32>, changes: &[DayChange]) -> DayIndex {
        let mut next = DayIndex {
            scopes,
            days: self.days.clone(),
        };
        for (id, date, sum) in changes {
            let list = next.days.entry(*id).or_default();
            let at = list.partition_point(|day| day.date < *date);
            let present = list.get(at).is_some_and(|day| day.date == *date);
            match (sum, present) {
                (Some(bytes), true) => list[at].bytes = *bytes,
                (Some(bytes), false) => list.insert(
                    at,
                    DaySum {
                        date: *date,
                        bytes: *bytes,
                    },
                ),
                (None, true) => {
                    list.remove(at);
                }
                (None, false) => {}
            }
        }
        next.days.retain(|_, list| !list.is_empty());
        next
    }

    /// Heap bytes held by the day sums (the scope names are a few bytes each).
    pub fn heap_bytes(&self) -> usize {
        self.days
            .values()
            .map(|list| list.capacity() * std::mem::size_of::<DaySum>())
            .sum()
    }
}

/// The days that `hours` (scope id, hour start) fall on, each once.
pub fn days_of(
    zone: &Zone,
    hours: impl IntoIterator<Item = (u32, HourStart)>,
) -> BTreeSet<(u32, Date)> {
    let mut day_of = DayOf::new(zone);
    hours
        .into_iter()
        .map(|(id, hour)| (id, day_of.date(hour)))
        .collect()
}

/// What `hours` holds for each of `days` now (inside a write transaction: including its writes).
///
/// # Errors
/// When the table cannot be read.
pub fn sums_of(
    hours: &impl ReadableTable<HourKey, Counts>,
    zone: &Zone,
    days: &BTreeSet<(u32, Date)>,
) -> Result<Vec<DayChange>, redb::StorageError> {
    let mut changes = Vec::with_capacity(days.len());
    for (id, date) in days {
        let from = day_start(zone, *date);
        let until = date
            .tomorrow()
            .map_or(i64::MAX, |next| day_start(zone, next));
        let mut sum: Option<UpDown> = None;
        let range = hours.range(
            Hour {
                scope: *id,
                start: from,
            }..Hour {
                scope: *id,
                start: until,
            },
        )?;
        for entry in range {
            let (_, value) = entry?;
            sum = Some(sum.unwrap_or_default() + value.value());
        }
        changes.push((*id, *date, sum));
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ud(up: u64, down: u64) -> UpDown {
        UpDown { up, down }
    }

    #[test]
    fn a_day_of_changes_bounds_only_at_local_midnight() {
        let berlin = Zone::named("Europe/Berlin").expect("zone");
        let mut day_of = DayOf::new(&berlin);
        // 2024-10-27 00:00 CEST = 2024-10-26 22:00 UTC; the day has 25 hours.
        let oct27 = 1_729_980_000;
        assert_eq!(day_of.date(oct27 - 3600), Date::constant(2024, 10, 26));
        assert_eq!(day_of.date(oct27), Date::constant(2024, 10, 27));
        assert_eq!(day_of.bounds(), (oct27, oct27 + 25 * 3600));
        assert_eq!(day_of.date(oct27 + 24 * 3600), Date::constant(2024, 10, 27));
        assert_eq!(day_of.date(oct27 + 25 * 3600), Date::constant(2024, 10, 28));
    }

    #[test]
    fn changes_insert_replace_and_remove_days_in_date_order() {
        let d = |day| Date::constant(2024, 1, day);
        let index = DayIndex::default().with(
            HashMap::from([(String::new(), 0)]),
            &[(0, d(3), Some(ud(3, 0))), (0, d(1), Some(ud(1, 0)))],
        );
        assert_eq!(index.span(0), Some((d(1), d(3))));
        let index = index.with(
            HashMap::from([(String::new(), 0), ("eth0".into(), 1)]),
            &[
                (0, d(2), Some(ud(2, 0))),
                (0, d(3), Some(ud(30, 0))),
                (0, d(1), None),
                (1, d(5), Some(ud(0, 5))),
                (1, d(6), None),
            ],
        );
        let days: Vec<(Date, UpDown)> = index
            .range(0, d(1), d(31))
            .iter()
            .map(|day| (day.date, day.bytes))
            .collect();
        assert_eq!(days, [(d(2), ud(2, 0)), (d(3), ud(30, 0))]);
        assert_eq!(index.range(0, d(3), d(2)), &[]);
        assert_eq!(index.range(1, d(5), d(5)).len(), 1);
        assert_eq!(index.scope_id("eth0"), Some(1));
        assert_eq!(index.scope_id("eth9"), None);
    }
}
