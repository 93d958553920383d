//! The HTTP layer's abuse cases against the real monitor (`run`) while it captures a veth in a
//! test's network namespace and tcpreplay puts traffic on it (root: namespaces, veth, packet
//! sockets). Each case is followed by `/api/health` on a new connection, whose latency is printed
//! (`--nocapture`); at the end the monitor must still stop cleanly on SIGTERM.

use std::time::{Duration, Instant};

use crate::support::http::{Answer, Client};
use crate::support::netns::{Netns, Spawned};
use crate::support::web::{Monitor, PORT, connect, db_in};
use crate::support::{TempDir, capture};

/// A monitor capturing `vb` in namespace `b`, fed from `va` in namespace `a`.
struct Lab {
    monitor: Option<Monitor>,
    replay: Option<Spawned>,
    _dir: TempDir,
    _netns: Netns,
}

impl Lab {
    fn start(label: &str, settings: &[(&str, &str)]) -> Lab {
        let mut netns = Netns::new(label);
        let a = netns.add("a");
        let b = netns.add("b");
        netns.veth((&a, "va"), (&b, "vb"));
        let dir = TempDir::new(label);
        let mut monitor = Monitor::start(&netns, &b, "vb", &db_in(dir.path()), settings);
        monitor.wait_ready("vb");
        let capture = capture("zeek-wikipedia.pcap");
        let replay = netns.spawn_replay(&a, "va", &capture);
        Lab {
            monitor: Some(monitor),
            replay: Some(replay),
            _dir: dir,
            _netns: netns,
        }
    }

    fn monitor(&self) -> &Monitor {
        self.monitor.as_ref().expect("running")
    }

    fn client(&self) -> Client {
        Client::over(connect(&self.monitor().namespace, PORT))
    }

    /// One request on a new connection.
    fn exchange(&self, request: &[u8]) -> Answer {
        self.client().send(request).reply(false).expect("an answer")
    }

    /// `/api/health` on a new connection must answer 200; prints and returns its latency.
    fn assert_still_serves(&self, after: &str) -> Duration {
        let mut client = self.client();
        let began = Instant::now();
        let reply = client
            .send(b"GET /api/health HTTP/1.1\r\nHost: nas\r\n\r\n")
            .reply(false)
            .unwrap_or_else(|error| panic!("health after {after}: {error}"));
        let took = began.elapsed();
        assert_eq!(reply.status, 200, "health after {after}: {reply:?}");
        eprintln!(
            "monitor: health latency after {after}: {:.2} ms",
            took.as_secs_f64() * 1000.0
        );
        took
    }

    /// SIGTERM: a clean exit, and no panic anywhere in the log.
    fn stop(mut self) -> String {
        if let Some(replay) = self.replay.take() {
            let _ = replay.finish(Duration::from_secs(30), "tcpreplay");
        }
        let log = self.monitor.take().expect("running").stop();
        assert!(!log.contains("panicked"), "{log}");
        log
    }
}

fn get(path: &[u8]) -> Vec<u8> {
    [b"GET ", path, b" HTTP/1.1\r\nHost: nas\r\n\r\n"].concat()
}

fn abuse_against_the_real_monitor() {
    let lab = Lab::start("http-abuse", &[]);

    let reply = lab.exchange(b"GET /api/summary HTTP/9.9\r\nHost: nas\r\n\r\n");
    assert_eq!(reply.status, 505);
    let reply = lab.exchange(b"GET\r\n\r\n");
    assert_eq!(reply.status, 400);
    assert!(!reply.error().is_empty());
    lab.assert_still_serves("malformed request lines");

    let mut client = lab.client();
    let mut big = b"GET /api/summary HTTP/1.1\r\nHost: nas\r\nX-Big: ".to_vec();
    big.resize(big.len() + (1 << 20), b'a');
    big.extend_from_slice(b"\r\n\r\n");
    let mut writer = client.stream.try_clone().expect("clone");
    let sending = std::thread::spawn(move || {
        let _ = std::io::Write::write_all(&mut writer, &big);
    });
    assert_eq!(client.reply(false).expect("an answer").status, 431);
    let _ = sending.join();
    lab.assert_still_serves("a 1 MB header");

    let many: String = (0..100).map(|n| format!("X-F{n}: v\r\n")).collect();
    let reply =
        lab.exchange(format!("GET /api/summary HTTP/1.1\r\nHost: nas\r\n{many}\r\n").as_bytes());
    assert_eq!(reply.status, 431);
    lab.assert_still_serves("100 header fields");

    // Chromium's 14 fields with a 4 KiB cookie, plus a proxy's three.
    let cookie = (0..65)
        .map(|n| format!("c{n:02}={}", "z".repeat(58)))
        .collect::<Vec<_>>()
        .join("; ");
    let chromium = format!(
        "GET /api/summary HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\nConnection: keep-alive\r\n\
         sec-ch-ua-platform: \"Linux\"\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36\r\n\
         sec-ch-ua: \"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\"\r\nsec-ch-ua-mobile: ?0\r\nAccept: */*\r\n\
         Sec-Fetch-Site: same-origin\r\nSec-Fetch-Mode: cors\r\nSec-Fetch-Dest: empty\r\n\
         Referer: http://127.0.0.1:{PORT}/\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n\
         Accept-Language: en-US,en;q=0.9\r\nCookie: {cookie}\r\nX-Forwarded-For: 198.51.100.23\r\n\
         X-Forwarded-Proto: https\r\nX-Forwarded-Host: nas.example.net\r\n\r\n"
    );
    let mut client = lab.client();
    for _ in 0..3 {
        let reply = client
            .send(chromium.as_bytes())
            .reply(false)
            .expect("an answer");
        assert_eq!(reply.status, 200, "{reply:?}");
        assert!(reply.json()["today"].is_object(), "{:?}", reply.json());
    }
    lab.assert_still_serves("Chromium with 17 fields and a 4 KiB cookie");

    let reply = lab.exchange(&get(b"/api/\xff\xfe"));
    assert_eq!(reply.status, 404);
    assert!(!reply.error().is_empty());
    let reply = lab.exchange(&get(b"/api/query?start=\xc3\x28&end=2024-01-01"));
    assert_eq!(reply.status, 400);
    assert!(reply.error().contains("start"), "{}", reply.error());
    lab.assert_still_serves("invalid UTF-8 in path and query");

    let reply =
        lab.exchange(b"POST /api/summary HTTP/1.1\r\nHost: nas\r\nContent-Length: 2\r\n\r\n{}");
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET, HEAD"));
    let mut client = lab.client();
    let got = client
        .send(&get(b"/api/date_range"))
        .reply(false)
        .expect("GET");
    let headed = client
        .send(b"HEAD /api/date_range HTTP/1.1\r\nHost: nas\r\n\r\n")
        .reply(true)
        .expect("HEAD");
    assert_eq!(
        headed.header("content-length").map(str::to_string),
        Some(got.body.len().to_string())
    );
    lab.assert_still_serves("405 and HEAD");

    let mut client = lab.client();
    let batch: Vec<u8> = (0..10)
        .flat_map(|_| get(b"/api/summary"))
        .chain(get(b"/api/realtime"))
        .collect();
    client.send(&batch);
    for _ in 0..10 {
        assert!(client.reply(false).expect("summary").json()["today"].is_object());
    }
    assert!(client.reply(false).expect("realtime").json().is_object());
    lab.assert_still_serves("11 pipelined requests");

    let idle: Vec<Client> = (0..600).map(|_| lab.client()).collect();
    std::thread::sleep(Duration::from_millis(500));
    lab.assert_still_serves("600 idle connections");
    drop(idle);

    let log = lab.stop();
    assert!(log.contains("dashboard and API at http://"), "{log}");
    // Hundreds of connections, and not one line about them: the runtime's chatter is filtered.
    assert!(!log.contains("epoll"), "{log}");
    assert!(!log.contains("set stack size"), "{log}");
}

fn web_auth_in_the_real_monitor() {
    let lab = Lab::start(
        "http-auth",
        &[
            ("WEB_AUTH", "admin:s3cret"),
            ("WEB_ALLOWED_HOSTS", "nas.example.com"),
        ],
    );
    let reply = lab.exchange(&get(b"/api/summary"));
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Basic realm=\"NetTraffic-Sentinel\"")
    );
    let wrong = lab.exchange(
        b"GET /api/summary HTTP/1.1\r\nHost: nas\r\nAuthorization: Basic YWRtaW46czNjcmV1\r\n\r\n",
    );
    assert_eq!(wrong.status, 401);
    // base64("admin:s3cret")
    let right = lab.exchange(
        b"GET /api/summary HTTP/1.1\r\nHost: nas\r\nAuthorization: Basic YWRtaW46czNjcmV0\r\n\r\n",
    );
    assert_eq!(right.status, 200);
    assert!(right.json()["today"].is_object());
    lab.assert_still_serves("auth on, without credentials");

    // Guessing: a few wrong passwords are checked, then 429 with Retry-After; one log line.
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let reply = lab.exchange(
            b"GET /api/summary HTTP/1.1\r\nHost: nas\r\nAuthorization: Basic YWRtaW46Z3Vlc3M=\r\n\r\n",
        );
        if reply.status == 429 {
            assert!(reply.header("retry-after").is_some(), "{reply:?}");
        }
        statuses.push(reply.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(
        statuses.iter().filter(|&&s| s == 401).count() <= 10,
        "{statuses:?}"
    );
    lab.assert_still_serves("password guessing");

    // DNS rebinding: names of other sites get 403; WEB_ALLOWED_HOSTS and local names are answered.
    let credentials = "Authorization: Basic YWRtaW46czNjcmV0\r\n";
    // The listed name passes the host check and meets the guesser's wait (429, not 403).
    for (host, status) in [("evil.example", 403), ("nas.example.com:8080", 429)] {
        let reply = lab.exchange(
            format!("GET /api/summary HTTP/1.1\r\nHost: {host}\r\n{credentials}\r\n").as_bytes(),
        );
        assert_eq!(reply.status, status, "{host}: {reply:?}");
    }
    let log = lab.stop();
    assert!(
        !log.contains("s3cret"),
        "the password is never logged: {log}"
    );
    let lines = log
        .lines()
        .filter(|line| line.contains("wrong WEB_AUTH"))
        .count();
    assert_eq!(lines, 1, "one line per client per minute: {log}");
}

tests! {
    #[needs(Netns, Tool("tcpreplay"))]
    abuse_against_the_real_monitor,
    #[needs(Netns, Tool("tcpreplay"))]
    web_auth_in_the_real_monitor,
}
