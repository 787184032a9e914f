//! The Internet Protocol, version 4 ([RFC 791] §3.1).
//!
//! ```text
//!  0       4       8              16    19                 31
//! |version|  IHL  | DSCP    | ECN |        total length      |
//! |        identification         |flags|  fragment offset   |
//! |  time to live | protocol      |      header checksum     |
//! |                      source address                      |
//! |                    destination address                   |
//! |                 options (IHL > 5) ...                    |
//! ```
//! The type-of-service byte is split as RFC 2474 (DSCP) and RFC 3168 (ECN)
//! redefined it. Options are carried but not interpreted: the view only
//! makes sure they can be skipped.
//!
//! [RFC 791]: https://www.rfc-editor.org/rfc/rfc791

use core::net::Ipv4Addr;

use super::checksum;
use super::{Field, Result, WireError, read_ipv4, read_u16, write_u16};

/// The protocol field (IPv6: next header), from IANA's "Assigned Internet
/// Protocol Numbers".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum IpProtocol {
    /// 1, RFC 792.
    Icmp,
    /// 2, RFC 1112 / RFC 3376.
    Igmp,
    /// 6, RFC 9293.
    Tcp,
    /// 17, RFC 768.
    Udp,
    /// 58, RFC 4443.
    Icmpv6,
    /// Any other value. Never holds one of the values above.
    Unknown(u8),
}

impl From<u8> for IpProtocol {
    fn from(value: u8) -> Self {
        match value {
            1 => IpProtocol::Icmp,
            2 => IpProtocol::Igmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            58 => IpProtocol::Icmpv6,
            other => IpProtocol::Unknown(other),
        }
    }
}

impl From<IpProtocol> for u8 {
    fn from(value: IpProtocol) -> Self {
        match value {
            IpProtocol::Icmp => 1,
            IpProtocol::Igmp => 2,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Icmpv6 => 58,
            IpProtocol::Unknown(other) => other,
        }
    }
}

mod field {
    use super::Field;

    /// Version (high nibble) and Internet Header Length in 32-bit words (low nibble).
    pub const VER_IHL: usize = 0;
    /// DSCP (high six bits, RFC 2474 §3) and ECN (low two bits, RFC 3168 §5).
    pub const DSCP_ECN: usize = 1;
    /// Total length of header and data, in bytes.
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    /// Flags (reserved, DF, MF) in the top three bits, fragment offset in 8-byte units below.
    pub const FLAGS_FRAG: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
}

const FLAG_DONT_FRAG: u16 = 0x4000;
const FLAG_MORE_FRAGS: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet: header, options and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// A header without options.
    pub const MIN_HEADER_LEN: usize = field::DST_ADDR.end;

    /// Wraps `buffer` without validation (for packets the stack builds).
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps and validates `buffer`: see [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Makes every getter safe and `payload()` exact.
    ///
    /// `Truncated` if the buffer is shorter than 20 bytes or than the total
    /// length (the header length included, since it never exceeds the total
    /// length here). `Malformed` if the version is not 4, the IHL is below 5
    /// (RFC 791 §3.1: "the minimum value for a correct header is 5"), or the
    /// total length is below the header length. A buffer longer than the
    /// total length is fine: the rest is link padding, which `payload()` leaves out.
    /// The checksum is not checked here: the driver may have done it
    /// (checksum offload); see [`verify_checksum`](Self::verify_checksum).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < Self::MIN_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if self.version() != 4 || self.header_len() < Self::MIN_HEADER_LEN {
            return Err(WireError::Malformed);
        }
        let total_len = usize::from(self.total_len());
        if total_len < self.header_len() {
            return Err(WireError::Malformed);
        }
        if total_len > len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// `BadChecksum` unless [`verify_checksum`](Self::verify_checksum) holds.
    pub fn check_checksum(&self) -> Result<()> {
        if self.verify_checksum() {
            Ok(())
        } else {
            Err(WireError::BadChecksum)
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version: 4.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4), options included: 20..=60.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// Differentiated Services Code Point (RFC 2474 §3).
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    /// Explicit Congestion Notification codepoint (RFC 3168 §5).
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// Total length of the datagram in bytes, header included.
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Identification: ties the fragments of one datagram together.
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT.start)
    }

    /// DF: routers must drop rather than fragment (and send "fragmentation needed").
    pub fn dont_frag(&self) -> bool {
        self.flags_and_frag() & FLAG_DONT_FRAG != 0
    }

    /// MF: more fragments of this datagram follow.
    pub fn more_frags(&self) -> bool {
        self.flags_and_frag() & FLAG_MORE_FRAGS != 0
    }

    /// Where this fragment's data sits in the original datagram, in bytes
    /// (the field counts 8-byte units).
    pub fn frag_offset(&self) -> u16 {
        (self.flags_and_frag() & FRAG_OFFSET_MASK) << 3
    }

    fn flags_and_frag(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FLAGS_FRAG.start)
    }

    /// Time to live: hops left.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// The protocol of the data.
    pub fn protocol(&self) -> IpProtocol {
        self.buffer.as_ref()[field::PROTOCOL].into()
    }

    /// Header checksum: the Internet checksum of the header alone.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        read_ipv4(self.buffer.as_ref(), field::SRC_ADDR)
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        read_ipv4(self.buffer.as_ref(), field::DST_ADDR)
    }

    /// The option bytes (RFC 791 §3.1 "Options"), uninterpreted; empty when IHL is 5.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[Self::MIN_HEADER_LEN..self.header_len()]
    }

    /// The data: from the end of the header to the total length, so any
    /// Ethernet padding after the datagram is left out.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }

    /// True when the header, options included, sums to all ones (RFC 1071 §1(4)).
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(&self.buffer.as_ref()[..self.header_len()]) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Writes version 4 and the IHL for a header of `header_len` bytes (a
    /// multiple of 4, 20..=60).
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }

    pub fn set_dscp_ecn(&mut self, dscp: u8, ecn: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = (dscp << 2) | (ecn & 0x03);
    }

    pub fn set_total_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, value);
    }

    pub fn set_ident(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT.start, value);
    }

    /// Writes the flags and the fragment offset, given in bytes (a multiple
    /// of 8); the reserved flag is cleared.
    pub fn set_flags_and_frag_offset(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let mut value = (offset >> 3) & FRAG_OFFSET_MASK;
        if dont_frag {
            value |= FLAG_DONT_FRAG;
        }
        if more_frags {
            value |= FLAG_MORE_FRAGS;
        }
        write_u16(self.buffer.as_mut(), field::FLAGS_FRAG.start, value);
    }

    pub fn set_ttl(&mut self, value: u8) {
        self.buffer.as_mut()[field::TTL] = value;
    }

    pub fn set_protocol(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = value.into();
    }

    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, value);
    }

    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&addr.octets());
    }

    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&addr.octets());
    }

    /// Computes and writes the header checksum over `header_len()` bytes;
    /// call it after every other header field is final.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let header_len = self.header_len();
        let sum = checksum::checksum(&self.buffer.as_ref()[..header_len]);
        self.set_checksum(sum);
    }

    /// The data (header length to total length), for writing in place.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.header_len()..usize::from(self.total_len());
        &mut self.buffer.as_mut()[range]
    }

    /// Writes a complete 20-byte header, checksum included: no options,
    /// DSCP and ECN 0, DF set (the stack does path MTU discovery, RFC 1191,
    /// rather than let routers fragment), not a fragment. `payload_len` must
    /// be at most 65,515 so that the total length fits 16 bits.
    pub fn write_header(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        ttl: u8,
        payload_len: u16,
        ident: u16,
    ) {
        self.set_version_and_header_len(Self::MIN_HEADER_LEN);
        self.set_dscp_ecn(0, 0);
        self.set_total_len(payload_len.saturating_add(Self::MIN_HEADER_LEN as u16));
        self.set_ident(ident);
        self.set_flags_and_frag_offset(true, false, 0);
        self.set_ttl(ttl);
        self.set_protocol(protocol);
        self.set_src_addr(src);
        self.set_dst_addr(dst);
        self.fill_checksum();
    }
}

impl<'a> Ipv4Packet<&'a [u8]> {
    /// The data (header length to total length), borrowed for as long as the underlying buffer
    /// rather than the view, so views can be peeled off one layer after another.
    pub fn into_payload(self) -> &'a [u8] {
        let range = self.header_len()..usize::from(self.total_len());
        &self.buffer[range]
    }
}

impl<'a> Ipv4Packet<&'a mut [u8]> {
    /// The data (header length to total length), mutably, for as long as the underlying buffer.
    pub fn into_payload_mut(self) -> &'a mut [u8] {
        let range = self.header_len()..usize::from(self.total_len());
        &mut self.buffer[range]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Ipv4Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// "This network" (0.0.0.0/8, RFC 1122 §3.2.1.3(a)/(b), RFC 6890): valid only
/// as a source while a host learns its address, never as a destination.
pub fn is_this_network(addr: Ipv4Addr) -> bool {
    addr.octets()[0] == 0
}

/// Reserved for future use (240.0.0.0/4, RFC 1112 §4, RFC 6890), excluding
/// the limited broadcast 255.255.255.255 that sits inside it. (Core's
/// `Ipv4Addr::is_reserved` is unstable.)
pub fn is_reserved(addr: Ipv4Addr) -> bool {
    addr.octets()[0] >= 240 && !addr.is_broadcast()
}

/// A source address no packet arriving from a network may carry (RFC 1812
/// §5.3.7, RFC 1122 §3.2.1.3): "this network" other than 0.0.0.0 itself,
/// loopback, multicast, reserved, or the limited broadcast. 0.0.0.0 passes,
/// because a host without an address yet (a DHCP client, RFC 2131 §4.1)
/// legitimately sends from it. Subnet-directed broadcasts depend on the
/// interface's prefix and are the interface's to check.
pub fn is_martian_source(addr: Ipv4Addr) -> bool {
    (is_this_network(addr) && !addr.is_unspecified())
        || addr.is_loopback()
        || addr.is_multicast()
        || addr.octets()[0] >= 240
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::captures::{
        self, ECHO_REPLY, ECHO_REQUEST, FRAG_NEEDED, RECORD_ROUTE_REPLY, RECORD_ROUTE_REQUEST,
        TIME_EXCEEDED, TTL_ONE_REQUEST, UDP_DATAGRAM, UDP_TO_CLOSED_PORT,
    };

    const IP_A: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
    const IP_B: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);

    #[test]
    fn protocol_converts_both_ways() {
        for (value, proto) in [
            (1, IpProtocol::Icmp),
            (2, IpProtocol::Igmp),
            (6, IpProtocol::Tcp),
            (17, IpProtocol::Udp),
            (58, IpProtocol::Icmpv6),
            (89, IpProtocol::Unknown(89)),
        ] {
            assert_eq!(IpProtocol::from(value), proto);
            assert_eq!(u8::from(proto), value);
        }
    }

    #[test]
    fn reads_every_field_of_a_captured_echo_request() {
        let ip = Ipv4Packet::new_checked(&ECHO_REQUEST[14..]).unwrap();
        assert_eq!(ip.version(), 4);
        assert_eq!(ip.header_len(), 20);
        assert_eq!(ip.dscp(), 0);
        assert_eq!(ip.ecn(), 0);
        assert_eq!(ip.total_len(), 44);
        assert_eq!(ip.ident(), 0x8338);
        assert!(ip.dont_frag());
        assert!(!ip.more_frags());
        assert_eq!(ip.frag_offset(), 0);
        assert_eq!(ip.ttl(), 64);
        assert_eq!(ip.protocol(), IpProtocol::Icmp);
        assert_eq!(ip.checksum(), 0xa384);
        assert_eq!(ip.src_addr(), IP_A);
        assert_eq!(ip.dst_addr(), IP_B);
        assert_eq!(ip.options(), &[] as &[u8]);
        assert_eq!(ip.payload(), &ECHO_REQUEST[34..]);
        assert!(ip.verify_checksum());
        assert_eq!(ip.check_checksum(), Ok(()));
    }

    #[test]
    fn reads_captured_replies_and_errors() {
        let ip = Ipv4Packet::new_checked(&ECHO_REPLY[14..]).unwrap();
        assert!(!ip.dont_frag());
        assert_eq!(ip.ident(), 0x5cc6);
        assert_eq!((ip.src_addr(), ip.dst_addr()), (IP_B, IP_A));
        assert!(ip.verify_checksum());

        // ICMP errors go out with DSCP 48 (CS6, "network control", TOS 0xc0).
        let ip = Ipv4Packet::new_checked(&TIME_EXCEEDED[14..]).unwrap();
        assert_eq!((ip.dscp(), ip.ecn()), (48, 0));
        assert_eq!(ip.total_len(), 64);
        assert!(ip.verify_checksum());
        // The quoted datagram is an IPv4 header too, with TTL 1 as sent.
        let quoted = Ipv4Packet::new_unchecked(&ip.payload()[8..]);
        assert_eq!(quoted.ttl(), 1);
        assert_eq!(quoted.dst_addr(), Ipv4Addr::new(10, 9, 9, 9));
        assert!(quoted.verify_checksum());

        let ip = Ipv4Packet::new_checked(&TTL_ONE_REQUEST[14..]).unwrap();
        assert_eq!(ip.ttl(), 1);
        let ip = Ipv4Packet::new_checked(&FRAG_NEEDED[14..]).unwrap();
        assert_eq!(ip.total_len(), 136);
        assert!(ip.verify_checksum());
    }

    #[test]
    fn skips_options_it_does_not_interpret() {
        let ip = Ipv4Packet::new_checked(&RECORD_ROUTE_REQUEST[14..]).unwrap();
        assert_eq!(ip.header_len(), 60);
        assert_eq!(ip.total_len(), 76);
        // NOP, then Record Route (type 7, length 39, pointer 8) holding 10.9.0.1.
        assert_eq!(ip.options().len(), 40);
        assert_eq!(ip.options()[..8], [0x01, 0x07, 0x27, 0x08, 10, 9, 0, 1]);
        assert_eq!(ip.payload(), &RECORD_ROUTE_REQUEST[74..]);
        assert_eq!(ip.payload()[0], 8); // echo request
        assert!(ip.verify_checksum());

        let ip = Ipv4Packet::new_checked(&RECORD_ROUTE_REPLY[14..]).unwrap();
        assert_eq!(ip.options()[..3], [0x07, 0x27, 0x10]);
        assert_eq!(ip.options()[39], 0x00); // end of option list
        assert!(ip.verify_checksum());
    }

    #[test]
    fn trims_link_padding_from_the_payload() {
        // On a real wire the 49-byte frame is padded to 60; the payload ends
        // where the total length says.
        let mut frame = [0u8; 60];
        frame[..49].copy_from_slice(&UDP_TO_CLOSED_PORT);
        let ip = Ipv4Packet::new_checked(&frame[14..]).unwrap();
        assert_eq!(ip.total_len(), 35);
        assert_eq!(ip.payload(), &UDP_TO_CLOSED_PORT[34..]);
        assert_eq!(ip.payload().len(), 15);
    }

    #[test]
    fn writes_headers_identical_to_the_captures() {
        // Request: exactly what write_header produces.
        let mut buf = [0u8; 44];
        buf[20..].copy_from_slice(&ECHO_REQUEST[34..]);
        let mut ip = Ipv4Packet::new_unchecked(&mut buf[..]);
        ip.write_header(IP_A, IP_B, IpProtocol::Icmp, 64, 24, 0x8338);
        assert_eq!(ip.payload_mut().len(), 24);
        assert_eq!(buf, ECHO_REQUEST[14..]);

        let mut buf = [0u8; 38];
        buf[20..].copy_from_slice(&UDP_DATAGRAM[34..]);
        Ipv4Packet::new_unchecked(&mut buf[..]).write_header(
            IP_A,
            IP_B,
            IpProtocol::Udp,
            64,
            18,
            0xacba,
        );
        assert_eq!(buf, UDP_DATAGRAM[14..]);

        // An ICMP error: every field through its setter.
        let mut buf = [0u8; 64];
        let mut ip = Ipv4Packet::new_unchecked(&mut buf[..]);
        ip.set_version_and_header_len(20);
        ip.set_dscp_ecn(48, 0);
        ip.set_total_len(64);
        ip.set_ident(0x5d9d);
        ip.set_flags_and_frag_offset(false, false, 0);
        ip.set_ttl(64);
        ip.set_protocol(IpProtocol::Icmp);
        ip.set_src_addr(IP_B);
        ip.set_dst_addr(IP_A);
        ip.payload_mut().copy_from_slice(&TIME_EXCEEDED[34..]);
        ip.fill_checksum();
        assert_eq!(ip.checksum(), 0x084c);
        assert_eq!(buf, TIME_EXCEEDED[14..]);

        // Options: the checksum covers them.
        let mut buf = [0u8; 76];
        buf[20..].copy_from_slice(&RECORD_ROUTE_REQUEST[34..]);
        let mut ip = Ipv4Packet::new_unchecked(&mut buf[..]);
        ip.write_header(IP_A, IP_B, IpProtocol::Icmp, 64, 56, 0x83a8);
        ip.set_version_and_header_len(60);
        ip.fill_checksum();
        assert_eq!(buf, RECORD_ROUTE_REQUEST[14..]);
    }

    #[test]
    fn fragment_fields_round_trip() {
        let mut buf = [0u8; 20];
        let mut ip = Ipv4Packet::new_unchecked(&mut buf[..]);
        ip.set_flags_and_frag_offset(false, true, 1480);
        assert!(!ip.dont_frag() && ip.more_frags());
        assert_eq!(ip.frag_offset(), 1480);
        ip.set_flags_and_frag_offset(true, false, 65528);
        assert!(ip.dont_frag() && !ip.more_frags());
        assert_eq!(ip.frag_offset(), 65528);
    }

    #[test]
    fn rejects_truncated_and_inconsistent_headers() {
        let packet = &ECHO_REQUEST[14..];
        for len in 0..packet.len() {
            assert_eq!(
                Ipv4Packet::new_checked(&packet[..len]).err(),
                Some(WireError::Truncated)
            );
        }
        let malformed = |at: usize, value: u8| {
            let mut buf = [0u8; 44];
            buf.copy_from_slice(packet);
            buf[at] = value;
            Ipv4Packet::new_checked(&buf[..]).err()
        };
        assert_eq!(malformed(0, 0x65), Some(WireError::Malformed)); // version 6
        assert_eq!(malformed(0, 0x44), Some(WireError::Malformed)); // IHL 4
        assert_eq!(malformed(0, 0x40), Some(WireError::Malformed)); // IHL 0
        assert_eq!(malformed(3, 19), Some(WireError::Malformed)); // total length < 20
        assert_eq!(malformed(0, 0x4c), Some(WireError::Malformed)); // 48-byte header, total 44
        // A header that takes the whole datagram is fine: the payload is empty.
        assert_eq!(malformed(0, 0x4b), None);
    }

    #[test]
    fn header_longer_than_total_or_buffer_is_rejected() {
        let packet = &RECORD_ROUTE_REQUEST[14..];
        let mut buf = [0u8; 76];
        buf.copy_from_slice(packet);
        buf[3] = 40; // total length 40 < 60-byte header
        assert_eq!(
            Ipv4Packet::new_checked(&buf[..]).err(),
            Some(WireError::Malformed)
        );
        // Total length consistent, but the buffer stops inside the options.
        assert_eq!(
            Ipv4Packet::new_checked(&packet[..50]).err(),
            Some(WireError::Truncated)
        );
        // Total length beyond the buffer.
        buf[3] = 77;
        assert_eq!(
            Ipv4Packet::new_checked(&buf[..]).err(),
            Some(WireError::Truncated)
        );
    }

    #[test]
    fn detects_a_corrupted_header() {
        let mut buf = [0u8; 44];
        buf.copy_from_slice(&ECHO_REQUEST[14..]);
        buf[8] = 63; // TTL changed in flight without a checksum update
        let ip = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert!(!ip.verify_checksum());
        assert_eq!(ip.check_checksum(), Err(WireError::BadChecksum));
        // ... and with RFC 1624's incremental update it verifies again.
        let fixed = checksum::update(ip.checksum(), 0x4001, 0x3f01);
        let mut ip = Ipv4Packet::new_unchecked(&mut buf[..]);
        ip.set_checksum(fixed);
        assert!(ip.verify_checksum());
    }

    #[test]
    fn classifies_addresses() {
        assert!(is_this_network(Ipv4Addr::new(0, 1, 2, 3)));
        assert!(!is_this_network(IP_A));
        assert!(is_reserved(Ipv4Addr::new(240, 0, 0, 1)));
        assert!(is_reserved(Ipv4Addr::new(255, 255, 255, 254)));
        assert!(!is_reserved(Ipv4Addr::BROADCAST));
        assert!(!is_reserved(Ipv4Addr::new(239, 255, 255, 255)));
        for martian in [
            Ipv4Addr::new(0, 0, 0, 1),
            Ipv4Addr::new(127, 0, 0, 1),
            Ipv4Addr::new(224, 0, 0, 1),
            Ipv4Addr::new(240, 1, 2, 3),
            Ipv4Addr::BROADCAST,
        ] {
            assert!(is_martian_source(martian), "{martian}");
        }
        for fine in [Ipv4Addr::UNSPECIFIED, IP_A, Ipv4Addr::new(169, 254, 1, 1)] {
            assert!(!is_martian_source(fine), "{fine}");
        }
    }

    #[test]
    fn random_and_truncated_input_never_panics() {
        let touch = |bytes: &[u8]| {
            let Ok(ip) = Ipv4Packet::new_checked(bytes) else {
                return false;
            };
            let _ = (
                ip.version(),
                ip.dscp(),
                ip.ecn(),
                ip.ident(),
                ip.ttl(),
                ip.protocol(),
            );
            let _ = (
                ip.dont_frag(),
                ip.more_frags(),
                ip.frag_offset(),
                ip.checksum(),
            );
            let _ = (ip.src_addr(), ip.dst_addr(), ip.verify_checksum());
            let header = ip.header_len() - ip.options().len();
            assert_eq!(header, 20);
            assert!(ip.header_len() + ip.payload().len() == usize::from(ip.total_len()));
            true
        };
        captures::robustness(&ECHO_REQUEST[14..], 4, touch);
        captures::robustness(&RECORD_ROUTE_REQUEST[14..], 5, touch);
    }
}
