//! The commands: each gathers what it needs from the lower floors, does its job and says what
//! happened; [`crate::cli`] alone turns the outcome into an exit code.

pub mod alert_test;
pub mod export;
pub mod healthcheck;
pub mod import;
pub mod migrate_sqlite;
pub mod report;
pub mod run;
