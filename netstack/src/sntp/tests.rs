//! The client against crafted replies: every rule of RFC 4330 §5, the
//! arithmetic, the era wrap and the poll schedule.

use super::*;

const SERVER_PORT: u16 = NTP_PORT;
/// 2026-11-22T05:04:04Z in NTP seconds (era 0).
const NTP_2026: u32 = 0xeeac_f644;
const UNIX_2026: u64 = NTP_2026 as u64 - NTP_TO_UNIX_SECONDS as u64;

fn client() -> SntpClient {
    SntpClient::new(SntpConfig::default(), Rng::new(42))
}

fn at_secs(secs: u64) -> Instant {
    Instant::from_secs(secs)
}

/// Sends the client's request at `now` and returns it.
fn request(client: &mut SntpClient, now: Instant) -> [u8; 48] {
    let mut buf = [0u8; 48];
    assert_eq!(client.poll_transmit(now, &mut buf), Some(48));
    buf
}

/// A good stratum-2 reply to `request`: T2 = `receive`, T3 = `transmit`.
fn reply_to(request: &[u8; 48], receive: NtpTimestamp, transmit: NtpTimestamp) -> [u8; 48] {
    let origin = SntpPacket::new_unchecked(&request[..]).transmit_timestamp();
    let mut bytes = [0u8; 48];
    let mut reply = SntpPacket::new_unchecked(&mut bytes[..]);
    reply.set_leap_indicator(LeapIndicator::NoWarning);
    reply.set_version(4);
    reply.set_mode(Mode::Server);
    reply.set_stratum(2);
    reply.set_poll(6);
    reply.set_precision(-20);
    reply.set_reference_id([192, 0, 2, 1]);
    reply.set_reference_timestamp(NtpTimestamp::from_parts(NTP_2026 - 60, 0));
    reply.set_origin_timestamp(origin);
    reply.set_receive_timestamp(receive);
    reply.set_transmit_timestamp(transmit);
    bytes
}

fn good_reply(request: &[u8; 48]) -> [u8; 48] {
    let t = NtpTimestamp::from_parts(NTP_2026, 0);
    reply_to(request, t, t)
}

/// `bytes` with `edit` applied through the view.
fn edited(mut bytes: [u8; 48], edit: impl FnOnce(&mut SntpPacket<&mut [u8]>)) -> [u8; 48] {
    edit(&mut SntpPacket::new_unchecked(&mut bytes[..]));
    bytes
}

#[test]
fn first_poll_sends_a_mode_3_version_4_request_with_a_random_transmit_timestamp() {
    let mut a = client();
    assert_eq!(a.poll_timeout(), Some(Instant::ZERO));
    let sent = request(&mut a, at_secs(1));
    let view = SntpPacket::new_checked(&sent[..]).unwrap();
    assert_eq!(view.mode(), Mode::Client);
    assert_eq!(view.version(), 4);
    assert!(!view.transmit_timestamp().is_zero());
    // A second request, and a second client, use other values.
    let mut b = SntpClient::new(SntpConfig::default(), Rng::new(43));
    let other = request(&mut b, at_secs(1));
    assert_ne!(sent[40..48], other[40..48]);
    assert_eq!(a.stats().requests_sent, 1);
}

#[test]
fn only_one_request_is_outstanding_and_short_buffers_get_none() {
    let mut client = client();
    assert_eq!(client.poll_transmit(at_secs(0), &mut [0u8; 47]), None);
    assert_eq!(client.stats().requests_sent, 0);
    request(&mut client, at_secs(0));
    assert_eq!(client.poll_transmit(at_secs(0), &mut [0u8; 48]), None);
    assert_eq!(client.poll_timeout(), Some(at_secs(1)));
}

#[test]
fn offset_and_delay_follow_rfc_4330_section_5() {
    // Our clock 500 ms behind the server's; 10 ms each way; 2 ms in the server.
    let (t1, t2, t3, t4) = (1_000_000, 1_510_000, 1_512_000, 1_022_000);
    assert_eq!(offset_and_delay(t1, t2, t3, t4), Some((500_000, 20_000)));
    // Our clock ahead, and an asymmetric path: the offset is off by half the asymmetry.
    let (t1, t2, t3, t4) = (5_000_000, 2_030_000, 2_030_000, 5_040_000);
    assert_eq!(offset_and_delay(t1, t2, t3, t4), Some((-2_990_000, 40_000)));
    // A server whose processing time exceeds the round trip gives a negative delay.
    assert_eq!(offset_and_delay(0, 10, 30, 10), Some((15, -10)));
    // An odd sum halves toward zero, either sign.
    assert_eq!(offset_and_delay(0, 0, 0, 3), Some((-1, 3)));
    assert_eq!(offset_and_delay(0, 3, 0, 0), Some((1, 3)));
    assert_eq!(offset_and_delay(i64::MIN, i64::MAX, 0, 0), None);
}

#[test]
fn ntp_differences_cancel_the_era() {
    let before_wrap = NtpTimestamp::from_parts(u32::MAX, 0x8000_0000);
    let after_wrap = NtpTimestamp::from_parts(0, 0x4000_0000);
    assert_eq!(ntp_difference_micros(before_wrap, after_wrap), 750_000);
    assert_eq!(ntp_difference_micros(after_wrap, before_wrap), -750_000);
}

#[test]
fn a_good_reply_sets_the_clock_from_t1_to_t4() {
    let mut client = client();
    assert_eq!(client.now_unix(at_secs(10)), None);
    let sent = request(&mut client, Instant::from_millis(10_000));
    // T2 = 2026 + 0.5 s, T3 = T2 + 2 ms (fractions of 2^-32 s), T4 = T1 + 22 ms.
    let t2 = NtpTimestamp::from_parts(NTP_2026, 0x8000_0000);
    let t3 = NtpTimestamp::from_parts(NTP_2026, 0x8083_126f);
    let sample = client
        .handle_datagram(
            Instant::from_millis(10_022),
            SERVER_PORT,
            &reply_to(&sent, t2, t3),
        )
        .unwrap();
    // Offset = ((T2 - T1) + (T3 - T4)) / 2 with T1 = 10 s and T4 = 10.022 s.
    let t2_micros = UNIX_2026 * 1_000_000 + 500_000;
    let t3_micros = t2_micros + 2_000; // 0x0083_126f * 10^6 / 2^32 = 2000.2
    let offset = ((t2_micros - 10_000_000) + (t3_micros - 10_022_000)) / 2;
    assert_eq!(sample.unix_time, UnixTime::from_micros(10_022_000 + offset));
    assert_eq!(sample.round_trip_delay, Duration::from_micros(20_000));
    assert_eq!(
        sample.server_transmit_time,
        UnixTime::from_micros(t3_micros)
    );
    assert_eq!(sample.stratum, 2);
    assert_eq!(sample.received_at, Instant::from_millis(10_022));
    // The clock then runs on the monotonic time.
    assert_eq!(
        client.now_unix(Instant::from_millis(70_022)),
        Some(UnixTime::from_micros(70_022_000 + offset))
    );
    assert_eq!(client.last_sample(), Some(&sample));
    assert_eq!(client.stats().samples_accepted, 1);
}

#[test]
fn a_reply_after_2036_reads_in_era_one() {
    let mut client = client();
    let sent = request(&mut client, at_secs(0));
    // 2036-02-07T06:28:17Z: one second into era 1, T2 still in era 0.
    let t2 = NtpTimestamp::from_parts(u32::MAX, 0);
    let t3 = NtpTimestamp::from_parts(1, 0);
    let sample = client
        .handle_datagram(at_secs(0), SERVER_PORT, &reply_to(&sent, t2, t3))
        .unwrap();
    assert_eq!(
        sample.server_transmit_time,
        UnixTime::from_secs(2_085_978_497)
    );
    // T2 - T1 = 2085978495 s, T3 - T4 = 2085978497 s: offset is their mean.
    assert_eq!(
        client.now_unix(at_secs(0)),
        Some(UnixTime::from_secs(2_085_978_496))
    );
}

/// Runs one request/reply exchange at `now`, the reply made from the
/// request by `make_reply`, and returns the client's verdict.
fn exchange(
    client: &mut SntpClient,
    now: Instant,
    port: u16,
    make_reply: impl FnOnce(&[u8; 48]) -> [u8; 48],
) -> Result<TimeSample, SntpError> {
    let sent = request(client, now);
    client.handle_datagram(now, port, &make_reply(&sent))
}

/// Every rejection leaves an unset clock unset and a set clock unchanged.
fn assert_refused(
    make_reply: impl Fn(&[u8; 48]) -> [u8; 48],
    port: u16,
    expected: SntpError,
    counter: fn(&SntpStats) -> u32,
) {
    let mut fresh = client();
    assert_eq!(
        exchange(&mut fresh, at_secs(0), port, &make_reply),
        Err(expected)
    );
    assert_eq!(fresh.now_unix(at_secs(0)), None);
    assert_eq!(fresh.last_sample(), None);
    assert_eq!(counter(fresh.stats()), 1, "{expected:?} counted");
    assert_eq!(fresh.stats().rejected(), 1);

    let mut synced = client();
    exchange(&mut synced, at_secs(0), SERVER_PORT, good_reply).unwrap();
    let before = synced.now_unix(at_secs(100));
    let later = at_secs(2000);
    assert_eq!(
        exchange(&mut synced, later, port, &make_reply),
        Err(expected)
    );
    assert_eq!(synced.now_unix(at_secs(100)), before);
    assert_eq!(synced.stats().samples_accepted, 1);
}

#[test]
fn refuses_a_reply_from_another_port() {
    assert_refused(
        good_reply,
        1234,
        SntpError::WrongSourcePort { port: 1234 },
        |s| s.wrong_source_port,
    );
}

#[test]
fn refuses_a_truncated_reply() {
    let mut client = client();
    let sent = request(&mut client, at_secs(0));
    let reply = good_reply(&sent);
    for len in [0, 1, 20, 47] {
        assert_eq!(
            client.handle_datagram(at_secs(0), SERVER_PORT, &reply[..len]),
            Err(SntpError::Truncated { len })
        );
    }
    assert_eq!(client.stats().truncated, 4);
    assert_eq!(client.now_unix(at_secs(0)), None);
    // The request is still outstanding: the full reply is taken.
    assert!(
        client
            .handle_datagram(at_secs(0), SERVER_PORT, &reply)
            .is_ok()
    );
}

#[test]
fn refuses_versions_other_than_3_and_4() {
    for version in [0, 1, 2, 5, 7] {
        let reply = |sent: &[u8; 48]| edited(good_reply(sent), |p| p.set_version(version));
        assert_refused(
            reply,
            SERVER_PORT,
            SntpError::UnsupportedVersion { version },
            |s| s.unsupported_version,
        );
    }
    let mut client = client();
    let v3 = |sent: &[u8; 48]| edited(good_reply(sent), |p| p.set_version(3));
    assert!(exchange(&mut client, at_secs(0), SERVER_PORT, v3).is_ok());
}

#[test]
fn refuses_modes_other_than_server() {
    for mode in [
        Mode::Client,
        Mode::SymmetricActive,
        Mode::Broadcast,
        Mode::Reserved,
    ] {
        let reply = |sent: &[u8; 48]| edited(good_reply(sent), |p| p.set_mode(mode));
        let expected = SntpError::NotServerMode {
            mode: mode.to_bits(),
        };
        assert_refused(reply, SERVER_PORT, expected, |s| s.not_server_mode);
    }
}

#[test]
fn refuses_a_reply_that_does_not_echo_our_transmit_timestamp() {
    let reply = |sent: &[u8; 48]| {
        edited(good_reply(sent), |p| {
            let ours = p.origin_timestamp().to_bits();
            p.set_origin_timestamp(NtpTimestamp::from_bits(ours ^ 1));
        })
    };
    assert_refused(reply, SERVER_PORT, SntpError::OriginMismatch, |s| {
        s.origin_mismatch
    });
    // A mismatch is ignored: the genuine reply that follows is taken.
    let mut client = client();
    let sent = request(&mut client, at_secs(0));
    assert!(
        client
            .handle_datagram(at_secs(0), SERVER_PORT, &reply(&sent))
            .is_err()
    );
    assert!(
        client
            .handle_datagram(at_secs(0), SERVER_PORT, &good_reply(&sent))
            .is_ok()
    );
}

#[test]
fn refuses_a_reply_with_no_request_outstanding() {
    let mut client = client();
    let sent = request(&mut client, at_secs(0));
    let reply = good_reply(&sent);
    assert!(
        client
            .handle_datagram(at_secs(0), SERVER_PORT, &reply)
            .is_ok()
    );
    let before = client.now_unix(at_secs(5));
    assert_eq!(
        client.handle_datagram(at_secs(1), SERVER_PORT, &reply),
        Err(SntpError::UnexpectedReply)
    );
    assert_eq!(client.now_unix(at_secs(5)), before);
    assert_eq!(client.stats().unexpected_reply, 1);
    // Nor is anything taken before the first request.
    let mut idle = SntpClient::new(SntpConfig::default(), Rng::new(1));
    assert_eq!(
        idle.handle_datagram(at_secs(0), SERVER_PORT, &reply),
        Err(SntpError::UnexpectedReply)
    );
}

fn kiss(code: KissCode) -> impl Fn(&[u8; 48]) -> [u8; 48] {
    move |sent| {
        edited(good_reply(sent), |p| {
            p.set_leap_indicator(LeapIndicator::Unsynchronized);
            p.set_stratum(0);
            p.set_reference_id(code.0);
            p.set_receive_timestamp(NtpTimestamp::ZERO);
            p.set_transmit_timestamp(NtpTimestamp::ZERO);
        })
    }
}

#[test]
fn kiss_of_death_rate_at_least_doubles_the_poll_interval() {
    assert_refused(
        kiss(KissCode::RATE),
        SERVER_PORT,
        SntpError::RateLimited,
        |s| s.rate_limited,
    );
    let mut client = client();
    assert_eq!(client.poll_interval(), Duration::from_secs(1024));
    let result = exchange(&mut client, at_secs(0), SERVER_PORT, kiss(KissCode::RATE));
    assert_eq!(result, Err(SntpError::RateLimited));
    assert_eq!(client.poll_interval(), Duration::from_secs(2048));
    assert_eq!(client.poll_timeout(), Some(at_secs(2048)));
    assert_eq!(client.poll_transmit(at_secs(2047), &mut [0; 48]), None);
    // The server's own poll field is honoured when it asks for more.
    let asks_for_2_pow_14 =
        |sent: &[u8; 48]| edited(kiss(KissCode::RATE)(sent), |p| p.set_poll(14));
    let result = exchange(&mut client, at_secs(2048), SERVER_PORT, asks_for_2_pow_14);
    assert_eq!(result, Err(SntpError::RateLimited));
    assert_eq!(client.poll_interval(), Duration::from_secs(16_384));
    // And it never goes past MAXPOLL.
    let mut now = at_secs(2048 + 16_384);
    for _ in 0..10 {
        let _ = exchange(&mut client, now, SERVER_PORT, kiss(KissCode::RATE));
        now = client.poll_timeout().unwrap();
    }
    assert_eq!(client.poll_interval(), MAX_POLL_INTERVAL);
}

#[test]
fn kiss_of_death_deny_and_rstr_stop_the_client() {
    for code in [KissCode::DENY, KissCode::RSTR] {
        assert_refused(
            kiss(code),
            SERVER_PORT,
            SntpError::AccessDenied(code),
            |s| s.access_denied,
        );
        let mut client = client();
        let result = exchange(&mut client, at_secs(0), SERVER_PORT, kiss(code));
        assert_eq!(result, Err(SntpError::AccessDenied(code)));
        assert_eq!(client.stopped_by(), Some(code));
        assert_eq!(client.poll_timeout(), None);
        client.handle_timeout(at_secs(1_000_000));
        assert_eq!(client.poll_transmit(at_secs(1_000_000), &mut [0; 48]), None);
    }
}

#[test]
fn a_spoofed_kiss_of_death_is_ignored() {
    let mut client = client();
    let sent = request(&mut client, at_secs(0));
    let spoofed = edited(kiss(KissCode::DENY)(&sent), |p| {
        p.set_origin_timestamp(NtpTimestamp::from_bits(7))
    });
    assert_eq!(
        client.handle_datagram(at_secs(0), SERVER_PORT, &spoofed),
        Err(SntpError::OriginMismatch)
    );
    assert_eq!(client.stopped_by(), None);
    assert!(
        client
            .handle_datagram(at_secs(0), SERVER_PORT, &good_reply(&sent))
            .is_ok()
    );
}

#[test]
fn other_kiss_codes_are_refused_without_changing_the_schedule() {
    let code = KissCode(*b"INIT");
    assert_refused(kiss(code), SERVER_PORT, SntpError::KissOfDeath(code), |s| {
        s.other_kiss_of_death
    });
    let mut client = client();
    let _ = exchange(&mut client, at_secs(0), SERVER_PORT, kiss(code));
    assert_eq!(client.poll_timeout(), Some(at_secs(1)));
    assert_eq!(client.stopped_by(), None);
}

#[test]
fn refuses_an_unsynchronised_server() {
    let reply = |sent: &[u8; 48]| {
        edited(good_reply(sent), |p| {
            p.set_leap_indicator(LeapIndicator::Unsynchronized)
        })
    };
    assert_refused(reply, SERVER_PORT, SntpError::Unsynchronized, |s| {
        s.unsynchronized
    });
    // Leap second warnings are not alarms.
    let mut client = client();
    let warns = |sent: &[u8; 48]| {
        edited(good_reply(sent), |p| {
            p.set_leap_indicator(LeapIndicator::LastMinuteHas61Seconds)
        })
    };
    let sample = exchange(&mut client, at_secs(0), SERVER_PORT, warns).unwrap();
    assert_eq!(sample.leap_indicator, LeapIndicator::LastMinuteHas61Seconds);
}

#[test]
fn refuses_stratum_above_15() {
    for stratum in [16, 17, 255] {
        let reply = |sent: &[u8; 48]| edited(good_reply(sent), |p| p.set_stratum(stratum));
        assert_refused(
            reply,
            SERVER_PORT,
            SntpError::StratumTooHigh { stratum },
            |s| s.stratum_too_high,
        );
    }
    let mut client = client();
    let stratum_15 = |sent: &[u8; 48]| edited(good_reply(sent), |p| p.set_stratum(15));
    assert!(exchange(&mut client, at_secs(0), SERVER_PORT, stratum_15).is_ok());
}

#[test]
fn refuses_a_zero_transmit_timestamp() {
    let reply = |sent: &[u8; 48]| {
        edited(good_reply(sent), |p| {
            p.set_transmit_timestamp(NtpTimestamp::ZERO)
        })
    };
    assert_refused(reply, SERVER_PORT, SntpError::ZeroTransmitTimestamp, |s| {
        s.zero_transmit_timestamp
    });
}

#[test]
fn refuses_times_beyond_unix_microseconds() {
    let config = SntpConfig {
        not_before: UnixTime::from_micros(u64::MAX),
        ..SntpConfig::default()
    };
    let mut client = SntpClient::new(config, Rng::new(5));
    let result = exchange(&mut client, at_secs(0), SERVER_PORT, good_reply);
    assert_eq!(result, Err(SntpError::TimestampOutOfRange));
    assert_eq!(client.stats().timestamp_out_of_range, 1);
    assert_eq!(client.now_unix(at_secs(0)), None);
}

#[test]
fn unanswered_requests_back_off_from_1_s_doubling_to_64_s() {
    let mut client = client();
    let mut now = at_secs(0);
    let mut waits = [0u64; 9];
    for wait in &mut waits {
        request(&mut client, now);
        let deadline = client.poll_timeout().unwrap();
        *wait = (deadline - now).as_micros() / 1_000_000;
        // Nothing happens before the deadline ...
        client.handle_timeout(Instant::from_micros(deadline.as_micros() - 1));
        assert_eq!(client.poll_timeout(), Some(deadline));
        // ... and at it the next request is due at once.
        client.handle_timeout(deadline);
        assert_eq!(client.poll_timeout(), Some(deadline));
        now = deadline;
    }
    assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 64, 64]);
    assert_eq!(client.stats().timeouts, 9);
    // A good reply resets the backoff and schedules the next poll.
    let sent = request(&mut client, now);
    client
        .handle_datagram(now, SERVER_PORT, &good_reply(&sent))
        .unwrap();
    assert_eq!(client.poll_timeout(), Some(now + Duration::from_secs(1024)));
    let next = request(&mut client, now + Duration::from_secs(1024));
    assert_ne!(next, sent);
    assert_eq!(client.poll_timeout(), Some(now + Duration::from_secs(1025)));
}

#[test]
fn poll_interval_is_at_least_15_s_and_retry_timeouts_are_sane() {
    let config = SntpConfig {
        poll_interval: Duration::from_secs(1),
        initial_retry_timeout: Duration::ZERO,
        max_retry_timeout: Duration::ZERO,
        ..SntpConfig::default()
    };
    let mut client = SntpClient::new(config, Rng::new(9));
    assert_eq!(client.poll_interval(), MIN_POLL_INTERVAL);
    request(&mut client, at_secs(0));
    assert_eq!(client.poll_timeout(), Some(Instant::from_millis(10)));
    client.handle_timeout(Instant::from_millis(10));
    let sent = request(&mut client, Instant::from_millis(10));
    assert_eq!(client.poll_timeout(), Some(Instant::from_millis(20)));
    client
        .handle_datagram(Instant::from_millis(15), SERVER_PORT, &good_reply(&sent))
        .unwrap();
    assert_eq!(client.poll_timeout(), Some(Instant::from_millis(15_015)));
}

#[test]
fn poll_transmit_fires_an_overdue_timeout_itself() {
    let mut client = client();
    request(&mut client, at_secs(0));
    assert!(client.poll_transmit(at_secs(5), &mut [0; 48]).is_some());
    assert_eq!(client.stats().timeouts, 1);
    assert_eq!(client.poll_timeout(), Some(at_secs(7)));
}

/// Xorshift64: the test's own stream, independent of the client's Rng.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn random_bytes_never_panic_and_never_set_the_clock_unasked() {
    let mut seed = 0x2545_f491_4f6c_dd1d;
    let config = SntpConfig {
        poll_interval: MIN_POLL_INTERVAL,
        ..SntpConfig::default()
    };
    let mut client = SntpClient::new(config, Rng::new(42));
    let mut bytes = [0u8; 96];
    let mut last_request = [0u8; 48];
    let mut now = Instant::ZERO;
    for round in 0..20_000 {
        now += Duration::from_millis(xorshift(&mut seed) % 3000);
        let _ = client.poll_transmit(now, &mut last_request);
        for chunk in bytes.chunks_mut(8) {
            let word = xorshift(&mut seed).to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        // Every fourth datagram echoes our last request and has a plausible
        // first byte and stratum, so the checks past the origin match (and
        // the arithmetic on random timestamps) are reached too.
        if round % 4 == 0 {
            bytes[24..32].copy_from_slice(&last_request[40..48]);
            bytes[0] = (bytes[0] & 0b1100_0000) | 0b0010_0100;
            bytes[1] %= 17;
        }
        let len = (xorshift(&mut seed) % 97) as usize;
        let port = if round % 8 == 0 { 9 } else { SERVER_PORT };
        let _ = client.handle_datagram(now, port, &bytes[..len]);
        let _ = client.now_unix(now);
        client.handle_timeout(now);
        let _ = client.poll_timeout();
    }
    let stats = client.stats();
    assert_eq!(
        stats.rejected() + stats.samples_accepted,
        20_000,
        "every datagram accounted for: {stats:?}"
    );
    assert!(stats.samples_accepted > 0, "the deep path was exercised");
}
