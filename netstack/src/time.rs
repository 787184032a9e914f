//! Time as the stack sees it: a monotonic instant the caller passes in.
//!
//! The core never reads a clock (sans-IO); `poll(now, ..)` is the only way time
//! enters, so a simulation can run in virtual time and replay exactly.

use core::ops::{Add, AddAssign, Sub};

/// A point in monotonic time, in microseconds since an arbitrary epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant {
    micros: u64,
}

/// A span of time, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Duration {
    micros: u64,
}

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant { micros: 0 };

    pub const fn from_micros(micros: u64) -> Self {
        Self { micros }
    }
    pub const fn from_millis(millis: u64) -> Self {
        Self {
            micros: millis * 1000,
        }
    }
    pub const fn from_secs(secs: u64) -> Self {
        Self {
            micros: secs * 1_000_000,
        }
    }
    pub const fn as_micros(self) -> u64 {
        self.micros
    }
    pub const fn as_millis(self) -> u64 {
        div_by_1000(self.micros)
    }
    /// Time elapsed since `earlier`, or zero if `earlier` is later.
    pub const fn saturating_since(self, earlier: Instant) -> Duration {
        Duration {
            micros: self.micros.saturating_sub(earlier.micros),
        }
    }
}

impl Duration {
    pub const ZERO: Duration = Duration { micros: 0 };

    pub const fn from_micros(micros: u64) -> Self {
        Self { micros }
    }
    pub const fn from_millis(millis: u64) -> Self {
        Self {
            micros: millis * 1000,
        }
    }
    pub const fn from_secs(secs: u64) -> Self {
        Self {
            micros: secs * 1_000_000,
        }
    }
    pub const fn as_micros(self) -> u64 {
        self.micros
    }
    pub const fn as_millis(self) -> u64 {
        div_by_1000(self.micros)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant {
            micros: self.micros.saturating_add(rhs.micros),
        }
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_since(rhs)
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        Duration {
            micros: self.micros.saturating_add(rhs.micros),
        }
    }
}

impl core::fmt::Display for Instant {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{}.{:06}s",
            self.micros / 1_000_000,
            self.micros % 1_000_000
        )
    }
}

impl core::fmt::Display for Duration {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{}.{:06}s",
            self.micros / 1_000_000,
            self.micros % 1_000_000
        )
    }
}

/// `x / 1000` by multiplication: a 32-bit core has no 64-bit divide, and
/// every segment converts the clock to milliseconds a few times, which as a
/// division is a library call of about a hundred instructions.
/// `x / 1000 = (x / 8) / 125`; with `y = x / 8 < 2^61` and `m =
/// ceil(2^68 / 125)`, which exceeds `2^68 / 125` by less than 1, `y * m /
/// 2^68` overshoots `y / 125` by less than `2^61 / 2^68 = 1/128`, under
/// the 1/125 that would change the floor: exact for every `u64`.
///
/// A value that fits 32 bits (a microsecond clock's first 71 minutes, and
/// every duration a TCP timer holds) takes the core's 32-bit divide
/// instead, one instruction where the 128-bit product takes over a dozen.
pub const fn div_by_1000(x: u64) -> u64 {
    if x <= u32::MAX as u64 {
        return (x as u32 / 1000) as u64;
    }
    (((x >> 3) as u128 * 2_361_183_241_434_822_607) >> 68) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        let t = Instant::from_millis(5);
        assert_eq!(t + Duration::from_millis(2), Instant::from_micros(7000));
        assert_eq!(Instant::ZERO - t, Duration::ZERO);
        assert_eq!(
            Instant::from_micros(u64::MAX) + Duration::from_secs(1),
            Instant::from_micros(u64::MAX)
        );
    }

    #[test]
    fn division_by_1000_is_exact() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for edge in [
            0,
            1,
            999,
            1000,
            1001,
            999_999,
            u64::MAX,
            u64::MAX - 1,
            u64::MAX / 1000 * 1000,
        ] {
            assert_eq!(div_by_1000(edge), edge / 1000, "{edge}");
        }
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            assert_eq!(div_by_1000(x), x / 1000, "{x}");
            let small = x >> 20;
            assert_eq!(div_by_1000(small), small / 1000);
        }
    }
}
