//! Integration tests: the history: opening, queries, the persister, import, migration from the
//! original, crashes and failing disks.
//!
//! One test binary (`harness = false`): each module lists its tests with `tests!`, run by
//! `support::harness` (see there for skipped prerequisites and `NETTRAFFIC_TEST_ALL`).

#[macro_use]
#[path = "../support/mod.rs"]
mod support;

mod store_crash;
mod store_devices;
mod store_import;
mod store_live;
mod store_migrate;
mod store_months;
mod store_open;
mod store_persist;
mod store_query;

fn main() {
    support::harness::main(&[
        store_crash::tests,
        store_devices::tests,
        store_import::tests,
        store_live::tests,
        store_migrate::tests,
        store_months::tests,
        store_open::tests,
        store_persist::tests,
        store_query::tests,
    ]);
}
