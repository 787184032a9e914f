//! NTP timestamps and their mapping to Unix time across the 2036 era wrap.
//!
//! An NTP timestamp ([RFC 5905 §6]) is 32 bits of seconds since
//! 1900-01-01T00:00:00Z and 32 bits of binary fraction. The seconds wrap every
//! 2^32 s (about 136 years); the first wrap, from era 0 to era 1, falls on
//! 2036-02-07T06:28:16Z. The packet does not carry the era, so the receiver
//! has to pick it. [RFC 4330 §3] picks by the top bit (1968..2104);
//! [RFC 5905 §6] by closeness to the local clock. A device that boots with no
//! clock has neither, so the caller gives a lower bound instead (the build
//! date is a good one) and the era is the one that puts the time in the
//! 136-year window starting there, that is within ±68 years of its middle.
//!
//! Unix time here ignores leap seconds, as NTP and POSIX both do.
//!
//! [RFC 4330 §3]: https://www.rfc-editor.org/rfc/rfc4330#section-3
//! [RFC 5905 §6]: https://www.rfc-editor.org/rfc/rfc5905#section-6

use core::fmt;

use crate::time::div_rem_u64;

/// Seconds from the NTP prime epoch (1900) to the Unix epoch (1970):
/// 70 years, 17 of them leap years ([RFC 868]).
///
/// [RFC 868]: https://www.rfc-editor.org/rfc/rfc868
pub const NTP_TO_UNIX_SECONDS: i64 = 2_208_988_800;

/// Length of one NTP era in seconds.
const ERA_SECONDS: i64 = 1 << 32;

const MICROS_PER_SECOND: u64 = 1_000_000;

/// A 64-bit NTP timestamp ([RFC 5905 §6]): seconds since 1900 in the high
/// word, binary fraction of a second in the low word, era unknown.
///
/// [RFC 5905 §6]: https://www.rfc-editor.org/rfc/rfc5905#section-6
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NtpTimestamp {
    bits: u64,
}

impl NtpTimestamp {
    /// The value RFC 5905 reserves for "unknown or unset".
    pub const ZERO: NtpTimestamp = NtpTimestamp { bits: 0 };

    /// The timestamp with these 64 bits, as they sit (big-endian) on the wire.
    pub const fn from_bits(bits: u64) -> Self {
        Self { bits }
    }

    pub const fn from_parts(seconds: u32, fraction: u32) -> Self {
        Self {
            bits: ((seconds as u64) << 32) | fraction as u64,
        }
    }

    pub const fn to_bits(self) -> u64 {
        self.bits
    }

    /// Whole seconds since the start of this timestamp's era.
    pub const fn seconds(self) -> u32 {
        (self.bits >> 32) as u32
    }

    /// Fraction of a second, in units of 2^-32 s (about 233 ps).
    pub const fn fraction(self) -> u32 {
        self.bits as u32
    }

    pub const fn is_zero(self) -> bool {
        self.bits == 0
    }

    /// The fraction rounded down to whole microseconds (`0..1_000_000`).
    pub const fn fraction_micros(self) -> u64 {
        (self.fraction() as u64 * MICROS_PER_SECOND) >> 32
    }

    /// This timestamp as Unix time, in the era that puts it in the
    /// 2^32-second window starting at `not_before`; `None` only when that
    /// is beyond what [`UnixTime`] can hold.
    pub fn to_unix(self, not_before: UnixTime) -> Option<UnixTime> {
        let seconds = unix_seconds_in_window(self.seconds(), not_before.as_secs())?;
        let micros = seconds
            .checked_mul(MICROS_PER_SECOND)?
            .checked_add(self.fraction_micros())?;
        Some(UnixTime::from_micros(micros))
    }
}

/// Unix seconds for `ntp_seconds` in the first era (counting from era 0)
/// whose value is not before `not_before_secs`.
fn unix_seconds_in_window(ntp_seconds: u32, not_before_secs: u64) -> Option<u64> {
    let in_era_zero = i64::from(ntp_seconds) - NTP_TO_UNIX_SECONDS;
    let not_before = i64::try_from(not_before_secs).ok()?;
    let shortfall = not_before.checked_sub(in_era_zero)?;
    // Eras to add so that the result reaches `not_before`: ceil(shortfall / 2^32).
    let era = if shortfall <= 0 {
        0
    } else {
        shortfall.checked_add(ERA_SECONDS - 1)? >> 32
    };
    let seconds = in_era_zero.checked_add(era.checked_mul(ERA_SECONDS)?)?;
    u64::try_from(seconds).ok()
}

/// A wall-clock time: microseconds since 1970-01-01T00:00:00Z, leap seconds
/// not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UnixTime {
    micros: u64,
}

impl UnixTime {
    /// 1970-01-01T00:00:00Z.
    pub const EPOCH: UnixTime = UnixTime { micros: 0 };

    pub const fn from_micros(micros: u64) -> Self {
        Self { micros }
    }

    /// `secs` whole seconds, saturating at the largest representable time.
    pub const fn from_secs(secs: u64) -> Self {
        Self {
            micros: secs.saturating_mul(MICROS_PER_SECOND),
        }
    }

    pub const fn as_micros(self) -> u64 {
        self.micros
    }

    pub const fn as_secs(self) -> u64 {
        div_rem_u64(self.micros, MICROS_PER_SECOND as u32).0
    }

    /// The microseconds past [`as_secs`](Self::as_secs) (`0..1_000_000`).
    pub const fn subsec_micros(self) -> u32 {
        div_rem_u64(self.micros, MICROS_PER_SECOND as u32).1
    }
}

impl UnixTime {
    /// The calendar date and time of day, UTC (proleptic Gregorian
    /// calendar, leap seconds not counted): a `Display` as ISO 8601,
    /// `2026-11-22T07:00:00Z`, and its fields.
    pub const fn utc(self) -> Utc {
        // 64-bit quotients by `div_rem_u64` (see there why); below the
        // era, every value fits 32 bits.
        let (days, secs) = div_rem_u64(self.as_secs(), 86_400);
        // Howard Hinnant's `civil_from_days`
        // (https://howardhinnant.github.io/date_algorithms.html).
        let z = days + 719_468;
        let (era, doe) = div_rem_u64(z, 146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe as u64 + era * 400 + if month <= 2 { 1 } else { 0 };
        Utc {
            year: year as u32,
            month: month as u8,
            day: day as u8,
            hour: (secs / 3_600) as u8,
            minute: (secs / 60 % 60) as u8,
            second: (secs % 60) as u8,
        }
    }
}

/// A [`UnixTime`] on the calendar, UTC; displays as ISO 8601
/// (`2026-11-22T07:00:00Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    pub year: u32,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl fmt::Display for Utc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}", self.as_secs(), self.subsec_micros())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::string::ToString;

    use super::*;

    /// 2024-01-01T00:00:00Z, the client's default lower bound.
    const JAN_2024: UnixTime = UnixTime::from_secs(1_704_067_200);
    /// 2036-02-07T06:28:16Z: NTP era 1, second 0.
    const ERA_ONE_START: u64 = 2_085_978_496;

    #[test]
    fn calendar_dates_round_the_epoch_leap_days_and_eras() {
        let utc = |secs: u64| UnixTime::from_secs(secs).utc();
        assert_eq!(utc(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(JAN_2024.utc().to_string(), "2024-01-01T00:00:00Z");
        // 2024-02-29T23:59:59Z, then the first of March.
        assert_eq!(utc(1_709_251_199).to_string(), "2024-02-29T23:59:59Z");
        assert_eq!(utc(1_709_251_200).to_string(), "2024-03-01T00:00:00Z");
        assert_eq!(utc(ERA_ONE_START).to_string(), "2036-02-07T06:28:16Z");
        // 2100 is not a leap year: 2100-02-28 is followed by March 1st.
        assert_eq!(utc(4_107_542_399).to_string(), "2100-02-28T23:59:59Z");
        assert_eq!(utc(4_107_542_400).to_string(), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn fields_split_the_64_bits() {
        let t = NtpTimestamp::from_bits(0xeeac_f644_8000_0000);
        assert_eq!(t.seconds(), 0xeeac_f644);
        assert_eq!(t.fraction(), 0x8000_0000);
        assert_eq!(t.fraction_micros(), 500_000);
        assert_eq!(NtpTimestamp::from_parts(0xeeac_f644, 0x8000_0000), t);
        assert!(NtpTimestamp::ZERO.is_zero());
        assert_eq!(
            NtpTimestamp::from_parts(0, u32::MAX).fraction_micros(),
            999_999
        );
    }

    #[test]
    fn era_zero_maps_to_its_unix_time() {
        // 2026-11-22T05:04:04Z as chrony sent it.
        let t = NtpTimestamp::from_parts(0xeeac_f644, 0);
        assert_eq!(
            t.to_unix(JAN_2024),
            Some(UnixTime::from_secs(0xeeac_f644 - 2_208_988_800))
        );
    }

    #[test]
    fn the_2036_wrap_continues_unix_time() {
        let last_of_era_zero = NtpTimestamp::from_parts(u32::MAX, u32::MAX);
        let first_of_era_one = NtpTimestamp::from_parts(0, 0);
        let just_after = NtpTimestamp::from_parts(1, 0x8000_0000);
        assert_eq!(
            last_of_era_zero.to_unix(JAN_2024),
            Some(UnixTime::from_micros(ERA_ONE_START * 1_000_000 - 1))
        );
        assert_eq!(
            first_of_era_one.to_unix(JAN_2024),
            Some(UnixTime::from_secs(ERA_ONE_START))
        );
        assert_eq!(
            just_after.to_unix(JAN_2024),
            Some(UnixTime::from_micros(
                (ERA_ONE_START + 1) * 1_000_000 + 500_000
            ))
        );
    }

    #[test]
    fn the_window_starts_at_the_lower_bound() {
        // The NTP second equal to the bound stays in era 0 ...
        let bound_ntp = (JAN_2024.as_secs() as i64 + NTP_TO_UNIX_SECONDS) as u32;
        let at_bound = NtpTimestamp::from_parts(bound_ntp, 0);
        assert_eq!(at_bound.to_unix(JAN_2024), Some(JAN_2024));
        // ... one second earlier is read as 136 years later, in era 1.
        let before_bound = NtpTimestamp::from_parts(bound_ntp - 1, 0);
        assert_eq!(
            before_bound.to_unix(JAN_2024),
            Some(UnixTime::from_secs(JAN_2024.as_secs() - 1 + (1 << 32)))
        );
    }

    #[test]
    fn a_bound_past_2036_moves_every_timestamp_to_era_one() {
        let bound = UnixTime::from_secs(ERA_ONE_START + 100);
        let t = NtpTimestamp::from_parts(200, 0);
        assert_eq!(
            t.to_unix(bound),
            Some(UnixTime::from_secs(ERA_ONE_START + 200))
        );
        // And a bound at the Unix epoch still puts 1900..1970 in era 1.
        let t = NtpTimestamp::from_parts(0, 0);
        assert_eq!(
            t.to_unix(UnixTime::EPOCH),
            Some(UnixTime::from_secs(ERA_ONE_START))
        );
    }

    #[test]
    fn absurd_bounds_give_none_not_a_panic() {
        let t = NtpTimestamp::from_parts(u32::MAX, u32::MAX);
        assert_eq!(t.to_unix(UnixTime::from_micros(u64::MAX)), None);
        assert_eq!(t.to_unix(UnixTime::from_secs(u64::MAX / 1_000_000)), None);
    }

    #[test]
    fn unix_time_splits_and_prints() {
        let t = UnixTime::from_micros(1_704_067_200_000_042);
        assert_eq!(t.as_secs(), 1_704_067_200);
        assert_eq!(t.subsec_micros(), 42);
        let mut text = [0u8; 32];
        let mut cursor = Cursor(&mut text, 0);
        core::fmt::write(&mut cursor, format_args!("{t}")).unwrap();
        let len = cursor.1;
        assert_eq!(&text[..len], b"1704067200.000042");
    }

    struct Cursor<'a>(&'a mut [u8], usize);

    impl core::fmt::Write for Cursor<'_> {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            let end = self.1 + s.len();
            self.0
                .get_mut(self.1..end)
                .ok_or(core::fmt::Error)?
                .copy_from_slice(s.as_bytes());
            self.1 = end;
            Ok(())
        }
    }
}
