//! The Grafana dashboard `packaging/grafana/nettraffic-sentinel.json`: its structure (every panel
//! reads the `DS_PROMETHEUS` data source variable, every query filters by the `instance` variable
//! and names only series the monitor's code emits), and every query of it run by a real
//! Prometheus (root: network namespaces, tcpreplay, Debian's `prometheus`) scraping a real monitor
//! every second while it captures replayed traffic, over a history with a billing cycle, so the
//! quota gauges and the forecast exist. A query must answer `success` with a non-empty vector:
//! parsing is not enough, the series must be there.
//!
//! Grafana's variables are given the values Grafana would give them for this monitor: the instance
//! and interface the variables' own `label_values` queries find, `$__rate_interval` as 4 s (four
//! scrape intervals, Grafana's floor) and `$__range` as an hour.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::api_quota::{imported_history, plan};
use crate::support::netns::{Netns, Spawned};
use crate::support::web::{Monitor, PORT, in_namespace};
use crate::support::{TempDir, capture};

/// The dashboard, relative to the repository.
const DASHBOARD: &str = "packaging/grafana/nettraffic-sentinel.json";
/// What every panel and query names as its data source.
const DATA_SOURCE: &str = "${DS_PROMETHEUS}";
/// Prometheus' web port inside the test's namespace.
const PROMETHEUS_PORT: u16 = 9090;
/// Grafana's variables as they stand in the queries, with their values here (longest names
/// first, so `$__range` is not taken for a prefix of something longer).
const GRAFANA_VALUES: [(&str, &str); 4] = [
    ("__rate_interval", "4s"),
    ("__interval", "1s"),
    ("__range", "1h"),
    ("iface", "vb"),
];
/// Replayed over and over while the queries run: upload, download and LAN traffic (30,103,
/// 503,310 and 15,483 bytes), no malformed packets.
const REPLAYED: &str = "sv-base64-decode-5885.pcap";
/// The counters the replayed traffic moves: a rate or increase of only these must be above 0.
const MOVED: [&str; 7] = [
    "nettraffic_public_receive_bytes_total",
    "nettraffic_public_transmit_bytes_total",
    "nettraffic_public_packets_total",
    "nettraffic_lan_bytes_total",
    "nettraffic_capture_packets_total",
    "nettraffic_capture_wire_bytes_total",
    "nettraffic_capture_kernel_packets_total",
];
/// The monitor as Prometheus labels it (`instance` of the scrape target).
const INSTANCE: &str = "127.0.0.1:8080";

fn dashboard() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DASHBOARD);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{DASHBOARD} is not JSON: {e}"))
}

/// Every panel, the panels inside rows included, rows left out.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in list.as_array().expect("a list of panels") {
            if panel["type"] == "row" {
                walk(&panel["panels"], out);
            } else {
                out.push(panel);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// `(panel title, expression)` of every query of every panel.
fn expressions(dashboard: &Value) -> Vec<(String, String)> {
    panels(dashboard)
        .into_iter()
        .flat_map(|panel| {
            let title = panel["title"].as_str().expect("a title").to_string();
            panel["targets"]
                .as_array()
                .expect("targets")
                .iter()
                .map(move |target| {
                    let expr = target["expr"].as_str().expect("an expr").to_string();
                    (title.clone(), expr)
                })
        })
        .collect()
}

/// The `query` variables: `(name, selector, label)` of their `label_values(SELECTOR, LABEL)`.
fn label_values_variables(dashboard: &Value) -> Vec<(String, String, String)> {
    dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .filter(|variable| variable["type"] == "query")
        .map(|variable| {
            let name = variable["name"].as_str().expect("a name").to_string();
            let definition = variable["definition"].as_str().expect("a definition");
            assert_eq!(
                variable["query"]["query"], definition,
                "{name}: query and definition differ"
            );
            let inner = definition
                .strip_prefix("label_values(")
                .and_then(|rest| rest.strip_suffix(')'))
                .unwrap_or_else(|| panic!("{name}: not label_values(...): {definition}"));
            let (selector, label) = inner
                .rsplit_once(',')
                .unwrap_or_else(|| panic!("{name}: label_values needs a selector: {definition}"));
            (name, selector.trim().to_string(), label.trim().to_string())
        })
        .collect()
}

/// The monitor's metric names in `expr` (every `nettraffic_…` word).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("nettraffic_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}

/// `expr` with Grafana's variables (`$name`, `${name}`) replaced by `values`.
fn substitute(expr: &str, values: &[(&str, &str)]) -> String {
    let mut out = expr.to_string();
    for (name, value) in values {
        out = out
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("${name}"), value);
    }
    assert!(!out.contains('$'), "a variable left in {out} (from {expr})");
    out
}

/// `text` percent-encoded for a query string (everything but RFC 3986's unreserved characters).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// `GET target` from Prometheus in `namespace` over HTTP/1.0 (so the body is whole, never
/// chunked, and ends when the connection closes): `(status, body)`, or `None` while nothing
/// listens.
fn prometheus_get(namespace: &str, target: &str) -> Option<(u16, String)> {
    let stream = in_namespace(namespace, || {
        std::net::TcpStream::connect(("127.0.0.1", PROMETHEUS_PORT))
    });
    let mut stream = stream.ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream
        .write_all(format!("GET {target} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .expect("send to Prometheus");
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .unwrap_or_else(|e| panic!("{target}: reading Prometheus' answer: {e}"));
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{target}: no HTTP head in {answer:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("{target}: no status in {head:?}"));
    Some((status, body.to_string()))
}

/// Prometheus' JSON answer to `target`, which must say `"status": "success"`; its `data`.
fn prometheus_api(namespace: &str, target: &str) -> Value {
    let (status, body) =
        prometheus_get(namespace, target).unwrap_or_else(|| panic!("{target}: Prometheus is gone"));
    let json: Value = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{target}: {status}, not JSON ({e}): {body}"));
    assert!(
        status == 200 && json["status"] == "success",
        "{target}: {status} {json}"
    );
    json["data"].clone()
}

/// The instant vector `promql` evaluates to now.
fn instant_query(namespace: &str, promql: &str) -> Vec<Value> {
    let data = prometheus_api(
        namespace,
        &format!("/api/v1/query?query={}", percent_encode(promql)),
    );
    assert_eq!(data["resultType"], "vector", "{promql}: {data}");
    data["result"].as_array().expect("result").clone()
}

/// The values of a vector's samples (`"value": [time, "text"]`).
fn sample_values(result: &[Value]) -> Vec<f64> {
    result
        .iter()
        .map(|sample| {
            let text = sample["value"][1].as_str().expect("a sample value");
            text.parse().unwrap_or(f64::NAN)
        })
        .collect()
}

/// Wait up to `timeout` for `ready`, polling every 200 ms; panic naming `what` otherwise.
fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < timeout, "no {what} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn dashboard_is_importable_and_every_query_uses_the_variables() {
    let dashboard = dashboard();
    assert_eq!(dashboard["uid"], "nettraffic-sentinel");
    assert!(dashboard["title"].is_string());
    assert!(
        dashboard["schemaVersion"].as_u64() >= Some(36),
        "schemaVersion"
    );
    // Grafana assigns the id of a dashboard it imports; a fixed one would overwrite another.
    assert_eq!(dashboard["id"], Value::Null);

    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("variables");
    let source = variables
        .iter()
        .find(|v| v["name"] == "DS_PROMETHEUS")
        .expect("a DS_PROMETHEUS variable");
    assert_eq!(source["type"], "datasource");
    assert_eq!(source["query"], "prometheus");
    let names: Vec<&str> = variables
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(names, ["DS_PROMETHEUS", "instance", "iface"]);
    let wanted_source = serde_json::json!({"type": "prometheus", "uid": DATA_SOURCE});
    for variable in variables.iter().filter(|v| v["type"] == "query") {
        assert_eq!(variable["datasource"], wanted_source, "{variable}");
    }
    let variable_queries = label_values_variables(&dashboard);
    assert_eq!(variable_queries.len(), 2);

    let source_code = include_str!("../../src/serve/api/metrics.rs");
    let mut ids = BTreeSet::new();
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().expect("a title");
        assert!(
            ids.insert(panel["id"].as_u64().expect("an id")),
            "{title}: id"
        );
        assert_eq!(panel["datasource"], wanted_source, "{title}");
        assert!(
            panel["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{title}: a description says what the panel shows"
        );
        let grid = &panel["gridPos"];
        let (x, w) = (grid["x"].as_u64(), grid["w"].as_u64());
        assert!(
            x.zip(w).is_some_and(|(x, w)| x + w <= 24) && grid["h"].as_u64() > Some(0),
            "{title}: gridPos {grid}"
        );
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        let mut refs = BTreeSet::new();
        for target in targets {
            assert_eq!(target["datasource"], wanted_source, "{title}: {target}");
            assert!(
                refs.insert(target["refId"].as_str().expect("refId")),
                "{title}"
            );
        }
    }

    let mut every_query: Vec<(String, String)> = expressions(&dashboard);
    every_query.extend(
        variable_queries
            .iter()
            .map(|(name, selector, _)| (format!("variable {name}"), selector.clone())),
    );
    for (title, expr) in &every_query {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{title}: {expr} reads no monitor series");
        for name in &names {
            assert!(
                source_code.contains(name.as_str()),
                "{title}: {name} is not a series of src/serve/api/metrics.rs"
            );
            // Every selector filters by the variables: a dashboard over several monitors must
            // not add up machines or interfaces the viewer did not pick. The two variables list
            // what there is to pick.
            let per_device = name.ends_with("_total") || name == "nettraffic_capture_up";
            let filter = match title.as_str() {
                "variable instance" => None,
                "variable iface" => Some(r#"{instance=~"$instance"}"#),
                _ if per_device => Some(r#"{instance=~"$instance", device=~"$iface"}"#),
                _ => Some(r#"{instance=~"$instance"}"#),
            };
            let mut rest = expr.as_str();
            while let Some(at) = rest.find(name.as_str()) {
                let after = &rest[at + name.len()..];
                let whole = !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
                if let Some(filter) = filter.filter(|_| whole) {
                    assert!(
                        after.starts_with(filter),
                        "{title}: {name} is not filtered by {filter} in {expr}"
                    );
                }
                rest = after;
            }
        }
    }
}

fn every_dashboard_query_answers_with_data_from_a_real_prometheus() {
    let dashboard = dashboard();
    let plan = plan();
    let dir = TempDir::new("grafana");
    let db = imported_history(&dir, &plan);

    let mut lab = Netns::new("grafana");
    let a = lab.add("a");
    let b = lab.add("b");
    lab.veth((&a, "va"), (&b, "vb"));
    let billing_day = plan.billing_day.to_string();
    let mut monitor = Monitor::start(
        &lab,
        &b,
        "vb",
        &db,
        &[
            ("BILLING_DAY", &billing_day),
            ("QUOTA", "1GiB"),
            ("QUOTA_BASIS", "total"),
            // The shortest allowed: the last-commit panel is empty until the first commit.
            ("SAVE_INTERVAL", "10"),
        ],
    );
    monitor.wait_ready("vb");

    let config = dir.write(
        "prometheus.yml",
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: nettraffic\n    static_configs:\n      \
             - targets: ['{INSTANCE}']\n"
        )
        .as_bytes(),
    );
    assert_eq!(INSTANCE, format!("127.0.0.1:{PORT}"));
    let mut command = lab.exec(&b, "prometheus");
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}"))
        .arg("--log.level=warn")
        .stdin(std::process::Stdio::null());
    let mut prometheus = Spawned::new(&mut command);
    wait_for("ready Prometheus", Duration::from_secs(30), || {
        if let Ok(Some(status)) = prometheus.child.try_wait() {
            panic!("prometheus exited: {status}");
        }
        prometheus_get(&b, "/-/ready").is_some_and(|(status, _)| status == 200)
    });
    wait_for("first scrape", Duration::from_secs(15), || {
        !instant_query(&b, "nettraffic_build_info").is_empty()
    });

    // Traffic flows while Prometheus scrapes and the queries run, so the rates have some to show.
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                lab.replay(&a, "va", &capture(REPLAYED));
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check_every_query(&dashboard, &monitor, &b);
        }));
        stop.store(true, Ordering::Relaxed);
        if let Err(panic) = checked {
            std::panic::resume_unwind(panic);
        }
    });

    drop(prometheus);
    monitor.stop();
}

/// Every series the dashboard names is in `monitor`'s /metrics, its variables find the monitor,
/// and each of its queries answers with data from the Prometheus in `namespace`.
fn check_every_query(dashboard: &Value, monitor: &Monitor, namespace: &str) {
    // The last-commit panel needs a commit; rate() needs a few scrapes of the traffic.
    wait_for("commit", Duration::from_secs(20), || {
        !monitor
            .get("/metrics")
            .text()
            .contains("\nnettraffic_store_last_commit_timestamp_seconds 0\n")
    });
    std::thread::sleep(Duration::from_secs(5));

    // Every series the dashboard names is one this monitor emits, and the dashboard leaves out
    // none of them.
    let metrics = monitor.get("/metrics").text();
    let emitted: BTreeSet<String> = metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_string)
        .collect();
    let mut used = BTreeSet::new();
    for (_, expr) in expressions(dashboard) {
        used.extend(metric_names(&expr));
    }
    for (_, selector, _) in label_values_variables(dashboard) {
        used.extend(metric_names(&selector));
    }
    let missing: Vec<&String> = used.difference(&emitted).collect();
    assert!(
        missing.is_empty(),
        "not in /metrics: {missing:?}\n{metrics}"
    );
    let unused: Vec<&String> = emitted.difference(&used).collect();
    assert!(unused.is_empty(), "no panel shows {unused:?}");

    // The variables find this monitor and its interface.
    let mut values: Vec<(&str, &str)> = GRAFANA_VALUES.to_vec();
    values.push(("instance", INSTANCE));
    for (name, selector, label) in label_values_variables(dashboard) {
        let selector = substitute(&selector, &[("instance", ".*")]);
        let series = prometheus_api(
            namespace,
            &format!("/api/v1/series?match[]={}", percent_encode(&selector)),
        );
        let found: BTreeSet<&str> = series
            .as_array()
            .expect("a list of series")
            .iter()
            .filter_map(|labels| labels[label.as_str()].as_str())
            .collect();
        let wanted = if name == "instance" { INSTANCE } else { "vb" };
        assert!(found.contains(wanted), "{name}: {selector} found {found:?}");
    }

    // Every query answers with data.
    for (title, expr) in expressions(dashboard) {
        let promql = substitute(&expr, &values);
        let result = instant_query(namespace, &promql);
        assert!(!result.is_empty(), "{title}: {promql} is empty");
        let numbers = sample_values(&result);
        assert!(
            numbers.iter().all(|n| n.is_finite()),
            "{title}: {promql} = {result:?}"
        );
        // The replayed traffic reached the counters, so the panels over it show it.
        let names = metric_names(&expr);
        if (expr.contains("rate(") || expr.contains("increase("))
            && names.iter().all(|name| MOVED.contains(&name.as_str()))
        {
            assert!(
                numbers.iter().all(|n| *n > 0.0),
                "{title}: {promql} = {numbers:?}"
            );
        }
    }
}

tests! {
    dashboard_is_importable_and_every_query_uses_the_variables,
    #[needs(Netns, Tool("tcpreplay"), Tool("prometheus"))]
    every_dashboard_query_answers_with_data_from_a_real_prometheus,
}
