//! Public traffic by local device (`/api/devices`), from the real monitor over a history made by
//! `import` and, live, from traffic sent through a veth pair it captures. Expected bytes are the
//! IP lengths of the packets written here, added up by hand.

use serde_json::Value;

use crate::support::netns::Netns;
use crate::support::web::{Monitor, import_into};
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

/// 2024-06-20 02:00 UTC: ten days later, the same month.
const LATER_START: u32 = DAY_START + 10 * 86_400 + 7200;
const LATER_DAY: &str = "2024-06-20";

/// Packets of [`LATER_DAY`], as [`PACKETS`].
const LATER: &[(&str, &str, bool, u16)] = &[
    ("192.168.1.10", "203.0.113.5", true, 700),
    ("192.168.1.10", "198.51.100.9", false, 300),
];

fn capture() -> Vec<u8> {
    let mut pcap = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 1);
    let timed = PACKETS
        .iter()
        .enumerate()
        .map(|(i, packet)| (DAY_START + 3600 + i as u32, packet))
        .chain(
            LATER
                .iter()
                .enumerate()
                .map(|(i, packet)| (LATER_START + i as u32, packet)),
        );
    for (second, (local, remote, up, size)) in timed {
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
        pcap = pcap.record(second, 0, wire, &frame);
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

/// (remote, up, down) of `device` in `packets`, heaviest first (ties by address, as the API).
fn remotes_of(device: &str, packets: &[&[(&str, &str, bool, u16)]]) -> Vec<(String, u64, u64)> {
    let mut sums: Vec<(String, u64, u64)> = Vec::new();
    for (local, remote, up, size) in packets.iter().flat_map(|p| p.iter()) {
        if *local != device {
            continue;
        }
        let at = match sums.iter().position(|(r, _, _)| r == remote) {
            Some(at) => at,
            None => {
                sums.push((remote.to_string(), 0, 0));
                sums.len() - 1
            }
        };
        if *up {
            sums[at].1 += u64::from(*size);
        } else {
            sums[at].2 += u64::from(*size);
        }
    }
    sums.sort_by(|a, b| {
        (b.1 + b.2).cmp(&(a.1 + a.2)).then_with(|| {
            let (x, y): (std::net::IpAddr, std::net::IpAddr) =
                (a.0.parse().expect("ip"), b.0.parse().expect("ip"));
            x.cmp(&y)
        })
    });
    sums
}

fn top_ips_of(answer: &Value) -> Vec<(String, u64, u64)> {
    answer["top_ips"]
        .as_array()
        .expect("top_ips")
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

/// (label, up, down) of each row of an `/api/query` series.
fn rows_of(answer: &Value, label: &str) -> Vec<(String, u64, u64)> {
    answer["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|row| {
            (
                row[label].as_str().expect("label").to_string(),
                row["up_bytes"].as_u64().expect("up"),
                row["down_bytes"].as_u64().expect("down"),
            )
        })
        .collect()
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
    let db = import_into(dir.path(), &file);

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

    device_filter(&monitor);
    monitor.stop();
}

/// `/api/top_ips?device=` (one device's remote addresses) and `/api/query?device=` (its bytes
/// by day and month) over the same imported history.
fn device_filter(monitor: &Monitor) {
    for device in ["192.168.1.10", "192.168.1.20", "fd00::30"] {
        let answer = monitor.get(&format!(
            "/api/top_ips?start={DAY}&end={DAY}&device={device}"
        ));
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(
            top_ips_of(&answer.json()),
            remotes_of(device, &[PACKETS]),
            "{device} on {DAY}"
        );
    }
    let whole = monitor.get(&format!(
        "/api/top_ips?start={DAY}&end={LATER_DAY}&device=192.168.1.10"
    ));
    let expected = remotes_of("192.168.1.10", &[PACKETS, LATER]);
    assert_eq!(expected.len(), 3);
    assert_eq!(top_ips_of(&whole.json()), expected);
    assert_eq!(
        whole.json()["top_ips"][0]["bytes"],
        1000 + 1500 + 700,
        "203.0.113.5 over both days"
    );
    let one = monitor.get(&format!(
        "/api/top_ips?start={DAY}&end={LATER_DAY}&device=192.168.1.10&limit=1"
    ));
    assert_eq!(top_ips_of(&one.json()), expected[..1].to_vec());
    let stranger = monitor.get(&format!(
        "/api/top_ips?start={DAY}&end={DAY}&device=192.168.1.99"
    ));
    assert_eq!(stranger.json(), serde_json::json!({"top_ips": []}));
    // Without `device`, every remote address of the day, as before.
    let all = monitor.get(&format!("/api/top_ips?start={DAY}&end={DAY}"));
    assert_eq!(all.json()["top_ips"].as_array().map(Vec::len), Some(3));

    // The device's bytes: by day over the eleven days, by month over June and July.
    let first = sum_of("192.168.1.10", PACKETS);
    let later = sum_of("192.168.1.10", LATER);
    assert_eq!(first, (1000, 2000));
    let by_day = monitor.get(&format!(
        "/api/query?start={DAY}&end={LATER_DAY}&granularity=day&device=192.168.1.10"
    ));
    assert_eq!(by_day.status, 200, "{}", by_day.text());
    let rows = rows_of(&by_day.json(), "day");
    assert_eq!(rows.len(), 11, "zero-filled, one row a day");
    for (label, up, down) in &rows {
        let expected = match label.as_str() {
            DAY => first,
            LATER_DAY => later,
            _ => (0, 0),
        };
        assert_eq!((*up, *down), expected, "{label}");
    }
    let summary = &by_day.json()["summary"];
    assert_eq!(
        (summary["up_bytes"].as_u64(), summary["down_bytes"].as_u64()),
        (Some(first.0 + later.0), Some(first.1 + later.1)),
        "{summary}"
    );
    let by_month = monitor
        .get("/api/query?start=2024-06-01&end=2024-07-31&granularity=month&device=192.168.1.10");
    assert_eq!(by_month.status, 200, "{}", by_month.text());
    assert_eq!(
        rows_of(&by_month.json(), "month"),
        [
            ("2024-06".to_string(), first.0 + later.0, first.1 + later.1),
            ("2024-07".to_string(), 0, 0)
        ]
    );
    let v6 = monitor.get(&format!(
        "/api/query?start={DAY}&end={DAY}&device=fd00%3A%3A30"
    ));
    assert_eq!(
        rows_of(&v6.json(), "day"),
        [(DAY.to_string(), 80, 1280)],
        "{}",
        v6.text()
    );

    let hourly = monitor.get(&format!(
        "/api/query?start={DAY}&end={DAY}&granularity=hour&device=192.168.1.10"
    ));
    assert_eq!(hourly.status, 400);
    assert!(
        hourly
            .error()
            .contains("hourly traffic is not kept per device; use day or month"),
        "{}",
        hourly.error()
    );
    for path in [
        format!("/api/top_ips?start={DAY}&end={DAY}&device=nas"),
        format!("/api/query?start={DAY}&end={DAY}&device=192.168.1.300"),
    ] {
        let answer = monitor.get(&path);
        assert_eq!(answer.status, 400, "{path}");
        assert!(answer.error().starts_with("device "), "{}", answer.error());
    }
}

/// (up, down) of `device` in `packets`.
fn sum_of(device: &str, packets: &[(&str, &str, bool, u16)]) -> (u64, u64) {
    packets
        .iter()
        .filter(|p| p.0 == device)
        .fold((0, 0), |(u, d), p| {
            if p.2 {
                (u + u64::from(p.3), d)
            } else {
                (u, d + u64::from(p.3))
            }
        })
}

tests! {
    #[needs(Netns)]
    devices_of_an_imported_history,
}
