//! Settings (SPEC §3): environment variables with the original's names, each with a flag.
//!
//! Two stages, as ripgrep does it: [`RawSettings`] collects strings (environment first, flags
//! override, no system calls), then [`RawSettings::resolve`] turns them into a typed [`Config`]
//! or one [`ConfigError`] that quotes the bad value, names the setting and says what is expected.

use std::ffi::OsString;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use log::LevelFilter;

use crate::classify::parse_prefix;
use crate::clock::Zone;
use crate::quota::{Basis, MAX_ALERT_PERCENT, QuotaSettings, parse_size};

/// One setting: its environment variable, its flag and its default (as text, parsed like input).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    pub env: &'static str,
    pub flag: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

macro_rules! settings {
    ($($id:ident: $env:literal, $flag:literal, $default:literal, $help:literal;)*) => {
        $(pub const $id: Setting = Setting { env: $env, flag: $flag, default: $default, help: $help };)*
        /// Every setting, in the order `--help` lists them.
        pub const ALL: &[Setting] = &[$($id),*];
    };
}

/// The settings of SPEC §3.
pub mod setting {
    use super::Setting;
    settings! {
        MONITOR_IFACE: "MONITOR_IFACE", "--iface", "", "interfaces to capture, comma-separated (default: the default route's)";
        EXCLUDE_IPV6_PREFIX: "EXCLUDE_IPV6_PREFIX", "--exclude-prefix", "", "extra non-public prefixes, comma-separated (the original's name; IPv4 too)";
        LOCAL_PREFIXES: "LOCAL_PREFIXES", "--local", "", "extra non-public prefixes, comma-separated (repeatable flag)";
        AUTO_LOCAL_PREFIXES: "AUTO_LOCAL_PREFIXES", "--auto-local-prefixes", "true", "treat the monitored interfaces' own global prefixes as local";
        WEB_PORT: "WEB_PORT", "--web-port", "8080", "port of the dashboard and API";
        WEB_BIND: "WEB_BIND", "--web-bind", "0.0.0.0", "address the dashboard and API listen on";
        SAVE_INTERVAL: "SAVE_INTERVAL", "--save-interval", "300", "seconds between database commits (10 to 3600)";
        DB_PATH: "DB_PATH", "--db-path", "./data/traffic.redb", "the database file";
        TZ: "TZ", "--tz", "", "time zone for hours, days and months (default: /etc/localtime, else UTC)";
        TOP_IPS_PER_DAY: "TOP_IPS_PER_DAY", "--top-ips-per-day", "1000", "remote addresses kept per day";
        DEVICE_NAMES: "DEVICE_NAMES", "--device-names", "", "names for local devices, comma-separated ADDRESS=NAME or MAC=NAME (e.g. 192.168.1.20=Living-room TV,aa:bb:cc:dd:ee:ff=NAS)";
        DEVICES_PER_DAY: "DEVICES_PER_DAY", "--devices-per-day", "256", "local addresses (devices) kept per day and interface";
        WEB_AUTH: "WEB_AUTH", "--web-auth", "", "user:password turns on HTTP basic auth (all but /api/health)";
        WEB_ALLOWED_HOSTS: "WEB_ALLOWED_HOSTS", "--web-allowed-hosts", "", "host names answered besides IP addresses, localhost, single-label and .local/.lan/.home.arpa/.internal names and this machine's name, comma-separated (.example.com: every name under it; *: any)";
        LOG_LEVEL: "LOG_LEVEL", "--log-level", "info", "error, warn, info, debug or trace (debug adds a line per commit)";
        CAPTURE_WORKERS: "CAPTURE_WORKERS", "--capture-workers", "1", "capture threads per interface (PACKET_FANOUT when above 1)";
        RING_BLOCK_SIZE: "RING_BLOCK_SIZE", "--ring-block-size", "1048576", "bytes per capture ring block (a power of two, 4096 to 16777216)";
        RING_BLOCKS: "RING_BLOCKS", "--ring-blocks", "8", "blocks per capture ring (2 to 4096; all rings together at most 1/8 of MemTotal)";
        RING_RETIRE_MS: "RING_RETIRE_MS", "--ring-retire-ms", "100", "milliseconds before a partly filled block is handed over (1 to 100)";
        BILLING_DAY: "BILLING_DAY", "--billing-day", "1", "day of the month a billing cycle starts at local midnight (1 to 31; a shorter month uses its last day)";
        QUOTA: "QUOTA", "--quota", "", "bytes allowed per billing cycle, e.g. 500GB or 1.5TiB (KB, MB, GB, TB: powers of 1000; KiB, MiB, GiB, TiB: of 1024); unset: no quota";
        QUOTA_BASIS: "QUOTA_BASIS", "--quota-basis", "total", "what counts against the quota: total, down, up or max (the larger direction)";
        QUOTA_IFACES: "QUOTA_IFACES", "--quota-iface", "", "interfaces whose traffic counts against the quota, comma-separated (default: all monitored)";
        ALERT_AT: "ALERT_AT", "--alert-at", "80,90,100", "percentages of the quota that raise an alert once per cycle, comma-separated (1 to 1000; empty: none)";
        ALERT_URLS: "ALERT_URLS", "--alert-urls", "", "notification targets, separated by spaces or commas: ntfy://, tgram://, mailto://, gotify://, json:// (docs/alerts.md)";
        REVERSE_DNS: "REVERSE_DNS", "--reverse-dns", "true", "look up the names (PTR) of remote addresses shown, through the system's resolvers (/etc/resolv.conf), off every answer's path";
        GEOIP_DB: "GEOIP_DB", "--geoip-db", "", "MaxMind-format .mmdb files naming the country and network of remote addresses, comma-separated (docs/geoip.md); read again when changed";
    }
}

/// A setting that cannot be used, and what would fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub setting: Setting,
    pub value: String,
    pub expected: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}) is '{}': {}",
            self.setting.env, self.setting.flag, self.value, self.expected
        )
    }
}

impl std::error::Error for ConfigError {}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Interfaces to capture; empty means "the interface of the default route".
    pub interfaces: Vec<String>,
    /// `LOCAL_PREFIXES` and `EXCLUDE_IPV6_PREFIX` together.
    pub local_prefixes: Vec<IpNet>,
    pub auto_local_prefixes: bool,
    pub web_port: u16,
    pub web_bind: IpAddr,
    pub save_interval: Duration,
    pub db_path: PathBuf,
    pub zone: Zone,
    pub top_ips_per_day: usize,
    /// `DEVICES_PER_DAY`.
    pub devices_per_day: usize,
    /// `DEVICE_NAMES`.
    pub device_names: crate::lan::DeviceNames,
    pub web_auth: Option<WebAuth>,
    /// `WEB_ALLOWED_HOSTS`, normalised (see `serve::http::host`).
    pub web_allowed_hosts: Vec<String>,
    pub log_level: LevelFilter,
    pub capture_workers: usize,
    pub ring: RingSettings,
    /// `BILLING_DAY`, `QUOTA`, `QUOTA_BASIS`, `QUOTA_IFACES`, `ALERT_AT`.
    pub quota: QuotaSettings,
    /// `ALERT_URLS`, parsed; `Debug` and `Display` mask their secrets.
    pub alert_targets: Vec<crate::notify::Target>,
    /// `GEOIP_DB`: the files, not yet read (the monitor reads them at its start).
    pub geoip_db: Vec<PathBuf>,
    /// `REVERSE_DNS`.
    pub reverse_dns: bool,
}

/// `WEB_AUTH`: its `Debug` hides the password, so a printed `Config` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebAuth {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for WebAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebAuth")
            .field("user", &self.user)
            .field("password", &"****")
            .finish()
    }
}

/// Capture ring geometry (see `capture::ring::Geometry`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingSettings {
    pub block_size: u32,
    pub block_count: u32,
    pub retire_timeout: Duration,
}

/// All capture rings together may take at most this share of the machine's memory (MemTotal):
/// ring memory is the kernel's, locked and unswappable, and a ring larger than the machine can
/// spare makes the kernel's OOM killer end other processes before the ring is refused.
pub const RING_MEMORY_DIVISOR: u64 = 8;

impl Config {
    /// Bytes of kernel memory the capture rings take: one ring per interface and worker.
    pub fn ring_bytes(&self, interfaces: usize) -> u64 {
        u64::from(self.ring.block_size)
            .saturating_mul(u64::from(self.ring.block_count))
            .saturating_mul(self.capture_workers as u64)
            .saturating_mul(interfaces.max(1) as u64)
    }

    /// Refuse rings that together take more than 1/[`RING_MEMORY_DIVISOR`] of `mem_total` bytes.
    ///
    /// # Errors
    /// Naming `RING_BLOCKS`, `RING_BLOCK_SIZE` and `CAPTURE_WORKERS`, with the sizes.
    pub fn check_ring_memory(&self, interfaces: usize, mem_total: u64) -> Result<(), ConfigError> {
        use crate::units::ByteSize;
        let total = self.ring_bytes(interfaces);
        let allowed = mem_total / RING_MEMORY_DIVISOR;
        if total <= allowed {
            return Ok(());
        }
        let interfaces = interfaces.max(1);
        Err(ConfigError {
            setting: setting::RING_BLOCKS,
            value: self.ring.block_count.to_string(),
            expected: format!(
                "{} blocks of {} bytes (RING_BLOCK_SIZE) per ring, times {} worker(s) (CAPTURE_WORKERS) and {} interface(s), is {} of kernel memory, more than 1/{RING_MEMORY_DIVISOR} of this machine's {} (MemTotal): lower RING_BLOCKS or RING_BLOCK_SIZE to at most {} in all",
                self.ring.block_count,
                self.ring.block_size,
                self.capture_workers,
                interfaces,
                ByteSize(total),
                ByteSize(mem_total),
                ByteSize(allowed),
            ),
        })
    }
}

/// The machine's memory in bytes (MemTotal of /proc/meminfo), if it can be read.
pub fn mem_total() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_total(&meminfo)
}

fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let rest = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))?;
    let kib: u64 = rest.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
}

/// Settings as text, before validation.
#[derive(Clone, Debug, Default)]
pub struct RawSettings {
    env: Vec<(Setting, String)>,
    flags: Vec<(Setting, String)>,
}

/// Settings that hold comma-separated lists; their flags may be repeated and add up.
const LIST_SETTINGS: [Setting; 7] = [
    setting::MONITOR_IFACE,
    setting::LOCAL_PREFIXES,
    setting::EXCLUDE_IPV6_PREFIX,
    setting::WEB_ALLOWED_HOSTS,
    setting::QUOTA_IFACES,
    setting::ALERT_AT,
    setting::GEOIP_DB,
];

impl RawSettings {
    /// Read every setting's environment variable through `lookup` (e.g. `std::env::var_os`).
    ///
    /// # Errors
    /// A variable that is set but is not UTF-8 text. It is never taken as unset: an unreadable
    /// `WEB_AUTH` would turn authentication off.
    pub fn from_env(lookup: impl Fn(&str) -> Option<OsString>) -> Result<RawSettings, ConfigError> {
        let mut env = Vec::new();
        for setting in setting::ALL {
            let Some(value) = lookup(setting.env) else {
                continue;
            };
            match value.into_string() {
                Ok(text) => env.push((*setting, text)),
                Err(bytes) => {
                    return Err(ConfigError {
                        setting: *setting,
                        value: if *setting == setting::WEB_AUTH || *setting == setting::ALERT_URLS {
                            "(hidden)".to_string()
                        } else {
                            bytes.to_string_lossy().escape_debug().to_string()
                        },
                        expected:
                            "the variable is set but is not UTF-8 text; set it to text or unset it"
                                .to_string(),
                    });
                }
            }
        }
        Ok(RawSettings {
            env,
            flags: Vec::new(),
        })
    }

    /// Record a flag; flags override the environment.
    pub fn set_flag(&mut self, setting: Setting, value: String) {
        self.flags.push((setting, value));
    }

    /// The setting's text: its flags (list settings join repeated flags), else its environment
    /// variable, else its default.
    pub fn get(&self, setting: Setting) -> String {
        let mut flags = self
            .flags
            .iter()
            .filter(|(s, _)| *s == setting)
            .map(|(_, v)| v.as_str());
        if LIST_SETTINGS.contains(&setting) {
            let joined: Vec<&str> = flags.collect();
            if !joined.is_empty() {
                return joined.join(",");
            }
        } else if let Some(last) = flags.next_back() {
            return last.to_string();
        }
        self.env
            .iter()
            .find(|(s, _)| *s == setting)
            .map_or(setting.default, |(_, v)| v.as_str())
            .to_string()
    }

    /// Validate everything.
    ///
    /// # Errors
    /// The first setting that cannot be used.
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        use setting::{
            AUTO_LOCAL_PREFIXES, CAPTURE_WORKERS, SAVE_INTERVAL, TOP_IPS_PER_DAY, WEB_BIND,
            WEB_PORT,
        };
        Ok(Config {
            interfaces: self.interfaces()?,
            local_prefixes: self.local_prefixes()?,
            auto_local_prefixes: self.boolean(AUTO_LOCAL_PREFIXES)?,
            web_port: self.number(WEB_PORT, 1, u64::from(u16::MAX))? as u16,
            web_bind: self.parse(WEB_BIND, "an IP address such as 0.0.0.0, 127.0.0.1 or ::")?,
            save_interval: Duration::from_secs(self.number(SAVE_INTERVAL, 10, 3600)?),
            db_path: self.db_path()?,
            zone: self.zone()?,
            top_ips_per_day: self.number(TOP_IPS_PER_DAY, 1, 1_000_000)? as usize,
            devices_per_day: self.number(setting::DEVICES_PER_DAY, 1, 100_000)? as usize,
            device_names: crate::lan::DeviceNames::parse(&self.get(setting::DEVICE_NAMES))
                .map_err(|why| self.error(setting::DEVICE_NAMES, why))?,
            web_auth: self.web_auth()?,
            web_allowed_hosts: self.allowed_hosts()?,
            log_level: self.log_level()?,
            capture_workers: self.number(CAPTURE_WORKERS, 1, 64)? as usize,
            ring: self.ring()?,
            quota: self.quota()?,
            alert_targets: self.alert_targets()?,
            geoip_db: self.geoip_db(),
            reverse_dns: self.boolean(setting::REVERSE_DNS)?,
        })
    }

    /// `GEOIP_DB`: paths, comma-separated. The files are read by the monitor at its start, where
    /// a file that cannot be used stops it ([`crate::remote::GeoIp::open`]).
    pub fn geoip_db(&self) -> Vec<PathBuf> {
        self.list(setting::GEOIP_DB)
            .into_iter()
            .map(PathBuf::from)
            .collect()
    }

    /// `ALERT_URLS`: the error shows the bad URL without its password, token or path.
    fn alert_targets(&self) -> Result<Vec<crate::notify::Target>, ConfigError> {
        crate::notify::parse_targets(&self.get(setting::ALERT_URLS)).map_err(|error| ConfigError {
            setting: setting::ALERT_URLS,
            value: error.shown,
            expected: format!("target {}: {}", error.position, error.problem),
        })
    }

    /// The quota settings.
    ///
    /// # Errors
    /// The first of them that cannot be used.
    pub fn quota(&self) -> Result<QuotaSettings, ConfigError> {
        use setting::{ALERT_AT, BILLING_DAY, QUOTA, QUOTA_BASIS, QUOTA_IFACES};
        let quota = self.get(QUOTA);
        let quota = if quota.trim().is_empty() {
            None
        } else {
            Some(parse_size(&quota).map_err(|why| self.error(QUOTA, why))?)
        };
        let basis = Basis::parse(&self.get(QUOTA_BASIS))
            .ok_or_else(|| self.error(QUOTA_BASIS, "expected total, down, up or max"))?;
        let monitored = self.interfaces()?;
        let mut interfaces: Vec<String> = Vec::new();
        for name in self.list(QUOTA_IFACES) {
            if name.len() > 15 || name.contains(['/', ' ', '\t']) || name == "." || name == ".." {
                return Err(self.error(
                    QUOTA_IFACES,
                    format!("'{name}' cannot be an interface name (at most 15 characters, no '/' or spaces)"),
                ));
            }
            if !monitored.is_empty() && !monitored.contains(&name) {
                return Err(self.error(
                    QUOTA_IFACES,
                    format!(
                        "'{name}' is not monitored: expected some of MONITOR_IFACE ({}), or leave QUOTA_IFACES unset for all of them",
                        monitored.join(", ")
                    ),
                ));
            }
            if !interfaces.contains(&name) {
                interfaces.push(name);
            }
        }
        let mut alert_at: Vec<u16> = Vec::new();
        for item in self.list(ALERT_AT) {
            let number = item.trim_end_matches('%').trim();
            match number.parse::<u16>() {
                Ok(percent) if (1..=MAX_ALERT_PERCENT).contains(&percent) => alert_at.push(percent),
                _ => {
                    return Err(self.error(
                        ALERT_AT,
                        format!(
                            "'{item}' is not a percentage: expected whole numbers from 1 to {MAX_ALERT_PERCENT}, comma-separated, such as 80,90,100"
                        ),
                    ));
                }
            }
        }
        alert_at.sort_unstable();
        alert_at.dedup();
        Ok(QuotaSettings {
            billing_day: self.number(BILLING_DAY, 1, 31)? as u8,
            quota,
            basis,
            interfaces,
            alert_at,
        })
    }

    fn error(&self, setting: Setting, expected: impl Into<String>) -> ConfigError {
        ConfigError {
            setting,
            value: self.get(setting),
            expected: expected.into(),
        }
    }

    fn list(&self, setting: Setting) -> Vec<String> {
        self.get(setting)
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_string)
            .collect()
    }

    fn interfaces(&self) -> Result<Vec<String>, ConfigError> {
        let setting = setting::MONITOR_IFACE;
        let mut names: Vec<String> = Vec::new();
        for name in self.list(setting) {
            let name = name.as_str();
            // IFNAMSIZ is 16 with the terminating NUL; '/' and whitespace are never in a name.
            if name.len() > 15 || name.contains(['/', ' ', '\t']) || name == "." || name == ".." {
                return Err(self.error(
                    setting,
                    format!("'{name}' cannot be an interface name (at most 15 characters, no '/' or spaces); `ip -o link` lists them"),
                ));
            }
            if !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
        Ok(names)
    }

    /// `LOCAL_PREFIXES` and `EXCLUDE_IPV6_PREFIX` together.
    ///
    /// # Errors
    /// The first item that is not a prefix.
    pub fn local_prefixes(&self) -> Result<Vec<IpNet>, ConfigError> {
        let mut prefixes = self.prefixes(setting::LOCAL_PREFIXES)?;
        prefixes.extend(self.prefixes(setting::EXCLUDE_IPV6_PREFIX)?);
        Ok(prefixes)
    }

    fn prefixes(&self, setting: Setting) -> Result<Vec<IpNet>, ConfigError> {
        self.list(setting)
            .iter()
            .map(|item| parse_prefix(item).map_err(|why| self.error(setting, why)))
            .collect()
    }

    fn boolean(&self, setting: Setting) -> Result<bool, ConfigError> {
        match self.get(setting).trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(self.error(setting, "expected true or false")),
        }
    }

    fn number(&self, setting: Setting, min: u64, max: u64) -> Result<u64, ConfigError> {
        match self.get(setting).trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(self.error(
                setting,
                format!("expected a whole number from {min} to {max}"),
            )),
        }
    }

    fn parse<T: std::str::FromStr>(
        &self,
        setting: Setting,
        expected: &str,
    ) -> Result<T, ConfigError> {
        self.get(setting)
            .trim()
            .parse()
            .map_err(|_| self.error(setting, format!("expected {expected}")))
    }

    fn ring(&self) -> Result<RingSettings, ConfigError> {
        let block_size = self.number(setting::RING_BLOCK_SIZE, 4096, 16 * 1024 * 1024)?;
        if !block_size.is_power_of_two() {
            return Err(self.error(
                setting::RING_BLOCK_SIZE,
                "expected a power of two such as 262144 or 1048576",
            ));
        }
        Ok(RingSettings {
            block_size: block_size as u32,
            block_count: self.number(setting::RING_BLOCKS, 2, 4096)? as u32,
            retire_timeout: Duration::from_millis(self.number(setting::RING_RETIRE_MS, 1, 100)?),
        })
    }

    /// `DB_PATH`: a file path.
    ///
    /// # Errors
    /// When it is empty or names a directory (ends with `/`).
    pub fn db_path(&self) -> Result<PathBuf, ConfigError> {
        let path = self.get(setting::DB_PATH);
        let path = path.trim();
        if path.is_empty() || path.ends_with('/') {
            return Err(self.error(
                setting::DB_PATH,
                "expected a file path such as /data/traffic.redb",
            ));
        }
        Ok(PathBuf::from(path))
    }

    /// The zone from `--tz`, `TZ`, /etc/localtime or UTC.
    ///
    /// # Errors
    /// When `TZ` names no zone.
    pub fn zone(&self) -> Result<Zone, ConfigError> {
        let name = self.get(setting::TZ);
        let configured = (!name.trim().is_empty()).then_some(name.as_str());
        Zone::from_system(configured).map_err(|error| self.error(setting::TZ, error.to_string()))
    }

    fn web_auth(&self) -> Result<Option<WebAuth>, ConfigError> {
        let value = self.get(setting::WEB_AUTH);
        if value.is_empty() {
            return Ok(None);
        }
        match value.split_once(':') {
            Some((user, password)) if !user.is_empty() && !password.is_empty() => {
                Ok(Some(WebAuth {
                    user: user.to_string(),
                    password: password.to_string(),
                }))
            }
            _ => Err(ConfigError {
                setting: setting::WEB_AUTH,
                // Never echo a password into a log.
                value: "(hidden)".to_string(),
                expected: "expected user:password, both non-empty".to_string(),
            }),
        }
    }

    fn allowed_hosts(&self) -> Result<Vec<String>, ConfigError> {
        let setting = setting::WEB_ALLOWED_HOSTS;
        self.list(setting)
            .iter()
            .map(|entry| {
                crate::serve::http::host::allowed_entry(entry)
                    .map_err(|why| self.error(setting, format!("'{entry}': {why}")))
            })
            .collect()
    }

    fn log_level(&self) -> Result<LevelFilter, ConfigError> {
        match self
            .get(setting::LOG_LEVEL)
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "error" => Ok(LevelFilter::Error),
            "warn" | "warning" => Ok(LevelFilter::Warn),
            "info" => Ok(LevelFilter::Info),
            "debug" => Ok(LevelFilter::Debug),
            "trace" => Ok(LevelFilter::Trace),
            _ => Err(self.error(
                setting::LOG_LEVEL,
                "expected error, warn, info, debug or trace",
            )),
        }
    }
}

/// Find the setting a flag names (`--tz`, `--local`, …).
pub fn setting_for_flag(flag: &str) -> Option<Setting> {
    setting::ALL.iter().copied().find(|s| s.flag == flag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(env: &[(&str, &str)]) -> RawSettings {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        RawSettings::from_env(|name| {
            env.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| OsString::from(v))
        })
        .expect("UTF-8 test values")
    }

    #[test]
    fn defaults_are_the_specs() {
        let config = settings(&[("TZ", "UTC")])
            .resolve()
            .expect("defaults are valid");
        assert!(config.interfaces.is_empty());
        assert!(config.local_prefixes.is_empty());
        assert!(config.auto_local_prefixes);
        assert_eq!(config.web_port, 8080);
        assert_eq!(config.web_bind, IpAddr::from([0, 0, 0, 0]));
        assert_eq!(config.save_interval, Duration::from_secs(300));
        assert_eq!(config.db_path, PathBuf::from("./data/traffic.redb"));
        assert_eq!(config.zone.name(), "UTC");
        assert_eq!(config.top_ips_per_day, 1000);
        assert_eq!(config.web_auth, None);
        assert!(config.web_allowed_hosts.is_empty());
        assert_eq!(config.log_level, LevelFilter::Info);
        assert_eq!(config.capture_workers, 1);
        assert_eq!(config.ring.block_size * config.ring.block_count, 8 << 20);
        assert!(config.ring.retire_timeout <= Duration::from_millis(100));
        assert_eq!(config.quota, QuotaSettings::default());
        assert_eq!(config.quota.billing_day, 1);
        assert_eq!(config.quota.quota, None);
        assert_eq!(config.quota.basis, Basis::Total);
        assert!(config.quota.interfaces.is_empty());
        assert_eq!(config.quota.alert_at, [80, 90, 100]);
    }

    #[test]
    fn quota_settings_are_read_sorted_and_deduplicated() {
        let mut raw = settings(&[
            ("TZ", "UTC"),
            ("MONITOR_IFACE", "eth0,wg0,ppp0"),
            ("BILLING_DAY", "31"),
            ("QUOTA", "1.5TiB"),
            ("QUOTA_BASIS", "Max"),
            ("QUOTA_IFACES", "ppp0, eth0,ppp0"),
            ("ALERT_AT", "100, 75%,90,75"),
        ]);
        let quota = raw.resolve().expect("valid").quota;
        assert_eq!(quota.billing_day, 31);
        assert_eq!(quota.quota, Some(3 << 39));
        assert_eq!(quota.basis, Basis::Max);
        assert_eq!(quota.interfaces, ["ppp0", "eth0"]);
        assert_eq!(quota.alert_at, [75, 90, 100]);
        raw.set_flag(setting::QUOTA, "500GB".into());
        raw.set_flag(setting::ALERT_AT, "95".into());
        raw.set_flag(setting::BILLING_DAY, "15".into());
        let quota = raw.resolve().expect("valid").quota;
        assert_eq!(quota.quota, Some(500_000_000_000));
        assert_eq!(quota.alert_at, [95], "the flag replaces the variable");
        assert_eq!(quota.billing_day, 15);
        // An empty ALERT_AT raises no threshold alert.
        let none = settings(&[("TZ", "UTC"), ("ALERT_AT", "")])
            .resolve()
            .expect("valid");
        assert!(none.quota.alert_at.is_empty());
    }

    #[test]
    fn the_originals_variables_are_read() {
        let config = settings(&[
            ("MONITOR_IFACE", "eth0, ovs_eth0,eth0"),
            ("EXCLUDE_IPV6_PREFIX", "fe80::/10,240e:33e:2f08:d600::/56"),
            ("LOCAL_PREFIXES", "203.0.113.7"),
            ("WEB_PORT", "9100"),
            ("SAVE_INTERVAL", "60"),
            ("DB_PATH", "/data/traffic.redb"),
            ("TZ", "Asia/Shanghai"),
            ("WEB_AUTH", "admin:s3cret:with:colons"),
            ("LOG_LEVEL", "DEBUG"),
            ("AUTO_LOCAL_PREFIXES", "off"),
        ])
        .resolve()
        .expect("valid");
        assert_eq!(
            config.interfaces,
            ["eth0", "ovs_eth0"],
            "deduplicated, trimmed"
        );
        let prefixes: Vec<String> = config
            .local_prefixes
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(
            prefixes,
            ["203.0.113.7/32", "fe80::/10", "240e:33e:2f08:d600::/56"]
        );
        assert_eq!(config.web_port, 9100);
        assert_eq!(config.save_interval, Duration::from_secs(60));
        assert_eq!(config.zone.name(), "Asia/Shanghai");
        assert_eq!(
            config.web_auth,
            Some(WebAuth {
                user: "admin".to_string(),
                password: "s3cret:with:colons".to_string()
            })
        );
        assert!(!format!("{config:?}").contains("s3cret"), "Debug hides it");
        assert_eq!(config.log_level, LevelFilter::Debug);
        assert!(!config.auto_local_prefixes);
    }

    #[test]
    fn flags_override_the_environment_and_list_flags_add_up() {
        let mut raw = settings(&[("WEB_PORT", "9000"), ("LOCAL_PREFIXES", "10.9.0.0/16")]);
        raw.set_flag(setting::WEB_PORT, "9001".into());
        raw.set_flag(setting::WEB_PORT, "9002".into());
        raw.set_flag(setting::LOCAL_PREFIXES, "2001:db8:1::/48".into());
        raw.set_flag(setting::LOCAL_PREFIXES, "198.51.100.0/24".into());
        raw.set_flag(setting::TZ, "UTC".into());
        let config = raw.resolve().expect("valid");
        assert_eq!(config.web_port, 9002, "the last flag wins");
        assert_eq!(config.local_prefixes.len(), 2, "flags replace the variable");
    }

    #[test]
    fn every_log_level_accepted_is_named_in_the_help_and_the_error() {
        let expected = LevelFilter::iter().map(|level| level.as_str().to_ascii_lowercase());
        for name in expected.filter(|name| name != "off") {
            let config = settings(&[("LOG_LEVEL", &name), ("TZ", "UTC")]).resolve();
            assert!(config.is_ok(), "LOG_LEVEL={name} is accepted");
            assert!(
                setting::LOG_LEVEL.help.contains(&name),
                "--help names {name}"
            );
            assert!(
                error_of(&[("LOG_LEVEL", "verbose")]).contains(&name),
                "the error names {name}"
            );
        }
    }

    fn error_of(env: &[(&str, &str)]) -> String {
        let mut env = env.to_vec();
        env.push(("TZ", "UTC"));
        match settings(&env).resolve() {
            Ok(_) => panic!("{env:?} should be rejected"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn bad_values_name_the_setting_quote_the_value_and_say_what_is_expected() {
        let cases = [
            (("SAVE_INTERVAL", "5"), "from 10 to 3600"),
            (("SAVE_INTERVAL", "3601"), "from 10 to 3600"),
            (("SAVE_INTERVAL", "5m"), "whole number"),
            (("WEB_PORT", "0"), "from 1 to 65535"),
            (("WEB_PORT", "70000"), "from 1 to 65535"),
            (("WEB_BIND", "localhost"), "IP address"),
            (("LOCAL_PREFIXES", "10.0.0.0/33"), "not a prefix"),
            (("EXCLUDE_IPV6_PREFIX", "240e::/129"), "not a prefix"),
            (("AUTO_LOCAL_PREFIXES", "maybe"), "true or false"),
            (("TOP_IPS_PER_DAY", "0"), "from 1 to"),
            (
                ("LOG_LEVEL", "verbose"),
                "error, warn, info, debug or trace",
            ),
            (("DB_PATH", "/data/"), "file path"),
            (
                (
                    "WEB_ALLOWED_HOSTS",
                    "nas.example.com,https://nas.example.com",
                ),
                "without scheme or port",
            ),
            (("WEB_ALLOWED_HOSTS", "nas example"), "host names such as"),
            (
                ("MONITOR_IFACE", "a-very-long-interface-name"),
                "at most 15",
            ),
            (("BILLING_DAY", "0"), "from 1 to 31"),
            (("BILLING_DAY", "32"), "from 1 to 31"),
            (("BILLING_DAY", "last"), "whole number"),
            (("QUOTA", "500"), "a unit is needed"),
            (("QUOTA", "500 gigs"), "500GB or 1.5TiB"),
            (("QUOTA", "1,5TB"), "500GB or 1.5TiB"),
            (("QUOTA", "0GB"), "above zero"),
            (("QUOTA", "20000PiB"), "16 EiB"),
            (("QUOTA_BASIS", "both"), "total, down, up or max"),
            (("ALERT_AT", "80,ninety"), "from 1 to 1000"),
            (("ALERT_AT", "0"), "from 1 to 1000"),
            (("ALERT_AT", "1001"), "from 1 to 1000"),
            (("QUOTA_IFACES", "eth0/1"), "interface name"),
        ];
        for ((name, value), expected) in cases {
            let message = error_of(&[(name, value)]);
            assert!(message.starts_with(name), "{message}");
            assert!(message.contains(&format!("'{value}'")), "{message}");
            assert!(message.contains(expected), "{message}");
        }
    }

    #[test]
    fn quota_ifaces_must_be_monitored_when_monitor_iface_is_set() {
        let message = error_of(&[("MONITOR_IFACE", "eth0"), ("QUOTA_IFACES", "eth0,wlan0")]);
        assert!(
            message.starts_with("QUOTA_IFACES (--quota-iface) is 'eth0,wlan0'"),
            "{message}"
        );
        assert!(message.contains("'wlan0' is not monitored"), "{message}");
        assert!(message.contains("MONITOR_IFACE (eth0)"), "{message}");
        // With the default route's interface, any name is taken.
        let config = settings(&[("TZ", "UTC"), ("QUOTA_IFACES", "wlan0")])
            .resolve()
            .expect("valid");
        assert_eq!(config.quota.interfaces, ["wlan0"]);
    }

    #[test]
    fn a_variable_that_is_not_utf8_is_an_error_naming_it_never_unset() {
        use std::os::unix::ffi::OsStringExt;
        for setting in setting::ALL {
            let bytes = b"admin:s\xffcret".to_vec();
            let error = RawSettings::from_env(|name| {
                (name == setting.env).then(|| OsString::from_vec(bytes.clone()))
            })
            .expect_err("not UTF-8");
            let message = error.to_string();
            assert!(message.starts_with(setting.env), "{message}");
            assert!(message.contains("not UTF-8"), "{message}");
            if *setting == setting::WEB_AUTH || *setting == setting::ALERT_URLS {
                assert!(
                    !message.contains("cret"),
                    "never echo a password: {message}"
                );
            }
        }
    }

    #[test]
    fn rings_are_refused_above_an_eighth_of_the_machines_memory() {
        const MIB: u64 = 1 << 20;
        const GIB: u64 = 1 << 30;
        let config = |env: &[(&str, &str)]| {
            let mut env = env.to_vec();
            env.push(("TZ", "UTC"));
            settings(&env).resolve().expect("within the ranges")
        };
        // The default 8 MiB ring fits a 256 MiB machine, and 64 MiB in all fits 512 MiB.
        assert_eq!(config(&[]).check_ring_memory(1, 256 * MIB), Ok(()));
        let eight = config(&[("CAPTURE_WORKERS", "4")]);
        assert_eq!(eight.ring_bytes(2), 64 * MIB);
        assert_eq!(eight.check_ring_memory(2, 512 * MIB), Ok(()));
        let error = eight
            .check_ring_memory(2, 512 * MIB - 1024)
            .expect_err("one KiB short");
        assert!(error.to_string().contains("CAPTURE_WORKERS"), "{error}");
        // The campaign's case: 64 GiB per ring on a 16 GiB machine.
        let huge = config(&[("RING_BLOCKS", "4096"), ("RING_BLOCK_SIZE", "16777216")]);
        assert_eq!(
            huge.ring_bytes(0),
            64 * GIB,
            "no interface named: the default route's"
        );
        let message = huge
            .check_ring_memory(0, 16 * GIB)
            .expect_err("64 GiB")
            .to_string();
        for needed in [
            "RING_BLOCKS",
            "RING_BLOCK_SIZE",
            "MemTotal",
            "64.00 GB",
            "2.00 GB",
        ] {
            assert!(message.contains(needed), "{needed}: {message}");
        }
        // Every setting at its largest, on every interface: no overflow, refused.
        let most = config(&[
            ("RING_BLOCKS", "4096"),
            ("RING_BLOCK_SIZE", "16777216"),
            ("CAPTURE_WORKERS", "64"),
        ]);
        assert!(most.check_ring_memory(usize::MAX, u64::MAX / 2).is_err());
    }

    #[test]
    fn mem_total_is_read_in_bytes() {
        let meminfo = "MemTotal:        1003456 kB\nMemFree:          123 kB\n";
        assert_eq!(parse_mem_total(meminfo), Some(1003456 * 1024));
        assert_eq!(parse_mem_total("MemFree: 1 kB\n"), None);
        assert!(mem_total().is_some_and(|bytes| bytes > 0));
    }

    #[test]
    fn alert_urls_are_parsed_and_a_bad_one_is_named_without_its_secrets() {
        let config = settings(&[
            ("TZ", "UTC"),
            (
                "ALERT_URLS",
                "ntfys://alice:s3cret@ntfy.example.net/nas, tgram://123:AAsecret/42\nmailto://nas:s3cret@mail.example.net?to=a@example.org,b@example.org",
            ),
        ])
        .resolve()
        .expect("valid");
        assert_eq!(config.alert_targets.len(), 3);
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("AAsecret"),
            "{debug}"
        );
        assert!(
            settings(&[("TZ", "UTC")])
                .resolve()
                .expect("valid")
                .alert_targets
                .is_empty()
        );

        let message = error_of(&[("ALERT_URLS", "ntfy://ok gotify://push.example.net")]);
        assert!(
            message.starts_with("ALERT_URLS (--alert-urls) is 'gotify://push.example.net'"),
            "{message}"
        );
        assert!(
            message.contains("target 2") && message.contains("token"),
            "{message}"
        );
        let message = error_of(&[("ALERT_URLS", "json://u:s3cret@host:x/hook")]);
        assert!(message.starts_with("ALERT_URLS"), "{message}");
        assert!(
            !message.contains("s3cret") && !message.contains("hook"),
            "{message}"
        );
    }

    #[test]
    fn a_bad_web_auth_never_echoes_the_password() {
        let message = error_of(&[("WEB_AUTH", "onlyapassword")]);
        assert!(message.starts_with("WEB_AUTH"), "{message}");
        assert!(!message.contains("onlyapassword"), "{message}");
        let message = error_of(&[("WEB_AUTH", ":pw")]);
        assert!(!message.contains("pw'"), "{message}");
    }

    #[test]
    fn an_unknown_zone_is_an_error_not_utc() {
        let error = settings(&[("TZ", "Mars/Olympus")])
            .resolve()
            .expect_err("unknown zone");
        assert!(error.to_string().contains("Mars/Olympus"), "{error}");
        let zone = settings(&[("TZ", "Asia/Kathmandu")])
            .zone()
            .expect("known zone");
        assert_eq!(zone.name(), "Asia/Kathmandu");
    }

    #[test]
    fn every_setting_has_a_distinct_flag_and_variable() {
        for (i, a) in setting::ALL.iter().enumerate() {
            assert!(a.flag.starts_with("--"));
            for b in &setting::ALL[i + 1..] {
                assert_ne!(a.flag, b.flag);
                assert_ne!(a.env, b.env);
            }
            assert_eq!(setting_for_flag(a.flag), Some(*a));
        }
    }
}
