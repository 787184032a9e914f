//! Sequence numbers as the connection compares them (RFC 9293 §3.4).
//!
//! [`SeqNumber`] itself lives with the segment format in `wire::tcp`; this
//! module adds the window tests the state machine asks on every segment.

pub use crate::wire::tcp::SeqNumber;

/// True when `seq` lies in the `len` numbers starting at `start`:
/// `start =< seq < start + len`, modulo 2^32. An empty window holds nothing.
pub fn in_window(seq: SeqNumber, start: SeqNumber, len: u32) -> bool {
    seq.0.wrapping_sub(start.0) < len
}

/// The acceptability test of an arriving segment (RFC 9293 §3.10.7.4, "first,
/// check sequence number"): does any of SEG.SEQ .. SEG.SEQ + SEG.LEN − 1 fall
/// in the receive window?
///
/// | SEG.LEN | RCV.WND | acceptable when                                     |
/// |---------|---------|-----------------------------------------------------|
/// | 0       | 0       | SEG.SEQ = RCV.NXT                                   |
/// | 0       | > 0     | RCV.NXT =< SEG.SEQ < RCV.NXT + RCV.WND              |
/// | > 0     | 0       | never                                               |
/// | > 0     | > 0     | the first or the last sequence number is in window  |
///
/// A segment refused here is still examined for ACK and RST by the caller
/// when the window is zero (the RFC's "special allowance").
pub fn segment_acceptable(
    seg_seq: SeqNumber,
    seg_len: u32,
    rcv_nxt: SeqNumber,
    rcv_wnd: u32,
) -> bool {
    match (seg_len, rcv_wnd) {
        (0, 0) => seg_seq == rcv_nxt,
        (0, _) => in_window(seg_seq, rcv_nxt, rcv_wnd),
        (_, 0) => false,
        (_, _) => {
            in_window(seg_seq, rcv_nxt, rcv_wnd)
                || in_window(seg_seq + (seg_len - 1), rcv_nxt, rcv_wnd)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_window_wraps_around_zero() {
        let start = SeqNumber(u32::MAX - 9);
        assert!(in_window(start, start, 20));
        assert!(in_window(SeqNumber(u32::MAX), start, 20));
        assert!(in_window(SeqNumber(9), start, 20));
        assert!(!in_window(SeqNumber(10), start, 20));
        assert!(!in_window(start - 1, start, 20));
        assert!(!in_window(start, start, 0));
    }

    #[test]
    fn segment_acceptability_follows_the_four_cases() {
        let nxt = SeqNumber(u32::MAX - 99);
        // Zero length, zero window: only exactly RCV.NXT.
        assert!(segment_acceptable(nxt, 0, nxt, 0));
        assert!(!segment_acceptable(nxt + 1, 0, nxt, 0));
        // Zero length, open window: anywhere inside.
        assert!(segment_acceptable(nxt + 199, 0, nxt, 200));
        assert!(!segment_acceptable(nxt + 200, 0, nxt, 200));
        assert!(!segment_acceptable(nxt - 1, 0, nxt, 200));
        // Data into a zero window: never.
        assert!(!segment_acceptable(nxt, 1, nxt, 0));
        // Data: the first or the last byte in the window.
        assert!(segment_acceptable(nxt + 150, 100, nxt, 200));
        assert!(segment_acceptable(nxt - 50, 100, nxt, 200)); // old bytes, new tail
        assert!(!segment_acceptable(nxt - 100, 100, nxt, 200)); // all old
        assert!(!segment_acceptable(nxt + 200, 1, nxt, 200)); // beyond
        // A SYN or FIN occupies one sequence number like a data byte.
        assert!(segment_acceptable(nxt + 199, 1, nxt, 200));
    }
}
