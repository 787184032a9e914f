//! Byte copies on the data path, tuned for Cortex-M.
//!
//! Every byte a TCP connection moves is copied four times with copying
//! applications (application → send ring → frame → receive ring →
//! application). `copy_from_slice` calls `memcpy`, which on Armv7-M comes
//! from compiler_builtins and, when source and destination are not equally
//! aligned — the usual case, as a payload behind a 14-byte Ethernet header
//! sits 2 bytes off the word alignment of the ring it goes to — falls back to
//! assembling words from aligned loads and shifts: about 2.4 instructions per
//! byte. Armv7-M performs unaligned word loads and stores in hardware
//! (ARMv7-M ARM §A3.2.1), so a loop moving four words per iteration,
//! whatever the alignment, needs about 0.6 (`build.rs` names the targets
//! that can). Elsewhere the system `memcpy` is used: on hosts it is faster
//! than any loop here, and Armv6-M cannot load unaligned words.
//!
//! The copy of a segment's payload between ring and frame can also sum the
//! words for the Internet checksum as it goes ([`copy_and_sum`]), which
//! saves the checksum its own pass over the payload.

/// Copies `src` into `dst` (same length) and returns `src`'s
/// [`checksum::native_sum`]: on Armv7-M in the same pass (one load, one
/// store and two adds per word, where a copy and then a checksum pass load
/// every word twice), elsewhere as the two separate steps.
pub(crate) fn copy_and_sum(dst: &mut [u8], src: &[u8]) -> u64 {
    #[cfg(duet_unaligned_words)]
    {
        copy_words_summing(dst, src)
    }
    #[cfg(not(duet_unaligned_words))]
    {
        dst.copy_from_slice(src);
        crate::wire::checksum::native_sum(src)
    }
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
/// byte by byte; from there it is written in aligned words, eight at a
/// time, which the compiler turns into one store-multiple instruction. The
/// source is read in aligned words too when it sits on the same boundary
/// (application buffer and ring, usually: a load-multiple, about 0.25
/// instructions per byte in all), else in unaligned word loads (a frame's
/// payload 2 bytes off). Separate loads and stores, rather than a block
/// copy, keep LLVM from turning the loop back into a `memcpy` call.
#[cfg_attr(not(duet_unaligned_words), allow(dead_code))]
fn copy_words(dst: &mut [u8], src: &[u8]) {
    assert_eq!(dst.len(), src.len());
    let (dst_head, dst_words, dst_tail) = bytemuck::pod_align_to_mut::<u8, u32>(dst);
    let (src_head, src) = src.split_at(dst_head.len());
    let (src_words, src_tail) = src.split_at(4 * dst_words.len());
    dst_head.copy_from_slice(src_head);
    match bytemuck::try_cast_slice::<u8, u32>(src_words) {
        Ok(aligned) => copy_aligned_words(dst_words, aligned),
        Err(_) => copy_unaligned_words(dst_words, src_words),
    }
    dst_tail.copy_from_slice(src_tail);
}

fn copy_aligned_words(dst: &mut [u32], src: &[u32]) {
    let (dst_blocks, dst_rest) = blocks_mut::<u32, [u32; 8]>(dst);
    let (src_blocks, src_rest) = blocks::<u32, [u32; 8]>(src);
    for (d, s) in dst_blocks.iter_mut().zip(src_blocks) {
        let [w0, w1, w2, w3, w4, w5, w6, w7] = *s;
        d[0] = w0;
        d[1] = w1;
        d[2] = w2;
        d[3] = w3;
        d[4] = w4;
        d[5] = w5;
        d[6] = w6;
        d[7] = w7;
    }
    for (d, s) in dst_rest.iter_mut().zip(src_rest) {
        *d = *s;
    }
}

/// `src` holds `4 * dst.len()` bytes, off a word boundary.
fn copy_unaligned_words(dst: &mut [u32], src: &[u8]) {
    let (dst_blocks, dst_rest) = blocks_mut::<u32, [u32; 8]>(dst);
    let (src_blocks, src_rest) = blocks::<u8, [u8; 32]>(src);
    for (d, s) in dst_blocks.iter_mut().zip(src_blocks) {
        let [w0, w1, w2, w3, w4, w5, w6, w7] = [
            word(&s[0..4]),
            word(&s[4..8]),
            word(&s[8..12]),
            word(&s[12..16]),
            word(&s[16..20]),
            word(&s[20..24]),
            word(&s[24..28]),
            word(&s[28..32]),
        ];
        d[0] = w0;
        d[1] = w1;
        d[2] = w2;
        d[3] = w3;
        d[4] = w4;
        d[5] = w5;
        d[6] = w6;
        d[7] = w7;
    }
    for (d, s) in dst_rest.iter_mut().zip(src_rest.chunks_exact(4)) {
        *d = word(s);
    }
}

/// [`copy_words`] that also adds every word into a deferred-carry sum, the
/// form [`checksum::native_sum`] computes on 32-bit targets.
#[cfg_attr(not(duet_unaligned_words), allow(dead_code))]
fn copy_words_summing(dst: &mut [u8], src: &[u8]) -> u64 {
    assert_eq!(dst.len(), src.len());
    let mut sum = 0u64;
    let mut dst_blocks = dst.chunks_exact_mut(16);
    let mut src_blocks = src.chunks_exact(16);
    for (d, s) in (&mut dst_blocks).zip(&mut src_blocks) {
        let w0 = word(&s[0..4]);
        let w1 = word(&s[4..8]);
        let w2 = word(&s[8..12]);
        let w3 = word(&s[12..16]);
        d[0..4].copy_from_slice(&w0.to_ne_bytes());
        d[4..8].copy_from_slice(&w1.to_ne_bytes());
        d[8..12].copy_from_slice(&w2.to_ne_bytes());
        d[12..16].copy_from_slice(&w3.to_ne_bytes());
        sum += u64::from(w0) + u64::from(w1) + u64::from(w2) + u64::from(w3);
    }
    let (d, s) = (dst_blocks.into_remainder(), src_blocks.remainder());
    d.copy_from_slice(s);
    // The last partial word, padded with zeros as `native_sum` pads it.
    for chunk in s.chunks(4) {
        let mut last = [0u8; 4];
        last[..chunk.len()].copy_from_slice(chunk);
        sum += u64::from(u32::from_ne_bytes(last));
    }
    sum
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
                let src = &source[src_at..src_at + len];
                let mut got = [0u8; 80];
                let sum = copy_words_summing(&mut got[..len], src);
                assert_eq!(&got[..len], src);
                assert_eq!(fold(sum), fold(native_sum(src)), "len {len} at {src_at}");
                let mut also = [0u8; 80];
                assert_eq!(fold(copy_and_sum(&mut also[..len], src)), fold(sum));
                assert_eq!(&also[..len], src);
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
