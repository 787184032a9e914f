//! # duet-crypto
//!
//! Every secure layer of Duet (TLS, DTLS, SAS tokens, update signatures) asks
//! this crate for its primitives through traits, so a board's accelerator or
//! secure element can replace the software path without any caller changing.
#![no_std]
#![forbid(unsafe_code)]

pub mod error;
pub mod verify;
pub mod x509;

pub use error::CryptoError;
pub use verify::{SignatureScheme, SignatureVerifier};
