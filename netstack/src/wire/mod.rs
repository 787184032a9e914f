//! Wire formats: zero-copy views over packet bytes.
//!
//! Every header is a view `Xxx<T: AsRef<[u8]>> { buffer: T }` over the bytes
//! that came off (or go onto) the link. A view is validated once, by its
//! `new_checked`, when a packet enters the stack; after that every getter and
//! `payload()` is safe to call on it, so the state machines above never see a
//! malformed header and never copy one into a struct. Setters live on views
//! over mutable buffers (`T: AsMut<[u8]>`) and write the bytes in place.
//!
//! `new_unchecked` skips validation. It is meant for buffers the stack sizes
//! itself (when it builds a packet); getters and setters on an unchecked view
//! over a too-short buffer panic on the out-of-range index.

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmpv4;
pub mod ipv4;
pub mod tcp;
pub mod udp;

#[cfg(test)]
mod captures;

pub use arp::{ArpOperation, ArpPacket};
pub use ethernet::{EtherType, EthernetAddress, EthernetFrame, VlanTag};
pub use icmpv4::{Icmpv4Packet, Icmpv4Type};
pub use ipv4::{IpProtocol, Ipv4Packet};
pub use tcp::{SeqNumber, TcpFlags, TcpPacket};
pub use udp::UdpPacket;

use core::fmt;

/// Why a view refused a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WireError {
    /// The buffer is shorter than the header, or than a length field says.
    Truncated,
    /// A field contradicts the format (wrong version, a length below the header's).
    Malformed,
    /// The checksum does not match the bytes.
    BadChecksum,
    /// Well formed, but a variant this stack does not speak (e.g. ARP over non-Ethernet).
    Unsupported,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WireError::Truncated => "truncated packet",
            WireError::Malformed => "malformed packet",
            WireError::BadChecksum => "bad checksum",
            WireError::Unsupported => "unsupported packet format",
        })
    }
}

impl core::error::Error for WireError {}

/// The result of validating or decoding wire bytes.
pub type Result<T> = core::result::Result<T, WireError>;

/// A multi-byte field: its byte range inside the header.
type Field = core::ops::Range<usize>;

/// Reads the big-endian ("network byte order", RFC 1700) 16-bit word at `at`.
///
/// Through one slice of the field: one bounds check and one load, where
/// indexing byte by byte checks and loads each byte (the readers here run
/// for every field of every packet).
fn read_u16(data: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(read_array(data, at))
}

/// The `N` bytes at `at`, as [`read_u16`] reads them.
fn read_array<const N: usize>(data: &[u8], at: usize) -> [u8; N] {
    let mut bytes = [0; N];
    bytes.copy_from_slice(&data[at..at + N]);
    bytes
}

/// Writes `value` as a big-endian 16-bit word at `at`.
fn write_u16(data: &mut [u8], at: usize, value: u16) {
    data[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

/// Reads an IPv4 address stored in `field` (4 bytes).
fn read_ipv4(data: &[u8], field: Field) -> core::net::Ipv4Addr {
    core::net::Ipv4Addr::from(read_array::<4>(data, field.start))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn errors_display_what_went_wrong() {
        assert_eq!(WireError::Truncated.to_string(), "truncated packet");
        assert_eq!(WireError::Malformed.to_string(), "malformed packet");
        assert_eq!(WireError::BadChecksum.to_string(), "bad checksum");
        assert_eq!(
            WireError::Unsupported.to_string(),
            "unsupported packet format"
        );
    }
}
