//! The accuracy contract: for every real capture in `tests/captures/`, `TZ=UTC nettraffic-sentinel
//! report --json FILE` equals `expected/FILE.json`, field for field, run as the real binary.
//!
//! `NETTRAFFIC_EXTRA_CAPTURES` adds the captures of other folders of the same layout.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::{all_captures, capture, captures_dir, expected_json_path};

fn report(args: &[&Path], extra_env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"));
    command
        .arg("report")
        .arg("--json")
        .args(args)
        .env_remove("LOCAL_PREFIXES")
        .env_remove("EXCLUDE_IPV6_PREFIX")
        .env("TZ", "UTC");
    for (key, value) in extra_env {
        command.env(key, value);
    }
    command.output().expect("the binary runs")
}

fn expected_for(capture: &Path) -> Value {
    let name = capture.file_name().expect("a file name").to_string_lossy();
    let path = expected_json_path(&name);
    let text = std::fs::read_to_string(&path).expect("every capture has an expected file");
    serde_json::from_str(&text).expect("expected files are JSON")
}

/// Fields of `report --json` beyond the oracle's (section 7 of the captures' README).
const EXTRA_FIELDS: &[&str] = &["devices", "services"];

/// `report` without [`EXTRA_FIELDS`]: what the expected files hold.
fn oracle_fields(report: &Value) -> Value {
    let mut fields = report.clone();
    if let Some(map) = fields.as_object_mut() {
        map.retain(|key, _| !EXTRA_FIELDS.contains(&key.as_str()));
    }
    fields
}

fn every_shared_capture_matches_its_expected_json() {
    let files = all_captures();
    assert!(files.len() >= 51, "found only {} captures", files.len());
    let mut mismatches = Vec::new();
    for capture in &files {
        let expected = expected_for(capture);
        let output = report(&[capture], &[]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let actual: Value = match serde_json::from_str(stdout.trim()) {
            Ok(value) => value,
            Err(error) => {
                mismatches.push(format!(
                    "{}: not JSON ({error}): {stdout}",
                    capture.display()
                ));
                continue;
            }
        };
        // Every field the expected file has, exactly; beyond them only the breakdowns the
        // oracle has no figures for (`devices`, `services`).
        let mut oracle_fields = actual.clone();
        if let Some(fields) = oracle_fields.as_object_mut() {
            fields.retain(|key, _| {
                expected.get(key).is_some() || !EXTRA_FIELDS.contains(&key.as_str())
            });
        }
        if oracle_fields != expected {
            mismatches.push(format!(
                "{}:\n  expected {expected}\n  actual   {actual}",
                capture.display()
            ));
        }
        // A file that is counted exits 0; one that is skipped with an error entry does not.
        let is_error_entry = expected.get("error").is_some();
        assert_eq!(
            output.status.success(),
            !is_error_entry,
            "{}: exit status {:?}",
            capture.display(),
            output.status
        );
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

fn several_files_are_reported_in_order_and_one_bad_file_spoils_only_itself() {
    let dir = captures_dir();
    let good = dir.join("zeek-icmp-5-pings.pcap");
    let unsupported = dir.join("tcpdump-ieee802.11_exthdr-radiotap.pcap");
    let missing = dir.join("no-such-capture.pcap");
    let output = report(&[&good, &missing, &unsupported, &good], &[]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a failed file makes the exit non-zero"
    );

    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(oracle_fields(&lines[0]), expected_for(&good));
    assert_eq!(oracle_fields(&lines[3]), expected_for(&good));
    assert_eq!(oracle_fields(&lines[2]), expected_for(&unsupported));
    assert_eq!(lines[1]["file"], "no-such-capture.pcap");
    assert_eq!(lines[1]["packets_total"], 0);
    assert!(
        lines[1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("No such file"))
    );

    // One line on stderr per failed file, naming it and the reason.
    let stderr = String::from_utf8_lossy(&output.stderr);
    let complaints: Vec<&str> = stderr.lines().collect();
    assert_eq!(complaints.len(), 2, "stderr: {stderr}");
    assert!(
        complaints[0].contains("no-such-capture.pcap") && complaints[0].contains("No such file")
    );
    assert!(
        complaints[1].contains("radiotap") && complaints[1].contains("unsupported linktype 127")
    );
}

fn a_truncated_capture_warns_on_stderr_and_counts_what_came_before() {
    let file = capture("sv-bug-1450-04-truncated-file.pcap");
    let output = report(&[&file], &[]);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("warning") && stderr.contains("6 packets before it are counted"),
        "stderr: {stderr}"
    );
}

fn the_zone_and_local_prefixes_change_the_counts_as_the_rules_say() {
    let file = capture("zeek-ticks-dns-1hr.pcap");
    let utc = expected_for(&file);
    // Kolkata is UTC+05:30: every packet moves to a label 5 h 30 min later, or 6 h when it lies
    // in the second half of its UTC hour. Totals do not change.
    let output = report(&[&file], &[("TZ", "Asia/Kolkata")]);
    let kolkata: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(kolkata["up_bytes"], utc["up_bytes"]);
    assert_eq!(kolkata["down_bytes"], utc["down_bytes"]);
    assert_ne!(kolkata["hours"], utc["hours"]);

    // Declaring every remote address local turns all counted traffic into LAN bytes.
    let output = report(
        &[&file],
        &[
            ("LOCAL_PREFIXES", "0.0.0.0/0"),
            ("EXCLUDE_IPV6_PREFIX", "::/0"),
        ],
    );
    let all_local: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let counted = utc["up_bytes"].as_u64().unwrap_or(0) + utc["down_bytes"].as_u64().unwrap_or(0);
    assert_eq!(all_local["packets_counted"], 0);
    assert_eq!(
        all_local["lan_bytes"].as_u64(),
        Some(utc["lan_bytes"].as_u64().unwrap_or(0) + counted)
    );
}

fn bad_settings_stop_with_one_sentence_naming_the_setting() {
    let file = capture("zeek-icmp-5-pings.pcap");
    let output = report(&[&file], &[("LOCAL_PREFIXES", "10.0.0.0/33")]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("LOCAL_PREFIXES") && stderr.contains("10.0.0.0/33"),
        "{stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "nothing is reported with a bad setting"
    );

    let output = report(&[&file], &[("TZ", "Europe/Berln")]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("TZ") && stderr.contains("Europe/Berln"),
        "{stderr}"
    );
}

tests! {
    every_shared_capture_matches_its_expected_json,
    several_files_are_reported_in_order_and_one_bad_file_spoils_only_itself,
    a_truncated_capture_warns_on_stderr_and_counts_what_came_before,
    the_zone_and_local_prefixes_change_the_counts_as_the_rules_say,
    bad_settings_stop_with_one_sentence_naming_the_setting,
}
