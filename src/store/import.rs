//! `import FILE…`: capture files' tallies into the history by their packets' own timestamps.
//!
//! The import command reads and counts frames exactly as `report` counts them (the same capture
//! reader and [`Counter`](crate::count::Counter)) into a [`DayTally`], and this module stores it, whatever their date from 1900 to 2999: 1970 included, because only live capture
//! guards against a wrong system clock. Traffic a file dates outside those years (the history
//! holds and the API answers for no other) is left out and its packets and bytes reported.
//! Each input is read once, front to back, so it may be a named pipe. A file's hours are added to the all-interface scope (it belongs to no
//! monitored interface). Its remote addresses are tallied per local day and merged into that
//! day's all-interface list, which keeps the heaviest `TOP_IPS_PER_DAY` of the stored and the
//! imported addresses together. Its (device, remote) pairs go into that day's all-interface
//! lists of each device's remote addresses the same way (the heaviest `TOP_IPS_PER_DAY` pairs of
//! the day).
//!
//! The SHA-256 of each file's content (as far as it was read, see the import command's `count`) is recorded with what it added, so importing the same
//! capture again (under any name) adds nothing and says so. All files of one command go into one
//! transaction: either the whole import is stored or none of it.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use jiff::civil::Date;
use redb::{Durability, ReadableTable, TableHandle};

use super::schema::{
    ALL_SCOPE, ALL_SCOPE_NAME, DAY_DEVICE_REMOTES, DAY_DEVICES, DAY_REMOTES, DAY_SERVICES, Day,
    HOURS, Hour, IMPORTS, ImportRecord, RemoteBytes, decode_remotes, decode_services_keeping,
    encode_remotes, encode_services_keeping, keep_heaviest,
};
use super::set_aside::{day_in_words, decode_or_set_aside};
use super::{Store, StoreError};
use crate::classify::Direction;
use crate::clock::unix_now;
use crate::clock::{HourStart, Zone};
use crate::count::heavy::Pair;
use crate::count::{ByService, FileTally, Tally, UpDown};
use crate::service::Service;

/// A file's counts with its remote addresses per local day.
#[derive(Debug)]
pub struct DayTally {
    pub file: FileTally,
    pub days: BTreeMap<Date, HashMap<IpAddr, UpDown>>,
    /// Local addresses (devices) per local day.
    pub devices: BTreeMap<Date, HashMap<IpAddr, UpDown>>,
    /// Bytes per service per local day.
    pub services: BTreeMap<Date, ByService>,
    /// (device, remote) pairs per local day.
    pub pairs: BTreeMap<Date, HashMap<Pair, UpDown>>,
    /// Traffic dated outside the years the history holds ([`super::holds`]): not stored.
    pub outside: Outside,
    zone: Zone,
    /// The day of the last hour seen (the tz database is asked once per hour of traffic).
    day_of_hour: Option<(HourStart, Date)>,
}

impl DayTally {
    pub fn new(zone: Zone) -> DayTally {
        DayTally {
            file: FileTally::new(),
            days: BTreeMap::new(),
            devices: BTreeMap::new(),
            services: BTreeMap::new(),
            pairs: BTreeMap::new(),
            outside: Outside::default(),
            zone,
            day_of_hour: None,
        }
    }
}

/// Packets a file dates outside the years the history holds, and their bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outside {
    pub packets: u64,
    pub bytes: UpDown,
}

impl Tally for DayTally {
    fn traffic(
        &mut self,
        hour: HourStart,
        direction: Direction,
        remote: IpAddr,
        local: IpAddr,
        bytes: u64,
        service: Service,
    ) {
        let day = match self.day_of_hour {
            Some((cached, day)) if cached == hour => day,
            _ => {
                let day = self.zone.date_of(hour);
                self.day_of_hour = Some((hour, day));
                day
            }
        };
        if !super::holds(day) {
            self.outside.packets += 1;
            self.outside.bytes.add(direction, bytes);
            return;
        }
        self.file
            .traffic(hour, direction, remote, local, bytes, service);
        self.services
            .entry(day)
            .or_default()
            .add(service, direction, bytes);
        self.days
            .entry(day)
            .or_default()
            .entry(remote)
            .or_default()
            .add(direction, bytes);
        self.devices
            .entry(day)
            .or_default()
            .entry(local)
            .or_default()
            .add(direction, bytes);
        self.pairs
            .entry(day)
            .or_default()
            .entry(Pair {
                device: local,
                remote,
            })
            .or_default()
            .add(direction, bytes);
    }

    fn lan(&mut self, bytes: u64) {
        self.file.lan(bytes);
    }

    fn malformed(&mut self) {
        self.file.malformed();
    }
}

/// What happened to one file.
#[derive(Debug)]
pub enum FileOutcome {
    /// Counted into the history.
    Imported {
        record: ImportRecord,
        hours: usize,
        first: Option<Date>,
        last: Option<Date>,
        /// Why reading ended before the end of the file (what came before it is imported).
        stopped_early: Option<String>,
        /// Traffic dated outside the years the history holds, left out.
        outside: Outside,
    },
    /// Its content was imported before.
    AlreadyImported { previous: ImportRecord },
    /// It could not be read as a capture file.
    Failed { why: String },
}

/// One file counted for import: the digest of the bytes read, its per-day tally, and why reading
/// stopped before the end (if it did).
pub type Counted = ([u8; 32], DayTally, Option<String>);

/// Import `files` into `store` in one transaction, each counted by `count` (the import command
/// reads capture files; the store only takes their tallies).
///
/// # Errors
/// When the transaction fails; files that cannot be read are reported in their outcome.
pub fn import(
    store: &Store,
    files: &[PathBuf],
    mut count: impl FnMut(&Path) -> Result<Counted, String>,
) -> Result<Vec<(PathBuf, FileOutcome)>, StoreError> {
    let mut txn = store.begin_write()?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| StoreError::Io { why: e.to_string() })?;
    txn.set_quick_repair(true);
    let mut outcomes = Vec::new();
    let mut written = Vec::new();
    {
        let mut imports = txn.open_table(IMPORTS).map_err(StoreError::io)?;
        let mut hours_table = txn.open_table(HOURS).map_err(StoreError::io)?;
        let mut days_table = txn.open_table(DAY_REMOTES).map_err(StoreError::io)?;
        let mut devices_table = txn.open_table(DAY_DEVICES).map_err(StoreError::io)?;
        let mut services_table = txn.open_table(DAY_SERVICES).map_err(StoreError::io)?;
        let mut pairs_table = txn.open_table(DAY_DEVICE_REMOTES).map_err(StoreError::io)?;
        for path in files {
            let (digest, tally, stopped_early) = match count(path) {
                Ok(counted) => counted,
                Err(why) => {
                    outcomes.push((path.clone(), FileOutcome::Failed { why }));
                    continue;
                }
            };
            if let Some(previous) = imports
                .get(&digest[..])
                .map_err(StoreError::io)?
                .and_then(|v| ImportRecord::decode(v.value()))
            {
                outcomes.push((path.clone(), FileOutcome::AlreadyImported { previous }));
                continue;
            }
            let hours = tally.file.hours();
            for (start, bytes) in &hours {
                let key = Hour {
                    scope: ALL_SCOPE,
                    start: *start,
                };
                let mut total = hours_table
                    .get(key)
                    .map_err(StoreError::io)?
                    .map(|v| v.value())
                    .unwrap_or_default();
                total += *bytes;
                hours_table.insert(key, total).map_err(StoreError::io)?;
                written.push((ALL_SCOPE, *start));
            }
            for (table, by_day, top, name) in [
                (
                    &mut days_table,
                    &tally.days,
                    store.top_per_day(),
                    DAY_REMOTES.name(),
                ),
                (
                    &mut devices_table,
                    &tally.devices,
                    store.devices_per_day(),
                    DAY_DEVICES.name(),
                ),
            ] {
                for (date, addresses) in by_day {
                    let key = Day {
                        scope: ALL_SCOPE,
                        date: *date,
                    };
                    let mut merged: HashMap<IpAddr, UpDown> =
                        match table.get(key).map_err(StoreError::io)? {
                            Some(value) => decode_or_set_aside(
                                &txn,
                                name,
                                day_in_words(ALL_SCOPE_NAME, *date),
                                value.value(),
                                decode_remotes,
                            )?
                            .into_iter()
                            .map(|r| (r.addr, r.bytes))
                            .collect(),
                            None => HashMap::new(),
                        };
                    for (addr, bytes) in addresses {
                        *merged.entry(*addr).or_default() += *bytes;
                    }
                    let mut list: Vec<RemoteBytes> = merged
                        .into_iter()
                        .map(|(addr, bytes)| RemoteBytes { addr, bytes })
                        .collect();
                    keep_heaviest(&mut list, top);
                    table
                        .insert(key, encode_remotes(&list).as_slice())
                        .map_err(StoreError::io)?;
                    if name == DAY_DEVICES.name() {
                        super::months::forget(&txn, ALL_SCOPE, *date)?;
                    }
                }
            }
            for (date, services) in &tally.services {
                let key = Day {
                    scope: ALL_SCOPE,
                    date: *date,
                };
                let (mut merged, unknown) = match services_table.get(key).map_err(StoreError::io)? {
                    Some(value) => decode_or_set_aside(
                        &txn,
                        DAY_SERVICES.name(),
                        day_in_words(ALL_SCOPE_NAME, *date),
                        value.value(),
                        decode_services_keeping,
                    )?,
                    None => Default::default(),
                };
                merged += *services;
                services_table
                    .insert(key, encode_services_keeping(&merged, &unknown).as_slice())
                    .map_err(StoreError::io)?;
            }
            for (date, pairs) in &tally.pairs {
                let mut merged = super::pairs::read_day(
                    &txn,
                    &pairs_table,
                    ALL_SCOPE,
                    *date,
                    &day_in_words(ALL_SCOPE_NAME, *date),
                )?;
                for (pair, bytes) in pairs {
                    *merged.entry(*pair).or_default() += *bytes;
                }
                let list = super::pairs::heaviest(merged, store.top_per_day());
                super::pairs::write_day(&txn, &mut pairs_table, ALL_SCOPE, *date, &list)?;
            }
            let record = ImportRecord {
                imported_at: unix_now(),
                packets: tally.file.packets_total,
                bytes: tally.file.total,
                file: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            };
            imports
                .insert(&digest[..], record.encode().as_slice())
                .map_err(StoreError::io)?;
            let zone = store.zone();
            outcomes.push((
                path.clone(),
                FileOutcome::Imported {
                    record,
                    hours: hours.len(),
                    first: hours.keys().min().map(|h| zone.date_of(*h)),
                    last: hours.keys().max().map(|h| zone.date_of(*h)),
                    stopped_early,
                    outside: tally.outside,
                },
            ));
        }
    }
    store.commit(txn, written, None)?;
    Ok(outcomes)
}
