//! registry: the table of open connections and what each is doing, and making room for a new
//! client when the table is full.
//!
//! A full table never locks a new client out: the accept thread closes the connection that has
//! been idle longest after an answer (waiting for its next request), else the one that has spent
//! longest sending an unfinished head (slowloris), else the one longest stalled in a write, and
//! only then a new connection that has not been answered yet (oldest first): a client that has
//! had nothing is never closed to keep one that has. A connection whose handler is running (or
//! waiting for its turn at an expensive request) is never chosen. Closing means `shutdown(2)` on its socket, which wakes its
//! coroutine with end-of-file; the coroutine then leaves on its own.
//!
//! Descriptor safety: a connection takes itself out of the table (under the lock) before its
//! socket is closed, and the accept thread shuts sockets down only under the same lock while they
//! are in the table, so a descriptor number that the OS has reused is never touched.

use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// What a connection is doing, in the order they are chosen for eviction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Answered before, waiting for the first byte of the next request.
    Idle = 0,
    /// Receiving a request head (or discarding input before closing).
    Reading = 1,
    /// Writing an answer.
    Writing = 2,
    /// New, nothing answered yet, waiting for the first byte of a request.
    Fresh = 3,
    /// Running the handler: never evicted.
    Handling = 4,
}

const PHASE_SHIFT: u32 = 61;
const SINCE_MASK: u64 = (1 << PHASE_SHIFT) - 1;

/// Phase and the millisecond (since the registry's start) it began, in one atomic word so the
/// connection updates it without the lock.
#[derive(Debug)]
struct PhaseCell(AtomicU64);

impl PhaseCell {
    fn store(&self, phase: Phase, since_ms: u64) {
        self.0.store(
            ((phase as u64) << PHASE_SHIFT) | (since_ms & SINCE_MASK),
            Ordering::Relaxed,
        );
    }

    fn load(&self) -> (Phase, u64) {
        let word = self.0.load(Ordering::Relaxed);
        let phase = match word >> PHASE_SHIFT {
            0 => Phase::Idle,
            1 => Phase::Reading,
            2 => Phase::Writing,
            3 => Phase::Fresh,
            _ => Phase::Handling,
        };
        (phase, word & SINCE_MASK)
    }
}

struct Entry {
    fd: RawFd,
    phase: Arc<PhaseCell>,
}

/// The open connections of one server.
pub struct Registry {
    table: Mutex<Table>,
    capacity: usize,
    epoch: Instant,
}

#[derive(Default)]
struct Table {
    entries: HashMap<u64, Entry>,
    next_id: u64,
    evicted: u64,
}

/// A connection's place in the table; leaving the table happens when it is dropped.
pub struct Slot {
    id: u64,
    phase: Arc<PhaseCell>,
    registry: Arc<Registry>,
}

/// Why [`Registry::admit`] refused a connection.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

impl Registry {
    pub fn new(capacity: usize) -> Arc<Registry> {
        Arc::new(Registry {
            table: Mutex::new(Table::default()),
            capacity: capacity.max(1),
            epoch: Instant::now(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // The table stays consistent at every step, so a panic elsewhere leaves it usable.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(SINCE_MASK)
    }

    /// Enter the socket `fd` into the table, closing another connection first when the table is
    /// full. `Err(Full)` only when every connection is running its handler.
    pub fn admit(self: &Arc<Self>, fd: RawFd) -> Result<Slot, Full> {
        let mut table = self.lock();
        if table.entries.len() >= self.capacity && !table.evict_one() {
            return Err(Full);
        }
        let id = table.next_id;
        table.next_id += 1;
        let phase = Arc::new(PhaseCell(AtomicU64::new(0)));
        phase.store(Phase::Fresh, self.now_ms());
        table.entries.insert(
            id,
            Entry {
                fd,
                phase: Arc::clone(&phase),
            },
        );
        Ok(Slot {
            id,
            phase,
            registry: Arc::clone(self),
        })
    }

    /// Close up to `count` connections, first in line for eviction first, to free their
    /// descriptors (the process ran out of them). Returns how many were closed.
    pub fn evict(&self, count: usize) -> usize {
        let mut table = self.lock();
        (0..count).take_while(|_| table.evict_one()).count()
    }

    /// Connections in the table now.
    pub fn open(&self) -> usize {
        self.lock().entries.len()
    }

    /// Connections closed to make room since the start.
    pub fn evicted(&self) -> u64 {
        self.lock().evicted
    }
}

impl Table {
    /// Shut down the connection idle longest (then reading, writing, and unanswered longest)
    /// and take it out of the table. False when every connection is running its handler.
    fn evict_one(&mut self) -> bool {
        let victim = self
            .entries
            .iter()
            .map(|(&id, entry)| (entry.phase.load(), id))
            .filter(|((phase, _), _)| *phase != Phase::Handling)
            .min()
            .map(|(_, id)| id);
        let Some(entry) = victim.and_then(|id| self.entries.remove(&id)) else {
            return false;
        };
        // Fails only if the peer is already gone; the connection notices by itself then.
        let _ = nix::sys::socket::shutdown(entry.fd, nix::sys::socket::Shutdown::Both);
        self.evicted += 1;
        true
    }
}

impl Slot {
    /// Record what the connection does from now on.
    pub fn set(&self, phase: Phase) {
        self.phase.store(phase, self.registry.now_ms());
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.lock().entries.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;

    fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    fn is_shut_down(client: &mut TcpStream) -> bool {
        use std::io::Read;
        client
            .set_read_timeout(Some(std::time::Duration::from_millis(200)))
            .unwrap();
        matches!(client.read(&mut [0u8; 1]), Ok(0))
    }

    #[test]
    fn a_full_table_closes_the_longest_idle_and_spares_busy_handlers() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let registry = Registry::new(3);
        let (mut busy_client, busy) = pair(&listener);
        let (mut old_client, old) = pair(&listener);
        let (mut young_client, young) = pair(&listener);
        let busy_slot = registry.admit(busy.as_raw_fd()).unwrap();
        busy_slot.set(Phase::Handling);
        let old_slot = registry.admit(old.as_raw_fd()).unwrap();
        old_slot.set(Phase::Idle);
        std::thread::sleep(std::time::Duration::from_millis(5));
        let young_slot = registry.admit(young.as_raw_fd()).unwrap();
        young_slot.set(Phase::Idle);

        let (_new_client, new) = pair(&listener);
        let _new_slot = registry.admit(new.as_raw_fd()).expect("room was made");
        assert!(is_shut_down(&mut old_client), "the longest idle was closed");
        assert!(!is_shut_down(&mut young_client), "the younger idle stays");
        assert!(!is_shut_down(&mut busy_client), "a running handler stays");
        assert_eq!(registry.open(), 3);
        assert_eq!(registry.evicted(), 1);
        drop(old_slot);
        assert_eq!(
            registry.open(),
            3,
            "an evicted slot is already out of the table"
        );
        drop(young_slot);
        assert_eq!(registry.open(), 2);
    }

    #[test]
    fn idle_goes_before_reading_before_writing_and_all_handling_is_full() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let registry = Registry::new(2);
        let (mut writing_client, writing) = pair(&listener);
        let (mut reading_client, reading) = pair(&listener);
        let writing_slot = registry.admit(writing.as_raw_fd()).unwrap();
        writing_slot.set(Phase::Writing);
        let reading_slot = registry.admit(reading.as_raw_fd()).unwrap();
        reading_slot.set(Phase::Reading);

        let (_c1, third) = pair(&listener);
        let third_slot = registry.admit(third.as_raw_fd()).unwrap();
        assert!(
            is_shut_down(&mut reading_client),
            "reading goes before writing"
        );
        assert!(!is_shut_down(&mut writing_client));
        third_slot.set(Phase::Handling);

        let (_c2, fourth) = pair(&listener);
        let fourth_slot = registry.admit(fourth.as_raw_fd()).unwrap();
        assert!(is_shut_down(&mut writing_client), "then the stalled writer");
        fourth_slot.set(Phase::Handling);

        let (_c3, fifth) = pair(&listener);
        assert_eq!(registry.admit(fifth.as_raw_fd()).err(), Some(Full));
        drop((writing_slot, reading_slot));
    }

    #[test]
    fn a_client_not_answered_yet_goes_after_every_other_kind() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let registry = Registry::new(3);
        let (mut fresh_client, fresh) = pair(&listener);
        let (mut writing_client, writing) = pair(&listener);
        let (mut idle_client, idle) = pair(&listener);
        // The oldest of the three, nothing answered yet.
        let fresh_slot = registry.admit(fresh.as_raw_fd()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let writing_slot = registry.admit(writing.as_raw_fd()).unwrap();
        writing_slot.set(Phase::Writing);
        let idle_slot = registry.admit(idle.as_raw_fd()).unwrap();
        idle_slot.set(Phase::Idle);

        let (_c1, fourth) = pair(&listener);
        let fourth_slot = registry.admit(fourth.as_raw_fd()).unwrap();
        assert!(
            is_shut_down(&mut idle_client),
            "the answered idle one goes first"
        );
        assert!(!is_shut_down(&mut fresh_client));
        fourth_slot.set(Phase::Handling);

        let (_c2, fifth) = pair(&listener);
        let fifth_slot = registry.admit(fifth.as_raw_fd()).unwrap();
        assert!(is_shut_down(&mut writing_client), "then the stalled writer");
        assert!(!is_shut_down(&mut fresh_client), "the unanswered one stays");
        fifth_slot.set(Phase::Handling);

        let (_c3, sixth) = pair(&listener);
        let _sixth_slot = registry.admit(sixth.as_raw_fd()).unwrap();
        assert!(
            is_shut_down(&mut fresh_client),
            "only when nothing else is left"
        );
        drop((fresh_slot, writing_slot, idle_slot));
    }

    #[test]
    fn out_of_descriptors_a_batch_is_closed_but_never_a_running_handler() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let registry = Registry::new(10);
        let pairs: Vec<(TcpStream, TcpStream)> = (0..4).map(|_| pair(&listener)).collect();
        let slots: Vec<Slot> = pairs
            .iter()
            .map(|(_, server)| registry.admit(server.as_raw_fd()).unwrap())
            .collect();
        slots[3].set(Phase::Handling);
        assert_eq!(registry.evict(2), 2);
        assert_eq!(registry.open(), 2);
        assert_eq!(registry.evict(5), 1, "only the idle one is left to close");
        assert_eq!(registry.open(), 1);
        assert_eq!(registry.evicted(), 3);
        drop(slots);
        assert_eq!(registry.open(), 0);
    }
}
