//! End to end through a real TPACKET_V3 ring: the monitor binary (`run`) captures inside a network
//! namespace while tcpreplay (or a tun writer) puts known traffic on a veth pair or tun device,
//! and the final JSON line it prints on SIGTERM must hold exactly the counts the rules give.
//!
//! Needs root (namespaces, veth, packet sockets), `ip` (iproute2), `tcpreplay` and `python3`;
//! `scripts/test` installs them. Without root every test fails at once saying so.
//!
//! Everything runs inside namespaces the tests create and delete (`crate::support::netns`); the only
//! traffic is the corpus captures (whose addresses never leave the namespaces) and hand-built
//! packets between documentation ("internet") and private addresses. Each test uses its own
//! namespaces, so the tests run in parallel.
//!
//! Live counting assigns hours by capture time, so `hours` is never compared. `packets_total` live
//! counts the frames that passed the kernel filter (IP only) and is compared with the ring's own
//! statistics instead of the file's record count.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nettraffic_sentinel::capture::file::read_capture;
use nettraffic_sentinel::count::{FileTally, Frame};
use nettraffic_sentinel::parse::{FrameMeta, PACKET_OUTGOING};
use serde_json::Value;

use crate::support::netns::{Netns, Spawned, clear_monitor_settings, ip, run, run_ok};
use crate::support::web;
use crate::support::{
    ETHERTYPE_IPV4, ETHERTYPE_IPV6, PCAP_MAGIC_MICROSECONDS, PcapWriter, TempDir, all_captures,
    capture, eth, eth_tagged, expected_json_path, ipv4, ipv4_packet, ipv6_packet, padded,
};

/// Longest wait for the monitor to report a state ("capturing", "missing").
const STATE_TIMEOUT: Duration = Duration::from_secs(15);
/// The monitor must be gone this soon after SIGTERM.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// The corpus captures and their expected figures
// ---------------------------------------------------------------------------------------------

fn expected_json(capture: &Path) -> Value {
    let name = capture.file_name().expect("a file name").to_string_lossy();
    let path = expected_json_path(&name);
    let text = std::fs::read_to_string(&path).expect("every capture has an expected file");
    serde_json::from_str(&text).expect("expected files are JSON")
}

/// The figures live capture must reproduce: everything in `report --json` but `hours` and
/// `packets_total`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Totals {
    packets_counted: u64,
    malformed: u64,
    lan_bytes: u64,
    up_bytes: u64,
    down_bytes: u64,
    /// address → (up, down)
    remote_ips: BTreeMap<String, (u64, u64)>,
}

fn number(value: &Value, key: &str) -> u64 {
    value[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no number {key} in {value}"))
}

impl Totals {
    fn from_json(value: &Value) -> Totals {
        let remote_ips = value["remote_ips"]
            .as_object()
            .unwrap_or_else(|| panic!("no remote_ips in {value}"))
            .iter()
            .map(|(ip, bytes)| {
                (
                    ip.clone(),
                    (number(bytes, "up_bytes"), number(bytes, "down_bytes")),
                )
            })
            .collect();
        Totals {
            packets_counted: number(value, "packets_counted"),
            malformed: number(value, "malformed"),
            lan_bytes: number(value, "lan_bytes"),
            up_bytes: number(value, "up_bytes"),
            down_bytes: number(value, "down_bytes"),
            remote_ips,
        }
    }

    fn expected(captures: &[&Path]) -> Totals {
        let mut sum = Totals::default();
        for capture in captures {
            sum.add(&Totals::from_json(&expected_json(capture)));
        }
        sum
    }

    fn from_tally(tally: &FileTally) -> Totals {
        Totals {
            packets_counted: tally.packets_counted,
            malformed: tally.malformed,
            lan_bytes: tally.lan_bytes,
            up_bytes: tally.total.up,
            down_bytes: tally.total.down,
            remote_ips: tally
                .remotes()
                .map(|(ip, bytes)| (ip.to_string(), (bytes.up, bytes.down)))
                .collect(),
        }
    }

    fn add(&mut self, other: &Totals) {
        self.packets_counted += other.packets_counted;
        self.malformed += other.malformed;
        self.lan_bytes += other.lan_bytes;
        self.up_bytes += other.up_bytes;
        self.down_bytes += other.down_bytes;
        for (ip, (up, down)) in &other.remote_ips {
            let entry = self.remote_ips.entry(ip.clone()).or_default();
            entry.0 += up;
            entry.1 += down;
        }
    }

    fn summary(&self) -> String {
        format!(
            "up {} down {} counted {} malformed {} lan {} remotes {}",
            self.up_bytes,
            self.down_bytes,
            self.packets_counted,
            self.malformed,
            self.lan_bytes,
            self.remote_ips.len()
        )
    }
}

/// Assert equality, naming only the fields and addresses that differ.
fn assert_totals(actual: &Totals, expected: &Totals, context: &str) {
    if actual == expected {
        return;
    }
    let mut differences = Vec::new();
    for (field, a, e) in [
        ("up_bytes", actual.up_bytes, expected.up_bytes),
        ("down_bytes", actual.down_bytes, expected.down_bytes),
        (
            "packets_counted",
            actual.packets_counted,
            expected.packets_counted,
        ),
        ("malformed", actual.malformed, expected.malformed),
        ("lan_bytes", actual.lan_bytes, expected.lan_bytes),
    ] {
        if a != e {
            differences.push(format!("{field}: live {a}, expected {e}"));
        }
    }
    let mut ips: Vec<&String> = actual
        .remote_ips
        .keys()
        .chain(expected.remote_ips.keys())
        .collect();
    ips.sort();
    ips.dedup();
    for ip in ips {
        let (a, e) = (actual.remote_ips.get(ip), expected.remote_ips.get(ip));
        if a != e {
            differences.push(format!(
                "remote {ip} (up, down): live {a:?}, expected {e:?}"
            ));
        }
    }
    panic!("{context}:\n  {}", differences.join("\n  "));
}

/// Count a capture file through the library's counter with every frame given the Linux packet
/// type `pkttype`: what the sending end of a veth sees (`PACKET_OUTGOING`).
fn count_file_with_pkttype(path: &Path, pkttype: u16) -> Totals {
    let mut counter = crate::support::utc_counter();
    let mut tally = FileTally::new();
    let file = File::open(path).expect("open the capture");
    read_capture(BufReader::new(file), |record| {
        counter.count(
            &Frame {
                link: record.link,
                data: record.data,
                meta: FrameMeta {
                    wire_len: record.wire_len,
                    pkttype,
                    vlan_stripped: false,
                },
                unix_second: record.unix_second,
            },
            &mut tally,
        );
    })
    .expect("the capture reads");
    Totals::from_tally(&tally)
}

/// `report --json FILE` of the same binary (UTC, no extra prefixes), parsed.
fn report_totals(file: &Path) -> Totals {
    let output = run_ok(
        Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"))
            .args(["report", "--json"])
            .arg(file)
            .env_remove("LOCAL_PREFIXES")
            .env_remove("EXCLUDE_IPV6_PREFIX")
            .env("TZ", "UTC"),
        Duration::from_secs(30),
    );
    Totals::from_json(&serde_json::from_slice(&output.stdout).expect("report prints JSON"))
}

// ---------------------------------------------------------------------------------------------
// The monitor in a namespace
// ---------------------------------------------------------------------------------------------

/// `nettraffic-sentinel run` inside a namespace (the shared [`web::Monitor`] with this file's
/// settings); killed on drop if still running.
struct Monitor {
    what: String,
    /// Dropped first: the monitor is killed before its history file is removed.
    inner: web::Monitor,
    _db: RemovedOnDrop,
}

/// A file removed when this is dropped.
struct RemovedOnDrop(PathBuf);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The final JSON line of a monitor, and its log.
struct Final {
    json: Value,
    log: String,
}

impl Final {
    fn interface(&self, name: &str) -> &Value {
        let value = &self.json["interfaces"][name];
        assert!(
            value.is_object(),
            "no interface {name} in the final tally: {}",
            self.json
        );
        value
    }

    fn totals(&self, interface: &str) -> Totals {
        Totals::from_json(self.interface(interface))
    }

    /// Kernel statistics of one interface's ring(s): (packets, drops).
    fn kernel(&self, interface: &str) -> (u64, u64) {
        let kernel = &self.interface(interface)["kernel"];
        (number(kernel, "packets"), number(kernel, "drops"))
    }

    /// No frame lost in the ring, and every frame the kernel counted was read and tallied.
    fn assert_complete(&self, interface: &str) {
        let (packets, drops) = self.kernel(interface);
        assert_eq!(drops, 0, "kernel drops on {interface}; log:\n{}", self.log);
        assert_eq!(
            number(self.interface(interface), "packets_total"),
            packets,
            "frames read on {interface} differ from the kernel's count"
        );
    }
}

impl Monitor {
    fn start(lab: &Netns, namespace: &str, interfaces: &str) -> Monitor {
        Monitor::start_with(lab, namespace, interfaces, &[])
    }

    /// [`Monitor::start`] with extra settings.
    fn start_with(
        lab: &Netns,
        namespace: &str,
        interfaces: &str,
        settings: &[(&str, &str)],
    ) -> Monitor {
        // Each monitor its own history file: tests run in parallel.
        static NEXT_DB: AtomicUsize = AtomicUsize::new(0);
        let db = std::env::temp_dir().join(format!(
            "nts-live-{}-{}.redb",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed)
        ));
        let mut command = lab.exec(namespace, env!("CARGO_BIN_EXE_nettraffic-sentinel"));
        command.arg("run");
        clear_monitor_settings(&mut command);
        command
            .env("MONITOR_IFACE", interfaces)
            .env("TZ", "UTC")
            .env("LOG_LEVEL", "info")
            .env("DB_PATH", &db)
            .envs(settings.iter().copied())
            .current_dir(std::env::temp_dir());
        let what = format!("monitor of {interfaces} in {namespace}");
        Monitor {
            inner: web::Monitor::spawn(command, namespace, &what),
            what,
            _db: RemovedOnDrop(db),
        }
    }

    fn log(&self) -> String {
        self.inner.log()
    }

    /// Wait until `count` log lines contain `needle`; returns how long that took.
    fn wait_for(&mut self, needle: &str, count: usize) -> Duration {
        self.inner.wait_for_count(needle, count, STATE_TIMEOUT)
    }

    /// Wait until `interface` is being captured (for the `count`th time).
    fn wait_capturing(&mut self, interface: &str, count: usize) -> Duration {
        self.wait_for(&format!("interface {interface}: capturing"), count)
    }

    /// SIGTERM; the monitor must exit 0 within [`EXIT_TIMEOUT`] and print one JSON line.
    ///
    /// Sent right after the last frame, on purpose: the frames the kernel has accepted into the
    /// ring by then, including those in the block it has not handed over yet, must be counted.
    fn stop(self) -> Final {
        let pid = self.inner.child.id().to_string();
        run_ok(
            Command::new("kill").args(["-TERM", &pid]),
            Duration::from_secs(5),
        );
        let sent = Instant::now();
        let Monitor { what, inner, _db } = self;
        let (status, stdout, log) = inner.exit_within(EXIT_TIMEOUT);
        let took = sent.elapsed();
        assert!(
            status.success(),
            "{what} exited with {status} after SIGTERM; log:\n{log}"
        );
        let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one JSON line on stdout, got: {stdout}");
        let json: Value = serde_json::from_str(lines[0]).expect("the final line is JSON");
        assert!(
            log.contains("seen_pkts="),
            "the final summary is logged: {log}"
        );
        eprintln!("{what}: exited {took:?} after SIGTERM");
        Final { json, log }
    }
}

// ---------------------------------------------------------------------------------------------
// Topologies
// ---------------------------------------------------------------------------------------------

/// Namespaces `a` (sender) and `b` (capture) joined by the veth pair `va` — `vb`.
fn pair(label: &str) -> (Netns, String, String) {
    let mut lab = Netns::new(label);
    let a = lab.add("a");
    let b = lab.add("b");
    lab.veth((&a, "va"), (&b, "vb"));
    (lab, a, b)
}

/// The Ethernet captures of the corpus (`tests/captures/`) that can be replayed byte for byte: link type 1,
/// countable (no error entry) and with every record captured whole. A snapped record (captured
/// length < original length) would go on the wire shorter than the rules count it, so such files
/// are left out. With the corpus as it is, 28 files are replayed and 7 left out:
/// tcpdump-ipv6_39_byte_header.pcap, tcpdump-ipv6_missing_jumbo_payload_option.pcap,
/// tcpdump-isakmp-rfc3948-oobr.pcap, tcpdump-vrrp-vrrp_print-oobr-2.pcap,
/// zeek-tcp-timestamp-snaplen.pcap, zeek-tcp-truncated-header.pcap, zeek-trunc-ip4-trunc.pcap.
fn replayable_ethernet_captures() -> (Vec<PathBuf>, Vec<String>) {
    let files = all_captures();
    let mut selected = Vec::new();
    let mut snapped = Vec::new();
    for path in files {
        let expected = expected_json(&path);
        if expected["linktype"] != 1 || expected.get("error").is_some() {
            continue;
        }
        let mut whole = true;
        let file = File::open(&path).expect("open the capture");
        read_capture(BufReader::new(file), |record| {
            whole &= record.data.len() as u64 >= u64::from(record.wire_len);
        })
        .expect("a capture without an error entry reads");
        if whole {
            selected.push(path);
        } else {
            snapped.push(
                path.file_name()
                    .expect("a file name")
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    (selected, snapped)
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// Every replayable Ethernet capture, one after another into `va`, captured on `vb`.
fn every_replayable_ethernet_capture_counts_live_as_in_its_expected_file() {
    replay_every_ethernet_capture("all", &[]);
}

/// The same with three workers sharing the interface through PACKET_FANOUT: how frames are spread
/// over the rings must not change what is counted (IPv4 fragments included: no reassembly).
fn fanout_workers_count_every_capture_exactly_like_one_worker() {
    replay_every_ethernet_capture("fanout", &[("CAPTURE_WORKERS", "3")]);
}

fn replay_every_ethernet_capture(label: &str, settings: &[(&str, &str)]) {
    let (lab, a, b) = pair(label);
    let (files, snapped) = replayable_ethernet_captures();
    assert!(
        files.len() >= 25,
        "only {} replayable Ethernet captures (snapped, left out: {snapped:?})",
        files.len()
    );
    eprintln!(
        "replaying {} Ethernet captures; left out (snapped records): {snapped:?}",
        files.len()
    );
    let mut monitor = Monitor::start_with(&lab, &b, "vb", settings);
    monitor.wait_capturing("vb", 1);
    let started = Instant::now();
    for file in &files {
        lab.replay(&a, "va", file);
    }
    eprintln!("replay took {:?}", started.elapsed());
    let result = monitor.stop();
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let expected = Totals::expected(&refs);
    let live = result.totals("vb");
    eprintln!(
        "live: {} | kernel (packets, drops) {:?}",
        live.summary(),
        result.kernel("vb")
    );
    assert_totals(
        &live,
        &expected,
        &format!(
            "{} captures replayed with {settings:?} (left out as snapped: {snapped:?})",
            files.len()
        ),
    );
    result.assert_complete("vb");
    assert_totals(
        &Totals::from_json(&result.json["total"]),
        &expected,
        "total",
    );
}

/// The sending end sees the same frames as PACKET_OUTGOING: public↔public turns into upload.
fn the_sending_end_counts_public_to_public_frames_as_upload() {
    let (lab, a, b) = pair("out");
    let file = capture("zeek-wikipedia.pcap");
    let mut receiver = Monitor::start(&lab, &b, "vb");
    let mut sender = Monitor::start(&lab, &a, "va");
    receiver.wait_capturing("vb", 1);
    sender.wait_capturing("va", 1);
    lab.replay(&a, "va", &file);
    let received = receiver.stop();
    let sent = sender.stop();
    let (rx, tx) = (received.totals("vb"), sent.totals("va"));
    eprintln!("receiver: {}\nsender:   {}", rx.summary(), tx.summary());
    received.assert_complete("vb");
    sent.assert_complete("va");

    assert_totals(&rx, &Totals::expected(&[&file]), "receiving end");
    assert_eq!(
        tx.up_bytes + tx.down_bytes,
        rx.up_bytes + rx.down_bytes,
        "the same bytes are counted on both ends"
    );
    let flipped = tx.up_bytes - rx.up_bytes;
    assert!(flipped > 0, "public↔public bytes turn into upload");
    assert_eq!(rx.down_bytes - tx.down_bytes, flipped);
    assert_eq!(tx.lan_bytes, rx.lan_bytes, "LAN traffic has no direction");
    assert_eq!(tx.packets_counted, rx.packets_counted);
    assert_eq!(tx.malformed, rx.malformed);
    // Exactly: the file counted as if every record were PACKET_OUTGOING.
    assert_totals(
        &tx,
        &count_file_with_pkttype(&file, PACKET_OUTGOING),
        "sending end",
    );
    eprintln!("public↔public bytes flipped to upload: {flipped}");
}

/// VLAN tags: the kernel moves the outer 802.1Q/802.1ad tag of a received frame into the ring
/// header; the frame still counts as the file rules count it (two tags at most).
fn vlan_tagged_frames_count_with_the_tag_the_kernel_stripped() {
    let (lab, a, b) = pair("vlan");

    // Shared captures with tags.
    let files = [
        capture("zeek-q-in-q.pcap"),
        capture("sv-detect-pcre-04-mapped-v6.pcap"),
    ];
    let mut monitor = Monitor::start(&lab, &b, "vb");
    monitor.wait_capturing("vb", 1);
    for file in &files {
        lab.replay(&a, "va", file);
    }
    let result = monitor.stop();
    let live = result.totals("vb");
    eprintln!("corpus VLAN captures live: {}", live.summary());
    result.assert_complete("vb");
    assert_totals(
        &live,
        &Totals::expected(&[&files[0], &files[1]]),
        "zeek-q-in-q + sv-detect-pcre-04",
    );

    // Hand-built: one, two and three tags. A third tag makes a frame non-IP (R2).
    const C_TAG: u16 = 0x8100;
    const S_TAG: u16 = 0x88a8;
    const OLD_QINQ: u16 = 0x9100;
    let frames = [
        // 1 tag, public → private: down 100 from 203.0.113.10.
        eth_tagged(
            &[C_TAG],
            ETHERTYPE_IPV4,
            &ipv4_packet("203.0.113.10", "192.168.7.2", 80),
        ),
        // 2 tags (802.1ad outer, 802.1Q inner), private → public: up 200 to 198.51.100.20.
        eth_tagged(
            &[S_TAG, C_TAG],
            ETHERTYPE_IPV4,
            &ipv4_packet("192.168.7.2", "198.51.100.20", 180),
        ),
        // 2 tags, IPv6 public → private: down 40 + 60 = 100 from 2001:db8::30.
        eth_tagged(
            &[S_TAG, C_TAG],
            ETHERTYPE_IPV6,
            &ipv6_packet("2001:db8::30", "fd00::7", 60),
        ),
        // 1 tag the kernel does not strip (0x9100), IPv6 up 40 + 20 = 60 to 2001:db8::40.
        eth_tagged(
            &[OLD_QINQ],
            ETHERTYPE_IPV6,
            &ipv6_packet("fd00::7", "2001:db8::40", 20),
        ),
        // 3 tags: not IP, ignored (300 bytes that must not count anywhere).
        eth_tagged(
            &[S_TAG, C_TAG, C_TAG],
            ETHERTYPE_IPV4,
            &ipv4_packet("203.0.113.30", "192.168.7.2", 280),
        ),
        // 3 tags, IPv6 private ↔ private: not IP either, so not even LAN bytes.
        eth_tagged(
            &[C_TAG, C_TAG, C_TAG],
            ETHERTYPE_IPV6,
            &ipv6_packet("fd00::8", "fd00::7", 100),
        ),
    ];
    let mut writer = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 1);
    for (i, frame) in frames.iter().enumerate() {
        writer = writer.record(1_700_000_000 + i as u32, 0, frame.len() as u32, frame);
    }
    let dir = TempDir::new("live-vlan");
    let built = dir.write("vlan-tags.pcap", &writer.finish());

    let by_hand = Totals {
        packets_counted: 4,
        malformed: 0,
        lan_bytes: 0,
        up_bytes: 200 + 60,
        down_bytes: 100 + 100,
        remote_ips: [
            ("203.0.113.10", (0, 100)),
            ("198.51.100.20", (200, 0)),
            ("2001:db8::30", (0, 100)),
            ("2001:db8::40", (60, 0)),
        ]
        .into_iter()
        .map(|(ip, bytes)| (ip.to_string(), bytes))
        .collect(),
    };
    let from_file = report_totals(&built);
    assert_totals(&from_file, &by_hand, "report --json of the built file");

    let mut monitor = Monitor::start(&lab, &b, "vb");
    monitor.wait_capturing("vb", 1);
    lab.replay(&a, "va", &built);
    let result = monitor.stop();
    let live = result.totals("vb");
    eprintln!(
        "built VLAN frames live: {} | kernel {:?}",
        live.summary(),
        result.kernel("vb")
    );
    result.assert_complete("vb");
    assert_totals(&live, &from_file, "live vs report --json on the built file");
    // Proof that the kernel did strip the outer tag: its filter passes IP behind at most two
    // tags in the ring, so the two triple-tagged frames reach the ring only because one of their
    // tags was moved into the ring header; all 6 frames are read, and the parser, counting the
    // stripped tag, skips the two (4 counted).
    assert_eq!(
        number(result.interface("vb"), "packets_total"),
        6,
        "frames read from the ring"
    );
}

/// A raw-IP interface (tun, ARPHRD_NONE): packets start with the IP header.
fn a_tun_device_is_counted_as_raw_ip() {
    let mut lab = Netns::new("tun");
    let c = lab.add("c");
    lab.tun(&c, "tun7");
    let hardware_type = run_ok(
        lab.exec(&c, "cat").arg("/sys/class/net/tun7/type"),
        Duration::from_secs(5),
    );
    assert_eq!(
        String::from_utf8_lossy(&hardware_type.stdout).trim(),
        "65534",
        "a tun device is ARPHRD_NONE"
    );

    let mut zero_length = ipv4("203.0.113.9", "10.9.0.1", 0);
    zero_length.resize(120, 0);
    let mut short_ihl = ipv4("203.0.113.9", "10.9.0.1", 40);
    short_ihl[0] = 0x44;
    short_ihl.resize(40, 0);
    let packets: Vec<Vec<u8>> = vec![
        // down: 60 + 1400 from 203.0.113.9
        ipv4_packet("203.0.113.9", "10.9.0.1", 40),
        ipv4_packet("203.0.113.9", "10.9.0.1", 1380),
        // down 576 from 198.51.100.77 (24 bytes after the IP packet are not counted)
        padded(&ipv4_packet("198.51.100.77", "10.9.0.1", 556), 24),
        // down: 140 + 1040 from 2001:db8::9
        ipv6_packet("2001:db8::9", "fd00::1", 100),
        ipv6_packet("2001:db8::9", "fd00::1", 1000),
        // up 300 to 198.51.100.77
        ipv4_packet("10.9.0.1", "198.51.100.77", 280),
        // LAN 88
        ipv4_packet("10.9.0.2", "10.9.0.1", 68),
        // IPv4 Total Length 0: the wire length (120) counts, down from 203.0.113.9
        zero_length,
        // IHL 4: malformed
        short_ihl,
    ];
    let expected = Totals {
        packets_counted: 7,
        malformed: 1,
        lan_bytes: 88,
        up_bytes: 300,
        down_bytes: 60 + 1400 + 576 + 140 + 1040 + 120,
        remote_ips: [
            ("203.0.113.9", (0, 60 + 1400 + 120)),
            ("198.51.100.77", (300, 576)),
            ("2001:db8::9", (0, 140 + 1040)),
        ]
        .into_iter()
        .map(|(ip, bytes)| (ip.to_string(), bytes))
        .collect(),
    };

    let mut monitor = Monitor::start(&lab, &c, "tun7");
    monitor.wait_capturing("tun7", 1);
    // Attach to the tun device (IFF_TUN | IFF_NO_PI) and write one packet per line of hex.
    const WRITER: &str = r#"
import fcntl, os, struct, sys
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH22x", sys.argv[1].encode(), 0x0001 | 0x1000))
written = 0
for line in sys.stdin:
    if line.strip():
        os.write(fd, bytes.fromhex(line.strip()))
        written += 1
print(written)
"#;
    let mut command = lab.exec(&c, "python3");
    command.args(["-c", WRITER, "tun7"]).stdin(Stdio::piped());
    let mut writer = Spawned::new(&mut command);
    {
        let mut stdin = writer.child.stdin.take().expect("piped stdin");
        for packet in &packets {
            let hex: String = packet.iter().map(|b| format!("{b:02x}")).collect();
            writeln!(stdin, "{hex}").expect("write to the tun writer");
        }
    }
    let output = writer.finish(Duration::from_secs(20), "the tun writer");
    assert!(
        output.status.success(),
        "the tun writer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        packets.len().to_string()
    );
    let result = monitor.stop();
    let live = result.totals("tun7");
    eprintln!(
        "tun7 live: {} | kernel {:?}",
        live.summary(),
        result.kernel("tun7")
    );
    result.assert_complete("tun7");
    assert_eq!(
        number(result.interface("tun7"), "packets_total"),
        packets.len() as u64,
        "a raw-IP interface keeps every packet"
    );
    assert_totals(&live, &expected, "packets written to tun7");
}

/// The captured interface is deleted and created again (new ifindex), then set down and up, while
/// the monitor runs. Each change comes right after a replay: frames the kernel already accepted
/// into the ring must be counted before the ring is closed.
fn an_interface_deleted_and_created_again_or_set_down_is_captured_again() {
    let (lab, a, b) = pair("again");
    let first = capture("sv-base64-decode-5885.pcap");
    let second = capture("zeek-http-206_example_b.pcap");
    let third = capture("zeek-wikipedia.pcap");
    let mut monitor = Monitor::start(&lab, &b, "vb");
    monitor.wait_capturing("vb", 1);

    lab.replay(&a, "va", &first);
    lab.delete_link(&b, "vb");
    let gone = monitor.wait_for("interface vb: missing", 1);
    lab.veth((&a, "va"), (&b, "vb"));
    let back = monitor.wait_capturing("vb", 2);
    eprintln!("missing noticed after {gone:?}, capturing again {back:?} after re-creation");
    assert!(
        back < Duration::from_secs(5),
        "capture resumed only after {back:?}"
    );

    lab.replay(&a, "va", &second);
    ip(&["-n", &b, "link", "set", "vb", "down"]);
    monitor.wait_for("interface vb: down", 1);
    // A while down: the monitor waits for the interface, it does not reopen it over and over.
    std::thread::sleep(Duration::from_secs(1));
    ip(&["-n", &b, "link", "set", "vb", "up"]);
    let up = monitor.wait_capturing("vb", 3);
    eprintln!("capturing again {up:?} after the interface came up");

    lab.replay(&a, "va", &third);
    let result = monitor.stop();
    let live = result.totals("vb");
    eprintln!(
        "live: {} | kernel {:?}",
        live.summary(),
        result.kernel("vb")
    );
    result.assert_complete("vb");
    assert_totals(
        &live,
        &Totals::expected(&[&first, &second, &third]),
        "three captures across the re-creation and the down/up",
    );
    let interruptions = result
        .log
        .lines()
        .filter(|line| line.contains("capture interrupted"))
        .count();
    assert!(
        interruptions <= 2,
        "{interruptions} interruptions logged for one deletion and one down/up:\n{}",
        result.log
    );
}

/// Two interfaces at once, each with its own traffic; the total is their sum.
fn two_interfaces_are_counted_apart_and_together() {
    let mut lab = Netns::new("two");
    let a = lab.add("a");
    let b = lab.add("b");
    lab.veth((&a, "va1"), (&b, "vb1"));
    lab.veth((&a, "va2"), (&b, "vb2"));
    let one = capture("sv-base64-decode-5885.pcap");
    let two = capture("zeek-quic-firefox-blog-cloudflare.pcap");
    let mut monitor = Monitor::start(&lab, &b, "vb1,vb2");
    monitor.wait_capturing("vb1", 1);
    monitor.wait_capturing("vb2", 1);
    // Both at the same time.
    let replays = [
        lab.spawn_replay(&a, "va1", &one),
        lab.spawn_replay(&a, "va2", &two),
    ];
    for replay in replays {
        let output = replay.finish(Duration::from_secs(30), "tcpreplay");
        assert!(output.status.success(), "tcpreplay failed: {output:?}");
    }
    let result = monitor.stop();
    let (live1, live2) = (result.totals("vb1"), result.totals("vb2"));
    eprintln!(
        "vb1: {} kernel {:?}\nvb2: {} kernel {:?}",
        live1.summary(),
        result.kernel("vb1"),
        live2.summary(),
        result.kernel("vb2")
    );
    result.assert_complete("vb1");
    result.assert_complete("vb2");
    let (expected1, expected2) = (Totals::expected(&[&one]), Totals::expected(&[&two]));
    assert_totals(&live1, &expected1, "vb1");
    assert_totals(&live2, &expected2, "vb2");
    let mut both = expected1;
    both.add(&expected2);
    assert_totals(&Totals::from_json(&result.json["total"]), &both, "total");
}

/// An interface that does not exist at start: the monitor says so, keeps running and captures
/// it once it appears.
fn an_interface_missing_at_start_is_captured_once_it_appears() {
    let mut lab = Netns::new("late");
    let a = lab.add("a");
    let b = lab.add("b");
    lab.veth((&a, "va1"), (&b, "vb1"));
    let mut monitor = Monitor::start(&lab, &b, "vb1,vb2");
    monitor.wait_capturing("vb1", 1);
    monitor.wait_for("interface vb2: missing", 1);
    let log = monitor.log();
    assert!(
        log.contains("interface 'vb2' does not exist (this host has: lo, vb1)"),
        "the start-up warning names the missing interface and the existing ones:\n{log}"
    );
    lab.veth((&a, "va2"), (&b, "vb2"));
    let appeared = monitor.wait_capturing("vb2", 1);
    eprintln!("vb2 captured {appeared:?} after it was created");
    assert!(appeared < Duration::from_secs(5), "took {appeared:?}");
    let one = capture("zeek-icmp-5-pings.pcap");
    let two = capture("zeek-wikipedia.pcap");
    lab.replay(&a, "va1", &one);
    lab.replay(&a, "va2", &two);
    let result = monitor.stop();
    result.assert_complete("vb1");
    result.assert_complete("vb2");
    assert_totals(&result.totals("vb1"), &Totals::expected(&[&one]), "vb1");
    assert_totals(&result.totals("vb2"), &Totals::expected(&[&two]), "vb2");
}

/// Without CAP_NET_RAW the monitor stops at once with exit code 1 and says how to grant it.
fn without_cap_net_raw_the_monitor_explains_how_to_grant_it() {
    let binary = env!("CARGO_BIN_EXE_nettraffic-sentinel");
    let has = |tool: &str| {
        Command::new(tool)
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    let mut command = if has("setpriv") {
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(binary);
        command
    } else if has("capsh") {
        let mut command = Command::new("capsh");
        command.args(["--drop=cap_net_raw", "--", "-c", "exec \"$0\" \"$@\""]);
        command.arg(binary);
        command
    } else {
        panic!("neither setpriv (util-linux) nor capsh (libcap2-bin) is installed");
    };
    command.arg("run");
    clear_monitor_settings(&mut command);
    command
        .env("MONITOR_IFACE", "lo")
        .env("TZ", "UTC")
        .current_dir(std::env::temp_dir());
    let output = run(&mut command, Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{command:?}: {}\n{stderr}", output.status);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(output.stdout.is_empty(), "no tally without capture");
    assert!(stderr.contains("CAP_NET_RAW"), "{stderr}");
    assert!(
        stderr.contains("setcap cap_net_raw") && stderr.contains("--cap-add NET_RAW"),
        "the message says how to grant the capability: {stderr}"
    );
}

/// Peak and current resident memory of a process, in KiB (VmHWM, VmRSS).
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Resident KiB the process holds itself: its heap, stacks and other anonymous memory and the
/// capture ring, not the pages of the executable and libraries the kernel keeps in from their
/// files (a debug build of this crate is 100 MB, and readahead keeps 10–14 MiB of it resident;
/// the release build's code is a few MiB).
fn own_memory_kib(pid: u32) -> u64 {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).expect("/proc smaps");
    let mut own = false;
    let mut total = 0;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            // A mapping's header: address perms offset dev inode [path].
            let path = fields.nth(4).unwrap_or("");
            own = path.is_empty() || path.starts_with('[') || path.starts_with("socket:");
        } else if own && first == "Rss:" {
            total += fields
                .next()
                .and_then(|kib| kib.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

/// Send `count` IPv6 UDP frames from distinct sources in 2001:db8::/32 to distinct destinations
/// in fd00::/8 (counted as download from a distinct remote to a distinct local device each), with
/// random ports, with trafgen (netsniff-ng) on one CPU, so the address counters are one.
fn flood(
    lab: &Netns,
    namespace: &str,
    interface: &str,
    (first_source, first_device): (&str, &str),
    count: u64,
) {
    let config = std::env::temp_dir()
        .join(format!("nts-flood-{}-{first_source}.cfg", std::process::id()).replace(':', "_"));
    std::fs::write(
        &config,
        format!(
            "{{ eth(da=02:00:00:00:00:fe, sa=02:00:00:00:00:01), \
               ipv6(sa={first_source}, sa=dinc(), da={first_device}, da=dinc(), nh=17, hl=64), \
               udp(sp=drnd(), dp=drnd()), fill(0x00, 8) }}\n"
        ),
    )
    .expect("write the trafgen configuration");
    let output = run(
        lab.exec(namespace, "trafgen")
            .args(["-o", interface, "-i"])
            .arg(&config)
            .args(["-n", &count.to_string(), "-P", "1", "-q"]),
        Duration::from_secs(120),
    );
    let _ = std::fs::remove_file(&config);
    assert!(output.status.success(), "trafgen failed: {output:?}");
}

/// The memory bound holds under a flood of ten million distinct spoofed sources to ten million
/// distinct local addresses on random ports: the remote address, device and pair tables are
/// fixed-size (Space-Saving) and services a fixed array, so peak memory after ten million is
/// what it was after the first million, and the memory the monitor holds (heap, stacks, ring)
/// is within the 24 MiB target with default settings.
fn a_flood_of_ten_million_spoofed_sources_and_devices_does_not_grow_memory() {
    let (lab, a, b) = pair("flood");
    let mut monitor = Monitor::start(&lab, &b, "vb");
    monitor.wait_capturing("vb", 1);
    let pid = monitor.inner.child.id();
    flood(
        &lab,
        &a,
        "va",
        ("2001:db8:f000::", "fd00::1:0:0"),
        1_000_000,
    );
    std::thread::sleep(Duration::from_millis(300));
    let (after_first_million, _) = memory_kib(pid);
    let own_after_first_million = own_memory_kib(pid);
    flood(
        &lab,
        &a,
        "va",
        ("2001:db8:f100::", "fd00::2:0:0"),
        9_000_000,
    );
    std::thread::sleep(Duration::from_millis(300));
    let (after_ten_million, rss) = memory_kib(pid);
    let own_after_ten_million = own_memory_kib(pid);
    let result = monitor.stop();
    let vb = result.interface("vb");
    let (kernel_packets, drops) = result.kernel("vb");
    eprintln!(
        "peak RSS after 1M sources {after_first_million} KiB, after 10M {after_ten_million} KiB \
         (current {rss} KiB; the process's own memory, code aside: {own_after_first_million} \
         KiB, then {own_after_ten_million} KiB); frames read {}, kernel {kernel_packets} \
         (drops {drops}), remote addresses kept {}",
        number(vb, "packets_total"),
        vb["remote_ips"].as_object().map_or(0, |m| m.len())
    );
    assert_eq!(
        kernel_packets, 10_000_000,
        "every flood frame reached the ring or its drop count"
    );
    // At the maximum rate an unoptimised test build drops much of the flood in the kernel
    // (the ring overflows; drops are counted); millions of distinct sources still reach it.
    assert!(
        number(vb, "packets_counted") >= 1_000_000,
        "at least a million distinct sources went through the tables"
    );
    assert!(
        after_ten_million <= after_first_million + 1024,
        "peak memory grew from {after_first_million} KiB to {after_ten_million} KiB"
    );
    assert!(
        own_after_ten_million <= own_after_first_million + 1024,
        "own memory grew from {own_after_first_million} KiB to {own_after_ten_million} KiB"
    );
    // The 24 MiB target is the release build's (16 MB resident in all, code included); a test
    // build's own code pages alone are 10-14 MiB, so the bound applies to the memory the
    // monitor holds itself.
    assert!(
        own_after_ten_million <= 24 * 1024,
        "own memory {own_after_ten_million} KiB > 24 MiB"
    );
    // Default TOP_IPS_PER_DAY 1000: tables of 2000 addresses, at most two days.
    let kept = vb["remote_ips"].as_object().map_or(0, |m| m.len());
    assert!(kept <= 2 * 2000, "{kept} remote addresses kept");
    // Default DEVICES_PER_DAY 256, at most two days; the random ports fall into a bounded set
    // of services, which add up to the interface's totals.
    let devices = vb["devices"].as_object().map_or(0, |m| m.len());
    assert!((256..=2 * 256).contains(&devices), "{devices} devices kept");
    let services = vb["services"].as_object().expect("services");
    let down: u64 = services.values().map(|s| number(s, "down_bytes")).sum();
    assert_eq!(down, number(vb, "down_bytes"), "{services:?}");
    assert!(services.contains_key("other-udp"), "{services:?}");
}

/// `AUTO_LOCAL_PREFIXES` (on by default): the capturing interface's own public IPv4 address counts
/// as local, so its traffic with the internet is upload/download instead of public↔public; when
/// the address changes (an ISP renumbers), the new one is followed within the watcher's period.
fn the_interfaces_own_public_address_counts_as_local_and_is_followed_when_it_changes() {
    let (lab, a, b) = pair("auto");
    ip(&["-n", &b, "addr", "add", "203.0.113.50/24", "dev", "vb"]);
    // From the NAS's old and new addresses to a peer on the internet: 100 and 200 IP bytes.
    let dir = TempDir::new("live-auto");
    let build = |name: &str| {
        let frames = [
            eth(
                ETHERTYPE_IPV4,
                &ipv4_packet("203.0.113.50", "198.51.100.9", 80),
            ),
            eth(
                ETHERTYPE_IPV4,
                &ipv4_packet("203.0.113.60", "198.51.100.9", 180),
            ),
        ];
        let mut writer = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 1);
        for frame in &frames {
            writer = writer.record(1_700_000_000, 0, frame.len() as u32, frame);
        }
        dir.write(name, &writer.finish())
    };
    let file = build("nas-to-internet.pcap");

    let mut monitor = Monitor::start(&lab, &b, "vb");
    monitor.wait_capturing("vb", 1);
    monitor.wait_for("own prefixes count as local: 203.0.113.50/32", 1);
    lab.replay(&a, "va", &file);
    // Renumbered: .50 goes, .60 comes. The watcher re-reads the addresses every 10 s.
    ip(&["-n", &b, "addr", "del", "203.0.113.50/24", "dev", "vb"]);
    ip(&["-n", &b, "addr", "add", "203.0.113.60/24", "dev", "vb"]);
    monitor.wait_for("own prefixes changed to: 203.0.113.60/32", 1);
    lab.replay(&a, "va", &file);
    let result = monitor.stop();
    let live = result.totals("vb");
    result.assert_complete("vb");
    // First replay: .50 is ours → up 100 to 198.51.100.9; .60 is a stranger → public↔public,
    // received, so down 200 from .60. Second replay: .60 is ours → up 200 to 198.51.100.9; .50 is
    // a stranger → down 100 from .50.
    let by_hand = Totals {
        packets_counted: 4,
        malformed: 0,
        lan_bytes: 0,
        up_bytes: 100 + 200,
        down_bytes: 200 + 100,
        remote_ips: [
            ("198.51.100.9", (300, 0)),
            ("203.0.113.60", (0, 200)),
            ("203.0.113.50", (0, 100)),
        ]
        .into_iter()
        .map(|(ip, bytes)| (ip.to_string(), bytes))
        .collect(),
    };
    assert_totals(&live, &by_hand, "own address followed");
}

tests! {
    #[needs(Netns, Tool("tcpreplay"))]
    every_replayable_ethernet_capture_counts_live_as_in_its_expected_file,
    #[needs(Netns, Tool("tcpreplay"))]
    fanout_workers_count_every_capture_exactly_like_one_worker,
    #[needs(Netns, Tool("tcpreplay"))]
    the_sending_end_counts_public_to_public_frames_as_upload,
    #[needs(Netns, Tool("tcpreplay"), Tool("kill"))]
    vlan_tagged_frames_count_with_the_tag_the_kernel_stripped,
    #[needs(Netns, Tool("python3"))]
    a_tun_device_is_counted_as_raw_ip,
    #[needs(Netns, Tool("tcpreplay"))]
    an_interface_deleted_and_created_again_or_set_down_is_captured_again,
    #[needs(Netns, Tool("tcpreplay"))]
    two_interfaces_are_counted_apart_and_together,
    #[needs(Netns, Tool("tcpreplay"))]
    an_interface_missing_at_start_is_captured_once_it_appears,
    #[needs(Root, Tool("setpriv"))]
    without_cap_net_raw_the_monitor_explains_how_to_grant_it,
    #[needs(Netns, Tool("trafgen"))]
    a_flood_of_ten_million_spoofed_sources_and_devices_does_not_grow_memory,
    #[needs(Netns, Tool("tcpreplay"))]
    the_interfaces_own_public_address_counts_as_local_and_is_followed_when_it_changes,
}
