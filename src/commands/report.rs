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
use crate::remote::GeoIp;
use crate::remote::geoip::Lookups;
use crate::units::format_bytes;

/// Why `report` did not report every file.
#[derive(Debug)]
pub enum ReportError {
    /// `LOCAL_PREFIXES` or `TZ` cannot be used.
    Settings(ConfigError),
    /// A file of `--geoip` (`GEOIP_DB`) cannot be used.
    GeoIp(String),
    /// At least one file could not be counted (each is named on stderr already).
    FilesFailed,
}

impl std::fmt::Display for ReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReportError::Settings(error) => write!(f, "{error}"),
            ReportError::GeoIp(why) => f.write_str(why),
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
    let geoip = match settings.geoip_db().as_slice() {
        [] => None,
        paths => Some(GeoIp::open(paths).map_err(|error| {
            ReportError::GeoIp(format!(
                "--geoip (GEOIP_DB) names {}: {}",
                error.path.display(),
                error.why
            ))
        })?),
    };
    let lookups = geoip.as_ref().map(GeoIp::lookups);
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
        let text = match (json, &lookups) {
            (true, None) => format!("{}\n", report.to_json()),
            (true, Some(lookups)) => format!("{}\n", report.to_json_with_places(lookups)),
            (false, lookups) => report.to_text(top, lookups.as_ref()),
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
        let devices: Map<String, Value> = tally
            .devices()
            .map(|(addr, bytes)| (addr.to_string(), up_down_json(bytes)))
            .collect();
        let services: Map<String, Value> = tally
            .services()
            .iter()
            .map(|(service, bytes)| (service.name().to_string(), up_down_json(&bytes)))
            .collect();
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
            "devices": devices,
            "services": services,
        });
        if let (Err(error), Some(map)) = (&self.outcome, object.as_object_mut()) {
            map.insert("error".into(), Value::String(error.to_string()));
        }
        object
    }

    /// [`FileReport::to_json`] plus what `--geoip`'s files say of the remote addresses:
    /// `remote_places` (`{ip: {country, country_name, asn, org}}`, addresses no file knows left
    /// out), and the bytes `by_country` (ISO code) and `by_asn` (`AS` and the number), those of
    /// unknown addresses under `unknown`.
    pub fn to_json_with_places(&self, lookups: &Lookups) -> Value {
        let mut object = self.to_json();
        let Ok(counted) = &self.outcome else {
            return object;
        };
        let mut places = Map::new();
        let mut by_country: BTreeMap<String, UpDown> = BTreeMap::new();
        let mut by_asn: BTreeMap<String, (UpDown, Option<String>)> = BTreeMap::new();
        for (addr, bytes) in counted.tally.remotes() {
            let place = lookups.place(*addr);
            let country = place.country.clone().unwrap_or_else(|| "unknown".into());
            *by_country.entry(country).or_default() += *bytes;
            let asn = place
                .asn
                .map_or_else(|| "unknown".to_string(), |asn| format!("AS{asn}"));
            let entry = by_asn.entry(asn).or_default();
            entry.0 += *bytes;
            if entry.1.is_none() {
                entry.1.clone_from(&place.org);
            }
            if !place.is_empty() {
                places.insert(
                    addr.to_string(),
                    serde_json::to_value(&place).unwrap_or_default(),
                );
            }
        }
        if let Some(map) = object.as_object_mut() {
            map.insert("remote_places".into(), Value::Object(places));
            map.insert(
                "by_country".into(),
                by_country
                    .iter()
                    .map(|(code, bytes)| (code.clone(), up_down_json(bytes)))
                    .collect::<Map<String, Value>>()
                    .into(),
            );
            map.insert(
                "by_asn".into(),
                by_asn
                    .iter()
                    .map(|(asn, (bytes, org))| {
                        let mut entry = up_down_json(bytes);
                        if let (Some(org), Some(fields)) = (org, entry.as_object_mut()) {
                            fields.insert("org".into(), Value::String(org.clone()));
                        }
                        (asn.clone(), entry)
                    })
                    .collect::<Map<String, Value>>()
                    .into(),
            );
        }
        object
    }

    /// A summary for people: totals, hours and the heaviest remote addresses (with their
    /// country and network when `lookups` has files).
    pub fn to_text(&self, top: usize, lookups: Option<&Lookups>) -> String {
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
                    "    {addr:<40} up {:>10}  down {:>10}",
                    format_bytes(bytes.up),
                    format_bytes(bytes.down)
                ));
                if let Some(lookups) = lookups {
                    let place = lookups.place(*addr);
                    let network = match (place.asn, &place.org) {
                        (Some(asn), Some(org)) => format!("AS{asn} {org}"),
                        (Some(asn), None) => format!("AS{asn}"),
                        (None, Some(org)) => org.clone(),
                        (None, None) => String::new(),
                    };
                    out.push_str(&format!(
                        "  {:<2} {network}",
                        place.country.as_deref().unwrap_or("--")
                    ));
                }
                out.push('\n');
            }
        }
        out
    }
}
