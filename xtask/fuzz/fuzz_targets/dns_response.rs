//! DNS responses to a resolver's query: the query's ID and question around
//! the input's flags, answer count and records (so the fuzzer spends its
//! time in the record parsing, compression and CNAME chains rather than on
//! guessing a transaction ID), over UDP and over TCP; then the raw input as
//! a datagram. Layout: kind (A or AAAA by its low bit), flags (2 bytes),
//! answer count (2), authority count's high byte (1), records.
#![no_main]

use core::net::{IpAddr, Ipv4Addr};

use duet_netstack::Instant;
use duet_netstack::dns::{Config, RecordKind, Resolver};
use duet_netstack::endpoint::IpEndpoint;
use duet_netstack::rand::Rng;
use libfuzzer_sys::fuzz_target;

const SERVER: IpEndpoint = IpEndpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 53)), 53);
const HEADER_LEN: usize = 12;

fuzz_target!(|data: &[u8]| {
    let [kind, rest @ ..] = data else { return };
    let (Some(flags), Some(answers), Some(&authority_high), Some(records)) =
        (rest.get(..2), rest.get(2..4), rest.get(4), rest.get(5..))
    else {
        return;
    };
    let mut resolver: Resolver<1, 4, 2> = Resolver::new(Config::default(), Rng::new(1));
    let _ = resolver.set_servers(&[SERVER]);
    let kind = if kind & 1 == 0 {
        RecordKind::A
    } else {
        RecordKind::Aaaa
    };
    let now = Instant::from_secs(1);
    let Ok(id) = resolver.start_query(now, "broker.iot.test", kind) else {
        return;
    };
    let mut query = [0u8; 512];
    let Some(sent) = resolver.poll_transmit(now, &mut query) else {
        return;
    };
    let query = &query[..sent.len];
    let mut response = Vec::with_capacity(query.len() + records.len());
    response.extend_from_slice(&query[..2]);
    response.extend_from_slice(flags);
    response.extend_from_slice(&[0, 1]);
    response.extend_from_slice(answers);
    response.extend_from_slice(&[authority_high, 0, 0, 0]);
    response.extend_from_slice(&query[HEADER_LEN..]);
    response.extend_from_slice(records);
    let _ = resolver.handle_datagram(now, SERVER, sent.source_port, &response);
    let mut framed = (response.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&response);
    let _ = resolver.handle_tcp_response(now, id, &framed);
    while resolver.poll_event().is_some() {}
    let _ = resolver.handle_datagram(now, SERVER, sent.source_port, data);
    while resolver.poll_event().is_some() {}
    // A second lookup of the same name goes through the cache.
    let _ = resolver.start_query(now, "broker.iot.test", kind);
    while resolver.poll_event().is_some() {}
});
