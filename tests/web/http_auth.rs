//! `WEB_AUTH` basic auth: right, wrong and missing credentials, `/api/health` exempt, and wrong
//! passwords slowed down per client address.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::support::http::{Client, assert_still_serves, exchange, get, start_echo};

const USER: &str = "admin";
const PASSWORD: &str = "pa:ss wörd";

/// base64 of `admin:pa:ss wörd` (UTF-8), as browsers and curl send it.
const RIGHT: &str = "YWRtaW46cGE6c3Mgd8O2cmQ=";

fn with_authorization(path: &str, value: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: nas\r\nAuthorization: {value}\r\n\r\n").into_bytes()
}

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

/// base64 of `admin:guess`.
const GUESS: &str = "YWRtaW46Z3Vlc3M=";

fn password_guessing_is_answered_429_per_client_address_for_a_while() {
    let server = start_echo(Some((USER, PASSWORD)));
    let guesser = Ipv4Addr::new(127, 0, 0, 1);
    let mut client = Client::connect_from(guesser, server.local_addr());
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..40 {
        let reply = client
            .send(&with_authorization(
                "/api/summary",
                &format!("Basic {GUESS}"),
            ))
            .reply(false)
            .expect("an answer");
        if reply.status == 429 {
            retry_after = retry_after.or(reply.header("retry-after").map(str::to_string));
            assert!(reply.error().contains("try again"), "{reply:?}");
        }
        statuses.push(reply.status);
    }
    let checked = statuses.iter().filter(|&&status| status == 401).count();
    assert!(
        (3..=10).contains(&checked),
        "a few guesses are checked, then the rest is refused unseen: {statuses:?}"
    );
    assert_eq!(
        statuses[checked..],
        vec![429; 40 - checked],
        "once refused, every further guess is: {statuses:?}"
    );
    let seconds: u64 = retry_after
        .expect("429 says when to come back")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&seconds), "{seconds}");

    // Even the right password is not looked at from that address while it waits...
    let right = with_authorization("/api/summary", &format!("Basic {RIGHT}"));
    let reply = client.send(&right).reply(false).expect("an answer");
    assert_eq!(reply.status, 429);
    // ...but another client gets in at once, and health stays open to everyone.
    let mut owner = Client::connect_from(Ipv4Addr::new(127, 0, 0, 2), server.local_addr());
    let reply = owner.send(&right).reply(false).expect("an answer");
    assert_eq!(reply.status, 200, "another address is not locked out");
    let reply = owner
        .send(&with_authorization(
            "/api/summary",
            &format!("Basic {GUESS}"),
        ))
        .reply(false)
        .expect("an answer");
    assert_eq!(reply.status, 401, "and its own first guess is merely wrong");
    let reply = client
        .send(&get("/api/health"))
        .reply(false)
        .expect("an answer");
    assert_eq!(reply.status, 200);

    // The wait ends: after Retry-After the right password works from the guesser's address too.
    std::thread::sleep(Duration::from_secs(seconds) + Duration::from_millis(200));
    let reply = client.send(&right).reply(false).expect("an answer");
    assert_eq!(reply.status, 200, "no lock-out for good: {reply:?}");
}

fn requests_without_credentials_are_not_counted_as_guesses() {
    let server = start_echo(Some((USER, PASSWORD)));
    let mut client = Client::connect(server.local_addr());
    // A browser's first visit asks without credentials (and a few malformed fields guess nothing).
    for round in 0..30 {
        let request = if round % 2 == 0 {
            get("/")
        } else {
            with_authorization("/", "Bearer token")
        };
        let reply = client.send(&request).reply(false).expect("an answer");
        assert_eq!(reply.status, 401, "round {round}");
    }
    let reply = client
        .send(&with_authorization("/", &format!("Basic {RIGHT}")))
        .reply(false)
        .expect("an answer");
    assert_eq!(reply.status, 200);
}

tests! {
    the_right_credentials_are_let_in,
    wrong_or_missing_credentials_get_401_with_the_challenge,
    health_needs_no_credentials_but_nothing_else_is_exempt,
    password_guessing_is_answered_429_per_client_address_for_a_while,
    requests_without_credentials_are_not_counted_as_guesses,
}
