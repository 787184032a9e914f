//! TLS 1.3 (RFC 8446) and TLS 1.2 (RFC 5246) client, sans-IO and without
//! an allocator: one handshake offers both, and the server picks.
//!
//! [`ClientConnection`] follows rustls' `Connection` shape: the caller
//! hands it received bytes ([`ClientConnection::read_tls`]), lets it work
//! ([`ClientConnection::process`]), which yields [`Event`]s, and sends what
//! [`ClientConnection::pending_tls`] holds. Every buffer is the caller's.
//! All cryptography goes through `duet_crypto`; the server's chain is
//! always validated with the caller's trust anchors.
//!
//! Deliberately absent (RFC 8996, RFC 9325): TLS 1.0/1.1, RC4, CBC
//! MAC-then-encrypt, RSA key transport, static DH; in TLS 1.2 also
//! sessions without the extended master secret (RFC 7627) and
//! renegotiation (RFC 5746).

mod client;
mod codec;
mod connection;
mod connector;
mod error;
#[cfg(feature = "storage")]
mod flash_tickets;
mod key_schedule;
pub mod record;
mod session;
mod suite;
mod tls12_keys;

pub use client::{
    Buffers, ClientCertificate, ClientConfig, ClientConnection, Event, MaxFragmentLength,
    TlsProvider,
};
pub use connection::TlsConnection;
pub use connector::TlsConnector;
pub use error::{AlertDescription, TlsError};
#[cfg(feature = "storage")]
pub use flash_tickets::FlashTickets;
pub use key_schedule::{
    KeySchedule, TrafficKeys, derive_secret, finished_verify_data, hkdf_expand_label,
    next_traffic_secret,
};
pub use session::{MAX_PSK_LEN, SessionTicket, TicketSlot, TicketStore};
pub use suite::{CipherSuite, ServerAuthentication};
