//! throttle: slows down password guessing against `WEB_AUTH`, per client address.
//!
//! A client (an IPv4 address, or an IPv6 /64: one home or one server) gets [`FREE_FAILURES`]
//! wrong passwords; after that each further one blocks it for [`FIRST_BLOCK`], doubling up to
//! [`MAX_BLOCK`]. While blocked every request that needs the password is answered 429 with
//! `Retry-After`, without looking at its credentials, so guessing drops from tens of thousands
//! per second to one a minute. The right password clears the client's record; a record without
//! a failure for [`FORGET_AFTER`] is forgotten. Blocking is per address and never longer than
//! [`MAX_BLOCK`], so a guesser elsewhere cannot lock the owner out, and one sharing the owner's
//! address only for a minute after its last guess.
//!
//! Memory is bounded: at most [`MAX_CLIENTS`] records (about 64 bytes each); when the table is
//! full, forgotten records go first, then the one whose last failure is oldest. Log: at most one
//! line per client per [`LOG_EVERY`], and at most [`MAX_LOG_LINES`] lines per [`LOG_EVERY`] in
//! all, so a flood of addresses cannot fill the log either.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::auth::Presented;

/// Wrong passwords a client may send before it is slowed down (typos, a stale saved password).
pub const FREE_FAILURES: u32 = 5;
/// The first block, after failure number `FREE_FAILURES + 1`.
pub const FIRST_BLOCK: Duration = Duration::from_secs(1);
/// The longest block.
pub const MAX_BLOCK: Duration = Duration::from_secs(60);
/// A client with no failure for this long starts again with [`FREE_FAILURES`].
pub const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Clients remembered at once.
pub const MAX_CLIENTS: usize = 4096;
/// The log window: one line per client, [`MAX_LOG_LINES`] in all.
pub const LOG_EVERY: Duration = Duration::from_secs(60);
pub const MAX_LOG_LINES: u32 = 20;

/// A client as throttled: an IPv4 address or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    pub fn of(address: IpAddr) -> ClientKey {
        match address {
            IpAddr::V4(_) => ClientKey(address),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    ClientKey(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }
}

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(ip) => write!(f, "{ip}"),
            IpAddr::V6(ip) => write!(f, "{ip}/64"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last_failure: Instant,
    blocked_until: Option<Instant>,
    last_logged: Option<Instant>,
    /// Failures since the last log line.
    unlogged: u32,
}

#[derive(Debug, Default)]
struct State {
    clients: HashMap<ClientKey, Record>,
    log_window: Option<Instant>,
    log_lines: u32,
    /// Lines left out because of [`MAX_LOG_LINES`], told in the next line.
    log_suppressed: u64,
}

/// What a failure led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The client is blocked for this long from now.
    pub blocked_for: Option<Duration>,
    /// A line to log, if the log budget allows one.
    pub log: Option<String>,
}

/// The failure table of one server.
#[derive(Debug, Default)]
pub struct Throttle {
    state: Mutex<State>,
}

/// What one request's credentials led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The client must wait this long; its credentials were not looked at.
    Blocked(Duration),
    Right,
    Wrong(Failure),
    /// No credentials: nothing was guessed.
    Nothing,
}

impl Throttle {
    pub fn new() -> Throttle {
        Throttle::default()
    }

    /// Judge one request's credentials with `judge`, unless `client` is blocked. One lock from
    /// the block check to the count, so parallel connections cannot slip extra guesses in.
    pub fn attempt(
        &self,
        client: ClientKey,
        now: Instant,
        judge: impl FnOnce() -> Presented,
    ) -> Attempt {
        let mut state = self.lock();
        if let Some(wait) = state.blocked(client, now) {
            return Attempt::Blocked(wait);
        }
        match judge() {
            Presented::Right => {
                state.succeeded(client);
                Attempt::Right
            }
            Presented::Wrong => Attempt::Wrong(state.failed(client, now)),
            Presented::Nothing => Attempt::Nothing,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    pub fn blocked(&self, client: ClientKey, now: Instant) -> Option<Duration> {
        self.lock().blocked(client, now)
    }

    #[cfg(test)]
    pub fn succeeded(&self, client: ClientKey) {
        self.lock().succeeded(client);
    }

    #[cfg(test)]
    pub fn failed(&self, client: ClientKey, now: Instant) -> Failure {
        self.lock().failed(client, now)
    }

    /// Clients remembered now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().clients.len()
    }
}

impl State {
    /// How long `client` must still wait, if it is blocked.
    fn blocked(&self, client: ClientKey, now: Instant) -> Option<Duration> {
        let until = self.clients.get(&client)?.blocked_until?;
        (until > now).then(|| until - now)
    }

    /// The right password: forget the client's failures (not when it was last logged).
    fn succeeded(&mut self, client: ClientKey) {
        if let Some(record) = self.clients.get_mut(&client) {
            record.failures = 0;
            record.blocked_until = None;
        }
    }

    /// A wrong password from `client`.
    fn failed(&mut self, client: ClientKey, now: Instant) -> Failure {
        if !self.clients.contains_key(&client) && self.clients.len() >= MAX_CLIENTS {
            make_room(&mut self.clients, now);
        }
        let record = self.clients.entry(client).or_insert(Record {
            failures: 0,
            last_failure: now,
            blocked_until: None,
            last_logged: None,
            unlogged: 0,
        });
        if now.saturating_duration_since(record.last_failure) > FORGET_AFTER {
            record.failures = 0;
        }
        record.failures = record.failures.saturating_add(1);
        record.last_failure = now;
        record.unlogged = record.unlogged.saturating_add(1);
        let blocked_for = block_after(record.failures);
        record.blocked_until = blocked_for.map(|block| now + block);
        let due = record
            .last_logged
            .is_none_or(|at| now.saturating_duration_since(at) >= LOG_EVERY);
        let mut line = None;
        if due {
            let failures = record.failures;
            let unlogged = record.unlogged;
            record.last_logged = Some(now);
            record.unlogged = 0;
            line = Some(describe(client, failures, unlogged, blocked_for));
        }
        let log = line.and_then(|line| self.budget(now, line));
        Failure { blocked_for, log }
    }

    /// `line` if the global log budget allows it (with the count of lines left out before it).
    fn budget(&mut self, now: Instant, line: String) -> Option<String> {
        if self
            .log_window
            .is_none_or(|start| now.saturating_duration_since(start) >= LOG_EVERY)
        {
            self.log_window = Some(now);
            self.log_lines = 0;
        }
        if self.log_lines >= MAX_LOG_LINES {
            self.log_suppressed += 1;
            return None;
        }
        self.log_lines += 1;
        let suppressed = std::mem::take(&mut self.log_suppressed);
        Some(if suppressed > 0 {
            format!("{line} ({suppressed} such lines about other clients left out before this)")
        } else {
            line
        })
    }
}

/// The block after failure number `failures`: none within the free ones, then doubling.
fn block_after(failures: u32) -> Option<Duration> {
    let over = failures.checked_sub(FREE_FAILURES + 1)?;
    let factor = 1u32.checked_shl(over.min(16)).unwrap_or(u32::MAX);
    Some(FIRST_BLOCK.saturating_mul(factor).min(MAX_BLOCK))
}

fn describe(
    client: ClientKey,
    failures: u32,
    unlogged: u32,
    blocked_for: Option<Duration>,
) -> String {
    let mut line = format!(
        "wrong WEB_AUTH user name or password from {client}: {failures} in a row, {unlogged} since the last line about it"
    );
    if let Some(block) = blocked_for {
        line.push_str(&format!(
            "; it is answered 429 for {} s",
            block.as_secs().max(1)
        ));
    }
    line
}

/// Drop forgotten records; if none is, the one whose last failure is oldest.
fn make_room(clients: &mut HashMap<ClientKey, Record>, now: Instant) {
    clients.retain(|_, record| {
        now.saturating_duration_since(record.last_failure) <= FORGET_AFTER
            || record.blocked_until.is_some_and(|until| until > now)
    });
    if clients.len() < MAX_CLIENTS {
        return;
    }
    let oldest = clients
        .iter()
        .min_by_key(|(_, record)| record.last_failure)
        .map(|(key, _)| *key);
    if let Some(oldest) = oldest {
        clients.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(last: u8) -> ClientKey {
        ClientKey::of(IpAddr::from([203, 0, 113, last]))
    }

    #[test]
    fn ipv6_clients_are_their_64_and_mapped_ipv4_is_ipv4() {
        let a = ClientKey::of("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = ClientKey::of("2001:db8:1:2:bbbb::2".parse().unwrap());
        let c = ClientKey::of("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.to_string(), "2001:db8:1:2::/64");
        assert_eq!(
            ClientKey::of("::ffff:203.0.113.9".parse().unwrap()),
            ClientKey::of("203.0.113.9".parse().unwrap())
        );
    }

    #[test]
    fn blocks_start_after_the_free_failures_and_double_up_to_the_cap() {
        let blocks: Vec<Option<u64>> = (1..=14)
            .map(|n| block_after(n).map(|d| d.as_secs()))
            .collect();
        assert_eq!(
            blocks,
            [
                None,
                None,
                None,
                None,
                None,
                Some(1),
                Some(2),
                Some(4),
                Some(8),
                Some(16),
                Some(32),
                Some(60),
                Some(60),
                Some(60)
            ]
        );
        assert_eq!(block_after(u32::MAX), Some(MAX_BLOCK));
    }

    #[test]
    fn a_client_is_blocked_alone_and_the_right_password_clears_it() {
        let throttle = Throttle::new();
        let now = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert_eq!(throttle.failed(v4(1), now).blocked_for, None);
        }
        assert_eq!(throttle.blocked(v4(1), now), None);
        assert_eq!(throttle.failed(v4(1), now).blocked_for, Some(FIRST_BLOCK));
        assert_eq!(throttle.blocked(v4(1), now), Some(FIRST_BLOCK));
        assert_eq!(throttle.blocked(v4(2), now), None, "others are not blocked");
        assert_eq!(throttle.blocked(v4(1), now + FIRST_BLOCK), None, "it ends");
        throttle.succeeded(v4(1));
        assert_eq!(throttle.blocked(v4(1), now), None);
        let again = throttle.failed(v4(1), now);
        assert_eq!(again.blocked_for, None, "the count starts again");
        assert_eq!(again.log, None, "but not the log's minute");
    }

    #[test]
    fn a_blocked_client_is_not_judged_at_all() {
        let throttle = Throttle::new();
        let now = Instant::now();
        for _ in 0..=FREE_FAILURES {
            let attempt = throttle.attempt(v4(1), now, || Presented::Wrong);
            assert!(matches!(attempt, Attempt::Wrong(_)), "{attempt:?}");
        }
        let attempt = throttle.attempt(v4(1), now, || panic!("judged while blocked"));
        assert_eq!(attempt, Attempt::Blocked(FIRST_BLOCK));
        let later = now + FIRST_BLOCK;
        assert_eq!(
            throttle.attempt(v4(1), later, || Presented::Right),
            Attempt::Right
        );
        assert_eq!(
            throttle.attempt(v4(1), later, || Presented::Nothing),
            Attempt::Nothing
        );
        assert_eq!(throttle.blocked(v4(1), later), None);
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_while() {
        let throttle = Throttle::new();
        let now = Instant::now();
        for _ in 0..=FREE_FAILURES + 3 {
            throttle.failed(v4(1), now);
        }
        let later = now + FORGET_AFTER + Duration::from_secs(1);
        assert_eq!(throttle.failed(v4(1), later).blocked_for, None);
    }

    #[test]
    fn a_flood_of_addresses_stays_within_the_table_and_the_log_budget() {
        let throttle = Throttle::new();
        let now = Instant::now();
        let mut lines = 0;
        for n in 0..(MAX_CLIENTS as u32 * 3) {
            let client = ClientKey::of(IpAddr::from((0xC633_6400u32 + n).to_be_bytes()));
            if throttle.failed(client, now).log.is_some() {
                lines += 1;
            }
            assert!(throttle.len() <= MAX_CLIENTS);
        }
        assert_eq!(lines, MAX_LOG_LINES);
    }

    #[test]
    fn one_line_per_client_per_minute() {
        let throttle = Throttle::new();
        let now = Instant::now();
        let logged = (0..50)
            .filter(|_| throttle.failed(v4(7), now).log.is_some())
            .count();
        assert_eq!(logged, 1);
        let next = throttle
            .failed(v4(7), now + LOG_EVERY)
            .log
            .expect("a minute later");
        assert!(next.contains("203.0.113.7"), "{next}");
        assert!(next.contains("50 since the last line"), "{next}");
    }
}
