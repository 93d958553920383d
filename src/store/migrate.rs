//! `migrate-sqlite OLD.db`: the original Python product's hourly history into ours.
//!
//! The original kept `traffic_hourly(hour_ts TEXT 'YYYY-MM-DD HH:00:00' in local time, up_bytes,
//! down_bytes)`. Each row's label is read in the configured zone (`TZ`, as the original's
//! container wrote it) and its bytes go to the all-interface bucket of that local hour. A label
//! that occurs twice a year (clocks falling back) is the earlier of the two hours, since the
//! original merged both into one row; a label inside a DST gap is the hour after it.
//!
//! Idempotent: the bytes taken from each row are recorded under its label (`sqlite_hours`), and a
//! second run adds only what a row gained since (the original may have kept running), so running
//! it twice doubles nothing. The SQLite file is opened read-only and never changed.

use std::path::Path;

use jiff::civil::DateTime;
use jiff::tz::Disambiguation;
use redb::{Durability, ReadableTable};
use rusqlite::{Connection, OpenFlags};

use super::schema::{ALL_SCOPE, HOURS, Hour, SQLITE_HOURS};
use super::{Store, StoreError};
use crate::count::UpDown;

/// What a migration took.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Migrated {
    /// Rows read from `traffic_hourly`.
    pub rows: u64,
    /// Rows that added anything (new, or grown since the last run).
    pub changed: u64,
    /// Bytes added to the history by this run.
    pub bytes: UpDown,
}

/// Why the old database cannot be migrated.
#[derive(Debug)]
pub enum MigrateError {
    /// Not a SQLite file of the original, or unreadable.
    Source(String),
    /// A row whose `hour_ts` is not 'YYYY-MM-DD HH:MM:SS'.
    BadRow(String),
    Store(StoreError),
}

impl std::fmt::Display for MigrateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MigrateError::Source(why) => write!(
                f,
                "cannot read the original's history ({why}): name its SQLite file, usually data/traffic.db"
            ),
            MigrateError::BadRow(label) => write!(
                f,
                "traffic_hourly has an hour_ts '{label}' that is not 'YYYY-MM-DD HH:00:00'; nothing was migrated"
            ),
            MigrateError::Store(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for MigrateError {}

/// Read every row of the original's `traffic_hourly`.
fn rows(path: &Path) -> Result<Vec<(String, UpDown)>, MigrateError> {
    let source = |e: rusqlite::Error| MigrateError::Source(e.to_string());
    if !path.is_file() {
        return Err(MigrateError::Source(format!(
            "{} is not a file",
            path.display()
        )));
    }
    let connection =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(source)?;
    let mut statement = connection
        .prepare("SELECT hour_ts, up_bytes, down_bytes FROM traffic_hourly ORDER BY hour_ts")
        .map_err(source)?;
    let mapped = statement
        .query_map([], |row| {
            let label: String = row.get(0)?;
            let up: i64 = row.get(1)?;
            let down: i64 = row.get(2)?;
            Ok((label, up, down))
        })
        .map_err(source)?;
    let mut out = Vec::new();
    for row in mapped {
        let (label, up, down) = row.map_err(source)?;
        // Negative counts cannot be traffic; the original never wrote them.
        out.push((
            label,
            UpDown {
                up: up.max(0) as u64,
                down: down.max(0) as u64,
            },
        ));
    }
    Ok(out)
}

/// The hour start of a local label, in `store`'s zone.
fn hour_of(store: &Store, label: &str) -> Option<i64> {
    let datetime: DateTime = label.trim().parse().ok()?;
    let zoned = store
        .zone()
        .time_zone()
        .to_ambiguous_zoned_datetime(datetime)
        .disambiguate(Disambiguation::Earlier)
        .ok()?;
    Some(store.zone().hour_start(zoned.timestamp().as_second()))
}

/// Migrate `old` into `store` in one transaction.
///
/// # Errors
/// When the old file cannot be read, a row's label cannot be read, or the history cannot be
/// written; nothing is stored then.
pub fn migrate(store: &Store, old: &Path) -> Result<Migrated, MigrateError> {
    let rows = rows(old)?;
    let mut plan = Vec::with_capacity(rows.len());
    for (label, bytes) in rows {
        let hour = hour_of(store, &label).ok_or_else(|| MigrateError::BadRow(label.clone()))?;
        plan.push((label, hour, bytes));
    }
    let io = |e: StoreError| MigrateError::Store(e);
    let mut txn = store.begin_write().map_err(io)?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| io(StoreError::Io { why: e.to_string() }))?;
    txn.set_quick_repair(true);
    let mut migrated = Migrated::default();
    let mut written = Vec::new();
    {
        let mut taken_table = txn
            .open_table(SQLITE_HOURS)
            .map_err(|e| io(StoreError::io(e)))?;
        let mut hours = txn.open_table(HOURS).map_err(|e| io(StoreError::io(e)))?;
        for (label, hour, bytes) in plan {
            migrated.rows += 1;
            let taken = taken_table
                .get(label.as_str())
                .map_err(|e| io(StoreError::io(e)))?
                .map(|v| v.value())
                .unwrap_or_default();
            if taken == bytes {
                continue;
            }
            let key = Hour {
                scope: ALL_SCOPE,
                start: hour,
            };
            written.push((ALL_SCOPE, hour));
            let mut total = hours
                .get(key)
                .map_err(|e| io(StoreError::io(e)))?
                .map(|v| v.value())
                .unwrap_or_default();
            // Replace what this row gave before by what it holds now.
            total.up = total.up.saturating_sub(taken.up).saturating_add(bytes.up);
            total.down = total
                .down
                .saturating_sub(taken.down)
                .saturating_add(bytes.down);
            hours
                .insert(key, total)
                .map_err(|e| io(StoreError::io(e)))?;
            taken_table
                .insert(label.as_str(), bytes)
                .map_err(|e| io(StoreError::io(e)))?;
            migrated.changed += 1;
            migrated.bytes.up += bytes.up.saturating_sub(taken.up);
            migrated.bytes.down += bytes.down.saturating_sub(taken.down);
        }
    }
    store.commit(txn, written, None).map_err(io)?;
    Ok(migrated)
}

/// The `migrate-sqlite` command: 0 on success, 1 when the old file cannot be migrated, 2 when
/// the history cannot be used.
pub fn command(config: &crate::config::Config, old: &Path) -> std::process::ExitCode {
    use crate::units::format_bytes;
    use std::process::ExitCode;
    let store = match Store::open(&config.db_path, config.zone.clone(), config.top_ips_per_day) {
        Ok(store) => store,
        Err(error) => {
            eprintln!("nettraffic-sentinel: {error}");
            return ExitCode::from(2);
        }
    };
    match migrate(&store, old) {
        Ok(m) => {
            println!(
                "{}: {} rows read, {} taken ({} already migrated), up {} down {} added ({} and {} bytes)",
                old.display(),
                m.rows,
                m.changed,
                m.rows - m.changed,
                format_bytes(m.bytes.up),
                format_bytes(m.bytes.down),
                m.bytes.up,
                m.bytes.down
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("nettraffic-sentinel: {error}");
            ExitCode::from(1)
        }
    }
}
