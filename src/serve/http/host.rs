//! host: which names in a request's `Host` field (and an absolute-form target) are answered.
//!
//! Against DNS rebinding: a page on an attacker's domain whose name is made to resolve to the NAS
//! would otherwise read the API from inside the home network with the visitor's browser. The
//! browser still sends the attacker's name as `Host`, so only names that an outsider cannot own
//! are answered:
//!
//! - IP literals (`192.168.1.10`, `[fd00::2]`), with or without a port;
//! - `localhost` and `*.localhost`, single-label names (`nas`), and names under a local suffix
//!   ([`LOCAL_SUFFIXES`]: `.local`, `.lan`, `.home.arpa`, `.internal`);
//! - the machine's own host name;
//! - the entries of `WEB_ALLOWED_HOSTS`: a name (`nas.example.com`), a suffix with a leading dot
//!   (`.example.com`: that name and every name under it), or `*` (any name).
//!
//! Case, a port and one trailing dot do not matter. A request without `Host` (HTTP/1.0) is
//! answered; a malformed one gets 400, a name not listed 403.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Names under these suffixes are never public DNS names (RFC 6762, RFC 8375, ICANN's
/// `.internal`; `.lan` is the common router default).
pub const LOCAL_SUFFIXES: [&str; 5] = [".local", ".lan", ".home.arpa", ".internal", ".localhost"];

/// The longest DNS name (RFC 1035), without the trailing dot.
const MAX_NAME_BYTES: usize = 253;

/// What a `Host` value (or an absolute-form target's authority) is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostName {
    Ip(IpAddr),
    /// Lower case, without port and trailing dot.
    Name(String),
}

/// The names this server answers to.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    any: bool,
    names: Vec<String>,
    /// With their leading dot.
    suffixes: Vec<String>,
    machine: Option<String>,
}

impl AllowedHosts {
    /// From `WEB_ALLOWED_HOSTS` entries (already checked by [`allowed_entry`]) and the machine's
    /// host name.
    pub fn new(entries: &[String], machine: Option<&str>) -> AllowedHosts {
        let mut allowed = AllowedHosts {
            machine: machine.and_then(|name| match parse(name.as_bytes()) {
                Some(HostName::Name(name)) => Some(name),
                _ => None,
            }),
            ..AllowedHosts::default()
        };
        for entry in entries {
            match allowed_entry(entry) {
                Ok(entry) if entry == "*" => allowed.any = true,
                Ok(entry) if entry.starts_with('.') => allowed.suffixes.push(entry),
                Ok(entry) => allowed.names.push(entry),
                Err(_) => {}
            }
        }
        allowed
    }

    /// Whether a request naming `host` is answered.
    pub fn allows(&self, host: &HostName) -> bool {
        let name = match host {
            HostName::Ip(_) => return true,
            HostName::Name(name) => name.as_str(),
        };
        self.any
            || name == "localhost"
            || !name.contains('.')
            || LOCAL_SUFFIXES.iter().any(|suffix| name.ends_with(suffix))
            || self.machine.as_deref() == Some(name)
            || self.names.iter().any(|allowed| allowed == name)
            || self
                .suffixes
                .iter()
                .any(|suffix| name.ends_with(suffix.as_str()) || name == &suffix[1..])
    }
}

/// A `Host` value: `name`, `name:port`, `1.2.3.4:port`, `[v6]:port`; `None` when malformed.
pub fn parse(value: &[u8]) -> Option<HostName> {
    let value = value.trim_ascii();
    let (host, port) = if let Some(rest) = value.strip_prefix(b"[") {
        let close = rest.iter().position(|&byte| byte == b']')?;
        let literal = std::str::from_utf8(&rest[..close]).ok()?;
        let ip: Ipv6Addr = literal.parse().ok()?;
        let after = &rest[close + 1..];
        let port = match after {
            [] => &[][..],
            [b':', port @ ..] => port,
            _ => return None,
        };
        if !is_port(port) {
            return None;
        }
        return Some(HostName::Ip(IpAddr::V6(ip)));
    } else {
        match value.iter().rposition(|&byte| byte == b':') {
            Some(colon) => (&value[..colon], &value[colon + 1..]),
            None => (value, &[][..]),
        }
    };
    if !is_port(port) {
        return None;
    }
    let host = host.strip_suffix(b".").unwrap_or(host);
    if host.is_empty()
        || host.len() > MAX_NAME_BYTES
        || !host
            .iter()
            .all(|&byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_'))
        || host.split(|&byte| byte == b'.').any(<[u8]>::is_empty)
    {
        return None;
    }
    // Only ASCII is left, so this cannot fail.
    let name = std::str::from_utf8(host).ok()?.to_ascii_lowercase();
    Some(match name.parse::<Ipv4Addr>() {
        Ok(ip) => HostName::Ip(IpAddr::V4(ip)),
        Err(_) => HostName::Name(name),
    })
}

/// `*DIGIT` (RFC 3986), at most 5 of them.
fn is_port(port: &[u8]) -> bool {
    port.len() <= 5 && port.iter().all(u8::is_ascii_digit)
}

/// The authority of an absolute-form target (`http://nas:8080/x` → `nas:8080`), if it is one.
pub fn target_authority(target: &[u8]) -> Option<&[u8]> {
    let scheme_len = [&b"http://"[..], b"https://"]
        .iter()
        .find(|scheme| {
            target.len() >= scheme.len() && target[..scheme.len()].eq_ignore_ascii_case(scheme)
        })?
        .len();
    let rest = &target[scheme_len..];
    let end = rest
        .iter()
        .position(|&byte| matches!(byte, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// One `WEB_ALLOWED_HOSTS` entry, normalised: `*`, `.suffix` or a name; why not otherwise.
///
/// # Errors
/// An entry that is not a host name (a URL, a port, spaces, …).
pub fn allowed_entry(entry: &str) -> Result<String, &'static str> {
    let entry = entry.trim();
    if entry == "*" {
        return Ok(entry.to_string());
    }
    let (dot, name) = match entry.strip_prefix('.') {
        Some(name) => (".", name),
        None => ("", entry),
    };
    if name.contains([':', '/', '[', ']']) {
        return Err(
            "expected host names without scheme or port, such as nas.example.com, .example.com or *",
        );
    }
    match parse(name.as_bytes()) {
        Some(HostName::Name(name)) => Ok(format!("{dot}{name}")),
        Some(HostName::Ip(_)) => Err("IP addresses are always answered; list host names only"),
        None => Err("expected host names such as nas.example.com, .example.com or *"),
    }
}

/// The machine's host name (Linux), if it can be read.
pub fn machine_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> HostName {
        HostName::Name(text.to_string())
    }

    #[test]
    fn host_values_are_read_with_ports_brackets_case_and_a_trailing_dot() {
        let cases: [(&str, Option<HostName>); 14] = [
            ("nas", Some(name("nas"))),
            ("NAS.Local.:8080", Some(name("nas.local"))),
            ("nas:", Some(name("nas"))),
            (
                "192.168.1.10:8080",
                Some(HostName::Ip([192, 168, 1, 10].into())),
            ),
            ("[::1]:8080", Some(HostName::Ip(Ipv6Addr::LOCALHOST.into()))),
            ("[FD00::2]", Some(HostName::Ip("fd00::2".parse().unwrap()))),
            ("::1", None),
            ("[::1", None),
            ("[::1]x", None),
            ("nas:80a", None),
            ("a..b", None),
            ("evil.example/x", None),
            ("user@nas", None),
            ("", None),
        ];
        for (value, expected) in cases {
            assert_eq!(parse(value.as_bytes()), expected, "{value:?}");
        }
    }

    #[test]
    fn outsiders_names_are_refused_local_ones_answered() {
        let allowed = AllowedHosts::new(&[], Some("Storage.example.net"));
        for host in [
            "127.0.0.1",
            "[::1]:8080",
            "localhost:8080",
            "app.localhost",
            "nas",
            "nas.local",
            "nas.lan.",
            "nas.home.arpa",
            "nas.internal",
            "storage.example.net",
        ] {
            let parsed = parse(host.as_bytes()).expect(host);
            assert!(allowed.allows(&parsed), "{host}");
        }
        for host in [
            "evil.example",
            "nas.local.evil.example",
            "localhost.evil.example",
            "example.net",
            "other.example.net",
        ] {
            let parsed = parse(host.as_bytes()).expect(host);
            assert!(!allowed.allows(&parsed), "{host}");
        }
    }

    #[test]
    fn web_allowed_hosts_names_suffixes_and_star() {
        let entries = [
            "NAS.Example.com.".to_string(),
            ".home.example.org".to_string(),
        ];
        let allowed = AllowedHosts::new(&entries, None);
        for host in [
            "nas.example.com",
            "home.example.org",
            "a.b.home.example.org:443",
        ] {
            assert!(allowed.allows(&parse(host.as_bytes()).unwrap()), "{host}");
        }
        for host in ["example.com", "xnas.example.com", "evilhome.example.org"] {
            assert!(!allowed.allows(&parse(host.as_bytes()).unwrap()), "{host}");
        }
        let any = AllowedHosts::new(&["*".to_string()], None);
        assert!(any.allows(&name("anything.example")));
        for bad in [
            "https://nas.example.com",
            "nas.example.com:8080",
            "a b",
            "10.0.0.1",
        ] {
            assert!(allowed_entry(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn absolute_targets_name_their_authority() {
        assert_eq!(
            target_authority(b"HTTP://evil.example:80/api?x"),
            Some(&b"evil.example:80"[..])
        );
        assert_eq!(target_authority(b"http://nas"), Some(&b"nas"[..]));
        assert_eq!(target_authority(b"/api/summary"), None);
    }
}
