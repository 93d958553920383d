//! The AF_PACKET TPACKET_V3 receive ring: the only module of the crate with `unsafe` code.
//!
//! Setup order matters: the socket is opened with protocol 0, so it receives nothing at all until
//! `bind`; the version, BPF filter and ring are set and the ring is mapped before `bind` names the
//! interface and ETH_P_ALL. No frame of another interface can slip in (the `afpacket` crate opens
//! with ETH_P_ALL first, which is why it is not used; its fd handling and 16-byte names without a
//! NUL are two more reasons).
//!
//! Block hand-off (Documentation/networking/packet_mmap.rst): a block belongs to user space when
//! its status has `TP_STATUS_USER` (an Acquire load, so the kernel's writes to the block are
//! visible), and goes back with a Release store of `TP_STATUS_KERNEL` once every frame was read.
//! A [`BlockGuard`] lends the block's bytes for as long as it lives and returns the block on drop,
//! so no slice can outlive the hand-back. The block's contents are then walked by safe code
//! ([`super::block`]) that treats the kernel's offsets as untrusted.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use memmap2::{MmapOptions, MmapRaw};

use super::block::{Block, desc};
use crate::live::KernelStats;

/// Size and number of ring blocks, and how soon a partly filled block is handed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub block_size: u32,
    pub block_count: u32,
    pub retire_timeout: Duration,
}

/// What opening a ring can run into, in words a NAS owner can act on.
#[derive(Debug)]
pub enum RingError {
    /// No CAP_NET_RAW.
    Permission,
    /// The kernel refused the ring even at the smallest size tried.
    NoMemory { block_size: u32, block_count: u32 },
    /// Any other system call failure, with the call's name.
    Os {
        call: &'static str,
        error: io::Error,
    },
}

impl std::fmt::Display for RingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RingError::Permission => f.write_str(
                "capturing needs the CAP_NET_RAW capability: run as root, add `--cap-add NET_RAW --cap-add NET_ADMIN` to docker, or `sudo setcap cap_net_raw,cap_net_admin+eip /path/to/nettraffic-sentinel`",
            ),
            RingError::NoMemory {
                block_size,
                block_count,
            } => write!(
                f,
                "the kernel refused even a {block_count} x {block_size} byte capture ring (out of memory)"
            ),
            RingError::Os { call, error } => write!(f, "{call} failed: {error}"),
        }
    }
}

impl std::error::Error for RingError {}

fn os_error(call: &'static str) -> RingError {
    let error = io::Error::last_os_error();
    if matches!(error.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES)) {
        RingError::Permission
    } else {
        RingError::Os { call, error }
    }
}

/// A mapped TPACKET_V3 receive ring bound to one interface.
#[derive(Debug)]
pub struct Ring {
    map: MmapRaw,
    socket: OwnedFd,
    geometry: Geometry,
    next_block: usize,
    stats: KernelStats,
}

/// Options for [`Ring::open`].
#[derive(Clone, Debug)]
pub struct RingOptions<'a> {
    pub ifindex: i32,
    pub geometry: Geometry,
    pub filter: &'a [libc::sock_filter],
    /// Join this `PACKET_FANOUT` group (hash mode), to spread one interface over several rings.
    pub fanout_group: Option<u16>,
}

impl Ring {
    /// Open, configure, map and bind a ring. On `ENOMEM` the block count is halved until the
    /// kernel agrees (down to 2 blocks); [`Ring::geometry`] tells what was granted.
    ///
    /// # Errors
    /// [`RingError::Permission`] without CAP_NET_RAW, else the failing call.
    pub fn open(options: &RingOptions<'_>) -> Result<Ring, RingError> {
        // SAFETY: socket(2) with constant arguments; the result is checked before use and owned
        // by `OwnedFd` from here on, which closes it exactly once.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(os_error("socket(AF_PACKET)"));
        }
        // SAFETY: `fd` is a fresh, valid descriptor that nothing else owns.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };

        set_option(
            &socket,
            libc::SOL_PACKET,
            libc::PACKET_VERSION,
            &(libc::tpacket_versions::TPACKET_V3 as libc::c_int),
        )
        .map_err(|e| RingError::Os {
            call: "setsockopt(PACKET_VERSION, TPACKET_V3)",
            error: e,
        })?;
        let program = libc::sock_fprog {
            len: options.filter.len() as u16,
            filter: options.filter.as_ptr().cast_mut(),
        };
        set_option(&socket, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &program).map_err(|e| {
            RingError::Os {
                call: "setsockopt(SO_ATTACH_FILTER)",
                error: e,
            }
        })?;

        let mut geometry = options.geometry;
        loop {
            let request = libc::tpacket_req3 {
                tp_block_size: geometry.block_size,
                tp_block_nr: geometry.block_count,
                // Frames are not fixed-size in V3; frame_size/frame_nr only have to be consistent.
                tp_frame_size: geometry.block_size,
                tp_frame_nr: geometry.block_count,
                tp_retire_blk_tov: geometry
                    .retire_timeout
                    .as_millis()
                    .clamp(1, u128::from(u32::MAX)) as u32,
                tp_sizeof_priv: 0,
                tp_feature_req_word: 0,
            };
            match set_option(&socket, libc::SOL_PACKET, libc::PACKET_RX_RING, &request) {
                Ok(()) => break,
                Err(error)
                    if error.raw_os_error() == Some(libc::ENOMEM) && geometry.block_count > 2 =>
                {
                    geometry.block_count /= 2;
                }
                Err(error) if error.raw_os_error() == Some(libc::ENOMEM) => {
                    return Err(RingError::NoMemory {
                        block_size: geometry.block_size,
                        block_count: geometry.block_count,
                    });
                }
                Err(error) => {
                    return Err(RingError::Os {
                        call: "setsockopt(PACKET_RX_RING)",
                        error,
                    });
                }
            }
        }
        let len = geometry.block_size as usize * geometry.block_count as usize;
        let map = MmapOptions::new()
            .len(len)
            .map_raw(socket.as_raw_fd())
            .map_err(|error| RingError::Os {
                call: "mmap(capture ring)",
                error,
            })?;

        // SAFETY: sockaddr_ll is plain data for which all-zero bytes are a valid value.
        let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        address.sll_ifindex = options.ifindex;
        // SAFETY: `address` is a valid sockaddr_ll and the length passed is exactly its size.
        let bound = unsafe {
            libc::bind(
                socket.as_raw_fd(),
                (&raw const address).cast::<libc::sockaddr>(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if bound != 0 {
            return Err(os_error("bind(interface)"));
        }
        if let Some(group) = options.fanout_group {
            // Hash mode without PACKET_FANOUT_FLAG_DEFRAG: that flag makes the kernel reassemble
            // IPv4 fragments before fanout, so a datagram's fragments would count as one packet
            // (and fragments of an incomplete datagram not at all), against the rule that each
            // fragment counts on its own. Which ring a fragment lands in does not matter.
            let mode = libc::PACKET_FANOUT_HASH;
            let argument = (u32::from(group) | (mode << 16)) as libc::c_int;
            set_option(&socket, libc::SOL_PACKET, libc::PACKET_FANOUT, &argument).map_err(|e| {
                RingError::Os {
                    call: "setsockopt(PACKET_FANOUT)",
                    error: e,
                }
            })?;
        }
        Ok(Ring {
            map,
            socket,
            geometry,
            next_block: 0,
            stats: KernelStats::default(),
        })
    }

    /// The geometry the kernel granted.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// Wait until the next block is ready or `timeout` passes. `Ok(false)` on timeout.
    ///
    /// # Errors
    /// A pending socket error, e.g. `ENETDOWN` when the interface went away.
    pub fn wait(&self, timeout: Duration) -> io::Result<bool> {
        if self.block_ready() {
            return Ok(true);
        }
        let mut poll = libc::pollfd {
            fd: self.socket.as_raw_fd(),
            events: libc::POLLIN | libc::POLLERR,
            revents: 0,
        };
        let millis = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: `poll` points to one valid pollfd for the duration of the call.
        let ready = unsafe { libc::poll(&raw mut poll, 1, millis) };
        if ready < 0 {
            let error = io::Error::last_os_error();
            return if error.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(error)
            };
        }
        if poll.revents & libc::POLLERR != 0 {
            return Err(self.take_socket_error());
        }
        Ok(self.block_ready())
    }

    /// The pending error of the socket (SO_ERROR), clearing it.
    fn take_socket_error(&self) -> io::Error {
        let mut value: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `value` and `len` are valid for writes of the sizes given.
        let result = unsafe {
            libc::getsockopt(
                self.socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&raw mut value).cast(),
                &raw mut len,
            )
        };
        if result != 0 {
            io::Error::last_os_error()
        } else {
            io::Error::from_raw_os_error(value)
        }
    }

    fn status_word(&self, block: usize) -> &AtomicU32 {
        let offset = block * self.geometry.block_size as usize + desc::BLOCK_STATUS;
        // SAFETY: `offset` lies inside the mapping (block < block_count, and BLOCK_STATUS is within
        // the descriptor at the start of every block); blocks start at multiples of the page size
        // so the u32 is 4-byte aligned. The word is shared with the kernel, which is why it is only
        // ever accessed atomically; the mapping lives as long as `self`.
        unsafe { &*self.map.as_ptr().add(offset).cast::<AtomicU32>() }
    }

    fn block_ready(&self) -> bool {
        self.status_word(self.next_block).load(Ordering::Acquire) & libc::TP_STATUS_USER != 0
    }

    /// The next block, if the kernel has handed it over; it goes back when the guard drops.
    pub fn next_block(&mut self) -> Option<BlockGuard<'_>> {
        if !self.block_ready() {
            return None;
        }
        let index = self.next_block;
        self.next_block = (self.next_block + 1) % self.geometry.block_count as usize;
        Some(BlockGuard { ring: self, index })
    }

    /// Kernel statistics accumulated since the ring was opened (each read resets the kernel's).
    ///
    /// # Errors
    /// When getsockopt fails (the totals are then unchanged).
    pub fn stats(&mut self) -> io::Result<KernelStats> {
        let mut raw = libc::tpacket_stats_v3 {
            tp_packets: 0,
            tp_drops: 0,
            tp_freeze_q_cnt: 0,
        };
        let mut len = size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
        // SAFETY: `raw` and `len` are valid for writes of the sizes given.
        let result = unsafe {
            libc::getsockopt(
                self.socket.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&raw mut raw).cast(),
                &raw mut len,
            )
        };
        if result != 0 {
            return Err(io::Error::last_os_error());
        }
        self.stats.packets += u64::from(raw.tp_packets);
        self.stats.drops += u64::from(raw.tp_drops);
        self.stats.freezes += u64::from(raw.tp_freeze_q_cnt);
        Ok(self.stats)
    }
}

/// A block lent by the kernel; returned to it when dropped.
#[derive(Debug)]
pub struct BlockGuard<'ring> {
    ring: &'ring mut Ring,
    index: usize,
}

impl BlockGuard<'_> {
    /// The block, to walk its frames.
    pub fn block(&self) -> Option<Block<'_>> {
        let size = self.ring.geometry.block_size as usize;
        let start = self.index * size;
        // SAFETY: [start, start + size) lies inside the mapping. The block's status has
        // TP_STATUS_USER (checked with Acquire before the guard was made), so the kernel does not
        // write to it until `drop` hands it back; the slice borrows `self`, so it cannot outlive
        // that hand-back.
        let bytes = unsafe { std::slice::from_raw_parts(self.ring.map.as_ptr().add(start), size) };
        Block::new(bytes)
    }
}

impl Drop for BlockGuard<'_> {
    fn drop(&mut self) {
        self.ring
            .status_word(self.index)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
    }
}

/// setsockopt with a typed value.
fn set_option<T>(
    socket: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` points to a live T and the length passed is exactly its size.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Check that this process may open packet sockets (CAP_NET_RAW), before any thread starts.
///
/// # Errors
/// [`RingError::Permission`] without the capability, else the failing call.
pub fn check_permission() -> Result<(), RingError> {
    // SAFETY: socket(2) with constant arguments; a valid result is owned (and closed) at once.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(os_error("socket(AF_PACKET)"));
    }
    // SAFETY: `fd` is a fresh, valid descriptor that nothing else owns.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
    Ok(())
}

/// The index of a network interface, or `None` when there is no such interface.
pub fn interface_index(name: &str) -> Option<i32> {
    let name = CString::new(name).ok()?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index as i32)
}
