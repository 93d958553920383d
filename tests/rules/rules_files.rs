//! Hand-built capture files, written to a temporary directory and read back with
//! `capture::file::read_capture` and `commands::report::count_file`, against `pcaps/README.md` sections 1,
//! 6.1, 7 and 8: classic pcap in both byte orders and both time units, the rejected formats,
//! link types, cut-off and damaged records, pcapng with several sections and interfaces, every
//! packet block kind, timestamp resolution and offset options, every way a pcapng read ends
//! early, unsupported interfaces, and the JSON shape of a report and of an error entry.
//!
//! The frames used throughout (addresses from the documentation ranges, which count as public):
//! - `up_100`: Ethernet, IPv4 192.168.1.10 → 203.0.113.5, Total Length 100 (114-byte frame).
//! - `down_200`: Ethernet, IPv4 203.0.113.5 → 192.168.1.10, Total Length 200 (214-byte frame).
//! - `raw_down_60`: raw IPv4 198.51.100.7 → 10.0.0.1, Total Length 60.
//! - `sll_outgoing_up_40`: SLL packet type 4, IPv4 198.51.100.7 → 203.0.113.5, Total Length 40.
//! - `sll2_down_48`: SLL2, IPv6 2001:db8::5 → fd00::10, Payload Length 8 (48 bytes).

use std::collections::BTreeSet;

use crate::support::*;
use nettraffic_sentinel::capture::file::{CaptureInfo, FileErrorKind, MAX_CAPLEN};
use nettraffic_sentinel::commands::report::{FileReport, count_file};
use nettraffic_sentinel::parse::LinkType;
use serde_json::{Value, json};

const FORMAT_ERROR: &str = "unsupported or unreadable file format";

fn up_100() -> Vec<u8> {
    eth(
        ETHERTYPE_IPV4,
        &ipv4_packet("192.168.1.10", "203.0.113.5", 80),
    )
}

fn down_200() -> Vec<u8> {
    eth(
        ETHERTYPE_IPV4,
        &ipv4_packet("203.0.113.5", "192.168.1.10", 180),
    )
}

fn raw_down_60() -> Vec<u8> {
    ipv4_packet("198.51.100.7", "10.0.0.1", 40)
}

fn sll_outgoing_up_40() -> Vec<u8> {
    sll(
        4,
        ETHERTYPE_IPV4,
        &ipv4_packet("198.51.100.7", "203.0.113.5", 20),
    )
}

fn sll2_down_48() -> Vec<u8> {
    sll2(
        ETHERTYPE_IPV6,
        0,
        &ipv6_packet("2001:db8::5", "fd00::10", 8),
    )
}

/// Write `bytes` as `name` in a fresh temp dir and count it (UTC, built-in rules).
fn report_of(name: &str, bytes: &[u8]) -> FileReport {
    let dir = TempDir::new("report");
    let path = dir.write(name, bytes);
    count_file(&path, &mut utc_counter())
}

/// The counters of a report's JSON: packets_total, packets_counted, malformed, lan_bytes,
/// up_bytes, down_bytes.
fn counters(json: &Value) -> [u64; 6] {
    [
        "packets_total",
        "packets_counted",
        "malformed",
        "lan_bytes",
        "up_bytes",
        "down_bytes",
    ]
    .map(|key| {
        json[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key} in {json}"))
    })
}

fn read_ok(bytes: &[u8]) -> (CaptureInfo, Vec<SeenRecord>) {
    let (result, seen) = read_via_file(bytes);
    (result.expect("a readable capture"), seen)
}

/// Read a file that must be rejected as a whole; returns the error text and its link type.
fn read_err(bytes: &[u8]) -> (String, Option<u32>) {
    let (result, _) = read_via_file(bytes);
    let error = result.expect_err("the file must be rejected");
    (error.to_string(), error.linktype)
}

fn seen(link: LinkType, data: &[u8], wire_len: u32, unix_second: i64) -> SeenRecord {
    SeenRecord {
        link,
        data: data.to_vec(),
        wire_len,
        unix_second,
    }
}

// ---------------------------------------------------------------------------------------------
// Classic pcap: byte orders, time units, link types
// ---------------------------------------------------------------------------------------------

fn classic_pcap_microseconds_in_both_byte_orders() {
    let t = utc(2023, 11, 14, 22, 13, 20);
    let ts = u32::try_from(t).expect("fits");
    for big_endian in [false, true] {
        let bytes = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, big_endian, 1)
            .record(ts, 999_999, 114, &up_100())
            // 10^6 µs carry one second; 2 500 000 µs carry two.
            .record(ts, 1_000_000, 214, &down_200())
            .record(ts + 3600, 2_500_000, 114, &up_100())
            .finish();
        let (info, records) = read_ok(&bytes);
        assert_eq!(
            info,
            CaptureInfo {
                linktype: Some(1),
                packets_total: 3,
                stopped_early: None,
            }
        );
        assert_eq!(
            records,
            [
                seen(LinkType::Ethernet, &up_100(), 114, t),
                seen(LinkType::Ethernet, &down_200(), 214, t + 1),
                seen(LinkType::Ethernet, &up_100(), 114, t + 3602),
            ]
        );
        let json = report_of("micro.pcap", &bytes).to_json();
        // Two uploads of 100 and one download of 200; hours 22:00 and 23:00 UTC.
        assert_eq!(counters(&json), [3, 3, 0, 0, 200, 200]);
        assert_eq!(
            json["hours"],
            json!({
                "2023-11-14 22:00": {"up_bytes": 100, "down_bytes": 200},
                "2023-11-14 23:00": {"up_bytes": 100, "down_bytes": 0},
            })
        );
    }
}

fn classic_pcap_nanoseconds_in_both_byte_orders() {
    for big_endian in [false, true] {
        let bytes = PcapWriter::new(PCAP_MAGIC_NANOSECONDS, big_endian, 1)
            .record(1000, 999_999_999, 114, &up_100())
            .record(1000, 1_000_000_000, 114, &up_100())
            // u32::MAX ns = 4.29… s → 4 whole seconds.
            .record(1000, u32::MAX, 114, &up_100())
            .finish();
        let (info, records) = read_ok(&bytes);
        assert_eq!(info.packets_total, 3);
        let seconds: Vec<i64> = records.iter().map(|r| r.unix_second).collect();
        assert_eq!(seconds, [1000, 1001, 1004]);
    }
}

fn classic_pcap_seconds_are_unsigned_and_fractions_carry() {
    let bytes = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 1)
        // ts_sec 0xffffffff is 2106-02-07 06:28:15 UTC, not -1.
        .record(u32::MAX, 0, 114, &up_100())
        // u32::MAX µs = 4294.967295 s → 4294 whole seconds.
        .record(0, u32::MAX, 114, &up_100())
        .finish();
    let (_, records) = read_ok(&bytes);
    let seconds: Vec<i64> = records.iter().map(|r| r.unix_second).collect();
    assert_eq!(seconds, [4_294_967_295, 4294]);
    let json = report_of("unsigned.pcap", &bytes).to_json();
    assert_eq!(
        json["hours"],
        json!({
            "1970-01-01 01:00": {"up_bytes": 100, "down_bytes": 0},
            "2106-02-07 06:00": {"up_bytes": 100, "down_bytes": 0},
        })
    );
}

fn the_upper_bits_of_the_pcap_link_type_are_ignored() {
    // 0x1234_0001: FCS/reserved bits set over Ethernet; 0xffff_0071 over SLL (113).
    let bytes = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 0x1234_0001)
        .record(0, 0, 114, &up_100())
        .finish();
    let (info, records) = read_ok(&bytes);
    assert_eq!(info.linktype, Some(1));
    assert_eq!(records[0].link, LinkType::Ethernet);
    let bytes = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, true, 0xffff_0071)
        .record(0, 0, 56, &sll_outgoing_up_40())
        .finish();
    let json = report_of("upper-bits.pcap", &bytes).to_json();
    assert_eq!(json["linktype"], 113);
    assert_eq!(counters(&json), [1, 1, 0, 0, 40, 0]);
    // Upper bits over an unsupported low half: still unsupported, named by the low half.
    let bytes = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 0x0001_007f).finish();
    assert_eq!(
        read_err(&bytes),
        ("unsupported linktype 127".into(), Some(127))
    );
}

fn every_supported_link_type_number_is_read() {
    let cases: [(u32, Vec<u8>, LinkType); 10] = [
        (0, null([2, 0, 0, 0], &raw_down_60()), LinkType::Null),
        (1, up_100(), LinkType::Ethernet),
        (12, raw_down_60(), LinkType::RawIp),
        (14, raw_down_60(), LinkType::RawIp),
        (101, raw_down_60(), LinkType::RawIp),
        (108, null([0, 0, 0, 2], &raw_down_60()), LinkType::Null),
        (113, sll_outgoing_up_40(), LinkType::LinuxSll),
        (228, raw_down_60(), LinkType::RawIpv4),
        (
            229,
            ipv6_packet("2001:db8::5", "fd00::10", 8),
            LinkType::RawIpv6,
        ),
        (276, sll2_down_48(), LinkType::LinuxSll2),
    ];
    for (linktype, frame, link) in cases {
        let bytes = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, linktype)
            .record(0, 0, frame.len() as u32, &frame)
            .finish();
        let (info, records) = read_ok(&bytes);
        assert_eq!(info.linktype, Some(linktype));
        assert_eq!(records, [seen(link, &frame, frame.len() as u32, 0)]);
        let json = report_of("linktype.pcap", &bytes).to_json();
        assert_eq!(json["packets_counted"], 1, "link type {linktype}: {json}");
    }
}

// ---------------------------------------------------------------------------------------------
// Rejected files
// ---------------------------------------------------------------------------------------------

fn the_modified_pcap_magic_is_rejected() {
    for big_endian in [false, true] {
        let bytes = PcapWriter::new(PCAP_MAGIC_MODIFIED, big_endian, 1)
            .record(0, 0, 114, &up_100())
            .finish();
        assert_eq!(read_err(&bytes), (FORMAT_ERROR.into(), None));
    }
}

fn unknown_magic_and_short_files_are_rejected() {
    let valid_header = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 1).finish();
    assert_eq!(valid_header.len(), 24);
    let mut unknown_magic = valid_header.clone();
    unknown_magic[..4].copy_from_slice(&0xdead_beef_u32.to_le_bytes());
    let text = b"GIF89a, certainly not a capture file at all".to_vec();
    let cases: [(&str, Vec<u8>); 6] = [
        ("unknown magic", unknown_magic),
        ("text", text),
        ("empty", Vec::new()),
        ("3 bytes", valid_header[..3].to_vec()),
        ("23 of 24 header bytes", valid_header[..23].to_vec()),
        ("a pcapng block type alone", SHB_TYPE.to_le_bytes().to_vec()),
    ];
    for (what, bytes) in cases {
        assert_eq!(read_err(&bytes), (FORMAT_ERROR.into(), None), "{what}");
    }
}

fn a_pcapng_file_must_start_with_a_valid_section_header() {
    let good_interface = PcapngWriter::new().interface(1, &[]).finish();
    let cases: [(&str, Vec<u8>); 5] = [
        ("an interface block first", good_interface),
        (
            "bad byte-order magic",
            PcapngWriter::new()
                .section_with(false, 0x1122_3344, 1)
                .finish(),
        ),
        (
            "major version 2",
            PcapngWriter::new()
                .section_with(false, 0x1a2b_3c4d, 2)
                .finish(),
        ),
        (
            "a section header cut short",
            PcapngWriter::new().section(false).finish()[..20].to_vec(),
        ),
        ("a section header with an impossible length", {
            let mut shb = PcapngWriter::new().section(false).finish();
            shb[4..8].copy_from_slice(&8u32.to_le_bytes());
            shb
        }),
    ];
    for (what, bytes) in cases {
        assert_eq!(read_err(&bytes), (FORMAT_ERROR.into(), None), "{what}");
    }
}

fn an_unsupported_pcap_link_type_is_an_error_entry() {
    let bytes = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 127)
        .record(0, 0, 114, &up_100())
        .finish();
    assert_eq!(
        read_err(&bytes),
        ("unsupported linktype 127".into(), Some(127))
    );
    let json = report_of("radiotap.pcap", &bytes).to_json();
    assert_eq!(
        json,
        json!({
            "file": "radiotap.pcap",
            "linktype": 127,
            "packets_total": 0,
            "packets_counted": 0,
            "malformed": 0,
            "lan_bytes": 0,
            "up_bytes": 0,
            "down_bytes": 0,
            "hours": {},
            "remote_ips": {},
            "devices": {},
            "services": {},
            "error": "unsupported linktype 127",
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Classic pcap: where reading ends (R1.3) and the wire length (R1.4)
// ---------------------------------------------------------------------------------------------

fn a_cut_off_record_header_ends_the_reading_after_what_came_before() {
    let bytes = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 1)
        .record(0, 0, 114, &up_100())
        .record(1, 0, 214, &down_200())
        .raw(&[0u8; 10])
        .finish();
    let (info, records) = read_ok(&bytes);
    assert_eq!(info.packets_total, 2);
    assert_eq!(records.len(), 2);
    assert!(info.stopped_early.is_some());
    let json = report_of("cut-header.pcap", &bytes).to_json();
    assert_eq!(counters(&json), [2, 2, 0, 0, 100, 200]);
    assert!(json.get("error").is_none());
}

fn cut_off_record_data_ends_the_reading_after_what_came_before() {
    let mut writer = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, true, 1)
        .record(0, 0, 114, &up_100())
        .record(1, 0, 214, &down_200());
    // A third record claiming 114 captured bytes, of which only 50 are in the file.
    writer.record_header(2, 0, 114, 114);
    let bytes = writer.raw(&up_100()[..50]).finish();
    let (info, records) = read_ok(&bytes);
    assert_eq!(info.packets_total, 2);
    assert_eq!(records.len(), 2);
    assert!(info.stopped_early.is_some());
}

fn a_captured_length_above_262144_ends_the_reading() {
    // A 262 144-byte record (the maximum) is a packet: Ethernet + IPv4 with Total Length 0, so
    // it counts W = 262 144 − 14 = 262 130 bytes.
    let biggest = eth(ETHERTYPE_IPV4, &ipv4("192.168.1.10", "203.0.113.5", 0));
    let biggest = padded(&biggest, MAX_CAPLEN as usize - biggest.len());
    assert_eq!(biggest.len(), 262_144);
    // The file header's snaplen is 65 535: a larger record is still a packet (only 262 144
    // matters). 100 000 captured bytes, Total Length 0 → W = 100 000 − 14 = 99 986.
    let beyond_snaplen = padded(&biggest[..34], 100_000 - 34);
    let mut writer = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 1)
        .record(0, 0, 114, &up_100())
        .record(1, 0, 100_000, &beyond_snaplen)
        .record(1, 0, MAX_CAPLEN, &biggest);
    // Then a record claiming one byte more, with all its bytes present, and a good one after.
    writer.record_header(2, 0, MAX_CAPLEN + 1, MAX_CAPLEN + 1);
    let bytes = writer
        .raw(&padded(&biggest, 1))
        .record(3, 0, 214, &down_200())
        .finish();
    let (info, records) = read_ok(&bytes);
    assert_eq!(info.packets_total, 3);
    assert_eq!(records.len(), 3);
    assert!(info.stopped_early.is_some());
    let json = report_of("huge-caplen.pcap", &bytes).to_json();
    // 100 + 99 986 + 262 130 up.
    assert_eq!(counters(&json), [3, 3, 0, 0, 362_216, 0]);
}

fn an_original_length_below_the_captured_length_is_raised_to_it() {
    // 114 bytes captured, orig_len claims 50: the wire length becomes 114. With Total Length 0
    // the packet counts W = 114 − 14 = 100.
    let frame = padded(
        &eth(ETHERTYPE_IPV4, &ipv4("192.168.1.10", "203.0.113.5", 0)),
        80,
    );
    let bytes = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 1)
        .record(0, 0, 50, &frame)
        .finish();
    let (_, records) = read_ok(&bytes);
    assert_eq!(records, [seen(LinkType::Ethernet, &frame, 114, 0)]);
    let json = report_of("short-orig.pcap", &bytes).to_json();
    assert_eq!(counters(&json), [1, 1, 0, 0, 100, 0]);
}

fn a_snapped_record_counts_its_original_length() {
    // A 1500-byte IPv4 packet snapped to 54 captured bytes; orig_len 1514 → 1500 counted.
    let full = eth(
        ETHERTYPE_IPV4,
        &ipv4_packet("203.0.113.5", "192.168.1.10", 1480),
    );
    let bytes = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 1)
        .record(0, 0, 1514, &full[..54])
        .finish();
    let (_, records) = read_ok(&bytes);
    assert_eq!(records, [seen(LinkType::Ethernet, &full[..54], 1514, 0)]);
    let json = report_of("snapped.pcap", &bytes).to_json();
    assert_eq!(counters(&json), [1, 1, 0, 0, 0, 1500]);
}

fn an_empty_pcap_is_a_valid_file_with_nothing_in_it() {
    let bytes = PcapWriter::new(PCAP_MAGIC_NANOSECONDS, true, 1).finish();
    let (info, records) = read_ok(&bytes);
    assert_eq!(
        info,
        CaptureInfo {
            linktype: Some(1),
            packets_total: 0,
            stopped_early: None,
        }
    );
    assert!(records.is_empty());
    let json = report_of("empty.pcap", &bytes).to_json();
    assert_eq!(counters(&json), [0; 6]);
    assert_eq!(json["linktype"], 1);
    assert!(json.get("error").is_none());
}

// ---------------------------------------------------------------------------------------------
// pcapng: sections, interfaces and packet blocks
// ---------------------------------------------------------------------------------------------

fn pcapng_enhanced_packets_in_both_byte_orders() {
    for big_endian in [false, true] {
        // Default resolution: microseconds. 1 700 000 000.123456 s.
        let bytes = PcapngWriter::new()
            .section(big_endian)
            .interface(1, &[])
            .enhanced(0, 1_700_000_000_123_456, 114, &up_100())
            .enhanced(0, 1_700_000_001_999_999, 214, &down_200())
            .finish();
        let (info, records) = read_ok(&bytes);
        assert_eq!(
            info,
            CaptureInfo {
                linktype: Some(1),
                packets_total: 2,
                stopped_early: None,
            }
        );
        assert_eq!(
            records,
            [
                seen(LinkType::Ethernet, &up_100(), 114, 1_700_000_000),
                seen(LinkType::Ethernet, &down_200(), 214, 1_700_000_001),
            ]
        );
    }
}

fn pcapng_sections_number_their_own_interfaces_of_different_link_types() {
    let bytes = PcapngWriter::new()
        // Section 1, little-endian: Ethernet, raw IPv4, SLL.
        .section(false)
        .interface(1, &[])
        .interface(228, &[])
        .interface(113, &[])
        .enhanced(0, 0, 114, &up_100())
        .enhanced(1, 0, 60, &raw_down_60())
        .enhanced(2, 0, 56, &sll_outgoing_up_40())
        // Interface 3 does not exist: a malformed packet (its link layer is unknown).
        .enhanced(3, 0, 114, &up_100())
        // Section 2, big-endian: its interface 0 is SLL2; 1 and 2 no longer exist (malformed).
        .section(true)
        .interface(276, &[])
        .enhanced(0, 0, 68, &sll2_down_48())
        .enhanced(1, 0, 60, &raw_down_60())
        .enhanced(2, 0, 56, &sll_outgoing_up_40())
        .finish();
    let (info, records) = read_ok(&bytes);
    assert_eq!(info.linktype, Some(1), "the first IDB's link type");
    assert_eq!(info.packets_total, 7);
    assert_eq!(info.stopped_early, None);
    let links: Vec<LinkType> = records
        .iter()
        .filter(|r| !r.data.is_empty())
        .map(|r| r.link)
        .collect();
    assert_eq!(
        links,
        [
            LinkType::Ethernet,
            LinkType::RawIpv4,
            LinkType::LinuxSll,
            LinkType::LinuxSll2,
        ]
    );
    let json = report_of("multi.pcapng", &bytes).to_json();
    // Up: 100 (Ethernet) + 40 (SLL outgoing); down: 60 (raw) + 48 (SLL2); 3 malformed.
    assert_eq!(counters(&json), [7, 4, 3, 0, 140, 108]);
    assert_eq!(
        json["remote_ips"],
        json!({
            "203.0.113.5": {"up_bytes": 140, "down_bytes": 0},
            "198.51.100.7": {"up_bytes": 0, "down_bytes": 60},
            "2001:db8::5": {"up_bytes": 0, "down_bytes": 48},
        })
    );
}

fn a_record_pointing_to_a_missing_interface_counts_as_malformed() {
    let bytes = PcapngWriter::new()
        .section(false)
        .interface(1, &[])
        .enhanced(1, 0, 114, &up_100())
        .enhanced(0, 0, 214, &down_200())
        .enhanced(0xffff_ffff, 0, 114, &up_100())
        .obsolete_packet(9, 0, 114, &up_100())
        // A section with no interface at all: its simple packet has no first interface.
        .section(false)
        .simple(114, &up_100())
        .finish();
    let json = report_of("missing-interface.pcapng", &bytes).to_json();
    assert_eq!(
        counters(&json),
        [5, 1, 4, 0, 0, 200],
        "packets naming no interface are malformed, not silently lost"
    );
}

fn simple_packet_blocks_take_the_first_interface_time_zero_and_the_smaller_length() {
    let snapped = eth(
        ETHERTYPE_IPV4,
        &ipv4_packet("203.0.113.5", "192.168.1.10", 1480),
    );
    let bytes = PcapngWriter::new()
        .section(false)
        .interface(228, &[(IF_TSRESOL, vec![9])])
        .interface(1, &[])
        // Whole: original length 60, 60 data bytes (block length 12 + 4 + 60 = 76).
        .simple(60, &raw_down_60())
        // Original length 57 with the block's 60 data bytes: captured = min(57, 76 − 16) = 57.
        .simple(57, &raw_down_60())
        // A new section whose first interface is Ethernet: original length 1514, 64 bytes in
        // the block (block length 12 + 4 + 64 = 80), captured = min(1514, 80 − 16) = 64.
        .section(true)
        .interface(1, &[])
        .interface(228, &[])
        .simple(1514, &snapped[..64])
        .finish();
    let (info, records) = read_ok(&bytes);
    assert_eq!(info.packets_total, 3);
    assert_eq!(
        records,
        [
            seen(LinkType::RawIpv4, &raw_down_60(), 60, 0),
            seen(LinkType::RawIpv4, &raw_down_60()[..57], 57, 0),
            seen(LinkType::Ethernet, &snapped[..64], 1514, 0),
        ]
    );
    let json = report_of("simple.pcapng", &bytes).to_json();
    // Down: 60, then H = 60 > W = 57 → 57, then 1500 from the wire length. All at time 0.
    assert_eq!(counters(&json), [3, 3, 0, 0, 0, 1617]);
    assert_eq!(
        json["hours"],
        json!({"1970-01-01 00:00": {"up_bytes": 0, "down_bytes": 1617}})
    );
}

fn a_simple_packet_block_before_any_interface_counts_as_malformed() {
    let bytes = PcapngWriter::new()
        .section(false)
        .simple(60, &raw_down_60())
        .interface(228, &[])
        .simple(60, &raw_down_60())
        .finish();
    let json = report_of("simple-first.pcapng", &bytes).to_json();
    assert_eq!(counters(&json), [2, 1, 1, 0, 0, 60]);
}

fn obsolete_packet_blocks_are_packets() {
    for big_endian in [false, true] {
        let bytes = PcapngWriter::new()
            .section(big_endian)
            .interface(1, &[])
            .interface(228, &[(IF_TSRESOL, vec![3])])
            // 5 000 000 µs on interface 0 → 5 s; 7 000 ms on interface 1 → 7 s.
            .obsolete_packet(0, 5_000_000, 1514, &up_100())
            .obsolete_packet(1, 7_000, 60, &raw_down_60())
            .finish();
        let (info, records) = read_ok(&bytes);
        assert_eq!(info.packets_total, 2);
        assert_eq!(
            records,
            [
                seen(LinkType::Ethernet, &up_100(), 1514, 5),
                seen(LinkType::RawIpv4, &raw_down_60(), 60, 7),
            ]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// pcapng timestamps (R6.1)
// ---------------------------------------------------------------------------------------------

fn interface_time_resolution_and_offset_options() {
    let little = PcapngWriter::new().section(false);
    let offset_positive = little.tsoffset(1_600_000_000);
    let offset_negative = little.tsoffset(-100);
    let bytes = little
        .interface(1, &[(IF_TSRESOL, vec![3])]) // 0: milliseconds
        .interface(1, &[(IF_TSRESOL, vec![9])]) // 1: nanoseconds
        .interface(1, &[(IF_TSRESOL, vec![0x80 | 10])]) // 2: 2^10 = 1024 per second
        .interface(1, &[(IF_TSRESOL, vec![0x80])]) // 3: 2^0 = 1 per second
        .interface(1, &[(IF_TSRESOL, vec![0])]) // 4: 10^0 = 1 per second
        .interface(1, &[]) // 5: default, microseconds
        .interface(1, &[(IF_TSRESOL, vec![6]), (IF_TSOFFSET, offset_positive)]) // 6
        .interface(1, &[(IF_TSOFFSET, offset_negative)]) // 7: −100 s
        .interface(1, &[(IF_TSRESOL, vec![30])]) // 8: 10^30 per second > any u64 tick count
        .interface(1, &[(IF_TSRESOL, vec![0x80 | 64])]) // 9: 2^64 per second, likewise
        .enhanced(0, 1_700_000_000_999, 114, &up_100())
        .enhanced(1, 1_700_000_000_999_999_999, 114, &up_100())
        .enhanced(2, 1024 * 1000 + 1023, 114, &up_100())
        .enhanced(3, 42, 114, &up_100())
        .enhanced(4, 43, 114, &up_100())
        .enhanced(5, 7_000_001, 114, &up_100())
        .enhanced(6, 5_500_000, 114, &up_100())
        .enhanced(7, 200_000_000, 114, &up_100())
        .enhanced(8, u64::MAX, 114, &up_100())
        .enhanced(9, u64::MAX, 114, &up_100())
        .finish();
    let (info, records) = read_ok(&bytes);
    assert_eq!(info.packets_total, 10);
    let seconds: Vec<i64> = records.iter().map(|r| r.unix_second).collect();
    assert_eq!(
        seconds,
        [
            1_700_000_000, // floor(1 700 000 000 999 / 10^3)
            1_700_000_000, // floor(1 700 000 000 999 999 999 / 10^9)
            1000,          // floor(1 025 023 / 1024)
            42,            // 42 / 1
            43,            // 43 / 1
            7,             // floor(7 000 001 / 10^6)
            1_600_000_005, // floor(5 500 000 / 10^6) + 1 600 000 000
            100,           // 200 − 100
            0,             // floor(2^64 − 1 / 10^30)
            0,             // floor(2^64 − 1 / 2^64)
        ]
    );
}

fn the_time_offset_is_read_in_the_section_byte_order() {
    let big = PcapngWriter::new().section(true);
    let offset = big.tsoffset(1_000_000);
    let bytes = big
        .interface(1, &[(IF_TSRESOL, vec![3]), (IF_TSOFFSET, offset)])
        // 2 000 ms + 1 000 000 s.
        .enhanced(0, 2_000, 114, &up_100())
        .finish();
    let (_, records) = read_ok(&bytes);
    assert_eq!(records[0].unix_second, 1_000_002);
}

fn malformed_interface_options_end_option_parsing() {
    let writer = PcapngWriter::new().section(false);
    // An option claiming 0xfff0 value bytes in an options area of 8: malformed.
    let mut runaway = writer.u16(IF_TSRESOL).to_vec();
    runaway.extend_from_slice(&writer.u16(0xfff0));
    runaway.extend_from_slice(&[3, 0, 0, 0]);
    // A valid if_tsresol (milliseconds) first, then the runaway option, then an if_tsoffset that
    // is never reached.
    let mut resolution_then_runaway = writer.options(&[(IF_TSRESOL, vec![3])]);
    resolution_then_runaway.truncate(resolution_then_runaway.len() - 4); // drop opt_endofopt
    resolution_then_runaway.extend_from_slice(&runaway);
    let never_reached = writer.options(&[(IF_TSOFFSET, writer.tsoffset(1_000_000))]);
    resolution_then_runaway.extend_from_slice(&never_reached);
    // A valid if_tsresol (milliseconds), then an if_tsoffset claiming 12 value bytes of which
    // the options area holds 8 (the last option, no opt_endofopt).
    let mut value_past_the_end = writer.options(&[(IF_TSRESOL, vec![3])]);
    value_past_the_end.truncate(value_past_the_end.len() - 4);
    value_past_the_end.extend_from_slice(&writer.u16(IF_TSOFFSET));
    value_past_the_end.extend_from_slice(&writer.u16(12));
    value_past_the_end.extend_from_slice(&writer.tsoffset(1_000_000));
    let bytes = writer
        .interface_raw_options(1, &runaway)
        .interface_raw_options(1, &resolution_then_runaway)
        .interface_raw_options(1, &value_past_the_end)
        .enhanced(0, 3_000_000, 114, &up_100())
        .enhanced(1, 3_000, 114, &up_100())
        .enhanced(2, 4_000, 114, &up_100())
        .finish();
    let (info, records) = read_ok(&bytes);
    // The interfaces themselves are fine: every packet is read.
    assert_eq!(info.packets_total, 3);
    assert_eq!(info.stopped_early, None);
    let seconds: Vec<i64> = records.iter().map(|r| r.unix_second).collect();
    // Interface 0: nothing parsed, defaults (µs, no offset): 3 000 000 µs = 3 s.
    // Interface 1: milliseconds parsed before the malformed option, the offset after it never
    // read: 3 000 ms = 3 s (interpretation: options before the malformed one still apply).
    // Interface 2: milliseconds, then the overlong offset ends parsing: 4 000 ms = 4 s.
    assert_eq!(seconds, [3, 3, 4]);
}

fn options_after_the_end_of_options_marker_are_ignored() {
    let writer = PcapngWriter::new().section(true);
    // opt_endofopt first, then an if_tsresol of milliseconds that is no longer an option.
    let after_the_end = [
        writer.options(&[]),
        writer.options(&[(IF_TSRESOL, vec![3])]),
    ]
    .concat();
    let bytes = writer
        .interface_raw_options(1, &after_the_end)
        // Default microseconds: 5 000 000 µs = 5 s (not 5 000 s).
        .enhanced(0, 5_000_000, 114, &up_100())
        .finish();
    let (_, records) = read_ok(&bytes);
    assert_eq!(records[0].unix_second, 5);
}

fn extreme_time_offsets_and_resolutions_do_not_break_counting() {
    let little = PcapngWriter::new().section(false);
    let earliest = little.tsoffset(i64::MIN);
    let latest = little.tsoffset(i64::MAX);
    let bytes = little
        .interface(1, &[(IF_TSOFFSET, earliest)])
        .interface(1, &[(IF_TSOFFSET, latest)])
        .interface(1, &[(IF_TSRESOL, vec![0])])
        .enhanced(0, 0, 114, &up_100())
        .enhanced(1, u64::MAX, 114, &up_100())
        // 2^64 − 1 ticks of one second: some 584 billion years after 1970.
        .enhanced(2, u64::MAX, 114, &up_100())
        .finish();
    let (info, records) = read_ok(&bytes);
    assert_eq!(info.packets_total, 3);
    assert_eq!(records[0].unix_second, i64::MIN);
    // floor(T / R) ≥ 0 and the offset is ≥ 0: both instants are after the epoch.
    assert!(records[1].unix_second > 0, "{}", records[1].unix_second);
    assert!(records[2].unix_second > 0, "{}", records[2].unix_second);
    let json = report_of("extreme-times.pcapng", &bytes).to_json();
    assert_eq!(counters(&json), [3, 3, 0, 0, 300, 0]);
}

// ---------------------------------------------------------------------------------------------
// pcapng: skipped blocks and where reading ends (R1.3)
// ---------------------------------------------------------------------------------------------

fn unknown_block_types_are_skipped() {
    let writer = PcapngWriter::new().section(true).interface(1, &[]);
    let bytes = writer
        .block(NRB_TYPE, &[0, 0, 0, 0])
        .enhanced(0, 0, 114, &up_100())
        .block(ISB_TYPE, &[0u8; 20])
        .block(0x0000_000a, &[1, 2, 3, 4, 5, 6, 7, 8]) // decryption secrets
        .block(0x0000_0bad, &[9; 13]) // custom, padded to 16
        .block(0x4000_0bad, &[])
        .block(0x7fff_ffff, &[0xff; 64])
        .enhanced(0, 0, 214, &down_200())
        .finish();
    let json = report_of("unknown-blocks.pcapng", &bytes).to_json();
    assert_eq!(counters(&json), [2, 2, 0, 0, 100, 200]);
}

/// A little-endian file with one Ethernet interface and one good packet, then `tail`.
fn one_packet_then(tail: &[u8]) -> Vec<u8> {
    PcapngWriter::new()
        .section(false)
        .interface(1, &[])
        .enhanced(0, 0, 114, &up_100())
        .raw(tail)
        .finish()
}

fn impossible_block_lengths_end_the_reading() {
    let writer = PcapngWriter::new();
    let good_epb = writer.block_bytes(EPB_TYPE, &writer.enhanced_body(0, 0, 214, 214, &down_200()));
    let mut too_short = good_epb.clone();
    too_short[4..8].copy_from_slice(&8u32.to_le_bytes());
    let mut not_multiple_of_4 = good_epb.clone();
    not_multiple_of_4[4..8].copy_from_slice(&(good_epb.len() as u32 - 2).to_le_bytes());
    let mut past_the_end = good_epb.clone();
    past_the_end[4..8].copy_from_slice(&(good_epb.len() as u32 + 4).to_le_bytes());
    let mut unknown_past_the_end = writer.block_bytes(0x0000_0bad, &[0; 16]);
    unknown_past_the_end[4..8].copy_from_slice(&1_000u32.to_le_bytes());
    // The broken block, then (where the file goes on after it) a good packet that must not be
    // read.
    let cases: [(&str, Vec<u8>); 5] = [
        ("length 8", [too_short, good_epb.clone()].concat()),
        (
            "length not a multiple of 4",
            [not_multiple_of_4, good_epb.clone()].concat(),
        ),
        ("length past the end of the file", past_the_end),
        ("an unknown block past the end", unknown_past_the_end),
        ("a block header cut short", good_epb[..6].to_vec()),
    ];
    for (what, tail) in cases {
        let bytes = one_packet_then(&tail);
        let (info, records) = read_ok(&bytes);
        assert_eq!(info.packets_total, 1, "{what}");
        assert_eq!(records.len(), 1, "{what}");
        assert!(info.stopped_early.is_some(), "{what}");
        let json = report_of("cut.pcapng", &bytes).to_json();
        assert_eq!(counters(&json), [1, 1, 0, 0, 100, 0], "{what}");
        assert!(json.get("error").is_none(), "{what}");
    }
}

fn a_packet_block_too_short_for_its_captured_length_ends_the_reading() {
    let writer = PcapngWriter::new();
    // An EPB claiming 200 captured bytes that holds 114.
    let lying_epb = writer.block_bytes(EPB_TYPE, &writer.enhanced_body(0, 0, 200, 200, &up_100()));
    // An obsolete PB claiming 200 captured bytes that holds 114.
    // Interface 0, no drops, time 0 (12 bytes), then captured and original length 200.
    let pb_body = [
        vec![0; 12],
        writer.u32(200).to_vec(),
        writer.u32(200).to_vec(),
        up_100(),
    ]
    .concat();
    let lying_pb = writer.block_bytes(OBSOLETE_PB_TYPE, &pb_body);
    for (what, tail) in [("EPB", lying_epb), ("PB", lying_pb)] {
        let bytes = [one_packet_then(&tail), one_packet_then(&[])].concat();
        let (info, _) = read_ok(&bytes);
        assert_eq!(info.packets_total, 1, "{what}");
        assert!(info.stopped_early.is_some(), "{what}");
    }
}

fn a_pcapng_captured_length_above_262144_ends_the_reading() {
    let biggest = eth(ETHERTYPE_IPV4, &ipv4("192.168.1.10", "203.0.113.5", 0));
    let biggest = padded(&biggest, MAX_CAPLEN as usize - biggest.len());
    let too_big = padded(&biggest, 4);
    let bytes = PcapngWriter::new()
        .section(false)
        .interface(1, &[])
        // Exactly 262 144 captured bytes: counted, W = 262 144 − 14 = 262 130.
        .enhanced(0, 0, MAX_CAPLEN, &biggest)
        .enhanced(0, 0, MAX_CAPLEN + 4, &too_big)
        .enhanced(0, 0, 114, &up_100())
        .finish();
    let (info, records) = read_ok(&bytes);
    assert_eq!(info.packets_total, 1);
    assert_eq!(records.len(), 1);
    assert!(info.stopped_early.is_some());
    let json = report_of("huge.pcapng", &bytes).to_json();
    assert_eq!(counters(&json), [1, 1, 0, 0, 262_130, 0]);
}

fn a_later_invalid_section_header_ends_the_reading() {
    let cases: [(&str, PcapngWriter); 2] = [
        (
            "bad byte-order magic",
            PcapngWriter::new().section_with(false, 0x1122_3344, 1),
        ),
        (
            "major version 2",
            PcapngWriter::new().section_with(true, 0x1a2b_3c4d, 2),
        ),
    ];
    for (what, bad_section) in cases {
        let tail = bad_section
            .interface(1, &[])
            .enhanced(0, 0, 214, &down_200())
            .finish();
        let bytes = one_packet_then(&tail);
        let (info, records) = read_ok(&bytes);
        assert_eq!(info.packets_total, 1, "{what}");
        assert_eq!(records.len(), 1, "{what}");
        assert!(info.stopped_early.is_some(), "{what}");
    }
}

fn a_different_trailing_block_length_is_ignored() {
    let writer = PcapngWriter::new();
    let mut section = PcapngWriter::new().section(false).finish();
    let end = section.len();
    section[end - 4..].copy_from_slice(&0u32.to_le_bytes());
    let mut interface = writer.block_bytes(IDB_TYPE, &[1, 0, 0, 0, 0, 0, 4, 0]);
    let end = interface.len();
    interface[end - 4..].copy_from_slice(&0xdead_beef_u32.to_le_bytes());
    let mut packet = writer.block_bytes(EPB_TYPE, &writer.enhanced_body(0, 0, 114, 114, &up_100()));
    let end = packet.len();
    packet[end - 4..].copy_from_slice(&12u32.to_le_bytes());
    let mut simple = writer.block_bytes(SPB_TYPE, &[writer.u32(214).to_vec(), down_200()].concat());
    let end = simple.len();
    simple[end - 4..].copy_from_slice(&0xffff_ffff_u32.to_le_bytes());
    let bytes = PcapngWriter::new()
        .raw(&section)
        .raw(&interface)
        .raw(&packet)
        .raw(&simple)
        .enhanced(0, 0, 214, &down_200())
        .finish();
    let (info, records) = read_ok(&bytes);
    assert_eq!(info.packets_total, 3);
    assert_eq!(info.stopped_early, None);
    assert_eq!(records.len(), 3);
    let json = report_of("trailer.pcapng", &bytes).to_json();
    assert_eq!(counters(&json), [3, 3, 0, 0, 100, 400]);
}

fn an_unsupported_interface_anywhere_makes_the_whole_file_an_error() {
    // The unsupported interface in a later section, with no packets of its own.
    let later_section = PcapngWriter::new()
        .section(false)
        .interface(1, &[])
        .enhanced(0, 0, 114, &up_100())
        .section(true)
        .interface(113, &[])
        .interface(127, &[])
        .finish();
    // The first interface itself unsupported (the corpus' DLT 274 case).
    let first_interface = PcapngWriter::new()
        .section(false)
        .interface(274, &[])
        .interface(1, &[])
        .enhanced(1, 0, 114, &up_100())
        .finish();
    for (bytes, linktype, text) in [
        (later_section, 1, "unsupported linktype 127"),
        (first_interface, 274, "unsupported linktype 274"),
    ] {
        assert_eq!(read_err(&bytes), (text.to_string(), Some(linktype)));
        let json = report_of("unsupported.pcapng", &bytes).to_json();
        assert_eq!(json["linktype"], linktype);
        assert_eq!(json["error"], text);
        assert_eq!(counters(&json), [0; 6]);
        assert_eq!(json["hours"], json!({}));
        assert_eq!(json["remote_ips"], json!({}));
    }
}

fn a_pcapng_file_without_interfaces_has_no_link_type() {
    let bytes = PcapngWriter::new().section(false).finish();
    let (info, _) = read_ok(&bytes);
    assert_eq!(
        info,
        CaptureInfo {
            linktype: None,
            packets_total: 0,
            stopped_early: None,
        }
    );
    let json = report_of("no-interfaces.pcapng", &bytes).to_json();
    assert_eq!(json["linktype"], Value::Null);
    assert!(json.get("error").is_none());
}

fn read_errors_name_their_kind() {
    let (result, _) = read_via_file(&[]);
    assert!(matches!(
        result.map_err(|e| e.kind),
        Err(FileErrorKind::UnsupportedFormat)
    ));
    let bytes = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 127).finish();
    let (result, _) = read_via_file(&bytes);
    assert!(matches!(
        result.map_err(|e| e.kind),
        Err(FileErrorKind::UnsupportedLinktype(127))
    ));
}

fn classic_pcap_version_fields_are_not_checked() {
    for version in [[0u8, 0, 0, 0], [0xff, 0xff, 0xff, 0xff], [1, 0, 0, 0]] {
        let mut bytes = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 1)
            .record(0, 0, 114, &up_100())
            .finish();
        bytes[4..8].copy_from_slice(&version);
        let (info, records) = read_ok(&bytes);
        assert_eq!(info.packets_total, 1, "version bytes {version:?}");
        assert_eq!(records.len(), 1);
    }
}

fn a_zero_length_record_is_a_packet_that_is_not_ip() {
    let bytes = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 1)
        .record(0, 0, 0, &[])
        .record(0, 0, 60, &[])
        .record(0, 0, 114, &up_100())
        .finish();
    let (info, records) = read_ok(&bytes);
    assert_eq!(info.packets_total, 3);
    assert_eq!(info.stopped_early, None);
    assert_eq!(records[1], seen(LinkType::Ethernet, &[], 60, 0));
    let json = report_of("empty-records.pcap", &bytes).to_json();
    assert_eq!(counters(&json), [3, 1, 0, 0, 100, 0]);
}

fn section_header_options_are_not_parsed() {
    // A section header whose options area is garbage (an option claiming 0xffff bytes).
    for big_endian in [false, true] {
        let writer = PcapngWriter::new();
        let order = |value: u32| {
            if big_endian {
                value.to_be_bytes()
            } else {
                value.to_le_bytes()
            }
        };
        let mut body = order(0x1a2b_3c4d).to_vec();
        let major: [u8; 2] = if big_endian { [0, 1] } else { [1, 0] };
        body.extend_from_slice(&major);
        body.extend_from_slice(&[0, 0]); // minor version 0
        body.extend_from_slice(&u64::MAX.to_le_bytes()); // section length unknown
        body.extend_from_slice(&[0x02, 0x00, 0xff, 0xff, 0xde, 0xad, 0xbe, 0xef]);
        let mut section = writer.block_bytes(SHB_TYPE, &body);
        // The block lengths in the section's own byte order.
        let total = order(section.len() as u32);
        section[4..8].copy_from_slice(&total);
        let end = section.len();
        section[end - 4..].copy_from_slice(&total);
        let rest = PcapngWriter::new()
            .section(big_endian)
            .interface(1, &[])
            .enhanced(0, 0, 114, &up_100())
            .finish();
        // Drop the writer's own section header (28 bytes): ours replaces it.
        let bytes = [section, rest[28..].to_vec()].concat();
        let (info, records) = read_ok(&bytes);
        assert_eq!(info.packets_total, 1, "big endian: {big_endian}");
        assert_eq!(info.stopped_early, None);
        assert_eq!(records.len(), 1);
    }
}

// ---------------------------------------------------------------------------------------------
// JSON shape (sections 7 and 8)
// ---------------------------------------------------------------------------------------------

const REPORT_KEYS: [&str; 12] = [
    "file",
    "linktype",
    "packets_total",
    "packets_counted",
    "malformed",
    "lan_bytes",
    "up_bytes",
    "down_bytes",
    "hours",
    "remote_ips",
    "devices",
    "services",
];

fn keys(json: &Value) -> BTreeSet<&str> {
    json.as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

fn a_report_has_every_field_and_sums_that_agree() {
    let t = utc(2024, 5, 6, 7, 59, 59);
    let ts = u32::try_from(t).expect("fits");
    let lan = eth(
        ETHERTYPE_IPV4,
        &ipv4_packet("192.168.1.10", "192.168.1.20", 40),
    );
    let mut malformed = up_100();
    malformed[14] = 0x44; // IHL 4
    let arp = eth(ETHERTYPE_ARP, &[0; 28]);
    let bytes = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 1)
        .record(ts, 0, 114, &up_100())
        .record(ts + 1, 0, 214, &down_200())
        .record(ts + 2, 0, lan.len() as u32, &lan)
        .record(ts + 3, 0, 114, &malformed)
        .record(ts + 4, 0, arp.len() as u32, &arp)
        .finish();
    let dir = TempDir::new("shape");
    let path = dir.write("shape.pcap", &bytes);
    let json = count_file(&path, &mut utc_counter()).to_json();
    assert_eq!(keys(&json), BTreeSet::from(REPORT_KEYS));
    // 07:59:59 is in hour 07:00; one second later, 08:00.
    assert_eq!(
        json,
        json!({
            "file": "shape.pcap",
            "linktype": 1,
            "packets_total": 5,
            "packets_counted": 2,
            "malformed": 1,
            "lan_bytes": 60,
            "up_bytes": 100,
            "down_bytes": 200,
            "hours": {
                "2024-05-06 07:00": {"up_bytes": 100, "down_bytes": 0},
                "2024-05-06 08:00": {"up_bytes": 0, "down_bytes": 200},
            },
            "remote_ips": {
                "203.0.113.5": {"up_bytes": 100, "down_bytes": 200},
            },
            "devices": {
                "192.168.1.10": {"up_bytes": 100, "down_bytes": 200},
            },
            // UDP between ports 0 and 0 (the frames' zero payload): no service of the table.
            "services": {
                "other-udp": {"up_bytes": 100, "down_bytes": 200},
            },
        })
    );
    // The file field is the base name, not the path.
    assert!(path.to_string_lossy().len() > "shape.pcap".len());
}

fn an_error_entry_has_every_field_plus_the_error() {
    let report = report_of("garbage.bin", b"this is not a capture file, not even close");
    let json = report.to_json();
    let mut expected_keys = BTreeSet::from(REPORT_KEYS);
    expected_keys.insert("error");
    assert_eq!(keys(&json), expected_keys);
    assert_eq!(
        json,
        json!({
            "file": "garbage.bin",
            "linktype": null,
            "packets_total": 0,
            "packets_counted": 0,
            "malformed": 0,
            "lan_bytes": 0,
            "up_bytes": 0,
            "down_bytes": 0,
            "hours": {},
            "remote_ips": {},
            "devices": {},
            "services": {},
            "error": FORMAT_ERROR,
        })
    );
}

fn ipv6_remote_keys_are_rfc_5952_and_mapped_ones_use_mixed_notation() {
    let lan = "fd00::10";
    // Each remote receives one upload with Payload Length 10 (50 bytes).
    let remotes_and_keys = [
        // The longest run of zero groups is compressed; on a tie, the first one.
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("2001:db8:0:0:1:0:0:0", "2001:db8:0:0:1::"),
        ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
        // Leading zeros dropped.
        (
            "2001:0db8:0000:0000:0000:ff00:0042:8329",
            "2001:db8::ff00:42:8329",
        ),
        // A single zero group is not compressed.
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
        // Lower case.
        (
            "2001:DB8:AAAA:BBBB:CCCC:DDDD:EEEE:FFFF",
            "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff",
        ),
        // IPv4-mapped: mixed notation, and a key of its own beside the plain IPv4 one.
        ("::ffff:203.0.113.5", "::ffff:203.0.113.5"),
        // IPv4-compatible and NAT64 are plain RFC 5952 (only mapped addresses are mixed).
        ("::203.0.113.5", "::cb00:7105"),
        ("64:ff9b::203.0.113.5", "64:ff9b::cb00:7105"),
    ];
    let mut writer = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, true, 1);
    for (remote, _) in remotes_and_keys {
        let src = if remote.starts_with("::ffff:") {
            "::ffff:192.168.1.10"
        } else {
            lan
        };
        let frame = eth(ETHERTYPE_IPV6, &ipv6_packet(src, remote, 10));
        writer = writer.record(0, 0, frame.len() as u32, &frame);
    }
    let bytes = writer.record(0, 0, 114, &up_100()).finish();
    let json = report_of("v6.pcap", &bytes).to_json();
    let mut expected = serde_json::Map::new();
    for (_, key) in remotes_and_keys {
        expected.insert(key.to_string(), json!({"up_bytes": 50, "down_bytes": 0}));
    }
    expected.insert(
        "203.0.113.5".into(),
        json!({"up_bytes": 100, "down_bytes": 0}),
    );
    assert_eq!(json["remote_ips"], Value::Object(expected));
    // 9 × 50 + 100.
    assert_eq!(counters(&json), [10, 10, 0, 0, 550, 0]);
}

tests! {
    classic_pcap_microseconds_in_both_byte_orders,
    classic_pcap_nanoseconds_in_both_byte_orders,
    classic_pcap_seconds_are_unsigned_and_fractions_carry,
    the_upper_bits_of_the_pcap_link_type_are_ignored,
    every_supported_link_type_number_is_read,
    the_modified_pcap_magic_is_rejected,
    unknown_magic_and_short_files_are_rejected,
    a_pcapng_file_must_start_with_a_valid_section_header,
    an_unsupported_pcap_link_type_is_an_error_entry,
    a_cut_off_record_header_ends_the_reading_after_what_came_before,
    cut_off_record_data_ends_the_reading_after_what_came_before,
    a_captured_length_above_262144_ends_the_reading,
    an_original_length_below_the_captured_length_is_raised_to_it,
    a_snapped_record_counts_its_original_length,
    an_empty_pcap_is_a_valid_file_with_nothing_in_it,
    pcapng_enhanced_packets_in_both_byte_orders,
    pcapng_sections_number_their_own_interfaces_of_different_link_types,
    a_record_pointing_to_a_missing_interface_counts_as_malformed,
    simple_packet_blocks_take_the_first_interface_time_zero_and_the_smaller_length,
    a_simple_packet_block_before_any_interface_counts_as_malformed,
    obsolete_packet_blocks_are_packets,
    interface_time_resolution_and_offset_options,
    the_time_offset_is_read_in_the_section_byte_order,
    malformed_interface_options_end_option_parsing,
    options_after_the_end_of_options_marker_are_ignored,
    extreme_time_offsets_and_resolutions_do_not_break_counting,
    unknown_block_types_are_skipped,
    impossible_block_lengths_end_the_reading,
    a_packet_block_too_short_for_its_captured_length_ends_the_reading,
    a_pcapng_captured_length_above_262144_ends_the_reading,
    a_later_invalid_section_header_ends_the_reading,
    a_different_trailing_block_length_is_ignored,
    an_unsupported_interface_anywhere_makes_the_whole_file_an_error,
    a_pcapng_file_without_interfaces_has_no_link_type,
    read_errors_name_their_kind,
    classic_pcap_version_fields_are_not_checked,
    a_zero_length_record_is_a_packet_that_is_not_ip,
    section_header_options_are_not_parsed,
    a_report_has_every_field_and_sums_that_agree,
    an_error_entry_has_every_field_plus_the_error,
    ipv6_remote_keys_are_rfc_5952_and_mapped_ones_use_mixed_notation,
}
