//! Opening the history file: a file that is not ours, damaged, or from a newer schema version
//! stops with one clear sentence and is left byte for byte as it was; a file of schema version 1
//! is upgraded once (a list it cannot read set aside), or refused and left at version 1;
//! `export`'s read-only open writes nothing (real files in temp dirs).

use std::path::{Path, PathBuf};

use nettraffic_sentinel::clock::Zone;
use nettraffic_sentinel::count::UpDown;
use nettraffic_sentinel::count::live::LiveSnapshot;
use nettraffic_sentinel::persister::Persister;
use nettraffic_sentinel::store::schema::SCHEMA_VERSION;
use nettraffic_sentinel::store::{LiveView, Scope, Store, StoreError};
use std::sync::Arc;

use crate::support::TempDir;

fn open(path: &Path) -> Result<Store, StoreError> {
    Store::open(path, Zone::utc(), 1000)
}

fn bytes_of(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read the file")
}

/// A history with a few real hours in it, closed cleanly.
fn history(dir: &TempDir) -> PathBuf {
    let path = dir.path().join("traffic.redb");
    let store = Arc::new(open(&path).expect("a new file opens"));
    let mut snapshot = LiveSnapshot::default();
    for i in 0..200i64 {
        snapshot.hours.insert(
            1_700_000_000 - 1_700_000_000 % 3600 + i * 3600,
            UpDown {
                up: i as u64,
                down: 2 * i as u64,
            },
        );
    }
    let view = LiveView {
        interfaces: vec![("eth0".into(), snapshot)],
    };
    let mut persister = Persister::new(Arc::clone(&store));
    persister
        .commit_at(&view, 1_700_000_000 + 200 * 3600, 300 * 3600)
        .expect("commit");
    drop(persister);
    drop(store);
    path
}

fn assert_refused(path: &Path, expect: &str) {
    let before = bytes_of(path);
    let error = open(path).expect_err("must be refused");
    let message = error.to_string();
    eprintln!("{message}");
    assert!(
        message.contains(expect),
        "expected '{expect}' in: {message}"
    );
    assert!(
        message.contains(&path.display().to_string()),
        "names the file: {message}"
    );
    assert!(message.contains("untouched"), "{message}");
    assert!(!message.contains('\n'), "one sentence: {message}");
    assert_eq!(bytes_of(path), before, "the file must be left untouched");
}

fn a_file_that_is_not_ours_is_refused_untouched() {
    let dir = TempDir::new("store-open-foreign");
    let text = dir.path().join("notes.redb");
    std::fs::write(&text, b"shopping list: milk, eggs\n").expect("write");
    assert_refused(&text, "not a NetTraffic-Sentinel database");

    // A real redb file of some other program.
    let other = dir.path().join("other.redb");
    {
        let db = redb::Database::create(&other).expect("create");
        let txn = db.begin_write().expect("write");
        {
            let table: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("stuff");
            let mut table = txn.open_table(table).expect("table");
            table.insert("apples", 3).expect("insert");
        }
        txn.commit().expect("commit");
    }
    assert_refused(&other, "not a NetTraffic-Sentinel database");
}

fn the_originals_sqlite_history_at_db_path_is_refused_with_the_way_to_migrate_it() {
    let dir = TempDir::new("store-open-sqlite");
    let old = dir.path().join("traffic.db");
    // Made by SQLite itself (rusqlite, bundled), with the original's table.
    {
        let connection = rusqlite::Connection::open(&old).expect("sqlite");
        connection
            .execute_batch(
                "CREATE TABLE traffic_hourly (hour_ts TEXT PRIMARY KEY, up_bytes INTEGER DEFAULT 0, down_bytes INTEGER DEFAULT 0);
                 INSERT INTO traffic_hourly VALUES ('2025-01-01 10:00:00', 5, 7);",
            )
            .expect("schema");
    }
    assert_refused(&old, "is an SQLite database");
    let message = open(&old).expect_err("refused").to_string();
    assert!(
        message.contains(&format!(
            "nettraffic-sentinel migrate-sqlite {}",
            old.display()
        )),
        "{message}"
    );
}

fn a_file_from_a_newer_version_is_refused_untouched() {
    let dir = TempDir::new("store-open-newer");
    let path = history(&dir);
    {
        let db = redb::Database::open(&path).expect("open");
        let txn = db.begin_write().expect("write");
        {
            let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
            let mut meta = txn.open_table(meta).expect("meta");
            meta.insert("schema_version", &7u32.to_le_bytes()[..])
                .expect("insert");
        }
        txn.commit().expect("commit");
    }
    assert_refused(&path, "newer NetTraffic-Sentinel (database version 7");
}

fn a_damaged_file_is_refused_untouched() {
    let dir = TempDir::new("store-open-damaged");
    let path = history(&dir);
    let good = bytes_of(&path);
    assert!(good.len() > 8192, "{} bytes", good.len());

    // Cut in half (a copy that stopped part way).
    std::fs::write(&path, &good[..good.len() / 2]).expect("write");
    assert_refused(&path, "damaged");

    // The header after redb's magic number overwritten (both commit slots gone).
    let mut header = good.clone();
    for byte in &mut header[9..512] {
        *byte = 0x5a;
    }
    std::fs::write(&path, &header).expect("write");
    assert_refused(&path, "damaged");

    // Pages in the middle overwritten (a bad sector, a stray write): the header is fine, the
    // trees' checksums are not.
    let mut middle = good.clone();
    let pages = middle.len() / 4096;
    for page in 2..pages {
        for byte in &mut middle[page * 4096 + 64..page * 4096 + 96] {
            *byte ^= 0xff;
        }
    }
    std::fs::write(&path, &middle).expect("write");
    assert_refused(&path, "damaged");

    // A good file opens again after all that.
    std::fs::write(&path, &good).expect("write");
    open(&path).expect("the undamaged file opens");
}

fn an_unwritable_place_says_so() {
    let dir = TempDir::new("store-open-unwritable");
    // (A directory where the file should be: only_an_ordinary_file_is_opened_….)
    // A parent that is a file.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").expect("write");
    let message = open(&blocker.join("traffic.redb"))
        .expect_err("parent is a file")
        .to_string();
    assert!(
        message.contains("cannot be created or written"),
        "{message}"
    );
}

fn a_new_file_is_created_with_its_directory_and_reopens() {
    let dir = TempDir::new("store-open-new");
    let path = dir.path().join("a").join("b").join("traffic.redb");
    drop(open(&path).expect("created"));
    drop(open(&path).expect("reopened"));
    // While one handle has it open, a second open says it is in use.
    let first = open(&path).expect("open");
    let message = open(&path).expect_err("in use").to_string();
    assert!(
        message.contains("another NetTraffic-Sentinel process"),
        "{message}"
    );
    drop(first);
}

/// The day whose addresses the version 1 files below hold.
const V1_DAY: jiff::civil::Date = jiff::civil::Date::constant(2024, 6, 15);

/// A history as schema version 1 wrote it, made by hand from that layout (see `src/store/mod.rs`
/// before version 2): identity records, the two scopes, and one day of eth0's addresses whose
/// list is `v1_list` (entries `family | address | up u64 LE | down u64 LE`).
fn version_1_file(path: &Path, v1_list: &[u8]) {
    version_1_file_of(path, &[(V1_DAY, v1_list)]);
}

/// [`version_1_file`] with eth0's lists of several days.
fn version_1_file_of(path: &Path, lists: &[(jiff::civil::Date, &[u8])]) {
    use nettraffic_sentinel::store::schema::{DAY_REMOTES, Day, META, SCOPES};
    let db = redb::Database::create(path).expect("create");
    let txn = db.begin_write().expect("write");
    {
        let mut meta = txn.open_table(META).expect("meta");
        meta.insert("format", &b"nettraffic-sentinel history"[..])
            .expect("format");
        meta.insert("schema_version", &1u32.to_le_bytes()[..])
            .expect("version");
        meta.insert("created", &1_718_400_000i64.to_le_bytes()[..])
            .expect("created");
        let mut scopes = txn.open_table(SCOPES).expect("scopes");
        scopes.insert("", 0).expect("all");
        scopes.insert("eth0", 1).expect("eth0");
        let mut days = txn.open_table(DAY_REMOTES).expect("days");
        for (date, list) in lists {
            days.insert(
                Day {
                    scope: 1,
                    date: *date,
                },
                *list,
            )
            .expect("list");
        }
    }
    txn.commit().expect("commit");
}

/// 203.0.113.9 with up 5, down 7, and 2001:db8::1 with up 1, down 256, in version 1's layout.
fn v1_list() -> Vec<u8> {
    let mut list = vec![4, 203, 0, 113, 9];
    list.extend_from_slice(&5u64.to_le_bytes());
    list.extend_from_slice(&7u64.to_le_bytes());
    list.push(6);
    list.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    list.extend_from_slice(&1u64.to_le_bytes());
    list.extend_from_slice(&256u64.to_le_bytes());
    list
}

/// The schema version record and the raw list of [`V1_DAY`], read with redb alone.
fn raw_version_and_list(path: &Path) -> (u32, Vec<u8>) {
    use nettraffic_sentinel::store::schema::{DAY_REMOTES, Day, META};
    use redb::ReadableDatabase;
    let db = redb::Database::open(path).expect("open");
    let txn = db.begin_read().expect("read");
    let version = txn
        .open_table(META)
        .expect("meta")
        .get("schema_version")
        .expect("get")
        .map(|v| u32::from_le_bytes(v.value().try_into().expect("four bytes")))
        .expect("a version");
    let list = txn
        .open_table(DAY_REMOTES)
        .expect("days")
        .get(Day {
            scope: 1,
            date: V1_DAY,
        })
        .expect("get")
        .map(|v| v.value().to_vec())
        .expect("the list");
    (version, list)
}

fn top(store: &Store) -> Vec<(String, UpDown)> {
    store
        .read_stored()
        .expect("read")
        .top_remotes(&nettraffic_sentinel::store::Scope::All, V1_DAY, V1_DAY, 10)
        .expect("top")
        .into_iter()
        .map(|t| (t.addr.to_string(), t.bytes))
        .collect()
}

fn a_version_1_file_is_upgraded_once_and_keeps_every_address() {
    let dir = TempDir::new("store-open-v1");
    let path = dir.path().join("traffic.redb");
    version_1_file(&path, &v1_list());
    let expected = vec![
        ("2001:db8::1".to_string(), UpDown { up: 1, down: 256 }),
        ("203.0.113.9".to_string(), UpDown { up: 5, down: 7 }),
    ];
    let store = open(&path).expect("a version 1 file opens");
    assert_eq!(top(&store), expected);
    drop(store);
    let (version, list) = raw_version_and_list(&path);
    assert_eq!(version, SCHEMA_VERSION);
    // Version 2's list: the same entries with their counts as LEB128 numbers (256 = 0x80 0x02).
    let mut v2 = vec![4, 203, 0, 113, 9, 5, 7, 6];
    v2.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    v2.extend_from_slice(&[1, 0x80, 0x02]);
    assert_eq!(list, v2);
    // Opened again: nothing more to upgrade, the same answers.
    let store = open(&path).expect("reopens");
    assert_eq!(top(&store), expected);
}

/// Before, one damaged list refused the whole upgrade, and with it the monitor's start, until
/// the file was restored from a backup. Now that list's bytes are set aside and every other day
/// is upgraded.
fn a_damaged_list_of_a_version_1_file_is_set_aside_and_the_rest_upgraded() {
    use crate::store_persist::set_aside_entries;
    let dir = TempDir::new("store-open-v1-damaged");
    let path = dir.path().join("traffic.redb");
    let mut damaged = v1_list();
    damaged.truncate(damaged.len() - 3);
    let next = V1_DAY.tomorrow().expect("date");
    version_1_file_of(&path, &[(V1_DAY, &damaged), (next, &v1_list())]);
    let store = open(&path).expect("the file opens");
    let read = store.read_stored().expect("read");
    let all = nettraffic_sentinel::store::Scope::All;
    let top_of = |date| -> Vec<(String, UpDown)> {
        read.top_remotes(&all, date, date, 10)
            .expect("top")
            .into_iter()
            .map(|t| (t.addr.to_string(), t.bytes))
            .collect()
    };
    assert_eq!(top_of(V1_DAY), vec![], "the damaged day keeps no addresses");
    assert_eq!(
        top_of(next),
        vec![
            ("2001:db8::1".to_string(), UpDown { up: 1, down: 256 }),
            ("203.0.113.9".to_string(), UpDown { up: 5, down: 7 }),
        ]
    );
    drop(read);
    drop(store);
    let expected = vec![(
        "day_remotes".to_string(),
        "eth0 2024-06-15".to_string(),
        damaged,
    )];
    assert_eq!(set_aside_entries(&path), expected);
    // Opened again: the current version, nothing more to upgrade or set aside.
    drop(open(&path).expect("reopens"));
    assert_eq!(set_aside_entries(&path), expected);
}

/// Everything about a directory entry that replacing or rewriting it would change.
#[derive(Debug, PartialEq, Eq)]
struct EntryState {
    mode: u32,
    ino: u64,
    rdev: u64,
    uid: u32,
    gid: u32,
    len: u64,
    link_target: Option<PathBuf>,
}

fn entry_state(path: &Path) -> EntryState {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path).expect("the entry is still there");
    EntryState {
        mode: meta.mode(),
        ino: meta.ino(),
        rdev: meta.rdev(),
        uid: meta.uid(),
        gid: meta.gid(),
        len: meta.len(),
        link_target: std::fs::read_link(path).ok(),
    }
}

fn sh(script: &str) {
    let status = std::process::Command::new("sh")
        .args(["-c", script])
        .status()
        .expect("sh runs");
    assert!(status.success(), "{script}");
}

/// One of each thing that is not a history file, each with an owner and mode of its own:
/// `(path, what the message calls it)`. The character device is /dev/null's own (1, 3).
fn not_history_files(dir: &TempDir) -> Vec<(PathBuf, &'static str)> {
    let at = |name: &str| dir.path().join(name);
    sh(&format!("mknod {} c 1 3", at("null").display()));
    sh(&format!("mknod {} b 7 200", at("block").display()));
    sh(&format!("mkfifo {}", at("fifo").display()));
    let socket = std::os::unix::net::UnixListener::bind(at("socket")).expect("bind a socket");
    // The listener may close; the socket file stays.
    drop(socket);
    std::os::unix::fs::symlink(at("nowhere.redb"), at("dangling")).expect("symlink");
    std::fs::write(at("empty"), b"").expect("write");
    std::fs::create_dir(at("directory")).expect("mkdir");
    for name in ["null", "block", "fifo", "socket", "empty", "directory"] {
        sh(&format!(
            "chown 1234:5678 {0} && chmod 0640 {0}",
            at(name).display()
        ));
    }
    vec![
        (at("null"), "a character device"),
        (at("block"), "a block device"),
        (at("fifo"), "a named pipe"),
        (at("socket"), "a socket"),
        (at("dangling"), "a symbolic link to"),
        (at("empty"), "an empty file"),
        (at("directory"), "a directory"),
    ]
}

fn assert_no_leftovers(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let name = entry.expect("entry").file_name();
        assert!(
            !name.to_string_lossy().ends_with(".creating"),
            "left behind: {name:?}"
        );
    }
}

fn only_an_ordinary_file_is_opened_and_nothing_else_is_replaced() {
    let dir = TempDir::new("store-open-not-files");
    for (path, what) in not_history_files(&dir) {
        let before = entry_state(&path);
        let message = open(&path).expect_err("must be refused").to_string();
        eprintln!("{message}");
        assert!(message.contains(what), "expected '{what}' in: {message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("untouched"), "{message}");
        assert!(!message.contains('\n'), "one sentence: {message}");
        assert_eq!(
            entry_state(&path),
            before,
            "{} must be left as it was",
            path.display()
        );
    }
    // The dangling link still points nowhere: nothing was created at its target either.
    assert!(!dir.path().join("nowhere.redb").exists());
    assert_no_leftovers(dir.path());
}

fn a_symbolic_link_to_a_history_is_followed_and_stays_a_link() {
    let dir = TempDir::new("store-open-symlink");
    let real = history(&dir);
    let link = dir.path().join("link.redb");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let before = entry_state(&link);
    let store = open(&link).expect("a link to a history opens");
    let range = store.read_stored().expect("read").data_range(&Scope::All);
    assert!(
        range.expect("read").is_some(),
        "the linked history's hours are there"
    );
    drop(store);
    assert_eq!(entry_state(&link), before);
}

fn a_new_file_being_created_by_another_process_is_left_to_it_and_said_so() {
    let dir = TempDir::new("store-open-race");
    let path = dir.path().join("traffic.redb");
    // Another process is building the new file: it holds the lock on `<path>.creating`.
    let fresh = dir.path().join("traffic.redb.creating");
    let theirs = std::fs::File::create_new(&fresh).expect("create");
    theirs.lock().expect("lock");
    let before = entry_state(&fresh);
    let message = open(&path)
        .expect_err("the other one is creating it")
        .to_string();
    eprintln!("{message}");
    assert!(
        message.contains("being created by another NetTraffic-Sentinel process"),
        "{message}"
    );
    assert!(!message.contains('\n'), "one sentence: {message}");
    assert!(!path.exists(), "nothing was made at DB_PATH");
    assert_eq!(entry_state(&fresh), before, "their file was not touched");

    // Left by a process killed while creating (no lock held): removed, and the file is made.
    drop(theirs);
    std::fs::write(&fresh, b"half a database").expect("write");
    drop(open(&path).expect("created over the leftover"));
    assert_no_leftovers(dir.path());
    drop(open(&path).expect("reopens"));
}

/// Run the real binary with `DB_PATH=db`, stopping it after 20 s if it has not exited by then
/// (a monitor that accepted the path would run on): exit code, stderr.
fn run_binary(args: &[&str], db: &Path) -> (Option<i32>, String) {
    use std::process::{Command, Stdio};
    let mut command = Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"));
    crate::support::netns::clear_monitor_settings(&mut command);
    let mut child = command
        .args(args)
        .env("DB_PATH", db)
        .env("MONITOR_IFACE", "lo")
        .env("WEB_BIND", "127.0.0.1")
        .env(
            "WEB_PORT",
            (20_000 + std::process::id() % 20_000).to_string(),
        )
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    eprintln!("{args:?} DB_PATH={}: exit {code:?}: {stderr}", db.display());
    (code, stderr)
}

fn the_monitor_import_and_migrate_refuse_a_device_pipe_or_empty_file_as_db_path() {
    let dir = TempDir::new("store-open-binary");
    let capture = dir.write(
        "one.pcap",
        &crate::support::PcapWriter::new(crate::support::PCAP_MAGIC_MICROSECONDS, false, 1)
            .finish(),
    );
    let sqlite = dir.path().join("old.db");
    rusqlite::Connection::open(&sqlite)
        .and_then(|db| {
            db.execute_batch(
                "CREATE TABLE traffic_hourly (id INTEGER PRIMARY KEY, hour_ts TEXT, up_bytes INTEGER, down_bytes INTEGER);
                 INSERT INTO traffic_hourly (hour_ts, up_bytes, down_bytes) VALUES ('2024-08-15 13:00:00', 1, 2);",
            )
        })
        .expect("an original with one row");
    let capture = capture.display().to_string();
    let sqlite = sqlite.display().to_string();
    let commands: [&[&str]; 3] = [
        &["run"],
        &["import", &capture],
        &["migrate-sqlite", &sqlite],
    ];
    for (path, what) in not_history_files(&dir) {
        for args in commands {
            let before = entry_state(&path);
            let (code, stderr) = run_binary(args, &path);
            assert_eq!(code, Some(2), "{args:?} with DB_PATH {what}: {stderr}");
            assert!(stderr.contains(what), "{stderr}");
            assert!(!stderr.contains("created a new history"), "{stderr}");
            assert_eq!(
                entry_state(&path),
                before,
                "{args:?} left {} as it was",
                path.display()
            );
        }
    }
    assert!(!dir.path().join("nowhere.redb").exists());
    assert_no_leftovers(dir.path());
}

/// A capture of one upload packet of `bytes` IP bytes on 2024-06-15 10:00 UTC.
fn capture_of(bytes: u16) -> Vec<u8> {
    let frame = crate::support::eth(
        crate::support::ETHERTYPE_IPV4,
        &crate::support::ipv4_packet("192.168.1.2", "203.0.113.9", usize::from(bytes) - 20),
    );
    crate::support::PcapWriter::new(crate::support::PCAP_MAGIC_MICROSECONDS, false, 1)
        .record(1_718_445_600, 0, frame.len() as u32, &frame)
        .finish()
}

fn two_imports_racing_to_create_a_new_history_never_lose_what_they_report_imported() {
    use std::process::{Command, Stdio};
    let dir = TempDir::new("store-open-race-binary");
    let files = [
        dir.write("a.pcap", &capture_of(100)),
        dir.write("b.pcap", &capture_of(1000)),
    ];
    for round in 0..12 {
        let db = dir
            .path()
            .join(format!("round-{round}"))
            .join("traffic.redb");
        let children: Vec<_> = files
            .iter()
            .map(|file| {
                let mut command = Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"));
                crate::support::netns::clear_monitor_settings(&mut command);
                command
                    .arg("import")
                    .arg(file)
                    .env("DB_PATH", &db)
                    .env("TZ", "UTC")
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("import starts")
            })
            .collect();
        let mut up_reported = 0u64;
        for (child, bytes) in children.into_iter().zip([100u64, 1000]) {
            let output = child.wait_with_output().expect("import ends");
            let stderr = String::from_utf8_lossy(&output.stderr);
            eprintln!(
                "round {round}: exit {:?} {}",
                output.status.code(),
                stderr.trim()
            );
            match output.status.code() {
                Some(0) => up_reported += bytes,
                Some(2) => assert!(
                    stderr.contains("being created by another NetTraffic-Sentinel process")
                        || stderr.contains("is open in another NetTraffic-Sentinel process"),
                    "a lost race says what happened: {stderr}"
                ),
                other => panic!("import exited {other:?}: {stderr}"),
            }
        }
        let store = open(&db).expect("the history exists");
        let totals = store
            .read_stored()
            .expect("read")
            .totals(
                &Scope::All,
                jiff::civil::Date::constant(2024, 6, 15),
                jiff::civil::Date::constant(2024, 6, 15),
            )
            .expect("totals");
        assert_eq!(
            totals.up, up_reported,
            "round {round}: every import that said 'imported' is in the history"
        );
        drop(store);
        assert_no_leftovers(db.parent().expect("dir"));
    }
}

/// `export`'s open: reads, writes nothing (byte for byte), refuses while a writer has the file
/// and refuses what would need a write first (the version 1 upgrade), saying how to fix it.
fn a_read_only_open_writes_nothing_and_refuses_what_needs_a_write() {
    let dir = TempDir::new("store-open-read-only");
    let path = history(&dir);
    let before = bytes_of(&path);
    let store = Arc::new(Store::open_read_only(&path, Zone::utc()).expect("opens read-only"));
    let total = store
        .read_stored()
        .expect("a view")
        .totals(
            &Scope::Interface("eth0".into()),
            jiff::civil::Date::constant(2023, 1, 1),
            jiff::civil::Date::constant(2024, 12, 31),
        )
        .expect("totals");
    let sum: u64 = (0..200).sum();
    assert_eq!(
        total,
        UpDown {
            up: sum,
            down: 2 * sum
        }
    );
    assert_eq!(store.interfaces_with_history(), ["eth0"]);
    // Every write fails: this handle cannot write.
    let mut persister = Persister::new(Arc::clone(&store));
    let mut snapshot = LiveSnapshot::default();
    snapshot.hours.insert(
        1_700_000_000 - 1_700_000_000 % 3600,
        UpDown { up: 1, down: 1 },
    );
    let view = LiveView {
        interfaces: vec![("eth0".into(), snapshot)],
    };
    let error = persister
        .commit_at(&view, 1_700_000_000 + 200 * 3600, 300 * 3600)
        .expect_err("a read-only history takes no commit");
    assert!(error.to_string().contains("reading only"), "{error}");
    drop(persister);
    drop(store);
    assert_eq!(bytes_of(&path), before, "nothing was written");

    // While a writer (the monitor) has it open: InUse.
    let writer = open(&path).expect("opens for writing");
    let error = Store::open_read_only(&path, Zone::utc()).expect_err("in use");
    assert!(matches!(error, StoreError::InUse { .. }), "{error}");
    drop(writer);

    // A version 1 file needs its upgrade, a write: refused, left at version 1.
    let v1 = dir.path().join("v1.redb");
    version_1_file(&v1, &v1_list());
    let before = bytes_of(&v1);
    let message = Store::open_read_only(&v1, Zone::utc())
        .expect_err("needs its upgrade")
        .to_string();
    assert!(message.contains("one-time upgrade"), "{message}");
    assert!(
        message.contains("start the monitor on it once"),
        "{message}"
    );
    assert_eq!(bytes_of(&v1), before);

    // Nothing at the path: said so, nothing created.
    let missing = dir.path().join("none.redb");
    let error = Store::open_read_only(&missing, Zone::utc()).expect_err("missing");
    assert!(matches!(error, StoreError::Missing { .. }), "{error}");
    assert!(!missing.exists());
}

tests! {
    a_read_only_open_writes_nothing_and_refuses_what_needs_a_write,
    a_file_that_is_not_ours_is_refused_untouched,
    the_originals_sqlite_history_at_db_path_is_refused_with_the_way_to_migrate_it,
    a_file_from_a_newer_version_is_refused_untouched,
    a_damaged_file_is_refused_untouched,
    an_unwritable_place_says_so,
    a_new_file_is_created_with_its_directory_and_reopens,
    a_version_1_file_is_upgraded_once_and_keeps_every_address,
    a_damaged_list_of_a_version_1_file_is_set_aside_and_the_rest_upgraded,
    // mknod and chown of the files that are not a history
    #[needs(Root)]
    only_an_ordinary_file_is_opened_and_nothing_else_is_replaced,
    a_symbolic_link_to_a_history_is_followed_and_stays_a_link,
    a_new_file_being_created_by_another_process_is_left_to_it_and_said_so,
    // mknod and chown of the files that are not a history
    #[needs(Root)]
    the_monitor_import_and_migrate_refuse_a_device_pipe_or_empty_file_as_db_path,
    two_imports_racing_to_create_a_new_history_never_lose_what_they_report_imported,
}
