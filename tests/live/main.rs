//! Integration tests: live capture in network namespaces, alert delivery to real servers in a
//! namespace, and the deployment routes (setcap binary, systemd unit, compose file, image script).
//!
//! One test binary (`harness = false`): each module lists its tests with `tests!`, run by
//! `support::harness` (see there for skipped prerequisites and `NETTRAFFIC_TEST_ALL`).

#[macro_use]
#[path = "../support/mod.rs"]
mod support;

mod alert_delivery;
mod deploy;
mod devices_ipv6;
mod devices_services;
mod live_bridge;
mod live_capture;

fn main() {
    support::harness::main(&[
        alert_delivery::tests,
        deploy::tests,
        devices_ipv6::tests,
        devices_services::tests,
        live_bridge::tests,
        live_capture::tests,
    ]);
}
