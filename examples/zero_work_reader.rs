//! The zero-work reference of `scripts/capbench`: a TPACKET_V3 ring that only counts frames and
//! their wire bytes, i.e. the least any ring-based capture tool pays for the kernel's copy, the
//! block hand-offs and the wake-ups. It uses the crate's own ring (`capture::ring`), so it holds
//! no unsafe code of its own.
//!
//! ```text
//! zero_work_reader -i IFACE [-s SNAPLEN] [-B BLOCK_KIB] [-n BLOCKS] [-t RETIRE_MS]
//! ```
//!
//! `-s` attaches a one-instruction BPF program `ret #SNAPLEN`, so the kernel copies at most that
//! many bytes of a frame into the ring (default 96, as the monitor and `tcpdump -s 96`; 0 = the
//! whole frame). Defaults: 64 blocks of 1024 KiB, retired after 10 ms. On SIGINT or SIGTERM it
//! reads the blocks still ready and prints one line:
//! `seen_pkts=N seen_bytes=M kernel_packets=P kernel_drops=D`.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nettraffic_sentinel::capture::ring::{Geometry, Ring, RingOptions, interface_index};

/// `BPF_RET | BPF_K`: accept the frame, keeping at most `k` bytes.
const BPF_RET_K: u16 = 0x06;
/// The largest frame a ring slot is asked to hold when `-s 0` asks for whole frames.
const WHOLE_FRAME: u32 = 262_144;

struct Options {
    interface: String,
    snap_len: u32,
    block_kib: u32,
    blocks: u32,
    retire_ms: u64,
}

fn parse_options() -> Result<Options, lexopt::Error> {
    use lexopt::prelude::*;
    let mut options = Options {
        interface: String::new(),
        snap_len: 96,
        block_kib: 1024,
        blocks: 64,
        retire_ms: 10,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Short('i') => options.interface = parser.value()?.string()?,
            Short('s') => options.snap_len = parser.value()?.parse()?,
            Short('B') => options.block_kib = parser.value()?.parse()?,
            Short('n') => options.blocks = parser.value()?.parse()?,
            Short('t') => options.retire_ms = parser.value()?.parse()?,
            _ => return Err(arg.unexpected()),
        }
    }
    if options.interface.is_empty() {
        return Err("-i IFACE is required".into());
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(error) => {
            eprintln!(
                "zero_work_reader: {error}\nusage: zero_work_reader -i IFACE [-s SNAPLEN] \
                 [-B BLOCK_KIB] [-n BLOCKS] [-t RETIRE_MS]"
            );
            return ExitCode::from(2);
        }
    };
    let Some(ifindex) = interface_index(&options.interface) else {
        eprintln!("zero_work_reader: no interface {}", options.interface);
        return ExitCode::FAILURE;
    };
    let snap = if options.snap_len == 0 {
        WHOLE_FRAME
    } else {
        options.snap_len
    };
    let filter = [libc::sock_filter {
        code: BPF_RET_K,
        jt: 0,
        jf: 0,
        k: snap,
    }];
    let mut ring = match Ring::open(&RingOptions {
        ifindex,
        geometry: Geometry {
            block_size: options.block_kib * 1024,
            block_count: options.blocks,
            retire_timeout: Duration::from_millis(options.retire_ms),
        },
        filter: &filter,
        fanout_group: None,
    }) {
        Ok(ring) => ring,
        Err(error) => {
            eprintln!("zero_work_reader: {error}");
            return ExitCode::FAILURE;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(error) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            eprintln!("zero_work_reader: cannot handle signal {signal}: {error}");
            return ExitCode::FAILURE;
        }
    }

    let (mut packets, mut bytes) = (0u64, 0u64);
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        while let Some(guard) = ring.next_block() {
            if let Some(block) = guard.block() {
                for frame in block.frames() {
                    packets += 1;
                    bytes += u64::from(frame.wire_len);
                }
            }
        }
        if stopping {
            break;
        }
        if let Err(error) = ring.wait(Duration::from_millis(100)) {
            eprintln!("zero_work_reader: {error}");
            return ExitCode::FAILURE;
        }
    }
    let kernel = ring.stats().unwrap_or_default();
    println!(
        "seen_pkts={packets} seen_bytes={bytes} kernel_packets={} kernel_drops={}",
        kernel.packets, kernel.drops
    );
    ExitCode::SUCCESS
}
