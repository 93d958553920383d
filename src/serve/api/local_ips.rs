//! `/api/debug/local_ips`: what capture takes as this host — the monitored interfaces' own
//! addresses and the prefixes counted as local — in the original's shape: `iface`, `ipv4`,
//! `ipv6` (the addresses, each list in interface order), `total` (how many addresses),
//! `ipv6_lan_filter` `{mode, note, prefixes}` and `note`.
//!
//! `ipv6_lan_filter.prefixes` are all prefixes in use (IPv4 ones too: the rules are the same for
//! both); additions split them into `configured` (`LOCAL_PREFIXES`, `EXCLUDE_IPV6_PREFIX`) and
//! `automatic` (the interfaces' own global prefixes, re-read while capture runs, when
//! `AUTO_LOCAL_PREFIXES` is on); `mode` is `auto` or `configured` (automatic ones off).
//! `interfaces` lists each interface with its addresses and whether it is captured now.
//! `?iface=NAME` narrows the addresses to that interface.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use super::json;
use super::params::Params;
use super::{Api, ApiError};
use crate::serve::Response;
use crate::store::Scope;

/// The addresses of one interface, IPv4 and IPv6 apart, as the system reports them now.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct Addresses {
    pub ipv4: Vec<String>,
    pub ipv6: Vec<String>,
}

/// The addresses of each interface in `names`; an interface that does not exist has none.
pub fn addresses_of(names: &[String]) -> Vec<Addresses> {
    let mut found: Vec<Addresses> = names.iter().map(|_| Addresses::default()).collect();
    let Ok(entries) = nix::ifaddrs::getifaddrs() else {
        return found;
    };
    for entry in entries {
        let Some(index) = names.iter().position(|n| *n == entry.interface_name) else {
            continue;
        };
        let Some(address) = entry.address else {
            continue;
        };
        let (list, text) = if let Some(v4) = address.as_sockaddr_in() {
            (&mut found[index].ipv4, IpAddr::V4(v4.ip()).to_string())
        } else if let Some(v6) = address.as_sockaddr_in6() {
            (&mut found[index].ipv6, IpAddr::V6(v6.ip()).to_string())
        } else {
            continue;
        };
        if !list.contains(&text) {
            list.push(text);
        }
    }
    found
}

/// The prefixes in use split into the configured ones and the others (found automatically);
/// host bits cleared, as capture uses them.
pub fn split_prefixes(in_use: &[IpNet], configured: &[IpNet]) -> (Vec<IpNet>, Vec<IpNet>) {
    let mut configured_now: Vec<IpNet> = Vec::with_capacity(configured.len());
    for prefix in configured.iter().map(IpNet::trunc) {
        if !configured_now.contains(&prefix) {
            configured_now.push(prefix);
        }
    }
    let automatic = in_use
        .iter()
        .map(IpNet::trunc)
        .filter(|prefix| !configured_now.contains(prefix))
        .collect();
    (configured_now, automatic)
}

/// `/api/debug/local_ips`.
///
/// # Errors
/// 400 for an unknown interface.
pub fn answer(api: &Api, params: &Params<'_>) -> Result<Response, ApiError> {
    let scope = params.scope(&api.known_interfaces())?;
    let names: Vec<String> = match scope {
        Scope::All => api.interfaces().to_vec(),
        Scope::Interface(name) => vec![name],
    };
    let settings = api.prefix_settings();
    let (configured, automatic) =
        split_prefixes(&api.live().local_prefixes(), &settings.configured);
    let addresses = addresses_of(&names);

    #[derive(Serialize)]
    struct Interface<'a> {
        captured: bool,
        #[serde(flatten)]
        addresses: &'a Addresses,
        name: &'a str,
    }
    #[derive(Serialize)]
    struct Filter {
        automatic: Vec<String>,
        configured: Vec<String>,
        mode: &'static str,
        note: &'static str,
        prefixes: Vec<String>,
    }
    #[derive(Serialize)]
    struct Answer<'a> {
        iface: String,
        interfaces: Vec<Interface<'a>>,
        ipv4: Vec<&'a str>,
        ipv6: Vec<&'a str>,
        ipv6_lan_filter: Filter,
        note: &'static str,
        total: usize,
    }
    let texts = |list: &[IpNet]| list.iter().map(ToString::to_string).collect::<Vec<_>>();
    let ipv4: Vec<&str> = addresses
        .iter()
        .flat_map(|a| a.ipv4.iter().map(String::as_str))
        .collect();
    let ipv6: Vec<&str> = addresses
        .iter()
        .flat_map(|a| a.ipv6.iter().map(String::as_str))
        .collect();
    let answer = Answer {
        iface: names.join(","),
        interfaces: names
            .iter()
            .zip(&addresses)
            .map(|(name, addresses)| Interface {
                captured: api.interfaces().contains(name),
                addresses,
                name,
            })
            .collect(),
        total: ipv4.len() + ipv6.len(),
        ipv4,
        ipv6,
        ipv6_lan_filter: Filter {
            mode: if settings.automatic {
                "auto"
            } else {
                "configured"
            },
            note: if settings.automatic {
                "Automatic mode: the global prefixes of the monitored interfaces' own addresses \
                 (each IPv6 prefix, each public IPv4 address) count as local, re-read every 10 s, \
                 plus the configured ones (LOCAL_PREFIXES, EXCLUDE_IPV6_PREFIX). Traffic between \
                 two local addresses is LAN traffic and not counted."
            } else {
                "AUTO_LOCAL_PREFIXES is off: only the configured prefixes (LOCAL_PREFIXES, \
                 EXCLUDE_IPV6_PREFIX) count as local besides the built-in private ranges. Traffic \
                 between two local addresses is LAN traffic and not counted."
            },
            prefixes: texts(&configured)
                .into_iter()
                .chain(texts(&automatic))
                .collect(),
            automatic: texts(&automatic),
            configured: texts(&configured),
        },
        note: "Upload and download are told apart by these local prefixes and the built-in \
               private ranges. If the NAS's public IPv6 address is missing here, check that \
               MONITOR_IFACE names the right interface.",
    };
    Ok(json::respond(200, &answer, 1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse().expect("a prefix")
    }

    #[test]
    fn prefixes_in_use_split_into_configured_and_automatic() {
        let configured = [net("198.51.100.7/24"), net("2001:db8:ffff::/48")];
        let in_use = [
            net("198.51.100.0/24"),
            net("2001:db8:ffff::/48"),
            net("2001:db8:1:2::/64"),
            net("203.0.113.5/32"),
        ];
        let (c, a) = split_prefixes(&in_use, &configured);
        assert_eq!(c, [net("198.51.100.0/24"), net("2001:db8:ffff::/48")]);
        assert_eq!(a, [net("2001:db8:1:2::/64"), net("203.0.113.5/32")]);
    }

    #[test]
    fn loopback_has_its_addresses_and_a_missing_interface_none() {
        let found = addresses_of(&["lo".to_string(), "nts-no-such-if".to_string()]);
        assert!(
            found[0].ipv4.contains(&"127.0.0.1".to_string()),
            "{found:?}"
        );
        assert_eq!(found[1], Addresses::default());
    }
}
