//! The SNTP client on a Duet stack: the thin loop that moves its requests
//! and replies through a UDP socket, to the server DHCP named (option 42)
//! or the one configured.

use super::{SntpClient, TimeSample};
use crate::endpoint::IpEndpoint;
use crate::socket::SocketHandle;
use crate::stack::Stack;
use crate::time::Instant;

/// One round: feeds replies from `server` that arrived on `socket` (a UDP
/// socket, bound or not), runs the poll timer, sends the request that is
/// due. Returns an accepted time sample; [`SntpClient::now_unix`] then
/// gives the wall clock.
pub fn run_on_stack(
    client: &mut SntpClient,
    stack: &mut Stack<'_>,
    socket: SocketHandle,
    server: IpEndpoint,
    now: Instant,
) -> Option<TimeSample> {
    let mut sample = None;
    while let Ok(reply) = stack.udp(socket).recv_with(|payload, meta| {
        // Replies from elsewhere are not the server's.
        (meta.remote.addr == server.addr)
            .then(|| client.handle_datagram(now, meta.remote.port, payload))
    }) {
        if let Some(Ok(accepted)) = reply {
            sample = Some(accepted);
        }
    }
    if client.poll_timeout().is_some_and(|at| at <= now) {
        client.handle_timeout(now);
    }
    let mut request = [0u8; 48];
    if let Some(len) = client.poll_transmit(now, &mut request) {
        // A full transmit queue loses this one; the retry timer resends.
        let _ = stack.udp(socket).send_to(&request[..len], server);
    }
    sample
}
