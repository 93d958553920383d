//! `WEB_AUTH` basic auth: right, wrong and missing credentials, and `/api/health` exempt.

use std::time::Duration;

mod http_support;
use http_support::{Client, assert_still_serves, exchange, get, start_echo};

const USER: &str = "admin";
const PASSWORD: &str = "pa:ss wörd";

/// base64 of `admin:pa:ss wörd` (UTF-8), as browsers and curl send it.
const RIGHT: &str = "YWRtaW46cGE6c3Mgd8O2cmQ=";

fn with_authorization(path: &str, value: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: nas\r\nAuthorization: {value}\r\n\r\n").into_bytes()
}

#[test]
fn the_right_credentials_are_let_in() {
    let server = start_echo(Some((USER, PASSWORD)));
    let mut client = Client::connect(server.local_addr());
    for value in [format!("Basic {RIGHT}"), format!("basic  {RIGHT}")] {
        let reply = client
            .send(&with_authorization("/api/summary", &value))
            .reply(false)
            .expect("an answer");
        assert_eq!(reply.status, 200, "{value}: {reply:?}");
    }
}

#[test]
fn wrong_or_missing_credentials_get_401_with_the_challenge() {
    let server = start_echo(Some((USER, PASSWORD)));
    let mut client = Client::connect(server.local_addr());
    let wrong = [
        // admin:pa:ss word (one letter off)
        "Basic YWRtaW46cGE6c3Mgd29yZA==",
        // admin:
        "Basic YWRtaW46",
        // the right token under another scheme
        &format!("Bearer {RIGHT}"),
        "Basic",
        "Basic !!!not-base64!!!",
        "",
    ];
    for value in wrong {
        let reply = client
            .send(&with_authorization("/api/summary", value))
            .reply(false)
            .expect("an answer");
        assert_eq!(reply.status, 401, "{value:?}");
        assert_eq!(
            reply.header("www-authenticate"),
            Some("Basic realm=\"NetTraffic-Sentinel\""),
            "{value:?}"
        );
        assert!(reply.error().contains("WEB_AUTH"), "{value:?}");
        assert!(!String::from_utf8_lossy(&reply.body).contains(PASSWORD));
    }
    // No Authorization field at all, and HEAD: 401 without a body; the connection goes on.
    let reply = client.send(&get("/")).reply(false).expect("an answer");
    assert_eq!(reply.status, 401);
    let reply = client
        .send(b"HEAD /api/summary HTTP/1.1\r\nHost: nas\r\n\r\n")
        .reply(true)
        .expect("an answer");
    assert_eq!(reply.status, 401);
    let reply = client
        .send(&with_authorization(
            "/api/summary",
            &format!("Basic {RIGHT}"),
        ))
        .reply(false)
        .expect("an answer");
    assert_eq!(reply.status, 200, "the same connection can still log in");
    assert!(!client.is_closed_within(Duration::from_millis(100)));
}

#[test]
fn health_needs_no_credentials_but_nothing_else_is_exempt() {
    let server = start_echo(Some((USER, PASSWORD)));
    assert_still_serves(&server, "auth turned on");
    let reply = exchange(server.local_addr(), &get("/api/health?iface=eth0"));
    assert_eq!(reply.status, 200);
    for path in [
        "/api/health/",
        "/api/healthz",
        "/api/Health",
        "/api/summary",
    ] {
        let reply = exchange(server.local_addr(), &get(path));
        assert_eq!(reply.status, 401, "{path}");
    }
}
