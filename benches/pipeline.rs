//! What one packet costs from bytes in memory to a tally: parse → classify → clock → count, through
//! the same [`Counter::count`] the ring and capture files use. The goal is ≤ 40 ns per packet on one
//! core for the realistic mix, which is 10 Gbit/s of 934-byte frames with some headroom on a NAS CPU.
//!
//! Inputs:
//! - `realistic_pcaps`: every frame of the real captures in `tests/captures/`, odd and damaged
//!   ones included, as `report` would read them.
//! - `realistic_mix`: the 100-frame traffic mix `scripts/capbench` replays
//!   (`tests/captures/mix/traffic-mix.pcap`, written by `examples/traffic_mix.rs`).
//! - `worst_flood`: 64-byte IPv4 frames from one million distinct public sources, the most packets
//!   per second a link carries and a remote map that only ever misses.
//! - `ring_mix`: the mix laid out in TPACKET_V3 blocks exactly as the kernel fills them for the
//!   monitor (1 MiB × 8, 96-byte snap, VLAN tags stripped into the header, frames at 8-byte
//!   alignment), counted by the capture worker's own [`count_block`] into a live shard with the
//!   classifier live capture builds on `scripts/capbench`'s capture namespace; its baseline walks the
//!   same blocks and only sums `tp_len`, the zero-work reader's job.
//!
//! - `service_rule_pcaps`, `service_rule_mix`: what reading the service adds to parse + verdict
//!   (issue 14, not yet counted): bytes by direction against bytes by direction and by service.
//!
//! Sinks: the real [`FileTally`] (exact, for `report`); the real [`LiveShard`] that live capture
//! counts into (bounded heavy-hitter tables, default capacity); a sink that only adds bytes, so the
//! difference is the map cost;
//! and a baseline that sums `wire_len` over the same frames, the memory floor measured in the same
//! run. This machine is shared and noisy, so the ratio to that baseline is the figure to compare
//! between runs, not the nanoseconds; the summary printed at the end gives both, in ns per packet.

use std::fs::File;
use std::hint::black_box;
use std::io::BufReader;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, Criterion, SamplingMode, Throughput};
use nettraffic_sentinel::capture::block::{Block, TP_STATUS_VLAN_VALID, desc, frame};
use nettraffic_sentinel::capture::bpf::SNAP_LEN;
use nettraffic_sentinel::capture::file::read_capture;
use nettraffic_sentinel::capture::worker::count_block;
use nettraffic_sentinel::classify::{AddressClassifier, Direction, Verdict};
use nettraffic_sentinel::clock::{HourClock, HourStart, Zone};
use nettraffic_sentinel::count::live::LiveShard;
use nettraffic_sentinel::count::{Counter, FileTally, Frame, Tally};
use nettraffic_sentinel::parse::{
    FrameMeta, LinkType, Transport, TransportHeader, parse_frame, parse_frame_and_transport,
};
use nettraffic_sentinel::service::{self, Service};

const BASELINE: &str = "baseline_sum_wire_len";
const BYTES_ONLY: &str = "bytes_only_sink";
const FILE_TALLY: &str = "file_tally";
const LIVE_SHARD: &str = "live_shard";
const PARSE_VERDICT: &str = "parse_verdict";
const PARSE_VERDICT_TRANSPORT: &str = "parse_verdict_transport";
const PARSE_VERDICT_SERVICE: &str = "parse_verdict_service";
const SINKS: [&str; 7] = [
    BASELINE,
    BYTES_ONLY,
    FILE_TALLY,
    LIVE_SHARD,
    PARSE_VERDICT,
    PARSE_VERDICT_TRANSPORT,
    PARSE_VERDICT_SERVICE,
];

const FLOOD_SOURCES: u32 = 1_000_000;
const FLOOD_FRAME_LEN: usize = 64;
/// Coprime with [`FLOOD_SOURCES`], so `i * STRIDE mod FLOOD_SOURCES` visits every source once in
/// an order that has nothing sequential for the hasher or the prefetcher to exploit.
const FLOOD_STRIDE: u64 = 618_033;

/// Frames kept back to back in one buffer, the way a ring block holds them.
#[derive(Default)]
struct Corpus {
    bytes: Vec<u8>,
    records: Vec<(LinkType, Range<usize>, u32, i64)>,
}

impl Corpus {
    fn push(&mut self, link: LinkType, data: &[u8], wire_len: u32, unix_second: i64) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(data);
        self.records
            .push((link, start..self.bytes.len(), wire_len, unix_second));
    }

    fn append(&mut self, other: Corpus) {
        for (link, range, wire_len, unix_second) in &other.records {
            self.push(*link, &other.bytes[range.clone()], *wire_len, *unix_second);
        }
    }

    fn frames(&self) -> Vec<Frame<'_>> {
        self.records
            .iter()
            .map(|(link, range, wire_len, unix_second)| Frame {
                link: *link,
                data: &self.bytes[range.clone()],
                meta: FrameMeta {
                    wire_len: *wire_len,
                    ..FrameMeta::default()
                },
                unix_second: *unix_second,
            })
            .collect()
    }

    /// A capture file as `report` reads it, or `None` when `report` would count none of it.
    fn read(path: &Path) -> Option<Corpus> {
        let file = File::open(path).ok()?;
        let mut corpus = Corpus::default();
        read_capture(BufReader::new(file), |record| {
            corpus.push(
                record.link,
                record.data,
                record.wire_len,
                record.unix_second,
            );
        })
        .ok()?;
        Some(corpus)
    }
}

/// The capture corpus inside the repository (see its README).
fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/captures")
}

fn corpus_pcaps(dir: &Path) -> Corpus {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("tests/captures/ is readable")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    let mut all = Corpus::default();
    for path in &paths {
        // README, licences and unsupported captures are not frames; `report` skips them too.
        if let Some(corpus) = Corpus::read(path) {
            all.append(corpus);
        }
    }
    all
}

fn flood() -> Corpus {
    const SECOND: i64 = 1_730_000_000;
    let mut corpus = Corpus::default();
    corpus
        .bytes
        .reserve(FLOOD_SOURCES as usize * FLOOD_FRAME_LEN);
    for i in 0..u64::from(FLOOD_SOURCES) {
        let source = flood_source((i * FLOOD_STRIDE % u64::from(FLOOD_SOURCES)) as u32);
        corpus.push(
            LinkType::Ethernet,
            &udp_frame(source, Ipv4Addr::new(192, 168, 1, 10)),
            FLOOD_FRAME_LEN as u32,
            SECOND,
        );
    }
    corpus
}

/// The `index`-th flood source, all public: 198.18.0.0/15 (benchmarking, but not in the non-public
/// list), 203.0.113.0/24, then 11.0.0.0/8.
fn flood_source(index: u32) -> Ipv4Addr {
    const BENCHMARKING: u32 = 1 << 17;
    const TEST_NET_3: u32 = 1 << 8;
    if index < BENCHMARKING {
        Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + index)
    } else if index < BENCHMARKING + TEST_NET_3 {
        Ipv4Addr::new(203, 0, 113, (index - BENCHMARKING) as u8)
    } else {
        Ipv4Addr::from(u32::from(Ipv4Addr::new(11, 0, 0, 0)) + index - BENCHMARKING - TEST_NET_3)
    }
}

/// A 64-byte Ethernet II / IPv4 / UDP frame, the smallest a flood sends.
fn udp_frame(src: Ipv4Addr, dst: Ipv4Addr) -> [u8; FLOOD_FRAME_LEN] {
    let mut frame = [0u8; FLOOD_FRAME_LEN];
    frame[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x0a]);
    frame[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    frame[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut frame[14..];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((FLOOD_FRAME_LEN - 14) as u16).to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    ip[20..22].copy_from_slice(&40_000u16.to_be_bytes());
    ip[22..24].copy_from_slice(&443u16.to_be_bytes());
    ip[24..26].copy_from_slice(&((FLOOD_FRAME_LEN - 34) as u16).to_be_bytes());
    frame
}

/// Adds bytes and nothing else: parse, classify and clock cost without any map.
#[derive(Default)]
struct BytesOnly {
    up: u64,
    down: u64,
    lan: u64,
    malformed: u64,
}

impl Tally for BytesOnly {
    #[inline]
    fn traffic(
        &mut self,
        _hour: HourStart,
        direction: Direction,
        _remote: IpAddr,
        _local: IpAddr,
        bytes: u64,
        _service: Service,
    ) {
        match direction {
            Direction::Up => self.up += bytes,
            Direction::Down => self.down += bytes,
        }
    }

    #[inline]
    fn lan(&mut self, bytes: u64) {
        self.lan += bytes;
    }

    #[inline]
    fn malformed(&mut self) {
        self.malformed += 1;
    }
}

fn counter() -> Counter {
    // A zone with daylight saving, so hour changes go through the real tz database.
    let zone = Zone::named("Europe/Berlin").expect("the bundled tz database has Europe/Berlin");
    Counter::new(AddressClassifier::default(), HourClock::new(zone))
}

fn count_all<T: Tally>(counter: &mut Counter, frames: &[Frame<'_>], tally: &mut T) {
    for frame in black_box(frames) {
        counter.count(frame, tally);
    }
}

/// Baseline and bytes-only sink, which do not depend on how the tally is kept.
fn bench_common(group: &mut BenchmarkGroup<'_, WallTime>, frames: &[Frame<'_>]) {
    group.throughput(Throughput::Elements(frames.len() as u64));
    group.bench_function(BASELINE, |b| {
        b.iter(|| {
            black_box(frames)
                .iter()
                .map(|frame| u64::from(frame.meta.wire_len))
                .sum::<u64>()
        });
    });
    let mut counter = counter();
    let mut sink = BytesOnly::default();
    group.bench_function(BYTES_ONLY, |b| {
        b.iter(|| count_all(&mut counter, frames, &mut sink));
    });
    black_box(&sink);
}

/// Real captures: one tally kept across iterations, so after the first pass every remote and hour
/// is known, the steady state of a long-running capture.
fn bench_realistic(c: &mut Criterion, name: &str, corpus: &Corpus) {
    let frames = corpus.frames();
    eprintln!("{name}: {} frames", frames.len());
    let mut group = c.benchmark_group(name);
    bench_common(&mut group, &frames);
    let mut file_counter = counter();
    let mut tally = FileTally::new();
    group.bench_function(FILE_TALLY, |b| {
        b.iter(|| count_all(&mut file_counter, &frames, &mut tally));
    });
    black_box(&tally);
    let mut live_counter = counter();
    let mut shard = live_shard();
    group.bench_function(LIVE_SHARD, |b| {
        b.iter(|| {
            count_all(&mut live_counter, &frames, &mut shard);
            // The capture worker empties the pending cache after every ring block.
            shard.flush();
        });
    });
    black_box(&shard);
    group.finish();
}

/// What classifying by service (issue 14) adds per packet before it is wired into counting: parse
/// and verdict, bytes summed by direction, against the parse that reads the service straight from
/// the bytes (`service::of_header`, as counting does), verdict and a per-service sum of public traffic;
/// between them, the transport facts read but only their protocol used. Neither keeps hours or
/// addresses, so the difference is the service rule's.
fn bench_service_rule(c: &mut Criterion, name: &str, corpus: &Corpus) {
    let frames = corpus.frames();
    let classifier = AddressClassifier::default();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(frames.len() as u64));
    group.bench_function(BASELINE, |b| {
        b.iter(|| {
            black_box(&frames)
                .iter()
                .map(|frame| u64::from(frame.meta.wire_len))
                .sum::<u64>()
        });
    });
    group.bench_function(PARSE_VERDICT, |b| {
        b.iter(|| {
            let mut by_direction = [0u64; 3];
            for frame in black_box(&frames) {
                if let Ok(packet) = parse_frame(frame.link, frame.data, &frame.meta) {
                    let (slot, _) = slot_of(classifier.verdict(&packet));
                    by_direction[slot] += u64::from(packet.bytes);
                }
            }
            by_direction
        });
    });
    // The transport facts read but only their protocol used: the parse's share of the difference.
    group.bench_function(PARSE_VERDICT_TRANSPORT, |b| {
        b.iter(|| {
            let mut by_direction = [0u64; 3];
            let mut by_protocol = [0u64; 256];
            for frame in black_box(&frames) {
                let mut transport = Transport::default();
                let parsed =
                    parse_frame_and_transport(frame.link, frame.data, &frame.meta, &mut transport);
                if let Ok(packet) = parsed {
                    let (slot, _) = slot_of(classifier.verdict(&packet));
                    by_direction[slot] += u64::from(packet.bytes);
                    by_protocol[usize::from(transport.protocol())] += u64::from(packet.bytes);
                }
            }
            (by_direction, black_box(by_protocol)[0])
        });
    });
    group.bench_function(PARSE_VERDICT_SERVICE, |b| {
        b.iter(|| {
            let mut by_direction = [0u64; 3];
            let mut by_service = [0u64; Service::COUNT];
            for frame in black_box(&frames) {
                // As counting does: the header kept unread, the service read straight from its
                // bytes for public traffic.
                let mut header = TransportHeader::default();
                let parsed =
                    parse_frame_and_transport(frame.link, frame.data, &frame.meta, &mut header);
                if let Ok(packet) = parsed {
                    let (slot, direction) = slot_of(classifier.verdict(&packet));
                    by_direction[slot] += u64::from(packet.bytes);
                    if let Some(direction) = direction {
                        let service = service::of_header(&header, direction);
                        by_service[service.index()] += u64::from(packet.bytes);
                    }
                }
            }
            (by_direction, by_service)
        });
    });
    group.finish();
}

/// Index of a verdict in a by-direction array, and its direction.
#[inline]
fn slot_of(verdict: Verdict) -> (usize, Option<Direction>) {
    match verdict {
        Verdict::Traffic {
            direction: Direction::Up,
            ..
        } => (0, Some(Direction::Up)),
        Verdict::Traffic {
            direction: Direction::Down,
            ..
        } => (1, Some(Direction::Down)),
        Verdict::Lan => (2, None),
    }
}

/// A live shard as `run` makes it with the default TOP_IPS_PER_DAY (1000): 2000 addresses a day.
fn live_shard() -> LiveShard {
    let zone = Zone::named("Europe/Berlin").expect("the bundled tz database has Europe/Berlin");
    LiveShard::new(zone, 2000, 256)
}

/// The flood: a fresh tally every iteration, so the map grows from empty as under a real attack.
fn bench_flood(c: &mut Criterion, corpus: &Corpus) {
    let frames = corpus.frames();
    eprintln!("worst_flood: {} frames", frames.len());
    let mut group = c.benchmark_group("worst_flood");
    // An iteration is a million packets (tens of milliseconds or more): few, equal samples.
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(Duration::from_secs(20));
    bench_common(&mut group, &frames);
    let mut counter = counter();
    group.bench_function(FILE_TALLY, |b| {
        b.iter_batched(
            FileTally::new,
            |mut tally| {
                count_all(&mut counter, &frames, &mut tally);
                // Returned so that freeing the map is not timed.
                tally
            },
            BatchSize::PerIteration,
        );
    });
    group.bench_function(LIVE_SHARD, |b| {
        b.iter_batched(
            live_shard,
            |mut shard| {
                count_all(&mut counter, &frames, &mut shard);
                shard.flush();
                shard
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

/// The per-packet median of each benchmark and its ratio to the baseline of the same input, read
/// back from criterion's results of this run.
/// Results older than `since` are from an earlier run (another filter) and are left out.
fn print_summary(inputs: &[(&str, usize)], since: SystemTime) {
    let home = std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR").map(|dir| Path::new(&dir).join("criterion"))
        })
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/criterion"));
    let median_ns = |group: &str, sink: &str| -> Option<f64> {
        let path = home.join(group).join(sink).join("new/estimates.json");
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
        if modified < since {
            return None;
        }
        let text = std::fs::read_to_string(path).ok()?;
        let estimates: serde_json::Value = serde_json::from_str(&text).ok()?;
        estimates["median"]["point_estimate"].as_f64()
    };
    println!("\nns per packet (median), and × the {BASELINE} of the same input:");
    println!(
        "{:<18} {:>8} {:<22} {:>10} {:>9}",
        "input", "frames", "sink", "ns/packet", "ratio"
    );
    for (group, frames) in inputs {
        let per_packet = |sink| median_ns(group, sink).map(|ns| ns / *frames as f64);
        let baseline = per_packet(BASELINE);
        for sink in SINKS {
            let Some(ns) = per_packet(sink) else { continue };
            let ratio = baseline.map_or(String::from("-"), |base| format!("{:.1}", ns / base));
            println!("{group:<18} {frames:>8} {sink:<22} {ns:>10.2} {ratio:>9}");
        }
    }
}

/// The ring the monitor asks for by default, and the offsets the kernel uses for an Ethernet frame
/// in it (net/packet/af_packet.c: the network header 16-byte aligned after the 68-byte
/// `tpacket3_hdr` + `sockaddr_ll`, frames 8-byte aligned).
const RING_BLOCK_SIZE: usize = 1 << 20;
const RING_BLOCKS: usize = 8;
const RING_MAC_OFFSET: usize = 82;
const RING_IFINDEX: i32 = 7;
const PACKET_OTHERHOST: u8 = 3;

/// Ring blocks holding the corpus over and over until every block is full, as a busy link leaves
/// them.
fn ring_blocks(corpus: &Corpus) -> Vec<Vec<u8>> {
    let mut records = corpus.records.iter().cycle();
    (0..RING_BLOCKS)
        .map(|sequence| {
            let mut block = vec![0u8; RING_BLOCK_SIZE];
            let mut at = desc::LEN;
            let mut packets = 0u32;
            let mut last = None;
            for (_, range, wire_len, unix_second) in records.by_ref() {
                let mut data = corpus.bytes[range.clone()].to_vec();
                let mut wire_len = *wire_len;
                let mut status = 0;
                // The kernel takes the outer 802.1Q tag out of the frame before the taps see it.
                if data.len() >= 18 && data[12..14] == [0x81, 0x00] {
                    data.drain(12..16);
                    wire_len -= 4;
                    status |= TP_STATUS_VLAN_VALID;
                }
                let snap = data.len().min(SNAP_LEN as usize);
                let len = (RING_MAC_OFFSET + snap).next_multiple_of(8);
                if at + len > RING_BLOCK_SIZE {
                    break;
                }
                let mut put = |offset: usize, value: u32| {
                    block[at + offset..at + offset + 4].copy_from_slice(&value.to_ne_bytes());
                };
                put(frame::NEXT_OFFSET, len as u32);
                put(frame::SEC, *unix_second as u32);
                put(frame::SNAPLEN, snap as u32);
                put(frame::LEN, wire_len);
                put(frame::STATUS, status);
                put(frame::SLL_IFINDEX, RING_IFINDEX as u32);
                block[at + frame::MAC..at + frame::MAC + 2]
                    .copy_from_slice(&(RING_MAC_OFFSET as u16).to_ne_bytes());
                block[at + frame::SLL_PKTTYPE] = PACKET_OTHERHOST;
                block[at + RING_MAC_OFFSET..at + RING_MAC_OFFSET + snap]
                    .copy_from_slice(&data[..snap]);
                last = Some(at);
                at += len;
                packets += 1;
            }
            if let Some(last) = last {
                block[last..last + 4].copy_from_slice(&0u32.to_ne_bytes());
            }
            let mut put = |offset: usize, value: u32| {
                block[offset..offset + 4].copy_from_slice(&value.to_ne_bytes());
            };
            put(desc::BLOCK_STATUS, libc::TP_STATUS_USER);
            put(desc::NUM_PKTS, packets);
            put(desc::OFFSET_TO_FIRST_PKT, desc::LEN as u32);
            put(desc::BLK_LEN, at as u32);
            block[desc::SEQ_NUM..desc::SEQ_NUM + 8]
                .copy_from_slice(&(sequence as u64).to_ne_bytes());
            block
        })
        .collect()
}

/// The capture worker's path through the blocks of a ring, against a walk that only sums `tp_len`.
fn bench_ring(c: &mut Criterion, blocks: &[Vec<u8>]) -> usize {
    let blocks: Vec<Block<'_>> = blocks
        .iter()
        .map(|bytes| Block::new(bytes).expect("a block is longer than its descriptor"))
        .collect();
    let frames: usize = blocks.iter().map(|b| b.frames().count()).sum();
    eprintln!("ring_mix: {frames} frames in {} blocks", blocks.len());
    let mut group = c.benchmark_group("ring_mix");
    group.throughput(Throughput::Elements(frames as u64));
    group.bench_function(BASELINE, |b| {
        b.iter(|| {
            black_box(&blocks)
                .iter()
                .flat_map(Block::frames)
                .map(|frame| u64::from(frame.wire_len))
                .sum::<u64>()
        });
    });
    // What live capture on the harness's namespace builds: the built-in ranges plus the capture
    // interface's own global prefix (AUTO_LOCAL_PREFIXES).
    let own_prefix = "2001:db8:77::/64".parse().expect("a prefix");
    let zone = Zone::named("Europe/Berlin").expect("the bundled tz database has Europe/Berlin");
    let mut counter = Counter::new(AddressClassifier::new(&[own_prefix]), HourClock::new(zone));
    let mut shard = live_shard();
    group.bench_function(LIVE_SHARD, |b| {
        b.iter(|| {
            for block in black_box(&blocks) {
                count_block(
                    &mut counter,
                    &mut shard,
                    block,
                    LinkType::Ethernet,
                    RING_IFINDEX,
                );
            }
        });
    });
    black_box(&shard);
    group.finish();
    frames
}

fn main() {
    let started = SystemTime::now();
    let mut c = Criterion::default().configure_from_args();
    let captures = captures_dir();
    let pcaps = corpus_pcaps(&captures);
    let mix = Corpus::read(&captures.join("mix/traffic-mix.pcap"))
        .expect("tests/captures/mix/traffic-mix.pcap is a capture");
    let flood = flood();
    bench_realistic(&mut c, "realistic_pcaps", &pcaps);
    bench_realistic(&mut c, "realistic_mix", &mix);
    bench_flood(&mut c, &flood);
    let ring = ring_blocks(&mix);
    let ring_frames = bench_ring(&mut c, &ring);
    bench_service_rule(&mut c, "service_rule_pcaps", &pcaps);
    bench_service_rule(&mut c, "service_rule_mix", &mix);
    c.final_summary();
    // `cargo test --benches` and `-- --test` run each benchmark once: no figures worth a summary.
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|arg| arg == "--bench") && !args.iter().any(|arg| arg == "--test") {
        print_summary(
            &[
                ("realistic_pcaps", pcaps.records.len()),
                ("realistic_mix", mix.records.len()),
                ("worst_flood", flood.records.len()),
                ("ring_mix", ring_frames),
                ("service_rule_pcaps", pcaps.records.len()),
                ("service_rule_mix", mix.records.len()),
            ],
            started,
        );
    }
}
