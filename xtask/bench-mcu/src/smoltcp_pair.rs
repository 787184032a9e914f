//! The anchor: smoltcp 0.14 on both ends of the link, without an allocator
//! (borrowed socket buffers and socket set, in statics), configured as the
//! bench promises (software checksums, IP MTU 1500, 16 KiB socket buffers)
//! and otherwise left at smoltcp's defaults (Nagle on, 10 ms delayed ACK,
//! no congestion control since neither `socket-tcp-reno` nor `-cubic` is
//! on). The no_std twin of the host bench's
//! `xtask/bench/src/tcp/smoltcp_pair.rs`.

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::{self, Checksum, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, IpEndpoint, Ipv4Address};
use static_cell::ConstStaticCell;

use crate::exchange::{
    Aligned, BUFFER_LEN, CLIENT_IPV4, CLIENT_MAC, CLIENT_PORT, PREFIX_LEN, SERVER_IPV4, SERVER_MAC,
    SERVER_PORT, StackPair,
};
use crate::link::{FRAME_MAX, FrameQueue, Link, LinkEnd, Side};

type Buffer = Aligned<BUFFER_LEN>;
type Storage = [SocketStorage<'static>; 1];

static CLIENT_RX: ConstStaticCell<Buffer> = ConstStaticCell::new(Aligned::ZERO);
static CLIENT_TX: ConstStaticCell<Buffer> = ConstStaticCell::new(Aligned::ZERO);
static SERVER_RX: ConstStaticCell<Buffer> = ConstStaticCell::new(Aligned::ZERO);
static SERVER_TX: ConstStaticCell<Buffer> = ConstStaticCell::new(Aligned::ZERO);
static CLIENT_SOCKETS: ConstStaticCell<Storage> = ConstStaticCell::new([SocketStorage::EMPTY]);
static SERVER_SOCKETS: ConstStaticCell<Storage> = ConstStaticCell::new([SocketStorage::EMPTY]);

/// What went wrong, by the call that failed.
#[derive(Debug)]
pub enum SmoltcpError {
    /// [`SmoltcpPair::new`] was called twice: its memory is taken.
    MemoryTaken,
    /// The interface has no room for its address.
    Address,
    Listen(tcp::ListenError),
    Connect(tcp::ConnectError),
    Send(tcp::SendError),
    Recv(tcp::RecvError),
}

impl core::fmt::Display for SmoltcpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SmoltcpError::MemoryTaken => f.write_str("stack memory already taken"),
            SmoltcpError::Address => f.write_str("no room for the interface address"),
            SmoltcpError::Listen(error) => write!(f, "listen: {error}"),
            SmoltcpError::Connect(error) => write!(f, "connect: {error}"),
            SmoltcpError::Send(error) => write!(f, "send: {error}"),
            SmoltcpError::Recv(error) => write!(f, "recv: {error}"),
        }
    }
}

/// One smoltcp interface with its one socket.
struct Host {
    iface: Interface,
    sockets: SocketSet<'static>,
    tcp: SocketHandle,
    side: Side,
}

/// A host's statics.
struct Memory {
    rx: &'static mut Buffer,
    tx: &'static mut Buffer,
    sockets: &'static mut Storage,
}

impl Host {
    fn new(
        side: Side,
        mac: [u8; 6],
        ipv4: [u8; 4],
        link: &mut Link,
        memory: Memory,
    ) -> Result<Self, SmoltcpError> {
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        // Fixed, so initial sequence numbers and ports repeat run to run.
        config.random_seed =
            u64::from_be_bytes([0, 0, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]]);
        let mut iface = Interface::new(config, &mut link.end(side), Instant::ZERO);
        let mut pushed = Ok(());
        iface.update_ip_addrs(|addrs| {
            pushed = addrs.push(IpCidr::new(Ipv4Address::from(ipv4).into(), PREFIX_LEN));
        });
        pushed.map_err(|_| SmoltcpError::Address)?;
        let socket = tcp::Socket::new(
            tcp::SocketBuffer::new(&mut memory.rx.0[..]),
            tcp::SocketBuffer::new(&mut memory.tx.0[..]),
        );
        let mut sockets = SocketSet::new(&mut memory.sockets[..]);
        let tcp = sockets.add(socket);
        Ok(Host {
            iface,
            sockets,
            tcp,
            side,
        })
    }

    fn socket(&mut self) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(self.tcp)
    }

    fn poll(&mut self, now_us: u64, link: &mut Link) {
        let now = Instant::from_micros(i64::try_from(now_us).unwrap_or(i64::MAX));
        self.iface
            .poll(now, &mut link.end(self.side), &mut self.sockets);
    }
}

/// smoltcp on both ends.
pub struct SmoltcpPair {
    client: Host,
    server: Host,
}

impl SmoltcpPair {
    /// Makes both interfaces, in their statics; once per firmware run.
    /// smoltcp reads the device's capabilities here, hence `link`.
    pub fn new(link: &mut Link) -> Result<Self, SmoltcpError> {
        let memory = |rx: &'static ConstStaticCell<Buffer>,
                      tx: &'static ConstStaticCell<Buffer>,
                      sockets: &'static ConstStaticCell<Storage>| {
            Some(Memory {
                rx: rx.try_take()?,
                tx: tx.try_take()?,
                sockets: sockets.try_take()?,
            })
        };
        let (Some(client), Some(server)) = (
            memory(&CLIENT_RX, &CLIENT_TX, &CLIENT_SOCKETS),
            memory(&SERVER_RX, &SERVER_TX, &SERVER_SOCKETS),
        ) else {
            return Err(SmoltcpError::MemoryTaken);
        };
        Ok(SmoltcpPair {
            client: Host::new(Side::Client, CLIENT_MAC, CLIENT_IPV4, link, client)?,
            server: Host::new(Side::Server, SERVER_MAC, SERVER_IPV4, link, server)?,
        })
    }
}

impl StackPair for SmoltcpPair {
    const NAME: &'static str = "smoltcp";

    type Error = SmoltcpError;

    fn open(&mut self) -> Result<(), SmoltcpError> {
        self.server
            .socket()
            .listen(SERVER_PORT)
            .map_err(SmoltcpError::Listen)?;
        let remote = IpEndpoint::new(Ipv4Address::from(SERVER_IPV4).into(), SERVER_PORT);
        let client = &mut self.client;
        client
            .sockets
            .get_mut::<tcp::Socket>(client.tcp)
            .connect(client.iface.context(), remote, CLIENT_PORT)
            .map_err(SmoltcpError::Connect)
    }

    fn established(&mut self) -> bool {
        self.client.socket().state() == tcp::State::Established
            && self.server.socket().state() == tcp::State::Established
    }

    fn poll(&mut self, now_us: u64, link: &mut Link) {
        self.client.poll(now_us, link);
        self.server.poll(now_us, link);
    }

    fn client_send(&mut self, data: &[u8]) -> Result<usize, SmoltcpError> {
        self.client
            .socket()
            .send_slice(data)
            .map_err(SmoltcpError::Send)
    }

    fn server_recv(&mut self, buf: &mut [u8]) -> Result<usize, SmoltcpError> {
        self.server
            .socket()
            .recv_slice(buf)
            .map_err(SmoltcpError::Recv)
    }
}

/// The link end as smoltcp's device: receive takes the peer's frames,
/// transmit queues frames for the peer.
impl phy::Device for LinkEnd<'_> {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a>
    where
        Self: 'a;

    /// Offers a frame only while the reply it may cause has room, so the
    /// link pushes back rather than drops.
    fn receive(&mut self, _timestamp: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        if self.rx.is_empty() || !self.tx.has_room() {
            return None;
        }
        Some((RxToken(self.rx), TxToken(self.tx)))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<TxToken<'_>> {
        self.tx.has_room().then_some(TxToken(self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut capabilities = DeviceCapabilities::default();
        capabilities.medium = Medium::Ethernet;
        capabilities.max_transmission_unit = FRAME_MAX;
        // Software checksums both ways: the stack computes every checksum
        // it sends and verifies every one it gets.
        let mut checksum = ChecksumCapabilities::default();
        checksum.ipv4 = Checksum::Both;
        checksum.tcp = Checksum::Both;
        checksum.udp = Checksum::Both;
        checksum.icmpv4 = Checksum::Both;
        capabilities.checksum = checksum;
        capabilities
    }
}

/// Lends the oldest frame of the receive queue, then removes it.
pub struct RxToken<'a>(&'a mut FrameQueue);

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        // `receive` made this token for a non-empty queue; were it empty,
        // smoltcp would skip the empty frame.
        let result = f(self.0.front().unwrap_or_default());
        self.0.remove_front();
        result
    }
}

/// Lends the next free buffer of the transmit queue, then queues the frame.
pub struct TxToken<'a>(&'a mut FrameQueue);

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        self.0.push_with(len, f)
    }
}
