//! TCP sequence numbers (RFC 9293 §3.4).
//!
//! Temporary stand-in on the `tcpcc` branch: the real modular type lives in
//! `crate::wire::tcp` and replaces this one when the branches are merged.

/// A 32-bit TCP sequence number (RFC 9293 §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeqNumber(pub u32);
