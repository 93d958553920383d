//! Sources of frames: capture files, and the live AF_PACKET ring.

pub mod block;
pub mod bpf;
pub mod engine;
pub mod file;
pub mod iface;
pub mod ring;
