//! The capture worker loop: one thread per interface and worker drains its ring into its own shard.
//!
//! Threads are named `capture-IFACE` (`capture-IFACE-N` for extra fanout workers). Each keeps its
//! interface captured through its whole life: missing or failing interfaces are retried with
//! backoff (1 s doubling to 30 s), an interface that vanishes and returns (a PPPoE redial gives
//! `ppp0` a new index) is opened again, and each state change is logged once and kept for health
//! reports. The address rules can change under running workers (the interfaces' own prefixes
//! follow the ISP): workers pick up a new classifier between blocks, never per packet.

use std::sync::Arc;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use log::{info, warn};

use super::block::{Block, RingFrame};
use super::bpf;
use super::iface::{self, link_kind};
use super::ring::{Geometry, Ring, RingError, RingOptions};
use crate::clock::{HourClock, unix_now};
use crate::count::live::LiveShard;
use crate::count::{Counter, Frame};
use crate::live::{CaptureState, KernelStats, LiveState};
use crate::parse::{FrameMeta, LinkType};
use crate::shutdown::Shutdown;

/// How often a worker reads kernel statistics and checks that its interface is still the same.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Longest wait in poll, so a stop request is noticed promptly.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);
/// Extra wait for the last block beyond two retire timeouts, for timer slack.
const DRAIN_SLACK: Duration = Duration::from_millis(20);
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Capturing or down, by the interface's IFF_UP flag.
fn state_of(interface: &iface::InterfaceInfo) -> CaptureState {
    if interface.up {
        CaptureState::Capturing
    } else {
        CaptureState::Down
    }
}

pub(super) struct Worker {
    pub(super) live: Arc<LiveState>,
    pub(super) interface: usize,
    pub(super) worker: usize,
    pub(super) workers: usize,
    pub(super) geometry: Geometry,
    pub(super) stop: Arc<Shutdown>,
}

impl Worker {
    fn name(&self) -> &str {
        &self.live.interfaces[self.interface].name
    }

    fn set_state(&self, state: CaptureState, ifindex: Option<i32>) {
        let mut status = self.live.interfaces[self.interface]
            .worker_status(self.worker)
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
        let mut status = self.live.interfaces[self.interface]
            .worker_status(self.worker)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        status.kernel.packets += now.packets - before.packets;
        status.kernel.drops += now.drops - before.drops;
        status.kernel.freezes += now.freezes - before.freezes;
    }

    pub(super) fn run(self) {
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
        self.set_state(state_of(&info), Some(info.index));

        let live = &self.live.interfaces[self.interface];
        let shard = live.shard(self.worker);
        let (mut generation, classifier) = self.live.classifier().get();
        let mut counter = Counter::new(
            (*classifier).clone(),
            HourClock::new(self.live.zone.clone()),
        );
        let mut count_ready_blocks = |ring: &mut Ring| {
            while let Some(guard) = ring.next_block() {
                let Some(block) = guard.block() else { continue };
                if self.live.classifier().generation() != generation {
                    let (fresh_generation, fresh) = self.live.classifier().get();
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
                        self.set_state(state_of(&current), Some(info.index));
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
                        self.set_state(state_of(&current), Some(info.index));
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

/// Count every frame of a ring block into a live shard: the capture worker's whole per-block
/// work, public so the benchmarks measure exactly it. The shard's pending cache is not flushed
/// here but by readers when they take a snapshot ([`crate::live::InterfaceLive::snapshot`]): by
/// the end of a block a megabyte of ring has pushed the address tables out of the CPU's caches,
/// so a flush per block cost ~2 ns a frame at the maximum rate.
pub fn count_block(
    counter: &mut Counter,
    tally: &mut LiveShard,
    block: &Block<'_>,
    link: LinkType,
    ifindex: i32,
) {
    // Every frame of a ring has the interface's link type. With the common one a constant, the
    // parser's dispatch on it leaves the loop (5 instructions a frame, benches/pipeline
    // `ring_mix`); other link types share one loop.
    match link {
        LinkType::Ethernet => count_frames(counter, tally, block, LinkType::Ethernet, ifindex),
        other => count_frames(counter, tally, block, other, ifindex),
    }
}

#[inline(always)]
fn count_frames(
    counter: &mut Counter,
    tally: &mut LiveShard,
    block: &Block<'_>,
    link: LinkType,
    ifindex: i32,
) {
    for frame in block.frames() {
        count_ring_frame(counter, tally, &frame, link, ifindex);
    }
}

/// Count one frame from the ring into a live shard.
#[inline]
pub fn count_ring_frame(
    counter: &mut Counter,
    tally: &mut LiveShard,
    frame: &RingFrame<'_>,
    link: LinkType,
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
