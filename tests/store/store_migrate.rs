//! `migrate-sqlite` end to end: a database made by Python's sqlite3 with the original's exact
//! schema, migrated by the real binary into a real redb file; a second run doubles nothing and a
//! third takes only what a row gained meanwhile (the original kept running).

use std::path::Path;
use std::process::{Command, Output};

use jiff::civil::Date;
use nettraffic_sentinel::clock::Zone;
use nettraffic_sentinel::count::UpDown;
use nettraffic_sentinel::store::{Granularity, Scope, Store};

use crate::support::TempDir;

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
    assert!(
        stdout.contains("0 taken (0 new, 0 changed since the last run), 3 already migrated"),
        "{stdout}"
    );
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

/// The original's schema in WAL journal mode with the three rows of [`CREATE`]; with
/// `keep-wal`, the process ends without closing, so the rows are committed in `-wal` only (as
/// when the original was stopped hard or still runs).
const CREATE_WAL: &str = r#"
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute('PRAGMA journal_mode=WAL')
db.execute('PRAGMA wal_autocheckpoint=0')
db.execute('''CREATE TABLE traffic_hourly (
    id INTEGER PRIMARY KEY AUTOINCREMENT, hour_ts TEXT NOT NULL UNIQUE,
    up_bytes INTEGER NOT NULL DEFAULT 0, down_bytes INTEGER NOT NULL DEFAULT 0,
    created_at TEXT, updated_at TEXT)''')
db.executemany("INSERT INTO traffic_hourly (hour_ts, up_bytes, down_bytes) VALUES (?, ?, ?)", [
    ('2024-08-15 13:00:00', 1000, 2000),
    ('2024-08-15 14:00:00', 5, 0),
    ('2024-08-16 00:00:00', 7, 7),
])
db.commit()
if sys.argv[2] == 'keep-wal':
    os._exit(0)
db.close()
"#;

fn python(script: &str, args: &[&Path]) {
    let status = Command::new("python3")
        .args(["-c", script])
        .args(args)
        .status()
        .expect("python3 runs");
    assert!(status.success());
}

/// Every entry of `dir` with its size and modification time.
fn listing(dir: &Path) -> Vec<(String, u64, std::time::SystemTime)> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| {
            let entry = entry.expect("entry");
            let meta = entry.metadata().expect("metadata");
            (
                entry.file_name().to_string_lossy().into_owned(),
                meta.len(),
                meta.modified().expect("mtime"),
            )
        })
        .collect();
    entries.sort();
    entries
}

fn a_wal_database_is_read_without_writing_beside_it_also_on_a_read_only_mount() {
    let dir = TempDir::new("store-migrate-wal");
    let expected = (ud(1005, 2000), ud(7, 7), ud(1000, 2000));

    // Cleanly closed, in WAL mode, on a writable disk: nothing may appear beside it.
    let clean = dir.path().join("clean");
    std::fs::create_dir(&clean).expect("mkdir");
    let old = clean.join("traffic.db");
    python(CREATE_WAL, &[&old, Path::new("close")]);
    let before = listing(&clean);
    let db = dir.path().join("clean.redb");
    let output = migrate(&db, &old);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        listing(&clean),
        before,
        "nothing written beside the original"
    );
    assert_eq!(stored(&db), expected);

    // Rows still in its write-ahead log, on a read-only mount.
    let mount = crate::support::disk::Tmpfs::mount(dir.path(), "8m");
    let old = mount.path().join("traffic.db");
    python(CREATE_WAL, &[&old, Path::new("keep-wal")]);
    assert!(mount.path().join("traffic.db-wal").exists(), "rows in -wal");
    mount.remount("ro");
    let before = listing(mount.path());
    let db = dir.path().join("ro.redb");
    let output = migrate(&db, &old);
    assert_eq!(
        output.status.code(),
        Some(0),
        "migrates from a read-only mount"
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("3 rows read, 3 taken"),
        "the rows committed in -wal are taken too"
    );
    assert_eq!(stored(&db), expected);
    assert_eq!(listing(mount.path()), before);
}

/// A table like the original's but without its constraints, holding `rows` as SQL values.
fn loose_original(path: &Path, rows: &[&str]) {
    let values: Vec<String> = rows.iter().map(|row| format!("({row})")).collect();
    let script = format!(
        "import sqlite3, sys\n\
         db = sqlite3.connect(sys.argv[1])\n\
         db.execute('CREATE TABLE traffic_hourly (id INTEGER PRIMARY KEY, hour_ts, up_bytes, down_bytes)')\n\
         db.execute(\"\"\"INSERT INTO traffic_hourly (hour_ts, up_bytes, down_bytes) VALUES {}\"\"\")\n\
         db.commit()\n",
        values.join(", ")
    );
    python(&script, &[path]);
}

fn bad_rows_are_each_skipped_and_named_and_good_rows_are_taken_unadjusted() {
    let dir = TempDir::new("store-migrate-bad-rows");
    let old = dir.path().join("traffic.db");
    loose_original(
        &old,
        &[
            "'2024-08-15 13:00:00', 1000, 2000", // 1: good
            "'2024-08-15 14:30:00', 50, 50",     // 2: not on the hour
            "'2024-08-15 15:00:00', -5, 10",     // 3: negative
            "'2024-08-15 16:00:00', 5, 'lots'",  // 4: text count
            "'2024-08-15 17:00:00', 1.5, 0",     // 5: fractional count
            "'yesterday', 1, 1",                 // 6: not a label
            "NULL, 1, 1",                        // 7: no label
            "'3500-01-01 00:00:00', 1, 1",       // 8: a year the history does not hold
            "'2024-08-16 00:00:00', 7, 7",       // 9: good
            "'2024-08-16 01:00:00', NULL, 3",    // 10: empty count
        ],
    );
    let db = dir.path().join("traffic.redb");
    let output = migrate(&db, &old);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "rows were skipped: {stderr}");
    for (id, why) in [
        (2, "not on the hour"),
        (3, "negative"),
        (4, "text"),
        (5, "not a whole number"),
        (6, "is not 'YYYY-MM-DD HH:00:00'"),
        (7, "not text"),
        (8, "outside 1900-2999"),
        (10, "empty"),
    ] {
        let line = stderr
            .lines()
            .find(|line| line.contains(&format!("row id {id} ")))
            .unwrap_or_else(|| panic!("row {id} is named: {stderr}"));
        assert!(line.contains(why), "row {id}: expected '{why}' in: {line}");
        assert!(line.contains("skipped"), "{line}");
    }
    assert!(
        !stderr.contains("row id 1 ") && !stderr.contains("row id 9 "),
        "{stderr}"
    );
    assert!(
        stdout.contains("10 rows read, 2 taken") && stdout.contains("8 skipped as bad"),
        "the summary states the policy's outcome: {stdout}"
    );
    // Only the good rows, exactly as they are (nothing of a bad row was adjusted and taken).
    assert_eq!(stored(&db), (ud(1000, 2000), ud(7, 7), ud(1000, 2000)));
}

fn huge_and_zero_rows_are_summed_and_named_exactly() {
    let dir = TempDir::new("store-migrate-extremes");
    let old = dir.path().join("traffic.db");
    let max = i64::MAX;
    loose_original(
        &old,
        &[
            &format!("'2024-08-15 13:00:00', {max}, 0"),
            &format!("'2024-08-15 14:00:00', {max}, 0"),
            &format!("'2024-08-15 15:00:00', {max}, 0"),
            "'2024-08-15 16:00:00', 0, 0",
        ],
    );
    let db = dir.path().join("traffic.redb");
    let output = migrate(&db, &old);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let sum = 3 * u128::from(max as u64);
    assert!(
        stdout.contains(&format!("({sum} and 0 bytes)")),
        "the summary adds up without overflowing: {stdout}"
    );
    assert!(
        stdout.contains(
            "4 rows read, 4 taken (4 new, 0 changed since the last run), 0 already migrated"
        ),
        "a row of zero bytes is new the first time, not 'already migrated': {stdout}"
    );
    let output = migrate(&db, &old);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("0 taken (0 new, 0 changed since the last run), 4 already migrated"),
        "{stdout}"
    );
}

fn a_failed_run_leaves_no_history_file_behind() {
    let dir = TempDir::new("store-migrate-failed");
    let db = dir.path().join("new").join("traffic.redb");
    let junk = dir.write(
        "junk.db",
        b"not sqlite at all, just text that is long enough",
    );
    let fifo = dir.path().join("pipe.db");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo")
            .success()
    );
    let empty_table = dir.path().join("no-table.db");
    python(
        "import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute('CREATE TABLE t (x)')",
        &[&empty_table],
    );
    for old in [
        junk.as_path(),
        &fifo,
        &empty_table,
        &dir.path().join("missing.db"),
    ] {
        let output = migrate(&db, old);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&old.display().to_string()),
            "names the file: {stderr}"
        );
        assert!(
            !stderr.contains('\n') || stderr.lines().count() == 1,
            "one sentence: {stderr}"
        );
        assert!(
            !db.exists(),
            "no history was created by a failed run ({})",
            old.display()
        );
    }
}

tests! {
    #[needs(Tool("python3"))]
    the_originals_history_is_migrated_once_and_then_only_what_grew,
    #[needs(Root, Tool("mount"), Tool("python3"))]
    a_wal_database_is_read_without_writing_beside_it_also_on_a_read_only_mount,
    #[needs(Tool("python3"))]
    bad_rows_are_each_skipped_and_named_and_good_rows_are_taken_unadjusted,
    #[needs(Tool("python3"))]
    huge_and_zero_rows_are_summed_and_named_exactly,
    #[needs(Tool("python3"))]
    a_failed_run_leaves_no_history_file_behind,
}
