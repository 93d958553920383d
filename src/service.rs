//! A packet's transport facts → the service it belongs to (issue 14), from a small closed set.
//!
//! [`Service`] is a `u8` id into one fixed [`TABLE`]: a stable English name (a metric label and a
//! JSON key, never renamed), a human label, and the TCP and UDP ports that name it. The set is
//! closed so per-service counters are a fixed array and `/metrics` has a bounded label set.
//!
//! # The rule ([`classify`])
//!
//! 1. A fragment after the first has no transport header: `fragment`.
//! 2. ICMP and ICMPv6 → `icmp`, ESP → `esp`, GRE → `gre`; any other protocol except TCP and UDP
//!    (and an IPv6 extension-header chain cut short) → `other-ip`.
//! 3. TCP or UDP without captured ports (a snapped frame) → `other-tcp` / `other-udp`.
//! 4. The *service port* is chosen, then looked up in the protocol's column of the table; a port
//!    not in it gives `other-tcp` / `other-udp`:
//!    - TCP SYN without ACK (a connection opening): its destination port. SYN-ACK (the answer):
//!      its source port. A client's ephemeral port can never be mistaken for the service here.
//!    - Any other TCP segment, and every UDP datagram, take the *well-known side*: if exactly one
//!      port is in the table, that one; otherwise (both or neither) the lower port if it is below
//!      1024; otherwise the remote (internet) side's port. The remote side wins because most
//!      traffic of a home connection is the home's own outbound connections, whose local port is
//!      ephemeral (Linux picks 32768–60999, Windows 49152–65535) and so may collide with a high
//!      port of the table (41641, 51413, 51820), while the remote chose its port to serve on.
//!      Without a remote side (LAN traffic, `direction` `None`) the lower port is taken.
//!
//! The issue asks for "the destination port of the connection's first SYN when seen". That needs
//! a connection table (memory per connection, bounded under a flood); this module keeps no state,
//! so the documented rule is the stateless one above: a SYN or SYN-ACK names its service exactly,
//! every other segment by the well-known side. A mid-stream segment between two ephemeral ports
//! where one happens to be in the table is the rule's known error.
//!
//! # On the capture path
//!
//! Counting does not build [`Transport`] facts and classify them afterwards: the parse keeps the
//! transport header unread ([`TransportHeader`]), and for public traffic only, once its direction
//! is known, the same rule reads its bytes straight into a service ([`of_header`]). One 128 KiB
//! table holds the service every TCP and every UDP port names, so a packet costs two loads and a
//! few compares. The rules tests and the `frame` fuzz target check that [`of_header`] and
//! [`classify`] of the parsed facts agree for every frame.

use crate::classify::Direction;
use crate::parse::{TCP_ACK, TCP_SYN, Transport, TransportFacts, TransportHeader, protocol};

/// A service: an index into [`TABLE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Service {
    Https,
    Http,
    Quic,
    Dns,
    Ssh,
    Ntp,
    Stun,
    WireGuard,
    Tailscale,
    OpenVpn,
    BitTorrent,
    Plex,
    Jellyfin,
    SynologyDsm,
    Smb,
    Rsync,
    Smtp,
    Imap,
    OtherTcp,
    OtherUdp,
    Icmp,
    Esp,
    Gre,
    Fragment,
    OtherIp,
}

/// One row of [`TABLE`].
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub service: Service,
    /// Stable lowercase name: metric label value and JSON key.
    pub name: &'static str,
    /// What a person reads in the dashboard.
    pub label: &'static str,
    /// TCP port ranges (inclusive) that name this service.
    pub tcp: &'static [(u16, u16)],
    /// UDP port ranges (inclusive) that name this service.
    pub udp: &'static [(u16, u16)],
}

const BITTORRENT_PORTS: &[(u16, u16)] = &[(6881, 6889), (51413, 51413)];
const NONE: &[(u16, u16)] = &[];

/// Every service in id order (`TABLE[s as usize].service == s`).
pub const TABLE: [Entry; Service::COUNT] = [
    entry(Service::Https, "https", "HTTPS", &[(443, 443)], NONE),
    entry(
        Service::Http,
        "http",
        "HTTP",
        &[(80, 80), (8080, 8080)],
        NONE,
    ),
    entry(Service::Quic, "quic", "QUIC (HTTP/3)", NONE, &[(443, 443)]),
    entry(Service::Dns, "dns", "DNS", &[(53, 53)], &[(53, 53)]),
    entry(Service::Ssh, "ssh", "SSH", &[(22, 22)], NONE),
    entry(Service::Ntp, "ntp", "NTP (time)", NONE, &[(123, 123)]),
    entry(Service::Stun, "stun", "STUN", NONE, &[(3478, 3478)]),
    entry(
        Service::WireGuard,
        "wireguard",
        "WireGuard",
        NONE,
        &[(51820, 51820)],
    ),
    entry(
        Service::Tailscale,
        "tailscale",
        "Tailscale",
        NONE,
        &[(41641, 41641)],
    ),
    entry(
        Service::OpenVpn,
        "openvpn",
        "OpenVPN",
        &[(1194, 1194)],
        &[(1194, 1194)],
    ),
    entry(
        Service::BitTorrent,
        "bittorrent",
        "BitTorrent",
        BITTORRENT_PORTS,
        BITTORRENT_PORTS,
    ),
    entry(Service::Plex, "plex", "Plex", &[(32400, 32400)], NONE),
    entry(
        Service::Jellyfin,
        "jellyfin",
        "Jellyfin",
        &[(8096, 8096), (8920, 8920)],
        NONE,
    ),
    entry(
        Service::SynologyDsm,
        "synology-dsm",
        "Synology DSM",
        &[(5000, 5001)],
        NONE,
    ),
    entry(
        Service::Smb,
        "smb",
        "SMB (file sharing)",
        &[(139, 139), (445, 445)],
        NONE,
    ),
    entry(Service::Rsync, "rsync", "rsync", &[(873, 873)], NONE),
    entry(
        Service::Smtp,
        "smtp",
        "SMTP (mail)",
        &[(25, 25), (465, 465), (587, 587)],
        NONE,
    ),
    entry(
        Service::Imap,
        "imap",
        "IMAP (mail)",
        &[(143, 143), (993, 993)],
        NONE,
    ),
    entry(Service::OtherTcp, "other-tcp", "Other TCP", NONE, NONE),
    entry(Service::OtherUdp, "other-udp", "Other UDP", NONE, NONE),
    entry(Service::Icmp, "icmp", "ICMP (ping)", NONE, NONE),
    entry(Service::Esp, "esp", "IPsec ESP", NONE, NONE),
    entry(Service::Gre, "gre", "GRE tunnels", NONE, NONE),
    entry(
        Service::Fragment,
        "fragment",
        "IP fragments after the first",
        NONE,
        NONE,
    ),
    entry(Service::OtherIp, "other-ip", "Other IP", NONE, NONE),
];

const fn entry(
    service: Service,
    name: &'static str,
    label: &'static str,
    tcp: &'static [(u16, u16)],
    udp: &'static [(u16, u16)],
) -> Entry {
    Entry {
        service,
        name,
        label,
        tcp,
        udp,
    }
}

/// Ports below this are the IANA system ports a server binds; a client never picks one.
const SYSTEM_PORTS_END: u16 = 1024;

impl Service {
    /// How many services there are: the length of a per-service counter array.
    pub const COUNT: usize = Service::OtherIp as usize + 1;

    /// Every service in id order.
    pub const ALL: [Service; Service::COUNT] = {
        let mut all = [Service::OtherIp; Service::COUNT];
        let mut i = 0;
        while i < Service::COUNT {
            all[i] = TABLE[i].service;
            i += 1;
        }
        all
    };

    /// The id, an index into a per-service array.
    #[inline]
    pub fn index(self) -> usize {
        self as usize
    }

    /// The service with id `index`, if there is one.
    pub fn from_index(index: usize) -> Option<Service> {
        Service::ALL.get(index).copied()
    }

    /// The service with this stable name.
    pub fn from_name(name: &str) -> Option<Service> {
        TABLE.iter().find(|e| e.name == name).map(|e| e.service)
    }

    /// The stable name (metric label, JSON key).
    pub fn name(self) -> &'static str {
        TABLE[self.index()].name
    }

    /// The human label.
    pub fn label(self) -> &'static str {
        TABLE[self.index()].label
    }
}

/// The service of a packet by the module's rule; `direction` is the classifier's verdict
/// (`None` for LAN traffic), which tells which end is remote.
#[inline]
pub fn classify(transport: &Transport, direction: Option<Direction>) -> Service {
    service_of(transport, direction)
}

/// [`classify`] of a packet of public traffic straight from its transport header's bytes, as
/// counting does: no [`Transport`] facts are packed only to be unpacked again (the rules tests
/// and the `frame` fuzz target check the two agree for every frame).
#[inline(always)]
pub fn of_header(header: &TransportHeader<'_>, direction: Direction) -> Service {
    service_of(header, Some(direction))
}

/// The rule, for the facts in either form.
#[inline(always)]
fn service_of(facts: &impl TransportFacts, direction: Option<Direction>) -> Service {
    if facts.is_later_fragment() {
        return Service::Fragment;
    }
    let Some(column) = Column::of(facts.protocol()) else {
        return by_protocol(facts.protocol());
    };
    match facts.ports_of_tcp_or_udp() {
        Some((src, dst)) => {
            let flags = if column.udp { 0 } else { facts.flags_of_tcp() };
            by_ports(column, src, dst, flags, direction)
        }
        None => column.other(),
    }
}

/// The rule for TCP and UDP with captured ports; `flags` is TCP's flags byte, 0 when there is
/// none.
#[inline(always)]
fn by_ports(
    column: Column,
    src: u16,
    dst: u16,
    flags: u8,
    direction: Option<Direction>,
) -> Service {
    let other = column.other();
    let by_src = column.service(src);
    let by_dst = column.service(dst);
    match flags & (TCP_SYN | TCP_ACK) {
        // A connection opening names its destination, its answer its source.
        TCP_SYN => by_dst,
        flags if flags == TCP_SYN | TCP_ACK => by_src,
        // At most one side known: the known one (or none); both is rare and decided apart.
        _ if by_src == other => by_dst,
        _ if by_dst == other || by_src == by_dst => by_src,
        _ => both_known(column, src, dst, direction),
    }
}

/// The class of a protocol without ports. Out of line: inlined, its `match` and the caller's on
/// TCP and UDP became one jump table, an indirect jump on every packet.
#[inline(never)]
fn by_protocol(protocol: u8) -> Service {
    match protocol {
        protocol::ICMP | protocol::ICMPV6 => Service::Icmp,
        protocol::ESP => Service::Esp,
        protocol::GRE => Service::Gre,
        _ => Service::OtherIp,
    }
}

/// Both ports name a service and no SYN decides: the lower if it is a system port, else the
/// remote side's (the destination of an upload, the source of a download; the lower without a
/// remote side).
#[cold]
#[inline(never)]
fn both_known(column: Column, src: u16, dst: u16, direction: Option<Direction>) -> Service {
    column.service(tie_break(src, dst, direction))
}

/// The port the rule takes when both or neither name a service: the lower if it is a system
/// port, else the remote side's (the lower without a remote side).
#[inline]
fn tie_break(src: u16, dst: u16, direction: Option<Direction>) -> u16 {
    let lower = src.min(dst);
    if lower < SYSTEM_PORTS_END {
        return lower;
    }
    match direction {
        Some(Direction::Up) => dst,
        Some(Direction::Down) => src,
        None => lower,
    }
}

/// The port the rule takes as the service's side, for TCP and UDP with captured ports: what
/// [`classify`] looks up, spelled out (tests and the fuzz target check the two agree).
pub fn service_port(transport: &Transport, direction: Option<Direction>) -> Option<u16> {
    if transport.is_later_fragment() {
        return None;
    }
    let (src, dst) = transport.ports()?;
    let tcp = match transport.protocol() {
        protocol::TCP => true,
        protocol::UDP => false,
        _ => return None,
    };
    if tcp {
        match transport.tcp_flags().map(|f| f & (TCP_SYN | TCP_ACK)) {
            Some(TCP_SYN) => return Some(dst),
            Some(flags) if flags == TCP_SYN | TCP_ACK => return Some(src),
            _ => {}
        }
    }
    let lookup = if tcp { tcp_port } else { udp_port };
    Some(match (lookup(src).is_some(), lookup(dst).is_some()) {
        (true, false) => src,
        (false, true) => dst,
        _ => tie_break(src, dst, direction),
    })
}

/// The TCP or the UDP column of [`TABLE`]: where its ports start in [`PORTS`].
#[derive(Clone, Copy, PartialEq, Eq)]
struct Column {
    udp: bool,
}

impl Column {
    const TCP: Column = Column { udp: false };
    const UDP: Column = Column { udp: true };

    /// The column of a protocol with ports.
    #[inline(always)]
    fn of(protocol: u8) -> Option<Column> {
        let udp = protocol == protocol::UDP;
        (udp || protocol == protocol::TCP).then_some(Column { udp })
    }

    /// The service `port` names in this column (`other-tcp` / `other-udp` for none).
    #[inline(always)]
    fn service(self, port: u16) -> Service {
        PORTS[usize::from(self.udp) << 16 | usize::from(port)]
    }

    /// What a port that names no service gives.
    #[inline(always)]
    fn other(self) -> Service {
        if self.udp {
            Service::OtherUdp
        } else {
            Service::OtherTcp
        }
    }
}

/// The service every TCP port names, then every UDP port; `other-tcp` / `other-udp` where none.
type PortServices = [Service; 2 << 16];

const fn port_services() -> PortServices {
    let mut services = [Service::OtherTcp; 2 << 16];
    let mut port = 1 << 16;
    while port < services.len() {
        services[port] = Service::OtherUdp;
        port += 1;
    }
    let mut entry = 0;
    while entry < TABLE.len() {
        let mut column = 0;
        while column < 2 {
            let ranges = if column == 0 {
                TABLE[entry].tcp
            } else {
                TABLE[entry].udp
            };
            let mut range = 0;
            while range < ranges.len() {
                let mut port = ranges[range].0 as usize;
                while port <= ranges[range].1 as usize {
                    services[column << 16 | port] = TABLE[entry].service;
                    port += 1;
                }
                range += 1;
            }
            column += 1;
        }
        entry += 1;
    }
    services
}

// 128 KiB: one load per port and no compares, where a bitset and a `match` of the known ports
// cost a chain of data-dependent branches, and no branch on the column (benches/pipeline
// `ring_mix`, callgrind). A busy port keeps its cache line; a stream of random ports reads from
// the L2 cache.
static PORTS: PortServices = port_services();

/// The service a TCP port names in [`TABLE`], if any.
#[inline]
pub fn tcp_port(port: u16) -> Option<Service> {
    Some(Column::TCP.service(port)).filter(|&s| s != Service::OtherTcp)
}

/// The service a UDP port names in [`TABLE`], if any.
#[inline]
pub fn udp_port(port: u16) -> Option<Service> {
    Some(Column::UDP.service(port)).filter(|&s| s != Service::OtherUdp)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPHEMERAL: u16 = 50_000;

    fn tcp(src: u16, dst: u16, flags: u8) -> Transport {
        Transport::new(protocol::TCP, false, Some((src, dst)), Some(flags))
    }

    fn udp(src: u16, dst: u16) -> Transport {
        Transport::new(protocol::UDP, false, Some((src, dst)), None)
    }

    fn in_ranges(ranges: &[(u16, u16)], port: u16) -> bool {
        ranges
            .iter()
            .any(|&(low, high)| (low..=high).contains(&port))
    }

    #[test]
    fn table_is_in_id_order_with_unique_lowercase_names() {
        for (i, entry) in TABLE.iter().enumerate() {
            assert_eq!(entry.service.index(), i, "{}", entry.name);
            assert_eq!(Service::from_index(i), Some(entry.service));
            assert_eq!(Service::from_name(entry.name), Some(entry.service));
            assert!(
                entry
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '-'),
                "{}",
                entry.name
            );
            assert!(!entry.label.is_empty());
        }
        assert_eq!(Service::from_index(Service::COUNT), None);
        assert_eq!(Service::from_name("HTTPS"), None);
        assert!(Service::COUNT <= usize::from(u8::MAX));
    }

    #[test]
    fn the_port_matches_equal_the_table_at_every_port() {
        for port in 0..=u16::MAX {
            let tcp_rows: Vec<Service> = TABLE
                .iter()
                .filter(|e| in_ranges(e.tcp, port))
                .map(|e| e.service)
                .collect();
            let udp_rows: Vec<Service> = TABLE
                .iter()
                .filter(|e| in_ranges(e.udp, port))
                .map(|e| e.service)
                .collect();
            assert!(tcp_rows.len() <= 1 && udp_rows.len() <= 1, "port {port}");
            assert_eq!(tcp_port(port), tcp_rows.first().copied(), "TCP {port}");
            assert_eq!(udp_port(port), udp_rows.first().copied(), "UDP {port}");
        }
    }

    #[test]
    fn every_named_port_names_its_service_in_both_directions() {
        let directions = [Some(Direction::Up), Some(Direction::Down), None];
        for entry in &TABLE {
            for &(low, high) in entry.tcp {
                for port in [low, high] {
                    for direction in directions {
                        for flags in [0x18, TCP_ACK, 0] {
                            assert_eq!(
                                classify(&tcp(EPHEMERAL, port, flags), direction),
                                entry.service
                            );
                            assert_eq!(
                                classify(&tcp(port, EPHEMERAL, flags), direction),
                                entry.service
                            );
                        }
                        // A connection opened to the port, and its answer.
                        assert_eq!(
                            classify(&tcp(EPHEMERAL, port, TCP_SYN), direction),
                            entry.service
                        );
                        assert_eq!(
                            classify(&tcp(port, EPHEMERAL, TCP_SYN | TCP_ACK), direction),
                            entry.service
                        );
                    }
                }
            }
            for &(low, high) in entry.udp {
                for port in [low, high] {
                    for direction in directions {
                        assert_eq!(classify(&udp(EPHEMERAL, port), direction), entry.service);
                        assert_eq!(classify(&udp(port, EPHEMERAL), direction), entry.service);
                    }
                }
            }
        }
    }

    #[test]
    fn a_syn_names_its_destination_and_a_syn_ack_its_source() {
        // A SYN from a known port to an unknown one is a connection to the unknown one.
        assert_eq!(
            classify(&tcp(443, 40_000, TCP_SYN), None),
            Service::OtherTcp
        );
        assert_eq!(classify(&tcp(40_000, 22, TCP_SYN), None), Service::Ssh);
        assert_eq!(
            classify(&tcp(40_000, 443, TCP_SYN | TCP_ACK), None),
            Service::OtherTcp
        );
        assert_eq!(
            classify(&tcp(22, 40_000, TCP_SYN | TCP_ACK), None),
            Service::Ssh
        );
        // Both known: the SYN decides where the well-known-side rule would take the lower port.
        assert_eq!(classify(&tcp(22, 8096, TCP_SYN), None), Service::Jellyfin);
        assert_eq!(classify(&tcp(22, 8096, TCP_ACK), None), Service::Ssh);
        // Other flags around SYN/ACK do not matter (ECE, CWR, PSH).
        assert_eq!(classify(&tcp(1, 873, TCP_SYN | 0xc0), None), Service::Rsync);
        assert_eq!(service_port(&tcp(1, 873, TCP_SYN | 0xc0), None), Some(873));
    }

    #[test]
    fn mid_stream_takes_the_well_known_side() {
        // Both known, one a system port: the system port.
        assert_eq!(classify(&tcp(873, 6881, TCP_ACK), None), Service::Rsync);
        assert_eq!(classify(&tcp(6881, 443, TCP_ACK), None), Service::Https);
        assert_eq!(classify(&udp(53, 51820), None), Service::Dns);
        // Both known and high: the remote side's, the lower one without a remote.
        let both_high = tcp(32400, 8096, TCP_ACK);
        assert_eq!(classify(&both_high, Some(Direction::Up)), Service::Jellyfin);
        assert_eq!(classify(&both_high, Some(Direction::Down)), Service::Plex);
        assert_eq!(classify(&both_high, None), Service::Jellyfin);
        assert_eq!(
            classify(&udp(41641, 51820), Some(Direction::Up)),
            Service::WireGuard
        );
        assert_eq!(
            classify(&udp(41641, 51820), Some(Direction::Down)),
            Service::Tailscale
        );
        // Neither known: other, whichever port the rule picks.
        assert_eq!(classify(&tcp(40_000, 50_000, 0), None), Service::OtherTcp);
        assert_eq!(classify(&udp(40_000, 111), None), Service::OtherUdp);
        assert_eq!(service_port(&udp(40_000, 111), None), Some(111));
        assert_eq!(
            service_port(&udp(40_000, 50_000), Some(Direction::Up)),
            Some(50_000)
        );
        assert_eq!(
            service_port(&udp(40_000, 50_000), Some(Direction::Down)),
            Some(40_000)
        );
        // The same port means different services over TCP and UDP.
        assert_eq!(classify(&tcp(443, 50_000, TCP_ACK), None), Service::Https);
        assert_eq!(classify(&udp(443, 50_000), None), Service::Quic);
        assert_eq!(classify(&udp(22, 50_000), None), Service::OtherUdp);
        assert_eq!(classify(&tcp(123, 50_000, 0), None), Service::OtherTcp);
    }

    #[test]
    fn tcp_without_flags_captured_takes_the_well_known_side() {
        let no_flags = Transport::new(protocol::TCP, false, Some((443, 40_000)), None);
        assert_eq!(classify(&no_flags, None), Service::Https);
    }

    #[test]
    fn fragments_protocols_and_missing_ports_have_their_own_classes() {
        let later = |p| Transport::new(p, true, None, None);
        for p in [protocol::TCP, protocol::UDP, protocol::ICMP, 200] {
            assert_eq!(classify(&later(p), None), Service::Fragment);
            assert_eq!(service_port(&later(p), None), None);
        }
        let bare = |p| Transport::new(p, false, None, None);
        assert_eq!(classify(&bare(protocol::TCP), None), Service::OtherTcp);
        assert_eq!(classify(&bare(protocol::UDP), None), Service::OtherUdp);
        assert_eq!(classify(&bare(protocol::ICMP), None), Service::Icmp);
        assert_eq!(classify(&bare(protocol::ICMPV6), None), Service::Icmp);
        assert_eq!(classify(&bare(protocol::ESP), None), Service::Esp);
        assert_eq!(classify(&bare(protocol::GRE), None), Service::Gre);
        for p in [0, 2, 41, 43, 44, 51, 60, 89, 132, 136, 255] {
            assert_eq!(classify(&bare(p), None), Service::OtherIp, "protocol {p}");
        }
        // Ports on a protocol that has none are ignored.
        let odd = Transport::new(protocol::ICMP, false, Some((443, 443)), None);
        assert_eq!(classify(&odd, None), Service::Icmp);
        assert_eq!(service_port(&odd, None), None);
    }
}
