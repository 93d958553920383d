//! Each device's remote addresses summed per closed month (`store::months`), against a real redb
//! file: `/api/top_ips?device=` must answer what the stored days give by the documented rule,
//! worked out here the straightforward way: a month the range covers whole, that is summed, and
//! whose days hold more than `REMOTES_PER_DEVICE_MONTH` entries of the device, counts each remote
//! address's month total if it is among the device's `REMOTES_PER_DEVICE_MONTH` heaviest of that
//! month (ties by address), nothing otherwise; every other day counts its own list. Also: summing in budgeted steps, a file of version 2 upgraded
//! in place, a summed list that cannot be read (its days answer), a day written into a summed
//! month (the sum is forgotten in the same commit), and a restart.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::civil::Date;
use redb::{ReadableDatabase, ReadableTable};

use nettraffic_sentinel::classify::AddressClassifier;
use nettraffic_sentinel::clock::{Zone, unix_now};
use nettraffic_sentinel::count::UpDown;
use nettraffic_sentinel::count::heavy::{HeavyEntry, Pair};
use nettraffic_sentinel::count::live::LiveSnapshot;
use nettraffic_sentinel::live::{Capacity, LiveState};
use nettraffic_sentinel::persister::Persister;
use nettraffic_sentinel::store::days::day_start;
use nettraffic_sentinel::store::months::{DEVICES_PER_MONTH, REMOTES_PER_DEVICE_MONTH};
use nettraffic_sentinel::store::schema::{
    DAY_DEVICE_REMOTES, DAY_DEVICES, Day, DeviceDay, HOURS, Hour, META, META_SCHEMA_VERSION,
    MONTH_DEVICE_REMOTES, MONTH_DEVICES, MONTHS_SUMMED, RemoteBytes, SCHEMA_VERSION, SCOPES,
    encode_remotes,
};
use nettraffic_sentinel::store::{LiveView, Scope, Store};

use crate::store_devices::Lcg;
use crate::support::TempDir;

const NAS: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10));
const TV: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 20));
const PHONE: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 5));
const NOBODY: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 99));

/// Scope ids of the two interfaces.
const ETH0: u32 = 1;
const ETH1: u32 = 2;

const FIRST: Date = Date::constant(2024, 1, 20);
const LAST: Date = Date::constant(2024, 4, 10);

/// Stored pairs: (scope, date, device) → that device's remote addresses of the day.
type Days = HashMap<(u32, Date, IpAddr), Vec<RemoteBytes>>;

fn remote_v4(a: u8, b: u8, c: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, 0))
}

/// The NAS (eth0) talks to 40 addresses every day and 160 new ones a day, so a whole month holds
/// more than `REMOTES_PER_DEVICE_MONTH` of them; the TV (both interfaces) to 30 of 35 recurring
/// ones; the phone (eth1, IPv6) to a few IPv6 addresses. Small counts, so totals tie often.
fn history() -> Days {
    let mut rng = Lcg(2024);
    let mut days = Days::new();
    let mut date = FIRST;
    let mut number = 0u32;
    while date <= LAST {
        let mut bytes = || UpDown {
            up: rng.next() % 50,
            down: rng.next() % 200,
        };
        let mut nas = Vec::new();
        for i in 0..40u8 {
            nas.push(RemoteBytes {
                addr: IpAddr::V4(Ipv4Addr::new(198, 51, 100, i + 1)),
                bytes: bytes(),
            });
        }
        for i in 0..160u32 {
            let n = number * 160 + i;
            nas.push(RemoteBytes {
                addr: remote_v4(203, (n >> 8) as u8, n as u8),
                bytes: bytes(),
            });
        }
        days.insert((ETH0, date, NAS), nas);
        for scope in [ETH0, ETH1] {
            let tv = (0..35u8)
                .filter(|i| !(u32::from(*i) + number).is_multiple_of(7))
                .map(|i| RemoteBytes {
                    addr: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 100 + i)),
                    bytes: bytes(),
                })
                .collect();
            days.insert((scope, date, TV), tv);
        }
        let phone = (0..4u16)
            .map(|i| RemoteBytes {
                addr: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i + 1)),
                bytes: bytes(),
            })
            .collect();
        days.insert((ETH1, date, PHONE), phone);
        date = date.tomorrow().expect("date");
        number += 1;
    }
    days
}

/// Write `days` straight into a new file (as the persister leaves them: a day with pairs has
/// hours), recorded as database version 2, the layout before month sums.
fn write(path: &std::path::Path, zone: &Zone, days: &Days) {
    write_lists(path, zone, days, &DeviceDays::new());
}

/// Write `pairs` and `devices` straight into a new file, with one hour of each day holding the
/// day's bytes, recorded as version 2.
fn write_lists(path: &std::path::Path, zone: &Zone, pairs: &Days, devices: &DeviceDays) {
    drop(Store::open(path, zone.clone(), 1000).expect("create the history"));
    let db = redb::Database::open(path).expect("open with redb");
    let txn = db.begin_write().expect("write");
    {
        let mut scopes = txn.open_table(SCOPES).expect("scopes");
        scopes.insert("eth0", ETH0).expect("eth0");
        scopes.insert("eth1", ETH1).expect("eth1");
        // (scope, hour start) → the hour's bytes.
        let mut hours: HashMap<(u32, i64), UpDown> = HashMap::new();
        let mut stored = |scope: u32, date: Date, list: &[RemoteBytes]| {
            let mut list = list.to_vec();
            nettraffic_sentinel::store::schema::keep_heaviest(&mut list, usize::MAX);
            let sum = hours
                .entry((scope, day_start(zone, date) + 12 * 3600))
                .or_default();
            for entry in &list {
                *sum += entry.bytes;
            }
            encode_remotes(&list)
        };
        let mut pairs_table = txn.open_table(DAY_DEVICE_REMOTES).expect("pairs");
        for ((scope, date, device), list) in pairs {
            let key = DeviceDay {
                scope: *scope,
                date: *date,
                device: *device,
            };
            let value = stored(*scope, *date, list);
            pairs_table.insert(key, value.as_slice()).expect("pairs");
        }
        let mut devices_table = txn.open_table(DAY_DEVICES).expect("devices");
        for ((scope, date), list) in devices {
            let key = Day {
                scope: *scope,
                date: *date,
            };
            let value = stored(*scope, *date, list);
            devices_table
                .insert(key, value.as_slice())
                .expect("devices");
        }
        let mut hours_table = txn.open_table(HOURS).expect("hours");
        for ((scope, start), bytes) in hours {
            hours_table
                .insert(Hour { scope, start }, bytes)
                .expect("hour");
        }
        let mut meta = txn.open_table(META).expect("meta");
        meta.insert(META_SCHEMA_VERSION, &2u32.to_le_bytes()[..])
            .expect("version");
    }
    txn.commit().expect("commit");
}

fn ids(scope: &Scope) -> Vec<u32> {
    match scope {
        Scope::All => vec![ETH0, ETH1],
        Scope::Interface(name) if name == "eth0" => vec![ETH0],
        Scope::Interface(name) if name == "eth1" => vec![ETH1],
        Scope::Interface(_) => vec![],
    }
}

/// The answer by the rule, where `summed(scope, month start)` says which months have a sum.
fn expected(
    days: &Days,
    scope: &Scope,
    device: IpAddr,
    (first, last): (Date, Date),
    limit: usize,
    summed: &dyn Fn(u32, Date) -> bool,
) -> Vec<(IpAddr, UpDown)> {
    let mut sums: HashMap<IpAddr, UpDown> = HashMap::new();
    for id in ids(scope) {
        let mut month = first.first_of_month();
        while month <= last {
            let end = month.last_of_month();
            let in_month = |date: &Date| (month..=end).contains(date);
            let mine: Vec<_> = days
                .iter()
                .filter(|((s, date, d), _)| *s == id && *d == device && in_month(date))
                .collect();
            let entries: usize = mine.iter().map(|(_, list)| list.len()).sum();
            if first <= month
                && end <= last
                && summed(id, month)
                && entries > REMOTES_PER_DEVICE_MONTH
            {
                let mut month_sums: HashMap<IpAddr, UpDown> = HashMap::new();
                for (_, list) in mine {
                    for remote in list {
                        *month_sums.entry(remote.addr).or_default() += remote.bytes;
                    }
                }
                let mut kept: Vec<(IpAddr, UpDown)> = month_sums.into_iter().collect();
                kept.sort_by(|a, b| b.1.total().cmp(&a.1.total()).then(a.0.cmp(&b.0)));
                kept.truncate(REMOTES_PER_DEVICE_MONTH);
                for (addr, bytes) in kept {
                    *sums.entry(addr).or_default() += bytes;
                }
            } else {
                for ((_, date, _), list) in mine {
                    if (first..=last).contains(date) {
                        for remote in list {
                            *sums.entry(remote.addr).or_default() += remote.bytes;
                        }
                    }
                }
            }
            month = end.tomorrow().expect("date");
        }
    }
    let mut list: Vec<(IpAddr, UpDown)> = sums.into_iter().collect();
    list.sort_by(|a, b| b.1.total().cmp(&a.1.total()).then(a.0.cmp(&b.0)));
    list.truncate(limit);
    list
}

fn ranges() -> Vec<(Date, Date)> {
    let d = Date::constant;
    vec![
        (FIRST, LAST),
        (d(2024, 1, 1), d(2024, 12, 31)),
        (d(2024, 2, 1), d(2024, 3, 31)),
        (d(2024, 2, 15), d(2024, 3, 20)),
        (d(2024, 3, 1), d(2024, 3, 31)),
        (d(2024, 3, 5), d(2024, 3, 25)),
        (d(2024, 1, 31), d(2024, 2, 29)),
    ]
}

fn scopes() -> [Scope; 3] {
    [
        Scope::All,
        Scope::Interface("eth0".into()),
        Scope::Interface("eth1".into()),
    ]
}

/// Every device, scope, range and limit asked of `store` against the rule with `summed`; how
/// many answers were compared.
fn check_all(store: &Store, days: &Days, summed: &dyn Fn(u32, Date) -> bool, when: &str) -> usize {
    let mut compared = 0;
    let read = store.read_stored().expect("read");
    for scope in scopes() {
        for device in [NAS, TV, PHONE, NOBODY] {
            for range in ranges() {
                for limit in [10, 1000] {
                    let got: Vec<(IpAddr, UpDown)> = read
                        .top_remotes_of(&scope, device, range.0, range.1, limit)
                        .expect("remotes of a device")
                        .into_iter()
                        .map(|r| (r.addr, r.bytes))
                        .collect();
                    let want = expected(days, &scope, device, range, limit, summed);
                    assert_eq!(
                        got, want,
                        "{when}: {scope:?} {device} {range:?} limit {limit}"
                    );
                    compared += 1;
                }
            }
        }
    }
    compared
}

/// Device lists of whole months with more remote addresses than the bound (cut when summed).
fn months_over_the_bound(days: &Days) -> u32 {
    let mut remotes: HashMap<(u32, Date, IpAddr), BTreeSet<IpAddr>> = HashMap::new();
    for ((scope, date, device), list) in days {
        let set = remotes
            .entry((*scope, date.first_of_month(), *device))
            .or_default();
        set.extend(list.iter().map(|r| r.addr));
    }
    remotes
        .values()
        .filter(|set| set.len() > REMOTES_PER_DEVICE_MONTH)
        .count() as u32
}

fn marks(path: &std::path::Path) -> Vec<(u32, Date)> {
    let db = redb::Database::open(path).expect("open with redb");
    let txn = db.begin_read().expect("read");
    let table = txn.open_table(MONTHS_SUMMED).expect("months_summed");
    table
        .iter()
        .expect("iter")
        .map(|entry| {
            let key = entry.expect("entry").0.value();
            (key.scope, key.date)
        })
        .collect()
}

/// The keys of `month_device_remotes`, sorted.
fn month_lists(path: &std::path::Path) -> Vec<(u32, Date, IpAddr)> {
    let db = redb::Database::open(path).expect("open with redb");
    let txn = db.begin_read().expect("read");
    let table = txn
        .open_table(MONTH_DEVICE_REMOTES)
        .expect("month_device_remotes");
    let mut keys: Vec<(u32, Date, IpAddr)> = table
        .iter()
        .expect("iter")
        .map(|entry| {
            let key = entry.expect("entry").0.value();
            (key.scope, key.date, key.device)
        })
        .collect();
    keys.sort_unstable();
    keys
}

/// Commit, as the persister of a monitor whose clock reads `day` 12:30, `bytes` in that day's
/// noon hour of eth0 and what `fill` adds to the snapshot (a clock that jumped back, say).
fn commit_on_eth0(
    store: &Arc<Store>,
    zone: &Zone,
    day: Date,
    bytes: UpDown,
    fill: impl FnOnce(&mut LiveSnapshot),
) -> Persister {
    let mut persister = Persister::new(Arc::clone(store));
    let noon = day_start(zone, day) + 12 * 3600;
    let mut snapshot = LiveSnapshot::default();
    snapshot.hours.insert(noon, bytes);
    fill(&mut snapshot);
    let view = LiveView {
        interfaces: vec![("eth0".to_string(), snapshot)],
    };
    persister
        .commit_at(&view, noon + 1800, 86_400)
        .expect("commit a day of a summed month");
    persister
}

fn closed(month: Date) -> bool {
    month < LAST.first_of_month()
}

fn month_sums_follow_the_rule_through_upgrade_damage_rewrite_and_restart() {
    let dir = TempDir::new("store-months");
    let path = dir.path().join("t.redb");
    let zone = Zone::named("UTC").expect("zone");
    let mut days = history();
    write(&path, &zone, &days);
    // The rule must cut something here, or the test proves nothing about the bound.
    let over = months_over_the_bound(&days);
    assert!(over >= 2, "{over} device months over the bound");

    // A version 2 file opens read-only as it is (`export`), and for the monitor upgraded in
    // place; both answer by day until months are summed.
    let by_day = |_: u32, _: Date| false;
    let read_only = Store::open_read_only(&path, zone.clone()).expect("read-only, version 2");
    check_all(&read_only, &days, &by_day, "read-only, version 2");
    drop(read_only);
    let store = Arc::new(Store::open(&path, zone.clone(), 1000).expect("open a version 2 file"));
    let compared = check_all(&store, &days, &by_day, "before summing");
    assert_eq!(compared, 3 * 4 * 7 * 2);
    let full_by_day = store
        .read_stored()
        .expect("read")
        .top_remotes_of(&Scope::All, NAS, FIRST, LAST, usize::MAX)
        .expect("remotes");

    // With no budget each step sums one month: eth0 and eth1 × January, February, March.
    let before = LAST;
    let mut steps = Vec::new();
    loop {
        let done = store
            .sum_closed_months(before, Duration::ZERO)
            .expect("sum a step");
        steps.push((done.summed, done.left));
        if done.left == 0 {
            break;
        }
    }
    assert_eq!(
        steps,
        vec![(1, 5), (1, 4), (1, 3), (1, 2), (1, 1), (1, 0)],
        "steps"
    );
    let again = store
        .sum_closed_months(before, Duration::MAX)
        .expect("nothing left");
    assert_eq!((again.summed, again.left), (0, 0));
    let summed = |_: u32, month: Date| closed(month);
    check_all(&store, &days, &summed, "summed");
    // The cut shows in the tail of the NAS's list (addresses left out), not in its head.
    let full_summed = store
        .read_stored()
        .expect("read")
        .top_remotes_of(&Scope::All, NAS, FIRST, LAST, usize::MAX)
        .expect("remotes");
    assert_ne!(full_summed, full_by_day);
    let head = |list: &[nettraffic_sentinel::store::RemoteTotal]| list[..10].to_vec();
    assert_eq!(head(&full_summed), head(&full_by_day));
    drop(store);
    {
        let db = redb::Database::open(&path).expect("open with redb");
        let txn = db.begin_read().expect("read");
        let meta = txn.open_table(META).expect("meta");
        let version = meta
            .get(META_SCHEMA_VERSION)
            .expect("get")
            .expect("version")
            .value()
            .to_vec();
        assert_eq!(version, SCHEMA_VERSION.to_le_bytes().to_vec());
    }
    let mut marked = marks(&path);
    marked.sort_unstable();
    let d = Date::constant;
    assert_eq!(
        marked,
        vec![
            (ETH0, d(2024, 1, 1)),
            (ETH0, d(2024, 2, 1)),
            (ETH0, d(2024, 3, 1)),
            (ETH1, d(2024, 1, 1)),
            (ETH1, d(2024, 2, 1)),
            (ETH1, d(2024, 3, 1)),
        ]
    );

    // Month lists only for devices whose days of the month hold more entries than the bound.
    let mut heavy_months: Vec<(u32, Date, IpAddr)> = {
        let mut entries: HashMap<(u32, Date, IpAddr), usize> = HashMap::new();
        for ((scope, date, device), list) in &days {
            if closed(date.first_of_month()) {
                *entries
                    .entry((*scope, date.first_of_month(), *device))
                    .or_default() += list.len();
            }
        }
        entries
            .into_iter()
            .filter(|(_, n)| *n > REMOTES_PER_DEVICE_MONTH)
            .map(|(key, _)| key)
            .collect()
    };
    heavy_months.sort_unstable();
    assert_eq!(month_lists(&path), heavy_months);
    assert!(!heavy_months.is_empty());

    // A summed list that cannot be read: that month of that device answers by day.
    {
        let db = redb::Database::open(&path).expect("open with redb");
        let txn = db.begin_write().expect("write");
        txn.open_table(MONTH_DEVICE_REMOTES)
            .expect("months")
            .insert(
                DeviceDay {
                    scope: ETH0,
                    date: d(2024, 3, 1),
                    device: NAS,
                },
                &[4u8, 198, 51, 100, 1, 0x80][..],
            )
            .expect("damage");
        txn.commit().expect("commit");
    }
    let store = Arc::new(Store::open(&path, zone.clone(), 1000).expect("open"));
    let damaged = |id: u32, month: Date| closed(month) && (id, month) != (ETH0, d(2024, 3, 1));
    let summed_but_nas = |_: u32, month: Date| closed(month);
    // Only the NAS's March list is damaged: the TV's and the phone's stay summed.
    for scope in scopes() {
        for range in ranges() {
            let read = store.read_stored().expect("read");
            let got: Vec<(IpAddr, UpDown)> = read
                .top_remotes_of(&scope, NAS, range.0, range.1, 1000)
                .expect("remotes of the NAS")
                .into_iter()
                .map(|r| (r.addr, r.bytes))
                .collect();
            assert_eq!(
                got,
                expected(&days, &scope, NAS, range, 1000, &damaged),
                "damaged: {scope:?} {range:?}"
            );
        }
    }
    for device in [TV, PHONE] {
        let read = store.read_stored().expect("read");
        let got: Vec<(IpAddr, UpDown)> = read
            .top_remotes_of(&Scope::All, device, FIRST, LAST, 1000)
            .expect("remotes")
            .into_iter()
            .map(|r| (r.addr, r.bytes))
            .collect();
        assert_eq!(
            got,
            expected(
                &days,
                &Scope::All,
                device,
                (FIRST, LAST),
                1000,
                &summed_but_nas
            )
        );
    }

    // The persister writes a day of a summed month (a clock that jumped back, say): the month's
    // sum goes in the same commit, and the month answers by day, new pair included.
    let day = d(2024, 2, 10);
    let heavy = remote_v4(203, 255, 1);
    let bytes = UpDown {
        up: 7,
        down: 1_000_000,
    };
    let persister = commit_on_eth0(&store, &zone, day, bytes, |snapshot| {
        snapshot.pairs.entry(day).or_default().push(HeavyEntry {
            addr: Pair {
                device: NAS,
                remote: heavy,
            },
            bytes,
            error: 0,
        });
    });
    days.get_mut(&(ETH0, day, NAS))
        .expect("the NAS's day")
        .push(RemoteBytes { addr: heavy, bytes });
    let february_by_day =
        |id: u32, month: Date| damaged(id, month) && (id, month) != (ETH0, d(2024, 2, 1));
    for range in ranges() {
        let read = store.read_stored().expect("read");
        let got: Vec<(IpAddr, UpDown)> = read
            .top_remotes_of(&Scope::All, NAS, range.0, range.1, 1000)
            .expect("remotes of the NAS")
            .into_iter()
            .map(|r| (r.addr, r.bytes))
            .collect();
        assert_eq!(
            got,
            expected(&days, &Scope::All, NAS, range, 1000, &february_by_day),
            "after the rewrite: {range:?}"
        );
    }
    let top = store
        .read_stored()
        .expect("read")
        .top_remotes_of(&Scope::Interface("eth0".into()), NAS, FIRST, LAST, 1)
        .expect("remotes");
    assert_eq!(top[0].addr, heavy);

    // Summed again (February of eth0, and the day's hour made February a month of "all
    // interfaces" too); then a restart reads the same.
    let done = store
        .sum_closed_months(before, Duration::MAX)
        .expect("sum again");
    assert_eq!((done.summed, done.left), (2, 0));
    let summed_again = |id: u32, month: Date| damaged(id, month);
    check_all(&store, &days, &summed_again, "summed again");
    drop(persister);
    drop(store);
    let store = Store::open(&path, zone, 1000).expect("open again");
    check_all(&store, &days, &summed_again, "after a restart");
}

/// The running persister sums the closed months of a history it was started on, in steps
/// between commits, without being asked.
fn the_persister_thread_sums_closed_months_between_commits() {
    let dir = TempDir::new("store-months-thread");
    let path = dir.path().join("t.redb");
    let zone = Zone::utc();
    let days = history();
    write(&path, &zone, &days);
    let store = Arc::new(Store::open(&path, zone.clone(), 1000).expect("open"));
    let yesterday = zone.date_of(unix_now()).yesterday().expect("yesterday");
    // January to April of 2024, of eth0 and eth1.
    assert_eq!(store.months_to_sum(yesterday).expect("count"), 8);
    let live = Arc::new(LiveState::new(
        &["eth0".to_string()],
        1,
        &zone,
        Capacity {
            remotes: 16,
            devices: 16,
        },
        AddressClassifier::default(),
        unix_now(),
    ));
    // An interval far longer than the test: only the steps between commits can sum.
    let thread = Persister::new(Arc::clone(&store))
        .spawn(live, Duration::from_secs(3600))
        .expect("start the persister");
    let started = Instant::now();
    while store.months_to_sum(yesterday).expect("count") > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "months left after a minute: {}",
            store.months_to_sum(yesterday).expect("count")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    thread.finish().expect("the last commit");
    check_all(
        &store,
        &days,
        &|_, _| true,
        "summed by the persister thread",
    );
    drop(store);
    assert_eq!(marks(&path).len(), 8);
}

/// Stored devices: (scope, date) → the day's devices.
type DeviceDays = HashMap<(u32, Date), Vec<RemoteBytes>>;

/// 20 IPv4 devices every day and 180 IPv6 addresses new each day, per interface: 6,200 entries a
/// whole month, over the bound of 4,096.
fn device_history() -> DeviceDays {
    let mut rng = Lcg(14);
    let mut days = DeviceDays::new();
    for scope in [ETH0, ETH1] {
        let mut date = FIRST;
        let mut number = 0u16;
        while date <= LAST {
            let mut list = Vec::new();
            for i in 0..20u8 {
                list.push(RemoteBytes {
                    addr: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10 + i)),
                    bytes: UpDown {
                        up: rng.next() % 300,
                        down: rng.next() % 900,
                    },
                });
            }
            for i in 0..180u16 {
                list.push(RemoteBytes {
                    addr: IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, number, 0, i)),
                    bytes: UpDown {
                        up: rng.next() % 30,
                        down: rng.next() % 90,
                    },
                });
            }
            days.insert((scope, date), list);
            date = date.tomorrow().expect("date");
            number += 1;
        }
    }
    days
}

/// The heaviest devices by the rule (as [`expected`] for remote addresses), each with the last
/// day it was listed on (a month list keeps each device's).
fn expected_devices(
    days: &DeviceDays,
    scope: &Scope,
    (first, last): (Date, Date),
    limit: usize,
    summed: &dyn Fn(u32, Date) -> bool,
) -> Vec<(IpAddr, UpDown, Date)> {
    let mut sums: HashMap<IpAddr, (UpDown, Date)> = HashMap::new();
    let mut add = |addr: IpAddr, bytes: UpDown, date: Date| {
        let sum = sums.entry(addr).or_insert((UpDown::default(), date));
        sum.0 += bytes;
        sum.1 = sum.1.max(date);
    };
    for id in ids(scope) {
        let mut month = first.first_of_month();
        while month <= last {
            let end = month.last_of_month();
            let mine: Vec<(&Date, &Vec<RemoteBytes>)> = days
                .iter()
                .filter(|((s, date), _)| *s == id && (month..=end).contains(date))
                .map(|((_, date), list)| (date, list))
                .collect();
            let entries: usize = mine.iter().map(|(_, list)| list.len()).sum();
            if first <= month && end <= last && summed(id, month) && entries > DEVICES_PER_MONTH {
                let mut month_sums: HashMap<IpAddr, (UpDown, Date)> = HashMap::new();
                for (date, list) in &mine {
                    for device in *list {
                        let sum = month_sums
                            .entry(device.addr)
                            .or_insert((UpDown::default(), **date));
                        sum.0 += device.bytes;
                        sum.1 = sum.1.max(**date);
                    }
                }
                let mut kept: Vec<(IpAddr, (UpDown, Date))> = month_sums.into_iter().collect();
                kept.sort_by(|a, b| b.1.0.total().cmp(&a.1.0.total()).then(a.0.cmp(&b.0)));
                kept.truncate(DEVICES_PER_MONTH);
                for (addr, (bytes, last_listed)) in kept {
                    add(addr, bytes, last_listed);
                }
            } else {
                for (date, list) in mine {
                    if (first..=last).contains(date) {
                        for device in list {
                            add(device.addr, device.bytes, *date);
                        }
                    }
                }
            }
            month = end.tomorrow().expect("date");
        }
    }
    let mut list: Vec<(IpAddr, UpDown, Date)> =
        sums.into_iter().map(|(a, (b, d))| (a, b, d)).collect();
    list.sort_by(|a, b| b.1.total().cmp(&a.1.total()).then(a.0.cmp(&b.0)));
    list.truncate(limit);
    list
}

fn check_devices(store: &Store, days: &DeviceDays, summed: &dyn Fn(u32, Date) -> bool, when: &str) {
    let read = store.read_stored().expect("read");
    for scope in scopes() {
        for range in ranges() {
            for limit in [20, 1000, usize::MAX] {
                let got: Vec<(IpAddr, UpDown, Date)> = read
                    .top_devices_seen(&scope, range.0, range.1, limit)
                    .expect("devices")
                    .into_iter()
                    .map(|d| (d.addr, d.bytes, d.last))
                    .collect();
                let want = expected_devices(days, &scope, range, limit, summed);
                assert_eq!(got, want, "{when}: {scope:?} {range:?} limit {limit}");
            }
        }
    }
}

/// The devices of a scope summed per closed month follow the same rule, and a day of devices
/// written into a summed month forgets the month's sum.
fn device_month_sums_follow_the_rule() {
    let dir = TempDir::new("store-months-devices");
    let path = dir.path().join("t.redb");
    let zone = Zone::named("UTC").expect("zone");
    let mut days = device_history();
    write_lists(&path, &zone, &Days::new(), &days);
    let store = Arc::new(Store::open(&path, zone.clone(), 1000).expect("open"));
    check_devices(&store, &days, &|_, _| false, "by day");
    let by_day_all = store
        .read_stored()
        .expect("read")
        .top_devices(&Scope::All, FIRST, LAST, usize::MAX)
        .expect("devices");
    let done = store
        .sum_closed_months(LAST, Duration::MAX)
        .expect("sum the months");
    // January, February and March of both interfaces; February and March were cut.
    assert_eq!((done.summed, done.cut, done.left), (6, 4, 0));
    check_devices(&store, &days, &|_, month| closed(month), "summed");
    let summed_all = store
        .read_stored()
        .expect("read")
        .top_devices(&Scope::All, FIRST, LAST, usize::MAX)
        .expect("devices");
    assert!(
        summed_all.len() < by_day_all.len(),
        "the bound left devices out"
    );
    assert_eq!(summed_all[..20], by_day_all[..20], "but not the heavy ones");

    // The persister writes a day of devices into March of eth0 (a clock that jumped back).
    let day = Date::constant(2024, 3, 10);
    let newcomer = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 200));
    let bytes = UpDown {
        up: 5,
        down: 1_000_000,
    };
    let persister = commit_on_eth0(&store, &zone, day, bytes, |snapshot| {
        snapshot.devices.entry(day).or_default().push(HeavyEntry {
            addr: newcomer,
            bytes,
            error: 0,
        });
    });
    // The day keeps its `DEVICES_PER_DAY` (256) heaviest: all 200 and the newcomer.
    days.get_mut(&(ETH0, day))
        .expect("the day")
        .push(RemoteBytes {
            addr: newcomer,
            bytes,
        });
    let march_by_day =
        |id: u32, month: Date| closed(month) && (id, month) != (ETH0, day.first_of_month());
    check_devices(&store, &days, &march_by_day, "after the rewrite");
    let top = store
        .read_stored()
        .expect("read")
        .top_devices(&Scope::Interface("eth0".into()), FIRST, LAST, 1)
        .expect("devices");
    assert_eq!(top[0].addr, newcomer);
    let done = store
        .sum_closed_months(LAST, Duration::MAX)
        .expect("sum again");
    // March of eth0, and March of all interfaces (the commit's hour), which has no devices.
    assert_eq!((done.summed, done.left), (2, 0));
    check_devices(&store, &days, &|_, month| closed(month), "summed again");

    // A month list of devices that cannot be read: that month answers by day.
    drop(persister);
    drop(store);
    let february = Date::constant(2024, 2, 1);
    {
        let db = redb::Database::open(&path).expect("open with redb");
        let txn = db.begin_write().expect("write");
        txn.open_table(MONTH_DEVICES)
            .expect("month_devices")
            .insert(
                Day {
                    scope: ETH1,
                    date: february,
                },
                &[6u8, 0xfd][..],
            )
            .expect("damage");
        txn.commit().expect("commit");
    }
    let store = Store::open(&path, zone, 1000).expect("open again");
    let damaged = |id: u32, month: Date| closed(month) && (id, month) != (ETH1, february);
    check_devices(&store, &days, &damaged, "a damaged month list");
}

/// `import` into a summed month forgets the month's sums in its own transaction: the imported
/// device and pair count, read by day, where the month lists (made without them) would leave
/// them out.
fn an_import_into_a_summed_month_forgets_its_sums() {
    const ALL: u32 = 0;
    let dir = TempDir::new("store-months-import");
    let path = dir.path().join("t.redb");
    let zone = Zone::utc();
    let lan_host = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 2));
    // June 2024 of "all interfaces" (where `import` writes): 200 other devices a day, and 200
    // remote addresses a day of the LAN host the capture has, all lighter than what it imports.
    let one = UpDown { up: 1, down: 0 };
    let mut pairs = Days::new();
    let mut devices = DeviceDays::new();
    let mut date = Date::constant(2024, 6, 1);
    let mut number = 0u32;
    while date <= Date::constant(2024, 6, 30) {
        let remotes = (0..200u32)
            .map(|i| RemoteBytes {
                addr: remote_v4(
                    203,
                    ((number * 200 + i) >> 8) as u8,
                    (number * 200 + i) as u8,
                ),
                bytes: one,
            })
            .collect();
        pairs.insert((ALL, date, lan_host), remotes);
        let others = (0..200u16)
            .map(|i| RemoteBytes {
                addr: IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, number as u16, 0, i)),
                bytes: one,
            })
            .collect();
        devices.insert((ALL, date), others);
        date = date.tomorrow().expect("date");
        number += 1;
    }
    write_lists(&path, &zone, &pairs, &devices);
    let store = Store::open(&path, zone.clone(), 10).expect("open");
    let done = store
        .sum_closed_months(Date::constant(2024, 8, 1), Duration::MAX)
        .expect("sum June");
    assert_eq!((done.summed, done.cut), (1, 2), "June, both lists cut");
    drop(store);
    assert_eq!(marks(&path), vec![(ALL, Date::constant(2024, 6, 1))]);

    let capture = dir.write("wan.pcap", &crate::store_import::capture());
    let output = crate::store_import::import(&path, &[&capture]);
    assert!(output.status.success());
    assert_eq!(marks(&path), vec![], "the import forgot June's sums");
    assert_eq!(month_lists(&path), vec![]);

    let june = (Date::constant(2024, 6, 1), Date::constant(2024, 6, 30));
    let store = Store::open(&path, zone, 10).expect("open again");
    let read = store.read_stored().expect("read");
    // The capture: 198.51.100.7 sent the LAN host 200 bytes on the 15th, and it sent 50 back.
    let imported = UpDown { up: 50, down: 200 };
    let top = read
        .top_remotes_of(&Scope::All, lan_host, june.0, june.1, 1)
        .expect("remotes of the LAN host");
    assert_eq!(
        top.iter().map(|r| (r.addr, r.bytes)).collect::<Vec<_>>(),
        vec![(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), imported)]
    );
    let top = read
        .top_devices(&Scope::All, june.0, june.1, 1)
        .expect("devices");
    assert_eq!(
        top.iter().map(|d| (d.addr, d.bytes)).collect::<Vec<_>>(),
        vec![(lan_host, imported)]
    );
}

tests! {
    an_import_into_a_summed_month_forgets_its_sums,
    month_sums_follow_the_rule_through_upgrade_damage_rewrite_and_restart,
    the_persister_thread_sums_closed_months_between_commits,
    device_month_sums_follow_the_rule,
}
