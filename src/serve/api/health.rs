//! `/api/health`: `{"status", "ts"}` as the original (for Docker's healthcheck), plus the
//! capture state of every interface and the last commit.
//!
//! Status: `ok` (200) when every monitored interface is capturing; `degraded` (200) when some
//! are and some are not (an interface missing, down, or failing to open: the others are still
//! counted, and the missing one resumes by itself when it returns); `error` (503) when no
//! interface is capturing, which is what "capture has stopped" means here: nothing would be
//! counted. An interface that is administratively down counts as not capturing. With
//! `?iface=NAME` the status is that interface's alone; for an interface only the history holds
//! (not monitored now) it is `not_captured` (200), with that interface in state `not_captured`.
//! `not_captured` lists every such interface (they do not change the status).
//!
//! Each interface: `name`, `state` (`starting`, `capturing`, `down`, `missing`, `failed`,
//! `stopped`), `detail` (the state in words, with the reason of a failure), `since` (Unix second
//! of the last change), `packets`, `drops` and `freezes` (the kernel's ring statistics: frames
//! that passed the filter, frames lost because the ring was full, queue freezes), `frames`
//! (frames read from the ring) and `malformed`. `last_commit` is the Unix second of this
//! process's last successful commit (`null` before the first).

use serde::Serialize;

use super::json;
use super::live::InterfaceReport;
use super::params::Params;
use super::{Api, ApiError};
use crate::live::CaptureState;
use crate::serve::Response;
use crate::store::Scope;

/// The status and state of an interface the history holds but capture does not watch now.
pub const NOT_CAPTURED: &str = "not_captured";

/// The word for a capture state.
pub fn state_name(state: &CaptureState) -> &'static str {
    match state {
        CaptureState::Starting => "starting",
        CaptureState::Capturing => "capturing",
        CaptureState::Down => "down",
        CaptureState::Missing => "missing",
        CaptureState::Failed(_) => "failed",
        CaptureState::Stopped => "stopped",
    }
}

/// The overall status of `interfaces` and its HTTP status code.
pub fn status_of(interfaces: &[InterfaceReport]) -> (&'static str, u16) {
    let capturing = interfaces
        .iter()
        .filter(|i| i.state == CaptureState::Capturing)
        .count();
    if capturing == 0 {
        ("error", 503)
    } else if capturing < interfaces.len() {
        ("degraded", 200)
    } else {
        ("ok", 200)
    }
}

/// `/api/health`.
///
/// # Errors
/// 400 for an unknown interface.
pub fn answer(api: &Api, params: &Params<'_>) -> Result<Response, ApiError> {
    let scope = params.scope(&api.known_interfaces())?;
    let not_captured = api.not_captured();
    let mut interfaces = api.live().interfaces();
    if let Scope::Interface(name) = &scope {
        interfaces.retain(|i| i.name == *name);
    }
    let history_only = match &scope {
        Scope::Interface(name) if interfaces.is_empty() => Some(name.as_str()),
        _ => None,
    };
    let (status, code) = match history_only {
        Some(_) => (NOT_CAPTURED, 200),
        None => status_of(&interfaces),
    };
    #[derive(Serialize)]
    struct Interface<'a> {
        detail: String,
        drops: u64,
        frames: u64,
        freezes: u64,
        malformed: u64,
        name: &'a str,
        packets: u64,
        since: i64,
        state: &'static str,
    }
    #[derive(Serialize)]
    struct Answer<'a> {
        interfaces: Vec<Interface<'a>>,
        last_commit: Option<i64>,
        not_captured: &'a [String],
        status: &'static str,
        ts: String,
    }
    let answer = Answer {
        interfaces: history_only
            .map(|name| Interface {
                detail: "not captured now (MONITOR_IFACE does not name it); its history is kept"
                    .to_string(),
                drops: 0,
                frames: 0,
                freezes: 0,
                malformed: 0,
                name,
                packets: 0,
                since: 0,
                state: NOT_CAPTURED,
            })
            .into_iter()
            .chain(interfaces.iter().map(|i| Interface {
                detail: i.state.to_string(),
                drops: i.kernel.drops,
                frames: i.counters.frames,
                freezes: i.kernel.freezes,
                malformed: i.counters.malformed,
                name: &i.name,
                packets: i.kernel.packets,
                since: i.since,
                state: state_name(&i.state),
            }))
            .collect(),
        last_commit: api.store().last_commit(),
        not_captured: &not_captured,
        status,
        ts: local_now(api),
    };
    Ok(json::respond(code, &answer, 256 + interfaces.len() * 192))
}

/// The local time now as the original wrote it: "2026-11-28T14:45:46.863792".
fn local_now(api: &Api) -> String {
    let now = jiff::Timestamp::now();
    let local = api.zone().time_zone().to_datetime(now);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}",
        local.year(),
        local.month(),
        local.day(),
        local.hour(),
        local.minute(),
        local.second(),
        local.subsec_nanosecond() / 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::count::live::Counters;
    use crate::live::KernelStats;

    fn interface(state: CaptureState) -> InterfaceReport {
        InterfaceReport {
            name: "x".into(),
            state,
            since: 0,
            counters: Counters::default(),
            kernel: KernelStats::default(),
        }
    }

    #[test]
    fn stopped_means_no_interface_capturing() {
        use CaptureState::*;
        assert_eq!(status_of(&[interface(Capturing)]), ("ok", 200));
        assert_eq!(
            status_of(&[interface(Capturing), interface(Capturing)]),
            ("ok", 200)
        );
        assert_eq!(
            status_of(&[interface(Capturing), interface(Missing)]),
            ("degraded", 200)
        );
        for state in [Starting, Down, Missing, Failed("EPERM".into()), Stopped] {
            assert_eq!(status_of(&[interface(state.clone())]), ("error", 503));
            assert_eq!(
                status_of(&[interface(state.clone()), interface(state)]),
                ("error", 503)
            );
        }
        assert_eq!(status_of(&[]), ("error", 503));
    }
}
