//! Each device's remote addresses per day (`day_device_remotes`): reading a day's stored
//! (device, remote) pairs and writing a day's heaviest ones back, for the persister and `import`.
//!
//! A day keeps at most `top` pairs over all its devices together (the persister and `import` pass
//! `TOP_IPS_PER_DAY`), stored as one list per device so that a device's remote addresses of a day
//! are one lookup. Writing a day replaces every list of that day: a device whose pairs all fell
//! below the cut loses its key.

use std::collections::HashMap;
use std::net::IpAddr;

use jiff::civil::Date;
use redb::{ReadableTable, Table, TableHandle, WriteTransaction};

use super::StoreError;
use super::schema::{
    DAY_DEVICE_REMOTES, DeviceDay, DeviceDayKey, RemoteBytes, decode_remotes, encode_remotes,
};
use super::set_aside::decode_or_set_aside;
use crate::count::UpDown;
use crate::count::heavy::Pair;

/// The pairs stored for `scope` on `date` (`day` names them in words). A device's list that
/// cannot be read is set aside ([`decode_or_set_aside`]) and read as empty, since the caller is
/// about to rewrite the day.
///
/// # Errors
/// When the file cannot be read or the copy set aside cannot be written.
pub(crate) fn read_day(
    txn: &WriteTransaction,
    table: &impl ReadableTable<DeviceDayKey, &'static [u8]>,
    scope: u32,
    date: Date,
    day: &str,
) -> Result<HashMap<Pair, UpDown>, StoreError> {
    let mut pairs = HashMap::new();
    for entry in table
        .range(DeviceDay::all_of(scope, date))
        .map_err(StoreError::io)?
    {
        let (key, value) = entry.map_err(StoreError::io)?;
        let device = key.value().device;
        let remotes = decode_or_set_aside(
            txn,
            DAY_DEVICE_REMOTES.name(),
            format_args!("{day} device {device}"),
            value.value(),
            decode_remotes,
        )?;
        for remote in remotes {
            pairs.insert(
                Pair {
                    device,
                    remote: remote.addr,
                },
                remote.bytes,
            );
        }
    }
    Ok(pairs)
}

/// The heaviest `top` of `pairs`, heaviest first (ties by pair, so the order is stable).
pub(crate) fn heaviest(
    pairs: impl IntoIterator<Item = (Pair, UpDown)>,
    top: usize,
) -> Vec<(Pair, UpDown)> {
    let mut list: Vec<(Pair, UpDown)> = pairs.into_iter().collect();
    list.sort_by(|a, b| b.1.total().cmp(&a.1.total()).then(a.0.cmp(&b.0)));
    list.truncate(top);
    list
}

/// Store `list` (heaviest first, already cut) as the pairs of `scope` on `date`, replacing what
/// the day held, and forget the sum of its month ([`super::months::forget`]).
///
/// # Errors
/// When the file cannot be read or written.
pub(crate) fn write_day(
    txn: &WriteTransaction,
    table: &mut Table<'_, DeviceDayKey, &'static [u8]>,
    scope: u32,
    date: Date,
    list: &[(Pair, UpDown)],
) -> Result<(), StoreError> {
    super::months::forget(txn, scope, date)?;
    let mut by_device: HashMap<IpAddr, Vec<RemoteBytes>> = HashMap::new();
    for (pair, bytes) in list {
        by_device.entry(pair.device).or_default().push(RemoteBytes {
            addr: pair.remote,
            bytes: *bytes,
        });
    }
    let mut gone: Vec<DeviceDay> = Vec::new();
    for entry in table
        .range(DeviceDay::all_of(scope, date))
        .map_err(StoreError::io)?
    {
        let (key, _) = entry.map_err(StoreError::io)?;
        let key = key.value();
        if !by_device.contains_key(&key.device) {
            gone.push(key);
        }
    }
    for key in gone {
        table.remove(key).map_err(StoreError::io)?;
    }
    let mut devices: Vec<IpAddr> = by_device.keys().copied().collect();
    devices.sort_unstable();
    for device in devices {
        let remotes = &by_device[&device];
        table
            .insert(
                DeviceDay {
                    scope,
                    date,
                    device,
                },
                encode_remotes(remotes).as_slice(),
            )
            .map_err(StoreError::io)?;
    }
    Ok(())
}
