//! The sans-IO stack: interfaces, sockets and the packet pool, driven by
//! [`Stack::poll`].
//!
//! `poll(now, &mut driver)` takes every frame the driver has, runs it through
//! the protocols, fires due timers, hands queued frames to the driver, and
//! returns when it next needs to run. Application calls (`udp(..)`,
//! `icmp(..)`) queue frames between polls. Nothing here reads a clock, blocks
//! or allocates; the async layer (`crate::asynch`) and blocking loops are thin
//! shells around this.

mod arp;
mod egress;
#[cfg(feature = "icmp")]
mod icmp;
mod ingress;
mod rate_limit;
#[cfg(feature = "tcp")]
mod tcp;
#[cfg(feature = "udp")]
mod udp;

use core::net::Ipv4Addr;
use core::task::{Context, Waker};

use embassy_net_driver::{Driver, LinkState, RxToken, TxToken};

use crate::iface::neighbor::{Neighbor, NeighborCache, NeighborConfig};
use crate::iface::{ChecksumPolicy, Interface, InterfaceConfig, InterfaceId, Ipv4Config};
use crate::pool::{MAX_FRAME_LEN, PacketPool, PacketSlot};
use crate::rand::Rng;
use crate::socket::port_table::PortBinding;
use crate::socket::waker::WakerSlot;
use crate::socket::{SocketHandle, SocketSet, SocketSlot};
use crate::stats::{Stats, bump};
use crate::time::Instant;
use crate::wire::EthernetAddress;

use arp::AddressWatch;
#[cfg(feature = "icmp")]
pub use icmp::Icmp;
pub use rate_limit::RateLimiter;
#[cfg(feature = "tcp")]
pub use tcp::{Backlog, Listener, ListenerHandle, Tcp, TcpHandle, TcpResources};
#[cfg(feature = "udp")]
pub use udp::Udp;

/// Tunables of a stack. `Config::default()` suits a small device.
#[derive(Debug, Clone)]
pub struct Config {
    /// Seeds ephemeral ports, identifiers and jitter; the same seed replays
    /// the same choices.
    pub seed: u64,
    pub neighbor: NeighborConfig,
    /// Time to live of the datagrams we send (RFC 1700 recommends 64).
    pub ttl: u8,
    /// Frames waiting for the driver per interface before sends report
    /// `WouldBlock`, keeping the rest of the pool for receiving.
    pub tx_queue_limit: u16,
    /// Datagrams a new socket may hold unread.
    pub socket_rx_limit: u16,
    /// ICMP errors we may send per second, and the burst allowed
    /// (RFC 1812 §4.3.2.8 asks that they be rate-limited).
    pub icmp_errors_per_second: u32,
    pub icmp_error_burst: u32,
    /// Answer echo requests sent to a broadcast or multicast address
    /// (off by default, as RFC 1122 §3.2.2.6 permits, against smurf attacks).
    pub answer_broadcast_echo: bool,
    /// TCP tunables (timers, options offered, congestion control).
    #[cfg(feature = "tcp")]
    pub tcp: crate::tcp::TcpConfig,
    /// Frames taken from the driver per `poll`, so a flood cannot starve
    /// transmission and timers; `poll` returns `now` when it stopped early.
    pub rx_budget: u16,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            seed: 0,
            neighbor: NeighborConfig::default(),
            ttl: 64,
            tx_queue_limit: 16,
            socket_rx_limit: 8,
            icmp_errors_per_second: 10,
            icmp_error_burst: 10,
            answer_broadcast_echo: false,
            rx_budget: 32,
            #[cfg(feature = "tcp")]
            tcp: crate::tcp::TcpConfig::default(),
        }
    }
}

/// All memory a stack needs, sized at compile time: `PACKETS` pool buffers
/// (≈1.5 KiB each), `SOCKETS` sockets, `NEIGHBORS` neighbour entries per
/// interface, and `INTERFACES` interfaces. Put it in a `static` (e.g. with
/// `static_cell::StaticCell`) on a device.
#[derive(Debug)]
pub struct StackResources<
    const PACKETS: usize,
    const SOCKETS: usize,
    const NEIGHBORS: usize = 8,
    const INTERFACES: usize = 1,
> {
    packets: [PacketSlot; PACKETS],
    sockets: [SocketSlot; SOCKETS],
    udp_ports: [PortBinding; SOCKETS],
    icmp_idents: [PortBinding; SOCKETS],
    neighbors: [[Neighbor; NEIGHBORS]; INTERFACES],
    interfaces: [Interface; INTERFACES],
    address_watches: [AddressWatch; INTERFACES],
}

impl<const P: usize, const S: usize, const N: usize, const I: usize> StackResources<P, S, N, I> {
    /// Every byte zero, so a firmware can keep the resources in `.bss`
    /// (`static_cell::ConstStaticCell`) instead of building them — 37 KB
    /// with 24 packet buffers — on its stack and moving them into a
    /// `StaticCell`; [`Stack::new`] formats every entry before use.
    pub const fn new() -> Self {
        Self {
            packets: [PacketSlot::EMPTY; P],
            sockets: [SocketSlot::EMPTY; S],
            udp_ports: [PortBinding::EMPTY; S],
            icmp_idents: [PortBinding::EMPTY; S],
            neighbors: [const { [Neighbor::UNFORMATTED; N] }; I],
            interfaces: [Interface::UNFORMATTED; I],
            address_watches: [AddressWatch::EMPTY; I],
        }
    }
}

impl<const P: usize, const S: usize, const N: usize, const I: usize> Default
    for StackResources<P, S, N, I>
{
    fn default() -> Self {
        Self::new()
    }
}

/// Why a stack-level call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StackError {
    /// Every interface or socket slot is taken.
    NoFreeSlot,
    /// The handle or interface id does not name a live item of this kind.
    InvalidHandle,
}

impl core::fmt::Display for StackError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            StackError::NoFreeSlot => "no free slot (raise the StackResources size)",
            StackError::InvalidHandle => "no such socket or interface",
        })
    }
}

impl core::error::Error for StackError {}

/// The network stack.
#[derive(Debug)]
pub struct Stack<'a> {
    config: Config,
    pool: PacketPool<'a>,
    interfaces: &'a mut [Interface],
    /// Neighbour entries of all interfaces, `neighbors_per_interface` each.
    neighbors: &'a mut [Neighbor],
    neighbors_per_interface: usize,
    /// Per interface: the address whose conflicts are reported (RFC 5227
    /// probing and defence), indexed like `interfaces`.
    address_watches: &'a mut [AddressWatch],
    sockets: SocketSet<'a>,
    rng: Rng,
    /// IPv4 identification of the next datagram (RFC 6864: unique enough).
    next_ident: u16,
    icmp_errors: RateLimiter,
    stats: Stats,
    /// The latest `now` given to `poll`; application calls between polls
    /// happen "at" this time.
    now: Instant,
    /// The task running `poll` (the async runner), woken when frames are
    /// queued for it.
    poll_waker: WakerSlot,
    /// A send was refused for lack of queue room or buffers since the last
    /// transmission; waking senders is deferred to when room appears.
    senders_blocked: bool,
    /// TCP sockets, listeners and ring memory (empty until `enable_tcp`).
    #[cfg(feature = "tcp")]
    tcp: tcp::TcpPart<'a>,
    /// Tasks waiting in `accept`.
    #[cfg(feature = "tcp")]
    accept_waker: WakerSlot,
}

impl<'a> Stack<'a> {
    /// A stack with no interfaces yet; add them with [`add_interface`](Self::add_interface).
    pub fn new<const P: usize, const S: usize, const N: usize, const I: usize>(
        resources: &'a mut StackResources<P, S, N, I>,
        config: Config,
    ) -> Self {
        let mut rng = Rng::new(config.seed);
        #[cfg(feature = "tcp")]
        let tcp_config = config.tcp.clone();
        let next_ident = rng.next_u32() as u16;
        let icmp_errors = RateLimiter::new(config.icmp_errors_per_second, config.icmp_error_burst);
        let neighbors = resources.neighbors.as_flattened_mut();
        for entry in neighbors.iter_mut() {
            *entry = Neighbor::EMPTY;
        }
        for iface in resources.interfaces.iter_mut() {
            *iface = Interface::UNUSED;
        }
        for watch in resources.address_watches.iter_mut() {
            *watch = AddressWatch::EMPTY;
        }
        Self {
            config,
            pool: PacketPool::new(&mut resources.packets),
            interfaces: &mut resources.interfaces,
            neighbors,
            neighbors_per_interface: N,
            address_watches: &mut resources.address_watches,
            sockets: SocketSet::new(
                &mut resources.sockets,
                &mut resources.udp_ports,
                &mut resources.icmp_idents,
            ),
            rng,
            next_ident,
            icmp_errors,
            stats: Stats::default(),
            now: Instant::ZERO,
            poll_waker: WakerSlot::EMPTY,
            senders_blocked: false,
            #[cfg(feature = "tcp")]
            tcp: tcp::TcpPart::empty(tcp_config),
            #[cfg(feature = "tcp")]
            accept_waker: WakerSlot::EMPTY,
        }
    }

    /// Adds an interface; the first one gets [`InterfaceId::FIRST`].
    pub fn add_interface(&mut self, config: InterfaceConfig) -> Result<InterfaceId, StackError> {
        let index = self
            .interfaces
            .iter()
            .position(|i| !i.in_use)
            .ok_or(StackError::NoFreeSlot)?;
        let iface = &mut self.interfaces[index];
        *iface = Interface::UNUSED;
        iface.in_use = true;
        iface.hardware_address = config.hardware_address;
        iface.ipv4 = config.ipv4;
        self.address_watches[index] = AddressWatch::EMPTY;
        Ok(InterfaceId(index as u8))
    }

    /// Sets (or clears) an interface's IPv4 configuration, e.g. from DHCP.
    /// A new address is announced with a gratuitous ARP.
    pub fn set_ipv4(
        &mut self,
        id: InterfaceId,
        ipv4: Option<Ipv4Config>,
    ) -> Result<(), StackError> {
        let iface = self.interface_mut(id)?;
        if iface.ipv4 != ipv4 {
            iface.announce = ipv4.is_some();
        }
        iface.ipv4 = ipv4;
        Ok(())
    }

    /// The interface `id`.
    pub fn interface(&self, id: InterfaceId) -> Option<&Interface> {
        self.interfaces.get(id.index()).filter(|i| i.in_use)
    }

    fn interface_mut(&mut self, id: InterfaceId) -> Result<&mut Interface, StackError> {
        self.interfaces
            .get_mut(id.index())
            .filter(|i| i.in_use)
            .ok_or(StackError::InvalidHandle)
    }

    /// The Ethernet address the neighbour cache holds for `ip` on interface `id`.
    pub fn neighbor(&self, id: InterfaceId, ip: Ipv4Addr) -> Option<EthernetAddress> {
        self.interface(id)?;
        crate::iface::neighbor::lookup(&self.neighbors[self.neighbor_range(id.index())], ip)
    }

    fn neighbor_range(&self, iface: usize) -> core::ops::Range<usize> {
        iface * self.neighbors_per_interface..(iface + 1) * self.neighbors_per_interface
    }

    /// The neighbour cache of interface `iface` (an index known to be valid).
    fn neighbor_cache(&mut self, iface: usize) -> NeighborCache<'_> {
        let range = self.neighbor_range(iface);
        NeighborCache::new(&mut self.neighbors[range])
    }

    /// The stack's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Free packet buffers now, and the fewest there have been.
    pub fn pool_usage(&self) -> (usize, usize) {
        (self.pool.available(), self.pool.low_water_mark())
    }

    /// Removes a socket, freeing whatever it had queued and unbinding it.
    pub fn remove_socket(&mut self, handle: SocketHandle) -> Result<(), StackError> {
        let slot = self
            .sockets
            .get_mut(handle)
            .ok_or(StackError::InvalidHandle)?;
        let mut removed = core::mem::replace(slot, SocketSlot::Empty);
        if let Some(queue) = removed.queue_mut() {
            queue.close(&mut self.pool);
        }
        match removed {
            SocketSlot::Empty => return Err(StackError::InvalidHandle),
            #[cfg(feature = "udp")]
            SocketSlot::Udp(socket) => self.sockets.udp_ports.remove(socket.local_port),
            #[cfg(feature = "icmp")]
            SocketSlot::Icmp(socket) => self.sockets.icmp_idents.remove(socket.ident),
        }
        Ok(())
    }

    /// Registers the task that runs `poll`, to be woken when there is
    /// something to send.
    pub fn register_poll_waker(&mut self, waker: &Waker) {
        self.poll_waker.register(waker);
    }

    /// Runs the first interface on `driver`: see [`poll_interface`](Self::poll_interface).
    pub fn poll<D: Driver>(&mut self, now: Instant, driver: &mut D) -> Option<Instant> {
        self.poll_interface(
            InterfaceId::FIRST,
            now,
            driver,
            &mut Context::from_waker(Waker::noop()),
        )
    }

    /// Receives what `driver` has for interface `id`, fires timers, transmits
    /// what is queued, and returns when it next needs to run (`None`: only
    /// when the driver or the application wakes it). `cx` is passed to the
    /// driver so it can wake the caller when frames arrive.
    pub fn poll_interface<D: Driver>(
        &mut self,
        id: InterfaceId,
        now: Instant,
        driver: &mut D,
        cx: &mut Context<'_>,
    ) -> Option<Instant> {
        let index = id.index();
        self.interface(id)?;
        self.now = self.now.max(now);
        self.sync_with_driver(index, driver, cx);

        let mut budget = self.config.rx_budget;
        while budget > 0 {
            let Some((rx, _tx)) = driver.receive(cx) else {
                break;
            };
            budget -= 1;
            let received = rx.consume(|frame| {
                if frame.len() > MAX_FRAME_LEN {
                    bump(&mut self.stats.ethernet.drop_oversized);
                    return None;
                }
                // TCP keeps nothing of a segment but its payload, which goes
                // straight into the connection's ring: it is handled in the
                // driver's buffer. Everything else may be held (socket
                // queues, ARP waits, in-place replies) and moves to the pool.
                #[cfg(feature = "tcp")]
                if ingress::is_tcp_frame(frame) {
                    bump(&mut self.stats.ethernet.rx_frames);
                    self.receive_tcp_in_place(index, frame);
                    return None;
                }
                let Some(packet) = self.pool.alloc() else {
                    bump(&mut self.stats.ethernet.drop_no_buffer);
                    bump(&mut self.stats.pool.exhausted);
                    return None;
                };
                self.pool
                    .resize(&packet, frame.len())
                    .copy_from_slice(frame);
                bump(&mut self.stats.ethernet.rx_frames);
                Some(packet)
            });
            if let Some(packet) = received {
                self.process_frame(index, packet);
            }
        }

        self.run_timers(index);
        self.transmit_all(index, driver, cx);

        if budget == 0 {
            return Some(self.now);
        }
        self.next_deadline(index)
    }

    /// Picks up link state and capabilities, which the driver may change at
    /// any time (cable pulled, Wi-Fi association lost).
    fn sync_with_driver<D: Driver>(&mut self, index: usize, driver: &mut D, cx: &mut Context<'_>) {
        let up = driver.link_state(cx) == LinkState::Up;
        let caps = driver.capabilities();
        let iface = &mut self.interfaces[index];
        if up && !iface.link_up {
            iface.announce = iface.ipv4.is_some();
        }
        iface.link_up = up;
        iface.checksum = ChecksumPolicy::from_capabilities(&caps);
        let frame_mtu = caps.max_transmission_unit.clamp(68 + 14, MAX_FRAME_LEN);
        iface.ip_mtu = (frame_mtu - 14) as u16;
    }

    fn run_timers(&mut self, index: usize) {
        let now = self.now;
        if self.interfaces[index].announce && self.interfaces[index].link_up {
            self.interfaces[index].announce = false;
            self.send_announcement(index);
        }
        loop {
            let config = self.config.neighbor.clone();
            let Some(due) = self.neighbor_cache(index).next_due(now, &config) else {
                break;
            };
            self.neighbor_due(index, due);
        }
    }

    /// Hands queued frames to the driver; while it takes them, lets the
    /// transports that were held back by a full queue fill it again.
    fn transmit_all<D: Driver>(&mut self, index: usize, driver: &mut D, cx: &mut Context<'_>) {
        // Queued frames go first; TCP sends directly only behind an empty
        // queue, so frames keep their order.
        self.transmit(index, driver, cx);
        #[cfg(feature = "tcp")]
        self.run_tcp(index, driver, cx);
        for _ in 0..8 {
            let refilled = self.senders_blocked;
            if !self.transmit(index, driver, cx) || !refilled {
                return;
            }
            #[cfg(feature = "tcp")]
            self.run_tcp(index, driver, cx);
        }
    }

    /// Hands queued frames to the driver; false when it stopped taking them.
    fn transmit<D: Driver>(&mut self, index: usize, driver: &mut D, cx: &mut Context<'_>) -> bool {
        let mut driver_took_all = true;
        while !self.interfaces[index].tx_queue.is_empty() {
            let Some(token) = driver.transmit(cx) else {
                driver_took_all = false;
                break;
            };
            let Some(packet) = self.interfaces[index].tx_queue.pop_front(&mut self.pool) else {
                break;
            };
            let frame = self.pool.frame(&packet);
            token.consume(frame.len(), |buffer| buffer.copy_from_slice(frame));
            self.pool.free(packet);
            bump(&mut self.stats.ethernet.tx_frames);
        }
        if self.senders_blocked {
            self.senders_blocked = false;
            self.wake_senders();
        }
        driver_took_all
    }

    fn next_deadline(&mut self, index: usize) -> Option<Instant> {
        let iface = &self.interfaces[index];
        if iface.announce && iface.link_up {
            return Some(self.now);
        }
        let neighbors = self.neighbor_cache(index).next_deadline();
        #[cfg(feature = "tcp")]
        let neighbors = [neighbors, self.tcp_deadline()].into_iter().flatten().min();
        neighbors
    }

    /// Frames left the queues after a send was refused for lack of room:
    /// the refused tasks may try again.
    fn wake_senders(&mut self) {
        for slot in self.sockets.slots.iter_mut() {
            if let Some(queue) = slot.queue_mut() {
                queue.wake_sender();
            }
        }
    }

    /// Picks an IPv4 identification value.
    fn next_ipv4_ident(&mut self) -> u16 {
        self.next_ident = self.next_ident.wrapping_add(1);
        self.next_ident
    }

    /// The latest time given to `poll`.
    pub fn now(&self) -> Instant {
        self.now
    }
}

#[cfg(test)]
mod tests;

#[cfg(all(test, feature = "tcp"))]
mod tcp_tests;

#[cfg(all(test, feature = "tcp"))]
mod tcp_rules_tests;
