//! The measured side: Duet's own TCP engine (`duet-netstack`) on both ends
//! of the link, as [`super::StackPair`] for [`super::interleaved`].
//!
//! Configured as the bench promises: software checksums (the link's
//! capabilities say `Checksum::Both`), frames of 1514 bytes, 64 KiB socket
//! rings, and the engine's defaults otherwise (Nagle on, delayed ACK,
//! NewReno, window scaling, timestamps and SACK offered). Each poll takes
//! every frame waiting and sends everything it can, as smoltcp's does.

use core::task::Context;

use duet_netstack::iface::{InterfaceConfig, Ipv4Cidr, Ipv4Config};
use duet_netstack::stack::{TcpHandle, TcpResources};
use duet_netstack::tcp::TcpState;
use duet_netstack::{Config, EthernetAddress, Instant, Stack, StackResources};
use embassy_net_driver::{Capabilities, Checksum, Driver, HardwareAddress, LinkState};

use super::{
    BUFFER_LEN, CLIENT_IPV4, CLIENT_MAC, CLIENT_PORT, PREFIX_LEN, SERVER_IPV4, SERVER_MAC,
    SERVER_PORT, StackError, StackPair,
};
use crate::link::{FRAME_MAX, FrameQueue, Link, LinkEnd, Side};

/// Packet buffers per stack: a full 64 KiB window of segments plus room.
const PACKETS: usize = 96;
/// Ring memory per stack: one socket's receive and send rings.
const TCP_MEMORY: usize = 2 * BUFFER_LEN;

/// One Duet stack with its one socket.
struct Host {
    stack: Stack<'static>,
    socket: Option<TcpHandle>,
    side: Side,
    mac: [u8; 6],
}

impl Host {
    fn new(side: Side, mac: [u8; 6], ipv4: [u8; 4]) -> Result<Self, StackError> {
        // Leaked once per run: the stack borrows its memory for its lifetime,
        // as a firmware's statics do.
        let resources: &'static mut StackResources<PACKETS, 1, 4> =
            Box::leak(Box::new(StackResources::new()));
        let tcp: &'static mut TcpResources<2, TCP_MEMORY> =
            Box::leak(Box::new(TcpResources::new()));
        let config = Config {
            seed: u64::from(mac[5]),
            tx_queue_limit: PACKETS as u16,
            rx_budget: u16::MAX,
            ..Config::default()
        };
        let mut stack = Stack::new(resources, config);
        let address = Ipv4Cidr::new(ipv4.into(), PREFIX_LEN);
        stack
            .add_interface(InterfaceConfig {
                hardware_address: EthernetAddress(mac),
                ipv4: Some(Ipv4Config {
                    address,
                    gateway: None,
                }),
            })
            .map_err(|error| StackError(format!("duet interface: {error}")))?;
        stack.enable_tcp(tcp);
        Ok(Host {
            stack,
            socket: None,
            side,
            mac,
        })
    }

    fn poll(&mut self, now_us: u64, link: &mut Link) {
        let mut end = DuetEnd {
            end: link.end(self.side),
            mac: self.mac,
        };
        self.stack.poll(Instant::from_micros(now_us), &mut end);
    }

    fn state(&mut self) -> TcpState {
        match self.socket {
            Some(handle) => self.stack.tcp(handle).state(),
            None => TcpState::Closed,
        }
    }
}

/// Duet on both ends.
pub struct DuetPair {
    client: Host,
    server: Host,
    listener: Option<duet_netstack::stack::ListenerHandle>,
}

impl std::fmt::Debug for DuetPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DuetPair").finish_non_exhaustive()
    }
}

fn tcp_error(what: &str, error: impl std::fmt::Display) -> StackError {
    StackError(format!("duet {what}: {error}"))
}

impl StackPair for DuetPair {
    const NAME: &'static str = "duet";

    fn new(_link: &mut Link) -> Result<Self, StackError> {
        Ok(DuetPair {
            client: Host::new(Side::Client, CLIENT_MAC, CLIENT_IPV4)?,
            server: Host::new(Side::Server, SERVER_MAC, SERVER_IPV4)?,
            listener: None,
        })
    }

    fn open(&mut self, _now_us: u64) -> Result<(), StackError> {
        let listener = self
            .server
            .stack
            .tcp_listen(SERVER_PORT, 1, BUFFER_LEN, BUFFER_LEN)
            .map_err(|e| tcp_error("listen", e))?;
        self.listener = Some(listener);
        let client = self
            .client
            .stack
            .add_tcp_socket(BUFFER_LEN, BUFFER_LEN)
            .map_err(|e| tcp_error("socket", e))?;
        self.client
            .stack
            .tcp(client)
            .connect(
                (std::net::Ipv4Addr::from(SERVER_IPV4), SERVER_PORT),
                CLIENT_PORT,
            )
            .map_err(|e| tcp_error("connect", e))?;
        self.client.socket = Some(client);
        Ok(())
    }

    fn established(&mut self) -> bool {
        if let (None, Some(listener)) = (self.server.socket, self.listener) {
            self.server.socket = self.server.stack.tcp_accept(listener);
        }
        self.client.state() == TcpState::Established && self.server.state() == TcpState::Established
    }

    fn poll(&mut self, now_us: u64, link: &mut Link) {
        self.client.poll(now_us, link);
        self.server.poll(now_us, link);
    }

    fn client_send(&mut self, data: &[u8]) -> Result<usize, StackError> {
        let handle = self
            .client
            .socket
            .ok_or_else(|| StackError("duet: no client socket".into()))?;
        self.client
            .stack
            .tcp(handle)
            .send_slice(data)
            .map_err(|e| tcp_error("send", e))
    }

    fn server_recv(&mut self, buf: &mut [u8]) -> Result<usize, StackError> {
        let handle = self
            .server
            .socket
            .ok_or_else(|| StackError("duet: no server socket".into()))?;
        self.server
            .stack
            .tcp(handle)
            .recv_slice(buf)
            .map_err(|e| tcp_error("recv", e))
    }
}

/// The link end as an `embassy_net_driver::Driver`.
struct DuetEnd<'a> {
    end: LinkEnd<'a>,
    mac: [u8; 6],
}

/// Lends the oldest frame of the receive queue, then removes it.
struct RxToken<'a>(&'a mut FrameQueue);

impl embassy_net_driver::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, f: F) -> R {
        let result = f(self.0.front_mut().unwrap_or_default());
        self.0.remove_front();
        result
    }
}

/// Lends the next free buffer of the transmit queue, then queues the frame.
struct TxToken<'a>(&'a mut FrameQueue);

impl embassy_net_driver::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        match self.0.back_buffer(len) {
            Some(buffer) => {
                let result = f(buffer);
                self.0.commit_back(len);
                result
            }
            None => f(&mut vec![0; len]),
        }
    }
}

impl Driver for DuetEnd<'_> {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a>
    where
        Self: 'a;

    /// Offers a frame only while the reply it may cause has room: the link
    /// pushes back rather than drops.
    fn receive(&mut self, _cx: &mut Context) -> Option<(RxToken<'_>, TxToken<'_>)> {
        if self.end.rx.is_empty() || !self.end.tx.has_room() {
            return None;
        }
        Some((RxToken(self.end.rx), TxToken(self.end.tx)))
    }

    fn transmit(&mut self, _cx: &mut Context) -> Option<TxToken<'_>> {
        self.end.tx.has_room().then_some(TxToken(self.end.tx))
    }

    fn link_state(&mut self, _cx: &mut Context) -> LinkState {
        LinkState::Up
    }

    fn capabilities(&self) -> Capabilities {
        let mut capabilities = Capabilities::default();
        capabilities.max_transmission_unit = FRAME_MAX;
        capabilities.checksum.ipv4 = Checksum::Both;
        capabilities.checksum.tcp = Checksum::Both;
        capabilities.checksum.udp = Checksum::Both;
        capabilities.checksum.icmpv4 = Checksum::Both;
        capabilities
    }

    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ethernet(self.mac)
    }
}
