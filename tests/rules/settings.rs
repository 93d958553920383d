//! Settings the real binary must refuse at start, with one sentence naming the setting and exit
//! code 2, before anything runs: variables that are not UTF-8 (never taken as unset) and capture
//! rings larger than the machine can give.
//!
//! `run` gets an interface that does not exist (capture waits for it, so nothing is captured on
//! the host) and a web server on loopback; a refused setting must stop it within seconds.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Output};
use std::time::Duration;

use crate::support::TempDir;
use crate::support::netns::{Spawned, clear_monitor_settings};
use nettraffic_sentinel::config::setting;

/// A refused setting stops the program at once; a program still running after this started.
const REFUSED_WITHIN: Duration = Duration::from_secs(10);

/// `nettraffic-sentinel ARGS` with only `settings` in its environment (and a harmless base).
fn command(args: &[&str], dir: &TempDir, settings: &[(&str, &OsStr)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"));
    command.args(args);
    clear_monitor_settings(&mut command);
    command
        .env("MONITOR_IFACE", "nts-absent0")
        .env("TZ", "UTC")
        .env("DB_PATH", dir.path().join("traffic.redb"))
        .env("WEB_BIND", "127.0.0.1")
        // Nothing listens there: `healthcheck` fails fast with exit 1 if it gets that far.
        .env("WEB_PORT", "1")
        .env("AUTO_LOCAL_PREFIXES", "false");
    for (name, value) in settings {
        command.env(name, value);
    }
    command
}

/// Run until it exits; panic (after killing it) if it is still running after [`REFUSED_WITHIN`],
/// which means the setting was accepted.
fn refused(mut command: Command, what: &str) -> Output {
    let output = Spawned::new(&mut command).finish(REFUSED_WITHIN, what);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn a_variable_that_is_not_utf8_stops_every_command_naming_it() {
    let dir = TempDir::new("settings-utf8");
    // "admin:s" 0xFF "cret": Latin-1 text from an old shell script.
    let bytes = OsStr::from_bytes(b"admin:s\xffcret");
    for setting in setting::ALL {
        for args in [&["healthcheck"][..], &["report", "/nonexistent.pcap"][..]] {
            let what = format!("{} {args:?}", setting.env);
            let output = refused(command(args, &dir, &[(setting.env, bytes)]), &what);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                stderr.contains(&format!("{} ({})", setting.env, setting.flag)),
                "{what}: {stderr}"
            );
            assert!(stderr.contains("not UTF-8"), "{what}: {stderr}");
            if setting.env == "WEB_AUTH" || setting.env == "ALERT_URLS" {
                assert!(
                    !stderr.contains("cret"),
                    "{what}: a password is never echoed: {stderr}"
                );
            }
        }
    }
}

fn web_auth_that_is_not_utf8_never_starts_the_monitor_without_a_password() {
    let dir = TempDir::new("settings-auth");
    let output = refused(
        command(
            &["run"],
            &dir,
            &[
                ("WEB_AUTH", OsStr::from_bytes(b"admin:s\xe9cret")),
                ("WEB_PORT", OsStr::new("18089")),
            ],
        ),
        "run with a Latin-1 WEB_AUTH",
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("WEB_AUTH"), "{stderr}");
    assert!(!stderr.contains("dashboard and API at"), "{stderr}");
}
/// MemTotal of this machine in bytes.
fn mem_total() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("/proc/meminfo");
    let kib: u64 = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a MemTotal line");
    kib * 1024
}

fn a_ring_larger_than_the_machine_can_spare_is_refused_before_capture() {
    let dir = TempDir::new("settings-ring");
    // The campaign's case (64 GiB per ring), with workers and two interfaces it is 8 TiB: more
    // than any test machine has.
    let ring = 4096u64 * 16 * 1024 * 1024;
    let cases: [&[(&str, &str)]; 2] = [
        &[("RING_BLOCKS", "4096"), ("RING_BLOCK_SIZE", "16777216")],
        &[
            ("RING_BLOCKS", "4096"),
            ("RING_BLOCK_SIZE", "16777216"),
            ("CAPTURE_WORKERS", "64"),
            ("MONITOR_IFACE", "nts-absent0,nts-absent1"),
        ],
    ];
    for (index, case) in cases.iter().enumerate() {
        if index == 0 && ring <= mem_total() / 8 {
            eprintln!("skipping the single 64 GiB ring: this machine has more than 512 GiB");
            continue;
        }
        let settings: Vec<(&str, &OsStr)> = case
            .iter()
            .map(|(name, value)| (*name, OsStr::new(value)))
            .chain([("WEB_PORT", OsStr::new("18090"))])
            .collect();
        let output = refused(command(&["run"], &dir, &settings), &format!("{case:?}"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("RING_BLOCKS") && stderr.contains("RING_BLOCK_SIZE"),
            "{stderr}"
        );
        assert!(stderr.contains("MemTotal"), "{stderr}");
        assert!(!stderr.contains("capturing"), "{stderr}");
    }
}

tests! {
    a_variable_that_is_not_utf8_stops_every_command_naming_it,
    web_auth_that_is_not_utf8_never_starts_the_monitor_without_a_password,
    a_ring_larger_than_the_machine_can_spare_is_refused_before_capture,
}
