//! What the two TLS footprint images run: one client connection through a
//! handshake and application data, every input through `black_box`, so no
//! state, version, suite or record path can be proven dead.

use core::convert::Infallible;
use core::hint::black_box;

use duet::tls::{Buffers, ClientCertificate, ClientConfig, ClientConnection, TlsProvider};
use duet_crypto::KeyHandle;
use rand_core::{TryCryptoRng, TryRng};

/// Randomness the optimiser cannot predict (a device's TRNG goes here).
pub struct OpaqueRng(pub u64);

impl TryRng for OpaqueRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.try_next_u64()? as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 = black_box(self.0.wrapping_add(0x9e37_79b9_7f4a_7c15));
        Ok(self.0)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let word = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Ok(())
    }
}

impl TryCryptoRng for OpaqueRng {}

/// One connection, forever: bytes in, records out, application data both
/// ways, close_notify.
pub fn drive<P: TlsProvider>(provider: &P) -> ! {
    let mut receive = [0u8; 5 + 1024 + 256];
    let mut send = [0u8; 2048];
    let mut handshake = [0u8; 4096];
    let mut certificate = [0u8; 4096];
    let chain: [&[u8]; 1] = [black_box(&[0x30u8; 400][..])];
    let anchors = [];
    let config = ClientConfig {
        server_name: "hub.azure-devices.net",
        trust_anchors: black_box(&anchors),
        now_unix_secs: black_box(1_800_000_000),
        alpn_protocols: &[b"mqtt"],
        resume: None,
        max_fragment_length: black_box(None),
        record_size_limit: None,
        client_certificate: black_box(Some(ClientCertificate {
            chain: &chain,
            key: KeyHandle(0),
        })),
    };
    let buffers = Buffers {
        receive: &mut receive,
        send: &mut send,
        handshake: &mut handshake,
        certificate: &mut certificate,
    };
    let mut rng = OpaqueRng(black_box(7));
    let Ok(mut connection) = ClientConnection::new(provider, config, buffers, &mut rng) else {
        loop {
            core::hint::spin_loop();
        }
    };
    let mut incoming = [0u8; 512];
    let mut plaintext = [0u8; 256];
    loop {
        black_box(&mut incoming);
        let n = connection.read_tls(&incoming[..black_box(incoming.len())]);
        let _ = black_box(connection.process());
        let n2 = connection.read_application_data(&mut plaintext);
        black_box(&plaintext[..n2]);
        if black_box(n) == 0 {
            let _ = black_box(connection.write_application_data(black_box(b"telemetry")));
        }
        if black_box(false) {
            let _ = connection.send_close_notify();
        }
        let pending = connection.pending_tls().len();
        black_box(connection.pending_tls());
        connection.tls_sent(pending);
    }
}
