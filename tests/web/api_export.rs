//! `/api/export.csv`, `/api/export.jsonl` and the `export` command over a real ten-year hourly
//! history (root: the monitor runs in a network namespace, capturing its loopback).
//!
//! The history: 2020–2029 by hour on two interfaces (`eth0`, `wan1`), written through the
//! persister as the monitor writes it, plus the corpus captures brought in by the real `import`
//! (history of no interface, exported with an empty `iface`). The API's export is read off the
//! wire (chunked framing checked by hand) while the monitor's resident memory is sampled; the
//! command's export is read off its stdout while its own is. Both must stay far below what
//! holding the whole answer would take, give the same bytes, and re-read by Python's `csv`
//! module, add up to `/api/query`'s totals per interface and for all of them.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use nettraffic_sentinel::clock::Zone;
use nettraffic_sentinel::count::UpDown;
use nettraffic_sentinel::count::live::LiveSnapshot;
use nettraffic_sentinel::persister::Persister;
use nettraffic_sentinel::store::{LiveView, PLAUSIBLE_FROM, Store};
use serde_json::Value;

use crate::support::netns::{Netns, run, run_ok};
use crate::support::web::{Monitor, PORT, connect, db_in};
use crate::support::{TempDir, all_captures, expected_json_path};

tests! {
    #[needs(Netns, Tool("python3"))] export_streams_flat_and_adds_up,
    #[needs(Netns)] bad_input_is_refused_naming_the_parameter,
}

/// The interfaces of the ten-year history.
const INTERFACES: [&str; 2] = ["eth0", "wan1"];
/// Hours of the ten years 2020-01-01 to 2029-12-31 (UTC).
const HOURS: i64 = 87_672;
/// The whole history by hour, with room before and after (no rows there).
const RANGE: &str = "start=2010-01-01&end=2030-12-31&granularity=hour";

/// Deterministic, uneven byte counts.
fn bytes_for(seed: u64) -> UpDown {
    let mix = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    UpDown {
        up: 1_000 + (mix >> 44),
        down: 10_000 + (mix >> 40),
    }
}

/// The history, made once; each test works on a copy.
fn history() -> &'static Path {
    static HISTORY: OnceLock<(TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = HISTORY.get_or_init(|| {
        let dir = TempDir::new("export-history");
        let db = db_in(dir.path());
        {
            let store = Arc::new(Store::open(&db, Zone::utc(), 10).expect("a new history"));
            let mut persister = Persister::new(Arc::clone(&store));
            let hours: Vec<i64> = (0..HOURS).map(|i| PLAUSIBLE_FROM + i * 3600).collect();
            for chunk in hours.chunks(8784) {
                let interfaces = INTERFACES
                    .iter()
                    .enumerate()
                    .map(|(n, name)| {
                        let mut snapshot = LiveSnapshot::default();
                        for hour in chunk {
                            snapshot
                                .hours
                                .insert(*hour, bytes_for(*hour as u64 + n as u64));
                        }
                        (name.to_string(), snapshot)
                    })
                    .collect();
                let last = *chunk.last().expect("hours");
                let now = last + 300;
                let report = persister
                    .commit_at(&LiveView { interfaces }, now, now - PLAUSIBLE_FROM + 3600)
                    .expect("commit");
                assert!(report.refused.is_empty(), "setup hours were refused");
            }
            store.close();
        }
        let captures: Vec<PathBuf> = all_captures()
            .into_iter()
            .filter(|file| {
                let name = file.file_name().expect("a name").to_string_lossy();
                let expected = std::fs::read_to_string(expected_json_path(&name)).expect("file");
                !expected.contains("\"error\"")
            })
            .collect();
        let mut import = Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"));
        import
            .arg("import")
            .args(&captures)
            .env("TZ", "UTC")
            .env("DB_PATH", &db)
            .env_remove("LOCAL_PREFIXES")
            .env_remove("EXCLUDE_IPV6_PREFIX");
        run_ok(&mut import, Duration::from_secs(120));
        (dir, db)
    });
    path
}

struct Lab {
    monitor: Option<Monitor>,
    db: PathBuf,
    dir: TempDir,
    _netns: Netns,
}

impl Lab {
    fn new(label: &str) -> Lab {
        let dir = TempDir::new(label);
        let db = db_in(dir.path());
        std::fs::copy(history(), &db).expect("copy the history");
        let mut netns = Netns::new(label);
        let namespace = netns.add("m");
        let mut monitor = Monitor::start(&netns, &namespace, "lo", &db, &[]);
        monitor.wait_ready("lo");
        Lab {
            monitor: Some(monitor),
            db,
            dir,
            _netns: netns,
        }
    }

    fn monitor(&self) -> &Monitor {
        self.monitor.as_ref().expect("running")
    }

    fn json(&self, target: &str) -> Value {
        let answer = self.monitor().get(target);
        assert_eq!(answer.status, 200, "{target}: {}", answer.text());
        answer.json()
    }

    /// `export` with `args`, as the user runs it on the copy: exit status, stdout, stderr.
    fn command(&self, args: &[&str]) -> (i32, Vec<u8>, String) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"));
        command
            .arg("export")
            .args(args)
            .env("TZ", "UTC")
            .env("DB_PATH", &self.db);
        let output = run(&mut command, Duration::from_secs(120));
        (
            output.status.code().unwrap_or(-1),
            output.stdout,
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

/// `VmRSS` or `VmHWM` of a process, in KiB (`None` once it has gone).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

/// What a streamed GET gave: the head's fields, the body without its chunk framing, and the
/// most the monitor held resident while it was read.
struct Streamed {
    head: String,
    body: Vec<u8>,
    peak_rss_kib: u64,
}

impl Streamed {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (field, value) = line.split_once(':')?;
            field.eq_ignore_ascii_case(name).then_some(value.trim())
        })
    }
}

/// `GET target` over HTTP/1.1, the chunks taken apart by hand (each size line, each chunk's
/// CRLF, the last chunk), sampling the monitor's VmRSS every 256 KiB read.
fn get_streamed(lab: &Lab, target: &str) -> Streamed {
    let monitor = lab.monitor();
    let pid = monitor.child.id();
    let mut stream = connect(&monitor.namespace, PORT);
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut peak = status_kib(pid, "VmRSS").expect("the monitor runs");
    let mut since_sample = 0;
    loop {
        let read = stream.read(&mut buffer).expect("read the export");
        if read == 0 {
            break;
        }
        raw.extend_from_slice(&buffer[..read]);
        since_sample += read;
        if since_sample >= 256 * 1024 {
            since_sample = 0;
            peak = peak.max(status_kib(pid, "VmRSS").expect("the monitor runs"));
        }
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8(raw[..split].to_vec()).expect("an ASCII head");
    assert!(head.starts_with("HTTP/1.1 200 "), "{target}: {head}");
    let mut rest = &raw[split + 4..];
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16)
            .expect("a hex chunk size");
        rest = &rest[line_end + 2..];
        if size == 0 {
            assert_eq!(rest, b"\r\n", "the last chunk ends the body");
            break;
        }
        body.extend_from_slice(&rest[..size]);
        assert_eq!(&rest[size..size + 2], b"\r\n", "CRLF after each chunk");
        rest = &rest[size + 2..];
    }
    Streamed {
        head,
        body,
        peak_rss_kib: peak,
    }
}

/// Totals per `iface` column ("" for history of no interface) as Python's `csv` module reads
/// the file, and the rows it read.
fn python_sums(csv: &Path) -> (BTreeMap<String, (u64, u64, u64)>, u64) {
    let script = r#"
import csv, json, sys
sums, rows = {}, 0
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    reader = csv.DictReader(f)
    assert reader.fieldnames == ["period_start", "period_end", "iface", "up_bytes", "down_bytes", "total_bytes"], reader.fieldnames
    for row in reader:
        up, down, total = int(row["up_bytes"]), int(row["down_bytes"]), int(row["total_bytes"])
        assert total == up + down, row
        s = sums.setdefault(row["iface"], [0, 0, 0])
        s[0] += up; s[1] += down; s[2] += total
        rows += 1
print(json.dumps({"sums": sums, "rows": rows}))
"#;
    let output = run_ok(
        Command::new("python3").args(["-c", script]).arg(csv),
        Duration::from_secs(120),
    );
    let value: Value = serde_json::from_slice(&output.stdout).expect("JSON from python");
    let sums = value["sums"]
        .as_object()
        .expect("sums")
        .iter()
        .map(|(iface, s)| {
            let n = |i: usize| s[i].as_u64().expect("a number");
            (iface.clone(), (n(0), n(1), n(2)))
        })
        .collect();
    (sums, value["rows"].as_u64().expect("rows"))
}

/// `/api/query`'s summary over the range (by month: the same days, a short answer).
fn query_totals(lab: &Lab, iface: Option<&str>) -> (u64, u64, u64) {
    let mut target = "/api/query?start=2010-01-01&end=2030-12-31&granularity=month".to_string();
    if let Some(iface) = iface {
        target.push_str(&format!("&iface={iface}"));
    }
    let summary = &lab.json(&target)["summary"];
    let n = |key: &str| summary[key].as_u64().expect("a number");
    (n("up_bytes"), n("down_bytes"), n("total_bytes"))
}

/// `export` with `args` read off its stdout, and its VmHWM (KiB) sampled until its end.
fn command_streamed(lab: &Lab, args: &[&str]) -> (Vec<u8>, u64) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"));
    command
        .arg("export")
        .args(args)
        .env("TZ", "UTC")
        .env("DB_PATH", &lab.db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = command.spawn().expect("start export");
    let pid = child.id();
    let mut stdout = child.stdout.take().expect("piped");
    let mut out = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    // Let it open the history and fill the pipe (64 KiB): it then waits for each read, so the
    // samples below see it mid-export. VmHWM only grows: the last sample is the peak so far.
    std::thread::sleep(Duration::from_secs(2));
    let mut hwm = 0;
    loop {
        hwm = hwm.max(status_kib(pid, "VmHWM").unwrap_or(0));
        let read = stdout.read(&mut buffer).expect("read the command's export");
        if read == 0 {
            break;
        }
        out.extend_from_slice(&buffer[..read]);
    }
    let status = child.wait().expect("export ends");
    assert!(status.success(), "export {args:?}: {status}");
    (out, hwm)
}

fn export_streams_flat_and_adds_up() {
    let lab = Lab::new("api-export");
    let idle_kib = status_kib(lab.monitor().child.id(), "VmRSS").expect("the monitor runs");

    let csv = get_streamed(&lab, &format!("/api/export.csv?{RANGE}"));
    assert_eq!(
        csv.header("content-type"),
        Some("text/csv; charset=utf-8; header=present")
    );
    assert_eq!(csv.header("transfer-encoding"), Some("chunked"));
    assert_eq!(csv.header("content-length"), None);
    assert_eq!(
        csv.header("content-disposition"),
        Some("attachment; filename=\"nettraffic-2010-01-01-2030-12-31-hour.csv\"")
    );
    let text = std::str::from_utf8(&csv.body).expect("UTF-8");
    assert!(text.starts_with("period_start,period_end,iface,up_bytes,down_bytes,total_bytes\r\n"));
    assert!(
        text.contains("\r\n2020-01-01T00:00:00+00:00,2020-01-01T01:00:00+00:00,eth0,"),
        "{}",
        &text[..400.min(text.len())]
    );
    // Every row is one hour, in order of its start.
    let mut previous = i64::MIN;
    for row in text.split("\r\n").skip(1).filter(|l| !l.is_empty()) {
        let mut fields = row.split(',');
        let mut instant = || {
            let field = fields.next().expect("a field");
            field
                .parse::<jiff::Timestamp>()
                .unwrap_or_else(|e| panic!("{field}: {e}"))
                .as_second()
        };
        let (start, end) = (instant(), instant());
        assert_eq!(end - start, 3600, "{row}");
        assert!(start >= previous, "{row}");
        previous = start;
    }
    let csv_path = lab.dir.path().join("api.csv");
    std::fs::write(&csv_path, &csv.body).expect("write the export");

    // Flat memory: a whole-answer export would hold the body (and the rows it is made from).
    let grown_kib = csv.peak_rss_kib.saturating_sub(idle_kib);
    let body_kib = csv.body.len() as u64 / 1024;
    println!(
        "api export: {} bytes ({} rows); monitor VmRSS idle {idle_kib} KiB, peak while streaming {} KiB (+{grown_kib} KiB)",
        csv.body.len(),
        text.matches("\r\n").count() - 1,
        csv.peak_rss_kib
    );
    assert!(body_kib > 12 * 1024, "the export is large: {body_kib} KiB");
    assert!(
        grown_kib < 8 * 1024,
        "the monitor grew by {grown_kib} KiB sending a {body_kib} KiB export"
    );

    // Python's csv module re-reads it to /api/query's totals, per interface and for all.
    let (sums, rows) = python_sums(&csv_path);
    assert!(rows >= 2 * HOURS as u64, "{rows} rows");
    let mut all = (0, 0, 0);
    for (iface, sum) in &sums {
        all = (all.0 + sum.0, all.1 + sum.1, all.2 + sum.2);
        if !iface.is_empty() {
            assert_eq!(*sum, query_totals(&lab, Some(iface)), "iface {iface}");
        }
    }
    assert!(sums.contains_key(""), "imported history has rows: {sums:?}");
    assert_eq!(
        sums.keys().cloned().collect::<Vec<_>>(),
        ["", "eth0", "wan1"]
    );
    assert_eq!(all, query_totals(&lab, None), "all interfaces");

    // One interface: its rows only, the same as in the whole export.
    let one = get_streamed(&lab, &format!("/api/export.csv?{RANGE}&iface=wan1"));
    let wan1: Vec<&str> = text
        .split("\r\n")
        .filter(|l| l.contains(",wan1,"))
        .collect();
    let only: Vec<&str> = std::str::from_utf8(&one.body)
        .expect("UTF-8")
        .split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(only, wan1);

    // JSON Lines: every line parses, with the CSV's numbers in the same order.
    let jsonl = get_streamed(&lab, &format!("/api/export.jsonl?{RANGE}"));
    assert_eq!(jsonl.header("content-type"), Some("application/x-ndjson"));
    let lines: Vec<&str> = std::str::from_utf8(&jsonl.body)
        .expect("UTF-8")
        .strip_suffix('\n')
        .expect("ends with a line end")
        .split('\n')
        .collect();
    let csv_rows: Vec<&str> = text
        .split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), csv_rows.len());
    for (line, row) in lines.iter().zip(&csv_rows) {
        let value: Value = serde_json::from_str(line).expect("each line is JSON");
        let fields: Vec<&str> = row.split(',').collect();
        assert_eq!(value["period_start"], fields[0]);
        assert_eq!(value["period_end"], fields[1]);
        assert_eq!(value["iface"], fields[2]);
        for (key, field) in [("up_bytes", 3), ("down_bytes", 4), ("total_bytes", 5)] {
            assert_eq!(value[key].to_string(), fields[field], "{key} of {line}");
        }
    }

    // While the monitor runs, the command says to stop it (or use the API).
    let (code, _, stderr) = lab.command(&["--start", "2020-01-01", "--end", "2020-01-02"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("stop the monitor"), "{stderr}");

    // The command, once the monitor has stopped: the same bytes, in flat memory too.
    let mut lab = lab;
    if let Some(monitor) = lab.monitor.take() {
        monitor.stop();
    }
    // The command's own footprint (binary, redb's cache filled while the days are summed at
    // open) is its peak for one month by hour (more than the pipe holds, so it is caught
    // mid-export); the ten-year export may add little to it.
    let (month, base_kib) = command_streamed(
        &lab,
        &[
            "--start",
            "2020-01-01",
            "--end",
            "2020-01-31",
            "--granularity",
            "hour",
        ],
    );
    assert!(month.len() > 64 * 1024, "{} bytes", month.len());
    for (format, api) in [("csv", &csv.body), ("jsonl", &jsonl.body)] {
        let (out, hwm) = command_streamed(
            &lab,
            &[
                "--start",
                "2010-01-01",
                "--end",
                "2030-12-31",
                "--granularity",
                "hour",
                "--format",
                format,
            ],
        );
        let grown_kib = hwm.saturating_sub(base_kib);
        println!(
            "command export --format {format}: {} bytes, VmHWM {hwm} KiB (a month by hour: {base_kib} KiB, +{grown_kib} KiB)",
            out.len()
        );
        assert!(
            out == *api,
            "export --format {format} gives the API's bytes ({} against {})",
            out.len(),
            api.len()
        );
        assert!(
            grown_kib < 4 * 1024,
            "the command grew by {grown_kib} KiB for a {} KiB export",
            out.len() / 1024
        );
    }
    // --output writes a file and says how many rows.
    let file = lab.dir.path().join("out.csv");
    let file_text = file.to_string_lossy().into_owned();
    let (code, _, stderr) = lab.command(&[
        "--start",
        "2010-01-01",
        "--end",
        "2030-12-31",
        "--granularity",
        "hour",
        "--output",
        &file_text,
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!("exported {rows} rows")),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&file).expect("the file"), csv.body);
    assert!(!lab.dir.path().join("out.csv.part").exists());
}

fn bad_input_is_refused_naming_the_parameter() {
    let lab = Lab::new("api-export-bad");
    for (query, names) in [
        ("start=2024-13-01&end=2024-12-31", "start 2024-13-01"),
        ("start=2024-1-1&end=2024-12-31", "start must be a date"),
        (
            "start=2024-02-01&end=2024-01-01",
            "end 2024-01-01 is before start",
        ),
        (
            "start=2024-01-01&end=2024-01-02&granularity=week",
            "granularity must be",
        ),
        ("start=2024-01-01&end=2024-01-02&iface=eth9", "iface 'eth9'"),
        ("end=2024-01-02", "start is required"),
    ] {
        for path in ["/api/export.csv", "/api/export.jsonl"] {
            let answer = lab.monitor().get(&format!("{path}?{query}"));
            assert_eq!(answer.status, 400, "{path}?{query}");
            assert_eq!(answer.header("content-type"), Some("application/json"));
            assert!(
                answer.error().contains(names),
                "{path}?{query}: {}",
                answer.error()
            );
        }
    }
    let mut lab = lab;
    if let Some(monitor) = lab.monitor.take() {
        monitor.stop();
    }
    for (args, names) in [
        (
            &["--start", "2024-13-01", "--end", "2024-12-31"][..],
            "--start 2024-13-01",
        ),
        (
            &["--start", "2024-02-01", "--end", "2024-01-01"][..],
            "--end 2024-01-01 is before --start",
        ),
        (
            &[
                "--start",
                "2024-01-01",
                "--end",
                "2024-01-02",
                "--granularity",
                "week",
            ][..],
            "--granularity must be",
        ),
        (
            &[
                "--start",
                "2024-01-01",
                "--end",
                "2024-01-02",
                "--iface",
                "eth9",
            ][..],
            "--iface 'eth9'",
        ),
        (
            &[
                "--start",
                "2024-01-01",
                "--end",
                "2024-01-02",
                "--format",
                "xml",
            ][..],
            "--format must be",
        ),
        (&["--end", "2024-01-02"][..], "--start is required"),
    ] {
        let (code, stdout, stderr) = lab.command(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}");
        assert!(stderr.contains(names), "{args:?}: {stderr}");
    }
    // An output that cannot be written: exit 1, nothing left behind.
    let (code, _, stderr) = lab.command(&[
        "--start",
        "2020-01-01",
        "--end",
        "2020-01-02",
        "--output",
        "/nonexistent-directory/out.csv",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("could not be written to /nonexistent-directory/out.csv.part"),
        "{stderr}"
    );
    let missing = lab.dir.path().join("none.redb");
    let (code, _, stderr) = {
        let mut command = Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"));
        command
            .args([
                "export",
                "--start",
                "2024-01-01",
                "--end",
                "2024-01-02",
                "--db",
            ])
            .arg(&missing)
            .env("TZ", "UTC");
        let output = run(&mut command, Duration::from_secs(30));
        (
            output.status.code(),
            output.stdout,
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(!missing.exists(), "nothing is created");
}
