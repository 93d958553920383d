//! Why the web server could not start, in words a NAS owner can act on.

use std::fmt;
use std::io;
use std::net::IpAddr;

/// Why [`super::start`] failed.
#[derive(Debug)]
pub enum HttpError {
    /// Another socket already listens on this address and port.
    PortInUse { bind: IpAddr, port: u16 },
    /// `WEB_BIND` is not an address of any interface of this host.
    NotAnAddressHere { bind: IpAddr, port: u16 },
    /// A port below 1024 without root or `CAP_NET_BIND_SERVICE`.
    PrivilegedPort { bind: IpAddr, port: u16 },
    /// Any other failure to listen, with the OS's reason.
    Listen {
        bind: IpAddr,
        port: u16,
        why: String,
    },
    /// A thread of the server could not be started.
    Threads { why: String },
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::PortInUse { bind, port } => write!(
                f,
                "WEB_PORT {port} is already in use on {bind} (another program listens there): set WEB_PORT to a free port"
            ),
            HttpError::NotAnAddressHere { bind, port } => write!(
                f,
                "WEB_BIND {bind} is not an address of this host, so port {port} cannot be opened there: set WEB_BIND to one of its addresses, or 0.0.0.0 to listen on all"
            ),
            HttpError::PrivilegedPort { bind, port } => write!(
                f,
                "WEB_PORT {port} on {bind} needs root or CAP_NET_BIND_SERVICE (ports below 1024 are privileged): set WEB_PORT to 1024 or above"
            ),
            HttpError::Listen { bind, port, why } => write!(
                f,
                "cannot listen on {bind} port {port} (WEB_BIND, WEB_PORT): {why}"
            ),
            HttpError::Threads { why } => {
                write!(f, "cannot start the web server's threads: {why}")
            }
        }
    }
}

impl std::error::Error for HttpError {}

impl HttpError {
    /// Name the failure of listening on `bind`:`port` from the OS's error number.
    pub(crate) fn listen(bind: IpAddr, port: u16, error: nix::Error) -> HttpError {
        match error {
            nix::Error::EADDRINUSE => HttpError::PortInUse { bind, port },
            nix::Error::EADDRNOTAVAIL => HttpError::NotAnAddressHere { bind, port },
            nix::Error::EACCES | nix::Error::EPERM => HttpError::PrivilegedPort { bind, port },
            other => HttpError::Listen {
                bind,
                port,
                why: io::Error::from(other).to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_port_names_the_setting_and_the_remedy() {
        let error = HttpError::listen(IpAddr::from([0, 0, 0, 0]), 8080, nix::Error::EADDRINUSE);
        assert_eq!(
            error.to_string(),
            "WEB_PORT 8080 is already in use on 0.0.0.0 (another program listens there): set WEB_PORT to a free port"
        );
    }

    #[test]
    fn each_os_reason_gets_its_own_advice() {
        let bind = IpAddr::from([192, 0, 2, 7]);
        let foreign = HttpError::listen(bind, 8080, nix::Error::EADDRNOTAVAIL).to_string();
        assert!(
            foreign.starts_with("WEB_BIND 192.0.2.7 is not an address of this host"),
            "{foreign}"
        );
        let low = HttpError::listen(bind, 80, nix::Error::EACCES).to_string();
        assert!(low.contains("CAP_NET_BIND_SERVICE"), "{low}");
        let other = HttpError::listen(bind, 8080, nix::Error::ENOBUFS).to_string();
        assert!(
            other.starts_with("cannot listen on 192.0.2.7 port 8080"),
            "{other}"
        );
        assert!(other.contains("buffer"), "the OS's reason is kept: {other}");
    }
}
