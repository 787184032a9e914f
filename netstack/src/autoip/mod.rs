//! IPv4 link-local addresses (AutoIP, RFC 3927), the fallback when no DHCP
//! server answers: pick an address in 169.254/16, probe for it with ARP
//! (RFC 5227 §2.1), claim and announce it, and defend it (RFC 3927 §2.5).
//!
//! [`AutoIp`] is the sans-IO state machine; [`run_on_stack`] is the thin
//! glue that sends its probes and announcements through the stack's ARP,
//! feeds it the conflicts the stack sees for the watched address, and
//! applies each claim to the interface.
//!
//! To stop (e.g. once DHCP has a lease), drop the [`AutoIp`], call
//! `stack.watch_address(iface, None)`, and configure the interface;
//! `DhcpWithFallback` (with the `dhcpv4` feature) does that policy: DHCP
//! first, AutoIP when no lease comes in time, DHCP again when one does.

#[cfg(feature = "dhcpv4")]
mod fallback;
mod machine;

#[cfg(feature = "dhcpv4")]
pub use fallback::{AddressEvent, DhcpWithFallback};
pub use machine::{
    AutoIp, AutoIpAction, AutoIpConfig, AutoIpEvent, AutoIpStats, PREFIX_LEN, State, is_selectable,
    seed_from_mac,
};

use crate::iface::{InterfaceId, Ipv4Config};
use crate::stack::Stack;
use crate::time::Instant;

/// One round of AutoIP on `stack`: feeds it the conflict the stack saw for
/// the candidate since the last round, claims or gives up the address on
/// `iface` (with [`Stack::set_ipv4`]) and returns that event, keeps the
/// stack watching the current candidate, and sends the probes and
/// announcements that are due. Call it after every stack poll, and by
/// [`AutoIp::poll_timeout`].
pub fn run_on_stack(
    autoip: &mut AutoIp,
    stack: &mut Stack<'_>,
    iface: InterfaceId,
    now: Instant,
) -> Option<AutoIpEvent> {
    let mut event = None;
    // A conflict taken here concerns the candidate still watched: the
    // watch moves to a new candidate only below, after this.
    let held = autoip.address();
    if let Some(from) = stack.take_address_conflict(iface) {
        event = autoip.handle_conflict(now, from);
    }
    if let Some(e) = autoip.handle_timeout(now) {
        event = Some(e);
    }
    match event {
        Some(AutoIpEvent::Bound(address)) => {
            let config = Ipv4Config {
                address,
                gateway: None,
            };
            let _ = stack.set_ipv4(iface, Some(config));
        }
        Some(AutoIpEvent::Lost) => {
            // Only our own address: another source (DHCP) may have
            // configured the interface meanwhile.
            let current = stack.interface(iface).and_then(|i| i.ipv4());
            if current.is_some_and(|c| Some(c.address) == held) {
                let _ = stack.set_ipv4(iface, None);
            }
        }
        None => {}
    }
    let _ = stack.watch_address(iface, Some(autoip.candidate()));
    while let Some(action) = autoip.poll_action(now) {
        // A full transmit queue loses this one; RFC 3927 sends several.
        let _ = match action {
            AutoIpAction::Probe(ip) => stack.send_arp_probe(iface, ip),
            AutoIpAction::Announce(ip) => stack.send_arp_announcement(iface, ip),
        };
    }
    event
}
