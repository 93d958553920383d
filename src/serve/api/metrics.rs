//! `/metrics`: Prometheus text exposition format 0.0.4, named as node_exporter names interface
//! counters (`…_receive_bytes_total{device="eth0"}`).
//!
//! Counters are those of this process: they start at 0 when the monitor starts, like
//! node_exporter's reset at boot, and Prometheus' `rate()` and `increase()` handle the reset
//! (`nettraffic_start_time_seconds` says when it happened). Lifetime totals are the history's
//! job (`/api/summary`, `/api/query`). Everything here is read from live counters, except the
//! quota gauges, which add up the billing cycle's days from the day sums in memory (about 31
//! additions, whatever the history holds). No remote address is ever a label, and no sample
//! has a timestamp.
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `nettraffic_public_receive_bytes_total{device}` | counter | download: IP-layer bytes from public addresses |
//! | `nettraffic_public_transmit_bytes_total{device}` | counter | upload: IP-layer bytes to public addresses |
//! | `nettraffic_public_packets_total{device}` | counter | packets counted as upload or download |
//! | `nettraffic_lan_bytes_total{device}` | counter | IP-layer bytes between two non-public addresses (not counted) |
//! | `nettraffic_malformed_packets_total{device}` | counter | IP packets with a broken header (not counted) |
//! | `nettraffic_capture_packets_total{device}` | counter | frames read from the capture ring |
//! | `nettraffic_capture_wire_bytes_total{device}` | counter | their lengths on the wire |
//! | `nettraffic_capture_kernel_packets_total{device}` | counter | frames the kernel passed to the ring (dropped ones included) |
//! | `nettraffic_capture_drops_total{device}` | counter | frames lost because the ring was full |
//! | `nettraffic_capture_freezes_total{device}` | counter | times the kernel froze the ring queue |
//! | `nettraffic_capture_up{device}` | gauge | 1 while the interface is captured |
//! | `nettraffic_service_receive_bytes_total{device,service}` | counter | download bytes of one service (`service`: the stable names of [`crate::service`], a closed set of 25; a service appears with its first byte) |
//! | `nettraffic_service_transmit_bytes_total{device,service}` | counter | upload bytes of one service |
//! | `nettraffic_store_last_commit_timestamp_seconds` | gauge | Unix time of the last successful commit; 0 before this process's first |
//! | `nettraffic_start_time_seconds` | gauge | Unix time the monitor started |
//! | `nettraffic_build_info{version}` | gauge | always 1 |
//! | `nettraffic_quota_bytes` | gauge | `QUOTA` in bytes (only when set) |
//! | `nettraffic_quota_used_bytes` | gauge | bytes of the current billing cycle by `QUOTA_BASIS`, over `QUOTA_IFACES` |
//! | `nettraffic_quota_cycle_start_timestamp_seconds` | gauge | Unix time the current billing cycle started |
//! | `nettraffic_quota_cycle_end_timestamp_seconds` | gauge | Unix time it ends |
//! | `nettraffic_quota_forecast_bytes` | gauge | forecast of the cycle's end total (only when there is one) |
//!
//! `?iface=` keeps one device's series; the quota gauges always count `QUOTA_IFACES`.

use std::fmt::Write;

use super::params::Params;
use super::{Api, ApiError, InterfaceReport};
use crate::count::{ByService, UpDown};
use crate::live::CaptureState;
use crate::quota::usage::{Scopes, Status};
use crate::serve::{Body, Response};
use crate::store::Scope;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

type Value = fn(&InterfaceReport) -> u64;

/// The per-interface families: name, type, help, value.
const PER_DEVICE: &[(&str, &str, &str, Value)] = &[
    (
        "nettraffic_public_receive_bytes_total",
        "counter",
        "Download: IP-layer bytes received from public addresses since the monitor started.",
        |i| i.counters.total.down,
    ),
    (
        "nettraffic_public_transmit_bytes_total",
        "counter",
        "Upload: IP-layer bytes sent to public addresses since the monitor started.",
        |i| i.counters.total.up,
    ),
    (
        "nettraffic_public_packets_total",
        "counter",
        "Packets counted as upload or download since the monitor started.",
        |i| i.counters.counted,
    ),
    (
        "nettraffic_lan_bytes_total",
        "counter",
        "IP-layer bytes between two non-public addresses (not counted as traffic).",
        |i| i.counters.lan_bytes,
    ),
    (
        "nettraffic_malformed_packets_total",
        "counter",
        "IP packets with a broken header (not counted as traffic).",
        |i| i.counters.malformed,
    ),
    (
        "nettraffic_capture_packets_total",
        "counter",
        "Frames read from the capture ring.",
        |i| i.counters.frames,
    ),
    (
        "nettraffic_capture_wire_bytes_total",
        "counter",
        "Wire lengths of the frames read from the capture ring.",
        |i| i.counters.wire_bytes,
    ),
    (
        "nettraffic_capture_kernel_packets_total",
        "counter",
        "Frames the kernel passed to the capture ring, dropped ones included.",
        |i| i.kernel.packets,
    ),
    (
        "nettraffic_capture_drops_total",
        "counter",
        "Frames the kernel dropped because the capture ring was full.",
        |i| i.kernel.drops,
    ),
    (
        "nettraffic_capture_freezes_total",
        "counter",
        "Times the kernel froze the capture ring queue because every block was in use.",
        |i| i.kernel.freezes,
    ),
    (
        "nettraffic_capture_up",
        "gauge",
        "1 while the interface is being captured, 0 while it is missing, down or failing.",
        |i| u64::from(i.state == CaptureState::Capturing),
    ),
];

/// `/metrics`; `?iface=NAME` keeps that device's series only.
///
/// # Errors
/// 400 for an unknown interface.
pub fn answer(api: &Api, params: &Params<'_>) -> Result<Response, ApiError> {
    let scope = params.scope(&api.known_interfaces())?;
    let mut interfaces = api.live().interfaces();
    if let Scope::Interface(name) = &scope {
        interfaces.retain(|i| i.name == *name);
    }
    let last_commit = api.store().last_commit().unwrap_or(0);
    let mut text = render(&interfaces, last_commit, api.started());
    let services: Vec<(String, ByService)> = api
        .live()
        .counts()
        .interfaces
        .into_iter()
        .filter(|(name, _)| interfaces.iter().any(|i| i.name == *name))
        .map(|(name, snapshot)| (name, snapshot.services_since_start))
        .collect();
    render_services(&mut text, &services);
    // The history cannot be read right now: the live counters are still worth answering.
    if let Ok(Some(status)) = api
        .read()
        .and_then(|read| super::cycle::current(api, &read, &Scopes::of(api.quota())))
    {
        render_quota(&mut text, &status);
    }
    Ok(Response {
        status: 200,
        content_type: CONTENT_TYPE,
        body: Body::Owned(text.into_bytes()),
        headers: Vec::new(),
    })
}

/// The exposition text.
pub fn render(interfaces: &[InterfaceReport], last_commit: i64, started: i64) -> String {
    let mut out = String::with_capacity(2048 + interfaces.len() * 1024);
    // Writing to a String cannot fail.
    for (name, kind, help, value) in PER_DEVICE {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for interface in interfaces {
            let _ = writeln!(
                out,
                "{name}{{device=\"{}\"}} {}",
                LabelValue(&interface.name),
                value(interface)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP nettraffic_store_last_commit_timestamp_seconds Unix time of the last successful commit to the database (0 before this process's first).\n\
         # TYPE nettraffic_store_last_commit_timestamp_seconds gauge\n\
         nettraffic_store_last_commit_timestamp_seconds {last_commit}\n\
         # HELP nettraffic_start_time_seconds Unix time the monitor started; counters start from 0 then.\n\
         # TYPE nettraffic_start_time_seconds gauge\n\
         nettraffic_start_time_seconds {started}\n\
         # HELP nettraffic_build_info The version of NetTraffic-Sentinel running (always 1).\n\
         # TYPE nettraffic_build_info gauge\n\
         nettraffic_build_info{{version=\"{}\"}} 1",
        LabelValue(env!("CARGO_PKG_VERSION"))
    );
    out
}

/// The per-service byte counters of each interface, appended to `out`.
pub fn render_services(out: &mut String, interfaces: &[(String, ByService)]) {
    type Direction = fn(&UpDown) -> u64;
    let families: [(&str, &str, Direction); 2] = [
        (
            "nettraffic_service_receive_bytes_total",
            "Download: IP-layer bytes from public addresses, by service.",
            |bytes| bytes.down,
        ),
        (
            "nettraffic_service_transmit_bytes_total",
            "Upload: IP-layer bytes to public addresses, by service.",
            |bytes| bytes.up,
        ),
    ];
    for (name, help, value) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (interface, services) in interfaces {
            for (service, bytes) in services.iter() {
                let _ = writeln!(
                    out,
                    "{name}{{device=\"{}\",service=\"{}\"}} {}",
                    LabelValue(interface),
                    service.name(),
                    value(&bytes)
                );
            }
        }
    }
}

/// The quota gauges of `status`, appended to `out`.
pub fn render_quota(out: &mut String, status: &Status) {
    let mut gauge = |name: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    };
    if let Some(quota) = status.quota {
        gauge(
            "nettraffic_quota_bytes",
            "Bytes allowed per billing cycle (QUOTA).",
            quota,
        );
    }
    gauge(
        "nettraffic_quota_used_bytes",
        "Bytes the current billing cycle has used (by QUOTA_BASIS, over QUOTA_IFACES), uncommitted counts included.",
        status.used,
    );
    gauge(
        "nettraffic_quota_cycle_start_timestamp_seconds",
        "Unix time the current billing cycle started (local midnight of its first day).",
        status.cycle.start.max(0) as u64,
    );
    gauge(
        "nettraffic_quota_cycle_end_timestamp_seconds",
        "Unix time the current billing cycle ends.",
        status.cycle.end.max(0) as u64,
    );
    if let Some(forecast) = status.forecast {
        gauge(
            "nettraffic_quota_forecast_bytes",
            "Forecast of the bytes the current billing cycle will have used at its end.",
            forecast.end_total,
        );
    }
}

/// A label value escaped as the text format asks: `\`, `"` and newline.
struct LabelValue<'a>(&'a str);

impl std::fmt::Display for LabelValue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::count::UpDown;
    use crate::count::live::Counters;
    use crate::live::KernelStats;

    fn report(name: &str, state: CaptureState) -> InterfaceReport {
        InterfaceReport {
            name: name.into(),
            state,
            since: 0,
            counters: Counters {
                frames: 10,
                wire_bytes: 1000,
                counted: 7,
                malformed: 1,
                lan_bytes: 64,
                total: UpDown { up: 300, down: 500 },
            },
            kernel: KernelStats {
                packets: 12,
                drops: 2,
                freezes: 1,
            },
        }
    }

    #[test]
    fn every_family_has_help_type_and_one_sample_per_device() {
        let text = render(
            &[
                report("eth0", CaptureState::Capturing),
                report("we\"ird\\", CaptureState::Missing),
            ],
            1_795_877_117,
            1_795_870_000,
        );
        for line in [
            "nettraffic_public_receive_bytes_total{device=\"eth0\"} 500",
            "nettraffic_public_transmit_bytes_total{device=\"eth0\"} 300",
            "nettraffic_public_packets_total{device=\"eth0\"} 7",
            "nettraffic_lan_bytes_total{device=\"eth0\"} 64",
            "nettraffic_malformed_packets_total{device=\"eth0\"} 1",
            "nettraffic_capture_packets_total{device=\"eth0\"} 10",
            "nettraffic_capture_wire_bytes_total{device=\"eth0\"} 1000",
            "nettraffic_capture_kernel_packets_total{device=\"eth0\"} 12",
            "nettraffic_capture_drops_total{device=\"eth0\"} 2",
            "nettraffic_capture_freezes_total{device=\"eth0\"} 1",
            "nettraffic_capture_up{device=\"eth0\"} 1",
            "nettraffic_capture_up{device=\"we\\\"ird\\\\\"} 0",
            "nettraffic_store_last_commit_timestamp_seconds 1795877117",
            "nettraffic_start_time_seconds 1795870000",
            &format!(
                "nettraffic_build_info{{version=\"{}\"}} 1",
                env!("CARGO_PKG_VERSION")
            ),
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
        let families = PER_DEVICE.len() + 3;
        assert_eq!(text.matches("# HELP ").count(), families);
        assert_eq!(text.matches("# TYPE ").count(), families);
        assert_eq!(
            text.lines().filter(|l| !l.starts_with('#')).count(),
            PER_DEVICE.len() * 2 + 3
        );
        assert!(text.ends_with("} 1\n"));
    }
}
