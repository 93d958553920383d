//! `migrate-sqlite OLD.db`: the original Python product's history into ours (see
//! [`crate::store::migrate`] for how rows are read and taken).

use std::path::Path;

use crate::config::Config;
use crate::store::Store;
use crate::store::migrate::{MigrateError, read_original, take};

/// Why `migrate-sqlite` did not take every row.
#[derive(Debug)]
pub enum MigrateSqliteError {
    /// The old file cannot be migrated; nothing was.
    Original(MigrateError),
    /// Rows were skipped as bad (each is named on stderr already); the good ones were taken.
    RowsSkipped,
    /// The history at `DB_PATH` cannot be used, or taking the rows into it failed.
    History(MigrateError),
}

impl std::fmt::Display for MigrateSqliteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MigrateSqliteError::Original(error) | MigrateSqliteError::History(error) => {
                write!(f, "{error}")
            }
            MigrateSqliteError::RowsSkipped => f.write_str("rows were skipped as bad"),
        }
    }
}

impl std::error::Error for MigrateSqliteError {}

/// The `migrate-sqlite` command: read the original at `old`, take its rows into the history, say
/// what was taken.
///
/// # Errors
/// See [`MigrateSqliteError`].
pub fn command(config: &Config, old: &Path) -> Result<(), MigrateSqliteError> {
    use crate::units::format_bytes;
    let name = old.display();
    let original = match read_original(old, &config.zone) {
        Ok(original) => original,
        Err(error) => return Err(MigrateSqliteError::Original(error)),
    };
    for bad in original.bad() {
        eprintln!("nettraffic-sentinel: {name}: {bad}");
    }
    let skipped = original.bad().len();
    if original.has_no_rows() {
        println!(
            "{name}: {skipped} rows read, 0 taken, {skipped} skipped as bad; nothing to migrate, {} left as it was",
            config.db_path.display()
        );
        return if skipped > 0 {
            Err(MigrateSqliteError::RowsSkipped)
        } else {
            Ok(())
        };
    }
    let store = match Store::open(&config.db_path, config.zone.clone(), config.top_ips_per_day)
        .map(|store| store.with_devices_per_day(config.devices_per_day))
    {
        Ok(store) => store,
        Err(error) => return Err(MigrateSqliteError::History(MigrateError::Store(error))),
    };
    let taken = take(&store, original);
    if taken.is_err() {
        // A history this run made holds nothing: leave none behind.
        store.discard_if_created();
    }
    match taken {
        Ok(m) => {
            let wide = |bytes: u128| format_bytes(u64::try_from(bytes).unwrap_or(u64::MAX));
            println!(
                "{name}: {} rows read, {} taken ({} new, {} changed since the last run), {} already migrated, {} skipped as bad (named above; bad rows are never adjusted, only skipped); up {} down {} added ({} and {} bytes)",
                m.rows,
                m.new + m.changed,
                m.new,
                m.changed,
                m.unchanged,
                m.skipped.len(),
                wide(m.up),
                wide(m.down),
                m.up,
                m.down
            );
            if m.skipped.is_empty() {
                Ok(())
            } else {
                Err(MigrateSqliteError::RowsSkipped)
            }
        }
        Err(error) => Err(MigrateSqliteError::History(error)),
    }
}
