//! Fuzz target: one value of the history file (address lists, month lists, labels, services),
//! damaged or written by anything, through the decoders and the sums of range reads. The input
//! layout and the checks are in `src/lib.rs`, shared with `tests/fuzz_regressions.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nettraffic_sentinel_fuzz::stored_value(data));
