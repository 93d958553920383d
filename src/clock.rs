//! Timestamps → local hours, in the zone the NAS owner lives in.
//!
//! An hour is identified by the UTC second at which its local hour starts ([`HourStart`]); that key
//! is what counters and storage use. Its label ("2024-10-27 02:00") is only made for output, so the
//! two real hours that share a label when clocks fall back stay apart in storage and are added
//! together where a label is the key (R6.2). Zones whose offset is not whole hours (+05:30, +05:45)
//! just shift where an hour starts.
//!
//! jiff is the one time library of the project: it reads the tz database (the system's, or its
//! bundled copy in a bare container), knows every transition, and is given the zone explicitly
//! instead of reading `TZ` behind our back in a multi-threaded program.

use std::fmt;

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// The UTC second (Unix time) at which a local hour begins.
pub type HourStart = i64;

const SECONDS_PER_HOUR: i64 = 3600;

/// A zone that cannot be used.
#[derive(Debug)]
pub struct ZoneError {
    name: String,
    reason: String,
}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "time zone '{}' is not known ({}): use an IANA name such as Europe/Berlin or Asia/Shanghai",
            self.name, self.reason
        )
    }
}

impl std::error::Error for ZoneError {}

/// The local time zone, cheap to clone.
#[derive(Clone, Debug)]
pub struct Zone {
    tz: TimeZone,
    name: String,
}

impl Zone {
    /// UTC.
    pub fn utc() -> Zone {
        Zone {
            tz: TimeZone::UTC,
            name: "UTC".to_string(),
        }
    }

    /// A zone by IANA name (a POSIX TZ string such as `CST-8` is accepted too).
    ///
    /// # Errors
    /// When the name is neither in the tz database nor a valid POSIX TZ string.
    pub fn named(name: &str) -> Result<Zone, ZoneError> {
        // glibc allows a leading ':' in TZ to mean "a file name".
        let trimmed = name.trim().trim_start_matches(':');
        let tz = TimeZone::get(trimmed)
            .or_else(|db_error| TimeZone::posix(trimmed).map_err(|_| db_error))
            .map_err(|error| ZoneError {
                name: name.to_string(),
                reason: error.to_string(),
            })?;
        Ok(Zone {
            tz,
            name: trimmed.to_string(),
        })
    }

    /// The zone of this host: `TZ` when set, else /etc/localtime, else UTC.
    ///
    /// # Errors
    /// When `TZ` is set to something that is not a zone (a typo must not silently become UTC).
    pub fn from_system(tz_variable: Option<&str>) -> Result<Zone, ZoneError> {
        match tz_variable.map(str::trim) {
            Some(name) if !name.is_empty() => Zone::named(name),
            _ => Ok(match TimeZone::try_system() {
                Ok(tz) => Zone {
                    name: tz.iana_name().unwrap_or("/etc/localtime").to_string(),
                    tz,
                },
                Err(_) => Zone::utc(),
            }),
        }
    }

    /// The zone's name as configured.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The UTC offset in seconds at a given Unix second.
    pub fn offset_at(&self, unix_second: i64) -> i64 {
        i64::from(self.tz.to_offset(timestamp(unix_second)).seconds())
    }

    /// The start of the local hour containing `unix_second`.
    pub fn hour_start(&self, unix_second: i64) -> HourStart {
        let local = unix_second.saturating_add(self.offset_at(unix_second));
        // Saturating: a file's if_tsoffset can put a packet at i64::MIN, whose hour would start
        // before the first representable second.
        unix_second.saturating_sub(local.rem_euclid(SECONDS_PER_HOUR))
    }

    /// The local label "YYYY-MM-DD HH:00" of the hour that starts at `hour`.
    pub fn hour_label(&self, hour: HourStart) -> String {
        let local = self.tz.to_datetime(timestamp(hour));
        format!(
            "{:04}-{:02}-{:02} {:02}:00",
            local.year(),
            local.month(),
            local.day(),
            local.hour()
        )
    }

    /// ISO 8601 local date and time of `unix_second` with its UTC offset,
    /// `2024-10-27T02:00:00+01:00` (an offset of whole seconds, as local mean time before
    /// standard zones had, is written `+08:05:43`).
    pub fn iso_datetime(&self, unix_second: i64) -> String {
        let mut text = String::with_capacity(25);
        self.write_iso_datetime(unix_second, &mut text);
        text
    }

    /// [`Zone::iso_datetime`] appended to `out`, digit by digit (an export writes two per row:
    /// `format!` cost more than the rest of the row).
    pub fn write_iso_datetime(&self, unix_second: i64, out: &mut String) {
        let at = timestamp(unix_second);
        let local = self.tz.to_datetime(at);
        let offset = self.tz.to_offset(at).seconds();
        let digits = |out: &mut String, value: u32, width: u32| {
            for place in (0..width).rev() {
                let digit = value / 10u32.pow(place) % 10;
                out.push(char::from(b'0' + digit as u8));
            }
        };
        match u32::try_from(local.year()) {
            Ok(year) => digits(out, year, 4),
            // Before year 0 (jiff's range reaches -9999): as ISO 8601's expanded years do.
            Err(_) => out.push_str(&format!("{:05}", local.year())),
        }
        for (separator, value) in [
            ('-', local.month()),
            ('-', local.day()),
            ('T', local.hour()),
            (':', local.minute()),
            (':', local.second()),
        ] {
            out.push(separator);
            digits(out, value.unsigned_abs().into(), 2);
        }
        out.push(if offset < 0 { '-' } else { '+' });
        let offset = offset.unsigned_abs();
        digits(out, offset / 3600, 2);
        out.push(':');
        digits(out, offset / 60 % 60, 2);
        if !offset.is_multiple_of(60) {
            out.push(':');
            digits(out, offset % 60, 2);
        }
    }

    /// The local calendar day that contains `unix_second`.
    pub fn date_of(&self, unix_second: i64) -> jiff::civil::Date {
        self.tz.to_datetime(timestamp(unix_second)).date()
    }

    /// The jiff zone, for calendar arithmetic elsewhere.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }
}

/// A Unix second as a jiff timestamp, clamped to jiff's range (years -9999 to 9999).
fn timestamp(unix_second: i64) -> Timestamp {
    let clamped = unix_second.clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
    Timestamp::from_second(clamped).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Maps packet timestamps to hours, remembering the current hour so that the tz database is
/// consulted once per hour of traffic rather than once per packet.
#[derive(Clone, Debug)]
pub struct HourClock {
    zone: Zone,
    /// Seconds in `[valid_from, valid_until)` all belong to `hour`.
    valid_from: i64,
    valid_until: i64,
    hour: HourStart,
}

impl HourClock {
    pub fn new(zone: Zone) -> HourClock {
        HourClock {
            zone,
            valid_from: 0,
            valid_until: 0,
            hour: 0,
        }
    }

    /// The zone this clock attributes hours in.
    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    /// The local hour that contains `unix_second`.
    #[inline]
    pub fn hour_of(&mut self, unix_second: i64) -> HourStart {
        if unix_second >= self.valid_from && unix_second < self.valid_until {
            return self.hour;
        }
        self.recompute(unix_second)
    }

    #[cold]
    fn recompute(&mut self, unix_second: i64) -> HourStart {
        let hour = self.zone.hour_start(unix_second);
        let end = hour.saturating_add(SECONDS_PER_HOUR);
        let offset = self.zone.offset_at(unix_second);
        // Transitions almost always fall on an hour boundary; when one falls inside this hour
        // (historic zones), cache only this second and ask the database again next time.
        let same_offset_all_hour =
            self.zone.offset_at(hour) == offset && self.zone.offset_at(end - 1) == offset;
        self.hour = hour;
        if same_offset_all_hour {
            self.valid_from = hour;
            self.valid_until = end;
        } else {
            self.valid_from = unix_second;
            self.valid_until = unix_second.saturating_add(1);
        }
        hour
    }
}

/// Seconds since the Unix epoch by the system clock.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
