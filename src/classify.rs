//! Address → public or not (with the reason), and a packet → upload, download or LAN.
//!
//! The built-in non-public ranges are SPEC §2 / rules R5.1–R5.3; user prefixes (`LOCAL_PREFIXES`,
//! `EXCLUDE_IPV6_PREFIX`, `--local`, and later the interfaces' own prefixes) are added to them.
//! For the per-packet lookup all prefixes are folded into sorted, merged integer ranges, one list
//! per family, searched by bisection: a handful of comparisons whether 10 or 1,000 prefixes are
//! configured.

use std::net::IpAddr;

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

/// Where a packet's bytes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Public traffic, with the remote (internet-side) address.
    Traffic {
        direction: Direction,
        remote: IpAddr,
    },
    /// Both ends are non-public.
    Lan,
}

/// Decides whether addresses are public; cheap to query from the capture hot path.
#[derive(Clone, Debug)]
pub struct AddressClassifier {
    built_in: Vec<(IpNet, &'static str)>,
    configured: Vec<IpNet>,
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
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
            v4: merge(v4, |x| x.checked_add(1)),
            v6: merge(v6, |x| x.checked_add(1)),
        }
    }

    /// The user-configured prefixes, host bits cleared.
    pub fn configured(&self) -> &[IpNet] {
        &self.configured
    }

    /// Is `addr` on the internet side (not in any non-public range)?
    #[inline]
    pub fn is_public(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(v4) => !contains(&self.v4, u32::from(v4)),
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                if contains(&self.v6, bits) {
                    return false;
                }
                // ::ffff:a.b.c.d is classified by its IPv4 address (R5.2).
                match v6.to_ipv4_mapped() {
                    Some(v4) => !contains(&self.v4, u32::from(v4)),
                    None => true,
                }
            }
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
    #[inline]
    pub fn verdict(&self, packet: &Packet) -> Verdict {
        let src_public = self.is_public(packet.src);
        let dst_public = self.is_public(packet.dst);
        let upload = match (src_public, dst_public) {
            (false, false) => return Verdict::Lan,
            (false, true) => true,
            (true, false) => false,
            (true, true) => packet.outgoing,
        };
        if upload {
            Verdict::Traffic {
                direction: Direction::Up,
                remote: packet.dst,
            }
        } else {
            Verdict::Traffic {
                direction: Direction::Down,
                remote: packet.src,
            }
        }
    }
}

fn v4_range(net: &Ipv4Net) -> (u32, u32) {
    (u32::from(net.network()), u32::from(net.broadcast()))
}

fn v6_range(net: &Ipv6Net) -> (u128, u128) {
    (u128::from(net.network()), u128::from(net.broadcast()))
}

/// Sort inclusive ranges and merge the ones that overlap or touch.
fn merge<T: Copy + Ord>(mut ranges: Vec<(T, T)>, successor: fn(T) -> Option<T>) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut merged: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if successor(last.1).is_none_or(|next| start <= next) => {
                last.1 = last.1.max(end);
            }
            _ => merged.push((start, end)),
        }
    }
    merged
}

#[inline]
fn contains<T: Copy + Ord>(ranges: &[(T, T)], value: T) -> bool {
    let after = ranges.partition_point(|&(start, _)| start <= value);
    after > 0 && value <= ranges[after - 1].1
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
