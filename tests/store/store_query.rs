//! The read side against a real redb file in a zone with DST (Europe/Berlin): hour, day and month
//! series with zero-filled gaps, 23- and 25-hour days, month edges that fall on a different UTC
//! date, totals and the span of stored days. Instants were worked out by hand (CET = UTC+1,
//! CEST = UTC+2; 2024's changes are 31 March 01:00 UTC and 27 October 01:00 UTC).

use std::sync::Arc;

use jiff::civil::Date;
use nettraffic_sentinel::clock::Zone;
use nettraffic_sentinel::count::UpDown;
use nettraffic_sentinel::count::live::LiveSnapshot;
use nettraffic_sentinel::persister::Persister;
use nettraffic_sentinel::store::{Granularity, LiveView, Scope, Store};

use crate::support::TempDir;

/// 2024-10-27 00:00 CEST = 2024-10-26 22:00 UTC.
const OCT27: i64 = 1_729_980_000;
/// 2024-10-28 00:00 CET = 2024-10-27 23:00 UTC: 25 hours later.
const OCT28: i64 = 1_730_070_000;
/// 2024-03-31 00:00 CET = 2024-03-30 23:00 UTC.
const MAR31: i64 = 1_711_839_600;
/// 2024-04-01 00:00 CEST = 2024-03-31 22:00 UTC: 23 hours later.
const APR01: i64 = 1_711_922_400;
/// 2024-02-01 00:00 CET = 2024-01-31 23:00 UTC.
const FEB01: i64 = 1_706_742_000;
/// 2024-03-01 00:00 CET = 2024-02-29 23:00 UTC.
const MAR01: i64 = 1_709_247_600;

fn ud(up: u64, down: u64) -> UpDown {
    UpDown { up, down }
}

fn berlin() -> Zone {
    Zone::named("Europe/Berlin").expect("zone")
}

/// A store holding `hours` (start, up, down) for interface eth0, committed.
fn store_with(dir: &TempDir, hours: &[(i64, u64, u64)]) -> Arc<Store> {
    let store = Arc::new(Store::open(&dir.path().join("t.redb"), berlin(), 10).expect("open"));
    let mut snapshot = LiveSnapshot::default();
    for (hour, up, down) in hours {
        snapshot.hours.insert(*hour, ud(*up, *down));
    }
    let view = LiveView {
        interfaces: vec![("eth0".into(), snapshot)],
    };
    // A clock and a lifetime that make every hour here plausible.
    let latest = hours.iter().map(|h| h.0).max().unwrap_or(OCT28);
    Persister::new(Arc::clone(&store))
        .commit_at(&view, latest + 60, latest)
        .expect("commit");
    store
}

fn date(y: i16, m: i8, d: i8) -> Date {
    Date::constant(y, m, d)
}

fn a_fall_back_day_has_25_hours_and_two_of_them_are_labelled_02() {
    let dir = TempDir::new("query-fall");
    let hours: Vec<(i64, u64, u64)> = (0..25).map(|i| (OCT27 + i * 3600, 1, 0)).collect();
    let mut with_eve = hours.clone();
    with_eve.push((OCT27 - 3600, 0, 100)); // 2024-10-26 23:00 local, the day before
    let store = store_with(&dir, &with_eve);
    let read = store.read_stored().expect("read");
    let series = read
        .series(
            &Scope::All,
            date(2024, 10, 27),
            date(2024, 10, 27),
            Granularity::Hour,
        )
        .expect("series");
    assert_eq!(series.len(), 25);
    assert_eq!(series[0].label, "2024-10-27 00:00");
    assert_eq!(series[0].start, OCT27);
    assert_eq!(series[2].label, "2024-10-27 02:00");
    assert_eq!(series[3].label, "2024-10-27 02:00");
    assert_eq!(series[3].start - series[2].start, 3600);
    assert_eq!(series[24].label, "2024-10-27 23:00");
    assert!(series.iter().all(|p| p.bytes == ud(1, 0)));

    let days = read
        .series(
            &Scope::All,
            date(2024, 10, 26),
            date(2024, 10, 28),
            Granularity::Day,
        )
        .expect("days");
    let got: Vec<(&str, UpDown)> = days.iter().map(|p| (p.label.as_str(), p.bytes)).collect();
    assert_eq!(
        got,
        [
            ("2024-10-26", ud(0, 100)),
            ("2024-10-27", ud(25, 0)),
            ("2024-10-28", ud(0, 0)),
        ]
    );
    assert_eq!(days[2].start, OCT28);
    assert_eq!(
        read.totals(&Scope::All, date(2024, 10, 27), date(2024, 10, 27))
            .expect("totals"),
        ud(25, 0)
    );
    assert_eq!(
        read.data_range(&Scope::All).expect("range"),
        Some((date(2024, 10, 26), date(2024, 10, 27)))
    );
}

fn a_spring_forward_day_has_23_hours() {
    let dir = TempDir::new("query-spring");
    let hours: Vec<(i64, u64, u64)> = (0..23).map(|i| (MAR31 + i * 3600, 0, 2)).collect();
    let store = store_with(&dir, &hours);
    let read = store.read_stored().expect("read");
    let series = read
        .series(
            &Scope::All,
            date(2024, 3, 31),
            date(2024, 3, 31),
            Granularity::Hour,
        )
        .expect("series");
    assert_eq!(series.len(), 23);
    let labels: Vec<&str> = series.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(labels[1], "2024-03-31 01:00");
    assert_eq!(
        labels[2], "2024-03-31 03:00",
        "02:00 does not exist that day"
    );
    assert_eq!(series[22].start + 3600, APR01);
    let day = read
        .series(
            &Scope::All,
            date(2024, 3, 31),
            date(2024, 3, 31),
            Granularity::Day,
        )
        .expect("day");
    assert_eq!(day.len(), 1);
    assert_eq!(day[0].bytes, ud(0, 46));
}

fn months_are_local_and_clipped_to_the_range() {
    let dir = TempDir::new("query-months");
    // The first hour of February and of March in Berlin: UTC still says 31 Jan and 29 Feb.
    let store = store_with(&dir, &[(FEB01, 5, 0), (MAR01, 0, 7), (FEB01 - 3600, 1, 1)]);
    let read = store.read_stored().expect("read");
    let months = read
        .series(
            &Scope::All,
            date(2024, 1, 15),
            date(2024, 3, 10),
            Granularity::Month,
        )
        .expect("months");
    let got: Vec<(&str, UpDown)> = months.iter().map(|p| (p.label.as_str(), p.bytes)).collect();
    assert_eq!(
        got,
        [
            ("2024-01", ud(1, 1)),
            ("2024-02", ud(5, 0)),
            ("2024-03", ud(0, 7)),
        ]
    );
    assert_eq!(months[1].start, FEB01);
    assert_eq!(months[2].start, MAR01);
    // A range that starts after the 1st only counts from its first day.
    let late = read
        .series(
            &Scope::All,
            date(2024, 2, 2),
            date(2024, 2, 29),
            Granularity::Month,
        )
        .expect("months");
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].bytes, ud(0, 0));
}

fn gaps_are_zero_filled_and_an_empty_history_has_no_range() {
    let dir = TempDir::new("query-empty");
    let store = Arc::new(Store::open(&dir.path().join("t.redb"), berlin(), 10).expect("open"));
    let read = store.read_stored().expect("read");
    let days = read
        .series(
            &Scope::All,
            date(2024, 2, 27),
            date(2024, 3, 1),
            Granularity::Day,
        )
        .expect("days");
    let labels: Vec<&str> = days.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(
        labels,
        ["2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01"]
    );
    assert!(days.iter().all(|p| p.bytes == ud(0, 0)));
    assert_eq!(read.data_range(&Scope::All).expect("range"), None);
    assert_eq!(
        read.data_range(&Scope::Interface("eth0".into()))
            .expect("range"),
        None
    );
    assert!(
        read.series(
            &Scope::All,
            date(2024, 3, 2),
            date(2024, 3, 1),
            Granularity::Day
        )
        .expect("reversed")
        .is_empty()
    );
}

/// A deterministic stream of numbers (xorshift), so the generated history is the same every run.
struct Numbers(u64);

impl Numbers {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

/// Every answer of the days kept in memory, next to the same answer summed from the file's hours.
fn days_and_months(store: &Store, scope: &Scope, first: Date, last: Date) {
    let read = store.read_stored().expect("read");
    let hours = read
        .series(scope, first, last, Granularity::Hour)
        .expect("hours");
    // Hour labels start with the local date ("2024-03-31 01:00"): that is the day and month.
    let mut by_day: std::collections::BTreeMap<String, UpDown> = Default::default();
    let mut by_month: std::collections::BTreeMap<String, UpDown> = Default::default();
    let mut total = UpDown::default();
    for point in &hours {
        *by_day.entry(point.label[..10].to_string()).or_default() += point.bytes;
        *by_month.entry(point.label[..7].to_string()).or_default() += point.bytes;
        total += point.bytes;
    }
    let days = read
        .series(scope, first, last, Granularity::Day)
        .expect("days");
    assert_eq!(days.len(), by_day.len());
    for point in &days {
        assert_eq!(
            point.bytes, by_day[&point.label],
            "{scope:?} {}",
            point.label
        );
    }
    let months = read
        .series(scope, first, last, Granularity::Month)
        .expect("months");
    assert_eq!(months.len(), by_month.len());
    for point in &months {
        assert_eq!(
            point.bytes, by_month[&point.label],
            "{scope:?} {}",
            point.label
        );
    }
    assert_eq!(read.totals(scope, first, last).expect("totals"), total);
}

fn days_in_memory_follow_every_commit_migration_and_reopen() {
    let dir = TempDir::new("query-memory");
    let path = dir.path().join("t.redb");
    let store = Arc::new(Store::open(&path, berlin(), 10).expect("open"));
    let mut persister = Persister::new(Arc::clone(&store));
    let mut numbers = Numbers(0x5eed);
    // Two interfaces counting into random hours from February to April 2024 (both DST edges of
    // March included), committed five times, memory growing in between as capture's does.
    let mut live = [LiveSnapshot::default(), LiveSnapshot::default()];
    for _ in 0..5 {
        for snapshot in &mut live {
            for _ in 0..200 {
                let hour = FEB01 + numbers.next(24 * 75) as i64 * 3600;
                *snapshot.hours.entry(hour).or_default() +=
                    ud(numbers.next(1 << 20), numbers.next(1 << 24));
            }
        }
        let view = LiveView {
            interfaces: vec![
                ("eth0".into(), live[0].clone()),
                ("eth1".into(), live[1].clone()),
            ],
        };
        persister
            .commit_at(&view, FEB01 + 76 * 86_400, 80 * 86_400)
            .expect("commit");
        for scope in [Scope::All, Scope::Interface("eth0".into())] {
            days_and_months(&store, &scope, date(2024, 1, 30), date(2024, 4, 20));
        }
    }
    // The original's history lands in the all-interfaces scope through the same step.
    let old = dir.path().join("traffic.db");
    {
        let sqlite = rusqlite::Connection::open(&old).expect("sqlite");
        sqlite
            .execute_batch(
                "CREATE TABLE traffic_hourly (id INTEGER PRIMARY KEY AUTOINCREMENT,
                 hour_ts TEXT NOT NULL UNIQUE, up_bytes INTEGER NOT NULL DEFAULT 0,
                 down_bytes INTEGER NOT NULL DEFAULT 0, created_at TEXT, updated_at TEXT);
                 INSERT INTO traffic_hourly (hour_ts, up_bytes, down_bytes) VALUES
                 ('2024-01-31 23:00:00', 11, 12), ('2024-03-31 03:00:00', 13, 14),
                 ('2024-05-01 00:00:00', 15, 16);",
            )
            .expect("the original's table");
    }
    let before = store
        .read_stored()
        .expect("read")
        .totals(&Scope::All, date(2024, 1, 1), date(2024, 12, 31))
        .expect("totals");
    nettraffic_sentinel::store::migrate::migrate(&store, &old).expect("migrate");
    let after = store
        .read_stored()
        .expect("read")
        .totals(&Scope::All, date(2024, 1, 1), date(2024, 12, 31))
        .expect("totals");
    assert_eq!(after.up - before.up, 11 + 13 + 15);
    assert_eq!(after.down - before.down, 12 + 14 + 16);
    days_and_months(&store, &Scope::All, date(2024, 1, 30), date(2024, 5, 2));
    // What memory answered is what a fresh open of the file sums up.
    let answers = |store: &Store| {
        let read = store.read_stored().expect("read");
        let mut all = Vec::new();
        for scope in [
            Scope::All,
            Scope::Interface("eth0".into()),
            Scope::Interface("eth1".into()),
        ] {
            all.push(format!(
                "{:?} {:?}",
                read.series(
                    &scope,
                    date(2024, 1, 1),
                    date(2024, 6, 30),
                    Granularity::Day
                )
                .expect("days"),
                read.data_range(&scope).expect("range")
            ));
        }
        all
    };
    let in_memory = answers(&store);
    drop(persister);
    drop(store);
    let reopened = Store::open(&path, berlin(), 10).expect("reopen");
    assert_eq!(answers(&reopened), in_memory);
}

fn a_reader_never_counts_a_commit_twice_or_misses_it() {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    const STEP: u64 = 1000;
    let dir = TempDir::new("query-race");
    let store = Arc::new(Store::open(&dir.path().join("t.redb"), berlin(), 10).expect("open"));
    let view_of = |k: u64| {
        let mut snapshot = LiveSnapshot::default();
        snapshot.hours.insert(MAR01, ud(k * STEP, 0));
        LiveView {
            interfaces: vec![("eth0".into(), snapshot)],
        }
    };
    // Memory as capture holds it: only ever growing. The persister commits it as fast as it can.
    let memory = Arc::new(Mutex::new(1u64));
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, memory, done) = (Arc::clone(&store), Arc::clone(&memory), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut persister = Persister::new(store);
            for _ in 0..150 {
                let k = {
                    let mut k = memory.lock().expect("memory");
                    *k += 1;
                    *k
                };
                persister
                    .commit_at(&view_of(k), MAR01 + 600, 86_400)
                    .expect("commit");
            }
            done.store(true, Ordering::Relaxed);
        })
    };
    let mut reads = 0;
    while !done.load(Ordering::Relaxed) {
        let k = *memory.lock().expect("memory");
        let view = view_of(k);
        let read = store.read(&view).expect("read");
        // Days from memory, the hour from the file: each answer is exactly what memory held when
        // the reader copied it, or a later commit's total, but never the sum of both.
        let day = read
            .totals(&Scope::All, date(2024, 3, 1), date(2024, 3, 1))
            .expect("totals")
            .up;
        let hour = read
            .series(
                &Scope::All,
                date(2024, 3, 1),
                date(2024, 3, 1),
                Granularity::Hour,
            )
            .expect("hours")[0]
            .bytes
            .up;
        let latest = *memory.lock().expect("memory") * STEP;
        for got in [day, hour] {
            assert!(
                got >= k * STEP && got <= latest && got % STEP == 0,
                "read {got} with memory at {} and the latest commit at most {latest}",
                k * STEP
            );
        }
        reads += 1;
    }
    writer.join().expect("the writer");
    assert!(
        reads > 10,
        "the reader ran beside the commits ({reads} reads)"
    );
}

tests! {
    a_fall_back_day_has_25_hours_and_two_of_them_are_labelled_02,
    a_spring_forward_day_has_23_hours,
    months_are_local_and_clipped_to_the_range,
    gaps_are_zero_filled_and_an_empty_history_has_no_range,
    days_in_memory_follow_every_commit_migration_and_reopen,
    a_reader_never_counts_a_commit_twice_or_misses_it,
}
