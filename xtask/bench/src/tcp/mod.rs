//! `tcp`: one bulk transfer over one connection, Duet against smoltcp 0.14.
//!
//! The shape, the same for every stack ([`interleaved`] drives each through
//! [`StackPair`]):
//!
//! - Two stacks, a client and a server, on the in-memory Ethernet link of
//!   [`crate::link`]: IP MTU 1500, software checksums on both ends, no faults.
//! - One connection; 64 KiB send and receive buffers on each socket.
//! - The client's application copies the [`pattern`] stream into its socket
//!   from a 64 KiB staging buffer it fills as it goes; the server's
//!   application copies out of its socket into a 64 KiB buffer and checks
//!   every byte. Each iteration: the client writes as much as fits, both
//!   stacks poll (client, then server), the server reads and verifies all it
//!   has, the clock advances.
//! - The clock is virtual and advances a fixed [`TICK_US`] per iteration, as
//!   if a device polled its stack at 10 kHz. Both stacks see the same clock, so
//!   their timers (delayed ACK, retransmission) fire after the same number of
//!   iterations; jumping to each stack's next deadline instead would make the
//!   iteration count depend on what deadlines a stack asks for.
//! - Figures cover the data transfer only (from both ends ESTABLISHED to the
//!   last byte verified): CPU time is `getrusage` user+sys, so it includes the
//!   harness's own share (pattern, verification, link), which is the same for
//!   every stack, and which the `stack=floor` detail line measures alone
//!   ([`floor`]: the applications' copies through a plain buffer, no stack); MB/s is bytes over wall time (1 MB = 10^6 bytes); ACKs per
//!   data segment counts frames on the link.
//! - The stacks take turns ([`interleaved`]): each has its own connection,
//!   and they move their bytes in [`SLICES`] slices, smoltcp's first, Duet's
//!   first, the floor's first, smoltcp's second, and so on; a stack's
//!   CPU-s/GiB is its median slice's. Run one after another, whole, on a
//!   shared virtual machine (2026-11-23), the same binary gave smoltcp
//!   0.28–0.41 CPU-s/GiB from run to run and the ratio 0.91–1.23: a
//!   neighbour's load lasting a second or two fell on one stack's run.
//!   Taking turns puts such a spell on a slice of each stack instead, and
//!   the median leaves it out.

mod duet;
mod floor;
mod smoltcp_pair;

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use crate::cpu;
use crate::link::{Counts, Link};
use crate::pattern::{self, Mismatch};

/// Virtual time per loop iteration, in microseconds.
pub const TICK_US: u64 = 100;

/// Send and receive buffer of each socket, and the applications' staging
/// buffers.
pub const BUFFER_LEN: usize = 64 * 1024;

/// The bench's addresses: a private /24 (RFC 1918), locally administered
/// unicast MACs (IEEE 802 bit 1 of the first octet set, bit 0 clear).
pub const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
pub const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
pub const CLIENT_IPV4: [u8; 4] = [10, 0, 0, 1];
pub const SERVER_IPV4: [u8; 4] = [10, 0, 0, 2];
pub const PREFIX_LEN: u8 = 24;
pub const CLIENT_PORT: u16 = 49152;
pub const SERVER_PORT: u16 = 5001;

/// Virtual time the handshake (ARP, SYN, SYN-ACK, ACK) may take.
const HANDSHAKE_LIMIT_US: u64 = 10_000_000;
/// Virtual time without a byte delivered after which the run is declared
/// stuck. Far past any retransmission timeout a lossless link could cause.
const STALL_LIMIT_US: u64 = 60_000_000;

const GIB: f64 = (1u64 << 30) as f64;

/// A stack's complaint, in its own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackError(pub String);

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Two instances of one stack, client and server, wired to a [`Link`]: what
/// a stack implements to be measured by [`interleaved`].
///
/// The client connects from [`CLIENT_IPV4`]:[`CLIENT_PORT`] (MAC
/// [`CLIENT_MAC`]) to the server listening on
/// [`SERVER_IPV4`]:[`SERVER_PORT`] (MAC [`SERVER_MAC`]), both /[`PREFIX_LEN`],
/// each socket with [`BUFFER_LEN`]-byte send and receive buffers, checksums
/// computed and verified in software. All memory is set up in the
/// constructor: nothing here may allocate per call.
pub trait StackPair: Sized {
    /// The stack's name in output lines.
    const NAME: &'static str;

    /// Makes both stacks. `link` is the link [`poll`](Self::poll) will be
    /// given, for stacks that want a device at construction.
    fn new(link: &mut Link) -> Result<Self, StackError>;

    /// Starts the connection: the server listens, the client sends its SYN
    /// (on a later [`poll`](Self::poll) if the stack works that way).
    fn open(&mut self, now_us: u64) -> Result<(), StackError>;

    /// Whether both ends are ESTABLISHED (RFC 9293 section 3.3.2).
    fn established(&mut self) -> bool;

    /// Lets the client, then the server, take in every frame the link holds
    /// for it and send everything it has to send, at virtual time `now_us`.
    /// Frames go out through [`Link::end`] with the stack's
    /// [`Side`](crate::link::Side).
    fn poll(&mut self, now_us: u64, link: &mut Link);

    /// Copies as much of `data` as the client socket's send buffer takes;
    /// returns how much, 0 when it is full.
    fn client_send(&mut self, data: &[u8]) -> Result<usize, StackError>;

    /// Copies what the server socket has received, up to `buf.len()` bytes,
    /// into `buf`; returns how much, 0 when there is nothing.
    fn server_recv(&mut self, buf: &mut [u8]) -> Result<usize, StackError>;
}

/// Why a run did not finish.
#[derive(Debug)]
pub enum Error {
    Stack {
        stack: &'static str,
        error: StackError,
    },
    /// The connection was not ESTABLISHED within [`HANDSHAKE_LIMIT_US`].
    Handshake {
        stack: &'static str,
    },
    /// No byte arrived for [`STALL_LIMIT_US`].
    Stalled {
        stack: &'static str,
        received: u64,
    },
    /// The server read a byte that was never sent there.
    Corrupt {
        stack: &'static str,
        mismatch: Mismatch,
    },
    /// The server read more than the client sent.
    TooMuch {
        stack: &'static str,
        received: u64,
        sent: u64,
    },
    Cpu(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Stack { stack, error } => write!(f, "{stack}: {error}"),
            Error::Handshake { stack } => {
                write!(f, "{stack}: no connection after {HANDSHAKE_LIMIT_US} µs")
            }
            Error::Stalled { stack, received } => write!(
                f,
                "{stack}: stalled after {received} bytes, nothing for {STALL_LIMIT_US} µs"
            ),
            Error::Corrupt { stack, mismatch } => write!(f, "{stack}: {mismatch}"),
            Error::TooMuch {
                stack,
                received,
                sent,
            } => write!(f, "{stack}: received {received} bytes, {sent} sent"),
            Error::Cpu(error) => write!(f, "getrusage: {error}"),
        }
    }
}

impl std::error::Error for Error {}

/// What one stack's run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub stack: &'static str,
    pub bytes: u64,
    pub cpu: Duration,
    pub wall: Duration,
    pub counts: Counts,
    /// CPU-seconds per GiB of each slice of the transfer, in order.
    pub slices: Vec<f64>,
}

impl Figures {
    /// The median slice's CPU-seconds per GiB (the mean of the middle two
    /// for an even count), or the whole transfer's without slices.
    pub fn cpu_s_per_gib(&self) -> f64 {
        let mut sorted = self.slices.clone();
        sorted.sort_by(f64::total_cmp);
        match sorted.len() {
            0 => self.cpu.as_secs_f64() / (self.bytes as f64 / GIB),
            n if n % 2 == 1 => sorted[n / 2],
            n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        }
    }

    /// The cheapest and the dearest slice, CPU-seconds per GiB.
    pub fn slice_range(&self) -> (f64, f64) {
        if self.slices.is_empty() {
            return (0.0, 0.0);
        }
        let cheapest = self.slices.iter().copied().fold(f64::INFINITY, f64::min);
        let dearest = self.slices.iter().copied().fold(0.0, f64::max);
        (cheapest, dearest)
    }

    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.wall.as_secs_f64()
    }

    pub fn acks_per_data_segment(&self) -> f64 {
        if self.counts.data_segments == 0 {
            return 0.0;
        }
        self.counts.pure_acks as f64 / self.counts.data_segments as f64
    }
}

/// The client application: produces the stream into a staging buffer and
/// copies it into the socket.
struct Sender {
    stage: Vec<u8>,
    /// Stream offset of `stage[0]`.
    stage_offset: u64,
    stage_len: usize,
    sent: u64,
    total: u64,
}

impl Sender {
    fn new(total: u64) -> Self {
        Sender {
            stage: vec![0; BUFFER_LEN],
            stage_offset: 0,
            stage_len: 0,
            sent: 0,
            total,
        }
    }

    /// Writes into the client socket until it is full or all is sent.
    fn send<P: StackPair>(&mut self, pair: &mut P) -> Result<(), StackError> {
        while self.sent < self.total {
            let mut staged = (self.sent - self.stage_offset) as usize;
            if staged == self.stage_len {
                self.stage_offset = self.sent;
                self.stage_len = BUFFER_LEN.min((self.total - self.sent) as usize);
                pattern::fill(self.stage_offset, &mut self.stage[..self.stage_len]);
                staged = 0;
            }
            let written = pair.client_send(&self.stage[staged..self.stage_len])?;
            if written == 0 {
                break;
            }
            self.sent += written as u64;
        }
        Ok(())
    }
}

/// Slices each stack's transfer is cut into by [`interleaved`].
pub const SLICES: u64 = 16;

/// One stack's transfer in progress: the pair, its link, both
/// applications, and what has been measured so far. [`Transfer::advance`]
/// moves it on slice by slice, so several stacks can take turns.
struct Transfer<P> {
    pair: P,
    link: Link,
    sender: Sender,
    inbox: Vec<u8>,
    now_us: u64,
    last_arrival_us: u64,
    /// What has been measured; its `bytes` are those verified so far.
    figures: Figures,
}

impl<P: StackPair> Transfer<P> {
    /// Makes the pair and connects it; the measurement starts from here,
    /// both ends ESTABLISHED.
    fn open(bytes: u64) -> Result<Self, Error> {
        let stack = P::NAME;
        let stack_error = |error| Error::Stack { stack, error };
        let mut link = Link::new();
        let mut pair = P::new(&mut link).map_err(stack_error)?;
        let mut now_us = 0;
        pair.open(now_us).map_err(stack_error)?;
        while !pair.established() {
            if now_us > HANDSHAKE_LIMIT_US {
                return Err(Error::Handshake { stack });
            }
            pair.poll(now_us, &mut link);
            now_us += TICK_US;
        }
        link.reset_counts();
        Ok(Transfer {
            pair,
            link,
            sender: Sender::new(bytes),
            inbox: vec![0u8; BUFFER_LEN],
            now_us,
            last_arrival_us: now_us,
            figures: Figures {
                stack,
                bytes: 0,
                cpu: Duration::ZERO,
                wall: Duration::ZERO,
                counts: Counts::default(),
                slices: Vec::new(),
            },
        })
    }

    /// Runs the loop until the server has verified `until` bytes (or all
    /// there are), and adds the time it took as one slice.
    fn advance(&mut self, until: u64) -> Result<(), Error> {
        let stack = P::NAME;
        let stack_error = |error| Error::Stack { stack, error };
        let until = until.min(self.sender.total);
        let start = self.figures.bytes;
        let cpu_before = cpu::process_time().map_err(Error::Cpu)?;
        let wall_before = Instant::now();
        while self.figures.bytes < until {
            self.sender.send(&mut self.pair).map_err(stack_error)?;
            self.pair.poll(self.now_us, &mut self.link);
            loop {
                let read = self
                    .pair
                    .server_recv(&mut self.inbox)
                    .map_err(stack_error)?;
                if read == 0 {
                    break;
                }
                pattern::verify(self.figures.bytes, &self.inbox[..read])
                    .map_err(|mismatch| Error::Corrupt { stack, mismatch })?;
                self.figures.bytes += read as u64;
                self.last_arrival_us = self.now_us;
            }
            if self.now_us - self.last_arrival_us > STALL_LIMIT_US {
                return Err(Error::Stalled {
                    stack,
                    received: self.figures.bytes,
                });
            }
            self.now_us += TICK_US;
        }
        let wall = wall_before.elapsed();
        let cpu = cpu::process_time()
            .map_err(Error::Cpu)?
            .saturating_sub(cpu_before);
        if self.figures.bytes > self.sender.sent {
            return Err(Error::TooMuch {
                stack,
                received: self.figures.bytes,
                sent: self.sender.sent,
            });
        }
        let moved = self.figures.bytes - start;
        let figures = &mut self.figures;
        figures.cpu += cpu;
        figures.wall += wall;
        figures.counts = self.link.counts();
        if moved > 0 {
            figures
                .slices
                .push(cpu.as_secs_f64() / (moved as f64 / GIB));
        }
        Ok(())
    }
}

/// Moves `bytes` through smoltcp, through Duet and through the stackless
/// [`floor`], each on its own connection, in [`SLICES`] turns: smoltcp's
/// first slice, Duet's, the floor's, smoltcp's second, and so on. A
/// neighbour on a shared host that slows the machine for a second or two
/// then slows a slice of each stack, not one stack's whole run, and each
/// stack's median slice ([`Figures::cpu_s_per_gib`]) leaves such slices out.
pub fn interleaved(bytes: u64) -> Result<[Figures; 3], Error> {
    let mut smoltcp = Transfer::<smoltcp_pair::SmoltcpPair>::open(bytes)?;
    let mut duet = Transfer::<duet::DuetPair>::open(bytes)?;
    let mut floor = Transfer::<floor::Floor>::open(bytes)?;
    for slice in 1..=SLICES {
        // The last slice takes what division left over.
        let until = if slice == SLICES {
            bytes
        } else {
            bytes / SLICES * slice
        };
        smoltcp.advance(until)?;
        duet.advance(until)?;
        floor.advance(until)?;
    }
    Ok([smoltcp.figures, duet.figures, floor.figures])
}

/// One stack's figures: `bench tcp-detail stack=<name> ...`.
pub fn detail_line(figures: &Figures) -> String {
    let (cheapest, dearest) = figures.slice_range();
    format!(
        "bench tcp-detail stack={} cpu_s_per_gib={:.3} mb_per_s={:.1} \
         acks_per_data_segment={:.3} data_segments={} pure_acks={} bytes={} \
         cpu_s={:.3} wall_s={:.3} slices={} slice_cpu_s_per_gib_min={cheapest:.3} \
         slice_cpu_s_per_gib_max={dearest:.3}",
        figures.stack,
        figures.cpu_s_per_gib(),
        figures.mb_per_s(),
        figures.acks_per_data_segment(),
        figures.counts.data_segments,
        figures.counts.pure_acks,
        figures.bytes,
        figures.cpu.as_secs_f64(),
        figures.wall.as_secs_f64(),
        figures.slices.len(),
    )
}

/// The summary: `bench tcp duet_cpu_s_per_gib=<x> smoltcp_cpu_s_per_gib=<y>
/// ratio=<x/y>`.
pub fn summary_line(duet: &Figures, smoltcp: &Figures) -> String {
    let anchor = smoltcp.cpu_s_per_gib();
    format!(
        "bench tcp duet_cpu_s_per_gib={:.3} smoltcp_cpu_s_per_gib={anchor:.3} ratio={:.3}",
        duet.cpu_s_per_gib(),
        duet.cpu_s_per_gib() / anchor,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Moves `bytes` through a new pair of stack `P` in one slice.
    fn run<P: StackPair>(bytes: u64) -> Result<Figures, Error> {
        let mut transfer = Transfer::<P>::open(bytes)?;
        transfer.advance(bytes)?;
        Ok(transfer.figures)
    }

    fn figures(stack: &'static str, cpu_ms: u64) -> Figures {
        Figures {
            stack,
            bytes: 4 << 30,
            cpu: Duration::from_millis(cpu_ms),
            wall: Duration::from_millis(2_000),
            counts: Counts {
                data_segments: 1000,
                pure_acks: 250,
                other_frames: 3,
            },
            slices: Vec::new(),
        }
    }

    #[test]
    fn lines_have_the_documented_format() {
        let mut smoltcp = figures("smoltcp", 2_200);
        smoltcp.slices = vec![0.6, 0.55, 0.5];
        let duet = figures("duet", 1_100);
        assert_eq!(
            summary_line(&duet, &smoltcp),
            "bench tcp duet_cpu_s_per_gib=0.275 smoltcp_cpu_s_per_gib=0.550 ratio=0.500"
        );
        assert_eq!(
            detail_line(&smoltcp),
            "bench tcp-detail stack=smoltcp cpu_s_per_gib=0.550 mb_per_s=2147.5 \
             acks_per_data_segment=0.250 data_segments=1000 pure_acks=250 bytes=4294967296 \
             cpu_s=2.200 wall_s=2.000 slices=3 slice_cpu_s_per_gib_min=0.500 \
             slice_cpu_s_per_gib_max=0.600"
        );
    }

    #[test]
    fn a_stack_costs_its_median_slice_so_one_slow_slice_does_not_move_it() {
        let mut stack = figures("duet", 1_100);
        stack.slices = vec![0.30, 0.31, 0.90, 0.29, 0.30];
        assert_eq!(stack.cpu_s_per_gib(), 0.30);
        stack.slices = vec![0.30, 0.90, 0.29, 0.32];
        assert!((stack.cpu_s_per_gib() - 0.31).abs() < 1e-12);
        assert_eq!(stack.slice_range(), (0.29, 0.90));
    }

    #[test]
    fn taking_turns_moves_every_stream_whole_in_every_slice() {
        let bytes = 3_000_017;
        for figures in interleaved(bytes).unwrap() {
            assert_eq!(figures.bytes, bytes, "{}", figures.stack);
            assert_eq!(figures.slices.len() as u64, SLICES, "{}", figures.stack);
        }
    }

    #[test]
    fn no_data_segments_means_no_acks_per_segment_rather_than_nan() {
        let mut idle = figures("smoltcp", 1);
        idle.counts = Counts::default();
        assert_eq!(idle.acks_per_data_segment(), 0.0);
    }

    #[test]
    fn smoltcp_moves_a_short_stream_intact() {
        // A few windows' worth, not at an even multiple of anything, so the
        // last write is short.
        let bytes = 1_000_003;
        let figures = run::<smoltcp_pair::SmoltcpPair>(bytes).unwrap();
        assert_eq!(figures.bytes, bytes);
        // 1460-byte segments at most: at least this many carried data.
        assert!(figures.counts.data_segments >= bytes.div_ceil(1460));
        assert!(figures.counts.pure_acks > 0);
    }

    /// A stack that hands the server what the client sent, with one byte
    /// changed: the loop must report the corruption, not count it.
    #[derive(Debug, Default)]
    struct Corrupting {
        pipe: std::collections::VecDeque<u8>,
        delivered: u64,
    }

    impl StackPair for Corrupting {
        const NAME: &'static str = "corrupting";

        fn new(_link: &mut Link) -> Result<Self, StackError> {
            Ok(Self::default())
        }

        fn open(&mut self, _now_us: u64) -> Result<(), StackError> {
            Ok(())
        }

        fn established(&mut self) -> bool {
            true
        }

        fn poll(&mut self, _now_us: u64, _link: &mut Link) {}

        fn client_send(&mut self, data: &[u8]) -> Result<usize, StackError> {
            let room = BUFFER_LEN - self.pipe.len();
            let taken = room.min(data.len());
            self.pipe.extend(&data[..taken]);
            Ok(taken)
        }

        fn server_recv(&mut self, buf: &mut [u8]) -> Result<usize, StackError> {
            let count = buf.len().min(self.pipe.len());
            for (i, slot) in buf[..count].iter_mut().enumerate() {
                let byte = self.pipe.pop_front().unwrap_or_default();
                let offset = self.delivered + i as u64;
                *slot = if offset == 100_000 { byte ^ 0x80 } else { byte };
            }
            self.delivered += count as u64;
            Ok(count)
        }
    }

    #[test]
    fn the_loop_reports_a_corrupted_byte_with_its_offset() {
        let error = run::<Corrupting>(200_000).unwrap_err();
        assert!(
            matches!(error, Error::Corrupt { mismatch, .. } if mismatch.offset == 100_000),
            "{error}"
        );
        let fine = run::<Corrupting>(99_999).unwrap();
        assert_eq!(fine.bytes, 99_999);
    }
}
