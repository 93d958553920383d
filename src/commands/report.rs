//! `report`: count capture files and print their totals, as JSON (`pcaps/README.md` section 7) or
//! as a summary a person reads.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::capture::file::{CaptureInfo, FileError, FileErrorKind, read_capture};
use crate::classify::AddressClassifier;
use crate::clock::HourClock;
use crate::config::{ConfigError, RawSettings};
use crate::count::{Counter, FileTally, UpDown};
use crate::units::format_bytes;

/// Why `report` did not report every file.
#[derive(Debug)]
pub enum ReportError {
    /// `LOCAL_PREFIXES` or `TZ` cannot be used.
    Settings(ConfigError),
    /// At least one file could not be counted (each is named on stderr already).
    FilesFailed,
}

impl std::fmt::Display for ReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReportError::Settings(error) => write!(f, "{error}"),
            ReportError::FilesFailed => f.write_str("a capture file could not be counted"),
        }
    }
}

impl std::error::Error for ReportError {}

/// The `report` command: count each of `files` and print its totals (`json`, or a summary with
/// the `top` remote addresses), in the order given.
///
/// # Errors
/// A setting it needs cannot be used, or a file could not be counted (named on stderr; the
/// others are still reported).
pub fn command(
    settings: &RawSettings,
    json: bool,
    top: usize,
    files: &[PathBuf],
) -> Result<(), ReportError> {
    let classifier = match settings.local_prefixes() {
        Ok(prefixes) => AddressClassifier::new(&prefixes),
        Err(error) => return Err(ReportError::Settings(error)),
    };
    let zone = match settings.zone() {
        Ok(zone) => zone,
        Err(error) => return Err(ReportError::Settings(error)),
    };
    let mut failed = false;
    let stdout = std::io::stdout();
    for path in files {
        // A fresh counter per file: nothing of one file's hour cache leaks into the next.
        let mut counter = Counter::new(classifier.clone(), HourClock::new(zone.clone()));
        let report = count_file(path, &mut counter);
        match &report.outcome {
            Ok(counted) => {
                if let Some(why) = &counted.stopped_early {
                    eprintln!(
                        "nettraffic-sentinel: warning: {}: {why}; the {} packets before it are counted",
                        path.display(),
                        counted.tally.packets_total
                    );
                }
            }
            Err(error) => {
                failed = true;
                eprintln!("nettraffic-sentinel: {}: {error}", path.display());
            }
        }
        let text = if json {
            format!("{}\n", report.to_json())
        } else {
            report.to_text(top)
        };
        let mut out = stdout.lock();
        if out
            .write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .is_err()
        {
            // The reader went away (e.g. `| head`): stop quietly.
            return Ok(());
        }
    }
    if failed {
        Err(ReportError::FilesFailed)
    } else {
        Ok(())
    }
}

/// The totals of one capture file, or why it has none.
#[derive(Debug)]
pub struct FileReport {
    /// The file's base name.
    pub file: String,
    pub linktype: Option<u32>,
    pub outcome: Result<Counted, FileError>,
}

/// A counted file.
#[derive(Debug)]
pub struct Counted {
    pub tally: FileTally,
    /// Why reading ended before the end of the file (a warning, not an error).
    pub stopped_early: Option<String>,
    /// Hour labels in the counter's zone (hours that share a label are added together).
    pub hours: BTreeMap<String, UpDown>,
}

/// Count one capture file with `counter` (its zone and address rules).
pub fn count_file(path: &Path, counter: &mut Counter) -> FileReport {
    let file = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let opened = File::open(path).map_err(|error| FileError {
        kind: FileErrorKind::Io(error),
        linktype: None,
    });
    let mut tally = FileTally::new();
    let read = opened.and_then(|handle| {
        read_capture(BufReader::with_capacity(256 * 1024, handle), |record| {
            let frame = record.frame();
            counter.count(&frame, &mut tally);
        })
    });
    match read {
        Ok(CaptureInfo {
            linktype,
            packets_total,
            stopped_early,
        }) => {
            tally.packets_total = packets_total;
            let zone = counter.clock().zone();
            let mut hours: BTreeMap<String, UpDown> = BTreeMap::new();
            for (start, bytes) in tally.hours() {
                *hours.entry(zone.hour_label(start)).or_default() += bytes;
            }
            FileReport {
                file,
                linktype,
                outcome: Ok(Counted {
                    tally,
                    stopped_early,
                    hours,
                }),
            }
        }
        Err(error) => FileReport {
            file,
            linktype: error.linktype,
            outcome: Err(error),
        },
    }
}

fn up_down_json(bytes: &UpDown) -> Value {
    json!({"up_bytes": bytes.up, "down_bytes": bytes.down})
}

impl FileReport {
    /// The machine-readable form, field for field as `pcaps/README.md` section 7 and 8.
    pub fn to_json(&self) -> Value {
        let empty = FileTally::new();
        let (tally, hours, remotes) = match &self.outcome {
            Ok(counted) => {
                let hours: Map<String, Value> = counted
                    .hours
                    .iter()
                    .map(|(label, bytes)| (label.clone(), up_down_json(bytes)))
                    .collect();
                let remotes: Map<String, Value> = counted
                    .tally
                    .remotes()
                    .map(|(addr, bytes)| (addr.to_string(), up_down_json(bytes)))
                    .collect();
                (&counted.tally, hours, remotes)
            }
            Err(_) => (&empty, Map::new(), Map::new()),
        };
        let mut object = json!({
            "file": self.file,
            "linktype": self.linktype,
            "packets_total": tally.packets_total,
            "packets_counted": tally.packets_counted,
            "malformed": tally.malformed,
            "lan_bytes": tally.lan_bytes,
            "up_bytes": tally.total.up,
            "down_bytes": tally.total.down,
            "hours": hours,
            "remote_ips": remotes,
        });
        if let (Err(error), Some(map)) = (&self.outcome, object.as_object_mut()) {
            map.insert("error".into(), Value::String(error.to_string()));
        }
        object
    }

    /// A summary for people: totals, hours and the heaviest remote addresses.
    pub fn to_text(&self, top: usize) -> String {
        let mut out = String::new();
        let linktype = self
            .linktype
            .map_or_else(|| "unknown".to_string(), |l| l.to_string());
        out.push_str(&format!("{} (link type {linktype})\n", self.file));
        let counted = match &self.outcome {
            Ok(counted) => counted,
            Err(error) => {
                out.push_str(&format!("  not counted: {error}\n"));
                return out;
            }
        };
        let tally = &counted.tally;
        if let Some(why) = &counted.stopped_early {
            out.push_str(&format!("  warning: reading stopped early: {why}\n"));
        }
        out.push_str(&format!(
            "  packets: {} read, {} counted, {} malformed\n",
            tally.packets_total, tally.packets_counted, tally.malformed
        ));
        out.push_str(&format!(
            "  upload {}   download {}   total {}   (LAN, not counted: {})\n",
            format_bytes(tally.total.up),
            format_bytes(tally.total.down),
            format_bytes(tally.total.total()),
            format_bytes(tally.lan_bytes)
        ));
        if !counted.hours.is_empty() {
            out.push_str("  hours:\n");
            for (label, bytes) in &counted.hours {
                out.push_str(&format!(
                    "    {label}  up {:>10}  down {:>10}\n",
                    format_bytes(bytes.up),
                    format_bytes(bytes.down)
                ));
            }
        }
        let mut remotes: Vec<(&IpAddr, &UpDown)> = tally.remotes().collect();
        remotes.sort_by(|a, b| b.1.total().cmp(&a.1.total()).then(a.0.cmp(b.0)));
        if !remotes.is_empty() {
            out.push_str(&format!(
                "  top remote addresses ({} of {}):\n",
                remotes.len().min(top),
                remotes.len()
            ));
            for (addr, bytes) in remotes.into_iter().take(top) {
                out.push_str(&format!(
                    "    {addr:<40} up {:>10}  down {:>10}\n",
                    format_bytes(bytes.up),
                    format_bytes(bytes.down)
                ));
            }
        }
        out
    }
}
