//! The heaviest devices over a range and how they were shown, against a real redb file: the answer
//! of the fast path (`store::tally`, and labels looked up on each device's last day first) must
//! equal the stored days summed the straightforward way, here in the test: every address summed
//! over every stored day of the range and scope, sorted heaviest first (ties by address), and
//! per device the label of the latest day that stored one.
//!
//! The days are written straight into the tables, as the persister leaves them (a day's labels
//! are those of devices in its list), over two interfaces and across month ends, with devices
//! that come back, devices with a new address every day, ties, labels that change, labels missing
//! on a device's last day, and enough entries that the sums are spread over partitions.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use jiff::civil::Date;
use nettraffic_sentinel::clock::Zone;
use nettraffic_sentinel::count::UpDown;
use nettraffic_sentinel::store::schema::{
    DAY_DEVICE_LABELS, DAY_DEVICES, Day, RemoteBytes, SCOPES, StoredLabel, encode_labels,
    encode_remotes,
};
use nettraffic_sentinel::store::{Scope, Store};

use crate::support::TempDir;

/// One stored day of one interface: its devices (heaviest first) and its labels.
struct StoredDay {
    scope: u32,
    date: Date,
    devices: Vec<RemoteBytes>,
    labels: Vec<StoredLabel>,
}

/// A small deterministic generator (no randomness between runs).
pub(crate) struct Lcg(pub(crate) u64);

impl Lcg {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// 2024-01-20 to 2024-03-10 on eth0 (scope 1) and eth1 (scope 2).
fn history() -> Vec<StoredDay> {
    let mut rng = Lcg(14);
    let mut days = Vec::new();
    for scope in [1u32, 2] {
        let mut date = Date::constant(2024, 1, 20);
        let mut number = 0u32;
        while date <= Date::constant(2024, 3, 10) {
            let mut devices: Vec<RemoteBytes> = Vec::new();
            // 60 IPv4 devices that come back (a few each day are missing), and 300 IPv6
            // addresses new every day; small byte counts, so many totals tie.
            for i in 0..60u32 {
                if rng.next().is_multiple_of(5) {
                    continue;
                }
                devices.push(RemoteBytes {
                    addr: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10 + i as u8)),
                    bytes: UpDown {
                        up: rng.next() % 40,
                        down: rng.next() % 40,
                    },
                });
            }
            for i in 0..300u32 {
                devices.push(RemoteBytes {
                    addr: IpAddr::V6(Ipv6Addr::new(
                        0xfd00,
                        0,
                        0,
                        0,
                        0,
                        number as u16,
                        0,
                        i as u16,
                    )),
                    bytes: UpDown {
                        up: rng.next() % 60,
                        down: rng.next() % 60,
                    },
                });
            }
            devices.sort_by_key(|device| std::cmp::Reverse(device.bytes.total()));
            // Most devices are labelled; the name says on which day, so a later one shows.
            let mut labels = Vec::new();
            for device in &devices {
                let roll = rng.next();
                if roll.is_multiple_of(4) {
                    continue;
                }
                labels.push(StoredLabel {
                    addr: device.addr,
                    name: roll.is_multiple_of(3).then(|| format!("{date} device")),
                    mac: Some([2, 0, 0, scope as u8, number as u8, 1]),
                });
            }
            days.push(StoredDay {
                scope,
                date,
                devices,
                labels,
            });
            date = date.tomorrow().expect("date");
            number += 1;
        }
    }
    days
}

fn write(path: &std::path::Path, days: &[StoredDay]) {
    let db = redb::Database::open(path).expect("open the file with redb");
    let txn = db.begin_write().expect("write");
    {
        let mut scopes = txn.open_table(SCOPES).expect("scopes");
        scopes.insert("eth0", 1).expect("eth0");
        scopes.insert("eth1", 2).expect("eth1");
        let mut devices = txn.open_table(DAY_DEVICES).expect("devices");
        let mut labels = txn.open_table(DAY_DEVICE_LABELS).expect("labels");
        for day in days {
            let key = Day {
                scope: day.scope,
                date: day.date,
            };
            devices
                .insert(key, encode_remotes(&day.devices).as_slice())
                .expect("devices");
            labels
                .insert(key, encode_labels(&day.labels).as_slice())
                .expect("labels");
        }
    }
    txn.commit().expect("commit");
}

fn held(day: &StoredDay, scope: &Scope, first: Date, last: Date) -> bool {
    let wanted = match scope {
        Scope::All => true,
        Scope::Interface(name) => {
            (name == "eth0" && day.scope == 1) || (name == "eth1" && day.scope == 2)
        }
    };
    wanted && (first..=last).contains(&day.date)
}

/// The heaviest `limit` devices summed the straightforward way, each with its last day.
fn expected_devices(
    days: &[StoredDay],
    scope: &Scope,
    first: Date,
    last: Date,
    limit: usize,
) -> Vec<(IpAddr, UpDown, Date)> {
    let mut sums: HashMap<IpAddr, (UpDown, Date)> = HashMap::new();
    for day in days.iter().filter(|d| held(d, scope, first, last)) {
        for device in &day.devices {
            let sum = sums
                .entry(device.addr)
                .or_insert((UpDown::default(), day.date));
            sum.0 = UpDown {
                up: sum.0.up + device.bytes.up,
                down: sum.0.down + device.bytes.down,
            };
            sum.1 = sum.1.max(day.date);
        }
    }
    let mut list: Vec<(IpAddr, UpDown, Date)> =
        sums.into_iter().map(|(a, (b, d))| (a, b, d)).collect();
    list.sort_by(|a, b| b.1.total().cmp(&a.1.total()).then(a.0.cmp(&b.0)));
    list.truncate(limit);
    list
}

/// Per address of `addrs`, the label of the latest day of the range that stored one.
fn expected_labels(
    days: &[StoredDay],
    scope: &Scope,
    first: Date,
    last: Date,
    addrs: &[IpAddr],
) -> HashMap<IpAddr, StoredLabel> {
    let mut found: HashMap<IpAddr, (Date, StoredLabel)> = HashMap::new();
    for day in days.iter().filter(|d| held(d, scope, first, last)) {
        for label in day.labels.iter().filter(|l| addrs.contains(&l.addr)) {
            if found.get(&label.addr).is_none_or(|(at, _)| *at < day.date) {
                found.insert(label.addr, (day.date, label.clone()));
            }
        }
    }
    found.into_iter().map(|(a, (_, l))| (a, l)).collect()
}

fn devices_and_labels_equal_the_stored_days_summed() {
    let dir = TempDir::new("store-devices");
    let path = dir.path().join("t.redb");
    let zone = Zone::named("Europe/Berlin").expect("zone");
    drop(Store::open(&path, zone.clone(), 10).expect("create"));
    let days = history();
    let entries: usize = days.iter().map(|d| d.devices.len()).sum();
    assert!(
        entries > 2 * 16_384,
        "enough entries to be spread: {entries}"
    );
    write(&path, &days);
    let store = Store::open(&path, zone, 10).expect("open");
    let read = store.read_stored().expect("read");
    let d = Date::constant;
    let ranges = [
        (d(2024, 1, 20), d(2024, 3, 10)),
        (d(2024, 1, 31), d(2024, 2, 1)),
        (d(2024, 2, 1), d(2024, 2, 29)),
        (d(2024, 2, 29), d(2024, 3, 1)),
        (d(2024, 3, 5), d(2024, 3, 5)),
        (d(2023, 1, 1), d(2024, 1, 19)),
    ];
    let scopes = [
        Scope::All,
        Scope::Interface("eth0".into()),
        Scope::Interface("eth1".into()),
    ];
    for (first, last) in ranges {
        for scope in &scopes {
            for limit in [1, 20, 1000, 1_000_000] {
                let what = format!("{scope:?} {first}..={last}, limit {limit}");
                let expected = expected_devices(&days, scope, first, last, limit);
                let top = read
                    .top_devices_seen(scope, first, last, limit)
                    .expect("devices");
                let got: Vec<(IpAddr, UpDown, Date)> =
                    top.iter().map(|s| (s.addr, s.bytes, s.last)).collect();
                assert_eq!(got, expected, "{what}");
                let plain = read
                    .top_devices(scope, first, last, limit)
                    .expect("devices");
                assert_eq!(plain.len(), top.len(), "{what}");
                if limit > 1000 {
                    continue;
                }
                let addrs: Vec<IpAddr> = top.iter().map(|s| s.addr).collect();
                let labels = read
                    .device_labels(scope, first, last, &top)
                    .expect("labels");
                assert_eq!(
                    labels,
                    expected_labels(&days, scope, first, last, &addrs),
                    "{what}"
                );
            }
        }
    }
}

tests! {
    devices_and_labels_equal_the_stored_days_summed,
}
