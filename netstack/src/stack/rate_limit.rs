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
        let micros_per_token = (1_000_000 / u64::from(self.per_second)).max(1);
        let elapsed = now.saturating_since(self.refilled_at).as_micros();
        let earned = elapsed / micros_per_token;
        if earned == 0 {
            return;
        }
        if self.tokens as u64 + earned >= u64::from(self.burst) {
            self.tokens = self.burst;
            self.refilled_at = now;
        } else {
            self.tokens += earned as u32;
            self.refilled_at += crate::time::Duration::from_micros(earned * micros_per_token);
        }
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
}
