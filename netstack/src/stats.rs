//! Per-protocol statistics: what came in, what went out, and why anything was
//! dropped. Every place that drops a packet bumps exactly one counter here, so
//! a field engineer can read a device's counters and tell where traffic died.
//!
//! Counters are `u32` and wrap, as SNMP counters do.

macro_rules! counters {
    ($(#[$meta:meta])* $name:ident { $($(#[$field_meta:meta])* $field:ident,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        pub struct $name {
            $($(#[$field_meta])* pub $field: u32,)*
        }
    };
}

counters! {
    /// Ethernet (IEEE 802.3 / Ethernet II).
    EthernetStats {
        /// Frames accepted from the driver.
        rx_frames,
        /// Frames handed to the driver.
        tx_frames,
        /// Shorter than an Ethernet header (or a truncated 802.1Q tag).
        drop_truncated,
        /// Addressed to another station's MAC.
        drop_not_for_us,
        /// An EtherType this stack does not speak.
        drop_unknown_ethertype,
        /// 802.1Q tagged with a VLAN id no interface is configured for.
        drop_unknown_vlan,
        /// Received while the packet pool was empty.
        drop_no_buffer,
        /// Larger than a pool buffer.
        drop_oversized,
    }
}

counters! {
    /// ARP (RFC 826) and the neighbour cache.
    ArpStats {
        rx_packets,
        tx_requests,
        tx_replies,
        /// Announcements sent (RFC 5227 §2.3): gratuitous ARPs when a link
        /// came up or an address was set, and ones asked for by
        /// `send_arp_announcement` (AutoIP claiming or defending an address).
        tx_announcements,
        /// ARP probes sent by `send_arp_probe` (RFC 5227 §2.1.1).
        tx_probes,
        /// Not Ethernet/IPv4 ARP, truncated, or with a nonsensical sender.
        drop_malformed,
        /// Our own ARP packets coming back (a hub, or a TAP reflecting them).
        drop_looped_back,
        /// Another station claims one of our addresses (RFC 5227 §2.4).
        address_conflicts,
        /// Conflicts reported for a watched address (`watch_address`): its
        /// use by another station, or another station probing for it while
        /// we probe (RFC 5227 §2.1.1).
        watch_conflicts,
        /// Neighbours that never answered: pending packets were failed.
        resolution_failures,
        /// Packets dropped while waiting for resolution (failure, eviction, full queue).
        pending_dropped,
        /// Entries evicted to make room (least recently used).
        cache_evictions,
    }
}

counters! {
    /// IPv4 (RFC 791, RFC 1122 §3.2.1).
    Ipv4Stats {
        rx_packets,
        tx_packets,
        /// Shorter than its header or total length says.
        drop_truncated,
        /// Version not 4, header length below 5 words, total length below header.
        drop_malformed,
        drop_bad_checksum,
        /// Source or destination that may not appear on a wire (RFC 1812 §5.3.7).
        drop_martian,
        /// Unicast to an address that is not ours (this stack does not forward).
        drop_not_for_us,
        /// A multicast group this host has not joined.
        drop_not_member,
        /// Fragments (reassembly is not configured).
        drop_fragment,
        /// A protocol with no handler; a protocol unreachable is sent for unicast.
        drop_unknown_protocol,
        /// Send failed: no interface or gateway reaches the destination.
        tx_no_route,
    }
}

counters! {
    /// ICMPv4 (RFC 792).
    IcmpStats {
        rx_messages,
        tx_messages,
        rx_echo_requests,
        tx_echo_replies,
        rx_echo_replies,
        /// Destination unreachable, time exceeded and parameter problem received.
        rx_errors,
        tx_dest_unreachable,
        /// Errors not sent because the rate limit (RFC 1812 §4.3.2.8) was reached.
        tx_rate_limited,
        drop_malformed,
        drop_bad_checksum,
        /// Messages of a type this host does not act on (redirect, timestamp,
        /// router advertisement, unknown types). RFC 1122 §3.2.2 has them
        /// discarded silently: no reply is sent, but they are still counted.
        drop_unsupported_type,
        /// Echo requests to a broadcast or multicast address, ignored by policy.
        drop_broadcast_echo,
        /// Echo replies no ICMP socket was waiting for.
        drop_no_socket,
        drop_queue_full,
    }
}

counters! {
    /// UDP (RFC 768).
    UdpStats {
        rx_datagrams,
        tx_datagrams,
        drop_malformed,
        drop_bad_checksum,
        /// No socket bound to the destination port; a port unreachable may follow.
        drop_no_socket,
        /// The socket's receive queue was at its limit.
        drop_queue_full,
    }
}

counters! {
    /// TCP (RFC 9293), all connections together; each socket has its own too.
    TcpStats {
        rx_segments,
        tx_segments,
        retransmissions,
        /// Loss recoveries entered by duplicate ACKs or SACK (RFC 5681, 6675).
        fast_recoveries,
        /// Of those, recoveries on a connection with SACK, its scoreboard
        /// choosing what to resend (RFC 6675); the rest are NewReno's
        /// (RFC 6582).
        sack_recoveries,
        /// Connections dropped by retransmission, keepalive or user timeouts.
        timeouts,
        drop_malformed,
        drop_bad_checksum,
        /// To a broadcast or multicast address: TCP is unicast only.
        drop_not_unicast,
        /// A SYN for a listener whose backlog or memory was full (without
        /// SYN cookies), or the ACK returning a valid cookie when the
        /// backlog holds only established connections: dropped so the peer
        /// retries, never reset.
        drop_backlog_full,
        /// SYN-ACKs sent with a SYN cookie for a full listener, nothing kept.
        tx_syn_cookies,
        /// Connections made from an ACK that returned a valid SYN cookie
        /// (with the backlog full, in a half-open connection's place).
        rx_syn_cookies,
        /// Outside the receive window (answered with an ACK).
        drop_out_of_window,
        /// Rejected by PAWS (RFC 7323 §5).
        drop_paws,
        /// RSTs received that ended a connection (synchronized, closing, or
        /// half-open in a listener's backlog; RFC 9293 §3.10.7.4).
        rx_resets,
        /// RSTs received that refused a connection we opened (SYN-SENT, or
        /// SYN-RECEIVED after a simultaneous open).
        rx_resets_refused,
        /// RSTs received in the window but not at RCV.NXT, answered with a
        /// challenge ACK (RFC 5961 §3.2); the connection stays.
        rx_resets_challenged,
        /// RSTs received outside the window, dropped (also counted in
        /// `drop_out_of_window`).
        rx_resets_out_of_window,
        /// RSTs sent because no socket wanted the segment (RFC 9293 §3.10.7.1).
        tx_resets_no_socket,
        /// RSTs sent for an unacceptable ACK in SYN-SENT/SYN-RECEIVED.
        tx_resets_bad_ack,
        /// RSTs sent because the application aborted.
        tx_resets_abort,
        /// Challenge ACKs sent (RFC 5961) and ones the rate limit withheld.
        tx_challenge_acks,
        challenge_acks_limited,
    }
}

counters! {
    /// The packet pool.
    PoolStats {
        /// A packet was needed (receive, send, reply) and none was free.
        exhausted,
    }
}

/// All counters of one stack.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stats {
    pub ethernet: EthernetStats,
    pub arp: ArpStats,
    pub ipv4: Ipv4Stats,
    pub icmp: IcmpStats,
    pub udp: UdpStats,
    pub tcp: TcpStats,
    pub pool: PoolStats,
}

/// Adds one to a counter, wrapping.
#[inline]
pub(crate) fn bump(counter: &mut u32) {
    *counter = counter.wrapping_add(1);
}
