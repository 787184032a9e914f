//! A DHCPv4 server for one subnet ([RFC 2131 §4.3], options [RFC 2132]),
//! sans-IO: a client's datagram and `now` in, the reply and where it goes
//! out.
//!
//! The cloud is the only server on its link, so it is *authoritative*: a
//! client that asks to keep an address (INIT-REBOOT, RENEWING, REBINDING)
//! gets it back if it is free or already the client's, and a NAK if it is
//! off the subnet or someone else's. RFC 2131 §4.3.2 has a server without a
//! record of the client stay silent; the ISC server's `authoritative` mode
//! and dnsmasq's `--dhcp-authoritative` answer instead, and so does this
//! one, so that a device remembering a lease across an emulator restart is
//! answered at once (Duet's client keeps retransmitting an unanswered
//! INIT-REBOOT REQUEST; it never falls back to DISCOVER on its own).
//!
//! Bindings are kept per pool address and keyed by the client's hardware
//! address (`chaddr`); a client gets back the address it had before
//! (RFC 2131 §4.3.1) while nobody else took it.
//!
//! [RFC 2131 §4.3]: https://www.rfc-editor.org/rfc/rfc2131#section-4.3
//! [RFC 2132]: https://www.rfc-editor.org/rfc/rfc2132

use core::fmt;
use core::net::Ipv4Addr;

use duet_netstack::dhcpv4::MessageType;
use duet_netstack::iface::Ipv4Cidr;
use duet_netstack::{Duration, EthernetAddress, Instant};

use super::ConfigError;

mod message;

pub use message::{ClientMessage, LeaseOptions, MAX_REPLY_LEN, ServerReply};

/// How long an offered address is held for the client's REQUEST.
const OFFER_HOLD: Duration = Duration::from_secs(60);

/// Why a datagram got no reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DhcpServerError {
    /// Shorter than the fixed part, or an option runs past the end.
    Truncated,
    /// Not a BOOTREQUEST for Ethernet, no magic cookie, no message type, or
    /// an option of the wrong length.
    Malformed,
    /// A message type this server does not take: a server's own (OFFER,
    /// ACK, NAK), INFORM, or an unknown one.
    Unsupported(u8),
    /// Relayed (`giaddr` set): no relay agent serves the emulated link.
    Relayed,
    /// No pool address is free to offer (RFC 2131 §4.3.1 lets the server
    /// stay silent).
    PoolExhausted,
    /// A REQUEST in none of the client states of RFC 2131 §4.3.2, or a
    /// DECLINE or RELEASE of an address the client does not hold.
    Inconsistent,
    /// The output buffer is shorter than the reply.
    BufferTooSmall,
}

impl fmt::Display for DhcpServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DhcpServerError::Truncated => f.write_str("truncated DHCP message"),
            DhcpServerError::Malformed => f.write_str("malformed DHCP message"),
            DhcpServerError::Unsupported(kind) => {
                write!(f, "DHCP message type {kind} not served")
            }
            DhcpServerError::Relayed => f.write_str("relayed DHCP message not served"),
            DhcpServerError::PoolExhausted => f.write_str("no free address in the pool"),
            DhcpServerError::Inconsistent => f.write_str("request fits no client state"),
            DhcpServerError::BufferTooSmall => f.write_str("buffer too small for the reply"),
        }
    }
}

impl core::error::Error for DhcpServerError {}

/// The subnet and what its leases carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DhcpConfig {
    /// The server's own address (option 54) and the subnet's prefix
    /// (option 1).
    pub server: Ipv4Cidr,
    /// The first address leased.
    pub pool_start: Ipv4Addr,
    /// Addresses leased, counting up from `pool_start`.
    pub pool_size: u16,
    /// Option 3.
    pub router: Option<Ipv4Addr>,
    /// Option 6.
    pub dns_server: Option<Ipv4Addr>,
    /// Option 42.
    pub ntp_server: Option<Ipv4Addr>,
    /// Option 51, in whole seconds (at least one); also how long a
    /// DECLINEd address stays out of the pool.
    pub lease_time: Duration,
}

/// What one pool address is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    Free,
    /// OFFERed to `client`, held for its REQUEST until `until`.
    Offered {
        client: EthernetAddress,
        until: Instant,
    },
    /// ACKed to `client` until `expires`.
    Bound {
        client: EthernetAddress,
        expires: Instant,
    },
    /// A client found it in use (DECLINE, RFC 2131 §4.3.3); unusable until
    /// `until`.
    Declined {
        until: Instant,
    },
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    binding: Binding,
    /// The client it was last offered or bound to, to give it back.
    last_client: Option<EthernetAddress>,
}

impl Slot {
    /// The binding as it stands at `now`: one whose time ran out is free.
    fn at(&self, now: Instant) -> Binding {
        match self.binding {
            Binding::Offered { until, .. } | Binding::Declined { until } if now >= until => {
                Binding::Free
            }
            Binding::Bound { expires, .. } if now >= expires => Binding::Free,
            binding => binding,
        }
    }

    /// The client holding it at `now`, if any.
    fn holder(&self, now: Instant) -> Option<EthernetAddress> {
        match self.at(now) {
            Binding::Offered { client, .. } | Binding::Bound { client, .. } => Some(client),
            Binding::Free | Binding::Declined { .. } => None,
        }
    }
}

/// A reply to send: `len` bytes at the start of the output buffer, to
/// `to`, port 68.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub kind: MessageType,
    pub len: usize,
    /// `yiaddr`: the address offered or acknowledged (0.0.0.0 in a NAK).
    pub your_address: Ipv4Addr,
    /// The client's address while it has one (RENEWING), else the limited
    /// broadcast (RFC 2131 §4.1): a client without an address cannot answer
    /// the ARP a unicast to `yiaddr` would need.
    pub to: Ipv4Addr,
}

/// Counters, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DhcpServerStats {
    pub offers: u32,
    pub acks: u32,
    pub naks: u32,
    pub declines: u32,
    pub releases: u32,
    /// REQUESTs naming another server: the client chose its offer.
    pub other_server: u32,
    /// Datagrams refused, for any [`DhcpServerError`].
    pub refused: u32,
}

/// One subnet's DHCP server.
#[derive(Debug, Clone)]
pub struct DhcpServer {
    config: DhcpConfig,
    lease_secs: u32,
    pool: Vec<Slot>,
    stats: DhcpServerStats,
}

impl DhcpServer {
    /// A server for `config`, every pool address free.
    pub fn new(config: DhcpConfig) -> Result<Self, ConfigError> {
        let subnet = config.server;
        if config.pool_size == 0 {
            return Err(ConfigError::EmptyPool);
        }
        let first = config.pool_start.to_bits();
        let last = first
            .checked_add(u32::from(config.pool_size) - 1)
            .ok_or(ConfigError::PoolOutsideSubnet)?;
        let network = subnet.address().to_bits() & subnet.netmask().to_bits();
        let reserved = |a: u32| Some(Ipv4Addr::from_bits(a)) == subnet.broadcast() || a == network;
        for a in [first, last] {
            if !subnet.contains(Ipv4Addr::from_bits(a)) || reserved(a) {
                return Err(ConfigError::PoolOutsideSubnet);
            }
        }
        if (first..=last).contains(&subnet.address().to_bits()) {
            return Err(ConfigError::PoolHoldsServer);
        }
        let free = Slot {
            binding: Binding::Free,
            last_client: None,
        };
        let secs = config.lease_time.as_micros() / 1_000_000;
        Ok(DhcpServer {
            config,
            // u32::MAX would mean "infinite" (RFC 2132 §9.2).
            lease_secs: u32::try_from(secs)
                .unwrap_or(u32::MAX - 1)
                .clamp(1, u32::MAX - 1),
            pool: vec![free; usize::from(config.pool_size)],
            stats: DhcpServerStats::default(),
        })
    }

    pub fn stats(&self) -> &DhcpServerStats {
        &self.stats
    }

    /// What pool address `address` is doing at `now`; `None` off the pool.
    pub fn binding(&self, address: Ipv4Addr, now: Instant) -> Option<Binding> {
        Some(self.pool.get(self.index_of(address)?)?.at(now))
    }

    /// The address bound to `client` at `now`, if any.
    pub fn lease_of(&self, client: EthernetAddress, now: Instant) -> Option<Ipv4Addr> {
        self.pool
            .iter()
            .enumerate()
            .find_map(|(i, slot)| match slot.at(now) {
                Binding::Bound { client: c, .. } if c == client => Some(self.address_at(i)),
                _ => None,
            })
    }

    /// Answers the datagram `request` received at `now`: the reply written
    /// into `out` (which needs [`MAX_REPLY_LEN`] bytes), `None` for a
    /// message that takes none (RELEASE, DECLINE, a REQUEST to another
    /// server), or why the datagram was refused.
    pub fn answer(
        &mut self,
        now: Instant,
        request: &[u8],
        out: &mut [u8],
    ) -> Result<Option<Reply>, DhcpServerError> {
        let result = ClientMessage::parse(request).and_then(|message| match message.kind {
            MessageType::Discover => self.on_discover(now, &message, out).map(Some),
            MessageType::Request => self.on_request(now, &message, out),
            MessageType::Decline | MessageType::Release => {
                self.on_give_back(now, &message).map(|()| None)
            }
            other => Err(DhcpServerError::Unsupported(other as u8)),
        });
        if result.is_err() {
            self.stats.refused = self.stats.refused.wrapping_add(1);
        }
        result
    }

    /// DHCPDISCOVER (RFC 2131 §4.3.1): offer the client's address, the one
    /// it asks for, or a free one.
    fn on_discover(
        &mut self,
        now: Instant,
        message: &ClientMessage<'_>,
        out: &mut [u8],
    ) -> Result<Reply, DhcpServerError> {
        let client = message.chaddr;
        let index = self
            .choose(client, message.requested_address, now)
            .ok_or(DhcpServerError::PoolExhausted)?;
        let reply = self.reply(MessageType::Offer, message, self.address_at(index), out)?;
        let slot = &mut self.pool[index];
        // A bound client in INIT keeps its lease until it REQUESTs again.
        if !matches!(slot.at(now), Binding::Bound { client: c, .. } if c == client) {
            slot.binding = Binding::Offered {
                client,
                until: now + OFFER_HOLD,
            };
        }
        slot.last_client = Some(client);
        self.stats.offers = self.stats.offers.wrapping_add(1);
        Ok(reply)
    }

    /// The pool index to offer `client`: the address it holds, the one it
    /// requests if free, the one it had before, one nobody had, any free one.
    fn choose(
        &self,
        client: EthernetAddress,
        requested: Option<Ipv4Addr>,
        now: Instant,
    ) -> Option<usize> {
        let free = |i: &usize| self.pool[*i].at(now) == Binding::Free;
        let indices = || 0..self.pool.len();
        indices()
            .find(|&i| self.pool[i].holder(now) == Some(client))
            .or_else(|| requested.and_then(|a| self.index_of(a)).filter(free))
            .or_else(|| {
                indices()
                    .filter(free)
                    .find(|&i| self.pool[i].last_client == Some(client))
            })
            .or_else(|| {
                indices()
                    .filter(free)
                    .find(|&i| self.pool[i].last_client.is_none())
            })
            .or_else(|| indices().find(free))
    }

    /// DHCPREQUEST (RFC 2131 §4.3.2), by the client state it comes from.
    fn on_request(
        &mut self,
        now: Instant,
        message: &ClientMessage<'_>,
        out: &mut [u8],
    ) -> Result<Option<Reply>, DhcpServerError> {
        let client = message.chaddr;
        let ciaddr = Some(message.client_address).filter(|a| !a.is_unspecified());
        let (address, confirmed) = match (message.server_id, message.requested_address, ciaddr) {
            // SELECTING, another server chosen: our offer is free again.
            (Some(server), _, _) if server != self.server() => {
                for slot in &mut self.pool {
                    if matches!(slot.at(now), Binding::Offered { client: c, .. } if c == client) {
                        slot.binding = Binding::Free;
                    }
                }
                self.stats.other_server = self.stats.other_server.wrapping_add(1);
                return Ok(None);
            }
            // SELECTING, our offer chosen: it must be the address offered.
            (Some(_), Some(requested), None) => {
                let offered = self
                    .index_of(requested)
                    .is_some_and(|i| self.pool[i].holder(now) == Some(client));
                (requested, offered)
            }
            // INIT-REBOOT: the address the client remembers.
            (None, Some(requested), None) => (requested, self.grantable(client, requested, now)),
            // RENEWING (unicast) or REBINDING (broadcast): its own address.
            (None, _, Some(current)) => (current, self.grantable(client, current, now)),
            _ => return Err(DhcpServerError::Inconsistent),
        };
        let Some(index) = self.index_of(address).filter(|_| confirmed) else {
            let nak = self.reply(MessageType::Nak, message, Ipv4Addr::UNSPECIFIED, out)?;
            self.stats.naks = self.stats.naks.wrapping_add(1);
            return Ok(Some(nak));
        };
        let ack = self.reply(MessageType::Ack, message, address, out)?;
        // One address per client: whatever else it held goes.
        for (i, slot) in self.pool.iter_mut().enumerate() {
            if i != index && slot.holder(now) == Some(client) {
                slot.binding = Binding::Free;
            }
        }
        self.pool[index] = Slot {
            binding: Binding::Bound {
                client,
                expires: now + self.lease_time(),
            },
            last_client: Some(client),
        };
        self.stats.acks = self.stats.acks.wrapping_add(1);
        Ok(Some(ack))
    }

    /// Whether `client` may have `address` (authoritatively): a pool address
    /// that is free or already the client's.
    fn grantable(&self, client: EthernetAddress, address: Ipv4Addr, now: Instant) -> bool {
        self.index_of(address).is_some_and(|i| {
            let slot = &self.pool[i];
            slot.holder(now) == Some(client) || slot.at(now) == Binding::Free
        })
    }

    /// DHCPDECLINE (RFC 2131 §4.3.3) and DHCPRELEASE (§4.3.4): the client
    /// gives its address back. A declined one is in use by a host the
    /// server does not know, and leaves the pool for a lease time; a
    /// released one stays remembered as the client's, for when it asks again.
    fn on_give_back(
        &mut self,
        now: Instant,
        message: &ClientMessage<'_>,
    ) -> Result<(), DhcpServerError> {
        if message.server_id.is_some_and(|s| s != self.server()) {
            return Ok(());
        }
        let declined = message.kind == MessageType::Decline;
        // Table 5: a DECLINE names the address in option 50, a RELEASE in
        // `ciaddr`.
        let address = if declined {
            message.requested_address
        } else {
            Some(message.client_address)
        };
        let index = self.held_by(message.chaddr, address, now)?;
        let until = now + self.lease_time();
        let slot = &mut self.pool[index];
        if declined {
            *slot = Slot {
                binding: Binding::Declined { until },
                last_client: None,
            };
            self.stats.declines = self.stats.declines.wrapping_add(1);
        } else {
            slot.binding = Binding::Free;
            self.stats.releases = self.stats.releases.wrapping_add(1);
        }
        Ok(())
    }

    /// The pool index of `address` if `client` holds it.
    fn held_by(
        &self,
        client: EthernetAddress,
        address: Option<Ipv4Addr>,
        now: Instant,
    ) -> Result<usize, DhcpServerError> {
        address
            .and_then(|a| self.index_of(a))
            .filter(|&i| self.pool[i].holder(now) == Some(client))
            .ok_or(DhcpServerError::Inconsistent)
    }

    /// An OFFER, ACK or NAK answering `message` (RFC 2131 §4.3.1), written
    /// into `out`, and where it goes (RFC 2131 §4.1).
    fn reply(
        &self,
        kind: MessageType,
        message: &ClientMessage<'_>,
        your_address: Ipv4Addr,
        out: &mut [u8],
    ) -> Result<Reply, DhcpServerError> {
        let nak = kind == MessageType::Nak;
        let config = &self.config;
        let lease = LeaseOptions {
            lease_secs: self.lease_secs,
            subnet_mask: config.server.netmask(),
            router: config.router,
            dns_server: config.dns_server,
            ntp_server: config.ntp_server,
        };
        let len = ServerReply {
            kind,
            request: message,
            your_address,
            server_id: self.server(),
            lease: (!nak).then_some(lease),
        }
        .write(out)?;
        // NAKs always by broadcast; the rest to `ciaddr` when the client
        // has one.
        let to = match message.client_address {
            a if nak || a.is_unspecified() => Ipv4Addr::BROADCAST,
            a => a,
        };
        Ok(Reply {
            kind,
            len,
            your_address,
            to,
        })
    }

    fn server(&self) -> Ipv4Addr {
        self.config.server.address()
    }

    fn lease_time(&self) -> Duration {
        Duration::from_secs(u64::from(self.lease_secs))
    }

    fn index_of(&self, address: Ipv4Addr) -> Option<usize> {
        let offset = address
            .to_bits()
            .checked_sub(self.config.pool_start.to_bits())?;
        usize::try_from(offset)
            .ok()
            .filter(|&i| i < self.pool.len())
    }

    fn address_at(&self, index: usize) -> Ipv4Addr {
        Ipv4Addr::from_bits(self.config.pool_start.to_bits().wrapping_add(index as u32))
    }
}

#[cfg(test)]
mod tests;
