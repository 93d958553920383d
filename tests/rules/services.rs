//! Service classification (issue 14) against a reference written here from the formats alone:
//! per-service byte totals of real captures, and hand-built frames for the parse facts the rule
//! rests on (IPv6 extension headers, fragments, snapped frames).
//!
//! The reference walks each pcap record's bytes itself (link layers, IPv4/IPv6, extension
//! headers, ports), decides direction with its own copy of the built-in non-public ranges and
//! applies the service rule with its own port table; it shares nothing with `parse`, `classify`
//! or `service` but the file reader. It is simpler than the crate (no claim to be fast), and the
//! test fails when the two disagree on any service's bytes of any capture.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::net::IpAddr;

use ipnet::IpNet;
use nettraffic_sentinel::capture::file::read_capture;
use nettraffic_sentinel::classify::{AddressClassifier, Direction, Verdict};
use nettraffic_sentinel::parse::{
    FrameMeta, LinkType, Transport, TransportHeader, parse_frame, parse_frame_and_transport,
    parse_frame_with_transport,
};
use nettraffic_sentinel::service::{self, Service};

use crate::support::{all_captures, capture, eth, ipv4, ipv6, padded, whole};

// ---------------------------------------------------------------------------------------------
// The reference
// ---------------------------------------------------------------------------------------------

/// Service name by (protocol, port), written from issue 14's list and docs/capture.md.
fn reference_port_name(protocol: u8, port: u16) -> Option<&'static str> {
    let tcp: &[(&str, &[u16])] = &[
        ("https", &[443]),
        ("http", &[80, 8080]),
        ("dns", &[53]),
        ("ssh", &[22]),
        ("openvpn", &[1194]),
        (
            "bittorrent",
            &[6881, 6882, 6883, 6884, 6885, 6886, 6887, 6888, 6889, 51413],
        ),
        ("plex", &[32400]),
        ("jellyfin", &[8096, 8920]),
        ("synology-dsm", &[5000, 5001]),
        ("smb", &[139, 445]),
        ("rsync", &[873]),
        ("smtp", &[25, 465, 587]),
        ("imap", &[143, 993]),
    ];
    let udp: &[(&str, &[u16])] = &[
        ("quic", &[443]),
        ("dns", &[53]),
        ("ntp", &[123]),
        ("stun", &[3478]),
        ("wireguard", &[51820]),
        ("tailscale", &[41641]),
        ("openvpn", &[1194]),
        (
            "bittorrent",
            &[6881, 6882, 6883, 6884, 6885, 6886, 6887, 6888, 6889, 51413],
        ),
    ];
    let table = match protocol {
        6 => tcp,
        17 => udp,
        _ => return None,
    };
    table
        .iter()
        .find(|(_, ports)| ports.contains(&port))
        .map(|(name, _)| *name)
}

/// What the reference reads from one frame.
#[derive(Debug)]
struct RefPacket {
    src: IpAddr,
    dst: IpAddr,
    bytes: u64,
    outgoing: bool,
    protocol: u8,
    later_fragment: bool,
    ports: Option<(u16, u16)>,
    tcp_flags: Option<u8>,
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
}

/// Link layer → (offset of the IP header, required version or 0 for either, packet type).
fn reference_link(link: LinkType, frame: &[u8]) -> Option<(usize, u8, u16)> {
    let version_of = |ethertype: u16| match ethertype {
        0x0800 => Some(4),
        0x86dd => Some(6),
        _ => None,
    };
    match link {
        LinkType::Ethernet => {
            let mut at = 12;
            let mut ethertype = u16_at(frame, at)?;
            let mut tags = 0;
            while matches!(ethertype, 0x8100 | 0x88a8 | 0x9100) && tags < 2 {
                at += 4;
                ethertype = u16_at(frame, at)?;
                tags += 1;
            }
            at += 2;
            if ethertype == 0x8864 {
                // PPPoE session: 6 header bytes, then a PPP protocol of 1 (odd first byte) or 2.
                at += 6;
                let first = *frame.get(at)?;
                let (ppp, len) = if first % 2 == 1 {
                    (u16::from(first), 1)
                } else {
                    (u16_at(frame, at)?, 2)
                };
                let version = match ppp {
                    0x21 => 4,
                    0x57 => 6,
                    _ => return None,
                };
                return Some((at + len, version, 0));
            }
            Some((at, version_of(ethertype)?, 0))
        }
        LinkType::LinuxSll => Some((16, version_of(u16_at(frame, 14)?)?, u16_at(frame, 0)?)),
        LinkType::LinuxSll2 => {
            frame.get(19)?;
            Some((20, version_of(u16_at(frame, 0)?)?, u16::from(frame[10])))
        }
        LinkType::RawIp => Some((0, 0, 0)),
        LinkType::RawIpv4 => Some((0, 4, 0)),
        LinkType::RawIpv6 => Some((0, 6, 0)),
        LinkType::Null => {
            let family = match frame.get(..4)? {
                [f, 0, 0, 0] | [0, 0, 0, f] => *f,
                _ => return None,
            };
            match family {
                2 => Some((4, 4, 0)),
                24 | 28 | 30 => Some((4, 6, 0)),
                _ => None,
            }
        }
    }
}

/// Ports and TCP flags at the start of a transport header, as far as captured.
fn reference_ports(protocol: u8, segment: &[u8]) -> (Option<(u16, u16)>, Option<u8>) {
    if protocol != 6 && protocol != 17 || segment.len() < 4 {
        return (None, None);
    }
    let ports = Some((u16_at(segment, 0).unwrap(), u16_at(segment, 2).unwrap()));
    let flags = if protocol == 6 {
        segment.get(13).copied()
    } else {
        None
    };
    (ports, flags)
}

/// One frame as the reference sees it; `None` when it is not a countable IP packet.
fn reference_packet(link: LinkType, frame: &[u8], wire_len: u32) -> Option<RefPacket> {
    let (offset, mut version, pkttype) = reference_link(link, frame)?;
    let ip = frame.get(offset..).unwrap_or(&[]);
    let wire_ip = u64::from(wire_len.max(frame.len() as u32)).saturating_sub(offset as u64);
    if version == 0 {
        version = ip.first()? >> 4;
    }
    if ip.first().map(|b| b >> 4) != Some(version) {
        return None;
    }
    let claimed;
    let (src, dst, protocol, later_fragment, ports, flags);
    if version == 4 {
        if ip.len() < 20 || ip[0] & 0x0f < 5 {
            return None;
        }
        let header_len = usize::from(ip[0] & 0x0f) * 4;
        claimed = u64::from(u16_at(ip, 2)?);
        src = IpAddr::from(<[u8; 4]>::try_from(&ip[12..16]).unwrap());
        dst = IpAddr::from(<[u8; 4]>::try_from(&ip[16..20]).unwrap());
        protocol = ip[9];
        later_fragment = u16_at(ip, 6)? & 0x1fff != 0;
        let end = if claimed as usize >= header_len {
            (claimed as usize).min(ip.len())
        } else {
            ip.len()
        };
        (ports, flags) = if later_fragment || header_len > end {
            (None, None)
        } else {
            reference_ports(protocol, &ip[header_len..end])
        };
    } else if version == 6 {
        if ip.len() < 40 {
            return None;
        }
        let payload = u64::from(u16_at(ip, 4)?);
        claimed = if payload == 0 { 0 } else { payload + 40 };
        src = IpAddr::from(<[u8; 16]>::try_from(&ip[8..24]).unwrap());
        dst = IpAddr::from(<[u8; 16]>::try_from(&ip[24..40]).unwrap());
        let end = if claimed == 0 {
            ip.len()
        } else {
            (claimed as usize).min(ip.len())
        };
        let packet = &ip[..end];
        let mut next = ip[6];
        let mut at = 40;
        let mut later = false;
        let mut cut = false;
        for _ in 0..8 {
            match next {
                0 | 43 | 60 => match (packet.get(at), packet.get(at + 1)) {
                    (Some(&n), Some(&len)) => {
                        next = n;
                        at += 8 * (usize::from(len) + 1);
                    }
                    _ => {
                        cut = true;
                        break;
                    }
                },
                44 => {
                    if packet.len() < at + 4 {
                        cut = true;
                        break;
                    }
                    next = packet[at];
                    if u16_at(packet, at + 2).unwrap() >> 3 != 0 {
                        later = true;
                        break;
                    }
                    at += 8;
                }
                _ => break,
            }
        }
        protocol = next;
        later_fragment = later;
        (ports, flags) = if later || cut {
            (None, None)
        } else {
            reference_ports(next, packet.get(at..).unwrap_or(&[]))
        };
    } else {
        return None;
    }
    let bytes = if claimed == 0 || claimed > wire_ip {
        wire_ip
    } else {
        claimed
    };
    Some(RefPacket {
        src,
        dst,
        bytes,
        outgoing: pkttype == 4,
        protocol,
        later_fragment,
        ports,
        tcp_flags: flags,
    })
}

/// The built-in non-public ranges (SPEC §2), copied here.
fn reference_is_public(addr: IpAddr) -> bool {
    const RANGES: &[&str] = &[
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "fe80::/10",
        "fc00::/7",
        "ff00::/8",
    ];
    // An IPv4-mapped IPv6 address is the IPv4 address (R5.4).
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    };
    !RANGES
        .iter()
        .any(|range| range.parse::<IpNet>().unwrap().contains(&addr))
}

/// Which end is remote: `Some(true)` the destination, `Some(false)` the source, `None` for LAN.
fn reference_remote_is_destination(packet: &RefPacket) -> Option<bool> {
    match (
        reference_is_public(packet.src),
        reference_is_public(packet.dst),
    ) {
        (false, false) => None,
        (false, true) => Some(true),
        (true, false) => Some(false),
        (true, true) => Some(packet.outgoing),
    }
}

/// The service rule of docs/capture.md, written again.
fn reference_service(packet: &RefPacket) -> &'static str {
    if packet.later_fragment {
        return "fragment";
    }
    let other = match packet.protocol {
        6 => "other-tcp",
        17 => "other-udp",
        1 | 58 => return "icmp",
        50 => return "esp",
        47 => return "gre",
        _ => return "other-ip",
    };
    let Some((src, dst)) = packet.ports else {
        return other;
    };
    let syn = packet.protocol == 6 && packet.tcp_flags.is_some_and(|f| f & 0x12 == 0x02);
    let syn_ack = packet.protocol == 6 && packet.tcp_flags.is_some_and(|f| f & 0x12 == 0x12);
    let known = |port| reference_port_name(packet.protocol, port).is_some();
    let port = if syn {
        dst
    } else if syn_ack {
        src
    } else if known(src) != known(dst) {
        if known(src) { src } else { dst }
    } else if src.min(dst) < 1024 {
        src.min(dst)
    } else {
        match reference_remote_is_destination(packet) {
            Some(true) => dst,
            Some(false) => src,
            None => src.min(dst),
        }
    };
    reference_port_name(packet.protocol, port).unwrap_or(other)
}

// ---------------------------------------------------------------------------------------------
// The crate, and the comparison
// ---------------------------------------------------------------------------------------------

type Totals = BTreeMap<&'static str, u64>;

/// Per-service bytes of a capture by the crate and by the reference.
fn totals(path: &std::path::Path) -> Option<(Totals, Totals)> {
    let classifier = AddressClassifier::default();
    let (mut ours, mut reference) = (Totals::new(), Totals::new());
    let file = File::open(path).expect("open a capture");
    read_capture(BufReader::new(file), |record| {
        let meta = FrameMeta {
            wire_len: record.wire_len,
            ..FrameMeta::default()
        };
        let parsed = parse_frame_with_transport(record.link, record.data, &meta);
        assert_eq!(
            parsed.map(|(packet, _)| packet),
            parse_frame(record.link, record.data, &meta),
            "the two entry points disagree"
        );
        if let Ok((packet, transport)) = parsed {
            // Counting keeps the header unread and reads the service straight from its bytes:
            // the same as from the facts.
            let mut header = TransportHeader::default();
            let again = parse_frame_and_transport(record.link, record.data, &meta, &mut header);
            assert_eq!(again, Ok(packet), "the counting parse disagrees");
            assert_eq!(header.read::<Transport>(), transport);
            for direction in [Direction::Up, Direction::Down] {
                assert_eq!(
                    service::of_header(&header, direction),
                    service::classify(&transport, Some(direction)),
                    "{transport:?}"
                );
            }
            let direction = match classifier.verdict(&packet) {
                Verdict::Lan => None,
                Verdict::Traffic { direction, .. } => Some(direction),
            };
            let service = service::classify(&transport, direction);
            *ours.entry(service.name()).or_default() += u64::from(packet.bytes);
        }
        if let Some(packet) = reference_packet(record.link, record.data, record.wire_len) {
            *reference.entry(reference_service(&packet)).or_default() += packet.bytes;
        }
    })
    .ok()?;
    Some((ours, reference))
}

fn every_capture_has_the_reference_bytes_per_service() {
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for path in all_captures() {
        let Some((ours, reference)) = totals(&path) else {
            continue;
        };
        compared += 1;
        if ours != reference {
            mismatches.push(format!(
                "{}:\n  reference {reference:?}\n  ours      {ours:?}",
                path.display()
            ));
        }
    }
    assert!(compared >= 40, "only {compared} captures read");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Up and down bytes by name (service or device address), as `report --json` lists them.
type Breakdown = BTreeMap<String, (u64, u64)>;

/// The reference's public bytes of a capture by service and by device (the local end: the
/// source of an upload, the destination of a download), or `None` when the file is unreadable.
fn reference_breakdowns(path: &std::path::Path) -> Option<(Breakdown, Breakdown)> {
    let (mut services, mut devices) = (Breakdown::new(), Breakdown::new());
    let file = File::open(path).expect("open a capture");
    read_capture(BufReader::new(file), |record| {
        let Some(packet) = reference_packet(record.link, record.data, record.wire_len) else {
            return;
        };
        let Some(remote_is_destination) = reference_remote_is_destination(&packet) else {
            return;
        };
        let (local, up) = if remote_is_destination {
            (packet.src, true)
        } else {
            (packet.dst, false)
        };
        for (map, key) in [
            (&mut services, reference_service(&packet).to_string()),
            (&mut devices, local.to_string()),
        ] {
            let entry = map.entry(key).or_default();
            if up {
                entry.0 += packet.bytes;
            } else {
                entry.1 += packet.bytes;
            }
        }
    })
    .ok()?;
    Some((services, devices))
}

/// One breakdown of a `report --json` line.
fn breakdown_of(report: &serde_json::Value, field: &str) -> Breakdown {
    report[field]
        .as_object()
        .unwrap_or_else(|| panic!("report has {field}: {report}"))
        .iter()
        .map(|(name, bytes)| {
            let count = |key: &str| bytes[key].as_u64().expect("a byte count");
            (name.clone(), (count("up_bytes"), count("down_bytes")))
        })
        .collect()
}

/// `report --json` (the real binary: ring-independent counting, the same `Counter` as live
/// capture) lists each capture's public bytes by service and by device exactly as the reference
/// counts them, and each breakdown adds up to the file's upload and download totals.
fn report_breakdowns_equal_the_reference_by_service_and_device() {
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for path in all_captures() {
        let Some((services, devices)) = reference_breakdowns(&path) else {
            continue;
        };
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"))
            .args(["report", "--json"])
            .arg(&path)
            .env_remove("LOCAL_PREFIXES")
            .env_remove("EXCLUDE_IPV6_PREFIX")
            .env("TZ", "UTC")
            .output()
            .expect("the binary runs");
        let report: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("report --json is JSON");
        let totals = (
            report["up_bytes"].as_u64().expect("up_bytes"),
            report["down_bytes"].as_u64().expect("down_bytes"),
        );
        for (field, reference) in [("services", &services), ("devices", &devices)] {
            let ours = breakdown_of(&report, field);
            if &ours != reference {
                mismatches.push(format!(
                    "{} {field}:\n  reference {reference:?}\n  report    {ours:?}",
                    path.display()
                ));
            }
            let sum = ours
                .values()
                .fold((0, 0), |(up, down), (u, d)| (up + u, down + d));
            if sum != totals {
                mismatches.push(format!(
                    "{} {field} add up to {sum:?}, the totals are {totals:?}",
                    path.display()
                ));
            }
        }
        compared += 1;
    }
    assert!(compared >= 40, "only {compared} captures compared");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// The captures the issue names cover what they are meant to (so the comparison above is not
/// vacuous): each has bytes in the services listed.
fn named_captures_reach_their_services() {
    let cases: &[(&str, &[&str])] = &[
        ("sv-bug-4810-pppoe-session-http.pcap", &["http"]),
        ("sv-decode-sll2-01.pcap", &["http"]),
        ("sv-defrag-ipv4-raw228-frag.pcap", &["fragment"]),
        ("zeek-q-in-q.pcap", &["other-udp"]),
        ("zeek-ipv6-http-atomic-frag.pcap", &["http"]),
        ("tcpdump-gquic.pcap", &["quic"]),
        ("zeek-ipv4-fragmented-4.pcap", &["fragment"]),
        ("sv-smtp-errors-smtperr.pcap", &["smtp"]),
        ("zeek-http-206_example_b.pcap", &["http"]),
        ("sv-issue-3341-urgent11-sll.pcap", &["https"]),
        ("zeek-icmp-5-pings.pcap", &["icmp"]),
        ("zeek-ssh-ssh.pcap", &["ssh"]),
        ("zeek-tunnels-gre-sample.pcap", &["gre"]),
        ("zeek-ticks-dns-1hr.pcap", &["dns"]),
    ];
    let mut missing = Vec::new();
    for (name, services) in cases {
        let (ours, reference) = totals(&capture(name)).expect("a readable capture");
        assert_eq!(ours, reference, "{name}");
        for service in *services {
            if ours.get(service).is_none_or(|&bytes| bytes == 0) {
                missing.push(format!("{name}: no {service} bytes in {ours:?}"));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Hand-built frames
// ---------------------------------------------------------------------------------------------

fn transport_of(link: LinkType, frame: &[u8]) -> Transport {
    parse_frame_with_transport(link, frame, &whole(frame))
        .expect("an IP packet")
        .1
}

/// A TCP header (20 bytes) with ports and flags.
fn tcp_header(src: u16, dst: u16, flags: u8) -> Vec<u8> {
    let mut header = vec![0u8; 20];
    header[0..2].copy_from_slice(&src.to_be_bytes());
    header[2..4].copy_from_slice(&dst.to_be_bytes());
    header[12] = 0x50;
    header[13] = flags;
    header
}

/// An IPv4 packet of `protocol` around `payload`, with the fragment field given.
fn ipv4_with(protocol: u8, fragment: u16, payload: &[u8]) -> Vec<u8> {
    let mut packet = ipv4("192.168.1.2", "203.0.113.9", (20 + payload.len()) as u16);
    packet[6..8].copy_from_slice(&fragment.to_be_bytes());
    packet[9] = protocol;
    packet.extend_from_slice(payload);
    packet
}

/// An IPv6 packet whose first next header is `next`, around `payload`.
fn ipv6_with(next: u8, payload: &[u8]) -> Vec<u8> {
    let mut packet = ipv6("2001:db8::2", "2606:4700::1", payload.len() as u16);
    packet[6] = next;
    packet.extend_from_slice(payload);
    packet
}

fn transport_facts_fit_in_eight_bytes() {
    assert_eq!(std::mem::size_of::<Transport>(), 8);
}

fn ipv4_tcp_and_udp_give_protocol_ports_and_flags() {
    let syn = eth(0x0800, &ipv4_with(6, 0, &tcp_header(50_000, 443, 0x02)));
    let t = transport_of(LinkType::Ethernet, &syn);
    assert_eq!(
        (
            t.protocol(),
            t.ports(),
            t.tcp_flags(),
            t.is_later_fragment()
        ),
        (6, Some((50_000, 443)), Some(0x02), false)
    );
    assert_eq!(service::classify(&t, Some(Direction::Up)), Service::Https);

    let udp = eth(0x0800, &ipv4_with(17, 0, &[0xc3, 0x50, 0, 53, 0, 8, 0, 0]));
    let t = transport_of(LinkType::Ethernet, &udp);
    assert_eq!(
        (t.protocol(), t.ports(), t.tcp_flags()),
        (17, Some((50_000, 53)), None)
    );
    assert_eq!(service::classify(&t, Some(Direction::Up)), Service::Dns);

    // IPv4 options move the transport header: IHL 6.
    let mut with_options = ipv4_with(6, 0, &padded(&[0; 4], 0));
    with_options[0] = 0x46;
    with_options.extend_from_slice(&tcp_header(22, 50_000, 0x12));
    let total = with_options.len() as u16;
    with_options[2..4].copy_from_slice(&total.to_be_bytes());
    let t = transport_of(LinkType::RawIpv4, &with_options);
    assert_eq!((t.ports(), t.tcp_flags()), (Some((22, 50_000)), Some(0x12)));
    assert_eq!(service::classify(&t, None), Service::Ssh);
}

fn ipv4_fragments_after_the_first_have_no_ports() {
    let first = ipv4_with(17, 0x2000, &[0, 123, 0, 123, 0, 8, 0, 0]);
    let t = transport_of(LinkType::RawIpv4, &first);
    assert_eq!(
        (t.ports(), t.is_later_fragment()),
        (Some((123, 123)), false)
    );
    assert_eq!(service::classify(&t, None), Service::Ntp);
    // Offset 1 (8 bytes), MF set or not: the payload is not a UDP header.
    for fragment in [0x2001, 0x0001, 0x1fff] {
        let later = ipv4_with(17, fragment, &[0, 123, 0, 123, 0, 8, 0, 0]);
        let t = transport_of(LinkType::RawIpv4, &later);
        assert_eq!(
            (t.protocol(), t.ports(), t.is_later_fragment()),
            (17, None, true)
        );
        assert_eq!(service::classify(&t, None), Service::Fragment);
    }
}

fn other_protocols_get_their_classes() {
    for (protocol, expected) in [
        (1, Service::Icmp),
        (50, Service::Esp),
        (47, Service::Gre),
        (2, Service::OtherIp),
        (51, Service::OtherIp),
        (41, Service::OtherIp),
    ] {
        let packet = ipv4_with(protocol, 0, &[0; 16]);
        let t = transport_of(LinkType::RawIp, &packet);
        assert_eq!((t.protocol(), t.ports()), (protocol, None));
        assert_eq!(service::classify(&t, None), expected, "protocol {protocol}");
    }
    let icmpv6 = ipv6_with(58, &[128, 0, 0, 0, 0, 0, 0, 0]);
    let t = transport_of(LinkType::RawIpv6, &icmpv6);
    assert_eq!(service::classify(&t, None), Service::Icmp);
}

fn ipv6_extension_headers_are_walked_to_the_transport_header() {
    // Hop-by-hop (8 bytes) → routing (24 bytes) → destination options (8) → fragment (offset 0,
    // M set) → UDP to 51820.
    let mut chain = vec![43, 0, 0, 0, 0, 0, 0, 0];
    chain.extend_from_slice(&[60, 2]);
    chain.extend_from_slice(&[0; 22]);
    chain.extend_from_slice(&[44, 0, 0, 0, 0, 0, 0, 0]);
    chain.extend_from_slice(&[17, 0, 0x00, 0x01, 0, 0, 0, 1]);
    chain.extend_from_slice(&[0xc3, 0x50, 0xca, 0x6c, 0, 8, 0, 0]);
    let packet = eth(0x86dd, &ipv6_with(0, &chain));
    let t = transport_of(LinkType::Ethernet, &packet);
    assert_eq!(
        (t.protocol(), t.ports(), t.is_later_fragment()),
        (17, Some((50_000, 51_820)), false)
    );
    assert_eq!(
        service::classify(&t, Some(Direction::Up)),
        Service::WireGuard
    );

    // The same chain with a fragment offset of 1: a later fragment, its protocol still known.
    let mut later = chain.clone();
    later[40 + 3] = 0x08;
    let t = transport_of(LinkType::Ethernet, &eth(0x86dd, &ipv6_with(0, &later)));
    assert_eq!(
        (t.protocol(), t.ports(), t.is_later_fragment()),
        (17, None, true)
    );
    assert_eq!(service::classify(&t, None), Service::Fragment);

    // Atomic fragment (offset 0, M clear) before TCP.
    let mut atomic = vec![6, 0, 0, 0, 0, 0, 0, 9];
    atomic.extend_from_slice(&tcp_header(80, 50_000, 0x10));
    let t = transport_of(LinkType::RawIpv6, &ipv6_with(44, &atomic));
    assert_eq!((t.protocol(), t.ports()), (6, Some((80, 50_000))));
    assert_eq!(service::classify(&t, None), Service::Http);
}

fn ipv6_chains_that_are_cut_or_too_long_stop_without_ports() {
    // A routing header claiming more bytes than the packet has: the transport header is not there.
    let cut = ipv6_with(43, &[17, 200, 0, 0, 0, 0, 0, 0, 0, 53, 0, 53]);
    let t = transport_of(LinkType::RawIpv6, &cut);
    assert_eq!((t.protocol(), t.ports()), (17, None));
    assert_eq!(service::classify(&t, None), Service::OtherUdp);
    // A chain cut in the middle of an extension header's first bytes.
    let t = transport_of(LinkType::RawIpv6, &ipv6_with(60, &[]));
    assert_eq!((t.protocol(), t.ports()), (60, None));
    assert_eq!(service::classify(&t, None), Service::OtherIp);
    // Nine destination-options headers: more than the parser walks.
    let mut long = Vec::new();
    for _ in 0..8 {
        long.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 0]);
    }
    long.extend_from_slice(&[17, 0, 0, 0, 0, 0, 0, 0]);
    long.extend_from_slice(&[0, 53, 0, 53, 0, 8, 0, 0]);
    let t = transport_of(LinkType::RawIpv6, &ipv6_with(60, &long));
    assert_eq!((t.protocol(), t.ports()), (60, None));
    assert_eq!(service::classify(&t, None), Service::OtherIp);
}

fn snapped_frames_and_padding_leave_ports_unknown() {
    let full = eth(0x0800, &ipv4_with(6, 0, &tcp_header(50_000, 443, 0x02)));
    // 14 + 20 + n bytes captured of a frame that was longer on the wire.
    for (captured, ports, flags) in [
        (34, None, None),
        (37, None, None),
        (38, Some((50_000, 443)), None),
        (47, Some((50_000, 443)), None),
        (48, Some((50_000, 443)), Some(0x02)),
    ] {
        let snapped = &full[..captured];
        let meta = FrameMeta {
            wire_len: full.len() as u32,
            ..FrameMeta::default()
        };
        let (packet, t) =
            parse_frame_with_transport(LinkType::Ethernet, snapped, &meta).expect("an IP packet");
        assert_eq!(packet.bytes, 40, "the bytes do not depend on the snap");
        assert_eq!(
            (t.protocol(), t.ports(), t.tcp_flags()),
            (6, ports, flags),
            "{captured}"
        );
    }
    let header_only = &full[..34];
    let (_, t) = parse_frame_with_transport(
        LinkType::Ethernet,
        header_only,
        &FrameMeta {
            wire_len: 54,
            ..FrameMeta::default()
        },
    )
    .expect("an IP packet");
    assert_eq!(service::classify(&t, None), Service::OtherTcp);

    // A Total Length of 20 with Ethernet padding after it: the padding is not a UDP header.
    let mut padded_frame = eth(0x0800, &ipv4_with(17, 0, &[]));
    padded_frame.extend_from_slice(&[0, 53, 0, 53, 0, 0, 0, 0, 0, 0, 0, 0]);
    let t = transport_of(LinkType::Ethernet, &padded_frame);
    assert_eq!((t.protocol(), t.ports()), (17, None));
    // The same for IPv6: Payload Length 0 is "unknown", so the captured bytes count there.
    let mut v6 = ipv6_with(17, &[0, 53, 0, 53, 0, 8, 0, 0]);
    v6[4..6].copy_from_slice(&4u16.to_be_bytes());
    let t = transport_of(LinkType::RawIpv6, &v6);
    assert_eq!(t.ports(), Some((53, 53)));
    v6[4..6].copy_from_slice(&3u16.to_be_bytes());
    let t = transport_of(LinkType::RawIpv6, &v6);
    assert_eq!(t.ports(), None);
    v6[4..6].copy_from_slice(&0u16.to_be_bytes());
    let t = transport_of(LinkType::RawIpv6, &v6);
    assert_eq!(t.ports(), Some((53, 53)));
}

fn the_reference_agrees_on_the_hand_built_frames() {
    // The reference must read the same facts as the crate here too, or the corpus test above
    // could be agreeing by accident.
    let frames = [
        eth(0x0800, &ipv4_with(6, 0, &tcp_header(50_000, 443, 0x02))),
        eth(0x0800, &ipv4_with(17, 0x0001, &[0; 8])),
        eth(
            0x86dd,
            &ipv6_with(44, &[6, 0, 0, 0, 0, 0, 0, 9, 0, 80, 0xc3, 0x50]),
        ),
    ];
    for frame in &frames {
        let ours = transport_of(LinkType::Ethernet, frame);
        let reference =
            reference_packet(LinkType::Ethernet, frame, frame.len() as u32).expect("an IP packet");
        assert_eq!(
            (ours.protocol(), ours.ports(), ours.is_later_fragment()),
            (
                reference.protocol,
                reference.ports,
                reference.later_fragment
            )
        );
    }
}

tests! {
    every_capture_has_the_reference_bytes_per_service,
    report_breakdowns_equal_the_reference_by_service_and_device,
    named_captures_reach_their_services,
    transport_facts_fit_in_eight_bytes,
    ipv4_tcp_and_udp_give_protocol_ports_and_flags,
    ipv4_fragments_after_the_first_have_no_ports,
    other_protocols_get_their_classes,
    ipv6_extension_headers_are_walked_to_the_transport_header,
    ipv6_chains_that_are_cut_or_too_long_stop_without_ports,
    snapped_frames_and_padding_leave_ports_unknown,
    the_reference_agrees_on_the_hand_built_frames,
}
