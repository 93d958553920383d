//! Networks and countries of remote addresses (`GEOIP_DB`, `report --geoip`), checked against
//! Python's `maxminddb` reader (tests/web/geoip/geoip_tool.py) over a real MaxMind database: the
//! GeoLite2 City file of 2018 that the PyPI package maxminddb-geolite2 ships, plus ASN and IPinfo
//! Lite files written by the PyPI package mmdb-writer. Every expected value is Python's lookup,
//! grouped and summed here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::support::harness::geo_python;
use crate::support::netns::{Netns, clear_monitor_settings, run, run_ok};
use crate::support::web::{Monitor, db_in};
use crate::support::{
    ETHERTYPE_IPV4, PCAP_MAGIC_MICROSECONDS, PcapWriter, TempDir, capture, eth, ipv4, ipv6,
};

const ETHERTYPE_IPV6: u16 = 0x86dd;

/// Captures of the repository with public remote addresses (IPv4, and IPv4-mapped IPv6).
const CAPTURES: &[&str] = &[
    "zeek-http-206_example_b.pcap",
    "sv-base64-decode-5885.pcap",
    "sv-smtp-errors-smtperr.pcap",
    "sv-detect-pcre-04-mapped-v6.pcap",
    "tcpdump-gquic.pcap",
    "tcpdump-vrrp-vrrp_print-oobr-2.pcap",
    "zeek-ipv6-http-atomic-frag.pcap",
];

/// Remote IPv6 addresses of well-known networks for a capture made here (the repository's
/// captures carry only documentation and unallocated IPv6 addresses).
const IPV6_REMOTES: &[&str] = &[
    "2a00:1450:4001:80b::2003",
    "2606:4700::6810:85e5",
    "2620:0:862:ed1a::1",
];

fn tool(args: &[&str]) -> Output {
    let mut command = Command::new(geo_python());
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/web/geoip/geoip_tool.py"))
        .args(args);
    run_ok(&mut command, Duration::from_secs(120))
}

/// The GeoLite2 City database and an ASN database labelled `label`, written into `dir`.
pub fn databases(dir: &TempDir, label: &str) -> (PathBuf, PathBuf) {
    let city = String::from_utf8(tool(&["city-path"]).stdout).expect("a path");
    let asn = dir.path().join("asn.mmdb");
    tool(&["write-asn", asn.to_str().expect("UTF-8 path"), label]);
    (PathBuf::from(city.trim()), asn)
}

/// Python's answer for `addresses` over `databases` (in that order).
fn python_places(databases: &[&Path], addresses: &[String]) -> BTreeMap<String, Value> {
    let joined: Vec<&str> = databases
        .iter()
        .map(|p| p.to_str().expect("UTF-8 path"))
        .collect();
    let joined = joined.join(",");
    let mut args = vec!["lookup", joined.as_str()];
    args.extend(addresses.iter().map(String::as_str));
    let output = tool(&args);
    serde_json::from_slice(&output.stdout).expect("lookup JSON")
}

/// A capture with one download from each of [`IPV6_REMOTES`] to a LAN address, in 2024.
fn ipv6_capture() -> Vec<u8> {
    let mut pcap = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 1);
    for (i, remote) in IPV6_REMOTES.iter().enumerate() {
        // The record holds the headers only; the wire length says how long the frame was.
        let payload = 1000 + i as u16 * 100;
        let packet = ipv6(remote, "fd00::10", payload);
        let wire = 14 + 40 + u32::from(payload);
        pcap = pcap.record(
            1_718_000_000 + i as u32,
            0,
            wire,
            &eth(ETHERTYPE_IPV6, &packet),
        );
    }
    // One IPv4 download too, from an address of a second network.
    let packet = ipv4("8.8.8.8", "192.168.1.10", 700);
    pcap.record(1_718_000_100, 0, 14 + 700, &eth(ETHERTYPE_IPV4, &packet))
        .finish()
}

fn report(files: &[PathBuf], geoip: &[&Path]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"));
    clear_monitor_settings(&mut command);
    command.arg("report").arg("--json").env("TZ", "UTC");
    for file in geoip {
        command.arg("--geoip").arg(file);
    }
    command.args(files);
    run(&mut command, Duration::from_secs(120))
}

fn bytes_of(value: &Value) -> (u64, u64) {
    (
        value["up_bytes"].as_u64().expect("up_bytes"),
        value["down_bytes"].as_u64().expect("down_bytes"),
    )
}

fn add(sum: &mut (u64, u64), bytes: (u64, u64)) {
    sum.0 += bytes.0;
    sum.1 += bytes.1;
}

/// `report --json --geoip` names every remote address's country and network as Python's reader
/// does, each field from the first file that has it, and sums the bytes by country and ASN.
fn report_geoip_agrees_with_pythons_maxminddb() {
    let dir = TempDir::new("geoip-report");
    let (city, asn) = databases(&dir, "Test");
    let ipinfo = dir.path().join("ipinfo.mmdb");
    tool(&["write-ipinfo", ipinfo.to_str().expect("UTF-8 path")]);
    let mut files: Vec<PathBuf> = CAPTURES.iter().map(|name| capture(name)).collect();
    files.push(dir.write("ipv6-remotes.pcap", &ipv6_capture()));

    let mut countries_seen = 0;
    let mut ipv6_with_country = 0;
    for databases in [vec![city.as_path(), asn.as_path()], vec![ipinfo.as_path()]] {
        let output = report(&files, &databases);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let reports: Vec<Value> = stdout
            .lines()
            .map(|line| serde_json::from_str(line).expect("one JSON object per file"))
            .collect();
        assert_eq!(reports.len(), files.len());
        for report in &reports {
            let remotes = report["remote_ips"].as_object().expect("remote_ips");
            let addresses: Vec<String> = remotes.keys().cloned().collect();
            let expected = python_places(&databases, &addresses);
            let places = report["remote_places"].as_object().expect("remote_places");
            let mut by_country: BTreeMap<String, (u64, u64)> = BTreeMap::new();
            let mut by_asn: BTreeMap<String, (u64, u64)> = BTreeMap::new();
            for (address, bytes) in remotes {
                let want = &expected[address];
                let empty = Value::Object(Map::new());
                let got = places.get(address).unwrap_or(&empty);
                assert_eq!(got, want, "{} {address}", report["file"]);
                let country = want["country"].as_str().unwrap_or("unknown").to_string();
                if country != "unknown" {
                    countries_seen += 1;
                    if address.contains(':') {
                        ipv6_with_country += 1;
                    }
                }
                add(by_country.entry(country).or_default(), bytes_of(bytes));
                let asn = want["asn"]
                    .as_u64()
                    .map_or_else(|| "unknown".to_string(), |n| format!("AS{n}"));
                add(by_asn.entry(asn).or_default(), bytes_of(bytes));
            }
            let sums = |field: &str| -> BTreeMap<String, (u64, u64)> {
                report[field]
                    .as_object()
                    .expect(field)
                    .iter()
                    .map(|(key, bytes)| (key.clone(), bytes_of(bytes)))
                    .collect()
            };
            assert_eq!(sums("by_country"), by_country, "{}", report["file"]);
            assert_eq!(sums("by_asn"), by_asn, "{}", report["file"]);
        }
    }
    // The check has something to check: real countries for real addresses, IPv6 among them.
    assert!(
        countries_seen >= 20,
        "{countries_seen} addresses had a country"
    );
    assert!(
        ipv6_with_country >= 3,
        "{ipv6_with_country} IPv6 addresses had a country"
    );
}

/// `GET path` of the monitor as JSON, asserting 200.
fn json_of(monitor: &Monitor, path: &str) -> Value {
    let answer = monitor.get(path);
    assert_eq!(answer.status, 200, "{path}: {}", answer.text());
    answer.json()
}

/// The monitor over a history imported from the captures (3 addresses kept a day, so the daily
/// tables drop some): top-address answers carry Python's places; `/api/networks` groups them so
/// that the groups, `unknown`, `untracked` and `more` add up to the range's total; a database
/// replaced on disk is read again, and one replaced by garbage leaves the last good one answering.
fn the_monitor_names_networks_and_countries_and_rereads_a_changed_file() {
    let dir = TempDir::new("geoip-monitor");
    let (city, asn) = databases(&dir, "First");
    let db = db_in(dir.path());
    let mut import = Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"));
    clear_monitor_settings(&mut import);
    import
        .arg("import")
        .args(CAPTURES.iter().map(|name| capture(name)))
        .arg(dir.write("ipv6-remotes.pcap", &ipv6_capture()))
        .env("TZ", "UTC")
        .env("DB_PATH", &db)
        .env("TOP_IPS_PER_DAY", "3");
    run_ok(&mut import, Duration::from_secs(120));

    let mut netns = Netns::new("geoip");
    let namespace = netns.add("m");
    let geoip_db = format!("{},{}", city.display(), asn.display());
    let mut monitor = Monitor::start(
        &netns,
        &namespace,
        "lo",
        &db,
        &[("GEOIP_DB", geoip_db.as_str()), ("TOP_IPS_PER_DAY", "3")],
    );
    // The debug build reads and verifies the 56 MB city database first: seconds on a busy machine.
    monitor.wait_for_count("interface lo: capturing", 1, Duration::from_secs(120));
    monitor.wait_for("dashboard and API at http://");
    let range = "start=2000-01-01&end=2030-12-31";

    let top = json_of(&monitor, &format!("/api/top_ips?{range}&limit=1000"));
    let entries = top["top_ips"].as_array().expect("top_ips");
    let addresses: Vec<String> = entries
        .iter()
        .map(|e| e["ip"].as_str().expect("ip").to_string())
        .collect();
    assert!(addresses.len() >= 10, "{top}");
    let expected = python_places(&[&city, &asn], &addresses);
    for entry in entries {
        let address = entry["ip"].as_str().expect("ip");
        for field in ["country", "country_name", "asn", "org"] {
            assert_eq!(
                entry.get(field),
                expected[address].get(field),
                "{address} {field}: {entry}"
            );
        }
    }

    // The range's total, from the history series.
    let series = json_of(
        &monitor,
        "/api/query?start=2000-01-01&end=2030-12-31&granularity=month",
    );
    let mut total = (0, 0);
    for point in series["series"].as_array().expect("series") {
        add(&mut total, bytes_of(point));
    }
    let mut tracked = (0, 0);
    for entry in entries {
        add(&mut tracked, bytes_of(entry));
    }
    assert!(
        tracked.0 + tracked.1 < total.0 + total.1,
        "3 addresses a day must leave something untracked"
    );

    for by in ["country", "asn"] {
        let mut groups: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
        let mut unknown = (0, 0);
        for entry in entries {
            let place = &expected[entry["ip"].as_str().expect("ip")];
            let key = match by {
                "country" => place["country"].as_str().map(str::to_string),
                _ => place["asn"].as_u64().map(|n| n.to_string()),
            };
            let bytes = bytes_of(entry);
            match key {
                Some(key) => {
                    let group = groups.entry(key).or_default();
                    group.0 += bytes.0;
                    group.1 += bytes.1;
                    group.2 += 1;
                }
                None => add(&mut unknown, bytes),
            }
        }
        let answer = json_of(
            &monitor,
            &format!("/api/networks?{range}&by={by}&limit=1000"),
        );
        assert_eq!(answer["by"], by);
        let mut got: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
        for entry in answer["networks"].as_array().expect("networks") {
            let key = match by {
                "country" => entry["country"].as_str().expect("country").to_string(),
                _ => entry["asn"].as_u64().expect("asn").to_string(),
            };
            let bytes = bytes_of(entry);
            got.insert(
                key,
                (bytes.0, bytes.1, entry["addresses"].as_u64().expect("n")),
            );
        }
        assert_eq!(got, groups, "by={by}: {answer}");
        assert_eq!(bytes_of(&answer["unknown"]), unknown, "by={by}");
        assert_eq!(bytes_of(&answer["total"]), total, "by={by}");
        let untracked = bytes_of(&answer["untracked"]);
        assert_eq!(
            (tracked.0 + untracked.0, tracked.1 + untracked.1),
            total,
            "by={by}: the tables and the untracked bytes make the total"
        );
        // Heaviest first, and a limit folds the rest into `more`.
        let heaviest: Vec<u64> = answer["networks"]
            .as_array()
            .expect("networks")
            .iter()
            .map(|e| e["total_bytes"].as_u64().expect("total"))
            .collect();
        assert!(heaviest.windows(2).all(|w| w[0] >= w[1]), "{heaviest:?}");
        let two = json_of(&monitor, &format!("/api/networks?{range}&by={by}&limit=2"));
        let rest: u64 = heaviest.iter().skip(2).sum();
        assert_eq!(two["more"]["total_bytes"].as_u64(), Some(rest));
        assert_eq!(
            two["more"]["groups"].as_u64(),
            Some(heaviest.len().saturating_sub(2) as u64)
        );
    }

    // Bad parameters are refused with the parameter named.
    for (query, needle) in [
        ("by=city", "by must be asn or country"),
        ("limit=0", "limit"),
    ] {
        let answer = monitor.get(&format!("/api/networks?{range}&{query}"));
        assert_eq!(answer.status, 400, "{query}");
        assert!(answer.error().contains(needle), "{}", answer.error());
    }

    // A new ASN file moved into place is read again within a few seconds.
    let org_of = |monitor: &Monitor| -> String {
        let top = json_of(monitor, &format!("/api/top_ips?{range}&limit=1"));
        top["top_ips"][0]["org"].as_str().unwrap_or("").to_string()
    };
    assert!(
        org_of(&monitor).starts_with("First "),
        "{}",
        org_of(&monitor)
    );
    let staged = dir.path().join("staged");
    std::fs::create_dir_all(&staged).expect("mkdir");
    tool(&[
        "write-asn",
        staged.join("asn.mmdb").to_str().expect("UTF-8 path"),
        "Second",
    ]);
    std::fs::rename(staged.join("asn.mmdb"), &asn).expect("replace the ASN file");
    let started = Instant::now();
    while !org_of(&monitor).starts_with("Second ") {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the changed file was not read again: {}",
            monitor.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    monitor.wait_for("changed on disk and was read again");

    // Garbage moved into its place: refused once, the last good file goes on answering.
    std::fs::write(staged.join("garbage"), b"not a database at all\n").expect("write");
    std::fs::rename(staged.join("garbage"), &asn).expect("replace with garbage");
    monitor.wait_for("the copy read earlier goes on answering");
    std::thread::sleep(Duration::from_secs(12));
    assert_eq!(
        monitor.lines_containing("the copy read earlier goes on answering"),
        1,
        "{}",
        monitor.log()
    );
    assert!(org_of(&monitor).starts_with("Second "));
    monitor.stop();
}

/// A `GEOIP_DB` or `--geoip` file that cannot be used (missing, a directory, a FIFO, empty, not a
/// database) stops `run` and `report` with exit 2 and one sentence naming the setting and file.
fn a_geoip_file_that_cannot_be_used_stops_the_monitor_and_report() {
    let dir = TempDir::new("geoip-bad");
    let mut netns = Netns::new("geoip-bad");
    let namespace = netns.add("m");
    let fifo = dir.path().join("fifo.mmdb");
    run_ok(Command::new("mkfifo").arg(&fifo), Duration::from_secs(10));
    let cases: Vec<(PathBuf, &str)> = vec![
        (dir.path().join("missing.mmdb"), "cannot be opened"),
        (dir.path().to_path_buf(), "not an ordinary file"),
        (fifo, "not an ordinary file"),
        (dir.write("empty.mmdb", b""), "not a MaxMind DB"),
        (
            dir.write("text.mmdb", b"country,asn\nDE,3320\n"),
            "not a MaxMind DB",
        ),
    ];
    for (path, why) in &cases {
        let output = report(&[capture(CAPTURES[0])], &[path.as_path()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{}: {stderr}",
            path.display()
        );
        assert!(
            stderr.contains("--geoip (GEOIP_DB)")
                && stderr.contains(&path.display().to_string())
                && stderr.contains(why),
            "{stderr}"
        );
        assert!(output.stdout.is_empty(), "nothing is reported");

        // In a namespace of its own: were the file taken, the monitor would capture there.
        let mut monitor = netns.exec(&namespace, env!("CARGO_BIN_EXE_nettraffic-sentinel"));
        clear_monitor_settings(&mut monitor);
        monitor
            .arg("run")
            .env("GEOIP_DB", path)
            .env("DB_PATH", dir.path().join("never.redb"))
            .env("MONITOR_IFACE", "lo");
        let output = run(&mut monitor, Duration::from_secs(30));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("GEOIP_DB (--geoip-db) names") && stderr.contains(why),
            "{stderr}"
        );
        assert!(
            !dir.path().join("never.redb").exists(),
            "no history is made"
        );
    }
}

/// Damaged databases from zzuf's mutations of a real one: `report --geoip` refuses each that it
/// cannot use with exit 2 and a sentence, or reports with it; it never crashes or hangs.
fn mutated_databases_never_crash_report() {
    let dir = TempDir::new("geoip-zzuf");
    let (_, asn) = databases(&dir, "Fuzz");
    let capture = capture("sv-base64-decode-5885.pcap");
    let mut refused = 0;
    for seed in 0..150 {
        let mutated = dir.path().join(format!("mutated-{seed}.mmdb"));
        let output = run_ok(
            Command::new("zzuf")
                .args(["-r", "0.001:0.02", "-s", &seed.to_string()])
                .arg("cat")
                .arg(&asn)
                .stdout(std::process::Stdio::piped()),
            Duration::from_secs(30),
        );
        std::fs::write(&mutated, &output.stdout).expect("write the mutated file");
        let started = Instant::now();
        let output = report(std::slice::from_ref(&capture), &[mutated.as_path()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "seed {seed} took {:?}",
            started.elapsed()
        );
        match output.status.code() {
            Some(0) => {
                let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
                assert!(report["remote_places"].is_object());
            }
            Some(2) => {
                refused += 1;
                assert!(stderr.contains("--geoip (GEOIP_DB) names"), "{stderr}");
            }
            other => panic!("seed {seed}: exit {other:?} (a crash?): {stderr}"),
        }
        let _ = std::fs::remove_file(&mutated);
    }
    assert!(refused > 0, "some mutations must damage the file");
}

tests! {
    #[needs(GeoPython)]
    report_geoip_agrees_with_pythons_maxminddb,
    #[needs(GeoPython, Netns)]
    the_monitor_names_networks_and_countries_and_rereads_a_changed_file,
    #[needs(GeoPython, Netns, Tool("mkfifo"))]
    a_geoip_file_that_cannot_be_used_stops_the_monitor_and_report,
    #[needs(GeoPython, Tool("zzuf"))]
    mutated_databases_never_crash_report,
}
