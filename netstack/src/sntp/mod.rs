//! SNTP client ([RFC 4330], with the NTPv4 packet rules of [RFC 5905]):
//! wall-clock time for a device that has none.
//!
//! A device needs the date to check a TLS certificate or to sign a SAS token,
//! and has only a monotonic tick counter after boot. One request/reply
//! exchange with a time server gives four timestamps ([RFC 4330 §5]): T1 when
//! the request left, T2 when the server got it, T3 when the reply left, T4
//! when it arrived. T2 and T3 are on the server's clock; this client takes T1
//! and T4 from the caller's monotonic [`Instant`], so the computed offset is
//! "Unix time minus monotonic time" and [`SntpClient::now_unix`] is simply
//! `now + offset`, with no wall clock of our own to set.
//!
//! The client is sans-IO, like the stack's other engines: the caller owns the
//! UDP socket and the clock, and drives it with
//! [`poll_transmit`](SntpClient::poll_transmit) (a request is due),
//! [`handle_datagram`](SntpClient::handle_datagram) (a reply came),
//! [`poll_timeout`](SntpClient::poll_timeout) and
//! [`handle_timeout`](SntpClient::handle_timeout).
//!
//! Replies are checked as [RFC 4330 §5] asks, and a refused reply never
//! touches the clock. The request's transmit timestamp is random rather than
//! our time ([RFC 5905 §8]); the server echoes it as the origin timestamp, so
//! an attacker who cannot see the request cannot forge a matching reply.
//!
//! [RFC 4330]: https://www.rfc-editor.org/rfc/rfc4330
//! [RFC 4330 §5]: https://www.rfc-editor.org/rfc/rfc4330#section-5
//! [RFC 5905]: https://www.rfc-editor.org/rfc/rfc5905
//! [RFC 5905 §8]: https://www.rfc-editor.org/rfc/rfc5905#section-8

mod error;
mod on_stack;
pub mod packet;
mod timestamp;

#[cfg(test)]
mod tests;

pub use error::{SntpError, SntpStats};
pub use on_stack::run_on_stack;
pub use packet::{KissCode, LeapIndicator, Mode, SntpPacket};
pub use timestamp::{NTP_TO_UNIX_SECONDS, NtpTimestamp, UnixTime, Utc};

use crate::rand::Rng;
use crate::time::{Duration, Instant};

/// The NTP server port ([RFC 4330 §4]).
///
/// [RFC 4330 §4]: https://www.rfc-editor.org/rfc/rfc4330#section-4
pub const NTP_PORT: u16 = 123;

/// The shortest poll interval allowed: [RFC 4330 §10] forbids a client to
/// poll more often than every 15 seconds.
///
/// [RFC 4330 §10]: https://www.rfc-editor.org/rfc/rfc4330#section-10
pub const MIN_POLL_INTERVAL: Duration = Duration::from_secs(15);

/// The longest poll interval: NTP's MAXPOLL of 2^17 s, about 36 hours
/// ([RFC 5905 §7.3]). A RATE kiss-o'-death never pushes the interval past it.
///
/// [RFC 5905 §7.3]: https://www.rfc-editor.org/rfc/rfc5905#section-7.3
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(1 << 17);

/// The shortest wait for a reply: anything shorter would flood the server.
const MIN_RETRY_TIMEOUT: Duration = Duration::from_millis(10);

/// 2024-01-01T00:00:00Z: no device running this code is earlier.
const DEFAULT_NOT_BEFORE: UnixTime = UnixTime::from_secs(1_704_067_200);

/// How the client polls and reads time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SntpConfig {
    /// Replies from any other source port are refused. [`NTP_PORT`] for a
    /// real server.
    pub server_port: u16,
    /// Time between a good reply and the next request; raised to
    /// [`MIN_POLL_INTERVAL`] if shorter.
    pub poll_interval: Duration,
    /// How long the first request waits for a reply; each unanswered
    /// request doubles it, up to `max_retry_timeout`.
    pub initial_retry_timeout: Duration,
    pub max_retry_timeout: Duration,
    /// The earliest Unix time a server may report. NTP timestamps do not
    /// carry their era, so each is read as the time in the 136 years that
    /// start here (see [`NtpTimestamp::to_unix`]).
    pub not_before: UnixTime,
}

impl SntpConfig {
    /// Port 123, a reply every 1024 s (NTP's default MAXPOLL), retries after
    /// 1 s doubling to 64 s, timestamps no earlier than 2024.
    pub const fn new() -> Self {
        SntpConfig {
            server_port: NTP_PORT,
            poll_interval: Duration::from_secs(1024),
            initial_retry_timeout: Duration::from_secs(1),
            max_retry_timeout: Duration::from_secs(64),
            not_before: DEFAULT_NOT_BEFORE,
        }
    }
}

impl Default for SntpConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// One accepted reply, reduced to what a caller may want to log or check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TimeSample {
    /// T4: when the reply arrived, on the caller's monotonic clock.
    pub received_at: Instant,
    /// The estimated Unix time at `received_at`: T4 corrected by the offset.
    pub unix_time: UnixTime,
    /// T3: the server's clock when it sent the reply.
    pub server_transmit_time: UnixTime,
    /// Round-trip delay minus the server's processing time, floored at zero
    /// ([RFC 4330 §5]). The time is known to within half of it.
    ///
    /// [RFC 4330 §5]: https://www.rfc-editor.org/rfc/rfc4330#section-5
    pub round_trip_delay: Duration,
    pub stratum: u8,
    pub leap_indicator: LeapIndicator,
}

/// Where the client is in its poll cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No request outstanding; the next is due at `next_poll`.
    Idle { next_poll: Instant },
    /// A request is out; its reply must echo `transmit` before `deadline`.
    AwaitingReply {
        sent_at: Instant,
        transmit: NtpTimestamp,
        deadline: Instant,
    },
    /// The server sent DENY or RSTR: it is not asked again ([RFC 4330 §8]).
    ///
    /// [RFC 4330 §8]: https://www.rfc-editor.org/rfc/rfc4330#section-8
    Stopped { code: KissCode },
}

/// An SNTP client for one server: a sans-IO state machine.
#[derive(Debug, Clone)]
pub struct SntpClient {
    config: SntpConfig,
    rng: Rng,
    state: State,
    /// The configured interval, raised by RATE kiss-o'-death replies.
    poll_interval: Duration,
    /// The wait for the next request's reply, doubled by each timeout.
    retry_timeout: Duration,
    /// Unix time minus monotonic time, in microseconds, from the last
    /// accepted reply.
    clock_offset_micros: Option<i64>,
    last_sample: Option<TimeSample>,
    stats: SntpStats,
}

impl SntpClient {
    /// A client that sends its first request at the first
    /// [`poll_transmit`](Self::poll_transmit). `rng` makes the transmit
    /// timestamps unpredictable; seed it from a hardware source.
    pub fn new(config: SntpConfig, rng: Rng) -> Self {
        let initial_retry_timeout = config.initial_retry_timeout.max(MIN_RETRY_TIMEOUT);
        let config = SntpConfig {
            poll_interval: config
                .poll_interval
                .clamp(MIN_POLL_INTERVAL, MAX_POLL_INTERVAL),
            initial_retry_timeout,
            max_retry_timeout: config.max_retry_timeout.max(initial_retry_timeout),
            ..config
        };
        SntpClient {
            config,
            rng,
            state: State::Idle {
                next_poll: Instant::ZERO,
            },
            poll_interval: config.poll_interval,
            retry_timeout: config.initial_retry_timeout,
            clock_offset_micros: None,
            last_sample: None,
            stats: SntpStats::default(),
        }
    }

    /// Writes a request into `buf` and returns its length if one is due;
    /// the caller sends it to the server. `None` when no request is due,
    /// after a DENY/RSTR, or when `buf` is shorter than 48 bytes.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.handle_timeout(now);
        let State::Idle { next_poll } = self.state else {
            return None;
        };
        if now < next_poll {
            return None;
        }
        let transmit = self.fresh_transmit_timestamp();
        let len = packet::emit_client_request(buf, transmit)?;
        self.state = State::AwaitingReply {
            sent_at: now,
            transmit,
            deadline: now + self.retry_timeout,
        };
        self.stats.requests_sent = self.stats.requests_sent.wrapping_add(1);
        trace!(
            "sntp: request sent, reply due within {}",
            self.retry_timeout
        );
        Some(len)
    }

    /// A random, non-zero transmit timestamp: zero means "unset" to servers.
    fn fresh_transmit_timestamp(&mut self) -> NtpTimestamp {
        NtpTimestamp::from_bits(self.rng.next_u64().max(1))
    }

    /// When the client next needs [`poll_transmit`](Self::poll_transmit) or
    /// [`handle_timeout`](Self::handle_timeout); `None` once stopped.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Idle { next_poll } => Some(next_poll),
            State::AwaitingReply { deadline, .. } => Some(deadline),
            State::Stopped { .. } => None,
        }
    }

    /// Gives up on an unanswered request once its deadline has passed: the
    /// next request is due at once and waits twice as long, up to the cap.
    pub fn handle_timeout(&mut self, now: Instant) {
        let State::AwaitingReply { deadline, .. } = self.state else {
            return;
        };
        if now < deadline {
            return;
        }
        self.stats.timeouts = self.stats.timeouts.wrapping_add(1);
        self.retry_timeout = doubled(self.retry_timeout).min(self.config.max_retry_timeout);
        self.state = State::Idle { next_poll: now };
        debug!(
            "sntp: no reply, retrying with timeout {}",
            self.retry_timeout
        );
    }

    /// Takes a datagram the caller received from the server's address.
    /// A good reply sets the clock and schedules the next poll; any other
    /// datagram is refused with the reason, counted in [`stats`](Self::stats),
    /// and leaves the clock as it was.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from_port: u16,
        bytes: &[u8],
    ) -> Result<TimeSample, SntpError> {
        let result = self.check_reply(now, from_port, bytes);
        match &result {
            Ok(_) => {
                self.stats.samples_accepted = self.stats.samples_accepted.wrapping_add(1);
            }
            Err(error) => {
                self.stats.count(error);
                debug!("sntp: reply refused: {}", error);
            }
        }
        result
    }

    /// The checks of [RFC 4330 §5], cheapest and least trusting first: the
    /// origin timestamp is matched before anything the reply says is acted
    /// on, so a spoofed kiss-o'-death cannot silence the client.
    ///
    /// [RFC 4330 §5]: https://www.rfc-editor.org/rfc/rfc4330#section-5
    fn check_reply(
        &mut self,
        now: Instant,
        from_port: u16,
        bytes: &[u8],
    ) -> Result<TimeSample, SntpError> {
        if from_port != self.config.server_port {
            return Err(SntpError::WrongSourcePort { port: from_port });
        }
        let reply = SntpPacket::new_checked(bytes)?;
        let version = reply.version();
        if !(3..=packet::VERSION_4).contains(&version) {
            return Err(SntpError::UnsupportedVersion { version });
        }
        if reply.mode() != Mode::Server {
            return Err(SntpError::NotServerMode {
                mode: reply.mode().to_bits(),
            });
        }
        let State::AwaitingReply {
            sent_at, transmit, ..
        } = self.state
        else {
            return Err(SntpError::UnexpectedReply);
        };
        if reply.origin_timestamp() != transmit {
            return Err(SntpError::OriginMismatch);
        }
        if reply.stratum() == 0 {
            return Err(self.obey_kiss_of_death(now, &reply));
        }
        if reply.leap_indicator() == LeapIndicator::Unsynchronized {
            return Err(SntpError::Unsynchronized);
        }
        if reply.stratum() > 15 {
            return Err(SntpError::StratumTooHigh {
                stratum: reply.stratum(),
            });
        }
        if reply.transmit_timestamp().is_zero() {
            return Err(SntpError::ZeroTransmitTimestamp);
        }
        let sample = self.measure(sent_at, now, &reply)?;
        self.state = State::Idle {
            next_poll: now + self.poll_interval,
        };
        self.retry_timeout = self.config.initial_retry_timeout;
        self.last_sample = Some(sample);
        debug!(
            "sntp: time {} (delay {})",
            sample.unix_time, sample.round_trip_delay
        );
        Ok(sample)
    }

    /// Acts on a stratum-0 reply ([RFC 4330 §8], [RFC 5905 §7.4]) that
    /// answers our request, and returns the error to report.
    ///
    /// [RFC 4330 §8]: https://www.rfc-editor.org/rfc/rfc4330#section-8
    /// [RFC 5905 §7.4]: https://www.rfc-editor.org/rfc/rfc5905#section-7.4
    fn obey_kiss_of_death(&mut self, now: Instant, reply: &SntpPacket<&[u8]>) -> SntpError {
        let code = reply.kiss_code();
        if code == KissCode::RATE {
            // Poll at most half as often, and no more often than the
            // server's own poll field asks.
            let server_poll_exponent = reply.poll().clamp(4, 17);
            let server_asks = Duration::from_secs(1 << server_poll_exponent);
            self.poll_interval = doubled(self.poll_interval)
                .max(server_asks)
                .min(MAX_POLL_INTERVAL);
            self.retry_timeout = self.config.initial_retry_timeout;
            self.state = State::Idle {
                next_poll: now + self.poll_interval,
            };
            SntpError::RateLimited
        } else if code == KissCode::DENY || code == KissCode::RSTR {
            self.state = State::Stopped { code };
            SntpError::AccessDenied(code)
        } else {
            SntpError::KissOfDeath(code)
        }
    }

    /// Reads T2 and T3 off the reply and sets the clock from them and
    /// T1 = `sent_at`, T4 = `now`.
    fn measure(
        &mut self,
        sent_at: Instant,
        now: Instant,
        reply: &SntpPacket<&[u8]>,
    ) -> Result<TimeSample, SntpError> {
        let out_of_range = SntpError::TimestampOutOfRange;
        let server_transmit_time = reply
            .transmit_timestamp()
            .to_unix(self.config.not_before)
            .ok_or(out_of_range)?;
        let t3 = i64::try_from(server_transmit_time.as_micros()).map_err(|_| out_of_range)?;
        // T2 is placed relative to T3 rather than in its own era, so a reply
        // straddling the 2036 wrap (or a server leaving T2 unset) stays sane.
        let processing =
            ntp_difference_micros(reply.receive_timestamp(), reply.transmit_timestamp());
        let t2 = t3.checked_sub(processing).ok_or(out_of_range)?;
        let t1 = i64::try_from(sent_at.as_micros()).map_err(|_| out_of_range)?;
        let t4 = i64::try_from(now.as_micros()).map_err(|_| out_of_range)?;
        let (offset, delay) = offset_and_delay(t1, t2, t3, t4).ok_or(out_of_range)?;
        let unix_now = t4.checked_add(offset).ok_or(out_of_range)?;
        let unix_time = u64::try_from(unix_now).map_err(|_| out_of_range)?;
        self.clock_offset_micros = Some(offset);
        Ok(TimeSample {
            received_at: now,
            unix_time: UnixTime::from_micros(unix_time),
            server_transmit_time,
            round_trip_delay: Duration::from_micros(u64::try_from(delay).unwrap_or(0)),
            stratum: reply.stratum(),
            leap_indicator: reply.leap_indicator(),
        })
    }

    /// The Unix time at monotonic `now`: the last accepted reply's time plus
    /// the monotonic time elapsed since. `None` before the first good reply.
    pub fn now_unix(&self, now: Instant) -> Option<UnixTime> {
        let monotonic = i64::try_from(now.as_micros()).ok()?;
        let unix = monotonic.checked_add(self.clock_offset_micros?)?;
        Some(UnixTime::from_micros(u64::try_from(unix).ok()?))
    }

    /// The last accepted reply, if any.
    pub fn last_sample(&self) -> Option<&TimeSample> {
        self.last_sample.as_ref()
    }

    /// The kiss code (DENY or RSTR) that stopped the client, if one did.
    pub fn stopped_by(&self) -> Option<KissCode> {
        match self.state {
            State::Stopped { code } => Some(code),
            _ => None,
        }
    }

    /// The interval between good replies: the configured one, raised by any
    /// RATE kiss-o'-death since.
    pub fn poll_interval(&self) -> Duration {
        self.poll_interval
    }

    pub fn stats(&self) -> &SntpStats {
        &self.stats
    }
}

fn doubled(d: Duration) -> Duration {
    Duration::from_micros(d.as_micros().saturating_mul(2))
}

/// `later - earlier` for two NTP timestamps less than 68 years apart, in
/// microseconds: the 64-bit difference read as signed ([RFC 5905 §6] does
/// its arithmetic this way so that eras cancel out).
///
/// [RFC 5905 §6]: https://www.rfc-editor.org/rfc/rfc5905#section-6
fn ntp_difference_micros(earlier: NtpTimestamp, later: NtpTimestamp) -> i64 {
    let difference = later.to_bits().wrapping_sub(earlier.to_bits()) as i64;
    let seconds = difference >> 32;
    let fraction = (difference & 0xffff_ffff) as u64;
    // |seconds| < 2^31, so neither product can overflow.
    seconds * 1_000_000 + ((fraction * 1_000_000) >> 32) as i64
}

/// Clock offset θ and round-trip delay δ of [RFC 4330 §5], all in
/// microseconds:
///
/// ```text
/// θ = ((T2 - T1) + (T3 - T4)) / 2        δ = (T4 - T1) - (T3 - T2)
/// ```
/// T1 and T4 are on our clock, T2 and T3 on the server's; θ is what to add to
/// ours to get the server's. `None` on overflow, which needs timestamps
/// hundreds of millennia apart.
///
/// [RFC 4330 §5]: https://www.rfc-editor.org/rfc/rfc4330#section-5
fn offset_and_delay(t1: i64, t2: i64, t3: i64, t4: i64) -> Option<(i64, i64)> {
    let outbound = t2.checked_sub(t1)?;
    let inbound = t3.checked_sub(t4)?;
    // Halved toward zero, as `/ 2` would, by a shift: at opt-level "z"
    // `/ 2` became a call to the runtime's 64-bit division (≈ 1 KB).
    let sum = outbound.checked_add(inbound)?;
    let offset = (sum + i64::from(sum < 0)) >> 1;
    let delay = t4.checked_sub(t1)?.checked_sub(t3.checked_sub(t2)?)?;
    Some((offset, delay))
}
