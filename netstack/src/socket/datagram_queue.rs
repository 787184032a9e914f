//! What every datagram socket (UDP, ICMP echo) has in common: a bounded
//! queue of received packets, read in place from the pool, and the tasks
//! waiting to receive or to send.

use core::task::{Context, Poll, Waker};

use super::waker::WakerSlot;
use crate::pool::{PacketId, PacketPool, PacketQueue};

/// Received packets waiting for the application, and who waits on them.
#[derive(Debug, Clone)]
pub struct DatagramQueue {
    packets: PacketQueue,
    /// Most packets queued at once, so one busy socket cannot drain the pool.
    limit: u16,
    rx_waker: WakerSlot,
    tx_waker: WakerSlot,
}

/// The queue was at its limit; the packet is handed back to be dropped.
#[derive(Debug, PartialEq, Eq)]
pub struct QueueFull(pub PacketId);

impl DatagramQueue {
    pub(crate) const fn new(limit: u16) -> Self {
        Self {
            packets: PacketQueue::new(),
            limit,
            rx_waker: WakerSlot::EMPTY,
            tx_waker: WakerSlot::EMPTY,
        }
    }

    /// Queues a received packet and wakes the reader, unless the queue is full.
    pub(crate) fn push(
        &mut self,
        pool: &mut PacketPool<'_>,
        packet: PacketId,
    ) -> Result<(), QueueFull> {
        if self.packets.len() >= usize::from(self.limit) {
            return Err(QueueFull(packet));
        }
        self.packets.push_back(pool, packet);
        self.rx_waker.wake();
        Ok(())
    }

    /// Lends the oldest packet — `(frame, network offset, payload offset)` —
    /// to `read`, then frees it.
    pub(crate) fn read_front<R>(
        &mut self,
        pool: &mut PacketPool<'_>,
        read: impl FnOnce(&[u8], usize, usize) -> R,
    ) -> Option<R> {
        let (frame, network, payload) = self.packets.front(pool)?;
        let result = read(frame, network, payload);
        if let Some(packet) = self.packets.pop_front(pool) {
            pool.free(packet);
        }
        Some(result)
    }

    pub(crate) fn len(&self) -> usize {
        self.packets.len()
    }

    pub(crate) fn set_limit(&mut self, limit: u16) {
        self.limit = limit;
    }

    /// Ready when something is queued; otherwise remembers the task.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.packets.is_empty() {
            self.rx_waker.register(cx.waker());
            return Poll::Pending;
        }
        Poll::Ready(())
    }

    /// Remembers the task to wake when a refused send may succeed.
    pub(crate) fn register_sender(&mut self, waker: &Waker) {
        self.tx_waker.register(waker);
    }

    /// Room appeared in the transmit path.
    pub(crate) fn wake_sender(&mut self) {
        self.tx_waker.wake();
    }

    /// The socket is going away: frees what is queued and wakes everyone.
    pub(crate) fn close(&mut self, pool: &mut PacketPool<'_>) {
        self.packets.free_all(pool);
        self.rx_waker.wake();
        self.tx_waker.wake();
    }
}
