//! Fuzz target: any bytes as a pcap or pcapng file, every record counted.
//! The checks are in `src/lib.rs`, shared with `tests/fuzz_regressions.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nettraffic_sentinel_fuzz::capture_file(data));
