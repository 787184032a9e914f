//! The sans-IO MQTT client session: CONNECT/CONNACK, keepalive, and the
//! packet-identifier state machines of QoS 1 and 2 (3.1.1 §4.3, §4.4; 5.0
//! §4.3, §4.4, §4.9), without a socket or a clock.
//!
//! The shape is quinn-proto's: the caller hands received packets to
//! [`Session::handle_packet`] and gets application [`Event`]s back;
//! [`Session::poll_transmit`] writes the acknowledgements and PINGREQs the
//! session owes the server; [`Session::poll_timeout`] says when to call
//! [`Session::handle_timeout`]. Publishing, subscribing and connecting
//! write their packet into a caller buffer. Storage is fixed by the const
//! parameters: `WINDOW` outbound QoS 1/2 publishes in flight, `INBOUND`
//! inbound acknowledgements pending; a 5.0 session given alias storage
//! ([`Session::with_topic_aliases`]) also uses topic aliases both ways
//! (5.0 §3.3.2.3.4, see [`super::alias`]).

use core::fmt;

use duet_netstack::time::{Duration, Instant};

use super::alias::{AliasError, OutboundAlias, TopicAliases};
use super::codec::{
    Ack, ConnAck, Connect, Disconnect, Encode, Error, Packet, PacketType, Properties, Property,
    ProtocolVersion, Publish, QoS, SubAck, SubscribeList, SubscribeOptions, UnsubAck, Unsubscribe,
    UnsubscribeFilters, encode, encode_fixed,
};

/// The properties a CONNECT's are copied into (on the stack) when the
/// client adds its Maximum Packet Size in front of them, so at most seven
/// of the application's; the session's copy, which adds its Topic Alias
/// Maximum after, holds one more. A property that does not fit is not
/// added: no bound announced, or no inbound aliases.
pub(super) const COPIED_PROPERTIES: usize = 8;

/// What the session tells the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// CONNACK accepted the connection.
    Connected {
        /// The server resumed the stored session (§3.2.2.2).
        session_present: bool,
    },
    /// An application message arrived. At QoS 2 it is reported once, even if
    /// the server sends it again before the PUBREL (§4.3.3). Its topic is
    /// always the full Topic Name, resolved from the Topic Alias when the
    /// server sent an empty one.
    Message(Publish<'a>),
    /// An outbound QoS 1 or 2 publish finished: PUBACK, PUBCOMP, or a
    /// PUBREC carrying a failure reason code (5.0 §4.3.3).
    Published {
        /// The publish's packet identifier.
        packet_id: u16,
        /// The server's reason code (0 in 3.1.1).
        reason_code: u8,
    },
    /// SUBACK: one granted QoS or failure code per filter.
    Subscribed {
        /// The SUBSCRIBE's packet identifier.
        packet_id: u16,
        /// Return / reason codes (§3.9.3).
        reason_codes: &'a [u8],
    },
    /// UNSUBACK.
    Unsubscribed {
        /// The UNSUBSCRIBE's packet identifier.
        packet_id: u16,
    },
    /// The server sent DISCONNECT (5.0 §3.14) and will close the connection.
    Disconnected {
        /// Its reason code.
        reason_code: u8,
    },
}

/// Why the session refused an operation or gave up on the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    /// Encoding failed (buffer too small, invalid string or topic).
    Codec(Error),
    /// The operation needs an accepted connection.
    NotConnected,
    /// CONNACK refused the connection with this code.
    ConnectionRefused(u8),
    /// As many QoS 1/2 publishes are in flight as the window and the
    /// server's Receive Maximum (5.0 §3.2.2.3.3) allow; wait for an ack.
    WindowFull,
    /// A 5.0 CONNECT must announce a Receive Maximum no larger than `INBOUND`
    /// so the server never exceeds what the session can track.
    ReceiveMaximumTooLarge,
    /// No PINGRESP within the keepalive interval after a PINGREQ (§3.1.2.10):
    /// the server or the path is dead; close the connection.
    KeepAliveTimeout,
    /// The server sent a packet a server must not send, or one out of turn
    /// (5.0 reason code 0x82, Protocol Error).
    ProtocolError,
    /// No unacknowledged publish has this packet identifier.
    UnknownPacketId,
    /// The packet is larger than the server's Maximum Packet Size (5.0
    /// §3.2.2.3.6), which it would answer by closing the connection.
    PacketTooLarge,
    /// The server sent a packet larger than the Maximum Packet Size the
    /// client announced in CONNECT, which a server must not (5.0
    /// §3.1.2.11.4; reason code 0x95, Packet too large).
    ReceivedPacketTooLarge,
    /// The publish's QoS is above the server's Maximum QoS (5.0
    /// §3.2.2.3.4), which it would answer with DISCONNECT 0x9B.
    QoSNotSupported,
    /// A retained publish to a server without Retain Available (5.0
    /// §3.2.2.3.5), which it would answer with DISCONNECT 0x9A.
    RetainNotSupported,
    /// A 5.0 CONNECT must announce a Topic Alias Maximum no larger than the
    /// alias slots the session has (§3.1.2.11.5).
    TopicAliasMaximumTooLarge,
    /// The server sent Topic Alias 0 or one above the maximum we announced
    /// (5.0 §3.3.2.3.4; reason code 0x94, Topic Alias invalid). An empty
    /// topic with an alias it never mapped is a [`SessionError::ProtocolError`]
    /// (0x82, as §3.3.2.3.4 says).
    TopicAliasInvalid,
    /// The server sent an empty topic and an alias it had mapped to a topic
    /// too long for an alias slot (see [`super::alias::SLOT`]): the message
    /// cannot be delivered with its topic (reason code 0x83,
    /// Implementation specific error).
    AliasedTopicTooLong,
    /// [`Session::adopt`]: the identifier is 0 or already in flight, or the
    /// publish is QoS 0.
    CannotAdopt,
    /// The server closed the connection with DISCONNECT and this reason
    /// code (5.0 §3.14.2.1: 0x8E session taken over, 0x97 quota exceeded,
    /// ...; 0 normal), as [`Event::Disconnected`] reported it.
    ServerDisconnected(u8),
    /// The publish's Message Expiry Interval (5.0 §3.3.2.3.3) ran out
    /// while it waited in the client's outbox: it was dropped unsent, as a
    /// broker drops a message whose interval ran out before delivery.
    MessageExpired,
}

impl SessionError {
    /// The 5.0 reason code of the DISCONNECT that tells the server why the
    /// client closes the connection (§4.13.1), when the error is the
    /// server's: a packet it must not send, or one that does not decode.
    pub fn reason_code(&self) -> Option<u8> {
        match self {
            SessionError::Codec(e) => e.reason_code(),
            SessionError::ProtocolError => Some(0x82),
            SessionError::AliasedTopicTooLong => Some(0x83),
            SessionError::TopicAliasInvalid => Some(0x94),
            SessionError::ReceivedPacketTooLarge => Some(0x95),
            _ => None,
        }
    }
}

impl From<AliasError> for SessionError {
    fn from(e: AliasError) -> Self {
        match e {
            AliasError::Invalid => SessionError::TopicAliasInvalid,
            AliasError::Unmapped => SessionError::ProtocolError,
            AliasError::Unstored => SessionError::AliasedTopicTooLong,
        }
    }
}

impl From<Error> for SessionError {
    fn from(e: Error) -> Self {
        SessionError::Codec(e)
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Codec(e) => write!(f, "codec: {e}"),
            SessionError::NotConnected => f.write_str("not connected"),
            SessionError::ConnectionRefused(c) => write!(f, "connection refused (0x{c:02x})"),
            SessionError::WindowFull => f.write_str("in-flight window full"),
            SessionError::ReceiveMaximumTooLarge => f.write_str("receive maximum above INBOUND"),
            SessionError::KeepAliveTimeout => f.write_str("no PINGRESP: keepalive timeout"),
            SessionError::ProtocolError => f.write_str("protocol error"),
            SessionError::UnknownPacketId => f.write_str("unknown packet identifier"),
            SessionError::PacketTooLarge => f.write_str("packet above server's maximum size"),
            SessionError::ReceivedPacketTooLarge => f.write_str("packet above our maximum size"),
            SessionError::QoSNotSupported => f.write_str("QoS above server's maximum"),
            SessionError::RetainNotSupported => f.write_str("server does not retain messages"),
            SessionError::TopicAliasMaximumTooLarge => {
                f.write_str("topic alias maximum above the alias slots")
            }
            SessionError::TopicAliasInvalid => f.write_str("topic alias invalid"),
            SessionError::AliasedTopicTooLong => {
                f.write_str("topic alias for a topic too long to keep")
            }
            SessionError::CannotAdopt => f.write_str("publish cannot be adopted"),
            SessionError::ServerDisconnected(c) => write!(f, "server disconnected (0x{c:02x})"),
            SessionError::MessageExpired => f.write_str("message expired before it was sent"),
        }
    }
}

/// Connection state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No connection, or it was lost.
    Disconnected,
    /// CONNECT sent, CONNACK awaited.
    Connecting,
    /// CONNACK accepted.
    Connected,
}

/// An outbound QoS 1/2 publish (sender side of §4.3.2 and §4.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outbound {
    Free,
    /// QoS 1, PUBLISH sent.
    AwaitPubAck(u16),
    /// QoS 2, PUBLISH sent.
    AwaitPubRec(u16),
    /// QoS 2, PUBREC received, PUBREL to send.
    SendPubRel(u16),
    /// QoS 2, PUBREL sent.
    AwaitPubComp(u16),
}

impl Outbound {
    fn packet_id(self) -> Option<u16> {
        match self {
            Outbound::Free => None,
            Outbound::AwaitPubAck(id)
            | Outbound::AwaitPubRec(id)
            | Outbound::SendPubRel(id)
            | Outbound::AwaitPubComp(id) => Some(id),
        }
    }
}

/// An inbound acknowledgement owed, or a QoS 2 message held (receiver side
/// of §4.3.2 and §4.3.3, method B of 3.1.1 Figure 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inbound {
    Free,
    SendPubAck(u16),
    /// QoS 2 PUBLISH delivered; PUBREC to send.
    SendPubRec(u16),
    /// PUBREC sent; the id stays reserved so a resent PUBLISH is not
    /// delivered twice.
    AwaitPubRel(u16),
    SendPubComp(u16),
}

/// One MQTT client session; `A` is the topic alias storage (none by
/// default).
#[derive(Debug)]
pub struct Session<const WINDOW: usize, const INBOUND: usize, A = [u8; 0]> {
    version: ProtocolVersion,
    state: State,
    keep_alive: Duration,
    last_transmit: Instant,
    ping_sent: Option<Instant>,
    ping_due: bool,
    server_receive_maximum: u16,
    server_maximum_packet_size: u32,
    /// 5.0 §3.2.2.3.4: the highest QoS the server takes in a PUBLISH.
    server_maximum_qos: QoS,
    /// 5.0 §3.2.2.3.5: whether the server takes retained messages.
    server_retains: bool,
    next_packet_id: u16,
    /// A PUBLISH or PUBREL was left unanswered for lack of an inbound slot
    /// (see [`Session::withheld`]).
    withheld: bool,
    outbound: [Outbound; WINDOW],
    inbound: [Inbound; INBOUND],
    /// The last `INBOUND` QoS 2 identifiers we sent PUBCOMP for (0: none),
    /// oldest overwritten first. mosquitto 2.0.11 breaks §4.3.3: a PUBREL
    /// it fails to write on a resumed connection turns back into the
    /// PUBLISH (DUP set) on the next one, after we may have completed the
    /// exchange; this recognises the resend.
    completed: [u16; INBOUND],
    next_completed: usize,
    /// The topic alias mappings of the connection, both ways.
    aliases: TopicAliases<A>,
}

impl<const WINDOW: usize, const INBOUND: usize> Default for Session<WINDOW, INBOUND> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const WINDOW: usize, const INBOUND: usize> Session<WINDOW, INBOUND> {
    /// A session with no connection, no stored state and no topic aliases.
    pub const fn new() -> Self {
        Self::with_topic_aliases([])
    }
}

impl<const WINDOW: usize, const INBOUND: usize, A> Session<WINDOW, INBOUND, A> {
    /// A session that keeps the topic aliases of its 5.0 connections in
    /// `storage`, [`super::alias::SLOT`] bytes per alias, shared between
    /// the two directions (see [`super::alias`]). It announces half the
    /// slots as its Topic Alias Maximum (a CONNECT that carries one
    /// announces that instead) and gives the rest to its own aliases, as
    /// many as the server's Topic Alias Maximum allows. 3.1.1 has no
    /// aliases.
    pub const fn with_topic_aliases(storage: A) -> Self {
        Session {
            version: ProtocolVersion::V311,
            state: State::Disconnected,
            keep_alive: Duration::ZERO,
            last_transmit: Instant::ZERO,
            ping_sent: None,
            ping_due: false,
            server_receive_maximum: u16::MAX,
            server_maximum_packet_size: u32::MAX,
            server_maximum_qos: QoS::ExactlyOnce,
            server_retains: true,
            next_packet_id: 1,
            withheld: false,
            outbound: [Outbound::Free; WINDOW],
            inbound: [Inbound::Free; INBOUND],
            completed: [0; INBOUND],
            next_completed: 0,
            aliases: TopicAliases::new(storage),
        }
    }
}

impl<const WINDOW: usize, const INBOUND: usize, A: AsRef<[u8]> + AsMut<[u8]>>
    Session<WINDOW, INBOUND, A>
{
    /// The connection state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The protocol version of the current (or last) connection; pass it to
    /// [`Packet::decode`].
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// QoS 1/2 publishes awaiting acknowledgement.
    pub fn in_flight(&self) -> usize {
        self.outbound
            .iter()
            .filter(|o| **o != Outbound::Free)
            .count()
    }

    /// How many QoS 1/2 publishes may be in flight: the window, or less if
    /// the server's Receive Maximum says so.
    pub fn window(&self) -> usize {
        WINDOW.min(usize::from(self.server_receive_maximum))
    }

    /// The topic alias mappings of the connection.
    pub fn topic_aliases(&self) -> &TopicAliases<A> {
        &self.aliases
    }

    /// Writes CONNECT into `out` and waits for CONNACK.
    ///
    /// With `clean_start` false the stored packet-identifier state is kept;
    /// whether the server kept its side is known from CONNACK. A 5.0
    /// CONNECT gets the session's Topic Alias Maximum added unless it
    /// carries one (at most the alias slots), and the topic alias mappings
    /// of the last connection are forgotten.
    pub fn connect(
        &mut self,
        now: Instant,
        connect: &Connect<'_>,
        out: &mut [u8],
    ) -> Result<usize, SessionError> {
        let mut inbound_aliases = 0;
        let mut announce = false;
        if connect.version == ProtocolVersion::V5 {
            match connect.properties.receive_maximum() {
                Some(rm) if usize::from(rm) <= INBOUND => {}
                _ => return Err(SessionError::ReceiveMaximumTooLarge),
            }
            inbound_aliases = match connect.properties.topic_alias_maximum() {
                Some(max) if max > self.aliases.capacity() => {
                    return Err(SessionError::TopicAliasMaximumTooLarge);
                }
                Some(max) => max,
                None => {
                    announce = true;
                    self.aliases.capacity() / 2
                }
            };
        }
        // One more than the client may have filled: its Maximum Packet Size
        // and seven of the application's.
        let mut list = [Property::TopicAliasMaximum(inbound_aliases); COPIED_PROPERTIES + 1];
        // The caller's CONNECT goes out as it is unless a property is added:
        // a copy of it made for nothing costs a 72-byte `memcpy` call.
        let n = match (announce && inbound_aliases > 0)
            .then(|| prepend(&mut list, connect.properties))
            .flatten()
        {
            Some(properties) => {
                let announced = Connect {
                    properties,
                    ..*connect
                };
                encode(&announced, connect.version, out)?
            }
            None => {
                if announce {
                    inbound_aliases = 0;
                }
                encode(connect, connect.version, out)?
            }
        };
        self.aliases.begin(inbound_aliases);
        self.version = connect.version;
        self.keep_alive = Duration::from_secs(u64::from(connect.keep_alive));
        self.state = State::Connecting;
        self.ping_sent = None;
        self.ping_due = false;
        self.server_receive_maximum = u16::MAX;
        self.server_maximum_packet_size = u32::MAX;
        self.server_maximum_qos = QoS::ExactlyOnce;
        self.server_retains = true;
        self.withheld = false;
        self.last_transmit = now;
        Ok(n)
    }

    /// Whether the server sent a QoS 1/2 PUBLISH or a PUBREL while every
    /// inbound slot was taken, so the session left it unanswered (neither
    /// delivered nor acknowledged). A server resends an unanswered packet
    /// only on a new connection (§4.4), so once slots have drained the
    /// client should reconnect, resuming the session, to get it back:
    /// nothing is lost, it arrives late.
    ///
    /// 3.1.1 has no receive maximum, so a 3.1.1 server may always send more
    /// than `INBOUND`. A 5.0 server must not exceed the Receive Maximum we
    /// announce (§3.3.4 has the client disconnect with 0x93), but mosquitto
    /// 2.0.11 does at QoS 2, and resends the excess on every reconnection:
    /// disconnecting would repeat forever, so 5.0 gets the same treatment.
    pub fn withheld(&self) -> bool {
        self.withheld
    }

    /// Inbound QoS 1/2 messages whose exchange is not finished: slots of the
    /// `INBOUND` in use.
    pub fn inbound_pending(&self) -> usize {
        self.inbound.iter().filter(|s| **s != Inbound::Free).count()
    }

    /// The transport closed or failed. Stored QoS state is kept for a
    /// resumed session.
    pub fn connection_lost(&mut self) {
        self.state = State::Disconnected;
        self.ping_sent = None;
        self.ping_due = false;
        // Acks owed on the old connection are void; the server resends the
        // PUBLISH / PUBREL on resumption and they will be owed again. A QoS 2
        // identifier keeps its slot until PUBCOMP is sent, so the resent
        // PUBLISH is not delivered twice and the resent PUBREL finds a slot.
        for slot in self.inbound.iter_mut() {
            *slot = match *slot {
                Inbound::SendPubRec(id) | Inbound::AwaitPubRel(id) | Inbound::SendPubComp(id) => {
                    Inbound::AwaitPubRel(id)
                }
                Inbound::SendPubAck(_) | Inbound::Free => Inbound::Free,
            };
        }
    }

    /// Writes DISCONNECT into `out`; the caller then closes the transport.
    pub fn disconnect(&mut self, out: &mut [u8]) -> Result<usize, SessionError> {
        let n = encode(&Disconnect::NORMAL, self.version, out)?;
        self.connection_lost();
        Ok(n)
    }

    /// Gives up on the connection over `error`, which
    /// [`Session::handle_packet`] returned: writes into `out` the DISCONNECT
    /// that tells a 5.0 server why (§4.13.1, with the error's
    /// [`SessionError::reason_code`]), for the caller to send before it
    /// closes the transport. `None` when there is none to send: in 3.1.1,
    /// whose DISCONNECT means a normal close (the server would discard the
    /// Will), or for an error that is not the server's.
    pub fn abort(
        &mut self,
        error: SessionError,
        out: &mut [u8],
    ) -> Result<Option<usize>, SessionError> {
        self.connection_lost();
        match (self.version, error.reason_code()) {
            (ProtocolVersion::V5, Some(reason_code)) => {
                let disconnect = Disconnect {
                    reason_code,
                    properties: Properties::EMPTY,
                };
                Ok(Some(encode(&disconnect, self.version, out)?))
            }
            _ => Ok(None),
        }
    }

    fn allocate_packet_id(&mut self) -> u16 {
        loop {
            let id = self.next_packet_id;
            self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
            if !self.outbound.iter().any(|o| o.packet_id() == Some(id)) {
                return id;
            }
        }
    }

    /// Encodes a PUBLISH, its topic replaced by a Topic Alias where the
    /// connection has one for it, or mapped to one where an alias is free or
    /// due for replacement (5.0 §3.3.2.3.4, see [`super::alias`]).
    ///
    /// A publish that carries properties of its own is sent as it is, its
    /// topic in full: adding the alias would mean copying them (a third of
    /// the alias code's flash), and the client sends none. One that carries
    /// a Topic Alias of its own, with a topic, maps that alias on the
    /// server, so the session forgets its own mapping of the alias.
    fn encode_publish(
        &mut self,
        publish: Publish<'_>,
        out: &mut [u8],
    ) -> Result<usize, SessionError> {
        if !publish.properties.is_empty() {
            if let Some(alias) = publish.properties.topic_alias()
                && !publish.topic.is_empty()
            {
                self.aliases.forget_outbound(alias);
            }
            return self.encode_limited(&publish, out);
        }
        let (topic, alias) = match self.aliases.outbound(publish.topic) {
            OutboundAlias::None => return self.encode_limited(&publish, out),
            OutboundAlias::Use(alias) => ("", alias),
            OutboundAlias::Map(alias) => (publish.topic, alias),
        };
        let list = [Property::TopicAlias(alias)];
        let aliased = Publish {
            topic,
            properties: Properties::List(&list),
            ..publish
        };
        match self.encode_limited(&aliased, out) {
            Ok(n) => {
                if !topic.is_empty() {
                    self.aliases.map_outbound(alias, topic);
                }
                Ok(n)
            }
            // No room for the three bytes the alias takes: the topic in
            // full.
            Err(_) => self.encode_limited(&publish, out),
        }
    }

    /// Encodes a packet the server limits in size (PUBLISH, SUBSCRIBE,
    /// UNSUBSCRIBE; acknowledgements are far below any allowed limit).
    fn encode_limited<P: Encode>(&self, packet: &P, out: &mut [u8]) -> Result<usize, SessionError> {
        let n = encode(packet, self.version, out)?;
        if u32::try_from(n).map_or(true, |n| n > self.server_maximum_packet_size) {
            return Err(SessionError::PacketTooLarge);
        }
        Ok(n)
    }

    /// Whether the server takes `publish` at its QoS and retain flag, as
    /// its CONNACK said (5.0 [MQTT-3.2.2-11], [MQTT-3.2.2-14]; a 3.1.1
    /// server takes every QoS and retains). Its size is checked once
    /// encoded.
    pub fn check_server_terms(&self, publish: &Publish<'_>) -> Result<(), SessionError> {
        if publish.qos > self.server_maximum_qos {
            return Err(SessionError::QoSNotSupported);
        }
        if publish.retain && !self.server_retains {
            return Err(SessionError::RetainNotSupported);
        }
        Ok(())
    }

    fn require_connected(&self) -> Result<(), SessionError> {
        if self.state == State::Connected {
            Ok(())
        } else {
            Err(SessionError::NotConnected)
        }
    }

    /// Writes a PUBLISH into `out`. Its `packet_id` and `dup` are chosen
    /// here; the identifier is returned (0 at QoS 0) and comes back in
    /// [`Event::Published`] once the server has acknowledged it.
    ///
    /// On a 5.0 connection with topic aliases the topic may be replaced by
    /// an alias (see [`Session::with_topic_aliases`]), so the packets
    /// written must reach the server in the order they were written. A
    /// publish with properties of its own (a Topic Alias of the caller's
    /// among them) goes as given, its topic in full.
    pub fn publish(
        &mut self,
        now: Instant,
        publish: &Publish<'_>,
        out: &mut [u8],
    ) -> Result<(usize, u16), SessionError> {
        self.require_connected()?;
        self.check_server_terms(publish)?;
        // QoS 1/2 take a slot of the window and a packet identifier.
        let slot = match publish.qos {
            QoS::AtMostOnce => None,
            _ if self.in_flight() >= self.window() => return Err(SessionError::WindowFull),
            _ => Some(
                self.outbound
                    .iter()
                    .position(|o| *o == Outbound::Free)
                    .ok_or(SessionError::WindowFull)?,
            ),
        };
        let packet_id = match slot {
            Some(_) => self.allocate_packet_id(),
            None => 0,
        };
        let packet = Publish {
            dup: false,
            packet_id,
            ..*publish
        };
        let n = self.encode_publish(packet, out)?;
        if let Some(slot) = slot {
            self.outbound[slot] = match publish.qos {
                QoS::AtLeastOnce => Outbound::AwaitPubAck(packet_id),
                _ => Outbound::AwaitPubRec(packet_id),
            };
        }
        self.last_transmit = now;
        Ok((n, packet_id))
    }

    /// Publishes still unacknowledged (no PUBACK, or no PUBREC). After a
    /// resumed session the caller resends each with [`Session::republish`]
    /// (§4.4: with DUP set); the session keeps no payloads itself.
    pub fn unacknowledged(&self) -> impl Iterator<Item = u16> + '_ {
        self.outbound.iter().filter_map(|o| match *o {
            Outbound::AwaitPubAck(id) | Outbound::AwaitPubRec(id) => Some(id),
            _ => None,
        })
    }

    /// Takes a QoS 1/2 publish sent on an earlier connection — before a
    /// reboot, or on a session the server did not keep — back in flight
    /// under its `packet_id`, so that a server still holding the exchange
    /// recognises it. `released` (QoS 2: PUBREC was received) makes the
    /// session owe a PUBREL ([`Session::poll_transmit`]); otherwise resend
    /// the PUBLISH with [`Session::republish`].
    pub fn adopt(&mut self, packet_id: u16, qos: QoS, released: bool) -> Result<(), SessionError> {
        self.require_connected()?;
        if self.in_flight() >= self.window() {
            return Err(SessionError::WindowFull);
        }
        let in_use = self
            .outbound
            .iter()
            .any(|o| o.packet_id() == Some(packet_id));
        let state = match qos {
            _ if packet_id == 0 || in_use => return Err(SessionError::CannotAdopt),
            QoS::AtMostOnce => return Err(SessionError::CannotAdopt),
            QoS::AtLeastOnce => Outbound::AwaitPubAck(packet_id),
            QoS::ExactlyOnce if released => Outbound::SendPubRel(packet_id),
            QoS::ExactlyOnce => Outbound::AwaitPubRec(packet_id),
        };
        let slot = self
            .outbound
            .iter_mut()
            .find(|o| **o == Outbound::Free)
            .ok_or(SessionError::WindowFull)?;
        *slot = state;
        Ok(())
    }

    /// Writes an unacknowledged publish again, with DUP set (§3.3.1.1).
    pub fn republish(
        &mut self,
        now: Instant,
        packet_id: u16,
        publish: &Publish<'_>,
        out: &mut [u8],
    ) -> Result<usize, SessionError> {
        self.require_connected()?;
        let qos = match self
            .outbound
            .iter()
            .find(|o| o.packet_id() == Some(packet_id))
        {
            Some(Outbound::AwaitPubAck(_)) => QoS::AtLeastOnce,
            Some(Outbound::AwaitPubRec(_)) => QoS::ExactlyOnce,
            _ => return Err(SessionError::UnknownPacketId),
        };
        let packet = Publish {
            dup: true,
            qos,
            packet_id,
            ..*publish
        };
        let n = self.encode_publish(packet, out)?;
        self.last_transmit = now;
        Ok(n)
    }

    /// Writes a SUBSCRIBE into `out`; returns its packet identifier, which
    /// [`Event::Subscribed`] carries back.
    pub fn subscribe(
        &mut self,
        now: Instant,
        filters: &[(&str, SubscribeOptions)],
        properties: Properties<'_>,
        out: &mut [u8],
    ) -> Result<(usize, u16), SessionError> {
        self.require_connected()?;
        let packet_id = self.allocate_packet_id();
        let packet = SubscribeList {
            packet_id,
            properties,
            filters,
        };
        let n = self.encode_limited(&packet, out)?;
        self.last_transmit = now;
        Ok((n, packet_id))
    }

    /// Writes an UNSUBSCRIBE into `out`; returns its packet identifier.
    pub fn unsubscribe(
        &mut self,
        now: Instant,
        filters: &[&str],
        out: &mut [u8],
    ) -> Result<(usize, u16), SessionError> {
        self.require_connected()?;
        let packet_id = self.allocate_packet_id();
        let packet = Unsubscribe {
            packet_id,
            properties: Properties::EMPTY,
            filters: UnsubscribeFilters::List(filters),
        };
        let n = self.encode_limited(&packet, out)?;
        self.last_transmit = now;
        Ok((n, packet_id))
    }

    /// Feeds one received packet to the session. The event borrows the
    /// packet and, for a message whose topic a Topic Alias stands for, the
    /// session.
    pub fn handle_packet<'a>(
        &'a mut self,
        now: Instant,
        packet: &Packet<'a>,
    ) -> Result<Option<Event<'a>>, SessionError> {
        let _ = now;
        match (self.state, packet) {
            (State::Connecting, Packet::ConnAck(ack)) => self.on_connack(ack),
            (State::Connected, Packet::Publish(p)) => self.on_publish(p),
            (State::Connected, Packet::PubAck(a)) => Ok(self.on_puback(a)),
            (State::Connected, Packet::PubRec(a)) => Ok(self.on_pubrec(a)),
            (State::Connected, Packet::PubRel(a)) => self.on_pubrel(a),
            (State::Connected, Packet::PubComp(a)) => Ok(self.on_pubcomp(a)),
            (
                State::Connected,
                Packet::SubAck(SubAck {
                    packet_id,
                    reason_codes,
                    ..
                }),
            ) => Ok(Some(Event::Subscribed {
                packet_id: *packet_id,
                reason_codes,
            })),
            (State::Connected, Packet::UnsubAck(UnsubAck { packet_id, .. })) => {
                Ok(Some(Event::Unsubscribed {
                    packet_id: *packet_id,
                }))
            }
            (State::Connected, Packet::PingResp) => {
                self.ping_sent = None;
                Ok(None)
            }
            (State::Connected | State::Connecting, Packet::Disconnect(d)) => {
                self.connection_lost();
                Ok(Some(Event::Disconnected {
                    reason_code: d.reason_code,
                }))
            }
            _ => Err(SessionError::ProtocolError),
        }
    }

    fn on_connack<'a>(&mut self, ack: &ConnAck<'a>) -> Result<Option<Event<'a>>, SessionError> {
        if ack.reason_code != 0 {
            self.state = State::Disconnected;
            return Err(SessionError::ConnectionRefused(ack.reason_code));
        }
        let properties = &ack.properties;
        let (receive_maximum, maximum_packet_size) = (
            properties.receive_maximum(),
            properties.maximum_packet_size(),
        );
        let (maximum_qos, retain_available) =
            (properties.maximum_qos(), properties.retain_available());
        // 5.0 §3.2.2.3.3-3.2.2.3.6: a Receive Maximum or Maximum Packet
        // Size of 0, or a Maximum QoS or Retain Available other than 0 or
        // 1, is a Protocol Error; taken as given, the first two would stop
        // every publish for good.
        if receive_maximum == Some(0)
            || maximum_packet_size == Some(0)
            || maximum_qos.is_some_and(|qos| qos > 1)
            || retain_available.is_some_and(|retains| retains > 1)
        {
            return Err(SessionError::ProtocolError);
        }
        self.state = State::Connected;
        // 5.0 §3.2.2.3.3: absent means 65,535.
        self.server_receive_maximum = receive_maximum.unwrap_or(u16::MAX);
        // 5.0 §3.2.2.3.6: absent means no limit beyond the protocol's.
        self.server_maximum_packet_size = maximum_packet_size.unwrap_or(u32::MAX);
        // 5.0 §3.2.2.3.4 and §3.2.2.3.5: absent means QoS 2, and retained
        // messages taken.
        if maximum_qos == Some(0) {
            self.server_maximum_qos = QoS::AtMostOnce;
        } else if maximum_qos == Some(1) {
            self.server_maximum_qos = QoS::AtLeastOnce;
        }
        self.server_retains = retain_available != Some(0);
        // 5.0 §3.2.2.3.8: absent means no topic aliases.
        self.aliases
            .accept(ack.properties.topic_alias_maximum().unwrap_or(0));
        if let Some(seconds) = ack.properties.server_keep_alive() {
            self.keep_alive = Duration::from_secs(u64::from(seconds));
        }
        if ack.session_present {
            // §4.4: resend PUBREL for every QoS 2 publish past PUBREC.
            for slot in self.outbound.iter_mut() {
                if let Outbound::AwaitPubComp(id) = *slot {
                    *slot = Outbound::SendPubRel(id);
                }
            }
        } else {
            // The server holds no session: no packet identifier is in use.
            self.outbound = [Outbound::Free; WINDOW];
            self.inbound = [Inbound::Free; INBOUND];
            self.completed = [0; INBOUND];
        }
        Ok(Some(Event::Connected {
            session_present: ack.session_present,
        }))
    }

    /// Takes a free inbound slot for `state`; `false` when none is free.
    fn take_inbound(&mut self, state: Inbound) -> bool {
        match self.inbound.iter_mut().find(|s| **s == Inbound::Free) {
            Some(slot) => {
                *slot = state;
                true
            }
            None => false,
        }
    }

    fn remember_completed(&mut self, id: u16) {
        if let Some(entry) = self.completed.get_mut(self.next_completed) {
            *entry = id;
            self.next_completed = (self.next_completed + 1) % INBOUND;
        }
    }

    /// No slot for an inbound packet: it is left unanswered until the next
    /// connection (see [`Session::withheld`]).
    fn no_inbound_slot<'a>(&mut self) -> Option<Event<'a>> {
        self.withheld = true;
        None
    }

    /// The topic of a received message: its Topic Name, or the topic its
    /// Topic Alias stands for on this connection when the name is empty
    /// (5.0 §3.3.2.3.4). `None` for an alias the session cannot resolve; a
    /// message [`Session::handle_packet`] delivered resolves until the next
    /// connection begins.
    pub fn message_topic<'a>(&'a self, publish: &Publish<'a>) -> Option<&'a str> {
        match publish.properties.topic_alias() {
            Some(alias) if publish.topic.is_empty() => self.aliases.inbound_topic(alias),
            _ => Some(publish.topic),
        }
    }

    fn on_publish<'a>(&'a mut self, p: &Publish<'a>) -> Result<Option<Event<'a>>, SessionError> {
        // The alias maps or resolves whether or not the message is
        // delivered: the server's mapping changed when it sent it.
        if let Some(alias) = p.properties.topic_alias() {
            self.aliases.receive(p.topic, alias)?;
        }
        match p.qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => {
                if !self.take_inbound(Inbound::SendPubAck(p.packet_id)) {
                    return Ok(self.no_inbound_slot());
                }
            }
            QoS::ExactlyOnce => {
                let id = p.packet_id;
                let held = self.inbound.iter_mut().find(
                    |s| matches!(**s, Inbound::SendPubRec(x) | Inbound::AwaitPubRel(x) if x == id),
                );
                if let Some(slot) = held {
                    // §4.3.3: already delivered; acknowledge again, deliver not.
                    *slot = Inbound::SendPubRec(id);
                    return Ok(None);
                }
                let completed = self.completed.iter_mut().find(|c| **c == id);
                let resent = p.dup && completed.is_some();
                if !resent {
                    // Without DUP the server reuses the identifier for a
                    // new message.
                    if let Some(entry) = completed {
                        *entry = 0;
                    }
                }
                if !self.take_inbound(Inbound::SendPubRec(id)) {
                    return Ok(self.no_inbound_slot());
                }
                if resent {
                    // Completed already: acknowledge again, deliver not.
                    return Ok(None);
                }
            }
        }
        let topic = self.message_topic(p).ok_or(SessionError::ProtocolError)?;
        Ok(Some(Event::Message(Publish { topic, ..*p })))
    }

    fn on_puback<'a>(&mut self, a: &Ack<'_>) -> Option<Event<'a>> {
        let slot = self
            .outbound
            .iter_mut()
            .find(|s| **s == Outbound::AwaitPubAck(a.packet_id))?;
        *slot = Outbound::Free;
        Some(Event::Published {
            packet_id: a.packet_id,
            reason_code: a.reason_code,
        })
    }

    fn on_pubrec<'a>(&mut self, a: &Ack<'_>) -> Option<Event<'a>> {
        let id = a.packet_id;
        let slot = self.outbound.iter_mut().find(
            |s| matches!(**s, Outbound::AwaitPubRec(x) | Outbound::AwaitPubComp(x) if x == id),
        )?;
        if a.reason_code >= 0x80 {
            // 5.0 §4.3.3: a failed PUBREC ends the exchange.
            *slot = Outbound::Free;
            return Some(Event::Published {
                packet_id: id,
                reason_code: a.reason_code,
            });
        }
        *slot = Outbound::SendPubRel(id);
        None
    }

    fn on_pubrel<'a>(&mut self, a: &Ack<'_>) -> Result<Option<Event<'a>>, SessionError> {
        let id = a.packet_id;
        let held = self.inbound.iter_mut().find(|s| {
            matches!(**s, Inbound::SendPubRec(x) | Inbound::AwaitPubRel(x) | Inbound::SendPubComp(x)
                if x == id)
        });
        match held {
            Some(slot) => *slot = Inbound::SendPubComp(id),
            // Already completed: the PUBCOMP was lost, so send it again.
            None => {
                if !self.take_inbound(Inbound::SendPubComp(id)) {
                    return Ok(self.no_inbound_slot());
                }
            }
        }
        Ok(None)
    }

    fn on_pubcomp<'a>(&mut self, a: &Ack<'_>) -> Option<Event<'a>> {
        let slot = self
            .outbound
            .iter_mut()
            .find(|s| **s == Outbound::AwaitPubComp(a.packet_id))?;
        *slot = Outbound::Free;
        Some(Event::Published {
            packet_id: a.packet_id,
            reason_code: a.reason_code,
        })
    }

    /// Writes the next packet the session owes the server (PUBREL, PUBACK,
    /// PUBREC, PUBCOMP, PINGREQ) into `out`; `None` when nothing is owed.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        out: &mut [u8],
    ) -> Result<Option<usize>, SessionError> {
        if self.state != State::Connected {
            return Ok(None);
        }
        let mut packet = None;
        for slot in self.outbound.iter_mut() {
            if let Outbound::SendPubRel(id) = *slot {
                let n = encode_fixed(PacketType::PubRel, Some(id), out)?;
                *slot = Outbound::AwaitPubComp(id);
                packet = Some(n);
                break;
            }
        }
        let mut completed = None;
        if packet.is_none() {
            for slot in self.inbound.iter_mut() {
                let (ack, id, next) = match *slot {
                    Inbound::SendPubAck(id) => (PacketType::PubAck, id, Inbound::Free),
                    Inbound::SendPubRec(id) => (PacketType::PubRec, id, Inbound::AwaitPubRel(id)),
                    Inbound::SendPubComp(id) => (PacketType::PubComp, id, Inbound::Free),
                    Inbound::Free | Inbound::AwaitPubRel(_) => continue,
                };
                packet = Some(encode_fixed(ack, Some(id), out)?);
                *slot = next;
                completed = (ack == PacketType::PubComp).then_some(id);
                break;
            }
        }
        if let Some(id) = completed {
            self.remember_completed(id);
        }
        if packet.is_none() && self.ping_due {
            packet = Some(encode_fixed(PacketType::PingReq, None, out)?);
            self.ping_due = false;
            self.ping_sent = Some(now);
        }
        if packet.is_some() {
            self.last_transmit = now;
        }
        Ok(packet)
    }

    /// When [`Session::handle_timeout`] should next run: the keepalive
    /// deadline, or the PINGRESP deadline while a PINGREQ is outstanding.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state != State::Connected || self.keep_alive == Duration::ZERO {
            return None;
        }
        Some(match self.ping_sent {
            Some(sent) => sent + self.keep_alive,
            None => self.last_transmit + self.keep_alive,
        })
    }

    /// Runs the keepalive (§3.1.2.10): a PINGREQ becomes due once nothing
    /// was sent for the keepalive interval, and a PINGREQ unanswered for as
    /// long means the connection is dead.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), SessionError> {
        if self.state != State::Connected || self.keep_alive == Duration::ZERO {
            return Ok(());
        }
        match self.ping_sent {
            Some(sent) if now >= sent + self.keep_alive => {
                self.connection_lost();
                Err(SessionError::KeepAliveTimeout)
            }
            Some(_) => Ok(()),
            None => {
                if now >= self.last_transmit + self.keep_alive {
                    self.ping_due = true;
                }
                Ok(())
            }
        }
    }
}

/// `list[0]` followed by `rest`, in `list`; `None` when they do not fit,
/// or when `rest` holds wire bytes, which are not decoded again to be
/// copied.
pub(super) fn prepend<'l, 'p: 'l>(
    list: &'l mut [Property<'p>],
    rest: Properties<'p>,
) -> Option<Properties<'l>> {
    let rest: &[Property<'p>] = match rest {
        Properties::List(rest) => rest,
        Properties::Wire([]) => &[],
        Properties::Wire(_) => return None,
    };
    let len = rest.len() + 1;
    list.get_mut(1..len)?.copy_from_slice(rest);
    let list: &'l [Property<'p>] = list;
    list.get(..len).map(Properties::List)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::mqtt::alias::SLOT;
    use duet_netstack::rand::Rng;

    type S = Session<2, 4>;
    const V3: ProtocolVersion = ProtocolVersion::V311;

    fn at(secs: u64) -> Instant {
        Instant::from_secs(secs)
    }

    fn connect_packet(version: ProtocolVersion, clean_start: bool) -> Connect<'static> {
        const RM: &[Property<'static>] = &[Property::ReceiveMaximum(4)];
        Connect {
            version,
            clean_start,
            keep_alive: 10,
            properties: if version == V3 {
                Properties::EMPTY
            } else {
                Properties::List(RM)
            },
            client_id: "c",
            will: None,
            username: None,
            password: None,
        }
    }

    fn connack(session_present: bool, properties: Properties<'static>) -> Packet<'static> {
        Packet::ConnAck(ConnAck {
            session_present,
            reason_code: 0,
            properties,
        })
    }

    fn connected(version: ProtocolVersion) -> S {
        let mut s = S::new();
        let mut buf = [0u8; 64];
        s.connect(at(0), &connect_packet(version, true), &mut buf)
            .unwrap();
        let ev = s
            .handle_packet(at(0), &connack(false, Properties::EMPTY))
            .unwrap();
        assert_eq!(
            ev,
            Some(Event::Connected {
                session_present: false
            })
        );
        s
    }

    fn publish(qos: QoS, packet_id: u16) -> Publish<'static> {
        Publish {
            dup: false,
            qos,
            retain: false,
            topic: "t",
            packet_id,
            properties: Properties::EMPTY,
            payload: b"x",
        }
    }

    /// Drains poll_transmit, decoding each packet written.
    fn transmit(s: &mut S, now: Instant, sink: &mut [[u8; 16]; 8]) -> usize {
        let mut count = 0;
        while let Some(n) = s.poll_transmit(now, &mut sink[count]).unwrap() {
            assert!(n <= 16);
            count += 1;
        }
        count
    }

    fn decoded(bytes: &[u8]) -> Packet<'_> {
        Packet::decode(bytes, V3).unwrap().0
    }

    #[test]
    fn connect_writes_connect_and_refusal_is_reported() {
        let mut s = S::new();
        let mut buf = [0u8; 64];
        let n = s
            .connect(at(0), &connect_packet(V3, true), &mut buf)
            .unwrap();
        assert_eq!(&buf[..n], b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x0a\x00\x01c");
        assert_eq!(s.state(), State::Connecting);
        assert_eq!(
            s.publish(at(0), &publish(QoS::AtMostOnce, 0), &mut buf),
            Err(SessionError::NotConnected)
        );
        let refused = Packet::ConnAck(ConnAck {
            session_present: false,
            reason_code: 5,
            properties: Properties::EMPTY,
        });
        assert_eq!(
            s.handle_packet(at(0), &refused),
            Err(SessionError::ConnectionRefused(5))
        );
        assert_eq!(s.state(), State::Disconnected);
        // A 5.0 CONNECT must bound the server's in-flight QoS 1/2 messages.
        let mut v5 = connect_packet(ProtocolVersion::V5, true);
        v5.properties = Properties::EMPTY;
        assert_eq!(
            s.connect(at(0), &v5, &mut buf),
            Err(SessionError::ReceiveMaximumTooLarge)
        );
    }

    #[test]
    fn qos1_outbound_and_window_honours_receive_maximum() {
        let mut s = S::new();
        let mut buf = [0u8; 64];
        s.connect(at(0), &connect_packet(ProtocolVersion::V5, true), &mut buf)
            .unwrap();
        const RM1: &[Property<'static>] = &[Property::ReceiveMaximum(1)];
        s.handle_packet(at(0), &connack(false, Properties::List(RM1)))
            .unwrap();
        assert_eq!(s.window(), 1);
        let (n, id) = s
            .publish(at(1), &publish(QoS::AtLeastOnce, 0), &mut buf)
            .unwrap();
        let Packet::Publish(sent) = Packet::decode(&buf[..n], s.version()).unwrap().0 else {
            panic!("not a PUBLISH")
        };
        assert_eq!(
            (sent.packet_id, sent.qos, sent.dup),
            (id, QoS::AtLeastOnce, false)
        );
        assert_eq!(
            s.publish(at(1), &publish(QoS::AtLeastOnce, 0), &mut buf),
            Err(SessionError::WindowFull)
        );
        // QoS 0 does not count against the window.
        assert_eq!(
            s.publish(at(1), &publish(QoS::AtMostOnce, 0), &mut buf)
                .unwrap()
                .1,
            0
        );
        let ev = s
            .handle_packet(at(2), &Packet::PubAck(Ack::success(id)))
            .unwrap();
        assert_eq!(
            ev,
            Some(Event::Published {
                packet_id: id,
                reason_code: 0
            })
        );
        assert_eq!(s.in_flight(), 0);
        // A stray PUBACK changes nothing.
        assert_eq!(
            s.handle_packet(at(2), &Packet::PubAck(Ack::success(id))),
            Ok(None)
        );
    }

    #[test]
    fn publishes_above_the_servers_maximum_packet_size_are_refused() {
        let mut s = S::new();
        let mut buf = [0u8; 64];
        s.connect(at(0), &connect_packet(ProtocolVersion::V5, true), &mut buf)
            .unwrap();
        const MPS: &[Property<'static>] = &[Property::MaximumPacketSize(12)];
        s.handle_packet(at(0), &connack(false, Properties::List(MPS)))
            .unwrap();
        // Fixed header 2 + topic 3 + id 2 + properties 1 + payload 1 = 9 bytes.
        let small = publish(QoS::AtLeastOnce, 0);
        assert_eq!(s.publish(at(1), &small, &mut buf).unwrap().0, 9);
        let big = Publish {
            payload: b"longer",
            ..small
        };
        assert_eq!(
            s.publish(at(1), &big, &mut buf),
            Err(SessionError::PacketTooLarge)
        );
        // The refused publish took no slot.
        assert_eq!(s.in_flight(), 1);
    }

    #[test]
    fn publishes_beyond_the_servers_maximum_qos_or_retain_available_are_refused() {
        let mut s = S::new();
        let mut buf = [0u8; 64];
        s.connect(at(0), &connect_packet(ProtocolVersion::V5, true), &mut buf)
            .unwrap();
        const TERMS: &[Property<'static>] =
            &[Property::MaximumQos(1), Property::RetainAvailable(0)];
        s.handle_packet(at(0), &connack(false, Properties::List(TERMS)))
            .unwrap();
        let qos1 = publish(QoS::AtLeastOnce, 0);
        assert!(s.publish(at(1), &qos1, &mut buf).is_ok());
        let qos2 = publish(QoS::ExactlyOnce, 0);
        assert_eq!(
            s.publish(at(1), &qos2, &mut buf),
            Err(SessionError::QoSNotSupported)
        );
        let retained = Publish {
            retain: true,
            ..publish(QoS::AtMostOnce, 0)
        };
        assert_eq!(
            s.publish(at(1), &retained, &mut buf),
            Err(SessionError::RetainNotSupported)
        );
        // Neither refusal took a slot.
        assert_eq!(s.in_flight(), 1);

        // The next connection's CONNACK says nothing: QoS 2 and retained
        // messages are taken again (5.0 §3.2.2.3.4, §3.2.2.3.5).
        s.connection_lost();
        s.connect(at(2), &connect_packet(ProtocolVersion::V5, true), &mut buf)
            .unwrap();
        s.handle_packet(at(2), &connack(false, Properties::EMPTY))
            .unwrap();
        assert!(s.publish(at(3), &qos2, &mut buf).is_ok());
        assert!(s.publish(at(3), &retained, &mut buf).is_ok());
        // Maximum QoS 0: only QoS 0.
        s.connection_lost();
        s.connect(at(4), &connect_packet(ProtocolVersion::V5, true), &mut buf)
            .unwrap();
        const QOS0: &[Property<'static>] = &[Property::MaximumQos(0)];
        s.handle_packet(at(4), &connack(false, Properties::List(QOS0)))
            .unwrap();
        assert_eq!(
            s.publish(at(5), &qos1, &mut buf),
            Err(SessionError::QoSNotSupported)
        );
    }

    #[test]
    fn a_connack_with_a_forbidden_limit_is_a_protocol_error() {
        // 5.0 §3.2.2.3.3 to §3.2.2.3.6: each is a Protocol Error.
        const FORBIDDEN: [&[Property<'static>]; 4] = [
            &[Property::ReceiveMaximum(0)],
            &[Property::MaximumPacketSize(0)],
            &[Property::MaximumQos(2)],
            &[Property::RetainAvailable(2)],
        ];
        for properties in FORBIDDEN {
            let mut s = S::new();
            let mut buf = [0u8; 64];
            s.connect(at(0), &connect_packet(ProtocolVersion::V5, true), &mut buf)
                .unwrap();
            let error = s
                .handle_packet(at(0), &connack(false, Properties::List(properties)))
                .unwrap_err();
            assert_eq!(error, SessionError::ProtocolError, "{properties:?}");
            assert_eq!(error.reason_code(), Some(0x82));
            assert_ne!(s.state(), State::Connected, "{properties:?}");
        }
        // The edge values are fine.
        const ALLOWED: &[Property<'static>] = &[
            Property::ReceiveMaximum(1),
            Property::MaximumPacketSize(1),
            Property::MaximumQos(0),
            Property::RetainAvailable(1),
        ];
        let mut s = S::new();
        let mut buf = [0u8; 64];
        s.connect(at(0), &connect_packet(ProtocolVersion::V5, true), &mut buf)
            .unwrap();
        assert!(
            s.handle_packet(at(0), &connack(false, Properties::List(ALLOWED)))
                .is_ok()
        );
        assert_eq!(s.state(), State::Connected);
    }

    #[test]
    fn qos2_outbound_pubrec_pubrel_pubcomp() {
        let mut s = connected(V3);
        let mut buf = [0u8; 64];
        let mut sink = [[0u8; 16]; 8];
        let (_, id) = s
            .publish(at(1), &publish(QoS::ExactlyOnce, 0), &mut buf)
            .unwrap();
        assert_eq!(
            s.handle_packet(at(1), &Packet::PubRec(Ack::success(id))),
            Ok(None)
        );
        assert_eq!(transmit(&mut s, at(1), &mut sink), 1);
        assert_eq!(decoded(&sink[0]), Packet::PubRel(Ack::success(id)));
        // A repeated PUBREC gets the PUBREL again.
        s.handle_packet(at(1), &Packet::PubRec(Ack::success(id)))
            .unwrap();
        assert_eq!(transmit(&mut s, at(1), &mut sink), 1);
        let ev = s
            .handle_packet(at(2), &Packet::PubComp(Ack::success(id)))
            .unwrap();
        assert_eq!(
            ev,
            Some(Event::Published {
                packet_id: id,
                reason_code: 0
            })
        );
        assert_eq!(s.in_flight(), 0);
    }

    #[test]
    fn qos2_inbound_is_delivered_exactly_once() {
        let mut s = connected(V3);
        let mut sink = [[0u8; 16]; 8];
        let p = Packet::Publish(publish(QoS::ExactlyOnce, 5));
        assert!(matches!(
            s.handle_packet(at(1), &p),
            Ok(Some(Event::Message(_)))
        ));
        assert_eq!(transmit(&mut s, at(1), &mut sink), 1);
        assert_eq!(decoded(&sink[0]), Packet::PubRec(Ack::success(5)));
        // The server resends (lost PUBREC): acknowledged, not delivered.
        let dup = Packet::Publish(Publish {
            dup: true,
            ..publish(QoS::ExactlyOnce, 5)
        });
        assert_eq!(s.handle_packet(at(2), &dup), Ok(None));
        assert_eq!(transmit(&mut s, at(2), &mut sink), 1);
        assert_eq!(decoded(&sink[0]), Packet::PubRec(Ack::success(5)));
        assert_eq!(
            s.handle_packet(at(3), &Packet::PubRel(Ack::success(5))),
            Ok(None)
        );
        assert_eq!(transmit(&mut s, at(3), &mut sink), 1);
        assert_eq!(decoded(&sink[0]), Packet::PubComp(Ack::success(5)));
        // A repeated PUBREL still gets its PUBCOMP.
        s.handle_packet(at(3), &Packet::PubRel(Ack::success(5)))
            .unwrap();
        assert_eq!(transmit(&mut s, at(3), &mut sink), 1);
        assert_eq!(decoded(&sink[0]), Packet::PubComp(Ack::success(5)));
        // After PUBCOMP the identifier is free: id 5 is a new message.
        assert!(matches!(
            s.handle_packet(at(4), &p),
            Ok(Some(Event::Message(_)))
        ));
    }

    #[test]
    fn qos1_inbound_acknowledged_and_inbound_slots_bounded() {
        let mut s = connected(V3);
        let mut sink = [[0u8; 16]; 8];
        for id in 1..=4 {
            let p = Packet::Publish(publish(QoS::AtLeastOnce, id));
            assert!(matches!(
                s.handle_packet(at(1), &p),
                Ok(Some(Event::Message(_)))
            ));
        }
        // A fifth message is left unanswered (not delivered, not
        // acknowledged) for the next connection.
        assert!(!s.withheld());
        let p = Packet::Publish(publish(QoS::AtLeastOnce, 9));
        assert_eq!(s.handle_packet(at(1), &p), Ok(None));
        assert!(s.withheld());
        assert_eq!(s.inbound_pending(), 4);
        assert_eq!(transmit(&mut s, at(1), &mut sink), 4);
        for (i, bytes) in sink[..4].iter().enumerate() {
            assert_eq!(decoded(bytes), Packet::PubAck(Ack::success(i as u16 + 1)));
        }
        assert_eq!(s.inbound_pending(), 0);
        // A new connection clears the mark.
        s.connection_lost();
        s.connect(at(2), &connect_packet(V3, false), &mut [0u8; 64])
            .unwrap();
        assert!(!s.withheld());
    }

    #[test]
    fn a_v5_server_exceeding_our_receive_maximum_is_withheld_from() {
        let mut s = connected(ProtocolVersion::V5);
        for id in 1..=4 {
            let p = Packet::Publish(publish(QoS::ExactlyOnce, id));
            assert!(matches!(
                s.handle_packet(at(1), &p),
                Ok(Some(Event::Message(_)))
            ));
        }
        let p = Packet::Publish(publish(QoS::ExactlyOnce, 5));
        assert_eq!(s.handle_packet(at(1), &p), Ok(None));
        assert!(s.withheld());
        // Message 5 holds no slot: PUBREL for it is not answered either.
        s.handle_packet(at(1), &Packet::PubRel(Ack::success(5)))
            .unwrap();
        let mut sink = [[0u8; 16]; 8];
        assert_eq!(transmit(&mut s, at(1), &mut sink), 4);
        assert!(
            sink[..4]
                .iter()
                .all(|bytes| matches!(decoded(bytes), Packet::PubRec(a) if a.packet_id != 5))
        );
    }

    #[test]
    fn qos2_identifiers_stay_reserved_across_a_lost_connection() {
        let mut s = connected(V3);
        let mut sink = [[0u8; 16]; 8];
        let mut buf = [0u8; 64];
        // Message 7 delivered and PUBREC sent; message 8's PUBREL received
        // but its PUBCOMP not yet sent when the connection drops.
        for id in [7, 8] {
            s.handle_packet(at(1), &Packet::Publish(publish(QoS::ExactlyOnce, id)))
                .unwrap();
        }
        assert_eq!(transmit(&mut s, at(1), &mut sink), 2);
        s.handle_packet(at(1), &Packet::PubRel(Ack::success(8)))
            .unwrap();
        s.connection_lost();
        s.connect(at(2), &connect_packet(V3, false), &mut buf)
            .unwrap();
        s.handle_packet(at(2), &connack(true, Properties::EMPTY))
            .unwrap();
        assert_eq!(s.inbound_pending(), 2);
        // Nothing is owed until the server resends.
        assert_eq!(transmit(&mut s, at(2), &mut sink), 0);
        // The resent PUBLISH 7 is acknowledged, not delivered again; the
        // resent PUBREL 8 is completed.
        let dup = Packet::Publish(Publish {
            dup: true,
            ..publish(QoS::ExactlyOnce, 7)
        });
        assert_eq!(s.handle_packet(at(2), &dup), Ok(None));
        s.handle_packet(at(2), &Packet::PubRel(Ack::success(8)))
            .unwrap();
        assert_eq!(transmit(&mut s, at(2), &mut sink), 2);
        assert_eq!(decoded(&sink[0]), Packet::PubRec(Ack::success(7)));
        assert_eq!(decoded(&sink[1]), Packet::PubComp(Ack::success(8)));
        assert_eq!(s.inbound_pending(), 1);
    }

    #[test]
    fn a_completed_qos2_message_resent_after_pubrel_is_not_delivered_again() {
        let mut s = connected(V3);
        let mut sink = [[0u8; 16]; 8];
        let p = publish(QoS::ExactlyOnce, 3);
        assert!(matches!(
            s.handle_packet(at(1), &Packet::Publish(p)),
            Ok(Some(Event::Message(_)))
        ));
        assert_eq!(transmit(&mut s, at(1), &mut sink), 1);
        s.handle_packet(at(1), &Packet::PubRel(Ack::success(3)))
            .unwrap();
        assert_eq!(transmit(&mut s, at(1), &mut sink), 1);
        assert_eq!(decoded(&sink[0]), Packet::PubComp(Ack::success(3)));
        assert_eq!(s.inbound_pending(), 0);
        // The connection drops before the server reads PUBCOMP; on the next
        // one it sends the PUBLISH again (DUP), which §4.3.3 forbids after
        // PUBREL: acknowledged, not delivered.
        s.connection_lost();
        s.connect(at(2), &connect_packet(V3, false), &mut [0u8; 64])
            .unwrap();
        s.handle_packet(at(2), &connack(true, Properties::EMPTY))
            .unwrap();
        let resent = Packet::Publish(Publish { dup: true, ..p });
        assert_eq!(s.handle_packet(at(2), &resent), Ok(None));
        assert_eq!(transmit(&mut s, at(2), &mut sink), 1);
        assert_eq!(decoded(&sink[0]), Packet::PubRec(Ack::success(3)));
        s.handle_packet(at(2), &Packet::PubRel(Ack::success(3)))
            .unwrap();
        assert_eq!(transmit(&mut s, at(2), &mut sink), 1);
        // Without DUP the identifier is in use again: a new message.
        assert!(matches!(
            s.handle_packet(at(3), &Packet::Publish(p)),
            Ok(Some(Event::Message(_)))
        ));
        assert_eq!(transmit(&mut s, at(3), &mut sink), 1);
        // The record of a completion is kept for the last INBOUND (4) of
        // them: after four more, a resend of 3 is taken for a new message.
        s.handle_packet(at(3), &Packet::PubRel(Ack::success(3)))
            .unwrap();
        assert_eq!(transmit(&mut s, at(3), &mut sink), 1);
        for id in 10..14 {
            s.handle_packet(at(4), &Packet::Publish(publish(QoS::ExactlyOnce, id)))
                .unwrap();
            transmit(&mut s, at(4), &mut sink);
            s.handle_packet(at(4), &Packet::PubRel(Ack::success(id)))
                .unwrap();
            transmit(&mut s, at(4), &mut sink);
        }
        assert!(matches!(
            s.handle_packet(at(5), &resent),
            Ok(Some(Event::Message(_)))
        ));
    }

    #[test]
    fn keepalive_pings_and_detects_a_dead_peer() {
        let mut s = connected(V3);
        let mut sink = [[0u8; 16]; 8];
        assert_eq!(s.poll_timeout(), Some(at(10)));
        s.handle_timeout(at(9)).unwrap();
        assert_eq!(transmit(&mut s, at(9), &mut sink), 0);
        s.handle_timeout(at(10)).unwrap();
        assert_eq!(transmit(&mut s, at(10), &mut sink), 1);
        assert_eq!(decoded(&sink[0]), Packet::PingReq);
        assert_eq!(s.poll_timeout(), Some(at(20)));
        s.handle_packet(at(11), &Packet::PingResp).unwrap();
        assert_eq!(s.poll_timeout(), Some(at(20)));
        s.handle_timeout(at(20)).unwrap();
        assert_eq!(transmit(&mut s, at(20), &mut sink), 1);
        // No PINGRESP this time.
        assert_eq!(s.handle_timeout(at(29)), Ok(()));
        assert_eq!(
            s.handle_timeout(at(30)),
            Err(SessionError::KeepAliveTimeout)
        );
        assert_eq!(s.state(), State::Disconnected);
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn resumed_session_resends_pubrel_and_unacknowledged_publishes() {
        let mut s = connected(V3);
        let mut buf = [0u8; 64];
        let mut sink = [[0u8; 16]; 8];
        let (_, q1) = s
            .publish(at(1), &publish(QoS::AtLeastOnce, 0), &mut buf)
            .unwrap();
        let (_, q2) = s
            .publish(at(1), &publish(QoS::ExactlyOnce, 0), &mut buf)
            .unwrap();
        s.handle_packet(at(1), &Packet::PubRec(Ack::success(q2)))
            .unwrap();
        assert_eq!(transmit(&mut s, at(1), &mut sink), 1);
        s.connection_lost();
        s.connect(at(5), &connect_packet(V3, false), &mut buf)
            .unwrap();
        let ev = s
            .handle_packet(at(5), &connack(true, Properties::EMPTY))
            .unwrap();
        assert_eq!(
            ev,
            Some(Event::Connected {
                session_present: true
            })
        );
        assert_eq!(transmit(&mut s, at(5), &mut sink), 1);
        assert_eq!(decoded(&sink[0]), Packet::PubRel(Ack::success(q2)));
        assert!(s.unacknowledged().eq([q1]));
        let n = s
            .republish(at(5), q1, &publish(QoS::AtLeastOnce, 0), &mut buf)
            .unwrap();
        let Packet::Publish(again) = decoded(&buf[..n]) else {
            panic!("not a PUBLISH")
        };
        assert!(again.dup);
        assert_eq!((again.packet_id, again.qos), (q1, QoS::AtLeastOnce));
        assert_eq!(
            s.republish(at(5), q2, &publish(QoS::ExactlyOnce, 0), &mut buf),
            Err(SessionError::UnknownPacketId)
        );
        // A new session (server kept nothing) frees every identifier.
        s.connection_lost();
        s.connect(at(6), &connect_packet(V3, false), &mut buf)
            .unwrap();
        s.handle_packet(at(6), &connack(false, Properties::EMPTY))
            .unwrap();
        assert_eq!(s.in_flight(), 0);
        assert_eq!(transmit(&mut s, at(6), &mut sink), 0);
    }

    #[test]
    fn out_of_turn_packets_are_protocol_errors() {
        let mut s = S::new();
        assert_eq!(
            s.handle_packet(at(0), &Packet::PingResp),
            Err(SessionError::ProtocolError)
        );
        let mut s = connected(V3);
        assert_eq!(
            s.handle_packet(at(0), &Packet::PingReq),
            Err(SessionError::ProtocolError)
        );
        assert_eq!(
            s.handle_packet(at(0), &connack(false, Properties::EMPTY)),
            Err(SessionError::ProtocolError)
        );
    }

    #[test]
    fn random_server_packets_in_every_state_in_3_1_1() {
        let seen = drive_with_random_server_packets(&mut S::new(), V3, 42, 200_000);
        // The packets reach every path that matters, not just the decoder.
        assert!(seen.connected > 5_000, "{seen:?}");
        assert!(seen.acknowledged > 50, "{seen:?}");
        assert!(seen.messages > 1_000, "{seen:?}");
        assert!(seen.closed_with[&0x82] > 1_000, "{seen:?}");
    }

    #[test]
    fn random_server_packets_in_every_state_in_5_0_with_topic_aliases() {
        let mut session = Aliased::with_topic_aliases([0; 4 * SLOT]);
        let seen = drive_with_random_server_packets(&mut session, V5, 43, 200_000);
        assert!(seen.connected > 5_000, "{seen:?}");
        assert!(seen.acknowledged > 50, "{seen:?}");
        assert!(seen.messages > 1_000, "{seen:?}");
        // Out of turn or forbidden limits (0x82) and unknown aliases
        // (0x94) among them.
        assert!(seen.closed_with[&0x82] > 1_000, "{seen:?}");
        assert!(seen.closed_with[&0x94] > 100, "{seen:?}");
    }

    /// A packet a server might send, written into `buf`: a valid one of a
    /// random type (mostly CONNACK while `connecting`, else mostly not),
    /// with identifiers mostly from `recent_ids` (the session's last
    /// publishes), random reason codes and (in 5.0) up to three properties
    /// drawn from those that steer the session, then, one time in five,
    /// with a few bytes changed. Returns its length (0: the codec would
    /// not write it, a property in a packet that may not carry it).
    fn random_server_packet(
        rng: &mut Rng,
        version: ProtocolVersion,
        connecting: bool,
        recent_ids: &[u16; 4],
        buf: &mut [u8],
    ) -> usize {
        let mut pick = |n: usize| rng.below(n as u32) as usize;
        let small = pick(5) as u16;
        let pool = [
            Property::ReceiveMaximum(small),
            Property::MaximumQos(pick(3) as u8),
            Property::RetainAvailable(pick(3) as u8),
            Property::MaximumPacketSize(pick(3) as u32 * 40),
            Property::TopicAliasMaximum(small),
            Property::TopicAlias(small),
            Property::ServerKeepAlive(small),
            Property::SubscriptionIdentifier(1 + small as u32),
            Property::ReasonString("why"),
            Property::UserProperty("k", "v"),
        ];
        let mut chosen = [Property::ReasonString(""); 3];
        let count = if version == V5 { pick(4) } else { 0 };
        for slot in chosen.iter_mut().take(count) {
            *slot = pool[pick(pool.len())];
        }
        let properties = Properties::List(&chosen[..count]);
        let packet_id = match pick(4) {
            0 => 1 + pick(6) as u16,
            _ => recent_ids[pick(4)],
        };
        let reason_code = [0, 0, 0x10, 0x80, 0x87, 0x92][pick(6)];
        let granted = [pick(3) as u8, 0x80];
        let granted = &granted[..1 + pick(2)];
        let ack = Ack {
            packet_id,
            reason_code,
            properties,
        };
        let qos = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce][pick(3)];
        let kind = match (connecting, pick(10)) {
            (true, 0) | (false, _) => pick(12),
            (true, _) => 0,
        };
        let packet = match kind {
            0 => Packet::ConnAck(ConnAck {
                session_present: pick(2) == 0,
                reason_code: if pick(4) == 0 { 0x87 } else { 0 },
                properties,
            }),
            1..=3 => Packet::Publish(Publish {
                dup: pick(4) == 0,
                qos,
                retain: pick(4) == 0,
                topic: ["a/b", "", "c"][pick(3)],
                packet_id: if qos == QoS::AtMostOnce { 0 } else { packet_id },
                properties,
                payload: b"x",
            }),
            4 => Packet::PubAck(ack),
            5 => Packet::PubRec(ack),
            6 => Packet::PubRel(ack),
            7 => Packet::PubComp(ack),
            8 => Packet::SubAck(SubAck {
                packet_id,
                properties,
                reason_codes: granted,
            }),
            9 => Packet::UnsubAck(UnsubAck {
                packet_id,
                properties,
                reason_codes: granted,
            }),
            10 => Packet::PingResp,
            _ => Packet::Disconnect(Disconnect {
                reason_code,
                properties,
            }),
        };
        let Ok(n) = packet.encode(version, buf) else {
            return 0;
        };
        if pick(5) == 0 {
            for _ in 0..1 + pick(3) {
                let at = pick(n);
                buf[at] = pick(256) as u8;
            }
        }
        n
    }

    /// What [`drive_with_random_server_packets`] saw.
    #[derive(Debug, Default)]
    struct Seen {
        connected: u32,
        acknowledged: u32,
        messages: u32,
        /// Errors that close the connection, by reason code.
        closed_with: std::collections::BTreeMap<u8, u32>,
    }

    /// `steps` turns of random calls on `session`, the server's packets
    /// from [`random_server_packet`]: the session never panics, never has
    /// more in flight than its window, and every packet it refuses comes
    /// with the reason code of the DISCONNECT that closes the connection
    /// (5.0 §4.13; the caller then drops the connection, as here), but a
    /// CONNACK's own refusal, after which the server closes it.
    fn drive_with_random_server_packets<const W: usize, const I: usize, A>(
        session: &mut Session<W, I, A>,
        version: ProtocolVersion,
        seed: u64,
        steps: u64,
    ) -> Seen
    where
        A: AsRef<[u8]> + AsMut<[u8]>,
    {
        let mut rng = Rng::new(seed);
        let mut input = [0u8; 128];
        let mut out = [0u8; 128];
        let mut seen = Seen::default();
        let mut recent_ids = [1u16; 4];
        for step in 0..steps {
            let now = Instant::from_millis(step * 100);
            // No server speaks to a session without a connection: it
            // connects (or reconnects) first.
            let disconnected = session.state() == State::Disconnected;
            match if disconnected { 0 } else { rng.below(10) } {
                0 => {
                    let clean = rng.chance(500_000);
                    let _ = session.connect(now, &connect_packet(version, clean), &mut out);
                }
                1 if rng.chance(100_000) => session.connection_lost(),
                2 => {
                    let qos = QoS::from_bits(rng.below(3) as u8).unwrap_or(QoS::AtMostOnce);
                    if let Ok((_, id)) = session.publish(now, &publish(qos, 0), &mut out)
                        && id != 0
                    {
                        recent_ids[step as usize % 4] = id;
                    }
                }
                3 => {
                    let _ = session.handle_timeout(now);
                    while let Ok(Some(_)) = session.poll_transmit(now, &mut out) {}
                }
                _ => {
                    let connecting = session.state() == State::Connecting;
                    let n = random_server_packet(
                        &mut rng,
                        version,
                        connecting,
                        &recent_ids,
                        &mut input,
                    );
                    let Ok((packet, _)) = Packet::decode_from_server(&input[..n], version) else {
                        continue;
                    };
                    match session.handle_packet(now, &packet) {
                        Ok(Some(Event::Connected { .. })) => seen.connected += 1,
                        Ok(Some(Event::Published { .. })) => seen.acknowledged += 1,
                        Ok(Some(Event::Message(_))) => seen.messages += 1,
                        Ok(_) | Err(SessionError::ConnectionRefused(_)) => {}
                        Err(error) => {
                            let code = error.reason_code();
                            assert!(code.is_some(), "{error:?} from {packet:?}");
                            *seen.closed_with.entry(code.unwrap_or(0)).or_default() += 1;
                            session.connection_lost();
                        }
                    }
                }
            }
            assert!(session.in_flight() <= session.window().max(2));
        }
        seen
    }

    /// Topic aliases: four slots, two each way.
    type Aliased = Session<2, 4, [u8; 4 * SLOT]>;
    const V5: ProtocolVersion = ProtocolVersion::V5;

    /// An [`Aliased`] session connected to a 5.0 server that allows
    /// `server` aliases (`None`: it says nothing, so none).
    fn aliased(server: Option<u16>) -> Aliased {
        let mut s = Aliased::with_topic_aliases([0; 4 * SLOT]);
        let mut buf = [0u8; 64];
        s.connect(at(0), &connect_packet(V5, true), &mut buf)
            .unwrap();
        let list = server.map(Property::TopicAliasMaximum);
        let ack = Packet::ConnAck(ConnAck {
            session_present: false,
            reason_code: 0,
            properties: Properties::List(list.as_slice()),
        });
        s.handle_packet(at(0), &ack).unwrap();
        s
    }

    /// A PUBLISH on `topic` written by the session: (topic, alias) sent.
    fn sent<'b>(
        s: &mut Aliased,
        topic: &'static str,
        properties: Properties<'static>,
        buf: &'b mut [u8],
    ) -> (&'b str, Option<u16>) {
        let p = Publish {
            topic,
            properties,
            ..publish(QoS::AtMostOnce, 0)
        };
        let n = s.publish(at(1), &p, buf).unwrap().0;
        let Packet::Publish(p) = Packet::decode(&buf[..n], V5).unwrap().0 else {
            panic!("not a PUBLISH")
        };
        (p.topic, p.properties.topic_alias())
    }

    fn aliased_publish(
        topic: &'static str,
        alias: &'static [Property<'static>],
    ) -> Publish<'static> {
        Publish {
            topic,
            properties: Properties::List(alias),
            ..publish(QoS::AtMostOnce, 0)
        }
    }

    #[test]
    fn a_v5_connect_announces_the_inbound_alias_slots() {
        let mut buf = [0u8; 64];
        let announced = |s: &mut Aliased, connect: &Connect<'_>, buf: &mut [u8]| {
            let n = s.connect(at(0), connect, buf).unwrap();
            let Packet::Connect(c) = Packet::decode(&buf[..n], connect.version).unwrap().0 else {
                panic!("not a CONNECT")
            };
            // The caller's properties stay.
            assert_eq!(
                c.properties.receive_maximum(),
                connect.properties.receive_maximum()
            );
            (
                c.properties.topic_alias_maximum(),
                s.topic_aliases().inbound_maximum(),
            )
        };
        let mut s = Aliased::with_topic_aliases([0; 4 * SLOT]);
        // Half the slots by default.
        assert_eq!(
            announced(&mut s, &connect_packet(V5, true), &mut buf),
            (Some(2), 2)
        );
        // A CONNECT that carries its own maximum announces that.
        const ONE: &[Property<'static>] =
            &[Property::ReceiveMaximum(4), Property::TopicAliasMaximum(1)];
        let mut own = connect_packet(V5, true);
        own.properties = Properties::List(ONE);
        assert_eq!(announced(&mut s, &own, &mut buf), (Some(1), 1));
        // ... at most the slots there are.
        const FIVE: &[Property<'static>] =
            &[Property::ReceiveMaximum(4), Property::TopicAliasMaximum(5)];
        own.properties = Properties::List(FIVE);
        assert_eq!(
            s.connect(at(0), &own, &mut buf),
            Err(SessionError::TopicAliasMaximumTooLarge)
        );
        // 3.1.1 has no aliases; no storage, none announced.
        assert_eq!(
            announced(&mut s, &connect_packet(V3, true), &mut buf),
            (None, 0)
        );
        let mut none = S::new();
        let n = none
            .connect(at(0), &connect_packet(V5, true), &mut buf)
            .unwrap();
        let Packet::Connect(c) = Packet::decode(&buf[..n], V5).unwrap().0 else {
            panic!("not a CONNECT")
        };
        assert_eq!(c.properties.topic_alias_maximum(), None);
    }

    #[test]
    fn publishes_use_the_aliases_the_server_allows() {
        let mut buf = [0u8; 64];
        let mut s = aliased(Some(10));
        // Two outbound slots: the server's ten are more than we have.
        assert_eq!(s.topic_aliases().outbound_maximum(), 2);
        let none = Properties::EMPTY;
        assert_eq!(sent(&mut s, "a/1", none, &mut buf), ("a/1", Some(1)));
        assert_eq!(sent(&mut s, "a/1", none, &mut buf), ("", Some(1)));
        assert_eq!(sent(&mut s, "b/2", none, &mut buf), ("b/2", Some(2)));
        assert_eq!(sent(&mut s, "b/2", none, &mut buf), ("", Some(2)));
        // A third topic takes over the oldest alias.
        assert_eq!(sent(&mut s, "c/3", none, &mut buf), ("c/3", Some(1)));
        assert_eq!(sent(&mut s, "a/1", none, &mut buf), ("a/1", Some(2)));
        assert_eq!(sent(&mut s, "c/3", none, &mut buf), ("", Some(1)));
        // QoS 1 too.
        let p = Publish {
            topic: "a/1",
            ..publish(QoS::AtLeastOnce, 0)
        };
        let (n, id) = s.publish(at(1), &p, &mut buf).unwrap();
        let Packet::Publish(q) = Packet::decode(&buf[..n], V5).unwrap().0 else {
            panic!("not a PUBLISH")
        };
        assert_eq!((q.topic, q.packet_id), ("", id));
        assert_eq!(q.properties.topic_alias(), Some(2));
        // A publish with properties of its own goes as it is.
        const EXPIRY: &[Property<'static>] = &[Property::MessageExpiryInterval(9)];
        let expiry = Properties::List(EXPIRY);
        assert_eq!(sent(&mut s, "a/1", expiry, &mut buf), ("a/1", None));
        // A server that says nothing allows none; 3.1.1 has none.
        let mut s = aliased(None);
        assert_eq!(sent(&mut s, "a/1", none, &mut buf), ("a/1", None));
        assert_eq!(sent(&mut s, "a/1", none, &mut buf), ("a/1", None));
        let mut s = Aliased::with_topic_aliases([0; 4 * SLOT]);
        s.connect(at(0), &connect_packet(V3, true), &mut buf)
            .unwrap();
        s.handle_packet(at(0), &connack(false, Properties::EMPTY))
            .unwrap();
        let p = Publish {
            topic: "a/1",
            ..publish(QoS::AtMostOnce, 0)
        };
        for _ in 0..2 {
            let n = s.publish(at(1), &p, &mut buf).unwrap().0;
            assert_eq!(decoded(&buf[..n]), Packet::Publish(p));
        }
    }

    #[test]
    fn a_new_connection_names_every_topic_in_full_again() {
        let mut buf = [0u8; 64];
        let mut s = aliased(Some(1));
        let p = Publish {
            topic: "a/1",
            ..publish(QoS::AtLeastOnce, 0)
        };
        s.publish(at(1), &p, &mut buf).unwrap();
        let (n, id) = s.publish(at(1), &p, &mut buf).unwrap();
        let Packet::Publish(q) = Packet::decode(&buf[..n], V5).unwrap().0 else {
            panic!("not a PUBLISH")
        };
        assert_eq!((q.topic, q.properties.topic_alias()), ("", Some(1)));
        s.connection_lost();
        s.connect(at(2), &connect_packet(V5, false), &mut buf)
            .unwrap();
        const ONE: &[Property<'static>] = &[Property::TopicAliasMaximum(1)];
        s.handle_packet(at(2), &connack(true, Properties::List(ONE)))
            .unwrap();
        // The resend names its topic before the alias stands for it.
        let n = s.republish(at(2), id, &p, &mut buf).unwrap();
        let Packet::Publish(q) = Packet::decode(&buf[..n], V5).unwrap().0 else {
            panic!("not a PUBLISH")
        };
        assert!(q.dup);
        assert_eq!((q.topic, q.properties.topic_alias()), ("a/1", Some(1)));
        let qos0 = Publish {
            qos: QoS::AtMostOnce,
            ..p
        };
        let n = s.publish(at(2), &qos0, &mut buf).unwrap().0;
        let Packet::Publish(q) = Packet::decode(&buf[..n], V5).unwrap().0 else {
            panic!("not a PUBLISH")
        };
        assert_eq!((q.topic, q.properties.topic_alias()), ("", Some(1)));
    }

    #[test]
    fn a_publish_with_its_own_alias_is_sent_as_it_is() {
        let mut buf = [0u8; 64];
        let mut s = aliased(Some(10));
        let none = Properties::EMPTY;
        assert_eq!(sent(&mut s, "a/1", none, &mut buf), ("a/1", Some(1)));
        // The caller maps alias 1 to its own topic on the server ...
        const OWN: &[Property<'static>] = &[Property::TopicAlias(1)];
        let own = Properties::List(OWN);
        assert_eq!(sent(&mut s, "z", own, &mut buf), ("z", Some(1)));
        assert_eq!(sent(&mut s, "", own, &mut buf), ("", Some(1)));
        // ... so ours is forgotten, and "a/1" is named again.
        assert_eq!(sent(&mut s, "a/1", none, &mut buf), ("a/1", Some(1)));
        assert_eq!(sent(&mut s, "a/1", none, &mut buf), ("", Some(1)));
        // A topic too long for a slot goes in full, without an alias.
        let long: &'static str = "l".repeat(64).leak();
        let mut big = [0u8; 128];
        assert_eq!(sent(&mut s, long, none, &mut big), (long, None));
    }

    #[test]
    fn received_aliases_resolve_to_full_topics() {
        let mut s = aliased(Some(10));
        let mut sink = [[0u8; 16]; 8];
        const ONE: &[Property<'static>] = &[Property::TopicAlias(1)];
        const TWO: &[Property<'static>] = &[Property::TopicAlias(2)];
        let topic_of = |event: Result<Option<Event<'_>>, SessionError>| match event {
            Ok(Some(Event::Message(p))) => std::string::String::from(p.topic),
            other => panic!("no message: {other:?}"),
        };
        assert_eq!(
            topic_of(s.handle_packet(at(1), &Packet::Publish(aliased_publish("in/t", ONE)))),
            "in/t"
        );
        let empty = aliased_publish("", ONE);
        assert_eq!(
            topic_of(s.handle_packet(at(1), &Packet::Publish(empty))),
            "in/t"
        );
        assert_eq!(s.message_topic(&empty), Some("in/t"));
        // At QoS 1: delivered with its topic, and acknowledged.
        let qos1 = Publish {
            qos: QoS::AtLeastOnce,
            packet_id: 7,
            ..empty
        };
        assert_eq!(
            topic_of(s.handle_packet(at(1), &Packet::Publish(qos1))),
            "in/t"
        );
        assert_eq!(transmit_aliased(&mut s, &mut sink), 1);
        // Re-mapped, alias 1 stands for the new topic; alias 2 is apart.
        s.handle_packet(at(1), &Packet::Publish(aliased_publish("in/u", ONE)))
            .unwrap();
        s.handle_packet(at(1), &Packet::Publish(aliased_publish("in/v", TWO)))
            .unwrap();
        assert_eq!(
            topic_of(s.handle_packet(at(1), &Packet::Publish(empty))),
            "in/u"
        );
        assert_eq!(
            topic_of(s.handle_packet(at(1), &Packet::Publish(aliased_publish("", TWO)))),
            "in/v"
        );
        // Still resolved after the connection is lost, until the next.
        s.connection_lost();
        assert_eq!(s.message_topic(&empty), Some("in/u"));
        s.connect(at(2), &connect_packet(V5, false), &mut [0u8; 64])
            .unwrap();
        assert_eq!(s.message_topic(&empty), None);
    }

    fn transmit_aliased(s: &mut Aliased, sink: &mut [[u8; 16]; 8]) -> usize {
        let mut count = 0;
        while let Some(n) = s.poll_transmit(at(1), &mut sink[count]).unwrap() {
            assert!(n <= 16);
            count += 1;
        }
        count
    }

    #[test]
    fn invalid_received_aliases_close_the_connection_with_0x94_or_0x82() {
        const ZERO: &[Property<'static>] = &[Property::TopicAlias(0)];
        const TWO: &[Property<'static>] = &[Property::TopicAlias(2)];
        const THREE: &[Property<'static>] = &[Property::TopicAlias(3)];
        let mut sink = [[0u8; 16]; 8];
        for (topic, alias, expected, reason) in [
            ("t", ZERO, SessionError::TopicAliasInvalid, 0x94),
            ("t", THREE, SessionError::TopicAliasInvalid, 0x94),
            // Unmapped: a Protocol Error.
            ("", TWO, SessionError::ProtocolError, 0x82),
        ] {
            let mut s = aliased(Some(10));
            // Invalid before anything else: a QoS 1 message is neither
            // delivered nor acknowledged.
            let p = Publish {
                qos: QoS::AtLeastOnce,
                packet_id: 3,
                ..aliased_publish(topic, alias)
            };
            let error = s.handle_packet(at(1), &Packet::Publish(p)).unwrap_err();
            assert_eq!(error, expected);
            assert_eq!(transmit_aliased(&mut s, &mut sink), 0);
            let mut buf = [0u8; 16];
            let n = s.abort(error, &mut buf).unwrap().unwrap();
            assert_eq!(&buf[..n], &[0xe0, 2, reason, 0]);
            assert_eq!(s.state(), State::Disconnected);
        }
        // Without alias storage no alias is valid.
        let mut s = connected(V5);
        const ONE: &[Property<'static>] = &[Property::TopicAlias(1)];
        assert_eq!(
            s.handle_packet(at(1), &Packet::Publish(aliased_publish("t", ONE))),
            Err(SessionError::TopicAliasInvalid)
        );
        // The server's topic was too long to keep: 0x83 when it is used.
        let mut s = aliased(Some(10));
        let long: &'static str = "l".repeat(64).leak();
        let one = |topic| Packet::Publish(aliased_publish(topic, ONE));
        assert!(matches!(
            s.handle_packet(at(1), &one(long)),
            Ok(Some(Event::Message(p))) if p.topic == long
        ));
        let error = s.handle_packet(at(1), &one("")).unwrap_err();
        assert_eq!(error, SessionError::AliasedTopicTooLong);
        let mut buf = [0u8; 16];
        let n = s.abort(error, &mut buf).unwrap().unwrap();
        assert_eq!(&buf[..n], &[0xe0, 2, 0x83, 0]);
        // 3.1.1: a DISCONNECT would mean a normal close; none is written.
        let mut s = connected(V3);
        assert_eq!(s.abort(SessionError::ProtocolError, &mut buf), Ok(None));
        assert_eq!(s.state(), State::Disconnected);
    }

    /// Random 5.0 PUBLISHes with random aliases: the session never panics,
    /// and every message it delivers has a full topic, the one a model of
    /// the server's mappings says.
    #[test]
    fn random_aliases_deliver_full_topics_or_fail() {
        const TOPICS: [&str; 4] = ["", "a", "b/c", "d/e/f"];
        let mut rng = Rng::new(9);
        let mut s = aliased(Some(10));
        let mut model: [Option<&str>; 3] = [None; 3];
        for step in 0..20_000 {
            let alias = rng.below(4) as u16;
            let topic = TOPICS[rng.below(4) as usize];
            let list = [Property::TopicAlias(alias)];
            let qos = QoS::from_bits(rng.below(3) as u8).unwrap();
            let p = Publish {
                qos,
                packet_id: if qos == QoS::AtMostOnce {
                    0
                } else {
                    1 + step % 4
                },
                properties: Properties::List(if rng.chance(100_000) { &[] } else { &list }),
                topic,
                ..publish(QoS::AtMostOnce, 0)
            };
            if topic.is_empty() && p.properties.is_empty() {
                continue;
            }
            let slot = usize::from(alias).wrapping_sub(1);
            let expected = match p.properties.topic_alias() {
                None => Ok(Some(topic)),
                Some(0) | Some(3..) => Err(SessionError::TopicAliasInvalid),
                Some(_) if !topic.is_empty() => {
                    model[slot] = Some(topic);
                    Ok(Some(topic))
                }
                Some(_) => model[slot].map(Some).ok_or(SessionError::ProtocolError),
            };
            match (s.handle_packet(at(1), &Packet::Publish(p)), expected) {
                (Ok(Some(Event::Message(m))), Ok(Some(t))) => assert_eq!(m.topic, t),
                // A QoS 2 resend or a full inbound window: not delivered.
                (Ok(None), Ok(_)) => {}
                (Err(e), Err(x)) => assert_eq!(e, x),
                (got, want) => panic!("{got:?}, expected {want:?}"),
            }
            while let Ok(Some(_)) = s.poll_transmit(at(1), &mut [0u8; 16]) {}
            if rng.chance(10_000) {
                s.handle_packet(at(1), &Packet::PubRel(Ack::success(1 + step % 4)))
                    .unwrap();
            }
        }
    }
}
