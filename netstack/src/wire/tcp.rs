//! The Transmission Control Protocol's segment ([RFC 9293] §3.1), its
//! options (§3.2; window scale and timestamps from [RFC 7323], selective
//! acknowledgments from [RFC 2018]) and sequence-number arithmetic (§3.4).
//!
//! ```text
//!  0               8              16              24             31
//! |          source port          |        destination port       |
//! |                        sequence number                        |
//! |                     acknowledgment number                     |
//! | offset| rsrvd |C E U A P R S F|             window            |
//! |            checksum           |         urgent pointer        |
//! |                options (offset > 5) ...                       |
//! |                             data ...                          |
//! ```
//! TCP has no length field: the view spans exactly the IP payload, and the
//! data runs from the data offset to the end of the buffer. The checksum
//! covers the pseudo-header from the IP layer ([`checksum::pseudo_header`]),
//! so verifying and filling it take the addresses.
//!
//! Options are not parsed by the view: [`parse_options`] decodes the bytes of
//! [`TcpPacket::options`] once per segment into a [`SegmentOptions`], and an
//! [`OptionWriter`] composes them for the segments the stack sends.
//!
//! [RFC 9293]: https://www.rfc-editor.org/rfc/rfc9293
//! [RFC 7323]: https://www.rfc-editor.org/rfc/rfc7323
//! [RFC 2018]: https://www.rfc-editor.org/rfc/rfc2018

use core::cmp::Ordering;
use core::fmt;
use core::net::IpAddr;
use core::ops::{Add, AddAssign, BitAnd, BitOr, BitOrAssign, Sub, SubAssign};

use super::checksum;
use super::{Field, Result, WireError, read_array, read_u16, write_u16};

pub(crate) mod options;

pub use options::{
    MAX_OPTIONS_LEN, MAX_SACK_BLOCKS, MAX_WINDOW_SCALE, OptionWriter, SackBlocks, SegmentOptions,
    parse_options,
};

/// A sequence number: a position on the 2^32 circle around which each
/// direction's byte stream wraps (RFC 9293 §3.4: "all arithmetic dealing with
/// sequence numbers must be performed modulo 2**32").
///
/// Comparisons go through the signed difference, so `a < b` means "b lies
/// less than 2^31 bytes ahead of a". That is meaningful only for numbers less
/// than 2^31 apart, which the windows guarantee (RFC 7323 §2.3 keeps a scaled
/// window below 2^30); numbers exactly 2^31 apart compare as less than each
/// other. 4 bytes, on thumbv7em as on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// The later of the two on the circle.
    pub const fn max(self, other: Self) -> Self {
        if self.0.wrapping_sub(other.0) as i32 >= 0 {
            self
        } else {
            other
        }
    }

    /// The earlier of the two on the circle.
    pub const fn min(self, other: Self) -> Self {
        if self.0.wrapping_sub(other.0) as i32 <= 0 {
            self
        } else {
            other
        }
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Add<u32> for SeqNumber {
    type Output = SeqNumber;

    fn add(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(rhs))
    }
}

impl AddAssign<u32> for SeqNumber {
    fn add_assign(&mut self, rhs: u32) {
        self.0 = self.0.wrapping_add(rhs);
    }
}

impl Sub<u32> for SeqNumber {
    type Output = SeqNumber;

    fn sub(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(rhs))
    }
}

impl SubAssign<u32> for SeqNumber {
    fn sub_assign(&mut self, rhs: u32) {
        self.0 = self.0.wrapping_sub(rhs);
    }
}

/// How far `self` lies ahead of `rhs` (negative: behind), as a signed
/// wrapping difference.
impl Sub<SeqNumber> for SeqNumber {
    type Output = i32;

    fn sub(self, rhs: SeqNumber) -> i32 {
        self.0.wrapping_sub(rhs.0) as i32
    }
}

impl PartialOrd for SeqNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some((*self - *other).cmp(&0))
    }
}

/// The control bits (RFC 9293 §3.1 "Control bits"; ECE and CWR from RFC 3168
/// §6.1). One byte.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TcpFlags(u8);

impl TcpFlags {
    /// No more data from the sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// Push function.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// The acknowledgment number is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// The urgent pointer is significant.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECN-Echo (RFC 3168 §6.1).
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// Congestion Window Reduced (RFC 3168 §6.1).
    pub const CWR: TcpFlags = TcpFlags(0x80);

    const NAMES: [&'static str; 8] = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];

    /// No flag set.
    pub const fn empty() -> Self {
        TcpFlags(0)
    }

    /// The flags as the header's byte 13 carries them.
    pub const fn from_bits(bits: u8) -> Self {
        TcpFlags(bits)
    }

    pub const fn bits(self) -> u8 {
        self.0
    }

    /// True when every flag of `other` is set in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when at least one flag of `other` is set in `self`.
    pub const fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// `self | other`, usable in constants.
    pub const fn union(self, other: Self) -> Self {
        TcpFlags(self.0 | other.0)
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;

    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        self.union(rhs)
    }
}

impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for TcpFlags {
    type Output = TcpFlags;

    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

/// Prints the names of the set flags, `TcpFlags(SYN | ACK)`.
impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TcpFlags(")?;
        if self.is_empty() {
            f.write_str("empty")?;
        }
        let mut sep = "";
        for (bit, name) in Self::NAMES.iter().enumerate() {
            if self.0 & (1 << bit) != 0 {
                write!(f, "{sep}{name}")?;
                sep = " | ";
            }
        }
        f.write_str(")")
    }
}

mod field {
    use super::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    /// The first data byte's sequence number (the ISN itself on a SYN).
    pub const SEQ_NUMBER: Field = 4..8;
    /// The next sequence number the sender expects to receive, when ACK is set.
    pub const ACK_NUMBER: Field = 8..12;
    /// Data offset in 32-bit words (high nibble); reserved bits below, zero
    /// when sent and ignored when received.
    pub const DATA_OFFSET: usize = 12;
    /// The control bits: CWR ECE URG ACK PSH RST SYN FIN, high bit first.
    pub const FLAGS: usize = 13;
    /// How many bytes, from the acknowledgment number, the sender will accept.
    pub const WINDOW: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    /// Offset of the urgent data's end from the sequence number, when URG is set.
    pub const URGENT: Field = 18..20;
}

/// The TCP protocol number, as the pseudo-header carries it.
const PROTOCOL_TCP: u8 = 6;

fn read_u32(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(read_array(data, at))
}

fn write_u32(data: &mut [u8], at: usize, value: u32) {
    data[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

/// A view of a TCP segment: header, options and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// A header without options.
    pub const HEADER_LEN: usize = field::URGENT.end;
    /// A header with the most options: data offset 15.
    pub const MAX_HEADER_LEN: usize = 60;

    /// Wraps `buffer` without validation (for segments the stack builds).
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wraps and validates `buffer`: see [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Makes every getter safe.
    ///
    /// `Truncated` under 20 bytes or when the data offset reaches past the
    /// buffer; `Malformed` when the data offset is below 5 words (RFC 9293
    /// §3.1: the header is at least 20 bytes). The option bytes are checked
    /// by [`parse_options`], the checksum by
    /// [`verify_checksum`](Self::verify_checksum) (unless the hardware did).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < Self::HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let header_len = self.header_len();
        if header_len < Self::HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if header_len > len {
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

    /// The sequence number of the first data byte, or of the SYN (RFC 9293 §3.1).
    pub fn seq_number(&self) -> SeqNumber {
        SeqNumber(read_u32(self.buffer.as_ref(), field::SEQ_NUMBER.start))
    }

    /// The next sequence number the sender expects; meaningful when ACK is set.
    pub fn ack_number(&self) -> SeqNumber {
        SeqNumber(read_u32(self.buffer.as_ref(), field::ACK_NUMBER.start))
    }

    /// Header length in bytes (data offset × 4), options included: 20..=60.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFFSET] >> 4) * 4
    }

    /// The eight control bits.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buffer.as_ref()[field::FLAGS])
    }

    pub fn fin(&self) -> bool {
        self.flags().contains(TcpFlags::FIN)
    }

    pub fn syn(&self) -> bool {
        self.flags().contains(TcpFlags::SYN)
    }

    pub fn rst(&self) -> bool {
        self.flags().contains(TcpFlags::RST)
    }

    pub fn psh(&self) -> bool {
        self.flags().contains(TcpFlags::PSH)
    }

    pub fn ack(&self) -> bool {
        self.flags().contains(TcpFlags::ACK)
    }

    pub fn urg(&self) -> bool {
        self.flags().contains(TcpFlags::URG)
    }

    pub fn ece(&self) -> bool {
        self.flags().contains(TcpFlags::ECE)
    }

    pub fn cwr(&self) -> bool {
        self.flags().contains(TcpFlags::CWR)
    }

    /// The window field as sent: unscaled on a SYN, to be shifted by the
    /// peer's window scale otherwise (RFC 7323 §2.2).
    pub fn window_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WINDOW.start)
    }

    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// The urgent pointer: where the urgent data ends, as an offset from the
    /// sequence number (RFC 9293 §3.1; meaningful when URG is set).
    pub fn urgent_at(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::URGENT.start)
    }

    /// The option bytes, padding included; empty when the data offset is 5.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[Self::HEADER_LEN..self.header_len()]
    }

    /// Decodes [`options`](Self::options): see [`parse_options`].
    pub fn segment_options(&self) -> Result<SegmentOptions> {
        parse_options(self.options())
    }

    /// The data: from the data offset to the end of the buffer.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// The sequence space the segment occupies (RFC 9293 §3.4 SEG.LEN): its
    /// data bytes, plus one each for SYN and FIN.
    pub fn segment_len(&self) -> u32 {
        let data = u32::try_from(self.payload().len()).unwrap_or(u32::MAX);
        data.saturating_add(u32::from(self.syn()) + u32::from(self.fin()))
    }

    /// Checks the checksum over the pseudo-header of `src` and `dst`, the
    /// header and the data (RFC 9293 §3.1 "Checksum"; over IPv6, RFC 8200 §8.1).
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        let sum = self.pseudo_header_sum(src, dst) + checksum::native_sum(self.buffer.as_ref());
        checksum::fold(sum) == 0xffff
    }

    /// [`verify_checksum`](Self::verify_checksum) with the payload's
    /// [`checksum::native_sum`] known already (summed while the payload was
    /// copied out): only the header is read again.
    pub fn verify_checksum_with_payload_sum(
        &self,
        src: &IpAddr,
        dst: &IpAddr,
        payload_sum: u64,
    ) -> bool {
        checksum::fold(self.header_sum(src, dst) + payload_sum) == 0xffff
    }

    /// The [`checksum::native_sum`] of the pseudo-header: the TCP length is
    /// the segment's, as an IP payload never nears 2^32 bytes.
    fn pseudo_header_sum(&self, src: &IpAddr, dst: &IpAddr) -> u64 {
        let len = self.buffer.as_ref().len() as u32;
        checksum::pseudo_header_native_sum(src, dst, PROTOCOL_TCP, len)
    }

    /// The [`checksum::native_sum`] of the pseudo-header and the header,
    /// options included. The header length is a multiple of 4, so the
    /// payload's 16-bit words line up behind it.
    fn header_sum(&self, src: &IpAddr, dst: &IpAddr) -> u64 {
        let header = &self.buffer.as_ref()[..self.header_len()];
        self.pseudo_header_sum(src, dst) + checksum::native_sum(header)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    pub fn set_src_port(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT.start, value);
    }

    pub fn set_dst_port(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT.start, value);
    }

    pub fn set_seq_number(&mut self, value: SeqNumber) {
        write_u32(self.buffer.as_mut(), field::SEQ_NUMBER.start, value.0);
    }

    pub fn set_ack_number(&mut self, value: SeqNumber) {
        write_u32(self.buffer.as_mut(), field::ACK_NUMBER.start, value.0);
    }

    /// Writes the data offset for a header of `header_len` bytes (a multiple
    /// of 4, 20..=60), keeping the reserved bits as they are.
    pub fn set_header_len(&mut self, header_len: usize) {
        let byte = &mut self.buffer.as_mut()[field::DATA_OFFSET];
        *byte = (((header_len / 4) as u8) << 4) | (*byte & 0x0f);
    }

    pub fn set_flags(&mut self, value: TcpFlags) {
        self.buffer.as_mut()[field::FLAGS] = value.0;
    }

    pub fn set_window_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::WINDOW.start, value);
    }

    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, value);
    }

    pub fn set_urgent_at(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::URGENT.start, value);
    }

    /// The option bytes (header length set first), for an [`OptionWriter`]
    /// or a copy of its output.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[Self::HEADER_LEN..end]
    }

    /// The data (data offset to the end of the buffer), for writing in place.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }

    /// Computes and writes the checksum over the pseudo-header, header and
    /// data; call it after the data is in place. Unlike UDP's, a computed 0
    /// goes out as it is: TCP has no "no checksum" value.
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        self.set_checksum(0);
        let sum = self.pseudo_header_sum(src, dst) + checksum::native_sum(self.buffer.as_ref());
        self.set_checksum(checksum::finish(sum));
    }

    /// [`fill_checksum`](Self::fill_checksum) for a segment whose payload's
    /// [`checksum::native_sum`] is known already (summed while the payload
    /// was copied in): only the header is read again.
    pub fn fill_checksum_with_payload_sum(&mut self, src: &IpAddr, dst: &IpAddr, payload_sum: u64) {
        self.set_checksum(0);
        let sum = self.header_sum(src, dst) + payload_sum;
        self.set_checksum(checksum::finish(sum));
    }

    /// Writes a header with `options_len` bytes of options to follow (a
    /// multiple of 4, at most [`MAX_OPTIONS_LEN`]): data offset
    /// `(20 + options_len) / 4`, reserved bits and urgent pointer 0 (this
    /// stack never sends urgent data), and the checksum zeroed for
    /// `fill_checksum` (or for the hardware, with checksum offload).
    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per header field, in header order"
    )]
    pub fn write_header(
        &mut self,
        src_port: u16,
        dst_port: u16,
        seq: SeqNumber,
        ack: SeqNumber,
        flags: TcpFlags,
        window: u16,
        options_len: usize,
    ) {
        // Through one slice of the header's fixed length: a single bounds
        // check, where each setter checks its own field (every segment sent
        // comes through here).
        let header = &mut self.buffer.as_mut()[..Self::HEADER_LEN];
        header[field::SRC_PORT].copy_from_slice(&src_port.to_be_bytes());
        header[field::DST_PORT].copy_from_slice(&dst_port.to_be_bytes());
        header[field::SEQ_NUMBER].copy_from_slice(&seq.0.to_be_bytes());
        header[field::ACK_NUMBER].copy_from_slice(&ack.0.to_be_bytes());
        header[field::DATA_OFFSET] = (((Self::HEADER_LEN + options_len) / 4) as u8) << 4;
        header[field::FLAGS] = flags.0;
        header[field::WINDOW].copy_from_slice(&window.to_be_bytes());
        header[field::CHECKSUM.start..field::URGENT.end].fill(0);
    }
}

impl<'a> TcpPacket<&'a [u8]> {
    /// The data, borrowed for as long as the underlying buffer rather than
    /// the view, so views can be peeled off one layer after another.
    pub fn into_payload(self) -> &'a [u8] {
        let start = self.header_len();
        &self.buffer[start..]
    }
}

impl<'a> TcpPacket<&'a mut [u8]> {
    /// The data, mutably, for as long as the underlying buffer.
    pub fn into_payload_mut(self) -> &'a mut [u8] {
        let start = self.header_len();
        &mut self.buffer[start..]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for TcpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rand::Rng;
    use crate::wire::captures::{
        self, TCP_DATA, TCP_FIN, TCP_RST, TCP_SACK, TCP_SYN, TCP_SYN_ACK, TCP6_DATA, TCP6_SYN,
    };
    use core::net::{Ipv4Addr, Ipv6Addr};
    use std::format;

    const IP_A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1));
    const IP_B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 9, 0, 2));
    const IP6_A: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 9, 0, 0, 0, 0, 0, 1));
    const IP6_B: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 9, 0, 0, 0, 0, 0, 2));

    /// The TCP segments of the captures with their addresses, sender first.
    fn segments() -> [(&'static [u8], IpAddr, IpAddr); 8] {
        [
            (&TCP_SYN[34..], IP_A, IP_B),
            (&TCP_SYN_ACK[34..], IP_B, IP_A),
            (&TCP_DATA[34..], IP_A, IP_B),
            (&TCP_FIN[34..], IP_A, IP_B),
            (&TCP_RST[34..], IP_B, IP_A),
            (&TCP_SACK[34..], IP_B, IP_A),
            (&TCP6_SYN[54..], IP6_A, IP6_B),
            (&TCP6_DATA[54..], IP6_A, IP6_B),
        ]
    }

    // The pieces of the connection's control block keep their wire sizes.
    const _: () = assert!(core::mem::size_of::<SeqNumber>() == 4);
    const _: () = assert!(core::mem::size_of::<TcpFlags>() == 1);

    #[test]
    fn sequence_numbers_wrap_modulo_2_32() {
        let near_top = SeqNumber(u32::MAX - 5);
        let wrapped = near_top + 10;
        assert_eq!(wrapped, SeqNumber(4));
        assert_eq!(wrapped - near_top, 10);
        assert_eq!(near_top - wrapped, -10);
        assert_eq!(wrapped - 10, near_top);
        assert!(near_top < wrapped);
        assert_eq!(wrapped.partial_cmp(&near_top), Some(Ordering::Greater));
        assert_eq!(near_top.partial_cmp(&near_top), Some(Ordering::Equal));
        assert_eq!(near_top.max(wrapped), wrapped);
        assert_eq!(wrapped.max(near_top), wrapped);
        assert_eq!(near_top.min(wrapped), near_top);
        assert_eq!(wrapped.min(near_top), near_top);
        let mut seq = near_top;
        seq += 6;
        assert_eq!(seq, SeqNumber(0));
        seq -= 1;
        assert_eq!(seq, SeqNumber(u32::MAX));
        assert_eq!(format!("{seq}"), "4294967295");
        assert_eq!(SeqNumber::default(), SeqNumber(0));
    }

    #[test]
    fn comparison_holds_up_to_2_31_apart() {
        let mut rng = Rng::new(9293);
        for _ in 0..10_000 {
            let a = SeqNumber(rng.next_u32());
            let ahead = rng.below(1 << 31);
            let b = a + ahead;
            assert_eq!(b - a, ahead as i32);
            assert_eq!(a - b, -(ahead as i32));
            assert!(a <= b);
            assert_eq!(a < b, ahead != 0);
            assert_eq!((a.max(b), a.min(b)), (b, a));
        }
        // Exactly 2^31 apart neither is ahead: each compares as less.
        let (a, b) = (SeqNumber(0), SeqNumber(1 << 31));
        assert!(a < b && b < a);
    }

    #[test]
    fn flags_combine_and_print_their_names() {
        let syn_ack = TcpFlags::SYN | TcpFlags::ACK;
        assert_eq!(syn_ack.bits(), 0x12);
        assert_eq!(TcpFlags::from_bits(0x12), syn_ack);
        assert_eq!(TcpFlags::SYN.union(TcpFlags::ACK), syn_ack);
        assert!(syn_ack.contains(TcpFlags::SYN) && syn_ack.contains(syn_ack));
        assert!(!syn_ack.contains(TcpFlags::SYN | TcpFlags::FIN));
        assert!(syn_ack.intersects(TcpFlags::SYN | TcpFlags::FIN));
        assert!(!syn_ack.intersects(TcpFlags::RST));
        assert_eq!(syn_ack & TcpFlags::ACK, TcpFlags::ACK);
        assert!((syn_ack & TcpFlags::RST).is_empty() && TcpFlags::default().is_empty());
        let mut flags = TcpFlags::empty();
        flags |= TcpFlags::FIN;
        assert_eq!(flags, TcpFlags::FIN);
        assert_eq!(format!("{syn_ack:?}"), "TcpFlags(SYN | ACK)");
        assert_eq!(format!("{:?}", TcpFlags::empty()), "TcpFlags(empty)");
        assert_eq!(
            format!("{:?}", TcpFlags::from_bits(0xff)),
            "TcpFlags(FIN | SYN | RST | PSH | ACK | URG | ECE | CWR)"
        );
    }

    #[test]
    fn reads_every_field_of_a_captured_handshake() {
        let syn = TcpPacket::new_checked(&TCP_SYN[34..]).unwrap();
        assert_eq!((syn.src_port(), syn.dst_port()), (40000, 5000));
        assert_eq!(syn.seq_number(), SeqNumber(0x7cfc_0aaa));
        assert_eq!(syn.ack_number(), SeqNumber(0));
        assert_eq!(syn.header_len(), 40);
        assert_eq!(syn.flags(), TcpFlags::SYN);
        assert!(syn.syn() && !syn.ack() && !syn.fin() && !syn.rst());
        assert!(!syn.psh() && !syn.urg() && !syn.ece() && !syn.cwr());
        assert_eq!(syn.window_len(), 64240);
        assert_eq!(syn.checksum(), 0x8cd3);
        assert_eq!(syn.urgent_at(), 0);
        assert_eq!(syn.options(), &TCP_SYN[54..]);
        assert!(syn.payload().is_empty());
        assert_eq!(syn.segment_len(), 1);
        assert!(syn.verify_checksum(&IP_A, &IP_B));
        assert_eq!(syn.check_checksum(&IP_A, &IP_B), Ok(()));
        // The pseudo-header binds the segment to its addresses.
        assert!(!syn.verify_checksum(&IP_A, &IpAddr::V4(Ipv4Addr::new(10, 9, 0, 3))));
        let options = syn.segment_options().unwrap();
        assert_eq!(
            options,
            SegmentOptions {
                mss: Some(1460),
                window_scale: Some(10),
                sack_permitted: true,
                timestamp: Some((491_018_097, 0)),
                ..SegmentOptions::default()
            }
        );
        assert!(options.sack_ranges().is_empty());

        let syn_ack = TcpPacket::new_checked(&TCP_SYN_ACK[34..]).unwrap();
        assert_eq!((syn_ack.src_port(), syn_ack.dst_port()), (5000, 40000));
        assert_eq!(syn_ack.seq_number(), SeqNumber(0x09e8_7620));
        assert_eq!(syn_ack.ack_number(), syn.seq_number() + 1);
        assert_eq!(syn_ack.flags(), TcpFlags::SYN | TcpFlags::ACK);
        assert_eq!((syn_ack.window_len(), syn_ack.checksum()), (65160, 0xd40f));
        assert!(syn_ack.verify_checksum(&IP_B, &IP_A));
        let options = syn_ack.segment_options().unwrap();
        assert_eq!((options.mss, options.window_scale), (Some(1460), Some(10)));
        assert!(options.sack_permitted);
        // TSecr echoes the SYN's TSval (RFC 7323 §3.2).
        assert_eq!(options.timestamp, Some((2_557_516_961, 491_018_097)));
    }

    #[test]
    fn reads_captured_data_fin_and_rst_segments() {
        let data = TcpPacket::new_checked(&TCP_DATA[34..]).unwrap();
        assert_eq!(data.seq_number(), SeqNumber(2_096_892_587));
        assert_eq!(data.ack_number(), SeqNumber(166_229_537));
        assert_eq!(data.flags(), TcpFlags::PSH | TcpFlags::ACK);
        assert!(data.psh() && data.ack());
        assert_eq!((data.header_len(), data.window_len()), (32, 63));
        assert_eq!(data.checksum(), 0xf271);
        assert_eq!(data.payload(), b"hello duet");
        assert_eq!(data.segment_len(), 10);
        assert!(data.verify_checksum(&IP_A, &IP_B));
        let options = data.segment_options().unwrap();
        assert_eq!(
            options,
            SegmentOptions {
                timestamp: Some((491_018_298, 2_557_516_961)),
                ..SegmentOptions::default()
            }
        );
        assert_eq!(
            TcpPacket::new_checked(&TCP_DATA[34..])
                .unwrap()
                .into_payload(),
            b"hello duet"
        );

        let fin = TcpPacket::new_checked(&TCP_FIN[34..]).unwrap();
        assert_eq!(fin.flags(), TcpFlags::FIN | TcpFlags::ACK);
        assert!(fin.fin());
        // The FIN follows the ten data bytes and takes one number itself.
        assert_eq!(fin.seq_number(), data.seq_number() + data.segment_len());
        assert_eq!(fin.segment_len(), 1);
        assert_eq!(fin.checksum(), 0xfe5f);
        assert!(fin.verify_checksum(&IP_A, &IP_B));
        let timestamp = fin.segment_options().unwrap().timestamp;
        assert_eq!(timestamp, Some((491_018_598, 2_557_517_162)));

        // RST for a SYN to a closed port: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
        let rst = TcpPacket::new_checked(&TCP_RST[34..]).unwrap();
        assert_eq!((rst.src_port(), rst.dst_port()), (5002, 40002));
        assert_eq!(rst.seq_number(), SeqNumber(0));
        assert_eq!(rst.ack_number(), SeqNumber(0x3f74_963e) + 1);
        assert_eq!(rst.flags(), TcpFlags::RST | TcpFlags::ACK);
        assert!(rst.rst());
        assert_eq!((rst.header_len(), rst.window_len()), (20, 0));
        assert_eq!((rst.checksum(), rst.segment_len()), (0x163c, 0));
        assert!(rst.options().is_empty() && rst.payload().is_empty());
        assert_eq!(rst.segment_options(), Ok(SegmentOptions::default()));
        assert!(rst.verify_checksum(&IP_B, &IP_A));
    }

    #[test]
    fn reads_the_sack_blocks_of_a_captured_ack() {
        let ack = TcpPacket::new_checked(&TCP_SACK[34..]).unwrap();
        assert_eq!((ack.src_port(), ack.dst_port()), (5001, 40001));
        assert_eq!(ack.seq_number(), SeqNumber(3_884_900_924));
        assert_eq!(ack.ack_number(), SeqNumber(2_659_656_238));
        assert_eq!(ack.flags(), TcpFlags::ACK);
        assert_eq!((ack.header_len(), ack.window_len()), (60, 70));
        assert_eq!((ack.checksum(), ack.segment_len()), (0x8281, 0));
        assert!(ack.verify_checksum(&IP_B, &IP_A));
        let options = ack.segment_options().unwrap();
        assert_eq!(options.timestamp, Some((1_745_739_965, 3_811_018_311)));
        assert_eq!(
            options.sack_ranges(),
            [
                (SeqNumber(2_659_670_718), SeqNumber(2_659_672_166)),
                (SeqNumber(2_659_666_374), SeqNumber(2_659_669_270)),
                (SeqNumber(2_659_657_686), SeqNumber(2_659_664_926)),
            ]
        );
        // Every block lies above the cumulative acknowledgment.
        assert!(
            options
                .sack_ranges()
                .iter()
                .all(|&(l, r)| ack.ack_number() < l && l < r)
        );
        assert_eq!((options.mss, options.window_scale), (None, None));
        assert!(!options.sack_permitted);
    }

    #[test]
    fn reads_captured_ipv6_segments_with_ecn_flags() {
        // ECN setup SYN (RFC 3168 §6.1.1): ECE and CWR together.
        let syn = TcpPacket::new_checked(&TCP6_SYN[54..]).unwrap();
        assert_eq!((syn.src_port(), syn.dst_port()), (40003, 5003));
        assert_eq!(syn.flags(), TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR);
        assert!(syn.syn() && syn.ece() && syn.cwr());
        assert_eq!(syn.seq_number(), SeqNumber(254_839_726));
        assert_eq!((syn.window_len(), syn.checksum()), (64800, 0xc602));
        assert!(syn.verify_checksum(&IP6_A, &IP6_B));
        assert!(!syn.verify_checksum(&IP_A, &IP_B));
        let options = syn.segment_options().unwrap();
        assert_eq!(options.mss, Some(1440));
        assert_eq!(options.timestamp, Some((3_514_985_959, 0)));

        let data = TcpPacket::new_checked(&TCP6_DATA[54..]).unwrap();
        assert_eq!(data.payload(), b"hello v6");
        assert_eq!(data.seq_number(), syn.seq_number() + 1);
        assert_eq!(data.ack_number(), SeqNumber(3_613_157_237));
        assert_eq!((data.window_len(), data.checksum()), (64, 0x15ec));
        assert!(data.verify_checksum(&IP6_A, &IP6_B));
    }

    /// Builds a segment the way the connection does: options into scratch
    /// space, the header, the options copied in, the data, the checksum.
    fn build(
        out: &mut [u8],
        header: (u16, u16, u32, u32, TcpFlags, u16),
        write_options: impl FnOnce(&mut OptionWriter<'_>),
        payload: &[u8],
        (src, dst): (IpAddr, IpAddr),
    ) -> usize {
        let mut scratch = [0u8; MAX_OPTIONS_LEN];
        let mut writer = OptionWriter::new(&mut scratch);
        write_options(&mut writer);
        let options_len = writer.finish();
        let len = TcpPacket::<&[u8]>::HEADER_LEN + options_len + payload.len();
        let mut tcp = TcpPacket::new_unchecked(&mut out[..len]);
        let (src_port, dst_port, seq, ack, flags, window) = header;
        let (seq, ack) = (SeqNumber(seq), SeqNumber(ack));
        tcp.write_header(src_port, dst_port, seq, ack, flags, window, options_len);
        tcp.options_mut().copy_from_slice(&scratch[..options_len]);
        tcp.payload_mut().copy_from_slice(payload);
        tcp.fill_checksum(&src, &dst);
        len
    }

    #[test]
    fn writes_segments_identical_to_the_captures() {
        use TcpFlags as F;
        let mut out = [0xa5u8; 80];
        let v4 = (IP_A, IP_B);
        let v4_back = (IP_B, IP_A);
        let linux_syn = |mss, tsval, tsecr| {
            move |w: &mut OptionWriter<'_>| {
                w.mss(mss)
                    .sack_permitted()
                    .timestamp(tsval, tsecr)
                    .window_scale(10);
                assert_eq!(w.len(), 20);
            }
        };

        let n = build(
            &mut out,
            (40000, 5000, 0x7cfc_0aaa, 0, F::SYN, 64240),
            linux_syn(1460, 491_018_097, 0),
            b"",
            v4,
        );
        assert_eq!(out[..n], TCP_SYN[34..]);

        let header = (
            5000,
            40000,
            0x09e8_7620,
            0x7cfc_0aab,
            F::SYN | F::ACK,
            65160,
        );
        let options = linux_syn(1460, 2_557_516_961, 491_018_097);
        let n = build(&mut out, header, options, b"", v4_back);
        assert_eq!(out[..n], TCP_SYN_ACK[34..]);

        let header = (40000, 5000, 2_096_892_587, 166_229_537, F::PSH | F::ACK, 63);
        let options = |w: &mut OptionWriter<'_>| {
            w.timestamp(491_018_298, 2_557_516_961);
        };
        let n = build(&mut out, header, options, b"hello duet", v4);
        assert_eq!(out[..n], TCP_DATA[34..]);

        let header = (40000, 5000, 2_096_892_597, 166_229_537, F::FIN | F::ACK, 63);
        let options = |w: &mut OptionWriter<'_>| {
            w.timestamp(491_018_598, 2_557_517_162);
        };
        let n = build(&mut out, header, options, b"", v4);
        assert_eq!(out[..n], TCP_FIN[34..]);

        let header = (5002, 40002, 0, 0x3f74_963f, F::RST | F::ACK, 0);
        let n = build(&mut out, header, |_| {}, b"", v4_back);
        assert_eq!(out[..n], TCP_RST[34..]);

        let header = (5001, 40001, 3_884_900_924, 2_659_656_238, F::ACK, 70);
        let options = |w: &mut OptionWriter<'_>| {
            w.timestamp(1_745_739_965, 3_811_018_311).sack(&[
                (SeqNumber(2_659_670_718), SeqNumber(2_659_672_166)),
                (SeqNumber(2_659_666_374), SeqNumber(2_659_669_270)),
                (SeqNumber(2_659_657_686), SeqNumber(2_659_664_926)),
            ]);
        };
        let n = build(&mut out, header, options, b"", v4_back);
        assert_eq!(out[..n], TCP_SACK[34..]);

        let header = (40003, 5003, 254_839_726, 0, F::SYN | F::ECE | F::CWR, 64800);
        let n = build(
            &mut out,
            header,
            linux_syn(1440, 3_514_985_959, 0),
            b"",
            (IP6_A, IP6_B),
        );
        assert_eq!(out[..n], TCP6_SYN[54..]);

        let header = (40003, 5003, 254_839_727, 3_613_157_237, F::PSH | F::ACK, 64);
        let options = |w: &mut OptionWriter<'_>| {
            w.timestamp(3_514_986_159, 4_069_388_289);
        };
        let n = build(&mut out, header, options, b"hello v6", (IP6_A, IP6_B));
        assert_eq!(out[..n], TCP6_DATA[54..]);
    }

    #[test]
    fn setters_write_every_field() {
        let mut buf = [0u8; 28];
        let mut tcp = TcpPacket::new_unchecked(&mut buf[..]);
        tcp.set_src_port(1);
        tcp.set_dst_port(0xfffe);
        tcp.set_seq_number(SeqNumber(0x0102_0304));
        tcp.set_ack_number(SeqNumber(0xfffe_fdfc));
        tcp.set_header_len(24);
        tcp.set_flags(TcpFlags::URG | TcpFlags::FIN);
        tcp.set_window_len(0x8001);
        tcp.set_checksum(0xbeef);
        tcp.set_urgent_at(3);
        tcp.options_mut().copy_from_slice(&[1, 1, 1, 0]);
        tcp.payload_mut().copy_from_slice(b"urge");
        assert_eq!((tcp.src_port(), tcp.dst_port()), (1, 0xfffe));
        assert_eq!(tcp.seq_number(), SeqNumber(0x0102_0304));
        assert_eq!(tcp.ack_number(), SeqNumber(0xfffe_fdfc));
        assert_eq!(tcp.header_len(), 24);
        assert!(tcp.urg() && tcp.fin() && !tcp.ack());
        assert_eq!(
            (tcp.window_len(), tcp.checksum(), tcp.urgent_at()),
            (0x8001, 0xbeef, 3)
        );
        assert_eq!(tcp.segment_len(), 5);
        assert_eq!(tcp.segment_options(), Ok(SegmentOptions::default()));
        tcp.fill_checksum(&IP_A, &IP_B);
        assert!(tcp.verify_checksum(&IP_A, &IP_B));
        assert_eq!(tcp.into_payload_mut(), b"urge");
        // 0x2ac8: the checksum as a by-hand sum over the pseudo-header gives it.
        assert_eq!(
            buf,
            *b"\x00\x01\xff\xfe\x01\x02\x03\x04\xff\xfe\xfd\xfc\x60\x21\x80\x01\x2a\xc8\x00\x03\
               \x01\x01\x01\x00urge"
        );

        // set_header_len leaves the reserved bits alone; write_header clears them.
        buf[12] = 0x0f;
        let mut tcp = TcpPacket::new_unchecked(&mut buf[..]);
        tcp.set_header_len(60);
        assert_eq!(tcp.as_ref()[12], 0xff);
        assert_eq!(tcp.header_len(), 60);
        tcp.write_header(1, 2, SeqNumber(3), SeqNumber(4), TcpFlags::ACK, 5, 4);
        assert_eq!((tcp.as_ref()[12], tcp.header_len()), (0x60, 24));
        assert_eq!((tcp.checksum(), tcp.urgent_at()), (0, 0));
        // Received reserved bits are ignored (RFC 9293 §3.1).
        let mut syn = [0u8; 40];
        syn.copy_from_slice(&TCP_SYN[34..]);
        syn[12] |= 0x0f;
        let tcp = TcpPacket::new_checked(&syn[..]).unwrap();
        assert_eq!((tcp.header_len(), tcp.flags()), (40, TcpFlags::SYN));
    }

    #[test]
    fn rejects_truncated_and_inconsistent_headers() {
        let segment = &TCP_SYN[34..];
        for len in 0..segment.len() {
            assert_eq!(
                TcpPacket::new_checked(&segment[..len]).err(),
                Some(WireError::Truncated),
                "length {len}"
            );
        }
        let mut buf = [0u8; 40];
        buf.copy_from_slice(segment);
        for offset in 0..16u8 {
            buf[12] = offset << 4;
            let expected = match offset {
                0..5 => Some(WireError::Malformed),
                5..=10 => None,
                _ => Some(WireError::Truncated),
            };
            assert_eq!(
                TcpPacket::new_checked(&buf[..]).err(),
                expected,
                "offset {offset}"
            );
        }
        // A header that ends exactly at the buffer's end carries no data.
        let rst = TcpPacket::new_checked(&TCP_RST[34..]).unwrap();
        assert!(rst.payload().is_empty());
    }

    #[test]
    fn detects_a_corrupted_segment() {
        for (segment, src, dst) in segments() {
            let mut buf = [0u8; 80];
            let buf = &mut buf[..segment.len()];
            buf.copy_from_slice(segment);
            assert!(
                TcpPacket::new_checked(&*buf)
                    .unwrap()
                    .verify_checksum(&src, &dst)
            );
            for at in [0, 7, 13, segment.len() - 1] {
                buf[at] ^= 0x10;
                let tcp = TcpPacket::new_checked(&*buf).unwrap();
                assert_eq!(tcp.check_checksum(&src, &dst), Err(WireError::BadChecksum));
                buf[at] ^= 0x10;
            }
            // fill_checksum restores exactly the captured value.
            let mut tcp = TcpPacket::new_unchecked(&mut *buf);
            tcp.set_checksum(0x1234);
            tcp.fill_checksum(&src, &dst);
            assert_eq!(&*buf, segment);
        }
    }

    #[test]
    fn random_and_truncated_input_never_panics() {
        let touch = |bytes: &[u8]| {
            let Ok(tcp) = TcpPacket::new_checked(bytes) else {
                return false;
            };
            let _ = (
                tcp.src_port(),
                tcp.dst_port(),
                tcp.seq_number(),
                tcp.ack_number(),
            );
            let _ = (
                tcp.flags(),
                tcp.window_len(),
                tcp.checksum(),
                tcp.urgent_at(),
            );
            let _ = (
                tcp.verify_checksum(&IP_A, &IP_B),
                tcp.verify_checksum(&IP6_A, &IP6_B),
            );
            if let Ok(options) = tcp.segment_options() {
                assert!(options.sack_ranges().len() <= MAX_SACK_BLOCKS);
                assert!(
                    options
                        .window_scale
                        .is_none_or(|shift| shift <= MAX_WINDOW_SCALE)
                );
            }
            assert_eq!(tcp.header_len(), 20 + tcp.options().len());
            assert_eq!(tcp.header_len() + tcp.payload().len(), bytes.len());
            let flags = u32::from(tcp.syn()) + u32::from(tcp.fin());
            assert_eq!(tcp.segment_len(), tcp.payload().len() as u32 + flags);
            true
        };
        for (seed, (segment, _, _)) in segments().into_iter().enumerate() {
            captures::robustness(segment, 6000 + seed as u64, touch);
        }
    }

    /// A checksum from a payload sum gives the same field as summing the
    /// whole segment, for random headers (with options) and payloads of
    /// every parity, IPv4 and IPv6.
    #[test]
    fn checksum_from_a_payload_sum_equals_the_full_checksum() {
        let mut rng = Rng::new(0x7cb5);
        let v6 = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 1, 2, 3, 4));
        for round in 0..500 {
            let options = 4 * rng.below(11) as usize;
            let payload = rng.below(1500) as usize;
            let mut buf = [0u8; 20 + 40 + 1500];
            let len = 20 + options + payload;
            for b in &mut buf[..len] {
                *b = rng.next_u32() as u8;
            }
            let mut whole = TcpPacket::new_unchecked(&mut buf[..len]);
            whole.set_header_len(20 + options);
            let (src, dst) = if round % 2 == 0 {
                (IP_A, IP_B)
            } else {
                (v6, IP_A)
            };
            let mut copy = [0u8; 20 + 40 + 1500];
            copy[..len].copy_from_slice(&whole.buffer[..]);
            whole.fill_checksum(&src, &dst);
            let mut fast = TcpPacket::new_unchecked(&mut copy[..len]);
            let sum = checksum::native_sum(&fast.buffer[20 + options..]);
            fast.fill_checksum_with_payload_sum(&src, &dst, sum);
            assert_eq!(fast.checksum(), whole.checksum(), "round {round}");
            assert!(fast.verify_checksum(&src, &dst));
        }
    }
}
