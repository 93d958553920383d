//! `import` end to end: the real binary counts a hand-built capture into a real redb file by the
//! packets' own timestamps (1970 included), and importing the same content again adds nothing.

use std::path::Path;
use std::process::{Command, Output};

use jiff::civil::Date;
use nettraffic_sentinel::clock::Zone;
use nettraffic_sentinel::count::UpDown;
use nettraffic_sentinel::store::{Granularity, Scope, Store};

use crate::support::{
    ETHERTYPE_IPV4, PCAP_MAGIC_MICROSECONDS, PcapWriter, TempDir, eth, ipv4_packet,
};

/// 2024-06-15 10:00:00 UTC.
const JUNE: i64 = 1_718_445_600;

pub(crate) fn import(db: &Path, files: &[&Path]) -> Output {
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

pub(crate) fn capture() -> Vec<u8> {
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

/// `import ARGS` with `stdin` fed to it, stopped after `limit` if it has not exited by then:
/// (exit code, stdout, stderr, seconds taken). `None` as the code means it had to be stopped.
fn import_bounded(
    db: &Path,
    args: &[&Path],
    stdin: Option<Vec<u8>>,
    limit: std::time::Duration,
) -> (Option<i32>, String, String, f64) {
    use std::io::{Read, Write};
    use std::process::Stdio;
    let started = std::time::Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"))
        .arg("import")
        .args(args)
        .env("DB_PATH", db)
        .env("TZ", "UTC")
        .env("TOP_IPS_PER_DAY", "10")
        .env_remove("LOCAL_PREFIXES")
        .env_remove("EXCLUDE_IPV6_PREFIX")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run import");
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let seconds = started.elapsed().as_secs_f64();
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stdout.take() {
        let _ = pipe.read_to_string(&mut stdout);
    }
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    eprintln!("import {args:?}: exit {code:?} after {seconds:.2} s\n{stdout}{stderr}");
    (code, stdout, stderr, seconds)
}

/// A writer that feeds `bytes` into the named pipe `fifo` once a reader opens it, then (if
/// `hold_open`) keeps its end open until the returned sender is dropped, so the reader sees no
/// end of file.
fn feed_fifo(fifo: &Path, bytes: Vec<u8>, hold_open: bool) -> std::sync::mpsc::Sender<()> {
    use std::io::Write;
    let (keep, until) = std::sync::mpsc::channel::<()>();
    let fifo = fifo.to_path_buf();
    std::thread::spawn(move || {
        let mut writer = std::fs::OpenOptions::new()
            .write(true)
            .open(&fifo)
            .expect("open the fifo for writing");
        let _ = writer.write_all(&bytes);
        if hold_open {
            let _ = until.recv();
        }
    });
    keep
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success());
}

fn a_capture_from_a_pipe_is_read_once_and_counts_like_the_file() {
    let dir = TempDir::new("store-import-pipes");
    let limit = std::time::Duration::from_secs(20);
    let expected_hours = vec![
        ("1970-01-01 00:00".to_string(), ud(100, 0)),
        ("2024-06-15 10:00".to_string(), ud(0, 200)),
        ("2024-06-15 12:00".to_string(), ud(50, 0)),
    ];

    // A named pipe.
    let db = dir.path().join("fifo.redb");
    let fifo = dir.path().join("capture.fifo");
    mkfifo(&fifo);
    let _writer = feed_fifo(&fifo, capture(), false);
    let (code, stdout, _, _) = import_bounded(&db, &[&fifo], None, limit);
    assert_eq!(code, Some(0), "a named pipe imports (and does not hang)");
    assert!(stdout.contains("imported 3 packets"), "{stdout}");
    assert_eq!(stored(&db).0, expected_hours);
    // Its digest is the content's: the same bytes as a file are the same import.
    let file = dir.write("wan.pcap", &capture());
    let (code, stdout, _, _) = import_bounded(&db, &[&file], None, limit);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("already imported"), "{stdout}");
    assert_eq!(stored(&db).0, expected_hours, "nothing doubled");

    // Standard input, as `import /dev/stdin < capture` or `cat capture | import /dev/stdin`.
    let db = dir.path().join("stdin.redb");
    let stdin = Path::new("/dev/stdin");
    let (code, stdout, _, _) = import_bounded(&db, &[stdin], Some(capture()), limit);
    assert_eq!(code, Some(0), "standard input imports");
    assert!(stdout.contains("imported 3 packets"), "{stdout}");
    assert_eq!(stored(&db).0, expected_hours);
}

fn a_file_report_rejects_is_rejected_by_import_after_as_few_bytes() {
    let dir = TempDir::new("store-import-reject");
    let db = dir.path().join("t.redb");
    let limit = std::time::Duration::from_secs(20);

    // A pipe that starts with no capture header and never ends: `report` rejects it after its
    // first bytes, and so must import (reading it to the end first never finishes).
    let fifo = dir.path().join("endless.fifo");
    mkfifo(&fifo);
    let keep_open = feed_fifo(&fifo, b"this is not a capture file at all".to_vec(), true);
    let (code, _, stderr, _) = import_bounded(&db, &[&fifo], None, limit);
    drop(keep_open);
    assert_eq!(code, Some(1), "rejected, not stuck reading: {stderr}");
    assert!(
        stderr.contains("unsupported or unreadable file format"),
        "{stderr}"
    );

    // A 2 GiB sparse file of zeros: rejected from its first bytes, like `report` does.
    let sparse = dir.path().join("sparse.pcap");
    std::fs::File::create(&sparse)
        .and_then(|file| file.set_len(2 << 30))
        .expect("make a sparse file");
    let started = std::time::Instant::now();
    let report = Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"))
        .arg("report")
        .arg(&sparse)
        .output()
        .expect("report runs");
    let report_seconds = started.elapsed().as_secs_f64();
    let (code, _, stderr, seconds) = import_bounded(&db, &[&sparse], None, limit);
    eprintln!("2 GiB sparse file: report {report_seconds:.2} s, import {seconds:.2} s");
    assert!(!report.status.success());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("unsupported or unreadable file format"),
        "{stderr}"
    );
    let _ = std::fs::remove_file(&sparse);
}

fn an_import_that_imports_nothing_leaves_no_new_history_behind() {
    let dir = TempDir::new("store-import-nothing");
    let db = dir.path().join("new").join("t.redb");
    let junk = dir.write("notes.txt", b"not a capture file at all, just some text\n");
    let output = import(&db, &[&junk]);
    assert_eq!(output.status.code(), Some(1));
    assert!(!db.exists(), "no empty history was left at DB_PATH");
    assert!(!db.with_file_name("t.redb.creating").exists());

    // An existing history is never removed, whatever the import finds.
    let good = dir.write("wan.pcap", &capture());
    assert!(import(&db, &[&good]).status.success());
    let output = import(&db, &[&junk]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stored(&db).0.len(),
        3,
        "the history and its hours are still there"
    );
}

fn an_endless_stream_that_turns_to_garbage_is_imported_up_to_there_and_not_read_on() {
    use std::io::Write;
    let dir = TempDir::new("store-import-endless");
    let db = dir.path().join("t.redb");
    let fifo = dir.path().join("endless.fifo");
    mkfifo(&fifo);
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut pipe = std::fs::OpenOptions::new()
                .write(true)
                .open(&fifo)
                .expect("open the fifo for writing");
            pipe.write_all(&capture()).expect("the capture");
            // Then garbage for as long as anyone reads (a record claiming 4 GiB: damaged).
            let garbage = vec![0xffu8; 64 * 1024];
            while pipe.write_all(&garbage).is_ok() {}
        })
    };
    let (code, stdout, stderr, _) =
        import_bounded(&db, &[&fifo], None, std::time::Duration::from_secs(20));
    assert_eq!(
        code,
        Some(0),
        "imported what came before, and stopped reading: {stderr}"
    );
    assert!(stdout.contains("imported 3 packets"), "{stdout}");
    assert!(
        stderr.contains("warning"),
        "says where it stopped: {stderr}"
    );
    writer
        .join()
        .expect("the writer ends once the reader is gone");

    // The same bytes from a file (any garbage after the damage) are the same import.
    let mut bytes = capture();
    bytes.extend(std::iter::repeat_n(0xffu8, 100_000));
    let file = dir.write("same.pcap", &bytes);
    let (code, stdout, _, _) =
        import_bounded(&db, &[&file], None, std::time::Duration::from_secs(20));
    assert_eq!(code, Some(0));
    assert!(stdout.contains("already imported"), "{stdout}");
}

tests! {
    a_capture_is_imported_by_its_own_timestamps_and_only_once,
    a_capture_from_a_pipe_is_read_once_and_counts_like_the_file,
    a_file_report_rejects_is_rejected_by_import_after_as_few_bytes,
    an_import_that_imports_nothing_leaves_no_new_history_behind,
    an_endless_stream_that_turns_to_garbage_is_imported_up_to_there_and_not_read_on,
}
