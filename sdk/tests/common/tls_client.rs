//! What the TLS client tests set up alike: caller memory for one
//! connection, and a configuration for the test PKI's server name with
//! everything optional left off (tests set what they exercise with struct
//! update syntax).

use std::time::{SystemTime, UNIX_EPOCH};

use duet::crypto::x509::TrustAnchor;
use duet::tls::{Buffers, ClientConfig};

/// The name the test PKI's server certificates carry.
pub const SERVER_NAME: &str = "hub.azure-devices.test";

/// Buffers for one connection: a receive buffer for the largest record,
/// room to send one, and 8 KiB each for handshake messages and the chain.
pub struct Memory {
    pub receive: Vec<u8>,
    pub send: Vec<u8>,
    pub handshake: Vec<u8>,
    pub certificate: Vec<u8>,
}

impl Memory {
    #[allow(dead_code)] // Not every test binary takes the full 17 KB.
    pub fn new() -> Memory {
        Memory::with_receive(17 * 1024)
    }

    /// A receive buffer of `len` bytes (small records only, with
    /// max_fragment_length).
    pub fn with_receive(len: usize) -> Memory {
        Memory {
            receive: vec![0; len],
            send: vec![0; 17 * 1024],
            handshake: vec![0; 8 * 1024],
            certificate: vec![0; 8 * 1024],
        }
    }

    pub fn buffers(&mut self) -> Buffers<'_> {
        Buffers {
            receive: &mut self.receive,
            send: &mut self.send,
            handshake: &mut self.handshake,
            certificate: &mut self.certificate,
        }
    }
}

/// Seconds since the Unix epoch, for certificate validity.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// [`SERVER_NAME`], `anchors`, the current time, nothing else.
pub fn config<'a>(anchors: &'a [TrustAnchor<'a>]) -> ClientConfig<'a> {
    ClientConfig {
        server_name: SERVER_NAME,
        trust_anchors: anchors,
        now_unix_secs: now_unix(),
        alpn_protocols: &[],
        resume: None,
        max_fragment_length: None,
        record_size_limit: None,
        client_certificate: None,
    }
}
