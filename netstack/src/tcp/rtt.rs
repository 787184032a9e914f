//! The retransmission timer's value (RFC 6298).
//!
//! The sender measures round-trip times, smooths them into SRTT and RTTVAR
//! (§2) and derives the retransmission timeout RTO from them; each expiry
//! doubles the RTO (§5.5) until a fresh measurement arrives.
//!
//! Karn's algorithm (RFC 6298 §3) is the caller's job: a segment that was
//! retransmitted must never be sampled, because its ACK cannot say which
//! transmission it answers. With timestamps (RFC 7323 §4) every ACK that
//! echoes a TSval gives a valid sample, also for retransmissions.

use crate::time::Duration;

/// Clock granularity G of RFC 6298 §2.2: the RTO is never closer to SRTT
/// than one tick of the timer that runs it.
const CLOCK_GRANULARITY_US: u64 = 1_000;

/// K of RFC 6298 §2.3: RTTVAR is weighted four times in the RTO.
const K: u64 = 4;

/// Limits on the RTO, chosen per stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtoBounds {
    /// RTO before the first measurement: 1 s (RFC 6298 §2.1).
    pub initial: Duration,
    /// Lower bound. RFC 6298 §2.4 says 1 s; Linux uses 200 ms, which recovers
    /// a lost segment on a LAN five times faster, and so do we by default.
    pub min: Duration,
    /// Upper bound, also of the backed-off RTO: 60 s (RFC 6298 §2.5 allows
    /// any value of at least 60 s).
    pub max: Duration,
}

impl Default for RtoBounds {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            min: Duration::from_millis(200),
            max: Duration::from_secs(60),
        }
    }
}

/// Smoothed round-trip time and the RTO derived from it (RFC 6298 §2).
///
/// Times are microseconds in `u32` (up to 71 minutes, far above any
/// sensible RTO bound), so the estimator is 12 bytes on thumbv7em.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RttEstimator {
    /// SRTT, the smoothed round-trip time; 0 until the first measurement
    /// (RFC 6298 §2.1), which is taken as at least 1 µs so that SRTT, a
    /// weighted mean of such samples, never returns to 0.
    srtt_us: u32,
    /// RTTVAR, the round-trip time variation.
    rttvar_us: u32,
    /// The RTO in force, including any backoff.
    rto_us: u32,
}

/// Microseconds of a duration, saturated to `u32`.
fn micros_u32(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

impl RttEstimator {
    /// Every byte zero, for sockets in storage that is reset before use
    /// (see `TcpSocket::UNFORMATTED`).
    pub(crate) const UNFORMATTED: RttEstimator = RttEstimator {
        srtt_us: 0,
        rttvar_us: 0,
        rto_us: 0,
    };

    /// Placeholder for a socket that is not open; `new` replaces it.
    pub const UNSET: RttEstimator = RttEstimator {
        srtt_us: 0,
        rttvar_us: 0,
        rto_us: 1_000_000,
    };

    /// A fresh estimator: RTO = `bounds.initial` (RFC 6298 §2.1), never above
    /// `bounds.max`.
    pub fn new(bounds: RtoBounds) -> Self {
        Self {
            srtt_us: 0,
            rttvar_us: 0,
            rto_us: micros_u32(bounds.initial).min(micros_u32(bounds.max)),
        }
    }

    /// Takes one round-trip measurement R (RFC 6298 §2.2 for the first,
    /// §2.3 for later ones) and recomputes the RTO, which also ends any
    /// backoff: the path answers again (§5.7 keeps the doubled value only
    /// until then).
    pub fn on_sample(&mut self, rtt: Duration, bounds: &RtoBounds) {
        let r = u64::from(micros_u32(rtt).max(1));
        if self.srtt_us != 0 {
            // §2.3, alpha = 1/8 and beta = 1/4; RTTVAR uses the SRTT from
            // before this update.
            let srtt = u64::from(self.srtt_us);
            let rttvar = u64::from(self.rttvar_us);
            let delta = srtt.abs_diff(r);
            self.rttvar_us = ((3 * rttvar + delta) / 4) as u32;
            self.srtt_us = ((7 * srtt + r) / 8) as u32;
        } else {
            // §2.2: SRTT <- R, RTTVAR <- R/2.
            self.srtt_us = r as u32;
            self.rttvar_us = (r / 2) as u32;
        }
        // RTO <- SRTT + max(G, K*RTTVAR), then §2.4 and §2.5.
        let variance = (K * u64::from(self.rttvar_us)).max(CLOCK_GRANULARITY_US);
        let rto = (u64::from(self.srtt_us) + variance)
            .max(bounds.min.as_micros())
            .min(bounds.max.as_micros());
        self.rto_us = u32::try_from(rto).unwrap_or(u32::MAX);
    }

    /// The RTO in force, including exponential backoff, never above the
    /// upper bound.
    pub fn rto(&self) -> Duration {
        Duration::from_micros(u64::from(self.rto_us))
    }

    /// The retransmission timer expired: back off (RFC 6298 §5.5,
    /// RTO <- RTO * 2, capped at `bounds.max`).
    pub fn on_timeout(&mut self, bounds: &RtoBounds) {
        let doubled = u64::from(self.rto_us) * 2;
        self.rto_us = u32::try_from(doubled.min(bounds.max.as_micros())).unwrap_or(u32::MAX);
    }

    /// The handshake is over after its SYN (or SYN-ACK) timed out, with no
    /// measurement (Karn's rule left none, without timestamps): data starts
    /// with an RTO of 3 s (RFC 6298 §5.7), as the initial 1 s was too short
    /// for this path, and the SYN's backoff, 4 s or more after two
    /// timeouts, is not carried over (as Linux does); never above
    /// `bounds.max`.
    pub fn after_handshake_timeout(&mut self, bounds: &RtoBounds) {
        if self.srtt_us == 0 {
            self.rto_us = micros_u32(bounds.max).min(3_000_000);
        }
    }

    /// The RTO in force in microseconds, as [`rto`](Self::rto) without the
    /// widening: the per-segment timer arithmetic stays in 32 bits.
    pub fn rto_micros(&self) -> u32 {
        self.rto_us
    }

    /// SRTT in microseconds, 0 before the first measurement.
    pub fn srtt_micros(&self) -> u32 {
        self.srtt_us
    }

    /// SRTT, once there is a measurement.
    pub fn srtt(&self) -> Option<Duration> {
        (self.srtt_us != 0).then(|| Duration::from_micros(u64::from(self.srtt_us)))
    }

    /// RTTVAR (zero before the first measurement).
    pub fn rttvar(&self) -> Duration {
        Duration::from_micros(u64::from(self.rttvar_us))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const _: () = assert!(core::mem::size_of::<RttEstimator>() <= 12);

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// RFC 6298 §5.7: after a SYN timed out, data starts with an RTO of
    /// 3 s, however often it timed out, unless the handshake was measured
    /// (timestamps) or the upper bound is lower.
    #[test]
    fn a_handshake_that_timed_out_leaves_an_rto_of_three_seconds() {
        let bounds = RtoBounds::default();
        let rto_after = |timeouts: usize, sample: Option<u64>, bounds: RtoBounds| {
            let mut rtt = RttEstimator::new(bounds);
            for _ in 0..timeouts {
                rtt.on_timeout(&bounds);
            }
            if let Some(sample) = sample {
                rtt.on_sample(ms(sample), &bounds);
            }
            rtt.after_handshake_timeout(&bounds);
            rtt.rto()
        };
        assert_eq!(rto_after(1, None, bounds), ms(3000));
        assert_eq!(rto_after(3, None, bounds), ms(3000), "not the 8 s backoff");
        assert_eq!(rto_after(1, Some(100), bounds), ms(300), "measured");
        let low = RtoBounds {
            max: ms(2000),
            ..bounds
        };
        assert_eq!(rto_after(1, None, low), ms(2000));
    }

    #[test]
    fn initial_rto_is_one_second() {
        let e = RttEstimator::new(RtoBounds::default());
        assert_eq!(e.rto(), Duration::from_secs(1));
        assert_eq!(e.srtt(), None);
        assert_eq!(e.rttvar(), Duration::ZERO);
    }

    #[test]
    fn initial_rto_is_capped_by_max() {
        let bounds = RtoBounds {
            initial: Duration::from_secs(3),
            min: ms(200),
            max: Duration::from_secs(2),
        };
        assert_eq!(RttEstimator::new(bounds).rto(), Duration::from_secs(2));
    }

    #[test]
    fn first_sample_sets_srtt_and_half_variance() {
        let b = RtoBounds::default();
        let mut e = RttEstimator::new(b);
        e.on_sample(ms(100), &b);
        // SRTT = 100 ms, RTTVAR = 50 ms, RTO = 100 + 4*50 = 300 ms.
        assert_eq!(e.srtt(), Some(ms(100)));
        assert_eq!(e.rttvar(), ms(50));
        assert_eq!(e.rto(), ms(300));
    }

    #[test]
    fn later_samples_use_alpha_one_eighth_and_beta_one_quarter() {
        let b = RtoBounds::default();
        let mut e = RttEstimator::new(b);
        e.on_sample(ms(100), &b);
        e.on_sample(ms(200), &b);
        // RTTVAR = 3/4*50 + 1/4*|100-200| = 62.5 ms (with the old SRTT),
        // SRTT = 7/8*100 + 1/8*200 = 112.5 ms, RTO = 112.5 + 250 = 362.5 ms.
        assert_eq!(e.rttvar(), Duration::from_micros(62_500));
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rto(), Duration::from_micros(362_500));
    }

    #[test]
    fn steady_samples_converge_and_hit_the_lower_bound() {
        let b = RtoBounds::default();
        let mut e = RttEstimator::new(b);
        for _ in 0..200 {
            e.on_sample(ms(10), &b);
        }
        assert_eq!(e.srtt(), Some(ms(10)));
        // RTTVAR decays towards zero; RTO = max(200 ms, 10 ms + G...).
        assert!(e.rttvar() < Duration::from_micros(100));
        assert_eq!(e.rto(), ms(200));
    }

    #[test]
    fn clock_granularity_bounds_the_variance_term() {
        let b = RtoBounds {
            initial: Duration::from_secs(1),
            min: Duration::ZERO,
            max: Duration::from_secs(60),
        };
        let mut e = RttEstimator::new(b);
        for _ in 0..200 {
            e.on_sample(ms(5), &b);
        }
        // K*RTTVAR is ~0 by now, so G = 1 ms is the whole margin.
        assert_eq!(e.rto(), ms(6));
    }

    #[test]
    fn rto_is_capped_at_max() {
        let b = RtoBounds::default();
        let mut e = RttEstimator::new(b);
        e.on_sample(Duration::from_secs(50), &b);
        assert_eq!(e.rto(), Duration::from_secs(60));
        // A sample beyond u32 microseconds saturates instead of wrapping.
        e.on_sample(Duration::from_secs(100_000), &b);
        assert_eq!(e.rto(), Duration::from_secs(60));
    }

    #[test]
    fn timeouts_double_up_to_max_and_a_sample_resets() {
        let b = RtoBounds::default();
        let mut e = RttEstimator::new(b);
        e.on_sample(ms(100), &b);
        let base = e.rto();
        e.on_timeout(&b);
        assert_eq!(e.rto(), ms(600));
        e.on_timeout(&b);
        assert_eq!(e.rto(), ms(1200));
        for _ in 0..20 {
            e.on_timeout(&b);
        }
        assert_eq!(e.rto(), Duration::from_secs(60));
        e.on_sample(ms(100), &b);
        assert!(e.rto() < base, "rto {} base {}", e.rto(), base);
    }

    #[test]
    fn many_timeouts_stay_at_max() {
        let b = RtoBounds::default();
        let mut e = RttEstimator::new(b);
        for _ in 0..300 {
            e.on_timeout(&b);
        }
        assert_eq!(e.rto(), Duration::from_secs(60));
    }

    #[test]
    fn a_zero_sample_counts_as_a_measurement() {
        let b = RtoBounds::default();
        let mut e = RttEstimator::new(b);
        e.on_sample(Duration::ZERO, &b);
        assert_eq!(e.srtt(), Some(Duration::from_micros(1)));
        assert_eq!(e.rto(), b.min);
        // The next sample is averaged in (§2.3), not taken as the first.
        e.on_sample(ms(80), &b);
        // (7 × 1 µs + 80,000 µs) / 8, rounded down.
        assert_eq!(e.srtt(), Some(Duration::from_micros(10_000)));
    }

    #[test]
    fn backoff_before_any_sample_starts_from_initial() {
        let b = RtoBounds::default();
        let mut e = RttEstimator::new(b);
        e.on_timeout(&b);
        e.on_timeout(&b);
        assert_eq!(e.rto(), Duration::from_secs(4));
    }
}
