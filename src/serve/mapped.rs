//! mapped: the bytes of a large answer in an anonymous memory mapping of their own.
//!
//! Why not a `Vec`: glibc serves an allocation of megabytes with a mapping of its own and unmaps
//! it when freed, but then raises its threshold for such mappings to that size, so the next
//! answers and the series they are built from come out of the building thread's heap, which it
//! keeps. A flood of long queries left 30–55 MiB resident for good that way. A mapping made here
//! is never seen by the allocator: dropping the answer hands its pages straight back to the
//! kernel, and only the pages written are ever resident.

use std::fmt;
use std::io;

use memmap2::MmapMut;

/// Answers estimated above this size are built in a mapping; smaller ones in a `Vec`, where a
/// mapping's two system calls would cost more than they save.
pub const MAPPED_FROM_BYTES: usize = 256 * 1024;

/// Bytes written into an anonymous mapping that grows (by copying into a larger one) when the
/// estimate was short.
pub struct MappedBytes {
    map: MmapMut,
    len: usize,
}

impl MappedBytes {
    /// Room for `capacity` bytes: address space only until written.
    ///
    /// # Errors
    /// When the kernel refuses the mapping (out of address space or memory).
    pub fn with_capacity(capacity: usize) -> io::Result<MappedBytes> {
        Ok(MappedBytes {
            map: MmapMut::map_anon(capacity.max(1))?,
            len: 0,
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.map[..self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn reserve(&mut self, more: usize) -> io::Result<()> {
        let needed = self
            .len
            .checked_add(more)
            .ok_or_else(|| io::Error::other("an answer larger than the address space"))?;
        if needed <= self.map.len() {
            return Ok(());
        }
        let mut larger = MmapMut::map_anon(needed.max(self.map.len().saturating_mul(2)))?;
        larger[..self.len].copy_from_slice(&self.map[..self.len]);
        self.map = larger;
        Ok(())
    }
}

impl io::Write for MappedBytes {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.reserve(bytes.len())?;
        self.map[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for MappedBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MappedBytes({} bytes)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn bytes_written_past_the_estimate_are_all_kept_in_order() {
        let mut mapped = MappedBytes::with_capacity(3).expect("a small mapping");
        let mut expected = Vec::new();
        for round in 0..10_000u32 {
            let text = round.to_string();
            mapped.write_all(text.as_bytes()).expect("room grows");
            expected.extend_from_slice(text.as_bytes());
        }
        assert_eq!(mapped.as_bytes(), expected.as_slice());
        assert_eq!(mapped.len(), expected.len());
    }

    #[test]
    fn an_empty_answer_is_empty() {
        let mapped = MappedBytes::with_capacity(0).expect("a mapping of one byte");
        assert!(mapped.is_empty());
        assert_eq!(mapped.as_bytes(), b"");
    }
}
