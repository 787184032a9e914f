//! Moves inside one slice without `memmove`.
//!
//! `<[T]>::copy_within` calls `memmove`, and on Cortex-M that comes from
//! compiler_builtins: 1,574 bytes of flash (Thumb-2, opt-level "z") for
//! the forward and backward copies of every alignment. Each firmware
//! already carries `memcpy` (730 bytes), and the moves Duet makes are short
//! or rare (a SACK block or port binding slid over; the rest of a partial
//! MQTT packet, TLS record or handshake message, or of unsent TLS bytes or
//! MQTT outbox records, moved to the front of its buffer; an ICMP quote
//! moved behind its new headers; an RSA modulus moved behind its DER
//! header), so they go through `memcpy` instead, in pieces that do not
//! overlap.

use core::ops::Range;

/// Copies `items[src]` to `items[dest..]`, as `<[T]>::copy_within` does
/// (the ranges may overlap), without `memmove`: in pieces no longer than
/// the distance moved, so that no piece overlaps its destination, taken
/// from the end nearest the destination so that no piece is overwritten
/// before it is copied. A move by a distance `d` makes `len / d` calls to
/// `memcpy`, rounded up.
///
/// # Panics
///
/// As `copy_within`: if `src` is decreasing or either range runs past the
/// end of `items`. Callers derive both from their own bookkeeping, never
/// from received bytes.
pub fn copy_within<T: Copy>(items: &mut [T], src: Range<usize>, dest: usize) {
    let Range { start, end } = src;
    assert!(start <= end && end <= items.len() && dest <= items.len() - (end - start));
    let len = end - start;
    let distance = dest.abs_diff(start);
    let mut done = 0;
    while done < len && distance > 0 {
        let n = distance.min(len - done);
        // Moving down, the pieces go front first; moving up, back first.
        let offset = if dest < start { done } else { len - done - n };
        let (from, to) = (start + offset, dest + offset);
        let (low, high) = items.split_at_mut(from.max(to));
        let (piece, place) = if from < to {
            (&low[from..from + n], &mut high[..n])
        } else {
            (&high[..n], &mut low[to..to + n])
        };
        place.copy_from_slice(piece);
        done += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every source range and destination in a slice of 9, against the
    /// standard library's `copy_within`.
    #[test]
    fn matches_copy_within_for_every_move_in_a_small_slice() {
        const LEN: usize = 9;
        let original: [u16; LEN] = core::array::from_fn(|i| 100 + i as u16);
        let mut moves = 0;
        for start in 0..=LEN {
            for end in start..=LEN {
                for dest in 0..=LEN - (end - start) {
                    let mut expected = original;
                    expected.copy_within(start..end, dest);
                    let mut moved = original;
                    copy_within(&mut moved, start..end, dest);
                    assert_eq!(moved, expected, "{start}..{end} to {dest}");
                    moves += 1;
                }
            }
        }
        assert_eq!(moves, 385);
    }

    #[test]
    fn moves_a_long_run_by_one_both_ways() {
        let original: [u8; 300] = core::array::from_fn(|i| i as u8);
        let mut expected = original;
        expected.copy_within(1..300, 0);
        let mut moved = original;
        copy_within(&mut moved, 1..300, 0);
        assert_eq!(moved, expected);
        expected.copy_within(0..299, 1);
        copy_within(&mut moved, 0..299, 1);
        assert_eq!(moved, expected);
    }

    #[test]
    #[should_panic]
    fn refuses_a_destination_past_the_end_as_copy_within_does() {
        let mut items = [0u8; 4];
        copy_within(&mut items, 0..2, 3);
    }
}
