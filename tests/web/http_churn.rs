//! Connection churn against the real monitor (`run`, root: a network namespace): `ab -n 100000
//! -c 32` (apache2-utils), 100,000 new connections, 32 at a time, each `GET /api/summary` then
//! close. Every one must be answered; ab gives up on a connection silent for 5 s.
//!
//! Regression: `may` 0.3.51's `CoIo` closed a finished client's socket before taking it out of
//! epoll; when the accept thread was handed the same descriptor number in between, the late
//! `EPOLL_CTL_DEL` removed the new client's registration and that client hung until the idle
//! timeout (30 s) closed it — every such ab run of 30,000 connections stalled (see
//! `serve::http::socket`).

use std::time::{Duration, Instant};

use crate::support::TempDir;
use crate::support::netns::{Netns, run};
use crate::support::web::{Monitor, PORT, db_in};

const CONNECTIONS: usize = 100_000;
const CONCURRENCY: usize = 32;
/// ab's wait for a silent connection: the bug makes a client wait 30 s, a healthy answer takes
/// milliseconds even on a busy machine.
const ANSWER_WITHIN_SECS: u32 = 5;
/// ab is stopped after this long whatever it is doing (100,000 take about 30 s in a debug build).
const RUN_LIMIT: Duration = Duration::from_secs(240);

/// The number after `label` in ab's report.
fn figure(report: &str, label: &str) -> Option<usize> {
    report
        .lines()
        .find_map(|line| line.strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
}

fn a_hundred_thousand_connections_thirty_two_at_a_time_are_all_answered() {
    let mut netns = Netns::new("churn");
    let a = netns.add("a");
    let b = netns.add("b");
    netns.veth((&a, "va"), (&b, "vb"));
    let dir = TempDir::new("churn");
    let mut monitor = Monitor::start(&netns, &b, "vb", &db_in(dir.path()), &[]);
    monitor.wait_ready("vb");

    let began = Instant::now();
    let mut ab = netns.exec(&b, "ab");
    ab.args(["-q", "-s", &ANSWER_WITHIN_SECS.to_string()])
        .args([
            "-n",
            &CONNECTIONS.to_string(),
            "-c",
            &CONCURRENCY.to_string(),
        ])
        .arg(format!("http://127.0.0.1:{PORT}/api/summary"));
    let output = run(&mut ab, RUN_LIMIT);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("ab ran {:?}:\n{report}", began.elapsed());
    assert!(
        output.status.success(),
        "ab gave up (a connection was not answered within {ANSWER_WITHIN_SECS} s):\n{report}"
    );
    assert_eq!(
        figure(&report, "Complete requests:"),
        Some(CONNECTIONS),
        "{report}"
    );
    assert_eq!(figure(&report, "Failed requests:"), Some(0), "{report}");
    assert_eq!(figure(&report, "Non-2xx responses:"), None, "{report}");
    monitor.stop();
}

tests! {
    #[needs(Netns, Tool("ab"))]
    a_hundred_thousand_connections_thirty_two_at_a_time_are_all_answered,
}
