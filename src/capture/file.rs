//! Capture files (classic pcap and pcapng) → frames, by the rules of `pcaps/README.md` section 1.
//!
//! The file is streamed: one record or block is in memory at a time, so a multi-gigabyte capture
//! costs a few hundred kilobytes. pcap-parser decodes the file header and each record or block.
//! Framing, the sanity limits and the few places where pcap-parser differs from the rules are
//! ours, and each is marked where it happens:
//! - pcap-parser accepts the "modified" (Kuznetzov) pcap magic; the rules reject it.
//! - It rejects a pcapng block whose trailing length differs from the leading one; the rules never
//!   look at the trailing length, so our copy of the block gets the leading length in both places.
//! - It decodes `if_tsresol` with the high bit set (2^n ticks per second) as invalid and reads
//!   `if_tsoffset` as little-endian whatever the section's byte order, so both options are decoded
//!   here from the option list it parses.
//! - It has no parser for the obsolete Packet Block (type 2), which the rules count.

use std::fmt;
use std::io::{self, Read};

use pcap_parser::pcap::{parse_pcap_frame, parse_pcap_frame_be, parse_pcap_header};
use pcap_parser::pcapng::{
    parse_enhancedpacketblock_be, parse_enhancedpacketblock_le, parse_interfacedescriptionblock_be,
    parse_interfacedescriptionblock_le, parse_sectionheaderblock, parse_simplepacketblock_be,
    parse_simplepacketblock_le,
};
use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::{OptionCode, PcapNGOption};

use crate::count::Frame;
use crate::parse::{FrameMeta, LinkType};

/// libpcap's and Wireshark's largest captured length; a larger one means the file is damaged.
pub const MAX_CAPLEN: u32 = 262_144;
/// Largest pcapng block we buffer; larger packet or interface blocks end the reading.
const MAX_BUFFERED_BLOCK: u32 = 16 * 1024 * 1024;

const PCAP_HEADER_LEN: usize = 24;
const PCAP_RECORD_HEADER_LEN: usize = 16;
const SHB_TYPE: u32 = 0x0a0d_0d0a;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
const IDB_TYPE: u32 = 1;
const PB_TYPE: u32 = 2;
const SPB_TYPE: u32 = 3;
const EPB_TYPE: u32 = 6;
const BLOCK_MIN_LEN: u32 = 12;
const PB_HEADER_LEN: usize = 28;
const SPB_HEADER_LEN: u32 = 16;

/// One packet record.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    pub link: LinkType,
    pub data: &'a [u8],
    /// `orig_len`, raised to the captured length when a record claims less (R1.4).
    pub wire_len: u32,
    pub unix_second: i64,
}

impl<'a> Record<'a> {
    /// The frame the counter takes: a file carries no direction hint and no stripped tag.
    pub fn frame(&self) -> Frame<'a> {
        Frame {
            link: self.link,
            data: self.data,
            meta: FrameMeta {
                wire_len: self.wire_len,
                ..FrameMeta::default()
            },
            unix_second: self.unix_second,
        }
    }
}

/// What a read found besides the packets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureInfo {
    /// The file's link type (pcap) or its first interface's (pcapng).
    pub linktype: Option<u32>,
    /// Every packet record read, including ones pointing at a missing interface (malformed).
    pub packets_total: u64,
    /// Why reading stopped before the end of the file, when it did (R1.3); what came before counts.
    pub stopped_early: Option<String>,
}

/// Why a file could not be counted at all.
#[derive(Debug)]
pub enum FileErrorKind {
    /// Reading failed (not a truncation: a real I/O error).
    Io(io::Error),
    /// Neither pcap nor pcapng, or a kind we do not read (R1.1).
    UnsupportedFormat,
    /// An interface of a link type the counter does not know (R2.1).
    UnsupportedLinktype(u32),
}

/// A capture that produced no counts, with the link type read before the failure.
#[derive(Debug)]
pub struct FileError {
    pub kind: FileErrorKind,
    pub linktype: Option<u32>,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            FileErrorKind::Io(error) => write!(f, "read error: {error}"),
            FileErrorKind::UnsupportedFormat => {
                f.write_str("unsupported or unreadable file format")
            }
            FileErrorKind::UnsupportedLinktype(linktype) => {
                write!(f, "unsupported linktype {linktype}")
            }
        }
    }
}

impl std::error::Error for FileError {}

/// Read a pcap or pcapng stream, handing every packet record with a known interface to `visit`.
///
/// # Errors
/// When the stream is not a capture we read, has an unsupported link type, or an I/O error occurs.
/// On error nothing should be kept of what `visit` saw: the rules count such a file as a whole or
/// not at all (R2.1).
pub fn read_capture<R: Read>(
    mut input: R,
    mut visit: impl FnMut(&Record<'_>),
) -> Result<CaptureInfo, FileError> {
    let mut header = [0u8; PCAP_HEADER_LEN];
    let got = read_full(&mut input, &mut header).map_err(io_error(None))?;
    if got >= 4 && u32::from_le_bytes([header[0], header[1], header[2], header[3]]) == SHB_TYPE {
        return Pcapng::new().read(&header[..got], input, &mut visit);
    }
    if got < PCAP_HEADER_LEN {
        return Err(unsupported_format(None));
    }
    read_pcap(&header, input, &mut visit)
}

fn read_pcap<R: Read>(
    header_bytes: &[u8; PCAP_HEADER_LEN],
    mut input: R,
    visit: &mut impl FnMut(&Record<'_>),
) -> Result<CaptureInfo, FileError> {
    let header = match parse_pcap_header(header_bytes) {
        // pcap-parser reads the Kuznetzov "modified" format too; R1.1 does not.
        Ok((_, header)) if !header.is_modified_format() => header,
        _ => return Err(unsupported_format(None)),
    };
    // The upper 16 bits carry FCS and reserved flags (R1.2).
    let linktype = (header.network.0 as u32) & 0xffff;
    let mut info = CaptureInfo {
        linktype: Some(linktype),
        ..CaptureInfo::default()
    };
    let link = LinkType::from_dlt(linktype).ok_or(FileError {
        kind: FileErrorKind::UnsupportedLinktype(linktype),
        linktype: Some(linktype),
    })?;
    let big_endian = header.is_bigendian();
    let frac_per_second: u64 = if header.is_nanosecond_precision() {
        1_000_000_000
    } else {
        1_000_000
    };
    let mut record = vec![0u8; PCAP_RECORD_HEADER_LEN];
    loop {
        record.resize(PCAP_RECORD_HEADER_LEN, 0);
        let got = read_full(&mut input, &mut record).map_err(io_error(info.linktype))?;
        if got == 0 {
            return Ok(info);
        }
        if got < PCAP_RECORD_HEADER_LEN {
            return Ok(stop(info, "the last record header is cut off"));
        }
        let caplen = u32_at(&record, 8, big_endian);
        if caplen > MAX_CAPLEN {
            let why = format!("a record claims {caplen} captured bytes (damaged from there on)");
            return Ok(stop(info, &why));
        }
        record.resize(PCAP_RECORD_HEADER_LEN + caplen as usize, 0);
        let got = read_full(&mut input, &mut record[PCAP_RECORD_HEADER_LEN..])
            .map_err(io_error(info.linktype))?;
        if got < caplen as usize {
            return Ok(stop(info, "the last record is cut off"));
        }
        let parsed = if big_endian {
            parse_pcap_frame_be(&record)
        } else {
            parse_pcap_frame(&record)
        };
        let Ok((_, frame)) = parsed else {
            return Ok(stop(info, "a record could not be decoded"));
        };
        info.packets_total += 1;
        let unix_second =
            i64::from(frame.ts_sec) + (u64::from(frame.ts_usec) / frac_per_second) as i64;
        visit(&Record {
            link,
            data: frame.data,
            wire_len: frame.origlen.max(frame.caplen),
            unix_second,
        });
    }
}

/// An interface of the current pcapng section.
#[derive(Clone, Copy, Debug)]
struct Interface {
    link: LinkType,
    /// Timestamp ticks per second; `None` when the resolution exceeds what 128 bits can hold.
    ticks_per_second: Option<u128>,
    offset_seconds: i64,
}

struct Pcapng {
    info: CaptureInfo,
    interfaces: Vec<Interface>,
    big_endian: bool,
    block: Vec<u8>,
}

enum Step {
    Continue,
    Stop(String),
}

impl Pcapng {
    fn new() -> Pcapng {
        Pcapng {
            info: CaptureInfo::default(),
            interfaces: Vec::new(),
            big_endian: false,
            block: Vec::new(),
        }
    }

    fn read<R: Read>(
        mut self,
        already_read: &[u8],
        input: R,
        visit: &mut impl FnMut(&Record<'_>),
    ) -> Result<CaptureInfo, FileError> {
        let mut input = io::Cursor::new(already_read.to_vec()).chain(input);
        let mut first = true;
        loop {
            let mut head = [0u8; 12];
            let got =
                read_full(&mut input, &mut head[..8]).map_err(io_error(self.info.linktype))?;
            if got == 0 && !first {
                return Ok(self.info);
            }
            if got < 8 {
                return self.end(first, "the last block header is cut off");
            }
            let block_type = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
            let mut header_len = 8;
            if block_type == SHB_TYPE {
                // A new section may switch byte order: its length is read in the order it declares.
                let got = read_full(&mut input, &mut head[8..12])
                    .map_err(io_error(self.info.linktype))?;
                if got < 4 {
                    return self.end(first, "the last section header is cut off");
                }
                header_len = 12;
                match u32::from_le_bytes([head[8], head[9], head[10], head[11]]) {
                    BYTE_ORDER_MAGIC => self.big_endian = false,
                    magic if magic == BYTE_ORDER_MAGIC.swap_bytes() => self.big_endian = true,
                    _ => return self.end(first, "a section header has no valid byte-order magic"),
                }
            } else if first {
                return Err(unsupported_format(None));
            }
            let block_type = if self.big_endian && block_type != SHB_TYPE {
                block_type.swap_bytes()
            } else {
                block_type
            };
            let block_len = u32_at(&head, 4, self.big_endian);
            if block_len < BLOCK_MIN_LEN
                || !block_len.is_multiple_of(4)
                || block_len < header_len as u32
            {
                return self.end(first, "a block has an impossible length");
            }
            let wanted = matches!(
                block_type,
                SHB_TYPE | IDB_TYPE | PB_TYPE | SPB_TYPE | EPB_TYPE
            );
            if !wanted {
                let rest = u64::from(block_len) - header_len as u64;
                let skipped = io::copy(&mut (&mut input).take(rest), &mut io::sink())
                    .map_err(io_error(self.info.linktype))?;
                if skipped < rest {
                    return self.end(first, "the last block is cut off");
                }
                continue;
            }
            if block_len > MAX_BUFFERED_BLOCK {
                return self.end(first, "a block is larger than any real capture block");
            }
            self.block.clear();
            self.block.extend_from_slice(&head[..header_len]);
            // Grow with the data actually read, so a lying length costs no memory.
            let rest = u64::from(block_len) - header_len as u64;
            let got = (&mut input)
                .take(rest)
                .read_to_end(&mut self.block)
                .map_err(io_error(self.info.linktype))?;
            if (got as u64) < rest {
                return self.end(first, "the last block is cut off");
            }
            // pcap-parser insists that the trailing length repeats the leading one; the rules
            // never read it, so our copy is made to agree.
            let trailer = block_len as usize - 4;
            let leading: [u8; 4] = [head[4], head[5], head[6], head[7]];
            self.block[trailer..].copy_from_slice(&leading);
            let step = match block_type {
                SHB_TYPE => self.section(),
                IDB_TYPE => self.interface()?,
                EPB_TYPE => self.enhanced_packet(visit),
                SPB_TYPE => self.simple_packet(visit),
                _ => self.obsolete_packet(visit),
            };
            match step {
                Step::Continue => {}
                Step::Stop(why) => return self.end(first, &why),
            }
            first = false;
        }
    }

    /// Reading ends: before the first valid section that means "not a pcapng file" (R1.1),
    /// after it the rest of the file is not counted (R1.3).
    fn end(self, first: bool, why: &str) -> Result<CaptureInfo, FileError> {
        if first {
            Err(unsupported_format(None))
        } else {
            Ok(stop(self.info, why))
        }
    }

    fn section(&mut self) -> Step {
        match parse_sectionheaderblock(&self.block) {
            Ok((_, shb)) if shb.major_version == 1 => {
                self.interfaces.clear();
                Step::Continue
            }
            _ => Step::Stop("a section header is not valid".into()),
        }
    }

    fn interface(&mut self) -> Result<Step, FileError> {
        let parsed = if self.big_endian {
            parse_interfacedescriptionblock_be(&self.block)
        } else {
            parse_interfacedescriptionblock_le(&self.block)
        };
        let Ok((_, idb)) = parsed else {
            return Ok(Step::Stop("an interface description is cut short".into()));
        };
        let linktype = u32::from(idb.linktype.0 as u16);
        self.info.linktype.get_or_insert(linktype);
        let link = LinkType::from_dlt(linktype).ok_or(FileError {
            kind: FileErrorKind::UnsupportedLinktype(linktype),
            linktype: self.info.linktype,
        })?;
        let (ticks_per_second, offset_seconds) = timestamp_options(&idb.options, self.big_endian);
        self.interfaces.push(Interface {
            link,
            ticks_per_second,
            offset_seconds,
        });
        Ok(Step::Continue)
    }

    fn enhanced_packet(&mut self, visit: &mut impl FnMut(&Record<'_>)) -> Step {
        let parsed = if self.big_endian {
            parse_enhancedpacketblock_be(&self.block)
        } else {
            parse_enhancedpacketblock_le(&self.block)
        };
        let Ok((_, epb)) = parsed else {
            return Step::Stop("a packet block is shorter than its captured length".into());
        };
        if epb.caplen > MAX_CAPLEN {
            return Step::Stop(format!(
                "a packet claims {} captured bytes (damaged from there on)",
                epb.caplen
            ));
        }
        self.info.packets_total += 1;
        let Some(interface) = self.interfaces.get(epb.if_id as usize) else {
            return no_such_interface(visit);
        };
        let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
        let data = epb.packet_data();
        visit(&Record {
            link: interface.link,
            data,
            wire_len: epb.origlen.max(epb.caplen),
            unix_second: interface.unix_second(ticks),
        });
        Step::Continue
    }

    fn simple_packet(&mut self, visit: &mut impl FnMut(&Record<'_>)) -> Step {
        let parsed = if self.big_endian {
            parse_simplepacketblock_be(&self.block)
        } else {
            parse_simplepacketblock_le(&self.block)
        };
        let Ok((_, spb)) = parsed else {
            return Step::Stop("a simple packet block is cut short".into());
        };
        let room = spb.block_len1.saturating_sub(SPB_HEADER_LEN);
        let caplen = spb.origlen.min(room);
        if caplen > MAX_CAPLEN {
            return Step::Stop(format!(
                "a packet claims {caplen} captured bytes (damaged from there on)"
            ));
        }
        self.info.packets_total += 1;
        let Some(interface) = self.interfaces.first() else {
            return no_such_interface(visit);
        };
        let data = spb.data.get(..caplen as usize).unwrap_or(spb.data);
        // A Simple Packet Block has no timestamp: R6.1 puts it at the epoch.
        visit(&Record {
            link: interface.link,
            data,
            wire_len: spb.origlen.max(caplen),
            unix_second: 0,
        });
        Step::Continue
    }

    /// The obsolete Packet Block (type 2), which pcap-parser does not decode:
    /// interface id u16, drops u16, timestamp high and low u32, caplen u32, orig_len u32, data.
    fn obsolete_packet(&mut self, visit: &mut impl FnMut(&Record<'_>)) -> Step {
        let block = &self.block;
        if block.len() < PB_HEADER_LEN + 4 {
            return Step::Stop("a packet block is cut short".into());
        }
        let interface_id = u16_at(block, 8, self.big_endian);
        let ticks = (u64::from(u32_at(block, 12, self.big_endian)) << 32)
            | u64::from(u32_at(block, 16, self.big_endian));
        let caplen = u32_at(block, 20, self.big_endian);
        let origlen = u32_at(block, 24, self.big_endian);
        if caplen as usize > block.len() - PB_HEADER_LEN - 4 {
            return Step::Stop("a packet block is shorter than its captured length".into());
        }
        if caplen > MAX_CAPLEN {
            return Step::Stop(format!(
                "a packet claims {caplen} captured bytes (damaged from there on)"
            ));
        }
        self.info.packets_total += 1;
        let Some(interface) = self.interfaces.get(usize::from(interface_id)) else {
            return no_such_interface(visit);
        };
        visit(&Record {
            link: interface.link,
            data: &block[PB_HEADER_LEN..PB_HEADER_LEN + caplen as usize],
            wire_len: origlen.max(caplen),
            unix_second: interface.unix_second(ticks),
        });
        Step::Continue
    }
}

/// A packet naming an interface the section never described: its link layer, and so where its IP
/// header starts, is unknown, so it is malformed (counted, not silently lost). It is handed on as
/// an empty raw-IP packet, which every counter counts as malformed (R2: "an empty packet makes
/// the packet malformed"); its time is never read.
fn no_such_interface(visit: &mut impl FnMut(&Record<'_>)) -> Step {
    visit(&Record {
        link: LinkType::RawIp,
        data: &[],
        wire_len: 0,
        unix_second: 0,
    });
    Step::Continue
}

impl Interface {
    /// `floor(T / R) + if_tsoffset` (R6.1).
    fn unix_second(&self, ticks: u64) -> i64 {
        let whole = match self.ticks_per_second {
            // A 1-tick-per-second interface can count past i64::MAX seconds: saturate, not wrap.
            Some(per_second) => i64::try_from(u128::from(ticks) / per_second).unwrap_or(i64::MAX),
            None => 0,
        };
        whole.saturating_add(self.offset_seconds)
    }
}

/// `if_tsresol` and `if_tsoffset` from the options pcap-parser found. Its option parsing stops
/// at the first malformed option, so earlier options still apply; `opt_endofopt` ends the list.
/// A repeated option overrides the earlier one.
fn timestamp_options(options: &[PcapNGOption<'_>], big_endian: bool) -> (Option<u128>, i64) {
    let mut resolution = None;
    let mut offset = 0;
    for option in options {
        let Ok(value) = option.as_bytes() else {
            break;
        };
        match option.code {
            OptionCode::EndOfOpt => break,
            OptionCode::IfTsresol => resolution = value.first().copied().or(resolution),
            OptionCode::IfTsoffset => {
                if let Some(bytes) = value.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                    offset = if big_endian {
                        i64::from_be_bytes(bytes)
                    } else {
                        i64::from_le_bytes(bytes)
                    };
                }
            }
            _ => {}
        }
    }
    let ticks_per_second = match resolution {
        None => Some(1_000_000),
        Some(code) if code & 0x80 != 0 => 1u128.checked_shl(u32::from(code & 0x7f)),
        Some(code) => 10u128.checked_pow(u32::from(code)),
    };
    (ticks_per_second, offset)
}

fn stop(mut info: CaptureInfo, why: &str) -> CaptureInfo {
    info.stopped_early = Some(why.to_string());
    info
}

fn unsupported_format(linktype: Option<u32>) -> FileError {
    FileError {
        kind: FileErrorKind::UnsupportedFormat,
        linktype,
    }
}

fn io_error(linktype: Option<u32>) -> impl Fn(io::Error) -> FileError {
    move |error| FileError {
        kind: FileErrorKind::Io(error),
        linktype,
    }
}

/// Fill `buf` as far as the stream allows; the count tells a clean end from a cut-off record.
fn read_full<R: Read>(input: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

fn u32_at(bytes: &[u8], at: usize, big_endian: bool) -> u32 {
    let raw = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
    if big_endian {
        u32::from_be_bytes(raw)
    } else {
        u32::from_le_bytes(raw)
    }
}

fn u16_at(bytes: &[u8], at: usize, big_endian: bool) -> u16 {
    let raw = [bytes[at], bytes[at + 1]];
    if big_endian {
        u16::from_be_bytes(raw)
    } else {
        u16::from_le_bytes(raw)
    }
}
