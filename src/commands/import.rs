//! `import FILE…`: read capture files and count them into the history (see
//! [`crate::store::import`] for what is stored and how a file imported twice adds nothing).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::capture::file::read_capture;
use crate::config::Config;
use crate::count::Counter;
use crate::store::import::{Counted, DayTally, FileOutcome, import};
use crate::store::{FIRST_YEAR, LAST_YEAR, Store, StoreError};

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
pub fn count(path: &Path, counter: &mut Counter) -> Result<Counted, String> {
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

/// Why `import` did not import every file.
#[derive(Debug)]
pub enum ImportError {
    /// The history at `DB_PATH` cannot be used.
    History(StoreError),
    /// The transaction failed: nothing was imported.
    NothingImported(StoreError),
    /// At least one file could not be counted (each is named on stderr already; the others are
    /// imported).
    FilesFailed,
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportError::History(error) => write!(f, "{error}"),
            ImportError::NothingImported(error) => write!(f, "nothing was imported: {error}"),
            ImportError::FilesFailed => f.write_str("a capture file could not be imported"),
        }
    }
}

impl std::error::Error for ImportError {}

/// The `import` command: open the history, import `files`, say what happened to each.
///
/// # Errors
/// See [`ImportError`].
pub fn command(config: &Config, files: &[PathBuf]) -> Result<(), ImportError> {
    use crate::classify::AddressClassifier;
    use crate::clock::HourClock;
    use crate::units::format_bytes;

    let store = match Store::open(&config.db_path, config.zone.clone(), config.top_ips_per_day)
        .map(|store| store.with_devices_per_day(config.devices_per_day))
    {
        Ok(store) => store,
        Err(error) => return Err(ImportError::History(error)),
    };
    let counter = Counter::new(
        AddressClassifier::new(&config.local_prefixes),
        HourClock::new(config.zone.clone()),
    );
    let imported = import(&store, files, |path| {
        // A fresh counter per file: nothing of one file's hour cache leaks into the next.
        count(path, &mut counter.clone())
    });
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
        Err(error) => return Err(ImportError::NothingImported(error)),
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
                        FIRST_YEAR,
                        LAST_YEAR
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
        Err(ImportError::FilesFailed)
    } else {
        Ok(())
    }
}
