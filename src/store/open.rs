//! Opening the history file: refuse anything that is not ours, damaged or newer, untouched.
//!
//! An existing file is first looked at without writing: its first bytes must be redb's magic
//! number, and a read-only open must find our `meta` records with a schema version this program
//! knows. Only then is it opened for writing. The one exception is a file whose last writer
//! crashed: redb refuses to open it read-only until it is repaired, and repair is a write. With
//! quick repair (every commit saves the allocator state) that repair only picks the last good
//! commit; a file that is damaged fails it without being rewritten, and a file that turns out
//! not to be ours after repair is still refused before anything of ours is written.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use log::{info, warn};
use redb::{
    Database, DatabaseError, ReadOnlyDatabase, ReadableDatabase, ReadableTable, StorageError,
    TableError, TableHandle,
};

use super::CACHE_BYTES;
use super::StoreError;
use super::schema::{
    ALL_SCOPE, ALL_SCOPE_NAME, DAY_REMOTES, Day, FORMAT, HOURS, IMPORTS, META, META_CREATED,
    META_FORMAT, META_SCHEMA_VERSION, SCHEMA_VERSION, SCOPES, SQLITE_HOURS, decode_remotes_v1,
    encode_remotes,
};
use super::set_aside::{day_in_words, set_aside};

/// The first bytes of every redb file (redb's `MAGICNUMBER`).
const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];
/// The first 16 bytes of every SQLite 3 database (the original product's history format).
const SQLITE_MAGIC: [u8; 16] = *b"SQLite format 3\0";

/// Open or create the history at `path`.
///
/// Only an ordinary file is ever opened (a symbolic link to one is followed), and a new file is
/// only ever made where nothing exists: a directory, device, named pipe, socket, dangling link or
/// empty file is refused without being opened for writing, renamed over or removed.
///
/// # Errors
/// [`StoreError::NotAFile`], [`StoreError::NotOurs`], [`StoreError::Damaged`] or
/// [`StoreError::Newer`] leave the path as it was; [`StoreError::Unwritable`] when the file or its
/// directory cannot be created; [`StoreError::CreatedElsewhere`] when another process created it
/// at the same moment.
pub fn open(path: &Path) -> Result<Database, StoreError> {
    open_or_create(path).map(|(database, _)| database)
}

/// [`open`], and whether this call created the file.
///
/// # Errors
/// As [`open`].
pub fn open_or_create(path: &Path) -> Result<(Database, bool), StoreError> {
    match what_is_there(path)? {
        There::Nothing => create(path).map(|database| (database, true)),
        There::History => open_existing(path).map(|database| (database, false)),
    }
}

/// Open the existing history at `path` for reading only, writing nothing to it (for `export`).
///
/// redb allows this only while no process has the file open for writing, so it fails with
/// [`StoreError::InUse`] while the monitor runs. A file that needs a write before it can be read
/// (recovery after a crash, the one-time upgrade of an older layout) is refused with
/// [`StoreError::ReadOnly`], saying what would fix it.
///
/// # Errors
/// As [`open`], plus [`StoreError::Missing`] when nothing is at `path`.
pub fn open_read_only(path: &Path) -> Result<ReadOnlyDatabase, StoreError> {
    if let There::Nothing = what_is_there(path)? {
        return Err(StoreError::Missing {
            path: path.to_path_buf(),
        });
    }
    check_magic(path)?;
    // Untrusted input, as in `open_existing`: a panic of redb's checks means damaged.
    let look = std::panic::catch_unwind(|| match builder().open_read_only(path) {
        Ok(database) => check_identity(path, &database).map(|version| (database, version)),
        Err(DatabaseError::RepairAborted) => Err(StoreError::ReadOnly {
            path: path.to_path_buf(),
            why: "it was not closed cleanly (a crash or power cut) and must be recovered first"
                .into(),
        }),
        Err(error) => Err(open_error(path, error)),
    });
    let (database, version) = look.unwrap_or_else(|_| {
        Err(StoreError::Damaged {
            path: path.to_path_buf(),
            why: "its internal structures do not add up".into(),
        })
    })?;
    // Version 2 differs only by the month sums, which readers do without.
    if version < 2 {
        return Err(StoreError::ReadOnly {
            path: path.to_path_buf(),
            why: format!(
                "it was written by an older version (database version {version}) and needs its one-time upgrade"
            ),
        });
    }
    Ok(database)
}

fn open_existing(path: &Path) -> Result<Database, StoreError> {
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

/// Record [`SCHEMA_VERSION`] as the file's layout, in a transaction of its own.
fn set_version(database: &Database) -> Result<(), redb::Error> {
    let mut txn = database.begin_write()?;
    txn.set_durability(redb::Durability::Immediate)?;
    txn.set_quick_repair(true);
    txn.open_table(META)?
        .insert(META_SCHEMA_VERSION, &SCHEMA_VERSION.to_le_bytes()[..])?;
    txn.commit()?;
    info!(
        "the history is now database version {SCHEMA_VERSION}: months of each device's remote addresses are summed in the background from now on"
    );
    Ok(())
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
    if !(1..SCHEMA_VERSION).contains(&from) {
        return Err(failed(format!("no upgrade from version {from} exists")));
    }
    if from == 2 {
        // Version 3 only adds the month sums, which the persister makes once the file is open.
        return set_version(database).map_err(|e| failed(e.to_string()));
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
        let mut names: HashMap<u32, String> = HashMap::new();
        for entry in txn
            .open_table(SCOPES)
            .map_err(|e| redb_error(e.into()))?
            .iter()
            .map_err(|e| redb_error(e.into()))?
        {
            let (name, id) = entry.map_err(|e| redb_error(e.into()))?;
            names.insert(id.value(), name.value().to_string());
        }
        let mut table = txn
            .open_table(DAY_REMOTES)
            .map_err(|e| redb_error(e.into()))?;
        let mut keys: Vec<Day> = Vec::new();
        for entry in table.iter().map_err(|e| redb_error(e.into()))? {
            keys.push(entry.map_err(|e| redb_error(e.into()))?.0.value());
        }
        // One list in memory at a time: a NAS may have little of it.
        for key in keys {
            let Some(bytes) = table
                .get(key)
                .map_err(|e| redb_error(e.into()))?
                .map(|value| value.value().to_vec())
            else {
                continue;
            };
            match decode_remotes_v1(&bytes) {
                Some(list) => {
                    table
                        .insert(key, encode_remotes(&list).as_slice())
                        .map_err(|e| redb_error(e.into()))?;
                    lists += 1;
                }
                // Left in place, version 1's bytes would be read as version 2's; refusing the
                // upgrade would keep every other day from the monitor over one list.
                None => {
                    let words =
                        day_in_words(names.get(&key.scope).map_or("", String::as_str), key.date);
                    set_aside(&txn, DAY_REMOTES.name(), &words, &bytes)
                        .map_err(|e| failed(e.to_string()))?;
                    table.remove(key).map_err(|e| redb_error(e.into()))?;
                    warn!(
                        "history: the address list of {words} cannot be read ({} bytes, damaged); the upgrade copied its bytes to the table set_aside and that day keeps no addresses",
                        bytes.len()
                    );
                }
            }
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

/// What `path` names: nothing (a new history may be made there) or an ordinary, non-empty file.
enum There {
    Nothing,
    History,
}

/// Look at `path` without opening it (opening a named pipe would block, a device could be
/// written): refuse everything but an ordinary file with something in it.
fn what_is_there(path: &Path) -> Result<There, StoreError> {
    let refuse = |what: String| {
        Err(StoreError::NotAFile {
            path: path.to_path_buf(),
            what,
        })
    };
    let link = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(There::Nothing),
        Err(error) => return Err(unwritable(path, error)),
    };
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(error) if error.kind() == ErrorKind::NotFound && link.file_type().is_symlink() => {
            let target = std::fs::read_link(path).unwrap_or_default();
            return refuse(format!(
                "a symbolic link to {}, which does not exist",
                target.display()
            ));
        }
        Err(error) => return Err(unwritable(path, error)),
    };
    if meta.is_file() {
        if meta.len() == 0 {
            // Never ours: a new history is made beside the path and only linked in when complete.
            return refuse("an empty file".into());
        }
        return Ok(There::History);
    }
    refuse(kind_of(&meta.file_type()).into())
}

/// A file type other than an ordinary file, as a NAS owner calls it.
fn kind_of(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_dir() {
        "a directory"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_fifo() {
        "a named pipe (FIFO)"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not an ordinary file"
    }
}

fn unwritable(path: &Path, error: std::io::Error) -> StoreError {
    StoreError::Unwritable {
        path: path.to_path_buf(),
        why: error.to_string(),
    }
}

/// Create a new history in `<path>.creating` and link it to `path` once its identity is
/// committed, so a process killed while creating it never leaves a half-made file at `path`.
/// The link is made only if nothing is at `path` by then: whatever appeared there meanwhile is
/// never replaced.
///
/// `<path>.creating` is locked (`flock`) while it is built: an unlocked one was left by a process
/// killed while creating and is removed; a locked one is another process creating the same file.
fn create(path: &Path) -> Result<Database, StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|error| unwritable(path, error))?;
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".creating");
    let fresh = path.with_file_name(name);
    let file = claim(path, &fresh)?;
    let built = build(path, &file);
    let database = match built {
        Ok(database) => database,
        Err(error) => {
            // Ours alone (we hold its lock); nothing else refers to it.
            let _ = std::fs::remove_file(&fresh);
            return Err(error);
        }
    };
    if let Err(error) = link_new(&fresh, path) {
        let _ = std::fs::remove_file(&fresh);
        return Err(match error.kind() {
            ErrorKind::AlreadyExists | ErrorKind::NotFound => StoreError::CreatedElsewhere {
                path: path.to_path_buf(),
            },
            _ => unwritable(path, error),
        });
    }
    // The new name must survive a power cut (a bare file name lives in the current directory).
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(|error| unwritable(path, error))?;
    info!("created a new history database at {}", path.display());
    Ok(database)
}

/// Make `fresh` (create-new) and lock it, removing an unlocked leftover first.
fn claim(path: &Path, fresh: &Path) -> Result<File, StoreError> {
    let create_new = || {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(fresh)
    };
    let file = match create_new() {
        Ok(file) => file,
        Err(error) if error.kind() == ErrorKind::AlreadyExists => {
            remove_leftover(path, fresh)?;
            create_new().map_err(|error| match error.kind() {
                ErrorKind::AlreadyExists => StoreError::CreatedElsewhere {
                    path: path.to_path_buf(),
                },
                _ => unwritable(path, error),
            })?
        }
        Err(error) => return Err(unwritable(path, error)),
    };
    let elsewhere = || StoreError::CreatedElsewhere {
        path: path.to_path_buf(),
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Err(elsewhere()),
        // A file system without locks: creating still never replaces anything.
        Err(std::fs::TryLockError::Error(_)) => {}
    }
    // Between creating and locking it, another process may have taken it for a leftover and
    // made its own: then the name is theirs, not ours. Once locked, nobody removes it.
    if !same_file(&file, fresh) {
        return Err(elsewhere());
    }
    Ok(file)
}

/// Whether `path` names the open `file` (and not another file made under that name since).
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
    }
}

/// Remove `fresh` if it is an ordinary file no process is building (left by one killed while
/// creating); anything else there is refused.
fn remove_leftover(path: &Path, fresh: &Path) -> Result<(), StoreError> {
    let meta = std::fs::symlink_metadata(fresh).map_err(|error| unwritable(path, error))?;
    if !meta.file_type().is_file() {
        return Err(StoreError::Unwritable {
            path: path.to_path_buf(),
            why: format!(
                "{} is in the way and is {}",
                fresh.display(),
                kind_of(&meta.file_type())
            ),
        });
    }
    let leftover = OpenOptions::new()
        .read(true)
        .write(true)
        .open(fresh)
        .map_err(|error| unwritable(path, error))?;
    match leftover.try_lock() {
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::CreatedElsewhere {
            path: path.to_path_buf(),
        }),
        _ => std::fs::remove_file(fresh).map_err(|error| unwritable(path, error)),
    }
}

/// Build the new history in `file` (the locked `fresh`): redb's header, our identity, all tables.
fn build(path: &Path, file: &File) -> Result<Database, StoreError> {
    // The same open file description, so redb's own lock on it is not refused by ours.
    let handle = file.try_clone().map_err(|error| unwritable(path, error))?;
    let backend = redb::backends::FileBackend::new(handle).map_err(|e| open_error(path, e))?;
    let database = builder()
        .create_with_backend(backend)
        .map_err(|error| open_error(path, error))?;
    ensure_tables(path, &database, Some(crate::clock::unix_now()))?;
    Ok(database)
}

/// Give `fresh` the name `path` only if nothing has that name: a hard link (then `fresh` goes),
/// or, where the file system has no hard links, a rename that refuses to replace.
fn link_new(fresh: &Path, path: &Path) -> std::io::Result<()> {
    match std::fs::hard_link(fresh, path) {
        Ok(()) => {
            std::fs::remove_file(fresh)?;
            Ok(())
        }
        Err(error) if matches!(error.kind(), ErrorKind::AlreadyExists | ErrorKind::NotFound) => {
            Err(error)
        }
        Err(link_error) => rename_no_replace(fresh, path).map_err(|_| link_error),
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn rename_no_replace(fresh: &Path, path: &Path) -> std::io::Result<()> {
    use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
    renameat2(
        AT_FDCWD,
        fresh,
        AT_FDCWD,
        path,
        RenameFlags::RENAME_NOREPLACE,
    )
    .map_err(std::io::Error::from)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn rename_no_replace(_fresh: &Path, _path: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(ErrorKind::Unsupported))
}

fn check_magic(path: &Path) -> Result<(), StoreError> {
    let mut head = [0u8; SQLITE_MAGIC.len()];
    // Non-blocking, so a named pipe swapped in since it was looked at cannot hang the start.
    let read = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .and_then(|mut file| {
            if !file.metadata()?.is_file() {
                return Err(std::io::Error::other("it is not an ordinary file"));
            }
            file.read_exact(&mut head)
        });
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
