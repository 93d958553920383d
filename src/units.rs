//! Byte counts for people, exactly as the original product wrote them ("0.00 B", "1.00 GB").

const UNITS: [&str; 6] = ["B", "KB", "MB", "GB", "TB", "PB"];

/// 1024-based units with two decimals, the original's `*_fmt` format.
pub fn format_bytes(bytes: u64) -> String {
    ByteSize(bytes).to_string()
}

/// [`format_bytes`] as a `Display` value, to write straight into a buffer (the API's JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl std::fmt::Display for ByteSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut value = self.0 as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit < UNITS.len() - 1 {
            value /= 1024.0;
            unit += 1;
        }
        write!(f, "{value:.2} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::format_bytes;

    #[test]
    fn matches_the_originals_recorded_strings() {
        // Values and strings from shared/seed/api-responses (the original's real answers).
        assert_eq!(format_bytes(0), "0.00 B");
        assert_eq!(format_bytes(171_014), "167.01 KB");
        assert_eq!(format_bytes(3_053_708), "2.91 MB");
        assert_eq!(format_bytes(3_224_722), "3.08 MB");
        assert_eq!(format_bytes(1 << 30), "1.00 GB");
    }

    #[test]
    fn stays_in_the_largest_unit_beyond_it() {
        assert_eq!(format_bytes(1023), "1023.00 B");
        assert_eq!(format_bytes(u64::MAX), "16384.00 PB");
    }
}
