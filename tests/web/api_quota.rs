//! The billing cycle, quota, forecast and alerts of the real monitor (root: it runs in a network
//! namespace, capturing its loopback, which carries no internet traffic), over a history made by
//! `import` of a capture generated here with packets at known instants around today.
//!
//! Expected figures are worked out here by hand from the packets' sizes and times: the dates by
//! calendar arithmetic of this file (days_from_civil and its inverse), not by the crate's
//! time library, and the forecast by the documented formula from the instant the answer says
//! it was computed at.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::support::netns::{Netns, run_ok};
use crate::support::web::{Monitor, db_in, in_namespace, promtool_check};
use crate::support::{
    ETHERTYPE_IPV4, PCAP_MAGIC_MICROSECONDS, PcapWriter, TempDir, days_from_civil, eth, ipv4,
};
use nettraffic_sentinel::quota::alerts::AlertMessage;
use nettraffic_sentinel::store::{AlertRecord, AlertState, Store};

const DAY: i64 = 86_400;
/// QUOTA=1.5MiB.
const QUOTA: u64 = 1_572_864;

/// (year, month, day) of a day number (days since 1970-01-01), H. Hinnant's civil_from_days.
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    days_from_civil(next_year, next_month, 1) - days_from_civil(year, month, 1)
}

/// The day number on which the cycle `back` months before (year, month) starts with billing
/// day `billing_day` (a shorter month uses its last day).
fn cycle_start_day(year: i64, month: i64, back: i64, billing_day: i64) -> i64 {
    let index = year * 12 + (month - 1) - back;
    let (y, m) = (index.div_euclid(12), index.rem_euclid(12) + 1);
    days_from_civil(y, m, billing_day.min(days_in_month(y, m)))
}

fn date_text(days: i64) -> String {
    let (y, m, d) = civil(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `count` IPv4 packets of `size` bytes (Total Length) at `unix_second`: downloads from
/// 203.0.113.5 to 192.168.1.10, or uploads the other way.
fn packets(
    mut pcap: PcapWriter,
    unix_second: i64,
    count: usize,
    size: u16,
    up: bool,
) -> PcapWriter {
    let (src, dst) = if up {
        ("192.168.1.10", "203.0.113.5")
    } else {
        ("203.0.113.5", "192.168.1.10")
    };
    // The record holds the headers only; the wire length says how long the frame was.
    let frame = eth(ETHERTYPE_IPV4, &ipv4(src, dst, size));
    for _ in 0..count {
        pcap = pcap.record(unix_second as u32, 0, 14 + u32::from(size), &frame);
    }
    pcap
}

/// The billing cycle a test's history and monitor agree on (also used by `grafana`).
pub(crate) struct Plan {
    pub(crate) billing_day: i64,
    /// Day numbers: the current cycle's first day, and the next cycle's.
    first: i64,
    next: i64,
    today: i64,
    /// Day numbers of the first days of the 12 cycles before, oldest first.
    past_firsts: Vec<i64>,
}

pub(crate) fn plan() -> Plan {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs() as i64;
    let today = now.div_euclid(DAY);
    // The billing day of three days ago: that day is a real date of its month, so the cycle
    // containing today started on it (at 00:00 UTC).
    let first = today - 3;
    let (y, m, billing_day) = civil(first);
    Plan {
        billing_day,
        first,
        next: cycle_start_day(y, m, -1, billing_day),
        today,
        past_firsts: (1..=12)
            .rev()
            .map(|back| cycle_start_day(y, m, back, billing_day))
            .collect(),
    }
}

/// The capture: 1,200,000 down and 100,000 up in this cycle; 280,000 down in the week before
/// it; 250,000 more down early in the cycle before; 90,000 up two cycles back; 1,000 down 13
/// cycles back (in no listed cycle, but making the history start long before).
fn capture(plan: &Plan) -> Vec<u8> {
    let start = plan.first * DAY;
    let (y, m, _) = civil(plan.first);
    let back = |n| cycle_start_day(y, m, n, plan.billing_day) * DAY;
    let mut pcap = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 1);
    pcap = packets(pcap, start + 3600, 20, 60_000, false);
    pcap = packets(pcap, start + 26 * 3600, 10, 10_000, true);
    pcap = packets(pcap, start - 2 * DAY + 5 * 3600, 7, 40_000, false);
    pcap = packets(pcap, back(1) + 12 * 3600, 5, 50_000, false);
    pcap = packets(pcap, back(2) + 3600, 3, 30_000, true);
    pcap = packets(pcap, back(13) + 3600, 1, 1_000, false);
    pcap.finish()
}

fn json_of(monitor: &Monitor, target: &str) -> Value {
    let answer = monitor.get(target);
    assert_eq!(answer.status, 200, "{target}: {}", answer.text());
    answer.json()
}

fn start_monitor(netns: &Netns, namespace: &str, db: &std::path::Path, plan: &Plan) -> Monitor {
    start_monitor_with(netns, namespace, db, plan, &[])
}

fn start_monitor_with(
    netns: &Netns,
    namespace: &str,
    db: &std::path::Path,
    plan: &Plan,
    more: &[(&str, &str)],
) -> Monitor {
    let billing_day = plan.billing_day.to_string();
    let mut settings = vec![
        ("BILLING_DAY", billing_day.as_str()),
        ("QUOTA", "1.5MiB"),
        ("QUOTA_BASIS", "total"),
    ];
    settings.extend_from_slice(more);
    let mut monitor = Monitor::start(netns, namespace, "lo", db, &settings);
    monitor.wait_ready("lo");
    // Logged after the quota thread's first look, which hands every due or pending alert over.
    monitor.wait_for("quota: 1.50 MB per billing cycle");
    monitor
}

fn alert_states(body: &Value) -> Vec<(String, String)> {
    body["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|a| {
            (
                a["alert"].as_str().expect("alert").to_string(),
                a["state"].as_str().expect("state").to_string(),
            )
        })
        .collect()
}

/// A history in `dir` made by `import` of the plan's capture.
pub(crate) fn imported_history(dir: &TempDir, plan: &Plan) -> std::path::PathBuf {
    let db = db_in(dir.path());
    let file = dir.write("cycles.pcap", &capture(plan));
    let mut import = Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"));
    crate::support::netns::clear_monitor_settings(&mut import);
    import
        .arg("import")
        .arg(&file)
        .env("TZ", "UTC")
        .env("DB_PATH", &db);
    run_ok(&mut import, Duration::from_secs(60));
    db
}

fn quota_cycle_forecast_and_alerts_of_the_real_monitor() {
    let plan = plan();
    let dir = TempDir::new("api-quota");
    let db = imported_history(&dir, &plan);

    let mut netns = Netns::new("quota");
    let namespace = netns.add("m");
    let mut monitor = start_monitor(&netns, &namespace, &db, &plan);

    let body = json_of(&monitor, "/api/quota");
    let cycle = &body["cycle"];
    let (start, end) = (plan.first * DAY, plan.next * DAY);
    assert_eq!(cycle["start"], date_text(plan.first), "{body}");
    assert_eq!(cycle["end"], date_text(plan.next - 1), "{body}");
    assert_eq!(cycle["start_ts"], start);
    assert_eq!(cycle["end_ts"], end);
    assert_eq!(cycle["days_left"], plan.next - plan.today);
    assert_eq!(cycle["down_bytes"], 1_200_000);
    assert_eq!(cycle["up_bytes"], 100_000);
    let used: u64 = 1_300_000;
    assert_eq!(cycle["used_bytes"], used);
    assert_eq!(cycle["quota_bytes"], QUOTA);
    assert_eq!(cycle["quota_fmt"], "1.50 MB");
    assert_eq!(cycle["remaining_bytes"], QUOTA - used);
    let percent = cycle["percent"].as_f64().expect("percent");
    assert!(
        (percent - 130_000_000.0 / 1_572_864.0).abs() < 1e-9,
        "{percent}"
    );
    assert_eq!(body["billing_day"], plan.billing_day);
    assert_eq!(body["timezone"], "UTC");

    // The forecast, by the documented formula, at the instant the answer was computed.
    let ts = cycle["ts"].as_i64().expect("ts");
    let elapsed = (ts - start) as f64;
    let weight = (elapsed / (7 * DAY) as f64).min(1.0);
    let rate = weight * (used as f64 / elapsed) + (1.0 - weight) * (280_000.0 / (7 * DAY) as f64);
    let forecast = used + (rate * (end - ts) as f64).round() as u64;
    let answered = cycle["forecast_bytes"].as_u64().expect("a forecast");
    assert!(answered.abs_diff(forecast) <= 1, "{answered} vs {forecast}");
    assert_eq!(cycle["forecast_method"], "blended");
    let runs_out = ts + ((QUOTA - used) as f64 / rate).ceil() as i64;
    if runs_out < end {
        let at = cycle["runs_out_ts"].as_i64().expect("runs out");
        assert!((at - runs_out).abs() <= 1, "{at} vs {runs_out}");
        assert_eq!(cycle["runs_out_on"], date_text(at.div_euclid(DAY)));
    } else {
        assert_eq!(cycle["runs_out_ts"], Value::Null);
    }

    // The 12 cycles before, oldest first.
    let past = body["past"].as_array().expect("past");
    assert_eq!(past.len(), 12);
    for (row, first) in past.iter().zip(&plan.past_firsts) {
        assert_eq!(row["start"], date_text(*first), "{row}");
    }
    assert_eq!(past[11]["end"], date_text(plan.first - 1));
    assert_eq!(past[11]["down_bytes"], 530_000);
    assert_eq!(past[11]["used_bytes"], 530_000);
    assert_eq!(past[10]["up_bytes"], 90_000);
    for row in &past[..10] {
        assert_eq!(row["used_bytes"], 0, "{row}");
    }

    // 82.7 % used: 80 fired; "runs out" too when the forecast is above the quota. Both were
    // delivered (logged) and recorded as sent before the first look was logged.
    let mut expected = vec![];
    if forecast > QUOTA {
        expected.push(("runs_out".to_string(), "sent".to_string()));
    }
    expected.push(("80%".to_string(), "sent".to_string()));
    assert_eq!(alert_states(&body), expected, "{body}");
    assert_eq!(
        monitor.lines_containing("quota alert: Internet quota: 80 % used"),
        1
    );
    assert_eq!(monitor.lines_containing("quota alert: "), expected.len());

    // The summary's cycle is the same; its original fields are untouched.
    let summary = json_of(&monitor, "/api/summary");
    assert_eq!(summary["cycle"]["used_bytes"], used, "{summary}");
    assert_eq!(summary["cycle"]["start"], date_text(plan.first));
    assert_eq!(summary["cycle"]["quota_bytes"], QUOTA);
    for key in [
        "today",
        "month",
        "year",
        "interfaces",
        "not_captured",
        "timezone",
    ] {
        assert!(summary.get(key).is_some(), "{key}: {summary}");
    }
    // The gauges.
    let metrics = monitor.get("/metrics").text();
    for line in [
        format!("nettraffic_quota_bytes {QUOTA}"),
        format!("nettraffic_quota_used_bytes {used}"),
        format!("nettraffic_quota_cycle_start_timestamp_seconds {start}"),
        format!("nettraffic_quota_cycle_end_timestamp_seconds {end}"),
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line}:\n{metrics}");
    }
    assert!(
        metrics.contains("\nnettraffic_quota_forecast_bytes "),
        "{metrics}"
    );
    promtool_check(&metrics).unwrap_or_else(|complaints| panic!("{complaints}\n{metrics}"));

    // kill -9, then start again: nothing is sent again.
    monitor.kill();
    let monitor = start_monitor(&netns, &namespace, &db, &plan);
    assert_eq!(
        monitor.lines_containing("quota alert: "),
        0,
        "{}",
        monitor.log()
    );
    assert_eq!(alert_states(&json_of(&monitor, "/api/quota")), expected);
    monitor.stop();

    // A monitor killed between recording an alert and delivering it leaves it pending: the
    // next start delivers it, once.
    {
        let store = Store::open(&db, nettraffic_sentinel::clock::Zone::utc(), 1000)
            .expect("open the history");
        let message = AlertMessage {
            alert: "100%".into(),
            threshold_percent: Some(100),
            title: "Internet quota: 100 % used".into(),
            body: "left pending by a killed monitor".into(),
            cycle_start: date_text(plan.first),
            cycle_end: date_text(plan.next - 1),
            cycle_start_ts: start,
            used_bytes: QUOTA,
            quota_bytes: QUOTA,
            percent: 100.0,
            basis: "total".into(),
            forecast_bytes: None,
            runs_out_on: None,
            decided_at: ts,
        };
        let written = store
            .record_alerts(&[AlertRecord {
                cycle_start: start,
                alert: 100,
                state: AlertState::Pending,
                changed_at: ts,
                message: serde_json::to_vec(&message).expect("JSON"),
            }])
            .expect("record");
        assert_eq!(written.len(), 1);
        store.close();
    }
    let monitor = start_monitor(&netns, &namespace, &db, &plan);
    assert_eq!(
        monitor.lines_containing("quota alert: Internet quota: 100 % used: left pending"),
        1,
        "{}",
        monitor.log()
    );
    assert_eq!(monitor.lines_containing("quota alert: "), 1);
    let states = alert_states(&json_of(&monitor, "/api/quota"));
    assert!(
        states.contains(&("100%".to_string(), "sent".to_string())),
        "{states:?}"
    );
    monitor.stop();
    let monitor = start_monitor(&netns, &namespace, &db, &plan);
    assert_eq!(
        monitor.lines_containing("quota alert: "),
        0,
        "{}",
        monitor.log()
    );
    monitor.stop();
}

/// A webhook on the loopback of `namespace`: every POST body (JSON) it receives, answered 200.
struct Webhook {
    port: u16,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Webhook {
    fn start(namespace: &str) -> Webhook {
        let listener = in_namespace(namespace, || {
            TcpListener::bind("127.0.0.1:0").expect("bind the webhook in the namespace")
        });
        let port = listener.local_addr().expect("its address").port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&bodies);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Some(body) = Self::answer(stream) {
                    kept.lock().expect("bodies").push(body);
                }
            }
        });
        Webhook { port, bodies }
    }

    /// Read one request (head, then Content-Length bytes of body), answer 200, return the body.
    fn answer(mut stream: TcpStream) -> Option<Value> {
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut reader = BufReader::new(stream.try_clone().ok()?);
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).ok()?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().ok()?;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .ok()?;
        serde_json::from_slice(&body).ok()
    }

    fn titles(&self) -> Vec<String> {
        let mut titles: Vec<String> = self
            .bodies
            .lock()
            .expect("bodies")
            .iter()
            .map(|body| body["title"].as_str().unwrap_or("").to_string())
            .collect();
        titles.sort();
        titles
    }
}

/// Until every alert of `/api/quota` is recorded sent (delivery is on the outbox's thread).
fn wait_all_sent(monitor: &Monitor) -> Vec<(String, String)> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let states = alert_states(&json_of(monitor, "/api/quota"));
        if states.iter().all(|(_, state)| state == "sent") || std::time::Instant::now() > deadline {
            return states;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The whole chain with a real target: the quota crossed in the imported history makes the
/// monitor POST each due alert to the `ALERT_URLS` webhook, once; after `kill -9` and a restart
/// nothing is posted again.
fn crossed_quota_alerts_reach_the_alert_urls_once_across_kill_9() {
    let plan = plan();
    let dir = TempDir::new("quota-webhook");
    let db = imported_history(&dir, &plan);

    let mut netns = Netns::new("qhook");
    let namespace = netns.add("m");
    crate::support::netns::ip(&["-n", &namespace, "link", "set", "lo", "up"]);
    let webhook = Webhook::start(&namespace);
    let target = format!("json://127.0.0.1:{}/hook", webhook.port);
    let settings = [("ALERT_URLS", target.as_str())];

    let mut monitor = start_monitor_with(&netns, &namespace, &db, &plan, &settings);
    let states = wait_all_sent(&monitor);
    // 1,300,000 of 1,572,864 bytes (82.7 %): the 80 % alert, and "runs out" when the forecast
    // passes the quota; each exactly once at the webhook.
    assert!(
        states.contains(&("80%".to_string(), "sent".to_string())),
        "{states:?}"
    );
    assert!(
        states.iter().all(|(_, state)| state == "sent"),
        "{states:?}"
    );
    let titles = webhook.titles();
    assert_eq!(titles.len(), states.len(), "{titles:?} for {states:?}");
    assert!(
        titles.iter().any(|t| t == "Internet quota: 80 % used"),
        "{titles:?}"
    );
    for body in webhook.bodies.lock().expect("bodies").iter() {
        assert_eq!(body["version"], "1.0", "{body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }

    monitor.kill();
    let monitor = start_monitor_with(&netns, &namespace, &db, &plan, &settings);
    // The first look after the start has handed over whatever was due (nothing): give an
    // outbox that would send again time to do it.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        webhook.titles(),
        titles,
        "nothing posted again after kill -9"
    );
    assert_eq!(wait_all_sent(&monitor), states);
    monitor.stop();
}

tests! {
    #[needs(Netns, Tool("promtool"))]
    quota_cycle_forecast_and_alerts_of_the_real_monitor,
    #[needs(Netns)]
    crossed_quota_alerts_reach_the_alert_urls_once_across_kill_9,
}
