//! The HTTP API of the real monitor while it captures (root: network namespaces, a veth pair,
//! tcpreplay): what memory has counted shows in every endpoint before any commit, `/metrics`
//! passes `promtool check metrics`, a busy `WEB_PORT` stops start-up with one sentence, and the
//! web server does not hold up the clean stop.
//!
//! Expected numbers come from `tests/captures/expected/*.json` of the replayed captures (Ethernet
//! captures whose records are whole, so they go on the wire as the rules count them).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::netns::Netns;
use crate::support::web::{Monitor, db_in, listen, promtool_check, totals};
use crate::support::{TempDir, capture, expected_json_path};

/// Replayed one after another: 2,045 records, 28 remote addresses.
const CAPTURES: [&str; 4] = [
    "zeek-wikipedia.pcap",
    "sv-base64-decode-5885.pcap",
    "sv-smtp-errors-smtperr.pcap",
    "zeek-quic-firefox-blog-cloudflare.pcap",
];

type Bytes = (u64, u64);

fn bytes_of(value: &Value) -> Bytes {
    (
        value["up_bytes"].as_u64().expect("up_bytes"),
        value["down_bytes"].as_u64().expect("down_bytes"),
    )
}

/// Totals and remote addresses of the replayed captures, from their expected files.
fn expected() -> (Bytes, BTreeMap<IpAddr, Bytes>) {
    let mut total = (0, 0);
    let mut remotes: BTreeMap<IpAddr, Bytes> = BTreeMap::new();
    for name in CAPTURES {
        let path = expected_json_path(name);
        let json: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("expected file")).unwrap();
        assert_eq!(json["linktype"], 1, "{name} is an Ethernet capture");
        let (up, down) = bytes_of(&json);
        total.0 += up;
        total.1 += down;
        for (ip, bytes) in json["remote_ips"].as_object().expect("remote_ips") {
            let (up, down) = bytes_of(bytes);
            let entry = remotes.entry(ip.parse().unwrap()).or_default();
            entry.0 += up;
            entry.1 += down;
        }
    }
    (total, remotes)
}

fn json_of(monitor: &Monitor, target: &str) -> Value {
    let answer = monitor.get(target);
    assert_eq!(answer.status, 200, "{target}: {}", answer.text());
    answer.json()
}

fn sum_rows(rows: &Value) -> Bytes {
    rows.as_array()
        .expect("rows")
        .iter()
        .map(bytes_of)
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

fn live_counts_are_in_every_endpoint_before_any_commit() {
    let mut lab = Netns::new("api-live");
    let a = lab.add("a");
    let b = lab.add("b");
    lab.veth((&a, "va"), (&b, "vb"));
    let dir = TempDir::new("api-live");
    let mut monitor = Monitor::start(&lab, &b, "vb", &db_in(dir.path()), &[]);
    monitor.wait_ready("vb");
    // The rate sampler's first reading is its baseline: let it be taken before any traffic.
    std::thread::sleep(Duration::from_millis(1500));
    for name in CAPTURES {
        lab.replay(&a, "va", &capture(name));
    }
    let (total, remotes) = expected();

    // Frames reach the counters within a ring retire timeout; wait for the last of them.
    let start = Instant::now();
    let mut summary = json_of(&monitor, "/api/summary");
    while summary["today"] != totals(total) && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
        summary = json_of(&monitor, "/api/summary");
    }
    assert_eq!(summary["today"], totals(total), "{summary}");
    assert_eq!(summary["month"], totals(total));
    assert_eq!(summary["year"], totals(total));
    assert_eq!(summary["interfaces"], json!(["vb"]));
    assert_eq!(
        json_of(&monitor, "/api/summary?iface=vb")["today"],
        totals(total)
    );

    // Nothing has been committed (SAVE_INTERVAL is an hour): all of this came from memory.
    let health = json_of(&monitor, "/api/health");
    assert_eq!(health["last_commit"], Value::Null, "{health}");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["interfaces"][0]["name"], "vb");
    assert_eq!(health["interfaces"][0]["state"], "capturing");
    let frames = health["interfaces"][0]["frames"].as_u64().unwrap();
    // Only IP frames pass the ring's filter, so fewer than the captures' 2,045 records.
    assert!(frames > 1000, "{health}");
    assert_eq!(health["interfaces"][0]["drops"], 0, "{health}");

    let today = today();
    let hours = json_of(&monitor, "/api/history/today_hours");
    assert_eq!(hours["hours"].as_array().map(Vec::len), Some(24));
    assert_eq!(sum_rows(&hours["hours"]), total);
    let query = json_of(
        &monitor,
        &format!("/api/query?start={today}&end={today}&granularity=hour"),
    );
    assert_eq!(query["summary"], totals(total));
    let query = json_of(&monitor, &format!("/api/query?start={today}&end={today}"));
    assert_eq!(
        query["series"],
        json!([{"day": today, "up_bytes": total.0, "down_bytes": total.1, "total_bytes": total.0 + total.1}])
    );
    let days = json_of(&monitor, "/api/history/30days");
    assert_eq!(bytes_of(&days["days"][29]), total);
    assert_eq!(sum_rows(&days["days"]), total);
    let months = json_of(&monitor, "/api/history/12months");
    assert_eq!(bytes_of(&months["months"][11]), total);
    assert_eq!(
        json_of(&monitor, "/api/date_range"),
        json!({"min": today, "max": today})
    );

    // Top addresses: the heaviest first, ties by address.
    let mut sorted: Vec<(IpAddr, Bytes)> = remotes.into_iter().collect();
    sorted.sort_by(|x, y| (y.1.0 + y.1.1).cmp(&(x.1.0 + x.1.1)).then(x.0.cmp(&y.0)));
    let listed = |list: &[(IpAddr, Bytes)]| -> Value {
        list.iter()
            .map(|(ip, (up, down))| {
                json!({"ip": ip.to_string(), "bytes": up + down, "up_bytes": up, "down_bytes": down,
                       "bytes_fmt": nettraffic_sentinel::units::format_bytes(up + down)})
            })
            .collect()
    };
    assert_eq!(
        json_of(&monitor, "/api/top_ips")["top_ips"],
        listed(&sorted[..10])
    );
    assert_eq!(
        json_of(
            &monitor,
            &format!("/api/top_ips?start={today}&end={today}&limit=1000")
        )["top_ips"],
        listed(&sorted)
    );

    // The one-second samples add up to everything once the last second has been sampled.
    std::thread::sleep(Duration::from_millis(1200));
    let realtime = json_of(&monitor, "/api/realtime");
    let samples = realtime["samples"].as_array().map_or(0, Vec::len);
    assert!((1..=120).contains(&samples), "{realtime}");
    assert_eq!(sum_samples(&realtime), total, "{realtime}");
    assert_eq!(
        sum_samples(&json_of(&monitor, "/api/realtime?iface=vb")),
        total
    );

    let metrics = monitor.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert_eq!(
        metrics.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = metrics.text();
    for line in [
        format!(
            "nettraffic_public_receive_bytes_total{{device=\"vb\"}} {}",
            total.1
        ),
        format!(
            "nettraffic_public_transmit_bytes_total{{device=\"vb\"}} {}",
            total.0
        ),
        format!("nettraffic_capture_packets_total{{device=\"vb\"}} {frames}"),
        "nettraffic_capture_drops_total{device=\"vb\"} 0".to_string(),
        "nettraffic_store_last_commit_timestamp_seconds 0".to_string(),
    ] {
        assert!(text.lines().any(|l| l == line), "no {line} in:\n{text}");
    }
    promtool_check(&text).unwrap_or_else(|complaints| panic!("{complaints}\n{text}"));

    // An idle keep-alive connection must not hold up the clean stop.
    let mut idle = crate::support::web::connect(&b, crate::support::web::PORT);
    idle.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let log = monitor.stop();
    assert!(log.contains("saved to"), "the last commit was made: {log}");

    // The web server lives until the process exits, holding the history: the file must still be
    // closed cleanly, and the next start serves what the last commit saved.
    let mut again = Monitor::start(&lab, &b, "vb", &db_in(dir.path()), &[]);
    again.wait_ready("vb");
    assert!(
        !again.log().contains("not closed cleanly"),
        "{}",
        again.log()
    );
    assert_eq!(json_of(&again, "/api/summary")["today"], totals(total));
    again.stop();
}

/// The bytes of every one-second sample added up.
fn sum_samples(realtime: &Value) -> Bytes {
    realtime["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .fold((0, 0), |s, x| {
            (
                s.0 + x["up"].as_u64().unwrap(),
                s.1 + x["down"].as_u64().unwrap(),
            )
        })
}

/// Today's date in the monitor's zone (UTC).
fn today() -> String {
    jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date()
        .to_string()
}

fn a_busy_web_port_stops_start_up_with_one_sentence() {
    let mut lab = Netns::new("api-port");
    let a = lab.add("a");
    let b = lab.add("b");
    lab.veth((&a, "va"), (&b, "vb"));
    let _busy = listen(&b, crate::support::web::PORT);
    let dir = TempDir::new("api-port");
    let monitor = Monitor::start(&lab, &b, "vb", &db_in(dir.path()), &[]);
    let (status, _, log) = monitor.exit_within(Duration::from_secs(10));
    assert_eq!(status.code(), Some(2), "{log}");
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "one sentence: {log}");
    assert!(
        errors[0].contains("WEB_PORT 8080 is already in use on 127.0.0.1"),
        "{log}"
    );
}

/// The recorded figures of one capture: (up, down) from its expected file.
fn expected_of(capture_name: &str) -> Bytes {
    let path = expected_json_path(capture_name);
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("expected file")).unwrap();
    bytes_of(&json)
}

fn a_renamed_interface_keeps_its_history_selectable() {
    let mut lab = Netns::new("api-rename");
    let a = lab.add("a");
    let b = lab.add("b");
    lab.veth((&a, "va"), (&b, "vb"));
    let dir = TempDir::new("api-rename");
    let db = db_in(dir.path());
    let mut monitor = Monitor::start(&lab, &b, "vb", &db, &[]);
    monitor.wait_ready("vb");
    lab.replay(&a, "va", &capture(CAPTURES[0]));
    let total = expected_of(CAPTURES[0]);
    let start = Instant::now();
    while json_of(&monitor, "/api/summary")["today"] != totals(total)
        && start.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = monitor.stop();
    assert!(log.contains("saved to"), "{log}");

    // A system update renames the interface; MONITOR_IFACE follows it.
    for args in [
        &["link", "set", "vb", "down"][..],
        &["link", "set", "vb", "name", "ovs_vb"],
        &["link", "set", "ovs_vb", "up"],
    ] {
        let mut full = vec!["-n", b.as_str()];
        full.extend_from_slice(args);
        crate::support::netns::ip(&full);
    }
    let mut monitor = Monitor::start(&lab, &b, "ovs_vb", &db, &[]);
    monitor.wait_ready("ovs_vb");

    let summary = json_of(&monitor, "/api/summary");
    assert_eq!(summary["interfaces"], json!(["ovs_vb", "vb"]), "{summary}");
    assert_eq!(summary["not_captured"], json!(["vb"]), "{summary}");
    let today = today();
    for target in [
        "/api/summary?iface=vb".to_string(),
        format!("/api/query?start={today}&end={today}&granularity=hour&iface=vb"),
        "/api/history/30days?iface=vb".to_string(),
        "/api/history/12months?iface=vb".to_string(),
        "/api/history/today_hours?iface=vb".to_string(),
        "/api/date_range?iface=vb".to_string(),
        "/api/top_ips?iface=vb".to_string(),
        "/api/realtime?iface=vb".to_string(),
        "/api/health?iface=vb".to_string(),
        "/api/debug/local_ips?iface=vb".to_string(),
        "/metrics?iface=vb".to_string(),
    ] {
        let answer = monitor.get(&target);
        assert_eq!(answer.status, 200, "{target}: {}", answer.text());
    }
    // Its history is there under its old name, and not under the new one.
    assert_eq!(
        json_of(&monitor, "/api/summary?iface=vb")["today"],
        totals(total)
    );
    assert_eq!(
        json_of(&monitor, "/api/summary?iface=ovs_vb")["today"],
        totals((0, 0))
    );
    let health = json_of(&monitor, "/api/health?iface=vb");
    assert_eq!(health["status"], "not_captured", "{health}");
    assert_eq!(health["interfaces"][0]["state"], "not_captured", "{health}");
    let health = json_of(&monitor, "/api/health");
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["not_captured"], json!(["vb"]), "{health}");
    assert_eq!(monitor.get("/api/summary?iface=eth9").status, 400);
    monitor.stop();
}

fn debug_local_ips_lists_the_addresses_and_the_local_prefixes_in_use() {
    let mut lab = Netns::new("api-local");
    let a = lab.add("a");
    let b = lab.add("b");
    lab.veth((&a, "va"), (&b, "vb"));
    // The harness turns IPv6 off in its namespaces; this interface needs an IPv6 address.
    crate::support::netns::run_ok(
        std::process::Command::new("ip").args([
            "netns",
            "exec",
            &b,
            "sysctl",
            "-qw",
            "net.ipv6.conf.vb.disable_ipv6=0",
        ]),
        Duration::from_secs(10),
    );
    for address in ["203.0.113.5/24", "192.168.7.1/24"] {
        crate::support::netns::ip(&["-n", &b, "addr", "add", address, "dev", "vb"]);
    }
    crate::support::netns::ip(&[
        "-n",
        &b,
        "addr",
        "add",
        "2001:db8:1:2::5/64",
        "dev",
        "vb",
        "nodad",
    ]);
    let dir = TempDir::new("api-local");
    let mut monitor = Monitor::start(
        &lab,
        &b,
        "vb",
        &db_in(dir.path()),
        &[
            ("AUTO_LOCAL_PREFIXES", "true"),
            ("LOCAL_PREFIXES", "198.51.100.0/24,2001:db8:ffff::/48"),
        ],
    );
    monitor.wait_ready("vb");
    let answer = monitor.get("/api/debug/local_ips");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let ours = answer.json();

    // The original's keys, each with a value of the same JSON type.
    // Recorded from the original after a replay (its /api/debug/local_ips, byte for byte).
    let recorded: Value = serde_json::from_str(include_str!("../recorded/debug_local_ips.json"))
        .expect("recorded JSON");
    fn same_shape(recorded: &Value, ours: &Value, at: &str) {
        match (recorded, ours) {
            (Value::Object(r), Value::Object(o)) => {
                for (key, value) in r {
                    let ours = o
                        .get(key)
                        .unwrap_or_else(|| panic!("{at}.{key} is missing: {o:?}"));
                    same_shape(value, ours, &format!("{at}.{key}"));
                }
            }
            (Value::Array(_), Value::Array(_))
            | (Value::String(_), Value::String(_))
            | (Value::Number(_), Value::Number(_)) => {}
            _ => panic!("{at}: recorded {recorded}, ours {ours}"),
        }
    }
    same_shape(&recorded, &ours, "answer");

    let strings = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .expect("a list")
            .iter()
            .map(|v| v.as_str().expect("a string").to_string())
            .collect()
    };
    assert_eq!(ours["iface"], "vb");
    let ipv4 = strings(&ours["ipv4"]);
    let ipv6 = strings(&ours["ipv6"]);
    for address in ["203.0.113.5", "192.168.7.1"] {
        assert!(ipv4.iter().any(|a| a == address), "{ours}");
    }
    assert!(ipv6.iter().any(|a| a == "2001:db8:1:2::5"), "{ours}");
    assert_eq!(ours["total"], ipv4.len() + ipv6.len());

    let filter = &ours["ipv6_lan_filter"];
    assert_eq!(filter["mode"], "auto", "{filter}");
    assert_eq!(
        strings(&filter["configured"]),
        ["198.51.100.0/24", "2001:db8:ffff::/48"],
        "{filter}"
    );
    let mut automatic = strings(&filter["automatic"]);
    automatic.sort();
    assert_eq!(
        automatic,
        ["2001:db8:1:2::/64", "203.0.113.5/32"],
        "{filter}"
    );
    let mut prefixes = strings(&filter["prefixes"]);
    prefixes.sort();
    assert_eq!(
        prefixes,
        [
            "198.51.100.0/24",
            "2001:db8:1:2::/64",
            "2001:db8:ffff::/48",
            "203.0.113.5/32"
        ],
        "{filter}"
    );
    monitor.stop();
}

tests! {
    #[needs(Netns, Tool("tcpreplay"), Tool("promtool"))]
    live_counts_are_in_every_endpoint_before_any_commit,
    #[needs(Netns)]
    a_busy_web_port_stops_start_up_with_one_sentence,
    #[needs(Netns, Tool("tcpreplay"))]
    a_renamed_interface_keeps_its_history_selectable,
    #[needs(Netns)]
    debug_local_ips_lists_the_addresses_and_the_local_prefixes_in_use,
}
