//! SYN cookies (RFC 4987 §3.6): a listener whose backlog is full answers a
//! SYN without keeping anything, and the connection is made when the
//! peer's ACK brings the cookie back.
//!
//! The cookie is our initial sequence number, so the ACK that completes
//! the handshake carries it back as SEG.ACK − 1. Its 32 bits:
//!
//! | bits  | what                                                        |
//! |-------|-------------------------------------------------------------|
//! | 31–27 | the time counter (one tick per [`PERIOD`]) modulo 32         |
//! | 26–24 | the peer's MSS, as an index into [`MSS_TABLE`]              |
//! | 23–0  | a keyed hash of the 4-tuple, the peer's ISN, the full counter and the MSS index |
//!
//! The hash is SipHash-2-4 under the stack's ISN key (`isn.rs`), so an
//! attacker who never saw our SYN-ACK cannot forge a connection but by
//! guessing 24 bits. Every input of the hash comes back in the ACK (the
//! 4-tuple, SEG.SEQ − 1 as the peer's ISN) or in the cookie itself, so
//! nothing about the SYN is kept.
//!
//! What a cookie cannot carry, the connection does without: window
//! scaling, SACK and timestamps are not offered in a cookie's SYN-ACK,
//! which announces only our MSS. The connection is correct, its window at
//! most 64 KiB. That is why cookies are only sent when the backlog is
//! full, and only when [`TcpConfig::syn_cookies`] asks for them.
//!
//! [`TcpConfig::syn_cookies`]: crate::tcp::TcpConfig::syn_cookies

use crate::endpoint::IpEndpoint;
use crate::tcp::isn::IsnGenerator;
use crate::tcp::seq::SeqNumber;
use crate::time::{Duration, Instant};

/// One tick of the cookie's time counter.
pub(crate) const PERIOD: Duration = Duration::from_secs(64);

/// Counter ticks a cookie stays valid after the one it was made in: a
/// cookie answered within 64 to 128 s is taken, later ones are not (RFC
/// 4987 §3.6 "a slowly incrementing timestamp").
const MAX_AGE: u32 = 1;

/// The peer MSS values a cookie can stand for, smallest first: the IPv4
/// default (RFC 9293 §3.7.1), common tunnel and PPPoE sizes, and Ethernet.
/// A peer's MSS is rounded down to the nearest; none is below 536.
pub(crate) const MSS_TABLE: [u16; 8] = [536, 1200, 1280, 1360, 1400, 1440, 1452, 1460];

/// The cookie — our ISN — for a SYN from `remote` (its sequence number
/// `peer_isn`, its MSS option `peer_mss`, 536 when absent) to `local`, at
/// `now`. It records the largest [`MSS_TABLE`] entry not above `peer_mss`.
pub(crate) fn make(
    isn: &IsnGenerator,
    now: Instant,
    local: IpEndpoint,
    remote: IpEndpoint,
    peer_isn: SeqNumber,
    peer_mss: u16,
) -> SeqNumber {
    let index = MSS_TABLE
        .iter()
        .rposition(|&mss| mss <= peer_mss)
        .unwrap_or(0);
    let counter = counter(now);
    let hash = hash(isn, local, remote, peer_isn, counter, index as u8);
    let cookie = (counter % 32) << 27 | (index as u32) << 24 | hash;
    SeqNumber(cookie)
}

/// The MSS a cookie recorded, if the ACK segment from `remote` to `local`
/// (sequence number `seq`, acknowledgment number `ack`) brings back one we
/// made at most [`MAX_AGE`] ticks before `now`.
pub(crate) fn check(
    isn: &IsnGenerator,
    now: Instant,
    local: IpEndpoint,
    remote: IpEndpoint,
    seq: SeqNumber,
    ack: SeqNumber,
) -> Option<u16> {
    let cookie = (ack - 1).0;
    let now_counter = counter(now);
    // The counter the cookie was made at: the latest at or before now
    // whose low five bits are the cookie's.
    let age = now_counter.wrapping_sub(cookie >> 27) % 32;
    if age > MAX_AGE {
        return None;
    }
    let index = (cookie >> 24 & 7) as u8;
    let made_at = now_counter.wrapping_sub(age);
    let expected = hash(isn, local, remote, seq - 1, made_at, index);
    (cookie & 0x00ff_ffff == expected).then_some(MSS_TABLE[usize::from(index)])
}

/// Counter ticks since the clock's epoch.
fn counter(now: Instant) -> u32 {
    (now.as_micros() / PERIOD.as_micros()) as u32
}

/// The cookie's 24-bit hash.
fn hash(
    isn: &IsnGenerator,
    local: IpEndpoint,
    remote: IpEndpoint,
    peer_isn: SeqNumber,
    counter: u32,
    mss_index: u8,
) -> u32 {
    let mut extra = [0u8; 9];
    extra[..4].copy_from_slice(&peer_isn.0.to_be_bytes());
    extra[4..8].copy_from_slice(&counter.to_be_bytes());
    extra[8] = mss_index;
    (isn.keyed_hash(local, remote, &extra) & 0x00ff_ffff) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{IpAddr, Ipv4Addr};

    fn endpoint(last: u8, port: u16) -> IpEndpoint {
        IpEndpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)), port)
    }

    const LOCAL: u8 = 2;
    const PEER: u8 = 1;

    fn generator() -> IsnGenerator {
        IsnGenerator::new(*b"syn cookie key!!")
    }

    /// The ACK that would complete the handshake the cookie answered.
    fn check_ack(
        isn: &IsnGenerator,
        now: Instant,
        peer_isn: SeqNumber,
        cookie: SeqNumber,
    ) -> Option<u16> {
        check(
            isn,
            now,
            endpoint(LOCAL, 80),
            endpoint(PEER, 40000),
            peer_isn + 1,
            cookie + 1,
        )
    }

    #[test]
    fn a_cookie_comes_back_with_its_mss_rounded_down_to_the_table() {
        let isn = generator();
        let now = Instant::from_secs(1_000);
        for (peer_mss, recorded) in [
            (1460, 1460),
            (9000, 1460),
            (1459, 1452),
            (1400, 1400),
            (1300, 1280),
            (600, 536),
            (100, 536),
        ] {
            let peer_isn = SeqNumber(0x1234_5678);
            let cookie = make(
                &isn,
                now,
                endpoint(LOCAL, 80),
                endpoint(PEER, 40000),
                peer_isn,
                peer_mss,
            );
            assert_eq!(
                check_ack(&isn, now, peer_isn, cookie),
                Some(recorded),
                "MSS {peer_mss}"
            );
        }
    }

    #[test]
    fn a_cookie_is_taken_within_one_to_two_periods_and_refused_after() {
        let isn = generator();
        let peer_isn = SeqNumber(7);
        // Made at the start of a period: valid to the end of the next one.
        let made = Instant::from_secs(64 * 100);
        let cookie = make(
            &isn,
            made,
            endpoint(LOCAL, 80),
            endpoint(PEER, 40000),
            peer_isn,
            1460,
        );
        for (after_s, taken) in [
            (0, true),
            (63, true),
            (64, true),
            (127, true),
            (128, false),
            (64 * 31, false),
            (64 * 32, false),
            (64 * 33, false),
        ] {
            let now = made + Duration::from_secs(after_s);
            assert_eq!(
                check_ack(&isn, now, peer_isn, cookie).is_some(),
                taken,
                "{after_s} s later"
            );
        }
        // From before it was made (a clock that jumped back): refused.
        let earlier = Instant::from_secs(64 * 99);
        assert_eq!(check_ack(&isn, earlier, peer_isn, cookie), None);
    }

    #[test]
    fn a_cookie_is_bound_to_its_tuple_its_peer_isn_its_key_and_its_bits() {
        let isn = generator();
        let now = Instant::from_secs(5_000);
        let peer_isn = SeqNumber(0xdead_beef);
        let (local, remote) = (endpoint(LOCAL, 80), endpoint(PEER, 40000));
        let cookie = make(&isn, now, local, remote, peer_isn, 1460);
        let ack = |isn: &IsnGenerator, local, remote, seq: SeqNumber, cookie: SeqNumber| {
            check(isn, now, local, remote, seq, cookie + 1)
        };
        assert!(ack(&isn, local, remote, peer_isn + 1, cookie).is_some());
        // Another port, address or direction.
        assert_eq!(
            ack(&isn, endpoint(LOCAL, 81), remote, peer_isn + 1, cookie),
            None
        );
        assert_eq!(
            ack(&isn, local, endpoint(PEER, 40001), peer_isn + 1, cookie),
            None
        );
        assert_eq!(
            ack(&isn, local, endpoint(3, 40000), peer_isn + 1, cookie),
            None
        );
        assert_eq!(ack(&isn, remote, local, peer_isn + 1, cookie), None);
        // Another peer ISN (the ACK's sequence number is not the SYN's + 1).
        assert_eq!(ack(&isn, local, remote, peer_isn + 2, cookie), None);
        // Another key.
        let other = IsnGenerator::new(*b"another key 1234");
        assert_eq!(ack(&other, local, remote, peer_isn + 1, cookie), None);
        // Every single bit flipped: the MSS index and the counter are
        // hashed too, so no bit of the cookie can be changed.
        for bit in 0..32 {
            let forged = SeqNumber(cookie.0 ^ 1 << bit);
            assert_eq!(
                ack(&isn, local, remote, peer_isn + 1, forged),
                None,
                "bit {bit}"
            );
        }
    }

    /// A blind attacker's ACKs: random acknowledgment numbers for a tuple
    /// it knows are taken about once in 2^24 × 32 / 2 guesses.
    #[test]
    fn random_acks_are_refused() {
        let isn = generator();
        let now = Instant::from_secs(9_999);
        let mut rng = crate::rand::Rng::new(4987);
        let taken = (0..200_000)
            .filter(|_| {
                let ack = SeqNumber(rng.next_u32());
                check(
                    &isn,
                    now,
                    endpoint(LOCAL, 80),
                    endpoint(PEER, 40000),
                    SeqNumber(1),
                    ack,
                )
                .is_some()
            })
            .count();
        assert_eq!(taken, 0);
    }
}
