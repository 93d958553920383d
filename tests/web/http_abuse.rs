//! Every abuse case of issue 5 against a server started in-process, each followed by a health
//! request on a new connection that must answer (its latency is printed; run with
//! `--nocapture` to see the figures).

use std::io::Write;
use std::time::Duration;

use serde_json::json;

use crate::support::http::{
    BIG_BYTES, Client, assert_still_serves, exchange, get, start_echo, start_echo_allowing,
};

/// The answer is a JSON error with `status`, and the server closes the connection after it.
fn assert_refused_and_closed(client: &mut Client, status: u16, what: &str) -> String {
    let reply = client
        .reply(false)
        .unwrap_or_else(|error| panic!("{what}: no answer ({error})"));
    assert_eq!(reply.status, status, "{what}: {reply:?}");
    assert_eq!(
        reply.header("content-type"),
        Some("application/json"),
        "{what}"
    );
    assert_eq!(reply.header("connection"), Some("close"), "{what}");
    assert!(
        client.is_closed_within(Duration::from_secs(3)),
        "{what}: the connection is closed"
    );
    reply.error()
}

fn malformed_request_lines_get_400_and_a_closed_connection() {
    let server = start_echo(None);
    let cases: [(&str, &[u8], u16); 14] = [
        ("no target", b"GET\r\n\r\n", 400),
        ("no version", b"GET /\r\n\r\n", 400),
        ("no method", b"/ HTTP/1.1\r\nHost: nas\r\n\r\n", 400),
        ("two spaces", b"GET  / HTTP/1.1\r\nHost: nas\r\n\r\n", 400),
        (
            "trailing word",
            b"GET / HTTP/1.1 x\r\nHost: nas\r\n\r\n",
            400,
        ),
        (
            "lower-case version",
            b"GET / http/1.1\r\nHost: nas\r\n\r\n",
            400,
        ),
        (
            "control in target",
            b"GET /a\x01b HTTP/1.1\r\nHost: nas\r\n\r\n",
            400,
        ),
        ("binary junk", b"\x00\x01\x02\x03\xff\r\n\r\n", 400),
        (
            "TLS handshake",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            400,
        ),
        ("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: nas\r\n\r\n", 505),
        (
            "field without colon",
            b"GET / HTTP/1.1\r\nHost nas\r\n\r\n",
            400,
        ),
        (
            "folded field",
            b"GET / HTTP/1.1\r\nHost: nas\r\nX-A: 1\r\n  more\r\n\r\n",
            400,
        ),
        (
            "NUL in a value",
            b"GET / HTTP/1.1\r\nHost: nas\r\nX-A: a\x00b\r\n\r\n",
            400,
        ),
        (
            "no Host in HTTP/1.1",
            b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n",
            400,
        ),
    ];
    for (what, bytes, status) in cases {
        let mut client = Client::connect(server.local_addr());
        client.send(bytes);
        let message = assert_refused_and_closed(&mut client, status, what);
        assert!(!message.is_empty(), "{what}");
        assert_still_serves(&server, what);
    }
}

fn a_request_target_that_is_not_a_path_gets_400() {
    let server = start_echo(None);
    let mut client = Client::connect(server.local_addr());
    client.send(b"GET nas:8080 HTTP/1.1\r\nHost: nas\r\n\r\n");
    let message = assert_refused_and_closed(&mut client, 400, "authority-form target");
    assert!(message.contains("target"), "{message}");
    // The absolute form a proxy sends is accepted.
    let reply = exchange(
        server.local_addr(),
        b"GET http://nas:8080/api/x?y=1 HTTP/1.1\r\nHost: nas\r\n\r\n",
    );
    assert_eq!(reply.json()["path"], json!(b"/api/x"));
    assert_eq!(reply.json()["query"], json!(b"y=1"));
}

fn a_one_megabyte_header_gets_431_without_being_buffered() {
    let server = start_echo(None);
    let mut client = Client::connect(server.local_addr());
    let mut request = b"GET /api/summary HTTP/1.1\r\nHost: nas\r\nX-Big: ".to_vec();
    request.resize(request.len() + (1 << 20), b'a');
    request.extend_from_slice(b"\r\n\r\n");
    // The server answers long before the last byte; write from another thread so the answer
    // is read while the client is still sending (or failing to).
    let mut writer = client.stream.try_clone().expect("clone");
    let sending = std::thread::spawn(move || writer.write_all(&request).is_ok());
    let message = assert_refused_and_closed(&mut client, 431, "1 MB header");
    assert!(message.contains("64 fields and 16384 bytes"), "{message}");
    let _ = sending.join();
    assert_still_serves(&server, "a 1 MB header");
}

fn request_with_fields(count: usize, field_bytes: usize) -> Vec<u8> {
    // `count` fields (Host first) whose lines, CR LF included, add up to exactly `field_bytes`.
    let mut fields = vec![b"Host: nas\r\n".to_vec()];
    for n in 1..count {
        fields.push(format!("X-Field-{n:02}: v\r\n").into_bytes());
    }
    let used: usize = fields.iter().map(Vec::len).sum();
    assert!(used <= field_bytes, "{count} fields need {used} bytes");
    let last = fields.last_mut().expect("a field");
    let crlf = last.split_off(last.len() - 2);
    last.resize(last.len() + field_bytes - used, b'f');
    last.extend_from_slice(&crlf);
    let mut request = b"GET /fields HTTP/1.1\r\n".to_vec();
    request.extend(fields.concat());
    request.extend_from_slice(b"\r\n");
    request
}

fn sixty_four_fields_and_sixteen_kib_work_one_more_of_either_is_431() {
    let server = start_echo(None);
    let mut client = Client::connect(server.local_addr());
    let reply = client
        .send(&request_with_fields(64, 16 * 1024))
        .reply(false)
        .expect("an answer");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["headers"], 64);
    // And the connection stays usable.
    assert_eq!(
        client
            .send(&get("/next"))
            .reply(false)
            .expect("next")
            .status,
        200
    );

    for (what, request) in [
        ("65 fields", request_with_fields(65, 4 * 1024)),
        (
            "16 KiB + 1 of fields",
            request_with_fields(10, 16 * 1024 + 1),
        ),
    ] {
        let mut client = Client::connect(server.local_addr());
        client.send(&request);
        assert_refused_and_closed(&mut client, 431, what);
        assert_still_serves(&server, what);
    }
}

fn a_hundred_small_fields_get_431() {
    let server = start_echo(None);
    let mut client = Client::connect(server.local_addr());
    client.send(&request_with_fields(100, 3 * 1024));
    assert_refused_and_closed(&mut client, 431, "100 fields");
    assert_still_serves(&server, "100 header fields");
}

fn an_overlong_request_line_gets_414() {
    let server = start_echo(None);
    let mut client = Client::connect(server.local_addr());
    let request = format!("GET /{} HTTP/1.1\r\nHost: nas\r\n\r\n", "a".repeat(9000));
    client.send(request.as_bytes());
    assert_refused_and_closed(&mut client, 414, "a 9,000-byte target");
    assert_still_serves(&server, "a 9,000-byte request line");
}

fn invalid_utf8_in_path_and_query_reaches_the_handler_as_bytes() {
    let server = start_echo(None);
    let reply = exchange(
        server.local_addr(),
        b"GET /api/\xff\xfe%ZZ?iface=\xc3\x28&x=%00 HTTP/1.1\r\nHost: nas\r\n\r\n",
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["path"], json!(b"/api/\xff\xfe%ZZ"));
    assert_eq!(reply.json()["query"], json!(b"iface=\xc3\x28&x=%00"));
    assert_still_serves(&server, "invalid UTF-8 in path and query");
}

/// 4 KiB of cookies, as a NAS's other web apps leave on its address.
fn cookie() -> String {
    let cookie = (0..65)
        .map(|n| format!("c{n:02}={}", "z".repeat(58)))
        .collect::<Vec<_>>()
        .join("; ");
    assert!(cookie.len() >= 4096);
    cookie
}

/// A fetch from the dashboard exactly as headless Chromium 131 sends it, with a 4 KiB cookie,
/// behind a reverse proxy that adds X-Forwarded-*: 14 + 3 = 17 fields (more than may_minihttp's 16).
fn chromium_request(port: u16) -> Vec<u8> {
    let cookie = cookie();
    format!(
        "GET /api/summary HTTP/1.1\r\n\
         Host: 127.0.0.1:{port}\r\n\
         Connection: keep-alive\r\n\
         sec-ch-ua-platform: \"Linux\"\r\n\
         User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36\r\n\
         sec-ch-ua: \"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\"\r\n\
         sec-ch-ua-mobile: ?0\r\n\
         Accept: */*\r\n\
         Sec-Fetch-Site: same-origin\r\n\
         Sec-Fetch-Mode: cors\r\n\
         Sec-Fetch-Dest: empty\r\n\
         Referer: http://127.0.0.1:{port}/\r\n\
         Accept-Encoding: gzip, deflate, br, zstd\r\n\
         Accept-Language: en-US,en;q=0.9\r\n\
         Cookie: {cookie}\r\n\
         X-Forwarded-For: 198.51.100.23\r\n\
         X-Forwarded-Proto: https\r\n\
         X-Forwarded-Host: nas.example.net\r\n\r\n"
    )
    .into_bytes()
}

fn a_chromium_request_behind_a_proxy_with_a_4_kib_cookie_is_answered() {
    let server = start_echo(None);
    let mut client = Client::connect(server.local_addr());
    for _ in 0..3 {
        let reply = client
            .send(&chromium_request(server.local_addr().port()))
            .reply(false)
            .expect("an answer");
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.json()["headers"], 17);
        assert_eq!(reply.json()["cookie_bytes"], cookie().len());
        assert_eq!(reply.header("connection"), Some("keep-alive"));
    }
    assert_still_serves(&server, "Chromium with a 4 KiB cookie and 17 fields");
}

fn a_panicking_handler_gets_500_and_the_server_goes_on() {
    let server = start_echo(None);
    for round in 0..10 {
        let mut client = Client::connect(server.local_addr());
        client.send(&get("/panic"));
        let message = assert_refused_and_closed(&mut client, 500, "panic");
        assert!(message.contains("internal error"), "{message}");
        if round == 9 {
            assert_still_serves(&server, "ten handler panics");
        }
    }
    // A panic in the middle of a keep-alive connection closes only that connection.
    let mut client = Client::connect(server.local_addr());
    assert_eq!(
        client
            .send(&get("/fine"))
            .reply(false)
            .expect("first")
            .status,
        200
    );
    client.send(&get("/panic"));
    assert_refused_and_closed(&mut client, 500, "panic after a good request");
}

fn other_methods_get_405_with_allow() {
    let server = start_echo(None);
    let mut client = Client::connect(server.local_addr());
    for method in [
        "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "get", "BREW",
    ] {
        let reply = client
            .send(format!("{method} /api/summary HTTP/1.1\r\nHost: nas\r\n\r\n").as_bytes())
            .reply(false)
            .expect("an answer");
        assert_eq!(reply.status, 405, "{method}");
        assert_eq!(reply.header("allow"), Some("GET, HEAD"), "{method}");
        assert!(
            reply.error().contains(method),
            "{method}: {}",
            reply.error()
        );
        // Without a body the connection stays usable.
        assert_eq!(reply.header("connection"), Some("keep-alive"), "{method}");
    }
    assert_eq!(
        client
            .send(&get("/after"))
            .reply(false)
            .expect("GET")
            .status,
        200
    );
    // A POST with a body is answered and the connection closed: the body is never read.
    let mut client = Client::connect(server.local_addr());
    client.send(
        b"POST /api/summary HTTP/1.1\r\nHost: nas\r\nContent-Length: 11\r\n\r\n{\"a\": true}",
    );
    assert_refused_and_closed(&mut client, 405, "POST with a body");
    assert_still_serves(&server, "405s");
}

fn requests_with_a_body_are_answered_then_closed() {
    let server = start_echo(None);
    for (what, request) in [
        (
            "Content-Length",
            &b"GET /x HTTP/1.1\r\nHost: nas\r\nContent-Length: 5\r\n\r\nhello"[..],
        ),
        (
            "chunked",
            b"GET /x HTTP/1.1\r\nHost: nas\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ),
        (
            "a body that never comes",
            b"GET /x HTTP/1.1\r\nHost: nas\r\nContent-Length: 1000000\r\n\r\n",
        ),
    ] {
        let mut client = Client::connect(server.local_addr());
        let reply = client.send(request).reply(false).expect("an answer");
        assert_eq!(reply.status, 200, "{what}");
        assert_eq!(reply.header("connection"), Some("close"), "{what}");
        assert!(client.is_closed_within(Duration::from_secs(3)), "{what}");
    }
    for (what, length) in [
        ("letters", "abc"),
        ("negative", "-1"),
        ("two numbers", "5, 6"),
        ("too long", "99999999999999999999999999"),
        ("empty", ""),
    ] {
        let mut client = Client::connect(server.local_addr());
        client.send(
            format!("GET /x HTTP/1.1\r\nHost: nas\r\nContent-Length: {length}\r\n\r\n").as_bytes(),
        );
        let message = assert_refused_and_closed(&mut client, 400, what);
        assert!(message.contains("Content-Length"), "{message}");
    }
    // Content-Length: 0 is no body: the connection stays.
    let mut client = Client::connect(server.local_addr());
    let reply = client
        .send(b"GET /x HTTP/1.1\r\nHost: nas\r\nContent-Length: 0\r\n\r\n")
        .reply(false)
        .expect("an answer");
    assert_eq!(reply.header("connection"), Some("keep-alive"));
    assert_still_serves(&server, "requests with bodies");
}

fn head_answers_carry_no_body_even_for_large_answers_and_errors() {
    let server = start_echo(None);
    let mut client = Client::connect(server.local_addr());
    let reply = client
        .send(b"HEAD /big HTTP/1.1\r\nHost: nas\r\n\r\n")
        .reply(true)
        .expect("HEAD");
    assert_eq!(
        reply.header("content-length"),
        Some(BIG_BYTES.to_string().as_str())
    );
    // The next answer starts right after the HEAD answer's head.
    let reply = client.send(&get("/next")).reply(false).expect("GET");
    assert_eq!(reply.json()["path"], json!(b"/next"));
    // A panic during HEAD: 500 head, no body.
    client.send(b"HEAD /panic HTTP/1.1\r\nHost: nas\r\n\r\n");
    let reply = client.reply(true).expect("HEAD 500");
    assert_eq!(reply.status, 500);
    assert!(
        client.is_closed_within(Duration::from_secs(3)),
        "closed with no body bytes"
    );
}

fn a_client_that_never_reads_its_answers_blocks_nobody() {
    let server = start_echo(None);
    let mut hog = Client::connect(server.local_addr());
    let batch: Vec<u8> = (0..40).flat_map(|_| get("/big")).collect();
    hog.send(&batch);
    std::thread::sleep(Duration::from_millis(200));
    assert_still_serves(&server, "a client not reading 40 MiB of answers");
}

fn with_host(host: &str) -> Vec<u8> {
    format!("GET /api/summary HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes()
}

/// DNS rebinding: a page on an attacker's domain made to resolve to the NAS sends its own name
/// as Host. Only names an outsider cannot own are answered, and those listed.
fn dns_rebinding_names_get_403_local_names_and_addresses_are_answered() {
    let server = start_echo_allowing(None, &["nas.example.com", ".home.example.org"]);
    let address = server.local_addr();
    let answered = [
        "127.0.0.1".to_string(),
        format!("127.0.0.1:{}", address.port()),
        "[::1]:8080".to_string(),
        "[fd00::2]".to_string(),
        "192.168.1.10".to_string(),
        "localhost".to_string(),
        "LOCALHOST:8080".to_string(),
        "nas".to_string(),
        "nas:8080".to_string(),
        "nas.local".to_string(),
        "NAS.Local.:8080".to_string(),
        "nas.lan".to_string(),
        "nas.home.arpa".to_string(),
        "nas.internal".to_string(),
        "nas.example.com".to_string(),
        "NAS.EXAMPLE.COM.:443".to_string(),
        "home.example.org".to_string(),
        "grafana.home.example.org".to_string(),
    ];
    for host in &answered {
        let reply = exchange(address, &with_host(host));
        assert_eq!(reply.status, 200, "{host}: {reply:?}");
    }
    for host in [
        "evil.example",
        "attacker.example.net:8080",
        "nas.local.evil.example",
        "localhost.evil.example",
        "example.com",
        "xnas.example.com",
        "rebind.203.0.113.7.nip.io",
    ] {
        let reply = exchange(address, &with_host(host));
        assert_eq!(reply.status, 403, "{host}: {reply:?}");
        assert!(
            reply.error().contains("WEB_ALLOWED_HOSTS"),
            "{host}: {reply:?}"
        );
        assert_eq!(reply.header("content-type"), Some("application/json"));
    }
    // An absolute-form target names the host too (RFC 9112 §3.2.2).
    let reply = exchange(
        address,
        b"GET http://evil.example/api/summary HTTP/1.1\r\nHost: nas\r\n\r\n",
    );
    assert_eq!(reply.status, 403, "{reply:?}");
    // Malformed Host values are 400 (RFC 9112 §3.2), as is an HTTP/1.1 request without one.
    for host in ["nas:80a", "[::1", "user@nas", "a..b", "::1"] {
        let reply = exchange(address, &with_host(host));
        assert_eq!(reply.status, 400, "{host}: {reply:?}");
    }
    let reply = exchange(address, b"GET /api/summary HTTP/1.1\r\n\r\n");
    assert_eq!(reply.status, 400, "{reply:?}");
    // HTTP/1.0 may leave Host out.
    let reply = exchange(address, b"GET /api/summary HTTP/1.0\r\n\r\n");
    assert_eq!(reply.status, 200, "{reply:?}");
    // The health check (`nettraffic-sentinel healthcheck` sends the address it connects to).
    let reply = exchange(
        address,
        format!("GET /api/health HTTP/1.1\r\nHost: {address}\r\n\r\n").as_bytes(),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_still_serves(&server, "rebinding names");
}

fn web_allowed_hosts_star_answers_every_name() {
    let server = start_echo_allowing(None, &["*"]);
    let reply = exchange(server.local_addr(), &with_host("nas.example.com"));
    assert_eq!(reply.status, 200, "{reply:?}");
}

tests! {
    malformed_request_lines_get_400_and_a_closed_connection,
    a_request_target_that_is_not_a_path_gets_400,
    a_one_megabyte_header_gets_431_without_being_buffered,
    sixty_four_fields_and_sixteen_kib_work_one_more_of_either_is_431,
    a_hundred_small_fields_get_431,
    an_overlong_request_line_gets_414,
    invalid_utf8_in_path_and_query_reaches_the_handler_as_bytes,
    a_chromium_request_behind_a_proxy_with_a_4_kib_cookie_is_answered,
    a_panicking_handler_gets_500_and_the_server_goes_on,
    other_methods_get_405_with_allow,
    requests_with_a_body_are_answered_then_closed,
    head_answers_carry_no_body_even_for_large_answers_and_errors,
    a_client_that_never_reads_its_answers_blocks_nobody,
    dns_rebinding_names_get_403_local_names_and_addresses_are_answered,
    web_allowed_hosts_star_answers_every_name,
}
