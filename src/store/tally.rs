//! Exact per-address sums over many stored day lists, and the heaviest few of them.
//!
//! A range of ten years adds up every entry of every day's list: at the default
//! `DEVICES_PER_DAY` (256) with addresses that change daily (IPv6 temporary addresses) that is
//! 934,000 entries of 934,000 different addresses, and a device's remote addresses can be
//! millions. One hash map of a million addresses misses the cache on nearly every insert and
//! rehashes as it grows, and sorting all of them to keep 20 cost as much again
//! (`benches/store.rs`, `devices_full_all`: 305–357 ms). So entries are appended to a flat buffer;
//! past [`SPREAD_AFTER`] they are scattered by hash into [`PARTS`] partitions (sequential
//! appends), and each partition is summed on its own in one small map that stays in cache and is
//! reused. Only the `limit` heaviest sums are kept, in a bounded heap, never a sort of them all.
//! The answer is the same as summing every address over the days and sorting: heaviest first,
//! ties by address.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasher, Hash};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use jiff::civil::Date;

use super::schema::{AddrBits, each_month_device, each_remote};
use crate::count::UpDown;

/// Entries held in one buffer before they are spread over partitions: below this, one map of
/// them fits the cache anyway (a day, a week, a month of devices).
const SPREAD_AFTER: usize = 1 << 14;
/// Partitions once spread: few enough that appending to them stays within the cache's reach, many
/// enough that a million entries make maps of about 15,000 (a megabyte: a core's L2 cache here).
/// 16 and 128 measured no better for devices, 16 worse for a device's remote addresses.
const PARTS: usize = 64;
/// Room each partition starts with when spread, so the first doublings are skipped.
const PART_START: usize = 2 * SPREAD_AFTER / PARTS;

/// An IPv6 address as two halves (a `u128` would align the record to 16 bytes), hashed as two
/// words.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct V6(u64, u64);

/// One entry: an address (IPv4 as `u32`, IPv6 as two `u64`), its bytes, and the last day it was
/// seen on. Packed to 4-byte alignment, so an IPv6 record is 36 bytes instead of 40: writing the
/// records once is most of the time a ten-year range takes. (Fields are only ever copied out,
/// never borrowed, as a packed struct requires.)
#[derive(Clone, Copy)]
#[repr(C, packed(4))]
struct Entry<K> {
    key: K,
    bytes: UpDown,
    last: Date,
}

/// The entries of one address family.
struct Family<K> {
    flat: Vec<Entry<K>>,
    parts: Vec<Vec<Entry<K>>>,
}

impl<K: Copy + Eq + Hash> Family<K> {
    fn new() -> Family<K> {
        Family {
            flat: Vec::new(),
            parts: Vec::new(),
        }
    }

    /// Add `entry`; `expect` guesses how many entries this family will get in all, for the
    /// partitions' first room (growing a partition copies it).
    fn push(
        &mut self,
        hasher: &foldhash::fast::RandomState,
        entry: Entry<K>,
        expect: impl FnOnce(usize) -> usize,
    ) {
        if self.parts.is_empty() {
            self.flat.push(entry);
            if self.flat.len() >= SPREAD_AFTER {
                // A little over an even share, so most partitions never grow.
                let room = (expect(self.flat.len()) / PARTS).saturating_mul(9) / 8;
                let room = room.clamp(PART_START, 1 << 20);
                self.parts = (0..PARTS).map(|_| Vec::with_capacity(room)).collect();
                for entry in std::mem::take(&mut self.flat) {
                    let key = entry.key;
                    self.parts[part_of(hasher, &key)].push(entry);
                }
            }
        } else {
            let key = entry.key;
            self.parts[part_of(hasher, &key)].push(entry);
        }
    }

    /// Sum each partition (or the flat buffer) and offer every address's sum to `top`.
    fn sum_into(
        self,
        hasher: &foldhash::fast::RandomState,
        addr: impl Fn(K) -> IpAddr,
        top: &mut Top,
    ) {
        let mut sums: HashMap<K, (UpDown, Date), foldhash::fast::RandomState> =
            HashMap::with_hasher(hasher.clone());
        let groups = if self.parts.is_empty() {
            vec![self.flat]
        } else {
            self.parts
        };
        for group in groups {
            sums.clear();
            sums.reserve(group.len());
            for entry in group {
                let (key, bytes, last) = (entry.key, entry.bytes, entry.last);
                let sum = sums.entry(key).or_insert((UpDown::default(), last));
                sum.0 += bytes;
                sum.1 = sum.1.max(last);
            }
            for (key, (bytes, last)) in sums.drain() {
                top.offer(Summed {
                    addr: addr(key),
                    bytes,
                    last,
                });
            }
        }
    }
}

/// The partition of `key`: bits of its hash that the partition's own map uses neither for the
/// bucket (the low bits) nor for the control byte (the top seven), so each map still spreads.
fn part_of<K: Hash>(hasher: &foldhash::fast::RandomState, key: &K) -> usize {
    ((hasher.hash_one(key) >> 40) as usize) & (PARTS - 1)
}

/// Per-address sums over any number of lists.
pub struct Tally {
    hasher: foldhash::fast::RandomState,
    /// Lists the caller expects to add, and lists added so far: what the room of the partitions
    /// is guessed from.
    lists: usize,
    added: usize,
    v4: Family<u32>,
    v6: Family<V6>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally::new()
    }
}

/// One address's sum, and the last day it was seen on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summed {
    pub addr: IpAddr,
    pub bytes: UpDown,
    pub last: Date,
}

impl Tally {
    pub fn new() -> Tally {
        Tally::for_lists(0)
    }

    /// A tally that will be handed about `lists` lists through [`Tally::add_list`].
    pub fn for_lists(lists: usize) -> Tally {
        Tally {
            hasher: foldhash::fast::RandomState::default(),
            lists,
            added: 0,
            v4: Family::new(),
            v6: Family::new(),
        }
    }

    /// Add every entry of a stored list ([`each_remote`]'s encoding) of `date`; `None` when it
    /// is damaged (its entries before the damage are added).
    pub fn add_list(&mut self, list: &[u8], date: Date) -> Option<()> {
        self.added += 1;
        each_remote(list, |addr, bytes| self.add(addr, bytes, date))
    }

    /// [`Tally::add_list`] only if the whole list can be read (it is decoded twice): `false`, and
    /// nothing added, when it cannot.
    pub fn add_whole_list(&mut self, list: &[u8], date: Date) -> bool {
        each_remote(list, |_, _| ()).is_some() && self.add_list(list, date).is_some()
    }

    /// Add every entry of a month list of devices ([`each_month_device`]'s encoding) of the month
    /// `month` lies in, each on the day it was last listed; `None` when it is damaged (its entries
    /// before the damage are added).
    pub fn add_month_list(&mut self, list: &[u8], month: Date) -> Option<()> {
        self.added += 1;
        let last = month.last_of_month();
        // Day 29 to 31 of a shorter month cannot be written; read as its last day.
        let dates: [Date; 32] = std::array::from_fn(|day| {
            Date::new(month.year(), month.month(), day as i8).unwrap_or(last)
        });
        each_month_device(list, |addr, bytes, day| {
            self.add(addr, bytes, dates[usize::from(day)]);
        })
    }

    /// [`Tally::add_month_list`] only if the whole list can be read: `false`, and nothing added,
    /// when it cannot.
    pub fn add_whole_month_list(&mut self, list: &[u8], month: Date) -> bool {
        each_month_device(list, |_, _, _| ()).is_some()
            && self.add_month_list(list, month).is_some()
    }

    /// Add `bytes` of `addr` seen on `date`.
    #[inline]
    pub fn add(&mut self, addr: impl Into<AddrBits>, bytes: UpDown, date: Date) {
        // Entries so far × lists expected / lists added so far.
        let (lists, added) = (self.lists, self.added.max(1));
        let expect = |now: usize| now.saturating_mul(lists.max(added)) / added;
        match addr.into() {
            AddrBits::V4(key) => self.v4.push(
                &self.hasher,
                Entry {
                    key,
                    bytes,
                    last: date,
                },
                expect,
            ),
            AddrBits::V6(bits) => self.v6.push(
                &self.hasher,
                Entry {
                    key: V6((bits >> 64) as u64, bits as u64),
                    bytes,
                    last: date,
                },
                expect,
            ),
        }
    }

    /// The `limit` heaviest addresses, heaviest first (ties by address), each with its sum over
    /// everything added and the last day it was seen on.
    pub fn heaviest(self, limit: usize) -> Vec<Summed> {
        let mut top = Top {
            limit,
            heap: BinaryHeap::with_capacity(limit.min(1 << 16) + 1),
        };
        if limit == 0 {
            return Vec::new();
        }
        self.v4.sum_into(
            &self.hasher,
            |key| IpAddr::V4(Ipv4Addr::from(key)),
            &mut top,
        );
        self.v6.sum_into(
            &self.hasher,
            |V6(high, low)| IpAddr::V6(Ipv6Addr::from((u128::from(high) << 64) | u128::from(low))),
            &mut top,
        );
        let mut list: Vec<Summed> = top.heap.into_iter().map(|Reverse(r)| r.0).collect();
        list.sort_unstable_by_key(|summed| Reverse(Ranked(*summed)));
        list
    }
}

/// A sum ordered by rank: greater is heavier, and of two equal totals the lower address.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Ranked(Summed);

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0
            .bytes
            .total()
            .cmp(&other.0.bytes.total())
            .then(other.0.addr.cmp(&self.0.addr))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The `limit` highest-ranked sums offered so far (a min-heap: its top is the one to beat).
struct Top {
    limit: usize,
    heap: BinaryHeap<Reverse<Ranked>>,
}

impl Top {
    #[inline]
    fn offer(&mut self, summed: Summed) {
        let ranked = Ranked(summed);
        if self.heap.len() < self.limit {
            self.heap.push(Reverse(ranked));
        } else if let Some(mut lowest) = self.heap.peek_mut()
            && ranked > lowest.0
        {
            *lowest = Reverse(ranked);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ud(up: u64, down: u64) -> UpDown {
        UpDown { up, down }
    }

    /// What the straightforward way gives: one map, every sum, sorted heaviest first, ties by
    /// address.
    fn plain(entries: &[(IpAddr, UpDown, Date)], limit: usize) -> Vec<Summed> {
        let mut sums: HashMap<IpAddr, (UpDown, Date)> = HashMap::new();
        for (addr, bytes, date) in entries {
            let sum = sums.entry(*addr).or_insert((UpDown::default(), *date));
            sum.0 += *bytes;
            sum.1 = sum.1.max(*date);
        }
        let mut list: Vec<Summed> = sums
            .into_iter()
            .map(|(addr, (bytes, last))| Summed { addr, bytes, last })
            .collect();
        list.sort_by(|a, b| {
            b.bytes
                .total()
                .cmp(&a.bytes.total())
                .then(a.addr.cmp(&b.addr))
        });
        list.truncate(limit);
        list
    }

    #[test]
    fn sums_equal_one_map_and_a_full_sort_small_and_spread() {
        // Enough entries to spread over partitions, with repeats, ties, both families.
        let mut entries = Vec::new();
        let mut date = Date::constant(2024, 1, 1);
        for day in 0..200u64 {
            for i in 0..300u64 {
                let n = (day * 37 + i * 11) % 5000;
                let addr = if i % 4 == 0 {
                    IpAddr::V6(Ipv6Addr::from(0xfd00_u128 << 112 | u128::from(n)))
                } else {
                    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n as u32))
                };
                // Many equal totals, so the tie order matters.
                entries.push((addr, ud(n % 7, (n * 3) % 5), date));
            }
            date = date.tomorrow().expect("date");
        }
        assert!(entries.len() > SPREAD_AFTER * 2);
        for (count, limit) in [(10, 5), (entries.len(), 20), (entries.len(), 100_000)] {
            let mut tally = Tally::new();
            for (addr, bytes, date) in &entries[..count] {
                tally.add(*addr, *bytes, *date);
            }
            assert_eq!(
                tally.heaviest(limit),
                plain(&entries[..count], limit),
                "{count} entries, limit {limit}"
            );
        }
        assert_eq!(Tally::new().heaviest(10), vec![]);
        let mut one = Tally::new();
        one.add(entries[0].0, entries[0].1, entries[0].2);
        assert_eq!(one.heaviest(0), vec![]);
    }
}
