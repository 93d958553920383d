//! What the API reads from running capture: counts not yet committed, per-interface state and
//! counters, and the one-second rate samples. [`LiveSource`] is implemented by the capture
//! [live state](crate::live::LiveState); tests give the API fixed values through it.

use std::sync::PoisonError;

use ipnet::IpNet;

use crate::count::live::{Counters, RateSample};
use crate::live::KernelStats;
use crate::live::{CaptureState, InterfaceLive, LiveState};
use crate::store::LiveView;

/// One monitored interface as health and metrics report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceReport {
    pub name: String,
    /// `Capturing` when any of its workers reads frames, else the first worker's state.
    pub state: CaptureState,
    /// Unix second of that worker's last state change.
    pub since: i64,
    pub counters: Counters,
    pub kernel: KernelStats,
}

/// The live half of every answer.
pub trait LiveSource: Send + Sync + 'static {
    /// Each interface's counters and hours, without remote addresses: all that totals and series
    /// need, cheap enough for every request.
    fn counts(&self) -> LiveView;
    /// Each interface's counts including the remote addresses (for top addresses).
    fn everything(&self) -> LiveView;
    /// Each interface's counts and devices, without the remote addresses and pairs (one
    /// device's bytes by day); a source without a cheaper copy gives everything.
    fn devices(&self) -> LiveView {
        self.everything()
    }
    /// State, counters and kernel statistics of every interface, in configuration order.
    fn interfaces(&self) -> Vec<InterfaceReport>;
    /// The kept one-second samples of one interface, or of all of them together (`None`),
    /// oldest first.
    fn rate(&self, interface: Option<&str>) -> Vec<RateSample>;
    /// The prefixes capture counts as local now: the configured ones, then those found on the
    /// interfaces. None for a source that classifies nothing.
    fn local_prefixes(&self) -> Vec<IpNet> {
        Vec::new()
    }
}

impl LiveSource for LiveState {
    fn counts(&self) -> LiveView {
        LiveView::of_interfaces(self, InterfaceLive::counts)
    }

    fn everything(&self) -> LiveView {
        LiveView::from_state(self)
    }

    fn devices(&self) -> LiveView {
        LiveView::of_interfaces(self, InterfaceLive::devices_snapshot)
    }

    fn interfaces(&self) -> Vec<InterfaceReport> {
        self.interfaces
            .iter()
            .map(|interface| {
                let workers = interface.status();
                let mut kernel = KernelStats::default();
                for worker in &workers {
                    kernel.packets += worker.kernel.packets;
                    kernel.drops += worker.kernel.drops;
                    kernel.freezes += worker.kernel.freezes;
                }
                let speaker = workers
                    .iter()
                    .find(|worker| worker.state == CaptureState::Capturing)
                    .or_else(|| workers.first());
                InterfaceReport {
                    name: interface.name.clone(),
                    state: speaker.map_or(CaptureState::Starting, |w| w.state.clone()),
                    since: speaker.map_or(0, |w| w.since),
                    counters: interface.counters(),
                    kernel,
                }
            })
            .collect()
    }

    fn rate(&self, interface: Option<&str>) -> Vec<RateSample> {
        let sampler = match interface {
            None => &self.rate,
            Some(name) => match self.interfaces.iter().find(|i| i.name == name) {
                Some(interface) => &interface.rate,
                None => return Vec::new(),
            },
        };
        sampler
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .samples()
            .copied()
            .collect()
    }

    fn local_prefixes(&self) -> Vec<IpNet> {
        LiveState::local_prefixes(self)
    }
}
