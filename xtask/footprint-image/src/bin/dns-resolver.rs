//! Footprint image `dns-resolver`: what Duet's DNS stub resolver costs alone
//! — query building, response validation (ID, question, source), CNAME
//! chains, compression-safe names, failover and backoff, the TCP retry of a
//! truncated answer, and a 4-entry TTL cache — without the stack under it.
//!
//! Received bytes and time come through `core::hint::black_box`, and what
//! the resolver sends or reports goes into one, so no path can be proven dead.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;
use core::net::{IpAddr, Ipv4Addr};

use cortex_m_rt::entry;
use duet_netstack::dns::{Config, RecordKind, Resolver};
use duet_netstack::rand::Rng;
use duet_netstack::{Instant, IpEndpoint};
use panic_halt as _;

#[entry]
fn main() -> ! {
    let mut resolver: Resolver<2, 4> = Resolver::new(Config::default(), Rng::new(black_box(7)));
    let server = IpEndpoint::new(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1)), 53);
    let _ = resolver.set_servers(black_box(&[server]));
    let mut millis = 0u64;
    let mut received = [0u8; 512];
    let mut out = [0u8; 512];
    loop {
        millis += black_box(1);
        let now = Instant::from_millis(millis);
        if black_box(millis as u32).is_multiple_of(1000) {
            let kind = if black_box(true) {
                RecordKind::A
            } else {
                RecordKind::Aaaa
            };
            let _ = black_box(resolver.start_query(now, black_box("broker.example.com"), kind));
        }
        black_box(&mut received);
        let len = black_box(received.len());
        let _ =
            black_box(resolver.handle_datagram(now, server, black_box(50000), &received[..len]));
        resolver.handle_timeout(now);
        if let Some(transmit) = resolver.poll_transmit(now, &mut out) {
            black_box((&out[..transmit.len], transmit));
        }
        while let Some(event) = resolver.poll_event() {
            if let duet_netstack::dns::Event::Truncated { id, .. } = event {
                let _ = black_box(resolver.encode_tcp_query(id, &mut out));
                let _ = black_box(resolver.handle_tcp_response(now, id, &received[..len]));
            }
            black_box(event);
        }
        black_box(resolver.poll_timeout());
    }
}
