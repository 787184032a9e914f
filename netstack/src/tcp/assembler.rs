//! Out-of-order reassembly bookkeeping for the receive side.
//!
//! RFC 9293 §3.10.7.4 lets a receiver hold segments that arrive beyond
//! `RCV.NXT` ("segments with higher beginning sequence numbers ... may be
//! held for later processing"). Their bytes go straight into the receive
//! ring's free space (`Ring::write_unallocated`); this type only remembers
//! which byte ranges are there, as offsets from `RCV.NXT`, so the connection
//! knows when the gap at the front closes and how much to commit. The same
//! ranges are what the receiver reports in SACK blocks (RFC 2018 §4).
//!
//! A handful of ranges is plenty: each range is a hole the sender must fill,
//! and a sender facing more than a few holes at once retransmits anyway.

/// The most separate ranges held at once (RFC 2018 §3: at most 4 SACK blocks
/// fit in the options space, 3 next to timestamps).
pub const MAX_RANGES: usize = 4;

/// Byte ranges received beyond the in-order front (offset 0 = `RCV.NXT`).
///
/// 32 bytes on thumbv7em (and on 64-bit hosts: it holds no pointers).
#[derive(Debug, Clone)]
pub struct Assembler {
    /// `[start, end)` offsets, disjoint and not adjacent, none starting at 0
    /// (such a range is handed to the caller at once), the range most
    /// recently added to or extended first: that is the order RFC 2018 §4
    /// wants SACK blocks in. The ranges in use come first; `(0, 0)` marks the
    /// first unused slot, so no count (and its padding) is stored.
    ranges: [(u32, u32); MAX_RANGES],
}

/// An unused slot (no held range ends at 0).
const UNUSED: (u32, u32) = (0, 0);

// Checked on every target the crate is built for, thumbv7em included.
const _: () = assert!(core::mem::size_of::<Assembler>() == 32);

impl Default for Assembler {
    fn default() -> Self {
        Self::new()
    }
}

/// An out-of-order segment would open one range more than [`MAX_RANGES`]:
/// the caller drops it (the sender retransmits it later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyHoles;

impl core::fmt::Display for TooManyHoles {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("too many out-of-order ranges held")
    }
}

impl Assembler {
    /// Nothing held.
    pub const fn new() -> Self {
        Self {
            ranges: [UNUSED; MAX_RANGES],
        }
    }

    /// The ranges in use, most recent first.
    fn held(&self) -> &[(u32, u32)] {
        let count = self
            .ranges
            .iter()
            .position(|&r| r == UNUSED)
            .unwrap_or(MAX_RANGES);
        &self.ranges[..count]
    }

    /// Records that bytes `[offset, offset + len)` have been received (their
    /// data already placed in the ring's free space at that offset).
    ///
    /// Returns how many bytes are now contiguous at the front: the caller
    /// commits them to the ring and advances `RCV.NXT` by that much, and every
    /// held range is shifted down by the same amount. Overlapping and adjacent
    /// ranges merge. In-order data (offset 0) is always accepted; a segment
    /// that would open a range beyond [`MAX_RANGES`] is refused with
    /// [`TooManyHoles`] and nothing is recorded.
    pub fn add(&mut self, offset: u32, len: u32) -> Result<u32, TooManyHoles> {
        // In-order data with nothing held, nearly every segment: it is all
        // contiguous at once, and there is no range to merge or shift.
        if offset == 0 && self.is_empty() {
            return Ok(len);
        }
        if len == 0 {
            return Ok(0);
        }
        // The new bytes absorb every range they overlap or touch; the others
        // keep their order behind it.
        let mut merged = (offset, offset.saturating_add(len));
        let mut others = [UNUSED; MAX_RANGES];
        let mut kept = 0;
        for &range in self.held() {
            if range.0 <= merged.1 && range.1 >= merged.0 {
                merged = (merged.0.min(range.0), merged.1.max(range.1));
            } else {
                others[kept] = range;
                kept += 1;
            }
        }
        if merged.0 == 0 {
            // The front gap is closed (or there was none): hand it over.
            self.ranges = others;
            self.shift_down(merged.1);
            return Ok(merged.1);
        }
        if kept == MAX_RANGES {
            return Err(TooManyHoles);
        }
        self.ranges[0] = merged;
        self.ranges[1..].copy_from_slice(&others[..MAX_RANGES - 1]);
        Ok(0)
    }

    /// Moves every held range `by` bytes down (the front advanced); none
    /// starts at or below `by`, as that range would have been handed over.
    fn shift_down(&mut self, by: u32) {
        let count = self.held().len();
        for range in &mut self.ranges[..count] {
            range.0 -= by;
            range.1 -= by;
        }
    }

    /// True if no out-of-order data is held.
    pub fn is_empty(&self) -> bool {
        self.ranges[0] == UNUSED
    }

    /// Number of separate ranges held.
    pub fn range_count(&self) -> usize {
        self.held().len()
    }

    /// The held ranges as `(start, end)` offsets, the one most recently added
    /// to or extended first (RFC 2018 §4: the first SACK block reports the
    /// segment that triggered the ACK, and the others repeat the most
    /// recently reported ones).
    pub fn ranges(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.held().iter().copied()
    }

    /// Forgets everything held.
    pub fn clear(&mut self) {
        *self = Self::new();
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::rand::Rng;
    use std::vec;
    use std::vec::Vec;

    fn ranges(asm: &Assembler) -> Vec<(u32, u32)> {
        asm.ranges().collect()
    }

    #[test]
    fn in_order_data_is_handed_over_at_once() {
        let mut asm = Assembler::new();
        assert_eq!(asm.add(0, 100), Ok(100));
        assert_eq!(asm.add(0, 1), Ok(1));
        assert_eq!(asm.add(0, 0), Ok(0));
        assert_eq!(asm.add(50, 0), Ok(0));
        assert!(asm.is_empty());
        assert_eq!(ranges(&asm), vec![]);
    }

    #[test]
    fn out_of_order_segments_fill_the_gap() {
        let mut asm = Assembler::new();
        assert_eq!(asm.add(200, 100), Ok(0));
        assert_eq!(asm.add(100, 50), Ok(0));
        assert_eq!(ranges(&asm), vec![(100, 150), (200, 300)]);
        // Adjacent: [150, 200) joins both neighbours.
        assert_eq!(asm.add(150, 50), Ok(0));
        assert_eq!(ranges(&asm), vec![(100, 300)]);
        // The front gap closes: 300 bytes become contiguous.
        assert_eq!(asm.add(0, 100), Ok(300));
        assert!(asm.is_empty());
    }

    #[test]
    fn in_order_segment_shifts_held_ranges() {
        let mut asm = Assembler::new();
        asm.add(100, 10).unwrap();
        assert_eq!(asm.add(0, 40), Ok(40));
        assert_eq!(ranges(&asm), vec![(60, 70)]);
        // Reaching exactly the held range merges it.
        assert_eq!(asm.add(0, 60), Ok(70));
        assert!(asm.is_empty());
    }

    #[test]
    fn overlaps_and_duplicates_merge() {
        let mut asm = Assembler::new();
        asm.add(10, 10).unwrap();
        asm.add(40, 10).unwrap();
        asm.add(70, 10).unwrap();
        // Duplicate: nothing changes but it becomes the most recent.
        assert_eq!(asm.add(40, 10), Ok(0));
        assert_eq!(ranges(&asm), vec![(40, 50), (70, 80), (10, 20)]);
        // Covers the middle one and overlaps both others.
        assert_eq!(asm.add(15, 60), Ok(0));
        assert_eq!(ranges(&asm), vec![(10, 80)]);
        // Inside: no change.
        assert_eq!(asm.add(20, 5), Ok(0));
        assert_eq!(ranges(&asm), vec![(10, 80)]);
        // Overlapping the front and the held range.
        assert_eq!(asm.add(0, 12), Ok(80));
        assert!(asm.is_empty());
    }

    #[test]
    fn too_many_holes_records_nothing() {
        let mut asm = Assembler::new();
        for k in 1..=MAX_RANGES as u32 {
            asm.add(k * 100, 10).unwrap();
        }
        let before = ranges(&asm);
        assert_eq!(asm.add(50, 10), Err(TooManyHoles));
        assert_eq!(asm.add(1000, 10), Err(TooManyHoles));
        assert_eq!(ranges(&asm), before);
        // Extending a held range and in-order data are still accepted.
        assert_eq!(asm.add(110, 10), Ok(0));
        assert_eq!(asm.add(0, 10), Ok(10));
        assert_eq!(asm.range_count(), MAX_RANGES);
        assert_eq!(
            ranges(&asm),
            vec![(90, 110), (390, 400), (290, 300), (190, 200)]
        );
    }

    #[test]
    fn ranges_are_reported_most_recent_first() {
        let mut asm = Assembler::new();
        asm.add(300, 10).unwrap();
        asm.add(100, 10).unwrap();
        asm.add(200, 10).unwrap();
        assert_eq!(ranges(&asm), vec![(200, 210), (100, 110), (300, 310)]);
        asm.add(310, 5).unwrap();
        assert_eq!(ranges(&asm), vec![(300, 315), (200, 210), (100, 110)]);
        // In-order data that does not touch a held range keeps the order.
        asm.add(0, 50).unwrap();
        assert_eq!(ranges(&asm), vec![(250, 265), (150, 160), (50, 60)]);
        // Closing the front gap: the earlier most recent range stays first.
        assert_eq!(asm.add(0, 50), Ok(60));
        assert_eq!(ranges(&asm), vec![(190, 205), (90, 100)]);
        asm.clear();
        assert!(asm.is_empty());
        assert_eq!(ranges(&asm), vec![]);
    }

    #[test]
    fn offsets_near_u32_max_do_not_overflow() {
        let mut asm = Assembler::new();
        assert_eq!(asm.add(u32::MAX - 5, 100), Ok(0));
        assert_eq!(ranges(&asm), vec![(u32::MAX - 5, u32::MAX)]);
    }

    /// Checks the assembler against a bitmap of received bytes: after every
    /// add, the same bytes are held, the same count is handed over, and a
    /// segment is refused exactly when it would need a fifth range.
    #[test]
    fn random_adds_match_a_bitmap_model() {
        const SPAN: usize = 96;
        let mut rng = Rng::new(0x5eed);
        let mut asm = Assembler::new();
        let mut held = [false; SPAN + 32];
        for _ in 0..100_000 {
            if rng.chance(2_000) {
                asm.clear();
                held = [false; SPAN + 32];
            }
            let offset = rng.below(SPAN as u32 - 16);
            let len = rng.below(17);
            let mut next = held;
            for b in &mut next[offset as usize..(offset + len) as usize] {
                *b = true;
            }
            let front = next.iter().take_while(|&&b| b).count();
            let runs = runs_of(&next[front..]);
            let before = ranges(&asm);
            let result = asm.add(offset, len);
            if runs.len() > MAX_RANGES {
                assert_eq!(result, Err(TooManyHoles));
                assert_eq!(ranges(&asm), before);
            } else {
                assert_eq!(result, Ok(front as u32));
                held = [false; SPAN + 32];
                held[..next.len() - front].copy_from_slice(&next[front..]);
                // Offsets in the model are relative to the new front as well.
                let expect: Vec<(u32, u32)> = runs_of(&held);
                let mut got = ranges(&asm);
                // The earlier ranges that were neither handed over nor merged
                // keep their order, behind the range holding this segment.
                let front = front as u32;
                let mut survivors = before
                    .iter()
                    .filter(|r| r.0 > front)
                    .map(|r| (r.0 - front, r.1 - front));
                if len > 0 && offset + len > front {
                    let (s, e) = got[0];
                    let (seg_start, seg_end) = (offset - front, offset + len - front);
                    assert!(s <= seg_start && seg_end <= e);
                    let rest: Vec<_> = survivors.filter(|r| r.1 < s || r.0 > e).collect();
                    assert_eq!(got[1..], rest[..]);
                } else {
                    assert!(got.iter().copied().eq(&mut survivors));
                }
                got.sort_unstable();
                assert_eq!(got, expect);
            }
        }
    }

    fn runs_of(bits: &[bool]) -> Vec<(u32, u32)> {
        let mut runs = Vec::new();
        let mut k = 0;
        while k < bits.len() {
            if bits[k] {
                let start = k;
                while k < bits.len() && bits[k] {
                    k += 1;
                }
                runs.push((start as u32, k as u32));
            } else {
                k += 1;
            }
        }
        runs
    }
}
