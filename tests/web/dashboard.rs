//! The dashboard in headless Chromium against the real monitor (root: network namespaces).
//!
//! A history is made with `nettraffic-sentinel import` from corpus captures: two of them as they
//! are (years of SSH and SMTP sessions), and copies of four others moved in time (every
//! timestamp shifted by the same amount) to today, yesterday, 4, 20, 40, 100 and 300 days ago,
//! so that every card, chart and quick range has traffic. The monitor then runs in a namespace of
//! its own on two veth interfaces, serving on 127.0.0.1 there; `tests/dashboard/dashboard.test.mjs`
//! drives Debian's chromium (playwright-core) inside the same namespace, so nothing listens or
//! browses outside it, and compares the page with the API's own answers.
//!
//! The monitor runs with `BILLING_DAY=1` and a `QUOTA` worked out from the imported history so
//! that the current cycle stands at 88 % of it: the billing-cycle card must show its warning
//! colour. The usage is asked of the monitor itself, started once without a quota beforehand,
//! when `tests/dashboard/no_quota.test.mjs` also checks the card of a monitor without `QUOTA`.
//!
//! Then the monitor starts again on the same history with vd alone and `WEB_AUTH`, and
//! `tests/dashboard/second_start.test.mjs` opens it as `http://user:pass@127.0.0.1:8080/`: every
//! panel must fill without an error banner, and vb (history only now) must stay selectable. Its
//! quota is half the first cycle's usage, so the card must show the colour of a quota exceeded.
//! `tests/dashboard/dashboard.test.mjs` also checks that without `GEOIP_DB` the networks and
//! countries panels are not there and `/api/networks` is never asked.
//!
//! A second test imports the same history (plus a download from an address without a country)
//! and starts the monitor with `GEOIP_DB`: `tests/dashboard/geoip.test.mjs` checks the addresses'
//! countries and networks and the By-network and By-country panels against the API.
//!
//! A third test imports a capture of several LAN devices talking to public hosts over HTTPS,
//! QUIC, WireGuard, inbound Plex and ping, today and three days ago, and starts the monitor with
//! `DEVICE_NAMES`: `tests/dashboard/devices.test.mjs` checks the Top devices and Top services
//! panels against /api/devices and /api/services, and that choosing a device filters the range's
//! addresses, chart and services (`device=`; or, when /api/services refuses `device`, shows every
//! device's services and says so) until it is cleared.
//!
//! Screenshots go to `$NTS_SCREENSHOTS` (relative to the repository; `docs/screenshots` to
//! refresh the README's) or else to a folder under the target directory.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::api_geoip::databases;
use crate::support::netns::{NamespaceResolver, Netns, Spawned, ip, run_ok, wait_until};
use crate::support::web::Monitor;
use crate::support::{
    ETHERTYPE_IPV4, ETHERTYPE_IPV6, PCAP_MAGIC_MICROSECONDS, PcapWriter, TempDir, capture,
    captures_dir, eth, ipv4, ipv6,
};

/// The zone of the monitor and the import: no daylight saving, so a day has 24 hours.
const ZONE: &str = "Asia/Shanghai";
const ZONE_OFFSET: i64 = 8 * 3600;
const DAY: i64 = 86_400;

/// Captures moved in time: (file, days before today).
const MOVED: &[(&str, i64)] = &[
    ("sv-base64-decode-5885.pcap", 0),
    ("zeek-quic-firefox-blog-cloudflare.pcap", 0),
    ("zeek-wikipedia.pcap", 1),
    ("zeek-quic-firefox-blog-cloudflare.pcap", 4),
    ("zeek-http-206_example_b.pcap", 20),
    ("sv-base64-decode-5885.pcap", 40),
    ("zeek-wikipedia.pcap", 100),
    ("zeek-http-206_example_b.pcap", 300),
];
/// Where the first run's quota puts the current billing cycle: in the warning band of the card,
/// from ALERT_AT's lowest default threshold (80 %) to 100 %.
const FIRST_RUN_PERCENT: u64 = 88;

/// Captures imported as they are (old years: the date range's start).
const AS_THEY_ARE: &[&str] = &["zeek-ssh-ssh.pcap", "sv-smtp-errors-smtperr.pcap"];

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs() as i64
}

/// A copy of a classic pcap file with every timestamp moved so the last packet is at
/// `last_packet_at` (Unix seconds).
fn moved_pcap(source: &Path, last_packet_at: i64) -> Vec<u8> {
    let mut bytes = std::fs::read(source).expect("read a corpus capture");
    let little = match bytes[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => panic!("{} is not a classic pcap file", source.display()),
    };
    let read_u32 = |bytes: &[u8], at: usize| {
        let field: [u8; 4] = bytes[at..at + 4].try_into().expect("4 bytes");
        if little {
            u32::from_le_bytes(field)
        } else {
            u32::from_be_bytes(field)
        }
    };
    let mut records = Vec::new();
    let mut offset = 24;
    while offset + 16 <= bytes.len() {
        records.push(offset);
        offset += 16 + read_u32(&bytes, offset + 8) as usize;
    }
    let last = records
        .iter()
        .map(|&at| i64::from(read_u32(&bytes, at)))
        .max()
        .expect("the capture has packets");
    let shift = last_packet_at - last;
    for at in records {
        let moved = u32::try_from(i64::from(read_u32(&bytes, at)) + shift).expect("fits");
        let field = if little {
            moved.to_le_bytes()
        } else {
            moved.to_be_bytes()
        };
        bytes[at..at + 4].copy_from_slice(&field);
    }
    bytes
}

/// Where today's imported traffic ends: a minute and a half before `now`, never before 00:01
/// local (so it stays today).
fn today_end(now: i64) -> i64 {
    let local_midnight = (now + ZONE_OFFSET).div_euclid(DAY) * DAY - ZONE_OFFSET;
    (now - 90).max(local_midnight + 60)
}

/// Today's download of 300 KB from 102.0.0.1, an AFRINIC address without a country in GeoLite2
/// 2018: the By-country panel's `unknown` row.
fn unknown_country_capture() -> Vec<u8> {
    let at = u32::try_from(today_end(unix_now()) - 30).expect("fits");
    let mut pcap = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 1);
    for i in 0..200 {
        // The record holds the headers only; the wire length says how long the frame was.
        let packet = ipv4("102.0.0.1", "192.168.1.10", 1500);
        pcap = pcap.record(at, i * 1000, 14 + 1500, &eth(ETHERTYPE_IPV4, &packet));
    }
    pcap.finish()
}

/// The history: imported with the real command (with `settings` added), before the monitor opens
/// the file.
fn import_history(dir: &TempDir, db: &Path, settings: &[(&str, &str)], extra: &[PathBuf]) {
    let pcaps = captures_dir();
    let now = unix_now();
    let mut files: Vec<PathBuf> = AS_THEY_ARE.iter().map(|name| pcaps.join(name)).collect();
    files.extend_from_slice(extra);
    for (index, (name, days_ago)) in MOVED.iter().enumerate() {
        // Today's captures end at today_end; older ones 10 minutes apart around the same time of
        // day, that many days back.
        let today_end = today_end(now);
        let last = if *days_ago == 0 {
            today_end
        } else {
            today_end - days_ago * DAY - index as i64 * 600
        };
        files.push(dir.write(
            &format!("moved-{index}-{name}"),
            &moved_pcap(&pcaps.join(name), last),
        ));
    }
    let output = run_ok(
        Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"))
            .arg("import")
            .args(&files)
            .env("DB_PATH", db)
            .env("TZ", ZONE)
            .env_remove("LOCAL_PREFIXES")
            .env_remove("EXCLUDE_IPV6_PREFIX")
            .envs(settings.iter().copied()),
        Duration::from_secs(60),
    );
    eprintln!("import: {}", String::from_utf8_lossy(&output.stdout).trim());
}

/// The current billing cycle's usage (`BILLING_DAY=1`, every interface) of the history in `db`,
/// as the monitor itself counts it: started in `ns` without a quota, asked, its card checked in
/// the browser (`no_quota.test.mjs`), stopped.
fn cycle_usage(lab: &Netns, ns: &str, db: &Path, tests: &Path) -> u64 {
    let settings = [("TZ", ZONE), ("BILLING_DAY", "1")];
    let mut monitor = Monitor::start(lab, ns, "vb,vd", db, &settings);
    monitor.wait_for("interface vb: capturing");
    monitor.wait_ready("vd");
    let answer = monitor.get("/api/quota");
    assert_eq!(answer.status, 200, "/api/quota: {}", answer.text());
    let body = answer.json();
    assert!(
        body["cycle"]["quota_bytes"].is_null(),
        "no quota yet: {body}"
    );
    let used = body["cycle"]["used_bytes"]
        .as_u64()
        .expect("cycle.used_bytes");
    let mut browser = lab.exec(ns, "node");
    browser
        .arg(tests.join("no_quota.test.mjs"))
        .current_dir(tests)
        .env("BASE_URL", "http://127.0.0.1:8080/")
        .stdin(Stdio::null());
    let output = Spawned::new(&mut browser).finish(Duration::from_secs(60), "the no-quota test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "the no-quota browser test failed ({}):\n{stdout}\n{}\nmonitor log:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        monitor.log()
    );
    monitor.stop();
    assert!(
        used > 0,
        "the imported history has traffic in this cycle: {body}"
    );
    used
}

/// Where the screenshots go.
fn screenshot_dir() -> PathBuf {
    match std::env::var_os("NTS_SCREENSHOTS") {
        Some(dir) => Path::new(env!("CARGO_MANIFEST_DIR")).join(dir),
        None => Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots"),
    }
}

fn require_browser_tools(tests: &Path) {
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "the dashboard tests need Debian's chromium at /usr/bin/chromium: run sudo ./scripts/test \
         (or apt-get install chromium)"
    );
    assert!(
        tests
            .join("node_modules/playwright-core/package.json")
            .exists(),
        "the dashboard tests need playwright-core in tests/dashboard/node_modules: run \
         ./scripts/test (or npm ci in tests/dashboard)"
    );
}

fn dashboard_in_chromium_against_the_real_monitor() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dashboard");
    require_browser_tools(&tests);

    let dir = TempDir::new("dashboard");
    let db = dir.path().join("data").join("traffic.redb");
    import_history(&dir, &db, &[], &[]);

    let mut lab = Netns::new("dash");
    let ns = lab.add("m");
    ip(&["-n", &ns, "link", "set", "lo", "up"]);
    lab.veth((&ns, "va"), (&ns, "vb"));
    lab.veth((&ns, "vc"), (&ns, "vd"));
    let used = cycle_usage(&lab, &ns, &db, &tests);
    let first_quota = format!("{}B", used * 100 / FIRST_RUN_PERCENT);
    eprintln!("billing cycle: {used} bytes used; first run QUOTA={first_quota}");

    let log = dir.path().join("monitor.log");
    let mut monitor = lab.exec(&ns, env!("CARGO_BIN_EXE_nettraffic-sentinel"));
    monitor
        .arg("run")
        .env("MONITOR_IFACE", "vb,vd")
        .env("TZ", ZONE)
        .env("DB_PATH", &db)
        .env("WEB_BIND", "127.0.0.1")
        .env("WEB_PORT", "8080")
        .env("SAVE_INTERVAL", "3600")
        .env("AUTO_LOCAL_PREFIXES", "false")
        .env("BILLING_DAY", "1")
        .env("QUOTA", &first_quota)
        .env_remove("LOCAL_PREFIXES")
        .env_remove("EXCLUDE_IPV6_PREFIX")
        .env_remove("WEB_AUTH")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&log).expect("log file"));
    let mut monitor = monitor.spawn().expect("start the monitor");

    let screenshots = screenshot_dir();
    let mut browser = lab.exec(&ns, "node");
    browser
        .arg(tests.join("dashboard.test.mjs"))
        .current_dir(&tests)
        .env("BASE_URL", "http://127.0.0.1:8080/")
        .env("SCREENSHOTS", &screenshots)
        .env("REPLAY_IFACE", "va")
        .env("REPLAY_FILE", capture("sv-base64-decode-5885.pcap"))
        .env("QUOTA_LEVEL", "warn")
        .stdin(Stdio::null());
    let output = Spawned::new(&mut browser).finish(Duration::from_secs(240), "the browser test");

    // vb's own traffic, so the history holds that interface when the next start leaves it out.
    lab.replay(&ns, "va", &capture("sv-smtp-errors-smtperr.pcap"));
    std::thread::sleep(Duration::from_millis(500));
    stop_monitor(&mut monitor);
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    println!("screenshots: {}", screenshots.display());
    assert!(
        output.status.success(),
        "the browser test failed ({}):\n{stdout}\n{}\nmonitor log:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");

    // Started again on vd alone (as after MONITOR_IFACE changed) with a password, and opened
    // with the user name and password in the address.
    let log = dir.path().join("monitor-second.log");
    let mut monitor = lab.exec(&ns, env!("CARGO_BIN_EXE_nettraffic-sentinel"));
    monitor
        .arg("run")
        .env("MONITOR_IFACE", "vd")
        .env("TZ", ZONE)
        .env("DB_PATH", &db)
        .env("WEB_BIND", "127.0.0.1")
        .env("WEB_PORT", "8080")
        .env("WEB_AUTH", "user:pass")
        .env("SAVE_INTERVAL", "3600")
        .env("AUTO_LOCAL_PREFIXES", "false")
        .env("BILLING_DAY", "1")
        .env("QUOTA", format!("{}B", used / 2))
        .env_remove("LOCAL_PREFIXES")
        .env_remove("EXCLUDE_IPV6_PREFIX")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&log).expect("log file"));
    let mut monitor = monitor.spawn().expect("start the monitor again");
    let mut browser = lab.exec(&ns, "node");
    browser
        .arg(tests.join("second_start.test.mjs"))
        .current_dir(&tests)
        .env("BASE_URL", "http://user:pass@127.0.0.1:8080/")
        .env("NOT_CAPTURED", "vb")
        .env("QUOTA_LEVEL", "over")
        .stdin(Stdio::null());
    let output =
        Spawned::new(&mut browser).finish(Duration::from_secs(90), "the second browser test");
    stop_monitor(&mut monitor);
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "the second browser test failed ({}):\n{stdout}\n{}\nmonitor log:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

/// The same history with `GEOIP_DB` (GeoLite2 City 2018 and an ASN file written by
/// tests/web/geoip/geoip_tool.py): `tests/dashboard/geoip.test.mjs` checks each address's country
/// and network in the top lists and the By-network and By-country panels against /api/top_ips
/// and /api/networks. The import keeps 5 addresses a day (`TOP_IPS_PER_DAY`), so part of each
/// range is `untracked`, and today has an address without a country (`unknown` by country); the
/// panels must show both.
fn dashboard_networks_and_countries_with_geoip() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dashboard");
    require_browser_tools(&tests);

    let dir = TempDir::new("dashboard-geoip");
    let db = dir.path().join("data").join("traffic.redb");
    let unknown = dir.write("unknown-country.pcap", &unknown_country_capture());
    import_history(&dir, &db, &[("TOP_IPS_PER_DAY", "5")], &[unknown]);
    let (city, asn) = databases(&dir, "Dashboard");
    let geoip_db = format!("{},{}", city.display(), asn.display());

    let mut lab = Netns::new("dgeo");
    let ns = lab.add("m");
    lab.veth((&ns, "va"), (&ns, "vb"));
    lab.veth((&ns, "vc"), (&ns, "vd"));
    // A DNS server in the namespace naming every IPv4 address ip-A-B-C-D.hosts.example.net, for
    // the reverse-DNS names in the lists.
    let _dns = NamespaceResolver::dnsmasq(
        &lab,
        &ns,
        &[
            "--synth-domain=hosts.example.net,0.0.0.0/1,ip-".to_string(),
            "--synth-domain=hosts.example.net,128.0.0.0/1,ip-".to_string(),
        ],
    );
    let settings = [
        ("TZ", ZONE),
        ("GEOIP_DB", geoip_db.as_str()),
        ("TOP_IPS_PER_DAY", "5"),
    ];
    let mut monitor = Monitor::start(&lab, &ns, "vb,vd", &db, &settings);
    // Reading and verifying the 56 MB City file takes a debug build a while on a busy machine.
    monitor.wait_for_count("dashboard and API at http://", 1, Duration::from_secs(180));
    monitor.wait_ready("vb");
    monitor.wait_ready("vd");
    // Live traffic on vb alone, so that choosing it changes what the panels show.
    lab.replay(&ns, "va", &capture("sv-smtp-errors-smtperr.pcap"));
    std::thread::sleep(Duration::from_millis(500));

    let screenshots = screenshot_dir();
    let mut browser = lab.exec(&ns, "node");
    browser
        .arg(tests.join("geoip.test.mjs"))
        .current_dir(&tests)
        .env("BASE_URL", "http://127.0.0.1:8080/")
        .env("SCREENSHOTS", &screenshots)
        .env("LIVE_IFACE", "vb")
        .stdin(Stdio::null());
    let output =
        Spawned::new(&mut browser).finish(Duration::from_secs(180), "the GeoIP browser test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "the GeoIP browser test failed ({}):\n{stdout}\n{}\nmonitor log:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        monitor.log()
    );
    monitor.stop();
}

/// The devices capture, one flow a line: local device, remote, protocol, local port, remote port,
/// packets up, packets down, IP bytes a packet, days before today. 192.168.1.20 (named by
/// `DEVICE_NAMES`) streams over HTTPS and QUIC, 192.168.1.10 serves Plex to the internet and
/// keeps a WireGuard tunnel, 192.168.1.30 browses a little and pings, fd00::40 uses HTTPS over
/// IPv6. Three days ago (first, so that the capture's times only grow) only two of them, so that a
/// longer range answers differently from today. tests/dashboard/devices.test.mjs counts today's
/// devices from these lines by hand.
const FLOWS: &[&str] = &[
    "192.168.1.10  203.0.113.9    tcp   32400 50200  400   40 1500 3",
    "192.168.1.30  198.51.100.1   icmp      0     0   20   20   84 3",
    "192.168.1.20  203.0.113.80   tcp   51000   443   40  300 1500 0",
    "192.168.1.20  198.51.100.44  udp   52000   443   20  120 1400 0",
    "192.168.1.10  203.0.113.9    tcp   32400 50123  200   30 1500 0",
    "192.168.1.10  198.51.100.77  udp   40000 51820   60   60  900 0",
    "192.168.1.30  203.0.113.80   tcp   53000   443   10   25 1200 0",
    "192.168.1.30  198.51.100.1   icmp      0     0    8    8   84 0",
    "fd00::40      2001:db8::80   tcp   54000   443   15   70 1300 0",
];

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;

/// One line of [`FLOWS`].
struct Flow<'a> {
    local: &'a str,
    remote: &'a str,
    protocol: u8,
    ports: (u16, u16),
    packets: (u32, u32),
    size: u16,
    days_ago: i64,
}

fn flow(line: &str) -> Flow<'_> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [
        local,
        remote,
        protocol,
        local_port,
        remote_port,
        up,
        down,
        size,
        days_ago,
    ] = fields[..]
    else {
        panic!("a flow has nine fields: {line}");
    };
    let number = |text: &str| -> u32 { text.parse().expect("a number") };
    Flow {
        local,
        remote,
        protocol: match protocol {
            "tcp" => TCP,
            "udp" => UDP,
            "icmp" => ICMP,
            other => panic!("unknown protocol {other}"),
        },
        ports: (
            u16::try_from(number(local_port)).expect("a port"),
            u16::try_from(number(remote_port)).expect("a port"),
        ),
        packets: (number(up), number(down)),
        size: u16::try_from(number(size)).expect("an IP length"),
        days_ago: i64::from(number(days_ago)),
    }
}

/// The headers (IP, and the transport's first 20 or 8 bytes) of one packet of `flow`, sent by the
/// local device when `up`, else to it.
fn flow_packet(flow: &Flow<'_>, up: bool) -> Vec<u8> {
    let (src, dst, ports) = if up {
        (flow.local, flow.remote, flow.ports)
    } else {
        (flow.remote, flow.local, (flow.ports.1, flow.ports.0))
    };
    let mut packet = if src.contains(':') {
        let mut header = ipv6(src, dst, flow.size - 40);
        header[6] = flow.protocol;
        header
    } else {
        let mut header = ipv4(src, dst, flow.size);
        header[9] = flow.protocol;
        header
    };
    match flow.protocol {
        TCP => {
            let mut tcp = [0u8; 20];
            tcp[0..2].copy_from_slice(&ports.0.to_be_bytes());
            tcp[2..4].copy_from_slice(&ports.1.to_be_bytes());
            tcp[12] = 5 << 4;
            tcp[13] = 0x10; // ACK: mid-connection, named by its well-known side
            packet.extend_from_slice(&tcp);
        }
        UDP => {
            let mut udp = [0u8; 8];
            udp[0..2].copy_from_slice(&ports.0.to_be_bytes());
            udp[2..4].copy_from_slice(&ports.1.to_be_bytes());
            packet.extend_from_slice(&udp);
        }
        _ => packet.extend_from_slice(&[8, 0, 0, 0, 0, 0, 0, 0]), // ICMP echo request
    }
    packet
}

/// [`FLOWS`] as a capture: headers only, the wire length says how long each frame was.
fn devices_capture() -> Vec<u8> {
    let end = today_end(unix_now());
    let mut pcap = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 1);
    for (index, line) in FLOWS.iter().enumerate() {
        let flow = flow(line);
        let at = u32::try_from(end - 40 + index as i64 - flow.days_ago * DAY).expect("fits");
        let ethertype = if flow.local.contains(':') {
            ETHERTYPE_IPV6
        } else {
            ETHERTYPE_IPV4
        };
        let wire = 14 + u32::from(flow.size);
        for (up, count) in [(true, flow.packets.0), (false, flow.packets.1)] {
            let frame = eth(ethertype, &flow_packet(&flow, up));
            for i in 0..count {
                pcap = pcap.record(at, i * 100, wire, &frame);
            }
        }
    }
    pcap.finish()
}

/// The Top devices and Top services panels and the device filter against the real monitor over
/// an imported history of several LAN devices (`tests/dashboard/devices.test.mjs`).
fn dashboard_devices_and_services() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dashboard");
    require_browser_tools(&tests);

    let dir = TempDir::new("dashboard-devices");
    let db = dir.path().join("data").join("traffic.redb");
    let file = dir.write("devices.pcap", &devices_capture());
    let output = run_ok(
        Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"))
            .arg("import")
            .arg(&file)
            .env("DB_PATH", &db)
            .env("TZ", ZONE)
            .env_remove("LOCAL_PREFIXES")
            .env_remove("EXCLUDE_IPV6_PREFIX")
            .env_remove("DEVICE_NAMES"),
        Duration::from_secs(60),
    );
    eprintln!("import: {}", String::from_utf8_lossy(&output.stdout).trim());

    let mut lab = Netns::new("ddev");
    let ns = lab.add("m");
    lab.veth((&ns, "va"), (&ns, "vb"));
    let settings = [
        ("TZ", ZONE),
        ("DEVICE_NAMES", "192.168.1.20=Living-room TV"),
    ];
    let mut monitor = Monitor::start(&lab, &ns, "vb", &db, &settings);
    monitor.wait_ready("vb");

    let screenshots = screenshot_dir();
    let mut browser = lab.exec(&ns, "node");
    browser
        .arg(tests.join("devices.test.mjs"))
        .current_dir(&tests)
        .env("BASE_URL", "http://127.0.0.1:8080/")
        .env("SCREENSHOTS", &screenshots)
        .env("NAMED_DEVICE", "192.168.1.20=Living-room TV")
        .stdin(Stdio::null());
    let output =
        Spawned::new(&mut browser).finish(Duration::from_secs(180), "the devices browser test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "the devices browser test failed ({}):\n{stdout}\n{}\nmonitor log:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        monitor.log()
    );
    monitor.stop();
}

/// SIGTERM, and SIGKILL when it is not gone within 10 s.
fn stop_monitor(monitor: &mut std::process::Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &monitor.id().to_string()])
        .status();
    if wait_until(monitor, Duration::from_secs(10)).is_none() {
        let _ = monitor.kill();
        let _ = monitor.wait();
    }
}

tests! {
    #[needs(Netns, Tool("tcpreplay"), Tool("kill"), Dashboard, Tool("chromium"), Tool("node"), Playwright)]
    dashboard_in_chromium_against_the_real_monitor,
    #[needs(Netns, Tool("tcpreplay"), Dashboard, Tool("chromium"), Tool("node"), Playwright, GeoPython, Tool("dnsmasq"))]
    dashboard_networks_and_countries_with_geoip,
    #[needs(Netns, Dashboard, Tool("chromium"), Tool("node"), Playwright)]
    dashboard_devices_and_services,
}
