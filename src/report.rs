//! `report`: count capture files and print their totals, as JSON (`pcaps/README.md` section 7) or
//! as a summary a person reads.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::net::IpAddr;
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::capture::file::{CaptureInfo, FileError, FileErrorKind, read_capture};
use crate::count::{Counter, FileTally, UpDown};
use crate::units::format_bytes;

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
