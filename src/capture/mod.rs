//! Sources of frames: capture files, and the live AF_PACKET ring with the threads that drain it
//! into the [live state](crate::live).

pub mod block;
pub mod bpf;
pub mod engine;
pub mod file;
pub mod iface;
pub mod ring;
pub mod worker;
