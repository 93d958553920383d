//! Upload and download bytes, the pair every count, total and stored value is made of.
//!
//! The one place their arithmetic lives: sums stop at `u64::MAX` and differences at zero, so a
//! damaged stored value or a value memory dropped can never wrap a total around.

use crate::classify::Direction;

/// Upload and download bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpDown {
    pub up: u64,
    pub down: u64,
}

impl UpDown {
    // One add to the chosen field rather than an add in each arm: the direction of consecutive
    // packets is as good as random, and a branch on it is mispredicted.
    #[inline(always)]
    pub fn add(&mut self, direction: Direction, bytes: u64) {
        let field = match direction {
            Direction::Up => &mut self.up,
            Direction::Down => &mut self.down,
        };
        *field += bytes;
    }

    /// Both directions together, stopping at `u64::MAX` like the sums below: a damaged stored
    /// value may hold two counts near it, which would otherwise overflow (a panic in debug
    /// builds, a wrong order of the heaviest in release ones).
    pub fn total(&self) -> u64 {
        self.up.saturating_add(self.down)
    }
}

/// `a + b` that stops at `u64::MAX` instead of overflowing (on a damaged stored value, or a
/// counter that ran for longer than any NAS will).
impl std::ops::Add for UpDown {
    type Output = UpDown;

    fn add(self, other: UpDown) -> UpDown {
        UpDown {
            up: self.up.saturating_add(other.up),
            down: self.down.saturating_add(other.down),
        }
    }
}

impl std::ops::AddAssign for UpDown {
    fn add_assign(&mut self, other: UpDown) {
        *self = *self + other;
    }
}

/// `now - taken`, each direction stopping at zero: what memory holds beyond what was already
/// taken (a value that shrank adds nothing).
impl std::ops::Sub for UpDown {
    type Output = UpDown;

    fn sub(self, taken: UpDown) -> UpDown {
        UpDown {
            up: self.up.saturating_sub(taken.up),
            down: self.down.saturating_sub(taken.down),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_stop_at_the_largest_count_and_differences_at_zero() {
        let big = UpDown {
            up: u64::MAX - 1,
            down: 5,
        };
        let mut sum = big;
        sum += UpDown { up: 10, down: 7 };
        assert_eq!(
            sum,
            UpDown {
                up: u64::MAX,
                down: 12
            }
        );
        assert_eq!(
            big + UpDown { up: 1, down: 1 },
            UpDown {
                up: u64::MAX,
                down: 6
            }
        );
        assert_eq!(
            UpDown { up: 3, down: 9 } - UpDown { up: 5, down: 4 },
            UpDown { up: 0, down: 5 }
        );
        assert_eq!(big.total(), u64::MAX);
    }
}
