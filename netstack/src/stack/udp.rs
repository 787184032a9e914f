//! UDP on the stack (RFC 768): demultiplexing to sockets, and the socket API.
//!
//! Received datagrams stay in the pool buffer they arrived in; a socket's
//! queue links those buffers, and `recv_with` lends the payload in place.

use core::net::IpAddr;
use core::task::{Context, Poll};

use super::Stack;
use super::ingress::{Cast, Ipv4Meta};
use crate::endpoint::IpEndpoint;
use crate::pool::PacketId;
use crate::socket::datagram_queue::QueueFull;
use crate::socket::udp::{UdpMetadata, UdpSocket, UdpSocketStats};
use crate::socket::{BindError, RecvError, SendError, SocketHandle, SocketSlot};
use crate::stack::StackError;
use crate::stats::bump;
use crate::wire::{IpProtocol, Ipv4Packet, UdpPacket};

/// Ports handed out to sockets that send before binding (RFC 6335 §6).
const EPHEMERAL_PORTS: core::ops::RangeInclusive<u16> = 49152..=65535;

impl<'a> Stack<'a> {
    /// Creates an unbound UDP socket.
    pub fn add_udp_socket(&mut self) -> Result<SocketHandle, StackError> {
        let socket = UdpSocket::new(self.config.socket_rx_limit);
        self.sockets
            .add(SocketSlot::Udp(socket))
            .ok_or(StackError::NoFreeSlot)
    }

    /// The UDP socket `handle`, to bind, send and receive on.
    pub fn udp(&mut self, handle: SocketHandle) -> Udp<'_, 'a> {
        Udp {
            stack: self,
            handle,
        }
    }

    pub(super) fn process_udp(&mut self, iface: usize, packet: PacketId, meta: Ipv4Meta) {
        let frame = self.pool.frame(&packet);
        let segment = &frame[meta.transport..meta.transport + meta.payload_len];
        let Ok(udp) = UdpPacket::new_checked(segment) else {
            return self.drop_packet(packet, |s| &mut s.udp.drop_malformed);
        };
        let (src, dst) = (IpAddr::V4(meta.src), IpAddr::V4(meta.dst));
        if self.interfaces[iface].checksum.udp.0 && !udp.verify_checksum(&src, &dst) {
            return self.drop_packet(packet, |s| &mut s.udp.drop_bad_checksum);
        }
        let remote = IpEndpoint::new(src, udp.src_port());
        let is_broadcast = meta.cast != Cast::Unicast;
        let socket_index = self.sockets.udp_ports.get(udp.dst_port());
        let socket = socket_index.and_then(|i| match &mut self.sockets.slots[i] {
            SocketSlot::Udp(socket) if socket.accepts(remote, dst, is_broadcast) => Some(socket),
            _ => None,
        });
        let Some(socket) = socket else {
            bump(&mut self.stats.udp.drop_no_socket);
            // RFC 1122 §4.1.3.1: port unreachable, but never for broadcasts.
            #[cfg(feature = "icmp")]
            if meta.cast == Cast::Unicast {
                let code = crate::wire::icmpv4::unreachable_code::PORT;
                return self.send_dest_unreachable(iface, packet, meta, code);
            }
            self.pool.free(packet);
            return;
        };
        let payload = meta.transport + UdpPacket::<&[u8]>::HEADER_LEN;
        self.pool.set_offsets(&packet, meta.network, payload);
        if let Err(QueueFull(packet)) = socket.queue.push(&mut self.pool, packet) {
            socket.stats.rx_dropped = socket.stats.rx_dropped.wrapping_add(1);
            return self.drop_packet(packet, |s| &mut s.udp.drop_queue_full);
        }
        socket.stats.rx_datagrams = socket.stats.rx_datagrams.wrapping_add(1);
        bump(&mut self.stats.udp.rx_datagrams);
    }

    fn udp_socket(&mut self, handle: SocketHandle) -> Option<&mut UdpSocket> {
        match self.sockets.get_mut(handle)? {
            SocketSlot::Udp(socket) => Some(socket),
            _ => None,
        }
    }

    fn pick_ephemeral_port(&mut self) -> Option<u16> {
        let span = u32::from(EPHEMERAL_PORTS.end() - EPHEMERAL_PORTS.start()) + 1;
        let start = self.rng.below(span);
        (0..span)
            .map(|step| EPHEMERAL_PORTS.start() + ((start + step) % span) as u16)
            .find(|&port| !self.sockets.udp_ports.contains(port))
    }
}

/// One UDP socket of a stack, borrowed for a call: `stack.udp(handle).send_to(..)`.
#[derive(Debug)]
pub struct Udp<'s, 'a> {
    stack: &'s mut Stack<'a>,
    handle: SocketHandle,
}

impl Udp<'_, '_> {
    fn socket(&mut self) -> Option<&mut UdpSocket> {
        self.stack.udp_socket(self.handle)
    }

    /// Binds to `port` (0 picks an ephemeral port) on any local address.
    pub fn bind(&mut self, port: u16) -> Result<u16, BindError> {
        self.bind_addr(None, port)
    }

    /// Binds to `port` on `addr` only; datagrams to other addresses and
    /// broadcasts are not delivered to this socket.
    pub fn bind_addr(&mut self, addr: Option<IpAddr>, port: u16) -> Result<u16, BindError> {
        let index = self.handle.index();
        match self.socket() {
            Some(socket) if socket.local_port == 0 => {}
            _ => return Err(BindError::InvalidState),
        }
        let port = match port {
            0 => self
                .stack
                .pick_ephemeral_port()
                .ok_or(BindError::NoFreePort)?,
            port => port,
        };
        self.stack
            .sockets
            .udp_ports
            .insert(port, index)
            .map_err(|_| BindError::AddrInUse)?;
        let socket = self.socket().ok_or(BindError::InvalidState)?;
        socket.local_port = port;
        socket.local_addr = addr;
        Ok(port)
    }

    /// Accepts datagrams from `remote` only and makes it the default destination.
    pub fn connect(&mut self, remote: impl Into<IpEndpoint>) -> Result<(), BindError> {
        if self.socket().is_some_and(|s| s.local_port == 0) {
            self.bind(0)?;
        }
        let socket = self.socket().ok_or(BindError::InvalidState)?;
        socket.remote = Some(remote.into());
        Ok(())
    }

    /// The bound port, 0 if unbound.
    pub fn local_port(&mut self) -> u16 {
        self.socket().map_or(0, |s| s.local_port)
    }

    /// Sends `payload` to `remote`, binding an ephemeral port first if needed.
    pub fn send_to(
        &mut self,
        payload: &[u8],
        remote: impl Into<IpEndpoint>,
    ) -> Result<(), SendError> {
        self.send_to_with(payload.len(), remote, |buffer| {
            buffer.copy_from_slice(payload)
        })
    }

    /// Sends to the connected peer.
    pub fn send(&mut self, payload: &[u8]) -> Result<(), SendError> {
        let remote = self
            .socket()
            .and_then(|s| s.remote)
            .ok_or(SendError::InvalidState)?;
        self.send_to(payload, remote)
    }

    /// Sends a `len`-byte datagram whose payload `fill` writes directly into
    /// the packet buffer (zero copy).
    pub fn send_to_with(
        &mut self,
        len: usize,
        remote: impl Into<IpEndpoint>,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<(), SendError> {
        let remote = remote.into();
        let IpAddr::V4(dst) = remote.addr else {
            return Err(SendError::Unsupported);
        };
        if remote.port == 0 || dst.is_unspecified() {
            return Err(SendError::InvalidState);
        }
        let bound = self.socket().ok_or(SendError::InvalidState)?.local_port;
        let local_port = match bound {
            0 => self.bind(0).map_err(|_| SendError::InvalidState)?,
            port => port,
        };
        let udp_len = UdpPacket::<&[u8]>::HEADER_LEN + len;
        if udp_len > usize::from(u16::MAX) - Ipv4Packet::<&[u8]>::MIN_HEADER_LEN {
            return Err(SendError::TooLarge);
        }
        self.stack
            .send_ipv4(dst, IpProtocol::Udp, udp_len, |buffer, src, checksums| {
                let mut udp = UdpPacket::new_unchecked(buffer);
                udp.write_header(local_port, remote.port, len as u16);
                fill(udp.payload_mut());
                if checksums.udp {
                    udp.fill_checksum(&IpAddr::V4(src), &IpAddr::V4(dst));
                }
            })?;
        bump(&mut self.stack.stats.udp.tx_datagrams);
        if let Some(socket) = self.socket() {
            socket.stats.tx_datagrams = socket.stats.tx_datagrams.wrapping_add(1);
        }
        Ok(())
    }

    /// Lends the oldest queued datagram's payload to `read`, in place, then
    /// frees it.
    pub fn recv_with<R>(
        &mut self,
        read: impl FnOnce(&[u8], UdpMetadata) -> R,
    ) -> Result<R, RecvError> {
        let stack = &mut *self.stack;
        let socket = match stack.sockets.slots.get_mut(self.handle.index()) {
            Some(SocketSlot::Udp(socket)) => socket,
            _ => return Err(RecvError::InvalidState),
        };
        socket
            .queue
            .read_front(&mut stack.pool, |frame, network, payload| {
                let (datagram, meta) = read_queued_datagram(frame, network, payload);
                read(datagram, meta)
            })
            .ok_or(RecvError::WouldBlock)
    }

    /// Copies the oldest queued datagram into `buffer`: its length and origin.
    pub fn recv_from(&mut self, buffer: &mut [u8]) -> Result<(usize, UdpMetadata), RecvError> {
        let (len, meta, truncated) = self.recv_with(|payload, meta| {
            let len = payload.len().min(buffer.len());
            buffer[..len].copy_from_slice(&payload[..len]);
            (len, meta, len < payload.len())
        })?;
        if truncated {
            return Err(RecvError::Truncated);
        }
        Ok((len, meta))
    }

    /// Number of datagrams waiting.
    pub fn recv_queue_len(&mut self) -> usize {
        self.socket().map_or(0, |s| s.queue.len())
    }

    /// Changes how many datagrams may wait unread.
    pub fn set_recv_queue_limit(&mut self, limit: u16) {
        if let Some(socket) = self.socket() {
            socket.queue.set_limit(limit);
        }
    }

    /// The socket's counters.
    pub fn stats(&mut self) -> UdpSocketStats {
        self.socket().map(|s| s.stats).unwrap_or_default()
    }

    /// Ready when a datagram is queued; otherwise remembers the task.
    pub fn poll_recv_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.socket()
            .map_or(Poll::Ready(()), |s| s.queue.poll_ready(cx))
    }

    /// Remembers the task to wake when a refused send may succeed.
    pub fn register_send_waker(&mut self, cx: &mut Context<'_>) {
        if let Some(socket) = self.socket() {
            socket.queue.register_sender(cx.waker());
        }
    }
}

/// The payload and addresses of a datagram queued by `process_udp`, read from
/// the frame it arrived in (validated then; offsets recorded in the pool).
fn read_queued_datagram(frame: &[u8], network: usize, payload: usize) -> (&[u8], UdpMetadata) {
    let ip = Ipv4Packet::new_unchecked(&frame[network..]);
    let udp = UdpPacket::new_unchecked(&frame[payload - UdpPacket::<&[u8]>::HEADER_LEN..]);
    let end = payload - UdpPacket::<&[u8]>::HEADER_LEN + usize::from(udp.len());
    let meta = UdpMetadata {
        remote: IpEndpoint::new(IpAddr::V4(ip.src_addr()), udp.src_port()),
        local_addr: IpAddr::V4(ip.dst_addr()),
    };
    (&frame[payload..end.max(payload)], meta)
}
