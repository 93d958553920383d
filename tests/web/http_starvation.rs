//! Cheap requests under expensive ones, against the real monitor (root: a network namespace):
//! `/api/health` probed on new connections must keep answering while slowhttptest's slow-read
//! attack asks for a ten-year hourly series on 1,000 connections; and (in process, with a
//! handler that holds its worker) a cheap request must be answered while as many expensive
//! requests as there are web workers run.
//!
//! Regression: slow readers held the answer memory and table slots, and new unanswered
//! connections were the first closed to make room, so `/api/health` failed for about 55 s;
//! expensive requests could take both web workers, so health checks queued behind them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::support::TempDir;
use crate::support::netns::{Netns, Spawned};
use crate::support::web::{Monitor, PORT, db_in};
use nettraffic_sentinel::serve::http::{HttpSettings, start};
use nettraffic_sentinel::serve::{Body, Handler, Request, Response};

/// Ten years by hour: 87,672 points, about 7 MB of JSON.
const TEN_YEARS_HOURLY: &str = "/api/query?start=2016-01-01&end=2025-12-31&granularity=hour";

struct Lab {
    monitor: Monitor,
    namespace: String,
    netns: Netns,
    _dir: TempDir,
}

fn lab(label: &str) -> Lab {
    let mut netns = Netns::new(label);
    let a = netns.add("a");
    let b = netns.add("b");
    netns.veth((&a, "va"), (&b, "vb"));
    let dir = TempDir::new(label);
    let mut monitor = Monitor::start(&netns, &b, "vb", &db_in(dir.path()), &[]);
    monitor.wait_ready("vb");
    Lab {
        monitor,
        namespace: b,
        netns,
        _dir: dir,
    }
}

/// Join `namespace` on this thread, so its sockets are made there.
fn enter(namespace: &str) {
    let handle = std::fs::File::open(format!("/run/netns/{namespace}")).expect("the namespace");
    nix::sched::setns(&handle, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
}

/// `GET target` on a new connection; the status, or what went wrong, within `within`.
fn get_within(target: &str, within: Duration) -> Result<u16, String> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", PORT)).map_err(|error| format!("connect: {error}"))?;
    stream
        .set_read_timeout(Some(within))
        .map_err(|error| error.to_string())?;
    let request = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|error| format!("send: {error}"))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|error| format!("no answer within {within:?}: {error}"))?;
    std::str::from_utf8(answer.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|status| status.parse().ok())
        .ok_or_else(|| format!("not HTTP: {:?}", String::from_utf8_lossy(&answer)))
}

/// Probe `/api/health` on a new connection every half second for `length`, on a thread in
/// `namespace`: every probe must be answered 200 within 5 s (the attacks made it fail).
/// Returns the failures and the slowest probe.
fn probe_health(namespace: &str, length: Duration) -> (Vec<String>, Duration) {
    let namespace = namespace.to_string();
    std::thread::spawn(move || {
        enter(&namespace);
        let began = Instant::now();
        let mut failures = Vec::new();
        let mut slowest = Duration::ZERO;
        while began.elapsed() < length {
            let probe = Instant::now();
            match get_within("/api/health", Duration::from_secs(5)) {
                Ok(200) => {}
                Ok(status) => failures.push(format!("{:?}: status {status}", began.elapsed())),
                Err(error) => failures.push(format!("{:?}: {error}", began.elapsed())),
            }
            slowest = slowest.max(probe.elapsed());
            std::thread::sleep(Duration::from_millis(500));
        }
        (failures, slowest)
    })
    .join()
    .expect("the probe thread")
}

fn health_answers_through_a_slow_read_attack() {
    let lab = lab("slowread");
    let url = format!("http://127.0.0.1:{PORT}{TEN_YEARS_HOURLY}");
    let mut attack = lab.netns.exec(&lab.namespace, "slowhttptest");
    // Slow read: 1,000 connections at 200 a second, each with a receive window of 512–1024
    // bytes, reading 32 bytes every 3 s, the request three times per connection, for 25 s.
    attack.args([
        "-X", "-c", "1000", "-r", "200", "-l", "25", "-w", "512", "-y", "1024",
    ]);
    attack.args(["-n", "3", "-z", "32", "-k", "3", "-p", "5", "-u", &url]);
    let attack = Spawned::new(&mut attack);
    std::thread::sleep(Duration::from_secs(3));
    let (failures, slowest) = probe_health(&lab.namespace, Duration::from_secs(18));
    let output = attack.finish(Duration::from_secs(60), "slowhttptest");
    let report = String::from_utf8_lossy(&output.stdout);
    let tail: Vec<&str> = report.lines().rev().take(12).collect();
    eprintln!(
        "health during the attack: {} failed, slowest {slowest:?}; slowhttptest ended: {tail:?}",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "/api/health failed during the attack: {failures:?}"
    );
    lab.monitor.stop();
}

/// A handler whose expensive requests hold their web worker until the test lets them go, as a
/// long query does, and whose cheap requests answer at once.
struct Holding {
    release: Arc<AtomicBool>,
}

impl Handler for Holding {
    fn handle(&self, request: &Request<'_>) -> Response {
        if request.path == b"/expensive" {
            // Busy, as a handler building a long series is (it never yields its worker); ends
            // by itself if the test fails before releasing it.
            let began = Instant::now();
            while !self.release.load(Ordering::Acquire) && began.elapsed() < HOLD_AT_MOST {
                std::hint::spin_loop();
            }
        }
        Response {
            status: 200,
            content_type: "text/plain",
            body: Body::Static(b"ok"),
            headers: Vec::new(),
        }
    }

    fn is_expensive(&self, request: &Request<'_>) -> bool {
        request.path == b"/expensive"
    }
}

/// The longest an expensive request of [`Holding`] holds its worker.
const HOLD_AT_MOST: Duration = Duration::from_secs(15);

fn expensive_requests_leave_a_worker_for_cheap_ones() {
    let release = Arc::new(AtomicBool::new(false));
    let settings = HttpSettings {
        bind: [127, 0, 0, 1].into(),
        port: 0,
        auth: None,
        allowed_hosts: Vec::new(),
    };
    let handler = Holding {
        release: Arc::clone(&release),
    };
    let server = start(&settings, Arc::new(handler)).expect("the server starts");
    let address = server.local_addr();
    let ask = move |path: &'static str| {
        std::thread::spawn(move || {
            let mut stream = TcpStream::connect(address).expect("connect");
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .expect("timeout");
            let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).expect("send");
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            answer
        })
    };
    // As many expensive requests as the server has web workers (two; `limits::WORKERS`).
    let expensive: Vec<_> = (0..2).map(|_| ask("/expensive")).collect();
    std::thread::sleep(Duration::from_millis(500));
    let began = Instant::now();
    let mut cheap = ask("/api/health");
    let answered_within = Duration::from_secs(5);
    while !cheap.is_finished() && began.elapsed() < answered_within {
        std::thread::sleep(Duration::from_millis(20));
    }
    let waited = began.elapsed();
    release.store(true, Ordering::Release);
    let cheap_answer = std::mem::replace(&mut cheap, std::thread::spawn(String::new))
        .join()
        .expect("the cheap request");
    for request in expensive {
        let answer = request.join().expect("an expensive request");
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    }
    eprintln!("a cheap request beside two expensive ones answered in {waited:?}");
    assert!(
        waited < answered_within && cheap_answer.starts_with("HTTP/1.1 200 "),
        "the cheap request waited for the expensive ones ({waited:?}): {cheap_answer:?}"
    );
}

tests! {
    #[needs(Netns, Tool("slowhttptest"))]
    health_answers_through_a_slow_read_attack,
    expensive_requests_leave_a_worker_for_cheap_ones,
}
