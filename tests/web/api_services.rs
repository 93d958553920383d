//! Public traffic by service (`/api/services`, the per-service `/metrics` counters), from the real
//! monitor: over a history made by `import` from packets written here, each with the service it
//! belongs to written by hand; and live, over captures replayed through a veth pair, across a
//! commit, a `kill -9` and a restart (nothing counted twice, nothing lost).

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::netns::{Netns, run_ok};
use crate::support::web::{Monitor, db_in, import_into};
use crate::support::{ETHERTYPE_IPV4, PCAP_MAGIC_MICROSECONDS, PcapWriter, TempDir, capture, eth};

/// 2024-06-10 00:00 UTC.
const DAY_START: u32 = 1_717_977_600;
const DAY: &str = "2024-06-10";

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const GRE: u8 = 47;
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

/// One packet of the imported capture and the service a person assigns it by docs/capture.md.
struct Packet {
    src: (&'static str, u16),
    dst: (&'static str, u16),
    protocol: u8,
    tcp_flags: u8,
    /// A fragment after the first (IPv4 fragment offset 185, i.e. 1480 bytes in).
    later_fragment: bool,
    /// IP bytes (Total Length).
    size: u16,
    /// `None`: LAN traffic, not counted.
    service: Option<&'static str>,
}

const fn packet(
    src: (&'static str, u16),
    dst: (&'static str, u16),
    protocol: u8,
    tcp_flags: u8,
    size: u16,
    service: Option<&'static str>,
) -> Packet {
    Packet {
        src,
        dst,
        protocol,
        tcp_flags,
        later_fragment: false,
        size,
        service,
    }
}

const LAPTOP: &str = "192.168.1.10";
const NAS: &str = "192.168.1.20";

const PACKETS: &[Packet] = &[
    // An HTTPS connection opened by the laptop: the SYN names 443, the answer is download.
    packet(
        (LAPTOP, 50_000),
        ("203.0.113.5", 443),
        TCP,
        SYN,
        60,
        Some("https"),
    ),
    packet(
        ("203.0.113.5", 443),
        (LAPTOP, 50_000),
        TCP,
        ACK,
        1500,
        Some("https"),
    ),
    // WireGuard to a VPN server, QUIC from a CDN.
    packet(
        (LAPTOP, 40_000),
        ("198.51.100.7", 51820),
        UDP,
        0,
        200,
        Some("wireguard"),
    ),
    packet(
        ("198.51.100.7", 443),
        (NAS, 55_555),
        UDP,
        0,
        1200,
        Some("quic"),
    ),
    // Plex remote streaming: a connection from outside to the NAS's 32400; its SYN, the NAS's
    // SYN-ACK and a data segment that the well-known side names.
    packet(
        ("198.51.100.9", 61_000),
        (NAS, 32_400),
        TCP,
        SYN,
        60,
        Some("plex"),
    ),
    packet(
        (NAS, 32_400),
        ("198.51.100.9", 61_000),
        TCP,
        SYN | ACK,
        60,
        Some("plex"),
    ),
    packet(
        (NAS, 32_400),
        ("198.51.100.9", 61_000),
        TCP,
        ACK,
        1400,
        Some("plex"),
    ),
    packet(
        (LAPTOP, 53_000),
        ("203.0.113.53", 53),
        UDP,
        0,
        70,
        Some("dns"),
    ),
    // Two ephemeral ports, no SYN: the remote's port, 60000, is in no table.
    packet(
        (LAPTOP, 50_001),
        ("203.0.113.5", 60_000),
        TCP,
        ACK,
        100,
        Some("other-tcp"),
    ),
    packet((LAPTOP, 0), ("203.0.113.5", 0), ICMP, 0, 84, Some("icmp")),
    packet((LAPTOP, 0), ("203.0.113.5", 0), GRE, 0, 120, Some("gre")),
    // SMB between the laptop and the NAS: LAN, no service counted.
    packet((LAPTOP, 50_002), (NAS, 445), TCP, SYN, 60, None),
    Packet {
        later_fragment: true,
        ..packet(
            ("198.51.100.7", 0),
            (LAPTOP, 0),
            UDP,
            0,
            1000,
            Some("fragment"),
        )
    },
];

fn ip_bytes(packet: &Packet) -> Vec<u8> {
    let mut ip = vec![0u8; usize::from(packet.size)];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&packet.size.to_be_bytes());
    if packet.later_fragment {
        ip[6..8].copy_from_slice(&185u16.to_be_bytes());
    }
    ip[8] = 64;
    ip[9] = packet.protocol;
    let address = |text: &str| text.parse::<std::net::Ipv4Addr>().expect("IPv4").octets();
    ip[12..16].copy_from_slice(&address(packet.src.0));
    ip[16..20].copy_from_slice(&address(packet.dst.0));
    if !packet.later_fragment && (packet.protocol == TCP || packet.protocol == UDP) {
        ip[20..22].copy_from_slice(&packet.src.1.to_be_bytes());
        ip[22..24].copy_from_slice(&packet.dst.1.to_be_bytes());
        if packet.protocol == TCP {
            ip[32] = 0x50; // data offset 5
            ip[33] = packet.tcp_flags;
        }
    }
    ip
}

fn import_capture() -> Vec<u8> {
    let mut pcap = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 1);
    for (i, packet) in PACKETS.iter().enumerate() {
        let frame = eth(ETHERTYPE_IPV4, &ip_bytes(packet));
        pcap = pcap.record(DAY_START + 3600 + i as u32, 0, frame.len() as u32, &frame);
    }
    pcap.finish()
}

type Bytes = (u64, u64);

/// Service → (up, down), added up by hand from [`PACKETS`] (upload: sent by the LAN side).
fn expected() -> BTreeMap<String, Bytes> {
    let mut sums: BTreeMap<String, Bytes> = BTreeMap::new();
    for packet in PACKETS {
        let Some(service) = packet.service else {
            continue;
        };
        let entry = sums.entry(service.to_string()).or_default();
        if packet.src.0.starts_with("192.168.") {
            entry.0 += u64::from(packet.size);
        } else {
            entry.1 += u64::from(packet.size);
        }
    }
    sums
}

fn services_of(answer: &Value) -> Vec<(String, Bytes)> {
    answer["services"]
        .as_array()
        .unwrap_or_else(|| panic!("services in {answer}"))
        .iter()
        .map(|s| {
            let bytes = (
                s["up_bytes"].as_u64().expect("up"),
                s["down_bytes"].as_u64().expect("down"),
            );
            assert_eq!(s["bytes"].as_u64(), Some(bytes.0 + bytes.1), "{s}");
            (s["service"].as_str().expect("service").to_string(), bytes)
        })
        .collect()
}

/// `/api/services` over an imported history: each service's bytes as assigned by hand, heaviest
/// first, with its label; LAN traffic in none; they add up to the day's totals; a day without
/// traffic lists none; `device` and bad input are 400s naming the parameter.
fn services_of_an_imported_history() {
    let dir = TempDir::new("services");
    let file = dir.write("services.pcap", &import_capture());
    let db = import_into(dir.path(), &file);

    let mut netns = Netns::new("services");
    let namespace = netns.add("m");
    let mut monitor = Monitor::start(&netns, &namespace, "lo", &db, &[]);
    monitor.wait_ready("lo");

    let answer = monitor.get(&format!("/api/services?start={DAY}&end={DAY}"));
    assert_eq!(answer.status, 200, "{}", answer.text());
    let json = answer.json();
    let listed = services_of(&json);
    let wanted: Vec<(String, Bytes)> = expected().into_iter().collect();
    let as_map =
        |list: &[(String, Bytes)]| -> BTreeMap<String, Bytes> { list.iter().cloned().collect() };
    assert_eq!(as_map(&listed), as_map(&wanted), "{json}");
    let totals: Vec<u64> = listed.iter().map(|(_, b)| b.0 + b.1).collect();
    assert!(
        totals.windows(2).all(|w| w[0] >= w[1]),
        "heaviest first: {json}"
    );
    // plex: 60 + 60 + 1400 = 1520, https: 1560, quic 1200, fragment 1000.
    assert_eq!(listed[0].0, "https", "{json}");
    let plex = json["services"]
        .as_array()
        .and_then(|list| list.iter().find(|s| s["service"] == "plex"))
        .expect("plex listed");
    assert_eq!(plex["label"], "Plex");
    assert_eq!(plex["bytes_fmt"], "1.48 KB");
    assert!(
        listed.iter().all(|(name, _)| name != "smb"),
        "LAN traffic is no service's"
    );

    let query = monitor.get(&format!("/api/query?start={DAY}&end={DAY}"));
    let summary = &query.json()["summary"];
    let sum = listed
        .iter()
        .fold((0, 0), |a, (_, b)| (a.0 + b.0, a.1 + b.1));
    assert_eq!(
        (Some(sum.0), Some(sum.1)),
        (summary["up_bytes"].as_u64(), summary["down_bytes"].as_u64()),
        "the services add up to the day's totals: {summary}"
    );
    let other_day = monitor.get("/api/services?start=2024-06-11&end=2024-06-11");
    assert_eq!(other_day.json(), serde_json::json!({"services": []}));

    for (query, parameter) in [
        ("device=192.168.1.10", "device"),
        ("start=2024-02-30", "start"),
        ("iface=nope0", "iface"),
    ] {
        let answer = monitor.get(&format!("/api/services?{query}"));
        assert_eq!(answer.status, 400, "{query}");
        assert!(answer.error().contains(parameter), "{}", answer.error());
    }
    monitor.stop();
}

/// Replayed live: Ethernet captures whose records are whole.
const LIVE_CAPTURES: [&str; 3] = [
    "zeek-quic-firefox-blog-cloudflare.pcap",
    "sv-smtp-errors-smtperr.pcap",
    "zeek-wikipedia.pcap",
];

/// `report --json`'s services of `names` added up (the file path, which tests/rules checks
/// against an independent reference).
fn reported_services(names: &[&str]) -> BTreeMap<String, Bytes> {
    let mut sums: BTreeMap<String, Bytes> = BTreeMap::new();
    for name in names {
        let output = run_ok(
            Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"))
                .args(["report", "--json"])
                .arg(capture(name))
                .env_remove("LOCAL_PREFIXES")
                .env("TZ", "UTC"),
            Duration::from_secs(60),
        );
        let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        for (service, bytes) in report["services"].as_object().expect("services") {
            let entry = sums.entry(service.clone()).or_default();
            entry.0 += bytes["up_bytes"].as_u64().expect("up");
            entry.1 += bytes["down_bytes"].as_u64().expect("down");
        }
    }
    sums
}

fn live_services(monitor: &Monitor) -> BTreeMap<String, Bytes> {
    let answer = monitor.get("/api/services");
    assert_eq!(answer.status, 200, "{}", answer.text());
    services_of(&answer.json()).into_iter().collect()
}

/// Poll `/api/services` until it equals `wanted` (frames reach the counters within a ring
/// retire timeout), then return it.
fn wait_for_services(
    monitor: &Monitor,
    wanted: &BTreeMap<String, Bytes>,
) -> BTreeMap<String, Bytes> {
    let started = Instant::now();
    let mut seen = live_services(monitor);
    while &seen != wanted && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
        seen = live_services(monitor);
    }
    seen
}

fn metric_lines(monitor: &Monitor) -> Vec<String> {
    monitor
        .get("/metrics")
        .text()
        .lines()
        .filter(|line| line.starts_with("nettraffic_service_"))
        .map(str::to_string)
        .collect()
}

/// Live traffic by service equals what `report` counts of the same captures: from memory, after
/// a commit (stored + memory, not twice), after `kill -9` and a restart (from the file), and with
/// new traffic on top of the stored day; `/metrics` counts the same per service.
fn live_services_survive_commits_and_restarts() {
    let mut lab = Netns::new("services-live");
    let a = lab.add("a");
    let b = lab.add("b");
    lab.veth((&a, "va"), (&b, "vb"));
    let dir = TempDir::new("services-live");
    let db = db_in(dir.path());
    let settings = [("SAVE_INTERVAL", "10")];
    let mut monitor = Monitor::start(&lab, &b, "vb", &db, &settings);
    monitor.wait_ready("vb");
    for name in LIVE_CAPTURES {
        lab.replay(&a, "va", &capture(name));
    }
    let wanted = reported_services(&LIVE_CAPTURES);
    assert!(
        ["quic", "smtp", "http"]
            .iter()
            .all(|s| wanted.contains_key(*s)),
        "the captures reach several services: {wanted:?}"
    );
    assert_eq!(wait_for_services(&monitor, &wanted), wanted, "from memory");

    let mut metrics = Vec::new();
    for (service, (up, down)) in &wanted {
        metrics.push(format!(
            "nettraffic_service_receive_bytes_total{{device=\"vb\",service=\"{service}\"}} {down}"
        ));
        metrics.push(format!(
            "nettraffic_service_transmit_bytes_total{{device=\"vb\",service=\"{service}\"}} {up}"
        ));
    }
    let mut exposed = metric_lines(&monitor);
    exposed.sort();
    metrics.sort();
    assert_eq!(exposed, metrics);

    // A commit within SAVE_INTERVAL: afterwards the same bytes, now stored, and not counted twice.
    let started = Instant::now();
    while monitor.get("/api/health").json()["last_commit"].is_null() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no commit within 30 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(live_services(&monitor), wanted, "after a commit");

    monitor.kill();
    let mut monitor = Monitor::start(&lab, &b, "vb", &db, &settings);
    monitor.wait_ready("vb");
    assert_eq!(
        live_services(&monitor),
        wanted,
        "after kill -9 and a restart"
    );
    assert!(
        metric_lines(&monitor)
            .iter()
            .all(|l| !l.contains("service=")),
        "counters start at 0 with the process"
    );

    // New traffic adds to the stored day.
    lab.replay(&a, "va", &capture(LIVE_CAPTURES[1]));
    let mut again = wanted.clone();
    for (service, (up, down)) in reported_services(&LIVE_CAPTURES[1..2]) {
        let entry = again.entry(service).or_default();
        entry.0 += up;
        entry.1 += down;
    }
    assert_eq!(
        wait_for_services(&monitor, &again),
        again,
        "stored and new together"
    );
    monitor.stop();
}

tests! {
    #[needs(Netns)]
    services_of_an_imported_history,
    #[needs(Netns, Tool("tcpreplay"))]
    live_services_survive_commits_and_restarts,
}
