//! Parsed, classified packets → tallies. One code path for every source of frames.
//!
//! [`Counter::count`] takes a frame (bytes + link type + what the source knows about it) and adds
//! it to a [`Tally`]. The ring, a capture file, the benchmarks and the fuzzers all call it, so a
//! frame counts the same wherever it comes from. What a tally keeps is its own business: the
//! capture-file tally ([`FileTally`]) keeps every hour and every remote address exactly; the live
//! tallies keep atomics and a bounded heavy-hitter map.

mod by_service;
mod file_tally;
pub mod heavy;
pub mod live;
mod up_down;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use by_service::ByService;
pub use file_tally::FileTally;
pub use up_down::UpDown;

use crate::classify::{Address, AddressClassifier, Direction, Verdict};
use crate::clock::{HourClock, HourStart};
use crate::parse::{
    Addresses, FrameMeta, LinkType, ParsedPacket, Skip, TransportHeader, parse_frame_for_count,
};
use crate::service::{self, Service};

/// One frame as a source hands it over.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    pub link: LinkType,
    /// The captured bytes (possibly fewer than were on the wire).
    pub data: &'a [u8],
    pub meta: FrameMeta,
    /// Unix seconds (UTC).
    pub unix_second: i64,
}

/// Where counted packets go.
pub trait Tally {
    /// A public packet: `bytes` up or down in `hour`, exchanged between `local` (the device) and
    /// `remote`, of `service` ([`crate::service::classify`]).
    fn traffic(
        &mut self,
        hour: HourStart,
        direction: Direction,
        remote: IpAddr,
        local: IpAddr,
        bytes: u64,
        service: Service,
    );
    /// A packet between two non-public addresses.
    fn lan(&mut self, bytes: u64);
    /// An IP packet with a broken header.
    fn malformed(&mut self);
}

/// What happened to one frame; lets sources keep their own statistics without a second parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Traffic(Direction),
    Lan,
    Malformed,
    NotIp,
}

/// Parses, classifies and attributes frames to local hours.
#[derive(Clone, Debug)]
pub struct Counter {
    classifier: AddressClassifier,
    clock: HourClock,
}

impl Counter {
    pub fn new(classifier: AddressClassifier, clock: HourClock) -> Counter {
        Counter { classifier, clock }
    }

    pub fn classifier(&self) -> &AddressClassifier {
        &self.classifier
    }

    /// Replace the address rules (the interfaces' own prefixes change when the ISP renumbers).
    pub fn set_classifier(&mut self, classifier: AddressClassifier) {
        self.classifier = classifier;
    }

    pub fn clock(&self) -> &HourClock {
        &self.clock
    }

    /// Count one frame into `tally`.
    #[inline(always)]
    pub fn count<T: Tally>(&mut self, frame: &Frame<'_>, tally: &mut T) -> Outcome {
        let mut transport = TransportHeader::default();
        let packet =
            match parse_frame_for_count(frame.link, frame.data, &frame.meta, &mut transport) {
                Ok(packet) => packet,
                Err(Skip::NotIp) => return Outcome::NotIp,
                Err(Skip::Malformed) => {
                    tally.malformed();
                    return Outcome::Malformed;
                }
            };
        // One copy of the rest per address family: with the family known, classification and
        // the tally's keys test it nowhere, and IPv6's wider addresses take no registers from
        // the IPv4 copy (benches/pipeline `ring_mix`).
        match packet.addresses {
            Addresses::V4 { src, dst } => self.count_packet(
                frame,
                Ipv4Addr::from_bits(src),
                Ipv4Addr::from_bits(dst),
                &packet,
                &transport,
                tally,
            ),
            Addresses::V6 { src, dst } => self.count_packet(
                frame,
                Ipv6Addr::from_bits(src),
                Ipv6Addr::from_bits(dst),
                &packet,
                &transport,
                tally,
            ),
        }
    }

    /// Count one parsed packet from `src` to `dst` into `tally`.
    #[inline(always)]
    fn count_packet<A: Address, T: Tally>(
        &mut self,
        frame: &Frame<'_>,
        src: A,
        dst: A,
        packet: &ParsedPacket,
        transport: &TransportHeader<'_>,
        tally: &mut T,
    ) -> Outcome {
        let bytes = u64::from(packet.bytes);
        match self.classifier.verdict_of(src, dst, packet.outgoing) {
            Verdict::Lan => {
                tally.lan(bytes);
                Outcome::Lan
            }
            Verdict::Traffic {
                direction,
                remote,
                local,
            } => {
                let hour = self.clock.hour_of(frame.unix_second);
                tally.traffic(
                    hour,
                    direction,
                    remote.into(),
                    local.into(),
                    bytes,
                    service::of_header(transport, direction),
                );
                Outcome::Traffic(direction)
            }
        }
    }
}
