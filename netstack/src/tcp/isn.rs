//! Initial sequence numbers (RFC 6528, RFC 9293 §3.4.1).
//!
//! ISN = M + F(localip, localport, remoteip, remoteport, secretkey): M is a
//! timer ticking every 4 µs, so a reused 4-tuple starts above where its last
//! incarnation could still be (RFC 9293 §3.4.1); F is a keyed PRF, so an
//! off-path attacker cannot predict the sequence space of somebody else's
//! connection (RFC 6528 §3). F is SipHash-2-4, a PRF made for short
//! inputs, with a 128-bit key the application draws from a hardware random
//! source at boot.

use core::net::IpAddr;

use crate::endpoint::IpEndpoint;
use crate::tcp::seq::SeqNumber;
use crate::time::Instant;

/// SipHash's ARX round (Aumasson and Bernstein, "SipHash: a fast short-input
/// PRF", 2012, §2).
fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

/// One message word through two compression rounds (the "2" of 2-4).
fn sip_compress(v: &mut [u64; 4], m: u64) {
    v[3] ^= m;
    sip_round(v);
    sip_round(v);
    v[0] ^= m;
}

/// SipHash-2-4 of `data` under `key`, the 64-bit output of the reference
/// implementation (key and message words are little-endian).
pub fn siphash24(key: &[u8; 16], data: &[u8]) -> u64 {
    let mut k0 = [0u8; 8];
    let mut k1 = [0u8; 8];
    k0.copy_from_slice(&key[..8]);
    k1.copy_from_slice(&key[8..]);
    let k0 = u64::from_le_bytes(k0);
    let k1 = u64::from_le_bytes(k1);
    // "somepseudorandomlygeneratedbytes", the paper's initialisation.
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];

    let mut blocks = data.chunks_exact(8);
    for block in &mut blocks {
        let mut word = [0u8; 8];
        word.copy_from_slice(block);
        sip_compress(&mut v, u64::from_le_bytes(word));
    }
    // The last word holds the remaining bytes and, in its top byte, the
    // message length mod 256.
    let tail = blocks.remainder();
    let mut last = [0u8; 8];
    last[..tail.len()].copy_from_slice(tail);
    last[7] = data.len() as u8;
    sip_compress(&mut v, u64::from_le_bytes(last));

    v[2] ^= 0xff;
    for _ in 0..4 {
        sip_round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// Chooses initial sequence numbers per RFC 6528.
///
/// `Debug` does not print the key: it is the one secret that keeps ISNs
/// unpredictable, and logs travel further than memory.
#[derive(Clone)]
pub struct IsnGenerator {
    key: [u8; 16],
}

impl core::fmt::Debug for IsnGenerator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IsnGenerator").finish_non_exhaustive()
    }
}

/// Bytes [`IsnGenerator::keyed_hash`] takes after the 4-tuple.
#[cfg(feature = "syn-cookies")]
const MAX_EXTRA: usize = 16;

/// Appends an endpoint's address and port in network byte order; IPv4 and
/// IPv6 differ in length, so their encodings cannot collide.
fn put_endpoint(buf: &mut [u8], at: usize, endpoint: IpEndpoint) -> usize {
    let at = match endpoint.addr {
        IpAddr::V4(a) => {
            buf[at..at + 4].copy_from_slice(&a.octets());
            at + 4
        }
        IpAddr::V6(a) => {
            buf[at..at + 16].copy_from_slice(&a.octets());
            at + 16
        }
    };
    buf[at..at + 2].copy_from_slice(&endpoint.port.to_be_bytes());
    at + 2
}

impl IsnGenerator {
    /// A generator under `key`, which must come from a good random source
    /// (RFC 6528 §3: "a secret key ... that is not known to the attacker").
    pub fn new(key: [u8; 16]) -> Self {
        Self { key }
    }

    /// The ISN for a new connection from `local` to `remote` (RFC 6528 §3):
    /// M is `now` in 4 µs ticks, truncated to 32 bits; F is the low 32 bits
    /// of SipHash-2-4 over the 4-tuple.
    pub fn isn(&self, now: Instant, local: IpEndpoint, remote: IpEndpoint) -> SeqNumber {
        let mut tuple = [0u8; 36];
        let len = put_endpoint(&mut tuple, 0, local);
        let len = put_endpoint(&mut tuple, len, remote);
        let f = siphash24(&self.key, &tuple[..len]) as u32;
        let m = (now.as_micros() / 4) as u32;
        SeqNumber(m.wrapping_add(f))
    }

    /// SipHash-2-4 under the ISN key of the 4-tuple followed by `extra`
    /// (up to [`MAX_EXTRA`] bytes), for the SYN cookies that stand in for
    /// our ISN when a listener is full (`syn_cookie.rs`). The input is
    /// longer than [`isn`](Self::isn)'s and SipHash hashes the length in,
    /// so neither value tells anything about the other.
    #[cfg(feature = "syn-cookies")]
    pub(crate) fn keyed_hash(&self, local: IpEndpoint, remote: IpEndpoint, extra: &[u8]) -> u64 {
        let mut input = [0u8; 36 + MAX_EXTRA];
        let len = put_endpoint(&mut input, 0, local);
        let len = put_endpoint(&mut input, len, remote);
        let end = len + extra.len().min(MAX_EXTRA);
        input[len..end].copy_from_slice(&extra[..end - len]);
        siphash24(&self.key, &input[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    /// The reference implementation's `vectors_sip64` as u64 (its byte rows
    /// read little-endian): key 00 01 .. 0f, message 00 01 .. (i-1) for
    /// i = 0..63. Checked against two independent sources: the published
    /// table and OpenSSL 3's `SIPHASH` MAC at size 8.
    const VECTORS_SIP64: [u64; 64] = [
        0x726fdb47dd0e0e31,
        0x74f839c593dc67fd,
        0x0d6c8009d9a94f5a,
        0x85676696d7fb7e2d,
        0xcf2794e0277187b7,
        0x18765564cd99a68d,
        0xcbc9466e58fee3ce,
        0xab0200f58b01d137,
        0x93f5f5799a932462,
        0x9e0082df0ba9e4b0,
        0x7a5dbbc594ddb9f3,
        0xf4b32f46226bada7,
        0x751e8fbc860ee5fb,
        0x14ea5627c0843d90,
        0xf723ca908e7af2ee,
        0xa129ca6149be45e5,
        0x3f2acc7f57c29bdb,
        0x699ae9f52cbe4794,
        0x4bc1b3f0968dd39c,
        0xbb6dc91da77961bd,
        0xbed65cf21aa2ee98,
        0xd0f2cbb02e3b67c7,
        0x93536795e3a33e88,
        0xa80c038ccd5ccec8,
        0xb8ad50c6f649af94,
        0xbce192de8a85b8ea,
        0x17d835b85bbb15f3,
        0x2f2e6163076bcfad,
        0xde4daaaca71dc9a5,
        0xa6a2506687956571,
        0xad87a3535c49ef28,
        0x32d892fad841c342,
        0x7127512f72f27cce,
        0xa7f32346f95978e3,
        0x12e0b01abb051238,
        0x15e034d40fa197ae,
        0x314dffbe0815a3b4,
        0x027990f029623981,
        0xcadcd4e59ef40c4d,
        0x9abfd8766a33735c,
        0x0e3ea96b5304a7d0,
        0xad0c42d6fc585992,
        0x187306c89bc215a9,
        0xd4a60abcf3792b95,
        0xf935451de4f21df2,
        0xa9538f0419755787,
        0xdb9acddff56ca510,
        0xd06c98cd5c0975eb,
        0xe612a3cb9ecba951,
        0xc766e62cfcadaf96,
        0xee64435a9752fe72,
        0xa192d576b245165a,
        0x0a8787bf8ecb74b2,
        0x81b3e73d20b49b6f,
        0x7fa8220ba3b2ecea,
        0x245731c13ca42499,
        0xb78dbfaf3a8d83bd,
        0xea1ad565322a1a0b,
        0x60e61c23a3795013,
        0x6606d7e446282b93,
        0x6ca4ecb15c5f91e1,
        0x9f626da15c9625f3,
        0xe51b38608ef25f57,
        0x958a324ceb064572,
    ];

    fn reference_key() -> [u8; 16] {
        core::array::from_fn(|i| i as u8)
    }

    #[test]
    fn siphash24_matches_all_reference_vectors() {
        let key = reference_key();
        let message: [u8; 64] = core::array::from_fn(|i| i as u8);
        for (len, &expected) in VECTORS_SIP64.iter().enumerate() {
            assert_eq!(
                siphash24(&key, &message[..len]),
                expected,
                "message length {len}"
            );
        }
    }

    #[test]
    fn siphash24_spot_values() {
        // The values quoted most often: empty input, 15 bytes, 63 bytes.
        let key = reference_key();
        let message: [u8; 64] = core::array::from_fn(|i| i as u8);
        assert_eq!(siphash24(&key, &[]), 0x726f_db47_dd0e_0e31);
        assert_eq!(siphash24(&key, &message[..15]), 0xa129_ca61_49be_45e5);
        assert_eq!(siphash24(&key, &message[..63]), 0x958a_324c_eb06_4572);
    }

    fn ep(a: [u8; 4], port: u16) -> IpEndpoint {
        IpEndpoint::new(IpAddr::V4(Ipv4Addr::from(a)), port)
    }

    #[test]
    fn isn_advances_with_the_four_microsecond_clock() {
        let g = IsnGenerator::new([7; 16]);
        let local = ep([192, 168, 1, 2], 49152);
        let remote = ep([192, 168, 1, 1], 443);
        let t0 = Instant::from_secs(10);
        let a = g.isn(t0, local, remote).0;
        for elapsed_us in [4u64, 1_000, 4_000_000, 3_600_000_000] {
            let b = g
                .isn(
                    t0 + crate::time::Duration::from_micros(elapsed_us),
                    local,
                    remote,
                )
                .0;
            assert_eq!(b.wrapping_sub(a), (elapsed_us / 4) as u32);
        }
        // Same instant, same tuple: same ISN.
        assert_eq!(g.isn(t0, local, remote).0, a);
    }

    #[test]
    fn m_wraps_after_2_pow_32_ticks() {
        let g = IsnGenerator::new([1; 16]);
        let local = ep([10, 0, 0, 2], 1000);
        let remote = ep([10, 0, 0, 1], 80);
        let period = 4u64 << 32;
        let t = Instant::from_micros(123_456);
        assert_eq!(
            g.isn(t, local, remote),
            g.isn(Instant::from_micros(123_456 + period), local, remote)
        );
    }

    #[test]
    fn every_part_of_the_tuple_changes_the_offset() {
        let g = IsnGenerator::new([0x5a; 16]);
        let now = Instant::from_millis(1);
        let local = ep([10, 0, 0, 2], 50000);
        let remote = ep([10, 0, 0, 1], 1883);
        let base = g.isn(now, local, remote);
        let variants = [
            (ep([10, 0, 0, 3], 50000), remote),
            (ep([10, 0, 0, 2], 50001), remote),
            (local, ep([10, 0, 0, 9], 1883)),
            (local, ep([10, 0, 0, 1], 8883)),
            // Swapping the ends is a different connection.
            (remote, local),
        ];
        for (l, r) in variants {
            assert_ne!(g.isn(now, l, r), base, "{l} -> {r}");
        }
    }

    #[test]
    fn ipv6_tuples_hash_their_full_address() {
        let g = IsnGenerator::new([3; 16]);
        let now = Instant::ZERO;
        let a = IpEndpoint::new(IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)), 4000);
        let b = IpEndpoint::new(IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2)), 4000);
        let peer = IpEndpoint::new(
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            443,
        );
        assert_ne!(g.isn(now, a, peer), g.isn(now, b, peer));
        // The IPv4 address 0.0.0.0 and the IPv6 address :: are different inputs.
        let v4 = IpEndpoint::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 1);
        let v6 = IpEndpoint::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 1);
        assert_ne!(g.isn(now, v4, v4), g.isn(now, v6, v6));
    }

    #[test]
    fn offsets_spread_over_many_ports() {
        // F should look random: over 256 local ports the offsets are all
        // distinct and their top bits are not stuck.
        let g = IsnGenerator::new(reference_key());
        let remote = ep([203, 0, 113, 5], 443);
        let mut seen = [0u32; 256];
        let mut high = 0;
        for (i, slot) in seen.iter_mut().enumerate() {
            *slot = g
                .isn(Instant::ZERO, ep([10, 0, 0, 2], 40000 + i as u16), remote)
                .0;
            high += (*slot >> 31) as usize;
        }
        for i in 0..seen.len() {
            for j in i + 1..seen.len() {
                assert_ne!(seen[i], seen[j]);
            }
        }
        assert!(
            (80..=176).contains(&high),
            "{high} of 256 with the top bit set"
        );
    }

    #[test]
    fn a_different_key_gives_different_isns() {
        let local = ep([10, 0, 0, 2], 50000);
        let remote = ep([10, 0, 0, 1], 1883);
        let now = Instant::from_secs(5);
        let mut key = [0x11; 16];
        let a = IsnGenerator::new(key).isn(now, local, remote);
        key[15] ^= 1;
        let b = IsnGenerator::new(key).isn(now, local, remote);
        assert_ne!(a, b);
    }

    #[test]
    fn debug_does_not_show_the_key() {
        extern crate std;
        use std::format;
        let g = IsnGenerator::new([0xab; 16]);
        let text = format!("{g:?}");
        assert_eq!(text, "IsnGenerator { .. }");
        assert!(!text.contains("171") && !text.contains("ab"));
    }
}
