//! The SNTP client over real UDP sockets on loopback: against chronyd, the
//! reference NTP implementation on Linux, and against a hostile responder
//! that answers with every kind of reply the client must refuse.
//!
//! The client is sans-IO; these tests are the thin driver loop a firmware
//! would write, with `std::net::UdpSocket` standing in for the stack's.

use std::io::ErrorKind;
use std::net::UdpSocket;
use std::time::{Duration as StdDuration, Instant as StdInstant, SystemTime, UNIX_EPOCH};

use duet_netstack::rand::Rng;
use duet_netstack::sntp::{
    KissCode, NTP_TO_UNIX_SECONDS, SntpClient, SntpConfig, SntpError, UnixTime,
};
use duet_netstack::{Duration, Instant};

#[path = "common/chrony.rs"]
mod chrony;
use chrony::Chronyd;

/// How far the client's clock may be from the host's after one exchange.
const TOLERANCE: StdDuration = StdDuration::from_millis(50);
/// How long chronyd gets to start answering.
const STARTUP_BUDGET: StdDuration = StdDuration::from_secs(10);

/// The caller's monotonic clock, as the client sees it.
struct MonotonicClock {
    start: StdInstant,
}

impl MonotonicClock {
    fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros() as u64)
    }
}

fn system_time_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("host clock after 1970")
        .as_micros() as u64
}

#[test]
fn chronyd_sets_the_clock_to_within_50_ms_of_the_host() {
    let mut chronyd = Chronyd::start();
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind client socket");
    let config = SntpConfig {
        server_port: chronyd.address.port(),
        initial_retry_timeout: Duration::from_millis(200),
        max_retry_timeout: Duration::from_secs(1),
        ..SntpConfig::default()
    };
    let mut client = SntpClient::new(config, Rng::new(system_time_micros()));
    let clock = MonotonicClock {
        start: StdInstant::now(),
    };
    let give_up = StdInstant::now() + STARTUP_BUDGET;
    let mut request = [0u8; 48];
    let mut datagram = [0u8; 512];
    let sample = loop {
        chronyd.assert_running();
        assert!(
            StdInstant::now() < give_up,
            "chronyd gave no acceptable reply within {STARTUP_BUDGET:?}: {:?}",
            client.stats()
        );
        let now = clock.now();
        if let Some(len) = client.poll_transmit(now, &mut request) {
            socket
                .send_to(&request[..len], chronyd.address)
                .expect("send request");
        }
        let wait = client
            .poll_timeout()
            .map_or(Duration::from_millis(100), |deadline| deadline - now);
        let wait = StdDuration::from_micros(wait.as_micros().clamp(1_000, 100_000));
        socket.set_read_timeout(Some(wait)).expect("set timeout");
        match socket.recv_from(&mut datagram) {
            Ok((len, from)) => {
                let now = clock.now();
                match client.handle_datagram(now, from.port(), &datagram[..len]) {
                    Ok(sample) => break sample,
                    Err(error) => eprintln!("reply refused (retrying): {error}"),
                }
            }
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                client.handle_timeout(clock.now());
            }
            // An ICMP port unreachable while chronyd is still starting.
            Err(error) => eprintln!("recv: {error} (retrying)"),
        }
    };

    let ours = client
        .now_unix(clock.now())
        .expect("clock set after a good reply");
    let host = system_time_micros();
    let difference = ours.as_micros().abs_diff(host);
    eprintln!(
        "chronyd: stratum {}, delay {}, ours {ours}, host {}.{:06}, difference {difference} µs",
        sample.stratum,
        sample.round_trip_delay,
        host / 1_000_000,
        host % 1_000_000
    );
    assert!(
        difference <= TOLERANCE.as_micros() as u64,
        "client clock {ours} is {difference} µs from the host's"
    );
    assert_eq!(
        sample.stratum, 8,
        "chronyd serves its local clock at stratum 8"
    );
    assert!(sample.round_trip_delay < Duration::from_millis(50));
    assert_eq!(client.stats().samples_accepted, 1);
    // The next poll waits for the poll interval.
    assert_eq!(
        client.poll_timeout(),
        Some(sample.received_at + Duration::from_secs(1024))
    );
}

/// 2030-01-01T00:00:00Z as NTP seconds (era 0).
const NTP_2030: u32 = (1_893_456_000 + NTP_TO_UNIX_SECONDS) as u32;

/// What the hostile responder does with a request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    WrongOrigin,
    Kiss(KissCode),
    Unsynchronized,
    ZeroTransmitTimestamp,
    Truncated20Bytes,
    Valid,
}

/// The responder's reply to `request`, built byte by byte from RFC 4330 §4
/// so the test does not trust the client's own packet code.
fn answer(request: &[u8], kind: Answer) -> Vec<u8> {
    let mut reply = vec![0u8; 48];
    let (leap, version, mode_server) = (0u8, 4u8, 4u8);
    reply[0] = (leap << 6) | (version << 3) | mode_server;
    reply[1] = 2; // stratum
    reply[2] = 6; // poll
    reply[3] = 0xec; // precision -20
    reply[12..16].copy_from_slice(&[192, 0, 2, 1]);
    reply[16..20].copy_from_slice(&(NTP_2030 - 10).to_be_bytes());
    reply[24..32].copy_from_slice(&request[40..48]);
    reply[32..36].copy_from_slice(&NTP_2030.to_be_bytes());
    reply[40..44].copy_from_slice(&NTP_2030.to_be_bytes());
    match kind {
        Answer::WrongOrigin => reply[31] ^= 0x01,
        Answer::Kiss(code) => {
            reply[0] |= 3 << 6;
            reply[1] = 0;
            reply[12..16].copy_from_slice(&code.0);
            reply[32..48].fill(0);
        }
        Answer::Unsynchronized => reply[0] |= 3 << 6,
        Answer::ZeroTransmitTimestamp => reply[40..48].fill(0),
        Answer::Truncated20Bytes => reply.truncate(20),
        Answer::Valid => {}
    }
    reply
}

/// Drives the client against a responder answering each request with the
/// next of `answers`; virtual time, so backoffs cost nothing.
struct HostileExchange {
    client: SntpClient,
    client_socket: UdpSocket,
    responder: UdpSocket,
    now: Instant,
}

impl HostileExchange {
    fn new() -> Self {
        let responder = UdpSocket::bind("127.0.0.1:0").expect("bind responder");
        let client_socket = UdpSocket::bind("127.0.0.1:0").expect("bind client");
        for socket in [&responder, &client_socket] {
            socket
                .set_read_timeout(Some(StdDuration::from_secs(2)))
                .expect("set timeout");
        }
        let config = SntpConfig {
            server_port: responder.local_addr().expect("responder address").port(),
            ..SntpConfig::default()
        };
        HostileExchange {
            client: SntpClient::new(config, Rng::new(0x5eed)),
            client_socket,
            responder,
            now: Instant::from_secs(100),
        }
    }

    /// Lets virtual time run until the client sends its next request, then
    /// has the responder answer it with `kind`; returns the client's verdict.
    fn exchange(&mut self, kind: Answer) -> Result<UnixTime, SntpError> {
        let mut request = [0u8; 48];
        let len = loop {
            if let Some(len) = self.client.poll_transmit(self.now, &mut request) {
                break len;
            }
            let next = self.client.poll_timeout().expect("client still polling");
            self.now = self.now.max(next);
            self.client.handle_timeout(self.now);
        };
        let responder_address = self.responder.local_addr().expect("responder address");
        self.client_socket
            .send_to(&request[..len], responder_address)
            .expect("send request");

        let mut received = [0u8; 512];
        let (len, client_address) = self.responder.recv_from(&mut received).expect("request");
        let reply = answer(&received[..len], kind);
        self.responder
            .send_to(&reply, client_address)
            .expect("send reply");

        let (len, from) = self.client_socket.recv_from(&mut received).expect("reply");
        self.now += Duration::from_millis(3);
        self.client
            .handle_datagram(self.now, from.port(), &received[..len])
            .map(|sample| sample.unix_time)
    }
}

#[test]
fn hostile_replies_are_refused_and_never_touch_the_clock() {
    let mut hostile = HostileExchange::new();
    let refused = [
        (Answer::WrongOrigin, SntpError::OriginMismatch),
        (Answer::Kiss(KissCode::RATE), SntpError::RateLimited),
        (Answer::Unsynchronized, SntpError::Unsynchronized),
        (
            Answer::ZeroTransmitTimestamp,
            SntpError::ZeroTransmitTimestamp,
        ),
        (Answer::Truncated20Bytes, SntpError::Truncated { len: 20 }),
    ];
    for (kind, expected) in refused {
        assert_eq!(hostile.exchange(kind), Err(expected), "{kind:?}");
        assert_eq!(hostile.client.now_unix(hostile.now), None, "{kind:?}");
        assert_eq!(hostile.client.last_sample(), None, "{kind:?}");
    }
    let stats = *hostile.client.stats();
    assert_eq!(
        (
            stats.origin_mismatch,
            stats.rate_limited,
            stats.unsynchronized,
            stats.zero_transmit_timestamp,
            stats.truncated,
        ),
        (1, 1, 1, 1, 1)
    );
    assert!(hostile.client.poll_interval() >= Duration::from_secs(2048));

    // A valid reply is then taken: T2 = T3 = 2030-01-01, a 3 ms round trip.
    let unix_time = hostile.exchange(Answer::Valid).expect("valid reply taken");
    let expected = UnixTime::from_micros(1_893_456_000_000_000 + 1_500);
    assert_eq!(unix_time, expected);
    assert_eq!(hostile.client.now_unix(hostile.now), Some(expected));

    // Hostile replies after that leave the clock where it was.
    let set_at = hostile.now;
    for (kind, expected) in [
        (Answer::WrongOrigin, SntpError::OriginMismatch),
        (Answer::Unsynchronized, SntpError::Unsynchronized),
        (Answer::Truncated20Bytes, SntpError::Truncated { len: 20 }),
    ] {
        assert_eq!(hostile.exchange(kind), Err(expected), "{kind:?}");
        let elapsed = hostile.now - set_at;
        assert_eq!(
            hostile.client.now_unix(hostile.now),
            Some(UnixTime::from_micros(
                unix_time.as_micros() + elapsed.as_micros()
            )),
            "{kind:?}"
        );
    }

    // DENY ends the conversation for good.
    assert_eq!(
        hostile.exchange(Answer::Kiss(KissCode::DENY)),
        Err(SntpError::AccessDenied(KissCode::DENY))
    );
    assert_eq!(hostile.client.stopped_by(), Some(KissCode::DENY));
    assert_eq!(hostile.client.poll_timeout(), None);
    assert_eq!(
        hostile.client.poll_transmit(hostile.now, &mut [0; 48]),
        None
    );
}
