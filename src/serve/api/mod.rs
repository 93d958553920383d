//! api: answers every request the HTTP layer hands over — the JSON endpoints of the original
//! (same paths, parameters, field names and nesting as `shared/seed/api-responses/` recorded),
//! `/metrics` for Prometheus, and the dashboard's files.
//!
//! | path | answer |
//! |---|---|
//! | `/api/summary` | today, this month, this year (+ `timezone`, `interfaces`, the billing `cycle`) |
//! | `/api/quota` | the billing cycle, its usage, quota, forecast, the last 12 cycles, alerts ([`quota`]) |
//! | `/api/query?start=&end=&granularity=` | a zero-filled series and its sum ([`history`]) |
//! | `/api/export.csv`, `/api/export.jsonl` (same parameters) | the range as a file, streamed ([`export`]) |
//! | `/api/history/30days`, `/12months`, `/today_hours` | fixed series ending today |
//! | `/api/date_range` | first and last day with traffic |
//! | `/api/top_ips?start=&end=&limit=` | heaviest remote addresses over stored days ([`top_ips`]) |
//! | `/api/devices?start=&end=&limit=` | heaviest local devices over stored days ([`devices`]) |
//! | `/api/services?start=&end=` | public traffic by service ([`services`]) |
//! | `/api/realtime` | the one-second rate samples ([`realtime`]) |
//! | `/api/health` | capture state per interface; 503 when capture has stopped ([`health`]) |
//! | `/api/debug/local_ips` | the interfaces' own addresses and the local prefixes in use ([`local_ips`]) |
//! | `/metrics` | Prometheus text format ([`metrics`]) |
//! | anything else | a dashboard file ([`files`]) or a 404 |
//!
//! Every endpoint takes `?iface=NAME` (one interface; default all together) and adds what memory
//! has counted and not committed yet. NAME may be a monitored interface or one the history holds
//! but that is not captured now (`MONITOR_IFACE` changed, a NAS update renamed it): its history
//! stays selectable. Bad input is a 400 `{"error": "…"}` naming
//! the parameter ([`params`]), an unknown path a 404 in the same shape.
//!
//! Handlers run on the HTTP layer's coroutines: each request copies the live counts (never the
//! per-packet path's locks for long), reads one snapshot of the history and serialises one
//! buffer. Nothing here writes to the database.

pub mod cycle;
pub mod devices;
pub mod export;
pub mod files;
pub mod health;
pub mod history;
pub mod json;
pub mod live;
pub mod local_ips;
pub mod metrics;
pub mod networks;
pub mod params;
pub mod quota;
pub mod realtime;
pub mod router;
pub mod services;
pub mod summary;
pub mod top_ips;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use ipnet::IpNet;
use jiff::civil::Date;

use crate::clock::Zone;
use crate::clock::unix_now;
use crate::lan::Labeler;
use crate::quota::QuotaSettings;
use crate::remote::{GeoIp, Names};
use crate::serve::{Handler, Request, Response};
use crate::store::{ReadView, Store, StoreError};
pub use live::{InterfaceReport, LiveSource};
use params::ParamError;

/// Why a request gets no answer from its endpoint.
#[derive(Debug)]
pub enum ApiError {
    /// 400: bad input, with a message naming the parameter.
    BadRequest(ParamError),
    /// 404: no such endpoint.
    NotFound(String),
    /// 503: the history cannot be read right now.
    Unavailable(StoreError),
}

impl From<ParamError> for ApiError {
    fn from(error: ParamError) -> ApiError {
        ApiError::BadRequest(error)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        ApiError::Unavailable(error)
    }
}

impl ApiError {
    pub fn into_response(self) -> Response {
        match self {
            ApiError::BadRequest(error) => json::error_response(400, &error.0),
            ApiError::NotFound(path) => json::error_response(
                404,
                &if files::has_dashboard() {
                    format!(
                        "nothing is at {path}: the API is under /api/ (see the README), the dashboard at /"
                    )
                } else {
                    format!(
                        "nothing is at {path}: the API is under /api/ (see the README); this build has no dashboard"
                    )
                },
            ),
            ApiError::Unavailable(StoreError::Io { why }) => json::error_response(
                503,
                &format!("the history cannot be read right now ({why}); try again shortly"),
            ),
            ApiError::Unavailable(error) => json::error_response(503, &error.to_string()),
        }
    }
}

/// The request handler of the monitor: the history, the live counts and the settings it needs.
pub struct Api {
    store: Arc<Store>,
    live: Arc<dyn LiveSource>,
    interfaces: Vec<String>,
    started: i64,
    prefixes: PrefixSettings,
    quota: QuotaSettings,
    quota_cache: crate::quota::usage::Cache,
    geoip: Option<Arc<GeoIp>>,
    names: Option<Arc<Names>>,
    labeler: Option<Arc<Labeler>>,
}

/// The local-prefix settings capture runs with, for `/api/debug/local_ips`.
#[derive(Clone, Debug, Default)]
pub struct PrefixSettings {
    /// `LOCAL_PREFIXES` and `EXCLUDE_IPV6_PREFIX`.
    pub configured: Vec<IpNet>,
    /// `AUTO_LOCAL_PREFIXES`: the interfaces' own global prefixes count as local too.
    pub automatic: bool,
}

impl Api {
    /// Answer from `store` and the counts of `live` (whose interfaces are the monitored ones).
    pub fn new(store: Arc<Store>, live: Arc<dyn LiveSource>) -> Api {
        let interfaces = live.interfaces().into_iter().map(|i| i.name).collect();
        Api {
            store,
            live,
            interfaces,
            started: unix_now(),
            prefixes: PrefixSettings::default(),
            quota: QuotaSettings::default(),
            quota_cache: crate::quota::usage::Cache::default(),
            geoip: None,
            names: None,
            labeler: None,
        }
    }

    /// The same handler, naming devices with `labeler`.
    #[must_use]
    pub fn with_labeler(mut self, labeler: Arc<Labeler>) -> Api {
        self.labeler = Some(labeler);
        self
    }

    /// Device names and MAC addresses now (`DEVICE_NAMES`, neighbour table, reverse DNS).
    pub fn labeler(&self) -> Option<&Labeler> {
        self.labeler.as_deref()
    }

    /// The same handler, naming remote addresses by their reverse-DNS names from `names`.
    #[must_use]
    pub fn with_names(mut self, names: Arc<Names>) -> Api {
        self.names = Some(names);
        self
    }

    /// Reverse DNS (`REVERSE_DNS`), when on.
    pub fn names(&self) -> Option<&Names> {
        self.names.as_deref()
    }

    /// The same handler, naming the networks and countries of remote addresses from `geoip`.
    #[must_use]
    pub fn with_geoip(mut self, geoip: Arc<GeoIp>) -> Api {
        self.geoip = Some(geoip);
        self
    }

    /// `GEOIP_DB`'s files, when set.
    pub fn geoip(&self) -> Option<&GeoIp> {
        self.geoip.as_deref()
    }

    /// The same handler, counting billing cycles and the quota by `quota`.
    #[must_use]
    pub fn with_quota(mut self, quota: QuotaSettings) -> Api {
        self.quota = quota;
        self
    }

    /// `BILLING_DAY`, `QUOTA` and the rest of the quota settings.
    pub fn quota(&self) -> &QuotaSettings {
        &self.quota
    }

    /// What the billing cycle's figures reuse between requests (see
    /// [`crate::quota::usage::status_cached`]).
    pub fn quota_cache(&self) -> &crate::quota::usage::Cache {
        &self.quota_cache
    }

    /// The same handler, reporting `prefixes` as the local-prefix settings.
    #[must_use]
    pub fn with_prefix_settings(mut self, prefixes: PrefixSettings) -> Api {
        self.prefixes = prefixes;
        self
    }

    /// The monitored interfaces, in configuration order.
    pub fn interfaces(&self) -> &[String] {
        &self.interfaces
    }

    /// Interfaces the history holds but that are not monitored now, by name.
    pub fn not_captured(&self) -> Vec<String> {
        let mut names = self.store.interfaces_with_history();
        names.retain(|name| !self.interfaces.contains(name));
        names
    }

    /// Every interface `?iface=` may name: the monitored ones in configuration order, then those
    /// only the history holds.
    pub fn known_interfaces(&self) -> Vec<String> {
        let mut names = self.interfaces.clone();
        names.extend(self.not_captured());
        names
    }

    pub fn prefix_settings(&self) -> &PrefixSettings {
        &self.prefixes
    }

    pub fn zone(&self) -> &Zone {
        self.store.zone()
    }

    pub fn live(&self) -> &dyn LiveSource {
        &*self.live
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Unix second at which this handler was made (the monitor's start, for metrics).
    pub fn started(&self) -> i64 {
        self.started
    }

    /// Today's local date.
    pub fn today(&self) -> Date {
        self.zone().date_of(unix_now())
    }

    /// The history plus the live counts (hours only; enough for totals and series).
    ///
    /// # Errors
    /// When the history cannot be read.
    pub fn read(&self) -> Result<ReadView<'static>, StoreError> {
        self.store.read(self.live.counts())
    }

    /// The history plus everything live, remote addresses included.
    ///
    /// # Errors
    /// When the history cannot be read.
    pub fn read_with_remotes(&self) -> Result<ReadView<'static>, StoreError> {
        self.store.read(self.live.everything())
    }

    /// The history plus the live counts and devices (one device's bytes by day).
    ///
    /// # Errors
    /// When the history cannot be read.
    pub fn read_with_devices(&self) -> Result<ReadView<'static>, StoreError> {
        self.store.read(self.live.devices())
    }
}

impl Handler for Api {
    fn handle(&self, request: &Request<'_>) -> Response {
        router::route(self, request)
    }

    fn is_expensive(&self, request: &Request<'_>) -> bool {
        router::is_expensive(self, request)
    }
}
