//! TCP options (RFC 9293 §3.2): decoding the option bytes of a received
//! segment and composing them for a sent one.
//!
//! ```text
//! kind 0  end of option list                  1 byte
//! kind 1  no-operation                        1 byte
//! kind 2  maximum segment size   len 4        RFC 9293 §3.7.1
//! kind 3  window scale           len 3        RFC 7323 §2
//! kind 4  SACK permitted         len 2        RFC 2018 §2
//! kind 5  SACK                   len 2 + 8n   RFC 2018 §3
//! kind 8  timestamps             len 10       RFC 7323 §3
//! ```

use super::{SeqNumber, read_u32, write_u32};
use crate::wire::{Result, WireError};

/// Option kinds (RFC 9293 §3.2; IANA "TCP Option Kind Numbers").
pub(crate) mod kind {
    /// End of option list: the rest of the header is padding.
    pub const END: u8 = 0;
    /// No-operation: aligns the next option on a word.
    pub const NOP: u8 = 1;
    /// Maximum segment size (RFC 9293 §3.7.1), length 4, SYN only.
    pub const MSS: u8 = 2;
    /// Window scale (RFC 7323 §2.2), length 3, SYN only.
    pub const WINDOW_SCALE: u8 = 3;
    /// SACK permitted (RFC 2018 §2), length 2, SYN only.
    pub const SACK_PERMITTED: u8 = 4;
    /// SACK (RFC 2018 §3), length 2 + 8 per block.
    pub const SACK: u8 = 5;
    /// Timestamps (RFC 7323 §3.2), length 10.
    pub const TIMESTAMP: u8 = 8;
}

/// The most option bytes a header holds: 60 − 20.
pub const MAX_OPTIONS_LEN: usize = 40;
/// The largest window scale shift (RFC 7323 §2.3): windows stay below 2^30.
pub const MAX_WINDOW_SCALE: u8 = 14;
/// The most SACK blocks an option holds (RFC 2018 §3: 2 + 4 × 8 = 34 bytes).
pub const MAX_SACK_BLOCKS: usize = 4;

/// The options of one segment, as [`parse_options`] decodes them. An option
/// the segment does not carry is `None` (or `false`, or no SACK blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SegmentOptions {
    /// The largest segment the sender will receive (RFC 9293 §3.7.1).
    pub mss: Option<u16>,
    /// The sender's receive window shift, at most 14 (RFC 7323 §2.2).
    pub window_scale: Option<u8>,
    /// The sender accepts SACK options (RFC 2018 §2).
    pub sack_permitted: bool,
    /// (TSval, TSecr) (RFC 7323 §3.2).
    pub timestamp: Option<(u32, u32)>,
    /// SACK blocks (RFC 2018 §3). An `Option` rather than a zeroed array:
    /// `None` writes one discriminant, where zeroing the four blocks cost
    /// a `memset` call for every segment received, nearly all without SACK.
    pub sack: Option<SackBlocks>,
}

impl SegmentOptions {
    /// The valid SACK blocks, in the order the segment lists them.
    pub fn sack_ranges(&self) -> &[(SeqNumber, SeqNumber)] {
        self.sack.as_ref().map_or(&[], SackBlocks::ranges)
    }
}

/// The 1 to [`MAX_SACK_BLOCKS`] blocks of a SACK option, each (left edge,
/// right edge) (RFC 2018 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SackBlocks {
    blocks: [(SeqNumber, SeqNumber); MAX_SACK_BLOCKS],
    len: u8,
}

impl SackBlocks {
    /// The first [`MAX_SACK_BLOCKS`] of `ranges`.
    pub fn new(ranges: &[(SeqNumber, SeqNumber)]) -> Self {
        let mut sack = SackBlocks::default();
        for (slot, range) in sack.blocks.iter_mut().zip(ranges) {
            *slot = *range;
            sack.len += 1;
        }
        sack
    }

    /// The blocks, in the order the segment lists them.
    pub fn ranges(&self) -> &[(SeqNumber, SeqNumber)] {
        &self.blocks[..usize::from(self.len).min(MAX_SACK_BLOCKS)]
    }
}

/// Decodes the option bytes of a segment (RFC 9293 §3.1 "Options", §3.2).
///
/// End of option list stops the walk and no-operation is skipped. Any other
/// option needs a length byte of at least 2 that stays inside `options`, else
/// the list is `Malformed` (RFC 9293 §3.2, MUST-7: be "prepared to handle an
/// illegal option length"). Options this stack does not implement are skipped
/// by their length (MUST-6). The known options must have their defined length
/// (MSS 4, window scale 3, SACK permitted 2, timestamps 10, SACK 2 + 8n with
/// n in 1..=4), else `Malformed`. A window scale above 14 is used as 14
/// (RFC 7323 §2.3). An option that occurs twice counts as its last copy.
pub fn parse_options(options: &[u8]) -> Result<SegmentOptions> {
    let mut parsed = SegmentOptions::default();
    // The layout nearly every segment of a connection with timestamps
    // carries (RFC 7323 Appendix A: NOP, NOP, then the option), read
    // without the walk: the walk would decode it the same way.
    if let [kind::NOP, kind::NOP, kind::TIMESTAMP, 10, body @ ..] = options {
        if body.len() == 8 {
            parsed.timestamp = Some((read_u32(body, 0), read_u32(body, 4)));
            return Ok(parsed);
        }
    }
    let mut rest = options;
    while let [option_kind, after_kind @ ..] = rest {
        match *option_kind {
            kind::END => break,
            kind::NOP => {
                rest = after_kind;
                continue;
            }
            _ => {}
        }
        let [len, ..] = after_kind else {
            return Err(WireError::Malformed);
        };
        let len = usize::from(*len);
        if len < 2 || len > rest.len() {
            return Err(WireError::Malformed);
        }
        let (option, after) = rest.split_at(len);
        match (*option_kind, &option[2..]) {
            (kind::MSS, &[hi, lo]) => parsed.mss = Some(u16::from_be_bytes([hi, lo])),
            (kind::WINDOW_SCALE, &[shift]) => {
                parsed.window_scale = Some(shift.min(MAX_WINDOW_SCALE));
            }
            (kind::SACK_PERMITTED, []) => parsed.sack_permitted = true,
            (kind::TIMESTAMP, body) if body.len() == 8 => {
                parsed.timestamp = Some((read_u32(body, 0), read_u32(body, 4)));
            }
            (kind::SACK, body)
                if !body.is_empty() && body.len() % 8 == 0 && body.len() <= 8 * MAX_SACK_BLOCKS =>
            {
                let mut sack = SackBlocks::default();
                for (slot, block) in sack.blocks.iter_mut().zip(body.chunks_exact(8)) {
                    *slot = (SeqNumber(read_u32(block, 0)), SeqNumber(read_u32(block, 4)));
                }
                sack.len = (body.len() / 8) as u8;
                parsed.sack = Some(sack);
            }
            (
                kind::MSS
                | kind::WINDOW_SCALE
                | kind::SACK_PERMITTED
                | kind::TIMESTAMP
                | kind::SACK,
                _,
            ) => return Err(WireError::Malformed),
            _ => {}
        }
        rest = after;
    }
    Ok(parsed)
}

/// Composes the options of a segment into a caller's buffer (at most
/// [`MAX_OPTIONS_LEN`] bytes of it are used).
///
/// Each method appends its option in the word-aligned form Linux sends (the
/// layouts of RFC 7323 Appendix A): NOP padding in front, so the option
/// list always ends on a 32-bit boundary and needs no trailing padding. An
/// option that does not fit is left out whole; SACK keeps the blocks that fit.
///
/// ```text
/// mss             02 04 mss                            4 bytes
/// window_scale    01 03 03 shift                       4
/// sack_permitted  01 01 04 02                          4
///   + timestamp   04 02 08 0a TSval TSecr              12 (SACK permitted takes the NOPs' place)
/// timestamp       01 01 08 0a TSval TSecr              12
/// sack            01 01 05 len (left right) × n        4 + 8n
/// ```
/// A SYN with MSS, SACK permitted, timestamps and window scale takes 20 bytes.
#[derive(Debug)]
pub struct OptionWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
    /// The last option written is SACK permitted, in its NOP NOP form.
    ends_with_sack_permitted: bool,
}

impl<'a> OptionWriter<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        OptionWriter {
            buf,
            len: 0,
            ends_with_sack_permitted: false,
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes still free for options.
    pub fn remaining(&self) -> usize {
        self.buf.len().min(MAX_OPTIONS_LEN).saturating_sub(self.len)
    }

    /// Appends `bytes` whole, or nothing when they do not fit.
    fn push(&mut self, bytes: &[u8]) -> bool {
        if bytes.len() > self.remaining() {
            return false;
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
        self.ends_with_sack_permitted = false;
        true
    }

    /// Maximum segment size (RFC 9293 §3.7.1).
    pub fn mss(&mut self, mss: u16) -> &mut Self {
        let [hi, lo] = mss.to_be_bytes();
        self.push(&[kind::MSS, 4, hi, lo]);
        self
    }

    /// Window scale (RFC 7323 §2.2), a shift of at most 14 (larger ones are
    /// sent as 14, RFC 7323 §2.3).
    pub fn window_scale(&mut self, shift: u8) -> &mut Self {
        let shift = shift.min(MAX_WINDOW_SCALE);
        self.push(&[kind::NOP, kind::WINDOW_SCALE, 3, shift]);
        self
    }

    /// SACK permitted (RFC 2018 §2).
    pub fn sack_permitted(&mut self) -> &mut Self {
        if self.push(&[kind::NOP, kind::NOP, kind::SACK_PERMITTED, 2]) {
            self.ends_with_sack_permitted = true;
        }
        self
    }

    /// Timestamps (RFC 7323 §3.2). Right after `sack_permitted` the two
    /// share one 12-byte block, SACK permitted in the NOPs' place.
    pub fn timestamp(&mut self, tsval: u32, tsecr: u32) -> &mut Self {
        let mut option = [0; 12];
        option[..4].copy_from_slice(&[kind::NOP, kind::NOP, kind::TIMESTAMP, 10]);
        write_u32(&mut option, 4, tsval);
        write_u32(&mut option, 8, tsecr);
        // Merging needs 8 bytes more than the SACK permitted block it replaces.
        if self.ends_with_sack_permitted && self.remaining() >= 8 {
            self.len -= 4;
            option[..2].copy_from_slice(&[kind::SACK_PERMITTED, 2]);
        }
        self.push(&option);
        self
    }

    /// A SACK option with the first `blocks` that fit (at most 4; 3 next to
    /// timestamps), so the most important block goes first (RFC 2018 §4: the
    /// one holding the most recently received segment).
    pub fn sack(&mut self, blocks: &[(SeqNumber, SeqNumber)]) -> &mut Self {
        let count = blocks
            .len()
            .min(MAX_SACK_BLOCKS)
            .min(self.remaining().saturating_sub(4) / 8);
        if count == 0 {
            return self;
        }
        self.push(&[kind::NOP, kind::NOP, kind::SACK, 2 + 8 * count as u8]);
        for &(left, right) in &blocks[..count] {
            let mut block = [0; 8];
            write_u32(&mut block, 0, left.0);
            write_u32(&mut block, 4, right.0);
            self.push(&block);
        }
        self
    }

    /// The length of the option list, a multiple of 4: the `options_len` of
    /// [`TcpPacket::write_header`](crate::wire::tcp::TcpPacket::write_header).
    pub fn finish(&mut self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::Rng;
    use crate::wire::captures::TCP_SACK;
    use crate::wire::tcp::TcpPacket;

    #[test]
    fn parse_options_rejects_illegal_lengths() {
        let malformed: [&[u8]; 17] = [
            &[2],                                                  // kind without a length
            &[1, 1, 8],                                            // the same after NOPs
            &[30, 0],                     // length 0 (RFC 9293 MUST-7's example)
            &[30, 1],                     // length 1 covers not even itself
            &[30, 5, 0, 0],               // runs past the end
            &[2, 3, 5],                   // MSS of length 3
            &[2, 5, 5, 0xb4, 0],          // MSS of length 5
            &[3, 2],                      // window scale of length 2
            &[3, 4, 7, 0],                // window scale of length 4
            &[4, 3, 0],                   // SACK permitted of length 3
            &[8, 8, 0, 0, 0, 0, 0, 0],    // timestamps of length 8
            &[5, 2],                      // SACK without blocks
            &[5, 9, 0, 0, 0, 0, 0, 0, 0], // SACK of less than a block
            &[5, 18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // 2 blocks, 1 byte short
            &[1, 1, 5, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // 1.25 blocks
            &[0x22, 2, 2, 4, 5],          // MSS cut by the end after a valid unknown option
            &[2, 4, 5, 0xb4, 30],         // trailing kind without a length
        ];
        for options in malformed {
            assert_eq!(
                parse_options(options),
                Err(WireError::Malformed),
                "{options:?}"
            );
        }
        // Five SACK blocks exceed the option's maximum of four.
        let mut five = [0u8; 42];
        five[..2].copy_from_slice(&[5, 42]);
        assert_eq!(parse_options(&five), Err(WireError::Malformed));
    }

    #[test]
    fn parse_options_skips_unknown_kinds_and_stops_at_end() {
        // TFO cookie (34, RFC 7413) and an MPTCP-sized option (30) are skipped;
        // garbage after End of Option List is padding.
        let options = [
            34, 6, 0xaa, 0xbb, 0xcc, 0xdd, 30, 2, 2, 4, 0x05, 0xb4, 1, 3, 3, 15, 0, 0xff, 0x00,
        ];
        let parsed = parse_options(&options).unwrap();
        assert_eq!(parsed.mss, Some(1460));
        // A shift above 14 is used as 14 (RFC 7323 §2.3).
        assert_eq!(parsed.window_scale, Some(14));
        assert_eq!(parse_options(&[0, 2, 1]), Ok(SegmentOptions::default()));
        assert_eq!(parse_options(&[1; 40]), Ok(SegmentOptions::default()));
        assert_eq!(parse_options(&[]), Ok(SegmentOptions::default()));
        // A repeated option counts as its last copy.
        let parsed = parse_options(&[2, 4, 0, 1, 2, 4, 0, 2]).unwrap();
        assert_eq!(parsed.mss, Some(2));
        // Four SACK blocks fill a header without timestamps.
        let mut four = [0u8; 36];
        four[..4].copy_from_slice(&[1, 1, 5, 34]);
        for (i, byte) in four[4..].iter_mut().enumerate() {
            *byte = i as u8;
        }
        let parsed = parse_options(&four).unwrap();
        assert_eq!(parsed.sack_ranges().len(), 4);
        assert_eq!(
            parsed.sack_ranges()[3],
            (SeqNumber(0x1819_1a1b), SeqNumber(0x1c1d_1e1f))
        );
    }

    #[test]
    fn option_writer_forms_and_limits() {
        let mut buf = [0u8; 64];
        let mut w = OptionWriter::new(&mut buf);
        assert!(w.is_empty());
        w.sack_permitted();
        assert_eq!(w.finish(), 4);
        assert_eq!(buf[..4], [1, 1, 4, 2]);

        let mut w = OptionWriter::new(&mut buf);
        w.timestamp(1, 2).sack_permitted().window_scale(200);
        assert_eq!(w.finish(), 20);
        assert_eq!(
            buf[..20],
            [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 4, 2, 1, 3, 3, 14]
        );

        // Alone, four SACK blocks fit; next to timestamps, three; the rest
        // are left out, first block first.
        let blocks: [(SeqNumber, SeqNumber); 5] =
            core::array::from_fn(|i| (SeqNumber(i as u32 * 10), SeqNumber(i as u32 * 10 + 5)));
        let mut w = OptionWriter::new(&mut buf);
        w.sack(&blocks);
        assert_eq!((w.finish(), w.remaining()), (36, 4));
        assert_eq!(
            parse_options(&buf[..36]).unwrap().sack_ranges(),
            &blocks[..4]
        );
        let mut w = OptionWriter::new(&mut buf);
        w.timestamp(7, 8).sack(&blocks);
        assert_eq!(w.finish(), 40);
        let parsed = parse_options(&buf[..40]).unwrap();
        assert_eq!(
            (parsed.timestamp, parsed.sack_ranges()),
            (Some((7, 8)), &blocks[..3])
        );
        let mut w = OptionWriter::new(&mut buf);
        w.sack(&[]);
        assert!(w.is_empty());

        // A short buffer takes only what fits, whole options only.
        let mut small = [0u8; 14];
        let mut w = OptionWriter::new(&mut small);
        w.mss(536).timestamp(1, 1).sack_permitted().window_scale(2);
        assert_eq!(w.finish(), 12);
        assert_eq!(small[..12], [2, 4, 2, 24, 1, 1, 4, 2, 1, 3, 3, 2]);
        // ... and SACK permitted keeps its NOPs when the merge does not fit.
        let mut small = [0u8; 11];
        let mut w = OptionWriter::new(&mut small);
        w.mss(536).sack_permitted().timestamp(1, 1);
        assert_eq!(w.finish(), 8);
        assert_eq!(small[4..8], [1, 1, 4, 2]);
        let mut none = [0u8; 3];
        assert_eq!(
            OptionWriter::new(&mut none).mss(1).sack(&blocks).finish(),
            0
        );
    }

    #[test]
    fn written_options_parse_back() {
        let mut rng = Rng::new(7323);
        let mut buf = [0u8; MAX_OPTIONS_LEN];
        for _ in 0..5000 {
            let mut expected = SegmentOptions::default();
            let mut w = OptionWriter::new(&mut buf);
            if rng.chance(500_000) {
                let mss = rng.next_u32() as u16;
                w.mss(mss);
                expected.mss = Some(mss);
            }
            if rng.chance(500_000) {
                w.sack_permitted();
                expected.sack_permitted = true;
            }
            if rng.chance(500_000) {
                let ts = (rng.next_u32(), rng.next_u32());
                w.timestamp(ts.0, ts.1);
                expected.timestamp = Some(ts);
            }
            if rng.chance(300_000) {
                let shift = rng.below(20) as u8;
                w.window_scale(shift);
                expected.window_scale = Some(shift.min(14));
            }
            let room = (w.remaining().saturating_sub(4) / 8).min(4);
            let blocks: [(SeqNumber, SeqNumber); 4] =
                core::array::from_fn(|_| (SeqNumber(rng.next_u32()), SeqNumber(rng.next_u32())));
            let count = rng.below(5) as usize;
            w.sack(&blocks[..count]);
            let kept = &blocks[..count.min(room)];
            expected.sack = (!kept.is_empty()).then(|| SackBlocks::new(kept));
            let len = w.finish();
            assert_eq!(len % 4, 0);
            assert_eq!(parse_options(&buf[..len]), Ok(expected));
        }
    }

    #[test]
    fn random_option_bytes_never_panic() {
        // Random bytes, and random corruptions of a real option list.
        let mut rng = Rng::new(2018);
        let mut buf = [0u8; MAX_OPTIONS_LEN];
        let (mut accepted, mut rejected) = (0, 0);
        for round in 0..20_000 {
            let len = rng.below(MAX_OPTIONS_LEN as u32 + 1) as usize;
            if round % 2 == 0 {
                rng.fill(&mut buf[..len]);
            } else {
                let real = TcpPacket::new_unchecked(&TCP_SACK[34..]);
                buf.copy_from_slice(real.options());
                let at = rng.below(MAX_OPTIONS_LEN as u32) as usize;
                buf[at] = rng.below(12) as u8;
            }
            match parse_options(&buf[..len]) {
                Ok(parsed) => {
                    accepted += 1;
                    assert!(parsed.sack_ranges().len() <= MAX_SACK_BLOCKS);
                    assert!(parsed.window_scale.is_none_or(|s| s <= MAX_WINDOW_SCALE));
                }
                Err(err) => {
                    rejected += 1;
                    assert_eq!(err, WireError::Malformed);
                }
            }
        }
        assert!(
            accepted >= 1000 && rejected >= 1000,
            "{accepted} / {rejected}"
        );
    }
}
