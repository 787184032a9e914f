//! Why a datagram was not taken as a time sample, and how often each reason
//! came up.
//!
//! Each rule of [RFC 4330 §5] that a reply can break has its own variant and
//! its own counter, so a device in the field can tell a misconfigured server
//! (wrong mode, version) from an attack (origin mismatch) from a server
//! asking to be left alone (kiss-o'-death).
//!
//! [RFC 4330 §5]: https://www.rfc-editor.org/rfc/rfc4330#section-5

use core::fmt;

use super::packet::KissCode;

/// Why [`SntpClient::handle_datagram`](super::SntpClient::handle_datagram)
/// refused a datagram. None of them changes the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SntpError {
    /// The datagram came from another port than the server's (RFC 4330 §5:
    /// replies come from port 123).
    WrongSourcePort { port: u16 },
    /// Shorter than the 48-byte NTP header.
    Truncated { len: usize },
    /// Not an NTP version 3 or 4 packet.
    UnsupportedVersion { version: u8 },
    /// Not a server reply (mode 4), e.g. a reflected request.
    NotServerMode { mode: u8 },
    /// No request is outstanding: a duplicate, or a reply that came after
    /// its request timed out or was already answered.
    UnexpectedReply,
    /// The origin timestamp is not the transmit timestamp of our request:
    /// a stale or spoofed reply (RFC 5905 §8 "bogus packet").
    OriginMismatch,
    /// Kiss-o'-death RATE: the server asks us to poll less often; the poll
    /// interval has been at least doubled.
    RateLimited,
    /// Kiss-o'-death DENY or RSTR: the server refuses us; the client has
    /// stopped querying it.
    AccessDenied(KissCode),
    /// A kiss-o'-death with another code: not a time, ignored.
    KissOfDeath(KissCode),
    /// Leap indicator 3: the server's own clock is not synchronised.
    Unsynchronized,
    /// Stratum above 15 (16 means unsynchronised; above is invalid).
    StratumTooHigh { stratum: u8 },
    /// A zero transmit timestamp: the server gave no time at all.
    ZeroTransmitTimestamp,
    /// The timestamps are beyond what Unix time in microseconds can hold.
    TimestampOutOfRange,
}

impl fmt::Display for SntpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SntpError::WrongSourcePort { port } => {
                write!(f, "SNTP reply from unexpected port {port}")
            }
            SntpError::Truncated { len } => {
                write!(f, "SNTP packet truncated ({len} bytes, need 48)")
            }
            SntpError::UnsupportedVersion { version } => {
                write!(f, "unsupported NTP version {version}")
            }
            SntpError::NotServerMode { mode } => {
                write!(f, "NTP packet in mode {mode}, not a server reply")
            }
            SntpError::UnexpectedReply => f.write_str("SNTP reply with no request outstanding"),
            SntpError::OriginMismatch => {
                f.write_str("SNTP reply does not echo our transmit timestamp")
            }
            SntpError::RateLimited => f.write_str("SNTP server sent kiss-o'-death RATE"),
            SntpError::AccessDenied(code) => {
                write!(f, "SNTP server denied access (kiss-o'-death {code})")
            }
            SntpError::KissOfDeath(code) => write!(f, "SNTP kiss-o'-death {code}"),
            SntpError::Unsynchronized => f.write_str("SNTP server clock is not synchronised"),
            SntpError::StratumTooHigh { stratum } => {
                write!(f, "SNTP server stratum {stratum} is above 15")
            }
            SntpError::ZeroTransmitTimestamp => f.write_str("SNTP reply has no transmit timestamp"),
            SntpError::TimestampOutOfRange => f.write_str("SNTP timestamp out of range"),
        }
    }
}

impl core::error::Error for SntpError {}

/// Counters of what the client sent, received and refused. They wrap after
/// 2^32 events, which a client polling every 15 s reaches in 2000 years.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SntpStats {
    pub requests_sent: u32,
    /// Requests that got no acceptable reply before their retry deadline.
    pub timeouts: u32,
    pub samples_accepted: u32,
    pub wrong_source_port: u32,
    pub truncated: u32,
    pub unsupported_version: u32,
    pub not_server_mode: u32,
    pub unexpected_reply: u32,
    pub origin_mismatch: u32,
    pub rate_limited: u32,
    pub access_denied: u32,
    pub other_kiss_of_death: u32,
    pub unsynchronized: u32,
    pub stratum_too_high: u32,
    pub zero_transmit_timestamp: u32,
    pub timestamp_out_of_range: u32,
}

impl SntpStats {
    /// Counts `error` under its own counter.
    pub(super) fn count(&mut self, error: &SntpError) {
        let counter = match error {
            SntpError::WrongSourcePort { .. } => &mut self.wrong_source_port,
            SntpError::Truncated { .. } => &mut self.truncated,
            SntpError::UnsupportedVersion { .. } => &mut self.unsupported_version,
            SntpError::NotServerMode { .. } => &mut self.not_server_mode,
            SntpError::UnexpectedReply => &mut self.unexpected_reply,
            SntpError::OriginMismatch => &mut self.origin_mismatch,
            SntpError::RateLimited => &mut self.rate_limited,
            SntpError::AccessDenied(_) => &mut self.access_denied,
            SntpError::KissOfDeath(_) => &mut self.other_kiss_of_death,
            SntpError::Unsynchronized => &mut self.unsynchronized,
            SntpError::StratumTooHigh { .. } => &mut self.stratum_too_high,
            SntpError::ZeroTransmitTimestamp => &mut self.zero_transmit_timestamp,
            SntpError::TimestampOutOfRange => &mut self.timestamp_out_of_range,
        };
        *counter = counter.wrapping_add(1);
    }

    /// Replies refused for any reason.
    pub fn rejected(&self) -> u32 {
        [
            self.wrong_source_port,
            self.truncated,
            self.unsupported_version,
            self.not_server_mode,
            self.unexpected_reply,
            self.origin_mismatch,
            self.rate_limited,
            self.access_denied,
            self.other_kiss_of_death,
            self.unsynchronized,
            self.stratum_too_high,
            self.zero_transmit_timestamp,
            self.timestamp_out_of_range,
        ]
        .iter()
        .fold(0u32, |sum, &n| sum.wrapping_add(n))
    }
}
