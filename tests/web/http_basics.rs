//! The HTTP layer's ordinary behaviour through the public API: answers, keep-alive, HTTP/1.0,
//! HEAD, pipelining, large bodies, streamed (chunked) bodies, and the error for a port that is
//! taken.

use std::time::Duration;

use nettraffic_sentinel::serve::http::{HttpError, HttpSettings, start};

use crate::support::http::{
    BIG_BYTES, Client, EchoHandler, assert_still_serves, exchange, get, start_echo, stream_lines,
};

fn a_get_reaches_the_handler_with_path_query_and_headers() {
    let server = start_echo(None);
    let reply = exchange(
        server.local_addr(),
        b"GET /api/query?start=2024-01-01&end=2024-12-31 HTTP/1.1\r\nHost: nas\r\nAccept: */*\r\n\r\n",
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(reply.header("connection"), Some("keep-alive"));
    let echo = reply.json();
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["path"], serde_json::json!(b"/api/query"));
    assert_eq!(
        echo["query"],
        serde_json::json!(b"start=2024-01-01&end=2024-12-31")
    );
    assert_eq!(echo["headers"], 2);
    assert_still_serves(&server, "a plain GET");
}

fn keep_alive_serves_many_requests_on_one_connection() {
    let server = start_echo(None);
    let mut client = Client::connect(server.local_addr());
    for round in 0..50 {
        let reply = client
            .send(&get(&format!("/n/{round}")))
            .reply(false)
            .expect("an answer");
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.json()["path"],
            serde_json::json!(format!("/n/{round}").as_bytes())
        );
    }
    assert!(!client.is_closed_within(Duration::from_millis(100)));
}

fn connection_close_and_http_1_0_close_after_the_answer() {
    let server = start_echo(None);
    let mut client = Client::connect(server.local_addr());
    let reply = client
        .send(b"GET /a HTTP/1.1\r\nHost: nas\r\nConnection: close\r\n\r\n")
        .reply(false)
        .expect("an answer");
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(client.is_closed_within(Duration::from_secs(1)));

    let mut client = Client::connect(server.local_addr());
    let reply = client
        .send(b"GET /b HTTP/1.0\r\n\r\n")
        .reply(false)
        .expect("an answer");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(client.is_closed_within(Duration::from_secs(1)));

    let mut client = Client::connect(server.local_addr());
    for _ in 0..3 {
        let reply = client
            .send(b"GET /c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .reply(false)
            .expect("an answer");
        assert_eq!(reply.header("connection"), Some("keep-alive"));
    }
}

fn head_gets_the_length_of_get_without_a_body() {
    let server = start_echo(None);
    let mut client = Client::connect(server.local_addr());
    // The echo of other paths names the method; the health answer is the same for both.
    let got = client.send(&get("/api/health")).reply(false).expect("GET");
    let headed = client
        .send(b"HEAD /api/health HTTP/1.1\r\nHost: nas\r\n\r\n")
        .reply(true)
        .expect("HEAD");
    assert_eq!(headed.status, 200);
    assert_eq!(
        headed.header("content-length").map(str::to_string),
        Some(got.body.len().to_string())
    );
    // Were a body sent after the HEAD answer, it would be read as the next answer's head.
    let after = client
        .send(&get("/after"))
        .reply(false)
        .expect("GET after HEAD");
    assert_eq!(after.json()["path"], serde_json::json!(b"/after"));
}

fn pipelined_requests_are_answered_in_order() {
    let server = start_echo(None);
    let mut client = Client::connect(server.local_addr());
    let batch: Vec<u8> = (0..20).flat_map(|n| get(&format!("/p/{n}"))).collect();
    client.send(&batch);
    for n in 0..20 {
        let reply = client.reply(false).expect("an answer");
        assert_eq!(
            reply.json()["path"],
            serde_json::json!(format!("/p/{n}").as_bytes())
        );
    }
    // A pipelined batch split in the middle of a request line.
    let (first, second) = batch.split_at(batch.len() / 2 + 3);
    client.send(first);
    std::thread::sleep(Duration::from_millis(50));
    client.send(second);
    for n in 0..20 {
        let reply = client.reply(false).expect("an answer");
        assert_eq!(
            reply.json()["path"],
            serde_json::json!(format!("/p/{n}").as_bytes())
        );
    }
    assert_still_serves(&server, "pipelined requests");
}

fn a_large_body_arrives_whole_and_the_connection_goes_on() {
    let server = start_echo(None);
    let mut client = Client::connect(server.local_addr());
    for _ in 0..3 {
        let reply = client.send(&get("/big")).reply(false).expect("an answer");
        assert_eq!(reply.body.len(), BIG_BYTES);
        assert!(reply.body.iter().all(|&byte| byte == b'x'));
    }
}

fn a_taken_port_is_named_in_the_error() {
    let server = start_echo(None);
    let taken = server.local_addr();
    let settings = HttpSettings {
        bind: taken.ip(),
        port: taken.port(),
        auth: None,
        allowed_hosts: Vec::new(),
    };
    let error = start(&settings, std::sync::Arc::new(EchoHandler)).expect_err("the port is taken");
    assert!(matches!(error, HttpError::PortInUse { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "WEB_PORT {} is already in use on 127.0.0.1 (another program listens there): set WEB_PORT to a free port",
            taken.port()
        )
    );
    assert_still_serves(&server, "a second server on the same port");
}

/// The fields every answer must carry, and what each must say.
fn assert_hardened(reply: &crate::support::http::Answer, what: &str) {
    assert_eq!(
        reply.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert!(reply.header("referrer-policy").is_some(), "{what}");
    let policy = reply
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"));
    let directives: Vec<&str> = policy.split(';').map(str::trim).collect();
    for needed in [
        "script-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "default-src 'none'",
    ] {
        assert!(directives.contains(&needed), "{what}: {needed} in {policy}");
    }
    // No inline script, no inline style, no eval: the dashboard needs none (tests/dashboard.rs).
    assert!(!policy.contains("unsafe-"), "{what}: {policy}");
}

fn every_answer_carries_nosniff_a_content_security_policy_and_a_referrer_policy() {
    let server = start_echo(None);
    let address = server.local_addr();
    let reply = exchange(address, &get("/api/summary"));
    assert_eq!(reply.status, 200);
    assert_hardened(&reply, "200");
    let reply = exchange(address, b"PUT / HTTP/1.1\r\nHost: nas\r\n\r\n");
    assert_eq!(reply.status, 405);
    assert_hardened(&reply, "405");
    let reply = exchange(address, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(reply.status, 400);
    assert_hardened(&reply, "400");
    let server = start_echo(Some(("admin", "pw")));
    let reply = exchange(server.local_addr(), &get("/"));
    assert_eq!(reply.status, 401);
    assert_hardened(&reply, "401");
}

/// Everything the server sends on one connection until it closes it.
fn all_of(server: &nettraffic_sentinel::serve::http::Server, request: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(server.local_addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request).expect("send");
    let mut answer = Vec::new();
    // A connection cut off by the server may end in a reset: what arrived is what counts.
    let _ = stream.read_to_end(&mut answer);
    answer
}

/// The head (as text) and the rest.
fn head_and_rest(answer: &[u8]) -> (String, &[u8]) {
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    (
        String::from_utf8_lossy(&answer[..end + 4]).into_owned(),
        &answer[end + 4..],
    )
}

/// A chunked body taken apart: the bytes, what follows its last chunk, and whether it had one.
fn dechunk(mut rest: &[u8]) -> (Vec<u8>, &[u8], bool) {
    let mut body = Vec::new();
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16)
            .expect("a hex chunk size");
        rest = &rest[line_end + 2..];
        if size == 0 {
            assert!(rest.starts_with(b"\r\n"), "the last chunk ends with CRLF");
            return (body, &rest[2..], true);
        }
        if rest.len() < size + 2 {
            break;
        }
        body.extend_from_slice(&rest[..size]);
        assert_eq!(&rest[size..size + 2], b"\r\n", "CRLF after each chunk");
        rest = &rest[size + 2..];
    }
    (body, rest, false)
}

fn a_streamed_body_is_chunked_for_1_1_and_close_delimited_for_1_0() {
    let server = start_echo(None);
    // HTTP/1.1: chunked, the connection kept for the next (pipelined) request.
    let answer = all_of(
        &server,
        b"GET /stream HTTP/1.1\r\nHost: nas\r\n\r\nGET /api/health HTTP/1.1\r\nHost: nas\r\nConnection: close\r\n\r\n",
    );
    let (head, rest) = head_and_rest(&answer);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("\r\nTransfer-Encoding: chunked\r\n"),
        "{head}"
    );
    assert!(
        !head.to_ascii_lowercase().contains("content-length"),
        "{head}"
    );
    assert!(head.contains("\r\nConnection: keep-alive\r\n"), "{head}");
    let (body, after, complete) = dechunk(rest);
    assert!(complete, "a last chunk");
    assert!(body == stream_lines(), "the body arrives whole, in order");
    assert!(
        after.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "the next answer follows on the same connection"
    );

    // HTTP/1.0 knows no chunks: the body ends with the connection.
    let answer = all_of(&server, b"GET /stream HTTP/1.0\r\nHost: nas\r\n\r\n");
    let (head, rest) = head_and_rest(&answer);
    assert!(!head.contains("Transfer-Encoding"), "{head}");
    assert!(head.contains("\r\nConnection: close\r\n"), "{head}");
    assert!(rest == stream_lines().as_slice(), "the body arrives whole");

    // HEAD: the head of GET, no body, the connection goes on.
    let answer = all_of(
        &server,
        b"HEAD /stream HTTP/1.1\r\nHost: nas\r\n\r\nGET /api/health HTTP/1.1\r\nHost: nas\r\nConnection: close\r\n\r\n",
    );
    let (head, rest) = head_and_rest(&answer);
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    assert!(
        rest.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "no body after HEAD"
    );
    assert_still_serves(&server, "streamed answers");
}

fn a_streamed_body_that_fails_is_cut_off_without_its_last_chunk() {
    let server = start_echo(None);
    let answer = all_of(
        &server,
        b"GET /stream-fails HTTP/1.1\r\nHost: nas\r\n\r\nGET /api/health HTTP/1.1\r\nHost: nas\r\n\r\n",
    );
    let (head, rest) = head_and_rest(&answer);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    let (body, _, complete) = dechunk(rest);
    assert!(!complete, "no last chunk: the client sees the body cut off");
    assert!(!body.is_empty() && stream_lines().starts_with(&body));
    assert_still_serves(&server, "a streamed answer that failed");
}

tests! {
    a_get_reaches_the_handler_with_path_query_and_headers,
    a_streamed_body_is_chunked_for_1_1_and_close_delimited_for_1_0,
    a_streamed_body_that_fails_is_cut_off_without_its_last_chunk,
    keep_alive_serves_many_requests_on_one_connection,
    connection_close_and_http_1_0_close_after_the_answer,
    head_gets_the_length_of_get_without_a_body,
    pipelined_requests_are_answered_in_order,
    a_large_body_arrives_whole_and_the_connection_goes_on,
    a_taken_port_is_named_in_the_error,
    every_answer_carries_nosniff_a_content_security_policy_and_a_referrer_policy,
}
