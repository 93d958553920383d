//! Issue 14, tested for real: three LAN hosts behind a Linux bridge that the monitor captures, each
//! talking to a documentation-range "internet" host over TCP 443 (HTTPS), UDP 51820 (WireGuard)
//! and an inbound TCP 32400 (Plex remote streaming), and to the file share (SMB, 445) of the
//! monitor's own machine. The devices and services the real API shows, by name, must equal what
//! was sent to and from the internet; the file share is LAN traffic and in none of them.
//!
//! Two ways a bridge is captured ([`Setup`]):
//!
//! ```text
//! routing bridge: the router's LAN is br0; the monitor captures br0
//!  h0 192.168.50.10 ─┐
//!  h1 192.168.50.11 ─┼─ br0 192.168.50.1 [router: monitor, tcpdump] wan0 203.0.113.2 ── 203.0.113.1 inet
//!  h2 192.168.50.12 ─┘
//!
//! bridge port (Proxmox vmbr0, Unraid br0): guests bridged onto the wire; the monitor captures eth0
//!  h0 ─┐
//!  h1 ─┼─ br0 192.168.50.2 ─ eth0 [NAS: monitor, tcpdump] ── lan0 192.168.50.1 [router] wan0 ── inet
//!  h2 ─┘
//! ```
//!
//! Plain routing, no NAT: the internet namespace routes 192.168.50.0/24 back via the router. The
//! traffic is made by this test's own std sockets, each created in its namespace (a thread that
//! joined it), with different amounts per host. Ephemeral ports are 40000–40999 in every
//! namespace, so no client port is ever a port of a named service.
//!
//! Expected figures are independent of the implementation: tcpdump records the captured interface
//! beside the monitor, and a small reference counter here (not the crate's parser or classifier)
//! adds up the IPv4 total lengths per device (local address: source of upload, destination of
//! download), per service (TCP SYN → destination port, SYN-ACK → source port, otherwise the
//! well-known port; UDP the well-known port), per device and service, and per device and remote
//! address. They must also be at least the payload bytes the test sent.
//!
//! Names: 192.168.50.10 by address and 192.168.50.11 by MAC address (`DEVICE_NAMES`, the MAC
//! from the neighbour table of the monitor's machine), 192.168.50.12 by its PTR record (dnsmasq
//! beside the monitor, `REVERSE_DNS`); every device shows its MAC address.
//!
//! The API is read twice: live (from memory, nothing committed yet) and after a restart (what the
//! stop committed, read back from the history file). `/api/devices` (with names and MACs),
//! `/api/summary` and `/api/query`; then `/api/services` (ids, labels, bytes; adding up to the
//! totals), the per-service counters of `/metrics` (live only: they count since the start) and
//! `/api/top_ips?device=` (one device's remote addresses), whose answers of the live phase are
//! taken before the restart and checked last, so the devices' part runs whatever they say.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::TempDir;
use crate::support::netns::{NamespaceResolver, Netns, ip, run_ok, wait_until};
use crate::support::web::{Answer, Monitor, db_in, in_namespace};

/// The "internet" host.
const INTERNET: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
/// The router's uplink address.
const ROUTER_WAN: &str = "203.0.113.2";
/// The router's LAN address (the hosts' gateway).
const ROUTER_LAN: &str = "192.168.50.1";
/// The NAS's own address on its bridge ([`Setup::BridgePort`]).
const NAS_LAN: &str = "192.168.50.2";
/// The file-share port of the monitor's own machine (SMB): LAN traffic, never counted.
const SHARE: u16 = 445;
const LAN_PREFIX: &str = "192.168.50.0/24";

const HTTPS: u16 = 443;
const WIREGUARD: u16 = 51820;
const PLEX: u16 = 32400;

/// The longest wait for the API to show what the reference counted, and for a PTR name.
const API_TIMEOUT: Duration = Duration::from_secs(20);
/// Read and write time limit of every socket of the traffic.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// One LAN host.
struct Host {
    /// Namespace label.
    short: &'static str,
    ip: Ipv4Addr,
    mac: &'static str,
    /// The name the API must show.
    name: &'static str,
    /// Multiplies every amount the host sends and receives, so the hosts differ.
    scale: usize,
}

const HOSTS: [Host; 3] = [
    Host {
        short: "h0",
        ip: Ipv4Addr::new(192, 168, 50, 10),
        mac: "02:00:00:00:50:10",
        name: "Office PC",
        scale: 1,
    },
    Host {
        short: "h1",
        ip: Ipv4Addr::new(192, 168, 50, 11),
        mac: "02:00:00:00:50:11",
        name: "Living-room TV",
        scale: 2,
    },
    Host {
        short: "h2",
        ip: Ipv4Addr::new(192, 168, 50, 12),
        mac: "02:00:00:00:50:12",
        name: "media-nas.home.arpa",
        scale: 3,
    },
];

/// `DEVICE_NAMES`: the first host by address, the second by MAC address; the third has none
/// (its name comes from its PTR record).
fn device_names() -> String {
    format!(
        "{}={},{}={}",
        HOSTS[0].ip, HOSTS[0].name, HOSTS[1].mac, HOSTS[1].name
    )
}

/// Payload bytes of one host's exchanges.
#[derive(Clone, Copy, Debug, Default)]
struct Sent {
    https_up: usize,
    https_down: usize,
    /// Datagrams to 51820, each answered by one.
    wg_datagrams: usize,
    wg_up_size: usize,
    wg_down_size: usize,
    /// The internet client's request, then the host's stream.
    plex_request: usize,
    plex_stream: usize,
    /// To and from the file share of the monitor's machine (LAN).
    share_up: usize,
    share_down: usize,
}

impl Sent {
    fn of(host: &Host) -> Sent {
        let k = host.scale;
        Sent {
            https_up: 16 * 1024 * k,
            https_down: 48 * 1024 * k,
            wg_datagrams: 8 * k,
            wg_up_size: 1200,
            wg_down_size: 600,
            plex_request: 300,
            plex_stream: 64 * 1024 * k,
            share_up: 8 * 1024 * k,
            share_down: 2 * 1024 * k,
        }
    }

    /// Payload (up, down) per service name.
    fn by_service(&self) -> [(&'static str, (u64, u64)); 3] {
        let n = |bytes: usize| bytes as u64;
        [
            ("https", (n(self.https_up), n(self.https_down))),
            (
                "wireguard",
                (
                    n(self.wg_datagrams * self.wg_up_size),
                    n(self.wg_datagrams * self.wg_down_size),
                ),
            ),
            ("plex", (n(self.plex_stream), n(self.plex_request))),
        ]
    }
}

// ---------------------------------------------------------------------------------------------
// The lab
// ---------------------------------------------------------------------------------------------

/// Where the bridge is and what the monitor captures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Setup {
    /// The router's LAN is the bridge `br0` (192.168.50.1); the monitor runs on the router and
    /// captures `br0`, which every routed frame passes.
    RoutingBridge,
    /// A NAS (Proxmox `vmbr0`, Unraid `br0`) bridges its guests straight onto the wire: `br0`
    /// (the NAS's own 192.168.50.2) holds the guests' ports and the physical port `eth0` to a
    /// separate router (192.168.50.1). The guests' frames never pass the bridge device, so the
    /// monitor on the NAS captures `eth0` (docs/capture.md).
    BridgePort,
}

struct Lab {
    netns: Netns,
    internet: String,
    /// Where the monitor and tcpdump run.
    monitor: String,
    /// What they capture.
    capture: &'static str,
    /// The monitor's own LAN address (a file share the hosts also use: LAN traffic).
    own: Ipv4Addr,
    hosts: Vec<String>,
}

fn sysctl(lab: &Netns, namespace: &str, setting: &str) {
    run_ok(
        lab.exec(namespace, "sysctl").args(["-qw", setting]),
        Duration::from_secs(10),
    );
}

/// `ip -n NAMESPACE ARGS…`.
fn ip_in(namespace: &str, args: &str) {
    let mut all = vec!["-n", namespace];
    all.extend(args.split_whitespace());
    ip(&all);
}

/// Ephemeral ports 40000–40999: no client port is a service port.
const PORT_RANGE: &str = "net.ipv4.ip_local_port_range=40000 40999";

fn build_lab(setup: Setup) -> Lab {
    let label = match setup {
        Setup::RoutingBridge => "devsvc-r",
        Setup::BridgePort => "devsvc-p",
    };
    let mut netns = Netns::new(label);
    let internet = netns.add("inet");
    let router = netns.add("rtr");
    netns.veth((&router, "wan0"), (&internet, "isp0"));
    ip_in(&router, &format!("addr add {ROUTER_WAN}/24 dev wan0"));
    ip_in(&internet, &format!("addr add {INTERNET}/24 dev isp0"));
    ip_in(
        &internet,
        &format!("route add {LAN_PREFIX} via {ROUTER_WAN}"),
    );
    sysctl(&netns, &internet, PORT_RANGE);
    sysctl(&netns, &router, "net.ipv4.ip_forward=1");
    let (bridge_at, own, capture) = match setup {
        Setup::RoutingBridge => {
            ip_in(&router, "link add br0 type bridge");
            ip_in(&router, &format!("addr add {ROUTER_LAN}/24 dev br0"));
            ip_in(&router, "link set br0 up");
            (
                router.clone(),
                ROUTER_LAN.parse().expect("an address"),
                "br0",
            )
        }
        Setup::BridgePort => {
            let nas = netns.add("nas");
            netns.veth((&router, "lan0"), (&nas, "eth0"));
            ip_in(&router, &format!("addr add {ROUTER_LAN}/24 dev lan0"));
            ip_in(&nas, "link add br0 type bridge");
            ip_in(&nas, "link set eth0 master br0");
            ip_in(&nas, &format!("addr add {NAS_LAN}/24 dev br0"));
            ip_in(&nas, "link set br0 up");
            ip_in(&nas, &format!("route add default via {ROUTER_LAN}"));
            (nas, NAS_LAN.parse().expect("an address"), "eth0")
        }
    };
    let mut hosts = Vec::new();
    for (i, host) in HOSTS.iter().enumerate() {
        let namespace = netns.add(host.short);
        let port = format!("port{i}");
        ip(&[
            "link", "add", "eth0", "netns", &namespace, "address", host.mac, "type", "veth",
            "peer", "name", &port, "netns", &bridge_at,
        ]);
        ip_in(&bridge_at, &format!("link set {port} master br0"));
        ip_in(&bridge_at, &format!("link set {port} up"));
        ip_in(&namespace, "link set eth0 up");
        ip_in(&namespace, &format!("addr add {}/24 dev eth0", host.ip));
        ip_in(&namespace, &format!("route add default via {ROUTER_LAN}"));
        sysctl(&netns, &namespace, PORT_RANGE);
        hosts.push(namespace);
    }
    Lab {
        netns,
        internet,
        monitor: bridge_at,
        capture,
        own,
        hosts,
    }
}

// ---------------------------------------------------------------------------------------------
// The traffic
// ---------------------------------------------------------------------------------------------

fn timeouts(stream: &TcpStream) {
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
}

/// Send `bytes` bytes, then half-close.
fn send_all(stream: &mut TcpStream, bytes: usize) {
    let block = vec![0x5a_u8; bytes];
    stream.write_all(&block).expect("send");
    stream.shutdown(Shutdown::Write).expect("half-close");
}

/// Read to the end; how many bytes came.
fn drain(stream: &mut TcpStream) -> usize {
    let mut buffer = Vec::new();
    stream.read_to_end(&mut buffer).expect("receive");
    buffer.len()
}

/// One TCP exchange: the client connects from `client_namespace` to `server` (a listener), sends
/// `request` bytes and half-closes; the server reads them all, answers `response` bytes and
/// closes.
fn tcp_exchange(
    client_namespace: &str,
    listener: &TcpListener,
    server: (Ipv4Addr, u16),
    request: usize,
    response: usize,
) {
    std::thread::scope(|scope| {
        let serving = scope.spawn(|| {
            let (mut stream, _) = listener.accept().expect("accept");
            timeouts(&stream);
            let got = drain(&mut stream);
            send_all(&mut stream, response);
            got
        });
        let mut client = in_namespace(client_namespace, move || TcpStream::connect(server))
            .unwrap_or_else(|error| panic!("connect to {server:?}: {error}"));
        timeouts(&client);
        send_all(&mut client, request);
        let answered = drain(&mut client);
        assert_eq!(
            serving.join().expect("server"),
            request,
            "request to {server:?}"
        );
        assert_eq!(answered, response, "answer of {server:?}");
    });
}

/// `count` datagrams of `up` bytes from `client_namespace` to the internet's WireGuard port,
/// each answered with `down` bytes before the next goes (so none is lost to a full buffer).
fn udp_exchange(
    client_namespace: &str,
    source: Ipv4Addr,
    server: &UdpSocket,
    count: usize,
    (up, down): (usize, usize),
) {
    std::thread::scope(|scope| {
        let serving = scope.spawn(|| {
            let mut buffer = vec![0u8; 65536];
            for _ in 0..count {
                let (size, peer) = server.recv_from(&mut buffer).expect("datagram");
                assert_eq!(size, up);
                server.send_to(&vec![0xa5; down], peer).expect("answer");
            }
        });
        let client = in_namespace(client_namespace, move || UdpSocket::bind((source, 0)))
            .expect("bind the UDP client");
        client.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        client.connect((INTERNET, WIREGUARD)).expect("connect UDP");
        let mut buffer = vec![0u8; 65536];
        for _ in 0..count {
            client.send(&vec![0x3c; up]).expect("send a datagram");
            let size = client.recv(&mut buffer).expect("an answer");
            assert_eq!(size, down);
        }
        serving.join().expect("UDP server");
    });
}

/// Every host: HTTPS out, WireGuard out, Plex in.
fn make_traffic(lab: &Lab) {
    let https = in_namespace(&lab.internet, || TcpListener::bind((INTERNET, HTTPS)))
        .expect("listen on 443");
    let wireguard =
        in_namespace(&lab.internet, || UdpSocket::bind((INTERNET, WIREGUARD))).expect("bind 51820");
    wireguard
        .set_read_timeout(Some(IO_TIMEOUT))
        .expect("timeout");
    let own = lab.own;
    let share =
        in_namespace(&lab.monitor, move || TcpListener::bind((own, SHARE))).expect("listen on 445");
    for (host, namespace) in HOSTS.iter().zip(&lab.hosts) {
        let sent = Sent::of(host);
        tcp_exchange(
            namespace,
            &share,
            (lab.own, SHARE),
            sent.share_up,
            sent.share_down,
        );
        tcp_exchange(
            namespace,
            &https,
            (INTERNET, HTTPS),
            sent.https_up,
            sent.https_down,
        );
        udp_exchange(
            namespace,
            host.ip,
            &wireguard,
            sent.wg_datagrams,
            (sent.wg_up_size, sent.wg_down_size),
        );
        let address = host.ip;
        let plex = in_namespace(namespace, move || TcpListener::bind((address, PLEX)))
            .expect("listen on 32400");
        tcp_exchange(
            &lab.internet,
            &plex,
            (host.ip, PLEX),
            sent.plex_request,
            sent.plex_stream,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// tcpdump and the reference counter
// ---------------------------------------------------------------------------------------------

/// tcpdump writing every frame of `interface` in `namespace` to `file`, its stderr in `log`.
struct Tcpdump {
    child: Child,
    log: std::path::PathBuf,
}

impl Tcpdump {
    fn start(lab: &Netns, namespace: &str, interface: &str, file: &Path, log: &Path) -> Tcpdump {
        let mut command = lab.exec(namespace, "tcpdump");
        command
            // No promiscuous mode (the bridge would pass up frames it only forwards), packets
            // written as they come, no privilege drop (the file is root's).
            .args([
                "-i",
                interface,
                "-p",
                "-n",
                "-U",
                "--immediate-mode",
                "-Z",
                "root",
            ])
            // Headers are all the reference reads: a short snapshot and a 32 MiB buffer keep a
            // niced tcpdump on a busy machine from dropping the offloaded 64 KiB super-packets.
            .args(["-s", "128", "-B", "32768", "-w"])
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(log).expect("tcpdump log"));
        let child = command.spawn().expect("start tcpdump");
        let mut tcpdump = Tcpdump {
            child,
            log: log.to_path_buf(),
        };
        let started = Instant::now();
        while !tcpdump.log().contains("listening on") {
            if let Ok(Some(status)) = tcpdump.child.try_wait() {
                panic!("tcpdump exited ({status}): {}", tcpdump.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "tcpdump not listening within 10 s: {}",
                tcpdump.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        tcpdump
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGINT; it must exit within 5 s having dropped nothing.
    fn stop(mut self) {
        run_ok(
            Command::new("kill").args(["-INT", &self.child.id().to_string()]),
            Duration::from_secs(5),
        );
        let status = wait_until(&mut self.child, Duration::from_secs(5))
            .unwrap_or_else(|| panic!("tcpdump still running 5 s after SIGINT"));
        assert!(status.success(), "tcpdump: {status}: {}", self.log());
        let log = self.log();
        assert!(
            log.lines()
                .any(|line| line.trim() == "0 packets dropped by kernel"),
            "tcpdump lost frames: {log}"
        );
    }
}

impl Drop for Tcpdump {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

type Bytes = (u64, u64);

fn add(entry: &mut Bytes, up: bool, bytes: u64) {
    if up {
        entry.0 += bytes;
    } else {
        entry.1 += bytes;
    }
}

/// What the reference counter found in the recording.
#[derive(Debug, Default)]
struct Reference {
    total: Bytes,
    devices: BTreeMap<Ipv4Addr, Bytes>,
    services: BTreeMap<&'static str, Bytes>,
    device_services: BTreeMap<(Ipv4Addr, &'static str), Bytes>,
    device_remotes: BTreeMap<(Ipv4Addr, Ipv4Addr), Bytes>,
    /// IPv4 packets between two local addresses (not traffic), and their bytes.
    lan: u64,
    lan_bytes: u64,
    /// IPv4 packets between two public addresses (there must be none).
    public_to_public: u64,
    /// Frames that are not IPv4 (ARP; IPv6 is off in every namespace).
    not_ipv4: u64,
}

const TCP: u8 = 6;
const UDP: u8 = 17;
const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;

/// The service of a packet: TCP SYN → destination port, SYN-ACK → source port, any other TCP
/// segment and every UDP datagram the port that is a known service port (destination first).
fn service_of(protocol: u8, source: u16, destination: u16, tcp_flags: u8) -> &'static str {
    let named = |port: u16| match (protocol, port) {
        (TCP, HTTPS) => Some("https"),
        (TCP, PLEX) => Some("plex"),
        (UDP, WIREGUARD) => Some("wireguard"),
        _ => None,
    };
    let port = match protocol {
        TCP if tcp_flags & (TCP_SYN | TCP_ACK) == TCP_SYN => destination,
        TCP if tcp_flags & (TCP_SYN | TCP_ACK) == TCP_SYN | TCP_ACK => source,
        _ if named(destination).is_some() => destination,
        _ => source,
    };
    named(port).unwrap_or("other")
}

/// Not a public address: private, CGNAT, loopback, link-local, multicast, reserved, "this
/// network" or broadcast (the documentation ranges play the internet here).
fn is_local(address: Ipv4Addr) -> bool {
    let [a, b, _, _] = address.octets();
    address.is_private()
        || (a == 100 && (64..128).contains(&b))
        || a == 127
        || address.is_link_local()
        || a >= 224
        || a == 0
}

/// Count a classic pcap file (Ethernet, as tcpdump writes on this machine).
fn reference(file: &Path) -> Reference {
    let bytes = std::fs::read(file).expect("read the recording");
    assert!(bytes.len() >= 24, "no pcap header in {}", file.display());
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let magic = u32_at(0);
    assert!(
        magic == 0xa1b2_c3d4 || magic == 0xa1b2_3c4d,
        "not a little-endian pcap: {magic:#x}"
    );
    assert_eq!(
        u32_at(20) & 0xffff,
        1,
        "tcpdump on a bridge writes Ethernet"
    );
    let mut counted = Reference::default();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let captured = u32_at(at + 8) as usize;
        let frame = &bytes[at + 16..at + 16 + captured];
        at += 16 + captured;
        if frame.len() < 14 + 20 || frame[12..14] != [0x08, 0x00] {
            counted.not_ipv4 += 1;
            continue;
        }
        let packet = &frame[14..];
        assert_eq!(packet[0] >> 4, 4, "IPv4");
        let header = usize::from(packet[0] & 0x0f) * 4;
        let length = u64::from(u16::from_be_bytes([packet[2], packet[3]]));
        assert!(length >= 20, "an IPv4 total length: {length}");
        let fragment = u16::from_be_bytes([packet[6], packet[7]]) & 0x1fff;
        assert_eq!(fragment, 0, "no fragments on this path");
        let protocol = packet[9];
        let source = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
        let destination = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
        let (device, remote, up) = match (is_local(source), is_local(destination)) {
            (true, false) => (source, destination, true),
            (false, true) => (destination, source, false),
            (true, true) => {
                // The file share; the hosts' own IGMP reports.
                counted.lan += 1;
                counted.lan_bytes += length;
                continue;
            }
            (false, false) => {
                counted.public_to_public += 1;
                continue;
            }
        };
        let transport = &packet[header..];
        assert!(
            matches!(protocol, TCP | UDP) && transport.len() >= 14,
            "only TCP and UDP with their headers captured: protocol {protocol}"
        );
        let port = |at: usize| u16::from_be_bytes([transport[at], transport[at + 1]]);
        let flags = if protocol == TCP { transport[13] } else { 0 };
        let service = service_of(protocol, port(0), port(2), flags);
        add(&mut counted.total, up, length);
        add(counted.devices.entry(device).or_default(), up, length);
        add(counted.services.entry(service).or_default(), up, length);
        add(
            counted
                .device_services
                .entry((device, service))
                .or_default(),
            up,
            length,
        );
        add(
            counted.device_remotes.entry((device, remote)).or_default(),
            up,
            length,
        );
    }
    assert_eq!(at, bytes.len(), "the recording ends with a whole record");
    counted
}

// ---------------------------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------------------------

fn json_of(monitor: &Monitor, target: &str) -> Value {
    let answer = monitor.get(target);
    assert_eq!(answer.status, 200, "{target}: {}", answer.text());
    answer.json()
}

fn bytes_of(value: &Value) -> Bytes {
    (
        value["up_bytes"]
            .as_u64()
            .unwrap_or_else(|| panic!("no up_bytes in {value}")),
        value["down_bytes"]
            .as_u64()
            .unwrap_or_else(|| panic!("no down_bytes in {value}")),
    )
}

/// Ask `target` until `done` accepts the answer or [`API_TIMEOUT`] passes; the last answer.
fn poll(monitor: &Monitor, target: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let answer = json_of(monitor, target);
        if done(&answer) || started.elapsed() > API_TIMEOUT {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The rows of a list as `key → (up, down)`, each row's `bytes` and `bytes_fmt` checked.
fn rows(list: &Value, key: &str) -> Vec<(String, Bytes)> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|row| {
            let (up, down) = bytes_of(row);
            assert_eq!(row["bytes"], up + down, "{row}");
            assert_eq!(
                row["bytes_fmt"],
                nettraffic_sentinel::units::format_bytes(up + down),
                "{row}"
            );
            let name = row[key]
                .as_str()
                .unwrap_or_else(|| panic!("no {key} in {row}"))
                .to_string();
            (name, (up, down))
        })
        .collect()
}

/// `listed` (an API list) is heaviest first and holds exactly `expected`, by key.
fn assert_list<K: ToString>(
    listed: &[(String, Bytes)],
    expected: impl IntoIterator<Item = (K, Bytes)>,
    context: &str,
) {
    let total = |(up, down): &Bytes| up + down;
    assert!(
        listed.windows(2).all(|w| total(&w[0].1) >= total(&w[1].1)),
        "{context}: not heaviest first"
    );
    let got: BTreeMap<String, Bytes> = listed.iter().cloned().collect();
    assert_eq!(got.len(), listed.len(), "{context}: a key listed twice");
    let expected: BTreeMap<String, Bytes> = expected
        .into_iter()
        .map(|(key, bytes)| (key.to_string(), bytes))
        .collect();
    assert_eq!(got, expected, "{context}");
}

fn sum(listed: &[(String, Bytes)]) -> Bytes {
    listed
        .iter()
        .fold((0, 0), |(u, d), (_, (up, down))| (u + up, d + down))
}

fn labels(service: &str) -> &'static str {
    match service {
        "https" => "HTTPS",
        "wireguard" => "WireGuard",
        "plex" => "Plex",
        other => panic!("no label expected for {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

fn three_lan_hosts_behind_a_routing_bridge() {
    three_lan_hosts(Setup::RoutingBridge);
}

fn three_lan_hosts_bridged_onto_the_captured_port() {
    three_lan_hosts(Setup::BridgePort);
}

fn three_lan_hosts(setup: Setup) {
    let lab = build_lab(setup);
    let iface = lab.capture;
    let dir = TempDir::new("devsvc");
    let ptr = HOSTS[2].ip.octets();
    let _dns = NamespaceResolver::dnsmasq(
        &lab.netns,
        &lab.monitor,
        &[format!(
            "--ptr-record={}.{}.{}.{}.in-addr.arpa,{}",
            ptr[3], ptr[2], ptr[1], ptr[0], HOSTS[2].name
        )],
    );
    let names = device_names();
    let db = db_in(dir.path());
    let monitor = start_monitor(&lab, &db, &names);
    let recording = dir.path().join(format!("{iface}.pcap"));
    let tcpdump = Tcpdump::start(
        &lab.netns,
        &lab.monitor,
        iface,
        &recording,
        &dir.path().join("tcpdump.log"),
    );

    make_traffic(&lab);
    // Both captures hand over what the kernel holds within their block timeouts.
    std::thread::sleep(Duration::from_millis(1500));
    tcpdump.stop();
    let expected = reference(&recording);
    eprintln!("reference: {expected:?}");

    // The recording holds exactly what the test sent, no less than its payloads.
    assert_eq!(
        expected.public_to_public, 0,
        "nothing public ↔ public on {iface}"
    );
    if setup == Setup::RoutingBridge {
        // The file share is on the captured bridge: LAN bytes, in no device or service.
        let share: usize = HOSTS
            .iter()
            .map(|h| Sent::of(h).share_up + Sent::of(h).share_down)
            .sum();
        assert!(expected.lan_bytes >= share as u64, "{expected:?}");
    }
    let devices: Vec<Ipv4Addr> = expected.devices.keys().copied().collect();
    assert_eq!(devices, HOSTS.map(|h| h.ip).to_vec(), "{expected:?}");
    let services: Vec<&str> = expected.services.keys().copied().collect();
    assert_eq!(services, ["https", "plex", "wireguard"], "{expected:?}");
    for host in &HOSTS {
        let remotes: Vec<Ipv4Addr> = expected
            .device_remotes
            .keys()
            .filter(|(device, _)| *device == host.ip)
            .map(|(_, remote)| *remote)
            .collect();
        assert_eq!(remotes, [INTERNET], "{expected:?}");
        for (service, (up, down)) in Sent::of(host).by_service() {
            let (counted_up, counted_down) = expected.device_services[&(host.ip, service)];
            assert!(
                counted_up >= up && counted_down >= down,
                "{} {service}: counted ({counted_up}, {counted_down}) below the payloads ({up}, {down})",
                host.ip
            );
        }
    }

    // Live, from memory: the devices now; the answers of the endpoints still being written
    // are taken now and checked after the devices' part (so that part runs whatever they say).
    check_devices(&monitor, &expected, iface, "live");
    // `/metrics` counts since the start: live only.
    let live_answers: Vec<(String, Answer)> = lead_targets(iface)
        .into_iter()
        .chain(["/metrics".to_string()])
        .map(|target| {
            let answer = monitor.get(&target);
            (target, answer)
        })
        .collect();

    // Committed at the stop, read back from the history file by a new monitor.
    monitor.stop();
    let monitor = start_monitor(&lab, &db, &names);
    check_devices(&monitor, &expected, iface, "after a restart");

    // --- /api/services and /api/top_ips?device= (issue 14, being written by the lead). ---
    for (target, answer) in live_answers {
        check_lead_answer(&target, &answer, &expected, iface, "live");
    }
    for target in lead_targets(iface) {
        let answer = monitor.get(&target);
        check_lead_answer(&target, &answer, &expected, iface, "after a restart");
    }
    monitor.stop();
}

fn start_monitor(lab: &Lab, db: &Path, names: &str) -> Monitor {
    let mut monitor = Monitor::start(
        &lab.netns,
        &lab.monitor,
        lab.capture,
        db,
        &[
            ("DEVICE_NAMES", names),
            ("AUTO_LOCAL_PREFIXES", "true"),
            ("REVERSE_DNS", "true"),
        ],
    );
    monitor.wait_ready(lab.capture);
    monitor
}

/// Today's totals, `/api/query`, and `/api/devices`: bytes, names, MAC addresses; the devices
/// add up to the interface's totals.
fn check_devices(monitor: &Monitor, expected: &Reference, iface: &str, phase: &str) {
    // Frames reach the counters within a ring block's retire timeout: wait for the last.
    let summary = poll(monitor, "/api/summary", |s| {
        bytes_of(&s["today"]) == expected.total
    });
    assert_eq!(
        bytes_of(&summary["today"]),
        expected.total,
        "{phase}: today's totals; health {}; log:\n{}",
        json_of(monitor, "/api/health"),
        monitor.log()
    );
    let day = today();
    let query = json_of(monitor, &format!("/api/query?start={day}&end={day}"));
    assert_eq!(
        bytes_of(&query["summary"]),
        expected.total,
        "{phase}: {query}"
    );

    // The PTR name arrives on a later answer than the first.
    let named = |answer: &Value| {
        answer["devices"]
            .as_array()
            .is_some_and(|list| list.iter().all(|d| d.get("name").is_some()))
    };
    let answer = poll(monitor, "/api/devices", named);
    let listed = rows(&answer["devices"], "ip");
    assert_list(
        &listed,
        expected.devices.iter().map(|(ip, bytes)| (ip, *bytes)),
        &format!("{phase}: /api/devices: {answer}"),
    );
    for host in &HOSTS {
        let entry = answer["devices"]
            .as_array()
            .and_then(|list| list.iter().find(|d| d["ip"] == host.ip.to_string()))
            .unwrap_or_else(|| panic!("{phase}: no {} in {answer}", host.ip));
        assert_eq!(entry["name"], host.name, "{phase}: {entry}");
        assert_eq!(entry["mac"], host.mac, "{phase}: {entry}");
    }
    assert_eq!(
        sum(&listed),
        expected.total,
        "{phase}: the devices add up to the interface total"
    );
    let ranged = json_of(
        monitor,
        &format!("/api/devices?start={day}&end={day}&iface={iface}"),
    );
    assert_eq!(ranged, answer, "{phase}: ?start, ?end and ?iface of today");
    // Each device's bytes of today, from what memory holds (`/api/query?device=` reads the
    // live devices, not the remote addresses).
    for (ip, bytes) in &expected.devices {
        let series = json_of(
            monitor,
            &format!("/api/query?start={day}&end={day}&device={ip}&iface={iface}"),
        );
        assert_eq!(
            bytes_of(&series["summary"]),
            *bytes,
            "{phase}: {ip}: {series}"
        );
    }
}

/// A device that sent nothing.
const SILENT: &str = "192.168.50.99";

/// What is asked of the endpoints being written by the lead.
fn lead_targets(iface: &str) -> Vec<String> {
    let mut targets = vec![
        "/api/services".to_string(),
        format!("/api/services?start={0}&end={0}&iface={iface}", today()),
    ];
    targets.extend(
        HOSTS
            .iter()
            .map(|h| format!("/api/top_ips?device={}", h.ip)),
    );
    targets.push(format!("/api/top_ips?device={SILENT}"));
    targets
}

/// `/api/services`: ids, labels and bytes of exactly the services sent (absent, not
/// zero-filled), adding up to the totals. `/api/top_ips?device=`: the one remote address of that
/// device with that device's bytes; none for a device without traffic.
fn check_lead_answer(
    target: &str,
    answer: &Answer,
    expected: &Reference,
    iface: &str,
    phase: &str,
) {
    assert_eq!(answer.status, 200, "{phase}: {target}: {}", answer.text());
    if target == "/metrics" {
        check_service_metrics(&answer.text(), expected, iface);
        return;
    }
    let json = answer.json();
    let context = format!("{phase}: {target}: {json}");
    if target.starts_with("/api/services") {
        let listed = rows(&json["services"], "service");
        assert_list(
            &listed,
            expected.services.iter().map(|(s, bytes)| (s, *bytes)),
            &context,
        );
        for row in json["services"].as_array().expect("services") {
            let service = row["service"].as_str().expect("service");
            assert_eq!(row["label"], labels(service), "{context}");
        }
        assert_eq!(
            sum(&listed),
            expected.total,
            "{context}: the services add up to the total"
        );
    } else {
        let device = target.rsplit('=').next().expect("a device");
        let remotes: Vec<(Ipv4Addr, Bytes)> = expected
            .device_remotes
            .iter()
            .filter(|((d, _), _)| d.to_string() == device)
            .map(|((_, remote), bytes)| (*remote, *bytes))
            .collect();
        assert_list(&rows(&json["top_ips"], "ip"), remotes, &context);
    }
}

/// `nettraffic_service_{transmit,receive}_bytes_total{device=IFACE,service=…}`: the bytes of
/// exactly the services sent.
fn check_service_metrics(text: &str, expected: &Reference, iface: &str) {
    let mut counted: BTreeMap<String, Bytes> = BTreeMap::new();
    for line in text.lines() {
        for (family, up) in [
            ("nettraffic_service_transmit_bytes_total{", true),
            ("nettraffic_service_receive_bytes_total{", false),
        ] {
            let Some(rest) = line.strip_prefix(family) else {
                continue;
            };
            let (labels, value) = rest
                .split_once("} ")
                .unwrap_or_else(|| panic!("a metric line: {line}"));
            assert!(
                labels.starts_with(&format!("device=\"{iface}\",")),
                "only {iface} is captured: {line}"
            );
            let service = labels
                .split_once("service=\"")
                .and_then(|(_, rest)| rest.split_once('"'))
                .map(|(service, _)| service.to_string())
                .unwrap_or_else(|| panic!("no service label: {line}"));
            let value: u64 = value.parse().unwrap_or_else(|_| panic!("a number: {line}"));
            add(counted.entry(service).or_default(), up, value);
        }
    }
    let wanted: BTreeMap<String, Bytes> = expected
        .services
        .iter()
        .map(|(service, bytes)| (service.to_string(), *bytes))
        .collect();
    assert_eq!(counted, wanted, "live: /metrics by service:\n{text}");
}

/// Today's date in UTC (the monitor's `TZ`).
fn today() -> String {
    jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date()
        .to_string()
}

tests! {
    #[needs(Netns, Tool("tcpdump"), Tool("dnsmasq"), Tool("kill"))]
    three_lan_hosts_behind_a_routing_bridge,
    #[needs(Netns, Tool("tcpdump"), Tool("dnsmasq"), Tool("kill"))]
    three_lan_hosts_bridged_onto_the_captured_port,
}
