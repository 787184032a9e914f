//! The anchor: smoltcp 0.14 on both ends of the link, configured as the bench
//! promises (software checksums, IP MTU 1500, 64 KiB socket buffers) and
//! otherwise left at smoltcp's defaults (Nagle on, 10 ms delayed ACK, no
//! congestion control since neither `socket-tcp-reno` nor `-cubic` is on).

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Checksum, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, IpEndpoint, Ipv4Address};

use super::{
    BUFFER_LEN, CLIENT_IPV4, CLIENT_MAC, CLIENT_PORT, PREFIX_LEN, SERVER_IPV4, SERVER_MAC,
    SERVER_PORT, StackError, StackPair,
};
use crate::link::{FRAME_MAX, FrameQueue, Link, LinkEnd, Side};

/// One smoltcp interface with its one socket.
struct Host {
    iface: Interface,
    sockets: SocketSet<'static>,
    tcp: SocketHandle,
    side: Side,
}

impl Host {
    fn new(side: Side, mac: [u8; 6], ipv4: [u8; 4], link: &mut Link) -> Result<Self, StackError> {
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        // Fixed, so initial sequence numbers and ports repeat run to run.
        config.random_seed =
            u64::from_be_bytes([0, 0, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]]);
        let mut iface = Interface::new(config, &mut link.end(side), Instant::ZERO);
        let mut pushed = Ok(());
        iface.update_ip_addrs(|addrs| {
            pushed = addrs.push(IpCidr::new(Ipv4Address::from(ipv4).into(), PREFIX_LEN));
        });
        pushed.map_err(|_| StackError("smoltcp refused the interface address".into()))?;
        let socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; BUFFER_LEN]),
            tcp::SocketBuffer::new(vec![0; BUFFER_LEN]),
        );
        let mut sockets = SocketSet::new(Vec::with_capacity(1));
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

impl std::fmt::Debug for SmoltcpPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmoltcpPair").finish_non_exhaustive()
    }
}

impl StackPair for SmoltcpPair {
    const NAME: &'static str = "smoltcp";

    /// Makes both interfaces; smoltcp reads the device's capabilities here.
    fn new(link: &mut Link) -> Result<Self, StackError> {
        Ok(SmoltcpPair {
            client: Host::new(Side::Client, CLIENT_MAC, CLIENT_IPV4, link)?,
            server: Host::new(Side::Server, SERVER_MAC, SERVER_IPV4, link)?,
        })
    }

    fn open(&mut self, _now_us: u64) -> Result<(), StackError> {
        self.server
            .socket()
            .listen(SERVER_PORT)
            .map_err(|error| StackError(format!("smoltcp listen: {error}")))?;
        let remote = IpEndpoint::new(Ipv4Address::from(SERVER_IPV4).into(), SERVER_PORT);
        let client = &mut self.client;
        client
            .sockets
            .get_mut::<tcp::Socket>(client.tcp)
            .connect(client.iface.context(), remote, CLIENT_PORT)
            .map_err(|error| StackError(format!("smoltcp connect: {error}")))
    }

    fn established(&mut self) -> bool {
        self.client.socket().state() == tcp::State::Established
            && self.server.socket().state() == tcp::State::Established
    }

    fn poll(&mut self, now_us: u64, link: &mut Link) {
        self.client.poll(now_us, link);
        self.server.poll(now_us, link);
    }

    fn client_send(&mut self, data: &[u8]) -> Result<usize, StackError> {
        self.client
            .socket()
            .send_slice(data)
            .map_err(|error| StackError(format!("smoltcp send: {error}")))
    }

    fn server_recv(&mut self, buf: &mut [u8]) -> Result<usize, StackError> {
        self.server
            .socket()
            .recv_slice(buf)
            .map_err(|error| StackError(format!("smoltcp recv: {error}")))
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
    /// link pushes back rather than drops: the bench has no faults.
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
        // Software checksums both ways, as the bench promises: the stack
        // computes every checksum it sends and verifies every one it gets.
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
        match self.0.back_buffer(len) {
            Some(buffer) => {
                let result = f(buffer);
                self.0.commit_back(len);
                result
            }
            // Tokens are made only with room, and smoltcp builds no frame
            // past the MTU it was given; were either broken, the frame is
            // built aside and lost, as a NIC drops what has no descriptor.
            None => f(&mut vec![0; len]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::TICK_US;

    /// The capabilities the device reports must make smoltcp check every
    /// checksum in software: a segment with one payload bit flipped on the
    /// link is dropped, and the data arrives intact only when the client
    /// retransmits it.
    #[test]
    fn a_segment_damaged_on_the_link_fails_its_checksum() {
        let mut link = Link::new();
        let mut pair = SmoltcpPair::new(&mut link).unwrap();
        pair.open(0).unwrap();
        let mut now_us = 0;
        while !pair.established() {
            pair.poll(now_us, &mut link);
            now_us += TICK_US;
            assert!(now_us < 1_000_000, "no handshake");
        }
        let data = [0x5a; 1000];
        assert_eq!(pair.client_send(&data), Ok(data.len()));
        pair.client.poll(now_us, &mut link);
        let queue = link.end(Side::Server).rx;
        let last = queue
            .front_mut()
            .and_then(|frame| frame.last_mut())
            .unwrap();
        *last ^= 0x01;
        pair.server.poll(now_us, &mut link);
        let mut buf = [0u8; 1000];
        assert_eq!(pair.server_recv(&mut buf), Ok(0));

        let mut received = 0;
        while received < data.len() {
            now_us += TICK_US;
            assert!(now_us < 10_000_000, "no retransmission");
            pair.poll(now_us, &mut link);
            received += pair.server_recv(&mut buf[received..]).unwrap();
        }
        assert_eq!(buf, data);
    }
}
