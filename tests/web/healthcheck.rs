//! `nettraffic-sentinel healthcheck` against servers we control: it must pass only on a 200 from
//! `/api/health`, at the address that `WEB_BIND`/`WEB_PORT` name.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::thread;

/// Serve one connection with `answer` and return the request line the client sent.
fn serve_once(listener: TcpListener, answer: &'static str) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut request_line = String::new();
        reader.read_line(&mut request_line).expect("request line");
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).expect("header") == 0 || line == "\r\n" {
                break;
            }
        }
        let mut stream = stream;
        stream.write_all(answer.as_bytes()).expect("answer");
        request_line
    })
}

fn healthcheck(port: u16, bind: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"))
        .arg("healthcheck")
        .env_clear()
        .env("WEB_PORT", port.to_string())
        .env("WEB_BIND", bind)
        .output()
        .expect("run healthcheck")
}

fn a_200_from_api_health_is_healthy() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let body = r#"{"status": "ok", "ts": 1}"#;
    let server = serve_once(
        listener,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 25\r\n\r\n{\"status\": \"ok\", \"ts\": 1}",
    );
    // A wildcard bind is probed through loopback.
    let output = healthcheck(port, "0.0.0.0");
    assert_eq!(
        server.join().expect("server"),
        "GET /api/health HTTP/1.1\r\n"
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), body);
}

fn a_503_is_unhealthy_and_says_why() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = serve_once(
        listener,
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 20\r\nConnection: close\r\n\r\n{\"status\": \"error\"}\r\n",
    );
    let output = healthcheck(port, "127.0.0.1");
    server.join().expect("server");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("answers 503"), "{stderr}");
    assert!(stderr.contains("\"error\""), "{stderr}");
}

fn nobody_listening_is_unhealthy_and_names_the_address() {
    // Bind then drop: the port is known and, for this instant, closed.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let output = healthcheck(port, "0.0.0.0");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(stderr.contains("WEB_PORT"), "{stderr}");
}

fn something_that_is_not_http_is_unhealthy() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = serve_once(listener, "SSH-2.0-OpenSSH_9.2\r\n");
    let output = healthcheck(port, "127.0.0.1");
    server.join().expect("server");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("not as the monitor's web server"));
}

tests! {
    a_200_from_api_health_is_healthy,
    a_503_is_unhealthy_and_says_why,
    nobody_listening_is_unhealthy_and_names_the_address,
    something_that_is_not_http_is_unhealthy,
}
