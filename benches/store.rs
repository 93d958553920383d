//! What the history costs on a real redb file in a temp dir: its size after ten years, the two
//! queries the web page asks most (ten years summed by month, goal ≤ 1 ms; the last 30 days by day,
//! goal ≤ 0.2 ms), and one persister commit (goal ≤ 10 ms on this disk, two `fsync`s included).
//! Issue 14's goal for devices and services: a range longer than a year in under 50 ms
//! (`ours_devices_all`, `ours_services_all`: the whole history, 50 devices and 12 services a day).
//! The same goal on files of their own (ten years written straight into redb, then opened as a
//! monitor would): `*_full_all` is the worst case the defaults allow (`DEVICES_PER_DAY` = 256
//! devices every day, 255 of them with a new IPv6 address each day, so 934,000 different
//! addresses; every service; the NAS holding all 1,000 of a day's (device, remote) pairs, each
//! remote new), `*_realistic_all` a home of 30 IPv4 devices and 20 daily IPv6 addresses, 12
//! services, the NAS with 300 pairs a day, half to the same remotes. `devices_*` is
//! `top_devices`, `api_devices_*` what `/api/devices` reads (the devices, then their labels),
//! `labels_unlabelled_*` the labels of 20 devices that have none (every day is looked through),
//! `remotes_of_*` `/api/top_ips?device=` of the NAS, `services_*` `/api/services`; each file's
//! tables are printed in bytes a day (redb's pages, from its table statistics).
//!
//! Setup: 87,600 hours (2020-01-02 to 2029-12-30, Europe/Berlin) of interface `eth0`, and so of the
//! all-interface scope too, with 1,000 remote addresses a day, written through [`Persister`] one
//! year per transaction (`commit_at` with a clock and lifetime that make every hour plausible: the
//! persister is the only writer of live history). Queries run through [`ReadView::series`] with
//! empty live counts, the [`ReadView`] opened inside the timed loop as a web request does.
//! `ours_read_summary` is what `/api/summary` asks (a view with a running monitor's memory, then
//! today, this month and this year); `ours_today_hours` is today's hourly series (read from the
//! file, the one series that is). The file is opened again after the setup, as by a restart, and
//! that open's time and the memory the days cost are printed.
//!
//! Reference in the same run: the same two queries in SQLite over the original's exact schema and
//! views (`traffic_hourly` filled with the same 87,600 rows, `traffic_daily` / `traffic_monthly`
//! grouping by `substr(hour_ts, …)`, from the original README). Its `hour_ts` labels are UTC so the
//! `UNIQUE` column keeps all 87,600 rows (local labels repeat an hour when clocks fall back).
//!
//! Commits: `commit_touched` is what 300 s of traffic on two interfaces touches (two hours each,
//! the interval straddling an hour, and today's 1,000 addresses each); `commit_steady` is what the
//! persister really rewrites every interval once a monitor has run for days, since it writes every
//! hour and day memory holds (`HOURS_KEPT` = 50 hours and `DAYS_KEPT` = 2 days of 2,000 addresses
//! per interface). Both land on the last days of the ten-year file.
//!
//! The persister's memory is measured by a counting global allocator: the heap freed when a
//! steady-state persister is dropped.
//!
//! The one-off upgrade of a schema version 1 file of the same history (written straight into
//! redb in that layout) is timed once and printed with the file size before and after.
//!
//! In test mode (`cargo test --benches`, or `--test`) the history is one year instead of ten, so the run stays
//! a few seconds; the figures printed then are not the goal's.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use criterion::Criterion;
use jiff::civil::Date;
use nettraffic_sentinel::clock::{HourStart, Zone};
use nettraffic_sentinel::count::heavy::HeavyEntry;
use nettraffic_sentinel::count::live::LiveSnapshot;
use nettraffic_sentinel::count::{ByService, UpDown};
use nettraffic_sentinel::persister::Persister;
use nettraffic_sentinel::service::Service;
use nettraffic_sentinel::store::PLAUSIBLE_FROM;
use nettraffic_sentinel::store::days::day_start;
use nettraffic_sentinel::store::tally::Summed;
use nettraffic_sentinel::store::{Granularity, LiveView, ReadView, Scope, Store};
use rusqlite::Connection;

/// Live heap bytes, so the persister's footprint can be read without an external profiler.
struct Counting;

static HEAP: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HEAP.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HEAP.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        HEAP.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const GROUP: &str = "store";
const OURS_MONTHLY: &str = "ours_monthly_all";
const SQLITE_MONTHLY: &str = "sqlite_monthly_all";
const OURS_DAILY: &str = "ours_daily_30";
const SQLITE_DAILY: &str = "sqlite_daily_30";
const OURS_SUMMARY: &str = "ours_read_summary";
const OURS_TODAY_HOURS: &str = "ours_today_hours";
const OURS_DEVICES_ALL: &str = "ours_devices_all";
const OURS_SERVICES_ALL: &str = "ours_services_all";
const COMMIT_TOUCHED: &str = "commit_touched";
const COMMIT_STEADY: &str = "commit_steady";

const INTERFACE: &str = "eth0";
const SECOND_INTERFACE: &str = "eth1";
const ADDRESSES_PER_DAY: u32 = 1000;
/// Devices with public traffic a day: a home with many phones, TVs, VMs and containers.
const DEVICES_PER_DAY: u32 = 50;
/// The live shard's per-day capacity with the default TOP_IPS_PER_DAY, as `run` makes it.
const LIVE_CAPACITY: u32 = 2000;
const HOURS_KEPT: i64 = 50;
const DAYS_KEPT: i64 = 2;

/// A fresh directory under the system temp dir, removed (with its contents) when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let path = std::env::temp_dir().join(format!("nts-bench-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn zone() -> Zone {
    Zone::named("Europe/Berlin").expect("the bundled tz database has Europe/Berlin")
}

/// Deterministic, uneven byte counts (a multiplicative hash), so no page compresses to a pattern.
fn bytes_for(seed: u64) -> UpDown {
    let mix = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    UpDown {
        up: 1_000_000 + (mix >> 40),
        down: 10_000_000 + (mix >> 36),
    }
}

/// The `i`-th remote of day number `day`: different addresses each day (so the lists do not
/// repeat), one in ten IPv6 as on a dual-stack line.
fn remote(day: u32, i: u32) -> IpAddr {
    let n = day.wrapping_mul(7919).wrapping_add(i);
    if i % 10 == 9 {
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0x0db8,
            0,
            0,
            0,
            0,
            (n >> 16) as u16,
            n as u16,
        ))
    } else {
        IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(11, 0, 0, 0)) + n))
    }
}

fn day_list(day: u32, count: u32, grow: u64) -> Vec<HeavyEntry> {
    let mut list: Vec<HeavyEntry> = (0..count)
        .map(|i| {
            // Heaviest first, as the live table hands them over.
            let base = u64::from(count - i) * 10_000;
            HeavyEntry {
                addr: remote(day, i),
                bytes: UpDown {
                    up: base + grow,
                    down: base * 3 + grow,
                },
                error: 0,
            }
        })
        .collect();
    list.shrink_to_fit();
    list
}

/// A day's bytes by service: twelve of the set, different amounts each day.
fn day_services(day: u32) -> ByService {
    Service::ALL
        .iter()
        .take(12)
        .enumerate()
        .map(|(i, service)| {
            let base = u64::from(day % 97 + 1) * (i as u64 + 1) * 1_000_000;
            (
                *service,
                UpDown {
                    up: base,
                    down: base * 4,
                },
            )
        })
        .collect()
}

/// The ten (or, under `--test`, one) years of history and what the queries ask for.
struct History {
    hours: Vec<HourStart>,
    first: Date,
    last: Date,
}

impl History {
    fn new(zone: &Zone, years: i64) -> History {
        // 2020-01-01 00:00 in Berlin is still 2019 in UTC, before what the persister accepts.
        let start = day_start(zone, Date::constant(2020, 1, 2));
        assert!(start >= PLAUSIBLE_FROM);
        // Every Berlin hour starts on a whole UTC hour, so stepping by 3600 s visits each once.
        let hours: Vec<HourStart> = (0..years * 8760).map(|i| start + i * 3600).collect();
        let last = zone.date_of(*hours.last().expect("hours"));
        History {
            hours,
            first: Date::constant(2020, 1, 2),
            last,
        }
    }

    fn last_hour(&self) -> HourStart {
        *self.hours.last().expect("hours")
    }
}

/// `commit_at` arguments that make every hour since 2020 plausible: a clock just after `hour` and a
/// process that has lived since before 2020.
fn clock_after(hour: HourStart) -> (i64, i64) {
    let now = hour + 300;
    (now, now - PLAUSIBLE_FROM + 3600)
}

/// Write the history through the persister, one calendar year's worth of hours per transaction.
fn fill_store(store: &Arc<Store>, zone: &Zone, history: &History) -> Duration {
    let started = Instant::now();
    let mut persister = Persister::new(Arc::clone(store));
    for chunk in history.hours.chunks(8760) {
        let mut snapshot = LiveSnapshot::default();
        for hour in chunk {
            snapshot.hours.insert(*hour, bytes_for(*hour as u64));
        }
        let mut date = zone.date_of(chunk[0]);
        let end = zone.date_of(*chunk.last().expect("chunk"));
        while date <= end {
            let number = (day_start(zone, date) / 86_400) as u32;
            snapshot
                .remotes
                .insert(date, day_list(number, ADDRESSES_PER_DAY, 0));
            snapshot
                .devices
                .insert(date, day_list(number ^ 0x5555, DEVICES_PER_DAY, 0));
            snapshot.services.insert(date, day_services(number));
            date = date.tomorrow().expect("date");
        }
        let view = LiveView {
            interfaces: vec![(INTERFACE.into(), snapshot)],
        };
        let (now, lived) = clock_after(*chunk.last().expect("chunk"));
        let report = persister.commit_at(&view, now, lived).expect("commit");
        assert!(report.refused.is_empty(), "setup hours were refused");
    }
    started.elapsed()
}

/// The history as schema version 1 stored it, written straight into redb (that layout's day lists:
/// `family | address | up u64 LE | down u64 LE`), then opened as a monitor of this version does:
/// the time the one-off upgrade takes, and the file size before and after it.
fn upgrade_from_v1(path: &Path, zone: &Zone, history: &History) -> (Duration, u64, u64) {
    use nettraffic_sentinel::store::schema::{Counts, DAY_REMOTES, Day, HOURS, Hour, META, SCOPES};
    {
        let db = redb::Database::create(path).expect("create a version 1 file");
        let txn = db.begin_write().expect("write");
        {
            let mut meta = txn.open_table(META).expect("meta");
            meta.insert("format", &b"nettraffic-sentinel history"[..])
                .expect("format");
            meta.insert("schema_version", &1u32.to_le_bytes()[..])
                .expect("version");
            meta.insert("created", &0i64.to_le_bytes()[..])
                .expect("created");
            let mut scopes = txn.open_table(SCOPES).expect("scopes");
            scopes.insert("", 0).expect("all");
            scopes.insert(INTERFACE, 1).expect("interface");
            let mut hours = txn.open_table(HOURS).expect("hours");
            for hour in &history.hours {
                for scope in [0, 1] {
                    let key = Hour {
                        scope,
                        start: *hour,
                    };
                    hours.insert(key, bytes_for(*hour as u64)).expect("hour");
                }
            }
            let mut days = txn.open_table(DAY_REMOTES).expect("days");
            let mut date = history.first;
            while date <= history.last {
                let number = (day_start(zone, date) / 86_400) as u32;
                let mut list = Vec::new();
                for entry in day_list(number, ADDRESSES_PER_DAY, 0) {
                    match entry.addr {
                        IpAddr::V4(v4) => {
                            list.push(4);
                            list.extend_from_slice(&v4.octets());
                        }
                        IpAddr::V6(v6) => {
                            list.push(6);
                            list.extend_from_slice(&v6.octets());
                        }
                    }
                    list.extend_from_slice(&<Counts as redb::Value>::as_bytes(&entry.bytes));
                }
                days.insert(Day { scope: 1, date }, list.as_slice())
                    .expect("list");
                date = date.tomorrow().expect("date");
            }
        }
        txn.commit().expect("commit");
    }
    let before = std::fs::metadata(path).expect("size").len();
    let started = Instant::now();
    drop(Store::open(path, zone.clone(), 1000).expect("the version 1 file is upgraded"));
    let took = started.elapsed();
    (took, before, std::fs::metadata(path).expect("size").len())
}

/// The original's schema and views, verbatim from its README, filled with the same hours.
fn fill_sqlite(path: &Path, history: &History) -> (Connection, Duration) {
    let started = Instant::now();
    let mut db = Connection::open(path).expect("sqlite open");
    db.execute_batch(
        "CREATE TABLE traffic_hourly (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            hour_ts    TEXT NOT NULL UNIQUE,
            up_bytes   INTEGER NOT NULL DEFAULT 0,
            down_bytes INTEGER NOT NULL DEFAULT 0,
            created_at TEXT,
            updated_at TEXT
        );
        CREATE VIEW traffic_daily AS
        SELECT
            substr(hour_ts, 1, 10) AS day,
            SUM(up_bytes)              AS up_bytes,
            SUM(down_bytes)            AS down_bytes,
            SUM(up_bytes + down_bytes) AS total_bytes
        FROM traffic_hourly
        GROUP BY substr(hour_ts, 1, 10);
        CREATE VIEW traffic_monthly AS
        SELECT
            substr(hour_ts, 1, 7) AS month,
            SUM(up_bytes)              AS up_bytes,
            SUM(down_bytes)            AS down_bytes,
            SUM(up_bytes + down_bytes) AS total_bytes
        FROM traffic_hourly
        GROUP BY substr(hour_ts, 1, 7);",
    )
    .expect("sqlite schema");
    let utc = Zone::utc();
    let txn = db.transaction().expect("sqlite transaction");
    {
        let mut insert = txn
            .prepare(
                "INSERT INTO traffic_hourly (hour_ts, up_bytes, down_bytes, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?4)",
            )
            .expect("prepare");
        for hour in &history.hours {
            let label = format!("{}:00", utc.hour_label(*hour));
            let bytes = bytes_for(*hour as u64);
            insert
                .execute(rusqlite::params![
                    label,
                    bytes.up as i64,
                    bytes.down as i64,
                    label
                ])
                .expect("insert");
        }
    }
    txn.commit().expect("sqlite commit");
    (db, started.elapsed())
}

type Row = (String, i64, i64, i64);

fn sqlite_rows(db: &Connection, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Vec<Row> {
    let mut statement = db.prepare_cached(sql).expect("prepare");
    statement
        .query_map(params, |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

const SQLITE_MONTHLY_SQL: &str =
    "SELECT month, up_bytes, down_bytes, total_bytes FROM traffic_monthly ORDER BY month";
const SQLITE_DAILY_SQL: &str = "SELECT day, up_bytes, down_bytes, total_bytes FROM traffic_daily \
     WHERE day >= ?1 AND day <= ?2 ORDER BY day";

fn ours(store: &Store, first: Date, last: Date, granularity: Granularity) -> usize {
    let read: ReadView = store.read_stored().expect("read");
    read.series(&Scope::All, first, last, granularity)
        .expect("series")
        .len()
}

/// What `/api/summary` asks: a view with memory's live counts, then today, this month and this
/// year, all interfaces together.
fn summary(store: &Store, live: &LiveView, today: Date) -> UpDown {
    let read = store.read(live).expect("read");
    let month = today.first_of_month();
    let year = today.first_of_year();
    let mut sum = UpDown::default();
    for first in [today, month, year] {
        sum += read.totals(&Scope::All, first, today).expect("totals");
    }
    sum
}

/// Two interfaces' live snapshots holding `hours` hours and `days` days of `addresses` each, the
/// last of them on the history's last hour and day.
fn interval_view(
    zone: &Zone,
    history: &History,
    hours: i64,
    days: i64,
    addresses: u32,
) -> LiveView {
    let last = history.last_hour();
    let interfaces = [INTERFACE, SECOND_INTERFACE]
        .iter()
        .map(|name| {
            let mut snapshot = LiveSnapshot::default();
            for i in 0..hours {
                let hour = last - i * 3600;
                snapshot.hours.insert(hour, bytes_for(hour as u64));
            }
            let mut date = zone.date_of(last);
            for _ in 0..days {
                let number = (day_start(zone, date) / 86_400) as u32;
                snapshot
                    .remotes
                    .insert(date, day_list(number, addresses, 0));
                date = date.yesterday().expect("date");
            }
            (name.to_string(), snapshot)
        })
        .collect();
    LiveView { interfaces }
}

/// What another 300 s of capture adds to memory's cumulative counts.
fn grow(view: &mut LiveView) {
    for (_, snapshot) in &mut view.interfaces {
        for bytes in snapshot.hours.values_mut() {
            bytes.up += 1500;
            bytes.down += 9000;
        }
        for list in snapshot.remotes.values_mut() {
            for entry in list.iter_mut().take(50) {
                entry.bytes.up += 100;
                entry.bytes.down += 600;
            }
        }
    }
}

fn bench_commit(
    c: &mut Criterion,
    name: &str,
    store: &Arc<Store>,
    view: &mut LiveView,
    clock: (i64, i64),
) {
    let mut persister = Persister::new(Arc::clone(store));
    // The first commit of a process reads each key's stored value; later ones do not.
    persister.commit_at(view, clock.0, clock.1).expect("commit");
    let mut group = c.benchmark_group(GROUP);
    group.sample_size(30);
    group.bench_function(name, |b| {
        b.iter(|| {
            grow(view);
            persister.commit_at(view, clock.0, clock.1).expect("commit")
        });
    });
    group.finish();
}

/// The persister's own heap in the steady state: what dropping it frees.
fn persister_heap(store: &Arc<Store>, view: &LiveView, clock: (i64, i64)) -> isize {
    let mut persister = Persister::new(Arc::clone(store));
    persister.commit_at(view, clock.0, clock.1).expect("commit");
    persister.commit_at(view, clock.0, clock.1).expect("commit");
    let before = HEAP.load(Ordering::Relaxed);
    drop(persister);
    before - HEAP.load(Ordering::Relaxed)
}

/// Issue 14's worst case and a realistic home, each in a file of its own written straight into
/// redb (as the persister would have left ten years of them): hours, `day_devices` with their
/// labels, `day_services` and `day_device_remotes` of one interface.
#[derive(Clone, Copy)]
struct DeviceMix {
    name: &'static str,
    /// Devices with the same address every day (IPv4 leases).
    stable: u32,
    /// Devices with a new address every day (IPv6 temporary addresses).
    rotating: u32,
    /// Services with traffic a day.
    services: usize,
    /// Pairs a day over all devices (`TOP_IPS_PER_DAY`), and how many of them the NAS holds.
    pairs: u32,
    nas_pairs: u32,
    /// Of the NAS's pairs, how many go to the same remote addresses every day.
    nas_recurring: u32,
}

/// `DEVICES_PER_DAY`'s default full every day with a new address each (the worst case the
/// defaults allow), every service, and the NAS holding the whole day's 1,000 pairs, each with a
/// new remote address.
const FULL: DeviceMix = DeviceMix {
    name: "full",
    stable: 1,
    rotating: 255,
    services: Service::COUNT,
    pairs: 1000,
    nas_pairs: 1000,
    nas_recurring: 0,
};

/// 50 devices a day: 30 IPv4 leases and 20 IPv6 temporary addresses that change daily; 12
/// services; the NAS holds 300 of the day's 1,000 pairs, half of them to the same addresses.
const REALISTIC: DeviceMix = DeviceMix {
    name: "realistic",
    stable: 30,
    rotating: 20,
    services: 12,
    pairs: 1000,
    nas_pairs: 300,
    nas_recurring: 150,
};

/// The NAS, always the first stable device.
const NAS_V4: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
const NAS: IpAddr = IpAddr::V4(NAS_V4);

fn device_of(mix: &DeviceMix, day: u32, i: u32) -> IpAddr {
    if i < mix.stable {
        IpAddr::V4(Ipv4Addr::from(u32::from(NAS_V4) + i))
    } else {
        IpAddr::V6(Ipv6Addr::new(
            0xfd00,
            0,
            0,
            0,
            (day >> 16) as u16,
            day as u16,
            0,
            (i - mix.stable) as u16,
        ))
    }
}

/// Write ten years of `mix` into a new history at `path`; returns each table's stored bytes.
fn fill_devices(
    path: &Path,
    zone: &Zone,
    history: &History,
    mix: &DeviceMix,
) -> Vec<(String, u64)> {
    use nettraffic_sentinel::store::schema::{
        DAY_DEVICE_LABELS, DAY_DEVICE_REMOTES, DAY_DEVICES, DAY_SERVICES, Day, DeviceDay, HOURS,
        Hour, RemoteBytes, SCOPES, StoredLabel, encode_labels, encode_remotes, encode_services,
    };
    use redb::{ReadableDatabase, ReadableTableMetadata};
    drop(Store::open(path, zone.clone(), 1000).expect("create the history"));
    let db = redb::Database::open(path).expect("open with redb");
    let txn = db.begin_write().expect("write");
    {
        let mut scopes = txn.open_table(SCOPES).expect("scopes");
        scopes.insert(INTERFACE, 1).expect("interface");
        let mut hours = txn.open_table(HOURS).expect("hours");
        for hour in &history.hours {
            for scope in [0, 1] {
                let key = Hour {
                    scope,
                    start: *hour,
                };
                hours.insert(key, bytes_for(*hour as u64)).expect("hour");
            }
        }
        let mut devices = txn.open_table(DAY_DEVICES).expect("devices");
        let mut labels = txn.open_table(DAY_DEVICE_LABELS).expect("labels");
        let mut services = txn.open_table(DAY_SERVICES).expect("services");
        let mut pairs = txn.open_table(DAY_DEVICE_REMOTES).expect("pairs");
        let mut date = history.first;
        while date <= history.last {
            let day = (day_start(zone, date) / 86_400) as u32;
            let key = Day { scope: 1, date };
            let count = mix.stable + mix.rotating;
            let list: Vec<RemoteBytes> = (0..count)
                .map(|i| RemoteBytes {
                    addr: device_of(mix, day, i),
                    bytes: bytes_for(u64::from(day) << 16 | u64::from(count - i)),
                })
                .collect();
            let mut list = list;
            nettraffic_sentinel::store::schema::keep_heaviest(&mut list, usize::MAX);
            devices
                .insert(key, encode_remotes(&list).as_slice())
                .expect("devices");
            let named: Vec<StoredLabel> = list
                .iter()
                .enumerate()
                .map(|(i, r)| StoredLabel {
                    addr: r.addr,
                    name: Some(format!("device-{i:03}")),
                    mac: Some([2, 0, 0, (day >> 8) as u8, day as u8, i as u8]),
                })
                .collect();
            labels
                .insert(key, encode_labels(&named).as_slice())
                .expect("labels");
            let by_service: ByService = Service::ALL
                .iter()
                .take(mix.services)
                .enumerate()
                .map(|(i, s)| (*s, bytes_for(u64::from(day) * 64 + i as u64)))
                .collect();
            services
                .insert(key, encode_services(&by_service).as_slice())
                .expect("services");
            // The NAS's pairs, then the rest of the day's over the other devices in turn.
            let mut by_device: std::collections::BTreeMap<IpAddr, Vec<RemoteBytes>> =
                std::collections::BTreeMap::new();
            for i in 0..mix.pairs {
                let (device, remote_addr) = if i < mix.nas_pairs {
                    let remote_addr = if i < mix.nas_recurring {
                        remote(0, i)
                    } else {
                        remote(day, i)
                    };
                    (NAS, remote_addr)
                } else {
                    let others = (count - 1).max(1);
                    (device_of(mix, day, 1 + (i % others)), remote(day, i))
                };
                by_device.entry(device).or_default().push(RemoteBytes {
                    addr: remote_addr,
                    bytes: bytes_for(u64::from(day) << 20 | u64::from(i)),
                });
            }
            for (device, mut list) in by_device {
                nettraffic_sentinel::store::schema::keep_heaviest(&mut list, usize::MAX);
                pairs
                    .insert(
                        DeviceDay {
                            scope: 1,
                            date,
                            device,
                        },
                        encode_remotes(&list).as_slice(),
                    )
                    .expect("pairs");
            }
            date = date.tomorrow().expect("date");
        }
    }
    txn.commit().expect("commit");
    let txn = db.begin_read().expect("read");
    let mut sizes = Vec::new();
    macro_rules! size {
        ($table:expr, $name:expr) => {
            let stats = txn
                .open_table($table)
                .expect("table")
                .stats()
                .expect("stats");
            sizes.push((
                $name.to_string(),
                stats.stored_bytes() + stats.metadata_bytes() + stats.fragmented_bytes(),
            ));
        };
    }
    size!(DAY_DEVICES, "day_devices");
    size!(DAY_DEVICE_LABELS, "day_device_labels");
    size!(DAY_SERVICES, "day_services");
    size!(DAY_DEVICE_REMOTES, "day_device_remotes");
    sizes
}

/// The devices and device-remote queries of issue 14 over the whole history (ten years), on the
/// worst case the defaults allow and on a realistic home; prints what each table costs a day.
fn bench_devices(c: &mut Criterion, dir: &Path, zone: &Zone, history: &History) {
    let days = history.hours.len() as f64 / 24.0;
    for mix in [FULL, REALISTIC] {
        let path = dir.join(format!("devices-{}.redb", mix.name));
        let sizes = fill_devices(&path, zone, history, &mix);
        for (table, bytes) in &sizes {
            eprintln!(
                "{}: {table}: {:.0} bytes a day, {:.1} MiB over {days:.0} days",
                mix.name,
                *bytes as f64 / days,
                mib(*bytes)
            );
        }
        eprintln!(
            "{}: file {:.1} MiB",
            mix.name,
            mib(std::fs::metadata(&path).expect("size").len())
        );
        let store = Store::open(&path, zone.clone(), 1000).expect("open");
        let mut group = c.benchmark_group(GROUP);
        group.sample_size(10);
        // As a file upgraded in place reads until its closed months are summed.
        bench_top_devices(
            &mut group,
            &format!("{}_all_by_day", mix.name),
            &store,
            history,
        );
        bench_remotes_of(
            &mut group,
            &format!("{}_all_by_day", mix.name),
            &store,
            history,
        );
        let started = std::time::Instant::now();
        let done = store
            .sum_closed_months(
                history.last.tomorrow().expect("date"),
                std::time::Duration::MAX,
            )
            .expect("sum the closed months");
        let took = started.elapsed();
        drop(store);
        eprintln!(
            "{}: summing {} closed months took {:.2} s ({} lists cut to 4,096); month_devices and month_device_remotes {:.1} MiB",
            mix.name,
            done.summed,
            took.as_secs_f64(),
            done.cut,
            mib(month_sums_bytes(&path)),
        );
        let store = Store::open(&path, zone.clone(), 1000).expect("open");
        bench_top_devices(&mut group, &format!("{}_all", mix.name), &store, history);
        // What `/api/devices` asks: the heaviest devices, then how they were shown.
        group.bench_function(format!("api_devices_{}_all", mix.name), |b| {
            b.iter(|| {
                let read = store.read_stored().expect("read");
                let top = read
                    .top_devices_seen(&Scope::All, black_box(history.first), history.last, 20)
                    .expect("devices");
                let labels = read
                    .device_labels(&Scope::All, history.first, history.last, &top)
                    .expect("labels");
                top.iter().filter(|d| labels.contains_key(&d.addr)).count()
            });
        });
        // The slow path of labels: 20 devices seen on the last day with no label on any day
        // (VPN clients have no MAC address), so every stored day is looked through.
        let unlabelled: Vec<Summed> = (0..20u8)
            .map(|i| Summed {
                addr: IpAddr::V4(Ipv4Addr::new(10, 8, 0, i)),
                bytes: UpDown::default(),
                last: history.last,
            })
            .collect();
        group.bench_function(format!("labels_unlabelled_{}_all", mix.name), |b| {
            b.iter(|| {
                let read = store.read_stored().expect("read");
                read.device_labels(
                    &Scope::All,
                    black_box(history.first),
                    history.last,
                    &unlabelled,
                )
                .expect("labels")
                .len()
            });
        });
        bench_remotes_of(&mut group, &format!("{}_all", mix.name), &store, history);
        group.bench_function(format!("services_{}_all", mix.name), |b| {
            b.iter(|| {
                let read = store.read_stored().expect("read");
                read.services(&Scope::All, black_box(history.first), history.last)
                    .expect("services")
                    .total()
            });
        });
        group.finish();
        drop(store);
        let _ = std::fs::remove_file(&path);
    }
}

/// What `month_devices` and `month_device_remotes` take in the file at `path` (redb's pages, from its table
/// statistics).
fn month_sums_bytes(path: &Path) -> u64 {
    use nettraffic_sentinel::store::schema::{MONTH_DEVICE_REMOTES, MONTH_DEVICES};
    use redb::{ReadableDatabase, ReadableTableMetadata};
    let db = redb::Database::open(path).expect("open with redb");
    let txn = db.begin_read().expect("read");
    let pairs = txn
        .open_table(MONTH_DEVICE_REMOTES)
        .expect("table")
        .stats()
        .expect("stats");
    let devices = txn
        .open_table(MONTH_DEVICES)
        .expect("table")
        .stats()
        .expect("stats");
    [pairs, devices]
        .iter()
        .map(|s| s.stored_bytes() + s.metadata_bytes() + s.fragmented_bytes())
        .sum()
}

/// The 20 heaviest devices over the whole history.
fn bench_top_devices(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    store: &Store,
    history: &History,
) {
    bench_read(group, &format!("devices_{name}"), store, |read| {
        read.top_devices(&Scope::All, black_box(history.first), history.last, 20)
            .expect("devices")
            .len()
    });
}

/// `/api/top_ips?device=` of the NAS over the whole history.
fn bench_remotes_of(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    store: &Store,
    history: &History,
) {
    bench_read(group, &format!("remotes_of_{name}"), store, |read| {
        read.top_remotes_of(&Scope::All, NAS, black_box(history.first), history.last, 10)
            .expect("remotes of the NAS")
            .len()
    });
}

/// `query` on a [`ReadView`] opened inside the timed loop, as a web request opens one.
fn bench_read(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    store: &Store,
    query: impl Fn(&ReadView<'_>) -> usize,
) {
    group.bench_function(name, |b| {
        b.iter(|| query(&store.read_stored().expect("read")));
    });
}

fn criterion_home() -> PathBuf {
    std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR").map(|dir| Path::new(&dir).join("criterion"))
        })
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/criterion"))
}

/// The median of one benchmark of this run (results older than `since` are another run's).
fn median_ns(name: &str, since: SystemTime) -> Option<f64> {
    let path = criterion_home()
        .join(GROUP)
        .join(name)
        .join("new/estimates.json");
    let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
    if modified < since {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let estimates: serde_json::Value = serde_json::from_str(&text).ok()?;
    estimates["median"]["point_estimate"].as_f64()
}

fn human(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn print_summary(since: SystemTime) {
    println!("\nmedian per call, goal, and our time / SQLite's for the same query:");
    println!(
        "{:<20} {:>12} {:>10} {:>12} {:>10}",
        "benchmark", "median", "goal", "sqlite", "ours/sqlite"
    );
    // 20,000 requests/s on one core leave 50 µs for everything a request does.
    let rows: [(&str, &str, Option<&str>); 6] = [
        (OURS_MONTHLY, "1 ms", Some(SQLITE_MONTHLY)),
        (OURS_DAILY, "0.2 ms", Some(SQLITE_DAILY)),
        (OURS_SUMMARY, "< 50 µs", None),
        (OURS_TODAY_HOURS, "-", None),
        (COMMIT_TOUCHED, "10 ms", None),
        (COMMIT_STEADY, "10 ms", None),
    ];
    for (name, goal, reference) in rows {
        let Some(ns) = median_ns(name, since) else {
            continue;
        };
        let theirs = reference.and_then(|r| median_ns(r, since));
        let (sqlite, ratio) = match theirs {
            Some(t) => (human(t), format!("{:.4}", ns / t)),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{name:<20} {:>12} {goal:>10} {sqlite:>12} {ratio:>10}",
            human(ns)
        );
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() {
    let started = SystemTime::now();
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --benches` passes no `--bench`; `cargo bench -- --test` passes both.
    let test_mode =
        !args.iter().any(|arg| arg == "--bench") || args.iter().any(|arg| arg == "--test");
    let mut c = Criterion::default().configure_from_args();
    let zone = zone();
    let history = History::new(&zone, if test_mode { 1 } else { 10 });
    let dir = TempDir::new();
    let redb_path = dir.0.join("history.redb");
    let store = Arc::new(Store::open(&redb_path, zone.clone(), 1000).expect("open the store"));
    let took = fill_store(&store, &zone, &history);
    let redb_bytes = std::fs::metadata(&redb_path).expect("size").len();
    // Open the filled file again, as a restarted monitor does: what the days in memory cost, and
    // the heap that opening takes (redb's page cache, filled by summing the days, included).
    drop(store);
    let heap_before = HEAP.load(Ordering::Relaxed);
    let opened = Instant::now();
    let store = Arc::new(Store::open(&redb_path, zone.clone(), 1000).expect("reopen the store"));
    let open_took = opened.elapsed();
    let open_heap = HEAP.load(Ordering::Relaxed) - heap_before;
    eprintln!(
        "reopen: {:.1} ms; days in memory {:.1} KiB; heap after opening {:.2} MiB",
        open_took.as_secs_f64() * 1e3,
        store.memory_bytes() as f64 / 1024.0,
        open_heap as f64 / (1024.0 * 1024.0)
    );
    let (upgrade_took, v1_bytes, v2_bytes) =
        upgrade_from_v1(&dir.0.join("version1.redb"), &zone, &history);
    eprintln!(
        "upgrade of the same history from schema version 1: {:.1} s, {:.1} MiB before, {:.1} MiB after",
        upgrade_took.as_secs_f64(),
        mib(v1_bytes),
        mib(v2_bytes)
    );
    let _ = std::fs::remove_file(dir.0.join("version1.redb"));
    let (sqlite, sqlite_took) = fill_sqlite(&dir.0.join("traffic.db"), &history);
    let sqlite_bytes = std::fs::metadata(dir.0.join("traffic.db"))
        .expect("size")
        .len();
    eprintln!(
        "setup: {} hours, {} days × {ADDRESSES_PER_DAY} addresses: redb {:.1} MiB written in {:.1} s; \
         sqlite (hours only) {:.1} MiB in {:.1} s",
        history.hours.len(),
        history.hours.len() / 24,
        mib(redb_bytes),
        took.as_secs_f64(),
        mib(sqlite_bytes),
        sqlite_took.as_secs_f64()
    );

    // Both sides must answer the same question before their times mean anything.
    let month_points = ours(&store, history.first, history.last, Granularity::Month);
    let months = sqlite_rows(&sqlite, SQLITE_MONTHLY_SQL, &[]);
    let first30 = history
        .last
        .checked_sub(jiff::Span::new().days(29))
        .expect("date");
    let (from, until) = (first30.to_string(), history.last.to_string());
    let days = sqlite_rows(&sqlite, SQLITE_DAILY_SQL, &[&from, &until]);
    assert_eq!(month_points, months.len(), "month buckets differ");
    assert_eq!(
        ours(&store, first30, history.last, Granularity::Day),
        days.len()
    );
    assert_eq!(days.len(), 30);

    let mut group = c.benchmark_group(GROUP);
    group.bench_function(OURS_MONTHLY, |b| {
        b.iter(|| {
            ours(
                &store,
                black_box(history.first),
                history.last,
                Granularity::Month,
            )
        });
    });
    group.bench_function(SQLITE_MONTHLY, |b| {
        b.iter(|| sqlite_rows(&sqlite, SQLITE_MONTHLY_SQL, &[]));
    });
    group.bench_function(OURS_DAILY, |b| {
        b.iter(|| ours(&store, black_box(first30), history.last, Granularity::Day));
    });
    group.bench_function(SQLITE_DAILY, |b| {
        b.iter(|| sqlite_rows(&sqlite, SQLITE_DAILY_SQL, &[&from, &until]));
    });
    // Memory as a monitor holds it after days of running (see `commit_steady`).
    let live = interval_view(&zone, &history, HOURS_KEPT, DAYS_KEPT, LIVE_CAPACITY);
    group.bench_function(OURS_SUMMARY, |b| {
        b.iter(|| summary(&store, &live, black_box(history.last)));
    });
    // Issue 14: a range longer than a year answers in under 50 ms (the whole history here).
    group.bench_function(OURS_DEVICES_ALL, |b| {
        b.iter(|| {
            let read = store.read(&live).expect("read");
            read.top_devices(&Scope::All, black_box(history.first), history.last, 20)
                .expect("devices")
                .len()
        });
    });
    group.bench_function(OURS_SERVICES_ALL, |b| {
        b.iter(|| {
            let read = store.read(&live).expect("read");
            read.services(&Scope::All, black_box(history.first), history.last)
                .expect("services")
                .total()
        });
    });
    group.bench_function(OURS_TODAY_HOURS, |b| {
        b.iter(|| {
            let read = store.read(&live).expect("read");
            read.series(
                &Scope::All,
                black_box(history.last),
                history.last,
                Granularity::Hour,
            )
            .expect("series")
            .len()
        });
    });
    group.finish();

    bench_devices(&mut c, &dir.0, &zone, &history);

    let clock = clock_after(history.last_hour());
    let mut touched = interval_view(&zone, &history, 2, 1, ADDRESSES_PER_DAY);
    bench_commit(&mut c, COMMIT_TOUCHED, &store, &mut touched, clock);
    let mut steady = interval_view(&zone, &history, HOURS_KEPT, DAYS_KEPT, LIVE_CAPACITY);
    bench_commit(&mut c, COMMIT_STEADY, &store, &mut steady, clock);
    let heap = persister_heap(&store, &steady, clock);
    eprintln!(
        "persister heap in the steady state (2 interfaces, {HOURS_KEPT} hours, {DAYS_KEPT} days × \
         {LIVE_CAPACITY} addresses): {:.2} MiB; redb file now {:.1} MiB",
        heap as f64 / (1024.0 * 1024.0),
        mib(std::fs::metadata(&redb_path).expect("size").len())
    );
    c.final_summary();
    // `cargo test --benches` and `-- --test` run each benchmark once: no figures worth a summary.
    if !test_mode {
        print_summary(started);
    }
}
