//! guard: whether a request is answered at all — its host name (`host`), its password
//! (`auth`) and its client's recent wrong passwords (`throttle`) — before the handler sees it.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use log::{debug, warn};

use super::auth::{CHALLENGE, Credentials, EXEMPT_PATH};
use super::host::{self, AllowedHosts};
use super::throttle::{Attempt, ClientKey, Throttle};
use crate::serve::Request;

/// A request the guard does not let through, and what to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
    pub headers: Vec<(&'static str, String)>,
}

/// The checks of one server.
#[derive(Debug)]
pub struct Guard {
    hosts: AllowedHosts,
    credentials: Option<Credentials>,
    throttle: Throttle,
}

impl Guard {
    pub fn new(hosts: AllowedHosts, credentials: Option<Credentials>) -> Guard {
        Guard {
            hosts,
            credentials,
            throttle: Throttle::new(),
        }
    }

    /// Let `request` (from `client`, with its raw `target`) through, or say how to refuse it.
    pub fn check(
        &self,
        client: Option<IpAddr>,
        target: &[u8],
        request: &Request<'_>,
    ) -> Result<(), Refusal> {
        self.check_host(target, request)?;
        self.check_password(client, request)
    }

    /// Every name the request gives for this server — the `Host` field(s) and the authority of
    /// an absolute-form target — must be one it answers to.
    fn check_host(&self, target: &[u8], request: &Request<'_>) -> Result<(), Refusal> {
        let fields = request
            .headers
            .iter()
            .filter(|header| header.name.eq_ignore_ascii_case("host"))
            .map(|header| header.value);
        for value in host::target_authority(target).into_iter().chain(fields) {
            let Some(name) = host::parse(value) else {
                return Err(Refusal {
                    status: 400,
                    message:
                        "malformed Host: expected a host name or IP address, with an optional port"
                            .to_string(),
                    headers: Vec::new(),
                });
            };
            if !self.hosts.allows(&name) {
                let shown = match &name {
                    host::HostName::Name(name) => name.as_str(),
                    host::HostName::Ip(_) => "",
                };
                debug!("403 for the host name {shown}");
                return Err(Refusal {
                    status: 403,
                    message: format!(
                        "this server does not answer to the name '{shown}' (a page of another site could read it through DNS rebinding): add it to WEB_ALLOWED_HOSTS to allow it"
                    ),
                    headers: Vec::new(),
                });
            }
        }
        Ok(())
    }

    fn check_password(&self, client: Option<IpAddr>, request: &Request<'_>) -> Result<(), Refusal> {
        let Some(credentials) = &self.credentials else {
            return Ok(());
        };
        if request.path == EXEMPT_PATH {
            return Ok(());
        }
        // A client whose address cannot be read shares one record with the others like it.
        let key = ClientKey::of(client.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        let authorization = request.header("authorization");
        match self
            .throttle
            .attempt(key, Instant::now(), || credentials.judge(authorization))
        {
            Attempt::Right => Ok(()),
            Attempt::Blocked(wait) => Err(too_many(wait)),
            Attempt::Wrong(failure) => {
                if let Some(line) = failure.log {
                    warn!("{line}");
                }
                Err(unauthorized())
            }
            Attempt::Nothing => {
                debug!("401 for a request without the WEB_AUTH credentials");
                Err(unauthorized())
            }
        }
    }
}

fn unauthorized() -> Refusal {
    Refusal {
        status: 401,
        message: "this dashboard needs a user name and password (WEB_AUTH is set)".to_string(),
        headers: vec![("WWW-Authenticate", CHALLENGE.to_string())],
    }
}

fn too_many(wait: Duration) -> Refusal {
    let seconds = wait.as_millis().div_ceil(1000).max(1);
    Refusal {
        status: 429,
        message: format!("too many wrong passwords from this address: try again in {seconds} s"),
        headers: vec![("Retry-After", seconds.to_string())],
    }
}
