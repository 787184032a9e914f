//! What a frame on a bench link is (data segment, pure ACK, anything else),
//! read from the wire so the ACK figure is counted the same way for every
//! stack. Core only: the host bench uses it as a module and the Cortex-M
//! bench (`xtask/bench-mcu`) includes this same file.

/// What a frame is, for the ACK figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A TCP segment carrying payload (RFC 9293 section 3.1: the data after the
    /// header the data offset field delimits).
    Data,
    /// A TCP segment with ACK set, no payload and none of SYN, FIN, RST: an
    /// acknowledgment or window update and nothing else.
    PureAck,
    /// Anything else: ARP, the handshake, FIN, RST, other protocols, and
    /// frames too short or inconsistent to read.
    Other,
}

/// Ethernet II header length and EtherType offset (IEEE 802.3 clause 3.2.6).
pub(crate) const ETHERNET_HEADER_LEN: usize = 14;
pub(crate) const ETHERTYPE_IPV4: u16 = 0x0800;
/// IPv4 protocol number of TCP (RFC 791 section 3.1, IANA protocol numbers).
pub(crate) const PROTOCOL_TCP: u8 = 6;
/// TCP control bits (RFC 9293 section 3.1), in the 14th header byte.
pub(crate) const TCP_FIN: u8 = 0x01;
pub(crate) const TCP_SYN: u8 = 0x02;
pub(crate) const TCP_RST: u8 = 0x04;
pub(crate) const TCP_ACK: u8 = 0x10;

/// Tells what a frame on the link is. Reads only the header fields it needs
/// and answers [`FrameKind::Other`] for anything it cannot read, never panics.
pub fn classify(frame: &[u8]) -> FrameKind {
    classify_tcp(frame).unwrap_or(FrameKind::Other)
}

fn classify_tcp(frame: &[u8]) -> Option<FrameKind> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    if ethertype != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = frame.get(ETHERNET_HEADER_LEN..)?;
    // RFC 791 section 3.1: version and IHL share the first byte; Total
    // Length is bytes 2..4; Protocol is byte 9.
    let version_ihl = *ip.first()?;
    if version_ihl >> 4 != 4 {
        return None;
    }
    let ip_header_len = usize::from(version_ihl & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    if *ip.get(9)? != PROTOCOL_TCP || total_len > ip.len() {
        return None;
    }
    let tcp = ip.get(ip_header_len..total_len)?;
    // RFC 9293 section 3.1: Data Offset is the high nibble of byte 12, in
    // 32-bit words; the control bits are byte 13.
    let data_offset = usize::from(*tcp.get(12)? >> 4) * 4;
    let flags = *tcp.get(13)?;
    let payload_len = tcp.len().checked_sub(data_offset)?;
    Some(if payload_len > 0 {
        FrameKind::Data
    } else if flags & TCP_ACK != 0 && flags & (TCP_SYN | TCP_FIN | TCP_RST) == 0 {
        FrameKind::PureAck
    } else {
        FrameKind::Other
    })
}

/// An Ethernet + IPv4 + TCP frame with 20-byte headers, `payload` bytes of
/// data and control bits `flags`. Checksums are left zero: the classifier
/// does not read them.
#[cfg(test)]
pub(crate) fn tcp_frame(flags: u8, payload: usize) -> Vec<u8> {
    let mut frame = vec![0u8; 14 + 20 + 20 + payload];
    frame[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    frame[14] = 0x45;
    let total = u16::try_from(20 + 20 + payload).unwrap();
    frame[16..18].copy_from_slice(&total.to_be_bytes());
    frame[14 + 9] = PROTOCOL_TCP;
    frame[34 + 12] = 5 << 4;
    frame[34 + 13] = flags;
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_tells_data_from_pure_acks_and_the_rest() {
        assert_eq!(classify(&tcp_frame(TCP_ACK, 1460)), FrameKind::Data);
        assert_eq!(classify(&tcp_frame(TCP_ACK | 0x08, 1)), FrameKind::Data);
        assert_eq!(classify(&tcp_frame(TCP_ACK, 0)), FrameKind::PureAck);
        assert_eq!(classify(&tcp_frame(TCP_SYN, 0)), FrameKind::Other);
        assert_eq!(classify(&tcp_frame(TCP_SYN | TCP_ACK, 0)), FrameKind::Other);
        assert_eq!(classify(&tcp_frame(TCP_FIN | TCP_ACK, 0)), FrameKind::Other);
        assert_eq!(classify(&tcp_frame(TCP_RST | TCP_ACK, 0)), FrameKind::Other);
        // FIN with data still carries data.
        assert_eq!(classify(&tcp_frame(TCP_FIN | TCP_ACK, 5)), FrameKind::Data);
    }

    #[test]
    fn classify_reads_payload_past_options_and_ignores_ethernet_padding() {
        // A bare ACK with 12 bytes of TCP options (data offset 8) is still
        // pure, though the frame is longer than 54 bytes.
        let mut frame = tcp_frame(TCP_ACK, 12);
        frame[34 + 12] = 8 << 4;
        assert_eq!(classify(&frame), FrameKind::PureAck);
        // Ethernet pads short frames to 60 bytes: the padding after IPv4's
        // Total Length is not payload.
        let mut frame = tcp_frame(TCP_ACK, 0);
        frame.resize(60, 0);
        assert_eq!(classify(&frame), FrameKind::PureAck);
    }

    #[test]
    fn classify_calls_unreadable_and_foreign_frames_other() {
        let arp = {
            let mut frame = vec![0u8; 42];
            frame[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
            frame
        };
        assert_eq!(classify(&arp), FrameKind::Other);
        assert_eq!(classify(&[]), FrameKind::Other);
        let frame = tcp_frame(TCP_ACK, 100);
        for cut in 0..frame.len() {
            assert_eq!(classify(&frame[..cut]), FrameKind::Other, "cut at {cut}");
        }
        let mut udp = tcp_frame(TCP_ACK, 100);
        udp[14 + 9] = 17;
        assert_eq!(classify(&udp), FrameKind::Other);
        let mut bad_offset = tcp_frame(TCP_ACK, 0);
        bad_offset[34 + 12] = 15 << 4;
        assert_eq!(classify(&bad_offset), FrameKind::Other);
        let mut ipv6_version = tcp_frame(TCP_ACK, 100);
        ipv6_version[14] = 0x65;
        assert_eq!(classify(&ipv6_version), FrameKind::Other);
    }
}
