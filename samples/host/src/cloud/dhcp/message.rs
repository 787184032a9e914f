//! DHCPv4 messages as a server sees them (RFC 2131 §2, options RFC 2132):
//! a client's message read once into a [`ClientMessage`] after every length
//! and option has been checked, and the server's replies built from scratch
//! ([`ServerReply`]).
//!
//! ```text
//! op htype hlen hops | xid | secs flags | ciaddr | yiaddr | siaddr | giaddr
//! chaddr (16) | sname (64) | file (128) | magic cookie 99.130.83.99 | options
//! ```
//!
//! Duet's client keeps its own message code private to the client side, so
//! the server side is written here, mirroring it field for field.

use core::net::Ipv4Addr;

use duet_netstack::EthernetAddress;
use duet_netstack::dhcpv4::MessageType;

use super::DhcpServerError;

/// The BOOTP part before the options (RFC 2131 Figure 1), with the magic
/// cookie (RFC 2131 §3).
pub(super) const FIXED_LEN: usize = 240;
pub(super) const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];

/// Field offsets (RFC 2131 §2, Table 1).
mod field {
    use core::ops::Range;
    pub const OP: usize = 0;
    pub const HTYPE: usize = 1;
    pub const HLEN: usize = 2;
    pub const XID: Range<usize> = 4..8;
    pub const FLAGS: Range<usize> = 10..12;
    pub const CIADDR: Range<usize> = 12..16;
    pub const YIADDR: Range<usize> = 16..20;
    pub const GIADDR: Range<usize> = 24..28;
    /// 16 bytes, of which Ethernet uses the first 6.
    pub const CHADDR: Range<usize> = 28..34;
    pub const COOKIE: Range<usize> = 236..240;
}

/// `op` (RFC 2131 §2).
pub(super) const BOOTREQUEST: u8 = 1;
pub(super) const BOOTREPLY: u8 = 2;
/// `htype` 1: Ethernet, `hlen` 6.
pub(super) const HTYPE_ETHERNET: u8 = 1;

/// The option codes this server reads or writes (RFC 2132).
pub(super) mod option {
    pub const PAD: u8 = 0;
    /// §3.3
    pub const SUBNET_MASK: u8 = 1;
    /// §3.5
    pub const ROUTER: u8 = 3;
    /// §3.8
    pub const DNS_SERVERS: u8 = 6;
    /// §8.3
    pub const NTP_SERVERS: u8 = 42;
    /// §9.1
    pub const REQUESTED_ADDRESS: u8 = 50;
    /// §9.2
    pub const LEASE_TIME: u8 = 51;
    /// §9.6
    pub const MESSAGE_TYPE: u8 = 53;
    /// §9.7
    pub const SERVER_ID: u8 = 54;
    /// §9.14; echoed in replies (RFC 6842 §3).
    pub const CLIENT_ID: u8 = 61;
    pub const END: u8 = 255;
}

/// The longest reply: what every client must accept (RFC 2131 §2). Ours
/// stay under it, a 255-byte echoed client identifier included.
pub const MAX_REPLY_LEN: usize = 576;
/// Replies are padded to the BOOTP minimum (RFC 1542 §3.2.1).
const MIN_REPLY_LEN: usize = 300;

/// A client's message, checked (RFC 2131 §2, Table 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientMessage<'a> {
    pub kind: MessageType,
    pub xid: u32,
    /// Copied into the reply (the BROADCAST bit, RFC 2131 §4.1).
    pub flags: u16,
    /// `ciaddr`: the client's address while BOUND, RENEWING or REBINDING.
    pub client_address: Ipv4Addr,
    pub chaddr: EthernetAddress,
    /// Option 50.
    pub requested_address: Option<Ipv4Addr>,
    /// Option 54: the server the client chose.
    pub server_id: Option<Ipv4Addr>,
    /// Option 61, as sent.
    pub client_id: Option<&'a [u8]>,
}

impl<'a> ClientMessage<'a> {
    /// Reads and checks a datagram sent to port 67.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DhcpServerError> {
        let fixed = bytes.get(..FIXED_LEN).ok_or(DhcpServerError::Truncated)?;
        if fixed[field::OP] != BOOTREQUEST
            || fixed[field::HTYPE] != HTYPE_ETHERNET
            || fixed[field::HLEN] != 6
            || fixed[field::COOKIE] != MAGIC_COOKIE
        {
            return Err(DhcpServerError::Malformed);
        }
        if address(&fixed[field::GIADDR])? != Ipv4Addr::UNSPECIFIED {
            // RFC 2131 §4.1: the reply would go to the relay agent.
            return Err(DhcpServerError::Relayed);
        }
        let mut kind = None;
        let mut message = ClientMessage {
            kind: MessageType::Discover,
            xid: u32::from_be_bytes(exact(&fixed[field::XID])?),
            flags: u16::from_be_bytes(exact(&fixed[field::FLAGS])?),
            client_address: address(&fixed[field::CIADDR])?,
            chaddr: EthernetAddress(exact(&fixed[field::CHADDR])?),
            requested_address: None,
            server_id: None,
            client_id: None,
        };
        for item in Options(&bytes[FIXED_LEN..]) {
            let (code, value) = item?;
            match code {
                option::MESSAGE_TYPE => kind = Some(message_type(exact::<1>(value)?[0])?),
                option::REQUESTED_ADDRESS => message.requested_address = Some(address(value)?),
                option::SERVER_ID => message.server_id = Some(address(value)?),
                option::CLIENT_ID => message.client_id = Some(value),
                // The parameter request list and the rest ask for nothing
                // this server would leave out.
                _ => {}
            }
        }
        message.kind = kind.ok_or(DhcpServerError::Malformed)?;
        Ok(message)
    }
}

/// The message types a client sends (RFC 2132 §9.6).
fn message_type(byte: u8) -> Result<MessageType, DhcpServerError> {
    match byte {
        1 => Ok(MessageType::Discover),
        3 => Ok(MessageType::Request),
        4 => Ok(MessageType::Decline),
        7 => Ok(MessageType::Release),
        // OFFER, ACK and NAK are a server's; INFORM (8, which
        // `MessageType` does not name) asks for options only.
        other => Err(DhcpServerError::Unsupported(other)),
    }
}

/// The options field (RFC 2131 §4.1, RFC 2132 §2) as `(code, value)` pairs,
/// PAD skipped, up to END or the end of the bytes; an option running past
/// the end is the last item, as an error.
pub(super) struct Options<'a>(pub(super) &'a [u8]);

impl<'a> Iterator for Options<'a> {
    type Item = Result<(u8, &'a [u8]), DhcpServerError>;

    fn next(&mut self) -> Option<Self::Item> {
        let start = self.0.iter().position(|&b| b != option::PAD)?;
        let (&code, rest) = self.0[start..].split_first()?;
        if code == option::END {
            self.0 = &[];
            return None;
        }
        let value = rest.split_first().and_then(|(&len, rest)| {
            let value = rest.get(..usize::from(len))?;
            Some((value, &rest[usize::from(len)..]))
        });
        let Some((value, rest)) = value else {
            self.0 = &[];
            return Some(Err(DhcpServerError::Truncated));
        };
        self.0 = rest;
        Some(Ok((code, value)))
    }
}

fn exact<const N: usize>(value: &[u8]) -> Result<[u8; N], DhcpServerError> {
    value.try_into().map_err(|_| DhcpServerError::Malformed)
}

fn address(value: &[u8]) -> Result<Ipv4Addr, DhcpServerError> {
    exact::<4>(value).map(Ipv4Addr::from)
}

/// The options of an OFFER or ACK that describe the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseOptions {
    /// Option 51, seconds.
    pub lease_secs: u32,
    /// Option 1.
    pub subnet_mask: Ipv4Addr,
    /// Option 3.
    pub router: Option<Ipv4Addr>,
    /// Option 6.
    pub dns_server: Option<Ipv4Addr>,
    /// Option 42.
    pub ntp_server: Option<Ipv4Addr>,
}

/// An OFFER, ACK or NAK answering `request` (RFC 2131 Table 3).
#[derive(Debug, Clone, Copy)]
pub struct ServerReply<'r> {
    pub kind: MessageType,
    pub request: &'r ClientMessage<'r>,
    /// `yiaddr`: 0.0.0.0 in a NAK.
    pub your_address: Ipv4Addr,
    /// Option 54.
    pub server_id: Ipv4Addr,
    /// `None` in a NAK, which carries no lease.
    pub lease: Option<LeaseOptions>,
}

impl ServerReply<'_> {
    /// Writes the reply into `out`, padded to 300 bytes; returns its length.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, DhcpServerError> {
        let request = self.request;
        let fixed = out
            .get_mut(..FIXED_LEN)
            .ok_or(DhcpServerError::BufferTooSmall)?;
        fixed.fill(0);
        fixed[field::OP] = BOOTREPLY;
        fixed[field::HTYPE] = HTYPE_ETHERNET;
        fixed[field::HLEN] = 6;
        fixed[field::XID].copy_from_slice(&request.xid.to_be_bytes());
        fixed[field::FLAGS].copy_from_slice(&request.flags.to_be_bytes());
        // Table 3: `ciaddr` is echoed in an ACK only.
        if self.kind == MessageType::Ack {
            fixed[field::CIADDR].copy_from_slice(&request.client_address.octets());
        }
        fixed[field::YIADDR].copy_from_slice(&self.your_address.octets());
        fixed[field::CHADDR].copy_from_slice(&request.chaddr.0);
        fixed[field::COOKIE].copy_from_slice(&MAGIC_COOKIE);
        let mut options = OptionWriter { out, at: FIXED_LEN };
        options.put(option::MESSAGE_TYPE, &[self.kind as u8])?;
        options.put(option::SERVER_ID, &self.server_id.octets())?;
        if let Some(lease) = self.lease {
            options.put(option::LEASE_TIME, &lease.lease_secs.to_be_bytes())?;
            options.put(option::SUBNET_MASK, &lease.subnet_mask.octets())?;
            for (code, server) in [
                (option::ROUTER, lease.router),
                (option::DNS_SERVERS, lease.dns_server),
                (option::NTP_SERVERS, lease.ntp_server),
            ] {
                if let Some(server) = server {
                    options.put(code, &server.octets())?;
                }
            }
        }
        if let Some(id) = request.client_id {
            options.put(option::CLIENT_ID, id)?;
        }
        options.finish()
    }
}

/// Appends options after the fixed part: `code`, length, value each.
struct OptionWriter<'o> {
    out: &'o mut [u8],
    at: usize,
}

impl OptionWriter<'_> {
    fn put(&mut self, code: u8, value: &[u8]) -> Result<(), DhcpServerError> {
        let len = u8::try_from(value.len()).map_err(|_| DhcpServerError::Malformed)?;
        let end = self.at + 2 + value.len();
        let slot = self
            .out
            .get_mut(self.at..end)
            .ok_or(DhcpServerError::BufferTooSmall)?;
        slot[0] = code;
        slot[1] = len;
        slot[2..].copy_from_slice(value);
        self.at = end;
        Ok(())
    }

    /// Writes END and the padding; returns the message length.
    fn finish(self) -> Result<usize, DhcpServerError> {
        let len = (self.at + 1).max(MIN_REPLY_LEN);
        let tail = self
            .out
            .get_mut(self.at..len)
            .ok_or(DhcpServerError::BufferTooSmall)?;
        tail.fill(option::PAD);
        tail[0] = option::END;
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use duet_netstack::Instant;
    use duet_netstack::dhcpv4::{CLIENT_MESSAGE_LEN, Dhcpv4Client, Dhcpv4Config};

    const MAC: EthernetAddress = EthernetAddress([0x02, 0xde, 0x71, 0xce, 0, 1]);

    /// A DISCOVER as Duet's client sends it.
    fn duet_discover() -> Vec<u8> {
        let config = Dhcpv4Config {
            host_name: Some("duet"),
            ..Dhcpv4Config::new(MAC)
        };
        let mut client = Dhcpv4Client::new(config, 1, Instant::ZERO);
        let mut out = [0u8; CLIENT_MESSAGE_LEN];
        let (len, _) = client.poll_transmit(Instant::ZERO, &mut out).unwrap();
        out[..len].to_vec()
    }

    #[test]
    fn a_duet_discover_is_read_field_by_field() {
        let bytes = duet_discover();
        let message = ClientMessage::parse(&bytes).unwrap();
        assert_eq!(message.kind, MessageType::Discover);
        assert_eq!(message.xid.to_be_bytes(), bytes[4..8]);
        assert_eq!(message.flags, 0x8000, "BROADCAST");
        assert_eq!(message.client_address, Ipv4Addr::UNSPECIFIED);
        assert_eq!(message.chaddr, MAC);
        assert_eq!(message.requested_address, None);
        assert_eq!(message.server_id, None);
        assert_eq!(
            message.client_id,
            Some(&[1, 0x02, 0xde, 0x71, 0xce, 0, 1][..])
        );
    }

    #[test]
    fn truncated_and_inconsistent_messages_are_refused() {
        let good = duet_discover();
        for len in 0..FIXED_LEN {
            assert_eq!(
                ClientMessage::parse(&good[..len]),
                Err(DhcpServerError::Truncated)
            );
        }
        // Cut inside the client identifier's value.
        assert_eq!(
            ClientMessage::parse(&good[..FIXED_LEN + 6]),
            Err(DhcpServerError::Truncated)
        );
        // Cut right after the message type: nothing missing but END.
        assert!(ClientMessage::parse(&good[..FIXED_LEN + 3]).is_ok());
        let mut bad_hlen = good.clone();
        bad_hlen[field::HLEN] = 16;
        assert_eq!(
            ClientMessage::parse(&bad_hlen),
            Err(DhcpServerError::Malformed)
        );
        let mut long_type = good.clone();
        long_type[FIXED_LEN + 1] = 2;
        assert_eq!(
            ClientMessage::parse(&long_type),
            Err(DhcpServerError::Malformed)
        );
    }

    #[test]
    fn options_skip_padding_and_stop_at_end() {
        let bytes = [0, 0, 53, 1, 3, 0, 12, 0, 255, 53, 1, 1];
        let items: Vec<_> = Options(&bytes).collect();
        assert_eq!(items, [Ok((53, &[3][..])), Ok((12, &[][..]))]);
        assert_eq!(Options(&[0, 0, 0]).count(), 0);
        let overrun: Vec<_> = Options(&[61, 9, 1]).collect();
        assert_eq!(overrun, [Err(DhcpServerError::Truncated)]);
        assert_eq!(
            Options(&[61]).collect::<Vec<_>>(),
            [Err(DhcpServerError::Truncated)]
        );
    }

    #[test]
    fn an_ack_is_written_field_by_field() {
        let bytes = duet_discover();
        let request = ClientMessage {
            client_address: Ipv4Addr::new(10, 42, 0, 7),
            ..ClientMessage::parse(&bytes).unwrap()
        };
        let reply = ServerReply {
            kind: MessageType::Ack,
            request: &request,
            your_address: Ipv4Addr::new(10, 42, 0, 7),
            server_id: Ipv4Addr::new(10, 42, 0, 1),
            lease: Some(LeaseOptions {
                lease_secs: 3600,
                subnet_mask: Ipv4Addr::new(255, 255, 255, 0),
                router: Some(Ipv4Addr::new(10, 42, 0, 1)),
                dns_server: None,
                ntp_server: Some(Ipv4Addr::new(10, 42, 0, 2)),
            }),
        };
        let mut out = [0xaau8; MAX_REPLY_LEN];
        let len = reply.write(&mut out).unwrap();
        assert_eq!(len, MIN_REPLY_LEN);
        assert_eq!(&out[..4], &[BOOTREPLY, HTYPE_ETHERNET, 6, 0]);
        assert_eq!(&out[4..8], &bytes[4..8], "xid");
        assert_eq!(&out[8..12], &[0, 0, 0x80, 0], "secs, flags");
        assert_eq!(&out[12..16], &[10, 42, 0, 7], "ciaddr echoed in an ACK");
        assert_eq!(&out[16..20], &[10, 42, 0, 7], "yiaddr");
        assert_eq!(&out[20..28], &[0; 8], "siaddr, giaddr");
        assert_eq!(&out[28..34], &MAC.0);
        assert!(
            out[34..236].iter().all(|&b| b == 0),
            "chaddr padding, sname, file"
        );
        assert_eq!(&out[236..240], &MAGIC_COOKIE);
        let options: &[u8] = &[
            53, 1, 5, // ACK
            54, 4, 10, 42, 0, 1, // server id
            51, 4, 0, 0, 0x0e, 0x10, // lease 3600 s
            1, 4, 255, 255, 255, 0, // mask
            3, 4, 10, 42, 0, 1, // router
            42, 4, 10, 42, 0, 2, // NTP
            61, 7, 1, 0x02, 0xde, 0x71, 0xce, 0, 1, // client id
            255,
        ];
        assert_eq!(&out[240..240 + options.len()], options);
        assert!(
            out[240 + options.len()..len].iter().all(|&b| b == 0),
            "padding"
        );
        assert_eq!(out[len], 0xaa, "nothing written past the reply");
        // A NAK: no lease, no ciaddr, no yiaddr.
        let nak = ServerReply {
            kind: MessageType::Nak,
            your_address: Ipv4Addr::UNSPECIFIED,
            lease: None,
            ..reply
        };
        nak.write(&mut out).unwrap();
        assert_eq!(&out[12..20], &[0; 8]);
        assert_eq!(&out[240..249], &[53, 1, 6, 54, 4, 10, 42, 0, 1]);
        assert_eq!(out[249], 61);
        for short in [0, FIXED_LEN, 260, MIN_REPLY_LEN - 1] {
            assert_eq!(
                reply.write(&mut out[..short]),
                Err(DhcpServerError::BufferTooSmall)
            );
        }
    }
}
