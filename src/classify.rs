//! Address → public or not (with the reason), and a packet → upload, download or LAN.
//!
//! The built-in non-public ranges are SPEC §2 / rules R5.1–R5.3; user prefixes (`LOCAL_PREFIXES`,
//! `EXCLUDE_IPV6_PREFIX`, `--local`, and later the interfaces' own prefixes) are added to them.
//! For the per-packet lookup all prefixes are folded into sorted, merged integer ranges, one list
//! per family, indexed by the address's first byte: one table load, then usually one range to
//! compare (a bisection when many configured prefixes share a first byte).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::parse::Packet;

/// Why an address is not public.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonPublic {
    /// A built-in range, with its name.
    BuiltIn(&'static str),
    /// A prefix the user configured (or, live, one of the interfaces' own).
    Configured(IpNet),
}

/// The built-in non-public ranges and why each one is not the internet.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("0.0.0.0/8", "this network"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "carrier-grade NAT"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.168.0.0/16", "private"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved and broadcast"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("fe80::/10", "link-local"),
    ("fc00::/7", "unique local"),
    ("ff00::/8", "multicast"),
];

/// Upload or download.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    Up,
    Down,
}

/// Where a packet's bytes go; `A` is the type of its addresses ([`AddressClassifier::verdict_of`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict<A = IpAddr> {
    /// Public traffic, with the remote (internet-side) address and the local one (the device:
    /// the source of an upload, the destination of a download).
    Traffic {
        direction: Direction,
        remote: A,
        local: A,
    },
    /// Both ends are non-public.
    Lan,
}

/// Decides whether addresses are public; cheap to query from the capture hot path.
#[derive(Clone, Debug)]
pub struct AddressClassifier {
    built_in: Vec<(IpNet, &'static str)>,
    configured: Vec<IpNet>,
    v4: RangeSet<u32>,
    v6: RangeSet<u128>,
}

impl Default for AddressClassifier {
    fn default() -> Self {
        AddressClassifier::new(&[])
    }
}

impl AddressClassifier {
    /// The built-in ranges plus `configured` prefixes (host bits are ignored).
    pub fn new(configured: &[IpNet]) -> AddressClassifier {
        let built_in: Vec<(IpNet, &'static str)> = BUILT_IN
            .iter()
            .filter_map(|(net, why)| net.parse().ok().map(|net| (net, *why)))
            .collect();
        debug_assert_eq!(built_in.len(), BUILT_IN.len());
        let configured: Vec<IpNet> = configured.iter().map(IpNet::trunc).collect();
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for net in built_in.iter().map(|(net, _)| net).chain(&configured) {
            match net {
                IpNet::V4(net) => v4.push(v4_range(net)),
                IpNet::V6(net) => v6.push(v6_range(net)),
            }
        }
        AddressClassifier {
            built_in,
            configured,
            v4: RangeSet::new(v4),
            v6: RangeSet::new(v6),
        }
    }

    /// The user-configured prefixes, host bits cleared.
    pub fn configured(&self) -> &[IpNet] {
        &self.configured
    }

    /// Is `addr` on the internet side (not in any non-public range)?
    // Like `verdict`, forced inline: called out of line, its address argument goes through
    // memory and the load of it stalls on store forwarding (benches/pipeline).
    #[inline(always)]
    pub fn is_public(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(v4) => self.is_public_v4(v4),
            IpAddr::V6(v6) => self.is_public_v6(v6),
        }
    }

    #[inline(always)]
    fn is_public_v4(&self, v4: Ipv4Addr) -> bool {
        !self.v4.contains(v4.to_bits())
    }

    #[inline(always)]
    fn is_public_v6(&self, v6: Ipv6Addr) -> bool {
        let bits = v6.to_bits();
        // Only addresses under 00::/8 can be IPv4-mapped; the rest skip that check.
        if bits.first_byte() == 0 {
            return self.is_public_under_00(v6);
        }
        !self.v6.contains(bits)
    }

    /// `is_public` for IPv6 addresses whose first byte is 0: ::ffff:a.b.c.d is classified by its
    /// IPv4 address (R5.2).
    #[inline(never)]
    fn is_public_under_00(&self, v6: Ipv6Addr) -> bool {
        if self.v6.contains(u128::from(v6)) {
            return false;
        }
        match v6.to_ipv4_mapped() {
            Some(v4) => !self.v4.contains(u32::from(v4)),
            None => true,
        }
    }

    /// Why `addr` is not public, or `None` when it is; for diagnostics, not the hot path.
    pub fn explain(&self, addr: IpAddr) -> Option<NonPublic> {
        let candidates = match addr {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => vec![addr, IpAddr::V4(v4)],
                None => vec![addr],
            },
            IpAddr::V4(_) => vec![addr],
        };
        for candidate in candidates {
            if let Some((_, why)) = self
                .built_in
                .iter()
                .find(|(net, _)| net.contains(&candidate))
            {
                return Some(NonPublic::BuiltIn(why));
            }
            if let Some(net) = self.configured.iter().find(|net| net.contains(&candidate)) {
                return Some(NonPublic::Configured(*net));
            }
        }
        None
    }

    /// Upload, download or LAN by rule R5.5.
    #[inline(always)]
    pub fn verdict(&self, packet: &Packet) -> Verdict {
        self.verdict_of(packet.src, packet.dst, packet.outgoing)
    }

    /// [`AddressClassifier::verdict`] of a packet from `src` to `dst`, `outgoing` when this host
    /// sent it. With `A` an [`Ipv4Addr`] or an [`Ipv6Addr`] the family is known where the
    /// verdict is used, so counting tests it nowhere after the parse.
    // Inlining `is_public` alone makes this too large for the compiler to inline, which moves the
    // stall here; both together keep the packet in registers (benches/pipeline).
    #[inline(always)]
    pub fn verdict_of<A: Address>(&self, src: A, dst: A, outgoing: bool) -> Verdict<A> {
        let src_public = src.is_public(self);
        let dst_public = dst.is_public(self);
        let upload = match (src_public, dst_public) {
            (false, false) => return Verdict::Lan,
            (false, true) => true,
            (true, false) => false,
            (true, true) => outgoing,
        };
        if upload {
            Verdict::Traffic {
                direction: Direction::Up,
                remote: dst,
                local: src,
            }
        } else {
            Verdict::Traffic {
                direction: Direction::Down,
                remote: src,
                local: dst,
            }
        }
    }
}

/// An address of one family ([`Ipv4Addr`], [`Ipv6Addr`]) or of either ([`IpAddr`]), as
/// [`AddressClassifier::verdict_of`] takes it: typed by family, an address never becomes an
/// `IpAddr` (a tag and 16 unaligned bytes) only to be taken apart again.
pub trait Address: Copy + Into<IpAddr> {
    fn is_public(self, classifier: &AddressClassifier) -> bool;
}

impl Address for Ipv4Addr {
    #[inline(always)]
    fn is_public(self, classifier: &AddressClassifier) -> bool {
        classifier.is_public_v4(self)
    }
}

impl Address for Ipv6Addr {
    #[inline(always)]
    fn is_public(self, classifier: &AddressClassifier) -> bool {
        classifier.is_public_v6(self)
    }
}

impl Address for IpAddr {
    #[inline(always)]
    fn is_public(self, classifier: &AddressClassifier) -> bool {
        classifier.is_public(self)
    }
}

fn v4_range(net: &Ipv4Net) -> (u32, u32) {
    (u32::from(net.network()), u32::from(net.broadcast()))
}

fn v6_range(net: &Ipv6Net) -> (u128, u128) {
    (u128::from(net.network()), u128::from(net.broadcast()))
}

/// An address family's addresses as an unsigned integer, split into 256 slices by first byte.
trait Bits: Copy + Ord {
    const ZERO: Self;
    const MAX: Self;
    fn first_byte(self) -> usize;
    /// The first and last address whose first byte is `byte`.
    fn slice_of(byte: u8) -> (Self, Self);
    fn successor(self) -> Option<Self>;
}

impl Bits for u32 {
    const ZERO: u32 = 0;
    const MAX: u32 = u32::MAX;

    #[inline]
    fn first_byte(self) -> usize {
        (self >> 24) as usize
    }

    fn slice_of(byte: u8) -> (u32, u32) {
        let first = u32::from(byte) << 24;
        (first, first | (u32::MAX >> 8))
    }

    fn successor(self) -> Option<u32> {
        self.checked_add(1)
    }
}

impl Bits for u128 {
    const ZERO: u128 = 0;
    const MAX: u128 = u128::MAX;

    #[inline]
    fn first_byte(self) -> usize {
        (self >> 120) as usize
    }

    fn slice_of(byte: u8) -> (u128, u128) {
        let first = u128::from(byte) << 120;
        (first, first | (u128::MAX >> 8))
    }

    fn successor(self) -> Option<u128> {
        self.checked_add(1)
    }
}

/// Sorted, disjoint, inclusive ranges, indexed by the first byte of the addresses they hold.
///
/// Every step of a bisection waits for the previous step's load, twice per packet. Nearly every
/// first byte meets at most one range (none for most of the internet's unicast space, one for
/// 192, 172, fe, or the interface's own prefix), so the index holds that range itself: a lookup
/// is one load and two comparisons, without a branch on how many ranges there are. Only first
/// bytes that meet several ranges (many configured prefixes) bisect the rest.
#[derive(Clone, Debug)]
struct RangeSet<T> {
    ranges: Vec<(T, T)>,
    by_first_byte: Box<[FirstByte<T>; 256]>,
}

/// The ranges that meet one first byte.
#[derive(Clone, Copy, Debug)]
struct FirstByte<T> {
    /// The first of them, or an empty range (start > end) when there is none.
    first: (T, T),
    /// `ranges[from..to]`: the others (usually none).
    more: (u32, u32),
}

impl<T: Bits> RangeSet<T> {
    fn new(ranges: Vec<(T, T)>) -> RangeSet<T> {
        let ranges = merge(ranges);
        let none = FirstByte {
            first: (T::MAX, T::ZERO),
            more: (0, 0),
        };
        let mut by_first_byte = Box::new([none; 256]);
        for (byte, entry) in (0..=u8::MAX).zip(by_first_byte.iter_mut()) {
            let (first, last) = T::slice_of(byte);
            // Disjoint and sorted by start means sorted by end too, so both bounds bisect.
            let from = ranges.partition_point(|&(_, end)| end < first);
            let to = ranges.partition_point(|&(start, _)| start <= last);
            if from < to {
                // More ranges than u32 holds cannot be built from prefixes a person configures.
                *entry = FirstByte {
                    first: ranges[from],
                    more: (
                        u32::try_from(from + 1).unwrap_or(u32::MAX),
                        u32::try_from(to).unwrap_or(u32::MAX),
                    ),
                };
            }
        }
        RangeSet {
            ranges,
            by_first_byte,
        }
    }

    #[inline(always)]
    fn contains(&self, value: T) -> bool {
        let entry = &self.by_first_byte[value.first_byte()];
        let (start, end) = entry.first;
        if start <= value && value <= end {
            return true;
        }
        let (from, to) = entry.more;
        from < to && self.more_contain(from as usize, to as usize, value)
    }

    #[inline(never)]
    fn more_contain(&self, from: usize, to: usize, value: T) -> bool {
        let run = self.ranges.get(from..to).unwrap_or_default();
        let after = run.partition_point(|&(start, _)| start <= value);
        after > 0 && value <= run[after - 1].1
    }
}

/// Sort inclusive ranges and merge the ones that overlap or touch.
fn merge<T: Bits>(mut ranges: Vec<(T, T)>) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut merged: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if last.1.successor().is_none_or(|next| start <= next) => {
                last.1 = last.1.max(end);
            }
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// Parse a prefix the way users write them: CIDR, or a bare address meaning one host.
///
/// # Errors
/// A message quoting the input when it is neither.
pub fn parse_prefix(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    match text.parse::<IpAddr>() {
        Ok(addr) => Ok(IpNet::from(addr)),
        Err(_) => Err(format!(
            "'{text}' is not a prefix: expected CIDR such as 240e:33e:2f08:d600::/56 or 192.0.2.0/24, or a single address"
        )),
    }
}
