//! The bodies of the fuzz targets, shared with `tests/fuzz_regressions.rs`.
//!
//! Each function takes raw fuzzer bytes, feeds them through the same public API every frame source
//! uses, and panics when something the counting rules (`pcaps/README.md`) guarantee does not hold.
//! The cargo-fuzz targets are one-line wrappers and the regression test includes this file by path,
//! so a saved input replays on the stable toolchain exactly as it was fuzzed. Only invariants that
//! must hold for every input are asserted; a counting result that merely looks odd is not a failure.
//!
//! Running (from `fuzz/`): `cargo +nightly fuzz run capture_file -- -rss_limit_mb=512
//! -malloc_limit_mb=128 -max_len=65536`, and the same for `frame`, `ring_block` and
//! `stored_value`. The working
//! corpus `fuzz/corpus/` is not committed: start it from `tests/fuzz_regressions/<target>/`, and for
//! `capture_file` add the captures of `tests/captures/` (`*.pcap*`, third-party files with their
//! licences there).
//! Minimized inputs worth keeping go back into `tests/fuzz_regressions/`.

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::IpAddr;
use std::sync::OnceLock;

use nettraffic_sentinel::capture::block::Block;
use nettraffic_sentinel::capture::file::{
    CaptureInfo, FileErrorKind, MAX_CAPLEN, Record, read_capture,
};
use nettraffic_sentinel::capture::worker::count_block;
use nettraffic_sentinel::classify::{AddressClassifier, Direction, parse_prefix};
use nettraffic_sentinel::clock::{HourClock, Zone};
use nettraffic_sentinel::count::live::LiveShard;
use nettraffic_sentinel::count::{Counter, FileTally, Frame, Outcome, UpDown};
use nettraffic_sentinel::parse::{
    FrameMeta, LinkType, PACKET_OUTGOING, Packet, Skip, Transport, TransportHeader, parse_frame,
    parse_frame_and_transport, parse_frame_with_transport, protocol,
};
use nettraffic_sentinel::service::{self, Service};

/// Every link type, so one selector byte reaches each of them.
const LINKS: [LinkType; 7] = [
    LinkType::Ethernet,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::RawIp,
    LinkType::RawIpv4,
    LinkType::RawIpv6,
    LinkType::Null,
];

/// Layout of a `frame` input: what a frame source would know, then the frame bytes.
/// - byte 0: link type, an index into every variant (modulo 7);
/// - byte 1: bit 0 = `vlan_stripped`; bits 1–2 = how `wire_len` relates to the captured length;
/// - bytes 2..4: `pkttype` (big-endian);
/// - bytes 4..8: operand of the wire-length mode (big-endian);
/// - bytes 8..16: Unix second (big-endian i64).
pub const FRAME_HEADER_LEN: usize = 16;

/// Configured prefixes, so the classifier's merged ranges include user prefixes of both families
/// and an IPv6 prefix that covers IPv4-mapped addresses (R5.4).
const LOCAL_PREFIXES: [&str; 4] = [
    "192.0.2.0/24",
    "2001:db8::/32",
    "::ffff:198.51.100.0/120",
    "203.0.113.7",
];

/// Building the classifier and loading the zone cost more than a whole fuzz iteration; clones of
/// one counter start from the same fresh state.
fn counter() -> Counter {
    static COUNTER: OnceLock<Counter> = OnceLock::new();
    COUNTER
        .get_or_init(|| {
            let prefixes: Vec<_> = LOCAL_PREFIXES
                .iter()
                .map(|text| parse_prefix(text).expect("built-in prefix"))
                .collect();
            let zone = Zone::named("Europe/Berlin").expect("Europe/Berlin is in the bundled tzdb");
            Counter::new(AddressClassifier::new(&prefixes), HourClock::new(zone))
        })
        .clone()
}

/// The interface index a `ring_block` input's frames must carry to be counted.
const RING_IFINDEX: i32 = 7;

/// Any bytes as a TPACKET_V3 ring block (the kernel's offsets are untrusted input), walked and
/// counted by the capture worker's own `count_block`. The walk must stay inside the block and
/// within the frame count the block claims, and the shard must count exactly the frames of the
/// monitored interface, with their wire lengths. The descriptor's `seq_num` bit 0 picks the link
/// layer (Ethernet or raw IP, the two a live interface has).
pub fn ring_block(input: &[u8]) {
    let Some(block) = Block::new(input) else {
        return;
    };
    let bounds = input.as_ptr_range();
    let (mut walked, mut frames, mut wire_bytes) = (0u64, 0u64, 0u64);
    for frame in block.frames() {
        walked += 1;
        let data = frame.data.as_ptr_range();
        assert!(
            bounds.start <= data.start && data.end <= bounds.end,
            "a frame's bytes lie outside the block"
        );
        if frame.ifindex == RING_IFINDEX {
            frames += 1;
            wire_bytes += u64::from(frame.wire_len);
        }
    }
    assert!(
        walked <= u64::from(block.num_packets()),
        "{walked} frames walked, {} claimed",
        block.num_packets()
    );
    let link = if block.seq_num() & 1 == 0 {
        LinkType::Ethernet
    } else {
        LinkType::RawIp
    };
    let mut shard = LiveShard::new(Zone::utc(), 64, 256);
    count_block(&mut counter(), &mut shard, &block, link, RING_IFINDEX);
    assert_eq!(shard.counters().frames, frames);
    assert_eq!(shard.counters().wire_bytes, wire_bytes);
    assert!(shard.counters().counted + shard.counters().malformed <= frames);
}

/// One frame of any link type through `parse_frame`, `parse_frame_with_transport` (transport
/// facts and their service) and `Counter::count`.
pub fn frame(input: &[u8]) {
    let Some((header, data)) = input.split_first_chunk::<FRAME_HEADER_LEN>() else {
        return;
    };
    let link = LINKS[usize::from(header[0]) % LINKS.len()];
    let operand = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    let captured = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let wire_len = match (header[1] >> 1) & 3 {
        0 => captured,
        1 => captured.saturating_add(operand),
        // A record may claim fewer bytes on the wire than were captured (R1.4).
        2 => operand % captured.saturating_add(1),
        _ => operand,
    };
    let meta = FrameMeta {
        wire_len,
        pkttype: u16::from_be_bytes([header[2], header[3]]),
        vlan_stripped: header[1] & 1 == 1,
    };
    let unix_second = i64::from_be_bytes([
        header[8], header[9], header[10], header[11], header[12], header[13], header[14],
        header[15],
    ]);
    let frame = Frame {
        link,
        data,
        meta,
        unix_second,
    };
    let mut counter = counter();
    let mut tally = FileTally::new();
    count_checked(&mut counter, &frame, &mut tally, Depth::Full);
    // A second frame in the same hour goes through the clock's cached hour.
    count_checked(&mut counter, &frame, &mut tally, Depth::Full);
    check_sums(&tally);
}

/// Any bytes as a capture file, read once from a slice and once through a reader that hands out
/// a few bytes at a time and is interrupted now and then: streaming must not change the result.
pub fn capture_file(input: &[u8]) {
    let mut counter = counter();
    let mut tally = FileTally::new();
    let mut records = Vec::new();
    let result = read_capture(input, |record| {
        assert!(
            record.data.len() <= MAX_CAPLEN as usize,
            "a record of {} captured bytes",
            record.data.len()
        );
        assert!(
            record.wire_len as usize >= record.data.len(),
            "wire length {} below captured length {}",
            record.wire_len,
            record.data.len()
        );
        let frame = record.frame();
        count_checked(&mut counter, &frame, &mut tally, Depth::Totals);
        records.push(OwnedRecord::of(record));
    });
    let visited = records.len() as u64;
    match &result {
        Ok(info) => {
            assert!(
                visited <= info.packets_total,
                "{visited} records visited but packets_total is {}",
                info.packets_total
            );
            // Without a link type only packets naming an interface that was never described
            // can be visited, and they arrive as empty (malformed) stand-ins.
            assert!(
                info.linktype.is_some()
                    || records
                        .iter()
                        .all(|record| record.data.is_empty() && record.wire_len == 0),
                "records with data visited without a link type"
            );
            tally.packets_total = info.packets_total;
        }
        Err(error) => assert!(
            !matches!(error.kind, FileErrorKind::Io(_)),
            "an in-memory read failed: {error}"
        ),
    }
    assert!(tally.packets_counted + tally.malformed <= visited);
    check_sums(&tally);

    let mut trickled = Vec::new();
    let trickle_result = read_capture(Trickle::new(input), |record| {
        trickled.push(OwnedRecord::of(record));
    });
    assert!(records == trickled, "records differ when read in pieces");
    assert_eq!(summary(&result), summary(&trickle_result));
}

/// What a record is, kept past the callback that lends it.
#[derive(Debug, PartialEq, Eq)]
struct OwnedRecord {
    link: LinkType,
    data: Vec<u8>,
    wire_len: u32,
    unix_second: i64,
}

impl OwnedRecord {
    fn of(record: &Record<'_>) -> OwnedRecord {
        OwnedRecord {
            link: record.link,
            data: record.data.to_vec(),
            wire_len: record.wire_len,
            unix_second: record.unix_second,
        }
    }
}

/// `FileError` has no equality; its message names the kind and link type.
fn summary<E: std::fmt::Display>(result: &Result<CaptureInfo, E>) -> Result<CaptureInfo, String> {
    match result {
        Ok(info) => Ok(info.clone()),
        Err(error) => Err(error.to_string()),
    }
}

/// A reader that returns 1–9 bytes per call and `Interrupted` every seventh call, as a pipe or
/// a signal-interrupted read can.
struct Trickle<'a> {
    rest: &'a [u8],
    calls: usize,
}

impl<'a> Trickle<'a> {
    fn new(rest: &'a [u8]) -> Trickle<'a> {
        Trickle { rest, calls: 0 }
    }
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(7) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = (self.calls % 9 + 1).min(buf.len()).min(self.rest.len());
        let (now, later) = self.rest.split_at(n);
        buf[..n].copy_from_slice(now);
        self.rest = later;
        Ok(n)
    }
}

/// The public part of a tally, to compare before and after one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Totals {
    packets_total: u64,
    packets_counted: u64,
    malformed: u64,
    lan_bytes: u64,
    total: UpDown,
    remote_count: usize,
}

impl Totals {
    fn of(tally: &FileTally) -> Totals {
        Totals {
            packets_total: tally.packets_total,
            packets_counted: tally.packets_counted,
            malformed: tally.malformed,
            lan_bytes: tally.lan_bytes,
            total: tally.total,
            remote_count: tally.remote_count(),
        }
    }
}

/// How closely [`count_checked`] follows one frame into the tally.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Depth {
    /// Also the frame's hour and remote entries; costs a copy of every hour, so one frame only.
    Full,
    /// Only the totals; cheap enough for every record of a capture file.
    Totals,
}

/// Count one frame and check that the tally moved exactly as the parse and the rules say.
fn count_checked(counter: &mut Counter, frame: &Frame<'_>, tally: &mut FileTally, depth: Depth) {
    let parsed = parse_frame(frame.link, frame.data, &frame.meta);
    if let Ok(packet) = &parsed {
        check_packet(frame, packet);
    }
    assert_eq!(
        parsed,
        parse_frame(frame.link, frame.data, &frame.meta),
        "parsing is not deterministic"
    );
    let full = depth == Depth::Full;
    let before = Totals::of(tally);
    let hours_before = if full { tally.hours() } else { HashMap::new() };
    let remotes_before = match &parsed {
        Ok(packet) if full => [packet.src, packet.dst].map(|addr| remote_bytes(tally, addr)),
        _ => [UpDown::default(); 2],
    };
    let outcome = counter.count(frame, tally);
    let after = Totals::of(tally);
    let mut expected = before;
    match (parsed, outcome) {
        (Err(Skip::NotIp), Outcome::NotIp) => {}
        (Err(Skip::Malformed), Outcome::Malformed) => expected.malformed += 1,
        (Ok(packet), Outcome::Lan) => {
            let classifier = counter.classifier();
            assert!(!classifier.is_public(packet.src) && !classifier.is_public(packet.dst));
            expected.lan_bytes += u64::from(packet.bytes);
        }
        (Ok(packet), Outcome::Traffic(direction)) => {
            let classifier = counter.classifier();
            let (src_public, dst_public) = (
                classifier.is_public(packet.src),
                classifier.is_public(packet.dst),
            );
            // R5.5: the direction table, and the remote end is the public one.
            let up = match (src_public, dst_public) {
                (false, false) => panic!("LAN packet counted as traffic: {packet:?}"),
                (false, true) => true,
                (true, false) => false,
                (true, true) => packet.outgoing,
            };
            assert_eq!(direction == Direction::Up, up, "{packet:?}");
            let bytes = u64::from(packet.bytes);
            expected.packets_counted += 1;
            expected.total.add(direction, bytes);

            let hour = counter.clock().zone().hour_start(frame.unix_second);
            assert!(
                hour <= frame.unix_second && frame.unix_second - hour < 3600,
                "second {} put in the hour starting at {hour}",
                frame.unix_second
            );
            assert_eq!(
                counter.clock().clone().hour_of(frame.unix_second),
                hour,
                "the hour cache and the zone disagree"
            );

            if full {
                let (remote, slot) = if up { (packet.dst, 1) } else { (packet.src, 0) };
                let mut remote_expected = remotes_before[slot];
                if remote_expected == UpDown::default() {
                    expected.remote_count += 1;
                }
                remote_expected.add(direction, bytes);
                assert_eq!(remote_bytes(tally, remote), remote_expected);
                let mut hour_expected = hours_before.get(&hour).copied().unwrap_or_default();
                hour_expected.add(direction, bytes);
                assert_eq!(tally.hours().get(&hour).copied(), Some(hour_expected));
            } else if after.remote_count == before.remote_count + 1 {
                expected.remote_count += 1;
            }
        }
        (parsed, outcome) => panic!("parse gave {parsed:?} but count gave {outcome:?}"),
    }
    assert_eq!(after, expected, "the tally moved wrongly for {frame:?}");
}

/// What the rules guarantee about any frame that parses.
fn check_packet(frame: &Frame<'_>, packet: &Packet) {
    // The shortest link header of each link type; VLAN tags and PPPoE only add to it.
    let min_link_len: usize = match frame.link {
        LinkType::Ethernet => 14,
        LinkType::LinuxSll => 16,
        LinkType::LinuxSll2 => 20,
        LinkType::RawIp | LinkType::RawIpv4 | LinkType::RawIpv6 => 0,
        LinkType::Null => 4,
    };
    let min_ip_len = match packet.src {
        IpAddr::V4(_) => 20,
        IpAddr::V6(_) => 40,
    };
    assert_eq!(
        packet.src.is_ipv4(),
        packet.dst.is_ipv4(),
        "mixed families: {packet:?}"
    );
    match frame.link {
        LinkType::RawIpv4 => assert!(packet.src.is_ipv4()),
        LinkType::RawIpv6 => assert!(packet.src.is_ipv6()),
        _ => {}
    }
    assert!(
        frame.data.len() >= min_link_len + min_ip_len,
        "a {}-byte frame parsed as {packet:?}",
        frame.data.len()
    );
    // R1.4 and R4.1–R4.3: never more than the wire length behind the link header.
    let wire = u64::from(frame.meta.wire_len).max(frame.data.len() as u64);
    assert!(
        u64::from(packet.bytes) <= wire - min_link_len as u64,
        "{} bytes counted for a frame of {wire} bytes on the wire",
        packet.bytes
    );
    assert!(packet.bytes > 0, "a packet of zero bytes: {packet:?}");
    // The packet type comes from the SLL/SLL2 header when there is one, else from the source.
    let pkttype = match frame.link {
        LinkType::LinuxSll => u16::from_be_bytes([frame.data[0], frame.data[1]]),
        LinkType::LinuxSll2 => u16::from(frame.data[10]),
        _ => frame.meta.pkttype,
    };
    assert_eq!(packet.outgoing, pkttype == PACKET_OUTGOING, "{packet:?}");
    let with_transport = parse_frame_with_transport(frame.link, frame.data, &frame.meta);
    let Ok((same, transport)) = with_transport else {
        panic!("parse_frame_with_transport fails where parse_frame succeeds: {with_transport:?}");
    };
    assert_eq!(same, *packet, "the two entry points disagree");
    check_transport(frame, transport, min_link_len + min_ip_len);
}

/// The transport facts hold together, lie inside the captured bytes, and classify into a service
/// the rule allows for them, whatever the direction.
fn check_transport(frame: &Frame<'_>, transport: Transport, min_headers_len: usize) {
    // Counting keeps the transport header unread and reads the service straight from its bytes
    // for public traffic: it must be the facts' service, and the header must hold the facts.
    let mut header = TransportHeader::default();
    let parsed = parse_frame_and_transport(frame.link, frame.data, &frame.meta, &mut header);
    assert!(parsed.is_ok(), "the counting parse fails: {parsed:?}");
    assert_eq!(header.read::<Transport>(), transport, "{header:?}");
    for direction in [Direction::Up, Direction::Down] {
        assert_eq!(
            service::of_header(&header, direction),
            service::classify(&transport, Some(direction)),
            "{transport:?}"
        );
    }
    let ports = transport.ports();
    let flags = transport.tcp_flags();
    if transport.is_later_fragment() {
        assert!(ports.is_none() && flags.is_none(), "{transport:?}");
    }
    if ports.is_some() {
        assert!(
            matches!(transport.protocol(), protocol::TCP | protocol::UDP),
            "ports of protocol {}",
            transport.protocol()
        );
        assert!(frame.data.len() >= min_headers_len + 4, "{transport:?}");
    }
    if flags.is_some() {
        assert!(transport.protocol() == protocol::TCP && ports.is_some());
        assert!(frame.data.len() >= min_headers_len + 14, "{transport:?}");
    }
    for direction in [None, Some(Direction::Up), Some(Direction::Down)] {
        let service = service::classify(&transport, direction);
        assert_eq!(Service::from_name(service.name()), Some(service));
        let port = service::service_port(&transport, direction);
        if let (Some((src, dst)), Some(port)) = (ports, port) {
            assert!(port == src || port == dst, "{port} from {transport:?}");
        }
        let allowed = if transport.is_later_fragment() {
            service == Service::Fragment
        } else {
            match transport.protocol() {
                protocol::TCP => {
                    port.and_then(service::tcp_port)
                        .unwrap_or(Service::OtherTcp)
                        == service
                }
                protocol::UDP => {
                    port.and_then(service::udp_port)
                        .unwrap_or(Service::OtherUdp)
                        == service
                }
                protocol::ICMP | protocol::ICMPV6 => service == Service::Icmp,
                protocol::ESP => service == Service::Esp,
                protocol::GRE => service == Service::Gre,
                _ => service == Service::OtherIp,
            }
        };
        assert!(allowed, "{service:?} for {transport:?}");
    }
}

fn remote_bytes(tally: &FileTally, addr: IpAddr) -> UpDown {
    tally
        .remotes()
        .find(|(remote, _)| **remote == addr)
        .map(|(_, bytes)| *bytes)
        .unwrap_or_default()
}

/// Every counted byte is in exactly one hour and with exactly one remote address.
fn check_sums(tally: &FileTally) {
    let by_hour = sum(tally.hours().values());
    let by_remote = sum(tally.remotes().map(|(_, bytes)| bytes));
    assert_eq!(by_hour, tally.total, "hours do not add up to the total");
    assert_eq!(by_remote, tally.total, "remotes do not add up to the total");
}

fn sum<'a>(values: impl Iterator<Item = &'a UpDown>) -> UpDown {
    let mut total = UpDown::default();
    for bytes in values {
        total += *bytes;
    }
    total
}

/// Layout of a `stored_value` input: byte 0 picks the stored shape (modulo 4: a list of remote
/// addresses or devices, a month list of devices, a day's labels, a day's services), the rest is
/// the value as the history file might hold it, damaged or written by anything.
///
/// Asserted: nothing panics; a value that decodes encodes again to one that decodes to the same;
/// the walkers that sum without decoding accept exactly what the decoders accept (`find_labels`
/// at least that: it does not read the names it skips); and a `Tally` told to add only whole lists adds
/// nothing of one it cannot read.
pub fn stored_value(input: &[u8]) {
    use nettraffic_sentinel::store::schema::{
        RemoteBytes, decode_labels, decode_remotes, decode_services_keeping, each_month_device,
        each_remote, encode_labels, encode_month_devices, encode_remotes, encode_services_keeping,
        find_labels,
    };
    use nettraffic_sentinel::store::tally::Tally;
    let Some((&shape, value)) = input.split_first() else {
        return;
    };
    // 1900-02-10: a month list's days 29 to 31 do not exist in it.
    let date = nettraffic_sentinel::store::FIRST_DAY
        .with()
        .month(2)
        .day(10)
        .build()
        .expect("a date");
    match shape % 4 {
        0 => {
            let decoded = decode_remotes(value);
            assert_eq!(each_remote(value, |_, _| ()).is_some(), decoded.is_some());
            let mut tally = Tally::new();
            assert_eq!(tally.add_whole_list(value, date), decoded.is_some());
            let summed = tally.heaviest(usize::MAX).len();
            if let Some(list) = decoded {
                assert_eq!(decode_remotes(&encode_remotes(&list)), Some(list.clone()));
                let distinct: std::collections::HashSet<IpAddr> =
                    list.iter().map(|entry| entry.addr).collect();
                assert_eq!(summed, distinct.len());
            } else {
                assert_eq!(summed, 0, "a damaged list added something");
            }
        }
        1 => {
            let mut entries = Vec::new();
            let whole = each_month_device(value, |addr, bytes, day| {
                assert!((1..=31).contains(&day), "day {day} handed over");
                entries.push((
                    RemoteBytes {
                        addr: addr.into(),
                        bytes,
                    },
                    day,
                ));
            });
            let mut tally = Tally::new();
            assert_eq!(tally.add_whole_month_list(value, date), whole.is_some());
            let summed = tally.heaviest(usize::MAX);
            assert!(
                summed
                    .iter()
                    .all(|s| s.last.first_of_month() == date.first_of_month())
            );
            if whole.is_some() {
                let mut again = Vec::new();
                let reread =
                    each_month_device(&encode_month_devices(&entries), |addr, bytes, day| {
                        again.push((
                            RemoteBytes {
                                addr: addr.into(),
                                bytes,
                            },
                            day,
                        ));
                    });
                assert!(reread.is_some());
                assert_eq!(again, entries);
            } else {
                assert!(summed.is_empty(), "a damaged month list added something");
            }
        }
        2 => {
            let decoded = decode_labels(value);
            let mut found = 0usize;
            // Skipping labels nobody asked for does not read their names, so a name that is not
            // UTF-8 fails only the device it belongs to: the walk accepts at least what decodes.
            let walked = find_labels(value, |_| false, |_| found += 1).is_some();
            assert!(
                walked || decoded.is_none(),
                "a list that decodes failed the walk"
            );
            assert_eq!(found, 0, "a label nobody asked for was handed over");
            if let Some(labels) = decoded {
                assert_eq!(decode_labels(&encode_labels(&labels)), Some(labels));
            }
        }
        _ => {
            if let Some((services, unknown)) = decode_services_keeping(value) {
                let again = decode_services_keeping(&encode_services_keeping(&services, &unknown));
                assert_eq!(again, Some((services, unknown)));
            }
        }
    }
}
