//! Networks and countries from MaxMind DB files (`.mmdb`: DB-IP Lite, IPinfo Lite, MaxMind
//! GeoLite2 and GeoIP2), read with the `maxminddb` crate.
//!
//! Each file is read into memory whole (a file replaced or truncated on disk while mapped would
//! crash a reader of the mapping) and checked with the crate's `verify` before it is used, so a
//! damaged or hostile file is refused instead of answering nonsense. [`GeoIp::refresh`] reads a
//! file again when it changed on disk (size, modification time or inode); until the new one reads
//! well, the old one keeps answering. Several files are asked in the order given and each field
//! comes from the first file that has it, so a country file and an ASN file together give both.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::net::IpAddr;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use maxminddb::{PathElement, Reader};
use serde::Serialize;

/// Files larger than this are refused: the largest commercial city database is about 100 MB,
/// and every byte of the file is held in memory.
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// What the files say of one address; every field is absent when no file knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Place {
    /// ISO 3166-1 alpha-2 code, upper case (`DE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// The country's English name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_name: Option<String>,
    /// Autonomous system number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    /// The autonomous system's organisation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
}

impl Place {
    pub fn is_empty(&self) -> bool {
        *self == Place::default()
    }

    /// Take every field this place lacks from `other`.
    fn fill_from(&mut self, other: Place) {
        self.country = self.country.take().or(other.country);
        self.country_name = self.country_name.take().or(other.country_name);
        self.asn = self.asn.or(other.asn);
        self.org = self.org.take().or(other.org);
    }
}

/// Why a file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeoIpError {
    pub path: PathBuf,
    pub why: String,
}

impl fmt::Display for GeoIpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.why)
    }
}

impl std::error::Error for GeoIpError {}

/// Which file on disk a loaded database came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    device: u64,
    inode: u64,
    len: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(metadata: &std::fs::Metadata) -> Stamp {
        Stamp {
            device: metadata.dev(),
            inode: metadata.ino(),
            len: metadata.len(),
            modified: metadata.modified().ok(),
        }
    }
}

/// One database as read from its file.
struct Loaded {
    reader: Reader<Vec<u8>>,
    stamp: Stamp,
}

/// One configured file: what answers now, and the last change that could not be read (so it is
/// reported once, not at every refresh).
struct Database {
    path: PathBuf,
    current: Mutex<Arc<Loaded>>,
    refused: Mutex<Option<Stamp>>,
}

/// The configured databases (`GEOIP_DB`).
pub struct GeoIp {
    databases: Vec<Database>,
}

impl fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeoIp")
            .field("files", &self.paths())
            .finish_non_exhaustive()
    }
}

impl GeoIp {
    /// Read and check every file of `paths`.
    ///
    /// # Errors
    /// The first file that cannot be used, and why.
    pub fn open(paths: &[PathBuf]) -> Result<GeoIp, GeoIpError> {
        let mut databases = Vec::with_capacity(paths.len());
        for path in paths {
            let loaded = load(path)?;
            databases.push(Database {
                path: path.clone(),
                current: Mutex::new(Arc::new(loaded)),
                refused: Mutex::new(None),
            });
        }
        Ok(GeoIp { databases })
    }

    pub fn paths(&self) -> Vec<&Path> {
        self.databases.iter().map(|d| d.path.as_path()).collect()
    }

    /// One line per file for the log: its path, database type and build date.
    pub fn describe(&self) -> Vec<String> {
        self.databases
            .iter()
            .map(|database| {
                let loaded = database.loaded();
                let metadata = loaded.reader.metadata();
                let built = jiff::Timestamp::from_second(
                    i64::try_from(metadata.build_epoch).unwrap_or(i64::MAX),
                )
                .map_or_else(|_| "an unknown date".to_string(), |t| t.to_string());
                format!(
                    "{} ({}, built {built}, {} bytes)",
                    database.path.display(),
                    metadata.database_type,
                    loaded.stamp.len
                )
            })
            .collect()
    }

    /// A consistent set of the databases for many lookups (a file replaced meanwhile does not
    /// change the answers half-way).
    pub fn lookups(&self) -> Lookups {
        Lookups {
            loaded: self.databases.iter().map(Database::loaded).collect(),
        }
    }

    /// Read again every file that changed on disk since it was read. A file that cannot be read
    /// now keeps its last good contents; each change is reported once.
    ///
    /// Returns one line per file that was read again or refused, for the log.
    pub fn refresh(&self) -> Vec<Result<String, GeoIpError>> {
        let mut reports = Vec::new();
        for database in &self.databases {
            let on_disk = match std::fs::metadata(&database.path) {
                Ok(metadata) => Stamp::of(&metadata),
                Err(error) => {
                    // Gone or unreadable for now (e.g. mid-replacement): keep what answers.
                    let why = GeoIpError {
                        path: database.path.clone(),
                        why: format!(
                            "cannot be read now ({error}); the copy read earlier goes on answering"
                        ),
                    };
                    if database.note_refused(None) {
                        reports.push(Err(why));
                    }
                    continue;
                }
            };
            if on_disk == database.loaded().stamp {
                continue;
            }
            match load(&database.path) {
                Ok(loaded) => {
                    *database
                        .current
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Arc::new(loaded);
                    *database
                        .refused
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = None;
                    reports.push(Ok(format!(
                        "{} changed on disk and was read again",
                        database.path.display()
                    )));
                }
                Err(mut error) => {
                    error
                        .why
                        .push_str("; the copy read earlier goes on answering");
                    if database.note_refused(Some(on_disk)) {
                        reports.push(Err(error));
                    }
                }
            }
        }
        reports
    }
}

impl Database {
    fn loaded(&self) -> Arc<Loaded> {
        Arc::clone(&self.current.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Remember that the file as `stamp` could not be used; true the first time for that stamp.
    fn note_refused(&self, stamp: Option<Stamp>) -> bool {
        let mut refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        let first = refused.is_none() || *refused != stamp;
        *refused = stamp;
        first
    }
}

/// Databases held for a batch of lookups.
pub struct Lookups {
    loaded: Vec<Arc<Loaded>>,
}

impl Lookups {
    /// What the files say of `address`, each field from the first file that has it.
    pub fn place(&self, address: IpAddr) -> Place {
        let mut place = Place::default();
        for loaded in &self.loaded {
            place.fill_from(read_place(&loaded.reader, address));
            if place.country.is_some() && place.asn.is_some() && place.org.is_some() {
                break;
            }
        }
        place
    }
}

/// One file's record for `address`, in either common layout: MaxMind's (GeoLite2/GeoIP2 and
/// DB-IP: `country.iso_code`, `country.names.en`, `autonomous_system_number`,
/// `autonomous_system_organization`) or IPinfo Lite's (`country_code`, `country`, `asn` as
/// `"AS15169"`, `as_name`). A field of an unexpected type is taken as absent.
fn read_place(reader: &Reader<Vec<u8>>, address: IpAddr) -> Place {
    let Ok(found) = reader.lookup(address) else {
        return Place::default();
    };
    if !found.has_data() {
        return Place::default();
    }
    let text = |path: &[PathElement<'_>]| -> Option<String> {
        found
            .decode_path::<String>(path)
            .ok()
            .flatten()
            .filter(|s| !s.trim().is_empty())
    };
    let key = PathElement::Key;
    let ipinfo_code = text(&[key("country_code")]);
    let country = text(&[key("country"), key("iso_code")])
        .or_else(|| text(&[key("registered_country"), key("iso_code")]))
        .or(ipinfo_code.clone())
        .map(|code| code.to_ascii_uppercase())
        .filter(|code| code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()));
    let country_name = text(&[key("country"), key("names"), key("en")])
        .or_else(|| text(&[key("registered_country"), key("names"), key("en")]))
        .or_else(|| ipinfo_code.and_then(|_| text(&[key("country")])));
    // Writers store the number as whichever unsigned type fits it; the crate decodes an i64
    // from any of them (a u32 or u64 only from its own type).
    let asn = found
        .decode_path::<i64>(&[key("autonomous_system_number")])
        .ok()
        .flatten()
        .and_then(|asn| u32::try_from(asn).ok())
        .or_else(|| {
            text(&[key("asn")]).and_then(|asn| {
                let digits = asn.trim();
                let digits = digits
                    .strip_prefix("AS")
                    .or_else(|| digits.strip_prefix("as"))
                    .unwrap_or(digits);
                digits.parse().ok()
            })
        });
    let org = text(&[key("autonomous_system_organization")]).or_else(|| text(&[key("as_name")]));
    Place {
        country,
        country_name,
        asn,
        org,
    }
}

/// Read and check one file: an ordinary file (a FIFO or device would block or never end), at
/// most [`MAX_FILE_BYTES`], a MaxMind DB that `verify` accepts.
fn load(path: &Path) -> Result<Loaded, GeoIpError> {
    let refuse = |why: String| GeoIpError {
        path: path.to_path_buf(),
        why,
    };
    let mut file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|error| refuse(format!("cannot be opened: {error}")))?;
    let metadata = file
        .metadata()
        .map_err(|error| refuse(format!("cannot be read: {error}")))?;
    if !metadata.is_file() {
        return Err(refuse(
            "is not an ordinary file (expected a .mmdb database file)".to_string(),
        ));
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(refuse(format!(
            "is {} bytes, more than the {MAX_FILE_BYTES} a database may have",
            metadata.len()
        )));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    (&mut file)
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| refuse(format!("cannot be read: {error}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(refuse(format!(
            "grew past the {MAX_FILE_BYTES} bytes a database may have while it was read"
        )));
    }
    let reader = Reader::from_source(bytes)
        .map_err(|error| refuse(format!("is not a MaxMind DB (.mmdb) file: {error}")))?;
    reader
        .verify()
        .map_err(|error| refuse(format!("is a damaged MaxMind DB file: {error}")))?;
    Ok(Loaded {
        reader,
        stamp: Stamp::of(&metadata),
    })
}
