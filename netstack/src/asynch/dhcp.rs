//! DHCPv4 on the async API: the sans-IO client ([`Dhcpv4Client`]) moved
//! through a UDP socket bound to port 68, sleeping until a server's
//! datagram or the client's next timer.

use core::future::poll_fn;

use embassy_futures::select::select;
use embassy_time::Timer;

use super::{Stack, UdpSocket, now};
use crate::dhcpv4::{self, Dhcpv4Client, Dhcpv4Event};
use crate::iface::InterfaceId;
use crate::time::Duration;

/// How often the ARP check of an offered address looks for a conflict (the
/// answer arrives through the runner, not the socket).
const CHECK_INTERVAL: Duration = Duration::from_millis(20);

/// Runs `client` for the stack's first interface until its next event —
/// [`Dhcpv4Event::Bound`] (the interface is configured with the lease) or
/// [`Dhcpv4Event::Lost`] (unconfigured) — and returns it. `socket` must be
/// bound to [`dhcpv4::CLIENT_PORT`]; keep calling to renew the lease.
pub async fn next_event(
    stack: Stack<'_>,
    client: &mut Dhcpv4Client<'_>,
    socket: &UdpSocket<'_>,
) -> Dhcpv4Event {
    loop {
        let handle = socket.handle();
        let event =
            stack.with(|s| dhcpv4::run_on_stack(client, s, InterfaceId::FIRST, handle, now()));
        if let Some(event) = event {
            return event;
        }
        let mut wake = client.poll_timeout();
        if client.checking_address().is_some() {
            let check = now() + CHECK_INTERVAL;
            wake = Some(wake.map_or(check, |at| at.min(check)));
        }
        let datagram = poll_fn(|cx| stack.with(|s| s.udp(handle).poll_recv_ready(cx)));
        match wake {
            Some(at) => {
                let timer = Timer::at(embassy_time::Instant::from_micros(at.as_micros()));
                select(datagram, timer).await;
            }
            None => datagram.await,
        }
    }
}
