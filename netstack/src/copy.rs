//! Byte copies on the data path, tuned for Cortex-M.
//!
//! Every byte a TCP connection moves is copied four times with copying
//! applications (application → send ring → frame → receive ring →
//! application). `copy_from_slice` calls `memcpy`, which on Armv7-M comes
//! from compiler_builtins and, when source and destination are not equally
//! aligned — the usual case, as a payload behind a 14-byte Ethernet header
//! sits 2 bytes off the word alignment of the ring it goes to — falls back to
//! assembling words from aligned loads and shifts: about 2.4 instructions per
//! byte (and dozens of instructions of set-up, whatever the length).
//! Armv7-M performs unaligned word loads and stores in hardware (ARMv7-M ARM
//! §A3.2.1), so the loops here move words whatever the alignment: about
//! 0.15 instructions per byte between equally aligned buffers and 0.8 for a
//! copy that also sums (`build.rs` names the targets that can). Elsewhere
//! a plain copy is the system `memcpy`: on hosts it is faster than any loop
//! here, and Armv6-M cannot load unaligned words.
//!
//! The copy of a segment's payload between ring and frame also sums the
//! words for the Internet checksum as it goes ([`copy_and_sum`]), which
//! saves the checksum its own pass over the payload: on Armv7-M in the word
//! loops, on 64-bit hosts in blocks of vector moves.
//!
//! LLVM recognises a loop that only copies and replaces it by a `memcpy`
//! call; the loops below are shaped so it cannot (each says how).

use crate::wire::checksum::{self, WordSum, padded_word};

/// Copies `src` into `dst` (same length) and returns `src`'s
/// [`checksum::native_sum`]: on Armv7-M in the same pass (one load, one
/// store and one multiply-accumulate per word, where a copy and then a
/// checksum pass load every word twice), on 64-bit hosts in one pass of
/// 128-byte blocks, elsewhere as the two separate steps.
pub(crate) fn copy_and_sum(dst: &mut [u8], src: &[u8]) -> u64 {
    #[cfg(duet_unaligned_words)]
    {
        copy_words_summing(dst, src)
    }
    #[cfg(not(duet_unaligned_words))]
    {
        if cfg!(target_pointer_width = "64") {
            copy_summing_in_64_bit_lanes(dst, src)
        } else {
            dst.copy_from_slice(src);
            checksum::native_sum(src)
        }
    }
}

/// Bytes per block of [`copy_summing_in_64_bit_lanes`].
const COPY_SUM_BLOCK: usize = 128;

/// For 64-bit hosts: each 128-byte block copied as one array, then its
/// words added into [`checksum::Lanes`] from the source, still in L1
/// cache; the bytes after the last block as `memcpy` and
/// [`checksum::native_sum`]. LLVM turns the block into eight 16-byte moves
/// and the vector adds of `native_sum`, one pass over the payload where
/// `memcpy` and `native_sum` take two. Measured in `cargo xtask bench tcp`
/// (every payload goes through this once on each side): Duet at
/// 0.233–0.238 CPU-s/GiB against 0.246–0.253 with the two passes. Blocks of
/// 64 bytes measured 0.246–0.251; blocks of 256 or 512 bytes, or the copy
/// after the sum, or the words taken into an array first, 0.36–0.39: the
/// block then goes through the stack or a `memcpy` call, and the adds are
/// no longer vectorised.
#[cfg_attr(duet_unaligned_words, allow(dead_code))]
fn copy_summing_in_64_bit_lanes(dst: &mut [u8], src: &[u8]) -> u64 {
    let src_blocks = src.chunks_exact(COPY_SUM_BLOCK);
    let src_rest = src_blocks.remainder();
    let mut dst_blocks = dst.chunks_exact_mut(COPY_SUM_BLOCK);
    let mut lanes = checksum::Lanes::default();
    for (d, s) in dst_blocks.by_ref().zip(src_blocks) {
        if let (Ok(d), Ok(s)) = (
            <&mut [u8; COPY_SUM_BLOCK]>::try_from(d),
            <&[u8; COPY_SUM_BLOCK]>::try_from(s),
        ) {
            *d = *s;
            lanes.add_words(s);
        }
    }
    dst_blocks.into_remainder().copy_from_slice(src_rest);
    // The rest starts a whole number of blocks in, on a word boundary.
    lanes.total() + checksum::native_sum(src_rest)
}

/// Copies a few words' worth of bytes (TCP options: a multiple of 4, at
/// most 40) a word at a time, without the alignment set-up of
/// [`copy_bytes`] or a `memcpy` call, both of which cost more than the copy
/// of a dozen bytes itself. `dst` must be as long as `src`.
///
/// Twelve bytes, the NOP NOP Timestamp layout nearly every segment carries
/// (RFC 7323 Appendix A), are one fixed-size copy: three loads and three
/// stores, where the loop takes some forty instructions.
pub(crate) fn copy_short_words(dst: &mut [u8], src: &[u8]) {
    assert_eq!(dst.len(), src.len());
    if let (Ok(d), Ok(s)) = (
        <&mut [u8; 12]>::try_from(&mut *dst),
        <&[u8; 12]>::try_from(src),
    ) {
        *d = *s;
        return;
    }
    let words = src.chunks_exact(4);
    let tail = words.remainder();
    // The store is conditional (it never fails) so that LLVM keeps the loop
    // (see above).
    for (i, word) in words.enumerate() {
        if let Some(d) = dst.get_mut(4 * i..4 * i + 4) {
            d.copy_from_slice(word);
        }
    }
    let at = src.len() - tail.len();
    copy_short(&mut dst[at..], tail);
}

/// Copies `src` into `dst`, which must have the same length.
#[inline]
pub(crate) fn copy_bytes(dst: &mut [u8], src: &[u8]) {
    #[cfg(duet_unaligned_words)]
    {
        copy_words(dst, src);
    }
    #[cfg(not(duet_unaligned_words))]
    {
        dst.copy_from_slice(src);
    }
}

/// The word loop. The destination is taken to its first word boundary
/// byte by byte; from there it is written in aligned words. The source is
/// read in aligned words too when it sits on the same boundary (application
/// buffer and ring, usually), else in unaligned word loads (a frame's
/// payload 2 bytes off).
#[cfg_attr(not(duet_unaligned_words), allow(dead_code))]
fn copy_words(dst: &mut [u8], src: &[u8]) {
    assert_eq!(dst.len(), src.len());
    let (dst_head, dst_words, dst_tail) = bytemuck::pod_align_to_mut::<u8, u32>(dst);
    let (src_head, src) = src.split_at(dst_head.len());
    let (src_words, src_tail) = src.split_at(4 * dst_words.len());
    copy_short(dst_head, src_head);
    match bytemuck::try_cast_slice::<u8, u32>(src_words) {
        Ok(aligned) => copy_aligned_words(dst_words, aligned),
        // The summing loop, its sum unused: one instruction per word more
        // than a plain copy would take, and no second loop to keep.
        Err(_) => {
            sum_copy_unaligned_words(dst_words, src_words);
        }
    }
    copy_short(dst_tail, src_tail);
}

/// Both sides aligned: blocks of 256 bytes, each moved as four 64-byte
/// array copies. LLVM lowers a copy of up to 64 aligned bytes inline, as
/// load-multiples and store-multiples of six registers that carry their
/// addresses from one to the next (a 72- or 96-byte copy becomes a
/// `memcpy` call); about 0.14 instructions per byte in all, where four
/// 24-byte copies, each with its own two address computations, took 0.17.
/// Several copies per block rather than one keep the loop from being
/// recognised as one big copy and turned back into a `memcpy` call, whose
/// word loop takes three times the instructions. What is left goes as
/// 64-byte copies, then 16-byte ones, then words, each loop with the
/// conditional store (it never fails) that keeps it from becoming a
/// `memcpy` call too.
fn copy_aligned_words(dst: &mut [u32], src: &[u32]) {
    let (dst_blocks, dst_rest) = blocks_mut::<u32, [[u32; 16]; 4]>(dst);
    let (src_blocks, src_rest) = blocks::<u32, [[u32; 16]; 4]>(src);
    for (d, s) in dst_blocks.iter_mut().zip(src_blocks) {
        d[0] = s[0];
        d[1] = s[1];
        d[2] = s[2];
        d[3] = s[3];
    }
    let (dst_blocks, dst_rest) = blocks_mut::<u32, [u32; 16]>(dst_rest);
    let (src_blocks, src_rest) = blocks::<u32, [u32; 16]>(src_rest);
    for (i, s) in src_blocks.iter().enumerate() {
        if let Some(d) = dst_blocks.get_mut(i) {
            *d = *s;
        }
    }
    let (dst_blocks, dst_rest) = blocks_mut::<u32, [u32; 4]>(dst_rest);
    let (src_blocks, src_rest) = blocks::<u32, [u32; 4]>(src_rest);
    for (i, s) in src_blocks.iter().enumerate() {
        if let Some(d) = dst_blocks.get_mut(i) {
            *d = *s;
        }
    }
    for (i, s) in src_rest.iter().enumerate() {
        if let Some(d) = dst_rest.get_mut(i) {
            *d = *s;
        }
    }
}

/// Copies the unaligned words `src` (`4 * dst.len()` bytes) into the
/// aligned `dst` and returns their [`checksum::native_sum`]. Blocks of six
/// words (blocks of four, five, seven or eight measured slower), about 0.77
/// instructions per byte.
///
/// The compiler fence after each block emits no instruction: it only keeps
/// LLVM, which unrolls the loop twice, from loading the second block's
/// words before the first block's are stored. Hoisted, twelve words are
/// live at once with the sum and the pointers, more than the registers
/// hold, and the spills cost a few instructions per block. The sum is
/// returned as a value rather than a [`WordSum`]: returned through memory,
/// it would be written back there at every fence.
fn sum_copy_unaligned_words(dst: &mut [u32], src: &[u8]) -> u64 {
    let mut sum = WordSum::new();
    let blocks = dst.len() / 6;
    let (dst_blocks, dst_rest) = dst.split_at_mut(6 * blocks);
    let (src_blocks, src_rest) = src.split_at(24 * blocks);
    for (d, s) in dst_blocks
        .chunks_exact_mut(6)
        .zip(src_blocks.chunks_exact(24))
    {
        let words = [
            word(&s[0..4]),
            word(&s[4..8]),
            word(&s[8..12]),
            word(&s[12..16]),
            word(&s[16..20]),
            word(&s[20..24]),
        ];
        d.copy_from_slice(&words);
        for w in words {
            sum.add(w);
        }
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
    }
    // Fewer than six words are left. The store is conditional (it never
    // fails): an unconditional one would make LLVM move the copy out of the
    // loop into a `memcpy` call, dozens of instructions for a few words.
    for (i, s) in src_rest.chunks_exact(4).enumerate() {
        let w = word(s);
        if let Some(d) = dst_rest.get_mut(i) {
            *d = w;
        }
        sum.add(w);
    }
    sum.total()
}

/// [`copy_words`] that also sums the words as [`checksum::native_sum`]
/// does. The destination is aligned as in `copy_words`; the bytes before
/// its first word boundary and after its last are summed as words of their
/// own, padded with zeros, and an odd number of bytes before the boundary
/// puts the words in the other half of their 16-bit words, which
/// [`checksum::join_native_sums`] corrects.
#[cfg_attr(not(duet_unaligned_words), allow(dead_code))]
fn copy_words_summing(dst: &mut [u8], src: &[u8]) -> u64 {
    assert_eq!(dst.len(), src.len());
    // Bytes before the destination's first word boundary, from its address:
    // fewer instructions than `bytemuck::pod_align_to_mut` (this runs for
    // every segment sent and received), and exact where `align_offset` may
    // decline to answer.
    let head_len = ((dst.as_ptr() as usize).wrapping_neg() % 4).min(dst.len());
    let words = (dst.len() - head_len) / 4;
    let (dst_head, dst) = dst.split_at_mut(head_len);
    let (dst_words, dst_tail) = dst.split_at_mut(4 * words);
    // Aligned by construction; when the copy ends before the first word
    // boundary, empty and off it, which the cast refuses.
    let dst_words: &mut [u32] = bytemuck::try_cast_slice_mut(dst_words).unwrap_or_default();
    let (src_head, src) = src.split_at(head_len);
    let (src_words, src_tail) = src.split_at(4 * words);
    copy_short(dst_head, src_head);
    copy_short(dst_tail, src_tail);
    let body = sum_copy_unaligned_words(dst_words, src_words) + u64::from(padded_word(src_tail));
    let head = u64::from(padded_word(src_head));
    checksum::join_native_sums(head, src_head.len(), body)
}

/// Copies the few bytes before and after a word loop one by one: a
/// `copy_from_slice` of a length unknown at compile time calls `memcpy`,
/// about forty instructions for three bytes.
fn copy_short(dst: &mut [u8], src: &[u8]) {
    match (dst, src) {
        ([], []) => {}
        ([d0], [s0]) => *d0 = *s0,
        ([d0, d1], [s0, s1]) => [*d0, *d1] = [*s0, *s1],
        ([d0, d1, d2], [s0, s1, s2]) => [*d0, *d1, *d2] = [*s0, *s1, *s2],
        (dst, src) => dst.copy_from_slice(src),
    }
}

/// `slice` as whole blocks `B` (arrays of `T`) and the elements after them;
/// `slice::as_chunks` without needing Rust 1.88.
fn blocks<T: bytemuck::Pod, B: bytemuck::Pod>(slice: &[T]) -> (&[B], &[T]) {
    let per_block = core::mem::size_of::<B>() / core::mem::size_of::<T>();
    let (whole, rest) = slice.split_at(slice.len() - slice.len() % per_block);
    (bytemuck::cast_slice(whole), rest)
}

fn blocks_mut<T: bytemuck::Pod, B: bytemuck::Pod>(slice: &mut [T]) -> (&mut [B], &mut [T]) {
    let per_block = core::mem::size_of::<B>() / core::mem::size_of::<T>();
    let whole_len = slice.len() - slice.len() % per_block;
    let (whole, rest) = slice.split_at_mut(whole_len);
    (bytemuck::cast_slice_mut(whole), rest)
}

#[inline(always)]
fn word(bytes: &[u8]) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(bytes);
    u32::from_ne_bytes(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::{fold, native_sum};

    /// Equally aligned buffers take the word path: same bytes as
    /// `copy_from_slice` for every length and offset.
    #[test]
    fn aligned_destination_copies_match_copy_from_slice() {
        let source: [u32; 40] = core::array::from_fn(|i| (i as u32).wrapping_mul(0x9e37_79b9));
        let source: &[u8] = bytemuck::cast_slice(&source);
        for len in 0..120 {
            for at in 0..4 {
                let mut expect = [0u32; 40];
                let mut got = [0u32; 40];
                let expect: &mut [u8] = bytemuck::cast_slice_mut(&mut expect);
                let got: &mut [u8] = bytemuck::cast_slice_mut(&mut got);
                expect[at..at + len].copy_from_slice(&source[at..at + len]);
                copy_words(&mut got[at..at + len], &source[at..at + len]);
                assert_eq!(got, expect, "len {len} at {at}");
            }
        }
    }

    /// The fused copy gives `copy_from_slice`'s bytes and a sum that folds
    /// to `native_sum`'s, for every length up to 80 and both parities of
    /// the start.
    #[test]
    fn summing_copy_matches_copy_then_native_sum() {
        let source: [u8; 100] = core::array::from_fn(|i| (i * 131 + 17) as u8);
        for len in 0..80 {
            for src_at in 0..4 {
                for dst_at in 0..4 {
                    let src = &source[src_at..src_at + len];
                    // Word-aligned storage, so `dst_at` is the destination's
                    // offset from a word boundary.
                    let mut got = [0u32; 21];
                    let got: &mut [u8] = bytemuck::cast_slice_mut(&mut got);
                    let dst = &mut got[dst_at..dst_at + len];
                    let sum = copy_words_summing(dst, src);
                    assert_eq!(dst, src);
                    let at = (len, src_at, dst_at);
                    assert_eq!(fold(sum), fold(native_sum(src)), "len, src, dst {at:?}");
                    let mut also = [0u8; 80];
                    assert_eq!(fold(copy_and_sum(&mut also[..len], src)), fold(sum));
                    assert_eq!(&also[..len], src);
                }
            }
        }
    }

    /// Lengths around the block sizes of every `copy_and_sum` variant (a
    /// 64-bit host's 128-byte blocks among them) up to a full segment, from
    /// each offset of a word: the bytes of `copy_from_slice`, and a sum that
    /// folds to `native_sum`'s.
    #[test]
    fn copy_and_sum_matches_native_sum_across_blocks() {
        let source: [u8; 1464] = core::array::from_fn(|i| (i * 151 + 29) as u8);
        let lengths = [0, 3, 24, 127, 128, 129, 255, 256, 300, 1023, 1448, 1460];
        for len in lengths {
            for src_at in 0..4 {
                let src = &source[src_at..src_at + len];
                let mut got = [0u8; 1464];
                let sum = copy_and_sum(&mut got[..len], src);
                assert_eq!(&got[..len], src, "len {len} from {src_at}");
                assert_eq!(fold(sum), fold(native_sum(src)), "len {len} from {src_at}");
            }
        }
    }

    /// Word by word, a partial word last: the bytes `copy_from_slice`
    /// gives, and nothing past the end.
    #[test]
    fn short_word_copies_match_copy_from_slice() {
        let source: [u8; 44] = core::array::from_fn(|i| (i * 5 + 1) as u8);
        for len in 0..=40 {
            for at in 0..4 {
                let src = &source[at..at + len];
                let mut got = [0u8; 44];
                copy_short_words(&mut got[..len], src);
                assert_eq!(&got[..len], src, "{len} bytes at {at}");
                assert!(got[len..].iter().all(|&b| b == 0));
            }
        }
    }

    /// Every length up to 80 and every offset pair mod 4: the word loop and
    /// the remainder give what `copy_from_slice` gives.
    #[test]
    fn word_copy_matches_copy_from_slice() {
        let source: [u8; 100] = core::array::from_fn(|i| (i * 7 + 3) as u8);
        for len in 0..80 {
            for src_at in 0..4 {
                for dst_at in 0..4 {
                    let mut expect = [0xAAu8; 100];
                    let mut got = [0xAAu8; 100];
                    let src = &source[src_at..src_at + len];
                    expect[dst_at..dst_at + len].copy_from_slice(src);
                    copy_words(&mut got[dst_at..dst_at + len], src);
                    assert_eq!(got, expect, "len {len} src {src_at} dst {dst_at}");
                }
            }
        }
    }
}
