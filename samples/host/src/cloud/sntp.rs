//! An SNTPv4 server ([RFC 4330 §5], server mode 4 of [RFC 5905 §7.3]),
//! sans-IO: a client's request and the times it was received and is sent
//! in, the reply out.
//!
//! The emulated cloud's clock is whatever the caller reads (the host's
//! `SystemTime` in the demo), so the server calls itself a primary server
//! (stratum 1) with an uncalibrated local reference, "LOCL", by default.
//! Only client-mode (3) requests are answered: a server or broadcast packet
//! sent to port 123 gets no reply, so the server cannot be made to loop or
//! reflect.
//!
//! The packet view is the client's own ([`SntpPacket`]).
//!
//! [RFC 4330 §5]: https://www.rfc-editor.org/rfc/rfc4330#section-5
//! [RFC 5905 §7.3]: https://www.rfc-editor.org/rfc/rfc5905#section-7.3

use core::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use duet_netstack::sntp::packet::HEADER_LEN;
use duet_netstack::sntp::{LeapIndicator, Mode, NTP_TO_UNIX_SECONDS, NtpTimestamp, SntpPacket};

/// A reply: the 48-byte header, no extension fields or MAC.
pub const REPLY_LEN: usize = HEADER_LEN;

/// Root dispersion claimed, in NTP short format (16.16 s): about 1 ms, the
/// scheduling jitter of a host process.
const ROOT_DISPERSION: u32 = 0x0000_0042;

/// Who the server says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SntpServerConfig {
    /// 1 (primary) to 15 (RFC 5905 §7.3); 0 would be a kiss-o'-death.
    pub stratum: u8,
    /// At stratum 1, four ASCII characters naming the reference clock
    /// (RFC 4330 §4, Figure 2), e.g. "LOCL" or "DUET".
    pub reference_id: [u8; 4],
    /// log2 of the clock's resolution in seconds: -20 is about 1 µs.
    pub precision: i8,
}

impl Default for SntpServerConfig {
    /// Stratum 1, "LOCL", microsecond precision.
    fn default() -> Self {
        SntpServerConfig {
            stratum: 1,
            reference_id: *b"LOCL",
            precision: -20,
        }
    }
}

/// Why a datagram got no reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SntpServerError {
    /// Shorter than the 48-byte header.
    Truncated { len: usize },
    /// Version 0, or above 4 (RFC 4330 §5 answers 1 to 4).
    UnsupportedVersion { version: u8 },
    /// Not a client request (mode 3).
    NotClientMode { mode: u8 },
    /// The clock reads before 1970, or beyond NTP's reach.
    ClockOutOfRange,
    /// The output buffer is shorter than [`REPLY_LEN`].
    BufferTooSmall,
}

impl fmt::Display for SntpServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SntpServerError::Truncated { len } => {
                write!(f, "NTP packet truncated ({len} bytes, need 48)")
            }
            SntpServerError::UnsupportedVersion { version } => {
                write!(f, "unsupported NTP version {version}")
            }
            SntpServerError::NotClientMode { mode } => {
                write!(f, "NTP packet in mode {mode}, not a client request")
            }
            SntpServerError::ClockOutOfRange => f.write_str("clock out of NTP range"),
            SntpServerError::BufferTooSmall => f.write_str("buffer too small for the NTP reply"),
        }
    }
}

impl core::error::Error for SntpServerError {}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SntpServerStats {
    pub answered: u32,
    /// Datagrams left unanswered, for any [`SntpServerError`].
    pub refused: u32,
}

/// The time server.
#[derive(Debug, Clone)]
pub struct SntpServer {
    config: SntpServerConfig,
    stats: SntpServerStats,
}

impl SntpServer {
    pub fn new(config: SntpServerConfig) -> Self {
        SntpServer {
            config,
            stats: SntpServerStats::default(),
        }
    }

    pub fn stats(&self) -> &SntpServerStats {
        &self.stats
    }

    /// Answers `request`, received at `received` (T2), with a reply sent
    /// at `transmitted` (T3) written into `out`: its length, or why there
    /// is none.
    pub fn answer(
        &mut self,
        request: &[u8],
        received: SystemTime,
        transmitted: SystemTime,
        out: &mut [u8],
    ) -> Result<usize, SntpServerError> {
        let result = self.reply(request, received, transmitted, out);
        let counter = match result {
            Ok(_) => &mut self.stats.answered,
            Err(_) => &mut self.stats.refused,
        };
        *counter = counter.wrapping_add(1);
        result
    }

    /// The reply fields of RFC 4330 §5, in the header's order.
    fn reply(
        &self,
        request: &[u8],
        received: SystemTime,
        transmitted: SystemTime,
        out: &mut [u8],
    ) -> Result<usize, SntpServerError> {
        let request = SntpPacket::new_checked(request)
            .map_err(|_| SntpServerError::Truncated { len: request.len() })?;
        let version = request.version();
        if !(1..=4).contains(&version) {
            return Err(SntpServerError::UnsupportedVersion { version });
        }
        if request.mode() != Mode::Client {
            return Err(SntpServerError::NotClientMode {
                mode: request.mode().to_bits(),
            });
        }
        let receive = ntp_timestamp(received).ok_or(SntpServerError::ClockOutOfRange)?;
        let transmit = ntp_timestamp(transmitted).ok_or(SntpServerError::ClockOutOfRange)?;
        let header = out
            .get_mut(..REPLY_LEN)
            .ok_or(SntpServerError::BufferTooSmall)?;
        header.fill(0);
        let mut reply = SntpPacket::new_unchecked(header);
        reply.set_leap_indicator(LeapIndicator::NoWarning);
        // VN copied, so a version 3 client reads a version 3 reply.
        reply.set_version(version);
        reply.set_mode(Mode::Server);
        reply.set_stratum(self.config.stratum);
        // Poll copied from the request (RFC 4330 §5).
        reply.set_poll(request.poll());
        reply.set_precision(self.config.precision);
        reply.set_root_delay(0);
        reply.set_root_dispersion(ROOT_DISPERSION);
        reply.set_reference_id(self.config.reference_id);
        // The local clock is its own reference: "last set" is now.
        reply.set_reference_timestamp(receive);
        // The client's transmit timestamp, echoed: its proof of freshness.
        reply.set_origin_timestamp(request.transmit_timestamp());
        reply.set_receive_timestamp(receive);
        reply.set_transmit_timestamp(transmit);
        Ok(REPLY_LEN)
    }
}

/// `time` as an NTP timestamp (RFC 5905 §6): seconds since 1900 modulo
/// 2^32 (so 2036 and later land in era 1), and the fraction in 2^-32 s.
/// `None` before 1970.
pub fn ntp_timestamp(time: SystemTime) -> Option<NtpTimestamp> {
    let since_unix = time.duration_since(UNIX_EPOCH).ok()?;
    let seconds = since_unix
        .as_secs()
        .checked_add(NTP_TO_UNIX_SECONDS.unsigned_abs())?;
    let fraction = (u64::from(since_unix.subsec_nanos()) << 32) / 1_000_000_000;
    // Truncation to 32 bits is the era wrap.
    Some(NtpTimestamp::from_parts(seconds as u32, fraction as u32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use duet_netstack::rand::Rng;
    use duet_netstack::sntp::packet::emit_client_request;
    use duet_netstack::sntp::{SntpClient, SntpConfig, UnixTime};
    use duet_netstack::{Duration, Instant};
    use std::time::Duration as StdDuration;

    /// 2026-11-22T05:04:04.5Z: T2 and T3 in the tests.
    fn server_time() -> SystemTime {
        UNIX_EPOCH + StdDuration::from_millis(1_795_323_844_500)
    }

    fn request(transmit: NtpTimestamp) -> [u8; 48] {
        let mut bytes = [0u8; 48];
        emit_client_request(&mut bytes, transmit).unwrap();
        bytes
    }

    #[test]
    fn a_request_gets_every_field_of_rfc_4330_section_5() {
        let mut server = SntpServer::new(SntpServerConfig {
            reference_id: *b"DUET",
            ..SntpServerConfig::default()
        });
        let mut bytes = request(NtpTimestamp::from_bits(0x0123_4567_89ab_cdef));
        bytes[2] = 6; // poll 2^6 s
        let mut out = [0xffu8; 64];
        let later = server_time() + StdDuration::from_millis(250);
        assert_eq!(
            server.answer(&bytes, server_time(), later, &mut out),
            Ok(48)
        );
        let reply = SntpPacket::new_checked(&out[..48]).unwrap();
        assert_eq!(reply.leap_indicator(), LeapIndicator::NoWarning);
        assert_eq!(reply.version(), 4);
        assert_eq!(reply.mode(), Mode::Server);
        assert_eq!(reply.stratum(), 1);
        assert_eq!(reply.poll(), 6);
        assert_eq!(reply.precision(), -20);
        assert_eq!(reply.root_delay(), 0);
        assert_eq!(reply.root_dispersion(), ROOT_DISPERSION);
        assert_eq!(&reply.reference_id(), b"DUET");
        let seconds = 1_795_323_844u32 + 2_208_988_800;
        let receive = NtpTimestamp::from_parts(seconds, 0x8000_0000);
        assert_eq!(reply.reference_timestamp(), receive);
        assert_eq!(
            reply.origin_timestamp(),
            NtpTimestamp::from_bits(0x0123_4567_89ab_cdef)
        );
        assert_eq!(reply.receive_timestamp(), receive);
        assert_eq!(
            reply.transmit_timestamp(),
            NtpTimestamp::from_parts(seconds, 0xc000_0000)
        );
        assert_eq!(&out[48..], &[0xff; 16], "nothing past the header");
        assert_eq!(server.stats().answered, 1);
    }

    #[test]
    fn duets_client_takes_the_time_from_the_reply() {
        let mut client = SntpClient::new(SntpConfig::default(), Rng::new(1));
        let mut server = SntpServer::new(SntpServerConfig::default());
        let sent_at = Instant::from_secs(100);
        let mut request = [0u8; 48];
        let len = client.poll_transmit(sent_at, &mut request).unwrap();
        let mut reply = [0u8; REPLY_LEN];
        let len = server
            .answer(&request[..len], server_time(), server_time(), &mut reply)
            .unwrap();
        // Sent at 100 s and back at 100.002 s: the server's time is placed
        // halfway, 1 ms after the request left.
        let back_at = sent_at + Duration::from_millis(2);
        let sample = client.handle_datagram(back_at, 123, &reply[..len]).unwrap();
        assert_eq!(sample.stratum, 1);
        assert_eq!(sample.round_trip_delay, Duration::from_millis(2));
        assert_eq!(
            client.now_unix(back_at),
            Some(UnixTime::from_micros(1_795_323_844_501_000))
        );
    }

    #[test]
    fn the_version_is_copied_and_other_versions_and_modes_are_refused() {
        let mut server = SntpServer::new(SntpServerConfig::default());
        let mut out = [0u8; REPLY_LEN];
        let mut bytes = request(NtpTimestamp::from_bits(1));
        bytes[0] = (3 << 3) | 3; // NTPv3 client
        server
            .answer(&bytes, server_time(), server_time(), &mut out)
            .unwrap();
        assert_eq!(SntpPacket::new_unchecked(&out).version(), 3);
        for version in [0u8, 5, 7] {
            bytes[0] = (version << 3) | 3;
            assert_eq!(
                server.answer(&bytes, server_time(), server_time(), &mut out),
                Err(SntpServerError::UnsupportedVersion { version })
            );
        }
        for mode in [0u8, 1, 2, 4, 5, 6, 7] {
            bytes[0] = (4 << 3) | mode;
            assert_eq!(
                server.answer(&bytes, server_time(), server_time(), &mut out),
                Err(SntpServerError::NotClientMode { mode })
            );
        }
        assert_eq!(server.stats().refused, 10);
    }

    #[test]
    fn short_requests_small_buffers_and_early_clocks_are_refused() {
        let mut server = SntpServer::new(SntpServerConfig::default());
        let bytes = request(NtpTimestamp::from_bits(1));
        let mut out = [0u8; REPLY_LEN];
        for len in 0..48 {
            assert_eq!(
                server.answer(&bytes[..len], server_time(), server_time(), &mut out),
                Err(SntpServerError::Truncated { len })
            );
        }
        // Extension fields after the header are ignored.
        let long = [&bytes[..], &[0u8; 20]].concat();
        assert_eq!(
            server.answer(&long, server_time(), server_time(), &mut out),
            Ok(48)
        );
        assert_eq!(
            server.answer(&bytes, server_time(), server_time(), &mut out[..47]),
            Err(SntpServerError::BufferTooSmall)
        );
        let before_1970 = UNIX_EPOCH - StdDuration::from_secs(1);
        assert_eq!(
            server.answer(&bytes, before_1970, server_time(), &mut out),
            Err(SntpServerError::ClockOutOfRange)
        );
    }

    #[test]
    fn timestamps_cross_the_2036_era_wrap() {
        let era_one = UNIX_EPOCH + StdDuration::from_secs(2_085_978_496);
        assert_eq!(ntp_timestamp(era_one), Some(NtpTimestamp::from_parts(0, 0)));
        let before = era_one - StdDuration::from_micros(1);
        let t = ntp_timestamp(before).unwrap();
        assert_eq!(t.seconds(), u32::MAX);
        assert_eq!(t.fraction_micros(), 999_998, "rounded down twice");
        assert_eq!(
            ntp_timestamp(UNIX_EPOCH),
            Some(NtpTimestamp::from_parts(2_208_988_800, 0))
        );
    }
}
