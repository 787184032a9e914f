//! The async MQTT client: the sans-IO [`Session`] over a transport that a
//! [`Connector`] opens (a Duet TCP socket, TLS over it, a std stream), with
//! automatic reconnection, exponential backoff with jitter, and an
//! [`Outbox`] in caller memory that holds publishes made while disconnected
//! and resends unacknowledged ones when the session resumes.
//!
//! The application calls [`Client::poll`] in a loop; each call does what
//! is due — connect (after the backoff), flush the outbox, send the
//! acknowledgements and PINGREQs the session owes, read the transport or
//! wait for the keep-alive timer — and returns one [`ClientEvent`].

use duet_netstack::no_memmove::copy_within;
use duet_netstack::time::{Duration, Instant, div_by_1000};
use embassy_futures::select::{Either, select};
use embedded_io_async::{Read, Write};

pub use crate::connector::Connector;

use super::codec::{
    Connect, Packet, Properties, Property, ProtocolVersion, Publish, QoS, SUBACK_FAILURE, frame_len,
};
use super::outbox::{Expired, Outbox, OutboxFull, OutboxStore, RecordState};
use super::session::{COPIED_PROPERTIES, Event, Session, SessionError, State, prepend};

/// The client's time: the current instant, and a wait until one. On a
/// device this is embassy-time; the client keeps no timer of its own.
#[allow(async_fn_in_trait)]
pub trait Clock {
    fn now(&self) -> Instant;

    async fn sleep_until(&self, deadline: Instant);
}

/// Waits between connection attempts: `initial` after the first failure,
/// doubling up to `max`, each wait drawn uniformly from its upper half
/// (jitter, so a fleet that lost the broker together does not come back
/// together).
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(60),
        }
    }
}

/// What [`Client::poll`] reports.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientEvent<'a> {
    /// CONNACK accepted a connection; queued publishes are going out.
    Connected { session_present: bool },
    /// A connection attempt failed; the next one follows the backoff.
    ConnectFailed,
    /// The connection was lost (transport error or end, keep-alive
    /// timeout); the next poll reconnects after the backoff.
    Disconnected,
    /// An application message arrived.
    Message(Publish<'a>),
    /// A QoS 1/2 publish was acknowledged and left the outbox.
    Published { packet_id: u16, reason_code: u8 },
    /// SUBACK for [`Client::subscribe`]: `reason_code` is the QoS the
    /// broker granted (0–2, at most the one asked for) or, from 0x80 up,
    /// why it refused the subscription (0x80 in 3.1.1; 5.0 §3.9.3, e.g.
    /// 0x87 not authorized): nothing will arrive on that filter then.
    Subscribed { packet_id: u16, reason_code: u8 },
    /// UNSUBACK for [`Client::unsubscribe`].
    Unsubscribed { packet_id: u16 },
    /// The instant given to [`Client::wake_at`] came.
    Wake,
    /// A queued publish cannot go out on this connection: its QoS is
    /// above the server's Maximum QoS (queued while disconnected; once
    /// connected, [`Client::publish`] refuses it at once), it is larger
    /// than the server's Maximum Packet Size or than the send buffer, or
    /// its Message Expiry Interval ran out while it waited
    /// ([`SessionError::MessageExpired`]); `error` says which. It left the
    /// outbox, so the publishes behind it go on.
    PublishRefused { error: SessionError },
}

/// What one [`Client::poll`] ended with: an event that borrows nothing, or
/// a message whose packet is the first the receive buffer holds.
enum Step {
    Event(ClientEvent<'static>),
    Message(usize),
}

/// What handling one received packet called for.
enum Outcome {
    Nothing,
    Message,
    Published(u16, u8),
    /// PUBREC for this QoS 2 publish.
    Released(u16),
    /// An event that borrows nothing: SUBACK, UNSUBACK.
    Report(ClientEvent<'static>),
    /// The server sent DISCONNECT with this reason code.
    Lost(u8),
    /// The server sent a packet it must not send.
    Failed(SessionError),
}

/// Why the client stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientError {
    /// No room in the outbox for the publish.
    OutboxFull,
    /// The operation needs a connection.
    NotConnected,
    /// The session refused (encoding, window, protocol).
    Session(SessionError),
    /// A packet larger than the receive buffer arrived; it is skipped and
    /// the connection kept. A QoS 0 message is lost; a QoS 1/2 one stays
    /// unacknowledged, so the broker sends it again on a new connection.
    /// Only in 3.1.1, which cannot tell the broker a size limit, or in 5.0
    /// when the CONNECT announces a Maximum Packet Size above the buffer,
    /// or its properties leave no room to add one (wire bytes, or more
    /// than seven): otherwise the client announces the buffer's size, and
    /// the broker drops a bigger message for this client instead of
    /// sending it.
    PacketTooLarge,
}

impl From<SessionError> for ClientError {
    fn from(e: SessionError) -> Self {
        ClientError::Session(e)
    }
}

impl From<OutboxFull> for ClientError {
    fn from(_: OutboxFull) -> Self {
        ClientError::OutboxFull
    }
}

/// The caller's memory for a client.
///
/// `A` is the topic alias storage: a byte slice, or `[]` (the type
/// `[u8; 0]`) for a client that never uses aliases — 3.1.1 (Azure IoT Hub
/// and DPS), or a 5.0 client content to send whole topics. With `[]` the
/// alias code is not in the firmware at all (about 1.2 KB of Cortex-M
/// flash); with an empty slice it is, though never run.
#[derive(Debug)]
pub struct ClientBuffers<'b, A = [u8; 0]> {
    /// Received bytes until a whole packet is in: the largest packet the
    /// broker sends.
    pub receive: &'b mut [u8],
    /// One outgoing packet at a time.
    pub send: &'b mut [u8],
    /// Publishes not yet acknowledged (see [`Outbox`]).
    pub outbox: &'b mut [u8],
    /// The topic aliases of a 5.0 connection, both ways: 64 bytes
    /// ([`super::alias::SLOT`]) per alias, half of them for the broker's
    /// (see [`Session::with_topic_aliases`]). A publish on a topic that has
    /// an alias on the connection carries the alias (3 bytes) instead of
    /// the topic. `[]` for none; 3.1.1 has no aliases.
    pub topic_aliases: A,
}

/// An MQTT client with reconnection and an offline queue.
///
/// `WINDOW` bounds our QoS 1/2 publishes in flight. 5.0 brokers announce
/// their own limit (Receive Maximum), which the session honours; 3.1.1 has
/// none, so keep `WINDOW` at or below the broker's: mosquitto's
/// `max_inflight_messages` is 20, and 2.0.11 acknowledges QoS 2 publishes
/// beyond it from a 3.1.1 client without ever forwarding them.
///
/// `INBOUND` bounds the broker's QoS 1/2 messages whose exchange is not
/// finished; a 5.0 CONNECT announces it as Receive Maximum. A broker may
/// send more (3.1.1 has no limit; mosquitto 2.0.11 exceeds the 5.0 one at
/// QoS 2): the excess is left unanswered and, once half the slots are free
/// again, the client reconnects, resuming the session, so the broker sends
/// it again ([`Session::withheld`]). Nothing is lost; it arrives late.
///
/// `S` keeps QoS 1/2 publishes across a reboot ([`Client::with_store`]);
/// by default they live in RAM only. `A` stores the topic aliases (see
/// [`ClientBuffers`]).
pub struct Client<
    'b,
    C: Connector,
    K: Clock,
    const WINDOW: usize,
    const INBOUND: usize,
    S: OutboxStore = (),
    A = [u8; 0],
> {
    connector: C,
    clock: K,
    /// The CONNECT sent each time; after the first accepted connection
    /// `clean_start` is turned off so the session resumes, unless the
    /// client id is empty: such a client has no session to resume.
    connect: Connect<'b>,
    backoff: Backoff,
    session: Session<WINDOW, INBOUND, A>,
    transport: Option<C::Transport>,
    receive: &'b mut [u8],
    /// Where the first packet not yet handled (or the message the last
    /// event borrowed) starts: handled packets are passed over, not moved
    /// out, so a read of many packets is not copied once per packet.
    start: usize,
    received: usize,
    /// Bytes of `receive` the last returned event borrowed, dropped at the
    /// next poll.
    consumed: usize,
    /// Bytes still to come of a packet too large for `receive`, skipped.
    discard: usize,
    /// The Maximum Packet Size the last 5.0 CONNECT announced: a larger
    /// packet from the server is a protocol error (0x95).
    inbound_limit: Option<u32>,
    send: &'b mut [u8],
    /// Bytes of `send` holding packets written but not yet sent: the
    /// packets due at one turn go out in one transport write (one TLS
    /// record, not one per packet).
    pending: usize,
    outbox: Outbox<'b>,
    store: S,
    failures: u32,
    retry_at: Option<Instant>,
    jitter: u32,
    /// Why the session gave up on the last connection it lost, if it did.
    last_error: Option<SessionError>,
    /// When [`Client::poll`] reports [`ClientEvent::Wake`].
    wake_at: Option<Instant>,
    /// Why the last publish dropped from the outbox was refused, until
    /// [`Client::poll`] reports it.
    refused: Option<SessionError>,
    /// Publishes dropped from the outbox because their Message Expiry
    /// Interval ran out, not yet reported by [`Client::poll`].
    expired: u32,
    /// Set by the first [`Client::publish_with`]: until then no record
    /// counts down (see [`Countdown`]).
    countdown: Option<Countdown<Self>>,
}

/// The outbox's Message Expiry countdown (see [`Client::publish_with`]),
/// reached through these pointers, which only `publish_with` sets: a
/// firmware that never calls it has no record that counts down, and links
/// none of this (some 700 bytes of Cortex-M flash).
struct Countdown<Owner> {
    hold: fn(&mut Outbox<'_>, usize, Instant),
    release: fn(&mut Outbox<'_>, usize, Instant) -> Result<bool, Expired>,
    /// The client's `drop_all_expired`.
    make_room: fn(&mut Owner) -> bool,
}

// By hand: derived, they would ask `Owner: Clone` of a pointer's argument.
impl<Owner> Clone for Countdown<Owner> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<Owner> Copy for Countdown<Owner> {}

impl<'b, C: Connector, K: Clock, const WINDOW: usize, const INBOUND: usize, A>
    Client<'b, C, K, WINDOW, INBOUND, (), A>
where
    A: AsRef<[u8]> + AsMut<[u8]>,
{
    /// A client that connects with `connect` on its first poll. `seed`
    /// varies the backoff jitter between devices.
    pub fn new(
        connector: C,
        clock: K,
        connect: Connect<'b>,
        backoff: Backoff,
        buffers: ClientBuffers<'b, A>,
        seed: u32,
    ) -> Self {
        Client::with_store(connector, clock, connect, backoff, buffers, seed, ())
    }
}

impl<'b, C, K, const WINDOW: usize, const INBOUND: usize, S, A>
    Client<'b, C, K, WINDOW, INBOUND, S, A>
where
    C: Connector,
    K: Clock,
    S: OutboxStore,
    A: AsRef<[u8]> + AsMut<[u8]>,
{
    /// As [`Client::new`], with QoS 1/2 publishes also kept in `store`:
    /// those it holds from before a reboot go into the outbox now and are
    /// sent once connected. A store that keeps packet identifiers (the
    /// journal does) makes QoS 2 exactly once across reboots: a publish
    /// sent before the reboot goes out again under its identifier, or only
    /// its PUBREL once PUBREC was seen, so a broker that resumed the
    /// session recognises it. Connect with `clean_start: false` (and, in
    /// 5.0, a Session Expiry Interval) for the broker to keep the session.
    pub fn with_store(
        connector: C,
        clock: K,
        connect: Connect<'b>,
        backoff: Backoff,
        buffers: ClientBuffers<'b, A>,
        seed: u32,
        mut store: S,
    ) -> Self {
        let mut outbox = Outbox::new(buffers.outbox);
        store.restore(&mut outbox);
        Client {
            connector,
            clock,
            connect,
            backoff,
            session: Session::with_topic_aliases(buffers.topic_aliases),
            transport: None,
            receive: buffers.receive,
            start: 0,
            received: 0,
            consumed: 0,
            discard: 0,
            inbound_limit: None,
            send: buffers.send,
            pending: 0,
            outbox,
            store,
            failures: 0,
            retry_at: None,
            jitter: seed | 1,
            last_error: None,
            wake_at: None,
            refused: None,
            expired: 0,
            countdown: None,
        }
    }

    pub fn is_connected(&self) -> bool {
        self.transport.is_some() && self.session.state() == State::Connected
    }

    /// Why the last connection attempt or connection failed at the MQTT
    /// level (a CONNACK refusal with its code, a protocol error, a
    /// keep-alive timeout, the server's DISCONNECT with its code), for
    /// diagnostics.
    pub fn last_error(&self) -> Option<SessionError> {
        self.last_error
    }

    /// The connector, for what it knows of the connection (an Azure SAS
    /// token's expiry).
    pub fn connector(&self) -> &C {
        &self.connector
    }

    /// The connector, to change what the next connection opens: the
    /// server's address DNS gave again after a disconnection, say. The
    /// connection in use, if any, is not touched.
    pub fn connector_mut(&mut self) -> &mut C {
        &mut self.connector
    }

    /// The clock the client runs on.
    pub fn clock(&self) -> &K {
        &self.clock
    }

    /// The message the last [`Client::poll`] returned, again, until the
    /// next poll (for a layer above that read it once to decide).
    pub fn current_message(&self) -> Option<Publish<'_>> {
        self.message(self.consumed)
    }

    /// The message first in what the receive buffer holds (at `start`),
    /// `len` bytes, with its full topic (resolved from a Topic Alias).
    fn message(&self, len: usize) -> Option<Publish<'_>> {
        let packet = self.receive.get(self.start..)?.get(..len)?;
        match Packet::decode_from_server(packet, self.connect.version) {
            Ok((Packet::Publish(publish), _)) if len > 0 => Some(Publish {
                topic: self.session.message_topic(&publish)?,
                ..publish
            }),
            _ => None,
        }
    }

    /// Makes [`Client::poll`] return [`ClientEvent::Wake`] once `at` has
    /// come (once), so a layer above can act on its own timers (renew
    /// credentials, retry a request) without cancelling a poll midway.
    pub fn wake_at(&mut self, at: Option<Instant>) {
        self.wake_at = at;
    }

    /// Bytes of the outbox in use: publishes not yet acknowledged.
    pub fn outbox_used(&self) -> usize {
        self.outbox.used()
    }

    /// Queues a publish; it goes out now if connected (and the in-flight
    /// window has room), else once a connection is up. While packets
    /// already received wait for [`Client::poll`] to hand them out, it goes
    /// out with what that poll sends, in one write. QoS 1 and 2 stay in the
    /// outbox until acknowledged, across reconnections.
    pub async fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
    ) -> Result<(), ClientError> {
        self.queue::<false>(qos, false, topic, Properties::EMPTY, payload)
            .await
    }

    /// [`Client::publish`] with the RETAIN flag (§3.3.1.3): the broker
    /// keeps the message for whoever subscribes to `topic` later, in
    /// place of the one it kept; an empty `payload` clears it. The flag
    /// survives reconnections and, in a flash store, reboots.
    pub async fn publish_retained(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
    ) -> Result<(), ClientError> {
        self.queue::<false>(qos, true, topic, Properties::EMPTY, payload)
            .await
    }

    /// [`Client::publish`] with the RETAIN flag `retain` and 5.0
    /// `properties` (§3.3.2.3): Message Expiry Interval, Content Type,
    /// Payload Format Indicator, User Properties, and Response Topic with
    /// Correlation Data for a request. They are kept with the publish in
    /// the outbox (and in a flash store) until it is acknowledged, and go
    /// out with every resend; such a publish goes without a topic alias.
    ///
    /// A Message Expiry Interval counts down while the publish waits in
    /// the outbox to be sent (offline, or behind a full window), in whole
    /// seconds of the client's clock: it goes out with what is left, or,
    /// once nothing is (up to a second early), never
    /// ([`ClientEvent::PublishRefused`] with
    /// [`SessionError::MessageExpired`]): when its turn to be sent comes,
    /// or when a new publish finds the outbox full, so publishes that ran
    /// out during a long outage make room for new ones.
    /// A broker counts from when it receives the publish, so without this
    /// a reading made offline would reach subscribers hours later as fresh
    /// as when it was made. A publish restored from flash after a reboot
    /// goes with the interval it was given (the clock does not say how long
    /// the device was off), and one sent once goes again (a resend, or on a
    /// new session) with what it was first sent with.
    ///
    /// Refused with [`Error::PropertyNotAllowed`](super::codec::Error) or
    /// `DuplicateProperty`: a property a PUBLISH cannot carry, or one
    /// given twice (only User Property repeats); Topic Alias, which the
    /// client manages (see [`ClientBuffers::topic_aliases`]); Subscription
    /// Identifier, which only a server sends (§3.3.4); and any property on
    /// a 3.1.1 connection, which has none. A Response Topic with a
    /// wildcard, a Payload Format Indicator above 1 and wire bytes that do
    /// not read as properties are refused too.
    pub async fn publish_with(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        properties: Properties<'_>,
    ) -> Result<(), ClientError> {
        if !properties.is_empty() {
            if self.connect.version != ProtocolVersion::V5 {
                let first = properties.iter().next().map_or(0, |p| p.id());
                let refused = super::codec::Error::PropertyNotAllowed(first);
                return Err(SessionError::Codec(refused).into());
            }
            properties.check_publish().map_err(SessionError::Codec)?;
        }
        self.queue::<true>(qos, retain, topic, properties, payload)
            .await
    }

    /// Queues a publish and sends what the window allows. `PROPERTIES`:
    /// whether `properties` may hold any; a firmware that never calls
    /// [`Client::publish_with`] then links no property block encoder.
    async fn queue<const PROPERTIES: bool>(
        &mut self,
        qos: QoS,
        retain: bool,
        topic: &str,
        properties: Properties<'_>,
        payload: &[u8],
    ) -> Result<(), ClientError> {
        if self.is_connected() {
            // What the server's CONNACK rules out is refused now rather
            // than queued (see [`ClientEvent::PublishRefused`]).
            let publish = Publish {
                dup: false,
                qos,
                retain,
                topic,
                packet_id: 0,
                properties,
                payload,
            };
            self.session.check_server_terms(&publish)?;
        }
        let mut room_made = false;
        let at = loop {
            let pushed = if PROPERTIES {
                self.outbox
                    .push_with_properties(qos, retain, topic, properties, payload)
            } else {
                self.outbox.push(qos, retain, topic, payload)
            };
            let make_room = self.countdown.map(|countdown| countdown.make_room);
            match pushed {
                // Publishes that ran out make room (see `publish_with`).
                Err(OutboxFull) if !room_made && make_room.is_some_and(|f| f(self)) => {
                    room_made = true;
                }
                pushed => break pushed?,
            }
        };
        if qos != QoS::AtMostOnce {
            let appended = match self.outbox.stored(at) {
                Some((delivery, topic, body)) => self.store.append(delivery, topic, body),
                None => Err(OutboxFull),
            };
            if let Err(full) = appended {
                self.outbox.remove(at);
                return Err(full.into());
            }
        }
        if PROPERTIES {
            // The store has the interval as given; the record counts down.
            let countdown = *self.countdown.insert(Self::COUNTDOWN);
            (countdown.hold)(&mut self.outbox, at, self.clock.now());
        }
        if self.is_connected() {
            self.pump_outbox().await;
            if !self.packet_waiting() {
                self.send_pending().await;
            }
        }
        Ok(())
    }

    /// Subscribes to `filter` on the current connection (a resumed session
    /// keeps its subscriptions on the broker). [`ClientEvent::Subscribed`]
    /// with the returned identifier says whether the broker granted it.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<u16, ClientError> {
        let options = super::codec::SubscribeOptions::qos(qos);
        self.subscribe_with(filter, options, Properties::EMPTY)
            .await
    }

    /// [`Client::subscribe`] with every Subscription Option (5.0 §3.8.3.1:
    /// No Local, Retain As Published, Retain Handling; a 3.1.1 SUBSCRIBE
    /// carries the QoS alone) and the SUBSCRIBE's properties (5.0
    /// §3.8.2.1: a Subscription Identifier, which messages matching the
    /// subscription then carry, and user properties).
    pub async fn subscribe_with(
        &mut self,
        filter: &str,
        options: super::codec::SubscribeOptions,
        properties: Properties<'_>,
    ) -> Result<u16, ClientError> {
        let filters = [(filter, options)];
        self.send_request(|session, now, out| session.subscribe(now, &filters, properties, out))
            .await
    }

    /// Ends the subscription to `filter` (as given to
    /// [`Client::subscribe`]); [`ClientEvent::Unsubscribed`] with the
    /// returned identifier follows. Messages the broker sent before it
    /// took the UNSUBSCRIBE may still arrive.
    pub async fn unsubscribe(&mut self, filter: &str) -> Result<u16, ClientError> {
        self.send_request(|session, now, out| session.unsubscribe(now, &[filter], out))
            .await
    }

    /// Sends, after what is pending, the request `write` puts in the send
    /// buffer (SUBSCRIBE, UNSUBSCRIBE); returns its packet identifier.
    async fn send_request(
        &mut self,
        write: impl FnOnce(
            &mut Session<WINDOW, INBOUND, A>,
            Instant,
            &mut [u8],
        ) -> Result<(usize, u16), SessionError>,
    ) -> Result<u16, ClientError> {
        if !self.is_connected() {
            return Err(ClientError::NotConnected);
        }
        let now = self.clock.now();
        let (n, packet_id) = write(&mut self.session, now, &mut self.send[self.pending..])?;
        self.pending += n;
        self.send_pending().await;
        Ok(packet_id)
    }

    /// Does what is due and reports one event.
    ///
    /// Do not race it against a timer and drop it: a poll cancelled while
    /// writing loses part of a packet, and one cancelled while connecting
    /// loses the attempt (and a TLS connector's buffers). For timers of
    /// your own, use [`Client::wake_at`].
    pub async fn poll(&mut self) -> Result<ClientEvent<'_>, ClientError> {
        self.drop_received(self.consumed);
        self.consumed = 0;
        match self.step().await? {
            Step::Event(event) => Ok(event),
            Step::Message(len) => {
                // Handled already; decoded again here so the event can
                // borrow the receive buffer until the next poll.
                self.consumed = len;
                self.message(len)
                    .map(ClientEvent::Message)
                    .ok_or(ClientError::Session(SessionError::ProtocolError))
            }
        }
    }

    /// [`Client::poll`]'s work, up to the next event.
    async fn step(&mut self) -> Result<Step, ClientError> {
        loop {
            if self.transport.is_none() {
                match self.establish().await {
                    Some(event) => return Ok(Step::Event(event)),
                    None => continue,
                }
            }
            // Acknowledgements and PINGREQs owed, then what waits in the
            // outbox, sent together: once no whole packet is left to
            // handle, so a burst received is answered in one write.
            loop {
                let spare = &mut self.send[self.pending..];
                match self.session.poll_transmit(self.clock.now(), spare) {
                    Ok(Some(n)) => self.pending += n,
                    Err(e) if too_small(&e) && self.pending > 0 => {
                        if !self.send_pending().await {
                            return Ok(Step::Event(ClientEvent::Disconnected));
                        }
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            self.pump_outbox().await;
            if !self.packet_waiting() {
                self.send_pending().await;
            }
            if self.transport.is_none() {
                return Ok(Step::Event(ClientEvent::Disconnected));
            }
            if let Some(error) = self.refused.take() {
                return Ok(Step::Event(ClientEvent::PublishRefused { error }));
            }
            if self.expired > 0 {
                self.expired -= 1;
                let error = SessionError::MessageExpired;
                return Ok(Step::Event(ClientEvent::PublishRefused { error }));
            }
            if self.wake_at.is_some_and(|at| self.clock.now() >= at) {
                self.wake_at = None;
                return Ok(Step::Event(ClientEvent::Wake));
            }
            if self.session.withheld() && self.session.inbound_pending() <= INBOUND / 2 {
                // The broker sent more than INBOUND can track; what was
                // left unanswered comes back only on a new connection.
                self.disconnect().await;
                return Ok(Step::Event(ClientEvent::Disconnected));
            }
            let whole = match self.whole_packet() {
                // An unreadable fixed header, or a packet above the size
                // announced: the server's fault, as a malformed packet is.
                Err(ClientError::Session(e)) => {
                    self.abandon(e).await;
                    return Ok(Step::Event(ClientEvent::Disconnected));
                }
                whole => whole?,
            };
            if let Some(len) = whole {
                let outcome = 'decoded: {
                    let decoded = Packet::decode_from_server(
                        &self.receive[self.start..][..len],
                        self.connect.version,
                    );
                    let packet = match decoded {
                        Ok((packet, _)) => packet,
                        // A malformed packet ends the connection (5.0
                        // §4.13: DISCONNECT 0x81 first).
                        Err(e) => break 'decoded Outcome::Failed(SessionError::Codec(e)),
                    };
                    // A PUBREC that takes a QoS 2 publish to its PUBREL.
                    let released = match packet {
                        Packet::PubRec(ack) if ack.reason_code < 0x80 => Some(ack.packet_id),
                        _ => None,
                    };
                    match self.session.handle_packet(self.clock.now(), &packet) {
                        Err(e) => Outcome::Failed(e),
                        Ok(None) => released.map_or(Outcome::Nothing, Outcome::Released),
                        Ok(Some(Event::Message(_))) => Outcome::Message,
                        Ok(Some(Event::Published {
                            packet_id,
                            reason_code,
                        })) => Outcome::Published(packet_id, reason_code),
                        Ok(Some(Event::Subscribed {
                            packet_id,
                            reason_codes,
                        })) => Outcome::Report(ClientEvent::Subscribed {
                            packet_id,
                            // One filter a SUBSCRIBE; none is a refusal.
                            reason_code: reason_codes.first().copied().unwrap_or(SUBACK_FAILURE),
                        }),
                        Ok(Some(Event::Unsubscribed { packet_id })) => {
                            Outcome::Report(ClientEvent::Unsubscribed { packet_id })
                        }
                        Ok(Some(Event::Disconnected { reason_code })) => Outcome::Lost(reason_code),
                        Ok(Some(_)) => Outcome::Nothing,
                    }
                };
                match outcome {
                    Outcome::Message => return Ok(Step::Message(len)),
                    Outcome::Lost(reason_code) => {
                        self.last_error = Some(SessionError::ServerDisconnected(reason_code));
                        self.lose_connection();
                        return Ok(Step::Event(ClientEvent::Disconnected));
                    }
                    Outcome::Failed(e) => {
                        self.abandon(e).await;
                        return Ok(Step::Event(ClientEvent::Disconnected));
                    }
                    Outcome::Nothing => self.drop_received(len),
                    Outcome::Released(packet_id) => {
                        self.drop_received(len);
                        // Kept before the PUBREL goes out (next turn).
                        if let Some(at) = self.outbox.find(packet_id) {
                            self.store.released(&self.outbox, at);
                        }
                    }
                    Outcome::Published(packet_id, reason_code) => {
                        self.drop_received(len);
                        if let Some(at) = self.outbox.find(packet_id) {
                            self.store.acknowledged(&self.outbox, at);
                            self.outbox.remove(at);
                        }
                        return Ok(Step::Event(ClientEvent::Published {
                            packet_id,
                            reason_code,
                        }));
                    }
                    Outcome::Report(event) => {
                        self.drop_received(len);
                        return Ok(Step::Event(event));
                    }
                }
                continue;
            }
            // Nothing whole yet: read, or wake for the keep-alive.
            let idle = self.clock.now() + Duration::from_secs(3600);
            let deadline = match (self.session.poll_timeout(), self.wake_at) {
                (Some(session), Some(wake)) => session.min(wake),
                (session, wake) => session.or(wake).unwrap_or(idle),
            };
            self.compact_received();
            let Some(transport) = self.transport.as_mut() else {
                continue;
            };
            let space = &mut self.receive[self.received..];
            if space.is_empty() {
                // A packet larger than the receive buffer: give up on it.
                self.lose_connection();
                return Ok(Step::Event(ClientEvent::Disconnected));
            }
            match select(transport.read(space), self.clock.sleep_until(deadline)).await {
                Either::First(Ok(n)) if n > 0 => self.take_received(n),
                Either::First(_) => {
                    self.lose_connection();
                    return Ok(Step::Event(ClientEvent::Disconnected));
                }
                Either::Second(()) => {
                    if self.wake_at.is_some_and(|at| self.clock.now() >= at) {
                        continue;
                    }
                    if let Err(e) = self.session.handle_timeout(self.clock.now()) {
                        self.last_error = Some(e);
                        self.lose_connection();
                        return Ok(Step::Event(ClientEvent::Disconnected));
                    }
                }
            }
        }
    }

    /// Keeps `n` bytes just read, less what is left of a packet being
    /// skipped.
    fn take_received(&mut self, n: usize) {
        let skip = n.min(self.discard);
        if skip > 0 {
            // Only while a packet too large is skipped: reads are not
            // moved otherwise.
            self.discard -= skip;
            let at = self.received;
            copy_within(self.receive, at + skip..at + n, at);
        }
        self.received += n - skip;
    }

    /// Passes over the first `len` bytes held, a packet handled.
    fn drop_received(&mut self, len: usize) {
        self.start = (self.start + len).min(self.received);
        if self.start == self.received {
            self.start = 0;
            self.received = 0;
        }
    }

    /// Moves what is held (part of a packet: reads happen only once no
    /// whole packet is left) to the front, so a read has the rest of the
    /// buffer.
    fn compact_received(&mut self) {
        if self.start > 0 {
            copy_within(self.receive, self.start..self.received, 0);
            self.received -= self.start;
            self.start = 0;
        }
    }

    /// Sends DISCONNECT, waits until the transport has delivered it (and
    /// everything before it), and drops the transport; queued publishes
    /// stay. The next [`Client::poll`] connects again at once, resuming the
    /// session.
    pub async fn disconnect(&mut self) {
        if let Ok(n) = self.session.disconnect(&mut self.send[self.pending..]) {
            self.pending += n;
            // Delivered (acknowledged, on TCP) before the transport goes:
            // a device may power down or reset right after.
            if self.send_pending().await {
                if let Some(transport) = self.transport.as_mut() {
                    let _ = transport.flush().await;
                }
            }
        }
        self.release_transport();
    }

    /// Gives up on the connection over a packet the server must not send,
    /// telling a 5.0 server why first (DISCONNECT with the reason code,
    /// 5.0 §4.13.1); the next [`Client::poll`] reconnects after the
    /// backoff.
    async fn abandon(&mut self, error: SessionError) {
        self.last_error = Some(error);
        if let Ok(Some(n)) = self.session.abort(error, &mut self.send[self.pending..]) {
            self.pending += n;
            if !self.send_pending().await {
                // Lost already.
                return;
            }
            if let Some(transport) = self.transport.as_mut() {
                let _ = transport.flush().await;
            }
        }
        self.lose_connection();
    }

    /// Whether a whole packet received waits to be handled, after what the
    /// last event borrowed.
    fn packet_waiting(&self) -> bool {
        let held = self
            .receive
            .get(self.start + self.consumed..self.received)
            .unwrap_or(&[]);
        frame_len(held).is_ok_and(|len| len <= held.len())
    }

    /// The length of the first whole packet received, if any. A packet
    /// above the Maximum Packet Size announced is the server's error; one
    /// otherwise longer than the receive buffer is skipped as it arrives
    /// ([`ClientError::PacketTooLarge`]).
    fn whole_packet(&mut self) -> Result<Option<usize>, ClientError> {
        let held = &self.receive[self.start..self.received];
        match frame_len(held) {
            Ok(len)
                if self
                    .inbound_limit
                    .is_some_and(|limit| len as u64 > u64::from(limit)) =>
            {
                Err(ClientError::Session(SessionError::ReceivedPacketTooLarge))
            }
            Ok(len) if len <= held.len() => Ok(Some(len)),
            Ok(len) if len > self.receive.len() => {
                self.discard = len - held.len();
                self.start = 0;
                self.received = 0;
                Err(ClientError::PacketTooLarge)
            }
            Ok(_) | Err(super::codec::Error::Incomplete) => Ok(None),
            Err(e) => Err(ClientError::Session(SessionError::Codec(e))),
        }
    }

    /// One connection attempt once the backoff allows: transport, CONNECT,
    /// CONNACK. `None` to go round again (a wait was served).
    async fn establish(&mut self) -> Option<ClientEvent<'static>> {
        // Cleared only once served, so a poll cancelled during the wait
        // still waits the next time.
        if let Some(at) = self.retry_at {
            self.clock.sleep_until(at).await;
            self.retry_at = None;
        }
        // Built in place (see `Connector::connect_into`).
        if self
            .connector
            .connect_into(&mut self.transport)
            .await
            .is_err()
        {
            self.schedule_retry();
            return Some(ClientEvent::ConnectFailed);
        }
        self.start = 0;
        self.received = 0;
        self.consumed = 0;
        self.discard = 0;
        let mut connect = self.connect;
        if let Some(password) = self.connector.password() {
            connect.password = Some(password);
        }
        // 5.0 lets a client bound the packets it is sent (§3.1.2.11.4):
        // unless the CONNECT sets a bound, the receive buffer's size, so
        // the broker drops a message too large for this client instead of
        // sending it to be skipped and never acknowledged.
        self.inbound_limit = None;
        let limit = u32::try_from(self.receive.len()).unwrap_or(u32::MAX);
        let mut list = [Property::MaximumPacketSize(limit); COPIED_PROPERTIES];
        if connect.version == ProtocolVersion::V5 {
            self.inbound_limit = connect.properties.maximum_packet_size();
            if self.inbound_limit.is_none() {
                if let Some(properties) = prepend(&mut list, connect.properties) {
                    connect.properties = properties;
                    self.inbound_limit = Some(limit);
                }
            }
        }
        // A new transport: nothing is pending (`release_transport`).
        let Ok(n) = self.session.connect(self.clock.now(), &connect, self.send) else {
            self.lose_connection();
            return Some(ClientEvent::ConnectFailed);
        };
        self.pending = n;
        if !self.send_pending().await {
            return Some(ClientEvent::ConnectFailed);
        }
        // CONNACK, within a keep-alive (or 30 s).
        let wait = Duration::from_secs(u64::from(self.connect.keep_alive.max(30)));
        let deadline = self.clock.now() + wait;
        loop {
            let whole = match self.whole_packet() {
                Ok(whole) => whole,
                // No CONNACK can follow an unreadable fixed header or a
                // packet too large: fail now, not at the deadline.
                Err(error) => {
                    self.last_error = match error {
                        ClientError::Session(e) => Some(e),
                        _ => None,
                    };
                    self.lose_connection();
                    return Some(ClientEvent::ConnectFailed);
                }
            };
            if let Some(len) = whole {
                let accepted = match Packet::decode_from_server(
                    &self.receive[self.start..][..len],
                    self.connect.version,
                ) {
                    Ok((packet, _)) => {
                        match self.session.handle_packet(self.clock.now(), &packet) {
                            Ok(Some(Event::Connected { session_present })) => Some(session_present),
                            // Kept for `last_error`: a refusal's code
                            // says why (bad credentials, not authorised).
                            Err(e) => {
                                self.last_error = Some(e);
                                None
                            }
                            Ok(_) => None,
                        }
                    }
                    Err(e) => {
                        self.last_error = Some(SessionError::Codec(e));
                        None
                    }
                };
                self.drop_received(len);
                let Some(session_present) = accepted else {
                    self.lose_connection();
                    return Some(ClientEvent::ConnectFailed);
                };
                self.after_connack(session_present).await;
                return Some(ClientEvent::Connected { session_present });
            }
            self.compact_received();
            let transport = self.transport.as_mut()?;
            let space = &mut self.receive[self.received..];
            match select(transport.read(space), self.clock.sleep_until(deadline)).await {
                Either::First(Ok(n)) if n > 0 => self.take_received(n),
                _ => {
                    self.lose_connection();
                    return Some(ClientEvent::ConnectFailed);
                }
            }
        }
    }

    /// A connection is up: resend what the resumed session still owes, or
    /// hand every unacknowledged publish back to the queue of a new one.
    async fn after_connack(&mut self, session_present: bool) {
        self.failures = 0;
        // Without an identifier there is no session to come back to: 3.1.1
        // §3.1.3.1 refuses a zero-byte ClientId with CleanSession 0, and a
        // 5.0 server assigns a new identifier to every such connection.
        if !self.connect.client_id.is_empty() {
            self.connect.clean_start = false;
        }
        if !session_present {
            self.outbox.requeue_all();
        }
        let mut at = self.outbox.first();
        while let Some((record, next)) = self.outbox.get(at) {
            if let RecordState::InFlight(packet_id) = record.state {
                let publish = record.publish();
                let spare = &mut self.send[self.pending..];
                match self
                    .session
                    .republish(self.clock.now(), packet_id, &publish, spare)
                {
                    Ok(n) => self.pending += n,
                    Err(e) if too_small(&e) && self.pending > 0 => {
                        // The same publish again, after the pending ones.
                        if !self.send_pending().await {
                            return;
                        }
                        continue;
                    }
                    Err(_) => {}
                }
            }
            at = next;
        }
        // Sent with the first of the outbox's queue.
        self.pump_outbox().await;
        self.send_pending().await;
    }

    /// Writes queued publishes while the window has room, after whatever
    /// else is pending; sends only what no longer fits in `send` (the
    /// caller sends the rest).
    async fn pump_outbox(&mut self) {
        let mut at = self.outbox.first_unsent();
        while self.transport.is_some() {
            let now = self.clock.now();
            let Some((record, next)) = self.outbox.get(at) else {
                break;
            };
            let counting = self
                .countdown
                .filter(|_| record.state == RecordState::Queued && !record.properties.is_empty());
            // The countdown released for it, to hold it again if it is not
            // sent.
            let mut rehold = None;
            let (record, next) = match counting {
                Some(countdown) => {
                    // What is left of its Message Expiry Interval goes with it.
                    match (countdown.release)(&mut self.outbox, at, now) {
                        Err(Expired) => {
                            at = self.drop_expired(at);
                            continue;
                        }
                        Ok(true) => rehold = Some(countdown),
                        Ok(false) => {}
                    }
                    match self.outbox.get(at) {
                        Some(found) => found,
                        None => break,
                    }
                }
                None => (record, next),
            };
            let publish = record.publish();
            let qos = record.qos;
            let spare = &mut self.send[self.pending..];
            match record.state {
                RecordState::InFlight(_) => {}
                RecordState::Sent { .. } if self.pending > 0 => {
                    // Taken back into the session below only with the
                    // whole of `send` free for it (rare: after a reboot).
                    if !self.send_pending().await {
                        return;
                    }
                    continue;
                }
                RecordState::Sent {
                    packet_id,
                    released,
                } => {
                    // Sent before a reboot or a lost session: again under
                    // its identifier, or only its PUBREL (the session owes
                    // it from now on).
                    // Refused while the window is full or the identifier
                    // is still in flight: the next pump tries again.
                    if self.session.adopt(packet_id, qos, released).is_err() {
                        break;
                    }
                    if !released
                        && let Ok(n) = self.session.republish(now, packet_id, &publish, spare)
                    {
                        self.pending += n;
                    }
                    self.outbox.mark_in_flight(at, packet_id);
                }
                RecordState::Queued => match self.session.publish(now, &publish, spare) {
                    Ok((n, _)) if qos == QoS::AtMostOnce => {
                        self.pending += n;
                        at = self.outbox.remove(at);
                        continue;
                    }
                    Ok((n, packet_id)) => {
                        self.pending += n;
                        // Kept before it goes out, so a reboot resends it
                        // under this identifier.
                        self.store.sent(&self.outbox, at, packet_id);
                        self.outbox.mark_in_flight(at, packet_id);
                    }
                    Err(error) => {
                        // Not sent: its expiry interval counts down again.
                        if let Some(countdown) = rehold {
                            (countdown.hold)(&mut self.outbox, at, now);
                        }
                        match error {
                            e if too_small(&e) && self.pending > 0 => {
                                // The same publish again, after the pending
                                // ones.
                                if !self.send_pending().await {
                                    return;
                                }
                                continue;
                            }
                            SessionError::WindowFull | SessionError::NotConnected => {}
                            // Refused for what it is (QoS, size), not for
                            // the moment.
                            refused => self.drop_unsendable(at, refused),
                        }
                        break;
                    }
                },
            }
            at = next;
        }
    }

    /// The countdown `publish_with` sets, in the client clock's whole
    /// seconds.
    const COUNTDOWN: Countdown<Self> = Countdown {
        hold: |outbox, at, now| outbox.hold_expiry(at, seconds(now)),
        release: |outbox, at, now| outbox.release_expiry(at, seconds(now)),
        make_room: Self::drop_all_expired,
    };

    /// Drops the queued publish at `at`, which cannot go out (held, it
    /// would hold every later one), for [`Client::poll`] to report with
    /// `error`; if a report is still waiting, it stays for the next pump.
    fn drop_unsendable(&mut self, at: usize, error: SessionError) {
        if self.refused.is_none() {
            self.discard(at);
            self.refused = Some(error);
        }
    }

    /// Drops the queued publish at `at`, whose Message Expiry Interval ran
    /// out, for [`Client::poll`] to report; returns the offset of the next.
    fn drop_expired(&mut self, at: usize) -> usize {
        self.expired = self.expired.saturating_add(1);
        self.discard(at)
    }

    /// Makes room in a full outbox: drops every queued publish whose
    /// Message Expiry Interval has run out, as its turn to be sent would.
    /// Whether it dropped any.
    fn drop_all_expired(&mut self) -> bool {
        let now = seconds(self.clock.now());
        let (mut at, mut dropped) = (self.outbox.first_unsent(), false);
        while let Some((_, next)) = self.outbox.get(at) {
            at = match self.outbox.has_expired(at, now) {
                true => {
                    dropped = true;
                    self.drop_expired(at)
                }
                false => next,
            };
        }
        dropped
    }

    /// Takes the record at `at` out of the outbox, and of the store;
    /// returns the offset of the record after it.
    fn discard(&mut self, at: usize) -> usize {
        if self
            .outbox
            .get(at)
            .is_some_and(|(record, _)| record.qos != QoS::AtMostOnce)
        {
            self.store.acknowledged(&self.outbox, at);
        }
        self.outbox.remove(at)
    }

    /// Writes the pending packets; on failure the connection is lost. No
    /// `flush`: on TCP it waits for the peer's acknowledgement, a round
    /// trip per packet (see [`Connector`]).
    async fn send_pending(&mut self) -> bool {
        let n = core::mem::take(&mut self.pending);
        let Some(transport) = self.transport.as_mut() else {
            return false;
        };
        let written = n == 0 || transport.write_all(&self.send[..n]).await.is_ok();
        if !written {
            self.lose_connection();
        }
        written
    }

    fn lose_connection(&mut self) {
        self.release_transport();
        self.session.connection_lost();
        self.schedule_retry();
    }

    /// Hands the transport back to the connector, forgetting what it had
    /// received.
    fn release_transport(&mut self) {
        self.connector.release_slot(&mut self.transport);
        self.pending = 0;
        self.start = 0;
        self.received = 0;
        self.consumed = 0;
        self.discard = 0;
    }

    /// The next attempt: `initial * 2^failures` capped at `max`, from its
    /// upper half.
    fn schedule_retry(&mut self) {
        let exponent = self.failures.min(16);
        self.failures = self.failures.saturating_add(1);
        let full = self
            .backoff
            .initial
            .as_micros()
            .saturating_mul(1 << exponent)
            .min(self.backoff.max.as_micros());
        // xorshift32 for the jitter.
        self.jitter ^= self.jitter << 13;
        self.jitter ^= self.jitter >> 17;
        self.jitter ^= self.jitter << 5;
        // A point of [half, full]: the jitter scaled by multiplying (a 32 ×
        // 32-bit product) rather than by a remainder, whose 64-bit division
        // would add about 900 bytes of Cortex-M runtime to the firmware.
        // Waits over 2^32 µs (71 minutes) are spread over 71 minutes only.
        let half = full / 2;
        let span = u32::try_from(half + 1).unwrap_or(u32::MAX);
        let wait = half + ((u64::from(self.jitter) * u64::from(span)) >> 32);
        self.retry_at = Some(self.clock.now() + Duration::from_micros(wait));
    }
}

impl<C, K, const WINDOW: usize, const INBOUND: usize, S, A> core::fmt::Debug
    for Client<'_, C, K, WINDOW, INBOUND, S, A>
where
    C: Connector,
    K: Clock,
    S: OutboxStore,
    A: AsRef<[u8]> + AsMut<[u8]>,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("connected", &self.is_connected())
            .field("outbox_used", &self.outbox.used())
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

/// The second of the client's clock `now` falls in: what the outbox counts
/// Message Expiry Intervals in. Milliseconds over 1,000 by the clock's own
/// [`div_by_1000`], a multiplication: a `u64` division would link the
/// runtime's 64-bit divide, some 900 bytes of flash.
fn seconds(now: Instant) -> u32 {
    u32::try_from(div_by_1000(now.as_millis())).unwrap_or(u32::MAX)
}

/// Whether `error` says only that the packet did not fit the room left.
fn too_small(error: &SessionError) -> bool {
    matches!(
        error,
        SessionError::Codec(super::codec::Error::BufferTooSmall)
    )
}

#[cfg(test)]
mod tests {
    extern crate std;

    use core::cell::Cell;
    use std::vec::Vec;

    use super::*;
    use crate::mqtt::codec::ProtocolVersion;

    /// A broker that is never there.
    struct Nowhere;

    struct NoTransport;

    impl embedded_io_async::ErrorType for NoTransport {
        type Error = embedded_io::ErrorKind;
    }

    impl Read for NoTransport {
        async fn read(&mut self, _: &mut [u8]) -> Result<usize, embedded_io::ErrorKind> {
            Err(embedded_io::ErrorKind::NotConnected)
        }
    }

    impl Write for NoTransport {
        async fn write(&mut self, _: &[u8]) -> Result<usize, embedded_io::ErrorKind> {
            Err(embedded_io::ErrorKind::NotConnected)
        }

        async fn flush(&mut self) -> Result<(), embedded_io::ErrorKind> {
            Err(embedded_io::ErrorKind::NotConnected)
        }
    }

    impl Connector for Nowhere {
        type Transport = NoTransport;

        async fn connect(&mut self) -> Result<NoTransport, embedded_io::ErrorKind> {
            Err(embedded_io::ErrorKind::ConnectionRefused)
        }
    }

    /// A server whose bytes the test scripts: each read takes the next
    /// chunk (then the connection ends); every write is recorded.
    struct Scripted {
        reads: Vec<Vec<u8>>,
        writes: std::rc::Rc<core::cell::RefCell<Vec<Vec<u8>>>>,
    }

    struct ScriptedTransport {
        reads: std::vec::IntoIter<Vec<u8>>,
        writes: std::rc::Rc<core::cell::RefCell<Vec<Vec<u8>>>>,
    }

    impl embedded_io_async::ErrorType for ScriptedTransport {
        type Error = embedded_io::ErrorKind;
    }

    impl Read for ScriptedTransport {
        async fn read(&mut self, buf: &mut [u8]) -> Result<usize, embedded_io::ErrorKind> {
            let chunk = self.reads.next().unwrap_or_default();
            buf[..chunk.len()].copy_from_slice(&chunk);
            Ok(chunk.len())
        }
    }

    impl Write for ScriptedTransport {
        async fn write(&mut self, buf: &[u8]) -> Result<usize, embedded_io::ErrorKind> {
            self.writes.borrow_mut().push(buf.to_vec());
            Ok(buf.len())
        }

        async fn flush(&mut self) -> Result<(), embedded_io::ErrorKind> {
            Ok(())
        }
    }

    impl Connector for Scripted {
        type Transport = ScriptedTransport;

        async fn connect(&mut self) -> Result<ScriptedTransport, embedded_io::ErrorKind> {
            Ok(ScriptedTransport {
                reads: core::mem::take(&mut self.reads).into_iter(),
                writes: self.writes.clone(),
            })
        }
    }

    /// A 3.1.1 CONNECT with a clean start and a 30 s keep-alive.
    fn connect_311(client_id: &'static str) -> Connect<'static> {
        Connect {
            version: ProtocolVersion::V311,
            clean_start: true,
            keep_alive: 30,
            properties: Properties::EMPTY,
            client_id,
            will: None,
            username: None,
            password: None,
        }
    }

    /// A client of `scripted` on `clock`, its CONNECT [`connect_311`]
    /// and its receive, send and outbox buffers `buffers`.
    fn scripted_client<'b, const INBOUND: usize>(
        scripted: Scripted,
        clock: &'b Virtual,
        connect: Connect<'b>,
        [receive, send, outbox]: [&'b mut [u8]; 3],
    ) -> Client<'b, Scripted, &'b Virtual, 2, INBOUND> {
        let buffers = ClientBuffers {
            receive,
            send,
            outbox,
            topic_aliases: [],
        };
        Client::new(scripted, clock, connect, Backoff::default(), buffers, 1)
    }

    /// Why a scripted client's connection ended: it connects (the script's
    /// first read is its CONNACK), and the next poll must lose the
    /// connection.
    fn error_ending_the_connection(
        scripted: Scripted,
        connect: Connect<'static>,
    ) -> Option<SessionError> {
        let clock = Virtual(Cell::new(0));
        let (mut receive, mut send, mut outbox) = ([0u8; 64], [0u8; 64], [0u8; 64]);
        let buffers = [&mut receive[..], &mut send[..], &mut outbox[..]];
        let mut client: Client<'_, Scripted, &Virtual, 2, 2> =
            scripted_client(scripted, &clock, connect, buffers);
        embassy_futures::block_on(async {
            assert!(matches!(
                client.poll().await,
                Ok(ClientEvent::Connected { .. })
            ));
            assert_eq!(client.poll().await, Ok(ClientEvent::Disconnected));
        });
        client.last_error()
    }

    /// Virtual time: a sleep jumps to its deadline.
    struct Virtual(Cell<u64>);

    impl Clock for &Virtual {
        fn now(&self) -> Instant {
            Instant::from_micros(self.0.get())
        }

        async fn sleep_until(&self, deadline: Instant) {
            self.0.set(self.0.get().max(deadline.as_micros()));
        }
    }

    #[test]
    fn retries_back_off_exponentially_with_jitter_up_to_the_cap() {
        let clock = Virtual(Cell::new(0));
        let (mut receive, mut send, mut outbox) = ([0u8; 64], [0u8; 64], [0u8; 64]);
        let connect = connect_311("backoff");
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1600),
        };
        let mut client: Client<'_, Nowhere, &Virtual, 2, 2> = Client::new(
            Nowhere,
            &clock,
            connect,
            backoff,
            ClientBuffers {
                receive: &mut receive,
                send: &mut send,
                outbox: &mut outbox,
                topic_aliases: [],
            },
            42,
        );
        let mut attempts = Vec::new();
        embassy_futures::block_on(async {
            for _ in 0..9 {
                assert_eq!(client.poll().await, Ok(ClientEvent::ConnectFailed));
                attempts.push(clock.0.get());
            }
        });
        // The first attempt is at once; each wait after it lies in the upper
        // half of 100 ms × 2^k, capped at 1.6 s.
        assert_eq!(attempts[0], 0);
        for (k, pair) in attempts.windows(2).enumerate() {
            let wait = pair[1] - pair[0];
            let full = (100_000u64 << k).min(1_600_000);
            assert!(
                (full / 2..=full).contains(&wait),
                "wait {k}: {wait} µs of {full}"
            );
        }
        // Jitter: not every wait at the same point of its range.
        let waits: Vec<u64> = attempts.windows(2).map(|p| p[1] - p[0]).collect();
        assert!(waits[5..].windows(2).any(|w| w[0] != w[1]));
    }

    /// A protocol error on a 3.1.1 connection: the client closes the
    /// connection without a DISCONNECT, which in 3.1.1 would be a normal
    /// end (the broker would discard the will, §3.14.4) and has no reason
    /// code to carry; 5.0 sends 0x81/0x82 (the broker tests check those).
    #[test]
    fn a_malformed_packet_on_a_3_1_1_connection_closes_it_without_disconnect() {
        // CONNACK, then a PUBACK whose remaining length (1) cannot hold its
        // packet identifier.
        let writes = std::rc::Rc::new(core::cell::RefCell::new(Vec::new()));
        let scripted = Scripted {
            reads: std::vec![std::vec![0x20, 2, 0, 0], std::vec![0x40, 1, 0]],
            writes: writes.clone(),
        };
        assert_eq!(
            error_ending_the_connection(scripted, connect_311("malformed")),
            Some(SessionError::Codec(
                super::super::codec::Error::MalformedPacket
            ))
        );
        let writes = writes.borrow();
        assert_eq!(writes.len(), 1, "the CONNECT alone: {writes:?}");
        assert_eq!(writes[0][0], 0x10);
    }

    /// A CONNACK whose fixed header cannot be read (a remaining length in
    /// five bytes) fails the attempt at once, its reason in `last_error`,
    /// rather than waiting out the CONNACK deadline for more bytes.
    #[test]
    fn an_unreadable_connack_fails_the_attempt_with_its_reason() {
        let scripted = Scripted {
            reads: std::vec![std::vec![0x20, 0xff, 0xff, 0xff, 0xff, 0x01]],
            writes: Default::default(),
        };
        let clock = Virtual(Cell::new(0));
        let (mut receive, mut send, mut outbox) = ([0u8; 64], [0u8; 64], [0u8; 64]);
        let buffers = [&mut receive[..], &mut send[..], &mut outbox[..]];
        let mut client: Client<'_, Scripted, &Virtual, 2, 2> =
            scripted_client(scripted, &clock, connect_311("unreadable"), buffers);
        embassy_futures::block_on(async {
            assert_eq!(client.poll().await, Ok(ClientEvent::ConnectFailed));
        });
        assert_eq!(
            client.last_error(),
            Some(SessionError::Codec(
                super::super::codec::Error::MalformedVarInt
            ))
        );
    }

    /// A 5.0 CONNECT for the scripted tests, with `properties`.
    fn connect_5(
        client_id: &'static str,
        properties: &'static [Property<'static>],
    ) -> Connect<'static> {
        Connect {
            version: ProtocolVersion::V5,
            properties: Properties::List(properties),
            ..connect_311(client_id)
        }
    }

    /// Where the property `wire` (identifier and value) sits in `packet`.
    fn find(packet: &[u8], wire: &[u8]) -> Option<usize> {
        packet.windows(wire.len()).position(|w| w == wire)
    }

    /// A fixed header that cannot be read (a remaining length in five
    /// bytes, §1.5.5) ends the connection as any malformed packet does,
    /// DISCONNECT 0x81 first: it is not handed to the application as an
    /// error at every poll while the connection stays up.
    #[test]
    fn an_unreadable_fixed_header_ends_the_connection_with_0x81() {
        let writes = std::rc::Rc::new(core::cell::RefCell::new(Vec::new()));
        let scripted = Scripted {
            reads: std::vec![
                std::vec![0x20, 3, 0, 0, 0],
                std::vec![0x30, 0xff, 0xff, 0xff, 0xff, 0x01]
            ],
            writes: writes.clone(),
        };
        const RM: &[Property<'static>] = &[Property::ReceiveMaximum(2)];
        assert_eq!(
            error_ending_the_connection(scripted, connect_5("unreadable", RM)),
            Some(SessionError::Codec(
                super::super::codec::Error::MalformedVarInt
            ))
        );
        let writes = writes.borrow();
        let disconnect = writes.last().expect("CONNECT and DISCONNECT");
        assert_eq!((disconnect[0], disconnect[2]), (0xe0, 0x81), "{writes:?}");
    }

    /// A 5.0 CONNECT announces the receive buffer's size (64 bytes here)
    /// as Maximum Packet Size, so a server must not send more; one that
    /// does has the connection closed with DISCONNECT 0x95 (§3.1.2.11.4),
    /// as soon as the fixed header says how long the packet is.
    #[test]
    fn a_5_0_client_announces_its_receive_buffer_and_refuses_a_larger_packet_with_0x95() {
        let writes = std::rc::Rc::new(core::cell::RefCell::new(Vec::new()));
        // CONNACK, then the first bytes of a 67-byte PUBLISH.
        let scripted = Scripted {
            reads: std::vec![std::vec![0x20, 3, 0, 0, 0], std::vec![0x30, 65, 0, 3, b'a']],
            writes: writes.clone(),
        };
        const RM: &[Property<'static>] = &[Property::ReceiveMaximum(2)];
        assert_eq!(
            error_ending_the_connection(scripted, connect_5("bounded", RM)),
            Some(SessionError::ReceivedPacketTooLarge)
        );
        let writes = writes.borrow();
        assert!(
            find(&writes[0], &[0x27, 0, 0, 0, 64]).is_some(),
            "{:x?}",
            writes[0]
        );
        assert!(
            find(&writes[0], &[0x21, 0, 2]).is_some(),
            "Receive Maximum kept"
        );
        let disconnect = writes.last().expect("CONNECT and DISCONNECT");
        assert_eq!((disconnect[0], disconnect[2]), (0xe0, 0x95), "{writes:?}");
    }

    /// Both additions to a 5.0 CONNECT fit beside seven properties of the
    /// application's: the client's Maximum Packet Size and the session's
    /// Topic Alias Maximum (half its alias slots).
    #[test]
    fn a_connect_with_seven_properties_still_gets_the_bound_and_the_aliases() {
        let writes = std::rc::Rc::new(core::cell::RefCell::new(Vec::new()));
        let scripted = Scripted {
            reads: std::vec![std::vec![0x20, 3, 0, 0, 0]],
            writes: writes.clone(),
        };
        const SEVEN: &[Property<'static>] = &[
            Property::ReceiveMaximum(2),
            Property::SessionExpiryInterval(60),
            Property::UserProperty("a", "1"),
            Property::UserProperty("b", "2"),
            Property::UserProperty("c", "3"),
            Property::UserProperty("d", "4"),
            Property::UserProperty("e", "5"),
        ];
        let clock = Virtual(Cell::new(0));
        let (mut receive, mut send, mut outbox) = ([0u8; 64], [0u8; 256], [0u8; 64]);
        let buffers = ClientBuffers {
            receive: &mut receive[..],
            send: &mut send[..],
            outbox: &mut outbox[..],
            topic_aliases: [0u8; 2 * crate::mqtt::alias::SLOT],
        };
        let connect = connect_5("seven", SEVEN);
        let mut client: Client<'_, Scripted, &Virtual, 2, 2, (), _> =
            Client::new(scripted, &clock, connect, Backoff::default(), buffers, 1);
        embassy_futures::block_on(async {
            assert!(matches!(
                client.poll().await,
                Ok(ClientEvent::Connected { .. })
            ));
        });
        let connect = writes.borrow()[0].clone();
        assert!(
            find(&connect, &[0x27, 0, 0, 0, 64]).is_some(),
            "{connect:x?}"
        );
        assert!(find(&connect, &[0x22, 0, 1]).is_some(), "{connect:x?}");
        assert!(find(&connect, b"e\0\x015").is_some(), "{connect:x?}");
    }

    /// A Maximum Packet Size the application sets is the one announced
    /// (not a second one), and the one enforced: a 40-byte packet above a
    /// 32-byte bound ends the connection although it fits the buffer. A
    /// 3.1.1 client, which cannot announce one, only skips a packet too
    /// large for its buffer.
    #[test]
    fn the_applications_maximum_packet_size_is_announced_and_enforced_and_3_1_1_only_skips() {
        let writes = std::rc::Rc::new(core::cell::RefCell::new(Vec::new()));
        let scripted = Scripted {
            reads: std::vec![std::vec![0x20, 3, 0, 0, 0], std::vec![0x30, 38, 0, 3, b'a']],
            writes: writes.clone(),
        };
        const BOUND: &[Property<'static>] =
            &[Property::ReceiveMaximum(2), Property::MaximumPacketSize(32)];
        assert_eq!(
            error_ending_the_connection(scripted, connect_5("own-bound", BOUND)),
            Some(SessionError::ReceivedPacketTooLarge)
        );
        let connect = writes.borrow()[0].clone();
        assert!(
            find(&connect, &[0x27, 0, 0, 0, 32]).is_some(),
            "{connect:x?}"
        );
        assert_eq!(
            connect.iter().filter(|&&b| b == 0x27).count(),
            1,
            "{connect:x?}"
        );

        // 3.1.1 announces no bound, so none is enforced: a packet longer
        // than the 64-byte buffer is skipped, the connection kept.
        let scripted = Scripted {
            reads: std::vec![std::vec![0x20, 2, 0, 0], std::vec![0x30, 69, 0, 3, b'a']],
            writes: Default::default(),
        };
        let clock = Virtual(Cell::new(0));
        let (mut receive, mut send, mut outbox) = ([0u8; 64], [0u8; 64], [0u8; 64]);
        let buffers = [&mut receive[..], &mut send[..], &mut outbox[..]];
        let mut client: Client<'_, Scripted, &Virtual, 2, 2> =
            scripted_client(scripted, &clock, connect_311("no-bound"), buffers);
        embassy_futures::block_on(async {
            assert!(matches!(
                client.poll().await,
                Ok(ClientEvent::Connected { .. })
            ));
            assert_eq!(client.poll().await, Err(ClientError::PacketTooLarge));
        });
        assert_eq!(client.last_error(), None);
    }

    #[test]
    fn a_servers_disconnect_is_reported_with_its_reason_code() {
        use crate::mqtt::codec::Property;
        // 5.0 CONNACK, then DISCONNECT 0x8E (Session taken over, §3.14.2.1;
        // mosquitto 2.0.11 closes such a connection without one).
        let scripted = Scripted {
            reads: std::vec![std::vec![0x20, 3, 0, 0, 0], std::vec![0xe0, 2, 0x8e, 0]],
            writes: Default::default(),
        };
        const RECEIVE_MAXIMUM: &[Property<'static>] = &[Property::ReceiveMaximum(2)];
        let connect = Connect {
            version: ProtocolVersion::V5,
            properties: Properties::List(RECEIVE_MAXIMUM),
            ..connect_311("taken")
        };
        assert_eq!(
            error_ending_the_connection(scripted, connect),
            Some(SessionError::ServerDisconnected(0x8e))
        );
    }

    #[test]
    fn a_burst_received_is_answered_in_one_write_with_what_was_published_meanwhile() {
        // CONNACK, then five QoS 1 PUBLISHes (topic "t", identifiers 1 to
        // 5) in one read, then the connection ends.
        let mut burst = Vec::new();
        for id in 1..=5u8 {
            burst.extend_from_slice(&[0x32, 6, 0, 1, b't', 0, id, b'm']);
        }
        let writes = std::rc::Rc::new(core::cell::RefCell::new(Vec::new()));
        let scripted = Scripted {
            reads: std::vec![std::vec![0x20, 2, 0, 0], burst],
            writes: writes.clone(),
        };
        let clock = Virtual(Cell::new(0));
        let (mut receive, mut send, mut outbox) = ([0u8; 128], [0u8; 128], [0u8; 128]);
        let buffers = [&mut receive[..], &mut send[..], &mut outbox[..]];
        let mut client: Client<'_, Scripted, &Virtual, 2, 8> =
            scripted_client(scripted, &clock, connect_311("burst"), buffers);
        embassy_futures::block_on(async {
            let connected = client.poll().await;
            assert_eq!(
                connected,
                Ok(ClientEvent::Connected {
                    session_present: false
                })
            );
            for id in 1..=5u16 {
                match client.poll().await {
                    Ok(ClientEvent::Message(publish)) => assert_eq!(publish.packet_id, id),
                    other => panic!("message {id}: {other:?}"),
                }
                if id == 2 {
                    // Messages 3 to 5 wait to be handed out: this goes
                    // with their acknowledgements.
                    client.publish("r", b"x", QoS::AtMostOnce).await.unwrap();
                }
            }
            assert_eq!(client.poll().await, Ok(ClientEvent::Disconnected));
        });
        let writes = writes.borrow();
        let puback = |id: u8| [0x40, 2, 0, id];
        // Each acknowledgement is written at the poll after its message's,
        // so the publish made after message 2 follows the first.
        let mut answer = Vec::new();
        answer.extend_from_slice(&puback(1));
        answer.extend_from_slice(&[0x30, 4, 0, 1, b'r', b'x']);
        for id in 2..=5 {
            answer.extend_from_slice(&puback(id));
        }
        assert_eq!(writes.len(), 2, "CONNECT, then one write: {writes:?}");
        assert_eq!(writes[1], answer);
    }

    #[test]
    fn acknowledgements_out_of_order_free_the_window_and_the_queue_goes_out_once_in_order() {
        // Five QoS 1 publishes made offline, a window of two; the server
        // acknowledges 2 before 1 (a record leaves from the middle of the
        // outbox, then its oldest), then 3 and 4 together, then 5.
        let puback = |id: u8| std::vec![0x40, 2, 0, id];
        let writes = std::rc::Rc::new(core::cell::RefCell::new(Vec::new()));
        let scripted = Scripted {
            reads: std::vec![
                std::vec![0x20, 2, 0, 0],
                puback(2),
                puback(1),
                [puback(3), puback(4)].concat(),
                puback(5),
            ],
            writes: writes.clone(),
        };
        let clock = Virtual(Cell::new(0));
        let (mut receive, mut send, mut outbox) = ([0u8; 64], [0u8; 64], [0u8; 64]);
        let buffers = [&mut receive[..], &mut send[..], &mut outbox[..]];
        let mut client: Client<'_, Scripted, &Virtual, 2, 2> =
            scripted_client(scripted, &clock, connect_311("order"), buffers);
        let mut events = Vec::new();
        embassy_futures::block_on(async {
            for payload in [b"a", b"b", b"c", b"d", b"e"] {
                client
                    .publish("p", payload, QoS::AtLeastOnce)
                    .await
                    .unwrap();
            }
            loop {
                let event = client.poll().await.unwrap();
                events.push(std::format!("{event:?}"));
                if event == ClientEvent::Disconnected {
                    break;
                }
            }
        });
        let published = |id: u16| std::format!("Published {{ packet_id: {id}, reason_code: 0 }}");
        let expected: Vec<std::string::String> = [2, 1, 3, 4, 5].map(published).into();
        assert_eq!(events[1..6], expected[..], "{events:?}");
        assert_eq!(client.outbox_used(), 0);
        // Every publish went out once, in the order made, under 1 to 5.
        let mut sent = Vec::new();
        for write in writes.borrow().iter().skip(1) {
            let mut rest = &write[..];
            while !rest.is_empty() {
                let (packet, len) = Packet::decode(rest, ProtocolVersion::V311).unwrap();
                if let Packet::Publish(publish) = packet {
                    sent.push((publish.packet_id, publish.payload[0]));
                }
                rest = &rest[len..];
            }
        }
        let in_order: Vec<(u16, u8)> = (1..=5).zip(*b"abcde").collect();
        assert_eq!(sent, in_order);
    }

    /// A store that remembers the bodies it was handed, and restores the
    /// records it was built with (as a journal after a reboot).
    struct Recording {
        /// Every body appended, as it was handed over.
        appended: Vec<Vec<u8>>,
        /// What the store still keeps, oldest first: what it restored and
        /// what was appended, less what was removed.
        kept: Vec<Vec<u8>>,
        restore: Vec<(&'static str, Vec<u8>)>,
    }

    impl Recording {
        fn new(restore: Vec<(&'static str, Vec<u8>)>) -> Self {
            Recording {
                appended: Vec::new(),
                kept: Vec::new(),
                restore,
            }
        }
    }

    /// A 5.0 client of `scripted` on `clock` with `store` under its outbox.
    fn recording_client<'b, const WINDOW: usize>(
        scripted: Scripted,
        clock: &'b Virtual,
        client_id: &'static str,
        [receive, send, outbox]: [&'b mut [u8]; 3],
        store: Recording,
    ) -> Client<'b, Scripted, &'b Virtual, WINDOW, 2, Recording> {
        const RM: &[Property<'static>] = &[Property::ReceiveMaximum(2)];
        let buffers = ClientBuffers {
            receive,
            send,
            outbox,
            topic_aliases: [],
        };
        let connect = connect_5(client_id, RM);
        Client::with_store(
            scripted,
            clock,
            connect,
            Backoff::default(),
            buffers,
            1,
            store,
        )
    }

    impl OutboxStore for Recording {
        fn append(
            &mut self,
            _: super::super::outbox::Delivery,
            _: &str,
            body: &[u8],
        ) -> Result<(), OutboxFull> {
            self.appended.push(body.to_vec());
            self.kept.push(body.to_vec());
            Ok(())
        }

        fn remove(&mut self, ordinal: usize) {
            self.kept.remove(ordinal);
        }

        fn restore(&mut self, outbox: &mut Outbox<'_>) {
            for (topic, body) in &self.restore {
                self.kept.push(body.clone());
                let delivery = super::super::outbox::Delivery {
                    properties: true,
                    ..super::super::outbox::Delivery::new(QoS::AtLeastOnce, false)
                };
                outbox
                    .push_with(delivery, topic.len(), body.len(), |record| {
                        record[..topic.len()].copy_from_slice(topic.as_bytes());
                        record[topic.len()..].copy_from_slice(body);
                        true
                    })
                    .unwrap();
            }
        }
    }

    /// The PUBLISHes a script's server was sent, after the CONNECT: their
    /// packet identifier, payload and Message Expiry Interval.
    fn published(writes: &[Vec<u8>]) -> Vec<(u16, Vec<u8>, Option<u32>)> {
        let mut sent = Vec::new();
        for write in writes.iter().skip(1) {
            let mut rest = &write[..];
            while !rest.is_empty() {
                let (packet, len) = Packet::decode(rest, ProtocolVersion::V5).unwrap();
                if let Packet::Publish(p) = packet {
                    let expiry = p.properties.message_expiry_interval();
                    sent.push((p.packet_id, p.payload.to_vec(), expiry));
                }
                rest = &rest[len..];
            }
        }
        sent
    }

    /// A Message Expiry Interval counts down while its publish waits in
    /// the outbox, offline and then behind a full window (of one): the
    /// publish goes out with what is left, or, once nothing is, is dropped
    /// and reported, and the queue behind it goes on. The store keeps the
    /// interval as given; a publish it restores goes with that.
    #[test]
    fn a_message_expiry_interval_counts_down_in_the_outbox_and_an_expired_publish_is_dropped() {
        let writes = std::rc::Rc::new(core::cell::RefCell::new(Vec::new()));
        let puback = |id: u8| std::vec![0x40, 2, 0, id];
        let scripted = Scripted {
            reads: std::vec![std::vec![0x20, 3, 0, 0, 0], puback(1), puback(2), puback(3)],
            writes: writes.clone(),
        };
        let clock = Virtual(Cell::new(0));
        let second = |s: u64| clock.0.set(s * 1_000_000);
        // Restored from "flash": made before a reboot with 10 s to live.
        // The property block (length 5, Message Expiry Interval 10), then
        // the payload.
        let restored = std::vec![5, 0x02, 0, 0, 0, 10, b'r'];
        let store = Recording::new(std::vec![("t", restored)]);
        second(100);
        let (mut receive, mut send, mut outbox) = ([0u8; 64], [0u8; 128], [0u8; 256]);
        let buffers = [&mut receive[..], &mut send[..], &mut outbox[..]];
        let mut client: Client<'_, Scripted, &Virtual, 1, 2, Recording> =
            recording_client(scripted, &clock, "expiry", buffers, store);
        let lives = |secs| [Property::MessageExpiryInterval(secs)];
        let mut events = Vec::new();
        embassy_futures::block_on(async {
            for (payload, qos, secs) in [
                (b"a", QoS::AtLeastOnce, 10),
                (b"b", QoS::AtLeastOnce, 3),
                (b"c", QoS::AtLeastOnce, 30),
                (b"d", QoS::AtMostOnce, 5),
            ] {
                let properties = Properties::List(&lives(secs));
                client
                    .publish_with("t", payload, qos, false, properties)
                    .await
                    .unwrap();
            }
            // Offline for four seconds: "b" runs out.
            second(104);
            for at in [104, 104, 104, 120, 125, 125, 125] {
                second(at);
                let event = client.poll().await.unwrap();
                events.push(std::format!("{event:?}"));
            }
        });
        let expired = "PublishRefused { error: MessageExpired }";
        let acked = |id: u16| std::format!("Published {{ packet_id: {id}, reason_code: 0 }}");
        assert_eq!(
            events,
            [
                "Connected { session_present: false }",
                &acked(1),
                expired,
                &acked(2),
                expired,
                &acked(3),
                "Disconnected",
            ]
        );
        assert_eq!(client.outbox_used(), 0);
        // The restored one as it was given; the others counted from second
        // 100: "r" and "a" went at 104, "b" (3 s) had run out behind them,
        // "c" waited for the window (found full at 120) until 125, and "d"
        // (5 s) ran out behind it.
        let sent = published(&writes.borrow());
        assert_eq!(
            sent,
            [
                (1, b"r".to_vec(), Some(10)),
                (2, b"a".to_vec(), Some(6)),
                (3, b"c".to_vec(), Some(5)),
            ]
        );
        // The store was handed each interval as given.
        let stored: Vec<Option<u32>> = client
            .store
            .appended
            .iter()
            .map(|body| {
                Properties::split_block(body)
                    .unwrap()
                    .0
                    .message_expiry_interval()
            })
            .collect();
        assert_eq!(stored, [Some(10), Some(3), Some(30)]);
        // Each acknowledged or dropped: none left in the store.
        assert_eq!(client.store.kept, Vec::<Vec<u8>>::new());
    }

    /// A publish that finds the outbox full makes room by dropping those
    /// that ran out during the outage, which are reported as any other that
    /// ran out, one event each; while none has, the outbox refuses it as
    /// full.
    #[test]
    fn a_full_outbox_makes_room_by_dropping_expired_publishes() {
        let writes = std::rc::Rc::new(core::cell::RefCell::new(Vec::new()));
        let scripted = Scripted {
            reads: std::vec![std::vec![0x20, 3, 0, 0, 0], std::vec![0x40, 2, 0, 1]],
            writes: writes.clone(),
        };
        let clock = Virtual(Cell::new(0));
        // Two records of 16 bytes (header 8, topic 1, property block 6,
        // payload 1) fill it; a third of 10 does not fit, and one of 29
        // fits only once both are gone.
        let (mut receive, mut send, mut outbox) = ([0u8; 64], [0u8; 64], [0u8; 40]);
        let buffers = [&mut receive[..], &mut send[..], &mut outbox[..]];
        let mut client: Client<'_, Scripted, &Virtual, 2, 2, Recording> = recording_client(
            scripted,
            &clock,
            "room",
            buffers,
            Recording::new(Vec::new()),
        );
        let z = [b'z'; 20];
        let one_second = [Property::MessageExpiryInterval(1)];
        let mut events = Vec::new();
        embassy_futures::block_on(async {
            for payload in [b"x", b"y"] {
                let properties = Properties::List(&one_second);
                client
                    .publish_with("t", payload, QoS::AtLeastOnce, false, properties)
                    .await
                    .unwrap();
            }
            clock.0.set(500_000);
            let full = client.publish("t", b"w", QoS::AtLeastOnce).await;
            assert_eq!(
                full,
                Err(ClientError::OutboxFull),
                "nothing has run out yet"
            );
            clock.0.set(5_000_000);
            client.publish("t", &z, QoS::AtLeastOnce).await.unwrap();
            for _ in 0..5 {
                let event = client.poll().await.unwrap();
                events.push(std::format!("{event:?}"));
            }
        });
        let expired = "PublishRefused { error: MessageExpired }";
        assert_eq!(
            events,
            [
                "Connected { session_present: false }",
                expired,
                expired,
                "Published { packet_id: 1, reason_code: 0 }",
                "Disconnected",
            ]
        );
        assert_eq!(published(&writes.borrow()), [(1, z.to_vec(), None)]);
        assert_eq!(
            client.store.kept,
            Vec::<Vec<u8>>::new(),
            "left in the store"
        );
    }

    /// A publish restored from flash goes with the interval it was given,
    /// even when it waits behind a full window (of one) after the firmware
    /// has published with properties: only what the countdown held is
    /// held again.
    #[test]
    fn a_restored_publish_waiting_for_the_window_keeps_its_interval() {
        let writes = std::rc::Rc::new(core::cell::RefCell::new(Vec::new()));
        let puback = |id: u8| std::vec![0x40, 2, 0, id];
        let scripted = Scripted {
            reads: std::vec![std::vec![0x20, 3, 0, 0, 0], puback(1), puback(2)],
            writes: writes.clone(),
        };
        let clock = Virtual(Cell::new(100_000_000));
        let restored = |payload| std::vec![5, 0x02, 0, 0, 0, 10, payload];
        let store = Recording::new(std::vec![("t", restored(b'1')), ("t", restored(b'2'))]);
        let (mut receive, mut send, mut outbox) = ([0u8; 64], [0u8; 128], [0u8; 256]);
        let buffers = [&mut receive[..], &mut send[..], &mut outbox[..]];
        let mut client: Client<'_, Scripted, &Virtual, 1, 2, Recording> =
            recording_client(scripted, &clock, "restored", buffers, store);
        embassy_futures::block_on(async {
            let typed = [Property::ContentType("text/plain")];
            let properties = Properties::List(&typed);
            client
                .publish_with("t", b"p", QoS::AtMostOnce, false, properties)
                .await
                .unwrap();
            for at in [100, 108, 108, 108] {
                clock.0.set(at * 1_000_000);
                client.poll().await.unwrap();
            }
        });
        let sent = published(&writes.borrow());
        assert_eq!(
            sent,
            [
                (1, b"1".to_vec(), Some(10)),
                (2, b"2".to_vec(), Some(10)),
                (0, b"p".to_vec(), None),
            ]
        );
    }

    /// Two publishes queued offline above the server's Maximum QoS are
    /// reported one event each: the second waits in the outbox while the
    /// first's report is pending, rather than taking its place.
    #[test]
    fn each_refused_publish_is_reported_once() {
        let writes = std::rc::Rc::new(core::cell::RefCell::new(Vec::new()));
        // CONNACK with Maximum QoS 1.
        let connack = std::vec![0x20, 5, 0, 0, 2, 0x24, 1];
        let scripted = Scripted {
            reads: std::vec![connack, std::vec![0x40, 2, 0, 1]],
            writes: writes.clone(),
        };
        const RM: &[Property<'static>] = &[Property::ReceiveMaximum(2)];
        let clock = Virtual(Cell::new(0));
        let (mut receive, mut send, mut outbox) = ([0u8; 64], [0u8; 64], [0u8; 128]);
        let buffers = [&mut receive[..], &mut send[..], &mut outbox[..]];
        let mut client: Client<'_, Scripted, &Virtual, 2, 2> =
            scripted_client(scripted, &clock, connect_5("refused", RM), buffers);
        let mut events = Vec::new();
        embassy_futures::block_on(async {
            for (payload, qos) in [(b"x", QoS::ExactlyOnce), (b"y", QoS::ExactlyOnce)] {
                client.publish("t", payload, qos).await.unwrap();
            }
            client.publish("t", b"z", QoS::AtLeastOnce).await.unwrap();
            for _ in 0..5 {
                let event = client.poll().await.unwrap();
                events.push(std::format!("{event:?}"));
            }
        });
        let refused = "PublishRefused { error: QoSNotSupported }";
        assert_eq!(
            events,
            [
                "Connected { session_present: false }",
                refused,
                refused,
                "Published { packet_id: 1, reason_code: 0 }",
                "Disconnected",
            ]
        );
        assert_eq!(published(&writes.borrow()), [(1, b"z".to_vec(), None)]);
    }
}
