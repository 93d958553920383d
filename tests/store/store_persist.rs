//! The persister against a real redb file: absolute totals, idempotent commits, restarts in the
//! same hour, the per-day address lists and the clock policy. Memory is given as snapshots (what
//! capture would hold, cumulative since the process started); expectations are worked out by hand.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use jiff::civil::Date;
use nettraffic_sentinel::classify::Direction;
use nettraffic_sentinel::clock::Zone;
use nettraffic_sentinel::count::UpDown;
use nettraffic_sentinel::count::heavy::{HeavyEntry, Pair};
use nettraffic_sentinel::count::live::LiveSnapshot;
use nettraffic_sentinel::lan::neighbours::Tables;
use nettraffic_sentinel::lan::{DeviceNames, Labeler};
use nettraffic_sentinel::persister::Persister;
use nettraffic_sentinel::service::Service;
use nettraffic_sentinel::store::schema::{
    DAY_DEVICE_LABELS, DAY_DEVICE_REMOTES, DAY_DEVICES, DAY_REMOTES, DAY_SERVICES, Day, DayKey,
    DeviceDay, RemoteBytes, SCOPES, StoredLabel, decode_labels, decode_remotes,
    decode_services_keeping, encode_labels, encode_remotes,
};
use nettraffic_sentinel::store::set_aside::SET_ASIDE;
use nettraffic_sentinel::store::{Granularity, LiveView, Scope, Store};

use crate::support::TempDir;

/// 2024-06-15 10:00 UTC, an hour start in UTC.
const H: i64 = 1_718_445_600;
/// A commit one minute into the hour after `H`, by a process that has run for a day.
const NOW: i64 = H + 3600 + 60;
const LIVED: i64 = 86_400;

fn ud(up: u64, down: u64) -> UpDown {
    UpDown { up, down }
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("address")
}

fn snapshot(hours: &[(i64, u64, u64)], remotes: &[(Date, &str, u64, u64)]) -> LiveSnapshot {
    let mut snapshot = LiveSnapshot::default();
    for (hour, up, down) in hours {
        *snapshot.hours.entry(*hour).or_default() += ud(*up, *down);
    }
    for (date, addr, up, down) in remotes {
        snapshot.remotes.entry(*date).or_default().push(HeavyEntry {
            addr: ip(addr),
            bytes: ud(*up, *down),
            error: 0,
        });
    }
    snapshot
}

/// `snapshot` with (device, remote) pairs of `DAY` added, and their devices' bytes.
fn with_pairs(snapshot: LiveSnapshot, pairs: &[(&str, &str, u64, u64)]) -> LiveSnapshot {
    with_pairs_on(snapshot, DAY, pairs)
}

/// [`with_pairs`] on `date`.
fn with_pairs_on(
    mut snapshot: LiveSnapshot,
    date: Date,
    pairs: &[(&str, &str, u64, u64)],
) -> LiveSnapshot {
    for (device, remote, up, down) in pairs {
        snapshot.pairs.entry(date).or_default().push(HeavyEntry {
            addr: Pair {
                device: ip(device),
                remote: ip(remote),
            },
            bytes: ud(*up, *down),
            error: 0,
        });
        let devices = snapshot.devices.entry(date).or_default();
        match devices.iter_mut().find(|e| e.addr == ip(device)) {
            Some(entry) => entry.bytes += ud(*up, *down),
            None => devices.push(HeavyEntry {
                addr: ip(device),
                bytes: ud(*up, *down),
                error: 0,
            }),
        }
    }
    snapshot
}

fn one(name: &str, snapshot: LiveSnapshot) -> LiveView {
    LiveView {
        interfaces: vec![(name.to_string(), snapshot)],
    }
}

fn open(path: &Path, top: usize) -> Arc<Store> {
    Arc::new(Store::open(path, Zone::utc(), top).expect("open"))
}

fn stored_hour(store: &Store, scope: &Scope, hour: i64) -> UpDown {
    let view = store.read_stored().expect("read");
    let date = store.zone().date_of(hour);
    view.series(scope, date, date, Granularity::Hour)
        .expect("series")
        .into_iter()
        .find(|p| p.start == hour)
        .map(|p| p.bytes)
        .unwrap_or_default()
}

const DAY: Date = Date::constant(2024, 6, 15);

/// Names 192.168.1.10 "NAS" (`DEVICE_NAMES`), with no neighbour table and no resolver.
fn nas_labeler(dir: &Path) -> Arc<Labeler> {
    Arc::new(Labeler::new(
        DeviceNames::parse("192.168.1.10=NAS").expect("names"),
        Tables::arp_file(dir.join("no-arp-table")),
        None,
    ))
}

/// What the file's `set_aside` table holds: (table, the key in words, the bytes), sorted.
pub(crate) fn set_aside_entries(path: &Path) -> Vec<(String, String, Vec<u8>)> {
    let db = redb::Database::open(path).expect("open the file with redb");
    let txn = db.begin_read().expect("read");
    let aside = txn
        .open_table(SET_ASIDE)
        .expect("the set_aside table exists");
    let mut kept: Vec<(String, String, Vec<u8>)> = aside
        .iter()
        .expect("iter")
        .map(|entry| {
            let (key, value) = entry.expect("entry");
            let (table, words, _) = key.value();
            (table.to_string(), words.to_string(), value.value().to_vec())
        })
        .collect();
    kept.sort();
    kept
}

fn repeated_commits_write_the_same_absolute_totals() {
    let dir = TempDir::new("persist-idempotent");
    let store = open(&dir.path().join("t.redb"), 10);
    let mut persister = Persister::new(Arc::clone(&store));
    let view = one(
        "eth0",
        snapshot(&[(H, 100, 40)], &[(DAY, "203.0.113.1", 100, 40)]),
    );
    for _ in 0..3 {
        persister.commit_at(&view, NOW, LIVED).expect("commit");
    }
    assert_eq!(stored_hour(&store, &Scope::All, H), ud(100, 40));
    assert_eq!(
        stored_hour(&store, &Scope::Interface("eth0".into()), H),
        ud(100, 40)
    );
    // Memory grows to 150/60: the stored value becomes 150/60, not 250/100.
    let view = one(
        "eth0",
        snapshot(&[(H, 150, 60)], &[(DAY, "203.0.113.1", 150, 60)]),
    );
    persister.commit_at(&view, NOW, LIVED).expect("commit");
    persister.commit_at(&view, NOW, LIVED).expect("commit");
    assert_eq!(stored_hour(&store, &Scope::All, H), ud(150, 60));
    let top = store
        .read_stored()
        .expect("read")
        .top_remotes(&Scope::All, DAY, DAY, 10)
        .expect("top");
    assert_eq!(top.len(), 1);
    assert_eq!(
        (top[0].addr, top[0].bytes),
        (ip("203.0.113.1"), ud(150, 60))
    );
}

fn a_restart_in_the_same_hour_continues_that_hour() {
    let dir = TempDir::new("persist-restart");
    let path = dir.path().join("t.redb");
    {
        let store = open(&path, 10);
        let mut persister = Persister::new(Arc::clone(&store));
        let view = one(
            "eth0",
            snapshot(&[(H, 1000, 500)], &[(DAY, "203.0.113.1", 1000, 500)]),
        );
        persister.commit_at(&view, NOW, LIVED).expect("commit");
    }
    // A new process: memory starts from zero and has counted 10/5 in the same hour.
    let store = open(&path, 10);
    let mut persister = Persister::new(Arc::clone(&store));
    let view = one(
        "eth0",
        snapshot(
            &[(H, 10, 5)],
            &[(DAY, "203.0.113.1", 10, 5), (DAY, "198.51.100.7", 1, 0)],
        ),
    );
    persister.commit_at(&view, NOW, 60).expect("commit");
    persister.commit_at(&view, NOW, 60).expect("commit again");
    assert_eq!(stored_hour(&store, &Scope::All, H), ud(1010, 505));
    assert_eq!(
        stored_hour(&store, &Scope::Interface("eth0".into()), H),
        ud(1010, 505)
    );
    let top = store
        .read_stored()
        .expect("read")
        .top_remotes(&Scope::All, DAY, DAY, 10)
        .expect("top");
    let got: Vec<(IpAddr, UpDown)> = top.iter().map(|t| (t.addr, t.bytes)).collect();
    assert_eq!(
        got,
        [
            (ip("203.0.113.1"), ud(1010, 505)),
            (ip("198.51.100.7"), ud(1, 0))
        ]
    );
}

fn interfaces_are_stored_apart_and_together() {
    let dir = TempDir::new("persist-scopes");
    let store = open(&dir.path().join("t.redb"), 10);
    let mut persister = Persister::new(Arc::clone(&store));
    let view = LiveView {
        interfaces: vec![
            ("eth0".into(), snapshot(&[(H, 7, 1)], &[])),
            ("ppp0".into(), snapshot(&[(H, 3, 2), (H + 3600, 1, 1)], &[])),
        ],
    };
    persister.commit_at(&view, NOW, LIVED).expect("commit");
    assert_eq!(stored_hour(&store, &Scope::All, H), ud(10, 3));
    assert_eq!(stored_hour(&store, &Scope::All, H + 3600), ud(1, 1));
    assert_eq!(
        stored_hour(&store, &Scope::Interface("eth0".into()), H),
        ud(7, 1)
    );
    assert_eq!(
        stored_hour(&store, &Scope::Interface("ppp0".into()), H + 3600),
        ud(1, 1)
    );
    assert_eq!(
        stored_hour(&store, &Scope::Interface("wg0".into()), H),
        ud(0, 0)
    );
}

fn memory_that_shrinks_never_lowers_a_stored_total() {
    let dir = TempDir::new("persist-shrink");
    let store = open(&dir.path().join("t.redb"), 10);
    let mut persister = Persister::new(Arc::clone(&store));
    persister
        .commit_at(&one("eth0", snapshot(&[(H, 100, 100)], &[])), NOW, LIVED)
        .expect("commit");
    // One worker's shard dropped the hour: memory now says 60/100.
    persister
        .commit_at(&one("eth0", snapshot(&[(H, 60, 100)], &[])), NOW, LIVED)
        .expect("commit");
    assert_eq!(stored_hour(&store, &Scope::All, H), ud(100, 100));
    // From there it grows by 5 up: stored 105/100.
    persister
        .commit_at(&one("eth0", snapshot(&[(H, 65, 100)], &[])), NOW, LIVED)
        .expect("commit");
    assert_eq!(stored_hour(&store, &Scope::All, H), ud(105, 100));
}

fn each_day_keeps_only_its_heaviest_addresses() {
    let dir = TempDir::new("persist-top");
    let store = open(&dir.path().join("t.redb"), 3);
    let mut persister = Persister::new(Arc::clone(&store));
    // Five addresses; the list keeps three: 50, 40, 30 bytes.
    let remotes = [
        (DAY, "203.0.113.1", 10, 0),
        (DAY, "203.0.113.2", 0, 50),
        (DAY, "203.0.113.3", 30, 0),
        (DAY, "2001:db8::4", 20, 20),
        (DAY, "203.0.113.5", 5, 0),
    ];
    let view = one("eth0", snapshot(&[(H, 115, 70)], &remotes));
    persister.commit_at(&view, NOW, LIVED).expect("commit");
    let top = store
        .read_stored()
        .expect("read")
        .top_remotes(&Scope::Interface("eth0".into()), DAY, DAY, 10)
        .expect("top");
    let got: Vec<(IpAddr, UpDown)> = top.iter().map(|t| (t.addr, t.bytes)).collect();
    assert_eq!(
        got,
        [
            (ip("203.0.113.2"), ud(0, 50)),
            (ip("2001:db8::4"), ud(20, 20)),
            (ip("203.0.113.3"), ud(30, 0)),
        ]
    );
}

fn implausible_live_hours_are_never_stored() {
    let dir = TempDir::new("persist-clock");
    let store = open(&dir.path().join("t.redb"), 10);
    let mut persister = Persister::new(Arc::clone(&store));
    // 1970 (a clock not yet set), 2019-12-31 23:00 (just before 2020), two hours ahead of the
    // commit's clock, and an hour a week before a process that has run for a day was started.
    let y1970 = 0;
    let y2019 = 1_577_833_200;
    let ahead = H + 3 * 3600;
    let last_week = H - 7 * 86_400;
    let view = one(
        "eth0",
        snapshot(
            &[
                (y1970, 1, 1),
                (y2019, 2, 2),
                (ahead, 3, 3),
                (last_week, 4, 4),
                (H, 5, 5),
            ],
            &[],
        ),
    );
    let report = persister.commit_at(&view, NOW, LIVED).expect("commit");
    let mut refused: Vec<i64> = report.refused.iter().map(|(h, _)| *h).collect();
    refused.sort();
    assert_eq!(refused, [y1970, y2019, last_week, ahead]);
    let read = store.read_stored().expect("read");
    assert_eq!(
        read.data_range(&Scope::All).expect("range"),
        Some((DAY, DAY)),
        "only the plausible hour is stored"
    );
    assert_eq!(stored_hour(&store, &Scope::All, H), ud(5, 5));
    // Three hours later the clock has reached `ahead`, but it was refused once: still not stored.
    let report = persister
        .commit_at(&view, ahead + 60, LIVED + 3 * 3600)
        .expect("commit");
    assert!(report.refused.is_empty(), "each hour is reported once");
    assert_eq!(stored_hour(&store, &Scope::All, ahead), ud(0, 0));
    // A process's own first hour, an hour before its start, is fine.
    let view = one("eth0", snapshot(&[(H, 5, 5), (H + 3600, 9, 9)], &[]));
    persister
        .commit_at(&view, H + 3600 + 10, 20)
        .expect("commit");
    assert_eq!(stored_hour(&store, &Scope::All, H + 3600), ud(9, 9));
}

fn live_counts_not_yet_committed_are_added_exactly_once() {
    let dir = TempDir::new("persist-overlay");
    let store = open(&dir.path().join("t.redb"), 10);
    let mut persister = Persister::new(Arc::clone(&store));
    let first = one(
        "eth0",
        snapshot(&[(H, 100, 10)], &[(DAY, "203.0.113.1", 100, 10)]),
    );
    // Before any commit, a reader sees memory alone.
    let read = store.read(&first).expect("read");
    assert_eq!(
        read.totals(&Scope::All, DAY, DAY).expect("totals"),
        ud(100, 10)
    );
    persister.commit_at(&first, NOW, LIVED).expect("commit");
    // After it, memory has grown by 20/2: the reader sees 120/12, not 220/22.
    let grown = one(
        "eth0",
        snapshot(&[(H, 120, 12)], &[(DAY, "203.0.113.1", 120, 12)]),
    );
    let read = store.read(&grown).expect("read");
    assert_eq!(
        read.totals(&Scope::All, DAY, DAY).expect("totals"),
        ud(120, 12)
    );
    assert_eq!(
        read.totals(&Scope::Interface("eth0".into()), DAY, DAY)
            .expect("totals"),
        ud(120, 12)
    );
    let top = read
        .top_remotes(&Scope::All, DAY, DAY, 10)
        .expect("top remotes");
    assert_eq!(top[0].bytes, ud(120, 12));
}

/// Each device's remote addresses (`day_device_remotes`): stored by a commit, repeated commits
/// write the same totals, live bytes not yet committed are added once, a restart goes on from
/// what was stored, and a day keeps its heaviest `top` pairs over all devices together.
fn device_pairs_survive_commits_and_restarts() {
    const A: &str = "192.168.1.10";
    const B: &str = "fd00::30";
    const C: &str = "192.168.1.30";
    const R1: &str = "203.0.113.1";
    const R2: &str = "2001:db8::2";
    const R3: &str = "198.51.100.3";
    let remotes_of = |store: &Store, view: Option<&LiveView>, device: &str| {
        let read = match view {
            Some(view) => store.read(view).expect("read"),
            None => store.read_stored().expect("read"),
        };
        let top = read
            .top_remotes_of(&Scope::All, ip(device), DAY, DAY, 10)
            .expect("remotes of a device");
        top.iter().map(|t| (t.addr, t.bytes)).collect::<Vec<_>>()
    };
    let dir = TempDir::new("persist-pairs");
    let path = dir.path().join("t.redb");
    // Three pairs a day are kept: C's only pair (1 byte) falls below the cut.
    let pairs = [
        (A, R1, 100, 10),
        (A, R2, 5, 0),
        (B, R1, 7, 7),
        (C, R3, 1, 0),
    ];
    {
        let store = open(&path, 3);
        let mut persister = Persister::new(Arc::clone(&store));
        let first = one("eth0", with_pairs(snapshot(&[(H, 113, 17)], &[]), &pairs));
        // Before any commit, memory alone.
        assert_eq!(
            remotes_of(&store, Some(&first), A),
            [(ip(R1), ud(100, 10)), (ip(R2), ud(5, 0))]
        );
        persister.commit_at(&first, NOW, LIVED).expect("commit");
        assert_eq!(
            remotes_of(&store, None, A),
            [(ip(R1), ud(100, 10)), (ip(R2), ud(5, 0))]
        );
        assert_eq!(remotes_of(&store, None, B), [(ip(R1), ud(7, 7))]);
        assert_eq!(remotes_of(&store, None, C), [], "below the day's cut");
        // Memory grows by 50 bytes up between A and R1: readers see it once, before and after
        // the commit, and a repeated commit changes nothing.
        let grown = one(
            "eth0",
            with_pairs(
                snapshot(&[(H, 163, 17)], &[]),
                &[
                    (A, R1, 150, 10),
                    (A, R2, 5, 0),
                    (B, R1, 7, 7),
                    (C, R3, 1, 0),
                ],
            ),
        );
        let expected_a = [(ip(R1), ud(150, 10)), (ip(R2), ud(5, 0))];
        assert_eq!(remotes_of(&store, Some(&grown), A), expected_a);
        persister.commit_at(&grown, NOW, LIVED).expect("commit");
        persister
            .commit_at(&grown, NOW, LIVED)
            .expect("commit again");
        assert_eq!(remotes_of(&store, Some(&grown), A), expected_a);
        assert_eq!(remotes_of(&store, None, A), expected_a);
    }
    // A new process: memory starts from zero and has counted 1/1 between A and R2.
    let store = open(&path, 3);
    assert_eq!(
        remotes_of(&store, None, A),
        [(ip(R1), ud(150, 10)), (ip(R2), ud(5, 0))]
    );
    assert_eq!(remotes_of(&store, None, B), [(ip(R1), ud(7, 7))]);
    let mut persister = Persister::new(Arc::clone(&store));
    let view = one(
        "eth0",
        with_pairs(snapshot(&[(H, 1, 1)], &[]), &[(A, R2, 1, 1)]),
    );
    persister.commit_at(&view, NOW, 60).expect("commit");
    assert_eq!(
        remotes_of(&store, None, A),
        [(ip(R1), ud(150, 10)), (ip(R2), ud(6, 1))]
    );
    let eth0 = store
        .read_stored()
        .expect("read")
        .top_remotes_of(&Scope::Interface("eth0".into()), ip(A), DAY, DAY, 1)
        .expect("remotes of a device");
    assert_eq!(eth0.len(), 1, "limit");
    assert_eq!((eth0[0].addr, eth0[0].bytes), (ip(R1), ud(150, 10)));
    // The device's own bytes by day, from the device lists.
    let series = store
        .read_stored()
        .expect("read")
        .device_series(&Scope::All, ip(A), DAY, DAY, Granularity::Day)
        .expect("series");
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].bytes, ud(156, 11));
}

/// A stored day this version cannot read (damaged bytes, or a shape a newer version wrote) is
/// copied to the table `set_aside` before the persister rewrites it, and saving goes on; before,
/// the day's lists were read as empty and overwritten, and a damaged list of a device's remote
/// addresses failed every later commit.
fn unreadable_stored_days_are_set_aside_and_saving_goes_on() {
    const DEVICE: &str = "192.168.1.10";
    const REMOTE: &str = "203.0.113.1";
    let dir = TempDir::new("persist-set-aside");
    let path = dir.path().join("t.redb");
    let labeler = nas_labeler(dir.path());
    let day_of = |up: u64, down: u64| {
        let mut memory = with_pairs(
            snapshot(&[(H, up, down)], &[(DAY, REMOTE, up, down)]),
            &[(DEVICE, REMOTE, up, down)],
        );
        let services = memory.services.entry(DAY).or_default();
        services.add(Service::Https, Direction::Up, up);
        services.add(Service::Https, Direction::Down, down);
        one("eth0", memory)
    };
    {
        let store = open(&path, 10);
        let mut persister = Persister::new(Arc::clone(&store)).with_labeler(Arc::clone(&labeler));
        persister
            .commit_at(&day_of(100, 10), NOW, LIVED)
            .expect("first commit");
    }

    // Each of the day's five values replaced by bytes no decoder accepts (an address family 0xEE).
    let damaged = |n: u8| vec![0xEE, n, 0xEE, 0x00, 0x99, n];
    let db = redb::Database::open(&path).expect("open the file with redb");
    let scope = {
        let txn = db.begin_read().expect("read");
        let scopes = txn.open_table(SCOPES).expect("scopes");
        scopes
            .get("eth0")
            .expect("get")
            .expect("eth0 has a scope")
            .value()
    };
    let day = Day { scope, date: DAY };
    let device_day = DeviceDay {
        scope,
        date: DAY,
        device: ip(DEVICE),
    };
    let txn = db.begin_write().expect("write");
    for (n, table) in [DAY_REMOTES, DAY_DEVICES, DAY_SERVICES, DAY_DEVICE_LABELS]
        .into_iter()
        .enumerate()
    {
        let mut table = txn.open_table(table).expect("table");
        assert!(
            table.get(day).expect("get").is_some(),
            "the first commit wrote it"
        );
        table
            .insert(day, damaged(n as u8).as_slice())
            .expect("damage");
    }
    {
        let mut pairs = txn.open_table(DAY_DEVICE_REMOTES).expect("pairs");
        assert!(pairs.get(device_day).expect("get").is_some());
        pairs
            .insert(device_day, damaged(4).as_slice())
            .expect("damage");
    }
    txn.commit().expect("commit the damage");
    drop(db);

    // A new process counts 5/5 more and commits twice.
    {
        let store = open(&path, 10);
        let mut persister = Persister::new(Arc::clone(&store)).with_labeler(Arc::clone(&labeler));
        persister
            .commit_at(&day_of(5, 5), NOW, 60)
            .expect("a commit over unreadable days succeeds");
        persister
            .commit_at(&day_of(5, 5), NOW, 60)
            .expect("and so does the next");
        assert_eq!(
            stored_hour(&store, &Scope::All, H),
            ud(105, 15),
            "hours are untouched"
        );
    }

    let kept = set_aside_entries(&path);
    assert_eq!(
        kept,
        [
            (
                "day_device_labels".to_string(),
                "eth0 2024-06-15".to_string(),
                damaged(3)
            ),
            (
                "day_device_remotes".to_string(),
                format!("eth0 2024-06-15 device {DEVICE}"),
                damaged(4)
            ),
            (
                "day_devices".to_string(),
                "eth0 2024-06-15".to_string(),
                damaged(1)
            ),
            (
                "day_remotes".to_string(),
                "eth0 2024-06-15".to_string(),
                damaged(0)
            ),
            (
                "day_services".to_string(),
                "eth0 2024-06-15".to_string(),
                damaged(2)
            ),
        ],
        "every unreadable value kept once, byte for byte"
    );
    // The rewritten day holds what the new process counted.
    let db = redb::Database::open(&path).expect("open the file with redb");
    let txn = db.begin_read().expect("read");
    let value = |table: TableDefinition<'static, DayKey, &'static [u8]>| {
        let table = txn.open_table(table).expect("table");
        let value = table.get(day).expect("get").expect("rewritten");
        value.value().to_vec()
    };
    let counted = vec![RemoteBytes {
        addr: ip(REMOTE),
        bytes: ud(5, 5),
    }];
    assert_eq!(decode_remotes(&value(DAY_REMOTES)), Some(counted));
    let devices = decode_remotes(&value(DAY_DEVICES)).expect("devices decode");
    assert_eq!(devices.len(), 1);
    assert_eq!((devices[0].addr, devices[0].bytes), (ip(DEVICE), ud(5, 5)));
    let (services, _) = decode_services_keeping(&value(DAY_SERVICES)).expect("services decode");
    assert_eq!(services.get(Service::Https), ud(5, 5));
    let labels = decode_labels(&value(DAY_DEVICE_LABELS)).expect("labels decode");
    assert_eq!(labels.len(), 1);
    assert_eq!(labels[0].name.as_deref(), Some("NAS"));
    let pairs = txn.open_table(DAY_DEVICE_REMOTES).expect("pairs");
    let list = pairs.get(device_day).expect("get").expect("rewritten");
    let remotes = decode_remotes(list.value()).expect("pairs decode");
    assert_eq!((remotes[0].addr, remotes[0].bytes), (ip(REMOTE), ud(5, 5)));
}

/// The memory of a process that counted only `date` (hour `hour`): `pairs` as (device, remote,
/// up, down), each also in the day's remote addresses, devices and HTTPS bytes.
fn day_memory(date: Date, hour: i64, pairs: &[(&str, &str, u64, u64)]) -> LiveView {
    let mut memory = with_pairs_on(LiveSnapshot::default(), date, pairs);
    for (_, remote, up, down) in pairs {
        *memory.hours.entry(hour).or_default() += ud(*up, *down);
        memory.remotes.entry(date).or_default().push(HeavyEntry {
            addr: ip(remote),
            bytes: ud(*up, *down),
            error: 0,
        });
        let services = memory.services.entry(date).or_default();
        services.add(Service::Https, Direction::Up, *up);
        services.add(Service::Https, Direction::Down, *down);
    }
    one("eth0", memory)
}

/// Readers never write, so a stored day they cannot read stays as it is; before, every range
/// that included it failed (an HTTP 500 for "all time" for ever). Now the day is left out of
/// each answer and the rest is answered. The damaged lists begin with a readable entry, so an
/// answer that counted a list up to its damage would show 203.0.113.99.
fn ranges_over_an_unreadable_day_leave_that_day_out() {
    const DEVICE: &str = "192.168.1.10";
    let next = DAY.tomorrow().expect("date");
    let dir = TempDir::new("persist-skip-unreadable");
    let path = dir.path().join("t.redb");
    let labeler = nas_labeler(dir.path());
    for (date, hour, pairs) in [
        (DAY, H, vec![(DEVICE, "203.0.113.1", 100, 10)]),
        (
            next,
            H + 86_400,
            vec![
                (DEVICE, "203.0.113.1", 5, 5),
                (DEVICE, "198.51.100.9", 3, 3),
            ],
        ),
    ] {
        // A process of its own for each day, so each commit's clock is plausible for its hour.
        let store = open(&path, 10);
        let mut persister = Persister::new(Arc::clone(&store)).with_labeler(Arc::clone(&labeler));
        persister
            .commit_at(&day_memory(date, hour, &pairs), hour + 3600 + 60, LIVED)
            .expect("commit");
    }

    // The first day's five values: a readable entry of a heavy address, then bytes no decoder
    // accepts; the services a value that is damaged throughout.
    let mut list = encode_remotes(&[RemoteBytes {
        addr: ip("203.0.113.99"),
        bytes: ud(1_000_000, 1_000_000),
    }]);
    list.extend_from_slice(&[0xEE, 0x01, 0xEE]);
    let mut labels = encode_labels(&[StoredLabel {
        addr: ip(DEVICE),
        name: Some("From the damaged day".into()),
        mac: None,
    }]);
    labels.extend_from_slice(&[0xEE, 0x01, 0xEE]);
    let services = vec![0xEE, 0x02, 0xEE, 0x00, 0x99];
    let db = redb::Database::open(&path).expect("open the file with redb");
    let day = Day {
        scope: 1,
        date: DAY,
    };
    {
        let txn = db.begin_read().expect("read");
        let scopes = txn.open_table(SCOPES).expect("scopes");
        assert_eq!(
            scopes.get("eth0").expect("get").map(|id| id.value()),
            Some(1)
        );
    }
    let device_day = DeviceDay {
        scope: 1,
        date: DAY,
        device: ip(DEVICE),
    };
    let txn = db.begin_write().expect("write");
    let damaged_values = [
        (DAY_REMOTES, &list),
        (DAY_DEVICES, &list),
        (DAY_DEVICE_LABELS, &labels),
        (DAY_SERVICES, &services),
    ];
    for (table, value) in damaged_values {
        let mut table = txn.open_table(table).expect("table");
        assert!(
            table.get(day).expect("get").is_some(),
            "the commit wrote it"
        );
        table.insert(day, value.as_slice()).expect("damage");
    }
    {
        let mut pairs = txn.open_table(DAY_DEVICE_REMOTES).expect("pairs");
        assert!(pairs.get(device_day).expect("get").is_some());
        pairs.insert(device_day, list.as_slice()).expect("damage");
    }
    txn.commit().expect("commit the damage");
    drop(db);

    let store = open(&path, 10);
    let read = store.read_stored().expect("read");
    let device = ip(DEVICE);
    let eth0 = Scope::Interface("eth0".into());
    for scope in [Scope::All, eth0] {
        let remotes =
            |list: Vec<nettraffic_sentinel::store::RemoteTotal>| -> Vec<(IpAddr, UpDown)> {
                list.into_iter().map(|r| (r.addr, r.bytes)).collect()
            };
        let second_day = vec![
            (ip("203.0.113.1"), ud(5, 5)),
            (ip("198.51.100.9"), ud(3, 3)),
        ];
        assert_eq!(
            remotes(read.top_remotes(&scope, DAY, next, 10).expect("remotes")),
            second_day,
            "{scope:?}"
        );
        assert_eq!(
            remotes(
                read.top_remotes_of(&scope, device, DAY, next, 10)
                    .expect("pairs")
            ),
            second_day,
            "{scope:?}"
        );
        assert_eq!(
            remotes(read.top_devices(&scope, DAY, next, 10).expect("devices")),
            vec![(device, ud(8, 8))],
            "{scope:?}"
        );
        let series: Vec<UpDown> = read
            .device_series(&scope, device, DAY, next, Granularity::Day)
            .expect("device series")
            .into_iter()
            .map(|point| point.bytes)
            .collect();
        assert_eq!(series, vec![ud(0, 0), ud(8, 8)], "{scope:?}");
        let by_service = read.services(&scope, DAY, next).expect("services");
        assert_eq!(
            by_service.iter().collect::<Vec<_>>(),
            vec![(Service::Https, ud(8, 8))],
            "{scope:?}"
        );
        let seen = read.top_devices_seen(&scope, DAY, next, 10).expect("seen");
        let shown = read
            .device_labels(&scope, DAY, next, &seen)
            .expect("labels");
        assert_eq!(
            shown.get(&device).and_then(|label| label.name.clone()),
            Some("NAS".to_string()),
            "{scope:?}"
        );
        // The damaged day alone: nothing, and no error. A device listed for it (from the
        // second day) finds no label on it: its lists are looked through and skipped.
        assert!(
            read.top_remotes(&scope, DAY, DAY, 10)
                .expect("remotes")
                .is_empty()
        );
        assert!(
            read.top_remotes_of(&scope, device, DAY, DAY, 10)
                .expect("pairs")
                .is_empty()
        );
        assert!(
            read.services(&scope, DAY, DAY)
                .expect("services")
                .is_empty()
        );
        assert!(
            read.device_labels(&scope, DAY, DAY, &seen)
                .expect("labels")
                .is_empty()
        );
    }
    drop(read);
    drop(store);

    // Reading wrote nothing: the damaged values are still there, byte for byte.
    let db = redb::Database::open(&path).expect("open the file with redb");
    let txn = db.begin_read().expect("read");
    for (table, value) in damaged_values {
        let table = txn.open_table(table).expect("table");
        let stored = table.get(day).expect("get").expect("still there");
        assert_eq!(stored.value(), value.as_slice());
    }
    let pairs = txn.open_table(DAY_DEVICE_REMOTES).expect("pairs");
    let stored = pairs.get(device_day).expect("get").expect("still there");
    assert_eq!(stored.value(), list.as_slice());
}

tests! {
    unreadable_stored_days_are_set_aside_and_saving_goes_on,
    ranges_over_an_unreadable_day_leave_that_day_out,
    repeated_commits_write_the_same_absolute_totals,
    device_pairs_survive_commits_and_restarts,
    a_restart_in_the_same_hour_continues_that_hour,
    interfaces_are_stored_apart_and_together,
    memory_that_shrinks_never_lowers_a_stored_total,
    each_day_keeps_only_its_heaviest_addresses,
    implausible_live_hours_are_never_stored,
    live_counts_not_yet_committed_are_added_exactly_once,
}
