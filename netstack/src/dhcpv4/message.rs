//! DHCPv4 messages (RFC 2131 §2, options RFC 2132): the client's messages
//! built from scratch, and the server's read once into a [`ServerMessage`]
//! after every length and option has been checked.
//!
//! ```text
//! op htype hlen hops | xid | secs flags | ciaddr | yiaddr | siaddr | giaddr
//! chaddr (16) | sname (64) | file (128) | magic cookie 99.130.83.99 | options
//! ```

use core::net::Ipv4Addr;

use crate::wire::EthernetAddress;

/// The fixed BOOTP part before the options (RFC 2131 Figure 1), with the
/// magic cookie (RFC 2131 §3).
const FIXED_LEN: usize = 240;
const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];

mod field {
    use core::ops::Range;
    pub const OP: usize = 0;
    pub const HTYPE: usize = 1;
    pub const HLEN: usize = 2;
    pub const XID: Range<usize> = 4..8;
    pub const YIADDR: Range<usize> = 16..20;
    pub const CHADDR: Range<usize> = 28..34;
    pub const COOKIE: Range<usize> = 236..240;
}

/// BOOTREQUEST / BOOTREPLY (RFC 2131 §2, `op`).
const BOOTREQUEST: u8 = 1;
const BOOTREPLY: u8 = 2;
/// `htype` 1: Ethernet (RFC 1700), 6-byte addresses.
const HTYPE_ETHERNET: u8 = 1;
/// The BROADCAST flag (RFC 2131 §4.1): answer by broadcast, since a host
/// without an address drops unicast IP to addresses not its own.
const FLAG_BROADCAST: u16 = 0x8000;

/// Option codes used (RFC 2132).
pub(super) mod option {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTER: u8 = 3;
    pub const DNS_SERVERS: u8 = 6;
    pub const HOST_NAME: u8 = 12;
    pub const DOMAIN_NAME: u8 = 15;
    pub const INTERFACE_MTU: u8 = 26;
    pub const NTP_SERVERS: u8 = 42;
    pub const REQUESTED_ADDRESS: u8 = 50;
    pub const LEASE_TIME: u8 = 51;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const PARAMETER_REQUEST_LIST: u8 = 55;
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    pub const RENEWAL_TIME: u8 = 58;
    pub const REBINDING_TIME: u8 = 59;
    pub const CLIENT_ID: u8 = 61;
    pub const END: u8 = 255;
}

/// DHCP message types (RFC 2132 §9.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Discover = 1,
    Offer = 2,
    Request = 3,
    Decline = 4,
    Ack = 5,
    Nak = 6,
    Release = 7,
}

impl MessageType {
    fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            _ => return None,
        })
    }
}

/// Why a server message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageError {
    /// Shorter than the fixed part, or an option runs past the end.
    Truncated,
    /// Not a BOOTREPLY for Ethernet, no magic cookie, no or an unknown
    /// message type, or an option of the wrong length.
    Malformed,
}

/// Most DNS and NTP servers kept from one message.
pub const MAX_DNS_SERVERS: usize = 3;
pub const MAX_NTP_SERVERS: usize = 2;
/// Longest domain name kept (option 15); longer ones are cut.
pub const MAX_DOMAIN: usize = 64;

/// A server's message, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerMessage {
    pub kind: MessageType,
    pub xid: u32,
    pub chaddr: EthernetAddress,
    /// `yiaddr`: the address offered or acknowledged.
    pub your_address: Ipv4Addr,
    pub server_id: Option<Ipv4Addr>,
    pub subnet_mask: Option<Ipv4Addr>,
    pub router: Option<Ipv4Addr>,
    pub dns_servers: [Option<Ipv4Addr>; MAX_DNS_SERVERS],
    pub ntp_servers: [Option<Ipv4Addr>; MAX_NTP_SERVERS],
    pub domain: [u8; MAX_DOMAIN],
    pub domain_len: u8,
    pub mtu: Option<u16>,
    /// Seconds (option 51); `u32::MAX` is infinite (RFC 2132 §9.2).
    pub lease_secs: Option<u32>,
    pub renewal_secs: Option<u32>,
    pub rebinding_secs: Option<u32>,
}

impl ServerMessage {
    /// Reads and checks a datagram from port 67.
    pub fn parse(bytes: &[u8]) -> Result<Self, MessageError> {
        let fixed = bytes.get(..FIXED_LEN).ok_or(MessageError::Truncated)?;
        if fixed[field::OP] != BOOTREPLY
            || fixed[field::HTYPE] != HTYPE_ETHERNET
            || fixed[field::HLEN] != 6
            || fixed[field::COOKIE] != MAGIC_COOKIE
        {
            return Err(MessageError::Malformed);
        }
        let mut message = ServerMessage {
            kind: MessageType::Nak,
            xid: u32::from_be_bytes(array(&fixed[field::XID])),
            chaddr: EthernetAddress(array(&fixed[field::CHADDR])),
            your_address: Ipv4Addr::from(array::<4>(&fixed[field::YIADDR])),
            server_id: None,
            subnet_mask: None,
            router: None,
            dns_servers: [None; MAX_DNS_SERVERS],
            ntp_servers: [None; MAX_NTP_SERVERS],
            domain: [0; MAX_DOMAIN],
            domain_len: 0,
            mtu: None,
            lease_secs: None,
            renewal_secs: None,
            rebinding_secs: None,
        };
        let mut kind = None;
        let mut options = bytes.get(FIXED_LEN..).unwrap_or_default();
        while let Some((&code, rest)) = options.split_first() {
            match code {
                option::PAD => {
                    options = rest;
                    continue;
                }
                option::END => break,
                _ => {}
            }
            let (&len, rest) = rest.split_first().ok_or(MessageError::Truncated)?;
            let value = rest
                .get(..usize::from(len))
                .ok_or(MessageError::Truncated)?;
            options = &rest[usize::from(len)..];
            match code {
                option::MESSAGE_TYPE => {
                    let [byte] = value else {
                        return Err(MessageError::Malformed);
                    };
                    kind = MessageType::from_byte(*byte);
                }
                option::SERVER_ID => message.server_id = Some(address(value)?),
                option::SUBNET_MASK => message.subnet_mask = Some(address(value)?),
                option::ROUTER => message.router = addresses::<1>(value)?[0],
                option::DNS_SERVERS => message.dns_servers = addresses(value)?,
                option::NTP_SERVERS => message.ntp_servers = addresses(value)?,
                option::INTERFACE_MTU => message.mtu = Some(u16::from_be_bytes(exact(value)?)),
                option::LEASE_TIME => message.lease_secs = Some(u32::from_be_bytes(exact(value)?)),
                option::RENEWAL_TIME => {
                    message.renewal_secs = Some(u32::from_be_bytes(exact(value)?));
                }
                option::REBINDING_TIME => {
                    message.rebinding_secs = Some(u32::from_be_bytes(exact(value)?));
                }
                option::DOMAIN_NAME => {
                    let kept = value.len().min(MAX_DOMAIN);
                    message.domain[..kept].copy_from_slice(&value[..kept]);
                    message.domain_len = kept as u8;
                }
                // Options we did not ask for are skipped (RFC 2131 §4.3.1).
                _ => {}
            }
        }
        message.kind = kind.ok_or(MessageError::Malformed)?;
        Ok(message)
    }
}

/// A kept domain name as text, if it is valid UTF-8 and not empty.
pub(super) fn domain_str(bytes: &[u8; MAX_DOMAIN], len: u8) -> Option<&str> {
    let bytes = bytes.get(..usize::from(len))?;
    core::str::from_utf8(bytes).ok().filter(|d| !d.is_empty())
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(bytes);
    out
}

fn exact<const N: usize>(value: &[u8]) -> Result<[u8; N], MessageError> {
    value.try_into().map_err(|_| MessageError::Malformed)
}

fn address(value: &[u8]) -> Result<Ipv4Addr, MessageError> {
    exact::<4>(value).map(Ipv4Addr::from)
}

/// The first `N` addresses of a list option (a non-empty multiple of 4).
fn addresses<const N: usize>(value: &[u8]) -> Result<[Option<Ipv4Addr>; N], MessageError> {
    if value.is_empty() || value.len() % 4 != 0 {
        return Err(MessageError::Malformed);
    }
    let mut out = [None; N];
    for (slot, bytes) in out.iter_mut().zip(value.chunks_exact(4)) {
        *slot = Some(Ipv4Addr::from(array::<4>(bytes)));
    }
    Ok(out)
}

/// What the client puts in one of its messages.
#[derive(Debug, Clone, Copy)]
pub struct ClientMessage<'a> {
    pub kind: MessageType,
    pub xid: u32,
    pub chaddr: EthernetAddress,
    /// `ciaddr`: ours while BOUND, RENEWING or REBINDING (RFC 2131 Table 5).
    pub client_address: Ipv4Addr,
    /// Ask for a broadcast answer (no address yet).
    pub broadcast: bool,
    pub requested_address: Option<Ipv4Addr>,
    pub server_id: Option<Ipv4Addr>,
    pub host_name: Option<&'a str>,
}

/// The options we ask servers for (option 55).
const PARAMETERS: [u8; 8] = [
    option::SUBNET_MASK,
    option::ROUTER,
    option::DNS_SERVERS,
    option::DOMAIN_NAME,
    option::INTERFACE_MTU,
    option::NTP_SERVERS,
    option::RENEWAL_TIME,
    option::REBINDING_TIME,
];

/// The largest message we build: fixed part, our options, padding to the
/// BOOTP minimum of 300 bytes (RFC 1542 §3.2.1; some relays drop less).
pub const CLIENT_MESSAGE_LEN: usize = 300 + 64;

impl ClientMessage<'_> {
    /// Writes the message into `out`; returns its length, `None` if `out`
    /// is too small.
    pub fn write(&self, out: &mut [u8]) -> Option<usize> {
        let mut w = Writer { out, at: 0 };
        w.put(&[BOOTREQUEST, HTYPE_ETHERNET, 6, 0])?;
        w.put(&self.xid.to_be_bytes())?;
        w.put(&[0, 0])?; // secs
        let flags = if self.broadcast { FLAG_BROADCAST } else { 0 };
        w.put(&flags.to_be_bytes())?;
        w.put(&self.client_address.octets())?;
        w.zeros(12)?; // yiaddr, siaddr, giaddr
        w.put(&self.chaddr.0)?;
        w.zeros(10 + 64 + 128)?; // chaddr padding, sname, file
        w.put(&MAGIC_COOKIE)?;
        w.put(&[option::MESSAGE_TYPE, 1, self.kind as u8])?;
        // Client identifier: hardware type and address (RFC 2132 §9.14).
        w.put(&[option::CLIENT_ID, 7, HTYPE_ETHERNET])?;
        w.put(&self.chaddr.0)?;
        if let Some(address) = self.requested_address {
            w.put(&[option::REQUESTED_ADDRESS, 4])?;
            w.put(&address.octets())?;
        }
        if let Some(server) = self.server_id {
            w.put(&[option::SERVER_ID, 4])?;
            w.put(&server.octets())?;
        }
        if matches!(self.kind, MessageType::Discover | MessageType::Request) {
            w.put(&[option::MAX_MESSAGE_SIZE, 2])?;
            w.put(&576u16.to_be_bytes())?;
            w.put(&[option::PARAMETER_REQUEST_LIST, PARAMETERS.len() as u8])?;
            w.put(&PARAMETERS)?;
            if let Some(name) = self.host_name.filter(|n| !n.is_empty() && n.len() <= 63) {
                w.put(&[option::HOST_NAME, name.len() as u8])?;
                w.put(name.as_bytes())?;
            }
        }
        w.put(&[option::END])?;
        let len = w.at.max(300);
        let padding = len - w.at;
        w.zeros(padding)?;
        Some(len)
    }
}

struct Writer<'o> {
    out: &'o mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) -> Option<()> {
        self.out
            .get_mut(self.at..self.at + bytes.len())?
            .copy_from_slice(bytes);
        self.at += bytes.len();
        Some(())
    }

    fn zeros(&mut self, n: usize) -> Option<()> {
        self.out.get_mut(self.at..self.at + n)?.fill(0);
        self.at += n;
        Some(())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub const MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 7]);

    /// A server reply as dnsmasq builds one.
    pub fn reply(kind: MessageType, xid: u32, options: &[u8]) -> [u8; 400] {
        let mut bytes = [0u8; 400];
        bytes[0] = BOOTREPLY;
        bytes[1] = HTYPE_ETHERNET;
        bytes[2] = 6;
        bytes[4..8].copy_from_slice(&xid.to_be_bytes());
        bytes[16..20].copy_from_slice(&[192, 168, 7, 50]);
        bytes[28..34].copy_from_slice(&MAC.0);
        bytes[236..240].copy_from_slice(&MAGIC_COOKIE);
        bytes[240..243].copy_from_slice(&[option::MESSAGE_TYPE, 1, kind as u8]);
        bytes[243..243 + options.len()].copy_from_slice(options);
        bytes[243 + options.len()] = option::END;
        bytes
    }

    pub const LEASE_OPTIONS: &[u8] = &[
        54, 4, 192, 168, 7, 1, // server id
        1, 4, 255, 255, 255, 0, // mask
        3, 4, 192, 168, 7, 1, // router
        6, 8, 192, 168, 7, 1, 9, 9, 9, 9, // DNS
        42, 4, 192, 168, 7, 2, // NTP
        15, 8, b'i', b'o', b't', b'.', b't', b'e', b's', b't', // domain
        26, 2, 0x05, 0xdc, // MTU 1500
        51, 4, 0, 0, 0x0e, 0x10, // lease 3600 s
        58, 4, 0, 0, 0, 10, // T1 10 s
    ];

    #[test]
    fn a_server_reply_is_read_field_by_field() {
        let bytes = reply(MessageType::Ack, 0x1234_5678, LEASE_OPTIONS);
        let m = ServerMessage::parse(&bytes).unwrap();
        assert_eq!(m.kind, MessageType::Ack);
        assert_eq!(m.xid, 0x1234_5678);
        assert_eq!(m.chaddr, MAC);
        assert_eq!(m.your_address, Ipv4Addr::new(192, 168, 7, 50));
        assert_eq!(m.server_id, Some(Ipv4Addr::new(192, 168, 7, 1)));
        assert_eq!(m.subnet_mask, Some(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(m.router, Some(Ipv4Addr::new(192, 168, 7, 1)));
        assert_eq!(
            m.dns_servers,
            [
                Some(Ipv4Addr::new(192, 168, 7, 1)),
                Some(Ipv4Addr::new(9, 9, 9, 9)),
                None
            ]
        );
        assert_eq!(m.ntp_servers[0], Some(Ipv4Addr::new(192, 168, 7, 2)));
        assert_eq!(domain_str(&m.domain, m.domain_len), Some("iot.test"));
        assert_eq!(m.mtu, Some(1500));
        assert_eq!(m.lease_secs, Some(3600));
        assert_eq!(m.renewal_secs, Some(10));
        assert_eq!(m.rebinding_secs, None);
    }

    #[test]
    fn truncated_overlong_and_inconsistent_replies_are_refused() {
        let good = reply(MessageType::Offer, 1, LEASE_OPTIONS);
        for len in 0..FIXED_LEN {
            assert_eq!(
                ServerMessage::parse(&good[..len]),
                Err(MessageError::Truncated)
            );
        }
        // An option whose length runs past the datagram.
        let mut overlong = reply(MessageType::Offer, 1, &[6, 200, 1, 2, 3, 4]);
        overlong[399] = 6;
        assert_eq!(
            ServerMessage::parse(&overlong[..250]),
            Err(MessageError::Truncated)
        );
        // A server id of 5 bytes, a DNS list not a multiple of 4.
        for bad in [&[54u8, 5, 1, 2, 3, 4, 5][..], &[6, 3, 1, 2, 3]] {
            assert_eq!(
                ServerMessage::parse(&reply(MessageType::Offer, 1, bad)),
                Err(MessageError::Malformed)
            );
        }
        // A request (op 1), and no message type.
        let mut request = good;
        request[0] = BOOTREQUEST;
        assert_eq!(ServerMessage::parse(&request), Err(MessageError::Malformed));
        let mut untyped = good;
        untyped[240] = option::PAD;
        untyped[241] = option::PAD;
        untyped[242] = option::PAD;
        assert_eq!(ServerMessage::parse(&untyped), Err(MessageError::Malformed));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x = 0x2545_f491_u32;
        let mut bytes = reply(MessageType::Ack, 1, LEASE_OPTIONS);
        for round in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let at = 236 + (x as usize % 164);
            bytes[at] = (x >> 8) as u8;
            let len = if round % 3 == 0 {
                (x >> 16) as usize % 400
            } else {
                400
            };
            let _ = ServerMessage::parse(&bytes[..len]);
        }
    }

    #[test]
    fn a_discover_carries_what_rfc_2131_table_5_asks() {
        let mut out = [0u8; CLIENT_MESSAGE_LEN];
        let message = ClientMessage {
            kind: MessageType::Discover,
            xid: 0xdead_beef,
            chaddr: MAC,
            client_address: Ipv4Addr::UNSPECIFIED,
            broadcast: true,
            requested_address: Some(Ipv4Addr::new(192, 168, 7, 50)),
            server_id: None,
            host_name: Some("duet-device"),
        };
        let len = message.write(&mut out).unwrap();
        assert_eq!(len, 300, "padded to the BOOTP minimum");
        assert_eq!(&out[..4], &[1, 1, 6, 0]);
        assert_eq!(&out[4..8], &0xdead_beefu32.to_be_bytes());
        assert_eq!(&out[10..12], &[0x80, 0], "broadcast flag");
        assert_eq!(&out[28..34], &MAC.0);
        assert_eq!(&out[236..240], &MAGIC_COOKIE);
        assert_eq!(&out[240..243], &[53, 1, 1]);
        let options = &out[243..len];
        let find = |code: u8| {
            let at = options.iter().position(|b| *b == code)?;
            Some(&options[at + 2..at + 2 + usize::from(options[at + 1])])
        };
        assert_eq!(find(50), Some(&[192, 168, 7, 50][..]));
        assert_eq!(find(12), Some(&b"duet-device"[..]));
        assert_eq!(find(61), Some(&[1, 2, 0, 0, 0, 0, 7][..]));
        assert!(message.write(&mut out[..200]).is_none());
    }
}
