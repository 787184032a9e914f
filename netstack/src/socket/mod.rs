//! Sockets: the state each one keeps, and the set that holds them.
//!
//! Storage is a caller-provided array of [`SocketSlot`]s; a [`SocketHandle`]
//! names a slot. Ports and ICMP identifiers are found through sorted tables
//! ([`port_table`]), never by scanning the sockets.

pub mod datagram_queue;
mod error;
#[cfg(feature = "icmp")]
pub mod icmp;
pub mod port_table;
#[cfg(feature = "udp")]
pub mod udp;
pub mod waker;

pub use error::{BindError, RecvError, SendError};
use port_table::{PortBinding, PortTable};

/// Names one socket of a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SocketHandle(pub(crate) u16);

impl SocketHandle {
    pub(crate) fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// Storage for one socket of any kind.
#[derive(Debug, Clone)]
// An explicit tag with `Empty` at 0, so that free slots are zero bytes
// (`StackResources` in `.bss`); the compiler's own layout hid `Empty` in a
// niche of the UDP socket, as a non-zero value.
#[repr(u8)]
pub enum SocketSlot {
    Empty = 0,
    #[cfg(feature = "udp")]
    Udp(udp::UdpSocket) = 1,
    #[cfg(feature = "icmp")]
    Icmp(icmp::IcmpSocket) = 2,
}

impl SocketSlot {
    pub const EMPTY: SocketSlot = SocketSlot::Empty;

    /// The receive queue of a datagram socket.
    pub(crate) fn queue_mut(&mut self) -> Option<&mut datagram_queue::DatagramQueue> {
        match self {
            SocketSlot::Empty => None,
            #[cfg(feature = "udp")]
            SocketSlot::Udp(socket) => Some(&mut socket.queue),
            #[cfg(feature = "icmp")]
            SocketSlot::Icmp(socket) => Some(&mut socket.queue),
        }
    }
}

/// All sockets of a stack, with their demultiplexing tables.
#[derive(Debug)]
pub(crate) struct SocketSet<'a> {
    pub slots: &'a mut [SocketSlot],
    #[cfg(feature = "udp")]
    pub udp_ports: PortTable<'a>,
    #[cfg(feature = "icmp")]
    pub icmp_idents: PortTable<'a>,
}

impl<'a> SocketSet<'a> {
    pub fn new(
        slots: &'a mut [SocketSlot],
        udp_ports: &'a mut [PortBinding],
        icmp_idents: &'a mut [PortBinding],
    ) -> Self {
        for slot in slots.iter_mut() {
            *slot = SocketSlot::Empty;
        }
        let _ = (&udp_ports, &icmp_idents);
        Self {
            slots,
            #[cfg(feature = "udp")]
            udp_ports: PortTable::new(udp_ports),
            #[cfg(feature = "icmp")]
            icmp_idents: PortTable::new(icmp_idents),
        }
    }

    /// Puts `socket` in a free slot.
    pub fn add(&mut self, socket: SocketSlot) -> Option<SocketHandle> {
        let index = self
            .slots
            .iter()
            .position(|s| matches!(s, SocketSlot::Empty))?;
        self.slots[index] = socket;
        Some(SocketHandle(index as u16))
    }

    pub fn get_mut(&mut self, handle: SocketHandle) -> Option<&mut SocketSlot> {
        self.slots.get_mut(handle.index())
    }
}
