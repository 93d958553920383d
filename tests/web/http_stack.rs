//! How deep the stack of a connection's coroutine goes on the deepest paths: the real server
//! (`serve::http::start`) with the real API handler (`serve::api::Api`) over a real redb history,
//! answering a 100,000-point `/api/query`, top addresses, metrics and the rest.
//!
//! `may` paints and measures the whole stack of every coroutine whose stack size (in machine
//! words) is odd, and prints `stack size = S, used size = U` (words) when it ends. A child process
//! (this test binary, running its child `probe_child`) sets that odd size (one word more than
//! [`STACK_BYTES`]) before the server starts, asks the deep questions on separate connections, and
//! closes them; the parent reads the printed figures and checks they leave at least half of
//! [`STACK_BYTES`] free. Run it in debug (`cargo test`) and release (`cargo test --release`): their
//! frames differ, and either may be the deeper.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nettraffic_sentinel::clock::Zone;
use nettraffic_sentinel::clock::unix_now;
use nettraffic_sentinel::count::UpDown;
use nettraffic_sentinel::count::heavy::HeavyEntry;
use nettraffic_sentinel::count::live::{Counters, LiveSnapshot, RateSample};
use nettraffic_sentinel::live::CaptureState;
use nettraffic_sentinel::live::KernelStats;
use nettraffic_sentinel::serve::api::{Api, InterfaceReport, LiveSource};
use nettraffic_sentinel::serve::http::limits::STACK_BYTES;
use nettraffic_sentinel::serve::http::{HttpSettings, start};
use nettraffic_sentinel::store::{LiveView, Store};

use crate::support::http::Client;

const CHILD_VARIABLE: &str = "NTS_HTTP_STACK_PROBE";

/// Live counts for one interface: a year of hours and a few hundred remote addresses today.
struct YearOfLive {
    view: LiveView,
}

impl YearOfLive {
    fn new() -> YearOfLive {
        let now = unix_now();
        let hour_now = now - now.rem_euclid(3600);
        let hours: BTreeMap<i64, UpDown> = (0..24 * 365)
            .map(|back| {
                let bytes = UpDown {
                    up: 1_000 + back as u64,
                    down: 5_000 + back as u64,
                };
                (hour_now - back * 3600, bytes)
            })
            .collect();
        let today = Zone::utc().date_of(now);
        let remotes = (0..500u32)
            .map(|n| HeavyEntry {
                addr: IpAddr::from([203, 0, 113, (n % 250) as u8]),
                bytes: UpDown {
                    up: u64::from(n),
                    down: u64::from(n) * 7,
                },
                error: 0,
            })
            .collect();
        let snapshot = LiveSnapshot {
            counters: Counters::default(),
            hours,
            pairs: BTreeMap::new(),
            remotes: BTreeMap::from([(today, remotes)]),
            devices: BTreeMap::new(),
            ..LiveSnapshot::default()
        };
        YearOfLive {
            view: LiveView {
                interfaces: vec![("eth0".to_string(), snapshot)],
            },
        }
    }
}

impl LiveSource for YearOfLive {
    fn counts(&self) -> LiveView {
        let mut view = self.view.clone();
        for (_, snapshot) in &mut view.interfaces {
            snapshot.remotes.clear();
        }
        view
    }

    fn everything(&self) -> LiveView {
        self.view.clone()
    }

    fn interfaces(&self) -> Vec<InterfaceReport> {
        vec![InterfaceReport {
            name: "eth0".to_string(),
            state: CaptureState::Capturing,
            since: 1_700_000_000,
            counters: Counters::default(),
            kernel: KernelStats::default(),
        }]
    }

    fn rate(&self, _interface: Option<&str>) -> Vec<RateSample> {
        (0..120)
            .map(|second| RateSample {
                unix_second: 1_700_000_000 + second,
                bytes: UpDown { up: 10, down: 20 },
            })
            .collect()
    }
}

/// The questions with the deepest or largest answers.
const DEEP_PATHS: [&str; 9] = [
    // 4,166 days (both ends included) = 99,984 hours: just under the 100,000-point limit.
    "/api/query?start=2013-01-01&end=2024-05-28&granularity=hour",
    "/api/query?start=2000-01-01&end=2024-12-31&granularity=day",
    "/api/top_ips?limit=1000",
    "/metrics",
    "/api/summary",
    "/api/history/30days",
    "/api/history/12months",
    "/api/realtime",
    "/api/health",
];

fn probe_child() {
    if std::env::var_os(CHILD_VARIABLE).is_none() {
        return;
    }
    let directory = PathBuf::from(std::env::var_os(CHILD_VARIABLE).expect("set"));
    let store = Store::open(&directory.join("history.redb"), Zone::utc(), 1000).expect("store");
    let api = Api::new(Arc::new(store), Arc::new(YearOfLive::new()));
    let settings = HttpSettings {
        bind: [127, 0, 0, 1].into(),
        port: 0,
        auth: None,
        allowed_hosts: Vec::new(),
    };
    // Every coroutine is painted and measured (an odd size in words, which `start` keeps).
    may::config().set_stack_size(STACK_BYTES / size_of::<usize>() + 1);
    let server = start(&settings, Arc::new(api)).expect("server");
    for path in DEEP_PATHS {
        let mut client = Client::connect(server.local_addr());
        let reply = client
            .send(
                format!("GET {path} HTTP/1.1\r\nHost: nas\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .reply(false)
            .expect("an answer");
        println!(
            "probe {path}: status {} body {} bytes",
            reply.status,
            reply.body.len()
        );
        assert!(client.is_closed_within(Duration::from_secs(5)));
    }
    // Let the last coroutine end and print.
    std::thread::sleep(Duration::from_millis(500));
}

fn connection_stacks_leave_half_free() {
    let directory = std::env::temp_dir().join(format!("nts-http-stack-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("temp dir");
    let output = crate::support::harness::child_command("http_stack::probe_child")
        .env(CHILD_VARIABLE, &directory)
        .output()
        .expect("the probe runs");
    let _ = std::fs::remove_dir_all(&directory);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "probe failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in stdout.lines().filter(|line| line.starts_with("probe ")) {
        eprintln!("{line}");
        assert!(line.contains("status 200"), "{line}");
    }
    let word = size_of::<usize>();
    let used: Vec<usize> = stdout
        .lines()
        .filter_map(|line| line.split("used size = ").nth(1))
        .map(|words| words.trim().parse::<usize>().expect("a number") * word)
        .collect();
    assert!(
        used.len() >= DEEP_PATHS.len(),
        "every connection's coroutine reported its stack: {stdout}"
    );
    let deepest = used.iter().copied().max().unwrap_or(0);
    eprintln!(
        "coroutine stack used: deepest {} KiB of {} KiB over {} coroutines",
        deepest / 1024,
        STACK_BYTES / 1024,
        used.len()
    );
    assert!(
        deepest <= STACK_BYTES / 2,
        "a connection used {deepest} bytes of its {STACK_BYTES}-byte stack: raise STACK_BYTES"
    );
}

tests! {
    #[child]
    probe_child,
    connection_stacks_leave_half_free,
}
