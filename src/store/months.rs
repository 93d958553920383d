//! Each device's remote addresses summed per closed month (`month_device_remotes`), so that
//! `/api/top_ips?device=` over years reads one list a month instead of one a day.
//!
//! Why bounded: in the worst case the defaults allow, a device holds all `TOP_IPS_PER_DAY` pairs
//! of every day, each with a new remote address. Exact month sums would then have as many entries
//! as their days together, and ten years would still be 3.65 million entries to add (about
//! 160 ms here, against the 50 ms goal). A month keeps its [`REMOTES_PER_DEVICE_MONTH`] heaviest
//! remote addresses per device instead: an address cut from a month's list had no more bytes
//! that month than the lightest one kept, and a range counts it only in the months (and partial
//! months, read by day) that kept it, as a range of days counts an address only on the days that
//! kept it.
//!
//! Only a device whose days of the month hold more than that many entries gets a month list; a
//! summed month reads every other device by day, as it is stored, so a home whose devices stay
//! below the bound keeps exact answers and pays nothing in the file.
//!
//! A month is summed by the persister once no day of it can change any more (see
//! [`crate::store::Store::sum_closed_months`]); until then, and for the first and last month of a
//! range that covers them only in part, reads add the day lists. Writing a day's pairs
//! ([`super::pairs::write_day`], the persister and `import`) forgets the month's sum in the same
//! transaction, so a sum never disagrees with its days: the month is read by day until it is
//! summed again.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use jiff::civil::Date;
use redb::{ReadableTable, TableError, TableHandle, WriteTransaction};

use super::schema::{
    DAY_DEVICE_REMOTES, Day, DeviceDay, MONTH_DEVICE_REMOTES, MONTHS_SUMMED, RemoteBytes,
    decode_remotes, encode_remotes, keep_heaviest,
};
use super::set_aside::skipped_on_read;
use super::{Store, StoreError};
use crate::count::UpDown;

/// Remote addresses a device keeps per closed month. Ten years read as 120 lists of at most this
/// many entries plus two partial months by day: 0.5 million entries in the worst case, against
/// 3.65 million by day.
pub const REMOTES_PER_DEVICE_MONTH: usize = 4096;

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

/// Sum `scope`'s day lists of the month `month` lies in, per device, and mark the month summed.
/// Only a device whose days hold more than [`REMOTES_PER_DEVICE_MONTH`] entries gets a month
/// list, of its [`REMOTES_PER_DEVICE_MONTH`] heaviest remote addresses: any other device's days
/// cost no more to read than such a list, and are read as they are (exactly). A day list that
/// cannot be read is left out, as range reads leave it out. Returns how many device lists were
/// cut to the bound.
///
/// # Errors
/// When the file cannot be read or written.
pub(crate) fn sum_month(
    txn: &WriteTransaction,
    scope: u32,
    month: Date,
    words: impl Fn(Date) -> String,
) -> Result<u32, StoreError> {
    // Per device: its remote addresses' sums, and how many day entries they were made of.
    let mut by_device: HashMap<IpAddr, (HashMap<IpAddr, UpDown>, usize)> = HashMap::new();
    match txn.open_table(DAY_DEVICE_REMOTES) {
        Ok(days) => {
            for entry in days
                .range(keys_of_month(scope, month))
                .map_err(StoreError::io)?
            {
                let (key, value) = entry.map_err(StoreError::io)?;
                let key = key.value();
                let Some(list) = decode_remotes(value.value()) else {
                    skipped_on_read(
                        DAY_DEVICE_REMOTES.name(),
                        format!("{} device {}", words(key.date), key.device),
                    );
                    continue;
                };
                let (sums, entries) = by_device.entry(key.device).or_default();
                *entries += list.len();
                for remote in list {
                    *sums.entry(remote.addr).or_default() += remote.bytes;
                }
            }
        }
        Err(TableError::TableDoesNotExist(_)) => {}
        Err(error) => return Err(StoreError::io(error)),
    }
    let mut lists = txn
        .open_table(MONTH_DEVICE_REMOTES)
        .map_err(StoreError::io)?;
    // A mark was removed with its lists; lists without a mark (none are written so) go too.
    lists
        .retain_in(keys_of_month(scope, month), |_, _| false)
        .map_err(StoreError::io)?;
    let mut cut = 0u32;
    for (device, (sums, entries)) in by_device {
        if entries <= REMOTES_PER_DEVICE_MONTH {
            // Its days are no more to read than a month list: the month stays read by day.
            continue;
        }
        let mut list: Vec<RemoteBytes> = sums
            .into_iter()
            .map(|(addr, bytes)| RemoteBytes { addr, bytes })
            .collect();
        if list.len() > REMOTES_PER_DEVICE_MONTH {
            cut += 1;
        }
        keep_heaviest(&mut list, REMOTES_PER_DEVICE_MONTH);
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
    let mut marks = txn.open_table(MONTHS_SUMMED).map_err(StoreError::io)?;
    marks
        .insert(month_key(scope, month), cut)
        .map_err(StoreError::io)?;
    Ok(cut)
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
