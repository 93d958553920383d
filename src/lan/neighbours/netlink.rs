//! The kernel's IPv6 neighbour table (what `ip -6 neigh` shows), which has no `/proc` file: one
//! rtnetlink dump (`RTM_GETNEIGH` with `NLM_F_DUMP`), which any user may ask for. The messages
//! are built and parsed by `netlink-packet-route`; the socket is a plain blocking one with time
//! limits, so a kernel that never answers costs at most [`DEADLINE`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use log::warn;
use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use nix::sys::socket::{self, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, sockopt};
use nix::sys::time::{TimeVal, TimeValLike};

use crate::lan::Mac;

/// Entries kept at most: far more than a home network has; a table this large (a hostile
/// network, a router of thousands) is cut there rather than read whole on every request.
pub const MAX_ENTRIES: usize = 16_384;
/// Datagrams read at most for one dump (the kernel packs dozens of entries into each).
const MAX_DATAGRAMS: usize = 2_048;
/// The longest one dump may take; the kernel answers in microseconds.
const DEADLINE: Duration = Duration::from_millis(500);
/// The time limit of each send and receive.
const SOCKET_TIMEOUT: Duration = Duration::from_millis(200);
/// The receive buffer: larger than the kernel's biggest dump datagram (32 KiB).
const DATAGRAM: usize = 64 * 1024;
/// The sequence number of the request; the answer's messages carry it.
const SEQUENCE: u32 = 1;

/// Set once a failure was logged: a machine without rtnetlink would otherwise log it on every
/// request.
static WARNED: AtomicBool = AtomicBool::new(false);

/// The IPv6 neighbours whose MAC address the kernel knows now (reachable, stale, delay, probe
/// or permanent). Empty when the table cannot be read; the first failure is logged once.
pub fn ipv6() -> HashMap<IpAddr, Mac> {
    match dump() {
        Ok(table) => table,
        Err(error) => {
            if !WARNED.swap(true, Ordering::Relaxed) {
                warn!(
                    "cannot read the kernel's IPv6 neighbour table (rtnetlink): {error}; IPv6 \
                     devices are shown without MAC addresses"
                );
            }
            HashMap::new()
        }
    }
}

/// One dump of the table.
fn dump() -> Result<HashMap<IpAddr, Mac>, String> {
    let deadline = Instant::now() + DEADLINE;
    let socket = open().map_err(|error| format!("cannot open a netlink socket: {error}"))?;
    let kernel = NetlinkAddr::new(0, 0);
    socket::sendto(socket.as_raw_fd(), &request(), &kernel, MsgFlags::empty())
        .map_err(|error| format!("cannot send the request: {error}"))?;
    let mut table = HashMap::new();
    let mut buffer = vec![0u8; DATAGRAM];
    for _ in 0..MAX_DATAGRAMS {
        if Instant::now() >= deadline {
            return Err(format!("no complete answer within {DEADLINE:?}"));
        }
        // MSG_TRUNC: the datagram's real length, so a cut one is noticed rather than misread.
        let length = socket::recv(socket.as_raw_fd(), &mut buffer, MsgFlags::MSG_TRUNC)
            .map_err(|error| format!("no answer: {error}"))?;
        let datagram = buffer
            .get(..length)
            .ok_or_else(|| format!("an answer of {length} bytes, more than {DATAGRAM}"))?;
        if parse(datagram, &mut table)? == Flow::Done || table.len() >= MAX_ENTRIES {
            // Closing the socket drops the rest of a cut dump.
            return Ok(table);
        }
    }
    // A dump that never ends: keep what came, as at the entry limit.
    Ok(table)
}

/// A netlink route socket bound to a port the kernel picks, with time limits.
fn open() -> nix::Result<OwnedFd> {
    let socket = socket::socket(
        socket::AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )?;
    let limit = TimeVal::milliseconds(SOCKET_TIMEOUT.as_millis() as i64);
    socket::setsockopt(&socket, sockopt::ReceiveTimeout, &limit)?;
    socket::setsockopt(&socket, sockopt::SendTimeout, &limit)?;
    socket::bind(socket.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
    Ok(socket)
}

/// `RTM_GETNEIGH`, dump, IPv6 only (the kernel filters by the family of the request's header).
pub fn request() -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = SEQUENCE;
    let mut neighbour = NeighbourMessage::default();
    neighbour.header.family = AddressFamily::Inet6;
    let mut message = NetlinkMessage::new(
        header,
        NetlinkPayload::from(RouteNetlinkMessage::GetNeighbour(neighbour)),
    );
    message.finalize();
    let mut bytes = vec![0u8; message.buffer_len()];
    message.serialize(&mut bytes);
    bytes
}

/// Whether the dump goes on after a datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    More,
    Done,
}

/// Add the entries of one datagram of the answer to `table` (at most [`MAX_ENTRIES`]).
///
/// # Errors
/// The kernel's error answer, an overrun, or a datagram whose framing does not hold (its
/// lengths point outside it). A single message that does not parse is skipped.
pub fn parse(datagram: &[u8], table: &mut HashMap<IpAddr, Mac>) -> Result<Flow, String> {
    /// `struct nlmsghdr`: length, type, flags, sequence number, port.
    const HEADER: usize = 16;
    let mut rest = datagram;
    while !rest.is_empty() {
        let length = rest
            .get(..4)
            .and_then(|bytes| <[u8; 4]>::try_from(bytes).ok())
            .map(|bytes| u32::from_ne_bytes(bytes) as usize)
            .filter(|length| (HEADER..=rest.len()).contains(length))
            .ok_or("a message whose length does not fit its datagram")?;
        let (message, after) = rest.split_at(length);
        // Messages start at 4-byte boundaries (NLMSG_ALIGN); the last one may end unpadded.
        rest = after
            .get(length.next_multiple_of(4) - length..)
            .unwrap_or(&[]);
        let Ok(message) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(message) else {
            continue;
        };
        if message.header.sequence_number != SEQUENCE {
            continue;
        }
        match message.payload {
            NetlinkPayload::Done(_) => return Ok(Flow::Done),
            // An error code; without one it is an acknowledgement, which was not asked for.
            NetlinkPayload::Error(error) if error.code.is_some() => {
                return Err(format!("the kernel refused: {}", error.to_io()));
            }
            NetlinkPayload::Overrun(_) => return Err("the kernel's answer overran".into()),
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(neighbour)) => {
                if let Some((address, mac)) = entry(&neighbour)
                    && (table.len() < MAX_ENTRIES || table.contains_key(&address))
                {
                    table.insert(address, mac);
                }
            }
            _ => {}
        }
    }
    Ok(Flow::More)
}

/// An IPv6 address and its Ethernet MAC address, when the kernel holds one it has confirmed or
/// was given: not incomplete or failed entries (no MAC yet, or none answered), nor `noarp` ones
/// (multicast and point-to-point links, whose "MAC" is no device's).
pub fn entry(neighbour: &NeighbourMessage) -> Option<(IpAddr, Mac)> {
    if neighbour.header.family != AddressFamily::Inet6 {
        return None;
    }
    if !matches!(
        neighbour.header.state,
        NeighbourState::Reachable
            | NeighbourState::Stale
            | NeighbourState::Delay
            | NeighbourState::Probe
            | NeighbourState::Permanent
    ) {
        return None;
    }
    let mut address = None;
    let mut mac = None;
    for attribute in &neighbour.attributes {
        match attribute {
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(ip)) => {
                address = Some(IpAddr::V6(*ip));
            }
            NeighbourAttribute::LinkLayerAddress(bytes) => {
                mac = <[u8; 6]>::try_from(bytes.as_slice()).ok().map(Mac);
            }
            _ => {}
        }
    }
    Some((address?, mac.filter(|mac| mac.0 != [0; 6])?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{DoneMessage, ErrorMessage};
    use std::net::Ipv6Addr;

    /// One netlink message of the answer, as the kernel frames it, by the crate's own emitters.
    fn framed(payload: NetlinkPayload<RouteNetlinkMessage>, sequence: u32) -> Vec<u8> {
        let mut header = NetlinkHeader::default();
        header.sequence_number = sequence;
        let mut message = NetlinkMessage::new(header, payload);
        message.finalize();
        let mut bytes = vec![0u8; message.buffer_len()];
        message.serialize(&mut bytes);
        // NLMSG_ALIGN: the next message starts at a 4-byte boundary.
        bytes.resize(bytes.len().next_multiple_of(4), 0);
        bytes
    }

    fn neighbour(
        family: AddressFamily,
        state: NeighbourState,
        destination: Option<NeighbourAddress>,
        lladdr: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut message = NeighbourMessage::default();
        message.header.family = family;
        message.header.state = state;
        message.header.ifindex = 2;
        if let Some(destination) = destination {
            message
                .attributes
                .push(NeighbourAttribute::Destination(destination));
        }
        if let Some(lladdr) = lladdr {
            message
                .attributes
                .push(NeighbourAttribute::LinkLayerAddress(lladdr.to_vec()));
        }
        framed(
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(message)),
            SEQUENCE,
        )
    }

    fn v6(text: &str) -> NeighbourAddress {
        NeighbourAddress::Inet6(text.parse::<Ipv6Addr>().expect("an IPv6 address"))
    }

    fn done() -> Vec<u8> {
        framed(NetlinkPayload::Done(DoneMessage::default()), SEQUENCE)
    }

    const MAC_20: [u8; 6] = [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x20];

    #[test]
    fn the_request_is_an_ipv6_neighbour_dump() {
        let bytes = request();
        let message =
            NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes).expect("it parses back");
        assert_eq!(message.header.length as usize, bytes.len());
        // RTM_GETNEIGH is 30 in linux/rtnetlink.h; NLM_F_REQUEST | NLM_F_DUMP is 0x301.
        assert_eq!(message.header.message_type, 30);
        assert_eq!(message.header.flags, 0x301);
        assert_eq!(message.header.sequence_number, SEQUENCE);
        // struct ndmsg: family AF_INET6 (10) first.
        assert_eq!(bytes[16], 10);
    }

    #[test]
    fn usable_entries_are_kept_and_the_rest_left_out() {
        let usable = [
            (NeighbourState::Reachable, "2001:db8:1::20"),
            (NeighbourState::Stale, "2001:db8:1::21"),
            (NeighbourState::Delay, "2001:db8:1::22"),
            (NeighbourState::Probe, "2001:db8:1::23"),
            (NeighbourState::Permanent, "2001:db8:1::24"),
        ];
        let mut datagram = Vec::new();
        for (state, address) in usable {
            datagram.extend(neighbour(
                AddressFamily::Inet6,
                state,
                Some(v6(address)),
                Some(&MAC_20),
            ));
        }
        for (family, state, destination, lladdr) in [
            // No MAC yet, or no answer.
            (
                AddressFamily::Inet6,
                NeighbourState::Incomplete,
                Some(v6("2001:db8:1::a1")),
                None,
            ),
            (
                AddressFamily::Inet6,
                NeighbourState::Failed,
                Some(v6("2001:db8:1::a2")),
                Some(&MAC_20[..]),
            ),
            // Multicast: the kernel's own mapping, no device.
            (
                AddressFamily::Inet6,
                NeighbourState::Noarp,
                Some(v6("ff02::1")),
                Some(&[0x33, 0x33, 0, 0, 0, 1][..]),
            ),
            // A zero MAC, a MAC that is not Ethernet, no MAC, no address.
            (
                AddressFamily::Inet6,
                NeighbourState::Permanent,
                Some(v6("2001:db8:1::a3")),
                Some(&[0; 6][..]),
            ),
            (
                AddressFamily::Inet6,
                NeighbourState::Reachable,
                Some(v6("2001:db8:1::a4")),
                Some(&[1, 2, 3, 4][..]),
            ),
            (
                AddressFamily::Inet6,
                NeighbourState::Reachable,
                Some(v6("2001:db8:1::a5")),
                None,
            ),
            (
                AddressFamily::Inet6,
                NeighbourState::Reachable,
                None,
                Some(&MAC_20[..]),
            ),
            // IPv4 comes from /proc/net/arp.
            (
                AddressFamily::Inet,
                NeighbourState::Reachable,
                Some(NeighbourAddress::Inet("192.168.1.20".parse().expect("v4"))),
                Some(&MAC_20[..]),
            ),
        ] {
            datagram.extend(neighbour(family, state, destination, lladdr));
        }
        let mut table = HashMap::new();
        assert_eq!(parse(&datagram, &mut table), Ok(Flow::More));
        let mut kept: Vec<String> = table
            .iter()
            .map(|(address, mac)| format!("{address} {mac}"))
            .collect();
        kept.sort();
        let expected: Vec<String> = usable
            .iter()
            .map(|(_, address)| format!("{address} aa:bb:cc:dd:ee:20"))
            .collect();
        assert_eq!(kept, expected);
    }

    #[test]
    fn the_dump_ends_at_done_and_fails_on_an_error() {
        let mut table = HashMap::new();
        let mut datagram = neighbour(
            AddressFamily::Inet6,
            NeighbourState::Stale,
            Some(v6("2001:db8:1::21")),
            Some(&[2, 0, 0, 0, 0x60, 0x21]),
        );
        datagram.extend(done());
        assert_eq!(parse(&datagram, &mut table), Ok(Flow::Done));
        assert_eq!(
            table[&"2001:db8:1::21".parse::<IpAddr>().unwrap()].to_string(),
            "02:00:00:00:60:21"
        );

        // Another request's messages (another sequence number) are not this answer.
        let mut other = done();
        other[8..12].copy_from_slice(&7u32.to_ne_bytes());
        assert_eq!(parse(&other, &mut table), Ok(Flow::More));

        // An acknowledgement (an error message without a code) is no failure.
        let ack = framed(NetlinkPayload::Error(ErrorMessage::default()), SEQUENCE);
        assert_eq!(parse(&ack, &mut table), Ok(Flow::More));

        let mut refused = ErrorMessage::default();
        refused.code = std::num::NonZeroI32::new(-libc::EPERM);
        let refused = framed(NetlinkPayload::Error(refused), SEQUENCE);
        let error = parse(&refused, &mut table).expect_err("an error answer");
        assert!(error.contains("refused"), "{error}");
    }

    #[test]
    fn broken_framing_is_an_error_and_a_broken_message_is_skipped() {
        let mut table = HashMap::new();
        let good = neighbour(
            AddressFamily::Inet6,
            NeighbourState::Reachable,
            Some(v6("2001:db8:1::22")),
            Some(&MAC_20),
        );
        // A length beyond the datagram, and one shorter than a header.
        let mut long = good.clone();
        long[..4].copy_from_slice(&(good.len() as u32 + 4).to_ne_bytes());
        assert!(parse(&long, &mut table).is_err());
        let mut short = good.clone();
        short[..4].copy_from_slice(&8u32.to_ne_bytes());
        assert!(parse(&short, &mut table).is_err());
        assert!(parse(&good[..10], &mut table).is_err());
        assert!(table.is_empty());

        // A neighbour message whose header is cut (its length says 20 bytes): skipped, and the
        // next message still read.
        let mut cut = good[..20].to_vec();
        cut[..4].copy_from_slice(&20u32.to_ne_bytes());
        cut.extend(&good);
        assert_eq!(parse(&cut, &mut table), Ok(Flow::More));
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn the_table_is_bounded() {
        let mut table = HashMap::new();
        let mut datagram = Vec::new();
        for i in 0..MAX_ENTRIES + 10 {
            let address =
                Ipv6Addr::from(0x2001_0db8_0001_0000_0000_0000_0001_0000_u128 + i as u128);
            datagram.extend(neighbour(
                AddressFamily::Inet6,
                NeighbourState::Reachable,
                Some(NeighbourAddress::Inet6(address)),
                Some(&MAC_20),
            ));
        }
        assert_eq!(parse(&datagram, &mut table), Ok(Flow::More));
        assert_eq!(table.len(), MAX_ENTRIES);
    }

    /// The real kernel answers the request: a table (maybe empty) and no error, in this
    /// process's namespace (the live test reads one with known entries).
    #[test]
    fn the_kernel_answers() {
        assert!(dump().is_ok(), "{:?}", dump());
    }
}
