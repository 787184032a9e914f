//! DHCP first, a link-local address when no lease comes (RFC 3927 §1.9):
//! after `fallback_after` without a lease, AutoIP claims an address in
//! 169.254/16 so the device is reachable on the link, while DHCP keeps
//! asking; once a lease is acknowledged, AutoIP stops and the lease's
//! address replaces the link-local one.

use crate::dhcpv4::{self, Dhcpv4Client, Dhcpv4Event, Lease, State as DhcpState};
use crate::iface::{InterfaceId, Ipv4Cidr};
use crate::socket::SocketHandle;
use crate::stack::Stack;
use crate::time::{Duration, Instant};

use super::{AutoIp, AutoIpConfig, AutoIpEvent};

/// What the interface's address became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressEvent {
    /// A DHCP lease (new or renewed).
    Leased(Lease),
    /// A link-local address, while DHCP has none.
    LinkLocal(Ipv4Cidr),
    /// The address is gone (lease lost or link-local given up).
    Lost,
}

/// A DHCPv4 client with AutoIP behind it, for one interface.
#[derive(Debug)]
pub struct DhcpWithFallback<'a> {
    dhcp: Dhcpv4Client<'a>,
    /// The UDP socket bound to port 68.
    socket: SocketHandle,
    autoip_config: AutoIpConfig,
    autoip: Option<AutoIp>,
    fallback_after: Duration,
    /// Since when DHCP has had no lease.
    without_lease_since: Instant,
}

impl<'a> DhcpWithFallback<'a> {
    /// `dhcp` on `socket` (bound to [`dhcpv4::CLIENT_PORT`]); AutoIP with
    /// `autoip_config` once `fallback_after` passes without a lease.
    pub fn new(
        dhcp: Dhcpv4Client<'a>,
        socket: SocketHandle,
        autoip_config: AutoIpConfig,
        fallback_after: Duration,
        now: Instant,
    ) -> Self {
        DhcpWithFallback {
            dhcp,
            socket,
            autoip_config,
            autoip: None,
            fallback_after,
            without_lease_since: now,
        }
    }

    pub fn dhcp(&self) -> &Dhcpv4Client<'a> {
        &self.dhcp
    }

    /// Whether the link-local fallback is running.
    pub fn autoip(&self) -> Option<&AutoIp> {
        self.autoip.as_ref()
    }

    /// One round on `stack` for `iface` (after every stack poll): DHCP,
    /// then AutoIP if it is due; returns what the address became.
    pub fn run_on_stack(
        &mut self,
        stack: &mut Stack<'_>,
        iface: InterfaceId,
        now: Instant,
    ) -> Option<AddressEvent> {
        let leased = dhcpv4::run_on_stack(&mut self.dhcp, stack, iface, self.socket, now);
        match leased {
            Some(Dhcpv4Event::Bound(lease)) => return Some(AddressEvent::Leased(lease)),
            Some(Dhcpv4Event::Lost) => self.without_lease_since = now,
            None => {}
        }
        let dhcp_has_address = matches!(
            self.dhcp.state(),
            DhcpState::Checking | DhcpState::Bound | DhcpState::Renewing | DhcpState::Rebinding
        );
        if dhcp_has_address {
            // The lease (or the one being checked) takes over the interface.
            if self.autoip.take().is_some() {
                let _ = stack.watch_address(iface, None);
            }
            return None;
        }
        if self.autoip.is_none() && now >= self.without_lease_since + self.fallback_after {
            self.autoip = Some(AutoIp::new(self.autoip_config, now));
        }
        let autoip = self.autoip.as_mut()?;
        match super::run_on_stack(autoip, stack, iface, now)? {
            AutoIpEvent::Bound(address) => Some(AddressEvent::LinkLocal(address)),
            AutoIpEvent::Lost => Some(AddressEvent::Lost),
        }
    }

    /// When to run again at the latest.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let fallback = match self.autoip {
            Some(ref autoip) => autoip.poll_timeout(),
            None => Some(self.without_lease_since + self.fallback_after),
        };
        match (self.dhcp.poll_timeout(), fallback) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
