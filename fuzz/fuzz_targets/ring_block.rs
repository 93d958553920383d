//! Fuzz target: any bytes as a TPACKET_V3 ring block, walked and counted as the capture worker does.
//! The checks are in `src/lib.rs`, shared with `tests/fuzz_regressions.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nettraffic_sentinel_fuzz::ring_block(data));
