//! Wall-clock time: SAS expiries are Unix seconds, DPS timestamps are
//! ISO 8601 UTC.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use duet_netstack::sntp::UnixTime;

/// Seconds since the Unix epoch now (0 if the clock is before 1970).
pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How long until Unix second `expiry` (zero if it has passed).
pub(crate) fn until_unix(expiry: u64) -> Duration {
    let at = UNIX_EPOCH + Duration::from_secs(expiry);
    at.duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
}

/// `unix` as DPS writes times: `2020-04-10T03:11:13.0000000Z`.
pub(crate) fn iso8601(unix: u64) -> String {
    let utc = UnixTime::from_secs(unix).utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.0000000Z",
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_match_known_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.0000000Z");
        // `date -u -d @1586488273`: the vectors' createdDateTimeUtc second.
        assert_eq!(iso8601(1_586_488_273), "2020-04-10T03:11:13.0000000Z");
        // A leap day.
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00.0000000Z");
    }

    #[test]
    fn past_expiries_are_due_now() {
        assert_eq!(until_unix(1), Duration::ZERO);
        assert!(until_unix(now_unix() + 100) > Duration::from_secs(98));
    }
}
