//! The DHCPv4 client state machine (RFC 2131 §4.4, Figure 5), sans-IO:
//! datagrams and time in, datagrams and lease events out.
//!
//! ```text
//! INIT ──DISCOVER──▶ SELECTING ──OFFER/REQUEST──▶ REQUESTING ──ACK──▶ BOUND
//! INIT-REBOOT ──REQUEST──▶ REBOOTING ──ACK──▶ BOUND      (remembered lease)
//! BOUND ──T1──▶ RENEWING (unicast) ──T2──▶ REBINDING (broadcast) ──expiry──▶ INIT
//! NAK in REQUESTING, REBOOTING, RENEWING or REBINDING ──▶ INIT
//! ```
//!
//! Before a new address is used, the client checks that nobody holds it
//! (RFC 2131 §4.4.1, RFC 5227 ARP probes: [`Dhcpv4Client::poll_probe`],
//! [`Dhcpv4Client::handle_conflict`]); if someone answers, it DECLINEs the
//! address and starts over after a pause.

use core::net::Ipv4Addr;

use super::message::{
    ClientMessage, MAX_DNS_SERVERS, MAX_DOMAIN, MAX_NTP_SERVERS, MessageError, MessageType,
    ServerMessage, domain_str,
};
use crate::iface::{Ipv4Cidr, Ipv4Config};
use crate::rand::Rng;
use crate::time::{Duration, Instant};
use crate::wire::EthernetAddress;

/// What the application configures.
#[derive(Debug, Clone, Copy)]
pub struct Dhcpv4Config<'a> {
    pub hardware_address: EthernetAddress,
    /// Sent as option 12, so the server (and its DNS) can name the device.
    pub host_name: Option<&'a str>,
    /// First retransmission wait in SELECTING/REQUESTING; doubles up to
    /// 64 s (RFC 2131 §4.1 suggests 4 s).
    pub initial_retransmit: Duration,
    /// A lease kept from before a reboot (address and server), tried first
    /// with INIT-REBOOT (RFC 2131 §3.2).
    pub remembered: Option<Ipv4Addr>,
    /// How long to probe a new address with ARP before using it (two
    /// probes, at the start and halfway); `None` skips the check.
    pub address_check: Option<Duration>,
    /// The wait after a DECLINE before starting over (RFC 2131 §3.1 step
    /// 5: at least 10 s).
    pub decline_backoff: Duration,
}

impl Dhcpv4Config<'_> {
    /// RFC defaults for `hardware_address`: 4 s first retransmission, 1 s
    /// of ARP check, 10 s after a DECLINE.
    pub fn new(hardware_address: EthernetAddress) -> Self {
        Dhcpv4Config {
            hardware_address,
            host_name: None,
            initial_retransmit: Duration::from_secs(4),
            remembered: None,
            address_check: Some(Duration::from_secs(1)),
            decline_backoff: Duration::from_secs(10),
        }
    }
}

/// A lease the server granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub address: Ipv4Cidr,
    pub router: Option<Ipv4Addr>,
    pub dns_servers: [Option<Ipv4Addr>; MAX_DNS_SERVERS],
    pub ntp_servers: [Option<Ipv4Addr>; MAX_NTP_SERVERS],
    pub mtu: Option<u16>,
    pub server: Ipv4Addr,
    /// Lease length; `None` for an infinite lease.
    pub duration: Option<Duration>,
    domain: [u8; MAX_DOMAIN],
    domain_len: u8,
}

impl Lease {
    /// The domain name (option 15), for DNS search.
    pub fn domain(&self) -> Option<&str> {
        domain_str(&self.domain, self.domain_len)
    }

    /// The interface configuration the lease gives.
    pub fn ipv4_config(&self) -> Ipv4Config {
        Ipv4Config {
            address: self.address,
            gateway: self.router.filter(|r| self.address.contains(*r)),
        }
    }
}

/// What the client tells the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dhcpv4Event {
    /// A lease was acknowledged (a new one, or a renewal): configure it.
    Bound(Lease),
    /// The lease ended (NAK, or expiry without renewal): unconfigure.
    Lost,
}

/// Why a datagram was ignored (each also counted in [`Dhcpv4Stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dhcpv4Error {
    /// The message did not parse.
    Malformed(MessageError),
    /// Not for our transaction (xid) or hardware address.
    NotOurs,
    /// A message type or content not expected in the current state (an
    /// OFFER without server id or address, an ACK while BOUND, ...).
    Unexpected,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dhcpv4Stats {
    pub sent: u32,
    pub malformed: u32,
    pub not_ours: u32,
    pub unexpected: u32,
    pub naks: u32,
    pub leases: u32,
    /// Addresses declined because an ARP probe was answered.
    pub declines: u32,
}

/// RFC 2131 Figure 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Init,
    Selecting,
    Requesting,
    InitReboot,
    Rebooting,
    /// ACK received; probing the address before using it.
    Checking,
    /// Someone holds the offered address: DECLINE to send.
    Declining,
    Bound,
    Renewing,
    Rebinding,
}

/// The longest wait between retransmissions (RFC 2131 §4.1).
const MAX_RETRANSMIT: Duration = Duration::from_secs(64);
/// REQUESTs for a remembered address before the client gives up on it and
/// starts over with DISCOVER: a server that does not know the client stays
/// silent (RFC 2131 §4.3.2), and §3.2 leaves what follows to the client.
const REBOOT_REQUESTS: u8 = 2;
/// RENEWING and REBINDING retransmit at half the time left, but not more
/// often than this (RFC 2131 §4.4.5).
const MIN_RENEW_RETRANSMIT: Duration = Duration::from_secs(60);

/// One interface's DHCPv4 client.
#[derive(Debug)]
pub struct Dhcpv4Client<'a> {
    config: Dhcpv4Config<'a>,
    rng: Rng,
    state: State,
    xid: u32,
    /// When the next message goes out.
    transmit_at: Option<Instant>,
    retransmit: Duration,
    /// The offer being requested: address and server.
    offered: Option<(Ipv4Addr, Ipv4Addr)>,
    lease: Option<Lease>,
    /// When the lease began (the REQUEST's send time, RFC 2131 §4.4.1).
    requested_at: Instant,
    t1: Instant,
    t2: Instant,
    expires: Option<Instant>,
    /// While checking: the acknowledged lease, the next probe, the end.
    checking: Option<(Lease, Option<Instant>, Instant)>,
    /// REQUESTs sent for the remembered address so far.
    reboot_requests: u8,
    stats: Dhcpv4Stats,
}

impl<'a> Dhcpv4Client<'a> {
    /// A client that starts at once: INIT-REBOOT if a lease is remembered,
    /// else INIT.
    pub fn new(config: Dhcpv4Config<'a>, seed: u64, now: Instant) -> Self {
        let mut client = Dhcpv4Client {
            config,
            rng: Rng::new(seed),
            state: State::Init,
            xid: 0,
            transmit_at: Some(now),
            retransmit: config.initial_retransmit,
            offered: None,
            lease: None,
            requested_at: now,
            t1: now,
            t2: now,
            expires: None,
            checking: None,
            reboot_requests: 0,
            stats: Dhcpv4Stats::default(),
        };
        client.restart(now);
        if config.remembered.is_some() {
            client.state = State::InitReboot;
        }
        client
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    pub fn stats(&self) -> &Dhcpv4Stats {
        &self.stats
    }

    /// A new transaction from INIT, at `now`.
    fn restart(&mut self, now: Instant) {
        self.state = State::Init;
        self.xid = self.rng.next_u32();
        self.offered = None;
        self.retransmit = self.config.initial_retransmit;
        self.transmit_at = Some(now);
    }

    /// Waits `base` ± 1 s (RFC 2131 §4.1 randomisation), at least 100 ms.
    fn jittered(&mut self, base: Duration) -> Duration {
        let spread = self.rng.below(2_000_001);
        let micros = (base.as_micros() + u64::from(spread)).saturating_sub(1_000_000);
        Duration::from_micros(micros.max(100_000))
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let lease_timer = match self.state {
            State::Bound => Some(self.t1),
            State::Renewing => Some(self.t2),
            State::Rebinding => self.expires,
            State::Checking => self
                .checking
                .map(|(_, probe, end)| probe.map_or(end, |p| p.min(end))),
            _ => None,
        };
        match (self.transmit_at, lease_timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Moves on the lease timers (T1, T2, expiry); returns [`Dhcpv4Event::Lost`]
    /// when the lease ran out.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Dhcpv4Event> {
        if let (State::Checking, Some((lease, _, end))) = (self.state, self.checking) {
            if now >= end {
                // Nobody answered: the address is ours.
                self.checking = None;
                self.state = State::Bound;
                self.stats.leases = self.stats.leases.wrapping_add(1);
                return Some(Dhcpv4Event::Bound(lease));
            }
        }
        if self.state == State::Bound && now >= self.t1 {
            self.state = State::Renewing;
            self.xid = self.rng.next_u32();
            self.transmit_at = Some(now);
        }
        if self.state == State::Renewing && now >= self.t2 {
            self.state = State::Rebinding;
            self.transmit_at = Some(now);
        }
        if self.state == State::Rebinding && self.expires.is_some_and(|at| now >= at) {
            self.lease = None;
            self.restart(now);
            return Some(Dhcpv4Event::Lost);
        }
        None
    }

    /// The next message to send, if one is due: its length in `out` and
    /// where it goes (`None`: the limited broadcast 255.255.255.255; else
    /// the server, by unicast, while RENEWING). `out` needs
    /// [`CLIENT_MESSAGE_LEN`](super::message::CLIENT_MESSAGE_LEN) bytes.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        out: &mut [u8],
    ) -> Option<(usize, Option<Ipv4Addr>)> {
        if self.transmit_at.is_none_or(|at| now < at) {
            return None;
        }
        let ours = self.lease.map(|l| l.address.address());
        let (kind, client_address, requested, server, to) = match self.state {
            State::Init | State::Selecting => {
                self.state = State::Selecting;
                (MessageType::Discover, None, None, None, None)
            }
            State::Requesting => {
                let (address, server) = self.offered?;
                (
                    MessageType::Request,
                    None,
                    Some(address),
                    Some(server),
                    None,
                )
            }
            State::Rebooting if self.reboot_requests >= REBOOT_REQUESTS => {
                self.restart(now);
                self.state = State::Selecting;
                (MessageType::Discover, None, None, None, None)
            }
            State::InitReboot | State::Rebooting => {
                self.reboot_requests += 1;
                self.state = State::Rebooting;
                self.requested_at = now;
                (
                    MessageType::Request,
                    None,
                    self.config.remembered,
                    None,
                    None,
                )
            }
            State::Renewing => {
                let server = self.lease.map(|l| l.server);
                (MessageType::Request, ours, None, None, server)
            }
            State::Rebinding => (MessageType::Request, ours, None, None, None),
            State::Declining => {
                let (address, server) = self
                    .checking
                    .map(|(lease, _, _)| (lease.address.address(), lease.server))?;
                let message = ClientMessage {
                    kind: MessageType::Decline,
                    xid: self.xid,
                    chaddr: self.config.hardware_address,
                    client_address: Ipv4Addr::UNSPECIFIED,
                    broadcast: false,
                    requested_address: Some(address),
                    server_id: Some(server),
                    host_name: None,
                };
                let len = message.write(out)?;
                self.checking = None;
                self.stats.sent = self.stats.sent.wrapping_add(1);
                // Start over, after the pause RFC 2131 §3.1 asks for.
                self.restart(now + self.config.decline_backoff);
                return Some((len, None));
            }
            State::Bound | State::Checking => return None,
        };
        let message = ClientMessage {
            kind,
            xid: self.xid,
            chaddr: self.config.hardware_address,
            client_address: client_address.unwrap_or(Ipv4Addr::UNSPECIFIED),
            broadcast: client_address.is_none(),
            requested_address: requested,
            server_id: server,
            host_name: self.config.host_name,
        };
        let len = message.write(out)?;
        if kind == MessageType::Request && matches!(self.state, State::Requesting) {
            self.requested_at = now;
        }
        if matches!(self.state, State::Renewing | State::Rebinding) {
            self.requested_at = now;
            // Half the time left to T2 (or expiry), at least 60 s.
            let until = match self.state {
                State::Renewing => self.t2,
                _ => self.expires.unwrap_or(self.t2),
            };
            let wait = Duration::from_micros((until - now).as_micros() / 2);
            self.transmit_at = Some(now + wait.max(MIN_RENEW_RETRANSMIT).min(until - now));
        } else {
            let wait = self.jittered(self.retransmit);
            self.transmit_at = Some(now + wait);
            self.retransmit = (self.retransmit + self.retransmit).min(MAX_RETRANSMIT);
        }
        self.stats.sent = self.stats.sent.wrapping_add(1);
        Some((len, to))
    }

    /// Feeds a datagram received on port 68.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        bytes: &[u8],
    ) -> Result<Option<Dhcpv4Event>, Dhcpv4Error> {
        let message = match ServerMessage::parse(bytes) {
            Ok(message) => message,
            Err(e) => {
                self.stats.malformed = self.stats.malformed.wrapping_add(1);
                return Err(Dhcpv4Error::Malformed(e));
            }
        };
        if message.xid != self.xid || message.chaddr != self.config.hardware_address {
            self.stats.not_ours = self.stats.not_ours.wrapping_add(1);
            return Err(Dhcpv4Error::NotOurs);
        }
        let result = self.on_message(now, &message);
        if result.is_err() {
            self.stats.unexpected = self.stats.unexpected.wrapping_add(1);
        }
        result
    }

    fn on_message(
        &mut self,
        now: Instant,
        message: &ServerMessage,
    ) -> Result<Option<Dhcpv4Event>, Dhcpv4Error> {
        let awaiting_ack = matches!(
            self.state,
            State::Requesting | State::Rebooting | State::Renewing | State::Rebinding
        );
        match (self.state, message.kind) {
            (State::Selecting, MessageType::Offer) => {
                let server = message.server_id.ok_or(Dhcpv4Error::Unexpected)?;
                if !usable_address(message.your_address) {
                    return Err(Dhcpv4Error::Unexpected);
                }
                // The first acceptable offer (RFC 2131 §4.4.1 lets us choose).
                self.offered = Some((message.your_address, server));
                self.state = State::Requesting;
                self.retransmit = self.config.initial_retransmit;
                self.transmit_at = Some(now);
                Ok(None)
            }
            (state, MessageType::Ack) if awaiting_ack => {
                let lease = self.lease_from(message).ok_or(Dhcpv4Error::Unexpected)?;
                let granted_at = self.requested_at;
                self.bind(granted_at, lease, message);
                let new_address = matches!(state, State::Requesting | State::Rebooting);
                if let (true, Some(check)) = (new_address, self.config.address_check) {
                    self.state = State::Checking;
                    self.checking = Some((lease, Some(now), now + check));
                    return Ok(None);
                }
                self.stats.leases = self.stats.leases.wrapping_add(1);
                Ok(Some(Dhcpv4Event::Bound(lease)))
            }
            (_, MessageType::Nak) if awaiting_ack => {
                self.stats.naks = self.stats.naks.wrapping_add(1);
                let had_lease = self.lease.take().is_some();
                self.config.remembered = None;
                self.restart(now);
                Ok(had_lease.then_some(Dhcpv4Event::Lost))
            }
            _ => Err(Dhcpv4Error::Unexpected),
        }
    }

    /// While checking a new address: the address to send an ARP probe for
    /// now (RFC 5227 §2.1.1), twice over the check.
    pub fn poll_probe(&mut self, now: Instant) -> Option<Ipv4Addr> {
        let (lease, probe, end) = self.checking.as_mut()?;
        if self.state != State::Checking || probe.is_none_or(|at| now < at) {
            return None;
        }
        let half = Duration::from_micros(self.config.address_check?.as_micros() / 2);
        // The second probe halfway; none after it.
        *probe = (now + half < *end && now + half + half >= *end).then_some(now + half);
        Some(lease.address.address())
    }

    /// The address being checked, if any: watch it for conflicts.
    pub fn checking_address(&self) -> Option<Ipv4Addr> {
        self.checking
            .filter(|_| self.state == State::Checking)
            .map(|(lease, _, _)| lease.address.address())
    }

    /// Someone answered for the address being checked: DECLINE it.
    pub fn handle_conflict(&mut self, now: Instant) {
        if self.state == State::Checking {
            self.state = State::Declining;
            self.lease = None;
            self.config.remembered = None;
            self.transmit_at = Some(now);
            self.stats.declines = self.stats.declines.wrapping_add(1);
        }
    }

    fn lease_from(&self, message: &ServerMessage) -> Option<Lease> {
        if !usable_address(message.your_address) {
            return None;
        }
        let server = message
            .server_id
            .or(self.lease.map(|l| l.server))
            .or(self.offered.map(|(_, server)| server))?;
        let prefix_len = message
            .subnet_mask
            .map_or(24, |mask| mask.to_bits().leading_ones() as u8);
        Some(Lease {
            address: Ipv4Cidr::new(message.your_address, prefix_len),
            router: message.router,
            dns_servers: message.dns_servers,
            ntp_servers: message.ntp_servers,
            mtu: message.mtu,
            server,
            duration: match message.lease_secs {
                Some(u32::MAX) => None,
                Some(secs) => Some(Duration::from_secs(u64::from(secs))),
                // RFC 2131 §4.3.1 makes option 51 mandatory in an ACK to a
                // REQUEST; some servers omit it when renewing: keep ours.
                None => self.lease.and_then(|l| l.duration),
            },
            domain: message.domain,
            domain_len: message.domain_len,
        })
    }

    /// Enters BOUND with `lease`, granted at `start`.
    fn bind(&mut self, start: Instant, lease: Lease, message: &ServerMessage) {
        self.state = State::Bound;
        self.lease = Some(lease);
        self.config.remembered = Some(lease.address.address());
        self.offered = None;
        self.transmit_at = None;
        match lease.duration {
            None => {
                self.expires = None;
                self.t1 = Instant::from_micros(u64::MAX);
                self.t2 = self.t1;
            }
            Some(length) => {
                // RFC 2131 §4.4.5: T1 = 0.5, T2 = 0.875 of the lease unless
                // the server says otherwise; T1 <= T2 <= lease.
                let micros = length.as_micros();
                let t2 = message
                    .rebinding_secs
                    .map_or(micros / 8 * 7, |s| u64::from(s) * 1_000_000)
                    .min(micros);
                let t1 = message
                    .renewal_secs
                    .map_or(micros / 2, |s| u64::from(s) * 1_000_000)
                    .min(t2);
                self.t1 = start + Duration::from_micros(t1);
                self.t2 = start + Duration::from_micros(t2);
                self.expires = Some(start + length);
            }
        }
    }
}

/// An address a host may take: not 0.0.0.0, broadcast, multicast,
/// loopback or class E.
fn usable_address(address: Ipv4Addr) -> bool {
    !(address.is_unspecified()
        || address.is_broadcast()
        || address.is_multicast()
        || address.is_loopback()
        || address.octets()[0] >= 240)
}

#[cfg(test)]
mod tests {
    use super::super::message::CLIENT_MESSAGE_LEN;
    use super::super::message::tests::{LEASE_OPTIONS, MAC, reply};
    use super::*;

    fn config() -> Dhcpv4Config<'static> {
        Dhcpv4Config {
            host_name: Some("duet"),
            // The ARP check has tests of its own.
            address_check: None,
            ..Dhcpv4Config::new(MAC)
        }
    }

    fn at(secs: u64) -> Instant {
        Instant::from_secs(secs)
    }

    /// Sends what is due at `now` and returns the message's type byte,
    /// xid and destination.
    fn sent(client: &mut Dhcpv4Client<'_>, now: Instant) -> Option<(u8, u32, Option<Ipv4Addr>)> {
        let mut out = [0u8; CLIENT_MESSAGE_LEN];
        let (len, to) = client.poll_transmit(now, &mut out)?;
        assert!(len >= 300);
        let xid = u32::from_be_bytes([out[4], out[5], out[6], out[7]]);
        Some((out[242], xid, to))
    }

    fn bound_client() -> Dhcpv4Client<'static> {
        let mut client = Dhcpv4Client::new(config(), 1, at(0));
        let (kind, xid, to) = sent(&mut client, at(0)).unwrap();
        assert_eq!((kind, to), (1, None), "DISCOVER, broadcast");
        assert_eq!(client.state(), State::Selecting);
        let offer = reply(MessageType::Offer, xid, LEASE_OPTIONS);
        assert_eq!(client.handle_datagram(at(1), &offer), Ok(None));
        assert_eq!(sent(&mut client, at(1)).unwrap().0, 3, "REQUEST");
        let ack = reply(MessageType::Ack, xid, LEASE_OPTIONS);
        let Ok(Some(Dhcpv4Event::Bound(lease))) = client.handle_datagram(at(1), &ack) else {
            panic!("no lease");
        };
        assert_eq!(
            lease.address,
            Ipv4Cidr::new(Ipv4Addr::new(192, 168, 7, 50), 24)
        );
        assert_eq!(
            lease.ipv4_config().gateway,
            Some(Ipv4Addr::new(192, 168, 7, 1))
        );
        assert_eq!(lease.duration, Some(Duration::from_secs(3600)));
        assert_eq!(lease.domain(), Some("iot.test"));
        assert_eq!(lease.mtu, Some(1500));
        assert_eq!(lease.ntp_servers[0], Some(Ipv4Addr::new(192, 168, 7, 2)));
        client
    }

    #[test]
    fn discover_offer_request_ack_binds_with_the_lease_timers() {
        let mut client = bound_client();
        assert_eq!(client.state(), State::Bound);
        // T1 from option 58 (10 s after the REQUEST at 1 s); T2 = 7/8 of the lease.
        assert_eq!(client.poll_timeout(), Some(at(11)));
        assert_eq!(sent(&mut client, at(10)), None, "nothing while BOUND");
        assert_eq!(client.handle_timeout(at(11)), None);
        assert_eq!(client.state(), State::Renewing);
        let (kind, xid, to) = sent(&mut client, at(11)).unwrap();
        assert_eq!(
            (kind, to),
            (3, Some(Ipv4Addr::new(192, 168, 7, 1))),
            "unicast REQUEST to the server"
        );
        let ack = reply(MessageType::Ack, xid, LEASE_OPTIONS);
        assert!(matches!(
            client.handle_datagram(at(12), &ack),
            Ok(Some(Dhcpv4Event::Bound(_)))
        ));
        // The renewed lease counts from the REQUEST at 11 s.
        assert_eq!(client.poll_timeout(), Some(at(21)));
    }

    #[test]
    fn without_renewal_the_client_rebinds_then_loses_the_lease() {
        let mut client = bound_client();
        client.handle_timeout(at(11));
        assert!(sent(&mut client, at(11)).is_some());
        // T2 = 3600 * 7/8 = 3150 s after the REQUEST at 1 s.
        client.handle_timeout(at(3151));
        assert_eq!(client.state(), State::Rebinding);
        let (kind, _, to) = sent(&mut client, at(3151)).unwrap();
        assert_eq!((kind, to), (3, None), "broadcast REQUEST");
        assert_eq!(client.handle_timeout(at(3601)), Some(Dhcpv4Event::Lost));
        assert_eq!(client.state(), State::Init);
        assert_eq!(sent(&mut client, at(3601)).unwrap().0, 1, "DISCOVER again");
    }

    #[test]
    fn a_nak_while_renewing_ends_the_lease_and_starts_over() {
        let mut client = bound_client();
        client.handle_timeout(at(11));
        let (_, xid, _) = sent(&mut client, at(11)).unwrap();
        let nak = reply(MessageType::Nak, xid, &[54, 4, 192, 168, 7, 1]);
        assert_eq!(
            client.handle_datagram(at(12), &nak),
            Ok(Some(Dhcpv4Event::Lost))
        );
        assert_eq!(client.state(), State::Init);
        assert_eq!(client.stats().naks, 1);
        assert_eq!(sent(&mut client, at(12)).unwrap().0, 1);
    }

    #[test]
    fn a_remembered_lease_is_requested_first_with_init_reboot() {
        let mut client = Dhcpv4Client::new(
            Dhcpv4Config {
                remembered: Some(Ipv4Addr::new(192, 168, 7, 50)),
                ..config()
            },
            2,
            at(0),
        );
        assert_eq!(client.state(), State::InitReboot);
        let mut out = [0u8; CLIENT_MESSAGE_LEN];
        let (len, to) = client.poll_transmit(at(0), &mut out).unwrap();
        assert_eq!((out[242], to), (3, None), "broadcast REQUEST");
        let options = &out[243..len];
        let requested = options.windows(6).any(|w| w == [50, 4, 192, 168, 7, 50]);
        assert!(requested, "requested address option");
        assert!(!options.windows(2).any(|w| w == [54, 4]), "no server id");
        assert_eq!(client.state(), State::Rebooting);
        let xid = u32::from_be_bytes([out[4], out[5], out[6], out[7]]);
        let ack = reply(MessageType::Ack, xid, LEASE_OPTIONS);
        assert!(matches!(
            client.handle_datagram(at(1), &ack),
            Ok(Some(Dhcpv4Event::Bound(_)))
        ));
    }

    #[test]
    fn a_remembered_lease_nobody_answers_for_gives_way_to_discover() {
        let mut client = Dhcpv4Client::new(
            Dhcpv4Config {
                remembered: Some(Ipv4Addr::new(192, 168, 7, 50)),
                ..config()
            },
            5,
            at(0),
        );
        let mut out = [0u8; CLIENT_MESSAGE_LEN];
        let mut now = at(0);
        let mut kinds = [0u8; 4];
        for kind in kinds.iter_mut() {
            client.poll_transmit(now, &mut out).unwrap();
            *kind = out[242];
            now = client.poll_timeout().unwrap();
        }
        // Two REQUESTs (3) for the remembered address, then DISCOVERs (1).
        assert_eq!(kinds, [3, 3, 1, 1]);
        assert_eq!(client.state(), State::Selecting);
    }

    #[test]
    fn retransmissions_double_with_jitter_up_to_64_seconds() {
        let mut client = Dhcpv4Client::new(config(), 3, at(0));
        let mut now = at(0);
        let mut waits = [0u64; 6];
        for wait in waits.iter_mut() {
            assert!(sent(&mut client, now).is_some());
            let next = client.poll_timeout().unwrap();
            *wait = (next - now).as_micros();
            now = next;
        }
        for (k, wait) in waits.iter().enumerate() {
            let base = (4_000_000u64 << k).min(64_000_000);
            assert!(
                (base - 1_000_000..=base + 1_000_000).contains(wait),
                "wait {k}: {wait}"
            );
        }
    }

    /// A client through REQUEST to the ACK, with a 1 s ARP check.
    fn acknowledged_with_check() -> Dhcpv4Client<'static> {
        let mut client = Dhcpv4Client::new(
            Dhcpv4Config {
                address_check: Some(Duration::from_secs(1)),
                ..config()
            },
            5,
            at(0),
        );
        let (_, xid, _) = sent(&mut client, at(0)).unwrap();
        let offer = reply(MessageType::Offer, xid, LEASE_OPTIONS);
        client.handle_datagram(at(0), &offer).unwrap();
        sent(&mut client, at(0)).unwrap();
        let ack = reply(MessageType::Ack, xid, LEASE_OPTIONS);
        assert_eq!(client.handle_datagram(at(0), &ack), Ok(None), "not yet");
        assert_eq!(client.state(), State::Checking);
        client
    }

    #[test]
    fn a_new_address_is_probed_twice_then_used() {
        let mut client = acknowledged_with_check();
        let address = Ipv4Addr::new(192, 168, 7, 50);
        assert_eq!(client.checking_address(), Some(address));
        assert_eq!(client.poll_probe(at(0)), Some(address));
        assert_eq!(client.poll_probe(at(0)), None);
        let half = Instant::from_millis(500);
        assert_eq!(client.poll_timeout(), Some(half));
        assert_eq!(client.poll_probe(half), Some(address));
        assert_eq!(client.poll_timeout(), Some(at(1)));
        assert_eq!(client.handle_timeout(half), None);
        assert!(matches!(
            client.handle_timeout(at(1)),
            Some(Dhcpv4Event::Bound(lease)) if lease.address.address() == address
        ));
        assert_eq!(client.state(), State::Bound);
        assert_eq!(client.poll_probe(at(1)), None);
    }

    #[test]
    fn an_answered_probe_declines_the_address_and_starts_over_after_the_pause() {
        let mut client = acknowledged_with_check();
        client.poll_probe(at(0));
        client.handle_conflict(Instant::from_millis(300));
        assert_eq!(client.state(), State::Declining);
        let mut out = [0u8; CLIENT_MESSAGE_LEN];
        let (len, to) = client
            .poll_transmit(Instant::from_millis(300), &mut out)
            .unwrap();
        assert_eq!((out[242], to), (4, None), "DECLINE, broadcast");
        let options = &out[243..len];
        assert!(options.windows(6).any(|w| w == [50, 4, 192, 168, 7, 50]));
        assert!(options.windows(6).any(|w| w == [54, 4, 192, 168, 7, 1]));
        assert_eq!(client.lease(), None);
        assert_eq!(client.stats().declines, 1);
        // No event, no lease; DISCOVER again 10 s later.
        assert_eq!(client.handle_timeout(at(2)), None);
        assert_eq!(sent(&mut client, at(5)), None);
        assert_eq!(
            sent(&mut client, Instant::from_millis(10_300)).unwrap().0,
            1
        );
    }

    #[test]
    fn foreign_and_out_of_turn_messages_change_nothing() {
        let mut client = Dhcpv4Client::new(config(), 4, at(0));
        let (_, xid, _) = sent(&mut client, at(0)).unwrap();
        // Another transaction, another client, an ACK while selecting, an
        // offer of the broadcast address, an offer without server id.
        let other_xid = reply(MessageType::Offer, xid ^ 1, LEASE_OPTIONS);
        assert_eq!(
            client.handle_datagram(at(1), &other_xid),
            Err(Dhcpv4Error::NotOurs)
        );
        let mut other_mac = reply(MessageType::Offer, xid, LEASE_OPTIONS);
        other_mac[33] ^= 1;
        assert_eq!(
            client.handle_datagram(at(1), &other_mac),
            Err(Dhcpv4Error::NotOurs)
        );
        let ack = reply(MessageType::Ack, xid, LEASE_OPTIONS);
        assert_eq!(
            client.handle_datagram(at(1), &ack),
            Err(Dhcpv4Error::Unexpected)
        );
        let mut broadcast = reply(MessageType::Offer, xid, LEASE_OPTIONS);
        broadcast[16..20].copy_from_slice(&[255; 4]);
        assert_eq!(
            client.handle_datagram(at(1), &broadcast),
            Err(Dhcpv4Error::Unexpected)
        );
        let anonymous = reply(MessageType::Offer, xid, &[51, 4, 0, 0, 1, 0]);
        assert_eq!(
            client.handle_datagram(at(1), &anonymous),
            Err(Dhcpv4Error::Unexpected)
        );
        assert_eq!(
            client.handle_datagram(at(1), &[0u8; 10]),
            Err(Dhcpv4Error::Malformed(MessageError::Truncated))
        );
        assert_eq!(client.state(), State::Selecting);
        assert_eq!(client.lease(), None);
        let stats = client.stats();
        assert_eq!(
            (stats.not_ours, stats.unexpected, stats.malformed),
            (2, 3, 1)
        );
    }
}
