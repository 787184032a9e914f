//! The Internet checksum ([RFC 1071]): the 16-bit one's-complement of the
//! one's-complement sum of the data's 16-bit words.
//!
//! Checksumming is the second-largest cost per byte on a Cortex-M after
//! memcpy, so [`accumulate`] adds 32 bits per step into a 64-bit accumulator
//! and folds the carries only once, at the end ([`fold`]). This is the
//! "deferred carries" and "byte order independence" of RFC 1071 §2(B)/(C):
//! `2^16 ≡ 1 (mod 2^16 − 1)`, so the high and low halves of every 32-bit word
//! land on the same 16-bit sum once the accumulator is folded.
//!
//! A checksum is built by accumulating pieces (a pseudo-header, a header, a
//! payload) and folding once: `!fold(accumulate(accumulate(pseudo, hdr), payload))`.
//! Every piece except the last must have an even length, so that each byte
//! keeps its position (high or low) inside its 16-bit word.
//!
//! [RFC 1071]: https://www.rfc-editor.org/rfc/rfc1071

use core::net::{IpAddr, Ipv6Addr};

/// Adds `data`, read as big-endian 16-bit words, to the accumulator `acc`.
///
/// An odd trailing byte is padded with a zero byte on its right (RFC 1071
/// §4.1), so only the last piece of a checksummed message may have an odd
/// length. The result is meant for [`fold`] or for another `accumulate`.
///
/// The words are summed in the machine's own byte order and the folded sum
/// is swapped once at the end (RFC 1071 §2(B), byte order independence):
/// no per-word byte swap, so the loop vectorises on hosts and takes one load
/// and two adds per 4 bytes on a Cortex-M.
pub fn accumulate(acc: u64, data: &[u8]) -> u64 {
    add_native_sum(acc, native_sum(data))
}

/// Adds a [`native_sum`] of some piece of data (computed elsewhere, such as
/// while copying it) to the accumulator, as [`accumulate`] would have.
pub fn add_native_sum(acc: u64, native: u64) -> u64 {
    let big_endian_sum = u16::from_be(fold(native));
    let (total, carry) = acc.overflowing_add(u64::from(big_endian_sum));
    // End-around carry: 2^64 ≡ 1 (mod 2^16 − 1) as well.
    total + u64::from(carry)
}

/// The [`native_sum`] of two pieces laid end to end, from the pieces' own
/// sums: after an odd-length first piece the second's bytes sit in the other
/// half of their 16-bit words, so its folded sum swaps (RFC 1071 §2(B)).
pub fn join_native_sums(first: u64, first_len: usize, second: u64) -> u64 {
    if first_len % 2 == 1 {
        first + u64::from(fold(second).swap_bytes())
    } else {
        first + second
    }
}

/// One's-complement sum of `data` in native byte order, carries deferred:
/// the variant that is fastest where the code runs. Only its [`fold`] is
/// meaningful; an odd-length `data` counts as padded with a zero byte.
pub fn native_sum(data: &[u8]) -> u64 {
    if cfg!(target_pointer_width = "64") {
        // A header: no block to set the lanes up for.
        if data.len() < LANE_BLOCK {
            return sum_in_64_bit_words(data);
        }
        sum_in_64_bit_lanes(data)
    } else {
        sum_in_32_bit_words(data)
    }
}

/// Bytes per block of [`sum_in_64_bit_lanes`].
const LANE_BLOCK: usize = 64;

/// For 64-bit hosts: 64-byte blocks, their sixteen 32-bit words into eight
/// 64-bit lanes, which LLVM spreads over vector registers and plain ones
/// (SSE2 has no wider add that keeps the carries); the bytes after the last
/// block as [`sum_in_32_bit_words`]. A 32-bit word is congruent to the sum
/// of its 16-bit halves modulo 2^16 − 1, so the lanes add up to a native
/// sum. Measured in `cargo xtask bench tcp`, where every payload is summed
/// once on each side: 0.215–0.220 CPU-s/GiB for the whole run, against
/// 0.243 with 16-bit words in 32-bit lanes (narrower vector adds, and a
/// vector loop set up even for a 20-byte header); blocks of 32 or 128
/// bytes, or 4 or 16 lanes, measured slower.
fn sum_in_64_bit_lanes(data: &[u8]) -> u64 {
    let blocks = data.chunks_exact(LANE_BLOCK);
    let rest = blocks.remainder();
    let mut lanes = Lanes::default();
    for block in blocks {
        lanes.add_words(block);
    }
    // The rest starts a whole number of blocks in, on a word boundary.
    lanes.total() + sum_in_64_bit_words(rest)
}

/// For 64-bit hosts, the bytes after [`sum_in_64_bit_lanes`]'s blocks:
/// the whole of a header, and of most small packets. Eight bytes per add,
/// each carry added back at once (end-around: 2^64 ≡ 1 modulo 2^16 − 1);
/// a 64-bit word is two native 32-bit words, and 2^32 ≡ 1 too. About a
/// third of the instructions of 32-bit words for a 20- to 32-byte header
/// (measured with callgrind in `cargo xtask bench tcp`, where three headers
/// are summed per segment). Returned as its two 32-bit halves added (again
/// congruent, as 2^32 ≡ 1): far from the top of a `u64`, as the other
/// native sums are, since callers add them with a plain `+`.
fn sum_in_64_bit_words(data: &[u8]) -> u64 {
    let words = data.chunks_exact(8);
    let tail = words.remainder();
    let (word, rest) = tail.split_at(tail.len() & 4);
    let mut sum = u64::from(padded_word(word)) + u64::from(padded_word(rest));
    for w in words {
        let w = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        let (total, carry) = sum.overflowing_add(w);
        sum = total + u64::from(carry);
    }
    (sum >> 32) + (sum & 0xffff_ffff)
}

/// Eight 64-bit lanes, each summing every eighth 32-bit word of a block
/// (see [`sum_in_64_bit_lanes`]); their [`total`](Self::total) is a
/// [`native_sum`] of the blocks added.
#[derive(Debug, Default)]
pub(crate) struct Lanes([u64; 8]);

impl Lanes {
    /// Adds `block`, a whole number of 32-bit words.
    #[inline(always)]
    pub(crate) fn add_words(&mut self, block: &[u8]) {
        for (i, w) in block.chunks_exact(4).enumerate() {
            self.0[i % 8] += u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
        }
    }

    pub(crate) fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// For 32-bit microcontrollers.
fn sum_in_32_bit_words(data: &[u8]) -> u64 {
    let words = data.chunks_exact(4);
    let tail = words.remainder();
    let mut sum = WordSum::new();
    for word in words {
        sum.add(u32::from_ne_bytes([word[0], word[1], word[2], word[3]]));
    }
    sum.add(padded_word(tail));
    sum.total()
}

/// 32-bit words summed with their carries kept (deferred), one instruction
/// per word on Armv7E-M. Its [`total`](Self::total) is a [`native_sum`].
///
/// A plain `u64` sum takes an add and an add-with-carry per word on a
/// 32-bit core. Where `UMAAL` exists (`build.rs`'s `duet_umaal`: Armv7E-M,
/// i.e. Cortex-M4/M7, and Armv7-A/R) each step instead computes
/// `word × one + lo + hi` into a new `lo` (the low 32 bits) and `hi` (the
/// carry), which is that one instruction. `lo + hi` stays congruent to the
/// true sum modulo 2^32 − 1, a multiple of 2^16 − 1, so its [`fold`] is
/// the one's-complement sum. The `one` comes through `black_box` (once per
/// sum), so LLVM can neither drop the multiplication (and fall back to the
/// add pair) nor see through it. Elsewhere — Cortex-M3, Cortex-M0 (whose
/// 64-bit multiplication is a library call) and hosts (which sum in vector
/// lanes anyway) — `hi:lo` is a plain 64-bit sum.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WordSum {
    lo: u32,
    hi: u32,
    one: u32,
}

impl WordSum {
    #[inline(always)]
    pub(crate) fn new() -> Self {
        WordSum {
            lo: 0,
            hi: 0,
            one: core::hint::black_box(1),
        }
    }

    #[inline(always)]
    pub(crate) fn add(&mut self, word: u32) {
        if cfg!(duet_umaal) {
            self.add_end_around(word);
        } else {
            self.add_carrying(word);
        }
    }

    /// `UMAAL`: `lo + hi` is the sum, modulo 2^32 − 1.
    #[inline(always)]
    fn add_end_around(&mut self, word: u32) {
        let sum = u64::from(word) * u64::from(self.one) + u64::from(self.lo) + u64::from(self.hi);
        self.lo = sum as u32;
        self.hi = (sum >> 32) as u32;
    }

    /// An add and an add-with-carry: `hi:lo` is the sum.
    #[inline(always)]
    fn add_carrying(&mut self, word: u32) {
        let sum = (u64::from(self.hi) << 32 | u64::from(self.lo)) + u64::from(word);
        self.lo = sum as u32;
        self.hi = (sum >> 32) as u32;
    }

    /// The [`native_sum`] of the words added: `hi + lo` and `hi·2^32 + lo`
    /// fold alike, as 2^32 ≡ 1 (mod 2^16 − 1).
    #[inline(always)]
    pub(crate) fn total(&self) -> u64 {
        u64::from(self.lo) + u64::from(self.hi)
    }
}

/// Up to four bytes as a native word, padded with zeros on the right as
/// [`native_sum`] pads an odd tail (0 for no bytes or more than four).
/// Spelled out per length: a `copy_from_slice` of a length unknown at
/// compile time calls `memcpy`, dozens of instructions for a few bytes.
pub(crate) fn padded_word(bytes: &[u8]) -> u32 {
    u32::from_ne_bytes(match *bytes {
        [b0] => [b0, 0, 0, 0],
        [b0, b1] => [b0, b1, 0, 0],
        [b0, b1, b2] => [b0, b1, b2, 0],
        [b0, b1, b2, b3] => [b0, b1, b2, b3],
        _ => [0; 4],
    })
}

/// Folds the carries of an accumulator into 16 bits: the one's-complement sum
/// itself, not yet inverted.
///
/// The halves are added in 32 bits with the end-around carry, so that a
/// 32-bit core folds in a few instructions rather than in 64-bit pairs.
pub fn fold(acc: u64) -> u16 {
    let (sum, carry) = (acc as u32).overflowing_add((acc >> 32) as u32);
    // With a carry, `sum` is at most 2^32 − 2: adding it back cannot carry.
    let sum = sum + u32::from(carry);
    let sum = (sum & 0xffff) + (sum >> 16); // <= 0x1fffe
    let sum = (sum & 0xffff) + (sum >> 16); // <= 0xffff
    sum as u16
}

/// The Internet checksum of `data` alone, ready to be written into a header.
///
/// Verifying a message whose checksum field is included gives 0 when it is
/// intact (RFC 1071 §1(4)).
///
/// Inlined: for an IPv4 header, checked on every datagram received, the
/// caller's length is a multiple of 4, so the partial-word tail and the
/// call itself drop out.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    finish(native_sum(data))
}

/// The checksum field for a message whose pieces' [`native_sum`]s add up
/// to `native`: one fold and one byte swap for the whole message, where
/// [`accumulate`] pays both per piece.
pub fn finish(native: u64) -> u16 {
    !u16::from_be(fold(native))
}

/// The accumulated pseudo-header that UDP and TCP checksums cover besides
/// their own bytes: [`pseudo_header_native_sum`] as an accumulator.
pub fn pseudo_header(src: &IpAddr, dst: &IpAddr, protocol: u8, length: u32) -> u64 {
    add_native_sum(0, pseudo_header_native_sum(src, dst, protocol, length))
}

/// The [`native_sum`] of the pseudo-header that UDP and TCP checksums cover
/// besides their own bytes: source and destination address, protocol (IPv6:
/// next header) and the upper-layer length.
///
/// Two IPv4 addresses give the RFC 768 / RFC 793 §3.1 pseudo-header (12
/// bytes); otherwise the RFC 8200 §8.1 one (40 bytes). Callers never mix
/// families; if they did, an IPv4 address would count as its IPv4-mapped
/// IPv6 form (`::ffff:a.b.c.d`).
///
/// Inlined, so that the IPv4 case (every TCP segment sent and received)
/// costs a few adds where a call and the IPv6 branch cost some thirty
/// instructions; the IPv6 sum stays out of line.
#[inline]
pub fn pseudo_header_native_sum(src: &IpAddr, dst: &IpAddr, protocol: u8, length: u32) -> u64 {
    let word = |octets: [u8; 4]| u64::from(u32::from_ne_bytes(octets));
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            pseudo_header_tail(protocol, length) + word(s.octets()) + word(d.octets())
        }
        _ => pseudo_header_ipv6_native_sum(src, dst, protocol, length),
    }
}

/// The length as a 32-bit big-endian word and the protocol in the low byte
/// of another: IPv6's layout, and IPv4's too once folded (its zero byte and
/// protocol, then its 16-bit length, sit in the same halves of their 16-bit
/// words).
#[inline]
fn pseudo_header_tail(protocol: u8, length: u32) -> u64 {
    u64::from(u32::from_ne_bytes(length.to_be_bytes()))
        + u64::from(u32::from_ne_bytes([0, 0, 0, protocol]))
}

/// [`pseudo_header_native_sum`] for IPv6 (or mixed) addresses.
#[inline(never)]
fn pseudo_header_ipv6_native_sum(src: &IpAddr, dst: &IpAddr, protocol: u8, length: u32) -> u64 {
    pseudo_header_tail(protocol, length)
        + native_sum(&as_v6(src).octets())
        + native_sum(&as_v6(dst).octets())
}

fn as_v6(addr: &IpAddr) -> Ipv6Addr {
    match addr {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => *a,
    }
}

/// Updates a checksum after one 16-bit word of the covered data changed from
/// `old_word` to `new_word`, without touching the rest of the data.
///
/// RFC 1624 §3, eqn. 3: `HC' = ~(~HC + ~m + m')`, the form that never yields
/// the "negative zero" that eqn. 2 can. (Used when a router decrements a TTL
/// or a NAT rewrites an address or a port.)
pub fn update(old_checksum: u16, old_word: u16, new_word: u16) -> u16 {
    let sum = u64::from(!old_checksum) + u64::from(!old_word) + u64::from(new_word);
    !fold(sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::Rng;
    use core::net::{Ipv4Addr, Ipv6Addr};

    /// The textbook definition: 16-bit words, carries folded after every add.
    fn naive(data: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        let mut i = 0;
        while i < data.len() {
            let hi = u32::from(data[i]) << 8;
            let lo = data.get(i + 1).map_or(0, |&b| u32::from(b));
            sum += hi | lo;
            sum = (sum & 0xffff) + (sum >> 16);
            i += 2;
        }
        !(sum as u16)
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(accumulate(0, &data)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
        // Any split at even offsets gives the same sum (§2(C), deferred carries).
        for split in [0, 2, 4, 6, 8] {
            let acc = accumulate(accumulate(0, &data[..split]), &data[split..]);
            assert_eq!(fold(acc), 0xddf2);
        }
    }

    #[test]
    fn odd_lengths_pad_with_a_zero_byte() {
        assert_eq!(checksum(&[]), 0xffff);
        assert_eq!(checksum(&[0xab]), !0xab00);
        assert_eq!(checksum(&[0x12, 0x34, 0x56]), !(0x1234 + 0x5600));
        assert_eq!(checksum(&[1, 2, 3, 4, 5]), naive(&[1, 2, 3, 4, 5]));
        assert_eq!(checksum(&[0xff; 7]), naive(&[0xff; 7]));
    }

    #[test]
    fn matches_naive_reference_on_random_lengths_and_offsets() {
        let mut rng = Rng::new(0x1071);
        let mut buf = [0u8; 2048];
        for _ in 0..3000 {
            rng.fill(&mut buf);
            let offset = rng.below(64) as usize;
            let len = rng.below((buf.len() - offset) as u32 + 1) as usize;
            let data = &buf[offset..offset + len];
            assert_eq!(checksum(data), naive(data), "offset {offset} len {len}");
            // Pieces split at an even offset add up to the whole.
            let split = (rng.below(len as u32 + 1) as usize) & !1;
            let acc = accumulate(accumulate(0, &data[..split]), &data[split..]);
            assert_eq!(!fold(acc), naive(data), "split {split} of {len}");
        }
    }

    #[test]
    fn all_ones_data_and_huge_accumulators_fold_correctly() {
        let ones = [0xff; 1500];
        assert_eq!(checksum(&ones), naive(&ones));
        // An accumulator near the top of u64 takes the end-around carry.
        let acc = accumulate(u64::MAX - 3, &[0xff; 64]);
        assert_eq!(
            fold(acc),
            fold(accumulate(fold(u64::MAX - 3).into(), &[0xff; 64]))
        );
        assert_eq!(fold(u64::MAX), 0xffff);
        assert_eq!(fold(0), 0);
    }

    /// The fold is the sum modulo 2^16 − 1, 0 only for 0 (one's-complement
    /// "negative zero" otherwise), whatever the carries between the halves.
    #[test]
    fn fold_is_the_sum_modulo_ffff() {
        let mut rng = Rng::new(0xffff);
        let edges = [
            0,
            1,
            0xffff,
            0x1_0000,
            0xffff_ffff,
            0x1_0000_0000,
            0x1_ffff_fffe,
            0xffff_ffff_0000_0001,
            u64::MAX - 1,
            u64::MAX,
        ];
        let random =
            (0..10_000).map(|_| u64::from(rng.next_u32()) << 32 | u64::from(rng.next_u32()));
        for acc in edges.into_iter().chain(random) {
            let expect = match acc % 0xffff {
                0 if acc == 0 => 0,
                0 => 0xffff,
                rest => rest as u16,
            };
            assert_eq!(fold(acc), expect, "{acc:#x}");
        }
    }

    #[test]
    fn update_equals_full_recompute() {
        let mut rng = Rng::new(1624);
        let mut data = [0u8; 64];
        for _ in 0..5000 {
            rng.fill(&mut data);
            // Keep one word nonzero: for all-zero data the full sum is +0,
            // which eqn. 3 by design never produces.
            data[0] |= 1;
            let old_sum = checksum(&data);
            let at = 2 + 2 * rng.below(31) as usize;
            let old_word = u16::from_be_bytes([data[at], data[at + 1]]);
            let new_word = match rng.below(4) {
                0 => 0,
                1 => 0xffff,
                _ => rng.next_u32() as u16,
            };
            data[at..at + 2].copy_from_slice(&new_word.to_be_bytes());
            assert_eq!(update(old_sum, old_word, new_word), checksum(&data));
        }
    }

    #[test]
    fn update_of_a_ttl_decrement() {
        // A router decrementing TTL 64 -> 63 (TTL is the high byte of word 4).
        let mut header = [
            0x45, 0x00, 0x00, 0x2c, 0x83, 0x38, 0x40, 0x00, 0x40, 0x01, 0x00, 0x00, 0x0a, 0x09,
            0x00, 0x01, 0x0a, 0x09, 0x00, 0x02,
        ];
        let old = checksum(&header);
        assert_eq!(old, 0xa384); // the checksum of the captured echo request
        header[8] = 63;
        assert_eq!(update(old, 0x4001, 0x3f01), checksum(&header));
    }

    #[test]
    fn pseudo_header_ipv4_is_the_rfc768_layout() {
        let (s, d) = (Ipv4Addr::new(10, 9, 0, 1), Ipv4Addr::new(10, 9, 0, 2));
        let explicit = [10, 9, 0, 1, 10, 9, 0, 2, 0, 17, 0, 18];
        assert_eq!(
            fold(pseudo_header(&s.into(), &d.into(), 17, 18)),
            fold(accumulate(0, &explicit))
        );
    }

    #[test]
    fn pseudo_header_ipv6_is_the_rfc8200_layout() {
        let s: Ipv6Addr = "fd00:9::1".parse().unwrap();
        let d: Ipv6Addr = "fe80::5eff:fe10:b".parse().unwrap();
        let mut explicit = [0u8; 40];
        explicit[..16].copy_from_slice(&s.octets());
        explicit[16..32].copy_from_slice(&d.octets());
        explicit[32..36].copy_from_slice(&70_000u32.to_be_bytes());
        explicit[39] = 17;
        assert_eq!(
            fold(pseudo_header(&s.into(), &d.into(), 17, 70_000)),
            fold(accumulate(0, &explicit))
        );
        // Mixed families count the IPv4 address in its mapped form.
        let v4 = Ipv4Addr::new(10, 9, 0, 1);
        assert_eq!(
            pseudo_header(&v4.into(), &d.into(), 17, 8),
            pseudo_header(&v4.to_ipv6_mapped().into(), &d.into(), 17, 8)
        );
    }

    #[test]
    fn every_summing_strategy_agrees_with_the_reference() {
        let mut rng = crate::rand::Rng::new(77);
        let mut buffer = [0u8; 3000];
        rng.fill(&mut buffer);
        const ONES: [u8; 3000] = [0xff; 3000];
        for len in (0..3000)
            .step_by(37)
            .chain([0, 1, 2, 3, 4, 5, 63, 64, 65, 67, 127, 128, 1459, 1460, 1461])
        {
            // All ones: the most carries, on every add.
            for data in [&buffer[..len], &ONES[..len]] {
                let lanes = u16::from_be(fold(sum_in_64_bit_lanes(data)));
                let long_words = u16::from_be(fold(sum_in_64_bit_words(data)));
                let words = u16::from_be(fold(sum_in_32_bit_words(data)));
                let reference = fold(accumulate_reference(data));
                assert_eq!(lanes, reference, "64-bit lanes, {len} bytes");
                assert_eq!(long_words, reference, "64-bit words, {len} bytes");
                assert_eq!(words, reference, "32-bit words, {len} bytes");
            }
        }
    }

    /// The carries of many all-ones words (the worst case for the deferred
    /// carries of `WordSum`) and of a sum built from pieces all land.
    #[test]
    fn word_sums_keep_every_carry() {
        let ones = [0xffu8; 65536];
        let mut random = [0u8; 4096];
        crate::rand::Rng::new(4).fill(&mut random);
        let inputs = [4, 8, 1500, 65536]
            .map(|len| &ones[..len])
            .into_iter()
            .chain([&random[..], &random[..1460]]);
        for data in inputs {
            // Both ways of adding, whichever this target compiles `add` to.
            let (mut end_around, mut carrying) = (WordSum::new(), WordSum::new());
            for word in data.chunks_exact(4) {
                let word = u32::from_ne_bytes([word[0], word[1], word[2], word[3]]);
                end_around.add_end_around(word);
                carrying.add_carrying(word);
            }
            let reference = fold(accumulate_reference(data));
            for sum in [end_around, carrying] {
                assert_eq!(
                    u16::from_be(fold(sum.total())),
                    reference,
                    "{} bytes",
                    data.len()
                );
            }
        }
        assert_eq!(padded_word(&[]), 0);
        assert_eq!(padded_word(&[1, 2, 3]), u32::from_ne_bytes([1, 2, 3, 0]));
        assert_eq!(padded_word(&[1, 2, 3, 4, 5]), 0);
    }

    /// Word by word, big-endian, as RFC 1071 §4.1 writes it.
    fn accumulate_reference(data: &[u8]) -> u64 {
        data.chunks(2)
            .map(|pair| u64::from(pair[0]) << 8 | u64::from(*pair.get(1).unwrap_or(&0)))
            .sum()
    }
}
