//! The persister: every `SAVE_INTERVAL`, one write transaction with the absolute totals of every
//! hour and day that memory holds. It sits above both the [live state](crate::live) it reads and
//! the [store](crate::store) it writes, and hands readers the [`Committed`] marks of each commit.
//!
//! Capture counts cumulatively since the process started. The first time this process touches
//! a key (scope + hour, or scope + day + address) it reads the stored value; from then on the
//! key's absolute total is that stored value plus what memory has counted since, and that total
//! is what each commit writes. Repeating a commit, or retrying one that failed (disk full,
//! read-only file system) or whose outcome is unknown, therefore writes the same numbers again and
//! can never count anything twice; a restart in the same hour reads the stored hour and goes on
//! from it. A failed commit costs one log line per interval; the counts stay in memory.
//!
//! If memory's value for a key ever shrinks (a worker's bounded table dropped an hour or an
//! address that later came back), the shrink is taken as "already counted" rather than subtracted,
//! so a stored total never goes down and never exceeds what was really counted.
//!
//! # Clock policy
//! Live frames are dated by the system clock, and a NAS without a real-time clock can run with a
//! wrong one until NTP sets it. A live hour is stored only if, at the first commit after it was
//! counted, it lies within the time this process can have seen traffic:
//! `[now − time since start − 2 h, now + 1 h]`, and never before 2020-01-01 UTC. "Time since
//! start" is measured by the boot-time clock (`/proc/uptime`, which counts suspend and never
//! jumps), so a clock that was years behind at start-up and then set forward cannot put the
//! start-up minutes into a real hour of the past, and hours dated ahead of the clock that later
//! corrected itself are not stored either. An hour refused once is never stored by this process;
//! its bytes are named in one log line. Imported capture files are not subject to this: their
//! timestamps are whatever they are, 1970 included.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jiff::civil::Date;
use log::{debug, info, warn};
use redb::{Durability, ReadableTable, TableHandle, WriteTransaction};

use crate::clock::{HourStart, unix_now};
use crate::count::heavy::{HeavyEntry, HeavyKey, Pair};
use crate::count::{ByService, UpDown};
use crate::lan::Labeler;
use crate::live::LiveState;
use crate::store::days::day_start;
use crate::store::schema::{
    ALL_SCOPE, ALL_SCOPE_NAME, Addresses, DAY_DEVICE_LABELS, DAY_DEVICE_REMOTES, DAY_SERVICES, Day,
    HOURS, Hour, META, META_LAST_COMMIT, RemoteBytes, StoredLabel, decode_labels, decode_remotes,
    decode_services_keeping, encode_labels, encode_remotes, encode_services_keeping,
};
use crate::store::set_aside::{day_in_words, decode_or_set_aside};
use crate::store::{Committed, LiveView, PLAUSIBLE_FROM, Store, StoreError};

/// How far ahead of the commit's clock an hour may start (a frame is at most this much ahead).
const AHEAD: i64 = 3600;

/// Work a step of summing closed months may take ([`Persister::sum_closed_months_and_log`]): a
/// ten-year history upgraded in place has up to 120 months an interface to sum once.
const MONTHS_STEP: Duration = Duration::from_millis(250);
/// The pause between two such steps, so that they take at most a fifth of one core.
const MONTHS_PAUSE: Duration = Duration::from_secs(1);
/// How much earlier than the process start an hour may start: the hour containing the start,
/// plus an hour of slack for small clock steps.
const BEHIND: i64 = 2 * 3600;

/// The span of hour starts a commit accepts from live capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub from: i64,
    pub until: i64,
}

impl Window {
    /// The window at wall-clock second `now` for a process that has run `lived` seconds.
    pub fn at(now: i64, lived: i64) -> Window {
        Window {
            from: now
                .saturating_sub(lived.max(0))
                .saturating_sub(BEHIND)
                .max(PLAUSIBLE_FROM),
            until: now.saturating_add(AHEAD),
        }
    }

    pub fn contains(&self, hour: HourStart) -> bool {
        (self.from..=self.until).contains(&hour)
    }
}

/// How long this process has lived, by a clock that neither jumps nor stops in suspend.
#[derive(Clone, Copy, Debug)]
struct Lifetime {
    boot_seconds_at_start: Option<f64>,
    started: Instant,
}

impl Lifetime {
    fn start() -> Lifetime {
        Lifetime {
            boot_seconds_at_start: boot_seconds(),
            started: Instant::now(),
        }
    }

    fn seconds(&self) -> i64 {
        match (self.boot_seconds_at_start, boot_seconds()) {
            (Some(then), Some(now)) if now >= then => (now - then) as i64,
            // No /proc (not Linux, or a strange container): the monotonic clock, which does not
            // count suspend, so the window is narrower after one; that only refuses more.
            _ => self.started.elapsed().as_secs() as i64,
        }
    }
}

/// Seconds since boot, suspend included (the first field of /proc/uptime).
fn boot_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/uptime").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// One key's absolute total and the memory value it already includes.
#[derive(Clone, Copy, Debug, Default)]
struct Acc {
    total: UpDown,
    seen: UpDown,
}

impl Acc {
    /// Take memory's value `now`: add what it grew by since last seen.
    fn observe(&mut self, now: UpDown) {
        // A shrink means part of memory was dropped (and may have come back smaller): it was
        // counted already, so add nothing rather than subtract or guess.
        self.total += now - self.seen;
        self.seen = now;
    }
}

/// What one commit writes the per-day address lists from.
struct DayLists<'a> {
    txn: &'a WriteTransaction,
    view: &'a LiveView,
    /// The scope id of each of the view's interfaces, in order.
    ids: &'a [u32],
    zone: &'a crate::clock::Zone,
    window: &'a Window,
}

impl DayLists<'_> {
    /// Write `kind`'s lists of every day in the window that memory holds, at most `top`
    /// addresses each, with `accs` the totals taken so far; returns each list written, by its key.
    fn commit(
        &self,
        kind: Addresses,
        accs: &mut HashMap<(String, Date), DayAcc>,
        top: usize,
    ) -> Result<Vec<(Day, Vec<IpAddr>)>, StoreError> {
        let mut written = Vec::new();
        let mut touched: HashSet<(String, Date)> = HashSet::new();
        let mut table = self.txn.open_table(kind.table()).map_err(StoreError::io)?;
        for ((name, snapshot), id) in self.view.interfaces.iter().zip(self.ids) {
            let by_day = match kind {
                Addresses::Remotes => &snapshot.remotes,
                Addresses::Devices => &snapshot.devices,
            };
            for (date, entries) in by_day {
                if !self.window_holds(*date) {
                    continue;
                }
                let key = (name.clone(), *date);
                let day = Day {
                    scope: *id,
                    date: *date,
                };
                if !accs.contains_key(&key) {
                    let stored = match table.get(day).map_err(StoreError::io)? {
                        Some(value) => decode_or_set_aside(
                            self.txn,
                            kind.table().name(),
                            day_in_words(name, *date),
                            value.value(),
                            decode_remotes,
                        )?,
                        None => Vec::new(),
                    };
                    let totals = stored.into_iter().map(|r| (r.addr, r.bytes)).collect();
                    accs.insert(
                        key.clone(),
                        DayAcc {
                            totals,
                            seen: HashMap::new(),
                        },
                    );
                }
                let Some(acc) = accs.get_mut(&key) else {
                    continue;
                };
                let list: Vec<RemoteBytes> = acc
                    .observe(entries, top)
                    .into_iter()
                    .map(|(addr, bytes)| RemoteBytes { addr, bytes })
                    .collect();
                table
                    .insert(day, encode_remotes(&list).as_slice())
                    .map_err(StoreError::io)?;
                if let Addresses::Devices = kind {
                    // A month summed from its days must not outlive a change to one of them.
                    crate::store::months::forget(self.txn, *id, *date)?;
                }
                touched.insert(key);
                written.push((day, list.iter().map(|r| r.addr).collect()));
            }
        }
        // Keys memory no longer holds cannot change any more; a key that comes back is read anew.
        accs.retain(|key, _| touched.contains(key));
        Ok(written)
    }

    /// Write the bytes per service of every day in the window that memory holds, with `accs` the
    /// totals taken so far; returns how many days were written.
    fn commit_services(
        &self,
        accs: &mut HashMap<(String, Date), ServiceAcc>,
    ) -> Result<usize, StoreError> {
        let mut written = 0;
        let mut touched: HashSet<(String, Date)> = HashSet::new();
        let mut table = self.txn.open_table(DAY_SERVICES).map_err(StoreError::io)?;
        for ((name, snapshot), id) in self.view.interfaces.iter().zip(self.ids) {
            for (date, memory) in &snapshot.services {
                if !self.window_holds(*date) {
                    continue;
                }
                let key = (name.clone(), *date);
                let day = Day {
                    scope: *id,
                    date: *date,
                };
                let acc = match accs.entry(key.clone()) {
                    std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                    std::collections::hash_map::Entry::Vacant(entry) => {
                        let (stored, unknown) = match table.get(day).map_err(StoreError::io)? {
                            Some(value) => decode_or_set_aside(
                                self.txn,
                                DAY_SERVICES.name(),
                                day_in_words(name, *date),
                                value.value(),
                                decode_services_keeping,
                            )?,
                            None => Default::default(),
                        };
                        entry.insert(ServiceAcc {
                            total: stored,
                            seen: ByService::default(),
                            unknown,
                        })
                    }
                };
                // As hours: add what memory grew by since last seen (a shrink adds nothing).
                acc.total += *memory - acc.seen;
                acc.seen = *memory;
                table
                    .insert(
                        day,
                        encode_services_keeping(&acc.total, &acc.unknown).as_slice(),
                    )
                    .map_err(StoreError::io)?;
                touched.insert(key);
                written += 1;
            }
        }
        accs.retain(|key, _| touched.contains(key));
        Ok(written)
    }

    /// Whether local day `date` overlaps the hours this commit may write.
    fn window_holds(&self, date: Date) -> bool {
        let from = day_start(self.zone, date);
        let until = date
            .tomorrow()
            .map_or(i64::MAX, |d| day_start(self.zone, d));
        !(until <= self.window.from || from > self.window.until)
    }
}

/// A day's bytes per service: the total stored, and memory's value it includes.
#[derive(Debug, Default)]
struct ServiceAcc {
    total: ByService,
    seen: ByService,
    /// Entries of services a newer version wrote (see `decode_services_keeping`), kept as they
    /// are.
    unknown: Vec<u8>,
}

impl DayLists<'_> {
    /// Write each device's remote addresses of every day in the window that memory holds, at most
    /// `top` (device, remote) pairs a day, as [`DayLists::commit`] writes address lists; returns
    /// how many days were written.
    fn commit_pairs(
        &self,
        accs: &mut HashMap<(String, Date), DayAcc<Pair>>,
        top: usize,
    ) -> Result<usize, StoreError> {
        let mut written = 0;
        let mut touched: HashSet<(String, Date)> = HashSet::new();
        let mut table = self
            .txn
            .open_table(DAY_DEVICE_REMOTES)
            .map_err(StoreError::io)?;
        for ((name, snapshot), id) in self.view.interfaces.iter().zip(self.ids) {
            for (date, entries) in &snapshot.pairs {
                if !self.window_holds(*date) {
                    continue;
                }
                let key = (name.clone(), *date);
                let acc = match accs.entry(key.clone()) {
                    std::collections::hash_map::Entry::Occupied(acc) => acc.into_mut(),
                    std::collections::hash_map::Entry::Vacant(vacant) => {
                        let totals = crate::store::pairs::read_day(
                            self.txn,
                            &table,
                            *id,
                            *date,
                            &day_in_words(name, *date),
                        )?;
                        vacant.insert(DayAcc {
                            totals,
                            seen: HashMap::new(),
                        })
                    }
                };
                let list = acc.observe(entries, top);
                crate::store::pairs::write_day(self.txn, &mut table, *id, *date, &list)?;
                touched.insert(key);
                written += 1;
            }
        }
        // Keys memory no longer holds cannot change any more; a key that comes back is read anew.
        accs.retain(|key, _| touched.contains(key));
        Ok(written)
    }
}

/// Store how each written device list's devices are shown now: a device with a name or MAC
/// address now gets it; one without keeps what the day stored before (a name that went away
/// mid-day stays); devices no longer in the list are dropped.
fn store_labels(
    txn: &WriteTransaction,
    labeler: &Labeler,
    lists: &[(Day, Vec<IpAddr>)],
    interface_of: impl Fn(u32) -> String,
) -> Result<(), StoreError> {
    let mut table = txn.open_table(DAY_DEVICE_LABELS).map_err(StoreError::io)?;
    for (day, devices) in lists {
        let mut stored: HashMap<IpAddr, StoredLabel> =
            match table.get(*day).map_err(StoreError::io)? {
                Some(value) => decode_or_set_aside(
                    txn,
                    DAY_DEVICE_LABELS.name(),
                    day_in_words(&interface_of(day.scope), day.date),
                    value.value(),
                    decode_labels,
                )?
                .into_iter()
                .map(|label| (label.addr, label))
                .collect(),
                None => HashMap::new(),
            };
        let now = labeler.labels(devices);
        let labels: Vec<StoredLabel> = devices
            .iter()
            .zip(now)
            .filter_map(|(addr, label)| {
                let before = stored.remove(addr);
                let name = label
                    .name
                    .or_else(|| before.as_ref().and_then(|b| b.name.clone()));
                let mac = label.mac.map(|m| m.0).or(before.and_then(|b| b.mac));
                (name.is_some() || mac.is_some()).then_some(StoredLabel {
                    addr: *addr,
                    name,
                    mac,
                })
            })
            .collect();
        if labels.is_empty() {
            // A day keeps labels only of devices in its list (the read side relies on it):
            // labels of devices that left the list go with them.
            table.remove(*day).map_err(StoreError::io)?;
            continue;
        }
        table
            .insert(*day, encode_labels(&labels).as_slice())
            .map_err(StoreError::io)?;
    }
    Ok(())
}

#[derive(Debug)]
struct DayAcc<K = IpAddr> {
    totals: HashMap<K, UpDown>,
    seen: HashMap<K, UpDown>,
}

impl<K> Default for DayAcc<K> {
    fn default() -> Self {
        DayAcc {
            totals: HashMap::new(),
            seen: HashMap::new(),
        }
    }
}

impl<K: HeavyKey> DayAcc<K> {
    /// Take memory's `entries` of the day (cumulative since the process started) into the
    /// totals, and return the heaviest `top` totals, heaviest first (ties by key). Keeps the
    /// totals bounded: what was returned plus what memory holds.
    fn observe(&mut self, entries: &[HeavyEntry<K>], top: usize) -> Vec<(K, UpDown)> {
        let mut seen = HashMap::with_capacity(entries.len());
        for entry in entries {
            let mut one = Acc {
                total: self.totals.get(&entry.addr).copied().unwrap_or_default(),
                seen: self.seen.get(&entry.addr).copied().unwrap_or_default(),
            };
            // `bytes` is exact since the key entered the table; its inherited `error` is an
            // over-estimate and never stored.
            one.observe(entry.bytes);
            self.totals.insert(entry.addr, one.total);
            seen.insert(entry.addr, entry.bytes);
        }
        self.seen = seen;
        let mut list: Vec<(K, UpDown)> = self.totals.iter().map(|(k, b)| (*k, *b)).collect();
        list.sort_by(|a, b| b.1.total().cmp(&a.1.total()).then(a.0.cmp(&b.0)));
        list.truncate(top);
        let kept: HashSet<K> = list.iter().map(|(k, _)| *k).collect();
        let seen = &self.seen;
        self.totals
            .retain(|key, _| kept.contains(key) || seen.contains_key(key));
        list
    }
}

/// What one commit did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitReport {
    /// Hour buckets written (all scopes).
    pub hours: usize,
    /// Day address lists written (a day of device pairs counts as one).
    pub days: usize,
    /// Hours refused by this commit for the first time, with their bytes.
    pub refused: Vec<(HourStart, UpDown)>,
    pub took: Duration,
}

/// The persister's state: what it has taken from memory and the absolute totals it writes.
#[derive(Debug)]
pub struct Persister {
    store: Arc<Store>,
    hours: HashMap<(String, HourStart), Acc>,
    remote_days: HashMap<(String, Date), DayAcc>,
    device_days: HashMap<(String, Date), DayAcc>,
    service_days: HashMap<(String, Date), ServiceAcc>,
    pair_days: HashMap<(String, Date), DayAcc<Pair>>,
    /// Names and MAC addresses for the stored devices, as shown when they are committed.
    labeler: Option<Arc<Labeler>>,
    refused: HashSet<HourStart>,
    scope_ids: HashMap<String, u32>,
    lifetime: Lifetime,
    failures: u32,
    /// The last commit failed: close and reopen the file before the next.
    reopen: bool,
    /// Closed months summed since the last time none was left.
    months_summed: usize,
}

impl Persister {
    pub fn new(store: Arc<Store>) -> Persister {
        Persister {
            store,
            hours: HashMap::new(),
            remote_days: HashMap::new(),
            device_days: HashMap::new(),
            service_days: HashMap::new(),
            pair_days: HashMap::new(),
            labeler: None,
            refused: HashSet::new(),
            scope_ids: HashMap::new(),
            lifetime: Lifetime::start(),
            failures: 0,
            reopen: false,
            months_summed: 0,
        }
    }

    /// The same persister, storing with each day's devices how `labeler` shows them.
    #[must_use]
    pub fn with_labeler(mut self, labeler: Arc<Labeler>) -> Persister {
        self.labeler = Some(labeler);
        self
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Commit what `view` holds, at the system clock's time.
    ///
    /// # Errors
    /// When the write transaction fails; nothing is lost from memory and the next commit retries.
    pub fn commit(&mut self, view: &LiveView) -> Result<CommitReport, StoreError> {
        let lived = self.lifetime.seconds();
        self.commit_at(view, unix_now(), lived)
    }

    /// Commit what `view` holds as if the clock read `now` after `lived` seconds of process life.
    ///
    /// # Errors
    /// As [`Persister::commit`].
    pub fn commit_at(
        &mut self,
        view: &LiveView,
        now: i64,
        lived: i64,
    ) -> Result<CommitReport, StoreError> {
        let outcome = self.try_commit(view, now, lived);
        if outcome.is_err() {
            self.reopen = true;
        }
        outcome
    }

    fn try_commit(
        &mut self,
        view: &LiveView,
        now: i64,
        lived: i64,
    ) -> Result<CommitReport, StoreError> {
        let started = Instant::now();
        if self.reopen {
            // redb refuses everything after an I/O error until the file is opened again.
            self.store.reopen()?;
            self.reopen = false;
            self.scope_ids.clear();
        }
        let window = Window::at(now, lived);
        let mut report = CommitReport::default();

        // Which live hours may be stored (judged once per hour, for all scopes alike).
        let all_hours = view.all_hours();
        for (hour, bytes) in &all_hours {
            if !self.refused.contains(hour) && !window.contains(*hour) {
                self.refused.insert(*hour);
                report.refused.push((*hour, *bytes));
            }
        }
        self.refused.retain(|hour| all_hours.contains_key(hour));

        let store = Arc::clone(&self.store);
        let mut txn = store.begin_write()?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| StoreError::Io { why: e.to_string() })?;
        txn.set_quick_repair(true);

        let mut touched_hours: HashSet<(String, HourStart)> = HashSet::new();
        let mut written: Vec<(u32, HourStart)> = Vec::new();
        let mut scopes: Vec<(String, BTreeMap<HourStart, UpDown>)> =
            vec![(ALL_SCOPE_NAME.to_string(), all_hours)];
        for (name, snapshot) in &view.interfaces {
            scopes.push((name.clone(), snapshot.hours.clone()));
        }
        for (scope, hours) in &scopes {
            let id = self.scope_id(&txn, scope)?;
            let mut table = txn.open_table(HOURS).map_err(StoreError::io)?;
            for (hour, memory) in hours {
                if self.refused.contains(hour) {
                    continue;
                }
                let key = (scope.clone(), *hour);
                let acc = match self.hours.get_mut(&key) {
                    Some(acc) => acc,
                    None => {
                        let stored = table
                            .get(Hour {
                                scope: id,
                                start: *hour,
                            })
                            .map_err(StoreError::io)?
                            .map(|v| v.value())
                            .unwrap_or_default();
                        self.hours.entry(key.clone()).or_insert(Acc {
                            total: stored,
                            seen: UpDown::default(),
                        })
                    }
                };
                acc.observe(*memory);
                table
                    .insert(
                        Hour {
                            scope: id,
                            start: *hour,
                        },
                        acc.total,
                    )
                    .map_err(StoreError::io)?;
                touched_hours.insert(key);
                written.push((id, *hour));
                report.hours += 1;
            }
        }
        // Keys memory no longer holds cannot change any more; a key that comes back is read anew.
        self.hours.retain(|key, _| touched_hours.contains(key));

        let mut ids = Vec::with_capacity(view.interfaces.len());
        for (name, _) in &view.interfaces {
            ids.push(self.scope_id(&txn, name)?);
        }
        let day_lists = DayLists {
            txn: &txn,
            view,
            ids: &ids,
            zone: store.zone(),
            window: &window,
        };
        report.days += day_lists
            .commit(
                Addresses::Remotes,
                &mut self.remote_days,
                store.top_per_day(),
            )?
            .len();
        let devices = day_lists.commit(
            Addresses::Devices,
            &mut self.device_days,
            store.devices_per_day(),
        )?;
        report.days += devices.len();
        report.days += day_lists.commit_pairs(&mut self.pair_days, store.top_per_day())?;
        if let Some(labeler) = &self.labeler {
            let interface_of = |scope: u32| {
                ids.iter()
                    .position(|id| *id == scope)
                    .and_then(|at| view.interfaces.get(at))
                    .map_or_else(|| format!("scope {scope}"), |(name, _)| name.clone())
            };
            store_labels(&txn, labeler, &devices, interface_of)?;
        }
        report.days += day_lists.commit_services(&mut self.service_days)?;

        {
            let mut meta = txn.open_table(META).map_err(StoreError::io)?;
            meta.insert(META_LAST_COMMIT, &now.to_le_bytes()[..])
                .map_err(StoreError::io)?;
        }
        let mut marks = Committed {
            refused: self.refused.clone(),
            last_commit: Some(now),
            ..Committed::default()
        };
        for ((scope, hour), acc) in &self.hours {
            marks
                .hours
                .entry(scope.clone())
                .or_default()
                .insert(*hour, acc.seen);
        }
        for ((name, date), acc) in &self.remote_days {
            marks
                .remotes
                .entry(name.clone())
                .or_default()
                .insert(*date, acc.seen.clone());
        }
        for ((name, date), acc) in &self.device_days {
            marks
                .devices
                .entry(name.clone())
                .or_default()
                .insert(*date, acc.seen.clone());
        }
        for ((name, date), acc) in &self.service_days {
            marks
                .services
                .entry(name.clone())
                .or_default()
                .insert(*date, acc.seen);
        }
        for ((name, date), acc) in &self.pair_days {
            marks
                .pairs
                .entry(name.clone())
                .or_default()
                .insert(*date, acc.seen.clone());
        }
        // Readers get the file's new days and these marks together, never one without the other
        // (which would count the same bytes twice or not at all).
        store.commit(txn, written, Some(marks))?;
        report.took = started.elapsed();
        Ok(report)
    }

    /// The id of `scope`, created in this transaction when it is new.
    fn scope_id(&mut self, txn: &WriteTransaction, scope: &str) -> Result<u32, StoreError> {
        if scope == ALL_SCOPE_NAME {
            return Ok(ALL_SCOPE);
        }
        if let Some(id) = self.scope_ids.get(scope) {
            return Ok(*id);
        }
        let id = crate::store::query::scope_id_for_write(txn, scope)?;
        self.scope_ids.insert(scope.to_string(), id);
        Ok(id)
    }

    /// Commit, and log the outcome the way an owner wants to read it: a failure once per
    /// interval with its reason, the recovery once, refused hours once each.
    pub fn commit_and_log(&mut self, view: &LiveView) -> Result<CommitReport, StoreError> {
        let outcome = self.commit(view);
        match &outcome {
            Ok(report) => {
                if self.failures > 0 {
                    info!(
                        "saved to {} again after {} failed attempt(s); nothing counted in memory was lost",
                        self.store.path().display(),
                        self.failures
                    );
                }
                self.failures = 0;
                debug!(
                    "committed {} hours and {} days of addresses in {} ms",
                    report.hours,
                    report.days,
                    report.took.as_millis()
                );
                for (hour, bytes) in &report.refused {
                    warn!(
                        "not storing {} bytes counted in the hour {} (system clock time): that time is outside what this process can have seen, so the clock was wrong or has jumped",
                        bytes.total(),
                        self.store.zone().hour_label(*hour)
                    );
                }
            }
            Err(error) => {
                self.failures += 1;
                warn!(
                    "could not save the counts to {}: {error}; they stay in memory and saving is retried next interval",
                    self.store.path().display()
                );
            }
        }
        outcome
    }

    /// Sum a step of the closed months that have no sum yet ([`Store::sum_closed_months`]) and
    /// log what was done; `true` while months are left. A failure is logged and waits for the
    /// next commit: reads add those months by day meanwhile, so nothing is wrong, only slower.
    pub fn sum_closed_months_and_log(&mut self) -> bool {
        let Ok(yesterday) = self.store.zone().date_of(unix_now()).yesterday() else {
            return false;
        };
        match self.store.sum_closed_months(yesterday, MONTHS_STEP) {
            Ok(done) => {
                self.months_summed += done.summed;
                if done.summed > 0 {
                    debug!(
                        "summed {} closed months of devices and their remote addresses ({} lists cut to 4,096); {} left",
                        done.summed, done.cut, done.left
                    );
                }
                if done.left == 0 && self.months_summed > 0 {
                    // Once after start (a file upgraded in place) and once a month after.
                    info!(
                        "summed {} closed months of devices and their remote addresses, so ranges over years read one list a month",
                        self.months_summed
                    );
                    self.months_summed = 0;
                }
                done.left > 0
            }
            Err(error) => {
                warn!(
                    "could not sum the closed months of {}: {error}; ranges over them are read day by day, and summing is retried after the next commit",
                    self.store.path().display()
                );
                self.reopen = true;
                false
            }
        }
    }

    /// Run on a thread named `persister`, committing every `interval` until [`PersisterThread::finish`].
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub fn spawn(
        mut self,
        live: Arc<LiveState>,
        interval: Duration,
    ) -> std::io::Result<PersisterThread> {
        let (sender, receiver) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("persister".into())
            .spawn(move || {
                let mut next_commit = Instant::now() + interval;
                let mut months_left = true;
                loop {
                    // Closed months left to sum are summed in short steps between commits.
                    let until_commit = next_commit.saturating_duration_since(Instant::now());
                    let wait = if months_left {
                        until_commit.min(MONTHS_PAUSE)
                    } else {
                        until_commit
                    };
                    // A message (or the sender gone) means capture has stopped: make the last
                    // commit.
                    if let Err(RecvTimeoutError::Disconnected) | Ok(()) =
                        receiver.recv_timeout(wait)
                    {
                        break;
                    }
                    if Instant::now() >= next_commit {
                        next_commit = Instant::now() + interval;
                        if self.commit_and_log(&LiveView::from_state(&live)).is_err() {
                            continue;
                        }
                        months_left = true;
                    }
                    if months_left {
                        months_left = self.sum_closed_months_and_log();
                    }
                }
                self.commit_and_log(&LiveView::from_state(&live))
            })?;
        Ok(PersisterThread { sender, thread })
    }
}

/// The running persister thread.
#[derive(Debug)]
pub struct PersisterThread {
    sender: mpsc::Sender<()>,
    thread: JoinHandle<Result<CommitReport, StoreError>>,
}

impl PersisterThread {
    /// Make the final commit (call after capture has stopped) and wait for it.
    ///
    /// # Errors
    /// When the final commit failed, or the thread died.
    pub fn finish(self) -> Result<CommitReport, StoreError> {
        let _ = self.sender.send(());
        self.thread.join().unwrap_or_else(|_| {
            Err(StoreError::Io {
                why: "the persister thread stopped unexpectedly".into(),
            })
        })
    }
}
