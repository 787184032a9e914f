//! A second, independent peer: a rustls server (ring provider) in a thread
//! on loopback, TLS 1.3 and TLS 1.2, ECDSA and RSA chains; each session
//! does a handshake and echoes 1 MiB.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;

use duet::crypto::soft::Soft;
use duet::crypto::x509::trust_anchor_from_der;
use duet::tls::{CipherSuite, ClientConnection, Event};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[path = "common/tls_client.rs"]
mod tls_client;
use tls_client::{Memory, config, now_unix};

#[path = "common/test_rng.rs"]
mod test_rng;
use test_rng::TestRng;

const CERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../certs/test/");

/// Echoes everything on one connection until the client closes.
fn serve_one(
    listener: TcpListener,
    cert: &str,
    chain: &str,
    version: &'static rustls::SupportedProtocolVersion,
) {
    let mut certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(format!("{CERTS}{cert}.pem"))
            .unwrap()
            .map(Result::unwrap)
            .collect();
    certs.extend(
        CertificateDer::pem_file_iter(format!("{CERTS}{chain}.pem"))
            .unwrap()
            .map(Result::unwrap),
    );
    let key = PrivateKeyDer::from_pem_file(format!("{CERTS}{cert}.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let (tcp, _) = listener.accept().unwrap();
    let connection = rustls::ServerConnection::new(Arc::new(config)).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    let mut buf = [0u8; 16 * 1024];
    loop {
        match tls.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tls.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

fn flush(connection: &mut ClientConnection<'_, Soft>, stream: &mut TcpStream) {
    while connection.wants_write() {
        let n = connection.pending_tls().len();
        stream.write_all(connection.pending_tls()).unwrap();
        connection.tls_sent(n);
    }
}

/// Handshake with a rustls server, then 1 MiB echoed in 16 KiB pieces.
fn session_with_rustls(
    cert: &'static str,
    chain: &'static str,
    version: &'static rustls::SupportedProtocolVersion,
) -> CipherSuite {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || serve_one(listener, cert, chain, version));
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let soft: Soft = Soft::new();
    let root = std::fs::read(format!("{CERTS}root-ca.der")).unwrap();
    let anchors = [trust_anchor_from_der(&root).unwrap()];
    // Room for a 16 KiB write's records while the echo comes back.
    let mut memory = Memory::new();
    memory.send = vec![0u8; 34 * 1024];
    let mut connection = ClientConnection::new(
        &soft,
        config(&anchors),
        memory.buffers(),
        &mut TestRng(now_unix(), 21),
    )
    .unwrap();
    let mut chunk = [0u8; 16 * 1024];
    let mut pump = |connection: &mut ClientConnection<'_, Soft>, stream: &mut TcpStream| {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "rustls closed the connection");
        assert_eq!(connection.read_tls(&chunk[..n]), n);
    };
    loop {
        let event = connection.process().unwrap();
        flush(&mut connection, &mut stream);
        if event == Some(Event::HandshakeComplete) {
            break;
        }
        pump(&mut connection, &mut stream);
    }
    let data: Vec<u8> = (0..1u32 << 20).map(|i| (i * 31 + i / 509) as u8).collect();
    let mut echoed = Vec::with_capacity(data.len());
    for piece in data.chunks(16 * 1024) {
        let mut sent = 0;
        while sent < piece.len() {
            sent += connection.write_application_data(&piece[sent..]).unwrap();
            flush(&mut connection, &mut stream);
        }
        let target = echoed.len() + piece.len();
        while echoed.len() < target {
            match connection.process().unwrap() {
                Some(Event::ApplicationData) => {
                    let mut buf = [0u8; 4096];
                    loop {
                        let n = connection.read_application_data(&mut buf);
                        if n == 0 {
                            break;
                        }
                        echoed.extend_from_slice(&buf[..n]);
                    }
                }
                Some(other) => panic!("unexpected {other:?}"),
                None => pump(&mut connection, &mut stream),
            }
        }
    }
    assert!(echoed == data, "the echo differs");
    connection.send_close_notify().unwrap();
    flush(&mut connection, &mut stream);
    drop(stream);
    server.join().unwrap();
    connection.cipher_suite()
}

#[test]
fn rustls_tls13_ecdsa_chain() {
    let suite = session_with_rustls("server-p256", "intermediate-ca", &rustls::version::TLS13);
    assert_eq!(suite, CipherSuite::Aes128GcmSha256);
}

#[test]
fn rustls_tls13_rsa_chain() {
    let suite = session_with_rustls(
        "server-rsa2048",
        "intermediate-ca-rsa",
        &rustls::version::TLS13,
    );
    assert_eq!(suite, CipherSuite::Aes128GcmSha256);
}

#[test]
fn rustls_tls12_ecdsa_chain() {
    let suite = session_with_rustls("server-p256", "intermediate-ca", &rustls::version::TLS12);
    assert!(suite.is_tls12(), "{suite:?}");
}

#[test]
fn rustls_tls12_rsa_chain() {
    let suite = session_with_rustls(
        "server-rsa2048",
        "intermediate-ca-rsa",
        &rustls::version::TLS12,
    );
    assert!(suite.is_tls12(), "{suite:?}");
}
