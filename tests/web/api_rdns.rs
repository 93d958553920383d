//! Reverse-DNS names of remote addresses (`REVERSE_DNS`), against a real DNS server: dnsmasq in
//! the monitor's network namespace with PTR records for documentation-range addresses, reached
//! through the namespace's own /etc/resolv.conf (`ip netns exec` puts /etc/netns/NAME/ in place).
//! And a resolver that never answers: the API must not wait for it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::netns::{NamespaceResolver, Netns, Spawned};
use crate::support::web::{Monitor, import_into};
use crate::support::{ETHERTYPE_IPV4, PCAP_MAGIC_MICROSECONDS, PcapWriter, TempDir, eth, ipv4};

/// Remote addresses of the history, with the PTR record dnsmasq gets for each (`None`: none).
const REMOTES: &[(&str, Option<&str>)] = &[
    ("203.0.113.5", Some("web.example.net")),
    ("198.51.100.7", Some("Backup.Example.ORG")),
    ("203.0.113.77", Some("cdn-7.edge.example.com")),
    ("203.0.113.99", None),
];

/// The day of the history's traffic (2024-06-10).
const DAY: &str = "2024-06-10";
const DAY_START: u32 = 1_717_977_600;

/// A history with one download from each remote (heaviest first), imported into `dir`.
fn history(dir: &TempDir) -> PathBuf {
    let mut pcap = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 1);
    for (i, (remote, _)) in REMOTES.iter().enumerate() {
        let size = 1400 - i as u16 * 100;
        let packet = ipv4(remote, "192.168.1.10", size);
        pcap = pcap.record(
            DAY_START + 3600 + i as u32,
            0,
            14 + u32::from(size),
            &eth(ETHERTYPE_IPV4, &packet),
        );
    }
    let file = dir.write("remotes.pcap", &pcap.finish());
    import_into(dir.path(), &file)
}

fn top_ips(monitor: &Monitor) -> Vec<Value> {
    let answer = monitor.get(&format!("/api/top_ips?start={DAY}&end={DAY}"));
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()["top_ips"]
        .as_array()
        .expect("top_ips")
        .clone()
}

/// Names from a real DNS server appear on a later refresh (the first answer does not wait for
/// them), lower-cased, and an address without a PTR record stays without a name.
fn names_from_a_real_dns_server_appear_on_the_next_refresh() {
    let dir = TempDir::new("rdns");
    let db = history(&dir);
    let mut netns = Netns::new("rdns");
    let namespace = netns.add("m");
    let log = dir.path().join("dnsmasq.log");
    let mut records = vec![
        "--log-queries".to_string(),
        format!("--log-facility={}", log.display()),
    ];
    for (address, name) in REMOTES {
        if let Some(name) = name {
            let octets: Vec<&str> = address.split('.').rev().collect();
            records.push(format!(
                "--ptr-record={}.in-addr.arpa,{name}",
                octets.join(".")
            ));
        }
    }
    let dns = NamespaceResolver::dnsmasq(&netns, &namespace, &records);

    let mut monitor = Monitor::start(&netns, &namespace, "lo", &db, &[]);
    monitor.wait_ready("lo");
    let first = top_ips(&monitor);
    assert_eq!(first.len(), REMOTES.len());
    assert!(
        first.iter().all(|entry| entry.get("name").is_none()),
        "the first answer does not wait for names: {first:?}"
    );
    let started = Instant::now();
    let expected: Vec<(String, Option<String>)> = REMOTES
        .iter()
        .map(|(a, n)| (a.to_string(), n.map(str::to_ascii_lowercase)))
        .collect();
    loop {
        let entries = top_ips(&monitor);
        let got: Vec<(String, Option<String>)> = entries
            .iter()
            .map(|e| {
                (
                    e["ip"].as_str().expect("ip").to_string(),
                    e["name"].as_str().map(str::to_string),
                )
            })
            .collect();
        if got == expected {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "names did not arrive: {got:?}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The server saw each address asked once, not once per refresh (the answers are cached).
    let queries = std::fs::read_to_string(&log).unwrap_or_default();
    for (address, _) in REMOTES {
        let octets: Vec<&str> = address.split('.').rev().collect();
        let question = format!("query[PTR] {}.in-addr.arpa", octets.join("."));
        let asked = queries.matches(&question).count();
        assert!(
            (1..=2).contains(&asked),
            "{address} asked {asked} times:\n{queries}"
        );
    }
    monitor.stop();
    drop(dns);
}

/// Milliseconds of each of `count` `/api/top_ips` requests, sorted.
fn answer_times(monitor: &Monitor, count: usize) -> Vec<f64> {
    let mut times: Vec<f64> = (0..count)
        .map(|_| {
            let started = Instant::now();
            let entries = top_ips(monitor);
            let took = started.elapsed().as_secs_f64() * 1000.0;
            assert_eq!(entries.len(), REMOTES.len());
            took
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times
}

/// With a resolver that takes every query and never answers, the API answers as fast as with
/// `REVERSE_DNS=false` (both measured here in turn), under 5 ms at the median, without names.
fn a_resolver_that_never_answers_never_delays_the_api() {
    let dir = TempDir::new("rdns-silent");
    let db = history(&dir);
    let mut netns = Netns::new("rdns-silent");
    let namespace = netns.add("m");
    let _files = NamespaceResolver::new(&namespace);
    crate::support::netns::ip(&["-n", &namespace, "link", "set", "lo", "up"]);
    // Reads every datagram and connection on port 53, answers none.
    let mut silent = netns.exec(&namespace, "python3");
    silent.args([
        "-c",
        "import socket,threading\n\
         u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);u.bind(('127.0.0.1',53))\n\
         t=socket.socket();t.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         t.bind(('127.0.0.1',53));t.listen(64);held=[]\n\
         threading.Thread(target=lambda:[held.append(t.accept()) for _ in iter(int,1)],daemon=True).start()\n\
         print('ready',flush=True)\n\
         while True: u.recvfrom(4096); print('query',flush=True)\n",
    ]);
    let mut server = Spawned::new(silent.stdin(std::process::Stdio::null()));
    std::thread::sleep(Duration::from_millis(500));

    let mut figures = Vec::new();
    for reverse_dns in ["false", "true"] {
        let mut monitor = Monitor::start(
            &netns,
            &namespace,
            "lo",
            &db,
            &[("REVERSE_DNS", reverse_dns)],
        );
        monitor.wait_ready("lo");
        // Warm up (the first request queues every address), then measure.
        let _ = answer_times(&monitor, 5);
        let times = answer_times(&monitor, 60);
        let entries = top_ips(&monitor);
        assert!(
            entries.iter().all(|e| e.get("name").is_none()),
            "{entries:?}"
        );
        figures.push((reverse_dns, times[times.len() / 2], times[times.len() - 1]));
        monitor.stop();
    }
    eprintln!("top_ips answer time (ms: median, max) by REVERSE_DNS: {figures:?}");
    let (_, median_off, _) = figures[0];
    let (_, median_on, _) = figures[1];
    assert!(
        median_on < 5.0,
        "median {median_on:.2} ms with a silent resolver"
    );
    // Whatever the machine's load, waiting for the resolver (seconds) would show as a ratio.
    assert!(
        median_on < median_off * 3.0 + 1.0,
        "{median_on:.2} ms against {median_off:.2} ms without names"
    );
    let _ = server.child.kill();
    let output = server.finish(Duration::from_secs(5), "the silent resolver");
    let asked = String::from_utf8_lossy(&output.stdout)
        .matches("query")
        .count();
    assert!(asked >= 1, "the monitor never asked the silent resolver");
    eprintln!("the silent resolver received {asked} queries");
}

tests! {
    #[needs(Netns, Tool("dnsmasq"))]
    names_from_a_real_dns_server_appear_on_the_next_refresh,
    #[needs(Netns, Tool("python3"))]
    a_resolver_that_never_answers_never_delays_the_api,
}
