//! Public traffic by local device (`/api/devices`), from the real monitor over a history made by
//! `import` and, live, from traffic sent through a veth pair it captures. Expected bytes are the
//! IP lengths of the packets written here, added up by hand.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::netns::{Netns, clear_monitor_settings, run_ok};
use crate::support::web::{Monitor, db_in};
use crate::support::{
    ETHERTYPE_IPV4, PCAP_MAGIC_MICROSECONDS, PcapWriter, TempDir, eth, ipv4, ipv6,
};

const ETHERTYPE_IPV6: u16 = 0x86dd;
/// 2024-06-10 00:00 UTC.
const DAY_START: u32 = 1_717_977_600;
const DAY: &str = "2024-06-10";

/// (local device, remote, up?, IP bytes): the packets of the capture, in order.
const PACKETS: &[(&str, &str, bool, u16)] = &[
    ("192.168.1.10", "203.0.113.5", true, 1000),
    ("192.168.1.10", "203.0.113.5", false, 1500),
    ("192.168.1.20", "198.51.100.7", false, 1400),
    ("192.168.1.20", "203.0.113.5", true, 60),
    ("fd00::30", "2001:db8::5", false, 1280),
    ("fd00::30", "2001:db8::5", true, 80),
    ("192.168.1.10", "198.51.100.7", false, 500),
];

fn capture() -> Vec<u8> {
    let mut pcap = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 1);
    for (i, (local, remote, up, size)) in PACKETS.iter().enumerate() {
        let (src, dst) = if *up {
            (local, remote)
        } else {
            (remote, local)
        };
        let (frame, wire) = if local.contains(':') {
            let payload = size - 40;
            (
                eth(ETHERTYPE_IPV6, &ipv6(src, dst, payload)),
                14 + u32::from(*size),
            )
        } else {
            (
                eth(ETHERTYPE_IPV4, &ipv4(src, dst, *size)),
                14 + u32::from(*size),
            )
        };
        pcap = pcap.record(DAY_START + 3600 + i as u32, 0, wire, &frame);
    }
    pcap.finish()
}

/// (device, up, down), heaviest first, added up from [`PACKETS`].
fn expected() -> Vec<(String, u64, u64)> {
    let mut sums: Vec<(String, u64, u64)> = Vec::new();
    for (local, _, up, size) in PACKETS {
        let at = match sums.iter().position(|(d, _, _)| d == local) {
            Some(at) => at,
            None => {
                sums.push((local.to_string(), 0, 0));
                sums.len() - 1
            }
        };
        if *up {
            sums[at].1 += u64::from(*size);
        } else {
            sums[at].2 += u64::from(*size);
        }
    }
    sums.sort_by_key(|d| std::cmp::Reverse(d.1 + d.2));
    sums
}

fn devices_of(answer: &Value) -> Vec<(String, u64, u64)> {
    answer["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .map(|d| {
            (
                d["ip"].as_str().expect("ip").to_string(),
                d["up_bytes"].as_u64().expect("up"),
                d["down_bytes"].as_u64().expect("down"),
            )
        })
        .collect()
}

/// `/api/devices` over an imported history: each device's upload (what it sent) and download
/// (what it received), heaviest first; `limit`; a day without traffic has no devices; the
/// devices add up to the day's totals; bad input is a 400 naming the parameter.
fn devices_of_an_imported_history() {
    let dir = TempDir::new("devices");
    let file = dir.write("devices.pcap", &capture());
    let db = db_in(dir.path());
    let mut import = Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"));
    clear_monitor_settings(&mut import);
    import
        .arg("import")
        .arg(&file)
        .env("TZ", "UTC")
        .env("DB_PATH", &db);
    run_ok(&mut import, Duration::from_secs(60));

    let mut netns = Netns::new("devices");
    let namespace = netns.add("m");
    let mut monitor = Monitor::start(&netns, &namespace, "lo", &db, &[]);
    monitor.wait_ready("lo");

    let answer = monitor.get(&format!("/api/devices?start={DAY}&end={DAY}"));
    assert_eq!(answer.status, 200, "{}", answer.text());
    let devices = devices_of(&answer.json());
    assert_eq!(devices, expected());
    assert_eq!(
        answer.json()["devices"][0]["bytes_fmt"],
        "2.93 KB",
        "192.168.1.10: 1000 + 1500 + 500 bytes"
    );

    let two = monitor.get(&format!("/api/devices?start={DAY}&end={DAY}&limit=2"));
    assert_eq!(devices_of(&two.json()), expected()[..2].to_vec());

    let other_day = monitor.get("/api/devices?start=2024-06-11&end=2024-06-11");
    assert_eq!(other_day.json(), serde_json::json!({"devices": []}));

    let query = monitor.get(&format!("/api/query?start={DAY}&end={DAY}"));
    let summary = &query.json()["summary"];
    let (up, down) = devices
        .iter()
        .fold((0, 0), |(u, d), (_, up, down)| (u + up, d + down));
    assert_eq!(
        (Some(up), Some(down)),
        (summary["up_bytes"].as_u64(), summary["down_bytes"].as_u64()),
        "the devices add up to the day's totals: {summary}"
    );

    for (query, parameter) in [
        ("limit=0", "limit"),
        ("start=2024-02-30", "start"),
        ("iface=nope0", "iface"),
    ] {
        let answer = monitor.get(&format!("/api/devices?{query}"));
        assert_eq!(answer.status, 400, "{query}");
        assert!(answer.error().contains(parameter), "{}", answer.error());
    }
    monitor.stop();
}

tests! {
    #[needs(Netns)]
    devices_of_an_imported_history,
}
