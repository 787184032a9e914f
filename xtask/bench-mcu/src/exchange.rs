//! The exchange measured, the same for every stack ([`run`] drives each
//! through [`StackPair`]); the shape of the host bench's `tcp` area
//! (`xtask/bench/src/tcp/mod.rs`), scaled to a microcontroller:
//!
//! - Two stacks, a client and a server, on the in-memory Ethernet link of
//!   [`crate::link`]: IP MTU 1500, software checksums on both ends.
//! - One connection; 16 KiB send and receive buffers on each socket.
//! - The client's application copies [`BYTES`] of the [`Pattern`] stream
//!   into its socket, straight from the pattern table; the server's copies
//!   out of its socket into a 16 KiB buffer and checks every byte. Each
//!   iteration: the client writes as much as fits, both stacks poll (client,
//!   then server), the server reads and verifies all it has, the clock
//!   advances.
//! - The clock is fake and advances a fixed [`TICK_US`] per iteration, as
//!   if the device polled its stacks at 10 kHz.
//! - The figure covers the data transfer only (from both ends ESTABLISHED
//!   to the last byte verified), in SysTick ticks ([`crate::ticks`]). The
//!   server's check of the data is timed on its own as well
//!   ([`Figures::verify_ticks`]): it is the bench's work, not the stack's or
//!   an application's, so the headline figure leaves it out. What remains
//!   is the stacks, the two application copies, the link (the frame
//!   queues and their counting, a few instructions per frame) and the loop.

use core::fmt;

use crate::link::{Counts, Link};
use crate::pattern::{Mismatch, Pattern};
use crate::ticks;

/// Bytes moved: 1 MiB.
pub const BYTES: u64 = 1 << 20;

/// Fake time per loop iteration, in microseconds.
pub const TICK_US: u64 = 100;

/// Send and receive buffer of each socket, and the server's read buffer.
pub const BUFFER_LEN: usize = 16 * 1024;

/// The bench's addresses: a private /24 (RFC 1918), locally administered
/// unicast MACs (IEEE 802 bit 1 of the first octet set, bit 0 clear).
pub const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
pub const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
pub const CLIENT_IPV4: [u8; 4] = [10, 0, 0, 1];
pub const SERVER_IPV4: [u8; 4] = [10, 0, 0, 2];
pub const PREFIX_LEN: u8 = 24;
pub const CLIENT_PORT: u16 = 49152;
pub const SERVER_PORT: u16 = 5001;

/// A byte buffer on a word boundary. The application buffers and smoltcp's
/// socket rings are put in these, so that the memcpy between them can take
/// its aligned path whenever the two offsets allow it; left to itself, a
/// `[u8; N]` static may land on any byte (Duet's rings live in its own
/// `TcpResources`, laid out by the engine).
#[derive(Debug)]
#[repr(C, align(4))]
pub struct Aligned<const N: usize>(pub [u8; N]);

impl<const N: usize> Aligned<N> {
    pub const ZERO: Self = Aligned([0; N]);
}

/// Fake time the handshake (ARP, SYN, SYN-ACK, ACK) may take.
const HANDSHAKE_LIMIT_US: u64 = 10_000_000;
/// Fake time without a byte delivered after which the run is declared stuck.
const STALL_LIMIT_US: u64 = 60_000_000;

/// Two instances of one stack, client and server, wired to a [`Link`]: what
/// a stack implements to be measured by [`run`].
///
/// The client connects from [`CLIENT_IPV4`]:[`CLIENT_PORT`] (MAC
/// [`CLIENT_MAC`]) to the server listening on [`SERVER_IPV4`]:[`SERVER_PORT`]
/// (MAC [`SERVER_MAC`]), both /[`PREFIX_LEN`], each socket with
/// [`BUFFER_LEN`]-byte send and receive buffers, checksums computed and
/// verified in software.
pub trait StackPair {
    /// The stack's name in output lines.
    const NAME: &'static str;

    /// What the stack complains with.
    type Error: fmt::Display;

    /// Starts the connection: the server listens, the client sends its SYN
    /// (on a later [`poll`](Self::poll) if the stack works that way).
    fn open(&mut self) -> Result<(), Self::Error>;

    /// Whether both ends are ESTABLISHED (RFC 9293 section 3.3.2).
    fn established(&mut self) -> bool;

    /// Lets the client, then the server, take in every frame the link holds
    /// for it and send everything it has to send, at fake time `now_us`.
    fn poll(&mut self, now_us: u64, link: &mut Link);

    /// Copies as much of `data` as the client socket's send buffer takes;
    /// returns how much, 0 when it is full.
    fn client_send(&mut self, data: &[u8]) -> Result<usize, Self::Error>;

    /// Copies what the server socket has received, up to `buf.len()` bytes,
    /// into `buf`; returns how much, 0 when there is nothing.
    fn server_recv(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error>;
}

/// Why a run did not finish.
#[derive(Debug)]
pub enum Error<E> {
    Stack(E),
    /// The connection was not ESTABLISHED within [`HANDSHAKE_LIMIT_US`].
    Handshake,
    /// No byte arrived for [`STALL_LIMIT_US`].
    Stalled {
        received: u64,
    },
    /// The server read a byte that was never sent there.
    Corrupt(Mismatch),
    /// The server read more than the client sent.
    TooMuch {
        received: u64,
        sent: u64,
    },
    /// A stack built frames the link could not carry (see
    /// [`Link::lost`]): the run would not be lossless.
    LostFrames(u32),
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Stack(error) => write!(f, "{error}"),
            Error::Handshake => write!(f, "no connection after {HANDSHAKE_LIMIT_US} us"),
            Error::Stalled { received } => write!(
                f,
                "stalled after {received} bytes, nothing for {STALL_LIMIT_US} us"
            ),
            Error::Corrupt(mismatch) => write!(
                f,
                "stream byte {} is {:#04x}, expected {:#04x}",
                mismatch.offset, mismatch.found, mismatch.expected
            ),
            Error::TooMuch { received, sent } => {
                write!(f, "received {received} bytes, {sent} sent")
            }
            Error::LostFrames(lost) => write!(f, "{lost} frames lost on the link"),
        }
    }
}

/// What one stack's run measured.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    pub bytes: u64,
    /// SysTick ticks the transfer took.
    pub ticks: u64,
    /// Of those, ticks spent checking the received data against the
    /// pattern (with the two timer reads around each check).
    pub verify_ticks: u64,
    /// Loop iterations (fake-clock steps) the transfer took.
    pub loops: u32,
    pub counts: Counts,
}

/// Moves [`BYTES`] through `pair` and measures it. `link` must be the one
/// the pair was made with.
pub fn run<P: StackPair>(
    pair: &mut P,
    link: &mut Link,
    pattern: &Pattern,
    inbox: &mut Aligned<BUFFER_LEN>,
) -> Result<Figures, Error<P::Error>> {
    let mut now_us = 0;
    pair.open().map_err(Error::Stack)?;
    while !pair.established() {
        if now_us > HANDSHAKE_LIMIT_US {
            return Err(Error::Handshake);
        }
        pair.poll(now_us, link);
        now_us += TICK_US;
    }
    link.reset_counts();

    let mut sent = 0u64;
    let mut received = 0u64;
    let mut last_arrival_us = now_us;
    let mut loops = 0u32;
    let mut verify_ticks = 0;
    let before = ticks::now();
    while received < BYTES {
        while sent < BYTES {
            let chunk = pattern.chunk(sent, (BYTES - sent) as usize);
            let written = pair.client_send(chunk).map_err(Error::Stack)?;
            if written == 0 {
                break;
            }
            sent += written as u64;
        }
        pair.poll(now_us, link);
        loop {
            let read = pair.server_recv(&mut inbox.0).map_err(Error::Stack)?;
            if read == 0 {
                break;
            }
            let verify_started = ticks::now();
            let verified = pattern.verify(received, &inbox.0[..read]);
            verify_ticks += ticks::now() - verify_started;
            verified.map_err(Error::Corrupt)?;
            received += read as u64;
            last_arrival_us = now_us;
        }
        if now_us - last_arrival_us > STALL_LIMIT_US {
            return Err(Error::Stalled { received });
        }
        now_us += TICK_US;
        loops += 1;
    }
    let ticks = ticks::now() - before;
    if received > sent {
        return Err(Error::TooMuch { received, sent });
    }
    if link.lost() > 0 {
        return Err(Error::LostFrames(link.lost()));
    }
    Ok(Figures {
        bytes: received,
        ticks,
        verify_ticks,
        loops,
        counts: link.counts(),
    })
}
