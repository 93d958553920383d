//! An exact, single-threaded tally: every hour and every remote address, for `report` and `import`.

use std::collections::HashMap;
use std::net::IpAddr;

use foldhash::fast::RandomState;

use super::{ByService, Tally, UpDown};
use crate::classify::Direction;
use crate::clock::HourStart;
use crate::service::Service;

/// Totals of one capture (or any bounded batch of frames), kept exactly.
#[derive(Clone, Debug, Default)]
pub struct FileTally {
    /// Every packet record read, of any kind; maintained by the source.
    pub packets_total: u64,
    pub packets_counted: u64,
    pub malformed: u64,
    pub lan_bytes: u64,
    pub total: UpDown,
    hours: HashMap<HourStart, UpDown, RandomState>,
    remotes: HashMap<IpAddr, UpDown, RandomState>,
    /// Bytes per local address (device).
    devices: HashMap<IpAddr, UpDown, RandomState>,
    /// Bytes per service.
    services: ByService,
    /// Packets arrive in time order, so the current hour is kept aside and folded in on change.
    current_hour: Option<(HourStart, UpDown)>,
}

impl FileTally {
    pub fn new() -> FileTally {
        FileTally::default()
    }

    /// Bytes per hour start.
    pub fn hours(&self) -> HashMap<HourStart, UpDown> {
        let mut hours: HashMap<HourStart, UpDown> =
            self.hours.iter().map(|(h, v)| (*h, *v)).collect();
        if let Some((hour, bytes)) = self.current_hour {
            *hours.entry(hour).or_default() += bytes;
        }
        hours
    }

    /// Bytes per remote address.
    pub fn remotes(&self) -> impl Iterator<Item = (&IpAddr, &UpDown)> {
        self.remotes.iter()
    }

    /// Bytes per local address (device).
    pub fn devices(&self) -> impl Iterator<Item = (&IpAddr, &UpDown)> {
        self.devices.iter()
    }

    /// Bytes per service.
    pub fn services(&self) -> &ByService {
        &self.services
    }

    pub fn remote_count(&self) -> usize {
        self.remotes.len()
    }
}

impl Tally for FileTally {
    #[inline]
    fn traffic(
        &mut self,
        hour: HourStart,
        direction: Direction,
        remote: IpAddr,
        local: IpAddr,
        bytes: u64,
        service: Service,
    ) {
        self.packets_counted += 1;
        self.services.add(service, direction, bytes);
        self.total.add(direction, bytes);
        match &mut self.current_hour {
            Some((current, acc)) if *current == hour => acc.add(direction, bytes),
            slot => {
                if let Some((previous, acc)) = slot.take() {
                    *self.hours.entry(previous).or_default() += acc;
                }
                let mut acc = UpDown::default();
                acc.add(direction, bytes);
                *slot = Some((hour, acc));
            }
        }
        self.remotes
            .entry(remote)
            .or_default()
            .add(direction, bytes);
        self.devices.entry(local).or_default().add(direction, bytes);
    }

    #[inline]
    fn lan(&mut self, bytes: u64) {
        self.lan_bytes += bytes;
    }

    #[inline]
    fn malformed(&mut self) {
        self.malformed += 1;
    }
}
