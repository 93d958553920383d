//! `migrate-sqlite` end to end: a database made by Python's sqlite3 with the original's exact
//! schema, migrated by the real binary into a real redb file; a second run doubles nothing and a
//! third takes only what a row gained meanwhile (the original kept running).

use std::path::Path;
use std::process::{Command, Output};

use jiff::civil::Date;
use nettraffic_sentinel::clock::Zone;
use nettraffic_sentinel::count::UpDown;
use nettraffic_sentinel::store::{Granularity, Scope, Store};

mod common;
use common::TempDir;

/// The original's schema, verbatim from its README, and three rows.
const CREATE: &str = r#"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript('''
CREATE TABLE traffic_hourly (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    hour_ts    TEXT NOT NULL UNIQUE,
    up_bytes   INTEGER NOT NULL DEFAULT 0,
    down_bytes INTEGER NOT NULL DEFAULT 0,
    created_at TEXT,
    updated_at TEXT
);
CREATE VIEW traffic_daily AS
SELECT substr(hour_ts, 1, 10) AS day, SUM(up_bytes) AS up_bytes, SUM(down_bytes) AS down_bytes,
       SUM(up_bytes + down_bytes) AS total_bytes
FROM traffic_hourly GROUP BY substr(hour_ts, 1, 10);
CREATE VIEW traffic_monthly AS
SELECT substr(hour_ts, 1, 7) AS month, SUM(up_bytes) AS up_bytes, SUM(down_bytes) AS down_bytes,
       SUM(up_bytes + down_bytes) AS total_bytes
FROM traffic_hourly GROUP BY substr(hour_ts, 1, 7);
''')
db.executemany("INSERT INTO traffic_hourly (hour_ts, up_bytes, down_bytes, created_at, updated_at) VALUES (?, ?, ?, datetime('now'), datetime('now'))", [
    ('2024-08-15 13:00:00', 1000, 2000),
    ('2024-08-15 14:00:00', 5, 0),
    ('2024-08-16 00:00:00', 7, 7),
])
db.commit()
"#;

fn migrate(db: &Path, old: &Path) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"))
        .arg("migrate-sqlite")
        .arg(old)
        .env("DB_PATH", db)
        .env("TZ", "Asia/Shanghai")
        .output()
        .expect("run migrate-sqlite");
    eprintln!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn ud(up: u64, down: u64) -> UpDown {
    UpDown { up, down }
}

/// Daily totals of 2024-08-15 and 2024-08-16, and the 13:00 hour of the 15th, in Shanghai.
fn stored(db: &Path) -> (UpDown, UpDown, UpDown) {
    let store = Store::open(db, Zone::named("Asia/Shanghai").expect("zone"), 10).expect("open");
    let read = store.read_stored().expect("read");
    let days = read
        .series(
            &Scope::All,
            Date::constant(2024, 8, 15),
            Date::constant(2024, 8, 16),
            Granularity::Day,
        )
        .expect("days");
    let hour = read
        .series(
            &Scope::All,
            Date::constant(2024, 8, 15),
            Date::constant(2024, 8, 15),
            Granularity::Hour,
        )
        .expect("hours")
        .into_iter()
        .find(|p| p.label == "2024-08-15 13:00")
        .expect("the 13:00 hour")
        .bytes;
    (days[0].bytes, days[1].bytes, hour)
}

#[test]
fn the_originals_history_is_migrated_once_and_then_only_what_grew() {
    let dir = TempDir::new("store-migrate");
    let old = dir.path().join("traffic.db");
    let status = Command::new("python3")
        .args(["-c", CREATE])
        .arg(&old)
        .status()
        .expect("python3 runs");
    assert!(status.success());
    let db = dir.path().join("traffic.redb");

    let output = migrate(&db, &old);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("3 rows read, 3 taken"), "{stdout}");
    assert!(stdout.contains("(1012 and 2007 bytes)"), "{stdout}");
    // 13:00 + 14:00 on the 15th, 00:00 on the 16th (local).
    let expected = (ud(1005, 2000), ud(7, 7), ud(1000, 2000));
    assert_eq!(stored(&db), expected);

    let output = migrate(&db, &old);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("0 taken (3 already migrated)"), "{stdout}");
    assert_eq!(stored(&db), expected, "running it twice doubles nothing");

    // The original went on counting: 14:00 grew from 5 to 50 bytes up.
    let status = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; d=sqlite3.connect(sys.argv[1]); d.execute(\"UPDATE traffic_hourly SET up_bytes=50 WHERE hour_ts='2024-08-15 14:00:00'\"); d.commit()",
        ])
        .arg(&old)
        .status()
        .expect("python3 runs");
    assert!(status.success());
    let output = migrate(&db, &old);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("1 taken"), "{stdout}");
    assert!(stdout.contains("(45 and 0 bytes)"), "{stdout}");
    assert_eq!(stored(&db), (ud(1050, 2000), ud(7, 7), ud(1000, 2000)));

    // Not the original's database: one sentence, exit 1.
    let junk = dir.write("junk.db", b"not sqlite");
    let output = migrate(&db, &junk);
    assert_eq!(output.status.code(), Some(1));
}
