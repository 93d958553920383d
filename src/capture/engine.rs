//! The capture engine's start-up: the live state, one [`worker`](super::worker) thread per
//! interface and fanout worker, the rate sampler and the prefix watcher; and their stop.
//!
//! Threads are named `capture-IFACE` (`capture-IFACE-N` for extra fanout workers), `rate` and
//! `prefixes`. The address rules can change under running workers (the interfaces' own prefixes
//! follow the ISP): workers pick up a new classifier between blocks, never per packet.

use std::sync::{Arc, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use ipnet::IpNet;
use log::{info, warn};

use super::iface;
use super::ring::Geometry;
use super::worker::Worker;
use crate::classify::AddressClassifier;
use crate::clock::{Zone, unix_now};
use crate::count::UpDown;
use crate::live::{Capacity, LiveState};
use crate::shutdown::Shutdown;

/// What the engine needs to know.
#[derive(Clone, Debug)]
pub struct EngineSettings {
    pub interfaces: Vec<String>,
    pub workers: usize,
    pub geometry: Geometry,
    pub zone: Zone,
    /// Configured non-public prefixes.
    pub local_prefixes: Vec<IpNet>,
    /// Add the interfaces' own global prefixes to them.
    pub auto_local_prefixes: bool,
    /// Remote and local addresses kept per day and worker.
    pub capacity: Capacity,
}

/// Running capture: the live state and the threads feeding it.
#[derive(Debug)]
pub struct Engine {
    pub live: Arc<LiveState>,
    stop: Arc<Shutdown>,
    threads: Vec<JoinHandle<()>>,
}

impl Engine {
    /// Start one thread per interface and worker, plus the prefix watcher.
    ///
    /// # Errors
    /// When a thread cannot be spawned.
    pub fn start(settings: EngineSettings, stop: Arc<Shutdown>) -> std::io::Result<Engine> {
        let workers = settings.workers.max(1);
        let capacity = settings.capacity;
        let live = Arc::new(LiveState::new(
            &settings.interfaces,
            workers,
            &settings.zone,
            capacity,
            classifier_for(&settings),
            unix_now(),
        ));
        let mut threads = Vec::new();
        for (interface, name) in settings.interfaces.iter().enumerate() {
            for worker in 0..workers {
                let thread_name = if worker == 0 {
                    format!("capture-{name}")
                } else {
                    format!("capture-{name}-{worker}")
                };
                let job = Worker {
                    live: Arc::clone(&live),
                    interface,
                    worker,
                    workers,
                    geometry: settings.geometry,
                    stop: Arc::clone(&stop),
                };
                threads.push(
                    std::thread::Builder::new()
                        .name(thread_name)
                        .spawn(move || job.run())?,
                );
            }
        }
        let sampler_live = Arc::clone(&live);
        let sampler_stop = Arc::clone(&stop);
        threads.push(
            std::thread::Builder::new()
                .name("rate".into())
                .spawn(move || sample_rate(&sampler_live, &sampler_stop))?,
        );
        if settings.auto_local_prefixes {
            let watcher_live = Arc::clone(&live);
            let watcher_stop = Arc::clone(&stop);
            threads.push(
                std::thread::Builder::new()
                    .name("prefixes".into())
                    .spawn(move || watch_prefixes(&watcher_live, &settings, &watcher_stop))?,
            );
        }
        Ok(Engine {
            live,
            stop,
            threads,
        })
    }

    /// Ask every thread to stop and wait for them (each notices within one poll timeout).
    pub fn stop(self) -> Arc<LiveState> {
        self.stop.request();
        for thread in self.threads {
            if thread.join().is_err() {
                warn!("a capture thread panicked; its counts up to then are kept");
            }
        }
        self.live
    }
}

/// Take a one-second sample of each interface's totals and of all together, every second.
fn sample_rate(live: &LiveState, stop: &Shutdown) {
    while stop.sleep(Duration::from_secs(1)) {
        let now = unix_now();
        let mut total = UpDown::default();
        for interface in &live.interfaces {
            let bytes = interface.counters().total;
            total += bytes;
            interface
                .rate
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .record(now, bytes);
        }
        live.rate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(now, total);
    }
}

fn classifier_for(settings: &EngineSettings) -> AddressClassifier {
    let mut prefixes = settings.local_prefixes.clone();
    if settings.auto_local_prefixes {
        for prefix in iface::global_prefixes(&settings.interfaces) {
            if !prefixes.contains(&prefix) {
                prefixes.push(prefix);
            }
        }
    }
    AddressClassifier::new(&prefixes)
}

/// Re-read the interfaces' own prefixes every few seconds and swap the rules when they change.
fn watch_prefixes(live: &LiveState, settings: &EngineSettings, stop: &Shutdown) {
    const EVERY: Duration = Duration::from_secs(10);
    let mut known = iface::global_prefixes(&settings.interfaces);
    if !known.is_empty() {
        info!(
            "the interfaces' own prefixes count as local: {}",
            list(&known)
        );
    }
    while stop.sleep(EVERY) {
        let now = iface::global_prefixes(&settings.interfaces);
        if now != known {
            info!(
                "the interfaces' own prefixes changed to: {}",
                if now.is_empty() {
                    "none".to_string()
                } else {
                    list(&now)
                }
            );
            known = now;
            live.classifier().replace(classifier_for(settings));
        }
    }
}

fn list(prefixes: &[IpNet]) -> String {
    prefixes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
