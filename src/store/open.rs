//! Opening the history file: refuse anything that is not ours, damaged or newer, untouched.
//!
//! An existing file is first looked at without writing: its first bytes must be redb's magic
//! number, and a read-only open must find our `meta` records with a schema version this program
//! knows. Only then is it opened for writing. The one exception is a file whose last writer
//! crashed: redb refuses to open it read-only until it is repaired, and repair is a write. With
//! quick repair (every commit saves the allocator state) that repair only picks the last good
//! commit; a file that is damaged fails it without being rewritten, and a file that turns out
//! not to be ours after repair is still refused before anything of ours is written.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::path::Path;

use log::{info, warn};
use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable, StorageError, TableError};

use super::CACHE_BYTES;
use super::StoreError;
use super::schema::{
    ALL_SCOPE, ALL_SCOPE_NAME, DAY_REMOTES, Day, FORMAT, HOURS, IMPORTS, META, META_CREATED,
    META_FORMAT, META_SCHEMA_VERSION, SCHEMA_VERSION, SCOPES, SQLITE_HOURS, decode_remotes_v1,
    encode_remotes,
};

/// The first bytes of every redb file (redb's `MAGICNUMBER`).
const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];
/// The first 16 bytes of every SQLite 3 database (the original product's history format).
const SQLITE_MAGIC: [u8; 16] = *b"SQLite format 3\0";

/// Open or create the history at `path`.
///
/// # Errors
/// [`StoreError::NotOurs`], [`StoreError::Damaged`] or [`StoreError::Newer`] leave the file as it
/// was; [`StoreError::Unwritable`] when the file or its directory cannot be created.
pub fn open(path: &Path) -> Result<Database, StoreError> {
    let unwritable = |error: std::io::Error| StoreError::Unwritable {
        path: path.to_path_buf(),
        why: error.to_string(),
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(unwritable)?;
    }
    let existing = match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(StoreError::Unwritable {
                path: path.to_path_buf(),
                why: "it is a directory".into(),
            });
        }
        Ok(meta) => meta.len() > 0,
        Err(error) if error.kind() == ErrorKind::NotFound => false,
        Err(error) => return Err(unwritable(error)),
    };
    if !existing {
        return create(path);
    }
    check_magic(path)?;
    // redb trusts a cleanly closed file's header and allocator state; on one that was damaged
    // since, some of its checks panic (in debug builds; release builds return `Corrupted`). The
    // file is untrusted input here, so a panic of this read-only look is an answer: damaged.
    let look = std::panic::catch_unwind(|| match builder().open_read_only(path) {
        Ok(database) => check_identity(path, &database).map(Some),
        Err(DatabaseError::RepairAborted) => Ok(None),
        Err(error) => Err(open_error(path, error)),
    });
    let version = look.unwrap_or_else(|_| {
        Err(StoreError::Damaged {
            path: path.to_path_buf(),
            why: "its internal structures do not add up".into(),
        })
    })?;
    let needs_repair = version.is_none();
    if needs_repair {
        warn!(
            "{} was not closed cleanly (crash or power cut): recovering the last commit",
            path.display()
        );
    }
    let mut database = builder()
        .set_repair_callback(|session| {
            // Only logged when a repair takes long enough to report progress more than once.
            if session.progress() > 0.0 {
                info!(
                    "recovering the database: {:.0}%",
                    session.progress() * 100.0
                );
            }
        })
        .open(path)
        .map_err(|error| open_error(path, error))?;
    let version = match version {
        Some(version) => version,
        None => check_identity(path, &database)?,
    };
    if version < SCHEMA_VERSION {
        upgrade(path, &mut database, version)?;
    }
    ensure_tables(path, &database, None)?;
    Ok(database)
}

/// Rewrite a file of an older schema version in this version's layout, in one transaction (a
/// crash or failure leaves it as it was, and the next start tries again), then give the space
/// the old layout took back to the file system.
fn upgrade(path: &Path, database: &mut Database, from: u32) -> Result<(), StoreError> {
    let failed = |why: String| StoreError::Upgrade {
        path: path.to_path_buf(),
        from,
        why,
    };
    if from != 1 {
        return Err(failed(format!("no upgrade from version {from} exists")));
    }
    info!(
        "upgrading {} from database version {from} to {SCHEMA_VERSION} (once; a ten-year history takes a few seconds)",
        path.display()
    );
    let started = std::time::Instant::now();
    let redb_error = |error: redb::Error| failed(error.to_string());
    let mut txn = database.begin_write().map_err(|e| redb_error(e.into()))?;
    txn.set_durability(redb::Durability::Immediate)
        .map_err(|e| failed(e.to_string()))?;
    txn.set_quick_repair(true);
    let mut lists = 0usize;
    {
        let mut table = txn
            .open_table(DAY_REMOTES)
            .map_err(|e| redb_error(e.into()))?;
        let mut keys: Vec<Day> = Vec::new();
        for entry in table.iter().map_err(|e| redb_error(e.into()))? {
            keys.push(entry.map_err(|e| redb_error(e.into()))?.0.value());
        }
        // One list in memory at a time: a NAS may have little of it.
        for key in keys {
            let list = {
                let value = table.get(key).map_err(|e| redb_error(e.into()))?;
                value.and_then(|v| decode_remotes_v1(v.value()))
            }
            .ok_or_else(|| failed(format!("the address list of {} is damaged", key.date)))?;
            table
                .insert(key, encode_remotes(&list).as_slice())
                .map_err(|e| redb_error(e.into()))?;
            lists += 1;
        }
        let mut meta = txn.open_table(META).map_err(|e| redb_error(e.into()))?;
        meta.insert(META_SCHEMA_VERSION, &SCHEMA_VERSION.to_le_bytes()[..])
            .map_err(|e| redb_error(e.into()))?;
    }
    txn.commit().map_err(|e| redb_error(e.into()))?;
    let before = std::fs::metadata(path).map_or(0, |m| m.len());
    // The file is complete and upgraded here; compacting only makes it smaller.
    if let Err(error) = database.compact() {
        warn!(
            "{} was upgraded but not compacted ({error}); it works, it is only larger than needed",
            path.display()
        );
    }
    info!(
        "upgraded {} day address lists in {:.1} s; the file went from {:.1} to {:.1} MiB",
        lists,
        started.elapsed().as_secs_f64(),
        before as f64 / (1024.0 * 1024.0),
        std::fs::metadata(path).map_or(0, |m| m.len()) as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}

fn builder() -> redb::Builder {
    let mut builder = Database::builder();
    builder.set_cache_size(CACHE_BYTES);
    builder
}

/// Create a new history beside `path` and move it into place once its identity is committed, so
/// a process killed while creating it never leaves a half-made file that later reads as foreign.
fn create(path: &Path) -> Result<Database, StoreError> {
    let unwritable = |error: std::io::Error| StoreError::Unwritable {
        path: path.to_path_buf(),
        why: error.to_string(),
    };
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".creating");
    let fresh = path.with_file_name(name);
    // Left over by a process killed while creating: never anything but an unfinished new file.
    match std::fs::remove_file(&fresh) {
        Err(error) if error.kind() != ErrorKind::NotFound => return Err(unwritable(error)),
        _ => {}
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&fresh)
        .map_err(unwritable)?;
    let database = builder()
        .create(&fresh)
        .map_err(|error| open_error(path, error))?;
    ensure_tables(path, &database, Some(crate::capture::engine::unix_now()))?;
    drop(database);
    std::fs::rename(&fresh, path).map_err(unwritable)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        // The rename itself must survive a power cut.
        File::open(parent)
            .and_then(|dir| dir.sync_all())
            .map_err(unwritable)?;
    }
    info!("created a new history database at {}", path.display());
    builder()
        .open(path)
        .map_err(|error| open_error(path, error))
}

fn check_magic(path: &Path) -> Result<(), StoreError> {
    let mut head = [0u8; SQLITE_MAGIC.len()];
    let read = File::open(path).and_then(|mut file| file.read_exact(&mut head));
    match read {
        Ok(()) if head.starts_with(&REDB_MAGIC) => Ok(()),
        Ok(()) if head == SQLITE_MAGIC => Err(StoreError::Sqlite {
            path: path.to_path_buf(),
        }),
        Ok(()) => Err(StoreError::NotOurs {
            path: path.to_path_buf(),
        }),
        Err(error) if error.kind() == ErrorKind::UnexpectedEof => Err(StoreError::NotOurs {
            path: path.to_path_buf(),
        }),
        Err(error) => Err(StoreError::Unwritable {
            path: path.to_path_buf(),
            why: error.to_string(),
        }),
    }
}

/// The file's `meta` must say it is ours, in a version this program reads; returns that version.
fn check_identity(path: &Path, database: &impl ReadableDatabase) -> Result<u32, StoreError> {
    let damaged = |why: String| StoreError::Damaged {
        path: path.to_path_buf(),
        why,
    };
    let not_ours = || StoreError::NotOurs {
        path: path.to_path_buf(),
    };
    let txn = database.begin_read().map_err(|e| damaged(e.to_string()))?;
    let meta = match txn.open_table(META) {
        Ok(meta) => meta,
        // Another program's redb file, or ours with other types under the name.
        Err(TableError::TableDoesNotExist(_)) | Err(TableError::TableTypeMismatch { .. }) => {
            return Err(not_ours());
        }
        Err(error) => return Err(damaged(error.to_string())),
    };
    let format = meta
        .get(META_FORMAT)
        .map_err(|e| damaged(e.to_string()))?
        .map(|v| v.value().to_vec());
    if format.as_deref() != Some(FORMAT) {
        return Err(not_ours());
    }
    let version = meta
        .get(META_SCHEMA_VERSION)
        .map_err(|e| damaged(e.to_string()))?
        .and_then(|v| <[u8; 4]>::try_from(v.value()).ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| damaged("its schema version record is missing".into()))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Newer {
            path: path.to_path_buf(),
            version,
        });
    }
    if version == 0 {
        return Err(damaged("its schema version record says 0".into()));
    }
    Ok(version)
}

/// Create every table (a no-op for those that exist); on a new file also write the identity.
fn ensure_tables(path: &Path, database: &Database, created: Option<i64>) -> Result<(), StoreError> {
    write_tables(database, created).map_err(|error| match error {
        redb::Error::Io(io) => open_error(path, DatabaseError::Storage(StorageError::Io(io))),
        other => StoreError::Damaged {
            path: path.to_path_buf(),
            why: other.to_string(),
        },
    })
}

fn write_tables(database: &Database, created: Option<i64>) -> Result<(), redb::Error> {
    let mut txn = database.begin_write()?;
    txn.set_quick_repair(true);
    {
        let mut meta = txn.open_table(META)?;
        if let Some(now) = created {
            meta.insert(META_FORMAT, FORMAT)?;
            meta.insert(META_SCHEMA_VERSION, &SCHEMA_VERSION.to_le_bytes()[..])?;
            meta.insert(META_CREATED, &now.to_le_bytes()[..])?;
        }
        let mut scopes = txn.open_table(SCOPES)?;
        if scopes.get(ALL_SCOPE_NAME)?.is_none() {
            scopes.insert(ALL_SCOPE_NAME, ALL_SCOPE)?;
        }
        txn.open_table(HOURS)?;
        txn.open_table(DAY_REMOTES)?;
        txn.open_table(IMPORTS)?;
        txn.open_table(SQLITE_HOURS)?;
    }
    txn.commit()?;
    Ok(())
}

fn open_error(path: &Path, error: DatabaseError) -> StoreError {
    let path = path.to_path_buf();
    match error {
        DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
            StoreError::InUse { path }
        }
        DatabaseError::UpgradeRequired(_) => StoreError::NotOurs { path },
        DatabaseError::Storage(StorageError::Io(io)) => match io.kind() {
            ErrorKind::PermissionDenied
            | ErrorKind::ReadOnlyFilesystem
            | ErrorKind::StorageFull => StoreError::Unwritable {
                path,
                why: io.to_string(),
            },
            // A file shorter than its own header says it is: cut off, or not redb after all.
            _ => StoreError::Damaged {
                path,
                why: io.to_string(),
            },
        },
        other => StoreError::Damaged {
            path,
            why: other.to_string(),
        },
    }
}
