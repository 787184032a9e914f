//! What the two TLS footprint images run: one client connection through a
//! handshake and application data, every input through `black_box`, so no
//! state, version, suite or record path can be proven dead.

use core::hint::black_box;

use duet::tls::{Buffers, ClientCertificate, ClientConfig, ClientConnection, TlsProvider};
use duet_crypto::KeyHandle;

#[path = "../opaque_rng.rs"]
mod opaque_rng;
pub use opaque_rng::OpaqueRng;

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
