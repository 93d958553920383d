//! The classic BPF program the kernel runs on every frame before it reaches the ring: it keeps IPv4
//! and IPv6 (plain, behind one or two VLAN tags, in a PPPoE session) and truncates each kept frame
//! to [`SNAP_LEN`] bytes, so the ring carries headers only. Counting uses `tp_len`, the length on
//! the wire, which truncation does not change.
//!
//! The program only narrows what the parser sees; the parser still applies every rule (a frame the
//! filter lets through may be malformed or, with a tag the kernel stripped, have one tag too many).
//! Raw-IP interfaces carry nothing but IP, so there the program only truncates: a malformed header
//! is counted as malformed live exactly as in a capture file.

use libc::sock_filter;

/// Bytes kept per frame: Ethernet (14) + two VLAN tags (8) + PPPoE and PPP (8) + IPv6 (40) = 70,
/// rounded up to tcpdump's header-only 96 (every byte kept is copied by the kernel and walked by
/// us; with the ring's 82-byte frame header a frame takes 176 bytes instead of 208 at 128).
pub const SNAP_LEN: u32 = 96;

const ETHERTYPE_OFFSET: u32 = 12;
const VLAN_TAG_LEN: u32 = 4;
const PPPOE_HEADER_LEN: u32 = 6;
const VLAN_TPIDS: [u32; 3] = [0x8100, 0x88a8, 0x9100];

/// Which program an interface needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterKind {
    /// Frames start with an Ethernet header (Ethernet, loopback).
    Ethernet,
    /// Frames start with the IP header.
    RawIp,
}

/// The program for an interface kind.
pub fn program(kind: FilterKind) -> Vec<sock_filter> {
    match kind {
        FilterKind::RawIp => vec![ret(SNAP_LEN)],
        FilterKind::Ethernet => ethernet_program(),
    }
}

/// A label resolved when the program is assembled.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    Accept,
    Drop,
    /// Continue at the check of the EtherType behind `n` VLAN tags.
    Tags(u32),
    /// Check the PPP protocol behind `n` VLAN tags.
    Pppoe(u32),
}

enum Op {
    Load { size: u32, offset: u32 },
    JumpIfEqual { value: u32, then: Target },
    Goto(Target),
    Return(u32),
    Label(Target),
}

fn ethernet_program() -> Vec<sock_filter> {
    let mut ops = Vec::new();
    for tags in 0..=2u32 {
        let ethertype_at = ETHERTYPE_OFFSET + VLAN_TAG_LEN * tags;
        ops.push(Op::Label(Target::Tags(tags)));
        ops.push(Op::Load {
            size: libc::BPF_H,
            offset: ethertype_at,
        });
        ops.push(Op::JumpIfEqual {
            value: 0x0800,
            then: Target::Accept,
        });
        ops.push(Op::JumpIfEqual {
            value: 0x86dd,
            then: Target::Accept,
        });
        ops.push(Op::JumpIfEqual {
            value: 0x8864,
            then: Target::Pppoe(tags),
        });
        if tags < 2 {
            for tpid in VLAN_TPIDS {
                ops.push(Op::JumpIfEqual {
                    value: tpid,
                    then: Target::Tags(tags + 1),
                });
            }
        }
        ops.push(Op::Goto(Target::Drop));
    }
    for tags in 0..=2u32 {
        // The PPP protocol field follows the 6-byte PPPoE header; it may be compressed to one byte.
        let protocol_at = ETHERTYPE_OFFSET + VLAN_TAG_LEN * tags + 2 + PPPOE_HEADER_LEN;
        ops.push(Op::Label(Target::Pppoe(tags)));
        ops.push(Op::Load {
            size: libc::BPF_H,
            offset: protocol_at,
        });
        for protocol in [0x0021, 0x0057] {
            ops.push(Op::JumpIfEqual {
                value: protocol,
                then: Target::Accept,
            });
        }
        ops.push(Op::Load {
            size: libc::BPF_B,
            offset: protocol_at,
        });
        for protocol in [0x21, 0x57] {
            ops.push(Op::JumpIfEqual {
                value: protocol,
                then: Target::Accept,
            });
        }
        ops.push(Op::Goto(Target::Drop));
    }
    ops.push(Op::Label(Target::Drop));
    ops.push(Op::Return(0));
    ops.push(Op::Label(Target::Accept));
    ops.push(Op::Return(SNAP_LEN));
    assemble(&ops)
}

/// Resolve labels into the relative jumps of classic BPF.
fn assemble(ops: &[Op]) -> Vec<sock_filter> {
    let mut positions = Vec::new();
    let mut pc = 0usize;
    for op in ops {
        match op {
            Op::Label(target) => positions.push((*target, pc)),
            _ => pc += 1,
        }
    }
    let position_of = |target: Target, from: usize| -> u32 {
        let to = positions
            .iter()
            .find(|(t, _)| *t == target)
            .map(|(_, at)| *at)
            .unwrap_or_else(|| unreachable!("every target is labelled"));
        assert!(to > from, "classic BPF only jumps forward");
        (to - from - 1) as u32
    };
    let mut program = Vec::new();
    for op in ops {
        let pc = program.len();
        let instruction = match op {
            Op::Label(_) => continue,
            Op::Load { size, offset } => stmt(libc::BPF_LD | size | libc::BPF_ABS, *offset),
            Op::Return(value) => ret(*value),
            Op::Goto(target) => stmt(libc::BPF_JMP | libc::BPF_JA, position_of(*target, pc)),
            Op::JumpIfEqual { value, then } => {
                let jt = position_of(*then, pc);
                sock_filter {
                    code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
                    jt: u8::try_from(jt).unwrap_or_else(|_| unreachable!("program is short")),
                    jf: 0,
                    k: *value,
                }
            }
        };
        program.push(instruction);
    }
    program
}

fn stmt(code: u32, k: u32) -> sock_filter {
    sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn ret(value: u32) -> sock_filter {
    stmt(libc::BPF_RET | libc::BPF_K, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A classic BPF interpreter for the instructions this module emits, to test the program
    /// without a kernel. Out-of-bounds loads drop the frame, as the kernel does.
    fn run(program: &[sock_filter], frame: &[u8]) -> u32 {
        let mut accumulator = 0u32;
        let mut pc = 0usize;
        loop {
            let insn = program[pc];
            let code = u32::from(insn.code);
            match code {
                c if c == libc::BPF_LD | libc::BPF_H | libc::BPF_ABS => {
                    let at = insn.k as usize;
                    let Some(bytes) = frame.get(at..at + 2) else {
                        return 0;
                    };
                    accumulator = u32::from(u16::from_be_bytes([bytes[0], bytes[1]]));
                }
                c if c == libc::BPF_LD | libc::BPF_B | libc::BPF_ABS => {
                    let Some(byte) = frame.get(insn.k as usize) else {
                        return 0;
                    };
                    accumulator = u32::from(*byte);
                }
                c if c == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K => {
                    let skip = if accumulator == insn.k {
                        insn.jt
                    } else {
                        insn.jf
                    };
                    pc += usize::from(skip);
                }
                c if c == libc::BPF_JMP | libc::BPF_JA => pc += insn.k as usize,
                c if c == libc::BPF_RET | libc::BPF_K => return insn.k,
                other => panic!("unexpected instruction {other:#x}"),
            }
            pc += 1;
        }
    }

    fn ethernet(ethertypes: &[u16], rest: &[u8]) -> Vec<u8> {
        let mut frame = vec![0u8; 12];
        for (i, ethertype) in ethertypes.iter().enumerate() {
            frame.extend_from_slice(&ethertype.to_be_bytes());
            if i + 1 < ethertypes.len() {
                frame.extend_from_slice(&[0, 7]); // VLAN TCI
            }
        }
        frame.extend_from_slice(rest);
        frame.resize(frame.len().max(64), 0);
        frame
    }

    #[test]
    fn keeps_ip_behind_zero_one_or_two_tags_and_truncates_it() {
        let program = program(FilterKind::Ethernet);
        assert!(program.len() < 100);
        for stack in [
            &[0x0800][..],
            &[0x86dd],
            &[0x8100, 0x0800],
            &[0x88a8, 0x8100, 0x86dd],
            &[0x9100, 0x9100, 0x0800],
        ] {
            assert_eq!(
                run(&program, &ethernet(stack, &[0x45])),
                SNAP_LEN,
                "{stack:x?}"
            );
        }
    }

    #[test]
    fn keeps_pppoe_sessions_carrying_ip_with_either_protocol_field_width() {
        let program = program(FilterKind::Ethernet);
        let pppoe_header = [0x11, 0x00, 0x00, 0x01, 0x00, 0x40];
        for (stack, protocol) in [
            (&[0x8864][..], &[0x00, 0x21][..]),
            (&[0x8864], &[0x00, 0x57]),
            (&[0x8864], &[0x21]),
            (&[0x8100, 0x8864], &[0x57]),
            (&[0x8100, 0x88a8, 0x8864], &[0x00, 0x21]),
        ] {
            let mut rest = pppoe_header.to_vec();
            rest.extend_from_slice(protocol);
            rest.push(0x45);
            assert_eq!(
                run(&program, &ethernet(stack, &rest)),
                SNAP_LEN,
                "{stack:x?}"
            );
        }
        let mut lcp = pppoe_header.to_vec();
        lcp.extend_from_slice(&[0xc0, 0x21]);
        assert_eq!(
            run(&program, &ethernet(&[0x8864], &lcp)),
            0,
            "LCP is not IP"
        );
    }

    #[test]
    fn drops_everything_else() {
        let program = program(FilterKind::Ethernet);
        for stack in [
            &[0x0806][..],                     // ARP
            &[0x88cc],                         // LLDP
            &[0x8863],                         // PPPoE discovery
            &[0x8100, 0x0806],                 // tagged ARP
            &[0x8100, 0x8100, 0x8100, 0x0800], // a third tag
            &[0x0040],                         // 802.3 length field
        ] {
            assert_eq!(run(&program, &ethernet(stack, &[])), 0, "{stack:x?}");
        }
        assert_eq!(run(&program, &[0u8; 10]), 0, "too short for an EtherType");
    }

    #[test]
    fn raw_ip_interfaces_only_truncate() {
        let program = program(FilterKind::RawIp);
        assert_eq!(run(&program, &[0x45, 0, 0, 20]), SNAP_LEN);
        assert_eq!(run(&program, &[0x60]), SNAP_LEN);
        assert_eq!(
            run(&program, &[0x15]),
            SNAP_LEN,
            "malformed is counted, not hidden"
        );
    }
}
