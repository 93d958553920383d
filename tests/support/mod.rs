//! The one support module of every integration test binary (`tests/<theme>/main.rs` includes it
//! as `support`): the test runner ([`harness`]) and the helpers the tests share.
//!
//! This file holds hand-built inputs: IP headers, link-layer frames (Ethernet with VLAN tags and
//! PPPoE, Linux SLL and SLL2, BSD null), classic pcap and pcapng file writers in either byte order,
//! a temporary directory that removes itself, small helpers that run the real counting path
//! (`count::Counter::count` into a `count::FileTally`) and the capture corpus. The submodules:
//! [`netns`] (namespaces, veth pairs, running commands), [`web`] (the real monitor in a namespace
//! and a client that reaches it), [`http`] (a test server and a raw HTTP client, the one answer
//! type), [`disk`] (file systems to break).
//!
//! Everything here writes bytes exactly as the formats define them, field by field, so a test's
//! expected numbers can be derived by hand from the bytes it builds. Each test binary uses only a
//! subset of the helpers, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use nettraffic_sentinel::capture::file::{CaptureInfo, FileError, read_capture};
use nettraffic_sentinel::classify::AddressClassifier;
use nettraffic_sentinel::clock::{HourClock, Zone};
use nettraffic_sentinel::count::{Counter, FileTally, Frame, Outcome, UpDown};
use nettraffic_sentinel::parse::{FrameMeta, LinkType};

// ---------------------------------------------------------------------------------------------
// IP headers
// ---------------------------------------------------------------------------------------------

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_PPPOE_DISCOVERY: u16 = 0x8863;
pub const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;

/// A 20-byte IPv4 header (version 4, IHL 5) with the given Total Length field.
pub fn ipv4(src: &str, dst: &str, total_len: u16) -> Vec<u8> {
    let src: Ipv4Addr = src.parse().expect("test IPv4 source");
    let dst: Ipv4Addr = dst.parse().expect("test IPv4 destination");
    let mut header = vec![0u8; 20];
    header[0] = 0x45;
    header[2..4].copy_from_slice(&total_len.to_be_bytes());
    header[8] = 64; // TTL
    header[9] = 17; // UDP
    header[12..16].copy_from_slice(&src.octets());
    header[16..20].copy_from_slice(&dst.octets());
    header
}

/// A complete IPv4 packet: header with Total Length = 20 + `payload_len`, then zero payload.
pub fn ipv4_packet(src: &str, dst: &str, payload_len: usize) -> Vec<u8> {
    let total = 20 + payload_len;
    let mut packet = ipv4(src, dst, u16::try_from(total).expect("fits a Total Length"));
    packet.resize(total, 0);
    packet
}

/// A 40-byte IPv6 header with the given Payload Length field.
pub fn ipv6(src: &str, dst: &str, payload_len: u16) -> Vec<u8> {
    let src: Ipv6Addr = src.parse().expect("test IPv6 source");
    let dst: Ipv6Addr = dst.parse().expect("test IPv6 destination");
    let mut header = vec![0u8; 40];
    header[0] = 0x60;
    header[4..6].copy_from_slice(&payload_len.to_be_bytes());
    header[6] = 17; // next header: UDP
    header[7] = 64; // hop limit
    header[8..24].copy_from_slice(&src.octets());
    header[24..40].copy_from_slice(&dst.octets());
    header
}

/// A complete IPv6 packet: header with Payload Length = `payload_len`, then zero payload.
pub fn ipv6_packet(src: &str, dst: &str, payload_len: usize) -> Vec<u8> {
    let mut packet = ipv6(src, dst, u16::try_from(payload_len).expect("fits"));
    packet.resize(40 + payload_len, 0);
    packet
}

/// `bytes` followed by `count` zero bytes (payload, Ethernet padding, a trailing FCS...).
pub fn padded(bytes: &[u8], count: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out.resize(bytes.len() + count, 0);
    out
}

// ---------------------------------------------------------------------------------------------
// Link layers
// ---------------------------------------------------------------------------------------------

/// Ethernet II: destination and source MAC (12 bytes), EtherType, payload.
pub fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02];
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// Ethernet II with one 4-byte VLAN tag per entry of `tpids` (TPID + TCI), then `ethertype`.
pub fn eth_tagged(tpids: &[u16], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let Some((first, rest)) = tpids.split_first() else {
        return eth(ethertype, payload);
    };
    // Each tag after the outer TPID: TCI (PCP 5, DEI 1, VLAN id 100 + position), next TPID.
    let mut after_first_tpid = Vec::new();
    for (position, tpid) in rest.iter().enumerate() {
        after_first_tpid.extend_from_slice(&(0xb064 + position as u16).to_be_bytes());
        after_first_tpid.extend_from_slice(&tpid.to_be_bytes());
    }
    after_first_tpid.extend_from_slice(&0xb0c8u16.to_be_bytes());
    after_first_tpid.extend_from_slice(&ethertype.to_be_bytes());
    after_first_tpid.extend_from_slice(payload);
    eth(*first, &after_first_tpid)
}

/// The 6-byte PPPoE session header (version/type 0x11, code 0, session id, length) followed by
/// the PPP protocol field bytes exactly as given (2 bytes, or 1 when compressed) and `payload`.
pub fn pppoe_session(protocol: &[u8], payload: &[u8]) -> Vec<u8> {
    let length = u16::try_from(protocol.len() + payload.len()).expect("fits");
    let mut body = vec![0x11, 0x00, 0x12, 0x34];
    body.extend_from_slice(&length.to_be_bytes());
    body.extend_from_slice(protocol);
    body.extend_from_slice(payload);
    body
}

/// Linux cooked capture v1 (16 bytes): packet type, ARPHRD, address length, 8 address bytes,
/// protocol; then `payload`.
pub fn sll(packet_type: u16, protocol: u16, payload: &[u8]) -> Vec<u8> {
    sll_with_arphrd(packet_type, 1, protocol, payload)
}

/// [`sll`] with a chosen ARPHRD field (which the rules never consult).
pub fn sll_with_arphrd(packet_type: u16, arphrd: u16, protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&packet_type.to_be_bytes());
    frame.extend_from_slice(&arphrd.to_be_bytes());
    frame.extend_from_slice(&6u16.to_be_bytes());
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x03, 0, 0]);
    frame.extend_from_slice(&protocol.to_be_bytes());
    assert_eq!(frame.len(), 16);
    frame.extend_from_slice(payload);
    frame
}

/// Linux cooked capture v2 (20 bytes): protocol, reserved, interface index, ARPHRD,
/// packet type (offset 10), address length, 8 address bytes; then `payload`.
pub fn sll2(protocol: u16, packet_type: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&protocol.to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(&3u32.to_be_bytes());
    frame.extend_from_slice(&1u16.to_be_bytes());
    frame.push(packet_type);
    frame.push(6);
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x03, 0, 0]);
    assert_eq!(frame.len(), 20);
    frame.extend_from_slice(payload);
    frame
}

/// BSD loopback/null: the 4-byte address-family field exactly as given, then `payload`.
pub fn null(family_field: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut frame = family_field.to_vec();
    frame.extend_from_slice(payload);
    frame
}

// ---------------------------------------------------------------------------------------------
// Counting through the real path
// ---------------------------------------------------------------------------------------------

/// A counter with the built-in address rules and UTC hours.
pub fn utc_counter() -> Counter {
    Counter::new(AddressClassifier::default(), HourClock::new(Zone::utc()))
}

/// What a source knows of a frame that was captured whole: wire length = captured length.
pub fn whole(frame: &[u8]) -> FrameMeta {
    FrameMeta {
        wire_len: frame.len() as u32,
        ..FrameMeta::default()
    }
}

/// Count one frame (time 0, UTC, built-in rules) into a fresh tally.
pub fn count_one(link: LinkType, data: &[u8], meta: FrameMeta) -> (Outcome, FileTally) {
    let mut tally = FileTally::new();
    let outcome = utc_counter().count(
        &Frame {
            link,
            data,
            meta,
            unix_second: 0,
        },
        &mut tally,
    );
    (outcome, tally)
}

/// The remote-address map of a tally, ordered, for whole-map comparisons.
pub fn remotes(tally: &FileTally) -> BTreeMap<IpAddr, UpDown> {
    tally
        .remotes()
        .map(|(addr, bytes)| (*addr, *bytes))
        .collect()
}

/// Shorthand for an [`UpDown`].
pub fn up_down(up: u64, down: u64) -> UpDown {
    UpDown { up, down }
}

/// Parse an address literal.
pub fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address literal")
}

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `days_from_civil`), so that
/// expected instants are derived by arithmetic, not by the time library under test.
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Unix seconds of a UTC date and time.
pub fn utc(year: i64, month: i64, day: i64, hour: i64, minute: i64, second: i64) -> i64 {
    days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
}

// ---------------------------------------------------------------------------------------------
// Classic pcap
// ---------------------------------------------------------------------------------------------

pub const PCAP_MAGIC_MICROSECONDS: u32 = 0xa1b2_c3d4;
pub const PCAP_MAGIC_NANOSECONDS: u32 = 0xa1b2_3c4d;
pub const PCAP_MAGIC_MODIFIED: u32 = 0xa1b2_cd34;

/// A classic pcap file being written in one byte order.
pub struct PcapWriter {
    big_endian: bool,
    bytes: Vec<u8>,
}

impl PcapWriter {
    /// The 24-byte file header: magic, version 2.4, zone 0, sigfigs 0, snaplen 65535, link type.
    pub fn new(magic: u32, big_endian: bool, linktype_field: u32) -> PcapWriter {
        let mut writer = PcapWriter {
            big_endian,
            bytes: Vec::new(),
        };
        writer.u32(magic);
        writer.u16(2);
        writer.u16(4);
        writer.u32(0);
        writer.u32(0);
        writer.u32(65_535);
        writer.u32(linktype_field);
        writer
    }

    /// A record whose captured length is `data.len()`.
    pub fn record(mut self, ts_sec: u32, ts_frac: u32, orig_len: u32, data: &[u8]) -> PcapWriter {
        self.record_header(ts_sec, ts_frac, data.len() as u32, orig_len);
        self.bytes.extend_from_slice(data);
        self
    }

    /// A record header claiming `caplen`, whatever follows it.
    pub fn record_header(&mut self, ts_sec: u32, ts_frac: u32, caplen: u32, orig_len: u32) {
        self.u32(ts_sec);
        self.u32(ts_frac);
        self.u32(caplen);
        self.u32(orig_len);
    }

    /// Append raw bytes (a cut-off record, garbage).
    pub fn raw(mut self, bytes: &[u8]) -> PcapWriter {
        self.bytes.extend_from_slice(bytes);
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }

    fn u16(&mut self, value: u16) {
        let bytes = if self.big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        };
        self.bytes.extend_from_slice(&bytes);
    }

    fn u32(&mut self, value: u32) {
        let bytes = if self.big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        };
        self.bytes.extend_from_slice(&bytes);
    }
}

// ---------------------------------------------------------------------------------------------
// pcapng
// ---------------------------------------------------------------------------------------------

pub const SHB_TYPE: u32 = 0x0a0d_0d0a;
pub const IDB_TYPE: u32 = 1;
pub const OBSOLETE_PB_TYPE: u32 = 2;
pub const SPB_TYPE: u32 = 3;
pub const NRB_TYPE: u32 = 4;
pub const ISB_TYPE: u32 = 5;
pub const EPB_TYPE: u32 = 6;
pub const OPT_ENDOFOPT: u16 = 0;
pub const IF_TSRESOL: u16 = 9;
pub const IF_TSOFFSET: u16 = 14;

/// A pcapng file being written; each section chooses its byte order.
pub struct PcapngWriter {
    big_endian: bool,
    bytes: Vec<u8>,
}

impl Default for PcapngWriter {
    fn default() -> Self {
        PcapngWriter::new()
    }
}

impl PcapngWriter {
    pub fn new() -> PcapngWriter {
        PcapngWriter {
            big_endian: false,
            bytes: Vec::new(),
        }
    }

    /// A Section Header Block (28 bytes, version 1.0, section length unknown) that switches the
    /// byte order of everything after it.
    pub fn section(self, big_endian: bool) -> PcapngWriter {
        self.section_with(big_endian, 0x1a2b_3c4d, 1)
    }

    /// A Section Header Block with a chosen byte-order magic and major version.
    pub fn section_with(mut self, big_endian: bool, magic: u32, major: u16) -> PcapngWriter {
        self.big_endian = big_endian;
        let mut body = Vec::new();
        body.extend_from_slice(&self.u32(magic));
        body.extend_from_slice(&self.u16(major));
        body.extend_from_slice(&self.u16(0));
        body.extend_from_slice(&u64::MAX.to_le_bytes());
        self.block(SHB_TYPE, &body)
    }

    /// An Interface Description Block: link type, reserved, snaplen, then `options` encoded in
    /// the section's byte order and closed with `opt_endofopt`.
    pub fn interface(self, linktype: u16, options: &[(u16, Vec<u8>)]) -> PcapngWriter {
        let encoded = self.options(options);
        self.interface_raw_options(linktype, &encoded)
    }

    /// An Interface Description Block whose options area is exactly `options` (may be malformed).
    pub fn interface_raw_options(self, linktype: u16, options: &[u8]) -> PcapngWriter {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u16(linktype));
        body.extend_from_slice(&self.u16(0));
        body.extend_from_slice(&self.u32(262_144));
        body.extend_from_slice(options);
        self.block(IDB_TYPE, &body)
    }

    /// An Enhanced Packet Block with captured length `data.len()`.
    pub fn enhanced(self, interface: u32, ticks: u64, orig_len: u32, data: &[u8]) -> PcapngWriter {
        let body = self.enhanced_body(interface, ticks, data.len() as u32, orig_len, data);
        self.block(EPB_TYPE, &body)
    }

    /// The body of an Enhanced Packet Block claiming `caplen`, data padded to 4 bytes.
    pub fn enhanced_body(
        &self,
        interface: u32,
        ticks: u64,
        caplen: u32,
        orig_len: u32,
        data: &[u8],
    ) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u32(interface));
        body.extend_from_slice(&self.u32((ticks >> 32) as u32));
        body.extend_from_slice(&self.u32(ticks as u32));
        body.extend_from_slice(&self.u32(caplen));
        body.extend_from_slice(&self.u32(orig_len));
        body.extend_from_slice(data);
        body
    }

    /// A Simple Packet Block: original length, then `data` (padded to 4 bytes).
    pub fn simple(self, orig_len: u32, data: &[u8]) -> PcapngWriter {
        let mut body = self.u32(orig_len).to_vec();
        body.extend_from_slice(data);
        self.block(SPB_TYPE, &body)
    }

    /// An obsolete Packet Block (type 2): interface id u16, drops u16, timestamp high and low,
    /// captured length, original length, data.
    pub fn obsolete_packet(
        self,
        interface: u16,
        ticks: u64,
        orig_len: u32,
        data: &[u8],
    ) -> PcapngWriter {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u16(interface));
        body.extend_from_slice(&self.u16(0));
        body.extend_from_slice(&self.u32((ticks >> 32) as u32));
        body.extend_from_slice(&self.u32(ticks as u32));
        body.extend_from_slice(&self.u32(data.len() as u32));
        body.extend_from_slice(&self.u32(orig_len));
        body.extend_from_slice(data);
        self.block(OBSOLETE_PB_TYPE, &body)
    }

    /// A block of any type: type, total length, body padded to 4 bytes, total length again.
    pub fn block(mut self, block_type: u32, body: &[u8]) -> PcapngWriter {
        let block = self.block_bytes(block_type, body);
        self.bytes.extend_from_slice(&block);
        self
    }

    /// The bytes of [`PcapngWriter::block`] without appending them.
    pub fn block_bytes(&self, block_type: u32, body: &[u8]) -> Vec<u8> {
        let padded_body = body.len().div_ceil(4) * 4;
        let total = (12 + padded_body) as u32;
        let mut block = self.u32(block_type).to_vec();
        block.extend_from_slice(&self.u32(total));
        block.extend_from_slice(body);
        block.resize(8 + padded_body, 0);
        block.extend_from_slice(&self.u32(total));
        block
    }

    /// Options in this section's byte order, each padded to 4 bytes, then `opt_endofopt`.
    pub fn options(&self, options: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut encoded = Vec::new();
        for (code, value) in options {
            encoded.extend_from_slice(&self.u16(*code));
            encoded.extend_from_slice(&self.u16(value.len() as u16));
            encoded.extend_from_slice(value);
            encoded.resize(encoded.len().div_ceil(4) * 4, 0);
        }
        encoded.extend_from_slice(&self.u16(OPT_ENDOFOPT));
        encoded.extend_from_slice(&self.u16(0));
        encoded
    }

    /// An `if_tsoffset` value (signed seconds) in this section's byte order.
    pub fn tsoffset(&self, seconds: i64) -> Vec<u8> {
        if self.big_endian {
            seconds.to_be_bytes().to_vec()
        } else {
            seconds.to_le_bytes().to_vec()
        }
    }

    /// Append raw bytes (a hand-made broken block, garbage).
    pub fn raw(mut self, bytes: &[u8]) -> PcapngWriter {
        self.bytes.extend_from_slice(bytes);
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }

    pub fn u16(&self, value: u16) -> [u8; 2] {
        if self.big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        }
    }

    pub fn u32(&self, value: u32) -> [u8; 4] {
        if self.big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Files on disk
// ---------------------------------------------------------------------------------------------

/// A fresh directory under the system temp dir, removed with everything in it when dropped.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let unique = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "nettraffic-sentinel-tests-{}-{label}-{unique}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).expect("create a temp dir");
        TempDir { path }
    }

    /// Write `bytes` to `name` inside the directory.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path.join(name);
        std::fs::write(&path, bytes).expect("write a test capture");
        path
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// One packet record as `read_capture` handed it over, copied out of its buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenRecord {
    pub link: LinkType,
    pub data: Vec<u8>,
    pub wire_len: u32,
    pub unix_second: i64,
}

/// Write `bytes` to a temp file and read it back with `read_capture`, keeping every record.
pub fn read_via_file(bytes: &[u8]) -> (Result<CaptureInfo, FileError>, Vec<SeenRecord>) {
    let dir = TempDir::new("read");
    let path = dir.write("capture", bytes);
    let file = File::open(&path).expect("open the test capture");
    let mut seen = Vec::new();
    let result = read_capture(BufReader::new(file), |record| {
        seen.push(SeenRecord {
            link: record.link,
            data: record.data.to_vec(),
            wire_len: record.wire_len,
            unix_second: record.unix_second,
        });
    });
    (result, seen)
}

pub mod disk;
#[macro_use]
pub mod harness;
pub mod http;
pub mod netns;
pub mod web;

/// The capture corpus inside the repository (`tests/captures/`, see its README).
pub fn captures_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/captures")
}

/// Extra corpora of the same layout, named by `NETTRAFFIC_EXTRA_CAPTURES` (folders separated by
/// `:`); none by default.
fn extra_capture_dirs() -> Vec<std::path::PathBuf> {
    std::env::var_os("NETTRAFFIC_EXTRA_CAPTURES")
        .map(|dirs| std::env::split_paths(&dirs).collect())
        .unwrap_or_default()
}

/// A capture of the corpus by file name (the repository's first, then the extra corpora's).
pub fn capture(name: &str) -> std::path::PathBuf {
    let mut dirs = vec![captures_dir()];
    dirs.extend(extra_capture_dirs());
    dirs.iter()
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("no capture {name} in {}", captures_dir().display()))
}

/// The expected `report --json` output for a capture of the corpus, beside it in `expected/`.
pub fn expected_json_path(name: &str) -> std::path::PathBuf {
    let file = capture(name);
    let dir = file.parent().expect("a capture lies in a folder");
    dir.join("expected").join(format!("{name}.json"))
}

/// Every capture file of the corpus (`*.pcap`, `*.pcapng` of `tests/captures/` and of any extra
/// corpus), sorted by name.
pub fn all_captures() -> Vec<std::path::PathBuf> {
    let mut dirs = vec![captures_dir()];
    dirs.extend(extra_capture_dirs());
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for dir in dirs {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()));
        files.extend(
            entries
                .map(|entry| entry.expect("directory entry").path())
                .filter(|path| {
                    let name = path.to_string_lossy();
                    path.is_file() && (name.ends_with(".pcap") || name.ends_with(".pcapng"))
                }),
        );
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    files
}
