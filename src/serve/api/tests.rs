//! The handler end to end, called directly: a real redb history filled by the persister's own
//! commit path, plus live counts that have not been committed, through a fixed [`LiveSource`].
//! Expected numbers are the inputs added by hand.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use jiff::civil::Date;
use serde_json::{Value, json};

use super::{Api, InterfaceReport, LiveSource};
use crate::clock::Zone;
use crate::clock::unix_now;
use crate::count::UpDown;
use crate::count::heavy::HeavyEntry;
use crate::count::live::{Counters, LiveSnapshot, RateSample};
use crate::live::CaptureState;
use crate::live::KernelStats;
use crate::persister::Persister;
use crate::serve::{Handler, Header, Request, Response};
use crate::store::{LiveView, Store};

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "nts-api-unit-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Live state a test sets by hand.
#[derive(Default)]
struct FixedLive {
    view: Mutex<LiveView>,
    states: Mutex<Vec<(String, CaptureState)>>,
    samples: Vec<RateSample>,
}

impl LiveSource for FixedLive {
    fn counts(&self) -> LiveView {
        let mut view = self.view.lock().unwrap().clone();
        for (_, snapshot) in &mut view.interfaces {
            snapshot.remotes.clear();
        }
        view
    }

    fn everything(&self) -> LiveView {
        self.view.lock().unwrap().clone()
    }

    fn interfaces(&self) -> Vec<InterfaceReport> {
        let view = self.view.lock().unwrap();
        self.states
            .lock()
            .unwrap()
            .iter()
            .map(|(name, state)| InterfaceReport {
                name: name.clone(),
                state: state.clone(),
                since: 1_700_000_000,
                counters: view
                    .interfaces
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, s)| s.counters)
                    .unwrap_or_default(),
                kernel: KernelStats {
                    packets: 40,
                    drops: 3,
                    freezes: 1,
                },
            })
            .collect()
    }

    fn rate(&self, interface: Option<&str>) -> Vec<RateSample> {
        match interface {
            None => self.samples.clone(),
            Some(_) => self.samples.iter().take(1).copied().collect(),
        }
    }
}

struct Lab {
    _dir: TempDir,
    store: Arc<Store>,
    live: Arc<FixedLive>,
    api: Api,
    zone: Zone,
}

fn lab(zone: Zone) -> Lab {
    let dir = TempDir::new();
    let store = Arc::new(Store::open(&dir.0.join("traffic.redb"), zone.clone(), 1000).unwrap());
    let live = Arc::new(FixedLive {
        states: Mutex::new(vec![
            ("eth0".into(), CaptureState::Capturing),
            ("ppp0".into(), CaptureState::Capturing),
        ]),
        samples: vec![
            RateSample {
                unix_second: 1_795_877_119,
                bytes: UpDown { up: 0, down: 0 },
            },
            RateSample {
                unix_second: 1_795_877_120,
                bytes: UpDown {
                    up: 2774,
                    down: 3397,
                },
            },
        ],
        ..FixedLive::default()
    });
    let api = Api::new(Arc::clone(&store), Arc::clone(&live) as Arc<dyn LiveSource>);
    Lab {
        _dir: dir,
        store,
        live,
        api,
        zone,
    }
}

fn ud(up: u64, down: u64) -> UpDown {
    UpDown { up, down }
}

/// A snapshot holding `hours` and, on `day`, `remotes`.
fn snapshot(hours: &[(i64, UpDown)], day: Date, remotes: &[(&str, UpDown)]) -> LiveSnapshot {
    let hours: BTreeMap<i64, UpDown> = hours.iter().copied().collect();
    let mut counters = Counters::default();
    for bytes in hours.values() {
        counters.total += *bytes;
    }
    let mut snapshot = LiveSnapshot {
        counters,
        hours,
        pairs: BTreeMap::new(),
        remotes: BTreeMap::new(),
        devices: BTreeMap::new(),
        ..LiveSnapshot::default()
    };
    if !remotes.is_empty() {
        snapshot.remotes.insert(
            day,
            remotes
                .iter()
                .map(|(addr, bytes)| HeavyEntry {
                    addr: addr.parse::<IpAddr>().unwrap(),
                    bytes: *bytes,
                    error: 0,
                })
                .collect(),
        );
    }
    snapshot
}

fn get(api: &Api, target: &str) -> (u16, Value) {
    let response = get_raw(api, target, &[]);
    let body: Value = serde_json::from_slice(response.body.as_bytes()).unwrap_or_else(|error| {
        panic!(
            "{target}: not JSON ({error}): {}",
            String::from_utf8_lossy(response.body.as_bytes())
        )
    });
    assert_eq!(response.content_type, "application/json", "{target}");
    (response.status, body)
}

fn get_raw(api: &Api, target: &str, headers: &[Header<'_>]) -> Response {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    api.handle(&Request {
        method: "GET",
        path: path.as_bytes(),
        query: query.as_bytes(),
        headers,
    })
}

fn bad(api: &Api, target: &str, parameter: &str) -> String {
    let (status, body) = get(api, target);
    assert_eq!(status, 400, "{target}: {body}");
    let message = body["error"]
        .as_str()
        .expect("an error message")
        .to_string();
    assert!(
        message.contains(parameter),
        "{target}: the message should name {parameter}: {message}"
    );
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
    message
}

fn totals(up: u64, down: u64) -> Value {
    json!({
        "up_bytes": up,
        "down_bytes": down,
        "total_bytes": up + down,
        "up_fmt": crate::units::format_bytes(up),
        "down_fmt": crate::units::format_bytes(down),
        "total_fmt": crate::units::format_bytes(up + down),
    })
}

/// Today's current hour and an hour ten days before it, committed for eth0 (and for ppp0 in the
/// current hour), then more live bytes counted in the current hour after that commit.
struct Filled {
    lab: Lab,
    today: Date,
    now_hour: i64,
    old_hour: i64,
}

fn filled() -> Filled {
    let lab = lab(Zone::utc());
    let now = unix_now();
    let now_hour = now - now.rem_euclid(3600);
    let old_hour = now_hour - 10 * 86_400;
    let today = lab.zone.date_of(now);
    let old_day = lab.zone.date_of(old_hour);
    let committed = LiveView {
        interfaces: vec![
            (
                "eth0".into(),
                snapshot(
                    &[(old_hour, ud(1_000, 2_000)), (now_hour, ud(100, 200))],
                    today,
                    &[("198.51.100.7", ud(0, 200)), ("203.0.113.9", ud(100, 0))],
                ),
            ),
            (
                "ppp0".into(),
                snapshot(
                    &[(now_hour, ud(10, 20))],
                    today,
                    &[("203.0.113.9", ud(10, 20))],
                ),
            ),
        ],
    };
    // Remote addresses of the old day as well, in the same commit.
    let mut committed = committed;
    committed.interfaces[0].1.remotes.insert(
        old_day,
        vec![HeavyEntry {
            addr: "192.0.2.1".parse().unwrap(),
            bytes: ud(1_000, 2_000),
            error: 0,
        }],
    );
    let mut persister = Persister::new(Arc::clone(&lab.store));
    persister
        .commit_at(&committed, now, 30 * 86_400)
        .expect("commit");
    // Memory goes on counting: eth0 +5 up +7 down in the current hour, a new address.
    let mut live = committed.clone();
    live.interfaces[0].1 = snapshot(
        &[(old_hour, ud(1_000, 2_000)), (now_hour, ud(105, 207))],
        today,
        &[
            ("198.51.100.7", ud(0, 207)),
            ("203.0.113.9", ud(100, 0)),
            ("2001:db8::5", ud(5, 0)),
        ],
    );
    live.interfaces[0]
        .1
        .remotes
        .insert(old_day, committed.interfaces[0].1.remotes[&old_day].clone());
    *lab.live.view.lock().unwrap() = live;
    Filled {
        lab,
        today,
        now_hour,
        old_hour,
    }
}

fn same_month(a: Date, b: Date) -> bool {
    a.year() == b.year() && a.month() == b.month()
}

#[test]
fn summary_adds_committed_and_live_counts_once() {
    let f = filled();
    let old_day = f.lab.zone.date_of(f.old_hour);
    // eth0 today 105/207 + ppp0 today 10/20; the old hour 1000/2000 counts in month and year
    // only when it falls in them.
    let (today_up, today_down) = (115, 227);
    let in_month = same_month(old_day, f.today);
    let in_year = old_day.year() == f.today.year();
    let (status, body) = get(&f.lab.api, "/api/summary");
    assert_eq!(status, 200);
    assert_eq!(body["today"], totals(today_up, today_down));
    let extra = |yes: bool, n: u64| if yes { n } else { 0 };
    assert_eq!(
        body["month"],
        totals(
            today_up + extra(in_month, 1000),
            today_down + extra(in_month, 2000)
        )
    );
    assert_eq!(
        body["year"],
        totals(
            today_up + extra(in_year, 1000),
            today_down + extra(in_year, 2000)
        )
    );
    assert_eq!(body["timezone"], "UTC");
    assert_eq!(body["interfaces"], json!(["eth0", "ppp0"]));

    let (_, body) = get(&f.lab.api, "/api/summary?iface=ppp0");
    assert_eq!(body["today"], totals(10, 20));
    let (_, body) = get(&f.lab.api, "/api/summary?iface=eth0");
    assert_eq!(body["today"], totals(105, 207));
    bad(&f.lab.api, "/api/summary?iface=wlan0", "iface 'wlan0'");
}

#[test]
fn the_summary_keys_are_in_the_originals_order() {
    let lab = lab(Zone::utc());
    let response = get_raw(&lab.api, "/api/summary", &[]);
    let text = String::from_utf8(response.body.as_bytes().to_vec()).unwrap();
    let zero = r#"{"down_bytes":0,"down_fmt":"0.00 B","total_bytes":0,"total_fmt":"0.00 B","up_bytes":0,"up_fmt":"0.00 B"}"#;
    // The billing cycle comes first (its figures depend on today, see the quota tests); the
    // original's fields follow unchanged.
    let (cycle, rest) = text
        .strip_prefix(r#"{"cycle":{"#)
        .and_then(|rest| rest.split_once(r#"},"interfaces":"#))
        .unwrap_or_else(|| panic!("the cycle, then the original's keys: {text}"));
    assert!(
        cycle.starts_with(r#""basis":"total","days_left":"#),
        "{cycle}"
    );
    assert_eq!(
        format!(r#"{{"interfaces":{rest}"#),
        format!(
            r#"{{"interfaces":["eth0","ppp0"],"month":{zero},"not_captured":[],"timezone":"UTC","today":{zero},"year":{zero}}}"#
        )
    );
}

/// `/api/quota` and the summary's cycle: committed and live hours of the current cycle, counted
/// once, by basis, against QUOTA; `?iface=` counts one interface.
#[test]
fn quota_counts_the_cycle_with_live_hours_once() {
    use crate::quota::{Basis, QuotaSettings};
    let mut f = filled();
    // BILLING_DAY = today's day of the month (at most 28, so every month has it): the cycle
    // started at today's midnight UTC, and the hour ten days ago is in the cycle before.
    let day = f.today.day().min(28) as u8;
    let first = if f.today.day() <= 28 {
        f.today
    } else {
        Date::new(f.today.year(), f.today.month(), 28).unwrap()
    };
    f.lab.api = Api::new(
        Arc::clone(&f.lab.store),
        Arc::clone(&f.lab.live) as Arc<dyn LiveSource>,
    )
    .with_quota(QuotaSettings {
        billing_day: day,
        quota: Some(1_000),
        basis: Basis::Down,
        interfaces: Vec::new(),
        alert_at: vec![50],
    });
    let (status, body) = get(&f.lab.api, "/api/quota");
    assert_eq!(status, 200, "{body}");
    let cycle = &body["cycle"];
    // Today: eth0 105 up 207 down (100/200 committed + 5/7 live), ppp0 10/20: down 227.
    assert_eq!(cycle["start"], first.to_string(), "{body}");
    assert_eq!(cycle["down_bytes"], 227, "{body}");
    assert_eq!(cycle["up_bytes"], 115, "{body}");
    assert_eq!(cycle["used_bytes"], 227, "{body}");
    assert_eq!(cycle["basis"], "down");
    assert_eq!(cycle["quota_bytes"], 1_000);
    assert_eq!(cycle["remaining_bytes"], 773);
    assert_eq!(cycle["percent"], 22.7);
    assert_eq!(body["billing_day"], day);
    assert_eq!(body["alert_at"], json!([50]));
    assert_eq!(body["alerts"], json!([]), "the handler records nothing");
    assert_eq!(body["interfaces"], json!([]));
    let past = body["past"].as_array().expect("past");
    assert_eq!(past.len(), 12);
    // The hour ten days ago (1000 up, 2000 down) is in one of the past cycles, once.
    let down: u64 = past.iter().map(|p| p["down_bytes"].as_u64().unwrap()).sum();
    assert_eq!(down, 2_000, "{body}");
    assert_eq!(past[11]["end"], first.yesterday().unwrap().to_string());
    // The summary carries the same cycle.
    let (_, summary) = get(&f.lab.api, "/api/summary");
    assert_eq!(summary["cycle"]["used_bytes"], 227, "{summary}");
    assert_eq!(summary["cycle"]["start"], first.to_string());
    // One interface: ppp0's 20 down.
    let (_, ppp0) = get(&f.lab.api, "/api/quota?iface=ppp0");
    assert_eq!(ppp0["cycle"]["used_bytes"], 20, "{ppp0}");
    assert_eq!(ppp0["interfaces"], json!(["ppp0"]));
    bad(&f.lab.api, "/api/quota?iface=wlan0", "iface 'wlan0'");
    // The metrics carry the quota gauges.
    let metrics = get_raw(&f.lab.api, "/metrics", &[]);
    let text = String::from_utf8(metrics.body.as_bytes().to_vec()).unwrap();
    assert!(
        text.lines().any(|l| l == "nettraffic_quota_bytes 1000"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l == "nettraffic_quota_used_bytes 227"),
        "{text}"
    );
    let start = cycle["start_ts"].as_i64().unwrap();
    assert!(
        text.lines()
            .any(|l| l == format!("nettraffic_quota_cycle_start_timestamp_seconds {start}")),
        "{text}"
    );
}

#[test]
fn without_a_quota_the_cycle_is_still_answered() {
    let f = filled();
    let (status, body) = get(&f.lab.api, "/api/quota");
    assert_eq!(status, 200, "{body}");
    let cycle = &body["cycle"];
    // BILLING_DAY=1: the cycle is this month.
    assert_eq!(cycle["start"], f.today.first_of_month().to_string());
    assert_eq!(cycle["end"], f.today.last_of_month().to_string());
    assert_eq!(cycle["basis"], "total");
    for key in [
        "quota_bytes",
        "quota_fmt",
        "remaining_bytes",
        "percent",
        "runs_out_on",
    ] {
        assert_eq!(cycle[key], Value::Null, "{key}: {body}");
    }
    assert_eq!(body["alert_at"], json!([80, 90, 100]));
    let metrics = get_raw(&f.lab.api, "/metrics", &[]);
    let text = String::from_utf8(metrics.body.as_bytes().to_vec()).unwrap();
    assert!(!text.contains("nettraffic_quota_bytes "), "{text}");
    assert!(text.contains("nettraffic_quota_used_bytes "), "{text}");
}

#[test]
fn query_series_are_zero_filled_in_every_granularity() {
    let f = filled();
    let old_day = f.lab.zone.date_of(f.old_hour);
    let target = format!("/api/query?start={old_day}&end={}", f.today);
    let (status, body) = get(&f.lab.api, &target);
    assert_eq!(status, 200);
    let series = body["series"].as_array().unwrap();
    assert_eq!(series.len(), 11, "ten days back and today, one row each");
    assert_eq!(
        series[0],
        json!({"day": old_day.to_string(), "up_bytes": 1000, "down_bytes": 2000, "total_bytes": 3000})
    );
    for row in &series[1..10] {
        assert_eq!(row["total_bytes"], 0, "{row}");
    }
    assert_eq!(
        series[10],
        json!({"day": f.today.to_string(), "up_bytes": 115, "down_bytes": 227, "total_bytes": 342})
    );
    assert_eq!(body["summary"], totals(1115, 2227));

    let target = format!(
        "/api/query?start={}&end={}&granularity=hour&iface=eth0",
        f.today, f.today
    );
    let (_, body) = get(&f.lab.api, &target);
    let series = body["series"].as_array().unwrap();
    assert_eq!(series.len(), 24);
    let hour = (f.now_hour.rem_euclid(86_400) / 3600) as usize;
    for (i, row) in series.iter().enumerate() {
        assert_eq!(
            row["hour_ts"],
            format!("{} {i:02}:00:00", f.today),
            "UTC hours in order"
        );
        let expected = if i == hour { (105, 207) } else { (0, 0) };
        assert_eq!(
            (row["up_bytes"].as_u64(), row["down_bytes"].as_u64()),
            (Some(expected.0), Some(expected.1)),
            "{row}"
        );
        assert_eq!(row.as_object().unwrap().len(), 4, "{row}");
    }
    assert_eq!(body["summary"], totals(105, 207));

    let first_month = old_day.first_of_month();
    let target = format!(
        "/api/query?start={first_month}&end={}&granularity=month",
        f.today
    );
    let (_, body) = get(&f.lab.api, &target);
    let series = body["series"].as_array().unwrap();
    let expected_months = if same_month(old_day, f.today) { 1 } else { 2 };
    assert_eq!(series.len(), expected_months);
    assert_eq!(
        series[0]["month"],
        format!("{:04}-{:02}", old_day.year(), old_day.month())
    );
    assert_eq!(body["summary"], totals(1115, 2227));
}

#[test]
fn query_400s_name_the_parameter() {
    // The recorded bad requests of shared/seed/api-responses, and more.
    let lab = lab(Zone::utc());
    let api = &lab.api;
    bad(api, "/api/query", "start and end are required");
    bad(api, "/api/query?start=2026-11-28", "end is required");
    bad(api, "/api/query?end=2026-11-28", "start is required");
    bad(
        api,
        "/api/query?start=garbage&end=2026-11-28",
        "start must be",
    );
    bad(
        api,
        "/api/query?start=2024-02-30&end=2024-03-01",
        "start 2024-02-30",
    );
    bad(
        api,
        "/api/query?start=2026-9-1&end=2026-11-28&granularity=day",
        "start must be",
    );
    bad(
        api,
        "/api/query?start=2026-9-1&end=2026-11-28&granularity=month",
        "start must be",
    );
    bad(
        api,
        "/api/query?start=9999-12-30&end=9999-12-31&granularity=day",
        "start 9999-12-30",
    );
    bad(
        api,
        "/api/query?start=2026-11-28&end=2020-01-01&granularity=day",
        "end 2020-01-01 is before start",
    );
    bad(
        api,
        "/api/query?start=2026-11-28&end=2020-01-01&granularity=hour",
        "end 2020-01-01 is before start",
    );
    bad(
        api,
        "/api/query?start=2026-11-28&end=2026-11-28&granularity=week",
        "granularity",
    );
    bad(
        api,
        "/api/query?start=1900-01-01&end=2100-12-31&granularity=hour",
        "granularity",
    );
    bad(
        api,
        "/api/query?start=2026-11-28&end=2026-11-28&iface=eth9",
        "iface 'eth9'",
    );
    bad(api, "/api/query?start=2026-11-28&end=%zz", "end");
    // The original's recorded "huge" range by day is 73,414 points: answered.
    let (status, body) = get(
        api,
        "/api/query?start=1900-01-01&end=2100-12-31&granularity=day",
    );
    assert_eq!(status, 200);
    assert_eq!(body["series"].as_array().map(Vec::len), Some(73_414));
}

#[test]
fn the_fixed_history_series() {
    let f = filled();
    let api = &f.lab.api;
    let (status, body) = get(api, "/api/history/30days");
    assert_eq!(status, 200);
    let days = body["days"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    assert_eq!(days[29]["day"], f.today.to_string());
    assert_eq!(days[29]["total_bytes"], 342);
    let old_day = f.lab.zone.date_of(f.old_hour);
    assert_eq!(days[19]["day"], old_day.to_string());
    assert_eq!(days[19]["total_bytes"], 3000);
    let sum: u64 = days
        .iter()
        .map(|d| d["total_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, 3342);

    let (_, body) = get(api, "/api/history/12months");
    let months = body["months"].as_array().unwrap();
    assert_eq!(months.len(), 12);
    assert_eq!(
        months[11]["month"],
        format!("{:04}-{:02}", f.today.year(), f.today.month())
    );
    let sum: u64 = months
        .iter()
        .map(|d| d["total_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, 3342);

    let (_, body) = get(api, "/api/history/today_hours?iface=ppp0");
    let hours = body["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    let hour = (f.now_hour.rem_euclid(86_400) / 3600) as usize;
    assert_eq!(
        hours[hour],
        json!({"hour_ts": format!("{} {hour:02}:00:00", f.today), "up_bytes": 10, "down_bytes": 20})
    );
    bad(api, "/api/history/30days?iface=nope", "iface");
}

#[test]
fn date_range_is_today_when_empty_and_the_data_span_otherwise() {
    let empty = lab(Zone::utc());
    let today = empty.zone.date_of(unix_now()).to_string();
    let (_, body) = get(&empty.api, "/api/date_range");
    assert_eq!(body, json!({"min": today, "max": today}));
    let f = filled();
    let (_, body) = get(&f.lab.api, "/api/date_range");
    assert_eq!(
        body,
        json!({"min": f.lab.zone.date_of(f.old_hour).to_string(), "max": f.today.to_string()})
    );
    let (_, body) = get(&f.lab.api, "/api/date_range?iface=ppp0");
    assert_eq!(
        body,
        json!({"min": f.today.to_string(), "max": f.today.to_string()})
    );
}

#[test]
fn top_ips_today_by_default_and_over_stored_days() {
    let f = filled();
    let api = &f.lab.api;
    let (status, body) = get(api, "/api/top_ips");
    assert_eq!(status, 200);
    // Today, all interfaces: 198.51.100.7 0/207, 203.0.113.9 110/20, 2001:db8::5 5/0.
    assert_eq!(
        body,
        json!({"top_ips": [
            {"ip": "198.51.100.7", "bytes": 207, "bytes_fmt": "207.00 B", "up_bytes": 0, "down_bytes": 207},
            {"ip": "203.0.113.9", "bytes": 130, "bytes_fmt": "130.00 B", "up_bytes": 110, "down_bytes": 20},
            {"ip": "2001:db8::5", "bytes": 5, "bytes_fmt": "5.00 B", "up_bytes": 5, "down_bytes": 0},
        ]})
    );
    let old_day = f.lab.zone.date_of(f.old_hour);
    let target = format!("/api/top_ips?start={old_day}&end={}&limit=2", f.today);
    let (_, body) = get(api, &target);
    assert_eq!(body["top_ips"][0]["ip"], "192.0.2.1");
    assert_eq!(body["top_ips"][0]["bytes"], 3000);
    assert_eq!(body["top_ips"][1]["ip"], "198.51.100.7");
    assert_eq!(body["top_ips"].as_array().map(Vec::len), Some(2));
    let target = format!("/api/top_ips?start={old_day}&end={old_day}&iface=ppp0");
    let (_, body) = get(api, &target);
    assert_eq!(body, json!({"top_ips": []}));
    let target = format!("/api/top_ips?start={old_day}");
    let (_, body) = get(api, &target);
    assert_eq!(body["top_ips"].as_array().map(Vec::len), Some(4));
    bad(api, "/api/top_ips?limit=0", "limit");
    bad(api, "/api/top_ips?start=2026-02-30", "start");
    bad(
        api,
        "/api/top_ips?start=2026-11-28&end=2026-11-01",
        "end 2026-11-01 is before start",
    );
    // Without GEOIP_DB the entries above carry no place fields, and networks say what is missing.
    bad(api, "/api/networks?by=asn", "GEOIP_DB");
}

#[test]
fn realtime_lists_the_samples_and_the_newest_rate() {
    let lab = lab(Zone::utc());
    let response = get_raw(&lab.api, "/api/realtime", &[]);
    assert_eq!(
        std::str::from_utf8(response.body.as_bytes()).unwrap(),
        r#"{"current_down_Bps":3397,"current_down_bps":27176,"current_up_Bps":2774,"current_up_bps":22192,"samples":[{"down":0,"ts":1795877119,"up":0},{"down":3397,"ts":1795877120,"up":2774}]}"#
    );
    let (_, body) = get(&lab.api, "/api/realtime?iface=eth0");
    assert_eq!(body["current_up_bps"], 0);
    bad(&lab.api, "/api/realtime?iface=x", "iface");
}

#[test]
fn health_is_503_when_no_interface_captures() {
    let lab = lab(Zone::utc());
    let (status, body) = get(&lab.api, "/api/health");
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    let ts = body["ts"].as_str().unwrap();
    assert_eq!(ts.len(), 26, "{ts}");
    assert_eq!(&ts[10..11], "T");
    assert_eq!(body["last_commit"], Value::Null);
    assert_eq!(body["interfaces"][0]["name"], "eth0");
    assert_eq!(body["interfaces"][0]["state"], "capturing");
    assert_eq!(body["interfaces"][0]["packets"], 40);
    assert_eq!(body["interfaces"][0]["drops"], 3);
    assert_eq!(body["interfaces"][0]["freezes"], 1);

    lab.live.states.lock().unwrap()[1].1 = CaptureState::Missing;
    let (status, body) = get(&lab.api, "/api/health");
    assert_eq!((status, body["status"].as_str()), (200, Some("degraded")));
    assert_eq!(body["interfaces"][1]["state"], "missing");
    let (status, body) = get(&lab.api, "/api/health?iface=ppp0");
    assert_eq!((status, body["status"].as_str()), (503, Some("error")));
    assert_eq!(body["interfaces"].as_array().map(Vec::len), Some(1));

    lab.live.states.lock().unwrap()[0].1 = CaptureState::Failed("no permission".into());
    let (status, body) = get(&lab.api, "/api/health");
    assert_eq!((status, body["status"].as_str()), (503, Some("error")));
    assert_eq!(
        body["interfaces"][0]["detail"],
        "failed (no permission); retrying"
    );
}

#[test]
fn health_reports_the_last_commit() {
    let f = filled();
    let (_, body) = get(&f.lab.api, "/api/health");
    let last = body["last_commit"].as_i64().expect("a commit happened");
    assert!((unix_now() - last).abs() < 60, "{last}");
}

#[test]
fn metrics_are_prometheus_text() {
    let f = filled();
    let response = get_raw(&f.lab.api, "/metrics", &[]);
    assert_eq!(response.status, 200);
    assert_eq!(
        response.content_type,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = String::from_utf8(response.body.as_bytes().to_vec()).unwrap();
    // The live view's counters: eth0 1105 up / 2207 down, ppp0 10 / 20.
    for line in [
        "nettraffic_public_transmit_bytes_total{device=\"eth0\"} 1105",
        "nettraffic_public_receive_bytes_total{device=\"eth0\"} 2207",
        "nettraffic_public_transmit_bytes_total{device=\"ppp0\"} 10",
        "nettraffic_capture_drops_total{device=\"ppp0\"} 3",
    ] {
        assert!(text.lines().any(|l| l == line), "{line}:\n{text}");
    }
    assert!(!text.contains("198.51.100.7"), "no addresses as labels");
    let response = get_raw(&f.lab.api, "/metrics?iface=ppp0", &[]);
    let text = String::from_utf8(response.body.as_bytes().to_vec()).unwrap();
    assert!(!text.contains("eth0"));
    assert_eq!(get_raw(&f.lab.api, "/metrics?iface=x", &[]).status, 400);
}

#[test]
fn unknown_paths_are_404_json() {
    let lab = lab(Zone::utc());
    for target in [
        "/api/nope",
        "/api",
        "/api/",
        "/api/summary/",
        "/API/summary",
        "/api/history",
        "/nope.html",
        "/metrics/",
    ] {
        let (status, body) = get(&lab.api, target);
        assert_eq!(status, 404, "{target}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(target.trim_end_matches('/')), "{message}");
    }
    let response = lab.api.handle(&Request {
        method: "GET",
        path: b"/api/\xff\xfe",
        query: b"\xff=\xff",
        headers: &[],
    });
    assert_eq!(response.status, 404);
    let long = format!("/api/{}", "a".repeat(10_000));
    let (status, body) = get(&lab.api, &long);
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().len() < 300);
}

#[test]
fn days_follow_the_configured_zone() {
    // Asia/Kolkata (+05:30): local days and hours start at :30 past a UTC hour; labels are local.
    let lab = lab(Zone::named("Asia/Kolkata").unwrap());
    let now = unix_now();
    let hour = lab.zone.hour_start(now);
    assert_eq!(hour.rem_euclid(3600), 1800);
    let view = LiveView {
        interfaces: vec![(
            "eth0".into(),
            snapshot(&[(hour, ud(1, 2))], Date::constant(2000, 1, 1), &[]),
        )],
    };
    *lab.live.view.lock().unwrap() = view;
    let today = lab.zone.date_of(now);
    let local_hour = ((now + 19_800).rem_euclid(86_400) / 3600) as usize;
    let (_, body) = get(&lab.api, "/api/history/today_hours");
    let hours = body["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    for (i, row) in hours.iter().enumerate() {
        assert_eq!(row["hour_ts"], format!("{today} {i:02}:00:00"));
        let expected = if i == local_hour { (1, 2) } else { (0, 0) };
        assert_eq!(
            (row["up_bytes"].as_u64(), row["down_bytes"].as_u64()),
            (Some(expected.0), Some(expected.1))
        );
    }
    let (_, body) = get(&lab.api, "/api/summary");
    assert_eq!(body["timezone"], "Asia/Kolkata");
    assert_eq!(body["today"], totals(1, 2));
}

/// History of `eth0` (committed while it was monitored), then a monitor that captures only
/// `ovs_eth0`: what a NAS update renaming the interface leaves.
fn renamed() -> (Lab, Date) {
    let lab = lab(Zone::utc());
    let now = unix_now();
    let hour = now - now.rem_euclid(3600) - 86_400;
    let day = lab.zone.date_of(hour);
    let committed = LiveView {
        interfaces: vec![(
            "eth0".into(),
            snapshot(
                &[(hour, ud(300, 700))],
                day,
                &[("203.0.113.9", ud(300, 700))],
            ),
        )],
    };
    Persister::new(Arc::clone(&lab.store))
        .commit_at(&committed, now, 30 * 86_400)
        .expect("commit");
    *lab.live.states.lock().unwrap() = vec![("ovs_eth0".into(), CaptureState::Capturing)];
    let api = Api::new(
        Arc::clone(&lab.store),
        Arc::clone(&lab.live) as Arc<dyn LiveSource>,
    );
    (Lab { api, ..lab }, day)
}

#[test]
fn an_interface_with_history_stays_selectable_after_it_is_no_longer_captured() {
    let (lab, day) = renamed();
    let api = &lab.api;
    let (status, summary) = get(api, "/api/summary");
    assert_eq!(status, 200);
    assert_eq!(
        summary["interfaces"],
        json!(["ovs_eth0", "eth0"]),
        "{summary}"
    );
    assert_eq!(summary["not_captured"], json!(["eth0"]), "{summary}");

    let targets = [
        "/api/summary?iface=eth0".to_string(),
        format!("/api/query?start={day}&end={day}&iface=eth0"),
        "/api/history/30days?iface=eth0".to_string(),
        "/api/history/12months?iface=eth0".to_string(),
        "/api/history/today_hours?iface=eth0".to_string(),
        "/api/date_range?iface=eth0".to_string(),
        format!("/api/top_ips?start={day}&end={day}&iface=eth0"),
        "/api/realtime?iface=eth0".to_string(),
        "/api/health?iface=eth0".to_string(),
        "/api/debug/local_ips?iface=eth0".to_string(),
    ];
    for target in &targets {
        let (status, body) = get(api, target);
        assert_eq!(status, 200, "{target}: {body}");
    }
    assert_eq!(
        get_raw(api, "/metrics?iface=eth0", &[]).status,
        200,
        "/metrics?iface=eth0"
    );
    // Its history is what was committed for it.
    let (_, query) = get(api, &format!("/api/query?start={day}&end={day}&iface=eth0"));
    assert_eq!(query["summary"], totals(300, 700), "{query}");
    let (_, range) = get(api, "/api/date_range?iface=eth0");
    assert_eq!(range["min"], day.to_string(), "{range}");
    let (_, top) = get(
        api,
        &format!("/api/top_ips?start={day}&end={day}&iface=eth0"),
    );
    assert_eq!(top["top_ips"][0]["ip"], "203.0.113.9", "{top}");
    // The interface captured now has none of it.
    let (_, query) = get(
        api,
        &format!("/api/query?start={day}&end={day}&iface=ovs_eth0"),
    );
    assert_eq!(query["summary"], totals(0, 0), "{query}");

    // Health: marked as not captured now; the overall status is the captured interfaces'.
    let (status, health) = get(api, "/api/health?iface=eth0");
    assert_eq!(status, 200);
    assert_eq!(health["status"], "not_captured", "{health}");
    assert_eq!(health["interfaces"][0]["name"], "eth0");
    assert_eq!(health["interfaces"][0]["state"], "not_captured");
    let (status, health) = get(api, "/api/health");
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["not_captured"], json!(["eth0"]));
    assert_eq!(health["interfaces"].as_array().map(Vec::len), Some(1));

    // A name with neither capture nor history is still refused, naming both kinds.
    let message = bad(api, "/api/summary?iface=wlan0", "iface 'wlan0'");
    assert!(message.contains("ovs_eth0, eth0"), "{message}");
}

#[test]
fn devices_keep_the_names_they_were_shown_with() {
    use crate::lan::neighbours::Tables;
    use crate::lan::{DeviceNames, Labeler};
    let lab = lab(Zone::utc());
    let now = unix_now();
    let old_hour = now - now.rem_euclid(3600) - 10 * 86_400;
    let old_day = lab.zone.date_of(old_hour);
    let today = lab.zone.date_of(now);
    let office: IpAddr = "192.168.1.10".parse().unwrap();
    let printer: IpAddr = "192.168.1.20".parse().unwrap();
    let mut committed = LiveView {
        interfaces: vec![(
            "eth0".into(),
            snapshot(&[(old_hour, ud(1_005, 2_000))], today, &[]),
        )],
    };
    committed.interfaces[0].1.devices.insert(
        old_day,
        vec![
            HeavyEntry {
                addr: office,
                bytes: ud(1_000, 2_000),
                error: 0,
            },
            HeavyEntry {
                addr: printer,
                bytes: ud(5, 0),
                error: 0,
            },
        ],
    );
    let labeler = |names: &str| {
        Arc::new(Labeler::new(
            DeviceNames::parse(names).unwrap(),
            Tables::arp_file("/nonexistent/arp"),
            None,
        ))
    };
    let mut persister =
        Persister::new(Arc::clone(&lab.store)).with_labeler(labeler("192.168.1.10=Office PC"));
    persister
        .commit_at(&committed, now, 30 * 86_400)
        .expect("commit");
    *lab.live.view.lock().unwrap() = committed.clone();
    // DEVICE_NAMES changed since: the old day keeps the name it was shown with; a range reaching
    // today shows the name in use now.
    let api = Api::new(
        Arc::clone(&lab.store),
        Arc::clone(&lab.live) as Arc<dyn LiveSource>,
    )
    .with_labeler(labeler("192.168.1.10=Renamed"));
    let (status, body) = get(&api, &format!("/api/devices?start={old_day}&end={old_day}"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"devices": [
            {"ip": "192.168.1.10", "name": "Office PC", "bytes": 3000, "bytes_fmt": "2.93 KB", "up_bytes": 1000, "down_bytes": 2000},
            {"ip": "192.168.1.20", "bytes": 5, "bytes_fmt": "5.00 B", "up_bytes": 5, "down_bytes": 0},
        ]})
    );
    let (_, body) = get(&api, &format!("/api/devices?start={old_day}"));
    assert_eq!(body["devices"][0]["name"], "Renamed");
    assert!(body["devices"][1].get("name").is_none());
}
