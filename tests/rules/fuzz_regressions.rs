//! Replays the saved fuzz inputs on the stable toolchain, so `cargo test` keeps what fuzzing found.
//!
//! `tests/fuzz_regressions/<target>/` holds the minimized corpus of each cargo-fuzz target plus
//! every input that once crashed it. Each file goes through the very harness the target runs
//! (`fuzz/src/lib.rs`, included by path), so a failure here reproduces with
//! `cargo +nightly fuzz run <target> <file>` as well.

#[path = "../../fuzz/src/lib.rs"]
mod harness;

use std::fs;
use std::panic;
use std::path::{Path, PathBuf};

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let mut inputs: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    inputs.sort();
    // An empty or misplaced directory would otherwise pass without testing anything.
    assert!(!inputs.is_empty(), "no inputs in {}", dir.display());
    let failed: Vec<String> = inputs
        .iter()
        .filter(|path| {
            let data = fs::read(path).expect("readable input");
            panic::catch_unwind(|| run(&data)).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} inputs failed:\n{}",
        failed.len(),
        inputs.len(),
        failed.join("\n")
    );
    eprintln!("{target}: replayed {} inputs", inputs.len());
}

fn frame_inputs() {
    replay("frame", harness::frame);
}

fn ring_block_inputs() {
    replay("ring_block", harness::ring_block);
}

fn capture_file_inputs() {
    replay("capture_file", harness::capture_file);
}

fn stored_value_inputs() {
    replay("stored_value", harness::stored_value);
}

tests! {
    frame_inputs,
    ring_block_inputs,
    capture_file_inputs,
    stored_value_inputs,
}
