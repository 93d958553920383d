//! The real monitor and its history file, end to end (root: network namespaces, tcpreplay).
//!
//! A hand-built capture is replayed into a veth pair: 200 frames of IP length 500 from the LAN to
//! 203.0.113.9 (up 100,000 bytes) and 100 frames of IP length 1000 from 198.51.100.7 (down
//! 100,000 bytes). After SIGTERM the file holds exactly that; a second run continues it; and a
//! `kill -9` after a periodic commit leaves a file that opens with everything that commit held.
//!
//! Crashes while traffic flows: namespace a sends UDP through the veth pair without pause (up to
//! 203.0.113.9, down from 198.51.100.7), noting what has left every 10 ms, while twenty monitors on
//! twenty namespace pairs are killed with SIGKILL five times each at moments spread over two
//! `SAVE_INTERVAL`s. After each kill the file must open, the stored total may not exceed what was
//! sent, and everything sent more than one interval (plus a stated tolerance) before the kill must
//! be stored.
//!
//! Faults while running: the history on a tmpfs that fills up, and on an ext4 file system the
//! kernel turns read-only after an error. Each failed commit logs one line naming the reason, the
//! monitor keeps running and counting, and once the file system is fixed it catches up: after
//! SIGTERM it holds exactly what was sent.

use std::fs::File;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jiff::civil::Date;
use nettraffic_sentinel::clock::Zone;
use nettraffic_sentinel::count::UpDown;
use nettraffic_sentinel::store::{Scope, Store};

use crate::support::disk::{Ext4, Tmpfs};
use crate::support::netns::{Netns, ip, run_ok, wait_until};
use crate::support::web::in_namespace;
use crate::support::{
    ETHERTYPE_IPV4, PCAP_MAGIC_MICROSECONDS, PcapWriter, TempDir, eth, ipv4_packet,
};

const UP: u64 = 200 * 500;
const DOWN: u64 = 100 * 1000;

fn capture() -> Vec<u8> {
    let mut writer = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 1);
    let up = eth(
        ETHERTYPE_IPV4,
        &ipv4_packet("192.168.1.2", "203.0.113.9", 480),
    );
    let down = eth(
        ETHERTYPE_IPV4,
        &ipv4_packet("198.51.100.7", "192.168.1.2", 980),
    );
    for i in 0..300u32 {
        let frame = if i % 3 == 2 { &down } else { &up };
        writer = writer.record(1_700_000_000, i, frame.len() as u32, frame);
    }
    writer.finish()
}

struct Lab {
    lab: Netns,
    a: String,
    b: String,
    dir: TempDir,
    capture: PathBuf,
    db: PathBuf,
}

fn lab(label: &str) -> Lab {
    let mut lab = Netns::new(label);
    let a = lab.add("a");
    let b = lab.add("b");
    lab.veth((&a, "va"), (&b, "vb"));
    let dir = TempDir::new(label);
    let capture = dir.write("flow.pcap", &capture());
    let db = dir.path().join("data").join("traffic.redb");
    Lab {
        lab,
        a,
        b,
        dir,
        capture,
        db,
    }
}

/// The monitor on vb, logging to a file; returns once it is capturing.
fn start(lab: &Lab, save_interval: &str, run: usize) -> (Child, PathBuf) {
    let log = lab.dir.path().join(format!("monitor-{run}.log"));
    let child = start_monitor(&lab.lab, &lab.b, &lab.db, save_interval, &log);
    (child, log)
}

/// The real monitor on `vb` in namespace `b` with its history at `db` and its log in `log`;
/// returns once it is capturing.
fn start_monitor(netns: &Netns, b: &str, db: &Path, save_interval: &str, log: &Path) -> Child {
    let mut command = netns.exec(b, env!("CARGO_BIN_EXE_nettraffic-sentinel"));
    command
        .arg("run")
        .env("MONITOR_IFACE", "vb")
        .env("TZ", "UTC")
        .env("DB_PATH", db)
        .env("SAVE_INTERVAL", save_interval)
        .env("AUTO_LOCAL_PREFIXES", "false")
        .env("LOG_LEVEL", "debug")
        .env_remove("LOCAL_PREFIXES")
        .env_remove("EXCLUDE_IPV6_PREFIX")
        .env_remove("WEB_PORT")
        .env_remove("WEB_BIND")
        .env_remove("WEB_AUTH")
        .env_remove("TOP_IPS_PER_DAY")
        .env_remove("CAPTURE_WORKERS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(log).expect("log file"));
    let child = command.spawn().expect("start the monitor");
    wait_for_log(log, "interface vb: capturing");
    child
}

fn wait_for_log(log: &Path, needle: &str) {
    let start = Instant::now();
    while !std::fs::read_to_string(log)
        .unwrap_or_default()
        .contains(needle)
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no '{needle}' in the log: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stop(mut child: Child, log: &Path) {
    let pid = child.id().to_string();
    run_ok(
        Command::new("kill").args(["-TERM", &pid]),
        Duration::from_secs(5),
    );
    let status = wait_until(&mut child, Duration::from_secs(5)).unwrap_or_else(|| {
        let _ = child.kill();
        panic!(
            "still running 5 s after SIGTERM: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        )
    });
    assert!(
        status.success(),
        "exit {status}: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// Totals over yesterday and today (UTC), all interfaces and vb, and the top two addresses.
fn stored(db: &Path) -> (UpDown, UpDown, Vec<(String, UpDown)>) {
    let store = Store::open(db, Zone::utc(), 1000).expect("the history opens");
    let read = store.read_stored().expect("read");
    let today = Zone::utc().date_of(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
    );
    let yesterday = today.yesterday().unwrap_or(Date::MIN);
    let all = read.totals(&Scope::All, yesterday, today).expect("totals");
    let vb = read
        .totals(&Scope::Interface("vb".into()), yesterday, today)
        .expect("totals");
    let top = read
        .top_remotes(&Scope::All, yesterday, today, 10)
        .expect("top")
        .into_iter()
        .map(|t| (t.addr.to_string(), t.bytes))
        .collect();
    (all, vb, top)
}

fn ud(up: u64, down: u64) -> UpDown {
    UpDown { up, down }
}

fn sigterm_commits_everything_and_a_restart_continues() {
    let lab = lab("store-term");
    for run in 1..=2u64 {
        let (child, log) = start(&lab, "3600", run as usize);
        lab.lab.replay(&lab.a, "va", &lab.capture);
        stop(child, &log);
        let (all, vb, top) = stored(&lab.db);
        assert_eq!(all, ud(run * UP, run * DOWN), "run {run}");
        assert_eq!(vb, ud(run * UP, run * DOWN), "run {run}");
        assert_eq!(
            top,
            // Equal totals: ordered by address.
            [
                ("198.51.100.7".to_string(), ud(0, run * DOWN)),
                ("203.0.113.9".to_string(), ud(run * UP, 0)),
            ],
            "run {run}"
        );
    }
}

fn kill_9_after_a_periodic_commit_keeps_that_commit() {
    let lab = lab("store-kill");
    let (mut child, log) = start(&lab, "10", 1);
    lab.lab.replay(&lab.a, "va", &lab.capture);
    // The first periodic commit after the replay (10 s after start) holds all of it.
    wait_for_log(&log, "committed");
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    let (all, vb, _) = stored(&lab.db);
    assert_eq!(all, ud(UP, DOWN));
    assert_eq!(vb, ud(UP, DOWN));
}

// ---------------------------------------------------------------------------------------------
// Real traffic for as long as a test wants: UDP from namespace a through the veth pair
// ---------------------------------------------------------------------------------------------

/// vb's MAC address, so namespace a can address frames to it without ARP (nothing in b answers).
const VB_MAC: &str = "02:00:00:00:00:0b";
/// Namespace a's LAN address: uploads go from here to [`INTERNET`].
const LAN: &str = "192.168.77.1";
/// A public address of namespace a: downloads go from here to [`LAN_PEER`].
const INTERNET_SOURCE: &str = "198.51.100.7";
const INTERNET: &str = "203.0.113.9";
const LAN_PEER: &str = "192.168.77.2";
/// IP lengths of the two kinds of datagram (20-byte IPv4 header + 8-byte UDP header + payload).
const UP_PACKET: u64 = 1000;
const DOWN_PACKET: u64 = 500;
/// Datagrams of each kind per tick, and the tick: 500 packets/s each way, 0.75 MB/s.
const PER_TICK: u64 = 5;
const TICK: Duration = Duration::from_millis(10);

/// Namespace a as a LAN host whose traffic to and from "the internet" passes vb.
fn wire(a: &str, b: &str) {
    ip(&["-n", b, "link", "set", "vb", "address", VB_MAC]);
    ip(&["-n", a, "addr", "add", &format!("{LAN}/24"), "dev", "va"]);
    ip(&[
        "-n",
        a,
        "addr",
        "add",
        &format!("{INTERNET_SOURCE}/32"),
        "dev",
        "va",
    ]);
    ip(&["-n", a, "route", "add", "203.0.113.0/24", "dev", "va"]);
    for neighbour in [INTERNET, LAN_PEER] {
        ip(&[
            "-n",
            a,
            "neigh",
            "add",
            neighbour,
            "lladdr",
            VB_MAC,
            "dev",
            "va",
            "nud",
            "permanent",
        ]);
    }
}

/// Cumulative IP bytes sent by a [`Flow`] when a burst had left.
#[derive(Clone, Copy, Debug)]
struct Sent {
    at: Instant,
    bytes: UpDown,
}

/// Two UDP sockets made in namespace a (a socket stays in the namespace it was made in, so the
/// test's threads send from there without joining it).
struct Traffic {
    up: UdpSocket,
    down: UdpSocket,
}

impl Traffic {
    fn new(a: &str) -> Traffic {
        let (up, down) = in_namespace(a, || {
            (
                UdpSocket::bind((LAN, 0)).expect("bind the LAN address"),
                UdpSocket::bind((INTERNET_SOURCE, 0)).expect("bind the public address"),
            )
        });
        Traffic { up, down }
    }

    /// Send a burst each tick until [`Flow::finish`], noting what has left after each.
    fn start(&self) -> Flow {
        let up = self.up.try_clone().expect("socket");
        let down = self.down.try_clone().expect("socket");
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let up_payload = vec![0u8; UP_PACKET as usize - 28];
                let down_payload = vec![0u8; DOWN_PACKET as usize - 28];
                let started = Instant::now();
                let mut sent = UpDown::default();
                let mut log = vec![Sent {
                    at: started,
                    bytes: sent,
                }];
                for tick in 1u32.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    for _ in 0..PER_TICK {
                        if up.send_to(&up_payload, (INTERNET, 9)).is_ok() {
                            sent.up += UP_PACKET;
                        }
                        if down.send_to(&down_payload, (LAN_PEER, 9)).is_ok() {
                            sent.down += DOWN_PACKET;
                        }
                    }
                    log.push(Sent {
                        at: Instant::now(),
                        bytes: sent,
                    });
                    let next = started + TICK * tick;
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                }
                log
            })
        };
        Flow { stop, thread }
    }
}

/// Traffic being sent.
struct Flow {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Sent>>,
}

impl Flow {
    /// Stop sending; every burst with the cumulative bytes after it, the last one the total.
    fn finish(self) -> Vec<Sent> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the sending thread")
    }
}

/// What had been sent by `moment`.
fn sent_by(log: &[Sent], moment: Instant) -> UpDown {
    log.iter()
        .take_while(|sent| sent.at <= moment)
        .last()
        .map_or_else(UpDown::default, |sent| sent.bytes)
}

/// The last moment by which everything sent is in `stored`.
fn stored_up_to(log: &[Sent], stored: UpDown) -> Instant {
    log.iter()
        .take_while(|sent| sent.bytes.up <= stored.up && sent.bytes.down <= stored.down)
        .last()
        .map_or(log[0].at, |sent| sent.at)
}

fn minus(a: UpDown, b: UpDown) -> UpDown {
    UpDown {
        up: a.up - b.up,
        down: a.down - b.down,
    }
}

/// A pair of namespaces with the veth pair wired for [`Traffic`], and a directory.
fn traffic_lab(label: &str) -> (Netns, String, String, TempDir) {
    let mut lab = Netns::new(label);
    let a = lab.add("a");
    let b = lab.add("b");
    lab.veth((&a, "va"), (&b, "vb"));
    wire(&a, &b);
    (lab, a, b, TempDir::new(label))
}

// ---------------------------------------------------------------------------------------------
// kill -9 at random moments while traffic flows
// ---------------------------------------------------------------------------------------------

/// SAVE_INTERVAL of the crash rounds: the smallest the monitor accepts.
const INTERVAL: Duration = Duration::from_secs(10);
/// Monitors killed side by side (each on its own namespace pair and history file), and rounds
/// of each: 100 kills in about a minute although each round lives up to two intervals.
const LABS: usize = 20;
const ROUNDS_PER_LAB: usize = 5;
/// How much more than one interval of traffic a kill may lose. A commit stores what memory held
/// when it began, and the next begins one interval after it ended, so a kill just before a
/// commit becomes durable loses one interval plus two commits' durations (each two `fsync`s)
/// plus what the ring had not yet handed to the workers (its blocks retire after at most 100 ms).
/// One second covers that on a loaded two-core machine with room to spare.
const TOLERANCE: Duration = Duration::from_secs(1);

/// What one lab saw: the worst loss (as time of traffic) and the rounds that had a commit.
struct LabOutcome {
    worst_loss: Duration,
    worst_loss_bytes: u64,
    rounds_with_commits: usize,
}

fn crash_lab(index: usize) -> LabOutcome {
    let (lab, a, b, dir) = traffic_lab(&format!("kill{index}"));
    let db = dir.path().join("data").join("traffic.redb");
    let traffic = Traffic::new(&a);
    let mut seed = (u64::from(std::process::id()) << 8 | index as u64) | 1;
    let mut stored_before = UpDown::default();
    let mut sent_before = UpDown::default();
    let mut outcome = LabOutcome {
        worst_loss: Duration::ZERO,
        worst_loss_bytes: 0,
        rounds_with_commits: 0,
    };
    for round in 0..ROUNDS_PER_LAB {
        // xorshift; the kill moments are spread evenly over 0 to 2 intervals (one random moment
        // in each fifth), so every lab kills before, around and after its first commit.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let fraction = (round as f64 + (seed % 1000) as f64 / 1000.0) / ROUNDS_PER_LAB as f64;
        let kill_after = INTERVAL.mul_f64(2.0 * fraction);
        let log = dir.path().join(format!("monitor-{round}.log"));
        let mut child = start_monitor(&lab, &b, &db, &INTERVAL.as_secs().to_string(), &log);
        let flow = traffic.start();
        std::thread::sleep(kill_after);
        let _ = child.kill(); // SIGKILL
        let killed = Instant::now();
        let _ = child.wait();
        let sent = flow.finish();
        let context = || {
            format!(
                "lab {index} round {round} (killed {kill_after:?} after start): {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        };
        // The file always opens (the next round's monitor opens it too).
        let (all, vb, top) = stored(&db);
        assert_eq!(all, vb, "one interface: both scopes alike; {}", context());
        let stored_now = minus(all, stored_before);
        let sent_now = sent.last().map_or_else(UpDown::default, |s| s.bytes);
        assert!(
            stored_now.up <= sent_now.up && stored_now.down <= sent_now.down,
            "stored {stored_now:?} exceeds what was sent, {sent_now:?}; {}",
            context()
        );
        let must = sent_by(
            &sent,
            killed.checked_sub(INTERVAL + TOLERANCE).unwrap_or(killed),
        );
        let must = if killed < sent[0].at + INTERVAL + TOLERANCE {
            UpDown::default()
        } else {
            must
        };
        assert!(
            stored_now.up >= must.up && stored_now.down >= must.down,
            "stored {stored_now:?} lost more than one interval: {must:?} had been sent {:?} \
             before the kill; {}",
            INTERVAL + TOLERANCE,
            context()
        );
        // The address lists never exceed the truth either.
        let sent_total = UpDown {
            up: sent_before.up + sent_now.up,
            down: sent_before.down + sent_now.down,
        };
        for (address, bytes) in &top {
            let limit = match address.as_str() {
                INTERNET => ud(sent_total.up, 0),
                INTERNET_SOURCE => ud(0, sent_total.down),
                other => panic!("a remote address nobody sent to: {other}; {}", context()),
            };
            assert!(
                bytes.up <= limit.up && bytes.down <= limit.down,
                "{address}: {bytes:?} stored, at most {limit:?} sent; {}",
                context()
            );
        }
        if stored_now != UpDown::default() {
            outcome.rounds_with_commits += 1;
        }
        let loss = killed.saturating_duration_since(stored_up_to(&sent, stored_now));
        outcome.worst_loss = outcome.worst_loss.max(loss);
        let lost_bytes = sent_by(&sent, killed).total() - stored_now.total();
        outcome.worst_loss_bytes = outcome.worst_loss_bytes.max(lost_bytes);
        stored_before = all;
        sent_before = sent_total;
    }
    outcome
}

fn kill_9_at_random_moments_while_traffic_flows_loses_at_most_one_interval() {
    let started = Instant::now();
    let outcomes: Vec<LabOutcome> = std::thread::scope(|scope| {
        let labs: Vec<_> = (0..LABS)
            .map(|index| scope.spawn(move || crash_lab(index)))
            .collect();
        labs.into_iter()
            .map(|lab| lab.join().expect("a lab failed (see its panic above)"))
            .collect()
    });
    let rounds = LABS * ROUNDS_PER_LAB;
    let with_commits: usize = outcomes.iter().map(|o| o.rounds_with_commits).sum();
    let worst = outcomes
        .iter()
        .map(|o| o.worst_loss)
        .max()
        .unwrap_or_default();
    let worst_bytes = outcomes
        .iter()
        .map(|o| o.worst_loss_bytes)
        .max()
        .unwrap_or_default();
    eprintln!(
        "{rounds} kill -9 rounds of the real monitor ({LABS} in parallel) in {:.0?}: {with_commits} \
         had committed before the kill; worst loss {worst:.2?} of traffic ({worst_bytes} bytes), \
         allowed {:?}",
        started.elapsed(),
        INTERVAL + TOLERANCE
    );
    // Kills are spread over two intervals: about half of the rounds outlive the first commit.
    assert!(
        with_commits >= rounds / 4,
        "only {with_commits} of {rounds} rounds stored anything"
    );
}

// ---------------------------------------------------------------------------------------------
// Faults while the monitor runs
// ---------------------------------------------------------------------------------------------

/// How many lines of `log` contain `needle`.
fn log_lines(log: &Path, needle: &str) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains(needle))
        .count()
}

/// Wait until `log` has `count` lines with `needle`, the monitor staying alive meanwhile.
fn wait_for_lines(child: &mut Child, log: &Path, needle: &str, count: usize, limit: Duration) {
    let start = Instant::now();
    while log_lines(log, needle) < count {
        assert!(
            child.try_wait().expect("poll").is_none(),
            "the monitor stopped: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        assert!(
            start.elapsed() < limit,
            "not {count} lines with '{needle}' within {limit:?}: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

const FAILED: &str = "could not save the counts to";
const RECOVERED: &str = "again after";

/// The monitor runs with its history at `db` while traffic flows; once a commit has succeeded,
/// `break_it` breaks the file system and two intervals pass; then `fix` repairs it. Every failed
/// commit must say `reason`, once per interval; the monitor must keep running, store everything
/// once the file system works again, and after SIGTERM hold exactly what was sent.
fn survives(label: &str, db: &Path, reason: &str, break_it: impl FnOnce(), fix: impl FnOnce()) {
    let (lab, a, b, dir) = traffic_lab(label);
    let traffic = Traffic::new(&a);
    let log = dir.path().join("monitor.log");
    let mut child = start_monitor(&lab, &b, db, &INTERVAL.as_secs().to_string(), &log);
    let flow = traffic.start();
    let limit = INTERVAL * 3;
    wait_for_lines(&mut child, &log, "committed", 1, limit);
    break_it();
    let broken = Instant::now();
    wait_for_lines(&mut child, &log, FAILED, 2, limit);
    fix();
    let failed_for = broken.elapsed();
    wait_for_lines(&mut child, &log, RECOVERED, 1, limit);
    let sent = flow.finish();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let failures: Vec<&str> = text.lines().filter(|l| l.contains(FAILED)).collect();
    for line in &failures {
        assert!(line.contains(reason), "the reason is named: {line}");
    }
    // One line per interval: the failures fit the intervals from breaking to the recovery.
    let intervals = (failed_for + INTERVAL).as_secs_f64() / INTERVAL.as_secs_f64();
    assert!(
        failures.len() as f64 <= intervals.ceil(),
        "{} failure lines in {failed_for:?}: {text}",
        failures.len()
    );
    // Let the ring hand over the last frames, then stop cleanly: nothing may be missing.
    std::thread::sleep(Duration::from_millis(300));
    stop(child, &log);
    let total = sent.last().map_or_else(UpDown::default, |s| s.bytes);
    let (all, vb, top) = stored(db);
    assert_eq!(all, total, "everything sent is stored once: {text}");
    assert_eq!(vb, total);
    assert_eq!(
        top,
        [
            (INTERNET.to_string(), ud(total.up, 0)),
            (INTERNET_SOURCE.to_string(), ud(0, total.down)),
        ]
    );
}

/// Both faults at once, side by side (each waits out several intervals).
fn a_full_disk_or_a_file_system_gone_read_only_is_retried_each_interval_and_caught_up() {
    std::thread::scope(|scope| {
        let full = scope.spawn(a_full_disk);
        let read_only = scope.spawn(a_file_system_gone_read_only);
        full.join().expect("full disk (see the panic above)");
        read_only
            .join()
            .expect("read-only file system (see the panic above)");
    });
}

fn a_full_disk() {
    let dir = TempDir::new("store-full-disk");
    let tmpfs = Tmpfs::mount(dir.path(), "8m");
    let db = tmpfs.path().join("data").join("traffic.redb");
    let filler = std::cell::RefCell::new(None);
    survives(
        "full",
        &db,
        "No space left on device",
        || *filler.borrow_mut() = Some(tmpfs.fill()),
        || {
            if let Some(filler) = filler.borrow_mut().take() {
                std::fs::remove_file(filler).expect("free the space");
            }
        },
    );
}

fn a_file_system_gone_read_only() {
    let dir = TempDir::new("store-read-only");
    let ext4 = std::cell::RefCell::new(Ext4::mount(dir.path(), 32));
    let db = ext4.borrow().path().join("data").join("traffic.redb");
    survives(
        "rofs",
        &db,
        "Read-only file system",
        || ext4.borrow().fail(),
        || ext4.borrow_mut().repair(),
    );
}

tests! {
    #[needs(Netns, Tool("tcpreplay"), Tool("kill"))]
    sigterm_commits_everything_and_a_restart_continues,
    #[needs(Netns, Tool("tcpreplay"))]
    kill_9_after_a_periodic_commit_keeps_that_commit,
    #[needs(Netns, Tool("kill"))]
    kill_9_at_random_moments_while_traffic_flows_loses_at_most_one_interval,
    #[needs(Netns, Tool("kill"), Tool("mount"), Tool("mkfs.ext4"), Tool("e2fsck"))]
    a_full_disk_or_a_file_system_gone_read_only_is_retried_each_interval_and_caught_up,
}
