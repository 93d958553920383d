//! Integration tests: the web server and the API: HTTP under abuse, authentication, the API against
//! a real monitor, the healthcheck, the dashboard in a browser and the Grafana dashboard against a
//! real Prometheus.
//!
//! One test binary (`harness = false`): each module lists its tests with `tests!`, run by
//! `support::harness` (see there for skipped prerequisites and `NETTRAFFIC_TEST_ALL`).

#[macro_use]
#[path = "../support/mod.rs"]
mod support;

mod api_devices;
mod api_export;
mod api_geoip;
mod api_history;
mod api_live;
mod api_quota;
mod api_rdns;
mod api_services;
mod assets;
mod dashboard;
mod grafana;
mod healthcheck;
mod http_abuse;
mod http_auth;
mod http_basics;
mod http_churn;
mod http_connections;
mod http_descriptors;
mod http_memory;
mod http_monitor;
mod http_stack;
mod http_starvation;

fn main() {
    support::harness::main(&[
        api_devices::tests,
        api_export::tests,
        api_geoip::tests,
        api_history::tests,
        api_live::tests,
        api_quota::tests,
        api_rdns::tests,
        api_services::tests,
        assets::tests,
        dashboard::tests,
        grafana::tests,
        healthcheck::tests,
        http_abuse::tests,
        http_auth::tests,
        http_basics::tests,
        http_churn::tests,
        http_connections::tests,
        http_descriptors::tests,
        http_memory::tests,
        http_monitor::tests,
        http_stack::tests,
        http_starvation::tests,
    ]);
}
