//! The byte stream a bench sends and checks: every byte a function of its
//! offset in the stream, so the receiver verifies any chunk, at any offset,
//! without keeping a copy of what was sent.
//!
//! Word `k` (stream bytes `8k..8k+8`, little-endian) is `SEED + k * STEP`
//! modulo 2^64, a Weyl sequence. With an odd `STEP` no two words of a 4 GiB
//! run are equal, so a lost, repeated, reordered or stale chunk fails the
//! check as surely as a flipped bit; stale data in a 64 KiB ring buffer, in
//! particular, differs from the expected words. Consecutive words differ by
//! one addition, so filling and checking cost about one add and one 8-byte
//! store or compare per word: the pattern stays a small, equal share of every
//! stack's figure.

/// The word at index 0; any value does.
const SEED: u64 = 0x0123_4567_89ab_cdef;

/// The step between words: odd, so the sequence visits every `u64` before
/// repeating, and with no byte 0x00 or 0xff, so every byte changes from word
/// to word whatever the carry.
const STEP: u64 = 0x9e37_79b9_7f4a_7c15;

/// The word holding stream bytes `8k..8k+8`.
fn word(k: u64) -> u64 {
    SEED.wrapping_add(k.wrapping_mul(STEP))
}

/// The stream byte at `offset`.
pub fn byte_at(offset: u64) -> u8 {
    word(offset / 8).to_le_bytes()[(offset % 8) as usize]
}

/// How many bytes at the start of a chunk starting at `offset` come before
/// the next word boundary.
fn unaligned_head(offset: u64, len: usize) -> usize {
    let to_boundary = (8 - (offset % 8) as usize) % 8;
    to_boundary.min(len)
}

/// Writes the stream bytes `offset..offset + buf.len()` into `buf`.
pub fn fill(offset: u64, buf: &mut [u8]) {
    let head = unaligned_head(offset, buf.len());
    let (head_bytes, rest) = buf.split_at_mut(head);
    for (i, byte) in head_bytes.iter_mut().enumerate() {
        *byte = byte_at(offset + i as u64);
    }
    let first_word = (offset + head as u64) / 8;
    let mut value = word(first_word);
    let mut words = rest.chunks_exact_mut(8);
    for chunk in &mut words {
        chunk.copy_from_slice(&value.to_le_bytes());
        value = value.wrapping_add(STEP);
    }
    let tail = words.into_remainder();
    let tail_len = tail.len();
    tail.copy_from_slice(&value.to_le_bytes()[..tail_len]);
}

/// The first byte of a chunk that differs from the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    /// Offset of the byte in the stream.
    pub offset: u64,
    pub expected: u8,
    pub found: u8,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stream byte {} is {:#04x}, expected {:#04x}",
            self.offset, self.found, self.expected
        )
    }
}

/// Checks that `buf` holds the stream bytes `offset..offset + buf.len()`.
/// Compares a word at a time; only a chunk that fails is walked byte by byte,
/// to name the first wrong byte.
pub fn verify(offset: u64, buf: &[u8]) -> Result<(), Mismatch> {
    if matches_stream(offset, buf) {
        return Ok(());
    }
    let (index, (&found, expected)) = buf
        .iter()
        .zip((offset..).map(byte_at))
        .enumerate()
        .find(|(_, (found, expected))| **found != *expected)
        .ok_or(Mismatch {
            // `matches_stream` and this walk disagree only if one of them is
            // wrong; report it rather than pass the chunk.
            offset,
            expected: byte_at(offset),
            found: buf.first().copied().unwrap_or_default(),
        })?;
    Err(Mismatch {
        offset: offset + index as u64,
        expected,
        found,
    })
}

/// The fast check: whole words compared as `u64`, differences accumulated
/// without a branch per word.
fn matches_stream(offset: u64, buf: &[u8]) -> bool {
    let head = unaligned_head(offset, buf.len());
    let (head_bytes, rest) = buf.split_at(head);
    let head_ok = head_bytes
        .iter()
        .enumerate()
        .all(|(i, &byte)| byte == byte_at(offset + i as u64));
    let mut value = word((offset + head as u64) / 8);
    let mut difference = 0u64;
    let mut words = rest.chunks_exact(8);
    for chunk in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        difference |= u64::from_le_bytes(bytes) ^ value;
        value = value.wrapping_add(STEP);
    }
    let tail = words.remainder();
    head_ok && difference == 0 && tail == &value.to_le_bytes()[..tail.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_at_any_offset_agrees_with_byte_at() {
        for offset in [0u64, 1, 7, 8, 9, 15, 4096 + 3, (4 << 30) - 5] {
            for len in [0usize, 1, 5, 8, 9, 23, 64, 1460] {
                let mut buf = vec![0u8; len];
                fill(offset, &mut buf);
                let expected: Vec<u8> = (offset..offset + len as u64).map(byte_at).collect();
                assert_eq!(buf, expected, "offset {offset} len {len}");
                assert_eq!(verify(offset, &buf), Ok(()));
            }
        }
    }

    #[test]
    fn verify_names_a_flipped_byte_anywhere_in_a_chunk() {
        let offset = 1_000_003;
        let mut buf = vec![0u8; 1461];
        fill(offset, &mut buf);
        for index in [0, 1, 4, 5, 700, 1455, 1460] {
            let mut bad = buf.clone();
            bad[index] ^= 0x01;
            assert_eq!(
                verify(offset, &bad),
                Err(Mismatch {
                    offset: offset + index as u64,
                    expected: buf[index],
                    found: buf[index] ^ 0x01,
                })
            );
        }
    }

    #[test]
    fn verify_rejects_shifted_stale_and_repeated_data() {
        let mut buf = vec![0u8; 2048];
        fill(100_000, &mut buf);
        // Data from one byte, one word and one 64 KiB ring earlier.
        for shift in [1u64, 8, 65_536] {
            assert!(verify(100_000 + shift, &buf).is_err(), "shift {shift}");
        }
        // A segment delivered twice: the second copy sits where new data
        // should be.
        let mut twice = vec![0u8; 2920];
        fill(0, &mut twice[..1460]);
        fill(0, &mut twice[1460..]);
        assert_eq!(verify(0, &twice).unwrap_err().offset, 1460);
    }

    #[test]
    fn consecutive_words_differ_in_every_byte() {
        // Guards the choice of STEP: a byte that repeats from word to word
        // would let a misplaced chunk pass in that byte.
        for k in [0u64, 1, 1 << 20, u64::MAX / 3] {
            let (a, b) = (word(k).to_le_bytes(), word(k + 1).to_le_bytes());
            assert!(a.iter().zip(b).all(|(x, y)| *x != y), "word {k}");
        }
    }
}
