//! Issue 14, IPv6 devices: their MAC addresses come from the kernel's IPv6 neighbour table
//! (rtnetlink, what `ip -6 neigh` shows), read by the real monitor without privileges of its own
//! beyond capture, merged with `/proc/net/arp` for IPv4.
//!
//! ```text
//!  a 2001:db8:1::20 ─┐
//!  b 2001:db8:1::21 ─┼─ br0 2001:db8:1::1, 192.168.60.1 [monitor]
//!    192.168.60.21   │  lo: 2001:db8:ff::5, 203.0.113.5 (the "internet" peer)
//! ```
//!
//! The monitor's namespace holds a *permanent* IPv6 neighbour entry for a, added by hand with a
//! MAC address that is not a's own (aa:bb:cc:dd:ee:20, while a's interface has
//! 02:00:00:00:60:20): the MAC the API shows for a can only come from that table, never from the
//! frames. b's MAC (02:00:00:00:60:21) is learnt by the kernel itself, by neighbour discovery for
//! IPv6 and ARP for IPv4. a's replies go to the MAC of its entry, so a never receives them: it
//! only sends; the monitor's echoes are captured on br0 all the same. The table also holds
//! [`FILLER`] permanent entries of addresses that send nothing, so its dump spans several
//! netlink datagrams.
//!
//! Expected bytes are the IP lengths of the datagrams this test sends and echoes (40 + 8 bytes
//! of headers for IPv6, 20 + 8 for IPv4, plus the payload), not anything the monitor computes;
//! neighbour discovery, ARP and the hosts' own link-local chatter are LAN traffic and counted
//! nowhere. `DEVICE_NAMES` names devices by these MAC addresses, so the names show that the
//! IPv6 MAC is used for naming too. After a restart with a's entry deleted, a keeps the MAC and
//! name its day was stored with.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::TempDir;
use crate::support::netns::{Netns, ip, run_ok};
use crate::support::web::{Monitor, db_in, in_namespace};

/// The monitor's bridge address (a's route to the internet) and its MAC.
const GATEWAY6: &str = "2001:db8:1::1";
const GATEWAY4: &str = "192.168.60.1";
const BRIDGE_MAC: &str = "02:00:00:00:60:01";
/// The "internet" peer, on the monitor's loopback: public, not on the captured bridge.
const PEER6: &str = "2001:db8:ff::5";
const PEER4: &str = "203.0.113.5";
const ECHO_PORT: u16 = 5000;

const A6: &str = "2001:db8:1::20";
/// a's interface.
const A_MAC: &str = "02:00:00:00:60:20";
/// a's permanent entry in the monitor's table: what the API must show for a.
const A_TABLE_MAC: &str = "aa:bb:cc:dd:ee:20";
const B6: &str = "2001:db8:1::21";
const B4: &str = "192.168.60.21";
const B_MAC: &str = "02:00:00:00:60:21";

/// Permanent entries of silent addresses in the monitor's table: about 45 KB of dump, more than
/// one netlink datagram (at most 32 KiB) holds.
const FILLER: usize = 600;

const NAMES: &str = "aa:bb:cc:dd:ee:20=Phone,02:00:00:00:60:21=Laptop";

/// The longest wait for the API to show what was sent.
const API_TIMEOUT: Duration = Duration::from_secs(20);
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// One device's exchange with the peer: `count` datagrams of `payload` bytes, each echoed.
struct Exchange {
    source: &'static str,
    count: u64,
    payload: u64,
}

const EXCHANGES: [Exchange; 3] = [
    Exchange {
        source: A6,
        count: 4,
        payload: 1000,
    },
    Exchange {
        source: B6,
        count: 6,
        payload: 700,
    },
    Exchange {
        source: B4,
        count: 3,
        payload: 500,
    },
];

impl Exchange {
    /// IP bytes each way: IP and UDP headers and the payload, per datagram.
    fn bytes(&self) -> u64 {
        let headers = if self.source.contains(':') {
            40 + 8
        } else {
            20 + 8
        };
        self.count * (headers + self.payload)
    }
}

/// `ip -n NAMESPACE ARGS…`.
fn ip_in(namespace: &str, args: &str) {
    let mut all = vec!["-n", namespace];
    all.extend(args.split_whitespace());
    ip(&all);
}

/// Turn IPv6 back on in a namespace ([`Netns::add`] turns it off) for interfaces made after.
fn ipv6_on(lab: &Netns, namespace: &str) {
    for scope in ["all", "default"] {
        run_ok(
            lab.exec(namespace, "sysctl")
                .args(["-qw", &format!("net.ipv6.conf.{scope}.disable_ipv6=0")]),
            Duration::from_secs(10),
        );
    }
}

struct Lab {
    netns: Netns,
    monitor: String,
    a: String,
    b: String,
}

fn build_lab(dir: &TempDir) -> Lab {
    let mut netns = Netns::new("neigh6");
    let monitor = netns.add("m");
    let a = netns.add("a");
    let b = netns.add("b");
    for namespace in [&monitor, &a, &b] {
        ipv6_on(&netns, namespace);
    }
    ip_in(
        &monitor,
        &format!("link add br0 address {BRIDGE_MAC} type bridge"),
    );
    ip_in(&monitor, &format!("addr add {GATEWAY6}/64 dev br0 nodad"));
    ip_in(&monitor, &format!("addr add {GATEWAY4}/24 dev br0"));
    ip_in(&monitor, "link set br0 up");
    ip_in(&monitor, "link set lo up");
    ip_in(&monitor, &format!("addr add {PEER6}/128 dev lo"));
    ip_in(&monitor, &format!("addr add {PEER4}/32 dev lo"));
    for (i, (namespace, mac)) in [(&a, A_MAC), (&b, B_MAC)].into_iter().enumerate() {
        let port = format!("port{i}");
        ip(&[
            "link", "add", "eth0", "netns", namespace, "address", mac, "type", "veth", "peer",
            "name", &port, "netns", &monitor,
        ]);
        ip_in(&monitor, &format!("link set {port} master br0"));
        ip_in(&monitor, &format!("link set {port} up"));
        ip_in(namespace, "link set eth0 up");
    }
    ip_in(&a, &format!("addr add {A6}/64 dev eth0 nodad"));
    ip_in(&a, &format!("-6 route add default via {GATEWAY6}"));
    // The monitor answers a's neighbour solicitation to the MAC of a's entry, which a drops:
    // a is given the bridge's MAC instead.
    ip_in(
        &a,
        &format!("-6 neigh add {GATEWAY6} lladdr {BRIDGE_MAC} dev eth0 nud permanent"),
    );
    ip_in(
        &monitor,
        &format!("-6 neigh add {A6} lladdr {A_TABLE_MAC} dev br0 nud permanent"),
    );
    let filler: String = (0..FILLER)
        .map(|i| {
            let (high, low) = (i / 256, i % 256);
            format!(
                "neigh add 2001:db8:1::1:{i:x} lladdr 02:00:00:01:{high:02x}:{low:02x} dev br0 \
                 nud permanent\n"
            )
        })
        .collect();
    let batch = dir.write("filler.batch", filler.as_bytes());
    ip(&["-n", &monitor, "-batch", &batch.to_string_lossy()]);
    ip_in(&b, &format!("addr add {B6}/64 dev eth0 nodad"));
    ip_in(&b, &format!("addr add {B4}/24 dev eth0"));
    ip_in(&b, &format!("-6 route add default via {GATEWAY6}"));
    ip_in(&b, &format!("route add default via {GATEWAY4}"));
    Lab {
        netns,
        monitor,
        a,
        b,
    }
}

/// Send every exchange: the peer's sockets in the monitor's namespace echo each datagram; b
/// waits for each echo, a (whose echoes go to the MAC of its entry) does not.
fn make_traffic(lab: &Lab) {
    let peer6: SocketAddr = SocketAddr::new(PEER6.parse().expect("v6"), ECHO_PORT);
    let peer4: SocketAddr = SocketAddr::new(PEER4.parse().expect("v4"), ECHO_PORT);
    for exchange in &EXCHANGES {
        let peer = if exchange.source.contains(':') {
            peer6
        } else {
            peer4
        };
        let server = in_namespace(&lab.monitor, move || UdpSocket::bind(peer)).expect("bind");
        server.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        let (namespace, answered) = if exchange.source == A6 {
            (lab.a.clone(), false)
        } else {
            (lab.b.clone(), true)
        };
        let source: IpAddr = exchange.source.parse().expect("an address");
        let client = in_namespace(&namespace, move || UdpSocket::bind((source, 0))).expect("bind");
        client.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        client.connect(peer).expect("connect");
        let payload = vec![0x5a_u8; exchange.payload as usize];
        let mut buffer = vec![0u8; 65536];
        for _ in 0..exchange.count {
            client.send(&payload).expect("send");
            let (size, from) = server.recv_from(&mut buffer).expect("the peer receives");
            assert_eq!(size as u64, exchange.payload);
            server.send_to(&buffer[..size], from).expect("echo");
            if answered {
                let size = client.recv(&mut buffer).expect("the echo");
                assert_eq!(size as u64, exchange.payload);
            }
        }
    }
}

fn start_monitor(lab: &Lab, db: &std::path::Path) -> Monitor {
    let mut monitor = Monitor::start(
        &lab.netns,
        &lab.monitor,
        "br0",
        db,
        &[("DEVICE_NAMES", NAMES), ("AUTO_LOCAL_PREFIXES", "true")],
    );
    monitor.wait_ready("br0");
    monitor
}

/// (ip, up, down, mac, name) of each listed device.
fn devices_of(answer: &Value) -> Vec<(String, u64, u64, String, String)> {
    let text = |d: &Value, key: &str| d[key].as_str().unwrap_or("-").to_string();
    answer["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .map(|d| {
            (
                text(d, "ip"),
                d["up_bytes"].as_u64().expect("up"),
                d["down_bytes"].as_u64().expect("down"),
                text(d, "mac"),
                text(d, "name"),
            )
        })
        .collect()
}

/// `/api/devices` until it lists `expected` (devices come within a ring block's timeout).
fn check_devices(monitor: &Monitor, expected: &[(String, u64, u64, String, String)], phase: &str) {
    let deadline = Instant::now() + API_TIMEOUT;
    loop {
        let answer = monitor.get("/api/devices");
        assert_eq!(answer.status, 200, "{phase}: {}", answer.text());
        let listed = devices_of(&answer.json());
        if listed == expected {
            return;
        }
        if Instant::now() >= deadline {
            panic!(
                "{phase}: /api/devices lists\n{listed:?}\nnot\n{expected:?}\nlog:\n{}",
                monitor.log()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ipv6_devices_get_their_mac_from_the_neighbour_table() {
    let dir = TempDir::new("neigh6");
    let lab = build_lab(&dir);
    let db = db_in(dir.path());
    let monitor = start_monitor(&lab, &db);
    make_traffic(&lab);

    // The kernel's own view: what `ip -6 neigh` shows there (the lab is as described).
    let table = run_ok(
        lab.netns.exec(&lab.monitor, "ip").args(["-6", "neigh"]),
        Duration::from_secs(10),
    );
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(
        table.contains(&format!("{A6} dev br0 lladdr {A_TABLE_MAC} PERMANENT")),
        "{table}"
    );
    assert!(
        table.contains(&format!("{B6} dev br0 lladdr {B_MAC} ")),
        "{table}"
    );
    assert_eq!(
        table.lines().filter(|l| l.contains(" PERMANENT")).count(),
        FILLER + 1,
        "{table}"
    );

    let row = |exchange: &Exchange, mac: &str, name: &str| {
        let bytes = exchange.bytes();
        (
            exchange.source.to_string(),
            bytes,
            bytes,
            mac.to_string(),
            name.to_string(),
        )
    };
    let mut expected = vec![
        row(&EXCHANGES[0], A_TABLE_MAC, "Phone"),
        row(&EXCHANGES[1], B_MAC, "Laptop"),
        row(&EXCHANGES[2], B_MAC, "Laptop"),
    ];
    expected.sort_by_key(|d| std::cmp::Reverse(d.1 + d.2));
    check_devices(&monitor, &expected, "live");
    assert_eq!(
        monitor.lines_containing("neighbour table"),
        0,
        "{}",
        monitor.log()
    );

    // The stop commits the day with the labels shown now; with a's entry gone, the restarted
    // monitor shows what the day stored for a.
    monitor.stop();
    ip_in(&lab.monitor, &format!("-6 neigh del {A6} dev br0"));
    let monitor = start_monitor(&lab, &db);
    check_devices(&monitor, &expected, "after a restart without a's entry");
    monitor.stop();
}

tests! {
    #[needs(Netns)]
    ipv6_devices_get_their_mac_from_the_neighbour_table,
}
