//! Reverse-DNS names (PTR) of remote addresses shown to a user, looked up off every answer's path.
//!
//! [`Names::known`] never waits: it answers from a bounded cache and queues what it lacks for
//! the `rdns` thread, so a name missing now appears on the next refresh. That thread asks the
//! resolvers of the system's configuration (`/etc/resolv.conf`, `/etc/hosts`) through
//! hickory-resolver, at most [`IN_FLIGHT`] queries at a time, each given [`QUERY_TIMEOUT`].
//! Names are kept for their TTL (clamped to [`MIN_TTL`]..[`MAX_TTL`]), "no such name" for the
//! answer's negative TTL in the same bounds, failures (time-outs, server errors) for
//! [`RETRY_AFTER_FAILURE`]. A name is what a remote's own DNS says, so only host names made of
//! letters, digits, `-`, `_` and dots are kept.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::ResolveHosts;
use hickory_resolver::proto::rr::RData;
use tokio::sync::{Semaphore, mpsc};

/// Addresses whose names (or their absence) are remembered; the oldest goes first beyond it.
pub const CAPACITY: usize = 4096;
/// Queries waiting for the thread; more are dropped and asked again at the next refresh.
pub const QUEUE: usize = 256;
/// Queries under way at once.
pub const IN_FLIGHT: usize = 4;
/// One query's time, all attempts included.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(3);
pub const MIN_TTL: Duration = Duration::from_secs(300);
pub const MAX_TTL: Duration = Duration::from_secs(86_400);
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(120);
/// The longest name kept (a DNS name has at most 253 characters).
const MAX_NAME: usize = 253;

/// Why reverse DNS cannot start.
#[derive(Debug)]
pub struct NamesError(pub String);

impl fmt::Display for NamesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NamesError {}

/// What is known of one address.
#[derive(Clone, Debug)]
struct Known {
    name: Option<String>,
    until: Instant,
}

#[derive(Default)]
struct Cache {
    known: HashMap<IpAddr, Known>,
    /// Insertion order, for eviction beyond [`CAPACITY`].
    order: VecDeque<IpAddr>,
    /// Queued or being asked.
    pending: HashSet<IpAddr>,
}

impl Cache {
    fn remember(&mut self, address: IpAddr, known: Known) {
        self.pending.remove(&address);
        if self.known.insert(address, known).is_none() {
            self.order.push_back(address);
        }
        while self.known.len() > CAPACITY {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.known.remove(&oldest);
                }
                None => break,
            }
        }
    }
}

/// Reverse DNS for the web answers.
pub struct Names {
    cache: Arc<Mutex<Cache>>,
    queue: mpsc::Sender<IpAddr>,
}

impl fmt::Debug for Names {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Names").finish_non_exhaustive()
    }
}

impl Names {
    /// Read the system's resolver configuration and start the `rdns` thread.
    ///
    /// # Errors
    /// The configuration cannot be read, or the thread cannot start.
    pub fn start() -> Result<Names, NamesError> {
        let mut builder = TokioResolver::builder_tokio().map_err(|error| {
            NamesError(format!(
                "reverse DNS: the resolver configuration (/etc/resolv.conf) cannot be used: {error}"
            ))
        })?;
        let options = builder.options_mut();
        options.timeout = QUERY_TIMEOUT / 2;
        options.attempts = 1;
        options.use_hosts_file = ResolveHosts::Always;
        options.cache_size = 0;
        let resolver = builder
            .build()
            .map_err(|error| NamesError(format!("reverse DNS: no resolver: {error}")))?;
        let cache = Arc::new(Mutex::new(Cache::default()));
        let (queue, requests) = mpsc::channel(QUEUE);
        let worker_cache = Arc::clone(&cache);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| NamesError(format!("reverse DNS: no runtime: {error}")))?;
        std::thread::Builder::new()
            .name("rdns".into())
            .stack_size(512 * 1024)
            .spawn(move || runtime.block_on(serve(resolver, requests, worker_cache)))
            .map_err(|error| NamesError(format!("reverse DNS: no thread: {error}")))?;
        Ok(Names { cache, queue })
    }

    /// The names known now of `addresses` (in order), queueing the unknown and stale ones.
    pub fn known(&self, addresses: &[IpAddr]) -> Vec<Option<String>> {
        let now = Instant::now();
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        addresses
            .iter()
            .map(|address| {
                let known = cache.known.get(address).cloned();
                let fresh = known.as_ref().is_some_and(|k| k.until > now);
                if !fresh && !cache.pending.contains(address) {
                    // A full queue drops it; the next refresh asks again.
                    if self.queue.try_send(*address).is_ok() {
                        cache.pending.insert(*address);
                    }
                }
                // A stale name is still the best one to show until the new answer is in.
                known.and_then(|k| k.name)
            })
            .collect()
    }
}

/// The `rdns` thread: ask for each queued address, at most [`IN_FLIGHT`] at once.
async fn serve(
    resolver: TokioResolver,
    mut requests: mpsc::Receiver<IpAddr>,
    cache: Arc<Mutex<Cache>>,
) {
    let resolver = Arc::new(resolver);
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(address) = requests.recv().await {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let resolver = Arc::clone(&resolver);
        let cache = Arc::clone(&cache);
        tokio::spawn(async move {
            let known = ask(&resolver, address).await;
            cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remember(address, known);
            drop(slot);
        });
    }
}

/// One PTR query.
async fn ask(resolver: &TokioResolver, address: IpAddr) -> Known {
    let now = Instant::now();
    let clamp = |ttl: Duration| ttl.clamp(MIN_TTL, MAX_TTL);
    match tokio::time::timeout(QUERY_TIMEOUT, resolver.reverse_lookup(address)).await {
        Ok(Ok(lookup)) => {
            let name = lookup
                .answers()
                .iter()
                .find_map(|record| match &record.data {
                    RData::PTR(ptr) => host_name(&ptr.0.to_utf8()),
                    _ => None,
                });
            let ttl = lookup.valid_until().saturating_duration_since(now);
            Known {
                until: now + clamp(ttl),
                name,
            }
        }
        Ok(Err(error)) if error.is_no_records_found() => Known {
            name: None,
            until: now + clamp(Duration::from_secs(u64::from(negative_ttl(&error)))),
        },
        Ok(Err(_)) | Err(_) => Known {
            name: None,
            until: now + RETRY_AFTER_FAILURE,
        },
    }
}

fn negative_ttl(error: &hickory_resolver::net::NetError) -> u32 {
    use hickory_resolver::net::{DnsError, NetError};
    match error {
        NetError::Dns(DnsError::NoRecordsFound(no_records)) => no_records.negative_ttl.unwrap_or(0),
        _ => 0,
    }
}

/// `text` as a host name to show: without the final dot, only letters, digits, `-`, `_` and
/// dots, at most [`MAX_NAME`] characters; anything else is no name.
pub fn host_name(text: &str) -> Option<String> {
    let name = text.strip_suffix('.').unwrap_or(text);
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !name.starts_with('.')
        && !name.contains("..");
    ok.then(|| name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_host_names_are_kept() {
        assert_eq!(
            host_name("Mail.Example.NET."),
            Some("mail.example.net".into())
        );
        assert_eq!(host_name("a-b_c.example"), Some("a-b_c.example".into()));
        for bad in [
            "",
            ".",
            "<script>.example",
            "a b.example",
            "..example",
            ".example",
            "ex\u{e9}mple.net",
            "a\"b",
        ] {
            assert_eq!(host_name(bad), None, "{bad:?}");
        }
        assert_eq!(host_name(&"a".repeat(254)), None);
    }

    #[test]
    fn the_cache_keeps_at_most_its_capacity_oldest_out_first() {
        let mut cache = Cache::default();
        let until = Instant::now() + MIN_TTL;
        for i in 0..(CAPACITY as u32 + 10) {
            let address = IpAddr::from(i.to_be_bytes());
            cache.pending.insert(address);
            cache.remember(address, Known { name: None, until });
        }
        assert_eq!(cache.known.len(), CAPACITY);
        assert!(cache.pending.is_empty());
        assert!(!cache.known.contains_key(&IpAddr::from(0u32.to_be_bytes())));
        assert!(
            cache
                .known
                .contains_key(&IpAddr::from((CAPACITY as u32 + 9).to_be_bytes()))
        );
    }
}
