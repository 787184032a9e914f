//! Ethernet II frames ([IEEE 802.3] §3.2 with the DIX EtherType) and
//! IEEE 802.1Q VLAN tags.
//!
//! ```text
//!  0      6      12        14            (untagged: payload at 14)
//! | dst  | src  | type    | payload ...
//!  0      6      12        14     16        18   (tagged: payload at 18)
//! | dst  | src  | 0x8100  | TCI  | type    | payload ...
//! ```
//! The frame check sequence is not part of the view: drivers strip it on
//! receive and hardware appends it on transmit.
//!
//! [IEEE 802.3]: https://standards.ieee.org/ieee/802.3/

use core::fmt;

use super::{Field, Result, WireError, read_u16, write_u16};

/// A 48-bit IEEE 802 MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    /// All stations on the link (`ff:ff:ff:ff:ff:ff`).
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xff; 6]);

    /// The address in `bytes`, or `None` unless it is exactly 6 bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(EthernetAddress)
    }

    /// The six address bytes, first transmitted first.
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Group address: the I/G bit, the least significant bit of the first
    /// byte (IEEE 802 §8.2). Broadcast is a group address too.
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// An individual address, the only kind a frame may come from.
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// Locally administered: the U/L bit, second-least significant bit of
    /// the first byte (IEEE 802 §8.2), set in addresses not burnt in by a vendor.
    pub const fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl From<[u8; 6]> for EthernetAddress {
    fn from(bytes: [u8; 6]) -> Self {
        EthernetAddress(bytes)
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// The EtherType: which protocol the payload carries (IEEE Registration
/// Authority). Values below 0x0600 are IEEE 802.3 length fields, not types;
/// they come out as `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EtherType {
    /// 0x0800, RFC 894.
    Ipv4,
    /// 0x0806, RFC 826.
    Arp,
    /// 0x86DD, RFC 2464.
    Ipv6,
    /// 0x8100, the IEEE 802.1Q tag protocol identifier (TPID).
    Vlan,
    /// Any other value. Never holds one of the values above.
    Unknown(u16),
}

impl From<u16> for EtherType {
    fn from(value: u16) -> Self {
        match value {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x86dd => EtherType::Ipv6,
            0x8100 => EtherType::Vlan,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(value: EtherType) -> Self {
        match value {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Ipv6 => 0x86dd,
            EtherType::Vlan => 0x8100,
            EtherType::Unknown(other) => other,
        }
    }
}

/// The IEEE 802.1Q tag control information (TCI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct VlanTag {
    /// Priority code point, 0..=7 (802.1Q §6.9.3, the 802.1p priority).
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN identifier, 0..=4095; 0 means "priority tag only, no VLAN".
    pub vid: u16,
}

impl VlanTag {
    /// Splits a TCI word: PCP in bits 15..13, DEI in bit 12, VID in 11..0.
    pub const fn from_tci(tci: u16) -> Self {
        VlanTag {
            pcp: (tci >> 13) as u8,
            dei: tci & 0x1000 != 0,
            vid: tci & 0x0fff,
        }
    }

    /// The TCI word; out-of-range PCP and VID bits are dropped.
    pub const fn to_tci(self) -> u16 {
        ((self.pcp as u16 & 0x7) << 13) | ((self.dei as u16) << 12) | (self.vid & 0x0fff)
    }
}

mod field {
    use super::Field;

    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    /// The EtherType of an untagged frame, or the 802.1Q TPID of a tagged one.
    pub const ETHERTYPE: Field = 12..14;
    /// Tag control information, in tagged frames only.
    pub const VLAN_TCI: Field = 14..16;
    /// The EtherType of the payload of a tagged frame.
    pub const INNER_ETHERTYPE: Field = 16..18;
}

/// The 802.1Q tag protocol identifier, found where an untagged frame has its EtherType.
const TPID_8021Q: u16 = 0x8100;

/// A view of an Ethernet II frame, optionally with one 802.1Q tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Length of an untagged header.
    pub const HEADER_LEN: usize = field::ETHERTYPE.end;
    /// Length of a header with one 802.1Q tag.
    pub const VLAN_HEADER_LEN: usize = field::INNER_ETHERTYPE.end;

    /// Wraps `buffer` without validation (for frames the stack builds).
    pub const fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// Wraps and validates `buffer`: see [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// `Truncated` unless the whole header fits: 14 bytes, or 18 when the
    /// frame carries an 802.1Q tag.
    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        if data.len() < Self::HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if self.is_tagged() && data.len() < Self::VLAN_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn is_tagged(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::ETHERTYPE.start) == TPID_8021Q
    }

    /// The station the frame is for.
    pub fn dst_addr(&self) -> EthernetAddress {
        EthernetAddress(address(self.buffer.as_ref(), field::DESTINATION))
    }

    /// The station the frame is from.
    pub fn src_addr(&self) -> EthernetAddress {
        EthernetAddress(address(self.buffer.as_ref(), field::SOURCE))
    }

    /// The protocol of the payload: behind the 802.1Q tag when there is one.
    pub fn ethertype(&self) -> EtherType {
        let at = if self.is_tagged() {
            field::INNER_ETHERTYPE
        } else {
            field::ETHERTYPE
        };
        read_u16(self.buffer.as_ref(), at.start).into()
    }

    /// The 802.1Q tag, if the frame carries one.
    pub fn vlan_tag(&self) -> Option<VlanTag> {
        self.is_tagged()
            .then(|| VlanTag::from_tci(read_u16(self.buffer.as_ref(), field::VLAN_TCI.start)))
    }

    /// Where the payload starts: 14, or 18 behind an 802.1Q tag.
    pub fn header_len(&self) -> usize {
        if self.is_tagged() {
            Self::VLAN_HEADER_LEN
        } else {
            Self::HEADER_LEN
        }
    }

    /// Everything after the header, including any padding up to the 60-byte minimum frame.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    pub fn set_dst_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&addr.0);
    }

    pub fn set_src_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&addr.0);
    }

    /// Writes the EtherType at offset 12, where an untagged frame has it.
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        write_u16(
            self.buffer.as_mut(),
            field::ETHERTYPE.start,
            ethertype.into(),
        );
    }

    /// Writes the 802.1Q TPID and TCI at 12..16; the payload's EtherType
    /// then goes in 16..18 ([`write_tagged_header`](Self::write_tagged_header)).
    pub fn set_vlan_tag(&mut self, tag: VlanTag) {
        let data = self.buffer.as_mut();
        write_u16(data, field::ETHERTYPE.start, TPID_8021Q);
        write_u16(data, field::VLAN_TCI.start, tag.to_tci());
    }

    /// The payload behind the header (tagged or not), for writing in place.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }

    /// Writes an untagged 14-byte header.
    pub fn write_header(
        &mut self,
        dst: EthernetAddress,
        src: EthernetAddress,
        ethertype: EtherType,
    ) {
        self.set_dst_addr(dst);
        self.set_src_addr(src);
        self.set_ethertype(ethertype);
    }

    /// Writes an 18-byte header with one 802.1Q tag.
    pub fn write_tagged_header(
        &mut self,
        dst: EthernetAddress,
        src: EthernetAddress,
        tag: VlanTag,
        ethertype: EtherType,
    ) {
        self.set_dst_addr(dst);
        self.set_src_addr(src);
        self.set_vlan_tag(tag);
        write_u16(
            self.buffer.as_mut(),
            field::INNER_ETHERTYPE.start,
            ethertype.into(),
        );
    }
}

impl<'a> EthernetFrame<&'a [u8]> {
    /// The payload behind the header, borrowed for as long as the underlying buffer rather than
    /// the view, so views can be peeled off one layer after another.
    pub fn into_payload(self) -> &'a [u8] {
        let start = self.header_len();
        &self.buffer[start..]
    }
}

impl<'a> EthernetFrame<&'a mut [u8]> {
    /// The payload behind the header, mutably, for as long as the underlying buffer.
    pub fn into_payload_mut(self) -> &'a mut [u8] {
        let start = self.header_len();
        &mut self.buffer[start..]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for EthernetFrame<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

fn address(data: &[u8], field: Field) -> [u8; 6] {
    let mut addr = [0; 6];
    addr.copy_from_slice(&data[field]);
    addr
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::wire::captures::{self, ARP_REPLY, ARP_REQUEST, ECHO_REQUEST, VLAN_ECHO_REQUEST};
    use std::string::ToString;

    const HOST_A: EthernetAddress = EthernetAddress([0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a]);
    const HOST_B: EthernetAddress = EthernetAddress([0x02, 0x00, 0x5e, 0x10, 0x00, 0x0b]);

    #[test]
    fn addresses_classify_and_display() {
        assert!(EthernetAddress::BROADCAST.is_broadcast());
        assert!(EthernetAddress::BROADCAST.is_multicast());
        let ipv6_all_nodes = EthernetAddress([0x33, 0x33, 0, 0, 0, 1]);
        assert!(ipv6_all_nodes.is_multicast() && !ipv6_all_nodes.is_broadcast());
        assert!(HOST_A.is_unicast() && HOST_A.is_local() && !HOST_A.is_multicast());
        assert_eq!(HOST_A.to_string(), "02:00:5e:10:00:0a");
        assert_eq!(EthernetAddress::BROADCAST.to_string(), "ff:ff:ff:ff:ff:ff");
        assert_eq!(
            EthernetAddress::from_bytes(&ECHO_REQUEST[6..12]),
            Some(HOST_A)
        );
        assert_eq!(EthernetAddress::from_bytes(&ECHO_REQUEST[6..11]), None);
        assert_eq!(HOST_B.as_bytes(), &ECHO_REQUEST[0..6]);
        assert_eq!(
            EthernetAddress::from([0x02, 0x00, 0x5e, 0x10, 0x00, 0x0b]),
            HOST_B
        );
    }

    #[test]
    fn ethertype_converts_both_ways() {
        for (value, ty) in [
            (0x0800, EtherType::Ipv4),
            (0x0806, EtherType::Arp),
            (0x86dd, EtherType::Ipv6),
            (0x8100, EtherType::Vlan),
            (0x88a8, EtherType::Unknown(0x88a8)),
        ] {
            assert_eq!(EtherType::from(value), ty);
            assert_eq!(u16::from(ty), value);
        }
    }

    #[test]
    fn vlan_tci_round_trips() {
        let tag = VlanTag {
            pcp: 5,
            dei: false,
            vid: 5,
        };
        assert_eq!(tag.to_tci(), 0xa005);
        assert_eq!(VlanTag::from_tci(0xa005), tag);
        let all = VlanTag {
            pcp: 7,
            dei: true,
            vid: 4095,
        };
        assert_eq!(all.to_tci(), 0xffff);
        assert_eq!(VlanTag::from_tci(0xffff), all);
    }

    #[test]
    fn reads_captured_untagged_frames() {
        let frame = EthernetFrame::new_checked(&ECHO_REQUEST[..]).unwrap();
        assert_eq!(frame.dst_addr(), HOST_B);
        assert_eq!(frame.src_addr(), HOST_A);
        assert_eq!(frame.ethertype(), EtherType::Ipv4);
        assert_eq!(frame.vlan_tag(), None);
        assert_eq!(frame.header_len(), 14);
        assert_eq!(frame.payload(), &ECHO_REQUEST[14..]);
        assert_eq!(frame.payload()[0], 0x45);

        let frame = EthernetFrame::new_checked(&ARP_REQUEST[..]).unwrap();
        assert_eq!(frame.dst_addr(), EthernetAddress::BROADCAST);
        assert_eq!(frame.src_addr(), HOST_A);
        assert_eq!(frame.ethertype(), EtherType::Arp);
        assert_eq!(frame.payload().len(), 28);
    }

    #[test]
    fn reads_captured_8021q_frame() {
        let frame = EthernetFrame::new_checked(&VLAN_ECHO_REQUEST[..]).unwrap();
        assert_eq!(frame.dst_addr(), HOST_B);
        assert_eq!(frame.src_addr(), HOST_A);
        assert_eq!(
            frame.vlan_tag(),
            Some(VlanTag {
                pcp: 5,
                dei: false,
                vid: 5
            })
        );
        assert_eq!(frame.ethertype(), EtherType::Ipv4);
        assert_eq!(frame.header_len(), 18);
        // The tagged frame carries the same IPv4 packet as the untagged one.
        assert_eq!(frame.payload(), &ECHO_REQUEST[14..]);
    }

    #[test]
    fn writes_frames_identical_to_the_captures() {
        let mut buf = [0u8; 58];
        buf[14..].copy_from_slice(&ECHO_REQUEST[14..]);
        EthernetFrame::new_unchecked(&mut buf[..]).write_header(HOST_B, HOST_A, EtherType::Ipv4);
        assert_eq!(buf, ECHO_REQUEST);

        let mut buf = [0u8; 42];
        let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
        frame.write_header(HOST_B, HOST_B, EtherType::Ipv4);
        frame.set_dst_addr(HOST_A);
        frame.set_ethertype(EtherType::Arp);
        frame.payload_mut().copy_from_slice(&ARP_REPLY[14..]);
        frame.set_src_addr(HOST_B);
        assert_eq!(buf, ARP_REPLY);

        let mut buf = [0u8; 62];
        let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
        let tag = VlanTag {
            pcp: 5,
            dei: false,
            vid: 5,
        };
        frame.write_tagged_header(HOST_B, HOST_A, tag, EtherType::Ipv4);
        assert_eq!(frame.header_len(), 18);
        frame.payload_mut().copy_from_slice(&ECHO_REQUEST[14..]);
        assert_eq!(buf, VLAN_ECHO_REQUEST);
    }

    #[test]
    fn rejects_truncated_headers() {
        for len in 0..14 {
            assert_eq!(
                EthernetFrame::new_checked(&ECHO_REQUEST[..len]).err(),
                Some(WireError::Truncated)
            );
        }
        assert!(EthernetFrame::new_checked(&ECHO_REQUEST[..14]).is_ok());
        // A tagged frame needs its whole 18-byte header.
        for len in 14..18 {
            assert_eq!(
                EthernetFrame::new_checked(&VLAN_ECHO_REQUEST[..len]).err(),
                Some(WireError::Truncated)
            );
        }
        let bare = EthernetFrame::new_checked(&VLAN_ECHO_REQUEST[..18]).unwrap();
        assert_eq!(bare.payload(), &[] as &[u8]);
    }

    #[test]
    fn random_and_truncated_input_never_panics() {
        let touch = |bytes: &[u8]| {
            let Ok(frame) = EthernetFrame::new_checked(bytes) else {
                return false;
            };
            let _ = (
                frame.dst_addr(),
                frame.src_addr(),
                frame.ethertype(),
                frame.vlan_tag(),
            );
            assert!(frame.header_len() + frame.payload().len() == bytes.len());
            true
        };
        captures::robustness(&ECHO_REQUEST, 1, touch);
        captures::robustness(&VLAN_ECHO_REQUEST, 2, touch);
    }
}
