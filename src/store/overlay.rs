//! The overlay of uncommitted hours: what memory has counted since the last commit, which every
//! read adds to what the file holds, and the marks of what the last commit already took from
//! memory (so the overlay adds only the rest). Written by the persister
//! ([`crate::persister`]), defined here so the read side depends on nothing above the store.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use jiff::civil::Date;

use super::schema::ALL_SCOPE_NAME;
use crate::clock::HourStart;
use crate::count::heavy::Pair;
use crate::count::live::LiveSnapshot;
use crate::count::{ByService, UpDown};
use crate::live::{InterfaceLive, LiveState};

/// 2020-01-01 00:00:00 UTC: no live frame of this program's lifetime can be older.
pub const PLAUSIBLE_FROM: i64 = 1_577_836_800;
/// What memory holds, per interface, as the persister and readers take it.
#[derive(Clone, Debug, Default)]
pub struct LiveView {
    /// Each monitored interface's counts since the process started.
    pub interfaces: Vec<(String, LiveSnapshot)>,
}

impl LiveView {
    /// Copy the counts of every interface out of the live state capture writes.
    pub fn from_state(live: &LiveState) -> LiveView {
        LiveView::of_interfaces(live, InterfaceLive::snapshot)
    }

    /// Each interface's name with what `take` copies of it, in configuration order.
    pub fn of_interfaces(
        live: &LiveState,
        take: impl Fn(&InterfaceLive) -> LiveSnapshot,
    ) -> LiveView {
        LiveView {
            interfaces: live
                .interfaces
                .iter()
                .map(|interface| (interface.name.clone(), take(interface)))
                .collect(),
        }
    }

    /// Every interface's hours added together.
    pub fn all_hours(&self) -> BTreeMap<HourStart, UpDown> {
        let mut hours = BTreeMap::new();
        for (_, snapshot) in &self.interfaces {
            for (hour, bytes) in &snapshot.hours {
                *hours.entry(*hour).or_insert_with(UpDown::default) += *bytes;
            }
        }
        hours
    }

    /// The hours of one scope (`""`: all interfaces together).
    pub fn hours_of(&self, scope: &str) -> BTreeMap<HourStart, UpDown> {
        if scope == ALL_SCOPE_NAME {
            return self.all_hours();
        }
        self.interfaces
            .iter()
            .filter(|(name, _)| name == scope)
            .flat_map(|(_, snapshot)| snapshot.hours.iter().map(|(h, b)| (*h, *b)))
            .collect()
    }
}

/// A view lent to [`Store::read`](super::Store::read) (the reader borrows it).
impl<'a> From<&'a LiveView> for Cow<'a, LiveView> {
    fn from(view: &'a LiveView) -> Cow<'a, LiveView> {
        Cow::Borrowed(view)
    }
}

/// A view handed to [`Store::read`](super::Store::read) (the reader keeps it, nothing is copied).
impl From<LiveView> for Cow<'_, LiveView> {
    fn from(view: LiveView) -> Self {
        Cow::Owned(view)
    }
}

/// What the last successful commit took from memory, for readers to add only the rest.
#[derive(Clone, Debug, Default)]
pub struct Committed {
    /// Scope name (`""`: all interfaces) → hour → memory's value that the stored total includes.
    pub hours: HashMap<String, HashMap<HourStart, UpDown>>,
    /// Interface → day → address → memory's value that the stored list includes.
    pub remotes: HashMap<String, HashMap<Date, HashMap<IpAddr, UpDown>>>,
    /// Interface → day → local address → memory's value that the stored list includes.
    pub devices: HashMap<String, HashMap<Date, HashMap<IpAddr, UpDown>>>,
    /// Interface → day → memory's bytes per service that the stored day includes.
    pub services: HashMap<String, HashMap<Date, ByService>>,
    /// Interface → day → (device, remote) pair → memory's value that the stored lists include.
    pub pairs: HashMap<String, HashMap<Date, HashMap<Pair, UpDown>>>,
    /// Live hours this process will never store (implausible timestamps).
    pub refused: HashSet<HourStart>,
    /// Unix second of the last successful commit.
    pub last_commit: Option<i64>,
}
