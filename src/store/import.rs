//! `import FILE…`: count capture files into the history by their packets' own timestamps.
//!
//! Frames are read and counted exactly as `report` counts them (the same capture reader and
//! [`Counter`]), whatever their date from 1900 to 2999: 1970 included, because only live capture
//! guards against a wrong system clock. Traffic a file dates outside those years (the history
//! holds and the API answers for no other) is left out and its packets and bytes reported.
//! Each input is read once, front to back, so it may be a named pipe. A file's hours are added to the all-interface scope (it belongs to no
//! monitored interface). Its remote addresses are tallied per local day and merged into that
//! day's all-interface list, which keeps the heaviest `TOP_IPS_PER_DAY` of the stored and the
//! imported addresses together.
//!
//! The SHA-256 of each file's content (as far as it was read, see [`count`]) is recorded with what it added, so importing the same
//! capture again (under any name) adds nothing and says so. All files of one command go into one
//! transaction: either the whole import is stored or none of it.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufReader, Read};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use jiff::civil::Date;
use redb::{Durability, ReadableTable};
use sha2::{Digest, Sha256};

use super::schema::{
    ALL_SCOPE, DAY_REMOTES, Day, HOURS, Hour, IMPORTS, ImportRecord, RemoteBytes, decode_remotes,
    encode_remotes, keep_heaviest,
};
use super::{Store, StoreError};
use crate::capture::file::read_capture;
use crate::classify::Direction;
use crate::clock::unix_now;
use crate::clock::{HourStart, Zone};
use crate::count::{Counter, FileTally, Tally, UpDown};

/// A file's counts with its remote addresses per local day.
#[derive(Debug)]
pub struct DayTally {
    pub file: FileTally,
    pub days: BTreeMap<Date, HashMap<IpAddr, UpDown>>,
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
    fn traffic(&mut self, hour: HourStart, direction: Direction, remote: IpAddr, bytes: u64) {
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
        self.file.traffic(hour, direction, remote, bytes);
        self.days
            .entry(day)
            .or_default()
            .entry(remote)
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

/// Count `path` with `counter`: the file's digest and its per-day tally.
///
/// The file is read once, front to back, and hashed as it is counted, so a named pipe,
/// `/dev/stdin` or `<(…)` imports like a file, and a file `report` rejects is rejected after the
/// same few bytes. The digest is of the bytes read: the whole content, or, when reading stopped
/// early (damaged from some record on), the content up to there, which is what was counted. The
/// reader asks for exact amounts, so that is the same for a file and a pipe of the same bytes,
/// and an endless stream that turns to garbage is not read on forever.
///
/// # Errors
/// A message naming why the file cannot be read or is not a capture.
pub fn count(
    path: &Path,
    counter: &mut Counter,
) -> Result<([u8; 32], DayTally, Option<String>), String> {
    let zone = counter.clock().zone().clone();
    let mut tally = DayTally::new(zone);
    let file = File::open(path).map_err(|error| error.to_string())?;
    let mut input = Hashing {
        inner: BufReader::with_capacity(256 * 1024, file),
        hasher: Sha256::new(),
    };
    let info = read_capture(&mut input, |record| {
        // Exactly the frame `report` builds from a record.
        let frame = record.frame();
        counter.count(&frame, &mut tally);
    })
    .map_err(|error| error.to_string())?;
    tally.file.packets_total = info.packets_total;
    let mut digest = [0u8; 32];
    digest.copy_from_slice(input.hasher.finalize().as_slice());
    Ok((digest, tally, info.stopped_early))
}

/// A reader that hashes every byte it hands on.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.hasher.update(&buffer[..read]);
        Ok(read)
    }
}

/// Import `files` into `store` in one transaction, counting each with a fresh copy of `counter`.
///
/// # Errors
/// When the transaction fails; files that cannot be read are reported in their outcome.
pub fn import(
    store: &Store,
    counter: &Counter,
    files: &[PathBuf],
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
        for path in files {
            // A fresh counter per file: nothing of one file's hour cache leaks into the next.
            let mut counter = counter.clone();
            let (digest, tally, stopped_early) = match count(path, &mut counter) {
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
                total.up = total.up.saturating_add(bytes.up);
                total.down = total.down.saturating_add(bytes.down);
                hours_table.insert(key, total).map_err(StoreError::io)?;
                written.push((ALL_SCOPE, *start));
            }
            for (date, remotes) in &tally.days {
                let key = Day {
                    scope: ALL_SCOPE,
                    date: *date,
                };
                let mut merged: HashMap<IpAddr, UpDown> =
                    match days_table.get(key).map_err(StoreError::io)? {
                        Some(value) => decode_remotes(value.value())
                            .unwrap_or_default()
                            .into_iter()
                            .map(|r| (r.addr, r.bytes))
                            .collect(),
                        None => HashMap::new(),
                    };
                for (addr, bytes) in remotes {
                    *merged.entry(*addr).or_default() += *bytes;
                }
                let mut list: Vec<RemoteBytes> = merged
                    .into_iter()
                    .map(|(addr, bytes)| RemoteBytes { addr, bytes })
                    .collect();
                keep_heaviest(&mut list, store.top_per_day());
                days_table
                    .insert(key, encode_remotes(&list).as_slice())
                    .map_err(StoreError::io)?;
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

/// The `import` command: open the history, import `files`, say what happened to each.
/// Exit code 0, 1 when a file could not be counted (the others are imported), 2 when the history
/// cannot be used.
pub fn command(config: &crate::config::Config, files: &[PathBuf]) -> std::process::ExitCode {
    use crate::classify::AddressClassifier;
    use crate::clock::HourClock;
    use crate::units::format_bytes;
    use std::process::ExitCode;

    let store = match Store::open(&config.db_path, config.zone.clone(), config.top_ips_per_day) {
        Ok(store) => store,
        Err(error) => {
            eprintln!("nettraffic-sentinel: {error}");
            return ExitCode::from(2);
        }
    };
    let counter = Counter::new(
        AddressClassifier::new(&config.local_prefixes),
        HourClock::new(config.zone.clone()),
    );
    let imported = import(&store, &counter, files);
    let nothing_imported = imported.as_ref().map_or(true, |outcomes| {
        !outcomes
            .iter()
            .any(|(_, outcome)| matches!(outcome, FileOutcome::Imported { .. }))
    });
    if nothing_imported {
        // A history this run made holds nothing: leave none behind.
        store.discard_if_created();
    }
    let outcomes = match imported {
        Ok(outcomes) => outcomes,
        Err(error) => {
            eprintln!("nettraffic-sentinel: nothing was imported: {error}");
            return ExitCode::from(2);
        }
    };
    let mut failed = false;
    for (path, outcome) in outcomes {
        let name = path.display();
        match outcome {
            FileOutcome::Imported {
                record,
                hours,
                first,
                last,
                stopped_early,
                outside,
            } => {
                if let Some(why) = stopped_early {
                    eprintln!(
                        "nettraffic-sentinel: warning: {name}: {why}; the packets before it are imported"
                    );
                }
                if outside.packets > 0 {
                    eprintln!(
                        "nettraffic-sentinel: warning: {name}: {} packets (up {}, down {}) are dated outside the years {}-{} the history holds and were left out",
                        outside.packets,
                        format_bytes(outside.bytes.up),
                        format_bytes(outside.bytes.down),
                        super::FIRST_YEAR,
                        super::LAST_YEAR
                    );
                }
                let span = match (first, last) {
                    (Some(first), Some(last)) if first == last => format!(", on {first}"),
                    (Some(first), Some(last)) => format!(", {first} to {last}"),
                    _ => String::new(),
                };
                println!(
                    "{name}: imported {} packets: up {}, down {} in {hours} hour(s){span}",
                    record.packets,
                    format_bytes(record.bytes.up),
                    format_bytes(record.bytes.down)
                );
            }
            FileOutcome::AlreadyImported { previous } => {
                let when = config.zone.date_of(previous.imported_at);
                println!(
                    "{name}: already imported ({} on {when}, same content); nothing added",
                    previous.file
                );
            }
            FileOutcome::Failed { why } => {
                failed = true;
                eprintln!("nettraffic-sentinel: {name}: {why}; not imported");
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
