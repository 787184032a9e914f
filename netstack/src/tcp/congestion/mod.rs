//! Congestion control: how much unacknowledged data the network may hold.
//!
//! Two algorithms behind one type, chosen per connection at run time:
//! - NewReno, the default: slow start and congestion avoidance of RFC 5681
//!   §3.1 with byte counting (RFC 3465), the initial window of RFC 6928.
//! - CUBIC (RFC 9438): the same slow start, then a window that follows a
//!   cubic function of the time since the last congestion event, which
//!   refills long fat pipes much faster than Reno's one segment per RTT
//!   while staying at least as aggressive as Reno on short paths.
//!
//! Loss recovery itself belongs to the connection: during fast recovery it
//! decides what to send from RFC 6675's "pipe" against [`Congestion::window`],
//! so the window is set to ssthresh at once and never inflated by duplicate
//! ACKs. The connection reports the events:
//! - [`Congestion::on_ack`] for each ACK that advances SND.UNA outside fast
//!   recovery (also in the slow start that follows a timeout);
//! - [`Congestion::on_fast_retransmit`] when it enters fast recovery;
//! - [`Congestion::on_recovery_exit`] when the recovery point is ACKed;
//! - [`Congestion::on_retransmit_timeout`] when the RTO fires;
//! - [`Congestion::on_idle`] before sending after an idle period longer
//!   than the RTO.
//!
//! Windows are bytes in `u32`; CUBIC's clock is milliseconds in a wrapping
//! `u32`, enough for congestion epochs up to 49 days. Not implemented:
//! HyStart++ (RFC 9406), ECN reactions (RFC 3168) and congestion window
//! validation for application-limited senders (RFC 7661).

#[cfg(feature = "cubic")]
mod cubic;

use crate::time::{Duration, Instant};

/// The congestion control algorithm of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Algorithm {
    /// RFC 5681 with RFC 3465 byte counting.
    #[default]
    NewReno,
    /// RFC 9438 (feature `cubic`).
    #[cfg(feature = "cubic")]
    Cubic,
}

/// CUBIC: a congestion avoidance stage (epoch) is running and `epoch_ms`,
/// `k_ms`, `w_est` describe it (RFC 9438 §4.2).
const EPOCH: u8 = 1 << 0;
/// CUBIC: the next epoch is the first after a timeout, so it starts with
/// K = 0 and W_max = cwnd_epoch (RFC 9438 §4.8).
const AFTER_TIMEOUT: u8 = 1 << 1;
/// The RTO fired and no new data has been ACKed since: a further timeout is
/// for a segment the timer already retransmitted, and RFC 5681 §3.1 holds
/// ssthresh constant then.
const TIMEOUT_REPEATED: u8 = 1 << 2;
/// Nothing has been ACKed or lost yet, so the window is still the initial
/// window and follows SMSS when the peer's MSS option changes it.
const FRESH: u8 = 1 << 3;

/// The congestion window and the state that moves it.
///
/// 36 bytes on thumbv7em (and on 64-bit hosts: no pointers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Congestion {
    /// cwnd (RFC 5681 §2), bytes.
    cwnd: u32,
    /// ssthresh (RFC 5681 §3.1), bytes; `u32::MAX` until the first loss.
    ssthresh: u32,
    /// Bytes ACKed in congestion avoidance and not yet turned into window
    /// growth: RFC 3465 §2.1's `bytes_acked` for NewReno, the same counter
    /// for CUBIC's Reno estimate W_est (RFC 9438 §4.3).
    bytes_acked: u32,
    /// CUBIC's state; nothing at all without the `cubic` feature.
    cubic: CubicState,
    /// SMSS (RFC 5681 §2), bytes, at least 1.
    smss: u16,
    algorithm: Algorithm,
    /// `EPOCH`, `AFTER_TIMEOUT`, `TIMEOUT_REPEATED`, `FRESH`.
    flags: u8,
}

/// What CUBIC remembers besides cwnd and ssthresh (RFC 9438 §4.1.2). Its
/// fields exist only with the `cubic` feature, so a NewReno-only firmware
/// carries no bytes for it in any connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct CubicState {
    /// W_max: the window before the last reduction, possibly lowered by fast
    /// convergence (§4.7); bytes.
    #[cfg(feature = "cubic")]
    w_max: u32,
    /// cwnd_prior: cwnd just before the last reduction; bytes.
    #[cfg(feature = "cubic")]
    cwnd_prior: u32,
    /// W_est (§4.3): the window Reno would have now; bytes.
    #[cfg(feature = "cubic")]
    w_est: u32,
    /// K (§4.2): ms from the epoch start until W_cubic is back at W_max.
    #[cfg(feature = "cubic")]
    k_ms: u32,
    /// t_epoch, as `Instant` ms truncated to 32 bits.
    #[cfg(feature = "cubic")]
    epoch_ms: u32,
}

impl CubicState {
    #[cfg(feature = "cubic")]
    const ZERO: CubicState = CubicState {
        w_max: 0,
        cwnd_prior: 0,
        w_est: 0,
        k_ms: 0,
        epoch_ms: 0,
    };
    #[cfg(not(feature = "cubic"))]
    const ZERO: CubicState = CubicState {};
}

/// IW = min(10*SMSS, max(2*SMSS, 14600)) (RFC 6928 §2).
fn initial_window(smss: u32) -> u32 {
    smss.saturating_mul(10)
        .min(smss.saturating_mul(2).max(14_600))
}

/// `now` on CUBIC's millisecond clock; differences wrap correctly.
#[cfg(feature = "cubic")]
fn clock_ms(now: Instant) -> u32 {
    now.as_millis() as u32
}

/// A count scaled by `num / den` without overflow, saturated to `u32`.
#[cfg(feature = "cubic")]
fn scale(value: u32, num: u32, den: u32) -> u32 {
    u32::try_from(u64::from(value) * u64::from(num) / u64::from(den)).unwrap_or(u32::MAX)
}

impl Congestion {
    /// Placeholder for a socket that is not open; `new` replaces it.
    pub const UNSET: Congestion = Congestion {
        cwnd: 0,
        ssthresh: u32::MAX,
        bytes_acked: 0,
        cubic: CubicState::ZERO,
        smss: 1,
        algorithm: Algorithm::NewReno,
        flags: FRESH,
    };

    /// [`Congestion::UNSET`] with every byte zero, for sockets in storage
    /// that is reset to `UNSET` before use (see `TcpSocket::UNFORMATTED`).
    pub(crate) const UNFORMATTED: Congestion = Congestion {
        cwnd: 0,
        ssthresh: 0,
        bytes_acked: 0,
        cubic: CubicState::ZERO,
        smss: 0,
        algorithm: Algorithm::NewReno,
        flags: 0,
    };

    /// A connection's congestion state before its first byte: cwnd = IW
    /// (RFC 6928), ssthresh "arbitrarily high" (RFC 5681 §3.1).
    pub fn new(algorithm: Algorithm, smss: u32) -> Self {
        let smss = smss.clamp(1, u32::from(u16::MAX));
        Self {
            cwnd: initial_window(smss),
            ssthresh: u32::MAX,
            bytes_acked: 0,
            cubic: CubicState::ZERO,
            smss: smss as u16,
            algorithm,
            flags: FRESH,
        }
    }

    /// cwnd in bytes: the sender keeps at most this much data in flight.
    pub fn window(&self) -> u32 {
        self.cwnd
    }

    /// ssthresh in bytes (`u32::MAX` before any loss).
    pub fn ssthresh(&self) -> u32 {
        self.ssthresh
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// SMSS in bytes.
    pub fn smss(&self) -> u32 {
        u32::from(self.smss)
    }

    /// Slow start runs while cwnd < ssthresh (RFC 5681 §3.1).
    pub fn in_slow_start(&self) -> bool {
        self.cwnd < self.ssthresh
    }

    /// Sets SMSS, typically once the peer's MSS option and the path MTU are
    /// known (RFC 9293 §3.7.1). Before anything was ACKed or lost the window
    /// is still the initial window and is recomputed for the new SMSS
    /// (RFC 6928 §2 defines IW in terms of it); later the byte counts stay,
    /// raised to at least one segment.
    pub fn set_smss(&mut self, smss: u32) {
        let smss = smss.clamp(1, u32::from(u16::MAX));
        self.smss = smss as u16;
        if self.flags & FRESH != 0 {
            self.cwnd = initial_window(smss);
        } else {
            self.cwnd = self.cwnd.max(smss);
        }
        // K is measured in segments of the old size.
        self.flags &= !EPOCH;
    }

    /// New data cumulatively acknowledged outside fast recovery: `acked`
    /// bytes left the network. `srtt` lets CUBIC aim its window one RTT
    /// ahead (RFC 9438 §4.2); NewReno ignores it.
    pub fn on_ack(&mut self, now: Instant, acked: u32, srtt: Option<Duration>) {
        if acked == 0 {
            return;
        }
        self.flags &= !(FRESH | TIMEOUT_REPEATED);
        let smss = self.smss();
        let mut acked = acked;
        if self.cwnd < self.ssthresh {
            // Slow start, RFC 5681 §3.1 with RFC 3465 §2.2's limit L =
            // 2*SMSS per ACK, which keeps doubling per RTT under delayed
            // ACKs yet bounds the burst after a stretch ACK.
            let increase = acked
                .min(smss.saturating_mul(2))
                .min(self.ssthresh - self.cwnd);
            self.cwnd += increase;
            if self.cwnd < self.ssthresh {
                return;
            }
            // What carried cwnd past ssthresh counts for congestion
            // avoidance.
            acked -= increase;
            if acked == 0 {
                return;
            }
        }
        match self.algorithm {
            Algorithm::NewReno => self.reno_avoidance(acked),
            #[cfg(feature = "cubic")]
            Algorithm::Cubic => self.cubic_avoidance(now, acked, srtt),
        }
        #[cfg(not(feature = "cubic"))]
        let _ = (now, srtt);
    }

    /// Congestion avoidance by byte counting (RFC 3465 §2.1, RFC 5681
    /// §3.1): one SMSS more for every cwnd bytes ACKed, so one SMSS per RTT
    /// however the receiver spaces its ACKs.
    fn reno_avoidance(&mut self, acked: u32) {
        self.bytes_acked = self.bytes_acked.saturating_add(acked);
        let cwnd = self.cwnd.max(1);
        if self.bytes_acked >= cwnd {
            let rounds = self.bytes_acked / cwnd;
            self.bytes_acked -= rounds * cwnd;
            self.cwnd = self.cwnd.saturating_add(rounds.saturating_mul(self.smss()));
        }
    }

    #[cfg(feature = "cubic")]
    /// Starts a CUBIC congestion avoidance stage at `now` with the current
    /// cwnd as cwnd_epoch (RFC 9438 §4.2, §4.3, §4.8).
    fn start_epoch(&mut self, now: Instant) {
        self.flags |= EPOCH;
        self.cubic.epoch_ms = clock_ms(now);
        self.bytes_acked = 0;
        // §4.3: "W_est is set equal to cwnd_epoch at the start of the
        // congestion avoidance stage."
        self.cubic.w_est = self.cwnd;
        if self.flags & AFTER_TIMEOUT != 0 || self.cubic.w_max <= self.cwnd {
            // §4.8 (first stage after a timeout) and §4.10 (no W_max to
            // return to): K = 0 and W_max = cwnd_epoch, the convex curve
            // straight away.
            self.flags &= !AFTER_TIMEOUT;
            self.cubic.w_max = self.cwnd;
            self.cubic.k_ms = 0;
        } else {
            self.cubic.k_ms = cubic::k_ms(self.cubic.w_max, self.cwnd, self.smss());
        }
    }

    #[cfg(feature = "cubic")]
    /// CUBIC congestion avoidance for one ACK (RFC 9438 §4.2 – §4.5).
    fn cubic_avoidance(&mut self, now: Instant, acked: u32, srtt: Option<Duration>) {
        if self.flags & EPOCH == 0 {
            self.start_epoch(now);
        }
        let smss = self.smss();
        let t_ms = clock_ms(now).wrapping_sub(self.cubic.epoch_ms);

        // §4.3: W_est grows by α_cubic segments per cwnd of ACKed data,
        // α_cubic = 1 once it has reached cwnd_prior.
        self.bytes_acked = self.bytes_acked.saturating_add(acked);
        let cwnd = self.cwnd.max(1);
        if self.bytes_acked >= cwnd {
            let rounds = self.bytes_acked / cwnd;
            self.bytes_acked -= rounds * cwnd;
            let step = if self.cubic.w_est >= self.cubic.cwnd_prior {
                smss
            } else {
                scale(smss, cubic::ALPHA_NUM, cubic::ALPHA_DEN)
            };
            self.cubic.w_est = self.cubic.w_est.saturating_add(rounds.saturating_mul(step));
        }

        if cubic::w_cubic(t_ms, self.cubic.k_ms, self.cubic.w_max, smss) < self.cubic.w_est {
            // Reno-friendly region (§4.3): at least what Reno would have.
            self.cwnd = self.cwnd.max(self.cubic.w_est);
            return;
        }
        // Concave (§4.4) and convex (§4.5) regions: aim at W_cubic(t + RTT),
        // kept within [cwnd, 1.5*cwnd], and close (target - cwnd)/cwnd of
        // the gap per SMSS ACKed.
        let rtt_ms = srtt.map_or(0, |d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX));
        let target = cubic::w_cubic(
            t_ms.saturating_add(rtt_ms),
            self.cubic.k_ms,
            self.cubic.w_max,
            smss,
        )
        .clamp(self.cwnd, self.cwnd.saturating_add(self.cwnd / 2));
        let gap = target - self.cwnd;
        let increase = u64::from(gap) * u64::from(acked) / u64::from(cwnd);
        self.cwnd += u32::try_from(increase.min(u64::from(gap))).unwrap_or(gap);
    }

    #[cfg(feature = "cubic")]
    /// CUBIC's reaction to a congestion event (RFC 9438 §4.6, §4.7): remember
    /// the window as cwnd_prior and W_max (lowered by fast convergence if the
    /// window did not even reach the previous W_max) and set ssthresh to
    /// β_cubic * cwnd. RFC 9438 §4.6 allows cwnd instead of FlightSize here,
    /// as Linux does; that keeps an application-limited sender from
    /// collapsing its window.
    fn cubic_reduction(&mut self) {
        self.cubic.cwnd_prior = self.cwnd;
        self.cubic.w_max = if self.cwnd < self.cubic.w_max {
            scale(
                self.cwnd,
                cubic::FAST_CONVERGENCE_NUM,
                cubic::FAST_CONVERGENCE_DEN,
            )
        } else {
            self.cwnd
        };
        self.ssthresh =
            scale(self.cwnd, cubic::BETA_NUM, cubic::BETA_DEN).max(self.smss().saturating_mul(2));
    }

    /// Reno's ssthresh after a loss: max(FlightSize/2, 2*SMSS) (RFC 5681
    /// §3.1 equation 4, §3.2 step 2).
    fn reno_reduction(&mut self, flight_size: u32) {
        self.ssthresh = (flight_size / 2).max(self.smss().saturating_mul(2));
    }

    /// Loss detected by duplicate ACKs or SACK, fast retransmit sent. NewReno:
    /// ssthresh = max(FlightSize/2, 2*SMSS); CUBIC: W_max, cwnd_prior and
    /// ssthresh = 0.7 * cwnd (RFC 9438 §4.6, §4.7). Both: cwnd = ssthresh,
    /// no inflation (the connection sends by RFC 6675's pipe).
    pub fn on_fast_retransmit(&mut self, _now: Instant, flight_size: u32) {
        self.flags &= !(FRESH | EPOCH | AFTER_TIMEOUT | TIMEOUT_REPEATED);
        self.bytes_acked = 0;
        match self.algorithm {
            Algorithm::NewReno => self.reno_reduction(flight_size),
            #[cfg(feature = "cubic")]
            Algorithm::Cubic => self.cubic_reduction(),
        }
        self.cwnd = self.ssthresh;
    }

    /// Fast recovery ended: the recovery point was cumulatively ACKed
    /// (RFC 6675 §5, RFC 6582 §3.2 step 3). cwnd stays at ssthresh and
    /// congestion avoidance begins; for CUBIC that starts its epoch now
    /// (RFC 9438 §4.2, t_epoch).
    pub fn on_recovery_exit(&mut self, now: Instant) {
        self.cwnd = self.cwnd.min(self.ssthresh);
        self.bytes_acked = 0;
        #[cfg(feature = "cubic")]
        if self.algorithm == Algorithm::Cubic && self.cwnd >= self.ssthresh {
            self.start_epoch(now);
        }
        let _ = now;
    }

    /// The retransmission timer expired (RFC 5681 §3.1): ssthresh =
    /// max(FlightSize/2, 2*SMSS) (CUBIC: β_cubic * cwnd, RFC 9438 §4.8), unless
    /// this is a repeated timeout with nothing ACKed in between, which holds
    /// ssthresh; cwnd = the loss window, 1 SMSS.
    pub fn on_retransmit_timeout(&mut self, _now: Instant, flight_size: u32) {
        if self.flags & TIMEOUT_REPEATED == 0 {
            match self.algorithm {
                Algorithm::NewReno => self.reno_reduction(flight_size),
                #[cfg(feature = "cubic")]
                Algorithm::Cubic => self.cubic_reduction(),
            }
        }
        self.flags &= !(FRESH | EPOCH);
        self.flags |= TIMEOUT_REPEATED | AFTER_TIMEOUT;
        self.bytes_acked = 0;
        self.cwnd = self.smss();
    }

    /// The connection is about to send after an idle period longer than the
    /// RTO: its ACK clock has stopped, so cwnd = min(cwnd, IW) (the restart
    /// window of RFC 5681 §4.1). CUBIC also ends its epoch, so the idle
    /// time does not count as growth time.
    pub fn on_idle(&mut self) {
        self.cwnd = self.cwnd.min(initial_window(self.smss()));
        self.bytes_acked = 0;
        self.flags &= !EPOCH;
    }
}

#[cfg(test)]
mod tests;
