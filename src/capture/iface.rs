//! Network interfaces as the capture engine needs to know them: does it exist (and under which
//! index), what kind of frames does it deliver, which one carries the default route, and which
//! global prefixes does it own. Read from /proc, /sys and getifaddrs; no interface is ever changed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::bpf::FilterKind;
use super::ring::interface_index;
use crate::parse::LinkType;

/// What frames an interface delivers to a packet socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkKind {
    pub link: LinkType,
    pub filter: FilterKind,
    /// The ARPHRD_* hardware type it was derived from.
    pub hardware_type: u16,
}

/// Map an ARPHRD_* hardware type to the parser's entry point; `None` for kinds we cannot count.
pub fn link_kind(hardware_type: u16) -> Option<LinkKind> {
    const ETHER: u16 = 1;
    const IEEE802: u16 = 6;
    const PPP: u16 = 512;
    const RAWIP: u16 = 519;
    const TUNNEL: u16 = 768;
    const TUNNEL6: u16 = 769;
    const SIT: u16 = 776;
    const LOOPBACK: u16 = 772;
    const NONE: u16 = 0xfffe;
    let (link, filter) = match hardware_type {
        // The loopback device hands packet sockets a (zeroed) Ethernet header.
        ETHER | IEEE802 | LOOPBACK => (LinkType::Ethernet, FilterKind::Ethernet),
        // ppp0, wg0, tun0 and IP tunnels deliver the IP header first.
        PPP | RAWIP | NONE | TUNNEL | TUNNEL6 | SIT => (LinkType::RawIp, FilterKind::RawIp),
        _ => return None,
    };
    Some(LinkKind {
        link,
        filter,
        hardware_type,
    })
}

/// An interface as found right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceInfo {
    pub index: i32,
    /// ARPHRD_* from /sys/class/net/NAME/type (1, Ethernet, when sysfs cannot tell).
    pub hardware_type: u16,
    /// IFF_UP.
    pub up: bool,
}

/// Look an interface up by name; `None` when it does not exist (now).
pub fn lookup(name: &str) -> Option<InterfaceInfo> {
    let index = interface_index(name)?;
    let sys = |file: &str| std::fs::read_to_string(format!("/sys/class/net/{name}/{file}")).ok();
    let hardware_type = sys("type").and_then(|t| t.trim().parse().ok()).unwrap_or(1);
    let up = sys("flags")
        .and_then(|f| u32::from_str_radix(f.trim().trim_start_matches("0x"), 16).ok())
        .is_none_or(|flags| flags & 1 != 0);
    Some(InterfaceInfo {
        index,
        hardware_type,
        up,
    })
}

/// The names of every interface, for messages about a name that does not exist.
pub fn all_names() -> Vec<String> {
    let mut names: Vec<String> = match nix::net::if_::if_nameindex() {
        Ok(list) => list
            .iter()
            .map(|i| i.name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// The interface of the default route (IPv4 first, then IPv6), from /proc/net.
pub fn default_route_interface() -> Option<String> {
    let ipv4 = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let ipv6 = std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default();
    default_route_in(&ipv4, &ipv6)
}

/// Parse /proc/net/route and /proc/net/ipv6_route for the default route's interface.
pub fn default_route_in(ipv4_table: &str, ipv6_table: &str) -> Option<String> {
    // /proc/net/route: Iface Destination Gateway Flags RefCnt Use Metric Mask ...; hex fields.
    let mut best: Option<(u32, String)> = None;
    for line in ipv4_table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 8 || fields[1] != "00000000" || fields[7] != "00000000" {
            continue;
        }
        let flags = u32::from_str_radix(fields[3], 16).unwrap_or(0);
        if flags & 1 == 0 {
            continue; // RTF_UP
        }
        let metric: u32 = fields[6].parse().unwrap_or(u32::MAX);
        if best.as_ref().is_none_or(|(m, _)| metric < *m) {
            best = Some((metric, fields[0].to_string()));
        }
    }
    if let Some((_, name)) = best {
        return Some(name);
    }
    // /proc/net/ipv6_route: dest dest_len src src_len next_hop metric refcnt use flags iface.
    for line in ipv6_table.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() >= 10
            && fields[0].chars().all(|c| c == '0')
            && fields[1] == "00"
            && fields[9] != "lo"
        {
            return Some(fields[9].to_string());
        }
    }
    None
}

/// The global prefixes of the named interfaces' own addresses: the IPv6 prefix of each global
/// address (the /64 an ISP delegates to the home: neighbours in it are on the LAN), and each
/// public IPv4 address itself. An IPv4 subnet is not taken whole: behind a bridged modem it is the
/// ISP's shared subnet, and traffic to those neighbours crosses the broadband line.
///
/// A captured interface that is a port of a bridge or bond (eth0 under br0 or bond0, as on Unraid
/// or Proxmox) has no addresses of its own: the host's sit on the master, so the masters' count too.
pub fn global_prefixes(names: &[String]) -> Vec<IpNet> {
    let Ok(addresses) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let names = with_masters(names, |name| {
        std::fs::read_link(format!("/sys/class/net/{name}/master"))
            .ok()
            .and_then(|target| Some(target.file_name()?.to_str()?.to_string()))
    });
    let mut prefixes: Vec<IpNet> = Vec::new();
    for entry in addresses {
        if !names.contains(&entry.interface_name) {
            continue;
        }
        let Some(address) = entry.address else {
            continue;
        };
        let netmask = entry.netmask;
        let prefix = if let Some(a) = address.as_sockaddr_in() {
            Some(IpNet::V4(Ipv4Net::from(a.ip())))
        } else if let (Some(a), Some(m)) = (
            address.as_sockaddr_in6(),
            netmask.as_ref().and_then(|m| m.as_sockaddr_in6()),
        ) {
            let len = u128::from(m.ip()).leading_ones() as u8;
            Ipv6Net::new(a.ip(), len).ok().map(|n| IpNet::V6(n.trunc()))
        } else {
            None
        };
        if let Some(prefix) = prefix.filter(|p| is_global(p.addr()) && !prefixes.contains(p)) {
            prefixes.push(prefix);
        }
    }
    prefixes.sort();
    prefixes
}

/// `names` and, transitively, the bridges and bonds they are ports of (`master_of` reads the
/// `master` link in sysfs). Bounded, since sysfs is outside our control.
fn with_masters(names: &[String], master_of: impl Fn(&str) -> Option<String>) -> Vec<String> {
    const MOST: usize = 64;
    let mut all = names.to_vec();
    let mut next = 0;
    while next < all.len() && all.len() < MOST {
        if let Some(master) = master_of(&all[next]).filter(|m| !all.contains(m)) {
            all.push(master);
        }
        next += 1;
    }
    all
}

/// A unicast address that the built-in rules would call public (only those need adding).
fn is_global(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || in_v4(v4, Ipv4Addr::new(100, 64, 0, 0), 10))
        }
        IpAddr::V6(v6) => {
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unicast_link_local()
                || v6.is_unique_local()
                || in_v6(v6, Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10))
        }
    }
}

fn in_v4(addr: Ipv4Addr, net: Ipv4Addr, len: u8) -> bool {
    Ipv4Net::new(net, len).is_ok_and(|n| n.contains(&addr))
}

fn in_v6(addr: Ipv6Addr, net: Ipv6Addr, len: u8) -> bool {
    Ipv6Net::new(net, len).is_ok_and(|n| n.contains(&addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardware_types_choose_the_parser() {
        assert_eq!(link_kind(1).map(|k| k.link), Some(LinkType::Ethernet));
        assert_eq!(link_kind(772).map(|k| k.link), Some(LinkType::Ethernet));
        assert_eq!(link_kind(512).map(|k| k.link), Some(LinkType::RawIp), "ppp");
        assert_eq!(
            link_kind(0xfffe).map(|k| k.link),
            Some(LinkType::RawIp),
            "tun, wireguard"
        );
        assert_eq!(link_kind(801), None, "802.11 radiotap cannot be counted");
    }

    #[test]
    fn finds_the_default_route_in_proc_tables() {
        let ipv4 = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth1\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                    eth9\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n\
                    eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n";
        assert_eq!(
            default_route_in(ipv4, ""),
            Some("eth0".to_string()),
            "lowest metric"
        );
        let ipv6 = "20010db8000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n\
                    00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003    ppp0\n";
        assert_eq!(default_route_in("Iface\n", ipv6), Some("ppp0".to_string()));
        assert_eq!(default_route_in("", ""), None);
    }

    #[test]
    fn bridge_and_bond_masters_are_followed_once_each() {
        let masters = |name: &str| match name {
            "eth0" => Some("bond0".to_string()),
            "eth1" => Some("bond0".to_string()),
            "bond0" => Some("br0".to_string()),
            "loop-a" => Some("loop-b".to_string()),
            "loop-b" => Some("loop-a".to_string()),
            _ => None,
        };
        let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert_eq!(
            with_masters(&names(&["eth0", "eth1"]), masters),
            names(&["eth0", "eth1", "bond0", "br0"])
        );
        assert_eq!(with_masters(&names(&["ppp0"]), masters), names(&["ppp0"]));
        assert_eq!(
            with_masters(&names(&["loop-a"]), masters),
            names(&["loop-a", "loop-b"])
        );
    }

    #[test]
    fn only_global_addresses_become_local_prefixes() {
        assert!(is_global("203.0.113.5".parse().expect("ip")));
        assert!(is_global("240e:33e:2f08:d601::1".parse().expect("ip")));
        assert!(!is_global("192.168.1.2".parse().expect("ip")));
        assert!(!is_global("100.64.1.2".parse().expect("ip")));
        assert!(!is_global("fe80::1".parse().expect("ip")));
        assert!(!is_global("fd00::1".parse().expect("ip")));
    }
}
