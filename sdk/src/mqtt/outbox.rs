//! The client's outbox: publishes not yet acknowledged, in the caller's
//! memory, in the order they were made. It is the offline queue (publishes
//! made while disconnected wait here) and the store a resumed session
//! resends from (MQTT §4.4: unacknowledged PUBLISH again, with DUP).
//!
//! Records are packed one after another in the byte buffer:
//! `[state][delivery][packet id: 2][topic length: 2][body length: 2][topic][body]`,
//! the `delivery` byte holding the QoS, the RETAIN flag and whether the
//! body starts with 5.0 properties ([`Delivery`]); the body is the
//! payload, after the property block (as a PUBLISH carries it) if any.
//! A full outbox refuses new publishes ([`OutboxFull`]) rather than dropping
//! old ones.

use duet_netstack::no_memmove::copy_within;

use super::codec::{Properties, Publish, QoS};

const HEADER: usize = 8;

/// The RETAIN flag in a record's (and a journal entry's) delivery byte.
const RETAIN_BIT: u8 = 0x80;
/// The body starts with a property block.
const PROPERTIES_BIT: u8 = 0x40;

/// How a stored publish goes out: its QoS, its RETAIN flag, and whether
/// its body starts with 5.0 properties. Kept as one byte in a record and
/// in a journal entry: the QoS in the low bits, RETAIN in the top one,
/// properties in the next, so a byte written before RETAIN or properties
/// were kept (the QoS alone) reads the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub qos: QoS,
    pub retain: bool,
    /// The body is a PUBLISH's property block, then the payload.
    pub properties: bool,
}

impl Delivery {
    /// A publish without properties.
    pub const fn new(qos: QoS, retain: bool) -> Self {
        Delivery {
            qos,
            retain,
            properties: false,
        }
    }

    pub(crate) const fn byte(self) -> u8 {
        self.qos as u8
            | if self.retain { RETAIN_BIT } else { 0 }
            | if self.properties { PROPERTIES_BIT } else { 0 }
    }

    /// The delivery a byte holds; `None` for a byte no publish gives
    /// (QoS 3, a stray bit).
    pub(crate) const fn of(byte: u8) -> Option<Self> {
        let qos = match byte & !(RETAIN_BIT | PROPERTIES_BIT) {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            2 => QoS::ExactlyOnce,
            _ => return None,
        };
        Some(Delivery {
            qos,
            retain: byte & RETAIN_BIT != 0,
            properties: byte & PROPERTIES_BIT != 0,
        })
    }
}

/// The state byte of a record.
const QUEUED: u8 = 0;
const IN_FLIGHT: u8 = 1;
const SENT: u8 = 2;
const SENT_RELEASED: u8 = 3;
/// Queued, its Message Expiry Interval counting down: the property holds
/// the second it runs out ([`Outbox::hold_expiry`]). In RAM only: a store
/// is handed the record before, with the interval as given.
const QUEUED_EXPIRING: u8 = 4;

/// Where a record stands.
///
/// A record keeps the packet identifier it was first sent with for life:
/// after a reboot or a lost session it goes out again under the same one,
/// so a broker that still holds the exchange recognises the resend instead
/// of taking it for a new message (MQTT §4.3.3, §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordState {
    /// Never sent (made while disconnected, or not yet given a turn).
    Queued,
    /// Sent with this packet identifier on the current connection,
    /// acknowledgement awaited.
    InFlight(u16),
    /// Sent with this packet identifier before a reboot or a lost session,
    /// not yet on the current connection. `released`: the server answered
    /// the QoS 2 PUBLISH with PUBREC, so a PUBREL, not the PUBLISH, is due.
    Sent {
        /// Its packet identifier.
        packet_id: u16,
        /// PUBREC received (QoS 2).
        released: bool,
    },
}

/// No room for the publish; nothing was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxFull;

/// The Message Expiry Interval of a queued publish ran out before it could
/// be sent (see [`Outbox::release_expiry`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired;

/// Where QoS 1 and 2 publishes are kept beside the outbox so they survive a
/// reboot (the `storage` feature's `mqtt::journal::Journal` on NOR flash);
/// `()` keeps them in RAM only.
pub trait OutboxStore {
    /// A QoS 1/2 publish is entering the outbox (`body` as a record holds
    /// it: see [`Delivery::properties`]); it is accepted only once this
    /// returns `Ok`, so a publish the caller was told about is stored.
    fn append(&mut self, delivery: Delivery, topic: &str, body: &[u8]) -> Result<(), OutboxFull>;

    /// The `ordinal`-th stored publish (oldest first) was acknowledged.
    fn remove(&mut self, ordinal: usize);

    /// The outbox record at `at` was acknowledged. Finding its ordinal
    /// walks the outbox, so a store that keeps nothing skips it.
    fn acknowledged(&mut self, outbox: &Outbox<'_>, at: usize) {
        self.remove(outbox.ordinal(at));
    }

    /// The outbox record at `at` is about to be sent for the first time,
    /// with `packet_id`: kept so that after a reboot it is sent again under
    /// the same identifier.
    fn sent(&mut self, outbox: &Outbox<'_>, at: usize, packet_id: u16) {
        let _ = (outbox, at, packet_id);
    }

    /// The server answered the QoS 2 record at `at` with PUBREC; this is
    /// kept before the PUBREL goes out, so that after a reboot the PUBREL
    /// is sent again rather than the PUBLISH, which the server, having
    /// released the message, would take for a new one.
    fn released(&mut self, outbox: &Outbox<'_>, at: usize) {
        let _ = (outbox, at);
    }

    /// Puts the stored publishes, oldest first, into a fresh outbox, with
    /// their packet identifiers and PUBREC state.
    fn restore(&mut self, outbox: &mut Outbox<'_>);
}

impl OutboxStore for () {
    fn append(&mut self, _: Delivery, _: &str, _: &[u8]) -> Result<(), OutboxFull> {
        Ok(())
    }

    fn remove(&mut self, _: usize) {}

    fn acknowledged(&mut self, _: &Outbox<'_>, _: usize) {}

    fn restore(&mut self, _: &mut Outbox<'_>) {}
}

/// One stored publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub state: RecordState,
    pub qos: QoS,
    /// The PUBLISH's RETAIN flag.
    pub retain: bool,
    pub topic: &'a str,
    /// The PUBLISH's 5.0 properties.
    pub properties: Properties<'a>,
    pub payload: &'a [u8],
}

impl<'a> Record<'a> {
    /// The PUBLISH it goes out as: the session gives it its packet
    /// identifier, and DUP on a resend.
    pub fn publish(&self) -> Publish<'a> {
        Publish {
            dup: false,
            qos: self.qos,
            retain: self.retain,
            topic: self.topic,
            packet_id: 0,
            properties: self.properties,
            payload: self.payload,
        }
    }
}

/// The outbox over a caller buffer.
///
/// Records live in `buf[head..len]`. Acknowledgements mostly come oldest
/// first, so removing the oldest record only moves `head` past it; the
/// records are moved to the front of the buffer once, when an append finds
/// no room behind them (one copy of a full outbox per fill, where moving
/// the rest at every removal cost one per acknowledgement).
#[derive(Debug)]
pub struct Outbox<'b> {
    buf: &'b mut [u8],
    head: usize,
    len: usize,
    /// Every record from `head` up to here is in flight: where a pump of
    /// the queue starts, instead of walking the window's records each time.
    unsent: usize,
}

impl<'b> Outbox<'b> {
    pub fn new(buf: &'b mut [u8]) -> Self {
        Outbox {
            buf,
            head: 0,
            len: 0,
            unsent: 0,
        }
    }

    /// The offset of the oldest record (of none, when empty).
    pub fn first(&self) -> usize {
        self.head
    }

    /// The offset of the first record not in flight: queued, or sent before
    /// this connection (of none, when every record is in flight).
    pub fn first_unsent(&self) -> usize {
        self.unsent
    }

    /// Appends a publish without properties, queued; returns its offset.
    pub fn push(
        &mut self,
        qos: QoS,
        retain: bool,
        topic: &str,
        payload: &[u8],
    ) -> Result<usize, OutboxFull> {
        let delivery = Delivery::new(qos, retain);
        self.push_with(delivery, topic.len(), payload.len(), |record| {
            let (topic_bytes, payload_bytes) = record.split_at_mut(topic.len());
            topic_bytes.copy_from_slice(topic.as_bytes());
            payload_bytes.copy_from_slice(payload);
            true
        })
    }

    /// Appends a publish with 5.0 `properties`, queued; returns its offset.
    /// They go out as given: the caller checks them first
    /// ([`Client::publish_with`](super::Client::publish_with) does).
    pub fn push_with_properties(
        &mut self,
        qos: QoS,
        retain: bool,
        topic: &str,
        properties: Properties<'_>,
        payload: &[u8],
    ) -> Result<usize, OutboxFull> {
        let delivery = Delivery {
            properties: !properties.is_empty(),
            ..Delivery::new(qos, retain)
        };
        let block_len = match delivery.properties {
            true => properties.block_len().map_err(|_| OutboxFull)?,
            false => 0,
        };
        let body_len = block_len + payload.len();
        self.push_with(delivery, topic.len(), body_len, |record| {
            let (topic_bytes, body) = record.split_at_mut(topic.len());
            topic_bytes.copy_from_slice(topic.as_bytes());
            let (block, payload_bytes) = body.split_at_mut(block_len);
            payload_bytes.copy_from_slice(payload);
            !delivery.properties || properties.write_block(block).is_ok()
        })
    }

    /// Appends a queued publish whose topic and body `fill` writes into
    /// the record (topic then body); nothing is kept if `fill` returns
    /// `false`, the topic is not UTF-8 or the body does not start with the
    /// property block `delivery` says it does. Returns its offset.
    pub fn push_with(
        &mut self,
        delivery: Delivery,
        topic_len: usize,
        body_len: usize,
        fill: impl FnOnce(&mut [u8]) -> bool,
    ) -> Result<usize, OutboxFull> {
        let size = HEADER + topic_len + body_len;
        if self.len + size > self.buf.len() {
            self.move_to_front();
        }
        let at = self.len;
        let topic_len16 = u16::try_from(topic_len).map_err(|_| OutboxFull)?;
        let body_len16 = u16::try_from(body_len).map_err(|_| OutboxFull)?;
        let record = self.buf.get_mut(at..at + size).ok_or(OutboxFull)?;
        record[0] = QUEUED;
        record[1] = delivery.byte();
        record[2..4].copy_from_slice(&0u16.to_be_bytes());
        record[4..6].copy_from_slice(&topic_len16.to_be_bytes());
        record[6..8].copy_from_slice(&body_len16.to_be_bytes());
        let body = &mut record[HEADER..];
        if !fill(body)
            || core::str::from_utf8(&body[..topic_len]).is_err()
            || (delivery.properties && Properties::split_block(&body[topic_len..]).is_err())
        {
            return Err(OutboxFull);
        }
        self.len += size;
        Ok(at)
    }

    /// Moves the records to the start of the buffer, for room behind them.
    fn move_to_front(&mut self) {
        copy_within(self.buf, self.head..self.len, 0);
        self.len -= self.head;
        self.unsent -= self.head;
        self.head = 0;
    }

    /// How many QoS 1/2 records come before the one at `at`: its place in
    /// an [`OutboxStore`].
    pub fn ordinal(&self, at: usize) -> usize {
        let (mut offset, mut count) = (self.head, 0);
        while offset < at {
            let Some((record, next)) = self.get(offset) else {
                break;
            };
            count += usize::from(record.qos != QoS::AtMostOnce);
            offset = next;
        }
        count
    }

    /// Bytes in use.
    pub fn used(&self) -> usize {
        self.len - self.head
    }

    pub fn is_empty(&self) -> bool {
        self.len == self.head
    }

    /// The record at `at` as a store keeps it: its delivery, topic and
    /// body (see [`OutboxStore::append`]).
    pub fn stored(&self, at: usize) -> Option<(Delivery, &str, &[u8])> {
        let header = self.buf[self.head..self.len].get(at.checked_sub(self.head)?..)?;
        let delivery = Delivery::of(*header.get(1)?)?;
        let (record, next) = self.get(at)?;
        let body_at = at + HEADER + record.topic.len();
        Some((delivery, record.topic, self.buf.get(body_at..next)?))
    }

    /// The record at byte offset `at`, and the offset of the next one.
    pub fn get(&self, at: usize) -> Option<(Record<'_>, usize)> {
        let header = self.buf[self.head..self.len].get(at.checked_sub(self.head)?..)?;
        let header = header.get(..HEADER)?;
        let topic_len = usize::from(u16::from_be_bytes([header[4], header[5]]));
        let body_len = usize::from(u16::from_be_bytes([header[6], header[7]]));
        let end = at + HEADER + topic_len + body_len;
        let body = self.buf[..self.len].get(at + HEADER..end)?;
        let topic = core::str::from_utf8(&body[..topic_len]).ok()?;
        // Written by `push_with`, so always a delivery byte, and a body
        // that starts with a property block if it says so.
        let delivery = Delivery::of(header[1]).unwrap_or(Delivery::new(QoS::ExactlyOnce, false));
        let body = &body[topic_len..];
        let (properties, payload) = match delivery.properties {
            true => Properties::split_block(body).unwrap_or((Properties::EMPTY, body)),
            false => (Properties::EMPTY, body),
        };
        let packet_id = u16::from_be_bytes([header[2], header[3]]);
        let state = match header[0] {
            QUEUED | QUEUED_EXPIRING => RecordState::Queued,
            IN_FLIGHT => RecordState::InFlight(packet_id),
            released => RecordState::Sent {
                packet_id,
                released: released == SENT_RELEASED,
            },
        };
        let record = Record {
            state,
            qos: delivery.qos,
            retain: delivery.retain,
            topic,
            properties,
            payload,
        };
        Some((record, end))
    }

    /// Marks the record at `at` sent with `packet_id` on this connection.
    pub fn mark_in_flight(&mut self, at: usize, packet_id: u16) {
        self.set_state(at, IN_FLIGHT, packet_id);
        // A pump takes records in order, so the next is not in flight; were
        // it, a pump would only pass over it.
        if at == self.unsent
            && let Some((_, next)) = self.get(at)
        {
            self.unsent = next;
        }
    }

    /// Marks the record at `at` sent with `packet_id` before this
    /// connection (restored after a reboot).
    pub fn mark_sent(&mut self, at: usize, packet_id: u16, released: bool) {
        let state = if released { SENT_RELEASED } else { SENT };
        self.set_state(at, state, packet_id);
    }

    fn set_state(&mut self, at: usize, state: u8, packet_id: u16) {
        if at < self.head {
            return;
        }
        if let Some(header) = self.buf[..self.len].get_mut(at..at + HEADER) {
            header[0] = state;
            header[2..4].copy_from_slice(&packet_id.to_be_bytes());
        }
    }

    /// Starts the countdown of the queued record at `at`'s Message Expiry
    /// Interval (5.0 §3.3.2.3.3) at `now_secs`, a second of the client's
    /// clock: the property then holds the second the interval runs out,
    /// until [`Outbox::release_expiry`] puts back what is left of it. A
    /// broker counts the interval from when it receives the publish, so
    /// without this a publish made offline would go out hours later as
    /// fresh as when it was made. A record that is not queued, has no such
    /// property or gives it 0, is left as it is.
    pub fn hold_expiry(&mut self, at: usize, now_secs: u32) {
        if let Some(field) = self.expiry_field(at, QUEUED) {
            let interval = self.read_u32(field);
            if interval > 0 {
                let deadline = now_secs.saturating_add(interval);
                self.buf[field..field + 4].copy_from_slice(&deadline.to_be_bytes());
                self.buf[at] = QUEUED_EXPIRING;
            }
        }
    }

    /// Ends the countdown [`Outbox::hold_expiry`] started, as the record at
    /// `at` is about to be sent at `now_secs`: the interval left goes back
    /// into its property, or, once none is, `Err(Expired)` and the caller
    /// drops the record. Counted in whole seconds, a publish may run out up
    /// to a second early. A record that was not sent after all is held
    /// again at the same second, which gives back the same deadline.
    /// `Ok(true)` when it was counting down, `Ok(false)` for a record that
    /// was not (left as it is).
    pub fn release_expiry(&mut self, at: usize, now_secs: u32) -> Result<bool, Expired> {
        let Some(field) = self.expiry_field(at, QUEUED_EXPIRING) else {
            return Ok(false);
        };
        let left = self.read_u32(field).checked_sub(now_secs);
        let left = left.filter(|&left| left > 0).ok_or(Expired)?;
        self.buf[field..field + 4].copy_from_slice(&left.to_be_bytes());
        self.buf[at] = QUEUED;
        Ok(true)
    }

    /// Whether the record at `at` is counting down (see
    /// [`Outbox::hold_expiry`]) and has nothing left at `now_secs`.
    pub fn has_expired(&self, at: usize, now_secs: u32) -> bool {
        self.expiry_field(at, QUEUED_EXPIRING)
            .is_some_and(|field| self.read_u32(field) <= now_secs)
    }

    /// Where the four bytes of the Message Expiry Interval of the record at
    /// `at` are in the buffer, if it has one and its state byte is `state`.
    /// Read off the header, not through [`Outbox::get`]: no UTF-8 check of
    /// the topic.
    fn expiry_field(&self, at: usize, state: u8) -> Option<usize> {
        let record = self.buf[..self.len].get(at.max(self.head)..)?;
        let header = record.get(..HEADER)?;
        if at < self.head || header[0] != state || header[1] & PROPERTIES_BIT == 0 {
            return None;
        }
        let topic_len = usize::from(u16::from_be_bytes([header[4], header[5]]));
        let body = record.get(HEADER + topic_len..)?;
        let field = Properties::message_expiry_at(body)?;
        body.get(field..field + 4)?;
        Some(at + HEADER + topic_len + field)
    }

    /// The big-endian word at `at`, which [`Outbox::expiry_field`] found.
    fn read_u32(&self, at: usize) -> u32 {
        let mut word = [0; 4];
        word.copy_from_slice(&self.buf[at..at + 4]);
        u32::from_be_bytes(word)
    }

    /// Every record sent before, on a connection whose session the server
    /// did not keep, due again as a PUBLISH under its identifier.
    pub fn requeue_all(&mut self) {
        self.unsent = self.head;
        let mut at = self.head;
        while let Some((record, next)) = self.get(at) {
            if let RecordState::InFlight(packet_id) | RecordState::Sent { packet_id, .. } =
                record.state
            {
                self.mark_sent(at, packet_id, false);
            }
            at = next;
        }
    }

    /// Removes the record at `at`; returns the offset of the record that
    /// followed it.
    pub fn remove(&mut self, at: usize) -> usize {
        let Some((_, next)) = self.get(at) else {
            return at;
        };
        let following = if at == self.head {
            self.head = next;
            self.unsent = self.unsent.max(next);
            next
        } else {
            copy_within(self.buf, next..self.len, at);
            self.len -= next - at;
            if self.unsent > at {
                self.unsent -= next - at;
            }
            at
        };
        if self.is_empty() {
            (self.head, self.len, self.unsent) = (0, 0, 0);
            return 0;
        }
        following
    }

    /// The offset of the in-flight record with `packet_id`.
    pub fn find(&self, packet_id: u16) -> Option<usize> {
        let mut at = self.head;
        while let Some((record, next)) = self.get(at) {
            if record.state == RecordState::InFlight(packet_id) {
                return Some(at);
            }
            at = next;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use super::*;

    #[test]
    fn the_delivery_byte_carries_retain_and_properties_and_reads_older_bytes_the_same() {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            for (retain, properties) in [(false, false), (true, false), (false, true), (true, true)]
            {
                let delivery = Delivery {
                    qos,
                    retain,
                    properties,
                };
                assert_eq!(Delivery::of(delivery.byte()), Some(delivery));
            }
            // A byte written before RETAIN and properties were kept: the
            // QoS alone.
            assert_eq!(Delivery::of(qos as u8), Some(Delivery::new(qos, false)));
        }
        for stray in [3, 0x83, 0x43, 0x21, 0x04] {
            assert_eq!(Delivery::of(stray), None, "{stray:#x}");
        }
        let mut buf = [0u8; 64];
        let mut outbox = Outbox::new(&mut buf);
        let retained = outbox.push(QoS::ExactlyOnce, true, "state", b"on").unwrap();
        let plain = outbox.push(QoS::ExactlyOnce, false, "event", b"x").unwrap();
        assert!(outbox.get(retained).unwrap().0.retain);
        assert!(!outbox.get(plain).unwrap().0.retain);
        assert_eq!(outbox.get(retained).unwrap().0.qos, QoS::ExactlyOnce);
    }

    /// Properties go into the record as a PUBLISH's property block before
    /// the payload, and come back as they were given; the store is handed
    /// the record's bytes, which a second outbox takes back whole (as after
    /// a reboot). A body that does not start with the block its delivery
    /// byte promises is refused.
    #[test]
    fn properties_are_kept_with_the_publish_and_restored_from_its_stored_bytes() {
        use crate::mqtt::codec::Property;
        let given = [
            Property::MessageExpiryInterval(3600),
            Property::ResponseTopic("duet/replies"),
            Property::CorrelationData(b"\x01\x02"),
            Property::UserProperty("unit", "celsius"),
            Property::UserProperty("site", "lab"),
        ];
        let properties = Properties::List(&given);
        let mut buf = [0u8; 256];
        let mut outbox = Outbox::new(&mut buf);
        let at = outbox
            .push_with_properties(QoS::AtLeastOnce, true, "t", properties, b"21.5")
            .unwrap();
        let plain = outbox.push(QoS::AtLeastOnce, false, "u", b"x").unwrap();
        let (record, _) = outbox.get(at).unwrap();
        assert_eq!(
            (record.topic, record.payload, record.retain),
            ("t", &b"21.5"[..], true)
        );
        assert_eq!(record.properties, properties);
        assert_eq!(record.publish().properties, properties);
        assert!(outbox.get(plain).unwrap().0.properties.is_empty());

        let (delivery, topic, body) = outbox.stored(at).unwrap();
        assert!(delivery.properties && delivery.retain);
        let mut other = [0u8; 256];
        let mut restored = Outbox::new(&mut other);
        let copy = restored
            .push_with(delivery, topic.len(), body.len(), |record| {
                record[..1].copy_from_slice(topic.as_bytes());
                record[1..].copy_from_slice(body);
                true
            })
            .unwrap();
        let (record, _) = restored.get(copy).unwrap();
        assert_eq!(
            (record.properties, record.payload),
            (properties, &b"21.5"[..])
        );
        // The same bytes with the block's length cut: refused, not stored.
        let broken = restored.push_with(delivery, 1, body.len(), |record| {
            record[..1].copy_from_slice(b"t");
            record[1..].copy_from_slice(body);
            record[1] = 0x7f;
            true
        });
        assert_eq!(broken, Err(OutboxFull));
        assert_eq!(restored.used(), 8 + 1 + body.len());
    }

    /// The expiry interval of a queued publish counts down between
    /// `hold_expiry` and `release_expiry`, which hand back what is left, or
    /// refuse a publish with nothing left. Records without the property,
    /// and records already sent, are not touched.
    #[test]
    fn a_queued_publishs_expiry_interval_counts_down_until_it_is_sent() {
        use crate::mqtt::codec::Property;
        let expiring = |interval| {
            [
                Property::ContentType("text/plain"),
                Property::MessageExpiryInterval(interval),
                Property::UserProperty("unit", "celsius"),
            ]
        };
        let interval = |outbox: &Outbox<'_>, at| {
            let (record, _) = outbox.get(at).unwrap();
            assert_eq!(record.state, RecordState::Queued);
            record.properties.message_expiry_interval()
        };
        let mut buf = [0u8; 512];
        let mut outbox = Outbox::new(&mut buf);
        let ten = expiring(10);
        let at = outbox
            .push_with_properties(QoS::AtLeastOnce, false, "t", Properties::List(&ten), b"1")
            .unwrap();
        let (_, _, stored_before) = outbox.stored(at).unwrap();
        let stored_before = stored_before.to_vec();
        outbox.hold_expiry(at, 1_000);
        // Held: the deadline, second 1,010, in place of the interval.
        assert_eq!(interval(&outbox, at), Some(1_010));
        // Held twice: the countdown does not restart.
        outbox.hold_expiry(at, 1_005);
        assert_eq!(interval(&outbox, at), Some(1_010));
        assert_eq!(outbox.release_expiry(at, 1_004), Ok(true));
        assert_eq!(interval(&outbox, at), Some(6));
        // Released twice: nothing more is taken off.
        assert_eq!(outbox.release_expiry(at, 1_009), Ok(false));
        assert_eq!(interval(&outbox, at), Some(6));
        // Held again (the window was full), released later: the same
        // deadline, second 1,010.
        outbox.hold_expiry(at, 1_004);
        assert_eq!(outbox.release_expiry(at, 1_007), Ok(true));
        assert_eq!(interval(&outbox, at), Some(3));
        // The rest of the record is as it was.
        let (_, _, body) = outbox.stored(at).unwrap();
        assert_eq!(body.len(), stored_before.len());
        let (record, _) = outbox.get(at).unwrap();
        assert_eq!(record.payload, b"1");
        assert_eq!(record.properties.iter().count(), 3);

        // In its last second: 1 s left, and held again then (not sent
        // after all), the same deadline: run out at the next second. At the
        // deadline and after it: run out.
        let at = outbox
            .push_with_properties(QoS::AtMostOnce, false, "t", Properties::List(&ten), b"2")
            .unwrap();
        outbox.hold_expiry(at, 1_000);
        assert_eq!(outbox.release_expiry(at, 1_009), Ok(true));
        assert_eq!(interval(&outbox, at), Some(1));
        outbox.hold_expiry(at, 1_009);
        assert_eq!(outbox.release_expiry(at, 1_010), Err(Expired));
        outbox.remove(at);
        for late in [1_010, 1_011, u32::MAX] {
            let at = outbox
                .push_with_properties(QoS::AtMostOnce, false, "t", Properties::List(&ten), b"2")
                .unwrap();
            assert!(!outbox.has_expired(at, late), "not counting down yet");
            outbox.hold_expiry(at, 1_000);
            assert!(!outbox.has_expired(at, 1_009));
            assert!(outbox.has_expired(at, late));
            assert_eq!(outbox.release_expiry(at, late), Err(Expired), "{late}");
            outbox.remove(at);
        }
        // Given 0: sent as given, not counted.
        let zero = expiring(0);
        let at = outbox
            .push_with_properties(QoS::AtMostOnce, false, "t", Properties::List(&zero), b"0")
            .unwrap();
        outbox.hold_expiry(at, 1_000);
        assert_eq!(outbox.release_expiry(at, 2_000), Ok(false));
        assert_eq!(interval(&outbox, at), Some(0));
        outbox.remove(at);
        // An interval that would pass the clock's last second stops there.
        let long = expiring(u32::MAX);
        let at = outbox
            .push_with_properties(QoS::AtLeastOnce, false, "t", Properties::List(&long), b"3")
            .unwrap();
        outbox.hold_expiry(at, 7);
        assert_eq!(outbox.release_expiry(at, 8), Ok(true));
        assert_eq!(interval(&outbox, at), Some(u32::MAX - 8));

        // Without the property, or without properties, or in flight: as is.
        let other = [Property::ContentType("text/plain")];
        let plain_props = outbox
            .push_with_properties(QoS::AtLeastOnce, false, "t", Properties::List(&other), b"4")
            .unwrap();
        let plain = outbox.push(QoS::AtLeastOnce, false, "t", b"5").unwrap();
        let sent = outbox
            .push_with_properties(QoS::AtLeastOnce, false, "t", Properties::List(&ten), b"6")
            .unwrap();
        outbox.mark_in_flight(sent, 9);
        let before = outbox.buf[..outbox.len].to_vec();
        for at in [plain_props, plain, sent] {
            outbox.hold_expiry(at, 100);
            assert_eq!(outbox.release_expiry(at, 200), Ok(false));
        }
        assert_eq!(outbox.buf[..outbox.len], before[..]);
    }

    #[test]
    fn records_keep_their_order_state_and_bounds() {
        let mut buf = [0u8; 64];
        let mut outbox = Outbox::new(&mut buf);
        outbox.push(QoS::AtLeastOnce, false, "a/b", b"one").unwrap();
        outbox.push(QoS::ExactlyOnce, false, "c", b"two!").unwrap();
        // 8 + 3 + 3 and 8 + 1 + 4 bytes: 27 used; 40 more do not fit.
        assert_eq!(outbox.used(), 27);
        assert_eq!(
            outbox.push(QoS::AtMostOnce, false, "x", &[0; 32]),
            Err(OutboxFull)
        );
        assert_eq!(outbox.used(), 27, "a refused publish stores nothing");
        let (first, next) = outbox.get(0).unwrap();
        assert_eq!(
            (first.state, first.qos, first.topic, first.payload),
            (RecordState::Queued, QoS::AtLeastOnce, "a/b", &b"one"[..])
        );
        outbox.mark_in_flight(next, 7);
        assert_eq!(outbox.find(7), Some(next));
        assert_eq!(outbox.get(next).unwrap().0.state, RecordState::InFlight(7));
        outbox.requeue_all();
        assert_eq!(outbox.find(7), None);
        assert_eq!(
            outbox.get(next).unwrap().0.state,
            RecordState::Sent {
                packet_id: 7,
                released: false
            },
            "a requeued record keeps its identifier"
        );
        assert_eq!(outbox.get(0).unwrap().0.state, RecordState::Queued);
        outbox.mark_sent(0, 9, true);
        assert_eq!(
            outbox.get(0).unwrap().0.state,
            RecordState::Sent {
                packet_id: 9,
                released: true
            }
        );
        let at = outbox.remove(0);
        assert_eq!(at, outbox.first());
        let (only, end) = outbox.get(at).unwrap();
        assert_eq!(
            (only.topic, only.payload, end - at),
            ("c", &b"two!"[..], 13)
        );
        assert_eq!(outbox.used(), 13);
        outbox.remove(at);
        assert!(outbox.is_empty());
    }

    /// The records of `outbox`, oldest first: topic, payload and state.
    fn records<'a>(outbox: &'a Outbox<'_>) -> Vec<(&'a str, &'a [u8], RecordState)> {
        let mut found = Vec::new();
        let mut at = outbox.first();
        while let Some((record, next)) = outbox.get(at) {
            found.push((record.topic, record.payload, record.state));
            at = next;
        }
        found
    }

    #[test]
    fn the_oldest_leaves_without_moving_the_rest_and_an_append_makes_room_at_the_front() {
        let mut buf = [0u8; 48];
        let mut outbox = Outbox::new(&mut buf);
        // Records of 8 + 1 + 3 = 12 bytes: four fill the buffer.
        let a = outbox.push(QoS::AtLeastOnce, false, "a", b"one").unwrap();
        let b = outbox.push(QoS::AtLeastOnce, false, "b", b"two").unwrap();
        let c = outbox.push(QoS::AtLeastOnce, false, "c", b"333").unwrap();
        assert_eq!(outbox.remove(a), b, "what followed the oldest, in place");
        assert_eq!((outbox.first(), outbox.used()), (b, 24));
        assert_eq!(outbox.get(c).unwrap().0.topic, "c");
        // 12 bytes behind the last record, so `d` goes there; `e` needs
        // the room the oldest left, and the records move to the front.
        assert_eq!(outbox.push(QoS::AtLeastOnce, false, "d", b"444"), Ok(36));
        assert_eq!(outbox.push(QoS::ExactlyOnce, false, "e", b"555"), Ok(36));
        assert_eq!(outbox.first(), 0);
        let queued = RecordState::Queued;
        assert_eq!(
            records(&outbox),
            [
                ("b", &b"two"[..], queued),
                ("c", &b"333"[..], queued),
                ("d", &b"444"[..], queued),
                ("e", &b"555"[..], queued)
            ]
        );
        assert_eq!(
            outbox.push(QoS::AtMostOnce, false, "f", b""),
            Err(OutboxFull)
        );
        assert_eq!(outbox.ordinal(36), 3);
    }

    #[test]
    fn the_first_unsent_record_follows_the_window() {
        let mut buf = [0u8; 64];
        let mut outbox = Outbox::new(&mut buf);
        let a = outbox.push(QoS::AtLeastOnce, false, "a", b"1").unwrap();
        let b = outbox.push(QoS::AtLeastOnce, false, "b", b"2").unwrap();
        let c = outbox.push(QoS::AtLeastOnce, false, "c", b"3").unwrap();
        let d = outbox.push(QoS::AtLeastOnce, false, "d", b"4").unwrap();
        assert_eq!(outbox.first_unsent(), a);
        outbox.mark_in_flight(a, 1);
        outbox.mark_in_flight(b, 2);
        assert_eq!(outbox.first_unsent(), c);
        // Acknowledged out of order: `b` leaves from the middle, the rest
        // moves back by one record (10 bytes), the unsent mark with it.
        assert_eq!(outbox.remove(b), b);
        assert_eq!(outbox.first_unsent(), b);
        assert_eq!(outbox.get(b).unwrap().0.topic, "c");
        // The oldest leaves: still the same first unsent record.
        outbox.remove(a);
        assert_eq!(outbox.first_unsent(), b);
        assert_eq!(outbox.first(), b);
        outbox.mark_in_flight(b, 3);
        assert_eq!(outbox.get(outbox.first_unsent()).unwrap().0.topic, "d");
        // A new session: every record is due again, from the oldest.
        outbox.requeue_all();
        assert_eq!(outbox.first_unsent(), outbox.first());
        let _ = (c, d);
        // Emptied: everything starts again at the front.
        let mut at = outbox.first();
        while outbox.get(at).is_some() {
            at = outbox.remove(at);
        }
        assert!(outbox.is_empty());
        assert_eq!((outbox.first(), outbox.first_unsent()), (0, 0));
        // A QoS 0 record sent from the front leaves at once: the first
        // unsent record is the one after it.
        let zero = outbox.push(QoS::AtMostOnce, false, "z", b"0").unwrap();
        let one = outbox.push(QoS::AtLeastOnce, false, "y", b"1").unwrap();
        assert_eq!(outbox.remove(zero), one);
        assert_eq!(outbox.first_unsent(), one);
    }
}
