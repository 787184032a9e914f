//! TCP on the stack: connection demultiplexing, listeners with a backlog,
//! resets for strays (RFC 9293 §3.10.7.1), and the socket API.
//!
//! Sockets and their ring memory come from one caller-provided
//! [`TcpResources`]; a socket's rings are carved out of its byte arena when
//! the socket is opened and returned when it is removed.

use core::net::{IpAddr, Ipv4Addr};
use core::task::{Context, Poll};

use embassy_net_driver::{Driver, TxToken};

use super::Stack;
use super::egress::{TRANSPORT_OFFSET, transport_of};
use super::ingress::{Cast, Ipv4Meta};
use super::rate_limit::RateLimiter;
use crate::copy::copy_bytes;
use crate::endpoint::IpEndpoint;
use crate::socket::SendError;
use crate::stats::bump;
use crate::tcp::input::{InputEvents, Reaction, RstOutcome, Segment};
use crate::tcp::isn::IsnGenerator;
use crate::tcp::output::OutSegment;
use crate::tcp::ring::Ring;
use crate::tcp::seq::SeqNumber;
use crate::tcp::socket::{
    BufferRegion, Flags, Interval, NO_LISTENER, Stamp, TcpConfig, TcpError, TcpSocket,
    TcpSocketStats, TcpState,
};
#[cfg(feature = "syn-cookies")]
use crate::tcp::syn_cookie;
use crate::time::Duration;
use crate::wire::IpProtocol;
use crate::wire::checksum;
#[cfg(feature = "syn-cookies")]
use crate::wire::tcp::options::kind;
use crate::wire::tcp::{MAX_OPTIONS_LEN, TcpFlags, TcpPacket, parse_options};

/// Names one TCP socket of a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TcpHandle(pub(crate) u16);

/// Names one TCP listener of a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ListenerHandle(pub(crate) u16);

/// What a listener's backlog holds ([`Stack::tcp_backlog`]): the figures
/// `ss -lt` shows for a Linux listener, to watch a SYN flood or an
/// application that accepts too slowly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Backlog {
    /// Connections whose handshake is under way (SYN-RECEIVED).
    pub half_open: u16,
    /// Connections established and waiting for [`Stack::tcp_accept`].
    pub ready: u16,
}

/// A listening port and the connections it may hold unaccepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    port: u16,
    backlog: u16,
    rx_len: u32,
    tx_len: u32,
}

impl Listener {
    const UNUSED: Listener = Listener {
        port: 0,
        backlog: 0,
        rx_len: 0,
        tx_len: 0,
    };
}

/// What became of a segment no connection claimed.
enum Unclaimed {
    /// Taken (a SYN a listener queued or answered), or dropped.
    Done,
    /// Answered with a reset: `<SEQ=seq>`, and `<ACK=ack>` when given.
    Reset {
        seq: SeqNumber,
        ack: Option<SeqNumber>,
    },
    /// An ACK that returned a SYN cookie: the connection it made.
    #[cfg(feature = "syn-cookies")]
    FromCookie(usize),
}

/// Memory for `SOCKETS` TCP sockets (control blocks and listeners) and
/// `BYTES` of ring space shared among them.
#[derive(Debug)]
pub struct TcpResources<const SOCKETS: usize, const BYTES: usize> {
    sockets: [TcpSocket; SOCKETS],
    in_use: [bool; SOCKETS],
    listeners: [Listener; SOCKETS],
    memory: [u8; BYTES],
}

impl<const S: usize, const B: usize> TcpResources<S, B> {
    /// Every byte zero, so a firmware can keep the resources in `.bss`
    /// (`static_cell::ConstStaticCell`) instead of building them (the rings
    /// are most of them) on its stack; [`Stack::enable_tcp`] formats the
    /// control blocks before use.
    pub const fn new() -> Self {
        Self {
            sockets: [TcpSocket::UNFORMATTED; S],
            in_use: [false; S],
            listeners: [Listener::UNUSED; S],
            memory: [0; B],
        }
    }
}

impl<const S: usize, const B: usize> Default for TcpResources<S, B> {
    fn default() -> Self {
        Self::new()
    }
}

/// The stack's TCP part: empty until [`Stack::enable_tcp`].
#[derive(Debug)]
pub(crate) struct TcpPart<'a> {
    sockets: &'a mut [TcpSocket],
    in_use: &'a mut [bool],
    listeners: &'a mut [Listener],
    memory: &'a mut [u8],
    isn: IsnGenerator,
    challenge_acks: RateLimiter,
    pub config: TcpConfig,
    /// Where a segment's options are composed before its frame is taken
    /// (the frame's length depends on theirs). Kept here, as a local buffer
    /// would be zeroed for every segment sent.
    options: [u8; MAX_OPTIONS_LEN],
}

impl TcpPart<'_> {
    /// The receive fast path, for the common segment: in-order data for a
    /// connection that holds nothing out of order. Its payload is copied
    /// into the receive ring's free space at RCV.NXT while its checksum is
    /// summed, one pass instead of two; returns the connection's index, how
    /// much was placed and the whole payload's [`checksum::native_sum`]. The
    /// bytes stay uncommitted:
    /// if the checksum fails, or the connection refuses the segment, they
    /// are free space as before (nothing else was held there). `None` for
    /// any other segment, which is checksummed and copied the usual way.
    fn place_in_order(
        &mut self,
        tcp: &TcpPacket<&[u8]>,
        local: IpEndpoint,
        remote: IpEndpoint,
    ) -> Option<(usize, usize, u64)> {
        let payload = tcp.payload();
        if payload.is_empty() || tcp.flags().intersects(TcpFlags::SYN | TcpFlags::RST) {
            return None;
        }
        let index = self.find_connection(local, remote)?;
        let socket = &mut self.sockets[index];
        let receiving = matches!(
            socket.state,
            TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2
        );
        if !receiving || tcp.seq_number() != socket.rcv_nxt || !socket.assembler.is_empty() {
            return None;
        }
        let (rx_storage, _) = socket.buffers.split(self.memory);
        let (count, sum) =
            Ring::new(&mut socket.rx, rx_storage).write_unallocated_summing(0, payload);
        // What did not fit (the ring is full) is summed on its own.
        let sum = match &payload[count..] {
            [] => sum,
            rest => checksum::join_native_sums(sum, count, checksum::native_sum(rest)),
        };
        Some((index, count, sum))
    }

    pub fn empty(config: TcpConfig) -> Self {
        Self {
            sockets: &mut [],
            in_use: &mut [],
            listeners: &mut [],
            memory: &mut [],
            isn: IsnGenerator::new([0; 16]),
            challenge_acks: RateLimiter::new(
                config.challenge_acks_per_second,
                config.challenge_acks_per_second,
            ),
            config,
            options: [0; MAX_OPTIONS_LEN],
        }
    }

    /// The socket for a segment from `remote` to `local`, if one is connected.
    fn find_connection(&self, local: IpEndpoint, remote: IpEndpoint) -> Option<usize> {
        (0..self.sockets.len()).find(|&i| {
            let s = &self.sockets[i];
            self.in_use[i]
                && s.state != TcpState::Closed
                && s.state != TcpState::Listen
                && s.local_port == local.port
                && s.remote_port == remote.port
                && s.remote_addr == remote.addr
                && s.local_addr == local.addr
        })
    }

    fn find_listener(&self, port: u16) -> Option<usize> {
        self.listeners
            .iter()
            .position(|l| l.backlog > 0 && l.port == port)
    }

    /// Carves `rx_len + tx_len` bytes of ring memory (first fit).
    fn allocate_memory(&self, rx_len: u32, tx_len: u32) -> Option<BufferRegion> {
        let need = rx_len.checked_add(tx_len)?;
        let mut start = 0u32;
        loop {
            let end = start.checked_add(need)?;
            if end as usize > self.memory.len() {
                return None;
            }
            let overlap = (0..self.sockets.len())
                .filter(|&i| self.in_use[i])
                .map(|i| self.sockets[i].buffers)
                .filter(|b| b.rx_len + b.tx_len > 0)
                .filter(|b| b.offset < end && start < b.offset + b.rx_len + b.tx_len)
                .map(|b| b.offset + b.rx_len + b.tx_len)
                .max();
            match overlap {
                None => {
                    return Some(BufferRegion {
                        offset: start,
                        rx_len,
                        tx_len,
                    });
                }
                Some(next) => start = next,
            }
        }
    }

    /// Takes a free socket slot with fresh memory.
    fn allocate_socket(&mut self, rx_len: u32, tx_len: u32) -> Result<usize, TcpError> {
        let index = self
            .in_use
            .iter()
            .position(|used| !used)
            .ok_or(TcpError::NoResources)?;
        let buffers = self
            .allocate_memory(rx_len, tx_len)
            .ok_or(TcpError::NoResources)?;
        self.sockets[index] = TcpSocket::EMPTY;
        self.sockets[index].buffers = buffers;
        self.in_use[index] = true;
        Ok(index)
    }

    /// Readies socket `index` for a connection of `listener` that `seg`
    /// (its SYN, or the ACK returning a SYN cookie) opens.
    fn open_passive(&mut self, index: usize, listener: usize, seg: &Segment<'_>) {
        let socket = &mut self.sockets[index];
        socket.reset_for_open(seg.dst, seg.src, &self.config);
        socket.listener = listener as u8;
        socket.flags.set(Flags::PASSIVE | Flags::UNACCEPTED, true);
    }

    fn release_socket(&mut self, index: usize) {
        self.sockets[index].rx_waker.wake();
        self.sockets[index].tx_waker.wake();
        self.sockets[index] = TcpSocket::EMPTY;
        self.in_use[index] = false;
    }

    fn port_in_use(&self, port: u16) -> bool {
        self.listeners
            .iter()
            .any(|l| l.backlog > 0 && l.port == port)
            || (0..self.sockets.len()).any(|i| self.in_use[i] && self.sockets[i].local_port == port)
    }
}

/// Segments one connection may send in one flush (a full 64 KiB window of
/// 1460-byte segments, with room).
const MAX_SEGMENTS_PER_FLUSH: usize = 64;

/// Ports for connections we open (RFC 6335 §6).
const EPHEMERAL_PORTS: core::ops::RangeInclusive<u16> = 49152..=65535;

impl<'a> Stack<'a> {
    /// Gives the stack its TCP sockets and ring memory.
    pub fn enable_tcp<const S: usize, const B: usize>(
        &mut self,
        resources: &'a mut TcpResources<S, B>,
    ) {
        let mut key = [0u8; 16];
        self.rng.fill(&mut key);
        for socket in resources.sockets.iter_mut() {
            *socket = TcpSocket::EMPTY;
        }
        resources.in_use.fill(false);
        resources.listeners.fill(Listener::UNUSED);
        let config = self.tcp.config.clone();
        self.tcp = TcpPart {
            sockets: &mut resources.sockets,
            in_use: &mut resources.in_use,
            listeners: &mut resources.listeners,
            memory: &mut resources.memory,
            isn: IsnGenerator::new(key),
            challenge_acks: RateLimiter::new(
                config.challenge_acks_per_second,
                config.challenge_acks_per_second,
            ),
            config,
            options: [0; MAX_OPTIONS_LEN],
        };
    }

    /// A new closed socket with `rx_len` and `tx_len` bytes of rings.
    pub fn add_tcp_socket(&mut self, rx_len: usize, tx_len: usize) -> Result<TcpHandle, TcpError> {
        let (rx, tx) = (u32::try_from(rx_len), u32::try_from(tx_len));
        let (Ok(rx), Ok(tx)) = (rx, tx) else {
            return Err(TcpError::NoResources);
        };
        let index = self.tcp.allocate_socket(rx.max(1), tx.max(1))?;
        Ok(TcpHandle(index as u16))
    }

    /// Removes a socket. An open connection is reset first (RFC 9293 §3.10.5 ABORT).
    pub fn remove_tcp_socket(&mut self, handle: TcpHandle) -> Result<(), TcpError> {
        let index = self.tcp_index(handle)?;
        if self.tcp.sockets[index].state != TcpState::Closed {
            self.tcp(handle).abort();
            self.flush_tcp_socket(index);
        }
        self.tcp.release_socket(index);
        Ok(())
    }

    /// Lets go of a socket the way BSD `close` does: an open connection is
    /// closed gracefully in the background and freed when it is done; its
    /// ring memory is returned as soon as nothing more can be sent.
    pub fn release_tcp_socket(&mut self, handle: TcpHandle) -> Result<(), TcpError> {
        let index = self.tcp_index(handle)?;
        if self.tcp.sockets[index].state == TcpState::Closed {
            self.tcp.release_socket(index);
            return Ok(());
        }
        self.tcp(handle).close();
        self.tcp.sockets[index].flags.set(Flags::ORPHAN, true);
        Ok(())
    }

    /// Listens on `port`; each connection gets rings of the given sizes, and
    /// up to `backlog` of them wait for [`tcp_accept`](Self::tcp_accept).
    /// Half-open connections count against the backlog; a SYN that finds it
    /// full is dropped, or answered with a SYN cookie when
    /// `TcpConfig::syn_cookies` is on (see `tcp::syn_cookie`).
    pub fn tcp_listen(
        &mut self,
        port: u16,
        backlog: u16,
        rx_len: usize,
        tx_len: usize,
    ) -> Result<ListenerHandle, TcpError> {
        if port == 0 || backlog == 0 {
            return Err(TcpError::InvalidState);
        }
        if self.tcp.port_in_use(port) {
            return Err(TcpError::InvalidState);
        }
        // A connection remembers its listener in one byte.
        let index = self
            .tcp
            .listeners
            .iter()
            .take(usize::from(NO_LISTENER))
            .position(|l| l.backlog == 0)
            .ok_or(TcpError::NoResources)?;
        let (rx_len, tx_len) = (
            rx_len.min(u32::MAX as usize) as u32,
            tx_len.min(u32::MAX as usize) as u32,
        );
        self.tcp.listeners[index] = Listener {
            port,
            backlog,
            rx_len: rx_len.max(1),
            tx_len: tx_len.max(1),
        };
        Ok(ListenerHandle(index as u16))
    }

    /// The oldest established connection a listener holds, now the caller's.
    pub fn tcp_accept(&mut self, listener: ListenerHandle) -> Option<TcpHandle> {
        let index = (0..self.tcp.sockets.len()).find(|&i| {
            let s = &self.tcp.sockets[i];
            self.tcp.in_use[i]
                && u16::from(s.listener) == listener.0
                && s.flags.has(Flags::UNACCEPTED)
                && s.state != TcpState::SynReceived
        })?;
        let socket = &mut self.tcp.sockets[index];
        socket.flags.set(Flags::UNACCEPTED, false);
        socket.listener = NO_LISTENER;
        Some(TcpHandle(index as u16))
    }

    /// How many connections the listener holds, half-open and ready; both
    /// count against its backlog.
    pub fn tcp_backlog(&self, listener: ListenerHandle) -> Backlog {
        let mut backlog = Backlog::default();
        let tcp = &self.tcp;
        for i in (0..tcp.sockets.len()).filter(|&i| tcp.in_use[i]) {
            let socket = &tcp.sockets[i];
            if u16::from(socket.listener) != listener.0 || !socket.flags.has(Flags::UNACCEPTED) {
                continue;
            }
            if socket.state == TcpState::SynReceived {
                backlog.half_open += 1;
            } else {
                backlog.ready += 1;
            }
        }
        backlog
    }

    /// Registers `cx` to be woken when the listener has a connection to accept.
    pub fn tcp_poll_accept(&mut self, listener: ListenerHandle, cx: &mut Context<'_>) -> Poll<()> {
        let ready = (0..self.tcp.sockets.len()).any(|i| {
            let s = &self.tcp.sockets[i];
            self.tcp.in_use[i]
                && u16::from(s.listener) == listener.0
                && s.flags.has(Flags::UNACCEPTED)
                && s.state != TcpState::SynReceived
        });
        if ready {
            return Poll::Ready(());
        }
        self.accept_waker.register(cx.waker());
        Poll::Pending
    }

    /// Stops listening; connections not yet accepted are reset.
    pub fn tcp_unlisten(&mut self, listener: ListenerHandle) {
        let Some(slot) = self.tcp.listeners.get_mut(usize::from(listener.0)) else {
            return;
        };
        *slot = Listener::UNUSED;
        for index in 0..self.tcp.sockets.len() {
            if self.tcp.in_use[index] && u16::from(self.tcp.sockets[index].listener) == listener.0 {
                let _ = self.remove_tcp_socket(TcpHandle(index as u16));
            }
        }
    }

    /// Panics if any TCP socket's state contradicts itself, two sockets'
    /// rings overlap, or a listener holds more than its backlog; for tests
    /// and fuzzing.
    #[doc(hidden)]
    pub fn check_tcp_invariants(&self) {
        let tcp = &self.tcp;
        let used = || (0..tcp.sockets.len()).filter(|&i| tcp.in_use[i]);
        for i in used() {
            let socket = &tcp.sockets[i];
            socket.check_invariants();
            let region = socket.buffers;
            assert!(
                region.end() <= tcp.memory.len(),
                "socket {i}: rings past the memory"
            );
            for j in used().filter(|&j| j > i) {
                let other = tcp.sockets[j].buffers;
                let apart =
                    region.end() <= other.offset as usize || other.end() <= region.offset as usize;
                assert!(apart, "sockets {i} and {j} share ring memory");
            }
        }
        for (index, listener) in tcp.listeners.iter().enumerate() {
            let waiting = used()
                .filter(|&i| usize::from(tcp.sockets[i].listener) == index)
                .count();
            assert!(
                waiting <= usize::from(listener.backlog),
                "listener {index} over its backlog"
            );
        }
    }

    /// The TCP socket `handle`.
    pub fn tcp(&mut self, handle: TcpHandle) -> Tcp<'_, 'a> {
        Tcp {
            stack: self,
            handle,
        }
    }

    fn tcp_index(&self, handle: TcpHandle) -> Result<usize, TcpError> {
        let index = usize::from(handle.0);
        (self.tcp.in_use.get(index) == Some(&true))
            .then_some(index)
            .ok_or(TcpError::InvalidState)
    }

    /// Segment arrival: RFC 9293 §3.10.7.
    /// `frame` is the driver's receive buffer, validated up to IPv4.
    ///
    /// Kept out of the receive loop it would otherwise be inlined into:
    /// there its locals and the loop's compete for registers, and the
    /// spills cost more per segment than the call.
    #[inline(never)]
    pub(super) fn process_tcp(&mut self, iface: usize, frame: &[u8], meta: Ipv4Meta) {
        bump(&mut self.stats.tcp.rx_segments);
        if meta.cast != Cast::Unicast {
            return bump(&mut self.stats.tcp.drop_not_unicast);
        }
        let bytes = &frame[meta.transport..meta.transport + meta.payload_len];
        let Ok(tcp) = TcpPacket::new_checked(bytes) else {
            return bump(&mut self.stats.tcp.drop_malformed);
        };
        let (src, dst) = (IpAddr::V4(meta.src), IpAddr::V4(meta.dst));
        let mut placed = 0;
        // The connection the fast path found, so it is not looked up twice.
        let mut known = None;
        if self.interfaces[iface].checksum.tcp.0 {
            let (local, remote) = (
                IpEndpoint::new(dst, tcp.dst_port()),
                IpEndpoint::new(src, tcp.src_port()),
            );
            let valid = match self.tcp.place_in_order(&tcp, local, remote) {
                Some((index, count, payload_sum)) => {
                    known = Some(index);
                    placed = count;
                    tcp.verify_checksum_with_payload_sum(&src, &dst, payload_sum)
                }
                None => tcp.verify_checksum(&src, &dst),
            };
            if !valid {
                return bump(&mut self.stats.tcp.drop_bad_checksum);
            }
        }
        let Ok(options) = parse_options(tcp.options()) else {
            return bump(&mut self.stats.tcp.drop_malformed);
        };
        // Port 0 is no port (RFC 6335 §6): no connection has it, and no
        // reset may be sent to it.
        if tcp.src_port() == 0 || tcp.dst_port() == 0 {
            return bump(&mut self.stats.tcp.drop_malformed);
        }
        let segment = Segment {
            src: IpEndpoint::new(src, tcp.src_port()),
            dst: IpEndpoint::new(dst, tcp.dst_port()),
            seq: tcp.seq_number(),
            ack: tcp.ack_number(),
            flags: tcp.flags(),
            window: tcp.window_len(),
            options: &options,
            payload: tcp.payload(),
            placed,
        };
        let now = self.now;
        let route_mss = self.interfaces[iface].ip_mtu.saturating_sub(40);
        let (local, remote) = (segment.dst, segment.src);
        let tcp_part = &mut self.tcp;
        let index = match known.or_else(|| tcp_part.find_connection(local, remote)) {
            Some(index) => index,
            None => match self.segment_without_connection(&segment, route_mss) {
                Unclaimed::Done => return,
                Unclaimed::Reset { seq, ack } => return self.send_reset(local, remote, seq, ack),
                #[cfg(feature = "syn-cookies")]
                Unclaimed::FromCookie(index) => index,
            },
        };
        let mut events = InputEvents::default();
        let tcp_part = &mut self.tcp;
        let socket = &mut tcp_part.sockets[index];
        let (rx_storage, _) = socket.buffers.split(tcp_part.memory);
        let reaction =
            socket.process_segment(now, &segment, rx_storage, &tcp_part.config, &mut events);
        let ended = socket.state == TcpState::Closed;
        let unaccepted = socket.flags.has(Flags::UNACCEPTED);
        self.count_input_events(events);
        match reaction {
            Reaction::None => {}
            Reaction::Reset { seq } => {
                bump(&mut self.stats.tcp.tx_resets_bad_ack);
                self.send_reset(local, remote, seq, None);
            }
            Reaction::ChallengeAck => {
                if self.tcp.challenge_acks.allow(now) {
                    bump(&mut self.stats.tcp.tx_challenge_acks);
                    self.tcp.sockets[index].flags.set(Flags::ACK_NOW, true);
                } else {
                    bump(&mut self.stats.tcp.challenge_acks_limited);
                }
            }
            Reaction::Release => self.tcp.release_socket(index),
        }
        if ended && unaccepted && self.tcp.in_use[index] {
            // Nobody will ever look at a connection that died in the backlog.
            self.tcp.release_socket(index);
        }
        // Replies wait for the end of the poll (`run_tcp`): every segment of a
        // burst is in by then, so one ACK covers them (as with receive
        // offload on bigger hosts) and data goes out in full segments.
        let socket = &self.tcp.sockets[index];
        if self.tcp.in_use[index]
            && socket.flags.has(Flags::UNACCEPTED)
            && socket.state.is_synchronized()
        {
            self.accept_waker.wake();
        }
    }

    fn count_input_events(&mut self, events: InputEvents) {
        // Nearly every segment brings no such news: one test for all four.
        if events == InputEvents::default() {
            return;
        }
        let tcp = &mut self.stats.tcp;
        match events.rst_received {
            None => {}
            Some(RstOutcome::Refused) => bump(&mut tcp.rx_resets_refused),
            Some(RstOutcome::Ended) => bump(&mut tcp.rx_resets),
            Some(RstOutcome::Challenged) => bump(&mut tcp.rx_resets_challenged),
            Some(RstOutcome::OutOfWindow) => bump(&mut tcp.rx_resets_out_of_window),
        }
        if events.paws_rejected {
            bump(&mut tcp.drop_paws);
        }
        if events.out_of_window {
            bump(&mut tcp.drop_out_of_window);
        }
        if events.recovery_entered {
            bump(&mut tcp.fast_recoveries);
        }
        if events.sack_recovery {
            bump(&mut tcp.sack_recoveries);
        }
    }

    /// A segment no connection claims: a listener may take a SYN, or an ACK
    /// returning one of its SYN cookies; anything else (but a RST) is
    /// answered with a reset.
    fn segment_without_connection(&mut self, seg: &Segment<'_>, route_mss: u16) -> Unclaimed {
        if seg.flags.contains(TcpFlags::RST) {
            return Unclaimed::Done;
        }
        let listener = self.tcp.find_listener(seg.dst.port);
        let handshake = seg.flags & (TcpFlags::SYN | TcpFlags::ACK);
        if let Some(listener) = listener {
            if handshake == TcpFlags::SYN {
                self.accept_syn(listener, seg, route_mss);
                return Unclaimed::Done;
            }
            #[cfg(feature = "syn-cookies")]
            if handshake == TcpFlags::ACK && self.tcp.config.syn_cookies {
                if let Some(mss) =
                    syn_cookie::check(&self.tcp.isn, self.now, seg.dst, seg.src, seg.seq, seg.ack)
                {
                    return self.accept_cookie(listener, seg, mss.min(route_mss));
                }
            }
        }
        bump(&mut self.stats.tcp.tx_resets_no_socket);
        if seg.flags.contains(TcpFlags::ACK) {
            Unclaimed::Reset {
                seq: seg.ack,
                ack: None,
            }
        } else {
            // A SYN's payload is not kept (RFC 9293 §3.10.7.2 allows it; we
            // do not accept data before the handshake completes). A reset
            // still acknowledges all of SEG.LEN, data included.
            Unclaimed::Reset {
                seq: SeqNumber(0),
                ack: Some(seg.seq + seg.len()),
            }
        }
    }

    /// A socket for a new connection of `listener`, if its backlog and the
    /// memory allow.
    fn backlog_room(&mut self, listener: usize) -> Option<usize> {
        let Listener {
            backlog,
            rx_len,
            tx_len,
            ..
        } = self.tcp.listeners[listener];
        let waiting = (0..self.tcp.sockets.len())
            .filter(|&i| {
                self.tcp.in_use[i] && usize::from(self.tcp.sockets[i].listener) == listener
            })
            .count();
        if waiting < usize::from(backlog) {
            self.tcp.allocate_socket(rx_len, tx_len).ok()
        } else {
            None
        }
    }

    /// A SYN for listener `listener` (RFC 9293 §3.10.7.2): a new connection in
    /// SYN-RECEIVED, if the backlog and memory allow; otherwise the SYN is
    /// dropped so the peer retries later.
    fn accept_syn(&mut self, listener: usize, seg: &Segment<'_>, route_mss: u16) {
        // No SYN-ACK could go back (no route, no gateway): a connection made
        // now would sit in the backlog with no segment ever sent, and so no
        // timer to end it.
        let IpAddr::V4(peer) = seg.src.addr else {
            return;
        };
        if self.route_interface(peer).is_err() {
            bump(&mut self.stats.ipv4.tx_no_route);
            return;
        }
        let Some(index) = self.backlog_room(listener) else {
            #[cfg(feature = "syn-cookies")]
            if self.tcp.config.syn_cookies {
                let window = self.tcp.listeners[listener].rx_len;
                return self.send_syn_cookie(seg, route_mss, window);
            }
            bump(&mut self.stats.tcp.drop_backlog_full);
            return;
        };
        let now = self.now;
        let iss = self.tcp.isn.isn(now, seg.dst, seg.src);
        let ts_offset = self.rng.next_u32();
        self.tcp.open_passive(index, listener, seg);
        let TcpPart {
            sockets, config, ..
        } = &mut self.tcp;
        let socket = &mut sockets[index];
        socket.snd_mss = route_mss;
        socket.snd_una = iss;
        socket.snd_nxt = iss;
        socket.snd_max = iss;
        socket.recover = iss;
        socket.start_rtt_source(config.timestamps, ts_offset);
        socket.rcv_nxt = seg.seq + 1;
        socket.rcv_adv = socket.rcv_nxt;
        socket.accept_syn_options(now, seg, config);
        socket.state = TcpState::SynReceived;
    }

    /// The ACK `seg` returned a valid SYN cookie of `listener`, recording
    /// the peer's MSS `mss`: the connection it stands for, ready for `seg`
    /// to complete its handshake ([`TcpSocket::accept_cookie`]). With the
    /// backlog full, a half-open connection of the listener gives up its
    /// place: a peer that finished the handshake beats one that may never
    /// (a SYN flood's). With every place taken by an established
    /// connection the application has not accepted, the ACK is dropped and
    /// the peer's retransmission tries again.
    #[cfg(feature = "syn-cookies")]
    fn accept_cookie(&mut self, listener: usize, seg: &Segment<'_>, mss: u16) -> Unclaimed {
        let index = self.backlog_room(listener).or_else(|| {
            let half_open = (0..self.tcp.sockets.len()).find(|&i| {
                let socket = &self.tcp.sockets[i];
                self.tcp.in_use[i]
                    && usize::from(socket.listener) == listener
                    && socket.state == TcpState::SynReceived
            })?;
            self.tcp.release_socket(half_open);
            self.backlog_room(listener)
        });
        let Some(index) = index else {
            bump(&mut self.stats.tcp.drop_backlog_full);
            return Unclaimed::Done;
        };
        bump(&mut self.stats.tcp.rx_syn_cookies);
        self.tcp.open_passive(index, listener, seg);
        self.tcp.sockets[index].accept_cookie(seg, mss);
        Unclaimed::FromCookie(index)
    }

    /// Answers a SYN for a full listener with a SYN cookie
    /// (`tcp::syn_cookie`), keeping nothing: `<SEQ=cookie><ACK=SEG.SEQ+1>
    /// <CTL=SYN,ACK>`, the listener's receive window (unscaled: no window
    /// scale is offered) and our MSS, the only option.
    #[cfg(feature = "syn-cookies")]
    fn send_syn_cookie(&mut self, seg: &Segment<'_>, route_mss: u16, rx_len: u32) {
        let peer_mss = seg.options.mss.unwrap_or(536);
        let cookie = syn_cookie::make(&self.tcp.isn, self.now, seg.dst, seg.src, seg.seq, peer_mss);
        let [high, low] = route_mss.to_be_bytes();
        bump(&mut self.stats.tcp.tx_syn_cookies);
        self.send_stateless(
            seg.dst,
            seg.src,
            (cookie, Some(seg.seq + 1)),
            TcpFlags::SYN,
            rx_len.min(0xffff) as u16,
            &[kind::MSS, 4, high, low],
        );
    }

    /// Sends a reset not tied to a socket: `<SEQ=seq><CTL=RST>`, with
    /// `<ACK=ack>` and the ACK flag when given.
    fn send_reset(
        &mut self,
        local: IpEndpoint,
        remote: IpEndpoint,
        seq: SeqNumber,
        ack: Option<SeqNumber>,
    ) {
        self.send_stateless(local, remote, (seq, ack), TcpFlags::RST, 0, &[]);
    }

    /// Sends a segment no socket stands behind (a reset, a SYN cookie):
    /// `<SEQ=seq>` and `flags`, plus `<ACK=ack>` and the ACK flag when an
    /// acknowledgment is given; no data.
    fn send_stateless(
        &mut self,
        local: IpEndpoint,
        remote: IpEndpoint,
        (seq, ack): (SeqNumber, Option<SeqNumber>),
        flags: TcpFlags,
        window: u16,
        options: &[u8],
    ) {
        let IpAddr::V4(dst) = remote.addr else { return };
        let header_len = TcpPacket::<&[u8]>::HEADER_LEN + options.len();
        let Ok(datagram) = self.begin_ipv4(dst, IpProtocol::Tcp, header_len) else {
            return;
        };
        let (src, compute) = (datagram.src, datagram.checksums.tcp);
        let mut packet = TcpPacket::new_unchecked(self.transport_mut(&datagram));
        let flags = if ack.is_some() {
            flags | TcpFlags::ACK
        } else {
            flags
        };
        packet.write_header(
            local.port,
            remote.port,
            seq,
            ack.unwrap_or(SeqNumber(0)),
            flags,
            window,
            options.len(),
        );
        if !options.is_empty() {
            packet.options_mut().copy_from_slice(options);
        }
        if compute {
            packet.fill_checksum(&IpAddr::V4(src), &remote.addr);
        }
        bump(&mut self.stats.tcp.tx_segments);
        let _ = self.finish_ipv4(datagram);
    }

    /// Timers and output of every connection, once per poll.
    pub(super) fn run_tcp<D: Driver>(
        &mut self,
        iface: usize,
        driver: &mut D,
        cx: &mut Context<'_>,
    ) {
        let now = self.now;
        for index in 0..self.tcp.sockets.len() {
            if !self.tcp.in_use[index] {
                continue;
            }
            let socket = &mut self.tcp.sockets[index];
            if socket.poll_at(now).is_some_and(|at| at <= now) {
                let was_open = socket.state != TcpState::Closed;
                socket.handle_timers(now, &self.tcp.config);
                if was_open
                    && socket.error == Some(TcpError::TimedOut)
                    && socket.state == TcpState::Closed
                {
                    bump(&mut self.stats.tcp.timeouts);
                }
            }
            self.flush_tcp_socket_to(index, Some((iface, &mut *driver, &mut *cx)));
            let socket = &mut self.tcp.sockets[index];
            let unowned = socket.flags.has(Flags::UNACCEPTED) || socket.flags.has(Flags::ORPHAN);
            if unowned && socket.state == TcpState::Closed {
                self.tcp.release_socket(index);
            } else if socket.flags.has(Flags::ORPHAN) && socket.state == TcpState::TimeWait {
                // Only the control block is needed to answer a late FIN.
                socket.buffers = BufferRegion::default();
                socket.rx = Default::default();
                socket.tx = Default::default();
            }
        }
    }

    /// When the next TCP timer fires.
    pub(super) fn tcp_deadline(&self) -> Option<crate::time::Instant> {
        (0..self.tcp.sockets.len())
            .filter(|&i| self.tcp.in_use[i])
            .filter_map(|i| self.tcp.sockets[i].poll_at(self.now))
            .min()
    }

    /// Sends whatever connection `index` has to send now.
    fn flush_tcp_socket(&mut self, index: usize) {
        self.flush_tcp_socket_to(index, None::<(usize, &mut NoDriver, &mut Context<'_>)>);
    }

    /// Sends what connection `index` has to send now. With a driver (for
    /// interface `iface`), segments whose next hop is known go straight into
    /// the driver's buffers — one copy from the send ring to the wire;
    /// the rest are built in pool packets and queued.
    fn flush_tcp_socket_to<D: Driver>(
        &mut self,
        index: usize,
        mut direct: Option<(usize, &mut D, &mut Context<'_>)>,
    ) {
        let now = self.now;
        // Route, MSS and next hop hold for the whole flush: found once (the
        // next hop once there is a segment), not per segment.
        let IpAddr::V4(dst) = self.tcp.sockets[index].remote_addr else {
            return;
        };
        let Ok(route) = self.route(dst) else {
            let socket = &mut self.tcp.sockets[index];
            if socket.state == TcpState::SynSent {
                socket.terminate(Some(TcpError::Unreachable));
            }
            return;
        };
        // The largest TCP payload the route carries: its interface's IP
        // MTU less 40 bytes of IPv4 and TCP headers.
        let route_mss = self.interfaces[route.iface()].ip_mtu.saturating_sub(40);
        let mut direct_header = None;
        // A bound on one connection's segments per flush, so no state can
        // keep the loop going: what is left goes at the next poll.
        for _ in 0..MAX_SEGMENTS_PER_FLUSH {
            let socket = &mut self.tcp.sockets[index];
            let Some(mut seg) = socket.next_segment(now, route_mss) else {
                return;
            };
            socket.finalize_segment(&mut seg, now);
            let options_len = socket.write_options(&seg, route_mss, &mut self.tcp.options);
            let tcp_len = TcpPacket::<&[u8]>::HEADER_LEN + options_len + seg.payload_len as usize;

            let mut sent_directly = false;
            let found = *direct_header.get_or_insert_with(|| match direct.as_ref() {
                Some((iface, _, _)) => self
                    .direct_header(*iface, &route, dst, IpProtocol::Tcp)
                    .map(|(header, checksums)| (*iface, header.src, header.template(), checksums)),
                None => None,
            });
            let direct_now = match found {
                Some((iface, src, template, checksums)) => self
                    .next_direct_ident(iface)
                    .map(|ident| (ident, src, template, checksums)),
                None => None,
            };
            let token = match (direct_now, direct.as_mut()) {
                (Some(_), Some((_, driver, cx))) => driver.transmit(cx),
                _ => None,
            };
            if let (Some((ident, src, template, checksums)), Some(token)) = (direct_now, token) {
                let socket = &self.tcp.sockets[index];
                let memory = &mut *self.tcp.memory;
                let options = &self.tcp.options[..options_len];
                token.consume(TRANSPORT_OFFSET + tcp_len, |frame| {
                    template.write(frame, ident, tcp_len);
                    let out = &mut frame[TRANSPORT_OFFSET..];
                    write_tcp(socket, memory, &seg, options, out, src, checksums.tcp);
                });
                bump(&mut self.stats.ipv4.tx_packets);
                bump(&mut self.stats.ethernet.tx_frames);
                sent_directly = true;
            }
            if !sent_directly {
                let datagram = match self.begin_ipv4(dst, IpProtocol::Tcp, tcp_len) {
                    Ok(datagram) => datagram,
                    Err(SendError::WouldBlock) => return,
                    Err(_) => {
                        // No way out right now: count the segment as sent and lost,
                        // so the retransmission timer tries again.
                        self.tcp.sockets[index].segment_sent(now, &seg);
                        continue;
                    }
                };
                let socket = &self.tcp.sockets[index];
                let options = &self.tcp.options[..options_len];
                let out = transport_of(&mut self.pool, &datagram);
                write_tcp(
                    socket,
                    self.tcp.memory,
                    &seg,
                    options,
                    out,
                    datagram.src,
                    datagram.checksums.tcp,
                );
                let _ = self.finish_ipv4(datagram);
            }
            let socket = &mut self.tcp.sockets[index];
            let retransmission = seg.seq_len() > 0 && seg.seq < socket.snd_max;
            if seg.flags.contains(TcpFlags::RST) {
                bump(&mut self.stats.tcp.tx_resets_abort);
            }
            socket.segment_sent(now, &seg);
            bump(&mut self.stats.tcp.tx_segments);
            if retransmission {
                bump(&mut self.stats.tcp.retransmissions);
            }
        }
    }
}

/// Writes segment `seg` of `socket` into `out` (exactly its length), with
/// its checksum when software computes it.
fn write_tcp(
    socket: &TcpSocket,
    memory: &mut [u8],
    seg: &OutSegment,
    options: &[u8],
    out: &mut [u8],
    src: Ipv4Addr,
    checksum: bool,
) {
    let (_, tx_storage) = socket.buffers.split(memory);
    let payload_sum = socket.write_segment(seg, options, tx_storage, out);
    if checksum {
        TcpPacket::new_unchecked(out).fill_checksum_with_payload_sum(
            &IpAddr::V4(src),
            &socket.remote_addr,
            payload_sum,
        );
    }
}

/// Stands in for "no driver at hand" in [`Stack::flush_tcp_socket_to`].
enum NoDriver {}

impl Driver for NoDriver {
    type RxToken<'a> = NoToken;
    type TxToken<'a> = NoToken;
    fn receive(&mut self, _: &mut Context) -> Option<(NoToken, NoToken)> {
        match *self {}
    }
    fn transmit(&mut self, _: &mut Context) -> Option<NoToken> {
        match *self {}
    }
    fn link_state(&mut self, _: &mut Context) -> embassy_net_driver::LinkState {
        match *self {}
    }
    fn capabilities(&self) -> embassy_net_driver::Capabilities {
        match *self {}
    }
    fn hardware_address(&self) -> embassy_net_driver::HardwareAddress {
        match *self {}
    }
}

enum NoToken {}

impl embassy_net_driver::RxToken for NoToken {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, _: F) -> R {
        match self {}
    }
}

impl embassy_net_driver::TxToken for NoToken {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, _: usize, _: F) -> R {
        match self {}
    }
}

/// One TCP socket of a stack, borrowed for a call: `stack.tcp(handle).send_slice(..)`.
#[derive(Debug)]
pub struct Tcp<'s, 'a> {
    stack: &'s mut Stack<'a>,
    handle: TcpHandle,
}

impl Tcp<'_, '_> {
    fn index(&self) -> Option<usize> {
        self.stack.tcp_index(self.handle).ok()
    }

    fn socket(&mut self) -> Option<&mut TcpSocket> {
        let index = self.index()?;
        Some(&mut self.stack.tcp.sockets[index])
    }

    /// The connection's state; `Closed` for a handle that is gone.
    pub fn state(&mut self) -> TcpState {
        self.socket().map_or(TcpState::Closed, |s| s.state)
    }

    /// Why the connection ended, if it ended badly.
    pub fn error(&mut self) -> Option<TcpError> {
        self.socket().and_then(|s| s.error)
    }

    /// Opens a connection to `remote` (RFC 9293 §3.10.1 active OPEN);
    /// `local_port` 0 picks an ephemeral port.
    pub fn connect(
        &mut self,
        remote: impl Into<IpEndpoint>,
        local_port: u16,
    ) -> Result<(), TcpError> {
        let remote = remote.into();
        let index = self.index().ok_or(TcpError::InvalidState)?;
        let stack = &mut *self.stack;
        if stack.tcp.sockets[index].state != TcpState::Closed {
            return Err(TcpError::InvalidState);
        }
        let IpAddr::V4(dst) = remote.addr else {
            return Err(TcpError::Unreachable);
        };
        if remote.port == 0 || dst.is_unspecified() || dst.is_broadcast() || dst.is_multicast() {
            return Err(TcpError::InvalidState);
        }
        let (src, route_mss) = stack.route_source(dst).map_err(|_| TcpError::Unreachable)?;
        let local_port = match local_port {
            0 => stack.pick_tcp_port().ok_or(TcpError::NoResources)?,
            port => port,
        };
        let local = IpEndpoint::new(IpAddr::V4(src), local_port);
        if stack.tcp.find_connection(local, remote).is_some() {
            return Err(TcpError::InvalidState);
        }
        let now = stack.now;
        let config = stack.tcp.config.clone();
        let iss = stack.tcp.isn.isn(now, local, remote);
        let ts_offset = stack.rng.next_u32();
        let socket = &mut stack.tcp.sockets[index];
        socket.reset_for_open(local, remote, &config);
        socket.snd_mss = route_mss;
        socket.congestion.set_smss(u32::from(route_mss));
        socket.snd_una = iss;
        socket.snd_nxt = iss;
        socket.snd_max = iss;
        socket.recover = iss;
        // What we offer; the SYN-ACK decides what stays on.
        socket.start_rtt_source(config.timestamps, ts_offset);
        socket.flags.set(Flags::SACK, config.sack);
        socket.flags.set(Flags::WINDOW_SCALE, config.window_scaling);
        socket.set_state(TcpState::SynSent);
        stack.poll_waker.wake();
        Ok(())
    }

    /// Queues as much of `data` as the send ring takes; returns how much.
    pub fn send_slice(&mut self, data: &[u8]) -> Result<usize, TcpError> {
        self.send_with(|buffer| {
            let n = buffer.len().min(data.len());
            copy_bytes(&mut buffer[..n], &data[..n]);
            (n, n)
        })
    }

    /// Lends the free part of the send ring to `write` (zero copy); it
    /// returns how many bytes it wrote and a value for the caller.
    pub fn send_with<R>(
        &mut self,
        write: impl FnOnce(&mut [u8]) -> (usize, R),
    ) -> Result<R, TcpError> {
        let index = self.index().ok_or(TcpError::InvalidState)?;
        let stack = &mut *self.stack;
        let socket = &mut stack.tcp.sockets[index];
        if let Some(error) = socket.error {
            return Err(error);
        }
        let open = matches!(
            socket.state,
            TcpState::SynSent | TcpState::SynReceived | TcpState::Established | TcpState::CloseWait
        );
        if !open || socket.flags.has(Flags::FIN_QUEUED) {
            return Err(TcpError::InvalidState);
        }
        let (_, tx_storage) = socket.buffers.split(stack.tcp.memory);
        let result = Ring::new(&mut socket.tx, tx_storage).enqueue_with(write);
        stack.poll_waker.wake();
        Ok(result)
    }

    /// Copies received data into `buffer`; returns how much (0 = nothing yet).
    /// After the peer's FIN and all data read, returns `Ok(0)` and
    /// [`may_recv`](Self::may_recv) turns false.
    pub fn recv_slice(&mut self, buffer: &mut [u8]) -> Result<usize, TcpError> {
        self.recv_with(|data| {
            let n = data.len().min(buffer.len());
            copy_bytes(&mut buffer[..n], &data[..n]);
            (n, n)
        })
    }

    /// Lends received data, in place, to `read`; it returns how many bytes it consumed.
    pub fn recv_with<R>(&mut self, read: impl FnOnce(&[u8]) -> (usize, R)) -> Result<R, TcpError> {
        let index = self.index().ok_or(TcpError::InvalidState)?;
        let stack = &mut *self.stack;
        let socket = &mut stack.tcp.sockets[index];
        if let (0, Some(error)) = (socket.rx_queued(), socket.error) {
            return Err(error);
        }
        let (rx_storage, _) = socket.buffers.split(stack.tcp.memory);
        let result = Ring::new(&mut socket.rx, rx_storage).dequeue_with(read);
        // Room was made: a window update may be due.
        stack.poll_waker.wake();
        Ok(result)
    }

    /// Closes our sending side: a FIN follows the queued data (RFC 9293 §3.10.4).
    pub fn close(&mut self) {
        let Some(index) = self.index() else { return };
        let stack = &mut *self.stack;
        let socket = &mut stack.tcp.sockets[index];
        match socket.state {
            TcpState::SynSent | TcpState::Listen => socket.terminate(None),
            TcpState::SynReceived | TcpState::Established | TcpState::CloseWait => {
                socket.flags.set(Flags::FIN_QUEUED, true);
                stack.poll_waker.wake();
            }
            _ => {}
        }
    }

    /// Resets the connection now (RFC 9293 §3.10.5 ABORT).
    pub fn abort(&mut self) {
        let Some(index) = self.index() else { return };
        let stack = &mut *self.stack;
        let socket = &mut stack.tcp.sockets[index];
        match socket.state {
            TcpState::Closed | TcpState::Listen | TcpState::TimeWait => socket.terminate(None),
            TcpState::SynSent => socket.terminate(None),
            _ => {
                socket.flags.set(Flags::RST_QUEUED, true);
                stack.poll_waker.wake();
            }
        }
    }

    /// Turns Nagle's algorithm off (`true`) or on.
    pub fn set_nodelay(&mut self, nodelay: bool) {
        if let Some(socket) = self.socket() {
            socket.flags.set(Flags::NO_DELAY, nodelay);
        }
    }

    /// Probes an idle peer every `interval` (RFC 9293 §3.8.4), rounded up to
    /// whole seconds (at most 18 hours); `None` turns keepalive off.
    pub fn set_keepalive(&mut self, interval: Option<Duration>) {
        let now = self.stack.now;
        if let Some(socket) = self.socket() {
            socket.keepalive = Interval::new(interval);
            // In TIME-WAIT the idle timer is the state's end, not a keepalive.
            if socket.state != TcpState::TimeWait {
                socket.idle_at = Stamp::UNSET;
                socket.arm_keepalive(now);
            }
        }
    }

    /// Gives up when data stays unacknowledged this long (RFC 5482 user
    /// timeout), rounded up to whole seconds (at most 18 hours).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        if let Some(socket) = self.socket() {
            socket.user_timeout = Interval::new(timeout);
        }
    }

    /// True when send_slice could queue at least one byte.
    pub fn can_send(&mut self) -> bool {
        self.socket().is_some_and(|s| {
            matches!(s.state, TcpState::Established | TcpState::CloseWait)
                && !s.flags.has(Flags::FIN_QUEUED)
                && s.tx_queued() < s.buffers.tx_len
        })
    }

    /// True when data is waiting to be read.
    pub fn can_recv(&mut self) -> bool {
        self.socket().is_some_and(|s| s.rx_queued() > 0)
    }

    /// False once the peer has closed and everything was read.
    pub fn may_recv(&mut self) -> bool {
        self.socket().is_some_and(|s| {
            s.rx_queued() > 0
                || matches!(
                    s.state,
                    TcpState::SynSent
                        | TcpState::SynReceived
                        | TcpState::Established
                        | TcpState::FinWait1
                        | TcpState::FinWait2
                )
        })
    }

    /// Bytes queued for sending (including those in flight).
    pub fn send_queue(&mut self) -> usize {
        self.socket().map_or(0, |s| s.tx_queued() as usize)
    }

    /// Bytes received and not yet read.
    pub fn recv_queue(&mut self) -> usize {
        self.socket().map_or(0, |s| s.rx_queued() as usize)
    }

    pub fn local_endpoint(&mut self) -> Option<IpEndpoint> {
        self.socket().map(|s| s.local_endpoint())
    }

    pub fn remote_endpoint(&mut self) -> Option<IpEndpoint> {
        self.socket().map(|s| s.remote_endpoint())
    }

    /// The connection's counters.
    pub fn stats(&mut self) -> TcpSocketStats {
        self.socket().map(|s| s.stats).unwrap_or_default()
    }

    /// Panics if the connection's state contradicts itself (see
    /// [`TcpSocket::check_invariants`]); for tests and fuzzing.
    #[doc(hidden)]
    pub fn check_invariants(&mut self) {
        if let Some(socket) = self.socket() {
            socket.check_invariants();
        }
    }

    /// Ready when data (or the end of the stream, or an error) is there to read.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(socket) = self.socket() else {
            return Poll::Ready(());
        };
        let done = socket.rx_queued() > 0
            || socket.error.is_some()
            || !matches!(
                socket.state,
                TcpState::SynSent
                    | TcpState::SynReceived
                    | TcpState::Established
                    | TcpState::FinWait1
                    | TcpState::FinWait2
            );
        if done {
            return Poll::Ready(());
        }
        socket.rx_waker.register(cx.waker());
        Poll::Pending
    }

    /// Ready when the send ring has room (or the connection can no longer send).
    pub fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(socket) = self.socket() else {
            return Poll::Ready(());
        };
        let waiting = matches!(socket.state, TcpState::SynSent | TcpState::SynReceived)
            || (matches!(socket.state, TcpState::Established | TcpState::CloseWait)
                && socket.tx_queued() == socket.buffers.tx_len);
        if !waiting || socket.error.is_some() {
            return Poll::Ready(());
        }
        socket.tx_waker.register(cx.waker());
        Poll::Pending
    }

    /// Ready when everything queued has been acknowledged.
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(socket) = self.socket() else {
            return Poll::Ready(());
        };
        if socket.tx_queued() == 0 || socket.error.is_some() || socket.state == TcpState::Closed {
            return Poll::Ready(());
        }
        socket.tx_waker.register(cx.waker());
        Poll::Pending
    }
}

impl Stack<'_> {
    /// A free local port for a new connection.
    fn pick_tcp_port(&mut self) -> Option<u16> {
        let span = u32::from(EPHEMERAL_PORTS.end() - EPHEMERAL_PORTS.start()) + 1;
        let start = self.rng.below(span);
        (0..span)
            .map(|step| EPHEMERAL_PORTS.start() + ((start + step) % span) as u16)
            .find(|&port| !self.tcp.port_in_use(port))
    }
}
