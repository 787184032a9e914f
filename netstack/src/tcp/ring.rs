//! Byte rings in caller memory: a TCP connection's send and receive buffers.
//!
//! The stack owns no memory for socket data. The connection keeps only a
//! [`RingState`] (two indices, 8 bytes) in its control block, and the bytes
//! live in a slice the application lends; a [`Ring`] joins the two for the
//! duration of one call. Every operation copies with at most two
//! `copy_bytes` calls (one on each side of the wrap point), because this
//! code sits on the path of every byte the stack moves.
//!
//! The send buffer (RFC 9293 §3.3.1, `SND.UNA..SND.NXT..`) is filled by the
//! application ([`Ring::enqueue_slice`], [`Ring::enqueue_with`]), read in place
//! for (re)transmission ([`Ring::read_at`], [`Ring::contiguous_at`]) and
//! emptied as the peer acknowledges ([`Ring::discard`]). The receive buffer is
//! filled by the connection — out-of-order segments go into the free space past
//! the end with [`Ring::write_unallocated`] and become readable with
//! [`Ring::commit`] once the gap before them is filled (RFC 9293 §3.10.7.4) —
//! and drained by the application ([`Ring::dequeue_slice`],
//! [`Ring::dequeue_with`]).

use core::fmt;

use crate::copy::{copy_and_sum, copy_bytes};
use crate::wire::checksum;

/// Where a ring's data sits inside its storage: the only part of a buffer the
/// connection keeps. 8 bytes on every target.
///
/// Invariant, for the storage it is used with: `read_at < capacity` (or both
/// are 0) and `len <= capacity`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RingState {
    /// Index of the first allocated byte.
    read_at: u32,
    /// Number of allocated bytes.
    len: u32,
}

// Checked on every target the crate is built for, thumbv7em included.
const _: () = assert!(core::mem::size_of::<RingState>() == 8);

impl RingState {
    /// An empty ring.
    pub const fn new() -> Self {
        Self { read_at: 0, len: 0 }
    }

    /// Allocated bytes, readable without the storage at hand.
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// True if nothing is allocated.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops `count` bytes from the front of a ring of `capacity` bytes
    /// without touching them (acknowledged send data needs no copy). Like
    /// [`Ring::discard`], an emptied ring restarts at 0.
    pub fn discard(&mut self, count: usize, capacity: usize) {
        let count = count.min(self.len as usize);
        if capacity > 0 {
            self.read_at = ((self.read_at as usize + count) % capacity) as u32;
        }
        self.len -= count as u32;
        if self.len == 0 {
            self.read_at = 0;
        }
    }
}

/// A ring buffer over borrowed storage; its capacity is `storage.len()`.
pub struct Ring<'s> {
    state: &'s mut RingState,
    storage: &'s mut [u8],
}

impl fmt::Debug for Ring<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("read_at", &self.state.read_at)
            .field("len", &self.state.len)
            .field("capacity", &self.storage.len())
            .finish()
    }
}

impl<'s> Ring<'s> {
    /// Joins a ring's state with its storage. Storage beyond `u32::MAX` bytes is
    /// not used. A state that does not fit the storage (a caller lending a
    /// different buffer than before) is reset to empty rather than allowed to
    /// index out of bounds.
    pub fn new(state: &'s mut RingState, storage: &'s mut [u8]) -> Self {
        let capacity = storage.len().min(u32::MAX as usize);
        let storage = &mut storage[..capacity];
        if state.len as usize > capacity
            || (state.read_at != 0 && state.read_at as usize >= capacity)
        {
            *state = RingState::new();
        }
        Self { state, storage }
    }

    /// Total bytes the storage can hold.
    pub fn capacity(&self) -> usize {
        self.storage.len()
    }

    /// Allocated (readable) bytes.
    pub fn len(&self) -> usize {
        self.state.len as usize
    }

    /// Bytes that can still be enqueued.
    pub fn free(&self) -> usize {
        self.capacity() - self.len()
    }

    /// True if nothing is allocated.
    pub fn is_empty(&self) -> bool {
        self.state.len == 0
    }

    /// True if nothing more can be enqueued (always so at zero capacity).
    pub fn is_full(&self) -> bool {
        self.free() == 0
    }

    /// Index `add` bytes past index `base`, wrapped. Needs `base < capacity`
    /// (or both 0) and `add <= capacity`; never overflows, even at 4 GiB.
    fn wrap(&self, base: usize, add: usize) -> usize {
        let room = self.capacity() - base;
        if add >= room { add - room } else { base + add }
    }

    /// Index of the first free byte, just past the allocated data.
    fn write_index(&self) -> usize {
        self.wrap(self.state.read_at as usize, self.len())
    }

    /// Copies `data` into storage starting at index `at`, wrapping once.
    /// `data.len()` must not exceed the capacity.
    fn copy_in(&mut self, at: usize, data: &[u8]) {
        let first = data.len().min(self.capacity() - at);
        let (head, tail) = data.split_at(first);
        copy_bytes(&mut self.storage[at..at + first], head);
        if !tail.is_empty() {
            copy_bytes(&mut self.storage[..tail.len()], tail);
        }
    }

    /// Copies from storage starting at index `at` into `out`, wrapping once.
    fn copy_out(&self, at: usize, out: &mut [u8]) {
        let first = out.len().min(self.capacity() - at);
        let (head, tail) = out.split_at_mut(first);
        copy_bytes(head, &self.storage[at..at + first]);
        if !tail.is_empty() {
            copy_bytes(tail, &self.storage[..tail.len()]);
        }
    }

    /// Consumes `count` (≤ len) bytes from the front without moving the rest
    /// of the ring, so data placed past the end stays where it was put.
    fn advance_read(&mut self, count: usize) {
        self.state.read_at = self.wrap(self.state.read_at as usize, count) as u32;
        self.state.len -= count as u32;
    }

    /// Appends as much of `data` as fits; returns the number of bytes taken.
    pub fn enqueue_slice(&mut self, data: &[u8]) -> usize {
        let count = data.len().min(self.free());
        let at = self.write_index();
        self.copy_in(at, &data[..count]);
        self.state.len += count as u32;
        count
    }

    /// Removes up to `out.len()` bytes from the front into `out`; returns the
    /// number of bytes copied.
    ///
    /// Unlike [`Ring::discard`], this never moves the read position when the
    /// ring runs empty: a receive ring may hold out-of-order data in its free
    /// space, placed relative to the current end.
    pub fn dequeue_slice(&mut self, out: &mut [u8]) -> usize {
        let count = out.len().min(self.len());
        self.copy_out(self.state.read_at as usize, &mut out[..count]);
        self.advance_read(count);
        count
    }

    /// Lends `f` the largest contiguous free region just past the end, so it
    /// can write in place (zero copy); commits the count `f` returns, clamped
    /// to the region's length.
    pub fn enqueue_with<R>(&mut self, f: impl FnOnce(&mut [u8]) -> (usize, R)) -> R {
        let at = self.write_index();
        let contiguous = self.free().min(self.capacity() - at);
        let (count, result) = f(&mut self.storage[at..at + contiguous]);
        self.state.len += count.min(contiguous) as u32;
        result
    }

    /// Lends `f` the largest contiguous readable region at the front;
    /// consumes the count `f` returns, clamped to the region's length. Like
    /// [`Ring::dequeue_slice`], it keeps the read position when the ring runs
    /// empty.
    pub fn dequeue_with<R>(&mut self, f: impl FnOnce(&[u8]) -> (usize, R)) -> R {
        let at = self.state.read_at as usize;
        let contiguous = self.len().min(self.capacity() - at);
        let (count, result) = f(&self.storage[at..at + contiguous]);
        self.advance_read(count.min(contiguous));
        result
    }

    /// Copies allocated bytes starting `offset` bytes past the front into
    /// `out`, without consuming them (the sender reads unacknowledged data
    /// for (re)transmission this way); returns the number of bytes copied.
    pub fn read_at(&self, offset: usize, out: &mut [u8]) -> usize {
        if offset >= self.len() {
            return 0;
        }
        let count = out.len().min(self.len() - offset);
        let at = self.wrap(self.state.read_at as usize, offset);
        self.copy_out(at, &mut out[..count]);
        count
    }

    /// [`Ring::read_at`] that also returns the copied bytes'
    /// [`checksum::native_sum`], computed in the same pass: the payload's
    /// share of a segment's checksum.
    pub fn read_at_summing(&self, offset: usize, out: &mut [u8]) -> (usize, u64) {
        if offset >= self.len() {
            return (0, 0);
        }
        let count = out.len().min(self.len() - offset);
        let at = self.wrap(self.state.read_at as usize, offset);
        let first = count.min(self.capacity() - at);
        let (head, tail) = out[..count].split_at_mut(first);
        let mut sum = copy_and_sum(head, &self.storage[at..at + first]);
        if !tail.is_empty() {
            let tail_sum = copy_and_sum(tail, &self.storage[..tail.len()]);
            sum = checksum::join_native_sums(sum, first, tail_sum);
        }
        (count, sum)
    }

    /// Allocated bytes starting `offset` bytes past the front, up to `max`
    /// and up to the wrap point: a segment payload can be copied from here
    /// straight into a packet buffer.
    pub fn contiguous_at(&self, offset: usize, max: usize) -> &[u8] {
        if offset >= self.len() {
            return &[];
        }
        let at = self.wrap(self.state.read_at as usize, offset);
        let count = (self.len() - offset).min(max).min(self.capacity() - at);
        &self.storage[at..at + count]
    }

    /// Writes `data` into the free space starting `offset` bytes past the end
    /// of the allocated data, without allocating it: an out-of-order segment
    /// is held there until [`Ring::commit`] (RFC 9293 §3.10.7.4). Bounded by
    /// the free space; returns the number of bytes written.
    pub fn write_unallocated(&mut self, offset: usize, data: &[u8]) -> usize {
        let free = self.free();
        if offset >= free {
            return 0;
        }
        let count = data.len().min(free - offset);
        let at = self.wrap(self.write_index(), offset);
        self.copy_in(at, &data[..count]);
        count
    }

    /// [`Ring::write_unallocated`] that also returns the written bytes'
    /// [`checksum::native_sum`], computed in the same pass.
    pub fn write_unallocated_summing(&mut self, offset: usize, data: &[u8]) -> (usize, u64) {
        let free = self.free();
        if offset >= free {
            return (0, 0);
        }
        let count = data.len().min(free - offset);
        let at = self.wrap(self.write_index(), offset);
        let first = count.min(self.capacity() - at);
        let mut sum = copy_and_sum(&mut self.storage[at..at + first], &data[..first]);
        if count > first {
            let tail_sum = copy_and_sum(&mut self.storage[..count - first], &data[first..count]);
            sum = checksum::join_native_sums(sum, first, tail_sum);
        }
        (count, sum)
    }

    /// Allocates `count` bytes just past the end (data placed earlier by
    /// [`Ring::write_unallocated`]), clamped to the free space.
    pub fn commit(&mut self, count: usize) {
        self.state.len += count.min(self.free()) as u32;
    }

    /// Drops up to `count` bytes from the front (send data the peer has
    /// acknowledged). When the ring runs empty the read position returns to
    /// the start of the storage, so the next writes are one contiguous region.
    /// Not for a receive ring holding out-of-order data past its end: that
    /// data would no longer line up; use the dequeue methods there.
    pub fn discard(&mut self, count: usize) {
        self.advance_read(count.min(self.len()));
        if self.state.len == 0 {
            self.state.read_at = 0;
        }
    }

    /// Empties the ring.
    pub fn clear(&mut self) {
        *self.state = RingState::new();
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::rand::Rng;
    use std::collections::VecDeque;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn fifo_order_and_counts() {
        let mut state = RingState::new();
        let mut storage = [0u8; 8];
        let mut ring = Ring::new(&mut state, &mut storage);
        assert_eq!((ring.capacity(), ring.len(), ring.free()), (8, 0, 8));
        assert!(ring.is_empty() && !ring.is_full());
        assert_eq!(ring.enqueue_slice(b"hello"), 5);
        assert_eq!(ring.enqueue_slice(b"world"), 3);
        assert!(ring.is_full());
        let mut out = [0u8; 16];
        assert_eq!(ring.dequeue_slice(&mut out[..2]), 2);
        assert_eq!(&out[..2], b"he");
        assert_eq!(ring.enqueue_slice(b"!!!"), 2);
        assert_eq!(ring.dequeue_slice(&mut out), 8);
        assert_eq!(&out[..8], b"llowor!!");
        assert!(ring.is_empty());
        assert_eq!(ring.dequeue_slice(&mut out), 0);
        assert_eq!(state.len(), 0);
        assert!(state.is_empty());
    }

    #[test]
    fn zero_capacity_ring_does_nothing() {
        let mut state = RingState::new();
        let mut storage = [0u8; 0];
        let mut ring = Ring::new(&mut state, &mut storage);
        assert_eq!((ring.capacity(), ring.len(), ring.free()), (0, 0, 0));
        assert!(ring.is_empty() && ring.is_full());
        assert_eq!(ring.enqueue_slice(b"x"), 0);
        assert_eq!(ring.dequeue_slice(&mut [0; 4]), 0);
        assert_eq!(ring.enqueue_with(|b| (9, b.len())), 0);
        assert_eq!(ring.dequeue_with(|b| (9, b.len())), 0);
        assert_eq!(ring.read_at(0, &mut [0; 4]), 0);
        assert!(ring.contiguous_at(0, 4).is_empty());
        assert_eq!(ring.write_unallocated(0, b"x"), 0);
        ring.commit(5);
        ring.discard(5);
        assert_eq!(ring.len(), 0);
        ring.clear();
        assert_eq!(ring.len(), 0);
    }

    /// The summing read copies what `read_at` copies and sums it as one
    /// `accumulate` over the copied bytes would, whichever way the copy
    /// splits at the wrap point (odd or even head).
    #[test]
    fn summing_read_matches_read_and_checksum_across_the_wrap() {
        let cap = 13;
        let data: Vec<u8> = (0..cap as u8).map(|b| b.wrapping_mul(37) ^ 0x5a).collect();
        for start in 0..cap {
            for offset in 0..cap {
                let mut state = RingState::new();
                let mut storage = vec![0u8; cap];
                let mut ring = Ring::new(&mut state, &mut storage);
                ring.enqueue_slice(&data[..start]);
                ring.dequeue_slice(&mut vec![0; start]);
                ring.enqueue_slice(&data);
                let mut plain = vec![0u8; cap];
                let n = ring.read_at(offset, &mut plain);
                let mut summed = vec![0u8; cap];
                let (m, sum) = ring.read_at_summing(offset, &mut summed);
                assert_eq!((m, &summed[..m]), (n, &plain[..n]));
                assert_eq!(
                    checksum::fold(checksum::add_native_sum(0, sum)),
                    checksum::fold(checksum::accumulate(0, &plain[..n])),
                    "start {start} offset {offset}"
                );
            }
        }
    }

    #[test]
    fn round_trip_from_every_start_position_and_length() {
        let cap = 13;
        let data: Vec<u8> = (1..=cap as u8).collect();
        for start in 0..cap {
            for n in 0..=cap {
                let mut state = RingState::new();
                let mut storage = vec![0u8; cap];
                let mut ring = Ring::new(&mut state, &mut storage);
                // Move the read position to `start` without a reset.
                ring.enqueue_slice(&data[..start]);
                ring.dequeue_slice(&mut vec![0; start]);
                assert_eq!(ring.len(), 0);
                assert_eq!(ring.enqueue_slice(&data[..n]), n);
                assert_eq!(ring.is_full(), n == cap);
                let mut peek = vec![0u8; n];
                for offset in 0..n {
                    assert_eq!(ring.read_at(offset, &mut peek), n - offset);
                    assert_eq!(&peek[..n - offset], &data[offset..n]);
                    let contiguous = ring.contiguous_at(offset, cap);
                    let until_wrap = cap - (start + offset) % cap;
                    assert_eq!(contiguous.len(), (n - offset).min(until_wrap));
                    assert_eq!(contiguous, &data[offset..offset + contiguous.len()]);
                }
                assert_eq!(ring.read_at(n, &mut peek), 0);
                let mut out = vec![0u8; cap + 1];
                assert_eq!(ring.dequeue_slice(&mut out), n);
                assert_eq!(&out[..n], &data[..n]);
            }
        }
    }

    #[test]
    fn enqueue_with_lends_the_contiguous_free_region_and_clamps() {
        let mut state = RingState::new();
        let mut storage = [0u8; 8];
        let mut ring = Ring::new(&mut state, &mut storage);
        ring.enqueue_slice(b"abcdef");
        ring.dequeue_slice(&mut [0; 4]);
        // Allocated: "ef" at 4..6; free: 6..8 then 0..4.
        let seen = ring.enqueue_with(|region| {
            region.copy_from_slice(b"gh");
            (100, region.len())
        });
        assert_eq!(seen, 2);
        assert_eq!(ring.len(), 4);
        let seen = ring.enqueue_with(|region| {
            region[..3].copy_from_slice(b"ijk");
            (3, region.len())
        });
        assert_eq!(seen, 4);
        let mut out = [0u8; 8];
        assert_eq!(ring.read_at(0, &mut out), 7);
        assert_eq!(&out[..7], b"efghijk");
    }

    #[test]
    fn dequeue_with_lends_the_contiguous_readable_region_and_clamps() {
        let mut state = RingState::new();
        let mut storage = [0u8; 8];
        let mut ring = Ring::new(&mut state, &mut storage);
        ring.enqueue_slice(b"abcdef");
        ring.dequeue_slice(&mut [0; 5]);
        ring.enqueue_slice(b"ghij");
        // Allocated: "f" at 5, "gh" at 6..8, "ij" at 0..2.
        let got = ring.dequeue_with(|region| {
            assert_eq!(region, b"fgh");
            (1, 'x')
        });
        assert_eq!(got, 'x');
        ring.dequeue_with(|region| {
            assert_eq!(region, b"gh");
            (99, ())
        });
        ring.dequeue_with(|region| {
            assert_eq!(region, b"ij");
            (0, ())
        });
        assert_eq!(ring.len(), 2);
    }

    #[test]
    fn out_of_order_data_survives_the_application_draining_the_ring() {
        let mut state = RingState::new();
        let mut storage = [0u8; 10];
        let mut ring = Ring::new(&mut state, &mut storage);
        ring.enqueue_slice(b"0123456");
        ring.dequeue_slice(&mut [0; 3]);
        // Segment "DEF" arrives 3 bytes beyond the in-order end ("456").
        assert_eq!(ring.write_unallocated(3, b"DEF"), 3);
        // The application drains everything in order; the read position stays.
        assert_eq!(ring.dequeue_slice(&mut [0; 10]), 4);
        // The gap "ABC" arrives; everything becomes readable.
        assert_eq!(ring.write_unallocated(0, b"ABC"), 3);
        ring.commit(6);
        let mut out = [0u8; 10];
        assert_eq!(ring.dequeue_slice(&mut out), 6);
        assert_eq!(&out[..6], b"ABCDEF");
    }

    #[test]
    fn write_unallocated_is_bounded_by_free_space_and_commit_clamps() {
        let mut state = RingState::new();
        let mut storage = [0u8; 6];
        let mut ring = Ring::new(&mut state, &mut storage);
        ring.enqueue_slice(b"ab");
        assert_eq!(ring.write_unallocated(4, b"xyz"), 0);
        assert_eq!(ring.write_unallocated(3, b"xyz"), 1);
        assert_eq!(ring.write_unallocated(0, b"cde"), 3);
        ring.commit(100);
        assert_eq!(ring.len(), 6);
        let mut out = [0u8; 6];
        ring.read_at(0, &mut out);
        assert_eq!(&out, b"abcdex");
        assert_eq!(ring.write_unallocated(0, b"q"), 0);
    }

    #[test]
    fn discard_clamps_and_resets_the_read_position_when_empty() {
        let mut state = RingState::new();
        let mut storage = [0u8; 8];
        let mut ring = Ring::new(&mut state, &mut storage);
        ring.enqueue_slice(b"abcdef");
        ring.discard(4);
        assert_eq!(ring.contiguous_at(0, 8), b"ef");
        ring.discard(100);
        assert!(ring.is_empty());
        // The whole storage is one contiguous region again.
        assert_eq!(ring.enqueue_with(|region| (region.len(), region.len())), 8);
        assert_eq!(state, RingState { read_at: 0, len: 8 });
    }

    #[test]
    fn clear_and_mismatched_state() {
        let mut state = RingState { read_at: 5, len: 3 };
        let mut big = [0u8; 8];
        let mut ring = Ring::new(&mut state, &mut big);
        assert_eq!(ring.len(), 3);
        ring.clear();
        assert_eq!(ring.len(), 0);
        assert_eq!(state, RingState::new());
        // A state from a larger buffer lent with a smaller one is reset, not trusted.
        let mut state = RingState { read_at: 5, len: 3 };
        let mut small = [0u8; 4];
        let ring = Ring::new(&mut state, &mut small);
        assert!(ring.is_empty());
        assert_eq!(ring.read_at(0, &mut [0; 4]), 0);
    }

    /// The reference the ring is checked against: allocated bytes in a
    /// `VecDeque`, the free space's known contents (`None` where unknown) in
    /// order from the end of the data, and the physical read position, which
    /// decides the contiguous regions.
    struct Model {
        cap: usize,
        data: VecDeque<u8>,
        placed: Vec<Option<u8>>,
        read_at: usize,
    }

    impl Model {
        fn new(cap: usize) -> Self {
            Self {
                cap,
                data: VecDeque::new(),
                placed: vec![None; cap],
                read_at: 0,
            }
        }
        fn free(&self) -> usize {
            self.cap - self.data.len()
        }
        fn write_at(&self) -> usize {
            (self.read_at + self.data.len()) % self.cap.max(1)
        }
        fn push(&mut self, bytes: &[u8]) {
            self.data.extend(bytes);
            self.placed.drain(..bytes.len());
        }
        fn pop(&mut self, count: usize) -> Vec<u8> {
            let out: Vec<u8> = self.data.drain(..count).collect();
            self.read_at = (self.read_at + count) % self.cap.max(1);
            self.placed.extend(core::iter::repeat_n(None, count));
            out
        }
    }

    fn random_bytes(rng: &mut Rng, max: usize) -> Vec<u8> {
        let mut bytes = vec![0u8; rng.below(max as u32 + 1) as usize];
        rng.fill(&mut bytes);
        bytes
    }

    fn run_model(seed: u64, cap: usize, ops: usize) {
        let mut rng = Rng::new(seed);
        let mut state = RingState::new();
        let mut storage = vec![0u8; cap];
        let mut model = Model::new(cap);
        let max = cap + 3;
        for _ in 0..ops {
            let mut ring = Ring::new(&mut state, &mut storage);
            match rng.below(11) {
                0 => {
                    let bytes = random_bytes(&mut rng, max);
                    let n = ring.enqueue_slice(&bytes);
                    assert_eq!(n, bytes.len().min(model.free()));
                    model.push(&bytes[..n]);
                }
                1 => {
                    let mut out = vec![0u8; rng.below(max as u32 + 1) as usize];
                    let n = ring.dequeue_slice(&mut out);
                    assert_eq!(n, out.len().min(model.data.len()));
                    assert_eq!(out[..n], model.pop(n)[..]);
                }
                2 => {
                    let mut fill = random_bytes(&mut rng, max);
                    let claim = rng.below(max as u32 + 1) as usize;
                    let expect = model.free().min(cap - model.write_at());
                    let region_len = ring.enqueue_with(|region| {
                        let k = region.len().min(fill.len());
                        region[..k].copy_from_slice(&fill[..k]);
                        fill.truncate(k);
                        (claim.min(k), region.len())
                    });
                    assert_eq!(region_len, expect);
                    // Bytes written but not committed stay in the free space.
                    for (k, &b) in fill.iter().enumerate() {
                        model.placed[k] = Some(b);
                    }
                    model.push(&fill[..claim.min(fill.len())]);
                }
                3 => {
                    let claim = rng.below(max as u32 + 1) as usize;
                    let expect = model.data.len().min(cap - model.read_at.min(cap));
                    let taken = ring.dequeue_with(|region| {
                        assert_eq!(region.len(), expect);
                        (claim, region.to_vec())
                    });
                    let n = claim.min(expect);
                    assert_eq!(taken[..n], model.pop(n)[..]);
                }
                4 => {
                    let offset = rng.below(max as u32 + 1) as usize;
                    let mut out = vec![0u8; rng.below(max as u32 + 1) as usize];
                    let n = ring.read_at(offset, &mut out);
                    let avail = model.data.len().saturating_sub(offset);
                    assert_eq!(n, out.len().min(avail));
                    let expect: Vec<u8> = model.data.iter().skip(offset).take(n).copied().collect();
                    assert_eq!(out[..n], expect[..]);
                }
                5 => {
                    let offset = rng.below(max as u32 + 1) as usize;
                    let limit = rng.below(max as u32 + 1) as usize;
                    let got = ring.contiguous_at(offset, limit);
                    let expect_len = if offset >= model.data.len() {
                        0
                    } else {
                        let at = (model.read_at + offset) % cap;
                        (model.data.len() - offset).min(limit).min(cap - at)
                    };
                    assert_eq!(got.len(), expect_len);
                    let expect: Vec<u8> = model
                        .data
                        .iter()
                        .skip(offset)
                        .take(expect_len)
                        .copied()
                        .collect();
                    assert_eq!(got, &expect[..]);
                }
                6 | 7 => {
                    let offset = rng.below(max as u32 + 1) as usize;
                    let bytes = random_bytes(&mut rng, max);
                    let n = ring.write_unallocated(offset, &bytes);
                    let room = model.free().saturating_sub(offset);
                    assert_eq!(n, bytes.len().min(room));
                    for (k, &b) in bytes[..n].iter().enumerate() {
                        model.placed[offset + k] = Some(b);
                    }
                }
                8 => {
                    // Commit only bytes whose contents the model knows.
                    let known = model.placed.iter().take_while(|b| b.is_some()).count();
                    let n = rng.below(known as u32 + 1) as usize;
                    ring.commit(n);
                    let bytes: Vec<u8> = model.placed[..n].iter().map(|b| b.unwrap()).collect();
                    model.push(&bytes);
                }
                9 => {
                    let n = rng.below(max as u32 + 1) as usize;
                    ring.discard(n);
                    model.pop(n.min(model.data.len()));
                    if model.data.is_empty() {
                        model.read_at = 0;
                        model.placed = vec![None; cap];
                    }
                }
                _ => {
                    if rng.chance(50_000) {
                        ring.clear();
                        model = Model::new(cap);
                    }
                }
            }
            assert_eq!(ring.len(), model.data.len());
            assert_eq!(ring.free(), model.free());
            assert_eq!(ring.is_empty(), model.data.is_empty());
            assert_eq!(ring.is_full(), model.free() == 0);
        }
    }

    #[test]
    fn random_operations_match_a_vecdeque_model() {
        // 100k operations in all, over capacities that exercise the edges.
        let capacities = [0usize, 1, 2, 3, 7, 16, 61, 256];
        for (seed, &cap) in capacities.iter().enumerate() {
            run_model(seed as u64 + 1, cap, 12_500);
        }
    }
}
