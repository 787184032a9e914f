//! The client's outbox: publishes not yet acknowledged, in the caller's
//! memory, in the order they were made. It is the offline queue (publishes
//! made while disconnected wait here) and the store a resumed session
//! resends from (MQTT §4.4: unacknowledged PUBLISH again, with DUP).
//!
//! Records are packed one after another in the byte buffer:
//! `[state][qos][packet id: 2][topic length: 2][payload length: 2][topic][payload]`,
//! the `qos` byte holding the RETAIN flag in its top bit (`delivery_byte`).
//! A full outbox refuses new publishes ([`OutboxFull`]) rather than dropping
//! old ones.

use duet_netstack::no_memmove::copy_within;

use super::codec::QoS;

const HEADER: usize = 8;

/// The RETAIN flag in a record's (and a journal entry's) QoS byte.
const RETAIN_BIT: u8 = 0x80;

/// A publish's QoS and RETAIN flag as one byte: the QoS in the low bits,
/// RETAIN in the top one, so a byte written before RETAIN was kept (the
/// QoS alone) reads the same.
pub(crate) const fn delivery_byte(qos: QoS, retain: bool) -> u8 {
    qos as u8 | if retain { RETAIN_BIT } else { 0 }
}

/// The QoS and RETAIN flag of a [`delivery_byte`]; `None` for a byte no
/// publish gives (QoS 3, a stray bit).
pub(crate) const fn delivery_of(byte: u8) -> Option<(QoS, bool)> {
    let qos = match byte & !RETAIN_BIT {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        2 => QoS::ExactlyOnce,
        _ => return None,
    };
    Some((qos, byte & RETAIN_BIT != 0))
}

/// The state byte of a record.
const QUEUED: u8 = 0;
const IN_FLIGHT: u8 = 1;
const SENT: u8 = 2;
const SENT_RELEASED: u8 = 3;

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

/// Where QoS 1 and 2 publishes are kept beside the outbox so they survive a
/// reboot (the `storage` feature's `mqtt::journal::Journal` on NOR flash);
/// `()` keeps them in RAM only.
pub trait OutboxStore {
    /// A QoS 1/2 publish is entering the outbox; it is accepted only once
    /// this returns `Ok`, so a publish the caller was told about is stored.
    fn append(
        &mut self,
        qos: QoS,
        retain: bool,
        topic: &str,
        payload: &[u8],
    ) -> Result<(), OutboxFull>;

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
    fn append(&mut self, _: QoS, _: bool, _: &str, _: &[u8]) -> Result<(), OutboxFull> {
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
    pub payload: &'a [u8],
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

    /// Appends a publish, queued; returns its offset.
    pub fn push(
        &mut self,
        qos: QoS,
        retain: bool,
        topic: &str,
        payload: &[u8],
    ) -> Result<usize, OutboxFull> {
        self.push_with(qos, retain, topic.len(), payload.len(), |body| {
            let (topic_bytes, payload_bytes) = body.split_at_mut(topic.len());
            topic_bytes.copy_from_slice(topic.as_bytes());
            payload_bytes.copy_from_slice(payload);
            true
        })
    }

    /// Appends a queued publish whose topic and payload `fill` writes into
    /// the record's body (topic then payload); nothing is kept if `fill`
    /// returns `false` or the topic is not UTF-8. Returns its offset.
    pub fn push_with(
        &mut self,
        qos: QoS,
        retain: bool,
        topic_len: usize,
        payload_len: usize,
        fill: impl FnOnce(&mut [u8]) -> bool,
    ) -> Result<usize, OutboxFull> {
        let size = HEADER + topic_len + payload_len;
        if self.len + size > self.buf.len() {
            self.move_to_front();
        }
        let at = self.len;
        let topic_len16 = u16::try_from(topic_len).map_err(|_| OutboxFull)?;
        let payload_len16 = u16::try_from(payload_len).map_err(|_| OutboxFull)?;
        let record = self.buf.get_mut(at..at + size).ok_or(OutboxFull)?;
        record[0] = QUEUED;
        record[1] = delivery_byte(qos, retain);
        record[2..4].copy_from_slice(&0u16.to_be_bytes());
        record[4..6].copy_from_slice(&topic_len16.to_be_bytes());
        record[6..8].copy_from_slice(&payload_len16.to_be_bytes());
        let body = &mut record[HEADER..];
        if !fill(body) || core::str::from_utf8(&body[..topic_len]).is_err() {
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

    /// The record at byte offset `at`, and the offset of the next one.
    pub fn get(&self, at: usize) -> Option<(Record<'_>, usize)> {
        let header = self.buf[self.head..self.len].get(at.checked_sub(self.head)?..)?;
        let header = header.get(..HEADER)?;
        let topic_len = usize::from(u16::from_be_bytes([header[4], header[5]]));
        let payload_len = usize::from(u16::from_be_bytes([header[6], header[7]]));
        let end = at + HEADER + topic_len + payload_len;
        let body = self.buf[..self.len].get(at + HEADER..end)?;
        let topic = core::str::from_utf8(&body[..topic_len]).ok()?;
        // Written by `push_with`, so always a delivery byte.
        let (qos, retain) = delivery_of(header[1]).unwrap_or((QoS::ExactlyOnce, false));
        let packet_id = u16::from_be_bytes([header[2], header[3]]);
        let state = match header[0] {
            QUEUED => RecordState::Queued,
            IN_FLIGHT => RecordState::InFlight(packet_id),
            released => RecordState::Sent {
                packet_id,
                released: released == SENT_RELEASED,
            },
        };
        let record = Record {
            state,
            qos,
            retain,
            topic,
            payload: &body[topic_len..],
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
    fn the_qos_byte_carries_retain_and_reads_older_bytes_the_same() {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            for retain in [false, true] {
                assert_eq!(delivery_of(delivery_byte(qos, retain)), Some((qos, retain)));
            }
            // A byte written before RETAIN was kept: the QoS alone.
            assert_eq!(delivery_of(qos as u8), Some((qos, false)));
        }
        for stray in [3, 0x83, 0x41, 0x04] {
            assert_eq!(delivery_of(stray), None, "{stray:#x}");
        }
        let mut buf = [0u8; 64];
        let mut outbox = Outbox::new(&mut buf);
        let retained = outbox.push(QoS::ExactlyOnce, true, "state", b"on").unwrap();
        let plain = outbox.push(QoS::ExactlyOnce, false, "event", b"x").unwrap();
        assert!(outbox.get(retained).unwrap().0.retain);
        assert!(!outbox.get(plain).unwrap().0.retain);
        assert_eq!(outbox.get(retained).unwrap().0.qos, QoS::ExactlyOnce);
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
