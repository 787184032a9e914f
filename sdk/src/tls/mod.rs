//! TLS 1.3 client (RFC 8446), sans-IO and without an allocator.
//!
//! [`ClientConnection`] follows rustls' `Connection` shape: the caller
//! hands it received bytes ([`ClientConnection::read_tls`]), lets it work
//! ([`ClientConnection::process`]), which yields [`Event`]s, and sends what
//! [`ClientConnection::pending_tls`] holds. Every buffer is the caller's.
//! All cryptography goes through `duet_crypto`; the server's chain is
//! always validated with the caller's trust anchors.
//!
//! Deliberately absent (RFC 8996, RFC 9325): TLS 1.0/1.1, RC4, CBC
//! MAC-then-encrypt, RSA key transport, static DH. TLS 1.2 is to come.

mod client;
mod codec;
mod connection;
mod error;
mod key_schedule;
pub mod record;

pub use client::{Buffers, ClientConfig, ClientConnection, Event, TlsProvider};
pub use connection::TlsConnection;
pub use error::{AlertDescription, TlsError};
pub use key_schedule::{
    CipherSuite, KeySchedule, TrafficKeys, derive_secret, finished_verify_data, hkdf_expand_label,
    next_traffic_secret,
};
