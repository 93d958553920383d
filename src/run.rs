//! `run`: the monitor. Opens the history at `DB_PATH`, starts capture on the configured
//! interfaces and the `persister` thread (one commit every `SAVE_INTERVAL`), then the web server
//! (dashboard, JSON API, `/metrics`) on `WEB_BIND`:`WEB_PORT`; logs a one-line summary every
//! interval, and on SIGTERM/SIGINT stops capture, makes the last commit and prints the final
//! tally. Exit codes: 0 after a clean stop, 1 when capture cannot start or the last commit
//! failed, 2 for bad settings (including a database that cannot be used and a `WEB_PORT` that
//! cannot be listened on, said in one sentence).
//!
//! The web server answers from the history and the live counts and never writes; it is not
//! stopped on SIGTERM but simply ends with the process, so a request in flight or an idle
//! keep-alive connection cannot delay the last commit.
//!
//! On a clean stop the final tally also goes to stdout as one JSON line (per interface and
//! together, in the shape of `report --json`), and a log line ends in `seen_pkts=N seen_bytes=M`,
//! which the capture-cost harness reads.

use std::process::ExitCode;
use std::sync::Arc;

use log::{error, info, warn};
use serde_json::{Map, Value, json};

use crate::capture::engine::{Engine, EngineSettings};
use crate::capture::iface;
use crate::capture::ring::{Geometry, check_permission};
use crate::clock::Zone;
use crate::config::Config;
use crate::count::UpDown;
use crate::count::live::LiveSnapshot;
use crate::live::LiveState;
use crate::persister::Persister;
use crate::serve::api::{Api, LiveSource};
use crate::serve::http::{self, HttpSettings};
use crate::shutdown::Shutdown;
use crate::store::Store;
use crate::units::format_bytes;

const EXIT_CAPTURE_FAILED: u8 = 1;
const EXIT_CONFIG: u8 = 2;

/// Run the monitor until SIGTERM or SIGINT.
pub fn run(config: &Config) -> ExitCode {
    init_logging(config.log_level);
    // Before anything is opened: with no interface named, capture takes one (the default route's).
    match crate::config::mem_total() {
        Some(mem_total) => {
            if let Err(error) = config.check_ring_memory(config.interfaces.len(), mem_total) {
                error!("{error}");
                return ExitCode::from(EXIT_CONFIG);
            }
        }
        None => warn!(
            "cannot read MemTotal from /proc/meminfo: the capture rings' size is not checked against this machine's memory"
        ),
    }
    if let Err(error) = check_permission() {
        error!("{error}");
        return ExitCode::from(EXIT_CAPTURE_FAILED);
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
                error!(
                    "MONITOR_IFACE is not set and this host has no default route to take it from: set MONITOR_IFACE to one of {}",
                    iface::all_names().join(", ")
                );
                return ExitCode::from(EXIT_CONFIG);
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

    let store = match Store::open(&config.db_path, config.zone.clone(), config.top_ips_per_day) {
        Ok(store) => Arc::new(store),
        Err(error) => {
            error!("{error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };

    let stop = Shutdown::new();
    if let Err(error) = stop.on_signals(&[libc::SIGTERM, libc::SIGINT]) {
        error!("cannot install the handlers for SIGTERM and SIGINT: {error}");
        return ExitCode::from(EXIT_CAPTURE_FAILED);
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
        remote_capacity: config.top_ips_per_day.saturating_mul(2),
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
            error!("cannot start the capture threads: {error}");
            return ExitCode::from(EXIT_CAPTURE_FAILED);
        }
    };
    let persister = match Persister::new(Arc::clone(&store))
        .spawn(Arc::clone(&engine.live), config.save_interval)
    {
        Ok(persister) => persister,
        Err(error) => {
            error!("cannot start the persister thread: {error}");
            engine.stop();
            return ExitCode::from(EXIT_CAPTURE_FAILED);
        }
    };
    let settings = HttpSettings {
        bind: config.web_bind,
        port: config.web_port,
        auth: config.web_auth.clone(),
        allowed_hosts: config.web_allowed_hosts.clone(),
    };
    let api = Api::new(
        Arc::clone(&store),
        Arc::clone(&engine.live) as Arc<dyn LiveSource>,
    );
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
            error!("{error}");
            engine.stop();
            // Whatever was counted in these milliseconds is kept; a failure here has no news.
            let _ = persister.finish();
            store.close();
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    while stop.sleep(config.save_interval) {
        log_summary(&engine.live, "so far");
    }
    info!("stopping");
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
            ExitCode::SUCCESS
        }
        Err(error) => {
            error!("the last counts could not be saved: {error}");
            ExitCode::from(EXIT_CAPTURE_FAILED)
        }
    }
}

fn init_logging(level: log::LevelFilter) {
    let config = simplelog::ConfigBuilder::new()
        .set_time_format_rfc3339()
        .set_thread_level(log::LevelFilter::Off)
        .set_target_level(log::LevelFilter::Off)
        // The coroutine runtime of the web server logs every connection ("add fd to epoll
        // select") and its settings at info: chatter a client could use to fill the log.
        .add_filter_ignore_str("may")
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

/// A live snapshot in the shape of `report --json` (hours by local label, remotes summed over days).
pub fn snapshot_json(snapshot: &LiveSnapshot, zone: &Zone) -> Value {
    let mut hours: Map<String, Value> = Map::new();
    let mut merged_hours: std::collections::BTreeMap<String, UpDown> = Default::default();
    for (start, bytes) in &snapshot.hours {
        *merged_hours.entry(zone.hour_label(*start)).or_default() += *bytes;
    }
    for (label, bytes) in merged_hours {
        hours.insert(label, updown(bytes));
    }
    let mut remotes: std::collections::BTreeMap<String, UpDown> = Default::default();
    for entries in snapshot.remotes.values() {
        for entry in entries {
            *remotes.entry(entry.addr.to_string()).or_default() += entry.bytes;
        }
    }
    let remotes: Map<String, Value> = remotes.into_iter().map(|(k, v)| (k, updown(v))).collect();
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
        "remote_ips": remotes,
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
