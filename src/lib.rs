//! NetTraffic-Sentinel: how much of a NAS owner's broadband is really used.
//!
//! Only traffic with a public address at one end counts; it is split into upload and download
//! and attributed to local hours. Data flows one way through the crate:
//!
//! ```text
//! frames ─┬─ capture::file (pcap / pcapng records)                ┐
//!         └─ capture::ring → capture::block (TPACKET_V3 blocks)   ┴→ count::Counter::count
//!               → parse   (link layer → IP addresses and IP-layer bytes)
//!               → classify(public or not → upload / download / LAN, remote address)
//!               ⋯ service (protocol and ports → a service id; not counted yet, issue 14)
//!               → clock   (timestamp → local hour)
//!               → count   (a Tally: exact per file; live shards with bounded address tables)
//!               → commands::report (JSON or text for `report`)
//!               ⋯ live → persister → store (absolute hourly totals into redb; history queries)
//! ```
//!
//! Every source of frames (capture file, ring, benchmark, fuzzer) calls the same
//! [`count::Counter::count`], so a frame counts the same wherever it comes from.
//!
//! Threading (`run`): one `capture-IFACE` thread per interface and fanout worker owns a ring, a
//! counter and a shard, and locks its shard once per ring block; `rate` samples totals every
//! second, `prefixes` re-reads the interfaces' own addresses, `persister` commits every
//! `SAVE_INTERVAL`, `quota` (with `QUOTA` set) looks at the billing cycle every minute and
//! records due alerts, `signals` turns SIGTERM/SIGINT into a stop request. Only snapshots cross
//! threads; nothing is shared on the per-packet path. `report` and `import` are single-threaded.
//! The web server runs on `may` coroutines (`http-accept`, `http-worker` threads).
//!
//! # Floor plan
//!
//! Dependencies only go down; `tests/floor_plan.rs` fails when a module names one on its own floor
//! or above, or when a folder's parts import each other in a loop.
//!
//! ```text
//! main                      the binary: hands the command line to cli
//! cli                       flags → a command; the commands' errors → exit codes (only here)
//! commands/                 run, report, import, migrate_sqlite, healthcheck: each returns its error
//! config                    settings from the environment and flags
//! serve/                    the HTTP server, the dashboard's files and the JSON API
//! quota/                    billing cycles, usage against QUOTA, forecast, alerts (recorded in the store)
//! persister | export        live counts into the store, every SAVE_INTERVAL | the history as CSV or JSON Lines
//! capture/ | store/         frames from rings and files | the redb history (neither names the other)
//! live                      the state capture writes and readers see (no I/O)
//! count/                    tallies, live shards, heavy hitters, UpDown (saturating)
//! service                   protocol and ports → one of a closed set of services
//! classify                  public or not, upload or download
//! parse, clock, units, shutdown, notify   (notify: alert targets, sending, the outbox thread)
//! ```
//!
//! The store defines the overlay of uncommitted hours it merges on read ([`store::LiveView`],
//! [`store::Committed`]); the persister fills it. Capture files are read by the commands, which
//! hand the store their tallies.
//!
//! Unsafe code: the crate denies it everywhere but `capture::ring` (the mapped ring). One more
//! place depends on a promise `may` cannot check: `serve::http::runtime::spawn` starts coroutines
//! through `may::go!`, which is unsafe inside the macro because a coroutine must not hold
//! thread-local references across a yield or outgrow its stack; that function documents why ours
//! do neither.
#![deny(unsafe_code)]

pub mod capture;
pub mod classify;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod count;
pub mod export;
pub mod lan;
pub mod live;
pub mod notify;
pub mod parse;
pub mod persister;
pub mod quota;
pub mod remote;
pub mod serve;
pub mod service;
pub mod shutdown;
pub mod store;
pub mod units;
