//! Who a local address (a device) is: the name the owner gave it (`DEVICE_NAMES`), its MAC
//! address from the kernel's neighbour table, and its reverse-DNS name from the local resolver.
//!
//! Read side only, like [`crate::remote`]: the persister labels the devices it stores and the
//! API the ones it answers; capture never looks anything up.

pub mod labels;
pub mod neighbours;

pub use labels::{DeviceNames, Label, Labeler, Mac};
