//! The TCP control block (RFC 9293 §3.3.1 "Transmission Control Block") and
//! what the application can ask of it.
//!
//! A `TcpSocket` holds no buffer of its own: its send and receive rings live
//! in the stack's TCP memory ([`BufferRegion`]) and are lent to it per call,
//! so the socket is a small fixed-size value the caller stores in an array.
//! Segment arrival is in `input.rs`, segment departure in `output.rs`, timers
//! in `timer.rs`.

use core::net::IpAddr;

use crate::endpoint::IpEndpoint;
use crate::socket::waker::WakerSlot;
use crate::tcp::assembler::Assembler;
use crate::tcp::congestion::{Algorithm, Congestion};
use crate::tcp::ring::RingState;
use crate::tcp::rtt::{RtoBounds, RttEstimator};
use crate::tcp::rtt_source::RttSource;
use crate::tcp::sack::Scoreboard;
use crate::tcp::seq::SeqNumber;
use crate::time::{Duration, Instant};

/// Connection states (RFC 9293 §3.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TcpState {
    #[default]
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

impl TcpState {
    /// Past the three-way handshake (RFC 9293 calls these "synchronized").
    pub fn is_synchronized(self) -> bool {
        !matches!(
            self,
            TcpState::Closed | TcpState::Listen | TcpState::SynSent | TcpState::SynReceived
        )
    }
}

/// Why a TCP call failed or a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TcpError {
    /// Not possible in the socket's state (e.g. send before connect).
    InvalidState,
    /// The peer reset the connection.
    ConnectionReset,
    /// The peer refused the connection (RST to our SYN).
    ConnectionRefused,
    /// Retransmissions, keepalives or the user timeout gave up.
    TimedOut,
    /// No socket slot, port or buffer memory is free.
    NoResources,
    /// The route, ARP or interface refused the connection's first segment.
    Unreachable,
}

impl core::fmt::Display for TcpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            TcpError::InvalidState => "not possible in the connection's state",
            TcpError::ConnectionReset => "connection reset by peer",
            TcpError::ConnectionRefused => "connection refused",
            TcpError::TimedOut => "connection timed out",
            TcpError::NoResources => "no free TCP socket, port or buffer memory",
            TcpError::Unreachable => "destination unreachable",
        })
    }
}

impl core::error::Error for TcpError {}

/// So TCP sockets can implement `embedded_io` and `embedded_io_async`.
impl embedded_io::Error for TcpError {
    fn kind(&self) -> embedded_io::ErrorKind {
        use embedded_io::ErrorKind;
        match self {
            TcpError::InvalidState => ErrorKind::NotConnected,
            TcpError::ConnectionReset => ErrorKind::ConnectionReset,
            TcpError::ConnectionRefused => ErrorKind::ConnectionRefused,
            TcpError::TimedOut => ErrorKind::TimedOut,
            TcpError::NoResources => ErrorKind::OutOfMemory,
            TcpError::Unreachable => ErrorKind::AddrNotAvailable,
        }
    }
}

/// Stack-wide TCP tunables.
#[derive(Debug, Clone)]
pub struct TcpConfig {
    pub rto: RtoBounds,
    /// How long TIME-WAIT lasts (2 × MSL; RFC 9293 suggests MSL = 2 min,
    /// small devices and Linux use less).
    pub time_wait: Duration,
    /// Longest an ACK is delayed (RFC 9293 §3.8.6.3: under 0.5 s).
    pub delayed_ack: Duration,
    pub congestion: Algorithm,
    /// Retransmissions of one segment before the connection is dropped.
    pub max_retransmissions: u8,
    /// Offer window scaling (RFC 7323 §2).
    pub window_scaling: bool,
    /// Offer timestamps (RFC 7323 §3).
    pub timestamps: bool,
    /// Offer selective acknowledgements (RFC 2018).
    pub sack: bool,
    /// Keepalive probes sent before an idle peer is declared gone.
    pub keepalive_probes: u8,
    /// Challenge ACKs per second, stack-wide (RFC 5961 §7).
    pub challenge_acks_per_second: u32,
    /// Answer a SYN for a listener whose backlog or memory is full with a
    /// SYN cookie (RFC 4987 §3.6) instead of dropping it: the connection
    /// is made when the peer's ACK returns the cookie, taking the place of
    /// a half-open one if need be, so a SYN flood cannot keep peers that
    /// complete the handshake out. Such a connection has no window
    /// scaling, SACK or timestamps (a cookie has no room for them). Off by
    /// default: a listener then drops the SYN and the peer retries.
    #[cfg(feature = "syn-cookies")]
    pub syn_cookies: bool,
}

impl Default for TcpConfig {
    fn default() -> Self {
        Self {
            rto: RtoBounds::default(),
            time_wait: Duration::from_secs(30),
            delayed_ack: Duration::from_millis(40),
            congestion: Algorithm::NewReno,
            max_retransmissions: 12,
            window_scaling: true,
            timestamps: true,
            sack: true,
            keepalive_probes: 9,
            challenge_acks_per_second: 100,
            #[cfg(feature = "syn-cookies")]
            syn_cookies: false,
        }
    }
}

/// Where a socket's rings live in the stack's TCP memory: the receive ring at
/// `offset`, the send ring right after it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BufferRegion {
    pub offset: u32,
    pub rx_len: u32,
    pub tx_len: u32,
}

impl BufferRegion {
    pub fn end(&self) -> usize {
        (self.offset + self.rx_len + self.tx_len) as usize
    }

    /// Splits the socket's part of `memory` into (receive, send) storage.
    /// Always inlined: a few times per segment, and the call costs more
    /// than the two range checks.
    #[inline(always)]
    pub fn split<'m>(&self, memory: &'m mut [u8]) -> (&'m mut [u8], &'m mut [u8]) {
        let region = &mut memory[self.offset as usize..self.end()];
        region.split_at_mut(self.rx_len as usize)
    }
}

/// An instant or nothing in 4 bytes (`Option<Instant>` takes 16): the
/// control block keeps five of these (RFC 9293 §3.8 timers and the times
/// they measure from), one set per connection.
///
/// Milliseconds on a 32-bit clock that wraps every 49.7 days, compared by
/// wrapping difference, so a stamp means what it says within ±24 days of
/// `now` — far beyond any TCP timer. 0 means unset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Stamp(u32);

/// `now` on the stamps' 32-bit millisecond clock.
fn stamp_clock(now: Instant) -> u32 {
    now.as_millis() as u32
}

/// The instant `delta` milliseconds from `now_millis` (never before 0).
fn instant_from_delta(now_millis: u64, delta: i32) -> Instant {
    Instant::from_millis((now_millis as i64 + i64::from(delta)).max(0) as u64)
}

impl Stamp {
    pub const UNSET: Stamp = Stamp(0);

    /// `at`, rounded up to the millisecond so a timer never fires early (the
    /// one millisecond in 49.7 days that maps to 0 is stored 1 ms late).
    pub fn at(at: Instant) -> Stamp {
        let millis = crate::time::div_by_1000(at.as_micros().saturating_add(999));
        Stamp((millis as u32).max(1))
    }

    /// The stamp as an instant, read near `now`.
    pub fn get(self, now: Instant) -> Option<Instant> {
        let now_millis = now.as_millis();
        Some(instant_from_delta(now_millis, self.delta(now_millis)?))
    }

    /// The earliest of `stamps` as an instant, read near `now`: one
    /// conversion of the clock to milliseconds and one back, where a
    /// [`get`](Self::get) per stamp pays a 64-bit division each.
    pub fn earliest(stamps: &[Stamp], now: Instant) -> Option<Instant> {
        let now_millis = now.as_millis();
        let delta = stamps.iter().filter_map(|s| s.delta(now_millis)).min()?;
        Some(instant_from_delta(now_millis, delta))
    }

    /// Milliseconds from `now_millis` to the stamp (negative once past),
    /// if set.
    fn delta(self, now_millis: u64) -> Option<i32> {
        (self.0 != 0).then(|| self.0.wrapping_sub(now_millis as u32) as i32)
    }

    pub fn is_set(self) -> bool {
        self.0 != 0
    }

    /// The stored word, for a field that shares its storage
    /// (`rtt_source.rs`); `from_raw` gives it back.
    pub fn raw(self) -> u32 {
        self.0
    }

    pub fn from_raw(raw: u32) -> Stamp {
        Stamp(raw)
    }

    /// Set, and at or before `now`.
    pub fn reached(self, now: Instant) -> bool {
        self.0 != 0 && stamp_clock(now).wrapping_sub(self.0) as i32 >= 0
    }
}

/// A duration or nothing, in whole seconds (rounded up) in 2 bytes: the
/// keepalive interval and the user timeout, which RFC 1122 §4.2.3.6 and RFC
/// 5482 §3 count in seconds too. 0 means none; up to 18 hours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Interval(u16);

impl Interval {
    pub const NONE: Interval = Interval(0);

    pub fn new(duration: Option<Duration>) -> Interval {
        Interval(duration.map_or(0, |d| {
            d.as_millis().div_ceil(1000).clamp(1, u64::from(u16::MAX)) as u16
        }))
    }

    pub fn get(self) -> Option<Duration> {
        (self.0 != 0).then(|| Duration::from_secs(u64::from(self.0)))
    }
}

/// The two window scale shift counts (RFC 7323 §2), each at most 14, in one
/// byte: the peer's (`send`, applied to windows it advertises) and ours
/// (`receive`, applied to windows we advertise).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct WindowScales(u8);

impl WindowScales {
    pub const NONE: WindowScales = WindowScales(0);

    pub fn send(self) -> u8 {
        self.0 & 0x0f
    }
    pub fn receive(self) -> u8 {
        self.0 >> 4
    }
    pub fn set_send(&mut self, shift: u8) {
        self.0 = (self.0 & 0xf0) | shift.min(14);
    }
    pub fn set_receive(&mut self, shift: u8) {
        self.0 = (self.0 & 0x0f) | (shift.min(14) << 4);
    }
}

/// `TcpSocket::listener` of a socket no listener created; listeners have
/// indices below it.
pub(crate) const NO_LISTENER: u8 = u8::MAX;

/// Counters of one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TcpSocketStats {
    pub segments_in: u32,
    pub segments_out: u32,
    pub retransmissions: u32,
    /// Loss recoveries entered by duplicate ACKs or SACK.
    pub fast_recoveries: u32,
}

/// Per-connection switches, packed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Flags(u16);

impl Flags {
    /// Negotiated RFC 7323 timestamps.
    pub const TIMESTAMPS: u16 = 1 << 0;
    /// Negotiated SACK.
    pub const SACK: u16 = 1 << 1;
    /// Negotiated window scaling (both sides sent the option).
    pub const WINDOW_SCALE: u16 = 1 << 2;
    /// Nagle's algorithm off (RFC 9293 §3.7.4).
    pub const NO_DELAY: u16 = 1 << 3;
    /// The application closed its sending side: a FIN follows the data.
    pub const FIN_QUEUED: u16 = 1 << 4;
    /// An ACK must go out at the next opportunity.
    pub const ACK_NOW: u16 = 1 << 5;
    /// The application aborted: one RST goes out, then Closed.
    pub const RST_QUEUED: u16 = 1 << 6;
    /// In loss recovery (RFC 6675 / RFC 6582).
    pub const RECOVERY: u16 = 1 << 7;
    /// The persist timer allowed one byte into a zero window.
    pub const WINDOW_PROBE: u16 = 1 << 8;
    /// A keepalive probe is owed.
    pub const KEEPALIVE_PROBE: u16 = 1 << 9;
    /// The first unacknowledged segment must be resent: the fast
    /// retransmit, and without SACK a partial ACK's retransmission.
    pub const RETRANSMIT_HEAD: u16 = 1 << 10;
    /// Created by a listener and not yet accepted.
    pub const UNACCEPTED: u16 = 1 << 11;
    /// Created by a listener (passive open): an RST in SYN-RECEIVED frees it.
    pub const PASSIVE: u16 = 1 << 12;
    /// The retransmission timer holds a probe timeout (RFC 8985 §7.2), not an RTO.
    pub const PTO_ARMED: u16 = 1 << 13;
    /// A tail loss probe is owed (RFC 8985 §7.3).
    pub const PROBE_DUE: u16 = 1 << 14;
    /// The application let go of the socket; the stack frees it once the
    /// connection has closed.
    pub const ORPHAN: u16 = 1 << 15;

    pub fn has(self, flag: u16) -> bool {
        self.0 & flag != 0
    }
    pub fn set(&mut self, flag: u16, on: bool) {
        if on {
            self.0 |= flag;
        } else {
            self.0 &= !flag;
        }
    }
}

/// One TCP connection's state. Create with [`TcpSocket::EMPTY`]; the stack
/// assigns its memory when it is opened.
#[derive(Debug, Clone)]
pub struct TcpSocket {
    pub(crate) state: TcpState,
    pub(crate) flags: Flags,
    /// Why the connection ended, for the application's next call.
    pub(crate) error: Option<TcpError>,
    // The two endpoints, as four fields rather than two `IpEndpoint`s: the
    // 17-byte addresses then share their padding with the one-byte fields
    // below, 4 bytes less per connection.
    pub(crate) local_addr: IpAddr,
    pub(crate) remote_addr: IpAddr,
    pub(crate) local_port: u16,
    pub(crate) remote_port: u16,
    pub(crate) buffers: BufferRegion,
    pub(crate) rx: RingState,
    pub(crate) tx: RingState,
    pub(crate) assembler: Assembler,

    // Send sequence space (RFC 9293 §3.3.1); ISS is `snd_una` while the SYN
    // is unacknowledged (see `syn_unacked`).
    pub(crate) snd_una: SeqNumber,
    pub(crate) snd_nxt: SeqNumber,
    /// Highest sequence number sent; `snd_nxt` goes back below it after a
    /// retransmission timeout.
    pub(crate) snd_max: SeqNumber,
    /// Peer's window, scaled (RFC 7323 §2.3).
    pub(crate) snd_wnd: u32,
    /// Largest window field the peer sent, in its scaled units (the SYN's
    /// unscaled window rounded up to them): MAX.SND.WND of RFC 5961 §5.2 in
    /// two bytes instead of four (see `max_snd_wnd`).
    pub(crate) max_window_field: u16,
    pub(crate) snd_wl1: SeqNumber,
    pub(crate) snd_mss: u16,
    pub(crate) wscale: WindowScales,

    // Receive sequence space.
    pub(crate) rcv_nxt: SeqNumber,
    /// Right edge of the window last advertised; it never moves left
    /// (RFC 9293 §3.8.6.2.2).
    pub(crate) rcv_adv: SeqNumber,

    pub(crate) scoreboard: Scoreboard,
    pub(crate) rtt: RttEstimator,
    /// RFC 7323 timestamps or the one timed segment (`rtt_source.rs`).
    pub(crate) rtt_source: RttSource,
    pub(crate) congestion: Congestion,
    /// RFC 6582's "recover": the highest sequence sent when recovery began.
    pub(crate) recover: SeqNumber,
    /// Next sequence the SACK recovery may retransmit from (RFC 6675 HighRxt).
    pub(crate) rexmit_nxt: SeqNumber,
    /// SND.MAX when the latest retransmission of this recovery left: data at
    /// or above it was sent later, so once enough of it is SACKed, a hole the
    /// retransmission was to fill means the retransmission itself was lost.
    pub(crate) rexmit_fence: SeqNumber,
    pub(crate) dup_acks: u8,
    /// Consecutive retransmission timeouts of the oldest segment.
    pub(crate) retransmits: u8,
    pub(crate) keepalive_probes: u8,

    // Timers.
    pub(crate) rto_at: Stamp,
    pub(crate) ack_at: Stamp,
    /// TIME-WAIT end or keepalive, depending on state.
    pub(crate) idle_at: Stamp,
    /// When the oldest unacknowledged data was first sent (user timeout).
    pub(crate) unacked_since: Stamp,
    pub(crate) keepalive: Interval,
    pub(crate) user_timeout: Interval,
    /// Full-sized segments received since the last ACK we sent.
    pub(crate) unacked_segments: u8,
    /// The listener (index) that created this socket, or [`NO_LISTENER`].
    pub(crate) listener: u8,

    pub(crate) stats: TcpSocketStats,
    pub(crate) rx_waker: WakerSlot,
    pub(crate) tx_waker: WakerSlot,
}

// The bound on the control block without buffers, on every target
// (no field holds a pointer): 256 bytes with NewReno alone and polled
// sockets. CUBIC adds its state (`cubic`, 20 bytes) and async sockets two
// wakers (`async`, 16 on thumbv7em); `cargo xtask footprint` prints both
// sizes (`size_of duet_netstack::tcp::TcpSocket`, and `features=default`:
// 292 bytes).
#[cfg(not(any(feature = "cubic", feature = "async")))]
const _: () = assert!(core::mem::size_of::<TcpSocket>() <= 256);

impl TcpSocket {
    /// An unused socket.
    pub const EMPTY: TcpSocket = TcpSocket {
        state: TcpState::Closed,
        flags: Flags(0),
        error: None,
        local_addr: IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED),
        remote_addr: IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED),
        local_port: 0,
        remote_port: 0,
        buffers: BufferRegion {
            offset: 0,
            rx_len: 0,
            tx_len: 0,
        },
        rx: RingState::new(),
        tx: RingState::new(),
        assembler: Assembler::new(),
        snd_una: SeqNumber(0),
        snd_nxt: SeqNumber(0),
        snd_max: SeqNumber(0),
        snd_wnd: 0,
        max_window_field: 0,
        snd_wl1: SeqNumber(0),
        snd_mss: 536,
        wscale: WindowScales::NONE,
        rcv_nxt: SeqNumber(0),
        rcv_adv: SeqNumber(0),
        scoreboard: Scoreboard::new(),
        rtt: RttEstimator::UNSET,
        rtt_source: RttSource::EMPTY,
        congestion: Congestion::UNSET,
        recover: SeqNumber(0),
        rexmit_nxt: SeqNumber(0),
        rexmit_fence: SeqNumber(0),
        dup_acks: 0,
        retransmits: 0,
        keepalive_probes: 0,
        rto_at: Stamp::UNSET,
        ack_at: Stamp::UNSET,
        idle_at: Stamp::UNSET,
        unacked_since: Stamp::UNSET,
        keepalive: Interval::NONE,
        user_timeout: Interval::NONE,
        unacked_segments: 0,
        listener: NO_LISTENER,
        stats: TcpSocketStats {
            segments_in: 0,
            segments_out: 0,
            retransmissions: 0,
            fast_recoveries: 0,
        },
        rx_waker: WakerSlot::EMPTY,
        tx_waker: WakerSlot::EMPTY,
    };

    /// [`TcpSocket::EMPTY`] with every byte zero, for
    /// [`crate::TcpResources`], which can then live in `.bss`:
    /// `Stack::enable_tcp` sets each socket to `EMPTY` before use. Its
    /// values mean nothing (`Some` error, because `None` is not zero bits).
    pub(crate) const UNFORMATTED: TcpSocket = TcpSocket {
        error: Some(TcpError::InvalidState),
        snd_mss: 0,
        rtt: RttEstimator::UNFORMATTED,
        congestion: Congestion::UNFORMATTED,
        listener: 0,
        ..TcpSocket::EMPTY
    };

    /// The connection's state.
    pub fn state(&self) -> TcpState {
        self.state
    }

    pub fn local_endpoint(&self) -> IpEndpoint {
        IpEndpoint::new(self.local_addr, self.local_port)
    }

    pub fn remote_endpoint(&self) -> IpEndpoint {
        IpEndpoint::new(self.remote_addr, self.remote_port)
    }

    pub fn stats(&self) -> TcpSocketStats {
        self.stats
    }

    /// Bytes in the send ring (unacknowledged and unsent).
    pub(crate) fn tx_queued(&self) -> u32 {
        self.tx.len() as u32
    }

    /// Bytes in the receive ring, not yet read.
    pub(crate) fn rx_queued(&self) -> u32 {
        self.rx.len() as u32
    }

    /// Resets everything but the memory assignment, for a new connection.
    pub(crate) fn reset_for_open(
        &mut self,
        local: IpEndpoint,
        remote: IpEndpoint,
        config: &TcpConfig,
    ) {
        let buffers = self.buffers;
        let (keepalive, user_timeout, no_delay) = (
            self.keepalive,
            self.user_timeout,
            self.flags.has(Flags::NO_DELAY),
        );
        let (rx_waker, tx_waker) = (self.rx_waker.clone(), self.tx_waker.clone());
        *self = TcpSocket::EMPTY;
        self.buffers = buffers;
        (self.local_addr, self.local_port) = (local.addr, local.port);
        (self.remote_addr, self.remote_port) = (remote.addr, remote.port);
        self.keepalive = keepalive;
        self.user_timeout = user_timeout;
        self.flags.set(Flags::NO_DELAY, no_delay);
        self.rx_waker = rx_waker;
        self.tx_waker = tx_waker;
        self.rtt = RttEstimator::new(config.rto);
        self.congestion = Congestion::new(config.congestion, u32::from(self.snd_mss));
        // The smallest shift that lets the whole receive ring be advertised.
        let mut shift = 0u8;
        while shift < 14 && (self.buffers.rx_len >> shift) > 0xffff {
            shift += 1;
        }
        self.wscale
            .set_receive(if config.window_scaling { shift } else { 0 });
    }

    /// Moves to `state`, waking the application (state changes are events).
    pub(crate) fn set_state(&mut self, state: TcpState) {
        if self.state != state {
            self.state = state;
            self.rx_waker.wake();
            self.tx_waker.wake();
        }
    }

    /// Ends the connection with `error`, keeping the socket for the
    /// application to read the reason.
    pub(crate) fn terminate(&mut self, error: Option<TcpError>) {
        if error.is_some() {
            self.error = error;
        }
        self.rto_at = Stamp::UNSET;
        self.ack_at = Stamp::UNSET;
        self.idle_at = Stamp::UNSET;
        self.flags.set(Flags::ACK_NOW | Flags::FIN_QUEUED, false);
        self.set_state(TcpState::Closed);
    }

    /// The largest window the peer offered (RFC 5961 §5.2's MAX.SND.WND), in
    /// bytes.
    pub(crate) fn max_snd_wnd(&self) -> u32 {
        u32::from(self.max_window_field) << self.wscale.send()
    }

    /// Raises MAX.SND.WND to the current SND.WND if that is larger.
    pub(crate) fn note_max_send_window(&mut self) {
        let field = self.snd_wnd.div_ceil(1 << self.wscale.send());
        let field = u16::try_from(field).unwrap_or(u16::MAX);
        self.max_window_field = self.max_window_field.max(field);
    }

    /// True while our SYN is sent and not acknowledged. ISS is not stored:
    /// it is `snd_una` for exactly that long, and nothing needs it later.
    pub(crate) fn syn_unacked(&self) -> bool {
        matches!(self.state, TcpState::SynSent | TcpState::SynReceived)
    }

    /// Bytes of the send ring already sent but not acknowledged, and those
    /// not yet sent. The ring holds data from `snd_una` (after the SYN).
    pub(crate) fn send_offset(&self, seq: SeqNumber) -> u32 {
        ((seq - self.snd_una).max(0) as u32).saturating_sub(u32::from(self.syn_unacked()))
    }

    /// The receive window we can offer now: free ring space, never pulling
    /// the right edge back from what was already advertised.
    pub(crate) fn receive_window(&self) -> u32 {
        let free = self.buffers.rx_len - self.rx_queued();
        let advertised = (self.rcv_adv - self.rcv_nxt).max(0) as u32;
        free.max(advertised)
    }

    /// Panics if the control block contradicts itself: the sequence
    /// variables out of order, rings past their capacity, more in flight
    /// than the send ring holds, reassembly or SACK ranges outside the
    /// windows, or something outstanding with no timer to resend it. For
    /// tests and fuzzing; the engine never calls it.
    #[doc(hidden)]
    pub fn check_invariants(&self) {
        let (rx_len, tx_len) = (self.buffers.rx_len, self.buffers.tx_len);
        assert!(self.rx_queued() <= rx_len, "receive ring over capacity");
        assert!(self.tx_queued() <= tx_len, "send ring over capacity");
        if matches!(self.state, TcpState::Closed | TcpState::Listen) {
            assert!(!self.has_timer(), "a timer on a closed connection");
            return;
        }
        let (una, nxt, max) = (self.snd_una, self.snd_nxt, self.snd_max);
        assert!(
            una <= nxt && nxt <= max,
            "SND.UNA {una} SND.NXT {nxt} SND.MAX {max}"
        );
        // What was sent lies in the send ring (plus the FIN).
        assert!(
            self.send_offset(max) <= self.tx_queued() + 1,
            "{} bytes sent past SND.UNA, {} in the ring",
            self.send_offset(max),
            self.tx_queued()
        );
        assert!(
            self.snd_wnd <= self.max_snd_wnd(),
            "SND.WND above MAX.SND.WND"
        );
        // Loss recovery sends by the pipe, which counts on SND.NXT = SND.MAX.
        if self.flags.has(Flags::RECOVERY) {
            assert!(nxt == max, "in recovery with SND.NXT {nxt} < SND.MAX {max}");
        }
        // The advertised window never exceeded the ring.
        assert!(
            self.rcv_adv - self.rcv_nxt <= rx_len as i32,
            "RCV.ADV too far"
        );
        // Data held out of order fits in the ring's free space.
        let free = rx_len - self.rx_queued();
        for (start, end) in self.assembler.ranges() {
            assert!(
                start < end && end <= free,
                "reassembly range {start}..{end} of {free}"
            );
        }
        // SACKed ranges lie between SND.UNA and SND.MAX, ordered, apart.
        let mut previous_end = una;
        for (start, end) in self.scoreboard.ranges() {
            assert!(
                previous_end <= start && start < end && end <= max,
                "SACK {start}..{end}"
            );
            previous_end = end;
        }
        // Anything outstanding has a retransmission timer.
        if una != max {
            assert!(
                self.rto_at.is_set(),
                "{:?}: outstanding, no timer",
                self.state
            );
        }
        if self.state == TcpState::TimeWait {
            assert!(self.idle_at.is_set(), "TIME-WAIT without its timer");
        }
    }

    /// The window field to put in a segment: scaled, and capped to what the
    /// field and the scale can say.
    pub(crate) fn window_field(&self, syn: bool) -> u16 {
        let window = self.receive_window();
        let scaled = if syn {
            window
        } else {
            window >> self.wscale.receive()
        };
        scaled.min(0xffff) as u16
    }
}
