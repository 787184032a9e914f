//! The NTP header as SNTP uses it ([RFC 4330 §4], [RFC 5905 §7.3]).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |LI | VN  |Mode |    Stratum    |     Poll      |   Precision   |
//! |                          Root Delay                           |
//! |                       Root Dispersion                         |
//! |                     Reference Identifier                      |
//! |                Reference Timestamp (64 bits)                  |
//! |                Originate Timestamp (64 bits)                  |
//! |                 Receive Timestamp (64 bits)                   |
//! |                 Transmit Timestamp (64 bits)                  |
//! ```
//! Extension fields and a MAC ([RFC 5905 §7.5]) may follow the 48 bytes; an
//! SNTP client does not use them and the view ignores them.
//!
//! Every getter and setter goes through `get`, so even an unchecked view over
//! a short buffer reads zeros and drops writes instead of panicking: the view
//! is handed bytes straight off the network.
//!
//! [RFC 4330 §4]: https://www.rfc-editor.org/rfc/rfc4330#section-4
//! [RFC 5905 §7.3]: https://www.rfc-editor.org/rfc/rfc5905#section-7.3
//! [RFC 5905 §7.5]: https://www.rfc-editor.org/rfc/rfc5905#section-7.5

use core::fmt;

use super::SntpError;
use super::timestamp::NtpTimestamp;

mod field {
    pub type Field = core::ops::Range<usize>;

    /// Leap indicator (2 bits), version number (3 bits), mode (3 bits).
    pub const LI_VN_MODE: usize = 0;
    pub const STRATUM: usize = 1;
    /// log2 of the maximum interval between messages, in seconds.
    pub const POLL: usize = 2;
    /// log2 of the server clock's precision, in seconds.
    pub const PRECISION: usize = 3;
    /// Round-trip delay to the reference clock, NTP short format (16.16).
    pub const ROOT_DELAY: Field = 4..8;
    /// Dispersion to the reference clock, NTP short format (16.16).
    pub const ROOT_DISPERSION: Field = 8..12;
    pub const REFERENCE_ID: Field = 12..16;
    pub const REFERENCE_TIMESTAMP: Field = 16..24;
    pub const ORIGIN_TIMESTAMP: Field = 24..32;
    pub const RECEIVE_TIMESTAMP: Field = 32..40;
    pub const TRANSMIT_TIMESTAMP: Field = 40..48;
}

use field::Field;

/// Bytes in the fixed header, and in an SNTP request.
pub const HEADER_LEN: usize = field::TRANSMIT_TIMESTAMP.end;

/// The version this client speaks ([RFC 5905]); servers answer in kind.
///
/// [RFC 5905]: https://www.rfc-editor.org/rfc/rfc5905
pub const VERSION_4: u8 = 4;

/// Leap indicator ([RFC 5905 §7.3], "LI"): a leap second warning, or the
/// alarm that the server's clock is not synchronised.
///
/// [RFC 5905 §7.3]: https://www.rfc-editor.org/rfc/rfc5905#section-7.3
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LeapIndicator {
    NoWarning,
    LastMinuteHas61Seconds,
    LastMinuteHas59Seconds,
    /// The server's clock is unsynchronised: its time must not be used.
    Unsynchronized,
}

impl LeapIndicator {
    const fn from_bits(bits: u8) -> Self {
        match bits & 0b11 {
            0 => LeapIndicator::NoWarning,
            1 => LeapIndicator::LastMinuteHas61Seconds,
            2 => LeapIndicator::LastMinuteHas59Seconds,
            _ => LeapIndicator::Unsynchronized,
        }
    }

    const fn to_bits(self) -> u8 {
        match self {
            LeapIndicator::NoWarning => 0,
            LeapIndicator::LastMinuteHas61Seconds => 1,
            LeapIndicator::LastMinuteHas59Seconds => 2,
            LeapIndicator::Unsynchronized => 3,
        }
    }
}

/// Association mode ([RFC 5905 §7.3], "Mode"); all eight 3-bit values.
///
/// [RFC 5905 §7.3]: https://www.rfc-editor.org/rfc/rfc5905#section-7.3
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Mode {
    Reserved,
    SymmetricActive,
    SymmetricPassive,
    Client,
    Server,
    Broadcast,
    Control,
    Private,
}

impl Mode {
    const fn from_bits(bits: u8) -> Self {
        match bits & 0b111 {
            0 => Mode::Reserved,
            1 => Mode::SymmetricActive,
            2 => Mode::SymmetricPassive,
            3 => Mode::Client,
            4 => Mode::Server,
            5 => Mode::Broadcast,
            6 => Mode::Control,
            _ => Mode::Private,
        }
    }

    /// The 3-bit value on the wire.
    pub const fn to_bits(self) -> u8 {
        match self {
            Mode::Reserved => 0,
            Mode::SymmetricActive => 1,
            Mode::SymmetricPassive => 2,
            Mode::Client => 3,
            Mode::Server => 4,
            Mode::Broadcast => 5,
            Mode::Control => 6,
            Mode::Private => 7,
        }
    }
}

/// The four ASCII characters a stratum-0 "kiss-o'-death" reply carries in
/// its reference identifier ([RFC 4330 §8], [RFC 5905 §7.4]).
///
/// [RFC 4330 §8]: https://www.rfc-editor.org/rfc/rfc4330#section-8
/// [RFC 5905 §7.4]: https://www.rfc-editor.org/rfc/rfc5905#section-7.4
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct KissCode(pub [u8; 4]);

impl KissCode {
    /// Rate exceeded: the client must poll less often.
    pub const RATE: KissCode = KissCode(*b"RATE");
    /// Access denied by the server: stop querying it.
    pub const DENY: KissCode = KissCode(*b"DENY");
    /// Access restricted by the server's policy: stop querying it.
    pub const RSTR: KissCode = KissCode(*b"RSTR");

    pub const fn as_bytes(&self) -> &[u8; 4] {
        &self.0
    }
}

impl fmt::Display for KissCode {
    /// The code as text; bytes that are not printable ASCII show as `?`,
    /// since the four bytes come from an untrusted server.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &byte in &self.0 {
            let shown = if byte.is_ascii_graphic() || byte == b' ' {
                char::from(byte)
            } else {
                '?'
            };
            fmt::Write::write_char(f, shown)?;
        }
        Ok(())
    }
}

/// A view of an NTP/SNTP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SntpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> SntpPacket<T> {
    /// Wraps `buffer` without checking its length: short buffers read as
    /// zeros (used for buffers the client sized itself).
    pub const fn new_unchecked(buffer: T) -> Self {
        SntpPacket { buffer }
    }

    /// Wraps `buffer` if it holds at least the 48-byte header.
    pub fn new_checked(buffer: T) -> Result<Self, SntpError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Truncated` when the buffer is shorter than the fixed header.
    pub fn check_len(&self) -> Result<(), SntpError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(SntpError::Truncated { len });
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn first_byte(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::LI_VN_MODE)
    }

    /// Leap second warning or unsynchronised alarm ([RFC 5905 §7.3], "LI").
    ///
    /// [RFC 5905 §7.3]: https://www.rfc-editor.org/rfc/rfc5905#section-7.3
    pub fn leap_indicator(&self) -> LeapIndicator {
        LeapIndicator::from_bits(self.first_byte() >> 6)
    }

    /// NTP version number ([RFC 4330 §4], "VN"): 3 or 4 in practice.
    ///
    /// [RFC 4330 §4]: https://www.rfc-editor.org/rfc/rfc4330#section-4
    pub fn version(&self) -> u8 {
        (self.first_byte() >> 3) & 0b111
    }

    /// Association mode: 3 for a client request, 4 for a server reply.
    pub fn mode(&self) -> Mode {
        Mode::from_bits(self.first_byte())
    }

    /// Distance from the reference clock ([RFC 5905 §7.3]): 0 is a
    /// kiss-o'-death, 1 a primary server, 2..=15 secondary, 16 unsynchronised.
    ///
    /// [RFC 5905 §7.3]: https://www.rfc-editor.org/rfc/rfc5905#section-7.3
    pub fn stratum(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::STRATUM)
    }

    /// Poll exponent ([RFC 5905 §7.3]): log2 seconds between messages.
    ///
    /// [RFC 5905 §7.3]: https://www.rfc-editor.org/rfc/rfc5905#section-7.3
    pub fn poll(&self) -> i8 {
        read_u8(self.buffer.as_ref(), field::POLL) as i8
    }

    /// Precision exponent ([RFC 5905 §7.3]): log2 seconds, e.g. -20 for 1 µs.
    ///
    /// [RFC 5905 §7.3]: https://www.rfc-editor.org/rfc/rfc5905#section-7.3
    pub fn precision(&self) -> i8 {
        read_u8(self.buffer.as_ref(), field::PRECISION) as i8
    }

    /// Root delay ([RFC 5905 §7.3]), NTP short format: 16.16 fixed-point seconds.
    ///
    /// [RFC 5905 §7.3]: https://www.rfc-editor.org/rfc/rfc5905#section-7.3
    pub fn root_delay(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::ROOT_DELAY)
    }

    /// Root dispersion ([RFC 5905 §7.3]), NTP short format (16.16 seconds).
    ///
    /// [RFC 5905 §7.3]: https://www.rfc-editor.org/rfc/rfc5905#section-7.3
    pub fn root_dispersion(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::ROOT_DISPERSION)
    }

    /// Reference identifier ([RFC 4330 §4]): a refclock name at stratum 1,
    /// the upstream server's IPv4 address (or hash) above, a kiss code at 0.
    ///
    /// [RFC 4330 §4]: https://www.rfc-editor.org/rfc/rfc4330#section-4
    pub fn reference_id(&self) -> [u8; 4] {
        read_u32(self.buffer.as_ref(), field::REFERENCE_ID).to_be_bytes()
    }

    /// The reference identifier read as a kiss code; meaningful at stratum 0.
    pub fn kiss_code(&self) -> KissCode {
        KissCode(self.reference_id())
    }

    /// When the server's clock was last set ([RFC 4330 §4]).
    ///
    /// [RFC 4330 §4]: https://www.rfc-editor.org/rfc/rfc4330#section-4
    pub fn reference_timestamp(&self) -> NtpTimestamp {
        read_timestamp(self.buffer.as_ref(), field::REFERENCE_TIMESTAMP)
    }

    /// T1 ([RFC 4330 §4]): the request's transmit timestamp, echoed back by
    /// the server, which is how a reply is matched to its request.
    ///
    /// [RFC 4330 §4]: https://www.rfc-editor.org/rfc/rfc4330#section-4
    pub fn origin_timestamp(&self) -> NtpTimestamp {
        read_timestamp(self.buffer.as_ref(), field::ORIGIN_TIMESTAMP)
    }

    /// T2 ([RFC 4330 §4]): when the request arrived at the server.
    ///
    /// [RFC 4330 §4]: https://www.rfc-editor.org/rfc/rfc4330#section-4
    pub fn receive_timestamp(&self) -> NtpTimestamp {
        read_timestamp(self.buffer.as_ref(), field::RECEIVE_TIMESTAMP)
    }

    /// T3 ([RFC 4330 §4]): when the reply left the server; in a request,
    /// the value the client wants echoed as the origin timestamp.
    ///
    /// [RFC 4330 §4]: https://www.rfc-editor.org/rfc/rfc4330#section-4
    pub fn transmit_timestamp(&self) -> NtpTimestamp {
        read_timestamp(self.buffer.as_ref(), field::TRANSMIT_TIMESTAMP)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> SntpPacket<T> {
    fn set_first_byte(&mut self, leap: LeapIndicator, version: u8, mode: Mode) {
        let byte = (leap.to_bits() << 6) | ((version & 0b111) << 3) | mode.to_bits();
        write_u8(self.buffer.as_mut(), field::LI_VN_MODE, byte);
    }

    pub fn set_leap_indicator(&mut self, leap: LeapIndicator) {
        self.set_first_byte(leap, self.version(), self.mode());
    }

    /// Sets the version number; only its low 3 bits fit the field.
    pub fn set_version(&mut self, version: u8) {
        self.set_first_byte(self.leap_indicator(), version, self.mode());
    }

    pub fn set_mode(&mut self, mode: Mode) {
        self.set_first_byte(self.leap_indicator(), self.version(), mode);
    }

    pub fn set_stratum(&mut self, stratum: u8) {
        write_u8(self.buffer.as_mut(), field::STRATUM, stratum);
    }

    pub fn set_poll(&mut self, exponent: i8) {
        write_u8(self.buffer.as_mut(), field::POLL, exponent as u8);
    }

    pub fn set_precision(&mut self, exponent: i8) {
        write_u8(self.buffer.as_mut(), field::PRECISION, exponent as u8);
    }

    pub fn set_root_delay(&mut self, short_format: u32) {
        write_bytes(
            self.buffer.as_mut(),
            field::ROOT_DELAY,
            &short_format.to_be_bytes(),
        );
    }

    pub fn set_root_dispersion(&mut self, short_format: u32) {
        write_bytes(
            self.buffer.as_mut(),
            field::ROOT_DISPERSION,
            &short_format.to_be_bytes(),
        );
    }

    pub fn set_reference_id(&mut self, id: [u8; 4]) {
        write_bytes(self.buffer.as_mut(), field::REFERENCE_ID, &id);
    }

    pub fn set_reference_timestamp(&mut self, t: NtpTimestamp) {
        write_timestamp(self.buffer.as_mut(), field::REFERENCE_TIMESTAMP, t);
    }

    pub fn set_origin_timestamp(&mut self, t: NtpTimestamp) {
        write_timestamp(self.buffer.as_mut(), field::ORIGIN_TIMESTAMP, t);
    }

    pub fn set_receive_timestamp(&mut self, t: NtpTimestamp) {
        write_timestamp(self.buffer.as_mut(), field::RECEIVE_TIMESTAMP, t);
    }

    pub fn set_transmit_timestamp(&mut self, t: NtpTimestamp) {
        write_timestamp(self.buffer.as_mut(), field::TRANSMIT_TIMESTAMP, t);
    }
}

/// Writes an SNTP client request into `buf` and returns its length (48), or
/// `None` if `buf` is too short.
///
/// [RFC 4330 §5] has a client zero every field but the first byte and the
/// transmit timestamp. The transmit timestamp need not be the client's time
/// ([RFC 5905 §8] only asks that the server echo it): an unpredictable value
/// both matches the reply and keeps an off-path attacker from forging one.
///
/// [RFC 4330 §5]: https://www.rfc-editor.org/rfc/rfc4330#section-5
/// [RFC 5905 §8]: https://www.rfc-editor.org/rfc/rfc5905#section-8
pub fn emit_client_request(buf: &mut [u8], transmit: NtpTimestamp) -> Option<usize> {
    let header = buf.get_mut(..HEADER_LEN)?;
    header.fill(0);
    let mut packet = SntpPacket::new_unchecked(header);
    packet.set_first_byte(LeapIndicator::NoWarning, VERSION_4, Mode::Client);
    packet.set_transmit_timestamp(transmit);
    Some(HEADER_LEN)
}

fn read_u8(data: &[u8], at: usize) -> u8 {
    data.get(at).copied().unwrap_or(0)
}

fn read_u32(data: &[u8], field: Field) -> u32 {
    data.get(field)
        .and_then(|bytes| <[u8; 4]>::try_from(bytes).ok())
        .map_or(0, u32::from_be_bytes)
}

fn read_timestamp(data: &[u8], field: Field) -> NtpTimestamp {
    let bits = data
        .get(field)
        .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
        .map_or(0, u64::from_be_bytes);
    NtpTimestamp::from_bits(bits)
}

fn write_timestamp(data: &mut [u8], field: Field, t: NtpTimestamp) {
    write_bytes(data, field, &t.to_bits().to_be_bytes());
}

/// Copies `bytes` into `field` when the buffer reaches that far.
fn write_bytes(data: &mut [u8], field: Field, bytes: &[u8]) {
    if let Some(slot) = data.get_mut(field) {
        if slot.len() == bytes.len() {
            slot.copy_from_slice(bytes);
        }
    }
}

fn write_u8(data: &mut [u8], at: usize, value: u8) {
    if let Some(slot) = data.get_mut(at) {
        *slot = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply from chronyd 4.3 (`local stratum 8`) on 127.0.0.1, captured
    /// with a request whose transmit timestamp was 0x0123456789abcdef.
    const CHRONY_REPLY: [u8; 48] = [
        0x24, 0x08, 0x00, 0xe7, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7f, 0x7f, 0x01,
        0x01, 0xee, 0xac, 0xf6, 0x42, 0x99, 0x46, 0xcd, 0x07, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
        0xcd, 0xef, 0xee, 0xac, 0xf6, 0x44, 0x50, 0x7d, 0x57, 0x21, 0xee, 0xac, 0xf6, 0x44, 0x50,
        0x81, 0x01, 0x42,
    ];

    #[test]
    fn reads_every_field_of_a_captured_reply() {
        let packet = SntpPacket::new_checked(&CHRONY_REPLY[..]).unwrap();
        assert_eq!(packet.leap_indicator(), LeapIndicator::NoWarning);
        assert_eq!(packet.version(), 4);
        assert_eq!(packet.mode(), Mode::Server);
        assert_eq!(packet.stratum(), 8);
        assert_eq!(packet.poll(), 0);
        assert_eq!(packet.precision(), -25);
        assert_eq!(packet.root_delay(), 0);
        assert_eq!(packet.root_dispersion(), 0);
        assert_eq!(packet.reference_id(), [127, 127, 1, 1]);
        assert_eq!(
            packet.reference_timestamp(),
            NtpTimestamp::from_bits(0xeeac_f642_9946_cd07)
        );
        assert_eq!(
            packet.origin_timestamp(),
            NtpTimestamp::from_bits(0x0123_4567_89ab_cdef)
        );
        assert_eq!(
            packet.receive_timestamp(),
            NtpTimestamp::from_bits(0xeeac_f644_507d_5721)
        );
        assert_eq!(
            packet.transmit_timestamp(),
            NtpTimestamp::from_bits(0xeeac_f644_5081_0142)
        );
    }

    #[test]
    fn writes_every_field_back_to_the_captured_bytes() {
        let mut bytes = [0u8; 48];
        let mut packet = SntpPacket::new_unchecked(&mut bytes[..]);
        packet.set_leap_indicator(LeapIndicator::NoWarning);
        packet.set_version(4);
        packet.set_mode(Mode::Server);
        packet.set_stratum(8);
        packet.set_poll(0);
        packet.set_precision(-25);
        packet.set_root_delay(0);
        packet.set_root_dispersion(0);
        packet.set_reference_id([127, 127, 1, 1]);
        packet.set_reference_timestamp(NtpTimestamp::from_bits(0xeeac_f642_9946_cd07));
        packet.set_origin_timestamp(NtpTimestamp::from_bits(0x0123_4567_89ab_cdef));
        packet.set_receive_timestamp(NtpTimestamp::from_bits(0xeeac_f644_507d_5721));
        packet.set_transmit_timestamp(NtpTimestamp::from_bits(0xeeac_f644_5081_0142));
        assert_eq!(bytes, CHRONY_REPLY);
    }

    #[test]
    fn first_byte_fields_are_independent() {
        let mut bytes = [0u8; 48];
        let mut packet = SntpPacket::new_unchecked(&mut bytes[..]);
        packet.set_mode(Mode::Private);
        packet.set_version(7);
        packet.set_leap_indicator(LeapIndicator::Unsynchronized);
        assert_eq!(bytes[0], 0xff);
        let mut packet = SntpPacket::new_unchecked(&mut bytes[..]);
        packet.set_version(3);
        assert_eq!(packet.leap_indicator(), LeapIndicator::Unsynchronized);
        assert_eq!(packet.mode(), Mode::Private);
        assert_eq!(packet.version(), 3);
    }

    #[test]
    fn request_is_mode_3_version_4_with_only_the_transmit_timestamp() {
        let mut buf = [0xaau8; 64];
        let transmit = NtpTimestamp::from_bits(0x0123_4567_89ab_cdef);
        assert_eq!(emit_client_request(&mut buf, transmit), Some(48));
        assert_eq!(buf[0], 0x23);
        assert!(buf[1..40].iter().all(|&b| b == 0));
        assert_eq!(buf[40..48], 0x0123_4567_89ab_cdef_u64.to_be_bytes());
        assert!(
            buf[48..].iter().all(|&b| b == 0xaa),
            "wrote past the header"
        );
        assert_eq!(emit_client_request(&mut buf[..47], transmit), None);
    }

    #[test]
    fn rejects_truncated_input_and_short_views_read_zeros() {
        assert_eq!(
            SntpPacket::new_checked(&CHRONY_REPLY[..47]).err(),
            Some(SntpError::Truncated { len: 47 })
        );
        assert_eq!(
            SntpPacket::new_checked(&[][..]).err(),
            Some(SntpError::Truncated { len: 0 })
        );
        // Trailing extension fields do not matter.
        let mut long = [0u8; 68];
        long[..48].copy_from_slice(&CHRONY_REPLY);
        assert!(SntpPacket::new_checked(&long[..]).is_ok());
        // An unchecked short view neither panics on reads nor on writes.
        let short = SntpPacket::new_unchecked(&CHRONY_REPLY[..20]);
        assert_eq!(short.stratum(), 8);
        assert_eq!(short.transmit_timestamp(), NtpTimestamp::ZERO);
        assert_eq!(short.reference_timestamp(), NtpTimestamp::ZERO);
        let mut bytes = [0u8; 10];
        let mut short = SntpPacket::new_unchecked(&mut bytes[..]);
        short.set_transmit_timestamp(NtpTimestamp::from_bits(1));
        short.set_reference_id(*b"RATE");
        assert_eq!(bytes, [0; 10]);
    }

    #[test]
    fn kiss_codes_print_as_ascii_and_mask_the_rest() {
        let mut text = [0u8; 8];
        let written = show(&KissCode::RATE, &mut text);
        assert_eq!(written, b"RATE");
        let written = show(&KissCode([b'X', 0, 0xff, b' ']), &mut text);
        assert_eq!(written, b"X?? ");
    }

    fn show<'a>(code: &KissCode, out: &'a mut [u8; 8]) -> &'a [u8] {
        struct Cursor<'b>(&'b mut [u8], usize);
        impl fmt::Write for Cursor<'_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                let end = self.1 + s.len();
                let slot = self.0.get_mut(self.1..end).ok_or(fmt::Error)?;
                slot.copy_from_slice(s.as_bytes());
                self.1 = end;
                Ok(())
            }
        }
        let mut cursor = Cursor(&mut out[..], 0);
        fmt::write(&mut cursor, format_args!("{code}")).unwrap();
        let len = cursor.1;
        &out[..len]
    }
}
