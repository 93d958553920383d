//! Connection-level abuse: 2,000 idle connections, a slowloris trickle, more trickling clients
//! than the table holds, and the idle timeout. These wait for the real timeouts (10 s, 30 s),
//! so they run in parallel and take about 30 s together.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use nettraffic_sentinel::serve::http::limits::{HEAD_TIMEOUT, IDLE_TIMEOUT, MAX_CONNECTIONS};

use crate::support::http::{Client, assert_still_serves, get, start_echo};

/// The 2,000 client ends and the server's table live in this one process: make sure its
/// open-file limit holds them (root may raise the hard limit; `start` raises only the soft one).
fn allow_open_files(wanted: u64) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("the open-file limit");
    if soft < wanted {
        setrlimit(Resource::RLIMIT_NOFILE, wanted, hard.max(wanted)).unwrap_or_else(|error| {
            panic!("this test needs {wanted} open files (limit {soft}/{hard}): {error}")
        });
    }
}

fn two_thousand_idle_connections_do_not_lock_out_a_new_client() {
    let server = start_echo(None);
    allow_open_files(4096);
    let began = Instant::now();
    let mut idle: Vec<TcpStream> = (0..2000)
        .map(|n| {
            TcpStream::connect(server.local_addr())
                .unwrap_or_else(|error| panic!("connection {n}: {error}"))
        })
        .collect();
    eprintln!("2,000 connections opened in {:?}", began.elapsed());
    // Let the accept thread take all of them.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.evicted_connections() < (2000 - MAX_CONNECTIONS) as u64
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let latency = assert_still_serves(&server, "2,000 idle connections");
    assert!(server.open_connections() <= MAX_CONNECTIONS);
    assert!(
        server.evicted_connections() >= (2000 - MAX_CONNECTIONS) as u64,
        "{} evicted",
        server.evicted_connections()
    );
    // The oldest were the ones closed; the newest are still open.
    let mut oldest = Client::over(idle.remove(0));
    assert!(
        oldest.is_closed_within(Duration::from_secs(2)),
        "the oldest idle was evicted"
    );
    let mut newest = Client::over(idle.pop().expect("one"));
    let reply = newest
        .send(&get("/still-here"))
        .reply(false)
        .expect("the newest is served");
    assert_eq!(reply.status, 200);
    eprintln!("health on a new connection with 2,000 idle ones open: {latency:?}");
}

/// Send one byte every `pause` until the server closes or `limit` passes; returns how long
/// the connection lived and what the server answered.
fn trickle(
    client: &mut Client,
    request: &[u8],
    pause: Duration,
    limit: Duration,
) -> (Duration, Vec<u8>) {
    use std::io::{ErrorKind, Read};
    let began = Instant::now();
    let mut answer = Vec::new();
    client
        .stream
        .set_read_timeout(Some(pause))
        .expect("timeout");
    for byte in request.iter().cycle() {
        if began.elapsed() > limit || client.stream.write_all(&[*byte]).is_err() {
            break;
        }
        let mut chunk = [0u8; 1024];
        match client.stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => answer.extend_from_slice(&chunk[..read]),
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    (began.elapsed(), answer)
}

fn a_slowloris_trickle_is_cut_off_at_the_head_timeout() {
    let server = start_echo(None);
    let mut client = Client::connect(server.local_addr());
    let endless = b"GET / HTTP/1.1\r\nHost: nas\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let watcher = {
        let server_address = server.local_addr();
        std::thread::spawn(move || {
            // Meanwhile others are served.
            std::thread::sleep(Duration::from_secs(3));
            crate::support::http::exchange(server_address, &get("/api/health")).status
        })
    };
    let (lived, answer) = trickle(
        &mut client,
        endless,
        Duration::from_millis(100),
        HEAD_TIMEOUT * 3,
    );
    eprintln!("slowloris connection lived {lived:?}");
    assert!(
        lived >= HEAD_TIMEOUT - Duration::from_millis(500),
        "not cut before the timeout: {lived:?}"
    );
    // The head timeout, then at most LINGER_TIME discarding the rest of the trickle.
    assert!(lived < HEAD_TIMEOUT * 2, "cut off: {lived:?}");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{answer}"
    );
    assert!(
        answer.ends_with("{\"error\":\"request headers not received within 10 s\"}"),
        "{answer}"
    );
    assert_eq!(watcher.join().expect("watcher"), 200);
    assert_still_serves(&server, "a slowloris trickle");
}

fn more_trickling_clients_than_the_table_holds_do_not_lock_out_a_new_client() {
    let server = start_echo(None);
    let mut slow: Vec<TcpStream> = Vec::new();
    for _ in 0..MAX_CONNECTIONS + 100 {
        let mut stream = TcpStream::connect(server.local_addr()).expect("connects");
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: n")
            .expect("writes");
        slow.push(stream);
    }
    std::thread::sleep(Duration::from_millis(300));
    for stream in &mut slow {
        // Every trickler is half-way through its head; some are already evicted.
        let _ = stream.write_all(b"a");
    }
    assert_still_serves(&server, "356 half-sent heads");
    assert!(server.open_connections() <= MAX_CONNECTIONS);
}

fn silent_connections_are_closed_after_the_idle_timeout() {
    let server = start_echo(None);
    let mut silent = Client::connect(server.local_addr());
    // The server's idle clock for it starts at its accept, after this: the window in which it
    // must stay open is counted from here, not from after the other client's request (which a
    // loaded machine, with the attack tests running beside this one, may take seconds to answer).
    let connected = Instant::now();
    let mut finished = Client::connect(server.local_addr());
    assert_eq!(
        finished
            .send(&get("/one"))
            .reply(false)
            .expect("one")
            .status,
        200
    );
    let began = Instant::now();
    let still_open = (IDLE_TIMEOUT - Duration::from_secs(2)).saturating_sub(connected.elapsed());
    // (A zero read timeout is refused by the OS; nothing is left to check then.)
    assert!(
        still_open.is_zero() || !silent.is_closed_within(still_open),
        "open before the idle timeout"
    );
    assert!(
        silent.is_closed_within(Duration::from_secs(10)),
        "closed after it"
    );
    assert!(
        finished.is_closed_within(Duration::from_secs(10)),
        "idle after a request too"
    );
    eprintln!("idle connections closed after {:?}", began.elapsed());
    assert_still_serves(&server, "idle timeouts");
}

tests! {
    #[needs(OpenFiles(4096))]
    two_thousand_idle_connections_do_not_lock_out_a_new_client,
    a_slowloris_trickle_is_cut_off_at_the_head_timeout,
    more_trickling_clients_than_the_table_holds_do_not_lock_out_a_new_client,
    silent_connections_are_closed_after_the_idle_timeout,
}
