//! # duet
//!
//! The crate device makers depend on: Duet's session and application
//! protocols over its TCP/IP stack (`duet-netstack`) and crypto traits
//! (`duet-crypto`), which it re-exports.
#![no_std]
#![forbid(unsafe_code)]

pub mod connector;
pub mod mqtt;
#[cfg(feature = "storage")]
pub mod storage;
pub mod tls;

pub use duet_crypto as crypto;
pub use duet_netstack as netstack;
