//! Stored per-day values this version cannot read — damaged bytes, or a shape a newer version
//! wrote — that a writer (the persister, `import`) is about to replace with what it counted. The
//! bytes are copied to `set_aside` in the same transaction first, so a rewrite never loses what
//! the file held: a later version, or a person with the file, can still recover them. Saving goes
//! on: one unreadable day must not stop every later commit.
//!
//! Readers never write: a range read leaves such a value out of its answer (it holds nothing
//! this version can count) and says so once in the log ([`skipped_on_read`]), so one damaged day
//! does not make every range that includes it fail.

use std::collections::HashSet;
use std::fmt::Display;
use std::sync::{Mutex, PoisonError};

use jiff::civil::Date;
use log::warn;
use redb::{TableDefinition, WriteTransaction};

use super::StoreError;
use crate::clock::unix_now;

/// (table, the key in words, when it was set aside in Unix seconds) → the value's bytes as stored.
pub const SET_ASIDE: TableDefinition<(&str, &str, i64), &[u8]> = TableDefinition::new("set_aside");

/// An interface's day in words (`""` is all interfaces together), for `set_aside` and its warning.
pub(crate) fn day_in_words(interface: &str, date: Date) -> String {
    if interface.is_empty() {
        format!("all interfaces {date}")
    } else {
        format!("{interface} {date}")
    }
}

/// Copy `bytes`, the stored value of `key` (in words) in `table`, to [`SET_ASIDE`].
///
/// # Errors
/// When the copy cannot be written.
pub(crate) fn set_aside(
    txn: &WriteTransaction,
    table: &str,
    key: &str,
    bytes: &[u8],
) -> Result<(), StoreError> {
    let mut aside = txn.open_table(SET_ASIDE).map_err(StoreError::io)?;
    aside
        .insert((table, key, unix_now()), bytes)
        .map_err(StoreError::io)?;
    Ok(())
}

/// `decode(bytes)`, the stored value of `key` in `table`; bytes it cannot decode are copied to
/// [`SET_ASIDE`] (with one warning) and read as `T::default()`, an empty day.
///
/// # Errors
/// When the copy cannot be written.
pub(crate) fn decode_or_set_aside<T: Default>(
    txn: &WriteTransaction,
    table: &str,
    key: impl Display,
    bytes: &[u8],
    decode: impl FnOnce(&[u8]) -> Option<T>,
) -> Result<T, StoreError> {
    if let Some(value) = decode(bytes) {
        return Ok(value);
    }
    let key = key.to_string();
    set_aside(txn, table, &key, bytes)?;
    warn!(
        "history: the stored {table} of {key} cannot be read ({} bytes, damaged or written by a newer version); its bytes were copied to the table set_aside and the day goes on from what this process counts",
        bytes.len()
    );
    Ok(T::default())
}

/// Values named one by one in the log before [`skipped_on_read`] goes quiet: a file damaged all
/// over must not fill the disk with the same warning, nor the memory with their names.
const NAMED_MAX: usize = 256;

/// The values already named in the log by [`skipped_on_read`].
static NAMED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// A reader left the stored value of `key` in `table` out of its answer because it cannot be
/// read: warn once per value and process (every range that includes it skips it again).
pub(crate) fn skipped_on_read(table: &str, key: impl Display) {
    let what = format!("{table} of {key}");
    let mut named = NAMED.lock().unwrap_or_else(PoisonError::into_inner);
    let named = named.get_or_insert_with(HashSet::new);
    if named.len() > NAMED_MAX || named.contains(&what) {
        return;
    }
    if named.len() == NAMED_MAX {
        warn!(
            "history: more stored values cannot be read; they are left out of answers like the {NAMED_MAX} named before, without a warning each"
        );
        named.insert(String::new());
        return;
    }
    warn!(
        "history: the stored {what} cannot be read (damaged, or written by a newer version); answers leave that day out, and the bytes stay in the file untouched"
    );
    named.insert(what);
}
