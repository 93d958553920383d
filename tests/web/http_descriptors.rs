//! A server that runs out of file descriptors still takes a new client: the accept thread closes
//! the longest-idle connection to free one. The server runs in a child process (this test
//! binary, running its child `server_child`) whose open-file limit is lowered after it starts,
//! so the clients of the parent are not limited.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::resource::{Resource, getrlimit, setrlimit};

use crate::support::http::{Client, EchoHandler, get};

const CHILD_VARIABLE: &str = "NTS_HTTP_FD_CHILD";
/// Descriptors the child may open beyond those it holds after starting.
const SPARE_DESCRIPTORS: u64 = 40;

fn server_child() {
    if std::env::var_os(CHILD_VARIABLE).is_none() {
        return;
    }
    let settings = nettraffic_sentinel::serve::http::HttpSettings {
        bind: [127, 0, 0, 1].into(),
        port: 0,
        auth: None,
        allowed_hosts: Vec::new(),
    };
    let server =
        nettraffic_sentinel::serve::http::start(&settings, std::sync::Arc::new(EchoHandler))
            .expect("server");
    let open = std::fs::read_dir("/proc/self/fd").expect("fd list").count() as u64;
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("limit");
    setrlimit(Resource::RLIMIT_NOFILE, open + SPARE_DESCRIPTORS, hard).expect("lower the limit");
    println!("listening {}", server.local_addr());
    // Serve until the parent closes our stdin.
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

fn out_of_descriptors_still_takes_a_new_client() {
    let mut child = crate::support::harness::child_command("http_descriptors::server_child")
        .env(CHILD_VARIABLE, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the server child starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let address: SocketAddr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("listening ").map(str::to_string))
        .expect("the child prints its address")
        .parse()
        .expect("an address");
    // Twice as many idle connections as the child has spare descriptors.
    let idle: Vec<TcpStream> = (0..2 * SPARE_DESCRIPTORS)
        .map(|_| TcpStream::connect(address).expect("the kernel completes the handshake"))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let began = Instant::now();
    let reply = Client::connect(address)
        .send(&get("/api/health"))
        .reply(false);
    let took = began.elapsed();
    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
    let reply = reply.expect("health answers although the server had no descriptor left");
    assert_eq!(reply.status, 200);
    eprintln!(
        "health latency with {} idle connections and no descriptor left: {:.2} ms",
        idle.len(),
        took.as_secs_f64() * 1000.0
    );
}

tests! {
    #[child]
    server_child,
    out_of_descriptors_still_takes_a_new_client,
}
