//! Where a connection's round-trip samples come from.
//!
//! With RFC 7323 timestamps every ACK that echoes one of our TSvals is a
//! sample (§4.1); the connection keeps TS.Recent, the peer's clock to echo
//! (§4.3), and the offset that keeps its own TSvals from revealing uptime
//! (§5.4). Without timestamps one segment at a time is timed (RFC 6298 §3),
//! never a retransmission (Karn): its sequence number and when it left.
//!
//! The handshake picks one of the two for the whole connection
//! (`Flags::TIMESTAMPS`), so they share two words of the control block
//! instead of taking four. Only the methods here read those words, each
//! checking the flag, so neither side can read the other's values.

use crate::tcp::seq::SeqNumber;
use crate::tcp::socket::{Flags, Stamp, TcpSocket};
use crate::time::Instant;

/// The two words: `[TS.Recent, TSval offset]` with timestamps, `[timed
/// sequence number, when it was sent]` without.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RttSource([u32; 2]);

impl RttSource {
    pub const EMPTY: RttSource = RttSource([0, 0]);
}

impl TcpSocket {
    /// At open: offers timestamps (or not) with a fresh clock `offset`.
    pub(crate) fn start_rtt_source(&mut self, timestamps: bool, offset: u32) {
        self.flags.set(Flags::TIMESTAMPS, timestamps);
        self.rtt_source = if timestamps {
            RttSource([0, offset])
        } else {
            RttSource::EMPTY
        };
    }

    /// The peer's SYN decided: timestamps stay on, with TS.Recent = `tsval`,
    /// or the connection times segments instead, starting with our SYN if
    /// it went once (Karn): its ACK, the peer's SYN-ACK, is the first
    /// sample (RFC 6298 §2.2; Linux takes it too). A SYN that offered
    /// timestamps was not timed, but `unacked_since` says when it left.
    /// Passively nothing has gone yet: the SYN-ACK is timed as it goes.
    pub(crate) fn settle_rtt_source(&mut self, peer_tsval: Option<u32>) {
        match peer_tsval {
            Some(tsval) if self.flags.has(Flags::TIMESTAMPS) => self.rtt_source.0[0] = tsval,
            _ => {
                let syn_sent_once = self.retransmits == 0;
                self.start_rtt_source(false, 0);
                if syn_sent_once && self.unacked_since.is_set() {
                    self.rtt_source = RttSource([self.snd_una.0, self.unacked_since.raw()]);
                }
            }
        }
    }

    /// TS.Recent (RFC 7323 §4.3); 0 without timestamps.
    pub(crate) fn ts_recent(&self) -> u32 {
        if self.flags.has(Flags::TIMESTAMPS) {
            self.rtt_source.0[0]
        } else {
            0
        }
    }

    pub(crate) fn set_ts_recent(&mut self, tsval: u32) {
        if self.flags.has(Flags::TIMESTAMPS) {
            self.rtt_source.0[0] = tsval;
        }
    }

    /// Our timestamp clock (RFC 7323 §5.4: 1 ms ticks, offset per connection).
    pub(crate) fn ts_now(&self, now: Instant) -> u32 {
        let offset = if self.flags.has(Flags::TIMESTAMPS) {
            self.rtt_source.0[1]
        } else {
            0
        };
        (now.as_millis() as u32).wrapping_add(offset)
    }

    /// The segment being timed and when it was sent, if any (never with
    /// timestamps).
    pub(crate) fn timed_segment(&self) -> Option<(SeqNumber, Stamp)> {
        let [seq, sent] = self.rtt_source.0;
        let sent = Stamp::from_raw(sent);
        (!self.flags.has(Flags::TIMESTAMPS) && sent.is_set()).then_some((SeqNumber(seq), sent))
    }

    /// Times the new segment starting at `seq`, sent at `now`, unless one is
    /// already timed or timestamps give samples anyway.
    pub(crate) fn time_segment(&mut self, seq: SeqNumber, now: Instant) {
        if !self.flags.has(Flags::TIMESTAMPS) && self.timed_segment().is_none() {
            self.rtt_source = RttSource([seq.0, Stamp::at(now).raw()]);
        }
    }

    /// Stops timing (the timed segment was resent, or acknowledged).
    pub(crate) fn stop_timing(&mut self) {
        if !self.flags.has(Flags::TIMESTAMPS) {
            self.rtt_source = RttSource::EMPTY;
        }
    }
}
