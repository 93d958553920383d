//! A bounded heavy-hitter tally of remote addresses (Space-Saving, Metwally et al. 2005), or of
//! any small key such as a (device, remote) [`Pair`].
//!
//! At most `capacity` addresses are kept. A new address arriving when the table is full takes the
//! place of the lightest one and inherits its total as an over-estimate (`error`), so an address
//! that really is among the heaviest is never pushed out by a flood of one-packet spoofed sources,
//! and memory stays fixed whatever the flood: `capacity` entries plus the index.
//!
//! Entries live in an indexed min-heap ordered by total bytes: the lightest is found in O(1), an
//! update moves an entry down the heap in O(log capacity), and a map finds an address's slot.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use foldhash::fast::RandomState;

use super::UpDown;
use crate::classify::Direction;

/// What a table can be keyed by: an address, or a (device, remote) [`Pair`].
pub trait HeavyKey: Copy + Eq + Hash + Ord {}

impl<K: Copy + Eq + Hash + Ord> HeavyKey for K {}

/// A local address (device) and a remote address it exchanged bytes with: the key of the
/// per-day pair tables that answer "which remote addresses did this device talk to".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pair {
    pub device: IpAddr,
    pub remote: IpAddr,
}

impl Hash for Pair {
    /// Two writes instead of the six a derived hash makes (family, length and bytes of each
    /// address): the pair table is probed on every eviction from the pending cache.
    fn hash<H: Hasher>(&self, state: &mut H) {
        fn write<H: Hasher>(addr: IpAddr, state: &mut H) {
            match addr {
                IpAddr::V4(v4) => state.write_u32(u32::from(v4)),
                IpAddr::V6(v6) => state.write_u128(u128::from(v6)),
            }
        }
        write(self.device, state);
        write(self.remote, state);
    }
}

/// One tracked address (or other key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeavyEntry<K = IpAddr> {
    pub addr: K,
    /// Bytes counted for this address since it entered the table.
    pub bytes: UpDown,
    /// Bytes it may have inherited from the entry it replaced (0 for an exact count).
    pub error: u64,
}

impl<K> HeavyEntry<K> {
    /// The estimated total: an upper bound on the address's real bytes.
    pub fn estimate(&self) -> u64 {
        self.bytes.total() + self.error
    }
}

/// Bounded remote-address tally.
///
/// Entries stay where they were first stored (`entries`); the heap orders their indices by
/// estimate and carries the estimate along, so sifting touches two small arrays and never the
/// hash map: under a flood each packet costs one lookup, one removal and one insertion.
#[derive(Clone, Debug)]
pub struct HeavyHitters<K = IpAddr> {
    capacity: usize,
    entries: Vec<HeavyEntry<K>>,
    /// Min-heap of (estimate, index into `entries`).
    heap: Vec<(u64, u32)>,
    /// For each entry, its position in `heap`.
    position: Vec<u32>,
    slots: HashMap<K, u32, RandomState>,
}

impl<K: HeavyKey> HeavyHitters<K> {
    /// A tally that keeps at most `capacity` (1 to 2^31) addresses.
    pub fn new(capacity: usize) -> HeavyHitters<K> {
        let capacity = capacity.clamp(1, 1 << 31);
        HeavyHitters {
            capacity,
            entries: Vec::with_capacity(capacity),
            heap: Vec::with_capacity(capacity),
            position: Vec::with_capacity(capacity),
            // Twice the entries: evictions leave tombstones, and with the table at most half full
            // the map clears them in place instead of ever growing.
            slots: HashMap::with_capacity_and_hasher(2 * capacity, RandomState::default()),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Add `bytes` in `direction` for `addr`.
    #[inline]
    pub fn add(&mut self, addr: K, direction: Direction, bytes: u64) {
        let mut fresh = UpDown::default();
        fresh.add(direction, bytes);
        let _ = self.add_bytes(addr, fresh);
    }

    /// Add up and down bytes for `addr` at once. `false` when `addr` was new to a full table
    /// and took the place of the lightest entry (what every packet of a spoofed flood does);
    /// `true` when it was tracked already or found room.
    #[inline]
    pub fn add_bytes(&mut self, addr: K, bytes: UpDown) -> bool {
        if let Some(&index) = self.slots.get(&addr) {
            let entry = &mut self.entries[index as usize];
            entry.bytes += bytes;
            let at = self.position[index as usize] as usize;
            self.heap[at].0 = entry.estimate();
            self.sift_down(at);
            return true;
        }
        let fresh = bytes;
        if self.entries.len() < self.capacity {
            let index = self.entries.len() as u32;
            let entry = HeavyEntry {
                addr,
                bytes: fresh,
                error: 0,
            };
            self.entries.push(entry);
            self.position.push(self.heap.len() as u32);
            self.heap.push((entry.estimate(), index));
            self.slots.insert(addr, index);
            self.sift_up(self.heap.len() - 1);
            return true;
        }
        // Full: the lightest entry (the heap's root) makes room and hands over its total.
        let index = self.heap[0].1;
        let evicted = self.entries[index as usize];
        self.slots.remove(&evicted.addr);
        let entry = HeavyEntry {
            addr,
            bytes: fresh,
            error: evicted.estimate(),
        };
        self.entries[index as usize] = entry;
        self.slots.insert(addr, index);
        self.heap[0].0 = entry.estimate();
        self.sift_down(0);
        false
    }

    /// Every tracked entry, heaviest first.
    pub fn entries(&self) -> Vec<HeavyEntry<K>> {
        let mut entries = self.entries.clone();
        entries.sort_by(|a, b| b.estimate().cmp(&a.estimate()).then(a.addr.cmp(&b.addr)));
        entries
    }

    /// Heap memory in bytes, approximately: the entries and heap arrays plus the index at the
    /// capacity the map reports (which the map lowers while it holds tombstones, never raises
    /// after `new`).
    pub fn memory_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<HeavyEntry<K>>()
            + self.heap.capacity() * std::mem::size_of::<(u64, u32)>()
            + self.position.capacity() * std::mem::size_of::<u32>()
            + self.slots.capacity() * (std::mem::size_of::<(K, u32)>() + 1)
    }

    fn sift_up(&mut self, mut at: usize) {
        while at > 0 {
            let parent = (at - 1) / 2;
            if self.heap[parent].0 <= self.heap[at].0 {
                break;
            }
            self.swap(at, parent);
            at = parent;
        }
    }

    fn sift_down(&mut self, mut at: usize) {
        let len = self.heap.len();
        loop {
            let left = 2 * at + 1;
            if left >= len {
                return;
            }
            let right = left + 1;
            let lighter = if right < len && self.heap[right].0 < self.heap[left].0 {
                right
            } else {
                left
            };
            if self.heap[at].0 <= self.heap[lighter].0 {
                return;
            }
            self.swap(at, lighter);
            at = lighter;
        }
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.position[self.heap[a].1 as usize] = a as u32;
        self.position[self.heap[b].1 as usize] = b as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn addr(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0xCB00_7100 + n))
    }

    #[test]
    fn exact_while_under_capacity() {
        let mut heavy = HeavyHitters::new(10);
        let mut model: HashMap<IpAddr, UpDown> = HashMap::new();
        for i in 0..1000u32 {
            let (a, dir, bytes) = (
                addr(i % 7),
                if i % 3 == 0 {
                    Direction::Up
                } else {
                    Direction::Down
                },
                u64::from(i),
            );
            heavy.add(a, dir, bytes);
            model.entry(a).or_default().add(dir, bytes);
        }
        assert_eq!(heavy.len(), 7);
        for entry in heavy.entries() {
            assert_eq!(entry.error, 0);
            assert_eq!(entry.bytes, model[&entry.addr]);
        }
    }

    #[test]
    fn a_flood_of_one_packet_sources_keeps_memory_fixed_and_the_heavy_address() {
        let mut heavy = HeavyHitters::new(64);
        let heavy_addr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
        heavy.add(heavy_addr, Direction::Down, 1_000_000);
        let memory_before = heavy.memory_bytes();
        for i in 0..200_000u32 {
            heavy.add(addr(1000 + i), Direction::Down, 64);
            if i % 1000 == 0 {
                heavy.add(heavy_addr, Direction::Down, 1500);
            }
        }
        assert_eq!(heavy.len(), 64);
        assert!(
            heavy.memory_bytes() <= memory_before * 2,
            "index may rehash once, not grow"
        );
        let top = heavy.entries()[0];
        assert_eq!(top.addr, heavy_addr);
        assert_eq!(top.bytes.down, 1_000_000 + 200 * 1500);
        assert_eq!(top.error, 0, "never evicted, so exact");
    }

    #[test]
    fn estimates_are_upper_bounds_and_the_heap_stays_consistent() {
        // Model check against exact counts over a skewed random stream.
        let mut heavy = HeavyHitters::new(50);
        let mut exact: HashMap<IpAddr, u64> = HashMap::new();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..100_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Skewed: small ids are much more frequent.
            let id = ((state % 1000) * (state % 1000) / 1000) as u32;
            let bytes = 60 + state % 1400;
            heavy.add(addr(id), Direction::Up, bytes);
            *exact.entry(addr(id)).or_default() += bytes;
        }
        let total: u64 = exact.values().sum();
        for entry in heavy.entries() {
            let real = exact[&entry.addr];
            assert!(entry.estimate() >= real, "{entry:?} real {real}");
            // Space-Saving's guarantee: over-estimate at most total / capacity.
            assert!(entry.error <= total / 50 + 1);
        }
        for (at, &(estimate, index)) in heavy.heap.iter().enumerate() {
            let entry = heavy.entries[index as usize];
            assert_eq!(heavy.position[index as usize] as usize, at);
            assert_eq!(heavy.slots[&entry.addr], index);
            assert_eq!(estimate, entry.estimate());
            if at > 0 {
                assert!(heavy.heap[(at - 1) / 2].0 <= estimate);
            }
        }
        // Every address heavier than total / capacity is present.
        for (a, real) in &exact {
            if *real > total / 50 {
                assert!(heavy.slots.contains_key(a), "{a} with {real} missing");
            }
        }
    }
}
