//! `resolve(name).await`: the DNS resolver driven by the async stack. Each
//! attempt goes out from a UDP socket bound to the resolver's random source
//! port (RFC 5452 §9.2); an answer too large for a datagram (TC set) is
//! asked again over TCP (RFC 7766 §5) when the `tcp` feature is on.

use embassy_futures::select::{Either, select};
use embassy_time::Timer;

use super::{Stack, UdpSocket, now};
use crate::dns::{Answer, DnsError, Event, QueryId, RecordKind, Resolver, Transmit};

/// Largest query sent: a 253-byte name fits well within it.
const QUERY_BUFFER: usize = 320;

/// Resolves `name` to its A or AAAA addresses with `resolver` (its servers
/// set, e.g. from the DHCP lease), answering from its cache when it can.
pub async fn resolve<const SERVERS: usize, const CACHE: usize, const QUERIES: usize>(
    stack: Stack<'_>,
    resolver: &mut Resolver<SERVERS, CACHE, QUERIES>,
    name: &str,
    kind: RecordKind,
) -> Result<Answer, DnsError> {
    let id = resolver.start_query(now(), name, kind)?;
    let mut socket: Option<UdpSocket<'_>> = None;
    let mut buffer = [0u8; QUERY_BUFFER];
    loop {
        while let Some(event) = resolver.poll_event() {
            match event {
                Event::Resolved { id: done, answer } if done == id => return Ok(answer),
                Event::Failed { id: done, error } if done == id => return Err(error),
                Event::Truncated { id: done, .. } if done == id => {
                    return over_tcp(stack, resolver, id).await;
                }
                // Another task's query on a shared resolver: not ours.
                _ => {}
            }
        }
        while let Some(Transmit {
            server,
            source_port,
            len,
        }) = resolver.poll_transmit(now(), &mut buffer)
        {
            if socket
                .as_ref()
                .is_none_or(|s| s.local_port() != source_port)
            {
                // The previous attempt's socket goes, and late answers with it.
                socket = None;
                let mut fresh = UdpSocket::new(stack).map_err(|_| DnsError::Busy)?;
                // A taken port loses this attempt; the timer sends the next.
                if fresh.bind(source_port).is_ok() {
                    socket = Some(fresh);
                }
            }
            if let Some(socket) = socket.as_ref() {
                let _ = socket.send_to(&buffer[..len], server).await;
            }
        }
        let deadline = resolver.poll_timeout();
        let wait_for_timer = async {
            match deadline {
                Some(at) => Timer::at(embassy_time::Instant::from_micros(at.as_micros())).await,
                None => core::future::pending().await,
            }
        };
        let datagram = async {
            match socket.as_ref() {
                Some(socket) => {
                    let port = socket.local_port();
                    socket
                        .recv_with(|payload, meta| {
                            // Dropped datagrams are counted by the resolver.
                            let _ = resolver.handle_datagram(now(), meta.remote, port, payload);
                        })
                        .await
                }
                None => core::future::pending().await,
            }
        };
        if let Either::Second(()) = select(datagram, wait_for_timer).await {
            resolver.handle_timeout(now());
        }
    }
}

/// The query `id` again over TCP, to the server that truncated it.
#[cfg(feature = "tcp")]
async fn over_tcp<const SERVERS: usize, const CACHE: usize, const QUERIES: usize>(
    stack: Stack<'_>,
    resolver: &mut Resolver<SERVERS, CACHE, QUERIES>,
    id: QueryId,
) -> Result<Answer, DnsError> {
    use super::TcpSocket;

    /// Largest response read: a few dozen records.
    const RESPONSE_BUFFER: usize = 1024;
    let mut query = [0u8; QUERY_BUFFER + 2];
    let (server, len) = resolver.encode_tcp_query(id, &mut query)?;
    let mut socket =
        TcpSocket::new(stack, RESPONSE_BUFFER, QUERY_BUFFER + 2).map_err(|_| DnsError::Busy)?;
    let timeout = crate::time::Duration::from_secs(10);
    socket.set_timeout(Some(timeout));
    let exchange = async {
        socket
            .connect(server)
            .await
            .map_err(|_| DnsError::Timeout)?;
        let mut sent = 0;
        while sent < len {
            sent += socket
                .write(&query[sent..len])
                .await
                .map_err(|_| DnsError::Timeout)?;
        }
        // The 2-byte length, then the message (RFC 1035 §4.2.2).
        let mut response = [0u8; RESPONSE_BUFFER];
        let mut have = 0;
        loop {
            let want = match response.get(..2) {
                Some(&[hi, lo]) if have >= 2 => 2 + usize::from(u16::from_be_bytes([hi, lo])),
                _ => 2,
            };
            if have >= 2 && have >= want {
                break;
            }
            let space = response.get_mut(have..).ok_or(DnsError::BufferTooSmall)?;
            if space.is_empty() {
                return Err(DnsError::BufferTooSmall);
            }
            let n = socket.read(space).await.map_err(|_| DnsError::Timeout)?;
            if n == 0 {
                return Err(DnsError::Malformed);
            }
            have += n;
        }
        resolver.handle_tcp_response(now(), id, &response[..have])
    };
    let result = exchange.await;
    socket.close();
    result?;
    while let Some(event) = resolver.poll_event() {
        match event {
            Event::Resolved { id: done, answer } if done == id => return Ok(answer),
            Event::Failed { id: done, error } if done == id => return Err(error),
            _ => {}
        }
    }
    Err(DnsError::Malformed)
}

/// Without TCP a truncated answer cannot be completed.
#[cfg(not(feature = "tcp"))]
async fn over_tcp<const SERVERS: usize, const CACHE: usize, const QUERIES: usize>(
    _stack: Stack<'_>,
    resolver: &mut Resolver<SERVERS, CACHE, QUERIES>,
    id: QueryId,
) -> Result<Answer, DnsError> {
    let _ = resolver.cancel(id);
    Err(DnsError::Truncated)
}
