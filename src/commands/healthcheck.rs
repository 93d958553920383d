//! `healthcheck`: asks the running monitor's `/api/health`, so a container's HEALTHCHECK needs no
//! curl or shell in the image.
//!
//! Healthy when the monitor answers 200 (capturing); a [`HealthError`] when it answers anything
//! else (503 when capture has stopped) or cannot be reached within the timeout (the command line
//! exits 0 and 1 for these).

use std::fmt;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::config::Config;

/// Docker's default health-check timeout is 30 s; answer well before it so a hung monitor is
/// reported as unhealthy by us, with a reason, rather than killed by the engine.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Enough for the status line and headers of `/api/health`; the body is not needed.
const MAX_ANSWER: usize = 64 * 1024;

/// Why the monitor is not healthy.
#[derive(Debug)]
pub enum HealthError {
    /// Nothing answers at the address (not started, crashed, or another `WEB_PORT`).
    Unreachable {
        address: SocketAddr,
        reason: std::io::Error,
    },
    /// It answered, but not with 200.
    Unhealthy { status: u16, body: String },
    /// It answered something that is not HTTP.
    Garbled { address: SocketAddr },
}

impl fmt::Display for HealthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthError::Unreachable { address, reason } => write!(
                f,
                "the monitor does not answer on {address} ({reason}); is it running with this WEB_PORT and WEB_BIND?"
            ),
            HealthError::Unhealthy { status, body } => {
                write!(f, "the monitor answers {status}: {}", body.trim())
            }
            HealthError::Garbled { address } => {
                write!(f, "{address} answers, but not as the monitor's web server")
            }
        }
    }
}

impl std::error::Error for HealthError {}

/// Where a client on this host reaches a server bound to `bind:port`: a wildcard bind is reached
/// through loopback of the same family.
pub fn probe_address(bind: IpAddr, port: u16) -> SocketAddr {
    let ip = match bind {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    };
    SocketAddr::new(ip, port)
}

/// Ask `GET /api/health` at `address`; Ok with the body when the answer is 200.
pub fn check(address: SocketAddr, timeout: Duration) -> Result<String, HealthError> {
    let unreachable = |reason| HealthError::Unreachable { address, reason };
    let mut stream = TcpStream::connect_timeout(&address, timeout).map_err(unreachable)?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(unreachable)?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(unreachable)?;
    let request = format!(
        "GET /api/health HTTP/1.1\r\nHost: {address}\r\nUser-Agent: nettraffic-sentinel-healthcheck\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(unreachable)?;
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER as u64)
        .read_to_end(&mut answer)
        .map_err(unreachable)?;
    let (status, body) = parse_answer(&answer).ok_or(HealthError::Garbled { address })?;
    if status == 200 {
        Ok(body)
    } else {
        Err(HealthError::Unhealthy { status, body })
    }
}

/// The status code and body of an HTTP/1.x answer.
fn parse_answer(answer: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(answer);
    let status_line = text.lines().next()?;
    let mut parts = status_line.split(' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status = parts.next()?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// The `healthcheck` command: print the monitor's answer when it is healthy.
///
/// # Errors
/// Why the monitor is not healthy.
pub fn command(config: &Config) -> Result<(), HealthError> {
    let address = probe_address(config.web_bind, config.web_port);
    let body = check(address, TIMEOUT)?;
    println!("{}", body.trim());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_binds_are_probed_on_loopback() {
        assert_eq!(
            probe_address(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8080),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(
            probe_address(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 9000),
            "[::1]:9000".parse().unwrap()
        );
        assert_eq!(
            probe_address("192.0.2.7".parse().unwrap(), 80),
            "192.0.2.7:80".parse().unwrap()
        );
    }

    #[test]
    fn answers_are_read_by_status_line() {
        assert_eq!(
            parse_answer(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\n{}"),
            Some((503, "{}".to_string()))
        );
        assert_eq!(
            parse_answer(b"HTTP/1.0 200 OK\r\n\r\n"),
            Some((200, String::new()))
        );
        assert_eq!(parse_answer(b"SSH-2.0-OpenSSH_9.2\r\n"), None);
        assert_eq!(parse_answer(b""), None);
        assert_eq!(parse_answer(b"HTTP/1.1 abc OK\r\n\r\n"), None);
    }
}
