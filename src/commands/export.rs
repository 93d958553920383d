//! `export`: the history over a range as CSV or JSON Lines, the same bytes
//! `/api/export.csv` / `/api/export.jsonl` send for the same history ([`crate::export`]).
//!
//! The history is opened read-only (nothing is written to it), which redb allows only while no
//! monitor has it open: stop the monitor, or ask its `/api/export.csv`. Input is checked as the
//! API checks it ([`params`]), with the flag named in each message; the file goes to `--output`
//! (written as `<file>.part` and renamed when complete) or stdout, a bounded piece at a time.

use std::fmt;
use std::fs::File;
use std::io::{BufWriter, ErrorKind};
use std::path::{Path, PathBuf};

use jiff::civil::Date;

use crate::config::{ConfigError, RawSettings};
use crate::export::{Export, ExportError, Format, Interfaces};
use crate::serve::api::params::{self, Params};
use crate::store::{Granularity, Store, StoreError};

/// The command line of `export`, as typed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportArgs {
    pub start: Option<String>,
    pub end: Option<String>,
    pub granularity: Option<String>,
    pub iface: Option<String>,
    pub format: Option<String>,
    /// A file, or `-` (the default) for stdout.
    pub output: Option<PathBuf>,
}

/// Why `export` wrote no complete file.
#[derive(Debug)]
pub enum ExportCommandError {
    /// A flag's value cannot be used; the message names the flag.
    Usage(String),
    /// `DB_PATH` or `TZ` cannot be used.
    Settings(ConfigError),
    /// The history cannot be opened or read.
    History(StoreError),
    /// The output file cannot be created or written.
    Output { path: String, why: std::io::Error },
}

impl fmt::Display for ExportCommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportCommandError::Usage(message) => f.write_str(message),
            ExportCommandError::Settings(error) => write!(f, "{error}"),
            ExportCommandError::History(StoreError::InUse { path }) => write!(
                f,
                "DB_PATH {} is open in the running monitor, and export reads it only while nothing writes to it: stop the monitor first, or download the same file from the monitor's /api/export.csv",
                path.display()
            ),
            ExportCommandError::History(error) => write!(f, "{error}"),
            ExportCommandError::Output { path, why } => {
                write!(f, "the export could not be written to {path}: {why}")
            }
        }
    }
}

impl std::error::Error for ExportCommandError {}

/// What the flags ask for, checked.
struct Asked {
    start: Date,
    end: Date,
    granularity: Granularity,
    iface: Option<String>,
    format: Format,
}

/// Check the flags as the API checks its parameters, naming the flag in each message.
fn check(args: &ExportArgs) -> Result<Asked, String> {
    let date = |flag: &str, value: &Option<String>| match value.as_deref() {
        None | Some("") => Err(format!("{flag} is required (a date written YYYY-MM-DD)")),
        Some(text) => params::parse_date(flag, text).map_err(|error| error.0),
    };
    let start = date("--start", &args.start)?;
    let end = date("--end", &args.end)?;
    let (start, end) = params::ordered(start, end)
        .map_err(|_| format!("--end {end} is before --start {start}: swap them"))?;
    let granularity = match args.granularity.as_deref() {
        None | Some("") => Granularity::Day,
        Some(text) => {
            let query = format!("granularity={text}");
            Params::new(query.as_bytes())
                .granularity()
                .map_err(|error| format!("--{}", error.0))?
        }
    };
    let format = match args.format.as_deref() {
        None | Some("") => Format::Csv,
        Some(text) => Format::parse("--format", text)?,
    };
    Ok(Asked {
        start,
        end,
        granularity,
        iface: args.iface.clone().filter(|name| !name.is_empty()),
        format,
    })
}

/// The `export` command: write the export asked for; the rows written.
///
/// # Errors
/// See [`ExportCommandError`]; nothing is written to the history in any case.
pub fn command(settings: &RawSettings, args: &ExportArgs) -> Result<u64, ExportCommandError> {
    let asked = check(args).map_err(ExportCommandError::Usage)?;
    let zone = settings.zone().map_err(ExportCommandError::Settings)?;
    let path = settings.db_path().map_err(ExportCommandError::Settings)?;
    let store = Store::open_read_only(&path, zone).map_err(ExportCommandError::History)?;
    let known = store.interfaces_with_history();
    let interfaces = match asked.iface {
        Some(name) if known.contains(&name) => Interfaces::One(name),
        Some(name) => {
            return Err(ExportCommandError::Usage(format!(
                "--iface '{name}' has no history in {} (interfaces: {}); leave --iface out for all of them",
                path.display(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
        None => Interfaces::Every(known),
    };
    let view = store.read_stored().map_err(ExportCommandError::History)?;
    let export = Export::new(
        view,
        asked.format,
        asked.start,
        asked.end,
        asked.granularity,
        interfaces,
    )
    .map_err(ExportCommandError::History)?;
    match args.output.as_deref() {
        Some(file) if file.as_os_str() != "-" => write_file(export, file),
        _ => {
            let mut out = BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
            match export.write_to(&mut out) {
                Ok(rows) => Ok(rows),
                // The reader went away (`| head`): what it wanted, it has.
                Err(ExportError::Write(why)) if why.kind() == ErrorKind::BrokenPipe => Ok(0),
                Err(error) => Err(failed(error, "stdout")),
            }
        }
    }
}

/// Write the export to `<file>.part` and rename it to `file` once complete, so `file` is never
/// a partial export (a full disk leaves the old `file`, or none, and no `.part`).
fn write_file(export: Export<'_>, file: &Path) -> Result<u64, ExportCommandError> {
    let mut part = file.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    let output = |why| ExportCommandError::Output {
        path: part.display().to_string(),
        why,
    };
    let mut out = BufWriter::with_capacity(64 * 1024, File::create(&part).map_err(output)?);
    let written = export
        .write_to(&mut out)
        .map_err(|error| failed(error, &part.display().to_string()))
        .and_then(|rows| {
            out.into_inner()
                .map_err(|error| output(error.into_error()))?
                .sync_all()
                .map_err(output)?;
            std::fs::rename(&part, file).map_err(|why| ExportCommandError::Output {
                path: file.display().to_string(),
                why,
            })?;
            Ok(rows)
        });
    if written.is_err() {
        // Nothing of a failed export is left behind; the error already says what failed.
        let _ = std::fs::remove_file(&part);
    }
    written
}

fn failed(error: ExportError, to: &str) -> ExportCommandError {
    match error {
        ExportError::Write(why) => ExportCommandError::Output {
            path: to.to_string(),
            why,
        },
        ExportError::Read(error) => ExportCommandError::History(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(start: &str, end: &str) -> ExportArgs {
        ExportArgs {
            start: Some(start.into()),
            end: Some(end.into()),
            ..ExportArgs::default()
        }
    }

    fn error_of(args: &ExportArgs) -> String {
        match check(args) {
            Ok(_) => panic!("{args:?} should be refused"),
            Err(message) => message,
        }
    }

    #[test]
    fn messages_name_the_flag() {
        assert_eq!(
            error_of(&ExportArgs::default()),
            "--start is required (a date written YYYY-MM-DD)"
        );
        assert!(error_of(&args("2024-1-1", "2024-01-02")).starts_with("--start must be a date"));
        assert!(
            error_of(&args("2024-01-01", "2024-02-30"))
                .starts_with("--end 2024-02-30 is not a day of the calendar")
        );
        assert_eq!(
            error_of(&args("2024-02-01", "2024-01-01")),
            "--end 2024-01-01 is before --start 2024-02-01: swap them"
        );
        let mut weekly = args("2024-01-01", "2024-01-02");
        weekly.granularity = Some("week".into());
        assert_eq!(
            error_of(&weekly),
            "--granularity must be hour, day or month, not 'week'"
        );
        let mut xlsx = args("2024-01-01", "2024-01-02");
        xlsx.format = Some("xlsx".into());
        assert_eq!(error_of(&xlsx), "--format must be csv or jsonl, not 'xlsx'");
    }

    #[test]
    fn defaults_are_days_as_csv() {
        let asked = check(&args("2024-01-01", "2024-01-02")).expect("valid");
        assert_eq!(asked.granularity, Granularity::Day);
        assert_eq!(asked.format, Format::Csv);
        assert_eq!(asked.iface, None);
    }
}
