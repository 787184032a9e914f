//! Helpers shared by the integration tests: the stack's counters by name,
//! the accounting every received frame must satisfy, and an in-memory driver.
//!
//! Each test crate compiles its own copy and uses a subset.
#![allow(dead_code)]

pub mod queue_driver;

use duet_netstack::Stats;

/// Lists every counter of [`Stats`] once, and generates [`counters`] and
/// [`delta`] from that one list so the two cannot disagree.
macro_rules! every_counter {
    ($($group:ident { $($field:ident),* $(,)? })*) => {
        /// Every counter of `stats`, named `group.field`.
        pub fn counters(stats: &Stats) -> Vec<(&'static str, u32)> {
            vec![$($(
                (concat!(stringify!($group), ".", stringify!($field)), stats.$group.$field),
            )*)*]
        }

        /// What each counter gained from `before` to `after` (counters wrap).
        pub fn delta(after: &Stats, before: &Stats) -> Stats {
            let mut gained = Stats::default();
            $($(
                gained.$group.$field = after.$group.$field.wrapping_sub(before.$group.$field);
            )*)*
            gained
        }
    };
}

every_counter! {
    ethernet {
        rx_frames, tx_frames, drop_truncated, drop_not_for_us, drop_unknown_ethertype,
        drop_unknown_vlan, drop_no_buffer, drop_oversized,
    }
    arp {
        rx_packets, tx_requests, tx_replies, tx_announcements, drop_malformed,
        drop_looped_back, address_conflicts, resolution_failures, pending_dropped,
        cache_evictions,
    }
    ipv4 {
        rx_packets, tx_packets, drop_truncated, drop_malformed, drop_bad_checksum,
        drop_martian, drop_not_for_us, drop_not_member, drop_fragment,
        drop_unknown_protocol, tx_no_route,
    }
    icmp {
        rx_messages, tx_messages, rx_echo_requests, tx_echo_replies, rx_echo_replies,
        rx_errors, tx_dest_unreachable, tx_rate_limited, drop_malformed,
        drop_bad_checksum, drop_unsupported_type, drop_broadcast_echo, drop_no_socket,
        drop_queue_full,
    }
    udp {
        rx_datagrams, tx_datagrams, drop_malformed, drop_bad_checksum, drop_no_socket,
        drop_queue_full,
    }
    tcp {
        rx_segments, tx_segments, retransmissions, fast_recoveries, sack_recoveries,
        timeouts, drop_malformed, drop_bad_checksum, drop_not_unicast, drop_backlog_full,
        drop_out_of_window, drop_paws, rx_resets, rx_resets_refused, rx_resets_challenged,
        rx_resets_out_of_window, tx_resets_no_socket, tx_resets_bad_ack, tx_resets_abort,
        tx_challenge_acks, challenge_acks_limited,
    }
    pool { exhausted }
}

/// Frames refused on their way in, each counted where it was refused, before
/// any protocol accepted it: Ethernet and IPv4 input, and the entry checks
/// of UDP, ICMP and TCP. Together with the frames the protocols accepted
/// ([`accepted`]) they make up every frame the stack took from its driver.
pub fn rx_drops(s: &Stats) -> u64 {
    [
        s.ethernet.drop_truncated,
        s.ethernet.drop_not_for_us,
        s.ethernet.drop_unknown_ethertype,
        s.ethernet.drop_unknown_vlan,
        s.ethernet.drop_no_buffer,
        s.ethernet.drop_oversized,
        s.ipv4.drop_truncated,
        s.ipv4.drop_malformed,
        s.ipv4.drop_bad_checksum,
        s.ipv4.drop_martian,
        s.ipv4.drop_not_for_us,
        s.ipv4.drop_not_member,
        s.ipv4.drop_fragment,
        s.ipv4.drop_unknown_protocol,
        s.icmp.drop_malformed,
        s.icmp.drop_bad_checksum,
        s.udp.drop_malformed,
        s.udp.drop_bad_checksum,
        s.udp.drop_no_socket,
        s.udp.drop_queue_full,
        s.tcp.drop_not_unicast,
        s.tcp.drop_malformed,
        s.tcp.drop_bad_checksum,
    ]
    .iter()
    .map(|&c| u64::from(c))
    .sum()
}

/// Frames a protocol took in: every ARP packet (malformed ones included, as
/// ARP counts them itself), ICMP messages past their checksum, UDP
/// datagrams queued on a socket, and TCP segments past TCP's entry checks
/// (`tcp.rx_segments` counts every segment, the refused ones too).
pub fn accepted(s: &Stats) -> u64 {
    let tcp_refused = u64::from(s.tcp.drop_not_unicast)
        + u64::from(s.tcp.drop_malformed)
        + u64::from(s.tcp.drop_bad_checksum);
    u64::from(s.arp.rx_packets)
        + u64::from(s.icmp.rx_messages)
        + u64::from(s.udp.rx_datagrams)
        + u64::from(s.tcp.rx_segments)
        - tcp_refused
}

/// Frames the stack was handed by its driver.
pub fn frames_taken(s: &Stats) -> u64 {
    u64::from(s.ethernet.rx_frames)
        + u64::from(s.ethernet.drop_oversized)
        + u64::from(s.ethernet.drop_no_buffer)
}

/// FNV-1a, 64 bit: a stable hash for traces (the same bytes give the same
/// value in every process, unlike `std`'s randomly keyed hasher).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fnv(pub u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub fn write_u64(&mut self, value: u64) {
        self.write(&value.to_le_bytes());
    }

    pub fn of(bytes: &[u8]) -> u64 {
        let mut hash = Fnv::default();
        hash.write(bytes);
        hash.0
    }
}

/// RFC 1071 Internet checksum of `data`, starting from the partial sum `sum`.
pub fn internet_checksum(data: &[u8], mut sum: u32) -> u16 {
    for pair in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([
            pair[0],
            pair.get(1).copied().unwrap_or(0),
        ]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
