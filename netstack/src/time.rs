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

/// `x / divisor` and `x % divisor`, for a `divisor` in `1..2^20`, in 32-bit
/// divisions: long division by 12-bit digits, each step's partial dividend
/// (a remainder below 2^20, shifted 12 bits, plus the digit) below 2^32.
/// A 64-bit `/` on a 32-bit core calls the runtime's 64-bit division, some
/// 900 bytes of flash that a firmware using this instead can leave out;
/// six steps of one divide each, for the clock conversions that are not
/// on a per-packet path (those use [`div_by_1000`]).
pub const fn div_rem_u64(x: u64, divisor: u32) -> (u64, u32) {
    let (mut quotient, mut remainder) = (0u64, 0u32);
    let mut shift = 60;
    loop {
        let partial = (remainder << 12) | ((x >> shift) as u32 & 0xfff);
        quotient = (quotient << 12) | (partial / divisor) as u64;
        remainder = partial % divisor;
        if shift == 0 {
            return (quotient, remainder);
        }
        shift -= 12;
    }
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
    fn long_division_by_a_20_bit_divisor_is_exact() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let divisors = [1, 2, 7, 60, 1000, 86_400, 146_097, 1_000_000, (1 << 20) - 1];
        for divisor in divisors {
            let d = u64::from(divisor);
            for edge in [
                0,
                1,
                d - 1,
                d,
                d + 1,
                u64::MAX,
                u64::MAX - 1,
                u64::MAX / d * d,
            ] {
                let expected = (edge / d, (edge % d) as u32);
                assert_eq!(div_rem_u64(edge, divisor), expected, "{edge} / {divisor}");
            }
        }
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for divisor in divisors {
                let d = u64::from(divisor);
                let expected = (x / d, (x % d) as u32);
                assert_eq!(div_rem_u64(x, divisor), expected, "{x} / {divisor}");
            }
        }
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
