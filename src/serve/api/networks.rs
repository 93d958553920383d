//! `/api/networks?start=&end=&by=asn|country[&iface=][&limit=]`: the traffic of a range of local
//! days by the network (autonomous system) or country of its remote addresses, from the files of
//! `GEOIP_DB` and the daily address tables.
//!
//! Each day keeps its `TOP_IPS_PER_DAY` heaviest addresses, so the breakdown covers the bytes of
//! those; what the tables dropped is `untracked` (the range's total minus what the tables hold),
//! and addresses no file knows are `unknown`. The entries, `unknown` and `untracked` add up to
//! `total`.

use std::collections::HashMap;

use serde::Serialize;

use super::json::{self, Totals};
use super::params::{ParamError, Params};
use super::{Api, ApiError, top_ips};
use crate::count::UpDown;
use crate::remote::Place;
use crate::serve::Response;

/// Entries listed without `limit`.
pub const DEFAULT_LIMIT: usize = 20;

/// What the entries are grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum By {
    Asn,
    Country,
}

impl By {
    fn parse(params: &Params<'_>) -> Result<By, ParamError> {
        match params.non_empty("by")?.as_deref() {
            Some("asn") => Ok(By::Asn),
            None | Some("country") => Ok(By::Country),
            Some(other) => Err(ParamError(format!(
                "by must be asn or country, not '{}'",
                other.chars().take(40).collect::<String>()
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            By::Asn => "asn",
            By::Country => "country",
        }
    }
}

/// One network or country.
#[derive(Serialize)]
struct Entry {
    /// Remote addresses of the tables in it.
    addresses: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    asn: Option<u32>,
    #[serde(flatten)]
    bytes: Totals,
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    org: Option<String>,
}

/// A group being summed: its bytes, addresses and the place it is named after (that of its
/// heaviest address, since addresses are taken heaviest first).
struct Group {
    bytes: UpDown,
    addresses: u64,
    place: Place,
}

/// `/api/networks`.
///
/// # Errors
/// 400 for bad dates, `by`, `limit` or interface, and when `GEOIP_DB` is not set.
pub fn answer(api: &Api, params: &Params<'_>) -> Result<Response, ApiError> {
    let (start, end) = top_ips::days(api, params)?;
    let by = By::parse(params)?;
    let limit = params.limit(DEFAULT_LIMIT)?;
    let scope = params.scope(&api.known_interfaces())?;
    let Some(geoip) = api.geoip() else {
        return Err(ParamError(
            "networks and countries need GEOIP_DB (a .mmdb file such as DB-IP Lite; see docs/geoip.md), which is not set"
                .to_string(),
        )
        .into());
    };
    let read = api.read_with_remotes()?;
    let total = read.totals(&scope, start, end)?;
    let remotes = read.top_remotes(&scope, start, end, usize::MAX)?;
    let lookups = geoip.lookups();
    let mut groups: HashMap<u64, Group> = HashMap::new();
    let mut unknown = UpDown::default();
    let mut unknown_addresses = 0u64;
    let mut tracked = UpDown::default();
    for remote in &remotes {
        tracked += remote.bytes;
        let place = lookups.place(remote.addr);
        let key = match by {
            By::Asn => place.asn.map(u64::from),
            By::Country => place.country.as_deref().map(country_key),
        };
        let Some(key) = key else {
            unknown += remote.bytes;
            unknown_addresses += 1;
            continue;
        };
        let group = groups.entry(key).or_insert_with(|| Group {
            bytes: UpDown::default(),
            addresses: 0,
            place,
        });
        group.bytes += remote.bytes;
        group.addresses += 1;
    }
    let mut groups: Vec<Group> = groups.into_values().collect();
    groups.sort_by(|a, b| {
        b.bytes
            .total()
            .cmp(&a.bytes.total())
            .then_with(|| a.place.asn.cmp(&b.place.asn))
            .then_with(|| a.place.country.cmp(&b.place.country))
    });
    let listed = groups.len();
    let mut others = UpDown::default();
    let mut other_addresses = 0u64;
    for group in groups.iter().skip(limit) {
        others += group.bytes;
        other_addresses += group.addresses;
    }
    groups.truncate(limit);
    // The tables are the heaviest addresses of each day: together never more than the day's
    // total, except when live counts moved on between the two reads; then nothing is untracked.
    let untracked = UpDown {
        up: total.up.saturating_sub(tracked.up),
        down: total.down.saturating_sub(tracked.down),
    };
    #[derive(Serialize)]
    struct Answer<'a> {
        by: &'a str,
        end: String,
        /// Groups beyond `limit`, together.
        more: Remainder,
        networks: Vec<Entry>,
        start: String,
        total: Totals,
        /// Addresses of the tables that no file knows.
        unknown: Remainder,
        /// Bytes the daily tables did not keep (beyond `TOP_IPS_PER_DAY` addresses a day).
        untracked: Totals,
    }
    #[derive(Serialize)]
    struct Remainder {
        addresses: u64,
        #[serde(flatten)]
        bytes: Totals,
        #[serde(skip_serializing_if = "Option::is_none")]
        groups: Option<usize>,
    }
    let answer = Answer {
        by: by.name(),
        end: end.to_string(),
        more: Remainder {
            addresses: other_addresses,
            bytes: Totals::of(others),
            groups: Some(listed.saturating_sub(limit)),
        },
        networks: groups
            .into_iter()
            .map(|group| {
                let (asn, org, country, country_name) = match by {
                    By::Asn => (group.place.asn, group.place.org, None, None),
                    By::Country => (None, None, group.place.country, group.place.country_name),
                };
                Entry {
                    addresses: group.addresses,
                    asn,
                    bytes: Totals::of(group.bytes),
                    country,
                    country_name,
                    org,
                }
            })
            .collect(),
        start: start.to_string(),
        total: Totals::of(total),
        unknown: Remainder {
            addresses: unknown_addresses,
            bytes: Totals::of(unknown),
            groups: None,
        },
        untracked: Totals::of(untracked),
    };
    Ok(json::respond(
        200,
        &answer,
        512 + answer.networks.len() * 200,
    ))
}

/// A country code as a group key (two ASCII letters, so it never meets an ASN's key range
/// wrongly: keys of the two kinds are never mixed in one answer).
fn country_key(code: &str) -> u64 {
    code.bytes().fold(0, |key, b| (key << 8) | u64::from(b))
}
