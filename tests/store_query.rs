//! The read side against a real redb file in a zone with DST (Europe/Berlin): hour, day and month
//! series with zero-filled gaps, 23- and 25-hour days, month edges that fall on a different UTC
//! date, totals and the span of stored days. Instants were worked out by hand (CET = UTC+1,
//! CEST = UTC+2; 2024's changes are 31 March 01:00 UTC and 27 October 01:00 UTC).

use std::sync::Arc;

use jiff::civil::Date;
use nettraffic_sentinel::clock::Zone;
use nettraffic_sentinel::count::UpDown;
use nettraffic_sentinel::count::live::LiveSnapshot;
use nettraffic_sentinel::store::{Granularity, LiveView, Persister, Scope, Store};

mod store_support;
use store_support::TempDir;

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

#[test]
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

#[test]
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

#[test]
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

#[test]
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
