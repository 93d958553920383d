//! Hand-built frames through `parse::parse_frame` and `count::Counter::count` into a
//! `count::FileTally`, one test per counting rule of `pcaps/README.md` sections 2–5 and SPEC §2:
//! every link layer and how long its header is, what is "not IP" and what is "malformed", the
//! byte rule R4 (padding, zero and oversized lengths, snapped captures, R1.4's wire length), and
//! every direction case of R5.5 including the Linux packet type.
//!
//! Expected byte counts are derived from the bytes each test builds. A recurring trick: an IPv4
//! Total Length of 0 makes the counted bytes `W = wire length − L`, so a frame captured whole
//! reveals the link-header length `L` the parser used.

use crate::support::*;
use nettraffic_sentinel::classify::{AddressClassifier, Direction};
use nettraffic_sentinel::clock::{HourClock, Zone};
use nettraffic_sentinel::count::{Counter, FileTally, Frame, Outcome};
use nettraffic_sentinel::parse::{FrameMeta, LinkType, PACKET_OUTGOING, Packet, Skip, parse_frame};

const LAN_HOST: &str = "192.168.1.10";
const LAN_PEER: &str = "192.168.1.20";
const INTERNET: &str = "203.0.113.5";
const INTERNET_2: &str = "198.51.100.7";
const LAN_HOST_V6: &str = "fd00::10";
const INTERNET_V6: &str = "2001:db8::5";

/// Parse a frame captured whole (wire length = captured length).
fn parse_whole(link: LinkType, frame: &[u8]) -> Result<Packet, Skip> {
    parse_frame(link, frame, &whole(frame))
}

/// An upload IPv4 packet (LAN host → internet) with Total Length 0 and 30 payload bytes:
/// whatever link layer carries it, it counts `W = 20 + 30 = 50` bytes when captured whole.
fn upload_v4_zero_len() -> Vec<u8> {
    padded(&ipv4(LAN_HOST, INTERNET, 0), 30)
}

/// The IPv6 counterpart: Payload Length 0 and 60 payload bytes, so `W = 40 + 60 = 100`.
fn upload_v6_zero_len() -> Vec<u8> {
    padded(&ipv6(LAN_HOST_V6, INTERNET_V6, 0), 60)
}

fn assert_upload_v4(result: Result<Packet, Skip>, bytes: u32) {
    let packet = result.expect("an IPv4 packet");
    assert_eq!(packet.src, ip(LAN_HOST));
    assert_eq!(packet.dst, ip(INTERNET));
    assert_eq!(packet.bytes, bytes);
}

fn assert_upload_v6(result: Result<Packet, Skip>, bytes: u32) {
    let packet = result.expect("an IPv6 packet");
    assert_eq!(packet.src, ip(LAN_HOST_V6));
    assert_eq!(packet.dst, ip(INTERNET_V6));
    assert_eq!(packet.bytes, bytes);
}

/// Count a frame captured whole and check it was ignored as not IP: it must leave no trace in
/// the tally (packets_total is the source's business, so the tally stays all zero).
fn assert_not_ip(link: LinkType, frame: &[u8]) {
    assert_eq!(parse_whole(link, frame), Err(Skip::NotIp), "{frame:02x?}");
    let (outcome, tally) = count_one(link, frame, whole(frame));
    assert_eq!(outcome, Outcome::NotIp);
    assert_untouched(&tally);
}

/// Count a frame captured whole and check it was counted as malformed and nothing else.
fn assert_malformed(link: LinkType, frame: &[u8]) {
    assert_eq!(
        parse_whole(link, frame),
        Err(Skip::Malformed),
        "{frame:02x?}"
    );
    let (outcome, tally) = count_one(link, frame, whole(frame));
    assert_eq!(outcome, Outcome::Malformed);
    assert_eq!(tally.malformed, 1);
    assert_eq!(tally.packets_counted, 0);
    assert_eq!(tally.lan_bytes, 0);
    assert_eq!(tally.total, up_down(0, 0));
    assert!(tally.hours().is_empty());
    assert_eq!(tally.remote_count(), 0);
}

fn assert_untouched(tally: &FileTally) {
    assert_eq!(tally.malformed, 0);
    assert_eq!(tally.packets_counted, 0);
    assert_eq!(tally.lan_bytes, 0);
    assert_eq!(tally.total, up_down(0, 0));
    assert!(tally.hours().is_empty());
    assert_eq!(tally.remote_count(), 0);
}

// ---------------------------------------------------------------------------------------------
// Link types
// ---------------------------------------------------------------------------------------------

fn link_type_numbers_map_to_the_supported_link_layers() {
    assert_eq!(LinkType::from_dlt(1), Some(LinkType::Ethernet));
    assert_eq!(LinkType::from_dlt(113), Some(LinkType::LinuxSll));
    assert_eq!(LinkType::from_dlt(276), Some(LinkType::LinuxSll2));
    for raw in [101, 12, 14] {
        assert_eq!(LinkType::from_dlt(raw), Some(LinkType::RawIp), "DLT {raw}");
    }
    assert_eq!(LinkType::from_dlt(228), Some(LinkType::RawIpv4));
    assert_eq!(LinkType::from_dlt(229), Some(LinkType::RawIpv6));
    assert_eq!(LinkType::from_dlt(0), Some(LinkType::Null));
    assert_eq!(LinkType::from_dlt(108), Some(LinkType::Null));
    // R2.1: anything else is unsupported (802.11 radiotap, PPP, the DLT 274 of the corpus).
    for unsupported in [2, 9, 105, 127, 274, 0x10001] {
        assert_eq!(LinkType::from_dlt(unsupported), None, "DLT {unsupported}");
    }
}

// ---------------------------------------------------------------------------------------------
// Ethernet, VLAN tags
// ---------------------------------------------------------------------------------------------

fn ethernet_ipv4_counts_the_total_length() {
    // 20-byte header + 80 payload: Total Length 100.
    let frame = eth(ETHERTYPE_IPV4, &ipv4_packet(LAN_HOST, INTERNET, 80));
    assert_upload_v4(parse_whole(LinkType::Ethernet, &frame), 100);
    // L = 14: W = 114 − 14 = 100 when the length field is 0.
    let frame = eth(ETHERTYPE_IPV4, &upload_v4_zero_len());
    assert_upload_v4(parse_whole(LinkType::Ethernet, &frame), 50);
}

fn ethernet_ipv6_counts_payload_length_plus_40() {
    // Payload Length 100 → 140 bytes.
    let frame = eth(ETHERTYPE_IPV6, &ipv6_packet(LAN_HOST_V6, INTERNET_V6, 100));
    assert_upload_v6(parse_whole(LinkType::Ethernet, &frame), 140);
    let frame = eth(ETHERTYPE_IPV6, &upload_v6_zero_len());
    assert_upload_v6(parse_whole(LinkType::Ethernet, &frame), 100);
}

fn one_vlan_tag_of_each_tpid_is_skipped() {
    for tpid in [0x8100, 0x88a8, 0x9100] {
        let frame = eth_tagged(&[tpid], ETHERTYPE_IPV4, &upload_v4_zero_len());
        // L = 14 + 4 = 18; the frame is 18 + 50 bytes, so W = 50.
        assert_eq!(frame.len(), 68);
        assert_upload_v4(parse_whole(LinkType::Ethernet, &frame), 50);
        let frame = eth_tagged(&[tpid], ETHERTYPE_IPV6, &upload_v6_zero_len());
        assert_upload_v6(parse_whole(LinkType::Ethernet, &frame), 100);
    }
}

fn two_vlan_tags_of_every_tpid_pair_are_skipped() {
    for outer in [0x8100, 0x88a8, 0x9100] {
        for inner in [0x8100, 0x88a8, 0x9100] {
            let frame = eth_tagged(&[outer, inner], ETHERTYPE_IPV4, &upload_v4_zero_len());
            // L = 14 + 2 × 4 = 22.
            assert_eq!(frame.len(), 22 + 50);
            assert_upload_v4(parse_whole(LinkType::Ethernet, &frame), 50);
        }
    }
}

fn a_third_vlan_tag_is_not_ip() {
    for third in [0x8100, 0x88a8, 0x9100] {
        let frame = eth_tagged(
            &[0x88a8, 0x8100, third],
            ETHERTYPE_IPV4,
            &upload_v4_zero_len(),
        );
        assert_not_ip(LinkType::Ethernet, &frame);
    }
}

fn a_tag_stripped_by_the_kernel_counts_toward_the_two_tag_limit() {
    let stripped = |frame: &[u8]| FrameMeta {
        vlan_stripped: true,
        ..whole(frame)
    };
    // Stripped + none left in the frame: plain Ethernet, L = 14.
    let frame = eth(ETHERTYPE_IPV4, &upload_v4_zero_len());
    assert_upload_v4(
        parse_frame(LinkType::Ethernet, &frame, &stripped(&frame)),
        50,
    );
    // Stripped + one in the frame = two tags: allowed, L = 18.
    let frame = eth_tagged(&[0x8100], ETHERTYPE_IPV4, &upload_v4_zero_len());
    assert_upload_v4(
        parse_frame(LinkType::Ethernet, &frame, &stripped(&frame)),
        50,
    );
    // Stripped + two in the frame = three tags: the second one in the frame is not consumed.
    let frame = eth_tagged(&[0x8100, 0x8100], ETHERTYPE_IPV4, &upload_v4_zero_len());
    assert_eq!(
        parse_frame(LinkType::Ethernet, &frame, &stripped(&frame)),
        Err(Skip::NotIp)
    );
    let (outcome, tally) = count_one(LinkType::Ethernet, &frame, stripped(&frame));
    assert_eq!(outcome, Outcome::NotIp);
    assert_untouched(&tally);
    // The same frame without a stripped tag is fine.
    assert_upload_v4(parse_whole(LinkType::Ethernet, &frame), 50);
}

fn non_ip_ethertypes_are_not_ip() {
    let arp = eth(ETHERTYPE_ARP, &[0u8; 28]);
    assert_not_ip(LinkType::Ethernet, &arp);
    let lldp = eth(0x88cc, &[0u8; 46]);
    assert_not_ip(LinkType::Ethernet, &lldp);
    // MPLS: one label stack entry (label 1, bottom of stack, TTL 64), then IPv4.
    let label_and_ipv4 = [vec![0, 0, 0x11, 0x40], ipv4_packet(LAN_HOST, INTERNET, 10)].concat();
    assert_not_ip(LinkType::Ethernet, &eth(0x8847, &label_and_ipv4));
    // 802.3 frames carry a length (< 0x0600), not an EtherType — even one that happens to be
    // followed by an IPv4 header.
    for length in [0x0040, 0x05dc] {
        let frame = eth(length, &ipv4_packet(LAN_HOST, INTERNET, 10));
        assert_not_ip(LinkType::Ethernet, &frame);
    }
    // A VLAN-tagged ARP frame.
    let tagged_arp = eth_tagged(&[0x8100], ETHERTYPE_ARP, &[0u8; 28]);
    assert_not_ip(LinkType::Ethernet, &tagged_arp);
}

// ---------------------------------------------------------------------------------------------
// PPPoE
// ---------------------------------------------------------------------------------------------

fn pppoe_session_with_two_byte_protocol_carries_ipv4_and_ipv6() {
    // L = 14 + 6 + 2 = 22.
    let frame = eth(
        ETHERTYPE_PPPOE_SESSION,
        &pppoe_session(&[0x00, 0x21], &upload_v4_zero_len()),
    );
    assert_eq!(frame.len(), 22 + 50);
    assert_upload_v4(parse_whole(LinkType::Ethernet, &frame), 50);
    let frame = eth(
        ETHERTYPE_PPPOE_SESSION,
        &pppoe_session(&[0x00, 0x57], &upload_v6_zero_len()),
    );
    assert_upload_v6(parse_whole(LinkType::Ethernet, &frame), 100);
    // With a real length field the header value is used.
    let frame = eth(
        ETHERTYPE_PPPOE_SESSION,
        &pppoe_session(&[0x00, 0x21], &ipv4_packet(LAN_HOST, INTERNET, 1000)),
    );
    assert_upload_v4(parse_whole(LinkType::Ethernet, &frame), 1020);
}

fn pppoe_session_with_compressed_one_byte_protocol_carries_ipv4_and_ipv6() {
    // RFC 1661 protocol-field compression: L = 14 + 6 + 1 = 21.
    let frame = eth(
        ETHERTYPE_PPPOE_SESSION,
        &pppoe_session(&[0x21], &upload_v4_zero_len()),
    );
    assert_eq!(frame.len(), 21 + 50);
    assert_upload_v4(parse_whole(LinkType::Ethernet, &frame), 50);
    let frame = eth(
        ETHERTYPE_PPPOE_SESSION,
        &pppoe_session(&[0x57], &upload_v6_zero_len()),
    );
    assert_upload_v6(parse_whole(LinkType::Ethernet, &frame), 100);
}

fn pppoe_session_behind_a_vlan_tag() {
    // L = 14 + 4 + 6 + 2 = 26.
    let frame = eth_tagged(
        &[0x8100],
        ETHERTYPE_PPPOE_SESSION,
        &pppoe_session(&[0x00, 0x21], &upload_v4_zero_len()),
    );
    assert_eq!(frame.len(), 26 + 50);
    assert_upload_v4(parse_whole(LinkType::Ethernet, &frame), 50);
}

fn pppoe_session_with_a_non_ip_ppp_protocol_is_not_ip() {
    // LCP 0xc021, IPCP 0x8021, IPv6CP 0x8057, CHAP 0xc223: first byte even → 2-byte fields.
    for protocol in [[0xc0, 0x21], [0x80, 0x21], [0x80, 0x57], [0xc2, 0x23]] {
        let frame = eth(
            ETHERTYPE_PPPOE_SESSION,
            &pppoe_session(&protocol, &ipv4_packet(LAN_HOST, INTERNET, 10)),
        );
        assert_not_ip(LinkType::Ethernet, &frame);
    }
    // Compressed (odd) protocols other than 0x21 / 0x57: 0x23 and CCP 0xfd.
    for protocol in [0x23, 0xfd] {
        let frame = eth(
            ETHERTYPE_PPPOE_SESSION,
            &pppoe_session(&[protocol], &ipv4_packet(LAN_HOST, INTERNET, 10)),
        );
        assert_not_ip(LinkType::Ethernet, &frame);
    }
}

fn pppoe_discovery_is_not_ip() {
    // A PADI (code 0x09) even if an IPv4 header followed it.
    let mut body = vec![0x11, 0x09, 0x00, 0x00, 0x00, 0x00];
    body.extend_from_slice(&ipv4_packet(LAN_HOST, INTERNET, 10));
    assert_not_ip(LinkType::Ethernet, &eth(ETHERTYPE_PPPOE_DISCOVERY, &body));
}

// ---------------------------------------------------------------------------------------------
// Linux cooked captures
// ---------------------------------------------------------------------------------------------

fn linux_sll_carries_ipv4_and_ipv6_with_any_packet_type_and_hardware_type() {
    for packet_type in [0, 1, 2, 3, 4] {
        // L = 16.
        let frame = sll(packet_type, ETHERTYPE_IPV4, &upload_v4_zero_len());
        assert_upload_v4(parse_whole(LinkType::LinuxSll, &frame), 50);
        let frame = sll(packet_type, ETHERTYPE_IPV6, &upload_v6_zero_len());
        assert_upload_v6(parse_whole(LinkType::LinuxSll, &frame), 100);
    }
    // The ARPHRD field is not consulted: loopback, an IP tunnel, nonsense.
    for arphrd in [772, 768, 0xffff] {
        let frame = sll_with_arphrd(0, arphrd, ETHERTYPE_IPV4, &upload_v4_zero_len());
        assert_upload_v4(parse_whole(LinkType::LinuxSll, &frame), 50);
    }
}

fn linux_sll_with_a_non_ip_protocol_is_not_ip() {
    let payload = ipv4_packet(LAN_HOST, INTERNET, 10);
    for protocol in [ETHERTYPE_ARP, ETHERTYPE_PPPOE_SESSION, 0x8100, 0x0004] {
        assert_not_ip(LinkType::LinuxSll, &sll(0, protocol, &payload));
    }
}

fn linux_sll2_carries_ipv4_and_ipv6_with_any_packet_type() {
    for packet_type in [0, 1, 2, 3, 4] {
        // L = 20.
        let frame = sll2(ETHERTYPE_IPV4, packet_type, &upload_v4_zero_len());
        assert_eq!(frame.len(), 20 + 50);
        assert_upload_v4(parse_whole(LinkType::LinuxSll2, &frame), 50);
        let frame = sll2(ETHERTYPE_IPV6, packet_type, &upload_v6_zero_len());
        assert_upload_v6(parse_whole(LinkType::LinuxSll2, &frame), 100);
    }
    let payload = ipv4_packet(LAN_HOST, INTERNET, 10);
    for protocol in [ETHERTYPE_ARP, 0x88cc] {
        assert_not_ip(LinkType::LinuxSll2, &sll2(protocol, 0, &payload));
    }
}

fn linux_cooked_packet_type_four_marks_the_frame_outgoing() {
    let packet = ipv4_packet(INTERNET_2, INTERNET, 10);
    for packet_type in [0u16, 1, 2, 3, 4] {
        let sll_frame = sll(packet_type, ETHERTYPE_IPV4, &packet);
        let sll2_frame = sll2(ETHERTYPE_IPV4, packet_type as u8, &packet);
        let expected = packet_type == PACKET_OUTGOING;
        let parsed = parse_whole(LinkType::LinuxSll, &sll_frame).expect("IPv4");
        assert_eq!(parsed.outgoing, expected, "SLL type {packet_type}");
        let parsed = parse_whole(LinkType::LinuxSll2, &sll2_frame).expect("IPv4");
        assert_eq!(parsed.outgoing, expected, "SLL2 type {packet_type}");
    }
}

// ---------------------------------------------------------------------------------------------
// Raw IP
// ---------------------------------------------------------------------------------------------

fn raw_ip_link_types_select_the_version_by_the_first_nibble() {
    for dlt in [101, 12, 14] {
        let link = LinkType::from_dlt(dlt).expect("raw IP");
        // L = 0: W = the whole frame.
        assert_upload_v4(parse_whole(link, &upload_v4_zero_len()), 50);
        assert_upload_v6(parse_whole(link, &upload_v6_zero_len()), 100);
        assert_upload_v4(parse_whole(link, &ipv4_packet(LAN_HOST, INTERNET, 5)), 25);
    }
}

fn raw_ip_with_another_version_nibble_or_no_bytes_is_malformed() {
    for first_byte in [0x00, 0x15, 0x55, 0x75, 0xf5] {
        let mut packet = ipv4_packet(LAN_HOST, INTERNET, 20);
        packet[0] = first_byte;
        assert_malformed(LinkType::RawIp, &packet);
    }
    assert_malformed(LinkType::RawIp, &[]);
}

fn raw_ipv4_link_type_requires_ipv4() {
    assert_upload_v4(parse_whole(LinkType::RawIpv4, &upload_v4_zero_len()), 50);
    assert_malformed(LinkType::RawIpv4, &upload_v6_zero_len());
    assert_malformed(LinkType::RawIpv4, &[]);
}

fn raw_ipv6_link_type_requires_ipv6() {
    assert_upload_v6(parse_whole(LinkType::RawIpv6, &upload_v6_zero_len()), 100);
    // A 60-byte IPv4 packet is long enough for the IPv6 fixed header: only the version is wrong.
    assert_malformed(LinkType::RawIpv6, &ipv4_packet(LAN_HOST, INTERNET, 40));
    assert_malformed(LinkType::RawIpv6, &[]);
}

// ---------------------------------------------------------------------------------------------
// BSD loopback / null
// ---------------------------------------------------------------------------------------------

fn bsd_null_families_in_both_byte_orders() {
    // Family 2 → IPv4; 24, 28, 30 → IPv6. L = 4.
    let little = |family: u8| [family, 0, 0, 0];
    let big = |family: u8| [0, 0, 0, family];
    for header in [little(2), big(2)] {
        let frame = null(header, &upload_v4_zero_len());
        assert_upload_v4(parse_whole(LinkType::Null, &frame), 50);
    }
    for family in [24, 28, 30] {
        for header in [little(family), big(family)] {
            let frame = null(header, &upload_v6_zero_len());
            assert_upload_v6(parse_whole(LinkType::Null, &frame), 100);
        }
    }
}

fn bsd_null_with_an_unknown_family_is_not_ip() {
    let v4 = ipv4_packet(LAN_HOST, INTERNET, 10);
    // AF_UNSPEC, AF_UNIX, AF_APPLETALK (16), AF_INET6 of Linux (10), both byte orders.
    for family in [0u8, 1, 10, 16, 23, 31] {
        assert_not_ip(LinkType::Null, &null([family, 0, 0, 0], &v4));
        assert_not_ip(LinkType::Null, &null([0, 0, 0, family], &v4));
    }
    // Neither byte order: non-zero bytes at both ends or in the middle.
    for header in [[2, 0, 0, 2], [0, 2, 0, 0], [2, 0, 1, 0], [0xff; 4]] {
        assert_not_ip(LinkType::Null, &null(header, &v4));
    }
}

fn bsd_null_family_and_ip_version_must_agree() {
    // AF_INET with an IPv6 header, AF_INET6 with an IPv4 header: malformed (R3.1).
    assert_malformed(LinkType::Null, &null([2, 0, 0, 0], &upload_v6_zero_len()));
    let v4_long_enough_for_v6 = ipv4_packet(LAN_HOST, INTERNET, 40);
    assert_malformed(LinkType::Null, &null([30, 0, 0, 0], &v4_long_enough_for_v6));
}

// ---------------------------------------------------------------------------------------------
// Too short for the link header: not IP, not malformed (R2.2)
// ---------------------------------------------------------------------------------------------

fn frames_too_short_for_their_link_header_are_not_ip_and_not_malformed() {
    let ethernet = eth(ETHERTYPE_IPV4, &[]);
    assert_not_ip(LinkType::Ethernet, &ethernet[..13]);
    assert_not_ip(LinkType::Ethernet, &[]);
    // A VLAN TPID with only half of the tag.
    assert_not_ip(LinkType::Ethernet, &eth(0x8100, &[0x00, 0x64]));
    // A second tag cut short.
    assert_not_ip(
        LinkType::Ethernet,
        &eth(0x8100, &[0x00, 0x64, 0x81, 0x00, 0x00]),
    );
    // PPPoE: the 6-byte header cut short, and a 2-byte protocol field cut after its first byte.
    assert_not_ip(
        LinkType::Ethernet,
        &eth(ETHERTYPE_PPPOE_SESSION, &[0x11, 0]),
    );
    let header_only = pppoe_session(&[], &[]);
    assert_not_ip(
        LinkType::Ethernet,
        &eth(ETHERTYPE_PPPOE_SESSION, &header_only),
    );
    let first_byte_only = pppoe_session(&[0x00], &[]);
    assert_not_ip(
        LinkType::Ethernet,
        &eth(ETHERTYPE_PPPOE_SESSION, &first_byte_only),
    );
    let sll_frame = sll(0, ETHERTYPE_IPV4, &[]);
    assert_not_ip(LinkType::LinuxSll, &sll_frame[..15]);
    let sll2_frame = sll2(ETHERTYPE_IPV4, 0, &[]);
    assert_not_ip(LinkType::LinuxSll2, &sll2_frame[..19]);
    assert_not_ip(LinkType::Null, &[2, 0, 0]);
}

fn a_complete_link_header_with_nothing_after_it_is_malformed() {
    // The link layer says IP, then fewer than 20 / 40 bytes follow: R3.1, not R2.2.
    assert_malformed(LinkType::Ethernet, &eth(ETHERTYPE_IPV4, &[]));
    assert_malformed(LinkType::Ethernet, &eth(ETHERTYPE_IPV6, &[]));
    assert_malformed(
        LinkType::Ethernet,
        &eth_tagged(&[0x8100, 0x88a8], ETHERTYPE_IPV4, &[]),
    );
    assert_malformed(
        LinkType::Ethernet,
        &eth(ETHERTYPE_PPPOE_SESSION, &pppoe_session(&[0x21], &[])),
    );
    assert_malformed(LinkType::LinuxSll, &sll(0, ETHERTYPE_IPV6, &[]));
    assert_malformed(LinkType::LinuxSll2, &sll2(ETHERTYPE_IPV4, 0, &[]));
    assert_malformed(LinkType::Null, &null([2, 0, 0, 0], &[]));
}

// ---------------------------------------------------------------------------------------------
// Malformed IP headers (R3.1)
// ---------------------------------------------------------------------------------------------

fn fewer_captured_bytes_than_the_fixed_ip_header_is_malformed() {
    let v4 = ipv4_packet(LAN_HOST, INTERNET, 100);
    assert_malformed(LinkType::Ethernet, &eth(ETHERTYPE_IPV4, &v4[..19]));
    assert_malformed(LinkType::RawIpv4, &v4[..1]);
    // Exactly 20 captured bytes are enough, whatever the wire length (a snapped capture).
    let frame = eth(ETHERTYPE_IPV4, &v4[..20]);
    let meta = FrameMeta {
        wire_len: 14 + 120,
        ..FrameMeta::default()
    };
    assert_upload_v4(parse_frame(LinkType::Ethernet, &frame, &meta), 120);

    let v6 = ipv6_packet(LAN_HOST_V6, INTERNET_V6, 100);
    assert_malformed(LinkType::Ethernet, &eth(ETHERTYPE_IPV6, &v6[..39]));
    assert_malformed(LinkType::RawIpv6, &v6[..39]);
    let frame = eth(ETHERTYPE_IPV6, &v6[..40]);
    let meta = FrameMeta {
        wire_len: 14 + 140,
        ..FrameMeta::default()
    };
    assert_upload_v6(parse_frame(LinkType::Ethernet, &frame, &meta), 140);
}

fn a_version_that_differs_from_the_link_layer_is_malformed() {
    // EtherType IPv4 carrying version 6 and the reverse (each long enough for its header).
    let v6 = ipv6_packet(LAN_HOST_V6, INTERNET_V6, 20);
    assert_malformed(LinkType::Ethernet, &eth(ETHERTYPE_IPV4, &v6));
    let v4 = ipv4_packet(LAN_HOST, INTERNET, 40);
    assert_malformed(LinkType::Ethernet, &eth(ETHERTYPE_IPV6, &v4));
    // A bad version nibble under the IPv6 EtherType (the corpus' ipv6-bad-version case).
    let mut bad = v6.clone();
    bad[0] = 0x70;
    assert_malformed(LinkType::Ethernet, &eth(ETHERTYPE_IPV6, &bad));
    // Through PPPoE and the cooked captures too.
    assert_malformed(
        LinkType::Ethernet,
        &eth(ETHERTYPE_PPPOE_SESSION, &pppoe_session(&[0x21], &v6)),
    );
    assert_malformed(
        LinkType::Ethernet,
        &eth(ETHERTYPE_PPPOE_SESSION, &pppoe_session(&[0x00, 0x57], &v4)),
    );
    assert_malformed(LinkType::LinuxSll, &sll(0, ETHERTYPE_IPV4, &v6));
    assert_malformed(LinkType::LinuxSll2, &sll2(ETHERTYPE_IPV6, 0, &v4));
}

fn ipv4_ihl_below_five_is_malformed_and_above_five_needs_no_options_captured() {
    for ihl in 0..5u8 {
        let mut packet = ipv4_packet(LAN_HOST, INTERNET, 40);
        packet[0] = 0x40 | ihl;
        assert_malformed(LinkType::Ethernet, &eth(ETHERTYPE_IPV4, &packet));
    }
    // IHL 15 (60-byte header) with only the 20 fixed bytes captured: counted (R3.1 checks
    // nothing else), Total Length 80 within W = 80.
    let mut header = ipv4(LAN_HOST, INTERNET, 80);
    header[0] = 0x4f;
    let frame = eth(ETHERTYPE_IPV4, &header);
    let meta = FrameMeta {
        wire_len: 14 + 80,
        ..FrameMeta::default()
    };
    assert_upload_v4(parse_frame(LinkType::Ethernet, &frame, &meta), 80);
}

fn nothing_else_in_the_ip_header_is_validated() {
    // Bad checksum, fragment offset, TTL 0, reserved flag, unknown protocol: still counted.
    let mut packet = ipv4_packet(LAN_HOST, INTERNET, 30);
    packet[6] = 0xff; // evil bit, DF, MF and a fragment offset
    packet[7] = 0xff;
    packet[8] = 0; // TTL
    packet[9] = 253; // experimental protocol
    packet[10] = 0xde; // checksum
    packet[11] = 0xad;
    assert_upload_v4(parse_whole(LinkType::RawIp, &packet), 50);
    // IPv6 with a fragment header as next header and garbage after it.
    let mut packet = ipv6_packet(LAN_HOST_V6, INTERNET_V6, 8);
    packet[6] = 44;
    packet[40..48].fill(0xff);
    assert_upload_v6(parse_whole(LinkType::RawIp, &packet), 48);
}

fn malformed_packets_count_only_as_malformed() {
    let mut counter = utc_counter();
    let mut tally = FileTally::new();
    let good = eth(ETHERTYPE_IPV4, &ipv4_packet(LAN_HOST, INTERNET, 80));
    let mut bad_ihl = ipv4_packet(LAN_HOST, INTERNET, 80);
    bad_ihl[0] = 0x44;
    let bad_ihl = eth(ETHERTYPE_IPV4, &bad_ihl);
    let cut = eth(ETHERTYPE_IPV4, &ipv4_packet(LAN_HOST, INTERNET, 80)[..10]);
    let arp = eth(ETHERTYPE_ARP, &[0; 28]);
    let mut outcomes = Vec::new();
    for frame in [&good, &bad_ihl, &cut, &arp, &good] {
        outcomes.push(counter.count(
            &Frame {
                link: LinkType::Ethernet,
                data: frame,
                meta: whole(frame),
                unix_second: 0,
            },
            &mut tally,
        ));
    }
    assert_eq!(
        outcomes,
        [
            Outcome::Traffic(Direction::Up),
            Outcome::Malformed,
            Outcome::Malformed,
            Outcome::NotIp,
            Outcome::Traffic(Direction::Up),
        ]
    );
    assert_eq!(tally.malformed, 2);
    assert_eq!(tally.packets_counted, 2);
    // Two good packets of Total Length 100.
    assert_eq!(tally.total, up_down(200, 0));
    assert_eq!(tally.lan_bytes, 0);
}

// ---------------------------------------------------------------------------------------------
// Bytes of a packet (R4) and the wire length (R1.4)
// ---------------------------------------------------------------------------------------------

fn ethernet_padding_and_fcs_are_not_counted() {
    // A 28-byte IPv4 packet (ICMP echo without data) in a minimum 60-byte frame plus 4 bytes FCS:
    // 14 + 28 + 18 padding = 60 captured, 64 on the wire. H = 28 ≤ W = 50 → 28.
    let frame = eth(
        ETHERTYPE_IPV4,
        &padded(&ipv4_packet(LAN_HOST, INTERNET, 8), 18),
    );
    assert_eq!(frame.len(), 60);
    let meta = FrameMeta {
        wire_len: 64,
        ..FrameMeta::default()
    };
    assert_upload_v4(parse_frame(LinkType::Ethernet, &frame, &meta), 28);
    // IPv6: 40 + 8 = 48 bytes in a frame with 20 bytes of trailer.
    let frame = eth(
        ETHERTYPE_IPV6,
        &padded(&ipv6_packet(LAN_HOST_V6, INTERNET_V6, 8), 20),
    );
    assert_upload_v6(parse_whole(LinkType::Ethernet, &frame), 48);
}

fn ipv4_total_length_zero_falls_back_to_the_wire_length() {
    // A GSO/TSO super-packet: Total Length 0, 64 000 IP bytes on the "wire" (tp_len), only the
    // first 200 captured. W = 64 014 − 14 = 64 000.
    let frame = eth(ETHERTYPE_IPV4, &padded(&ipv4(LAN_HOST, INTERNET, 0), 180));
    let meta = FrameMeta {
        wire_len: 64_014,
        ..FrameMeta::default()
    };
    assert_upload_v4(parse_frame(LinkType::Ethernet, &frame, &meta), 64_000);
    // BIG TCP over IPv4 beyond 65 535 bytes: W = 150 014 − 14 = 150 000.
    let meta = FrameMeta {
        wire_len: 150_014,
        ..FrameMeta::default()
    };
    assert_upload_v4(parse_frame(LinkType::Ethernet, &frame, &meta), 150_000);
}

fn ipv4_total_length_larger_than_the_wire_falls_back_to_the_wire_length() {
    // Total Length 1500 but only 20 + 30 bytes of IP on the wire: W = 50.
    let frame = eth(ETHERTYPE_IPV4, &padded(&ipv4(LAN_HOST, INTERNET, 1500), 30));
    assert_upload_v4(parse_whole(LinkType::Ethernet, &frame), 50);
    // One byte more than W: still W.
    let frame = eth(ETHERTYPE_IPV4, &padded(&ipv4(LAN_HOST, INTERNET, 51), 30));
    assert_upload_v4(parse_whole(LinkType::Ethernet, &frame), 50);
    // Exactly W: H.
    let frame = eth(ETHERTYPE_IPV4, &padded(&ipv4(LAN_HOST, INTERNET, 50), 30));
    assert_upload_v4(parse_whole(LinkType::Ethernet, &frame), 50);
}

fn a_snapped_capture_counts_the_full_packet_from_the_wire_length() {
    // 1500-byte IPv4 packet, snaplen 68: 14 + 54 captured, orig_len 1514.
    let full = eth(ETHERTYPE_IPV4, &ipv4_packet(LAN_HOST, INTERNET, 1480));
    let snapped = &full[..68];
    let meta = FrameMeta {
        wire_len: 1514,
        ..FrameMeta::default()
    };
    assert_upload_v4(parse_frame(LinkType::Ethernet, snapped, &meta), 1500);
    // The same through the counter.
    let (outcome, tally) = count_one(LinkType::Ethernet, snapped, meta);
    assert_eq!(outcome, Outcome::Traffic(Direction::Up));
    assert_eq!(tally.total, up_down(1500, 0));
    // Snapped with Total Length 0 behind two VLAN tags: W = 1522 − 22 = 1500.
    let tagged = eth_tagged(
        &[0x88a8, 0x8100],
        ETHERTYPE_IPV4,
        &padded(&ipv4(LAN_HOST, INTERNET, 0), 40),
    );
    let meta = FrameMeta {
        wire_len: 1522,
        ..FrameMeta::default()
    };
    assert_upload_v4(parse_frame(LinkType::Ethernet, &tagged, &meta), 1500);
}

fn ipv6_payload_length_zero_falls_back_to_the_wire_length() {
    // A jumbogram / BIG TCP packet: Payload Length 0, 200 000 bytes of IP after the 14-byte
    // Ethernet header. W = 200 014 − 14 = 200 000.
    let frame = eth(
        ETHERTYPE_IPV6,
        &padded(&ipv6(LAN_HOST_V6, INTERNET_V6, 0), 60),
    );
    let meta = FrameMeta {
        wire_len: 200_014,
        ..FrameMeta::default()
    };
    assert_upload_v6(parse_frame(LinkType::Ethernet, &frame, &meta), 200_000);
    // Captured whole: W = 100.
    assert_upload_v6(parse_whole(LinkType::Ethernet, &frame), 100);
}

fn ipv6_payload_length_larger_than_the_wire_falls_back_to_the_wire_length() {
    // Payload Length 1000 → H = 1040 > W = 40 + 60 = 100.
    let frame = eth(
        ETHERTYPE_IPV6,
        &padded(&ipv6(LAN_HOST_V6, INTERNET_V6, 1000), 60),
    );
    assert_upload_v6(parse_whole(LinkType::Ethernet, &frame), 100);
    // Payload Length 60 → H = 100 = W.
    let frame = eth(
        ETHERTYPE_IPV6,
        &padded(&ipv6(LAN_HOST_V6, INTERNET_V6, 60), 60),
    );
    assert_upload_v6(parse_whole(LinkType::Ethernet, &frame), 100);
}

fn an_ipv4_total_length_below_the_header_length_is_used_as_it_is() {
    // Total Length 8 (less than the 20-byte header): not corrected, bytes = 8.
    let frame = eth(ETHERTYPE_IPV4, &padded(&ipv4(LAN_HOST, INTERNET, 8), 30));
    assert_upload_v4(parse_whole(LinkType::Ethernet, &frame), 8);
    // Total Length 1.
    let frame = eth(ETHERTYPE_IPV4, &ipv4(LAN_HOST, INTERNET, 1));
    assert_upload_v4(parse_whole(LinkType::Ethernet, &frame), 1);
}

fn a_wire_length_below_the_captured_length_is_raised_to_it() {
    // R1.4: orig_len < caplen → orig_len = caplen. Captured: 14 + 100 bytes.
    let frame = eth(ETHERTYPE_IPV4, &padded(&ipv4(LAN_HOST, INTERNET, 0), 80));
    assert_eq!(frame.len(), 114);
    for wire_len in [0, 13, 14, 50, 113] {
        let meta = FrameMeta {
            wire_len,
            ..FrameMeta::default()
        };
        // Total Length 0 → W = 114 − 14 = 100, not wire_len − 14.
        assert_upload_v4(parse_frame(LinkType::Ethernet, &frame, &meta), 100);
    }
    // Total Length 90 ≤ W = 100 (W from the captured length, the claimed wire length being 50).
    let frame = eth(ETHERTYPE_IPV4, &padded(&ipv4(LAN_HOST, INTERNET, 90), 80));
    let meta = FrameMeta {
        wire_len: 50,
        ..FrameMeta::default()
    };
    assert_upload_v4(parse_frame(LinkType::Ethernet, &frame, &meta), 90);
}

fn lan_bytes_follow_the_same_byte_rule() {
    let mut counter = utc_counter();
    let mut tally = FileTally::new();
    // 1: Total Length 60 in a padded frame → 60.
    let padded_frame = eth(
        ETHERTYPE_IPV4,
        &padded(&ipv4_packet(LAN_HOST, LAN_PEER, 40), 6),
    );
    // 2: Total Length 0, wire 14 + 1000 → 1000.
    let zero_len = eth(ETHERTYPE_IPV4, &padded(&ipv4(LAN_PEER, LAN_HOST, 0), 20));
    // 3: IPv6 link-local → multicast, Payload Length 24 → 64.
    let v6 = eth(ETHERTYPE_IPV6, &ipv6_packet("fe80::1", "ff02::fb", 24));
    let frames = [
        (&padded_frame, padded_frame.len() as u32),
        (&zero_len, 1014),
        (&v6, v6.len() as u32),
    ];
    for (frame, wire_len) in frames {
        let outcome = counter.count(
            &Frame {
                link: LinkType::Ethernet,
                data: frame,
                meta: FrameMeta {
                    wire_len,
                    ..FrameMeta::default()
                },
                unix_second: 0,
            },
            &mut tally,
        );
        assert_eq!(outcome, Outcome::Lan);
    }
    // 60 + 1000 + 64.
    assert_eq!(tally.lan_bytes, 1124);
    assert_eq!(tally.packets_counted, 0);
    assert_eq!(tally.total, up_down(0, 0));
    assert!(tally.hours().is_empty());
    assert_eq!(tally.remote_count(), 0);
}

// ---------------------------------------------------------------------------------------------
// Direction (R5.5)
// ---------------------------------------------------------------------------------------------

/// Count one packet through a given link and meta, returning the tally.
fn count_frame(counter: &mut Counter, link: LinkType, frame: &[u8], meta: FrameMeta) -> FileTally {
    let mut tally = FileTally::new();
    counter.count(
        &Frame {
            link,
            data: frame,
            meta,
            unix_second: 0,
        },
        &mut tally,
    );
    tally
}

/// Assert a tally holds exactly one attributed packet of `bytes`, in `direction`, with `remote`.
fn assert_single(tally: &FileTally, direction: Direction, remote: &str, bytes: u64) {
    let expected = match direction {
        Direction::Up => up_down(bytes, 0),
        Direction::Down => up_down(0, bytes),
    };
    assert_eq!(tally.packets_counted, 1);
    assert_eq!(tally.total, expected);
    assert_eq!(tally.lan_bytes, 0);
    assert_eq!(
        remotes(tally).into_iter().collect::<Vec<_>>(),
        vec![(ip(remote), expected)]
    );
    assert_eq!(tally.hours().get(&0), Some(&expected));
}

fn non_public_to_public_is_upload_to_the_destination() {
    let frame = eth(ETHERTYPE_IPV4, &ipv4_packet(LAN_HOST, INTERNET, 80));
    let tally = count_frame(
        &mut utc_counter(),
        LinkType::Ethernet,
        &frame,
        whole(&frame),
    );
    assert_single(&tally, Direction::Up, INTERNET, 100);
    let frame = eth(ETHERTYPE_IPV6, &ipv6_packet(LAN_HOST_V6, INTERNET_V6, 60));
    let tally = count_frame(
        &mut utc_counter(),
        LinkType::Ethernet,
        &frame,
        whole(&frame),
    );
    assert_single(&tally, Direction::Up, INTERNET_V6, 100);
}

fn public_to_non_public_is_download_from_the_source() {
    let frame = eth(ETHERTYPE_IPV4, &ipv4_packet(INTERNET, LAN_HOST, 1480));
    let tally = count_frame(
        &mut utc_counter(),
        LinkType::Ethernet,
        &frame,
        whole(&frame),
    );
    assert_single(&tally, Direction::Down, INTERNET, 1500);
    let frame = eth(ETHERTYPE_IPV6, &ipv6_packet(INTERNET_V6, "fe80::1", 20));
    let tally = count_frame(
        &mut utc_counter(),
        LinkType::Ethernet,
        &frame,
        whole(&frame),
    );
    assert_single(&tally, Direction::Down, INTERNET_V6, 60);
}

fn non_public_to_non_public_is_lan_only() {
    for (src, dst) in [
        (LAN_HOST, LAN_PEER),
        ("10.0.0.1", "172.16.0.1"),
        (LAN_HOST, "224.0.0.251"),     // mDNS
        (LAN_HOST, "239.255.255.250"), // SSDP
        (LAN_HOST, "255.255.255.255"), // broadcast
        ("0.0.0.0", "255.255.255.255"),
        ("100.64.0.1", "127.0.0.1"),
        ("169.254.1.1", "240.0.0.1"),
    ] {
        let frame = eth(ETHERTYPE_IPV4, &ipv4_packet(src, dst, 30));
        let (outcome, tally) = count_one(LinkType::Ethernet, &frame, whole(&frame));
        assert_eq!(outcome, Outcome::Lan, "{src} → {dst}");
        assert_eq!(tally.lan_bytes, 50);
        assert_eq!(tally.packets_counted, 0);
        assert_eq!(tally.total, up_down(0, 0));
        assert_eq!(tally.remote_count(), 0);
    }
}

fn public_to_public_is_download_unless_the_frame_is_outgoing() {
    let packet = ipv4_packet(INTERNET_2, INTERNET, 80);
    // Not outgoing: download from the source.
    for packet_type in [0, 1, 2, 3] {
        let frame = sll(packet_type, ETHERTYPE_IPV4, &packet);
        let tally = count_frame(
            &mut utc_counter(),
            LinkType::LinuxSll,
            &frame,
            whole(&frame),
        );
        assert_single(&tally, Direction::Down, INTERNET_2, 100);
        let frame = sll2(ETHERTYPE_IPV4, packet_type as u8, &packet);
        let tally = count_frame(
            &mut utc_counter(),
            LinkType::LinuxSll2,
            &frame,
            whole(&frame),
        );
        assert_single(&tally, Direction::Down, INTERNET_2, 100);
    }
    // PACKET_OUTGOING in an SLL / SLL2 record: upload to the destination.
    let frame = sll(4, ETHERTYPE_IPV4, &packet);
    let tally = count_frame(
        &mut utc_counter(),
        LinkType::LinuxSll,
        &frame,
        whole(&frame),
    );
    assert_single(&tally, Direction::Up, INTERNET, 100);
    let frame = sll2(ETHERTYPE_IPV4, 4, &packet);
    let tally = count_frame(
        &mut utc_counter(),
        LinkType::LinuxSll2,
        &frame,
        whole(&frame),
    );
    assert_single(&tally, Direction::Up, INTERNET, 100);
    // IPv6 public ↔ public over SLL.
    let v6 = ipv6_packet("2001:db8:1::7", INTERNET_V6, 60);
    let frame = sll(4, ETHERTYPE_IPV6, &v6);
    let tally = count_frame(
        &mut utc_counter(),
        LinkType::LinuxSll,
        &frame,
        whole(&frame),
    );
    assert_single(&tally, Direction::Up, INTERNET_V6, 100);
    let frame = sll(0, ETHERTYPE_IPV6, &v6);
    let tally = count_frame(
        &mut utc_counter(),
        LinkType::LinuxSll,
        &frame,
        whole(&frame),
    );
    assert_single(&tally, Direction::Down, "2001:db8:1::7", 100);
}

fn live_ethernet_and_raw_ip_take_the_packet_type_from_the_ring() {
    // A live capture has no SLL header: the ring's sll_pkttype arrives in FrameMeta.
    let packet = ipv4_packet(INTERNET_2, INTERNET, 80);
    let outgoing = |frame: &[u8]| FrameMeta {
        pkttype: PACKET_OUTGOING,
        ..whole(frame)
    };
    let frame = eth(ETHERTYPE_IPV4, &packet);
    let tally = count_frame(
        &mut utc_counter(),
        LinkType::Ethernet,
        &frame,
        outgoing(&frame),
    );
    assert_single(&tally, Direction::Up, INTERNET, 100);
    let tally = count_frame(
        &mut utc_counter(),
        LinkType::Ethernet,
        &frame,
        whole(&frame),
    );
    assert_single(&tally, Direction::Down, INTERNET_2, 100);
    // A tun/wg interface (raw IP).
    let tally = count_frame(
        &mut utc_counter(),
        LinkType::RawIp,
        &packet,
        outgoing(&packet),
    );
    assert_single(&tally, Direction::Up, INTERNET, 100);
    // The other packet types of the ring (host, broadcast, multicast, other host): download.
    for pkttype in [0, 1, 2, 3] {
        let meta = FrameMeta {
            pkttype,
            ..whole(&frame)
        };
        let tally = count_frame(&mut utc_counter(), LinkType::Ethernet, &frame, meta);
        assert_single(&tally, Direction::Down, INTERNET_2, 100);
    }
}

fn an_sll_header_overrides_the_packet_type_from_the_source() {
    // FrameMeta says outgoing, the record's own header says "to us": the header wins.
    let frame = sll(0, ETHERTYPE_IPV4, &ipv4_packet(INTERNET_2, INTERNET, 80));
    let meta = FrameMeta {
        pkttype: PACKET_OUTGOING,
        ..whole(&frame)
    };
    let tally = count_frame(&mut utc_counter(), LinkType::LinuxSll, &frame, meta);
    assert_single(&tally, Direction::Down, INTERNET_2, 100);
}

fn the_packet_type_is_ignored_unless_both_ends_are_public() {
    // Outgoing frame from the internet to the LAN: still download from the source.
    let frame = sll(4, ETHERTYPE_IPV4, &ipv4_packet(INTERNET, LAN_HOST, 80));
    let tally = count_frame(
        &mut utc_counter(),
        LinkType::LinuxSll,
        &frame,
        whole(&frame),
    );
    assert_single(&tally, Direction::Down, INTERNET, 100);
    // Incoming-marked frame from the LAN to the internet: still upload to the destination.
    let frame = sll(0, ETHERTYPE_IPV4, &ipv4_packet(LAN_HOST, INTERNET, 80));
    let tally = count_frame(
        &mut utc_counter(),
        LinkType::LinuxSll,
        &frame,
        whole(&frame),
    );
    assert_single(&tally, Direction::Up, INTERNET, 100);
    // Outgoing LAN ↔ LAN: LAN bytes.
    let frame = sll2(ETHERTYPE_IPV4, 4, &ipv4_packet(LAN_HOST, LAN_PEER, 80));
    let tally = count_frame(
        &mut utc_counter(),
        LinkType::LinuxSll2,
        &frame,
        whole(&frame),
    );
    assert_eq!(tally.lan_bytes, 100);
    assert_eq!(tally.packets_counted, 0);
}

fn configured_prefixes_change_which_end_is_public() {
    // With 203.0.113.0/24 configured as local, 203.0.113.5 → 198.51.100.7 is an upload.
    let classifier = AddressClassifier::new(&["203.0.113.0/24".parse().expect("prefix")]);
    let mut counter = Counter::new(classifier, HourClock::new(Zone::utc()));
    let frame = eth(ETHERTYPE_IPV4, &ipv4_packet(INTERNET, INTERNET_2, 80));
    let tally = count_frame(&mut counter, LinkType::Ethernet, &frame, whole(&frame));
    assert_single(&tally, Direction::Up, INTERNET_2, 100);
    // And 203.0.113.5 → 192.168.1.10 becomes LAN.
    let frame = eth(ETHERTYPE_IPV4, &ipv4_packet(INTERNET, LAN_HOST, 80));
    let tally = count_frame(&mut counter, LinkType::Ethernet, &frame, whole(&frame));
    assert_eq!(tally.lan_bytes, 100);
    assert_eq!(tally.packets_counted, 0);
}

fn ipv4_mapped_addresses_are_classified_by_their_ipv4_but_stay_ipv6_remotes() {
    let mut counter = utc_counter();
    let mut tally = FileTally::new();
    // ::ffff:192.168.1.10 → ::ffff:203.0.113.5: upload, remote is the mapped IPv6 address.
    let mapped = eth(
        ETHERTYPE_IPV6,
        &ipv6_packet("::ffff:192.168.1.10", "::ffff:203.0.113.5", 60),
    );
    // The plain IPv4 flow to the same host: a separate remote key.
    let plain = eth(ETHERTYPE_IPV4, &ipv4_packet(LAN_HOST, INTERNET, 30));
    // ::ffff:10.0.0.1 → ::ffff:192.168.1.10: LAN.
    let mapped_lan = eth(
        ETHERTYPE_IPV6,
        &ipv6_packet("::ffff:10.0.0.1", "::ffff:192.168.1.10", 10),
    );
    for frame in [&mapped, &plain, &mapped_lan] {
        counter.count(
            &Frame {
                link: LinkType::Ethernet,
                data: frame,
                meta: whole(frame),
                unix_second: 0,
            },
            &mut tally,
        );
    }
    let expected = [
        (ip("203.0.113.5"), up_down(50, 0)),
        (ip("::ffff:203.0.113.5"), up_down(100, 0)),
    ];
    assert_eq!(remotes(&tally).into_iter().collect::<Vec<_>>(), expected);
    assert_eq!(tally.lan_bytes, 50);
    assert_eq!(tally.total, up_down(150, 0));
}

fn remote_addresses_collect_their_own_up_and_down_bytes() {
    let mut counter = utc_counter();
    let mut tally = FileTally::new();
    let frames = [
        eth(ETHERTYPE_IPV4, &ipv4_packet(LAN_HOST, INTERNET, 80)), // up 100 to INTERNET
        eth(ETHERTYPE_IPV4, &ipv4_packet(INTERNET, LAN_HOST, 1480)), // down 1500 from INTERNET
        eth(ETHERTYPE_IPV4, &ipv4_packet(INTERNET_2, LAN_HOST, 20)), // down 40 from INTERNET_2
        eth(ETHERTYPE_IPV4, &ipv4_packet(LAN_HOST, LAN_PEER, 40)), // LAN 60
        eth(ETHERTYPE_IPV4, &ipv4_packet("10.0.0.1", INTERNET_2, 60)), // up 80 to INTERNET_2
        eth(ETHERTYPE_IPV6, &ipv6_packet(INTERNET_V6, LAN_HOST_V6, 20)), // down 60
        eth(ETHERTYPE_ARP, &[0; 28]),                              // ignored
    ];
    for frame in &frames {
        counter.count(
            &Frame {
                link: LinkType::Ethernet,
                data: frame,
                meta: whole(frame),
                unix_second: 0,
            },
            &mut tally,
        );
    }
    let expected = [
        (ip(INTERNET_2), up_down(80, 40)),
        (ip(INTERNET), up_down(100, 1500)),
        (ip(INTERNET_V6), up_down(0, 60)),
    ];
    assert_eq!(remotes(&tally).into_iter().collect::<Vec<_>>(), expected);
    assert_eq!(tally.packets_counted, 5);
    // up 100 + 80, down 1500 + 40 + 60.
    assert_eq!(tally.total, up_down(180, 1600));
    assert_eq!(tally.lan_bytes, 60);
    assert_eq!(tally.malformed, 0);
}

fn traffic_lands_in_the_hour_of_its_timestamp_even_when_hours_interleave() {
    let mut counter = utc_counter();
    let mut tally = FileTally::new();
    let up = eth(ETHERTYPE_IPV4, &ipv4_packet(LAN_HOST, INTERNET, 80)); // 100 up
    let down = eth(ETHERTYPE_IPV4, &ipv4_packet(INTERNET, LAN_HOST, 180)); // 200 down
    // Hours 0, 0, 1, 0 (back in time), 2, 1: UTC hour starts are multiples of 3600.
    let timeline = [
        (0, &up),
        (3599, &down),
        (3600, &up),
        (1, &up),
        (7300, &down),
        (7199, &down),
    ];
    for (unix_second, frame) in timeline {
        counter.count(
            &Frame {
                link: LinkType::Ethernet,
                data: frame,
                meta: whole(frame),
                unix_second,
            },
            &mut tally,
        );
    }
    let mut hours: Vec<_> = tally.hours().into_iter().collect();
    hours.sort_by_key(|(hour, _)| *hour);
    assert_eq!(
        hours,
        [
            (0, up_down(200, 200)),
            (3600, up_down(100, 200)),
            (7200, up_down(0, 200)),
        ]
    );
    assert_eq!(tally.total, up_down(300, 600));
}

tests! {
    link_type_numbers_map_to_the_supported_link_layers,
    ethernet_ipv4_counts_the_total_length,
    ethernet_ipv6_counts_payload_length_plus_40,
    one_vlan_tag_of_each_tpid_is_skipped,
    two_vlan_tags_of_every_tpid_pair_are_skipped,
    a_third_vlan_tag_is_not_ip,
    a_tag_stripped_by_the_kernel_counts_toward_the_two_tag_limit,
    non_ip_ethertypes_are_not_ip,
    pppoe_session_with_two_byte_protocol_carries_ipv4_and_ipv6,
    pppoe_session_with_compressed_one_byte_protocol_carries_ipv4_and_ipv6,
    pppoe_session_behind_a_vlan_tag,
    pppoe_session_with_a_non_ip_ppp_protocol_is_not_ip,
    pppoe_discovery_is_not_ip,
    linux_sll_carries_ipv4_and_ipv6_with_any_packet_type_and_hardware_type,
    linux_sll_with_a_non_ip_protocol_is_not_ip,
    linux_sll2_carries_ipv4_and_ipv6_with_any_packet_type,
    linux_cooked_packet_type_four_marks_the_frame_outgoing,
    raw_ip_link_types_select_the_version_by_the_first_nibble,
    raw_ip_with_another_version_nibble_or_no_bytes_is_malformed,
    raw_ipv4_link_type_requires_ipv4,
    raw_ipv6_link_type_requires_ipv6,
    bsd_null_families_in_both_byte_orders,
    bsd_null_with_an_unknown_family_is_not_ip,
    bsd_null_family_and_ip_version_must_agree,
    frames_too_short_for_their_link_header_are_not_ip_and_not_malformed,
    a_complete_link_header_with_nothing_after_it_is_malformed,
    fewer_captured_bytes_than_the_fixed_ip_header_is_malformed,
    a_version_that_differs_from_the_link_layer_is_malformed,
    ipv4_ihl_below_five_is_malformed_and_above_five_needs_no_options_captured,
    nothing_else_in_the_ip_header_is_validated,
    malformed_packets_count_only_as_malformed,
    ethernet_padding_and_fcs_are_not_counted,
    ipv4_total_length_zero_falls_back_to_the_wire_length,
    ipv4_total_length_larger_than_the_wire_falls_back_to_the_wire_length,
    a_snapped_capture_counts_the_full_packet_from_the_wire_length,
    ipv6_payload_length_zero_falls_back_to_the_wire_length,
    ipv6_payload_length_larger_than_the_wire_falls_back_to_the_wire_length,
    an_ipv4_total_length_below_the_header_length_is_used_as_it_is,
    a_wire_length_below_the_captured_length_is_raised_to_it,
    lan_bytes_follow_the_same_byte_rule,
    non_public_to_public_is_upload_to_the_destination,
    public_to_non_public_is_download_from_the_source,
    non_public_to_non_public_is_lan_only,
    public_to_public_is_download_unless_the_frame_is_outgoing,
    live_ethernet_and_raw_ip_take_the_packet_type_from_the_ring,
    an_sll_header_overrides_the_packet_type_from_the_source,
    the_packet_type_is_ignored_unless_both_ends_are_public,
    configured_prefixes_change_which_end_is_public,
    ipv4_mapped_addresses_are_classified_by_their_ipv4_but_stay_ipv6_remotes,
    remote_addresses_collect_their_own_up_and_down_bytes,
    traffic_lands_in_the_hour_of_its_timestamp_even_when_hours_interleave,
}
