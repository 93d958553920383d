//! `clock::Zone` and `clock::HourClock` against rule R6.2 of `pcaps/README.md` (SPEC §2 "Time"):
//! a packet belongs to the local hour containing its timestamp, DST included; a spring-forward
//! day has 23 hours, a fall-back day 25 with two real hours sharing one label that `report`
//! adds together; half- and quarter-hour zones shift where an hour starts.
//!
//! Expected instants come from `crate::support::utc` (calendar arithmetic, independent of the time
//! library) and the zones' offsets written out by hand:
//! - Europe/Berlin 2024: CET (+01:00) until 2024-03-31 01:00 UTC, CEST (+02:00) until
//!   2024-10-27 01:00 UTC, then CET again (EU rule: last Sunday of March / October, 01:00 UTC).
//! - Asia/Kolkata +05:30, Asia/Kathmandu +05:45 (since 1986), Asia/Shanghai +08:00 (no DST
//!   since 1991), all year.

use std::collections::BTreeMap;

use crate::support::*;
use nettraffic_sentinel::classify::AddressClassifier;
use nettraffic_sentinel::clock::{HourClock, HourStart, Zone};
use nettraffic_sentinel::commands::report::count_file;
use nettraffic_sentinel::count::{Counter, FileTally, Frame};
use nettraffic_sentinel::parse::LinkType;

const HOUR: i64 = 3600;

/// Up and down bytes as a plain pair, for compact comparisons.
type UpDownPair = (u64, u64);

fn zone(name: &str) -> Zone {
    Zone::named(name).unwrap_or_else(|error| panic!("{name}: {error}"))
}

/// Berlin's 2024 switch to summer time: 2024-03-31 01:00 UTC (02:00 CET → 03:00 CEST).
fn berlin_spring_2024() -> i64 {
    utc(2024, 3, 31, 1, 0, 0)
}

/// Berlin's 2024 switch back: 2024-10-27 01:00 UTC (03:00 CEST → 02:00 CET).
fn berlin_fall_2024() -> i64 {
    utc(2024, 10, 27, 1, 0, 0)
}

/// Berlin's UTC offset in 2024, by hand.
fn berlin_offset_2024(unix_second: i64) -> i64 {
    if unix_second < berlin_spring_2024() || unix_second >= berlin_fall_2024() {
        HOUR
    } else {
        2 * HOUR
    }
}

/// The start of the local hour containing `t` for a zone whose offset at `t` is `offset`
/// (offsets here change only on whole UTC hours, so the offset at `t` decides).
fn expected_hour_start(t: i64, offset: i64) -> HourStart {
    t - (t + offset).rem_euclid(HOUR)
}

/// Every distinct hour (start → label) met when walking `[from, to)` minute by minute.
fn hours_walked(zone: &Zone, from: i64, to: i64) -> BTreeMap<HourStart, String> {
    let mut clock = HourClock::new(zone.clone());
    let mut hours = BTreeMap::new();
    let mut t = from;
    while t < to {
        let hour = clock.hour_of(t);
        assert_eq!(hour, zone.hour_start(t), "clock and zone disagree at {t}");
        hours.insert(hour, zone.hour_label(hour));
        t += 60;
    }
    hours
}

fn the_calendar_helper_matches_known_instants() {
    // Well-known anchors, so every other expected value in this file rests on checked ground.
    assert_eq!(utc(1970, 1, 1, 0, 0, 0), 0);
    assert_eq!(utc(2000, 1, 1, 0, 0, 0), 946_684_800);
    assert_eq!(utc(2024, 1, 1, 0, 0, 0), 1_704_067_200);
    assert_eq!(utc(1969, 12, 31, 23, 0, 0), -3600);
}

// ---------------------------------------------------------------------------------------------
// Europe/Berlin DST
// ---------------------------------------------------------------------------------------------

fn berlin_spring_forward_day_has_23_hours_and_no_0200() {
    let berlin = zone("Europe/Berlin");
    // Local 2024-03-31 00:00 CET = 2024-03-30 23:00 UTC; local 2024-04-01 00:00 CEST =
    // 2024-03-31 22:00 UTC. 23 hours in between.
    let day_start = utc(2024, 3, 30, 23, 0, 0);
    let day_end = utc(2024, 3, 31, 22, 0, 0);
    assert_eq!(day_end - day_start, 23 * HOUR);
    let hours = hours_walked(&berlin, day_start, day_end);
    // Hour k starts at day_start + k hours; its local hour is k before the switch (k = 0, 1)
    // and k + 1 after it (local 02:00 is skipped).
    let expected: BTreeMap<HourStart, String> = (0..23)
        .map(|k| {
            let local_hour = if k < 2 { k } else { k + 1 };
            (
                day_start + k * HOUR,
                format!("2024-03-31 {local_hour:02}:00"),
            )
        })
        .collect();
    assert_eq!(hours, expected);
    assert!(!hours.values().any(|label| label == "2024-03-31 02:00"));
    // Around the switch itself.
    let switch = berlin_spring_2024();
    assert_eq!(berlin.hour_start(switch - 1), switch - HOUR);
    assert_eq!(berlin.hour_label(switch - HOUR), "2024-03-31 01:00");
    assert_eq!(berlin.hour_start(switch), switch);
    assert_eq!(berlin.hour_label(switch), "2024-03-31 03:00");
    assert_eq!(berlin.offset_at(switch - 1), HOUR);
    assert_eq!(berlin.offset_at(switch), 2 * HOUR);
}

fn berlin_fall_back_day_has_25_hours_with_two_labelled_0200() {
    let berlin = zone("Europe/Berlin");
    // Local 2024-10-27 00:00 CEST = 2024-10-26 22:00 UTC; local 2024-10-28 00:00 CET =
    // 2024-10-27 23:00 UTC. 25 hours in between.
    let day_start = utc(2024, 10, 26, 22, 0, 0);
    let day_end = utc(2024, 10, 27, 23, 0, 0);
    assert_eq!(day_end - day_start, 25 * HOUR);
    let hours = hours_walked(&berlin, day_start, day_end);
    // Hour k is local hour k up to the switch (k = 0, 1, 2 → 00, 01, 02 CEST), then k − 1
    // (k = 3 → 02 CET, k = 4 → 03, …, k = 24 → 23).
    let expected: BTreeMap<HourStart, String> = (0..25)
        .map(|k| {
            let local_hour = if k < 3 { k } else { k - 1 };
            (
                day_start + k * HOUR,
                format!("2024-10-27 {local_hour:02}:00"),
            )
        })
        .collect();
    assert_eq!(hours, expected);
    let twice: Vec<HourStart> = hours
        .iter()
        .filter(|(_, label)| *label == "2024-10-27 02:00")
        .map(|(start, _)| *start)
        .collect();
    // 02:00 CEST starts at 00:00 UTC, 02:00 CET at 01:00 UTC: two distinct hour starts.
    assert_eq!(
        twice,
        [utc(2024, 10, 27, 0, 0, 0), utc(2024, 10, 27, 1, 0, 0)]
    );
    let distinct_labels: std::collections::BTreeSet<&String> = hours.values().collect();
    assert_eq!(distinct_labels.len(), 24);
}

fn report_adds_the_two_fall_back_hours_into_one_label() {
    let dir = TempDir::new("fall-back");
    let up_100 = eth(
        ETHERTYPE_IPV4,
        &ipv4_packet("192.168.1.10", "203.0.113.5", 80),
    );
    let up_200 = eth(
        ETHERTYPE_IPV4,
        &ipv4_packet("192.168.1.10", "203.0.113.5", 180),
    );
    let down_300 = eth(
        ETHERTYPE_IPV4,
        &ipv4_packet("203.0.113.5", "192.168.1.10", 280),
    );
    let records = [
        // 2024-10-26 23:59:59 UTC = 01:59:59 CEST → "2024-10-27 01:00".
        (utc(2024, 10, 26, 23, 59, 59), &up_100),
        // 00:30 UTC = 02:30 CEST → "2024-10-27 02:00" (first).
        (utc(2024, 10, 27, 0, 30, 0), &up_100),
        // 01:30 UTC = 02:30 CET → "2024-10-27 02:00" (second).
        (utc(2024, 10, 27, 1, 30, 0), &up_200),
        (utc(2024, 10, 27, 1, 59, 59), &down_300),
        // 02:00 UTC = 03:00 CET → "2024-10-27 03:00".
        (utc(2024, 10, 27, 2, 0, 0), &down_300),
    ];
    let mut writer = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 1);
    for (unix_second, frame) in records {
        let ts_sec = u32::try_from(unix_second).expect("fits a pcap timestamp");
        writer = writer.record(ts_sec, 0, frame.len() as u32, frame);
    }
    let path = dir.write("fall-back.pcap", &writer.finish());
    let mut counter = Counter::new(
        AddressClassifier::default(),
        HourClock::new(zone("Europe/Berlin")),
    );
    let report = count_file(&path, &mut counter);
    let counted = report.outcome.expect("a readable capture");
    let labels: Vec<(&str, UpDownPair)> = counted
        .hours
        .iter()
        .map(|(label, bytes)| (label.as_str(), (bytes.up, bytes.down)))
        .collect();
    assert_eq!(
        labels,
        [
            ("2024-10-27 01:00", (100, 0)),
            // 100 + 200 up from the two real hours, 300 down from the second.
            ("2024-10-27 02:00", (300, 300)),
            ("2024-10-27 03:00", (0, 300)),
        ]
    );
    // The tally itself keeps the two real hours apart.
    let mut starts: Vec<HourStart> = counted.tally.hours().into_keys().collect();
    starts.sort_unstable();
    assert_eq!(
        starts,
        [
            utc(2024, 10, 26, 23, 0, 0),
            utc(2024, 10, 27, 0, 0, 0),
            utc(2024, 10, 27, 1, 0, 0),
            utc(2024, 10, 27, 2, 0, 0),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Fixed-offset zones
// ---------------------------------------------------------------------------------------------

fn kolkata_hours_run_from_half_past_to_half_past_utc() {
    let kolkata = zone("Asia/Kolkata");
    for t in [utc(2024, 1, 15, 0, 0, 0), utc(2024, 7, 15, 0, 0, 0), 0] {
        assert_eq!(kolkata.offset_at(t), 5 * HOUR + 30 * 60);
    }
    // 12:30 UTC = 18:00 IST.
    let six_pm = utc(2024, 6, 1, 12, 30, 0);
    assert_eq!(kolkata.hour_start(six_pm), six_pm);
    assert_eq!(kolkata.hour_start(six_pm + HOUR - 1), six_pm);
    assert_eq!(kolkata.hour_label(six_pm), "2024-06-01 18:00");
    assert_eq!(kolkata.hour_start(six_pm - 1), six_pm - HOUR);
    assert_eq!(kolkata.hour_label(six_pm - HOUR), "2024-06-01 17:00");
    // The local day changes at 18:30 UTC.
    let midnight = utc(2024, 6, 1, 18, 30, 0);
    assert_eq!(
        kolkata.hour_label(kolkata.hour_start(midnight)),
        "2024-06-02 00:00"
    );
    assert_eq!(
        kolkata.hour_label(kolkata.hour_start(midnight - 1)),
        "2024-06-01 23:00"
    );
    // 1970-01-01 00:00 UTC is 05:30 IST: that hour started at 23:30 UTC the day before.
    assert_eq!(kolkata.hour_start(0), -1800);
    assert_eq!(kolkata.hour_label(-1800), "1970-01-01 05:00");
}

fn kathmandu_hours_run_from_quarter_past_to_quarter_past_utc() {
    let kathmandu = zone("Asia/Kathmandu");
    assert_eq!(
        kathmandu.offset_at(utc(2024, 6, 1, 0, 0, 0)),
        5 * HOUR + 45 * 60
    );
    // 12:15 UTC = 18:00 NPT.
    let six_pm = utc(2024, 6, 1, 12, 15, 0);
    assert_eq!(kathmandu.hour_start(six_pm), six_pm);
    assert_eq!(kathmandu.hour_start(six_pm + HOUR - 1), six_pm);
    assert_eq!(kathmandu.hour_label(six_pm), "2024-06-01 18:00");
    assert_eq!(kathmandu.hour_start(six_pm - 1), six_pm - HOUR);
    assert_eq!(kathmandu.hour_label(six_pm - HOUR), "2024-06-01 17:00");
    let midnight = utc(2024, 6, 1, 18, 15, 0);
    assert_eq!(
        kathmandu.hour_label(kathmandu.hour_start(midnight)),
        "2024-06-02 00:00"
    );
}

fn shanghai_is_eight_hours_ahead_all_year() {
    let shanghai = zone("Asia/Shanghai");
    for t in [utc(2024, 1, 15, 0, 0, 0), utc(2024, 7, 15, 0, 0, 0)] {
        assert_eq!(shanghai.offset_at(t), 8 * HOUR);
    }
    // 16:00 UTC on 15 January = 00:00 on the 16th in Shanghai.
    let midnight = utc(2024, 1, 15, 16, 0, 0);
    assert_eq!(shanghai.hour_start(midnight), midnight);
    assert_eq!(shanghai.hour_label(midnight), "2024-01-16 00:00");
    assert_eq!(shanghai.hour_start(midnight - 1), midnight - HOUR);
    assert_eq!(shanghai.hour_label(midnight - HOUR), "2024-01-15 23:00");
    // Summer: same offset (no DST).
    let summer = utc(2024, 7, 15, 4, 59, 59);
    assert_eq!(shanghai.hour_start(summer), utc(2024, 7, 15, 4, 0, 0));
    assert_eq!(
        shanghai.hour_label(utc(2024, 7, 15, 4, 0, 0)),
        "2024-07-15 12:00"
    );
}

fn utc_hours_are_whole_utc_hours() {
    let utc_zone = Zone::utc();
    assert_eq!(utc_zone.name(), "UTC");
    let t = utc(2024, 2, 29, 13, 59, 59);
    assert_eq!(utc_zone.hour_start(t), utc(2024, 2, 29, 13, 0, 0));
    assert_eq!(
        utc_zone.hour_label(utc(2024, 2, 29, 13, 0, 0)),
        "2024-02-29 13:00"
    );
    assert_eq!(utc_zone.offset_at(t), 0);
    // The named zone "UTC" agrees.
    let named = zone("UTC");
    assert_eq!(named.hour_start(t), utc(2024, 2, 29, 13, 0, 0));
    assert_eq!(
        named.hour_label(utc(2024, 2, 29, 13, 0, 0)),
        "2024-02-29 13:00"
    );
}

// ---------------------------------------------------------------------------------------------
// HourClock's one-hour cache
// ---------------------------------------------------------------------------------------------

/// Instants just around every given boundary.
fn around(boundaries: &[i64]) -> Vec<i64> {
    let mut instants = Vec::new();
    for boundary in boundaries {
        for delta in [-HOUR - 1, -HOUR, -1, 0, 1, 1799, HOUR - 1, HOUR, HOUR + 1] {
            instants.push(boundary + delta);
        }
    }
    instants
}

/// Run `instants` through one clock forwards, one backwards and one in a scrambled order,
/// checking each answer against the hand-derived hour start.
fn check_clock(zone: &Zone, instants: &[i64], offset: impl Fn(i64) -> i64) {
    let mut forwards = instants.to_vec();
    forwards.sort_unstable();
    let mut backwards = forwards.clone();
    backwards.reverse();
    // A fixed scramble: stride through the list by a step coprime with its length.
    let len = forwards.len();
    let step = (1..len).rev().find(|s| gcd(*s, len) == 1 && *s > len / 3);
    let scrambled: Vec<i64> = (0..len)
        .map(|i| forwards[(i * step.unwrap_or(1)) % len])
        .collect();
    for order in [forwards, backwards, scrambled] {
        let mut clock = HourClock::new(zone.clone());
        for t in order {
            assert_eq!(
                clock.hour_of(t),
                expected_hour_start(t, offset(t)),
                "{} at {t}",
                zone.name()
            );
        }
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn hour_clock_cache_follows_berlin_across_both_switches_in_any_order() {
    let boundaries = [
        berlin_spring_2024(),
        berlin_fall_2024(),
        utc(2024, 6, 1, 0, 0, 0),
        utc(2024, 12, 31, 23, 0, 0),
    ];
    check_clock(
        &zone("Europe/Berlin"),
        &around(&boundaries),
        berlin_offset_2024,
    );
}

fn hour_clock_cache_follows_fractional_and_fixed_offsets_in_any_order() {
    let boundaries = [
        utc(2024, 6, 1, 12, 30, 0),
        utc(2024, 6, 1, 12, 15, 0),
        utc(2024, 6, 1, 12, 0, 0),
        utc(2024, 6, 1, 18, 30, 0),
        utc(2024, 1, 1, 0, 0, 0),
    ];
    let instants = around(&boundaries);
    check_clock(&zone("Asia/Kolkata"), &instants, |_| 5 * HOUR + 30 * 60);
    check_clock(&zone("Asia/Kathmandu"), &instants, |_| 5 * HOUR + 45 * 60);
    check_clock(&zone("Asia/Shanghai"), &instants, |_| 8 * HOUR);
    check_clock(&Zone::utc(), &instants, |_| 0);
}

fn hour_clock_reuses_an_hour_without_mixing_it_with_the_next() {
    // Every second of two Kolkata hours, then back to the first hour's last second.
    let kolkata = zone("Asia/Kolkata");
    let mut clock = HourClock::new(kolkata.clone());
    let first = utc(2024, 6, 1, 11, 30, 0);
    for t in first..first + 2 * HOUR {
        let expected = if t < first + HOUR {
            first
        } else {
            first + HOUR
        };
        assert_eq!(clock.hour_of(t), expected, "{t}");
    }
    assert_eq!(clock.hour_of(first + HOUR - 1), first);
    assert_eq!(clock.hour_of(first - 1), first - HOUR);
    assert_eq!(clock.zone().name(), "Asia/Kolkata");
}

// ---------------------------------------------------------------------------------------------
// Extreme timestamps
// ---------------------------------------------------------------------------------------------

fn the_epoch_and_negative_timestamps() {
    let utc_zone = Zone::utc();
    assert_eq!(utc_zone.hour_start(0), 0);
    assert_eq!(utc_zone.hour_label(0), "1970-01-01 00:00");
    assert_eq!(utc_zone.hour_start(-1), -HOUR);
    assert_eq!(utc_zone.hour_label(-HOUR), "1969-12-31 23:00");
    // 1960-06-15 10:20:30 UTC.
    let t = utc(1960, 6, 15, 10, 20, 30);
    assert_eq!(utc_zone.hour_start(t), utc(1960, 6, 15, 10, 0, 0));
    assert_eq!(
        utc_zone.hour_label(utc(1960, 6, 15, 10, 0, 0)),
        "1960-06-15 10:00"
    );
    // Berlin on 1970-01-01 was on CET (no DST in West Germany before 1980): 00:00 UTC = 01:00.
    let berlin = zone("Europe/Berlin");
    assert_eq!(berlin.hour_start(0), 0);
    assert_eq!(berlin.hour_label(0), "1970-01-01 01:00");
    let mut clock = HourClock::new(berlin);
    assert_eq!(clock.hour_of(-1), -HOUR);
    assert_eq!(clock.hour_of(0), 0);
}

fn far_future_timestamps_keep_the_zone_rules() {
    let berlin = zone("Europe/Berlin");
    // 2100: the EU rule still applies (tzdb's POSIX rule extends the table).
    let winter = utc(2100, 1, 1, 0, 0, 0);
    assert_eq!(
        berlin.hour_label(berlin.hour_start(winter)),
        "2100-01-01 01:00"
    );
    let summer = utc(2100, 7, 1, 0, 0, 0);
    assert_eq!(
        berlin.hour_label(berlin.hour_start(summer)),
        "2100-07-01 02:00"
    );
    let t = utc(9000, 3, 1, 12, 34, 56);
    let utc_zone = Zone::utc();
    assert_eq!(utc_zone.hour_start(t), utc(9000, 3, 1, 12, 0, 0));
    assert_eq!(
        utc_zone.hour_label(utc(9000, 3, 1, 12, 0, 0)),
        "9000-03-01 12:00"
    );
}

fn extreme_timestamps_do_not_panic() {
    // A pcapng if_tsoffset or timestamp can put a packet anywhere in i64 (the zone's rules end
    // at jiff's years ±9999). Whatever the answer there, it must not panic, and where an hour
    // start ≤ t is representable the answer must contain the instant.
    let extremes = [
        i64::MIN,
        i64::MIN + 1,
        i64::MIN + 1800,
        i64::MIN + 7200,
        -1_000_000_000_000,
        -62_135_596_800, // 0001-01-01
        253_402_300_799, // 9999-12-31 23:59:59
        1_000_000_000_000,
        i64::MAX - 7200,
        i64::MAX,
    ];
    for name in [
        "UTC",
        "Europe/Berlin",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "America/St_Johns",
    ] {
        let zone = zone(name);
        let mut clock = HourClock::new(zone.clone());
        for t in extremes {
            let _ = zone.offset_at(t);
            for start in [zone.hour_start(t), clock.hour_of(t)] {
                let label = zone.hour_label(start);
                assert!(label.ends_with(":00"), "{label}");
                assert!(start <= t, "{name}: hour start {start} after {t}");
                if let Some(earliest) = t.checked_sub(HOUR - 1) {
                    assert!(start >= earliest, "{name}: {start} does not contain {t}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Zone names
// ---------------------------------------------------------------------------------------------

fn an_unknown_zone_name_is_an_error_that_quotes_it() {
    for bad in ["Mars/Olympus_Mons", "Europe/Berln", "not a zone", "Asia/"] {
        let error = Zone::named(bad).expect_err(bad).to_string();
        assert!(error.contains(&format!("'{bad}'")), "{error}");
    }
}

fn known_zone_names_are_accepted_as_written() {
    for name in [
        "Europe/Berlin",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "Asia/Shanghai",
        "UTC",
    ] {
        assert_eq!(zone(name).name(), name);
    }
    // glibc's leading ':' ("a file name") is accepted.
    let berlin = zone(":Europe/Berlin");
    assert_eq!(berlin.name(), "Europe/Berlin");
    assert_eq!(berlin.offset_at(utc(2024, 7, 1, 0, 0, 0)), 2 * HOUR);
}

fn from_system_uses_the_tz_variable_when_set() {
    let berlin = Zone::from_system(Some("Europe/Berlin")).expect("a known zone");
    assert_eq!(berlin.name(), "Europe/Berlin");
    assert_eq!(berlin.offset_at(utc(2024, 7, 1, 0, 0, 0)), 2 * HOUR);
    assert_eq!(berlin.offset_at(utc(2024, 1, 1, 0, 0, 0)), HOUR);
    // A typo in TZ must not silently become UTC.
    let error = Zone::from_system(Some("Europe/Berlinn"))
        .expect_err("unknown zone")
        .to_string();
    assert!(error.contains("'Europe/Berlinn'"), "{error}");
    // Unset or empty: the system zone (whatever this machine has), never an error.
    assert!(Zone::from_system(None).is_ok());
    assert!(Zone::from_system(Some("")).is_ok());
}

fn counting_uses_the_counter_zone() {
    // The same instant lands in different local hours in different zones.
    let frame = eth(
        ETHERTYPE_IPV4,
        &ipv4_packet("192.168.1.10", "203.0.113.5", 80),
    );
    let t = utc(2024, 6, 1, 12, 40, 0);
    for (name, hour_start) in [
        ("UTC", utc(2024, 6, 1, 12, 0, 0)),
        ("Asia/Kolkata", utc(2024, 6, 1, 12, 30, 0)),
        ("Asia/Kathmandu", utc(2024, 6, 1, 12, 15, 0)),
        ("Europe/Berlin", utc(2024, 6, 1, 12, 0, 0)),
    ] {
        let mut counter = Counter::new(AddressClassifier::default(), HourClock::new(zone(name)));
        let mut tally = FileTally::new();
        counter.count(
            &Frame {
                link: LinkType::Ethernet,
                data: &frame,
                meta: whole(&frame),
                unix_second: t,
            },
            &mut tally,
        );
        let hours: Vec<HourStart> = tally.hours().into_keys().collect();
        assert_eq!(hours, [hour_start], "{name}");
    }
}

tests! {
    the_calendar_helper_matches_known_instants,
    berlin_spring_forward_day_has_23_hours_and_no_0200,
    berlin_fall_back_day_has_25_hours_with_two_labelled_0200,
    report_adds_the_two_fall_back_hours_into_one_label,
    kolkata_hours_run_from_half_past_to_half_past_utc,
    kathmandu_hours_run_from_quarter_past_to_quarter_past_utc,
    shanghai_is_eight_hours_ahead_all_year,
    utc_hours_are_whole_utc_hours,
    hour_clock_cache_follows_berlin_across_both_switches_in_any_order,
    hour_clock_cache_follows_fractional_and_fixed_offsets_in_any_order,
    hour_clock_reuses_an_hour_without_mixing_it_with_the_next,
    the_epoch_and_negative_timestamps,
    far_future_timestamps_keep_the_zone_rules,
    extreme_timestamps_do_not_panic,
    an_unknown_zone_name_is_an_error_that_quotes_it,
    known_zone_names_are_accepted_as_written,
    from_system_uses_the_tz_variable_when_set,
    counting_uses_the_counter_zone,
}
