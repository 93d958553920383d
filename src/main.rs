//! The `nettraffic-sentinel` command: parse the command line, run, map errors to exit codes.

use std::process::ExitCode;

/// Memory that large web answers used goes back to the kernel after they are sent (see
/// Cargo.toml); glibc's allocator kept it resident.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    nettraffic_sentinel::cli::main(args, |name| std::env::var_os(name))
}
