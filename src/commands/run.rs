//! `run`: the monitor. Opens the history at `DB_PATH`, starts capture on the configured
//! interfaces and the `persister` thread (one commit every `SAVE_INTERVAL`), then the web server
//! (dashboard, JSON API, `/metrics`) on `WEB_BIND`:`WEB_PORT`; logs a one-line summary every
//! interval, and on SIGTERM/SIGINT stops capture, makes the last commit and prints the final
//! tally. It fails with a [`RunError`]: capture cannot start or the last commit failed, or bad
//! settings (including a database that cannot be used and a `WEB_PORT` that cannot be listened
//! on, said in one sentence); [`crate::cli`] logs it and chooses the exit code.
//!
//! With `QUOTA` set, a `quota` thread looks at the billing cycle every minute and records the
//! alerts that are due in the history file ([`crate::quota::alerts`]); they go to the
//! `ALERT_URLS` targets through an [`Outbox`] thread (and to the log), or, without targets, only
//! to the log ([`LogOnly`]: `quota alert: …`).
//!
//! The web server answers from the history and the live counts and never writes; it is not
//! stopped on SIGTERM but simply ends with the process, so a request in flight or an idle
//! keep-alive connection cannot delay the last commit.
//!
//! On a clean stop the final tally also goes to stdout as one JSON line (per interface and
//! together, in the shape of `report --json`), and a log line ends in `seen_pkts=N seen_bytes=M`,
//! which the capture-cost harness reads.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use log::{info, warn};
use serde_json::{Map, Value, json};

use crate::capture::engine::{Engine, EngineSettings};
use crate::capture::iface;
use crate::capture::ring::{Geometry, check_permission};
use crate::clock::Zone;
use crate::config::{Config, setting};
use crate::count::UpDown;
use crate::count::live::LiveSnapshot;
use crate::lan::Labeler;
use crate::live::{Capacity, LiveState};
use crate::notify::Outbox;
use crate::persister::Persister;
use crate::quota::alerts::{self, Alerts, Deliver, LogOnly};
use crate::remote::{GeoIp, Names};
use crate::serve::api::{Api, LiveSource, PrefixSettings};
use crate::serve::http::{self, HttpSettings};
use crate::shutdown::Shutdown;
use crate::store::{Store, StoreError};
use crate::units::format_bytes;

/// Why the monitor stopped other than cleanly. Each message is one sentence (as logged).
#[derive(Debug)]
pub enum RunError {
    /// A setting cannot work on this host (ring memory, no interface to take, `WEB_PORT`).
    Settings(String),
    /// The history at `DB_PATH` cannot be used.
    History(StoreError),
    /// Capture cannot start (no CAP_NET_RAW, no signal handlers, no threads).
    Capture(String),
    /// Everything ran, but the last counts could not be saved.
    LastCommit(StoreError),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Settings(why) | RunError::Capture(why) => f.write_str(why),
            RunError::History(error) => write!(f, "{error}"),
            RunError::LastCommit(error) => {
                write!(f, "the last counts could not be saved: {error}")
            }
        }
    }
}

impl std::error::Error for RunError {}

/// Run the monitor until SIGTERM or SIGINT.
///
/// # Errors
/// See [`RunError`]; what was counted before a failure is committed when it can be.
pub fn run(config: &Config) -> Result<(), RunError> {
    // Files named by settings first: a bad one is the owner's to fix, whatever else holds.
    let geoip = match open_geoip(&config.geoip_db) {
        Ok(geoip) => geoip,
        Err(error) => return Err(RunError::Settings(error)),
    };
    // Before anything is opened: with no interface named, capture takes one (the default route's).
    match crate::config::mem_total() {
        Some(mem_total) => {
            if let Err(error) = config.check_ring_memory(config.interfaces.len(), mem_total) {
                return Err(RunError::Settings(error.to_string()));
            }
        }
        None => warn!(
            "cannot read MemTotal from /proc/meminfo: the capture rings' size is not checked against this machine's memory"
        ),
    }
    if let Err(error) = check_permission() {
        return Err(RunError::Capture(error.to_string()));
    }
    let interfaces = if config.interfaces.is_empty() {
        match iface::default_route_interface() {
            Some(name) => {
                info!(
                    "MONITOR_IFACE is not set: capturing {name}, the interface of the default route"
                );
                vec![name]
            }
            None => {
                return Err(RunError::Settings(format!(
                    "MONITOR_IFACE is not set and this host has no default route to take it from: set MONITOR_IFACE to one of {}",
                    iface::all_names().join(", ")
                )));
            }
        }
    } else {
        config.interfaces.clone()
    };
    for name in &interfaces {
        if iface::lookup(name).is_none() {
            warn!(
                "interface '{name}' does not exist (this host has: {}); capture starts when it appears",
                iface::all_names().join(", ")
            );
        }
    }

    let store = match Store::open(&config.db_path, config.zone.clone(), config.top_ips_per_day)
        .map(|store| store.with_devices_per_day(config.devices_per_day))
    {
        Ok(store) => Arc::new(store),
        Err(error) => return Err(RunError::History(error)),
    };

    let stop = Shutdown::new();
    if let Err(error) = stop.on_signals(&[libc::SIGTERM, libc::SIGINT]) {
        return Err(RunError::Capture(format!(
            "cannot install the handlers for SIGTERM and SIGINT: {error}"
        )));
    }
    let settings = EngineSettings {
        interfaces,
        workers: config.capture_workers,
        geometry: Geometry {
            block_size: config.ring.block_size,
            block_count: config.ring.block_count,
            retire_timeout: config.ring.retire_timeout,
        },
        zone: config.zone.clone(),
        local_prefixes: config.local_prefixes.clone(),
        auto_local_prefixes: config.auto_local_prefixes,
        capacity: Capacity {
            remotes: config.top_ips_per_day.saturating_mul(2),
            devices: config.devices_per_day.saturating_mul(2),
        },
    };
    info!(
        "nettraffic-sentinel {} capturing {} (zone {}, {} configured local prefixes)",
        env!("CARGO_PKG_VERSION"),
        settings.interfaces.join(", "),
        config.zone.name(),
        config.local_prefixes.len()
    );
    let engine = match Engine::start(settings, Arc::clone(&stop)) {
        Ok(engine) => engine,
        Err(error) => {
            return Err(RunError::Capture(format!(
                "cannot start the capture threads: {error}"
            )));
        }
    };
    let names = if config.reverse_dns {
        match Names::start() {
            Ok(names) => Some(Arc::new(names)),
            Err(error) => {
                warn!("{error}; addresses are shown without names (REVERSE_DNS)");
                None
            }
        }
    } else {
        None
    };
    let labeler = Arc::new(Labeler::new(
        config.device_names.clone(),
        crate::lan::neighbours::Tables::kernel(),
        names.clone(),
    ));
    let persister = match Persister::new(Arc::clone(&store))
        .with_labeler(Arc::clone(&labeler))
        .spawn(Arc::clone(&engine.live), config.save_interval)
    {
        Ok(persister) => persister,
        Err(error) => {
            engine.stop();
            return Err(RunError::Capture(format!(
                "cannot start the persister thread: {error}"
            )));
        }
    };
    let quota = if config.quota.quota.is_some() {
        let live = Arc::clone(&engine.live);
        let deliver: Arc<dyn Deliver> = if config.alert_targets.is_empty() {
            Arc::new(LogOnly)
        } else {
            match Outbox::start(config.alert_targets.clone()) {
                Ok(outbox) => Arc::new(outbox),
                Err(error) => {
                    engine.stop();
                    let _ = persister.finish();
                    store.close();
                    return Err(RunError::Capture(format!(
                        "cannot start the alert delivery thread: {error}"
                    )));
                }
            }
        };
        let started = Alerts::new(Arc::clone(&store), config.quota.clone(), deliver)
            .spawn(move || live.counts(), alerts::EVERY);
        match started {
            Ok(thread) => Some(thread),
            Err(error) => {
                engine.stop();
                let _ = persister.finish();
                store.close();
                return Err(RunError::Capture(format!(
                    "cannot start the quota thread: {error}"
                )));
            }
        }
    } else {
        None
    };
    let settings = HttpSettings {
        bind: config.web_bind,
        port: config.web_port,
        auth: config
            .web_auth
            .clone()
            .map(|auth| (auth.user, auth.password)),
        allowed_hosts: config.web_allowed_hosts.clone(),
    };
    let api = Api::new(
        Arc::clone(&store),
        Arc::clone(&engine.live) as Arc<dyn LiveSource>,
    )
    .with_prefix_settings(PrefixSettings {
        configured: config.local_prefixes.clone(),
        automatic: config.auto_local_prefixes,
    })
    .with_quota(config.quota.clone());
    let api = match geoip {
        Some(geoip) => api.with_geoip(geoip),
        None => api,
    };
    let api = match &names {
        Some(names) => api.with_names(Arc::clone(names)),
        None => api,
    };
    let api = api.with_labeler(Arc::clone(&labeler));
    let _server = match http::start(&settings, Arc::new(api)) {
        Ok(server) => {
            info!(
                "dashboard and API at http://{}/{}",
                server.local_addr(),
                if settings.auth.is_some() {
                    " (WEB_AUTH: basic auth on all but /api/health)"
                } else {
                    ""
                }
            );
            server
        }
        Err(error) => {
            engine.stop();
            if let Some(quota) = quota {
                quota.stop();
            }
            // Whatever was counted in these milliseconds is kept; a failure here has no news.
            let _ = persister.finish();
            store.close();
            return Err(RunError::Settings(error.to_string()));
        }
    };
    while stop.sleep(config.save_interval) {
        log_summary(&engine.live, "so far");
    }
    info!("stopping");
    if let Some(quota) = quota {
        quota.stop();
    }
    // Capture first, so the last commit holds every frame the kernel had accepted.
    let live = engine.stop();
    let saved = persister.finish();
    // The web server's handler holds the store until the process exits: close the file now, or
    // the next start would find it not closed cleanly.
    store.close();
    log_summary(&live, "final");
    println!("{}", final_json(&live));
    match saved {
        Ok(report) => {
            info!(
                "saved to {} ({} hours, {} days of addresses, in {} ms)",
                store.path().display(),
                report.hours,
                report.days,
                report.took.as_millis()
            );
            Ok(())
        }
        Err(error) => Err(RunError::LastCommit(error)),
    }
}

/// How often `GEOIP_DB`'s files are checked for changes on disk.
pub const GEOIP_REFRESH: Duration = Duration::from_secs(5);

/// Read `GEOIP_DB`'s files and start the thread that reads them again when they change.
///
/// # Errors
/// A sentence naming the setting and the file that cannot be used.
fn open_geoip(paths: &[std::path::PathBuf]) -> Result<Option<Arc<GeoIp>>, String> {
    if paths.is_empty() {
        return Ok(None);
    }
    let geoip = GeoIp::open(paths).map_err(|error| {
        format!(
            "{} ({}) names {}: {}",
            setting::GEOIP_DB.env,
            setting::GEOIP_DB.flag,
            error.path.display(),
            error.why
        )
    })?;
    for line in geoip.describe() {
        info!("networks and countries from {line}");
    }
    let geoip = Arc::new(geoip);
    let watched = Arc::clone(&geoip);
    // Never stopped: like the web server, it simply ends with the process.
    std::thread::Builder::new()
        .name("geoip-watch".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            loop {
                std::thread::sleep(GEOIP_REFRESH);
                for report in watched.refresh() {
                    match report {
                        Ok(line) => info!("GEOIP_DB: {line}"),
                        Err(error) => warn!("GEOIP_DB: {error}"),
                    }
                }
            }
        })
        .map_err(|error| format!("cannot start the GEOIP_DB watch thread: {error}"))?;
    Ok(Some(geoip))
}

/// Set up logging to stderr at `level` (before [`run`], so its error is logged the same way).
pub fn init_logging(level: log::LevelFilter) {
    let config = simplelog::ConfigBuilder::new()
        .set_time_format_rfc3339()
        .set_thread_level(log::LevelFilter::Off)
        .set_target_level(log::LevelFilter::Off)
        // The coroutine runtime of the web server logs every connection ("add fd to epoll
        // select") and its settings at info: chatter a client could use to fill the log.
        .add_filter_ignore_str("may")
        // The alert senders' libraries log requests (a Telegram URL holds the bot token) at
        // debug; the outbox logs every attempt itself, with secrets masked.
        .add_filter_ignore_str("ureq")
        .add_filter_ignore_str("rustls")
        .add_filter_ignore_str("lettre")
        .build();
    // A logger set twice (tests) keeps the first; nothing to report then.
    let _ = simplelog::TermLogger::init(
        level,
        config,
        simplelog::TerminalMode::Stderr,
        simplelog::ColorChoice::Never,
    );
}

fn log_summary(live: &LiveState, when: &str) {
    let mut seen = (0u64, 0u64);
    for interface in &live.interfaces {
        let counters = interface.counters();
        let kernel = interface.kernel_stats();
        seen.0 += counters.frames;
        seen.1 += counters.wire_bytes;
        info!(
            "{} {when}: up {} down {} ({} packets counted, {} frames read, {} malformed, LAN {}, {} dropped by the kernel)",
            interface.name,
            format_bytes(counters.total.up),
            format_bytes(counters.total.down),
            counters.counted,
            counters.frames,
            counters.malformed,
            format_bytes(counters.lan_bytes),
            kernel.drops
        );
    }
    info!(
        "all interfaces {when}: seen_pkts={} seen_bytes={}",
        seen.0, seen.1
    );
}

fn updown(bytes: UpDown) -> Value {
    json!({"up_bytes": bytes.up, "down_bytes": bytes.down})
}

/// A live snapshot in the shape of `report --json` (hours by local label, remotes, devices and
/// services summed over days).
pub fn snapshot_json(snapshot: &LiveSnapshot, zone: &Zone) -> Value {
    let mut hours: Map<String, Value> = Map::new();
    let mut merged_hours: std::collections::BTreeMap<String, UpDown> = Default::default();
    for (start, bytes) in &snapshot.hours {
        *merged_hours.entry(zone.hour_label(*start)).or_default() += *bytes;
    }
    for (label, bytes) in merged_hours {
        hours.insert(label, updown(bytes));
    }
    let by_address =
        |days: &std::collections::BTreeMap<_, Vec<crate::count::heavy::HeavyEntry>>| {
            let mut sums: std::collections::BTreeMap<String, UpDown> = Default::default();
            for entries in days.values() {
                for entry in entries {
                    *sums.entry(entry.addr.to_string()).or_default() += entry.bytes;
                }
            }
            sums.into_iter()
                .map(|(k, v)| (k, updown(v)))
                .collect::<Map<String, Value>>()
        };
    let services: Map<String, Value> = snapshot
        .services
        .values()
        .fold(crate::count::ByService::default(), |sum, day| sum + *day)
        .iter()
        .map(|(service, bytes)| (service.name().to_string(), updown(bytes)))
        .collect();
    let counters = snapshot.counters;
    json!({
        "packets_total": counters.frames,
        "wire_bytes": counters.wire_bytes,
        "packets_counted": counters.counted,
        "malformed": counters.malformed,
        "lan_bytes": counters.lan_bytes,
        "up_bytes": counters.total.up,
        "down_bytes": counters.total.down,
        "hours": hours,
        "remote_ips": by_address(&snapshot.remotes),
        "devices": by_address(&snapshot.devices),
        "services": services,
    })
}

fn final_json(live: &LiveState) -> Value {
    let mut interfaces = Map::new();
    for interface in &live.interfaces {
        let mut value = snapshot_json(&interface.snapshot(), &live.zone);
        let kernel = interface.kernel_stats();
        if let Some(map) = value.as_object_mut() {
            map.insert(
                "kernel".into(),
                json!({"packets": kernel.packets, "drops": kernel.drops, "freezes": kernel.freezes}),
            );
        }
        interfaces.insert(interface.name.clone(), value);
    }
    json!({
        "interfaces": interfaces,
        "total": snapshot_json(&live.total(), &live.zone),
    })
}
