//! The Address Resolution Protocol ([RFC 826]), for IPv4 over Ethernet only.
//!
//! ```text
//!  0      2      4     5     6      8     14    18     24    28
//! | htype | ptype | hlen| plen| oper | sha | spa | tha | tpa |
//! ```
//! RFC 826 allows any hardware and protocol pair; this stack resolves IPv4
//! addresses on Ethernet, so the view accepts exactly that pair and the
//! fixed-size layout above follows from it.
//!
//! [RFC 826]: https://www.rfc-editor.org/rfc/rfc826

use core::net::Ipv4Addr;

use super::{EthernetAddress, Field, Result, WireError, read_ipv4, read_u16, write_u16};

/// `ar$op`: what the packet asks or answers (RFC 826, "Packet format").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ArpOperation {
    /// 1, `ares_op$REQUEST`.
    Request,
    /// 2, `ares_op$REPLY`.
    Reply,
    /// Any other value (e.g. RARP's 3 and 4). Never holds 1 or 2.
    Unknown(u16),
}

impl From<u16> for ArpOperation {
    fn from(value: u16) -> Self {
        match value {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            other => ArpOperation::Unknown(other),
        }
    }
}

impl From<ArpOperation> for u16 {
    fn from(value: ArpOperation) -> Self {
        match value {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
            ArpOperation::Unknown(other) => other,
        }
    }
}

/// `ar$hrd` for Ethernet (IANA "Hardware Types": 1).
pub const HARDWARE_TYPE_ETHERNET: u16 = 1;
/// `ar$pro` for IPv4: its EtherType.
pub const PROTOCOL_TYPE_IPV4: u16 = 0x0800;

mod field {
    use super::Field;

    /// `ar$hrd`, hardware address space.
    pub const HTYPE: Field = 0..2;
    /// `ar$pro`, protocol address space (an EtherType).
    pub const PTYPE: Field = 2..4;
    /// `ar$hln`, bytes in a hardware address.
    pub const HLEN: usize = 4;
    /// `ar$pln`, bytes in a protocol address.
    pub const PLEN: usize = 5;
    /// `ar$op`.
    pub const OPER: Field = 6..8;
    /// `ar$sha`, sender hardware address.
    pub const SHA: Field = 8..14;
    /// `ar$spa`, sender protocol address.
    pub const SPA: Field = 14..18;
    /// `ar$tha`, target hardware address.
    pub const THA: Field = 18..24;
    /// `ar$tpa`, target protocol address.
    pub const TPA: Field = 24..28;
}

/// A view of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Length of an Ethernet/IPv4 ARP packet. Anything after it is link padding.
    pub const LEN: usize = field::TPA.end;

    /// Wraps `buffer` without validation (for packets the stack builds).
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// Wraps and validates `buffer`: see [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Truncated` under 28 bytes; `Unsupported` unless the packet maps IPv4
    /// addresses (`ar$pro` 0x0800, `ar$pln` 4) to Ethernet ones (`ar$hrd` 1,
    /// `ar$hln` 6).
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < Self::LEN {
            return Err(WireError::Truncated);
        }
        if self.hardware_type() != HARDWARE_TYPE_ETHERNET
            || self.protocol_type() != PROTOCOL_TYPE_IPV4
            || self.hardware_len() != 6
            || self.protocol_len() != 4
        {
            return Err(WireError::Unsupported);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// `ar$hrd`: 1 for Ethernet.
    pub fn hardware_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::HTYPE.start)
    }

    /// `ar$pro`: 0x0800 for IPv4.
    pub fn protocol_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::PTYPE.start)
    }

    /// `ar$hln`: 6 for Ethernet.
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// `ar$pln`: 4 for IPv4.
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// `ar$op`.
    pub fn operation(&self) -> ArpOperation {
        read_u16(self.buffer.as_ref(), field::OPER.start).into()
    }

    /// `ar$sha`: the sender's MAC address.
    pub fn sender_hardware_addr(&self) -> EthernetAddress {
        self.hardware_addr(field::SHA)
    }

    /// `ar$spa`: the sender's IPv4 address (0.0.0.0 in an RFC 5227 probe).
    pub fn sender_protocol_addr(&self) -> Ipv4Addr {
        read_ipv4(self.buffer.as_ref(), field::SPA)
    }

    /// `ar$tha`: the target's MAC address; meaningless (often zero) in a request.
    pub fn target_hardware_addr(&self) -> EthernetAddress {
        self.hardware_addr(field::THA)
    }

    /// `ar$tpa`: the IPv4 address being resolved, or the requester in a reply.
    pub fn target_protocol_addr(&self) -> Ipv4Addr {
        read_ipv4(self.buffer.as_ref(), field::TPA)
    }

    fn hardware_addr(&self, field: Field) -> EthernetAddress {
        let mut addr = [0; 6];
        addr.copy_from_slice(&self.buffer.as_ref()[field]);
        EthernetAddress(addr)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    pub fn set_hardware_type(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::HTYPE.start, value);
    }

    pub fn set_protocol_type(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::PTYPE.start, value);
    }

    pub fn set_hardware_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::HLEN] = value;
    }

    pub fn set_protocol_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::PLEN] = value;
    }

    pub fn set_operation(&mut self, op: ArpOperation) {
        write_u16(self.buffer.as_mut(), field::OPER.start, op.into());
    }

    pub fn set_sender_hardware_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&addr.0);
    }

    pub fn set_sender_protocol_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&addr.octets());
    }

    pub fn set_target_hardware_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&addr.0);
    }

    pub fn set_target_protocol_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&addr.octets());
    }

    /// Writes a whole 28-byte Ethernet/IPv4 packet, the fixed fields included.
    pub fn write_packet(
        &mut self,
        op: ArpOperation,
        sha: EthernetAddress,
        spa: Ipv4Addr,
        tha: EthernetAddress,
        tpa: Ipv4Addr,
    ) {
        self.set_hardware_type(HARDWARE_TYPE_ETHERNET);
        self.set_protocol_type(PROTOCOL_TYPE_IPV4);
        self.set_hardware_len(6);
        self.set_protocol_len(4);
        self.set_operation(op);
        self.set_sender_hardware_addr(sha);
        self.set_sender_protocol_addr(spa);
        self.set_target_hardware_addr(tha);
        self.set_target_protocol_addr(tpa);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for ArpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::captures::{self, ARP_REPLY, ARP_REQUEST};

    const HOST_A: EthernetAddress = EthernetAddress([0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a]);
    const HOST_B: EthernetAddress = EthernetAddress([0x02, 0x00, 0x5e, 0x10, 0x00, 0x0b]);
    const IP_A: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
    const IP_B: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
    const UNKNOWN: EthernetAddress = EthernetAddress([0; 6]);

    #[test]
    fn operation_converts_both_ways() {
        for (value, op) in [
            (1, ArpOperation::Request),
            (2, ArpOperation::Reply),
            (3, ArpOperation::Unknown(3)),
        ] {
            assert_eq!(ArpOperation::from(value), op);
            assert_eq!(u16::from(op), value);
        }
    }

    #[test]
    fn reads_captured_request() {
        let arp = ArpPacket::new_checked(&ARP_REQUEST[14..]).unwrap();
        assert_eq!(arp.hardware_type(), 1);
        assert_eq!(arp.protocol_type(), 0x0800);
        assert_eq!(arp.hardware_len(), 6);
        assert_eq!(arp.protocol_len(), 4);
        assert_eq!(arp.operation(), ArpOperation::Request);
        assert_eq!(arp.sender_hardware_addr(), HOST_A);
        assert_eq!(arp.sender_protocol_addr(), IP_A);
        assert_eq!(arp.target_hardware_addr(), UNKNOWN);
        assert_eq!(arp.target_protocol_addr(), IP_B);
    }

    #[test]
    fn reads_captured_reply() {
        let arp = ArpPacket::new_checked(&ARP_REPLY[14..]).unwrap();
        assert_eq!(arp.operation(), ArpOperation::Reply);
        assert_eq!(arp.sender_hardware_addr(), HOST_B);
        assert_eq!(arp.sender_protocol_addr(), IP_B);
        assert_eq!(arp.target_hardware_addr(), HOST_A);
        assert_eq!(arp.target_protocol_addr(), IP_A);
    }

    #[test]
    fn writes_packets_identical_to_the_captures() {
        let mut buf = [0xeeu8; 28];
        ArpPacket::new_unchecked(&mut buf[..]).write_packet(
            ArpOperation::Request,
            HOST_A,
            IP_A,
            UNKNOWN,
            IP_B,
        );
        assert_eq!(buf, ARP_REQUEST[14..]);

        let mut buf = [0u8; 28];
        let mut arp = ArpPacket::new_unchecked(&mut buf[..]);
        arp.set_hardware_type(1);
        arp.set_protocol_type(0x0800);
        arp.set_hardware_len(6);
        arp.set_protocol_len(4);
        arp.set_operation(ArpOperation::Reply);
        arp.set_sender_hardware_addr(HOST_B);
        arp.set_sender_protocol_addr(IP_B);
        arp.set_target_hardware_addr(HOST_A);
        arp.set_target_protocol_addr(IP_A);
        assert_eq!(buf, ARP_REPLY[14..]);
    }

    #[test]
    fn accepts_link_padding_after_the_packet() {
        let mut frame = [0u8; 46];
        frame[..28].copy_from_slice(&ARP_REPLY[14..]);
        let arp = ArpPacket::new_checked(&frame[..]).unwrap();
        assert_eq!(arp.target_protocol_addr(), IP_A);
    }

    #[test]
    fn rejects_truncated_and_unsupported_packets() {
        for len in 0..28 {
            assert_eq!(
                ArpPacket::new_checked(&ARP_REQUEST[14..14 + len]).err(),
                Some(WireError::Truncated)
            );
        }
        // Each fixed field in turn: another hardware type, protocol or size.
        for (at, value) in [(1, 6), (2, 0x86), (4, 8), (5, 16)] {
            let mut buf = [0u8; 28];
            buf.copy_from_slice(&ARP_REQUEST[14..]);
            buf[at] = value;
            assert_eq!(
                ArpPacket::new_checked(&buf[..]).err(),
                Some(WireError::Unsupported)
            );
        }
    }

    #[test]
    fn random_and_truncated_input_never_panics() {
        captures::robustness(&ARP_REQUEST[14..], 3, |bytes| {
            let Ok(arp) = ArpPacket::new_checked(bytes) else {
                return false;
            };
            let _ = (arp.hardware_type(), arp.protocol_type(), arp.operation());
            let _ = (arp.hardware_len(), arp.protocol_len());
            let _ = (arp.sender_hardware_addr(), arp.sender_protocol_addr());
            let _ = (arp.target_hardware_addr(), arp.target_protocol_addr());
            true
        });
    }
}
