//! The server against crafted client messages and against Duet's own
//! client, sans-IO, on a made-up clock.

use super::message::{
    BOOTREPLY, BOOTREQUEST, FIXED_LEN, HTYPE_ETHERNET, MAGIC_COOKIE, Options, option,
};
use super::*;
use duet_netstack::dhcpv4::{CLIENT_MESSAGE_LEN, Dhcpv4Client, Dhcpv4Config, Dhcpv4Event};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 42, 0, 1);
const FIRST: Ipv4Addr = Ipv4Addr::new(10, 42, 0, 100);
const SECOND: Ipv4Addr = Ipv4Addr::new(10, 42, 0, 101);
const MAC_A: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0xa]);
const MAC_B: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0xb]);
const MAC_C: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0xc]);
/// DHCPINFORM (RFC 2132 §9.6).
const DHCPINFORM: u8 = 8;

fn config(pool_size: u16) -> DhcpConfig {
    DhcpConfig {
        server: Ipv4Cidr::new(SERVER, 24),
        pool_start: FIRST,
        pool_size,
        router: Some(SERVER),
        dns_server: Some(SERVER),
        ntp_server: None,
        lease_time: Duration::from_secs(600),
    }
}

fn at(secs: u64) -> Instant {
    Instant::from_secs(secs)
}

/// A client message as a DHCP client builds one: `options` after the
/// message type, then END, padded to 300 bytes.
fn request(kind: u8, mac: EthernetAddress, ciaddr: Ipv4Addr, options: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0u8; FIXED_LEN];
    bytes[..4].copy_from_slice(&[BOOTREQUEST, HTYPE_ETHERNET, 6, 0]);
    bytes[4..8].copy_from_slice(&0x0bad_cafe_u32.to_be_bytes());
    bytes[10] = 0x80;
    bytes[12..16].copy_from_slice(&ciaddr.octets());
    bytes[28..34].copy_from_slice(&mac.0);
    bytes[236..240].copy_from_slice(&MAGIC_COOKIE);
    bytes.extend_from_slice(&[option::MESSAGE_TYPE, 1, kind]);
    bytes.extend_from_slice(&[option::CLIENT_ID, 7, 1]);
    bytes.extend_from_slice(&mac.0);
    bytes.extend_from_slice(options);
    bytes.push(option::END);
    bytes.resize(300, 0);
    bytes
}

fn discover(mac: EthernetAddress) -> Vec<u8> {
    request(1, mac, Ipv4Addr::UNSPECIFIED, &[])
}

/// A message of type `kind` with option 50 (a DISCOVER's wish, an
/// INIT-REBOOT REQUEST), from a client without an address.
fn asking(kind: u8, mac: EthernetAddress, address: Ipv4Addr) -> Vec<u8> {
    let options = with_address(option::REQUESTED_ADDRESS, address);
    request(kind, mac, Ipv4Addr::UNSPECIFIED, &options)
}

fn with_address(code: u8, address: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = address.octets();
    [code, 4, a, b, c, d]
}

/// A SELECTING REQUEST for `address` from `server`.
fn select(mac: EthernetAddress, address: Ipv4Addr, server: Ipv4Addr) -> Vec<u8> {
    let mut options = with_address(option::REQUESTED_ADDRESS, address).to_vec();
    options.extend_from_slice(&with_address(option::SERVER_ID, server));
    request(3, mac, Ipv4Addr::UNSPECIFIED, &options)
}

fn answer(
    server: &mut DhcpServer,
    now: Instant,
    bytes: &[u8],
) -> (Result<Option<Reply>, DhcpServerError>, Vec<u8>) {
    let mut out = [0u8; MAX_REPLY_LEN];
    let result = server.answer(now, bytes, &mut out);
    let len = result.ok().flatten().map_or(0, |r| r.len);
    (result, out[..len].to_vec())
}

/// The reply to `bytes`, which must get one.
fn reply_to(server: &mut DhcpServer, now: Instant, bytes: &[u8]) -> Reply {
    answer(server, now, bytes).0.unwrap().unwrap()
}

/// The reply's option `code`.
fn find(reply: &[u8], code: u8) -> Option<Vec<u8>> {
    Options(&reply[FIXED_LEN..])
        .map(Result::unwrap)
        .find(|(c, _)| *c == code)
        .map(|(_, value)| value.to_vec())
}

/// DISCOVER and REQUEST for `mac`: the address it got.
fn lease(server: &mut DhcpServer, mac: EthernetAddress, now: Instant) -> Ipv4Addr {
    let address = reply_to(server, now, &discover(mac)).your_address;
    let ack = reply_to(server, now, &select(mac, address, SERVER));
    assert_eq!(ack.kind, MessageType::Ack);
    address
}

#[test]
fn discover_gets_an_offer_with_every_field_of_table_3() {
    let mut server = DhcpServer::new(config(4)).unwrap();
    let (result, reply) = answer(&mut server, at(0), &discover(MAC_A));
    let offer = result.unwrap().unwrap();
    assert_eq!(
        offer,
        Reply {
            kind: MessageType::Offer,
            len: 300,
            your_address: FIRST,
            to: Ipv4Addr::BROADCAST,
        }
    );
    assert_eq!(&reply[..4], &[BOOTREPLY, HTYPE_ETHERNET, 6, 0]);
    assert_eq!(&reply[4..8], &0x0bad_cafe_u32.to_be_bytes(), "xid");
    assert_eq!(&reply[10..12], &[0x80, 0], "flags copied");
    assert_eq!(&reply[12..16], &[0; 4], "ciaddr");
    assert_eq!(&reply[16..20], &FIRST.octets(), "yiaddr");
    assert_eq!(&reply[28..34], &MAC_A.0, "chaddr");
    assert_eq!(&reply[236..240], &MAGIC_COOKIE);
    assert_eq!(find(&reply, option::MESSAGE_TYPE), Some(vec![2]));
    assert_eq!(
        find(&reply, option::SERVER_ID),
        Some(SERVER.octets().to_vec())
    );
    assert_eq!(
        find(&reply, option::LEASE_TIME),
        Some(600u32.to_be_bytes().to_vec())
    );
    assert_eq!(
        find(&reply, option::SUBNET_MASK),
        Some(vec![255, 255, 255, 0])
    );
    assert_eq!(find(&reply, option::ROUTER), Some(SERVER.octets().to_vec()));
    assert_eq!(
        find(&reply, option::DNS_SERVERS),
        Some(SERVER.octets().to_vec())
    );
    assert_eq!(find(&reply, option::NTP_SERVERS), None, "not configured");
    assert_eq!(
        find(&reply, option::CLIENT_ID),
        Some([&[1][..], &MAC_A.0].concat())
    );
    assert_eq!(
        server.binding(FIRST, at(0)),
        Some(Binding::Offered {
            client: MAC_A,
            until: at(60)
        })
    );
    assert_eq!(server.stats().offers, 1);
}

#[test]
fn request_for_the_offer_is_acked_and_bound_for_the_lease_time() {
    let mut server = DhcpServer::new(config(4)).unwrap();
    answer(&mut server, at(0), &discover(MAC_A)).0.unwrap();
    let (result, reply) = answer(&mut server, at(1), &select(MAC_A, FIRST, SERVER));
    let ack = result.unwrap().unwrap();
    assert_eq!(
        (ack.kind, ack.your_address, ack.to),
        (MessageType::Ack, FIRST, Ipv4Addr::BROADCAST)
    );
    assert_eq!(find(&reply, option::MESSAGE_TYPE), Some(vec![5]));
    assert_eq!(server.lease_of(MAC_A, at(1)), Some(FIRST));
    assert_eq!(server.lease_of(MAC_A, at(601)), None, "expired");
    // The same client asks again: it gets its address back.
    let again = reply_to(&mut server, at(2), &discover(MAC_A));
    assert_eq!(again.your_address, FIRST);
    assert_eq!(server.lease_of(MAC_A, at(2)), Some(FIRST), "still bound");
}

#[test]
fn a_request_for_an_address_not_offered_or_with_another_server_is_handled() {
    let mut server = DhcpServer::new(config(4)).unwrap();
    answer(&mut server, at(0), &discover(MAC_A)).0.unwrap();
    // The wrong address for our server id: NAK, by broadcast.
    let (result, reply) = answer(&mut server, at(1), &select(MAC_A, SECOND, SERVER));
    let nak = result.unwrap().unwrap();
    assert_eq!(
        (nak.kind, nak.your_address, nak.to),
        (MessageType::Nak, Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST)
    );
    assert_eq!(find(&reply, option::MESSAGE_TYPE), Some(vec![6]));
    assert_eq!(find(&reply, option::LEASE_TIME), None);
    // Another server chosen: no reply, and our offer is free again.
    let other = Ipv4Addr::new(10, 42, 0, 2);
    let (result, _) = answer(&mut server, at(1), &select(MAC_A, FIRST, other));
    assert_eq!(result, Ok(None));
    assert_eq!(server.binding(FIRST, at(1)), Some(Binding::Free));
    assert_eq!(server.stats().other_server, 1);
    // Someone else's offer cannot be taken.
    let offer = reply_to(&mut server, at(2), &asking(1, MAC_B, FIRST));
    assert_eq!(offer.your_address, FIRST);
    let nak = reply_to(&mut server, at(2), &select(MAC_A, FIRST, SERVER));
    assert_eq!(nak.kind, MessageType::Nak);
    assert_eq!(server.stats().naks, 2);
}

#[test]
fn init_reboot_is_acked_for_a_free_or_own_address_and_naked_otherwise() {
    let mut server = DhcpServer::new(config(4)).unwrap();
    let reboot = |mac, address| asking(3, mac, address);
    // A free pool address: granted (authoritative).
    let ack = reply_to(&mut server, at(0), &reboot(MAC_A, SECOND));
    assert_eq!(ack.kind, MessageType::Ack);
    assert_eq!(server.lease_of(MAC_A, at(0)), Some(SECOND));
    // Its own address again: granted.
    let ack = reply_to(&mut server, at(5), &reboot(MAC_A, SECOND));
    assert_eq!(ack.kind, MessageType::Ack);
    // Someone else's, another network's, on the subnet but off the pool:
    // NAK.
    for address in [
        SECOND,
        Ipv4Addr::new(192, 168, 1, 50),
        Ipv4Addr::new(10, 42, 0, 7),
    ] {
        let nak = reply_to(&mut server, at(6), &reboot(MAC_B, address));
        assert_eq!(nak.kind, MessageType::Nak, "{address}");
    }
    assert_eq!(server.lease_of(MAC_B, at(6)), None);
}

#[test]
fn renewing_extends_the_lease_and_answers_by_unicast() {
    let mut server = DhcpServer::new(config(4)).unwrap();
    let address = lease(&mut server, MAC_A, at(0));
    let renew = request(3, MAC_A, address, &[]);
    let (result, reply) = answer(&mut server, at(300), &renew);
    let ack = result.unwrap().unwrap();
    assert_eq!((ack.kind, ack.to), (MessageType::Ack, address));
    assert_eq!(&reply[12..16], &address.octets(), "ciaddr echoed");
    assert_eq!(server.lease_of(MAC_A, at(899)), Some(address));
    // Another client renewing an address it does not hold.
    let nak = reply_to(&mut server, at(300), &request(3, MAC_B, address, &[]));
    assert_eq!((nak.kind, nak.to), (MessageType::Nak, Ipv4Addr::BROADCAST));
}

#[test]
fn a_declined_address_leaves_the_pool_for_a_lease_time() {
    let mut server = DhcpServer::new(config(4)).unwrap();
    let address = lease(&mut server, MAC_A, at(0));
    let mut options = with_address(option::REQUESTED_ADDRESS, address).to_vec();
    options.extend_from_slice(&with_address(option::SERVER_ID, SERVER));
    let decline = request(4, MAC_A, Ipv4Addr::UNSPECIFIED, &options);
    // Only the holder may decline it.
    let (result, _) = answer(
        &mut server,
        at(1),
        &request(4, MAC_B, Ipv4Addr::UNSPECIFIED, &options),
    );
    assert_eq!(result, Err(DhcpServerError::Inconsistent));
    assert_eq!(answer(&mut server, at(1), &decline).0, Ok(None));
    assert_eq!(
        server.binding(address, at(1)),
        Some(Binding::Declined { until: at(601) })
    );
    assert_eq!(server.stats().declines, 1);
    // The client starts over and gets another address.
    let offer = reply_to(&mut server, at(11), &discover(MAC_A));
    assert_ne!(offer.your_address, address);
    // Nor does anyone get it back by asking, until the hold ends.
    let reboot = asking(3, MAC_B, address);
    assert_eq!(
        reply_to(&mut server, at(12), &reboot).kind,
        MessageType::Nak
    );
    assert_eq!(
        reply_to(&mut server, at(601), &reboot).kind,
        MessageType::Ack
    );
}

#[test]
fn a_released_address_is_free_and_given_back_to_its_client_first() {
    let mut server = DhcpServer::new(config(4)).unwrap();
    let a = lease(&mut server, MAC_A, at(0));
    let release = request(7, MAC_A, a, &with_address(option::SERVER_ID, SERVER));
    // Not the holder: refused.
    let foreign = request(7, MAC_B, a, &with_address(option::SERVER_ID, SERVER));
    assert_eq!(
        answer(&mut server, at(1), &foreign).0,
        Err(DhcpServerError::Inconsistent)
    );
    assert_eq!(answer(&mut server, at(1), &release).0, Ok(None));
    assert_eq!(server.binding(a, at(1)), Some(Binding::Free));
    assert_eq!(server.stats().releases, 1);
    // A newcomer gets an address nobody had; the old client its own.
    let b = lease(&mut server, MAC_B, at(2));
    assert_ne!(b, a);
    assert_eq!(lease(&mut server, MAC_A, at(3)), a);
}

#[test]
fn an_exhausted_pool_offers_nothing_until_a_lease_ends() {
    let mut server = DhcpServer::new(config(2)).unwrap();
    let a = lease(&mut server, MAC_A, at(0));
    let b = lease(&mut server, MAC_B, at(0));
    assert_eq!((a, b), (FIRST, SECOND));
    let (result, _) = answer(&mut server, at(1), &discover(MAC_C));
    assert_eq!(result, Err(DhcpServerError::PoolExhausted));
    assert_eq!(server.stats().refused, 1);
    // Once the leases ran out, their addresses are free again.
    let offer = reply_to(&mut server, at(600), &discover(MAC_C));
    assert_eq!(offer.your_address, FIRST);
}

#[test]
fn a_requested_address_is_offered_if_free() {
    let mut server = DhcpServer::new(config(4)).unwrap();
    let wanted = Ipv4Addr::new(10, 42, 0, 103);
    let offer = reply_to(&mut server, at(0), &asking(1, MAC_A, wanted));
    assert_eq!(offer.your_address, wanted);
    // Offered to another already: the first free one instead.
    let offer = reply_to(&mut server, at(0), &asking(1, MAC_B, wanted));
    assert_eq!(offer.your_address, FIRST);
}

#[test]
fn malformed_and_unsupported_messages_are_refused_with_a_reason() {
    let mut server = DhcpServer::new(config(4)).unwrap();
    let good = discover(MAC_A);
    for len in 0..FIXED_LEN {
        assert_eq!(
            answer(&mut server, at(0), &good[..len]).0,
            Err(DhcpServerError::Truncated)
        );
    }
    let mut reply = good.clone();
    reply[0] = BOOTREPLY;
    let mut no_cookie = good.clone();
    no_cookie[236] = 0;
    let mut untyped = good.clone();
    untyped[FIXED_LEN..FIXED_LEN + 3].fill(option::PAD);
    let bad_type_len = request(
        1,
        MAC_A,
        Ipv4Addr::UNSPECIFIED,
        &[option::MESSAGE_TYPE, 2, 1, 1],
    );
    let bad_address = request(
        1,
        MAC_A,
        Ipv4Addr::UNSPECIFIED,
        &[option::REQUESTED_ADDRESS, 3, 1, 2, 3],
    );
    for bad in [reply, no_cookie, untyped, bad_type_len, bad_address] {
        assert_eq!(
            answer(&mut server, at(0), &bad).0,
            Err(DhcpServerError::Malformed)
        );
    }
    let overrun = [&good[..FIXED_LEN + 3], &[option::SERVER_ID, 4, 1]].concat();
    assert_eq!(
        answer(&mut server, at(0), &overrun).0,
        Err(DhcpServerError::Truncated)
    );
    for kind in [2, 5, 6, DHCPINFORM, 9, 200] {
        let message = request(kind, MAC_A, Ipv4Addr::UNSPECIFIED, &[]);
        assert_eq!(
            answer(&mut server, at(0), &message).0,
            Err(DhcpServerError::Unsupported(kind))
        );
    }
    let mut relayed = good.clone();
    relayed[24..28].copy_from_slice(&[10, 9, 9, 9]);
    assert_eq!(
        answer(&mut server, at(0), &relayed).0,
        Err(DhcpServerError::Relayed)
    );
    // A REQUEST in no client state: no server id, address or ciaddr.
    let stateless = request(3, MAC_A, Ipv4Addr::UNSPECIFIED, &[]);
    assert_eq!(
        answer(&mut server, at(0), &stateless).0,
        Err(DhcpServerError::Inconsistent)
    );
    let mut small = [0u8; 299];
    assert_eq!(
        server.answer(at(0), &good, &mut small),
        Err(DhcpServerError::BufferTooSmall)
    );
    assert_eq!(server.stats().offers, 0);
}

#[test]
fn random_bytes_never_panic() {
    let mut server = DhcpServer::new(config(4)).unwrap();
    let mut x = 0x2545_f491_u32;
    let mut bytes = select(MAC_A, FIRST, SERVER);
    let mut out = [0u8; MAX_REPLY_LEN];
    for round in 0..20_000u64 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let at_byte = 230 + (x as usize % 70);
        bytes[at_byte] = (x >> 8) as u8;
        let len = if round % 3 == 0 {
            (x >> 16) as usize % 300
        } else {
            300
        };
        let _ = server.answer(Instant::from_millis(round), &bytes[..len], &mut out);
    }
}

#[test]
fn configurations_off_the_subnet_are_refused() {
    let refused = |change: fn(&mut DhcpConfig)| {
        let mut c = config(4);
        change(&mut c);
        DhcpServer::new(c).err()
    };
    assert_eq!(refused(|c| c.pool_size = 0), Some(ConfigError::EmptyPool));
    assert_eq!(
        refused(|c| c.pool_size = 200),
        Some(ConfigError::PoolOutsideSubnet)
    );
    assert_eq!(
        refused(|c| c.pool_start = Ipv4Addr::new(10, 42, 0, 0)),
        Some(ConfigError::PoolOutsideSubnet)
    );
    assert_eq!(
        refused(|c| c.pool_start = Ipv4Addr::new(10, 43, 0, 10)),
        Some(ConfigError::PoolOutsideSubnet)
    );
    assert_eq!(
        refused(|c| c.pool_start = Ipv4Addr::new(255, 255, 255, 254)),
        Some(ConfigError::PoolOutsideSubnet)
    );
    assert_eq!(
        refused(|c| c.pool_start = SERVER),
        Some(ConfigError::PoolHoldsServer)
    );
    assert_eq!(refused(|_| {}), None);
}

#[test]
fn duets_client_is_leased_an_address_and_declines_a_taken_one() {
    let mut server = DhcpServer::new(config(4)).unwrap();
    let client_config = Dhcpv4Config {
        address_check: Some(Duration::from_secs(1)),
        ..Dhcpv4Config::new(MAC_A)
    };
    let mut client = Dhcpv4Client::new(client_config, 9, at(0));
    // Moves every message the client sends at `now` to the server and
    // every reply back; returns the client's last event.
    let exchange = |client: &mut Dhcpv4Client<'_>, server: &mut DhcpServer, now| {
        let mut request = [0u8; CLIENT_MESSAGE_LEN];
        let mut reply = [0u8; MAX_REPLY_LEN];
        let mut event = None;
        while let Some((len, _)) = client.poll_transmit(now, &mut request) {
            if let Ok(Some(answer)) = server.answer(now, &request[..len], &mut reply) {
                assert_eq!(answer.to, Ipv4Addr::BROADCAST);
                event = client
                    .handle_datagram(now, &reply[..answer.len])
                    .unwrap()
                    .or(event);
            }
        }
        event
    };
    assert_eq!(
        exchange(&mut client, &mut server, at(0)),
        None,
        "ARP check first"
    );
    assert_eq!(client.checking_address(), Some(FIRST));
    // Someone answers the probe: DECLINE, and a new start 10 s later.
    client.handle_conflict(at(0));
    assert_eq!(exchange(&mut client, &mut server, at(0)), None);
    assert_eq!(
        server.binding(FIRST, at(0)),
        Some(Binding::Declined { until: at(600) })
    );
    assert_eq!(exchange(&mut client, &mut server, at(10)), None);
    assert_eq!(client.checking_address(), Some(SECOND));
    let Some(Dhcpv4Event::Bound(lease)) = client.handle_timeout(at(11)) else {
        panic!("not bound");
    };
    assert_eq!(lease.address, Ipv4Cidr::new(SECOND, 24));
    assert_eq!(lease.router, Some(SERVER));
    assert_eq!(lease.dns_servers[0], Some(SERVER));
    assert_eq!(lease.duration, Some(Duration::from_secs(600)));
    assert_eq!(server.lease_of(MAC_A, at(11)), Some(SECOND));
    let stats = server.stats();
    assert_eq!(
        (stats.offers, stats.acks, stats.declines, stats.refused),
        (2, 2, 1, 0)
    );
}
