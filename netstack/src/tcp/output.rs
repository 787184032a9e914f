//! Segment departure: deciding what to send next (RFC 9293 §3.8.6 window
//! management, Nagle, RFC 5681/6675 congestion and loss recovery, RFC 9293
//! §3.8.6.1 zero-window probes) and writing it into a packet.
//!
//! The stack asks `next_segment` until it returns `None`; each answer is a
//! small description, written by `write_segment` straight from the send ring
//! into the outgoing packet, then confirmed with `segment_sent`.

use crate::copy::copy_short_words;
use crate::tcp::ring::Ring;
use crate::tcp::seq::SeqNumber;
use crate::tcp::socket::{Flags, Stamp, TcpSocket, TcpState};
use crate::time::Instant;
use crate::wire::tcp::{MAX_OPTIONS_LEN, OptionWriter, TcpFlags, TcpPacket};

/// A segment the socket wants sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutSegment {
    pub seq: SeqNumber,
    pub ack: SeqNumber,
    pub flags: TcpFlags,
    pub window: u16,
    /// Where the payload starts in the send ring, and its length.
    pub payload_offset: u32,
    pub payload_len: u32,
    /// Carry the SYN options (MSS, window scale, SACK-permitted).
    pub syn_options: bool,
    /// (TSval, TSecr) when timestamps are on.
    pub timestamp: Option<(u32, u32)>,
    /// Carry SACK blocks for the data we hold out of order.
    pub sack: bool,
}

impl OutSegment {
    /// The sequence space it occupies (payload, SYN, FIN).
    pub fn seq_len(&self) -> u32 {
        self.payload_len
            + u32::from(self.flags.contains(TcpFlags::SYN))
            + u32::from(self.flags.contains(TcpFlags::FIN))
    }
}

/// Bytes of options in a data segment with timestamps (NOP NOP TS).
const TIMESTAMP_OPTION_LEN: u32 = 12;

impl TcpSocket {
    /// The next segment to send at `now`, if any. `mss` is the largest
    /// payload the route carries (interface MTU less IP and TCP headers).
    pub(crate) fn next_segment(&mut self, now: Instant, mss: u16) -> Option<OutSegment> {
        if self.flags.has(Flags::RST_QUEUED) {
            let ack = self.state.is_synchronized() || self.state == TcpState::SynReceived;
            let flags = if ack {
                TcpFlags::RST | TcpFlags::ACK
            } else {
                TcpFlags::RST
            };
            // Like a pure ACK, at SND.MAX (see `pure_ack_if_due`).
            return Some(self.segment(self.snd_max, flags, 0, 0));
        }
        match self.state {
            TcpState::Closed | TcpState::Listen => None,
            TcpState::SynSent | TcpState::SynReceived if self.snd_nxt == self.snd_una => {
                let flags = if self.state == TcpState::SynSent {
                    TcpFlags::SYN
                } else {
                    TcpFlags::SYN | TcpFlags::ACK
                };
                let mut seg = self.segment(self.snd_una, flags, 0, 0);
                seg.syn_options = true;
                seg.sack = false;
                Some(seg)
            }
            TcpState::SynSent => None,
            TcpState::SynReceived | TcpState::TimeWait => self.pure_ack_if_due(),
            _ => self
                .next_data_segment(now, mss)
                .or_else(|| self.keepalive_probe())
                .or_else(|| self.pure_ack_if_due()),
        }
    }

    /// Largest payload per segment: the peer's MSS and the route's, less the
    /// options every segment carries (RFC 9293 §3.7.1 "effective send MSS").
    pub(crate) fn effective_mss(&self, route_mss: u16) -> u32 {
        let timestamps = self.flags.has(Flags::TIMESTAMPS);
        let mut options = if timestamps { TIMESTAMP_OPTION_LEN } else { 0 };
        if self.flags.has(Flags::SACK) && !self.assembler.is_empty() {
            // The SACK blocks this segment will carry (`write_options`) come
            // out of the payload too, or the datagram outgrows the MTU.
            let blocks = self
                .assembler
                .range_count()
                .min(if timestamps { 3 } else { 4 });
            options += 4 + 8 * blocks as u32;
        }
        u32::from(self.snd_mss.min(route_mss))
            .saturating_sub(options)
            .max(1)
    }

    /// Bytes in flight as RFC 6675 §4 "pipe" counts them: sent, not
    /// acknowledged, not SACKed, and not deemed lost unless resent.
    pub(crate) fn pipe(&self) -> u32 {
        let outstanding = (self.snd_max - self.snd_una).max(0) as u32;
        if !self.flags.has(Flags::RECOVERY) {
            return outstanding.saturating_sub(self.scoreboard.sacked_bytes());
        }
        if !self.flags.has(Flags::SACK) {
            // Without SACK each duplicate ACK means a segment left the network.
            let left = u32::from(self.dup_acks) * u32::from(self.snd_mss);
            return outstanding.saturating_sub(left);
        }
        let lost_not_resent = match self.scoreboard.highest_sacked() {
            Some(highest) if self.rexmit_nxt < highest => {
                let span = (highest - self.rexmit_nxt) as u32;
                span.saturating_sub(self.scoreboard.sacked_above(self.rexmit_nxt))
            }
            _ => 0,
        };
        outstanding
            .saturating_sub(self.scoreboard.sacked_bytes())
            .saturating_sub(lost_not_resent)
    }

    fn next_data_segment(&mut self, now: Instant, route_mss: u16) -> Option<OutSegment> {
        let mss = self.effective_mss(route_mss);
        let queued = self.tx_queued();
        let cwnd = self.congestion.window();

        // A tail loss probe (RFC 8985 §7.3): one segment beyond the
        // congestion window, new data if the peer's window takes it, else the
        // last segment again; its ACK shows what the tail lost.
        if self.flags.has(Flags::PROBE_DUE) {
            self.flags.set(Flags::PROBE_DUE, false);
            let available = queued.saturating_sub(self.send_offset(self.snd_max));
            let window_room = ((self.snd_una + self.snd_wnd) - self.snd_max).max(0) as u32;
            if self.snd_nxt == self.snd_max && available > 0 && window_room > 0 {
                let len = available.min(window_room).min(mss);
                return Some(self.data_segment(self.snd_max, len, false));
            }
            let outstanding = (self.snd_max - self.snd_una).max(0) as u32;
            if outstanding > 0 && !self.fin_sent() {
                let len = outstanding.min(mss);
                return Some(self.data_segment(self.snd_max - len, len, false));
            }
        }

        // Loss recovery first: holes the SACK scoreboard shows, or the head
        // of the queue without SACK (RFC 6675 §5 NextSeg, RFC 6582 §3.2).
        // The head's retransmission goes whatever the pipe: it is the fast
        // retransmit itself (RFC 5681 §3.2 step 3, RFC 6675 §5 step 4.3),
        // or a partial ACK's (RFC 6582 §3.2 step 5).
        let head = self.flags.has(Flags::RETRANSMIT_HEAD);
        if self.flags.has(Flags::RECOVERY) && (head || self.pipe() < cwnd) {
            if head {
                let mut len = ((self.snd_max - self.snd_una) as u32).min(mss).min(queued);
                if let Some((start, end)) = self.scoreboard.next_hole(self.snd_una) {
                    // With SACK, only the hole: what follows it arrived.
                    if start == self.snd_una {
                        len = len.min((end - start) as u32);
                    }
                }
                if len > 0 {
                    return Some(self.data_segment(self.snd_una, len, false));
                }
            } else if let Some((start, end)) =
                self.scoreboard.next_hole(self.rexmit_nxt.max(self.snd_una))
            {
                let len = ((end - start) as u32).min(mss);
                let offset = self.send_offset(start);
                let len = len.min(queued.saturating_sub(offset));
                if len > 0 {
                    return Some(self.data_segment(start, len, false));
                }
            }
        }

        // New data (or data being resent after a timeout, snd_nxt < snd_max).
        let offset = self.send_offset(self.snd_nxt);
        let available = queued.saturating_sub(offset);
        let window_right = self.snd_una + self.snd_wnd;
        let window_room = (window_right - self.snd_nxt).max(0) as u32;
        let congestion_room = if self.flags.has(Flags::RECOVERY) {
            cwnd.saturating_sub(self.pipe())
        } else {
            // Limited Transmit (RFC 3042, RFC 5681 §3.2 step 1): the first
            // two duplicate ACKs each let one more segment of new data out,
            // so a small window still draws the duplicates loss detection
            // needs instead of waiting for the retransmission timer.
            let limited = u32::from(self.dup_acks.min(2)) * mss;
            let in_flight = (self.snd_nxt - self.snd_una).max(0) as u32;
            (cwnd + limited).saturating_sub(in_flight)
        };
        let len = available.min(window_room).min(congestion_room).min(mss);

        // Zero window (RFC 9293 §3.8.6.1): one byte when the persist timer
        // says so; the same byte again when the last probe went unanswered.
        if self.snd_wnd == 0 && available > 0 {
            if self.flags.has(Flags::WINDOW_PROBE) {
                self.flags.set(Flags::WINDOW_PROBE, false);
                return Some(self.data_segment(self.snd_nxt, 1, false));
            }
            if !self.rto_at.is_set() {
                self.rto_at = Stamp::at(now + self.rtt.rto());
            }
            return None;
        }

        let fin_pending = self.flags.has(Flags::FIN_QUEUED)
            && matches!(
                self.state,
                TcpState::Established
                    | TcpState::CloseWait
                    | TcpState::FinWait1
                    | TcpState::Closing
                    | TcpState::LastAck
            )
            && self.snd_nxt <= self.fin_seq();
        let carries_fin = fin_pending && self.snd_nxt + len == self.fin_seq();

        if len > 0 {
            // Sender silly-window avoidance and Nagle (RFC 9293 §3.8.6.2.1,
            // §3.7.4): a short segment only when it empties the queue and
            // nothing is in flight (or Nagle is off), or when it is resent,
            // or when it fills half the largest window the peer offered (a
            // receiver whose window is below one MSS would get nothing).
            let resend = self.snd_nxt < self.snd_max;
            let empties_queue = len == available;
            let idle = self.snd_nxt == self.snd_una;
            let small_ok =
                empties_queue && (idle || self.flags.has(Flags::NO_DELAY) || carries_fin);
            // Data resent after a timeout goes out in whatever size it has,
            // but not as the sliver the congestion window leaves after a
            // segment that SACK blocks made shorter than SMSS: the ACK for
            // what is in flight opens room for a whole segment.
            let congestion_sliver =
                !idle && len == congestion_room && len < available.min(window_room);
            let half_max_window = len >= self.max_snd_wnd() / 2;
            // The override timer (RFC 1122 §4.2.3.4): when nothing is in
            // flight, no ACK will come to open the window further; the
            // persist timer's expiry sends what fits.
            let forced = self.flags.has(Flags::WINDOW_PROBE);
            if len < mss
                && !small_ok
                && (!resend || congestion_sliver)
                && !forced
                && !half_max_window
            {
                if idle && !self.rto_at.is_set() {
                    self.rto_at = Stamp::at(now + self.rtt.rto());
                }
                return None;
            }
            self.flags.set(Flags::WINDOW_PROBE, false);
            let mut seg = self.data_segment(self.snd_nxt, len, carries_fin);
            if empties_queue {
                seg.flags |= TcpFlags::PSH;
            }
            return Some(seg);
        }
        if carries_fin {
            return Some(self.data_segment(self.snd_nxt, 0, true));
        }
        None
    }

    fn data_segment(&self, seq: SeqNumber, len: u32, fin: bool) -> OutSegment {
        let mut flags = TcpFlags::ACK;
        if fin {
            flags |= TcpFlags::FIN;
        }
        let offset = self.send_offset(seq);
        self.segment(seq, flags, offset, len)
    }

    fn segment(
        &self,
        seq: SeqNumber,
        flags: TcpFlags,
        payload_offset: u32,
        payload_len: u32,
    ) -> OutSegment {
        let ack_field = if flags.contains(TcpFlags::ACK) {
            self.rcv_nxt
        } else {
            SeqNumber(0)
        };
        OutSegment {
            seq,
            ack: ack_field,
            flags,
            window: self.window_field(flags.contains(TcpFlags::SYN)),
            payload_offset,
            payload_len,
            syn_options: false,
            timestamp: None,
            sack: self.flags.has(Flags::SACK) && !self.assembler.is_empty(),
        }
    }

    /// An ACK with no data, if one is owed: ACK_NOW, or the receive window
    /// opened enough to be worth announcing (RFC 9293 §3.8.6.2.2).
    fn pure_ack_if_due(&mut self) -> Option<OutSegment> {
        if !self.flags.has(Flags::ACK_NOW) && !self.window_update_due() {
            return None;
        }
        // SEQ = SND.MAX, not SND.NXT: after a retransmission timeout SND.NXT
        // is back at SND.UNA, and an ACK from there lies left of the peer's
        // window when the peer got the data whose ACKs were lost. The peer
        // would drop it unread (RFC 9293 §3.10.7.4 "first") and answer with
        // an ACK of its own that we drop the same way: the ACKs that would
        // end the timeout never get through (BSD sends SND.MAX for this).
        Some(self.segment(self.snd_max, TcpFlags::ACK, 0, 0))
    }

    /// Receiver silly-window avoidance: announce a larger window once it grew
    /// by min(half the buffer, one MSS).
    fn window_update_due(&self) -> bool {
        if !self.state.is_synchronized()
            || matches!(self.state, TcpState::CloseWait | TcpState::LastAck)
        {
            return false;
        }
        // Only what the window field can say counts: a ring larger than
        // 65,535 << scale never looks fuller than that.
        let free = self.buffers.rx_len - self.rx_queued();
        let sayable = free.min(0xffff << self.wscale.receive());
        let right_edge = self.rcv_nxt + sayable;
        let growth = (right_edge - self.rcv_adv).max(0) as u32;
        growth
            >= (self.buffers.rx_len / 2)
                .min(u32::from(self.snd_mss))
                .max(1)
    }

    /// A keepalive probe (RFC 9293 §3.8.4): SEG.SEQ = SND.NXT − 1, no data,
    /// so the peer must answer with an ACK.
    fn keepalive_probe(&mut self) -> Option<OutSegment> {
        if !self.flags.has(Flags::KEEPALIVE_PROBE) {
            return None;
        }
        self.flags.set(Flags::KEEPALIVE_PROBE, false);
        Some(self.segment(self.snd_una - 1, TcpFlags::ACK, 0, 0))
    }

    /// Completes `seg` with the options known only at sending time.
    pub(crate) fn finalize_segment(&self, seg: &mut OutSegment, now: Instant) {
        if self.flags.has(Flags::TIMESTAMPS) {
            let echo = if seg.flags.contains(TcpFlags::ACK) {
                self.ts_recent()
            } else {
                0
            };
            seg.timestamp = Some((self.ts_now(now), echo));
        }
    }

    /// Writes the options of `seg` into `buffer`; returns their length.
    pub(crate) fn write_options(
        &self,
        seg: &OutSegment,
        mss: u16,
        buffer: &mut [u8; MAX_OPTIONS_LEN],
    ) -> usize {
        let mut writer = OptionWriter::new(&mut buffer[..]);
        if seg.syn_options {
            writer.mss(mss);
            // Before the peer's SYN these flags say what we offer; after it,
            // what was agreed (a SYN-ACK repeats only agreed options).
            if self.flags.has(Flags::SACK) {
                writer.sack_permitted();
            }
            if let Some((tsval, tsecr)) = seg.timestamp {
                writer.timestamp(tsval, tsecr);
            }
            if self.flags.has(Flags::WINDOW_SCALE) {
                writer.window_scale(self.wscale.receive());
            }
        } else {
            if let Some((tsval, tsecr)) = seg.timestamp {
                writer.timestamp(tsval, tsecr);
            }
            if seg.sack {
                let mut blocks = [(SeqNumber(0), SeqNumber(0)); 4];
                // Room left: 40 bytes of options, less timestamps, less 4 for the SACK header.
                let room = if seg.timestamp.is_some() { 3 } else { 4 };
                let mut count = 0;
                for (start, end) in self.assembler.ranges().take(room) {
                    blocks[count] = (self.rcv_nxt + start, self.rcv_nxt + end);
                    count += 1;
                }
                if count > 0 {
                    writer.sack(&blocks[..count]);
                }
            }
        }
        writer.finish()
    }

    /// Writes the whole segment into `out` (which is exactly header +
    /// options + payload long) from the send ring in `tx_storage`.
    /// Returns the payload's [`checksum::native_sum`](crate::wire::checksum::native_sum),
    /// computed while copying it (0 without payload).
    pub(crate) fn write_segment(
        &self,
        seg: &OutSegment,
        options: &[u8],
        tx_storage: &mut [u8],
        out: &mut [u8],
    ) -> u64 {
        let mut packet = TcpPacket::new_unchecked(&mut out[..]);
        packet.write_header(
            self.local_port,
            self.remote_port,
            seg.seq,
            seg.ack,
            seg.flags,
            seg.window,
            options.len(),
        );
        copy_short_words(packet.options_mut(), options);
        if seg.payload_len == 0 {
            return 0;
        }
        let mut state = self.tx;
        let ring = Ring::new(&mut state, tx_storage);
        ring.read_at_summing(seg.payload_offset as usize, packet.payload_mut())
            .1
    }

    /// Records that `seg` left: sequence variables, timers, Karn's rule.
    pub(crate) fn segment_sent(&mut self, now: Instant, seg: &OutSegment) {
        self.stats.segments_out = self.stats.segments_out.wrapping_add(1);
        if seg.flags.contains(TcpFlags::RST) {
            self.flags.set(Flags::RST_QUEUED, false);
            self.terminate(None);
            return;
        }
        if seg.flags.contains(TcpFlags::ACK) {
            self.flags.set(Flags::ACK_NOW, false);
            self.ack_at = Stamp::UNSET;
            self.unacked_segments = 0;
            let window = u32::from(seg.window)
                << if seg.flags.contains(TcpFlags::SYN) {
                    0
                } else {
                    self.wscale.receive()
                };
            self.rcv_adv = self.rcv_adv.max(self.rcv_nxt + window);
        }
        let len = seg.seq_len();
        if len == 0 {
            return;
        }
        let end = seg.seq + len;
        let retransmission = seg.seq < self.snd_max;
        if retransmission {
            self.stats.retransmissions = self.stats.retransmissions.wrapping_add(1);
            if self
                .timed_segment()
                .is_some_and(|(timed, _)| timed >= seg.seq)
            {
                self.stop_timing();
            }
        }
        if seg.seq == self.snd_nxt || (seg.seq < self.snd_nxt && end > self.snd_nxt) {
            self.snd_nxt = end;
        }
        if self.flags.has(Flags::RECOVERY) {
            if retransmission {
                self.rexmit_fence = self.snd_max;
            }
            self.rexmit_nxt = self.rexmit_nxt.max(end);
            if self.flags.has(Flags::RETRANSMIT_HEAD) && seg.seq == self.snd_una {
                self.flags.set(Flags::RETRANSMIT_HEAD, false);
            }
        }
        if end > self.snd_max {
            if !retransmission {
                self.time_segment(seg.seq, now);
            }
            self.snd_max = end;
        }
        // RFC 8985 §7.2: new data (re)starts the probe timer, once there is
        // a flight whose ACK a probe can draw, unless the RTO comes sooner.
        // The armed timer is read (a division of the clock) only when a
        // probe timer armed already does not decide it.
        if !self.rto_at.is_set() {
            self.arm_retransmission_timer(now);
        } else if !retransmission {
            if let Some(pto) = self.probe_timeout() {
                if self.flags.has(Flags::PTO_ARMED)
                    || self.rto_at.get(now).is_some_and(|at| now + pto < at)
                {
                    self.rto_at = Stamp::at(now + pto);
                    self.flags.set(Flags::PTO_ARMED, true);
                }
            }
        }
        if !self.unacked_since.is_set() {
            self.unacked_since = Stamp::at(now);
        }
        if seg.flags.contains(TcpFlags::FIN) {
            match self.state {
                TcpState::Established => self.set_state(TcpState::FinWait1),
                TcpState::CloseWait => self.set_state(TcpState::LastAck),
                _ => {}
            }
        }
    }
}
