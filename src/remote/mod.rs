//! Who a remote address is: the network (ASN, organisation) and country that MaxMind-format
//! files the owner downloads say it belongs to ([`geoip`]), and its reverse-DNS name
//! ([`names`]).
//!
//! Read side only: answers and reports look addresses up; capture and counting never do.

pub mod geoip;
pub mod names;

pub use geoip::{GeoIp, GeoIpError, Place};
pub use names::{Names, NamesError};
