//! `migrate-sqlite OLD.db`: the original Python product's history into ours (see
//! [`crate::store::migrate`] for how rows are read and taken).

use std::path::Path;

use crate::config::Config;
use crate::store::Store;
use crate::store::migrate::{read_original, take};

/// The `migrate-sqlite` command: 0 on success, 1 when the old file cannot be migrated or rows of
/// it were skipped as bad (the good ones are migrated), 2 when the history cannot be used.
pub fn command(config: &Config, old: &Path) -> std::process::ExitCode {
    use crate::units::format_bytes;
    use std::process::ExitCode;
    let name = old.display();
    let original = match read_original(old, &config.zone) {
        Ok(original) => original,
        Err(error) => {
            eprintln!("nettraffic-sentinel: {error}");
            return ExitCode::from(1);
        }
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
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        };
    }
    let store = match Store::open(&config.db_path, config.zone.clone(), config.top_ips_per_day) {
        Ok(store) => store,
        Err(error) => {
            eprintln!("nettraffic-sentinel: {error}");
            return ExitCode::from(2);
        }
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
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(error) => {
            eprintln!("nettraffic-sentinel: {error}");
            ExitCode::from(2)
        }
    }
}
