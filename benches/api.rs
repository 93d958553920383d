//! What one API request costs in the handler alone (no sockets): `Api::handle` on a real redb
//! history, the way the HTTP layer calls it on a coroutine.
//!
//! Setup: one year of hours (the 365 days ending today, UTC) for interface `eth0`, written
//! through [`Persister::commit_at`], and live counts for today's hours on top, as a running monitor
//! holds them between commits (so every answer also merges uncommitted counts).
//!
//! Export throughput (group `export`, in rows per second): `/api/export.csv` of the year by hour,
//! every piece made as the HTTP layer makes them while sending, beside the same year by hour as
//! one `/api/query` answer (the whole series built at once) in the same run.
//!
//! Reference in the same run: `/api/nope`, a 404 (routing and one small JSON error), the cheapest
//! answer there is. The figures to compare are the ratios to it: the targets (measured end to end
//! with wrk by the HTTP layer's tests) are ≥ 20,000 req/s for `/api/summary` and ≥ 5,000 req/s for
//! a one-year daily `/api/query` on 2 cores, so the handler must stay far below 50 µs and 200 µs.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::SystemTime;

use criterion::{Criterion, Throughput};
use nettraffic_sentinel::clock::Zone;
use nettraffic_sentinel::count::UpDown;
use nettraffic_sentinel::count::live::{Counters, LiveSnapshot, RateSample};
use nettraffic_sentinel::live::CaptureState;
use nettraffic_sentinel::live::KernelStats;
use nettraffic_sentinel::persister::Persister;
use nettraffic_sentinel::serve::api::{Api, InterfaceReport, LiveSource};
use nettraffic_sentinel::serve::{Body, Handler, Request};
use nettraffic_sentinel::store::{LiveView, Store};

const DAY: i64 = 86_400;

/// Live counts fixed at setup.
struct Fixed {
    view: LiveView,
    samples: Vec<RateSample>,
}

impl LiveSource for Fixed {
    fn counts(&self) -> LiveView {
        self.view.clone()
    }

    fn everything(&self) -> LiveView {
        self.view.clone()
    }

    fn interfaces(&self) -> Vec<InterfaceReport> {
        vec![InterfaceReport {
            name: "eth0".into(),
            state: CaptureState::Capturing,
            since: 0,
            counters: self.view.interfaces[0].1.counters,
            kernel: KernelStats::default(),
        }]
    }

    fn rate(&self, _interface: Option<&str>) -> Vec<RateSample> {
        self.samples.clone()
    }
}

fn snapshot(hours: BTreeMap<i64, UpDown>) -> LiveSnapshot {
    let mut counters = Counters::default();
    for bytes in hours.values() {
        counters.total += *bytes;
    }
    LiveSnapshot {
        counters,
        hours,
        ..LiveSnapshot::default()
    }
}

fn main() {
    let dir = std::env::temp_dir().join(format!("nts-bench-api-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store = Arc::new(Store::open(&dir.join("traffic.redb"), Zone::utc(), 1000).expect("open"));

    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let today = now - now.rem_euclid(DAY);
    let first = today - 364 * DAY;
    let year: BTreeMap<i64, UpDown> = (0..365 * 24)
        .map(|i| {
            let hour = first + i * 3600;
            (
                hour,
                UpDown {
                    up: 1000 + i as u64,
                    down: 5000 + i as u64,
                },
            )
        })
        .filter(|(hour, _)| *hour <= now)
        .collect();
    let committed = LiveView {
        interfaces: vec![("eth0".into(), snapshot(year.clone()))],
    };
    Persister::new(Arc::clone(&store))
        .commit_at(&committed, now, 400 * DAY)
        .expect("commit a year");
    // Memory counted more today since that commit.
    let mut live_hours: BTreeMap<i64, UpDown> = year
        .into_iter()
        .filter(|(hour, _)| *hour >= today - DAY)
        .collect();
    for bytes in live_hours.values_mut() {
        bytes.up += 77;
        bytes.down += 99;
    }
    let live = Fixed {
        view: LiveView {
            interfaces: vec![("eth0".into(), snapshot(live_hours))],
        },
        samples: (0..120)
            .map(|i| RateSample {
                unix_second: now - 120 + i,
                bytes: UpDown { up: 10, down: 20 },
            })
            .collect(),
    };
    let api = Api::new(Arc::clone(&store), Arc::new(live));
    let one_year = {
        let zone = Zone::utc();
        format!(
            "start={}&end={}&granularity=day",
            zone.date_of(first),
            zone.date_of(today)
        )
    };

    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("api");
    for (name, path, query) in [
        ("reference_404", "/api/nope", ""),
        ("summary", "/api/summary", ""),
        ("quota", "/api/quota", ""),
        ("query_one_year_daily", "/api/query", one_year.as_str()),
        ("history_30days", "/api/history/30days", ""),
        ("realtime", "/api/realtime", ""),
        ("metrics", "/metrics", ""),
    ] {
        let request = Request {
            method: "GET",
            path: path.as_bytes(),
            query: query.as_bytes(),
            headers: &[],
        };
        let expected = if path == "/api/nope" { 404 } else { 200 };
        assert_eq!(api.handle(&request).status, expected, "{name}");
        group.bench_function(name, |b| {
            b.iter(|| black_box(api.handle(black_box(&request))))
        });
    }
    group.finish();

    let hourly = one_year.replace("granularity=day", "granularity=hour");
    let export = Request {
        method: "GET",
        path: b"/api/export.csv",
        query: hourly.as_bytes(),
        headers: &[],
    };
    let query = Request {
        path: b"/api/query",
        ..export
    };
    // Every piece, as the HTTP layer asks for them (one piece held at a time); the lines made.
    let drain = |api: &Api| -> u64 {
        let Body::Streamed(mut pieces) = api.handle(&export).body else {
            panic!("an export is streamed");
        };
        let mut lines = 0;
        let mut piece = Vec::new();
        loop {
            piece.clear();
            let more = pieces.next_piece(&mut piece).expect("a piece");
            lines += piece.iter().filter(|b| **b == b'\n').count() as u64;
            if !more {
                break;
            }
        }
        lines
    };
    let rows = drain(&api) - 1;
    let mut group = criterion.benchmark_group("export");
    group.throughput(Throughput::Elements(rows));
    group.bench_function("export_one_year_hourly_csv", |b| {
        b.iter(|| black_box(drain(&api)))
    });
    group.bench_function("query_one_year_hourly_json", |b| {
        b.iter(|| black_box(api.handle(black_box(&query))))
    });
    group.finish();
    criterion.final_summary();
    drop(api);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
