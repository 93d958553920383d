//! Quota alerts: each threshold of `ALERT_AT` fires once per billing cycle, and so does the
//! warning that the forecast says the quota will run out before the cycle ends.
//!
//! The engine ([`Alerts::tick`], every minute on the `quota` thread) computes the cycle's usage
//! as `/api/quota` does, and for every alert that is due and has no record for this cycle yet:
//!
//! 1. records it **pending** in the history file (`quota_alerts`, one durable commit), then
//! 2. hands it to a [`Deliver`] together with a callback, and
//! 3. when the callback says it was delivered, records it **sent** (another durable commit).
//!
//! At every tick, including the first after a start, every pending record of any cycle that is
//! not in a deliverer's hands is handed over (again). So a restart, a crash or `kill -9` never
//! forgets an alert that was decided (it is pending in the file) and never repeats one recorded
//! as sent. What no program can promise is exactly once across a crash *between* a target
//! accepting a message and the commit of "sent": that alert is sent again after the restart (at
//! least once, never lost). A new cycle has no records, so every alert is armed again. Records
//! are keyed by the cycle's start, so changing `BILLING_DAY` starts a new set.
//!
//! "Will run out" fires when the forecast first exceeds the quota while less than the quota is
//! used; thresholds fire when `used × 100 ≥ percent × quota` (integers, no rounding).

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use log::{info, warn};
use serde::{Deserialize, Serialize};

use super::QuotaSettings;
use super::usage::{self, Scopes, Status};
use crate::clock::{Zone, unix_now};
use crate::notify::{Message, Priority};
use crate::store::{AlertRecord, AlertState, LiveView, Store, StoreError};
use crate::units::ByteSize;

/// The alert code of "will run out" (thresholds use their percent, 1 to 1000).
pub const RUNS_OUT: u32 = 0;
/// After a deliverer gave up on an alert, it is offered again this many seconds later.
pub const RETRY_AFTER: i64 = 3600;
/// How often the `quota` thread looks.
pub const EVERY: Duration = Duration::from_secs(60);

/// Which alert of a cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertKind {
    /// This percent of the quota is used.
    Threshold(u16),
    /// At the forecast's rate the quota runs out before the cycle ends.
    RunsOut,
}

impl AlertKind {
    /// Its code in the history file.
    pub fn code(self) -> u32 {
        match self {
            AlertKind::Threshold(percent) => u32::from(percent),
            AlertKind::RunsOut => RUNS_OUT,
        }
    }

    /// The alert a code in the history file stands for.
    pub fn from_code(code: u32) -> Option<AlertKind> {
        match code {
            RUNS_OUT => Some(AlertKind::RunsOut),
            percent => u16::try_from(percent)
                .ok()
                .filter(|p| *p <= super::MAX_ALERT_PERCENT)
                .map(AlertKind::Threshold),
        }
    }

    /// `"80%"`, or `"runs_out"`.
    pub fn name(self) -> String {
        match self {
            AlertKind::Threshold(percent) => format!("{percent}%"),
            AlertKind::RunsOut => "runs_out".to_string(),
        }
    }
}

/// One alert as it is handed to delivery: a title and a plain-text body for people, and the
/// figures for machines (a JSON target can send the whole structure). Kept in the history file
/// with the alert's record, so an alert handed over again after a restart says what it said
/// when it was decided.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertMessage {
    /// `"80%"` (a threshold) or `"runs_out"`.
    pub alert: String,
    /// The threshold's percent; `None` for "runs out".
    pub threshold_percent: Option<u16>,
    /// One line, e.g. "Internet quota: 80 % used".
    pub title: String,
    /// A few sentences with the figures.
    pub body: String,
    /// The cycle's first and last local day, "YYYY-MM-DD".
    pub cycle_start: String,
    pub cycle_end: String,
    /// UTC second at which the cycle starts.
    pub cycle_start_ts: i64,
    pub used_bytes: u64,
    pub quota_bytes: u64,
    /// Percent of the quota used when the alert was decided.
    pub percent: f64,
    /// `QUOTA_BASIS`: total, down, up or max.
    pub basis: String,
    /// The forecast of the cycle's end total, when there is one.
    pub forecast_bytes: Option<u64>,
    /// The local day the quota runs out at the forecast's rate, "YYYY-MM-DD".
    pub runs_out_on: Option<String>,
    /// Unix second at which the alert was decided.
    pub decided_at: i64,
}

/// Where alerts go. Implemented by the notification outbox (`ALERT_URLS`); [`LogOnly`] stands
/// in for it.
///
/// `post` must return at once (never wait for a network): the engine calls it on its own
/// thread, between two looks at the history. Call `settled` exactly once, from any thread:
/// `true` when the alert needs no further attempt (delivered to every target), and the engine
/// records it sent; `false` when delivery gave up for now, and the engine offers it again
/// [`RETRY_AFTER`] seconds later or at the next start. An alert whose `settled` is dropped
/// uncalled is offered again at the next start.
pub trait Deliver: Send + Sync {
    fn post(&self, alert: AlertMessage, settled: Box<dyn FnOnce(bool) + Send>);
}

/// Logs each alert (`quota alert: TITLE: BODY` as a warning, the level of what an owner must
/// know) and takes it as delivered: the stand-in until notification targets are configured.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogOnly;

impl Deliver for LogOnly {
    fn post(&self, alert: AlertMessage, settled: Box<dyn FnOnce(bool) + Send>) {
        warn!("quota alert: {}: {}", alert.title, alert.body);
        settled(true);
    }
}

/// Sends each alert to every `ALERT_URLS` target through the outbox thread (retries for an hour;
/// `settled(false)` when it gave up, so the engine offers it again later), and logs it too.
impl Deliver for crate::notify::Outbox {
    fn post(&self, alert: AlertMessage, settled: Box<dyn FnOnce(bool) + Send>) {
        warn!("quota alert: {}: {}", alert.title, alert.body);
        let (priority, tag) = match alert.threshold_percent {
            Some(percent) if percent >= 100 => (Priority::Max, "no_entry"),
            Some(percent) if percent >= 90 => (Priority::High, "warning"),
            Some(_) => (Priority::Normal, "chart_with_upwards_trend"),
            None => (Priority::High, "hourglass"),
        };
        let message = Message::new(alert.title, alert.body)
            .with_priority(priority)
            .with_tags(&[tag, "nettraffic"]);
        crate::notify::Outbox::post(self, message, settled);
    }
}

type Key = (i64, u32);

/// What this process knows beyond the file: alerts in a deliverer's hands, and when those it
/// gave up on may be offered again.
#[derive(Debug, Default)]
struct Flight {
    handed: HashSet<Key>,
    retry_at: HashMap<Key, i64>,
    /// Delivered, but the commit of "sent" failed: committed again at the next tick.
    unrecorded: HashMap<Key, i64>,
}

/// What one look did.
#[derive(Clone, Debug, PartialEq)]
pub struct Tick {
    /// The current cycle's figures.
    pub status: Option<Status>,
    /// Alerts recorded pending by this look.
    pub recorded: Vec<AlertKind>,
    /// Alerts handed to the deliverer by this look (new ones and pending ones from before).
    pub offered: usize,
}

/// The alert engine.
pub struct Alerts {
    store: Arc<Store>,
    settings: QuotaSettings,
    scopes: Scopes,
    deliver: Arc<dyn Deliver>,
    flight: Arc<Mutex<Flight>>,
}

impl std::fmt::Debug for Alerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerts")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The alerts due for `status`, by `settings` (nothing without a quota).
pub fn due(settings: &QuotaSettings, status: &Status) -> Vec<AlertKind> {
    let Some(quota) = status.quota else {
        return Vec::new();
    };
    let mut due: Vec<AlertKind> = settings
        .alert_at
        .iter()
        .copied()
        .filter(|percent| status.reached(*percent))
        .map(AlertKind::Threshold)
        .collect();
    if status.used < quota && status.forecast.is_some_and(|f| f.end_total > quota) {
        due.push(AlertKind::RunsOut);
    }
    due
}

/// The message of alert `kind` for `status`.
pub fn message(kind: AlertKind, status: &Status, zone: &Zone) -> AlertMessage {
    let quota = status.quota.unwrap_or(0);
    let percent = status.percent().unwrap_or(0.0);
    let first = status.cycle.first;
    let last = status.cycle.last();
    let days_left = status.cycle.days_left(zone.date_of(status.now));
    let runs_out_on = status
        .forecast
        .and_then(|f| f.runs_out_at)
        .map(|at| zone.date_of(at).to_string());
    let forecast = status.forecast.map(|f| f.end_total);
    let used = ByteSize(status.used);
    let quota_text = ByteSize(quota);
    let (title, body) = match kind {
        AlertKind::Threshold(p) => {
            let mut body = format!(
                "{used} of the {quota_text} quota used ({percent:.1} %) in the billing cycle {first} to {last}; {days_left} day(s) left."
            );
            if let Some(forecast) = forecast {
                body.push_str(&format!(
                    " At the current rate the cycle ends at {}.",
                    ByteSize(forecast)
                ));
            }
            (format!("Internet quota: {p} % used"), body)
        }
        AlertKind::RunsOut => {
            let on = runs_out_on.clone().unwrap_or_else(|| last.to_string());
            (
                format!("Internet quota will run out on {on}"),
                format!(
                    "At the current rate the {quota_text} quota of the billing cycle {first} to {last} is used up on {on}, before the cycle ends; {used} ({percent:.1} %) used so far."
                ),
            )
        }
    };
    AlertMessage {
        alert: kind.name(),
        threshold_percent: match kind {
            AlertKind::Threshold(p) => Some(p),
            AlertKind::RunsOut => None,
        },
        title,
        body,
        cycle_start: first.to_string(),
        cycle_end: last.to_string(),
        cycle_start_ts: status.cycle.start,
        used_bytes: status.used,
        quota_bytes: quota,
        percent,
        basis: status.basis.name().to_string(),
        forecast_bytes: forecast,
        runs_out_on,
        decided_at: status.now,
    }
}

impl Alerts {
    pub fn new(store: Arc<Store>, settings: QuotaSettings, deliver: Arc<dyn Deliver>) -> Alerts {
        Alerts {
            scopes: Scopes::of(&settings),
            store,
            settings,
            deliver,
            flight: Arc::default(),
        }
    }

    fn flight(&self) -> std::sync::MutexGuard<'_, Flight> {
        self.flight.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Look once at `now`, with `view` as what memory holds: record the alerts that became due,
    /// then hand every pending one that is not in the deliverer's hands to it.
    ///
    /// # Errors
    /// When the history cannot be read or a record cannot be committed; nothing is handed over
    /// that was not recorded first.
    pub fn tick(&self, view: &LiveView, now: i64) -> Result<Tick, StoreError> {
        self.record_unrecorded();
        let zone = self.store.zone().clone();
        let status = {
            let read = self.store.read(view)?;
            usage::status(&read, &zone, &self.settings, &self.scopes, now)?
        };
        let mut recorded = Vec::new();
        if let Some(status) = &status {
            let due = due(&self.settings, status);
            if !due.is_empty() {
                let existing: HashSet<u32> = self
                    .store
                    .alerts(Some(status.cycle.start))?
                    .iter()
                    .map(|record| record.alert)
                    .collect();
                let mut fresh = Vec::new();
                for kind in due {
                    if existing.contains(&kind.code()) {
                        continue;
                    }
                    let text = serde_json::to_vec(&message(kind, status, &zone)).map_err(|e| {
                        StoreError::Io {
                            why: format!("an alert could not be written down: {e}"),
                        }
                    })?;
                    fresh.push(AlertRecord {
                        cycle_start: status.cycle.start,
                        alert: kind.code(),
                        state: AlertState::Pending,
                        changed_at: now,
                        message: text,
                    });
                }
                if !fresh.is_empty() {
                    for record in self.store.record_alerts(&fresh)? {
                        if let Some(kind) = AlertKind::from_code(record.alert) {
                            info!(
                                "quota alert {} for the billing cycle from {} is due: recorded, handing it to delivery",
                                kind.name(),
                                status.cycle.first
                            );
                            recorded.push(kind);
                        }
                    }
                }
            }
        }
        let offered = self.offer(now)?;
        Ok(Tick {
            status,
            recorded,
            offered,
        })
    }

    /// Hand every pending record that is not in the deliverer's hands (nor waiting to be
    /// offered again) to it.
    fn offer(&self, now: i64) -> Result<usize, StoreError> {
        let chosen: Vec<AlertRecord> = {
            // Held while the file is read and keys are taken, and by a settling callback while
            // it commits "sent": so a record read as pending here cannot have been delivered
            // meanwhile.
            let mut flight = self.flight();
            let pending = self.store.alerts(None)?;
            let mut chosen = Vec::new();
            for record in pending {
                let key = (record.cycle_start, record.alert);
                if record.state != AlertState::Pending
                    || flight.handed.contains(&key)
                    || flight.unrecorded.contains_key(&key)
                    || flight.retry_at.get(&key).is_some_and(|at| *at > now)
                {
                    continue;
                }
                flight.retry_at.remove(&key);
                flight.handed.insert(key);
                chosen.push(record);
            }
            chosen
        };
        let mut offered = 0;
        for record in chosen {
            let key = (record.cycle_start, record.alert);
            match serde_json::from_slice::<AlertMessage>(&record.message) {
                Ok(message) => {
                    // Not holding the lock: a deliverer may settle at once, on this thread.
                    self.deliver.post(message, self.settle(key));
                    offered += 1;
                }
                Err(error) => {
                    warn!(
                        "a recorded quota alert of the cycle starting at {} cannot be read ({error}); it is dropped",
                        record.cycle_start
                    );
                    self.settle(key)(true);
                }
            }
        }
        Ok(offered)
    }

    /// The callback for the alert `key`: record it sent, or offer it again later.
    fn settle(&self, key: Key) -> Box<dyn FnOnce(bool) + Send> {
        let store = Arc::clone(&self.store);
        let flight = Arc::clone(&self.flight);
        Box::new(move |delivered| {
            let now = unix_now();
            let mut flight = flight.lock().unwrap_or_else(PoisonError::into_inner);
            if !delivered {
                flight.handed.remove(&key);
                flight.retry_at.insert(key, now.saturating_add(RETRY_AFTER));
                return;
            }
            match store.set_alert_state(key.0, key.1, AlertState::Sent, now) {
                Ok(_) => info!(
                    "quota alert {} of the billing cycle starting at {} recorded as sent",
                    AlertKind::from_code(key.1).map_or_else(|| key.1.to_string(), |k| k.name()),
                    key.0
                ),
                Err(error) => {
                    warn!(
                        "a delivered quota alert could not be recorded as sent ({error}); trying again in a minute"
                    );
                    flight.unrecorded.insert(key, now);
                }
            }
            flight.handed.remove(&key);
        })
    }

    /// Commit "sent" for the delivered alerts whose commit failed before.
    fn record_unrecorded(&self) {
        let mut flight = self.flight();
        let keys: Vec<(Key, i64)> = flight.unrecorded.iter().map(|(k, at)| (*k, *at)).collect();
        for (key, at) in keys {
            if self
                .store
                .set_alert_state(key.0, key.1, AlertState::Sent, at)
                .is_ok()
            {
                flight.unrecorded.remove(&key);
            }
        }
    }

    /// Run on a thread named `quota`: a look at once (so alerts left pending by a previous run
    /// go out), then one every `every`, until [`AlertThread::stop`]. `view` gives what memory
    /// holds at each look.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub fn spawn(
        self,
        view: impl Fn() -> LiveView + Send + 'static,
        every: Duration,
    ) -> std::io::Result<AlertThread> {
        let (sender, receiver) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("quota".into())
            .spawn(move || {
                let mut first = true;
                let mut failing = false;
                loop {
                    match self.tick(&view(), unix_now()) {
                        Ok(tick) => {
                            if first && let Some(status) = &tick.status {
                                info!("{}", self.describe(status));
                            }
                            if failing {
                                info!("quota alerts can be read and recorded again");
                            }
                            first = false;
                            failing = false;
                        }
                        Err(error) => {
                            if !failing {
                                warn!(
                                    "quota alerts cannot be checked ({error}); trying again every minute"
                                );
                            }
                            failing = true;
                        }
                    }
                    if !matches!(receiver.recv_timeout(every), Err(RecvTimeoutError::Timeout)) {
                        break;
                    }
                }
            })?;
        Ok(AlertThread { sender, thread })
    }

    /// One line for the log at start.
    fn describe(&self, status: &Status) -> String {
        let quota = status
            .quota
            .map_or_else(|| "no quota".to_string(), |q| ByteSize(q).to_string());
        let alerts: Vec<String> = self.settings.alert_at.iter().map(u16::to_string).collect();
        format!(
            "quota: {quota} per billing cycle ({} bytes, billing day {}); this cycle {} to {}: {} used ({:.1} %); alerts at {} %",
            status.basis,
            self.settings.billing_day,
            status.cycle.first,
            status.cycle.last(),
            ByteSize(status.used),
            status.percent().unwrap_or(0.0),
            alerts.join(", ")
        )
    }
}

/// The running `quota` thread.
#[derive(Debug)]
pub struct AlertThread {
    sender: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl AlertThread {
    /// Stop looking and wait for the thread.
    pub fn stop(self) {
        let _ = self.sender.send(());
        let _ = self.thread.join();
    }
}
