//! The monthly allowance: billing cycles, what a cycle has used, the forecast of its end total,
//! and the alerts at thresholds of the quota, remembered in the history file.
//!
//! Jobs, one per file: [`cycle`] (where a cycle starts and ends: pure calendar arithmetic in the
//! clock's zone), [`usage`] (the bytes of a cycle by [`Basis`], the forecast and the past
//! cycles, computed on read from the history plus what memory has not committed, exactly as
//! `/api/summary` adds them), [`alerts`] (the engine that decides which alerts are due, records
//! them in the history file and hands them to a [`alerts::Deliver`]).
//!
//! Nothing here is stored but the alerts' states: changing `BILLING_DAY`, `QUOTA`,
//! `QUOTA_BASIS` or `QUOTA_IFACES` re-derives every figure from the hourly history at the next
//! read. It sits above the store (which keeps the alert table, knowing nothing of quotas) and
//! below the web server (which answers `/api/quota`) and the settings (which build
//! [`QuotaSettings`]).

pub mod alerts;
pub mod cycle;
pub mod usage;

#[cfg(test)]
mod scenarios;

use std::fmt;

use crate::count::UpDown;

/// What a cycle's "used" counts (`QUOTA_BASIS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Basis {
    /// Upload and download together (most ISPs).
    #[default]
    Total,
    /// Download only.
    Down,
    /// Upload only.
    Up,
    /// The larger of the cycle's upload and download totals (as some ISPs bill).
    Max,
}

impl Basis {
    /// Every basis, in the order the help lists them.
    pub const ALL: [Basis; 4] = [Basis::Total, Basis::Down, Basis::Up, Basis::Max];

    /// The bytes of `bytes` this basis counts.
    pub fn of(self, bytes: UpDown) -> u64 {
        match self {
            Basis::Total => bytes.up.saturating_add(bytes.down),
            Basis::Down => bytes.down,
            Basis::Up => bytes.up,
            Basis::Max => bytes.up.max(bytes.down),
        }
    }

    /// The setting's word for it.
    pub fn name(self) -> &'static str {
        match self {
            Basis::Total => "total",
            Basis::Down => "down",
            Basis::Up => "up",
            Basis::Max => "max",
        }
    }

    /// A basis by its word, any case.
    pub fn parse(text: &str) -> Option<Basis> {
        let text = text.trim();
        Basis::ALL
            .into_iter()
            .find(|basis| basis.name().eq_ignore_ascii_case(text))
    }
}

impl fmt::Display for Basis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The quota settings (`BILLING_DAY`, `QUOTA`, `QUOTA_BASIS`, `QUOTA_IFACES`, `ALERT_AT`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaSettings {
    /// 1 to 31: the cycle starts at local midnight of this day of the month, or of the month's
    /// last day when the month is shorter.
    pub billing_day: u8,
    /// Bytes per cycle; `None`: no quota (cycles and usage are still reported).
    pub quota: Option<u64>,
    pub basis: Basis,
    /// The interfaces whose traffic counts; empty: all monitored interfaces together (the
    /// default scope of the API, imported history included).
    pub interfaces: Vec<String>,
    /// Percentages of the quota at which an alert fires, ascending, each once.
    pub alert_at: Vec<u16>,
}

impl Default for QuotaSettings {
    fn default() -> QuotaSettings {
        QuotaSettings {
            billing_day: 1,
            quota: None,
            basis: Basis::Total,
            interfaces: Vec::new(),
            alert_at: vec![80, 90, 100],
        }
    }
}

/// The largest `ALERT_AT` percentage.
pub const MAX_ALERT_PERCENT: u16 = 1000;

/// Parse a size such as `500GB`, `1.5TiB`, `750 gb` or `1048576B` into bytes.
///
/// Decimal units are powers of 1000 (`kB`/`KB`, `MB`, `GB`, `TB`, `PB`), binary units powers of
/// 1024 (`KiB`, `MiB`, `GiB`, `TiB`, `PiB`), any case; `B` is bytes. A bare number is refused
/// (`QUOTA=500` means 500 GB to most people, not 500 bytes). A fraction rounds down to whole
/// bytes.
///
/// # Errors
/// What is wrong, as the end of a sentence: not a size, zero, or more than 16 EiB.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim();
    if unit.is_empty() && !number.is_empty() {
        return Err(format!(
            "a unit is needed: expected a size such as {number}GB or 1.5TiB (B, KB, MB, GB, TB, PB are powers of 1000; KiB, MiB, GiB, TiB, PiB of 1024)"
        ));
    }
    let multiplier: u128 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "pb" => 1_000_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "pib" => 1 << 50,
        _ => {
            return Err(format!(
                "'{unit}' is not a unit: expected a size such as 500GB or 1.5TiB (B, KB, MB, GB, TB, PB are powers of 1000; KiB, MiB, GiB, TiB, PiB of 1024)"
            ));
        }
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let shaped = !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && fraction.len() <= 18
        && !(number.contains('.') && fraction.is_empty());
    if !shaped {
        return Err(
            "expected a size such as 500GB or 1.5TiB (a number, then B, KB, MB, GB, TB, PB, KiB, MiB, GiB, TiB or PiB)"
                .to_string(),
        );
    }
    let too_large = || "expected at most 16 EiB".to_string();
    let whole: u128 = whole.parse().map_err(|_| too_large())?;
    let scale = 10u128.pow(fraction.len() as u32);
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| too_large())?
    };
    let bytes = whole
        .checked_mul(scale)
        .and_then(|n| n.checked_add(fraction))
        .and_then(|n| n.checked_mul(multiplier))
        .map(|n| n / scale)
        .ok_or_else(too_large)?;
    match u64::try_from(bytes) {
        Ok(0) => Err("expected a quota above zero (leave QUOTA unset for none)".to_string()),
        Ok(bytes) => Ok(bytes),
        Err(_) => Err(too_large()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_decimal_and_binary_units() {
        assert_eq!(parse_size("500GB"), Ok(500_000_000_000));
        assert_eq!(parse_size("500 gb"), Ok(500_000_000_000));
        assert_eq!(parse_size("1.5TiB"), Ok(1_649_267_441_664));
        assert_eq!(parse_size("1.5MiB"), Ok(1_572_864));
        assert_eq!(parse_size("2kB"), Ok(2_000));
        assert_eq!(parse_size("1024B"), Ok(1024));
        assert!(parse_size("1024").expect_err("no unit").contains("1024GB"));
        assert_eq!(parse_size("7B"), Ok(7));
        // A third of a kilobyte rounds down to whole bytes.
        assert_eq!(parse_size("0.3333KB"), Ok(333));
        assert_eq!(parse_size("16383PiB"), Ok(16_383 << 50));
        assert!(parse_size("16384PiB").is_err(), "2^64 bytes");
    }

    #[test]
    fn bad_sizes_say_what_is_expected() {
        for bad in [
            "",
            "GB",
            "1.GB",
            ".5GB",
            "1,5GB",
            "-1GB",
            "5 gigabytes",
            "1e9",
        ] {
            let error = parse_size(bad).expect_err(bad);
            assert!(
                error.contains("500GB") || error.contains("unit"),
                "{bad}: {error}"
            );
        }
        assert!(parse_size("0GB").expect_err("zero").contains("above zero"));
        assert!(parse_size("17EB0").is_err());
        assert!(parse_size("99999PiB").expect_err("huge").contains("16 EiB"));
    }

    #[test]
    fn bases_count_their_direction() {
        let bytes = UpDown { up: 30, down: 70 };
        assert_eq!(Basis::Total.of(bytes), 100);
        assert_eq!(Basis::Down.of(bytes), 70);
        assert_eq!(Basis::Up.of(bytes), 30);
        assert_eq!(Basis::Max.of(bytes), 70);
        assert_eq!(Basis::Max.of(UpDown { up: 90, down: 10 }), 90);
        assert_eq!(
            Basis::Total.of(UpDown {
                up: u64::MAX,
                down: 1
            }),
            u64::MAX
        );
        assert_eq!(Basis::parse(" MAX "), Some(Basis::Max));
        assert_eq!(Basis::parse("both"), None);
    }
}
