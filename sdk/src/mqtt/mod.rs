//! MQTT 3.1.1 (OASIS, 2014) and MQTT 5.0 (OASIS, 2019) client.
//!
//! [`codec`] turns packets into bytes and back in caller buffers, borrowing
//! topics and payloads from the input; [`session`] is the sans-IO engine
//! that drives one client session (CONNECT, keepalive, QoS 0/1/2 state
//! machines) without touching a socket or a clock; [`topic`] matches topic
//! names against subscription filters; [`alias`] keeps the topic aliases of
//! a 5.0 connection, both ways. [`client`] runs a session over a
//! transport with reconnection and an outbox; with the `storage` feature,
//! `journal` keeps the outbox's QoS 1/2 publishes on NOR flash.

pub mod alias;
pub mod client;
pub mod codec;
#[cfg(feature = "storage")]
pub mod journal;
pub mod outbox;
pub mod session;

pub mod topic;

pub use client::{Backoff, Client, ClientBuffers, ClientError, ClientEvent, Clock, Connector};
pub use codec::{Error, Packet, ProtocolVersion, QoS};
pub use session::{Event, Session, SessionError};
