//! CUBIC's window function in integer arithmetic (RFC 9438 §4.2).
//!
//! W_cubic(t) = C * (t - K)^3 + W_max and K = cbrt((W_max - cwnd_epoch) / C)
//! with t and K in seconds and windows in segments. Cortex-M4 has `f32` but
//! no `cbrt` or `powf` in `core`, so here time is whole milliseconds and
//! windows are bytes: every step is exact integer arithmetic in `u64`, and
//! the only rounding is the final truncation to a whole byte or millisecond.

/// C = 0.4 segments/s³ (RFC 9438 §5.1), as the fraction 2/5.
const C_NUM: u64 = 2;
const C_DEN: u64 = 5;

/// One second cubed, in ms³: the scale between (t - K)³ in ms and in s.
const MS_PER_S_CUBED: u64 = 1_000_000_000;

/// |t - K| beyond this many milliseconds (35 minutes) is clamped: the
/// window would already be far past `u32::MAX` bytes, and the clamp keeps
/// the cube inside `u64` ((2^21)^3 = 2^63).
const MAX_OFFSET_MS: u64 = 1 << 21;

/// β_cubic = 0.7, the multiplicative decrease factor (RFC 9438 §4.6).
pub(super) const BETA_NUM: u32 = 7;
pub(super) const BETA_DEN: u32 = 10;

/// (1 + β_cubic) / 2 = 0.85, fast convergence's extra reduction of W_max
/// (RFC 9438 §4.7).
pub(super) const FAST_CONVERGENCE_NUM: u32 = 17;
pub(super) const FAST_CONVERGENCE_DEN: u32 = 20;

/// α_cubic = 3 * (1 - β_cubic) / (1 + β_cubic) = 9/17 (RFC 9438 §4.3): the
/// Reno estimate's additive increase that gives the same average rate as
/// Reno with its factor 1/2.
pub(super) const ALPHA_NUM: u32 = 9;
pub(super) const ALPHA_DEN: u32 = 17;

/// ⌊∛x⌋, exact for every `u64`, by the digit-by-digit method: three bits of
/// `x` per bit of the root, no division, no floating point.
pub(super) fn integer_cube_root(mut x: u64) -> u32 {
    let mut root: u64 = 0;
    // Bit groups from the top: 64 bits are 22 groups of three (the top
    // group has one bit).
    let mut shift: i32 = 63;
    while shift >= 0 {
        root <<= 1;
        // (2r + 1)³ - (2r)³ = 12r² + 6r + 1, in units of 2^shift.
        let step = 3 * root * (root + 1) + 1;
        if (x >> shift) >= step {
            x -= step << shift;
            root += 1;
        }
        shift -= 3;
    }
    root as u32
}

/// K in milliseconds for a window that has to grow from `cwnd_epoch` back to
/// `w_max` (bytes): ∛((W_max - cwnd_epoch) / C) of RFC 9438 §4.2 Figure 2,
/// here ∛(Δbytes / SMSS * 2.5e9) ms. Zero when there is nothing to regain.
pub(super) fn k_ms(w_max: u32, cwnd_epoch: u32, smss: u32) -> u32 {
    let gap = u64::from(w_max.saturating_sub(cwnd_epoch));
    // gap < 2^32 and 2.5e9 < 2^32, so the product fits in u64.
    let cubed = gap * (MS_PER_S_CUBED * C_DEN / C_NUM) / u64::from(smss.max(1));
    integer_cube_root(cubed)
}

/// W_cubic(t) in bytes, t in ms since the epoch (RFC 9438 §4.2 Figure 1):
/// C * SMSS * (t - K)³ / 1e9 bytes above or below `w_max`, saturated to
/// `0..=u32::MAX`.
pub(super) fn w_cubic(t_ms: u32, k_ms: u32, w_max: u32, smss: u32) -> u32 {
    let offset = u64::from(t_ms.abs_diff(k_ms)).min(MAX_OFFSET_MS);
    let cube = offset * offset * offset;
    // delta = cube * C * SMSS / 1e9, split into quotient and remainder of
    // the division so that neither product can overflow:
    // cube / 2.5e9 < 2^32 and the remainder < 2^32, times 2*SMSS < 2^33.
    let scale = MS_PER_S_CUBED * C_DEN / C_NUM;
    let per_segment = cube / scale;
    let remainder = cube % scale;
    let smss = u64::from(smss);
    let delta = per_segment * smss + remainder * smss / scale;
    let w_max = u64::from(w_max);
    let w = if t_ms >= k_ms {
        w_max.saturating_add(delta)
    } else {
        w_max.saturating_sub(delta)
    };
    u32::try_from(w).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::Rng;

    fn assert_floor_cube_root(x: u64) {
        let r = u128::from(integer_cube_root(x));
        let x = u128::from(x);
        assert!(r * r * r <= x, "cbrt({x}) = {r} too large");
        assert!((r + 1) * (r + 1) * (r + 1) > x, "cbrt({x}) = {r} too small");
    }

    #[test]
    fn cube_root_is_exact_for_small_numbers() {
        for x in 0..200_000 {
            assert_floor_cube_root(x);
        }
    }

    #[test]
    fn cube_root_is_exact_at_every_cube_boundary() {
        // ⌊∛(2^64 - 1)⌋ = 2642245.
        for k in (1u64..=2_642_245).step_by(97).chain(2_642_200..=2_642_245) {
            let cube = k * k * k;
            assert_eq!(integer_cube_root(cube), k as u32);
            assert_eq!(integer_cube_root(cube - 1), k as u32 - 1);
            if let Some(next) = cube.checked_add(1) {
                assert_eq!(integer_cube_root(next), k as u32);
            }
        }
        assert_eq!(integer_cube_root(u64::MAX), 2_642_245);
        assert_floor_cube_root(u64::MAX);
    }

    #[test]
    fn cube_root_is_exact_for_random_numbers() {
        let mut rng = Rng::new(0xc0be);
        for _ in 0..100_000 {
            let x = (u64::from(rng.next_u32()) << 32) | u64::from(rng.next_u32());
            // Every magnitude, not just the huge ones.
            assert_floor_cube_root(x >> (rng.next_u32() % 64));
        }
    }

    #[test]
    fn k_matches_rfc_9438_figure_2() {
        // W_max = 100 segments, cwnd_epoch = 70: K = ∛(30 / 0.4) = ∛75 s
        // = 4.2171633 s.
        assert_eq!(k_ms(100 * 1460, 70 * 1460, 1460), 4217);
        // W_max = 1000 segments of 1000 bytes, cwnd_epoch = 700:
        // K = ∛750 = 9.0856030 s.
        assert_eq!(k_ms(1_000_000, 700_000, 1000), 9085);
        // Nothing to regain.
        assert_eq!(k_ms(5000, 5000, 1000), 0);
        assert_eq!(k_ms(5000, 9000, 1000), 0);
        // The largest gap does not overflow: ∛(2^32 * 2.5e9) ms.
        assert_floor_cube_root(u64::from(u32::MAX) * 2_500_000_000);
        assert_eq!(
            k_ms(u32::MAX, 0, 1),
            integer_cube_root(u64::from(u32::MAX) * 2_500_000_000)
        );
    }

    #[test]
    fn k_is_where_the_curve_starts_at_cwnd_epoch() {
        // W_cubic(0) = W_max - C*K³ = cwnd_epoch, up to K's truncation to
        // a whole millisecond (dW/dt at t = 0 is 3*C*K² segments/s).
        for (w_max, epoch, smss) in [(146_000, 102_200, 1460), (64_000, 44_800, 536)] {
            let k = k_ms(w_max, epoch, smss);
            let w0 = w_cubic(0, k, w_max, smss);
            let slope_per_ms =
                3.0 * 0.4 * (k as f64 / 1000.0) * (k as f64 / 1000.0) * smss as f64 / 1000.0;
            assert!(w0 >= epoch, "{w0} < {epoch}");
            assert!(
                f64::from(w0 - epoch) <= slope_per_ms + 1.0,
                "{w0} vs {epoch}"
            );
        }
    }

    #[test]
    fn w_cubic_matches_the_real_valued_formula() {
        let smss = 1460u32;
        let w_max = 100 * smss;
        let k = 4217u32;
        for t in [
            0u32, 1, 500, 1000, 2000, 4000, 4217, 4218, 5000, 8000, 12_000, 60_000,
        ] {
            let dt = (f64::from(t) - f64::from(k)) / 1000.0;
            let exact = 0.4 * dt * dt * dt * f64::from(smss) + f64::from(w_max);
            let got = f64::from(w_cubic(t, k, w_max, smss));
            // Integer truncation only: within one byte of the exact value.
            assert!((got - exact).abs() <= 1.0, "t={t}: {got} vs {exact}");
        }
        // Symmetric around K, the plateau.
        assert_eq!(w_cubic(k, k, w_max, smss), w_max);
        let below = w_max - w_cubic(k - 1000, k, w_max, smss);
        let above = w_cubic(k + 1000, k, w_max, smss) - w_max;
        assert_eq!(below, above);
        assert_eq!(above, 584); // 0.4 * 1 s³ * 1460 bytes
    }

    #[test]
    fn w_cubic_saturates() {
        assert_eq!(w_cubic(u32::MAX, 0, u32::MAX - 5, 65_535), u32::MAX);
        assert_eq!(w_cubic(0, 3_000_000, 1_000, 65_535), 0);
        assert_eq!(w_cubic(u32::MAX, 0, 0, 2), u32::MAX);
    }
}
