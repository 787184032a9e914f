//! Why a connection ended, and the counters of connections closed for
//! breaking the protocol. IoT Hub answers most misbehaviour after CONNECT
//! by closing the connection without a word (MQTT 3.1.1 has no way to say
//! why), so tests learn the reason from [`crate::Emulator::serve`]'s result
//! or from [`crate::Emulator::violations`].

use core::fmt;

use crate::Refusal;

/// Why [`crate::Emulator::serve`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The TLS handshake failed, or a record did not decrypt.
    Tls,
    /// The byte stream failed.
    Transport,
    /// No CONNECT came in time, or the peer left before sending one.
    NoConnect,
    /// CONNECT was refused with a CONNACK return code.
    Refused(Refusal),
    /// The device broke the protocol.
    Violation(Violation),
    /// The device sent DISCONNECT.
    ClientDisconnected,
    /// The device closed TLS or the stream without DISCONNECT.
    PeerClosed,
    /// A newer connection of the same device took over.
    Superseded,
    /// [`crate::Emulator::drop_connection`] ended it.
    Dropped,
    /// Nothing came from the device for 1.5 times its keep-alive.
    KeepAliveExpired,
    /// The SAS token the device connected with expired.
    TokenExpired,
    /// [`crate::Emulator::drop_next_twin_request`] fired.
    FaultInjected,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Tls => f.write_str("TLS failure"),
            CloseReason::Transport => f.write_str("transport failure"),
            CloseReason::NoConnect => f.write_str("no CONNECT"),
            CloseReason::Refused(refusal) => write!(f, "refused: {refusal}"),
            CloseReason::Violation(violation) => write!(f, "protocol violation: {violation}"),
            CloseReason::ClientDisconnected => f.write_str("device sent DISCONNECT"),
            CloseReason::PeerClosed => f.write_str("device closed the connection"),
            CloseReason::Superseded => f.write_str("a newer connection took over"),
            CloseReason::Dropped => f.write_str("dropped by the control API"),
            CloseReason::KeepAliveExpired => f.write_str("keep-alive expired"),
            CloseReason::TokenExpired => f.write_str("SAS token expired"),
            CloseReason::FaultInjected => f.write_str("injected fault"),
        }
    }
}

/// A breach of MQTT or of the hub's rules that closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Violation {
    /// Bytes that are not an MQTT 3.1.1 packet.
    MalformedPacket,
    /// A packet larger than the hub takes (256 KiB of message plus
    /// headers).
    OversizedPacket,
    /// A packet the device may not send now: a second CONNECT, anything
    /// before CONNECT, a server's packet, a QoS 2 acknowledgement.
    UnexpectedPacket,
    /// A QoS 2 PUBLISH: the hub supports QoS 0 and 1 only.
    Qos2Publish,
    /// A PUBLISH to a topic the device may not use: another device's, or
    /// one the service does not know.
    ForbiddenTopic,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Violation::MalformedPacket => "malformed packet",
            Violation::OversizedPacket => "packet too large",
            Violation::UnexpectedPacket => "unexpected packet",
            Violation::Qos2Publish => "QoS 2 publish",
            Violation::ForbiddenTopic => "forbidden topic",
        })
    }
}

/// How many connections were closed for breaking the protocol, by breach,
/// and how many failed in TLS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Violations {
    /// [`Violation::MalformedPacket`].
    pub malformed_packets: u32,
    /// [`Violation::OversizedPacket`].
    pub oversized_packets: u32,
    /// [`Violation::UnexpectedPacket`].
    pub unexpected_packets: u32,
    /// [`Violation::Qos2Publish`].
    pub qos2_publishes: u32,
    /// [`Violation::ForbiddenTopic`].
    pub forbidden_topics: u32,
    /// Handshakes or records that failed ([`CloseReason::Tls`]).
    pub tls_failures: u32,
}

impl Violations {
    /// The count for `violation`.
    pub fn get(&self, violation: Violation) -> u32 {
        match violation {
            Violation::MalformedPacket => self.malformed_packets,
            Violation::OversizedPacket => self.oversized_packets,
            Violation::UnexpectedPacket => self.unexpected_packets,
            Violation::Qos2Publish => self.qos2_publishes,
            Violation::ForbiddenTopic => self.forbidden_topics,
        }
    }

    pub(crate) fn count(&mut self, violation: Violation) {
        let slot = match violation {
            Violation::MalformedPacket => &mut self.malformed_packets,
            Violation::OversizedPacket => &mut self.oversized_packets,
            Violation::UnexpectedPacket => &mut self.unexpected_packets,
            Violation::Qos2Publish => &mut self.qos2_publishes,
            Violation::ForbiddenTopic => &mut self.forbidden_topics,
        };
        *slot += 1;
    }
}
