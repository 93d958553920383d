//! The capture engine: one thread per interface and worker drains its ring into its own shard.
//!
//! Threads are named `capture-IFACE` (`capture-IFACE-N` for extra fanout workers). Each keeps its
//! interface captured through its whole life: missing or failing interfaces are retried with
//! backoff (1 s doubling to 30 s), an interface that vanishes and returns (a PPPoE redial gives
//! `ppp0` a new index) is opened again, and each state change is logged once and kept for health
//! reports. The address rules can change under running workers (the interfaces' own prefixes
//! follow the ISP): workers pick up a new classifier between blocks, never per packet.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use log::{info, warn};

use super::block::{Block, RingFrame};
use super::bpf;
use super::iface::{self, link_kind};
use super::ring::{Geometry, KernelStats, Ring, RingError, RingOptions};
use crate::classify::AddressClassifier;
use crate::clock::{HourClock, Zone};
use crate::count::UpDown;
use crate::count::live::{Counters, LiveShard, LiveSnapshot, RateSampler, SharedShard};
use crate::count::{Counter, Frame};
use crate::parse::FrameMeta;
use crate::shutdown::Shutdown;

/// How often a worker reads kernel statistics and checks that its interface is still the same.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Longest wait in poll, so a stop request is noticed promptly.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);
/// Extra wait for the last block beyond two retire timeouts, for timer slack.
const DRAIN_SLACK: Duration = Duration::from_millis(20);
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

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
    /// Remote addresses kept per day and worker.
    pub remote_capacity: usize,
}

/// The capture state of one interface, for logs and health reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaptureState {
    Starting,
    /// Frames are being read.
    Capturing,
    /// The interface exists but is administratively down (capture resumes when it comes up).
    Down,
    /// No interface of that name exists (yet, or any more); retrying.
    Missing,
    /// Opening failed; retrying.
    Failed(String),
    Stopped,
}

impl CaptureState {
    /// Capturing or down, by the interface's IFF_UP flag.
    fn of(interface: &iface::InterfaceInfo) -> CaptureState {
        if interface.up {
            CaptureState::Capturing
        } else {
            CaptureState::Down
        }
    }
}

impl std::fmt::Display for CaptureState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CaptureState::Starting => f.write_str("starting"),
            CaptureState::Capturing => f.write_str("capturing"),
            CaptureState::Down => f.write_str("down (waiting for it to come up)"),
            CaptureState::Missing => f.write_str("missing (waiting for it to appear)"),
            CaptureState::Failed(why) => write!(f, "failed ({why}); retrying"),
            CaptureState::Stopped => f.write_str("stopped"),
        }
    }
}

/// State of one worker, written by the worker, read by anyone.
#[derive(Clone, Debug)]
pub struct WorkerStatus {
    pub state: CaptureState,
    /// Unix second of the last state change.
    pub since: i64,
    /// Kernel statistics of all rings this worker opened, added up.
    pub kernel: KernelStats,
    /// The interface index captured (it changes when the interface is re-created).
    pub ifindex: Option<i32>,
}

/// Everything live about one monitored interface.
#[derive(Debug)]
pub struct InterfaceLive {
    pub name: String,
    shards: Vec<SharedShard>,
    status: Vec<Mutex<WorkerStatus>>,
    /// One-second samples of this interface alone, for the live rate of one interface.
    pub rate: Mutex<RateSampler>,
}

impl InterfaceLive {
    /// The counts of all this interface's workers added together.
    pub fn snapshot(&self) -> LiveSnapshot {
        let mut snapshot = LiveSnapshot::default();
        for shard in &self.shards {
            snapshot.add_shard(&shard.lock());
        }
        snapshot
    }

    /// Counters and hours, without the remote addresses (cheap enough for every API request).
    pub fn counts(&self) -> LiveSnapshot {
        let mut snapshot = LiveSnapshot::default();
        for shard in &self.shards {
            snapshot.add_shard_counts(&shard.lock());
        }
        snapshot
    }

    /// Only the counters (cheap: no hours or addresses copied).
    pub fn counters(&self) -> Counters {
        let mut counters = Counters::default();
        for shard in &self.shards {
            counters += shard.lock().counters;
        }
        counters
    }

    /// The state of each worker (one per fanout member).
    pub fn status(&self) -> Vec<WorkerStatus> {
        self.status
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).clone())
            .collect()
    }

    /// Kernel statistics of every worker added up.
    pub fn kernel_stats(&self) -> KernelStats {
        self.status()
            .iter()
            .fold(KernelStats::default(), |mut total, s| {
                total.packets += s.kernel.packets;
                total.drops += s.kernel.drops;
                total.freezes += s.kernel.freezes;
                total
            })
    }
}

/// The address rules shared by all workers, replaced as a whole when prefixes change.
#[derive(Debug)]
struct SharedClassifier {
    generation: AtomicU64,
    current: Mutex<Arc<AddressClassifier>>,
}

impl SharedClassifier {
    fn get(&self) -> (u64, Arc<AddressClassifier>) {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        (
            self.generation.load(Ordering::Acquire),
            Arc::clone(&current),
        )
    }

    fn replace(&self, classifier: AddressClassifier) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        *current = Arc::new(classifier);
        self.generation.fetch_add(1, Ordering::Release);
    }
}

/// The live state readers see.
#[derive(Debug)]
pub struct LiveState {
    pub interfaces: Vec<InterfaceLive>,
    classifier: SharedClassifier,
    pub zone: Zone,
    /// One-second samples of all interfaces together, for the live rate.
    pub rate: Mutex<RateSampler>,
}

impl LiveState {
    /// All interfaces together.
    pub fn total(&self) -> LiveSnapshot {
        let mut total = LiveSnapshot::default();
        for interface in &self.interfaces {
            total.add(&interface.snapshot());
        }
        total
    }

    /// The prefixes currently treated as local (configured plus detected).
    pub fn local_prefixes(&self) -> Vec<IpNet> {
        self.classifier.get().1.configured().to_vec()
    }
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
        let capacity = settings.remote_capacity;
        let interfaces = settings
            .interfaces
            .iter()
            .map(|name| InterfaceLive {
                name: name.clone(),
                shards: (0..workers)
                    .map(|_| SharedShard::new(LiveShard::new(settings.zone.clone(), capacity)))
                    .collect(),
                status: (0..workers)
                    .map(|_| {
                        Mutex::new(WorkerStatus {
                            state: CaptureState::Starting,
                            since: unix_now(),
                            kernel: KernelStats::default(),
                            ifindex: None,
                        })
                    })
                    .collect(),
                rate: Mutex::new(RateSampler::default()),
            })
            .collect();
        let live = Arc::new(LiveState {
            interfaces,
            classifier: SharedClassifier {
                generation: AtomicU64::new(0),
                current: Mutex::new(Arc::new(classifier_for(&settings))),
            },
            zone: settings.zone.clone(),
            rate: Mutex::new(RateSampler::default()),
        });
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
            live.classifier.replace(classifier_for(settings));
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

struct Worker {
    live: Arc<LiveState>,
    interface: usize,
    worker: usize,
    workers: usize,
    geometry: Geometry,
    stop: Arc<Shutdown>,
}

impl Worker {
    fn name(&self) -> &str {
        &self.live.interfaces[self.interface].name
    }

    fn set_state(&self, state: CaptureState, ifindex: Option<i32>) {
        let mut status = self.live.interfaces[self.interface].status[self.worker]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        status.ifindex = ifindex;
        if status.state != state {
            // Only the first worker speaks for the interface, so a state is logged once.
            if self.worker == 0 {
                match &state {
                    CaptureState::Failed(_) | CaptureState::Missing => {
                        warn!("interface {}: {state}", self.name());
                    }
                    _ => info!("interface {}: {state}", self.name()),
                }
            }
            status.state = state;
            status.since = unix_now();
        }
    }

    fn add_kernel_stats(&self, before: KernelStats, now: KernelStats) {
        let mut status = self.live.interfaces[self.interface].status[self.worker]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        status.kernel.packets += now.packets - before.packets;
        status.kernel.drops += now.drops - before.drops;
        status.kernel.freezes += now.freezes - before.freezes;
    }

    fn run(self) {
        let mut backoff = BACKOFF_FIRST;
        while !self.stop.is_requested() {
            let outcome = self.capture_once();
            match outcome {
                Ok(()) => backoff = BACKOFF_FIRST,
                Err(state) => {
                    self.set_state(state, None);
                    if !self.stop.sleep(backoff) {
                        break;
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        self.set_state(CaptureState::Stopped, None);
    }

    /// Open the interface and capture until it goes away or a stop is requested.
    /// `Ok` when capture ran (retry at once), `Err(state)` when it could not start.
    fn capture_once(&self) -> Result<(), CaptureState> {
        let name = self.name().to_string();
        let info = iface::lookup(&name).ok_or(CaptureState::Missing)?;
        let kind = link_kind(info.hardware_type).ok_or_else(|| {
            CaptureState::Failed(format!(
                "hardware type {} cannot be counted (Ethernet, PPP, raw-IP tunnels and loopback can)",
                info.hardware_type
            ))
        })?;
        let filter = bpf::program(kind.filter);
        let fanout_group = (self.workers > 1).then(|| fanout_group_id(info.index));
        let mut ring = Ring::open(&RingOptions {
            ifindex: info.index,
            geometry: self.geometry,
            filter: &filter,
            fanout_group,
        })
        .map_err(|error| match error {
            RingError::Os { error, .. } if error.raw_os_error() == Some(libc::ENODEV) => {
                CaptureState::Missing
            }
            other => CaptureState::Failed(other.to_string()),
        })?;
        if ring.geometry() != self.geometry && self.worker == 0 {
            warn!(
                "interface {name}: the kernel granted a smaller ring than asked: {} blocks of {} bytes",
                ring.geometry().block_count,
                ring.geometry().block_size
            );
        }
        self.set_state(CaptureState::of(&info), Some(info.index));

        let live = &self.live.interfaces[self.interface];
        let shard = &live.shards[self.worker];
        let (mut generation, classifier) = self.live.classifier.get();
        let mut counter = Counter::new(
            (*classifier).clone(),
            HourClock::new(self.live.zone.clone()),
        );
        let mut count_ready_blocks = |ring: &mut Ring| {
            while let Some(guard) = ring.next_block() {
                let Some(block) = guard.block() else { continue };
                if self.live.classifier.generation.load(Ordering::Acquire) != generation {
                    let (fresh_generation, fresh) = self.live.classifier.get();
                    counter.set_classifier((*fresh).clone());
                    generation = fresh_generation;
                }
                count_block(
                    &mut counter,
                    &mut shard.lock(),
                    &block,
                    kind.link,
                    info.index,
                );
            }
        };
        let mut kernel = KernelStats::default();
        let mut last_check = Instant::now();
        while !self.stop.is_requested() {
            if let Err(error) = ring.wait(POLL_TIMEOUT) {
                match iface::lookup(&name) {
                    // ENETDOWN when the interface was set down (or was down when bound): the
                    // socket stays bound and the kernel delivers again once it is up, so keep
                    // the ring; reopening it would only fail the same way, over and over.
                    Some(current) if current.index == info.index => {
                        self.set_state(CaptureState::of(&current), Some(info.index));
                        // Not a busy loop should the error ever repeat.
                        self.stop.sleep(POLL_TIMEOUT);
                    }
                    // Gone, or re-created under a new index: look again from the start.
                    _ => {
                        warn!("interface {name}: capture interrupted: {error}");
                        break;
                    }
                }
            }
            count_ready_blocks(&mut ring);
            if last_check.elapsed() >= CHECK_EVERY {
                last_check = Instant::now();
                if let Ok(now) = ring.stats() {
                    self.add_kernel_stats(kernel, now);
                    kernel = now;
                }
                match iface::lookup(&name) {
                    Some(current) if current.index == info.index => {
                        self.set_state(CaptureState::of(&current), Some(info.index));
                    }
                    // Deleted, or deleted and re-created under a new index: open it again.
                    _ => break,
                }
            }
        }
        // Before the ring closes (stop requested, interface down or gone), count the frames the
        // kernel already accepted: the block it is still filling is handed over by its retire
        // timer, which keeps running without the interface, within one retire timeout.
        let deadline = Instant::now() + ring.geometry().retire_timeout * 2 + DRAIN_SLACK;
        loop {
            count_ready_blocks(&mut ring);
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            if ring.wait(left.min(POLL_TIMEOUT)).is_err() {
                std::thread::sleep(left.min(Duration::from_millis(5)));
            }
        }
        if let Ok(now) = ring.stats() {
            self.add_kernel_stats(kernel, now);
        }
        Ok(())
    }
}

/// Count every frame of a ring block into a live shard, then flush the shard's pending cache so
/// readers see the block's remote addresses. The capture worker's whole per-block work, public
/// so the benchmarks measure exactly it.
pub fn count_block(
    counter: &mut Counter,
    tally: &mut LiveShard,
    block: &Block<'_>,
    link: crate::parse::LinkType,
    ifindex: i32,
) {
    for frame in block.frames() {
        count_ring_frame(counter, tally, &frame, link, ifindex);
    }
    tally.flush();
}

/// Count one frame from the ring into a live shard.
#[inline]
pub fn count_ring_frame(
    counter: &mut Counter,
    tally: &mut LiveShard,
    frame: &RingFrame<'_>,
    link: crate::parse::LinkType,
    ifindex: i32,
) {
    // The socket is bound to one interface before it sees any frame; this only guards the
    // contract against a kernel that would ever deliver another one.
    if frame.ifindex != ifindex {
        return;
    }
    tally.frame_seen(frame.wire_len);
    counter.count(
        &Frame {
            link,
            data: frame.data,
            meta: FrameMeta {
                wire_len: frame.wire_len,
                pkttype: u16::from(frame.pkttype),
                vlan_stripped: frame.vlan_stripped,
            },
            unix_second: frame.unix_second,
        },
        tally,
    );
}

/// A fanout group id unique to this process and interface.
fn fanout_group_id(ifindex: i32) -> u16 {
    (std::process::id() as u16) ^ (ifindex as u16).rotate_left(8)
}

/// Seconds since the Unix epoch by the system clock.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
