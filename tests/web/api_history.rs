//! The HTTP API of the real monitor over a history filled by `import` of every countable corpus
//! capture (root: the monitor runs in a network namespace, capturing its loopback, and the test
//! talks to it there).
//!
//! Expected numbers come only from `tests/captures/expected/*.json` (the normative output of the
//! counting rules, computed in UTC as this monitor runs here): their `hours` added up per hour,
//! day, month and year, and their `remote_ips` added up per address. The imported history
//! belongs to no interface, so `?iface=lo` must show none of it.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use jiff::civil::Date;
use serde_json::{Value, json};

use crate::support::netns::{Netns, run_ok};
use crate::support::web::{Answer, Monitor, db_in, totals};
use crate::support::{TempDir, all_captures, expected_json_path};

fn expected_json(capture: &Path) -> Value {
    let name = capture.file_name().expect("a file name").to_string_lossy();
    let path = expected_json_path(&name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("expected file")).expect("JSON")
}

/// Up and down bytes.
type Bytes = (u64, u64);

fn add(into: &mut Bytes, bytes: Bytes) {
    into.0 += bytes.0;
    into.1 += bytes.1;
}

fn bytes_of(value: &Value) -> Bytes {
    (
        value["up_bytes"].as_u64().expect("up_bytes"),
        value["down_bytes"].as_u64().expect("down_bytes"),
    )
}

/// What the expected files say, added up.
struct Expected {
    /// Every capture without an `error` entry (those `import` cannot read).
    files: Vec<PathBuf>,
    /// "YYYY-MM-DD HH:00" (UTC) → bytes.
    hours: BTreeMap<String, Bytes>,
    /// File name → its remote addresses.
    remotes: BTreeMap<String, BTreeMap<IpAddr, Bytes>>,
    /// File name → the days its hours fall on.
    days_of_file: BTreeMap<String, Vec<String>>,
}

impl Expected {
    fn load() -> Expected {
        let mut expected = Expected {
            files: Vec::new(),
            hours: BTreeMap::new(),
            remotes: BTreeMap::new(),
            days_of_file: BTreeMap::new(),
        };
        for file in all_captures() {
            let json = expected_json(&file);
            if json.get("error").is_some() {
                continue;
            }
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            let mut days = Vec::new();
            for (label, bytes) in json["hours"].as_object().expect("hours") {
                add(
                    expected.hours.entry(label.clone()).or_default(),
                    bytes_of(bytes),
                );
                days.push(label[..10].to_string());
            }
            days.sort();
            days.dedup();
            expected.days_of_file.insert(name.clone(), days);
            let remotes = json["remote_ips"]
                .as_object()
                .expect("remote_ips")
                .iter()
                .map(|(ip, bytes)| (ip.parse().expect("an address"), bytes_of(bytes)))
                .collect();
            expected.remotes.insert(name, remotes);
            expected.files.push(file);
        }
        expected
    }

    /// Bytes of every hour whose label starts with `prefix` ("2011", "2011-01", "2011-01-12").
    fn sum(&self, prefix: &str) -> Bytes {
        let mut total = (0, 0);
        for (label, bytes) in &self.hours {
            if label.starts_with(prefix) {
                add(&mut total, *bytes);
            }
        }
        total
    }

    /// Days (and months) with traffic, and the first and last.
    fn days(&self) -> Vec<String> {
        let mut days: Vec<String> = self.hours.keys().map(|l| l[..10].to_string()).collect();
        days.dedup();
        days
    }
}

fn expected() -> &'static Expected {
    static EXPECTED: OnceLock<Expected> = OnceLock::new();
    EXPECTED.get_or_init(Expected::load)
}

/// One history filled by `import`, made once; each test runs its monitor on a copy.
fn imported_history() -> &'static Path {
    static HISTORY: OnceLock<(TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = HISTORY.get_or_init(|| {
        let dir = TempDir::new("api-import");
        let db = db_in(dir.path());
        let mut command = Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"));
        command
            .arg("import")
            .args(&expected().files)
            .env("TZ", "UTC")
            .env("DB_PATH", &db)
            .env_remove("LOCAL_PREFIXES")
            .env_remove("EXCLUDE_IPV6_PREFIX");
        run_ok(&mut command, Duration::from_secs(120));
        (dir, db)
    });
    path
}

/// A monitor on its own copy of the imported history, capturing the loopback of its namespace.
struct Lab {
    monitor: Option<Monitor>,
    _netns: Netns,
    _dir: TempDir,
}

impl Lab {
    fn new(label: &str) -> Lab {
        let source = imported_history();
        let dir = TempDir::new(label);
        let db = db_in(dir.path());
        std::fs::copy(source, &db).expect("copy the imported history");
        let mut netns = Netns::new(label);
        let namespace = netns.add("m");
        let mut monitor = Monitor::start(&netns, &namespace, "lo", &db, &[]);
        monitor.wait_ready("lo");
        Lab {
            monitor: Some(monitor),
            _netns: netns,
            _dir: dir,
        }
    }

    fn get(&self, target: &str) -> Answer {
        self.monitor.as_ref().expect("running").get(target)
    }

    /// `target` must answer 200 with JSON.
    fn json(&self, target: &str) -> Value {
        let answer = self.get(target);
        assert_eq!(answer.status, 200, "{target}: {}", answer.text());
        assert_eq!(
            answer.header("content-type"),
            Some("application/json"),
            "{target}"
        );
        answer.json()
    }

    /// SIGTERM: exit 0 within 5 s.
    fn stop(mut self) {
        if let Some(monitor) = self.monitor.take() {
            monitor.stop();
        }
    }
}

fn row_bytes(row: &Value) -> Bytes {
    let bytes = bytes_of(row);
    assert_eq!(
        row["total_bytes"].as_u64(),
        Some(bytes.0 + bytes.1),
        "total_bytes of {row}"
    );
    bytes
}

fn date(text: &str) -> Date {
    text.parse().expect("a date")
}

fn today() -> Date {
    jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date()
}

fn query_by_day_month_and_hour_is_zero_filled_and_exact() {
    let lab = Lab::new("api-query");
    let expected = expected();
    let days = expected.days();
    let (first, last) = (date(&days[0]), date(&days[days.len() - 1]));

    let body = lab.json(&format!("/api/query?start={first}&end={last}"));
    let series = body["series"].as_array().expect("series");
    let span = last.since(first).expect("span").get_days() as usize + 1;
    assert_eq!(series.len(), span, "one row per day from {first} to {last}");
    let mut day = first;
    let mut sum = (0, 0);
    for row in series {
        assert_eq!(row["day"], day.to_string());
        assert_eq!(row.as_object().unwrap().len(), 4, "{row}");
        assert_eq!(row_bytes(row), expected.sum(&day.to_string()), "{day}");
        add(&mut sum, row_bytes(row));
        day = day.tomorrow().unwrap();
    }
    assert_eq!(sum, expected.sum(""));
    assert_eq!(body["summary"], totals(expected.sum("")));

    let body = lab.json(&format!(
        "/api/query?start={first}&end={last}&granularity=month"
    ));
    let series = body["series"].as_array().expect("series");
    let months = (i32::from(last.year()) - i32::from(first.year())) * 12 + i32::from(last.month())
        - i32::from(first.month())
        + 1;
    assert_eq!(series.len(), months as usize);
    let mut month = first.first_of_month();
    for row in series {
        let label = format!("{:04}-{:02}", month.year(), month.month());
        assert_eq!(row["month"], label);
        assert_eq!(row_bytes(row), expected.sum(&label), "{label}");
        month = month.checked_add(jiff::Span::new().months(1)).unwrap();
    }
    assert_eq!(body["summary"], totals(expected.sum("")));

    for day in &days {
        let body = lab.json(&format!(
            "/api/query?start={day}&end={day}&granularity=hour"
        ));
        let series = body["series"].as_array().expect("series");
        assert_eq!(series.len(), 24, "{day}: UTC days have 24 hours");
        for (hour, row) in series.iter().enumerate() {
            let label = format!("{day} {hour:02}:00");
            assert_eq!(row["hour_ts"], format!("{label}:00"));
            assert_eq!(
                row_bytes(row),
                expected.hours.get(&label).copied().unwrap_or_default(),
                "{label}"
            );
        }
        assert_eq!(body["summary"], totals(expected.sum(day)), "{day}");
    }

    // A two-day range by hour: 48 rows, the second day's hours after the first's.
    let two = "/api/query?start=2011-01-11&end=2011-01-12&granularity=hour";
    let series = lab.json(two)["series"].as_array().unwrap().clone();
    assert_eq!(series.len(), 48);
    assert_eq!(series[24]["hour_ts"], "2011-01-12 00:00:00");
    lab.stop();
}

fn summary_history_and_date_range() {
    let lab = Lab::new("api-summary");
    let expected = expected();
    let today = today();
    let year = format!("{:04}", today.year());
    let month = format!("{year}-{:02}", today.month());

    let body = lab.json("/api/summary");
    assert_eq!(body["today"], totals(expected.sum(&today.to_string())));
    assert_eq!(body["month"], totals(expected.sum(&month)));
    assert_eq!(body["year"], totals(expected.sum(&year)));
    assert_eq!(body["timezone"], "UTC");
    assert_eq!(body["interfaces"], json!(["lo"]));

    let days = lab.json("/api/history/30days")["days"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(days.len(), 30);
    let mut day = today.checked_sub(jiff::Span::new().days(29)).unwrap();
    for row in &days {
        assert_eq!(row["day"], day.to_string());
        assert_eq!(row_bytes(row), expected.sum(&day.to_string()));
        day = day.tomorrow().unwrap();
    }

    let months = lab.json("/api/history/12months")["months"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(months.len(), 12);
    let mut first = today
        .first_of_month()
        .checked_sub(jiff::Span::new().months(11))
        .unwrap();
    for row in &months {
        let label = format!("{:04}-{:02}", first.year(), first.month());
        assert_eq!(row["month"], label);
        assert_eq!(row_bytes(row), expected.sum(&label), "{label}");
        first = first.checked_add(jiff::Span::new().months(1)).unwrap();
    }

    let hours = lab.json("/api/history/today_hours")["hours"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(hours.len(), 24);
    for (hour, row) in hours.iter().enumerate() {
        let label = format!("{today} {hour:02}:00");
        assert_eq!(row["hour_ts"], format!("{label}:00"));
        assert_eq!(
            bytes_of(row),
            expected.hours.get(&label).copied().unwrap_or_default()
        );
        assert_eq!(row.as_object().unwrap().len(), 3, "no total_bytes: {row}");
    }

    let all_days = expected.days();
    assert_eq!(
        lab.json("/api/date_range"),
        json!({"min": all_days[0], "max": all_days[all_days.len() - 1]})
    );

    // Imported history belongs to no interface.
    let body = lab.json("/api/summary?iface=lo");
    assert_eq!(body["year"], totals((0, 0)));
    assert_eq!(
        lab.json("/api/date_range?iface=lo"),
        json!({"min": today.to_string(), "max": today.to_string()})
    );
    let query = lab.json("/api/query?start=2011-01-12&end=2011-01-12&iface=lo");
    assert_eq!(query["summary"], totals((0, 0)));
    lab.stop();
}

/// The heaviest first, ties by address; compare with the expected remotes added up.
fn assert_top(list: &Value, remotes: &BTreeMap<IpAddr, Bytes>, limit: usize, context: &str) {
    let mut sorted: Vec<(IpAddr, Bytes)> = remotes.iter().map(|(a, b)| (*a, *b)).collect();
    sorted.sort_by(|a, b| (b.1.0 + b.1.1).cmp(&(a.1.0 + a.1.1)).then(a.0.cmp(&b.0)));
    sorted.truncate(limit);
    let expected: Vec<Value> = sorted
        .iter()
        .map(|(ip, (up, down))| {
            json!({
                "ip": ip.to_string(),
                "bytes": up + down,
                "bytes_fmt": nettraffic_sentinel::units::format_bytes(up + down),
                "up_bytes": up,
                "down_bytes": down,
            })
        })
        .collect();
    assert_eq!(list["top_ips"], Value::Array(expected), "{context}");
}

fn top_ips_over_stored_days() {
    let lab = Lab::new("api-top");
    let expected = expected();
    // Every file's addresses over the whole history.
    let mut all: BTreeMap<IpAddr, Bytes> = BTreeMap::new();
    for remotes in expected.remotes.values() {
        for (ip, bytes) in remotes {
            add(all.entry(*ip).or_default(), *bytes);
        }
    }
    assert!(all.len() > 50, "{} addresses", all.len());
    let body = lab.json("/api/top_ips?start=1970-01-01&end=2026-12-31&limit=1000");
    assert_top(&body, &all, 1000, "whole history");
    let body = lab.json("/api/top_ips?start=1970-01-01&end=2026-12-31");
    assert_top(&body, &all, 10, "default limit");

    // 2025-07-08: three one-day files, two of which share 9.9.9.9.
    let day = "2025-07-08";
    let mut merged: BTreeMap<IpAddr, Bytes> = BTreeMap::new();
    let mut files = 0;
    for (name, days) in &expected.days_of_file {
        if days.iter().any(|d| d == day) {
            assert_eq!(days, &[day.to_string()], "{name} lies on {day} alone");
            files += 1;
            for (ip, bytes) in &expected.remotes[name] {
                add(merged.entry(*ip).or_default(), *bytes);
            }
        }
    }
    assert_eq!(files, 3);
    let body = lab.json(&format!("/api/top_ips?start={day}&end={day}&limit=3"));
    assert_top(&body, &merged, 3, day);

    // No traffic today: without parameters the list is empty, as the original's was at start.
    assert_eq!(lab.json("/api/top_ips"), json!({"top_ips": []}));
    assert_eq!(
        lab.json("/api/top_ips?start=2020-01-01&end=2020-01-02&limit=3"),
        json!({"top_ips": []})
    );
    lab.stop();
}

/// The bad requests recorded from the original's API (where the original answered 200, 500
/// or HTML) and a few more: every one a 400 JSON error naming its parameter.
fn bad_input_is_400_json_naming_the_parameter_and_unknown_paths_404_json() {
    let lab = Lab::new("api-bad");
    for (target, named) in [
        ("/api/query", "start and end are required"),
        ("/api/query?start=2026-11-28", "end is required"),
        ("/api/query?start=garbage&end=2026-11-28", "start must be"),
        (
            "/api/query?start=2024-02-30&end=2024-03-01",
            "start 2024-02-30",
        ),
        (
            "/api/query?start=2026-9-1&end=2026-11-28&granularity=day",
            "start must be",
        ),
        (
            "/api/query?start=2026-9-1&end=2026-11-28&granularity=month",
            "start must be",
        ),
        (
            "/api/query?start=9999-12-30&end=9999-12-31&granularity=day",
            "start 9999-12-30",
        ),
        (
            "/api/query?start=2026-11-28&end=2020-01-01&granularity=day",
            "end 2020-01-01 is before start 2026-11-28",
        ),
        (
            "/api/query?start=2026-11-28&end=2020-01-01&granularity=hour",
            "end 2020-01-01 is before start 2026-11-28",
        ),
        (
            "/api/query?start=2026-11-28&end=2026-11-28&granularity=week",
            "granularity",
        ),
        (
            "/api/query?start=1900-01-01&end=2100-12-31&granularity=hour",
            "100000 points",
        ),
        (
            "/api/query?start=2026-11-28&end=2026-11-28&iface=eth9",
            "iface 'eth9'",
        ),
        ("/api/summary?iface=eth9", "iface 'eth9'"),
        ("/api/top_ips?limit=0", "limit"),
        ("/api/top_ips?start=2026-13-01", "start"),
        ("/api/realtime?iface=wlan0", "iface 'wlan0'"),
        ("/api/health?iface=wlan0", "iface 'wlan0'"),
    ] {
        let answer = lab.get(target);
        assert_eq!(answer.status, 400, "{target}: {}", answer.text());
        assert_eq!(answer.header("content-type"), Some("application/json"));
        let body = answer.json();
        let message = body["error"].as_str().expect("an error message");
        assert!(message.contains(named), "{target}: {message}");
    }
    // The original's 1900–2100 range by day (73,414 points) is answered.
    let body = lab.json("/api/query?start=1900-01-01&end=2100-12-31&granularity=day");
    assert_eq!(body["series"].as_array().map(Vec::len), Some(73_414));
    assert_eq!(body["summary"], totals(expected().sum("")));
    for target in ["/api/nope", "/nope", "/api/summary/", "/metrics/x"] {
        let answer = lab.get(target);
        assert_eq!(answer.status, 404, "{target}");
        assert_eq!(answer.header("content-type"), Some("application/json"));
        assert!(answer.json()["error"].as_str().unwrap().contains(target));
    }
    lab.stop();
}

/// The dashboard page from the real binary: its validators, a 304 for a matching
/// `If-None-Match`, and the gzip copy (which unpacks to the same page) when it is accepted.
fn the_page_is_served_with_validators_and_gzip() {
    use std::io::Read;
    let lab = Lab::new("api-page");
    let monitor = lab.monitor.as_ref().expect("running");
    let plain = crate::support::web::get(&monitor.namespace, "/");
    assert_eq!(plain.status, 200);
    assert!(
        plain
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{:?}",
        plain.headers
    );
    assert!(plain.text().contains("<html"), "{}", plain.text());
    assert_eq!(plain.header("content-encoding"), None);
    let etag = plain.header("etag").expect("an ETag").to_string();
    assert!(plain.header("cache-control").is_some());

    let again = crate::support::web::get_with(&monitor.namespace, "/", &[("If-None-Match", &etag)]);
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));

    let packed =
        crate::support::web::get_with(&monitor.namespace, "/", &[("Accept-Encoding", "gzip, br")]);
    assert_eq!(packed.status, 200);
    assert_eq!(packed.header("content-encoding"), Some("gzip"));
    assert_eq!(packed.header("vary"), Some("Accept-Encoding"));
    assert_ne!(
        packed.header("etag"),
        Some(etag.as_str()),
        "its own validator"
    );
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(packed.body.as_slice())
        .read_to_end(&mut unpacked)
        .expect("a gzip body");
    assert_eq!(unpacked, plain.body);
    lab.stop();
}

fn date_range_never_names_a_day_that_query_refuses() {
    use crate::support::{ETHERTYPE_IPV4, IF_TSOFFSET, IF_TSRESOL, PcapngWriter, eth, ipv4_packet};
    let dir = TempDir::new("api-far-dates");
    let db = db_in(dir.path());
    let up = eth(
        ETHERTYPE_IPV4,
        &ipv4_packet("192.168.1.2", "203.0.113.9", 80),
    );
    // Interface 0 counts whole seconds (if_tsresol 0); interface 1 is offset 3e9 s into the past.
    let writer = PcapngWriter::new().section(false);
    let past = writer.tsoffset(-3_000_000_000);
    let capture = writer
        .interface(1, &[(IF_TSRESOL, vec![0])])
        .interface(1, &[(IF_TSRESOL, vec![0]), (IF_TSOFFSET, past)])
        // 2024-06-15 10:00:05 UTC.
        .enhanced(0, 1_718_445_605, up.len() as u32, &up)
        // Year 14645: beyond what a date can even be written as.
        .enhanced(0, 400_000_000_000, up.len() as u32, &up)
        // Year 5001.
        .enhanced(0, 95_649_120_000, up.len() as u32, &up)
        // 1878 (1e8 − 3e9 s).
        .enhanced(1, 100_000_000, up.len() as u32, &up)
        .finish();
    let file = dir.write("far.pcapng", &capture);
    let mut command = Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"));
    command
        .arg("import")
        .arg(&file)
        .env("TZ", "UTC")
        .env("DB_PATH", &db)
        .env_remove("LOCAL_PREFIXES")
        .env_remove("EXCLUDE_IPV6_PREFIX");
    let output = run_ok(&mut command, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("3 packets") && stderr.contains("1900-2999"),
        "the import says what it left out: {stderr}"
    );

    // A file written before that limit may already hold such hours: one in year 5000.
    {
        use nettraffic_sentinel::store::schema::{HOURS, Hour};
        let database = redb::Database::open(&db).expect("open the history");
        let txn = database.begin_write().expect("write");
        txn.open_table(HOURS)
            .expect("hours")
            .insert(
                Hour {
                    scope: 0,
                    start: 95_617_584_000,
                },
                nettraffic_sentinel::count::UpDown { up: 7, down: 7 },
            )
            .expect("insert");
        txn.commit().expect("commit");
    }

    let mut netns = Netns::new("api-far");
    let namespace = netns.add("m");
    let mut monitor = Monitor::start(&netns, &namespace, "lo", &db, &[]);
    monitor.wait_ready("lo");
    let range = monitor.get("/api/date_range").json();
    eprintln!("/api/date_range: {range}");
    let (min, max) = (
        range["min"].as_str().expect("min").to_string(),
        range["max"].as_str().expect("max").to_string(),
    );
    assert_eq!(min, "2024-06-15", "{range}");
    assert!(max.as_str() <= today().to_string().as_str(), "{range}");
    for granularity in ["day", "month"] {
        let target = format!("/api/query?start={min}&end={max}&granularity={granularity}");
        let answer = monitor.get(&target);
        assert_eq!(answer.status, 200, "{target}: {}", answer.text());
    }
    let days = monitor
        .get("/api/query?start=2024-06-15&end=2024-06-15&granularity=day")
        .json();
    // Only the 2024 packet: IP total length 100.
    assert_eq!(days["series"][0]["up_bytes"], 100, "{days}");
    monitor.stop();
}

tests! {
    #[needs(Netns)]
    query_by_day_month_and_hour_is_zero_filled_and_exact,
    #[needs(Netns)]
    summary_history_and_date_range,
    #[needs(Netns)]
    top_ips_over_stored_days,
    #[needs(Netns)]
    bad_input_is_400_json_naming_the_parameter_and_unknown_paths_404_json,
    #[needs(Netns, Dashboard)]
    the_page_is_served_with_validators_and_gzip,
    #[needs(Netns)]
    date_range_never_names_a_day_that_query_refuses,
}
