//! Integration tests: the web server and the API: HTTP under abuse, authentication, the API against
//! a real monitor, the healthcheck and the dashboard in a browser.
//!
//! One test binary (`harness = false`): each module lists its tests with `tests!`, run by
//! `support::harness` (see there for skipped prerequisites and `NETTRAFFIC_TEST_ALL`).

#[macro_use]
#[path = "../support/mod.rs"]
mod support;

mod api_export;
mod api_history;
mod api_live;
mod api_quota;
mod assets;
mod dashboard;
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
        api_export::tests,
        api_history::tests,
        api_live::tests,
        api_quota::tests,
        assets::tests,
        dashboard::tests,
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
