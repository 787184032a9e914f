//! The resolver on a Duet stack: the thin loop that moves its datagrams
//! through a UDP socket, re-bound to each attempt's random source port
//! (RFC 5452 §9.2), so a firmware only calls [`run_on_stack`] after each
//! stack poll and reads [`Resolver::poll_event`].

use super::{Resolver, Transmit};
use crate::socket::SocketHandle;
use crate::stack::Stack;
use crate::time::Instant;

/// Largest query sent: a 253-byte name fits well within it.
const QUERY_BUFFER: usize = 320;

/// The resolver's UDP socket on a stack, and the port it is bound to.
#[derive(Debug, Default)]
pub struct ResolverSocket {
    bound: Option<(SocketHandle, u16)>,
}

impl ResolverSocket {
    pub const fn new() -> Self {
        ResolverSocket { bound: None }
    }

    /// A socket bound to `port`, replacing the previous one (whose late
    /// answers are then dropped by the stack, as they should be).
    fn bind(&mut self, stack: &mut Stack<'_>, port: u16) -> Option<SocketHandle> {
        match self.bound {
            Some((socket, bound)) if bound == port => return Some(socket),
            Some((socket, _)) => {
                let _ = stack.remove_socket(socket);
                self.bound = None;
            }
            None => {}
        }
        let socket = stack.add_udp_socket().ok()?;
        if stack.udp(socket).bind(port).is_err() {
            let _ = stack.remove_socket(socket);
            return None;
        }
        self.bound = Some((socket, port));
        Some(socket)
    }
}

/// One round: feeds what arrived, runs the retransmission timer, sends the
/// queries that are due.
pub fn run_on_stack<const SERVERS: usize, const CACHE: usize, const QUERIES: usize>(
    resolver: &mut Resolver<SERVERS, CACHE, QUERIES>,
    stack: &mut Stack<'_>,
    socket: &mut ResolverSocket,
    now: Instant,
) {
    if let Some((handle, port)) = socket.bound {
        // Dropped datagrams are counted by the resolver.
        while let Ok(_dropped_or_taken) = stack
            .udp(handle)
            .recv_with(|payload, meta| resolver.handle_datagram(now, meta.remote, port, payload))
        {
        }
    }
    if resolver.poll_timeout().is_some_and(|at| at <= now) {
        resolver.handle_timeout(now);
    }
    let mut buffer = [0u8; QUERY_BUFFER];
    while let Some(Transmit {
        server,
        source_port,
        len,
    }) = resolver.poll_transmit(now, &mut buffer)
    {
        // No socket or a full queue: the retransmission timer tries again.
        if let Some(handle) = socket.bind(stack, source_port) {
            let _ = stack.udp(handle).send_to(&buffer[..len], server);
        }
    }
}
