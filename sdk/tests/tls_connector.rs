//! `TlsConnector::connect_into` against `openssl s_server` on loopback: the
//! connection is built and its handshake run in the caller's slot (where a
//! client keeps it, so it is not carried up through the async layers); a
//! refused handshake leaves the slot empty and the engine's buffers with the
//! connector for the next attempt; given a ticket store, reconnections
//! resume the session, after a reboot too when the tickets are on flash.

use duet::crypto::soft::Soft;
use duet::crypto::x509::{TrustAnchor, X509Error, trust_anchor_from_der};
use duet::mqtt::Connector as _;
#[cfg(feature = "storage")]
use duet::tls::FlashTickets;
use duet::tls::{AlertDescription, SessionTicket, TicketSlot, TicketStore, TlsConnector, TlsError};
use embassy_futures::block_on;
use embedded_io_async::{Read, Write};

#[path = "common/mqtt_std.rs"]
#[allow(dead_code)]
mod mqtt_std;
use mqtt_std::Tcp;

#[path = "common/tls_client.rs"]
#[allow(dead_code)]
mod tls_client;
use tls_client::{Memory, config, now_unix};

#[path = "common/s_server.rs"]
#[allow(dead_code)]
mod s_server;
use s_server::{CERTS, Server};

#[path = "common/test_rng.rs"]
mod test_rng;
use test_rng::TestRng;

#[cfg(feature = "storage")]
#[path = "common/ram_flash.rs"]
mod ram_flash;

fn root(name: &str) -> Vec<u8> {
    std::fs::read(format!("{CERTS}{name}.der")).unwrap()
}

type Connector<'a> = TlsConnector<'a, Soft, Tcp, TestRng, fn() -> u64>;

/// TLS to the server on `port`, trusting `anchors`.
fn connector<'a>(
    port: u16,
    soft: &'a Soft,
    anchors: &'a [TrustAnchor<'a>],
    memory: &'a mut Memory,
    seed: u64,
) -> Connector<'a> {
    TlsConnector::new(
        Tcp(port),
        soft,
        config(anchors),
        memory.buffers(),
        TestRng(now_unix(), seed),
        now_unix,
    )
}

#[test]
fn a_refused_handshake_leaves_the_slot_empty_and_the_buffers_for_the_next_attempt() {
    let server = Server::start("server-p256", "intermediate-ca", &["-naccept", "2"]);
    let soft: Soft = Soft::new();
    let wrong = root("root-ca-p384");
    let anchors = [trust_anchor_from_der(&wrong).unwrap()];
    let mut memory = Memory::new();
    let mut connector = connector(server.port, &soft, &anchors, &mut memory, 1);
    // The second attempt fails on the chain again, not for want of buffers:
    // the first gave them back.
    assert_refused_twice(
        &mut connector,
        Some(TlsError::Certificate(X509Error::UnknownIssuer)),
    );
}

/// Two attempts in a row, each refused with the slot left empty and
/// `last_error` after it.
fn assert_refused_twice(connector: &mut Connector<'_>, last_error: Option<TlsError>) {
    let mut slot = None;
    for attempt in 0..2 {
        assert_eq!(
            block_on(connector.connect_into(&mut slot)),
            Err(embedded_io::ErrorKind::ConnectionRefused),
            "attempt {attempt}"
        );
        assert!(slot.is_none());
        assert_eq!(connector.last_error(), last_error, "attempt {attempt}");
    }
}

/// A transport that cannot connect fails the attempt, and the buffers stay
/// with the connector (they are taken only once the transport is up): the
/// next attempt, to the server, connects.
#[test]
fn a_transport_that_cannot_connect_leaves_the_buffers_for_the_next_attempt() {
    let server = Server::start("server-p256", "intermediate-ca", &["-naccept", "1"]);
    // A loopback port nothing listens on: bound, then let go.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
        .port();
    let soft: Soft = Soft::new();
    let right = root("root-ca");
    let anchors = [trust_anchor_from_der(&right).unwrap()];
    let mut memory = Memory::new();
    let mut connector = connector(closed, &soft, &anchors, &mut memory, 3);
    // No TLS error: TLS never started.
    assert_refused_twice(&mut connector, None);
    connector.inner_mut().0 = server.port;
    let mut slot = None;
    assert_eq!(block_on(connector.connect_into(&mut slot)), Ok(()));
    assert!(slot.is_some_and(|connection| !connection.engine().is_handshaking()));
}

/// Both ways back: `release` of the connection taken out of the slot, and
/// `release_slot`, which takes it apart where it is (what the MQTT client
/// calls); after either, the buffers serve the next connection.
#[test]
fn the_connection_is_built_in_the_slot_and_released_for_the_next() {
    let server = Server::start("server-p256", "intermediate-ca", &["-naccept", "3"]);
    let soft: Soft = Soft::new();
    let right = root("root-ca");
    let anchors = [trust_anchor_from_der(&right).unwrap()];
    let mut memory = Memory::new();
    let mut connector = connector(server.port, &soft, &anchors, &mut memory, 2);
    for (n, line) in [&b"first line\n"[..], b"second line\n", b"third line\n"]
        .into_iter()
        .enumerate()
    {
        let mut slot = None;
        assert_eq!(block_on(connector.connect_into(&mut slot)), Ok(()));
        assert_eq!(connector.last_error(), None);
        let connection = slot.as_mut().expect("the connection is in the slot");
        assert!(!connection.engine().is_handshaking());
        // `s_server -rev` answers each line reversed.
        block_on(connection.write_all(line)).unwrap();
        let mut reversed: Vec<u8> = line[..line.len() - 1].iter().rev().copied().collect();
        reversed.push(b'\n');
        let mut answer = vec![0u8; reversed.len()];
        block_on(connection.read_exact(&mut answer)).unwrap();
        assert_eq!(answer, reversed);
        // Released, its buffers serve the next connection.
        if n % 2 == 0 {
            connector.release(slot.take().unwrap());
        } else {
            connector.release_slot(&mut slot);
            assert!(slot.is_none());
        }
    }
}

/// One connection through `connector`: a line echoed (the server's tickets
/// come in before the answer), then released. Returns whether the session
/// was resumed and whether the server sent its certificate.
fn echo_a_line(connector: &mut Connector<'_>) -> (bool, bool) {
    let mut slot = None;
    assert_eq!(block_on(connector.connect_into(&mut slot)), Ok(()));
    let connection = slot.as_mut().expect("the connection is in the slot");
    let line = b"resumed?\n";
    block_on(connection.write_all(line)).unwrap();
    let mut answer = [0u8; 9];
    block_on(connection.read_exact(&mut answer)).unwrap();
    assert_eq!(&answer, b"?demuser\n");
    let seen = (
        connection.engine().resumed(),
        connection.engine().peer_certificate().is_some(),
    );
    connector.release_slot(&mut slot);
    seen
}

/// Given a ticket store, each connection keeps its tickets there and the
/// next one resumes: no certificate the second and third time.
#[test]
fn reconnections_resume_with_the_tickets_the_connector_keeps() {
    let server = Server::start("server-p256", "intermediate-ca", &["-naccept", "3"]);
    let soft: Soft = Soft::new();
    let right = root("root-ca");
    let anchors = [trust_anchor_from_der(&right).unwrap()];
    let mut tickets: TicketSlot<2048> = TicketSlot::new();
    let mut memory = Memory::new();
    let mut connector = connector(server.port, &soft, &anchors, &mut memory, 3);
    connector.store_tickets_in(&mut tickets);
    assert_eq!(echo_a_line(&mut connector), (false, true), "first");
    assert_eq!(echo_a_line(&mut connector), (true, false), "second");
    assert_eq!(echo_a_line(&mut connector), (true, false), "third");
}

/// With the tickets on flash, the first connection after a reboot (a new
/// connector, the store mounted again) resumes too; TLS 1.3 and 1.2.
#[cfg(feature = "storage")]
#[test]
fn the_first_connection_after_a_reboot_resumes_with_a_ticket_kept_on_flash() {
    const HALF: u32 = 2 * ram_flash::ERASE as u32;
    for (cert, chain, version) in [
        ("server-p256", "intermediate-ca", "-tls1_3"),
        ("server-rsa2048", "intermediate-ca-rsa", "-tls1_2"),
    ] {
        let server = Server::start(cert, chain, &[version, "-naccept", "2"]);
        let soft: Soft = Soft::new();
        let right = root("root-ca");
        let anchors = [trust_anchor_from_der(&right).unwrap()];
        let mut flash = ram_flash::RamFlash::new(2 * HALF as usize);
        for (boot, expected) in [(1, (false, true)), (2, (true, false))] {
            let mut tickets = FlashTickets::<_, 1024>::mount(&mut flash, 0, HALF).unwrap();
            let mut memory = Memory::new();
            let mut connector = connector(server.port, &soft, &anchors, &mut memory, boot);
            connector.store_tickets_in(&mut tickets);
            assert_eq!(
                echo_a_line(&mut connector),
                expected,
                "{version}, boot {boot}"
            );
        }
    }
}

/// A ticket the server refuses to resume with (its PSK damaged: the binder
/// fails and `s_server` aborts the handshake) costs one attempt: the next
/// one offers no ticket and completes a full handshake, whose ticket the
/// one after resumes with.
#[test]
fn after_a_handshake_that_offered_a_ticket_fails_the_next_offers_none() {
    let server = Server::start("server-p256", "intermediate-ca", &["-naccept", "4"]);
    let soft: Soft = Soft::new();
    let right = root("root-ca");
    let anchors = [trust_anchor_from_der(&right).unwrap()];
    let mut good: TicketSlot<2048> = TicketSlot::new();
    let mut damaged: TicketSlot<2048> = TicketSlot::new();
    let mut memory = Memory::new();
    {
        let mut connector = connector(server.port, &soft, &anchors, &mut memory, 4);
        connector.store_tickets_in(&mut good);
        assert_eq!(
            echo_a_line(&mut connector),
            (false, true),
            "a ticket to damage"
        );
    }
    let ticket = good.ticket().expect("s_server sent a ticket");
    let mut psk = ticket.psk.to_vec();
    psk[0] ^= 1;
    damaged.store(&SessionTicket {
        psk: &psk,
        ..ticket
    });
    let mut memory = Memory::new();
    let mut connector = connector(server.port, &soft, &anchors, &mut memory, 5);
    connector.store_tickets_in(&mut damaged);
    let mut slot = None;
    assert_eq!(
        block_on(connector.connect_into(&mut slot)),
        Err(embedded_io::ErrorKind::ConnectionRefused)
    );
    // The binder fails: s_server says so (OpenSSL with illegal_parameter).
    assert_eq!(
        connector.last_error(),
        Some(TlsError::AlertReceived(AlertDescription::IllegalParameter))
    );
    assert_eq!(echo_a_line(&mut connector), (false, true), "afresh");
    assert_eq!(echo_a_line(&mut connector), (true, false), "resumed");
}
