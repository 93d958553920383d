//! Integration tests: the counting rules without a live network: frames, files, address classes,
//! time, the capture corpus, services, fuzz regressions and settings.
//!
//! One test binary (`harness = false`): each module lists its tests with `tests!`, run by
//! `support::harness` (see there for skipped prerequisites and `NETTRAFFIC_TEST_ALL`).

#[macro_use]
#[path = "../support/mod.rs"]
mod support;

mod classify_model;
mod fuzz_regressions;
mod rules_addresses;
mod rules_files;
mod rules_frames;
mod rules_time;
mod services;
mod settings;
mod shared_captures;

fn main() {
    support::harness::main(&[
        classify_model::tests,
        fuzz_regressions::tests,
        rules_addresses::tests,
        rules_files::tests,
        rules_frames::tests,
        rules_time::tests,
        services::tests,
        settings::tests,
        shared_captures::tests,
    ]);
}
