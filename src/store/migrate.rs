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
//! it twice doubles nothing.
//!
//! # Rows that cannot be taken as they are
//! One policy for every kind of bad row: it is skipped, named on stderr with its row id, its
//! `hour_ts` and why, counted in the summary, and the exit code is 1; every good row is still
//! migrated. Nothing is adjusted: a row is bad when its `hour_ts` is not a text
//! `YYYY-MM-DD HH:00:00` on the hour, names a year outside the ones the history holds
//! ([`super::FIRST_YEAR`]–[`super::LAST_YEAR`]), or when a byte count is not a whole number of
//! zero or more (negative, fractional, text, empty).
//!
//! # The original file is only read
//! SQLite writes beside a database it opens (`-shm`, `-wal`, even read-only, for a database in
//! WAL mode) and cannot open a WAL database on a read-only mount. So the file and the journal
//! beside it that may hold committed rows (`-wal`, `-journal`) are copied into a private
//! temporary directory ([`std::env::temp_dir`], `TMPDIR`) and read there; the copy is removed
//! afterwards. Nothing beside the original is created or changed, on any mount.
//!
//! The history (`DB_PATH`) is opened, and created if new, only once the original has been read
//! and holds at least one row to take: a run that fails on the original leaves no new file.

use std::path::{Path, PathBuf};

use jiff::civil::DateTime;
use jiff::tz::Disambiguation;
use redb::{Durability, ReadableTable};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::schema::{ALL_SCOPE, HOURS, Hour, SQLITE_HOURS};
use super::{Store, StoreError};
use crate::clock::{HourStart, Zone};
use crate::count::UpDown;

/// What a migration took.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Migrated {
    /// Rows read from `traffic_hourly`, bad ones included.
    pub rows: u64,
    /// Rows taken for the first time (one with zero bytes too).
    pub new: u64,
    /// Rows taken before whose bytes changed since.
    pub changed: u64,
    /// Rows taken before with the same bytes: nothing to do.
    pub unchanged: u64,
    /// Rows skipped as bad (see the module's policy).
    pub skipped: Vec<BadRow>,
    /// Bytes added to the history by this run: up, down (wide, so huge rows cannot overflow).
    pub up: u128,
    pub down: u128,
}

/// A row skipped as bad.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRow {
    /// Its `rowid` (the original's `id`).
    pub id: i64,
    /// Its `hour_ts` as text (or a description of a non-text value).
    pub hour_ts: String,
    pub why: String,
}

impl std::fmt::Display for BadRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "traffic_hourly row id {} (hour_ts {}) skipped: {}",
            self.id, self.hour_ts, self.why
        )
    }
}

/// Why the old database cannot be migrated.
#[derive(Debug)]
pub enum MigrateError {
    /// Not a SQLite file of the original, or unreadable; the text says which and what to do.
    Source(String),
    Store(StoreError),
}

impl std::fmt::Display for MigrateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MigrateError::Source(why) => write!(f, "nothing was migrated: {why}"),
            MigrateError::Store(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for MigrateError {}

/// A good row: its label, the hour it is, its bytes.
#[derive(Debug)]
struct Row {
    label: String,
    hour: HourStart,
    bytes: UpDown,
}

/// The original's rows, sorted into good and bad.
#[derive(Debug)]
pub struct Original {
    rows: Vec<Row>,
    bad: Vec<BadRow>,
}

impl Original {
    /// The rows skipped as bad.
    pub fn bad(&self) -> &[BadRow] {
        &self.bad
    }

    /// No good row to take.
    pub fn has_no_rows(&self) -> bool {
        self.rows.is_empty()
    }
}

/// A private directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> std::io::Result<Scratch> {
        use std::os::unix::fs::DirBuilderExt;
        let base = std::env::temp_dir();
        let mut attempt = 0u32;
        loop {
            let dir = base.join(format!(
                "nettraffic-sentinel-migrate-{}-{attempt}",
                std::process::id()
            ));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Ok(Scratch(dir)),
                Err(error)
                    if error.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 =>
                {
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // A copy of the original's data; nothing of ours is lost if it stays behind.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Read every row of the original's `traffic_hourly` at `path`, labels taken in `zone`.
pub fn read_original(path: &Path, zone: &Zone) -> Result<Original, MigrateError> {
    let name = path.display();
    let hint = "name the original's SQLite file, usually data/traffic.db";
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => {
            return Err(MigrateError::Source(format!(
                "{name} is not an ordinary file: {hint}"
            )));
        }
        Err(error) => {
            return Err(MigrateError::Source(format!(
                "{name} cannot be read ({error}): {hint}"
            )));
        }
    }
    let scratch = Scratch::new().map_err(|error| {
        MigrateError::Source(format!(
            "no private copy of {name} could be made in {} ({error}): set TMPDIR to a writable directory",
            std::env::temp_dir().display()
        ))
    })?;
    let copy = scratch.0.join("traffic.db");
    std::fs::copy(path, &copy)
        .map_err(|error| MigrateError::Source(format!("{name} cannot be read ({error})")))?;
    for suffix in ["-wal", "-journal"] {
        let mut beside = path.as_os_str().to_os_string();
        beside.push(suffix);
        let beside = PathBuf::from(beside);
        if std::fs::metadata(&beside).is_ok_and(|meta| meta.is_file()) {
            let mut target = copy.as_os_str().to_os_string();
            target.push(suffix);
            std::fs::copy(&beside, PathBuf::from(target)).map_err(|error| {
                MigrateError::Source(format!("{} cannot be read ({error})", beside.display()))
            })?;
        }
    }
    let unreadable = |error: rusqlite::Error| {
        MigrateError::Source(format!(
            "{name} cannot be read as the original's history ({error}): {hint}"
        ))
    };
    // Read-write on the private copy only: SQLite may need to replay the copied journal.
    let connection = Connection::open_with_flags(
        &copy,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(unreadable)?;
    let mut statement = connection
        .prepare("SELECT rowid, hour_ts, up_bytes, down_bytes FROM traffic_hourly ORDER BY rowid")
        .map_err(unreadable)?;
    let mut rows = statement.query([]).map_err(unreadable)?;
    let mut original = Original {
        rows: Vec::new(),
        bad: Vec::new(),
    };
    while let Some(row) = rows.next().map_err(unreadable)? {
        let id: i64 = row.get(0).map_err(unreadable)?;
        let label = match row.get_ref(1).map_err(unreadable)? {
            ValueRef::Text(text) => Ok(String::from_utf8_lossy(text).into_owned()),
            other => Err(describe(other)),
        };
        let up = count(row.get_ref(2).map_err(unreadable)?);
        let down = count(row.get_ref(3).map_err(unreadable)?);
        match check_row(zone, label, up, down) {
            Ok(good) => original.rows.push(good),
            Err((hour_ts, why)) => original.bad.push(BadRow { id, hour_ts, why }),
        }
    }
    Ok(original)
}

/// A good row, or the bad one's `hour_ts` (quoted) and why it is bad.
fn check_row(
    zone: &Zone,
    label: Result<String, String>,
    up: Result<u64, String>,
    down: Result<u64, String>,
) -> Result<Row, (String, String)> {
    let label = match label {
        Ok(label) => label,
        Err(what) => return Err((what, "hour_ts is not text".into())),
    };
    let quoted = format!("'{label}'");
    let hour = hour_of(zone, &label).map_err(|why| (quoted.clone(), why))?;
    let up = up.map_err(|what| (quoted.clone(), format!("up_bytes is {what}")))?;
    let down = down.map_err(|what| (quoted.clone(), format!("down_bytes is {what}")))?;
    Ok(Row {
        label,
        hour,
        bytes: UpDown { up, down },
    })
}

/// A byte count: a whole number of zero or more, else what it is instead.
fn count(value: ValueRef<'_>) -> Result<u64, String> {
    match value {
        ValueRef::Integer(n) => u64::try_from(n).map_err(|_| format!("negative ({n})")),
        other => Err(describe(other)),
    }
}

fn describe(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => "empty (NULL)".into(),
        ValueRef::Integer(n) => format!("the number {n}"),
        ValueRef::Real(x) => format!("not a whole number ({x})"),
        ValueRef::Text(text) => {
            let text = String::from_utf8_lossy(text);
            let short: String = text.chars().take(40).collect();
            format!("text ('{short}')")
        }
        ValueRef::Blob(blob) => format!("binary data ({} bytes)", blob.len()),
    }
}

/// The hour start of a local label in `zone`, or why the label is not one the history takes.
fn hour_of(zone: &Zone, label: &str) -> Result<HourStart, String> {
    let not_a_label = || "hour_ts is not 'YYYY-MM-DD HH:00:00'".to_string();
    let datetime: DateTime = label.trim().parse().map_err(|_| not_a_label())?;
    if datetime.minute() != 0 || datetime.second() != 0 || datetime.subsec_nanosecond() != 0 {
        return Err("hour_ts is not on the hour ('YYYY-MM-DD HH:00:00')".into());
    }
    if !super::holds(datetime.date()) {
        return Err(format!(
            "its year is outside {}-{}, the years the history holds",
            super::FIRST_YEAR,
            super::LAST_YEAR
        ));
    }
    let zoned = zone
        .time_zone()
        .to_ambiguous_zoned_datetime(datetime)
        .disambiguate(Disambiguation::Earlier)
        .map_err(|_| not_a_label())?;
    Ok(zone.hour_start(zoned.timestamp().as_second()))
}

/// Migrate `old` into `store` in one transaction (bad rows skipped, see the module's policy).
///
/// # Errors
/// When the old file cannot be read or the history cannot be written; nothing is stored then.
pub fn migrate(store: &Store, old: &Path) -> Result<Migrated, MigrateError> {
    let original = read_original(old, store.zone())?;
    take(store, original)
}

/// Store the good rows of `original` in one transaction.
pub fn take(store: &Store, original: Original) -> Result<Migrated, MigrateError> {
    let io = |e: StoreError| MigrateError::Store(e);
    let mut txn = store.begin_write().map_err(io)?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| io(StoreError::Io { why: e.to_string() }))?;
    txn.set_quick_repair(true);
    let mut migrated = Migrated {
        rows: (original.rows.len() + original.bad.len()) as u64,
        skipped: original.bad,
        ..Migrated::default()
    };
    let mut written = Vec::new();
    {
        let mut taken_table = txn
            .open_table(SQLITE_HOURS)
            .map_err(|e| io(StoreError::io(e)))?;
        let mut hours = txn.open_table(HOURS).map_err(|e| io(StoreError::io(e)))?;
        for Row { label, hour, bytes } in original.rows {
            let taken = taken_table
                .get(label.as_str())
                .map_err(|e| io(StoreError::io(e)))?
                .map(|v| v.value());
            match taken {
                Some(taken) if taken == bytes => {
                    migrated.unchanged += 1;
                    continue;
                }
                Some(_) => migrated.changed += 1,
                None => migrated.new += 1,
            }
            let taken = taken.unwrap_or_default();
            if taken != bytes {
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
            }
            taken_table
                .insert(label.as_str(), bytes)
                .map_err(|e| io(StoreError::io(e)))?;
            migrated.up += u128::from(bytes.up.saturating_sub(taken.up));
            migrated.down += u128::from(bytes.down.saturating_sub(taken.down));
        }
    }
    store.commit(txn, written, None).map_err(io)?;
    Ok(migrated)
}
