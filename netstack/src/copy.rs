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

/// The word loop: 16 bytes per iteration in four unaligned 32-bit loads and
/// stores, the rest with `copy_from_slice`. Four separate stores of four
/// bytes per iteration are not an idiom LLVM turns back into a `memcpy`
/// call (which would be the slow path again).
#[cfg_attr(not(duet_unaligned_words), allow(dead_code))]
fn copy_words(dst: &mut [u8], src: &[u8]) {
    assert_eq!(dst.len(), src.len());
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
    }
    let (d, s) = (dst_blocks.into_remainder(), src_blocks.remainder());
    for (d, s) in d.iter_mut().zip(s) {
        *d = *s;
    }
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
