//! The real monitor and its history file, end to end (root: network namespaces, tcpreplay).
//!
//! A hand-built capture is replayed into a veth pair: 200 frames of IP length 500 from the LAN to
//! 203.0.113.9 (up 100,000 bytes) and 100 frames of IP length 1000 from 198.51.100.7 (down
//! 100,000 bytes). After SIGTERM the file holds exactly that; a second run continues it; and a
//! `kill -9` after a periodic commit leaves a file that opens with everything that commit held.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jiff::civil::Date;
use nettraffic_sentinel::clock::Zone;
use nettraffic_sentinel::count::UpDown;
use nettraffic_sentinel::store::{Scope, Store};

mod common;
use common::netns::{Netns, require_root, run_ok, wait_until};
use common::{ETHERTYPE_IPV4, PCAP_MAGIC_MICROSECONDS, PcapWriter, TempDir, eth, ipv4_packet};

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
    require_root();
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
    let mut command = lab
        .lab
        .exec(&lab.b, env!("CARGO_BIN_EXE_nettraffic-sentinel"));
    command
        .arg("run")
        .env("MONITOR_IFACE", "vb")
        .env("TZ", "UTC")
        .env("DB_PATH", &lab.db)
        .env("SAVE_INTERVAL", save_interval)
        .env("AUTO_LOCAL_PREFIXES", "false")
        .env("LOG_LEVEL", "debug")
        .env_remove("LOCAL_PREFIXES")
        .env_remove("EXCLUDE_IPV6_PREFIX")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&log).expect("log file"));
    let child = command.spawn().expect("start the monitor");
    wait_for_log(&log, "interface vb: capturing");
    (child, log)
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

#[test]
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

#[test]
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
