//! The packet pool: one caller-provided array of fixed-size frame buffers.
//!
//! Every frame the stack holds — received and waiting in a socket, built and
//! waiting for the driver, parked while its neighbour is resolved — lives in a
//! slot of this pool and moves around as an owned [`PacketId`]. Queues are
//! intrusive lists threaded through the slots ([`PacketQueue`]), so a socket,
//! an interface or a neighbour entry can hold any number of packets without
//! memory of its own, and the caller sizes everything with one number.
//!
//! Each frame starts [`HEADROOM`] bytes into a 4-byte aligned buffer, so the
//! IP header behind a 14-byte Ethernet header is word aligned: copies and
//! checksums of the payload then take their aligned fast paths (see FACTS.md:
//! misalignment alone cost smoltcp a third of its instructions per byte).

/// Bytes in one slot's buffer: a full 1518-byte tagged Ethernet frame plus
/// headroom, rounded up to a multiple of 32.
pub const PACKET_BUFFER_SIZE: usize = 1536;

/// Bytes left free in front of every frame so the network header is aligned.
pub const HEADROOM: usize = 2;

/// The largest frame a slot can hold.
pub const MAX_FRAME_LEN: usize = PACKET_BUFFER_SIZE - HEADROOM;

const NIL: u16 = u16::MAX;

/// One buffer of the pool, with the little metadata the stack keeps per packet.
#[derive(Clone)]
#[repr(C, align(4))]
pub struct PacketSlot {
    /// Frame length in bytes, counted from `HEADROOM`.
    len: u16,
    /// Next slot in whichever list holds this one (free list or a queue).
    next: u16,
    /// Offset of the network-layer header inside the frame.
    network_offset: u16,
    /// Offset of the transport payload inside the frame (sockets read it in place).
    payload_offset: u16,
    data: [u8; PACKET_BUFFER_SIZE],
}

impl PacketSlot {
    /// An empty slot, for building pools in `static`s. Every byte is zero
    /// (the pool links its slots when it takes them, see `PacketPool::new`),
    /// so an array of them can live in `.bss`.
    pub const EMPTY: PacketSlot = PacketSlot {
        len: 0,
        next: 0,
        network_offset: 0,
        payload_offset: 0,
        data: [0; PACKET_BUFFER_SIZE],
    };
}

impl core::fmt::Debug for PacketSlot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PacketSlot")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// Ownership of one pool slot.
///
/// Not `Clone`: exactly one place in the stack holds a packet at a time, and it
/// must give it back with [`PacketPool::free`] or hand it to a queue.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a packet must be queued, sent or freed, or its slot leaks"]
pub struct PacketId(u16);

/// The pool of packet buffers.
#[derive(Debug)]
pub struct PacketPool<'a> {
    slots: &'a mut [PacketSlot],
    free_head: u16,
    free_count: u16,
    /// The fewest free slots seen, so callers can size the pool from a run.
    low_water: u16,
}

impl<'a> PacketPool<'a> {
    /// Takes ownership of `slots` (at most 65,534 of them) and marks all free.
    pub fn new(slots: &'a mut [PacketSlot]) -> Self {
        let count = slots.len().min(usize::from(NIL) - 1);
        let slots = &mut slots[..count];
        for (index, slot) in slots.iter_mut().enumerate() {
            slot.next = if index + 1 < count {
                (index + 1) as u16
            } else {
                NIL
            };
            slot.len = 0;
        }
        let count = count as u16;
        Self {
            slots,
            free_head: if count > 0 { 0 } else { NIL },
            free_count: count,
            low_water: count,
        }
    }

    /// Takes a free slot, or `None` when the pool is exhausted.
    pub fn alloc(&mut self) -> Option<PacketId> {
        let index = self.free_head;
        let slot = self.slots.get_mut(usize::from(index))?;
        self.free_head = slot.next;
        slot.next = NIL;
        slot.len = 0;
        slot.network_offset = 0;
        slot.payload_offset = 0;
        self.free_count -= 1;
        self.low_water = self.low_water.min(self.free_count);
        Some(PacketId(index))
    }

    /// Returns a slot to the pool.
    pub fn free(&mut self, packet: PacketId) {
        let slot = &mut self.slots[usize::from(packet.0)];
        slot.next = self.free_head;
        self.free_head = packet.0;
        self.free_count += 1;
    }

    /// Number of slots in the pool.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Number of free slots.
    pub fn available(&self) -> usize {
        usize::from(self.free_count)
    }

    /// The fewest free slots there have been since the pool was made.
    pub fn low_water_mark(&self) -> usize {
        usize::from(self.low_water)
    }

    /// The frame held by `packet`.
    pub fn frame(&self, packet: &PacketId) -> &[u8] {
        let slot = &self.slots[usize::from(packet.0)];
        &slot.data[HEADROOM..HEADROOM + usize::from(slot.len)]
    }

    /// The frame held by `packet`, writable.
    pub fn frame_mut(&mut self, packet: &PacketId) -> &mut [u8] {
        let slot = &mut self.slots[usize::from(packet.0)];
        &mut slot.data[HEADROOM..HEADROOM + usize::from(slot.len)]
    }

    /// Sets the frame length (at most [`MAX_FRAME_LEN`]) and returns the frame
    /// for writing. Bytes beyond the old length hold stale data.
    pub fn resize(&mut self, packet: &PacketId, len: usize) -> &mut [u8] {
        let len = len.min(MAX_FRAME_LEN);
        let slot = &mut self.slots[usize::from(packet.0)];
        slot.len = len as u16;
        &mut slot.data[HEADROOM..HEADROOM + len]
    }

    /// Offset of the network header and of the transport payload in the frame,
    /// as recorded by [`set_offsets`](Self::set_offsets).
    pub fn offsets(&self, packet: &PacketId) -> (usize, usize) {
        let slot = &self.slots[usize::from(packet.0)];
        (
            usize::from(slot.network_offset),
            usize::from(slot.payload_offset),
        )
    }

    /// Records where the network header and transport payload start, so a
    /// socket can read a queued datagram in place without parsing it again.
    pub fn set_offsets(&mut self, packet: &PacketId, network: usize, payload: usize) {
        let slot = &mut self.slots[usize::from(packet.0)];
        slot.network_offset = network as u16;
        slot.payload_offset = payload as u16;
    }
}

/// A FIFO of packets, threaded through the pool's slots: six bytes, whatever
/// its length. Packets leave it only through [`pop_front`](Self::pop_front) or
/// [`free_all`](Self::free_all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketQueue {
    head: u16,
    tail: u16,
    len: u16,
}

impl Default for PacketQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl PacketQueue {
    /// Storage for a queue that its owner resets to [`PacketQueue::new`]
    /// before use: every byte zero (a zero link names slot 0, so it is no
    /// empty queue), for resources that live in `.bss`.
    pub(crate) const UNFORMATTED: PacketQueue = PacketQueue {
        head: 0,
        tail: 0,
        len: 0,
    };

    /// An empty queue.
    pub const fn new() -> Self {
        Self {
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }

    /// Number of packets queued.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `packet`.
    pub fn push_back(&mut self, pool: &mut PacketPool<'_>, packet: PacketId) {
        pool.slots[usize::from(packet.0)].next = NIL;
        match self.tail {
            NIL => self.head = packet.0,
            tail => pool.slots[usize::from(tail)].next = packet.0,
        }
        self.tail = packet.0;
        self.len += 1;
    }

    /// Removes and returns the oldest packet.
    pub fn pop_front(&mut self, pool: &mut PacketPool<'_>) -> Option<PacketId> {
        let head = self.head;
        let slot = pool.slots.get_mut(usize::from(head))?;
        self.head = slot.next;
        slot.next = NIL;
        if self.head == NIL {
            self.tail = NIL;
        }
        self.len -= 1;
        Some(PacketId(head))
    }

    /// The oldest packet, without removing it: `(frame, network offset, payload offset)`.
    pub fn front<'p>(&self, pool: &'p PacketPool<'_>) -> Option<(&'p [u8], usize, usize)> {
        let slot = pool.slots.get(usize::from(self.head))?;
        let frame = &slot.data[HEADROOM..HEADROOM + usize::from(slot.len)];
        Some((
            frame,
            usize::from(slot.network_offset),
            usize::from(slot.payload_offset),
        ))
    }

    /// Visits every queued packet in order, allowing it to be modified.
    pub fn for_each_mut(&self, pool: &mut PacketPool<'_>, mut visit: impl FnMut(&mut [u8])) {
        let mut index = self.head;
        while let Some(slot) = pool.slots.get_mut(usize::from(index)) {
            visit(&mut slot.data[HEADROOM..HEADROOM + usize::from(slot.len)]);
            index = slot.next;
        }
    }

    /// Moves every packet of this queue to the back of `other`, keeping order.
    pub fn append_to(&mut self, pool: &mut PacketPool<'_>, other: &mut PacketQueue) {
        while let Some(packet) = self.pop_front(pool) {
            other.push_back(pool, packet);
        }
    }

    /// Frees every queued packet; returns how many there were.
    pub fn free_all(&mut self, pool: &mut PacketPool<'_>) -> usize {
        let mut freed = 0;
        while let Some(packet) = self.pop_front(pool) {
            pool.free(packet);
            freed += 1;
        }
        freed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_until_exhausted_then_free_makes_room() {
        let mut slots = [PacketSlot::EMPTY, PacketSlot::EMPTY, PacketSlot::EMPTY];
        let mut pool = PacketPool::new(&mut slots);
        let a = pool.alloc().unwrap();
        let b = pool.alloc().unwrap();
        let c = pool.alloc().unwrap();
        assert!(pool.alloc().is_none());
        assert_eq!(pool.available(), 0);
        pool.free(b);
        let d = pool.alloc().unwrap();
        assert_eq!(pool.low_water_mark(), 0);
        for p in [a, c, d] {
            pool.free(p);
        }
        assert_eq!(pool.available(), 3);
    }

    #[test]
    fn frames_are_separate_and_network_header_is_word_aligned() {
        let mut slots = [PacketSlot::EMPTY, PacketSlot::EMPTY];
        let mut pool = PacketPool::new(&mut slots);
        let a = pool.alloc().unwrap();
        let b = pool.alloc().unwrap();
        pool.resize(&a, 60).fill(0xaa);
        pool.resize(&b, 42).fill(0xbb);
        assert!(pool.frame(&a).iter().all(|&x| x == 0xaa));
        assert_eq!(pool.frame(&b).len(), 42);
        let ip_header = pool.frame(&a)[14..].as_ptr() as usize;
        assert_eq!(ip_header % 4, 0);
        assert_eq!(pool.resize(&a, 100_000).len(), MAX_FRAME_LEN);
        pool.free(a);
        pool.free(b);
    }

    #[test]
    fn queue_keeps_fifo_order_and_moves_between_queues() {
        let mut slots: [PacketSlot; 5] = core::array::from_fn(|_| PacketSlot::EMPTY);
        let mut pool = PacketPool::new(&mut slots);
        let mut first = PacketQueue::new();
        let mut second = PacketQueue::new();
        for byte in 1..=4u8 {
            let p = pool.alloc().unwrap();
            pool.resize(&p, 1)[0] = byte;
            pool.set_offsets(&p, 0, byte as usize);
            first.push_back(&mut pool, p);
        }
        assert_eq!(
            first.front(&pool).map(|(f, _, off)| (f[0], off)),
            Some((1, 1))
        );
        first.for_each_mut(&mut pool, |frame| frame[0] *= 10);
        first.append_to(&mut pool, &mut second);
        assert!(first.is_empty());
        assert_eq!(second.len(), 4);
        let order: [u8; 4] = core::array::from_fn(|_| {
            let p = second.pop_front(&mut pool).unwrap();
            let byte = pool.frame(&p)[0];
            pool.free(p);
            byte
        });
        assert_eq!(order, [10, 20, 30, 40]);
        assert!(second.pop_front(&mut pool).is_none());
        assert_eq!(pool.available(), 5);
    }

    #[test]
    fn free_all_returns_every_slot() {
        let mut slots: [PacketSlot; 4] = core::array::from_fn(|_| PacketSlot::EMPTY);
        let mut pool = PacketPool::new(&mut slots);
        let mut queue = PacketQueue::new();
        for _ in 0..4 {
            let p = pool.alloc().unwrap();
            queue.push_back(&mut pool, p);
        }
        assert_eq!(queue.free_all(&mut pool), 4);
        assert_eq!(pool.available(), 4);
        assert!(queue.is_empty());
    }
}
