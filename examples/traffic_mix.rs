//! Writes the traffic mix `scripts/capbench` replays and `benches/pipeline.rs` counts
//! (`tests/captures/mix/traffic-mix.pcap`): one cycle of 100 Ethernet frames of what a NAS sees.
//!
//! ```text
//! cargo run --example traffic_mix -- tests/captures/mix/traffic-mix.pcap
//! ```
//!
//! - 60 full-size frames (IP length 1500: 1514 bytes, 1518 with a VLAN tag) and 40 small ones
//!   (64 bytes, 68 with a tag): 934.4 bytes on average;
//! - 70 IPv4, 30 IPv6; 71 with a public peer (203.0.113.0/24, 198.51.100.0/24, 2001:db8::/32
//!   outside the NAS's own 2001:db8:77::/64), 29 with a private one (192.168.77.0/24, fd77::/64,
//!   fe80::/64); half upload, half download;
//! - 10 carry an 802.1Q tag (VLAN 77);
//! - TCP 443 (data and acknowledgements), UDP 443 (QUIC) and UDP 53 (DNS).
//!
//! Every frame is addressed to a MAC address nobody has (02:77:00:00:00:fe), so the capturing
//! namespace's IP stack drops it as PACKET_OTHERHOST right after the capture taps: no replies, no
//! socket lookups, nothing but the capture path is measured. The NAS is 192.168.77.1, fd77::1 and
//! 2001:db8:77::1 (the addresses `scripts/capbench` gives its capture interface).

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::ExitCode;

const FRAMES: usize = 100;
const NOBODY_MAC: [u8; 6] = [0x02, 0x77, 0, 0, 0, 0xfe];
const SENDER_MAC: [u8; 6] = [0x02, 0x77, 0, 0, 0, 0x02];
const VLAN_ID: u16 = 77;
const FULL_IP_LEN: usize = 1500;
const SMALL_FRAME_LEN: usize = 64;
/// 2026-01-01 00:00:00 UTC; frames 10 µs apart.
const FIRST_SECOND: u32 = 1_767_225_600;

const NAS_V4: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 1);
const NAS_ULA: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 1);
const NAS_GLOBAL: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x77, 0, 0, 0, 0, 1);
const NAS_LINK_LOCAL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0x77, 1);

#[derive(Clone, Copy)]
enum Transport {
    Tcp,
    Udp,
}

/// What frame `index` of the cycle is; the remainders spread each property over the cycle.
struct Shape {
    ipv6: bool,
    public: bool,
    upload: bool,
    full_size: bool,
    tagged: bool,
    transport: Transport,
    port: u16,
}

fn shape(index: usize) -> Shape {
    let full_size = index % 5 < 3;
    let udp = index % 4 == 1;
    Shape {
        ipv6: matches!(index % 10, 2 | 5 | 8),
        public: !matches!(index % 7, 1 | 4),
        upload: index % 4 >= 2,
        full_size,
        tagged: index % 10 == 7,
        // Small IPv6 frames have room for no TCP header: those are DNS questions.
        transport: if udp || (!full_size && matches!(index % 10, 2 | 5 | 8)) {
            Transport::Udp
        } else {
            Transport::Tcp
        },
        port: if udp && !full_size { 53 } else { 443 },
    }
}

fn public_v4(index: usize) -> Ipv4Addr {
    if index.is_multiple_of(3) {
        Ipv4Addr::new(203, 0, 113, 9)
    } else {
        Ipv4Addr::new(198, 51, 100, 1 + (index % 7) as u8)
    }
}

fn public_v6(index: usize) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1 + (index % 4) as u16)
}

fn private_v4(index: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 77, 2 + (index % 4) as u8)
}

fn private_v6(index: usize) -> (Ipv6Addr, Ipv6Addr) {
    if index.is_multiple_of(2) {
        (
            NAS_ULA,
            Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 2 + (index % 3) as u16),
        )
    } else {
        (
            NAS_LINK_LOCAL,
            Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0x77, 2),
        )
    }
}

/// The one's-complement sum of RFC 1071, folded.
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        for pair in part.chunks(2) {
            let word = u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]);
            sum += u32::from(word);
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A TCP or UDP segment of `len` bytes with its checksum over `pseudo`.
fn segment(
    transport: Transport,
    port: u16,
    upload: bool,
    len: usize,
    index: usize,
    pseudo: &[u8],
) -> Vec<u8> {
    let (source, destination) = if upload {
        (50_000 + index as u16, port)
    } else {
        (port, 50_000 + index as u16)
    };
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(&source.to_be_bytes());
    bytes.extend_from_slice(&destination.to_be_bytes());
    let checksum_at = match transport {
        Transport::Tcp => {
            bytes.extend_from_slice(&(1_000 * index as u32).to_be_bytes());
            bytes.extend_from_slice(&7_000u32.to_be_bytes());
            bytes.extend_from_slice(&[5 << 4, 0x18]); // 20-byte header; PSH, ACK
            bytes.extend_from_slice(&502u16.to_be_bytes());
            bytes.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
            16
        }
        Transport::Udp => {
            bytes.extend_from_slice(&(len as u16).to_be_bytes());
            bytes.extend_from_slice(&[0, 0]);
            6
        }
    };
    bytes.extend((bytes.len()..len).map(|at| (at + index) as u8));
    let sum = match checksum(&[pseudo, &bytes]) {
        0 => 0xffff,
        sum => sum,
    };
    bytes[checksum_at..checksum_at + 2].copy_from_slice(&sum.to_be_bytes());
    bytes
}

fn ipv4_packet(shape: &Shape, index: usize, ip_len: usize) -> Vec<u8> {
    let peer = if shape.public {
        public_v4(index)
    } else {
        private_v4(index)
    };
    let (source, destination) = if shape.upload {
        (NAS_V4, peer)
    } else {
        (peer, NAS_V4)
    };
    let protocol = match shape.transport {
        Transport::Tcp => 6u8,
        Transport::Udp => 17,
    };
    let segment_len = ip_len - 20;
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&source.octets());
    pseudo.extend_from_slice(&destination.octets());
    pseudo.extend_from_slice(&[0, protocol]);
    pseudo.extend_from_slice(&(segment_len as u16).to_be_bytes());
    let mut header = vec![0x45, 0];
    header.extend_from_slice(&(ip_len as u16).to_be_bytes());
    header.extend_from_slice(&(index as u16).to_be_bytes());
    header.extend_from_slice(&[0x40, 0, 64, protocol, 0, 0]); // don't fragment, TTL 64
    header.extend_from_slice(&source.octets());
    header.extend_from_slice(&destination.octets());
    let sum = checksum(&[&header]);
    header[10..12].copy_from_slice(&sum.to_be_bytes());
    header.extend(segment(
        shape.transport,
        shape.port,
        shape.upload,
        segment_len,
        index,
        &pseudo,
    ));
    header
}

fn ipv6_packet(shape: &Shape, index: usize, ip_len: usize) -> Vec<u8> {
    let (nas, peer) = if shape.public {
        (NAS_GLOBAL, public_v6(index))
    } else {
        private_v6(index)
    };
    let (source, destination) = if shape.upload {
        (nas, peer)
    } else {
        (peer, nas)
    };
    let protocol = match shape.transport {
        Transport::Tcp => 6u8,
        Transport::Udp => 17,
    };
    let payload_len = ip_len - 40;
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&source.octets());
    pseudo.extend_from_slice(&destination.octets());
    pseudo.extend_from_slice(&(payload_len as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, protocol]);
    let mut header = vec![0x60, 0, 0, 0];
    header.extend_from_slice(&(payload_len as u16).to_be_bytes());
    header.extend_from_slice(&[protocol, 64]);
    header.extend_from_slice(&source.octets());
    header.extend_from_slice(&destination.octets());
    header.extend(segment(
        shape.transport,
        shape.port,
        shape.upload,
        payload_len,
        index,
        &pseudo,
    ));
    header
}

fn frame(index: usize) -> Vec<u8> {
    let shape = shape(index);
    let link_len = 14;
    let ip_len = if shape.full_size {
        FULL_IP_LEN
    } else {
        SMALL_FRAME_LEN - link_len
    };
    let mut frame = Vec::with_capacity(1518);
    frame.extend_from_slice(&NOBODY_MAC);
    frame.extend_from_slice(&SENDER_MAC);
    if shape.tagged {
        frame.extend_from_slice(&0x8100u16.to_be_bytes());
        frame.extend_from_slice(&VLAN_ID.to_be_bytes());
    }
    if shape.ipv6 {
        frame.extend_from_slice(&0x86ddu16.to_be_bytes());
        frame.extend(ipv6_packet(&shape, index, ip_len));
    } else {
        frame.extend_from_slice(&0x0800u16.to_be_bytes());
        frame.extend(ipv4_packet(&shape, index, ip_len));
    }
    frame
}

/// A classic microsecond pcap with Ethernet frames.
fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut file = Vec::new();
    file.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    file.extend_from_slice(&2u16.to_le_bytes());
    file.extend_from_slice(&4u16.to_le_bytes());
    file.extend_from_slice(&[0; 8]); // time zone, accuracy
    file.extend_from_slice(&65_535u32.to_le_bytes());
    file.extend_from_slice(&1u32.to_le_bytes());
    for (index, frame) in frames.iter().enumerate() {
        file.extend_from_slice(&FIRST_SECOND.to_le_bytes());
        file.extend_from_slice(&(10 * index as u32).to_le_bytes());
        file.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        file.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        file.extend_from_slice(frame);
    }
    file
}

fn main() -> ExitCode {
    let Some(target) = std::env::args_os().nth(1) else {
        eprintln!("usage: traffic_mix OUTPUT.pcap");
        return ExitCode::from(2);
    };
    let frames: Vec<Vec<u8>> = (0..FRAMES).map(frame).collect();
    let bytes: usize = frames.iter().map(Vec::len).sum();
    let written =
        std::fs::File::create(&target).and_then(|mut file| file.write_all(&pcap(&frames)));
    if let Err(error) = written {
        eprintln!(
            "traffic_mix: cannot write {}: {error}",
            target.to_string_lossy()
        );
        return ExitCode::FAILURE;
    }
    println!(
        "{FRAMES} frames, {bytes} bytes, {:.1} bytes on average",
        bytes as f64 / FRAMES as f64
    );
    ExitCode::SUCCESS
}
