//! Usage, forecast and alerts over a real redb history written by the persister's own commit
//! path. Expected figures are the inputs added up by hand (the arithmetic is in the comments).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::alerts::{AlertKind, AlertMessage, Alerts, Deliver, RETRY_AFTER};
use super::cycle::tests::{d, utc};
use super::usage::{self, Method, Scopes};
use super::{Basis, QuotaSettings};
use crate::clock::Zone;
use crate::count::UpDown;
use crate::count::live::LiveSnapshot;
use crate::persister::Persister;
use crate::store::{AlertState, LiveView, Store};

fn ud(up: u64, down: u64) -> UpDown {
    UpDown { up, down }
}

struct Lab {
    dir: PathBuf,
    path: PathBuf,
    store: Arc<Store>,
    zone: Zone,
}

impl Lab {
    fn new(zone: Zone) -> Lab {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "nts-quota-unit-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("traffic.redb");
        let store = Arc::new(Store::open(&path, zone.clone(), 100).expect("open"));
        Lab {
            dir,
            path,
            store,
            zone,
        }
    }

    /// Commit `hours` (hour start, bytes) for interface `eth0` (and so for all interfaces).
    fn fill(&self, hours: &[(i64, UpDown)]) {
        self.fill_interface("eth0", hours);
    }

    fn fill_interface(&self, name: &str, hours: &[(i64, UpDown)]) {
        let hours: BTreeMap<i64, UpDown> = hours.iter().copied().collect();
        let latest = hours.keys().copied().max().unwrap_or(0);
        let view = LiveView {
            interfaces: vec![(
                name.to_string(),
                LiveSnapshot {
                    hours,
                    ..LiveSnapshot::default()
                },
            )],
        };
        Persister::new(Arc::clone(&self.store))
            .commit_at(&view, latest + 3600, 20 * 365 * 86_400)
            .expect("commit");
    }

    /// Close the file and open it again, as a restart does.
    fn reopen(&mut self) {
        self.store.close();
        self.store = Arc::new(Store::open(&self.path, self.zone.clone(), 100).expect("reopen"));
    }

    fn status(&self, settings: &QuotaSettings, now: i64) -> usage::Status {
        let read = self.store.read_stored().expect("read");
        usage::status(&read, &self.zone, settings, &Scopes::of(settings), now)
            .expect("status")
            .expect("a cycle")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.store.close();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn settings(billing_day: u8, quota: Option<u64>, basis: Basis) -> QuotaSettings {
    QuotaSettings {
        billing_day,
        quota,
        basis,
        ..QuotaSettings::default()
    }
}

/// BILLING_DAY=15, UTC, at 2025-03-20 12:00: the cycle Mar 15 to Apr 14.
fn march_lab() -> Lab {
    let lab = Lab::new(Zone::utc());
    lab.fill(&[
        // In the cycle: 150 up, 1350 down.
        (utc(2025, 3, 15, 0, 0), ud(100, 900)),
        (utc(2025, 3, 20, 11, 0), ud(50, 450)),
        // The cycle before (Feb 15 to Mar 14); the first two in the week before Mar 15.
        (utc(2025, 3, 14, 23, 0), ud(7, 3)),
        (utc(2025, 3, 8, 0, 0), ud(0, 10_000)),
        (utc(2025, 3, 7, 23, 0), ud(1, 1)),
        // Jan 15 to Feb 14.
        (utc(2025, 2, 14, 12, 0), ud(5, 5)),
    ]);
    lab
}

#[test]
fn used_counts_the_cycle_by_each_basis() {
    let lab = march_lab();
    let now = utc(2025, 3, 20, 12, 0);
    for (basis, used) in [
        (Basis::Total, 1500),
        (Basis::Down, 1350),
        (Basis::Up, 150),
        (Basis::Max, 1350),
    ] {
        let status = lab.status(&settings(15, Some(5000), basis), now);
        assert_eq!(status.cycle.first, d(2025, 3, 15));
        assert_eq!(status.cycle.last(), d(2025, 4, 14));
        assert_eq!(status.bytes, ud(150, 1350));
        assert_eq!(status.used, used, "{basis}");
        assert_eq!(status.remaining(), Some(5000 - used), "{basis}");
        assert_eq!(status.percent(), Some(used as f64 / 50.0), "{basis}");
    }
    // Upload-heavy: max takes the larger direction of the whole cycle.
    let lab = Lab::new(Zone::utc());
    lab.fill(&[
        (utc(2025, 3, 16, 0, 0), ud(900, 100)),
        (utc(2025, 3, 17, 0, 0), ud(50, 200)),
    ]);
    let status = lab.status(&settings(15, None, Basis::Max), now);
    assert_eq!(status.used, 950);
    assert_eq!(status.quota, None);
    assert_eq!(status.remaining(), None);
    assert_eq!(status.percent(), None);
}

#[test]
fn the_forecast_blends_the_cycles_rate_with_the_week_before() {
    let lab = march_lab();
    let now = utc(2025, 3, 20, 12, 0);
    let status = lab.status(&settings(15, Some(5000), Basis::Total), now);
    // 5.5 days into the cycle (475,200 s): own rate 1500 / 475200, weight 475200 / 604800 =
    // 11/14. The week Mar 8 to 14 counted 10,000 + 10 = 10,010 bytes in 604,800 s, weight 3/14.
    // Rate 0.0060267857 B/s; 25.5 days left (2,203,200 s): 13,278.2 more, 14,778 in all.
    let forecast = status.forecast.expect("a forecast");
    assert_eq!(forecast.method, Method::Blended);
    assert!(
        (forecast.rate - 0.006_026_785_714).abs() < 1e-12,
        "{forecast:?}"
    );
    assert_eq!(forecast.end_total, 14_778);
    // 3,500 bytes left at that rate: 580,741 s (6 d 17 h 19 m 1 s) after now, Mar 27 05:19:01.
    assert_eq!(forecast.runs_out_at, Some(now + 580_741));
    assert_eq!(status.forecast_percent(), Some(14_778.0 / 50.0));
    // A quota the forecast stays under never runs out.
    let roomy = lab.status(&settings(15, Some(20_000), Basis::Total), now);
    assert_eq!(roomy.forecast.expect("forecast").runs_out_at, None);
}

#[test]
fn a_cycle_hours_old_is_forecast_mostly_from_the_week_before() {
    let lab = Lab::new(Zone::utc());
    lab.fill(&[
        // A 3,000-byte burst in the first hour of the cycle.
        (utc(2025, 3, 15, 0, 0), ud(0, 3_000)),
        // The week before (the history starts on its first day, Mar 8): 60,480 bytes = 0.1 B/s.
        (utc(2025, 3, 8, 0, 0), ud(0, 60_480)),
    ]);
    let now = utc(2025, 3, 15, 3, 0);
    let status = lab.status(&settings(15, None, Basis::Total), now);
    // 3 h old: weight 10800 / 604800 = 1/56 on 3000 / 10800 B/s, 55/56 on 0.1 B/s:
    // 0.1031746 B/s over the 31 days less 3 hours left (2,667,600 s) = 275,228.6 more.
    let forecast = status.forecast.expect("a forecast");
    assert_eq!(forecast.method, Method::Blended);
    assert_eq!(forecast.end_total, 278_229);
    // The burst alone would have said 3000 + 0.2778 × 2,667,600 = 744,000.
    assert!(forecast.end_total < 300_000);

    // A history that starts on Mar 10 has 5 days before the cycle: 60,480 / 432,000 s =
    // 0.14 B/s; 1/56 × 0.2778 + 55/56 × 0.14 = 0.1424603 B/s × 2,667,600 s = 380,027 more.
    let lab = Lab::new(Zone::utc());
    lab.fill(&[
        (utc(2025, 3, 15, 0, 0), ud(0, 3_000)),
        (utc(2025, 3, 10, 0, 0), ud(0, 60_480)),
    ]);
    let status = lab.status(&settings(15, None, Basis::Total), now);
    assert_eq!(status.forecast.expect("a forecast").end_total, 383_027);
}

#[test]
fn without_history_before_the_cycle_there_is_no_forecast_for_a_day() {
    let lab = Lab::new(Zone::utc());
    lab.fill(&[(utc(2025, 3, 15, 0, 0), ud(0, 3_000))]);
    let early = lab.status(
        &settings(15, Some(10_000), Basis::Total),
        utc(2025, 3, 15, 3, 0),
    );
    assert_eq!(early.forecast, None);
    assert_eq!(early.used, 3_000);
    // Two days in: the cycle's own rate, 3000 / 172,800 s, over 29 days left (2,505,600 s) =
    // 43,500 more.
    let later = lab.status(
        &settings(15, Some(10_000), Basis::Total),
        utc(2025, 3, 17, 0, 0),
    );
    let forecast = later.forecast.expect("a forecast");
    assert_eq!(forecast.method, Method::Cycle);
    assert_eq!(forecast.end_total, 46_500);
    // 7,000 left at 3000 / 172,800 B/s: 403,200 s = 4 days 16 hours.
    assert_eq!(forecast.runs_out_at, Some(utc(2025, 3, 17, 0, 0) + 403_200));
}

#[test]
fn the_last_twelve_cycles_are_listed_oldest_first() {
    let lab = march_lab();
    let settings = settings(15, Some(5000), Basis::Total);
    let now = utc(2025, 3, 20, 12, 0);
    let status = lab.status(&settings, now);
    let read = lab.store.read_stored().expect("read");
    let past = usage::past(
        &read,
        &lab.zone,
        &settings,
        &Scopes::of(&settings),
        &status.cycle,
        12,
    )
    .expect("past");
    assert_eq!(past.len(), 12);
    assert_eq!(past[0].0.first, d(2024, 3, 15));
    assert_eq!(past[11].0.first, d(2025, 2, 15));
    assert_eq!(past[11].0.last(), d(2025, 3, 14));
    // Feb 15 to Mar 14: 7+0+1 up, 3+10000+1 down. Jan 15 to Feb 14: 5 and 5.
    assert_eq!(past[11].1, ud(8, 10_004));
    assert_eq!(past[10].1, ud(5, 5));
    assert!(
        past[..10]
            .iter()
            .all(|(_, bytes)| *bytes == UpDown::default())
    );
}

#[test]
fn quota_ifaces_sum_only_their_interfaces() {
    let lab = Lab::new(Zone::utc());
    lab.fill_interface("eth0", &[(utc(2025, 3, 16, 0, 0), ud(10, 20))]);
    lab.fill_interface("wg0", &[(utc(2025, 3, 16, 0, 0), ud(1, 2))]);
    lab.fill_interface("ppp0", &[(utc(2025, 3, 16, 1, 0), ud(100, 200))]);
    let now = utc(2025, 3, 20, 0, 0);
    let all = lab.status(&settings(15, None, Basis::Total), now);
    assert_eq!(all.used, 333);
    let some = QuotaSettings {
        interfaces: vec!["eth0".into(), "ppp0".into()],
        ..settings(15, None, Basis::Total)
    };
    assert_eq!(lab.status(&some, now).used, 330);
}

#[test]
fn hours_belong_to_the_cycle_whose_local_midnight_they_start_after() {
    // Berlin, BILLING_DAY=1: October 2024 starts at 2024-09-30 22:00 UTC (00:00 CEST) and ends
    // at 2024-10-31 23:00 UTC (00:00 CET), an hour longer than 31 days.
    let lab = Lab::new(Zone::named("Europe/Berlin").expect("zone"));
    lab.fill(&[
        (utc(2024, 9, 30, 21, 0), ud(1, 0)),
        (utc(2024, 9, 30, 22, 0), ud(10, 0)),
        (utc(2024, 10, 31, 22, 0), ud(100, 0)),
        (utc(2024, 10, 31, 23, 0), ud(1000, 0)),
    ]);
    let october = lab.status(&settings(1, None, Basis::Up), utc(2024, 10, 15, 0, 0));
    assert_eq!(october.used, 110);
    assert_eq!(october.cycle.seconds(), 31 * 86_400 + 3600);

    // Kolkata (+05:30), BILLING_DAY=31: the cycle from Feb 29 2024 starts at 18:30 UTC Feb 28.
    let lab = Lab::new(Zone::named("Asia/Kolkata").expect("zone"));
    lab.fill(&[
        (utc(2024, 2, 28, 17, 30), ud(0, 1)),
        (utc(2024, 2, 28, 18, 30), ud(0, 10)),
        (utc(2024, 3, 30, 17, 30), ud(0, 100)),
        (utc(2024, 3, 30, 18, 30), ud(0, 1000)),
    ]);
    let cycle = lab.status(&settings(31, None, Basis::Down), utc(2024, 3, 10, 0, 0));
    assert_eq!(cycle.cycle.first, d(2024, 2, 29));
    assert_eq!(cycle.used, 110);
}

type Settle = Box<dyn FnOnce(bool) + Send>;

/// A deliverer that keeps what it is given, for the test to settle (or never).
#[derive(Default)]
struct Held {
    posted: Mutex<Vec<(AlertMessage, Option<Settle>)>>,
}

impl Deliver for Held {
    fn post(&self, alert: AlertMessage, settled: Settle) {
        self.posted.lock().unwrap().push((alert, Some(settled)));
    }
}

impl Held {
    fn titles(&self) -> Vec<String> {
        self.posted
            .lock()
            .unwrap()
            .iter()
            .map(|(m, _)| m.alert.clone())
            .collect()
    }

    fn settle_all(&self, delivered: bool) {
        let callbacks: Vec<_> = self
            .posted
            .lock()
            .unwrap()
            .iter_mut()
            .filter_map(|(_, settled)| settled.take())
            .collect();
        for settled in callbacks {
            settled(delivered);
        }
    }
}

fn states(lab: &Lab, cycle_start: i64) -> Vec<(u32, AlertState)> {
    lab.store
        .alerts(Some(cycle_start))
        .expect("alerts")
        .iter()
        .map(|r| (r.alert, r.state))
        .collect()
}

fn quota_settings(quota: u64) -> QuotaSettings {
    QuotaSettings {
        billing_day: 15,
        quota: Some(quota),
        basis: Basis::Total,
        interfaces: Vec::new(),
        alert_at: vec![80, 90, 100],
    }
}

#[test]
fn thresholds_fire_once_recorded_pending_before_delivery_and_sent_after() {
    let lab = march_lab();
    let now = utc(2025, 3, 20, 12, 0);
    let march = utc(2025, 3, 15, 0, 0);
    // 1500 of 1800 used: 83.3 %. The forecast (14,778) is far above: "runs out" too.
    let held = Arc::new(Held::default());
    let alerts = Alerts::new(
        Arc::clone(&lab.store),
        quota_settings(1800),
        Arc::clone(&held) as Arc<dyn Deliver>,
    );
    let tick = alerts.tick(&LiveView::default(), now).expect("tick");
    assert_eq!(
        tick.recorded,
        [AlertKind::Threshold(80), AlertKind::RunsOut]
    );
    assert_eq!(tick.offered, 2);
    assert_eq!(
        states(&lab, march),
        [(0, AlertState::Pending), (80, AlertState::Pending)],
        "recorded before delivery"
    );
    // Handed over in key order: "runs out" (code 0) first.
    let message = held.posted.lock().unwrap()[1].0.clone();
    assert_eq!(message.alert, "80%");
    assert_eq!(message.threshold_percent, Some(80));
    assert_eq!(message.used_bytes, 1500);
    assert_eq!(message.quota_bytes, 1800);
    assert_eq!(message.cycle_start, "2025-03-15");
    assert_eq!(message.cycle_end, "2025-04-14");
    assert_eq!(message.title, "Internet quota: 80 % used");
    let runs_out = held.posted.lock().unwrap()[0].0.clone();
    // 300 bytes left at 0.0060268 B/s: 49,778 s after now, Mar 21 01:49.
    assert_eq!(runs_out.runs_out_on.as_deref(), Some("2025-03-21"));
    assert_eq!(runs_out.title, "Internet quota will run out on 2025-03-21");

    // While in the deliverer's hands, a look hands over nothing more.
    let tick = alerts.tick(&LiveView::default(), now + 60).expect("tick");
    assert_eq!((tick.recorded.len(), tick.offered), (0, 0));
    held.settle_all(true);
    assert_eq!(
        states(&lab, march),
        [(0, AlertState::Sent), (80, AlertState::Sent)]
    );
    let tick = alerts.tick(&LiveView::default(), now + 120).expect("tick");
    assert_eq!((tick.recorded.len(), tick.offered), (0, 0));

    // 90 % is crossed later in the cycle: only 90 fires.
    lab.fill(&[(utc(2025, 3, 21, 0, 0), ud(0, 150))]);
    let tick = alerts
        .tick(&LiveView::default(), utc(2025, 3, 21, 2, 0))
        .expect("tick");
    assert_eq!(tick.recorded, [AlertKind::Threshold(90)]);
    assert_eq!(held.titles(), ["runs_out", "80%", "90%"]);
}

#[test]
fn a_crash_between_recording_and_delivery_delivers_after_the_restart_once() {
    let mut lab = march_lab();
    let now = utc(2025, 3, 20, 12, 0);
    let march = utc(2025, 3, 15, 0, 0);
    let settings = QuotaSettings {
        alert_at: vec![80],
        ..quota_settings(100_000)
    };
    // 1500 of 1875 = 80 % exactly: due (used × 100 ≥ 80 × quota).
    let settings = QuotaSettings {
        quota: Some(1875),
        ..settings
    };
    let first = Arc::new(Held::default());
    {
        let alerts = Alerts::new(
            Arc::clone(&lab.store),
            settings.clone(),
            Arc::clone(&first) as Arc<dyn Deliver>,
        );
        alerts.tick(&LiveView::default(), now).expect("tick");
    }
    // The process dies: the callbacks are never called.
    first.posted.lock().unwrap().clear();
    assert_eq!(
        states(&lab, march),
        [(0, AlertState::Pending), (80, AlertState::Pending)]
    );
    lab.reopen();
    let second = Arc::new(Held::default());
    let alerts = Alerts::new(
        Arc::clone(&lab.store),
        settings.clone(),
        Arc::clone(&second) as Arc<dyn Deliver>,
    );
    let tick = alerts.tick(&LiveView::default(), now + 600).expect("tick");
    assert!(tick.recorded.is_empty(), "decided once, before the crash");
    assert_eq!(tick.offered, 2, "the pending ones are handed over again");
    let again = second.posted.lock().unwrap()[1].0.clone();
    assert_eq!(again.used_bytes, 1500);
    assert_eq!(again.decided_at, now, "the message as decided");
    second.settle_all(true);
    assert_eq!(
        states(&lab, march),
        [(0, AlertState::Sent), (80, AlertState::Sent)]
    );
    drop(alerts);
    // Another restart: nothing is sent again.
    lab.reopen();
    let third = Arc::new(Held::default());
    let alerts = Alerts::new(
        Arc::clone(&lab.store),
        settings,
        Arc::clone(&third) as Arc<dyn Deliver>,
    );
    let tick = alerts.tick(&LiveView::default(), now + 900).expect("tick");
    assert_eq!((tick.recorded.len(), tick.offered), (0, 0));
    assert!(third.titles().is_empty());
}

#[test]
fn a_delivery_that_gave_up_is_offered_again_an_hour_later() {
    let lab = march_lab();
    let now = utc(2025, 3, 20, 12, 0);
    let held = Arc::new(Held::default());
    let alerts = Alerts::new(
        Arc::clone(&lab.store),
        QuotaSettings {
            alert_at: vec![50],
            quota: Some(2000),
            ..quota_settings(2000)
        },
        Arc::clone(&held) as Arc<dyn Deliver>,
    );
    // 75 %: 50 fires; the forecast (14,778) is above 2000: "runs out" too.
    assert_eq!(
        alerts
            .tick(&LiveView::default(), now)
            .expect("tick")
            .offered,
        2
    );
    held.settle_all(false);
    // The callback reads the system clock: offered again RETRY_AFTER after that.
    let later = crate::clock::unix_now() + RETRY_AFTER;
    assert_eq!(
        alerts
            .tick(&LiveView::default(), later - 60)
            .expect("tick")
            .offered,
        0
    );
    assert_eq!(
        alerts
            .tick(&LiveView::default(), later + 1)
            .expect("tick")
            .offered,
        2
    );
}

#[test]
fn a_new_cycle_arms_every_alert_again() {
    let lab = march_lab();
    let held = Arc::new(Held::default());
    let settings = QuotaSettings {
        alert_at: vec![80],
        ..quota_settings(1800)
    };
    let alerts = Alerts::new(
        Arc::clone(&lab.store),
        settings,
        Arc::clone(&held) as Arc<dyn Deliver>,
    );
    alerts
        .tick(&LiveView::default(), utc(2025, 3, 20, 12, 0))
        .expect("tick");
    held.settle_all(true);
    // April's cycle: nothing used yet, nothing due.
    let april = utc(2025, 4, 15, 0, 0);
    let tick = alerts
        .tick(&LiveView::default(), april + 3600)
        .expect("tick");
    assert_eq!(tick.status.as_ref().map(|s| s.cycle.start), Some(april));
    assert!(tick.recorded.is_empty(), "{tick:?}");
    // 1,700 bytes of 1,800 in April: 80 % fires again, for April.
    lab.fill(&[(april + 3600, ud(0, 1_700))]);
    let tick = alerts
        .tick(&LiveView::default(), april + 7200)
        .expect("tick");
    assert!(
        tick.recorded.contains(&AlertKind::Threshold(80)),
        "{tick:?}"
    );
    assert!(
        lab.store
            .alerts(Some(april))
            .expect("alerts")
            .iter()
            .any(|r| r.alert == 80 && r.state == AlertState::Pending)
    );
}

#[test]
fn live_hours_count_as_summary_counts_them() {
    let lab = Lab::new(Zone::utc());
    let hour = utc(2025, 3, 16, 0, 0);
    lab.fill(&[(hour, ud(10, 20))]);
    // Memory holds 5 more up and 7 more down of the same hour and a later hour not committed.
    let view = LiveView {
        interfaces: vec![(
            "eth0".to_string(),
            LiveSnapshot {
                hours: BTreeMap::from([(hour, ud(15, 27)), (hour + 3600, ud(1, 1))]),
                ..LiveSnapshot::default()
            },
        )],
    };
    // The persister's marks say memory held (10, 20) of that hour at the commit.
    let read = lab.store.read(&view).expect("read");
    let settings = settings(15, None, Basis::Total);
    let status = usage::status(
        &read,
        &lab.zone,
        &settings,
        &Scopes::of(&settings),
        utc(2025, 3, 20, 0, 0),
    )
    .expect("status")
    .expect("cycle");
    let summary_way = read
        .totals(&crate::store::Scope::All, d(2025, 3, 15), d(2025, 4, 14))
        .expect("totals");
    // Stored 10/20, plus 5/7 counted since the commit, plus 1/1 of the next hour.
    assert_eq!(status.bytes, ud(16, 28));
    assert_eq!(status.bytes, summary_way);
}

#[test]
fn the_cached_status_equals_the_computed_one_and_follows_the_settings() {
    let lab = march_lab();
    let cache = usage::Cache::default();
    let read = lab.store.read_stored().expect("read");
    let now = utc(2025, 3, 20, 12, 0);
    let cached = |settings: &QuotaSettings, now: i64| {
        usage::status_cached(
            &read,
            &lab.zone,
            settings,
            &Scopes::of(settings),
            now,
            &cache,
        )
        .expect("status")
        .expect("a cycle")
    };
    let fifteenth = settings(15, Some(5000), Basis::Total);
    for at in [now, now + 30, now + 600] {
        assert_eq!(cached(&fifteenth, at), lab.status(&fifteenth, at), "{at}");
    }
    // Another billing day or basis is not served from the cache.
    let first = settings(1, Some(5000), Basis::Total);
    assert_eq!(cached(&first, now).cycle.first, d(2025, 3, 1));
    assert_eq!(cached(&first, now), lab.status(&first, now));
    let down = settings(1, Some(5000), Basis::Down);
    assert_eq!(cached(&down, now).used, lab.status(&down, now).used);
    // Past the cycle's end: the next cycle.
    let april = cached(&first, utc(2025, 4, 2, 0, 0));
    assert_eq!(april.cycle.first, d(2025, 4, 1));
}
