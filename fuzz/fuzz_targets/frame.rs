//! Fuzz target: one frame of any link type, with any metadata, through the parser and the counter.
//! The input layout and the checks are in `src/lib.rs`, shared with `tests/fuzz_regressions.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nettraffic_sentinel_fuzz::frame(data));
