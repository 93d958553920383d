//! `/api/realtime`: the live rate, `{"current_down_Bps", "current_down_bps", "current_up_Bps",
//! "current_up_bps", "samples": [{"down", "ts", "up"}]}`.
//!
//! A sample is the public bytes counted in one second ending at `ts` (Unix seconds); the capture
//! engine takes one every second and keeps the last 120, all of which are listed, oldest first
//! (the original listed its last 30). `current_*_Bps` is the newest sample in bytes per second,
//! `current_*_bps` the same in bits per second; all are integers, 0 before the first sample.

use serde::Serialize;

use super::json;
use super::params::Params;
use super::{Api, ApiError};
use crate::serve::Response;
use crate::store::Scope;

/// `/api/realtime`.
///
/// # Errors
/// 400 for an unknown interface.
pub fn answer(api: &Api, params: &Params<'_>) -> Result<Response, ApiError> {
    let scope = params.scope(&api.known_interfaces())?;
    let interface = match &scope {
        Scope::All => None,
        Scope::Interface(name) => Some(name.as_str()),
    };
    let samples = api.live().rate(interface);
    #[derive(Serialize)]
    struct Sample {
        down: u64,
        ts: i64,
        up: u64,
    }
    #[derive(Serialize)]
    #[allow(non_snake_case)]
    struct Answer {
        current_down_Bps: u64,
        current_down_bps: u64,
        current_up_Bps: u64,
        current_up_bps: u64,
        samples: Vec<Sample>,
    }
    let current = samples
        .last()
        .map(|sample| sample.bytes)
        .unwrap_or_default();
    let answer = Answer {
        current_down_Bps: current.down,
        current_down_bps: current.down.saturating_mul(8),
        current_up_Bps: current.up,
        current_up_bps: current.up.saturating_mul(8),
        samples: samples
            .iter()
            .map(|sample| Sample {
                down: sample.bytes.down,
                ts: sample.unix_second,
                up: sample.bytes.up,
            })
            .collect(),
    };
    Ok(json::respond(200, &answer, 160 + samples.len() * 48))
}
