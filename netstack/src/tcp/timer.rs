//! Timers (RFC 9293 §3.8): retransmission with backoff (RFC 6298), the
//! persist timer for zero windows, delayed ACKs, keepalive, the user timeout
//! (RFC 5482) and TIME-WAIT.

use crate::tcp::socket::{Flags, Stamp, TcpConfig, TcpError, TcpSocket, TcpState};
use crate::time::{Duration, Instant};

/// Shortest probe timeout: the receiver's ACK may lag a few milliseconds
/// behind on a busy host (the floor of the original TLP proposal,
/// draft-dukkipati-tcpm-tcp-loss-probe, and of Linux).
/// In microseconds, as the probe timeout is computed (see `probe_timeout`).
const PTO_MIN_US: u32 = 10_000;
/// RFC 8985 §7.2 WCDelAckT: the longest a receiver may delay the ACK of a
/// lone segment (RFC 9293 §3.8.6.3 allows up to 500 ms; 200 ms in practice).
const WORST_CASE_DELAYED_ACK_US: u32 = 200_000;

impl TcpSocket {
    /// When this connection next needs `handle_timers`, read near `now`.
    pub(crate) fn poll_at(&self, now: Instant) -> Option<Instant> {
        let timers = Stamp::earliest(&[self.rto_at, self.ack_at, self.idle_at], now);
        match (timers, self.user_timeout_at(now)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether any timer is armed.
    pub(crate) fn has_timer(&self) -> bool {
        self.rto_at.is_set()
            || self.ack_at.is_set()
            || self.idle_at.is_set()
            || (self.state != TcpState::Closed
                && self.unacked_since.is_set()
                && self.user_timeout.get().is_some())
    }

    /// When the user timeout (RFC 5482) ends the connection: that long after
    /// the oldest unacknowledged data was sent, whatever the RTO's backoff.
    fn user_timeout_at(&self, now: Instant) -> Option<Instant> {
        if self.state == TcpState::Closed {
            return None;
        }
        // The timeout first: without one (the default) the stamp is not read.
        let timeout = self.user_timeout.get()?;
        Some(self.unacked_since.get(now)? + timeout)
    }

    /// Fires every timer due at `now`.
    pub(crate) fn handle_timers(&mut self, now: Instant, config: &TcpConfig) {
        if self.user_timeout_at(now).is_some_and(|at| at <= now) {
            self.terminate(Some(TcpError::TimedOut));
            return;
        }
        if self.ack_at.reached(now) {
            self.ack_at = Stamp::UNSET;
            self.flags.set(Flags::ACK_NOW, true);
        }
        if self.rto_at.reached(now) {
            self.rto_at = Stamp::UNSET;
            self.on_retransmission_timeout(now, config);
        }
        if self.idle_at.reached(now) {
            self.idle_at = Stamp::UNSET;
            self.on_idle_timeout(now, config);
        }
    }

    /// (Re)starts the retransmission timer for outstanding data: the probe
    /// timeout when a tail loss probe may be sent (RFC 8985 §7.2), else the
    /// RTO (RFC 6298 §5).
    pub(crate) fn arm_retransmission_timer(&mut self, now: Instant) {
        let pto = self.probe_timeout();
        self.flags.set(Flags::PTO_ARMED, pto.is_some());
        self.rto_at = Stamp::at(now + pto.unwrap_or(self.rtt.rto()));
    }

    /// RFC 8985 §7.2: 2 * SRTT (at least `PTO_MIN_US`), plus WCDelAckT when a
    /// single segment is in flight (its ACK may be delayed); only with SACK,
    /// outside timeout recovery, while data flows. Unlike RFC 8985 also in
    /// fast recovery: when the one ACK that covers a recovery's
    /// retransmissions is lost (a receiver acknowledging a burst with one
    /// stretch ACK sends no other), nothing else would come back before the RTO.
    /// `None` too when it would not come before the RTO, which then rules.
    ///
    /// Computed in 32-bit microseconds, as the RTT estimator keeps them: it
    /// runs for every segment sent, and 64-bit arithmetic costs a 32-bit
    /// core twice the instructions. Saturating at `u32::MAX` changes no
    /// answer: the RTO is a `u32` of microseconds too, so a timeout that
    /// large is never below it.
    pub(crate) fn probe_timeout(&self) -> Option<Duration> {
        // A shut window is probed by the persist timer, not by loss probes.
        let eligible = self.flags.has(Flags::SACK)
            && self.snd_wnd > 0
            && !self.flags.has(Flags::PROBE_DUE)
            && matches!(self.state, TcpState::Established | TcpState::CloseWait)
            && self.snd_nxt == self.snd_max;
        if !eligible {
            return None;
        }
        let srtt = self.rtt.srtt_micros();
        if srtt == 0 {
            return None;
        }
        let mut pto = srtt.saturating_mul(2).max(PTO_MIN_US);
        let flight = (self.snd_max - self.snd_una).max(0) as u32;
        if flight <= u32::from(self.snd_mss) {
            pto = pto.saturating_add(WORST_CASE_DELAYED_ACK_US);
        }
        (pto < self.rtt.rto_micros()).then(|| Duration::from_micros(u64::from(pto)))
    }

    fn on_retransmission_timeout(&mut self, now: Instant, config: &TcpConfig) {
        let nothing_outstanding = self.snd_una == self.snd_max;
        if self.flags.has(Flags::PTO_ARMED) {
            self.flags.set(Flags::PTO_ARMED, false);
            if !nothing_outstanding {
                // RFC 8985 §7.3: the tail of the flight, or every ACK for it,
                // may be lost. One probe goes out; the RTO covers the rest.
                self.flags.set(Flags::PROBE_DUE, true);
                self.rto_at = Stamp::at(now + self.rtt.rto());
                return;
            }
        }
        if nothing_outstanding && (self.snd_wnd == 0 || self.tx_queued() > 0) {
            // The persist timer (RFC 9293 §3.8.6.1): probe the closed window,
            // backing off, for as long as the peer keeps answering; or, with
            // a window too small to be worth a segment (silly-window
            // avoidance held the data back), send into it anyway.
            self.rtt.on_timeout(&config.rto);
            self.flags.set(Flags::WINDOW_PROBE, true);
            return;
        }
        if nothing_outstanding {
            return;
        }
        let user_timeout_passed = match (self.user_timeout.get(), self.unacked_since.get(now)) {
            (Some(limit), Some(since)) => now - since >= limit,
            _ => false,
        };
        self.retransmits = self.retransmits.saturating_add(1);
        if user_timeout_passed || self.retransmits > config.max_retransmissions {
            self.terminate(Some(TcpError::TimedOut));
            return;
        }
        // RFC 6298 §5.5–5.7 and RFC 5681 §3.1: back off, shrink to the loss
        // window, and resend from the oldest unacknowledged byte.
        self.rtt.on_timeout(&config.rto);
        let flight = (self.snd_max - self.snd_una).max(0) as u32;
        self.congestion.on_retransmit_timeout(now, flight);
        // RFC 6582 §4: no fast retransmit for losses from before the timeout.
        self.recover = self.snd_max;
        self.flags
            .set(Flags::RECOVERY | Flags::RETRANSMIT_HEAD, false);
        self.scoreboard.clear();
        self.dup_acks = 0;
        self.stop_timing();
        // Go back to SND.UNA: the SYN itself while it is unacknowledged.
        self.snd_nxt = self.snd_una;
        // §5.6: the timer runs again at once (with the backed-off RTO), so a
        // retransmission that cannot leave now is retried, never forgotten.
        self.rto_at = Stamp::at(now + self.rtt.rto());
        // Into a zero window only a probe may go: this was one, unanswered
        // (RFC 9293 §3.8.6.1), and the next repeats it, backed off.
        if self.snd_wnd == 0 && self.state.is_synchronized() {
            self.flags.set(Flags::WINDOW_PROBE, true);
        }
    }

    fn on_idle_timeout(&mut self, now: Instant, config: &TcpConfig) {
        match self.state {
            TcpState::TimeWait => self.terminate(None),
            state if state.is_synchronized() => {
                let Some(interval) = self.keepalive.get() else {
                    return;
                };
                if self.keepalive_probes >= config.keepalive_probes {
                    self.terminate(Some(TcpError::TimedOut));
                    return;
                }
                self.keepalive_probes += 1;
                self.flags.set(Flags::KEEPALIVE_PROBE, true);
                self.idle_at = Stamp::at(now + interval);
            }
            _ => {}
        }
    }
}
