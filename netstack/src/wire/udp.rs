//! The User Datagram Protocol ([RFC 768]), over IPv4 and IPv6.
//!
//! ```text
//!  0           2                4         6           8
//! | source port | destination port | length | checksum | data ...
//! ```
//! The checksum covers a pseudo-header from the IP layer
//! ([`checksum::pseudo_header`]), so verifying and filling it take the
//! addresses. The view spans the IP payload; the length field decides where
//! the datagram ends.
//!
//! [RFC 768]: https://www.rfc-editor.org/rfc/rfc768

use core::net::IpAddr;

use super::checksum;
use super::{Field, Result, WireError, read_u16, write_u16};

mod field {
    use super::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    /// Length in bytes of the header and the data.
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
}

/// The UDP protocol number, as the pseudo-header carries it.
const PROTOCOL_UDP: u8 = 17;

/// A view of a UDP datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    pub const HEADER_LEN: usize = field::CHECKSUM.end;

    /// Wraps `buffer` without validation (for datagrams the stack builds).
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Wraps and validates `buffer`: see [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Truncated` under 8 bytes or when the length field reaches past the
    /// buffer; `Malformed` when it is below the 8-byte header (which also
    /// refuses RFC 2675 jumbograms, length 0). Bytes after the length are
    /// ignored.
    pub fn check_len(&self) -> Result<()> {
        let buffer_len = self.buffer.as_ref().len();
        if buffer_len < Self::HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let len = usize::from(self.len());
        if len < Self::HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if len > buffer_len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// `BadChecksum` unless [`verify_checksum`](Self::verify_checksum) holds.
    pub fn check_checksum(&self, src: &IpAddr, dst: &IpAddr) -> Result<()> {
        if self.verify_checksum(src, dst) {
            Ok(())
        } else {
            Err(WireError::BadChecksum)
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT.start)
    }

    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT.start)
    }

    /// Length of the datagram in bytes, header included.
    pub fn len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// True when the datagram carries no data.
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= Self::HEADER_LEN
    }

    /// The checksum field; 0 means "not computed" over IPv4.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// The data: from the header to the length field's end.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[Self::HEADER_LEN..usize::from(self.len())]
    }

    /// Checks the checksum against the pseudo-header of `src` and `dst`.
    ///
    /// A zero checksum means the sender computed none: accepted over IPv4
    /// (RFC 768), refused over IPv6, where it is mandatory (RFC 8200 §8.1;
    /// the RFC 6935 tunnel exception does not apply to a host stack).
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        if self.checksum() == 0 {
            return matches!((src, dst), (IpAddr::V4(_), IpAddr::V4(_)));
        }
        checksum::fold(self.checksum_accumulator(src, dst)) == 0xffff
    }

    fn checksum_accumulator(&self, src: &IpAddr, dst: &IpAddr) -> u64 {
        let len = self.len();
        let pseudo = checksum::pseudo_header(src, dst, PROTOCOL_UDP, u32::from(len));
        checksum::accumulate(pseudo, &self.buffer.as_ref()[..usize::from(len)])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    pub fn set_src_port(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT.start, value);
    }

    pub fn set_dst_port(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT.start, value);
    }

    pub fn set_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, value);
    }

    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, value);
    }

    /// The data (header to length field), for writing in place.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[Self::HEADER_LEN..end]
    }

    /// Computes and writes the checksum over the pseudo-header, header and
    /// data; call it after the data is in place. A computed 0 goes out as
    /// 0xFFFF (RFC 768: all ones), as 0 would mean "no checksum".
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        self.set_checksum(0);
        let sum = !checksum::fold(self.checksum_accumulator(src, dst));
        self.set_checksum(if sum == 0 { 0xffff } else { sum });
    }

    /// Writes the ports and the length of a datagram with `payload_len` data
    /// bytes (at most 65,527), and zeroes the checksum for `fill_checksum`
    /// (or for the hardware, with checksum offload).
    pub fn write_header(&mut self, src_port: u16, dst_port: u16, payload_len: u16) {
        self.set_src_port(src_port);
        self.set_dst_port(dst_port);
        self.set_len(payload_len.saturating_add(Self::HEADER_LEN as u16));
        self.set_checksum(0);
    }
}

impl<'a> UdpPacket<&'a [u8]> {
    /// The data (header to length field), borrowed for as long as the underlying buffer rather than
    /// the view, so views can be peeled off one layer after another.
    pub fn into_payload(self) -> &'a [u8] {
        let end = usize::from(self.len());
        &self.buffer[Self::HEADER_LEN..end]
    }
}

impl<'a> UdpPacket<&'a mut [u8]> {
    /// The data (header to length field), mutably, for as long as the underlying buffer.
    pub fn into_payload_mut(self) -> &'a mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer[Self::HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for UdpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::captures::{self, UDP_DATAGRAM, UDP_TO_CLOSED_PORT, UDP6_DATAGRAM};
    use core::net::{Ipv4Addr, Ipv6Addr};

    const IP_A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1));
    const IP_B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 9, 0, 2));
    const IP6_A: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 9, 0, 0, 0, 0, 0, 1));
    const IP6_B: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 9, 0, 0, 0, 0, 0, 2));

    #[test]
    fn reads_every_field_of_a_captured_datagram() {
        let udp = UdpPacket::new_checked(&UDP_DATAGRAM[34..]).unwrap();
        assert_eq!(udp.src_port(), 40000);
        assert_eq!(udp.dst_port(), 7777);
        assert_eq!(udp.len(), 18);
        assert!(!udp.is_empty());
        assert_eq!(udp.checksum(), 0x2338);
        assert_eq!(udp.payload(), b"hello duet");
        assert!(udp.verify_checksum(&IP_A, &IP_B));
        assert_eq!(udp.check_checksum(&IP_A, &IP_B), Ok(()));
        // The pseudo-header binds the datagram to its addresses.
        assert!(!udp.verify_checksum(&IP_A, &IpAddr::V4(Ipv4Addr::new(10, 9, 0, 3))));

        let udp = UdpPacket::new_checked(&UDP_TO_CLOSED_PORT[34..]).unwrap();
        assert_eq!((udp.dst_port(), udp.len()), (9999, 15));
        assert_eq!(udp.payload(), b"closed?");
        assert!(udp.verify_checksum(&IP_A, &IP_B));
    }

    #[test]
    fn reads_a_captured_ipv6_datagram() {
        // IPv6 fixed header (RFC 8200 §3): addresses at 8..24 and 24..40.
        let ip6 = &UDP6_DATAGRAM[14..54];
        let src = IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&ip6[8..24]).unwrap()));
        let dst = IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&ip6[24..40]).unwrap()));
        assert_eq!((src, dst), (IP6_A, IP6_B));
        let udp = UdpPacket::new_checked(&UDP6_DATAGRAM[54..]).unwrap();
        assert_eq!(
            (udp.src_port(), udp.dst_port(), udp.len()),
            (40001, 9999, 16)
        );
        assert_eq!(udp.checksum(), 0x883e);
        assert_eq!(udp.payload(), b"hello v6");
        assert!(udp.verify_checksum(&src, &dst));
    }

    #[test]
    fn zero_checksum_means_none_over_ipv4_only() {
        let mut buf = [0u8; 18];
        buf.copy_from_slice(&UDP_DATAGRAM[34..]);
        let mut udp = UdpPacket::new_unchecked(&mut buf[..]);
        udp.set_checksum(0);
        assert!(udp.verify_checksum(&IP_A, &IP_B));
        assert!(!udp.verify_checksum(&IP6_A, &IP6_B));
        assert_eq!(
            udp.check_checksum(&IP6_A, &IP6_B),
            Err(WireError::BadChecksum)
        );
    }

    #[test]
    fn writes_datagrams_identical_to_the_captures() {
        let mut buf = [0u8; 18];
        let mut udp = UdpPacket::new_unchecked(&mut buf[..]);
        udp.write_header(40000, 7777, 10);
        assert_eq!(udp.checksum(), 0);
        udp.payload_mut().copy_from_slice(b"hello duet");
        udp.fill_checksum(&IP_A, &IP_B);
        assert_eq!(buf, UDP_DATAGRAM[34..]);

        let mut buf = [0xffu8; 16];
        let mut udp = UdpPacket::new_unchecked(&mut buf[..]);
        udp.set_src_port(40001);
        udp.set_dst_port(9999);
        udp.set_len(16);
        udp.payload_mut().copy_from_slice(b"hello v6");
        udp.fill_checksum(&IP6_A, &IP6_B);
        assert_eq!(buf, UDP6_DATAGRAM[54..]);
    }

    #[test]
    fn a_computed_zero_checksum_goes_out_as_all_ones() {
        // Choose two payload bytes so that the one's-complement sum is 0xffff.
        let mut buf = [0u8; 10];
        let mut udp = UdpPacket::new_unchecked(&mut buf[..]);
        udp.write_header(1, 2, 2);
        let partial = checksum::fold(udp.checksum_accumulator(&IP_A, &IP_B));
        udp.payload_mut().copy_from_slice(&(!partial).to_be_bytes());
        udp.fill_checksum(&IP_A, &IP_B);
        assert_eq!(udp.checksum(), 0xffff);
        assert!(udp.verify_checksum(&IP_A, &IP_B));
    }

    #[test]
    fn trims_bytes_after_the_length_field() {
        let mut buf = [0u8; 26];
        buf[..18].copy_from_slice(&UDP_DATAGRAM[34..]);
        let udp = UdpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(udp.payload(), b"hello duet");
        assert!(udp.verify_checksum(&IP_A, &IP_B));
    }

    #[test]
    fn rejects_truncated_and_inconsistent_datagrams() {
        let datagram = &UDP_DATAGRAM[34..];
        for len in 0..datagram.len() {
            assert_eq!(
                UdpPacket::new_checked(&datagram[..len]).err(),
                Some(WireError::Truncated)
            );
        }
        let mut buf = [0u8; 18];
        buf.copy_from_slice(datagram);
        for (len, err) in [
            (0, WireError::Malformed),
            (7, WireError::Malformed),
            (19, WireError::Truncated),
        ] {
            buf[4..6].copy_from_slice(&u16::to_be_bytes(len));
            assert_eq!(
                UdpPacket::new_checked(&buf[..]).err(),
                Some(err),
                "length {len}"
            );
        }
        // A header-only datagram is valid and empty.
        buf[4..6].copy_from_slice(&8u16.to_be_bytes());
        let udp = UdpPacket::new_checked(&buf[..]).unwrap();
        assert!(udp.is_empty() && udp.payload().is_empty());
        // A corrupted byte fails the checksum.
        buf.copy_from_slice(datagram);
        buf[12] ^= 0x01;
        let udp = UdpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(
            udp.check_checksum(&IP_A, &IP_B),
            Err(WireError::BadChecksum)
        );
    }

    #[test]
    fn random_and_truncated_input_never_panics() {
        captures::robustness(&UDP_DATAGRAM[34..], 8, |bytes| {
            let Ok(udp) = UdpPacket::new_checked(bytes) else {
                return false;
            };
            let _ = (
                udp.src_port(),
                udp.dst_port(),
                udp.checksum(),
                udp.is_empty(),
            );
            let _ = (
                udp.verify_checksum(&IP_A, &IP_B),
                udp.verify_checksum(&IP6_A, &IP6_B),
            );
            assert_eq!(udp.payload().len() + 8, usize::from(udp.len()));
            true
        });
    }
}
