//! Segment arrival (RFC 9293 §3.10.7), in the RFC's order: SYN-SENT first,
//! then for synchronized states the checks 1st–8th, with RFC 5961's
//! challenge ACKs, RFC 7323's PAWS and timestamps, RFC 2018/6675 SACK and
//! RFC 5681/6582 loss recovery.

use crate::endpoint::IpEndpoint;
use crate::tcp::seq::SeqNumber;
use crate::tcp::socket::{Flags, Stamp, TcpConfig, TcpError, TcpSocket, TcpState, WindowScales};
use crate::time::Instant;
use crate::wire::tcp::{SegmentOptions, TcpFlags};

/// Duplicate ACKs, or segments SACKed above a hole, that mean a loss
/// (RFC 5681 §3.2, RFC 6675 §2).
const DUP_THRESH: u32 = 3;

/// An arriving segment, validated and parsed once by the stack.
#[derive(Debug, Clone)]
pub(crate) struct Segment<'p> {
    pub src: IpEndpoint,
    pub dst: IpEndpoint,
    pub seq: SeqNumber,
    pub ack: SeqNumber,
    pub flags: TcpFlags,
    pub window: u16,
    /// Borrowed from where they were parsed: the options are the larger
    /// part of a segment (SACK blocks), and moving them in would copy
    /// them for every segment.
    pub options: &'p SegmentOptions,
    pub payload: &'p [u8],
    /// How many of the payload's first bytes are already in the receive
    /// ring's free space at RCV.NXT: put there while their checksum was
    /// summed (`Stack::place_in_order`), so `receive_text` need not copy
    /// them again.
    pub placed: usize,
}

impl Segment<'_> {
    /// SEG.LEN: payload plus one for each of SYN and FIN.
    pub fn len(&self) -> u32 {
        self.payload.len() as u32
            + u32::from(self.flags.contains(TcpFlags::SYN))
            + u32::from(self.flags.contains(TcpFlags::FIN))
    }

    fn has(&self, flag: TcpFlags) -> bool {
        self.flags.contains(flag)
    }
}

/// What the stack must do beyond the socket's own state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reaction {
    /// Nothing more (the socket may now want to send; the stack asks it).
    None,
    /// Answer with a reset: `<SEQ=seq><CTL=RST>` (RFC 9293 §3.10.7.3/4).
    Reset { seq: SeqNumber },
    /// RFC 5961 challenge ACK, subject to the stack-wide rate limit.
    ChallengeAck,
    /// The connection was a passive open and is gone: free the socket.
    Release,
}

/// Whether the segment carried news the stack counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InputEvents {
    pub rst_received: Option<RstOutcome>,
    pub paws_rejected: bool,
    pub out_of_window: bool,
    pub out_of_order: bool,
    pub recovery_entered: bool,
    /// The recovery entered is guided by the SACK scoreboard (RFC 6675).
    pub sack_recovery: bool,
}

/// What a received RST did: the reasons the stack counts RSTs by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RstOutcome {
    /// It refused a connection we opened (SYN-SENT, or SYN-RECEIVED after
    /// a simultaneous open).
    Refused,
    /// It ended a connection: synchronized, closing, or half-open in a
    /// listener's backlog.
    Ended,
    /// In the window but not at RCV.NXT: answered with a challenge ACK
    /// (RFC 5961 §3.2), the connection kept.
    Challenged,
    /// Outside the window: dropped.
    OutOfWindow,
}

impl TcpSocket {
    /// Processes one segment for this connection. `rx_storage` is the
    /// socket's receive ring memory.
    pub(crate) fn process_segment(
        &mut self,
        now: Instant,
        seg: &Segment<'_>,
        rx_storage: &mut [u8],
        config: &TcpConfig,
        events: &mut InputEvents,
    ) -> Reaction {
        self.stats.segments_in = self.stats.segments_in.wrapping_add(1);
        match self.state {
            TcpState::Closed | TcpState::Listen => Reaction::None,
            TcpState::SynSent => self.process_in_syn_sent(now, seg, config, events),
            _ => self.process_synchronized(now, seg, rx_storage, config, events),
        }
    }

    /// RFC 9293 §3.10.7.3.
    fn process_in_syn_sent(
        &mut self,
        now: Instant,
        seg: &Segment<'_>,
        config: &TcpConfig,
        events: &mut InputEvents,
    ) -> Reaction {
        let ack_acceptable =
            seg.has(TcpFlags::ACK) && self.snd_una < seg.ack && seg.ack <= self.snd_nxt;
        if seg.has(TcpFlags::ACK) && !ack_acceptable {
            return if seg.has(TcpFlags::RST) {
                Reaction::None
            } else {
                Reaction::Reset { seq: seg.ack }
            };
        }
        if seg.has(TcpFlags::RST) {
            if ack_acceptable {
                events.rst_received = Some(RstOutcome::Refused);
                self.terminate(Some(TcpError::ConnectionRefused));
            }
            return Reaction::None;
        }
        if !seg.has(TcpFlags::SYN) {
            return Reaction::None;
        }
        self.rcv_nxt = seg.seq + 1;
        self.rcv_adv = self.rcv_nxt;
        self.accept_syn_options(now, seg, config);
        if ack_acceptable {
            self.snd_una = seg.ack;
            self.update_send_window(seg);
            self.rtt_sample_on_ack(now, seg, config);
            if self.retransmits != 0 {
                self.rtt.after_handshake_timeout(&config.rto);
            }
            self.rto_at = Stamp::UNSET;
            self.retransmits = 0;
            self.unacked_since = Stamp::UNSET;
            self.set_state(TcpState::Established);
            self.arm_keepalive(now);
            self.flags.set(Flags::ACK_NOW, true);
        } else {
            // Simultaneous open (RFC 9293 §3.5, figure 8): answer SYN-ACK.
            self.set_state(TcpState::SynReceived);
            self.snd_nxt = self.snd_una;
            self.flags.set(Flags::ACK_NOW, true);
        }
        Reaction::None
    }

    /// Takes the peer's SYN options: MSS, window scale, SACK, timestamps
    /// are on only if both sides offered them.
    pub(crate) fn accept_syn_options(
        &mut self,
        now: Instant,
        seg: &Segment<'_>,
        config: &TcpConfig,
    ) {
        let options = seg.options;
        // RFC 9293 §3.7.1: without the option, 536 bytes (IPv4).
        let peer_mss = options.mss.unwrap_or(536);
        self.snd_mss = self.snd_mss.min(peer_mss).max(64);
        match (config.window_scaling, options.window_scale) {
            (true, Some(shift)) => {
                self.wscale.set_send(shift.min(14));
                self.flags.set(Flags::WINDOW_SCALE, true);
            }
            _ => {
                self.wscale = WindowScales::NONE;
            }
        }
        self.flags
            .set(Flags::SACK, config.sack && options.sack_permitted);
        // What we offered (or, passively, would accept) and what the peer sent.
        self.settle_rtt_source(options.timestamp.map(|(tsval, _)| tsval));
        // SMSS is the largest payload we send (RFC 5681 §2), after the
        // options every segment carries: a window of whole segments, so a
        // loss window after a timeout is one full segment and not a full
        // one plus a 12-byte runt.
        self.congestion.set_smss(self.effective_mss(self.snd_mss));
        // The window in a SYN is never scaled (RFC 7323 §2.2).
        self.snd_wnd = u32::from(seg.window);
        self.max_window_field = 0;
        self.note_max_send_window();
        self.snd_wl1 = seg.seq;
        let _ = now;
    }

    /// Sets up a passive connection from the ACK `seg` that returned a
    /// valid SYN cookie (`syn_cookie.rs`): our ISN was the cookie
    /// (SEG.ACK − 1) and the SYN-ACK carrying it has gone out, so the
    /// connection is in SYN-RECEIVED with SND.NXT = ISS + 1, and `seg`
    /// itself, processed next, completes the handshake as any ACK would.
    /// The cookie's SYN-ACK offered no window scaling, SACK or timestamps,
    /// so the connection has none; `mss` is what the cookie recorded of
    /// the peer's (no more than the route's). Call after `reset_for_open`.
    #[cfg(feature = "syn-cookies")]
    pub(crate) fn accept_cookie(&mut self, seg: &Segment<'_>, mss: u16) {
        let iss = seg.ack - 1;
        self.wscale = WindowScales::NONE;
        self.start_rtt_source(false, 0);
        self.snd_mss = mss;
        self.congestion.set_smss(self.effective_mss(mss));
        self.snd_una = iss;
        self.snd_nxt = iss + 1;
        self.snd_max = iss + 1;
        self.recover = iss;
        self.rcv_nxt = seg.seq;
        self.rcv_adv = seg.seq;
        self.state = TcpState::SynReceived;
    }

    /// RFC 9293 §3.10.7.4, for every state from SYN-RECEIVED on.
    fn process_synchronized(
        &mut self,
        now: Instant,
        seg: &Segment<'_>,
        rx_storage: &mut [u8],
        config: &TcpConfig,
        events: &mut InputEvents,
    ) -> Reaction {
        // PAWS (RFC 7323 §5.3): an old timestamp marks an old duplicate.
        let timestamps = self.flags.has(Flags::TIMESTAMPS);
        if let (true, Some((tsval, _))) = (timestamps, seg.options.timestamp) {
            if !seg.has(TcpFlags::RST) && (tsval.wrapping_sub(self.ts_recent()) as i32) < 0 {
                events.paws_rejected = true;
                self.flags.set(Flags::ACK_NOW, true);
                return Reaction::None;
            }
        }

        // The peer's SYN again in SYN-RECEIVED: our SYN-ACK was lost, send it
        // again. (The SYN lies just before RCV.NXT, so the acceptability
        // test would answer it with a bare ACK the peer in SYN-SENT drops.)
        if self.state == TcpState::SynReceived
            && seg.flags & (TcpFlags::SYN | TcpFlags::ACK | TcpFlags::RST) == TcpFlags::SYN
            && seg.seq + 1 == self.rcv_nxt
        {
            if let (true, Some((tsval, _))) = (timestamps, seg.options.timestamp) {
                self.set_ts_recent(tsval);
            }
            self.snd_nxt = self.snd_una;
            self.flags.set(Flags::ACK_NOW, true);
            return Reaction::None;
        }

        // First: sequence number acceptability (the four cases).
        if !self.segment_acceptable(seg) {
            events.out_of_window = true;
            if seg.has(TcpFlags::RST) {
                events.rst_received = Some(RstOutcome::OutOfWindow);
            } else {
                self.flags.set(Flags::ACK_NOW, true);
                // In TIME-WAIT the peer's FIN again means our last ACK was
                // lost: acknowledge it again and restart the 2 MSL timeout
                // (RFC 9293 §3.10.7.4 eighth; it is never "acceptable").
                if self.state == TcpState::TimeWait && seg.has(TcpFlags::FIN) {
                    self.enter_time_wait(now, config);
                }
            }
            return Reaction::None;
        }

        // Second: RST (RFC 5961 §3.2: exact match resets, in-window challenges).
        if seg.has(TcpFlags::RST) {
            if seg.seq != self.rcv_nxt {
                events.rst_received = Some(RstOutcome::Challenged);
                return Reaction::ChallengeAck;
            }
            events.rst_received = Some(RstOutcome::Ended);
            return match self.state {
                TcpState::SynReceived if self.flags.has(Flags::PASSIVE) => {
                    self.terminate(None);
                    Reaction::Release
                }
                TcpState::SynReceived => {
                    events.rst_received = Some(RstOutcome::Refused);
                    self.terminate(Some(TcpError::ConnectionRefused));
                    Reaction::None
                }
                TcpState::Closing | TcpState::LastAck | TcpState::TimeWait => {
                    self.terminate(None);
                    Reaction::None
                }
                _ => {
                    self.terminate(Some(TcpError::ConnectionReset));
                    Reaction::None
                }
            };
        }

        // Fourth: SYN in a synchronized state (RFC 5961 §4.2) is challenged.
        if seg.has(TcpFlags::SYN) {
            return Reaction::ChallengeAck;
        }

        // Fifth: no ACK, no business.
        if !seg.has(TcpFlags::ACK) {
            return Reaction::None;
        }

        // Timestamps: remember the peer's clock for the next echo (RFC 7323 §4.3).
        if let (true, Some((tsval, _))) = (timestamps, seg.options.timestamp) {
            if seg.seq <= self.rcv_nxt {
                self.set_ts_recent(tsval);
            }
        }

        // Our SYN is acknowledged by this segment: the connection is
        // established once the ACK has been processed (in SYN-RECEIVED until
        // then, so the acknowledged SYN is not taken for data).
        let establishes = self.state == TcpState::SynReceived;
        if establishes {
            if !(self.snd_una < seg.ack && seg.ack <= self.snd_max) {
                return Reaction::Reset { seq: seg.ack };
            }
            self.snd_wnd = u32::from(seg.window) << self.wscale.send();
            self.note_max_send_window();
            self.snd_wl1 = seg.seq;
        }

        // RFC 5961 §5.2: an ACK for data never sent, or far behind, is suspect.
        if seg.ack > self.snd_max {
            self.flags.set(Flags::ACK_NOW, true);
            return Reaction::None;
        }
        if (self.snd_una - seg.ack) > self.max_snd_wnd().max(1) as i32 {
            return Reaction::ChallengeAck;
        }

        self.keepalive_probes = 0;
        let syn_ack_timed_out = self.retransmits != 0;
        self.process_ack(now, seg, config, events);
        if establishes {
            if syn_ack_timed_out {
                self.rtt.after_handshake_timeout(&config.rto);
            }
            self.set_state(TcpState::Established);
        }
        self.arm_keepalive(now);

        // Sixth/seventh: the segment's text.
        if !seg.payload.is_empty() {
            match self.state {
                TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2 => {
                    self.receive_text(now, seg, rx_storage, config, events);
                }
                // Data after the peer's FIN is an error we ignore.
                _ => {}
            }
        }

        // Eighth: FIN, once everything before it has arrived.
        if seg.has(TcpFlags::FIN) {
            let fin_seq = seg.seq + seg.payload.len() as u32;
            if fin_seq == self.rcv_nxt {
                self.receive_fin(now, config);
            } else {
                self.flags.set(Flags::ACK_NOW, true);
            }
        }
        Reaction::None
    }

    /// RFC 9293 §3.10.7.4 "first": is any part of the segment in the window?
    fn segment_acceptable(&self, seg: &Segment<'_>) -> bool {
        crate::tcp::seq::segment_acceptable(seg.seq, seg.len(), self.rcv_nxt, self.receive_window())
    }

    /// The ACK field (RFC 9293 §3.10.7.4 "fifth"), with loss detection.
    fn process_ack(
        &mut self,
        now: Instant,
        seg: &Segment<'_>,
        config: &TcpConfig,
        events: &mut InputEvents,
    ) {
        let sack_update = match &seg.options.sack {
            Some(sack) if self.flags.has(Flags::SACK) => {
                self.scoreboard
                    .update(self.snd_una, self.snd_max, sack.ranges())
            }
            _ => Default::default(),
        };

        // A duplicate ACK (RFC 5681 §2): same ACK, no data, same window, data
        // outstanding. With SACK, also any ACK that SACKs data not SACKed
        // before, whatever its window, payload or cumulative ACK (RFC 6675
        // §2): a receiver that moves its window with every ACK, as Linux
        // does, sends no RFC 5681 duplicates at all. A D-SACK alone reports a
        // duplicate we sent, not a loss (RFC 2883).
        let plain_duplicate = seg.ack == self.snd_una
            && self.snd_max > self.snd_una
            && seg.payload.is_empty()
            && !seg.has(TcpFlags::SYN)
            && !seg.has(TcpFlags::FIN)
            && (u32::from(seg.window) << self.wscale.send()) == self.snd_wnd;
        let duplicate = if self.flags.has(Flags::SACK) {
            sack_update.newly_sacked > 0 || (plain_duplicate && !sack_update.dsack)
        } else {
            plain_duplicate
        };
        if seg.ack > self.snd_una {
            let acked = (seg.ack - self.snd_una) as u32;
            self.acknowledge(now, seg, acked, config);
        }
        if duplicate {
            self.dup_acks = self.dup_acks.saturating_add(1);
            // In recovery each further duplicate means a segment left the network.
            if !self.flags.has(Flags::RECOVERY) && self.loss_detected() {
                self.enter_recovery(now, events);
            }
        }

        if self.flags.has(Flags::RECOVERY) && self.retransmission_lost() {
            // Holes below HighRxt were resent and are still open: resend them
            // again now rather than after a retransmission timeout.
            self.rexmit_nxt = self.snd_una;
        }

        // Window update (RFC 9293 §3.10.7.4): from newer segments only, that
        // is SND.UNA =< SEG.ACK and (SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ
        // and SND.WL2 =< SEG.ACK)). SND.WL2 is not stored: every update takes
        // place at SEG.ACK = SND.UNA (SND.UNA has already moved up to SEG.ACK
        // here), so SND.WL2 =< SND.UNA always, and the last test follows from
        // the first, as in Linux's tcp_may_update_window.
        if self.snd_una <= seg.ack && self.snd_wl1 <= seg.seq {
            let window = u32::from(seg.window) << self.wscale.send();
            if window > self.snd_wnd {
                self.flags.set(Flags::WINDOW_PROBE, false);
                // A closed window reopens: what went into it beyond SEG.ACK
                // (the probes) the peer dropped; sending resumes at SND.UNA,
                // as after a timeout (RFC 6582 §4: no fast retransmit for
                // what went before, and recovery's pipe no longer applies).
                if self.snd_wnd == 0 && self.snd_nxt > self.snd_una {
                    self.snd_nxt = self.snd_una;
                    self.recover = self.snd_max;
                    self.flags
                        .set(Flags::RECOVERY | Flags::RETRANSMIT_HEAD, false);
                    self.dup_acks = 0;
                }
            }
            // MAX.SND.WND followed every earlier SND.WND: an unchanged
            // window (most segments) cannot raise it.
            if window != self.snd_wnd {
                self.snd_wnd = window;
                self.note_max_send_window();
            }
            self.snd_wl1 = seg.seq;
        }
        // A live peer answered: zero-window probing may go on indefinitely.
        if self.snd_wnd == 0 {
            self.retransmits = 0;
        }
    }

    /// RFC 6675 §4 "IsLost(SND.UNA)": more than (DupThresh - 1) * SMSS
    /// bytes SACKed above it; or three duplicate ACKs.
    fn loss_detected(&self) -> bool {
        self.dup_acks >= DUP_THRESH as u8
            || (self.flags.has(Flags::SACK)
                && self.scoreboard.sacked_above(self.snd_una)
                    > (DUP_THRESH - 1) * u32::from(self.snd_mss))
    }

    /// A retransmission of this recovery was lost. RFC 6675 leaves that to the
    /// retransmission timer, which on a fast path costs hundreds of RTTs; but
    /// once DupThresh segments sent after the latest retransmission have
    /// been SACKed, that retransmission (and every earlier one) had its
    /// chance to arrive, and a hole below HighRxt that is still open was lost
    /// again (the rule RFC 8985 RACK generalises with per-segment times).
    fn retransmission_lost(&self) -> bool {
        self.flags.has(Flags::SACK)
            && self.rexmit_fence > self.snd_una
            && self.scoreboard.sacked_above(self.rexmit_fence - 1)
                > (DUP_THRESH - 1) * u32::from(self.snd_mss)
            && self
                .scoreboard
                .next_hole(self.snd_una)
                .is_some_and(|(start, _)| start < self.rexmit_nxt)
    }

    /// Fast retransmit and the start of loss recovery (RFC 5681 §3.2,
    /// RFC 6675 §5, RFC 6582 §3.2).
    fn enter_recovery(&mut self, now: Instant, events: &mut InputEvents) {
        // RFC 6582 §3.2 step 2 (and §4 after a timeout): not for losses
        // from before the point the last recovery or timeout covered.
        if self.snd_una < self.recover {
            return;
        }
        events.recovery_entered = true;
        events.sack_recovery = self.flags.has(Flags::SACK);
        self.stats.fast_recoveries = self.stats.fast_recoveries.wrapping_add(1);
        let flight = (self.snd_max - self.snd_una).max(0) as u32;
        self.congestion.on_fast_retransmit(now, flight);
        self.recover = self.snd_max;
        self.rexmit_nxt = self.snd_una;
        self.rexmit_fence = self.snd_una;
        self.flags.set(Flags::RECOVERY, true);
        // The fast retransmit goes out now, whatever the pipe (RFC 5681
        // §3.2 step 4, RFC 6675 §5 step 4.3); later ones wait for room.
        self.flags.set(Flags::RETRANSMIT_HEAD, true);
        self.stop_timing();
    }

    /// New data acknowledged: free it, sample the RTT, grow the window, and
    /// move through the closing states.
    fn acknowledge(&mut self, now: Instant, seg: &Segment<'_>, acked: u32, config: &TcpConfig) {
        let syn_acked = self.syn_unacked();
        let fin_sent = self.fin_sent();
        let data_in_ring = self.tx_queued();
        // Bytes of the ring this ACK covers: minus the SYN and the FIN.
        let mut data_acked = acked - u32::from(syn_acked);
        let fin_acked = fin_sent && data_acked > data_in_ring;
        data_acked = data_acked.min(data_in_ring);
        self.tx
            .discard(data_acked as usize, self.buffers.tx_len as usize);
        self.tx_waker.wake();

        self.rtt_sample_on_ack(now, seg, config);
        self.snd_una = seg.ack;
        if self.snd_nxt < self.snd_una {
            self.snd_nxt = self.snd_una;
        }
        self.scoreboard.on_cumulative_ack(self.snd_una);
        self.dup_acks = 0;
        self.retransmits = 0;

        if self.flags.has(Flags::RECOVERY) {
            if seg.ack >= self.recover {
                self.flags
                    .set(Flags::RECOVERY | Flags::RETRANSMIT_HEAD, false);
                self.congestion.on_recovery_exit(now);
            } else {
                // A partial ACK (RFC 6582 §3.2 step 5): the next hole goes out.
                self.rexmit_nxt = self.rexmit_nxt.max(self.snd_una);
                self.flags
                    .set(Flags::RETRANSMIT_HEAD, !self.flags.has(Flags::SACK));
            }
        } else {
            self.congestion.on_ack(now, data_acked, self.rtt.srtt());
        }

        // RFC 6298 §5.2/5.3: restart the timer for what remains, or stop it.
        if self.snd_una == self.snd_max {
            self.rto_at = Stamp::UNSET;
            self.flags.set(Flags::PTO_ARMED | Flags::PROBE_DUE, false);
            self.unacked_since = Stamp::UNSET;
        } else {
            self.arm_retransmission_timer(now);
            self.unacked_since = Stamp::at(now);
        }

        if fin_acked {
            match self.state {
                // No FIN-WAIT-2 timer: `close` shuts only our sending side,
                // the application still reads, and the peer may take as long
                // as its retransmissions need (RFC 9293 has no such timer;
                // Linux applies one only to sockets nobody holds, which this
                // API does not leave behind). Keepalive and the user timeout
                // find a peer that is gone.
                TcpState::FinWait1 => self.set_state(TcpState::FinWait2),
                TcpState::Closing => self.enter_time_wait(now, config),
                TcpState::LastAck => self.terminate(None),
                _ => {}
            }
        }
    }

    /// The sequence number our FIN takes: right after the last queued byte.
    pub(crate) fn fin_seq(&self) -> SeqNumber {
        self.snd_una + u32::from(self.syn_unacked()) + self.tx_queued()
    }

    /// True once our FIN has been sent.
    pub(crate) fn fin_sent(&self) -> bool {
        self.flags.has(Flags::FIN_QUEUED) && self.snd_max > self.fin_seq()
    }

    /// RTT measurement: from the echoed timestamp (RFC 7323 §4.1), or from the
    /// one timed segment (RFC 6298 §3, Karn's rule).
    fn rtt_sample_on_ack(&mut self, now: Instant, seg: &Segment<'_>, config: &TcpConfig) {
        let sample = match (self.flags.has(Flags::TIMESTAMPS), seg.options.timestamp) {
            (true, Some((_, tsecr))) if tsecr != 0 => {
                let elapsed_ms = self.ts_now(now).wrapping_sub(tsecr);
                (elapsed_ms < 60_000)
                    .then(|| crate::time::Duration::from_millis(u64::from(elapsed_ms)))
            }
            _ => match self.timed_segment() {
                Some((timed, sent_at)) if seg.ack > timed => {
                    self.stop_timing();
                    sent_at.get(now).map(|at| now - at)
                }
                _ => None,
            },
        };
        if let Some(rtt) = sample {
            self.rtt.on_sample(rtt, &config.rto);
        }
    }

    fn update_send_window(&mut self, seg: &Segment<'_>) {
        self.snd_wnd = u32::from(seg.window) << self.wscale.send();
        self.note_max_send_window();
        self.snd_wl1 = seg.seq;
    }

    /// Places the segment's data in the receive ring (in order or not) and
    /// decides when to acknowledge (RFC 9293 §3.8.6.3, RFC 5681 §4.2).
    fn receive_text(
        &mut self,
        now: Instant,
        seg: &Segment<'_>,
        rx_storage: &mut [u8],
        config: &TcpConfig,
        events: &mut InputEvents,
    ) {
        // Trim what lies before RCV.NXT (already received) and beyond the window.
        let skip = (self.rcv_nxt - seg.seq).max(0) as usize;
        if skip >= seg.payload.len() {
            // Entirely a duplicate: ACK at once so the sender learns (and
            // D-SACK could tell it).
            self.flags.set(Flags::ACK_NOW, true);
            return;
        }
        let offset = (seg.seq + skip as u32 - self.rcv_nxt) as u32;
        let data = &seg.payload[skip..];
        let was_holding = !self.assembler.is_empty();
        let mut ring = crate::tcp::ring::Ring::new(&mut self.rx, rx_storage);
        let written = if seg.placed > 0 && skip == 0 && offset == 0 {
            // Already where `write_unallocated` would put it: the ring and
            // RCV.NXT have not moved since.
            seg.placed
        } else {
            ring.write_unallocated(offset as usize, data)
        };
        if written == 0 {
            self.flags.set(Flags::ACK_NOW, true);
            return;
        }
        let contiguous = match self.assembler.add(offset, written as u32) {
            Ok(contiguous) => contiguous,
            Err(_) => {
                // No room to remember another hole: drop, the peer resends.
                self.flags.set(Flags::ACK_NOW, true);
                return;
            }
        };
        ring.commit(contiguous as usize);
        self.rcv_nxt += contiguous;
        if contiguous > 0 {
            self.rx_waker.wake();
        }
        if offset > 0 || was_holding {
            // Out of order, or filling a hole: ACK at once (RFC 5681 §4.2),
            // so the sender's loss detection sees it.
            events.out_of_order |= offset > 0;
            self.flags.set(Flags::ACK_NOW, true);
            return;
        }
        self.unacked_segments = self.unacked_segments.saturating_add(1);
        if self.unacked_segments >= 2
            || seg.has(TcpFlags::PSH) && data.len() < usize::from(self.snd_mss) / 2
        {
            self.flags.set(Flags::ACK_NOW, true);
        } else if !self.ack_at.is_set() {
            self.ack_at = Stamp::at(now + config.delayed_ack);
        }
    }

    /// The peer's FIN (RFC 9293 §3.10.7.4 "eighth").
    fn receive_fin(&mut self, now: Instant, config: &TcpConfig) {
        self.rcv_nxt += 1;
        self.flags.set(Flags::ACK_NOW, true);
        self.rx_waker.wake();
        match self.state {
            TcpState::SynReceived | TcpState::Established => self.set_state(TcpState::CloseWait),
            TcpState::FinWait1 => {
                if self.fin_sent() && self.snd_una == self.snd_max {
                    self.enter_time_wait(now, config);
                } else {
                    self.set_state(TcpState::Closing);
                }
            }
            TcpState::FinWait2 | TcpState::TimeWait => self.enter_time_wait(now, config),
            _ => {}
        }
    }

    pub(crate) fn enter_time_wait(&mut self, now: Instant, config: &TcpConfig) {
        self.set_state(TcpState::TimeWait);
        self.rto_at = Stamp::UNSET;
        self.idle_at = Stamp::at(now + config.time_wait);
    }

    /// Restarts the keepalive timer (RFC 9293 §3.8.4) after activity.
    pub(crate) fn arm_keepalive(&mut self, now: Instant) {
        if let (Some(interval), true) = (self.keepalive.get(), self.state.is_synchronized()) {
            if self.state != TcpState::TimeWait {
                self.idle_at = Stamp::at(now + interval);
            }
        }
    }
}
