//! `import` end to end: the real binary counts a hand-built capture into a real redb file by the
//! packets' own timestamps (1970 included), and importing the same content again adds nothing.

use std::path::Path;
use std::process::{Command, Output};

use jiff::civil::Date;
use nettraffic_sentinel::clock::Zone;
use nettraffic_sentinel::count::UpDown;
use nettraffic_sentinel::store::{Granularity, Scope, Store};

mod common;
use common::{ETHERTYPE_IPV4, PCAP_MAGIC_MICROSECONDS, PcapWriter, TempDir, eth, ipv4_packet};

/// 2024-06-15 10:00:00 UTC.
const JUNE: i64 = 1_718_445_600;

fn import(db: &Path, files: &[&Path]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"))
        .arg("import")
        .args(files)
        .env("DB_PATH", db)
        .env("TZ", "UTC")
        .env("TOP_IPS_PER_DAY", "10")
        .env_remove("LOCAL_PREFIXES")
        .env_remove("EXCLUDE_IPV6_PREFIX")
        .output()
        .expect("run import");
    eprintln!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn capture() -> Vec<u8> {
    let frames = [
        // 1970-01-01 00:00:00: LAN → internet, IP length 100: up 100.
        (
            0u32,
            eth(
                ETHERTYPE_IPV4,
                &ipv4_packet("192.168.1.2", "203.0.113.9", 80),
            ),
        ),
        // 2024-06-15 10:00:05: internet → LAN, IP length 200: down 200.
        (
            JUNE as u32 + 5,
            eth(
                ETHERTYPE_IPV4,
                &ipv4_packet("198.51.100.7", "192.168.1.2", 180),
            ),
        ),
        // 2024-06-15 12:00:00: LAN → internet, IP length 50: up 50.
        (
            JUNE as u32 + 7200,
            eth(
                ETHERTYPE_IPV4,
                &ipv4_packet("192.168.1.2", "198.51.100.7", 30),
            ),
        ),
    ];
    let mut writer = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 1);
    for (second, frame) in &frames {
        writer = writer.record(*second, 0, frame.len() as u32, frame);
    }
    writer.finish()
}

fn ud(up: u64, down: u64) -> UpDown {
    UpDown { up, down }
}

/// Labelled hours with traffic, and the top addresses of one day.
type Labelled = Vec<(String, UpDown)>;

/// The nonzero hours, and the top addresses of 1970-01-01 and of 2024-06-15.
fn stored(db: &Path) -> (Labelled, Labelled, Labelled) {
    let store = Store::open(db, Zone::utc(), 10).expect("open");
    let read = store.read_stored().expect("read");
    let nonzero = |first: Date, last: Date| -> Vec<(String, UpDown)> {
        read.series(&Scope::All, first, last, Granularity::Hour)
            .expect("series")
            .into_iter()
            .filter(|p| p.bytes != UpDown::default())
            .map(|p| (p.label, p.bytes))
            .collect()
    };
    let mut hours = nonzero(Date::constant(1970, 1, 1), Date::constant(1970, 1, 1));
    hours.extend(nonzero(
        Date::constant(2024, 6, 15),
        Date::constant(2024, 6, 15),
    ));
    let top = |day: Date| -> Vec<(String, UpDown)> {
        read.top_remotes(&Scope::All, day, day, 10)
            .expect("top")
            .into_iter()
            .map(|t| (t.addr.to_string(), t.bytes))
            .collect()
    };
    (
        hours,
        top(Date::constant(1970, 1, 1)),
        top(Date::constant(2024, 6, 15)),
    )
}

#[test]
fn a_capture_is_imported_by_its_own_timestamps_and_only_once() {
    let dir = TempDir::new("store-import");
    let db = dir.path().join("history").join("t.redb");
    let file = dir.write("wan.pcap", &capture());
    let output = import(&db, &[&file]);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("imported 3 packets"));

    let expected_hours = vec![
        ("1970-01-01 00:00".to_string(), ud(100, 0)),
        ("2024-06-15 10:00".to_string(), ud(0, 200)),
        ("2024-06-15 12:00".to_string(), ud(50, 0)),
    ];
    let (hours, top_1970, top_2024) = stored(&db);
    assert_eq!(hours, expected_hours);
    assert_eq!(top_1970, [("203.0.113.9".to_string(), ud(100, 0))]);
    assert_eq!(top_2024, [("198.51.100.7".to_string(), ud(50, 200))]);

    // The same content under another name, beside a file that is no capture at all.
    let copy = dir.write("copy-of-wan.pcap", &capture());
    let junk = dir.write("notes.txt", b"not a capture file at all, just some text\n");
    let output = import(&db, &[&copy, &junk]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "one file could not be counted"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("already imported"), "{stdout}");
    assert!(stdout.contains("nothing added"), "{stdout}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("notes.txt"));
    assert_eq!(
        stored(&db),
        (expected_hours, top_1970, top_2024),
        "nothing doubled"
    );
}
