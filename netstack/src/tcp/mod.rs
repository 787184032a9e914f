//! TCP (RFC 9293) for duet-netstack: the sans-IO connection engine and the
//! pieces it is built from.
//!
//! Each piece is a file of its own, in the order a segment meets them:
//! sequence arithmetic (`seq`), the byte rings in the caller's memory
//! (`ring`), out-of-order reassembly (`assembler`), the SACK scoreboard
//! (`sack`), the retransmission timer (`rtt`) and its samples (`rtt_source`), congestion control
//! (`congestion`), initial sequence numbers (`isn`) and the SYN cookies
//! a full listener answers with instead (`syn_cookie`).

pub mod assembler;
pub mod congestion;
pub mod isn;
pub mod ring;
pub mod rtt;
pub mod sack;
pub mod seq;
pub mod socket;
#[cfg(feature = "syn-cookies")]
pub(crate) mod syn_cookie;

pub(crate) mod input;
pub(crate) mod output;
mod rtt_source;
mod timer;

pub use socket::{TcpConfig, TcpError, TcpSocket, TcpSocketStats, TcpState};
