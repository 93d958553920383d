//! The kernel's neighbour tables: which MAC address an address of the local network had when it
//! was last seen. No privileges needed. IPv4 from `/proc/net/arp`; IPv6 has no such file and
//! comes over rtnetlink ([`netlink`], what `ip -6 neigh` shows).

pub mod netlink;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use super::Mac;

/// Where the tables are read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tables {
    /// The IPv4 table's file.
    pub arp: PathBuf,
    /// Whether the kernel is asked for its IPv6 table.
    pub ipv6: bool,
}

impl Tables {
    /// The kernel's tables: `/proc/net/arp` and the IPv6 table over rtnetlink.
    pub fn kernel() -> Tables {
        Tables {
            arp: PathBuf::from("/proc/net/arp"),
            ipv6: true,
        }
    }

    /// Only an IPv4 table in `arp`'s format at `path` (tests; a missing file is an empty table).
    pub fn arp_file(path: impl Into<PathBuf>) -> Tables {
        Tables {
            arp: path.into(),
            ipv6: false,
        }
    }

    /// Both tables now, as one map (an address is in one of them only).
    pub fn read(&self) -> HashMap<IpAddr, Mac> {
        let mut table = read(&self.arp);
        if self.ipv6 {
            table.extend(netlink::ipv6());
        }
        table
    }
}

/// `ATF_COM`: the entry is complete (the MAC is known).
const COMPLETE: u32 = 0x2;

/// The table at `path` (normally `/proc/net/arp`); empty when it cannot be read.
pub fn read(path: &Path) -> HashMap<IpAddr, Mac> {
    std::fs::read_to_string(path)
        .map(|text| parse(&text))
        .unwrap_or_default()
}

/// Entries of the table's text: `IP address  HW type  Flags  HW address  Mask  Device`, after a
/// header line. Incomplete entries and lines that do not parse are left out.
pub fn parse(text: &str) -> HashMap<IpAddr, Mac> {
    let mut table = HashMap::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [address, _, flags, mac, ..] = fields.as_slice() else {
            continue;
        };
        let Ok(address) = address.parse::<Ipv4Addr>() else {
            continue;
        };
        let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).unwrap_or(0);
        let Some(mac) = Mac::parse(mac) else {
            continue;
        };
        if flags & COMPLETE != 0 && mac != Mac([0; 6]) {
            table.insert(IpAddr::V4(address), mac);
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_entries_are_read_and_the_rest_left_out() {
        let text = "IP address       HW type     Flags       HW address            Mask     Device\n\
                    192.168.1.20     0x1         0x2         aa:bb:cc:dd:ee:01     *        br0\n\
                    192.168.1.30     0x1         0x0         00:00:00:00:00:00     *        br0\n\
                    192.168.1.40     0x1         0x6         AA:BB:CC:DD:EE:02     *        eth0\n\
                    not-an-address   0x1         0x2         aa:bb:cc:dd:ee:03     *        eth0\n\
                    192.168.1.50     0x1         0x2         zz:bb:cc:dd:ee:04     *        eth0\n";
        let table = parse(text);
        assert_eq!(table.len(), 2);
        assert_eq!(
            table[&"192.168.1.20".parse::<IpAddr>().unwrap()],
            Mac([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01])
        );
        assert_eq!(
            table[&"192.168.1.40".parse::<IpAddr>().unwrap()].to_string(),
            "aa:bb:cc:dd:ee:02"
        );
        assert!(read(Path::new("/nonexistent/arp")).is_empty());
    }
}
