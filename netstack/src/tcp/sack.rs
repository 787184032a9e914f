//! The sender's SACK scoreboard (RFC 2018, RFC 6675 §3, RFC 2883).
//!
//! Every ACK from a SACK-permitted peer may carry up to four blocks naming
//! data it holds above the cumulative acknowledgement. The scoreboard keeps
//! the union of what has been reported as a few disjoint ranges above
//! `SND.UNA`, which is what RFC 6675's `IsLost`, `NextSeg` and pipe estimate
//! need. The first block of an ACK may instead report a duplicate segment
//! (D-SACK, RFC 2883 §4): that is returned to the caller, which can use it to
//! undo a spurious retransmission, and is never taken as a sign of loss.
//!
//! Internally every range is compared as an offset from `SND.UNA`, so the
//! ordering holds across the 2^32 wrap of the sequence space.

use crate::no_memmove::copy_within;
use crate::tcp::seq::SeqNumber;

/// The most disjoint SACKed ranges remembered (RFC 2018 §3: an ACK carries at
/// most four blocks).
pub const MAX_BLOCKS: usize = 4;

/// SACKed sequence ranges above `SND.UNA`.
///
/// 32 bytes on thumbv7em (and on 64-bit hosts: it holds no pointers).
#[derive(Debug, Clone, Default)]
pub struct Scoreboard {
    /// `[start, end)` ranges, ascending, disjoint and not adjacent, all above
    /// the `SND.UNA` last given; the ranges in use come first, and an empty
    /// range (`start == end`) marks the first unused slot. No count is stored:
    /// its byte would cost four with padding, in every connection.
    ranges: [(SeqNumber, SeqNumber); MAX_BLOCKS],
}

/// An unused slot.
const UNUSED: (SeqNumber, SeqNumber) = (SeqNumber(0), SeqNumber(0));

// Checked on every target the crate is built for, thumbv7em included.
const _: () = assert!(core::mem::size_of::<Scoreboard>() == 32);

/// What one ACK's SACK blocks told the sender.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SackUpdate {
    /// Bytes the scoreboard holds now that it did not hold before: with the
    /// cumulative advance, the data that left the network (RFC 6937
    /// `DeliveredData`).
    pub newly_sacked: u32,
    /// The first block reported a duplicate segment (RFC 2883 §4).
    pub dsack: bool,
}

/// Inserts `[start, end)` (offsets from `SND.UNA`) into the ascending,
/// disjoint, non-adjacent `ranges[..*count]`, merging what it overlaps or
/// touches. When the array is full, the highest range is dropped.
fn insert(ranges: &mut [(u32, u32)], count: &mut usize, start: u32, end: u32) {
    let mut i = 0;
    while i < *count && ranges[i].1 < start {
        i += 1;
    }
    let mut j = i;
    while j < *count && ranges[j].0 <= end {
        j += 1;
    }
    if i == j {
        if i == ranges.len() {
            return;
        }
        let last = (*count).min(ranges.len() - 1);
        copy_within(ranges, i..last, i + 1);
        ranges[i] = (start, end);
        *count = last + 1;
    } else {
        ranges[i] = (start.min(ranges[i].0), end.max(ranges[j - 1].1));
        copy_within(ranges, j..*count, i + 1);
        *count -= j - i - 1;
    }
}

impl Scoreboard {
    /// Nothing SACKed.
    pub const fn new() -> Self {
        Self {
            ranges: [UNUSED; MAX_BLOCKS],
        }
    }

    /// Number of ranges in use.
    fn count(&self) -> usize {
        self.ranges
            .iter()
            .position(|r| r.0 == r.1)
            .unwrap_or(MAX_BLOCKS)
    }

    fn held(&self) -> &[(SeqNumber, SeqNumber)] {
        &self.ranges[..self.count()]
    }

    /// Applies the SACK blocks of one ACK. `snd_una` is the cumulative
    /// acknowledgement after this ACK (`SEG.ACK` if it advanced `SND.UNA`).
    ///
    /// The first block is a D-SACK (RFC 2883 §4) if it starts below
    /// `snd_una` (it reports data already cumulatively acknowledged) or lies
    /// inside the second block (a duplicate of data held out of order); it is
    /// reported in [`SackUpdate::dsack`] and not recorded. Of the other blocks,
    /// those not inside `(snd_una, snd_nxt]` are ignored (a part below
    /// `snd_una` is trimmed off; one reaching past `snd_nxt` is bogus: RFC 2018
    /// §8 lets the sender ignore it). When more than [`MAX_BLOCKS`] disjoint
    /// ranges would be held, the lowest are kept: retransmission works from
    /// the bottom, and forgetting a high range only makes `IsLost`
    /// conservative. Only the first [`MAX_BLOCKS`] blocks are read.
    pub fn update(
        &mut self,
        snd_una: SeqNumber,
        snd_nxt: SeqNumber,
        blocks: &[(SeqNumber, SeqNumber)],
    ) -> SackUpdate {
        self.on_cumulative_ack(snd_una);
        let mut update = SackUpdate::default();
        let mut blocks = &blocks[..blocks.len().min(MAX_BLOCKS)];
        if let Some(&(start, end)) = blocks.first() {
            let below_una = start < snd_una;
            let inside_second = blocks
                .get(1)
                .is_some_and(|&(start2, end2)| start2 <= start && end <= end2);
            if start < end && (below_una || inside_second) {
                update.dsack = true;
                blocks = &blocks[1..];
            }
        }

        // Work on offsets from SND.UNA: old ranges first, then the blocks.
        let window = u32::try_from(snd_nxt - snd_una).unwrap_or(0);
        let mut work = [(0u32, 0u32); 2 * MAX_BLOCKS];
        let mut count = 0;
        for &(start, end) in self.held() {
            work[count] = ((start - snd_una) as u32, (end - snd_una) as u32);
            count += 1;
        }
        for &(start, end) in blocks {
            let (start, end) = (start - snd_una, end - snd_una);
            if end <= 0 || end as u32 > window {
                continue;
            }
            let start = start.max(0) as u32;
            let end = end as u32;
            if start < end {
                insert(&mut work, &mut count, start, end);
            }
        }

        // Keep the lowest ranges. Every old range lies inside one range of
        // `work`; those inside a kept range were held before, the rest is new.
        let kept = count.min(MAX_BLOCKS);
        let kept_end = work[..kept].last().map_or(0, |r| r.1);
        let kept_bytes: u32 = work[..kept].iter().map(|r| r.1 - r.0).sum();
        let old_bytes: u32 = self
            .held()
            .iter()
            .filter(|r| ((r.0 - snd_una) as u32) < kept_end)
            .map(|r| (r.1 - r.0) as u32)
            .sum();
        update.newly_sacked = kept_bytes.saturating_sub(old_bytes);
        self.ranges = [UNUSED; MAX_BLOCKS];
        for (slot, &(start, end)) in self.ranges.iter_mut().zip(&work[..kept]) {
            *slot = (snd_una + start, snd_una + end);
        }
        update
    }

    /// `SND.UNA` advanced: forgets SACKed data at or below it.
    pub fn on_cumulative_ack(&mut self, snd_una: SeqNumber) {
        let count = self.count();
        let gone = self.held().iter().take_while(|r| r.1 <= snd_una).count();
        copy_within(&mut self.ranges, gone..count, 0);
        self.ranges[count - gone..count].fill(UNUSED);
        if let Some(first) = self.ranges[..count - gone].first_mut() {
            first.0 = first.0.max(snd_una);
        }
    }

    /// Total bytes SACKed.
    pub fn sacked_bytes(&self) -> u32 {
        self.held().iter().map(|r| (r.1 - r.0) as u32).sum()
    }

    /// True if the byte `seq` has been SACKed.
    pub fn is_sacked(&self, seq: SeqNumber) -> bool {
        self.held().iter().any(|r| r.0 <= seq && seq < r.1)
    }

    /// Bytes SACKed with sequence numbers greater than `seq`: RFC 6675
    /// `IsLost(seq)` holds when this exceeds `(DupThresh - 1) * SMSS`.
    pub fn sacked_above(&self, seq: SeqNumber) -> u32 {
        let first = seq + 1;
        self.held()
            .iter()
            .map(|r| {
                let start = r.0.max(first);
                if start < r.1 { (r.1 - start) as u32 } else { 0 }
            })
            .sum()
    }

    /// The end of the highest SACKed range (RFC 6675 `HighACK` bound for
    /// holes).
    pub fn highest_sacked(&self) -> Option<SeqNumber> {
        self.held().last().map(|r| r.1)
    }

    /// The first not-SACKed range `[start, end)` at or after `from` that lies
    /// below [`Scoreboard::highest_sacked`]: candidates for RFC 6675
    /// `NextSeg()` rule 1 (the caller still checks `IsLost`).
    pub fn next_hole(&self, from: SeqNumber) -> Option<(SeqNumber, SeqNumber)> {
        let mut cursor = from;
        for &(start, end) in self.held() {
            if end <= cursor {
                continue;
            }
            if cursor < start {
                return Some((cursor, start));
            }
            cursor = end;
        }
        None
    }

    /// The SACKed ranges `[start, end)`, ascending.
    pub fn ranges(&self) -> impl Iterator<Item = (SeqNumber, SeqNumber)> + '_ {
        self.held().iter().copied()
    }

    /// Forgets everything (RFC 6675 §5.1: after a retransmission timeout the
    /// scoreboard may be cleared; RFC 2018 §8: the receiver may renege).
    pub fn clear(&mut self) {
        self.ranges = [UNUSED; MAX_BLOCKS];
    }

    /// True if nothing is SACKed.
    pub fn is_empty(&self) -> bool {
        self.ranges[0] == UNUSED
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::rand::Rng;
    use std::vec;
    use std::vec::Vec;

    fn s(n: u32) -> SeqNumber {
        SeqNumber(n)
    }

    fn blocks(list: &[(u32, u32)]) -> Vec<(SeqNumber, SeqNumber)> {
        list.iter().map(|&(a, b)| (s(a), s(b))).collect()
    }

    fn held(board: &Scoreboard) -> Vec<(u32, u32)> {
        board.ranges().map(|(a, b)| (a.0, b.0)).collect()
    }

    fn sacked(newly: u32) -> SackUpdate {
        SackUpdate {
            newly_sacked: newly,
            dsack: false,
        }
    }

    fn dsack(newly: u32) -> SackUpdate {
        SackUpdate {
            newly_sacked: newly,
            dsack: true,
        }
    }

    #[test]
    fn records_and_merges_blocks() {
        let mut board = Scoreboard::new();
        let (una, nxt) = (s(1000), s(5000));
        assert_eq!(
            board.update(una, nxt, &blocks(&[(2000, 2500)])),
            sacked(500)
        );
        assert_eq!(
            board.update(una, nxt, &blocks(&[(3000, 3500), (2000, 2500)])),
            sacked(500)
        );
        assert_eq!(held(&board), vec![(2000, 2500), (3000, 3500)]);
        // Adjacent and overlapping blocks join the ranges they touch.
        assert_eq!(
            board.update(una, nxt, &blocks(&[(2500, 3200)])),
            sacked(500)
        );
        assert_eq!(held(&board), vec![(2000, 3500)]);
        assert_eq!(board.update(una, nxt, &blocks(&[(2000, 3500)])), sacked(0));
        assert_eq!(board.sacked_bytes(), 1500);
        assert_eq!(board.highest_sacked(), Some(s(3500)));
    }

    #[test]
    fn ignores_blocks_outside_the_window() {
        let mut board = Scoreboard::new();
        let (una, nxt) = (s(1000), s(5000));
        let bogus = blocks(&[
            (1500, 1600),
            (4000, 5001),
            (6000, 7000),
            (3000, 3000),
            (3100, 3000),
        ]);
        assert_eq!(board.update(una, nxt, &bogus[1..]), sacked(0));
        assert!(board.is_empty());
        // A non-first block reaching below SND.UNA is trimmed to it; one wholly
        // at or below it is dropped; one ending exactly at SND.NXT counts.
        let list = blocks(&[(4000, 5000), (500, 1200), (100, 1000)]);
        assert_eq!(board.update(una, nxt, &list), sacked(1200));
        assert_eq!(held(&board), vec![(1000, 1200), (4000, 5000)]);
    }

    #[test]
    fn keeps_the_lowest_ranges_when_full() {
        let mut board = Scoreboard::new();
        let (una, nxt) = (s(0), s(10_000));
        let four = blocks(&[(1000, 1100), (3000, 3100), (5000, 5100), (7000, 7100)]);
        assert_eq!(board.update(una, nxt, &four), sacked(400));
        // A new block above them all is dropped: nothing new is held.
        assert_eq!(board.update(una, nxt, &blocks(&[(9000, 9100)])), sacked(0));
        assert_eq!(held(&board)[3], (7000, 7100));
        // A new low block pushes out the highest range.
        assert_eq!(board.update(una, nxt, &blocks(&[(200, 300)])), sacked(100));
        assert_eq!(
            held(&board),
            vec![(200, 300), (1000, 1100), (3000, 3100), (5000, 5100)]
        );
        assert_eq!(board.sacked_bytes(), 400);
        // A block joining two ranges frees a slot for the next one.
        let join = blocks(&[(1100, 3000), (9000, 9100)]);
        assert_eq!(board.update(una, nxt, &join), sacked(1900 + 100));
        assert_eq!(
            held(&board),
            vec![(200, 300), (1000, 3100), (5000, 5100), (9000, 9100)]
        );
    }

    #[test]
    fn cumulative_ack_drops_and_trims() {
        let mut board = Scoreboard::new();
        let list = blocks(&[(200, 300), (400, 500), (600, 700)]);
        board.update(s(100), s(1000), &list);
        board.on_cumulative_ack(s(300));
        assert_eq!(held(&board), vec![(400, 500), (600, 700)]);
        board.on_cumulative_ack(s(450));
        assert_eq!(held(&board), vec![(450, 500), (600, 700)]);
        // update applies the cumulative acknowledgement it is given.
        assert_eq!(board.update(s(700), s(1000), &[]), sacked(0));
        assert!(board.is_empty());
    }

    /// RFC 2883 §4.1.1: an ACK is lost, the sender retransmits 3000-3499, and
    /// the receiver reports it as a duplicate below the cumulative ACK.
    #[test]
    fn rfc2883_example_1_duplicate_below_cumulative_ack() {
        let mut board = Scoreboard::new();
        let update = board.update(s(4000), s(4000), &blocks(&[(3000, 3500)]));
        assert_eq!(update, dsack(0));
        assert!(board.is_empty());
    }

    /// RFC 2883 §4.1.2: 4000-4499 is lost, the ACK with SACK=4500-5000 is lost,
    /// and the duplicate 3000-3499 arrives: ACK 4000, SACK=3000-3500,4500-5000.
    #[test]
    fn rfc2883_example_2_duplicate_and_out_of_order() {
        let mut board = Scoreboard::new();
        let list = blocks(&[(3000, 3500), (4500, 5000)]);
        assert_eq!(board.update(s(4000), s(5000), &list), dsack(500));
        assert_eq!(held(&board), vec![(4500, 5000)]);
    }

    /// RFC 2883 §4.1.3: 5000-5499 is duplicated in the network; the duplicate
    /// lies inside the out-of-order data the receiver holds:
    /// ACK 4000, SACK=5000-5500,4500-5500.
    #[test]
    fn rfc2883_example_3_duplicate_of_out_of_order_data() {
        let mut board = Scoreboard::new();
        let (una, nxt) = (s(4000), s(5500));
        assert_eq!(
            board.update(una, nxt, &blocks(&[(4500, 5500)])),
            sacked(1000)
        );
        let list = blocks(&[(5000, 5500), (4500, 5500)]);
        assert_eq!(board.update(una, nxt, &list), dsack(0));
        assert_eq!(held(&board), vec![(4500, 5500)]);
        // Had the earlier ACKs been lost, the second block still counts.
        let mut fresh = Scoreboard::new();
        assert_eq!(fresh.update(una, nxt, &list), dsack(1000));
    }

    /// RFC 2883 §4.2 example 4: a delayed original 1000-1499 arrives after the
    /// retransmission was cumulatively acknowledged: ACK 2500, SACK=1000-1500.
    #[test]
    fn rfc2883_example_4_reordered_original_after_retransmission() {
        let mut board = Scoreboard::new();
        assert_eq!(
            board.update(s(1000), s(2500), &blocks(&[(2000, 2500)])),
            sacked(500)
        );
        assert_eq!(
            board.update(s(2500), s(2500), &blocks(&[(1000, 1500)])),
            dsack(0)
        );
        assert!(board.is_empty());
    }

    #[test]
    fn first_block_not_a_dsack_when_merely_overlapping_the_second() {
        let mut board = Scoreboard::new();
        let list = blocks(&[(4400, 4600), (4500, 5000)]);
        assert_eq!(board.update(s(4000), s(5000), &list), sacked(600));
        assert_eq!(held(&board), vec![(4400, 5000)]);
    }

    #[test]
    fn queries() {
        let mut board = Scoreboard::new();
        assert_eq!(board.next_hole(s(0)), None);
        assert_eq!(board.highest_sacked(), None);
        assert_eq!(board.sacked_above(s(0)), 0);
        let list = blocks(&[(2000, 3000), (4000, 4500)]);
        board.update(s(1000), s(6000), &list);
        assert!(!board.is_sacked(s(1999)));
        assert!(board.is_sacked(s(2000)));
        assert!(board.is_sacked(s(2999)));
        assert!(!board.is_sacked(s(3000)));
        assert!(board.is_sacked(s(4499)));
        assert!(!board.is_sacked(s(4500)));
        // Strictly greater than seq.
        assert_eq!(board.sacked_above(s(1000)), 1500);
        assert_eq!(board.sacked_above(s(2000)), 1499);
        assert_eq!(board.sacked_above(s(3500)), 500);
        assert_eq!(board.sacked_above(s(4499)), 0);
        assert_eq!(board.next_hole(s(1000)), Some((s(1000), s(2000))));
        assert_eq!(board.next_hole(s(1500)), Some((s(1500), s(2000))));
        assert_eq!(board.next_hole(s(2000)), Some((s(3000), s(4000))));
        assert_eq!(board.next_hole(s(3500)), Some((s(3500), s(4000))));
        assert_eq!(board.next_hole(s(4000)), None);
        assert_eq!(board.next_hole(s(4500)), None);
        board.clear();
        assert!(board.is_empty());
        assert_eq!(board.sacked_bytes(), 0);
    }

    #[test]
    fn works_across_the_sequence_wrap() {
        let mut board = Scoreboard::new();
        let una = s(u32::MAX - 999);
        let nxt = una + 5000;
        let list = vec![(una + 2000, una + 3000), (una + 500, una + 1500)];
        assert_eq!(board.update(una, nxt, &list), sacked(2000));
        assert_eq!(
            board.ranges().collect::<Vec<_>>(),
            vec![(una + 500, una + 1500), (una + 2000, una + 3000)]
        );
        assert_eq!(board.ranges().next(), Some((s(u32::MAX - 499), s(500))));
        assert!(board.is_sacked(s(0)));
        assert!(board.is_sacked(s(u32::MAX)));
        assert_eq!(board.highest_sacked(), Some(una + 3000));
        assert_eq!(board.next_hole(una), Some((una, una + 500)));
        assert_eq!(board.next_hole(s(100)), Some((una + 1500, una + 2000)));
        assert_eq!(board.sacked_above(s(u32::MAX)), 1500);
        // A D-SACK below SND.UNA across the wrap.
        let below = [(una - 100, una), (una + 2000, una + 3000)];
        assert_eq!(board.update(una, nxt, &below), dsack(0));
        board.on_cumulative_ack(una + 1000);
        assert_eq!(board.ranges().next(), Some((una + 1000, una + 1500)));
    }

    /// Checks the scoreboard against a bitmap of SACKed bytes in a 64-byte
    /// window that slides (and wraps) with SND.UNA.
    #[test]
    fn random_acks_match_a_bitmap_model() {
        const WINDOW: u32 = 64;
        let mut rng = Rng::new(2883);
        let mut board = Scoreboard::new();
        let mut una = SeqNumber(u32::MAX - 40_000);
        // model[k]: byte una + k is SACKed.
        let mut model = vec![false; WINDOW as usize * 2];
        for _ in 0..50_000 {
            if rng.chance(100_000) {
                let advance = rng.below(24);
                una += advance;
                model.drain(..advance as usize);
                model.resize(WINDOW as usize * 2, false);
            }
            let nxt = una + WINDOW;
            let n = rng.below(5) as usize;
            let list: Vec<(SeqNumber, SeqNumber)> = (0..n)
                .map(|_| {
                    let a = una + rng.below(WINDOW + 16) - 8;
                    (a, a + rng.below(20))
                })
                .collect();

            // The model's view of the rules.
            let mut used = &list[..];
            let mut expect_dsack = false;
            if let Some(&(a, b)) = list.first() {
                let inside = list.get(1).is_some_and(|&(c, d)| a - c >= 0 && d - b >= 0);
                if b - a > 0 && (a - una < 0 || inside) {
                    expect_dsack = true;
                    used = &list[1..];
                }
            }
            let mut next = model.clone();
            for &(a, b) in used {
                let (a, b) = (a - una, b - una);
                if b <= 0 || b > WINDOW as i32 {
                    continue;
                }
                for k in a.max(0)..b {
                    next[k as usize] = true;
                }
            }
            // Keep the lowest MAX_BLOCKS runs.
            let mut runs = 0;
            let mut k = 0;
            while k < next.len() {
                if next[k] {
                    runs += 1;
                    while k < next.len() && next[k] {
                        if runs > MAX_BLOCKS {
                            next[k] = false;
                        }
                        k += 1;
                    }
                } else {
                    k += 1;
                }
            }
            let newly = next.iter().zip(&model).filter(|(n, o)| **n && !**o).count();
            model = next;

            let update = board.update(una, nxt, &list);
            assert_eq!(update.dsack, expect_dsack, "{list:?}");
            assert_eq!(update.newly_sacked, newly as u32, "{list:?}");
            let got: Vec<bool> = (0..WINDOW * 2).map(|k| board.is_sacked(una + k)).collect();
            assert_eq!(got, model);
            assert_eq!(
                board.sacked_bytes(),
                model.iter().filter(|&&b| b).count() as u32
            );
            let probe = rng.below(WINDOW);
            let above = model[probe as usize + 1..].iter().filter(|&&b| b).count();
            assert_eq!(board.sacked_above(una + probe), above as u32);
            let hole = board.next_hole(una + probe);
            let highest = model.iter().rposition(|&b| b).map(|k| k as u32 + 1);
            assert_eq!(board.highest_sacked(), highest.map(|k| una + k));
            let expect_hole = (probe..highest.unwrap_or(0))
                .find(|&k| !model[k as usize])
                .map(|k| {
                    let end = (k..).find(|&e| model[e as usize]).unwrap_or(k);
                    (una + k, una + end)
                });
            assert_eq!(hole, expect_hole);
        }
    }
}
