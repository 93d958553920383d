//! Billing cycles: a cycle runs from local midnight of the billing day to local midnight of the
//! next month's billing day, in the clock's zone. A month without that day (the 29th to 31st in
//! a shorter month) uses its last day, so with `BILLING_DAY=31` the cycles start on Jan 31,
//! Feb 28 (29 in a leap year), Mar 31, Apr 30. Midnight is the first instant of the local date
//! (the rule every day of the history uses): a DST change inside a cycle makes it an hour longer
//! or shorter, and where a zone skips midnight itself the cycle starts when the day does.

use jiff::Span;
use jiff::civil::Date;

use crate::clock::Zone;
use crate::store::days::day_start;

/// One billing cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cycle {
    /// Its first local day.
    pub first: Date,
    /// The first local day of the next cycle (this one's last day is the day before).
    pub next: Date,
    /// The UTC second at which it starts: the first instant of `first`.
    pub start: i64,
    /// The UTC second at which it ends (exclusive): the first instant of `next`.
    pub end: i64,
}

impl Cycle {
    /// Its last local day.
    pub fn last(&self) -> Date {
        self.next.yesterday().unwrap_or(self.first)
    }

    /// Its length in seconds (a DST change makes it an hour shorter or longer than its days).
    pub fn seconds(&self) -> i64 {
        self.end.saturating_sub(self.start)
    }

    /// Local calendar days from `today` to the cycle's last day, both included (1 on its last
    /// day, 0 once it is over).
    pub fn days_left(&self, today: Date) -> i64 {
        if today >= self.next {
            return 0;
        }
        let from = today.max(self.first);
        self.next
            .since(from)
            .map_or(0, |span| i64::from(span.get_days()))
    }
}

/// The first day of the cycle that starts in `year`-`month`: `billing_day`, or the month's last
/// day when it is shorter. `None` only outside the calendar (beyond year 9999).
pub fn start_in_month(billing_day: u8, year: i16, month: i8) -> Option<Date> {
    let first = Date::new(year, month, 1).ok()?;
    let day = (billing_day.clamp(1, 31) as i8).min(first.days_in_month());
    Date::new(year, month, day).ok()
}

fn shift_month(date: Date, months: i32) -> Option<Date> {
    date.first_of_month()
        .checked_add(Span::new().months(months))
        .ok()
}

/// The cycle that contains local date `date`. `None` only at the ends of the calendar.
pub fn containing_date(zone: &Zone, billing_day: u8, date: Date) -> Option<Cycle> {
    let here = start_in_month(billing_day, date.year(), date.month())?;
    let (first, next) = if date >= here {
        let after = shift_month(date, 1)?;
        (
            here,
            start_in_month(billing_day, after.year(), after.month())?,
        )
    } else {
        let before = shift_month(date, -1)?;
        (
            start_in_month(billing_day, before.year(), before.month())?,
            here,
        )
    };
    Some(Cycle {
        first,
        next,
        start: day_start(zone, first),
        end: day_start(zone, next),
    })
}

/// The cycle that contains the instant `unix_second`.
pub fn containing(zone: &Zone, billing_day: u8, unix_second: i64) -> Option<Cycle> {
    containing_date(zone, billing_day, zone.date_of(unix_second))
}

/// The cycle just before `cycle`.
pub fn before(zone: &Zone, billing_day: u8, cycle: &Cycle) -> Option<Cycle> {
    containing_date(zone, billing_day, cycle.first.yesterday().ok()?)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::quota) fn d(year: i16, month: i8, day: i8) -> Date {
        Date::new(year, month, day).expect("a test date")
    }

    /// Unix seconds of a UTC date and time, by arithmetic (H. Hinnant's days_from_civil), not
    /// by the time library under test.
    pub(in crate::quota) fn utc(year: i64, month: i64, day: i64, hour: i64, minute: i64) -> i64 {
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        (era * 146_097 + doe - 719_468) * 86_400 + hour * 3600 + minute * 60
    }

    fn first_next(zone: &Zone, billing_day: u8, date: Date) -> (Date, Date) {
        let cycle = containing_date(zone, billing_day, date).expect("a cycle");
        (cycle.first, cycle.next)
    }

    #[test]
    fn billing_days_1_and_15_across_february() {
        let utc_zone = Zone::utc();
        assert_eq!(
            first_next(&utc_zone, 1, d(2025, 2, 14)),
            (d(2025, 2, 1), d(2025, 3, 1))
        );
        assert_eq!(
            first_next(&utc_zone, 1, d(2025, 2, 1)),
            (d(2025, 2, 1), d(2025, 3, 1))
        );
        assert_eq!(
            first_next(&utc_zone, 1, d(2025, 1, 31)),
            (d(2025, 1, 1), d(2025, 2, 1))
        );
        // The 15th: Feb 14 is still January's cycle, Feb 15 starts February's.
        assert_eq!(
            first_next(&utc_zone, 15, d(2025, 2, 14)),
            (d(2025, 1, 15), d(2025, 2, 15))
        );
        assert_eq!(
            first_next(&utc_zone, 15, d(2025, 2, 15)),
            (d(2025, 2, 15), d(2025, 3, 15))
        );
        // Across a year end.
        assert_eq!(
            first_next(&utc_zone, 15, d(2025, 1, 3)),
            (d(2024, 12, 15), d(2025, 1, 15))
        );
        let cycle = containing_date(&utc_zone, 15, d(2025, 2, 20)).expect("cycle");
        assert_eq!(cycle.start, utc(2025, 2, 15, 0, 0));
        assert_eq!(cycle.end, utc(2025, 3, 15, 0, 0));
        assert_eq!(cycle.seconds(), 28 * 86_400);
        assert_eq!(cycle.last(), d(2025, 3, 14));
    }

    #[test]
    fn billing_days_29_30_31_use_februarys_last_day() {
        let z = Zone::utc();
        // 2025 is not a leap year: February ends on the 28th.
        for billing_day in [29, 30, 31] {
            assert_eq!(
                first_next(&z, billing_day, d(2025, 2, 28)),
                (
                    d(2025, 2, 28),
                    start_in_month(billing_day, 2025, 3).unwrap()
                ),
                "BILLING_DAY={billing_day}"
            );
            assert_eq!(
                first_next(&z, billing_day, d(2025, 2, 27)).1,
                d(2025, 2, 28),
                "BILLING_DAY={billing_day}: Feb 27 is in January's cycle"
            );
        }
        assert_eq!(
            first_next(&z, 29, d(2025, 2, 10)),
            (d(2025, 1, 29), d(2025, 2, 28))
        );
        assert_eq!(
            first_next(&z, 29, d(2025, 3, 1)),
            (d(2025, 2, 28), d(2025, 3, 29))
        );
        assert_eq!(
            first_next(&z, 30, d(2025, 3, 29)),
            (d(2025, 2, 28), d(2025, 3, 30))
        );
        // The 31st: Jan 31, Feb 28, Mar 31, Apr 30, May 31.
        assert_eq!(
            first_next(&z, 31, d(2025, 1, 31)),
            (d(2025, 1, 31), d(2025, 2, 28))
        );
        assert_eq!(
            first_next(&z, 31, d(2025, 3, 30)),
            (d(2025, 2, 28), d(2025, 3, 31))
        );
        assert_eq!(
            first_next(&z, 31, d(2025, 4, 30)),
            (d(2025, 4, 30), d(2025, 5, 31))
        );
        assert_eq!(
            first_next(&z, 31, d(2025, 4, 29)),
            (d(2025, 3, 31), d(2025, 4, 30))
        );
    }

    #[test]
    fn leap_years_2024_and_2028_but_not_2100() {
        let z = Zone::utc();
        for year in [2024, 2028] {
            assert_eq!(
                first_next(&z, 29, d(year, 2, 28)),
                (d(year, 1, 29), d(year, 2, 29)),
                "{year}: Feb 28 is still January's cycle"
            );
            assert_eq!(
                first_next(&z, 29, d(year, 2, 29)),
                (d(year, 2, 29), d(year, 3, 29))
            );
            assert_eq!(
                first_next(&z, 31, d(year, 3, 1)),
                (d(year, 2, 29), d(year, 3, 31))
            );
            let cycle = containing_date(&z, 30, d(year, 2, 29)).expect("cycle");
            assert_eq!((cycle.first, cycle.next), (d(year, 2, 29), d(year, 3, 30)));
            assert_eq!(cycle.seconds(), 30 * 86_400);
        }
        // 2100 is divisible by 4 but not a leap year (not by 400).
        assert_eq!(
            first_next(&z, 29, d(2100, 2, 28)),
            (d(2100, 2, 28), d(2100, 3, 29))
        );
        assert_eq!(
            first_next(&z, 31, d(2100, 2, 27)),
            (d(2100, 1, 31), d(2100, 2, 28))
        );
        let cycle = containing_date(&z, 1, d(2100, 2, 15)).expect("cycle");
        assert_eq!(cycle.seconds(), 28 * 86_400);
        assert_eq!(cycle.start, utc(2100, 2, 1, 0, 0));
        // 2000 was (divisible by 400).
        assert_eq!(
            first_next(&z, 29, d(2000, 2, 29)),
            (d(2000, 2, 29), d(2000, 3, 29))
        );
    }

    #[test]
    fn cycles_start_at_local_midnight_across_dst() {
        let berlin = Zone::named("Europe/Berlin").expect("zone");
        // 2024-03-31 02:00 CET → 03:00 CEST. March 15 to April 15: 31 days less an hour.
        let cycle = containing_date(&berlin, 15, d(2024, 3, 31)).expect("cycle");
        assert_eq!(cycle.start, utc(2024, 3, 14, 23, 0), "00:00 CET");
        assert_eq!(cycle.end, utc(2024, 4, 14, 22, 0), "00:00 CEST");
        assert_eq!(cycle.seconds(), 31 * 86_400 - 3600);
        // 2024-10-27 03:00 CEST → 02:00 CET: October 1 to November 1 is an hour longer.
        let cycle = containing_date(&berlin, 1, d(2024, 10, 27)).expect("cycle");
        assert_eq!(cycle.start, utc(2024, 9, 30, 22, 0));
        assert_eq!(cycle.end, utc(2024, 10, 31, 23, 0));
        assert_eq!(cycle.seconds(), 31 * 86_400 + 3600);
        // The instant just before local midnight belongs to the old cycle.
        let at = utc(2024, 10, 31, 22, 59);
        assert_eq!(
            containing(&berlin, 1, at).expect("cycle").first,
            d(2024, 10, 1)
        );
        assert_eq!(
            containing(&berlin, 1, at + 60).expect("cycle").first,
            d(2024, 11, 1)
        );

        let new_york = Zone::named("America/New_York").expect("zone");
        // 2025-03-09 02:00 EST → 03:00 EDT; 2025-11-02 02:00 EDT → 01:00 EST.
        let cycle = containing_date(&new_york, 9, d(2025, 3, 9)).expect("cycle");
        assert_eq!(cycle.start, utc(2025, 3, 9, 5, 0), "00:00 EST");
        assert_eq!(cycle.end, utc(2025, 4, 9, 4, 0), "00:00 EDT");
        assert_eq!(cycle.seconds(), 31 * 86_400 - 3600);
        let cycle = containing_date(&new_york, 2, d(2025, 11, 2)).expect("cycle");
        assert_eq!(cycle.start, utc(2025, 11, 2, 4, 0), "00:00 EDT");
        assert_eq!(cycle.end, utc(2025, 12, 2, 5, 0), "00:00 EST");
        assert_eq!(cycle.seconds(), 30 * 86_400 + 3600);
        // 23:30 local on Nov 1 (03:30 UTC Nov 2) is still the cycle before.
        assert_eq!(
            containing(&new_york, 2, utc(2025, 11, 2, 3, 30))
                .expect("cycle")
                .first,
            d(2025, 10, 2)
        );
    }

    #[test]
    fn a_half_hour_zone_shifts_the_start_by_five_and_a_half_hours() {
        let kolkata = Zone::named("Asia/Kolkata").expect("zone");
        let cycle = containing_date(&kolkata, 31, d(2024, 2, 29)).expect("cycle");
        assert_eq!((cycle.first, cycle.next), (d(2024, 2, 29), d(2024, 3, 31)));
        // 2024-02-29 00:00 IST = 2024-02-28 18:30 UTC.
        assert_eq!(cycle.start, utc(2024, 2, 28, 18, 30));
        assert_eq!(cycle.end, utc(2024, 3, 30, 18, 30));
        // 18:29 UTC on Feb 28 is 23:59 IST on Feb 28: January's cycle (Jan 31 to Feb 28).
        let earlier = containing(&kolkata, 31, utc(2024, 2, 28, 18, 29)).expect("cycle");
        assert_eq!(
            (earlier.first, earlier.next),
            (d(2024, 1, 31), d(2024, 2, 29))
        );
        assert_eq!(
            containing(&kolkata, 31, utc(2024, 2, 28, 18, 30)),
            Some(cycle)
        );
    }

    #[test]
    fn cycles_before_walk_back_one_month_each() {
        let z = Zone::utc();
        let mut cycle = containing_date(&z, 31, d(2024, 4, 30)).expect("cycle");
        let mut firsts = vec![cycle.first];
        for _ in 0..4 {
            cycle = before(&z, 31, &cycle).expect("the cycle before");
            firsts.push(cycle.first);
        }
        assert_eq!(
            firsts,
            [
                d(2024, 4, 30),
                d(2024, 3, 31),
                d(2024, 2, 29),
                d(2024, 1, 31),
                d(2023, 12, 31)
            ]
        );
    }

    #[test]
    fn days_left_counts_today_and_the_last_day() {
        let cycle = containing_date(&Zone::utc(), 1, d(2025, 6, 10)).expect("cycle");
        assert_eq!(cycle.days_left(d(2025, 6, 1)), 30);
        assert_eq!(cycle.days_left(d(2025, 6, 10)), 21);
        assert_eq!(cycle.days_left(d(2025, 6, 30)), 1);
        assert_eq!(cycle.days_left(d(2025, 7, 1)), 0);
    }
}
