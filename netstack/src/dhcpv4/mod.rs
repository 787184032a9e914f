//! DHCPv4 client (RFC 2131, options RFC 2132): from "cable plugged in" to an
//! address, a router, DNS and NTP servers.
//!
//! [`Dhcpv4Client`] is the sans-IO state machine; [`run_on_stack`] is the
//! thin glue that moves its datagrams through a UDP socket bound to port 68
//! and applies each lease to the interface.

mod client;
mod message;

pub use client::{Dhcpv4Client, Dhcpv4Config, Dhcpv4Error, Dhcpv4Event, Dhcpv4Stats, Lease, State};
pub use message::{CLIENT_MESSAGE_LEN, MessageError, MessageType};

use core::net::{IpAddr, Ipv4Addr};

use crate::endpoint::IpEndpoint;
use crate::iface::InterfaceId;
use crate::socket::SocketHandle;
use crate::stack::Stack;
use crate::time::Instant;

/// The client's port; servers listen on 67 (RFC 2131 §4.1).
pub const CLIENT_PORT: u16 = 68;
pub const SERVER_PORT: u16 = 67;

/// One round of the client on `stack`: reads what arrived on `socket` (a UDP
/// socket bound to [`CLIENT_PORT`]), probes a new address with ARP and
/// watches for an answer, sends what is due, and configures or unconfigures
/// `iface` on a lease event, which it returns. Call it after
/// every stack poll, and by [`Dhcpv4Client::poll_timeout`].
pub fn run_on_stack(
    client: &mut Dhcpv4Client<'_>,
    stack: &mut Stack<'_>,
    iface: InterfaceId,
    socket: SocketHandle,
    now: Instant,
) -> Option<Dhcpv4Event> {
    let mut event = None;
    loop {
        let received = stack.udp(socket).recv_with(|payload, meta| {
            (meta.remote.port == SERVER_PORT).then(|| client.handle_datagram(now, payload))
        });
        match received {
            Ok(Some(Ok(Some(e)))) => event = Some(e),
            // Foreign and malformed messages are counted by the client.
            Ok(_) => {}
            Err(_) => break,
        }
    }
    // The ARP check of a new address (RFC 5227 §2.1).
    if let Some(address) = client.checking_address() {
        let _ = stack.watch_address(iface, Some(address));
        if stack.take_address_conflict(iface).is_some() {
            client.handle_conflict(now);
        }
    }
    if let Some(address) = client.poll_probe(now) {
        // A full transmit queue loses a probe; the check still ends.
        let _ = stack.send_arp_probe(iface, address);
    }
    if let Some(e) = client.handle_timeout(now) {
        event = Some(e);
    }
    match event {
        Some(Dhcpv4Event::Bound(lease)) => {
            let _ = stack.set_ipv4(iface, Some(lease.ipv4_config()));
        }
        Some(Dhcpv4Event::Lost) => {
            let _ = stack.set_ipv4(iface, None);
        }
        None => {}
    }
    let mut out = [0u8; CLIENT_MESSAGE_LEN];
    if let Some((len, to)) = client.poll_transmit(now, &mut out) {
        let dst = to.unwrap_or(Ipv4Addr::BROADCAST);
        // A full transmit queue loses this one; the retransmission follows.
        let _ = stack
            .udp(socket)
            .send_to(&out[..len], IpEndpoint::new(IpAddr::V4(dst), SERVER_PORT));
    }
    event
}
