//! The server side of TLS, rustls' `ServerConnection` driven by hand over
//! any [`embedded_io_async`] byte stream: bytes read from the stream go to
//! `read_tls` and `process_new_packets`, plaintext comes out of `reader()`,
//! and `write_tls` fills what is written back. Doing it by hand, rather
//! than through tokio-rustls, is what lets the emulator run over Duet's own
//! TCP socket as well as over a tokio one.
//!
//! The server identity is the test PKI's RSA-2048 chain
//! (`certs/test/server-rsa2048.chain.pem`, whose names include
//! `hub.azure-devices.test`, `global.azure-devices-provisioning.test`,
//! `localhost` and `127.0.0.1`). Client certificates are asked for but
//! optional: when one is sent it must chain to `certs/test/root-ca.pem`,
//! and SAS devices simply send none.

use std::io::{Read as _, Write as _};
use std::sync::Arc;

use embedded_io_async::{Read, Write};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

use crate::x509;

const SERVER_CHAIN: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../certs/test/server-rsa2048.chain.pem"
));
const SERVER_KEY: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../certs/test/server-rsa2048.key"
));
const CLIENT_ROOT: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../certs/test/root-ca.pem"
));

/// The largest TLS record is 16 KiB of plaintext plus overhead; one read
/// of this size takes any record whole.
const READ_CHUNK: usize = 18 * 1024;

/// The emulator's TLS server configuration: TLS 1.3 and 1.2, or 1.2 only
/// like IoT Hub.
pub(crate) fn server_config(tls12_only: bool) -> Result<Arc<ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = CertificateDer::pem_slice_iter(SERVER_CHAIN)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| rustls::Error::General(format!("server chain: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY)
        .map_err(|e| rustls::Error::General(format!("server key: {e}")))?;
    let mut roots = RootCertStore::empty();
    for root in CertificateDer::pem_slice_iter(CLIENT_ROOT) {
        let root = root.map_err(|e| rustls::Error::General(format!("client root: {e}")))?;
        roots.add(root)?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| rustls::Error::General(format!("client verifier: {e}")))?;
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}

/// Why the TLS layer stopped.
#[derive(Debug)]
pub(crate) enum TlsError {
    /// The stream ended or failed.
    Transport,
    /// The peer broke the TLS protocol, or the handshake failed (rustls
    /// has queued the alert that tells the peer why).
    Tls,
}

/// What one [`TlsTransport::receive`] brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Received {
    /// Records were read; any plaintext was appended.
    Data,
    /// The peer sent close_notify or closed the stream.
    Closed,
}

/// One TLS server session over a byte stream.
pub(crate) struct TlsTransport<S> {
    stream: S,
    tls: ServerConnection,
    chunk: Box<[u8]>,
    outgoing: Vec<u8>,
    /// The peer sent close_notify or closed the stream: nothing more will
    /// be read.
    peer_closed: bool,
}

impl<S: Read + Write> TlsTransport<S> {
    /// A session over `stream`, not yet shaken hands.
    pub(crate) fn new(stream: S, config: Arc<ServerConfig>) -> Result<Self, TlsError> {
        let mut tls = ServerConnection::new(config).map_err(|_| TlsError::Tls)?;
        // Plaintext is queued whole and flushed by the caller; MQTT frames
        // are bounded elsewhere.
        tls.set_buffer_limit(None);
        Ok(TlsTransport {
            stream,
            tls,
            chunk: vec![0; READ_CHUNK].into_boxed_slice(),
            outgoing: Vec::new(),
            peer_closed: false,
        })
    }

    /// Runs the handshake to its end; any plaintext that arrives with the
    /// client's last flight goes to `plaintext`.
    pub(crate) async fn handshake(&mut self, plaintext: &mut Vec<u8>) -> Result<(), TlsError> {
        while self.tls.is_handshaking() {
            self.flush().await?;
            let received = self.receive(plaintext).await?;
            if received == Received::Closed && self.tls.is_handshaking() {
                return Err(TlsError::Transport);
            }
        }
        // TLS 1.2 ends with the server's Finished, still to be sent.
        self.flush().await
    }

    /// Waits for bytes from the peer and decrypts them, appending plaintext
    /// to `plaintext`.
    ///
    /// Cancel-safe when the stream's `read` is: that read is the only
    /// await, so dropping this future before it completes loses nothing.
    pub(crate) async fn receive(&mut self, plaintext: &mut Vec<u8>) -> Result<Received, TlsError> {
        if self.peer_closed {
            return Ok(Received::Closed);
        }
        let n = self
            .stream
            .read(&mut self.chunk)
            .await
            .map_err(|_| TlsError::Transport)?;
        if n == 0 {
            self.peer_closed = true;
            return Ok(Received::Closed);
        }
        let mut records = &self.chunk[..n];
        let mut closed = false;
        while !records.is_empty() {
            // 0: close_notify came already, and rustls reads nothing after
            // it; whatever follows is ignored.
            if self.tls.read_tls(&mut records).map_err(|_| TlsError::Tls)? == 0 {
                closed = true;
                break;
            }
            let state = self.tls.process_new_packets().map_err(|_| TlsError::Tls)?;
            let start = plaintext.len();
            plaintext.resize(start + state.plaintext_bytes_to_read(), 0);
            self.tls
                .reader()
                .read_exact(&mut plaintext[start..])
                .map_err(|_| TlsError::Tls)?;
            closed |= state.peer_has_closed();
        }
        self.peer_closed = closed;
        Ok(if closed {
            Received::Closed
        } else {
            Received::Data
        })
    }

    /// Queues `plaintext` for the peer; [`TlsTransport::flush`] sends it.
    pub(crate) fn send(&mut self, plaintext: &[u8]) {
        // Without a buffer limit, rustls takes every byte: this cannot fail.
        let _ = self.tls.writer().write_all(plaintext);
    }

    /// Writes every pending record to the stream.
    pub(crate) async fn flush(&mut self) -> Result<(), TlsError> {
        while self.tls.wants_write() {
            self.outgoing.clear();
            self.tls
                .write_tls(&mut self.outgoing)
                .map_err(|_| TlsError::Transport)?;
            self.stream
                .write_all(&self.outgoing)
                .await
                .map_err(|_| TlsError::Transport)?;
        }
        self.stream.flush().await.map_err(|_| TlsError::Transport)
    }

    /// Sends close_notify and whatever is pending; the stream itself closes
    /// when the caller drops it. Errors are moot at this point.
    pub(crate) async fn close(&mut self) {
        self.tls.send_close_notify();
        let _ = self.flush().await;
    }

    /// The subject CN of the client's verified certificate, if it sent one.
    pub(crate) fn client_common_name(&self) -> Option<String> {
        let leaf = self.tls.peer_certificates()?.first()?;
        x509::subject_common_name(leaf)
    }
}
