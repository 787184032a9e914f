//! A token bucket, for the messages we must not send as fast as we could
//! (ICMP errors: RFC 1812 §4.3.2.8, RFC 1122 §3.2.2).

use crate::time::Instant;

/// Allows `per_second` events per second on average and `burst` at once.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    per_second: u32,
    burst: u32,
    tokens: u32,
    /// When the bucket was last topped up; only whole tokens are credited,
    /// and the time for them is consumed, so fractions carry over.
    refilled_at: Instant,
}

impl RateLimiter {
    /// A full bucket.
    pub const fn new(per_second: u32, burst: u32) -> Self {
        Self {
            per_second,
            burst,
            tokens: burst,
            refilled_at: Instant::ZERO,
        }
    }

    /// Takes a token if one is available at `now`.
    pub fn allow(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }

    fn refill(&mut self, now: Instant) {
        if self.per_second == 0 {
            return;
        }
        // 32-bit division only: a 64-bit one would bring about 900 bytes of
        // Cortex-M runtime into a firmware that has no other use for it.
        let micros_per_token = (1_000_000 / self.per_second).max(1);
        let elapsed = now.saturating_since(self.refilled_at).as_micros();
        let until_full =
            u64::from(self.burst.saturating_sub(self.tokens)) * u64::from(micros_per_token);
        if elapsed >= until_full {
            self.tokens = self.burst;
            self.refilled_at = now;
            return;
        }
        // More than 71 minutes short of a full bucket: credited up to 71
        // minutes now, the rest at the next call (the time is not consumed).
        let earned = u32::try_from(elapsed).unwrap_or(u32::MAX) / micros_per_token;
        self.tokens += earned;
        self.refilled_at +=
            crate::time::Duration::from_micros(u64::from(earned) * u64::from(micros_per_token));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_steady_rate() {
        let mut limiter = RateLimiter::new(10, 3);
        let t0 = Instant::from_secs(100);
        assert_eq!((0..5).filter(|_| limiter.allow(t0)).count(), 3);
        assert!(!limiter.allow(t0 + crate::time::Duration::from_millis(50)));
        assert!(limiter.allow(t0 + crate::time::Duration::from_millis(100)));
        assert!(!limiter.allow(t0 + crate::time::Duration::from_millis(150)));
        // Over ten seconds at most 10/s (plus the burst) get through.
        let allowed = (0..10_000)
            .filter(|ms| limiter.allow(t0 + crate::time::Duration::from_millis(200 + ms)))
            .count();
        assert!((99..=103).contains(&allowed), "{allowed}");
    }

    #[test]
    fn zero_rate_allows_only_the_burst() {
        let mut limiter = RateLimiter::new(0, 2);
        assert!(limiter.allow(Instant::ZERO));
        assert!(limiter.allow(Instant::from_secs(9)));
        assert!(!limiter.allow(Instant::from_secs(99)));
    }

    #[test]
    fn a_refill_longer_than_32_bits_of_microseconds_is_credited_in_full() {
        // 10,000 tokens at one a second: 5,000 s (over 2^32 µs) after the
        // bucket was emptied, exactly 5,000 are back.
        let mut limiter = RateLimiter::new(1, 10_000);
        let t0 = Instant::from_secs(10);
        assert_eq!((0..10_001).filter(|_| limiter.allow(t0)).count(), 10_000);
        let later = t0 + crate::time::Duration::from_secs(5_000);
        assert_eq!((0..6_000).filter(|_| limiter.allow(later)).count(), 5_000);
    }
}
