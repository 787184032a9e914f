//! X.509 certification path validation for TLS (RFC 5280 section 6).
//!
//! Built on rustls-webpki without its crypto back-ends: the signature
//! algorithms webpki calls are Duet's own (`algorithms.rs`) and verify
//! through the caller's [`SignatureVerifier`](crate::SignatureVerifier), so
//! a secure element or accelerator checks certificate signatures too, and
//! the whole of it runs without an allocator.
//!
//! What is checked: a path from the end-entity certificate through the
//! intermediates the peer sent to one of several trust anchors; each
//! certificate's validity against the caller's clock; basicConstraints and
//! pathLenConstraint; keyUsage (keyCertSign on CAs, digitalSignature on the
//! end entity — webpki skips keyUsage, Duet adds it); extendedKeyUsage
//! (serverAuth or clientAuth); nameConstraints; and for a server, its
//! subjectAltName against the name connected to, with no fallback to the
//! subject CN. Revocation (CRL, OCSP) is not checked.

mod algorithms;
mod der;
mod error;
mod key_usage;
mod path;
pub mod roots;

pub use error::X509Error;
pub use path::{
    MAX_INTERMEDIATES, ServerName, trust_anchor_from_der, verify_client_chain,
    verify_end_entity_signature, verify_server_chain,
};
pub use rustls_pki_types::TrustAnchor;
