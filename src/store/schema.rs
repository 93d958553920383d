//! The tables of the history file and the byte layout of their keys and values.
//!
//! The layout is written out in the module doc of [`crate::store`]; the constants here are where
//! it lives in code, and every offset is derived from the width before it so the two cannot drift.
//! Keys compare as plain bytes (big-endian, signed numbers with their sign bit flipped), so redb's
//! order is time order and a range scan of one scope is one contiguous run of the tree.

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use jiff::civil::Date;
use redb::{Key, TableDefinition, TypeName, Value};

use crate::clock::HourStart;
use crate::count::{ByService, UpDown};
use crate::service::Service;

/// Written under [`META_FORMAT`]: says "this file is a NetTraffic-Sentinel history".
pub const FORMAT: &[u8] = b"nettraffic-sentinel history";
/// The layout version this program writes. A file with a higher one is refused, never rewritten;
/// a file with a lower one is upgraded when it is opened (see [`crate::store::open`]).
///
/// 1: day address lists with fixed-width counts. 2: the same lists with variable-length counts
/// (63 % of the bytes for a day of 1,000 addresses; half the file, see [`crate::store`]). 3: each
/// device's remote addresses also summed per closed month ([`MONTH_DEVICE_REMOTES`]); a version 2
/// program would write days without clearing those sums, so it must not open the file.
pub const SCHEMA_VERSION: u32 = 3;

/// `meta` keys.
pub const META_FORMAT: &str = "format";
pub const META_SCHEMA_VERSION: &str = "schema_version";
/// Unix second the file was created at (i64 little-endian).
pub const META_CREATED: &str = "created";
/// Unix second of the persister's last successful commit (i64 little-endian).
pub const META_LAST_COMMIT: &str = "last_commit";

/// Identity and version records: text key → raw bytes.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Scope name → scope id. The empty name is every interface together (and imported history).
pub const SCOPES: TableDefinition<&str, u32> = TableDefinition::new("scopes");
/// (scope, hour start) → up/down bytes.
pub const HOURS: TableDefinition<HourKey, Counts> = TableDefinition::new("hours");
/// (scope, local date) → that day's heaviest remote addresses, heaviest first.
pub const DAY_REMOTES: TableDefinition<DayKey, &[u8]> = TableDefinition::new("day_remotes");
/// (scope, local date) → that day's heaviest local addresses (devices), heaviest first, in the
/// encoding of `day_remotes`. Files written before it simply lack it.
pub const DAY_DEVICES: TableDefinition<DayKey, &[u8]> = TableDefinition::new("day_devices");
/// (scope, local date) → how that day's stored devices were shown: their names and MAC addresses
/// at the time ([`encode_labels`]), so a later change of `DEVICE_NAMES` leaves past days as they
/// were.
pub const DAY_DEVICE_LABELS: TableDefinition<DayKey, &[u8]> =
    TableDefinition::new("day_device_labels");
/// (scope, local date, device) → the remote addresses that device exchanged bytes with that day,
/// heaviest first, in the encoding of `day_remotes`: one lookup per device and day. A day keeps
/// its heaviest `TOP_IPS_PER_DAY` (device, remote) pairs over all its devices together. Files
/// written before it simply lack it (read as no pairs).
pub const DAY_DEVICE_REMOTES: TableDefinition<DeviceDayKey, &[u8]> =
    TableDefinition::new("day_device_remotes");

/// (scope, local date) → that day's bytes per service ([`encode_services`]). Files written before
/// it simply lack it (read as no services).
pub const DAY_SERVICES: TableDefinition<DayKey, &[u8]> = TableDefinition::new("day_services");

/// A device's remote addresses summed over one closed month of one scope (key: the month's
/// first day), heaviest first, at most `REMOTES_PER_DEVICE_MONTH`; only for a device whose days
/// of the month hold more entries than that ([`super::months`]), and only read for a month that
/// [`MONTHS_SUMMED`] marks (a device without a list there is read by day).
pub const MONTH_DEVICE_REMOTES: TableDefinition<DeviceDayKey, &[u8]> =
    TableDefinition::new("month_device_remotes");

/// A scope's devices summed over one closed month (key: the month's first day), heaviest first,
/// at most `DEVICES_PER_MONTH`; only when the month's `day_devices` hold more entries than that
/// ([`super::months`]), and only read for a month that [`MONTHS_SUMMED`] marks.
pub const MONTH_DEVICES: TableDefinition<DayKey, &[u8]> = TableDefinition::new("month_devices");

/// The months (key: the first day) of a scope whose `month_devices` and `month_device_remotes`
/// hold the sums of the month's `day_devices` and `day_device_remotes`; the value is how many
/// lists were cut to their bound. Writing a day's devices or pairs removes the month's mark and
/// lists in the same transaction.
pub const MONTHS_SUMMED: TableDefinition<DayKey, u32> = TableDefinition::new("months_summed");

/// One device's label as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredLabel {
    pub addr: IpAddr,
    pub name: Option<String>,
    pub mac: Option<[u8; 6]>,
}

/// The longest stored name, in bytes.
const MAX_LABEL_NAME: usize = 255;

/// Encode a day's labels: each entry `family u8 (4|6) | address | flags u8 (1: MAC, 2: name) |
/// MAC (6, when flagged) | name length u8 | name (UTF-8, when flagged)`.
pub fn encode_labels(labels: &[StoredLabel]) -> Vec<u8> {
    let mut out = Vec::with_capacity(labels.len() * 32);
    for label in labels {
        match label.addr {
            IpAddr::V4(v4) => {
                out.push(FAMILY_V4);
                out.extend_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                out.push(FAMILY_V6);
                out.extend_from_slice(&v6.octets());
            }
        }
        let name = label.name.as_deref().map(|name| {
            // Cut at a character boundary within the limit (names are 64 characters at most).
            let mut end = name.len().min(MAX_LABEL_NAME);
            while !name.is_char_boundary(end) {
                end -= 1;
            }
            &name[..end]
        });
        out.push(u8::from(label.mac.is_some()) | (u8::from(name.is_some()) << 1));
        if let Some(mac) = label.mac {
            out.extend_from_slice(&mac);
        }
        if let Some(name) = name {
            out.push(name.len() as u8);
            out.extend_from_slice(name.as_bytes());
        }
    }
    out
}

/// Decode a day's labels; `None` when the bytes are not labels this module wrote.
pub fn decode_labels(data: &[u8]) -> Option<Vec<StoredLabel>> {
    let mut labels = Vec::new();
    find_labels(data, |_| true, |label| labels.push(label))?;
    Some(labels)
}

/// Which per-day address lists: remote addresses (`day_remotes`) or devices (`day_devices`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addresses {
    Remotes,
    Devices,
}

impl Addresses {
    pub fn table(self) -> TableDefinition<'static, DayKey, &'static [u8]> {
        match self {
            Addresses::Remotes => DAY_REMOTES,
            Addresses::Devices => DAY_DEVICES,
        }
    }
}

/// SHA-256 of an imported capture file → what its import added.
pub const IMPORTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("imports");
/// The original's `hour_ts` label → the bytes already taken from that row.
pub const SQLITE_HOURS: TableDefinition<&str, Counts> = TableDefinition::new("sqlite_hours");
/// (billing cycle start, alert code) → `state u8 | changed_at i64 LE | message` (see
/// [`crate::store::alerts`]). Made by the first alert: older files have none.
pub const QUOTA_ALERTS: TableDefinition<(i64, u32), &[u8]> = TableDefinition::new("quota_alerts");

/// The scope id of all interfaces together.
pub const ALL_SCOPE: u32 = 0;
/// The scope name of all interfaces together.
pub const ALL_SCOPE_NAME: &str = "";

const SCOPE_WIDTH: usize = 4;
const HOUR_WIDTH: usize = 8;
/// Width of an hour key: scope, then hour start.
pub const HOUR_KEY_WIDTH: usize = SCOPE_WIDTH + HOUR_WIDTH;
const YEAR_WIDTH: usize = 2;
/// Width of a day key: scope, year, month, day.
pub const DAY_KEY_WIDTH: usize = SCOPE_WIDTH + YEAR_WIDTH + 2;
const COUNT_WIDTH: usize = 8;
/// Width of an up/down value.
pub const COUNTS_WIDTH: usize = 2 * COUNT_WIDTH;

/// Flip the sign bit so that big-endian bytes of a signed number sort in numeric order.
fn ordered_i64(value: i64) -> [u8; 8] {
    ((value as u64) ^ (1 << 63)).to_be_bytes()
}

fn from_ordered_i64(bytes: [u8; 8]) -> i64 {
    (u64::from_be_bytes(bytes) ^ (1 << 63)) as i64
}

fn array<const N: usize>(data: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(slice) = data.get(at..at + N) {
        out.copy_from_slice(slice);
    }
    out
}

/// One hourly bucket's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hour {
    pub scope: u32,
    pub start: HourStart,
}

/// redb key type of [`Hour`]: `scope u32 BE | start i64 BE, sign bit flipped` (12 bytes).
#[derive(Debug)]
pub struct HourKey;

impl Value for HourKey {
    type SelfType<'a> = Hour;
    type AsBytes<'a> = [u8; HOUR_KEY_WIDTH];

    fn fixed_width() -> Option<usize> {
        Some(HOUR_KEY_WIDTH)
    }

    fn from_bytes<'a>(data: &'a [u8]) -> Hour
    where
        Self: 'a,
    {
        Hour {
            scope: u32::from_be_bytes(array(data, 0)),
            start: from_ordered_i64(array(data, SCOPE_WIDTH)),
        }
    }

    fn as_bytes<'a, 'b: 'a>(value: &'a Hour) -> [u8; HOUR_KEY_WIDTH]
    where
        Self: 'b,
    {
        let mut out = [0u8; HOUR_KEY_WIDTH];
        out[..SCOPE_WIDTH].copy_from_slice(&value.scope.to_be_bytes());
        out[SCOPE_WIDTH..].copy_from_slice(&ordered_i64(value.start));
        out
    }

    fn type_name() -> TypeName {
        TypeName::new("nettraffic_sentinel::HourKey")
    }
}

impl Key for HourKey {
    fn compare(data1: &[u8], data2: &[u8]) -> Ordering {
        data1.cmp(data2)
    }
}

/// One local day's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day {
    pub scope: u32,
    pub date: Date,
}

/// redb key type of [`Day`]: `scope u32 BE | year i16 BE, sign bit flipped | month u8 | day u8`
/// (8 bytes).
#[derive(Debug)]
pub struct DayKey;

impl Value for DayKey {
    type SelfType<'a> = Day;
    type AsBytes<'a> = [u8; DAY_KEY_WIDTH];

    fn fixed_width() -> Option<usize> {
        Some(DAY_KEY_WIDTH)
    }

    fn from_bytes<'a>(data: &'a [u8]) -> Day
    where
        Self: 'a,
    {
        let year = (u16::from_be_bytes(array(data, SCOPE_WIDTH)) ^ (1 << 15)) as i16;
        let month = data.get(SCOPE_WIDTH + YEAR_WIDTH).copied().unwrap_or(1) as i8;
        let day = data.get(SCOPE_WIDTH + YEAR_WIDTH + 1).copied().unwrap_or(1) as i8;
        Day {
            scope: u32::from_be_bytes(array(data, 0)),
            // Only this module writes day keys, always from a valid date; a damaged key reads as
            // the first day of the epoch rather than stopping a query.
            date: Date::new(year, month, day).unwrap_or(Date::constant(1970, 1, 1)),
        }
    }

    fn as_bytes<'a, 'b: 'a>(value: &'a Day) -> [u8; DAY_KEY_WIDTH]
    where
        Self: 'b,
    {
        let mut out = [0u8; DAY_KEY_WIDTH];
        out[..SCOPE_WIDTH].copy_from_slice(&value.scope.to_be_bytes());
        let year = (value.date.year() as u16) ^ (1 << 15);
        out[SCOPE_WIDTH..SCOPE_WIDTH + YEAR_WIDTH].copy_from_slice(&year.to_be_bytes());
        out[SCOPE_WIDTH + YEAR_WIDTH] = value.date.month() as u8;
        out[SCOPE_WIDTH + YEAR_WIDTH + 1] = value.date.day() as u8;
        out
    }

    fn type_name() -> TypeName {
        TypeName::new("nettraffic_sentinel::DayKey")
    }
}

impl Key for DayKey {
    fn compare(data1: &[u8], data2: &[u8]) -> Ordering {
        data1.cmp(data2)
    }
}

impl Day {
    /// The days of `scope` from `first` to `last`, both included, as one key range.
    pub fn span(scope: u32, first: Date, last: Date) -> std::ops::RangeInclusive<Day> {
        Day { scope, date: first }..=Day { scope, date: last }
    }
}

/// One device's key on one local day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeviceDay {
    pub scope: u32,
    pub date: Date,
    pub device: IpAddr,
}

impl DeviceDay {
    /// Every device key of `scope` on `date`, as one inclusive range (IPv4 keys sort before
    /// IPv6 ones, each by address).
    pub fn all_of(scope: u32, date: Date) -> std::ops::RangeInclusive<DeviceDay> {
        let key = |device| DeviceDay {
            scope,
            date,
            device,
        };
        key(IpAddr::V4(Ipv4Addr::UNSPECIFIED))..=key(IpAddr::V6(Ipv6Addr::from(u128::MAX)))
    }
}

/// redb key type of [`DeviceDay`]: the 8 bytes of [`DayKey`], then `family u8 (4|6) | address
/// (4|16)` (13 or 25 bytes), so a day's devices are one contiguous run.
#[derive(Debug)]
pub struct DeviceDayKey;

impl Value for DeviceDayKey {
    type SelfType<'a> = DeviceDay;
    type AsBytes<'a> = Vec<u8>;

    fn fixed_width() -> Option<usize> {
        None
    }

    fn from_bytes<'a>(data: &'a [u8]) -> DeviceDay
    where
        Self: 'a,
    {
        let day = DayKey::from_bytes(data);
        let mut rest = data.get(DAY_KEY_WIDTH..).unwrap_or(&[]);
        let family = take_array::<1>(&mut rest).map(|[f]| f);
        // Only this module writes these keys; a damaged one reads as the unspecified address.
        let device = match family {
            Some(FAMILY_V6) => take_array::<16>(&mut rest).map(|a| IpAddr::V6(Ipv6Addr::from(a))),
            _ => take_array::<4>(&mut rest).map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        }
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        DeviceDay {
            scope: day.scope,
            date: day.date,
            device,
        }
    }

    fn as_bytes<'a, 'b: 'a>(value: &'a DeviceDay) -> Vec<u8>
    where
        Self: 'b,
    {
        let mut out = Vec::with_capacity(DAY_KEY_WIDTH + 17);
        out.extend_from_slice(&DayKey::as_bytes(&Day {
            scope: value.scope,
            date: value.date,
        }));
        match value.device {
            IpAddr::V4(v4) => {
                out.push(FAMILY_V4);
                out.extend_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                out.push(FAMILY_V6);
                out.extend_from_slice(&v6.octets());
            }
        }
        out
    }

    fn type_name() -> TypeName {
        TypeName::new("nettraffic_sentinel::DeviceDayKey")
    }
}

impl Key for DeviceDayKey {
    fn compare(data1: &[u8], data2: &[u8]) -> Ordering {
        data1.cmp(data2)
    }
}

/// redb value type of [`UpDown`]: `up u64 LE | down u64 LE` (16 bytes).
#[derive(Debug)]
pub struct Counts;

impl Value for Counts {
    type SelfType<'a> = UpDown;
    type AsBytes<'a> = [u8; COUNTS_WIDTH];

    fn fixed_width() -> Option<usize> {
        Some(COUNTS_WIDTH)
    }

    fn from_bytes<'a>(data: &'a [u8]) -> UpDown
    where
        Self: 'a,
    {
        UpDown {
            up: u64::from_le_bytes(array(data, 0)),
            down: u64::from_le_bytes(array(data, COUNT_WIDTH)),
        }
    }

    fn as_bytes<'a, 'b: 'a>(value: &'a UpDown) -> [u8; COUNTS_WIDTH]
    where
        Self: 'b,
    {
        let mut out = [0u8; COUNTS_WIDTH];
        out[..COUNT_WIDTH].copy_from_slice(&value.up.to_le_bytes());
        out[COUNT_WIDTH..].copy_from_slice(&value.down.to_le_bytes());
        out
    }

    fn type_name() -> TypeName {
        TypeName::new("nettraffic_sentinel::Counts")
    }
}

/// A remote address with its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteBytes {
    pub addr: IpAddr,
    pub bytes: UpDown,
}

const FAMILY_V4: u8 = 4;
const FAMILY_V6: u8 = 6;

/// Append `value` as an unsigned LEB128 number: seven bits a byte, low bits first, the top bit
/// set on every byte but the last (1 byte below 128, 4 below 2^28, at most 10).
fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Read an unsigned LEB128 number from the front of `data`; `None` if it is cut off, longer than
/// ten bytes, or does not fit 64 bits.
fn take_varint(data: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = data.split_first()?;
        *data = rest;
        let bits = u64::from(byte & 0x7f);
        if shift == 63 && bits > 1 {
            return None;
        }
        value |= bits << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The address at the front of `data`: a family byte, then its 4 or 16 bytes.
fn take_address(data: &mut &[u8]) -> Option<AddrBits> {
    let (&family, rest) = data.split_first()?;
    *data = rest;
    match family {
        FAMILY_V4 => Some(AddrBits::V4(u32::from_be_bytes(take_array::<4>(data)?))),
        FAMILY_V6 => Some(AddrBits::V6(u128::from_be_bytes(take_array::<16>(data)?))),
        _ => None,
    }
}

fn take_array<const N: usize>(data: &mut &[u8]) -> Option<[u8; N]> {
    let (head, rest) = data.split_at_checked(N)?;
    *data = rest;
    head.try_into().ok()
}

/// Encode a day's bytes per service: each service with traffic as `name length u8 | name (its
/// stable name, never its id, so reordering the set never mixes up stored days) | up varint |
/// down varint`.
pub fn encode_services(services: &ByService) -> Vec<u8> {
    encode_services_keeping(services, &[])
}

/// [`encode_services`] followed by `unknown`, the entries of services this version does not know
/// as [`decode_services_keeping`] kept them: what rewriting a day must not drop.
pub fn encode_services_keeping(services: &ByService, unknown: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (service, bytes) in services.iter() {
        let name = service.name().as_bytes();
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        put_varint(&mut out, bytes.up);
        put_varint(&mut out, bytes.down);
    }
    out.extend_from_slice(unknown);
    out
}

/// Decode [`encode_services`]; `None` when damaged. A name this version does not know (written
/// by a newer one) is left out.
pub fn decode_services(data: &[u8]) -> Option<ByService> {
    decode_services_keeping(data).map(|(services, _)| services)
}

/// [`decode_services`], and the entries of names this version does not know (a newer version's
/// services) as they were written, so a rewrite of the day keeps them for that version.
pub fn decode_services_keeping(mut data: &[u8]) -> Option<(ByService, Vec<u8>)> {
    let mut services = ByService::default();
    let mut unknown = Vec::new();
    while let Some((&len, rest)) = data.split_first() {
        let entry = data;
        let (name, rest) = rest.split_at_checked(usize::from(len))?;
        data = rest;
        let up = take_varint(&mut data)?;
        let down = take_varint(&mut data)?;
        let name = std::str::from_utf8(name).ok()?;
        match Service::from_name(name) {
            Some(service) => services.add_bytes(service, UpDown { up, down }),
            None => unknown.extend_from_slice(&entry[..entry.len() - data.len()]),
        }
    }
    Some((services, unknown))
}

/// Encode a day's remote list: each entry `family u8 (4|6) | address (4|16) | up varint |
/// down varint` (unsigned LEB128).
pub fn encode_remotes(list: &[RemoteBytes]) -> Vec<u8> {
    let mut out = Vec::with_capacity(list.len() * 14);
    for entry in list {
        match entry.addr {
            IpAddr::V4(v4) => {
                out.push(FAMILY_V4);
                out.extend_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                out.push(FAMILY_V6);
                out.extend_from_slice(&v6.octets());
            }
        }
        put_varint(&mut out, entry.bytes.up);
        put_varint(&mut out, entry.bytes.down);
    }
    out
}

/// Encode a month's devices ([`MONTH_DEVICES`]): `count varint | the day of the month each was
/// last listed on, u8 × count | the entries as` [`encode_remotes`] `writes them`, so that labels
/// are looked up on the day a device was last seen, not at the month's end.
pub fn encode_month_devices(list: &[(RemoteBytes, u8)]) -> Vec<u8> {
    let entries: Vec<RemoteBytes> = list.iter().map(|(entry, _)| *entry).collect();
    let mut out = Vec::with_capacity(list.len() * 16 + 4);
    put_varint(&mut out, list.len() as u64);
    out.extend(list.iter().map(|(_, day)| *day));
    out.extend_from_slice(&encode_remotes(&entries));
    out
}

/// Hand each entry of a list [`encode_month_devices`] wrote to `each`, with its day of the month
/// (1 to 31); `None` when the bytes are not such a list (the entries before the damage were
/// handed over).
pub fn each_month_device(
    mut data: &[u8],
    mut each: impl FnMut(AddrBits, UpDown, u8),
) -> Option<()> {
    let count = usize::try_from(take_varint(&mut data)?).ok()?;
    let (days, entries) = data.split_at_checked(count)?;
    if days.iter().any(|day| !(1..=31).contains(day)) {
        return None;
    }
    let mut listed = 0usize;
    each_remote(entries, |addr, bytes| {
        // More entries than days is damage, found below; the surplus is never handed over.
        if let Some(day) = days.get(listed) {
            each(addr, bytes, *day);
        }
        listed += 1;
    })?;
    (listed == count).then_some(())
}

/// Decode a day's remote list; `None` when the bytes are not a list this module wrote.
pub fn decode_remotes(data: &[u8]) -> Option<Vec<RemoteBytes>> {
    let mut list = Vec::new();
    each_remote(data, |addr, bytes| {
        list.push(RemoteBytes {
            addr: addr.into(),
            bytes,
        })
    })?;
    Some(list)
}

/// An address as a number, IPv4 and IPv6 apart: what summing many lists keys on (cheaper to
/// hash and to move than an `IpAddr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddrBits {
    V4(u32),
    V6(u128),
}

impl From<AddrBits> for IpAddr {
    fn from(addr: AddrBits) -> IpAddr {
        match addr {
            AddrBits::V4(v4) => IpAddr::V4(Ipv4Addr::from(v4)),
            AddrBits::V6(v6) => IpAddr::V6(Ipv6Addr::from(v6)),
        }
    }
}

impl From<IpAddr> for AddrBits {
    fn from(addr: IpAddr) -> AddrBits {
        match addr {
            IpAddr::V4(v4) => AddrBits::V4(u32::from(v4)),
            IpAddr::V6(v6) => AddrBits::V6(u128::from(v6)),
        }
    }
}

/// Hand each entry of a list [`encode_remotes`] wrote to `each`, without collecting them;
/// `None` when the bytes are not such a list (the entries before the damage were handed over).
pub fn each_remote(mut data: &[u8], mut each: impl FnMut(AddrBits, UpDown)) -> Option<()> {
    while !data.is_empty() {
        let addr = take_address(&mut data)?;
        let up = take_varint(&mut data)?;
        let down = take_varint(&mut data)?;
        each(addr, UpDown { up, down });
    }
    Some(())
}

/// The labels of the addresses `wanted` picks in a list [`encode_labels`] wrote, skipping the
/// others without decoding their names; `None` when the bytes are not such a list.
pub fn find_labels(
    mut data: &[u8],
    mut wanted: impl FnMut(IpAddr) -> bool,
    mut found: impl FnMut(StoredLabel),
) -> Option<()> {
    while !data.is_empty() {
        let addr = IpAddr::from(take_address(&mut data)?);
        let [flags] = take_array::<1>(&mut data)?;
        if flags & !3 != 0 {
            return None;
        }
        let mac = if flags & 1 != 0 {
            Some(take_array::<6>(&mut data)?)
        } else {
            None
        };
        let name = if flags & 2 != 0 {
            let [len] = take_array::<1>(&mut data)?;
            let (bytes, rest) = data.split_at_checked(usize::from(len))?;
            data = rest;
            Some(bytes)
        } else {
            None
        };
        if wanted(addr) {
            let name = match name {
                Some(bytes) => Some(String::from_utf8(bytes.to_vec()).ok()?),
                None => None,
            };
            found(StoredLabel { addr, name, mac });
        }
    }
    Some(())
}

/// The bytes of `addr` in a list [`encode_remotes`] wrote, without decoding the rest: `None` when
/// the bytes are not such a list, `Some(None)` when `addr` is not in it.
pub fn find_in_remotes(mut data: &[u8], addr: IpAddr) -> Option<Option<UpDown>> {
    while !data.is_empty() {
        let found = IpAddr::from(take_address(&mut data)?);
        let up = take_varint(&mut data)?;
        let down = take_varint(&mut data)?;
        if found == addr {
            return Some(Some(UpDown { up, down }));
        }
    }
    Some(None)
}

/// Decode a day's remote list as schema version 1 wrote it: each entry `family u8 (4|6) |
/// address (4|16) | up u64 LE | down u64 LE`. Only the upgrade of old files reads this.
pub fn decode_remotes_v1(mut data: &[u8]) -> Option<Vec<RemoteBytes>> {
    let mut list = Vec::new();
    while !data.is_empty() {
        let addr = IpAddr::from(take_address(&mut data)?);
        let bytes = Counts::from_bytes(&take_array::<COUNTS_WIDTH>(&mut data)?);
        list.push(RemoteBytes { addr, bytes });
    }
    Some(list)
}

/// Sort heaviest first (ties by address, so the order is stable) and keep at most `limit`.
pub fn keep_heaviest(list: &mut Vec<RemoteBytes>, limit: usize) {
    list.sort_by(|a, b| {
        b.bytes
            .total()
            .cmp(&a.bytes.total())
            .then(a.addr.cmp(&b.addr))
    });
    list.truncate(limit);
}

/// What an import recorded under its digest:
/// `imported_at i64 LE | packets u64 LE | up u64 LE | down u64 LE | file name (UTF-8)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportRecord {
    pub imported_at: i64,
    pub packets: u64,
    pub bytes: UpDown,
    pub file: String,
}

const IMPORT_HEAD: usize = 8 + 8 + COUNTS_WIDTH;

impl ImportRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(IMPORT_HEAD + self.file.len());
        out.extend_from_slice(&self.imported_at.to_le_bytes());
        out.extend_from_slice(&self.packets.to_le_bytes());
        out.extend_from_slice(&Counts::as_bytes(&self.bytes));
        out.extend_from_slice(self.file.as_bytes());
        out
    }

    pub fn decode(data: &[u8]) -> Option<ImportRecord> {
        if data.len() < IMPORT_HEAD {
            return None;
        }
        Some(ImportRecord {
            imported_at: i64::from_le_bytes(array(data, 0)),
            packets: u64::from_le_bytes(array(data, 8)),
            bytes: Counts::from_bytes(&data[16..IMPORT_HEAD]),
            file: String::from_utf8_lossy(&data[IMPORT_HEAD..]).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_a_newer_version_wrote_survive_a_rewrite() {
        // Written by hand: "https" up 5 down 7, then "steam" (a service this version does not
        // know) up 300 (LEB128 0xac 0x02) down 2.
        let mut stored = vec![5];
        stored.extend_from_slice(b"https");
        stored.extend_from_slice(&[5, 7]);
        let mut steam = vec![5];
        steam.extend_from_slice(b"steam");
        steam.extend_from_slice(&[0xac, 0x02, 2]);
        stored.extend_from_slice(&steam);

        let (mut known, unknown) = decode_services_keeping(&stored).expect("valid");
        assert_eq!(known.get(Service::Https), UpDown { up: 5, down: 7 });
        assert_eq!(known.total(), UpDown { up: 5, down: 7 });
        assert_eq!(unknown, steam);
        assert_eq!(decode_services(&stored), Some(known));

        known.add_bytes(Service::Https, UpDown { up: 1, down: 0 });
        let mut expected = vec![5];
        expected.extend_from_slice(b"https");
        expected.extend_from_slice(&[6, 7]);
        expected.extend_from_slice(&steam);
        assert_eq!(encode_services_keeping(&known, &unknown), expected);

        // Cut inside the unknown entry's bytes: damaged, not half-kept.
        assert_eq!(decode_services_keeping(&stored[..stored.len() - 1]), None);
    }

    #[test]
    fn hour_keys_sort_by_scope_then_time_including_before_1970() {
        let keys = [
            Hour {
                scope: 0,
                start: i64::MIN,
            },
            Hour {
                scope: 0,
                start: -3600,
            },
            Hour { scope: 0, start: 0 },
            Hour {
                scope: 0,
                start: 1_700_000_000,
            },
            Hour {
                scope: 1,
                start: -7200,
            },
        ];
        for pair in keys.windows(2) {
            let a = HourKey::as_bytes(&pair[0]);
            let b = HourKey::as_bytes(&pair[1]);
            assert_eq!(HourKey::compare(&a, &b), Ordering::Less, "{pair:?}");
        }
        for key in keys {
            assert_eq!(HourKey::from_bytes(&HourKey::as_bytes(&key)), key);
        }
        // The documented layout, byte for byte: scope 1, hour start -1 (0x7fff…ff once flipped).
        let bytes = HourKey::as_bytes(&Hour {
            scope: 1,
            start: -1,
        });
        assert_eq!(
            bytes,
            [0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn day_keys_sort_by_calendar_and_round_trip() {
        let days = [
            Date::constant(-1, 12, 31),
            Date::constant(1970, 1, 1),
            Date::constant(1970, 1, 2),
            Date::constant(2024, 2, 29),
            Date::constant(2024, 10, 1),
        ];
        for pair in days.windows(2) {
            let a = DayKey::as_bytes(&Day {
                scope: 3,
                date: pair[0],
            });
            let b = DayKey::as_bytes(&Day {
                scope: 3,
                date: pair[1],
            });
            assert_eq!(DayKey::compare(&a, &b), Ordering::Less, "{pair:?}");
        }
        let key = Day {
            scope: 3,
            date: Date::constant(2024, 2, 29),
        };
        // 2024 = 0x07e8, flipped 0x87e8.
        assert_eq!(DayKey::as_bytes(&key), [0, 0, 0, 3, 0x87, 0xe8, 2, 29]);
        assert_eq!(DayKey::from_bytes(&DayKey::as_bytes(&key)), key);
    }

    #[test]
    fn counts_are_two_little_endian_u64() {
        let bytes = Counts::as_bytes(&UpDown { up: 1, down: 256 });
        assert_eq!(bytes, [1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Counts::from_bytes(&bytes), UpDown { up: 1, down: 256 });
    }

    #[test]
    fn remote_lists_round_trip_and_reject_foreign_bytes() {
        let list = vec![
            RemoteBytes {
                addr: "203.0.113.9".parse().expect("address"),
                bytes: UpDown { up: 5, down: 300 },
            },
            RemoteBytes {
                addr: "2001:db8::1".parse().expect("address"),
                bytes: UpDown {
                    up: u64::MAX,
                    down: 0,
                },
            },
        ];
        let bytes = encode_remotes(&list);
        // 300 = 0b10_0101100: low seven bits first with the continuation bit, then 2.
        assert_eq!(&bytes[..8], &[4, 203, 0, 113, 9, 5, 0xac, 0x02]);
        // u64::MAX takes ten bytes: nine of 0xff, then 0x01.
        assert_eq!(bytes.len(), 8 + (1 + 16 + 10 + 1));
        assert_eq!(
            &bytes[25..35],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1]
        );
        assert_eq!(decode_remotes(&bytes), Some(list));
        assert_eq!(decode_remotes(&[]), Some(vec![]));
        assert_eq!(decode_remotes(&[5, 1, 2]), None);
        assert_eq!(decode_remotes(&bytes[..bytes.len() - 1]), None);
        // Cut inside a number, a number of eleven bytes, one that overflows 64 bits.
        assert_eq!(decode_remotes(&[4, 1, 2, 3, 4, 0x80]), None);
        let mut long = vec![4, 1, 2, 3, 4];
        long.extend_from_slice(&[0x80; 10]);
        long.extend_from_slice(&[0, 0]);
        assert_eq!(decode_remotes(&long), None);
        let mut over = vec![4, 1, 2, 3, 4];
        over.extend_from_slice(&[0xff; 9]);
        over.extend_from_slice(&[0x02, 0]);
        assert_eq!(decode_remotes(&over), None);
    }

    #[test]
    fn device_day_keys_group_a_day_and_round_trip() {
        let date = Date::constant(2024, 2, 29);
        let key = |device: &str| DeviceDay {
            scope: 3,
            date,
            device: device.parse().expect("address"),
        };
        let keys = [
            key("0.0.0.0"),
            key("10.0.0.1"),
            key("192.168.1.20"),
            key("::"),
            key("fd00::30"),
            key("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        ];
        let range = DeviceDay::all_of(3, date);
        for pair in keys.windows(2) {
            let a = DeviceDayKey::as_bytes(&pair[0]);
            let b = DeviceDayKey::as_bytes(&pair[1]);
            assert_eq!(DeviceDayKey::compare(&a, &b), Ordering::Less, "{pair:?}");
        }
        for key in keys {
            assert_eq!(DeviceDayKey::from_bytes(&DeviceDayKey::as_bytes(&key)), key);
            assert!(range.contains(&key));
        }
        // The day's bytes first, then family and address.
        assert_eq!(
            DeviceDayKey::as_bytes(&key("192.168.1.20")),
            [0, 0, 0, 3, 0x87, 0xe8, 2, 29, 4, 192, 168, 1, 20]
        );
        // Other days and scopes sort outside the day's range, byte for byte as well.
        let next = DeviceDay {
            date: Date::constant(2024, 3, 1),
            ..key("0.0.0.0")
        };
        let last = DeviceDayKey::as_bytes(range.end());
        assert_eq!(
            DeviceDayKey::compare(&last, &DeviceDayKey::as_bytes(&next)),
            Ordering::Less
        );
    }

    #[test]
    fn one_address_is_found_in_a_list_without_decoding_it() {
        let list = vec![
            RemoteBytes {
                addr: "203.0.113.9".parse().expect("address"),
                bytes: UpDown { up: 5, down: 300 },
            },
            RemoteBytes {
                addr: "2001:db8::1".parse().expect("address"),
                bytes: UpDown { up: 1, down: 2 },
            },
        ];
        let bytes = encode_remotes(&list);
        for entry in &list {
            assert_eq!(find_in_remotes(&bytes, entry.addr), Some(Some(entry.bytes)));
        }
        let absent = "203.0.113.10".parse().expect("address");
        assert_eq!(find_in_remotes(&bytes, absent), Some(None));
        assert_eq!(find_in_remotes(&bytes[..bytes.len() - 1], absent), None);
    }

    #[test]
    fn version_1_lists_decode_for_the_upgrade() {
        // family 4, 203.0.113.9, up 5 and down 7 as two little-endian u64.
        let mut v1 = vec![
            4, 203, 0, 113, 9, 5, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0,
        ];
        v1.push(6);
        v1.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().expect("v6").octets());
        v1.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        let list = decode_remotes_v1(&v1).expect("a version 1 list");
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].bytes, UpDown { up: 5, down: 7 });
        assert_eq!(list[1].addr, "2001:db8::1".parse::<IpAddr>().expect("v6"));
        assert_eq!(list[1].bytes, UpDown { up: 1, down: 256 });
        assert_eq!(decode_remotes_v1(&v1[..v1.len() - 1]), None);
    }

    #[test]
    fn import_records_round_trip() {
        let record = ImportRecord {
            imported_at: 1_700_000_000,
            packets: 12,
            bytes: UpDown { up: 3, down: 4 },
            file: "wan.pcapng".into(),
        };
        assert_eq!(ImportRecord::decode(&record.encode()), Some(record));
        assert_eq!(ImportRecord::decode(&[0; 5]), None);
    }
}
