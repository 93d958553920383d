//! A TPACKET_V3 block's bytes → the frames in it. Safe code: the kernel's offsets are treated as
//! untrusted input, every read is bounds-checked, and the walker can be fuzzed.
//!
//! Layouts (linux/if_packet.h; host byte order; offsets checked against libc in the tests):
//! ```text
//! tpacket_block_desc            tpacket3_hdr (one per frame)        then sockaddr_ll at 48
//!  0 version        u32          0 tp_next_offset u32                48 sll_family   u16
//!  4 offset_to_priv u32          4 tp_sec         u32                50 sll_protocol u16
//!  8 block_status   u32          8 tp_nsec        u32                52 sll_ifindex  i32
//! 12 num_pkts       u32         12 tp_snaplen     u32                56 sll_hatype   u16
//! 16 offset_to_first_pkt u32    16 tp_len         u32                58 sll_pkttype  u8
//! 20 blk_len        u32         20 tp_status      u32
//! 24 seq_num        u64         24 tp_mac u16, 26 tp_net u16
//!                               28 tp_rxhash u32, 32 tp_vlan_tci u32, 36 tp_vlan_tpid u16
//! ```

/// Offsets in the block descriptor.
pub mod desc {
    pub const BLOCK_STATUS: usize = 8;
    pub const NUM_PKTS: usize = 12;
    pub const OFFSET_TO_FIRST_PKT: usize = 16;
    pub const BLK_LEN: usize = 20;
    pub const SEQ_NUM: usize = 24;
    /// Bytes the descriptor occupies (through `ts_last_pkt`).
    pub const LEN: usize = 48;
}

/// Offsets in a frame header (`tpacket3_hdr`) and the `sockaddr_ll` after it.
pub mod frame {
    pub const NEXT_OFFSET: usize = 0;
    pub const SEC: usize = 4;
    pub const NSEC: usize = 8;
    pub const SNAPLEN: usize = 12;
    pub const LEN: usize = 16;
    pub const STATUS: usize = 20;
    pub const MAC: usize = 24;
    pub const VLAN_TCI: usize = 32;
    /// `TPACKET_ALIGN(sizeof(struct tpacket3_hdr))`: where the `sockaddr_ll` starts.
    pub const SOCKADDR_LL: usize = 48;
    pub const SLL_IFINDEX: usize = SOCKADDR_LL + 4;
    pub const SLL_PKTTYPE: usize = SOCKADDR_LL + 10;
    /// Header bytes through `sll_pkttype`.
    pub const HEADER_LEN: usize = SLL_PKTTYPE + 1;
}

/// `TP_STATUS_VLAN_VALID`: the kernel moved the outer VLAN tag into `tp_vlan_tci`.
pub const TP_STATUS_VLAN_VALID: u32 = 1 << 4;

/// One frame as the ring delivers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingFrame<'a> {
    /// The captured (snapped) bytes, starting at the link header.
    pub data: &'a [u8],
    /// `tp_len`: the frame's length on the wire.
    pub wire_len: u32,
    pub unix_second: i64,
    /// `sll_pkttype` (PACKET_HOST, PACKET_OUTGOING, …).
    pub pkttype: u8,
    pub ifindex: i32,
    /// The kernel stripped a VLAN tag (its TCI is not needed for counting).
    pub vlan_stripped: bool,
}

/// A block handed to user space.
#[derive(Clone, Copy, Debug)]
pub struct Block<'a> {
    bytes: &'a [u8],
}

impl<'a> Block<'a> {
    /// View `bytes` as a block; `None` when it is too short for a descriptor.
    pub fn new(bytes: &'a [u8]) -> Option<Block<'a>> {
        (bytes.len() >= desc::LEN).then_some(Block { bytes })
    }

    /// The kernel's sequence number of this block (increases by one per block).
    pub fn seq_num(&self) -> u64 {
        read_u64(self.bytes, desc::SEQ_NUM).unwrap_or(0)
    }

    /// How many frames the kernel says the block holds.
    pub fn num_packets(&self) -> u32 {
        read_u32(self.bytes, desc::NUM_PKTS).unwrap_or(0)
    }

    /// The block status word (`TP_STATUS_*`), as it was when the block was handed over.
    pub fn status(&self) -> u32 {
        read_u32(self.bytes, desc::BLOCK_STATUS).unwrap_or(0)
    }

    /// The frames, in order. Stops early, never panics, when an offset points outside the block.
    pub fn frames(&self) -> Frames<'a> {
        let end = read_u32(self.bytes, desc::BLK_LEN)
            .map_or(0, |len| (len as usize).min(self.bytes.len()));
        Frames {
            bytes: &self.bytes[..end],
            next: read_u32(self.bytes, desc::OFFSET_TO_FIRST_PKT)
                .map_or(usize::MAX, |o| o as usize),
            remaining: self.num_packets(),
        }
    }
}

/// Iterator over the frames of a block.
#[derive(Clone, Debug)]
pub struct Frames<'a> {
    bytes: &'a [u8],
    /// Where the next frame's header starts; past the end once there is none.
    next: usize,
    remaining: u32,
}

impl<'a> Iterator for Frames<'a> {
    type Item = RingFrame<'a>;

    #[inline]
    fn next(&mut self) -> Option<RingFrame<'a>> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let rest = self.bytes.get(self.next..)?;
        let header: &[u8; frame::HEADER_LEN] = rest.first_chunk()?;
        let next_offset = u32_at::<{ frame::NEXT_OFFSET }>(header) as usize;
        // The last frame's offset is 0: make sure the walk ends there whatever `remaining` says.
        self.next = match next_offset {
            0 => usize::MAX,
            offset => self.next.saturating_add(offset),
        };
        let mac = usize::from(u16::from_ne_bytes(bytes_at::<{ frame::MAC }, 2>(header)));
        let snaplen = u32_at::<{ frame::SNAPLEN }>(header) as usize;
        let data = rest.get(mac..mac.checked_add(snaplen)?)?;
        Some(RingFrame {
            data,
            wire_len: u32_at::<{ frame::LEN }>(header),
            unix_second: i64::from(u32_at::<{ frame::SEC }>(header)),
            pkttype: header[frame::SLL_PKTTYPE],
            ifindex: u32_at::<{ frame::SLL_IFINDEX }>(header) as i32,
            vlan_stripped: u32_at::<{ frame::STATUS }>(header) & TP_STATUS_VLAN_VALID != 0,
        })
    }
}

/// `N` bytes of a frame header at offset `AT`; a field outside the header does not compile.
#[inline(always)]
fn bytes_at<const AT: usize, const N: usize>(header: &[u8; frame::HEADER_LEN]) -> [u8; N] {
    const { assert!(AT + N <= frame::HEADER_LEN) };
    let mut bytes = [0; N];
    bytes.copy_from_slice(&header[AT..AT + N]);
    bytes
}

#[inline(always)]
fn u32_at<const AT: usize>(header: &[u8; frame::HEADER_LEN]) -> u32 {
    u32::from_ne_bytes(bytes_at::<AT, 4>(header))
}

#[inline]
fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

#[inline]
fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    #[test]
    fn offsets_match_the_kernel_abi_as_libc_declares_it() {
        assert_eq!(offset_of!(libc::tpacket_block_desc, hdr), 8);
        assert_eq!(
            8 + offset_of!(libc::tpacket_hdr_v1, block_status),
            desc::BLOCK_STATUS
        );
        assert_eq!(
            8 + offset_of!(libc::tpacket_hdr_v1, num_pkts),
            desc::NUM_PKTS
        );
        assert_eq!(
            8 + offset_of!(libc::tpacket_hdr_v1, offset_to_first_pkt),
            desc::OFFSET_TO_FIRST_PKT
        );
        assert_eq!(8 + offset_of!(libc::tpacket_hdr_v1, blk_len), desc::BLK_LEN);
        assert_eq!(8 + offset_of!(libc::tpacket_hdr_v1, seq_num), desc::SEQ_NUM);
        assert_eq!(std::mem::size_of::<libc::tpacket_block_desc>(), desc::LEN);

        assert_eq!(
            offset_of!(libc::tpacket3_hdr, tp_next_offset),
            frame::NEXT_OFFSET
        );
        assert_eq!(offset_of!(libc::tpacket3_hdr, tp_sec), frame::SEC);
        assert_eq!(offset_of!(libc::tpacket3_hdr, tp_nsec), frame::NSEC);
        assert_eq!(offset_of!(libc::tpacket3_hdr, tp_snaplen), frame::SNAPLEN);
        assert_eq!(offset_of!(libc::tpacket3_hdr, tp_len), frame::LEN);
        assert_eq!(offset_of!(libc::tpacket3_hdr, tp_status), frame::STATUS);
        assert_eq!(offset_of!(libc::tpacket3_hdr, tp_mac), frame::MAC);
        assert_eq!(
            offset_of!(libc::tpacket3_hdr, hv1)
                + offset_of!(libc::tpacket_hdr_variant1, tp_vlan_tci),
            frame::VLAN_TCI
        );
        let aligned = std::mem::size_of::<libc::tpacket3_hdr>().next_multiple_of(16);
        assert_eq!(aligned, frame::SOCKADDR_LL);
        assert_eq!(
            frame::SOCKADDR_LL + offset_of!(libc::sockaddr_ll, sll_ifindex),
            frame::SLL_IFINDEX
        );
        assert_eq!(
            frame::SOCKADDR_LL + offset_of!(libc::sockaddr_ll, sll_pkttype),
            frame::SLL_PKTTYPE
        );
        assert_eq!(TP_STATUS_VLAN_VALID, libc::TP_STATUS_VLAN_VALID);
    }

    /// Build a block the way the kernel lays it out: descriptor, then frames at 16-byte alignment.
    fn block(frames: &[(&[u8], u32, u8, u32)]) -> Vec<u8> {
        let mut bytes = vec![0u8; desc::LEN];
        let first = desc::LEN;
        let mut at = first;
        let mut starts = Vec::new();
        for (data, _, _, _) in frames {
            starts.push(at);
            let mac = 82; // 48-byte header + sockaddr_ll, aligned as the kernel does
            let len = (mac + data.len()).next_multiple_of(16);
            bytes.resize(at + len, 0);
            at += len;
        }
        for (i, (data, wire_len, pkttype, status)) in frames.iter().enumerate() {
            let start = starts[i];
            let next = if i + 1 < frames.len() {
                starts[i + 1] - start
            } else {
                0
            };
            let put = |bytes: &mut Vec<u8>, off: usize, v: u32| {
                bytes[start + off..start + off + 4].copy_from_slice(&v.to_ne_bytes())
            };
            put(&mut bytes, frame::NEXT_OFFSET, next as u32);
            put(&mut bytes, frame::SEC, 1_700_000_000 + i as u32);
            put(&mut bytes, frame::SNAPLEN, data.len() as u32);
            put(&mut bytes, frame::LEN, *wire_len);
            put(&mut bytes, frame::STATUS, *status);
            put(&mut bytes, frame::SLL_IFINDEX, 7);
            bytes[start + frame::MAC..start + frame::MAC + 2].copy_from_slice(&82u16.to_ne_bytes());
            bytes[start + frame::SLL_PKTTYPE] = *pkttype;
            bytes[start + 82..start + 82 + data.len()].copy_from_slice(data);
        }
        let len = bytes.len() as u32;
        bytes[desc::NUM_PKTS..desc::NUM_PKTS + 4]
            .copy_from_slice(&(frames.len() as u32).to_ne_bytes());
        bytes[desc::OFFSET_TO_FIRST_PKT..desc::OFFSET_TO_FIRST_PKT + 4]
            .copy_from_slice(&(first as u32).to_ne_bytes());
        bytes[desc::BLK_LEN..desc::BLK_LEN + 4].copy_from_slice(&len.to_ne_bytes());
        bytes
    }

    #[test]
    fn walks_every_frame_with_its_metadata() {
        let bytes = block(&[
            (b"first frame", 1514, 0, 0),
            (b"second", 60, 4, TP_STATUS_VLAN_VALID),
        ]);
        let frames: Vec<RingFrame<'_>> = Block::new(&bytes).expect("block").frames().collect();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].data, b"first frame");
        assert_eq!(frames[0].wire_len, 1514);
        assert_eq!(frames[0].unix_second, 1_700_000_000);
        assert_eq!(frames[0].ifindex, 7);
        assert!(!frames[0].vlan_stripped);
        assert_eq!(frames[1].data, b"second");
        assert_eq!(frames[1].pkttype, 4);
        assert!(frames[1].vlan_stripped);
    }

    #[test]
    fn lying_offsets_end_the_walk_without_panicking() {
        let good = block(&[(b"abc", 3, 0, 0), (b"def", 3, 0, 0)]);
        // More packets claimed than present: the walk stops at the last real one.
        let mut more = good.clone();
        more[desc::NUM_PKTS..desc::NUM_PKTS + 4].copy_from_slice(&99u32.to_ne_bytes());
        assert_eq!(Block::new(&more).expect("block").frames().count(), 2);
        // A first-packet offset past the end.
        let mut past = good.clone();
        past[desc::OFFSET_TO_FIRST_PKT..desc::OFFSET_TO_FIRST_PKT + 4]
            .copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(Block::new(&past).expect("block").frames().count(), 0);
        // A snap length past the block.
        let mut snap = good.clone();
        let at = desc::LEN + frame::SNAPLEN;
        snap[at..at + 4].copy_from_slice(&100_000u32.to_ne_bytes());
        assert_eq!(Block::new(&snap).expect("block").frames().count(), 0);
        // A block length shorter than the buffer hides what lies beyond it.
        let mut short = good;
        short[desc::BLK_LEN..desc::BLK_LEN + 4].copy_from_slice(&(desc::LEN as u32).to_ne_bytes());
        assert_eq!(Block::new(&short).expect("block").frames().count(), 0);
        assert!(Block::new(&[0u8; 10]).is_none());
    }
}
