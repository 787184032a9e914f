//! The Internet Control Message Protocol for IPv4 ([RFC 792]).
//!
//! ```text
//!  0      1      2          4                      8
//! | type | code | checksum | rest of header       | data ...
//!                           | identifier | seq no  |   (echo, echo reply)
//!                           | unused  | next-hop MTU |   (dest. unreachable, code 4; RFC 1191 §4)
//!                           | ptr | unused          |   (parameter problem)
//! ```
//! Error messages carry the invoking datagram's IP header and at least its
//! first 8 data bytes (RFC 792; RFC 1812 §4.3.2.3 lets routers quote up to
//! 576 bytes in all) in `data()`, which is how a socket finds the flow they
//! are about.
//!
//! The view spans exactly one ICMP message: pass it the IPv4 packet's
//! `payload()`, since the checksum covers the whole message and nothing more.
//!
//! [RFC 792]: https://www.rfc-editor.org/rfc/rfc792

use super::checksum;
use super::{Field, Result, WireError, read_u16, write_u16};

/// The message type (RFC 792; IANA "ICMP Type Numbers").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Icmpv4Type {
    /// 0.
    EchoReply,
    /// 3, with a code from [`unreachable_code`].
    DestUnreachable,
    /// 8.
    EchoRequest,
    /// 11, with a code from [`time_exceeded_code`].
    TimeExceeded,
    /// 12, with a code from [`param_problem_code`].
    ParamProblem,
    /// Any other type (redirect, timestamp, the deprecated source quench...).
    /// Never holds one of the values above.
    Unknown(u8),
}

impl From<u8> for Icmpv4Type {
    fn from(value: u8) -> Self {
        match value {
            0 => Icmpv4Type::EchoReply,
            3 => Icmpv4Type::DestUnreachable,
            8 => Icmpv4Type::EchoRequest,
            11 => Icmpv4Type::TimeExceeded,
            12 => Icmpv4Type::ParamProblem,
            other => Icmpv4Type::Unknown(other),
        }
    }
}

impl From<Icmpv4Type> for u8 {
    fn from(value: Icmpv4Type) -> Self {
        match value {
            Icmpv4Type::EchoReply => 0,
            Icmpv4Type::DestUnreachable => 3,
            Icmpv4Type::EchoRequest => 8,
            Icmpv4Type::TimeExceeded => 11,
            Icmpv4Type::ParamProblem => 12,
            Icmpv4Type::Unknown(other) => other,
        }
    }
}

/// Codes of Destination Unreachable (RFC 792; 6..=12 RFC 1122 §3.2.2.1,
/// 13..=15 RFC 1812 §5.2.7.1).
pub mod unreachable_code {
    pub const NET: u8 = 0;
    pub const HOST: u8 = 1;
    pub const PROTOCOL: u8 = 2;
    pub const PORT: u8 = 3;
    /// Fragmentation needed and DF set; the next-hop MTU is in bytes 6..8 (RFC 1191 §4).
    pub const FRAG_NEEDED: u8 = 4;
    pub const SOURCE_ROUTE_FAILED: u8 = 5;
    pub const DST_NET_UNKNOWN: u8 = 6;
    pub const DST_HOST_UNKNOWN: u8 = 7;
    pub const SRC_HOST_ISOLATED: u8 = 8;
    pub const NET_PROHIBITED: u8 = 9;
    pub const HOST_PROHIBITED: u8 = 10;
    pub const NET_UNREACHABLE_FOR_TOS: u8 = 11;
    pub const HOST_UNREACHABLE_FOR_TOS: u8 = 12;
    pub const COMM_PROHIBITED: u8 = 13;
    pub const HOST_PRECEDENCE_VIOLATION: u8 = 14;
    pub const PRECEDENCE_CUTOFF: u8 = 15;
}

/// Codes of Time Exceeded (RFC 792).
pub mod time_exceeded_code {
    /// Time to live exceeded in transit.
    pub const TTL_EXCEEDED: u8 = 0;
    /// Fragment reassembly time exceeded.
    pub const FRAG_REASSEMBLY: u8 = 1;
}

/// Codes of Parameter Problem (RFC 792; RFC 1122 §3.2.2.5; RFC 1812 §5.2.7.3).
pub mod param_problem_code {
    /// The pointer (byte 4) indicates the error.
    pub const POINTER: u8 = 0;
    pub const MISSING_OPTION: u8 = 1;
    pub const BAD_LENGTH: u8 = 2;
}

mod field {
    use super::Field;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    /// "Rest of header": four bytes whose meaning depends on the type.
    pub const REST: Field = 4..8;
    /// Echo identifier, to match replies to requests.
    pub const ECHO_IDENT: Field = 4..6;
    /// Echo sequence number.
    pub const ECHO_SEQ: Field = 6..8;
    /// Parameter problem: offset of the offending byte in the quoted datagram.
    pub const POINTER: usize = 4;
    /// Fragmentation needed: the MTU of the next-hop network (RFC 1191 §4).
    pub const NEXT_HOP_MTU: Field = 6..8;
    pub const DATA: usize = 8;
}

/// A view of one ICMPv4 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Type, code, checksum and the four bytes of "rest of header".
    pub const HEADER_LEN: usize = field::DATA;

    /// Wraps `buffer` without validation (for messages the stack builds).
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
    }

    /// Wraps and validates `buffer`: see [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Truncated` under the 8-byte header that every message type has.
    /// The checksum is left to [`verify_checksum`](Self::verify_checksum).
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < Self::HEADER_LEN {
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

    pub fn msg_type(&self) -> Icmpv4Type {
        self.buffer.as_ref()[field::TYPE].into()
    }

    /// The code, whose meaning depends on the type.
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// The Internet checksum of the whole message.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Echo and echo reply: the identifier (a "port" for ping sessions).
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_IDENT.start)
    }

    /// Echo and echo reply: the sequence number.
    pub fn echo_seq(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_SEQ.start)
    }

    /// Parameter problem: the byte offset of the error in the quoted datagram.
    pub fn pointer(&self) -> u8 {
        self.buffer.as_ref()[field::POINTER]
    }

    /// Fragmentation needed: the next hop's MTU, or 0 from routers older
    /// than RFC 1191 (§4), which the receiver must then estimate.
    pub fn next_hop_mtu(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::NEXT_HOP_MTU.start)
    }

    /// Everything after the 8-byte header: the echo data, or the invoking
    /// datagram quoted by an error.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA..]
    }

    /// True when the whole message sums to all ones (RFC 792, "Checksum").
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    pub fn set_msg_type(&mut self, value: Icmpv4Type) {
        self.buffer.as_mut()[field::TYPE] = value.into();
    }

    pub fn set_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }

    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, value);
    }

    pub fn set_echo_ident(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_IDENT.start, value);
    }

    pub fn set_echo_seq(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_SEQ.start, value);
    }

    pub fn set_pointer(&mut self, value: u8) {
        self.buffer.as_mut()[field::POINTER] = value;
    }

    pub fn set_next_hop_mtu(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::NEXT_HOP_MTU.start, value);
    }

    /// Zeroes bytes 4..8: the "unused" field errors must send as zero.
    pub fn clear_rest_of_header(&mut self) {
        self.buffer.as_mut()[field::REST].fill(0);
    }

    /// The data after the header, for writing in place.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA..]
    }

    /// Computes and writes the checksum over the whole buffer; call it last.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(sum);
    }
}

impl<'a> Icmpv4Packet<&'a [u8]> {
    /// The data after the 8-byte header, borrowed for as long as the underlying buffer rather than
    /// the view, so views can be peeled off one layer after another.
    pub fn into_data(self) -> &'a [u8] {
        &self.buffer[field::DATA..]
    }
}

impl<'a> Icmpv4Packet<&'a mut [u8]> {
    /// The data after the 8-byte header, mutably, for as long as the underlying buffer.
    pub fn into_data_mut(self) -> &'a mut [u8] {
        &mut self.buffer[field::DATA..]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Icmpv4Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::captures::{
        self, ECHO_REPLY, ECHO_REQUEST, FRAG_NEEDED, PORT_UNREACHABLE, TIME_EXCEEDED,
        TTL_ONE_REQUEST, UDP_TO_CLOSED_PORT,
    };
    use crate::wire::{IpProtocol, Ipv4Packet, UdpPacket};

    /// The ICMP message inside a captured untagged frame.
    fn icmp_of(frame: &[u8]) -> Icmpv4Packet<&[u8]> {
        let ip = Ipv4Packet::new_checked(&frame[14..]).unwrap();
        assert_eq!(ip.protocol(), IpProtocol::Icmp);
        Icmpv4Packet::new_checked(ip.into_payload()).unwrap()
    }

    #[test]
    fn type_converts_both_ways() {
        for (value, ty) in [
            (0, Icmpv4Type::EchoReply),
            (3, Icmpv4Type::DestUnreachable),
            (8, Icmpv4Type::EchoRequest),
            (11, Icmpv4Type::TimeExceeded),
            (12, Icmpv4Type::ParamProblem),
            (5, Icmpv4Type::Unknown(5)),
        ] {
            assert_eq!(Icmpv4Type::from(value), ty);
            assert_eq!(u8::from(ty), value);
        }
    }

    #[test]
    fn reads_captured_echo_request_and_reply() {
        let icmp = icmp_of(&ECHO_REQUEST);
        assert_eq!(icmp.msg_type(), Icmpv4Type::EchoRequest);
        assert_eq!(icmp.code(), 0);
        assert_eq!(icmp.checksum(), 0x16ba);
        assert_eq!(icmp.echo_ident(), 0x0b18);
        assert_eq!(icmp.echo_seq(), 1);
        assert_eq!(icmp.data(), &ECHO_REQUEST[42..]);
        assert_eq!(icmp.data().len(), 16);
        assert!(icmp.verify_checksum());
        assert_eq!(icmp.check_checksum(), Ok(()));

        let reply = icmp_of(&ECHO_REPLY);
        assert_eq!(reply.msg_type(), Icmpv4Type::EchoReply);
        assert_eq!(reply.code(), 0);
        assert_eq!((reply.echo_ident(), reply.echo_seq()), (0x0b18, 1));
        assert_eq!(reply.data(), icmp.data());
        assert!(reply.verify_checksum());
    }

    #[test]
    fn reads_captured_port_unreachable() {
        let icmp = icmp_of(&PORT_UNREACHABLE);
        assert_eq!(icmp.msg_type(), Icmpv4Type::DestUnreachable);
        assert_eq!(icmp.code(), unreachable_code::PORT);
        assert_eq!(icmp.checksum(), 0x1132);
        assert_eq!(&icmp.as_ref()[4..8], &[0; 4]);
        assert!(icmp.verify_checksum());
        // The quoted datagram is the UDP datagram that drew the error, whole.
        assert_eq!(icmp.data(), &UDP_TO_CLOSED_PORT[14..]);
        let quoted = Ipv4Packet::new_checked(icmp.data()).unwrap();
        let udp = UdpPacket::new_checked(quoted.payload()).unwrap();
        assert_eq!((udp.src_port(), udp.dst_port()), (40000, 9999));
    }

    #[test]
    fn reads_captured_time_exceeded_and_frag_needed() {
        let icmp = icmp_of(&TIME_EXCEEDED);
        assert_eq!(icmp.msg_type(), Icmpv4Type::TimeExceeded);
        assert_eq!(icmp.code(), time_exceeded_code::TTL_EXCEEDED);
        assert_eq!(icmp.data(), &TTL_ONE_REQUEST[14..]);
        assert!(icmp.verify_checksum());

        let icmp = icmp_of(&FRAG_NEEDED);
        assert_eq!(icmp.msg_type(), Icmpv4Type::DestUnreachable);
        assert_eq!(icmp.code(), unreachable_code::FRAG_NEEDED);
        assert_eq!(icmp.next_hop_mtu(), 100);
        assert_eq!(icmp.data().len(), 108);
        assert!(icmp.verify_checksum());
        let quoted = Ipv4Packet::new_checked(icmp.data()).unwrap();
        assert!(quoted.dont_frag());
        assert_eq!(quoted.total_len(), 108);
    }

    #[test]
    fn writes_messages_identical_to_the_captures() {
        let mut buf = [0u8; 24];
        let mut icmp = Icmpv4Packet::new_unchecked(&mut buf[..]);
        icmp.set_msg_type(Icmpv4Type::EchoRequest);
        icmp.set_code(0);
        icmp.set_echo_ident(0x0b18);
        icmp.set_echo_seq(1);
        icmp.data_mut().copy_from_slice(&ECHO_REQUEST[42..]);
        icmp.fill_checksum();
        assert_eq!(buf, ECHO_REQUEST[34..]);

        let mut buf = [0xa5u8; 43];
        let mut icmp = Icmpv4Packet::new_unchecked(&mut buf[..]);
        icmp.set_msg_type(Icmpv4Type::DestUnreachable);
        icmp.set_code(unreachable_code::PORT);
        icmp.clear_rest_of_header();
        icmp.data_mut().copy_from_slice(&UDP_TO_CLOSED_PORT[14..]);
        icmp.fill_checksum();
        assert_eq!(buf, PORT_UNREACHABLE[34..]);

        let mut buf = [0xa5u8; 116];
        let mut icmp = Icmpv4Packet::new_unchecked(&mut buf[..]);
        icmp.set_msg_type(Icmpv4Type::DestUnreachable);
        icmp.set_code(unreachable_code::FRAG_NEEDED);
        icmp.clear_rest_of_header();
        icmp.set_next_hop_mtu(100);
        icmp.data_mut().copy_from_slice(&FRAG_NEEDED[42..]);
        icmp.fill_checksum();
        assert_eq!(buf, FRAG_NEEDED[34..]);
    }

    #[test]
    fn parameter_problem_pointer_round_trips() {
        let mut buf = [0u8; 36];
        let mut icmp = Icmpv4Packet::new_unchecked(&mut buf[..]);
        icmp.set_msg_type(Icmpv4Type::ParamProblem);
        icmp.set_code(param_problem_code::POINTER);
        icmp.clear_rest_of_header();
        icmp.set_pointer(9);
        icmp.data_mut()[..28].copy_from_slice(&TTL_ONE_REQUEST[14..42]);
        icmp.fill_checksum();
        let icmp = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(icmp.msg_type(), Icmpv4Type::ParamProblem);
        assert_eq!(icmp.pointer(), 9);
        assert_eq!(&buf[5..8], &[0; 3]);
        assert!(icmp.verify_checksum());
    }

    #[test]
    fn rejects_truncated_and_corrupted_messages() {
        let message = &ECHO_REQUEST[34..];
        for len in 0..8 {
            assert_eq!(
                Icmpv4Packet::new_checked(&message[..len]).err(),
                Some(WireError::Truncated)
            );
        }
        // An echo with no data is still a message.
        assert!(Icmpv4Packet::new_checked(&message[..8]).is_ok());
        // A flipped data bit, or a cut message, fails the checksum.
        let mut buf = [0u8; 24];
        buf.copy_from_slice(message);
        buf[20] ^= 0x10;
        let icmp = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(icmp.check_checksum(), Err(WireError::BadChecksum));
        let cut = Icmpv4Packet::new_checked(&message[..18]).unwrap();
        assert!(!cut.verify_checksum());
    }

    #[test]
    fn random_and_truncated_input_never_panics() {
        let touch = |bytes: &[u8]| {
            let Ok(icmp) = Icmpv4Packet::new_checked(bytes) else {
                return false;
            };
            let _ = (
                icmp.msg_type(),
                icmp.code(),
                icmp.checksum(),
                icmp.pointer(),
            );
            let _ = (icmp.echo_ident(), icmp.echo_seq(), icmp.next_hop_mtu());
            let _ = icmp.verify_checksum();
            assert_eq!(icmp.data().len() + 8, bytes.len());
            true
        };
        captures::robustness(&ECHO_REQUEST[34..], 6, touch);
        captures::robustness(&FRAG_NEEDED[34..], 7, touch);
    }
}
