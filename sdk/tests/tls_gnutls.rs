//! record_size_limit (RFC 8449) against GnuTLS, the peer that implements
//! it (`gnutls-serv`, Debian package `gnutls-bin`; openssl and rustls do
//! not): our limit lets a receive buffer of 600 bytes take the server's
//! protected handshake (its ~1.1 KB certificate chain arrives in records of
//! at most 512 bytes) and its echo; the server's own small limit
//! (`--recordsize 512`) bounds our records, or it would end the connection
//! with record_overflow. Both versions, a 100 KB echo each.
//!
//! Fails, never skips, without gnutls-serv.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use duet::crypto::soft::Soft;
use duet::crypto::x509::trust_anchor_from_der;
use duet::tls::{CipherSuite, ClientConfig, ClientConnection, TlsConnection, TlsError};
use embedded_io_async::{Read as _, Write as _};

#[path = "common/blocking_stream.rs"]
mod blocking_stream;
use blocking_stream::BlockingStream;

#[path = "common/tls_client.rs"]
mod tls_client;
use tls_client::{Memory, config};

#[path = "common/test_rng.rs"]
mod test_rng;
use test_rng::TestRng;

#[path = "common/server_port.rs"]
mod server_port;
use server_port::server_port;

const CERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../certs/test/");

/// `gnutls-serv --echo`, killed on drop.
struct GnutlsServer {
    child: Child,
    port: u16,
}

impl GnutlsServer {
    /// Echoes over `version` (`TLS1.3` or `TLS1.2`), taking records of at
    /// most `record_size` bytes (RFC 8449 counting; GnuTLS's floor is 512),
    /// or 16 KB.
    fn start(version: &str, record_size: Option<u16>) -> GnutlsServer {
        let port = server_port();
        let child = Command::new("gnutls-serv")
            .args(["--echo", "--disable-client-cert", "--noticket"])
            .arg(format!("--port={port}"))
            .arg(format!("--x509certfile={CERTS}server-p256.chain.pem"))
            .arg(format!("--x509keyfile={CERTS}server-p256.key"))
            .arg(format!("--priority=NORMAL:-VERS-ALL:+VERS-{version}"))
            .args(record_size.map(|size| format!("--recordsize={size}")))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gnutls-serv is installed (apt-get install gnutls-bin)");
        let server = GnutlsServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "gnutls-serv did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }
}

impl Drop for GnutlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A handshake with `record_size_limit` and a receive buffer of
/// `receive` bytes, then `total` bytes echoed in 1 KB lines; the suite.
fn echo(
    server: &GnutlsServer,
    record_size_limit: Option<u16>,
    receive: usize,
    total: usize,
) -> Result<CipherSuite, TlsError> {
    let root = std::fs::read(format!("{CERTS}root-ca.der")).unwrap();
    let anchors = [trust_anchor_from_der(&root).unwrap()];
    let soft: Soft = Soft::new();
    let mut memory = Memory::with_receive(receive);
    let mut rng = TestRng(u64::from(server.port), 1);
    let engine = ClientConnection::new(
        &soft,
        ClientConfig {
            record_size_limit,
            ..config(&anchors)
        },
        memory.buffers(),
        &mut rng,
    )?;
    let stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    embassy_futures::block_on(async {
        let mut tls = TlsConnection::connect(engine, BlockingStream(stream)).await?;
        let suite = tls.engine().cipher_suite();
        // gnutls-serv echoes text line by line: 1 KB lines of letters.
        let data: Vec<u8> = (0..total)
            .map(|i| {
                if i % 1024 == 1023 {
                    b'\n'
                } else {
                    b'a' + (i * 7 % 26) as u8
                }
            })
            .collect();
        let mut echoed = Vec::with_capacity(total);
        let mut buf = [0u8; 2048];
        for chunk in data.chunks(1024) {
            tls.write_all(chunk).await?;
            tls.flush().await?;
            let want = echoed.len() + chunk.len();
            while echoed.len() < want {
                let n = tls.read(&mut buf).await?;
                assert!(n > 0, "the server closed early");
                echoed.extend_from_slice(&buf[..n]);
            }
        }
        assert!(echoed == data, "the echo differs");
        Ok(suite)
    })
}

#[test]
fn record_size_limit_both_ways_over_tls_1_3() {
    let server = GnutlsServer::start("TLS1.3", Some(512));
    // Header, 512 bytes and the content type, the tag: 534 bytes; the
    // certificate chain alone is twice that.
    let suite = echo(&server, Some(512), 600, 100 * 1024).expect("handshake and echo");
    assert!(!suite.is_tls12());
}

#[test]
fn without_the_limit_the_small_buffer_cannot_take_the_servers_records() {
    let server = GnutlsServer::start("TLS1.3", None);
    assert!(echo(&server, None, 600, 1024).is_err());
}

#[test]
fn record_size_limit_both_ways_over_tls_1_2() {
    // TLS 1.2 sends the certificates unprotected, beyond the limit: the
    // buffer holds them; the protected records after are bounded.
    let server = GnutlsServer::start("TLS1.2", Some(512));
    let suite = echo(&server, Some(512), 2048, 100 * 1024).expect("handshake and echo");
    assert!(suite.is_tls12());
}
