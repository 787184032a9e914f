//! Window behaviour of NewReno and CUBIC driven through the public events.

use super::*;
use crate::rand::Rng;

const _: () = assert!(core::mem::size_of::<Congestion>() <= 36);

const SMSS: u32 = 1460;

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// One round trip of a cwnd-limited sender: the window's bytes are ACKed
/// segment by segment (the last one possibly short), spread evenly over the
/// round starting at `start_ms`. Returns the time at the end of the round.
fn ack_one_window(cc: &mut Congestion, start_ms: u64, rtt_ms: u64) -> u64 {
    let window = cc.window();
    let segments = u64::from(window.div_ceil(SMSS));
    let srtt = Some(Duration::from_millis(rtt_ms));
    let mut left = window;
    for i in 0..segments {
        let acked = left.min(SMSS);
        left -= acked;
        cc.on_ack(at(start_ms + rtt_ms * (i + 1) / segments), acked, srtt);
    }
    start_ms + rtt_ms
}

#[test]
fn initial_window_follows_rfc_6928() {
    assert_eq!(Congestion::new(Algorithm::NewReno, 1460).window(), 14_600);
    assert_eq!(Congestion::new(Algorithm::NewReno, 536).window(), 5_360);
    assert_eq!(Congestion::new(Algorithm::NewReno, 4000).window(), 14_600);
    assert_eq!(Congestion::new(Algorithm::NewReno, 9000).window(), 18_000);
    let cc = Congestion::new(Algorithm::default(), SMSS);
    assert_eq!(cc.algorithm(), Algorithm::NewReno);
    assert_eq!(cc.ssthresh(), u32::MAX);
    assert!(cc.in_slow_start());
    // SMSS 0 would divide by zero later: it is raised to 1.
    assert_eq!(Congestion::new(Algorithm::NewReno, 0).smss(), 1);
}

#[test]
fn set_smss_recomputes_the_initial_window_until_data_moves() {
    let mut cc = Congestion::new(Algorithm::NewReno, 536);
    cc.set_smss(1460);
    assert_eq!(cc.window(), 14_600);
    cc.on_ack(at(1), 1460, None);
    assert_eq!(cc.window(), 16_060);
    // After that the bytes stay (raised to one segment at least).
    cc.set_smss(1200);
    assert_eq!(cc.window(), 16_060);
    assert_eq!(cc.smss(), 1200);
    cc.set_smss(100_000);
    assert_eq!(cc.smss(), 65_535);
    assert_eq!(cc.window(), 65_535);
}

#[test]
fn slow_start_doubles_per_round_trip() {
    for algorithm in [
        Algorithm::NewReno,
        #[cfg(feature = "cubic")]
        Algorithm::Cubic,
    ] {
        let mut cc = Congestion::new(algorithm, SMSS);
        let mut now = 0;
        let mut expected = 10 * SMSS;
        for _ in 0..8 {
            assert_eq!(cc.window(), expected);
            now = ack_one_window(&mut cc, now, 50);
            expected *= 2;
        }
        assert!(cc.in_slow_start());
    }
}

#[test]
fn slow_start_doubles_under_delayed_acks_and_limits_stretch_acks() {
    let mut cc = Congestion::new(Algorithm::NewReno, SMSS);
    // Delayed ACKs: one ACK per two segments still doubles the window
    // (RFC 3465 §2.2, L = 2*SMSS).
    for _ in 0..5 {
        cc.on_ack(at(1), 2 * SMSS, None);
    }
    assert_eq!(cc.window(), 20 * SMSS);
    // A stretch ACK of eight segments opens at most two.
    cc.on_ack(at(2), 8 * SMSS, None);
    assert_eq!(cc.window(), 22 * SMSS);
    // Partial segments count byte for byte.
    cc.on_ack(at(3), 100, None);
    assert_eq!(cc.window(), 22 * SMSS + 100);
    // An ACK of nothing changes nothing.
    cc.on_ack(at(4), 0, None);
    assert_eq!(cc.window(), 22 * SMSS + 100);
}

#[test]
fn congestion_avoidance_adds_one_smss_per_window_of_acks() {
    let mut cc = Congestion::new(Algorithm::NewReno, SMSS);
    cc.on_fast_retransmit(at(0), 40 * SMSS);
    cc.on_recovery_exit(at(10));
    assert_eq!(cc.window(), 20 * SMSS);
    assert!(!cc.in_slow_start());
    let mut now = 10;
    for round in 1..=10 {
        now = ack_one_window(&mut cc, now, 50);
        assert_eq!(cc.window(), (20 + round) * SMSS);
    }
    // Byte counting: tiny ACKs grow the window at the same rate.
    let before = cc.window();
    let mut acked = 0;
    while acked + 100 < before {
        cc.on_ack(at(now), 100, None);
        acked += 100;
    }
    assert_eq!(cc.window(), before);
    cc.on_ack(at(now), before - acked, None);
    assert_eq!(cc.window(), before + SMSS);
}

#[test]
fn slow_start_stops_at_ssthresh_and_carries_the_rest_into_avoidance() {
    let mut cc = Congestion::new(Algorithm::NewReno, SMSS);
    cc.on_retransmit_timeout(at(0), 8 * SMSS);
    assert_eq!(cc.window(), SMSS);
    assert_eq!(cc.ssthresh(), 4 * SMSS);
    cc.on_ack(at(1), SMSS, None); // 2
    cc.on_ack(at(2), SMSS, None); // 3
    assert!(cc.in_slow_start());
    // 3 + 2 would pass ssthresh 4: the window stops at 4 segments.
    cc.on_ack(at(3), 2 * SMSS, None);
    assert_eq!(cc.window(), 4 * SMSS);
    assert!(!cc.in_slow_start());
    // From here on, one segment per window.
    cc.on_ack(at(4), 3 * SMSS, None);
    assert_eq!(cc.window(), 5 * SMSS);
}

#[test]
fn newreno_fast_retransmit_halves_the_flight() {
    let mut cc = Congestion::new(Algorithm::NewReno, SMSS);
    let mut now = 0;
    for _ in 0..3 {
        now = ack_one_window(&mut cc, now, 20);
    }
    assert_eq!(cc.window(), 80 * SMSS);
    cc.on_fast_retransmit(at(now), 64 * SMSS);
    assert_eq!(cc.ssthresh(), 32 * SMSS);
    assert_eq!(cc.window(), 32 * SMSS);
    cc.on_recovery_exit(at(now + 20));
    assert_eq!(cc.window(), 32 * SMSS);
    // A small flight still leaves two segments.
    cc.on_fast_retransmit(at(now + 40), SMSS);
    assert_eq!(cc.ssthresh(), 2 * SMSS);
    assert_eq!(cc.window(), 2 * SMSS);
}

#[test]
fn timeout_sets_the_loss_window_and_repeats_hold_ssthresh() {
    let mut cc = Congestion::new(Algorithm::NewReno, SMSS);
    cc.on_retransmit_timeout(at(0), 10 * SMSS);
    assert_eq!(cc.window(), SMSS);
    assert_eq!(cc.ssthresh(), 5 * SMSS);
    // The same segment times out again, nothing was ACKed: RFC 5681 §3.1
    // holds ssthresh.
    cc.on_retransmit_timeout(at(1000), 10 * SMSS);
    assert_eq!(cc.ssthresh(), 5 * SMSS);
    assert_eq!(cc.window(), SMSS);
    // Progress, then a new timeout: ssthresh follows the flight again.
    cc.on_ack(at(1500), SMSS, None);
    assert_eq!(cc.window(), 2 * SMSS);
    cc.on_retransmit_timeout(at(3000), 2 * SMSS);
    assert_eq!(cc.ssthresh(), 2 * SMSS);
    assert_eq!(cc.window(), SMSS);
    // A recovery exit after a timeout does not lift the loss window.
    cc.on_recovery_exit(at(3100));
    assert_eq!(cc.window(), SMSS);
}

#[test]
fn idle_restarts_from_at_most_the_initial_window() {
    for algorithm in [
        Algorithm::NewReno,
        #[cfg(feature = "cubic")]
        Algorithm::Cubic,
    ] {
        let mut cc = Congestion::new(algorithm, SMSS);
        let mut now = 0;
        for _ in 0..3 {
            now = ack_one_window(&mut cc, now, 20);
        }
        assert_eq!(cc.window(), 80 * SMSS);
        cc.on_idle();
        assert_eq!(cc.window(), 10 * SMSS);
        cc.on_retransmit_timeout(at(now), 10 * SMSS);
        cc.on_idle();
        assert_eq!(cc.window(), SMSS);
    }
}

/// A CUBIC sender that lost at a window of `w_max_segments` and has just
/// left fast recovery at `now_ms`.
#[cfg(feature = "cubic")]
fn cubic_after_loss(w_max_segments: u32, now_ms: u64) -> Congestion {
    let mut cc = Congestion::new(Algorithm::Cubic, SMSS);
    cc.cwnd = w_max_segments * SMSS;
    cc.ssthresh = cc.cwnd;
    cc.on_fast_retransmit(at(now_ms), cc.cwnd);
    cc.on_recovery_exit(at(now_ms));
    cc
}

#[test]
#[cfg(feature = "cubic")]
fn cubic_reduction_uses_beta_and_remembers_w_max() {
    let cc = cubic_after_loss(100, 1000);
    assert_eq!(cc.ssthresh(), 70 * SMSS);
    assert_eq!(cc.window(), 70 * SMSS);
    assert_eq!(cc.cubic.w_max, 100 * SMSS);
    assert_eq!(cc.cubic.cwnd_prior, 100 * SMSS);
    // K = ∛((100 - 70) / 0.4) s = 4.217 s.
    assert_eq!(cc.cubic.k_ms, 4217);
    assert_eq!(cc.cubic.w_est, 70 * SMSS);
    // The floor is two segments.
    let mut small = Congestion::new(Algorithm::Cubic, SMSS);
    small.cwnd = 2 * SMSS;
    small.on_fast_retransmit(at(0), 2 * SMSS);
    assert_eq!(small.window(), 2 * SMSS);
}

#[test]
#[cfg(feature = "cubic")]
fn cubic_fast_convergence_lowers_w_max() {
    let mut cc = cubic_after_loss(100, 0);
    // Lose again at 80 segments, below the previous W_max of 100.
    cc.cwnd = 80 * SMSS;
    cc.on_fast_retransmit(at(2000), 80 * SMSS);
    assert_eq!(cc.cubic.w_max, 68 * SMSS); // 80 * (1 + 0.7) / 2
    assert_eq!(cc.cubic.cwnd_prior, 80 * SMSS);
    assert_eq!(cc.ssthresh(), 56 * SMSS);
    // Losing above W_max remembers the window itself.
    cc.cwnd = 90 * SMSS;
    cc.on_fast_retransmit(at(4000), 90 * SMSS);
    assert_eq!(cc.cubic.w_max, 90 * SMSS);
}

#[test]
#[cfg(feature = "cubic")]
fn cubic_window_follows_the_cubic_function() {
    // W_max = 1000 segments, RTT 100 ms: K = ∛(300 / 0.4) = 9.086 s and
    // Reno's estimate stays far below the curve, so cwnd tracks
    // W_cubic(t) = 0.4 (t - K)³ + W_max through the concave region, the
    // plateau and the convex region.
    let w_max = 1000.0 * f64::from(SMSS);
    let mut cc = cubic_after_loss(1000, 0);
    assert_eq!(cc.cubic.k_ms, 9085);
    let k = f64::from(cc.cubic.k_ms) / 1000.0;
    let mut now = 0;
    let mut checked = 0;
    while now < 16_000 {
        now = ack_one_window(&mut cc, now, 100);
        if now % 1000 == 0 {
            let t = now as f64 / 1000.0;
            let w_cubic = 0.4 * (t - k) * (t - k) * (t - k) * f64::from(SMSS) + w_max;
            // The window moves towards W_cubic(t + RTT) by a share of the
            // gap per ACK, so it lands on W_cubic(t) itself.
            let cwnd = f64::from(cc.window());
            let error = (cwnd - w_cubic) / w_cubic;
            assert!(
                error.abs() < 0.002,
                "t={t}: cwnd {cwnd} vs W_cubic {w_cubic}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 16);
    assert!(cc.cubic.w_est < cc.window() * 3 / 4);
}

#[test]
#[cfg(feature = "cubic")]
fn cubic_hands_over_to_reno_where_reno_is_faster() {
    // W_max = 100 segments at RTT 100 ms: W_est climbs back to cwnd_prior
    // after 57 RTTs (α = 9/17), then by a segment per RTT, and overtakes
    // the flat plateau of the curve (RFC 9438 §4.3).
    let mut cc = cubic_after_loss(100, 0);
    let mut now = 0;
    while now < 8000 {
        now = ack_one_window(&mut cc, now, 100);
    }
    let t_ms = clock_ms(at(now)).wrapping_sub(cc.cubic.epoch_ms);
    assert!(cubic::w_cubic(t_ms, cc.cubic.k_ms, cc.cubic.w_max, SMSS) < cc.cubic.w_est);
    assert!(cc.cubic.w_est > cc.cubic.cwnd_prior);
    assert_eq!(cc.window(), cc.cubic.w_est);
}

#[test]
#[cfg(feature = "cubic")]
fn cubic_is_reno_friendly_on_short_paths() {
    // W_max = 20 segments and RTT = 1 ms: Reno would grow by α = 9/17
    // segments per RTT, much faster than the cubic curve (K = 2.47 s), so
    // cwnd follows W_est (RFC 9438 §4.3).
    let mut cc = cubic_after_loss(20, 0);
    assert_eq!(cc.window(), 14 * SMSS);
    let step = SMSS * 9 / 17;
    let mut now = 0;
    for _ in 0..5 {
        let before = cc.window();
        now = ack_one_window(&mut cc, now, 1);
        let after = cc.window();
        assert!(after >= before + step, "{before} -> {after}");
        assert!(after <= before + step + SMSS / 10, "{before} -> {after}");
        let t_ms = clock_ms(at(now)).wrapping_sub(cc.cubic.epoch_ms);
        assert!(cubic::w_cubic(t_ms, cc.cubic.k_ms, cc.cubic.w_max, SMSS) < cc.cubic.w_est);
    }
    // Once W_est reaches cwnd_prior, α becomes 1: a full SMSS per RTT.
    while cc.cubic.w_est < cc.cubic.cwnd_prior {
        now = ack_one_window(&mut cc, now, 1);
    }
    let before = cc.window();
    now = ack_one_window(&mut cc, now, 1);
    let after = cc.window();
    assert!(after >= before + SMSS, "{before} -> {after}");
    assert!(now < 1000, "stayed in the Reno-friendly region");
}

#[test]
#[cfg(feature = "cubic")]
fn cubic_after_timeout_starts_a_convex_curve() {
    let mut cc = Congestion::new(Algorithm::Cubic, SMSS);
    cc.cwnd = 100 * SMSS;
    cc.on_retransmit_timeout(at(0), 100 * SMSS);
    assert_eq!(cc.window(), SMSS);
    assert_eq!(cc.ssthresh(), 70 * SMSS);
    assert_eq!(cc.cubic.w_max, 100 * SMSS);
    // Slow start back to ssthresh; the first ACK beyond it starts the epoch
    // with K = 0 and W_max = cwnd_epoch (RFC 9438 §4.8), not a concave
    // approach to the old W_max.
    let mut now = 0;
    while cc.in_slow_start() {
        now = ack_one_window(&mut cc, now, 100);
    }
    assert_eq!(cc.window(), 70 * SMSS);
    cc.on_ack(at(now + 1), SMSS, Some(Duration::from_millis(100)));
    assert_eq!(cc.cubic.k_ms, 0);
    assert_eq!(cc.cubic.w_max, 70 * SMSS);
    // The next ordinary loss curves back to the window it lost at.
    cc.cwnd = 90 * SMSS;
    cc.on_fast_retransmit(at(now + 500), 90 * SMSS);
    cc.on_recovery_exit(at(now + 600));
    assert_eq!(cc.cubic.w_max, 90 * SMSS);
    assert_eq!(cc.cubic.k_ms, cubic::k_ms(90 * SMSS, 63 * SMSS, SMSS));
}

#[test]
#[cfg(feature = "cubic")]
fn cubic_repeated_timeouts_hold_ssthresh_and_w_max() {
    let mut cc = Congestion::new(Algorithm::Cubic, SMSS);
    cc.cwnd = 50 * SMSS;
    cc.on_retransmit_timeout(at(0), 50 * SMSS);
    assert_eq!(cc.ssthresh(), 35 * SMSS);
    cc.on_retransmit_timeout(at(1000), 50 * SMSS);
    assert_eq!(cc.ssthresh(), 35 * SMSS);
    assert_eq!(cc.cubic.w_max, 50 * SMSS);
    assert_eq!(cc.window(), SMSS);
}

#[test]
fn random_event_sequences_keep_the_invariants() {
    let mut rng = Rng::new(0x005e_edcc);
    for algorithm in [
        Algorithm::NewReno,
        #[cfg(feature = "cubic")]
        Algorithm::Cubic,
    ] {
        let mut cc = Congestion::new(algorithm, SMSS);
        let mut now = 0u64;
        for _ in 0..100_000 {
            now += u64::from(rng.next_u32() % 50);
            let flight = rng.next_u32() % (cc.window().saturating_mul(2).max(1));
            let srtt = Some(Duration::from_millis(u64::from(rng.next_u32() % 500)));
            match rng.next_u32() % 100 {
                0 => cc.on_fast_retransmit(at(now), flight),
                1 => cc.on_recovery_exit(at(now)),
                2 => cc.on_retransmit_timeout(at(now), flight),
                3 => cc.on_idle(),
                4 => cc.set_smss(536 + rng.next_u32() % 9000),
                5 => cc.on_ack(at(now), u32::MAX, srtt),
                _ => cc.on_ack(at(now), rng.next_u32() % (4 * cc.smss()), srtt),
            }
            assert!(cc.window() >= cc.smss().min(cc.ssthresh()));
            assert!(cc.ssthresh() >= 2 * 536 || cc.ssthresh() == u32::MAX);
        }
    }
}

#[test]
fn windows_saturate_instead_of_overflowing() {
    for algorithm in [
        Algorithm::NewReno,
        #[cfg(feature = "cubic")]
        Algorithm::Cubic,
    ] {
        let mut cc = Congestion::new(algorithm, 65_535);
        for i in 0..200_000 {
            cc.on_ack(at(i * 1000), u32::MAX, Some(Duration::from_secs(1)));
        }
        assert_eq!(cc.window(), u32::MAX);
        cc.on_fast_retransmit(at(1 << 40), u32::MAX);
        cc.on_recovery_exit(at(1 << 40));
        for i in 0..40_000 {
            cc.on_ack(at((1 << 40) + i * 1000), u32::MAX, None);
        }
        assert_eq!(cc.window(), u32::MAX);
    }
}
