//! The live state: what capture writes and everyone else (the persister, the API, `run`'s
//! summaries) reads. Plain data and locks, no I/O: the capture workers that fill it live in
//! [`crate::capture`], which this module knows nothing about.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use ipnet::IpNet;

use crate::classify::AddressClassifier;
use crate::clock::Zone;
use crate::count::live::{Counters, LiveShard, LiveSnapshot, RateSampler, SharedShard};

/// Totals from `PACKET_STATISTICS` since the socket was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Frames that passed the filter, including dropped ones (the kernel's `tp_packets`).
    pub packets: u64,
    /// Frames lost because the ring was full.
    pub drops: u64,
    /// Times the queue was frozen because every block was in user space.
    pub freezes: u64,
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
    /// Worker `worker`'s shard, which only that worker counts into.
    pub fn shard(&self, worker: usize) -> &SharedShard {
        &self.shards[worker]
    }

    /// Worker `worker`'s state, which only that worker writes.
    pub fn worker_status(&self, worker: usize) -> &Mutex<WorkerStatus> {
        &self.status[worker]
    }

    /// The counts of all this interface's workers added together.
    pub fn snapshot(&self) -> LiveSnapshot {
        self.flushed_snapshot(LiveSnapshot::add_shard)
    }

    /// [`InterfaceLive::snapshot`] without the remote addresses and pairs: counters, hours,
    /// services and devices.
    pub fn devices_snapshot(&self) -> LiveSnapshot {
        self.flushed_snapshot(LiveSnapshot::add_shard_devices)
    }

    fn flushed_snapshot(&self, add: impl Fn(&mut LiveSnapshot, &LiveShard)) -> LiveSnapshot {
        let mut snapshot = LiveSnapshot::default();
        for shard in &self.shards {
            let mut shard = shard.lock();
            // The capture worker never flushes its pending cache (that cost it ~2 ns a frame at
            // the maximum rate); a reader does, so the snapshot's tables keep their capacity
            // (DEVICES_PER_DAY, twice TOP_IPS_PER_DAY) instead of showing up to the cache's 64
            // pairs more. Tens of microseconds under the lock, once per read.
            shard.flush();
            add(&mut snapshot, &shard);
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
            counters += shard.lock().counters();
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
pub struct SharedClassifier {
    generation: AtomicU64,
    current: Mutex<Arc<AddressClassifier>>,
}

impl SharedClassifier {
    /// The current rules and their generation.
    pub fn get(&self) -> (u64, Arc<AddressClassifier>) {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        (
            self.generation.load(Ordering::Acquire),
            Arc::clone(&current),
        )
    }

    /// The generation of the current rules: it changes each time they are replaced. Read by every
    /// worker once per ring block, so as cheap as the field load it replaces.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn replace(&self, classifier: AddressClassifier) {
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

/// Addresses kept per day and worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity {
    /// Remote addresses.
    pub remotes: usize,
    /// Local addresses (devices).
    pub devices: usize,
}

impl LiveState {
    /// The state of `names` (in order) before capture starts: every worker `Starting` since `now`,
    /// no counts, and `classifier`'s rules.
    pub fn new(
        names: &[String],
        workers: usize,
        zone: &Zone,
        capacity: Capacity,
        classifier: AddressClassifier,
        now: i64,
    ) -> LiveState {
        let interfaces = names
            .iter()
            .map(|name| InterfaceLive {
                name: name.clone(),
                shards: (0..workers)
                    .map(|_| {
                        SharedShard::new(LiveShard::new(
                            zone.clone(),
                            capacity.remotes,
                            capacity.devices,
                        ))
                    })
                    .collect(),
                status: (0..workers)
                    .map(|_| {
                        Mutex::new(WorkerStatus {
                            state: CaptureState::Starting,
                            since: now,
                            kernel: KernelStats::default(),
                            ifindex: None,
                        })
                    })
                    .collect(),
                rate: Mutex::new(RateSampler::default()),
            })
            .collect();
        LiveState {
            interfaces,
            classifier: SharedClassifier {
                generation: AtomicU64::new(0),
                current: Mutex::new(Arc::new(classifier)),
            },
            zone: zone.clone(),
            rate: Mutex::new(RateSampler::default()),
        }
    }

    /// The address rules the workers count with.
    pub fn classifier(&self) -> &SharedClassifier {
        &self.classifier
    }

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
