//! The history: one redb file that keeps every hour of traffic for as long as the NAS lives.
//!
//! Jobs, one per file: [`schema`] (tables and byte layouts), [`open`] (refuse files that are not
//! ours, damaged or newer, before anything is written), [`days`] (each scope's day sums, kept in
//! memory beside the file), [`overlay`] (what memory holds and has not committed yet, and the
//! marks of what the last commit took), [`query`] (series, totals and top addresses computed on
//! read, with the overlay added), [`tally`] (a range's exact sums per address over many day lists,
//! and the heaviest of them), [`pairs`] (each device's remote addresses per day), [`set_aside`]
//! (a stored day that cannot be read is copied aside before a writer replaces it), [`import`]
//! (counted capture files into the history), [`months`] (a heavy device's remote addresses
//! summed per closed month),
//! [`migrate`] (the original's SQLite history) and [`alerts`] (the quota alerts' states, each
//! change committed on its own). Every writer (the [`persister`](crate::persister)
//! above, the import and migrate commands) commits through [`Store::commit`], which publishes the
//! new day sums (and the persister's marks) to readers in the same step.
//!
//! The store knows nothing of capture, the settings or the web server: it depends only on the
//! floors below it (clock, count, the live state's plain data), and the commands and the
//! persister above bring it what they read.
//!
//! # Layout (schema version 3)
//!
//! Numbers in keys are big-endian and signed ones have their sign bit flipped, so keys compare as
//! plain bytes in numeric order; numbers in values are little-endian.
//!
//! | table | key | value |
//! |---|---|---|
//! | `meta` | text: `format`, `schema_version`, `created`, `last_commit` | bytes: `b"nettraffic-sentinel history"`, u32 LE, i64 LE Unix second, i64 LE Unix second |
//! | `scopes` | text: interface name, `""` for all interfaces together | u32: scope id (`""` is 0) |
//! | `hours` | 12 bytes: `scope u32 BE \| hour start i64 BE^sign` | 16 bytes: `up u64 LE \| down u64 LE` |
//! | `day_remotes` | 8 bytes: `scope u32 BE \| year i16 BE^sign \| month u8 \| day u8` | entries `family u8 (4\|6) \| address (4\|16 bytes) \| up varint \| down varint`, heaviest first |
//! | `day_devices` | as `day_remotes` | the day's heaviest local addresses (devices), in `day_remotes`' encoding; absent in files written before it (read as no devices) |
//! | `day_device_labels` | as `day_remotes` | how those devices were shown: `family \| address \| flags u8 (1 MAC, 2 name) \| MAC (6) \| name length u8 \| name` |
//! | `day_services` | as `day_remotes` | the day's bytes by service: entries `name length u8 \| name (the service's stable name) \| up varint \| down varint`; absent in files written before it (read as no services) |
//! | `day_device_remotes` | 13 or 25 bytes: the `day_remotes` key, then `family u8 (4\|6) \| device address (4\|16)` | that device's remote addresses of the day, in `day_remotes`' encoding; the day keeps its heaviest `TOP_IPS_PER_DAY` (device, remote) pairs over all devices; absent in files written before it (read as no pairs) |
//! | `month_device_remotes` | as `day_device_remotes`, with the month's first day as the date | a device's remote addresses summed over one closed month, in `day_remotes`' encoding, its `REMOTES_PER_DEVICE_MONTH` (4,096) heaviest; only for a device whose days of the month hold more entries than that ([`months`]) |
//! | `months_summed` | as `day_remotes`, with the month's first day as the date | u32: how many of the month's device lists were cut; a month without this mark is read by day |
//! | `imports` | 32 bytes: SHA-256 of an imported capture file | `imported_at i64 LE \| packets u64 LE \| up u64 LE \| down u64 LE \| file name UTF-8` |
//! | `sqlite_hours` | text: the original's `hour_ts`, e.g. `2024-08-15 13:00:00` | 16 bytes: the row's bytes already taken, as in `hours` |
//! | `set_aside` | redb's `(&str, &str, i64)`: table, the key in words (e.g. `eth0 2026-12-06`), Unix second it was set aside | a per-day value that could not be read when a writer was about to replace it, its bytes as they were |
//! | `quota_alerts` | redb's `(i64, u32)`: billing cycle start (UTC second), alert code (a threshold's percent; 0 for "will run out") | `state u8 (1 pending, 2 sent) \| changed_at i64 LE \| message UTF-8 JSON` |
//!
//! A varint is an unsigned LEB128 number: seven bits a byte, low bits first, the top bit set on
//! every byte but the last. Version 1 stored the two counts of a day's addresses as `u64 LE`:
//! 22.2 KB for a day of 1,000 addresses (10 % IPv6) against 13.9 KB now, and since redb keeps a
//! value this large in a power-of-two run of 4 KiB pages, 32 KiB against 16 KiB in the file (ten
//! years: 136 MiB against 68 MiB, as redb doubles a file that runs out of room). Opening a
//! version 1 file rewrites its lists once.
//!
//! `quota_alerts` ([`alerts`]) is made by the first alert the quota engine records; a file
//! without it reads as "no alert has fired", so it needs no new schema version, and older
//! programs ignore it.
//!
//! An hour start is the UTC second at which the local hour begins ([`crate::clock::HourStart`]),
//! so the two hours that share a label when clocks fall back stay apart. Scope 0 holds every
//! interface together plus imported and migrated history (which belong to no interface), so it
//! may exceed the sum of the interface scopes. Remote addresses are kept per interface scope and
//! local day (at most `TOP_IPS_PER_DAY` each); "all interfaces" merges them on read, and imported
//! addresses sit in scope 0. Days, months and years of traffic are never stored: the day sums are
//! made when the file is opened and kept in memory, and months, years and ranges add them up on
//! read. The one thing summed per month in the file is a heavy device's remote addresses
//! ([`months`]): version 3 added it, and a version 2 file is upgraded by its version record alone
//! (the persister sums its closed months in the background).
//!
//! # Durability
//! Every commit is `Durability::Immediate` with redb's quick repair on: the allocator state is
//! saved with each commit and the commit is two-phase, so reopening after a crash or power cut
//! takes milliseconds instead of a walk over the whole file. The price is two `fsync`s per
//! commit, once per `SAVE_INTERVAL`.

pub mod alerts;
pub mod days;
pub mod import;
pub mod migrate;
pub mod months;
pub mod open;
pub mod overlay;
pub(crate) mod pairs;
pub mod query;
pub mod schema;
pub mod set_aside;
pub mod tally;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockWriteGuard};

use redb::{Database, ReadOnlyDatabase, ReadTransaction, WriteTransaction};

use crate::clock::{HourStart, Zone};
pub use alerts::{AlertRecord, AlertState};
use days::DayIndex;
pub use overlay::{Committed, LiveView, PLAUSIBLE_FROM};
pub use query::{Granularity, Point, ReadView, RemoteTotal, Scope};

/// The first year the history holds, and the first the API's date parameters may name.
pub const FIRST_YEAR: i16 = 1900;
/// The last year the history holds (the original crashed on year 9999): traffic a capture file
/// or an old database dates outside `FIRST_YEAR..=LAST_YEAR` is not stored, since no query could
/// ask for it (and a date beyond 9999 cannot even be written down; it would be clamped).
pub const LAST_YEAR: i16 = 2999;

/// The first day the history holds.
pub const FIRST_DAY: jiff::civil::Date = jiff::civil::Date::constant(FIRST_YEAR, 1, 1);
/// The last day the history holds.
pub const LAST_DAY: jiff::civil::Date = jiff::civil::Date::constant(LAST_YEAR, 12, 31);

/// Whether `date` is one the history holds and the API answers for.
pub fn holds(date: jiff::civil::Date) -> bool {
    (FIRST_DAY..=LAST_DAY).contains(&date)
}

/// redb's page cache. Its default (1 GiB) suits a server; a commit here touches a few dozen
/// pages and the ten-year hourly table of one interface is about 3 MiB, so 4 MiB keeps the hot
/// part of the history in memory and leaves the rest to the kernel's page cache.
pub const CACHE_BYTES: usize = 4 << 20;

/// Why the history file cannot be used. Each message is one sentence a NAS owner can act on.
#[derive(Debug)]
pub enum StoreError {
    /// The file exists but is something else (not redb, or another program's redb file).
    NotOurs { path: PathBuf },
    /// The file is an SQLite database: most likely the original Python product's history, kept
    /// at its old `DB_PATH` when switching.
    Sqlite { path: PathBuf },
    /// The file is ours (or looks like redb) but cannot be read.
    Damaged { path: PathBuf, why: String },
    /// Written by a newer version of this program.
    Newer { path: PathBuf, version: u32 },
    /// Written by an older version, and the upgrade to this version's layout failed.
    Upgrade {
        path: PathBuf,
        from: u32,
        why: String,
    },
    /// Something other than an ordinary file with content is at the path (a directory, device,
    /// named pipe, socket, dangling symbolic link or empty file); `what` says which.
    NotAFile { path: PathBuf, what: String },
    /// Another process created the file at the same moment as this one (two monitors, or the
    /// monitor and `import`, started together on a new `DB_PATH`).
    CreatedElsewhere { path: PathBuf },
    /// Another process (usually the running monitor) has the file open.
    InUse { path: PathBuf },
    /// The file or its directory cannot be created or written.
    Unwritable { path: PathBuf, why: String },
    /// A read or write failed while the file was open (disk full, read-only file system, I/O).
    Io { why: String },
    /// Nothing is at the path, and the command only reads an existing history.
    Missing { path: PathBuf },
    /// The file would have to be written before it can be read (recovered after a crash, or
    /// upgraded from an older layout), and the command only reads; `why` says which.
    ReadOnly { path: PathBuf, why: String },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotOurs { path } => write!(
                f,
                "DB_PATH {} is not a NetTraffic-Sentinel database (it holds something else) and was left untouched: set DB_PATH to another file or move that one away",
                path.display()
            ),
            StoreError::Sqlite { path } => write!(
                f,
                "DB_PATH {0} is an SQLite database (the Python NetTraffic-Sentinel's history?) and was left untouched: set DB_PATH to a new file such as /data/traffic.redb and bring the old history over with 'nettraffic-sentinel migrate-sqlite {0}'",
                path.display()
            ),
            StoreError::Damaged { path, why } => write!(
                f,
                "DB_PATH {} is damaged ({why}) and was left untouched: restore it from a backup, or move it away to start a new history",
                path.display()
            ),
            StoreError::Newer { path, version } => write!(
                f,
                "DB_PATH {} was written by a newer NetTraffic-Sentinel (database version {version}, this program reads up to {}) and was left untouched: run the newer version",
                path.display(),
                schema::SCHEMA_VERSION
            ),
            StoreError::Upgrade { path, from, why } => write!(
                f,
                "DB_PATH {} was written by an older NetTraffic-Sentinel (database version {from}) and could not be upgraded to version {} ({why}); it was left as it was: free some disk space and start again, or restore it from a backup if it is damaged",
                path.display(),
                schema::SCHEMA_VERSION
            ),
            StoreError::NotAFile { path, what } => write!(
                f,
                "DB_PATH {} is {what}, not a history file, and was left untouched: point DB_PATH at an existing history or at a path where nothing exists yet (a new history is created there), such as /data/traffic.redb",
                path.display()
            ),
            StoreError::CreatedElsewhere { path } => write!(
                f,
                "DB_PATH {} was being created by another NetTraffic-Sentinel process at the same moment (two monitors, or the monitor and import, started together), so this one stopped and left it to that one: run one monitor per DB_PATH and start this command again",
                path.display()
            ),
            StoreError::InUse { path } => write!(
                f,
                "DB_PATH {} is open in another NetTraffic-Sentinel process (the monitor?): stop it first, or use another file",
                path.display()
            ),
            StoreError::Unwritable { path, why } => write!(
                f,
                "DB_PATH {} cannot be created or written ({why}): point DB_PATH at a writable place such as /data/traffic.redb",
                path.display()
            ),
            StoreError::Io { why } => write!(f, "the database could not be written: {why}"),
            StoreError::Missing { path } => write!(
                f,
                "DB_PATH {} does not exist: point DB_PATH (or --db) at the monitor's history file, such as /data/traffic.redb",
                path.display()
            ),
            StoreError::ReadOnly { path, why } => write!(
                f,
                "DB_PATH {} cannot be read without writing to it ({why}): start the monitor on it once (it does that at start), stop it, and try again",
                path.display()
            ),
        }
    }
}

impl std::error::Error for StoreError {}

impl StoreError {
    /// A failure while the file was open, with the OS's reason when there is one.
    pub(crate) fn io(error: impl Into<redb::Error>) -> StoreError {
        let error: redb::Error = error.into();
        let why = match &error {
            redb::Error::Io(io) => io.to_string(),
            other => other.to_string(),
        };
        StoreError::Io { why }
    }
}

/// What readers take as one consistent state: the day sums and the persister's marks of the same
/// commit. Replaced whole (never changed in place) each time a commit is published.
#[derive(Debug, Default)]
pub(crate) struct Published {
    /// Counts the commits published, so a reader can tell whether the file moved on.
    pub generation: u64,
    pub days: Arc<DayIndex>,
    pub marks: Arc<Committed>,
}

/// The open file: for writing (the monitor, `import`, `migrate-sqlite`) or only for reading
/// (`export`, beside no writer).
enum Handle {
    Writable(Database),
    ReadOnly(ReadOnlyDatabase),
}

/// The parts of the store that readers share (a [`ReadView`] keeps an `Arc` of this).
pub(crate) struct Shared {
    /// `None` after a write error until it is reopened: redb refuses every operation after an
    /// I/O error ("previous I/O error") until the database is closed and opened again.
    db: RwLock<Option<Handle>>,
    /// Held for writing from a commit until its state is published, and for reading while a
    /// reader opens a read transaction: so that transaction always belongs to the published
    /// state the reader pairs it with. Queries that need no file (days, months, totals) never
    /// wait here, also not during a commit's `fsync`.
    gate: RwLock<()>,
    published: Mutex<Arc<Published>>,
    pub zone: Zone,
}

impl Shared {
    pub(crate) fn published(&self) -> Arc<Published> {
        Arc::clone(
            &self
                .published
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// A read transaction and the published state it belongs to.
    pub(crate) fn begin_read(&self) -> Result<(ReadTransaction, Arc<Published>), StoreError> {
        use redb::ReadableDatabase;
        let _gate = self.gate.read().unwrap_or_else(PoisonError::into_inner);
        let db = self.db.read().unwrap_or_else(PoisonError::into_inner);
        let txn = match db.as_ref() {
            Some(Handle::Writable(db)) => db.begin_read().map_err(StoreError::io)?,
            Some(Handle::ReadOnly(db)) => db.begin_read().map_err(StoreError::io)?,
            None => return Err(closed()),
        };
        Ok((txn, self.published()))
    }
}

fn closed() -> StoreError {
    StoreError::Io {
        why: "the database is closed after a write error and could not be opened again yet".into(),
    }
}

/// The open history file.
pub struct Store {
    shared: Arc<Shared>,
    path: PathBuf,
    top_per_day: usize,
    devices_per_day: usize,
    /// This process created the file (it was not there when opened).
    created: bool,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("zone", &self.shared.zone.name())
            .field("top_per_day", &self.top_per_day)
            .finish()
    }
}

/// Sum the file's hours into days (see [`days`]).
fn load_days(db: &impl redb::ReadableDatabase, zone: &Zone) -> Result<DayIndex, redb::Error> {
    use redb::ReadableTable;
    let txn = db.begin_read()?;
    let mut scopes = HashMap::new();
    for entry in txn.open_table(schema::SCOPES)?.iter()? {
        let (name, id) = entry?;
        scopes.insert(name.value().to_string(), id.value());
    }
    Ok(DayIndex::load(
        &txn.open_table(schema::HOURS)?,
        scopes,
        zone,
    )?)
}

/// Devices kept per stored day unless set (`DEVICES_PER_DAY`'s default).
pub const DEFAULT_DEVICES_PER_DAY: usize = 256;

impl Store {
    /// Open (or create) the history at `path` (see [`open::open`]) and sum its days into memory.
    ///
    /// # Errors
    /// See [`StoreError`]; a file that is not ours, damaged or newer is not modified.
    pub fn open(path: &Path, zone: Zone, top_per_day: usize) -> Result<Store, StoreError> {
        let (db, created) = open::open_or_create(path)?;
        Store::over(path, Handle::Writable(db), zone, top_per_day, created)
    }

    /// Open the existing history at `path` for reading only (see [`open::open_read_only`]):
    /// nothing is written to it, and every write fails.
    ///
    /// # Errors
    /// See [`open::open_read_only`]; [`StoreError::InUse`] while the monitor has it open.
    pub fn open_read_only(path: &Path, zone: Zone) -> Result<Store, StoreError> {
        let db = open::open_read_only(path)?;
        Store::over(path, Handle::ReadOnly(db), zone, 1, false)
    }

    fn over(
        path: &Path,
        db: Handle,
        zone: Zone,
        top_per_day: usize,
        created: bool,
    ) -> Result<Store, StoreError> {
        let loaded = match &db {
            Handle::Writable(db) => load_days(db, &zone),
            Handle::ReadOnly(db) => load_days(db, &zone),
        };
        let days = loaded.map_err(|error| StoreError::Damaged {
            path: path.to_path_buf(),
            why: error.to_string(),
        })?;
        Ok(Store {
            shared: Arc::new(Shared {
                db: RwLock::new(Some(db)),
                gate: RwLock::new(()),
                published: Mutex::new(Arc::new(Published {
                    generation: 0,
                    days: Arc::new(days),
                    marks: Arc::default(),
                })),
                zone,
            }),
            path: path.to_path_buf(),
            top_per_day: top_per_day.max(1),
            devices_per_day: DEFAULT_DEVICES_PER_DAY,
            created,
        })
    }

    /// The same store, keeping `devices` local addresses per stored day (`DEVICES_PER_DAY`).
    #[must_use]
    pub fn with_devices_per_day(mut self, devices: usize) -> Store {
        self.devices_per_day = devices.max(1);
        self
    }

    /// Local addresses (devices) kept per stored day.
    pub fn devices_per_day(&self) -> usize {
        self.devices_per_day
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn zone(&self) -> &Zone {
        &self.shared.zone
    }

    pub fn top_per_day(&self) -> usize {
        self.top_per_day
    }

    /// Unix second of the persister's last successful commit in this process.
    pub fn last_commit(&self) -> Option<i64> {
        self.shared.published().marks.last_commit
    }

    /// Heap bytes of the history's days kept in memory (see [`days`]).
    pub fn memory_bytes(&self) -> usize {
        self.shared.published().days.heap_bytes()
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// A write transaction on the open file.
    pub(crate) fn begin_write(&self) -> Result<WriteTransaction, StoreError> {
        let db = self
            .shared
            .db
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        match db.as_ref() {
            Some(Handle::Writable(db)) => db.begin_write().map_err(StoreError::io),
            Some(Handle::ReadOnly(_)) => Err(StoreError::Io {
                why: "the history was opened for reading only".into(),
            }),
            None => Err(closed()),
        }
    }

    /// Commit `txn`, which wrote the hourly buckets `hours` (scope id, hour start), and publish
    /// the new state to readers in the same step: the touched days' sums (read back inside the
    /// transaction, so they are what the file holds) and, from the persister, its new `marks`.
    /// A failed commit publishes nothing.
    ///
    /// # Errors
    /// When the transaction cannot be committed (nothing is published then).
    pub(crate) fn commit(
        &self,
        txn: WriteTransaction,
        hours: impl IntoIterator<Item = (u32, HourStart)>,
        marks: Option<Committed>,
    ) -> Result<(), StoreError> {
        let zone = &self.shared.zone;
        let touched = days::days_of(zone, hours);
        let (scopes, changes) = {
            use redb::ReadableTable;
            let mut scopes = HashMap::new();
            for entry in txn
                .open_table(schema::SCOPES)
                .map_err(StoreError::io)?
                .iter()
                .map_err(StoreError::io)?
            {
                let (name, id) = entry.map_err(StoreError::io)?;
                scopes.insert(name.value().to_string(), id.value());
            }
            let table = txn.open_table(schema::HOURS).map_err(StoreError::io)?;
            let changes = days::sums_of(&table, zone, &touched).map_err(StoreError::io)?;
            (scopes, changes)
        };
        let _gate = self
            .shared
            .gate
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        txn.commit().map_err(StoreError::io)?;
        // Only commits change the published state, and they are serialised by the gate: this is
        // the state the commit was made on.
        let before = self.shared.published();
        let next = Published {
            generation: before.generation + 1,
            days: Arc::new(before.days.with(scopes, &changes)),
            marks: marks.map_or_else(|| Arc::clone(&before.marks), Arc::new),
        };
        *self
            .shared
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
        Ok(())
    }

    /// Close the file for good, after the last commit: redb then marks it closed cleanly, so the
    /// next start needs no recovery. Needed because readers (the web server's handler, which
    /// lives until the process exits) keep the store alive past the end of `run`. Reads fail from
    /// here on.
    pub fn close(&self) {
        // Nothing can be done about a failed close at exit; the file was committed already.
        let _closed = self.close_handle();
    }

    /// Close the file, and remove it if this process created it: for a command that then stored
    /// nothing, so a failed run leaves no empty history behind.
    pub(crate) fn discard_if_created(self) {
        self.close();
        if self.created {
            // Ours, new, and nothing was committed to it but its identity.
            let _ = std::fs::remove_file(&self.path);
        }
    }

    /// Close the database handle with no commit or file read in flight; the returned guards keep
    /// it that way until the caller has put a new handle in (or left it closed).
    fn close_handle(
        &self,
    ) -> (
        RwLockWriteGuard<'_, ()>,
        RwLockWriteGuard<'_, Option<Handle>>,
    ) {
        let gate = self
            .shared
            .gate
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let mut db = self
            .shared
            .db
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Dropping closes it and releases the file lock; a close error changes nothing here.
        match db.take() {
            Some(Handle::Writable(open)) => {
                let _ = open.close();
            }
            Some(Handle::ReadOnly(open)) => {
                let _ = open.close();
            }
            None => {}
        }
        (gate, db)
    }

    /// Close the file and open it again, as redb requires after a failed write. Leaves it closed
    /// (and says why) when it cannot be opened yet, e.g. while the disk is still full.
    ///
    /// The days are summed again from what the file holds: a commit whose outcome was unknown
    /// may have landed after all. (Until the persister's next commit, its marks then lag behind
    /// the file, and readers may count that commit's interval twice; nothing stored is wrong.)
    ///
    /// # Errors
    /// Why it cannot be opened.
    pub(crate) fn reopen(&self) -> Result<(), StoreError> {
        let (_gate, mut db) = self.close_handle();
        let reopened = open::open(&self.path)?;
        let days = load_days(&reopened, &self.shared.zone).map_err(StoreError::io)?;
        *db = Some(Handle::Writable(reopened));
        let before = self.shared.published();
        *self
            .shared
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(Published {
            generation: before.generation + 1,
            days: Arc::new(days),
            marks: Arc::clone(&before.marks),
        });
        Ok(())
    }
}
