//! Frame bytes + link type → the facts counting needs (addresses, IP-layer bytes, direction hint)
//! and the transport facts service classification needs ([`Transport`]: protocol, fragment, ports,
//! TCP flags).
//!
//! Every rule here is SPEC §2 and `pcaps/README.md` sections 2–4. The parser never panics and never
//! allocates: every byte it reads is behind a length check, and the kernel, a capture file or a
//! fuzzer may hand it anything.
//!
//! etherparse supplies the Ethernet II, VLAN and IPv6 header views, whose checks are exactly the
//! rules' (length, and for IPv6 the version nibble). Three headers are read here instead, because
//! etherparse's checks differ from the rules: its IPv4 view wants the whole options area captured
//! (the rules need only the 20 fixed bytes, so a snapped header still counts), its SLL view rejects
//! unknown packet and hardware types (the rules ignore the hardware type), and it has no SLL2 or
//! PPPoE session view with protocol-field compression.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{Ethernet2HeaderSlice, Ipv6HeaderSlice, SingleVlanHeaderSlice};

/// `sll_pkttype` / SLL packet type of a frame this host sent (linux/if_packet.h).
pub const PACKET_OUTGOING: u16 = 4;

/// The link layers the counter understands; the entry point of the parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// Ethernet II, with up to two VLAN tags and PPPoE sessions.
    Ethernet,
    /// Linux cooked capture v1 (DLT 113).
    LinuxSll,
    /// Linux cooked capture v2 (DLT 276).
    LinuxSll2,
    /// IP with no link header; the version nibble decides (DLT 101, 12, 14; `ppp0`, `wg0`, `tun0`).
    RawIp,
    /// IPv4 with no link header (DLT 228).
    RawIpv4,
    /// IPv6 with no link header (DLT 229).
    RawIpv6,
    /// BSD loopback / null: a 4-byte address family in either byte order (DLT 0, 108).
    Null,
}

impl LinkType {
    /// Map a pcap/pcapng link-type number to a supported link layer.
    pub fn from_dlt(dlt: u32) -> Option<LinkType> {
        Some(match dlt {
            1 => LinkType::Ethernet,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            101 | 12 | 14 => LinkType::RawIp,
            228 => LinkType::RawIpv4,
            229 => LinkType::RawIpv6,
            0 | 108 => LinkType::Null,
            _ => return None,
        })
    }
}

/// What the source knows about a frame besides its bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameMeta {
    /// Length of the frame on the wire (`tp_len`, pcap `orig_len`), never the captured length.
    pub wire_len: u32,
    /// Linux packet type from the source (`sll_pkttype`); 0 when unknown. SLL/SLL2 headers override it.
    pub pkttype: u16,
    /// The kernel removed one VLAN tag into the ring header (`TP_STATUS_VLAN_VALID`).
    pub vlan_stripped: bool,
}

/// One IP packet as counting sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IP-layer bytes by rule R4.3.
    pub bytes: u32,
    /// The frame was sent by this host (`PACKET_OUTGOING`).
    pub outgoing: bool,
}

/// One IP packet with its addresses typed by family, as counting reads it
/// ([`parse_frame_for_count`]); a [`Packet`] holds the same addresses as `IpAddr`s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedPacket {
    pub addresses: Addresses,
    /// IP-layer bytes by rule R4.3.
    pub bytes: u32,
    /// The frame was sent by this host (`PACKET_OUTGOING`).
    pub outgoing: bool,
}

/// A packet's source and destination, as the integers of their family (`Ipv4Addr::to_bits`,
/// `Ipv6Addr::to_bits`). Counting goes on with the family known and the addresses in registers:
/// an `IpAddr` keeps an IPv6 address in 16 bytes at offset 1, and the compiler moved it through
/// memory in pieces to read it back as integers (benches/pipeline `ring_mix`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addresses {
    V4 { src: u32, dst: u32 },
    V6 { src: u128, dst: u128 },
}

impl From<ParsedPacket> for Packet {
    #[inline(always)]
    fn from(parsed: ParsedPacket) -> Packet {
        let (src, dst) = match parsed.addresses {
            Addresses::V4 { src, dst } => (
                IpAddr::V4(Ipv4Addr::from_bits(src)),
                IpAddr::V4(Ipv4Addr::from_bits(dst)),
            ),
            Addresses::V6 { src, dst } => (
                IpAddr::V6(Ipv6Addr::from_bits(src)),
                IpAddr::V6(Ipv6Addr::from_bits(dst)),
            ),
        };
        Packet {
            src,
            dst,
            bytes: parsed.bytes,
            outgoing: parsed.outgoing,
        }
    }
}

/// IP protocol numbers the parser and service classification name (IANA "Protocol Numbers").
pub mod protocol {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const GRE: u8 = 47;
    pub const ESP: u8 = 50;
    pub const ICMPV6: u8 = 58;
    /// IPv6 extension headers the parser walks past (RFC 8200 §4).
    pub const IPV6_HOP_BY_HOP: u8 = 0;
    pub const IPV6_ROUTING: u8 = 43;
    pub const IPV6_FRAGMENT: u8 = 44;
    pub const IPV6_DESTINATION_OPTIONS: u8 = 60;
}

/// TCP header flag bits (RFC 9293 §3.1).
pub const TCP_SYN: u8 = 0x02;
pub const TCP_ACK: u8 = 0x10;

/// The transport facts of an IP packet: its protocol, whether it is a fragment after the first,
/// and for TCP and UDP the ports (and TCP's flags byte) when they were captured.
///
/// Eight bytes, `Copy`; built by [`parse_frame_with_transport`] from the bytes the IP header's
/// parse already has in cache. Ports are
/// read only from a first fragment or an unfragmented packet, only inside both the captured bytes
/// and the length the IP header claims (so Ethernet padding is never taken for a port), and are
/// `None` when the ring or file snapped them off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Transport(u64);

// The facts packed into one integer, built and read with shifts: as separate fields they were
// written byte by byte and read back with a wider load, stalling on store forwarding (the same
// trap as `Packet`'s; benches/pipeline `service_rule_mix`).
const SRC_PORT_SHIFT: u32 = 0;
const DST_PORT_SHIFT: u32 = 16;
const PROTOCOL_SHIFT: u32 = 32;
const FLAGS_SHIFT: u32 = 40;
const KNOWN_SHIFT: u32 = 48;

/// Bits of the `known` byte.
const PORTS_KNOWN: u64 = 1;
const FLAGS_KNOWN: u64 = 2;
const LATER_FRAGMENT: u64 = 4;

impl Transport {
    /// Transport facts from their parts (tests, fuzzers and other sources of packets).
    #[inline(always)]
    pub const fn new(
        protocol: u8,
        later_fragment: bool,
        ports: Option<(u16, u16)>,
        tcp_flags: Option<u8>,
    ) -> Transport {
        let mut known = if later_fragment { LATER_FRAGMENT } else { 0 };
        let mut bits = (protocol as u64) << PROTOCOL_SHIFT;
        if let Some((src, dst)) = ports {
            bits |= (src as u64) << SRC_PORT_SHIFT | (dst as u64) << DST_PORT_SHIFT;
            known |= PORTS_KNOWN;
        }
        // Only TCP has flags: the rule reads them without asking for the protocol again.
        if let Some(flags) = tcp_flags
            && protocol == protocol::TCP
        {
            bits |= (flags as u64) << FLAGS_SHIFT;
            known |= FLAGS_KNOWN;
        }
        Transport(bits | known << KNOWN_SHIFT)
    }

    #[inline(always)]
    fn known(&self) -> u64 {
        self.0 >> KNOWN_SHIFT
    }

    /// The IPv4 protocol, or the IPv6 next header after the extension headers walked past (an
    /// extension header's own number when the chain is cut short or longer than the parser walks).
    #[inline]
    pub fn protocol(&self) -> u8 {
        (self.0 >> PROTOCOL_SHIFT) as u8
    }

    /// A fragment after the first: IPv4 fragment offset > 0, or an IPv6 fragment header with
    /// offset > 0. It carries no transport header.
    #[inline]
    pub fn is_later_fragment(&self) -> bool {
        self.known() & LATER_FRAGMENT != 0
    }

    /// TCP or UDP source and destination ports, when captured.
    #[inline]
    pub fn ports(&self) -> Option<(u16, u16)> {
        let has_ports = matches!(self.protocol(), protocol::TCP | protocol::UDP);
        (has_ports && self.known() & PORTS_KNOWN != 0).then_some((
            (self.0 >> SRC_PORT_SHIFT) as u16,
            (self.0 >> DST_PORT_SHIFT) as u16,
        ))
    }

    /// The TCP flags byte (offset 13 of the TCP header), when captured; `None` for other protocols.
    #[inline]
    pub fn tcp_flags(&self) -> Option<u8> {
        (self.known() & FLAGS_KNOWN != 0).then_some(self.tcp_flags_or_zero())
    }

    /// [`Transport::tcp_flags`], 0 when there are none (not TCP, or not captured).
    #[inline]
    pub fn tcp_flags_or_zero(&self) -> u8 {
        (self.0 >> FLAGS_SHIFT) as u8
    }
}

/// What the service rule reads of a packet's transport header, whether packed into [`Transport`]
/// facts or still in the packet's bytes ([`TransportHeader`]): one rule for both
/// ([`crate::service::classify`], [`crate::service::of_header`]). The rule asks for ports only
/// of TCP and UDP and for flags only of TCP, so these do not test the protocol again.
pub trait TransportFacts {
    fn protocol(&self) -> u8;
    fn is_later_fragment(&self) -> bool;
    /// The ports of a TCP or UDP packet, when captured.
    fn ports_of_tcp_or_udp(&self) -> Option<(u16, u16)>;
    /// The flags byte of a TCP packet, 0 when not captured.
    fn flags_of_tcp(&self) -> u8;
}

impl TransportFacts for Transport {
    #[inline(always)]
    fn protocol(&self) -> u8 {
        Transport::protocol(self)
    }

    #[inline(always)]
    fn is_later_fragment(&self) -> bool {
        Transport::is_later_fragment(self)
    }

    #[inline(always)]
    fn ports_of_tcp_or_udp(&self) -> Option<(u16, u16)> {
        Transport::ports(self)
    }

    #[inline(always)]
    fn flags_of_tcp(&self) -> u8 {
        Transport::tcp_flags_or_zero(self)
    }
}

impl TransportFacts for TransportHeader<'_> {
    #[inline(always)]
    fn protocol(&self) -> u8 {
        self.protocol
    }

    #[inline(always)]
    fn is_later_fragment(&self) -> bool {
        self.later_fragment
    }

    #[inline(always)]
    fn ports_of_tcp_or_udp(&self) -> Option<(u16, u16)> {
        segment_ports(self.segment)
    }

    #[inline(always)]
    fn flags_of_tcp(&self) -> u8 {
        segment_tcp_flags(self.segment).unwrap_or(0)
    }
}

/// What a parse reads of a packet's transport header: nothing (`()`), the facts ([`Transport`]),
/// or the header itself, unread ([`TransportHeader`]: counting reads the service from its bytes
/// only for public traffic, [`crate::service::of_header`]).
pub trait TransportRead<'a>: Copy {
    /// Whether the parse reads the transport header at all.
    const READS: bool = true;

    /// A fragment after the first, of `protocol`: it carries no transport header.
    fn later_fragment(protocol: u8) -> Self;

    /// The transport header of `protocol` at the start of `segment`, which ends where the IP
    /// header says the packet ends or where the capture does; empty when there is none (the
    /// header was snapped off, or an IPv6 extension header chain stopped at `protocol`).
    fn segment(protocol: u8, segment: &'a [u8]) -> Self;
}

/// Reads nothing: counting without services.
impl TransportRead<'_> for () {
    const READS: bool = false;

    #[inline(always)]
    fn later_fragment(_: u8) {}

    #[inline(always)]
    fn segment(_: u8, _: &[u8]) {}
}

impl TransportRead<'_> for Transport {
    #[inline(always)]
    fn later_fragment(protocol: u8) -> Transport {
        Transport::new(protocol, true, None, None)
    }

    #[inline(always)]
    fn segment(protocol: u8, segment: &[u8]) -> Transport {
        ports(protocol, segment)
    }
}

/// The transport header as the parse found it, not read yet: counting reads its service
/// ([`crate::service::of_header`]) only for packets that turn out to be public traffic, so the
/// ports of LAN traffic are never looked up. [`TransportHeader::read`] gives the facts it holds.
#[derive(Clone, Copy, Debug, Default)]
pub struct TransportHeader<'a> {
    protocol: u8,
    later_fragment: bool,
    segment: &'a [u8],
}

impl<'a> TransportHeader<'a> {
    /// What `R` reads of the header.
    #[inline(always)]
    pub fn read<R: TransportRead<'a>>(&self) -> R {
        if self.later_fragment {
            R::later_fragment(self.protocol)
        } else {
            R::segment(self.protocol, self.segment)
        }
    }
}

impl<'a> TransportRead<'a> for TransportHeader<'a> {
    #[inline(always)]
    fn later_fragment(protocol: u8) -> TransportHeader<'a> {
        TransportHeader {
            protocol,
            later_fragment: true,
            segment: &[],
        }
    }

    #[inline(always)]
    fn segment(protocol: u8, segment: &'a [u8]) -> TransportHeader<'a> {
        TransportHeader {
            protocol,
            later_fragment: false,
            segment,
        }
    }
}

/// Why a frame is not an IP packet that can be counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Not IP, or too short for its link header: counted nowhere but in the packet total.
    NotIp,
    /// An IP header that is cut short, has the wrong version or an IHL below 5.
    Malformed,
}

#[derive(Clone, Copy)]
enum IpVersion {
    V4,
    V6,
    /// Raw IP: the first nibble decides.
    Either,
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;
const PPPOE_HEADER_LEN: usize = 6;
const MAX_VLAN_TAGS: u8 = 2;
const SLL_HEADER_LEN: usize = 16;
const SLL2_HEADER_LEN: usize = 20;
const NULL_HEADER_LEN: usize = 4;
const IPV4_MIN_HEADER_LEN: usize = 20;
/// The Fragment Offset bits of the IPv4 flags/offset field.
const IPV4_FRAGMENT_OFFSET: u16 = 0x1fff;
const IPV6_HEADER_LEN: u32 = 40;
/// IPv6 extension headers walked before giving up on finding the transport header. RFC 8200 §4.1
/// wants each at most once, destination options at most twice: five of the four kinds walked, so
/// eight covers every legitimate chain and bounds the work on a crafted one.
const MAX_IPV6_EXTENSION_HEADERS: usize = 8;
const UDP_PORTS_LEN: usize = 4;
const TCP_FLAGS_AT: usize = 13;

/// Parse one frame by the counting rules.
///
/// # Errors
/// [`Skip::NotIp`] for frames that are not IP (or too short for their link header) and
/// [`Skip::Malformed`] for broken IP headers.
// Left to the compiler it is not inlined, and the caller reads the returned `Packet` back with
// wider loads than the stores that wrote it, stalling on store forwarding (benches/pipeline).
#[inline(always)]
pub fn parse_frame(link: LinkType, frame: &[u8], meta: &FrameMeta) -> Result<Packet, Skip> {
    parse(link, frame, meta, &mut ()).map(Packet::from)
}

/// [`parse_frame`], writing what `R` reads of the packet's transport header to `transport` (left
/// as it was when the frame is skipped): the [`Transport`] facts, or the header unread
/// ([`TransportHeader`]).
///
/// The facts go out through a reference, not in the returned value: a `Result<(Packet,
/// Transport), _>` lays the addresses out at odd offsets, and the classifier's wide loads of them
/// then stalled on store forwarding, which doubled the parse's cost (benches/pipeline,
/// `service_rule_mix`).
///
/// # Errors
/// As [`parse_frame`].
#[inline(always)]
pub fn parse_frame_and_transport<'a, R: TransportRead<'a>>(
    link: LinkType,
    frame: &'a [u8],
    meta: &FrameMeta,
    transport: &mut R,
) -> Result<Packet, Skip> {
    parse(link, frame, meta, transport).map(Packet::from)
}

/// [`parse_frame_and_transport`] with the addresses typed by family, as
/// [`crate::count::Counter`] counts them.
///
/// # Errors
/// As [`parse_frame`].
#[inline(always)]
pub fn parse_frame_for_count<'a, R: TransportRead<'a>>(
    link: LinkType,
    frame: &'a [u8],
    meta: &FrameMeta,
    transport: &mut R,
) -> Result<ParsedPacket, Skip> {
    parse(link, frame, meta, transport)
}

/// [`parse_frame_and_transport`] returning both together, for tests and fuzzing (slower: see
/// there).
///
/// # Errors
/// As [`parse_frame`].
pub fn parse_frame_with_transport(
    link: LinkType,
    frame: &[u8],
    meta: &FrameMeta,
) -> Result<(Packet, Transport), Skip> {
    let mut transport = Transport::default();
    parse_frame_and_transport(link, frame, meta, &mut transport).map(|packet| (packet, transport))
}

/// The parse, reading of the transport header what `R` wants.
#[inline(always)]
fn parse<'a, R: TransportRead<'a>>(
    link: LinkType,
    frame: &'a [u8],
    meta: &FrameMeta,
    transport_out: &mut R,
) -> Result<ParsedPacket, Skip> {
    let (offset, version, pkttype) = match link {
        LinkType::Ethernet => {
            let (offset, version) = ethernet(frame, meta.vlan_stripped)?;
            (offset, version, meta.pkttype)
        }
        LinkType::LinuxSll => {
            let header = frame.get(..SLL_HEADER_LEN).ok_or(Skip::NotIp)?;
            let pkttype = be16(header, 0);
            let version = ip_ethertype(be16(header, 14)).ok_or(Skip::NotIp)?;
            (SLL_HEADER_LEN, version, pkttype)
        }
        LinkType::LinuxSll2 => {
            let header = frame.get(..SLL2_HEADER_LEN).ok_or(Skip::NotIp)?;
            let version = ip_ethertype(be16(header, 0)).ok_or(Skip::NotIp)?;
            (SLL2_HEADER_LEN, version, u16::from(header[10]))
        }
        LinkType::RawIp => (0, IpVersion::Either, meta.pkttype),
        LinkType::RawIpv4 => (0, IpVersion::V4, meta.pkttype),
        LinkType::RawIpv6 => (0, IpVersion::V6, meta.pkttype),
        LinkType::Null => (NULL_HEADER_LEN, null_family(frame)?, meta.pkttype),
    };
    let ip = frame.get(offset..).unwrap_or_default();
    // A record may claim a wire length below what was captured; R1.4 takes the larger.
    let wire_ip_len = meta
        .wire_len
        .max(frame.len() as u32)
        .saturating_sub(offset as u32);
    let (addresses, header_len, transport) = match version {
        IpVersion::V4 => ipv4::<R>(ip)?,
        IpVersion::V6 => ipv6::<R>(ip)?,
        IpVersion::Either => match ip.first().map(|b| b >> 4) {
            Some(4) => ipv4::<R>(ip)?,
            Some(6) => ipv6::<R>(ip)?,
            _ => return Err(Skip::Malformed),
        },
    };
    let bytes = if header_len == 0 || header_len > wire_ip_len {
        wire_ip_len
    } else {
        header_len
    };
    let packet = ParsedPacket {
        addresses,
        bytes,
        outgoing: pkttype == PACKET_OUTGOING,
    };
    *transport_out = transport;
    Ok(packet)
}

/// Walk Ethernet II, up to two VLAN tags (one may already be stripped by the kernel) and PPPoE.
#[inline]
fn ethernet(frame: &[u8], vlan_stripped: bool) -> Result<(usize, IpVersion), Skip> {
    let header = Ethernet2HeaderSlice::from_slice(frame).map_err(|_| Skip::NotIp)?;
    let mut ether_type = header.ether_type().0;
    let mut offset = header.slice().len();
    // Untagged IPv4 and IPv6 first, as nearly every frame.
    if let Some(version) = ip_ethertype(ether_type) {
        return Ok((offset, version));
    }
    let mut tags = u8::from(vlan_stripped);
    while is_vlan_tpid(ether_type) && tags < MAX_VLAN_TAGS {
        let rest = frame.get(offset..).unwrap_or_default();
        let tag = SingleVlanHeaderSlice::from_slice(rest).map_err(|_| Skip::NotIp)?;
        ether_type = tag.ether_type().0;
        offset += tag.slice().len();
        tags += 1;
    }
    if ether_type == ETHERTYPE_PPPOE_SESSION {
        return pppoe_session(frame, offset + PPPOE_HEADER_LEN);
    }
    let version = ip_ethertype(ether_type).ok_or(Skip::NotIp)?;
    Ok((offset, version))
}

#[inline]
fn is_vlan_tpid(ether_type: u16) -> bool {
    matches!(ether_type, 0x8100 | 0x88a8 | 0x9100)
}

/// Read the PPP protocol field after the (unvalidated) PPPoE header, with RFC 1661 compression.
fn pppoe_session(frame: &[u8], protocol_at: usize) -> Result<(usize, IpVersion), Skip> {
    let first = *frame.get(protocol_at).ok_or(Skip::NotIp)?;
    // An odd first byte is a complete, compressed 1-byte protocol field.
    let (protocol, len) = if first & 1 == 1 {
        (u16::from(first), 1)
    } else {
        let second = *frame.get(protocol_at + 1).ok_or(Skip::NotIp)?;
        (u16::from_be_bytes([first, second]), 2)
    };
    let version = match protocol {
        PPP_IPV4 => IpVersion::V4,
        PPP_IPV6 => IpVersion::V6,
        _ => return Err(Skip::NotIp),
    };
    Ok((protocol_at + len, version))
}

#[inline]
fn ip_ethertype(protocol: u16) -> Option<IpVersion> {
    match protocol {
        ETHERTYPE_IPV4 => Some(IpVersion::V4),
        ETHERTYPE_IPV6 => Some(IpVersion::V6),
        _ => None,
    }
}

/// The BSD null header's address family, written in the capturing host's byte order.
fn null_family(frame: &[u8]) -> Result<IpVersion, Skip> {
    let header: [u8; 4] = frame
        .get(..NULL_HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(Skip::NotIp)?;
    let family = match header {
        [family, 0, 0, 0] => family,
        [0, 0, 0, family] => family,
        _ => return Err(Skip::NotIp),
    };
    match family {
        2 => Ok(IpVersion::V4),
        // AF_INET6 is 24 on NetBSD/OpenBSD, 28 on FreeBSD and 30 on macOS.
        24 | 28 | 30 => Ok(IpVersion::V6),
        _ => Err(Skip::NotIp),
    }
}

/// The fixed IPv4 header: addresses and Total Length (used as it is, even below the header
/// length), and the transport facts.
#[inline(always)]
fn ipv4<'a, R: TransportRead<'a>>(ip: &'a [u8]) -> Result<(Addresses, u32, R), Skip> {
    let header: &[u8; IPV4_MIN_HEADER_LEN] = ip
        .get(..IPV4_MIN_HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(Skip::Malformed)?;
    // Version 4 and an IHL of at least 5: the first byte is 0x45..=0x4f (one compare).
    if !(0x45..=0x4f).contains(&header[0]) {
        return Err(Skip::Malformed);
    }
    let ihl = header[0] & 0x0f;
    let total_len = u32::from(be16(header, 2));
    let [.., s0, s1, s2, s3, d0, d1, d2, d3] = *header;
    let src = u32::from_be_bytes([s0, s1, s2, s3]);
    let dst = u32::from_be_bytes([d0, d1, d2, d3]);
    let protocol = header[9];
    let transport = if !R::READS {
        R::segment(protocol, &[])
    } else if be16(header, 6) & IPV4_FRAGMENT_OFFSET != 0 {
        R::later_fragment(protocol)
    } else {
        // A Total Length below the header (0 from segmentation offload on the sending host) says
        // nothing about where the packet ends: the captured bytes do.
        let header_len = usize::from(ihl) * 4;
        let end = match total_len as usize {
            claimed if claimed >= header_len => claimed.min(ip.len()),
            _ => ip.len(),
        };
        R::segment(protocol, ip.get(header_len..end).unwrap_or_default())
    };
    Ok((Addresses::V4 { src, dst }, total_len, transport))
}

/// The IPv6 header: addresses and Payload Length + 40 (0 stays 0: a jumbogram or an offloaded
/// length), and the transport facts.
// Always inlined: returned from a call, the addresses come back through memory and the
// classifier's wide loads of them stall on store forwarding (benches/pipeline).
#[inline(always)]
fn ipv6<'a, R: TransportRead<'a>>(ip: &'a [u8]) -> Result<(Addresses, u32, R), Skip> {
    let header = Ipv6HeaderSlice::from_slice(ip).map_err(|_| Skip::Malformed)?;
    let payload_len = u32::from(header.payload_length());
    let len = if payload_len == 0 {
        0
    } else {
        payload_len + IPV6_HEADER_LEN
    };
    // Whole 16-byte loads: etherparse's address accessors assemble them byte by byte, and the
    // bytes then travel separately through classification (benches/pipeline).
    let fixed: &[u8; IPV6_HEADER_LEN as usize] =
        header.slice().first_chunk().ok_or(Skip::Malformed)?;
    let src = u128::from_be_bytes(fixed[8..24].try_into().unwrap_or_default());
    let dst = u128::from_be_bytes(fixed[24..40].try_into().unwrap_or_default());
    let transport = if R::READS {
        // Payload Length 0 (a jumbogram, an offloaded length) leaves the captured bytes as the end.
        let end = if len == 0 {
            ip.len()
        } else {
            (len as usize).min(ip.len())
        };
        let packet = ip.get(..end).unwrap_or_default();
        match fixed[6] {
            // No extension headers, as nearly every packet: the walk stays out of line.
            protocol::TCP | protocol::UDP => R::segment(
                fixed[6],
                packet.get(IPV6_HEADER_LEN as usize..).unwrap_or_default(),
            ),
            next => ipv6_transport(packet, next),
        }
    } else {
        R::segment(fixed[6], &[])
    };
    Ok((Addresses::V6 { src, dst }, len, transport))
}

/// Walk the IPv6 extension headers (hop-by-hop, routing, destination options, fragment) from
/// `next` within `packet` (header included, cut at the claimed length) to the transport header.
#[inline]
fn ipv6_transport<'a, R: TransportRead<'a>>(packet: &'a [u8], mut next: u8) -> R {
    let mut at = IPV6_HEADER_LEN as usize;
    for _ in 0..MAX_IPV6_EXTENSION_HEADERS {
        match next {
            protocol::IPV6_HOP_BY_HOP
            | protocol::IPV6_ROUTING
            | protocol::IPV6_DESTINATION_OPTIONS => {
                // Next Header, Hdr Ext Len in 8-octet units not counting the first 8 (RFC 8200 §4.3).
                let Some(&[following, ext_len]) = packet.get(at..at + 2) else {
                    return R::segment(next, &[]);
                };
                next = following;
                at += (usize::from(ext_len) + 1) * 8;
            }
            protocol::IPV6_FRAGMENT => {
                // Next Header, reserved, Fragment Offset (13 bits) + flags (RFC 8200 §4.5).
                let Some(&[following, _, offset_high, offset_low]) = packet.get(at..at + 4) else {
                    return R::segment(next, &[]);
                };
                if u16::from_be_bytes([offset_high, offset_low]) >> 3 != 0 {
                    return R::later_fragment(following);
                }
                next = following;
                at += 8;
            }
            _ => return R::segment(next, packet.get(at..).unwrap_or_default()),
        }
    }
    R::segment(next, &[])
}

/// The first four bytes of `segment` as ports and, for TCP, its fourteenth as flags, as far as it
/// holds them; [`Transport::ports`] gives ports out only for TCP and UDP, so the parse does not
/// ask for the protocol before reading them.
#[inline(always)]
fn ports(protocol: u8, segment: &[u8]) -> Transport {
    let mut bits = u64::from(protocol) << PROTOCOL_SHIFT;
    if let Some((src, dst)) = segment_ports(segment) {
        bits |= u64::from(src) << SRC_PORT_SHIFT
            | u64::from(dst) << DST_PORT_SHIFT
            | PORTS_KNOWN << KNOWN_SHIFT;
        if protocol == protocol::TCP
            && let Some(flags) = segment_tcp_flags(segment)
        {
            bits |= u64::from(flags) << FLAGS_SHIFT | FLAGS_KNOWN << KNOWN_SHIFT;
        }
    }
    Transport(bits)
}

/// The source and destination ports at the start of a TCP or UDP header, when captured.
#[inline(always)]
fn segment_ports(segment: &[u8]) -> Option<(u16, u16)> {
    let &[src_high, src_low, dst_high, dst_low] = segment.first_chunk::<UDP_PORTS_LEN>()?;
    Some((
        u16::from_be_bytes([src_high, src_low]),
        u16::from_be_bytes([dst_high, dst_low]),
    ))
}

/// The flags byte of a TCP header, when captured.
#[inline(always)]
fn segment_tcp_flags(segment: &[u8]) -> Option<u8> {
    segment.get(TCP_FLAGS_AT).copied()
}

#[inline]
fn be16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}
