//! ICMPv4 on the stack (RFC 792, RFC 1122 §3.2.2): echo replies made in
//! place, rate-limited destination-unreachable errors, and echo sockets.

use core::net::{IpAddr, Ipv4Addr};
use core::task::{Context, Poll};

use super::Stack;
use super::ingress::{Cast, Ipv4Meta};
use crate::no_memmove::copy_within;
use crate::pool::PacketId;
use crate::socket::datagram_queue::QueueFull;
use crate::socket::icmp::{EchoReply, IcmpSocket};
use crate::socket::{BindError, RecvError, SendError, SocketHandle, SocketSlot};
use crate::stack::StackError;
use crate::stats::bump;
use crate::wire::checksum;
use crate::wire::{EtherType, EthernetFrame, Icmpv4Packet, Icmpv4Type, IpProtocol, Ipv4Packet};

/// An ICMP error quotes as much of the offending datagram as fits in a
/// 576-byte datagram (RFC 1812 §4.3.2.3), which every host accepts.
const MAX_ERROR_DATAGRAM: usize = 576;

const ETHERNET_HEADER: usize = EthernetFrame::<&[u8]>::HEADER_LEN;
const IPV4_HEADER: usize = Ipv4Packet::<&[u8]>::MIN_HEADER_LEN;
const ICMP_HEADER: usize = Icmpv4Packet::<&[u8]>::HEADER_LEN;

impl<'a> Stack<'a> {
    pub(super) fn process_icmp(&mut self, iface: usize, packet: PacketId, meta: Ipv4Meta) {
        let frame = self.pool.frame(&packet);
        let message = &frame[meta.transport..meta.transport + meta.payload_len];
        let Ok(icmp) = Icmpv4Packet::new_checked(message) else {
            return self.drop_packet(packet, |s| &mut s.icmp.drop_malformed);
        };
        if self.interfaces[iface].checksum.icmpv4.0 && !icmp.verify_checksum() {
            return self.drop_packet(packet, |s| &mut s.icmp.drop_bad_checksum);
        }
        bump(&mut self.stats.icmp.rx_messages);
        match icmp.msg_type() {
            Icmpv4Type::EchoRequest => {
                bump(&mut self.stats.icmp.rx_echo_requests);
                if meta.cast != Cast::Unicast && !self.config.answer_broadcast_echo {
                    return self.drop_packet(packet, |s| &mut s.icmp.drop_broadcast_echo);
                }
                self.reply_to_echo_in_place(iface, packet, meta);
            }
            Icmpv4Type::EchoReply => {
                bump(&mut self.stats.icmp.rx_echo_replies);
                let ident = icmp.echo_ident();
                self.deliver_echo_reply(packet, meta, ident);
            }
            Icmpv4Type::DestUnreachable | Icmpv4Type::TimeExceeded | Icmpv4Type::ParamProblem => {
                bump(&mut self.stats.icmp.rx_errors);
                self.pool.free(packet);
            }
            _ => self.drop_packet(packet, |s| &mut s.icmp.drop_unsupported_type),
        }
    }

    /// Turns an echo request into its reply in the same buffer: addresses
    /// swapped, type changed, checksum updated incrementally (RFC 1624).
    fn reply_to_echo_in_place(&mut self, iface: usize, packet: PacketId, meta: Ipv4Meta) {
        let interface = &self.interfaces[iface];
        let (our_mac, policy) = (interface.hardware_address, interface.checksum);
        let Some(our_ip) = interface.ipv4.map(|c| c.address.address()) else {
            return self.pool.free(packet);
        };
        let ttl = self.config.ttl;
        let ident = self.next_ipv4_ident();
        // Ethernet padding is not part of the datagram and must not be echoed.
        let frame = self.pool.resize(&packet, meta.transport + meta.payload_len);
        let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
        // Answer the station that asked: on-link that is the sender, off-link
        // its router; either way no ARP lookup is needed.
        let requester_mac = eth.src_addr();
        eth.set_dst_addr(requester_mac);
        eth.set_src_addr(our_mac);

        let mut icmp = Icmpv4Packet::new_unchecked(&mut frame[meta.transport..]);
        let old_type_code = u16::from_be_bytes([u8::from(Icmpv4Type::EchoRequest), icmp.code()]);
        icmp.set_msg_type(Icmpv4Type::EchoReply);
        if policy.icmpv4.1 {
            let new_type_code = u16::from_be_bytes([u8::from(Icmpv4Type::EchoReply), icmp.code()]);
            let updated = checksum::update(icmp.checksum(), old_type_code, new_type_code);
            icmp.set_checksum(updated);
            // When the reply is all zero (ident 0, seq 0, no data) the
            // incremental form gives 0x0000 where a full computation gives
            // 0xffff, and receivers that check the sum against 0xffff
            // (RFC 1071 §2) reject it. Recomputing whenever the result is
            // 0x0000 costs one pass in about 65,536 replies.
            if updated == 0 {
                icmp.fill_checksum();
            }
        } else {
            icmp.set_checksum(0);
        }

        let mut ip = Ipv4Packet::new_unchecked(&mut frame[meta.network..]);
        ip.set_src_addr(our_ip);
        ip.set_dst_addr(meta.src);
        ip.set_ttl(ttl);
        ip.set_ident(ident);
        ip.set_checksum(0);
        if policy.ipv4.1 {
            ip.fill_checksum();
        }
        bump(&mut self.stats.icmp.tx_echo_replies);
        bump(&mut self.stats.icmp.tx_messages);
        bump(&mut self.stats.ipv4.tx_packets);
        self.queue_for_driver(iface, packet);
    }

    /// Sends destination unreachable with `code` about the datagram in
    /// `packet`, reusing its buffer: the quoted datagram moves back to make
    /// room for the new headers. Rate-limited; never about an ICMP error
    /// (RFC 1122 §3.2.2) — callers only pass unicast, first-fragment data.
    pub(super) fn send_dest_unreachable(
        &mut self,
        iface: usize,
        packet: PacketId,
        meta: Ipv4Meta,
        code: u8,
    ) {
        let frame = self.pool.frame(&packet);
        let ip = Ipv4Packet::new_unchecked(&frame[meta.network..]);
        if ip.protocol() == IpProtocol::Icmp && !is_icmp_query(&frame[meta.transport..]) {
            return self.pool.free(packet);
        }
        if !self.icmp_errors.allow(self.now) {
            return self.drop_packet(packet, |s| &mut s.icmp.tx_rate_limited);
        }
        let interface = &self.interfaces[iface];
        let (our_mac, policy) = (interface.hardware_address, interface.checksum);
        let requester_mac = EthernetFrame::new_unchecked(frame).src_addr();
        let quoted_len = (meta.transport - meta.network + meta.payload_len)
            .min(MAX_ERROR_DATAGRAM - IPV4_HEADER - ICMP_HEADER);
        let ttl = self.config.ttl;
        let ident = self.next_ipv4_ident();
        let quote_at = ETHERNET_HEADER + IPV4_HEADER + ICMP_HEADER;
        let total = quote_at + quoted_len;
        let frame = self
            .pool
            .resize(&packet, total.max(meta.network + quoted_len));
        copy_within(frame, meta.network..meta.network + quoted_len, quote_at);
        let frame = self.pool.resize(&packet, total);

        EthernetFrame::new_unchecked(&mut frame[..]).write_header(
            requester_mac,
            our_mac,
            EtherType::Ipv4,
        );
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[ETHERNET_HEADER..]);
        ip.write_header(
            meta.dst,
            meta.src,
            IpProtocol::Icmp,
            ttl,
            (ICMP_HEADER + quoted_len) as u16,
            ident,
        );
        if !policy.ipv4.1 {
            ip.set_checksum(0);
        }
        let mut icmp = Icmpv4Packet::new_unchecked(&mut frame[ETHERNET_HEADER + IPV4_HEADER..]);
        icmp.set_msg_type(Icmpv4Type::DestUnreachable);
        icmp.set_code(code);
        icmp.clear_rest_of_header();
        icmp.set_checksum(0);
        if policy.icmpv4.1 {
            icmp.fill_checksum();
        }
        bump(&mut self.stats.icmp.tx_dest_unreachable);
        bump(&mut self.stats.icmp.tx_messages);
        bump(&mut self.stats.ipv4.tx_packets);
        self.queue_for_driver(iface, packet);
    }

    fn deliver_echo_reply(&mut self, packet: PacketId, meta: Ipv4Meta, ident: u16) {
        let socket =
            self.sockets
                .icmp_idents
                .get(ident)
                .and_then(|i| match &mut self.sockets.slots[i] {
                    SocketSlot::Icmp(socket) => Some(socket),
                    _ => None,
                });
        let Some(socket) = socket else {
            return self.drop_packet(packet, |s| &mut s.icmp.drop_no_socket);
        };
        self.pool.set_offsets(&packet, meta.network, meta.transport);
        if let Err(QueueFull(packet)) = socket.queue.push(&mut self.pool, packet) {
            self.drop_packet(packet, |s| &mut s.icmp.drop_queue_full);
        }
    }

    /// Creates an ICMP echo socket.
    pub fn add_icmp_socket(&mut self) -> Result<SocketHandle, StackError> {
        let socket = IcmpSocket::new(self.config.socket_rx_limit);
        self.sockets
            .add(SocketSlot::Icmp(socket))
            .ok_or(StackError::NoFreeSlot)
    }

    /// The ICMP echo socket `handle`.
    pub fn icmp(&mut self, handle: SocketHandle) -> Icmp<'_, 'a> {
        Icmp {
            stack: self,
            handle,
        }
    }
}

/// Echo and other queries may be answered with errors; errors may not.
fn is_icmp_query(message: &[u8]) -> bool {
    Icmpv4Packet::new_checked(message)
        .map(|m| {
            matches!(
                m.msg_type(),
                Icmpv4Type::EchoRequest | Icmpv4Type::EchoReply
            )
        })
        .unwrap_or(false)
}

/// One ICMP echo socket of a stack, borrowed for a call.
#[derive(Debug)]
pub struct Icmp<'s, 'a> {
    stack: &'s mut Stack<'a>,
    handle: SocketHandle,
}

impl Icmp<'_, '_> {
    fn socket(&mut self) -> Option<&mut IcmpSocket> {
        match self.stack.sockets.get_mut(self.handle)? {
            SocketSlot::Icmp(socket) => Some(socket),
            _ => None,
        }
    }

    /// Binds the socket to an echo identifier; 0 picks a free random one.
    pub fn bind(&mut self, ident: u16) -> Result<u16, BindError> {
        let index = self.handle.index();
        match self.socket() {
            Some(socket) if socket.ident == 0 => {}
            _ => return Err(BindError::InvalidState),
        }
        let ident = match ident {
            0 => loop {
                let candidate = self.stack.rng.next_u32() as u16;
                if candidate != 0 && !self.stack.sockets.icmp_idents.contains(candidate) {
                    break candidate;
                }
            },
            ident => ident,
        };
        self.stack
            .sockets
            .icmp_idents
            .insert(ident, index)
            .map_err(|_| BindError::AddrInUse)?;
        if let Some(socket) = self.socket() {
            socket.ident = ident;
        }
        Ok(ident)
    }

    /// The bound identifier, 0 if unbound.
    pub fn ident(&mut self) -> u16 {
        self.socket().map_or(0, |s| s.ident)
    }

    /// Sends an echo request with this socket's identifier.
    pub fn send_echo(&mut self, dst: IpAddr, seq: u16, payload: &[u8]) -> Result<(), SendError> {
        let IpAddr::V4(dst) = dst else {
            return Err(SendError::Unsupported);
        };
        let ident = match self.ident() {
            0 => self.bind(0).map_err(|_| SendError::InvalidState)?,
            ident => ident,
        };
        send_echo_request(self.stack, dst, ident, seq, payload)
    }

    /// Lends the oldest queued echo reply to `read`, then frees it.
    pub fn recv_with<R>(&mut self, read: impl FnOnce(EchoReply<'_>) -> R) -> Result<R, RecvError> {
        let stack = &mut *self.stack;
        let socket = match stack.sockets.slots.get_mut(self.handle.index()) {
            Some(SocketSlot::Icmp(socket)) => socket,
            _ => return Err(RecvError::InvalidState),
        };
        socket
            .queue
            .read_front(&mut stack.pool, |frame, network, transport| {
                let ip = Ipv4Packet::new_unchecked(&frame[network..]);
                let message_len = ip.payload().len();
                let icmp = Icmpv4Packet::new_unchecked(&frame[transport..transport + message_len]);
                read(EchoReply {
                    from: IpAddr::V4(ip.src_addr()),
                    seq: icmp.echo_seq(),
                    payload: icmp.data(),
                })
            })
            .ok_or(RecvError::WouldBlock)
    }

    /// Ready when a reply is queued; otherwise remembers the task.
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

fn send_echo_request(
    stack: &mut Stack<'_>,
    dst: Ipv4Addr,
    ident: u16,
    seq: u16,
    payload: &[u8],
) -> Result<(), SendError> {
    let len = ICMP_HEADER + payload.len();
    stack.send_ipv4(dst, IpProtocol::Icmp, len, |buffer, _src, checksums| {
        let mut icmp = Icmpv4Packet::new_unchecked(buffer);
        icmp.set_msg_type(Icmpv4Type::EchoRequest);
        icmp.set_code(0);
        icmp.set_echo_ident(ident);
        icmp.set_echo_seq(seq);
        icmp.data_mut()[..payload.len()].copy_from_slice(payload);
        icmp.set_checksum(0);
        if checksums.icmpv4 {
            icmp.fill_checksum();
        }
    })?;
    bump(&mut stack.stats.icmp.tx_messages);
    Ok(())
}
