//! What a device is called: `DEVICE_NAMES` by address, then by MAC address, then its
//! reverse-DNS name; and its MAC address when the neighbour table has it.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use super::neighbours::Tables;
use crate::remote::Names;

/// The longest name `DEVICE_NAMES` may give.
pub const MAX_NAME: usize = 64;

/// A MAC address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// `aa:bb:cc:dd:ee:ff` (or with `-`), either case.
    pub fn parse(text: &str) -> Option<Mac> {
        let mut bytes = [0u8; 6];
        let mut parts = text.split([':', '-']);
        for byte in &mut bytes {
            let part = parts.next()?;
            if part.len() != 2 {
                return None;
            }
            *byte = u8::from_str_radix(part, 16).ok()?;
        }
        parts.next().is_none().then_some(Mac(bytes))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// `DEVICE_NAMES`: the owner's names, by address or by MAC address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceNames {
    by_address: HashMap<IpAddr, String>,
    by_mac: HashMap<Mac, String>,
}

impl DeviceNames {
    /// `192.168.1.20=Living-room TV,aa:bb:cc:dd:ee:ff=NAS`: entries separated by commas, each
    /// an address or a MAC address, `=`, and a name (trimmed, 1 to [`MAX_NAME`] characters, no
    /// control characters).
    ///
    /// # Errors
    /// The first entry that cannot be used, and why.
    pub fn parse(text: &str) -> Result<DeviceNames, String> {
        let mut names = DeviceNames::default();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((key, name)) = entry.split_once('=') else {
                return Err(format!(
                    "'{entry}' has no '=': expected ADDRESS=NAME or MAC=NAME"
                ));
            };
            let (key, name) = (key.trim(), name.trim());
            if name.is_empty() || name.chars().count() > MAX_NAME {
                return Err(format!(
                    "the name of '{key}' must have 1 to {MAX_NAME} characters"
                ));
            }
            if name.chars().any(char::is_control) {
                return Err(format!("the name of '{key}' contains a control character"));
            }
            if let Ok(address) = key.parse::<IpAddr>() {
                names.by_address.insert(address, name.to_string());
            } else if let Some(mac) = Mac::parse(key) {
                names.by_mac.insert(mac, name.to_string());
            } else {
                return Err(format!(
                    "'{key}' is neither an IP address nor a MAC address (aa:bb:cc:dd:ee:ff)"
                ));
            }
        }
        Ok(names)
    }

    pub fn is_empty(&self) -> bool {
        self.by_address.is_empty() && self.by_mac.is_empty()
    }
}

/// What a device was shown as.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Label {
    pub name: Option<String>,
    pub mac: Option<Mac>,
}

/// Labels devices from `DEVICE_NAMES`, the neighbour table and reverse DNS.
pub struct Labeler {
    names: DeviceNames,
    neighbours: Tables,
    rdns: Option<Arc<Names>>,
}

impl fmt::Debug for Labeler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Labeler")
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

impl Labeler {
    /// A labeler reading the neighbour tables `neighbours` (normally [`Tables::kernel`]) on
    /// each call, so a MAC address is the one the device has when it is shown or stored.
    pub fn new(names: DeviceNames, neighbours: Tables, rdns: Option<Arc<Names>>) -> Labeler {
        Labeler {
            names,
            neighbours,
            rdns,
        }
    }

    /// The label of each of `addresses`, in order. Never waits: reverse-DNS names come from
    /// the cache (those missing are asked for, for a later call).
    pub fn labels(&self, addresses: &[IpAddr]) -> Vec<Label> {
        let table = self.neighbours.read();
        let ptr = match &self.rdns {
            Some(names) => names.known(addresses),
            None => vec![None; addresses.len()],
        };
        addresses
            .iter()
            .zip(ptr)
            .map(|(address, ptr)| {
                let mac = table.get(address).copied();
                let name = self
                    .names
                    .by_address
                    .get(address)
                    .or_else(|| mac.and_then(|mac| self.names.by_mac.get(&mac)))
                    .cloned()
                    .or(ptr);
                Label { name, mac }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_parse_addresses_and_macs_and_refuse_the_rest() {
        let names =
            DeviceNames::parse("192.168.1.20=Living-room TV, AA-BB-CC-DD-EE-FF = NAS ,fd00::5=Pi")
                .expect("valid");
        assert_eq!(
            names.by_address[&"192.168.1.20".parse::<IpAddr>().unwrap()],
            "Living-room TV"
        );
        assert_eq!(
            names.by_mac[&Mac([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff])],
            "NAS"
        );
        assert_eq!(names.by_address.len(), 2);
        assert!(DeviceNames::parse("").expect("empty").is_empty());
        for (bad, why) in [
            ("192.168.1.20", "no '='"),
            ("192.168.1.20=", "1 to 64"),
            ("printer=Printer", "neither an IP address nor a MAC"),
            ("aa:bb:cc:dd:ee=short", "neither"),
            ("10.0.0.1=a\u{7}b", "control character"),
        ] {
            let error = DeviceNames::parse(bad).expect_err(bad);
            assert!(error.contains(why), "{bad}: {error}");
        }
        let long = format!("10.0.0.1={}", "x".repeat(65));
        assert!(DeviceNames::parse(&long).is_err());
    }

    #[test]
    fn a_device_is_named_by_address_then_by_mac() {
        let dir = std::env::temp_dir().join(format!("nts-arp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let arp = dir.join("arp");
        std::fs::write(
            &arp,
            "IP address  HW type  Flags  HW address  Mask  Device\n\
             192.168.1.20 0x1 0x2 aa:bb:cc:dd:ee:ff * br0\n\
             192.168.1.30 0x1 0x2 aa:bb:cc:dd:ee:ff * br0\n\
             192.168.1.40 0x1 0x2 11:22:33:44:55:66 * br0\n",
        )
        .expect("write");
        let names =
            DeviceNames::parse("192.168.1.30=By address,aa:bb:cc:dd:ee:ff=By MAC").expect("valid");
        let labeler = Labeler::new(names, Tables::arp_file(arp), None);
        let addresses: Vec<IpAddr> = [
            "192.168.1.20",
            "192.168.1.30",
            "192.168.1.40",
            "192.168.1.50",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        let labels = labeler.labels(&addresses);
        let shown: Vec<(Option<&str>, Option<String>)> = labels
            .iter()
            .map(|l| (l.name.as_deref(), l.mac.map(|m| m.to_string())))
            .collect();
        assert_eq!(
            shown,
            [
                (Some("By MAC"), Some("aa:bb:cc:dd:ee:ff".to_string())),
                (Some("By address"), Some("aa:bb:cc:dd:ee:ff".to_string())),
                (None, Some("11:22:33:44:55:66".to_string())),
                (None, None),
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
