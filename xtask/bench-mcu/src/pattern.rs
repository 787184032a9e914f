//! The byte stream the client sends and the server checks, made cheap for a
//! Cortex-M4: byte `o` of the stream is byte `o mod PERIOD` of one table,
//! filled once at start-up from a xorshift generator. The client sends
//! straight out of the table (no per-byte work to generate it) and the
//! server compares what it reads against it a word at a time (a share of
//! the run that [`crate::exchange`] times apart and leaves out of the
//! headline figure).
//!
//! `PERIOD` is a multiple of 4, so the client's source and its socket's
//! ring keep the same alignment as the stream advances (the copy's cost does
//! not drift with the offset), and not a multiple of the 16 KiB ring, so
//! stale data from an earlier lap of a ring differs from what is expected.
//! The table holds one socket buffer more than a period, so any chunk up to
//! that size starting anywhere in the period is one contiguous slice.

use crate::exchange::BUFFER_LEN;

/// Stream bytes before the pattern repeats.
pub const PERIOD: usize = 65_532;

/// Bytes in the table: a period plus the longest chunk read or written at once.
pub const TABLE_LEN: usize = PERIOD + BUFFER_LEN;

/// The pattern table, word aligned so that the client's copies out of it
/// can take the aligned path.
#[derive(Debug)]
#[repr(C, align(4))]
pub struct Pattern {
    table: [u8; TABLE_LEN],
}

impl Pattern {
    /// An unfilled table, for a `static`; [`fill`](Self::fill) it before use.
    pub const fn new() -> Self {
        Pattern {
            table: [0; TABLE_LEN],
        }
    }

    /// Writes the stream's bytes: a xorshift32 sequence (Marsaglia 2003), a
    /// new word per 4 bytes, repeating after [`PERIOD`] bytes.
    pub fn fill(&mut self) {
        let mut state: u32 = 0x9e37_79b9;
        for word in self.table[..PERIOD].chunks_exact_mut(4) {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            word.copy_from_slice(&state.to_le_bytes());
        }
        self.table.copy_within(..BUFFER_LEN, PERIOD);
    }

    /// The stream bytes from `offset` on, at most `len` of them and never
    /// more than [`BUFFER_LEN`].
    pub fn chunk(&self, offset: u64, len: usize) -> &[u8] {
        let start = (offset % PERIOD as u64) as usize;
        &self.table[start..start + len.min(BUFFER_LEN)]
    }

    /// Checks that `data` (at most [`BUFFER_LEN`] bytes) is the stream from
    /// `offset` on; on a difference, names the first wrong byte.
    pub fn verify(&self, offset: u64, data: &[u8]) -> Result<(), Mismatch> {
        let expected = self.chunk(offset, data.len());
        if same(expected, data) {
            return Ok(());
        }
        let (index, (&wanted, &found)) = expected
            .iter()
            .zip(data)
            .enumerate()
            .find(|(_, (wanted, found))| wanted != found)
            // Equal as far as both go: `data` is longer than a chunk can be.
            .unwrap_or((expected.len(), (&0, &0)));
        Err(Mismatch {
            offset: offset + index as u64,
            expected: wanted,
            found,
        })
    }
}

/// Whether two slices hold the same bytes (and a too-long `data` is never
/// the same): whole words compared as `u32` with the differences gathered
/// without a branch per word; the compiler's `memcmp` on this target goes a
/// byte at a time.
fn same(expected: &[u8], data: &[u8]) -> bool {
    if expected.len() != data.len() {
        return false;
    }
    let (expected_words, expected_tail) = expected.as_chunks::<4>();
    let (data_words, data_tail) = data.as_chunks::<4>();
    let mut difference = 0u32;
    for (wanted, found) in expected_words.iter().zip(data_words) {
        difference |= u32::from_ne_bytes(*wanted) ^ u32::from_ne_bytes(*found);
    }
    difference == 0 && expected_tail == data_tail
}

/// The first byte of a chunk that differs from the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    /// Offset of the byte in the stream.
    pub offset: u64,
    pub expected: u8,
    pub found: u8,
}
