//! TLS 1.3 and TLS 1.2 handshakes and echo against `openssl s_server` on
//! loopback.

use std::io::{Read, Write};
use std::net::TcpStream;

use duet::crypto::EcdhGroup;
use duet::crypto::soft::Soft;
use duet::crypto::x509::{X509Error, trust_anchor_from_der};
#[cfg(feature = "storage")]
use duet::tls::FlashTickets;
use duet::tls::{
    AlertDescription, CipherSuite, ClientCertificate, ClientConfig, ClientConnection, Event,
    MaxFragmentLength, SessionTicket, TicketSlot, TicketStore, TlsConnection, TlsError,
    TlsProvider,
};

#[path = "common/blocking_stream.rs"]
mod blocking_stream;
use blocking_stream::BlockingStream;

#[path = "common/tls_client.rs"]
mod tls_client;
use tls_client::{Memory, config, now_unix};

#[path = "common/s_server.rs"]
mod s_server;
use s_server::{CERTS, Server};

#[path = "common/test_rng.rs"]
mod test_rng;
use test_rng::TestRng;

#[path = "common/device.rs"]
mod device;
use device::{DEVICE_KEY, device_provider};

#[cfg(feature = "storage")]
#[path = "common/ram_flash.rs"]
mod ram_flash;

fn flush<P: TlsProvider>(connection: &mut ClientConnection<'_, P>, stream: &mut TcpStream) {
    while connection.wants_write() {
        let n = connection.pending_tls().len();
        stream.write_all(connection.pending_tls()).unwrap();
        connection.tls_sent(n);
    }
}

/// Reads from the socket until the engine reports an event.
fn next_event<P: TlsProvider>(
    connection: &mut ClientConnection<'_, P>,
    stream: &mut TcpStream,
    leftover: &mut Vec<u8>,
) -> Result<Event, TlsError> {
    let mut chunk = [0u8; 4096];
    loop {
        let result = connection.process();
        flush(connection, stream);
        if let Some(event) = result? {
            return Ok(event);
        }
        if leftover.is_empty() {
            let n = stream.read(&mut chunk).unwrap();
            assert!(n > 0, "server closed the connection");
            leftover.extend_from_slice(&chunk[..n]);
        }
        let taken = connection.read_tls(leftover);
        leftover.drain(..taken);
    }
}

struct Outcome {
    suite: CipherSuite,
    group: EcdhGroup,
    echoed: Vec<u8>,
}

fn run(
    cert: &str,
    chain: &str,
    root: &str,
    server_name: &str,
    extra: &[&str],
    message: &[u8],
) -> Result<Outcome, TlsError> {
    let soft: Soft = Soft::new();
    run_with(
        &soft,
        None,
        None,
        cert,
        chain,
        root,
        server_name,
        extra,
        message,
    )
}

/// [`run`] with a provider of the caller's and, optionally, a client
/// certificate.
#[allow(clippy::too_many_arguments)]
fn run_with<P: TlsProvider>(
    provider: &P,
    client_certificate: Option<ClientCertificate<'_>>,
    max_fragment_length: Option<MaxFragmentLength>,
    cert: &str,
    chain: &str,
    root: &str,
    server_name: &str,
    extra: &[&str],
    message: &[u8],
) -> Result<Outcome, TlsError> {
    let server = Server::start(cert, chain, extra);
    let mut stream = server.connect();
    let root = std::fs::read(format!("{CERTS}{root}.der")).unwrap();
    let anchors = [trust_anchor_from_der(&root).unwrap()];
    // With max_fragment_length, a receive buffer for one record of that
    // size (plus header and protection) and no more.
    let receive_len = max_fragment_length.map_or(17 * 1024, |limit| 5 + limit.bytes() + 256);
    let mut memory = Memory::with_receive(receive_len);
    let mut rng = TestRng(now_unix(), 0);
    let mut connection = ClientConnection::new(
        provider,
        ClientConfig {
            server_name,
            max_fragment_length,
            client_certificate,
            ..config(&anchors)
        },
        memory.buffers(),
        &mut rng,
    )?;
    let mut leftover = Vec::new();
    flush(&mut connection, &mut stream);
    assert_eq!(
        next_event(&mut connection, &mut stream, &mut leftover)?,
        Event::HandshakeComplete
    );
    assert!(!connection.is_handshaking());
    assert!(connection.peer_certificate().is_some());
    let echoed = echo(&mut connection, &mut stream, &mut leftover, message)?;
    // Then 1 MiB more, in 128 lines of 8 KiB (s_server -rev reverses a line
    // at a time, up to its 16 KB buffer), each checked as it comes back.
    let mut line: Vec<u8> = (0..BULK_LINE - 1).map(|i| b'A' + (i % 23) as u8).collect();
    line.push(b'\n');
    for round in 0..BULK_LINES {
        line[0] = b'a' + (round % 26) as u8;
        let back = echo(&mut connection, &mut stream, &mut leftover, &line)?;
        assert!(
            back == reversed_line(&line),
            "bulk line {round} came back wrong"
        );
    }
    connection.send_close_notify()?;
    flush(&mut connection, &mut stream);
    Ok(Outcome {
        suite: connection.cipher_suite(),
        group: connection.key_exchange_group(),
        echoed,
    })
}

/// Every successful handshake also moves 1 MiB each way.
const BULK_LINE: usize = 8 * 1024;
const BULK_LINES: usize = 128;

/// Sends `message` and reads back as many bytes.
fn echo<P: TlsProvider>(
    connection: &mut ClientConnection<'_, P>,
    stream: &mut TcpStream,
    leftover: &mut Vec<u8>,
    message: &[u8],
) -> Result<Vec<u8>, TlsError> {
    let mut sent = 0;
    while sent < message.len() {
        sent += connection.write_application_data(&message[sent..])?;
        flush(connection, stream);
    }
    let mut echoed = Vec::new();
    while echoed.len() < message.len() {
        match next_event(connection, stream, leftover)? {
            Event::ApplicationData => {
                let mut buf = [0u8; 1000];
                loop {
                    let n = connection.read_application_data(&mut buf);
                    if n == 0 {
                        break;
                    }
                    echoed.extend_from_slice(&buf[..n]);
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    Ok(echoed)
}

fn reversed_line(line: &[u8]) -> Vec<u8> {
    let mut expected: Vec<u8> = line[..line.len() - 1].iter().rev().copied().collect();
    expected.push(b'\n');
    expected
}

#[test]
fn p256_server_handshake_and_echo() {
    let line = b"hello from duet over TLS 1.3\n";
    let outcome = run(
        "server-p256",
        "intermediate-ca",
        "root-ca",
        "hub.azure-devices.test",
        &[],
        line,
    )
    .unwrap();
    assert_eq!(outcome.suite, CipherSuite::Aes128GcmSha256);
    assert_eq!(outcome.echoed, reversed_line(line));
}

#[test]
fn rsa_server_with_aes_256_gcm_and_a_long_line() {
    // Longer than one record; s_server -rev reverses at most its 16 KB
    // read buffer at a time, so stay under it.
    let mut line: Vec<u8> = (0..12_000).map(|i| b'a' + (i % 26) as u8).collect();
    line.push(b'\n');
    let outcome = run(
        "server-rsa2048",
        "intermediate-ca-rsa",
        "root-ca",
        "hub.azure-devices.test",
        &["-ciphersuites", "TLS_AES_256_GCM_SHA384"],
        &line,
    )
    .unwrap();
    assert_eq!(outcome.suite, CipherSuite::Aes256GcmSha384);
    assert!(outcome.echoed == reversed_line(&line));
}

#[test]
fn wrong_server_name_is_rejected() {
    let error = run(
        "server-p256",
        "intermediate-ca",
        "root-ca",
        "wrong.example.test",
        &[],
        b"x\n",
    )
    .err();
    assert_eq!(
        error,
        Some(TlsError::Certificate(X509Error::NotValidForName))
    );
}

#[test]
fn untrusted_root_is_rejected() {
    let error = run(
        "server-p256",
        "intermediate-ca",
        "root-ca-p384",
        "hub.azure-devices.test",
        &[],
        b"x\n",
    )
    .err();
    assert_eq!(error, Some(TlsError::Certificate(X509Error::UnknownIssuer)));
}

#[test]
fn server_refusing_our_group_sends_a_typed_alert() {
    let error = run(
        "server-p256",
        "intermediate-ca",
        "root-ca",
        "hub.azure-devices.test",
        &["-groups", "X25519"],
        b"x\n",
    )
    .err();
    assert_eq!(
        error,
        Some(TlsError::AlertReceived(AlertDescription::HandshakeFailure))
    );
}

#[test]
fn tls_connection_speaks_embedded_io_async() {
    use embedded_io_async::{Read as _, Write as _};

    let server = Server::start("server-p256", "intermediate-ca", &[]);
    let stream = BlockingStream(server.connect());
    let soft: Soft = Soft::new();
    let root = std::fs::read(format!("{CERTS}root-ca.der")).unwrap();
    let anchors = [trust_anchor_from_der(&root).unwrap()];
    let mut memory = Memory::new();
    let mut rng = TestRng(now_unix(), 7);
    let engine =
        ClientConnection::new(&soft, config(&anchors), memory.buffers(), &mut rng).unwrap();
    let echoed = embassy_futures::block_on(async {
        let mut tls = TlsConnection::connect(engine, stream).await.unwrap();
        assert_eq!(tls.engine().cipher_suite(), CipherSuite::Aes128GcmSha256);
        let line = b"embedded-io-async over TLS 1.3\n";
        tls.write_all(line).await.unwrap();
        tls.flush().await.unwrap();
        let mut echoed = Vec::new();
        let mut buf = [0u8; 64];
        while echoed.len() < line.len() {
            let n = tls.read(&mut buf).await.unwrap();
            assert!(n > 0, "the server closed early");
            echoed.extend_from_slice(&buf[..n]);
        }
        tls.close().await.unwrap();
        echoed
    });
    assert_eq!(echoed, reversed_line(b"embedded-io-async over TLS 1.3\n"));
}

// TLS 1.2 (s_server -tls1_2 offers nothing newer, so no downgrade sentinel).

fn long_line() -> Vec<u8> {
    // Longer than one record, shorter than s_server -rev's 16 KB buffer.
    let mut line: Vec<u8> = (0..12_000).map(|i| b'a' + (i % 26) as u8).collect();
    line.push(b'\n');
    line
}

#[test]
fn tls12_ecdsa_server_handshake_and_echo() {
    let line = b"hello from duet over TLS 1.2\n";
    let outcome = run(
        "server-p256",
        "intermediate-ca",
        "root-ca",
        "hub.azure-devices.test",
        &["-tls1_2"],
        line,
    )
    .unwrap();
    assert_eq!(outcome.suite, CipherSuite::EcdheEcdsaAes128GcmSha256);
    assert_eq!(outcome.echoed, reversed_line(line));
}

#[test]
fn tls12_ecdsa_with_aes_256_gcm_sha384() {
    let line = long_line();
    let outcome = run(
        "server-p256",
        "intermediate-ca",
        "root-ca",
        "hub.azure-devices.test",
        &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"],
        &line,
    )
    .unwrap();
    assert_eq!(outcome.suite, CipherSuite::EcdheEcdsaAes256GcmSha384);
    assert!(outcome.echoed == reversed_line(&line));
}

/// The RSA chain with an intermediate, as Azure's hubs present it; RSA-PSS
/// signs the key exchange.
#[test]
fn tls12_rsa_chain_handshake_and_echo() {
    let line = long_line();
    let outcome = run(
        "server-rsa2048",
        "intermediate-ca-rsa",
        "root-ca",
        "hub.azure-devices.test",
        &["-tls1_2"],
        &line,
    )
    .unwrap();
    assert_eq!(outcome.suite, CipherSuite::EcdheRsaAes128GcmSha256);
    assert!(outcome.echoed == reversed_line(&line));
}

/// AES-256-GCM with SHA-384 as the PRF hash, the key exchange signed with
/// RSA PKCS#1 v1.5 (what many TLS 1.2 servers still use).
#[test]
fn tls12_rsa_with_aes_256_gcm_and_pkcs1_signature() {
    let line = b"pkcs1 signed ECDHE\n";
    let outcome = run(
        "server-rsa2048",
        "intermediate-ca-rsa",
        "root-ca",
        "hub.azure-devices.test",
        &[
            "-tls1_2",
            "-cipher",
            "ECDHE-RSA-AES256-GCM-SHA384",
            "-sigalgs",
            "RSA+SHA384",
        ],
        line,
    )
    .unwrap();
    assert_eq!(outcome.suite, CipherSuite::EcdheRsaAes256GcmSha384);
    assert_eq!(outcome.echoed, reversed_line(line));
}

#[test]
fn tls12_wrong_server_name_is_rejected() {
    let error = run(
        "server-rsa2048",
        "intermediate-ca-rsa",
        "root-ca",
        "wrong.example.test",
        &["-tls1_2"],
        b"x\n",
    )
    .err();
    assert_eq!(
        error,
        Some(TlsError::Certificate(X509Error::NotValidForName))
    );
}

/// A CertificateRequest is answered with an empty Certificate (no client
/// certificates yet): a server that only asks goes on, one that requires a
/// certificate refuses with an alert the client reports.
#[test]
fn tls12_certificate_request_without_a_client_certificate() {
    let line = b"no client certificate\n";
    let outcome = run(
        "server-p256",
        "intermediate-ca",
        "root-ca",
        "hub.azure-devices.test",
        &["-tls1_2", "-verify", "1"],
        line,
    )
    .unwrap();
    assert_eq!(outcome.echoed, reversed_line(line));
    let error = run(
        "server-p256",
        "intermediate-ca",
        "root-ca",
        "hub.azure-devices.test",
        &["-tls1_2", "-Verify", "1"],
        line,
    )
    .err();
    assert_eq!(
        error,
        Some(TlsError::AlertReceived(AlertDescription::HandshakeFailure))
    );
}

// Client certificates (X.509 device authentication), the key held by
// handle in the provider's key store; s_server requires a certificate
// (`-Verify`) and checks the chain against the test root.

fn run_with_device_certificate(extra: &[&str], message: &[u8]) -> Result<Outcome, TlsError> {
    run_with_device_certificate_and_limit(None, extra, message)
}

fn run_with_device_certificate_and_limit(
    max_fragment_length: Option<MaxFragmentLength>,
    extra: &[&str],
    message: &[u8],
) -> Result<Outcome, TlsError> {
    let (provider, chain) = device_provider();
    let chain: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
    let certificate = ClientCertificate {
        chain: &chain,
        key: DEVICE_KEY,
    };
    let root_ca = format!("{CERTS}root-ca.pem");
    let mut args = vec![
        "-Verify",
        "2",
        "-CAfile",
        root_ca.as_str(),
        "-verify_return_error",
    ];
    args.extend_from_slice(extra);
    run_with(
        &provider,
        Some(certificate),
        max_fragment_length,
        "server-p256",
        "intermediate-ca",
        "root-ca",
        "hub.azure-devices.test",
        &args,
        message,
    )
}

#[test]
fn tls13_client_certificate_is_accepted_by_a_server_that_requires_one() {
    let line = b"device-01 over TLS 1.3\n";
    let outcome = run_with_device_certificate(&[], line).unwrap();
    assert_eq!(outcome.suite, CipherSuite::Aes128GcmSha256);
    assert_eq!(outcome.echoed, reversed_line(line));
}

#[test]
fn tls12_client_certificate_signs_with_sha256_and_sha384() {
    let line = b"device-01 over TLS 1.2\n";
    // SHA-256 suite and signature.
    let outcome = run_with_device_certificate(&["-tls1_2"], line).unwrap();
    assert_eq!(outcome.suite, CipherSuite::EcdheEcdsaAes128GcmSha256);
    assert_eq!(outcome.echoed, reversed_line(line));
    // A SHA-384 suite, the certificate still signing with SHA-256.
    let aes256 = ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"];
    let outcome = run_with_device_certificate(&aes256, line).unwrap();
    assert_eq!(outcome.suite, CipherSuite::EcdheEcdsaAes256GcmSha384);
    assert_eq!(outcome.echoed, reversed_line(line));
    // The server accepts only SHA-384 signatures from clients.
    let sha384 = ["-tls1_2", "-client_sigalgs", "ECDSA+SHA384"];
    let outcome = run_with_device_certificate(&sha384, line).unwrap();
    assert_eq!(outcome.echoed, reversed_line(line));
}

/// Without a certificate configured, a requiring server ends the handshake:
/// TLS 1.3 with certificate_required, TLS 1.2 with handshake_failure.
#[test]
fn no_client_certificate_for_a_server_that_requires_one() {
    let root_ca = format!("{CERTS}root-ca.pem");
    let args = ["-Verify", "1", "-CAfile", root_ca.as_str()];
    let error = run(
        "server-p256",
        "intermediate-ca",
        "root-ca",
        "hub.azure-devices.test",
        &args,
        b"x\n",
    )
    .err();
    assert_eq!(
        error,
        Some(TlsError::AlertReceived(
            AlertDescription::CertificateRequired
        ))
    );
}

// max_fragment_length (RFC 6066): the server's records fit a receive buffer
// of one small record, and ours stay as small; 1 MiB each way.

fn run_with_limit(limit: MaxFragmentLength, extra: &[&str]) -> Outcome {
    let soft: Soft = Soft::new();
    let line = b"small records\n";
    let outcome = run_with(
        &soft,
        None,
        Some(limit),
        "server-rsa2048",
        "intermediate-ca-rsa",
        "root-ca",
        "hub.azure-devices.test",
        extra,
        line,
    )
    .unwrap();
    assert_eq!(outcome.echoed, reversed_line(line));
    outcome
}

#[test]
fn max_fragment_length_512_and_1024_over_tls_1_3() {
    for limit in [MaxFragmentLength::Bytes512, MaxFragmentLength::Bytes1024] {
        let outcome = run_with_limit(limit, &[]);
        assert_eq!(outcome.suite, CipherSuite::Aes128GcmSha256);
    }
}

#[test]
fn max_fragment_length_512_and_1024_over_tls_1_2() {
    for limit in [MaxFragmentLength::Bytes512, MaxFragmentLength::Bytes1024] {
        let outcome = run_with_limit(limit, &["-tls1_2"]);
        assert_eq!(outcome.suite, CipherSuite::EcdheRsaAes128GcmSha256);
    }
}

/// Our certificate chain (about 1 KB) does not fit one 512-byte record:
/// the Certificate message goes out in several.
#[test]
fn client_certificate_split_across_512_byte_records() {
    let line = b"chain in pieces\n";
    for extra in [&[][..], &["-tls1_2"][..]] {
        let outcome =
            run_with_device_certificate_and_limit(Some(MaxFragmentLength::Bytes512), extra, line)
                .unwrap();
        assert_eq!(outcome.echoed, reversed_line(line));
    }
}

/// A server that takes only P-384 asks for it with a HelloRetryRequest; the
/// second ClientHello carries a P-384 share and the handshake completes.
#[test]
fn hello_retry_request_for_p384_completes() {
    let line = b"after a retry\n";
    let outcome = run(
        "server-p256",
        "intermediate-ca",
        "root-ca",
        "hub.azure-devices.test",
        &["-groups", "P-384"],
        line,
    )
    .unwrap();
    assert_eq!(outcome.group, EcdhGroup::Secp384r1);
    assert_eq!(outcome.echoed, reversed_line(line));
    // Without the retry, the P-256 share is used as sent.
    let outcome = run(
        "server-p256",
        "intermediate-ca",
        "root-ca",
        "hub.azure-devices.test",
        &[],
        line,
    )
    .unwrap();
    assert_eq!(outcome.group, EcdhGroup::Secp256r1);
}

/// A server-initiated KeyUpdate that requests ours (s_server's `K`
/// command): the client takes the server's new keys, answers with its own
/// KeyUpdate, and data flows both ways under the new keys.
#[test]
fn server_initiated_key_update_is_followed_both_ways() {
    let mut server = Server::start_interactive("server-p256", "intermediate-ca", &[]);
    let mut stream = server.connect();
    let soft: Soft = Soft::new();
    let root = std::fs::read(format!("{CERTS}root-ca.der")).unwrap();
    let anchors = [trust_anchor_from_der(&root).unwrap()];
    let mut memory = Memory::new();
    let mut connection = ClientConnection::new(
        &soft,
        config(&anchors),
        memory.buffers(),
        &mut TestRng(now_unix(), 3),
    )
    .unwrap();
    let mut leftover = Vec::new();
    flush(&mut connection, &mut stream);
    assert_eq!(
        next_event(&mut connection, &mut stream, &mut leftover),
        Ok(Event::HandshakeComplete)
    );
    // Once s_server has printed a line from us, its side of the handshake
    // is done and it can update its keys.
    connection
        .write_application_data(b"from the client, old keys\n")
        .unwrap();
    flush(&mut connection, &mut stream);
    while server.output_line() != "from the client, old keys\n" {}
    server.input("K\n");
    let mut chunk = [0u8; 4096];
    loop {
        assert_eq!(connection.process(), Ok(None));
        if connection.wants_write() {
            break;
        }
        if leftover.is_empty() {
            let n = stream.read(&mut chunk).unwrap();
            assert!(n > 0, "server closed the connection");
            leftover.extend_from_slice(&chunk[..n]);
        }
        let taken = connection.read_tls(&leftover);
        leftover.drain(..taken);
    }
    // Our KeyUpdate answer (update_not_requested) goes out.
    flush(&mut connection, &mut stream);
    server.input("from the server, new keys\n");
    assert_eq!(
        next_event(&mut connection, &mut stream, &mut leftover),
        Ok(Event::ApplicationData)
    );
    let mut buf = [0u8; 64];
    let n = connection.read_application_data(&mut buf);
    assert_eq!(&buf[..n], b"from the server, new keys\n");
    connection
        .write_application_data(b"from the client, new keys\n")
        .unwrap();
    flush(&mut connection, &mut stream);
    // s_server prints what it decrypted.
    while server.output_line() != "from the client, new keys\n" {}
}

/// One session on `server` for the resumption test: handshake (offering
/// `resume`), tickets into `store`, one line echoed, close. Returns whether
/// the session was resumed and whether the server sent its certificate.
fn resumption_session(
    server: &Server,
    resume: Option<SessionTicket<'_>>,
    store: Option<&mut dyn TicketStore>,
) -> (bool, bool) {
    let mut stream = server.connect();
    let soft: Soft = Soft::new();
    let root = std::fs::read(format!("{CERTS}root-ca.der")).unwrap();
    let anchors = [trust_anchor_from_der(&root).unwrap()];
    let mut memory = Memory::new();
    let mut connection = ClientConnection::new(
        &soft,
        ClientConfig {
            resume,
            ..config(&anchors)
        },
        memory.buffers(),
        &mut TestRng(now_unix(), 5),
    )
    .unwrap();
    if let Some(store) = store {
        connection.store_tickets_in(store);
    }
    let mut leftover = Vec::new();
    flush(&mut connection, &mut stream);
    assert_eq!(
        next_event(&mut connection, &mut stream, &mut leftover),
        Ok(Event::HandshakeComplete)
    );
    let line = b"resumed or not\n";
    let echoed = echo(&mut connection, &mut stream, &mut leftover, line).unwrap();
    assert_eq!(echoed, reversed_line(line));
    connection.send_close_notify().unwrap();
    flush(&mut connection, &mut stream);
    (
        connection.resumed(),
        connection.peer_certificate().is_some(),
    )
}

/// Three sessions on `server`: a full handshake that stores a ticket, a
/// resumption with it (no certificate sent), and one with the ticket made
/// unreadable, which falls back to a full handshake. Checks the ticket with
/// `check` before using it.
fn resumes_with_a_ticket(server: &Server, check: impl FnOnce(&SessionTicket<'_>)) {
    let mut slot: TicketSlot<2048> = TicketSlot::new();
    assert_eq!(
        resumption_session(server, None, Some(&mut slot)),
        (false, true)
    );
    let ticket = slot.ticket().expect("s_server sent a ticket");
    check(&ticket);
    assert_eq!(
        resumption_session(server, Some(ticket), None),
        (true, false)
    );
    let mut tampered = ticket.ticket.to_vec();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x40;
    let unreadable = SessionTicket {
        ticket: &tampered,
        ..ticket
    };
    assert_eq!(
        resumption_session(server, Some(unreadable), None),
        (false, true)
    );
}

/// A full handshake that keeps its tickets on NOR flash, a reboot (the
/// store and everything in RAM gone, the flash kept), and a session resumed
/// with the ticket read back from the remounted flash.
#[cfg(feature = "storage")]
fn resumes_after_a_reboot_with_a_ticket_kept_on_flash(server: &Server) {
    const HALF: u32 = 2 * ram_flash::ERASE as u32;
    let mut flash = ram_flash::RamFlash::new(2 * HALF as usize);
    let mut before_the_reboot = FlashTickets::<_, 1024>::mount(&mut flash, 0, HALF).unwrap();
    assert_eq!(
        resumption_session(server, None, Some(&mut before_the_reboot)),
        (false, true)
    );
    let store = FlashTickets::<_, 1024>::mount(&mut flash, 0, HALF).unwrap();
    let ticket = store.ticket().expect("a ticket on flash");
    assert_eq!(
        resumption_session(server, Some(ticket), None),
        (true, false)
    );
}

#[cfg(feature = "storage")]
#[test]
fn tls13_session_resumes_after_a_reboot_with_a_ticket_kept_on_flash() {
    let server = Server::start("server-p256", "intermediate-ca", &["-naccept", "2"]);
    resumes_after_a_reboot_with_a_ticket_kept_on_flash(&server);
}

#[cfg(feature = "storage")]
#[test]
fn tls12_session_resumes_after_a_reboot_with_a_ticket_kept_on_flash() {
    let server = Server::start(
        "server-rsa2048",
        "intermediate-ca-rsa",
        &["-tls1_2", "-naccept", "2"],
    );
    resumes_after_a_reboot_with_a_ticket_kept_on_flash(&server);
}

/// TLS 1.3: PSK with (EC)DHE from a NewSessionTicket.
#[test]
fn tls13_session_resumes_with_a_ticket() {
    let server = Server::start("server-p256", "intermediate-ca", &["-naccept", "3"]);
    resumes_with_a_ticket(&server, |ticket| assert_eq!(ticket.psk.len(), 32));
}

/// TLS 1.2: a session ticket (RFC 5077) and the abbreviated handshake.
#[test]
fn tls12_session_resumes_with_a_ticket() {
    let server = Server::start(
        "server-rsa2048",
        "intermediate-ca-rsa",
        &["-tls1_2", "-naccept", "3"],
    );
    resumes_with_a_ticket(&server, |ticket| {
        assert_eq!(ticket.suite, CipherSuite::EcdheRsaAes128GcmSha256);
        assert_eq!(ticket.psk.len(), 48, "the master secret");
    });
}

/// The matrix: {TLS 1.3, TLS 1.2} × {ECDSA P-256 chain, RSA-2048 chain,
/// each with an intermediate} × {no client certificate, client certificate
/// required}; every cell a handshake and 1 MiB echoed.
#[test]
fn version_server_chain_and_client_certificate_matrix() {
    let root_ca = format!("{CERTS}root-ca.pem");
    let require = [
        "-Verify",
        "2",
        "-CAfile",
        root_ca.as_str(),
        "-verify_return_error",
    ];
    let (provider, device_chain) = device_provider();
    let device_chain: Vec<&[u8]> = device_chain.iter().map(Vec::as_slice).collect();
    let mut cells = 0;
    for version in ["-tls1_3", "-tls1_2"] {
        for (cert, chain) in [
            ("server-p256", "intermediate-ca"),
            ("server-rsa2048", "intermediate-ca-rsa"),
        ] {
            for with_certificate in [false, true] {
                let mut args = vec![version];
                if with_certificate {
                    args.extend_from_slice(&require);
                }
                let certificate = with_certificate.then_some(ClientCertificate {
                    chain: &device_chain,
                    key: DEVICE_KEY,
                });
                let line = b"matrix cell\n";
                let outcome = run_with(
                    &provider,
                    certificate,
                    None,
                    cert,
                    chain,
                    "root-ca",
                    "hub.azure-devices.test",
                    &args,
                    line,
                )
                .unwrap_or_else(|e| panic!("{version} {cert} certificate {with_certificate}: {e}"));
                assert_eq!(outcome.suite.is_tls12(), version == "-tls1_2");
                assert_eq!(outcome.echoed, reversed_line(line));
                cells += 1;
            }
        }
    }
    assert_eq!(cells, 8);
}

/// Chains that must fail, in both versions, each with its own error: an
/// expired leaf, and a leaf "issued" by another leaf (no CA in the path).
#[test]
fn expired_and_leaf_signed_server_certificates_are_rejected() {
    for version in ["-tls1_3", "-tls1_2"] {
        let host = "hub.azure-devices.test";
        let expired = run(
            "bad-expired",
            "intermediate-ca",
            "root-ca",
            host,
            &[version],
            b"x\n",
        )
        .err();
        assert!(
            matches!(
                expired,
                Some(TlsError::Certificate(X509Error::Expired { .. }))
            ),
            "{version}: {expired:?}"
        );
        let by_leaf = run(
            "bad-signed-by-leaf",
            "server-p256.chain",
            "root-ca",
            host,
            &[version],
            b"x\n",
        )
        .err();
        assert_eq!(
            by_leaf,
            Some(TlsError::Certificate(X509Error::EndEntityUsedAsCa)),
            "{version}"
        );
    }
}
