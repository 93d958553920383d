//! `alert-test`: send a test message to every target of `ALERT_URLS`, once each (no retries),
//! and say per target what happened, with passwords and tokens masked.

use std::fmt;

use crate::config::Config;
use crate::notify::{Message, Priority, Sender, Timeouts, Trust};

/// Why `alert-test` did not deliver everywhere.
#[derive(Debug, PartialEq, Eq)]
pub enum AlertTestError {
    /// `ALERT_URLS` is empty.
    NoTargets,
    /// Some targets failed (each was named as it failed).
    Failed { failed: usize, of: usize },
}

impl fmt::Display for AlertTestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlertTestError::NoTargets => write!(
                f,
                "ALERT_URLS (--alert-urls) is empty: set it to one or more notification URLs, e.g. ALERT_URLS=ntfy://my_nas_alerts (docs/alerts.md lists the forms)"
            ),
            AlertTestError::Failed { failed, of } => {
                write!(f, "{failed} of {of} alert target(s) failed")
            }
        }
    }
}

impl std::error::Error for AlertTestError {}

/// The test message.
pub fn test_message() -> Message {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .unwrap_or_default();
    let on = if host.is_empty() {
        String::new()
    } else {
        format!(" on {host}")
    };
    Message::new(
        "NetTraffic-Sentinel test alert",
        format!(
            "This is a test message from nettraffic-sentinel alert-test{on}. If you can read it, quota alerts will reach you here."
        ),
    )
    .with_priority(Priority::Normal)
    .with_tags(&["white_check_mark"])
}

/// The `alert-test` command.
///
/// # Errors
/// No targets, or targets that failed.
pub fn command(config: &Config) -> Result<(), AlertTestError> {
    let targets = &config.alert_targets;
    if targets.is_empty() {
        return Err(AlertTestError::NoTargets);
    }
    let sender = Sender::new(Trust::load(), Timeouts::default());
    println!(
        "Sending a test message to {} target(s) of ALERT_URLS ({}).",
        targets.len(),
        sender.trust().describe()
    );
    let message = test_message();
    let mut failed = 0;
    for target in targets {
        match sender.send(target, &message) {
            Ok(what) => println!("  ok      {target}: delivered ({what})"),
            Err(why) => {
                failed += 1;
                println!("  FAILED  {target}: {why}");
            }
        }
    }
    if failed == 0 {
        println!("Every target took the message; check that it arrived.");
        Ok(())
    } else {
        Err(AlertTestError::Failed {
            failed,
            of: targets.len(),
        })
    }
}
