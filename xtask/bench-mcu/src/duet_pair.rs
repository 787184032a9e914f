//! The measured side: Duet's TCP engine (`duet-netstack`) on both ends of
//! the link, as [`StackPair`]. The no_std twin of the host bench's
//! `xtask/bench/src/tcp/duet.rs`: memory in statics instead of leaked boxes.
//!
//! Configured as the bench promises: software checksums (the driver's
//! capabilities say `Checksum::Both`), frames of 1514 bytes, 16 KiB socket
//! rings, and the engine's defaults otherwise (Nagle on, delayed ACK,
//! NewReno, window scaling, timestamps and SACK offered). Each poll takes
//! every frame waiting and sends everything it can, as smoltcp's does.

use core::net::Ipv4Addr;
use core::task::Context;

use duet_netstack::iface::{InterfaceConfig, Ipv4Cidr, Ipv4Config};
use duet_netstack::stack::{ListenerHandle, TcpHandle, TcpResources};
use duet_netstack::tcp::{TcpError, TcpState};
use duet_netstack::{Config, EthernetAddress, Instant, Stack, StackError, StackResources};
use embassy_net_driver::{Capabilities, Checksum, Driver, HardwareAddress, LinkState};
use static_cell::ConstStaticCell;

use crate::exchange::{
    BUFFER_LEN, CLIENT_IPV4, CLIENT_MAC, CLIENT_PORT, PREFIX_LEN, SERVER_IPV4, SERVER_MAC,
    SERVER_PORT, StackPair,
};
use crate::link::{FRAME_MAX, FrameQueue, Link, LinkEnd, Side};

/// Packet buffers per stack: a full 16 KiB window of segments plus room
/// for the ACKs and frames waiting for the driver.
const PACKETS: usize = 32;
/// Ring memory per stack: one socket's receive and send rings.
const TCP_MEMORY: usize = 2 * BUFFER_LEN;

type Resources = StackResources<PACKETS, 1, 4>;
type Tcp = TcpResources<2, TCP_MEMORY>;

static CLIENT_RESOURCES: ConstStaticCell<Resources> = ConstStaticCell::new(Resources::new());
static SERVER_RESOURCES: ConstStaticCell<Resources> = ConstStaticCell::new(Resources::new());
static CLIENT_TCP: ConstStaticCell<Tcp> = ConstStaticCell::new(Tcp::new());
static SERVER_TCP: ConstStaticCell<Tcp> = ConstStaticCell::new(Tcp::new());

/// What went wrong, by the call that failed.
#[derive(Debug)]
pub enum DuetError {
    /// [`DuetPair::new`] was called twice: its memory is taken.
    MemoryTaken,
    Interface(StackError),
    Listen(TcpError),
    Socket(TcpError),
    Connect(TcpError),
    Send(TcpError),
    Recv(TcpError),
    NoSocket,
}

impl core::fmt::Display for DuetError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DuetError::MemoryTaken => f.write_str("stack memory already taken"),
            DuetError::Interface(error) => write!(f, "interface: {error}"),
            DuetError::Listen(error) => write!(f, "listen: {error}"),
            DuetError::Socket(error) => write!(f, "socket: {error}"),
            DuetError::Connect(error) => write!(f, "connect: {error}"),
            DuetError::Send(error) => write!(f, "send: {error}"),
            DuetError::Recv(error) => write!(f, "recv: {error}"),
            DuetError::NoSocket => f.write_str("no socket"),
        }
    }
}

/// One Duet stack with its one socket.
struct Host {
    stack: Stack<'static>,
    socket: Option<TcpHandle>,
    side: Side,
    mac: [u8; 6],
}

impl Host {
    fn new(
        side: Side,
        mac: [u8; 6],
        ipv4: [u8; 4],
        resources: &'static mut Resources,
        tcp: &'static mut Tcp,
    ) -> Result<Self, DuetError> {
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
            .map_err(DuetError::Interface)?;
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
    listener: Option<ListenerHandle>,
}

impl DuetPair {
    /// Makes both stacks in their statics; once per firmware run.
    pub fn new() -> Result<Self, DuetError> {
        let (Some(client_resources), Some(server_resources), Some(client_tcp), Some(server_tcp)) = (
            CLIENT_RESOURCES.try_take(),
            SERVER_RESOURCES.try_take(),
            CLIENT_TCP.try_take(),
            SERVER_TCP.try_take(),
        ) else {
            return Err(DuetError::MemoryTaken);
        };
        Ok(DuetPair {
            client: Host::new(
                Side::Client,
                CLIENT_MAC,
                CLIENT_IPV4,
                client_resources,
                client_tcp,
            )?,
            server: Host::new(
                Side::Server,
                SERVER_MAC,
                SERVER_IPV4,
                server_resources,
                server_tcp,
            )?,
            listener: None,
        })
    }
}

impl StackPair for DuetPair {
    const NAME: &'static str = "duet";

    type Error = DuetError;

    fn open(&mut self) -> Result<(), DuetError> {
        let listener = self
            .server
            .stack
            .tcp_listen(SERVER_PORT, 1, BUFFER_LEN, BUFFER_LEN)
            .map_err(DuetError::Listen)?;
        self.listener = Some(listener);
        let client = self
            .client
            .stack
            .add_tcp_socket(BUFFER_LEN, BUFFER_LEN)
            .map_err(DuetError::Socket)?;
        self.client
            .stack
            .tcp(client)
            .connect((Ipv4Addr::from(SERVER_IPV4), SERVER_PORT), CLIENT_PORT)
            .map_err(DuetError::Connect)?;
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

    fn client_send(&mut self, data: &[u8]) -> Result<usize, DuetError> {
        let handle = self.client.socket.ok_or(DuetError::NoSocket)?;
        self.client
            .stack
            .tcp(handle)
            .send_slice(data)
            .map_err(DuetError::Send)
    }

    fn server_recv(&mut self, buf: &mut [u8]) -> Result<usize, DuetError> {
        let handle = self.server.socket.ok_or(DuetError::NoSocket)?;
        self.server
            .stack
            .tcp(handle)
            .recv_slice(buf)
            .map_err(DuetError::Recv)
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
        // `receive` made this token for a non-empty queue; were it empty,
        // the stack would see an empty frame and drop it.
        let result = f(self.0.front_mut().unwrap_or_default());
        self.0.remove_front();
        result
    }
}

/// Lends the next free buffer of the transmit queue, then queues the frame.
struct TxToken<'a>(&'a mut FrameQueue);

impl embassy_net_driver::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        self.0.push_with(len, f)
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
