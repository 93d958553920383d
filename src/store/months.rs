//! Lists summed per closed month, so that ranges over years read one list a month instead of one
//! a day: each heavy device's remote addresses (`month_device_remotes`, for
//! `/api/top_ips?device=`) and a scope's devices when a month holds many (`month_devices`, for
//! `/api/devices`; bounded by [`DEVICES_PER_MONTH`] by the same reasoning as below, since ten
//! years of 256 new devices a day are 934,000 entries by day).
//!
//! Why bounded: in the worst case the defaults allow, a device holds all `TOP_IPS_PER_DAY` pairs
//! of every day, each with a new remote address. Exact month sums would then have as many entries
//! as their days together, and ten years would still be 3.65 million entries to add (160–210 ms
//! here, against the 50 ms goal). A month keeps its [`REMOTES_PER_DEVICE_MONTH`] heaviest
//! remote addresses per device instead: an address cut from a month's list had no more bytes
//! that month than the lightest one kept, and a range counts it only in the months (and partial
//! months, read by day) that kept it, as a range of days counts an address only on the days that
//! kept it.
//!
//! Only a list whose days of the month hold more than that many entries gets a month list; a
//! summed month reads every other one by day, as it is stored, so a home whose devices stay below
//! the bounds keeps exact answers and pays nothing in the file.
//!
//! A month is summed by the persister once no day of it can change any more (see
//! [`crate::store::Store::sum_closed_months`]); until then, and for the first and last month of a
//! range that covers them only in part, reads add the day lists. Writing a day's devices or pairs
//! ([`super::pairs::write_day`] and the devices' writers, in the persister and `import`) forgets
//! the month's sums in the same transaction ([`forget`]), so a sum never disagrees with its days:
//! the month is read by day until it is summed again.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use jiff::civil::Date;
use redb::{ReadableTable, TableError, TableHandle, WriteTransaction};

use super::schema::{
    AddrBits, DAY_DEVICE_REMOTES, DAY_DEVICES, Day, DeviceDay, DeviceDayKey, MONTH_DEVICE_REMOTES,
    MONTH_DEVICES, MONTHS_SUMMED, RemoteBytes, each_remote, encode_month_devices, encode_remotes,
};
use super::set_aside::skipped_on_read;
use super::{Store, StoreError};
use crate::count::UpDown;

/// Remote addresses a device keeps per closed month. Ten years read as 120 lists of at most this
/// many entries plus two partial months by day: 0.5 million entries in the worst case, against
/// 3.65 million by day.
pub const REMOTES_PER_DEVICE_MONTH: usize = 4096;

/// Devices a scope keeps per closed month, for the same reason: ten years of `DEVICES_PER_DAY`
/// (256) new devices a day are 934,000 entries by day, 0.5 million by month.
pub const DEVICES_PER_MONTH: usize = 4096;

/// Every device key of `scope` whose date lies in `month` (the month of that date).
fn keys_of_month(scope: u32, month: Date) -> std::ops::RangeInclusive<DeviceDay> {
    let key = |date, device| DeviceDay {
        scope,
        date,
        device,
    };
    key(month.first_of_month(), IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        ..=key(month.last_of_month(), IpAddr::V6(Ipv6Addr::from(u128::MAX)))
}

/// Every day key of `scope` in `month` (the month of that date).
fn days_of_month(scope: u32, month: Date) -> std::ops::RangeInclusive<Day> {
    Day::span(scope, month.first_of_month(), month.last_of_month())
}

fn month_key(scope: u32, month: Date) -> Day {
    Day {
        scope,
        date: month.first_of_month(),
    }
}

/// Forget the sum of the month `date` lies in, because a day of it is being written.
///
/// # Errors
/// When the file cannot be read or written.
pub(crate) fn forget(txn: &WriteTransaction, scope: u32, date: Date) -> Result<(), StoreError> {
    let mut marks = txn.open_table(MONTHS_SUMMED).map_err(StoreError::io)?;
    if marks
        .remove(month_key(scope, date))
        .map_err(StoreError::io)?
        .is_none()
    {
        return Ok(());
    }
    let mut lists = txn
        .open_table(MONTH_DEVICE_REMOTES)
        .map_err(StoreError::io)?;
    lists
        .retain_in(keys_of_month(scope, date), |_, _| false)
        .map_err(StoreError::io)?;
    let mut devices = txn.open_table(MONTH_DEVICES).map_err(StoreError::io)?;
    devices
        .remove(month_key(scope, date))
        .map_err(StoreError::io)?;
    Ok(())
}

/// Whether `scope`'s month of `date` is summed, in `marks` (a table of [`MONTHS_SUMMED`]).
///
/// # Errors
/// When the file cannot be read.
pub(crate) fn is_summed(
    marks: &impl ReadableTable<super::schema::DayKey, u32>,
    scope: u32,
    date: Date,
) -> Result<bool, StoreError> {
    Ok(marks
        .get(month_key(scope, date))
        .map_err(StoreError::io)?
        .is_some())
}

/// Sum `scope`'s devices and each device's remote addresses over the month `month` lies in, and
/// mark the month summed. Only a list whose days hold more than its bound (4,096) in entries gets
/// a month list, of its heaviest: any other's days cost no more to read than such a list, and are
/// read as they are (exactly). A day list that cannot be read is left out, as range reads leave it
/// out. Returns how many lists were cut to their bound.
///
/// # Errors
/// When the file cannot be read or written.
pub(crate) fn sum_month(
    txn: &WriteTransaction,
    scope: u32,
    month: Date,
    words: impl Fn(Date) -> String,
) -> Result<u32, StoreError> {
    let cut = sum_devices(txn, scope, month, &words)? + sum_pairs(txn, scope, month, &words)?;
    let mut marks = txn.open_table(MONTHS_SUMMED).map_err(StoreError::io)?;
    marks
        .insert(month_key(scope, month), cut)
        .map_err(StoreError::io)?;
    Ok(cut)
}

/// The month list of `scope`'s devices for `month` ([`MONTH_DEVICES`]), when its days hold more
/// than [`DEVICES_PER_MONTH`] entries; returns 1 when it was cut.
fn sum_devices(
    txn: &WriteTransaction,
    scope: u32,
    month: Date,
    words: &impl Fn(Date) -> String,
) -> Result<u32, StoreError> {
    let mut lists = txn.open_table(MONTH_DEVICES).map_err(StoreError::io)?;
    lists
        .remove(month_key(scope, month))
        .map_err(StoreError::io)?;
    let days = match txn.open_table(DAY_DEVICES) {
        Ok(days) => days,
        Err(TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(error) => return Err(StoreError::io(error)),
    };
    let range = days_of_month(scope, month);
    let mut entries = 0usize;
    for entry in days.range(range.clone()).map_err(StoreError::io)? {
        let (key, value) = entry.map_err(StoreError::io)?;
        let mut count = 0usize;
        if each_remote(value.value(), |_, _| count += 1).is_some() {
            entries += count;
        } else {
            skipped_on_read(DAY_DEVICES.name(), words(key.value().date));
        }
    }
    if entries <= DEVICES_PER_MONTH {
        return Ok(0);
    }
    let each_list = |hand: &mut dyn FnMut(&[u8], Date)| {
        for entry in days.range(range.clone()).map_err(StoreError::io)? {
            let (key, value) = entry.map_err(StoreError::io)?;
            hand(value.value(), key.value().date);
        }
        Ok(())
    };
    let (list, cut) = heaviest_of(each_list, entries, DEVICES_PER_MONTH, SUMMED_AT_ONCE)?;
    let dated: Vec<(RemoteBytes, u8)> = list
        .into_iter()
        .map(|(entry, last)| (entry, last.day() as u8))
        .collect();
    lists
        .insert(
            month_key(scope, month),
            encode_month_devices(&dated).as_slice(),
        )
        .map_err(StoreError::io)?;
    Ok(u32::from(cut))
}

/// The month lists of `scope`'s devices' remote addresses for `month`
/// ([`MONTH_DEVICE_REMOTES`]), for each device whose days hold more than
/// [`REMOTES_PER_DEVICE_MONTH`] entries; returns how many were cut.
fn sum_pairs(
    txn: &WriteTransaction,
    scope: u32,
    month: Date,
    words: &impl Fn(Date) -> String,
) -> Result<u32, StoreError> {
    let mut lists = txn
        .open_table(MONTH_DEVICE_REMOTES)
        .map_err(StoreError::io)?;
    // A mark was removed with its lists; lists without a mark (none are written so) go too.
    lists
        .retain_in(keys_of_month(scope, month), |_, _| false)
        .map_err(StoreError::io)?;
    let days = match txn.open_table(DAY_DEVICE_REMOTES) {
        Ok(days) => days,
        Err(TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(error) => return Err(StoreError::io(error)),
    };
    // How many entries each device's readable day lists hold; a list that cannot be read is
    // left out, as range reads leave it out.
    let mut entries: HashMap<IpAddr, usize> = HashMap::new();
    for entry in days
        .range(keys_of_month(scope, month))
        .map_err(StoreError::io)?
    {
        let (key, value) = entry.map_err(StoreError::io)?;
        let key = key.value();
        let mut count = 0usize;
        if each_remote(value.value(), |_, _| count += 1).is_some() {
            *entries.entry(key.device).or_default() += count;
        } else {
            skipped_on_read(
                DAY_DEVICE_REMOTES.name(),
                format!("{} device {}", words(key.date), key.device),
            );
        }
    }
    let mut heavy: Vec<(IpAddr, usize)> = entries
        .into_iter()
        .filter(|(_, count)| *count > REMOTES_PER_DEVICE_MONTH)
        .collect();
    heavy.sort_unstable();
    let mut cut = 0u32;
    for (device, count) in heavy {
        let (list, was_cut) =
            heaviest_of_month(&days, scope, month, device, count, SUMMED_AT_ONCE)?;
        cut += u32::from(was_cut);
        lists
            .insert(
                DeviceDay {
                    scope,
                    date: month.first_of_month(),
                    device,
                },
                encode_remotes(&list).as_slice(),
            )
            .map_err(StoreError::io)?;
    }
    Ok(cut)
}

/// Remote addresses summed in memory at once while a month is summed. `TOP_IPS_PER_DAY` may be
/// set up to a million, so one device's month may hold 31 million entries: they are summed in
/// parts of the address space that each fit this (about 6 MiB), reading the days once a part.
const SUMMED_AT_ONCE: usize = 1 << 17;

/// The `keep` heaviest addresses of the lists `each_list` hands over (one month's day lists,
/// each with its day, whose readable ones hold `entries` entries), heaviest first (ties by
/// address), each with the last day it was listed on, and whether any was left out; at most about
/// `at_once` addresses are summed in memory at a time. A list that cannot be read is left out
/// whole (checked first: its entries before the damage would be added).
fn heaviest_of(
    mut each_list: impl FnMut(&mut dyn FnMut(&[u8], Date)) -> Result<(), StoreError>,
    entries: usize,
    keep: usize,
    at_once: usize,
) -> Result<(Vec<(RemoteBytes, Date)>, bool), StoreError> {
    let parts = entries.div_ceil(at_once.max(1)).max(1) as u128;
    let mut kept: Vec<(RemoteBytes, Date)> = Vec::new();
    let mut left_out = false;
    for part in 0..parts {
        let mut sums: HashMap<AddrBits, (UpDown, Date)> = HashMap::new();
        each_list(&mut |list, date| {
            if each_remote(list, |_, _| ()).is_some() {
                let _ = each_remote(list, |addr, bytes| {
                    if part_of(addr, parts) == part {
                        let sum = sums.entry(addr).or_insert((UpDown::default(), date));
                        sum.0 += bytes;
                        sum.1 = sum.1.max(date);
                    }
                });
            }
        })?;
        kept.extend(sums.into_iter().map(|(addr, (bytes, last))| {
            (
                RemoteBytes {
                    addr: addr.into(),
                    bytes,
                },
                last,
            )
        }));
        left_out |= kept.len() > keep;
        kept.sort_by(|(a, _), (b, _)| {
            b.bytes
                .total()
                .cmp(&a.bytes.total())
                .then(a.addr.cmp(&b.addr))
        });
        kept.truncate(keep);
    }
    Ok((kept, left_out))
}

/// `device`'s [`REMOTES_PER_DEVICE_MONTH`] heaviest remote addresses over `month`, as
/// [`heaviest_of`].
fn heaviest_of_month(
    days: &impl ReadableTable<DeviceDayKey, &'static [u8]>,
    scope: u32,
    month: Date,
    device: IpAddr,
    entries: usize,
    at_once: usize,
) -> Result<(Vec<RemoteBytes>, bool), StoreError> {
    let each_list = |hand: &mut dyn FnMut(&[u8], Date)| {
        let mut date = month.first_of_month();
        while date <= month.last_of_month() {
            let key = DeviceDay {
                scope,
                date,
                device,
            };
            if let Some(value) = days.get(key).map_err(StoreError::io)? {
                hand(value.value(), date);
            }
            let Ok(next) = date.tomorrow() else { break };
            date = next;
        }
        Ok(())
    };
    let (list, cut) = heaviest_of(each_list, entries, REMOTES_PER_DEVICE_MONTH, at_once)?;
    Ok((list.into_iter().map(|(entry, _)| entry).collect(), cut))
}

/// Which of `parts` parts of the address space `addr` falls in (spread by a multiplicative
/// hash, so addresses that differ in a few bits land apart).
fn part_of(addr: AddrBits, parts: u128) -> u128 {
    if parts == 1 {
        return 0;
    }
    let bits = match addr {
        AddrBits::V4(v4) => u128::from(v4),
        AddrBits::V6(v6) => v6,
    };
    let mixed = bits.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
    (mixed >> 64) % parts
}

/// The last day of the closed months when memory may still write `before`.
fn closed_until(before: Date) -> Option<Date> {
    before.first_of_month().yesterday().ok()
}

/// The (month, scope) of every month up to `closed_until` with stored days and no mark in
/// `marks` (every one without the table), oldest first.
fn without_sum(
    days: &super::days::DayIndex,
    marks: Option<&impl ReadableTable<super::schema::DayKey, u32>>,
    closed_until: Date,
) -> Result<Vec<(Date, u32)>, StoreError> {
    let mut missing = Vec::new();
    for id in days.scope_ids() {
        let mut last_month = None;
        for day in days.range(id, super::FIRST_DAY, closed_until) {
            let month = day.date.first_of_month();
            if last_month == Some(month) {
                continue;
            }
            last_month = Some(month);
            let summed = match marks {
                Some(marks) => is_summed(marks, id, month)?,
                None => false,
            };
            if !summed {
                missing.push((month, id));
            }
        }
    }
    missing.sort_unstable();
    Ok(missing)
}

/// What one [`Store::sum_closed_months`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MonthsSummed {
    /// Months summed (each of one scope).
    pub summed: usize,
    /// Device lists among them cut to [`REMOTES_PER_DEVICE_MONTH`].
    pub cut: u32,
    /// Closed months still without a sum (the budget ran out).
    pub left: usize,
}

impl Store {
    /// How many closed months (as [`Store::sum_closed_months`] with `before` counts them) have
    /// stored days and no sum yet.
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn months_to_sum(&self, before: Date) -> Result<usize, StoreError> {
        let Some(closed_until) = closed_until(before) else {
            return Ok(0);
        };
        let (txn, published) = self.shared().begin_read()?;
        let marks = match txn.open_table(MONTHS_SUMMED) {
            Ok(marks) => Some(marks),
            // No month was ever summed.
            Err(TableError::TableDoesNotExist(_)) => None,
            Err(error) => return Err(StoreError::io(error)),
        };
        Ok(without_sum(&published.days, marks.as_ref(), closed_until)?.len())
    }

    /// Sum the closed months that have stored days and no sum, oldest first, in one transaction:
    /// the months before the month of `before` (the persister passes yesterday, the oldest day
    /// memory may still write), until `budget` is spent (at least one month is summed). Returns
    /// what was done and what is left for the next call.
    ///
    /// # Errors
    /// When the file cannot be read or written; nothing is changed then.
    pub fn sum_closed_months(
        &self,
        before: Date,
        budget: std::time::Duration,
    ) -> Result<MonthsSummed, StoreError> {
        let started = std::time::Instant::now();
        let Some(closed_until) = closed_until(before) else {
            return Ok(MonthsSummed::default());
        };
        // Nearly always nothing is left: a read says so without a write transaction's buffers.
        if self.months_to_sum(before)? == 0 {
            return Ok(MonthsSummed::default());
        }
        let mut txn = self.begin_write()?;
        // Writers are serialised, so this is the state the transaction starts from.
        let published = self.shared().published();
        txn.set_durability(redb::Durability::Immediate)
            .map_err(|e| StoreError::Io { why: e.to_string() })?;
        txn.set_quick_repair(true);
        let missing = {
            let marks = txn.open_table(MONTHS_SUMMED).map_err(StoreError::io)?;
            without_sum(&published.days, Some(&marks), closed_until)?
        };
        let mut done = MonthsSummed::default();
        for (at, (month, id)) in missing.iter().enumerate() {
            if at > 0 && started.elapsed() >= budget {
                done.left = missing.len() - at;
                break;
            }
            let name = published.days.scope_name(*id).unwrap_or_default();
            done.cut += sum_month(&txn, *id, *month, |date| {
                super::set_aside::day_in_words(name, date)
            })?;
            done.summed += 1;
        }
        if done.summed == 0 {
            // Nothing was written: dropping the transaction leaves the file as it was.
            return Ok(done);
        }
        self.commit(txn, std::iter::empty(), None)?;
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema::{each_month_device, keep_heaviest};
    use redb::backends::InMemoryBackend;

    /// A month list of devices reads back with each entry's day; a list whose days and entries
    /// disagree, or with a day that no month has, is damaged.
    #[test]
    fn month_lists_of_devices_keep_each_day() {
        let entry = |last: u8, up: u64| RemoteBytes {
            addr: IpAddr::V4(Ipv4Addr::new(192, 168, 1, last)),
            bytes: UpDown { up, down: 1 },
        };
        let list = vec![(entry(1, 500), 31), (entry(2, 7), 1), (entry(3, 0), 15)];
        let bytes = encode_month_devices(&list);
        let mut read = Vec::new();
        assert!(
            each_month_device(&bytes, |addr, bytes, day| read.push((addr, bytes, day))).is_some()
        );
        let want: Vec<(AddrBits, UpDown, u8)> = list
            .iter()
            .map(|(e, day)| (AddrBits::from(e.addr), e.bytes, *day))
            .collect();
        assert_eq!(read, want);
        let mut more_days = bytes.clone();
        more_days[0] = 4;
        assert!(each_month_device(&more_days, |_, _, _| ()).is_none());
        let mut no_such_day = bytes.clone();
        no_such_day[1] = 0;
        assert!(each_month_device(&no_such_day, |_, _, _| ()).is_none());
        let mut fewer_days = bytes;
        fewer_days[0] = 2;
        assert!(each_month_device(&fewer_days, |_, _, _| ()).is_none());
        assert!(each_month_device(&[], |_, _, _| ()).is_none());
    }

    /// Summing a month in parts of the address space gives what summing it at once gives, and
    /// what a plain sum and sort give; a damaged day is left out whole.
    #[test]
    fn summing_in_parts_equals_summing_at_once() {
        let db = redb::Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .expect("an in-memory database");
        let device = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10));
        let month = Date::constant(2024, 2, 1);
        let mut plain: HashMap<IpAddr, UpDown> = HashMap::new();
        let mut entries = 0;
        let txn = db.begin_write().expect("write");
        {
            let mut days = txn.open_table(DAY_DEVICE_REMOTES).expect("days");
            for day in 1..=29u8 {
                // 400 addresses a day out of 6,000, IPv4 and IPv6, with many equal totals.
                let list: Vec<RemoteBytes> = (0..400u32)
                    .map(|i| {
                        let n = (u32::from(day) * 211 + i * 13) % 6_000;
                        let addr = if n % 3 == 0 {
                            IpAddr::V6(Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(n)))
                        } else {
                            IpAddr::V4(Ipv4Addr::from(0xcb00_7100 + n))
                        };
                        let bytes = UpDown {
                            up: u64::from(n % 7),
                            down: u64::from((n + u32::from(day)) % 11),
                        };
                        RemoteBytes { addr, bytes }
                    })
                    .collect();
                let date = Date::new(2024, 2, day as i8).expect("date");
                let key = DeviceDay {
                    scope: 1,
                    date,
                    device,
                };
                if day == 15 {
                    let mut damaged = encode_remotes(&list);
                    damaged.push(9);
                    days.insert(key, damaged.as_slice()).expect("insert");
                    continue;
                }
                for remote in &list {
                    *plain.entry(remote.addr).or_default() += remote.bytes;
                }
                entries += list.len();
                days.insert(key, encode_remotes(&list).as_slice())
                    .expect("insert");
            }
        }
        let days = txn.open_table(DAY_DEVICE_REMOTES).expect("days");
        let at_once =
            heaviest_of_month(&days, 1, month, device, entries, usize::MAX).expect("at once");
        let in_parts = heaviest_of_month(&days, 1, month, device, entries, 500).expect("in parts");
        let mut expected: Vec<RemoteBytes> = plain
            .into_iter()
            .map(|(addr, bytes)| RemoteBytes { addr, bytes })
            .collect();
        let more_than_kept = expected.len() > REMOTES_PER_DEVICE_MONTH;
        keep_heaviest(&mut expected, REMOTES_PER_DEVICE_MONTH);
        assert!(more_than_kept, "the month must hold more than the bound");
        assert_eq!(at_once, (expected.clone(), true));
        assert_eq!(in_parts, (expected, true));
    }
}
