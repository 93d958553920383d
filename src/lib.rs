//! NetTraffic-Sentinel: how much of a NAS owner's broadband is really used.
//!
//! Only traffic with a public address at one end counts; it is split into upload and download
//! and attributed to local hours. Data flows one way through the crate:
//!
//! ```text
//! frames ─┬─ capture::file (pcap / pcapng records)      ┐
//!         └─ capture ring (AF_PACKET TPACKET_V3, next)  ┴→ count::Counter::count
//!               → parse   (link layer → IP addresses and IP-layer bytes)
//!               → classify(public or not → upload / download / LAN, remote address)
//!               → clock   (timestamp → local hour)
//!               → count   (a Tally: exact per file, atomics and bounded maps live)
//!               → report  (JSON or text for `report`)
//! ```
//!
//! Every source of frames (capture file, ring, benchmark, fuzzer) calls the same
//! [`count::Counter::count`], so a frame counts the same wherever it comes from.
//!
//! Threading: `report` is single-threaded. The counter holds only its classifier and a one-hour
//! cache, so each capture thread owns its own copy and shares nothing on the hot path.
#![deny(unsafe_code)]

pub mod capture;
pub mod classify;
pub mod cli;
pub mod clock;
pub mod config;
pub mod count;
pub mod parse;
pub mod report;
pub mod run;
pub mod shutdown;
pub mod store;
pub mod units;
