//! Integration tests: checks of the repository itself: the floor plan of src/ and the layout of the
//! tests.
//!
//! One test binary (`harness = false`): each module lists its tests with `tests!`, run by
//! `support::harness` (see there for skipped prerequisites and `NETTRAFFIC_TEST_ALL`).

#[macro_use]
#[path = "../support/mod.rs"]
mod support;

mod floor_plan;
mod test_layout;

fn main() {
    support::harness::main(&[floor_plan::tests, test_layout::tests]);
}
